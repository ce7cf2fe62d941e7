//! Script agents: a subprocess with llm-orc's JSON on stdin and its JSON from stdout.
//!
//! A script runs in a process group of its own. Its stdin is written while its stdout and stderr
//! are read, all under the agent's timeout; stdout is capped (`scripts.max_output_bytes`) and
//! only stderr's tail is kept. When the script exits, times out, prints too much or the run is
//! cancelled, whatever is left of its process group is killed, so nothing it started outlives it.
//! Environment variables too long for the kernel (`INPUT_DATA`, `INPUT_TEXT`, `AGENT_PARAMETERS`)
//! are handed over as files instead (`INPUT_DATA_FILE`, ...).

use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::load::resolve::{Launcher, ScriptTarget};
use crate::pyfmt;

/// What the script is given.
pub enum ScriptInput {
    /// Plain text (no dependencies, or a fan-out chunk payload).
    Plain(String),
    /// llm-orc's ScriptAgentInput JSON (an agent with dependencies).
    Schema { json: String, input_data: String },
}

/// Longest stderr tail kept in an error message.
const STDERR_TAIL: usize = 1500;

/// Most stderr bytes kept from a script (its tail).
pub const STDERR_KEEP: usize = 64 * 1024;

/// Linux's limit on one environment string, `NAME=value` and its NUL (MAX_ARG_STRLEN).
pub const ENV_STRING_MAX: usize = 128 * 1024;

fn tail(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim();
    if s.len() <= STDERR_TAIL {
        return s.to_string();
    }
    let mut start = s.len() - STDERR_TAIL;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &s[start..])
}

/// Bytes in a unit a person reads: `16 MiB`, `1.5 KiB`, `300 bytes`.
fn human_bytes(n: usize) -> String {
    const KIB: f64 = 1024.0;
    let f = n as f64;
    if f >= KIB * KIB {
        format!("{} MiB", trim_float(f / (KIB * KIB)))
    } else if f >= KIB {
        format!("{} KiB", trim_float(f / KIB))
    } else {
        format!("{n} bytes")
    }
}

fn trim_float(f: f64) -> String {
    let s = format!("{f:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

// ------------------------------------------------------------------ process groups

/// Process groups of scripts still running, so that a hard exit can kill them.
static LIVE_GROUPS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

fn live_groups() -> std::sync::MutexGuard<'static, BTreeSet<u32>> {
    LIVE_GROUPS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(unix)]
fn kill_group(pgid: u32) {
    let pid = i32::try_from(pgid)
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        // ESRCH (nothing left in the group) is the usual answer and not an error.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

#[cfg(not(unix))]
fn kill_group(_pgid: u32) {}

/// Kills every script process group still running (for a process about to exit at once).
pub fn kill_running_scripts() {
    let groups = std::mem::take(&mut *live_groups());
    for g in groups {
        kill_group(g);
    }
}

/// A script's process group: killed when the script is done with, whatever the way out
/// (exit, timeout, too much output, or the run's future being dropped on cancellation).
struct Group(Option<u32>);

impl Group {
    fn new(pgid: Option<u32>) -> Group {
        if let Some(g) = pgid {
            live_groups().insert(g);
        }
        Group(pgid)
    }

    fn kill(&mut self) {
        if let Some(g) = self.0.take() {
            kill_group(g);
            live_groups().remove(&g);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

// ------------------------------------------------------------------ the environment

/// Sets llm-orc's variables on `cmd`. One that fits the kernel's limit is set as usual; a longer
/// one (or every one, with `all_in_files`) is written to a private temporary file named by
/// `NAME_FILE`, and `NAME` is left unset. The files live as long as the returned handles.
fn set_variables(
    cmd: &mut Command,
    vars: &[(&str, &str)],
    all_in_files: bool,
) -> Result<Vec<tempfile::NamedTempFile>, String> {
    let mut files = Vec::new();
    for (name, value) in vars {
        let file_var = format!("{name}_FILE");
        if !all_in_files && name.len() + value.len() + 2 <= ENV_STRING_MAX {
            cmd.env(name, value).env_remove(&file_var);
            continue;
        }
        let mut f = tempfile::Builder::new()
            .prefix("orc-script-")
            .suffix(&format!(".{}", name.to_ascii_lowercase()))
            .tempfile()
            .map_err(|e| format!("cannot create a temporary file for {name}: {e}"))?;
        std::io::Write::write_all(&mut f, value.as_bytes())
            .map_err(|e| format!("cannot write {name} to {}: {e}", f.path().display()))?;
        tracing::debug!(
            variable = %name,
            bytes = value.len(),
            file = %f.path().display(),
            "script variable too long for the environment; passed as a file"
        );
        cmd.env(&file_var, f.path()).env_remove(name);
        files.push(f);
    }
    Ok(files)
}

fn too_long(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::ArgumentListTooLong || e.raw_os_error() == Some(7)
}

// ------------------------------------------------------------------ reading

/// Why reading a script's output stopped early.
enum Stop {
    TooMuch,
    Io(std::io::Error),
}

/// Reads all of `r`, failing once more than `max` bytes arrive.
async fn read_capped(r: Option<impl AsyncRead + Unpin>, max: usize) -> Result<Vec<u8>, Stop> {
    let Some(mut r) = r else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut chunk).await.map_err(Stop::Io)?;
        if n == 0 {
            return Ok(out);
        }
        if out.len().saturating_add(n) > max {
            return Err(Stop::TooMuch);
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// Reads all of `r`, keeping its last `keep` bytes; true when some were dropped.
async fn read_tail(r: Option<impl AsyncRead + Unpin>, keep: usize) -> (Vec<u8>, bool) {
    let Some(mut r) = r else {
        return (Vec::new(), false);
    };
    let mut out = Vec::new();
    let mut dropped = false;
    let mut chunk = vec![0u8; 16 * 1024];
    // A read error ends stderr; stderr never fails a script.
    while let Ok(n) = r.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&chunk[..n]);
        if out.len() > keep.saturating_mul(2) {
            out.drain(..out.len() - keep);
            dropped = true;
        }
    }
    if out.len() > keep {
        out.drain(..out.len() - keep);
        dropped = true;
    }
    (out, dropped)
}

/// Normalises plain-path output as llm-orc does: an object is re-serialised as a string, other
/// JSON values pass through as values, anything else is wrapped in an `output` envelope.
pub fn normalise_output(stdout: &str) -> Value {
    let out = stdout.trim();
    if out.is_empty() {
        return Value::String(pyfmt::json_dumps(&json!({"success": true, "output": ""})));
    }
    match serde_json::from_str::<Value>(out) {
        Ok(v @ Value::Object(_)) => Value::String(pyfmt::json_dumps(&v)),
        Ok(v) => v,
        Err(_) => Value::String(pyfmt::json_dumps(&json!({"success": true, "output": out}))),
    }
}

/// `agent_requests` for a script's string response: the object's own list, `[]` for text.
pub fn agent_requests(response: &Value) -> Option<Value> {
    let Value::String(s) = response else {
        return None;
    };
    match serde_json::from_str::<Value>(s) {
        Ok(Value::Object(o)) => Some(
            o.get("agent_requests")
                .cloned()
                .unwrap_or_else(|| json!([])),
        ),
        Ok(_) => None,
        Err(_) => Some(json!([])),
    }
}

/// What a script process did.
pub struct RawRun {
    /// The exit code; `None` when it was killed by a signal.
    pub code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub schema: bool,
}

/// What a script is handed: its stdin, its environment variables, and whether it reads a
/// schema's JSON.
struct Handed {
    stdin: String,
    /// `INPUT_DATA`, `INPUT_TEXT` (script files only) and `AGENT_PARAMETERS`, in that order.
    vars: Vec<(&'static str, String)>,
    schema: bool,
}

impl Handed {
    fn new(target: &ScriptTarget, parameters: &Map<String, Value>, input: ScriptInput) -> Handed {
        let params = pyfmt::json_dumps(&Value::Object(parameters.clone()));
        let (stdin, env_data, env_text, schema) = match input {
            ScriptInput::Plain(text) => {
                // Input that is JSON is normalised the way llm-orc re-serialises it.
                let normalised = match serde_json::from_str::<Value>(&text) {
                    Ok(v) => pyfmt::json_dumps(&v),
                    Err(_) => text.clone(),
                };
                let stdin = pyfmt::json_dumps(
                    &json!({"input": normalised, "parameters": Value::Object(parameters.clone()), "context": {}}),
                );
                (stdin, normalised.clone(), normalised, false)
            }
            ScriptInput::Schema { json, input_data } => (json.clone(), json, input_data, true),
        };
        let mut vars = vec![("INPUT_DATA", env_data)];
        if let ScriptTarget::File(_) = target {
            vars.push(("INPUT_TEXT", env_text));
        }
        vars.push(("AGENT_PARAMETERS", params));
        Handed {
            stdin,
            vars,
            schema,
        }
    }
}

/// Starts the script's process (its own process group), with every variable in a file when
/// the kernel refuses them as too long; the files live as long as the process needs them.
fn spawn(
    target: &ScriptTarget,
    launcher: &Launcher,
    vars: &[(&str, &str)],
) -> Result<(tokio::process::Child, Vec<tempfile::NamedTempFile>), String> {
    let (what, program) = match target {
        ScriptTarget::File(p) => (p.display().to_string(), &launcher.interpreter.program),
        ScriptTarget::Inline(_) => ("inline script".to_string(), &launcher.interpreter.program),
        ScriptTarget::Primitive(name) => {
            return Err(format!(
                "built-in primitive `{name}` is not available in this version of orc"
            ));
        }
    };
    let build = |all_in_files: bool| {
        let mut c = Command::new(program);
        match target {
            ScriptTarget::Inline(content) => {
                c.arg("-c").arg(format!("set -euo pipefail\n{content}"));
            }
            ScriptTarget::File(path) => {
                c.arg(path);
            }
            ScriptTarget::Primitive(_) => {}
        }
        let files = set_variables(&mut c, vars, all_in_files)?;
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        c.process_group(0);
        Ok::<_, String>((c, files))
    };
    let cannot_start = |e: std::io::Error| {
        let ext = match target {
            ScriptTarget::File(p) => p.extension().and_then(|x| x.to_str()),
            _ => None,
        };
        format!(
            "cannot start `{}` ({}) to run {what}: {e}",
            program.display(),
            launcher.interpreter.describe_origin(ext)
        )
    };
    let (mut cmd, files) = build(false)?;
    match cmd.spawn() {
        Ok(c) => Ok((c, files)),
        // Over the kernel's total for arguments and environment: every variable as a file.
        Err(e) if too_long(&e) => {
            let (mut cmd, files) = build(true)?;
            let child = cmd.spawn().map_err(cannot_start)?;
            Ok((child, files))
        }
        Err(e) => Err(cannot_start(e)),
    }
}

/// What a script is called in messages.
fn script_name(target: &ScriptTarget) -> String {
    match target {
        ScriptTarget::File(p) => p.display().to_string(),
        _ => "inline script".to_string(),
    }
}

/// Runs a script process and collects its output; Err when it could not start, timed out or
/// printed more than its launcher allows.
pub async fn run_raw(
    target: &ScriptTarget,
    launcher: &Launcher,
    parameters: &Map<String, Value>,
    input: ScriptInput,
    timeout: Duration,
) -> Result<RawRun, String> {
    let handed = Handed::new(target, parameters, input);
    let vars: Vec<(&str, &str)> = handed.vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (mut child, _files) = spawn(target, launcher, &vars)?;
    let what = script_name(target);
    let (stdin_text, schema) = (handed.stdin, handed.schema);
    let mut group = Group::new(child.id());
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let max = launcher.max_output_bytes;
    let io = async {
        let write = async move {
            if let Some(mut w) = stdin {
                // A script that does not read its input closes the pipe; that is not an error.
                let _ = w.write_all(stdin_text.as_bytes()).await;
                let _ = w.shutdown().await;
            }
            Ok::<(), Stop>(())
        };
        let out = read_capped(stdout, max);
        let err = async { Ok::<_, Stop>(read_tail(stderr, STDERR_KEEP).await) };
        let wait = async {
            let status = child.wait().await.map_err(Stop::Io);
            // The script is done: what it left running goes too, closing the pipes it held.
            group.kill();
            status
        };
        tokio::try_join!(write, out, err, wait)
    };
    let outcome = tokio::time::timeout(timeout, io).await;
    let fail = match outcome {
        Ok(Ok(((), out, (err, dropped), status))) => {
            let mut stderr = String::from_utf8_lossy(&err).into_owned();
            if dropped {
                stderr.insert_str(0, "...");
            }
            #[cfg(unix)]
            let signal = std::os::unix::process::ExitStatusExt::signal(&status);
            #[cfg(not(unix))]
            let signal = None;
            return Ok(RawRun {
                code: status.code(),
                signal,
                stdout: String::from_utf8_lossy(&out).into_owned(),
                stderr,
                schema,
            });
        }
        Err(_) => format!("Script timed out after {} seconds", fmt_secs(timeout)),
        Ok(Err(Stop::TooMuch)) => format!(
            "Script printed more than {} on stdout and was stopped (the limit is `scripts.max_output_bytes` in .llm-orc/config.yaml)",
            human_bytes(max)
        ),
        Ok(Err(Stop::Io(e))) => format!("{what} failed: {e}"),
    };
    group.kill();
    // Killed: reaping it takes no time.
    let _ = child.wait().await;
    Err(fail)
}

/// Why a script or primitive failed: the error (what dependents and the artifact show), and
/// what else it left (llm-orc 0.25's `payload`: `{"stderr": ...}` after a non-zero exit, the
/// envelope's other keys after a reported failure).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub error: String,
    pub payload: Option<Value>,
}

impl From<String> for Failure {
    fn from(error: String) -> Failure {
        Failure {
            error,
            payload: None,
        }
    }
}

/// Runs a script. Ok is the response; Err says why it failed (exit code with stderr in the
/// payload, timeout, a reported failure), worded as llm-orc 0.25.2 words it.
pub async fn run(
    target: &ScriptTarget,
    launcher: &Launcher,
    parameters: &Map<String, Value>,
    input: ScriptInput,
    timeout: Duration,
) -> Result<Value, Failure> {
    let out = run_raw(target, launcher, parameters, input, timeout).await?;
    if out.code != Some(0) {
        // A signal reads as Python's negative return code (`-9`).
        let code = out.code.or(out.signal.map(|s| -s)).unwrap_or(-1);
        return Err(Failure {
            error: format!("Script failed with exit code {code}"),
            payload: Some(json!({ "stderr": out.stderr })),
        });
    }
    // With dependencies the output is passed through as printed (llm-orc's schema path); a
    // `"success": false` envelope fails the agent either way (a decision; see ARCHITECTURE.md).
    let response = if out.schema {
        Value::String(out.stdout.trim().to_string())
    } else {
        normalise_output(&out.stdout)
    };
    match reported_failure(&response) {
        Some(f) => Err(f),
        None => Ok(response),
    }
}

/// A script (or primitive) that reports failure in its own JSON object has failed, as in
/// llm-orc 0.25.2: an `error` that is not empty (`{"error": "..."}` with exit code 0 included,
/// whatever `success` says) is the error; else `"success": false` fails with the object's own
/// text. The object's other keys are the payload.
pub fn reported_failure(response: &Value) -> Option<Failure> {
    let Value::String(s) = response else {
        return None;
    };
    let Ok(Value::Object(o)) = serde_json::from_str::<Value>(s) else {
        return None;
    };
    let error = match o.get("error") {
        Some(e) if crate::compile::predicate::truthy(e) => pyfmt::str_of(e),
        _ if o.get("success") == Some(&Value::Bool(false)) => {
            pyfmt::json_dumps(&Value::Object(o.clone()))
        }
        _ => return None,
    };
    let rest: Map<String, Value> = o
        .into_iter()
        .filter(|(k, _)| k != "success" && k != "error")
        .collect();
    Some(Failure {
        error,
        payload: (!rest.is_empty()).then_some(Value::Object(rest)),
    })
}

/// A failure as a person reads it: the error, then the tail of the script's stderr when its
/// payload carries one (`Script failed with exit code 3: Traceback ...`).
pub fn error_with_stderr(error: &str, payload: Option<&Value>) -> String {
    let stderr = payload
        .and_then(|p| p.get("stderr"))
        .and_then(Value::as_str)
        .map(|s| tail(s.as_bytes()))
        .unwrap_or_default();
    if stderr.is_empty() {
        error.to_string()
    } else {
        format!("{error}: {stderr}")
    }
}

pub fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_normalisation() {
        assert_eq!(
            normalise_output(""),
            json!("{\"success\": true, \"output\": \"\"}")
        );
        assert_eq!(normalise_output("{\"a\":1}\n"), json!("{\"a\": 1}"));
        assert_eq!(normalise_output("[1,2]"), json!([1, 2]));
        assert_eq!(normalise_output("42"), json!(42));
        assert_eq!(
            normalise_output("hello"),
            json!("{\"success\": true, \"output\": \"hello\"}")
        );
        assert_eq!(agent_requests(&json!("{\"a\": 1}")), Some(json!([])));
        assert_eq!(agent_requests(&json!("text")), Some(json!([])));
        assert_eq!(agent_requests(&json!("[1]")), None);
    }

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(human_bytes(16 * 1024 * 1024), "16 MiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(300), "300 bytes");
    }

    #[tokio::test]
    async fn stderr_keeps_only_its_tail() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (kept, dropped) = read_tail(Some(&data[..]), 1000).await;
        assert!(dropped);
        assert_eq!(kept, data[data.len() - 1000..]);
        let (kept, dropped) = read_tail(Some(&b"short"[..]), 1000).await;
        assert!(!dropped);
        assert_eq!(kept, b"short");
    }

    #[tokio::test]
    async fn stdout_over_the_cap_stops() {
        let data = vec![b'x'; 10_000];
        assert!(matches!(
            read_capped(Some(&data[..]), 9_999).await,
            Err(Stop::TooMuch)
        ));
        assert!(matches!(read_capped(Some(&data[..]), 10_000).await, Ok(v) if v.len() == 10_000));
    }
}
