//! `task-profiles.yaml`: each task type's evidence and preferred route, decided from the
//! aggregate of the logs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Threshold;
use crate::learn::LearnConfig;
use crate::learn::metrics::{Aggregate, Quality, Stats};

/// A local ensemble's quality has to reach this mean (acceptable = 0.5, good = 1) ...
pub(crate) const LOCAL_MIN_MEAN: f64 = 0.6;
/// ... with at most this share of poor verdicts, for its task type to route to it.
pub(crate) const LOCAL_MAX_POOR: f64 = 1.0 / 3.0;

/// Evidence for one task type in `task-profiles.yaml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evidence {
    pub runs: u64,
    pub evaluations: u64,
    pub good: u64,
    pub acceptable: u64,
    pub poor: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptance_rate: Option<f64>,
    /// Of the verdicts, a local judge's (weighted by its agreement with Claude).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub local_judge_verdicts: u64,
    /// Of the verdicts, the free checks' (strong pass good, not delivered poor).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub check_verdicts: u64,
    /// The weight of the verdicts (a local judge's count for its agreement with Claude).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weighted_evidence: Option<f64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn evidence(s: &Stats, q: &Quality, checks: Option<&Quality>) -> Evidence {
    let mut all = *q;
    if let Some(c) = checks {
        all.merge(c);
    }
    Evidence {
        runs: s.runs,
        evaluations: all.n(),
        good: all.good,
        acceptable: all.acceptable,
        poor: all.poor,
        mean_score: all.mean(),
        acceptance_rate: s.acceptance_rate(),
        local_judge_verdicts: all.by_local_judge,
        check_verdicts: checks.map_or(0, Quality::n),
        weighted_evidence: (all.by_local_judge > 0).then(|| (all.weight() * 100.0).round() / 100.0),
    }
}

/// One task type in `task-profiles.yaml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskProfile {
    /// `local`, `claude`, or `matrix` (not enough evidence yet: the routing matrix decides).
    pub preferred_route: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    pub reason: String,
    /// Local outputs, all ensembles together.
    pub local: Evidence,
    /// Claude's outputs.
    pub claude: Evidence,
    /// Each ensemble used for the task type.
    pub ensembles: BTreeMap<String, Evidence>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskProfiles {
    pub generated_at: String,
    pub evaluations_seen: u64,
    pub task_types: BTreeMap<String, TaskProfile>,
}

fn top_tier(s: &Stats) -> Option<String> {
    ["large", "medium", "small", "micro"]
        .iter()
        .find(|t| s.tiers.contains(**t))
        .map(|t| (*t).to_string())
}

/// Decides each task type's profile from the aggregate.
pub(super) fn profiles(agg: &Aggregate, min_evidence: u64) -> BTreeMap<String, TaskProfile> {
    let empty = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (tt, s) in &agg.task_types {
        let pairs = agg.pairs.get(tt).unwrap_or(&empty);
        let ensembles: BTreeMap<String, Evidence> = pairs
            .iter()
            .map(|(e, ps)| {
                (
                    e.clone(),
                    evidence(ps, &ps.quality_local, Some(&ps.quality_checks)),
                )
            })
            .collect();
        // The best-judged ensemble with enough evidence (judges' verdicts, a local judge's
        // weighted by its agreement with Claude, and the free checks' for runs no judge saw).
        let best = pairs
            .iter()
            .map(|(name, ps)| (name, ps, ps.quality_evidence()))
            .filter(|(_, _, q)| q.weight() + 1e-9 >= min_evidence as f64)
            .max_by(|a, b| {
                let ma = a.2.mean().unwrap_or(0.0);
                let mb = b.2.mean().unwrap_or(0.0);
                ma.total_cmp(&mb)
                    .then(a.2.weight().total_cmp(&b.2.weight()))
            });
        let (route, ensemble, tier, reason) = match best {
            Some((name, ps, q)) => {
                let q = &q;
                let mean = q.mean().unwrap_or(0.0);
                let poor = q.poor as f64 / q.n().max(1) as f64;
                if mean >= LOCAL_MIN_MEAN && poor <= LOCAL_MAX_POOR {
                    (
                        "local",
                        Some(name.clone()),
                        top_tier(ps),
                        format!(
                            "`{name}` scored {mean:.2} over {} judged runs ({} poor)",
                            q.n(),
                            q.poor
                        ),
                    )
                } else {
                    (
                        "claude",
                        None,
                        None,
                        format!(
                            "the best local ensemble `{name}` scored {mean:.2} over {} judged runs ({:.0}% poor): below {LOCAL_MIN_MEAN} or above {:.0}% poor",
                            q.n(),
                            poor * 100.0,
                            LOCAL_MAX_POOR * 100.0
                        ),
                    )
                }
            }
            None => (
                "matrix",
                None,
                None,
                format!(
                    "fewer than {min_evidence} judged runs of any one ensemble: the routing matrix decides"
                ),
            ),
        };
        out.insert(
            tt.clone(),
            TaskProfile {
                preferred_route: route.into(),
                ensemble,
                tier,
                reason,
                local: evidence(s, &s.quality_local, Some(&s.quality_checks)),
                claude: evidence(s, &s.quality_claude, None),
                ensembles,
            },
        );
    }
    out
}

/// Learns each task type's threshold from measured nets: a type whose delegations lost money
/// on average must be predicted to save more than that loss.
pub fn thresholds(agg: &Aggregate, config: &LearnConfig) -> BTreeMap<String, Threshold> {
    agg.task_types
        .iter()
        .filter(|(_, s)| s.local_runs >= config.min_evidence)
        .map(|(tt, s)| {
            let mean = s.net_usd() / s.local_runs as f64;
            (
                tt.clone(),
                Threshold {
                    runs: s.local_runs,
                    mean_net_usd: mean,
                    min_net_usd: config.min_net_usd + (-mean).max(0.0),
                },
            )
        })
        .collect()
}
