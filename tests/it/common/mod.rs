//! Test helpers: throwaway projects with an isolated HOME, and running the real `orc` binary.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod builder;
pub use builder::{Test, redact_runs, unindent};

pub struct TestProject {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts stderr has a line starting with `prefix` (a `file:line:col: level: message`).
    #[track_caller]
    pub fn assert_diag(&self, prefix: &str) {
        assert!(
            self.stderr.lines().any(|l| l.starts_with(prefix)),
            "expected a diagnostic starting with\n  {prefix}\nstderr was:\n{}",
            self.stderr
        );
    }

    #[track_caller]
    pub fn assert_hint(&self, fragment: &str) {
        assert!(
            self.stderr
                .lines()
                .any(|l| l.trim_start().starts_with("hint:") && l.contains(fragment)),
            "expected a hint containing `{fragment}`; stderr was:\n{}",
            self.stderr
        );
    }
}

impl TestProject {
    /// An empty directory with `.llm-orc/` and an empty HOME beside it.
    pub fn new() -> TestProject {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join("proj/.llm-orc/ensembles")).expect("mkdir");
        fs::create_dir_all(dir.path().join("home")).expect("mkdir");
        TestProject { dir }
    }

    /// The project root (holding `.llm-orc/`).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("proj")
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The global tree, `$HOME/.config/llm-orc`.
    pub fn global(&self) -> PathBuf {
        self.home().join(".config/llm-orc")
    }

    /// Writes a file relative to the project root, creating folders; text that starts with a
    /// line break is unindented first ([`unindent`]).
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        write_file(&self.root().join(rel), &unindent(text))
    }

    /// Writes an ensemble into `.llm-orc/ensembles/<name>.yaml` (unindented as `write`).
    pub fn ensemble(&self, name: &str, text: &str) -> PathBuf {
        self.write(&format!(".llm-orc/ensembles/{name}.yaml"), text)
    }

    /// Writes the standard two profiles (`tiny`, `small`) into `.llm-orc/config.yaml`.
    pub fn with_profiles(&self) -> &Self {
        self.write(".llm-orc/config.yaml", PEER_CONFIG);
        self
    }

    /// Runs `orc` in the project root.
    pub fn orc(&self, args: &[&str]) -> Run {
        self.orc_in(&self.root(), args)
    }

    /// Runs `orc` in `cwd` with this project's HOME.
    pub fn orc_in(&self, cwd: &Path, args: &[&str]) -> Run {
        self.orc_env(cwd, args, &[])
    }

    pub fn orc_env(&self, cwd: &Path, args: &[&str], env: &[(&str, &Path)]) -> Run {
        let mut cmd = self.command(args);
        cmd.current_dir(cwd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::from(cmd.output().expect("run orc"))
    }

    /// `orc ARGS` in the project root with this project's HOME and none of the tier,
    /// OLLAMA_HOST or RUST_LOG variables of the calling environment; stdin empty. The packaged
    /// tier (orc's shipped ensembles and profiles) is off, so that a test sees only its own
    /// files; `with_packaged_tier` turns it back on.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_orc"));
        cmd.args(args)
            .current_dir(self.root())
            .env("HOME", self.home())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("LLM_ORC_LIBRARY_PATH")
            .env_remove("OLLAMA_HOST")
            .env_remove("OLLAMA_HOSTS")
            .env_remove("LLAMA_SERVER_URL")
            .env_remove("XDG_DATA_HOME")
            .env(PACKAGED_DIR, "")
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null());
        cmd
    }

    /// Runs `orc` on a blocking thread, so an in-process simulator keeps serving meanwhile.
    pub async fn orc_async(&self, args: &[&str]) -> Run {
        let mut cmd = self.command(args);
        tokio::task::spawn_blocking(move || Run::from(cmd.output().expect("run orc")))
            .await
            .expect("join")
    }
}

/// The variable that points orc's packaged tier elsewhere (empty: no packaged tier).
pub const PACKAGED_DIR: &str = "ORC_PACKAGED_DIR";

/// `cmd` with orc's own packaged tier, unpacked into the command's HOME.
pub fn with_packaged_tier(cmd: &mut Command) -> &mut Command {
    cmd.env_remove(PACKAGED_DIR)
}

pub fn write_file(path: &Path, text: &str) -> PathBuf {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).expect("mkdir");
    }
    fs::write(path, text).expect("write");
    path.to_path_buf()
}

/// Two profiles on the native Ollama provider, as in an llm-orc 0.19 project.
pub const PEER_CONFIG: &str = "project:
  name: peer-shapes
model_profiles:
  tiny:
    model: qwen3:0.6b
    provider: ollama
    system_prompt: You are terse.
    timeout_seconds: 300
  small:
    model: gemma3:1b
    provider: ollama
    system_prompt: You are thorough.
    timeout_seconds: 300
";

fn llm(s: &mut String, name: &str, profile: &str, deps: &[String]) {
    let _ = writeln!(s, "  - name: {name}\n    model_profile: {profile}");
    let _ = writeln!(s, "    system_prompt: \"[{name}] Do your part.\"");
    if !deps.is_empty() {
        let _ = writeln!(s, "    depends_on: [{}]", deps.join(", "));
    }
}

fn header(name: &str, what: &str) -> String {
    format!("name: {name}\ndescription: \"{what}\"\n\nagents:\n")
}

/// A swarm of `micro` extractors -> `micro / 8` analysers (each over eight) -> 1 synthesiser.
pub fn swarm_yaml(name: &str, micro: usize) -> String {
    let mut s = header(name, "swarm");
    let groups = micro.div_ceil(8).max(1);
    for i in 0..micro {
        llm(&mut s, &format!("extractor-{i:02}"), "tiny", &[]);
    }
    for g in 0..groups {
        let deps: Vec<String> = (g * 8..((g + 1) * 8).min(micro))
            .map(|i| format!("extractor-{i:02}"))
            .collect();
        llm(&mut s, &format!("analyser-{g}"), "small", &deps);
    }
    let deps: Vec<String> = (0..groups).map(|g| format!("analyser-{g}")).collect();
    llm(&mut s, "synthesizer", "small", &deps);
    s
}

/// The seven shapes llm-orc's benchmark project uses, written here from their descriptions:
/// sequential (3), fan-in (8 -> 1), swarm (32 -> 4 -> 1), fan-out from an LLM's JSON array,
/// fan-out from a script, nested ensembles, and a 128-wide fan-in.
pub fn peer_project() -> TestProject {
    let p = TestProject::new();
    p.with_profiles();
    let mut seq = header("peer-sequential", "Sequential chain of 3");
    llm(&mut seq, "drafter", "tiny", &[]);
    llm(&mut seq, "critic", "small", &["drafter".into()]);
    llm(&mut seq, "finalizer", "tiny", &["critic".into()]);
    p.ensemble("peer-sequential", &seq);

    let mut fanin = header("peer-fanin", "Fan-in 8 -> 1");
    for i in 0..8 {
        llm(&mut fanin, &format!("analyst-{i}"), "tiny", &[]);
    }
    llm(
        &mut fanin,
        "synthesizer",
        "small",
        &(0..8).map(|i| format!("analyst-{i}")).collect::<Vec<_>>(),
    );
    p.ensemble("peer-fanin", &fanin);

    p.ensemble("peer-swarm", &swarm_yaml("peer-swarm", 32));

    let mut fo = header("peer-fanout-llm", "Fan-out from an LLM array");
    llm(&mut fo, "planner", "tiny", &[]);
    llm(&mut fo, "worker", "tiny", &["planner".into()]);
    fo.push_str("    fan_out: true\n");
    llm(&mut fo, "reducer", "small", &["worker".into()]);
    p.ensemble("peer-fanout-llm", &fo);

    let mut fs_ = header("peer-fanout-script", "Fan-out from a script");
    fs_.push_str("  - name: chunker\n    script: scripts/chunk.py\n");
    llm(&mut fs_, "worker", "tiny", &["chunker".into()]);
    fs_.push_str("    fan_out: true\n");
    llm(&mut fs_, "reducer", "small", &["worker".into()]);
    p.ensemble("peer-fanout-script", &fs_);
    p.write(
        ".llm-orc/scripts/chunk.py",
        "import json\nprint(json.dumps({'success': True, 'data': ['a', 'b']}))\n",
    );

    let mut nested = header("peer-nested", "Nested");
    llm(&mut nested, "framer", "tiny", &[]);
    nested
        .push_str("  - name: child-seq\n    ensemble: peer-sequential\n    depends_on: [framer]\n");
    nested.push_str("  - name: child-fanin\n    ensemble: peer-fanin\n    depends_on: [framer]\n");
    llm(
        &mut nested,
        "judge",
        "small",
        &["child-seq".into(), "child-fanin".into()],
    );
    p.ensemble("peer-nested", &nested);

    let mut wide = header("peer-wide128", "Wide fan-in 128 -> 1");
    for i in 0..128 {
        llm(&mut wide, &format!("w{i:03}"), "tiny", &[]);
    }
    llm(
        &mut wide,
        "synthesizer",
        "small",
        &(0..128).map(|i| format!("w{i:03}")).collect::<Vec<_>>(),
    );
    p.ensemble("peer-wide128", &wide);
    p
}

/// A config whose two profiles (`tiny`, `small`) reach `url` natively (`provider: ollama`).
pub fn native_config(url: &str) -> String {
    format!(
        "model_profiles:
  tiny:
    model: qwen3:0.6b
    provider: ollama
    base_url: {url}
    system_prompt: You are terse.
  small:
    model: gemma3:1b
    provider: ollama
    base_url: {url}
    system_prompt: You are thorough.
"
    )
}

/// The newest artifact of `ensemble` in the project, parsed.
pub fn latest_artifact(p: &TestProject, ensemble: &str) -> serde_json::Value {
    let path = p.root().join(format!(
        ".llm-orc/artifacts/{ensemble}/latest/execution.json"
    ));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("artifact json")
}

/// A folder holding only `orc` (a link to the binary under test), and a PATH of it and the
/// system folders: `orc` resolves as it does once installed.
pub fn orc_bin_dir(p: &TestProject) -> PathBuf {
    let bin = p.dir.path().join("bin");
    if !bin.join("orc").exists() {
        fs::create_dir_all(&bin).expect("mkdir");
        #[cfg(unix)]
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_orc"), bin.join("orc")).expect("link");
    }
    bin
}

pub fn path_with_orc(p: &TestProject) -> std::ffi::OsString {
    std::env::join_paths([orc_bin_dir(p), "/usr/bin".into(), "/bin".into()]).expect("PATH")
}

/// `orc ARGS` in `cwd` with `orc` on PATH (as [`path_with_orc`]).
pub fn orc_on_path(p: &TestProject, cwd: &Path, args: &[&str]) -> Run {
    let mut cmd = p.command(args);
    cmd.current_dir(cwd).env("PATH", path_with_orc(p));
    Run::from(cmd.output().expect("run orc"))
}

/// A test whose prerequisite is missing: skipped with one line on a developer's machine, but a
/// failure when `CI` is set, so CI can never pass without running it.
pub fn missing_prerequisite(what: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but {what}: this test must run in CI"
    );
    eprintln!("skipped: {what}");
}

/// A real MCP client's side of `orc mcp serve`, shared by the MCP, learning and promotion tests.
pub mod mcp {
    use rmcp::model::{CallToolRequestParams, CallToolResult};
    use rmcp::{Peer, RoleClient};
    use serde_json::Value;

    use super::TestProject;

    /// `orc mcp serve --all-tools` (the whole surface these tests exercise) in the project,
    /// with the project's HOME and nothing taken from this machine's environment (config home,
    /// library, Ollama hosts).
    pub fn serve_command(p: &TestProject) -> tokio::process::Command {
        serve_with(p, &["--all-tools"])
    }

    /// `orc mcp serve EXTRA...`, as `serve_command` (no `--all-tools`: the core set).
    pub fn serve_with(p: &TestProject, extra: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_orc"));
        cmd.args(["mcp", "serve"])
            .args(extra)
            .current_dir(p.root())
            .env("HOME", p.home())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("LLM_ORC_LIBRARY_PATH")
            .env_remove("OLLAMA_HOST")
            .env_remove("OLLAMA_HOSTS")
            .env(super::PACKAGED_DIR, "");
        cmd
    }

    pub async fn call(c: &Peer<RoleClient>, tool: &str, args: Value) -> CallToolResult {
        let mut params = CallToolRequestParams::new(tool.to_string());
        if let Value::Object(m) = args {
            params = params.with_arguments(m);
        }
        c.call_tool(params)
            .await
            .unwrap_or_else(|e| panic!("{tool}: {e}"))
    }

    /// The structured result of a successful call.
    pub async fn ok(c: &Peer<RoleClient>, tool: &str, args: Value) -> Value {
        let r = call(c, tool, args).await;
        assert_ne!(r.is_error, Some(true), "{tool} failed: {:?}", r.content);
        r.structured_content.unwrap_or(Value::Null)
    }

    /// The structured result of a call that ran but whose run ended in error (`isError`).
    pub async fn failed_run(c: &Peer<RoleClient>, tool: &str, args: Value) -> Value {
        let r = call(c, tool, args).await;
        assert_eq!(r.is_error, Some(true), "{tool}: {:?}", r.structured_content);
        let v = r.structured_content.unwrap_or(Value::Null);
        assert_eq!(v["status"], "error", "{v}");
        v
    }

    /// The error text of a refused call.
    pub async fn refused(c: &Peer<RoleClient>, tool: &str, args: Value) -> String {
        let r = call(c, tool, args).await;
        assert_eq!(
            r.is_error,
            Some(true),
            "{tool} should have failed: {:?}",
            r.structured_content
        );
        serde_json::to_string(&r.content).unwrap_or_default()
    }
}
