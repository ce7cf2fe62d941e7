//! Control flow end to end: `when:` guards, `loop:` and `dispatch:` agents, the depth limit and
//! the script cache, through the real binary against the in-process simulator.

use crate::common;

use common::{TestProject, latest_artifact, native_config};
use orc::testkit::sim::{Recorded, SimConfig, Simulator};
use serde_json::{Value, json};

async fn setup() -> (Simulator, TestProject) {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("simulator");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    (sim, p)
}

fn system_msg(r: &Recorded) -> &str {
    r.body["messages"][0]["content"].as_str().unwrap_or("")
}

fn user_msg(r: &Recorded) -> &str {
    r.body["messages"][1]["content"].as_str().unwrap_or("")
}

/// An LLM agent whose reply is fixed by the simulator.
fn llm(name: &str, reply: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    model_profile: tiny\n    system_prompt: '[{name}] [[fake:reply={reply}]]'\n{extra}"
    )
}

fn ensemble(name: &str, agents: &[String]) -> String {
    format!(
        "name: {name}\ndescription: test\nagents:\n{}",
        agents.concat()
    )
}

fn results(art: &Value) -> Vec<(String, String)> {
    art["results"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v["status"].as_str().unwrap_or("?").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Branch and join: a classifier's JSON decides which branch runs; the other is skipped, its
/// dependent too, and the join hears only from the branch that ran. Skips come first in their
/// phase, as llm-orc writes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_branch_skip_and_join() {
    let (sim, p) = setup().await;
    p.ensemble(
        "branch",
        &ensemble(
            "branch",
            &[
                llm("classify", r#"{"route": "code", "n": 1, "sure": true}"#, ""),
                llm(
                    "coder",
                    "CODE",
                    "    depends_on: [classify]\n    when: \"${classify.route} == code\"\n",
                ),
                llm(
                    "writer",
                    "DOCS",
                    "    depends_on: [classify]\n    when: \"${classify.route} == 'docs'\"\n",
                ),
                llm(
                    "counted",
                    "ONE",
                    "    depends_on: [classify]\n    when: \"${classify.n} == true\"\n",
                ),
                llm(
                    "unsure",
                    "NO",
                    "    depends_on: [classify]\n    when: \"${classify.unknown}\"\n",
                ),
                // No `!=` in the grammar: the expression is a non-empty string, so it runs.
                llm(
                    "not-docs",
                    "YES",
                    "    depends_on: [classify]\n    when: \"${classify.route} != docs\"\n",
                ),
                llm("edit-docs", "EDITED", "    depends_on: [writer]\n"),
                llm("join", "JOINED", "    depends_on: [coder, writer]\n"),
            ],
        ),
    );
    let r = p.orc_async(&["invoke", "branch", "task"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(
            "== writer (skipped_by_guard) ==\n`when: ${classify.route} == 'docs'` is false (${classify.route} is 'code')\n"
        ),
        "{}",
        r.stdout
    );
    let art = latest_artifact(&p, "branch");
    assert_eq!(
        results(&art),
        pairs(&[
            ("classify", "success"),
            ("writer", "skipped"),
            ("unsure", "skipped"),
            ("coder", "success"),
            ("counted", "success"),
            ("not-docs", "success"),
            ("edit-docs", "skipped"),
            ("join", "success"),
        ])
    );
    assert_eq!(
        art["results"]["writer"],
        json!({"response": null, "status": "skipped", "model_substituted": false, "outcome": "skipped_by_guard", "has_errors": false})
    );
    assert_eq!(art["status"], "completed");
    // Skipped agents made no request; the join's prompt shows the branch that ran and, as
    // llm-orc 0.25.2 does, the one a guard skipped.
    let reqs = sim.requests();
    assert_eq!(reqs.len(), 5, "classify, coder, counted, not-docs, join");
    assert!(!reqs.iter().any(|r| system_msg(r).starts_with("[writer]")));
    let join = reqs
        .iter()
        .find(|r| system_msg(r).starts_with("[join]"))
        .expect("join ran");
    assert!(user_msg(join).contains("Agent coder (Tiny):\nCODE"));
    assert!(
        user_msg(join).contains("Agent writer (Tiny) (skipped): no response"),
        "{}",
        user_msg(join)
    );
    let notes = &art["metadata"]["orc"]["notes"];
    assert_eq!(
        notes["writer"],
        "`when: ${classify.route} == 'docs'` is false (${classify.route} is 'code')"
    );
    assert_eq!(
        notes["edit-docs"],
        "every dependency was skipped by a guard"
    );
    assert_eq!(art["results"]["edit-docs"]["outcome"], "skipped_by_guard");
}

/// A guard on prose (not JSON), on a failed agent, or on a missing field resolves to nothing:
/// the agent is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_on_prose_or_failure_skip() {
    let (_sim, p) = setup().await;
    p.ensemble(
        "prose",
        &ensemble(
            "prose",
            &[
                llm("talker", "The route is code.", ""),
                llm("broken", "x [[sim:status=400]]", ""),
                llm(
                    "a",
                    "A",
                    "    depends_on: [talker]\n    when: \"${talker.route} == code\"\n",
                ),
                llm(
                    "b",
                    "B",
                    "    depends_on: [broken]\n    when: \"${broken.route}\"\n",
                ),
            ],
        ),
    );
    let r = p.orc_async(&["invoke", "prose", "task"]).await;
    assert_eq!(r.code, 1, "the 400 fails `broken`: {}", r.stderr);
    let art = latest_artifact(&p, "prose");
    assert_eq!(art["results"]["a"]["status"], "skipped");
    assert_eq!(art["results"]["b"]["status"], "skipped");
    assert_eq!(art["results"]["broken"]["status"], "failed");
}

/// A guard may read an agent of an earlier phase that is not a dependency: orc has no phases,
/// so it waits for that agent. `x` is held until `y` (which runs after `a`) has asked; without
/// the wait, `c` would read `x` before it finished and be skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_wait_for_referenced_agents() {
    let (sim, p) = setup().await;
    p.ensemble(
        "wait",
        &ensemble(
            "wait",
            &[
                llm("a", "A", ""),
                "  - name: x\n    model_profile: tiny\n    system_prompt: '[x] [[fake:reply={\"ok\": true}]] [[sim:hold_until=[y]]]'\n".into(),
                llm("y", "Y", "    depends_on: [a]\n"),
                llm("c", "C", "    depends_on: [a]\n    when: \"${x.ok}\"\n"),
            ],
        ),
    );
    let g = p.orc(&["graph", "wait"]);
    assert!(g.stdout.contains("(waits for x)"), "{}", g.stdout);
    let r = p.orc_async(&["invoke", "wait", "task"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let art = latest_artifact(&p, "wait");
    assert_eq!(art["results"]["c"]["status"], "success");
    assert_eq!(sim.requests().len(), 4);
}

/// A counting body: a script that adds one to the number it is given and says when it is done.
const COUNT_BODY: &str =
    "name: count-body\ndescription: adds one\nagents:\n  - name: inc\n    script: count.sh\n";
const COUNT_SH: &str = r#"case "$INPUT_DATA" in ''|*[!0-9]*) n=0;; *) n=$INPUT_DATA;; esac
n=$((n+1))
if [ $n -ge 3 ]; then d=true; else d=false; fi
echo "{\"n\": $n, \"done\": $d, \"state\": {\"seen\": $n}}"
"#;

/// Loops: `until` stops it, `carry` feeds the next iteration, and the response is llm-orc's
/// `{"output", "iterations", "terminated"}`. A loop that never meets `until` is exhausted.
/// Carrying a non-string passes its JSON text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loops_until_carry_and_exhaustion() {
    let (_sim, p) = setup().await;
    p.ensemble("count-body", COUNT_BODY);
    p.write(".llm-orc/scripts/count.sh", COUNT_SH);
    p.ensemble(
        "loops",
        r#"
            name: loops
            description: test
            agents:
              - name: until-done
                loop: {body: count-body, until: '${done}', max_iterations: 10, carry: '${n}'}
              - name: never
                loop: {body: count-body, until: '${n} == 99', max_iterations: 4, carry: '${n}'}
              - name: carry-object
                loop: {body: count-body, until: '${done} == true', max_iterations: 2, carry: '${state}'}
        "#,
    );
    let r = p.orc_async(&["invoke", "loops", "go"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let art = latest_artifact(&p, "loops");
    assert_eq!(
        art["results"]["until-done"]["response"],
        r#"{"output": {"n": 3, "done": true, "state": {"seen": 3}}, "iterations": 3, "terminated": "until", "has_errors": false}"#
    );
    assert_eq!(
        art["results"]["never"]["response"],
        r#"{"output": {"n": 4, "done": true, "state": {"seen": 4}}, "iterations": 4, "terminated": "exhausted", "has_errors": false}"#
    );
    // The object `{"seen": 1}` is carried as its JSON text, which the body reads as no number.
    assert_eq!(
        art["results"]["carry-object"]["response"],
        r#"{"output": {"n": 1, "done": false, "state": {"seen": 1}}, "iterations": 2, "terminated": "exhausted", "has_errors": false}"#
    );
    // Each iteration ran the body on the shared scheduler and is in the timeline.
    let rows = art["metadata"]["orc"]["timeline"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = rows.iter().filter_map(|r| r["agent"].as_str()).collect();
    for k in 1..=3 {
        let want = format!("until-done#{k}/inc");
        assert!(names.contains(&want.as_str()), "{want} in {names:?}");
    }
    assert!(!names.contains(&"until-done#4/inc"));
}

/// Dispatch: the target ensemble comes from an upstream agent's JSON; `input_key` hands the
/// child the selected value. An unresolved target and a missing ensemble fail the agent with
/// llm-orc's messages; the rest of the run goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_routes_at_run_time() {
    let (sim, p) = setup().await;
    p.ensemble(
        "code-review",
        &ensemble("code-review", &[llm("reviewer", "LGTM", "")]),
    );
    p.ensemble(
        "route",
        &ensemble(
            "route",
            &[
                llm(
                    "classify",
                    r#"{"target": "code-review", "task": "review main.rs", "bad": "no-such-ensemble", "up": "../../outside"}"#,
                    "",
                ),
                llm("talker", "prose, not JSON", ""),
                "  - name: go\n    depends_on: [classify]\n    dispatch: '${classify.target}'\n    input_key: task\n".into(),
                "  - name: unresolved\n    depends_on: [talker]\n    dispatch: '${talker.target}'\n".into(),
                "  - name: missing\n    depends_on: [classify]\n    dispatch: '${classify.bad}'\n".into(),
                "  - name: literal\n    dispatch: code-review\n".into(),
                // A name chosen by a model never leaves the project's ensembles.
                "  - name: escape\n    depends_on: [classify]\n    dispatch: '${classify.up}'\n".into(),
            ],
        ),
    );
    let r = p.orc_async(&["invoke", "route", "the input"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let art = latest_artifact(&p, "route");
    let go = &art["results"]["go"];
    assert_eq!(go["status"], "success");
    let child: Value = serde_json::from_str(go["response"].as_str().unwrap_or("")).expect("json");
    assert_eq!(child["ensemble"], "code-review");
    assert_eq!(child["deliverable"], "LGTM");
    assert_eq!(child["input"]["data"], "review main.rs");
    assert_eq!(
        art["results"]["unresolved"]["error"],
        "Dispatch target for 'unresolved' was not resolved (dispatch: '${talker.target}')"
    );
    let missing = art["results"]["missing"]["error"].as_str().unwrap_or("");
    assert!(
        missing.starts_with("Ensemble 'no-such-ensemble' not found"),
        "{missing}"
    );
    assert_eq!(art["results"]["literal"]["status"], "success");
    let escape = art["results"]["escape"]["error"].as_str().unwrap_or("");
    assert!(
        escape.starts_with("Ensemble '../../outside' refused"),
        "{escape}"
    );
    // The dispatched child's call went to the simulator with the selected input.
    assert!(
        sim.requests()
            .iter()
            .any(|r| system_msg(r).starts_with("[reviewer]") && user_msg(r) == "review main.rs")
    );
    assert!(
        r.stderr
            .contains("error: agent `unresolved` failed: Dispatch target")
    );
}

/// A dispatch that picks its own ensemble recurses until the depth limit, which fails the
/// innermost agent with the chain of ensembles in the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depth_limit_names_the_chain() {
    let (sim, p) = setup().await;
    let cfg = format!(
        "{}performance:\n  execution:\n    max_ensemble_depth: 2\n",
        native_config(&sim.url())
    );
    p.write(".llm-orc/config.yaml", &cfg);
    p.ensemble(
        "rec",
        &ensemble(
            "rec",
            &[
                llm("pick", r#"{"next": "rec"}"#, ""),
                "  - name: again\n    depends_on: [pick]\n    dispatch: '${pick.next}'\n".into(),
            ],
        ),
    );
    let r = p.orc_async(&["invoke", "rec", "x"]).await;
    // The innermost agent failed: the run has errors (exit 1, as llm-orc 0.25.2), though the
    // outer dispatch itself succeeds.
    assert_eq!(r.code, 1, "{}", r.stderr);
    let art = latest_artifact(&p, "rec");
    assert_eq!(art["results"]["again"]["status"], "success");
    assert_eq!(art["results"]["again"]["has_errors"], true);
    let level1: Value =
        serde_json::from_str(art["results"]["again"]["response"].as_str().unwrap_or(""))
            .expect("json");
    // Inside a child's document, a grandchild's document is embedded as a value (escaped once,
    // by the root), not as a string escaped again at every level.
    let level2 = &level1["results"]["again"]["response"];
    assert!(level2.is_object(), "{level2}");
    assert_eq!(level2["results"]["again"]["status"], "failed");
    assert_eq!(
        level2["results"]["again"]["error"],
        "Ensemble nesting depth limit exceeded: depth 3 > limit 2 (rec -> rec -> rec -> rec)"
    );
    assert_eq!(sim.requests().len(), 3, "one `pick` per level");
}

/// With `performance.script_cache: true`, a script's result is reused while its content, input
/// and parameters are unchanged; off by default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_cache_reuses_unchanged_runs() {
    let (sim, p) = setup().await;
    let counter = p.root().join("runs.txt");
    p.write(
        ".llm-orc/scripts/count-runs.sh",
        "echo x >> runs.txt\necho \"{\\\"got\\\": \\\"$INPUT_DATA\\\"}\"\n",
    );
    p.ensemble(
        "cached",
        r#"
            name: cached
            description: test
            agents:
              - name: s
                script: count-runs.sh
        "#,
    );
    let runs = || {
        std::fs::read_to_string(&counter)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    assert_eq!(p.orc_async(&["invoke", "cached", "a"]).await.code, 0);
    assert_eq!(p.orc_async(&["invoke", "cached", "a"]).await.code, 0);
    assert_eq!(runs(), 2, "off by default");
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "{}performance:\n  script_cache: true\n",
            native_config(&sim.url())
        ),
    );
    assert_eq!(p.orc_async(&["invoke", "cached", "a"]).await.code, 0);
    assert_eq!(p.orc_async(&["invoke", "cached", "a"]).await.code, 0);
    assert_eq!(runs(), 3, "the second run with the cache on is a hit");
    let art = latest_artifact(&p, "cached");
    assert_eq!(art["results"]["s"]["response"], r#"{"got": "a"}"#);
    assert_eq!(
        art["metadata"]["orc"]["notes"]["s"],
        "script result from the cache"
    );
    assert_eq!(p.orc_async(&["invoke", "cached", "b"]).await.code, 0);
    assert_eq!(runs(), 4, "a new input is a miss");
}

/// A fan-out over an `ensemble:` agent: each instance's child gets its item, and dependents get
/// each child's final answers as `agent[i]:` (llm-orc 0.25.2's layout, not the child's whole
/// result with its timings), so the dependent's prompt is the same on every run and `--resume`
/// reuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_over_an_ensemble_hands_over_answers_and_resumes() {
    let (sim, p) = setup().await;
    p.ensemble(
        "inner",
        r#"
            name: inner
            description: d
            agents:
              - name: leaf
                model_profile: tiny
                system_prompt: '[leaf] Answer.'
        "#,
    );
    p.ensemble(
        "outer",
        r#"
            name: outer
            description: d
            agents:
              - name: planner
                model_profile: tiny
                system_prompt: '[planner] [[fake:json_array=2]]'
              - name: worker
                ensemble: inner
                depends_on: [planner]
                fan_out: true
              - name: reducer
                model_profile: small
                system_prompt: '[reducer] Combine.'
                depends_on: [worker]
        "#,
    );
    let reducer_prompts = || -> Vec<String> {
        sim.requests()
            .iter()
            .filter(|r| system_msg(r).starts_with("[reducer]"))
            .map(|r| user_msg(r).to_string())
            .collect()
    };
    for _ in 0..2 {
        let r = p.orc_async(&["invoke", "outer", "x"]).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let prompts = reducer_prompts();
    assert_eq!(prompts.len(), 2);
    assert_eq!(prompts[0], prompts[1], "the dependent's prompt is stable");
    let art = latest_artifact(&p, "outer");
    let answer = |k: usize| {
        let child: Value = serde_json::from_str(
            art["results"][format!("worker[{k}]")]["response"]
                .as_str()
                .unwrap_or("{}"),
        )
        .unwrap_or_default();
        child["results"]["leaf"]["response"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(
        prompts[0],
        format!(
            "Please respond to the following input, taking into account the results from the previous agents in the dependency chain.\n\nOriginal Input:\nx\n\nPrevious Agent Results (for your reference):\nAgent worker (Worker):\nleaf[0]:\n{}\n\nleaf[1]:\n{}\n\nPlease provide your own analysis, building upon (but not simply repeating) the previous results.",
            answer(0),
            answer(1)
        )
    );
    // Each instance's child got its item, bare.
    let planner: Value = serde_json::from_str(
        art["results"]["planner"]["response"]
            .as_str()
            .unwrap_or("[]"),
    )
    .unwrap_or_default();
    let leaf_inputs: Vec<String> = sim.requests()[..4]
        .iter()
        .filter(|r| system_msg(r).starts_with("[leaf]"))
        .map(|r| user_msg(r).to_string())
        .collect();
    for k in 0..2 {
        let chunk = planner[k].as_str().unwrap_or("?");
        let want = chunk.to_string();
        assert!(
            leaf_inputs.contains(&want),
            "{want:?} not in {leaf_inputs:?}"
        );
    }
    // Resuming reuses the dependent: its input did not change.
    let r = p
        .orc_async(&["invoke", "outer", "x", "--resume", "latest"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        reducer_prompts().len(),
        2,
        "the reducer was not called again"
    );
    let reused = latest_artifact(&p, "outer")["metadata"]["orc"]["reused"].clone();
    assert!(
        reused
            .as_array()
            .is_some_and(|a| a.contains(&json!("reducer")) && a.contains(&json!("planner"))),
        "{reused}"
    );
}

/// Two levels of nesting: a nested ensemble whose final agent is itself a nested ensemble hands
/// over that ensemble's answers (`mid:` -> `deep:` -> `leaf:`), not its run's document, so the
/// dependent's prompt is the same on every run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_final_agent_hands_over_answers_not_its_document() {
    let (sim, p) = setup().await;
    p.ensemble(
        "inner",
        &ensemble("inner", &[llm("leaf", "the answer", "")]),
    );
    p.ensemble(
        "middle",
        r#"
            name: middle
            description: d
            agents:
              - name: deep
                ensemble: inner
        "#,
    );
    p.ensemble(
        "outer",
        &ensemble(
            "outer",
            &[
                "  - name: mid\n    ensemble: middle\n".into(),
                llm("judge", "ok", "    depends_on: [mid]\n"),
            ],
        ),
    );
    for _ in 0..2 {
        let r = p.orc_async(&["invoke", "outer", "x"]).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let judged: Vec<String> = sim
        .requests()
        .iter()
        .filter(|r| system_msg(r).starts_with("[judge]"))
        .map(|r| user_msg(r).to_string())
        .collect();
    assert_eq!(judged.len(), 2);
    assert_eq!(judged[0], judged[1]);
    assert!(
        judged[0].contains("Agent mid (Mid):\ndeep:\nleaf:\nthe answer\n\n"),
        "{}",
        judged[0]
    );
}

/// A chain of `depth` ensembles, each with an LLM agent and the next level nested after it
/// (so the nested agent is the deliverable at every level but the last).
fn chain(p: &TestProject, prefix: &str, depth: usize) {
    for k in 0..depth {
        let mut agents = vec![llm("a", &format!("answer-{k}"), "")];
        if k + 1 < depth {
            agents.push(format!("  - name: n\n    ensemble: {prefix}{}\n", k + 1));
        }
        p.ensemble(
            &format!("{prefix}{k}"),
            &ensemble(&format!("{prefix}{k}"), &agents),
        );
    }
}

fn artifact_bytes(p: &TestProject, ensemble: &str) -> u64 {
    std::fs::metadata(p.root().join(format!(
        ".llm-orc/artifacts/{ensemble}/latest/execution.json"
    )))
    .map(|m| m.len())
    .unwrap_or(0)
}

/// Nested results are data, rendered once: a 15-level chain's artifact grows with the number
/// of agents, not with 2^levels (before: each level held its child twice, in `results` and as
/// the `deliverable`: 56 MB at 15 levels here, 679 MiB in the issue's shape). An embedded
/// level's `deliverable` is its final answer, found down the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_results_grow_linearly_with_depth() {
    let (_sim, p) = setup().await;
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "{}performance:\n  execution:\n    max_ensemble_depth: 16\n",
            std::fs::read_to_string(p.root().join(".llm-orc/config.yaml")).expect("config")
        ),
    );
    chain(&p, "s", 5);
    chain(&p, "d", 15);
    let short = p.orc_async(&["invoke", "s0", "go"]).await;
    assert_eq!(short.code, 0, "{}", short.stderr);
    let deep = p.orc_async(&["invoke", "d0", "go"]).await;
    assert_eq!(deep.code, 0, "{}", deep.stderr);
    let (five, fifteen) = (artifact_bytes(&p, "s0"), artifact_bytes(&p, "d0"));
    eprintln!("nested chain: 5 levels {five} bytes, 15 levels {fifteen} bytes");
    assert!(
        fifteen < 5 * five,
        "15 levels {fifteen} bytes against 5 levels {five}: not linear"
    );
    let art = latest_artifact(&p, "d0");
    let level1: Value =
        serde_json::from_str(art["results"]["n"]["response"].as_str().unwrap_or(""))
            .expect("the nested response is the child's JSON");
    assert_eq!(
        level1["deliverable"], "answer-14",
        "{}",
        level1["deliverable"]
    );
    assert_eq!(
        level1["results"]["n"]["response"]["results"]["a"]["response"],
        "answer-2"
    );
    // The root keeps llm-orc's shape: the deliverable is the nested agent's response.
    assert_eq!(art["deliverable"], art["results"]["n"]["response"]);
}
