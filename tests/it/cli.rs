//! The command line around the commands: completions, the man page, logging, `validate
//! --runnable`.

use crate::common;

use std::io::Write;
use std::process::Stdio;

use common::{TestProject, native_config, peer_project};
use orc::testkit::sim::{SimConfig, Simulator};

/// Every shell clap_complete knows gets a script naming orc's commands and flags.
#[test]
fn completions_for_every_shell() {
    let p = TestProject::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let r = p.orc(&["completions", shell]);
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        for word in ["invoke", "list-ensembles", "output-format", "resume"] {
            assert!(r.stdout.contains(word), "{shell}: no `{word}`");
        }
    }
    let r = p.orc(&["completions", "tcsh"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("bash"), "{}", r.stderr);
}

#[test]
fn man_page_is_roff_listing_the_commands() {
    let p = TestProject::new();
    let r = p.orc(&["man"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(".TH orc 1"));
    for word in ["invoke", "validate", "completions"] {
        assert!(r.stdout.contains(word), "no `{word}` in the man page");
    }
}

/// `orc mcp serve` logs to stderr and to `--log-file`, never to stdout: stdout holds only the
/// transport's JSON-RPC lines.
#[test]
fn mcp_serve_logs_to_stderr_and_a_file_never_stdout() {
    let p = TestProject::new();
    let log = p.dir.path().join("mcp.log");
    let log_arg = log.to_string_lossy().into_owned();
    let mut cmd = p.command(&["-v", "mcp", "serve", "--log-file", &log_arg]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn orc");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(
            stdin,
            r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-03-26","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#
        )
        .expect("write");
    } // stdin closed: the server ends.
    let r = common::Run::from(child.wait_with_output().expect("wait"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", r.stdout);
    let answer: serde_json::Value = serde_json::from_str(lines[0]).expect("JSON-RPC on stdout");
    assert_eq!(answer["id"], 1);
    assert!(r.stderr.contains("MCP server: stdio"), "{}", r.stderr);
    let file = std::fs::read_to_string(&log).expect("log file");
    assert!(
        file.contains("INFO") && file.contains("MCP server: stdio"),
        "{file}"
    );
    assert!(!file.contains('\u{1b}'), "no colours in the file: {file}");

    // An unwritable log file is a usage error, before anything is served.
    let r = p.orc(&["mcp", "serve", "--log-file", "/nonexistent-dir/x.log"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--log-file /nonexistent-dir/x.log"),
        "{}",
        r.stderr
    );
}

/// `validate --runnable` asks the host whether every model is installed: exit 0 when all are,
/// else 1 with the agents that cannot run and the `ollama pull` commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_runnable_lists_missing_models_and_the_pulls() {
    let sim = Simulator::start(
        SimConfig {
            models: vec!["qwen3:0.6b".into(), "gemma3:4b".into()],
            ..SimConfig::default()
        },
        0,
    )
    .await
    .expect("sim");
    let p = peer_project();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "only-tiny",
        "name: only-tiny\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n",
    );
    let r = p.orc_async(&["validate", "only-tiny", "--runnable"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("runnable only-tiny (1 model(s) installed)"),
        "{}",
        r.stdout
    );

    // peer-sequential also uses gemma3:1b (profile `small`), which this host lacks.
    let r = p
        .orc_async(&["validate", "peer-sequential", "only-tiny", "--runnable"])
        .await;
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let url = sim.url();
    assert!(
        r.stdout.contains("missing  peer-sequential"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "  critic: `gemma3:1b` on {url}: missing (installed, nearest in size: qwen3:0.6b, gemma3:4b)"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains(&format!("OLLAMA_HOST={url} ollama pull gemma3:1b")),
        "{}",
        r.stdout
    );
    assert_eq!(
        r.stdout.matches("ollama pull").count(),
        1,
        "one pull per model: {}",
        r.stdout
    );

    let r = p
        .orc_async(&[
            "validate",
            "peer-sequential",
            "--runnable",
            "--format",
            "json",
        ])
        .await;
    assert_eq!(r.code, 1);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["runnable"], false);
    assert_eq!(
        doc["models"][0]["agents"][1]["hint"],
        "ollama pull gemma3:1b"
    );

    // A host that does not answer is not runnable either, and says so.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    p.write(
        ".llm-orc/config.yaml",
        &native_config(&format!("http://127.0.0.1:{port}")),
    );
    let r = p.orc_async(&["validate", "only-tiny", "--runnable"]).await;
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("unreachable"), "{}", r.stdout);
}

/// `orc status --hook` (the plugin's session-start line): the project's runnable ensembles on
/// the server that answers (not orc's packaged examples), then the learning log's net.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_hook_says_what_runs_and_the_net_so_far() {
    let sim = Simulator::start(
        SimConfig {
            models: vec!["qwen3:0.6b".into()],
            ..SimConfig::default()
        },
        0,
    )
    .await
    .expect("sim");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "on-tiny",
        "name: on-tiny\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n",
    );
    p.ensemble(
        "on-small",
        "name: on-small\ndescription: d\nagents:\n  - name: a\n    model_profile: small\n",
    );
    let host = sim.url().trim_start_matches("http://").to_string();
    let r = p.orc_async(&["status", "--hook"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.trim_end().replace(&host, "HOST"),
        "orc: 1 of 2 ensembles runnable on HOST"
    );
    let run = p
        .orc_async(&["invoke", "on-tiny", "hello", "--task-type", "summarization"])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = p.orc_async(&["status", "--hook"]).await;
    // A CLI run has no hand-over and this one was not judged: the net is its gross.
    assert_eq!(
        r.stdout.trim_end().replace(&host, "HOST"),
        "orc: 1 of 2 ensembles runnable on HOST (qwen3:0.6b loaded); 1 local run(s) logged, net saving ~$0.0003 so far (estimate: gross - hand-over - judging)"
    );
}
