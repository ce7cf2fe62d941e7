//! Script agents run by the real `orc` binary: the interpreter, pipes, the output cap, process
//! groups, long inputs, inline scripts, and the contract the README documents.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Run, TestProject, latest_artifact};
use serde_json::{Value, json};

/// Longest a run in this file may take before the test calls it a hang (a deadlock guard, far
/// above what any of these runs needs; nothing is asserted about time).
const HANG: Duration = Duration::from_secs(180);

/// `orc ARGS` in the project, without any ORC_PYTHON of the calling environment.
fn orc_cmd(p: &TestProject, args: &[&str]) -> Command {
    let mut cmd = p.command(args);
    cmd.env_remove("ORC_PYTHON");
    cmd
}

/// Runs `cmd` to the end; a run that outlives `HANG` is killed and fails the test.
fn run_bounded(mut cmd: Command) -> Run {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn orc");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(HANG) {
        Ok(out) => Run::from(out.expect("wait for orc")),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("orc did not finish: it hangs");
        }
    }
}

fn invoke(p: &TestProject, args: &[&str]) -> Run {
    run_bounded(orc_cmd(p, args))
}

fn executable(p: &TestProject, rel: &str, text: &str) -> PathBuf {
    let path = p.write(rel, text);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    path
}

/// A script's JSON object answer, parsed back from the response string.
fn answer(art: &Value, agent: &str) -> Value {
    let r = &art["results"][agent];
    assert_eq!(r["status"], "success", "{agent}: {r}");
    let s = r["response"].as_str().expect("a string response");
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{agent}: {e}: {s}"))
}

fn error(art: &Value, agent: &str) -> String {
    let r = &art["results"][agent];
    assert_eq!(r["status"], "failed", "{agent}: {r}");
    r["error"].as_str().unwrap_or("").to_string()
}

/// Whether the process `pid` has ended (gone, or a zombie nobody has reaped yet).
fn ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the command name in parentheses: `pid (comm) S ...`.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

fn read_pid(path: &Path) -> u32 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .expect("a pid")
}

fn one_agent(p: &TestProject, script: &str, extra: &str) {
    p.ensemble(
        "e",
        &format!("name: e\ndescription: d\nagents:\n  - name: s\n    script: {script}\n{extra}"),
    );
}

// ------------------------------------------------------------------ the interpreter

#[test]
fn the_interpreter_comes_from_orc_python_then_config_then_python3() {
    let p = TestProject::new();
    p.write(
        ".llm-orc/scripts/who.py",
        "import json\nprint(json.dumps({'ran_by': 'python3'}))\n",
    );
    // Stand-in interpreters that say who they are and what they were asked to run.
    let fake = |who: &str| {
        format!(
            "#!/bin/sh\nprintf '{{\"ran_by\": \"{who}\", \"script\": \"%s\"}}' \"$(basename \"$1\")\"\n"
        )
    };
    executable(&p, ".venv/bin/python", &fake("venv"));
    let other = executable(&p, "other/python", &fake("env"));
    executable(&p, "tools/mysh", &fake("mysh"));
    p.write(
        ".llm-orc/scripts/hello.sh",
        "echo '{\"ran_by\": \"bash\"}'\n",
    );
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: py\n    script: scripts/who.py\n  - name: sh\n    script: scripts/hello.sh\n",
    );

    // Default: python3 and bash.
    let r = invoke(&p, &["invoke", "e", "x"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let art = latest_artifact(&p, "e");
    assert_eq!(answer(&art, "py")["ran_by"], "python3");
    assert_eq!(answer(&art, "sh")["ran_by"], "bash");

    // config.yaml: relative to the project root; per extension.
    p.write(
        ".llm-orc/config.yaml",
        "scripts:\n  python: .venv/bin/python\n  interpreters:\n    sh: tools/mysh\n",
    );
    let r = invoke(&p, &["invoke", "e", "x"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let art = latest_artifact(&p, "e");
    assert_eq!(
        answer(&art, "py"),
        json!({"ran_by": "venv", "script": "who.py"})
    );
    assert_eq!(answer(&art, "sh")["ran_by"], "mysh");

    // The environment wins over config.yaml.
    let mut cmd = orc_cmd(&p, &["invoke", "e", "x"]);
    cmd.env("ORC_PYTHON", &other);
    let r = run_bounded(cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let art = latest_artifact(&p, "e");
    assert_eq!(answer(&art, "py")["ran_by"], "env");
    assert_eq!(answer(&art, "sh")["ran_by"], "mysh");

    // A missing interpreter names what was tried and where it was chosen.
    let mut cmd = orc_cmd(&p, &["invoke", "e", "x"]);
    cmd.env("ORC_PYTHON", "/nowhere/bin/python");
    let r = run_bounded(cmd);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let err = error(&latest_artifact(&p, "e"), "py");
    assert!(
        err.contains("`/nowhere/bin/python` (set by ORC_PYTHON)") && err.contains("who.py"),
        "{err}"
    );

    p.write(
        ".llm-orc/config.yaml",
        "scripts:\n  python: .venv/bin/missing\n",
    );
    let r = invoke(&p, &["validate", "e"]);
    assert!(
        r.stderr.contains("interpreter")
            && r.stderr.contains(".venv/bin/missing")
            && r.stderr.contains("`scripts.python`"),
        "validate should warn: {}",
        r.stderr
    );
    let r = invoke(&p, &["invoke", "e", "x"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let err = error(&latest_artifact(&p, "e"), "py");
    let config = p.root().join(".llm-orc/config.yaml");
    assert!(
        err.contains(".venv/bin/missing")
            && err.contains(&format!("set by `scripts.python` in {}", config.display())),
        "{err}"
    );
}

#[test]
fn a_bad_scripts_section_is_a_config_error() {
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        "scripts:\n  python: 3\n  max_output_bytes: 0\n  interpreters:\n    'py/x': /bin/true\n  alow_inline: true\n",
    );
    let r = invoke(&p, &["config", "check"]);
    assert!(
        r.stderr.contains("`python` must be a string"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("`max_output_bytes` must be at least 1"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("keys are file extensions"),
        "{}",
        r.stderr
    );
    r.assert_hint("did you mean `allow_inline`?");
}

// ------------------------------------------------------------------ pipes and the output cap

#[test]
fn a_script_that_echoes_a_large_input_does_not_deadlock() {
    let p = TestProject::new();
    // `cat` writes while orc is still writing: the pipes fill both ways unless orc reads stdout
    // while it writes stdin. Non-ASCII text is six bytes a character in the stdin JSON
    // (`\u00e9`), so ~110 KB of input is ~330 KB on stdin.
    p.write(".llm-orc/scripts/echo.sh", "cat\n");
    one_agent(&p, "scripts/echo.sh", "    timeout_seconds: 60\n");
    let input = "é".repeat(55_000);
    let file = p.write("input.txt", &input);
    let r = invoke(
        &p,
        &["invoke", "e", "--input-file", &file.to_string_lossy()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let echoed = answer(&latest_artifact(&p, "e"), "s");
    assert_eq!(echoed["input"], input.as_str());
}

#[test]
fn printing_more_than_the_cap_fails_only_that_agent() {
    let p = TestProject::new();
    p.write(
        ".llm-orc/config.yaml",
        "scripts:\n  max_output_bytes: 1048576\n",
    );
    p.write(
        ".llm-orc/scripts/flood.py",
        "import sys\nsys.stdout.write('x' * 5_000_000)\n",
    );
    p.write(
        ".llm-orc/scripts/fine.py",
        "import json\nprint(json.dumps({'fine': True}))\n",
    );
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: flood\n    script: scripts/flood.py\n  - name: fine\n    script: scripts/fine.py\n  - name: after\n    script: scripts/fine.py\n    depends_on: [flood, fine]\n",
    );
    let r = invoke(&p, &["invoke", "e", "x"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let art = latest_artifact(&p, "e");
    let err = error(&art, "flood");
    assert!(
        err.contains("printed more than 1 MiB on stdout")
            && err.contains("scripts.max_output_bytes"),
        "{err}"
    );
    assert_eq!(answer(&art, "fine")["fine"], true);
    assert_eq!(art["results"]["after"]["status"], "success");
}

#[test]
fn the_default_output_cap_is_16_mib() {
    let p = TestProject::new();
    p.write(
        ".llm-orc/scripts/big.py",
        "import sys\nsys.stdout.write('y' * (17 * 1024 * 1024))\n",
    );
    one_agent(&p, "scripts/big.py", "");
    let r = invoke(&p, &["invoke", "e", "x"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let err = error(&latest_artifact(&p, "e"), "s");
    assert!(err.contains("more than 16 MiB"), "{err}");
}

// ------------------------------------------------------------------ process groups

/// Starts a background child that would outlive the script, records its pid, then `tail`.
fn forking_script(p: &TestProject, tail: &str) {
    p.write(
        ".llm-orc/scripts/fork.sh",
        &format!(
            "(sleep 120; echo late > late.txt) &\necho $! > grandchild.pid.tmp\nmv grandchild.pid.tmp grandchild.pid\n{tail}\n"
        ),
    );
}

#[test]
fn a_timeout_kills_the_scripts_whole_process_group() {
    let p = TestProject::new();
    forking_script(&p, "sleep 120");
    one_agent(&p, "scripts/fork.sh", "    timeout_seconds: 3\n");
    let r = invoke(&p, &["invoke", "e", "x"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        error(&latest_artifact(&p, "e"), "s"),
        "Script timed out after 3 seconds"
    );
    let pid = read_pid(&p.root().join("grandchild.pid"));
    assert!(
        ended(pid),
        "the script's background child {pid} is still running"
    );
}

#[test]
fn a_finished_script_neither_waits_for_nor_leaves_its_background_children() {
    let p = TestProject::new();
    // The background child keeps stdout open; the script itself is done at once.
    forking_script(&p, "echo '{\"done\": true}'");
    one_agent(&p, "scripts/fork.sh", "    timeout_seconds: 60\n");
    let r = invoke(&p, &["invoke", "e", "x"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(answer(&latest_artifact(&p, "e"), "s")["done"], true);
    let pid = read_pid(&p.root().join("grandchild.pid"));
    assert!(
        ended(pid),
        "the script's background child {pid} is still running"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_kills_running_scripts_and_their_children() {
    let p = TestProject::new();
    forking_script(&p, "sleep 120");
    one_agent(&p, "scripts/fork.sh", "    timeout_seconds: 300\n");
    let child = orc_cmd(&p, &["invoke", "e", "x"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid_file = p.root().join("grandchild.pid");
    for _ in 0..2000 {
        if pid_file.is_file() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let grandchild = read_pid(&pid_file);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait"))
        .await
        .expect("join");
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let art = latest_artifact(&p, "e");
    assert_eq!(art["status"], "interrupted");
    assert!(
        ended(grandchild),
        "the script's background child {grandchild} outlived the run"
    );
}

// ------------------------------------------------------------------ long inputs

const REPORT_ENV: &str = "import json, os, sys
stdin = json.loads(sys.stdin.read())
def var(name):
    path = os.environ.get(name + '_FILE')
    return {
        'env': os.environ.get(name),
        'file': path,
        'file_text': open(path, encoding='utf-8').read() if path else None,
    }
print(json.dumps({'stdin_input': stdin['input'],
                  'INPUT_DATA': var('INPUT_DATA'),
                  'INPUT_TEXT': var('INPUT_TEXT'),
                  'AGENT_PARAMETERS': var('AGENT_PARAMETERS')}))
";

#[test]
fn inputs_over_the_environment_limit_reach_the_script_as_files() {
    let p = TestProject::new();
    p.write(".llm-orc/scripts/report.py", REPORT_ENV);
    one_agent(&p, "scripts/report.py", "    parameters: {mode: full}\n");
    let big: String = "a line of input text\n".repeat(300_000 / 21);
    assert!(big.len() > 290_000);
    let file = p.write("big.txt", &big);
    let r = invoke(
        &p,
        &["invoke", "e", "--input-file", &file.to_string_lossy()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = answer(&latest_artifact(&p, "e"), "s");
    assert_eq!(got["stdin_input"], big.as_str());
    for name in ["INPUT_DATA", "INPUT_TEXT"] {
        assert_eq!(got[name]["env"], Value::Null, "{name} is left unset");
        assert_eq!(got[name]["file_text"], big.as_str(), "{name}_FILE");
        let path = got[name]["file"].as_str().expect("a file");
        assert!(!Path::new(path).exists(), "{path} is removed after the run");
    }
    // Small values stay in the environment.
    assert_eq!(got["AGENT_PARAMETERS"]["env"], "{\"mode\": \"full\"}");
    assert_eq!(got["AGENT_PARAMETERS"]["file"], Value::Null);

    // A small input keeps llm-orc's variables and sets no files.
    let r = invoke(&p, &["invoke", "e", "small input"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = answer(&latest_artifact(&p, "e"), "s");
    assert_eq!(got["INPUT_DATA"]["env"], "small input");
    assert_eq!(got["INPUT_DATA"]["file"], Value::Null);
    assert_eq!(got["INPUT_TEXT"]["env"], "small input");
}

#[test]
fn a_spawn_over_the_kernels_total_retries_with_every_variable_in_a_file() {
    let p = TestProject::new();
    p.write(".llm-orc/scripts/report.py", REPORT_ENV);
    one_agent(&p, "scripts/report.py", "");
    // orc's own environment nearly fills the kernel's total for arguments and environment, so
    // two 100 KB variables (each under the per-variable limit) no longer fit beside it.
    let arg_max: usize = Command::new("getconf")
        .arg("ARG_MAX")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(2 * 1024 * 1024);
    let input = "x".repeat(100_000);
    let file = p.write("input.txt", &input);
    let mut cmd = orc_cmd(
        &p,
        &["invoke", "e", "--input-file", &file.to_string_lossy()],
    );
    let own: usize = std::env::vars_os()
        .map(|(k, v)| k.len() + v.len() + 2 + 8)
        .sum();
    let pad = "p".repeat(120_000);
    let mut filled = own;
    let mut i = 0;
    while filled + 120_000 + 16 < arg_max.saturating_sub(150_000) {
        cmd.env(format!("ORC_TEST_PAD{i}"), &pad);
        filled += 120_000 + 16;
        i += 1;
    }
    let r = run_bounded(cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = answer(&latest_artifact(&p, "e"), "s");
    for name in ["INPUT_DATA", "INPUT_TEXT", "AGENT_PARAMETERS"] {
        assert_eq!(got[name]["env"], Value::Null, "{name} is left unset");
        assert!(got[name]["file"].is_string(), "{name}_FILE is set");
    }
    assert_eq!(got["INPUT_DATA"]["file_text"], input.as_str());
    assert_eq!(got["AGENT_PARAMETERS"]["file_text"], "{}");
}

// ------------------------------------------------------------------ inline scripts

#[test]
fn inline_scripts_need_the_projects_opt_in() {
    let p = TestProject::new();
    one_agent(&p, "\"echo '{\\\"inline\\\": true}'\"", "");
    let r = invoke(&p, &["validate", "e"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("error: agent `s` runs inline shell content")
            && r.stderr.contains("does not allow"),
        "{}",
        r.stderr
    );
    r.assert_hint("`scripts: {allow_inline: true}` in .llm-orc/config.yaml");
    let r = invoke(&p, &["invoke", "e", "x"]);
    assert_ne!(r.code, 0);
    assert!(
        !p.root().join(".llm-orc/artifacts/e").exists(),
        "nothing ran"
    );

    p.write(".llm-orc/config.yaml", "scripts:\n  allow_inline: true\n");
    let r = invoke(&p, &["validate", "e"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("warning: agent `s` runs inline shell content with `bash -c`"),
        "{}",
        r.stderr
    );
    let r = invoke(&p, &["invoke", "e", "x"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(answer(&latest_artifact(&p, "e"), "s")["inline"], true);
}

mod mcp {
    use super::*;
    use rmcp::ServiceExt;
    use rmcp::model::CallToolRequestParams;

    type Conn = rmcp::service::RunningService<rmcp::RoleClient, ()>;

    async fn connect(p: &TestProject, flags: &[&str]) -> Conn {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_orc"));
        cmd.args(["mcp", "serve", "--all-tools"])
            .args(flags)
            .current_dir(p.root())
            .env("HOME", p.home())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("LLM_ORC_LIBRARY_PATH")
            .env_remove("OLLAMA_HOST");
        ().serve(rmcp::transport::TokioChildProcess::new(cmd).expect("spawn"))
            .await
            .expect("initialize")
    }

    /// (is_error, text of the answer)
    async fn call(c: &Conn, tool: &str, args: Value) -> (bool, String) {
        let mut params = CallToolRequestParams::new(tool.to_string());
        if let Value::Object(m) = args {
            params = params.with_arguments(m);
        }
        let r = c.call_tool(params).await.expect("call");
        (
            r.is_error == Some(true),
            serde_json::to_string(&r.content).unwrap_or_default(),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn clients_cannot_write_inline_scripts_unless_the_server_allows_it() {
        let p = TestProject::new();
        p.write(".llm-orc/config.yaml", "scripts:\n  allow_inline: true\n");
        p.write(".llm-orc/scripts/ok.py", "print('{}')\n");
        let inline = json!([{"name": "sneaky", "script": "echo pwned > pwned.txt"}]);
        let c = connect(&p, &[]).await;
        let (refused, text) = call(
            &c,
            "create_ensemble",
            json!({"name": "bad", "description": "d", "agents": inline}),
        )
        .await;
        assert!(refused, "{text}");
        assert!(
            text.contains("`sneaky`") && text.contains("--allow-inline-scripts"),
            "{text}"
        );
        assert!(!p.root().join(".llm-orc/ensembles/bad.yaml").exists());

        let (refused, text) = call(
            &c,
            "create_ensemble",
            json!({"name": "good", "description": "d", "agents": [{"name": "s", "script": "scripts/ok.py"}]}),
        )
        .await;
        assert!(!refused, "{text}");
        let before = std::fs::read_to_string(p.root().join(".llm-orc/ensembles/good.yaml"))
            .expect("written");
        let (refused, text) = call(
            &c,
            "update_ensemble",
            json!({"ensemble_name": "good", "changes": {"agents": inline}}),
        )
        .await;
        assert!(refused, "{text}");
        assert!(text.contains("--allow-inline-scripts"), "{text}");
        let after = std::fs::read_to_string(p.root().join(".llm-orc/ensembles/good.yaml"))
            .expect("still there");
        assert_eq!(before, after, "the file is unchanged");
        c.cancel().await.expect("close");

        let c = connect(&p, &["--allow-inline-scripts"]).await;
        let (refused, text) = call(
            &c,
            "create_ensemble",
            json!({"name": "bad", "description": "d", "agents": [{"name": "sh", "script": "echo hi"}]}),
        )
        .await;
        assert!(!refused, "{text}");
        assert!(p.root().join(".llm-orc/ensembles/bad.yaml").exists());
        c.cancel().await.expect("close");
    }
}

// ------------------------------------------------------------------ the contract

/// The stdin and environment the README's script-agent section documents.
#[test]
fn scripts_get_the_documented_stdin_and_environment() {
    let p = TestProject::new();
    p.write(
        ".llm-orc/scripts/show.py",
        "import json, os, sys\nprint(json.dumps({'stdin': json.loads(sys.stdin.read()), 'INPUT_DATA': os.environ.get('INPUT_DATA'), 'INPUT_TEXT': os.environ.get('INPUT_TEXT'), 'AGENT_PARAMETERS': os.environ.get('AGENT_PARAMETERS')}))\n",
    );
    p.write(
        ".llm-orc/scripts/split.py",
        "import json\nprint(json.dumps({'success': True, 'data': ['one', 'two']}))\n",
    );
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: first\n    script: scripts/show.py\n    parameters: {lang: en}\n  - name: second\n    script: scripts/show.py\n    depends_on: [first]\n",
    );
    let r = invoke(&p, &["invoke", "e", "the text"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let art = latest_artifact(&p, "e");
    let first = answer(&art, "first");
    assert_eq!(
        first["stdin"],
        json!({"input": "the text", "parameters": {"lang": "en"}, "context": {}})
    );
    assert_eq!(first["INPUT_DATA"], "the text");
    assert_eq!(first["INPUT_TEXT"], "the text");
    assert_eq!(first["AGENT_PARAMETERS"], "{\"lang\": \"en\"}");
    let second = answer(&art, "second");
    let first_response = art["results"]["first"]["response"].clone();
    assert_eq!(
        second["stdin"],
        json!({"agent_name": "second", "input_data": "the text", "context": {}, "dependencies": {
            "first": {"response": first_response, "status": "success", "model_substituted": false, "outcome": "succeeded", "has_errors": false, "agent_requests": []}
        }})
    );
    assert_eq!(
        serde_json::from_str::<Value>(second["INPUT_DATA"].as_str().unwrap_or("")).ok(),
        Some(second["stdin"].clone())
    );
    assert_eq!(second["INPUT_TEXT"], "the text");
    assert_eq!(second["AGENT_PARAMETERS"], "{}");

    // A fan-out instance gets its item in a chunk payload, as text in `input`.
    p.ensemble(
        "f",
        "name: f\ndescription: d\nagents:\n  - name: split\n    script: scripts/split.py\n  - name: each\n    script: scripts/show.py\n    depends_on: [split]\n    fan_out: true\n",
    );
    let r = invoke(&p, &["invoke", "f", "the text"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let art = latest_artifact(&p, "f");
    let each = answer(&art, "each[1]");
    let payload: Value =
        serde_json::from_str(each["stdin"]["input"].as_str().unwrap_or("")).expect("payload");
    assert_eq!(
        payload,
        json!({"agent_name": "each[1]", "input": "two", "chunk_index": 1, "total_chunks": 2, "base_input": "the text", "context": {}})
    );
}

#[test]
fn the_shipped_paragraph_splitter_does_what_its_docstring_says() {
    let p = TestProject::new();
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("ensembles/scripts/split_paragraphs.py"),
    )
    .expect("shipped script");
    p.write(".llm-orc/scripts/split_paragraphs.py", &shipped);
    one_agent(&p, "scripts/split_paragraphs.py", "");
    let r = invoke(&p, &["invoke", "e", "First paragraph.\n\nSecond one."]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        answer(&latest_artifact(&p, "e"), "s"),
        json!({"success": true, "data": ["First paragraph.", "Second one."]})
    );
    let r = invoke(&p, &["invoke", "e", "One sentence. Another one! A third?"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        answer(&latest_artifact(&p, "e"), "s")["data"],
        json!(["One sentence.", "Another one!", "A third?"])
    );
    // With a dependency, it splits the ensemble input all the same.
    p.write(".llm-orc/scripts/first.py", "print('{}')\n");
    p.ensemble(
        "e",
        "name: e\ndescription: d\nagents:\n  - name: first\n    script: scripts/first.py\n  - name: s\n    script: scripts/split_paragraphs.py\n    depends_on: [first]\n",
    );
    let r = invoke(&p, &["invoke", "e", "First paragraph.\n\nSecond one."]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        answer(&latest_artifact(&p, "e"), "s")["data"],
        json!(["First paragraph.", "Second one."])
    );
}

/// A script that prints `"success": false` fails its agent whether or not it has dependencies
/// (llm-orc passes it on as a success when it has them); its dependent still runs, on what did
/// succeed, and the failure envelope never becomes the deliverable.
#[test]
fn a_failure_envelope_fails_the_script_with_or_without_dependencies() {
    let p = TestProject::new();
    executable(
        &p,
        ".llm-orc/scripts/ok.sh",
        "#!/usr/bin/env bash\necho '{\"success\": true, \"output\": \"fine\"}'\n",
    );
    executable(
        &p,
        ".llm-orc/scripts/refuse.sh",
        "#!/usr/bin/env bash\ncat >/dev/null\necho '{\"success\": false, \"error\": \"nothing to split\"}'\n",
    );
    p.ensemble(
        "envelope",
        "name: envelope\ndescription: d\nagents:\n  - name: first\n    script: refuse.sh\n  - name: base\n    script: ok.sh\n  - name: second\n    script: refuse.sh\n    depends_on: [base]\n",
    );
    let r = invoke(&p, &["invoke", "envelope", "text"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let art = latest_artifact(&p, "envelope");
    assert_eq!(error(&art, "first"), "nothing to split");
    assert_eq!(error(&art, "second"), "nothing to split");
    assert_eq!(answer(&art, "base")["output"], "fine");
}
