//! `route`: classify a task and recommend where it goes: `local` (a named ensemble, with its
//! record), `new-ensemble` (a suggested shape and tiers) or `claude`, with the reason and the
//! evidence. The current routing config overrides the matrix where it has evidence.

use serde::Serialize;
use serde_json::{Value, json};

use super::classify::{self, Reliability};
use super::metrics::{Aggregate, Stats};
use super::service::Learning;
use super::{LearnError, batch, estimate};
use crate::service::Service;

/// Tokens above which a single-document task is past what local models read well.
const LOCAL_CONTEXT_TOKENS: u64 = 8_000;

#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub task_type: String,
    /// `local`, `new-ensemble` or `claude`.
    pub route: &'static str,
    pub ensemble: Option<String>,
    pub reason: String,
    pub evidence: Value,
    /// For `new-ensemble`: the shape and model tiers to build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<String>,
    /// `routing-config vN` or `matrix`.
    pub decided_by: String,
    /// The matrix row's conditions and failure mode, for Claude to check against the task.
    pub matrix: Value,
    /// Problems met on the way (an unreadable routing-config.yaml: the matrix decided).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

fn record(s: &Stats) -> Value {
    json!({
        "runs": s.runs,
        "evaluations": s.quality_local.n() + s.quality_claude.n(),
        "good": s.quality_local.good,
        "acceptable": s.quality_local.acceptable,
        "poor": s.quality_local.poor,
        "mean_score": s.quality_local.mean(),
        "accepted": s.accepted,
        "rejected": s.rejected,
        "acceptance_rate": s.acceptance_rate(),
    })
}

/// Words of an ensemble's name and description that point at a task type.
fn stem_of(task_type: &str) -> &'static [&'static str] {
    match task_type {
        "extraction" => &["extract"],
        "classification" => &["classif", "triage", "label"],
        "summarization" => &["summar", "digest", "tldr"],
        "code-generation" => &["codegen", "code-gen", "generate", "coder"],
        "code-review" => &["review", "lint"],
        "json" => &["json", "structur"],
        "creative" => &["creative", "draft", "story", "poem"],
        "instructions" => &["rewrite", "format", "translat"],
        _ => &[],
    }
}

/// Recommends a route. An unreadable routing-config.yaml does not fail routing: the matrix
/// decides and the answer carries a warning.
pub fn route(learning: &Learning, svc: &Service, task: &str) -> Result<Recommendation, LearnError> {
    let (config, warnings) = match batch::current(&learning.paths) {
        Ok(c) => (c, Vec::new()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the routing config; routing by the matrix");
            (
                None,
                vec![format!(
                    "cannot read the learned routing config ({e}); the routing matrix decided (run `orc learn` or `orc routing rollback N` to write a good one)"
                )],
            )
        }
    };
    let mut r = route_with(learning, svc, task, config)?;
    r.warnings = warnings;
    Ok(r)
}

fn route_with(
    learning: &Learning,
    svc: &Service,
    task: &str,
    config: Option<batch::RoutingConfig>,
) -> Result<Recommendation, LearnError> {
    if task.trim().is_empty() {
        return Err(LearnError::Refused("the task is empty".into()));
    }
    if task.len() > 4 << 20 {
        return Err(LearnError::Refused("the task is over 4 MiB".into()));
    }
    let c = classify::classify(task);
    let tt = c.task_type.to_string();
    let row = classify::row(&tt);
    let agg = Aggregate::load(&learning.paths, &learning.config)?;
    let empty = Stats::default();
    let tstats = agg.task_types.get(&tt).unwrap_or(&empty);
    let catalogue: Vec<(String, String)> = svc
        .list_ensembles()
        .into_iter()
        .filter(|e| e.valid && !e.shadowed)
        .map(|e| {
            let about = format!(
                "{} {}",
                e.name.to_lowercase(),
                e.description.unwrap_or_default().to_lowercase()
            );
            (e.name, about)
        })
        .collect();
    let exists = |name: &str| {
        catalogue
            .iter()
            .any(|(n, _)| n == name || n.ends_with(&format!("/{name}")))
    };
    let ens_record = |name: &str| {
        agg.ensembles
            .get(name)
            .map(record)
            .unwrap_or_else(|| record(&empty))
    };
    let matrix = row
        .map(|r| json!({"local": r.local, "conditions": r.conditions, "failure_mode": r.failure_mode}))
        .unwrap_or(Value::Null);
    let mut evidence = json!({
        "task_type": record(tstats),
        "matched": c.matched,
        "escalators": c.escalators,
        "constraints": c.constraints,
    });
    let make =
        |route, ensemble: Option<String>, reason: String, evidence: Value, decided_by: String| {
            Recommendation {
                task_type: tt.clone(),
                route,
                ensemble,
                reason,
                evidence,
                shape: None,
                tiers: Vec::new(),
                decided_by,
                matrix: matrix.clone(),
                warnings: Vec::new(),
            }
        };

    // 1. The learned routing config, where it has evidence for this task type.
    if let Some(cfg) = config
        && let Some(rule) = cfg.routes.get(&tt)
    {
        let by = format!("routing-config v{}", cfg.version);
        match (rule.route.as_str(), &rule.ensemble) {
            ("local", Some(e)) if exists(e) => {
                evidence["ensemble"] = ens_record(e);
                return Ok(make(
                    "local",
                    Some(e.clone()),
                    format!("learned: {}", rule.reason),
                    evidence,
                    by,
                ));
            }
            ("claude", _) => {
                return Ok(make(
                    "claude",
                    None,
                    format!("learned: {}", rule.reason),
                    evidence,
                    by,
                ));
            }
            _ => {} // the learned ensemble is gone: fall back to the matrix
        }
    }

    // 2. The matrix.
    let Some(row) = row else {
        return Ok(make(
            "claude",
            None,
            format!("`{tt}` is not in the routing matrix"),
            evidence,
            "matrix".into(),
        ));
    };
    let tokens = estimate::o200k_tokens(task);
    let mut why_claude = None;
    match row.local {
        Reliability::No => {
            why_claude = Some(format!(
                "{tt}: models of 7B and under are not reliable ({}); they fail on {}",
                row.conditions, row.failure_mode
            ))
        }
        Reliability::Marginal if tt == "instructions" && c.constraints > 4 => {
            why_claude = Some(format!(
                "{} explicit constraints: small models follow four at most",
                c.constraints
            ))
        }
        Reliability::Marginal
            if tt == "creative"
                && !c.matched.iter().any(|m| {
                    [
                        "haiku",
                        "slogan",
                        "tagline",
                        "write a joke",
                        "brainstorm names",
                    ]
                    .contains(m)
                }) =>
        {
            why_claude =
                Some("creative writing beyond short snippets is marginal for small models".into())
        }
        _ => {}
    }
    if why_claude.is_none() && !c.escalators.is_empty() {
        why_claude = Some(format!(
            "{tt} with {}: past what small models do well ({})",
            c.escalators.join(", "),
            row.failure_mode
        ));
    }
    if why_claude.is_none() && tokens > LOCAL_CONTEXT_TOKENS {
        why_claude = Some(format!(
            "the task is ~{tokens} tokens: over the {LOCAL_CONTEXT_TOKENS} small models read reliably"
        ));
    }
    if let Some(why) = why_claude {
        return Ok(make("claude", None, why, evidence, "matrix".into()));
    }
    // An ensemble with a good record for this task type, else one whose name fits.
    let mut best: Option<(&String, &Stats)> = None;
    if let Some(pairs) = agg.pairs.get(&tt) {
        for (name, s) in pairs {
            if !exists(name) {
                continue;
            }
            let mean = s.quality_local.mean();
            if mean.is_some_and(|m| m < 0.5) && s.quality_local.n() >= learning.config.min_evidence
            {
                continue; // judged and found wanting
            }
            if best.is_none_or(|(_, b)| {
                (mean.unwrap_or(0.5), s.runs) > (b.quality_local.mean().unwrap_or(0.5), b.runs)
            }) {
                best = Some((name, s));
            }
        }
    }
    if let Some((name, s)) = best {
        evidence["ensemble"] = ens_record(name);
        return Ok(make(
            "local",
            Some(name.clone()),
            format!(
                "{tt} is {} for small models ({}); `{name}` has run it {} time(s)",
                reliability_word(row.local),
                row.conditions,
                s.runs
            ),
            evidence,
            "matrix".into(),
        ));
    }
    let stems = stem_of(&tt);
    if let Some((name, _)) = catalogue
        .iter()
        .find(|(_, about)| stems.iter().any(|s| about.contains(s)))
    {
        evidence["ensemble"] = ens_record(name);
        return Ok(make(
            "local",
            Some(name.clone()),
            format!(
                "{tt} is {} for small models ({}); `{name}` is described for it (no history yet)",
                reliability_word(row.local),
                row.conditions
            ),
            evidence,
            "matrix".into(),
        ));
    }
    let mut r = make(
        "new-ensemble",
        None,
        format!(
            "{tt} is {} for small models ({}), and no ensemble here does it: build one",
            reliability_word(row.local),
            row.conditions
        ),
        evidence,
        "matrix".into(),
    );
    r.shape = Some(row.shape);
    r.tiers = row.tiers.iter().map(|t| (*t).to_string()).collect();
    Ok(r)
}

fn reliability_word(r: Reliability) -> &'static str {
    match r {
        Reliability::Yes => "reliable",
        Reliability::Adequate => "adequate",
        Reliability::Marginal => "marginal",
        Reliability::No => "unreliable",
    }
}
