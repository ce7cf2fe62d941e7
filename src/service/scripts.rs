//! Script agents' files: list, read, create from a template, test, delete.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value, json};

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
        let known: Vec<String> = self.mcp_list_scripts(None)["scripts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let (c, n) = (
                    r["category"].as_str().unwrap_or(""),
                    r["name"].as_str().unwrap_or(""),
                );
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

    pub fn mcp_list_scripts(&self, category: Option<&str>) -> Value {
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
                        rows.push(json!({"name": p.file_stem().map(|s| s.to_string_lossy().into_owned()), "category": cat, "path": p}));
                    }
                }
            }
        }
        rows.sort_by_key(|r| {
            (
                r["category"].as_str().unwrap_or("").to_string(),
                r["name"].as_str().unwrap_or("").to_string(),
            )
        });
        json!({ "scripts": rows })
    }

    pub fn mcp_create_script(
        &self,
        name: &str,
        category: &str,
        template: &str,
    ) -> Result<Value, ServiceError> {
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
        Ok(
            json!({"created": true, "path": path, "template": if template.is_empty() { "basic" } else { template }}),
        )
    }

    pub fn mcp_get_script(&self, name: &str, category: &str) -> Result<Value, ServiceError> {
        let path = self.script_path(name, category)?;
        let source =
            fs::read_to_string(&path).map_err(|_| self.script_not_found(name, category))?;
        let description = docstring(&source);
        Ok(
            json!({"name": name, "category": category, "path": path, "description": description, "source": source}),
        )
    }

    pub async fn mcp_test_script(
        &self,
        name: &str,
        category: &str,
        input: &str,
        parameters: Map<String, Value>,
    ) -> Result<Value, ServiceError> {
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
        Ok(json!({
            "success": out.code == Some(0),
            "stdout": out.stdout,
            "stderr": out.stderr,
            "return_code": out.code,
            "output": crate::run::script::normalise_output(&out.stdout),
            "duration_ms": started.elapsed().as_millis() as u64,
        }))
    }

    pub fn mcp_delete_script(
        &self,
        name: &str,
        category: &str,
        confirm: bool,
    ) -> Result<Value, ServiceError> {
        if !confirm {
            return Err(refuse(
                "Confirmation required to delete script (pass confirm: true)",
            ));
        }
        let path = self.script_path(name, category)?;
        fs::remove_file(&path).map_err(|_| self.script_not_found(name, category))?;
        Ok(json!({"deleted": true, "name": name, "category": category}))
    }

    // ------------------------------------------------------------------ artifacts
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
