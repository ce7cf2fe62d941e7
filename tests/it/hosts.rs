//! Many Ollama hosts (`hosts:` in config.yaml, `OLLAMA_HOSTS`): the real binary spreads work
//! over simulators, survives a host that dies, sends a model only where it is installed, uses a
//! host that comes back, and shows each host's breaker.

use crate::common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use common::{latest_artifact, peer_project};
use orc::testkit::sim::{SimConfig, Simulator};
use serde_json::Value;

/// Profiles without a base_url (so they run on the pool), and the pool.
fn pool_config(hosts: &[String], extra: &str) -> String {
    let mut s = String::from(
        "model_profiles:
  tiny:
    model: qwen3:0.6b
    provider: ollama
    system_prompt: You are terse.
  small:
    model: gemma3:1b
    provider: ollama
    system_prompt: You are thorough.
hosts:
",
    );
    for h in hosts {
        s.push_str(&format!("  - {h}\n"));
    }
    s.push_str(extra);
    s
}

/// A simulator slow enough that requests are in flight while the test looks.
fn slow() -> SimConfig {
    SimConfig {
        ttft: Duration::from_millis(20),
        per_token: Duration::from_millis(2),
        parallel: 4,
        ..SimConfig::default()
    }
}

async fn sims(n: usize, cfg: SimConfig) -> Vec<Simulator> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(Simulator::start(cfg.clone(), 0).await.expect("sim"));
    }
    v
}

/// Polls a condition (not a timing assert: the test only waits for the state it needs).
async fn wait_for(mut cond: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("condition not reached");
}

fn hosts_in(art: &Value) -> BTreeMap<String, Value> {
    art["metadata"]["orc"]["hosts"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|h| (h["url"].as_str().unwrap_or("").to_string(), h.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn all_succeeded(art: &Value, n: usize) {
    let results = art["results"].as_object().expect("results");
    assert_eq!(results.len(), n);
    for (name, r) in results {
        assert_eq!(r["status"], "success", "{name}: {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wide_fan_in_spreads_over_every_host() {
    let s = sims(3, SimConfig::default()).await;
    let p = peer_project();
    let urls: Vec<String> = s.iter().map(Simulator::url).collect();
    p.write(".llm-orc/config.yaml", &pool_config(&urls, ""));
    let run = p.orc_async(&["invoke", "peer-wide128", "go"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let served: Vec<usize> = s.iter().map(|x| x.requests().len()).collect();
    assert!(served.iter().all(|&n| n > 0), "served per host: {served:?}");
    assert_eq!(served.iter().sum::<usize>(), 129, "{served:?}");
    let art = latest_artifact(&p, "peer-wide128");
    all_succeeded(&art, 129);
    // Each agent's result names the host that served it.
    let agents = art["metadata"]["usage"]["agents"]
        .as_object()
        .expect("usage");
    for (i, sim) in s.iter().enumerate() {
        let by_result = agents
            .values()
            .filter(|u| u["host"] == sim.url().as_str())
            .count();
        assert_eq!(by_result, served[i], "host {}", sim.url());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_hosts_names_the_pool() {
    let s = sims(2, slow()).await;
    let p = peer_project();
    // config.yaml has no hosts; OLLAMA_HOSTS lists both.
    p.write(
        ".llm-orc/config.yaml",
        &pool_config(&[], "").replace("hosts:\n", ""),
    );
    let list = format!("{}, {}", s[0].url(), s[1].url());
    let mut cmd = p.command(&["invoke", "peer-fanin", "go"]);
    cmd.env("OLLAMA_HOSTS", &list);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(0));
    assert!(s[0].requests().len() + s[1].requests().len() == 9);
    assert!(s.iter().all(|x| !x.requests().is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_killed_mid_run_loses_no_agent() {
    let s = sims(3, slow()).await;
    let p = peer_project();
    let urls: Vec<String> = s.iter().map(Simulator::url).collect();
    p.write(".llm-orc/config.yaml", &pool_config(&urls, ""));
    let child = p
        .command(&["invoke", "peer-wide128", "go"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn orc");
    wait_for(|| s[2].in_flight() >= 3).await;
    s[2].stop();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait"))
        .await
        .expect("join");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let art = latest_artifact(&p, "peer-wide128");
    all_succeeded(&art, 129);
    let hosts = hosts_in(&art);
    let dead = &hosts[&s[2].url()];
    assert_eq!(dead["breaker"], "open", "{dead}");
    assert!(dead["breaker_opened"].as_u64() >= Some(1), "{dead}");
    for live in &s[..2] {
        assert_eq!(hosts[&live.url()]["breaker"], "closed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_installed_on_one_host_goes_only_there() {
    let both = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let only_small = Simulator::start(
        SimConfig {
            models: vec!["gemma3:1b".into()],
            ..SimConfig::default()
        },
        0,
    )
    .await
    .expect("sim");
    let p = peer_project();
    p.write(
        ".llm-orc/config.yaml",
        &pool_config(&[only_small.url(), both.url()], ""),
    );
    let run = p.orc_async(&["invoke", "peer-swarm", "go"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        only_small
            .requests()
            .iter()
            .all(|r| r.model == "gemma3:1b" && r.status == 200),
        "qwen3 went to a host without it"
    );
    let tiny_on_both = both
        .requests()
        .iter()
        .filter(|r| r.model == "qwen3:0.6b")
        .count();
    assert_eq!(tiny_on_both, 32);
    all_succeeded(&latest_artifact(&p, "peer-swarm"), 37);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_on_no_host_fails_with_the_pull_hint() {
    let s = Simulator::start(
        SimConfig {
            models: vec!["gemma3:1b".into()],
            ..SimConfig::default()
        },
        0,
    )
    .await
    .expect("sim");
    let p = peer_project();
    p.write(".llm-orc/config.yaml", &pool_config(&[s.url()], ""));
    let run = p.orc_async(&["invoke", "peer-sequential", "go"]).await;
    assert_eq!(run.code, 1);
    let art = latest_artifact(&p, "peer-sequential");
    let err = art["results"]["drafter"]["error"].as_str().unwrap_or("");
    assert!(
        err.contains("not installed on any host") && err.contains("ollama pull qwen3:0.6b"),
        "{err}"
    );
    assert!(s.requests().iter().all(|r| r.model != "qwen3:0.6b"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_returns_is_used_again_and_its_breaker_closes() {
    let s = sims(3, slow()).await;
    let p = peer_project();
    let urls: Vec<String> = s.iter().map(Simulator::url).collect();
    // A short cool-down, so the breaker probes the host again within the run.
    p.write(
        ".llm-orc/config.yaml",
        &pool_config(
            &urls,
            "performance:\n  execution:\n    host_cool_down: 0.05\n",
        ),
    );
    let child = p
        .command(&["invoke", "peer-wide128", "go"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn orc");
    wait_for(|| s[2].in_flight() >= 3).await;
    s[2].stop();
    let port = s[2].addr().port();
    // The old listener closes once its aborted task is dropped: poll until the port is free.
    let mut back = None;
    for _ in 0..2000 {
        if let Ok(sim) = Simulator::start(slow(), port).await {
            back = Some(sim);
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let back = back.expect("restart on the same port");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait"))
        .await
        .expect("join");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let art = latest_artifact(&p, "peer-wide128");
    all_succeeded(&art, 129);
    assert!(
        !back.requests().is_empty(),
        "the returned host was not used"
    );
    let h = &hosts_in(&art)[&back.url()];
    assert!(h["breaker_opened"].as_u64() >= Some(1), "{h}");
    assert_eq!(h["breaker"], "closed", "{h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orc_hosts_shows_each_host() {
    let up = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let down = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let down_url = down.url();
    drop(down);
    let p = peer_project();
    p.write(
        ".llm-orc/config.yaml",
        &pool_config(
            &[
                format!("{{url: {}, priority: 2, max_loaded_models: 1}}", up.url()),
                down_url.clone(),
            ],
            "",
        ),
    );
    let run = p.orc_async(&["invoke", "peer-sequential", "go"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = p.orc_async(&["hosts", "--format", "json"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["pool"], true);
    let hosts = v["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 2);
    let a = &hosts[0];
    assert_eq!(a["url"], up.url().as_str());
    assert_eq!(a["reachable"], true);
    assert!(a["version"].is_string(), "{a}");
    let has = |k: &str, m: &str| a[k].as_array().is_some_and(|l| l.iter().any(|x| x == m));
    assert!(has("models_installed", "qwen3:0.6b") && has("models_installed", "gemma3:1b"));
    assert!(has("models_loaded", "qwen3:0.6b"), "{a}");
    assert_eq!(a["in_flight"], 0);
    assert_eq!(a["breaker"], "closed");
    assert_eq!(a["priority"], 2);
    assert_eq!(a["max_loaded_models"], 1);
    let b = &hosts[1];
    assert_eq!(b["url"], down_url.as_str());
    assert_eq!(b["reachable"], false);
    assert!(b["last_error"].is_string(), "{b}");

    let text = p.orc_async(&["hosts"]).await;
    assert_eq!(text.code, 0);
    assert!(
        text.stdout.contains(&format!("{}  up (Ollama ", up.url()))
            && text.stdout.contains(&format!("{down_url}  DOWN: ")),
        "{}",
        text.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orc_hosts_without_a_pool_shows_the_one_host() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = peer_project();
    let mut cmd = p.command(&["hosts", "--format", "json"]);
    cmd.env("OLLAMA_HOST", sim.url());
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["pool"], false);
    assert_eq!(v["hosts"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["hosts"][0]["url"], sim.url().as_str());
    assert_eq!(v["hosts"][0]["reachable"], true);
    // Nobody answers: exit 1.
    drop(sim);
    let out = p.orc_async(&["hosts"]).await;
    assert_eq!(out.code, 1, "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeline_has_a_lane_per_host() {
    let s = sims(2, slow()).await;
    let p = peer_project();
    let urls: Vec<String> = s.iter().map(Simulator::url).collect();
    p.write(".llm-orc/config.yaml", &pool_config(&urls, ""));
    let run = p.orc_async(&["invoke", "peer-fanin", "go"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = p.orc_async(&["report", "timeline", "latest"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let svg = out.stdout;
    assert_eq!(svg.matches("<g class=\"lane\"").count(), 2, "{svg}");
    for sim in &s {
        let n = sim.requests().len();
        assert!(
            svg.contains(&format!("<g class=\"lane\" data-host=\"{}\">", sim.url()))
                && svg.contains(&format!("{} ({n})</text>", sim.url())),
            "{svg}"
        );
    }
    assert_eq!(svg.matches("<g class=\"agent").count(), 9);
}

/// Residency: on a host that holds one model at once, a 32 -> 4 -> 1 swarm over two models
/// loads each model once per run: the extractors' model, then the analysers'.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_loaded_model_means_two_loads_per_swarm_run() {
    let sim = Simulator::start(
        SimConfig {
            ttft: Duration::from_millis(2),
            per_token: Duration::from_millis(1),
            parallel: 4,
            max_loaded: 1,
            load_time: Duration::from_millis(30),
            ..SimConfig::default()
        },
        0,
    )
    .await
    .expect("sim");
    let p = peer_project();
    p.write(
        ".llm-orc/config.yaml",
        &pool_config(
            &[format!("{{url: {}, max_loaded_models: 1}}", sim.url())],
            "",
        ),
    );
    for run in 1..=5u64 {
        let out = p.orc_async(&["invoke", "peer-swarm", "go"]).await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(sim.loads(), 2 * run, "loads after run {run}");
    }
    all_succeeded(&latest_artifact(&p, "peer-swarm"), 37);
}

/// `n` agents on `tiny` and one on `small` that depends on them all.
fn fan_in_yaml(name: &str, n: usize) -> String {
    let mut y = format!("name: {name}\ndescription: t\nagents:\n");
    for i in 0..n {
        y.push_str(&format!(
            "  - name: w{i}\n    model_profile: tiny\n    system_prompt: '[w{i}] extract'\n"
        ));
    }
    let deps: Vec<String> = (0..n).map(|i| format!("w{i}")).collect();
    y.push_str(&format!(
        "  - name: join\n    model_profile: small\n    depends_on: [{}]\n",
        deps.join(", ")
    ));
    y
}

/// Runs a 29-agent fan-in on [stalled, healthy, healthy]: every agent succeeds on a healthy host,
/// the stalled host's breaker counted its silence, and the figures are printed for the report.
async fn run_beside_a_stalled_host(
    how: orc::testkit::sim::Stall,
    execution: &str,
) -> (Value, Vec<Simulator>) {
    let s = sims(3, SimConfig::default()).await;
    s[0].stall(Some(how));
    let p = common::TestProject::new();
    let urls: Vec<String> = s.iter().map(Simulator::url).collect();
    p.write(
        ".llm-orc/config.yaml",
        &pool_config(&urls, &format!("performance:\n  execution:\n{execution}")),
    );
    p.ensemble("fan29", &fan_in_yaml("fan29", 28));
    let started = std::time::Instant::now();
    let run = p.orc_async(&["invoke", "fan29", "go"]).await;
    let art = latest_artifact(&p, "fan29");
    let lost = art["results"]
        .as_object()
        .map(|m| m.values().filter(|r| r["status"] != "success").count())
        .unwrap_or(29);
    eprintln!(
        "stalled host ({how:?}, {}): {lost} of 29 agents lost, {:.2} s wall, exit {}, {} request(s) stalled",
        execution.trim().replace('\n', ","),
        started.elapsed().as_secs_f64(),
        run.code,
        s[0].stalled()
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    all_succeeded(&art, 29);
    assert!(s[0].stalled() >= 1, "the stalled host was never tried");
    assert_eq!(
        s[1].requests().len() + s[2].requests().len(),
        29,
        "the healthy hosts answered every agent"
    );
    let hosts = hosts_in(&art);
    let stalled = &hosts[&s[0].url()];
    assert!(
        stalled["consecutive_failures"].as_u64() >= Some(1),
        "a timeout is a host failure: {stalled}"
    );
    (stalled.clone(), s)
}

/// A pool host that accepts requests and never answers: a timeout is a host failure (its
/// breaker counts it, it opens) and the request moves to a healthy host with a fresh timeout,
/// so no agent is lost while a healthy host has its model. Before: 8 of 29 agents failed with
/// the timeout, the breaker stayed closed with 0 failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_host_is_a_host_failure_and_its_agents_move_on() {
    let (stalled, _s) =
        run_beside_a_stalled_host(orc::testkit::sim::Stall::Hang, "    default_timeout: 2\n").await;
    assert!(stalled["breaker_opened"].as_u64() >= Some(1), "{stalled}");
    let why = stalled["last_error"].as_str().unwrap_or("");
    assert!(why.contains("timed out"), "{why}");
}

/// A host that sends headers and then a byte now and then, never a message: with
/// `idle_timeout` it is abandoned long before the agent's timeout (30 s here), counted as a
/// failure, and the request moves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dripping_host_is_abandoned_at_the_idle_deadline() {
    let (stalled, _s) = run_beside_a_stalled_host(
        orc::testkit::sim::Stall::Drip,
        "    default_timeout: 30\n    idle_timeout: 0.3\n",
    )
    .await;
    let why = stalled["last_error"].as_str().unwrap_or("");
    assert!(why.contains("idle_timeout"), "{why}");
}
