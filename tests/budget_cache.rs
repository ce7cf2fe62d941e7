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
