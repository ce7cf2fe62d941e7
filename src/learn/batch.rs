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
const LOCAL_MIN_MEAN: f64 = 0.6;
/// ... with at most this share of poor verdicts, for its task type to route to it.
const LOCAL_MAX_POOR: f64 = 1.0 / 3.0;

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

/// `routing-config.yaml` / `routing-config.vN.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingConfig {
    pub version: u64,
    pub created_at: String,
    /// Evaluations in evaluations.jsonl when it was learned.
    pub evaluations_seen: u64,
    pub routes: BTreeMap<String, RouteRule>,
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
}

fn evidence(s: &Stats, q: &Quality) -> Evidence {
    Evidence {
        runs: s.runs,
        evaluations: q.n(),
        good: q.good,
        acceptable: q.acceptable,
        poor: q.poor,
        mean_score: q.mean(),
        acceptance_rate: s.acceptance_rate(),
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
    pub version: u64,
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
            .map(|(e, ps)| (e.clone(), evidence(ps, &ps.quality_local)))
            .collect();
        // The best-judged ensemble with enough evidence.
        let best = pairs
            .iter()
            .filter(|(_, ps)| ps.quality_local.n() >= min_evidence)
            .max_by(|a, b| {
                let ma = a.1.quality_local.mean().unwrap_or(0.0);
                let mb = b.1.quality_local.mean().unwrap_or(0.0);
                ma.total_cmp(&mb)
                    .then(a.1.quality_local.n().cmp(&b.1.quality_local.n()))
            });
        let (route, ensemble, tier, reason) = match best {
            Some((name, ps)) => {
                let q = &ps.quality_local;
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
                local: evidence(s, &s.quality_local),
                claude: evidence(s, &s.quality_claude),
                ensembles,
            },
        );
    }
    out
}

/// A poor verdict: the routing id and the judge's reasoning.
type PoorRun = (String, Option<String>);

/// Task types with `min` or more poor local verdicts sharing a failure mode.
fn lora(learning: &Learning, min: usize) -> Result<Vec<LoraCandidate>, LearnError> {
    let paths = &learning.paths;
    let mut groups: BTreeMap<(String, String), Vec<PoorRun>> = BTreeMap::new();
    // The latest verdict of each run counts: one run judged poor three times is one poor run.
    let poor = records::latest_evaluations(&paths.evaluations(), |e| {
        e.score == Score::Poor
            && e.subject == Subject::Local
            && !e.local_judge
            && e.failure_mode.is_some()
    })?;
    for e in poor {
        // Names go into shell steps: a line written before the check, or by hand, that is not a
        // plain name never becomes a candidate.
        if let Some(m) = e.failure_mode
            && super::service::is_slug(&m)
            && super::service::is_slug(&e.task_type)
        {
            groups
                .entry((e.task_type, m))
                .or_default()
                .push((e.routing_id, e.reasoning));
        }
    }
    groups.retain(|_, v| v.len() >= min);
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let wanted: HashSet<String> = groups
        .values()
        .flat_map(|v| v.iter().map(|(id, _)| id.clone()))
        .collect();
    let mut runs: HashMap<String, RoutingRecord> = HashMap::new();
    records::scan_lines(&paths.routing_log(), |line| {
        if let Ok(r) = serde_json::from_str::<RoutingRecord>(line)
            && r.revision <= 1
            && wanted.contains(&r.id)
        {
            runs.insert(r.id.clone(), r);
        }
        Seen::Next
    })?;
    let mut out = Vec::new();
    for ((task_type, failure_mode), evals) in groups {
        // The base: the largest model of the failing runs (the tier that wrote the deliverable).
        let mut bases: BTreeMap<String, usize> = BTreeMap::new();
        for (id, _) in &evals {
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
            "1. orc export sft -o {file}   (good outputs and Claude's redos of this task type as chat examples)\n\
             2. Train a LoRA adapter on {base} with that file (e.g. with unsloth or peft), export it as safetensors or GGUF.\n\
             3. Write a Modelfile:\n     FROM {base}\n     ADAPTER ./{name}-adapter\n\
             4. ollama create {model} -f Modelfile, then point the ensemble's profile at model `{name}`.\n\
             The base model must be the one the adapter was trained on.",
            file = word(&format!("{name}.jsonl")),
            model = word(&name),
            base = base.as_deref().unwrap_or("<the base model>")
        );
        let examples = evals
            .iter()
            .take(5)
            .map(|(id, reasoning)| {
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
            routing_ids: evals.into_iter().map(|(id, _)| id).collect(),
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

/// Recomputes the task profiles and LoRA candidates and writes the next routing config version.
pub fn learn(learning: &Learning) -> Result<Learned, LearnError> {
    let paths = &learning.paths;
    let _lock = LearnLock::take(paths)?;
    let agg = Aggregate::load(paths, &learning.config)?;
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
    let routes: BTreeMap<String, RouteRule> = task_types
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
    };
    let header = format!(
        "# Routing config v{version}, learned by `orc learn`. Routing reads only routing-config.yaml;\n# `orc routing rollback N` makes routing-config.vN.yaml current again.\n"
    );
    let vpath = paths.routing_version(version);
    write_yaml(&vpath, &header, &config)?;
    write_yaml(&paths.routing_config(), &header, &config)?;
    let candidates = lora(learning, 3)?;
    write_yaml(
        &paths.lora_candidates(),
        "# Task types with 3 or more poor local evaluations sharing a failure mode: LoRA fine-tuning candidates.\n",
        &LoraCandidates {
            generated_at: now,
            candidates: candidates.clone(),
        },
    )?;
    let before = previous.map(|p| p.routes).unwrap_or_default();
    let mut changed: Vec<String> = routes
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    changed.extend(before.keys().filter(|k| !routes.contains_key(*k)).cloned());
    changed.sort();
    tracing::info!(version, "learned routing config");
    Ok(Learned {
        version,
        routing_config: vpath.display().to_string(),
        evaluations_seen,
        routes,
        changed,
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
    let header = format!(
        "# Routing config v{n}, made current by `orc routing rollback {n}` (evaluations_seen: the\n# evaluations logged at the rollback). `orc routing rollback N` makes routing-config.vN.yaml\n# current again.\n"
    );
    write_yaml(&paths.routing_config(), &header, &config)?;
    Ok(config)
}
