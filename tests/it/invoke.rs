//! `orc invoke` end to end: the real binary against the in-process Ollama simulator.

use crate::common;

use std::time::Duration;

use common::{TestProject, latest_artifact, native_config, peer_project};
use orc::testkit::sim::{Recorded, SimConfig, Simulator};
use serde_json::Value;

const INPUT: &str = "Why is the sky blue? Sunlight scatters off air molecules.";

async fn sim() -> Simulator {
    Simulator::start(SimConfig::default(), 0)
        .await
        .expect("simulator")
}

async fn orc(p: &TestProject, args: &[&str]) -> common::Run {
    p.orc_async(args).await
}

fn user_msg(r: &Recorded) -> &str {
    r.body["messages"][1]["content"].as_str().unwrap_or("")
}

fn system_msg(r: &Recorded) -> &str {
    r.body["messages"][0]["content"].as_str().unwrap_or("")
}

fn by_system<'a>(reqs: &'a [Recorded], prefix: &str) -> Vec<&'a Recorded> {
    reqs.iter()
        .filter(|r| system_msg(r).starts_with(prefix))
        .collect()
}

fn sum_counts(reqs: &[Recorded]) -> (u64, u64) {
    reqs.iter().fold((0, 0), |(i, o), r| {
        (
            i + r.prompt_eval_count.unwrap_or(0),
            o + r.eval_count.unwrap_or(0),
        )
    })
}

fn totals(art: &Value) -> (u64, u64) {
    let t = &art["metadata"]["usage"]["totals"];
    (
        t["total_input_tokens"].as_u64().unwrap_or(u64::MAX),
        t["total_output_tokens"].as_u64().unwrap_or(u64::MAX),
    )
}

/// Every pattern runs to completion; prompts are composed as llm-orc composes them and the
/// artifact's totals equal the simulator's counts exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pattern_runs_and_counts_exactly() {
    let sim = sim().await;
    let p = peer_project();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "peer-fanout-llm",
        &std::fs::read_to_string(p.root().join(".llm-orc/ensembles/peer-fanout-llm.yaml"))
            .expect("read")
            .replace(
                "[planner] Do your part.",
                "[planner] Plan. [[fake:json_array=3]]",
            ),
    );
    let mut seen = 0;
    for (name, agents, requests) in [
        ("peer-sequential", 3, 3),
        ("peer-fanin", 9, 9),
        ("peer-swarm", 37, 37),
        ("peer-fanout-llm", 3, 5),
        ("peer-fanout-script", 3, 3),
        ("peer-nested", 4, 14),
    ] {
        let r = orc(&p, &["invoke", name, INPUT]).await;
        assert_eq!(r.code, 0, "{name}: {}\n{}", r.stdout, r.stderr);
        let reqs = sim.requests();
        let mine = &reqs[seen..];
        seen = reqs.len();
        assert_eq!(mine.len(), requests, "{name}: requests");
        let art = latest_artifact(&p, name);
        assert_eq!(art["status"], "completed", "{name}");
        assert_eq!(art["metadata"]["agents_used"], agents, "{name}");
        assert_eq!(
            totals(&art),
            sum_counts(mine),
            "{name}: totals equal the server's counts"
        );
        assert_eq!(
            art["metadata"]["usage"]["totals"]["agents_count"], requests,
            "{name}"
        );
        assert!(
            art["deliverable"].as_str().is_some_and(|d| !d.is_empty()),
            "{name}"
        );
    }
    let reqs = sim.requests();
    // Sequential: the critic gets T1 with the drafter's block under the profile's role label.
    let critic = by_system(&reqs, "[critic]")[0];
    let drafter_reply = latest_artifact(&p, "peer-sequential")["results"]["drafter"]["response"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert_eq!(
        user_msg(critic),
        format!(
            "Please respond to the following input, taking into account the results from the previous agents in the dependency chain.\n\nOriginal Input:\n{INPUT}\n\nPrevious Agent Results (for your reference):\nAgent drafter (Tiny):\n{drafter_reply}\n\nPlease provide your own analysis, building upon (but not simply repeating) the previous results."
        )
    );
    // Fan-out from an LLM's JSON array: one request per item, chunk template with the input.
    let workers = by_system(&reqs, "[worker]");
    assert!(workers.iter().any(|w| user_msg(w).starts_with(&format!(
        "Processing chunk 1 of 3.\n\nOriginal task: {INPUT}\n\nChunk content:\n"
    ))));
    let fo = latest_artifact(&p, "peer-fanout-llm");
    let keys: Vec<&String> = fo["results"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        [
            "planner",
            "worker[0]",
            "worker[1]",
            "worker[2]",
            "worker",
            "reducer"
        ]
    );
    assert_eq!(fo["results"]["worker"]["fan_out"], true);
    assert_eq!(
        fo["results"]["worker"]["instances"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    // The reducer sees the gathered list as [i]: blocks.
    let reducer = by_system(&reqs, "[reducer]")[0];
    assert!(
        user_msg(reducer).contains("Agent worker (Tiny):\n[0]:\n"),
        "{}",
        user_msg(reducer)
    );
    // Fan-out from a script's data list.
    let fs = latest_artifact(&p, "peer-fanout-script");
    assert_eq!(
        fs["results"]["chunker"]["response"],
        "{\"success\": true, \"data\": [\"a\", \"b\"]}"
    );
    assert_eq!(
        fs["results"]["chunker"]["agent_requests"],
        serde_json::json!([])
    );
    assert!(fs["results"]["worker[1]"]["response"].is_string());
    // Nested: children get the input plus the framer's block; the judge gets each child's final answer.
    let nested = latest_artifact(&p, "peer-nested");
    let framer = nested["results"]["framer"]["response"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let child_drafter = by_system(&reqs, "[drafter]")
        .last()
        .copied()
        .expect("child drafter");
    assert_eq!(
        user_msg(child_drafter),
        format!("{INPUT}\n\nAgent framer (Tiny):\n{framer}")
    );
    let judge = by_system(&reqs, "[judge]")[0];
    assert!(
        user_msg(judge).contains("Agent child-seq (Child Seq):\nfinalizer:\n"),
        "{}",
        user_msg(judge)
    );
    let child: Value = serde_json::from_str(
        nested["results"]["child-seq"]["response"]
            .as_str()
            .unwrap_or("{}"),
    )
    .expect("child json");
    assert_eq!(
        child["execution_order"],
        serde_json::json!(["drafter", "critic", "finalizer"])
    );
    assert!(nested["metadata"]["usage"]["agents"]["child-seq/drafter"].is_object());
}

/// Agents start as soon as their own dependencies finish, not when their level does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_level_barrier() {
    let sim = Simulator::start(
        SimConfig {
            tokens: 4,
            ..SimConfig::default()
        },
        0,
    )
    .await
    .expect("sim");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    // `slow` answers only once `after-fast` (level 1) has sent its request: a level barrier
    // would make it wait for nothing (and give up after 10 s).
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: slow\n    model_profile: tiny\n    system_prompt: slow [[sim:hold_until=MARK-AFTER-FAST]]\n  - name: fast\n    model_profile: tiny\n  - name: after-slow\n    model_profile: tiny\n    depends_on: [slow]\n  - name: after-fast\n    model_profile: tiny\n    system_prompt: MARK-AFTER-FAST\n    depends_on: [fast]\n",
    );
    let r = orc(&p, &["invoke", "e", "x"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let reqs = sim.requests();
    let slow = reqs
        .iter()
        .find(|r| system_msg(r).starts_with("slow"))
        .expect("slow");
    assert_eq!(
        slow.hold_released,
        Some(true),
        "after-fast was held back until the slow agent's level finished"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_model_limit_and_max_concurrent_are_respected() {
    let sim = Simulator::start(
        SimConfig {
            ttft: Duration::from_millis(20),
            ..SimConfig::default()
        },
        0,
    )
    .await
    .expect("sim");
    let p = peer_project();
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "{}performance:\n  concurrency:\n    per_model_limit: 3\n",
            native_config(&sim.url())
        ),
    );
    let r = orc(&p, &["invoke", "peer-wide128", "x"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sim.requests().len(), 129);
    assert!(
        sim.max_serving("qwen3:0.6b") <= 3,
        "{}",
        sim.max_serving("qwen3:0.6b")
    );
    assert!(
        sim.max_serving("qwen3:0.6b") >= 2,
        "the limit should be used"
    );
    let art = latest_artifact(&p, "peer-wide128");
    assert_eq!(art["status"], "completed");

    let sim2 = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    p.write(".llm-orc/config.yaml", &native_config(&sim2.url()));
    let r = orc(&p, &["invoke", "peer-fanin", "x", "--max-concurrent", "1"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sim2.max_in_flight(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_counts_are_null_and_flagged_never_guessed() {
    let sim = sim().await;
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n    system_prompt: a [[sim:omit=eval_count]]\n  - name: b\n    model_profile: tiny\n",
    );
    let r = orc(&p, &["invoke", "e", "x"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let art = latest_artifact(&p, "e");
    let a = &art["metadata"]["usage"]["agents"]["a"];
    assert!(a["output_tokens"].is_null());
    assert!(a["total_tokens"].is_null());
    assert!(a["input_tokens"].is_u64());
    assert_eq!(a["counts_missing"], serde_json::json!(["output_tokens"]));
    let t = &art["metadata"]["usage"]["totals"];
    assert_eq!(t["agents_with_missing_counts"], 1);
    let reqs = sim.requests();
    assert_eq!(
        totals(&art),
        sum_counts(&reqs),
        "totals are sums of what was counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn length_cut_is_flagged() {
    let sim = sim().await;
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble("e", "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n    max_tokens: 5\n");
    // A plain run answers as llm-orc does: the cut is in the artifact, the exit code is 0.
    let r = orc(&p, &["invoke", "e", "x"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("NOT DELIVERED"), "{}", r.stderr);
    assert_eq!(sim.requests().len(), 1, "no retry without --checks");
    // A delegated run: the cut fails the free completeness check, retried once, not delivered.
    let r = orc(&p, &["invoke", "e", "x", "--task-type", "summarization"]).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("NOT DELIVERED") && r.stderr.contains("done_reason: length"),
        "{}",
        r.stderr
    );
    let r = orc(&p, &["invoke", "e", "x", "--checks"]).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    let r = orc(
        &p,
        &[
            "invoke",
            "e",
            "x",
            "--task-type",
            "summarization",
            "--no-checks",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let reqs = sim.requests();
    assert_eq!(
        reqs.len(),
        6,
        "1 plain, 2 + 2 checked (one retry each), 1 unchecked"
    );
    assert_eq!(reqs[0].body["options"]["num_predict"], 5);
    let a = &latest_artifact(&p, "e")["metadata"]["usage"]["agents"]["a"];
    assert_eq!(a["done_reason"], "length");
    assert_eq!(a["truncated"], true);
    assert_eq!(a["output_tokens"], 5);
    assert_eq!(
        latest_artifact(&p, "e")["metadata"]["usage"]["totals"]["agents_truncated"],
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_503_then_succeeds() {
    let sim = sim().await;
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble("e", "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n    system_prompt: a [[sim:status=503*2]]\n");
    let r = orc(&p, &["invoke", "e", "x"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 200]);
    assert_eq!(
        latest_artifact(&p, "e")["results"]["a"]["status"],
        "success"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_are_not_retried_and_500_names_host_and_model() {
    let sim = sim().await;
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: bad\n    model_profile: tiny\n    system_prompt: b [[sim:status=400]]\n  - name: boom\n    model_profile: tiny\n    system_prompt: c [[sim:status=500]]\n  - name: fine\n    model_profile: small\n    depends_on: [bad, boom]\n",
    );
    let r = orc(&p, &["invoke", "e", "x"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let reqs = sim.requests();
    assert_eq!(
        reqs.iter()
            .filter(|r| system_msg(r).starts_with("b "))
            .count(),
        1,
        "4xx is never retried"
    );
    assert_eq!(
        reqs.iter()
            .filter(|r| system_msg(r).starts_with("c "))
            .count(),
        3,
        "5xx is retried"
    );
    let art = latest_artifact(&p, "e");
    assert_eq!(art["status"], "completed_with_errors");
    let err = art["results"]["boom"]["error"].as_str().unwrap_or("");
    assert!(
        err.contains(&sim.url()) && err.contains("qwen3:0.6b") && err.contains("500"),
        "{err}"
    );
    // No dependency succeeded, so the dependent is skipped and says why (llm-orc 0.25.2).
    assert_eq!(art["results"]["fine"]["status"], "skipped");
    assert_eq!(art["results"]["fine"]["outcome"], "skipped_by_failure");
    let reason = art["results"]["fine"]["reason"].as_str().unwrap_or("");
    assert!(
        reason.starts_with("no dependency succeeded: bad (failed: ")
            && reason.contains("), boom (failed: "),
        "{reason}"
    );
    assert!(
        !reqs.iter().any(|r| r.model == "gemma3:1b"),
        "fine never ran"
    );
    assert!(
        r.stderr.contains("error: agent `boom` failed:"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_counts_from_the_request_and_fails_the_agent() {
    let sim = sim().await;
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: stuck\n    model_profile: tiny\n    timeout_seconds: 0.3\n    system_prompt: s [[sim:slow=5000]]\n  - name: ok\n    model_profile: tiny\n",
    );
    let r = orc(&p, &["invoke", "e", "x"]).await;
    assert_eq!(r.code, 1);
    let art = latest_artifact(&p, "e");
    assert_eq!(art["results"]["stuck"]["status"], "failed");
    assert!(
        art["results"]["stuck"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("timed out after 0.3 seconds"),
        "{}",
        art["results"]["stuck"]
    );
    assert_eq!(art["results"]["ok"]["status"], "success");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_profile_on_a_missing_model() {
    let sim = sim().await;
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "{}  ghost:\n    model: not-pulled:7b\n    provider: ollama\n    base_url: {}\n    fallback_model_profile: tiny\n",
            native_config(&sim.url()),
            sim.url()
        ),
    );
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: ghost\n",
    );
    let r = orc(&p, &["invoke", "e", "x"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let art = latest_artifact(&p, "e");
    assert_eq!(art["results"]["a"]["model_substituted"], true);
    assert_eq!(
        art["metadata"]["usage"]["agents"]["a"]["model"],
        "qwen3:0.6b"
    );
    let models: Vec<String> = sim.requests().iter().map(|r| r.model.clone()).collect();
    assert_eq!(models, ["not-pulled:7b", "qwen3:0.6b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_model_says_ollama_pull() {
    let sim = sim().await;
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &format!("model_profiles:\n  big:\n    model: gemma3:27b\n    provider: ollama\n    base_url: {}\n", sim.url()));
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: big\n",
    );
    let r = orc(&p, &["invoke", "e", "x"]).await;
    assert_eq!(r.code, 1);
    let line = format!(
        "error: agent `a` failed: model `gemma3:27b` is not installed on {}; run `ollama pull gemma3:27b`",
        sim.url()
    );
    assert!(r.stderr.lines().any(|l| l == line), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_ollama_is_one_clear_line_and_the_artifact_is_kept() {
    // A port nobody listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let p = peer_project();
    p.write(
        ".llm-orc/config.yaml",
        &native_config(&format!("http://127.0.0.1:{port}")),
    );
    let r = orc(&p, &["invoke", "peer-fanin", "x"]).await;
    assert_eq!(r.code, 1);
    // One line per cause: here one per model, each naming the host and the model.
    let errors: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    // The synthesiser never ran (none of its dependencies succeeded), so one cause is left.
    assert_eq!(errors.len(), 1, "{}", r.stderr);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("8 agents") && e.contains("for `qwen3:0.6b`")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .all(|e| e.contains(&format!("cannot reach http://127.0.0.1:{port}"))),
        "{errors:?}"
    );
    let art = latest_artifact(&p, "peer-fanin");
    assert_eq!(art["status"], "completed_with_errors");
    assert_eq!(art["results"].as_object().map(|m| m.len()), Some(9));
    assert_eq!(
        art["results"]["synthesizer"]["outcome"],
        "skipped_by_failure"
    );
}

/// A script's non-zero exit is llm-orc 0.25.2's error, with stderr in the payload and its tail on
/// the CLI's error line; its only dependent is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_script_reports_stderr_and_skips_its_dependent() {
    let sim = sim().await;
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.write(
        ".llm-orc/scripts/bad.py",
        "import sys\nsys.stderr.write('the parser choked on line 3\\n')\nsys.exit(4)\n",
    );
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: s\n    script: bad.py\n  - name: after\n    model_profile: tiny\n    depends_on: [s]\n",
    );
    let r = orc(&p, &["invoke", "e", "x"]).await;
    assert_eq!(r.code, 1);
    let art = latest_artifact(&p, "e");
    assert_eq!(
        art["results"]["s"]["error"],
        "Script failed with exit code 4"
    );
    assert_eq!(
        art["results"]["s"]["payload"]["stderr"],
        "the parser choked on line 3\n"
    );
    assert!(
        r.stderr.contains(
            "error: agent `s` failed: Script failed with exit code 4: the parser choked on line 3"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(art["results"]["after"]["outcome"], "skipped_by_failure");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_get_llm_orc_json_and_environment() {
    let sim = sim().await;
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.write(
        ".llm-orc/scripts/echo.py",
        "import json, os, sys\nraw = sys.stdin.read()\nprint(json.dumps({'stdin': raw, 'params': os.environ.get('AGENT_PARAMETERS'), 'text': os.environ.get('INPUT_TEXT')}))\n",
    );
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: first\n    script: echo.py\n    parameters: {k: 1}\n  - name: second\n    script: echo.py\n    depends_on: [first]\n",
    );
    let r = orc(&p, &["invoke", "e", "héllo"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let art = latest_artifact(&p, "e");
    let first: Value =
        serde_json::from_str(art["results"]["first"]["response"].as_str().unwrap_or(""))
            .expect("json");
    assert_eq!(
        first["stdin"],
        "{\"input\": \"h\\u00e9llo\", \"parameters\": {\"k\": 1}, \"context\": {}}"
    );
    assert_eq!(first["params"], "{\"k\": 1}");
    assert_eq!(first["text"], "héllo");
    let second: Value =
        serde_json::from_str(art["results"]["second"]["response"].as_str().unwrap_or(""))
            .expect("json");
    let stdin: Value =
        serde_json::from_str(second["stdin"].as_str().unwrap_or("")).expect("schema json");
    assert_eq!(stdin["agent_name"], "second");
    assert_eq!(stdin["input_data"], "héllo");
    assert_eq!(stdin["dependencies"]["first"]["status"], "success");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_compatible_profiles_use_v1_and_read_usage() {
    let sim = sim().await;
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        &format!("model_profiles:\n  tiny:\n    model: qwen3:0.6b\n    provider: openai-compatible\n    base_url: {}/v1\n", sim.url()),
    );
    p.ensemble("e", "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n    system_prompt: s\n");
    let r = orc(&p, &["invoke", "e", "x"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let reqs = sim.requests();
    assert_eq!(reqs[0].path, "/v1/chat/completions");
    assert_eq!(
        reqs[0].body,
        serde_json::json!({"model": "qwen3:0.6b", "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "x"}]})
    );
    assert_eq!(totals(&latest_artifact(&p, "e")), sum_counts(&reqs));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_host_env_input_sources_and_json_output() {
    let sim = sim().await;
    let p = TestProject::new();
    // No base_url: OLLAMA_HOST decides.
    p.write(
        ".llm-orc/config.yaml",
        "model_profiles:\n  tiny:\n    model: qwen3:0.6b\n    provider: ollama\n",
    );
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n",
    );
    let host = sim.url();
    let file = p.write("input.txt", "from a file\n");
    let root = p.root();
    let home = p.home();
    let run = move |args: Vec<String>, stdin: Option<&'static str>| {
        let host = host.clone();
        let root = root.clone();
        let home = home.clone();
        move || {
            use std::io::Write;
            let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_orc"));
            c.args(&args)
                .current_dir(&root)
                .env("HOME", &home)
                .env("OLLAMA_HOST", host.trim_start_matches("http://"));
            c.stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = c.spawn().expect("spawn");
            let mut s = child.stdin.take().expect("stdin");
            s.write_all(stdin.unwrap_or("").as_bytes()).expect("write");
            drop(s);
            child.wait_with_output().expect("wait")
        }
    };
    let out = tokio::task::spawn_blocking(run(
        vec![
            "invoke".into(),
            "e".into(),
            "--output-format".into(),
            "json".into(),
        ],
        Some("  piped text \n"),
    ))
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json output");
    assert_eq!(doc["status"], "success");
    assert_eq!(doc["has_errors"], false);
    assert!(doc["results"]["a"]["response"].is_string());
    assert!(doc["metadata"]["usage"]["totals"]["total_tokens"].is_u64());
    assert_eq!(doc["deliverable"], doc["results"]["a"]["response"]);
    let _ = tokio::task::spawn_blocking(run(
        vec![
            "invoke".into(),
            "e".into(),
            "-f".into(),
            file.display().to_string(),
        ],
        None,
    ))
    .await;
    let _ = tokio::task::spawn_blocking(run(
        vec![
            "invoke".into(),
            "e".into(),
            "--input".into(),
            "flagged".into(),
        ],
        None,
    ))
    .await;
    let _ = tokio::task::spawn_blocking(run(vec!["invoke".into(), "e".into()], None)).await;
    let inputs: Vec<String> = sim
        .requests()
        .iter()
        .map(|r| user_msg(r).to_string())
        .collect();
    assert_eq!(
        inputs,
        [
            "piped text",
            "from a file\n",
            "flagged",
            "Please analyze this."
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_provider_fails_the_agent_with_a_clear_message() {
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        "model_profiles:\n  claude:\n    model: claude-sonnet-4\n    provider: anthropic-api\n",
    );
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: claude\n",
    );
    let r = orc(&p, &["invoke", "e", "x"]).await;
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("provider `anthropic-api` is not runnable by orc"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_ensembles_exit_2_and_unknown_ones_1() {
    let p = TestProject::new();
    p.with_profiles();
    p.ensemble(
        "bad",
        "name: bad\ndescription: d\nagents:\n  - name: a\n    model_profile: nope\n",
    );
    let r = orc(&p, &["invoke", "bad", "x"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("unknown model profile `nope`"),
        "{}",
        r.stderr
    );
    let r = orc(&p, &["invoke", "missing", "x"]).await;
    assert_eq!(r.code, 1);
    assert!(
        !p.root().join(".llm-orc/artifacts").exists(),
        "no artifact for a run that never started"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_bodies_fail_with_the_cause() {
    let sim = sim().await;
    let p = TestProject::new();
    // Streamed, so that a stream cut before its final message can be seen.
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "{}performance:\n  execution:\n    streaming_enabled: true\n",
            native_config(&sim.url())
        ),
    );
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: reset\n    model_profile: tiny\n    system_prompt: r [[sim:reset]]\n  - name: garbled\n    model_profile: tiny\n    system_prompt: g [[sim:malformed]]\n  - name: cut\n    model_profile: tiny\n    system_prompt: c [[sim:truncate]]\n  - name: fine\n    model_profile: small\n",
    );
    let r = orc(&p, &["invoke", "e", "x"]).await;
    assert_eq!(r.code, 1);
    let art = latest_artifact(&p, "e");
    let err = |a: &str| {
        art["results"][a]["error"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert!(
        err("reset").contains("dropped the connection"),
        "{}",
        err("reset")
    );
    assert!(
        err("garbled").contains("malformed response"),
        "{}",
        err("garbled")
    );
    assert!(
        err("cut").contains("before the final `done` message"),
        "{}",
        err("cut")
    );
    assert_eq!(art["results"]["fine"]["status"], "success");
    let reqs = sim.requests();
    let count = |prefix: &str| {
        reqs.iter()
            .filter(|r| system_msg(r).starts_with(prefix))
            .count()
    };
    assert_eq!(count("r "), 3, "a dropped connection is retried");
    assert_eq!(count("g "), 1, "a malformed body is not");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_and_whole_responses_count_the_same() {
    let sim = sim().await;
    let p = peer_project();
    for (stream, expect) in [("true", true), ("false", false)] {
        p.write(
            ".llm-orc/config.yaml",
            &format!(
                "{}performance:\n  execution:\n    streaming_enabled: {stream}\n",
                native_config(&sim.url())
            ),
        );
        let seen = sim.requests().len();
        let r = orc(&p, &["invoke", "peer-fanin", INPUT]).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        let reqs = sim.requests();
        let mine = &reqs[seen..];
        assert!(mine.iter().all(|r| r.body["stream"] == expect));
        assert_eq!(totals(&latest_artifact(&p, "peer-fanin")), sum_counts(mine));
        let a = &latest_artifact(&p, "peer-fanin")["metadata"]["usage"]["agents"]["analyst-0"];
        assert_eq!(a["done_reason"], "stop");
        assert!(a["total_duration_ns"].is_u64());
    }
}

/// `-v` logs every request on stderr as it is sent (agent, model, host); stdout still carries
/// only the results; without `-v` nothing is logged; `RUST_LOG` works too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_logs_each_request_on_stderr_and_stdout_stays_clean() {
    let sim = sim().await;
    let p = peer_project();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    let args = [
        "invoke",
        "peer-sequential",
        INPUT,
        "--output-format",
        "json",
    ];
    let quiet = orc(&p, &args).await;
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert!(!quiet.stderr.contains("request sent"), "{}", quiet.stderr);

    let loud = orc(&p, &[&["-v"][..], &args[..]].concat()).await;
    assert_eq!(loud.code, 0, "{}", loud.stderr);
    let doc: Value = serde_json::from_str(&loud.stdout).expect("stdout is only the JSON document");
    assert_eq!(doc["status"], "success");
    let host = sim.url();
    let host = host.trim_start_matches("http://");
    let requests: Vec<&str> = loud
        .stderr
        .lines()
        .filter(|l| l.contains("INFO") && l.contains("request sent"))
        .collect();
    assert_eq!(requests.len(), 3, "{}", loud.stderr);
    for (agent, model) in [
        ("drafter", "qwen3:0.6b"),
        ("critic", "gemma3:1b"),
        ("finalizer", "qwen3:0.6b"),
    ] {
        assert!(
            requests
                .iter()
                .any(|l| l.contains(agent) && l.contains(model) && l.contains(host)),
            "no request line for {agent}:\n{}",
            loud.stderr
        );
    }

    let mut cmd = p.command(&args);
    cmd.env("RUST_LOG", "orc=info");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run orc"))
        .await
        .expect("join");
    let env_run = common::Run::from(out);
    assert_eq!(env_run.code, 0, "{}", env_run.stderr);
    assert!(
        env_run.stderr.contains("request sent"),
        "{}",
        env_run.stderr
    );
}

/// A model's answer carrying terminal escapes (an OSC 52 clipboard write, a screen clear, a
/// bidi override) is printed with visible escapes in text mode; JSON output and the artifact
/// keep the exact text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_sequences_from_a_model_never_reach_the_terminal() {
    let sim = sim().await;
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "hostile",
        "name: hostile\ndescription: d\nagents:\n  - name: talker\n    model_profile: tiny\n    \
         system_prompt: \"[[fake:reply=before\\x1b]52;c;cm0gLXJmIH4=\\x07\\x1b[2J\\u202Eafter]]\"\n",
    );
    let exact = "before\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{1b}[2J\u{202e}after";
    let r = orc(&p, &["invoke", "hostile", "x"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    for bad in ['\u{1b}', '\u{7}', '\u{202e}'] {
        assert!(!r.stdout.contains(bad), "{bad:?} on stdout: {:?}", r.stdout);
        assert!(!r.stderr.contains(bad), "{bad:?} on stderr: {:?}", r.stderr);
    }
    let shown = "before\\x1b]52;c;cm0gLXJmIH4=\\x07\\x1b[2J\\u{202e}after";
    // Once as the agent's answer, once as the deliverable.
    assert_eq!(r.stdout.matches(shown).count(), 2, "{}", r.stdout);
    assert_eq!(
        latest_artifact(&p, "hostile")["results"]["talker"]["response"],
        exact
    );
    let j = orc(&p, &["invoke", "hostile", "x", "--output-format", "json"]).await;
    assert_eq!(j.code, 0, "{}", j.stderr);
    assert!(!j.stdout.contains('\u{1b}'));
    let doc: Value = serde_json::from_str(&j.stdout).expect("json");
    assert_eq!(doc["results"]["talker"]["response"], exact);
}

/// Every key path of an llm-orc 0.25.2 artifact (its sequential sample, written down here) is
/// in orc's artifact of the same ensemble, the resource samples included; the samples are
/// orc's own process, one per run as llm-orc takes, and the phases are the real levels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifact_has_every_key_path_of_llm_orc_0_25_2() {
    fn paths(v: &Value, at: &str, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let p = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    out.insert(p.clone());
                    paths(x, &p, out);
                }
            }
            Value::Array(a) => {
                for x in a {
                    paths(x, &format!("{at}[]"), out);
                }
            }
            _ => {}
        }
    }
    const ARM: &str = "metadata.adaptive_resource_management";
    let mut expected: Vec<String> = [
        "deliverable",
        "ensemble",
        "has_errors",
        "input",
        "input.data",
        "status",
        "results",
        "metadata",
        "metadata.agents_used",
        "metadata.started_at",
        "metadata.duration",
        "metadata.completed_at",
        "metadata.usage",
        "metadata.usage.agents",
        "metadata.usage.totals",
        "metadata.usage.totals.agents_count",
        "metadata.usage.totals.total_cost_usd",
        "metadata.usage.totals.total_duration_ms",
        "metadata.usage.totals.total_input_tokens",
        "metadata.usage.totals.total_output_tokens",
        "metadata.usage.totals.total_tokens",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for k in [
        "",
        ".adaptive_used",
        ".concurrency_decisions",
        ".management_type",
        ".execution_metrics",
        ".execution_metrics.avg_cpu",
        ".execution_metrics.avg_memory",
        ".execution_metrics.peak_cpu",
        ".execution_metrics.peak_memory",
        ".execution_metrics.raw_cpu_samples",
        ".execution_metrics.raw_memory_samples",
        ".execution_metrics.sample_count",
        ".phase_metrics",
        ".phase_metrics[].agent_count",
        ".phase_metrics[].agent_names",
        ".phase_metrics[].agents_completed",
        ".phase_metrics[].avg_cpu",
        ".phase_metrics[].avg_memory",
        ".phase_metrics[].duration_seconds",
        ".phase_metrics[].end_time",
        ".phase_metrics[].peak_cpu",
        ".phase_metrics[].peak_memory",
        ".phase_metrics[].phase_index",
        ".phase_metrics[].phase_name",
        ".phase_metrics[].phase_start_time",
        ".phase_metrics[].sample_count",
        ".phase_metrics[].start_time",
        ".resource_metrics",
        ".resource_metrics[].circuit_breaker_state",
        ".resource_metrics[].cpu_percent",
        ".resource_metrics[].measurement_point",
        ".resource_metrics[].memory_percent",
    ] {
        expected.push(format!("{ARM}{k}"));
    }
    for agent in ["drafter", "critic", "finalizer"] {
        expected.push(format!("results.{agent}"));
        for k in [
            "has_errors",
            "model_substituted",
            "outcome",
            "response",
            "status",
        ] {
            expected.push(format!("results.{agent}.{k}"));
        }
        expected.push(format!("metadata.usage.agents.{agent}"));
        for k in [
            "avg_cpu",
            "avg_memory",
            "baseline_cpu",
            "baseline_memory",
            "cost_usd",
            "cpu_samples",
            "duration_ms",
            "input_tokens",
            "memory_samples",
            "model",
            "model_profile",
            "output_tokens",
            "peak_cpu",
            "peak_memory",
            "resource_duration_seconds",
            "resource_sample_count",
            "sample_count",
            "start_time",
            "total_tokens",
        ] {
            expected.push(format!("metadata.usage.agents.{agent}.{k}"));
        }
    }

    let sim = sim().await;
    let p = peer_project();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    let r = orc(&p, &["invoke", "peer-sequential", INPUT]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let art = latest_artifact(&p, "peer-sequential");
    let mut have = std::collections::BTreeSet::new();
    paths(&art, "", &mut have);
    let missing: Vec<&String> = expected.iter().filter(|p| !have.contains(*p)).collect();
    assert!(missing.is_empty(), "missing key paths: {missing:#?}");

    let arm = &art["metadata"]["adaptive_resource_management"];
    let m = &arm["execution_metrics"];
    let n = m["sample_count"].as_u64().unwrap_or(99);
    assert_eq!(
        m["raw_cpu_samples"].as_array().map(Vec::len),
        Some(n as usize)
    );
    assert_eq!(
        m["raw_memory_samples"].as_array().map(Vec::len),
        Some(n as usize)
    );
    if cfg!(target_os = "linux") {
        assert_eq!(n, 1, "one sample at the end of the run, as llm-orc");
        let mem = m["raw_memory_samples"][0].as_f64().unwrap_or(-1.0);
        assert!(
            mem > 0.0 && mem < 100.0,
            "resident memory in percent: {mem}"
        );
        assert_eq!(
            arm["resource_metrics"][0]["measurement_point"],
            "final_fallback"
        );
    }
    let phases = arm["phase_metrics"].as_array().expect("phases");
    let names: Vec<&Value> = phases.iter().map(|p| &p["agent_names"][0]).collect();
    assert_eq!(names, ["drafter", "critic", "finalizer"]);
    for w in phases.windows(2) {
        let (end, next) = (w[0]["end_time"].as_f64(), w[1]["start_time"].as_f64());
        assert!(
            end <= next,
            "a phase starts after the one before ends: {end:?} {next:?}"
        );
    }
}

/// An unknown provider on a profile with a fallback: validate warns (naming the profile and its
/// fallback), invoke runs the fallback and records why; without a fallback it stays an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_provider_falls_back_to_the_fallback_profile() {
    let sim = sim().await;
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "{}  pigeon:\n    model: coo:1b\n    provider: carrier-pigeon\n    fallback_model_profile: tiny\n  lost:\n    model: coo:1b\n    provider: carrier-pigeon\n",
            native_config(&sim.url()),
        ),
    );
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: pigeon\n",
    );
    let v = orc(&p, &["validate", "e"]).await;
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stderr.contains("warning: model profile `pigeon` of agent `a` uses unknown provider `carrier-pigeon`; the agent will run on its fallback profile `tiny`"),
        "{}",
        v.stderr
    );
    let r = orc(&p, &["invoke", "e", "x"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let art = latest_artifact(&p, "e");
    assert_eq!(art["results"]["a"]["status"], "success");
    assert_eq!(art["results"]["a"]["model_substituted"], true);
    assert_eq!(
        art["metadata"]["usage"]["agents"]["a"]["model"],
        "qwen3:0.6b"
    );
    assert_eq!(
        art["metadata"]["orc"]["notes"]["a"],
        "provider `carrier-pigeon` of profile `pigeon` cannot run in orc; ran on fallback profile `tiny`"
    );
    let models: Vec<String> = sim.requests().iter().map(|r| r.model.clone()).collect();
    assert_eq!(models, ["qwen3:0.6b"]);

    p.ensemble(
        "f",
        "name: f\ndescription: d\nagents:\n  - name: a\n    model_profile: lost\n",
    );
    let v = orc(&p, &["validate", "f"]).await;
    assert_eq!(v.code, 1, "{}", v.stderr);
    assert!(
        v.stderr
            .contains("error: agent `a` uses unknown provider `carrier-pigeon`"),
        "{}",
        v.stderr
    );
}

/// A fan-out over more items than `performance.execution.max_fan_out` (default 10,000) fails
/// that agent at once with the count and the setting; nothing is sent, the rest of the run goes
/// on and the artifact is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_past_the_cap_fails_the_agent_and_keeps_the_artifact() {
    let sim = sim().await;
    let p = TestProject::new();
    p.write(
        ".llm-orc/scripts/many.py",
        "import json\nprint(json.dumps({'success': True, 'data': list(range(10001))}))\n",
    );
    p.ensemble(
        "wide",
        "name: wide\ndescription: d\nagents:\n  - name: items\n    script: scripts/many.py\n  - name: worker\n    model_profile: tiny\n    depends_on: [items]\n    fan_out: true\n  - name: other\n    model_profile: tiny\n",
    );
    for (config, limit) in [
        ("", 10000),
        ("performance:\n  execution:\n    max_fan_out: 500\n", 500),
    ] {
        p.write(
            ".llm-orc/config.yaml",
            &format!("{}{config}", native_config(&sim.url())),
        );
        let before = sim.requests().len();
        let r = orc(&p, &["invoke", "wide", "x"]).await;
        assert_eq!(r.code, 1, "{}", r.stderr);
        let msg = format!(
            "fan_out over 10001 items from `items` exceeds the limit of {limit} instances; raise performance.execution.max_fan_out in config.yaml or split the work"
        );
        assert!(r.stderr.contains(&msg), "{}", r.stderr);
        let art = latest_artifact(&p, "wide");
        assert_eq!(art["results"]["worker"]["status"], "failed");
        assert_eq!(art["results"]["worker"]["error"], msg.as_str());
        assert_eq!(art["results"]["other"]["status"], "success");
        assert_eq!(sim.requests().len() - before, 1, "only `other` was sent");
    }
}
