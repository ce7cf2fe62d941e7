//! The versioned routing config `learn` writes: `routing-config.vN.yaml`, the current one
//! (`routing-config.yaml`), its history and rollback, under the lock that serialises learn and
//! rollback across processes. Routing reads only the current version.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::learn::records::{self, Seen};
use crate::learn::{LearnError, Paths};

/// One task type's learned route, in `routing-config.vN.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteRule {
    /// `local` or `claude`.
    pub route: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<String>,
    /// The highest model tier the ensemble uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Judged runs behind the rule.
    pub evidence: u64,
    pub reason: String,
}

/// What a rollback pinned: for each task type whose rule it undid, the evaluations logged at the
/// rollback. Learning then reads only the evaluations after that line for those task types, so
/// the next batch cannot re-derive the rule from the evidence that was rolled back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pin {
    /// The version made current.
    pub version: u64,
    /// The version rolled back from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<u64>,
    pub at: String,
    /// Task type -> evaluations.jsonl lines at the rollback (newer lines are new evidence).
    pub task_types: BTreeMap<String, u64>,
}

/// `routing-config.yaml` / `routing-config.vN.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingConfig {
    pub version: u64,
    pub created_at: String,
    /// Evaluations in evaluations.jsonl when it was learned.
    pub evaluations_seen: u64,
    pub routes: BTreeMap<String, RouteRule>,
    /// Set by a rollback and kept by later learns until `learn --unpin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<Pin>,
    /// Per task type, the net a delegation must be predicted to save (see `breakeven`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub breakeven: BTreeMap<String, Threshold>,
}

/// A learned threshold for one task type, in `routing-config.yaml` (`breakeven:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// Local runs measured.
    pub runs: u64,
    /// Their mean net per run (gross - hand-over - judging), estimated.
    pub mean_net_usd: f64,
    /// The predicted net a delegation of this type must exceed.
    pub min_net_usd: f64,
}

/// One version in `routing history`.
#[derive(Debug, Clone, Serialize)]
pub struct Version {
    pub version: u64,
    pub created_at: String,
    pub evaluations_seen: u64,
    pub routes: usize,
    pub current: bool,
    pub file: String,
    /// Why the file could not be read (the other versions are still listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The highest version number orc writes or reads: far past any real history, so the next one
/// never overflows (a planted `routing-config.v18446744073709551615.yaml` is ignored).
pub const MAX_VERSION: u64 = 1_000_000_000;

fn yaml_err(path: &Path, e: impl std::fmt::Display) -> LearnError {
    LearnError::Refused(format!("{}: {e}", path.display()))
}

pub(super) fn write_yaml<T: Serialize>(
    path: &Path,
    header: &str,
    value: &T,
) -> Result<(), LearnError> {
    // The write replaces a link at `path` (a rename), never follows one; the folder is checked.
    crate::learn::refuse_linked_dirs(path).map_err(LearnError::io(path))?;
    let body = serde_saphyr::to_string(value).map_err(|e| yaml_err(path, e))?;
    crate::store::atomic::write_atomic(path, format!("{header}{body}").as_bytes())
        .map_err(|e| yaml_err(path, e))
}

fn read_yaml<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, LearnError> {
    let read =
        crate::learn::open_no_follow(path, OpenOptions::new().read(true)).and_then(|mut f| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut f, &mut text).map(|_| text)
        });
    match read {
        Ok(text) => serde_saphyr::from_str(&text)
            .map(Some)
            .map_err(|e| yaml_err(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LearnError::io(path)(e)),
    }
}

/// The current routing config, if one was learned.
pub fn current(paths: &Paths) -> Result<Option<RoutingConfig>, LearnError> {
    read_yaml(&paths.routing_config())
}

/// Holds `.llm-orc/evaluations/.learn.lock` while alive.
pub(super) struct LearnLock(std::fs::File);

impl LearnLock {
    pub(super) fn take(paths: &Paths) -> Result<LearnLock, LearnError> {
        crate::learn::ensure_dir(&paths.dir)?;
        let p = paths.dir.join(".learn.lock");
        let f = crate::learn::open_no_follow(
            &p,
            OpenOptions::new().create(true).truncate(false).write(true),
        )
        .map_err(LearnError::io(&p))?;
        f.lock().map_err(LearnError::io(&p))?;
        Ok(LearnLock(f))
    }
}

impl Drop for LearnLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

pub(super) fn versions(paths: &Paths) -> Result<Vec<u64>, LearnError> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(&paths.dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(LearnError::io(&paths.dir)(e)),
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(n) = name
            .strip_prefix("routing-config.v")
            .and_then(|r| r.strip_suffix(".yaml"))
            .filter(|n| !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|n| (1..=MAX_VERSION).contains(n))
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Every routing config version, oldest first. A version file that cannot be read is listed
/// with its error, and a current config that cannot be read marks none current: the history
/// is what a user needs to roll back, so one bad file never hides it.
pub fn history(paths: &Paths) -> Result<Vec<Version>, LearnError> {
    let cur = current(paths).ok().flatten().map(|c| c.version);
    let mut out = Vec::new();
    for n in versions(paths)? {
        let path = paths.routing_version(n);
        let file = path.display().to_string();
        match read_yaml::<RoutingConfig>(&path) {
            Ok(Some(c)) => out.push(Version {
                version: n,
                created_at: c.created_at,
                evaluations_seen: c.evaluations_seen,
                routes: c.routes.len(),
                current: cur == Some(n),
                file,
                error: None,
            }),
            Ok(None) => {}
            Err(e) => out.push(Version {
                version: n,
                created_at: String::new(),
                evaluations_seen: 0,
                routes: 0,
                current: false,
                file,
                error: Some(e.to_string()),
            }),
        }
    }
    Ok(out)
}

/// Makes version `n` current again.
pub fn rollback(paths: &Paths, n: u64) -> Result<RoutingConfig, LearnError> {
    let _lock = LearnLock::take(paths)?;
    let path = paths.routing_version(n);
    let Some(mut config) = read_yaml::<RoutingConfig>(&path)? else {
        let have = versions(paths)?;
        return Err(LearnError::Refused(format!(
            "routing config version {n} does not exist; versions: {}",
            if have.is_empty() {
                "none (run `orc learn` first)".to_string()
            } else {
                have.iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )));
    };
    // The next automatic learn counts evaluations from now: with vN's own count, the evaluations
    // logged since vN was learned would trigger one at once and undo the rollback.
    let mut lines = 0u64;
    records::scan_lines(&paths.evaluations(), |_| {
        lines += 1;
        Seen::Next
    })?;
    config.evaluations_seen = lines;
    // Pin the task types whose rule the rollback changes: the next batch reads only the
    // evaluations logged from now on for them, so it cannot re-derive the rolled-back rule.
    // A current config that does not parse is what a rollback repairs: nothing to pin from it.
    let cur = current(paths).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the current routing config is unreadable; rolling back over it");
        None
    });
    let mut pin = cur
        .as_ref()
        .and_then(|c| c.pinned.clone())
        .unwrap_or_default();
    pin.task_types.retain(|_, l| *l <= lines);
    if let Some(c) = &cur {
        let differ = c
            .routes
            .iter()
            .filter(|(k, v)| config.routes.get(*k) != Some(v))
            .map(|(k, _)| k)
            .chain(config.routes.keys().filter(|k| !c.routes.contains_key(*k)));
        for tt in differ {
            pin.task_types.insert(tt.clone(), lines);
        }
    }
    pin.version = n;
    pin.from = cur.as_ref().map(|c| c.version);
    pin.at = crate::learn::now();
    config.pinned = (!pin.task_types.is_empty()).then_some(pin);
    let header = format!(
        "# Routing config v{n}, made current by `orc routing rollback {n}` (evaluations_seen: the\n# evaluations logged at the rollback). `orc routing rollback N` makes routing-config.vN.yaml\n# current again.\n"
    );
    write_yaml(&paths.routing_config(), &header, &config)?;
    Ok(config)
}
