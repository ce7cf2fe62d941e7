//! Delegation that pays (issue 21), through a real MCP client (rmcp's) against `orc mcp serve`:
//! the compact result and its detail levels, inputs by reference, what a hand-over cost and the
//! net in the report, routing on the break-even, cancellation and heartbeats, the core surface.

use crate::common;

use std::sync::{Arc, Mutex};

use common::mcp::{call, ok, refused};
use common::{TestProject, native_config};
use orc::testkit::sim::{SimConfig, Simulator};
use rmcp::model::{
    CallToolRequestParams, ClientRequest, ProgressNotificationParam, Request, ServerResult,
};
use rmcp::service::{NotificationContext, PeerRequestOptions, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Client {
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

impl ClientHandler for Client {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().expect("lock").push(params);
    }
}

type Conn = RunningService<RoleClient, Client>;

async fn connect(p: &TestProject, extra: &[&str]) -> Conn {
    let cmd = common::mcp::serve_with(p, extra);
    Client::default()
        .serve(TokioChildProcess::new(cmd).expect("spawn"))
        .await
        .expect("initialize")
}

fn progress(c: &Conn) -> Vec<ProgressNotificationParam> {
    c.service().progress.lock().expect("lock").clone()
}

/// Waits (boundedly) until `cond` holds, polling.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if cond() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

fn params(tool: &str, args: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool.to_string())
        .with_arguments(args.as_object().cloned().unwrap_or_default())
}

fn routing_log(p: &TestProject) -> Vec<Value> {
    std::fs::read_to_string(p.root().join(".llm-orc/evaluations/routing-log.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn chars(v: &Value) -> usize {
    serde_json::to_string(v).map_or(0, |s| s.chars().count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compact_result_by_default_detail_on_request_and_one_agent_alone() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = common::peer_project();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    let c = connect(&p, &[]).await;
    let run = ok(
        &c,
        "invoke",
        json!({"ensemble_name": "peer-swarm", "input_data": "[[fake:tokens=40]] x"}),
    )
    .await;
    assert_eq!(run["status"], "success", "{run}");
    let deliverable = run["deliverable"].as_str().expect("deliverable").len();
    // 37 agents: a status each, the usage totals and the ids, nothing else.
    assert_eq!(run["agents"].as_object().map(|a| a.len()), Some(37));
    assert_eq!(run["agents"]["extractor-00"], "success");
    assert!(run.get("metadata").is_none() && run.get("results").is_none());
    assert!(run["usage"]["input_tokens"].as_u64().is_some_and(|t| t > 0));
    assert!(run["routing_id"].is_string() && run["artifact_id"].is_string());
    let compact = chars(&run);
    assert!(
        compact <= deliverable + 37 * 40 + 700,
        "compact result {compact} chars for a {deliverable}-char deliverable"
    );
    let run_id = run["run_id"].as_str().expect("run id");
    // The whole document is over the default cap (20,000 characters): ask for more room.
    let full = ok(
        &c,
        "run_result",
        json!({"run_id": run_id, "detail": "full", "max_chars": 10_000_000}),
    )
    .await;
    assert!(full.get("truncated").is_none());
    assert_eq!(full["results"].as_object().map(|m| m.len()), Some(37));
    assert!(full["metadata"]["usage"]["totals"].is_object());
    assert!(chars(&full) > 4 * compact, "{} vs {compact}", chars(&full));
    let agents = ok(
        &c,
        "run_result",
        json!({"run_id": run_id, "detail": "agents"}),
    )
    .await;
    assert!(
        agents["agents"]["analyser-0"]["response"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    let one = ok(
        &c,
        "run_result",
        json!({"run_id": run_id, "agent": "analyser-0", "offset": 3}),
    )
    .await;
    let whole = full["results"]["analyser-0"]["response"]
        .as_str()
        .expect("answer");
    assert_eq!(one["response"].as_str(), whole.get(3..));
    assert_eq!(one["response_chars"], whole.chars().count());
    let e = refused(
        &c,
        "run_result",
        json!({"run_id": run_id, "agent": "ghost"}),
    )
    .await;
    assert!(e.contains("no agent `ghost`"), "{e}");
    let e = refused(&c, "run_result", json!({"run_id": run_id, "detail": "all"})).await;
    assert!(e.contains("not deliverable, agents or full"), "{e}");

    // The cap: longest texts cut, a note that says where the rest is.
    let capped = ok(
        &c,
        "run_result",
        json!({"run_id": run_id, "detail": "full", "max_chars": 3000}),
    )
    .await;
    assert!(chars(&capped) <= 3000, "{}", chars(&capped));
    let note = capped["truncated"]["note"].as_str().expect("note");
    assert!(
        note.contains("run_result") && note.contains("execution.json"),
        "{note}"
    );
    c.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_in_error_is_a_tool_error_with_its_result() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "e",
        "name: e\nagents:\n  - name: a\n    model_profile: tiny\n    system_prompt: \"[[sim:status=400]]\"\n  - name: b\n    model_profile: tiny\n",
    );
    let c = connect(&p, &[]).await;
    let r = call(
        &c,
        "invoke",
        json!({"ensemble_name": "e", "input_data": "x"}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    let v = r.structured_content.expect("structured");
    assert_eq!(v["status"], "error");
    assert_eq!(v["agents"]["a"]["status"], "failed", "{v}");
    assert!(v["agents"]["a"]["error"].is_string(), "{v}");
    assert_eq!(v["agents"]["b"], "success");
    c.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_files_reach_the_prompt_and_paths_outside_are_refused() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "e",
        "name: e\nagents:\n  - name: a\n    model_profile: tiny\n",
    );
    p.write("docs/notes.md", "Meeting notes: MARKER-4242 was decided.\n");
    p.write("docs/more.md", "Second file: MARKER-7777.\n");
    let outside = p.dir.path().join("outside.txt");
    std::fs::write(&outside, "SECRET").expect("write");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&outside, p.root().join("docs/link.txt")).expect("symlink");
    let c = connect(&p, &[]).await;
    let run = ok(
        &c,
        "invoke",
        json!({"ensemble_name": "e", "input_data": "Summarise:", "input_files": ["docs/*.md"]}),
    )
    .await;
    assert_eq!(run["status"], "success", "{run}");
    let body = sim
        .requests()
        .last()
        .map(|r| r.body.to_string())
        .unwrap_or_default();
    assert!(
        body.contains("Summarise:") && body.contains("MARKER-4242") && body.contains("MARKER-7777"),
        "{body}"
    );
    assert!(body.contains("--- docs/notes.md ---"), "{body}");
    let sent = sim.requests().len();
    for (bad, why) in [
        ("../outside.txt", "`..`"),
        (outside.to_str().expect("utf-8"), "outside the project"),
        ("docs/link.txt", "resolves outside the project"),
        ("docs/*.pdf", "matches no file"),
    ] {
        let e = refused(
            &c,
            "invoke",
            json!({"ensemble_name": "e", "input_files": [bad]}),
        )
        .await;
        assert!(e.contains(why), "{bad}: {e}");
        assert!(!e.contains("SECRET"), "{e}");
    }
    assert_eq!(sim.requests().len(), sent, "a refused input runs nothing");
    // The learning tool that takes an output reads it from a file too.
    p.write("answer.md", "Claude's own answer");
    let rec = ok(
        &c,
        "record_claude_task",
        json!({"task": "summarise the notes", "input_tokens": 10, "output_tokens": 5, "output_file": "answer.md"}),
    )
    .await;
    let kept = p
        .root()
        .join(".llm-orc")
        .join(rec["artifact"].as_str().expect("artifact"));
    assert!(
        std::fs::read_to_string(kept)
            .expect("kept")
            .contains("Claude's own answer")
    );
    let e = refused(
        &c,
        "record_claude_task",
        json!({"task": "t", "output_file": "../outside.txt"}),
    )
    .await;
    assert!(e.contains("`..`"), "{e}");
    c.cancel().await.ok();
}

/// The routing record keeps what the invoke and the calls that prepared it cost; later calls
/// that name the run go to handover.jsonl.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hand_over_is_counted_from_what_crossed_the_wire() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "extract-names",
        "name: extract-names\ndescription: extract names\nagents:\n  - name: a\n    model_profile: tiny\n",
    );
    let c = connect(&p, &[]).await;
    let routed = call(
        &c,
        "route_task",
        json!({"task": "Extract the names from: Ada met Bob"}),
    )
    .await;
    assert_ne!(routed.is_error, Some(true));
    let args = json!({"ensemble_name": "extract-names", "input_data": "Ada met Bob", "task_type": "extraction"});
    let r = call(&c, "invoke", args.clone()).await;
    let text = r.content[0].as_text().expect("text").text.clone();
    let run: Value = serde_json::from_str(&text).expect("json");
    let log = routing_log(&p);
    let rec = log.last().expect("record");
    assert_eq!(rec["id"], run["routing_id"]);
    let h = &rec["handover"];
    let count = |s: &str| orc::learn::estimate::claude_tokens(s, 1.2);
    assert_eq!(h["calls"], 2, "route_task and invoke: {h}");
    let route_text = routed.content[0].as_text().expect("text").text.clone();
    let route_args = json!({"task": "Extract the names from: Ada met Bob"}).to_string();
    assert_eq!(
        h["argument_tokens"],
        count(&args.to_string()) + count(&route_args),
        "{h}"
    );
    assert_eq!(h["result_tokens"], count(&text) + count(&route_text), "{h}");
    // Each call carries the default share (0.1: a prompt-cache read) of the served definitions.
    let defs = serde_json::to_string(&c.list_all_tools().await.expect("tools")).expect("json");
    let per_call = (orc::learn::estimate::tokens(&defs) as f64 * 1.2 * 0.1).round() as u64;
    assert!(per_call > 100, "{per_call}");
    assert_eq!(h["definition_tokens"], 2 * per_call, "{h}");
    // A judging call later goes to the ledger with the routing id.
    ok(
        &c,
        "should_evaluate",
        json!({"routing_id": run["routing_id"]}),
    )
    .await;
    let ledger = std::fs::read_to_string(p.root().join(".llm-orc/evaluations/handover.jsonl"))
        .expect("ledger");
    let line: Value = serde_json::from_str(ledger.lines().last().expect("line")).expect("json");
    assert_eq!(line["routing_id"], run["routing_id"]);
    assert_eq!(line["tool"], "should_evaluate");
    assert_eq!(line["kind"], "judging");
    assert!(
        line["result_tokens"].as_u64().is_some_and(|t| t > 100),
        "{line}"
    );
    c.cancel().await.ok();
}

/// Net and overhead in the report, against figures computed by hand from a fixed history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_leads_with_the_net_computed_by_hand() {
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        "learning:\n  claude_model: m\n  judge_model: m\n  judge_output_share: 0\n  prices:\n    m: {input_per_mtok: 1, output_per_mtok: 5}\n",
    );
    let rec = |id: &str, status: &str, inp: u64, out: u64, h: Value| {
        json!({"id": id, "timestamp": "2026-12-01T10:00:00.000+00:00", "task_type": "extraction",
               "ensemble_used": "swarm", "route": "local", "status": status,
               "total_tokens_local": 100, "estimated_claude_tokens": inp + out,
               "tokens_saved": if status == "success" { inp + out } else { 0 },
               "estimate": {"method": "estimate", "encoding": "o200k_base", "factor": 1.0,
                            "input_tokens": inp, "output_tokens": out},
               "handover": h})
        .to_string()
    };
    let ho = |c: u64, a: u64, r: u64, d: u64| json!({"calls": c, "argument_tokens": a, "result_tokens": r, "definition_tokens": d});
    let log = [
        rec("a", "success", 1000, 200, ho(2, 100, 300, 2000)),
        rec("b", "success", 5000, 1000, ho(1, 20, 1100, 2000)),
        rec("c", "cancelled", 800, 0, ho(1, 50, 0, 2000)),
    ]
    .join("\n");
    p.write(
        ".llm-orc/evaluations/routing-log.jsonl",
        &format!("{log}\n"),
    );
    let line = |tool: &str, kind: &str, h: Value| {
        let mut v = json!({"routing_id": "b", "tool": tool, "timestamp": "2026-12-01T10:01:00.000+00:00", "kind": kind});
        for (k, x) in h.as_object().cloned().unwrap_or_default() {
            v[k] = x;
        }
        v.to_string()
    };
    p.write(
        ".llm-orc/evaluations/handover.jsonl",
        &format!(
            "{}\n{}\n",
            line("should_evaluate", "judging", ho(1, 10, 400, 2000)),
            line("run_result", "delegation", ho(1, 10, 90, 2000))
        ),
    );
    p.write(
        ".llm-orc/evaluations/evaluations.jsonl",
        &format!(
            "{}\n",
            json!({"id": "e1", "routing_id": "b", "judge": "claude", "score": "good",
                   "judge_tokens_used": 1000, "subject": "local", "task_type": "extraction",
                   "ensemble_used": "swarm", "delivered": true, "timestamp": "2026-12-01T10:02:00.000+00:00"})
        ),
    );
    // By hand, at $1 / $5 per million tokens in / out:
    //   gross   a 1000 + 200x5 = 2000, b 5000 + 1000x5 = 10000, c (cancelled) 0   -> 12000 u$
    //   hand-over a (300+2000) + 100x5 = 2800; b (1100+2000) + 20x5 = 3200, and its run_result
    //           (90+2000) + 10x5 = 2140; c 2000 + 50x5 = 2250                      -> 10390 u$
    //   judging should_evaluate (400+2000) + 10x5 = 2450, judge tokens 1000         ->  3450 u$
    //   net 12000 - 10390 - 3450 = -1840 u$: a loss; efficiency -1840 / 12000
    //   losing runs: a (2000 < 2800) and c; tokens: 7200 - (9490 + 180) - (2410) - 1000 = -5880
    let c = connect(&p, &[]).await;
    let r = ok(&c, "learning_report", json!({})).await;
    let t = &r["totals"];
    let close = |v: &Value, want: f64| v.as_f64().is_some_and(|x| (x - want).abs() < 1e-9);
    assert!(close(&t["net_usd_estimate"], -0.00184), "{t:#}");
    assert_eq!(t["outcome"], "loss");
    assert!(close(&t["efficiency"], -1840.0 / 12000.0), "{t:#}");
    assert!(close(&t["gross"]["usd"], 0.012), "{t:#}");
    assert_eq!(t["gross"]["input_tokens"], 6000);
    assert_eq!(t["gross"]["output_tokens"], 1200);
    assert!(close(&t["delegation_overhead"]["usd"], 0.01039), "{t:#}");
    assert_eq!(t["delegation_overhead"]["input_tokens"], 9490);
    assert_eq!(t["delegation_overhead"]["output_tokens"], 180);
    assert_eq!(t["delegation_calls"], 5);
    assert!(close(&t["judging"]["usd"], 0.00345), "{t:#}");
    assert!(close(&t["judging"]["calls_usd"], 0.00245), "{t:#}");
    assert_eq!(t["net_tokens_estimate"], -5880);
    assert_eq!(t["losing_runs"], 2);
    assert_eq!(t["cancelled_runs"], 1);
    let swarm = r["ensembles"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["ensemble"] == "swarm"))
        .cloned()
        .expect("swarm row");
    assert!(close(&swarm["net_usd_estimate"], -0.00184), "{swarm:#}");
    // Text and HTML lead with the net and call a loss a loss.
    let text = ok(&c, "learning_report", json!({"format": "text"})).await;
    let text = text["content"].as_str().expect("text");
    let all = text.split("All runs\n").nth(1).expect("All runs");
    assert!(
        all.lines()
            .next()
            .is_some_and(|l| l.contains("NET: LOSS of ~$0.0018 (estimate)")),
        "{text}"
    );
    assert!(
        text.contains("2 lost more than they saved; 1 cancelled"),
        "{text}"
    );
    let html = ok(&c, "learning_report", json!({"format": "html"})).await;
    assert!(
        html["content"]
            .as_str()
            .is_some_and(|h| h.contains("NET: LOSS of ~$0.0018")),
        "{html}"
    );
    c.cancel().await.ok();
    // The CLI shows the same.
    let out = p.orc(&["report", "learning"]);
    assert!(
        out.stdout.contains("NET: LOSS of ~$0.0018"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_task_sends_a_delegation_that_would_not_pay_to_claude() {
    let p = TestProject::new();
    p.with_profiles();
    p.ensemble(
        "sentiment",
        "name: sentiment\ndescription: classify sentiment\nagents:\n  - name: a\n    model_profile: tiny\n",
    );
    p.ensemble(
        "summarizer",
        "name: summarizer\ndescription: summarize documents\nagents:\n  - name: a\n    model_profile: tiny\n",
    );
    p.write(
        "report.md",
        // About 5,600 tokens: long enough to pay, under the 8,000-token limit of small models.
        &"The committee met on Tuesday to discuss the budget for the coming year. ".repeat(400),
    );
    let c = connect(&p, &[]).await;
    let r = ok(
        &c,
        "route_task",
        json!({"task": "Classify the sentiment of this review: great product"}),
    )
    .await;
    assert_eq!(r["route"], "claude", "{r:#}");
    let why = r["reason"].as_str().expect("reason");
    assert!(
        why.contains("delegating would not pay") && why.contains('$'),
        "{why}"
    );
    assert_eq!(r["breakeven"]["pays"], false);
    assert!(r["breakeven"]["net_usd"].as_f64().is_some_and(|n| n < 0.0));
    // A long document by path, with a long answer, pays (definitions deferred by the client).
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "{}learning:\n  definitions_share: 0.05\n",
            common::PEER_CONFIG
        ),
    );
    let r = ok(
        &c,
        "route_task",
        json!({"task": "Summarize report.md", "input_files": ["report.md"]}),
    )
    .await;
    assert_eq!(r["breakeven"]["pays"], true, "{r:#}");
    assert_eq!(r["breakeven"]["inline"], false);
    assert_ne!(r["route"], "claude", "{r:#}");
    c.cancel().await.ok();
}

/// A cancel in the middle of a 3-agent sequence: nothing after it is requested, the artifact
/// is interrupted, the record says cancelled, and no progress comes for the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_invoke_stops_its_run() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "chain",
        "name: chain\nagents:\n  - name: first\n    model_profile: tiny\n    system_prompt: \"[first]\"\n  - name: second\n    model_profile: tiny\n    depends_on: [first]\n    system_prompt: \"[second] [[sim:hold_until=never-sent]]\"\n  - name: third\n    model_profile: tiny\n    depends_on: [second]\n    system_prompt: \"[third]\"\n",
    );
    let c = connect(&p, &[]).await;
    let handle = c
        .send_cancellable_request(
            ClientRequest::CallToolRequest(Request::new(params(
                "invoke",
                json!({"ensemble_name": "chain", "input_data": "x"}),
            ))),
            PeerRequestOptions::no_options(),
        )
        .await
        .expect("send");
    // `first` finished (one progress notification); `second` is held by the simulator.
    until("first to finish", || progress(&c).len() == 1).await;
    until("second's request", || {
        sim.requests()
            .iter()
            .any(|r| r.body.to_string().contains("[second]"))
            || sim.in_flight() > 0
    })
    .await;
    handle
        .cancel(Some("the user pressed Esc".into()))
        .await
        .expect("cancel");
    until("the cancelled record", || {
        routing_log(&p).iter().any(|r| r["status"] == "cancelled")
    })
    .await;
    let rec = routing_log(&p)
        .into_iter()
        .find(|r| r["status"] == "cancelled")
        .expect("record");
    assert_eq!(rec["tokens_saved"], 0);
    assert!(
        rec["handover"]["argument_tokens"]
            .as_u64()
            .is_some_and(|t| t > 0)
    );
    assert_eq!(rec["handover"]["result_tokens"], 0, "no result was sent");
    let art = common::latest_artifact(&p, "chain");
    assert_eq!(art["status"], "interrupted");
    assert!(
        !sim.requests()
            .iter()
            .any(|r| r.body.to_string().contains("[third]")),
        "nothing starts after a cancel"
    );
    // The server goes on serving; the cancelled request got no progress after `first`.
    ok(&c, "list_ensembles", json!({})).await;
    let p1 = progress(&c);
    assert_eq!(p1.len(), 1, "{p1:?}");
    assert_eq!(p1[0].message.as_deref(), Some("first: succeeded"));
    // The report never counts it as delivered.
    let report = ok(&c, "learning_report", json!({})).await;
    assert_eq!(report["totals"]["cancelled_runs"], 1, "{report:#}");
    assert_eq!(report["totals"]["gross"]["usd"], 0.0);
    c.cancel().await.ok();
}

/// Heartbeats while one agent is slow: the simulator holds it until the test has seen three,
/// then lets it finish (no sleeping for timing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_come_while_an_agent_is_slow() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "slow",
        "name: slow\nagents:\n  - name: thinker\n    model_profile: tiny\n    system_prompt: \"[[sim:hold_until=release-thinker]]\"\n",
    );
    let c = connect(&p, &["--heartbeat", "0.05"]).await;
    let handle = c
        .send_cancellable_request(
            ClientRequest::CallToolRequest(Request::new(params(
                "invoke",
                json!({"ensemble_name": "slow", "input_data": "x"}),
            ))),
            PeerRequestOptions::no_options(),
        )
        .await
        .expect("send");
    until("three heartbeats", || {
        progress(&c)
            .iter()
            .filter(|n| {
                n.message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("running: thinker ("))
            })
            .count()
            >= 3
    })
    .await;
    release(&sim, "release-thinker").await;
    let ServerResult::CallToolResult(r) = handle.await_response().await.expect("response") else {
        panic!("not a tool result")
    };
    assert_eq!(
        r.structured_content.as_ref().map(|v| v["status"].clone()),
        Some(json!("success"))
    );
    let notes = progress(&c);
    let values: Vec<f64> = notes.iter().map(|n| n.progress).collect();
    assert!(
        values.windows(2).all(|w| w[1] > w[0]),
        "progress grows with every notification: {values:?}"
    );
    assert!(notes.iter().all(|n| n.total == Some(1.0)));
    c.cancel().await.ok();
}

/// Lets a held simulator request go: a request whose prompt holds `text`.
async fn release(sim: &Simulator, text: &str) {
    let r = orc::backend::http_client()
        .post(format!("{}/api/chat", sim.url()))
        .json(&json!({"model": "qwen3:0.6b", "stream": false,
                      "messages": [{"role": "user", "content": text}]}))
        .send()
        .await
        .expect("release");
    assert!(r.status().is_success());
}

/// The same heartbeat over streamable HTTP: progress events arrive on the call's stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_over_http() {
    use tokio::io::AsyncBufReadExt;
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "slow",
        "name: slow\nagents:\n  - name: thinker\n    model_profile: tiny\n    system_prompt: \"[[sim:hold_until=release-http]]\"\n",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let token_file = p.dir.path().join("token");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_orc"))
        .args(["mcp", "serve", "--heartbeat", "0.05", "--http"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--token-file")
        .arg(&token_file)
        .current_dir(p.root())
        .env("HOME", p.home())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("ORC_MCP_TOKEN")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut err = tokio::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut banner = String::new();
    while !banner.contains("Authorization: Bearer") {
        let n = err.read_line(&mut banner).await.expect("read");
        assert!(n > 0, "the server ended: {banner}");
    }
    tokio::spawn(async move {
        let mut sink = String::new();
        while err.read_line(&mut sink).await.is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    let token = std::fs::read_to_string(&token_file)
        .expect("token")
        .trim()
        .to_string();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let http = orc::backend::http_client();
    let post = |body: Value, session: Option<String>| {
        let mut r = http
            .post(&url)
            .header("Authorization", format!("Bearer {token}"))
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .json(&body);
        if let Some(s) = session {
            r = r
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", "2025-06-18");
        }
        r.send()
    };
    let init = post(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}), None)
        .await
        .expect("initialize");
    let session = init
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let _ = init.text().await;
    post(
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        session.clone(),
    )
    .await
    .expect("initialized");
    let mut stream = post(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "invoke", "arguments": {"ensemble_name": "slow", "input_data": "x"},
            "_meta": {"progressToken": "t1"}}}),
        session,
    )
    .await
    .expect("call");
    let mut seen = String::new();
    let mut released = false;
    while let Some(chunk) = stream.chunk().await.expect("chunk") {
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if !released && seen.matches("running: thinker (").count() >= 2 {
            released = true;
            release(&sim, "release-http").await;
        }
        if seen.contains("\"id\":2") && seen.contains("\"result\"") {
            break;
        }
    }
    assert!(released, "no heartbeat came: {seen}");
    assert!(seen.contains("notifications/progress"), "{seen}");
    assert!(seen.contains("\"status\":\"success\""), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_core_surface_is_small_and_every_tool_is_annotated() {
    let p = TestProject::new();
    for (extra, all) in [(&[][..], false), (&["--all-tools"][..], true)] {
        let c = connect(&p, extra).await;
        let tools = c.list_all_tools().await.expect("tools");
        let size = serde_json::to_string(&tools).map_or(0, |s| s.len());
        for t in &tools {
            let a = t
                .annotations
                .as_ref()
                .unwrap_or_else(|| panic!("{} has none", t.name));
            assert!(
                a.read_only_hint.is_some()
                    && a.destructive_hint.is_some()
                    && a.idempotent_hint.is_some(),
                "{}: {a:?}",
                t.name
            );
        }
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        let ro = |n: &str| {
            tools
                .iter()
                .find(|t| t.name == n)
                .and_then(|t| t.annotations.as_ref())
                .and_then(|a| a.read_only_hint)
        };
        assert_eq!(ro("run_result"), Some(true));
        assert_eq!(ro("invoke"), Some(false));
        if all {
            assert!(tools.len() >= 44, "{names:?}");
            assert!(names.contains(&"promote_ensemble"));
        } else {
            assert!(size <= 10_000, "the core definitions are {size} characters");
            for t in [
                "route_task",
                "invoke",
                "run_status",
                "run_result",
                "should_evaluate",
                "record_evaluation",
                "record_feedback",
                "learning_report",
                "list_ensembles",
                "validate_ensemble",
            ] {
                assert!(names.contains(&t), "{t} is core: {names:?}");
            }
            assert!(!names.contains(&"delete_ensemble"), "{names:?}");
            let r = c
                .call_tool(params("delete_ensemble", json!({"ensemble_name": "x"})))
                .await;
            assert!(
                r.is_err(),
                "a tool outside the core set is not served: {r:?}"
            );
        }
        c.cancel().await.ok();
    }
    // `orc mcp install` registers the core set unless told otherwise.
    let r = common::orc_on_path(&p, &p.root(), &["mcp", "install", "--command", "orc"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let cfg: Value = serde_json::from_str(
        &std::fs::read_to_string(p.root().join(".mcp.json")).expect("mcp.json"),
    )
    .expect("json");
    assert_eq!(cfg["mcpServers"]["orc"]["args"], json!(["mcp", "serve"]));
    let r = common::orc_on_path(
        &p,
        &p.root(),
        &[
            "mcp",
            "install",
            "--command",
            "orc",
            "--all-tools",
            "--force",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let cfg: Value = serde_json::from_str(
        &std::fs::read_to_string(p.root().join(".mcp.json")).expect("mcp.json"),
    )
    .expect("json");
    assert_eq!(
        cfg["mcpServers"]["orc"]["args"],
        json!(["mcp", "serve", "--all-tools"])
    );
}
