//! Every error `orc validate` reports, with its message, file, line and column and its hint.

use crate::common;

use common::TestProject;

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
        "name: broken\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n   bad: [\n",
    );
    let r = p.orc(&["validate", "broken"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.assert_diag(&format!("{}:6:", path(&p, "broken")));
    assert!(r.stderr.contains("error: YAML syntax:"), "{}", r.stderr);
    r.assert_hint("indentation");
    assert!(r.stdout.contains("invalid  broken"), "{}", r.stdout);
}

#[test]
fn missing_agent_name() {
    let p = project();
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - model_profile: tiny\n",
    );
    let r = p.orc(&["validate", "e"]);
    assert_eq!(r.code, 1);
    r.assert_diag(&format!(
        "{}:4:5: error: agent #1 has no `name`",
        path(&p, "e")
    ));
}

#[test]
fn duplicate_agent_name_points_at_the_second() {
    let p = project();
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n  - name: a\n    model_profile: small\n",
    );
    let r = p.orc(&["validate", "e"]);
    assert_eq!(r.code, 1);
    r.assert_diag(&format!(
        "{}:6:11: error: duplicate agent name `a`",
        path(&p, "e")
    ));
    r.assert_hint("already defined at line 4");
}

#[test]
fn unknown_dependency_suggests_the_closest_name() {
    let p = project();
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: analyst\n    model_profile: tiny\n  - name: b\n    model_profile: tiny\n    depends_on: [analist]\n",
    );
    let r = p.orc(&["validate", "e"]);
    assert_eq!(r.code, 1);
    r.assert_diag(&format!(
        "{}:8:18: error: agent `b` depends on unknown agent `analist`",
        path(&p, "e")
    ));
    r.assert_hint("did you mean `analyst`?");
}

#[test]
fn cycle_prints_its_path() {
    let p = project();
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n    depends_on: [b]\n  - name: b\n    model_profile: tiny\n    depends_on: [c]\n  - name: c\n    model_profile: tiny\n    depends_on: [a]\n",
    );
    let r = p.orc(&["validate", "e"]);
    assert_eq!(r.code, 1);
    r.assert_diag(&format!(
        "{}:4:11: error: circular dependency: a -> b -> c -> a",
        path(&p, "e")
    ));
}

#[test]
fn self_dependency_is_a_cycle() {
    let p = project();
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: x\n    model_profile: tiny\n  - name: a\n    model_profile: tiny\n    depends_on: [x, a]\n",
    );
    let r = p.orc(&["validate", "e"]);
    assert_eq!(r.code, 1);
    r.assert_diag(&format!(
        "{}:6:11: error: circular dependency: a -> a",
        path(&p, "e")
    ));
}

#[test]
fn unknown_profile_lists_known_ones_and_where_it_looked() {
    let p = project();
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: tinny\n",
    );
    let r = p.orc(&["validate", "e"]);
    assert_eq!(r.code, 1);
    r.assert_diag(&format!(
        "{}:5:20: error: agent `a` uses unknown model profile `tinny`",
        path(&p, "e")
    ));
    r.assert_hint("did you mean `tiny`? known profiles: `small`, `tiny`; looked in");
    r.assert_hint(&p.root().join(".llm-orc/config.yaml").display().to_string());
    r.assert_hint(&p.global().join("profiles").display().to_string());
}

#[test]
fn missing_nested_ensemble() {
    let p = project();
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: child\n    ensemble: nowhere\n",
    );
    let r = p.orc(&["validate", "e"]);
    assert_eq!(r.code, 1);
    r.assert_diag(&format!(
        "{}:5:15: error: agent `child` uses ensemble `nowhere`, which does not exist",
        path(&p, "e")
    ));
    r.assert_hint("nowhere.yaml");
}

#[test]
fn ensemble_nesting_itself_prints_the_chain() {
    let p = project();
    p.ensemble(
        "outer",
        "name: outer\ndescription: d\nagents:\n  - name: go\n    ensemble: inner\n",
    );
    p.ensemble(
        "inner",
        "name: inner\ndescription: d\nagents:\n  - name: back\n    ensemble: outer\n",
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
        "name: selfish\ndescription: d\nagents:\n  - name: me\n    ensemble: selfish\n",
    );
    let r = p.orc(&["validate", "selfish"]);
    r.assert_diag(&format!(
        "{}:5:15: error: ensemble `selfish` nests itself: selfish -> selfish",
        path(&p, "selfish")
    ));
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
        "name: l0\ndescription: d\nagents:\n  - name: n\n    ensemble: l1\n",
    );
    p.ensemble(
        "l1",
        "name: l1\ndescription: d\nagents:\n  - name: n\n    ensemble: l2\n",
    );
    p.ensemble(
        "l2",
        "name: l2\ndescription: d\nagents:\n  - name: n\n    ensemble: l3\n",
    );
    p.ensemble(
        "l3",
        "name: l3\ndescription: d\nagents:\n  - name: n\n    model_profile: tiny\n",
    );
    let r = p.orc(&["validate", "l0"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("over the limit of 2: l0 -> l1 -> l2 -> l3"),
        "{}",
        r.stderr
    );
    r.assert_hint("max_ensemble_depth");
    assert_eq!(p.orc(&["validate", "l1"]).code, 0);
}

#[test]
fn fan_out_without_dependency() {
    let p = project();
    p.ensemble("e", "name: e\ndescription: d\nagents:\n  - name: w\n    model_profile: tiny\n    fan_out: true\n");
    let r = p.orc(&["validate", "e"]);
    assert_eq!(r.code, 1);
    r.assert_diag(&format!(
        "{}:4:5: error: agent `w` has `fan_out: true` but no `depends_on`",
        path(&p, "e")
    ));
    r.assert_hint("first dependency");
}

#[test]
fn missing_script_says_where_it_looked() {
    let p = project();
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: s\n    script: scripts/nope.py\n",
    );
    let r = p.orc(&["validate", "e"]);
    assert_eq!(r.code, 1);
    r.assert_diag(&format!(
        "{}:5:13: error: script `scripts/nope.py` of agent `s` not found",
        path(&p, "e")
    ));
    r.assert_hint(&p.root().join(".llm-orc/scripts").display().to_string());
}

#[test]
fn scripts_that_escape_the_project_are_refused() {
    let p = project();
    let outside = common::write_file(&p.dir.path().join("outside.py"), "print('{}')\n");
    p.ensemble(
        "up",
        "name: up\ndescription: d\nagents:\n  - name: s\n    script: ../outside.py\n",
    );
    let r = p.orc(&["validate", "up"]);
    assert_eq!(r.code, 1);
    r.assert_diag(&format!(
        "{}:5:13: error: script `../outside.py` of agent `s` is outside the project",
        path(&p, "up")
    ));

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
            "name: link\ndescription: d\nagents:\n  - name: s\n    script: scripts/link.py\n",
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
    p.ensemble("e", "name: e\ndescription: d\nagents:\n  - name: s\n    script: s.py\n    model_profile: tiny\n");
    let r = p.orc(&["validate", "e"]);
    assert_eq!(r.code, 1);
    r.assert_diag(&format!(
        "{}:6:5: error: `model_profile` belongs to an LLM agent, but this is a script agent",
        path(&p, "e")
    ));
}

#[test]
fn llm_agent_without_a_model() {
    let p = project();
    p.ensemble("e", "name: e\ndescription: d\nagents:\n  - name: a\n    system_prompt: hi\n  - name: b\n    model: qwen3:0.6b\n");
    let r = p.orc(&["validate", "e"]);
    assert_eq!(r.code, 1);
    r.assert_diag(&format!(
        "{}:4:5: error: agent `a` has no model",
        path(&p, "e")
    ));
    r.assert_diag(&format!(
        "{}:6:5: error: agent `b` sets `model` without `provider`",
        path(&p, "e")
    ));
}

#[test]
fn incomplete_profile_and_unknown_provider() {
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        "model_profiles:\n  half:\n    model: qwen3:0.6b\n  odd:\n    model: m\n    provider: carrier-pigeon\n",
    );
    p.ensemble("e", "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: half\n  - name: b\n    model_profile: odd\n");
    let r = p.orc(&["validate", "e"]);
    assert_eq!(r.code, 1);
    r.assert_diag(&format!(
        "{}:5:20: error: model profile `half` is incomplete: it needs both `model` and `provider`",
        path(&p, "e")
    ));
    r.assert_diag(&format!(
        "{}:7:20: error: agent `b` uses unknown provider `carrier-pigeon`",
        path(&p, "e")
    ));
}

#[test]
fn cloud_providers_parse_but_are_flagged_not_runnable() {
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        "model_profiles:\n  claude:\n    model: claude-sonnet-4\n    provider: anthropic-api\n  gem:\n    model: gemini-2.5-flash\n    provider: google-gemini\n",
    );
    p.ensemble("e", "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: claude\n  - name: b\n    model_profile: gem\n");
    let r = p.orc(&["validate", "e"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.assert_diag(&format!(
        "{}:5:20: warning: agent `a` uses cloud provider `anthropic-api`, which orc cannot run",
        path(&p, "e")
    ));
    let lp = p.orc(&["list-profiles"]);
    assert!(
        lp.stdout.contains("claude:  [cloud: not runnable by orc]"),
        "{}",
        lp.stdout
    );
}

#[test]
fn unknown_keys_warn_and_do_not_fail() {
    let p = project();
    p.ensemble(
        "e",
        "name: e\ndescription: d\nowner: me\nagents:\n  - name: a\n    model_profile: tiny\n    notes: mine\n",
    );
    let r = p.orc(&["validate", "e"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.assert_diag(&format!(
        "{}:3:1: warning: unknown key `owner` in the ensemble; it is ignored",
        path(&p, "e")
    ));
    r.assert_diag(&format!(
        "{}:7:5: warning: unknown key `notes` in an agent; it is ignored",
        path(&p, "e")
    ));
    assert!(r.stdout.contains("2 warning(s)"), "{}", r.stdout);
}

/// `depend_on` would run the agent without its dependency: a typo of a known agent key is an
/// error (the did-you-mean distance decides), so neither validate nor invoke lets it through.
#[test]
fn misspelt_agent_key_is_an_error() {
    let p = project();
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n  - name: b\n    model_profile: tiny\n    depend_on: [a]\n",
    );
    let r = p.orc(&["validate", "e"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.assert_diag(&format!(
        "{}:8:5: error: unknown key `depend_on` in an agent; did you mean `depends_on`?",
        path(&p, "e")
    ));
    r.assert_hint("the agent would run without it");
    let r = p.orc(&["invoke", "e", "x", "--no-artifact"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    r.assert_diag(&format!(
        "{}:8:5: error: unknown key `depend_on`",
        path(&p, "e")
    ));
}

#[test]
fn duplicate_keys_warn_and_the_last_wins() {
    let p = project();
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n    model_profile: small\n",
    );
    let r = p.orc(&["validate", "e"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.assert_diag(&format!(
        "{}:6:5: warning: key `model_profile` is repeated (first at line 5); the last one wins",
        path(&p, "e")
    ));
    let g = p.orc(&["graph", "e"]);
    assert!(g.stdout.contains("gemma3:1b (small)"), "{}", g.stdout);
}

#[test]
fn not_an_ensemble_and_empty_agents() {
    let p = project();
    p.ensemble("list", "- just\n- a list\n");
    p.ensemble("noagents", "name: noagents\ndescription: d\nagents: []\n");
    let r = p.orc(&["validate", "--all"]);
    assert_eq!(r.code, 1);
    r.assert_diag(&format!(
        "{}:1:1: error: an ensemble must be a mapping, found a list",
        path(&p, "list")
    ));
    r.assert_diag(&format!(
        "{}:3:9: error: `agents` is empty",
        path(&p, "noagents")
    ));
}

#[test]
fn unknown_ensemble_names_what_was_searched() {
    let p = project();
    p.ensemble(
        "swarm",
        "name: swarm\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n",
    );
    let r = p.orc(&["validate", "swarn"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("ensemble `swarn` not found (did you mean `swarm`?); looked in:"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&p.root().join(".llm-orc/ensembles").display().to_string())
    );
    let g = p.orc(&["graph", "swarn"]);
    assert_eq!(g.code, 1);
}

/// The name is inside a file whose YAML cannot be read: "not found" shows that file's error
/// (file:line:col) and says the name may be there, for validate, graph and invoke alike.
#[test]
fn not_found_shows_the_files_that_could_not_be_read() {
    let p = project();
    p.ensemble(
        "review-v2",
        "name: review\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n   bad: [\n",
    );
    p.ensemble(
        "other",
        "name: other\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n",
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
    let r = p.orc(&["validate", "review"]);
    assert_eq!(r.code, 1);
    assert!(!r.stderr.contains("could not be read"), "{}", r.stderr);
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
    let r = p.orc(&["validate", "--all"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.assert_diag(&format!(
        "{}:4:11: error: the agent name `evil\\u{{202e}}txt.exe` contains a bidirectional mark (U+202E)",
        path(&p, "rtl")
    ));
    r.assert_diag(&format!(
        "{}:4:11: error: the agent name `a\\u{{200f}}b` contains a bidirectional mark (U+200F)",
        path(&p, "lrm")
    ));
    r.assert_diag(&format!(
        "{}:4:11: error: the agent name `two\\u{{a}}lines` contains a line break (U+000A)",
        path(&p, "newline")
    ));
    r.assert_diag(&format!(
        "{}:4:11: error: the agent name `\\u{{1b}}[2Jclear` contains a control character (U+001B)",
        path(&p, "escape")
    ));
    assert!(
        !r.stderr.contains('\u{202e}') && !r.stderr.contains('\u{1b}'),
        "{}",
        r.stderr
    );

    let q = project();
    let ens = |name: &str| {
        format!("name: {name}\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n")
    };
    q.ensemble("dots", &ens("'..'"));
    q.ensemble("slash", &ens("team/review"));
    q.ensemble("long", &ens(&"x".repeat(300)));
    q.ensemble("ctl", &ens("\"re\\tview\""));
    q.ensemble("bidi", &ens("\"re\\u2066view\""));
    let r = q.orc(&["validate", "--all"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.assert_diag(&format!(
        "{}:1:7: error: the ensemble name `..` cannot name the artifact folder",
        path(&q, "dots")
    ));
    r.assert_diag(&format!(
        "{}:1:7: error: the ensemble name `team/review` contains `/`",
        path(&q, "slash")
    ));
    r.assert_diag(&format!(
        "{}:1:7: error: the ensemble name `{}...` is 300 bytes long",
        path(&q, "long"),
        "x".repeat(60)
    ));
    r.assert_diag(&format!(
        "{}:1:7: error: the ensemble name `re\\u{{9}}view` contains a control character (U+0009)",
        path(&q, "ctl")
    ));
    r.assert_diag(&format!(
        "{}:1:7: error: the ensemble name `re\\u{{2066}}view` contains a bidirectional mark (U+2066)",
        path(&q, "bidi")
    ));
    // invoke refuses it before running (exit 2), rather than running and losing the artifact.
    let r = q.orc(&["invoke", "team/review", "x"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    r.assert_diag(&format!(
        "{}:1:7: error: the ensemble name `team/review`",
        path(&q, "slash")
    ));
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
        "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n    timeout_seconds: soon\n    fan_out: maybe\n    depends_on: 7\n",
    );
    let r = p.orc(&["validate", "e"]);
    assert_eq!(r.code, 1);
    r.assert_diag(&format!(
        "{}:6:22: error: `timeout_seconds` must be a number, found a string",
        path(&p, "e")
    ));
    r.assert_diag(&format!(
        "{}:7:14: error: `fan_out` must be true or false, found a string",
        path(&p, "e")
    ));
    r.assert_diag(&format!(
        "{}:8:17: error: `depends_on` must be a list of agent names, found an integer",
        path(&p, "e")
    ));
}

#[test]
fn config_errors_are_located_and_fail_check() {
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", "model_profiles:\n  t:\n    model: m\n    provider: ollama\n    timeout_seconds: -1\nperformance:\n  concurrency:\n    per_model_limit: 0\n");
    let r = p.orc(&["config", "check"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let cfg = p.root().join(".llm-orc/config.yaml").display().to_string();
    r.assert_diag(&format!(
        "{cfg}:5:22: error: `timeout_seconds` must be more than 0 seconds"
    ));
    r.assert_diag(&format!(
        "{cfg}:8:22: error: `per_model_limit` must be at least 1"
    ));
}

#[test]
fn control_flow_references_are_checked() {
    let p = project();
    p.ensemble(
        "body",
        "name: body\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n",
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
        "name: body\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n",
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
    let r = p.orc(&["validate", "e"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let f = path(&p, "e");
    r.assert_diag(&format!("{f}:11:11: warning: the `when:` guard of agent `b`: `${{a.route}} != code` is a non-empty literal, so it is always true (llm-orc's grammar has no `!=`"));
    r.assert_diag(&format!("{f}:16:5: warning: the `until:` of loop agent `l`: `done` is a non-empty literal, so it is always true"));
    r.assert_diag(&format!(
        "{f}:16:5: warning: the `carry:` of loop agent `l` is `n`, not a `${{field}}` reference"
    ));
    let g = p.orc(&["graph", "e"]);
    assert!(
        g.stdout.contains("[when `${x.ok}`]  (waits for x)"),
        "{}",
        g.stdout
    );
    assert!(
        g.stdout
            .contains("loop body (1 agents) until `done`, at most 2, carry `n`"),
        "{}",
        g.stdout
    );
}

#[test]
fn timeouts_out_of_range_are_located_errors() {
    let p = project();
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n    timeout_seconds: 1e20\n  - name: b\n    model_profile: tiny\n    timeout_seconds: 'NaN'\n  - name: c\n    model_profile: tiny\n    timeout_seconds: 604800\n",
    );
    let r = p.orc(&["validate", "e"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.assert_diag(&format!(
        "{}:6:22: error: `timeout_seconds` is 100000000000000000000 seconds, over the limit of 604800 (one week)",
        path(&p, "e")
    ));
    r.assert_diag(&format!(
        "{}:9:22: error: `timeout_seconds` must be a finite number of seconds, found NaN",
        path(&p, "e")
    ));
    assert!(
        !r.stderr.contains(":12:"),
        "a week is allowed: {}",
        r.stderr
    );
    // invoke refuses the file with the same diagnostic; nothing reaches the engine.
    let r = p.orc(&["invoke", "e", "x"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    r.assert_diag(&format!(
        "{}:6:22: error: `timeout_seconds` is",
        path(&p, "e")
    ));
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    // A config default that large is refused where it is written, too.
    p.write(
        ".llm-orc/config.yaml",
        &format!(
            "{}performance:\n  execution:\n    default_timeout: 1e20\n",
            common::PEER_CONFIG
        ),
    );
    let r = p.orc(&["config", "check"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("error: `default_timeout` is 100000000000000000000 seconds, over the limit"),
        "{}",
        r.stderr
    );
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
