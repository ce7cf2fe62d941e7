//! Run artifacts through the service: analyse one, delete one, clean up old ones.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::files::*;
use crate::load::project::{check_relative_name, read_text};
use crate::service::{Service, ServiceError};

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
            refuse(format!("Artifact not found: {id}{hint}"))
        };
        // No link inside the artifacts tree is followed; `latest` is read as a name.
        let ens_dir = crate::store::atomic::real_dir(&root, ens, false)
            .map_err(|e| refuse(e.to_string()))?
            .ok_or_else(not_found)?;
        let run = if run == "latest" {
            crate::store::artifact::latest_target(&ens_dir).ok_or_else(not_found)?
        } else {
            run.to_string()
        };
        let dir = ens_dir.join(run);
        if !crate::store::atomic::is_real_dir(&dir) || !dir.join("execution.json").is_file() {
            return Err(not_found());
        }
        Ok(dir)
    }

    pub fn mcp_analyze(&self, id: &str) -> Result<Value, ServiceError> {
        let dir = self.artifact_dir(id)?;
        let path = dir.join("execution.json");
        let v: Value = serde_json::from_str(&read_text(&path).map_err(|d| refuse(d.to_string()))?)
            .map_err(|e| refuse(format!("{}: {e}", path.display())))?;
        let results = v["results"].as_object().cloned().unwrap_or_default();
        let total = results.len();
        let ok = results
            .values()
            .filter(|r| r["status"] == "success")
            .count();
        let failed: Vec<Value> = results
            .iter()
            .filter(|(_, r)| r["status"] == "failed")
            .map(|(n, r)| json!({"agent": n, "error": r["error"]}))
            .collect();
        let totals = &v["metadata"]["usage"]["totals"];
        let duration = v["metadata"]["duration"]
            .as_str()
            .and_then(|d| d.trim_end_matches('s').parse::<f64>().ok())
            .unwrap_or(0.0);
        let mut slowest: Vec<Value> = v["metadata"]["orc"]["timeline"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        slowest.sort_by(|a, b| {
            b["service_ms"]
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&a["service_ms"].as_f64().unwrap_or(0.0))
        });
        slowest.truncate(5);
        // The same words as invoke and run_status (llm-orc 0.25.2's MCP words): `status` is
        // success / error, `executor_status` the artifact's completed / completed_with_errors /
        // interrupted.
        let run_failed = v["has_errors"] == true
            || v["status"]
                .as_str()
                .is_some_and(|s| s != "completed" && s != "success");
        Ok(json!({
            "artifact_id": id,
            "ensemble": v["ensemble"],
            "status": if run_failed { "error" } else { "success" },
            "executor_status": v["status"],
            "analysis": {"total_agents": total, "successful_agents": ok, "failed_agents": failed.len(), "failures": failed},
            "metrics": {
                "agent_success_rate": if total == 0 { 0.0 } else { ok as f64 / total as f64 },
                "cost": totals["total_cost_usd"].as_f64().unwrap_or(0.0),
                "duration": duration,
                "total_tokens": totals["total_tokens"],
                "input_tokens": totals["total_input_tokens"],
                "output_tokens": totals["total_output_tokens"],
                "agents_with_missing_counts": totals["agents_with_missing_counts"],
            },
            "slowest_agents": slowest,
            "deliverable": v["deliverable"],
        }))
    }

    /// Points `latest` at the newest remaining run, or removes it when none remains.
    fn relink(&self, ensemble_dir: &Path) {
        let mut runs: Vec<String> = fs::read_dir(ensemble_dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| is_run_folder(n))
                    .collect()
            })
            .unwrap_or_default();
        runs.sort();
        let link = ensemble_dir.join("latest");
        match runs.last() {
            Some(newest) => {
                #[cfg(unix)]
                {
                    let tmp = ensemble_dir.join(format!(".latest.tmp-{}", std::process::id()));
                    let _ = fs::remove_file(&tmp);
                    if std::os::unix::fs::symlink(newest, &tmp).is_ok() {
                        let _ = fs::rename(&tmp, &link);
                    }
                }
            }
            None => {
                let _ = fs::remove_file(&link);
            }
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
                if let Some(dir) = crate::store::atomic::real_dir(&root, e, false)
                    .map_err(|err| refuse(err.to_string()))?
                {
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

fn is_run_folder(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() == 19
        && b[8] == b'-'
        && b[15] == b'-'
        && n.chars()
            .enumerate()
            .all(|(i, c)| i == 8 || i == 15 || c.is_ascii_digit())
}
