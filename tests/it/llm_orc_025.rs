//! Where llm-orc 0.25.2 moved on from 0.19 and orc follows it: failed dependencies
//! (`skipped_by_failure`, `on_dependency_failure: run`, failures shown to dependents), script
//! failures, fan-out edges, `provider: llama-server`, model options and `response_format` on
//! OpenAI-compatible requests, loop `has_errors`, validation timing floors, the packaged tier,
//! and the JSON a refused run prints. The real binary against the in-process simulator; the
//! expected bytes are what llm-orc 0.25.2 produced for the same shapes (fixtures written here).

use crate::common;

use common::{TestProject, latest_artifact};
use orc::testkit::sim::{Recorded, SimConfig, Simulator};
use serde_json::{Value, json};

async fn sim() -> Simulator {
    let cfg = SimConfig {
        accept_any_model: true,
        ..SimConfig::default()
    };
    Simulator::start(cfg, 0).await.expect("simulator")
}

fn user_msg(r: &Recorded) -> &str {
    r.body["messages"][1]["content"].as_str().unwrap_or("")
}

/// The one request whose system prompt is `system`.
fn request_of<'a>(reqs: &'a [Recorded], system: &str) -> &'a Recorded {
    let found: Vec<&Recorded> = reqs
        .iter()
        .filter(|r| r.body["messages"][0]["content"] == system)
        .collect();
    assert_eq!(found.len(), 1, "requests with system `{system}`: {reqs:#?}");
    found[0]
}

/// A project whose profile `p1` reaches the simulator through its OpenAI-compatible API, and a
/// script `boom.sh` that prints to stderr and exits 3.
fn project(url: &str) -> TestProject {
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "model_profiles:\n  p1:\n    model: m1\n    provider: openai-compatible\n    base_url: {url}/v1\n    system_prompt: you are p1\n"
        ),
    );
    p.write(
        ".llm-orc/scripts/boom.sh",
        "#!/bin/sh\necho 'some stderr text' >&2\necho '{\"partial\": 1}'\nexit 3\n",
    );
    p.write(
        ".llm-orc/scripts/echo.py",
        "import sys, json\nprint(json.dumps({\"success\": True, \"data\": sys.stdin.read()}))\n",
    );
    p.write(
        ".llm-orc/scripts/list.py",
        "import json\nprint(json.dumps({\"success\": True, \"data\": [{\"k\": \"v1\"}, [\"a\", 1], 7, \"x\"]}))\n",
    );
    p.write(
        ".llm-orc/scripts/empty.py",
        "import json\nprint(json.dumps({\"success\": True, \"data\": []}))\n",
    );
    p
}

const BOOM_ERROR: &str = "Script failed with exit code 3";

fn entry<'a>(art: &'a Value, name: &str) -> &'a Value {
    &art["results"][name]
}

/// A script's stdin as the echo script saw it: the `dependencies` map.
fn script_deps(art: &Value, name: &str) -> Value {
    let env: Value =
        serde_json::from_str(entry(art, name)["response"].as_str().expect("a response"))
            .expect("echo envelope");
    let stdin: Value = serde_json::from_str(env["data"].as_str().expect("data")).expect("stdin");
    stdin["dependencies"].clone()
}

/// No dependency succeeded: the agent is skipped with llm-orc 0.25.2's reason, and so is its
/// own dependent; `on_dependency_failure: run` runs it anyway, shown the failures, and says
/// so; a failed dependency is shown to LLM agents (`Agent a (A) (failed): error`) and to
/// scripts (its whole entry, stderr in the payload).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_dependencies_as_llm_orc_0_25_2_has_them() {
    let sim = sim().await;
    let p = project(&sim.url());
    p.ensemble(
        "fd",
        "name: fd\ndescription: failed dependencies\nagents:
  - name: boom
    script: scripts/boom.sh
  - name: ok
    model_profile: p1
  - name: all-failed
    model_profile: p1
    system_prompt: all-failed
    depends_on: [boom]
  - name: mixed
    model_profile: p1
    system_prompt: mixed
    depends_on: [boom, ok]
  - name: script-mixed
    script: scripts/echo.py
    depends_on: [boom, ok]
  - name: anyway
    model_profile: p1
    system_prompt: anyway
    depends_on: [boom]
    on_dependency_failure: run
  - name: after-skipped
    model_profile: p1
    depends_on: [all-failed]
  - name: after-skipped-anyway
    model_profile: p1
    system_prompt: after-skipped-anyway
    depends_on: [all-failed]
    on_dependency_failure: run
",
    );
    let r = p.orc_async(&["invoke", "fd", "the input"]).await;
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    // The CLI still says what the script printed on stderr.
    assert!(
        r.stderr
            .contains("Script failed with exit code 3: some stderr text"),
        "{}",
        r.stderr
    );
    let art = latest_artifact(&p, "fd");
    assert_eq!(
        entry(&art, "boom"),
        &json!({"response": null, "status": "failed", "model_substituted": false,
                "error": BOOM_ERROR, "payload": {"stderr": "some stderr text\n"},
                "outcome": "failed", "has_errors": true})
    );
    assert_eq!(
        entry(&art, "all-failed"),
        &json!({"response": null, "status": "skipped", "model_substituted": false,
                "reason": format!("no dependency succeeded: boom (failed: {BOOM_ERROR})"),
                "outcome": "skipped_by_failure", "has_errors": true})
    );
    assert_eq!(
        entry(&art, "after-skipped")["reason"],
        "no dependency succeeded: all-failed (skipped)"
    );
    let anyway = entry(&art, "anyway");
    assert_eq!(anyway["status"], "success");
    assert_eq!(anyway["outcome"], "handled_failure");
    assert_eq!(anyway["has_errors"], true);
    assert_eq!(anyway["handled_failure"], true);
    assert_eq!(
        anyway["handled_failure_reason"],
        format!("boom (failed: {BOOM_ERROR})")
    );
    assert_eq!(entry(&art, "mixed")["outcome"], "succeeded");
    let keys: Vec<&String> = art["results"]
        .as_object()
        .expect("results")
        .keys()
        .collect();
    assert_eq!(
        keys,
        [
            "boom",
            "ok",
            "all-failed",
            "mixed",
            "script-mixed",
            "anyway",
            "after-skipped",
            "after-skipped-anyway"
        ]
    );

    let reqs = sim.requests();
    assert!(
        !reqs
            .iter()
            .any(|r| r.body["messages"][0]["content"] == "all-failed"),
        "a skipped agent sends nothing"
    );
    let t1 = |blocks: &str| {
        format!(
            "Please respond to the following input, taking into account the results from the previous agents in the dependency chain.\n\nOriginal Input:\nthe input\n\nPrevious Agent Results (for your reference):\n{blocks}\n\nPlease provide your own analysis, building upon (but not simply repeating) the previous results."
        )
    };
    let ok_text = entry(&art, "ok")["response"]
        .as_str()
        .expect("ok")
        .to_string();
    assert_eq!(
        user_msg(request_of(&reqs, "mixed")),
        t1(&format!(
            "Agent boom (Boom) (failed): {BOOM_ERROR}\n\nAgent ok (P1):\n{ok_text}"
        ))
    );
    assert_eq!(
        user_msg(request_of(&reqs, "anyway")),
        t1(&format!("Agent boom (Boom) (failed): {BOOM_ERROR}"))
    );
    assert_eq!(
        user_msg(request_of(&reqs, "after-skipped-anyway")),
        t1(&format!(
            "Agent all-failed (P1) (skipped): no dependency succeeded: boom (failed: {BOOM_ERROR})"
        ))
    );
    let deps = script_deps(&art, "script-mixed");
    assert_eq!(deps["boom"], *entry(&art, "boom"));
    assert_eq!(deps["ok"]["outcome"], "succeeded");
    assert_eq!(
        deps.as_object().expect("deps").keys().collect::<Vec<_>>(),
        ["boom", "ok"]
    );
}

/// A guard-skipped dependency is `skipped_by_guard` (not an error) and shown to a dependent
/// that runs as `(skipped): no response`; dependencies all skipped by guards skip their
/// dependent by its guard too, unless it says `on_dependency_failure: run`. A skipped and a
/// failed dependency skip it by failure, naming both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_skips_are_not_failures() {
    let sim = sim().await;
    let p = project(&sim.url());
    p.ensemble(
        "guards",
        "name: guards\ndescription: d\nagents:
  - name: boom
    script: scripts/boom.sh
  - name: ok
    model_profile: p1
  - name: gated
    model_profile: p1
    depends_on: [ok]
    when: \"${ok.nothing}\"
  - name: gated-and-ok
    model_profile: p1
    system_prompt: gated-and-ok
    depends_on: [gated, ok]
  - name: only-gated
    model_profile: p1
    depends_on: [gated]
  - name: only-gated-anyway
    model_profile: p1
    system_prompt: only-gated-anyway
    depends_on: [gated]
    on_dependency_failure: run
  - name: gated-and-failed
    model_profile: p1
    depends_on: [gated, boom]
",
    );
    let r = p.orc_async(&["invoke", "guards", "the input"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let art = latest_artifact(&p, "guards");
    assert_eq!(
        entry(&art, "gated"),
        &json!({"response": null, "status": "skipped", "model_substituted": false,
                "outcome": "skipped_by_guard", "has_errors": false})
    );
    assert_eq!(entry(&art, "only-gated")["outcome"], "skipped_by_guard");
    let anyway = entry(&art, "only-gated-anyway");
    assert_eq!(
        (anyway["outcome"].as_str(), anyway.get("handled_failure")),
        (Some("succeeded"), None)
    );
    assert_eq!(
        entry(&art, "gated-and-failed")["reason"],
        format!("no dependency succeeded: gated (skipped), boom (failed: {BOOM_ERROR})")
    );
    let reqs = sim.requests();
    assert!(
        user_msg(request_of(&reqs, "gated-and-ok"))
            .contains("Agent gated (P1) (skipped): no response\n\nAgent ok (P1):\n"),
        "{}",
        user_msg(request_of(&reqs, "gated-and-ok"))
    );
    assert!(
        user_msg(request_of(&reqs, "only-gated-anyway"))
            .contains("Agent gated (P1) (skipped): no response")
    );
}

/// `on_dependency_failure` is `skip` or `run`; anything else is a validate error at its line.
#[test]
fn on_dependency_failure_takes_skip_or_run() {
    let p = project("http://127.0.0.1:9");
    p.ensemble(
        "odf",
        "name: odf\ndescription: d\nagents:\n  - name: a\n    model_profile: p1\n  - name: b\n    model_profile: p1\n    depends_on: [a]\n    on_dependency_failure: continue\n",
    );
    let r = p.orc(&["validate", "odf"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.assert_diag(&format!(
        "{}:9:28: error: `on_dependency_failure` cannot be `continue`",
        p.root().join(".llm-orc/ensembles/odf.yaml").display()
    ));
    p.ensemble(
        "odf",
        "name: odf\ndescription: d\nagents:\n  - name: a\n    model_profile: p1\n  - name: b\n    model_profile: p1\n    depends_on: [a]\n    on_dependency_failure: run\n",
    );
    let ok = p.orc(&["validate", "odf"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(!ok.stderr.contains("warning"), "{}", ok.stderr);
}

/// A script that exits 0 printing `{"error": ...}` fails with that error (its other keys are
/// the payload), as does `"success": false`; a null or empty error is no failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_reporting_an_error_fails() {
    let sim = sim().await;
    let p = project(&sim.url());
    p.write(".llm-orc/config.yaml", "scripts:\n  allow_inline: true\n");
    p.ensemble(
        "errs",
        "name: errs\ndescription: d\nagents:
  - name: bare-error
    script: \"echo '{\\\"error\\\": \\\"bare error here\\\"}'\"
  - name: error-and-data
    script: \"echo '{\\\"success\\\": true, \\\"error\\\": \\\"but also\\\", \\\"data\\\": 2}'\"
  - name: success-false
    script: \"echo '{\\\"success\\\": false, \\\"data\\\": 1}'\"
  - name: null-error
    script: \"echo '{\\\"error\\\": null, \\\"data\\\": 1}'\"
",
    );
    let r = p.orc_async(&["invoke", "errs", "x"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let art = latest_artifact(&p, "errs");
    assert_eq!(
        entry(&art, "bare-error"),
        &json!({"response": null, "status": "failed", "model_substituted": false,
                "error": "bare error here", "outcome": "failed", "has_errors": true})
    );
    assert_eq!(entry(&art, "error-and-data")["error"], "but also");
    assert_eq!(entry(&art, "error-and-data")["payload"], json!({"data": 2}));
    assert_eq!(
        entry(&art, "success-false")["error"],
        "{\"success\": false, \"data\": 1}"
    );
    assert_eq!(entry(&art, "null-error")["status"], "success");
    assert_eq!(sim.requests().len(), 0);
}

/// A fan-out over an empty list makes no instances (its gathered entry is an empty success
/// and dependents are told so); over something that is not a list, or after its upstream
/// failed, it fails with llm-orc 0.25.2's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_over_nothing_makes_nothing() {
    let sim = sim().await;
    let p = project(&sim.url());
    p.ensemble(
        "fans",
        "name: fans\ndescription: d\nagents:
  - name: none
    script: scripts/empty.py
  - name: boom
    script: scripts/boom.sh
  - name: prose
    model_profile: p1
    system_prompt: prose
  - name: each
    model_profile: p1
    system_prompt: each
    depends_on: [none]
    fan_out: true
  - name: after-each
    model_profile: p1
    system_prompt: after-each
    depends_on: [each]
  - name: over-prose
    model_profile: p1
    depends_on: [prose]
    fan_out: true
  - name: over-failed
    model_profile: p1
    depends_on: [boom]
    fan_out: true
    on_dependency_failure: run
",
    );
    let r = p.orc_async(&["invoke", "fans", "the input"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let art = latest_artifact(&p, "fans");
    assert_eq!(
        entry(&art, "each"),
        &json!({"response": [], "status": "success", "fan_out": true, "instances": [],
                "outcome": "succeeded", "has_errors": false})
    );
    assert_eq!(
        entry(&art, "over-prose")["error"],
        "Fan-out agent 'over-prose' cannot run: upstream agent 'prose's response did not contain a JSON array"
    );
    assert_eq!(
        entry(&art, "over-failed")["error"],
        "Fan-out agent 'over-failed' cannot run: upstream agent 'boom' did not succeed (status: 'failed')"
    );
    let reqs = sim.requests();
    assert!(
        !reqs
            .iter()
            .any(|r| r.body["messages"][0]["content"] == "each"),
        "no instance ran"
    );
    assert!(user_msg(request_of(&reqs, "after-each")).contains(
        "Agent each (P1):\nAgent each: produced zero instances (upstream list was empty)"
    ));
}

/// A fan-out over an `ensemble:` agent hands each child run the bare item (a string as it is,
/// anything else as JSON), and its dependents get each instance's final answers as
/// `agent[k]:` blocks, a failed final agent as `agent[k] (failed): error`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_over_an_ensemble_agent() {
    let sim = sim().await;
    let p = project(&sim.url());
    p.ensemble(
        "child",
        "name: child\ndescription: d\nagents:\n  - name: t1\n    model_profile: p1\n    system_prompt: t1\n  - name: t2\n    script: scripts/boom.sh\n",
    );
    p.ensemble(
        "nest",
        "name: nest\ndescription: d\nagents:
  - name: lister
    script: scripts/list.py
  - name: each
    ensemble: child
    depends_on: [lister]
    fan_out: true
  - name: after
    model_profile: p1
    system_prompt: after
    depends_on: [each]
",
    );
    let r = p.orc_async(&["invoke", "nest", "the input"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let reqs = sim.requests();
    let mut items: Vec<&str> = reqs
        .iter()
        .filter(|r| r.body["messages"][0]["content"] == "t1")
        .map(user_msg)
        .collect();
    items.sort_unstable();
    assert_eq!(items, ["7", "[\"a\", 1]", "x", "{\"k\": \"v1\"}"]);
    let art = latest_artifact(&p, "nest");
    let answers: Vec<String> = (0..4)
        .map(|k| {
            let doc: Value = serde_json::from_str(
                entry(&art, &format!("each[{k}]"))["response"]
                    .as_str()
                    .expect("doc"),
            )
            .expect("child document");
            doc["results"]["t1"]["response"]
                .as_str()
                .expect("t1")
                .to_string()
        })
        .collect();
    let blocks: Vec<String> = answers
        .iter()
        .enumerate()
        .map(|(k, a)| format!("t1[{k}]:\n{a}\n\nt2[{k}] (failed): {BOOM_ERROR}"))
        .collect();
    let want = format!("Agent each (Each):\n{}", blocks.join("\n\n"));
    let got = user_msg(request_of(&reqs, "after"));
    assert!(got.contains(&want), "want\n{want}\ngot\n{got}");
    assert_eq!(entry(&art, "each")["has_errors"], true);
}

/// A nested agent hands its dependents every final agent of the child, a failed one included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_hand_over_shows_failed_final_agents() {
    let sim = sim().await;
    let p = project(&sim.url());
    p.ensemble(
        "child",
        "name: child\ndescription: d\nagents:\n  - name: first\n    model_profile: p1\n    system_prompt: first\n  - name: second\n    model_profile: p1\n    system_prompt: second\n    depends_on: [first]\n  - name: scr\n    script: scripts/boom.sh\n",
    );
    p.ensemble(
        "outer",
        "name: outer\ndescription: d\nagents:\n  - name: n\n    ensemble: child\n  - name: after\n    model_profile: p1\n    system_prompt: after\n    depends_on: [n]\n",
    );
    let r = p.orc_async(&["invoke", "outer", "the input"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let reqs = sim.requests();
    let second = reqs
        .iter()
        .find(|r| r.body["messages"][0]["content"] == "second")
        .expect("second ran");
    let art = latest_artifact(&p, "outer");
    let doc: Value =
        serde_json::from_str(entry(&art, "n")["response"].as_str().expect("doc")).expect("doc");
    let answer = doc["results"]["second"]["response"]
        .as_str()
        .expect("answer");
    assert!(!user_msg(second).is_empty());
    let got = user_msg(request_of(&reqs, "after"));
    assert!(
        got.contains(&format!(
            "Agent n (N):\nsecond:\n{answer}\n\nscr (failed): {BOOM_ERROR}\n\n"
        )),
        "{got}"
    );
    // The child had a failure: the nested agent succeeded with errors inside, as 0.25.2 says.
    assert_eq!(entry(&art, "n")["status"], "success");
    assert_eq!(entry(&art, "n")["has_errors"], true);
}

/// A loop agent's response carries `has_errors`: whether an iteration had a failed agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_response_says_whether_it_had_errors() {
    let sim = sim().await;
    let p = project(&sim.url());
    p.ensemble(
        "body-ok",
        "name: body-ok\ndescription: d\nagents:\n  - name: a\n    model_profile: p1\n",
    );
    p.ensemble(
        "body-bad",
        "name: body-bad\ndescription: d\nagents:\n  - name: a\n    model_profile: p1\n  - name: b\n    script: scripts/boom.sh\n",
    );
    p.ensemble(
        "loops",
        "name: loops\ndescription: d\nagents:
  - name: clean
    loop: {body: body-ok, until: \"${value}\", max_iterations: 2}
  - name: dirty
    loop: {body: body-bad, until: \"${nothing}\", max_iterations: 2}
",
    );
    let r = p.orc_async(&["invoke", "loops", "the input"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let art = latest_artifact(&p, "loops");
    let response = |n: &str| -> Value {
        serde_json::from_str(entry(&art, n)["response"].as_str().expect("response")).expect("json")
    };
    let clean = response("clean");
    assert_eq!(
        clean.as_object().expect("obj").keys().collect::<Vec<_>>(),
        ["output", "iterations", "terminated", "has_errors"]
    );
    assert_eq!(clean["has_errors"], false);
    assert_eq!(entry(&art, "clean")["has_errors"], false);
    assert_eq!(response("dirty")["has_errors"], true);
    assert_eq!(response("dirty")["iterations"], 2);
    assert_eq!(entry(&art, "dirty")["status"], "success");
    assert_eq!(entry(&art, "dirty")["has_errors"], true);
}

/// `provider: llama-server` without a `base_url` goes to `$LLAMA_SERVER_URL`, else
/// `http://127.0.0.1:8080/v1`, never to `$OLLAMA_HOST`; its `think` is sent as
/// `chat_template_kwargs.enable_thinking`, and its options as top-level keys in the order
/// written (profile, then the agent's), as llm-orc 0.25.2 sends them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_server_has_its_own_address_and_gets_its_options() {
    let sim = sim().await;
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        "model_profiles:
  ls:
    model: qwen3-8b
    provider: llama-server
    system_prompt: ls
    options:
      think: false
      top_p: 0.9
      repeat_penalty: 1.1
",
    );
    p.ensemble(
        "ls",
        "name: ls\ndescription: d\nagents:
  - name: a
    model_profile: ls
  - name: b
    model_profile: ls
    temperature: 0.2
    max_tokens: 9
    response_format: json
    options:
      think: true
      top_k: 4
",
    );
    let url = format!("{}/v1", sim.url());
    let mut cmd = p.command(&["invoke", "ls", "the input"]);
    cmd.env("LLAMA_SERVER_URL", &url);
    let r = tokio::task::spawn_blocking(move || common::Run::from(cmd.output().expect("run")))
        .await
        .expect("join");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let reqs = sim.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs.iter().all(|r| r.path == "/v1/chat/completions"));
    let mut bodies: Vec<String> = reqs
        .iter()
        .map(|r| {
            let mut b = r.body.clone();
            b.as_object_mut().expect("body").shift_remove("messages");
            b.to_string()
        })
        .collect();
    bodies.sort();
    assert_eq!(
        bodies,
        [
            r#"{"model":"qwen3-8b","chat_template_kwargs":{"enable_thinking":false},"top_p":0.9,"repeat_penalty":1.1}"#,
            r#"{"model":"qwen3-8b","temperature":0.2,"max_tokens":9,"chat_template_kwargs":{"enable_thinking":true},"top_p":0.9,"repeat_penalty":1.1,"top_k":4,"response_format":{"type":"json_object"}}"#,
        ]
    );

    // Without LLAMA_SERVER_URL: llm-orc's default, not OLLAMA_HOST.
    let mut cmd = p.command(&["invoke", "ls", "the input"]);
    cmd.env("OLLAMA_HOST", sim.url());
    let r = tokio::task::spawn_blocking(move || common::Run::from(cmd.output().expect("run")))
        .await
        .expect("join");
    assert_eq!(sim.requests().len(), 2, "nothing went to OLLAMA_HOST");
    let art = latest_artifact(&p, "ls");
    let where_ = |n: &str| {
        let e = entry(&art, n);
        let host = &art["metadata"]["usage"]["agents"][n]["host"];
        format!("{} {host}", e["error"])
    };
    for n in ["a", "b"] {
        assert!(
            where_(n).contains("127.0.0.1:8080"),
            "{n}: {}\n{}",
            where_(n),
            r.stderr
        );
    }
}

/// An openai-compatible agent gets its model's options as top-level keys, keep_alive among
/// them where written; `think` there is refused at validate time (llm-orc 0.25.2 refuses it
/// too); `response_format` with a schema is sent as OpenAI's json_schema, and to Ollama's
/// native API as `format`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_compatible_requests_carry_the_options() {
    let sim = sim().await;
    let p = TestProject::new();
    let url = sim.url();
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "model_profiles:
  oc:
    model: m1
    provider: openai-compatible
    base_url: {url}/v1
    system_prompt: oc
    options:
      num_ctx: 4096
      keep_alive: 10m
      seed: 5
  native:
    model: qwen3:0.6b
    provider: ollama
    base_url: {url}
    system_prompt: native
"
        ),
    );
    p.ensemble(
        "oc",
        "name: oc\ndescription: d\nagents:
  - name: a
    model_profile: oc
    temperature: 0.9
    options:
      top_k: 3
      num_ctx: 2048
    response_format:
      type: object
      properties: {x: {type: string}}
  - name: n
    model_profile: native
    response_format: json
",
    );
    let r = p.orc_async(&["invoke", "oc", "the input"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let reqs = sim.requests();
    let mut a = request_of(&reqs, "oc").body.clone();
    a.as_object_mut().expect("body").shift_remove("messages");
    assert_eq!(
        a.to_string(),
        r#"{"model":"m1","temperature":0.9,"num_ctx":2048,"keep_alive":"10m","seed":5,"top_k":3,"response_format":{"type":"json_schema","json_schema":{"name":"response","schema":{"type":"object","properties":{"x":{"type":"string"}}}}}}"#
    );
    let n = reqs.iter().find(|r| r.path == "/api/chat").expect("native");
    assert_eq!(n.body["format"], "json");

    p.ensemble(
        "thinks",
        "name: thinks\ndescription: d\nagents:\n  - name: a\n    model_profile: oc\n    options: {think: false}\n",
    );
    let r = p.orc(&["validate", "thinks"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(
            "agent `a` sets `options.think`, which an openai-compatible server cannot take"
        ),
        "{}",
        r.stderr
    );
}

/// A validation ensemble faster than its `min_execution_time` passes; the floor is reported
/// apart, on stderr and in the result's details.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timing_floor_under_a_native_run_is_met() {
    let p = TestProject::new();
    p.write(".llm-orc/data.json", "{\"name\": \"orc\"}");
    p.ensemble(
        "v",
        "name: v\ndescription: d\nagents:
  - name: read
    script: primitives/file-ops/read_file.py
    parameters: {path: .llm-orc/data.json}
validation:
  structural:
    required_agents: [read]
    max_execution_time: 15
    min_execution_time: 2.5
",
    );
    let r = p.orc_async(&["validate", "run", "v", "--verbose"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Validation PASSED"), "{}", r.stdout);
    assert!(
        r.stderr.contains("under min_execution_time 2.5s: treated as met (a timing floor is not a behaviour check)"),
        "{}",
        r.stderr
    );
    let art = latest_artifact(&p, "v");
    let floor = &art["validation_result"]["results"]["structural"]["details"]["timing_floor"];
    assert_eq!(floor["treated_as_met"], true, "{art}");
}

/// With no project at all, orc's shipped ensembles are listed (tier `packaged`) and run by
/// name, scripts and profiles included; a project's own file of the same name shadows one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_packaged_tier_is_found_from_anywhere() {
    let sim = sim().await;
    let p = TestProject::new();
    let nowhere = p.dir.path().join("nowhere");
    std::fs::create_dir_all(&nowhere).expect("mkdir");
    let run = |cwd: &std::path::Path, args: &[&str]| {
        let mut cmd = p.command(args);
        common::with_packaged_tier(&mut cmd).current_dir(cwd);
        common::Run::from(cmd.output().expect("run orc"))
    };
    let list = run(&nowhere, &["list-ensembles", "--format", "json"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let l: Value = serde_json::from_str(&list.stdout).expect("json");
    let packaged: Vec<&str> = l
        .as_array()
        .expect("list")
        .iter()
        .filter(|e| e["tier"] == "packaged")
        .map(|e| e["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        packaged,
        [
            "composable-report",
            "fan-in-review",
            "fan-out-paragraphs",
            "sequential-draft",
            "swarm-review"
        ]
    );
    assert!(
        l.as_array()
            .expect("list")
            .iter()
            .all(|e| e["valid"] == true)
    );
    let text = run(&nowhere, &["list-ensembles"]);
    assert!(
        text.stdout.contains("Packaged (shipped with orc, "),
        "{}",
        text.stdout
    );

    // Runs from anywhere: its script and its profiles come from the packaged tree.
    let mut cmd = p.command(&["invoke", "fan-out-paragraphs", "one\n\ntwo"]);
    common::with_packaged_tier(&mut cmd)
        .current_dir(&nowhere)
        .env("OLLAMA_HOST", sim.url());
    let r = tokio::task::spawn_blocking(move || common::Run::from(cmd.output().expect("run")))
        .await
        .expect("join");
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let models: Vec<String> = sim.requests().iter().map(|r| r.model.clone()).collect();
    assert_eq!(models.len(), 3, "two summaries and the combiner");
    assert!(models.contains(&"qwen3:0.6b".to_string()), "{models:?}");

    // A local file of the same name wins, and the packaged one is listed as shadowed.
    p.ensemble(
        "sequential-draft",
        "name: sequential-draft\ndescription: mine\nagents:\n  - name: a\n    model: m\n    provider: ollama\n",
    );
    let l: Value =
        serde_json::from_str(&run(&p.root(), &["list-ensembles", "--format", "json"]).stdout)
            .expect("json");
    let mine: Vec<(&str, bool)> = l
        .as_array()
        .expect("list")
        .iter()
        .filter(|e| e["name"] == "sequential-draft")
        .map(|e| (e["tier"].as_str().unwrap_or(""), e["shadowed"] == true))
        .collect();
    assert_eq!(mine, [("local", false), ("packaged", true)]);
    let g = run(
        &p.root(),
        &["graph", "sequential-draft", "--format", "json"],
    );
    assert!(g.stdout.contains("\"a\""), "{}", g.stdout);
    // `validate` with no names checks the user's files, not orc's own.
    let v = run(&p.root(), &["validate"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    let checked: Vec<&str> = v.stdout.lines().filter(|l| l.starts_with("ok ")).collect();
    assert_eq!(checked.len(), 1, "{}", v.stdout);
    assert!(
        checked[0].contains(".llm-orc/ensembles/sequential-draft.yaml"),
        "{}",
        v.stdout
    );
}

/// `--output-format json` prints an error document when the run is refused (status error, the
/// kind, the message and each problem with its line), and `list-ensembles` says `valid:
/// false` for a file validate rejects.
#[test]
fn a_refused_run_still_answers_in_json() {
    let p = TestProject::new();
    p.ensemble(
        "broken",
        "name: broken\ndescription: d\nagents:\n  - name: a\n    model_profile: nowhere\n",
    );
    let r = p.orc(&["invoke", "broken", "x", "--output-format", "json"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).expect("an error document on stdout");
    assert_eq!(doc["status"], "error");
    assert_eq!(doc["has_errors"], true);
    assert_eq!(doc["results"], json!({}));
    assert_eq!(doc["error"]["kind"], "invalid");
    assert_eq!(
        doc["error"]["message"],
        "ensemble `broken` is invalid (1 error(s))"
    );
    assert_eq!(doc["error"]["diagnostics"][0]["line"], 5);
    let nf = p.orc(&["invoke", "ghost", "--output-format", "json"]);
    let doc: Value = serde_json::from_str(&nf.stdout).expect("json");
    assert_eq!(doc["error"]["kind"], "not_found");

    let l: Value =
        serde_json::from_str(&p.orc(&["list-ensembles", "--format", "json"]).stdout).expect("json");
    let broken = l
        .as_array()
        .expect("list")
        .iter()
        .find(|e| e["name"] == "broken")
        .expect("listed");
    assert_eq!(broken["valid"], false);
}
