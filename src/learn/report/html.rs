//! The learning report as one self-contained HTML page (no script, no fetch).

use std::fmt::Write as _;

use super::charts::{chart_over_time, chart_quality};
use super::text::{net_line, num, pct, thousands, usd};
use super::{Report, Row, esc};

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
    totals(&mut out, &r.totals);
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

/// The totals paragraph: the net, runs, savings, judging, PGR and the free checks.
fn totals(out: &mut String, t: &Row) {
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
}

/// One table of rows (per ensemble or per task type), named by `key`.
fn table(out: &mut String, title: &str, rows: &[Row], key: &dyn Fn(&Row) -> String) {
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
}
