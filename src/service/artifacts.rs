//! Run artifacts through the service: analyse one, delete one, clean up old ones.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::files::*;
use crate::load::project::check_relative_name;
use crate::run::results::TimelineRow;
use crate::service::{Service, ServiceError};
use crate::store::read::{Artifact, LocateError, Totals, is_run_folder};

/// A run's summary (`analyze_execution`).
#[derive(Debug, Clone)]
pub struct Analysis {
    pub artifact_id: String,
    pub ensemble: Option<String>,
    /// The run failed: it has errors, or its status is neither completed nor success.
    pub failed: bool,
    /// The artifact's own status word (`completed`, `completed_with_errors`, `interrupted`).
    pub executor_status: Option<String>,
    pub total_agents: usize,
    pub successful_agents: usize,
    pub failures: Vec<Failure>,
    pub duration_s: f64,
    pub totals: Totals,
    /// The five longest services, longest first.
    pub slowest: Vec<TimelineRow>,
    pub deliverable: Option<Value>,
}

/// An agent that failed, with its error as the artifact holds it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub agent: String,
    pub error: Option<Value>,
}

impl Service {
    /// `ensemble/run-folder` (or `ensemble/latest`) -> the run folder.
    fn artifact_dir(&self, id: &str) -> Result<PathBuf, ServiceError> {
        let root = self.artifacts_root();
        let Some((ens, run)) = id.rsplit_once('/') else {
            return Err(refuse(format!(
                "Invalid artifact_id format: {id} (expected ensemble/timestamp)"
            )));
        };
        check_relative_name(id)
            .map_err(|why| refuse(format!("Invalid artifact_id `{id}`: {why}")))?;
        let not_found = || {
            let hint = if root.join(ens).is_dir() {
                let runs: Vec<String> = entry_names(&root.join(ens))
                    .into_iter()
                    .filter(|n| is_run_folder(n) || n == "latest")
                    .map(|n| format!("{ens}/{n}"))
                    .collect();
                did_you_mean(id, runs.iter().map(String::as_str))
            } else {
                let ensembles: Vec<String> = entry_names(&root)
                    .into_iter()
                    .map(|n| format!("{n}/{run}"))
                    .collect();
                did_you_mean(id, ensembles.iter().map(String::as_str))
            };
            ServiceError::Missing(format!("Artifact not found: {id}{hint}"))
        };
        // No link inside the artifacts tree is followed; `latest` is the newest run folder.
        match crate::store::read::locate(&root, Some(ens), run) {
            Ok(l) => Ok(l.dir),
            Err(LocateError::NotFound { .. }) => Err(not_found()),
            Err(LocateError::Store(e)) => Err(e.into()),
        }
    }

    /// Summarises a run's artifact (`ensemble/run-folder` or `ensemble/latest`).
    pub fn analyze(&self, id: &str) -> Result<Analysis, ServiceError> {
        let dir = self.artifact_dir(id)?;
        let v = Artifact::read(&dir.join("execution.json"))?;
        let successful_agents = v
            .results
            .iter()
            .filter(|(_, r)| r.status == "success")
            .count();
        let failures = v
            .results
            .iter()
            .filter(|(_, r)| r.status == "failed")
            .map(|(n, r)| Failure {
                agent: n.clone(),
                error: r.error.clone(),
            })
            .collect();
        let duration_s = v
            .metadata
            .duration
            .as_deref()
            .and_then(|d| d.trim_end_matches('s').parse::<f64>().ok())
            .unwrap_or(0.0);
        let mut slowest: Vec<TimelineRow> = v.timeline().map(<[_]>::to_vec).unwrap_or_default();
        slowest.sort_by(|a, b| b.service_ms.total_cmp(&a.service_ms));
        slowest.truncate(5);
        let failed = v.has_errors
            || v.status
                .as_deref()
                .is_some_and(|s| s != "completed" && s != "success");
        Ok(Analysis {
            artifact_id: id.to_string(),
            failed,
            total_agents: v.results.len(),
            successful_agents,
            failures,
            duration_s,
            totals: v.metadata.usage.totals,
            slowest,
            ensemble: v.ensemble,
            executor_status: v.status,
            deliverable: v.deliverable,
        })
    }

    /// Points `latest` at the newest remaining run, or removes it when none remains.
    fn relink(&self, ensemble_dir: &Path) {
        if let Err(e) = crate::store::artifact::relink_latest(ensemble_dir) {
            tracing::warn!(error = %e, "could not update the `latest` link");
        }
    }

    /// Deletes one run's artifact; `latest` follows.
    pub fn delete_artifact(&self, id: &str, confirm: bool) -> Result<(), ServiceError> {
        if !confirm {
            return Err(refuse(
                "Confirmation required to delete artifact (pass confirm: true)",
            ));
        }
        // A real folder reached without links (artifact_dir): nothing outside can be hit.
        let dir = self.artifact_dir(id)?;
        fs::remove_dir_all(&dir).map_err(io(&dir))?;
        if let Some(parent) = dir.parent() {
            self.relink(parent);
        }
        Ok(())
    }

    /// Deletes (or with `dry_run` only lists) the runs older than `older_than_days` by the time
    /// in their folder's name, of one ensemble or all; returns their ids, sorted.
    pub fn cleanup_artifacts(
        &self,
        ensemble: Option<&str>,
        older_than_days: u64,
        dry_run: bool,
    ) -> Result<Vec<String>, ServiceError> {
        let root = self.artifacts_root();
        let cutoff =
            chrono::Local::now().naive_local() - chrono::Duration::days(older_than_days as i64);
        let mut dirs = Vec::new();
        match ensemble {
            Some(e) => {
                check_relative_name(e)
                    .map_err(|why| refuse(format!("invalid ensemble name: {why}")))?;
                // A linked ensemble folder is refused, never followed.
                if let Some(dir) = crate::store::atomic::real_dir(&root, e, false)? {
                    dirs.push((e.to_string(), dir));
                }
            }
            None => {
                for en in fs::read_dir(&root).into_iter().flatten().flatten() {
                    // file_type does not follow links: a linked folder is skipped.
                    if en.file_type().is_ok_and(|t| t.is_dir()) {
                        dirs.push((en.file_name().to_string_lossy().into_owned(), en.path()));
                    } else if en.file_type().is_ok_and(|t| t.is_symlink()) {
                        tracing::warn!(path = %en.path().display(), "cleanup_artifacts: skipped a symbolic link");
                    }
                }
            }
        }
        let mut ids = Vec::new();
        for (name, dir) in &dirs {
            for run in fs::read_dir(dir).into_iter().flatten().flatten() {
                let folder = run.file_name().to_string_lossy().into_owned();
                if !is_run_folder(&folder) || !run.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let when =
                    chrono::NaiveDateTime::parse_from_str(&folder[..15], "%Y%m%d-%H%M%S").ok();
                if when.is_some_and(|w| w <= cutoff) {
                    ids.push((format!("{name}/{folder}"), run.path(), dir.clone()));
                }
            }
        }
        ids.sort_by(|a, b| a.0.cmp(&b.0));
        if !dry_run {
            for (_, path, _) in &ids {
                fs::remove_dir_all(path).map_err(io(path))?;
            }
            for (_, dir) in &dirs {
                self.relink(dir);
                crate::store::artifact::remove_stale_temporaries(dir);
            }
        }
        Ok(ids.into_iter().map(|(id, _, _)| id).collect())
    }

    // ------------------------------------------------------------------ library
}
