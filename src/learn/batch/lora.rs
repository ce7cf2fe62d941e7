//! `lora-candidates.yaml`: task types whose local runs keep failing the same way, with the
//! steps to train an adapter for them.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::learn::records::{self, RoutingRecord, Score, Seen, Subject};
use crate::learn::{LearnConfig, LearnError, Paths};

/// One example of a LoRA candidate's failures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoraExample {
    pub routing_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
}

/// A task type whose local runs keep failing the same way.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoraCandidate {
    pub task_type: String,
    pub failure_mode: String,
    pub poor_evaluations: u64,
    /// The poor verdicts' weight (a local judge's count for its agreement with Claude).
    #[serde(default)]
    pub weighted_evidence: f64,
    pub routing_ids: Vec<String>,
    pub examples: Vec<LoraExample>,
    /// The model of the tier that produced the failing deliverables (the adapter's base).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_model: Option<String>,
    /// How to build and install the adapter for Ollama.
    pub how_to: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoraCandidates {
    pub generated_at: String,
    pub candidates: Vec<LoraCandidate>,
}

/// A poor verdict: the routing id, the reasoning, and its weight (1 for a reference judge and
/// the free checks, a local judge's agreement with Claude for its own).
type PoorRun = (String, Option<String>, f64);

/// Poor runs grouped by (task type, failure mode).
type Groups = BTreeMap<(String, String), Vec<PoorRun>>;

/// Task types whose poor local verdicts sharing a failure mode weigh `min` or more: the latest
/// verdict of each run (a reference judge's over a local judge's, which counts for its agreement
/// with Claude), and answers the free checks failed on every attempt.
pub(super) fn lora(
    paths: &Paths,
    config: &LearnConfig,
    min: usize,
) -> Result<Vec<LoraCandidate>, LearnError> {
    let (mut groups, judged) = poor_verdicts(paths, config)?;
    let (mut runs, failed_checks) = runs_of(paths, &groups, &judged)?;
    // An answer the free checks failed on every attempt is a poor verdict that cost nothing.
    for r in failed_checks {
        let Some(c) = &r.checks else { continue };
        if let Some(m) = c.failure_mode.clone()
            && crate::learn::is_slug(&m)
            && crate::learn::is_slug(&r.task_type)
        {
            groups.entry((r.task_type.clone(), m)).or_default().push((
                r.id.clone(),
                c.escalate.clone(),
                1.0,
            ));
            runs.insert(r.id.clone(), r);
        }
    }
    groups.retain(|_, v| v.iter().map(|x| x.2).sum::<f64>() + 1e-9 >= min as f64);
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    Ok(groups
        .into_iter()
        .map(|((task_type, failure_mode), evals)| candidate(task_type, failure_mode, evals, &runs))
        .collect())
}

/// The latest local verdicts that are poor, grouped, with their weights; and every run a
/// counted verdict judged.
fn poor_verdicts(
    paths: &Paths,
    config: &LearnConfig,
) -> Result<(Groups, HashSet<String>), LearnError> {
    let min_pairs = config.local_judge.as_ref().map_or(30, |j| j.min_pairs);
    let weights: HashMap<String, f64> = crate::learn::metrics::agreements(paths)?
        .iter()
        .map(|a| {
            (
                a.judge.clone(),
                crate::learn::metrics::judge_weight(a, min_pairs),
            )
        })
        .collect();
    let mut groups: Groups = BTreeMap::new();
    // The latest verdict of each run counts: one run judged poor three times is one poor run.
    let latest =
        records::latest_evaluations(&paths.evaluations(), |e| e.subject == Subject::Local)?;
    let reference: HashSet<String> = latest
        .iter()
        .filter(|e| !e.local_judge)
        .map(|e| e.routing_id.clone())
        .collect();
    let mut judged: HashSet<String> = HashSet::new();
    for e in latest {
        if e.local_judge && reference.contains(&e.routing_id) {
            continue;
        }
        let w = if e.local_judge {
            weights.get(&e.judge).copied().unwrap_or(0.0)
        } else {
            1.0
        };
        if w <= 0.0 {
            continue;
        }
        judged.insert(e.routing_id.clone());
        if e.score != Score::Poor {
            continue;
        }
        // Names go into shell steps: a line written before the check, or by hand, that is not a
        // plain name never becomes a candidate.
        if let Some(m) = e.failure_mode
            && crate::learn::is_slug(&m)
            && crate::learn::is_slug(&e.task_type)
        {
            groups
                .entry((e.task_type, m))
                .or_default()
                .push((e.routing_id, e.reasoning, w));
        }
    }
    Ok((groups, judged))
}

/// The routing records of the grouped runs (first revisions), and the runs no counted verdict
/// judged whose free checks failed.
fn runs_of(
    paths: &Paths,
    groups: &Groups,
    judged: &HashSet<String>,
) -> Result<(HashMap<String, RoutingRecord>, Vec<RoutingRecord>), LearnError> {
    let mut runs: HashMap<String, RoutingRecord> = HashMap::new();
    let mut failed_checks: Vec<RoutingRecord> = Vec::new();
    let wanted: HashSet<String> = groups
        .values()
        .flat_map(|v| v.iter().map(|(id, _, _)| id.clone()))
        .collect();
    records::scan_lines(&paths.routing_log(), |line| {
        let checks_failed = line.contains("\"delivered\":false");
        if !checks_failed && !wanted.iter().any(|id| line.contains(id.as_str())) {
            return Seen::Next;
        }
        if let Ok(r) = serde_json::from_str::<RoutingRecord>(line)
            && r.revision <= 1
        {
            if r.checks.as_ref().is_some_and(|c| !c.delivered) && !judged.contains(&r.id) {
                failed_checks.push(r.clone());
            }
            if wanted.contains(&r.id) {
                runs.insert(r.id.clone(), r);
            }
        }
        Seen::Next
    })?;
    Ok((runs, failed_checks))
}

/// One candidate: its base model, the steps to train it, and up to five examples.
fn candidate(
    task_type: String,
    failure_mode: String,
    evals: Vec<PoorRun>,
    runs: &HashMap<String, RoutingRecord>,
) -> LoraCandidate {
    // The base: the largest model of the failing runs (the tier that wrote the deliverable).
    let mut bases: BTreeMap<String, usize> = BTreeMap::new();
    for (id, _, _) in &evals {
        if let Some(m) = runs.get(id).and_then(|r| r.models_used.last()) {
            *bases.entry(m.clone()).or_default() += 1;
        }
    }
    // A model name from the log reaches a Modelfile line and the how-to: only a plain one
    // (a line planted with a newline could add a step of its own).
    let base = bases
        .into_iter()
        .filter(|(m, _)| plain_model_name(m))
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(m, _)| m);
    let name = format!("{task_type}-{failure_mode}").replace('_', "-");
    let word = |s: &str| {
        shlex::try_quote(s)
            .map(|q| q.into_owned())
            .unwrap_or_else(|_| "'<name>'".to_string())
    };
    let how_to = format!(
        "1. orc export sft --task-type {task} -o {file}   (good outputs and Claude's redos of this task type, with their instructions, as chat examples)\n\
         2. Train a LoRA adapter on {base} with that file (e.g. with unsloth or peft), export it as safetensors or GGUF.\n\
         3. Write a Modelfile:\n     FROM {base}\n     ADAPTER ./{name}-adapter\n\
         4. ollama create {model} -f Modelfile, then point the ensemble's profile at model `{name}`.\n\
         The base model must be the one the adapter was trained on.",
        file = word(&format!("{name}.jsonl")),
        task = word(&task_type),
        model = word(&name),
        base = base.as_deref().unwrap_or("<the base model>")
    );
    let examples = evals
        .iter()
        .take(5)
        .map(|(id, reasoning, _)| {
            let r = runs.get(id);
            LoraExample {
                routing_id: id.clone(),
                task_summary: r.and_then(|r| r.task_summary.clone()),
                ensemble: r.and_then(|r| r.ensemble_used.clone()),
                artifact: r.and_then(|r| r.artifact.clone()),
                reasoning: reasoning.clone(),
            }
        })
        .collect();
    LoraCandidate {
        task_type,
        failure_mode,
        poor_evaluations: evals.len() as u64,
        weighted_evidence: (evals.iter().map(|x| x.2).sum::<f64>() * 100.0).round() / 100.0,
        routing_ids: evals.into_iter().map(|(id, _, _)| id).collect(),
        examples,
        base_model: base,
        how_to,
    }
}

/// A model name as Ollama writes them (`qwen3:0.6b`, `hf.co/org/repo:Q4_K_M`): nothing that a
/// Modelfile or a shell would read as more than a name.
fn plain_model_name(m: &str) -> bool {
    !m.is_empty()
        && m.len() <= 200
        && m.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/@+-".contains(&b))
}
