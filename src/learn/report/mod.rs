//! `orc report learning`: per ensemble and per task type, what the local swarms did, what that
//! saved (an estimate, labelled so), how good it was, what judging cost, the break-even
//! evaluation rate and PGR. Text, JSON, or one self-contained HTML page with SVG charts.

mod charts;
mod html;
mod text;

pub use self::html::html;
use self::text::usd;
pub use self::text::{net_line, text, thousands};
use super::metrics::{Aggregate, Agreement, Quality, Stats};
use super::service::Learning;
use super::{LearnConfig, LearnError};
use serde::Serialize;

/// Text made safe inside HTML and SVG, in text and in attributes.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The label every Claude-equivalent figure carries.
pub const ESTIMATE_NOTE: &str = "Claude-side tokens and dollars are estimates: the gross is the task's input plus an answer as long as the local deliverable; the hand-over is what crossed the MCP wire for the run (arguments Claude wrote, priced as output; results it read and a share of the tool definitions per call, priced as input); judging is the judge tokens Claude reported plus its judging calls. All counted as o200k_base would (no public Claude tokenizer exists) times a factor for Claude's tokenizer, priced from the table in config. NET = gross - hand-over - judging";

/// Tokens Claude read and wrote, and their price.
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub usd: f64,
}

/// What judging cost Claude: the judge tokens it reported and its judging calls' hand-over.
#[derive(Debug, Clone, Serialize)]
pub struct Judging {
    pub judge_tokens: u64,
    pub judge_usd: f64,
    pub calls_input_tokens: u64,
    pub calls_output_tokens: u64,
    pub calls_usd: f64,
    pub usd: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct QualityView {
    pub good: u64,
    pub acceptable: u64,
    pub poor: u64,
    pub mean_score: Option<f64>,
    /// Of the verdicts, a local judge's: each counts for its measured agreement with Claude.
    #[serde(skip_serializing_if = "is_zero")]
    pub by_local_judge: u64,
    /// What the verdicts weigh (a reference verdict 1, a local judge's its agreement).
    pub weight: f64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl From<&Quality> for QualityView {
    fn from(q: &Quality) -> Self {
        QualityView {
            good: q.good,
            acceptable: q.acceptable,
            poor: q.poor,
            mean_score: q.mean(),
            by_local_judge: q.by_local_judge,
            weight: (q.weight() * 100.0).round() / 100.0,
        }
    }
}

/// The free checks of the runs (each check's pass / doubt / fail), and their verdicts as
/// evidence for runs no judge saw.
#[derive(Debug, Clone, Serialize)]
pub struct ChecksView {
    pub checked_runs: u64,
    pub passed: u64,
    /// A check wanted a judge.
    pub doubted: u64,
    /// A hard check failed on every attempt: not delivered, escalated to Claude.
    pub failed: u64,
    /// Strong free evidence: no paid judgment needed.
    pub strong: u64,
    /// Runs retried locally after a failed hard check.
    pub retried: u64,
    pub by_check: std::collections::BTreeMap<String, super::metrics::CheckCount>,
    /// Their verdicts as evidence (strong pass good, not delivered poor), for runs no judge saw.
    pub evidence: QualityView,
}

/// What knowing quality cost against what routing saved.
#[derive(Debug, Clone, Serialize)]
pub struct Money {
    /// Paid judgments per local run: the rate the history actually had.
    pub observed_judging_rate: Option<f64>,
    /// Claude's answers of paired comparisons, and what they cost.
    pub paired_answers: u64,
    pub pairing_usd: f64,
    /// Judging plus paired answers.
    pub evaluation_usd: f64,
    /// Routing's estimated saving minus that spend.
    pub saved_after_evaluation_usd: f64,
    /// The spend was larger than the saving.
    pub lost_money: bool,
}

/// The figures of one ensemble, one task type, or all.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_type: Option<String>,
    /// Estimated dollars delegation saved after what it cost: gross - hand-over - judging.
    /// Negative: a loss.
    pub net_usd_estimate: f64,
    /// `saving`, `loss` or `none`.
    pub outcome: &'static str,
    /// Net / gross (null without a gross).
    pub efficiency: Option<f64>,
    /// Tokens (all priced alike): gross - hand-over - judging.
    pub net_tokens_estimate: i64,
    /// What Claude would have spent doing the delivered local runs itself.
    pub gross: Cost,
    /// What handing the runs over cost Claude (arguments out; results and definitions in).
    pub delegation_overhead: Cost,
    pub delegation_calls: u64,
    pub judging: Judging,
    /// Local runs whose own hand-over cost more than their gross.
    pub losing_runs: u64,
    /// Runs cancelled by the client: never delivered, their hand-over still counted.
    pub cancelled_runs: u64,
    pub runs: u64,
    pub local_runs: u64,
    pub claude_runs: u64,
    /// Exact: Ollama's own counts.
    pub local_tokens: u64,
    /// Estimates.
    pub claude_equivalent_tokens_estimate: u64,
    pub tokens_saved_estimate: u64,
    pub usd_saved_estimate: f64,
    pub claude_direct_tokens: u64,
    pub claude_direct_usd: f64,
    pub quality: QualityView,
    pub quality_claude: QualityView,
    pub accepted: u64,
    pub rejected: u64,
    pub acceptance_rate: Option<f64>,
    pub evaluations: u64,
    pub local_judge_evaluations: u64,
    pub judge_tokens: u64,
    pub judge_usd: f64,
    pub savings_per_request_usd: Option<f64>,
    pub judge_cost_per_evaluation_usd: Option<f64>,
    /// savings per request / judge cost per evaluation: the highest evaluation rate that pays.
    pub break_even_rate: Option<f64>,
    /// Set when the judging rate the history had (or the configured sample rate) is above the
    /// break-even rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub break_even_warning: Option<String>,
    pub money: Money,
    pub free_checks: ChecksView,
    /// (r_router - r_weak) / (r_strong - r_weak), null when n/a.
    pub pgr: Option<f64>,
    /// Judgments behind PGR (of local and of Claude's outputs).
    pub pgr_n: u64,
    /// Tasks judged on both sides (PGR is n/a without one).
    pub pgr_pairs: u64,
    /// Why PGR is n/a.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pgr_reason: Option<String>,
    /// A 95% bootstrap interval of PGR, resampling the judged tasks.
    pub pgr_ci: Option<[f64; 2]>,
    pub pgr_detail: PgrDetail,
    pub first_run: Option<String>,
    pub last_run: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PgrDetail {
    pub r_weak: Option<f64>,
    pub n_weak: u64,
    pub r_strong: Option<f64>,
    pub n_strong: u64,
    pub r_router: Option<f64>,
    pub n_router: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DayRow {
    pub day: String,
    pub runs: u64,
    pub tokens_saved_estimate: u64,
    pub usd_saved_estimate: f64,
    pub handover_usd: f64,
    pub judge_usd: f64,
    pub evaluations: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub generated_at: String,
    pub estimate_note: &'static str,
    pub settings: serde_json::Value,
    pub ensembles: Vec<Row>,
    pub task_types: Vec<Row>,
    pub totals: Row,
    pub local_judges: Vec<Agreement>,
    pub days: Vec<DayRow>,
    pub skipped_lines: serde_json::Value,
    pub warnings: Vec<String>,
}

fn break_even_warning(s: &Stats, rate: f64) -> Option<String> {
    let be = s.break_even()?;
    let observed = s.observed_judging_rate();
    let cost = s.judge_cost_per_eval().map(usd).unwrap_or_default();
    match observed {
        Some(o) if o > be => Some(format!(
            "{:.0}% of local runs were judged (observed, {cost} per evaluation), above the break-even rate {:.1}%: judging cost more than routing saved",
            o * 100.0,
            be * 100.0
        )),
        _ if rate > be => Some(format!(
            "the sample rate {:.0}% is above the break-even rate {:.1}%: judging costs more than routing saves",
            rate * 100.0,
            be * 100.0
        )),
        _ => None,
    }
}

fn money(s: &Stats) -> Money {
    let spend = s.evaluation_usd();
    Money {
        observed_judging_rate: s.observed_judging_rate(),
        paired_answers: s.paired_answers,
        pairing_usd: s.pairing_usd,
        evaluation_usd: spend,
        saved_after_evaluation_usd: s.usd_saved - spend,
        lost_money: spend > s.usd_saved && spend > 0.0,
    }
}

fn checks_view(s: &Stats) -> ChecksView {
    ChecksView {
        checked_runs: s.checked_runs,
        passed: s.checks_passed,
        doubted: s.checks_doubted,
        failed: s.checks_failed,
        strong: s.checks_strong,
        retried: s.retried_runs,
        by_check: s.checks.clone(),
        evidence: (&s.quality_checks).into(),
    }
}

fn row(s: &Stats, ensemble: Option<&str>, task_type: Option<&str>, rate: f64) -> Row {
    let be = s.break_even();
    let net = s.net_usd();
    Row {
        ensemble: ensemble.map(str::to_string),
        task_type: task_type.map(str::to_string),
        net_usd_estimate: net,
        outcome: outcome(net),
        efficiency: s.efficiency(),
        net_tokens_estimate: net_tokens(s),
        gross: Cost {
            input_tokens: s.gross_input_tokens,
            output_tokens: s.gross_output_tokens,
            usd: s.usd_saved,
        },
        delegation_overhead: Cost {
            input_tokens: s.handover.input_tokens(),
            output_tokens: s.handover.argument_tokens,
            usd: s.handover_usd,
        },
        delegation_calls: s.handover.calls,
        judging: judging(s),
        losing_runs: s.losing_runs,
        cancelled_runs: s.cancelled_runs,
        runs: s.runs,
        local_runs: s.local_runs,
        claude_runs: s.claude_runs,
        local_tokens: s.local_tokens,
        claude_equivalent_tokens_estimate: s.claude_equivalent_tokens,
        tokens_saved_estimate: s.tokens_saved,
        usd_saved_estimate: s.usd_saved,
        claude_direct_tokens: s.claude_direct_tokens,
        claude_direct_usd: s.claude_direct_usd,
        quality: (&s.quality_local).into(),
        quality_claude: (&s.quality_claude).into(),
        accepted: s.accepted,
        rejected: s.rejected,
        acceptance_rate: s.acceptance_rate(),
        evaluations: s.evaluations,
        local_judge_evaluations: s.local_judge_evaluations,
        judge_tokens: s.judge_tokens,
        judge_usd: s.judge_usd,
        savings_per_request_usd: s.savings_per_request(),
        judge_cost_per_evaluation_usd: s.judge_cost_per_eval(),
        break_even_rate: be,
        break_even_warning: break_even_warning(s, rate),
        money: money(s),
        free_checks: checks_view(s),
        pgr: s.pgr(),
        pgr_n: s.quality_local.n() + s.quality_claude.n(),
        pgr_pairs: s.pgr_pairs,
        pgr_reason: s.pgr_reason(),
        pgr_ci: s.pgr_ci.map(|(a, b)| [a, b]),
        pgr_detail: pgr_detail(s),
        first_run: s.first_run.clone(),
        last_run: s.last_run.clone(),
    }
}

fn outcome(net: f64) -> &'static str {
    if net > 0.0 {
        "saving"
    } else if net < 0.0 {
        "loss"
    } else {
        "none"
    }
}

/// Gross Claude-equivalent tokens less the tokens the hand-over and judging spent.
fn net_tokens(s: &Stats) -> i64 {
    let gross_tokens = s.gross_input_tokens.saturating_add(s.gross_output_tokens) as i64;
    let spent = s
        .handover
        .input_tokens()
        .saturating_add(s.handover.argument_tokens)
        .saturating_add(s.judging_handover.input_tokens())
        .saturating_add(s.judging_handover.argument_tokens)
        .saturating_add(s.judge_tokens) as i64;
    gross_tokens.saturating_sub(spent)
}

fn judging(s: &Stats) -> Judging {
    Judging {
        judge_tokens: s.judge_tokens,
        judge_usd: s.judge_usd,
        calls_input_tokens: s.judging_handover.input_tokens(),
        calls_output_tokens: s.judging_handover.argument_tokens,
        calls_usd: s.judging_handover_usd,
        usd: s.judge_usd + s.judging_handover_usd,
    }
}

fn pgr_detail(s: &Stats) -> PgrDetail {
    PgrDetail {
        r_weak: s.quality_local.mean(),
        n_weak: s.quality_local.n(),
        r_strong: s.quality_claude.mean(),
        n_strong: s.quality_claude.n(),
        r_router: s.quality_delivered.mean(),
        n_router: s.quality_delivered.n(),
    }
}

/// Builds the report by streaming the logs.
pub fn build(learning: &Learning) -> Result<Report, LearnError> {
    let cfg = &learning.config;
    let agg = Aggregate::load(&learning.paths, cfg)?;
    let rate = cfg.sample_rate;
    let mut warnings = learning.warnings.clone();
    warnings.extend(agg.routing_scan.warning(&learning.paths.routing_log()));
    warnings.extend(agg.evaluation_scan.warning(&learning.paths.evaluations()));
    let ensembles: Vec<Row> = agg
        .ensembles
        .iter()
        .map(|(e, s)| row(s, Some(e), None, rate))
        .collect();
    let task_types: Vec<Row> = agg
        .task_types
        .iter()
        .map(|(t, s)| row(s, None, Some(t), rate))
        .collect();
    let totals = row(&agg.totals, None, None, rate);
    warnings.extend(money_warnings(&ensembles, &totals));
    Ok(Report {
        generated_at: super::now(),
        estimate_note: ESTIMATE_NOTE,
        settings: settings(cfg, &agg),
        ensembles,
        task_types,
        totals,
        local_judges: agg.agreements.clone(),
        days: days(&agg),
        skipped_lines: serde_json::json!({
            "routing_log": agg.routing_scan.skipped,
            "evaluations": agg.evaluation_scan.skipped,
        }),
        warnings,
    })
}

/// The settings the figures were computed with.
fn settings(cfg: &LearnConfig, agg: &Aggregate) -> serde_json::Value {
    serde_json::json!({
        "sample_rate": cfg.sample_rate,
        "encoding": super::estimate::ENCODING,
        "claude_token_factor": cfg.claude_token_factor,
        "claude_model": cfg.claude_model,
        "claude_price": cfg.price(&cfg.claude_model),
        "judge_model": cfg.judge_model,
        "judge_price": cfg.price(&cfg.judge_model),
        "judge_output_share": cfg.judge_output_share,
        "log_inputs": cfg.log_inputs,
        "pair_rate": cfg.pair_rate,
        "checks": {
            "enabled": cfg.checks.enabled,
            "retries": cfg.checks.retries,
            "samples": cfg.checks.samples,
            "test_command": cfg.checks.test_command,
        },
        "local_judge_weights": agg.agreements.iter().map(|a| (a.judge.clone(), super::metrics::judge_weight(a, cfg.local_judge.as_ref().map_or(30, |j| j.min_pairs)))).collect::<std::collections::BTreeMap<_, _>>(),
        "counter": super::estimate::COUNTER,
        "definitions_share": cfg.definitions_share,

    })
}

/// A warning per ensemble (and for all runs) past its break-even, and one when the history
/// lost money.
fn money_warnings(ensembles: &[Row], totals: &Row) -> Vec<String> {
    let mut warnings = Vec::new();
    for r in ensembles.iter().chain(std::iter::once(totals)) {
        if let Some(w) = &r.break_even_warning {
            warnings.push(format!(
                "{}: {w}",
                r.ensemble.as_deref().unwrap_or("all runs")
            ));
        }
    }
    if totals.money.lost_money {
        warnings.push(format!(
            "this history lost money: routing saved ~{} (estimate) and knowing its quality cost {} (judging {}, Claude's paired answers {}): {} net",
            usd(totals.usd_saved_estimate),
            usd(totals.money.evaluation_usd),
            usd(totals.judge_usd),
            usd(totals.money.pairing_usd),
            usd(totals.money.saved_after_evaluation_usd)
        ));
    }
    warnings
}

fn days(agg: &Aggregate) -> Vec<DayRow> {
    agg.days
        .iter()
        .map(|(d, x)| DayRow {
            day: d.clone(),
            runs: x.runs,
            tokens_saved_estimate: x.tokens_saved,
            usd_saved_estimate: x.usd_saved,
            handover_usd: x.handover_usd,
            judge_usd: x.judge_usd,
            evaluations: x.evaluations,
        })
        .collect()
}
