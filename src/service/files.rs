//! What every operation shares: refusals, I/O errors with their path, names that must stay
//! inside their folder, writing YAML files.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::load::diag::Diagnostic;
use crate::load::project::{check_relative_name, stays_inside};
use crate::service::ServiceError;

/// A refusal with a message for the client.
pub(crate) fn refuse(msg: impl Into<String>) -> ServiceError {
    ServiceError::Refused(msg.into())
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ServiceError + '_ {
    move |source| ServiceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `root/name.ext`, refusing names that leave `root` (`..`, absolute paths, NUL, symlinks out).
pub fn safe_join(root: &Path, name: &str, ext: &str) -> Result<PathBuf, ServiceError> {
    check_relative_name(name)
        .map_err(|why| refuse(format!("invalid name `{}`: {why}", name.escape_debug())))?;
    let file = if ext.is_empty() || name.ends_with(ext) {
        name.to_string()
    } else {
        format!("{name}{ext}")
    };
    let path = root.join(&file);
    // The deepest part that exists must resolve inside the root (no symlinked way out).
    let mut probe = path.clone();
    while !probe.exists() {
        if !probe.pop() {
            break;
        }
    }
    if probe.exists() && root.exists() && !stays_inside(root, &probe) {
        return Err(refuse(format!(
            "`{name}` resolves outside {}",
            root.display()
        )));
    }
    if path.is_symlink() && !stays_inside(root, &path) {
        return Err(refuse(format!(
            "`{name}` is a link that leaves {}",
            root.display()
        )));
    }
    Ok(path)
}

/// ` (did you mean `x`?)` when one of `known` is close to `name`, else nothing: the same
/// suggestion the CLI gives, for every "not found" answer.
pub(crate) fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    crate::load::diag::closest(name, known)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

/// The names of the entries of `dir` (folders and files), for suggestions.
pub(crate) fn entry_names(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .take(10_000)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

pub(crate) fn to_yaml(v: &Value) -> Result<String, ServiceError> {
    serde_saphyr::to_string(v).map_err(|e| refuse(format!("cannot write YAML: {e}")))
}

pub(crate) fn write_new(path: &Path, text: &str, overwrite: bool) -> Result<(), ServiceError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    if path.exists() && !overwrite {
        return Err(refuse(format!("File already exists: {}", path.display())));
    }
    crate::store::atomic::write_atomic(path, text.as_bytes()).map_err(ServiceError::from)
}

/// Refuses an ensemble or agent name that `validate` would refuse (control characters, bidi
/// marks, names that cannot be an artifact folder) before anything is written.
pub(crate) fn refuse_bad_names(ensemble: &str, agents: &[Value]) -> Result<(), ServiceError> {
    use crate::load::spec::{name_problem, shown};
    if let Some(why) = name_problem(ensemble, true) {
        return Err(refuse(format!(
            "the ensemble name {} {why}",
            shown(ensemble)
        )));
    }
    for a in agents {
        if let Some(n) = a["name"].as_str()
            && let Some(why) = name_problem(n, false)
        {
            return Err(refuse(format!("the agent name {} {why}", shown(n))));
        }
    }
    Ok(())
}

pub(crate) fn diag_lines(diags: &[Diagnostic], errors: bool) -> Vec<String> {
    diags
        .iter()
        .filter(|d| d.is_error() == errors)
        .map(|d| {
            let mut s = d.to_string();
            if let Some(i) = s.find("\n  hint: ") {
                s.replace_range(i..i + 9, " (hint: ");
                s.push(')');
            }
            s
        })
        .collect()
}
