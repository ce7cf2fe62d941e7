//! Parity with llm-orc 0.25.2: run llm-orc's own benchmark ensembles through orc against the
//! neutral reference server (`../shared/peer/fake_ollama.py`) and compare every request body with
//! the ones llm-orc sent (`../shared/llm-orc/samples/0.25.2/requests.jsonl`). The reference
//! server's replies are deterministic in (model, prompt), so identical prompts all the way down
//! the graph mean identical bodies. Skipped, with one line, when `../shared` or python3 is absent.

use crate::common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestProject;
use serde_json::Value;

const INPUT: &str = "Why is the sky blue? Sunlight scatters off air molecules. Short wavelengths scatter more strongly. Sunsets look red because the path is longer.";
const ENSEMBLES: &[&str] = &[
    "peer-sequential",
    "peer-fanin",
    "peer-swarm",
    "peer-fanout-llm",
    "peer-fanout-script",
    "peer-nested",
];

fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    let ok = p.join("peer/fake_ollama.py").is_file()
        && Command::new("python3").arg("--version").output().is_ok();
    ok.then_some(p)
}

struct Fake {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_fake(shared: &Path, dir: &Path) -> Fake {
    let port_file = dir.join("port");
    let log = dir.join("requests.jsonl");
    let child = Command::new("python3")
        .arg(shared.join("peer/fake_ollama.py"))
        .args([
            "--port",
            "0",
            "--ttft-ms",
            "1",
            "--tok-ms",
            "0",
            "--tokens",
            "64",
            "--log-bodies",
        ])
        .arg("--port-file")
        .arg(&port_file)
        .arg("--log")
        .arg(&log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fake_ollama.py");
    let deadline = Instant::now() + Duration::from_secs(20);
    let port = loop {
        if let Some(p) = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            break p;
        }
        assert!(Instant::now() < deadline, "fake_ollama.py did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    Fake { child, port, log }
}

fn project(shared: &Path, config: &str) -> TestProject {
    let p = TestProject::new();
    let local = p.root().join(".llm-orc");
    for sub in ["ensembles", "scripts"] {
        std::fs::create_dir_all(local.join(sub)).expect("mkdir");
        for e in std::fs::read_dir(shared.join("llm-orc/project").join(sub))
            .expect("read")
            .flatten()
        {
            std::fs::copy(e.path(), local.join(sub).join(e.file_name())).expect("copy");
        }
    }
    p.write(".llm-orc/config.yaml", config);
    p
}

fn bodies(path: &Path, kind: &str) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["kind"] == kind)
        .map(|r| r["body"].clone())
        .collect()
}

fn counts(path: &Path) -> (u64, u64) {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["status"] == 200 && r.get("eval_count").is_some())
        .fold((0, 0), |(i, o), r| {
            (
                i + r["prompt_eval_count"].as_u64().unwrap_or(0),
                o + r["eval_count"].as_u64().unwrap_or(0),
            )
        })
}

#[test]
fn request_bodies_equal_llm_orc_0_25_2() {
    let Some(shared) = shared() else {
        common::missing_prerequisite("../shared/peer/fake_ollama.py or python3 is not available");
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let fake = start_fake(&shared, tmp.path());
    let config = std::fs::read_to_string(shared.join("llm-orc/project/config-0.25.2.yaml"))
        .expect("config")
        .replace(
            "__BASE_URL__",
            &format!("http://127.0.0.1:{}/v1", fake.port),
        );
    let p = project(&shared, &config);
    for e in ENSEMBLES {
        let r = p.orc(&["invoke", e, INPUT]);
        assert_eq!(r.code, 0, "{e}: {}", r.stderr);
    }
    let sample: HashSet<String> = bodies(
        &shared.join("llm-orc/samples/0.25.2/requests.jsonl"),
        "oai_chat",
    )
    .iter()
    .map(Value::to_string)
    .collect();
    let mine = bodies(&fake.log, "oai_chat");
    assert_eq!(mine.len(), 3 + 9 + 37 + 10 + 5 + 14);
    let differing: Vec<&Value> = mine
        .iter()
        .filter(|b| !sample.contains(&b.to_string()))
        .collect();
    assert!(
        differing.is_empty(),
        "{} of {} bodies differ from llm-orc's; first: {}",
        differing.len(),
        mine.len(),
        differing[0]
    );

    // The artifacts hold what llm-orc's hold, and their totals are the server's counts.
    let (mut input, mut output) = (0, 0);
    for e in ENSEMBLES {
        let art = common::latest_artifact(&p, e);
        let reference: Value = serde_json::from_str(
            &std::fs::read_to_string(
                shared.join(format!("llm-orc/samples/0.25.2/{e}.execution.json")),
            )
            .expect("sample"),
        )
        .expect("sample json");
        let keys = |v: &Value| {
            v["results"]
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        };
        assert_eq!(keys(&art), keys(&reference), "{e}: results");
        assert_eq!(
            art["deliverable"], reference["deliverable"],
            "{e}: deliverable"
        );
        for k in [
            "ensemble",
            "status",
            "has_errors",
            "input",
            "results",
            "metadata",
            "deliverable",
        ] {
            assert!(art.get(k).is_some(), "{e}: {k}");
        }
        let t = &art["metadata"]["usage"]["totals"];
        input += t["total_input_tokens"].as_u64().unwrap_or(0);
        output += t["total_output_tokens"].as_u64().unwrap_or(0);
    }
    assert_eq!(
        (input, output),
        counts(&fake.log),
        "totals equal the server's own counts"
    );
}

/// llm-orc 0.19 projects (`provider: ollama`) run on the native API with the same prompts.
#[test]
fn llm_orc_0_19_projects_run_natively() {
    let Some(shared) = shared() else {
        common::missing_prerequisite("../shared/peer/fake_ollama.py or python3 is not available");
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let fake = start_fake(&shared, tmp.path());
    let config =
        std::fs::read_to_string(shared.join("llm-orc/project/config-0.19.0.yaml")).expect("config");
    let p = project(&shared, &config);
    for e in ENSEMBLES {
        let r = p.orc_env(
            &p.root(),
            &["invoke", e, INPUT],
            &[(
                "OLLAMA_HOST",
                Path::new(&format!("127.0.0.1:{}", fake.port)),
            )],
        );
        assert_eq!(r.code, 0, "{e}: {}", r.stderr);
    }
    let mine = bodies(&fake.log, "chat");
    assert_eq!(mine.len(), 78);
    // Same conversations as 0.25.2 sent, over /api/chat.
    let sample: HashSet<String> = bodies(
        &shared.join("llm-orc/samples/0.25.2/requests.jsonl"),
        "oai_chat",
    )
    .iter()
    .map(|b| b["messages"].to_string())
    .collect();
    assert!(
        mine.iter()
            .all(|b| sample.contains(&b["messages"].to_string()))
    );
    // Nobody watches progress here, so responses come in one piece.
    assert!(mine.iter().all(|b| b["stream"] == false));
}

/// The same project runs on orc's own simulator, counts matching the simulator's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn benchmark_project_runs_on_the_simulator() {
    let Some(shared) = shared() else {
        common::missing_prerequisite("../shared is not available");
        return;
    };
    let sim = orc::testkit::sim::Simulator::start(
        orc::testkit::sim::SimConfig {
            tokens: 64,
            ..Default::default()
        },
        0,
    )
    .await
    .expect("sim");
    let config = std::fs::read_to_string(shared.join("llm-orc/project/config-0.25.2.yaml"))
        .expect("config")
        .replace("__BASE_URL__", &format!("{}/v1", sim.url()));
    let p = project(&shared, &config);
    let mut all: Vec<&str> = ENSEMBLES.to_vec();
    all.push("peer-wide128");
    let (mut input, mut output) = (0, 0);
    for e in all {
        let root = p.root();
        let home = p.home();
        let e2 = e.to_string();
        let r = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_orc"))
                .args(["invoke", &e2, INPUT])
                .current_dir(root)
                .env("HOME", home)
                .env_remove("OLLAMA_HOST")
                .output()
                .expect("run")
        })
        .await
        .expect("join");
        assert!(
            r.status.success(),
            "{e}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        let t = common::latest_artifact(&p, e)["metadata"]["usage"]["totals"].clone();
        input += t["total_input_tokens"].as_u64().unwrap_or(0);
        output += t["total_output_tokens"].as_u64().unwrap_or(0);
    }
    let reqs = sim.requests();
    assert_eq!(reqs.len(), 78 + 129);
    let counted = reqs.iter().fold((0, 0), |(i, o), r| {
        (
            i + r.prompt_eval_count.unwrap_or(0),
            o + r.eval_count.unwrap_or(0),
        )
    });
    assert_eq!((input, output), counted);
}
