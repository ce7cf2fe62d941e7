//! Route on the break-even: a delegation pays only if what Claude spends handing the task over
//! (the definitions sent with the calls, the arguments it writes, the result it reads, the
//! judging it may owe) is below what doing the task itself would cost it. `route` asks the
//! classifier and the ensemble choice (`route::route`) first, then estimates both sides here;
//! when delegating would not pay, the recommendation becomes `claude` and its reason names the
//! numbers. The threshold is `learning.min_net_usd` (default 0: it must not lose), raised per
//! task type by `orc learn` where measured delegations of that type lost money on average.
//!
//! The model, all estimates (counted as `estimate::tokens`, times the Claude factor):
//! - Claude doing it: the document (the task text when inline, the files otherwise) as input,
//!   plus the answer as output (the same rule as the report's gross);
//! - the hand-over: two calls' share of definitions (route_task is already spent), the
//!   arguments (the document itself when inline, a path otherwise; Claude's output tokens), the
//!   compact result (the answer plus ~8 tokens per agent and ~120 of status and ids);
//! - judging: the share of runs judged (every run for an ensemble's first uses) times a judge's
//!   cost per evaluation (measured, else 1,500 tokens);
//! - the answer's size: the mean deliverable of this task type's runs once there are three,
//!   else a prior per task type from the document's size.

use serde::Serialize;

pub use super::batch::{Threshold, thresholds as learn};
use super::metrics::{Aggregate, Stats};
use super::route::{Recommendation, RouteRequest};
use super::service::Learning;
use super::{LearnError, batch, estimate};
use crate::service::Service;

/// Definition tokens the CLI's `orc route` assumes (the core set's ~10,000 characters), as it
/// cannot see the server's surface.
pub const CLI_DEFINITION_TOKENS: u64 = 2_200;

/// Claude-side tokens and dollars of one side of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub usd: f64,
}

/// The break-even estimate `route_task` returns.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    /// Delegating is expected to save more than the threshold.
    pub pays: bool,
    /// Claude doing it itself.
    pub claude_direct: Side,
    /// Handing it over: definitions and the result in, the arguments out.
    pub handover: Side,
    pub judging_usd: f64,
    /// claude_direct - handover - judging.
    pub net_usd: f64,
    pub min_net_usd: f64,
    /// `learning.min_net_usd` or `routing-config vN`.
    pub threshold_from: String,
    pub document_tokens: u64,
    /// The document is passed inline (retyped as arguments) rather than by path.
    pub inline: bool,
    pub answer_tokens: u64,
    /// `N runs of TASK_TYPE` or `prior for TASK_TYPE`.
    pub answer_from: String,
    pub note: &'static str,
}

const NOTE: &str = "estimate: Claude-side tokens counted as o200k_base would (times the Claude factor), priced input and output apart";

/// The answer's expected size (Claude-equivalent tokens): measured, else a prior.
fn answer_tokens(task_type: &str, doc: u64, s: Option<&Stats>) -> (u64, String) {
    if let Some(s) = s {
        let delivered = s.local_runs.saturating_sub(s.cancelled_runs);
        if delivered >= 3 && s.gross_output_tokens > 0 {
            return (
                s.gross_output_tokens / delivered,
                format!("{delivered} runs of {task_type}"),
            );
        }
    }
    let prior = match task_type {
        "classification" => 20,
        "extraction" => 50 + (doc / 4).min(600),
        "summarization" => 60 + (doc / 6).min(400),
        "json" => 40 + (doc / 3).min(800),
        "code-review" => 300,
        "code-generation" => 400,
        _ => 200,
    };
    (prior, format!("prior for {task_type}"))
}

/// What is to be handed over: the task, its documents' size and where it would go.
pub struct Ask<'a> {
    pub task_type: &'a str,
    pub ensemble: Option<&'a str>,
    /// Tokens (before the Claude factor) of the documents Claude would otherwise read: the
    /// text passed inline, else the files passed by path.
    pub document_tokens: u64,
    /// Tokens (before the Claude factor) Claude writes as arguments beyond the call itself:
    /// the document when it is passed inline.
    pub retyped_tokens: u64,
    /// The documents go by path (orc reads them), not inline.
    pub by_path: bool,
    /// Tokens (before the Claude factor) of the tool definitions the client is served.
    pub definition_tokens: u64,
}

/// Estimates whether handing the task over pays.
pub fn assess(l: &Learning, svc: &Service, agg: &Aggregate, ask: &Ask) -> Assessment {
    let Ask {
        task_type,
        ensemble,
        document_tokens,
        retyped_tokens,
        by_path,
        definition_tokens,
    } = *ask;
    let cfg = &l.config;
    let f = cfg.claude_token_factor;
    let scale = |n: u64| (n as f64 * f).round() as u64;
    let inline = !by_path;
    let doc = scale(document_tokens);
    let (answer, answer_from) = answer_tokens(task_type, doc, agg.task_types.get(task_type));
    let agents = ensemble
        .and_then(|e| svc.compile(e).ok())
        .map_or(12, |(e, _)| e.total_agents() as u64);
    let direct_in = doc;
    let direct_out = answer;
    let args = scale(retyped_tokens) + 60;
    let result = answer + 120 + 8 * agents;
    let defs = (2.0 * scale(definition_tokens) as f64 * cfg.definitions_share).round() as u64;
    let handover_in = result + defs;
    let uses = ensemble
        .and_then(|e| agg.ensembles.get(e))
        .map_or(0, |s| s.local_runs);
    let rate = if uses < cfg.calibration_uses {
        1.0
    } else {
        cfg.sample_rate
    };
    let per_eval = agg
        .task_types
        .get(task_type)
        .and_then(Stats::judge_cost_per_eval)
        .unwrap_or_else(|| cfg.judge_usd(1500));
    let judging = rate * per_eval;
    let direct_usd = cfg.claude_usd(direct_in, direct_out);
    let handover_usd = cfg.claude_usd(handover_in, args);
    let net = direct_usd - handover_usd - judging;
    let (min_net, from) = match batch::current(&l.paths).ok().flatten().and_then(|c| {
        c.breakeven
            .get(task_type)
            .map(|t| (t.min_net_usd, c.version))
    }) {
        Some((m, v)) => (m, format!("routing-config v{v}")),
        None => (cfg.min_net_usd, "learning.min_net_usd".to_string()),
    };
    Assessment {
        pays: net > min_net,
        claude_direct: Side {
            input_tokens: direct_in,
            output_tokens: direct_out,
            usd: direct_usd,
        },
        handover: Side {
            input_tokens: handover_in,
            output_tokens: args,
            usd: handover_usd,
        },
        judging_usd: judging,
        net_usd: net,
        min_net_usd: min_net,
        threshold_from: from,
        document_tokens: doc,
        inline,
        answer_tokens: answer,
        answer_from,
        note: NOTE,
    }
}

fn usd(v: f64) -> String {
    format!("${v:.4}")
}

/// The reason a delegation that does not pay goes to Claude, with the numbers.
pub fn reason(a: &Assessment) -> String {
    format!(
        "delegating would not pay: doing it yourself costs ~{} ({} tokens in, ~{} out), handing it over ~{} ({} in: result and definitions; {} out: the arguments{}) plus ~{} judging, net {} against a threshold of {} ({}); estimates",
        usd(a.claude_direct.usd),
        a.claude_direct.input_tokens,
        a.answer_tokens,
        usd(a.handover.usd),
        a.handover.input_tokens,
        a.handover.output_tokens,
        if a.inline {
            ", the document retyped inline: pass it with input_files"
        } else {
            ""
        },
        usd(a.judging_usd),
        usd(a.net_usd),
        usd(a.min_net_usd),
        a.threshold_from
    )
}

/// `route_task`: the recommendation with its break-even; one that does not pay goes to Claude.
#[derive(Debug, Clone, Serialize)]
pub struct Routed {
    #[serde(flatten)]
    pub recommendation: Recommendation,
    pub breakeven: Assessment,
}

/// Routes the request (`route::route_request`), then checks the break-even. Globs among the
/// input files are expanded first, inside the project, as `invoke` would read them.
pub fn route(
    l: &Learning,
    svc: &Service,
    req: &RouteRequest,
    definition_tokens: u64,
) -> Result<Routed, LearnError> {
    super::route::check_request(req)?;
    let mut req = req.clone();
    if req.input_files.iter().any(|f| f.contains(['*', '?', '['])) {
        let root = svc.project.dirs.script_base();
        req.input_files = crate::service::inputs::read(root, &req.input_files)
            .map_err(|e| LearnError::Refused(e.to_string()))?
            .into_iter()
            .map(|f| f.path)
            .collect();
    }
    let agg = Aggregate::load(&l.paths, &l.config)?;
    let mut rec = super::route::route_request_with(l, svc, &req, &agg)?;
    let inline = req.input.as_deref().map_or(0, estimate::tokens);
    let files: u64 = rec.input.files.iter().map(|f| f.tokens).sum();
    let by_path = !rec.input.files.is_empty();
    let task = estimate::tokens(&req.task);
    let (document_tokens, retyped_tokens) = if by_path {
        (files.saturating_add(inline), inline)
    } else {
        (task.saturating_add(inline), task.saturating_add(inline))
    };
    let a = assess(
        l,
        svc,
        &agg,
        &Ask {
            task_type: &rec.task_type,
            ensemble: rec.ensemble.as_deref(),
            document_tokens,
            retyped_tokens,
            by_path,
            definition_tokens,
        },
    );
    let outcome = if rec.route == "claude" {
        format!("not needed (net ~{})", usd(a.net_usd))
    } else if a.pays {
        format!("pays: net ~{} over {}", usd(a.net_usd), usd(a.min_net_usd))
    } else {
        format!("does not pay: net ~{} -> claude", usd(a.net_usd))
    };
    rec.steps.push(super::route::Step {
        step: "break-even",
        outcome,
    });
    if rec.route != "claude" && !a.pays {
        rec.reason = format!("{}; {}", reason(&a), rec.reason);
        rec.route = "claude";
        rec.ensemble = None;
        rec.shape = None;
        rec.tiers = Vec::new();
        rec.decided_by = format!("{} + break-even", rec.decided_by);
    }
    Ok(Routed {
        recommendation: rec,
        breakeven: a,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_inline_task_does_not_pay_and_a_long_answer_by_path_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        let l = Learning::at(dir.path());
        let env = crate::load::project::Env::default();
        let svc = Service::open(dir.path(), None, &env);
        let agg = Aggregate::default();
        // Classifying a sentence inline: the answer is ~20 tokens, the definitions alone more.
        let ask = |task_type, document_tokens, by_path, definition_tokens| Ask {
            task_type,
            ensemble: None,
            document_tokens,
            retyped_tokens: if by_path { 0 } else { document_tokens },
            by_path,
            definition_tokens,
        };
        let spam = estimate::tokens("Is this spam? Win a prize now");
        let a = assess(&l, &svc, &agg, &ask("classification", spam, false, 2000));
        assert!(!a.pays, "{a:?}");
        assert!(reason(&a).contains("delegating would not pay"));
        // Summarising a long file by path, no definitions sent: reading it is what Claude saves.
        let doc =
            estimate::tokens(&"The committee met on Tuesday to discuss the budget. ".repeat(2000));
        let a = assess(&l, &svc, &agg, &ask("summarization", doc, true, 0));
        assert!(a.pays, "{a:?}");
        assert!(!a.inline);
    }
}
