//! Routing (issue 22): the labelled routing set through a real MCP client with its accuracy
//! floors, look-alike ensembles, demotion by task type, the limits around a learned rule, the
//! delegation knob and the measured input, all through the real binary.

use crate::common;

use std::fs;
use std::path::Path;

use common::mcp::{ok, refused};
use common::{TestProject, native_config};
use orc::testkit::sim::{SimConfig, Simulator};
use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/routing");

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read fixture dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// The routing set's project (look-alike ensembles, a library tier, long documents).
fn routing_project() -> TestProject {
    let p = TestProject::new();
    copy_dir(&Path::new(FIXTURES).join("project"), &p.root());
    p
}

fn text(v: &Value) -> String {
    match v {
        Value::Array(lines) => lines
            .iter()
            .map(|l| l.as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n"),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

/// What one set scored.
#[derive(Default)]
struct Score {
    tasks: usize,
    route_right: usize,
    claude_tasks: usize,
    claude_routed_local: usize,
    local_tasks: usize,
    local_routed_claude: usize,
    purpose_built: usize,
    purpose_built_right: usize,
    /// Routed local with a positive predicted net (the project turns the break-even veto off).
    routed_local: usize,
    routed_local_pays: usize,
    /// (matrix says, route) -> count
    confusion: std::collections::BTreeMap<(String, String), usize>,
    misses: Vec<String>,
}

async fn score_set(c: &rmcp::service::RunningService<rmcp::RoleClient, ()>, file: &str) -> Score {
    let set: Value = json_of(&fs::read_to_string(Path::new(FIXTURES).join(file)).expect("set"));
    let mut s = Score::default();
    for t in set["tasks"].as_array().expect("tasks") {
        let mut args = json!({"task": text(&t["task"])});
        if t.get("input").is_some() {
            args["input"] = json!(text(&t["input"]));
        }
        if let Some(f) = t.get("input_files") {
            args["input_files"] = f.clone();
        }
        let r = ok(c, "route_task", args).await;
        let route = r["route"].as_str().unwrap_or("?").to_string();
        let side = if route == "claude" { "claude" } else { "local" };
        if side == "local" {
            s.routed_local += 1;
            s.routed_local_pays +=
                usize::from(r["breakeven"]["net_usd"].as_f64().is_some_and(|n| n > 0.0));
        }
        let want = t["route"].as_str().expect("route label");
        s.tasks += 1;
        *s.confusion
            .entry((want.to_string(), route.clone()))
            .or_default() += 1;
        if side == want {
            s.route_right += 1;
        } else {
            s.misses.push(format!(
                "{}: want {want}, got {route}: {}",
                t["id"], r["reason"]
            ));
        }
        if want == "claude" {
            s.claude_tasks += 1;
            s.claude_routed_local += usize::from(side == "local");
        } else {
            s.local_tasks += 1;
            s.local_routed_claude += usize::from(side == "claude");
            let want_e = t["ensemble"].as_str().unwrap_or("*");
            if want_e != "new" && want_e != "*" {
                s.purpose_built += 1;
                let got = r["ensemble"].as_str().unwrap_or("");
                if got.rsplit('/').next() == Some(want_e) {
                    s.purpose_built_right += 1;
                }
            }
        }
    }
    s
}

fn print(name: &str, s: &Score) {
    eprintln!(
        "{name}: route right {}/{}, Claude tasks routed local {}/{}, local tasks routed to Claude {}/{}, purpose-built ensemble chosen {}/{}, routed local that pay {}/{}",
        s.route_right,
        s.tasks,
        s.claude_routed_local,
        s.claude_tasks,
        s.local_routed_claude,
        s.local_tasks,
        s.purpose_built_right,
        s.purpose_built,
        s.routed_local_pays,
        s.routed_local
    );
    for ((want, got), n) in &s.confusion {
        eprintln!("  matrix {want:>6} -> {got:<12} {n}");
    }
    for m in &s.misses {
        eprintln!("  miss {m}");
    }
}

/// The floors of the issue: at least 90% routed right, at most 1 in 20 of the tasks the matrix
/// sends to Claude routed local, on the held-out set (and the development set); the
/// purpose-built ensemble chosen for at least 80% of the tasks that have one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_labelled_routing_set_meets_its_floors_through_a_real_mcp_client() {
    let p = routing_project();
    let c =
        ().serve(TokioChildProcess::new(common::mcp::serve_command(&p)).expect("spawn"))
            .await
            .expect("initialize");
    for (name, file) in [("held-out", "heldout.json"), ("development", "dev.json")] {
        let s = score_set(&c, file).await;
        print(name, &s);
        assert!(s.tasks >= 70, "{name}: {} tasks", s.tasks);
        assert!(
            s.route_right * 10 >= s.tasks * 9,
            "{name}: {}/{} routed right",
            s.route_right,
            s.tasks
        );
        assert!(
            s.claude_routed_local * 20 <= s.claude_tasks,
            "{name}: {}/{} Claude tasks routed local",
            s.claude_routed_local,
            s.claude_tasks
        );
        assert!(
            s.purpose_built_right * 10 >= s.purpose_built * 8,
            "{name}: purpose-built ensemble {}/{}",
            s.purpose_built_right,
            s.purpose_built
        );
    }
    c.cancel().await.expect("close");
}

/// The look-alikes: listing order and a shared word must not win over the ensemble
/// built for the task; the answer lists the candidates with their scores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn among_look_alike_ensembles_the_purpose_built_one_wins() {
    let p = routing_project();
    let c =
        ().serve(TokioChildProcess::new(common::mcp::serve_command(&p)).expect("spawn"))
            .await
            .expect("initialize");
    let cases = [
        (
            "Do a code review of this diff.",
            "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-return a\n+return a + 1\n",
            "diff-review",
        ),
        (
            "Write up the meeting: what was decided and who does what next.",
            "Ana: we ship Friday. Ben will update the docs.",
            "meeting-notes",
        ),
        (
            "Classify the legal risk of each clause as low, medium or high.",
            "1. Liability is unlimited.\n2. Either party may terminate on notice.",
            "legal-risk-classify",
        ),
        (
            "Pull out the invoice number and the total due.",
            "Invoice 7 - Support plan 240.00 - Total due 288.00",
            "invoice-extract",
        ),
    ];
    for (task, input, want) in cases {
        let r = ok(&c, "route_task", json!({"task": task, "input": input})).await;
        assert_eq!(r["route"], "local", "{task}: {r}");
        assert_eq!(r["ensemble"], want, "{task}: {}", r["candidates"]);
        let cands = r["candidates"].as_array().expect("candidates");
        assert!(cands.len() >= 2, "{r}");
        assert_eq!(cands[0]["ensemble"], want);
        let (first, second) = (
            cands[0]["score"].as_f64().expect("score"),
            cands[1]["score"].as_f64().expect("score"),
        );
        assert!(first > second, "{task}: {first} vs {second}");
    }
    c.cancel().await.expect("close");
}

/// One failing ensemble is demoted for its task type only: the type still routes local to the
/// next ensemble, and the same ensemble still serves another type. Learned rules never move a
/// task past the hard limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_demotes_that_ensemble_for_that_type_and_limits_outlast_learning() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "{}learning:\n  min_net_usd: -1000.0\n",
            native_config(&sim.url())
        ),
    );
    p.ensemble(
        "review-sentiment",
        "name: review-sentiment\ndescription: Label the sentiment of product reviews as positive, negative or neutral\nagents:\n  - name: label\n    model_profile: tiny\n    system_prompt: \"[[fake:reply=positive]] Label each product review positive, negative or neutral.\"\n",
    );
    p.ensemble(
        "sentiment-voters",
        "name: sentiment-voters\ndescription: Three voters label the sentiment of reviews positive, negative or neutral\nagents:\n  - name: vote\n    model_profile: tiny\n    system_prompt: \"[[fake:reply=negative]] Is each review positive, negative or neutral?\"\n",
    );
    p.ensemble(
        "notes-summary",
        "name: notes-summary\ndescription: Summarize a document in three sentences\nagents:\n  - name: sum\n    model_profile: tiny\n    system_prompt: \"[[fake:reply=A summary.]] Summarize the document.\"\n",
    );
    let route = |args: &[&str]| {
        let mut all = vec!["route"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--format", "json"]);
        let r = p.orc(&all);
        assert_eq!(r.code, 0, "{}", r.stderr);
        json_of(&r.stdout)
    };
    let task = "Label the sentiment of these product reviews: positive, negative or neutral";
    let reviews = "Great value.\nBroke after a week.";
    let first = route(&[task, "--input", reviews]);
    assert_eq!(first["route"], "local", "{first}");
    assert_eq!(
        first["ensemble"], "review-sentiment",
        "{}",
        first["candidates"]
    );

    // Three judged poor runs of it on classification, then a batch learn.
    for _ in 0..3 {
        let r = p
            .orc_async(&[
                "invoke",
                "review-sentiment",
                reviews,
                "--task-type",
                "classification",
                "--output-format",
                "json",
            ])
            .await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        let id = json_of(&r.stdout)["routing_id"]
            .as_str()
            .expect("routing id")
            .to_string();
        let e = p.orc(&[
            "eval",
            "record",
            &id,
            "--score",
            "poor",
            "--judge",
            "claude",
            "--failure-mode",
            "off_task",
        ]);
        assert_eq!(e.code, 0, "{}", e.stderr);
    }
    // Three good runs of the summariser, so summarization learns a local rule.
    for _ in 0..3 {
        let r = p
            .orc_async(&[
                "invoke",
                "notes-summary",
                "A short memo.",
                "--task-type",
                "summarization",
                "--output-format",
                "json",
            ])
            .await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        let id = json_of(&r.stdout)["routing_id"]
            .as_str()
            .expect("id")
            .to_string();
        let e = p.orc(&[
            "eval", "record", &id, "--score", "good", "--judge", "claude",
        ]);
        assert_eq!(e.code, 0, "{}", e.stderr);
    }
    let l = p.orc(&["learn", "--format", "json"]);
    assert_eq!(l.code, 0, "{}", l.stderr);
    let learned = json_of(&l.stdout);
    assert_eq!(
        learned["routes"]["classification"]["route"], "claude",
        "{learned}"
    );
    assert_eq!(
        learned["routes"]["summarization"]["route"], "local",
        "{learned}"
    );

    // Classification still goes local, to the other ensemble; the failed one is demoted.
    let after = route(&[task, "--input", reviews]);
    assert_eq!(after["route"], "local", "{after}");
    assert_eq!(after["ensemble"], "sentiment-voters", "{after}");
    let demoted: Vec<&Value> = after["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .filter(|c| c["demoted"] == true)
        .collect();
    assert_eq!(demoted.len(), 1, "{}", after["candidates"]);
    assert_eq!(demoted[0]["ensemble"], "review-sentiment");
    assert!(
        after["reason"]
            .as_str()
            .is_some_and(|r| r.contains("demoted")),
        "{after}"
    );
    // ... but only for classification: for extraction it is still the best fit.
    let other = route(&[
        "Pull out the product names mentioned in these product reviews",
        "--input",
        reviews,
    ]);
    assert_eq!(other["task_type"], "extraction", "{other}");
    let rs = other["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .find(|c| c["ensemble"] == "review-sentiment")
        .cloned()
        .unwrap_or_else(|| panic!("review-sentiment ranked: {other}"));
    assert!(rs.get("demoted").is_none(), "{rs}");

    // The learned summarization rule picks its ensemble for a short document...
    p.write(
        "docs/short.md",
        "The launch moved to May. Docs are due Friday.\n",
    );
    p.write(
        "docs/long.md",
        &"The quarterly figures moved in every region, with costs up and revenue flat. "
            .repeat(900),
    );
    let short = route(&[
        "Summarize the attached memo",
        "--input-file",
        "docs/short.md",
    ]);
    assert_eq!(
        (short["route"].clone(), short["ensemble"].clone()),
        (json!("local"), json!("notes-summary")),
        "{short}"
    );
    assert_eq!(short["decided_by"], "routing-config v1", "{short}");
    // ... never for one over 8K tokens, nor for two documents, whatever was learned.
    let long = route(&[
        "Summarize the attached memo",
        "--input-file",
        "docs/long.md",
    ]);
    assert_eq!(long["route"], "claude", "{long}");
    let size = long["limits"]
        .as_array()
        .expect("limits")
        .iter()
        .find(|l| l["limit"] == "size")
        .cloned()
        .expect("size limit");
    assert_eq!(size["passed"], false, "{size}");
    assert!(
        long["input"]["tokens"].as_u64().expect("tokens") > 8_000,
        "{long}"
    );
    let two = route(&[
        "Summarize the memos",
        "--input-file",
        "docs/short.md",
        "--input-file",
        "docs/short.md",
    ]);
    assert_eq!(two["route"], "claude", "{two}");
    // A file the instruction names is measured without being passed.
    let named = route(&["Summarize docs/long.md for the board"]);
    assert_eq!(named["route"], "claude", "{named}");
    assert_eq!(named["input"]["files"][0]["named_in_task"], true, "{named}");
}

/// The knob: `routing.delegation` for the project, `routing.task_types` per type, a level for
/// one call; every answer says which level applied and where it came from.
#[test]
fn the_delegation_level_is_calibrated_per_project_and_task_type_and_shown() {
    let p = routing_project();
    let route = |args: &[&str]| {
        let mut all = vec!["route"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--format", "json"]);
        let r = p.orc(&all);
        assert_eq!(r.code, 0, "{}", r.stderr);
        json_of(&r.stdout)
    };
    let code = "Write a Python function that merges overlapping intervals.";
    let extract = "Pull the invoice number and total out of this invoice.";
    let invoice = "Invoice 12, total due 40.00";
    let r = route(&[code]);
    assert_eq!(r["route"], "local", "{r}");
    assert_eq!(
        (
            r["delegation"]["level"].clone(),
            r["delegation"]["source"].clone()
        ),
        (json!(3), json!("default"))
    );
    let config = fs::read_to_string(p.root().join(".llm-orc/config.yaml")).expect("config");
    p.write(
        ".llm-orc/config.yaml",
        &format!("{config}routing:\n  delegation: 1\n  task_types:\n    extraction: 0\n"),
    );
    // Level 1 lets only the matrix's reliable types go local: code generation is Claude's.
    let r = route(&[code]);
    assert_eq!(r["route"], "claude", "{r}");
    assert_eq!(r["delegation"]["level"], 1);
    assert_eq!(r["delegation"]["source"], "config.yaml routing.delegation");
    // Extraction is set to 0 on its own.
    let r = route(&[extract, "--input", invoice]);
    assert_eq!(r["route"], "claude", "{r}");
    assert_eq!(
        r["delegation"]["source"],
        "config.yaml routing.task_types.extraction"
    );
    // A level for one call overrides both, and the hard limits still hold at level 5.
    let r = route(&[extract, "--input", invoice, "--delegation", "5"]);
    assert_eq!(
        (r["route"].clone(), r["delegation"]["source"].clone()),
        (json!("local"), json!("this call"))
    );
    let r = route(&[
        "Review this login handler for security holes",
        "--delegation",
        "5",
    ]);
    assert_eq!(r["route"], "claude", "{r}");
    let text = p.orc(&["route", code]);
    assert!(
        text.stdout.contains("delegation level 1"),
        "{}",
        text.stdout
    );
    let bad = p.orc(&["route", code, "--delegation", "9"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    // `orc config check` knows the section: no unknown-key warning.
    let check = p.orc(&["config", "check"]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    let all = format!("{}{}", check.stdout, check.stderr);
    assert!(!all.contains("unknown"), "{all}");
}

/// The instruction is classified, the input only measured; files stay inside the project.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_input_is_measured_not_classified_and_files_stay_in_the_project() {
    let p = routing_project();
    fs::write(p.dir.path().join("outside.md"), "secret").expect("write");
    let c =
        ().serve(TokioChildProcess::new(common::mcp::serve_command(&p)).expect("spawn"))
            .await
            .expect("initialize");
    // Forty tickets full of `must` are forty tickets, not forty constraints.
    let tickets: String = (1..=40)
        .map(|i| format!("#{i} The export must work before Friday; it should not time out.\n"))
        .collect();
    let r = ok(
        &c,
        "route_task",
        json!({"task": "Triage these tickets into bug, feature request, question or billing.", "input": tickets}),
    )
    .await;
    assert_eq!(
        (r["task_type"].clone(), r["route"].clone()),
        (json!("classification"), json!("local")),
        "{r}"
    );
    assert_eq!(r["evidence"]["constraints"], 0, "{r}");
    // A test-writing task about parse_duration is code generation, whatever the code says.
    let r = ok(
        &c,
        "route_task",
        json!({"task": "Write pytest tests for this function.", "input": "def parse_duration(s):\n    return extract_fields(s)\n"}),
    )
    .await;
    assert_eq!(r["task_type"], "code-generation", "{r}");
    // The same document pasted into the task is split off and measured.
    let long = "Revenue rose in the north and fell in the south. ".repeat(1200);
    let r = ok(
        &c,
        "route_task",
        json!({"task": format!("Summarize this:\n\n{long}")}),
    )
    .await;
    assert_eq!(r["route"], "claude", "{r}");
    assert_eq!(r["instruction"], "Summarize this:");
    assert!(r["input"]["tokens"].as_u64().expect("tokens") > 8_000);
    // An unmatched or keyword-free task is Claude's, with the reason.
    let r = ok(
        &c,
        "route_task",
        json!({"task": "Kafka or SQS for our event bus?"}),
    )
    .await;
    assert_eq!(
        (r["task_type"].clone(), r["route"].clone()),
        (json!("unclassified"), json!("claude"))
    );
    assert_eq!(r["confidence_level"], "none");
    // Files outside the project are refused, with or without `..`.
    let outside = p.dir.path().join("outside.md").display().to_string();
    for f in [outside.as_str(), "../outside.md", "docs/missing.md"] {
        let e = refused(
            &c,
            "route_task",
            json!({"task": "Summarize it", "input_files": [f]}),
        )
        .await;
        assert!(e.contains("input file refused"), "{f}: {e}");
    }
    // Every answer carries the steps in order, the limits and the knob.
    let r = ok(
        &c,
        "route_task",
        json!({"task": "Give me the gist of the onboarding guide", "input_files": ["docs/onboarding-guide.md"]}),
    )
    .await;
    let steps: Vec<&str> = r["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["step"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        steps,
        [
            "read",
            "limits",
            "matrix",
            "delegation",
            "learned",
            "ensemble",
            "guard",
            "break-even"
        ]
    );
    assert_eq!(r["limits"].as_array().map(Vec::len), Some(5));
    assert_eq!(r["input"]["documents"], 1);
    assert!(r["delegation"]["level"].is_u64());
    c.cancel().await.expect("close");
}
