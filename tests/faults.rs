//! Faults: a server that dies mid-run, Ctrl-C, runs started together. Each run ends, and its
//! artifact is complete and readable with the right statuses.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{TestProject, latest_artifact, native_config, peer_project};
use orc::sim::{SimConfig, Simulator};
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
    // `first` finishes; `killer`'s request takes the server down; the rest cannot reach it.
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: first\n    model_profile: tiny\n  - name: killer\n    model_profile: tiny\n    system_prompt: k [[sim:die]]\n    depends_on: [first]\n  - name: after\n    model_profile: small\n    depends_on: [killer]\n",
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
        &orc::synth::swarm("big-swarm", 888).replace("model_profile: micro", "model_profile: tiny"),
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
