//! Resolving references out of an ensemble: script paths and nested ensemble names.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Dirs, stays_inside};

/// Built-in script primitives (see the control-flow and primitives issue); a `primitives/...`
/// reference to one of these names needs no file.
pub const PRIMITIVES: &[&str] = &[
    "read_file",
    "write_file",
    "json_extract",
    "replicate_n_times",
    "get_user_input",
    "confirm_action",
];

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
        .unwrap_or_else(|| base.join(crate::config::LOCAL_DIR));
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
pub fn resolve_script(dirs: &Dirs, reference: &str) -> Result<ScriptTarget, ScriptProblem> {
    if !is_path_like(reference) {
        return Ok(ScriptTarget::Inline(reference.to_string()));
    }
    let base = dirs.script_base().to_path_buf();
    let as_path = Path::new(reference);
    let candidates: Vec<PathBuf> = if as_path.is_absolute() {
        vec![as_path.to_path_buf()]
    } else {
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
    };
    for c in &candidates {
        if c.is_file() {
            if !stays_inside(&base, c) {
                let resolved = std::fs::canonicalize(c).unwrap_or_else(|_| c.clone());
                return Err(ScriptProblem::Escapes {
                    resolved,
                    root: base,
                });
            }
            return Ok(ScriptTarget::File(c.clone()));
        }
    }
    if let Some(name) = primitive_name(reference) {
        return Ok(ScriptTarget::Primitive(name.to_string()));
    }
    // A relative path that climbs out is an escape even when nothing is there.
    if !as_path.is_absolute()
        && as_path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        let joined = base.join(as_path);
        if !lexically_inside(&base, &joined) {
            return Err(ScriptProblem::Escapes {
                resolved: joined,
                root: base,
            });
        }
    }
    if as_path.is_absolute() && !lexically_inside(&base, as_path) {
        return Err(ScriptProblem::Escapes {
            resolved: as_path.to_path_buf(),
            root: base,
        });
    }
    let mut looked_in = script_search_dirs(dirs);
    if as_path.is_absolute() {
        looked_in = vec![as_path.to_path_buf()];
    }
    Err(ScriptProblem::Missing { looked_in })
}

/// `primitives/<category>/<name>.py` (any category, `-` or `_`) names a built-in primitive.
fn primitive_name(reference: &str) -> Option<&'static str> {
    let rest = reference.strip_prefix("primitives/")?;
    let file = rest.rsplit('/').next()?;
    let stem = file.strip_suffix(".py").unwrap_or(file).replace('-', "_");
    PRIMITIVES.iter().copied().find(|p| *p == stem)
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
    fn lexical() {
        assert!(lexically_inside(Path::new("/p"), Path::new("/p/a/../b")));
        assert!(!lexically_inside(Path::new("/p"), Path::new("/p/../etc")));
    }
}
