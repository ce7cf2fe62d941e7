//! Reading artifacts back: the one way to find a run (`locate`, and `find` for a command-line
//! argument), the one meaning of `latest` (the newest run folder by the time in its name, as
//! cleanup orders them; the `latest` link is only a convenience for people, never read here),
//! and the typed read of an execution.json (`Artifact`) that `--resume`, the timeline and
//! `analyze_execution` share.
//!
//! No link inside the artifacts tree is followed (see `artifact`).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::atomic::{ArtifactError, is_real_dir, real_dir};
use crate::run::Reusable;
pub use crate::run::document::{
    ExecutionDoc, Input, Metadata, OrcMeta, ResultEntry, Totals, UsageMeta,
};
use crate::run::results::TimelineRow;

/// Whether `name` is a run folder's name: `YYYYMMDD-HHMMSS-mmm`.
pub fn is_run_folder(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| {
            if i == 8 || i == 15 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// The finished runs in an ensemble's folder (real run folders holding an execution.json),
/// oldest first by the time in their names.
pub fn runs(ensemble_dir: &Path) -> Vec<String> {
    let mut runs: Vec<String> = fs::read_dir(ensemble_dir)
        .into_iter()
        .flatten()
        .flatten()
        // file_type does not follow links: a linked folder is not a run.
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| is_run_folder(n) && ensemble_dir.join(n).join("execution.json").is_file())
        .collect();
    runs.sort();
    runs
}

/// The newest finished run in an ensemble's folder: what `latest` means everywhere.
pub fn newest_run(ensemble_dir: &Path) -> Option<String> {
    runs(ensemble_dir).pop()
}

/// A run found in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The run folder.
    pub dir: PathBuf,
}

impl Located {
    pub fn json(&self) -> PathBuf {
        self.dir.join("execution.json")
    }

    /// The run folder's name.
    pub fn folder(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error(
        "no artifact found for `{wanted}` (looked for a path, an ensemble name, `ensemble/run` and `latest` under {})",
        root.display()
    )]
    NotFound { wanted: String, root: PathBuf },
    #[error(transparent)]
    Store(#[from] ArtifactError),
}

/// The run `run` (a run folder's name, or `latest`: the newest) of `ensemble` (the folder
/// under `root` that holds its runs; a sub-path for an ensemble in a sub-folder), or with no
/// ensemble, the newest run of any ensemble.
pub fn locate(root: &Path, ensemble: Option<&str>, run: &str) -> Result<Located, LocateError> {
    let not_found = || LocateError::NotFound {
        wanted: match ensemble {
            Some(e) => format!("{e}/{run}"),
            None => run.to_string(),
        },
        root: root.to_path_buf(),
    };
    let Some(ensemble) = ensemble else {
        if run != "latest" {
            return Err(not_found());
        }
        let mut newest: Option<(String, PathBuf)> = None;
        newest_anywhere(root, 0, &mut newest);
        return newest.map(|(_, dir)| Located { dir }).ok_or_else(not_found);
    };
    let ensemble_dir = real_dir(root, ensemble, false)?.ok_or_else(not_found)?;
    let folder = if run == "latest" {
        newest_run(&ensemble_dir).ok_or_else(not_found)?
    } else {
        let plain = !run.is_empty() && !run.starts_with('.') && !run.contains(['/', '\\', '\0']);
        if !plain {
            return Err(not_found());
        }
        run.to_string()
    };
    let dir = ensemble_dir.join(folder);
    if !is_real_dir(&dir) || !dir.join("execution.json").is_file() {
        return Err(not_found());
    }
    Ok(Located { dir })
}

/// The newest run below `dir` (by run folder name, then path), links not followed.
fn newest_anywhere(dir: &Path, depth: usize, newest: &mut Option<(String, PathBuf)>) {
    if depth > 6 {
        return;
    }
    if let Some(run) = newest_run(dir) {
        let path = dir.join(&run);
        if newest.as_ref().is_none_or(|(n, p)| (&run, &path) > (n, p)) {
            *newest = Some((run, path));
        }
    }
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name();
        let is_run = name.to_str().is_some_and(is_run_folder);
        if !is_run && e.file_type().is_ok_and(|t| t.is_dir()) {
            newest_anywhere(&e.path(), depth + 1, newest);
        }
    }
}

/// Finds the execution.json a command-line argument names: a path (the file or its run
/// folder), `latest` (the newest run of any ensemble), an ensemble (its newest run), or
/// `ensemble/run` (`run` a run folder or `latest`).
pub fn find(root: &Path, arg: &str) -> Result<PathBuf, LocateError> {
    let p = Path::new(arg);
    if p.is_file() {
        return Ok(p.to_path_buf());
    }
    if p.join("execution.json").is_file() {
        return Ok(p.join("execution.json"));
    }
    let not_found = || LocateError::NotFound {
        wanted: arg.to_string(),
        root: root.to_path_buf(),
    };
    if arg == "latest" {
        return locate(root, None, "latest")
            .map(|l| l.json())
            .map_err(|_| not_found());
    }
    crate::load::project::check_relative_name(arg).map_err(|_| not_found())?;
    let mut tries = vec![(arg, "latest")];
    if let Some(split) = arg.rsplit_once('/') {
        tries.push(split);
    }
    let mut refused = None;
    for (ensemble, run) in tries {
        match locate(root, Some(ensemble), run) {
            Ok(l) => return Ok(l.json()),
            // A link is refused with its own message (when no other reading matches).
            Err(LocateError::Store(e @ ArtifactError::Link { .. })) => {
                refused.get_or_insert(e);
            }
            Err(_) => {}
        }
    }
    if let Some(e) = refused {
        return Err(e.into());
    }
    Err(not_found())
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not an execution.json orc can read.
    #[error("{}: {why}", path.display())]
    Invalid { path: PathBuf, why: String },
}

/// An execution.json as orc's readers know it: the one typed document, written by the run
/// (`run::document`) and read back here.
pub type Artifact = ExecutionDoc;

impl ExecutionDoc {
    /// Reads and types an execution.json.
    pub fn read(path: &Path) -> Result<ExecutionDoc, ReadError> {
        let text = fs::read_to_string(path).map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| ReadError::Invalid {
            path: path.to_path_buf(),
            why: e.to_string(),
        })
    }

    pub fn timeline(&self) -> Option<&[TimelineRow]> {
        self.metadata.orc.as_ref()?.timeline.as_deref()
    }

    /// What a new run may reuse (`--resume`): every successful LLM or script result that
    /// recorded its input hash.
    pub fn reusable(&self) -> HashMap<String, Reusable> {
        let Some(orc) = &self.metadata.orc else {
            return HashMap::new();
        };
        orc.inputs
            .iter()
            .filter_map(|(name, hash)| {
                let (_, r) = self.results.iter().find(|(n, _)| n == name)?;
                (r.status == "success").then(|| {
                    (
                        name.clone(),
                        Reusable {
                            input_hash: hash.clone(),
                            response: r.response.clone(),
                            model_substituted: r.model_substituted.unwrap_or(false),
                            agent_requests: r.agent_requests.clone(),
                        },
                    )
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_folder_names() {
        assert!(is_run_folder("20260101-120000-123"));
        assert!(!is_run_folder("latest"));
        assert!(!is_run_folder("20260101-120000-12x"));
        assert!(!is_run_folder("20260101x120000-123"));
    }

    #[test]
    fn latest_is_the_newest_folder_name_not_the_newest_file() {
        let root = tempfile::tempdir().unwrap();
        let ens = root.path().join("e");
        for run in ["20260102-000000-000", "20260101-000000-000"] {
            fs::create_dir_all(ens.join(run)).unwrap();
            fs::write(ens.join(run).join("execution.json"), "{}").unwrap();
        }
        // A folder without an execution.json (a run being written) is not a run yet.
        fs::create_dir_all(ens.join("20260103-000000-000")).unwrap();
        let l = locate(root.path(), Some("e"), "latest").unwrap();
        assert_eq!(l.folder(), "20260102-000000-000");
        assert_eq!(locate(root.path(), None, "latest").unwrap(), l);
        assert!(matches!(
            locate(root.path(), Some("e"), ".."),
            Err(LocateError::NotFound { .. })
        ));
    }
}
