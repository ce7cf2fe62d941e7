//! Run artifacts through the service: analyse one, delete one, clean up old ones.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::files::*;
use crate::load::project::check_relative_name;
use crate::run::results::TimelineRow;
use crate::service::{Service, ServiceError};
use crate::store::read::{Artifact, LocateError, is_run_folder};

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

    pub fn mcp_analyze(&self, id: &str) -> Result<Value, ServiceError> {
        let dir = self.artifact_dir(id)?;
        let v = Artifact::read(&dir.join("execution.json"))?;
        let total = v.results.len();
        let ok = v
            .results
            .iter()
            .filter(|(_, r)| r.status == "success")
            .count();
        let failed: Vec<Value> = v
            .results
            .iter()
            .filter(|(_, r)| r.status == "failed")
            .map(|(n, r)| json!({"agent": n, "error": r.error}))
            .collect();
        let totals = &v.metadata.usage.totals;
        let duration = v
            .metadata
            .duration
            .as_deref()
            .and_then(|d| d.trim_end_matches('s').parse::<f64>().ok())
            .unwrap_or(0.0);
        let mut slowest: Vec<TimelineRow> = v.timeline().map(<[_]>::to_vec).unwrap_or_default();
        slowest.sort_by(|a, b| b.service_ms.total_cmp(&a.service_ms));
        slowest.truncate(5);
        // The same words as invoke and run_status (llm-orc 0.25.2's MCP words): `status` is
        // success / error, `executor_status` the artifact's completed / completed_with_errors /
        // interrupted.
        let run_failed = v.has_errors
            || v.status
                .as_deref()
                .is_some_and(|s| s != "completed" && s != "success");
        Ok(json!({
            "artifact_id": id,
            "ensemble": v.ensemble,
            "status": if run_failed { "error" } else { "success" },
            "executor_status": v.status,
            "analysis": {"total_agents": total, "successful_agents": ok, "failed_agents": failed.len(), "failures": failed},
            "metrics": {
                "agent_success_rate": if total == 0 { 0.0 } else { ok as f64 / total as f64 },
                "cost": totals.total_cost_usd.unwrap_or(0.0),
                "duration": duration,
                "total_tokens": totals.total_tokens,
                "input_tokens": totals.total_input_tokens,
                "output_tokens": totals.total_output_tokens,
                "agents_with_missing_counts": totals.agents_with_missing_counts,
            },
            "slowest_agents": slowest,
            "deliverable": v.deliverable,
        }))
    }

    /// Points `latest` at the newest remaining run, or removes it when none remains.
    fn relink(&self, ensemble_dir: &Path) {
        if let Err(e) = crate::store::artifact::relink_latest(ensemble_dir) {
            tracing::warn!(error = %e, "could not update the `latest` link");
        }
    }

    pub fn mcp_delete_artifact(&self, id: &str, confirm: bool) -> Result<Value, ServiceError> {
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
        Ok(json!({"deleted": true, "artifact_id": id}))
    }

    pub fn mcp_cleanup(
        &self,
        ensemble: Option<&str>,
        older_than_days: u64,
        dry_run: bool,
    ) -> Result<Value, ServiceError> {
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
        let list: Vec<&String> = ids.iter().map(|(i, _, _)| i).collect();
        Ok(if dry_run {
            json!({"dry_run": true, "would_delete": list, "count": list.len()})
        } else {
            json!({"dry_run": false, "deleted": list, "count": list.len()})
        })
    }

    // ------------------------------------------------------------------ library
}
