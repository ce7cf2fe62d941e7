//! The report's charts as inline SVG: savings over time and quality per ensemble.

use std::fmt::Write as _;

use super::text::usd;
use super::{DayRow, Row, esc};

/// A line chart of cumulative savings and cumulative judge spend by day.
pub(super) fn chart_over_time(days: &[DayRow], spend: bool) -> String {
    let (saved, judged) = cumulative(days, spend);
    let max = saved
        .iter()
        .chain(judged.iter())
        .fold(0.0f64, |m, v| m.max(*v))
        .max(1e-9);
    let f = Frame {
        w: 640.0,
        h: 220.0,
        pad: 48.0,
        n: saved.len(),
        max,
    };
    let title = if spend {
        "Evaluation spend against savings (cumulative, USD)"
    } else {
        "Savings over time after hand-over (cumulative, estimated USD)"
    };
    let (w, h) = (f.w, f.h);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{title}" viewBox="0 0 {w} {h}" width="{w}" height="{h}"><title>{title}</title>"#
    );
    axes(&mut s, &f, days);
    series(&mut s, &f, "series-saved", "#2a7", "saved", &saved);
    if spend {
        series(&mut s, &f, "series-spend", "#c44", "judge spend", &judged);
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

/// Cumulative series that start at $0 before the first day: saved (after hand-over, unless
/// set against the spend) and judge spend.
fn cumulative(days: &[DayRow], spend: bool) -> (Vec<f64>, Vec<f64>) {
    let mut saved = vec![0.0];
    let mut judged = vec![0.0];
    let (mut a, mut b) = (0.0, 0.0);
    for d in days {
        a += d.usd_saved_estimate - if spend { 0.0 } else { d.handover_usd };
        b += d.judge_usd;
        saved.push(a);
        judged.push(b);
    }
    (saved, judged)
}

/// A chart's size and scale: `n` points from $0 up to `max`.
struct Frame {
    pub(super) w: f64,
    pub(super) h: f64,
    pub(super) pad: f64,
    pub(super) n: usize,
    pub(super) max: f64,
}

impl Frame {
    pub(super) fn x(&self, i: usize) -> f64 {
        self.pad + (self.w - 2.0 * self.pad) * i as f64 / (self.n - 1).max(1) as f64
    }

    pub(super) fn y(&self, v: f64) -> f64 {
        self.h - self.pad + -(self.h - 2.0 * self.pad) * v / self.max
    }

    pub(super) fn poly(&self, vals: &[f64]) -> String {
        vals.iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", self.x(i), self.y(*v)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The axes, the top and $0 labels, and the first and last day.
fn axes(s: &mut String, f: &Frame, days: &[DayRow]) {
    let (w, h, pad) = (f.w, f.h, f.pad);
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
        esc(&usd(f.max)),
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
}

/// One series: its line and a dot on its last value, titled `label`.
fn series(s: &mut String, f: &Frame, class: &str, color: &str, label: &str, vals: &[f64]) {
    let _ = write!(
        s,
        r##"<polyline class="{class}" fill="none" stroke="{color}" stroke-width="2" points="{}"/>"##,
        f.poly(vals)
    );
    if let Some(last) = vals.last() {
        let _ = write!(
            s,
            r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"><title>{label} {}</title></circle>"##,
            f.x(f.n - 1),
            f.y(*last),
            esc(&usd(*last))
        );
    }
}

/// Stacked bars of good / acceptable / poor per ensemble.
pub(super) fn chart_quality(rows: &[Row]) -> String {
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
