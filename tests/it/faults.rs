//! Faults: a server that dies mid-run, Ctrl-C, runs started together. Each run ends, and its
//! artifact is complete and readable with the right statuses.

use crate::common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{TestProject, latest_artifact, native_config, peer_project};
use orc::testkit::sim::{SimConfig, Simulator};
use serde_json::Value;

fn orc_cmd(p: &TestProject, args: &[&str]) -> Command {
    p.command(args)
}

async fn wait_for(mut cond: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached in 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_dies_mid_run() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    // `first` finishes; `killer`'s request takes the server down; the rest cannot reach it
    // (`after` runs: one of its dependencies succeeded).
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: first\n    model_profile: tiny\n  - name: killer\n    model_profile: tiny\n    system_prompt: k [[sim:die]]\n    depends_on: [first]\n  - name: after\n    model_profile: small\n    depends_on: [first, killer]\n",
    );
    let out = tokio::task::spawn_blocking({
        let mut c = orc_cmd(&p, &["invoke", "e", "x"]);
        move || c.output().expect("run")
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(1));
    let art = latest_artifact(&p, "e");
    assert_eq!(art["status"], "completed_with_errors");
    assert_eq!(art["results"]["first"]["status"], "success");
    let killer = art["results"]["killer"]["error"].as_str().unwrap_or("");
    assert!(
        killer.contains(&sim.url()) && killer.contains("qwen3:0.6b"),
        "{killer}"
    );
    let after = art["results"]["after"]["error"].as_str().unwrap_or("");
    assert!(
        after.contains("cannot reach") && after.contains("gemma3:1b"),
        "{after}"
    );
    // The usage of what finished is kept.
    assert!(art["metadata"]["usage"]["agents"]["first"]["output_tokens"].is_u64());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_keeps_finished_results_and_marks_the_run_interrupted() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: quick\n    model_profile: tiny\n  - name: stuck\n    model_profile: tiny\n    system_prompt: s [[sim:slow=60000]]\n  - name: after\n    model_profile: small\n    depends_on: [quick, stuck]\n",
    );
    let child = orc_cmd(&p, &["invoke", "e", "x"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Once `quick` has been answered and `stuck` is in flight, press Ctrl-C.
    wait_for(|| sim.requests().len() == 1 && sim.in_flight() == 1).await;
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait"))
        .await
        .expect("join");
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupting"));
    let art = latest_artifact(&p, "e");
    assert_eq!(art["status"], "interrupted");
    assert_eq!(art["results"]["quick"]["status"], "success");
    assert_eq!(art["results"]["stuck"]["status"], "failed");
    assert_eq!(
        art["results"]["stuck"]["error"],
        "interrupted before it finished"
    );
    assert!(art["results"].get("after").is_none(), "never started");
    assert!(art["metadata"]["usage"]["agents"]["quick"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_started_together_get_their_own_artifacts() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = peer_project();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    let children: Vec<_> = (0..4)
        .map(|_| {
            orc_cmd(&p, &["invoke", "peer-fanin", "x"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let codes: Vec<Option<i32>> = tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|mut c| c.wait().expect("wait").code())
            .collect()
    })
    .await
    .expect("join");
    assert!(codes.iter().all(|c| *c == Some(0)), "{codes:?}");
    let dir = p.root().join(".llm-orc/artifacts/peer-fanin");
    let mut runs: Vec<String> = std::fs::read_dir(&dir)
        .expect("read")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "latest")
        .collect();
    runs.sort();
    assert_eq!(runs.len(), 4, "{runs:?}");
    for r in &runs {
        let v: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(r).join("execution.json")).expect("read"),
        )
        .expect("whole JSON");
        assert_eq!(v["status"], "completed");
        assert_eq!(v["results"].as_object().map(|m| m.len()), Some(9));
    }
    let latest = std::fs::read_link(dir.join("latest")).expect("latest link");
    assert!(runs.contains(&latest.to_string_lossy().into_owned()));
    // No temporary files left behind.
    assert!(
        std::fs::read_dir(&dir)
            .expect("read")
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().starts_with('.'))
    );
}

#[test]
fn names_from_the_command_line_never_reach_outside() {
    let p = TestProject::new();
    p.with_profiles();
    common::write_file(
        &p.dir.path().join("secret.yaml"),
        "name: secret\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n",
    );
    for bad in ["../../secret", "/etc/passwd", "..", &"x".repeat(5000)] {
        let r = p.orc(&["graph", bad]);
        assert_eq!(r.code, 1, "{bad}");
        assert!(r.stderr.contains("not found"), "{bad}: {}", r.stderr);
        let r = p.orc(&["report", "timeline", bad]);
        assert_eq!(r.code, 1, "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_reruns_only_what_failed_or_changed() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    // `flaky` fails its first three attempts (one run's retries), then works.
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: steady\n    model_profile: tiny\n  - name: flaky\n    model_profile: tiny\n    system_prompt: f [[sim:status=503*3]]\n  - name: join\n    model_profile: small\n    depends_on: [steady, flaky]\n",
    );
    let run = |args: &'static [&'static str]| {
        let mut c = orc_cmd(&p, args);
        move || c.output().expect("run")
    };
    let first = tokio::task::spawn_blocking(run(&["invoke", "e", "x"]))
        .await
        .expect("join");
    assert_eq!(first.status.code(), Some(1));
    let art1 = latest_artifact(&p, "e");
    assert_eq!(art1["results"]["flaky"]["status"], "failed");
    assert_eq!(art1["results"]["join"]["status"], "success");
    let before = sim.requests().len();

    let second = tokio::task::spawn_blocking(run(&["invoke", "e", "x", "--resume", "latest"]))
        .await
        .expect("join");
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("1 result(s) reused, 2 call(s) made"), "{err}");
    let reqs = sim.requests();
    let new: Vec<&str> = reqs[before..]
        .iter()
        .map(|r| r.body["messages"][0]["content"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        new.len(),
        2,
        "only the failed agent and the one whose input changed: {new:?}"
    );
    assert!(
        !new.iter().any(|s| s.starts_with("You are terse")),
        "steady was reused: {new:?}"
    );
    let art2 = latest_artifact(&p, "e");
    assert_eq!(art2["status"], "completed");
    assert_eq!(
        art2["metadata"]["orc"]["reused"],
        serde_json::json!(["steady"])
    );
    assert!(
        art2["metadata"]["orc"]["resumed_from"]
            .as_str()
            .is_some_and(|s| s.starts_with("e/"))
    );
    assert_eq!(
        art2["results"]["steady"]["response"],
        art1["results"]["steady"]["response"]
    );
    // The reused call is not counted again: totals are this run's calls.
    assert_eq!(art2["metadata"]["usage"]["totals"]["agents_count"], 2);

    // Without an input, --resume reuses the resumed run's input (and says so): nothing
    // changed, so nothing is called again.
    let before = sim.requests().len();
    let third = tokio::task::spawn_blocking(run(&["invoke", "e", "--resume", "latest"]))
        .await
        .expect("join");
    let err = String::from_utf8_lossy(&third.stderr);
    assert_eq!(third.status.code(), Some(0), "{err}");
    let resumed = art2["metadata"]["orc"]["resumed_from"]
        .as_str()
        .unwrap_or("?");
    assert!(err.contains("reusing the input of e/"), "{err}");
    assert!(
        !err.contains(&format!("reusing the input of {resumed}")),
        "the newest run, not the first: {err}"
    );
    assert!(err.contains("3 result(s) reused, 0 call(s) made"), "{err}");
    assert_eq!(sim.requests().len(), before);
    let art3 = latest_artifact(&p, "e");
    assert_eq!(art3["input"]["data"], "x");

    // A bad --resume is a usage error.
    let bad = tokio::task::spawn_blocking(run(&["invoke", "e", "x", "--resume", "nope"]))
        .await
        .expect("join");
    assert_eq!(bad.status.code(), Some(2));
}

/// 128 agents on a server with 4 slots per model: none lost (llm-orc 0.25.2 lost 4 to a hidden
/// connection-pool cap); a 1,000-agent swarm completes with every agent succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_and_large_runs_lose_nothing() {
    let sim = Simulator::start(
        SimConfig {
            parallel: 4,
            max_queue: 8,
            ..SimConfig::default()
        },
        0,
    )
    .await
    .expect("sim");
    let p = peer_project();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "big-swarm",
        &orc::testkit::synth::swarm("big-swarm", 888)
            .replace("model_profile: micro", "model_profile: tiny"),
    );
    for (name, agents) in [("peer-wide128", 129), ("big-swarm", 1000)] {
        let out = tokio::task::spawn_blocking({
            let mut c = orc_cmd(&p, &["invoke", name, "x", "--output-format", "json"]);
            move || c.output().expect("run")
        })
        .await
        .expect("join");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
        let ok = doc["results"]
            .as_object()
            .map(|m| m.values().filter(|r| r["status"] == "success").count());
        assert_eq!(ok, Some(agents), "{name}");
    }
    assert!(sim.max_serving("qwen3:0.6b") <= 4);
}

#[cfg(unix)]
fn symlink(target: &std::path::Path, link: &std::path::Path) {
    if let Some(p) = link.parent() {
        std::fs::create_dir_all(p).expect("mkdir");
    }
    std::os::unix::fs::symlink(target, link).expect("symlink");
}

/// A run folder with an execution.json, named for 2020 (older than any cutoff).
fn old_run(dir: &std::path::Path, folder: &str) -> std::path::PathBuf {
    let run = dir.join(folder);
    common::write_file(
        &run.join("execution.json"),
        "{\"ensemble\": \"x\", \"results\": {}}",
    );
    run
}

/// `invoke` never writes through a link inside `artifacts/`: a symlinked `artifacts/<ensemble>`
/// is refused with a clear warning, nothing appears where it points, and the results are still
/// printed.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_never_writes_through_a_linked_artifacts_folder() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n",
    );
    let outside = p.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    symlink(&outside, &p.root().join(".llm-orc/artifacts/e"));
    let r = p
        .orc_async(&["invoke", "e", "x", "--output-format", "json"])
        .await;
    let doc: Value = serde_json::from_str(&r.stdout).expect("the results are still printed");
    assert_eq!(doc["results"]["a"]["status"], "success");
    assert!(r.stderr.contains("is a symbolic link"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_dir(&outside).expect("outside").count(),
        0,
        "nothing written outside"
    );
}

/// Temporaries an orc killed mid-write left behind are removed by the next run of that
/// ensemble (their process is gone, or they are over an hour old); a live writer's are kept.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_temporaries_are_removed_by_the_next_run() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n",
    );
    let r = p.orc_async(&["invoke", "e", "x"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dir = p.root().join(".llm-orc/artifacts/e");
    let names = |dir: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("read")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    // A normal run leaves no temporary behind.
    assert!(
        names(&dir).iter().all(|n| !n.starts_with('.')),
        "{:?}",
        names(&dir)
    );
    let me = std::process::id();
    // No process can have an id above Linux's PID_MAX_LIMIT (4194304).
    let dead = common::write_file(&dir.join(".execution.json.tmp-99999999-1"), "half a file");
    let live = common::write_file(
        &dir.join(format!(".execution.md.tmp-{me}-2")),
        "being written",
    );
    let old = common::write_file(&dir.join(format!(".execution.json.tmp-{me}-3")), "old");
    std::fs::File::options()
        .write(true)
        .open(&old)
        .expect("open")
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(2 * 3600))
        .expect("set mtime");
    let precious = common::write_file(&p.dir.path().join("precious.txt"), "keep me");
    let link = dir.join(".latest.tmp-99999999-4");
    symlink(&precious, &link);
    let notes = common::write_file(&dir.join("notes.txt"), "not orc's");

    let r = p.orc_async(&["invoke", "e", "x"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!dead.exists(), "a dead process's temporary is removed");
    assert!(!old.exists(), "an hour-old temporary is removed");
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "the stale link is removed"
    );
    assert!(live.exists(), "a live writer's temporary is kept");
    assert!(notes.exists(), "other files are kept");
    assert_eq!(
        std::fs::read_to_string(&precious).expect("precious"),
        "keep me"
    );
    assert_eq!(latest_artifact(&p, "e")["status"], "completed");
}

mod mcp_client {
    use rmcp::ServiceExt;
    use rmcp::model::CallToolRequestParams;
    use rmcp::service::RunningService;
    use rmcp::transport::TokioChildProcess;
    use serde_json::Value;

    pub type Conn = RunningService<rmcp::RoleClient, ()>;

    pub async fn connect(p: &super::TestProject) -> Conn {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_orc"));
        cmd.args(["mcp", "serve", "--all-tools"])
            .current_dir(p.root())
            .env("HOME", p.home())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("LLM_ORC_LIBRARY_PATH")
            .env_remove("OLLAMA_HOST")
            .env_remove("RUST_LOG");
        ().serve(TokioChildProcess::new(cmd).expect("spawn"))
            .await
            .expect("initialize")
    }

    /// (is_error, structured result or the error text)
    pub async fn call(c: &Conn, tool: &str, args: Value) -> (bool, Value) {
        let mut params = CallToolRequestParams::new(tool.to_string());
        if let Value::Object(m) = args {
            params = params.with_arguments(m);
        }
        let r = c
            .call_tool(params)
            .await
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        let err = r.is_error == Some(true);
        // A run in error is a tool error that still carries its result.
        let v = match (err, r.structured_content) {
            (_, Some(v)) => v,
            (true, None) => Value::String(serde_json::to_string(&r.content).unwrap_or_default()),
            (false, None) => Value::Null,
        };
        (err, v)
    }
}

/// `cleanup_artifacts` and `delete_artifact` never follow a link planted in `artifacts/`: a
/// linked ensemble folder or run folder is skipped (or refused when named), and what it points
/// at survives.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifact_housekeeping_never_follows_links_out() {
    use serde_json::json;
    let p = TestProject::new();
    let arts = p.root().join(".llm-orc/artifacts");
    let outside = p.dir.path().join("outside");
    let victim_run = old_run(&outside, "20200101-000000-000");
    let victim_file = common::write_file(&outside.join("20200101-000000-001/data.txt"), "data");
    symlink(&outside, &arts.join("evil"));
    let real = arts.join("real");
    let own = old_run(&real, "20200101-000000-002");
    symlink(
        &outside.join("20200101-000000-001"),
        &real.join("20200101-000000-003"),
    );

    let c = mcp_client::connect(&p).await;
    let (err, v) = mcp_client::call(
        &c,
        "cleanup_artifacts",
        json!({"older_than_days": 0, "dry_run": false}),
    )
    .await;
    assert!(!err, "{v}");
    assert_eq!(v["deleted"], json!(["real/20200101-000000-002"]), "{v}");
    assert!(!own.exists(), "the real old run is deleted");
    assert!(
        victim_run.join("execution.json").exists(),
        "outside run kept"
    );
    assert!(victim_file.exists(), "outside folder kept");
    assert!(std::fs::symlink_metadata(real.join("20200101-000000-003")).is_ok());

    let (err, v) = mcp_client::call(
        &c,
        "cleanup_artifacts",
        json!({"ensemble_name": "evil", "older_than_days": 0, "dry_run": false}),
    )
    .await;
    assert!(
        err,
        "a linked ensemble folder named outright is refused: {v}"
    );
    assert!(
        v.as_str().is_some_and(|s| s.contains("symbolic link")),
        "{v}"
    );
    let (err, v) = mcp_client::call(
        &c,
        "delete_artifact",
        json!({"artifact_id": "evil/20200101-000000-000", "confirm": true}),
    )
    .await;
    assert!(err, "{v}");
    let (err, v) = mcp_client::call(
        &c,
        "delete_artifact",
        json!({"artifact_id": "real/20200101-000000-003", "confirm": true}),
    )
    .await;
    assert!(err, "{v}");
    assert!(victim_run.join("execution.json").exists());
    assert!(victim_file.exists());
    let _ = c.cancel().await;
}

/// MCP speaks one set of status words: `invoke`, `run_status` and `analyze_execution` all say
/// `success` / `error` in `status` and the executor's word in `executor_status`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_status_words_agree_across_tools() {
    use serde_json::json;
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: ok\n    model_profile: tiny\n  - name: bad\n    model_profile: tiny\n    system_prompt: b [[sim:status=400]]\n",
    );
    let c = mcp_client::connect(&p).await;
    let (err, run) = mcp_client::call(
        &c,
        "invoke",
        json!({"ensemble_name": "e", "input_data": "x"}),
    )
    .await;
    assert!(err, "a run in error is a tool error: {run}");
    assert_eq!(run["status"], "error");
    assert_eq!(run["executor_status"], "completed_with_errors");
    let run_id = run["run_id"].as_str().expect("run id");
    let (_, status) = mcp_client::call(&c, "run_status", json!({"run_id": run_id})).await;
    let (_, analysis) =
        mcp_client::call(&c, "analyze_execution", json!({"artifact_id": "e/latest"})).await;
    for v in [&status, &analysis] {
        assert_eq!(v["status"], "error", "{v}");
        assert_eq!(v["executor_status"], "completed_with_errors", "{v}");
    }
    let _ = c.cancel().await;
}
