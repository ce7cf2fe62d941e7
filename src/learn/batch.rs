//! Learning in batches, never in real time: `learn` recomputes `task-profiles.yaml` from the
//! logs, writes `routing-config.vN.yaml` and makes it current (`routing-config.yaml`), and lists
//! LoRA candidates. Routing reads only the current version; `rollback N` makes an older one
//! current again. A lock file serialises learn and rollback across processes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::OpenOptions;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::metrics::{Aggregate, Quality, Stats};
use super::records::{self, RoutingRecord, Score, Seen, Subject};
use super::service::Learning;
use super::{LearnError, Paths};

/// A local ensemble's quality has to reach this mean (acceptable = 0.5, good = 1) ...
pub(crate) const LOCAL_MIN_MEAN: f64 = 0.6;
/// ... with at most this share of poor verdicts, for its task type to route to it.
pub(crate) const LOCAL_MAX_POOR: f64 = 1.0 / 3.0;

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
    pub breakeven: BTreeMap<String, super::breakeven::Threshold>,
}

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

fn write_yaml<T: Serialize>(path: &Path, header: &str, value: &T) -> Result<(), LearnError> {
    // The write replaces a link at `path` (a rename), never follows one; the folder is checked.
    super::refuse_linked_dirs(path).map_err(LearnError::io(path))?;
    let body = serde_saphyr::to_string(value).map_err(|e| yaml_err(path, e))?;
    crate::store::atomic::write_atomic(path, format!("{header}{body}").as_bytes())
        .map_err(|e| yaml_err(path, e))
}

fn read_yaml<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, LearnError> {
    let read = super::open_no_follow(path, OpenOptions::new().read(true)).and_then(|mut f| {
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
struct LearnLock(std::fs::File);

impl LearnLock {
    fn take(paths: &Paths) -> Result<LearnLock, LearnError> {
        super::ensure_dir(&paths.dir)?;
        let p = paths.dir.join(".learn.lock");
        let f = super::open_no_follow(
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

fn versions(paths: &Paths) -> Result<Vec<u64>, LearnError> {
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

fn top_tier(s: &Stats) -> Option<String> {
    ["large", "medium", "small", "micro"]
        .iter()
        .find(|t| s.tiers.contains(**t))
        .map(|t| (*t).to_string())
}

/// Decides each task type's profile from the aggregate.
fn profiles(agg: &Aggregate, min_evidence: u64) -> BTreeMap<String, TaskProfile> {
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

/// A poor verdict: the routing id, the reasoning, and its weight (1 for a reference judge and
/// the free checks, a local judge's agreement with Claude for its own).
type PoorRun = (String, Option<String>, f64);

/// Task types whose poor local verdicts sharing a failure mode weigh `min` or more: the latest
/// verdict of each run (a reference judge's over a local judge's, which counts for its agreement
/// with Claude), and answers the free checks failed on every attempt.
fn lora(learning: &Learning, min: usize) -> Result<Vec<LoraCandidate>, LearnError> {
    let paths = &learning.paths;
    let min_pairs = learning
        .config
        .local_judge
        .as_ref()
        .map_or(30, |j| j.min_pairs);
    let weights: HashMap<String, f64> = super::metrics::agreements(paths)?
        .iter()
        .map(|a| (a.judge.clone(), super::metrics::judge_weight(a, min_pairs)))
        .collect();
    let mut groups: BTreeMap<(String, String), Vec<PoorRun>> = BTreeMap::new();
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
            && super::service::is_slug(&m)
            && super::service::is_slug(&e.task_type)
        {
            groups
                .entry((e.task_type, m))
                .or_default()
                .push((e.routing_id, e.reasoning, w));
        }
    }
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
    // An answer the free checks failed on every attempt is a poor verdict that cost nothing.
    for r in failed_checks {
        let Some(c) = &r.checks else { continue };
        if let Some(m) = c.failure_mode.clone()
            && super::service::is_slug(&m)
            && super::service::is_slug(&r.task_type)
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
    let mut out = Vec::new();
    for ((task_type, failure_mode), evals) in groups {
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
        out.push(LoraCandidate {
            task_type,
            failure_mode,
            poor_evaluations: evals.len() as u64,
            weighted_evidence: (evals.iter().map(|x| x.2).sum::<f64>() * 100.0).round() / 100.0,
            routing_ids: evals.into_iter().map(|(id, _, _)| id).collect(),
            examples,
            base_model: base,
            how_to,
        });
    }
    Ok(out)
}

/// A model name as Ollama writes them (`qwen3:0.6b`, `hf.co/org/repo:Q4_K_M`): nothing that a
/// Modelfile or a shell would read as more than a name.
fn plain_model_name(m: &str) -> bool {
    !m.is_empty()
        && m.len() <= 200
        && m.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/@+-".contains(&b))
}

/// Recomputes the task profiles and LoRA candidates and, when a route changed, writes the next
/// routing config version (an unchanged result writes none: the current config only records the
/// evaluations it has now seen). A rollback's pin holds: for its task types only evaluations
/// logged after the rollback count, and a task type without enough of them keeps its pinned rule.
pub fn learn(learning: &Learning) -> Result<Learned, LearnError> {
    learn_with(learning, false)
}

/// `learn`; with `unpin`, from every evaluation again (the pin is lifted).
pub fn learn_with(learning: &Learning, unpin: bool) -> Result<Learned, LearnError> {
    let paths = &learning.paths;
    let _lock = LearnLock::take(paths)?;
    let previous = current(paths).map_err(|e| {
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
    })?;
    let pin = previous
        .as_ref()
        .and_then(|p| p.pinned.clone())
        .filter(|_| !unpin);
    let since = pin
        .as_ref()
        .map(|p| p.task_types.clone())
        .unwrap_or_default();
    let agg = Aggregate::load_since(paths, &learning.config, &since)?;
    let evaluations_seen = agg.evaluation_scan.lines;
    let task_types = profiles(&agg, learning.config.min_evidence);
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
    // A pinned task type without enough new evidence keeps the rule the rollback chose.
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
    // A change is a different decision (route, ensemble, tier); fresher evidence for the same
    // decision updates the current config in place.
    let decision = |r: &RouteRule| (r.route.clone(), r.ensemble.clone(), r.tier.clone());
    let mut changed: Vec<String> = routes
        .iter()
        .filter(|(k, v)| before.get(*k).map(decision) != Some(decision(v)))
        .map(|(k, _)| k.clone())
        .collect();
    changed.extend(before.keys().filter(|k| !routes.contains_key(*k)).cloned());
    changed.sort();
    let candidates = lora(learning, 3)?;
    write_yaml(
        &paths.lora_candidates(),
        "# Task types whose poor local verdicts (judges, a local judge weighted by its agreement with Claude, failed free checks) share a failure mode and weigh 3 or more: LoRA fine-tuning candidates.\n",
        &LoraCandidates {
            generated_at: now.clone(),
            candidates: candidates.clone(),
        },
    )?;
    let header = |v: u64| {
        format!(
            "# Routing config v{v}, learned by `orc learn`. Routing reads only routing-config.yaml;\n# `orc routing rollback N` makes routing-config.vN.yaml current again.\n"
        )
    };
    let breakeven = super::breakeven::learn(&agg, learning);
    let (version, new_version, file) = match previous.filter(|_| changed.is_empty()) {
        // Nothing changed: no new version; the current config notes what it has now seen.
        Some(mut cur) => {
            cur.evaluations_seen = evaluations_seen;
            cur.pinned = pin.clone();
            cur.routes = routes.clone();
            cur.breakeven = breakeven;
            let v = cur.version;
            write_yaml(&paths.routing_config(), &header(v), &cur)?;
            (v, false, paths.routing_version(v))
        }
        None => {
            let version = versions(paths)?.last().copied().unwrap_or(0) + 1;
            if version > MAX_VERSION {
                return Err(LearnError::Refused(format!(
                    "routing config version {MAX_VERSION} is the last orc writes; remove old routing-config.vN.yaml files"
                )));
            }
            let config = RoutingConfig {
                version,
                created_at: now.clone(),
                evaluations_seen,
                routes: routes.clone(),
                pinned: pin.clone(),
                breakeven,
            };
            let vpath = paths.routing_version(version);
            write_yaml(&vpath, &header(version), &config)?;
            write_yaml(&paths.routing_config(), &header(version), &config)?;
            (version, true, vpath)
        }
    };
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
    pin.at = super::now();
    config.pinned = (!pin.task_types.is_empty()).then_some(pin);
    let header = format!(
        "# Routing config v{n}, made current by `orc routing rollback {n}` (evaluations_seen: the\n# evaluations logged at the rollback). `orc routing rollback N` makes routing-config.vN.yaml\n# current again.\n"
    );
    write_yaml(&paths.routing_config(), &header, &config)?;
    Ok(config)
}
