//! Hostile model servers: the real `orc` binary against a server that misbehaves on purpose
//! (`hostile_server`), with a well-behaved simulator beside it. Every case must end with a
//! clear error on the hostile agent, the other agents' results kept, the artifact written and
//! orc's memory bounded.

use crate::common;
use crate::hostile_server;

use std::io::Read as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Run, TestProject, latest_artifact};
use hostile_server::{Act, HostileServer, Witness};
use orc::testkit::sim::{SimConfig, Simulator};
use serde_json::{Value, json};

/// orc may hold at most this much memory (peak resident, from /proc) while a hostile server
/// tries to fill it; the run is stopped as a failure beyond it.
const PEAK_LIMIT_KIB: u64 = 400 * 1024;
/// A run that takes longer than this is stopped as a failure (it would hang before the fix).
const WATCHDOG: Duration = Duration::from_secs(180);

const ENSEMBLE: &str = "name: hostile
description: one agent on a hostile server, the others on a good one
agents:
  - name: victim
    model_profile: bad
  - name: bystander
    model_profile: good
  - name: summary
    model_profile: good
    depends_on: [victim, bystander]
";

async fn sim() -> Simulator {
    Simulator::start(SimConfig::default(), 0)
        .await
        .expect("simulator")
}

/// A project whose `bad` profile reaches `bad_url` with `provider`, `good` the simulator, and
/// `performance` as given (YAML lines under `performance:`).
fn project(provider: &str, bad_url: &str, good_url: &str, performance: &str) -> TestProject {
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "model_profiles:
  bad:
    model: m-bad
    provider: {provider}
    base_url: {bad_url}
    timeout_seconds: 60
  good:
    model: qwen3:0.6b
    provider: ollama
    base_url: {good_url}
performance:
{performance}"
        ),
    );
    p.ensemble("hostile", ENSEMBLE);
    p
}

struct Watched {
    run: Run,
    /// The highest VmHWM read from /proc while orc ran (a lower bound of its true peak).
    peak_kib: u64,
}

/// Runs `orc ARGS` while reading its peak memory from /proc; stops it (and fails the test) if
/// it goes over `PEAK_LIMIT_KIB` or runs longer than `WATCHDOG`.
async fn orc_watched(p: &TestProject, args: &[&str], env: &[(&str, Option<&Path>)]) -> Watched {
    let mut cmd = p.command(args);
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    tokio::task::spawn_blocking(move || {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn orc");
        let mut out = child.stdout.take().expect("stdout");
        let mut err = child.stderr.take().expect("stderr");
        let out_t = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = out.read_to_end(&mut s);
            s
        });
        let err_t = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = err.read_to_end(&mut s);
            s
        });
        let status_file = format!("/proc/{}/status", child.id());
        let started = Instant::now();
        let mut peak_kib = 0;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if let Ok(text) = std::fs::read_to_string(&status_file)
                && let Some(kib) = text
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
            if peak_kib > PEAK_LIMIT_KIB || started.elapsed() > WATCHDOG {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "orc stopped after {:?}: peak {} MiB (limit {} MiB)",
                    started.elapsed(),
                    peak_kib / 1024,
                    PEAK_LIMIT_KIB / 1024
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let stdout = out_t.join().expect("stdout reader");
        let stderr = err_t.join().expect("stderr reader");
        Watched {
            run: Run {
                code: status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&stdout).into_owned(),
                stderr: String::from_utf8_lossy(&stderr).into_owned(),
            },
            peak_kib,
        }
    })
    .await
    .expect("join")
}

/// The hostile agent failed with `fragment` in its error (and on stderr), the others
/// succeeded, the artifact was written, and memory stayed bounded.
#[track_caller]
fn assert_contained(p: &TestProject, w: &Watched, fragment: &str) -> Value {
    let r = &w.run;
    eprintln!("`{fragment}`: orc's peak {} MiB", w.peak_kib / 1024);
    assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(fragment),
        "stderr lacks `{fragment}`:\n{}",
        r.stderr
    );
    let art = latest_artifact(p, "hostile");
    let results = &art["results"];
    assert_eq!(results["victim"]["status"], "failed", "{results:#}");
    let error = results["victim"]["error"].as_str().unwrap_or("");
    assert!(error.contains(fragment), "victim's error: {error}");
    assert_eq!(results["bystander"]["status"], "success", "{results:#}");
    assert_eq!(results["summary"]["status"], "success", "{results:#}");
    assert!(w.peak_kib < PEAK_LIMIT_KIB, "peak {} KiB", w.peak_kib);
    art
}

const CAP_8_MIB: &str =
    "  execution:\n    streaming_enabled: true\n    max_response_bytes: 8388608\n";
const STREAMING: &str = "  execution:\n    streaming_enabled: true\n";
const NOT_STREAMING: &str =
    "  execution:\n    streaming_enabled: false\n    max_response_bytes: 8388608\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_never_says_done_is_cut_at_the_cap() {
    let (good, bad) = (sim().await, HostileServer::start(Act::EndlessStream).await);
    let p = project("ollama", &bad.url(), &good.url(), CAP_8_MIB);
    let w = orc_watched(&p, &["invoke", "hostile", "go"], &[]).await;
    assert_contained(
        &p,
        &w,
        &format!("response from {} for `m-bad` exceeded 8 MiB", bad.url()),
    );
    // Not retried: the same server would only send the same flood again.
    assert_eq!(bad.requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_endless_content_line_without_newline_is_cut_at_the_default_cap() {
    let (good, bad) = (sim().await, HostileServer::start(Act::EndlessLine).await);
    let p = project("ollama", &bad.url(), &good.url(), STREAMING);
    let w = orc_watched(&p, &["invoke", "hostile", "go"], &[]).await;
    assert_contained(
        &p,
        &w,
        &format!("response from {} for `m-bad` exceeded 64 MiB", bad.url()),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_non_streamed_body_is_cut_at_the_cap() {
    let (good, bad) = (sim().await, HostileServer::start(Act::EndlessBody).await);
    let p = project("ollama", &bad.url(), &good.url(), NOT_STREAMING);
    let w = orc_watched(&p, &["invoke", "hostile", "go"], &[]).await;
    assert_contained(&p, &w, "for `m-bad` exceeded 8 MiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_declared_larger_than_the_cap_is_not_read() {
    let good = sim().await;
    let bad = HostileServer::start(Act::Declared { declared: 2 << 30 }).await;
    let p = project(
        "openai-compatible",
        &format!("{}/v1", bad.url()),
        &good.url(),
        NOT_STREAMING,
    );
    let w = orc_watched(&p, &["invoke", "hostile", "go"], &[]).await;
    assert_contained(&p, &w, "for `m-bad` exceeded 8 MiB");
    // orc hung up at the header; the server could only fill the socket buffers.
    let written = bad.written.load(std::sync::atomic::Ordering::SeqCst);
    assert!(written < 256 << 20, "the server wrote {written} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_error_body_is_read_only_in_part() {
    let (good, bad) = (sim().await, HostileServer::start(Act::Endless500).await);
    let p = project("ollama", &bad.url(), &good.url(), STREAMING);
    let w = orc_watched(&p, &["invoke", "hostile", "go"], &[]).await;
    assert_contained(
        &p,
        &w,
        &format!(
            "{} answered HTTP 500 for `m-bad`: internal error",
            bad.url()
        ),
    );
    assert!(
        w.run.stderr.contains("(after 3 attempts)"),
        "{}",
        w.run.stderr
    );
    assert_eq!(bad.requests(), 3, "a 500 is retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed() {
    let good = sim().await;
    let elsewhere = Witness::start().await;
    let location = format!("http://{}/api/chat", elsewhere.addr);
    for provider in ["ollama", "openai-compatible"] {
        let bad = HostileServer::start(Act::Redirect {
            location: location.clone(),
        })
        .await;
        let p = project(provider, &bad.url(), &good.url(), STREAMING);
        let w = orc_watched(&p, &["invoke", "hostile", "go"], &[]).await;
        assert_contained(
            &p,
            &w,
            &format!(
                "{} redirected the request for `m-bad` to {location} (HTTP 307)",
                bad.url()
            ),
        );
        assert!(
            w.run.stderr.contains("does not follow redirects"),
            "{}",
            w.run.stderr
        );
        assert_eq!(bad.requests(), 1, "{provider}: a redirect is not retried");
    }
    assert_eq!(
        elsewhere.connections(),
        0,
        "the prompt must never reach the redirect's target"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_timeout_covers_the_whole_body() {
    let (good, bad) = (sim().await, HostileServer::start(Act::Drip).await);
    let p = project("ollama", &bad.url(), &good.url(), STREAMING);
    p.write(
        ".llm-orc/config.yaml",
        &std::fs::read_to_string(p.root().join(".llm-orc/config.yaml"))
            .expect("config")
            .replace("timeout_seconds: 60", "timeout_seconds: 2"),
    );
    let w = orc_watched(&p, &["invoke", "hostile", "go"], &[]).await;
    assert_contained(
        &p,
        &w,
        &format!(
            "Agent execution timed out after 2 seconds waiting for `m-bad` on {}",
            bad.url()
        ),
    );
}

/// A done message (Ollama) or completion (OpenAI-compatible) with figures that are not counts.
fn counts_body(provider: &str, usage: &str) -> Act {
    let body = match provider {
        "ollama" => format!(
            "{{\"model\":\"m-bad\",\"message\":{{\"role\":\"assistant\",\"content\":\"kept answer\"}},\"done\":true,\"done_reason\":\"stop\",{usage}}}\n"
        ),
        _ => format!(
            "{{\"choices\":[{{\"message\":{{\"role\":\"assistant\",\"content\":\"kept answer\"}},\"finish_reason\":\"stop\"}}],\"usage\":{{{usage}}}}}"
        ),
    };
    Act::Body {
        content_type: "application/json".into(),
        body,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_counts_keep_the_answer_and_are_recorded_as_missing() {
    let good = sim().await;
    let cases = [
        (
            "ollama",
            r#""prompt_eval_count":1e30,"eval_count":-5,"prompt_eval_cached_count":"7","total_duration":3.5"#,
            vec![
                (
                    "input_tokens",
                    "prompt_eval_count was 1e30: more than any real count",
                ),
                ("output_tokens", "eval_count was -5: negative"),
                (
                    "cached_input_tokens",
                    "prompt_eval_cached_count was the string \"7\"",
                ),
                (
                    "total_duration_ns",
                    "total_duration was 3.5: not a whole number",
                ),
            ],
        ),
        (
            "ollama",
            r#""prompt_eval_count":18446744073709551615,"eval_count":18446744073709551615"#,
            vec![
                (
                    "input_tokens",
                    "prompt_eval_count was 18446744073709551615: more than any real count",
                ),
                (
                    "output_tokens",
                    "eval_count was 18446744073709551615: more than any real count",
                ),
            ],
        ),
        (
            "openai-compatible",
            r#""prompt_tokens":3.5,"completion_tokens":"7""#,
            vec![
                (
                    "input_tokens",
                    "usage.prompt_tokens was 3.5: not a whole number",
                ),
                (
                    "output_tokens",
                    "usage.completion_tokens was the string \"7\"",
                ),
            ],
        ),
    ];
    for (provider, usage, reasons) in cases {
        let bad = HostileServer::start(counts_body(provider, usage)).await;
        let url = match provider {
            "ollama" => bad.url(),
            _ => format!("{}/v1", bad.url()),
        };
        let p = project(provider, &url, &good.url(), STREAMING);
        let w = orc_watched(&p, &["invoke", "hostile", "go"], &[]).await;
        assert_eq!(w.run.code, 0, "{usage}: {}\n{}", w.run.stdout, w.run.stderr);
        let art = latest_artifact(&p, "hostile");
        assert_eq!(art["results"]["victim"]["response"], "kept answer");
        let u = &art["metadata"]["usage"]["agents"]["victim"];
        assert_eq!(u["input_tokens"], Value::Null, "{u:#}");
        assert_eq!(u["output_tokens"], Value::Null, "{u:#}");
        assert_eq!(u["total_tokens"], Value::Null, "{u:#}");
        assert_eq!(
            u["counts_missing"],
            json!(["input_tokens", "output_tokens"])
        );
        for (field, why) in reasons {
            let got = u["counts_invalid"][field].as_str().unwrap_or("");
            assert!(
                got.starts_with(why),
                "{field}: `{got}` should start with `{why}`"
            );
        }
        // The totals are the good agents' counts, exactly, not a wrapped sum.
        let agents = art["metadata"]["usage"]["agents"]
            .as_object()
            .expect("agents");
        let counted: u64 = agents
            .values()
            .filter_map(|a| a["input_tokens"].as_u64())
            .sum();
        let totals = &art["metadata"]["usage"]["totals"];
        assert_eq!(totals["total_input_tokens"], json!(counted));
        assert!(counted > 0 && counted < 100_000, "{totals:#}");
        assert_eq!(totals["agents_with_missing_counts"], 1);
        assert_eq!(totals["agents_with_invalid_counts"], 1);
    }
}

fn tls_fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_endpoints_speak_tls_and_name_a_certificate_error() {
    let good = sim().await;
    let answer = counts_body("ollama", r#""prompt_eval_count":12,"eval_count":3"#);
    let bad = HostileServer::start_tls(answer).await;
    let url = format!("https://127.0.0.1:{}", bad.addr.port());
    let p = project("ollama", &url, &good.url(), STREAMING);
    // The test CA is not trusted: the handshake fails on the certificate, and says so.
    let w = orc_watched(
        &p,
        &["invoke", "hostile", "go"],
        &[("SSL_CERT_FILE", None), ("SSL_CERT_DIR", None)],
    )
    .await;
    assert_contained(
        &p,
        &w,
        &format!("cannot reach {url} for `m-bad`: TLS certificate rejected"),
    );
    assert!(w.run.stderr.contains("SSL_CERT_FILE"), "{}", w.run.stderr);
    assert!(
        !w.run.stderr.contains("scheme is not http"),
        "{}",
        w.run.stderr
    );
    assert!(
        !w.run.stderr.contains("is Ollama running"),
        "{}",
        w.run.stderr
    );
    // With the CA trusted, the same endpoint answers over TLS.
    let ca = tls_fixture("ca.pem");
    let w = orc_watched(
        &p,
        &["invoke", "hostile", "go"],
        &[("SSL_CERT_FILE", Some(&ca)), ("SSL_CERT_DIR", None)],
    )
    .await;
    assert_eq!(w.run.code, 0, "{}\n{}", w.run.stdout, w.run.stderr);
    let art = latest_artifact(&p, "hostile");
    assert_eq!(art["results"]["victim"]["response"], "kept answer");
    assert_eq!(
        art["metadata"]["usage"]["agents"]["victim"]["input_tokens"],
        12
    );
    assert_eq!(art["metadata"]["usage"]["agents"]["victim"]["host"], url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_errors_name_their_cause_and_hint_only_where_it_fits() {
    let good = sim().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let cases = [
        (
            "ollama",
            format!("http://127.0.0.1:{closed}"),
            "connection refused",
            true,
        ),
        (
            "openai-compatible",
            format!("http://127.0.0.1:{closed}/v1"),
            "connection refused",
            false,
        ),
        (
            "openai-compatible",
            "http://no-such-host.invalid/v1".to_string(),
            "the host name does not resolve",
            false,
        ),
    ];
    for (provider, url, cause, ollama_hint) in cases {
        let p = project(provider, &url, &good.url(), STREAMING);
        let w = orc_watched(&p, &["invoke", "hostile", "go"], &[]).await;
        assert_contained(&p, &w, &format!("cannot reach {url} for `m-bad`: {cause}"));
        assert_eq!(
            w.run.stderr.contains("is Ollama running"),
            ollama_hint,
            "{provider} {url}: {}",
            w.run.stderr
        );
    }
}

/// `orc mcp serve` over stdio with a real MCP client.
mod mcp {
    use std::path::Path;

    use rmcp::RoleClient;
    use rmcp::ServiceExt;
    use rmcp::model::{CallToolRequestParams, CallToolResult};
    use rmcp::service::RunningService;
    use rmcp::transport::TokioChildProcess;
    use serde_json::Value;

    pub type Conn = RunningService<RoleClient, ()>;

    pub async fn connect(root: &Path, home: &Path, ollama_host: &str) -> Conn {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_orc"));
        cmd.args(["mcp", "serve", "--all-tools"])
            .current_dir(root)
            .env("HOME", home)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("LLM_ORC_LIBRARY_PATH")
            .env("OLLAMA_HOST", ollama_host)
            .kill_on_drop(true);
        ().serve(TokioChildProcess::new(cmd).expect("spawn"))
            .await
            .expect("initialize")
    }

    /// One tool call; a server that does not answer within the watchdog fails the test.
    pub async fn call(c: &Conn, tool: &str, args: Value) -> CallToolResult {
        let mut params = CallToolRequestParams::new(tool.to_string());
        if let Value::Object(m) = args {
            params = params.with_arguments(m);
        }
        tokio::time::timeout(super::WATCHDOG, c.call_tool(params))
            .await
            .unwrap_or_else(|_| panic!("{tool}: no answer within {:?}", super::WATCHDOG))
            .unwrap_or_else(|e| panic!("{tool}: {e}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_models_and_a_flood_do_not_take_the_mcp_server_down() {
    let good = sim().await;
    let tags = HostileServer::start(Act::Tags { count: 1_000_000 }).await;
    let flood = HostileServer::start(Act::EndlessStream).await;
    let p = project("ollama", &flood.url(), &good.url(), CAP_8_MIB);
    let config = std::fs::read_to_string(p.root().join(".llm-orc/config.yaml")).expect("config");
    p.write(
        ".llm-orc/config.yaml",
        &config.replace(
            "performance:\n",
            "  local:\n    model: qwen3:0.6b\n    provider: ollama\nperformance:\n",
        ),
    );
    p.ensemble(
        "one-local",
        "name: one-local\ndescription: d\nagents:\n  - name: a\n    model_profile: local\n",
    );
    let c = mcp::connect(&p.root(), &p.home(), &tags.url()).await;

    let status = mcp::call(&c, "get_provider_status", json!({})).await;
    let s = status.structured_content.unwrap_or(Value::Null);
    let ollama = &s["providers"]["ollama"]["hosts"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["host"] == tags.url()).cloned())
        .unwrap_or(Value::Null);
    assert_eq!(ollama["available"], true, "{s:#}");
    assert_eq!(ollama["model_count"], 10_000, "{ollama:#}");
    assert!(
        ollama["truncated"]
            .as_str()
            .is_some_and(|t| t.contains("the first 10000 models are listed")),
        "{ollama:#}"
    );
    // orc hung up long before the million: it read at most 8 MiB of the list.
    let written = tags.written.load(std::sync::atomic::Ordering::SeqCst);
    assert!(written < 64 << 20, "the server wrote {written} bytes");

    let runnable = mcp::call(
        &c,
        "check_ensemble_runnable",
        json!({"ensemble_name": "one-local"}),
    )
    .await;
    let r = runnable.structured_content.unwrap_or(Value::Null);
    assert_eq!(r["runnable"], false, "{r:#}");
    assert!(
        r["agents"][0]["status"]
            .as_str()
            .is_some_and(|s| s.starts_with("missing from the models listed")),
        "{r:#}"
    );

    // An invoke whose model floods the server's memory fails that agent; the server lives on.
    let inv = mcp::call(
        &c,
        "invoke",
        json!({"ensemble_name": "hostile", "input_data": "go"}),
    )
    .await;
    let text = serde_json::to_string(&inv).unwrap_or_default();
    assert!(text.contains("exceeded 8 MiB"), "{text}");
    let again = mcp::call(&c, "list_ensembles", json!({})).await;
    assert_ne!(again.is_error, Some(true));
    let listed = serde_json::to_string(&again.structured_content).unwrap_or_default();
    assert!(listed.contains("one-local"), "{listed}");
    let _ = c.cancel().await;
    assert!(latest_artifact(&p, "hostile")["results"]["bystander"]["status"] == "success");
}

/// What `tracing` recorded: each request, slot wait, retry and fallback, with the agent, host
/// and model; never the prompt (below trace level) nor a password from a base URL.
#[tokio::test]
async fn requests_retries_and_fallbacks_are_logged_without_prompts_or_secrets() {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let good = sim().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "model_profiles:
  good:
    model: qwen3:0.6b
    provider: ollama
    base_url: {good}
  gone:
    model: m-gone
    provider: openai-compatible
    base_url: http://orc-user:hunter2-secret@127.0.0.1:{closed}/v1
    fallback_model_profile: good
",
            good = good.url()
        ),
    );
    p.ensemble(
        "logged",
        "name: logged\ndescription: d\nagents:\n  - name: flaky\n    model_profile: good\n    system_prompt: PRIVATE-PROMPT [[sim:status=503*1]]\n  - name: moved\n    model_profile: gone\n",
    );
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let env = orc::load::project::Env {
        home: Some(p.home()),
        ..orc::load::project::Env::default()
    };
    let svc = orc::service::Service::open(&p.root(), None, &env);
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let mut opts = orc::service::InvokeOptions::new(rx);
    opts.write_artifact = false;
    opts.retry.base = Duration::from_millis(1);
    let inv = svc
        .invoke("logged", "USER-INPUT".into(), opts)
        .await
        .expect("invoke");
    assert!(!inv.result.has_errors(), "{:?}", inv.result.entries);
    let logs = String::from_utf8_lossy(&buf.0.lock().expect("logs")).into_owned();
    let line = |needle: &str, with: &[&str]| {
        assert!(
            logs.lines()
                .any(|l| l.contains(needle) && with.iter().all(|w| l.contains(w))),
            "no `{needle}` line with {with:?} in:\n{logs}"
        );
    };
    let host = good.url();
    line("sending request", &["agent=\"flaky\"", &host, "qwen3:0.6b"]);
    line("got a slot", &["agent=\"flaky\"", "waited_ms="]);
    line(
        "request failed; retrying",
        &[
            "WARN",
            "agent=\"flaky\"",
            "attempt=1",
            "HTTP 503",
            "backoff_ms=",
        ],
    );
    line(
        "falling back to another model profile",
        &[
            "WARN",
            "agent=\"moved\"",
            "profile=\"good\"",
            "connection refused",
        ],
    );
    assert!(
        !logs.contains("hunter2-secret"),
        "a password was logged:\n{logs}"
    );
    assert!(
        !logs.contains("PRIVATE-PROMPT"),
        "a prompt was logged:\n{logs}"
    );
    assert!(
        !logs.contains("USER-INPUT"),
        "the input was logged:\n{logs}"
    );
}
