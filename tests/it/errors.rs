//! Every error `orc validate` reports, with its message, file, line and column and its hint.

use crate::common;

use common::{Test, TestProject};

fn project() -> TestProject {
    let p = TestProject::new();
    p.with_profiles();
    p
}

const F: &str = ".llm-orc/ensembles/";

fn path(p: &TestProject, name: &str) -> String {
    p.root()
        .join(F)
        .join(format!("{name}.yaml"))
        .display()
        .to_string()
}

#[test]
fn yaml_syntax_error_has_line_and_column() {
    let p = project();
    p.ensemble(
        "broken",
        r#"
            name: broken
            description: d
            agents:
              - name: a
                model_profile: tiny
               bad: [
        "#,
    );
    p.test(&["validate", "broken"])
        .status(1)
        .stdout(
            r#"
            invalid  broken (1 error(s)) [ROOT]/.llm-orc/ensembles/broken.yaml

            1 ensemble(s): 0 valid, 1 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/broken.yaml:6:4: error: YAML syntax: while parsing a block collection, did not find expected '-' indicator at line 6, column 4
              hint: check the indentation and quoting around this line
            "#,
        )
        .run();
}

#[test]
fn missing_agent_name() {
    Test::new()
        .profiles()
        .ensemble(
            "e",
            r#"
            name: e
            description: d
            agents:
              - model_profile: tiny
            "#,
        )
        .args(&["validate", "e"])
        .status(1)
        .stdout(
            r#"
            invalid  e (1 error(s)) [ROOT]/.llm-orc/ensembles/e.yaml

            1 ensemble(s): 0 valid, 1 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:4:5: error: agent #1 has no `name`
              hint: every agent needs a unique `name:`
            "#,
        )
        .run();
}

#[test]
fn duplicate_agent_name_points_at_the_second() {
    let p = project();
    p.ensemble(
        "e",
        r#"
            name: e
            description: d
            agents:
              - name: a
                model_profile: tiny
              - name: a
                model_profile: small
        "#,
    );
    p.test(&["validate", "e"])
        .status(1)
        .stdout(
            r#"
            invalid  e (1 error(s)) [ROOT]/.llm-orc/ensembles/e.yaml

            1 ensemble(s): 0 valid, 1 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:6:11: error: duplicate agent name `a`
              hint: `a` is already defined at line 4; agent names must be unique
            "#,
        )
        .run();
}

#[test]
fn unknown_dependency_suggests_the_closest_name() {
    let p = project();
    p.ensemble(
        "e",
        r#"
            name: e
            description: d
            agents:
              - name: analyst
                model_profile: tiny
              - name: b
                model_profile: tiny
                depends_on: [analist]
        "#,
    );
    p.test(&["validate", "e"])
        .status(1)
        .stdout(
            r#"
            invalid  e (1 error(s)) [ROOT]/.llm-orc/ensembles/e.yaml

            1 ensemble(s): 0 valid, 1 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:8:18: error: agent `b` depends on unknown agent `analist`
              hint: did you mean `analyst`?
            "#,
        )
        .run();
}

#[test]
fn cycle_prints_its_path() {
    let p = project();
    p.ensemble(
        "e",
        r#"
            name: e
            description: d
            agents:
              - name: a
                model_profile: tiny
                depends_on: [b]
              - name: b
                model_profile: tiny
                depends_on: [c]
              - name: c
                model_profile: tiny
                depends_on: [a]
        "#,
    );
    p.test(&["validate", "e"])
        .status(1)
        .stdout(
            r#"
            invalid  e (1 error(s)) [ROOT]/.llm-orc/ensembles/e.yaml

            1 ensemble(s): 0 valid, 1 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:4:11: error: circular dependency: a -> b -> c -> a
              hint: an ensemble must be a DAG; remove one of these `depends_on` entries
            "#,
        )
        .run();
}

#[test]
fn self_dependency_is_a_cycle() {
    let p = project();
    p.ensemble(
        "e",
        r#"
            name: e
            description: d
            agents:
              - name: x
                model_profile: tiny
              - name: a
                model_profile: tiny
                depends_on: [x, a]
        "#,
    );
    p.test(&["validate", "e"])
        .status(1)
        .stdout(
            r#"
            invalid  e (1 error(s)) [ROOT]/.llm-orc/ensembles/e.yaml

            1 ensemble(s): 0 valid, 1 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:6:11: error: circular dependency: a -> a
              hint: an ensemble must be a DAG; remove one of these `depends_on` entries
            "#,
        )
        .run();
}

#[test]
fn unknown_profile_lists_known_ones_and_where_it_looked() {
    let p = project();
    p.ensemble(
        "e",
        r#"
            name: e
            description: d
            agents:
              - name: a
                model_profile: tinny
        "#,
    );
    p.test(&["validate", "e"])
        .status(1)
        .stdout(
            r#"
            invalid  e (1 error(s)) [ROOT]/.llm-orc/ensembles/e.yaml

            1 ensemble(s): 0 valid, 1 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:5:20: error: agent `a` uses unknown model profile `tinny`
              hint: did you mean `tiny`? known profiles: `small`, `tiny`; looked in [HOME]/.config/llm-orc/config.yaml, [HOME]/.config/llm-orc/profiles, [ROOT]/.llm-orc/config.yaml, [ROOT]/.llm-orc/profiles
            "#,
        )
        .run();
}

#[test]
fn missing_nested_ensemble() {
    let p = project();
    p.ensemble(
        "e",
        r#"
            name: e
            description: d
            agents:
              - name: child
                ensemble: nowhere
        "#,
    );
    p.test(&["validate", "e"])
        .status(1)
        .stdout(
            r#"
            invalid  e (1 error(s)) [ROOT]/.llm-orc/ensembles/e.yaml

            1 ensemble(s): 0 valid, 1 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:5:15: error: agent `child` uses ensemble `nowhere`, which does not exist
              hint: looked for [ROOT]/.llm-orc/ensembles/nowhere.yaml, [ROOT]/.llm-orc/ensembles/nowhere.yml and for an ensemble named `nowhere` in [ROOT]/.llm-orc/ensembles
            "#,
        )
        .run();
}

#[test]
fn ensemble_nesting_itself_prints_the_chain() {
    let p = project();
    p.ensemble(
        "outer",
        r#"
            name: outer
            description: d
            agents:
              - name: go
                ensemble: inner
        "#,
    );
    p.ensemble(
        "inner",
        r#"
            name: inner
            description: d
            agents:
              - name: back
                ensemble: outer
        "#,
    );
    let r = p.orc(&["validate", "outer"]);
    assert_eq!(r.code, 1);
    r.assert_diag(&format!(
        "{}:5:15: error: ensemble `outer` nests itself: outer -> inner -> outer",
        path(&p, "inner")
    ));
    r.assert_diag(&format!(
        "{}:5:15: error: nested ensemble `inner` of agent `go` is invalid",
        path(&p, "outer")
    ));

    p.ensemble(
        "selfish",
        r#"
            name: selfish
            description: d
            agents:
              - name: me
                ensemble: selfish
        "#,
    );
    p.test(&["validate", "selfish"])
        .status(1)
        .stdout(
            r#"
            invalid  selfish (1 error(s)) [ROOT]/.llm-orc/ensembles/selfish.yaml

            1 ensemble(s): 0 valid, 1 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/selfish.yaml:5:15: error: ensemble `selfish` nests itself: selfish -> selfish
              hint: a nested ensemble cannot contain the ensemble that uses it
            "#,
        )
        .run();
}

#[test]
fn nesting_deeper_than_the_limit() {
    let p = project();
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "{}performance:\n  execution:\n    max_ensemble_depth: 2\n",
            common::PEER_CONFIG
        ),
    );
    p.ensemble(
        "l0",
        r#"
            name: l0
            description: d
            agents:
              - name: n
                ensemble: l1
        "#,
    );
    p.ensemble(
        "l1",
        r#"
            name: l1
            description: d
            agents:
              - name: n
                ensemble: l2
        "#,
    );
    p.ensemble(
        "l2",
        r#"
            name: l2
            description: d
            agents:
              - name: n
                ensemble: l3
        "#,
    );
    p.ensemble(
        "l3",
        r#"
            name: l3
            description: d
            agents:
              - name: n
                model_profile: tiny
        "#,
    );
    p.test(&["validate", "l0"])
        .status(1)
        .stdout(
            r#"
            invalid  l0 (3 error(s)) [ROOT]/.llm-orc/ensembles/l0.yaml

            1 ensemble(s): 0 valid, 1 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/l0.yaml:5:15: error: nested ensemble `l1` of agent `n` is invalid
              hint: 2 error(s) in [ROOT]/.llm-orc/ensembles/l1.yaml
            [ROOT]/.llm-orc/ensembles/l1.yaml:5:15: error: nested ensemble `l2` of agent `n` is invalid
              hint: 1 error(s) in [ROOT]/.llm-orc/ensembles/l2.yaml
            [ROOT]/.llm-orc/ensembles/l2.yaml:5:15: error: ensembles nest 3 deep, over the limit of 2: l0 -> l1 -> l2 -> l3
              hint: raise performance.execution.max_ensemble_depth in config.yaml, or flatten the chain
            "#,
        )
        .run();
    assert_eq!(p.orc(&["validate", "l1"]).code, 0);
}

#[test]
fn fan_out_without_dependency() {
    let p = project();
    p.ensemble(
        "e",
        r#"
            name: e
            description: d
            agents:
              - name: w
                model_profile: tiny
                fan_out: true
        "#,
    );
    p.test(&["validate", "e"])
        .status(1)
        .stdout(
            r#"
            invalid  e (1 error(s)) [ROOT]/.llm-orc/ensembles/e.yaml

            1 ensemble(s): 0 valid, 1 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:4:5: error: agent `w` has `fan_out: true` but no `depends_on`
              hint: fan_out maps an agent over an array from its first dependency; add `depends_on: [the-agent-producing-the-array]`
            "#,
        )
        .run();
}

#[test]
fn missing_script_says_where_it_looked() {
    let p = project();
    p.ensemble(
        "e",
        r#"
            name: e
            description: d
            agents:
              - name: s
                script: scripts/nope.py
        "#,
    );
    p.test(&["validate", "e"])
        .status(1)
        .stdout(
            r#"
            invalid  e (1 error(s)) [ROOT]/.llm-orc/ensembles/e.yaml

            1 ensemble(s): 0 valid, 1 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:5:13: error: script `scripts/nope.py` of agent `s` not found
              hint: looked in: [ROOT]/.llm-orc/scripts, [ROOT]/.llm-orc, [ROOT], [ROOT]/llm-orchestra-library/scripts, [ROOT]/llm-orchestra-library/primitives/python, [ROOT]/llm-orchestra-library/primitives, [ROOT]/llm-orchestra-library
            "#,
        )
        .run();
}

#[test]
fn scripts_that_escape_the_project_are_refused() {
    let p = project();
    let outside = common::write_file(&p.dir.path().join("outside.py"), "print('{}')\n");
    p.ensemble(
        "up",
        r#"
            name: up
            description: d
            agents:
              - name: s
                script: ../outside.py
        "#,
    );
    p.test(&["validate", "up"])
        .status(1)
        .stdout(
            r#"
            invalid  up (1 error(s)) [ROOT]/.llm-orc/ensembles/up.yaml

            1 ensemble(s): 0 valid, 1 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/up.yaml:5:13: error: script `../outside.py` of agent `s` is outside the project
              hint: it resolves to [TMP]/outside.py, outside [ROOT]; keep scripts in .llm-orc/scripts/
            "#,
        )
        .run();

    p.ensemble(
        "abs",
        &format!(
            "name: abs\ndescription: d\nagents:\n  - name: s\n    script: {}\n",
            outside.display()
        ),
    );
    let r = p.orc(&["validate", "abs"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is outside the project"), "{}", r.stderr);

    #[cfg(unix)]
    {
        std::fs::create_dir_all(p.root().join(".llm-orc/scripts")).expect("mkdir");
        std::os::unix::fs::symlink(&outside, p.root().join(".llm-orc/scripts/link.py"))
            .expect("symlink");
        p.ensemble(
            "link",
            r#"
                name: link
                description: d
                agents:
                  - name: s
                    script: scripts/link.py
            "#,
        );
        let r = p.orc(&["validate", "link"]);
        assert_eq!(r.code, 1);
        assert!(r.stderr.contains("is outside the project"), "{}", r.stderr);
    }
}

#[test]
fn a_key_of_another_agent_type_is_an_error() {
    let p = project();
    p.write(".llm-orc/scripts/s.py", "print('{}')\n");
    p.ensemble(
        "e",
        r#"
            name: e
            description: d
            agents:
              - name: s
                script: s.py
                model_profile: tiny
        "#,
    );
    p.test(&["validate", "e"])
        .status(1)
        .stdout(
            r#"
            invalid  e (1 error(s)) [ROOT]/.llm-orc/ensembles/e.yaml

            1 ensemble(s): 0 valid, 1 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:6:5: error: `model_profile` belongs to an LLM agent, but this is a script agent
              hint: an agent is a script agent because it has `script`; remove `model_profile` or split the agent
            "#,
        )
        .run();
}

#[test]
fn llm_agent_without_a_model() {
    let p = project();
    p.ensemble(
        "e",
        r#"
            name: e
            description: d
            agents:
              - name: a
                system_prompt: hi
              - name: b
                model: qwen3:0.6b
        "#,
    );
    p.test(&["validate", "e"])
        .status(1)
        .stdout(
            r#"
            invalid  e (2 error(s)) [ROOT]/.llm-orc/ensembles/e.yaml

            1 ensemble(s): 0 valid, 1 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:4:5: error: agent `a` has no model
              hint: an LLM agent needs `model_profile:`, or `model:` with `provider:`
            [ROOT]/.llm-orc/ensembles/e.yaml:6:5: error: agent `b` sets `model` without `provider`
              hint: add `provider: ollama` (or openai-compatible), or use a model_profile
            "#,
        )
        .run();
}

#[test]
fn incomplete_profile_and_unknown_provider() {
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        r#"
            model_profiles:
              half:
                model: qwen3:0.6b
              odd:
                model: m
                provider: carrier-pigeon
        "#,
    );
    p.ensemble(
        "e",
        r#"
            name: e
            description: d
            agents:
              - name: a
                model_profile: half
              - name: b
                model_profile: odd
        "#,
    );
    p.test(&["validate", "e"])
        .status(1)
        .stdout(
            r#"
            invalid  e (2 error(s)) [ROOT]/.llm-orc/ensembles/e.yaml

            1 ensemble(s): 0 valid, 1 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:5:20: error: model profile `half` is incomplete: it needs both `model` and `provider`
              hint: complete the profile in [ROOT]/.llm-orc/config.yaml
            [ROOT]/.llm-orc/ensembles/e.yaml:7:20: error: agent `b` uses unknown provider `carrier-pigeon`
              hint: orc runs `ollama` and `openai-compatible`; llm-orc also knows anthropic-api, anthropic-claude-pro-max and google-gemini; or give the profile a `fallback_model_profile` orc can run
            "#,
        )
        .run();
}

#[test]
fn cloud_providers_parse_but_are_flagged_not_runnable() {
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        r#"
            model_profiles:
              claude:
                model: claude-sonnet-4
                provider: anthropic-api
              gem:
                model: gemini-2.5-flash
                provider: google-gemini
        "#,
    );
    p.ensemble(
        "e",
        r#"
            name: e
            description: d
            agents:
              - name: a
                model_profile: claude
              - name: b
                model_profile: gem
        "#,
    );
    p.test(&["validate", "e"])
        .status(0)
        .stdout(
            r#"
            ok       e (parallel, 2 agents) [ROOT]/.llm-orc/ensembles/e.yaml

            1 ensemble(s): 1 valid, 0 invalid, 2 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:5:20: warning: agent `a` uses cloud provider `anthropic-api`, which orc cannot run
              hint: invoke will fail this agent; point the profile at a local model (provider: ollama) to run it
            [ROOT]/.llm-orc/ensembles/e.yaml:7:20: warning: agent `b` uses cloud provider `google-gemini`, which orc cannot run
              hint: invoke will fail this agent; point the profile at a local model (provider: ollama) to run it
            "#,
        )
        .run();
    p.test(&["list-profiles"])
        .status(0)
        .stdout(
            r#"
            Available model profiles:

            Local:
              claude:  [cloud: not runnable by orc]
                Model: claude-sonnet-4
                Provider: anthropic-api
                Cost per token: Not specified
                Defined in: [ROOT]/.llm-orc/config.yaml
              gem:  [cloud: not runnable by orc]
                Model: gemini-2.5-flash
                Provider: google-gemini
                Cost per token: Not specified
                Defined in: [ROOT]/.llm-orc/config.yaml
            "#,
        )
        .stderr("")
        .run();
}

#[test]
fn unknown_keys_warn_and_do_not_fail() {
    let p = project();
    p.ensemble(
        "e",
        r#"
            name: e
            description: d
            owner: me
            agents:
              - name: a
                model_profile: tiny
                notes: mine
        "#,
    );
    p.test(&["validate", "e"])
        .status(0)
        .stdout(
            r#"
            ok       e (single, 1 agents) [ROOT]/.llm-orc/ensembles/e.yaml

            1 ensemble(s): 1 valid, 0 invalid, 2 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:3:1: warning: unknown key `owner` in the ensemble; it is ignored
            [ROOT]/.llm-orc/ensembles/e.yaml:7:5: warning: unknown key `notes` in an agent; it is ignored
            "#,
        )
        .run();
}

/// `depend_on` would run the agent without its dependency: a typo of a known agent key is an
/// error (the did-you-mean distance decides), so neither validate nor invoke lets it through.
#[test]
fn misspelt_agent_key_is_an_error() {
    let p = project();
    p.ensemble(
        "e",
        r#"
            name: e
            description: d
            agents:
              - name: a
                model_profile: tiny
              - name: b
                model_profile: tiny
                depend_on: [a]
        "#,
    );
    p.test(&["validate", "e"])
        .status(1)
        .stdout(
            r#"
            invalid  e (1 error(s)) [ROOT]/.llm-orc/ensembles/e.yaml

            1 ensemble(s): 0 valid, 1 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:8:5: error: unknown key `depend_on` in an agent; did you mean `depends_on`?
              hint: a misspelt key would be ignored, so the agent would run without it; rename it to `depends_on` (llm-orc refuses unknown agent keys)
            "#,
        )
        .run();
    p.test(&["invoke", "e", "x", "--no-artifact"])
        .status(2)
        .stdout("")
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:8:5: error: unknown key `depend_on` in an agent; did you mean `depends_on`?
              hint: a misspelt key would be ignored, so the agent would run without it; rename it to `depends_on` (llm-orc refuses unknown agent keys)
            error: ensemble `e` is invalid (1 error(s))
            "#,
        )
        .run();
}

#[test]
fn duplicate_keys_warn_and_the_last_wins() {
    let p = project();
    p.ensemble(
        "e",
        r#"
            name: e
            description: d
            agents:
              - name: a
                model_profile: tiny
                model_profile: small
        "#,
    );
    p.test(&["validate", "e"])
        .status(0)
        .stdout(
            r#"
            ok       e (single, 1 agents) [ROOT]/.llm-orc/ensembles/e.yaml

            1 ensemble(s): 1 valid, 0 invalid, 1 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:6:5: warning: key `model_profile` is repeated (first at line 5); the last one wins
            "#,
        )
        .run();
    p.test(&["graph", "e"])
        .status(0)
        .stdout(
            r#"
            ensemble: e
            description: d
            pattern: single (1 agents, 0 edges, 1 levels)

            level 0 (1 agent; gemma3:1b x1)
              a  gemma3:1b (small)

            agents per model:
              gemma3:1b      1  1B (micro)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:6:5: warning: key `model_profile` is repeated (first at line 5); the last one wins
            "#,
        )
        .run();
}

#[test]
fn not_an_ensemble_and_empty_agents() {
    let p = project();
    p.ensemble(
        "list",
        r#"
            - just
            - a list
        "#,
    );
    p.ensemble(
        "noagents",
        r#"
            name: noagents
            description: d
            agents: []
        "#,
    );
    p.test(&["validate", "--all"])
        .status(1)
        .stdout(
            r#"
            invalid  list (1 error(s)) [ROOT]/.llm-orc/ensembles/list.yaml
            invalid  noagents (1 error(s)) [ROOT]/.llm-orc/ensembles/noagents.yaml

            2 ensemble(s): 0 valid, 2 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/list.yaml:1:1: error: an ensemble must be a mapping, found a list
              hint: start the file with `name:`, `description:` and `agents:`
            [ROOT]/.llm-orc/ensembles/noagents.yaml:3:9: error: `agents` is empty
              hint: an ensemble needs at least one agent
            "#,
        )
        .run();
}

#[test]
fn unknown_ensemble_names_what_was_searched() {
    let p = project();
    p.ensemble(
        "swarm",
        r#"
            name: swarm
            description: d
            agents:
              - name: a
                model_profile: tiny
        "#,
    );
    p.test(&["validate", "swarn"])
        .status(1)
        .stdout("")
        .stderr(
            r#"
            error: ensemble `swarn` not found (did you mean `swarm`?); looked in: [ROOT]/.llm-orc/ensembles
            "#,
        )
        .run();
    p.test(&["graph", "swarn"])
        .status(1)
        .stdout("")
        .stderr(
            r#"
            error: ensemble `swarn` not found (did you mean `swarm`?); looked in: [ROOT]/.llm-orc/ensembles
            "#,
        )
        .run();
}

/// The name is inside a file whose YAML cannot be read: "not found" shows that file's error
/// (file:line:col) and says the name may be there, for validate, graph and invoke alike.
#[test]
fn not_found_shows_the_files_that_could_not_be_read() {
    let p = project();
    p.ensemble(
        "review-v2",
        r#"
            name: review
            description: d
            agents:
              - name: a
                model_profile: tiny
               bad: [
        "#,
    );
    p.ensemble(
        "other",
        r#"
            name: other
            description: d
            agents:
              - name: a
                model_profile: tiny
        "#,
    );
    for args in [
        &["validate", "review"][..],
        &["graph", "review"],
        &["invoke", "review", "x", "--no-artifact"],
    ] {
        let r = p.orc(args);
        assert_ne!(r.code, 0, "{args:?}: {}", r.stderr);
        r.assert_diag(&format!("{}:6:", path(&p, "review-v2")));
        assert!(
            r.stderr.contains("error: ensemble `review` not found"),
            "{args:?}: {}",
            r.stderr
        );
        r.assert_hint("1 file(s) above could not be read; `review` may be defined in one of them");
    }
    // A readable project says only "not found".
    std::fs::remove_file(p.root().join(".llm-orc/ensembles/review-v2.yaml")).expect("rm");
    p.test(&["validate", "review"])
        .status(1)
        .stdout("")
        .stderr(
            r#"
            error: ensemble `review` not found; looked in: [ROOT]/.llm-orc/ensembles
            "#,
        )
        .run();
}

/// Names that would print as something else on a terminal (control characters, line breaks,
/// bidi marks) are refused for ensembles and agents; an ensemble name that cannot be the
/// artifact folder's name is refused by validate and invoke alike (it used to run and only warn).
#[test]
fn names_that_mislead_a_terminal_or_cannot_be_a_folder_are_errors() {
    let p = project();
    let agent = |name: &str| {
        format!("name: e\ndescription: d\nagents:\n  - name: {name}\n    model_profile: tiny\n")
    };
    p.ensemble("rtl", &agent("\"evil\\u202Etxt.exe\""));
    p.ensemble("lrm", &agent("\"a\\u200Fb\""));
    p.ensemble("newline", &agent("\"two\\nlines\""));
    p.ensemble("escape", &agent("\"\\e[2Jclear\""));
    p.test(&["validate", "--all"])
        .status(1)
        .stdout(
            r#"
            invalid  e (1 error(s)) [ROOT]/.llm-orc/ensembles/escape.yaml
            invalid  e (1 error(s)) [ROOT]/.llm-orc/ensembles/lrm.yaml
            invalid  e (1 error(s)) [ROOT]/.llm-orc/ensembles/newline.yaml
            invalid  e (1 error(s)) [ROOT]/.llm-orc/ensembles/rtl.yaml

            4 ensemble(s): 0 valid, 4 invalid, 4 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/escape.yaml:4:11: error: the agent name `\u{1b}[2Jclear` contains a control character (U+001B)
              hint: agent names are shown on terminals and in prompts; use letters, digits, `-` and `_`
            [ROOT]/.llm-orc/ensembles/escape.yaml:1:7: warning: ensemble name `e` is also used by [ROOT]/.llm-orc/ensembles/lrm.yaml, [ROOT]/.llm-orc/ensembles/newline.yaml, [ROOT]/.llm-orc/ensembles/rtl.yaml in the same (local) tier; orc uses this file (the file named after the ensemble wins, else the first by path)
              hint: give each file its own `name:` (llm-orc picks whichever file it lists first)
            [ROOT]/.llm-orc/ensembles/lrm.yaml:4:11: error: the agent name `a\u{200f}b` contains a bidirectional mark (U+200F), which makes text display in another order than it is
              hint: agent names are shown on terminals and in prompts; use letters, digits, `-` and `_`
            [ROOT]/.llm-orc/ensembles/lrm.yaml:1:7: warning: ensemble name `e` is also used by [ROOT]/.llm-orc/ensembles/escape.yaml, [ROOT]/.llm-orc/ensembles/newline.yaml, [ROOT]/.llm-orc/ensembles/rtl.yaml in the same (local) tier; orc uses [ROOT]/.llm-orc/ensembles/escape.yaml, never this one (the file named after the ensemble wins, else the first by path)
              hint: give each file its own `name:` (llm-orc picks whichever file it lists first)
            [ROOT]/.llm-orc/ensembles/newline.yaml:4:11: error: the agent name `two\u{a}lines` contains a line break (U+000A)
              hint: agent names are shown on terminals and in prompts; use letters, digits, `-` and `_`
            [ROOT]/.llm-orc/ensembles/newline.yaml:1:7: warning: ensemble name `e` is also used by [ROOT]/.llm-orc/ensembles/escape.yaml, [ROOT]/.llm-orc/ensembles/lrm.yaml, [ROOT]/.llm-orc/ensembles/rtl.yaml in the same (local) tier; orc uses [ROOT]/.llm-orc/ensembles/escape.yaml, never this one (the file named after the ensemble wins, else the first by path)
              hint: give each file its own `name:` (llm-orc picks whichever file it lists first)
            [ROOT]/.llm-orc/ensembles/rtl.yaml:4:11: error: the agent name `evil\u{202e}txt.exe` contains a bidirectional mark (U+202E), which makes text display in another order than it is
              hint: agent names are shown on terminals and in prompts; use letters, digits, `-` and `_`
            [ROOT]/.llm-orc/ensembles/rtl.yaml:1:7: warning: ensemble name `e` is also used by [ROOT]/.llm-orc/ensembles/escape.yaml, [ROOT]/.llm-orc/ensembles/lrm.yaml, [ROOT]/.llm-orc/ensembles/newline.yaml in the same (local) tier; orc uses [ROOT]/.llm-orc/ensembles/escape.yaml, never this one (the file named after the ensemble wins, else the first by path)
              hint: give each file its own `name:` (llm-orc picks whichever file it lists first)
            "#,
        )
        .run();

    let q = project();
    let ens = |name: &str| {
        format!("name: {name}\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n")
    };
    q.ensemble("dots", &ens("'..'"));
    q.ensemble("slash", &ens("team/review"));
    q.ensemble("long", &ens(&"x".repeat(300)));
    q.ensemble("ctl", &ens("\"re\\tview\""));
    q.ensemble("bidi", &ens("\"re\\u2066view\""));
    q.test(&["validate", "--all"])
        .status(1)
        .stdout("invalid  re\\u{2066}view (1 error(s)) [ROOT]/.llm-orc/ensembles/bidi.yaml\ninvalid  re\tview (1 error(s)) [ROOT]/.llm-orc/ensembles/ctl.yaml\ninvalid  .. (1 error(s)) [ROOT]/.llm-orc/ensembles/dots.yaml\ninvalid  xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx (1 error(s)) [ROOT]/.llm-orc/ensembles/long.yaml\ninvalid  team/review (1 error(s)) [ROOT]/.llm-orc/ensembles/slash.yaml\n\n5 ensemble(s): 0 valid, 5 invalid, 0 warning(s)\n")
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/bidi.yaml:1:7: error: the ensemble name `re\u{2066}view` contains a bidirectional mark (U+2066), which makes text display in another order than it is
              hint: the name is the artifact folder's name and is shown on terminals; use letters, digits, `-` and `_`
            [ROOT]/.llm-orc/ensembles/ctl.yaml:1:7: error: the ensemble name `re\u{9}view` contains a control character (U+0009)
              hint: the name is the artifact folder's name and is shown on terminals; use letters, digits, `-` and `_`
            [ROOT]/.llm-orc/ensembles/dots.yaml:1:7: error: the ensemble name `..` cannot name the artifact folder
              hint: the name is the artifact folder's name and is shown on terminals; use letters, digits, `-` and `_`
            [ROOT]/.llm-orc/ensembles/long.yaml:1:7: error: the ensemble name `xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...` is 300 bytes long; it names the artifact folder, which takes at most 255
              hint: the name is the artifact folder's name and is shown on terminals; use letters, digits, `-` and `_`
            [ROOT]/.llm-orc/ensembles/slash.yaml:1:7: error: the ensemble name `team/review` contains `/`; it names the artifact folder, so it must be one plain folder name (put the file in a sub-folder instead)
              hint: the name is the artifact folder's name and is shown on terminals; use letters, digits, `-` and `_`
            "#,
        )
        .run();
    // invoke refuses it before running (exit 2), rather than running and losing the artifact.
    q.test(&["invoke", "team/review", "x"])
        .status(2)
        .stdout("")
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/slash.yaml:1:7: error: the ensemble name `team/review` contains `/`; it names the artifact folder, so it must be one plain folder name (put the file in a sub-folder instead)
              hint: the name is the artifact folder's name and is shown on terminals; use letters, digits, `-` and `_`
            error: ensemble `team/review` is invalid (1 error(s))
            "#,
        )
        .run();
    assert!(!q.root().join(".llm-orc/artifacts").exists());
}

#[test]
fn usage_errors_exit_2() {
    let p = project();
    assert_eq!(p.orc(&["validate", "--bogus"]).code, 2);
    assert_eq!(p.orc(&["no-such-command"]).code, 2);
    assert_eq!(p.orc(&["graph", "x", "--format", "png"]).code, 2);
}

#[test]
fn bad_types_are_located() {
    let p = project();
    p.ensemble(
        "e",
        r#"
            name: e
            description: d
            agents:
              - name: a
                model_profile: tiny
                timeout_seconds: soon
                fan_out: maybe
                depends_on: 7
        "#,
    );
    p.test(&["validate", "e"])
        .status(1)
        .stdout(
            r#"
            invalid  e (3 error(s)) [ROOT]/.llm-orc/ensembles/e.yaml

            1 ensemble(s): 0 valid, 1 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:6:22: error: `timeout_seconds` must be a number, found a string
            [ROOT]/.llm-orc/ensembles/e.yaml:7:14: error: `fan_out` must be true or false, found a string
            [ROOT]/.llm-orc/ensembles/e.yaml:8:17: error: `depends_on` must be a list of agent names, found an integer
            "#,
        )
        .run();
}

#[test]
fn config_errors_are_located_and_fail_check() {
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        r#"
            model_profiles:
              t:
                model: m
                provider: ollama
                timeout_seconds: -1
            performance:
              concurrency:
                per_model_limit: 0
        "#,
    );
    p.test(&["config", "check"])
        .status(1)
        .stdout(
            r#"
            Trees (lookup order):
              local    found   [ROOT]/.llm-orc
              library  missing [ROOT]/llm-orchestra-library
              global   missing [HOME]/.config/llm-orc
            Config files:
              [ROOT]/.llm-orc/config.yaml
            Profiles: 1
            Ensembles: none
            Status: 2 error(s), 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/config.yaml:5:22: error: `timeout_seconds` must be more than 0 seconds
            [ROOT]/.llm-orc/config.yaml:8:22: error: `per_model_limit` must be at least 1
            "#,
        )
        .run();
}

#[test]
fn control_flow_references_are_checked() {
    let p = project();
    p.ensemble(
        "body",
        r#"
            name: body
            description: d
            agents:
              - name: a
                model_profile: tiny
        "#,
    );
    // Unknown agent in a guard (with a suggestion), a reference to an agent that is not
    // upstream, an unknown dispatch source, a malformed dispatch template, a missing literal
    // dispatch target, and a loop whose body does not exist.
    p.ensemble(
        "e",
        concat!(
            "name: e\ndescription: d\nagents:\n",
            "  - name: classify\n    model_profile: tiny\n",
            "  - name: b\n    model_profile: tiny\n    depends_on: [classify]\n    when: \"${clasify.ok} == true\"\n",
            "  - name: c\n    model_profile: tiny\n    depends_on: [classify]\n    when: \"${d.ok}\"\n",
            "  - name: d\n    model_profile: tiny\n    depends_on: [classify]\n",
            "  - name: r\n    depends_on: [classify]\n    dispatch: \"${nobody.target}\"\n",
            "  - name: s\n    depends_on: [classify]\n    dispatch: \"${classify}\"\n",
            "  - name: t\n    dispatch: missing-target\n",
            "  - name: l\n    loop: {body: no-such-body, until: '${done}', max_iterations: 2}\n",
        ),
    );
    let r = p.orc(&["validate", "e"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let f = path(&p, "e");
    r.assert_diag(&format!(
        "{f}:9:11: error: the `when:` of agent `b` refers to unknown agent `clasify`"
    ));
    r.assert_hint("did you mean `classify`?");
    r.assert_diag(&format!(
        "{f}:13:11: error: the `when:` of agent `c` refers to `d`, which is not upstream of it"
    ));
    r.assert_hint("add `d` to the `depends_on` of `c`");
    r.assert_diag(&format!(
        "{f}:19:15: error: the `dispatch:` of agent `r` refers to unknown agent `nobody`"
    ));
    r.assert_diag(&format!(
        "{f}:22:15: error: the `dispatch:` of agent `s` is `${{classify}}`, which is neither an ensemble name nor a `${{agent.field}}` reference"
    ));
    r.assert_diag(&format!(
        "{f}:24:15: error: agent `t` uses ensemble `missing-target`, which does not exist"
    ));
    r.assert_diag(&format!(
        "{f}:26:18: error: agent `l` uses ensemble `no-such-body`, which does not exist"
    ));
}

#[test]
fn control_flow_lints_are_warnings() {
    let p = project();
    p.ensemble(
        "body",
        r#"
            name: body
            description: d
            agents:
              - name: a
                model_profile: tiny
        "#,
    );
    // `!=` does not exist in llm-orc's grammar (always true); a reference to an agent of an
    // earlier phase that is not a dependency is fine: orc waits for it.
    p.ensemble(
        "e",
        concat!(
            "name: e\ndescription: d\nagents:\n",
            "  - name: a\n    model_profile: tiny\n",
            "  - name: x\n    model_profile: tiny\n",
            "  - name: b\n    model_profile: tiny\n    depends_on: [a]\n    when: \"${a.route} != code\"\n",
            "  - name: c\n    model_profile: tiny\n    depends_on: [a]\n    when: \"${x.ok}\"\n",
            "  - name: l\n    loop: {body: body, until: 'done', max_iterations: 2, carry: 'n'}\n",
        ),
    );
    p.test(&["validate", "e"])
        .status(0)
        .stdout(
            r#"
            ok       e (composable, 5 agents) [ROOT]/.llm-orc/ensembles/e.yaml

            1 ensemble(s): 1 valid, 0 invalid, 3 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:11:11: warning: the `when:` guard of agent `b`: `${a.route} != code` is a non-empty literal, so it is always true (llm-orc's grammar has no `!=`, `and` or `or`: only `${ref}` or `${ref} == literal`)
              hint: a guard reads an upstream agent's JSON: `${agent.field}` or `${agent.field} == value`
            [ROOT]/.llm-orc/ensembles/e.yaml:16:5: warning: the `until:` of loop agent `l`: `done` is a non-empty literal, so it is always true
              hint: `until:` reads the body's output: `${field}` or `${field} == value`
            [ROOT]/.llm-orc/ensembles/e.yaml:16:5: warning: the `carry:` of loop agent `l` is `n`, not a `${field}` reference: every iteration after the first gets that text as its input
              hint: `carry: ${field}` passes a field of the body's output to the next iteration
            "#,
        )
        .run();
    p.test(&["graph", "e"])
        .status(0)
        .stdout(
            r#"
            ensemble: e
            description: d
            pattern: composable (5 agents, 2 edges, 2 levels)
            tiers: 2 micro (qwen3:0.6b), 1 ensemble -> 2 micro (qwen3:0.6b)

            level 0 (3 agents; (loop body) x1, qwen3:0.6b x2)
              a  qwen3:0.6b (tiny)
              x  qwen3:0.6b (tiny)
              l  loop body (1 agents) until `done`, at most 2, carry `n`

            level 1 (2 agents; qwen3:0.6b x2)
              b  qwen3:0.6b (tiny)  [when `${a.route} != code`]  <- a
              c  qwen3:0.6b (tiny)  [when `${x.ok}`]  (waits for x)  <- a

            agents per model:
              (loop body)      1
              qwen3:0.6b       4  0.6B (micro)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:11:11: warning: the `when:` guard of agent `b`: `${a.route} != code` is a non-empty literal, so it is always true (llm-orc's grammar has no `!=`, `and` or `or`: only `${ref}` or `${ref} == literal`)
              hint: a guard reads an upstream agent's JSON: `${agent.field}` or `${agent.field} == value`
            [ROOT]/.llm-orc/ensembles/e.yaml:16:5: warning: the `until:` of loop agent `l`: `done` is a non-empty literal, so it is always true
              hint: `until:` reads the body's output: `${field}` or `${field} == value`
            [ROOT]/.llm-orc/ensembles/e.yaml:16:5: warning: the `carry:` of loop agent `l` is `n`, not a `${field}` reference: every iteration after the first gets that text as its input
              hint: `carry: ${field}` passes a field of the body's output to the next iteration
            "#,
        )
        .run();
}

#[test]
fn timeouts_out_of_range_are_located_errors() {
    let p = project();
    p.ensemble(
        "e",
        r#"
            name: e
            description: d
            agents:
              - name: a
                model_profile: tiny
                timeout_seconds: 1e20
              - name: b
                model_profile: tiny
                timeout_seconds: 'NaN'
              - name: c
                model_profile: tiny
                timeout_seconds: 604800
        "#,
    );
    p.test(&["validate", "e"])
        .status(1)
        .stdout(
            r#"
            invalid  e (2 error(s)) [ROOT]/.llm-orc/ensembles/e.yaml

            1 ensemble(s): 0 valid, 1 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:6:22: error: `timeout_seconds` is 100000000000000000000 seconds, over the limit of 604800 (one week)
              hint: a timeout bounds one agent's work; use at most 604800 seconds
            [ROOT]/.llm-orc/ensembles/e.yaml:9:22: error: `timeout_seconds` must be a finite number of seconds, found NaN
              hint: use a number of seconds between 0 and 604800 (one week)
            "#,
        )
        .run();
    // invoke refuses the file with the same diagnostic; nothing reaches the engine.
    p.test(&["invoke", "e", "x"])
        .status(2)
        .stdout("")
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/e.yaml:6:22: error: `timeout_seconds` is 100000000000000000000 seconds, over the limit of 604800 (one week)
              hint: a timeout bounds one agent's work; use at most 604800 seconds
            [ROOT]/.llm-orc/ensembles/e.yaml:9:22: error: `timeout_seconds` must be a finite number of seconds, found NaN
              hint: use a number of seconds between 0 and 604800 (one week)
            error: ensemble `e` is invalid (2 error(s))
            "#,
        )
        .run();
    // A config default that large is refused where it is written, too.
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "{}performance:\n  execution:\n    default_timeout: 1e20\n",
            common::PEER_CONFIG
        ),
    );
    p.test(&["config", "check"])
        .status(1)
        .stdout(
            r#"
            Trees (lookup order):
              local    found   [ROOT]/.llm-orc
              library  missing [ROOT]/llm-orchestra-library
              global   missing [HOME]/.config/llm-orc
            Config files:
              [ROOT]/.llm-orc/config.yaml
            Profiles: 2
            Ensembles: 1 local
            Status: 1 error(s), 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/config.yaml:16:22: error: `default_timeout` is 100000000000000000000 seconds, over the limit of 604800 (one week)
              hint: a timeout bounds one agent's work; use at most 604800 seconds
            "#,
        )
        .run();
}

/// `n` ensembles `c0 -> c1 -> ... -> c{n-1}`, each nesting the next; the last has one LLM agent.
fn deep_chain(p: &TestProject, n: usize) {
    for k in 0..n {
        let body = if k + 1 < n {
            format!("  - name: n\n    ensemble: c{}\n", k + 1)
        } else {
            "  - name: n\n    model_profile: tiny\n".to_string()
        };
        p.ensemble(
            &format!("c{k}"),
            &format!("name: c{k}\ndescription: d\nagents:\n{body}"),
        );
    }
}

#[test]
fn a_3000_deep_nesting_chain_stops_at_the_limit() {
    let p = project();
    deep_chain(&p, 3000);
    // The default limit (5).
    let r = p.orc(&["validate", "c0"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "ensembles nest 6 deep, over the limit of 5: c0 -> c1 -> c2 -> c3 -> c4 -> c5 -> c6"
        ),
        "{}",
        r.stderr
    );
    // A limit raised past what orc follows stops at orc's maximum, with the chain.
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "{}performance:\n  execution:\n    max_ensemble_depth: 100000\n",
            common::PEER_CONFIG
        ),
    );
    let chain: Vec<String> = (0..=33).map(|k| format!("c{k}")).collect();
    for args in [&["validate", "c0"][..], &["invoke", "c0", "x"][..]] {
        let r = p.orc(args);
        assert!(
            r.code == 1 || r.code == 2,
            "{args:?} must fail cleanly, got {}: {}",
            r.code,
            r.stderr
        );
        assert!(
            r.stderr.contains(&format!(
                "ensembles nest 33 deep, over orc's maximum of 32 (max_ensemble_depth is 100000): {}",
                chain.join(" -> ")
            )),
            "{args:?}: {}",
            r.stderr
        );
    }
}
