//! `scripts:` in config.yaml: the interpreters by file extension, inline scripts, the output
//! cap; and how they are read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::tiers::Tier;
use crate::load::spec::Reader;
use crate::load::yaml::{Entry, Node};

/// Most bytes a script may print on stdout unless `scripts.max_output_bytes` says otherwise.
pub const DEFAULT_SCRIPT_OUTPUT_BYTES: u64 = 16 * 1024 * 1024;

/// An interpreter chosen in config.yaml, with where it was chosen (for error messages).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfiguredInterpreter {
    /// A path (relative ones already joined to the project root) or a bare command name.
    pub program: PathBuf,
    /// The key that set it, e.g. `scripts.python`.
    pub key: String,
    /// The config.yaml it was set in.
    pub file: PathBuf,
}

/// `scripts:` in config.yaml: how script agents run.
#[derive(Debug, Clone, Serialize)]
pub struct ScriptSettings {
    /// Interpreters by file extension without the dot (`py`, `sh`, `js`, ...). `scripts.python`
    /// is `py`.
    pub interpreters: BTreeMap<String, ConfiguredInterpreter>,
    /// Whether inline shell content (`script: echo hi`) may run at all.
    pub allow_inline: bool,
    /// Most bytes a script may print on stdout; more fails the agent.
    pub max_output_bytes: u64,
}

impl Default for ScriptSettings {
    fn default() -> Self {
        ScriptSettings {
            interpreters: BTreeMap::new(),
            allow_inline: false,
            max_output_bytes: DEFAULT_SCRIPT_OUTPUT_BYTES,
        }
    }
}

const SCRIPT_KEYS: &[&str] = &["python", "interpreters", "allow_inline", "max_output_bytes"];

/// `scripts:`: interpreters, inline scripts, the output cap. A relative interpreter path is
/// relative to the project root for the local config.yaml (the folder holding `.llm-orc/`), and
/// to the global folder for the global one; a bare name is looked up on PATH when a script runs.
pub(super) fn read_scripts(
    r: &mut Reader<'_>,
    node: &Node,
    tier: Tier,
    path: &Path,
    scripts: &mut ScriptSettings,
) {
    let Some(entries) = node.as_map() else {
        if !node.is_null() {
            r.sink.error(node.pos, "`scripts` must be a mapping");
        }
        return;
    };
    let tree = path.parent().unwrap_or(Path::new("."));
    let base = match tier {
        Tier::Local => tree.parent().unwrap_or(tree),
        _ => tree,
    };
    let mut python = None;
    for e in entries {
        match e.key.as_str() {
            "python" => {
                python = interpreter(r, e, "py", "scripts.python".to_string(), base, path);
            }
            "interpreters" => read_interpreters(r, e, base, path, scripts),
            "allow_inline" => {
                if let Some(b) = r.boolean(e) {
                    scripts.allow_inline = b;
                }
            }
            "max_output_bytes" => match r.unsigned(e) {
                Some(0) => {
                    r.sink
                        .error(e.value.pos, "`max_output_bytes` must be at least 1");
                }
                Some(n) => scripts.max_output_bytes = n,
                None => {}
            },
            _ => r.unknown_key(e, "`scripts`", SCRIPT_KEYS),
        }
    }
    // `python` is the shorthand for `interpreters.py` and wins over it in the same file.
    if let Some((ext, c)) = python {
        scripts.interpreters.insert(ext, c);
    }
}

/// `scripts.interpreters`: file extensions to interpreters.
fn read_interpreters(
    r: &mut Reader<'_>,
    e: &Entry,
    base: &Path,
    path: &Path,
    scripts: &mut ScriptSettings,
) {
    let Some(items) = e.value.as_map() else {
        if !e.value.is_null() {
            r.sink.error(
                e.value.pos,
                "`scripts.interpreters` must map file extensions to interpreters (`sh: /bin/bash`)",
            );
        }
        return;
    };
    for i in items {
        let ext = i.key.trim_start_matches('.');
        if ext.is_empty() || !ext.chars().all(|c| c.is_ascii_alphanumeric()) {
            r.sink.error(
                i.key_pos,
                format!(
                    "`scripts.interpreters` keys are file extensions such as `py` or `sh`, found `{}`",
                    i.key
                ),
            );
            continue;
        }
        let key = format!("scripts.interpreters.{ext}");
        if let Some((ext, c)) = interpreter(r, i, ext, key, base, path) {
            scripts.interpreters.insert(ext, c);
        }
    }
}

/// One interpreter set at `key` in the config.yaml at `path`: a relative path with a `/` is
/// joined to `base`.
fn interpreter(
    r: &mut Reader<'_>,
    e: &Entry,
    ext: &str,
    key: String,
    base: &Path,
    path: &Path,
) -> Option<(String, ConfiguredInterpreter)> {
    let program = r.string(e)?;
    if program.trim().is_empty() || program.contains('\0') {
        r.sink.error(
            e.value.pos,
            format!("`{key}` must name an interpreter (a path or a command on PATH)"),
        );
        return None;
    }
    let p = PathBuf::from(&program);
    let program = if p.is_relative() && program.contains('/') {
        base.join(p)
    } else {
        p
    };
    Some((
        ext.to_string(),
        ConfiguredInterpreter {
            program,
            key,
            file: path.to_path_buf(),
        },
    ))
}
