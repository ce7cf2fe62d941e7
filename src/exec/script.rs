//! Script agents: a subprocess with llm-orc's JSON on stdin and its JSON from stdout.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::pyfmt;
use crate::resolve::ScriptTarget;

/// What the script is given.
pub enum ScriptInput {
    /// Plain text (no dependencies, or a fan-out chunk payload).
    Plain(String),
    /// llm-orc's ScriptAgentInput JSON (an agent with dependencies).
    Schema { json: String, input_data: String },
}

/// Longest stderr tail kept in an error message.
const STDERR_TAIL: usize = 1500;

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

fn interpreter(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("py") => "python3",
        Some("js") => "node",
        Some("rb") => "ruby",
        _ => "bash",
    }
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
    pub stdout: String,
    pub stderr: String,
    pub schema: bool,
}

/// Runs a script process and collects its output; Err when it could not start or timed out.
pub async fn run_raw(
    target: &ScriptTarget,
    parameters: &Map<String, Value>,
    input: ScriptInput,
    timeout: Duration,
) -> Result<RawRun, String> {
    let params = pyfmt::json_dumps(&Value::Object(parameters.clone()));
    let (stdin_text, env_data, env_text, schema) = match &input {
        ScriptInput::Plain(text) => {
            // Input that is JSON is normalised the way llm-orc re-serialises it.
            let normalised = match serde_json::from_str::<Value>(text) {
                Ok(v) => pyfmt::json_dumps(&v),
                Err(_) => text.clone(),
            };
            let stdin = pyfmt::json_dumps(
                &json!({"input": normalised, "parameters": Value::Object(parameters.clone()), "context": {}}),
            );
            (stdin, normalised.clone(), Some(normalised), false)
        }
        ScriptInput::Schema { json, input_data } => {
            (json.clone(), json.clone(), Some(input_data.clone()), true)
        }
    };
    let mut cmd = match target {
        ScriptTarget::File(path) => {
            let mut c = Command::new(interpreter(path));
            c.arg(path);
            c
        }
        ScriptTarget::Inline(content) => {
            let mut c = Command::new("bash");
            c.arg("-c").arg(format!("set -euo pipefail\n{content}"));
            c
        }
        ScriptTarget::Primitive(name) => {
            return Err(format!(
                "built-in primitive `{name}` is not available in this version of orc"
            ));
        }
    };
    cmd.env("INPUT_DATA", &env_data)
        .env("AGENT_PARAMETERS", &params);
    if let (Some(t), ScriptTarget::File(_)) = (&env_text, target) {
        cmd.env("INPUT_TEXT", t);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let what = match target {
        ScriptTarget::File(p) => p.display().to_string(),
        ScriptTarget::Inline(_) => "inline script".to_string(),
        ScriptTarget::Primitive(n) => n.clone(),
    };
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A script that does not read its input closes the pipe; that is not an error.
        let _ = stdin.write_all(stdin_text.as_bytes()).await;
        drop(stdin);
    }
    let out = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Err(_) => {
            return Err(format!(
                "Script timed out after {} seconds",
                fmt_secs(timeout)
            ));
        }
        Ok(Err(e)) => return Err(format!("{what} failed: {e}")),
        Ok(Ok(o)) => o,
    };
    Ok(RawRun {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        schema,
    })
}

/// Runs a script. Ok is the response; Err says why it failed (exit code, stderr tail, timeout).
pub async fn run(
    target: &ScriptTarget,
    parameters: &Map<String, Value>,
    input: ScriptInput,
    timeout: Duration,
) -> Result<Value, String> {
    let out = run_raw(target, parameters, input, timeout).await?;
    if out.code != Some(0) {
        let code = out
            .code
            .map_or_else(|| "a signal".to_string(), |c| c.to_string());
        let err = tail(out.stderr.as_bytes());
        return Err(if err.is_empty() {
            format!("Script failed with exit code {code}")
        } else {
            format!("Script failed with exit code {code}: {err}")
        });
    }
    if out.schema {
        return Ok(Value::String(out.stdout.trim().to_string()));
    }
    let response = normalise_output(&out.stdout);
    match reported_failure(&response) {
        Some(msg) => Err(msg),
        None => Ok(response),
    }
}

/// A script (or primitive) that reports failure in its own envelope (`"success": false`) has
/// failed: its `error`, else a generic message.
pub fn reported_failure(response: &Value) -> Option<String> {
    let Value::String(s) = response else {
        return None;
    };
    let Ok(Value::Object(o)) = serde_json::from_str::<Value>(s) else {
        return None;
    };
    (o.get("success") == Some(&Value::Bool(false))).then(|| {
        o.get("error")
            .and_then(Value::as_str)
            .unwrap_or("the script reported success: false")
            .to_string()
    })
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
}
