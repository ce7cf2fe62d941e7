//! Knowing quality without paying Claude for it (issue 22): the free checks before delivery
//! (retry, then escalation, through a real MCP client), tests run on code answers in a
//! temporary copy, a local judge whose verdicts count, paired comparisons for PGR, exports that
//! survive `cleanup_artifacts` and stream, and rollbacks that hold.

use crate::common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use common::TestProject;
use common::mcp::{ok, refused};
use orc::learn::records::{self, EvaluationRecord, Route, RoutingRecord, Score, Subject};
use orc::testkit::sim::{SimConfig, Simulator};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

type Conn = RunningService<RoleClient, ()>;

async fn connect(p: &TestProject) -> Conn {
    ().serve(TokioChildProcess::new(common::mcp::serve_command(p)).expect("spawn"))
        .await
        .expect("initialize")
}

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

fn evals(p: &TestProject) -> PathBuf {
    p.root().join(".llm-orc/evaluations")
}

fn log_lines(p: &TestProject) -> Vec<Value> {
    std::fs::read_to_string(evals(p).join("routing-log.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(json_of)
        .collect()
}

/// A project whose `tiny` and `judge` profiles reach the simulator, with `learning` settings.
fn project(sim_url: &str, learning: &str) -> TestProject {
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "{}  judge:\n    model: qwen3:0.6b\n    provider: ollama\n    base_url: {sim_url}\nlearning:\n{learning}",
            common::native_config(sim_url)
        ),
    );
    p
}

/// A one-agent ensemble whose answer is `reply` (the simulator's directive).
fn fixed(p: &TestProject, name: &str, description: &str, reply: &str) {
    let body = reply
        .lines()
        .map(|l| format!("      {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    p.ensemble(
        name,
        &format!(
            "name: {name}\ndescription: {description}\nagents:\n  - name: worker\n    model_profile: tiny\n    system_prompt: |\n      [[fake:reply={}\n      ]]\n",
            body.trim_start()
        ),
    );
}

fn requests_for(sim: &Simulator, marker: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.body.to_string().contains(marker))
        .count()
}

// ------------------------------------------------------------------ retry, then escalate

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_hard_check_retries_locally_then_escalates_through_a_real_mcp_client() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = project(&sim.url(), "  calibration_uses: 5\n");
    // Always a label outside the set; a flaky one that gets it right on the retry; a sampled
    // one whose answers disagree; one whose answers agree.
    p.ensemble("triage", "name: triage\ndescription: Classify a ticket\nagents:\n  - name: worker\n    model_profile: tiny\n    system_prompt: \"[[fake:reply=urgent]] triage\"\n");
    p.ensemble("triage-flaky", "name: triage-flaky\ndescription: Classify a ticket\nagents:\n  - name: worker\n    model_profile: tiny\n    system_prompt: \"[[fake:reply=cycle:urgent||bug]] flaky\"\n");
    p.ensemble("spam-vote", "name: spam-vote\ndescription: Spam or ham\nagents:\n  - name: worker\n    model_profile: tiny\n    system_prompt: \"[[fake:reply=cycle:spam||ham||spam]] vote\"\n");
    p.ensemble("spam-sure", "name: spam-sure\ndescription: Spam or ham\nagents:\n  - name: worker\n    model_profile: tiny\n    system_prompt: \"[[fake:reply=spam]] sure\"\n");
    let c = connect(&p).await;
    let labels = json!({"labels": ["bug", "feature", "question"]});

    // 1. Two local attempts fail the labels check: not delivered, escalated with the reason.
    let out = ok(
        &c,
        "invoke",
        json!({"ensemble_name": "triage", "input_data": "The app crashes on start.", "task_type": "classification", "expect": labels}),
    )
    .await;
    assert_eq!(out["delivered"], false, "{out}");
    assert_eq!(out["escalate"]["to"], "claude", "{out}");
    let why = out["escalate"]["why"].as_str().unwrap_or("");
    assert!(why.contains("labels") && why.contains("urgent"), "{why}");
    assert_eq!(out["escalate"]["attempts"], 2, "{out}");
    assert_eq!(out["quality"]["attempts"], 2);
    assert_eq!(out["quality"]["failure_mode"], "wrong_format");
    let id = out["routing_id"].as_str().expect("routing id").to_string();
    assert!(
        out["escalate"]["next"]
            .as_str()
            .is_some_and(|n| n.contains(&format!("redoes: \"{id}\""))),
        "{out}"
    );
    assert_eq!(requests_for(&sim, "] triage"), 2, "one retry, no more");
    let rec = log_lines(&p)
        .into_iter()
        .find(|r| r["id"] == id.as_str())
        .expect("record");
    assert_eq!(
        rec["tokens_saved"], 0,
        "an answer not delivered saved nothing: {rec}"
    );
    assert_eq!(rec["checks"]["delivered"], false);
    // No judgment for an answer the checks already failed.
    let d = ok(&c, "should_evaluate", json!({"routing_id": id})).await;
    assert_eq!(
        (d["evaluate"].clone(), d["rule"].clone()),
        (json!(false), json!("checks-failed")),
        "{d}"
    );

    // An async run's result says the same (run_result is what Claude reads then).
    let started = ok(
        &c,
        "invoke",
        json!({"ensemble_name": "triage", "input_data": "It fails.", "task_type": "classification", "expect": labels, "async": true}),
    )
    .await;
    let run_id = started["run_id"].as_str().expect("run id").to_string();
    let mut done = Value::Null;
    for _ in 0..2000 {
        let st = ok(&c, "run_status", json!({"run_id": run_id})).await;
        if st["done"] == true {
            done = ok(&c, "run_result", json!({"run_id": run_id})).await;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(done["delivered"], false, "{done}");
    assert_eq!(done["escalate"]["to"], "claude", "{done}");

    // The labels can come from the instruction instead.
    let out = ok(
        &c,
        "invoke",
        json!({"ensemble_name": "triage", "input_data": "It crashes.", "task_type": "classification", "instruction": "Classify the ticket as one of: bug, feature, question."}),
    )
    .await;
    assert_eq!(out["delivered"], false, "{out}");

    // 2. The retry gets it right: delivered, after two attempts.
    let out = ok(
        &c,
        "invoke",
        json!({"ensemble_name": "triage-flaky", "input_data": "Add dark mode.", "task_type": "classification", "expect": labels}),
    )
    .await;
    assert_eq!(out["delivered"], true, "{out}");
    assert_eq!(out["deliverable"], "bug");
    assert_eq!(out["quality"]["attempts"], 2);
    assert!(out["escalate"].is_null());

    // 3. Three samples that disagree want a judge; three that agree are strong evidence.
    let spam = json!({"labels": ["spam", "ham"], "samples": 3});
    let out = ok(
        &c,
        "invoke",
        json!({"ensemble_name": "spam-vote", "input_data": "WIN A PRIZE", "task_type": "classification", "expect": spam}),
    )
    .await;
    assert_eq!(
        (out["delivered"].clone(), out["quality"]["verdict"].clone()),
        (json!(true), json!("doubt")),
        "{out}"
    );
    assert_eq!(out["quality"]["samples"], 3);
    let d = ok(
        &c,
        "should_evaluate",
        json!({"routing_id": out["routing_id"]}),
    )
    .await;
    assert_eq!(
        (d["evaluate"].clone(), d["rule"].clone()),
        (json!(true), json!("checks-doubt")),
        "{d}"
    );
    let out = ok(
        &c,
        "invoke",
        json!({"ensemble_name": "spam-sure", "input_data": "WIN A PRIZE", "task_type": "classification", "expect": spam}),
    )
    .await;
    assert_eq!(out["quality"]["strong"], true, "{out}");
    let d = ok(
        &c,
        "should_evaluate",
        json!({"routing_id": out["routing_id"]}),
    )
    .await;
    assert_eq!(
        (d["evaluate"].clone(), d["rule"].clone()),
        (json!(false), json!("checks-strong")),
        "{d}"
    );

    // A schema that cannot be checked is refused before anything runs.
    let e = refused(
        &c,
        "invoke",
        json!({"ensemble_name": "triage", "input_data": "x", "expect": {"schema": {"$ref": "file:///etc/passwd"}}}),
    )
    .await;
    assert!(e.contains("schema"), "{e}");

    // The report shows the checks (the async run is the sixth, its two attempts failed).
    let rep = ok(&c, "learning_report", json!({})).await;
    let fc = &rep["totals"]["free_checks"];
    assert_eq!(fc["checked_runs"], 6, "{fc}");
    assert_eq!(fc["failed"], 3, "{fc}");
    assert_eq!(fc["retried"], 4, "{fc}");
    assert_eq!(fc["strong"], 1, "{fc}");
    assert_eq!(fc["by_check"]["labels"]["fail"], 3, "{fc}");
    c.cancel().await.expect("close");
}

// ------------------------------------------------------------------ tests on code answers

const TEST_SH: &str = ". ./lib.sh\nif [ \"$(add 2 3)\" != 5 ]; then echo \"add 2 3 gave $(add 2 3), not 5\"; exit 1; fi\necho ok\n";
const LIB_SH: &str = "add() ( echo 0 )\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_task_whose_tests_fail_is_not_delivered() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = project(&sim.url(), "  checks:\n    test_command: sh test.sh\n");
    p.write("test.sh", TEST_SH);
    p.write("lib.sh", LIB_SH);
    fixed(
        &p,
        "coder-wrong",
        "Write shell functions",
        "```sh path=lib.sh\nadd() ( echo $(( $1 - $2 )) )\n```",
    );
    fixed(
        &p,
        "coder-right",
        "Write shell functions",
        "```sh path=lib.sh\nadd() ( echo $(( $1 + $2 )) )\n```",
    );

    let r = p
        .orc_async(&[
            "invoke",
            "coder-wrong",
            "Write add in lib.sh",
            "--task-type",
            "code-generation",
            "--output-format",
            "json",
        ])
        .await;
    assert_eq!(r.code, 3, "not delivered exits 3: {}", r.stderr);
    assert!(r.stderr.contains("NOT DELIVERED"), "{}", r.stderr);
    let out = json_of(&r.stdout);
    let q = &out["quality"];
    assert_eq!(q["delivered"], false, "{q}");
    let tests = q["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["check"] == "tests"))
        .expect("the tests ran");
    assert_eq!(tests["outcome"], "fail", "{tests}");
    assert!(
        tests["detail"]
            .as_str()
            .is_some_and(|d| d.contains("add 2 3 gave -1, not 5")),
        "{tests}"
    );
    // The tests ran in a copy: the project's own file is untouched.
    assert_eq!(
        std::fs::read_to_string(p.root().join("lib.sh")).expect("lib"),
        LIB_SH
    );

    let r = p
        .orc_async(&[
            "invoke",
            "coder-right",
            "Write add in lib.sh",
            "--task-type",
            "code-generation",
            "--output-format",
            "json",
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = json_of(&r.stdout);
    assert_eq!(out["quality"]["delivered"], true);
    assert_eq!(
        out["quality"]["strong"], true,
        "tests that pass are strong evidence: {out}"
    );
    let id = out["routing_id"].as_str().expect("id");
    let r = p
        .orc_async(&["eval", "should", id, "--format", "json"])
        .await;
    let d = json_of(&r.stdout);
    assert_eq!(
        (d["evaluate"].clone(), d["rule"].clone()),
        (json!(false), json!("checks-strong")),
        "{d}"
    );
    assert_eq!(
        std::fs::read_to_string(p.root().join("lib.sh")).expect("lib"),
        LIB_SH
    );
}

// ------------------------------------------------------------------ the local judge counts

/// A local run of `ensemble` for `task_type`, written straight into the log.
fn local_record(id: &str, ensemble: &str, task_type: &str) -> RoutingRecord {
    RoutingRecord {
        id: id.to_string(),
        timestamp: "2026-11-01T10:00:00.000+00:00".into(),
        task_type: task_type.into(),
        task_summary: Some("a task".into()),
        ensemble_used: Some(ensemble.into()),
        model_tiers_used: vec!["micro".into()],
        total_tokens_local: 100,
        estimated_claude_tokens: 50,
        tokens_saved: 50,
        duration_ms: 10,
        user_accepted: None,
        route: Route::Local,
        artifact: None,
        estimate: None,
        claude_input_tokens: None,
        claude_output_tokens: None,
        models_used: vec!["qwen3:0.6b".into()],
        status: Some("success".into()),
        task_input: None,
        redoes: None,
        redone: None,
        revision: 1,
        previous_accepted: None,
        instruction: None,
        checks: None,
        paired_with: None,
        handover: None,
    }
}

fn verdict(
    r: &RoutingRecord,
    judge: &str,
    score: Score,
    failure: Option<&str>,
) -> EvaluationRecord {
    EvaluationRecord {
        id: orc::learn::new_id(),
        routing_id: r.id.clone(),
        judge: judge.into(),
        score,
        reasoning: Some("because".into()),
        failure_mode: failure.map(str::to_string),
        judge_tokens_used: if judge == "claude" { 400 } else { 0 },
        subject: Subject::Local,
        timestamp: r.timestamp.clone(),
        task_type: r.task_type.clone(),
        ensemble_used: r.ensemble_used.clone(),
        delivered: true,
        local_judge: judge != "claude",
        example: None,
        free_checks: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_judges_verdicts_move_quality_and_make_a_lora_candidate() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = project(
        &sim.url(),
        "  local_judge:\n    profile: judge\n    min_pairs: 4\n",
    );
    // The local judge reads the task's instruction.
    fixed(&p, "diff-review", "Review a diff", "Looks fine.");
    let r = p
        .orc_async(&[
            "invoke",
            "diff-review",
            "--input=--- a/x\n+++ b/x\n[[fake:reply=It missed the bug.\nFAILURE: incomplete\nVERDICT: poor]]",
            "--task-type",
            "code-review",
            "--instruction",
            "Review this diff for off-by-one bugs",
            "--output-format",
            "json",
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let id = json_of(&r.stdout)["routing_id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = p
        .orc_async(&[
            "eval",
            "judge",
            &id,
            "--profile",
            "judge",
            "--format",
            "json",
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json_of(&r.stdout)["evaluation"]["score"], "poor");
    let judge_prompt = sim
        .requests()
        .last()
        .map(|r| r.body.to_string())
        .unwrap_or_default();
    assert!(
        judge_prompt.contains("INSTRUCTION:\\nReview this diff for off-by-one bugs"),
        "{judge_prompt}"
    );

    // Four outputs judged by both Claude and the local judge, alike: kappa 1 on 4 pairs, so its
    // verdicts weigh 1. Three more only the local judge saw, poor and incomplete.
    let dir = evals(&p);
    let (log, ev) = (dir.join("routing-log.jsonl"), dir.join("evaluations.jsonl"));
    let runs: Vec<RoutingRecord> = (0..7)
        .map(|i| local_record(&format!("rv-{i}"), "review-swarm", "code-review"))
        .collect();
    for r in &runs {
        records::append(&log, r).expect("append");
    }
    for (r, s) in runs[..4]
        .iter()
        .zip([Score::Good, Score::Poor, Score::Good, Score::Poor])
    {
        records::append(&ev, &verdict(r, "claude", s, None)).expect("a");
        records::append(&ev, &verdict(r, "judge", s, None)).expect("a");
    }
    let rep = json_of(
        &p.orc_async(&["report", "learning", "--format", "json"])
            .await
            .stdout,
    );
    let before = rep["ensembles"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["ensemble"] == "review-swarm"))
        .expect("row")["quality"]
        .clone();
    assert_eq!(
        (before["good"].clone(), before["poor"].clone()),
        (json!(2), json!(2)),
        "{before}"
    );
    for r in &runs[4..] {
        records::append(&ev, &verdict(r, "judge", Score::Poor, Some("incomplete"))).expect("a");
    }
    let rep = json_of(
        &p.orc_async(&["report", "learning", "--format", "json"])
            .await
            .stdout,
    );
    let q = rep["ensembles"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["ensemble"] == "review-swarm"))
        .expect("row")["quality"]
        .clone();
    assert_eq!(
        (
            q["good"].clone(),
            q["poor"].clone(),
            q["by_local_judge"].clone()
        ),
        (json!(2), json!(5), json!(3)),
        "{q}"
    );
    assert!(
        (q["mean_score"].as_f64().unwrap_or(1.0) - 2.0 / 7.0).abs() < 1e-9,
        "{q}"
    );
    assert_eq!(rep["local_judges"][0]["kappa"], 1.0, "{rep}");
    // Learning counts them: a LoRA candidate from the local judge's verdicts alone (Claude's poor
    // verdicts named no failure mode), and the route goes to Claude.
    let r = p.orc_async(&["learn", "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let l = json_of(&r.stdout);
    assert!(
        l["lora_candidates"]
            .as_array()
            .is_some_and(|c| c.iter().any(|x| x == "code-review / incomplete")),
        "{l}"
    );
    assert_eq!(l["routes"]["code-review"]["route"], "claude", "{l}");
    let lora = std::fs::read_to_string(dir.join("lora-candidates.yaml")).expect("lora");
    assert!(
        lora.contains("orc export sft --task-type code-review"),
        "{lora}"
    );
}

// ------------------------------------------------------------------ paired PGR

const MEMO: &str = "Memo: Ada met Bob on Tuesday to plan the launch.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paired_comparisons_give_pgr_with_n_and_an_interval() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = project(&sim.url(), "  pair_rate: 1.0\n");
    fixed(
        &p,
        "extract-names",
        "Extract the names of people from a text",
        "Names: Ada, Bob",
    );
    let c = connect(&p).await;
    for (i, local) in ["good", "poor", "acceptable", "poor"].iter().enumerate() {
        let run = ok(
            &c,
            "invoke",
            json!({"ensemble_name": "extract-names", "input_data": format!("{MEMO} ({i})"), "task_type": "extraction"}),
        )
        .await;
        assert_eq!(run["delivered"], true, "{run}");
        let id = run["routing_id"].as_str().expect("id").to_string();
        let d = ok(&c, "should_evaluate", json!({"routing_id": id})).await;
        assert_eq!(
            (d["rule"].clone(), d["paired"].clone()),
            (json!("calibration"), json!(true)),
            "{d}"
        );
        assert!(
            d["pair_steps"]
                .as_str()
                .is_some_and(|s| s.contains("paired_with")),
            "{d}"
        );
        let pair = ok(
            &c,
            "record_claude_task",
            json!({"task": "Extract the names", "task_type": "extraction", "input_tokens": 400, "output_tokens": 100, "output": "Names: Ada, Bob", "paired_with": id}),
        )
        .await;
        let pid = pair["id"].as_str().expect("id").to_string();
        let d = ok(&c, "should_evaluate", json!({"routing_id": pid})).await;
        assert_eq!(
            (d["evaluate"].clone(), d["rule"].clone()),
            (json!(true), json!("paired")),
            "{d}"
        );
        for (rid, score) in [(&id, *local), (&pid, "good")] {
            ok(
                &c,
                "record_evaluation",
                json!({"routing_id": rid, "score": score, "judge": "claude-sonnet-4", "reasoning": "r", "judge_tokens_used": 100}),
            )
            .await;
        }
    }
    // One task Claude did itself (delivered, judged good).
    let own = ok(
        &c,
        "record_claude_task",
        json!({"task": "Explain the launch plan", "task_type": "extraction", "input_tokens": 500, "output_tokens": 300}),
    )
    .await;
    ok(
        &c,
        "record_evaluation",
        json!({"routing_id": own["id"], "score": "good", "judge": "claude-sonnet-4", "reasoning": "r", "judge_tokens_used": 100}),
    )
    .await;
    let e = refused(
        &c,
        "record_claude_task",
        json!({"task": "x", "paired_with": own["id"]}),
    )
    .await;
    assert!(e.contains("paired comparison"), "{e}");

    let rep = ok(&c, "learning_report", json!({})).await;
    let t = &rep["totals"];
    // weak (1 + 0 + 0.5 + 0) / 4 = 0.375; strong 1; router: the four local answers and Claude's
    // own (1.5 + 1) / 5 = 0.5; PGR = (0.5 - 0.375) / (1 - 0.375) = 0.2.
    assert_eq!(t["pgr_pairs"], 4, "{t}");
    assert_eq!(t["pgr_n"], 9, "{t}");
    let pgr = t["pgr"].as_f64().expect("pgr");
    assert!((pgr - 0.2).abs() < 1e-9, "{pgr}");
    let ci = t["pgr_ci"].as_array().expect("an interval");
    let (lo, hi) = (
        ci[0].as_f64().unwrap_or(9.0),
        ci[1].as_f64().unwrap_or(-9.0),
    );
    assert!(lo <= pgr && pgr <= hi && lo < hi, "{lo} {pgr} {hi}");
    // Claude's paired answers are evaluation spend, not Claude-direct runs.
    assert_eq!(t["claude_runs"], 1, "{t}");
    assert_eq!(t["money"]["paired_answers"], 4, "{t}");
    // 4 x (400 x $3/M + 100 x $15/M) = $0.0108.
    assert!(
        (t["money"]["pairing_usd"].as_f64().unwrap_or(0.0) - 0.0108).abs() < 1e-9,
        "{t}"
    );
    let text = ok(&c, "learning_report", json!({"format": "text"})).await;
    let text = text["content"].as_str().unwrap_or("");
    assert!(text.contains("95% CI"), "{text}");
    // Judging and pairing cost more than four tiny extractions saved: said plainly.
    assert!(text.contains("this history lost money"), "{text}");
    c.cancel().await.expect("close");
}

// ------------------------------------------------------------------ exports that stand alone

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_are_the_same_after_cleanup_artifacts() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = project(&sim.url(), "");
    fixed(
        &p,
        "extract-names",
        "Extract the names of people from a text",
        "Names: Ada, Bob",
    );
    let c = connect(&p).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let run = ok(
            &c,
            "invoke",
            json!({"ensemble_name": "extract-names", "input_data": format!("{MEMO} #{i}"), "task_type": "extraction", "instruction": "List the people named in the memo"}),
        )
        .await;
        ids.push(run["routing_id"].as_str().expect("id").to_string());
    }
    let judge = |id: &str, score: &str| json!({"routing_id": id, "score": score, "judge": "claude-sonnet-4", "reasoning": "why", "failure_mode": if score == "poor" {"incomplete"} else {""}, "judge_tokens_used": 100});
    ok(&c, "record_evaluation", judge(&ids[0], "good")).await;
    ok(&c, "record_evaluation", judge(&ids[1], "poor")).await;
    ok(
        &c,
        "record_feedback",
        json!({"routing_id": ids[2], "accepted": false}),
    )
    .await;
    for bad in &ids[1..] {
        let redo = ok(
            &c,
            "record_claude_task",
            json!({"task": "List the people named in the memo", "input_tokens": 10, "output_tokens": 10, "output": "Ada; Bob", "redoes": bad}),
        )
        .await;
        ok(
            &c,
            "record_evaluation",
            judge(redo["id"].as_str().expect("id"), "good"),
        )
        .await;
    }
    let export = |kind: &str| {
        let out = p.orc(&["export", kind]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout
    };
    let before: Vec<String> = ["sft", "dpo", "judge"].iter().map(|k| export(k)).collect();
    let counts: Vec<usize> = before.iter().map(|s| s.lines().count()).collect();
    assert_eq!(counts, vec![3, 2, 4], "{before:?}");
    // Every row carries the instruction.
    let sft: Value = json_of(before[0].lines().next().expect("row"));
    assert_eq!(
        sft["messages"][0]["content"],
        "List the people named in the memo"
    );
    let judge_row: Value = json_of(before[2].lines().next().expect("row"));
    assert_eq!(
        judge_row["instruction"],
        "List the people named in the memo"
    );
    assert!(
        before[2].contains("\"failure_mode\":\"incomplete\""),
        "{}",
        before[2]
    );
    // Filters: by task type, ensemble and judge.
    let r = p.orc(&["export", "judge", "--ensemble", "extract-names"]);
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
    let r = p.orc(&["export", "sft", "--task-type", "classification"]);
    assert_eq!(r.stdout.lines().count(), 0, "{}", r.stdout);
    let r = p.orc(&["export", "judge", "--judge", "someone-else"]);
    assert_eq!(r.stdout.lines().count(), 0, "{}", r.stdout);

    let gone = ok(
        &c,
        "cleanup_artifacts",
        json!({"older_than_days": 0, "dry_run": false}),
    )
    .await;
    assert!(
        !p.root()
            .join(".llm-orc/artifacts/extract-names")
            .read_dir()
            .is_ok_and(|mut d| d.any(|e| e.is_ok_and(|e| e.file_name() != "latest"))),
        "{gone}"
    );
    let after: Vec<String> = ["sft", "dpo", "judge"].iter().map(|k| export(k)).collect();
    assert_eq!(before, after, "exports shrank after cleanup_artifacts");
    let x = ok(
        &c,
        "export_training_data",
        json!({"kind": "dpo", "task_type": "extraction"}),
    )
    .await;
    assert_eq!(x["rows"], 2, "{x}");
    c.cancel().await.expect("close");
}

// ------------------------------------------------------------------ rollback pins

fn eval_cli(p: &TestProject, id: &str, score: &str) -> Value {
    let r = p.orc(&[
        "eval", "record", id, "--score", score, "--judge", "claude", "--format", "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    json_of(&r.stdout)
}

#[test]
fn a_rollback_survives_the_next_automatic_batch_until_new_evidence_arrives() {
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        "learning:\n  learn_every: 3\n  min_evidence: 3\n",
    );
    let log = evals(&p).join("routing-log.jsonl");
    for i in 0..9 {
        records::append(
            &log,
            &local_record(&format!("e-{i}"), "swarm", "extraction"),
        )
        .expect("a");
    }
    for i in 0..3 {
        records::append(
            &log,
            &local_record(&format!("c-{i}"), "cls", "classification"),
        )
        .expect("a");
    }
    let route = |v: &Value, tt: &str| v["learned"]["routes"][tt]["route"].clone();
    for i in 0..2 {
        eval_cli(&p, &format!("e-{i}"), "good");
    }
    let v1 = eval_cli(&p, "e-2", "good");
    assert_eq!(
        (v1["learned"]["version"].clone(), route(&v1, "extraction")),
        (json!(1), json!("local")),
        "{v1}"
    );
    for i in 3..5 {
        eval_cli(&p, &format!("e-{i}"), "poor");
    }
    let v2 = eval_cli(&p, "e-5", "poor");
    assert_eq!(
        (v2["learned"]["version"].clone(), route(&v2, "extraction")),
        (json!(2), json!("claude")),
        "{v2}"
    );
    let r = p.orc(&["routing", "rollback", "1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let current = std::fs::read_to_string(evals(&p).join("routing-config.yaml")).expect("read");
    assert!(
        current.contains("pinned:") && current.contains("extraction: 6"),
        "{current}"
    );

    // The next automatic batch (three classification evaluations) keeps extraction where the
    // rollback put it: its old evidence is not read again.
    eval_cli(&p, "c-0", "good");
    eval_cli(&p, "c-1", "good");
    let v3 = eval_cli(&p, "c-2", "good");
    assert_eq!(v3["learned"]["version"], 3, "{v3}");
    assert_eq!(
        route(&v3, "extraction"),
        "local",
        "the rolled-back rule came back: {v3}"
    );
    assert_eq!(route(&v3, "classification"), "local", "{v3}");
    assert_eq!(v3["learned"]["pinned"], json!(["extraction"]), "{v3}");
    // New evidence after the rollback can change it.
    eval_cli(&p, "e-6", "poor");
    eval_cli(&p, "e-7", "poor");
    let v4 = eval_cli(&p, "e-8", "poor");
    assert_eq!(
        (v4["learned"]["version"].clone(), route(&v4, "extraction")),
        (json!(4), json!("claude")),
        "{v4}"
    );
    // `learn` without a change writes no version; --unpin reads every evaluation again.
    let r = p.orc(&["learn", "--format", "json"]);
    let l = json_of(&r.stdout);
    assert_eq!(
        (l["version"].clone(), l["new_version"].clone()),
        (json!(4), json!(false)),
        "{l}"
    );
    let r = p.orc(&["learn", "--unpin", "--format", "json"]);
    let l = json_of(&r.stdout);
    assert!(l["pinned"].is_null(), "{l}");
    let h = json_of(&p.orc(&["routing", "history", "--format", "json"]).stdout);
    assert_eq!(h.as_array().map(Vec::len), Some(4), "{h}");
}

// ------------------------------------------------------------------ export memory

/// Runs `orc ARGS`, reading its peak resident memory (VmHWM) from /proc while it runs.
fn peak_kib_of(p: &TestProject, args: &[&str]) -> (i32, u64, String) {
    let mut child = p
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn orc");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let started = Instant::now();
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kib);
        }
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(started.elapsed().as_secs() < 300, "export did not finish");
        // A reading interval for the measurement, not a wait for anything.
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    (
        status.code().unwrap_or(-1),
        peak,
        reader.join().unwrap_or_default(),
    )
}

#[test]
fn export_memory_stays_bounded_on_a_large_history() {
    if !Path::new("/proc/self/status").exists() {
        common::missing_prerequisite("/proc is not mounted");
        return;
    }
    let p = TestProject::new();
    let dir = evals(&p);
    let (log, ev) = (dir.join("routing-log.jsonl"), dir.join("evaluations.jsonl"));
    // 48 judged runs, each with a 2 MiB answer: a 96 MiB export.
    let answer = "word ".repeat((2 << 20) / 5 + 1);
    for i in 0..48 {
        let id = format!("big-{i:02}");
        let rel = format!("artifacts/big/{id}/execution.json");
        let doc = json!({"input": {"data": format!("input {i}")}, "deliverable": &answer});
        p.write(&format!(".llm-orc/{rel}"), &doc.to_string());
        let mut r = local_record(&id, "big", "summarization");
        r.artifact = Some(rel);
        records::append(&log, &r).expect("a");
        records::append(&ev, &verdict(&r, "claude", Score::Good, None)).expect("a");
    }
    let out = p.root().join("sft.jsonl");
    let (code, peak_kib, stderr) =
        peak_kib_of(&p, &["export", "sft", "-o", out.to_str().expect("path")]);
    assert_eq!(code, 0, "{stderr}");
    let size = std::fs::metadata(&out).expect("export").len();
    assert!(size > 96 << 20, "{size}");
    assert_eq!(
        std::fs::read_to_string(&out).expect("read").lines().count(),
        48
    );
    // Streamed: the peak stays a fraction of the file (it held the whole file before).
    assert!(
        peak_kib < 48 << 10,
        "peak {} MiB for a {} MiB export",
        peak_kib >> 10,
        size >> 20
    );
}
