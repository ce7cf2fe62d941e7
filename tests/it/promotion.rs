//! Library, dependencies, promotion with consent, and the Claude Code skill: the real `orc`
//! binary in a throwaway HOME and project, the simulator for models, a real MCP client, and a
//! temporary git repository as the library.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Run, TestProject, orc_on_path, write_file};
use orc::testkit::sim::{SimConfig, Simulator};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

/// Profiles on the simulator: orc's standard names (`micro`, `small`), a project-only one
/// (`tiny`) and one whose model no host has (`huge`).
fn config(url: &str) -> String {
    format!(
        "project:
  name: acme-billing
model_profiles:
  micro:
    model: qwen3:0.6b
    provider: ollama
    base_url: {url}
  small:
    model: gemma3:4b
    provider: ollama
    base_url: {url}
  tiny:
    model: qwen3:0.6b
    provider: ollama
    base_url: {url}
  huge:
    model: gemma3:27b
    provider: ollama
    base_url: {url}
"
    )
}

fn project(url: &str) -> TestProject {
    let p = TestProject::new();
    p.write(".llm-orc/config.yaml", &config(url));
    p
}

fn json_of(r: &Run) -> Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", r.stdout, r.stderr))
}

/// Files under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(r) = p.strip_prefix(dir) {
                out.push(r.display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// Runs an ensemble through the binary and records `n` judgments of `score` on its runs.
async fn judged_runs(p: &TestProject, ensemble: &str, n: usize, score: &str) {
    for _ in 0..n {
        let r = p
            .orc_async(&[
                "invoke",
                ensemble,
                "Some notes to digest.",
                "--output-format",
                "json",
                "--task-type",
                "summarization",
            ])
            .await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        let id = json_of(&r)["routing_id"]
            .as_str()
            .expect("routing_id")
            .to_string();
        let e = p
            .orc_async(&["eval", "record", &id, "--score", score, "--judge", "claude"])
            .await;
        assert_eq!(e.code, 0, "{}", e.stderr);
    }
}

fn signals(v: &Value) -> Vec<(String, String)> {
    v["signals"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["kind"].as_str().unwrap_or("").to_string(),
                s["detail"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_names_each_signal_with_its_evidence() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = project(&sim.url());
    p.write("docs/plan.md", "the plan\n");
    p.write("invoice_rules.md", "rules\n");
    p.ensemble(
        "paths",
        "name: paths\ndescription: d\nagents:\n  - name: a\n    model_profile: micro\n    system_prompt: Read /home/ada/notes.txt and docs/plan.md, then answer.\n",
    );
    p.ensemble(
        "words",
        "name: words\ndescription: d\nagents:\n  - name: a\n    model_profile: micro\n    system_prompt: Summarise the Acme-Billing invoices using invoice_rules.md.\n",
    );
    p.ensemble(
        "custom",
        "name: custom\ndescription: d\nagents:\n  - name: a\n    model_profile: tiny\n    system_prompt: Summarise the text.\n  - name: b\n    model_profile: huge\n    depends_on: [a]\n    system_prompt: Polish it.\n",
    );
    p.write(
        ".llm-orc/scripts/clean.py",
        "#!/usr/bin/env python3\nimport json\nOUT = '/var/tmp/acme/out.json'\nprint(json.dumps({'success': True, 'data': 'x'}))\n",
    );
    p.ensemble(
        "scripted",
        "name: scripted\ndescription: d\nagents:\n  - name: clean\n    script: scripts/clean.py\n    parameters:\n      target: /srv/data/in.txt\n  - name: a\n    model_profile: micro\n    depends_on: [clean]\n    system_prompt: Summarise the text.\n",
    );
    p.ensemble(
        "generic",
        "name: generic\ndescription: Summarise any text\nagents:\n  - name: facts\n    model_profile: micro\n    system_prompt: List the key facts of the text, one per line.\n  - name: summary\n    model_profile: small\n    depends_on: [facts]\n    system_prompt: Write a three-sentence summary from the facts. See https://example.com/a/b for style.\n",
    );
    let check = |name: &'static str| {
        let p = &p;
        async move {
            let r = p
                .orc_async(&[
                    "promote", name, "--check", "--to", "library", "--format", "json",
                ])
                .await;
            assert_eq!(r.code, 0, "{}", r.stderr);
            json_of(&r)[0].clone()
        }
    };

    let v = check("paths").await;
    let paths: Vec<(String, String)> = signals(&v)
        .into_iter()
        .filter(|(k, _)| k == "hard_coded_path")
        .collect();
    assert_eq!(
        paths,
        [
            (
                "hard_coded_path".to_string(),
                "absolute path `/home/ada/notes.txt`".to_string()
            ),
            (
                "hard_coded_path".to_string(),
                "project-relative path `docs/plan.md`".to_string()
            ),
        ],
        "{v}"
    );
    assert_eq!(v["signals"][0]["location"], "agent `a` system prompt");

    let v = check("words").await;
    let s = signals(&v);
    assert!(
        s.iter()
            .any(|(k, d)| k == "project_word" && d.contains("`acme-billing` (the project's name)")),
        "{v}"
    );
    assert!(
        s.iter()
            .any(|(k, d)| k == "project_word" && d.contains("invoice_rules.md")),
        "{v}"
    );

    let v = check("custom").await;
    let s = signals(&v);
    assert!(
        s.iter()
            .any(|(k, d)| k == "non_standard_profile" && d.contains("`tiny`")),
        "{v}"
    );
    assert!(
        s.iter()
            .any(|(k, d)| k == "non_standard_profile" && d.contains("`huge`"))
    );
    assert_eq!(
        v["model_warnings"][0],
        "model `gemma3:27b` (profile huge) is not installed on any reachable host; nearest installed in size: gemma3:12b"
    );

    let v = check("scripted").await;
    let s = signals(&v);
    assert!(
        s.iter()
            .any(|(k, d)| k == "project_script" && d.contains("scripts/clean.py")),
        "{v}"
    );
    assert!(
        s.iter()
            .any(|(k, d)| k == "hard_coded_path" && d.contains("/srv/data/in.txt")),
        "a path in a parameter: {v}"
    );
    assert!(
        s.iter()
            .any(|(k, d)| k == "hard_coded_path" && d.contains("/var/tmp/acme/out.json")),
        "a path in the script: {v}"
    );

    let v = check("generic").await;
    assert_eq!(v["signals"], json!([]), "{v}");
    assert_eq!(v["ready"], false, "no evaluations yet: {v}");
    assert_eq!(
        v["below_bar"],
        json!(["0 good evaluation(s) of the 5 the library tier needs"])
    );

    // Five good judgments and no signal: ready for the library; the text view says so.
    judged_runs(&p, "generic", 5, "good").await;
    let r = p
        .orc_async(&["promote", "generic", "--check", "--to", "library"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("generic -> library: ready"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("evaluations: 5 good, 0 acceptable, 0 poor; runs 5"),
        "{}",
        r.stdout
    );
    let v = check("words").await;
    assert_eq!(v["ready"], false, "signals keep it out of the library");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotion_on_the_command_line_moves_nothing_without_yes() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = project(&sim.url());
    p.write(
        ".llm-orc/scripts/split.py",
        "import json\nprint(json.dumps({'success': True, 'data': ['a', 'b']}))\n",
    );
    p.ensemble(
        "digest-part",
        "name: digest-part\ndescription: part\nagents:\n  - name: p\n    model_profile: micro\n    system_prompt: Extract the facts.\n",
    );
    p.ensemble(
        "digest",
        "name: digest\ndescription: Digest notes\nagents:\n  - name: split\n    script: scripts/split.py\n  - name: part\n    ensemble: digest-part\n    depends_on: [split]\n  - name: merge\n    model_profile: tiny\n    depends_on: [part]\n    system_prompt: Merge the facts.\n",
    );

    // deps: every dependency, where it is, and what each tier lacks.
    let r = p.orc_async(&["deps", "digest", "--format", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let d = json_of(&r);
    assert_eq!(d["ensembles"][0]["reference"], "digest-part");
    assert_eq!(
        d["ensembles"][0]["at"],
        json!({"global": "missing", "library": "missing"})
    );
    let profiles: Vec<&str> = d["profiles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["name"].as_str())
        .collect();
    assert_eq!(profiles, ["micro", "tiny"], "{d}");
    assert_eq!(d["scripts"][0]["found_in"], "project");
    assert_eq!(d["models"][0]["status"], "installed");
    let text = p.orc_async(&["deps", "digest"]).await;
    assert!(
        text.stdout.contains("digest-part") && text.stdout.contains("global: missing"),
        "{}",
        text.stdout
    );

    let global = p.global();
    let expected = [
        "ensembles/digest-part.yaml",
        "ensembles/digest.yaml",
        "profiles/micro.yaml",
        "profiles/tiny.yaml",
        "scripts/split.py",
    ];
    // Without --yes: the plan, exit 1, nothing written.
    let r = p.orc_async(&["promote", "digest", "--to", "global"]).await;
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("add --yes"), "{}", r.stderr);
    for f in expected {
        assert!(
            r.stdout.contains(&global.join(f).display().to_string()),
            "the plan names {f}: {}",
            r.stdout
        );
    }
    assert!(!global.exists(), "nothing was written");
    let r = p
        .orc_async(&[
            "promote",
            "digest",
            "--to",
            "global",
            "--dry-run",
            "--format",
            "json",
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json_of(&r);
    assert_eq!(v["status"], "dry_run");
    assert_eq!(v["would_write"].as_array().map(Vec::len), Some(5), "{v}");
    assert!(!global.exists());

    // Below the bar: refused even with --yes, until --force.
    let r = p
        .orc_async(&["promote", "digest", "--to", "global", "--yes"])
        .await;
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("below the bar for the global tier (3 or more good evaluations)"),
        "{}",
        r.stderr
    );
    assert!(!global.exists());

    judged_runs(&p, "digest", 2, "good").await;
    judged_runs(&p, "digest", 1, "poor").await;
    let r = p
        .orc_async(&["promote", "digest", "--to", "global", "--yes"])
        .await;
    assert_eq!(r.code, 1, "two good of three is still below: {}", r.stdout);
    judged_runs(&p, "digest", 1, "good").await;
    let r = p
        .orc_async(&["promote", "digest", "--to", "global", "--yes"])
        .await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("promoted `digest` to the global tier"));
    assert_eq!(tree(&global), expected);
    assert_eq!(
        std::fs::read(global.join("ensembles/digest.yaml")).expect("read"),
        std::fs::read(p.root().join(".llm-orc/ensembles/digest.yaml")).expect("read")
    );
    let tiny = std::fs::read_to_string(global.join("profiles/tiny.yaml")).expect("read");
    assert!(
        tiny.contains("name: tiny") && tiny.contains("qwen3:0.6b"),
        "{tiny}"
    );

    // Promoted means usable elsewhere: from a folder with no project, the global ensemble runs
    // with its script (found in the global tier's scripts/) and its nested part.
    let elsewhere = p.dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    let mut cmd = p.command(&["invoke", "digest", "notes", "--output-format", "json"]);
    cmd.current_dir(&elsewhere);
    let r = tokio::task::spawn_blocking(move || Run::from(cmd.output().expect("run")))
        .await
        .expect("join");
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let doc = json_of(&r);
    assert_eq!(doc["results"]["split"]["status"], "success", "{doc}");
    assert_eq!(doc["results"]["merge"]["status"], "success", "{doc}");

    // Again: it is there already.
    let r = p
        .orc_async(&["promote", "digest", "--to", "global", "--yes"])
        .await;
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("already exists at global tier"),
        "{}",
        r.stderr
    );

    // Forced below the bar into a library that is a plain folder: files, category README.
    let lib = p.dir.path().join("lib");
    std::fs::create_dir_all(&lib).expect("mkdir");
    let mut cmd = p.command(&[
        "promote",
        "digest-part",
        "--to",
        "library",
        "--yes",
        "--force",
        "--category",
        "extraction",
    ]);
    cmd.env("LLM_ORC_LIBRARY_PATH", &lib);
    let r = Run::from(cmd.output().expect("run"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("overridden (--force): 0 good evaluation(s) of the 5 the library tier needs"),
        "{}",
        r.stdout
    );
    assert_eq!(
        tree(&lib),
        [
            "ensembles/extraction/README.md",
            "ensembles/extraction/digest-part.yaml",
            "profiles/micro.yaml"
        ]
    );
    // The library gets no host of this machine (a LAN address, a URL with credentials).
    let micro = std::fs::read_to_string(lib.join("profiles/micro.yaml")).expect("r");
    assert!(!micro.contains("base_url"), "{micro}");
    assert!(micro.contains("qwen3:0.6b"), "{micro}");
    assert!(r.stdout.contains("base_url left out"), "{}", r.stdout);
    let readme = std::fs::read_to_string(lib.join("ensembles/extraction/README.md")).expect("r");
    assert!(readme.contains("- `digest-part`: part"), "{readme}");
    let mut cmd = p.command(&["library", "browse", "extraction"]);
    cmd.env("LLM_ORC_LIBRARY_PATH", &lib);
    let r = Run::from(cmd.output().expect("run"));
    assert!(
        r.stdout.contains("ensembles/extraction/digest-part.yaml"),
        "{}",
        r.stdout
    );

    // Demoting it from the library takes its line out of the category README too.
    let mut cmd = p.command(&["demote", "digest-part", "--from", "library"]);
    cmd.env("LLM_ORC_LIBRARY_PATH", &lib);
    let r = Run::from(cmd.output().expect("run"));
    assert_eq!(r.code, 1);
    let readme_path = lib.join("ensembles/extraction/README.md");
    assert!(
        r.stdout.contains(&format!(
            "would remove the ensemble's line from {}",
            readme_path.display()
        )),
        "{}",
        r.stdout
    );
    let mut cmd = p.command(&["demote", "digest-part", "--from", "library", "--yes"]);
    cmd.env("LLM_ORC_LIBRARY_PATH", &lib);
    let r = Run::from(cmd.output().expect("run"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let readme = std::fs::read_to_string(&readme_path).expect("r");
    assert!(!readme.contains("digest-part"), "{readme}");
    assert!(readme.starts_with("# extraction"), "{readme}");

    // Demote: a list without --yes, then the removal; the project's copy stays.
    let r = p.orc_async(&["demote", "digest", "--from", "global"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("would remove"), "{}", r.stdout);
    assert!(global.join("ensembles/digest.yaml").is_file());
    let r = p
        .orc_async(&["demote", "digest", "--from", "global", "--yes"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!global.join("ensembles/digest.yaml").exists());
    assert!(p.root().join(".llm-orc/ensembles/digest.yaml").is_file());
    let r = p
        .orc_async(&["promote", "digest", "--to", "elsewhere"])
        .await;
    assert_eq!(r.code, 2, "clap rejects an unknown tier: {}", r.stderr);
}

/// A shared ensemble whose `model_profile` is an absolute path or climbs out with `..`:
/// demoting it with orphaned profiles removes the ensemble and the tier's own orphaned
/// profile, never a file outside the tier's `profiles/`.
#[test]
fn demote_never_deletes_files_outside_the_tier() {
    let p = TestProject::new();
    let global = p.global();
    let victim = p.dir.path().join("victim");
    write_file(&victim.join("important.yaml"), "keep me\n");
    write_file(&global.join("secret.yaml"), "keep me too\n");
    write_file(&global.join("profiles/mine.yaml"), "model: qwen3:0.6b\n");
    write_file(
        &global.join("ensembles/evil.yaml"),
        &format!(
            "name: evil\nagents:\n  - name: a\n    model_profile: {}\n  - name: b\n    model_profile: ../secret\n  - name: c\n    model_profile: mine\n",
            victim.join("important").display()
        ),
    );
    let r = p.orc(&[
        "demote",
        "evil",
        "--from",
        "global",
        "--remove-orphaned-profiles",
    ]);
    assert!(!r.stdout.contains("important"), "{}", r.stdout);
    assert!(!r.stdout.contains("secret"), "{}", r.stdout);
    let r = p.orc(&[
        "demote",
        "evil",
        "--from",
        "global",
        "--remove-orphaned-profiles",
        "--yes",
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(victim.join("important.yaml").is_file(), "{}", r.stdout);
    assert!(global.join("secret.yaml").is_file(), "{}", r.stdout);
    assert!(!global.join("ensembles/evil.yaml").exists());
    assert!(!global.join("profiles/mine.yaml").exists(), "{}", r.stdout);
}

/// One run judged good 41 times is one good run: below the global bar of 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_promotion_bar_counts_distinct_runs() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = project(&sim.url());
    p.ensemble(
        "digest",
        "name: digest\ndescription: d\nagents:\n  - name: a\n    model_profile: micro\n    system_prompt: Summarise the text.\n",
    );
    judged_runs(&p, "digest", 1, "good").await;
    let evals = p.root().join(".llm-orc/evaluations/evaluations.jsonl");
    let line = std::fs::read_to_string(&evals).expect("evaluations");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&evals)
        .expect("open");
    for _ in 0..40 {
        std::io::Write::write_all(&mut f, line.as_bytes()).expect("write");
    }
    drop(f);
    let r = p
        .orc_async(&[
            "promote", "digest", "--check", "--to", "global", "--format", "json",
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json_of(&r);
    assert_eq!(v[0]["evaluations"]["good"], 1, "{v}");
    assert_eq!(v[0]["meets_bar"], false, "{v}");
}

// ------------------------------------------------------------------ the loop through MCP

use common::mcp::{ok, refused};

type Conn = RunningService<RoleClient, ()>;

async fn connect(p: &TestProject, lib: &Path) -> Conn {
    let mut cmd = common::mcp::serve_command(p);
    cmd.env("LLM_ORC_LIBRARY_PATH", lib);
    ().serve(TokioChildProcess::new(cmd).expect("spawn"))
        .await
        .expect("initialize")
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A library that is a git repository on `main`, with one commit and an uncommitted edit.
fn git_library(dir: &Path) -> PathBuf {
    let lib = dir.join("library");
    std::fs::create_dir_all(&lib).expect("mkdir");
    git(&lib, &["init", "-q", "-b", "main"]);
    git(&lib, &["config", "user.name", "Test Contributor"]);
    git(&lib, &["config", "user.email", "test@example.com"]);
    write_file(&lib.join("README.md"), "# A library\n");
    write_file(&lib.join("ensembles/research/README.md"), "# research\n");
    git(&lib, &["add", "-A"]);
    git(&lib, &["commit", "-q", "-m", "start"]);
    write_file(&lib.join("README.md"), "# A library\n\nwork in progress\n");
    lib
}

/// A contribution is built from the library's default branch: an uncommitted edit of the category README
/// stays out of the commit, an untracked copy of the ensemble does not keep it out, and the CLI
/// says "committed" with paste-able next steps run in the library.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contribution_is_built_from_head_not_the_working_tree() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = project(&sim.url());
    let text = "name: digest\ndescription: Digest notes\nagents:\n  - name: a\n    model_profile: micro\n    system_prompt: Summarise the text.\n";
    p.ensemble("digest", text);
    let lib = git_library(&p.dir.path().join("shared lib"));
    // The user is on a feature branch of the library with a commit of their own: the
    // contribution starts from main, without it.
    git(&lib, &["checkout", "-q", "-b", "feature"]);
    write_file(&lib.join("mine.txt"), "private work\n");
    git(&lib, &["add", "mine.txt"]);
    git(&lib, &["commit", "-q", "-m", "mine"]);
    write_file(
        &lib.join("ensembles/research/README.md"),
        "# research\n- WIP: not ready\n",
    );
    write_file(&lib.join("ensembles/research/digest.yaml"), text);
    let mut cmd = p.command(&[
        "promote",
        "digest",
        "--to",
        "library",
        "--category",
        "research",
        "--yes",
        "--force",
    ]);
    cmd.env("LLM_ORC_LIBRARY_PATH", &lib);
    let r = tokio::task::spawn_blocking(move || Run::from(cmd.output().expect("run")))
        .await
        .expect("join");
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let readme = git(
        &lib,
        &["show", "contribute/digest:ensembles/research/README.md"],
    );
    assert!(!readme.contains("WIP"), "{readme}");
    assert_eq!(
        git(&lib, &["rev-parse", "contribute/digest^"]),
        git(&lib, &["rev-parse", "main"]),
        "the contribution's parent is main, not the checked-out feature branch"
    );
    assert_eq!(git(&lib, &["symbolic-ref", "--short", "HEAD"]), "feature");
    assert!(readme.contains("- `digest`: Digest notes"), "{readme}");
    assert_eq!(
        git(
            &lib,
            &["show", "contribute/digest:ensembles/research/digest.yaml"]
        ),
        text.trim_end()
    );
    assert!(
        r.stdout
            .contains("committed    ensemble ensembles/research/digest.yaml"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("wrote"), "{}", r.stdout);
    let quoted = format!("'{}'", lib.display());
    assert!(
        r.stdout.contains(&format!(
            "next: cd {quoted} && gh pr create --head contribute/digest --title 'Add ensemble digest' --body-file "
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "next: git -C {quoted} push -u origin contribute/digest"
        )),
        "{}",
        r.stdout
    );
    // The working tree is as the user left it.
    assert!(
        std::fs::read_to_string(lib.join("ensembles/research/README.md"))
            .expect("readme")
            .contains("WIP")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_skills_loop_through_mcp_ends_in_a_contribution_branch() {
    let sim = Simulator::start(SimConfig::default(), 0)
        .await
        .expect("sim");
    let p = project(&sim.url());
    let lib = git_library(p.dir.path());
    let c = connect(&p, &lib).await;

    // 1. route: nothing fits yet, so a new ensemble of the suggested shape. The notes are
    // passed by path: long enough that handing them over pays.
    let task = "Summarize these release notes";
    p.write(
        "release-notes.md",
        &"Version 2 adds streaming, fixes the cache and speeds up start-up. ".repeat(400),
    );
    let r = ok(
        &c,
        "route_task",
        json!({"task": task, "input_files": ["release-notes.md"]}),
    )
    .await;
    assert_eq!(r["task_type"], "summarization", "{r}");
    assert_eq!(r["route"], "new-ensemble", "{r}");
    // 2. build it in tiers: micro extractors -> one small synthesiser.
    let created = ok(
        &c,
        "create_ensemble",
        json!({"name": "notes-digest", "description": "Summarise a document in three sentences", "agents": [
            {"name": "facts", "model_profile": "micro", "system_prompt": "List the key facts, one per line."},
            {"name": "changes", "model_profile": "micro", "system_prompt": "List what changed, one per line."},
            {"name": "summary", "model_profile": "small", "depends_on": ["facts", "changes"], "system_prompt": "Write a three-sentence summary."}
        ]}),
    )
    .await;
    assert_eq!(created["valid"], true, "{created}");
    // 3-5. invoke, should_evaluate, judge, record: five good runs.
    for i in 0..5 {
        let run = ok(
            &c,
            "invoke",
            json!({"ensemble_name": "notes-digest", "input_data": format!("Release {i}: faster start-up."), "task_type": "summarization", "task_summary": "release notes"}),
        )
        .await;
        assert_eq!(run["status"], "success", "{run}");
        let id = run["routing_id"].as_str().expect("routing_id").to_string();
        let d = ok(&c, "should_evaluate", json!({"routing_id": id})).await;
        assert_eq!(d["evaluate"], true, "the first five uses are judged: {d}");
        assert!(d["rubric"].as_str().is_some_and(|r| r.contains("VERDICT")));
        ok(
            &c,
            "record_evaluation",
            json!({"routing_id": id, "score": "good", "judge": "claude-sonnet-4", "reasoning": "All facts present; three sentences.", "judge_tokens_used": 200}),
        )
        .await;
    }
    let rep = ok(&c, "learning_report", json!({})).await;
    assert_eq!(rep["totals"]["runs"], 5, "{rep}");

    // 8. readiness with its evidence, then consent.
    let ready = ok(
        &c,
        "check_promotion_readiness",
        json!({"ensemble_name": "notes-digest", "destination": "global"}),
    )
    .await;
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["evaluations"]["good"], 5);
    assert_eq!(ready["signals"], json!([]));
    let e = refused(
        &c,
        "promote_ensemble",
        json!({"ensemble_name": "notes-digest", "destination": "global", "dry_run": false}),
    )
    .await;
    assert!(e.contains("Confirmation required"), "{e}");
    let preview = ok(
        &c,
        "promote_ensemble",
        json!({"ensemble_name": "notes-digest", "destination": "global"}),
    )
    .await;
    assert_eq!(preview["status"], "dry_run");
    assert!(!p.global().exists(), "nothing moves without confirm");
    let done = ok(
        &c,
        "promote_ensemble",
        json!({"ensemble_name": "notes-digest", "destination": "global", "confirm": true}),
    )
    .await;
    assert_eq!(done["status"], "promoted", "{done}");
    assert!(p.global().join("ensembles/notes-digest.yaml").is_file());

    // The library is a git repository: a branch with a commit, the user's branch untouched.
    let ready = ok(
        &c,
        "check_promotion_readiness",
        json!({"ensemble_name": "notes-digest", "destination": "library"}),
    )
    .await;
    assert_eq!(ready["ready"], true, "{ready}");
    let status_before = git(&lib, &["status", "--porcelain"]);
    let head_before = git(&lib, &["rev-parse", "HEAD"]);
    let contrib = ok(
        &c,
        "promote_ensemble",
        json!({"ensemble_name": "notes-digest", "destination": "library", "confirm": true, "category": "research"}),
    )
    .await;
    assert_eq!(contrib["status"], "contributed", "{contrib}");
    assert_eq!(contrib["branch"], "contribute/notes-digest");
    assert_eq!(git(&lib, &["symbolic-ref", "--short", "HEAD"]), "main");
    assert_eq!(git(&lib, &["rev-parse", "HEAD"]), head_before);
    assert_eq!(git(&lib, &["status", "--porcelain"]), status_before);
    assert!(!lib.join("ensembles/research/notes-digest.yaml").exists());
    let files = git(
        &lib,
        &["diff", "--name-only", "main", "contribute/notes-digest"],
    );
    assert_eq!(
        files.lines().collect::<Vec<_>>(),
        [
            "ensembles/research/README.md",
            "ensembles/research/notes-digest.yaml",
            "profiles/micro.yaml",
            "profiles/small.yaml"
        ]
    );
    assert_eq!(
        git(
            &lib,
            &[
                "show",
                "contribute/notes-digest:ensembles/research/notes-digest.yaml"
            ]
        ),
        std::fs::read_to_string(p.root().join(".llm-orc/ensembles/notes-digest.yaml"))
            .expect("read")
            .trim()
    );
    assert_eq!(
        git(
            &lib,
            &["log", "-1", "--format=%an %s", "contribute/notes-digest"]
        ),
        "Test Contributor Add ensemble notes-digest"
    );
    let pr = std::fs::read_to_string(contrib["pr_description"].as_str().expect("pr path"))
        .expect("pr description");
    assert!(
        pr.contains("Summarise a document in three sentences"),
        "{pr}"
    );
    assert!(pr.contains("5 good, 0 acceptable, 0 poor"), "{pr}");
    assert!(
        pr.contains("`qwen3:0.6b`") && pr.contains("`gemma3:4b`"),
        "{pr}"
    );
    assert!(
        contrib["next_steps"][0]
            .as_str()
            .is_some_and(|s| s.ends_with("push -u origin contribute/notes-digest"))
    );
    // Once more: the branch exists.
    let e = refused(
        &c,
        "promote_ensemble",
        json!({"ensemble_name": "notes-digest", "destination": "library", "confirm": true, "category": "research"}),
    )
    .await;
    assert!(e.contains("already exists"), "{e}");
    c.cancel().await.expect("close");
}

// ------------------------------------------------------------------ the skill

fn skill_files() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugin/skills/orc");
    tree(&root)
        .into_iter()
        .map(|rel| {
            let text = std::fs::read_to_string(root.join(&rel)).expect("read");
            (rel, text)
        })
        .collect()
}

#[test]
fn skill_md_has_valid_frontmatter_and_fits() {
    let files = skill_files();
    let (_, text) = files
        .iter()
        .find(|(r, _)| r == "SKILL.md")
        .expect("SKILL.md");
    let rest = text.strip_prefix("---\n").expect("frontmatter");
    let end = rest.find("\n---\n").expect("closing ---");
    let front = &rest[..end];
    let field = |k: &str| {
        front
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}: ")))
            .unwrap_or_else(|| panic!("no {k}"))
    };
    assert_eq!(field("name"), "orc", "the name matches the folder");
    let description = field("description");
    assert!(
        (1..=1024).contains(&description.chars().count()),
        "{} characters",
        description.chars().count()
    );
    assert!(description.contains("Use when"), "says when to use it");
    assert!(rest[end..].lines().count() < 500, "body under 500 lines");
    // Every reference the body points to exists, one level deep.
    for link in text.split("](references/").skip(1) {
        let name = link.split(')').next().unwrap_or("");
        assert!(
            files
                .iter()
                .any(|(r, _)| *r == format!("references/{name}")),
            "missing references/{name}"
        );
    }
    assert_eq!(
        orc::service::claude::check_skill(text, "orc"),
        Vec::<String>::new()
    );
}

/// `tool(param: ..., param: ...)` calls written in the skill.
fn tool_calls(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices('(') {
        let start = text[..i]
            .rfind(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .map_or(0, |j| j + 1);
        let full = &text[start..i];
        if full.is_empty() || (start > 0 && bytes[start - 1] == b'[') {
            continue;
        }
        // The skill writes full names (`mcp__orc__route_task`); the server's are bare.
        let name = full.strip_prefix("mcp__orc__").unwrap_or(full);
        let mut depth = 0usize;
        let mut params = Vec::new();
        let mut arg_start = i + 1;
        let mut end = text.len();
        for (k, ch) in text[i..].char_indices() {
            match ch {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + k;
                        break;
                    }
                }
                ',' if depth == 1 => {
                    params.push(text[arg_start..i + k].to_string());
                    arg_start = i + k + 1;
                }
                _ => {}
            }
        }
        params.push(text[arg_start..end].to_string());
        let names = params
            .iter()
            .filter_map(|a| a.split_once(':').map(|(k, _)| k.trim().to_string()))
            .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect();
        out.push((name.to_string(), names));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_and_parameter_the_skill_names_exists() {
    let p = TestProject::new();
    let lib = p.dir.path().join("lib");
    let c = connect(&p, &lib).await;
    let tools = c.list_all_tools().await.expect("tools");
    let schema = |name: &str| -> Option<Vec<String>> {
        tools.iter().find(|t| t.name == name).map(|t| {
            t.input_schema
                .get("properties")
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        })
    };
    let mut named = std::collections::BTreeSet::new();
    for (file, text) in skill_files() {
        for (tool, params) in tool_calls(&text) {
            // Prose like `summary(` is not a call; a snake_case name must be a tool.
            if !tool.contains('_') && schema(&tool).is_none() {
                continue;
            }
            let props = schema(&tool)
                .unwrap_or_else(|| panic!("{file} names `{tool}(...)`, which is not a tool"));
            for param in params {
                assert!(
                    props.contains(&param),
                    "{file}: `{tool}` has no parameter `{param}` (it has {props:?})"
                );
            }
            named.insert(tool);
        }
        // The tools table names tools in its first column.
        for line in text.lines().filter(|l| l.starts_with("| `")) {
            for t in line
                .split('|')
                .nth(1)
                .unwrap_or("")
                .split('/')
                .map(|t| t.trim().trim_matches('`'))
                .map(|t| t.strip_prefix("mcp__orc__").unwrap_or(t))
            {
                assert!(schema(t).is_some(), "{file}: `{t}` is not a tool");
            }
        }
    }
    for step in [
        "route_task",
        "create_ensemble",
        "invoke",
        "should_evaluate",
        "record_evaluation",
        "record_feedback",
        "learn_routing",
        "check_promotion_readiness",
        "promote_ensemble",
    ] {
        assert!(named.contains(step), "the skill's workflow uses {step}");
    }
    // get_help agrees: every tool it lists exists, and its workflows include the skill's loop.
    let help = ok(&c, "get_help", json!({})).await;
    for key in help["tools"].as_object().expect("tools").keys() {
        for t in key.split('/').map(str::trim) {
            assert!(schema(t).is_some(), "get_help lists `{t}`, not a tool");
        }
    }
    let workflows = help["workflows"].to_string();
    for t in [
        "route_task",
        "should_evaluate",
        "record_evaluation",
        "learn_routing",
        "check_promotion_readiness",
        "promote_ensemble",
    ] {
        assert!(workflows.contains(t), "get_help's workflows mention {t}");
    }
    c.cancel().await.expect("close");
}

#[test]
fn skill_and_mcp_install_into_a_throwaway_home_and_project() {
    let p = TestProject::new();
    // The skill, into the project, then the user's HOME.
    let r = p.orc(&["skill", "install"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dir = p.root().join(".claude/skills/orc");
    for (rel, text) in skill_files() {
        assert_eq!(
            std::fs::read_to_string(dir.join(&rel)).expect("installed"),
            text,
            "{rel} is the shipped file"
        );
    }
    let r = p.orc(&["skill", "install", "--project"]);
    assert!(r.stdout.contains("unchanged"), "{}", r.stdout);
    write_file(&dir.join("SKILL.md"), "my own edits\n");
    let r = p.orc(&["skill", "install"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.join("SKILL.md")).expect("r"),
        "my own edits\n",
        "nothing lost without --force"
    );
    assert_eq!(p.orc(&["skill", "install", "--force"]).code, 0);
    assert!(
        std::fs::read_to_string(dir.join("SKILL.md"))
            .expect("r")
            .starts_with("---\nname: orc\n")
    );
    // The user's HOME as well would list the skill twice: refused, naming the project's copy.
    let r = p.orc(&["skill", "install", "--user"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr.contains("project-scope skill") && r.stderr.contains(".claude/skills/orc"),
        "{}",
        r.stderr
    );
    assert!(!p.home().join(".claude/skills/orc").exists());
    let r = p.orc(&["skill", "install", "--user", "--force"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(p.home().join(".claude/skills/orc/SKILL.md").is_file());

    // .mcp.json: merged with a server already there and other keys, never clobbering them.
    let mcp = p.root().join(".mcp.json");
    let other = json!({"type": "stdio", "command": "other-server", "args": ["--x"]});
    write_file(
        &mcp,
        &serde_json::to_string_pretty(&json!({"mcpServers": {"other": other}, "note": 1}))
            .expect("json"),
    );
    let r = orc_on_path(&p, &p.root(), &["mcp", "install", "--command", "orc"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("claude mcp add --transport stdio --scope project orc -- orc mcp serve"),
        "{}",
        r.stdout
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&mcp).expect("r")).expect("json");
    assert_eq!(v["mcpServers"]["other"], other);
    assert_eq!(v["note"], 1);
    assert_eq!(
        v["mcpServers"]["orc"],
        json!({"type": "stdio", "command": "orc", "args": ["mcp", "serve"], "env": {}})
    );
    let r = orc_on_path(&p, &p.root(), &["mcp", "install", "--command", "orc"]);
    assert!(r.stdout.contains("already registered"), "{}", r.stdout);
    let r = orc_on_path(
        &p,
        &p.root(),
        &["mcp", "install", "--command", "/opt/orc", "--no-verify"],
    );
    assert_eq!(r.code, 1, "a different orc entry is not replaced silently");
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    let r = orc_on_path(
        &p,
        &p.root(),
        &[
            "mcp",
            "install",
            "--command",
            "/opt/orc",
            "--force",
            "--no-verify",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&mcp).expect("r")).expect("json");
    assert_eq!(v["mcpServers"]["orc"]["command"], "/opt/orc");
    assert_eq!(v["mcpServers"]["other"], other);
    // A broken file is reported and left as it was.
    write_file(&mcp, "{ not json");
    let r = orc_on_path(&p, &p.root(), &["mcp", "install"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is not valid JSON"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&mcp).expect("r"), "{ not json");

    // The user's ~/.claude.json keeps everything else Claude Code stores there.
    let user = p.home().join(".claude.json");
    write_file(&user, r#"{"numStartups": 3, "projects": {"/x": {}}}"#);
    let r = orc_on_path(
        &p,
        &p.root(),
        &["mcp", "install", "--user", "--command", "orc"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("--scope user"), "{}", r.stdout);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&user).expect("r")).expect("json");
    assert_eq!(v["numStartups"], 3);
    assert_eq!(v["projects"], json!({"/x": {}}));
    assert_eq!(v["mcpServers"]["orc"]["args"], json!(["mcp", "serve"]));
}

#[cfg(unix)]
#[test]
fn mcp_install_user_writes_through_a_symlinked_claude_json_and_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let p = TestProject::new();
    let real = p.home().join("dotfiles/claude.json");
    write_file(&real, r#"{"numStartups": 3, "oauthAccount": {"id": "x"}}"#);
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let link = p.home().join(".claude.json");
    std::os::unix::fs::symlink("dotfiles/claude.json", &link).expect("symlink");

    let r = orc_on_path(
        &p,
        &p.root(),
        &["mcp", "install", "--user", "--command", "orc"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("meta")
            .file_type()
            .is_symlink(),
        "the link is kept"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&real).expect("r")).expect("json");
    assert_eq!(v["numStartups"], 3);
    assert_eq!(v["mcpServers"]["orc"]["args"], json!(["mcp", "serve"]));
    let mode = std::fs::metadata(&real).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "permissions never widened: {mode:o}");
    let leftovers: Vec<_> = std::fs::read_dir(p.home().join("dotfiles"))
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}

/// The skill's loop feeds what the learning loop needs (review #9): every logged Claude answer
/// carries its `output` (export sft/dpo), Claude-direct work goes on to be judged (PGR's strong
/// side), and a `judge` other than claude is handed to `judge_locally`.
#[test]
fn the_skills_steps_keep_claudes_output_judge_its_work_and_use_a_trusted_local_judge() {
    let files = skill_files();
    let skill = &files
        .iter()
        .find(|(r, _)| r == "SKILL.md")
        .expect("SKILL.md")
        .1;
    for (file, text) in &files {
        for (tool, params) in tool_calls(text) {
            if tool == "record_claude_task" {
                assert!(
                    params.iter().any(|p| p == "output"),
                    "{file}: record_claude_task without output: {params:?}"
                );
            }
        }
    }
    let section = |head: &str| -> String {
        let start = skill.find(head).unwrap_or_else(|| panic!("no {head}"));
        let rest = &skill[start + head.len()..];
        rest[..rest.find("\n### ").unwrap_or(rest.len())].to_string()
    };
    let route = section("### 1. Route the task");
    assert!(
        !route.contains("Skip the rest of the loop"),
        "Claude's work is judged too"
    );
    assert!(route.contains("step 4"), "{route}");
    let should = section("### 4. Should this run be judged?");
    assert!(
        should.contains("`judge`") && should.contains("judge_locally("),
        "{should}"
    );
    let judge = section("### 5. Judge with the rubric, then record");
    assert!(
        judge.matches("record_evaluation(").count() >= 2,
        "the redo is judged too: {judge}"
    );
}

#[test]
fn skill_and_mcp_install_with_project_from_a_sub_folder_go_to_the_project_root() {
    let p = TestProject::new();
    let sub = p.root().join("src/deep");
    std::fs::create_dir_all(&sub).expect("mkdir");
    for args in [
        &["skill", "install", "--project"][..],
        &["mcp", "install", "--project", "--command", "orc"][..],
        &["skill", "install"][..],
        &["mcp", "install", "--command", "orc"][..],
    ] {
        let r = orc_on_path(&p, &sub, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    assert!(p.root().join(".claude/skills/orc/SKILL.md").is_file());
    assert!(p.root().join(".mcp.json").is_file());
    assert!(!sub.join(".claude").exists(), "nothing in the sub-folder");
    assert!(!sub.join(".mcp.json").exists(), "nothing in the sub-folder");
    // An explicit --project DIR is used as given.
    let other = p.dir.path().join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    let r = p.orc_in(
        &sub,
        &[
            "skill",
            "install",
            "--project",
            other.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(other.join(".claude/skills/orc/SKILL.md").is_file());
}
