//! `orc mcp install` and `orc skill install` as a Claude Code user meets them: installs that
//! cannot leave a broken setup (a command that does not start, a machine's path in a shared
//! file, a skill listed twice), permissions merged into `.claude/settings.json`, and the files
//! they edit kept exactly as they were around the edit (numbers, links, read-only files).

use crate::common;

use std::path::Path;

use common::{Run, TestProject, orc_on_path, path_with_orc, write_file};
use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json")
}

fn install(p: &TestProject, args: &[&str]) -> Run {
    let mut all = vec!["mcp", "install"];
    all.extend_from_slice(args);
    orc_on_path(p, &p.root(), &all)
}

#[test]
fn numbers_keys_and_formatting_outside_the_orc_entry_are_kept_exactly() {
    let p = TestProject::new();
    let user = p.home().join(".claude.json");
    let before = r#"{
  "numStartups": 12345678901234567890123,
  "tipsHistory": {"a": 1.10, "b": 2.50e-3},
  "mcpServers": {
    "other": {"command": "x", "args": [], "timeout": 99999999999999999999}
  },
  "zLast": true
}
"#;
    write_file(&user, before);
    let r = install(&p, &["--user", "--command", "orc"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let after = std::fs::read_to_string(&user).expect("read");
    for kept in [
        "\"numStartups\": 12345678901234567890123",
        r#""tipsHistory": {"a": 1.10, "b": 2.50e-3}"#,
        r#""other": {"command": "x", "args": [], "timeout": 99999999999999999999}"#,
    ] {
        assert!(after.contains(kept), "`{kept}` kept as written:\n{after}");
    }
    assert!(!after.contains("e+22"), "{after}");
    let keys: Vec<&str> = ["numStartups", "tipsHistory", "mcpServers", "zLast"]
        .into_iter()
        .filter(|k| after.contains(&format!("\"{k}\"")))
        .collect();
    assert_eq!(keys.len(), 4);
    let pos = |k: &str| after.find(&format!("\"{k}\"")).expect("key");
    assert!(pos("numStartups") < pos("tipsHistory") && pos("mcpServers") < pos("zLast"));
    let v = read_json(&user);
    assert_eq!(
        v["mcpServers"]["orc"],
        json!({"type": "stdio", "command": "orc", "args": ["mcp", "serve"], "env": {}})
    );
}

#[cfg(unix)]
#[test]
fn a_read_only_claude_json_is_refused_and_left_as_it_is() {
    use std::os::unix::fs::PermissionsExt;
    let p = TestProject::new();
    let user = p.home().join(".claude.json");
    write_file(&user, r#"{"numStartups": 3}"#);
    std::fs::set_permissions(&user, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    let r = install(&p, &["--user", "--command", "orc"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("read-only"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(&user).expect("r"),
        r#"{"numStartups": 3}"#
    );
    let mode = std::fs::metadata(&user).expect("m").permissions().mode() & 0o777;
    assert_eq!(mode, 0o444);
    // The same for a read-only settings file under --allow: nothing registered either.
    std::fs::set_permissions(&user, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let settings = write_file(&p.home().join(".claude/settings.json"), "{}");
    std::fs::set_permissions(&settings, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    let r = install(&p, &["--user", "--command", "orc", "--allow", "core"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("read-only"), "{}", r.stderr);
    assert!(
        !std::fs::read_to_string(&user)
            .expect("r")
            .contains("mcpServers"),
        "nothing half done"
    );
}

#[cfg(unix)]
#[test]
fn links_planted_in_a_cloned_project_are_never_written_through() {
    let p = TestProject::new();
    let outside = p.dir.path().join("elsewhere");
    std::fs::create_dir_all(&outside).expect("mkdir");
    let victim = write_file(&outside.join("victim.json"), r#"{"keep": 1}"#);
    std::os::unix::fs::symlink(&victim, p.root().join(".mcp.json")).expect("link");
    let r = install(&p, &["--command", "orc"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr.contains("leads out of the project"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&victim).expect("r"),
        r#"{"keep": 1}"#
    );

    // A folder link: `.claude -> elsewhere` for the skill and the settings.
    std::os::unix::fs::symlink(&outside, p.root().join(".claude")).expect("link");
    let r = orc_on_path(&p, &p.root(), &["skill", "install"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr.contains("leads out of the project"),
        "{}",
        r.stderr
    );
    assert!(!outside.join("skills").exists(), "nothing written outside");
    std::fs::remove_file(p.root().join(".mcp.json")).expect("rm");
    let r = install(&p, &["--command", "orc", "--allow", "core"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(!outside.join("settings.json").exists());
    assert!(!p.root().join(".mcp.json").exists(), "nothing half done");

    // A link that stays inside the project is followed.
    std::fs::remove_file(p.root().join(".claude")).expect("rm");
    let inside = write_file(&p.root().join("config/mcp.json"), "{}");
    std::os::unix::fs::symlink("config/mcp.json", p.root().join(".mcp.json")).expect("link");
    let r = install(&p, &["--command", "orc"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(read_json(&inside)["mcpServers"]["orc"]["command"], "orc");
}

#[test]
fn a_command_that_would_not_start_is_refused() {
    let p = TestProject::new();
    // Not on PATH.
    let mut cmd = p.command(&["mcp", "install", "--command", "orc"]);
    cmd.env("PATH", "/usr/bin:/bin");
    let r = Run::from(cmd.output().expect("run"));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("not on PATH"), "{}", r.stderr);
    assert!(!p.root().join(".mcp.json").exists());
    // A file that is not there, `~` (never expanded), an unset variable, a program that is not orc.
    for (command, why) in [
        ("/nonexistent/orc", "not an executable file"),
        ("~/.cargo/bin/orc", "does not expand `~`"),
        ("${ORC_TEST_UNSET_VAR}/orc", "not set here"),
        ("/bin/true", "is not orc"),
    ] {
        let r = install(&p, &["--user", "--command", command]);
        assert_eq!(r.code, 1, "{command}: {}", r.stdout);
        assert!(r.stderr.contains(why), "{command}: {}", r.stderr);
    }
    assert!(!p.home().join(".claude.json").exists());
    // --no-verify writes it anyway, saying so.
    let r = install(&p, &["--user", "--command", "/opt/orc", "--no-verify"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("not checked"), "{}", r.stderr);
    // ${VAR} is expanded as Claude Code expands it.
    let r = install(
        &p,
        &[
            "--user",
            "--force",
            "--command",
            "${ORC_TEST_UNSET_VAR:-orc}",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn a_machine_path_never_goes_into_the_shared_mcp_json_without_command() {
    let p = TestProject::new();
    // orc not on PATH: the default would be this binary's absolute path.
    let mut cmd = p.command(&["mcp", "install"]);
    cmd.env("PATH", "/usr/bin:/bin");
    let r = Run::from(cmd.output().expect("run"));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("breaks the server for everyone who clones the project")
            && r.stderr.contains("--command"),
        "{}",
        r.stderr
    );
    assert!(!p.root().join(".mcp.json").exists());
    // For the user's own config the absolute path is right.
    let mut cmd = p.command(&["mcp", "install", "--user"]);
    cmd.env("PATH", "/usr/bin:/bin");
    let r = Run::from(cmd.output().expect("run"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = read_json(&p.home().join(".claude.json"));
    let command = v["mcpServers"]["orc"]["command"].as_str().expect("command");
    assert!(command.starts_with('/'), "{command}");
    // An explicit --command with a path is the user's choice, with a warning.
    let exe = env!("CARGO_BIN_EXE_orc");
    let r = install(&p, &["--command", exe]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("a path on this machine"), "{}", r.stderr);
    // With orc on PATH the project gets the bare name, and a warning that it depends on PATH.
    std::fs::remove_file(p.root().join(".mcp.json")).expect("rm");
    let r = install(&p, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        read_json(&p.root().join(".mcp.json"))["mcpServers"]["orc"]["command"],
        "orc"
    );
    assert!(
        r.stderr.contains("depends on PATH") && r.stderr.contains("bin/orc"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("--allowedTools mcp__orc"), "{}", r.stdout);
}

#[test]
fn allow_writes_the_level_into_settings_without_clobbering_and_destructive_tools_ask() {
    let p = TestProject::new();
    let settings = p.root().join(".claude/settings.json");
    write_file(
        &settings,
        r#"{
  "model": "opus",
  "permissions": {
    "allow": ["Bash(git status)", "mcp__orc__delete_ensemble", "mcp__other__x"],
    "deny": ["Read(./.env)"],
    "defaultMode": "acceptEdits"
  },
  "hooks": {"Stop": []},
  "cleanupPeriodDays": 12345678901234567890
}
"#,
    );
    let r = install(&p, &["--command", "orc", "--allow", "core"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("always ask"), "{}", r.stdout);
    let text = std::fs::read_to_string(&settings).expect("read");
    assert!(text.contains("12345678901234567890"), "{text}");
    let v = read_json(&settings);
    assert_eq!(v["model"], "opus");
    assert_eq!(v["hooks"], json!({"Stop": []}));
    assert_eq!(v["permissions"]["deny"], json!(["Read(./.env)"]));
    assert_eq!(v["permissions"]["defaultMode"], "acceptEdits");
    let allow: Vec<&str> = v["permissions"]["allow"]
        .as_array()
        .expect("allow")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(allow.contains(&"Bash(git status)") && allow.contains(&"mcp__other__x"));
    assert!(
        !allow.contains(&"mcp__orc__delete_ensemble"),
        "a destructive tool never stays allowed: {allow:?}"
    );
    for t in [
        "mcp__orc__route_task",
        "mcp__orc__invoke",
        "mcp__orc__list_scripts",
    ] {
        assert!(allow.contains(&t), "{t} in {allow:?}");
    }
    assert!(!allow.contains(&"mcp__orc__create_profile"), "not core");
    let ask: Vec<&str> = v["permissions"]["ask"]
        .as_array()
        .expect("ask")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for d in [
        "mcp__orc__delete_ensemble",
        "mcp__orc__demote_ensemble",
        "mcp__orc__promote_ensemble",
        "mcp__orc__cleanup_artifacts",
    ] {
        assert!(ask.contains(&d), "{d} asks: {ask:?}");
    }
    // Rerunning changes nothing; narrowing to read-only removes orc's own entries only.
    let again = install(&p, &["--command", "orc", "--allow", "core"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(std::fs::read_to_string(&settings).expect("read"), text);
    let r = install(&p, &["--command", "orc", "--allow", "read-only"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = read_json(&settings);
    let allow: Vec<&str> = v["permissions"]["allow"]
        .as_array()
        .expect("allow")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(!allow.contains(&"mcp__orc__invoke") && allow.contains(&"mcp__orc__route_task"));
    assert!(allow.contains(&"Bash(git status)") && allow.contains(&"mcp__other__x"));
    // Without --allow nothing is written there.
    let p2 = TestProject::new();
    assert_eq!(install(&p2, &["--command", "orc"]).code, 0);
    assert!(!p2.root().join(".claude/settings.json").exists());
}

#[test]
fn the_orc_plugin_or_the_other_scope_is_detected_and_named() {
    let p = TestProject::new();
    let user_settings = write_file(
        &p.home().join(".claude/settings.json"),
        r#"{"enabledPlugins": {"orc@orc": true, "x@y": true}}"#,
    );
    // The plugin already provides the server and the skill.
    let r = install(&p, &["--command", "orc"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr.contains("the orc plugin (orc@orc") && r.stderr.contains("twice"),
        "{}",
        r.stderr
    );
    assert!(!p.root().join(".mcp.json").exists());
    let r = orc_on_path(&p, &p.root(), &["skill", "install"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("orc:orc"), "{}", r.stderr);
    // --allow with the plugin writes the plugin's tool names and registers nothing.
    let r = install(&p, &["--user", "--allow", "read-only"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("not registering a second one"),
        "{}",
        r.stdout
    );
    let v = read_json(&user_settings);
    assert_eq!(v["enabledPlugins"]["x@y"], true);
    let allow = v["permissions"]["allow"].to_string();
    assert!(allow.contains("mcp__plugin_orc_orc__route_task"), "{allow}");
    assert!(!p.home().join(".claude.json").exists());
    // A disabled plugin is no duplicate.
    write_file(&user_settings, r#"{"enabledPlugins": {"orc@orc": false}}"#);
    assert_eq!(install(&p, &["--command", "orc"]).code, 0);
    // The skill in the user's scope, then the project's: named, refused, --force installs both.
    assert_eq!(
        orc_on_path(&p, &p.root(), &["skill", "install", "--user"]).code,
        0
    );
    let r = orc_on_path(&p, &p.root(), &["skill", "install"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr.contains("user-scope skill")
            && r.stderr
                .contains(&p.home().join(".claude/skills/orc").display().to_string()),
        "{}",
        r.stderr
    );
    assert_eq!(
        orc_on_path(&p, &p.root(), &["skill", "install", "--force"]).code,
        0
    );
}

/// The one list of tools the allow-lists are made from is the server's list; where the server
/// annotates a tool (read-only, destructive), the list agrees.
#[tokio::test]
async fn the_permission_list_is_the_servers_tool_list() {
    let p = TestProject::new();
    let mut cmd = common::mcp::serve_command(&p);
    cmd.env("PATH", path_with_orc(&p));
    let c = ().serve(TokioChildProcess::new(cmd).expect("spawn")).await.expect("init");
    let tools = c.list_all_tools().await.expect("tools");
    let served: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    let listed: Vec<String> = orc::service::claude_tools::TOOLS
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    let mut a = served.clone();
    let mut b = listed.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b, "claude_tools::TOOLS lists exactly the server's tools");
    use orc::service::claude_tools::Access;
    for t in &tools {
        let mine = orc::service::claude_tools::TOOLS
            .iter()
            .find(|x| x.name == t.name)
            .expect("listed");
        let Some(ann) = &t.annotations else { continue };
        if ann.read_only_hint == Some(true) {
            assert_eq!(mine.access, Access::ReadOnly, "{} is read-only", t.name);
        }
        if ann.destructive_hint == Some(true) && ann.read_only_hint != Some(true) {
            assert_ne!(mine.access, Access::ReadOnly, "{} writes", t.name);
        }
    }
    c.cancel().await.expect("close");
}

/// Claude Code's tool search takes full names only (`select:mcp__orc__route_task`): every tool
/// the skill names in code is written so, and the skill says what to do when no orc tool is
/// there (the plugin's prefix, the session-start line).
#[test]
fn the_skill_names_tools_in_full_and_knows_what_to_do_without_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugin/skills/orc");
    let mut files = vec![root.join("SKILL.md")];
    for e in std::fs::read_dir(root.join("references"))
        .expect("refs")
        .flatten()
    {
        files.push(e.path());
    }
    let names: Vec<&str> = orc::service::claude_tools::TOOLS
        .iter()
        .map(|t| t.name)
        .collect();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        for (n, span) in text.split('`').enumerate().filter(|(n, _)| n % 2 == 1) {
            let words = span.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
            for w in words {
                assert!(
                    !names.contains(&w),
                    "{}: `{span}` (code span {n}) names `{w}` without mcp__orc__",
                    f.display()
                );
            }
        }
    }
    let skill = std::fs::read_to_string(root.join("SKILL.md")).expect("read");
    for needed in [
        "mcp__plugin_orc_orc__",
        "select:mcp__orc__route_task",
        "orc unavailable",
        "do the task yourself",
    ] {
        assert!(skill.contains(needed), "SKILL.md says `{needed}`");
    }
}
