//! The learning report as text: a block per period, with the figures people read first.

use std::fmt::Write as _;

use super::{QualityView, Report, Row};

pub(super) fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.0}%", x * 100.0))
        .unwrap_or_else(|| "n/a".into())
}

pub(super) fn num(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "n/a".into())
}

pub(super) fn usd(v: f64) -> String {
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

pub(super) fn quality_line(q: &QualityView) -> String {
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

pub(super) fn text_block(out: &mut String, title: &str, r: &Row, with_pgr: bool) {
    let _ = writeln!(out, "{title}");
    runs_lines(out, r);
    quality_lines(out, r);
    judging_lines(out, r);
    checks_lines(out, r);
    if with_pgr {
        pgr_lines(out, r);
    }
}

/// The net, the runs, and the tokens and dollars on each side.
fn runs_lines(out: &mut String, r: &Row) {
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
}

/// The verdicts' quality and the users' acceptance.
fn quality_lines(out: &mut String, r: &Row) {
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
}

/// What judging cost, the break-even rate, and what knowing the quality cost.
fn judging_lines(out: &mut String, r: &Row) {
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
}

/// The free checks' outcomes.
fn checks_lines(out: &mut String, r: &Row) {
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
}

/// PGR, with the sides it compares.
fn pgr_lines(out: &mut String, r: &Row) {
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
