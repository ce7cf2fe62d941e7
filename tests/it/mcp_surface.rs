//! The MCP surface pinned whole: `tools/list` and one reply of every tool of
//! `orc mcp serve --all-tools`, called in a story over one fixture project (a simulator, one
//! library), each reply an insta snapshot (`snapshots/it__mcp_surface__*.snap`) of its pretty
//! JSON with what changes per run redacted: the temp paths (`[ROOT]`, `[HOME]`, `[TMP]`), the
//! simulator's port, ids, times and durations (`[<key>]`).

use std::path::Path;

use crate::common;

use common::{TestProject, native_config, write_file};
use orc::testkit::sim::{SimConfig, Simulator};
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

/// Keys whose values change per run (ids, clocks, durations, sizes of timed things).
const VOLATILE: &[&str] = &[
    "run_id",
    "routing_id",
    "artifact_id",
    "id",
    "timestamp",
    "started_at",
    "completed_at",
    "finished_at",
    "created_at",
    "updated_at",
    "modified",
    "recorded_at",
    "duration",
    "duration_ms",
    "duration_seconds",
    "elapsed_ms",
    "execution_time",
    "latency_ms",
    "wall_ms",
    // The tokens of a reply that holds ids and times.
    "result_tokens",
    // Counts the MCP calls, and the story polls run_status until its run has finished.
    "delegation_calls",
];

/// A key of [`VOLATILE`], or by its suffix a clock or a duration (`_at`, `_ms`, `_ns`, `_s`) or a
/// token count and the estimates made from it.
fn volatile(key: &str) -> bool {
    VOLATILE.contains(&key)
        // Token counts and what is estimated from them: the log counts the tokens of replies
        // that hold random ids, whose o200k token count changes per run.
        || ["_at", "_ms", "_ns", "_s", "_seconds", "_secs", "_tokens", "tokens", "_estimate", "usd", "efficiency", "saving", "saved"]
            .iter()
            .any(|s| key.ends_with(s))
}

/// What a reply prints with the run's own values replaced.
struct Redactor {
    /// (text, replacement), longest first when applied.
    subs: Vec<(String, String)>,
}

impl Redactor {
    fn new(p: &TestProject, sim_url: &str) -> Redactor {
        let mut subs = Vec::new();
        for (dir, name) in [
            (p.root(), "[ROOT]"),
            (p.home(), "[HOME]"),
            (p.dir.path().to_path_buf(), "[TMP]"),
        ] {
            subs.push((dir.display().to_string(), name.to_string()));
        }
        subs.push((sim_url.to_string(), "http://[SIM]".to_string()));
        subs.push((
            sim_url.trim_start_matches("http://").to_string(),
            "[SIM]".to_string(),
        ));
        Redactor { subs }
    }

    /// Records the volatile values of `v` (to replace wherever they reappear) and blanks them.
    fn learn(&mut self, v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.shift_remove("paired");
                m.shift_remove("pair_steps");
                for (k, x) in m.iter_mut() {
                    if volatile(k) && !x.is_null() {
                        if let Value::String(s) = x
                            && s.len() >= 6
                            && !self.subs.iter().any(|(a, _)| a == s)
                        {
                            self.subs.push((s.clone(), format!("[{k}]")));
                        }
                        *x = Value::String(format!("[{k}]"));
                    } else {
                        self.learn(x);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.learn(x)),
            _ => {}
        }
    }

    fn text(&self, s: &str) -> String {
        let mut subs: Vec<&(String, String)> = self.subs.iter().collect();
        subs.sort_by_key(|(a, _)| std::cmp::Reverse(a.len()));
        let mut out = s.to_string();
        for (a, b) in subs {
            out = out.replace(a.as_str(), b);
        }
        common::redact_runs(&out)
    }

    /// The reply as the snapshot shows it: pretty JSON, redacted.
    fn reply(&mut self, mut v: Value) -> String {
        self.learn(&mut v);
        let text = serde_json::to_string_pretty(&v).unwrap_or_default();
        self.text(&text)
    }
}

type Conn = RunningService<RoleClient, ()>;

/// Calls `tool`, snapshots its whole reply (error flag, structured content, content) and
/// returns the structured content, unredacted, for the next calls' arguments.
async fn call(c: &Conn, r: &mut Redactor, tool: &str, args: Value) -> Value {
    let mut params = CallToolRequestParams::new(tool.to_string());
    if let Value::Object(m) = args.clone() {
        params = params.with_arguments(m);
    }
    let res = c
        .call_tool(params)
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    let structured = res.structured_content.clone().unwrap_or(Value::Null);
    let content = serde_json::to_value(&res.content).unwrap_or(Value::Null);
    // The text content is usually the structured content as JSON: said so, not repeated.
    let texts: Vec<Value> = content
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|item| match item["text"].as_str() {
            Some(t) if serde_json::from_str::<Value>(t).ok().as_ref() == Some(&structured) => {
                json!("(the structured content, as JSON text)")
            }
            _ => item,
        })
        .collect();
    let shown = json!({
        "tool": tool,
        "arguments": args,
        "isError": res.is_error.unwrap_or(false),
        "structuredContent": structured,
        "content": texts,
    });
    insta::assert_snapshot!(tool.to_string(), r.reply(shown));
    structured
}

fn fixture(sim_url: &str) -> TestProject {
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
        r#"
            name: extract-names
            description: Extract the names of people from a text
            agents:
              - name: extractor
                model_profile: tiny
                system_prompt: "[[fake:reply=Names: Ada, Bob]]"
        "#,
    );
    write_file(
        &p.dir.path().join("lib/ensembles/research/summary.yaml"),
        "name: summary\ndescription: Summarise a paper\nagents:\n  - name: s\n    model_profile: tiny\n",
    );
    write_file(
        &p.dir.path().join("lib/scripts/text/split.py"),
        "print('{}')\n",
    );
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_reply_is_pinned() {
    let sim = Simulator::start(
        SimConfig {
            models: vec!["qwen3:0.6b".into(), "gemma3:1b".into()],
            ..SimConfig::default()
        },
        0,
    )
    .await
    .expect("sim");
    let p = fixture(&sim.url());
    let mut cmd = common::mcp::serve_command(&p);
    cmd.env("LLM_ORC_LIBRARY_PATH", p.dir.path().join("lib"))
        .env(
            "OLLAMA_HOST",
            Path::new(sim.url().trim_start_matches("http://")),
        );
    let c: Conn = ().serve(TokioChildProcess::new(cmd).expect("spawn")).await.expect("initialize");
    let mut r = Redactor::new(&p, &sim.url());

    let tools = c.list_all_tools().await.expect("tools");
    let listed = serde_json::to_value(&tools).expect("tools as JSON");
    insta::assert_snapshot!("tools_list", r.reply(listed));
    assert_eq!(tools.len(), 44, "every tool is called below");

    // The project and its ensembles.
    call(&c, &mut r, "get_help", json!({})).await;
    call(&c, &mut r, "set_project", json!({"path": p.root()})).await;
    call(&c, &mut r, "list_ensembles", json!({})).await;
    call(
        &c,
        &mut r,
        "validate_ensemble",
        json!({"ensemble_name": "extract-names"}),
    )
    .await;
    call(
        &c,
        &mut r,
        "check_ensemble_runnable",
        json!({"ensemble_name": "extract-names"}),
    )
    .await;
    call(
        &c,
        &mut r,
        "list_dependencies",
        json!({"ensemble_name": "extract-names"}),
    )
    .await;
    call(
        &c,
        &mut r,
        "create_ensemble",
        json!({"name": "draft", "description": "a draft", "agents": [{"name": "a", "model_profile": "tiny"}]}),
    )
    .await;
    call(
        &c,
        &mut r,
        "update_ensemble",
        json!({"ensemble_name": "draft", "changes": {"description": "a better draft"}, "dry_run": false, "backup": false}),
    )
    .await;
    call(
        &c,
        &mut r,
        "delete_ensemble",
        json!({"ensemble_name": "draft", "confirm": true}),
    )
    .await;

    // Profiles.
    call(&c, &mut r, "list_profiles", json!({})).await;
    call(
        &c,
        &mut r,
        "create_profile",
        json!({"name": "spare", "provider": "ollama", "model": "gemma3:1b"}),
    )
    .await;
    call(
        &c,
        &mut r,
        "update_profile",
        json!({"name": "spare", "changes": {"temperature": 0.2}}),
    )
    .await;
    call(
        &c,
        &mut r,
        "delete_profile",
        json!({"name": "spare", "confirm": true}),
    )
    .await;
    call(&c, &mut r, "get_provider_status", json!({})).await;

    // Scripts.
    call(
        &c,
        &mut r,
        "create_script",
        json!({"name": "splitter", "category": "text", "template": "splitter"}),
    )
    .await;
    call(&c, &mut r, "list_scripts", json!({})).await;
    call(
        &c,
        &mut r,
        "get_script",
        json!({"name": "splitter", "category": "text"}),
    )
    .await;
    call(
        &c,
        &mut r,
        "test_script",
        json!({"name": "splitter", "category": "text", "input": "One. Two!"}),
    )
    .await;
    call(
        &c,
        &mut r,
        "delete_script",
        json!({"name": "splitter", "category": "text", "confirm": true}),
    )
    .await;

    // The library.
    call(&c, &mut r, "library_info", json!({})).await;
    call(
        &c,
        &mut r,
        "library_browse",
        json!({"browse_type": "ensembles"}),
    )
    .await;
    call(&c, &mut r, "library_search", json!({"query": "paper"})).await;
    call(
        &c,
        &mut r,
        "library_copy",
        json!({"source": "ensembles/research/summary"}),
    )
    .await;

    // Routing, a run, its artifact and the learning loop.
    call(
        &c,
        &mut r,
        "route_task",
        json!({"task": "Extract the names in this memo"}),
    )
    .await;
    let input = "Memo: Ada met Bob. [[fake:reply=Both names are there.\nVERDICT: good]]";
    let run = call(
        &c,
        &mut r,
        "invoke",
        json!({"ensemble_name": "extract-names", "input_data": input, "task_type": "extraction", "task_summary": "names"}),
    )
    .await;
    let routing_id = run["routing_id"].as_str().expect("routing_id").to_string();
    let artifact_id = run["artifact_id"].as_str().unwrap_or_default().to_string();
    let started = c
        .call_tool(
            CallToolRequestParams::new("invoke").with_arguments(
                json!({"ensemble_name": "extract-names", "input_data": "x", "async": true})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        )
        .await
        .expect("invoke async");
    let run_id = started.structured_content.unwrap_or_default()["run_id"]
        .as_str()
        .expect("run_id")
        .to_string();
    // Until the run has finished (the snapshots show a finished run).
    for _ in 0..600 {
        let s = c
            .call_tool(
                CallToolRequestParams::new("run_status").with_arguments(
                    json!({"run_id": run_id})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                ),
            )
            .await
            .expect("run_status");
        if s.structured_content.unwrap_or_default()["status"] != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    call(&c, &mut r, "run_status", json!({"run_id": run_id})).await;
    call(&c, &mut r, "run_result", json!({"run_id": run_id})).await;
    call(&c, &mut r, "cancel_run", json!({"run_id": run_id})).await;
    call(
        &c,
        &mut r,
        "analyze_execution",
        json!({"artifact_id": artifact_id}),
    )
    .await;
    call(
        &c,
        &mut r,
        "record_evaluation",
        json!({"routing_id": routing_id, "score": "good", "judge": "claude-sonnet-4", "reasoning": "Right.", "judge_tokens_used": 300}),
    )
    .await;
    call(
        &c,
        &mut r,
        "record_feedback",
        json!({"routing_id": routing_id, "accepted": true}),
    )
    .await;
    call(
        &c,
        &mut r,
        "record_claude_task",
        json!({"task": "Explain the launch plan", "task_type": "reasoning", "input_tokens": 500, "output_tokens": 300}),
    )
    .await;
    call(
        &c,
        &mut r,
        "judge_locally",
        json!({"routing_id": routing_id, "profile": "judge"}),
    )
    .await;
    call(&c, &mut r, "learning_report", json!({})).await;
    call(&c, &mut r, "learn_routing", json!({})).await;
    call(&c, &mut r, "routing_history", json!({})).await;
    call(&c, &mut r, "rollback_routing", json!({"version": 1})).await;
    call(&c, &mut r, "export_training_data", json!({"kind": "sft"})).await;

    // Promotion.
    call(
        &c,
        &mut r,
        "check_promotion_readiness",
        json!({"ensemble_name": "extract-names", "destination": "global"}),
    )
    .await;
    call(
        &c,
        &mut r,
        "promote_ensemble",
        json!({"ensemble_name": "extract-names", "destination": "global", "confirm": true, "force": true}),
    )
    .await;
    call(
        &c,
        &mut r,
        "demote_ensemble",
        json!({"ensemble_name": "extract-names", "tier": "global", "confirm": true}),
    )
    .await;

    // Last of the learning loop: its reply draws one run in five for a paired comparison at
    // random (shown without the draw), which changes what the log counts from there on.
    call(
        &c,
        &mut r,
        "should_evaluate",
        json!({"routing_id": routing_id}),
    )
    .await;

    // Artifacts last: the run's artifact goes.
    call(&c, &mut r, "cleanup_artifacts", json!({})).await;
    call(
        &c,
        &mut r,
        "delete_artifact",
        json!({"artifact_id": artifact_id, "confirm": true}),
    )
    .await;
    c.cancel().await.expect("close");
}
