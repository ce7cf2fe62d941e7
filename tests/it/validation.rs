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
        r#"
            name: plain
            description: d
            agents:
              - name: a
                model_profile: tiny
        "#,
    );
    p.test(&["validate", "run", "plain"])
        .status(1)
        .stdout(
            r#"
            Validating ensemble: plain
            ──────────────────────────────────────────────────
            "#,
        )
        .stderr(
            r#"
            error: Ensemble 'plain' does not have validation configuration.
            "#,
        )
        .run();

    // all, and categories by `validation.category` or by folder.
    p.test(&["validate", "all"])
        .status(1)
        .stdout(
            r#"
            Validating ensemble: checks/failing
            ──────────────────────────────────────────────────
            Validation FAILED

            Validation Layer Results:
              structural: FAIL
                - Missing required agents: publish
              schema: FAIL
                - Agent extract missing required fields: owner
              behavioral: FAIL
                - Assertion 'crash' raised exception: Assertion evaluation failed: agent_outputs['ghost']
              quantitative: FAIL
                - Metric 'agent_count' failed threshold: 1 not > 3

            Validating ensemble: passing
            ──────────────────────────────────────────────────
            Validation PASSED

            1 passed, 1 failed
            "#,
        )
        .stderr(
            r#"
            error: checks/failing: structural: Missing required agents: publish
            error: checks/failing: schema: Agent extract missing required fields: owner
            error: checks/failing: behavioral: Assertion 'crash' raised exception: Assertion evaluation failed: agent_outputs['ghost']
            error: checks/failing: quantitative: Metric 'agent_count' failed threshold: 1 not > 3
            artifact: [ROOT]/.llm-orc/artifacts/checks/failing/[RUN]
            artifact: [ROOT]/.llm-orc/artifacts/passing/[RUN]
            "#,
        )
        .run();
    p.test(&["validate", "category", "smoke"])
        .status(0)
        .stdout(
            r#"
            Validating ensemble: passing
            ──────────────────────────────────────────────────
            Validation PASSED
            "#,
        )
        .stderr(
            r#"
            artifact: [ROOT]/.llm-orc/artifacts/passing/[RUN]
            "#,
        )
        .run();
    p.test(&["validate", "category", "--category", "checks"])
        .status(1)
        .stdout(
            r#"
            Validating ensemble: checks/failing
            ──────────────────────────────────────────────────
            Validation FAILED

            Validation Layer Results:
              structural: FAIL
                - Missing required agents: publish
              schema: FAIL
                - Agent extract missing required fields: owner
              behavioral: FAIL
                - Assertion 'crash' raised exception: Assertion evaluation failed: agent_outputs['ghost']
              quantitative: FAIL
                - Metric 'agent_count' failed threshold: 1 not > 3
            "#,
        )
        .stderr(
            r#"
            error: checks/failing: structural: Missing required agents: publish
            error: checks/failing: schema: Agent extract missing required fields: owner
            error: checks/failing: behavioral: Assertion 'crash' raised exception: Assertion evaluation failed: agent_outputs['ghost']
            error: checks/failing: quantitative: Metric 'agent_count' failed threshold: 1 not > 3
            artifact: [ROOT]/.llm-orc/artifacts/checks/failing/[RUN]
            "#,
        )
        .run();
    p.test(&["validate", "category", "nothing-here"])
        .status(1)
        .stdout("")
        .stderr(
            r#"
            error: no ensemble with a `validation:` block in category `nothing-here`
            "#,
        )
        .run();

    // A normal run of a validation ensemble carries its validation_result too.
    p.test(&["invoke", "passing", "real input"])
        .status(0)
        .stdout(
            r#"
            == extract (succeeded) ==
            {"success": true, "extracted": {"title": "T", "owner": "ops"}, "missing_fields": [], "total_fields": 2, "extracted_count": 2, "error": null}

            == summarise (succeeded, qwen3:0.6b) ==
            A short summary.

            -- usage by tier --
               micro: 1 call(s), 133 in + 16 out = 149 tokens
               total: 149 tokens in [TIME]; status completed

            -- deliverable --
            A short summary.

            artifact: [ROOT]/.llm-orc/artifacts/passing/[RUN]
            routing id: [ID]
            "#,
        )
        .stderr("")
        .run();
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
        r#"
            name: asks
            description: asks the user
            agents:
              - name: who
                script: primitives/user_interaction/get_user_input.py
                parameters: {prompt: Your name?}
            validation:
              schema_validations:
                - {agent: who, output_schema: GetUserInputOutput, required_fields: [input]}
              behavioral:
                - {name: ada, description: the simulated user answered, assertion: "agent_outputs['who']['input'] == 'Ada'"}
            test_mode:
              enabled: true
              llm_simulation:
                - {agent: who, model: qwen3:0.6b, persona: helpful_user, cached_responses: {'Your name?': Ada}}
        "#,
    );
    p.test(&["validate", "run", "asks"])
        .status(0)
        .stdout(
            r#"
            Validating ensemble: asks
            ──────────────────────────────────────────────────
            Validation PASSED
            "#,
        )
        .stderr(
            r#"
            artifact: [ROOT]/.llm-orc/artifacts/asks/[RUN]
            "#,
        )
        .run();
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

    p.test(&["validate", "run", "users"])
        .status(0)
        .stdout(
            r#"
            Validating ensemble: users
            ──────────────────────────────────────────────────
            Validation PASSED
            "#,
        )
        .stderr(
            r#"
            artifact: [ROOT]/.llm-orc/artifacts/users/[RUN]
            "#,
        )
        .run();
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
        r#"
            name: bad
            description: d
            agents:
              - name: a
                model_profile: tiny
            validation:
              schema_validations:
                - {output_schema: X}
              behavioral:
                - {name: b, description: d, assertion: 'x = 1'}
        "#,
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
        r#"
            name: odd
            description: d
            agents:
              - name: a
                model_profile: tiny
            validation:
              behavioral:
                - {name: b, description: d, assertion: 'x = 1'}
        "#,
    );
    p.test(&["validate", "odd"])
        .status(0)
        .stdout(
            r#"
            ok       odd (single, 1 agents) [ROOT]/.llm-orc/ensembles/odd.yaml

            1 ensemble(s): 1 valid, 0 invalid, 1 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/odd.yaml:1:7: warning: behavioral assertion `b` cannot be evaluated by orc: unexpected `=`
              hint: orc evaluates a safe subset of Python expressions; the assertion will fail with this error
            "#,
        )
        .run();
}
