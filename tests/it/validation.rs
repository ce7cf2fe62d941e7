//! Validation ensembles: `orc validate run | all | category`, the `validation_result` in the
//! artifact, `test_mode` answers, the semantic judge, and invalid blocks.

use crate::common;

use common::{TestProject, latest_artifact, native_config};
use orc::testkit::sim::{SimConfig, Simulator};

async fn setup() -> (Simulator, TestProject) {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("simulator");
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &native_config(&sim.url()));
    (sim, p)
}

const PASSING: &str = "name: passing
description: checks that pass
agents:
  - name: extract
    script: primitives/data_transform/json_extract.py
    parameters: {json_data: '{\"title\": \"T\", \"owner\": \"ops\"}', fields: [title, owner]}
  - name: summarise
    model_profile: tiny
    system_prompt: '[[fake:reply=A short summary.]]'
    depends_on: [extract]
validation:
  category: smoke
  structural: {required_agents: [extract, summarise], max_execution_time: 600}
  schema_validations:
    - {agent: extract, output_schema: JsonExtractOutput, required_fields: [success, extracted]}
  behavioral:
    - {name: order, description: extract first, assertion: \"execution_order == ['extract', 'summarise']\"}
    - {name: found, description: nothing missing, assertion: \"agent_outputs['extract']['missing_fields'] == []\"}
  quantitative:
    - {metric: agent_count, threshold: '>= 2', description: both ran}
  semantic:
    enabled: true
    validator_model: tiny
    criteria: ['the summary is short [[fake:reply=PASS it is short]]']
";

const FAILING: &str = "name: failing
description: checks that fail
agents:
  - name: extract
    script: primitives/data_transform/json_extract.py
    parameters: {json_data: '{\"title\": \"T\"}', fields: [title, owner]}
validation:
  structural: {required_agents: [extract, publish]}
  schema_validations:
    - {agent: extract, output_schema: X, required_fields: [owner]}
  behavioral:
    - {name: crash, description: d, assertion: \"agent_outputs['ghost']\"}
  quantitative:
    - {metric: agent_count, threshold: '> 3', description: more than three}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_run_reports_like_llm_orc_and_exits_1_on_a_failed_check() {
    let (sim, p) = setup().await;
    p.ensemble("passing", PASSING);
    p.ensemble("checks/failing", FAILING);

    let r = p
        .orc_async(&["validate", "run", "passing", "--verbose"])
        .await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.starts_with("Validating ensemble: passing\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Validation PASSED"));
    for layer in [
        "structural",
        "schema",
        "behavioral",
        "quantitative",
        "semantic",
    ] {
        assert!(
            r.stdout.contains(&format!("  {layer}: PASS")),
            "{layer}: {}",
            r.stdout
        );
    }
    let art = latest_artifact(&p, "passing");
    let v = &art["validation_result"];
    assert_eq!(v["passed"], true);
    assert_eq!(v["ensemble_name"], "passing");
    assert_eq!(art["input"]["data"], "validation test input");
    assert_eq!(
        v["results"]["semantic"]["details"]["the summary is short [[fake:reply=PASS it is short]]"]
            ["justification"],
        "PASS it is short"
    );
    // The judge was asked once, with llm-orc's prompt.
    let judged = sim
        .requests()
        .iter()
        .filter(|r| {
            r.body["messages"][1]["content"]
                .as_str()
                .is_some_and(|u| u.starts_with("Evaluate if the following agent outputs meet this criterion: the summary is short"))
        })
        .count();
    assert_eq!(judged, 1);

    let r = p.orc_async(&["validate", "run", "checks/failing"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("Validation FAILED"));
    assert!(
        r.stdout
            .contains("  structural: FAIL\n    - Missing required agents: publish")
    );
    for line in [
        "error: checks/failing: structural: Missing required agents: publish",
        "error: checks/failing: schema: Agent extract missing required fields: owner",
        "error: checks/failing: behavioral: Assertion 'crash' raised exception: Assertion evaluation failed: agent_outputs['ghost']",
        "error: checks/failing: quantitative: Metric 'agent_count' failed threshold: 1 not > 3",
    ] {
        assert!(r.stderr.contains(line), "{line}\n{}", r.stderr);
    }

    // An ensemble without a block, as llm-orc words it.
    p.ensemble(
        "plain",
        "name: plain\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n",
    );
    let r = p.orc_async(&["validate", "run", "plain"]).await;
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("Ensemble 'plain' does not have validation configuration.")
    );

    // all, and categories by `validation.category` or by folder.
    let r = p.orc_async(&["validate", "all"]).await;
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.ends_with("1 passed, 1 failed\n"), "{}", r.stdout);
    let r = p.orc_async(&["validate", "category", "smoke"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Validating ensemble: passing") && !r.stdout.contains("failing"));
    let r = p
        .orc_async(&["validate", "category", "--category", "checks"])
        .await;
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("Validating ensemble: checks/failing"));
    let r = p.orc_async(&["validate", "category", "nothing-here"]).await;
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("no ensemble with a `validation:` block in category `nothing-here`")
    );

    // A normal run of a validation ensemble carries its validation_result too.
    let r = p.orc_async(&["invoke", "passing", "real input"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        latest_artifact(&p, "passing")["validation_result"]["passed"],
        true
    );
}

/// `test_mode` answers interactive primitives during `validate run` from cached responses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_mode_answers_for_the_user() {
    let (_sim, p) = setup().await;
    p.ensemble(
        "asks",
        "name: asks
description: asks the user
agents:
  - name: who
    script: primitives/user_interaction/get_user_input.py
    parameters: {prompt: Your name?}
validation:
  schema_validations:
    - {agent: who, output_schema: GetUserInputOutput, required_fields: [input]}
  behavioral:
    - {name: ada, description: the simulated user answered, assertion: \"agent_outputs['who']['input'] == 'Ada'\"}
test_mode:
  enabled: true
  llm_simulation:
    - {agent: who, model: qwen3:0.6b, persona: helpful_user, cached_responses: {'Your name?': Ada}}
",
    );
    let r = p.orc_async(&["validate", "run", "asks"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let art = latest_artifact(&p, "asks");
    assert_eq!(art["metadata"]["interactive_mode"], true);
    assert_eq!(art["metadata"]["user_inputs_collected"], 1);
}

/// The semantic judge and simulated users are asked through the run's engine: their usage is
/// listed in the artifact (`metadata.orc.auxiliary_calls`), and they wait for the per-model
/// slot like agents do (three users asked at once, one slot: never two requests in flight).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auxiliary_model_calls_go_through_the_engine() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("simulator");
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "{}performance:\n  concurrency:\n    per_model_limit: 1\n",
            native_config(&sim.url())
        ),
    );
    let mut yaml = String::from("name: users\ndescription: three users asked at once\nagents:\n");
    for who in ["ann", "bob", "cy"] {
        yaml.push_str(&format!(
            "  - name: {who}\n    script: primitives/user_interaction/get_user_input.py\n    parameters: {{prompt: '[[sim:slow=150]] {who}, your name?'}}\n"
        ));
    }
    yaml.push_str(
        "validation:\n  semantic:\n    enabled: true\n    validator_model: tiny\n    criteria: ['answered [[fake:reply=PASS yes]]']\ntest_mode:\n  enabled: true\n  llm_simulation:\n",
    );
    for who in ["ann", "bob", "cy"] {
        yaml.push_str(&format!(
            "    - {{agent: {who}, model: tiny, persona: terse}}\n"
        ));
    }
    p.ensemble("users", &yaml);

    let r = p.orc_async(&["validate", "run", "users"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let art = latest_artifact(&p, "users");
    assert_eq!(art["metadata"]["user_inputs_collected"], 3, "{art}");
    let calls = art["metadata"]["orc"]["auxiliary_calls"]
        .as_array()
        .unwrap_or_else(|| panic!("no auxiliary_calls: {}", art["metadata"]["orc"]));
    assert_eq!(calls.len(), 4, "{calls:?}");
    let mut users: Vec<&str> = calls
        .iter()
        .filter(|c| c["purpose"] == "simulated_user")
        .filter_map(|c| c["agent"].as_str())
        .collect();
    users.sort_unstable();
    assert_eq!(users, ["ann", "bob", "cy"]);
    let judge: Vec<&serde_json::Value> = calls
        .iter()
        .filter(|c| c["purpose"] == "semantic_validation")
        .collect();
    assert_eq!(judge.len(), 1);
    assert!(judge[0]["agent"].is_null());
    for c in calls {
        assert_eq!(c["model"], "qwen3:0.6b");
        assert!(
            c["usage"]["input_tokens"].as_u64().is_some_and(|n| n > 0),
            "{c}"
        );
        assert!(
            c["usage"]["output_tokens"].as_u64().is_some_and(|n| n > 0),
            "{c}"
        );
    }
    assert_eq!(sim.requests().len(), 4);
    assert_eq!(sim.max_in_flight(), 1);
}

#[test]
fn invalid_blocks_are_reported_by_validate() {
    let p = TestProject::new();
    p.with_profiles();
    p.ensemble(
        "bad",
        "name: bad\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\nvalidation:\n  schema_validations:\n    - {output_schema: X}\n  behavioral:\n    - {name: b, description: d, assertion: 'x = 1'}\n",
    );
    let r = p.orc(&["validate", "bad"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "error: ensemble `bad` has an invalid `validation:` block: `validation.schema_validations[0].agent`: is required"
        ),
        "{}",
        r.stderr
    );
    p.ensemble(
        "odd",
        "name: odd\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\nvalidation:\n  behavioral:\n    - {name: b, description: d, assertion: 'x = 1'}\n",
    );
    let r = p.orc(&["validate", "odd"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("warning: behavioral assertion `b` cannot be evaluated by orc"),
        "{}",
        r.stderr
    );
}
