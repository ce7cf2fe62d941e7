//! `route`: where a task goes: `local` (a named ensemble, with its record), `new-ensemble` (a
//! shape and tiers to build) or `claude`, with the reason and the evidence.
//!
//! Routing fails safe, towards Claude, and runs as a fixed sequence of steps over one
//! `Decision` (each step records what it did in `steps`):
//!
//! 1. `read`: split a pasted input from the instruction, classify the instruction (never
//!    the input), measure the input and the files given by reference
//! 2. `limits`: the hard limits (size, several documents, multi-hop, constraint count,
//!    security) and the matrix's failure-mode signals, whatever the type
//! 3. `matrix`: the type's row: unclassified and unreliable types go to Claude; marginal
//!    types only within their conditions
//! 4. `delegation`: the user's knob (`routing.delegation`, per task type): which reliability
//!    classes may go local, at what confidence
//! 5. `learned`: the learned routing config, which can only choose among what steps 2-4
//!    allow (a learned Claude rule demotes the ensemble that failed, not the type)
//! 6. `ensemble`: rank the ensembles by relevance x type fit x measured quality
//! 7. `guard`: the limits again, on the final answer: no step may send a limited task local
//!
//! A new check (a break-even test of the hand-over's cost, say) is one more function of the
//! same form between 6 and 7.

use serde::Serialize;
use serde_json::{Value, json};

use super::classify::{self, Classified, MatrixRow, Reliability};
use super::delegation::{self, Delegation};
use super::input::{self, Measured};
use super::metrics::{Aggregate, Stats};
use super::rank::{self, Candidate, Doc};
use super::service::Learning;
use super::signals::{self, Signal};
use super::{LearnError, batch};
use crate::load::diag::Diagnostic;
use crate::service::Service;

/// Tokens above which a task's input is past what local models read reliably.
pub const LOCAL_CONTEXT_TOKENS: u64 = 8_000;
/// More explicit constraints than this are past what small models follow.
pub const MAX_CONSTRAINTS: usize = 4;
/// Task types for which several documents mean synthesis across them (the matrix's
/// multi-document and cross-file failure modes).
const SYNTHESIS_TYPES: &[&str] = &[
    "extraction",
    "summarization",
    "code-review",
    "code-generation",
    "reasoning",
    "knowledge",
    "unclassified",
];
/// Creative pieces short enough for small models (the matrix: short snippets only).
const SHORT_PIECES: &[&str] = classify::SHORT_CREATIVE;

/// What a caller asks routing.
#[derive(Debug, Clone, Default)]
pub struct RouteRequest {
    /// The instruction: what to do. Classified on its own.
    pub task: String,
    /// The input the task works on, given inline (measured, never classified).
    pub input: Option<String>,
    /// Files the task works on, given by reference: relative to the project root or absolute
    /// inside it. orc measures them.
    pub input_files: Vec<String>,
    /// A delegation level for this call only (0-5), to try the knob.
    pub delegation: Option<u8>,
}

impl RouteRequest {
    pub fn task(task: &str) -> RouteRequest {
        RouteRequest {
            task: task.to_string(),
            ..RouteRequest::default()
        }
    }
}

/// One hard limit, checked.
#[derive(Debug, Clone, Serialize)]
pub struct LimitCheck {
    /// `size`, `documents`, `multi-hop`, `constraints` or `security`.
    pub limit: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// What one step of the pipeline did.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub step: &'static str,
    pub outcome: String,
}

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
    /// The part of the task that was classified (a pasted input split off), cut at 300 chars.
    pub instruction: String,
    /// How sure the classifier is of the type against the types the matrix sends to Claude.
    pub confidence: f64,
    /// high, medium, low or none.
    pub confidence_level: &'static str,
    /// The delegation level that applied, where it came from, what it allows.
    pub delegation: Delegation,
    /// The input as orc measured it.
    pub input: Measured,
    /// Every hard limit, passed or not.
    pub limits: Vec<LimitCheck>,
    /// The matrix's failure-mode signals found in the instruction (each sends it to Claude).
    pub signals: Vec<signals::Found>,
    /// The best-ranked ensembles, with their scores (for local routes and new-ensemble).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Candidate>,
    /// What each step of the pipeline did, in order.
    pub steps: Vec<Step>,
}

/// Where the decision stands between steps.
struct Decision {
    instruction: String,
    classified: Classified,
    task_type: String,
    row: Option<&'static MatrixRow>,
    input: Measured,
    delegation: Delegation,
    limits: Vec<LimitCheck>,
    /// Set once a step sends the task to Claude; later steps may not undo it.
    claude: Option<String>,
    route: &'static str,
    ensemble: Option<String>,
    reason: String,
    decided_by: String,
    candidates: Vec<Candidate>,
    steps: Vec<Step>,
    warnings: Vec<String>,
    /// The learned config's rule for this type: (version, rule).
    learned: Option<(u64, batch::RouteRule)>,
}

impl Decision {
    fn step(&mut self, step: &'static str, outcome: impl Into<String>) {
        self.steps.push(Step {
            step,
            outcome: outcome.into(),
        });
    }

    /// Sends the task to Claude (the first reason stands).
    fn send_to_claude(&mut self, why: String) {
        if self.claude.is_none() {
            self.claude = Some(why);
        }
    }

    /// Whether the limits and signals allow a local route at all.
    fn limited(&self) -> bool {
        self.limits.iter().any(|l| !l.passed) || !self.classified.signals.is_empty()
    }
}

/// What routing reads about the project once.
struct Context<'a> {
    learning: &'a Learning,
    agg: &'a Aggregate,
    docs: Vec<Doc>,
}

/// Recommends a route for a task given in words. An unreadable routing-config.yaml does not
/// fail routing: the matrix decides and the answer carries a warning.
pub fn route(learning: &Learning, svc: &Service, task: &str) -> Result<Recommendation, LearnError> {
    route_request(learning, svc, &RouteRequest::task(task))
}

/// Recommends a route for a task with its input (inline or as files).
pub fn route_request(
    learning: &Learning,
    svc: &Service,
    req: &RouteRequest,
) -> Result<Recommendation, LearnError> {
    check_request(req)?;
    let agg = Aggregate::load(&learning.paths, &learning.config)?;
    route_request_with(learning, svc, req, &agg)
}

/// `route_request` over the learning log's aggregate, read once by the caller (the break-even
/// reads it too).
pub fn route_request_with(
    learning: &Learning,
    svc: &Service,
    req: &RouteRequest,
    agg: &Aggregate,
) -> Result<Recommendation, LearnError> {
    check_request(req)?;
    let (config, mut warnings) = match batch::current(&learning.paths) {
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
    let (settings, w) = delegation::settings(&learning.paths.llm_orc);
    warnings.extend(w);
    let ctx = Context {
        learning,
        agg,
        docs: ensemble_docs(svc),
    };
    let root = svc
        .project
        .dirs
        .project_root
        .clone()
        .unwrap_or_else(|| svc.project.dirs.cwd.clone());

    let mut d = read(req, &root, &settings)?;
    d.warnings = warnings;
    d.learned = config.and_then(|c| {
        c.routes
            .get(&d.task_type)
            .cloned()
            .map(|rule| (c.version, rule))
    });
    limits(&mut d);
    matrix(&mut d);
    delegate(&mut d);
    learned(&mut d, &ctx);
    ensemble(&mut d, &ctx);
    guard(&mut d);
    Ok(finish(d, &ctx))
}

/// Refuses a request before anything is read (an empty or oversized task, a level out of range).
pub(super) fn check_request(req: &RouteRequest) -> Result<(), LearnError> {
    if req.task.trim().is_empty() {
        return Err(LearnError::Refused("the task is empty".into()));
    }
    if req.task.len() > 4 << 20 {
        return Err(LearnError::Refused("the task is over 4 MiB".into()));
    }
    if req.input.as_ref().is_some_and(|i| i.len() > 64 << 20) {
        return Err(LearnError::Refused(
            "the inline input is over 64 MiB; pass it as input_files".into(),
        ));
    }
    if let Some(l) = req.delegation
        && l > delegation::MAX_LEVEL
    {
        return Err(LearnError::Refused(format!(
            "delegation {l} is not a level; levels are 0-{} ({})",
            delegation::MAX_LEVEL,
            delegation::SCALE
        )));
    }
    Ok(())
}

/// The valid, active ensembles of every tier, with what ranking reads of each.
fn ensemble_docs(svc: &Service) -> Vec<Doc> {
    let cat = svc.project.catalogue();
    cat.files
        .iter()
        .filter(|f| {
            f.is_valid_yaml()
                && !f.diagnostics.iter().any(Diagnostic::is_error)
                && !cat.shadowed_by_earlier_tier(f)
                && cat.is_active(f)
        })
        .filter_map(|f| {
            let spec = f.spec.as_ref()?;
            let mut prompts = String::new();
            for a in &spec.agents {
                prompts.push_str(&a.name.value);
                prompts.push('\n');
                if let crate::load::spec::AgentKind::Llm(l) = &a.kind
                    && let Some(p) = &l.system_prompt
                {
                    prompts.push_str(p);
                    prompts.push('\n');
                }
            }
            Some(Doc {
                name: f.qualified_name(),
                tier: f.tier.label(),
                description: [f.description.as_deref(), spec.default_task.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" "),
                prompts,
            })
        })
        .collect()
}

// ------------------------------------------------------------------------------ the steps

/// 1. Split, classify, measure.
fn read(
    req: &RouteRequest,
    root: &std::path::Path,
    settings: &delegation::RoutingSettings,
) -> Result<Decision, LearnError> {
    let (instruction, pasted) = if req.input.is_none() && req.input_files.is_empty() {
        signals::split_pasted(&req.task)
    } else {
        (req.task.trim().to_string(), None)
    };
    let inline = match (&req.input, &pasted) {
        (Some(i), _) => Some(i.clone()),
        (None, Some(p)) => Some(p.clone()),
        (None, None) => None,
    };
    let input = input::measure(root, &instruction, inline.as_deref(), &req.input_files)?;
    let has_input = input.measured;
    let classified = classify::classify_with(&instruction, has_input);
    let task_type = classified.task_type.to_string();
    let delegation = delegation::for_task(settings, &task_type, req.delegation);
    let mut d = Decision {
        row: classify::row(&task_type),
        instruction,
        task_type,
        input,
        delegation,
        limits: Vec::new(),
        claude: None,
        route: "claude",
        ensemble: None,
        reason: String::new(),
        decided_by: "matrix".into(),
        candidates: Vec::new(),
        steps: Vec::new(),
        warnings: Vec::new(),
        learned: None,
        classified,
    };
    let split = if pasted.is_some() {
        "; a pasted input was split off and measured, not classified"
    } else {
        ""
    };
    let outcome = format!(
        "{} (confidence {:.2}, {}; cues: {}){split}; input {} token(s) in {} document(s){}",
        d.task_type,
        d.classified.confidence,
        d.classified.confidence_word(),
        if d.classified.matched.is_empty() {
            "none".to_string()
        } else {
            d.classified.matched.join(", ")
        },
        d.input.tokens,
        d.input.documents,
        if d.input.measured {
            ""
        } else {
            " (no input given)"
        }
    );
    d.step("read", outcome);
    if !d.input.measured {
        d.warnings.push(format!(
            "no input was given, so its size was not checked: pass `input` or `input_files` (orc measures them); over ~{LOCAL_CONTEXT_TOKENS} tokens the task is Claude's"
        ));
    }
    Ok(d)
}

/// 2. The hard limits and the failure-mode signals.
fn limits(d: &mut Decision) {
    let found = |s: Signal| d.classified.signals.iter().find(|f| f.signal == s);
    let tokens = d.input.tokens;
    let synthesis = SYNTHESIS_TYPES.contains(&d.task_type.as_str());
    let docs_named = found(Signal::MultiDocument).map(|f| f.cue);
    let mut checks = vec![
        LimitCheck {
            limit: "size",
            passed: tokens <= LOCAL_CONTEXT_TOKENS,
            detail: format!(
                "{tokens} input token(s) (o200k_base{}), limit {LOCAL_CONTEXT_TOKENS}",
                if d.input.files.iter().any(|f| f.estimated) {
                    ", partly estimated from size"
                } else {
                    ""
                }
            ),
        },
        LimitCheck {
            limit: "documents",
            passed: !(synthesis && d.input.documents > 1) && docs_named.is_none(),
            detail: match docs_named {
                Some(cue) => format!("the task combines several documents (`{cue}`)"),
                None => format!(
                    "{} document(s){}",
                    d.input.documents,
                    if synthesis {
                        ", one at most for this type"
                    } else {
                        " (handled one by one for this type)"
                    }
                ),
            },
        },
        LimitCheck {
            limit: "multi-hop",
            passed: found(Signal::MultiHop).is_none(),
            detail: found(Signal::MultiHop)
                .map(|f| format!("facts to combine (`{}`)", f.cue))
                .unwrap_or_else(|| "no multi-hop cue".into()),
        },
        LimitCheck {
            limit: "constraints",
            passed: d.classified.constraints <= MAX_CONSTRAINTS,
            detail: format!(
                "{} explicit constraint(s) in the instruction, limit {MAX_CONSTRAINTS}",
                d.classified.constraints
            ),
        },
        LimitCheck {
            limit: "security",
            passed: found(Signal::Security).is_none(),
            detail: found(Signal::Security)
                .map(|f| format!("security-sensitive (`{}`)", f.cue))
                .unwrap_or_else(|| "no security cue".into()),
        },
    ];
    // The multi-document signal is reported by the documents limit.
    d.classified.signals.retain(|f| !f.signal.is_hard_limit());
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.limit, c.detail))
        .collect();
    let signals: Vec<String> = d
        .classified
        .signals
        .iter()
        .map(|f| format!("{} (`{}`)", f.signal.label(), f.cue))
        .collect();
    let outcome = if failed.is_empty() && signals.is_empty() {
        "every limit passed; no failure-mode signal".to_string()
    } else {
        [failed.clone(), signals.clone()].concat().join("; ")
    };
    d.limits.append(&mut checks);
    d.step("limits", outcome);
    if let Some(f) = failed.first() {
        d.send_to_claude(format!("past a hard limit of small models: {f}"));
    } else if let Some(s) = signals.first() {
        d.send_to_claude(format!(
            "{}: {s} is past what small models do well, whatever the task type",
            d.task_type
        ));
    }
}

/// 3. The matrix row.
fn matrix(d: &mut Decision) {
    let tt = d.task_type.clone();
    let outcome = match d.row {
        None => {
            d.send_to_claude(if tt == "unclassified" {
                "no task type matched the instruction: an unmatched task is Claude's (fail safe)"
                    .into()
            } else {
                format!("`{tt}` is not in the routing matrix")
            });
            "no matrix row: Claude".to_string()
        }
        Some(row) => match row.local {
            Reliability::No => {
                d.send_to_claude(format!(
                    "{tt}: models of 7B and under are not reliable ({}); they fail on {}",
                    row.conditions, row.failure_mode
                ));
                format!("{tt} is not reliable locally")
            }
            Reliability::Marginal
                if tt == "creative"
                    && !d
                        .classified
                        .matched
                        .iter()
                        .any(|m| SHORT_PIECES.contains(m)) =>
            {
                d.send_to_claude(
                    "creative writing beyond short snippets (taglines, haiku, names) is marginal for small models"
                        .into(),
                );
                "creative, not a short snippet".to_string()
            }
            r => format!(
                "{tt} is {} locally ({})",
                reliability_word(r),
                row.conditions
            ),
        },
    };
    d.step("matrix", outcome);
}

/// 4. The delegation level.
fn delegate(d: &mut Decision) {
    let Some(row) = d.row else {
        d.step(
            "delegation",
            format!("level {}: not applied (no matrix row)", d.delegation.level),
        );
        return;
    };
    let conf = d.classified.confidence;
    let permitted = d.delegation.permits(row.local, conf);
    let outcome = format!(
        "level {} ({}): {}",
        d.delegation.level,
        d.delegation.source,
        if permitted {
            "permits local".to_string()
        } else {
            format!(
                "does not permit local for a {} type at confidence {conf:.2} (needs {:.2})",
                reliability_word(row.local),
                d.delegation.min_confidence
            )
        }
    );
    if !permitted {
        let why = if d.delegation.level == 0 {
            "delegation level 0: every task goes to Claude".to_string()
        } else if conf < d.delegation.min_confidence {
            format!(
                "the instruction reads as {} only with {} confidence ({conf:.2}, level {} needs {:.2}): a low-confidence task is Claude's",
                d.task_type,
                confidence_word(conf),
                d.delegation.level,
                d.delegation.min_confidence
            )
        } else {
            format!(
                "delegation level {} lets only {} go local",
                d.delegation.level, d.delegation.allows
            )
        };
        d.send_to_claude(why);
    }
    d.step("delegation", outcome);
}

fn confidence_word(c: f64) -> &'static str {
    classify::confidence_word(c)
}

/// 5. The learned rule, inside what the limits allow.
fn learned(d: &mut Decision, ctx: &Context) {
    let Some((version, rule)) = d.learned.clone() else {
        d.step("learned", "no learned rule for this task type");
        return;
    };
    let by = format!("routing-config v{version}");
    if d.claude.is_some() {
        d.step(
            "learned",
            format!(
                "{by} has a `{}` rule; the limits already send the task to Claude",
                rule.route
            ),
        );
        return;
    }
    match rule.route.as_str() {
        "claude" => {
            // A learned Claude rule means the best-judged ensemble failed: it is demoted for
            // this type (step 6 skips it); another relevant ensemble may still serve the task.
            let others = ranked(d, ctx).into_iter().any(|c| c.eligible());
            if others {
                d.step(
                    "learned",
                    format!(
                        "{by}: {}; that ensemble is demoted for {}, others rank",
                        rule.reason, d.task_type
                    ),
                );
            } else {
                d.decided_by = by.clone();
                d.send_to_claude(format!("learned: {}", rule.reason));
                d.step(
                    "learned",
                    format!("{by}: claude, and no other ensemble fits"),
                );
            }
        }
        _ => d.step(
            "learned",
            format!(
                "{by}: local{}; its ensemble is preferred in the ranking",
                rule.ensemble
                    .as_deref()
                    .map(|e| format!(" with `{e}`"))
                    .unwrap_or_default()
            ),
        ),
    }
}

/// The judged record of an ensemble on a task type (by its qualified or plain name).
fn pair<'a>(ctx: &'a Context, task_type: &str, name: &str) -> Option<&'a Stats> {
    let pairs = ctx.agg.pairs.get(task_type)?;
    let plain = name.rsplit('/').next().unwrap_or(name);
    pairs.get(name).or_else(|| pairs.get(plain))
}

/// Every ensemble, ranked for this task.
fn ranked(d: &Decision, ctx: &Context) -> Vec<Candidate> {
    let relevance = rank::relevance(&ctx.docs, &d.instruction);
    let labels = rank::labels(&d.instruction);
    let learned_ensemble = d
        .learned
        .as_ref()
        .filter(|(_, r)| r.route == "local")
        .and_then(|(_, r)| r.ensemble.clone());
    let min_evidence = ctx.learning.config.min_evidence;
    let mut out: Vec<Candidate> = ctx
        .docs
        .iter()
        .zip(relevance)
        .map(|(doc, relevance)| {
            let ensemble_type = doc.task_type();
            let type_fit = if ensemble_type == d.task_type {
                1.25
            } else if ensemble_type == "unclassified" {
                1.0
            } else {
                0.5
            };
            let q = pair(ctx, &d.task_type, &doc.name).map(|s| s.quality_local);
            let n = q.as_ref().map(|q| q.n()).unwrap_or(0);
            let points = q
                .as_ref()
                .map(|q| q.good as f64 + 0.5 * q.acceptable as f64)
                .unwrap_or(0.0);
            let quality = 0.5 + (points + 0.6 * 2.0) / (n as f64 + 2.0);
            let demoted = q.as_ref().is_some_and(|q| {
                let mean = q.mean().unwrap_or(1.0);
                let poor = q.poor as f64 / q.n().max(1) as f64;
                q.n() >= min_evidence
                    && (mean < batch::LOCAL_MIN_MEAN || poor > batch::LOCAL_MAX_POOR)
            });
            let learned = learned_ensemble
                .as_deref()
                .is_some_and(|e| e == doc.name || doc.name.rsplit('/').next() == Some(e));
            let boost = if learned { 1.5 } else { 1.0 };
            Candidate {
                ensemble: doc.name.clone(),
                tier: doc.tier,
                score: relevance.total() * type_fit * quality * boost,
                relevance: relevance.total(),
                content: relevance.content,
                labels_fit: rank::labels_fit(doc, &labels),
                content_known: relevance.content_known,
                ensemble_type,
                type_fit,
                quality,
                evaluations: n,
                demoted,
                learned,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.eligible()
            .cmp(&a.eligible())
            .then(a.demoted.cmp(&b.demoted))
            .then(b.score.total_cmp(&a.score))
            .then(a.ensemble.cmp(&b.ensemble))
    });
    out
}

/// 6. The ensemble: the best-ranked one that is relevant and not demoted, else build one.
fn ensemble(d: &mut Decision, ctx: &Context) {
    if let Some(why) = d.claude.clone() {
        d.route = "claude";
        d.reason = why;
        d.step("ensemble", "not ranked: the task is Claude's");
        return;
    }
    let Some(row) = d.row else { return };
    let ranked = ranked(d, ctx);
    let pick = ranked
        .iter()
        .find(|c| c.eligible())
        .or_else(|| ranked.iter().find(|c| c.learned && !c.demoted))
        .cloned();
    let demoted: Vec<String> = ranked
        .iter()
        .filter(|c| c.demoted)
        .map(|c| format!("`{}`", c.ensemble))
        .collect();
    d.candidates = ranked.into_iter().take(rank::TOP).collect();
    let tt = d.task_type.clone();
    let demoted_note = if demoted.is_empty() {
        String::new()
    } else {
        format!("; {} judged poor for {tt}, demoted", demoted.join(", "))
    };
    match pick {
        Some(c) => {
            if c.learned
                && let Some((v, _)) = &d.learned
            {
                d.decided_by = format!("routing-config v{v}");
            }
            let history = match pair(ctx, &tt, &c.ensemble) {
                Some(s) if s.runs > 0 => format!("has run it {} time(s)", s.runs),
                _ => "no history yet".to_string(),
            };
            d.reason = format!(
                "{tt} is {} for small models ({}); `{}` ranks first for this task (score {:.2}, relevance {:.2}; {history}){demoted_note}",
                reliability_word(row.local),
                row.conditions,
                c.ensemble,
                c.score,
                c.relevance,
            );
            d.step(
                "ensemble",
                format!("`{}` (score {:.2}){demoted_note}", c.ensemble, c.score),
            );
            d.route = "local";
            d.ensemble = Some(c.ensemble);
        }
        None => {
            d.route = "new-ensemble";
            d.reason = format!(
                "{tt} is {} for small models ({}), and no ensemble here is about this task (best content relevance {:.2}, needs {:.2}){demoted_note}: build one",
                reliability_word(row.local),
                row.conditions,
                d.candidates
                    .first()
                    .map(|c| c.content * c.type_fit)
                    .unwrap_or(0.0),
                rank::MIN_RELEVANCE
            );
            d.step("ensemble", "none relevant: build one");
        }
    }
}

/// 7. The limits again, on the final answer.
fn guard(d: &mut Decision) {
    let permitted = d
        .row
        .is_some_and(|r| d.delegation.permits(r.local, d.classified.confidence));
    if d.route != "claude" && (d.limited() || !permitted || d.claude.is_some()) {
        let why = d.claude.clone().unwrap_or_else(|| {
            "a later step chose local past the limits: the limits decide".to_string()
        });
        d.route = "claude";
        d.ensemble = None;
        d.reason = why;
        d.step("guard", "a local choice past the limits was sent to Claude");
    } else {
        d.step("guard", format!("{}: within the limits", d.route));
    }
}

// ------------------------------------------------------------------------------ the answer

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

fn finish(d: Decision, ctx: &Context) -> Recommendation {
    let empty = Stats::default();
    let tstats = ctx.agg.task_types.get(&d.task_type).unwrap_or(&empty);
    let mut evidence = json!({
        "task_type": record(tstats),
        "matched": d.classified.matched,
        "escalators": d.classified.escalators,
        "constraints": d.classified.constraints,
    });
    if let Some(e) = &d.ensemble {
        let plain = e.rsplit('/').next().unwrap_or(e);
        let s = ctx
            .agg
            .ensembles
            .get(e)
            .or_else(|| ctx.agg.ensembles.get(plain))
            .unwrap_or(&empty);
        evidence["ensemble"] = record(s);
    }
    let matrix = d
        .row
        .map(|r| json!({"local": r.local, "conditions": r.conditions, "failure_mode": r.failure_mode}))
        .unwrap_or(Value::Null);
    let (shape, tiers) = match (d.route, d.row) {
        ("new-ensemble", Some(r)) => (
            Some(r.shape),
            r.tiers.iter().map(|t| (*t).to_string()).collect(),
        ),
        _ => (None, Vec::new()),
    };
    let candidates = if d.route == "claude" {
        Vec::new()
    } else {
        d.candidates
    };
    Recommendation {
        task_type: d.task_type,
        route: d.route,
        ensemble: d.ensemble,
        reason: d.reason,
        evidence,
        shape,
        tiers,
        decided_by: d.decided_by,
        matrix,
        warnings: d.warnings,
        instruction: d.instruction.chars().take(300).collect(),
        confidence: (d.classified.confidence * 100.0).round() / 100.0,
        confidence_level: classify::confidence_word(d.classified.confidence),
        delegation: d.delegation,
        input: d.input,
        limits: d.limits,
        signals: d.classified.signals,
        candidates,
        steps: d.steps,
    }
}

fn reliability_word(r: Reliability) -> &'static str {
    match r {
        Reliability::Yes => "reliable",
        Reliability::Adequate => "adequate",
        Reliability::Marginal => "marginal",
        Reliability::No => "unreliable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decided(task: &str, input: Option<&str>) -> Decision {
        let dir = tempfile::tempdir().expect("tmp");
        let req = RouteRequest {
            task: task.into(),
            input: input.map(str::to_string),
            ..RouteRequest::default()
        };
        let mut d = read(&req, dir.path(), &delegation::RoutingSettings::default()).expect("read");
        limits(&mut d);
        matrix(&mut d);
        delegate(&mut d);
        d
    }

    #[test]
    fn the_guard_undoes_a_local_choice_past_the_limits() {
        // A later step (a learned rule, a new check) that chose local past a limit is undone.
        let mut d = decided(
            "Review this login handler for security holes",
            Some("def login(): ..."),
        );
        assert!(d.claude.is_some());
        d.route = "local";
        d.ensemble = Some("code-review-swarm".into());
        guard(&mut d);
        assert_eq!((d.route, d.ensemble.as_deref()), ("claude", None));
        assert!(d.reason.contains("security"), "{}", d.reason);
        // Within the limits, a local choice stands.
        let mut d = decided(
            "Label each review positive, negative or neutral",
            Some("Great."),
        );
        assert!(d.claude.is_none(), "{:?}", d.claude);
        d.route = "local";
        guard(&mut d);
        assert_eq!(d.route, "local");
    }

    #[test]
    fn every_type_failure_and_limit_sends_the_task_to_claude() {
        for (task, why) in [
            ("Kafka or SQS for our event bus?", "no task type"),
            ("Who was the first person to climb K2?", "not reliable"),
            ("Write a short story about a lighthouse keeper", "long-form"),
            (
                "Extract the totals and infer the trend from them",
                "multi-hop",
            ),
            (
                "Rewrite it:\n- under 50 words\n- in French\n- formal\n- no jargon\n- end with a question",
                "constraint",
            ),
            ("Convert this config to YAML", "YAML"),
        ] {
            let d = decided(task, Some("some input"));
            let reason = d.claude.unwrap_or_default();
            assert!(reason.contains(why), "{task}: {reason}");
        }
        let d = decided("Write a haiku about autumn", None);
        assert!(d.claude.is_none(), "{:?}", d.claude);
    }
}
