//! `orc report learning`: per ensemble and per task type, what the local swarms did, what that
//! saved (an estimate, labelled so), how good it was, what judging cost, the break-even
//! evaluation rate and PGR. Text, JSON, or one self-contained HTML page with SVG charts.

use std::fmt::Write as _;

use serde::Serialize;

use super::LearnError;
use super::metrics::{Aggregate, Agreement, Quality, Stats};
use super::service::Learning;

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
    let gross_tokens = s.gross_input_tokens.saturating_add(s.gross_output_tokens) as i64;
    let spent = s
        .handover
        .input_tokens()
        .saturating_add(s.handover.argument_tokens)
        .saturating_add(s.judging_handover.input_tokens())
        .saturating_add(s.judging_handover.argument_tokens)
        .saturating_add(s.judge_tokens) as i64;
    Row {
        ensemble: ensemble.map(str::to_string),
        task_type: task_type.map(str::to_string),
        net_usd_estimate: net,
        outcome: if net > 0.0 {
            "saving"
        } else if net < 0.0 {
            "loss"
        } else {
            "none"
        },
        efficiency: s.efficiency(),
        net_tokens_estimate: gross_tokens.saturating_sub(spent),
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
        judging: Judging {
            judge_tokens: s.judge_tokens,
            judge_usd: s.judge_usd,
            calls_input_tokens: s.judging_handover.input_tokens(),
            calls_output_tokens: s.judging_handover.argument_tokens,
            calls_usd: s.judging_handover_usd,
            usd: s.judge_usd + s.judging_handover_usd,
        },
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
        pgr_detail: PgrDetail {
            r_weak: s.quality_local.mean(),
            n_weak: s.quality_local.n(),
            r_strong: s.quality_claude.mean(),
            n_strong: s.quality_claude.n(),
            r_router: s.quality_delivered.mean(),
            n_router: s.quality_delivered.n(),
        },
        first_run: s.first_run.clone(),
        last_run: s.last_run.clone(),
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
    for r in ensembles.iter().chain(std::iter::once(&totals)) {
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
    Ok(Report {
        generated_at: super::now(),
        estimate_note: ESTIMATE_NOTE,
        settings: serde_json::json!({
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
        }),
        ensembles,
        task_types,
        totals,
        local_judges: agg.agreements.clone(),
        days: agg
            .days
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
            .collect(),
        skipped_lines: serde_json::json!({
            "routing_log": agg.routing_scan.skipped,
            "evaluations": agg.evaluation_scan.skipped,
        }),
        warnings,
    })
}

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.0}%", x * 100.0))
        .unwrap_or_else(|| "n/a".into())
}

fn num(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "n/a".into())
}

fn usd(v: f64) -> String {
    if v < 0.0 {
        return format!("-{}", usd(-v));
    }
    if v.abs() < 0.01 && v != 0.0 {
        format!("${v:.4}")
    } else {
        format!("${v:.2}")
    }
}

/// Thousands separators.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn quality_line(q: &QualityView) -> String {
    if q.good + q.acceptable + q.poor == 0 {
        return "not judged yet".into();
    }
    format!(
        "{} good, {} acceptable, {} poor (mean {})",
        q.good,
        q.acceptable,
        q.poor,
        num(q.mean_score)
    )
}

/// The net line every block leads with: a saving, or a loss said as one.
pub fn net_line(r: &Row) -> String {
    let eff = r
        .efficiency
        .map(|e| format!(", efficiency {:.0}%", e * 100.0))
        .unwrap_or_default();
    let what = match r.outcome {
        "loss" => format!("LOSS of ~{}", usd(-r.net_usd_estimate)),
        "saving" => format!("saved ~{}", usd(r.net_usd_estimate)),
        _ => "nothing saved".to_string(),
    };
    format!(
        "NET: {what} (estimate) = gross {} - hand-over {} - judging {}{eff}",
        usd(r.gross.usd),
        usd(r.delegation_overhead.usd),
        usd(r.judging.usd)
    )
}

fn text_block(out: &mut String, title: &str, r: &Row, with_pgr: bool) {
    let _ = writeln!(out, "{title}");
    let _ = writeln!(out, "  {}", net_line(r));
    let _ = writeln!(
        out,
        "  runs: {} ({} local, {} Claude-direct{}{})",
        r.runs,
        r.local_runs,
        r.claude_runs,
        if r.losing_runs > 0 {
            format!("; {} lost more than they saved", r.losing_runs)
        } else {
            String::new()
        },
        if r.cancelled_runs > 0 {
            format!("; {} cancelled", r.cancelled_runs)
        } else {
            String::new()
        }
    );
    if r.local_runs > 0 {
        let _ = writeln!(
            out,
            "  local tokens used: {} (exact)",
            thousands(r.local_tokens)
        );
        let _ = writeln!(
            out,
            "  gross (Claude doing it itself): {} in + {} out tokens, ~{} (estimate)",
            thousands(r.gross.input_tokens),
            thousands(r.gross.output_tokens),
            usd(r.gross.usd)
        );
    }
    if r.delegation_calls > 0 || r.delegation_overhead.usd > 0.0 {
        let _ = writeln!(
            out,
            "  hand-over: {} in + {} out tokens over {} call(s), ~{} (estimate)",
            thousands(r.delegation_overhead.input_tokens),
            thousands(r.delegation_overhead.output_tokens),
            r.delegation_calls,
            usd(r.delegation_overhead.usd)
        );
    }
    if r.claude_runs > 0 {
        let _ = writeln!(
            out,
            "  Claude-direct: {} tokens, {}",
            thousands(r.claude_direct_tokens),
            usd(r.claude_direct_usd)
        );
    }
    let _ = writeln!(out, "  quality: {}", quality_line(&r.quality));
    if r.quality.by_local_judge > 0 {
        let _ = writeln!(
            out,
            "    ({} of them by a local judge, weighted by its agreement with Claude: they weigh {:.2})",
            r.quality.by_local_judge, r.quality.weight
        );
    }
    if r.quality_claude.good + r.quality_claude.acceptable + r.quality_claude.poor > 0 {
        let _ = writeln!(
            out,
            "  quality of Claude's outputs: {}",
            quality_line(&r.quality_claude)
        );
    }
    let _ = writeln!(
        out,
        "  accepted: {} ({} of {} with feedback)",
        pct(r.acceptance_rate),
        r.accepted,
        r.accepted + r.rejected
    );
    let _ = writeln!(
        out,
        "  judging: {} evaluation(s){}, {} judge tokens, {}; judging calls {} in + {} out tokens, {}",
        r.evaluations,
        if r.local_judge_evaluations > 0 {
            format!(" ({} by a local judge)", r.local_judge_evaluations)
        } else {
            String::new()
        },
        thousands(r.judge_tokens),
        usd(r.judge_usd),
        thousands(r.judging.calls_input_tokens),
        thousands(r.judging.calls_output_tokens),
        usd(r.judging.calls_usd)
    );
    let _ = writeln!(
        out,
        "  break-even evaluation rate: {}{}",
        pct(r.break_even_rate),
        match (r.savings_per_request_usd, r.judge_cost_per_evaluation_usd) {
            (Some(s), Some(j)) =>
                format!(" ({} saved per run / {} per evaluation)", usd(s), usd(j)),
            _ => String::new(),
        }
    );
    if let Some(w) = &r.break_even_warning {
        let _ = writeln!(out, "  warning: {w}");
    }
    if r.local_runs > 0 || r.money.evaluation_usd > 0.0 {
        let m = &r.money;
        let _ = writeln!(
            out,
            "  knowing quality: {} ({} judged per local run{}); saved after it ~{}{}",
            usd(m.evaluation_usd),
            pct(m.observed_judging_rate),
            if m.paired_answers > 0 {
                format!(
                    ", {} paired answer(s) {}",
                    m.paired_answers,
                    usd(m.pairing_usd)
                )
            } else {
                String::new()
            },
            usd(m.saved_after_evaluation_usd),
            if m.lost_money { " (lost money)" } else { "" }
        );
    }
    let c = &r.free_checks;
    if c.checked_runs > 0 {
        let by: Vec<String> = c
            .by_check
            .iter()
            .map(|(k, v)| format!("{k} {}/{}/{}", v.pass, v.doubt, v.fail))
            .collect();
        let _ = writeln!(
            out,
            "  free checks: {} run(s) checked: {} passed ({} strong), {} wanted a judge, {} failed and were escalated; {} retried locally\n       pass/doubt/fail: {}",
            c.checked_runs,
            c.passed,
            c.strong,
            c.doubted,
            c.failed,
            c.retried,
            by.join(", ")
        );
    }
    if with_pgr {
        let d = &r.pgr_detail;
        let sides = format!(
            "r_weak {} n={}, r_strong {} n={}, r_router {} n={}; {} task(s) judged on both sides",
            num(d.r_weak),
            d.n_weak,
            num(d.r_strong),
            d.n_strong,
            num(d.r_router),
            d.n_router,
            r.pgr_pairs
        );
        let _ = match &r.pgr_reason {
            Some(why) => writeln!(out, "  PGR: n/a ({why})\n       {sides}"),
            None => writeln!(
                out,
                "  PGR: {}{} (n={}; {sides})",
                num(r.pgr),
                r.pgr_ci
                    .map(|[a, b]| format!(", 95% CI {a:.2} to {b:.2}"))
                    .unwrap_or_default(),
                r.pgr_n
            ),
        };
    }
}

pub fn text(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Learning report ({})", r.generated_at);
    let _ = writeln!(out, "note: {}.", r.estimate_note);
    let _ = writeln!(
        out,
        "      factor {} x {}, priced as {} ({}/{} per M tokens in/out)\n",
        r.settings["claude_token_factor"],
        r.settings["counter"].as_str().unwrap_or(""),
        r.settings["claude_model"].as_str().unwrap_or(""),
        r.settings["claude_price"]["input_per_mtok"],
        r.settings["claude_price"]["output_per_mtok"],
    );
    if r.totals.runs == 0 {
        let _ = writeln!(
            out,
            "No runs logged yet: every `orc invoke` (and MCP invoke) appends one to .llm-orc/evaluations/routing-log.jsonl."
        );
    }
    text_block(&mut out, "All runs", &r.totals, true);
    for e in &r.ensembles {
        let _ = writeln!(out);
        text_block(
            &mut out,
            &format!("Ensemble: {}", e.ensemble.as_deref().unwrap_or("")),
            e,
            false,
        );
    }
    for t in &r.task_types {
        let _ = writeln!(out);
        text_block(
            &mut out,
            &format!("Task type: {}", t.task_type.as_deref().unwrap_or("")),
            t,
            true,
        );
    }
    for a in &r.local_judges {
        let _ = writeln!(
            out,
            "\nLocal judge `{}`: agrees with Claude on {} (n={}), Cohen's kappa {}; each of its verdicts weighs {}",
            a.judge,
            pct(a.agreement_rate),
            a.n,
            num(a.kappa),
            num(r.settings["local_judge_weights"][&a.judge].as_f64())
        );
    }
    for w in &r.warnings {
        let _ = writeln!(out, "\nwarning: {w}");
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A line chart of cumulative savings and cumulative judge spend by day.
fn chart_over_time(days: &[DayRow], spend: bool) -> String {
    let (w, h, pad) = (640.0, 220.0, 48.0);
    // Cumulative series that start at $0 before the first day.
    let mut saved = vec![0.0];
    let mut judged = vec![0.0];
    let (mut a, mut b) = (0.0, 0.0);
    for d in days {
        a += d.usd_saved_estimate - if spend { 0.0 } else { d.handover_usd };
        b += d.judge_usd;
        saved.push(a);
        judged.push(b);
    }
    let max = saved
        .iter()
        .chain(judged.iter())
        .fold(0.0f64, |m, v| m.max(*v))
        .max(1e-9);
    let n = saved.len();
    let x = |i: usize| pad + (w - 2.0 * pad) * i as f64 / (n - 1).max(1) as f64;
    let y = |v: f64| h - pad + -(h - 2.0 * pad) * v / max;
    let poly = |vals: &[f64]| {
        vals.iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let title = if spend {
        "Evaluation spend against savings (cumulative, USD)"
    } else {
        "Savings over time after hand-over (cumulative, estimated USD)"
    };
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{title}" viewBox="0 0 {w} {h}" width="{w}" height="{h}"><title>{title}</title>"#
    );
    let _ = write!(
        s,
        r##"<line x1="{pad}" y1="{}" x2="{}" y2="{}" stroke="#888"/><line x1="{pad}" y1="{pad}" x2="{pad}" y2="{}" stroke="#888"/>"##,
        h - pad,
        w - pad,
        h - pad,
        h - pad
    );
    let _ = write!(
        s,
        r##"<text x="4" y="{}" font-size="11">{}</text><text x="4" y="{}" font-size="11">$0</text>"##,
        pad + 4.0,
        esc(&usd(max)),
        h - pad
    );
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let _ = write!(
            s,
            r#"<text x="{pad}" y="{}" font-size="11">{}</text><text x="{}" y="{}" font-size="11" text-anchor="end">{}</text>"#,
            h - pad + 16.0,
            esc(&first.day),
            w - pad,
            h - pad + 16.0,
            esc(&last.day)
        );
    }
    let _ = write!(
        s,
        r##"<polyline class="series-saved" fill="none" stroke="#2a7" stroke-width="2" points="{}"/>"##,
        poly(&saved)
    );
    if let Some(last) = saved.last() {
        let _ = write!(
            s,
            r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="#2a7"><title>saved {}</title></circle>"##,
            x(n - 1),
            y(*last),
            esc(&usd(*last))
        );
    }
    if spend {
        let _ = write!(
            s,
            r##"<polyline class="series-spend" fill="none" stroke="#c44" stroke-width="2" points="{}"/>"##,
            poly(&judged)
        );
        if let Some(last) = judged.last() {
            let _ = write!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="#c44"><title>judge spend {}</title></circle>"##,
                x(n - 1),
                y(*last),
                esc(&usd(*last))
            );
        }
        let _ = write!(
            s,
            r##"<text x="{}" y="16" font-size="11" fill="#2a7">saved (estimate)</text><text x="{}" y="30" font-size="11" fill="#c44">judge spend</text>"##,
            w - 150.0,
            w - 150.0
        );
    }
    s.push_str("</svg>");
    s
}

/// Stacked bars of good / acceptable / poor per ensemble.
fn chart_quality(rows: &[Row]) -> String {
    let bar_h = 22.0;
    let (w, left, top) = (640.0, 170.0, 28.0);
    let h = top + bar_h * 1.5 * rows.len().max(1) as f64 + 20.0;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="Quality per ensemble" viewBox="0 0 {w} {h}" width="{w}" height="{h}"><title>Quality per ensemble</title>"#
    );
    let _ = write!(
        s,
        r##"<text x="{left}" y="16" font-size="11" fill="#2a7">good</text><text x="{}" y="16" font-size="11" fill="#db3">acceptable</text><text x="{}" y="16" font-size="11" fill="#c44">poor</text>"##,
        left + 50.0,
        left + 130.0
    );
    if rows.is_empty() {
        let _ = write!(
            s,
            r#"<text x="{left}" y="{}" font-size="12">no ensemble runs yet</text>"#,
            top + 14.0
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let yy = top + bar_h * 1.5 * i as f64;
        let q = &r.quality;
        let n = (q.good + q.acceptable + q.poor) as f64;
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" font-size="12" text-anchor="end">{}</text>"#,
            left - 6.0,
            yy + 15.0,
            esc(r.ensemble.as_deref().unwrap_or(""))
        );
        if n == 0.0 {
            let _ = write!(
                s,
                r##"<text x="{left}" y="{}" font-size="11" fill="#888">not judged</text>"##,
                yy + 15.0
            );
            continue;
        }
        let span = w - left - 20.0;
        let mut xx = left;
        for (count, color, label) in [
            (q.good, "#2a7", "good"),
            (q.acceptable, "#db3", "acceptable"),
            (q.poor, "#c44", "poor"),
        ] {
            let ww = span * count as f64 / n;
            if ww > 0.0 {
                let _ = write!(
                    s,
                    r##"<rect class="bar-{label}" x="{xx:.1}" y="{yy:.1}" width="{ww:.1}" height="{bar_h}" fill="{color}"><title>{label}: {count}</title></rect>"##
                );
            }
            xx += ww;
        }
    }
    s.push_str("</svg>");
    s
}

pub fn html(r: &Report) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>orc learning report</title>\n<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:72em;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:.85em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th:first-child,td:first-child{text-align:left}.note{color:#555;font-size:.9em}.warn,.loss{color:#a00}</style></head><body>\n",
    );
    let _ = writeln!(
        out,
        "<h1>Learning report</h1><p class=\"note\">Generated {}. {}.</p>",
        esc(&r.generated_at),
        esc(r.estimate_note)
    );
    let t = &r.totals;
    let _ = writeln!(
        out,
        "<p id=\"net\" class=\"{}\"><b>{}</b></p><p id=\"totals\">{} runs ({} local, {} Claude-direct). Gross ~{} tokens, ~{} (estimate); hand-over {}. Judging: {} evaluations, {}. PGR {} (n={}{}). Free checks: {} run(s) checked, {} escalated.</p>",
        if t.outcome == "loss" { "warn" } else { "net" },
        esc(&net_line(t)),
        t.runs,
        t.local_runs,
        t.claude_runs,
        thousands(t.tokens_saved_estimate),
        esc(&usd(t.usd_saved_estimate)),
        esc(&usd(t.delegation_overhead.usd)),
        t.evaluations,
        esc(&usd(t.judging.usd)),
        num(t.pgr),
        t.pgr_n,
        t.pgr_ci
            .map(|[a, b]| format!("; 95% CI {a:.2} to {b:.2}"))
            .unwrap_or_default(),
        t.free_checks.checked_runs,
        t.free_checks.failed
    );
    for w in &r.warnings {
        let _ = writeln!(out, "<p class=\"warn\">warning: {}</p>", esc(w));
    }
    let _ = writeln!(
        out,
        "<h2>Savings over time</h2>{}",
        chart_over_time(&r.days, false)
    );
    let _ = writeln!(
        out,
        "<h2>Quality per ensemble</h2>{}",
        chart_quality(&r.ensembles)
    );
    let _ = writeln!(
        out,
        "<h2>Evaluation spend against savings</h2>{}",
        chart_over_time(&r.days, true)
    );
    let table = |out: &mut String, title: &str, rows: &[Row], key: &dyn Fn(&Row) -> String| {
        let _ = writeln!(
            out,
            "<h2>{title}</h2><table><tr><th>{}</th><th>NET (est.)</th><th>efficiency</th><th>runs</th><th>local tokens</th><th>Claude-equivalent (est.)</th><th>gross (est.)</th><th>hand-over (est.)</th><th>good/acc./poor</th><th>accepted</th><th>judge spend</th><th>break-even rate</th><th>PGR (n)</th></tr>",
            if title.contains("ensemble") {
                "ensemble"
            } else {
                "task type"
            }
        );
        for row in rows {
            let q = &row.quality;
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}/{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({})</td></tr>",
                esc(&key(row)),
                row.outcome,
                esc(&if row.outcome == "loss" {
                    format!("loss {}", usd(-row.net_usd_estimate))
                } else {
                    usd(row.net_usd_estimate)
                }),
                pct(row.efficiency),
                row.runs,
                thousands(row.local_tokens),
                thousands(row.claude_equivalent_tokens_estimate),
                esc(&usd(row.usd_saved_estimate)),
                esc(&usd(row.delegation_overhead.usd)),
                q.good,
                q.acceptable,
                q.poor,
                pct(row.acceptance_rate),
                esc(&usd(row.judge_usd)),
                pct(row.break_even_rate),
                num(row.pgr),
                row.pgr_n
            );
        }
        out.push_str("</table>\n");
    };
    table(&mut out, "Per ensemble", &r.ensembles, &|x| {
        x.ensemble.clone().unwrap_or_default()
    });
    table(&mut out, "Per task type", &r.task_types, &|x| {
        x.task_type.clone().unwrap_or_default()
    });
    for a in &r.local_judges {
        let _ = writeln!(
            out,
            "<p>Local judge <b>{}</b>: agrees with Claude on {} (n={}), Cohen's kappa {}.</p>",
            esc(&a.judge),
            pct(a.agreement_rate),
            a.n,
            num(a.kappa)
        );
    }
    out.push_str("</body></html>\n");
    out
}
