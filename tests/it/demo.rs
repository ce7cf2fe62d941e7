//! `scripts/demo` as a new user meets it: which model server it picks, and what it says. Each
//! test runs a copy of the script (with the shipped ensembles and profiles) in a throwaway
//! folder, with the built binaries (`ORC_DEMO_BIN`) and the in-process simulator standing in for
//! the user's Ollama. Needs bash and python3, as the script does.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Run;
use orc::testkit::sim::{SimConfig, Simulator};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}

/// A copy of the demo's files: scripts/demo, scripts/local-ollama, ensembles/, profiles/ and
/// the `.llm-orc/` that links to them, as in the repository.
fn demo_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("repo");
    let repo = Path::new(REPO);
    for script in ["demo", "local-ollama"] {
        let dest = root.join("scripts").join(script);
        fs::create_dir_all(root.join("scripts")).expect("mkdir");
        fs::copy(repo.join("scripts").join(script), dest).expect("copy script");
    }
    copy_dir(&repo.join("ensembles"), &root.join("ensembles"));
    copy_dir(&repo.join("profiles"), &root.join("profiles"));
    fs::create_dir_all(root.join(".llm-orc")).expect("mkdir");
    fs::copy(
        repo.join(".llm-orc/config.yaml"),
        root.join(".llm-orc/config.yaml"),
    )
    .expect("copy config");
    for (link, target) in [
        ("ensembles", "../ensembles"),
        ("profiles", "../profiles"),
        ("scripts", "../ensembles/scripts"),
    ] {
        std::os::unix::fs::symlink(target, root.join(".llm-orc").join(link)).expect("symlink");
    }
    fs::create_dir_all(dir.path().join("home")).expect("mkdir");
    dir
}

/// Runs the copy's `scripts/demo` against `ollama_host` with `env`, on a blocking thread so
/// the in-process simulator keeps serving. The local model cannot be installed here (its home
/// is a file), so where the demo would start it, it falls back to orc's simulator.
async fn demo(dir: &Path, ollama_host: &str, env: &[(&str, &str)]) -> Run {
    let bin: PathBuf = Path::new(env!("CARGO_BIN_EXE_orc"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let blocked = dir.join("no-local-model");
    fs::write(
        &blocked,
        "a file, so the local model cannot be installed here",
    )
    .expect("write");
    let mut cmd = Command::new("bash");
    cmd.arg(dir.join("repo/scripts/demo"))
        .arg("swarm-review")
        .arg("A short text about a plan.")
        .env("HOME", dir.join("home"))
        .env("ORC_DEMO_BIN", &bin)
        .env("OLLAMA_HOST", ollama_host)
        .env("LOCAL_OLLAMA_HOME", &blocked)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("LLM_ORC_LIBRARY_PATH")
        .env_remove("ORC_DEMO_SIMULATOR")
        .env_remove("ORC_DEMO_OLLAMA")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || Run::from(cmd.output().expect("run scripts/demo")))
        .await
        .expect("join")
}

async fn ollama_with(models: &[&str]) -> Simulator {
    let cfg = SimConfig {
        models: models.iter().map(|s| s.to_string()).collect(),
        ..SimConfig::default()
    };
    Simulator::start(cfg, 0).await.expect("simulator")
}

fn chats(sim: &Simulator) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path == "/api/chat")
        .count()
}

/// An Ollama with every model the swarm needs is used: all 12 agents ask it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_uses_an_ollama_that_has_every_model() {
    let sim = ollama_with(&["qwen3:0.6b", "gemma3:4b", "gemma3:12b"]).await;
    let dir = demo_copy();
    let run = demo(dir.path(), &sim.url(), &[]).await;
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains("it has every model swarm-review needs"),
        "stderr:\n{}",
        run.stderr
    );
    assert_eq!(chats(&sim), 12, "stderr:\n{}", run.stderr);
}

/// An Ollama that lacks some models is named with what it lacks and the pull commands, and is
/// not used: the run goes to the local model (here: the simulator, as it cannot be installed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_names_missing_models_and_runs_elsewhere() {
    let sim = ollama_with(&["qwen3:0.6b"]).await;
    let dir = demo_copy();
    let run = demo(dir.path(), &sim.url(), &[]).await;
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert!(
        run.stderr
            .contains("lacks models swarm-review needs: gemma3:12b gemma3:4b"),
        "stderr:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("ollama pull gemma3:4b"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("using orc's simulator"),
        "{}",
        run.stderr
    );
    assert_eq!(
        chats(&sim),
        0,
        "the incomplete Ollama was asked to generate"
    );
    assert!(run.stdout.contains("synthesise"), "stdout:\n{}", run.stdout);
}

/// `ORC_DEMO_OLLAMA=1` uses the given Ollama as it is, after saying what it lacks: the agents
/// on the missing model fail there, so the run exits 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_forced_ollama_is_used_even_when_models_are_missing() {
    let sim = ollama_with(&["qwen3:0.6b", "gemma3:4b"]).await;
    let dir = demo_copy();
    let run = demo(dir.path(), &sim.url(), &[("ORC_DEMO_OLLAMA", "1")]).await;
    assert!(
        run.stderr
            .contains("(ORC_DEMO_OLLAMA=1), which lacks: gemma3:12b"),
        "stderr:\n{}",
        run.stderr
    );
    assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
    assert_eq!(chats(&sim), 12, "stderr:\n{}", run.stderr);
}

/// `ORC_DEMO_SIMULATOR=1` wins over an Ollama that answers with every model (and over
/// `ORC_DEMO_OLLAMA=1`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_simulator_wins_over_an_ollama_that_answers() {
    let sim = ollama_with(&["qwen3:0.6b", "gemma3:4b", "gemma3:12b"]).await;
    let dir = demo_copy();
    let run = demo(
        dir.path(),
        &sim.url(),
        &[("ORC_DEMO_SIMULATOR", "1"), ("ORC_DEMO_OLLAMA", "1")],
    )
    .await;
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains("using orc's simulator"),
        "{}",
        run.stderr
    );
    assert_eq!(chats(&sim), 0, "the simulator setting was ignored");
    assert!(run.stdout.contains("synthesise"), "stdout:\n{}", run.stdout);
}
