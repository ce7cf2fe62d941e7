//! An invoke's answer, checked before it is delivered: the free checks run on it; a failed hard
//! check re-runs the ensemble locally (`learning.checks.retries`, with the result cache off), and
//! when every attempt fails the answer is not delivered and the task is escalated to Claude with
//! the reason. Repeated samples (`expect.samples` or `learning.checks.samples`) are compared for
//! agreement. Both front ends call [`check`] after their run and log what it found.

use std::path::Path;

use serde_json::{Value, json};

use super::checks::{self, Answer, Expect, FreeChecks, Signal};
pub use super::estimate::local_tokens;
use super::service::{Learning, RunExtras};
use crate::run::results::RunResult;
use crate::service::{Invocation, InvokeOptions, Service};

/// What the caller said about the task, beside its input.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub task_type: Option<String>,
    pub task_summary: Option<String>,
    /// The task's instruction, when the caller gives it apart from the input.
    pub instruction: Option<String>,
    pub expect: Expect,
}

/// The answer to deliver (or not) and what the checks found.
pub struct Checked {
    /// The last attempt: the delivered one when the checks passed.
    pub inv: Invocation,
    /// None when the checks are off or the run itself failed (its errors say enough).
    pub checks: Option<FreeChecks>,
    pub extras: RunExtras,
}

impl Checked {
    /// What the invoke answer adds: `delivered`, `escalate` (to, why) and `quality`.
    pub fn json(&self, routing_id: Option<&str>) -> Value {
        let Some(c) = &self.checks else {
            return json!({});
        };
        let escalate = c.escalate.as_ref().filter(|_| !c.delivered).map(|why| {
            json!({
                "to": "claude",
                "why": why,
                "attempts": c.attempts,
                "next": match routing_id {
                    Some(id) => format!("do the task yourself, then record_claude_task(..., redoes: \"{id}\")"),
                    None => "do the task yourself".to_string(),
                },
            })
        });
        json!({"delivered": c.delivered, "escalate": escalate, "quality": c})
    }
}

/// The agent that wrote the deliverable stopped at its token limit.
fn truncated(r: &RunResult) -> bool {
    let Some(d) = r.deliverable.as_deref() else {
        return false;
    };
    let Some((agent, _)) = r
        .entries
        .iter()
        .rev()
        .find(|(_, e)| e.response.as_str() == Some(d))
    else {
        return false;
    };
    r.usage
        .iter()
        .rev()
        .find(|(a, _)| a == agent)
        .is_some_and(|(_, u)| u.truncated())
}

/// The instruction a judge and the training data see: the caller's, else the task summary and
/// the ensemble's description.
pub fn instruction_of(req: &Request, inv: &Invocation) -> Option<String> {
    if let Some(i) = req.instruction.as_deref().filter(|s| !s.trim().is_empty()) {
        return Some(i.trim().to_string());
    }
    let parts: Vec<&str> = [
        req.task_summary.as_deref(),
        inv.ensemble.description.as_deref(),
    ]
    .into_iter()
    .flatten()
    .map(str::trim)
    .filter(|s| !s.is_empty())
    .collect();
    (!parts.is_empty()).then(|| parts.join(". "))
}

/// The signals of one answer.
async fn signals(
    learning: &Learning,
    root: Option<&Path>,
    task_type: &str,
    instruction: &str,
    expect: &Expect,
    r: &RunResult,
) -> Vec<Signal> {
    let output = r.deliverable.as_deref().unwrap_or("");
    let a = Answer {
        task_type,
        instruction,
        input: &r.input,
        output,
        truncated: truncated(r),
    };
    let mut out = checks::offline(&a, expect);
    if out.iter().any(|s| s.outcome == checks::Outcome::Fail) {
        return out;
    }
    if let Some(s) = checks::code(output).await {
        let failed = s.outcome == checks::Outcome::Fail;
        out.push(s);
        if failed {
            return out;
        }
    }
    let cfg = &learning.config.checks;
    let wants_tests = expect
        .tests
        .unwrap_or_else(|| cfg.test_task_types.iter().any(|t| t == task_type));
    if wants_tests && let (Some(cmd), Some(root)) = (cfg.test_command.as_deref(), root) {
        out.push(
            super::sandbox::run_tests(root, cfg, cmd, output, expect.target_file.as_deref()).await,
        );
    }
    out
}

/// Checks the first run's answer, retries and samples as configured. `again` gives the options
/// of another run of the same ensemble (the caller's host and budget; the cache is turned off).
pub async fn check(
    learning: &Learning,
    svc: &Service,
    name: &str,
    input: &str,
    req: &Request,
    first: Invocation,
    again: &(dyn Fn() -> InvokeOptions + Send + Sync),
) -> Checked {
    let instruction = instruction_of(req, &first);
    let mut extras = RunExtras {
        instruction: instruction.clone(),
        ..RunExtras::default()
    };
    let cfg = &learning.config.checks;
    let failed_run = first.result.has_errors() || first.result.interrupted;
    let task_type = learning.task_type_of(&first, req.task_type.as_deref());
    let (true, false, Ok(_)) = (cfg.enabled, failed_run, task_type) else {
        return Checked {
            inv: first,
            checks: None,
            extras,
        };
    };
    // The checks of a task type follow the type the caller gave; one orc only guessed from the
    // ensemble's name gets the checks every answer gets (and those `expect` asks for).
    let task_type = req.task_type.clone().unwrap_or_default();
    let root = svc.project.dirs.project_root.clone();
    let inst = instruction.clone().unwrap_or_default();
    let expect = &req.expect;
    let mut inv = first;
    let mut sig = signals(
        learning,
        root.as_deref(),
        &task_type,
        &inst,
        expect,
        &inv.result,
    )
    .await;
    let mut attempts = 1u32;
    let mut why_retried = Vec::new();
    while sig.iter().any(|s| s.outcome == checks::Outcome::Fail) && attempts <= cfg.retries {
        if let Some(s) = sig.iter().find(|s| s.outcome == checks::Outcome::Fail) {
            why_retried.push(format!("attempt {attempts}: {}: {}", s.check, s.detail));
        }
        let mut opts = again();
        opts.cache = Some(false);
        let Ok(next) = svc.invoke(name, input.to_string(), opts).await else {
            break;
        };
        attempts += 1;
        extras.extra_local_tokens = extras
            .extra_local_tokens
            .saturating_add(local_tokens(&inv.result));
        inv = next;
        if inv.result.has_errors() || inv.result.interrupted {
            sig = vec![Signal {
                check: "run".into(),
                outcome: checks::Outcome::Fail,
                strong: false,
                detail: "the retry failed".into(),
                failure_mode: Some("incomplete".into()),
            }];
            break;
        }
        sig = signals(
            learning,
            root.as_deref(),
            &task_type,
            &inst,
            expect,
            &inv.result,
        )
        .await;
    }
    let samples = expect
        .samples
        .or_else(|| cfg.samples.get(&task_type).copied())
        .unwrap_or(1)
        .clamp(1, checks::MAX_SAMPLES);
    let mut taken = 1u32;
    if samples > 1 && !sig.iter().any(|s| s.outcome == checks::Outcome::Fail) {
        let mut answers = vec![inv.result.deliverable.clone().unwrap_or_default()];
        for _ in 1..samples {
            let mut opts = again();
            opts.cache = Some(false);
            opts.write_artifact = false;
            opts.events = None;
            if let Ok(s) = svc.invoke(name, input.to_string(), opts).await {
                extras.extra_local_tokens = extras
                    .extra_local_tokens
                    .saturating_add(local_tokens(&s.result));
                if !s.result.has_errors() {
                    answers.push(s.result.deliverable.unwrap_or_default());
                }
            }
        }
        taken = answers.len() as u32;
        let a = Answer {
            task_type: &task_type,
            instruction: &inst,
            input,
            output: "",
            truncated: false,
        };
        if let Some(s) = checks::agreement(&answers, checks::exact_kind(&a, expect)) {
            sig.push(s);
        }
    }
    let mut fc = FreeChecks::from_signals(sig);
    fc.attempts = attempts;
    fc.samples = taken;
    if let Some(e) = &mut fc.escalate {
        *e = if attempts > 1 {
            format!(
                "{e} (on each of {attempts} local attempts; before: {})",
                why_retried.join("; ")
            )
        } else {
            e.clone()
        };
    }
    extras.checks = Some(fc.clone());
    Checked {
        inv,
        checks: Some(fc),
        extras,
    }
}
