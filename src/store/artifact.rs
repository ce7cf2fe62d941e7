//! Execution artifacts: `.llm-orc/artifacts/<ensemble>/<YYYYMMDD-HHMMSS-mmm>/execution.json`
//! and `execution.md`, and a `latest` link, in the layout and JSON shape llm-orc's readers use.
//! Files are written to a temporary name and renamed, so a reader never sees half a file.
//!
//! The tree is never left through a link: every folder below `artifacts/` that orc writes into,
//! lists or deletes must be a real folder (`latest`, the link orc manages, is read as a name,
//! never followed). Temporaries are written in the ensemble's folder (`.<file>.tmp-<pid>-<n>`)
//! and renamed into the run folder; ones left by a killed orc are removed by the next run of
//! that ensemble.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{Duration as ChronoDuration, Local};
use serde::Serialize;

pub use super::atomic::ArtifactError;
use super::atomic::{io_err, real_dir, write_atomic_via, write_pretty_ascii};
use crate::pyfmt;
use crate::run::RunResult;
use crate::run::document::{
    AgentResources, ExecutionDoc, ExecutionMetrics, PhaseMetrics, ResourceManagement,
    ResourceSample,
};
use crate::run::results::TimelineRow;

/// Temporaries older than this are removed even if their process seems alive (its id may
/// have been reused).
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// The process id in a temporary's name `.<file>.tmp-<pid>[-<n>]`, if it is one.
fn temporary_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, tail) = rest.rsplit_once(".tmp-")?;
    let mut parts = tail.split('-');
    let pid = parts.next()?.parse().ok()?;
    match (parts.next(), parts.next()) {
        (None, _) => Some(pid),
        (Some(n), None) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => Some(pid),
        _ => None,
    }
}

/// Whether process `pid` may still be writing (on Linux: it exists; elsewhere: assume so and
/// let the age decide).
fn may_be_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(target_os = "linux")]
    {
        Path::new("/proc").join(pid.to_string()).exists()
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

/// Removes the temporaries in `dir` that an orc killed mid-write left behind: those whose
/// process is gone, and any older than an hour. Returns how many were removed.
pub fn remove_stale_temporaries(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(temporary_owner) else {
            continue;
        };
        // Not followed: a link is judged (and removed) as itself.
        let Ok(meta) = fs::symlink_metadata(e.path()) else {
            continue;
        };
        if meta.is_dir() {
            continue;
        }
        let old = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if (old || !may_be_alive(pid)) && fs::remove_file(e.path()).is_ok() {
            tracing::info!(path = %e.path().display(), "removed a stale temporary file");
            removed += 1;
        }
    }
    removed
}

/// Points `<ensemble_dir>/latest` at the newest finished run there (by folder name: what
/// `latest` means everywhere, see `read`), or removes it when no run remains. The one place the
/// link is written; the old link is replaced in one rename so readers always find one.
pub fn relink_latest(ensemble_dir: &Path) -> Result<(), ArtifactError> {
    let link = ensemble_dir.join("latest");
    let Some(target) = super::read::newest_run(ensemble_dir) else {
        return match fs::remove_file(&link) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ArtifactError::Io {
                path: link,
                source: e,
            }),
            _ => Ok(()),
        };
    };
    #[cfg(unix)]
    {
        let tmp = ensemble_dir.join(format!(
            ".latest.tmp-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::os::unix::fs::symlink(&target, &tmp).map_err(io_err(&tmp))?;
        fs::rename(&tmp, &link).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            ArtifactError::Io {
                path: link.clone(),
                source: e,
            }
        })?;
    }
    #[cfg(not(unix))]
    {
        super::atomic::write_atomic(&link, target.as_bytes())?;
    }
    Ok(())
}

/// Creates a fresh run folder named by local time to the millisecond. If another run took that
/// name, the next millisecond is used, so concurrent runs never share a folder.
fn create_run_dir(ensemble_dir: &Path) -> Result<(PathBuf, String), ArtifactError> {
    let mut t = Local::now();
    for _ in 0..10_000 {
        let name = t.format("%Y%m%d-%H%M%S-%3f").to_string();
        let dir = ensemble_dir.join(&name);
        match fs::create_dir(&dir) {
            Ok(()) => return Ok((dir, name)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                t += ChronoDuration::milliseconds(1)
            }
            Err(e) => {
                return Err(ArtifactError::Io {
                    path: dir,
                    source: e,
                });
            }
        }
    }
    Err(ArtifactError::Io {
        path: ensemble_dir.to_path_buf(),
        source: io::Error::new(io::ErrorKind::AlreadyExists, "no free run folder name"),
    })
}

/// Where a run's artifact went.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    pub dir: PathBuf,
    pub json: PathBuf,
    pub markdown: PathBuf,
    /// `<ensemble>/<run-folder>`, the id llm-orc's tools use.
    pub id: String,
}

/// Writes the artifact of `run` (whose JSON document is `doc`) under `root`
/// (`.llm-orc/artifacts`), in `rel_dir` (the ensemble's sub-folder, if any).
pub fn write(
    root: &Path,
    rel_dir: &str,
    run: &RunResult,
    doc: &ExecutionDoc,
) -> Result<Written, ArtifactError> {
    let name = &run.ensemble;
    if name.is_empty() || name.contains(['/', '\\', '\0', '\n']) || name == "." || name == ".." {
        return Err(ArtifactError::BadName {
            name: name.clone(),
            why: "it must be a plain folder name".into(),
        });
    }
    let mut rel = name.clone();
    if !rel_dir.is_empty() {
        crate::load::project::check_relative_name(rel_dir).map_err(|why| {
            ArtifactError::BadName {
                name: rel_dir.to_string(),
                why,
            }
        })?;
        rel = format!("{rel_dir}/{name}");
    }
    let ensemble_dir = real_dir(root, &rel, true)?.ok_or_else(|| ArtifactError::BadName {
        name: rel.clone(),
        why: "the folder could not be created".into(),
    })?;
    remove_stale_temporaries(&ensemble_dir);
    let (dir, folder) = create_run_dir(&ensemble_dir)?;
    let json = dir.join("execution.json");
    let markdown = dir.join("execution.md");
    // Temporaries go beside the run folders, where the next run finds any a crash left.
    // Through a JSON value, as the document was always written (a name listed twice keeps its
    // first place and its last value).
    let value = crate::run::document::to_value(doc);
    write_atomic_via(&ensemble_dir, &json, |f| {
        write_pretty_ascii(io::BufWriter::new(f), &value)
    })?;
    write_atomic_via(&ensemble_dir, &markdown, |f| {
        f.write_all(markdown_report(run).as_bytes())
    })?;
    relink_latest(&ensemble_dir)?;
    Ok(Written {
        dir,
        json,
        markdown,
        id: format!("{name}/{folder}"),
    })
}

/// orc's own process, read from /proc at a moment: CPU time used so far and resident memory.
#[derive(Debug, Clone, Copy)]
pub struct ProcessSample {
    at: std::time::Instant,
    cpu_s: f64,
    rss_kb: f64,
    mem_total_kb: f64,
}

impl ProcessSample {
    /// None where /proc is not there to read (not Linux).
    pub fn now() -> Option<ProcessSample> {
        let at = std::time::Instant::now();
        let stat = fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name (which may hold spaces): state is field 3, utime 14,
        // stime 15, in clock ticks of USER_HZ (100 on Linux's user ABI).
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
        let cpu_s = (ticks(11)? + ticks(12)?) / 100.0;
        let kb = |text: &str, key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))?
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        };
        let rss_kb = kb(&fs::read_to_string("/proc/self/status").ok()?, "VmRSS:")?;
        let mem_total_kb = kb(&fs::read_to_string("/proc/meminfo").ok()?, "MemTotal:")?;
        Some(ProcessSample {
            at,
            cpu_s,
            rss_kb,
            mem_total_kb,
        })
    }
}

fn round1(x: f64) -> f64 {
    if x.is_finite() {
        (x * 10.0).round() / 10.0
    } else {
        0.0
    }
}

/// Adds llm-orc 0.25.2's resource keys to a run's document: `adaptive_resource_management`
/// (see `resource_management`) and, per agent in `usage.agents`, `start_time` and
/// `resource_duration_seconds` (the agent's real start and service time) with the per-agent
/// samples empty (`sample_count: 0`): orc does not sample per agent.
pub fn add_resource_metrics(
    doc: &mut ExecutionDoc,
    run: &RunResult,
    ensemble: &crate::compile::CompiledEnsemble,
    start: Option<ProcessSample>,
) {
    for (name, u) in &mut doc.metadata.usage.agents {
        let row = run.timeline.iter().find(|r| r.agent == *name);
        u.resources = AgentResources::unsampled(
            run.started_at + row.map_or(0.0, |r| r.start_ms) / 1000.0,
            row.map_or(0.0, |r| r.service_ms / 1000.0),
        );
    }
    doc.metadata.adaptive_resource_management = resource_management(run, ensemble, start);
}

/// `metadata.adaptive_resource_management` in llm-orc 0.25.2's shape. llm-orc samples its
/// process once at the end (`measurement_point: final_fallback`); so does orc: from `start`
/// (taken as the run began) to now, CPU is the process's CPU time over the wall time (percent of
/// one core, so above 100 when several cores worked) and memory its resident size as a percent
/// of the machine's. Without /proc the sample lists are empty. Phases are orc's levels, with
/// their agents' real start and end times; they are not sampled apart (`sample_count: 0`).
pub fn resource_management(
    run: &RunResult,
    ensemble: &crate::compile::CompiledEnsemble,
    start: Option<ProcessSample>,
) -> ResourceManagement {
    let sample = start
        .zip(ProcessSample::now())
        .map(|(a, b)| a.usage_until(&b));
    let (cpu, mem) = sample.unwrap_or((0.0, 0.0));
    let samples: Vec<(f64, f64)> = sample.into_iter().collect();
    ResourceManagement {
        resource_metrics: samples
            .iter()
            .map(|&(cpu_percent, memory_percent)| ResourceSample {
                cpu_percent,
                memory_percent,
                circuit_breaker_state: "N/A".into(),
                measurement_point: "final_fallback".into(),
            })
            .collect(),
        execution_metrics: ExecutionMetrics {
            peak_cpu: Some(cpu),
            avg_cpu: Some(cpu),
            peak_memory: Some(mem),
            avg_memory: Some(mem),
            sample_count: Some(samples.len()),
            raw_cpu_samples: Some(samples.iter().map(|s| s.0).collect()),
            raw_memory_samples: Some(samples.iter().map(|s| s.1).collect()),
        },
        phase_metrics: ensemble
            .levels
            .iter()
            .enumerate()
            .map(|(i, level)| phase_metrics(run, ensemble, i, level))
            .collect(),
        ..ResourceManagement::default()
    }
}

impl ProcessSample {
    /// CPU (percent of one core) and memory (percent of the machine's) from `self` to `end`,
    /// rounded to a tenth.
    fn usage_until(&self, end: &ProcessSample) -> (f64, f64) {
        let wall = end.at.duration_since(self.at).as_secs_f64();
        let cpu = if wall > 0.0 {
            (end.cpu_s - self.cpu_s).max(0.0) / wall * 100.0
        } else {
            0.0
        };
        let mem = if end.mem_total_kb > 0.0 {
            end.rss_kb / end.mem_total_kb * 100.0
        } else {
            0.0
        };
        (round1(cpu), round1(mem))
    }
}

/// Level `i` of the ensemble as llm-orc's phase `i`: its agents, when they started and ended.
fn phase_metrics(
    run: &RunResult,
    ensemble: &crate::compile::CompiledEnsemble,
    i: usize,
    level: &[usize],
) -> PhaseMetrics {
    let at = |ms: f64| run.started_at + ms / 1000.0;
    let names: Vec<&str> = level
        .iter()
        .filter_map(|&a| ensemble.agents.get(a).map(|a| a.name.as_str()))
        .collect();
    // An agent's rows: itself, its fan-out instances `name[i]`, its children `name/x`.
    let rows: Vec<&TimelineRow> = run
        .timeline
        .iter()
        .filter(|r| {
            names.iter().any(|n| {
                r.agent == *n
                    || r.agent
                        .strip_prefix(n)
                        .is_some_and(|rest| rest.starts_with('[') || rest.starts_with('/'))
            })
        })
        .collect();
    let min =
        |f: fn(&TimelineRow) -> f64| rows.iter().map(|r| f(r)).reduce(f64::min).unwrap_or(0.0);
    let ready = at(min(|r| r.ready_ms));
    let start = at(min(|r| r.start_ms));
    let end = at(rows
        .iter()
        .map(|r| r.end_ms)
        .reduce(f64::max)
        .unwrap_or(0.0));
    let completed = names
        .iter()
        .filter(|n| run.entry(n).is_some_and(|e| e.is_success()))
        .count();
    PhaseMetrics {
        phase_index: i,
        phase_name: format!("phase_{i}"),
        agent_count: names.len(),
        phase_start_time: ready,
        agent_names: names.iter().map(|n| n.to_string()).collect(),
        start_time: start,
        duration_seconds: (end - start).max(0.0),
        end_time: end,
        agents_completed: completed,
        peak_cpu: 0.0,
        avg_cpu: 0.0,
        peak_memory: 0.0,
        avg_memory: 0.0,
        sample_count: 0,
    }
}

/// A readable report: llm-orc's header lines, then what orc adds (status, usage, each agent).
pub fn markdown_report(run: &RunResult) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Ensemble Execution Report\n");
    let input = serde_json::json!({"data": run.input});
    let _ = writeln!(s, "**Input:** {}\n", pyfmt::repr(&input));
    let _ = writeln!(s, "**Ensemble:** {}  ", run.ensemble);
    let _ = writeln!(s, "**Status:** {}  ", run.status());
    let _ = writeln!(s, "**Duration:** {:.2}s\n", run.duration_s());
    let totals = crate::run::document::totals_to_json(&run.usage);
    let _ = writeln!(s, "## Usage\n");
    let _ = writeln!(
        s,
        "| agent | model | input tokens | output tokens | queue ms | service ms | done |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---|");
    for (name, u) in &run.usage {
        let show = |v: Option<u64>| v.map_or_else(|| "missing".to_string(), |n| n.to_string());
        let row = run.timeline.iter().find(|r| &r.agent == name);
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {:.1} | {:.1} | {} |",
            u.model,
            show(u.usage.input_tokens),
            show(u.usage.output_tokens),
            row.map_or(0.0, |r| r.queue_ms),
            row.map_or(u.service_ms, |r| r.service_ms),
            u.done_reason.as_deref().unwrap_or("?")
        );
    }
    let _ = writeln!(
        s,
        "\nTotal: {} tokens ({} in, {} out) over {} calls; {} with counts missing.\n",
        totals["total_tokens"],
        totals["total_input_tokens"],
        totals["total_output_tokens"],
        totals["agents_count"],
        totals["agents_with_missing_counts"]
    );
    let _ = writeln!(s, "## Agent Results\n");
    for (name, e) in &run.entries {
        let _ = writeln!(s, "### {name}\n");
        let _ = writeln!(s, "**Status:** {}\n", e.outcome());
        if let Some(err) = &e.error {
            let _ = writeln!(s, "**Error:** {err}\n");
        }
        if let Some(inst) = &e.instances {
            let ok = inst
                .iter()
                .filter(|i| i.status == crate::run::Status::Success)
                .count();
            let _ = writeln!(s, "**Instances:** {ok}/{} successful\n", inst.len());
            continue;
        }
        if e.kind == "ensemble" {
            continue;
        }
        let text = pyfmt::str_of(&e.response);
        if !e.response.is_null() && !text.is_empty() {
            let _ = writeln!(s, "```\n{}\n```\n", text.replace("```", "`\u{200b}``"));
        }
    }
    if let Some(d) = &run.deliverable {
        let _ = writeln!(s, "## Deliverable\n\n{d}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::atomic::to_pretty_ascii;
    use serde_json::json;

    #[test]
    fn pretty_ascii_like_python() {
        let v = json!({"a": "é", "b": [], "c": {}, "d": [1, 2]});
        assert_eq!(
            to_pretty_ascii(&v),
            "{\n  \"a\": \"\\u00e9\",\n  \"b\": [],\n  \"c\": {},\n  \"d\": [\n    1,\n    2\n  ]\n}"
        );
    }

    #[test]
    fn temporary_names_are_recognised() {
        assert_eq!(
            temporary_owner(".execution.json.tmp-4242-1234567"),
            Some(4242)
        );
        assert_eq!(temporary_owner(".latest.tmp-77"), Some(77));
        assert_eq!(temporary_owner("execution.json"), None);
        assert_eq!(temporary_owner("20260101-000000-000"), None);
        assert_eq!(temporary_owner(".notes.tmp-x-1"), None);
        assert_eq!(temporary_owner(".a.tmp-1-2-3"), None);
    }

    #[test]
    fn run_folders_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..20)
            .map(|_| create_run_dir(dir.path()).unwrap().1)
            .collect();
        let mut sorted = names.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), 20);
        assert!(
            names
                .iter()
                .all(|n| n.len() == 19 && n.as_bytes()[8] == b'-' && n.as_bytes()[15] == b'-')
        );
    }
}
