//! Script agents' files: list, read, create from a template, test, delete.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use super::files::*;
use crate::service::{Service, ServiceError};

impl Service {
    fn scripts_dir(&self) -> PathBuf {
        self.local_dir().join("scripts")
    }

    fn script_path(&self, name: &str, category: &str) -> Result<PathBuf, ServiceError> {
        let rel = if category.is_empty() {
            name.to_string()
        } else {
            format!("{category}/{name}")
        };
        let ext = if Path::new(name).extension().is_some() {
            ""
        } else {
            ".py"
        };
        safe_join(&self.scripts_dir(), &rel, ext)
    }

    /// `Script 'category/name' not found`, with the nearest existing script.
    fn script_not_found(&self, name: &str, category: &str) -> ServiceError {
        let known: Vec<String> = self
            .script_summaries(None)
            .iter()
            .map(|r| {
                let (c, n) = (r.category.as_str(), r.name.as_deref().unwrap_or(""));
                if c.is_empty() {
                    n.to_string()
                } else {
                    format!("{c}/{n}")
                }
            })
            .collect();
        let stem = name
            .strip_suffix(".py")
            .or_else(|| Path::new(name).file_stem().and_then(|s| s.to_str()))
            .unwrap_or(name);
        let wanted = if category.is_empty() {
            stem.to_string()
        } else {
            format!("{category}/{stem}")
        };
        refuse(format!(
            "Script '{category}/{name}' not found{}",
            did_you_mean(&wanted, known.iter().map(String::as_str))
        ))
    }

    /// The project's scripts (`.llm-orc/scripts/<category>/<name>`), sorted by category and
    /// name, optionally of one category.
    pub fn script_summaries(&self, category: Option<&str>) -> Vec<ScriptSummary> {
        let root = self.scripts_dir();
        let mut rows = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                let p = e.path();
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    if stack.len() < 64 {
                        stack.push(p);
                    }
                } else if p
                    .extension()
                    .is_some_and(|x| ["py", "sh", "bash", "js", "rb"].iter().any(|k| x == *k))
                {
                    let cat = p
                        .parent()
                        .and_then(|d| d.strip_prefix(&root).ok())
                        .map(|d| d.display().to_string())
                        .unwrap_or_default();
                    if category.is_none_or(|c| c == cat) {
                        rows.push(ScriptSummary {
                            name: p.file_stem().map(|s| s.to_string_lossy().into_owned()),
                            category: cat,
                            path: p,
                        });
                    }
                }
            }
        }
        rows.sort_by(|a, b| {
            (&a.category, a.name.as_deref().unwrap_or(""))
                .cmp(&(&b.category, b.name.as_deref().unwrap_or("")))
        });
        rows
    }

    /// Writes a new script from a template (basic, splitter).
    pub fn create_script(
        &self,
        name: &str,
        category: &str,
        template: &str,
    ) -> Result<ScriptCreated, ServiceError> {
        let path = self.script_path(name, category)?;
        if path.exists() {
            return Err(refuse(format!("Script '{category}/{name}' already exists")));
        }
        let body = match template {
            "basic" | "" => SCRIPT_BASIC,
            "fan-out" | "fan_out" | "splitter" => SCRIPT_SPLITTER,
            other => {
                return Err(refuse(format!(
                    "unknown template `{other}` (basic, splitter)"
                )));
            }
        };
        write_new(&path, body, false)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o755));
        }
        Ok(ScriptCreated {
            path,
            template: if template.is_empty() {
                "basic".to_string()
            } else {
                template.to_string()
            },
        })
    }

    /// A script's source and the first paragraph of its docstring.
    pub fn get_script(&self, name: &str, category: &str) -> Result<ScriptSource, ServiceError> {
        let path = self.script_path(name, category)?;
        let source =
            fs::read_to_string(&path).map_err(|_| self.script_not_found(name, category))?;
        let description = docstring(&source);
        Ok(ScriptSource {
            name: name.to_string(),
            category: category.to_string(),
            path,
            description,
            source,
        })
    }

    /// Runs a script with an input as a script agent would (60 s at most).
    pub async fn test_script(
        &self,
        name: &str,
        category: &str,
        input: &str,
        parameters: Map<String, Value>,
    ) -> Result<ScriptRun, ServiceError> {
        let path = self.script_path(name, category)?;
        if !path.is_file() {
            return Err(self.script_not_found(name, category));
        }
        let target = crate::load::resolve::ScriptTarget::File(path);
        let launcher = crate::load::resolve::Launcher::new(&self.project.config.scripts, &target);
        let started = std::time::Instant::now();
        let out = crate::run::script::run_raw(
            &target,
            &launcher,
            &parameters,
            crate::run::script::ScriptInput::Plain(input.to_string()),
            Duration::from_secs(60),
        )
        .await
        .map_err(refuse)?;
        Ok(ScriptRun {
            success: out.code == Some(0),
            output: crate::run::script::normalise_output(&out.stdout),
            stdout: out.stdout,
            stderr: out.stderr,
            return_code: out.code,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }

    /// Deletes a project script.
    pub fn delete_script(
        &self,
        name: &str,
        category: &str,
        confirm: bool,
    ) -> Result<(), ServiceError> {
        if !confirm {
            return Err(refuse(
                "Confirmation required to delete script (pass confirm: true)",
            ));
        }
        let path = self.script_path(name, category)?;
        fs::remove_file(&path).map_err(|_| self.script_not_found(name, category))?;
        Ok(())
    }
}

/// One script file as `list_scripts` shows it.
#[derive(Debug, Clone)]
pub struct ScriptSummary {
    /// The file stem.
    pub name: Option<String>,
    /// The folder under `scripts/` (empty at the top).
    pub category: String,
    pub path: PathBuf,
}

/// A script written from a template.
#[derive(Debug, Clone)]
pub struct ScriptCreated {
    pub path: PathBuf,
    pub template: String,
}

/// A script's text.
#[derive(Debug, Clone)]
pub struct ScriptSource {
    pub name: String,
    pub category: String,
    pub path: PathBuf,
    pub description: String,
    pub source: String,
}

/// What a test run of a script printed.
#[derive(Debug, Clone)]
pub struct ScriptRun {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    pub return_code: Option<i32>,
    /// stdout read as a script agent's output.
    pub output: Value,
    pub duration_ms: u64,
}

fn docstring(source: &str) -> String {
    let t = source.trim_start_matches(|c: char| c == '#' || c == '!' || c.is_whitespace());
    let t = source.find("\"\"\"").map(|i| &source[i + 3..]).unwrap_or(t);
    t.split("\"\"\"")
        .next()
        .unwrap_or("")
        .split("\n\n")
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

const SCRIPT_BASIC: &str = r#"#!/usr/bin/env python3
"""Describe what this script does in one line.

Reads llm-orc's JSON on stdin ({"input": ..., "parameters": {...}}) and prints
{"success": true, "data": ...}. Parameters are also in $AGENT_PARAMETERS.
"""
import json
import sys


def main() -> None:
    payload = json.loads(sys.stdin.read() or "{}")
    text = payload.get("input", "") if isinstance(payload, dict) else payload
    print(json.dumps({"success": True, "data": text}))


if __name__ == "__main__":
    main()
"#;

const SCRIPT_SPLITTER: &str = r#"#!/usr/bin/env python3
"""Split the input into sentences for a fan-out agent.

Prints {"success": true, "data": [...]}; an agent with fan_out: true that depends on this
script runs once per item.
"""
import json
import re
import sys


def main() -> None:
    payload = json.loads(sys.stdin.read() or "{}")
    text = payload.get("input", "") if isinstance(payload, dict) else str(payload)
    parts = [p for p in re.split(r"(?<=[.!?])\s+", str(text).strip()) if p]
    print(json.dumps({"success": True, "data": parts}))


if __name__ == "__main__":
    main()
"#;
