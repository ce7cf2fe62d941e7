//! Finding projects, tiers, profiles and ensembles the way llm-orc does.

use crate::common;

use std::fs;

use common::{TestProject, write_file};

const ONE: &str = "description: d\nagents:\n  - name: a\n    model_profile: tiny\n";

fn named(name: &str, desc: &str) -> String {
    format!("name: {name}\ndescription: {desc}\nagents:\n  - name: a\n    model_profile: tiny\n")
}

#[test]
fn walks_up_from_a_subdirectory_and_honours_project_flag() {
    let p = TestProject::new();
    p.with_profiles();
    p.ensemble("here", &named("here", "local one"));
    let deep = p.root().join("src/deep/er");
    fs::create_dir_all(&deep).expect("mkdir");
    let r = p.orc_in(&deep, &["list-ensembles"]);
    assert!(r.stdout.contains("  here: local one"), "{}", r.stdout);

    // From elsewhere, --project points at the tree (the directory or the .llm-orc itself).
    let elsewhere = p.dir.path().join("elsewhere");
    fs::create_dir_all(&elsewhere).expect("mkdir");
    let r = p.orc_in(&elsewhere, &["list-ensembles"]);
    assert!(!r.stdout.contains("  here:"), "{}", r.stdout);
    let root = p.root().display().to_string();
    let r = p.orc_in(&elsewhere, &["--project", &root, "list-ensembles"]);
    assert!(r.stdout.contains("  here: local one"), "{}", r.stdout);
    let dot = p.root().join(".llm-orc").display().to_string();
    let r = p.orc_in(&elsewhere, &["--project", &dot, "validate", "here"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn tiers_resolve_local_then_library_then_global() {
    let p = TestProject::new();
    p.with_profiles();
    let lib = p.dir.path().join("lib");
    p.ensemble("shared", &named("shared", "from local"));
    write_file(
        &lib.join("ensembles/research/shared.yaml"),
        &named("shared", "from library"),
    );
    write_file(
        &lib.join("ensembles/research/only-lib.yaml"),
        &named("only-lib", "library only"),
    );
    write_file(
        &p.global().join("ensembles/shared.yaml"),
        &named("shared", "from global"),
    );
    write_file(
        &p.global().join("ensembles/only-global.yaml"),
        &named("only-global", "global only"),
    );
    let r = p.orc_env(
        &p.root(),
        &["list-ensembles"],
        &[("LLM_ORC_LIBRARY_PATH", &lib)],
    );
    let out = &r.stdout;
    let local_at = out.find("Local (").expect("local group");
    let lib_at = out.find("Library (").expect("library group");
    let global_at = out.find("Global (").expect("global group");
    assert!(local_at < lib_at && lib_at < global_at, "{out}");
    assert!(out.contains("  research/only-lib: library only"), "{out}");
    assert!(out.contains("  only-global: global only"), "{out}");
    assert!(
        out.contains("  shared: from global  [shadowed by an earlier tier]"),
        "{out}"
    );

    // The local file wins; the library's is found under its sub-folder name.
    let g = p.orc_env(
        &p.root(),
        &["graph", "shared", "--format", "json"],
        &[("LLM_ORC_LIBRARY_PATH", &lib)],
    );
    let v: serde_json::Value = serde_json::from_str(&g.stdout).expect("json");
    assert_eq!(v["description"], "from local");
    let g = p.orc_env(
        &p.root(),
        &["graph", "research/shared", "--format", "json"],
        &[("LLM_ORC_LIBRARY_PATH", &lib)],
    );
    let v: serde_json::Value = serde_json::from_str(&g.stdout).expect("json");
    assert_eq!(v["description"], "from library");
    let g = p.orc_env(
        &p.root(),
        &["graph", "only-global"],
        &[("LLM_ORC_LIBRARY_PATH", &lib)],
    );
    assert_eq!(g.code, 0, "{}", g.stderr);
}

/// Two files with the same `name:` in one tier: list-ensembles and validate say so, with both
/// paths and which one orc uses (the file named after the ensemble, else the first by path);
/// every command runs that one.
#[test]
fn same_name_twice_in_one_tier_says_which_file_wins() {
    let p = TestProject::new();
    p.with_profiles();
    p.ensemble("a-copy", &named("review", "the copy"));
    p.ensemble("review", &named("review", "the original"));
    p.ensemble("one", &named("dup", "first by path"));
    p.ensemble("two", &named("dup", "second by path"));
    let ens = p.root().join(".llm-orc/ensembles");
    let at = |f: &str| ens.join(f).display().to_string();

    let le = p.orc(&["list-ensembles"]);
    let out = &le.stdout;
    let rule = "the file named after the ensemble wins, else the first by path";
    assert!(
        out.contains(&format!("  review: the copy  [same name as review.yaml in this tier; orc uses review.yaml, never this file (a-copy.yaml): {rule}]")),
        "{out}"
    );
    assert!(
        out.contains(&format!("  review: the original  [same name as a-copy.yaml in this tier; orc uses this file (review.yaml): {rule}]")),
        "{out}"
    );
    assert!(
        out.contains(&format!("  dup: second by path  [same name as one.yaml in this tier; orc uses one.yaml, never this file (two.yaml): {rule}]")),
        "{out}"
    );
    assert!(!out.contains("shadowed"), "{out}");

    let j = p.orc(&["list-ensembles", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).expect("json");
    let copy = v
        .as_array()
        .and_then(|a| a.iter().find(|e| e["path"] == at("a-copy.yaml")))
        .expect("listed");
    assert_eq!(copy["shadowed"], false);
    assert_eq!(
        copy["same_name_in_tier"],
        serde_json::json!([at("review.yaml")])
    );
    assert_eq!(copy["used_instead"], at("review.yaml"));

    // validate NAME warns on the file it validates; --all on both.
    p.test(&["validate", "review"])
        .status(0)
        .stdout(
            r#"
            ok       review (single, 1 agents) [ROOT]/.llm-orc/ensembles/review.yaml

            1 ensemble(s): 1 valid, 0 invalid, 1 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/review.yaml:1:7: warning: ensemble name `review` is also used by [ROOT]/.llm-orc/ensembles/a-copy.yaml in the same (local) tier; orc uses this file (the file named after the ensemble wins, else the first by path)
              hint: give each file its own `name:` (llm-orc picks whichever file it lists first)
            "#,
        )
        .run();
    p.test(&["validate", "--all"])
        .status(0)
        .stdout(
            r#"
            ok       review (single, 1 agents) [ROOT]/.llm-orc/ensembles/a-copy.yaml
            ok       dup (single, 1 agents) [ROOT]/.llm-orc/ensembles/one.yaml
            ok       review (single, 1 agents) [ROOT]/.llm-orc/ensembles/review.yaml
            ok       dup (single, 1 agents) [ROOT]/.llm-orc/ensembles/two.yaml

            4 ensemble(s): 4 valid, 0 invalid, 4 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/a-copy.yaml:1:7: warning: ensemble name `review` is also used by [ROOT]/.llm-orc/ensembles/review.yaml in the same (local) tier; orc uses [ROOT]/.llm-orc/ensembles/review.yaml, never this one (the file named after the ensemble wins, else the first by path)
              hint: give each file its own `name:` (llm-orc picks whichever file it lists first)
            [ROOT]/.llm-orc/ensembles/one.yaml:1:7: warning: ensemble name `dup` is also used by [ROOT]/.llm-orc/ensembles/two.yaml in the same (local) tier; orc uses this file (the file named after the ensemble wins, else the first by path)
              hint: give each file its own `name:` (llm-orc picks whichever file it lists first)
            [ROOT]/.llm-orc/ensembles/review.yaml:1:7: warning: ensemble name `review` is also used by [ROOT]/.llm-orc/ensembles/a-copy.yaml in the same (local) tier; orc uses this file (the file named after the ensemble wins, else the first by path)
              hint: give each file its own `name:` (llm-orc picks whichever file it lists first)
            [ROOT]/.llm-orc/ensembles/two.yaml:1:7: warning: ensemble name `dup` is also used by [ROOT]/.llm-orc/ensembles/one.yaml in the same (local) tier; orc uses [ROOT]/.llm-orc/ensembles/one.yaml, never this one (the file named after the ensemble wins, else the first by path)
              hint: give each file its own `name:` (llm-orc picks whichever file it lists first)
            "#,
        )
        .run();

    for (name, want) in [("review", "the original"), ("dup", "first by path")] {
        let g = p.orc(&["graph", name, "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&g.stdout).expect("json");
        assert_eq!(v["description"], want);
    }
}

/// A name found in an earlier tier under another file name wins over a later tier's file
/// named after it.
#[test]
fn earlier_tier_wins_even_when_a_later_file_is_named_after_the_ensemble() {
    let p = TestProject::new();
    p.with_profiles();
    p.ensemble("my-review", &named("review", "local"));
    write_file(
        &p.global().join("ensembles/review.yaml"),
        &named("review", "global"),
    );
    let g = p.orc(&["graph", "review", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&g.stdout).expect("json");
    assert_eq!(v["description"], "local");
    p.test(&["list-ensembles"])
        .status(0)
        .stdout(
            r#"
            Available ensembles:

            Local ([ROOT]/.llm-orc/ensembles):
              review: local

            Global ([HOME]/.config/llm-orc/ensembles):
              review: global  [shadowed by an earlier tier]
            "#,
        )
        .stderr("")
        .run();
}

#[test]
fn library_defaults_to_the_conventional_folder_and_xdg_moves_global() {
    let p = TestProject::new();
    p.with_profiles();
    write_file(
        &p.root().join("llm-orchestra-library/ensembles/x/conv.yaml"),
        &named("conv", "conventional"),
    );
    let xdg = p.dir.path().join("xdg");
    write_file(
        &xdg.join("llm-orc/ensembles/xg.yaml"),
        &named("xg", "xdg global"),
    );
    let r = p.orc_env(&p.root(), &["list-ensembles"], &[("XDG_CONFIG_HOME", &xdg)]);
    assert!(r.stdout.contains("x/conv: conventional"), "{}", r.stdout);
    assert!(r.stdout.contains("xg: xdg global"), "{}", r.stdout);
}

#[test]
fn ensemble_name_comes_from_the_name_key_else_the_file() {
    let p = TestProject::new();
    p.with_profiles();
    p.ensemble("file-stem", &named("real-name", "named"));
    p.ensemble("nameless", ONE);
    p.test(&["list-ensembles"])
        .status(0)
        .stdout(
            r#"
            Available ensembles:

            Local ([ROOT]/.llm-orc/ensembles):
              nameless: d
              real-name: named
            "#,
        )
        .stderr("")
        .run();
    assert_eq!(p.orc(&["validate", "real-name"]).code, 0);
    p.test(&["validate", "nameless"])
        .status(0)
        .stdout(
            r#"
            ok       nameless (single, 1 agents) [ROOT]/.llm-orc/ensembles/nameless.yaml

            1 ensemble(s): 1 valid, 0 invalid, 1 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/nameless.yaml:1:1: warning: the ensemble has no `name:`; it is known as `nameless`
              hint: llm-orc requires `name:`; add it so both tools find this ensemble
            "#,
        )
        .run();
}

#[test]
fn profiles_merge_global_then_local_and_local_overrides_last() {
    let p = TestProject::new();
    write_file(
        &p.global().join("config.yaml"),
        "model_profiles:\n  tiny:\n    model: global-model:1b\n    provider: ollama\n  gonly:\n    model: g:1b\n    provider: ollama\n",
    );
    write_file(
        &p.global().join("profiles/tiny.yaml"),
        "name: tiny\nmodel: global-file:1b\nprovider: ollama\n",
    );
    p.write(
        ".llm-orc/config.yaml",
        r#"
            model_profiles:
              tiny:
                model: local-config:1b
                provider: ollama
        "#,
    );
    p.write(
        ".llm-orc/profiles/a-tiny.local.yaml",
        r#"
            name: tiny
            model: private:1b
            provider: ollama
        "#,
    );
    p.write(
        ".llm-orc/profiles/z-tiny.yaml",
        r#"
            name: tiny
            model: local-file:1b
            provider: ollama
            cost_per_token: 0.5
        "#,
    );
    p.ensemble("e", ONE);
    let g = p.orc(&["graph", "e"]);
    assert!(g.stdout.contains("private:1b (tiny)"), "{}", g.stdout);
    let lp = p.orc(&["list-profiles"]);
    assert!(
        lp.stdout.contains("  tiny:\n    Model: private:1b"),
        "{}",
        lp.stdout
    );
    assert!(
        lp.stdout.contains("  gonly:\n    Model: g:1b"),
        "{}",
        lp.stdout
    );
    // Every definition it replaced is listed, in merge order.
    let overrides: Vec<&str> = lp
        .stdout
        .lines()
        .filter(|l| l.contains("Overrides:"))
        .collect();
    assert_eq!(overrides.len(), 4, "{}", lp.stdout);
    assert!(overrides[3].ends_with("z-tiny.yaml"), "{overrides:?}");
}

#[test]
fn agent_keys_override_profile_keys_override_config_defaults() {
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        r#"
            model_profiles:
              tiny:
                model: qwen3:0.6b
                provider: ollama
                system_prompt: profile prompt
                temperature: 0.3
                max_tokens: 99
                options: {num_ctx: 4096, top_k: 5}
            performance:
              execution:
                default_timeout: 42
        "#,
    );
    p.ensemble(
        "e",
        r#"
            name: e
            description: d
            agents:
              - name: uses-profile
                model_profile: tiny
              - name: overrides
                model_profile: tiny
                system_prompt: ''
                temperature: 0.9
                max_tokens: 10
                timeout_seconds: 7
                options: {top_k: 9, think: false}
              - name: inline
                model: llama3.2:1b
                provider: ollama
        "#,
    );
    let g = p.orc(&["graph", "e", "--format", "json"]);
    assert_eq!(g.code, 0, "{}", g.stderr);
    let v: serde_json::Value = serde_json::from_str(&g.stdout).expect("json");
    let a = &v["agents"];
    assert_eq!(a[0]["system_prompt"], "profile prompt");
    assert_eq!(a[0]["temperature"], 0.3);
    assert_eq!(a[0]["max_tokens"], 99);
    assert_eq!(a[0]["timeout_seconds"], 42.0);
    assert_eq!(
        a[0]["options"],
        serde_json::json!({"num_ctx": 4096, "top_k": 5})
    );
    assert_eq!(a[1]["system_prompt"], "");
    assert_eq!(a[1]["temperature"], 0.9);
    assert_eq!(a[1]["max_tokens"], 10);
    assert_eq!(a[1]["timeout_seconds"], 7.0);
    assert_eq!(
        a[1]["options"],
        serde_json::json!({"num_ctx": 4096, "top_k": 9})
    );
    assert_eq!(a[1]["think"], false);
    assert_eq!(
        a[2]["system_prompt"],
        "You are a inline. Provide helpful analysis."
    );
    assert_eq!(a[2]["model"], "llama3.2:1b");
    assert_eq!(a[2]["timeout_seconds"], 42.0);
}

/// 29 of llm-orc's example files end inside a block scalar without a final line break; PyYAML
/// adds no line feed there, so neither may orc (the system prompt is sent byte for byte).
#[test]
fn block_scalar_ending_the_file_has_no_added_line_feed() {
    let p = TestProject::new();
    p.with_profiles();
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: keep\n    model_profile: tiny\n    system_prompt: |+\n      Kept.\n  - name: last\n    model_profile: tiny\n    system_prompt: |\n      Line one.\n      Line two.",
    );
    p.write(
        ".llm-orc/profiles/folded.yaml",
        "name: folded\nmodel: m:1b\nprovider: ollama\nsystem_prompt: >\n  Be\n  brief.",
    );
    p.ensemble(
        "f",
        r#"
            name: f
            description: d
            agents:
              - name: a
                model_profile: folded
        "#,
    );
    let g = p.orc(&["graph", "e", "--format", "json"]);
    assert_eq!(g.code, 0, "{}", g.stderr);
    let v: serde_json::Value = serde_json::from_str(&g.stdout).expect("json");
    assert_eq!(v["agents"][0]["system_prompt"], "Kept.\n");
    assert_eq!(v["agents"][1]["system_prompt"], "Line one.\nLine two.");
    let g = p.orc(&["graph", "f", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&g.stdout).expect("json");
    assert_eq!(v["agents"][0]["system_prompt"], "Be brief.");
}

#[test]
fn ensembles_in_sub_folders_and_nested_references() {
    let p = TestProject::new();
    p.with_profiles();
    p.ensemble("team/child", &named("child", "in a folder"));
    p.ensemble(
        "parent",
        r#"
            name: parent
            description: d
            agents:
              - name: c
                ensemble: team/child
              - name: j
                model_profile: tiny
                depends_on: [c]
        "#,
    );
    p.test(&["validate", "team/child"])
        .status(0)
        .stdout(
            r#"
            ok       team/child (single, 1 agents) [ROOT]/.llm-orc/ensembles/team/child.yaml
            "#,
        )
        .stderr("")
        .run();
    p.test(&["validate", "parent"])
        .status(0)
        .stdout(
            r#"
            ok       parent (composable, 2 agents) [ROOT]/.llm-orc/ensembles/parent.yaml
            "#,
        )
        .stderr("")
        .run();
}

#[test]
fn nested_reference_found_only_by_name_warns_about_llm_orc() {
    let p = TestProject::new();
    p.with_profiles();
    p.ensemble("file-name", &named("the-child", "d"));
    p.ensemble(
        "parent",
        r#"
            name: parent
            description: d
            agents:
              - name: c
                ensemble: the-child
        "#,
    );
    p.test(&["validate", "parent"])
        .status(0)
        .stdout(
            r#"
            ok       parent (composable, 1 agents) [ROOT]/.llm-orc/ensembles/parent.yaml

            1 ensemble(s): 1 valid, 0 invalid, 1 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/parent.yaml:5:15: warning: ensemble `the-child` was found by its name in [ROOT]/.llm-orc/ensembles/file-name.yaml, not by file name
              hint: llm-orc looks for nested ensembles as `the-child.yaml` in .llm-orc/ensembles/ and would not find it; rename the file to `the-child.yaml`
            "#,
        )
        .run();
}

#[test]
fn broken_file_is_reported_not_hidden_as_not_found() {
    let p = TestProject::new();
    p.with_profiles();
    p.ensemble(
        "broken",
        r#"
            name: broken
            agents: [
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
            [ROOT]/.llm-orc/ensembles/broken.yaml:2:9: error: YAML syntax: unclosed bracket '[' at line 2, column 9
              hint: check the indentation and quoting around this line
            "#,
        )
        .run();
    p.test(&["list-ensembles"])
        .status(0)
        .stdout(
            r#"
            Available ensembles:

            Local ([ROOT]/.llm-orc/ensembles):
              broken  [invalid: run `orc validate broken`]
            "#,
        )
        .stderr("")
        .run();
}

#[test]
fn validate_all_reports_every_file_and_fails_if_any_is_invalid() {
    let p = TestProject::new();
    p.with_profiles();
    p.ensemble("good", &named("good", "fine"));
    p.ensemble(
        "bad",
        r#"
            name: bad
            description: d
            agents:
              - name: a
                model_profile: nope
        "#,
    );
    p.test(&["validate", "--all"])
        .status(1)
        .stdout(
            r#"
            invalid  bad (1 error(s)) [ROOT]/.llm-orc/ensembles/bad.yaml
            ok       good (single, 1 agents) [ROOT]/.llm-orc/ensembles/good.yaml

            2 ensemble(s): 1 valid, 1 invalid, 0 warning(s)
            "#,
        )
        .stderr(
            r#"
            [ROOT]/.llm-orc/ensembles/bad.yaml:5:20: error: agent `a` uses unknown model profile `nope`
              hint: known profiles: `small`, `tiny`; looked in [HOME]/.config/llm-orc/config.yaml, [HOME]/.config/llm-orc/profiles, [ROOT]/.llm-orc/config.yaml, [ROOT]/.llm-orc/profiles
            "#,
        )
        .run();
    let j = p.orc(&["validate", "--all", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).expect("json");
    assert_eq!(v["valid"], false);
    assert_eq!(v["ensembles"].as_array().map(Vec::len), Some(2));
    fs::remove_file(p.root().join(".llm-orc/ensembles/bad.yaml")).expect("rm");
    assert_eq!(p.orc(&["validate"]).code, 0);
}

#[test]
fn symlinked_ensembles_outside_the_tier_are_not_listed() {
    let p = TestProject::new();
    p.with_profiles();
    let outside = write_file(
        &p.dir.path().join("elsewhere/evil.yaml"),
        &named("evil", "outside"),
    );
    #[cfg(unix)]
    std::os::unix::fs::symlink(&outside, p.root().join(".llm-orc/ensembles/evil.yaml"))
        .expect("symlink");
    p.ensemble("inside", &named("inside", "real"));
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        p.root().join(".llm-orc/ensembles/inside.yaml"),
        p.root().join(".llm-orc/ensembles/alias.yaml"),
    )
    .expect("symlink");
    p.test(&["list-ensembles"])
        .status(0)
        .stdout(
            r#"
            Available ensembles:

            Local ([ROOT]/.llm-orc/ensembles):
              inside: real  [same name as inside.yaml in this tier; orc uses inside.yaml, never this file (alias.yaml): the file named after the ensemble wins, else the first by path]
              inside: real  [same name as alias.yaml in this tier; orc uses this file (inside.yaml): the file named after the ensemble wins, else the first by path]
            "#,
        )
        .stderr("")
        .run();
}

#[test]
fn config_init_creates_the_tree_and_never_overwrites() {
    let p = TestProject::new();
    let fresh = p.dir.path().join("fresh");
    fs::create_dir_all(&fresh).expect("mkdir");
    let r = p.orc_in(&fresh, &["config", "init"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for f in [
        "config.yaml",
        "ensembles/swarm-review.yaml",
        "profiles/micro.yaml",
        "scripts/split_paragraphs.py",
    ] {
        assert!(fresh.join(".llm-orc").join(f).is_file(), "{f} missing");
    }
    let cfg = fresh.join(".llm-orc/config.yaml");
    fs::write(&cfg, "project:\n  name: mine\n").expect("write");
    let r = p.orc_in(&fresh, &["config", "init"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("0 file(s) created, 11 kept"),
        "{}",
        r.stdout
    );
    assert_eq!(
        fs::read_to_string(&cfg).expect("read"),
        "project:\n  name: mine\n"
    );

    // The shipped examples validate, one per pattern.
    let v = p.orc_in(&fresh, &["validate", "--all"]);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    for (name, pattern) in [
        ("sequential-draft", "sequential"),
        ("fan-in-review", "fan-in"),
        ("fan-out-paragraphs", "fan-out"),
        ("swarm-review", "swarm"),
        ("composable-report", "composable"),
    ] {
        assert!(
            v.stdout.contains(&format!("ok       {name} ({pattern},")),
            "{name}: {}",
            v.stdout
        );
    }
    let check = p.orc_in(&fresh, &["config", "check"]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(check.stdout.contains("Profiles: 4"), "{}", check.stdout);
    assert!(
        check.stdout.contains("Ensembles: 5 local"),
        "{}",
        check.stdout
    );
    assert!(check.stderr.is_empty(), "{}", check.stderr);
}

#[test]
fn empty_places_say_what_to_do() {
    let p = TestProject::new();
    let bare = p.dir.path().join("bare");
    fs::create_dir_all(&bare).expect("mkdir");
    let r = p.orc_in(&bare, &["list-ensembles"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("No ensembles found"), "{}", r.stdout);
    assert!(r.stdout.contains("orc config init"), "{}", r.stdout);
    let r = p.orc_in(&bare, &["graph", "x"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("run `orc config init`"), "{}", r.stderr);
}
