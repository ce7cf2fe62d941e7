//! Token and dollar budgets, and the result cache, end to end: the real binary against the
//! in-process simulator.

mod common;

use common::{TestProject, latest_artifact, native_config};
use orc::testkit::sim::{SimConfig, Simulator};
use serde_json::{Value, json};

async fn setup(extra_config: &str) -> (Simulator, TestProject) {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("simulator");
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        &format!("{}{extra_config}", native_config(&sim.url())),
    );
    (sim, p)
}

/// An LLM agent on profile `profile` whose reply the simulator fixes.
fn agent(name: &str, profile: &str, deps: &[&str]) -> String {
    let deps = if deps.is_empty() {
        String::new()
    } else {
        format!("    depends_on: [{}]\n", deps.join(", "))
    };
    format!(
        "  - name: {name}\n    model_profile: {profile}\n    system_prompt: '[{name}] [[fake:reply=ok-{name}]]'\n{deps}"
    )
}

fn statuses(art: &Value) -> Vec<(String, String)> {
    art["results"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v["status"].as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn status_of(art: &Value, name: &str) -> String {
    art["results"][name]["status"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Once the counted tokens reach `--token-budget`, no new agent starts: the rest are skipped
/// with the reason, the artifact says `budget_exhausted` with what was spent and what did not
/// run, and the exit code is 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_budget_stops_new_agents_and_says_so() {
    let (sim, p) = setup("").await;
    p.ensemble(
        "chain",
        &format!(
            "name: chain\ndescription: t\nagents:\n{}{}{}",
            agent("first", "tiny", &[]),
            agent("second", "tiny", &["first"]),
            agent("third", "tiny", &["second"]),
        ),
    );
    let run = p
        .orc_async(&["invoke", "chain", "go", "--token-budget", "1"])
        .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("budget exhausted"), "{}", run.stderr);
    assert_eq!(sim.requests().len(), 1, "only the first agent called");
    let art = latest_artifact(&p, "chain");
    assert_eq!(art["status"], "budget_exhausted");
    assert_eq!(art["metadata"]["orc"]["status"], "budget_exhausted");
    assert_eq!(status_of(&art, "first"), "success");
    assert_eq!(status_of(&art, "second"), "skipped");
    assert_eq!(status_of(&art, "third"), "skipped");
    let budget = &art["metadata"]["orc"]["budget"];
    assert_eq!(budget["limit_tokens"], 1);
    assert_eq!(budget["skipped"], json!(["second", "third"]));
    let spent = budget["spent_tokens"].as_u64().unwrap_or(0);
    assert_eq!(
        Some(spent),
        art["metadata"]["usage"]["totals"]["total_tokens"].as_u64(),
        "the budget counts what the usage counts"
    );
    let note = art["metadata"]["orc"]["notes"]["second"]
        .as_str()
        .unwrap_or("");
    assert_eq!(note, format!("token budget of 1 reached: {spent} counted"));

    // A budget of 0 would start nothing: a usage error.
    let zero = p
        .orc_async(&["invoke", "chain", "go", "--token-budget", "0"])
        .await;
    assert_eq!(zero.code, 2, "{}", zero.stderr);
    assert_eq!(sim.requests().len(), 1);

    // A budget the run stays under changes nothing.
    let run = p
        .orc_async(&["invoke", "chain", "go", "--token-budget", "1000000"])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let art = latest_artifact(&p, "chain");
    assert_eq!(art["status"], "completed");
    assert!(statuses(&art).iter().all(|(_, s)| s == "success"));
    assert_eq!(art["metadata"]["orc"]["budget"]["skipped"], json!([]));
}

/// A dollar budget counts only priced models: agents on a local model without a cost add 0, so
/// they never exhaust it; the first priced call does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dollar_budget_exempts_zero_cost_models() {
    let (sim, p) = setup("").await;
    // A priced profile beside the free ones (config.yaml's model_profiles).
    let cfg = std::fs::read_to_string(p.root().join(".llm-orc/config.yaml")).expect("config");
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "{}  priced:\n    model: gemma3:1b\n    provider: ollama\n    base_url: {}\n    cost_per_token: 0.001\nperformance:\n  budget:\n    cost_usd_per_run: 0.000001\n",
            cfg,
            sim.url()
        ),
    );
    p.ensemble(
        "mixed",
        &format!(
            "name: mixed\ndescription: t\nagents:\n{}{}{}{}",
            agent("free1", "tiny", &[]),
            agent("free2", "tiny", &["free1"]),
            agent("paid", "priced", &["free2"]),
            agent("after", "tiny", &["paid"]),
        ),
    );
    let run = p.orc_async(&["invoke", "mixed", "go"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let art = latest_artifact(&p, "mixed");
    assert_eq!(art["status"], "budget_exhausted");
    for a in ["free1", "free2", "paid"] {
        assert_eq!(status_of(&art, a), "success", "{a}");
    }
    assert_eq!(status_of(&art, "after"), "skipped");
    let budget = &art["metadata"]["orc"]["budget"];
    assert_eq!(budget["skipped"], json!(["after"]));
    let paid_tokens = art["metadata"]["usage"]["agents"]["paid"]["total_tokens"]
        .as_f64()
        .unwrap_or(0.0);
    let spent = budget["spent_cost_usd"].as_f64().unwrap_or(0.0);
    assert!(
        (spent - paid_tokens * 0.001).abs() < 1e-9,
        "only the priced agent costs: {spent}"
    );
    assert_eq!(sim.requests().len(), 3);
}

/// A config with a deterministic profile (`det`, temperature 0) beside the two free ones, and
/// `performance:` as given.
fn cache_config(url: &str, performance: &str) -> String {
    format!(
        "{}  det:\n    model: qwen3:0.6b\n    provider: ollama\n    base_url: {url}\n    temperature: 0\n  seeded:\n    model: qwen3:0.6b\n    provider: ollama\n    base_url: {url}\n    options:\n      seed: 42\n{performance}",
        native_config(url)
    )
}

fn two_agents(profile: &str) -> String {
    format!(
        "name: pair\ndescription: t\nagents:\n{}{}",
        agent("a", profile, &[]),
        agent("b", profile, &["a"]),
    )
}

/// With the cache on, a second identical run sends no request: each answer is `cached: true`,
/// keeps what it once cost in `cached_usage`, and the run's usage counts it as nothing (so a
/// budget does not stop it either). `orc cache stats` counts the entries; `clear` empties them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_identical_run_is_served_from_the_cache() {
    let (sim, p) = setup("").await;
    p.write(".llm-orc/config.yaml", &cache_config(&sim.url(), ""));
    p.ensemble("pair", &two_agents("det"));
    let first = p
        .orc_async(&["invoke", "pair", "same input", "--cache"])
        .await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(sim.requests().len(), 2);
    let art1 = latest_artifact(&p, "pair");
    assert!(art1["results"]["a"].get("cached").is_none());

    let second = p
        .orc_async(&[
            "invoke",
            "pair",
            "same input",
            "--cache",
            "--token-budget",
            "1",
        ])
        .await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(sim.requests().len(), 2, "no request on the second run");
    let art = latest_artifact(&p, "pair");
    for name in ["a", "b"] {
        let r = &art["results"][name];
        assert_eq!(r["status"], "success");
        assert_eq!(r["cached"], true);
        assert_eq!(r["response"], art1["results"][name]["response"]);
        assert_eq!(
            r["cached_usage"]["total_tokens"],
            art1["metadata"]["usage"]["agents"][name]["total_tokens"]
        );
    }
    assert_eq!(art["metadata"]["orc"]["cached"], json!(["a", "b"]));
    assert_eq!(art["metadata"]["usage"]["totals"]["total_tokens"], 0);
    assert_eq!(art["metadata"]["orc"]["budget"]["spent_tokens"], 0);

    // Another input is a miss.
    let other = p.orc_async(&["invoke", "pair", "other", "--cache"]).await;
    assert_eq!(other.code, 0);
    assert_eq!(sim.requests().len(), 4);

    let stats = p.orc_async(&["cache", "stats", "--format", "json"]).await;
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    let v: Value = serde_json::from_str(&stats.stdout).expect("json");
    assert_eq!(v["kinds"][0]["kind"], "llm");
    assert_eq!(v["kinds"][0]["entries"], 4);
    assert_eq!(v["kinds"][1]["kind"], "scripts");
    assert_eq!(v["kinds"][1]["entries"], 0);
    let text = p.orc_async(&["cache", "stats"]).await;
    assert!(
        text.stdout
            .lines()
            .any(|l| l.starts_with("llm") && l.contains(" 4 entries")),
        "{}",
        text.stdout
    );

    let clear = p.orc_async(&["cache", "clear", "--kind", "llm"]).await;
    assert_eq!(clear.code, 0);
    assert!(
        clear.stdout.contains("removed 4 entries"),
        "{}",
        clear.stdout
    );
    let again = p
        .orc_async(&["invoke", "pair", "same input", "--cache"])
        .await;
    assert_eq!(again.code, 0);
    assert_eq!(sim.requests().len(), 6, "a cleared cache is a miss");
}

/// `result_cache: true` keeps only deterministic answers: a request without temperature 0 or
/// a seed is sent every time, unless the config says `always`. `--no-cache` wins over config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_deterministic_requests_are_cached_unless_always() {
    let (sim, p) = setup("").await;
    p.ensemble("pair", &two_agents("tiny"));
    p.write(
        ".llm-orc/config.yaml",
        &cache_config(&sim.url(), "performance:\n  result_cache: true\n"),
    );
    for _ in 0..2 {
        assert_eq!(p.orc_async(&["invoke", "pair", "x"]).await.code, 0);
    }
    assert_eq!(sim.requests().len(), 4, "temperature unset: not cached");
    p.ensemble(
        "seeded",
        &two_agents("seeded").replace("name: pair", "name: seeded"),
    );
    for _ in 0..2 {
        assert_eq!(p.orc_async(&["invoke", "seeded", "x"]).await.code, 0);
    }
    assert_eq!(sim.requests().len(), 6, "a fixed seed is deterministic");
    assert_eq!(
        latest_artifact(&p, "seeded")["results"]["b"]["cached"],
        true
    );

    p.write(
        ".llm-orc/config.yaml",
        &cache_config(&sim.url(), "performance:\n  result_cache: always\n"),
    );
    for _ in 0..2 {
        assert_eq!(p.orc_async(&["invoke", "pair", "x"]).await.code, 0);
    }
    assert_eq!(sim.requests().len(), 8, "always: the second run is a hit");
    assert_eq!(
        p.orc_async(&["invoke", "pair", "x", "--no-cache"])
            .await
            .code,
        0
    );
    assert_eq!(sim.requests().len(), 10, "--no-cache wins over config");
    assert!(
        latest_artifact(&p, "pair")["results"]["a"]
            .get("cached")
            .is_none()
    );
}

/// Two `orc invoke` at once on one project, with the cache on: both succeed and every entry in
/// the cache is whole JSON (entries are renamed into place, never written in place).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_the_cache() {
    let (sim, p) = setup("").await;
    p.write(".llm-orc/config.yaml", &cache_config(&sim.url(), ""));
    let many: String = (0..8)
        .map(|i| agent(&format!("w{i}"), "det", &[]))
        .collect();
    p.ensemble(
        "wide",
        &format!("name: wide\ndescription: t\nagents:\n{many}"),
    );
    let mut a = p.command(&["invoke", "wide", "shared", "--cache"]);
    let mut b = p.command(&["invoke", "wide", "shared", "--cache"]);
    let (ra, rb) = tokio::task::spawn_blocking(move || {
        let ca = a.spawn().expect("spawn a");
        let cb = b.spawn().expect("spawn b");
        (
            ca.wait_with_output().expect("wait a"),
            cb.wait_with_output().expect("wait b"),
        )
    })
    .await
    .expect("join");
    assert!(ra.status.success() && rb.status.success());
    let dir = p.root().join(".llm-orc/cache/llm");
    let entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(entries.len(), 8, "{entries:?}");
    for e in entries {
        let text = std::fs::read_to_string(&e).expect("read");
        let v: Value = serde_json::from_str(&text).expect("a whole entry");
        assert!(v["value"]["response"].is_string());
    }
    // And a third run is served entirely from what the two left.
    let before = sim.requests().len();
    assert_eq!(
        p.orc_async(&["invoke", "wide", "shared", "--cache"])
            .await
            .code,
        0
    );
    assert_eq!(sim.requests().len(), before);
}
