//! The MCP server, driven by a real MCP client (rmcp's) over stdio against `orc mcp serve`.

use crate::common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use common::{TestProject, native_config, write_file};
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

use common::mcp::{call, failed_run, ok, refused};

type Conn = RunningService<RoleClient, Client>;

async fn connect(p: &TestProject, env: &[(&str, &Path)]) -> Conn {
    let mut cmd = common::mcp::serve_command(p);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Client::default()
        .serve(TokioChildProcess::new(cmd).expect("spawn"))
        .await
        .expect("initialize")
}

const TOOLS: &[&str] = &[
    "set_project",
    "list_ensembles",
    "create_ensemble",
    "update_ensemble",
    "delete_ensemble",
    "validate_ensemble",
    "check_ensemble_runnable",
    "invoke",
    "run_status",
    "run_result",
    "list_profiles",
    "create_profile",
    "update_profile",
    "delete_profile",
    "list_scripts",
    "create_script",
    "get_script",
    "test_script",
    "delete_script",
    "analyze_execution",
    "delete_artifact",
    "cleanup_artifacts",
    "library_browse",
    "library_search",
    "library_copy",
    "library_info",
    "get_provider_status",
    "get_help",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_every_tool() {
    let p = TestProject::new();
    let c = connect(&p, &[]).await;
    let info = c.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("orc")
    );
    let tools = c.list_all_tools().await.expect("tools");
    let names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    for t in TOOLS {
        assert!(names.iter().any(|n| n == t), "missing tool {t}: {names:?}");
    }
    let help = ok(&c, "get_help", json!({})).await;
    assert!(help["tools"].is_object() && help["workflows"].is_object());
    c.cancel().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_validate_invoke_analyse_delete() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    let elsewhere = p.dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    let c = connect(&p, &[]).await;
    let r = ok(&c, "set_project", json!({"path": p.root()})).await;
    assert_eq!(r["status"], "ok");
    let r = ok(&c, "set_project", json!({"path": "/no/such/dir"})).await;
    assert_eq!(r["status"], "error");
    ok(&c, "set_project", json!({"path": p.root()})).await;

    let created = ok(
        &c,
        "create_ensemble",
        json!({"name": "review", "description": "two readers and a judge", "agents": [
            {"name": "a", "model_profile": "tiny"},
            {"name": "b", "model_profile": "tiny"},
            {"name": "judge", "model_profile": "small", "depends_on": ["a", "b"]}
        ]}),
    )
    .await;
    assert_eq!(created["created"], true);
    assert_eq!(created["valid"], true, "{created}");
    let listed = ok(&c, "list_ensembles", json!({})).await;
    assert!(listed["result"].as_array().is_some_and(|a| {
        a.iter()
            .any(|e| e["name"] == "review" && e["agent_count"] == 3)
    }));
    let v = ok(&c, "validate_ensemble", json!({"ensemble_name": "review"})).await;
    assert_eq!(v["valid"], true);
    assert_eq!(v["details"]["pattern"], "fan-in");

    // An update that breaks the ensemble is refused; a good one is applied.
    let e = refused(&c, "update_ensemble", json!({"ensemble_name": "review", "changes": {"agents": [{"name": "x", "model_profile": "tiny", "depends_on": ["ghost"]}]}, "dry_run": false})).await;
    assert!(e.contains("unknown agent `ghost`"), "{e}");
    let u = ok(
        &c,
        "update_ensemble",
        json!({"ensemble_name": "review", "changes": {"description": "updated"}, "dry_run": false}),
    )
    .await;
    assert_eq!(u["modified"], true);
    assert!(
        std::fs::read_to_string(p.root().join(".llm-orc/ensembles/review.yaml"))
            .expect("read")
            .contains("updated")
    );
    assert!(
        p.root()
            .join(".llm-orc/ensembles/review.yaml.bak")
            .is_file()
    );

    let run = ok(
        &c,
        "invoke",
        json!({"ensemble_name": "review", "input_data": "some text"}),
    )
    .await;
    assert_eq!(run["status"], "success", "{run}");
    assert!(run["deliverable"].as_str().is_some_and(|d| !d.is_empty()));
    let id = run["artifact_id"]
        .as_str()
        .expect("artifact id")
        .to_string();
    let sent: u64 = sim
        .requests()
        .iter()
        .map(|r| r.prompt_eval_count.unwrap_or(0))
        .sum();
    assert_eq!(run["usage"]["input_tokens"], sent);

    let a = ok(
        &c,
        "analyze_execution",
        json!({"artifact_id": "review/latest"}),
    )
    .await;
    assert_eq!(a["analysis"]["successful_agents"], 3);
    assert_eq!(a["metrics"]["agent_success_rate"], 1.0);
    assert!(a["metrics"]["total_tokens"].as_u64().is_some_and(|t| t > 0));
    let e = refused(&c, "delete_artifact", json!({"artifact_id": id})).await;
    assert!(e.contains("Confirmation required"), "{e}");
    let d = ok(
        &c,
        "delete_artifact",
        json!({"artifact_id": id, "confirm": true}),
    )
    .await;
    assert_eq!(d["deleted"], true);
    assert!(!p.root().join(".llm-orc/artifacts").join(&id).exists());
    let cl = ok(&c, "cleanup_artifacts", json!({"older_than_days": 0})).await;
    assert_eq!(cl["dry_run"], true);

    let e = refused(&c, "delete_ensemble", json!({"ensemble_name": "review"})).await;
    assert!(e.contains("Confirmation required"), "{e}");
    ok(
        &c,
        "delete_ensemble",
        json!({"ensemble_name": "review", "confirm": true}),
    )
    .await;
    assert!(!p.root().join(".llm-orc/ensembles/review.yaml").exists());
    let e = refused(&c, "validate_ensemble", json!({"ensemble_name": "review"})).await;
    assert!(e.contains("ensemble `review` not found"), "{e}");
    c.cancel().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_reports_progress_and_runs_asynchronously() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = common::peer_project();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    let c = connect(&p, &[]).await;
    // Progress notifications for a call that carries a progress token.
    let mut params = CallToolRequestParams::new("invoke");
    params = params.with_arguments(
        json!({"ensemble_name": "peer-fanin", "input_data": "x"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    );
    let handle = c
        .send_cancellable_request(
            ClientRequest::CallToolRequest(Request::new(params)),
            PeerRequestOptions::no_options(),
        )
        .await
        .expect("send");
    let response = handle.await_response().await.expect("response");
    let ServerResult::CallToolResult(result) = response else {
        panic!("unexpected {response:?}")
    };
    assert_eq!(
        result
            .structured_content
            .as_ref()
            .map(|v| v["status"].clone()),
        Some(json!("success"))
    );
    // The client handles notifications on its own task: the last may land just after the
    // response, so wait (boundedly) for all of them.
    for _ in 0..500 {
        if c.service().progress.lock().expect("lock").len() >= 9 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let progress = c.service().progress.lock().expect("lock").clone();
    assert_eq!(
        progress.len(),
        9,
        "one notification per agent: {progress:?}"
    );
    let max = progress.iter().map(|p| p.progress).fold(0.0, f64::max);
    assert_eq!(max, 9.0);
    assert!(progress.iter().all(|p| p.total == Some(9.0)));

    // Async: a run id at once; status until done; then the result.
    let started = ok(
        &c,
        "invoke",
        json!({"ensemble_name": "peer-swarm", "input_data": "x", "async": true}),
    )
    .await;
    assert_eq!(started["status"], "running");
    let run_id = started["run_id"].as_str().expect("run id").to_string();
    let mut status = Value::Null;
    for _ in 0..500 {
        status = ok(&c, "run_status", json!({"run_id": run_id})).await;
        if status["done"] == true {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status["done"], true, "{status}");
    assert_eq!(status["status"], "success", "{status}");
    assert_eq!(status["executor_status"], "completed", "{status}");
    assert_eq!(status["agents_finished"], 37, "{status}");
    let result = ok(&c, "run_result", json!({"run_id": run_id})).await;
    assert_eq!(result["status"], "success");
    assert_eq!(result["agents"].as_object().map(|m| m.len()), Some(37));
    let e = refused(&c, "run_status", json!({"run_id": "nope"})).await;
    assert!(e.contains("Run not found"), "{e}");
    c.cancel().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_paths_never_escape() {
    let p = TestProject::new();
    p.with_profiles();
    let outside = p.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&outside, p.root().join(".llm-orc/ensembles/linked"))
        .expect("symlink");
    let c = connect(&p, &[]).await;
    for bad in [
        "../evil",
        "/tmp/evil",
        "a/../../evil",
        "linked/evil",
        "nul\u{0}byte",
        &"x".repeat(300),
    ] {
        let e = refused(&c, "create_ensemble", json!({"name": bad, "agents": []})).await;
        assert!(
            e.contains("invalid name") || e.contains("resolves outside"),
            "{bad}: {e}"
        );
    }
    assert!(
        std::fs::read_dir(&outside).expect("read").next().is_none(),
        "nothing was written outside"
    );
    for (tool, args) in [
        (
            "create_profile",
            json!({"name": "../p", "provider": "ollama", "model": "m"}),
        ),
        ("create_script", json!({"name": "../../x", "category": ""})),
        (
            "get_script",
            json!({"name": "passwd", "category": "../../../../etc"}),
        ),
        ("analyze_execution", json!({"artifact_id": "../../x"})),
        ("library_copy", json!({"source": "../../etc/passwd"})),
        (
            "cleanup_artifacts",
            json!({"ensemble_name": "../x", "dry_run": false}),
        ),
    ] {
        let e = refused(&c, tool, args).await;
        assert!(
            e.contains("invalid") || e.contains("not found") || e.contains("Invalid"),
            "{tool}: {e}"
        );
    }
    // Bad arguments and unknown things are tool errors; the server keeps serving.
    let r = c
        .call_tool(CallToolRequestParams::new("validate_ensemble"))
        .await;
    assert!(r.is_err() || r.as_ref().is_ok_and(|r| r.is_error == Some(true)));
    let e = refused(
        &c,
        "invoke",
        json!({"ensemble_name": "nope", "input_data": "x"}),
    )
    .await;
    assert!(e.contains("not found"), "{e}");
    let h = ok(&c, "get_help", json!({})).await;
    assert!(h.is_object());
    c.cancel().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_scripts_library_and_providers() {
    let sim = Simulator::start(
        SimConfig {
            models: vec!["qwen3:0.6b".into(), "gemma3:4b".into(), "gemma3:12b".into()],
            ..SimConfig::default()
        },
        0,
    )
    .await
    .expect("sim");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    let lib = p.dir.path().join("lib");
    write_file(
        &lib.join("ensembles/research/summary.yaml"),
        "name: summary\ndescription: Summarise a paper\nagents:\n  - name: s\n    model_profile: tiny\n",
    );
    write_file(&lib.join("scripts/text/split.py"), "print('{}')\n");
    let c = connect(
        &p,
        &[
            ("LLM_ORC_LIBRARY_PATH", &lib),
            (
                "OLLAMA_HOST",
                Path::new(sim.url().trim_start_matches("http://")),
            ),
        ],
    )
    .await;

    // Profiles: config.yaml ones are listed; files are created, updated, deleted.
    let lp = ok(&c, "list_profiles", json!({})).await;
    assert_eq!(lp["profiles"].as_array().map(Vec::len), Some(2));
    ok(
        &c,
        "create_profile",
        json!({"name": "big", "provider": "ollama", "model": "gemma3:27b", "temperature": 0.2}),
    )
    .await;
    let e = refused(
        &c,
        "create_profile",
        json!({"name": "big", "provider": "ollama", "model": "x"}),
    )
    .await;
    assert!(e.contains("already exists"), "{e}");
    ok(
        &c,
        "update_profile",
        json!({"name": "big", "changes": {"max_tokens": 99}}),
    )
    .await;
    let text =
        std::fs::read_to_string(p.root().join(".llm-orc/profiles/big.yaml")).expect("profile file");
    assert!(
        text.contains("max_tokens: 99") && text.contains("gemma3:27b"),
        "{text}"
    );
    let e = refused(
        &c,
        "update_profile",
        json!({"name": "tiny", "changes": {"model": "x"}}),
    )
    .await;
    assert!(e.contains("config.yaml"), "{e}");
    let lp = ok(&c, "list_profiles", json!({"provider": "ollama"})).await;
    assert_eq!(lp["profiles"].as_array().map(Vec::len), Some(3));

    // Runnable check: a missing model gets the installed model of the nearest size.
    ok(&c, "create_ensemble", json!({"name": "needs-big", "agents": [{"name": "a", "model_profile": "big"}, {"name": "b", "model_profile": "tiny"}]})).await;
    let rc = ok(
        &c,
        "check_ensemble_runnable",
        json!({"ensemble_name": "needs-big"}),
    )
    .await;
    assert_eq!(rc["runnable"], false);
    let a = rc["agents"]
        .as_array()
        .and_then(|v| v.iter().find(|a| a["name"] == "a"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(a["status"], "missing");
    assert_eq!(a["alternatives"][0], "gemma3:12b");
    assert_eq!(a["hint"], "ollama pull gemma3:27b");
    let ps = ok(&c, "get_provider_status", json!({})).await;
    assert_eq!(ps["providers"]["ollama"]["available"], true);
    assert_eq!(ps["providers"]["ollama"]["model_count"], 3);
    ok(
        &c,
        "delete_profile",
        json!({"name": "big", "confirm": true}),
    )
    .await;

    // Scripts.
    ok(
        &c,
        "create_script",
        json!({"name": "splitter", "category": "text", "template": "splitter"}),
    )
    .await;
    let ls = ok(&c, "list_scripts", json!({})).await;
    assert!(ls["scripts"].as_array().is_some_and(|a| {
        a.iter()
            .any(|s| s["name"] == "splitter" && s["category"] == "text")
    }));
    let gs = ok(
        &c,
        "get_script",
        json!({"name": "splitter", "category": "text"}),
    )
    .await;
    assert!(
        gs["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("Split the input"))
    );
    let ts = ok(
        &c,
        "test_script",
        json!({"name": "splitter", "category": "text", "input": "One. Two!"}),
    )
    .await;
    assert_eq!(ts["success"], true);
    assert_eq!(
        ts["output"],
        "{\"success\": true, \"data\": [\"One.\", \"Two!\"]}"
    );
    ok(
        &c,
        "delete_script",
        json!({"name": "splitter", "category": "text", "confirm": true}),
    )
    .await;

    // Library.
    let info = ok(&c, "library_info", json!({})).await;
    assert_eq!(info["exists"], true);
    assert_eq!(info["ensembles_count"], 1);
    let b = ok(
        &c,
        "library_browse",
        json!({"browse_type": "ensembles", "category": "research"}),
    )
    .await;
    assert_eq!(b["ensembles"][0]["name"], "summary");
    let s = ok(&c, "library_search", json!({"query": "PAPER"})).await;
    assert_eq!(s["total"], 1);
    assert_eq!(s["results"]["ensembles"][0]["match"], "description");
    ok(
        &c,
        "library_copy",
        json!({"source": "ensembles/research/summary.yaml"}),
    )
    .await;
    assert!(p.root().join(".llm-orc/ensembles/summary.yaml").is_file());
    let e = refused(
        &c,
        "library_copy",
        json!({"source": "ensembles/research/summary"}),
    )
    .await;
    assert!(e.contains("already exists"), "{e}");
    c.cancel().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_ollama_is_a_clear_answer_not_a_crash() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        &native_config(&format!("http://127.0.0.1:{port}")),
    );
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n",
    );
    let c = connect(&p, &[]).await;
    let ps = ok(&c, "get_provider_status", json!({})).await;
    let hosts = ps["providers"]["ollama"]["hosts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        hosts.iter().any(|h| h["available"] == false
            && h["reason"]
                .as_str()
                .is_some_and(|r| r.contains("cannot reach"))),
        "{ps}"
    );
    let rc = ok(&c, "check_ensemble_runnable", json!({"ensemble_name": "e"})).await;
    assert_eq!(rc["runnable"], false);
    let run = failed_run(
        &c,
        "invoke",
        json!({"ensemble_name": "e", "input_data": "x"}),
    )
    .await;
    assert!(
        run["agents"]["a"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot reach")),
        "{run}"
    );
    c.cancel().await.expect("close");
}

/// Streamable HTTP on loopback: initialise, then list tools in the session; non-loopback refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamable_http_on_loopback() {
    let p = TestProject::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_orc"))
        .args(["mcp", "serve", "--http", &format!("127.0.0.1:{port}")])
        .current_dir(p.root())
        .env("HOME", p.home())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("ORC_MCP_TOKEN")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    // Wait for the listening line on stderr.
    let mut err = tokio::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut err, &mut line)
        .await
        .expect("read");
    assert!(
        line.contains(&format!("http://127.0.0.1:{port}/mcp")),
        "{line}"
    );
    let token = std::fs::read_to_string(p.home().join(".config/orc/mcp-token"))
        .expect("token file")
        .trim()
        .to_string();
    let http = orc::backend::http_client();
    let url = format!("http://127.0.0.1:{port}/mcp");
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
    let body = init.text().await.expect("body");
    assert!(body.contains("\"serverInfo\":{\"name\":\"orc\""), "{body}");
    post(
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        session.clone(),
    )
    .await
    .expect("initialized");
    let tools = post(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        session,
    )
    .await
    .expect("tools")
    .text()
    .await
    .expect("body");
    assert!(
        tools.contains("\"name\":\"invoke\"") && tools.contains("\"name\":\"list_ensembles\""),
        "{tools}"
    );

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_orc"))
        .args(["mcp", "serve", "--http", "0.0.0.0:0"])
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_run_can_be_cancelled() {
    // Replies take a minute: the run is still going when it is cancelled.
    let sim = Simulator::start(
        SimConfig {
            ttft: std::time::Duration::from_secs(60),
            ..SimConfig::default()
        },
        0,
    )
    .await
    .expect("sim");
    let p = common::peer_project();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    let c = connect(&p, &[]).await;
    let started = ok(
        &c,
        "invoke",
        json!({"ensemble_name": "peer-fanin", "input_data": "x", "async": true}),
    )
    .await;
    let run_id = started["run_id"].as_str().expect("run id").to_string();
    let e = refused(&c, "run_result", json!({"run_id": run_id})).await;
    assert!(e.contains("still running"), "{e}");
    let cancelled = ok(&c, "cancel_run", json!({"run_id": run_id})).await;
    assert_eq!(cancelled["cancelled"], true);
    let mut result = Value::Null;
    for _ in 0..500 {
        // A finished run in error is a tool error with its result; a running one has none.
        let r = call(&c, "run_result", json!({"run_id": run_id})).await;
        if let Some(v) = r.structured_content {
            assert_eq!(r.is_error, Some(true), "{v}");
            result = v;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(result["executor_status"], "interrupted", "{result}");
    let status = ok(&c, "run_status", json!({"run_id": run_id})).await;
    assert_eq!(status["status"], "error", "{status}");
    assert_eq!(status["executor_status"], "interrupted", "{status}");
    let art = common::latest_artifact(&p, "peer-fanin");
    assert_eq!(art["status"], "interrupted");
    c.cancel().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_to_global_and_demote() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble("good", "name: good\ndescription: worth sharing\nagents:\n  - name: a\n    model_profile: tiny\n  - name: s\n    model_profile: small\n    depends_on: [a]\n");
    p.ensemble(
        "broken",
        "name: broken\ndescription: d\nagents:\n  - name: a\n    model_profile: nowhere\n",
    );
    let c = connect(&p, &[]).await;
    let deps = ok(&c, "list_dependencies", json!({"ensemble_name": "good"})).await;
    assert_eq!(deps["profiles_needed"], json!(["small", "tiny"]));
    assert_eq!(deps["models_needed"], json!(["gemma3:1b", "qwen3:0.6b"]));
    assert!(
        deps["agents"]
            .as_array()
            .is_some_and(|a| a.iter().all(|x| x["model_available"] == true)),
        "{deps}"
    );
    let r = ok(
        &c,
        "check_promotion_readiness",
        json!({"ensemble_name": "good", "destination": "global"}),
    )
    .await;
    assert_eq!(r["ready"], false, "no evaluations yet: {r}");
    assert_eq!(
        r["below_bar"],
        json!(["0 good evaluation(s) of the 3 the global tier needs"])
    );
    assert_eq!(r["profiles_to_copy"], json!(["tiny", "small"]));
    let e = refused(
        &c,
        "promote_ensemble",
        json!({"ensemble_name": "broken", "destination": "global", "confirm": true}),
    )
    .await;
    assert!(e.contains("Broken profile references: nowhere"), "{e}");
    let dry = ok(
        &c,
        "promote_ensemble",
        json!({"ensemble_name": "good", "destination": "global"}),
    )
    .await;
    assert_eq!(dry["status"], "dry_run");
    assert!(!p.global().join("ensembles/good.yaml").exists());
    let e = refused(
        &c,
        "promote_ensemble",
        json!({"ensemble_name": "good", "destination": "global", "dry_run": false}),
    )
    .await;
    assert!(e.contains("Confirmation required"), "{e}");
    let e = refused(
        &c,
        "promote_ensemble",
        json!({"ensemble_name": "good", "destination": "global", "confirm": true}),
    )
    .await;
    assert!(e.contains("below the bar for the global tier"), "{e}");
    assert!(!p.global().join("ensembles/good.yaml").exists());
    let done = ok(
        &c,
        "promote_ensemble",
        json!({"ensemble_name": "good", "destination": "global", "confirm": true, "force": true}),
    )
    .await;
    assert_eq!(
        done["overridden"],
        json!(["0 good evaluation(s) of the 3 the global tier needs"])
    );
    assert_eq!(done["status"], "promoted");
    assert!(p.global().join("ensembles/good.yaml").is_file());
    assert!(p.global().join("profiles/tiny.yaml").is_file());
    let e = refused(
        &c,
        "promote_ensemble",
        json!({"ensemble_name": "good", "destination": "global", "confirm": true, "force": true}),
    )
    .await;
    assert!(e.contains("already exists at global tier"), "{e}");
    let e = refused(
        &c,
        "promote_ensemble",
        json!({"ensemble_name": "good", "destination": "elsewhere"}),
    )
    .await;
    assert!(e.contains("destination must be"), "{e}");
    let preview = ok(
        &c,
        "demote_ensemble",
        json!({"ensemble_name": "good", "tier": "global", "remove_orphaned_profiles": true}),
    )
    .await;
    assert_eq!(preview["status"], "preview");
    assert_eq!(
        preview["would_remove"]["orphaned_profiles"],
        json!(["small", "tiny"])
    );
    let gone = ok(&c, "demote_ensemble", json!({"ensemble_name": "good", "tier": "global", "remove_orphaned_profiles": true, "confirm": true})).await;
    assert_eq!(gone["status"], "demoted");
    assert!(
        !p.global().join("ensembles/good.yaml").exists()
            && !p.global().join("profiles/tiny.yaml").exists()
    );
    assert!(
        p.root().join(".llm-orc/ensembles/good.yaml").is_file(),
        "the project's copy is untouched"
    );
    c.cancel().await.expect("close");
}

// ------------------------------------------------------------------ issue 13: attacks on MCP

/// `library_copy`'s destination is a name inside `.llm-orc/ensembles/`: it can no longer
/// replace the project's config.yaml or leave the folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_copy_stays_in_the_ensembles_folder() {
    let p = TestProject::new();
    p.with_profiles();
    let config_before =
        std::fs::read_to_string(p.root().join(".llm-orc/config.yaml")).expect("config");
    let lib = p.dir.path().join("lib");
    write_file(
        &lib.join("ensembles/research/summary.yaml"),
        "name: summary\ndescription: Summarise\nagents:\n  - name: s\n    model_profile: tiny\n",
    );
    write_file(&lib.join("scripts/text/split.py"), "print('{}')\n");
    let c = connect(&p, &[("LLM_ORC_LIBRARY_PATH", &lib)]).await;

    let r = ok(
        &c,
        "library_copy",
        json!({"source": "ensembles/research/summary.yaml", "destination": "config.yaml", "overwrite": true}),
    )
    .await;
    assert!(
        r["destination"]
            .as_str()
            .is_some_and(|d| d.ends_with(".llm-orc/ensembles/config.yaml")),
        "{r}"
    );
    assert_eq!(
        std::fs::read_to_string(p.root().join(".llm-orc/config.yaml")).expect("config"),
        config_before,
        "the project's config is untouched"
    );
    // A relative path inside the folder, `.yaml` appended.
    ok(
        &c,
        "library_copy",
        json!({"source": "ensembles/research/summary", "destination": "team/digest"}),
    )
    .await;
    assert!(
        p.root()
            .join(".llm-orc/ensembles/team/digest.yaml")
            .is_file()
    );
    // Scripts land in scripts/, with their extension.
    ok(
        &c,
        "library_copy",
        json!({"source": "scripts/text/split.py", "destination": "text/splitter"}),
    )
    .await;
    assert!(p.root().join(".llm-orc/scripts/text/splitter.py").is_file());
    for bad in [
        "../config.yaml",
        "../../outside",
        "/tmp/evil.yaml",
        "a/../../x",
    ] {
        let e = refused(
            &c,
            "library_copy",
            json!({"source": "ensembles/research/summary", "destination": bad, "overwrite": true}),
        )
        .await;
        assert!(e.contains("invalid name"), "{bad}: {e}");
        assert!(e.contains(".llm-orc/ensembles"), "{bad}: {e}");
    }
    assert_eq!(
        std::fs::read_to_string(p.root().join(".llm-orc/config.yaml")).expect("config"),
        config_before
    );
    assert!(!p.dir.path().join("outside.yaml").exists());
    c.cancel().await.expect("close");
}

/// `set_project` needs a project (or `init: true`), and never makes one in a system directory
/// or the home directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_project_needs_a_project_or_an_init() {
    let p = TestProject::new();
    let plain = p.dir.path().join("plain");
    std::fs::create_dir_all(&plain).expect("mkdir");
    let c = connect(&p, &[]).await;

    for dir in [plain.as_path(), Path::new("/"), Path::new("/etc")] {
        let r = ok(&c, "set_project", json!({"path": dir})).await;
        assert_eq!(r["status"], "error", "{}: {r}", dir.display());
        assert!(
            r["error"]
                .as_str()
                .is_some_and(|e| e.contains("not an orc project") && e.contains("init: true")),
            "{r}"
        );
    }
    // The server stayed on its project: creating an ensemble writes there, not in `plain`.
    ok(
        &c,
        "create_ensemble",
        json!({"name": "here", "agents": [{"name": "a", "model_profile": "tiny"}]}),
    )
    .await;
    assert!(p.root().join(".llm-orc/ensembles/here.yaml").is_file());
    assert!(!plain.join(".llm-orc").exists());

    for (dir, why) in [
        (Path::new("/"), "filesystem root"),
        (Path::new("/etc"), "system directory"),
        (Path::new("/usr/bin"), "system directory"),
        (p.home().as_path(), "home directory"),
    ] {
        let r = ok(&c, "set_project", json!({"path": dir, "init": true})).await;
        assert_eq!(r["status"], "error", "{}: {r}", dir.display());
        assert!(
            r["error"].as_str().is_some_and(|e| e.contains(why)),
            "{}: {r}",
            dir.display()
        );
    }
    assert!(!p.home().join(".llm-orc").exists());

    // An explicit init makes the project and switches to it.
    let r = ok(&c, "set_project", json!({"path": plain, "init": true})).await;
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(r["initialized"], true);
    assert!(plain.join(".llm-orc/config.yaml").is_file());
    ok(
        &c,
        "create_ensemble",
        json!({"name": "there", "agents": [{"name": "a", "model_profile": "tiny"}]}),
    )
    .await;
    assert!(plain.join(".llm-orc/ensembles/there.yaml").is_file());
    // A project's .llm-orc directory names the project too.
    let r = ok(
        &c,
        "set_project",
        json!({"path": p.root().join(".llm-orc")}),
    )
    .await;
    assert_eq!(r["status"], "ok", "{r}");
    let listed = ok(&c, "list_ensembles", json!({})).await;
    assert!(
        listed["result"]
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["name"] == "here")),
        "{listed}"
    );
    c.cancel().await.expect("close");
}

/// "Not found" answers carry the did-you-mean the CLI gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_answers_suggest_the_nearest_name() {
    let p = TestProject::new();
    p.with_profiles();
    p.ensemble(
        "review",
        "name: review\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n",
    );
    p.write(
        ".llm-orc/profiles/analyst.yaml",
        "name: analyst\nprovider: ollama\nmodel: m\n",
    );
    p.write(".llm-orc/scripts/text/splitter.py", "print('{}')\n");
    p.write(
        ".llm-orc/artifacts/review/20250101-120000-000/execution.json",
        "{\"ensemble\": \"review\", \"results\": {}}",
    );
    let lib = p.dir.path().join("lib");
    write_file(
        &lib.join("ensembles/research/summary.yaml"),
        "name: summary\ndescription: S\nagents:\n  - name: s\n    model_profile: tiny\n",
    );
    let c = connect(&p, &[("LLM_ORC_LIBRARY_PATH", &lib)]).await;
    for (tool, args, want) in [
        (
            "validate_ensemble",
            json!({"ensemble_name": "reveiw"}),
            "did you mean `review`?",
        ),
        (
            "invoke",
            json!({"ensemble_name": "reviwe", "input_data": "x"}),
            "did you mean `review`?",
        ),
        (
            "delete_ensemble",
            json!({"ensemble_name": "revue", "confirm": true}),
            "did you mean `review`?",
        ),
        (
            "update_profile",
            json!({"name": "analist", "changes": {}}),
            "did you mean `analyst`?",
        ),
        (
            "get_script",
            json!({"name": "spliter", "category": "text"}),
            "did you mean `text/splitter`?",
        ),
        (
            "analyze_execution",
            json!({"artifact_id": "reveiw/latest"}),
            "did you mean `review/latest`?",
        ),
        (
            "analyze_execution",
            json!({"artifact_id": "review/20250101-120000-001"}),
            "did you mean `review/20250101-120000-000`?",
        ),
        (
            "library_copy",
            json!({"source": "ensembles/research/sumary"}),
            "did you mean `ensembles/research/summary`?",
        ),
    ] {
        let e = refused(&c, tool, args).await;
        assert!(e.contains("not found") && e.contains(want), "{tool}: {e}");
    }
    c.cancel().await.expect("close");
}

/// Names holding control characters, newlines or bidi marks are refused by every tool that
/// takes a name, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_control_characters_are_refused() {
    let p = TestProject::new();
    p.with_profiles();
    p.ensemble(
        "review",
        "name: review\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n",
    );
    let lib = p.dir.path().join("lib");
    write_file(
        &lib.join("ensembles/evil\u{202e}lmay.yaml"),
        "name: x\ndescription: S\nagents:\n  - name: s\n    model_profile: tiny\n",
    );
    let c = connect(&p, &[("LLM_ORC_LIBRARY_PATH", &lib)]).await;
    let agents = json!([{"name": "a", "model_profile": "tiny"}]);
    for (tool, args) in [
        (
            "create_ensemble",
            json!({"name": "two\nlines", "agents": agents}),
        ),
        (
            "create_ensemble",
            json!({"name": "clear\u{1b}[2J", "agents": agents}),
        ),
        (
            "create_ensemble",
            json!({"name": "ok", "from_template": "rev\u{7}iew"}),
        ),
        (
            "validate_ensemble",
            json!({"ensemble_name": "review\u{202e}"}),
        ),
        (
            "invoke",
            json!({"ensemble_name": "rev\u{2066}iew", "input_data": "x"}),
        ),
        (
            "update_ensemble",
            json!({"ensemble_name": "review\r", "changes": {}}),
        ),
        (
            "create_profile",
            json!({"name": "p\u{200f}", "provider": "ollama", "model": "m"}),
        ),
        ("delete_profile", json!({"name": "tiny\t", "confirm": true})),
        (
            "create_script",
            json!({"name": "s\u{0085}", "category": "text"}),
        ),
        ("get_script", json!({"name": "s", "category": "te\nxt"})),
        (
            "analyze_execution",
            json!({"artifact_id": "review\n/latest"}),
        ),
        (
            "cleanup_artifacts",
            json!({"ensemble_name": "rev\u{1b}iew", "dry_run": false}),
        ),
        (
            "library_copy",
            json!({"source": "ensembles/evil\u{202e}lmay.yaml"}),
        ),
        (
            "library_copy",
            json!({"source": "ensembles/evil\u{202e}lmay.yaml".replace('\u{202e}', ""), "destination": "x\ny"}),
        ),
        (
            "check_ensemble_runnable",
            json!({"ensemble_name": "review\u{0}"}),
        ),
        (
            "demote_ensemble",
            json!({"ensemble_name": "review\u{2028}", "tier": "local", "confirm": true}),
        ),
    ] {
        let e = refused(&c, tool, args.clone()).await;
        assert!(
            e.contains("the name contains a") || e.contains("NUL"),
            "{tool} {args}: {e}"
        );
    }
    let files: Vec<String> = std::fs::read_dir(p.root().join(".llm-orc/ensembles"))
        .expect("read")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, vec!["review.yaml".to_string()]);
    assert!(!p.root().join(".llm-orc/profiles").exists());
    c.cancel().await.expect("close");
}

/// Raw frames on stdin: what cannot be read is answered with a JSON-RPC parse error (id null)
/// instead of being dropped, and the server goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_stdio_frames_get_a_parse_error() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let p = TestProject::new();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_orc"))
        .args(["mcp", "serve"])
        .current_dir(p.root())
        .env("HOME", p.home())
        .env_remove("XDG_CONFIG_HOME")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("stdout"));
    async fn next_json(r: &mut (impl AsyncBufReadExt + Unpin)) -> Value {
        let mut line = String::new();
        r.read_line(&mut line).await.expect("read");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }
    stdin
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}\n")
        .await
        .expect("write");
    assert_eq!(next_json(&mut stdout).await["id"], 1);
    stdin
        .write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n")
        .await
        .expect("write");

    let deep = format!("{}{}\n", "[".repeat(200), "]".repeat(200));
    let huge = format!("{{\"x\": \"{}\"}}\n", "a".repeat(17 * 1024 * 1024));
    let frames: [(&[u8], &str); 4] = [
        (b"this is not json\n", "not JSON"),
        (
            b"{\"jsonrpc\": \"2.0\", \"id\": 3, \"method\": \"tools/list\"\n",
            "not JSON",
        ),
        (deep.as_bytes(), "nested deeper than 128"),
        (huge.as_bytes(), "over 16 MiB"),
    ];
    for (i, (frame, why)) in frames.into_iter().enumerate() {
        stdin.write_all(frame).await.expect("write");
        // A good request right behind it: its answer must come second.
        let id = 100 + i;
        stdin
            .write_all(
                format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"ping\"}}\n").as_bytes(),
            )
            .await
            .expect("write");
        let error = next_json(&mut stdout).await;
        assert_eq!(error["id"], Value::Null, "{why}: {error}");
        assert_eq!(error["error"]["code"], -32700, "{why}: {error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(why)),
            "{why}: {error}"
        );
        assert_eq!(
            next_json(&mut stdout).await["id"],
            id,
            "the server still serves after: {why}"
        );
    }
    // Well-formed JSON of the wrong shape, with an id: invalid request for that id.
    stdin
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":42}\n")
        .await
        .expect("write");
    let error = next_json(&mut stdout).await;
    assert_eq!(
        (error["id"].clone(), error["error"]["code"].clone()),
        (json!(9), json!(-32600)),
        "{error}"
    );
    drop(stdin);
    let status = child.wait().await.expect("wait");
    assert!(status.success(), "{status}");
}

/// An `orc mcp serve --http` child and what it printed when it started.
struct HttpServer {
    _child: tokio::process::Child,
    url: String,
    banner: String,
}

async fn http_server(p: &TestProject, extra: &[&str], env: &[(&str, &str)]) -> HttpServer {
    use tokio::io::AsyncBufReadExt;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_orc"));
    cmd.args(["mcp", "serve", "--http", &format!("127.0.0.1:{port}")])
        .args(extra)
        .current_dir(p.root())
        .env("HOME", p.home())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("ORC_MCP_TOKEN")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn");
    let mut err = tokio::io::BufReader::new(child.stderr.take().expect("stderr"));
    // Up to the line that says how clients authenticate.
    let mut banner = String::new();
    while !banner.contains("Authorization: Bearer") {
        let n = err.read_line(&mut banner).await.expect("read");
        assert!(n > 0, "the server ended: {banner}");
    }
    // Keep draining stderr so the server never blocks on it.
    tokio::spawn(async move {
        let mut sink = String::new();
        while err.read_line(&mut sink).await.is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    let url = format!("http://127.0.0.1:{port}/mcp");
    assert!(banner.contains(&url), "{banner}");
    HttpServer {
        _child: child,
        url,
        banner,
    }
}

const INIT: &str = r#"{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}"#;

async fn post(
    url: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut r = orc::backend::http_client()
        .post(url)
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(t) = token {
        r = r.header("Authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.expect("send")
}

/// `--http` needs the bearer token from a private file, refuses other origins, and answers
/// unreadable bodies with 400/413 and a parse error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_needs_the_token_and_a_loopback_origin() {
    let p = TestProject::new();
    let s = http_server(&p, &[], &[]).await;
    let token_file = p.home().join(".config/orc/mcp-token");
    let token = std::fs::read_to_string(&token_file)
        .expect("token file")
        .trim()
        .to_string();
    assert_eq!(token.len(), 64, "{token}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        s.banner
            .contains(&format!("--header \"Authorization: Bearer {token}\"")),
        "{}",
        s.banner
    );

    let r = post(&s.url, None, &[], INIT).await;
    assert_eq!(r.status(), 401);
    let r = post(&s.url, Some(&"0".repeat(64)), &[], INIT).await;
    assert_eq!(r.status(), 401);
    let r = post(
        &s.url,
        Some(&token),
        &[("Origin", "http://evil.example")],
        INIT,
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = post(
        &s.url,
        Some(&token),
        &[("Origin", "http://localhost:5173")],
        INIT,
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = post(&s.url, Some(&token), &[], INIT).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("\"name\":\"orc\""));

    // Bodies that cannot be read: a parse error, not silence or a 415.
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    for (body, status) in [
        ("not json".to_string(), 400),
        (deep, 400),
        ("x".repeat(17 * 1024 * 1024), 413),
    ] {
        let r = post(&s.url, Some(&token), &[], body).await;
        assert_eq!(r.status(), status);
        let v: Value = r.json().await.expect("json body");
        assert_eq!(
            (v["id"].clone(), v["error"]["code"].clone()),
            (Value::Null, json!(-32700)),
            "{v}"
        );
    }
    drop(s);

    // A later start reuses the token and does not print it again.
    let s = http_server(&p, &[], &[]).await;
    assert!(!s.banner.contains(&token), "{}", s.banner);
    assert!(s.banner.contains("mcp-token"), "{}", s.banner);
    assert_eq!(post(&s.url, Some(&token), &[], INIT).await.status(), 200);
    drop(s);

    // ORC_MCP_TOKEN overrides the file; a readable token file is refused.
    let mine = "t".repeat(40);
    let s = http_server(&p, &[], &[("ORC_MCP_TOKEN", &mine)]).await;
    assert_eq!(post(&s.url, Some(&mine), &[], INIT).await.status(), 200);
    assert_eq!(post(&s.url, Some(&token), &[], INIT).await.status(), 401);
    drop(s);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        let out = p
            .command(&["mcp", "serve", "--http", "127.0.0.1:0"])
            .output()
            .expect("run");
        assert_ne!(out.status.code(), Some(0));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("chmod 600"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Sessions are bounded: past `--max-sessions` a new one gets 503 until an idle one expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sessions_are_capped_and_idle_ones_expire() {
    let p = TestProject::new();
    let token_file = p.dir.path().join("token");
    let s = http_server(
        &p,
        &[
            "--token-file",
            &token_file.display().to_string(),
            "--max-sessions",
            "1",
            "--idle-timeout",
            "1",
        ],
        &[],
    )
    .await;
    let token = std::fs::read_to_string(&token_file)
        .expect("token")
        .trim()
        .to_string();
    let first = post(&s.url, Some(&token), &[], INIT).await;
    assert_eq!(first.status(), 200);
    let session = first
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("session id")
        .to_string();
    let full = post(&s.url, Some(&token), &[], INIT).await;
    assert_eq!(full.status(), 503);
    assert!(full.text().await.expect("body").contains("--max-sessions"));
    // The first session is left idle: once it expires, a new one is served.
    let mut status = 503;
    for _ in 0..600 {
        status = post(&s.url, Some(&token), &[], INIT)
            .await
            .status()
            .as_u16();
        if status != 503 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "an idle session never expired");
    let old = post(
        &s.url,
        Some(&token),
        &[
            ("mcp-session-id", &session),
            ("mcp-protocol-version", "2025-06-18"),
        ],
        r#"{"jsonrpc": "2.0", "id": 2, "method": "tools/list"}"#,
    )
    .await;
    assert_eq!(old.status(), 404, "the idle session is gone");
}

/// `latest` means one thing everywhere: the newest run by the time in its folder's name (the
/// order cleanup keeps), whichever run's file was written last and wherever the `latest` link
/// points (as after a run that started first but finished last).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_is_the_newest_run_folder_everywhere() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    p.ensemble(
        "e",
        "name: e\nagents:\n  - name: a\n    model_profile: tiny\n",
    );
    for input in ["[[fake:reply=older]]", "[[fake:reply=newer]]"] {
        let out = p.orc_async(&["invoke", "e", input]).await;
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let dir = p.root().join(".llm-orc/artifacts/e");
    let mut runs: Vec<String> = std::fs::read_dir(&dir)
        .expect("artifacts")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 19)
        .collect();
    runs.sort();
    let [older, newer] = &runs[..] else {
        panic!("two runs expected: {runs:?}")
    };
    // The older run now looks newer by everything but its name.
    std::fs::File::options()
        .write(true)
        .open(dir.join(older).join("execution.json"))
        .and_then(|f| {
            f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(3600))
        })
        .expect("set mtime");
    std::fs::remove_file(dir.join("latest")).expect("unlink");
    std::os::unix::fs::symlink(older, dir.join("latest")).expect("link");

    for arg in ["latest", "e", "e/latest"] {
        let out = p.orc_async(&["report", "timeline", arg]).await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stdout.contains(&format!("<title>e: {newer}</title>")),
            "timeline {arg}: {}",
            out.stdout.lines().nth(1).unwrap_or("")
        );
    }
    let out = p
        .orc_async(&["invoke", "e", "--resume", "latest", "--no-artifact"])
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("reusing the input of e/{newer}")),
        "{}",
        out.stderr
    );

    let c = connect(&p, &[]).await;
    ok(&c, "set_project", json!({"path": p.root()})).await;
    let a = ok(&c, "analyze_execution", json!({"artifact_id": "e/latest"})).await;
    assert_eq!(a["deliverable"], "newer", "{a}");
    let d = ok(
        &c,
        "delete_artifact",
        json!({"artifact_id": "e/latest", "confirm": true}),
    )
    .await;
    assert_eq!(d["deleted"], true);
    assert!(!dir.join(newer).exists() && dir.join(older).exists());
    // The link follows: it names the run that remains.
    assert_eq!(
        std::fs::read_link(dir.join("latest")).expect("latest link"),
        Path::new(older)
    );
    c.cancel().await.expect("close");
}

/// A failure to read or write is reported as one, not as a refusal of the request: here a file
/// sits where an ensemble's artifacts folder should be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_io_failure_is_not_a_refusal() {
    let p = TestProject::new();
    p.write(".llm-orc/artifacts/e", "not a folder");
    let c = connect(&p, &[]).await;
    ok(&c, "set_project", json!({"path": p.root()})).await;
    for (tool, args) in [
        ("analyze_execution", json!({"artifact_id": "e/latest"})),
        (
            "cleanup_artifacts",
            json!({"ensemble_name": "e", "older_than_days": 0, "dry_run": false}),
        ),
    ] {
        let e = refused(&c, tool, args).await;
        assert!(e.contains("I/O error: "), "{tool}: {e}");
        assert!(e.contains(".llm-orc/artifacts/e"), "{tool}: {e}");
    }
    // A missing artifact is still a plain "not found".
    let e = refused(&c, "analyze_execution", json!({"artifact_id": "f/latest"})).await;
    assert!(
        e.contains("Artifact not found: f/latest") && !e.contains("I/O"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(p.root().join(".llm-orc/artifacts/e")).expect("kept"),
        "not a folder"
    );
    c.cancel().await.expect("close");
}

/// MCP `invoke` takes `token_budget` (a spent budget skips the rest: `executor_status`
/// `budget_exhausted`) and `cache` (a second identical run sends no request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_takes_a_token_budget_and_the_cache() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "{}  det:\n    model: qwen3:0.6b\n    provider: ollama\n    base_url: {}\n    temperature: 0\n",
            native_config(&sim.url()),
            sim.url()
        ),
    );
    p.write(
        ".llm-orc/ensembles/pair.yaml",
        "name: pair\ndescription: t\nagents:\n  - name: a\n    model_profile: det\n  - name: b\n    model_profile: det\n    depends_on: [a]\n",
    );
    let c = connect(&p, &[]).await;
    let e = refused(
        &c,
        "invoke",
        json!({"ensemble_name": "pair", "input_data": "x", "token_budget": 0}),
    )
    .await;
    assert!(e.contains("token_budget must be at least 1"), "{e}");
    let run = failed_run(
        &c,
        "invoke",
        json!({"ensemble_name": "pair", "input_data": "x", "token_budget": 1}),
    )
    .await;
    assert_eq!(run["executor_status"], "budget_exhausted", "{run}");
    assert_eq!(sim.requests().len(), 1);
    for _ in 0..2 {
        let run = ok(
            &c,
            "invoke",
            json!({"ensemble_name": "pair", "input_data": "y", "cache": true}),
        )
        .await;
        assert_eq!(run["status"], "success", "{run}");
    }
    assert_eq!(
        sim.requests().len(),
        3,
        "the second cached run sends nothing"
    );
    c.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_status_lists_the_host_pool() {
    let a = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let b = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "{}hosts:\n  - {}\n  - {{url: {}, priority: 3}}\n",
            native_config(&a.url()),
            a.url(),
            b.url()
        ),
    );
    let c = connect(&p, &[]).await;
    let ps = ok(&c, "get_provider_status", json!({})).await;
    let ollama = &ps["providers"]["ollama"];
    // The existing keys stay; the pool is an added field.
    assert_eq!(ollama["available"], true);
    assert!(ollama["hosts"].is_array());
    let pool = ollama["pool"].as_array().cloned().unwrap_or_default();
    assert_eq!(pool.len(), 2, "{ollama}");
    assert_eq!(pool[0]["url"], a.url().as_str());
    assert_eq!(pool[1]["url"], b.url().as_str());
    assert_eq!(pool[1]["priority"], 3);
    assert!(
        pool.iter()
            .all(|h| h["reachable"] == true && h["breaker"] == "closed")
    );
    c.cancel().await.expect("close");
}
