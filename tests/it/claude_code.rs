//! The Claude Code tier: the real Claude Code CLI (npm `@anthropic-ai/claude-code`, pinned and
//! installed by `scripts/install-claude-code` into target/claude-code/) drives orc the ways its
//! users install it: the orc plugin from this repository's marketplace, and `orc mcp install` /
//! `orc skill install`. Claude Code talks to a stand-in for the Messages API
//! (`claude_code/standin.rs`) that records what Claude Code sends (the tools offered, the skills
//! listed, the session-start hook's line) and answers with scripted tool calls; orc's agents
//! talk to the Ollama simulator.
//!
//! Each test runs inside a network namespace with only loopback (`unshare -n`, or `unshare -rn`
//! when not root; `ip link set lo up` is needed there: a new namespace's loopback starts down),
//! so nothing reaches the network (Claude Code's `mcp add/list` otherwise look a name up in
//! DNS). The outer test re-runs this test binary inside the namespace for its inner test, which
//! starts the simulator and the stand-in there. Without the CLI or `unshare` the tests say they
//! skipped, except under CI, where they fail.

use crate::common;
mod standin;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{TestProject, native_config, path_with_orc};
use futures::FutureExt;
use orc::testkit::sim::{SimConfig, Simulator};
use serde_json::{Value, json};
use standin::{Reply, Standin};

/// Set in the re-run inside the namespace.
const INNER: &str = "ORC_CLAUDE_CODE_INNER";
const PLUGIN: &str = "mcp__plugin_orc_orc__";
const SERVER: &str = "mcp__orc__";
const DELIVERABLE: &str = "Send the report by Friday.";

fn claude_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ORC_CLAUDE_CODE") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/claude-code/node_modules/.bin/claude");
    p.is_file().then_some(p)
}

fn ip_bin() -> Option<PathBuf> {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// `unshare -n` (root) or `unshare -rn` (a user namespace), when it works here.
fn unshare_args() -> Option<Vec<&'static str>> {
    let ip = ip_bin()?;
    let root = rustix::process::geteuid().is_root();
    let args: Vec<&str> = if root { vec!["-n"] } else { vec!["-r", "-n"] };
    let ok = std::process::Command::new("unshare")
        .args(&args)
        .arg(&ip)
        .args(["link", "set", "lo", "up"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(args)
}

/// Runs `inner` (an ignored test of this binary) inside a loopback-only network namespace.
fn in_namespace(inner: &str) {
    let Some(claude) = claude_bin() else {
        common::missing_prerequisite(
            "Claude Code's CLI is not installed (scripts/install-claude-code puts it in target/claude-code)",
        );
        return;
    };
    let Some(args) = unshare_args() else {
        common::missing_prerequisite("`unshare -n` (a network namespace) does not work here");
        return;
    };
    let ip = ip_bin().expect("ip");
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new("unshare")
        .args(&args)
        .arg("sh")
        .arg("-c")
        .arg(format!(
            "{} link set lo up && exec \"$0\" \"$@\"",
            ip.display()
        ))
        .arg(&exe)
        .args([
            "--exact",
            inner,
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INNER, "1")
        .env("ORC_CLAUDE_CODE", &claude)
        .output()
        .expect("run the inner test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{inner} inside the namespace failed:\n{stdout}\n{stderr}"
    );
    eprintln!("{stderr}");
}

/// The inner test's world: a project whose ensemble runs on the simulator, the stand-in API, and
/// the CLI.
struct World {
    p: TestProject,
    sim: Simulator,
    claude: PathBuf,
}

impl World {
    async fn new() -> Option<World> {
        if std::env::var_os(INNER).is_none() {
            eprintln!("skipped: run inside a network namespace by its outer test");
            return None;
        }
        let claude = PathBuf::from(std::env::var_os("ORC_CLAUDE_CODE").expect("ORC_CLAUDE_CODE"));
        let sim = Simulator::start(SimConfig::default(), 0)
            .await
            .expect("sim");
        let p = TestProject::new();
        p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
        p.ensemble(
            "note-summary",
            &format!(
                "name: note-summary
description: Summarise a short note in one sentence
agents:
  - name: extractor
    model_profile: tiny
    system_prompt: \"[[fake:reply=The note asks for the report by Friday.]] [extractor] List the facts.\"
  - name: summariser
    model_profile: tiny
    depends_on: [extractor]
    system_prompt: \"[[fake:reply={DELIVERABLE}]] [summariser] Write one sentence.\"
"
            ),
        );
        Some(World { p, sim, claude })
    }

    /// `claude ARGS` in the project, with this world's HOME, the stand-in as the API, and `orc`
    /// on PATH when `orc_on_path` (else a PATH without it, as on a machine where orc is missing).
    fn claude(&self, api: &Standin, args: &[&str], orc_on_path: bool) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.claude);
        cmd.args(args)
            .current_dir(self.p.root())
            .env_clear()
            .env("HOME", self.p.home())
            .env(
                "PATH",
                if orc_on_path {
                    path_with_orc(&self.p)
                } else {
                    "/usr/bin:/bin".into()
                },
            )
            .env("LANG", "C.UTF-8")
            .env("ANTHROPIC_BASE_URL", api.url())
            .env("ANTHROPIC_API_KEY", "sk-ant-standin-not-a-key")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("OLLAMA_HOST", self.sim.url())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Runs a `claude` management command (plugin, mcp) and returns its output; it must succeed.
    async fn manage(&self, args: &[&str]) -> String {
        let t0 = std::time::Instant::now();
        let api = Standin::start(|_| async { Reply::Text("unused".into()) }.boxed()).await;
        let out = self
            .claude(&api, args, true)
            .output()
            .await
            .expect("claude");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "claude {args:?}: {text}");
        eprintln!("claude {args:?}: {:.1} s", t0.elapsed().as_secs_f64());
        text
    }

    /// `claude -p PROMPT --output-format json EXTRA...`: its JSON result.
    async fn print(&self, api: &Standin, prompt: &str, extra: &[&str], orc_on_path: bool) -> Value {
        let mut args = vec!["-p", prompt, "--output-format", "json"];
        args.extend_from_slice(extra);
        let t0 = std::time::Instant::now();
        let out = tokio::time::timeout(
            Duration::from_secs(180),
            self.claude(api, &args, orc_on_path).output(),
        )
        .await
        .expect("claude -p finishes")
        .expect("claude");
        eprintln!(
            "claude -p {prompt:.30}: {:.1} s",
            t0.elapsed().as_secs_f64()
        );
        if let Some(dir) = std::env::var_os("ORC_CLAUDE_CODE_DUMP") {
            let f = PathBuf::from(dir).join(format!("{}.json", prompt.len()));
            let all: Vec<Value> = api
                .requests()
                .iter()
                .map(|r| json!({"path": r.path, "main": r.main, "body": r.body}))
                .collect();
            let _ = std::fs::write(f, serde_json::to_string_pretty(&all).unwrap_or_default());
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "claude -p: not JSON ({e}):\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// Claude Code applies a project's `permissions.allow` only in a folder the user has trusted
    /// (its dialog, once, in an interactive session): records that answer as the dialog does.
    fn trust(&self) {
        let trusted = json!({"projects": {self.p.root().display().to_string(): {"hasTrustDialogAccepted": true}}});
        common::write_file(&self.p.home().join(".claude.json"), &trusted.to_string());
    }

    /// Adds this repository as a marketplace and installs the orc plugin from it.
    async fn install_plugin(&self) {
        let repo = env!("CARGO_MANIFEST_DIR");
        let m = self.manage(&["plugin", "validate", repo]).await;
        assert!(m.contains("Validation passed"), "the marketplace: {m}");
        let v = self
            .manage(&["plugin", "validate", &format!("{repo}/plugin")])
            .await;
        assert!(v.contains("Validation passed"), "{v}");
        for part in [
            "skills: orc:orc",
            "mcpServers: orc",
            "SessionStart",
            "orc:report",
            "orc:route",
            "orc:status",
        ] {
            assert!(v.contains(part), "the plugin provides {part}: {v}");
        }
        self.manage(&["plugin", "marketplace", "add", repo]).await;
        let i = self.manage(&["plugin", "install", "orc@orc"]).await;
        assert!(i.contains("Successfully installed"), "{i}");
        let l = self.manage(&["plugin", "list"]).await;
        assert!(l.contains("orc@orc") && l.contains("enabled"), "{l}");
    }
}

/// The delegation loop, step by step: load the skill, fetch the tools by full name, route,
/// invoke, ask whether to judge, record the judgment, read the report, then `last` (one more
/// call, or none).
fn loop_script(
    prefix: &'static str,
    skill: &'static str,
    last: Option<(String, Value)>,
) -> impl FnMut(&Value) -> futures::future::BoxFuture<'static, Reply> + Send {
    move |body: &Value| {
        let t = |name: &str, input: Value| Reply::Tool {
            name: format!("{prefix}{name}"),
            input,
        };
        let result = |step: usize| -> Value {
            standin::tool_use_id_at(body, step)
                .and_then(|id| standin::tool_result(body, &id))
                .and_then(|(text, _)| serde_json::from_str(&text).ok())
                .unwrap_or(Value::Null)
        };
        let routing_id = result(3)["routing_id"]
            .as_str()
            .unwrap_or("none")
            .to_string();
        let reply = match standin::step(body) {
            0 => Reply::Tool {
                name: "Skill".into(),
                input: json!({"skill": skill}),
            },
            1 => Reply::Tool {
                name: "ToolSearch".into(),
                input: json!({"query": format!(
                    "select:{prefix}route_task,{prefix}invoke,{prefix}should_evaluate,{prefix}record_evaluation,{prefix}learning_report,{prefix}delete_ensemble"
                )}),
            },
            2 => t(
                "route_task",
                json!({"task": "Summarise the note below in one sentence."}),
            ),
            3 => t(
                "invoke",
                json!({"ensemble_name": "note-summary", "input_data": "Note: the report is due Friday.",
                       "task_type": "summarization", "task_summary": "note summary"}),
            ),
            4 => t("should_evaluate", json!({"routing_id": routing_id})),
            5 => t(
                "record_evaluation",
                json!({"routing_id": routing_id, "score": "good", "judge": "stand-in",
                       "reasoning": "One sentence with the one fact the note has."}),
            ),
            6 => t("learning_report", json!({"format": "json"})),
            7 => match &last {
                Some((name, input)) => t(name, input.clone()),
                None => Reply::Text("loop done".into()),
            },
            _ => Reply::Text("loop done".into()),
        };
        async move { reply }.boxed()
    }
}

/// What the loop's requests must show, whichever way orc was installed.
/// `all_tools`: the server was registered with `--all-tools` (else it serves the core set).
fn check_loop(
    w: &World,
    api: &Standin,
    out: &Value,
    (prefix, skill): (&str, &str),
    hook: bool,
    all_tools: bool,
) {
    let reqs = api.main_requests();
    assert!(reqs.len() >= 8, "{} main requests: {out}", reqs.len());
    let first = &reqs[0].body;
    let shown = standin::shown(first);
    if hook {
        assert!(
            shown.contains("orc: 1 of 1 ensembles runnable on 127.0.0.1:"),
            "the session-start line reaches the first request:\n{shown:.3000}"
        );
    }
    assert!(
        shown.contains(&format!("- {skill}: Hand extraction")),
        "the skill `{skill}` is listed: {shown:.3000}"
    );
    for tool in orc::service::claude_tools::TOOLS {
        let served = all_tools || orc::mcp::surface::CORE.contains(&tool.name);
        assert_eq!(
            shown.contains(&format!("{prefix}{}", tool.name)),
            served,
            "{prefix}{} offered: {served} expected",
            tool.name
        );
    }
    let by_step = |s: usize| -> &Value {
        &reqs
            .iter()
            .find(|r| standin::step(&r.body) == s)
            .unwrap_or_else(|| panic!("no request at step {s}"))
            .body
    };
    let result = |s: usize| -> (String, bool) {
        let b = by_step(s + 1);
        let id = standin::tool_use_id_at(b, s).expect("tool_use id");
        standin::tool_result(b, &id).unwrap_or_else(|| panic!("no result for step {s}"))
    };
    // The skill's body was loaded through the Skill tool.
    assert!(
        standin::shown(by_step(1)).contains("## Before the first call"),
        "the skill's body is loaded"
    );
    // Fetched by full name, the tools' schemas are offered.
    let names = standin::tool_names(by_step(2));
    for t in [
        "route_task",
        "invoke",
        "should_evaluate",
        "record_evaluation",
    ] {
        assert!(
            names.contains(&format!("{prefix}{t}")),
            "{t} loaded: {names:?}"
        );
    }
    let json_of = |s: usize| -> Value {
        let (text, err) = result(s);
        assert!(!err, "step {s} failed: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("step {s}: {e}: {text}"))
    };
    let route = json_of(2);
    assert_eq!(route["task_type"], "summarization", "{route}");
    let inv = json_of(3);
    assert_eq!(inv["status"], "success", "{inv}");
    assert!(inv.to_string().contains(DELIVERABLE), "{inv}");
    assert!(inv["routing_id"].as_str().is_some(), "{inv}");
    assert_eq!(json_of(4)["evaluate"], true);
    let rec = json_of(5);
    assert!(rec.to_string().contains("good"), "{rec}");
    let report = json_of(6);
    assert_eq!(report["totals"]["runs"], 1, "{report}");
    assert_eq!(report["totals"]["evaluations"], 1, "{report}");
    // orc's agents ran on the model server, once each.
    let agents = w
        .sim
        .requests()
        .iter()
        .filter(|r| {
            r.body.to_string().contains("[extractor]")
                || r.body.to_string().contains("[summariser]")
        })
        .count();
    assert_eq!(agents, 2);
    assert_eq!(out["is_error"], false, "{out}");
}

#[test]
fn claude_code_with_the_plugin_runs_the_loop_and_says_when_orc_is_missing() {
    in_namespace("claude_code::inner_plugin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run inside a network namespace by claude_code_with_the_plugin_runs_the_loop_and_says_when_orc_is_missing"]
async fn inner_plugin() {
    let Some(w) = World::new().await else { return };
    w.install_plugin().await;

    // orc on PATH: the whole loop, headless, with the plugin's tools allowed as the README says.
    let api = Standin::start(loop_script(PLUGIN, "orc:orc", None)).await;
    let out = w
        .print(
            &api,
            "Summarise the note below in one sentence with orc. Note: the report is due Friday.",
            &["--allowedTools", "mcp__plugin_orc_orc"],
            true,
        )
        .await;
    check_loop(&w, &api, &out, (PLUGIN, "orc:orc"), true, false);
    assert_eq!(out["permission_denials"], json!([]), "{out}");

    // The slash commands are thin wrappers on the CLI.
    let api = Standin::start(|_| async { Reply::Text("shown".into()) }.boxed()).await;
    let out = w.print(&api, "/orc:status", &[], true).await;
    assert_eq!(out["result"], "shown", "{out}");
    let shown = standin::shown(&api.main_requests()[0].body);
    assert!(
        shown.contains("ensembles runnable on 127.0.0.1:"),
        "{shown:.3000}"
    );
    assert!(
        shown.contains("model(s) installed, loaded:"),
        "{shown:.3000}"
    );
    let api = Standin::start(|_| async { Reply::Text("shown".into()) }.boxed()).await;
    w.print(
        &api,
        "/orc:route summarise \"this\" note; then `rm -rf x`",
        &[],
        true,
    )
    .await;
    let shown = standin::shown(&api.main_requests()[0].body);
    assert!(shown.contains("task type: summarization"), "{shown:.3000}");
    assert!(!w.p.root().join("x").exists());
    let api = Standin::start(|_| async { Reply::Text("shown".into()) }.boxed()).await;
    w.print(&api, "/orc:report", &[], true).await;
    let shown = standin::shown(&api.main_requests()[0].body);
    assert!(shown.contains("Learning report"), "{shown:.3000}");

    // orc missing (last: Claude Code then remembers the failed server for 15 minutes): the
    // hook's line says so, and no orc tool is offered.
    let api = Standin::start(|_| async { Reply::Text("fine".into()) }.boxed()).await;
    let out = w.print(&api, "Summarise this note.", &[], false).await;
    assert_eq!(out["result"], "fine", "{out}");
    let first = standin::shown(&api.main_requests()[0].body);
    assert!(
        first.contains("orc unavailable: the orc binary was not found"),
        "the missing binary gets a line, not silence: {first:.3000}"
    );
    assert!(
        !first.contains(&format!("{PLUGIN}route_task")),
        "no orc tools offered"
    );
}

#[test]
fn claude_code_with_orc_mcp_install_runs_the_loop_on_the_written_permissions() {
    in_namespace("claude_code::inner_mcp_install");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run inside a network namespace by claude_code_with_orc_mcp_install_runs_the_loop_on_the_written_permissions"]
async fn inner_mcp_install() {
    let Some(w) = World::new().await else { return };
    let orc = |args: &[&str]| {
        let r = common::orc_on_path(&w.p, &w.p.root(), args);
        assert_eq!(r.code, 0, "orc {args:?}: {}", r.stderr);
    };
    // Every tool, so that a destructive one is there to be denied.
    orc(&["mcp", "install", "--allow", "core", "--all-tools"]);
    orc(&["skill", "install"]);
    let listed = w.manage(&["mcp", "list"]).await;
    // Registered as `claude mcp add --scope project` registers it; an interactive session asks
    // each user to approve a project's server once (headless runs use it as it is).
    assert!(
        listed.contains("orc: orc mcp serve")
            && (listed.contains("Connected") || listed.contains("Pending approval")),
        "{listed}"
    );

    w.trust();
    // No --allowedTools: .claude/settings.json lets the core tools run; a destructive one asks,
    // which headless means denied.
    let last = Some((
        "delete_ensemble".to_string(),
        json!({"ensemble_name": "note-summary", "confirm": true}),
    ));
    let api = Standin::start(loop_script(SERVER, "orc", last)).await;
    let out = w
        .print(
            &api,
            "Summarise the note below in one sentence with orc. Note: the report is due Friday.",
            &[],
            true,
        )
        .await;
    check_loop(&w, &api, &out, (SERVER, "orc"), false, true);
    let denied = out["permission_denials"].to_string();
    assert!(denied.contains("mcp__orc__delete_ensemble"), "{out}");
    for t in ["route_task", "invoke", "record_evaluation"] {
        assert!(
            !denied.contains(&format!("mcp__orc__{t}\"")),
            "{t} ran unasked: {out}"
        );
    }
    assert!(
        w.p.root()
            .join(".llm-orc/ensembles/note-summary.yaml")
            .is_file()
    );
}

/// Claude Code 2.1.332 sends `notifications/cancelled` (reason "SdkError: Request timed out")
/// when `MCP_TOOL_TIMEOUT` runs out: the server stops the run (a server that did not would
/// fail at "the third agent was asked for").
#[test]
fn claude_codes_tool_timeout_cancels_a_running_invoke() {
    in_namespace("claude_code::inner_cancel");
}

/// Claude Code's tool timeout sends `notifications/cancelled` for a running `invoke`; the run
/// must stop there: no model request after the cancel, the artifact marked interrupted. The
/// middle agent of a 3-agent sequence is held by the simulator until the test releases it, after
/// Claude Code has given up on the call: a run that went on would then ask for the third agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run inside a network namespace by claude_codes_tool_timeout_cancels_a_running_invoke"]
async fn inner_cancel() {
    let Some(w) = World::new().await else { return };
    w.p.ensemble(
        "held-sequence",
        "name: held-sequence
description: three agents in a row, the middle one held
agents:
  - name: first
    model_profile: tiny
    system_prompt: \"[[fake:reply=one]] [first] Start.\"
  - name: second
    model_profile: tiny
    depends_on: [first]
    system_prompt: \"[[sim:hold_until=RELEASE-SECOND]] [second] Go on.\"
  - name: third
    model_profile: tiny
    depends_on: [second]
    system_prompt: \"[[fake:reply=three]] [third] Finish.\"
",
    );
    let r = common::orc_on_path(&w.p, &w.p.root(), &["mcp", "install", "--allow", "core"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    w.trust();
    let sim_url = w.sim.url();
    let artifacts = w.p.root().join(".llm-orc/artifacts/held-sequence");
    let seen_third = |reqs: &[orc::testkit::sim::Recorded]| {
        reqs.iter().any(|r| r.body.to_string().contains("[third]"))
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let script = {
        let artifacts = artifacts.clone();
        let sim_url = sim_url.clone();
        move |body: &Value| {
            let step = standin::step(body);
            let (artifacts, sim_url, tx) = (artifacts.clone(), sim_url.clone(), tx.clone());
            async move {
                match step {
                    0 => Reply::Tool {
                        name: "ToolSearch".into(),
                        input: json!({"query": "select:mcp__orc__invoke"}),
                    },
                    1 => Reply::Tool {
                        name: "mcp__orc__invoke".into(),
                        input: json!({"ensemble_name": "held-sequence", "input_data": "go"}),
                    },
                    _ => {
                        // Claude Code gave up on the call (and sent notifications/cancelled).
                        // Release the held agent while orc's server is still up, then wait until
                        // the run has written its artifact (or asked for the third agent).
                        let http = orc::backend::http_client();
                        let _ = http
                            .post(format!("{sim_url}/api/chat"))
                            .json(&json!({"model": "qwen3:0.6b", "stream": false,
                                          "messages": [{"role": "user", "content": "RELEASE-SECOND"}]}))
                            .send()
                            .await;
                        for _ in 0..300 {
                            if std::fs::read_dir(&artifacts).is_ok_and(|d| d.count() > 0) {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        let _ = tx.send(());
                        Reply::Text("stopped".into())
                    }
                }
            }
            .boxed()
        }
    };
    let api = Standin::start(script).await;
    let mut cmd = w.claude(
        &api,
        &[
            "-p",
            "Run held-sequence with orc.",
            "--output-format",
            "json",
        ],
        true,
    );
    cmd.env("MCP_TOOL_TIMEOUT", "3000");
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("claude finishes")
        .expect("claude");
    assert!(
        rx.try_recv().is_ok(),
        "the call timed out and the model went on: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let reqs = api.main_requests();
    let after = reqs
        .iter()
        .find(|r| standin::step(&r.body) == 2)
        .expect("a request after the call");
    let id = standin::tool_use_id_at(&after.body, 1).expect("id");
    let (text, is_error) = standin::tool_result(&after.body, &id).expect("result");
    eprintln!("the timed-out call's result: {text}");
    assert!(
        is_error && !text.contains("permission"),
        "Claude Code reports the timed-out call as an error: {text}"
    );
    assert!(
        !seen_third(&w.sim.requests()),
        "no model request after the cancel: the third agent was asked for"
    );
    let art = common::latest_artifact(&w.p, "held-sequence");
    assert_eq!(
        art["metadata"]["status"]
            .as_str()
            .or(art["status"].as_str()),
        Some("interrupted"),
        "the artifact is marked interrupted: {art:.2000}"
    );
}
