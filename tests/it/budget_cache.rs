//! Token and dollar budgets, and the result cache, end to end: the real binary against the
//! in-process simulator.

use crate::common;

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

/// What a budget run spent: tokens counted (the usage), the budget's own figure, the most one
/// call cost, and the requests the simulator answered.
struct Spent {
    tokens: u64,
    budget_spent: u64,
    max_call: u64,
    requests: usize,
}

fn spent(art: &Value, sim: &Simulator) -> Spent {
    let max_call = art["metadata"]["usage"]["agents"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|u| u["total_tokens"].as_u64())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    Spent {
        tokens: art["metadata"]["usage"]["totals"]["total_tokens"]
            .as_u64()
            .unwrap_or(0),
        budget_spent: art["metadata"]["orc"]["budget"]["spent_tokens"]
            .as_u64()
            .unwrap_or(0),
        max_call,
        requests: sim.requests().len(),
    }
}

/// Runs `ensemble` under `--token-budget BUDGET` (and `extra` flags): exit 1, status
/// `budget_exhausted`, and what was spent against the budget (printed for the report).
async fn over_budget(
    p: &TestProject,
    sim: &Simulator,
    ensemble: &str,
    budget: u64,
    extra: &[&str],
) -> Spent {
    let b = budget.to_string();
    let mut args = vec!["invoke", ensemble, "go", "--token-budget", b.as_str()];
    args.extend_from_slice(extra);
    let before = sim.requests().len();
    let run = p.orc_async(&args).await;
    let art = latest_artifact(p, ensemble);
    let mut s = spent(&art, sim);
    s.requests -= before;
    eprintln!(
        "budget case {ensemble} {extra:?}: {} tokens spent against a budget of {budget} ({} requests; one call at most {}; status {}, exit {})",
        s.tokens, s.requests, s.max_call, art["status"], run.code
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("budget exhausted"), "{}", run.stderr);
    assert_eq!(art["status"], "budget_exhausted");
    assert_eq!(
        s.tokens, s.budget_spent,
        "the budget counts what the usage counts"
    );
    s
}

/// `n` independent agents on `tiny`, then one that depends on them all.
fn fan_in(name: &str, n: usize) -> String {
    let mut y = format!("name: {name}\ndescription: t\nagents:\n");
    let names: Vec<String> = (0..n).map(|i| format!("w{i}")).collect();
    for w in &names {
        y.push_str(&agent(w, "tiny", &[]));
    }
    let deps: Vec<&str> = names.iter().map(String::as_str).collect();
    y.push_str(&agent("join", "tiny", &deps));
    y
}

/// The budget is checked when an agent starts, not when it becomes ready: agents queued for a
/// slot (the per-model limit of 4, or `--max-concurrent 1`) never start once it is spent, so
/// the overshoot is at most what was in flight. Before, a 40-wide fan-in spent 1,800 tokens of
/// a budget of 100 with or without `--max-concurrent 1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_stops_agents_queued_for_a_slot() {
    let (sim, p) = setup("").await;
    p.ensemble("wide", &fan_in("wide", 40));
    // One at a time: at most one call in flight when the budget goes.
    let one = over_budget(&p, &sim, "wide", 100, &["--max-concurrent", "1"]).await;
    assert!(
        one.tokens < 100 + one.max_call,
        "one in flight: at most one call past the budget ({} spent, one call {})",
        one.tokens,
        one.max_call
    );
    // The per-model limit (4 by default): at most 4 calls in flight.
    let four = over_budget(&p, &sim, "wide", 100, &[]).await;
    let requests = four.requests;
    assert!(
        four.tokens < 100 + 4 * four.max_call,
        "{} spent, one call {}",
        four.tokens,
        four.max_call
    );
    assert!(requests < 10, "{requests} requests of 41");
}

/// Nested ensembles and fan-out instances are agents like any other: 5 nested ensembles of 10
/// (before: 2,250 tokens of 100) and a fan-out to 100 (before: 6,233 of 100) stop within what
/// was in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_holds_across_nested_ensembles_and_fan_outs() {
    let (sim, p) = setup("").await;
    let mut child = String::from("name: ten\ndescription: t\nagents:\n");
    for i in 0..10 {
        child.push_str(&agent(&format!("c{i}"), "tiny", &[]));
    }
    p.ensemble("ten", &child);
    let mut outer = String::from("name: nested5\ndescription: t\nagents:\n");
    for i in 0..5 {
        outer.push_str(&format!("  - name: n{i}\n    ensemble: ten\n"));
    }
    p.ensemble("nested5", &outer);
    let nested = over_budget(&p, &sim, "nested5", 100, &[]).await;
    assert!(
        nested.tokens < 100 + 4 * nested.max_call,
        "{} spent, one call {}",
        nested.tokens,
        nested.max_call
    );

    p.write(
        ".llm-orc/scripts/items.sh",
        "printf '{\"success\": true, \"data\": ['\nfor i in $(seq 1 99); do printf '\"item %s\", ' \"$i\"; done\nprintf '\"item 100\"]}'\n",
    );
    p.ensemble(
        "fan100",
        "name: fan100\ndescription: t\nagents:\n  - name: split\n    script: scripts/items.sh\n  - name: each\n    model_profile: tiny\n    system_prompt: '[each] [[fake:reply=ok]]'\n    depends_on: [split]\n    fan_out: true\n",
    );
    let fan = over_budget(&p, &sim, "fan100", 100, &[]).await;
    let requests = fan.requests;
    assert!(
        fan.tokens < 100 + 4 * fan.max_call,
        "{} spent, one call {}",
        fan.tokens,
        fan.max_call
    );
    assert!(requests < 12, "{requests} of 100 instances called");
}

/// A server that reports no counts cannot turn a budget off: the missing counts are estimated
/// from bytes (4 a token), the artifact and stderr say which agents were estimated, and the run
/// stops as with counts. Before, 10 of 10 agents ran under a budget of 1, silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_estimates_counts_the_server_did_not_report() {
    let (sim, p) = setup("").await;
    let mut y = String::from("name: nocounts\ndescription: t\nagents:\n");
    for i in 0..10 {
        y.push_str(&format!(
            "  - name: a{i}\n    model_profile: tiny\n    system_prompt: '[a{i}] [[sim:omit=counts]]'\n"
        ));
    }
    p.ensemble("nocounts", &y);
    let run = p
        .orc_async(&[
            "invoke",
            "nocounts",
            "go",
            "--token-budget",
            "1",
            "--max-concurrent",
            "1",
        ])
        .await;
    let art = latest_artifact(&p, "nocounts");
    eprintln!(
        "budget case nocounts: {} of 10 agents ran under a budget of 1 (status {}, exit {})",
        sim.requests().len(),
        art["status"],
        run.code
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("estimated"), "{}", run.stderr);
    assert_eq!(
        sim.requests().len(),
        1,
        "one agent ran, the other 9 did not"
    );
    assert_eq!(art["status"], "budget_exhausted");
    let b = &art["metadata"]["orc"]["budget"];
    let est = b["estimated_tokens"].as_u64().unwrap_or(0);
    assert!(est > 0, "{b}");
    assert_eq!(b["spent_tokens"].as_u64(), Some(est), "all of it estimated");
    assert_eq!(b["estimated"].as_array().map(Vec::len), Some(1), "{b}");
    assert_eq!(b["skipped"].as_array().map(Vec::len), Some(9));
    // Which of the ten ready agents took the one slot is the scheduler's choice: each skipped
    // one says why, and that the count behind it was estimated.
    for skipped in b["skipped"].as_array().into_iter().flatten() {
        let name = skipped.as_str().unwrap_or("");
        let note = art["metadata"]["orc"]["notes"][name].as_str().unwrap_or("");
        assert!(note.contains("estimated"), "{name}: {note}");
    }
    eprintln!(
        "budget case nocounts: {est} tokens (all estimated) against a budget of 1; 1 of 10 agents ran"
    );
}

/// The cache never follows a link and serves only what this machine computed: `orc cache clear`
/// leaves a linked `.llm-orc/cache/llm` (and what it points at) alone and says so (before, it
/// deleted the files in the target); an entry written on another machine (a `.llm-orc/cache`
/// shipped in a cloned repository) or stamped in the future is a miss, and `cache stats` says
/// where entries came from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_never_follows_links_and_serves_only_its_own_entries() {
    let (sim, p) = setup("").await;
    p.write(".llm-orc/config.yaml", &cache_config(&sim.url(), ""));
    p.ensemble("pair", &two_agents("det"));
    let first = p.orc_async(&["invoke", "pair", "x", "--cache"]).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(sim.requests().len(), 2);
    let llm = p.root().join(".llm-orc/cache/llm");
    let entries: Vec<std::path::PathBuf> = std::fs::read_dir(&llm)
        .expect("cache folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert_eq!(entries.len(), 2);
    // One entry as if shipped from another machine, the other stamped a year ahead.
    let mut shipped: Value =
        serde_json::from_str(&std::fs::read_to_string(&entries[0]).expect("entry")).expect("json");
    shipped["origin"]["machine"] = json!("0123456789abcdef");
    std::fs::write(&entries[0], shipped.to_string()).expect("write");
    let mut future: Value =
        serde_json::from_str(&std::fs::read_to_string(&entries[1]).expect("entry")).expect("json");
    future["stored_at"] = json!(future["stored_at"].as_f64().unwrap_or(0.0) + 365.0 * 86400.0);
    std::fs::write(&entries[1], future.to_string()).expect("write");
    let stats = p.orc_async(&["cache", "stats", "--format", "json"]).await;
    let doc: Value = serde_json::from_str(&stats.stdout).expect("stats json");
    assert_eq!(
        doc["kinds"][0]["origin"],
        json!({"this_project": 0, "other_folder": 0, "elsewhere": 1, "future": 1}),
        "{}",
        stats.stdout
    );
    let again = p.orc_async(&["invoke", "pair", "x", "--cache"]).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(sim.requests().len(), 4, "neither planted entry was served");

    // A linked cache folder: clear leaves it and its target alone.
    let outside = p.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(outside.join("precious.json"), "{}").expect("write");
    std::fs::remove_dir_all(&llm).expect("rm");
    std::os::unix::fs::symlink(&outside, &llm).expect("link");
    let clear = p.orc_async(&["cache", "clear"]).await;
    assert_eq!(clear.code, 1, "{}", clear.stderr);
    assert!(clear.stderr.contains("symbolic link"), "{}", clear.stderr);
    assert!(
        outside.join("precious.json").exists(),
        "nothing removed outside"
    );
    let stats = p.orc_async(&["cache", "stats"]).await;
    assert!(stats.stdout.contains("symbolic link"), "{}", stats.stdout);
}
