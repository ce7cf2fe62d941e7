//! Resolving references out of an ensemble: script paths and nested ensemble names.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::load::project::{Dirs, ScriptSettings, stays_inside};

/// The environment variable that chooses the interpreter of `.py` scripts (over config.yaml).
pub const PYTHON_ENV: &str = "ORC_PYTHON";

/// One built-in script primitive: its name (the file stem of a `primitives/...` reference) and
/// whether it asks the user.
#[derive(Debug, Clone, Copy)]
pub struct Primitive {
    pub name: &'static str,
    pub interactive: bool,
}

/// THE list of built-in script primitives (see the control-flow and primitives issue): a
/// `primitives/...` reference to one of these names needs no file; `run::primitives` runs them.
pub const PRIMITIVES: &[Primitive] = &[
    Primitive {
        name: "read_file",
        interactive: false,
    },
    Primitive {
        name: "write_file",
        interactive: false,
    },
    Primitive {
        name: "json_extract",
        interactive: false,
    },
    Primitive {
        name: "replicate_n_times",
        interactive: false,
    },
    Primitive {
        name: "get_user_input",
        interactive: true,
    },
    Primitive {
        name: "confirm_action",
        interactive: true,
    },
];

/// Whether `name` (e.g. "read_file") is a built-in primitive.
pub fn is_primitive(name: &str) -> bool {
    PRIMITIVES.iter().any(|p| p.name == name)
}

/// True for the primitives that ask the user (get_user_input, confirm_action).
pub fn is_interactive(name: &str) -> bool {
    PRIMITIVES.iter().any(|p| p.name == name && p.interactive)
}

/// What a `script:` value refers to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum ScriptTarget {
    /// A file, with its resolved path.
    File(PathBuf),
    /// Inline shell content.
    Inline(String),
    /// A built-in primitive, by name.
    Primitive(String),
}

/// Why a script reference could not be resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptProblem {
    Missing { looked_in: Vec<PathBuf> },
    Escapes { resolved: PathBuf, root: PathBuf },
}

/// A reference is a path when it has a separator or a script extension; anything else is
/// inline shell content, as in llm-orc.
pub fn is_path_like(reference: &str) -> bool {
    reference.contains('/')
        || reference.contains('\\')
        || [".py", ".sh", ".bash", ".js", ".rb"]
            .iter()
            .any(|x| reference.ends_with(x))
}

/// The directories a path-like script is looked for in, in order.
pub fn script_search_dirs(dirs: &Dirs) -> Vec<PathBuf> {
    let base = dirs.script_base();
    let local = dirs
        .local
        .clone()
        .unwrap_or_else(|| base.join(crate::load::project::LOCAL_DIR));
    let lib = base.join("llm-orchestra-library");
    vec![
        local.join("scripts"),
        local,
        base.to_path_buf(),
        lib.join("scripts"),
        lib.join("primitives").join("python"),
        lib.join("primitives"),
        lib,
    ]
}

/// Resolves a `script:` value. Paths must stay inside the project (or the library beside it).
/// `tier_dir` is the tree of the ensemble's own tier when that is the global tier or the library
/// (`None` for a project ensemble): after llm-orc's places, a script is also looked for in its
/// `scripts/` folder, where `orc promote` puts the scripts a promoted ensemble needs, and must
/// stay inside that tree.
pub fn resolve_script(
    dirs: &Dirs,
    reference: &str,
    tier_dir: Option<&Path>,
) -> Result<ScriptTarget, ScriptProblem> {
    if !is_path_like(reference) {
        return Ok(ScriptTarget::Inline(reference.to_string()));
    }
    let base = dirs.script_base().to_path_buf();
    let as_path = Path::new(reference);
    if let Some(found) = first_file(&script_candidates(dirs, reference), &base) {
        return found;
    }
    if let Some(tier) = tier_dir.filter(|_| !as_path.is_absolute()) {
        let scripts = tier.join("scripts");
        let stripped = reference.strip_prefix("scripts/").unwrap_or(reference);
        let candidates =
            [stripped.to_string(), stripped.replace('-', "_")].map(|v| scripts.join(v));
        if let Some(found) = first_file(&candidates, tier) {
            return found;
        }
    }
    if let Some(name) = primitive_name(reference) {
        return Ok(ScriptTarget::Primitive(name.to_string()));
    }
    refuse_escape(&base, as_path)?;
    let mut looked_in = script_search_dirs(dirs);
    if let Some(tier) = tier_dir {
        looked_in.push(tier.join("scripts"));
    }
    if as_path.is_absolute() {
        looked_in = vec![as_path.to_path_buf()];
    }
    Err(ScriptProblem::Missing { looked_in })
}

/// The files a script reference may name, in llm-orc's order: an absolute path as it is, else
/// the reference (and its `-` -> `_` and `scripts/`-less variants) in each search directory.
fn script_candidates(dirs: &Dirs, reference: &str) -> Vec<PathBuf> {
    let as_path = Path::new(reference);
    if as_path.is_absolute() {
        return vec![as_path.to_path_buf()];
    }
    let mut variants = vec![reference.to_string()];
    let underscored = reference.replace('-', "_");
    if underscored != reference {
        variants.push(underscored);
    }
    if let Some(rest) = reference.strip_prefix("scripts/") {
        variants.push(rest.to_string());
    }
    script_search_dirs(dirs)
        .iter()
        .flat_map(|d| variants.iter().map(move |v| d.join(v)))
        .collect()
}

/// The first candidate that is a file: found when it stays inside `root`, an escape when not.
fn first_file(candidates: &[PathBuf], root: &Path) -> Option<Result<ScriptTarget, ScriptProblem>> {
    let c = candidates.iter().find(|c| c.is_file())?;
    if !stays_inside(root, c) {
        let resolved = std::fs::canonicalize(c).unwrap_or_else(|_| c.clone());
        return Some(Err(ScriptProblem::Escapes {
            resolved,
            root: root.to_path_buf(),
        }));
    }
    Some(Ok(ScriptTarget::File(c.clone())))
}

/// A reference that climbs out of `base` (a relative one with `..`, or an absolute one
/// elsewhere) is an escape even when nothing is there.
fn refuse_escape(base: &Path, as_path: &Path) -> Result<(), ScriptProblem> {
    if !as_path.is_absolute()
        && as_path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        let joined = base.join(as_path);
        if !lexically_inside(base, &joined) {
            return Err(ScriptProblem::Escapes {
                resolved: joined,
                root: base.to_path_buf(),
            });
        }
    }
    if as_path.is_absolute() && !lexically_inside(base, as_path) {
        return Err(ScriptProblem::Escapes {
            resolved: as_path.to_path_buf(),
            root: base.to_path_buf(),
        });
    }
    Ok(())
}

/// Where an interpreter choice came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// orc's default for the extension.
    Default,
    /// An environment variable.
    Env(&'static str),
    /// A config.yaml key.
    Config { key: String, file: PathBuf },
}

/// The program a script runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Interpreter {
    pub program: PathBuf,
    pub origin: Origin,
}

impl Interpreter {
    /// Where the choice came from, and how to change it, for error messages.
    pub fn describe_origin(&self, ext: Option<&str>) -> String {
        match &self.origin {
            Origin::Default => match ext {
                Some("py") => format!(
                    "orc's default for .py scripts; choose another with {PYTHON_ENV} or `scripts.python` in .llm-orc/config.yaml"
                ),
                Some(x) => format!(
                    "orc's default for .{x} scripts; choose another with `scripts.interpreters.{x}` in .llm-orc/config.yaml"
                ),
                None => "orc's default for scripts without an extension".to_string(),
            },
            Origin::Env(var) => format!("set by {var}"),
            Origin::Config { key, file } => format!("set by `{key}` in {}", file.display()),
        }
    }
}

/// How a script agent's process is started: its interpreter and the most it may print.
#[derive(Debug, Clone, PartialEq)]
pub struct Launcher {
    pub interpreter: Interpreter,
    pub max_output_bytes: usize,
}

impl Default for Launcher {
    fn default() -> Self {
        Launcher::new(
            &ScriptSettings::default(),
            &ScriptTarget::Inline(String::new()),
        )
    }
}

impl Launcher {
    /// The launcher for `target` under `settings`; `.py` scripts honour `ORC_PYTHON` first.
    pub fn new(settings: &ScriptSettings, target: &ScriptTarget) -> Launcher {
        Launcher::with_python_env(settings, target, std::env::var_os(PYTHON_ENV))
    }

    /// As [`Launcher::new`], with the value of `ORC_PYTHON` given.
    pub fn with_python_env(
        settings: &ScriptSettings,
        target: &ScriptTarget,
        python_env: Option<OsString>,
    ) -> Launcher {
        let interpreter = match target {
            ScriptTarget::File(path) => {
                let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
                let from_env = python_env
                    .filter(|v| ext == "py" && !v.is_empty())
                    .map(|v| Interpreter {
                        program: PathBuf::from(v),
                        origin: Origin::Env(PYTHON_ENV),
                    });
                let from_config = || {
                    settings.interpreters.get(ext).map(|c| Interpreter {
                        program: c.program.clone(),
                        origin: Origin::Config {
                            key: c.key.clone(),
                            file: c.file.clone(),
                        },
                    })
                };
                from_env
                    .or_else(from_config)
                    .unwrap_or_else(|| Interpreter {
                        program: PathBuf::from(default_interpreter(ext)),
                        origin: Origin::Default,
                    })
            }
            _ => Interpreter {
                program: PathBuf::from("bash"),
                origin: Origin::Default,
            },
        };
        Launcher {
            interpreter,
            max_output_bytes: usize::try_from(settings.max_output_bytes).unwrap_or(usize::MAX),
        }
    }
}

/// orc's interpreter for a script extension, as llm-orc chooses it.
pub fn default_interpreter(ext: &str) -> &'static str {
    match ext {
        "py" => "python3",
        "js" => "node",
        "rb" => "ruby",
        _ => "bash",
    }
}

/// Whether `program` can be started: a path that is a file, or a bare name found on PATH.
pub fn program_exists(program: &Path) -> bool {
    if program.components().count() > 1 || program.is_absolute() {
        return program.is_file();
    }
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths)
            .any(|d| !d.as_os_str().is_empty() && d.join(program).is_file())
    })
}

/// The agents of an ensemble document (JSON, as an MCP client sends it) whose `script:` is inline
/// shell content rather than a file.
pub fn inline_script_agents(doc: &serde_json::Value) -> Vec<String> {
    doc.get("agents")
        .and_then(serde_json::Value::as_array)
        .map(|agents| {
            agents
                .iter()
                .filter(|a| {
                    a.get("script")
                        .and_then(serde_json::Value::as_str)
                        .is_some_and(|s| !is_path_like(s))
                })
                .map(|a| {
                    a.get("name")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or("(unnamed)")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `primitives/<category>/<name>.py` (any category, `-` or `_`) names a built-in primitive.
fn primitive_name(reference: &str) -> Option<&'static str> {
    let rest = reference.strip_prefix("primitives/")?;
    let file = rest.rsplit('/').next()?;
    let stem = file.strip_suffix(".py").unwrap_or(file).replace('-', "_");
    PRIMITIVES.iter().map(|p| p.name).find(|p| *p == stem)
}

/// Whether `path` stays under `root` after `.` and `..` are applied, without touching the disk.
fn lexically_inside(root: &Path, path: &Path) -> bool {
    let mut out: Vec<std::path::Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                if out.pop().is_none() {
                    return false;
                }
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out.iter().collect::<PathBuf>().starts_with(root)
}

/// Where a nested reference (`ensemble:`, `loop.body`, literal `dispatch`) is looked for by
/// file name: the referencing file's own `ensembles/` directory, then the local one.
pub fn nested_candidates(dirs: &Dirs, own_dir: Option<&Path>, reference: &str) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Some(d) = own_dir {
        roots.push(d.to_path_buf());
    }
    if let Some(local) = &dirs.local {
        let l = local.join("ensembles");
        if !roots.contains(&l) {
            roots.push(l);
        }
    }
    roots
        .iter()
        .flat_map(|r| {
            [
                r.join(format!("{reference}.yaml")),
                r.join(format!("{reference}.yml")),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_like() {
        assert!(is_path_like("scripts/x.py"));
        assert!(is_path_like("x.sh"));
        assert!(!is_path_like("echo hello"));
    }

    #[test]
    fn primitive_names() {
        assert_eq!(
            primitive_name("primitives/file-ops/read_file.py"),
            Some("read_file")
        );
        assert_eq!(
            primitive_name("primitives/control-flow/replicate-n-times.py"),
            Some("replicate_n_times")
        );
        assert_eq!(primitive_name("primitives/x/unknown.py"), None);
    }

    #[test]
    fn interpreter_choice_env_over_config_over_default() {
        let target = ScriptTarget::File(PathBuf::from("/p/s.py"));
        let mut settings = ScriptSettings::default();
        let l = Launcher::with_python_env(&settings, &target, None);
        assert_eq!(l.interpreter.program, PathBuf::from("python3"));
        assert_eq!(l.interpreter.origin, Origin::Default);
        settings.interpreters.insert(
            "py".into(),
            crate::load::project::ConfiguredInterpreter {
                program: PathBuf::from("/venv/bin/python"),
                key: "scripts.python".into(),
                file: PathBuf::from("/p/.llm-orc/config.yaml"),
            },
        );
        let l = Launcher::with_python_env(&settings, &target, None);
        assert_eq!(l.interpreter.program, PathBuf::from("/venv/bin/python"));
        assert!(
            l.interpreter
                .describe_origin(Some("py"))
                .contains("`scripts.python` in /p/.llm-orc/config.yaml")
        );
        let l = Launcher::with_python_env(&settings, &target, Some("/other/python".into()));
        assert_eq!(l.interpreter.program, PathBuf::from("/other/python"));
        assert_eq!(l.interpreter.origin, Origin::Env(PYTHON_ENV));
        // ORC_PYTHON is for .py only; an empty value is no choice.
        let sh = ScriptTarget::File(PathBuf::from("/p/s.sh"));
        let l = Launcher::with_python_env(&settings, &sh, Some("/other/python".into()));
        assert_eq!(l.interpreter.program, PathBuf::from("bash"));
        let l = Launcher::with_python_env(&settings, &target, Some("".into()));
        assert_eq!(l.interpreter.program, PathBuf::from("/venv/bin/python"));
    }

    #[test]
    fn inline_agents_in_a_document() {
        let doc = serde_json::json!({"agents": [
            {"name": "a", "script": "echo hi"},
            {"name": "b", "script": "scripts/x.py"},
            {"name": "c", "model_profile": "m"},
        ]});
        assert_eq!(inline_script_agents(&doc), vec!["a".to_string()]);
    }

    #[test]
    fn lexical() {
        assert!(lexically_inside(Path::new("/p"), Path::new("/p/a/../b")));
        assert!(!lexically_inside(Path::new("/p"), Path::new("/p/../etc")));
    }
}
