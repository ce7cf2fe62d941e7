//! The learning loop's operations, for both front ends (CLI and MCP). Each returns typed data or
//! a `LearnError`; rendering is the front ends' business.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::records::{self, EvaluationRecord, Route, RoutingRecord, Score, Seen, Subject};
use super::{LearnConfig, LearnError, LogInputs, Paths, check_id, classify, estimate, policy};
pub use super::{MAX_TOKENS, is_slug};
use crate::load::project::LOCAL_DIR;
use crate::service::{Invocation, Service};

/// A project's learning files and settings.
pub struct Learning {
    pub paths: Paths,
    pub config: LearnConfig,
    /// Problems with `learning:` in config.yaml.
    pub warnings: Vec<String>,
}

/// What `record_claude_task` takes.
#[derive(Debug, Clone, Default)]
pub struct ClaudeTask {
    pub task: String,
    pub task_type: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Claude's answer, kept for export (SFT/DPO) when given.
    pub output: Option<String>,
    /// The routing id of a local run whose work Claude redid.
    pub redoes: Option<String>,
    /// The routing id of a local run whose task Claude answered too, for a paired comparison
    /// (`should_evaluate` says `paired: true`): the local answer stays delivered.
    pub paired_with: Option<String>,
}

/// What a checked invoke adds to its routing record.
#[derive(Debug, Clone, Default)]
pub struct RunExtras {
    pub instruction: Option<String>,
    pub checks: Option<super::checks::FreeChecks>,
    /// Local tokens of the retries and samples (the answer's own run counts itself).
    pub extra_local_tokens: u64,
}

/// What `record_evaluation` takes.
#[derive(Debug, Clone)]
pub struct NewEvaluation {
    pub routing_id: String,
    pub score: String,
    pub judge: String,
    pub reasoning: Option<String>,
    pub failure_mode: Option<String>,
    pub judge_tokens_used: u64,
    /// `local` or `claude`; default: whoever did the routed work.
    pub subject: Option<String>,
}

/// `should_evaluate`'s answer, with the facts it used.
#[derive(Debug, Clone, Serialize)]
pub struct ShouldEvaluate {
    pub routing_id: String,
    #[serde(flatten)]
    pub decision: policy::Decision,
    pub ensemble: Option<String>,
    pub use_number: u64,
    pub uses: u64,
    pub acceptance_rate: Option<f64>,
    /// The free checks' verdict on the run (`pass`, `doubt`, `fail`, `none`), when it had them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_checks: Option<String>,
}

/// `record_evaluation`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    pub evaluation: EvaluationRecord,
    /// Evaluations logged since the routing config was last learned.
    pub evaluations_since_learn: u64,
    /// Set when this evaluation triggered a batch `learn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learned: Option<super::batch::Learned>,
    /// Set when the evaluation was recorded but the batch learn after it failed (it is
    /// best-effort: the evaluation stands, so a client must not record it again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learn_error: Option<String>,
}

fn bounded(what: &str, s: &str, max: usize) -> Result<(), LearnError> {
    if s.len() > max {
        return Err(LearnError::Refused(format!(
            "{what} is too long ({} bytes; at most {max})",
            s.len()
        )));
    }
    Ok(())
}

fn token_count(what: &str, n: u64) -> Result<u64, LearnError> {
    if n > MAX_TOKENS {
        return Err(LearnError::Refused(format!(
            "{what} ({n}) is over the limit of 1,000,000,000"
        )));
    }
    Ok(n)
}

/// A failure mode from a user, an MCP client or a judge's reply, normalised (lower case, spaces
/// and `-` as `_`): it must then be 1-40 of `a-z`, `0-9`, `_`, `-`, because it names LoRA
/// candidates and their shell steps in `lora-candidates.yaml`.
pub fn failure_mode(s: &str) -> Result<String, LearnError> {
    let m = s.trim().to_ascii_lowercase().replace([' ', '-'], "_");
    if is_slug(&m) {
        Ok(m)
    } else {
        Err(LearnError::Refused(format!(
            "the failure mode `{}` must be 1-40 of a-z, 0-9, `_` and `-` (e.g. hallucination, incomplete, wrong_format)",
            s.chars().take(60).collect::<String>().escape_debug()
        )))
    }
}

/// A short name from a user (judge): printable, no control characters.
fn short_name(what: &str, s: &str) -> Result<String, LearnError> {
    let t = s.trim();
    if t.is_empty() || t.len() > 100 || t.chars().any(char::is_control) {
        return Err(LearnError::Refused(format!(
            "{what} must be 1-100 printable characters"
        )));
    }
    Ok(t.to_string())
}

impl Learning {
    /// The project's learning files: `.llm-orc/evaluations/` of the project (or of the current
    /// directory's `.llm-orc/` when there is no project, as for artifacts).
    pub fn open(svc: &Service) -> Learning {
        let dirs = &svc.project.dirs;
        let llm_orc = dirs
            .local
            .clone()
            .unwrap_or_else(|| dirs.cwd.join(LOCAL_DIR));
        Learning::at(&llm_orc)
    }

    pub fn at(llm_orc: &Path) -> Learning {
        let (config, warnings) = LearnConfig::load(llm_orc);
        Learning {
            paths: Paths::new(llm_orc),
            config,
            warnings,
        }
    }

    fn summary_and_input(
        &self,
        summary: Option<&str>,
        input: &str,
    ) -> (Option<String>, Option<String>) {
        match self.config.log_inputs {
            LogInputs::None => (None, None),
            LogInputs::Summary => (
                Some(
                    summary
                        .map(super::summarize)
                        .unwrap_or_else(|| super::summarize(input)),
                ),
                None,
            ),
            LogInputs::Full => (
                Some(
                    summary
                        .map(super::summarize)
                        .unwrap_or_else(|| super::summarize(input)),
                ),
                Some(input.to_string()),
            ),
        }
    }

    /// A run's task type: the one given (checked), else classified from the ensemble's name and
    /// description (`unclassified` when nothing matches).
    pub fn task_type_of(
        &self,
        inv: &Invocation,
        task_type: Option<&str>,
    ) -> Result<String, LearnError> {
        Ok(match task_type {
            Some(t) => classify::check(t).map_err(LearnError::Refused)?,
            None => {
                let about = format!(
                    "{} {}",
                    inv.ensemble.name,
                    inv.ensemble.description.as_deref().unwrap_or("")
                );
                let c = classify::classify(&about.replace('-', " "));
                if c.matched.is_empty() {
                    "unclassified".to_string()
                } else {
                    c.task_type.to_string()
                }
            }
        })
    }

    /// The routing record of a finished local run (not yet written).
    pub fn run_record(
        &self,
        inv: &Invocation,
        task_type: Option<&str>,
        task_summary: Option<&str>,
    ) -> Result<RoutingRecord, LearnError> {
        self.checked_run_record(inv, task_type, task_summary, &RunExtras::default())
    }

    /// `run_record` with what the free checks found (and the instruction, and the local tokens
    /// of retries and samples).
    pub fn checked_run_record(
        &self,
        inv: &Invocation,
        task_type: Option<&str>,
        task_summary: Option<&str>,
        extras: &RunExtras,
    ) -> Result<RoutingRecord, LearnError> {
        let task_type = self.task_type_of(inv, task_type)?;
        if let Some(s) = task_summary {
            bounded("the task summary", s, 4096)?;
        }
        if let Some(s) = &extras.instruction {
            bounded("the instruction", s, 64 * 1024)?;
        }
        let r = &inv.result;
        let mut tiers: Vec<(u8, &'static str, String)> = Vec::new();
        for (_, u) in &r.usage {
            let (rank, class) = crate::report::size_tier(&u.model);
            if !tiers.iter().any(|(_, _, m)| *m == u.model) {
                tiers.push((rank, class, u.model.clone()));
            }
        }
        tiers.sort();
        let mut tier_names: Vec<String> = Vec::new();
        for (_, c, _) in &tiers {
            if !tier_names.iter().any(|t| t == c) {
                tier_names.push((*c).to_string());
            }
        }
        let total_local = super::estimate::local_tokens(r);
        let deliverable = r.deliverable.as_deref().unwrap_or("");
        let est =
            estimate::claude_equivalent(&r.input, deliverable, self.config.claude_token_factor);
        let claude_tokens = est.input_tokens + est.output_tokens;
        let total_local = total_local.saturating_add(extras.extra_local_tokens);
        let failed = r.has_errors() || r.interrupted;
        // An answer that failed its free checks was not delivered: the task goes to Claude.
        let undelivered = extras.checks.as_ref().is_some_and(|c| !c.delivered);
        let (summary, input) = self.summary_and_input(task_summary, &r.input);
        let artifact = match &inv.artifact {
            Some(Ok(w)) => Some(
                w.json
                    .strip_prefix(&self.paths.llm_orc)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| w.json.to_string_lossy().into_owned()),
            ),
            _ => None,
        };
        Ok(RoutingRecord {
            id: super::new_id(),
            timestamp: super::now(),
            task_type,
            task_summary: summary,
            ensemble_used: Some(inv.ensemble.name.clone()),
            model_tiers_used: tier_names,
            total_tokens_local: total_local,
            estimated_claude_tokens: claude_tokens,
            // A run that failed saved nothing: its work still has to be done.
            tokens_saved: if failed || undelivered {
                0
            } else {
                claude_tokens
            },
            duration_ms: ((r.completed_at - r.started_at).max(0.0) * 1000.0).round() as u64,
            user_accepted: None,
            route: Route::Local,
            artifact,
            estimate: Some(est),
            claude_input_tokens: None,
            claude_output_tokens: None,
            models_used: tiers.into_iter().map(|(_, _, m)| m).collect(),
            status: Some(if failed { "error" } else { "success" }.into()),
            task_input: input,
            redoes: None,
            redone: None,
            revision: 1,
            previous_accepted: None,
            instruction: extras.instruction.clone(),
            checks: extras.checks.clone(),
            paired_with: None,
            handover: None,
        })
    }

    /// Appends the routing record of a checked run and returns it.
    pub fn log_checked_run(
        &self,
        inv: &Invocation,
        task_type: Option<&str>,
        task_summary: Option<&str>,
        extras: &RunExtras,
    ) -> Result<RoutingRecord, LearnError> {
        let rec = self.checked_run_record(inv, task_type, task_summary, extras)?;
        records::append(&self.paths.routing_log(), &rec)?;
        Ok(rec)
    }

    /// Appends the routing record of a finished run and returns it.
    pub fn log_run(
        &self,
        inv: &Invocation,
        task_type: Option<&str>,
        task_summary: Option<&str>,
    ) -> Result<RoutingRecord, LearnError> {
        let rec = self.run_record(inv, task_type, task_summary)?;
        records::append(&self.paths.routing_log(), &rec)?;
        Ok(rec)
    }

    /// Logs work Claude did itself (and, when given, keeps its answer for export).
    pub fn record_claude_task(&self, t: &ClaudeTask) -> Result<RoutingRecord, LearnError> {
        bounded("the task", &t.task, 1 << 20)?;
        token_count("the input tokens", t.input_tokens)?;
        token_count("the output tokens", t.output_tokens)?;
        if let Some(o) = &t.output {
            bounded("the output", o, 4 << 20)?;
        }
        let task_type = match &t.task_type {
            Some(tt) if !tt.trim().is_empty() => {
                classify::check(tt).map_err(LearnError::Refused)?
            }
            _ => classify::classify(&t.task).task_type.to_string(),
        };
        if t.redoes.is_some() && t.paired_with.is_some() {
            return Err(LearnError::Refused(
                "give redoes (Claude redid a local run's work) or paired_with (Claude answered a local run's task too, for comparison), not both".into(),
            ));
        }
        let (paired_with, instruction) = match &t.paired_with {
            Some(id) => {
                let id = check_id(id)?;
                let Some(local) = records::find_routing(&self.paths.routing_log(), id, false)?
                else {
                    return Err(LearnError::UnknownRouting(id.to_string()));
                };
                if !local.route.is_local() {
                    return Err(LearnError::Refused(format!(
                        "`{id}` is Claude's own work: a paired comparison pairs Claude's answer with a local run"
                    )));
                }
                (Some(id.to_string()), local.instruction.clone())
            }
            None => (None, None),
        };
        let (redoes, redone) = match &t.redoes {
            Some(id) => {
                let id = check_id(id)?;
                let Some(local) = records::find_routing(&self.paths.routing_log(), id, false)?
                else {
                    return Err(LearnError::UnknownRouting(id.to_string()));
                };
                let redone = local.route.is_local().then(|| records::Redone {
                    task_type: local.task_type.clone(),
                    ensemble_used: local.ensemble_used.clone(),
                    tokens_saved: local.tokens_saved,
                    estimate: local.estimate.clone(),
                });
                (Some(id.to_string()), redone)
            }
            None => (None, None),
        };
        let id = super::new_id();
        let artifact = match &t.output {
            Some(out) => {
                let dir = self.paths.claude_outputs();
                super::ensure_dir(&dir)?;
                let path = dir.join(format!("{id}.json"));
                let task = (self.config.log_inputs != LogInputs::None).then_some(&t.task);
                let doc = serde_json::json!({"input": {"data": task}, "deliverable": out, "route": "claude"});
                let bytes = serde_json::to_vec_pretty(&doc)
                    .map_err(|e| LearnError::Refused(e.to_string()))?;
                crate::store::atomic::write_atomic(&path, &bytes)
                    .map_err(|e| LearnError::Refused(e.to_string()))?;
                Some(format!("evaluations/claude/{id}.json"))
            }
            None => None,
        };
        let (summary, input) = self.summary_and_input(None, &t.task);
        let rec = RoutingRecord {
            id,
            timestamp: super::now(),
            task_type,
            task_summary: summary,
            ensemble_used: None,
            model_tiers_used: vec!["claude".into()],
            total_tokens_local: 0,
            estimated_claude_tokens: 0,
            tokens_saved: 0,
            duration_ms: 0,
            user_accepted: None,
            route: Route::Claude,
            artifact,
            estimate: None,
            claude_input_tokens: Some(t.input_tokens),
            claude_output_tokens: Some(t.output_tokens),
            models_used: Vec::new(),
            status: None,
            task_input: input,
            redoes,
            redone,
            revision: 1,
            previous_accepted: None,
            instruction,
            checks: None,
            paired_with,
            handover: None,
        };
        records::append(&self.paths.routing_log(), &rec)?;
        Ok(rec)
    }

    /// The routing record with this id, as it stands now.
    pub fn routing(&self, id: &str) -> Result<RoutingRecord, LearnError> {
        let id = check_id(id)?;
        records::find_routing(&self.paths.routing_log(), id, false)?
            .ok_or_else(|| LearnError::UnknownRouting(id.to_string()))
    }

    /// The sampling policy's answer for a run.
    pub fn should_evaluate(&self, id: &str) -> Result<ShouldEvaluate, LearnError> {
        let rec = self.routing(id)?;
        let mut facts = policy::Facts {
            claude_direct: rec.route == Route::Claude,
            rejected: rec.user_accepted == Some(false),
            checks: rec.checks.clone(),
            paired_answer: rec.paired_with.is_some(),
            ..policy::Facts::default()
        };
        if let Some(ens) = rec
            .ensemble_used
            .as_deref()
            .filter(|_| rec.route.is_local())
        {
            let mut latest: Option<bool> = None;
            records::scan_lines(&self.paths.routing_log(), |line| {
                if !records::may_hold(line, ens) {
                    return Seen::Next;
                }
                let Ok(r) = serde_json::from_str::<RoutingRecord>(line) else {
                    return Seen::Next;
                };
                if !r.route.is_local() || r.ensemble_used.as_deref() != Some(ens) {
                    return Seen::Next;
                }
                if r.revision <= 1 {
                    facts.uses += 1;
                    if r.id == rec.id {
                        facts.use_number = facts.uses;
                    }
                } else {
                    // A feedback revision: move the run between accepted and rejected.
                    if r.previous_accepted.is_none() && r.user_accepted.is_some() {
                        facts.with_feedback += 1;
                    }
                    if r.previous_accepted == Some(true) {
                        facts.accepted = facts.accepted.saturating_sub(1);
                    }
                    if r.user_accepted == Some(true) {
                        facts.accepted += 1;
                    }
                    if r.id != rec.id {
                        latest = r.user_accepted;
                    }
                }
                Seen::Next
            })?;
            facts.last_feedback_rejected = latest == Some(false);
        }
        if let Some(j) = &self.config.local_judge {
            let agreements = super::metrics::agreements(&self.paths)?;
            if let Some(a) = agreements.iter().find(|a| a.judge == j.profile)
                && a.n >= j.min_pairs
                && a.kappa.is_some_and(|k| k >= j.min_kappa)
            {
                facts.trusted_local_judge = Some(j.profile.clone());
                facts.spot_check_rate = j.spot_check_rate;
            }
        }
        let decision = policy::decide(&rec.id, &facts, &self.config);
        Ok(ShouldEvaluate {
            routing_id: rec.id,
            decision,
            ensemble: rec.ensemble_used,
            use_number: facts.use_number,
            uses: facts.uses,
            acceptance_rate: (facts.with_feedback > 0)
                .then(|| facts.accepted as f64 / facts.with_feedback as f64),
            free_checks: rec.checks.as_ref().map(|c| c.verdict.clone()),
        })
    }

    /// Logs a judgment of a run's output; every `learn_every` evaluations, learns.
    pub fn record_evaluation(
        &self,
        e: &NewEvaluation,
        local_judge: bool,
    ) -> Result<Recorded, LearnError> {
        let rec = self.routing(&e.routing_id)?;
        let score = Score::parse(&e.score).ok_or_else(|| {
            LearnError::Refused(format!(
                "score `{}` is not one of good, acceptable, poor",
                e.score.chars().take(40).collect::<String>()
            ))
        })?;
        let judge = short_name("the judge", &e.judge)?;
        token_count("the judge tokens", e.judge_tokens_used)?;
        if let Some(r) = &e.reasoning {
            bounded("the reasoning", r, 64 * 1024)?;
        }
        let failure_mode = match e.failure_mode.as_deref().map(str::trim) {
            None | Some("") | Some("null") | Some("none") => None,
            Some(m) => Some(failure_mode(m)?),
        };
        let subject = match e.subject.as_deref() {
            None | Some("") => {
                if rec.route.is_local() {
                    Subject::Local
                } else {
                    Subject::Claude
                }
            }
            Some("local") => Subject::Local,
            Some("claude") => Subject::Claude,
            Some(other) => {
                return Err(LearnError::Refused(format!(
                    "subject `{}` is not local or claude",
                    other.chars().take(40).collect::<String>()
                )));
            }
        };
        // A paired answer of Claude's was only for comparison: the local answer was delivered.
        let delivered =
            (subject == Subject::Local) == rec.route.is_local() && rec.paired_with.is_none();
        // The judged run's instruction, input and output, kept where cleanup never reaches.
        let example = match self.keep_example(&rec) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "the judged run's example was not kept");
                None
            }
        };
        let ev = EvaluationRecord {
            id: super::new_id(),
            routing_id: rec.id.clone(),
            judge,
            score,
            reasoning: e.reasoning.clone(),
            failure_mode,
            judge_tokens_used: e.judge_tokens_used,
            subject,
            timestamp: super::now(),
            task_type: rec.task_type.clone(),
            ensemble_used: rec.ensemble_used.clone(),
            delivered,
            local_judge,
            example,
            free_checks: rec
                .checks
                .as_ref()
                .filter(|_| subject == Subject::Local)
                .and_then(super::metrics::checks_score),
        };
        records::append(&self.paths.evaluations(), &ev)?;
        // The evaluation is written: what follows is best-effort and never fails the call.
        let (since, learned, learn_error) = match self.learn_if_due() {
            Ok((since, learned)) => (since, learned, None),
            Err(e) => {
                tracing::warn!(error = %e, "evaluation recorded; the batch learn after it failed");
                (0, None, Some(e.to_string()))
            }
        };
        Ok(Recorded {
            evaluation: ev,
            evaluations_since_learn: since,
            learned,
            learn_error,
        })
    }

    /// Learns when `learn_every` evaluations have come since the last learn.
    fn learn_if_due(&self) -> Result<(u64, Option<super::batch::Learned>), LearnError> {
        let since = self.evaluations_since_learn()?;
        if since >= self.config.learn_every {
            Ok((0, Some(super::batch::learn(&self.paths, &self.config)?)))
        } else {
            Ok((since, None))
        }
    }

    /// Evaluations logged after the current routing config was learned.
    pub fn evaluations_since_learn(&self) -> Result<u64, LearnError> {
        let seen = super::batch::current(&self.paths)?
            .map(|c| c.evaluations_seen)
            .unwrap_or(0);
        let mut n = 0u64;
        records::scan_lines(&self.paths.evaluations(), |_| {
            n += 1;
            Seen::Next
        })?;
        Ok(n.saturating_sub(seen))
    }

    /// Sets `user_accepted` of a run by appending its next revision (under the lock, so two
    /// answers at once both land, in order).
    pub fn record_feedback(&self, id: &str, accepted: bool) -> Result<RoutingRecord, LearnError> {
        let id = check_id(id)?.to_string();
        let path = self.paths.routing_log();
        let mut out: Option<RoutingRecord> = None;
        let mut missing = false;
        records::append_locked(&path, |p| {
            let cur = records::find_routing(p, &id, true).map_err(std::io::Error::other)?;
            let Some(cur) = cur else {
                missing = true;
                return Ok(None);
            };
            let mut next = cur.clone();
            next.revision = cur.revision + 1;
            next.previous_accepted = cur.user_accepted;
            next.user_accepted = Some(accepted);
            // The input stays on the first line only: a revision never copies it (it can be MBs).
            next.task_input = None;
            let line = serde_json::to_vec(&next).map_err(std::io::Error::other)?;
            out = Some(next);
            Ok(Some(line))
        })?;
        match out {
            Some(r) if !missing => {
                // A rejected answer is training data (DPO's rejected side): keep it.
                if !accepted && let Err(e) = self.keep_example(&r) {
                    tracing::warn!(error = %e, "the rejected run's example was not kept");
                }
                Ok(r)
            }
            _ => Err(LearnError::UnknownRouting(id)),
        }
    }

    /// Reads a run's input and output from its linked artifact (inside `.llm-orc/` only).
    pub fn artifact_io(&self, rec: &RoutingRecord) -> Option<(String, String)> {
        let rel = rec.artifact.as_deref()?;
        let path = self.inside(rel)?;
        let text = std::fs::read_to_string(&path).ok()?;
        let doc: Value = serde_json::from_str(&text).ok()?;
        let input = match &doc["input"] {
            Value::Object(m) => m.get("data").and_then(Value::as_str).map(str::to_string),
            Value::String(s) => Some(s.clone()),
            _ => None,
        }
        .or_else(|| rec.task_input.clone())
        .unwrap_or_default();
        let output = doc["deliverable"].as_str()?.to_string();
        Some((input, output))
    }

    /// A path from a record, resolved inside `.llm-orc/`; None if it would leave it.
    fn inside(&self, rel: &str) -> Option<PathBuf> {
        let mut p = Path::new(rel);
        // An absolute path is taken as relative to `.llm-orc/` when it is under it, and then
        // checked like any other (`..` and links out refused): a prefix alone proves nothing.
        if p.is_absolute() {
            p = p.strip_prefix(&self.paths.llm_orc).ok()?;
        }
        if p.components().any(|c| !matches!(c, Component::Normal(_))) {
            return None;
        }
        let full = self.paths.llm_orc.join(p);
        let root = std::fs::canonicalize(&self.paths.llm_orc).ok()?;
        let real = std::fs::canonicalize(&full).ok()?;
        real.starts_with(root).then_some(real)
    }

    /// Runs a local model with the rubric on a run's output and records its verdict
    /// (`judge: PROFILE`, marked as a local judge).
    pub async fn judge_locally(
        &self,
        svc: &Service,
        id: &str,
        profile: &str,
    ) -> Result<Recorded, LearnError> {
        let rec = self.routing(id)?;
        let p = svc.project.profiles.get(profile).ok_or_else(|| {
            let known: BTreeSet<&str> = svc
                .project
                .profiles
                .by_name
                .keys()
                .map(String::as_str)
                .collect();
            LearnError::Refused(format!(
                "unknown profile `{}`; known: {}",
                profile.chars().take(60).collect::<String>(),
                known.into_iter().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let model =
            p.spec.model.clone().ok_or_else(|| {
                LearnError::Refused(format!("profile `{profile}` names no model"))
            })?;
        let host = crate::backend::hosts::ollama_host(
            p.spec.base_url.as_deref(),
            svc.env.ollama_host.as_deref(),
        );
        let (instruction, input, output) = self.run_io(&rec).ok_or_else(|| {
            LearnError::Refused(format!(
                "run `{}` has no readable artifact (run without --no-artifact to judge it)",
                rec.id
            ))
        })?;
        let prompt = judge_prompt(instruction.as_deref(), &input, &output);
        let reply = judge_call(&host, &model, super::RUBRIC, &prompt).await?;
        let (score, failure, reasoning) = parse_verdict(&reply.0).ok_or_else(|| {
            LearnError::Refused(format!(
                "the local judge `{profile}` gave no verdict line (VERDICT: good|acceptable|poor); it said: {}",
                reply.0.chars().take(300).collect::<String>()
            ))
        })?;
        self.record_evaluation(
            &NewEvaluation {
                routing_id: rec.id.clone(),
                score: score.as_str().into(),
                judge: profile.to_string(),
                reasoning: Some(reasoning),
                failure_mode: failure,
                judge_tokens_used: reply.1,
                subject: Some(
                    if rec.route.is_local() {
                        "local"
                    } else {
                        "claude"
                    }
                    .into(),
                ),
            },
            true,
        )
    }
}

/// What a local judge reads: the task's instruction, its input, and the response.
pub fn judge_prompt(instruction: Option<&str>, input: &str, output: &str) -> String {
    match instruction.filter(|i| !i.trim().is_empty()) {
        Some(i) => format!(
            "INSTRUCTION:\n{i}\n\nINPUT:\n{input}\n\nRESPONSE:\n{output}\n\nJudge the RESPONSE to the INSTRUCTION on this INPUT with the rubric."
        ),
        None => format!(
            "TASK:\n{input}\n\nRESPONSE:\n{output}\n\nJudge the RESPONSE to the TASK with the rubric."
        ),
    }
}

/// Asks a model on an Ollama host; the reply and the tokens it used.
async fn judge_call(
    host: &str,
    model: &str,
    system: &str,
    prompt: &str,
) -> Result<(String, u64), LearnError> {
    use crate::backend::Provider;
    let client = crate::backend::OllamaClient::new(
        crate::backend::http_client(),
        &crate::backend::normalize_host(host),
    );
    let req = crate::backend::ChatRequest {
        model: model.to_string(),
        system: system.to_string(),
        user: prompt.to_string(),
        temperature: Some(0.0),
        max_tokens: None,
        options: serde_json::Map::new(),
        format: None,
        think: None,
        keep_alive: None,
    };
    let r = client
        .chat(&req, &crate::backend::NoTokens)
        .await
        .map_err(|e| LearnError::Refused(format!("the local judge failed: {e}")))?;
    let tokens = r
        .usage
        .input_tokens
        .unwrap_or(0)
        .saturating_add(r.usage.output_tokens.unwrap_or(0))
        .min(MAX_TOKENS);
    Ok((r.content, tokens))
}

/// The verdict, failure mode and reasoning of a judge's reply: the last `VERDICT:` line wins;
/// the reasoning is what came before it.
pub fn parse_verdict(reply: &str) -> Option<(Score, Option<String>, String)> {
    let mut verdict = None;
    let mut failure = None;
    let mut reasoning = Vec::new();
    for line in reply.lines() {
        let t = line.trim().trim_start_matches(['*', '#', ' ']);
        let lower = t.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("verdict:") {
            let word = v.trim().trim_matches(|c: char| !c.is_alphanumeric());
            if let Some(s) = Score::parse(word) {
                verdict = Some(s);
            }
        } else if let Some(f) = lower.strip_prefix("failure:") {
            let f = f.trim();
            // A model's free text that is not a failure-mode name is left out.
            if !f.is_empty() && f != "none" {
                failure = failure_mode(f).ok();
            }
        } else if verdict.is_none() && !t.is_empty() {
            reasoning.push(t.to_string());
        }
    }
    verdict.map(|v| (v, failure, reasoning.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_read_from_the_last_line() {
        let (s, f, r) = parse_verdict(
            "The task asked for names.\nIt invented one.\nFAILURE: hallucination\nVERDICT: poor",
        )
        .unwrap();
        assert_eq!(s, Score::Poor);
        assert_eq!(f.as_deref(), Some("hallucination"));
        assert_eq!(r, "The task asked for names. It invented one.");
        assert_eq!(
            parse_verdict("**Verdict:** Good").map(|v| v.0),
            Some(Score::Good)
        );
        assert!(parse_verdict("looks fine to me").is_none());
    }
}
