//! What each call costs Claude, counted from what crosses the wire, and which delegated run it
//! is charged to. Arguments are what Claude wrote (its output tokens); a result's text is what
//! it reads (input tokens), once: the structured copy beside it is for programs; each call also
//! carries a share of the served tool definitions (`learning.definitions_share`), resent with
//! every turn where the client does not defer them. Counted with `estimate::tokens` times
//! `learning.claude_token_factor`: estimates, labelled so in the report.
//!
//! - `invoke` charges itself to the run's routing record (see `runs`; one refused before it
//!   ran is charged to the next delegation), with the calls that prepared it (`route_task`, `list_ensembles`, `validate_ensemble`, `check_ensemble_runnable`
//!   since the last delegation) and, for an async run, the polls before it finished;
//! - calls that name a run after its record was written (`run_status`, `run_result`,
//!   `cancel_run`, `should_evaluate`, `record_evaluation`, `record_feedback`, `judge_locally`)
//!   go to `handover.jsonl` with its routing id; `record_claude_task` charges the preparing
//!   calls and itself to the record it writes.

use rmcp::model::CallToolResult;
use serde_json::{Map, Value};

use super::{OrcMcp, lock};
use crate::learn::records::{self, Handover, HandoverLine};
use crate::learn::service::Learning;

/// The arguments' tokens (before the Claude factor), handed to the tool by `call_tool`.
#[derive(Debug, Clone, Copy)]
pub struct ArgTokens(pub u64);

/// Tokens (before the factor) of a call's arguments as sent: their JSON text.
pub fn argument_tokens(args: &Map<String, Value>) -> u64 {
    if args.is_empty() {
        return 0;
    }
    crate::learn::estimate::tokens(&serde_json::to_string(args).unwrap_or_default())
}

/// Tokens (before the factor) of the text a result gives the model.
pub fn result_tokens(r: &CallToolResult) -> u64 {
    r.content
        .iter()
        .map(|c| {
            c.as_text()
                .map_or(0, |t| crate::learn::estimate::tokens(&t.text))
        })
        .sum()
}

impl OrcMcp {
    /// One call's hand-over, the Claude factor and the definitions' share applied.
    pub(super) fn handover_of(&self, l: &Learning, args: u64, result: u64) -> Handover {
        let f = l.config.claude_token_factor;
        let scale = |n: u64| (n as f64 * f).round() as u64;
        Handover {
            calls: 1,
            argument_tokens: scale(args),
            result_tokens: scale(result),
            definition_tokens: (self.state.definition_tokens as f64
                * f
                * l.config.definitions_share)
                .round() as u64,
        }
    }

    /// The calls that prepared this delegation, taken (the next one starts from nothing).
    pub(super) fn take_pending(&self) -> Handover {
        std::mem::take(&mut *lock(&self.state.pending))
    }

    /// Charges a finished call (other than invoke) to the run it belongs to.
    pub(super) fn account(
        &self,
        tool: &str,
        args: &Map<String, Value>,
        arg_tokens: u64,
        result: Option<&CallToolResult>,
    ) {
        let res_tokens = result.map_or(0, result_tokens);
        let svc = self.svc();
        let l = Learning::open(&svc);
        let h = self.handover_of(&l, arg_tokens, res_tokens);
        let text = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_string);
        let routing_id = match tool {
            "route_task"
            | "list_ensembles"
            | "validate_ensemble"
            | "check_ensemble_runnable"
            | "invoke" => {
                lock(&self.state.pending).add(&h);
                return;
            }
            "run_status" | "run_result" | "cancel_run" => {
                let Some(run_id) = text("run_id") else { return };
                let mut runs = lock(&self.state.runs);
                let Some(run) = runs.get_mut(&run_id) else {
                    return;
                };
                match &run.routing_id {
                    Some(id) => id.clone(),
                    None => {
                        run.handover.add(&h);
                        return;
                    }
                }
            }
            "should_evaluate" | "record_evaluation" | "record_feedback" | "judge_locally" => {
                match text("routing_id") {
                    Some(id) => id,
                    None => return,
                }
            }
            "record_claude_task" => {
                // The record is written; its id is in the result.
                let Some(id) = result
                    .and_then(|r| r.structured_content.as_ref())
                    .and_then(|v| v["id"].as_str())
                    .map(str::to_string)
                else {
                    return;
                };
                let mut all = self.take_pending();
                all.add(&h);
                return self.ledger(&l, &id, tool, all);
            }
            _ => return,
        };
        if crate::learn::check_id(&routing_id).is_ok() {
            self.ledger(&l, &routing_id, tool, h);
        }
    }

    fn ledger(&self, l: &Learning, routing_id: &str, tool: &str, tokens: Handover) {
        let line = HandoverLine {
            routing_id: routing_id.to_string(),
            tool: tool.to_string(),
            timestamp: crate::learn::now(),
            kind: if records::is_judging_tool(tool) {
                "judging"
            } else {
                "delegation"
            }
            .into(),
            tokens,
        };
        if let Err(e) = records::append(&l.paths.handover_log(), &line) {
            tracing::warn!(error = %e, tool, "the hand-over of a call was not logged");
        }
    }
}
