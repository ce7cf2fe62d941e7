//! What a run produces: one entry per agent (and per fan-out instance), usage, timings.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::backend::Usage;

/// An agent's outcome, with llm-orc's status words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Success,
    Failed,
    Skipped,
    /// A gathered fan-out entry where some instances failed.
    Partial,
}

impl Status {
    /// The status word written in `results` (`success`, `failed`, ...).
    pub fn word(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Partial => "partial",
        }
    }

    /// llm-orc 0.25's `outcome` word for a bare status (an entry may say more:
    /// [`Entry::outcome`]).
    pub fn outcome(self) -> &'static str {
        match self {
            Status::Success => "succeeded",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Partial => "partial",
        }
    }
}

/// One instance of a fan-out, as listed in the gathered entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub index: usize,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What an LLM call counted, and where it ran.
#[derive(Debug, Clone, Serialize)]
pub struct AgentUsage {
    pub model: String,
    pub profile: Option<String>,
    pub provider: String,
    pub host: String,
    pub usage: Usage,
    pub done_reason: Option<String>,
    pub cost_per_token: Option<f64>,
    /// Wall time of the successful request, in milliseconds.
    pub service_ms: f64,
}

impl AgentUsage {
    pub fn total_tokens(&self) -> Option<u64> {
        Some(
            self.usage
                .input_tokens?
                .saturating_add(self.usage.output_tokens?),
        )
    }

    /// cost_per_token x counted tokens (0 when the profile sets no price).
    pub fn cost(&self) -> Option<f64> {
        Some(self.cost_per_token.unwrap_or(0.0) * self.total_tokens()? as f64)
    }

    /// Ollama's own total duration when reported, else the request's wall time.
    pub fn duration_ms(&self) -> u64 {
        match self.usage.total_duration_ns {
            Some(ns) => ns / 1_000_000,
            None => self.service_ms as u64,
        }
    }

    pub fn truncated(&self) -> bool {
        self.done_reason.as_deref() == Some("length")
    }
}

/// When an agent was ready, sent its request (after waiting for a slot) and finished, in
/// milliseconds from the start of the root run.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timing {
    pub ready_ms: f64,
    pub start_ms: f64,
    pub end_ms: f64,
    pub attempts: u32,
}

impl Timing {
    /// Something that became ready at `ready` and was settled at `at` without a request.
    pub fn instant(ready: f64, at: f64) -> Timing {
        Timing {
            ready_ms: ready,
            start_ms: at,
            end_ms: at,
            attempts: 0,
        }
    }
    pub fn queue_ms(&self) -> f64 {
        (self.start_ms - self.ready_ms).max(0.0)
    }

    pub fn service_ms(&self) -> f64 {
        (self.end_ms - self.start_ms).max(0.0)
    }
}

/// One entry of `results`.
#[derive(Debug, Clone)]
pub struct Entry {
    pub response: Value,
    pub status: Status,
    pub model_substituted: bool,
    pub error: Option<String>,
    /// For gathered fan-out entries.
    pub instances: Option<Vec<InstanceStatus>>,
    pub timing: Timing,
    /// What dependents see of a nested ensemble: its final agents' answers.
    pub handover: Option<String>,
    /// `agent_requests` of a script agent whose output was a JSON object.
    pub agent_requests: Option<Value>,
    /// The kind label (`llm`, `script`, ...).
    pub kind: &'static str,
    /// Hash of what decided the answer (model, prompts, input), for `--resume`.
    pub input_hash: Option<String>,
    /// A nested or dispatched agent's child document as data (what `response` holds as JSON
    /// text), so that a parent embeds it without parsing it again.
    pub document: Option<Arc<Value>>,
    /// Taken from an earlier run instead of being computed again.
    pub reused: bool,
    /// Taken from the result cache: the usage the answer cost when it was computed (this run
    /// spent nothing on it).
    pub cached_usage: Option<Value>,
    /// Why orc did what it did, when that is not obvious (why an agent was skipped, a cache
    /// hit). Reported under `metadata.orc.notes`, never in `results`.
    pub note: Option<String>,
    /// What a failed script or primitive left besides its error (llm-orc 0.25's `payload`:
    /// `{"stderr": ...}` for an exit code, the envelope's other keys for a reported failure).
    pub payload: Option<Value>,
    /// Skipped because no dependency succeeded (`outcome: skipped_by_failure`): llm-orc 0.25's
    /// `reason`, naming each dependency and what became of it.
    pub reason: Option<String>,
    /// Skipped by a guard: its `when:` was false, or its dependencies were all skipped by one.
    pub skipped_by_guard: bool,
    /// Ran although no dependency succeeded (`on_dependency_failure: run`): which ones failed
    /// (`outcome: handled_failure`).
    pub handled_failure: Option<String>,
    /// A nested ensemble or loop that succeeded while some agent inside it failed (its
    /// `has_errors` is true, as llm-orc 0.25 reports it).
    pub inner_errors: bool,
}

impl Entry {
    pub fn failed(error: String, kind: &'static str, timing: Timing) -> Entry {
        Entry {
            status: Status::Failed,
            error: Some(error),
            ..Entry::success(Value::Null, kind, timing)
        }
    }

    pub fn success(response: Value, kind: &'static str, timing: Timing) -> Entry {
        Entry {
            response,
            status: Status::Success,
            model_substituted: false,
            error: None,
            instances: None,
            timing,
            handover: None,
            agent_requests: None,
            kind,
            input_hash: None,
            document: None,
            reused: false,
            cached_usage: None,
            note: None,
            payload: None,
            reason: None,
            skipped_by_guard: false,
            handled_failure: None,
            inner_errors: false,
        }
    }

    /// An agent that did not run (a guard, a spent budget), and why (orc's note).
    pub fn skipped(why: String, kind: &'static str, timing: Timing) -> Entry {
        Entry {
            status: Status::Skipped,
            note: Some(why),
            ..Entry::success(Value::Null, kind, timing)
        }
    }

    /// llm-orc 0.25's `outcome`: `succeeded`, `failed`, `partial`, `skipped_by_guard`,
    /// `skipped_by_failure`, `handled_failure` (orc's budget skips say `skipped`).
    pub fn outcome(&self) -> &'static str {
        match self.status {
            Status::Skipped if self.reason.is_some() => "skipped_by_failure",
            Status::Skipped if self.skipped_by_guard => "skipped_by_guard",
            Status::Success if self.handled_failure.is_some() => "handled_failure",
            s => s.outcome(),
        }
    }

    pub fn is_success(&self) -> bool {
        self.status == Status::Success
    }

    /// Whether the response is a child run's document (JSON text) or a list of them: nested
    /// and dispatch agents, their fan-out instances and their gathered entries.
    pub fn holds_documents(&self) -> bool {
        matches!(self.kind, "ensemble" | "dispatch")
    }

    /// llm-orc 0.25's per-agent `has_errors`: failed or partial, skipped because its
    /// dependencies failed, run despite them, or a child run with a failed agent inside.
    pub fn has_errors(&self) -> bool {
        matches!(self.status, Status::Failed | Status::Partial)
            || self.reason.is_some()
            || self.handled_failure.is_some()
            || self.inner_errors
    }
}

/// The outcome of running one ensemble (the root, or a nested child).
#[derive(Debug, Clone)]
pub struct RunResult {
    pub ensemble: String,
    pub input: String,
    /// `results` in llm-orc's order: level by level, declared agents in declaration order, then
    /// each fan-out's instances, then the gathered entries.
    pub entries: Vec<(String, Entry)>,
    pub agents_used: usize,
    /// Epoch seconds.
    pub started_at: f64,
    pub completed_at: f64,
    pub interrupted: bool,
    pub deliverable: Option<String>,
    /// The deliverable is a nested agent's response (a child run's document).
    pub deliverable_nested: bool,
    /// When it is: that child's own deliverable (its final answer, found the same way down the
    /// chain), which a parent's embedded copy of this run shows instead of the document again.
    pub deliverable_answer: Option<Value>,
    pub execution_order: Vec<String>,
    /// Usage of every LLM call, nested children included (`parent/child` names).
    pub usage: Vec<(String, AgentUsage)>,
    /// For each `usage` entry, whether it is a call of this run's own agents (not of a nested
    /// run inside it).
    pub own_usage: Vec<bool>,
    /// Every executed unit's timing, nested children included.
    pub timeline: Vec<TimelineRow>,
    /// Every LLM and script result, nested children included (`parent/child` names), for
    /// input hashes and reuse.
    pub all_entries: Vec<(String, Entry)>,
    /// The artifact this run resumed, if any.
    pub resumed_from: Option<String>,
    /// The ensemble has an interactive primitive (get_user_input, confirm_action).
    pub interactive: bool,
    /// Answers read from the user during the run.
    pub user_inputs: u64,
    /// The outcome of the ensemble's `validation:` checks, when it has them.
    pub validation: Option<Value>,
    /// Model calls made for the run but not by its agents (a semantic validator, a simulated
    /// user), in the order they finished.
    pub auxiliary_calls: Vec<AuxiliaryCall>,
    /// The run's budget, when it had one (set on the root run only).
    pub budget: Option<BudgetReport>,
}

/// What a run's budget allowed and what it spent (`metadata.orc.budget`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BudgetReport {
    pub limit_tokens: Option<u64>,
    pub limit_cost_usd: Option<f64>,
    pub spent_tokens: u64,
    pub spent_cost_usd: f64,
    /// Agents that did not start because the budget was spent, by display name.
    pub skipped: Vec<String>,
    /// Of `spent_tokens`, how many were estimated from bytes (4 a token) because the server
    /// did not report the count.
    pub estimated_tokens: u64,
    /// Agents whose counts were estimated, by display name.
    pub estimated: Vec<String>,
}

impl BudgetReport {
    /// What to tell the user when part of the spending is an estimate (the server reported no
    /// counts for some agents), else None.
    pub fn estimate_note(&self) -> Option<String> {
        (self.estimated_tokens > 0).then(|| {
            format!(
                "the budget's {} token(s) include {} estimated from bytes ({} a token) for {} agent(s) whose server reported no counts: {}",
                self.spent_tokens,
                self.estimated_tokens,
                super::BYTES_PER_TOKEN,
                self.estimated.len(),
                self.estimated.join(", ")
            )
        })
    }
}

/// A model call outside the ensemble's agents, through the same engine: why it was made, for
/// which agent if any, and its usage.
#[derive(Debug, Clone)]
pub struct AuxiliaryCall {
    /// `semantic_validation` or `simulated_user`.
    pub purpose: &'static str,
    pub agent: Option<String>,
    pub usage: AgentUsage,
}

/// One row of the run's schedule, for reports and timelines: written in
/// `metadata.orc.timeline` and read back from there (`store::read`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimelineRow {
    pub agent: String,
    #[serde(default, deserialize_with = "kind_label")]
    pub kind: KindLabel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub status: Status,
    #[serde(default)]
    pub depends_on: Vec<String>,
    pub ready_ms: f64,
    pub start_ms: f64,
    pub end_ms: f64,
    #[serde(default)]
    pub queue_ms: f64,
    #[serde(default)]
    pub service_ms: f64,
    /// The host that served an LLM call (the run's timeline lanes when several hosts served).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// A kind label (`Kind::label`). Named so that serde reads it with `kind_label` instead of
/// borrowing it from the input.
pub type KindLabel = &'static str;

/// A kind label read back: one of the labels the engine writes (`Kind::label`), else `other`.
fn kind_label<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let s = String::deserialize(d)?;
    Ok(["llm", "script", "ensemble", "loop", "dispatch"]
        .into_iter()
        .find(|k| *k == s)
        .unwrap_or("other"))
}

impl RunResult {
    pub fn has_errors(&self) -> bool {
        self.entries.iter().any(|(_, e)| e.has_errors()) || self.budget_exhausted()
    }

    /// Some agent did not start because the run's budget was spent.
    pub fn budget_exhausted(&self) -> bool {
        self.budget.as_ref().is_some_and(|b| !b.skipped.is_empty())
    }

    /// `completed`, `completed_with_errors`, `budget_exhausted` or `interrupted`.
    pub fn status(&self) -> &'static str {
        if self.interrupted {
            "interrupted"
        } else if self.budget_exhausted() {
            "budget_exhausted"
        } else if self.has_errors() {
            "completed_with_errors"
        } else {
            "completed"
        }
    }

    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, e)| e)
    }

    pub fn duration_s(&self) -> f64 {
        (self.completed_at - self.started_at).max(0.0)
    }

    /// Agents whose counts the server did not report.
    pub fn agents_missing_counts(&self) -> usize {
        self.usage
            .iter()
            .filter(|(_, u)| !u.usage.missing_counts().is_empty())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::document::totals_to_json;

    fn used(input: u64, output: u64) -> (String, AgentUsage) {
        (
            "a".into(),
            AgentUsage {
                model: "m".into(),
                profile: None,
                provider: "ollama".into(),
                host: "http://h:1".into(),
                usage: Usage {
                    input_tokens: Some(input),
                    output_tokens: Some(output),
                    total_duration_ns: Some(u64::MAX),
                    ..Usage::default()
                },
                done_reason: None,
                cost_per_token: None,
                service_ms: 1.0,
            },
        )
    }

    #[test]
    fn totals_saturate_instead_of_wrapping() {
        let usage = vec![used(u64::MAX, 5), used(7, u64::MAX), used(1, 1)];
        let t = totals_to_json(&usage);
        assert_eq!(t["total_input_tokens"], u64::MAX);
        assert_eq!(t["total_output_tokens"], u64::MAX);
        assert_eq!(t["total_tokens"], u64::MAX);
        assert_eq!(usage[0].1.total_tokens(), Some(u64::MAX));
        assert!(t["total_duration_ms"].as_u64().is_some());
    }
}
