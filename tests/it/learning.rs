//! The learning loop (issue 15) through the real binary on the simulator, a real MCP client,
//! and the record store under concurrent and crashing writers.

use crate::common;

use std::path::{Path, PathBuf};

use common::{TestProject, native_config};
use orc::learn::records::{self, EvaluationRecord, Route, RoutingRecord, Score, Subject};
use orc::testkit::sim::{SimConfig, Simulator};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

/// An extraction ensemble whose answer is fixed, and a judge profile.
/// A project whose routing never vetoes on the break-even (`min_net_usd: -1`): these tests
/// follow the loop's mechanics on tiny tasks that would not pay (tests/delegation.rs checks the
/// break-even).
fn project(sim_url: &str) -> TestProject {
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "{}  judge:\n    model: qwen3:0.6b\n    provider: ollama\n    base_url: {sim_url}\nlearning:\n  min_net_usd: -1.0\n",
            native_config(sim_url)
        ),
    );
    p.ensemble(
        "extract-names",
        "name: extract-names\ndescription: Extract the names of people from a text\nagents:\n  - name: extractor\n    model_profile: tiny\n    system_prompt: \"[[fake:reply=Names: Ada, Bob]]\"\n",
    );
    p
}

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

fn evals_dir(p: &TestProject) -> PathBuf {
    p.root().join(".llm-orc/evaluations")
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(json_of)
        .collect()
}

const MEMO: &str = "Memo: Ada met Bob on Tuesday to plan the launch.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_invoke_judge_feedback_report_learn_rollback_export() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = project(&sim.url());

    // Route: an extraction task goes to the local ensemble made for it.
    let r = p
        .orc_async(&[
            "route",
            "Extract every person's name from this memo",
            "--format",
            "json",
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rec = json_of(&r.stdout);
    assert_eq!(rec["task_type"], "extraction");
    assert_eq!(rec["route"], "local");
    assert_eq!(rec["ensemble"], "extract-names");
    assert!(rec["reason"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(rec["evidence"]["task_type"]["runs"], 0);
    // Knowledge questions go to Claude; a type with no ensemble here gets a shape to build.
    let r = p
        .orc_async(&[
            "route",
            "Who was the first person to climb K2?",
            "--format",
            "json",
        ])
        .await;
    assert_eq!(json_of(&r.stdout)["route"], "claude");
    let r = p
        .orc_async(&[
            "route",
            "Classify these tickets as bug or feature",
            "--format",
            "json",
        ])
        .await;
    let nr = json_of(&r.stdout);
    assert_eq!(nr["route"], "new-ensemble", "{nr}");
    assert!(nr["tiers"].as_array().is_some_and(|t| !t.is_empty()));

    // Invoke logs a routing record with the seed's fields and returns its id.
    let r = p
        .orc_async(&[
            "invoke",
            "extract-names",
            MEMO,
            "--task-type",
            "extraction",
            "--task-summary",
            "names from the launch memo",
            "--output-format",
            "json",
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = json_of(&r.stdout);
    let local_id = out["routing_id"].as_str().expect("routing_id").to_string();
    let log = lines(&evals_dir(&p).join("routing-log.jsonl"));
    assert_eq!(log.len(), 1);
    let rr = &log[0];
    for key in [
        "id",
        "timestamp",
        "task_type",
        "task_summary",
        "ensemble_used",
        "model_tiers_used",
        "total_tokens_local",
        "estimated_claude_tokens",
        "tokens_saved",
        "duration_ms",
        "user_accepted",
        "route",
        "artifact",
        "estimate",
    ] {
        assert!(rr.get(key).is_some(), "routing record lacks {key}: {rr}");
    }
    assert_eq!(rr["id"], local_id.as_str());
    assert_eq!(rr["task_summary"], "names from the launch memo");
    assert_eq!(rr["user_accepted"], Value::Null);
    assert_eq!(rr["model_tiers_used"], json!(["micro"]));
    assert_eq!(
        rr["total_tokens_local"],
        out["metadata"]["usage"]["totals"]["total_tokens"]
    );
    assert!(
        rr["estimate"]["method"]
            .as_str()
            .is_some_and(|m| m.contains("estimate"))
    );
    assert!(
        p.root()
            .join(".llm-orc")
            .join(rr["artifact"].as_str().expect("artifact"))
            .is_file()
    );
    // A bad task type is refused before the run.
    let r = p
        .orc_async(&["invoke", "extract-names", "x", "--task-type", "../x"])
        .await;
    assert_eq!(r.code, 2, "{}", r.stderr);

    // Judge: the first use is always judged, with the rubric.
    let r = p
        .orc_async(&["eval", "should", &local_id, "--format", "json"])
        .await;
    let d = json_of(&r.stdout);
    assert_eq!(d["evaluate"], true);
    assert_eq!(d["rule"], "calibration");
    assert!(d["rubric"].as_str().is_some_and(|s| s.contains("VERDICT")));
    let r = p
        .orc_async(&[
            "eval",
            "record",
            &local_id,
            "--score",
            "poor",
            "--judge",
            "claude-sonnet-4",
            "--reasoning",
            "It missed the date.",
            "--failure-mode",
            "incomplete",
            "--judge-tokens",
            "400",
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = p
        .orc_async(&[
            "eval", "record", &local_id, "--score", "great", "--judge", "x",
        ])
        .await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("good, acceptable, poor"), "{}", r.stderr);
    let r = p
        .orc_async(&["eval", "feedback", &local_id, "--rejected"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = p
        .orc_async(&["eval", "feedback", "no-such-run", "--accepted"])
        .await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not found"), "{}", r.stderr);

    // Claude redoes the work; its answer is kept for export and judged good.
    p.write("claude.txt", "Names: Ada, Bob (met on Tuesday)");
    let r = p
        .orc_async(&[
            "record-claude-task",
            MEMO,
            "--task-type",
            "extraction",
            "--input-tokens",
            "1000",
            "--output-tokens",
            "200",
            "--output-file",
            "claude.txt",
            "--redoes",
            &local_id,
            "--format",
            "json",
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let claude_id = json_of(&r.stdout)["id"].as_str().expect("id").to_string();
    let r = p
        .orc_async(&[
            "eval",
            "record",
            &claude_id,
            "--score",
            "good",
            "--judge",
            "claude-sonnet-4",
            "--reasoning",
            "Complete.",
            "--judge-tokens",
            "400",
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);

    // The report: per ensemble and per task type, with PGR by hand:
    // r_weak = 0 (the local output was poor), r_strong = 1, r_router = mean of the delivered
    // outputs: Claude redid the local run, so only Claude's good answer was delivered = 1 ->
    // PGR = 1.0, from 2 judgments of one task judged on both sides.
    let r = p
        .orc_async(&["report", "learning", "--format", "json"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rep = json_of(&r.stdout);
    let ens = &rep["ensembles"][0];
    assert_eq!(ens["ensemble"], "extract-names");
    assert_eq!(ens["runs"], 1);
    assert_eq!(ens["quality"]["poor"], 1);
    assert_eq!(ens["rejected"], 1);
    assert_eq!(ens["acceptance_rate"], 0.0);
    let tt = rep["task_types"]
        .as_array()
        .and_then(|a| a.iter().find(|t| t["task_type"] == "extraction"))
        .expect("extraction row");
    assert_eq!(tt["pgr"], 1.0);
    assert_eq!(tt["pgr_n"], 2);
    assert_eq!(tt["pgr_pairs"], 1);
    assert_eq!(tt["claude_runs"], 1);
    // Claude-direct spend: 1000 in x $3/M + 200 out x $15/M = $0.006.
    assert!((tt["claude_direct_usd"].as_f64().unwrap_or(0.0) - 0.006).abs() < 1e-9);
    // Judge spend: 800 tokens, 75% at $3/M and 25% at $15/M = $0.0048.
    assert!((rep["totals"]["judge_usd"].as_f64().unwrap_or(0.0) - 0.0048).abs() < 1e-9);
    assert!(
        rep["estimate_note"]
            .as_str()
            .is_some_and(|n| n.contains("estimate"))
    );
    let r = p.orc_async(&["report", "learning"]).await;
    assert!(r.stdout.contains("Ensemble: extract-names"), "{}", r.stdout);
    assert!(r.stdout.contains("PGR: 1.00 (n=2"), "{}", r.stdout);
    assert!(r.stdout.contains("(estimate)"));

    // Learn twice (the second changes nothing, so it writes no version), then roll back to v1:
    // routing reads the current version only.
    let r = p.orc_async(&["learn", "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json_of(&r.stdout)["version"], 1);
    assert!(evals_dir(&p).join("task-profiles.yaml").is_file());
    assert!(evals_dir(&p).join("lora-candidates.yaml").is_file());
    let r = p.orc_async(&["learn", "--format", "json"]).await;
    let again = json_of(&r.stdout);
    assert_eq!(
        (again["version"].clone(), again["new_version"].clone()),
        (json!(1), json!(false))
    );
    let r = p.orc_async(&["learn"]).await;
    assert!(r.stdout.contains("no new version written"), "{}", r.stdout);
    let r = p
        .orc_async(&["routing", "history", "--format", "json"])
        .await;
    let h = json_of(&r.stdout);
    assert_eq!(h.as_array().map(Vec::len), Some(1));
    assert_eq!(h[0]["current"], true);
    let r = p.orc_async(&["routing", "rollback", "1"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let current = std::fs::read_to_string(evals_dir(&p).join("routing-config.yaml")).expect("read");
    assert!(current.contains("version: 1"), "{current}");
    let r = p.orc_async(&["routing", "rollback", "9"]).await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("versions: 1"), "{}", r.stderr);

    // Export: the DPO pair prefers Claude's redo over the poor local output; the prompt carries
    // the task's instruction (its summary and the ensemble's description) before the input.
    let r = p.orc_async(&["export", "dpo"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows: Vec<Value> = r.stdout.lines().map(json_of).collect();
    assert_eq!(rows.len(), 1, "{}", r.stdout);
    let prompt = rows[0]["prompt"].as_str().unwrap_or("");
    assert!(
        prompt.starts_with("names from the launch memo. Extract the names"),
        "{prompt}"
    );
    assert!(prompt.ends_with(&format!("\n\n{MEMO}")), "{prompt}");
    assert_eq!(rows[0]["chosen"], "Names: Ada, Bob (met on Tuesday)");
    assert_eq!(rows[0]["rejected"], "Names: Ada, Bob");
    let out = p.root().join("sft.jsonl");
    let r = p
        .orc_async(&["export", "sft", "-o", out.to_str().expect("path")])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sft = lines(&out);
    assert_eq!(sft.len(), 1);
    assert_eq!(sft[0]["messages"][0]["role"], "system");
    assert!(
        sft[0]["messages"][0]["content"]
            .as_str()
            .is_some_and(|c| c.starts_with("names from the launch memo")),
        "{}",
        sft[0]
    );
    assert_eq!(sft[0]["messages"][1]["role"], "user");
    assert_eq!(
        sft[0]["messages"][2]["content"],
        "Names: Ada, Bob (met on Tuesday)"
    );
    let r = p.orc_async(&["export", "judge"]).await;
    let judge: Vec<Value> = r.stdout.lines().map(json_of).collect();
    assert_eq!(judge.len(), 2);
    assert!(
        judge
            .iter()
            .all(|j| j["rubric"].as_str().is_some_and(|s| s.contains("good")))
    );
    assert!(
        judge
            .iter()
            .any(|j| j["score"] == "poor" && j["reasoning"] == "It missed the date.")
    );
}

/// A routing record of a local run of `ensemble`, written straight into the log.
fn local_record(id: &str, ensemble: &str) -> RoutingRecord {
    RoutingRecord {
        id: id.to_string(),
        timestamp: "2026-11-01T10:00:00.000+00:00".into(),
        task_type: "extraction".into(),
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

fn feedback_record(r: &RoutingRecord, accepted: bool) -> RoutingRecord {
    let mut f = r.clone();
    f.revision = 2;
    f.previous_accepted = None;
    f.user_accepted = Some(accepted);
    f
}

/// Ids the default 15% sample takes (`true`) or leaves.
fn sampled_id(prefix: &str, inside: bool) -> String {
    (0..10_000)
        .map(|i| format!("{prefix}-{i}"))
        .find(|id| (orc::learn::policy::sample_point(id, "orc") < 0.15) == inside)
        .expect("an id")
}

/// Writes `uses` runs of `ensemble` (the last with id `last`) and feedback on the first
/// `with_feedback`, the last `accepted` of those accepted.
fn history(
    log: &Path,
    ensemble: &str,
    uses: usize,
    last: &str,
    with_feedback: usize,
    accepted: usize,
) {
    let runs: Vec<RoutingRecord> = (0..uses)
        .map(|i| {
            let id = if i + 1 == uses {
                last.to_string()
            } else {
                format!("{ensemble}-{i}")
            };
            local_record(&id, ensemble)
        })
        .collect();
    for r in &runs {
        records::append(log, r).expect("append");
    }
    // The rejections come first, so the ensemble's latest feedback is an acceptance.
    for (i, r) in runs.iter().take(with_feedback).enumerate() {
        records::append(log, &feedback_record(r, i >= with_feedback - accepted)).expect("append");
    }
}

#[test]
fn sampling_policy_boundaries() {
    let p = TestProject::new();
    let log = evals_dir(&p).join("routing-log.jsonl");
    let should = |id: &str| {
        let r = p.orc(&["eval", "should", id, "--format", "json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        json_of(&r.stdout)
    };
    // The 5th use is calibration; the 6th is sampled (this id falls outside the sample).
    let fifth = sampled_id("fifth", false);
    history(&log, "five", 5, &fifth, 0, 0);
    let d = should(&fifth);
    assert_eq!(
        (d["evaluate"].clone(), d["rule"].clone()),
        (json!(true), json!("calibration"))
    );
    let sixth = sampled_id("sixth", false);
    history(&log, "six", 6, &sixth, 0, 0);
    let d = should(&sixth);
    assert_eq!(
        (d["evaluate"].clone(), d["rule"].clone()),
        (json!(false), json!("not-sampled"))
    );
    assert_eq!(d["use_number"], 6);

    // 20 uses, all accepted: not established (more than 20 are needed); sampled.
    let inside = sampled_id("twenty", true);
    history(&log, "twenty", 20, &inside, 20, 20);
    assert_eq!(should(&inside)["rule"], "sampled");
    // 21 uses, 16 of 20 accepted = 80%: not above 80%; sampled.
    let at80 = sampled_id("eighty", true);
    history(&log, "eighty", 21, &at80, 20, 16);
    let d = should(&at80);
    assert_eq!(
        (d["evaluate"].clone(), d["rule"].clone()),
        (json!(true), json!("sampled"))
    );
    // 21 uses, 17 of 21 accepted = 81%: established, never judged.
    let at81 = sampled_id("eightyone", true);
    history(&log, "eightyone", 21, &at81, 21, 17);
    let d = should(&at81);
    assert_eq!(
        (d["evaluate"].clone(), d["rule"].clone()),
        (json!(false), json!("established"))
    );

    // Negative feedback on a run of that established ensemble: always judged.
    let r = p.orc(&["eval", "feedback", &at81, "--rejected"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let d = should(&at81);
    assert_eq!(
        (d["evaluate"].clone(), d["rule"].clone()),
        (json!(true), json!("negative-feedback"))
    );
    // ... and the ensemble's next run too, until a run is accepted again.
    let next = sampled_id("next", false);
    records::append(&log, &local_record(&next, "eightyone")).expect("append");
    assert_eq!(should(&next)["rule"], "negative-feedback");
}

// ------------------------------------------------------------------ concurrent and crashing writers

const CHILD: &str = "ORC_TEST_APPEND_CHILD";

/// Runs only as a child of the two tests below: appends records to the log named in the
/// environment (`PATH|TAG|COUNT`; COUNT 0 = until killed).
#[test]
fn append_child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let mut parts = spec.split('|');
    let (Some(path), Some(tag), Some(count)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("bad {CHILD}");
    };
    let count: u64 = count.parse().expect("count");
    let big = "x".repeat(if count == 0 { 256 * 1024 } else { 0 });
    let mut i = 0u64;
    while count == 0 || i < count {
        let mut r = local_record(&format!("{tag}-{i}"), tag);
        if !big.is_empty() {
            r.task_input = Some(big.clone());
        }
        records::append(Path::new(path), &r).expect("append");
        i += 1;
    }
}

fn spawn_child(path: &Path, tag: &str, count: u64) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().expect("exe"))
        .args([
            "learning::append_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, format!("{}|{tag}|{count}", path.display()))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn")
}

#[test]
fn two_processes_append_5000_records_each_without_losing_or_tearing_a_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("routing-log.jsonl");
    let a = spawn_child(&log, "a", 5000);
    let b = spawn_child(&log, "b", 5000);
    for mut c in [a, b] {
        assert!(c.wait().expect("wait").success());
    }
    let text = std::fs::read_to_string(&log).expect("read");
    assert!(text.ends_with('\n'));
    let mut seen = std::collections::HashSet::new();
    for line in text.lines() {
        let r: RoutingRecord = serde_json::from_str(line).expect("a whole record per line");
        assert!(seen.insert(r.id));
    }
    assert_eq!(seen.len(), 10_000);
    for tag in ["a", "b"] {
        assert!((0..5000).all(|i| seen.contains(&format!("{tag}-{i}"))));
    }
}

#[test]
fn a_writer_killed_mid_append_leaves_every_earlier_record_readable() {
    let p = TestProject::new();
    let log = evals_dir(&p).join("routing-log.jsonl");
    let mut child = spawn_child(&log, "k", 0);
    // Let it write a while (records are 256 KiB, so a kill is likely to land mid-write).
    while std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0) < 24 << 20 {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the writer stopped"
        );
        std::thread::yield_now();
    }
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    let mut good = 0u64;
    let stats = records::scan::<RoutingRecord>(&log, |_| good += 1).expect("scan");
    assert!(stats.skipped <= 1, "{stats:?}");
    assert!(good >= 80, "{good}");
    // A new record after the crash is whole, and the report reads everything.
    let r = p.orc(&["record-claude-task", "after the crash", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = p.orc(&["report", "learning", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rep = json_of(&r.stdout);
    assert_eq!(rep["totals"]["runs"].as_u64(), Some(good + 1));
    assert_eq!(
        rep["skipped_lines"]["routing_log"].as_u64(),
        Some(stats.skipped)
    );
}

#[test]
fn a_torn_last_line_is_skipped_with_a_warning_and_the_next_record_is_whole() {
    let p = TestProject::new();
    let log = evals_dir(&p).join("routing-log.jsonl");
    records::append(&log, &local_record("before", "e")).expect("append");
    // What a crash mid-append leaves: half a record, no newline.
    let whole = serde_json::to_string(&local_record("torn", "e")).expect("json");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open");
    std::io::Write::write_all(&mut f, &whole.as_bytes()[..whole.len() / 2]).expect("write");
    drop(f);
    let r = p.orc(&["report", "learning", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("skipped 1 line"), "{}", r.stderr);
    assert_eq!(json_of(&r.stdout)["totals"]["runs"], 1);
    let r = p.orc(&["record-claude-task", "next", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = p.orc(&["report", "learning", "--format", "json"]);
    assert_eq!(json_of(&r.stdout)["totals"]["runs"], 2);
    let text = std::fs::read_to_string(&log).expect("read");
    assert_eq!(text.lines().count(), 3);
    assert!(text.lines().last().is_some_and(|l| l.contains("\"next\"")));
}

#[test]
fn a_line_longer_than_64_mib_is_skipped_with_a_warning_and_never_counted() {
    let p = TestProject::new();
    let log = evals_dir(&p).join("routing-log.jsonl");
    records::append(&log, &local_record("before", "e")).expect("append");
    // A well-formed record whose one line is over the cap: it is skipped, not parsed.
    let mut big = local_record("huge", "e");
    big.task_summary = Some("x".repeat(records::MAX_LINE + 1));
    records::append(&log, &big).expect("append");
    drop(big);
    records::append(&log, &local_record("after", "e")).expect("append");
    let r = p.orc(&["report", "learning", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("skipped 1 line"), "{}", r.stderr);
    let rep = json_of(&r.stdout);
    assert_eq!(rep["totals"]["runs"], 2, "{rep}");
    assert_eq!(rep["skipped_lines"]["routing_log"], 1, "{rep}");
}

#[test]
fn a_feedback_revision_leaves_the_task_input_out() {
    let p = TestProject::new();
    let log = evals_dir(&p).join("routing-log.jsonl");
    let mut rec = local_record("run-1", "e");
    rec.task_input = Some("the whole input ".repeat(1000));
    records::append(&log, &rec).expect("append");
    let r = p.orc(&["eval", "feedback", "run-1", "--rejected"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let all = lines(&log);
    assert_eq!(all.len(), 2);
    assert_eq!(all[1]["revision"], 2);
    assert_eq!(all[1]["user_accepted"], false);
    assert!(all[1].get("task_input").is_none(), "{}", all[1]);
    assert!(
        all[0]["task_input"]
            .as_str()
            .is_some_and(|s| s.len() == 16_000)
    );
}

#[test]
fn the_text_report_says_each_warning_once() {
    let p = TestProject::new();
    let log = evals_dir(&p).join("routing-log.jsonl");
    records::append(&log, &local_record("before", "e")).expect("append");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open");
    std::io::Write::write_all(&mut f, b"{\"id\": \"torn").expect("write");
    drop(f);
    let r = p.orc(&["report", "learning"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let said = format!("{}{}", r.stdout, r.stderr)
        .matches("skipped 1 line")
        .count();
    assert_eq!(said, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
}

// ------------------------------------------------------------------ MCP

use common::mcp::{ok, refused};

type Conn = RunningService<RoleClient, ()>;

async fn connect(p: &TestProject) -> Conn {
    ().serve(TokioChildProcess::new(common::mcp::serve_command(p)).expect("spawn"))
        .await
        .expect("initialize")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_through_a_real_mcp_client() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = project(&sim.url());
    let c = connect(&p).await;
    let tools: Vec<String> = c
        .list_all_tools()
        .await
        .expect("tools")
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    for t in [
        "route_task",
        "record_claude_task",
        "should_evaluate",
        "record_evaluation",
        "record_feedback",
        "learning_report",
        "learn_routing",
        "routing_history",
        "rollback_routing",
        "export_training_data",
        "judge_locally",
    ] {
        assert!(tools.iter().any(|n| n == t), "missing {t}");
    }
    let r = ok(
        &c,
        "route_task",
        json!({"task": "Extract the names in this memo"}),
    )
    .await;
    assert_eq!(
        (r["route"].clone(), r["ensemble"].clone()),
        (json!("local"), json!("extract-names"))
    );

    // The task carries the judge's answer for the simulator: a reply with a verdict line.
    let input = format!("{MEMO} [[fake:reply=Both names are there.\nVERDICT: good]]");
    let run = ok(
        &c,
        "invoke",
        json!({"ensemble_name": "extract-names", "input_data": input, "task_type": "extraction", "task_summary": "names"}),
    )
    .await;
    assert_eq!(run["status"], "success", "{run}");
    let id = run["routing_id"].as_str().expect("routing_id").to_string();
    let e = refused(
        &c,
        "invoke",
        json!({"ensemble_name": "extract-names", "input_data": "x", "task_type": "a/b"}),
    )
    .await;
    assert!(e.contains("not a task type"), "{e}");

    let d = ok(&c, "should_evaluate", json!({"routing_id": id})).await;
    assert_eq!(
        (d["evaluate"].clone(), d["rule"].clone()),
        (json!(true), json!("calibration"))
    );
    let e = refused(
        &c,
        "should_evaluate",
        json!({"routing_id": "../../etc/passwd"}),
    )
    .await;
    assert!(e.contains("not a routing id"), "{e}");
    let rec = ok(
        &c,
        "record_evaluation",
        json!({"routing_id": id, "score": "good", "judge": "claude-sonnet-4", "reasoning": "Right.", "judge_tokens_used": 300}),
    )
    .await;
    assert_eq!(rec["evaluation"]["subject"], "local");
    assert_eq!(rec["evaluation"]["delivered"], true);
    let f = ok(
        &c,
        "record_feedback",
        json!({"routing_id": id, "accepted": true}),
    )
    .await;
    assert_eq!(f["user_accepted"], true);
    let ct = ok(
        &c,
        "record_claude_task",
        json!({"task": "Explain the launch plan", "task_type": "reasoning", "input_tokens": 500, "output_tokens": 300}),
    )
    .await;
    assert_eq!(ct["route"], "claude");

    // A local judge, then its agreement with Claude in the report.
    let j = ok(
        &c,
        "judge_locally",
        json!({"routing_id": id, "profile": "judge"}),
    )
    .await;
    assert_eq!(j["evaluation"]["judge"], "judge");
    assert_eq!(j["evaluation"]["score"], "good");
    assert_eq!(j["evaluation"]["local_judge"], true);
    let rep = ok(&c, "learning_report", json!({})).await;
    assert!(
        rep["ensembles"].is_array() && rep["task_types"].is_array() && rep["totals"].is_object()
    );
    assert_eq!(rep["totals"]["runs"], 2);
    assert_eq!(rep["totals"]["accepted"], 1);
    assert_eq!(rep["local_judges"][0]["n"], 1);
    assert_eq!(rep["local_judges"][0]["agreement_rate"], 1.0);
    let html = ok(&c, "learning_report", json!({"format": "html"})).await;
    assert!(html["content"].as_str().is_some_and(|h| h.contains("<svg")));

    let l = ok(&c, "learn_routing", json!({})).await;
    assert_eq!(l["version"], 1);
    let l = ok(&c, "learn_routing", json!({})).await;
    assert_eq!(
        (l["version"].clone(), l["new_version"].clone()),
        (json!(1), json!(false))
    );
    let h = ok(&c, "routing_history", json!({})).await;
    assert_eq!(h["versions"].as_array().map(Vec::len), Some(1));
    let rb = ok(&c, "rollback_routing", json!({"version": 1})).await;
    assert_eq!(rb["version"], 1);
    refused(&c, "rollback_routing", json!({"version": 7})).await;

    let x = ok(&c, "export_training_data", json!({"kind": "sft"})).await;
    assert_eq!(x["rows"], 1);
    let file = PathBuf::from(x["file"].as_str().expect("file"));
    assert!(file.starts_with(p.root().join(".llm-orc/evaluations/exports")));
    assert_eq!(lines(&file).len(), 1);
    refused(&c, "export_training_data", json!({"kind": "../../x"})).await;
    c.cancel().await.expect("close");
}

// ------------------------------------------------------------------ the HTML report's charts

/// The `<svg>...</svg>` elements of `html`, each parsed as XML (an SVG a browser would not draw
/// fails here).
fn svgs(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<svg") {
        let end = rest[at..].find("</svg>").expect("a closed <svg>") + at + "</svg>".len();
        out.push(rest[at..end].to_string());
        rest = &rest[end..];
    }
    out
}

/// The numbers of a polyline's `points` (`x,y x,y ...`).
fn points(p: &roxmltree::Node) -> Vec<(f64, f64)> {
    p.attribute("points")
        .unwrap_or_default()
        .split_whitespace()
        .map(|xy| {
            let (x, y) = xy.split_once(',').expect("x,y");
            (x.parse().expect("x"), y.parse().expect("y"))
        })
        .collect()
}

/// The HTML report's three charts are well-formed SVG (parsed as XML), each titled, inside its
/// viewBox, with the savings and judge-spend series, the axis labels and the quality bars.
#[test]
fn the_html_report_draws_its_charts_as_well_formed_svg() {
    let p = TestProject::new();
    let log = evals_dir(&p).join("routing-log.jsonl");
    history(&log, "swarm", 6, "last", 6, 5);
    let ev = evals_dir(&p).join("evaluations.jsonl");
    for (i, score) in [Score::Good, Score::Acceptable, Score::Poor]
        .into_iter()
        .enumerate()
    {
        let r = local_record(&format!("swarm-{i}"), "swarm");
        records::append(&ev, &judgment(&r, Subject::Local, score, None)).expect("append");
    }
    let html = p.root().join("report.html");
    let r = p.orc(&[
        "report",
        "learning",
        "--format",
        "html",
        "-o",
        html.to_str().expect("path"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&html).expect("read");
    assert!(!text.contains("<script"), "no JavaScript");
    let charts = svgs(&text);
    assert_eq!(charts.len(), 3, "{text}");
    let mut titles = Vec::new();
    let mut classes = Vec::new();
    let mut labels = Vec::new();
    for chart in &charts {
        let doc = roxmltree::Document::parse(chart).unwrap_or_else(|e| panic!("{e}: {chart}"));
        let svg = doc.root_element();
        assert_eq!(svg.tag_name().name(), "svg");
        assert_eq!(
            svg.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        let view: Vec<f64> = svg
            .attribute("viewBox")
            .expect("viewBox")
            .split(' ')
            .map(|n| n.parse().expect("a number"))
            .collect();
        let (w, h) = (view[2], view[3]);
        let title = svg
            .children()
            .find(|n| n.has_tag_name("title"))
            .and_then(|t| t.text())
            .expect("a title");
        assert_eq!(svg.attribute("aria-label"), Some(title));
        titles.push(title.to_string());
        for n in svg.descendants().filter(|n| n.is_element()) {
            if let Some(c) = n.attribute("class") {
                classes.push(c.to_string());
            }
            if n.has_tag_name("polyline") {
                let pts = points(&n);
                assert!(!pts.is_empty(), "{chart}");
                for (x, y) in pts {
                    assert!(
                        (0.0..=w).contains(&x) && (0.0..=h).contains(&y),
                        "{x},{y} in {chart}"
                    );
                }
            }
            if n.has_tag_name("text") {
                labels.push(n.text().unwrap_or_default().to_string());
            }
        }
    }
    assert!(
        titles.iter().any(|t| t.starts_with("Savings over time")),
        "{titles:?}"
    );
    assert!(
        titles.iter().any(|t| t == "Quality per ensemble"),
        "{titles:?}"
    );
    for c in ["series-saved", "series-spend"] {
        assert!(classes.iter().any(|x| x == c), "no {c}: {classes:?}");
    }
    for c in ["bar-good", "bar-acceptable", "bar-poor"] {
        assert!(classes.iter().any(|x| x == c), "no {c}: {classes:?}");
    }
    for l in [
        "$0",
        "saved (estimate)",
        "judge spend",
        "good",
        "acceptable",
        "poor",
        "swarm",
    ] {
        assert!(labels.iter().any(|x| x == l), "no label {l:?}: {labels:?}");
    }
}

// ------------------------------------------------------------------ review fixes (F15)

/// A judgment of `r`'s output (local or Claude's), written straight into the log.
fn judgment(
    r: &RoutingRecord,
    subject: Subject,
    score: Score,
    failure: Option<&str>,
) -> EvaluationRecord {
    EvaluationRecord {
        id: orc::learn::new_id(),
        routing_id: r.id.clone(),
        judge: "claude-sonnet-4".into(),
        score,
        reasoning: Some("because".into()),
        failure_mode: failure.map(str::to_string),
        judge_tokens_used: 400,
        subject,
        timestamp: r.timestamp.clone(),
        task_type: r.task_type.clone(),
        ensemble_used: r
            .ensemble_used
            .clone()
            .filter(|_| subject == Subject::Local),
        delivered: (subject == Subject::Local) == r.route.is_local(),
        local_judge: false,
        example: None,
        free_checks: None,
    }
}

/// A routing record of work Claude did itself (redoing `redoes` when given).
fn claude_record(id: &str, redoes: Option<&str>) -> RoutingRecord {
    let mut r = local_record(id, "none");
    r.ensemble_used = None;
    r.route = Route::Claude;
    r.model_tiers_used = vec!["claude".into()];
    r.total_tokens_local = 0;
    r.estimated_claude_tokens = 0;
    r.tokens_saved = 0;
    r.models_used = Vec::new();
    r.status = None;
    r.claude_input_tokens = Some(300);
    r.claude_output_tokens = Some(200);
    r.redoes = redoes.map(str::to_string);
    r
}

fn report_json(p: &TestProject) -> Value {
    let r = p.orc(&["report", "learning", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    json_of(&r.stdout)
}

#[test]
fn token_counts_past_a_billion_are_refused_and_a_report_never_overflows() {
    let p = TestProject::new();
    let dir = evals_dir(&p);
    let r = p.orc(&[
        "record-claude-task",
        "Summarise the memo",
        "--input-tokens",
        "18446744073709551615",
        "--output-tokens",
        "1",
    ]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("input tokens"), "{}", r.stderr);
    assert!(lines(&dir.join("routing-log.jsonl")).is_empty());
    let run = local_record("run-1", "swarm");
    records::append(&dir.join("routing-log.jsonl"), &run).expect("append");
    let r = p.orc(&[
        "eval",
        "record",
        "run-1",
        "--score",
        "good",
        "--judge",
        "claude",
        "--judge-tokens",
        "1000000001",
    ]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("judge tokens"), "{}", r.stderr);
    assert!(lines(&dir.join("evaluations.jsonl")).is_empty());
    // A log written before the limit (or by hand) with absurd counts: readers apply the
    // writer's limit, so those lines are skipped as not records (before, they showed as 18
    // quintillion tokens and $221 trillion of judging).
    let mut big = local_record("run-2", "swarm");
    big.total_tokens_local = u64::MAX;
    big.estimated_claude_tokens = u64::MAX;
    big.tokens_saved = u64::MAX;
    records::append(&dir.join("routing-log.jsonl"), &big).expect("append");
    let mut c = claude_record("claude-1", None);
    c.claude_input_tokens = Some(u64::MAX);
    c.claude_output_tokens = Some(1);
    records::append(&dir.join("routing-log.jsonl"), &c).expect("append");
    let mut e = judgment(&big, Subject::Local, Score::Good, None);
    e.judge_tokens_used = u64::MAX;
    records::append(&dir.join("evaluations.jsonl"), &e).expect("append");
    records::append(&dir.join("evaluations.jsonl"), &e).expect("append");
    let rep = report_json(&p);
    assert_eq!(rep["totals"]["local_tokens"].as_u64(), Some(100), "{rep:#}");
    assert_eq!(rep["totals"]["claude_direct_tokens"].as_u64(), Some(0));
    assert_eq!(rep["totals"]["judge_tokens"].as_u64(), Some(0));
    assert_eq!(rep["skipped_lines"]["routing_log"], 2, "{rep:#}");
    assert_eq!(rep["skipped_lines"]["evaluations"], 2, "{rep:#}");
    let r = p.orc(&[
        "route",
        "Extract the names from this memo",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// The reviewer's dataset (README's sample): 9 local runs judged once each (7 good, 1
/// acceptable, 1 poor) and one Claude-direct task judged good, nothing redone. r_router is then
/// the union of both sides and the formula would give 1/10 whatever the scores: PGR is n/a,
/// with the reason. Once Claude redoes the poor run, PGR comes from the scores.
#[test]
fn pgr_is_na_without_a_task_judged_on_both_sides_and_comes_from_scores_with_a_redo() {
    let p = TestProject::new();
    let dir = evals_dir(&p);
    let (log, evals) = (dir.join("routing-log.jsonl"), dir.join("evaluations.jsonl"));
    let scores = [
        Score::Good,
        Score::Good,
        Score::Good,
        Score::Good,
        Score::Good,
        Score::Good,
        Score::Good,
        Score::Acceptable,
        Score::Poor,
    ];
    for (i, s) in scores.iter().enumerate() {
        let r = local_record(&format!("local-{i}"), "swarm");
        records::append(&log, &r).expect("append");
        records::append(&evals, &judgment(&r, Subject::Local, *s, None)).expect("append");
    }
    let direct = claude_record("direct", None);
    records::append(&log, &direct).expect("append");
    records::append(
        &evals,
        &judgment(&direct, Subject::Claude, Score::Good, None),
    )
    .expect("append");
    let rep = report_json(&p);
    let t = &rep["totals"];
    assert_eq!(t["pgr"], Value::Null, "{t}");
    assert!(
        t["pgr_reason"]
            .as_str()
            .is_some_and(|s| s.contains("no task judged on both sides")),
        "{t}"
    );
    assert_eq!(rep["task_types"][0]["pgr"], Value::Null);
    let r = p.orc(&["report", "learning"]);
    assert!(
        r.stdout.contains("PGR: n/a (no task judged on both sides"),
        "{}",
        r.stdout
    );

    // Claude redoes the poor run; its answer is judged good. The poor local output was not
    // delivered: r_weak = 7.5/9, r_strong = 2/2, r_router = (7 + 0.5 + 2)/10 = 0.95,
    // PGR = (0.95 - 5/6) / (1 - 5/6) = 0.7 (the share of Claude judgments would be 2/11).
    let redo = claude_record("redo", Some("local-8"));
    records::append(&log, &redo).expect("append");
    records::append(&evals, &judgment(&redo, Subject::Claude, Score::Good, None)).expect("append");
    let rep = report_json(&p);
    let t = &rep["totals"];
    let pgr = t["pgr"].as_f64().unwrap_or_else(|| panic!("{t}"));
    assert!((pgr - 0.7).abs() < 1e-9, "{t}");
    assert!((t["pgr_detail"]["r_router"].as_f64().expect("r") - 0.95).abs() < 1e-9);
    assert_eq!(t["pgr_detail"]["n_router"], 10);
    assert_eq!(t["pgr_pairs"], 1);
    assert!(t.get("pgr_reason").is_none_or(Value::is_null), "{t}");
}

#[test]
fn a_run_judged_many_times_counts_once() {
    let p = TestProject::new();
    let dir = evals_dir(&p);
    let (log, evals) = (dir.join("routing-log.jsonl"), dir.join("evaluations.jsonl"));
    let once = local_record("once", "swarm");
    records::append(&log, &once).expect("append");
    for _ in 0..40 {
        records::append(&evals, &judgment(&once, Subject::Local, Score::Good, None)).expect("a");
    }
    // The latest verdict counts: judged good 40 times, then poor.
    records::append(&evals, &judgment(&once, Subject::Local, Score::Poor, None)).expect("a");
    // One run judged poor three times with one failure mode is no LoRA candidate.
    let bad = local_record("bad", "swarm");
    records::append(&log, &bad).expect("append");
    for _ in 0..3 {
        records::append(
            &evals,
            &judgment(&bad, Subject::Local, Score::Poor, Some("hallucination")),
        )
        .expect("a");
    }
    let rep = report_json(&p);
    let q = &rep["totals"]["quality"];
    assert_eq!(
        (q["good"].clone(), q["poor"].clone()),
        (json!(0), json!(2)),
        "{q}"
    );
    // Judging spend counts every judgment.
    assert_eq!(rep["totals"]["evaluations"], 44);
    let r = p.orc(&["learn", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        json_of(&r.stdout)["lora_candidates"],
        json!([]),
        "{}",
        r.stdout
    );
    let profiles = std::fs::read_to_string(dir.join("task-profiles.yaml")).expect("profiles");
    assert!(profiles.contains("evaluations: 2"), "{profiles}");
}

#[test]
fn a_rollback_is_not_undone_by_the_next_evaluation() {
    let p = TestProject::new();
    let dir = evals_dir(&p);
    let (log, evals) = (dir.join("routing-log.jsonl"), dir.join("evaluations.jsonl"));
    let mut runs = Vec::new();
    for i in 0..41 {
        let r = local_record(&format!("r-{i}"), "swarm");
        records::append(&log, &r).expect("append");
        runs.push(r);
    }
    for r in &runs[..20] {
        records::append(&evals, &judgment(r, Subject::Local, Score::Good, None)).expect("a");
    }
    assert_eq!(p.orc(&["learn"]).code, 0);
    // The second batch changes the decision (poor verdicts), so it writes v2.
    for r in &runs[20..40] {
        records::append(&evals, &judgment(r, Subject::Local, Score::Poor, None)).expect("a");
    }
    assert_eq!(p.orc(&["learn"]).code, 0);
    let r = p.orc(&["routing", "rollback", "1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = p.orc(&[
        "eval", "record", "r-40", "--score", "good", "--judge", "claude", "--format", "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json_of(&r.stdout);
    assert!(v.get("learned").is_none_or(Value::is_null), "{v}");
    assert_eq!(v["evaluations_since_learn"], 1, "{v}");
    let r = p.orc(&["routing", "history", "--format", "json"]);
    let h = json_of(&r.stdout);
    assert_eq!(h.as_array().map(Vec::len), Some(2), "{h}");
    assert_eq!(h[0]["current"], true, "{h}");
}

#[test]
fn a_broken_routing_config_fails_neither_a_recorded_evaluation_nor_routing() {
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        "learning:\n  learn_every: 1\n  min_net_usd: -1.0\n",
    );
    let dir = evals_dir(&p);
    let run = local_record("run-1", "swarm");
    records::append(&dir.join("routing-log.jsonl"), &run).expect("append");
    std::fs::write(
        dir.join("routing-config.yaml"),
        "version: [not, a, number\n",
    )
    .expect("w");
    let r = p.orc(&[
        "eval", "record", "run-1", "--score", "good", "--judge", "claude", "--format", "json",
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = json_of(&r.stdout);
    assert!(
        v["learn_error"]
            .as_str()
            .is_some_and(|s| s.contains("routing-config.yaml")),
        "{v}"
    );
    assert_eq!(lines(&dir.join("evaluations.jsonl")).len(), 1);
    let r = p.orc(&[
        "route",
        "Extract the names from this memo",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("routing-config.yaml"), "{}", r.stderr);
    let v = json_of(&r.stdout);
    assert_eq!(v["decided_by"], "matrix", "{v}");
    assert!(
        v["warnings"][0]
            .as_str()
            .is_some_and(|s| s.contains("routing-config.yaml")),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mcp_tools_refuse_token_counts_past_a_billion() {
    let p = TestProject::new();
    let run = local_record("run-1", "swarm");
    records::append(&evals_dir(&p).join("routing-log.jsonl"), &run).expect("append");
    let c = connect(&p).await;
    let e = refused(
        &c,
        "record_claude_task",
        json!({"task": "t", "input_tokens": u64::MAX, "output_tokens": 1}),
    )
    .await;
    assert!(e.contains("input tokens"), "{e}");
    let e = refused(
        &c,
        "record_evaluation",
        json!({"routing_id": "run-1", "score": "good", "judge": "claude", "judge_tokens_used": 2_000_000_000u64}),
    )
    .await;
    assert!(e.contains("judge tokens"), "{e}");
    assert!(lines(&evals_dir(&p).join("evaluations.jsonl")).is_empty());
    c.cancel().await.expect("close");
}

/// A cloned repository can plant links in `.llm-orc/evaluations/` (review #14): no append,
/// Claude output, learned file or report ever goes through one.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learning_files_never_follow_symlinks_out_of_llm_orc() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = project(&sim.url());
    let outside = p.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    let victim = outside.join("victim.jsonl");
    std::fs::write(&victim, "precious\n").expect("write");
    let evals = evals_dir(&p);
    std::fs::create_dir_all(&evals).expect("mkdir");
    std::os::unix::fs::symlink(&victim, evals.join("routing-log.jsonl")).expect("link");

    // A run still delivers, but its record is not appended through the link.
    let r = p.orc_async(&["invoke", "extract-names", MEMO]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("symbolic link"), "{}", r.stderr);
    let r = p.orc_async(&["record-claude-task", "a task"]).await;
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains("symbolic link"), "{}", r.stderr);
    let r = p.orc_async(&["report", "learning"]).await;
    assert_ne!(r.code, 0);
    assert_eq!(
        std::fs::read_to_string(&victim).expect("read"),
        "precious\n"
    );

    // The whole evaluations/ folder linked out: nothing is written there either.
    std::fs::remove_dir_all(&evals).expect("rm");
    std::os::unix::fs::symlink(&outside, &evals).expect("link");
    let answer = p.dir.path().join("answer.txt");
    std::fs::write(&answer, "Ada, Bob").expect("write");
    let r = p
        .orc_async(&[
            "record-claude-task",
            "a task",
            "--output-file",
            answer.to_str().expect("utf-8"),
        ])
        .await;
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains("symbolic link"), "{}", r.stderr);
    let r = p.orc_async(&["learn"]).await;
    assert_ne!(r.code, 0, "{}", r.stdout);
    let mut left: Vec<String> = std::fs::read_dir(&outside)
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, vec!["victim.jsonl".to_string()]);
}

/// A failure mode names LoRA candidates and their shell steps (review #18): anything but a
/// plain name is refused at record time, and one already in the log never becomes a candidate.
#[test]
fn a_failure_mode_that_is_not_a_plain_name_is_refused_and_never_reaches_lora_candidates() {
    let p = TestProject::new();
    let evals = evals_dir(&p);
    let log = evals.join("routing-log.jsonl");
    let runs: Vec<RoutingRecord> = (0..7)
        .map(|i| local_record(&format!("run-{i}"), "e"))
        .collect();
    for r in &runs {
        records::append(&log, r).expect("append");
    }
    for bad in ["$(touch pwned)", "x; rm -rf ~", "a/b", &"x".repeat(41)] {
        let r = p.orc(&[
            "eval",
            "record",
            "run-0",
            "--score",
            "poor",
            "--judge",
            "claude",
            "--failure-mode",
            bad,
        ]);
        assert_eq!(r.code, 2, "{bad}: {}", r.stdout);
        assert!(r.stderr.contains("a-z, 0-9"), "{}", r.stderr);
    }
    assert!(
        !evals.join("evaluations.jsonl").exists(),
        "nothing recorded"
    );
    // Spelled loosely, a plain name is kept in its normal form.
    let r = p.orc(&[
        "eval",
        "record",
        "run-0",
        "--score",
        "poor",
        "--judge",
        "claude",
        "--failure-mode",
        "Wrong Format",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let recorded = lines(&evals.join("evaluations.jsonl"));
    assert_eq!(recorded[0]["failure_mode"], "wrong_format");
    // Lines written before the check (or by hand) with a shell word: no candidate from them.
    let evals_log = evals.join("evaluations.jsonl");
    for r in &runs[1..4] {
        records::append(
            &evals_log,
            &judgment(r, Subject::Local, Score::Poor, Some("$(touch pwned)")),
        )
        .expect("append");
    }
    for r in &runs[4..7] {
        records::append(
            &evals_log,
            &judgment(r, Subject::Local, Score::Poor, Some("incomplete")),
        )
        .expect("append");
    }
    let r = p.orc(&["learn"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lora = std::fs::read_to_string(evals.join("lora-candidates.yaml")).expect("lora");
    assert!(!lora.contains("pwned"), "{lora}");
    assert!(lora.contains("extraction-incomplete"), "{lora}");
}

/// Review #15: a failed local run saves nothing, and a local run Claude redid saved nothing
/// either (its output was not delivered): the report takes both out of the savings.
#[test]
fn failed_runs_and_runs_claude_redid_save_nothing() {
    let p = TestProject::new();
    let dir = evals_dir(&p);
    let log = dir.join("routing-log.jsonl");
    for id in ["ok-1", "ok-2", "redone-1"] {
        records::append(&log, &local_record(id, "swarm")).expect("append");
    }
    // A failed run as an older orc logged it (tokens_saved counted): the report ignores it.
    let mut failed = local_record("failed-1", "swarm");
    failed.status = Some("error".into());
    records::append(&log, &failed).expect("append");
    let before = report_json(&p);
    assert_eq!(before["totals"]["tokens_saved_estimate"], 150, "{before:#}");
    // Claude redoes one run through the CLI: the redo carries what that run was counted as
    // saving, and the report takes it back.
    let r = p.orc(&[
        "record-claude-task",
        "Extract the names",
        "--task-type",
        "extraction",
        "--input-tokens",
        "300",
        "--output-tokens",
        "200",
        "--redoes",
        "redone-1",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let redo = lines(&log).pop().expect("the redo's line");
    assert_eq!(redo["redone"]["tokens_saved"], 50, "{redo:#}");
    let after = report_json(&p);
    assert_eq!(after["totals"]["tokens_saved_estimate"], 100, "{after:#}");
    let swarm = after["ensembles"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["ensemble"] == "swarm"))
        .expect("the swarm's row");
    assert_eq!(swarm["tokens_saved_estimate"], 100);
    assert_eq!(swarm["runs"], 4, "runs still count every run");
}
