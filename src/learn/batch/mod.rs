//! Learning in batches, never in real time: `learn` recomputes `task-profiles.yaml` from the
//! logs, writes `routing-config.vN.yaml` and makes it current (`routing-config.yaml`), and lists
//! LoRA candidates. Routing reads only the current version; `rollback N` makes an older one
//! current again. A lock file serialises learn and rollback across processes.

mod config;
mod lora;
mod profiles;

use std::collections::BTreeMap;

use serde::Serialize;

use self::config::{LearnLock, versions, write_yaml};
pub use self::config::{
    MAX_VERSION, Pin, RouteRule, RoutingConfig, Threshold, Version, current, history, rollback,
};
use self::lora::lora;
pub use self::lora::{LoraCandidate, LoraCandidates, LoraExample};
use self::profiles::profiles;
pub use self::profiles::thresholds;
pub use self::profiles::{Evidence, TaskProfile, TaskProfiles};
pub(crate) use self::profiles::{LOCAL_MAX_POOR, LOCAL_MIN_MEAN};
use super::metrics::Aggregate;
use super::{LearnConfig, LearnError, Paths};

/// What `learn` did.
#[derive(Debug, Clone, Serialize)]
pub struct Learned {
    /// The current version (the new one, or the unchanged current one).
    pub version: u64,
    /// False when no route changed: no version was written.
    pub new_version: bool,
    /// Task types a rollback pinned (only evaluations after it count for them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pinned: Vec<String>,
    pub routing_config: String,
    pub evaluations_seen: u64,
    pub routes: BTreeMap<String, RouteRule>,
    /// Task types whose route differs from the previous version.
    pub changed: Vec<String>,
    pub task_profiles: usize,
    pub lora_candidates: Vec<String>,
}

/// Recomputes the task profiles and LoRA candidates and, when a route changed, writes the next
/// routing config version (an unchanged result writes none: the current config only records the
/// evaluations it has now seen). A rollback's pin holds: for its task types only evaluations
/// logged after the rollback count, and a task type without enough of them keeps its pinned rule.
pub fn learn(paths: &Paths, config: &LearnConfig) -> Result<Learned, LearnError> {
    learn_with(paths, config, false)
}

/// `learn`; with `unpin`, from every evaluation again (the pin is lifted).
pub fn learn_with(paths: &Paths, config: &LearnConfig, unpin: bool) -> Result<Learned, LearnError> {
    let _lock = LearnLock::take(paths)?;
    let previous = previous(paths)?;
    let pin = previous
        .as_ref()
        .and_then(|p| p.pinned.clone())
        .filter(|_| !unpin);
    let since = pin
        .as_ref()
        .map(|p| p.task_types.clone())
        .unwrap_or_default();
    let agg = Aggregate::load_since(paths, config, &since)?;
    let evaluations_seen = agg.evaluation_scan.lines;
    let task_types = profiles(&agg, config.min_evidence);
    let now = super::now();
    write_yaml(
        &paths.task_profiles(),
        "# Learned by `orc learn` from routing-log.jsonl and evaluations.jsonl; rewritten on every learn.\n",
        &TaskProfiles {
            generated_at: now.clone(),
            evaluations_seen,
            task_types: task_types.clone(),
        },
    )?;
    let before = previous
        .as_ref()
        .map(|p| p.routes.clone())
        .unwrap_or_default();
    let routes = routes(&task_types, &since, &before);
    let changed = changed(&routes, &before);
    let candidates = lora(paths, config, 3)?;
    write_yaml(
        &paths.lora_candidates(),
        "# Task types whose poor local verdicts (judges, a local judge weighted by its agreement with Claude, failed free checks) share a failure mode and weigh 3 or more: LoRA fine-tuning candidates.\n",
        &LoraCandidates {
            generated_at: now.clone(),
            candidates: candidates.clone(),
        },
    )?;
    let learned = RoutingConfig {
        version: 0,
        created_at: now,
        evaluations_seen,
        routes: routes.clone(),
        pinned: pin,
        breakeven: thresholds(&agg, config),
    };
    let (version, new_version, file) = write_version(paths, previous, &changed, learned)?;
    tracing::info!(version, new_version, "learned routing config");
    Ok(Learned {
        version,
        new_version,
        routing_config: file.display().to_string(),
        evaluations_seen,
        routes,
        changed,
        pinned: since.keys().cloned().collect(),
        task_profiles: task_types.len(),
        lora_candidates: candidates
            .iter()
            .map(|c| format!("{} / {}", c.task_type, c.failure_mode))
            .collect(),
    })
}

/// The current routing config, or the refusal naming the versions to roll back to.
fn previous(paths: &Paths) -> Result<Option<RoutingConfig>, LearnError> {
    current(paths).map_err(|e| {
        let have = versions(paths).unwrap_or_default();
        LearnError::Refused(format!(
            "{e}; fix the file, or make a learned version current again with `orc routing rollback N` ({})",
            if have.is_empty() {
                "no versions yet: remove routing-config.yaml to start afresh".to_string()
            } else {
                format!(
                    "versions: {}",
                    have.iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ))
    })
}

/// The routes the profiles decide (none for a task type the matrix still decides); a pinned
/// task type without enough new evidence keeps the rule the rollback chose.
fn routes(
    task_types: &BTreeMap<String, TaskProfile>,
    since: &BTreeMap<String, u64>,
    before: &BTreeMap<String, RouteRule>,
) -> BTreeMap<String, RouteRule> {
    let mut routes: BTreeMap<String, RouteRule> = task_types
        .iter()
        .filter(|(_, p)| p.preferred_route != "matrix")
        .map(|(tt, p)| {
            let n = match &p.ensemble {
                Some(e) => p.ensembles.get(e).map(|x| x.evaluations).unwrap_or(0),
                None => p.local.evaluations,
            };
            (
                tt.clone(),
                RouteRule {
                    route: p.preferred_route.clone(),
                    ensemble: p.ensemble.clone(),
                    tier: p.tier.clone(),
                    evidence: n,
                    reason: p.reason.clone(),
                },
            )
        })
        .collect();
    for tt in since.keys() {
        if task_types
            .get(tt)
            .is_none_or(|p| p.preferred_route == "matrix")
        {
            match before.get(tt) {
                Some(r) => routes.insert(tt.clone(), r.clone()),
                None => routes.remove(tt),
            };
        }
    }
    routes
}

/// Task types whose decision changed. A change is a different decision (route, ensemble, tier);
/// fresher evidence for the same decision updates the current config in place.
fn changed(
    routes: &BTreeMap<String, RouteRule>,
    before: &BTreeMap<String, RouteRule>,
) -> Vec<String> {
    let decision = |r: &RouteRule| (r.route.clone(), r.ensemble.clone(), r.tier.clone());
    let mut changed: Vec<String> = routes
        .iter()
        .filter(|(k, v)| before.get(*k).map(decision) != Some(decision(v)))
        .map(|(k, _)| k.clone())
        .collect();
    changed.extend(before.keys().filter(|k| !routes.contains_key(*k)).cloned());
    changed.sort();
    changed
}

/// Writes what was learned: into the current config when no route changed (it notes what it
/// has now seen), else as the next version, made current. The version, whether it is new, and
/// its file.
fn write_version(
    paths: &Paths,
    previous: Option<RoutingConfig>,
    changed: &[String],
    learned: RoutingConfig,
) -> Result<(u64, bool, std::path::PathBuf), LearnError> {
    let header = |v: u64| {
        format!(
            "# Routing config v{v}, learned by `orc learn`. Routing reads only routing-config.yaml;\n# `orc routing rollback N` makes routing-config.vN.yaml current again.\n"
        )
    };
    match previous.filter(|_| changed.is_empty()) {
        // Nothing changed: no new version; the current config notes what it has now seen.
        Some(mut cur) => {
            cur.evaluations_seen = learned.evaluations_seen;
            cur.pinned = learned.pinned;
            cur.routes = learned.routes;
            cur.breakeven = learned.breakeven;
            let v = cur.version;
            write_yaml(&paths.routing_config(), &header(v), &cur)?;
            Ok((v, false, paths.routing_version(v)))
        }
        None => {
            let version = versions(paths)?.last().copied().unwrap_or(0) + 1;
            if version > MAX_VERSION {
                return Err(LearnError::Refused(format!(
                    "routing config version {MAX_VERSION} is the last orc writes; remove old routing-config.vN.yaml files"
                )));
            }
            let config = RoutingConfig { version, ..learned };
            let vpath = paths.routing_version(version);
            write_yaml(&vpath, &header(version), &config)?;
            write_yaml(&paths.routing_config(), &header(version), &config)?;
            Ok((version, true, vpath))
        }
    }
}
