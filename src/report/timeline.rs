//! `orc report timeline`: an SVG Gantt chart of a run from its artifact. One row per agent,
//! grouped by model; the wait for a slot and the service time in two shades of the model's
//! colour; dependency lines; the critical path outlined.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::run::Status;
use crate::run::results::TimelineRow as Row;
use crate::store::read::Artifact;

#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    #[error("{0}")]
    Read(#[from] crate::store::read::ReadError),
    #[error("{} has no timeline (it was not written by orc)", .0.display())]
    NoTimeline(PathBuf),
}

/// Reads the timeline rows and the ensemble name of an artifact.
pub fn load(path: &Path) -> Result<(String, Vec<Row>), TimelineError> {
    let artifact = Artifact::read(path)?;
    let rows = artifact
        .timeline()
        .ok_or_else(|| TimelineError::NoTimeline(path.to_path_buf()))?
        .to_vec();
    Ok((
        artifact.ensemble.unwrap_or_else(|| "ensemble".to_string()),
        rows,
    ))
}

/// The chain of agents that decided the run's length: from the last to finish, back through the
/// dependency that finished last each time.
pub fn critical_path(rows: &[Row]) -> Vec<String> {
    let by_name: HashMap<&str, &Row> = rows.iter().map(|r| (r.agent.as_str(), r)).collect();
    let mut cur = rows.iter().max_by(|a, b| a.end_ms.total_cmp(&b.end_ms));
    let mut path = Vec::new();
    while let Some(r) = cur {
        path.push(r.agent.clone());
        cur = r
            .depends_on
            .iter()
            .filter_map(|d| by_name.get(d.as_str()).copied())
            .max_by(|a, b| a.end_ms.total_cmp(&b.end_ms));
        if path.len() > rows.len() {
            break;
        }
    }
    path.reverse();
    path
}

const PALETTE: &[(&str, &str)] = &[
    ("#9ecae1", "#3182bd"),
    ("#fdae6b", "#e6550d"),
    ("#a1d99b", "#31a354"),
    ("#bcbddc", "#756bb1"),
    ("#fdd0a2", "#a63603"),
    ("#c7e9c0", "#006d2c"),
    ("#d9d9d9", "#636363"),
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Where everything goes: rows in drawing order, each agent's line, the host lanes, the
/// models (the colours) and the scale.
struct Layout<'a> {
    rows: Vec<&'a Row>,
    models: Vec<String>,
    critical: Vec<String>,
    /// The run's end, in ms (at least 1).
    end: f64,
    /// Each lane (host, y, agents in it), when several hosts served the run.
    lanes: Vec<(String, f64, usize)>,
    y_of: HashMap<&'a str, f64>,
    /// Lines drawn (rows and lane headers).
    lines: f64,
}

const LEFT: f64 = 190.0;
const TOP: f64 = 56.0;
const ROW_H: f64 = 16.0;
const WIDTH: f64 = 900.0;

/// A row's group: its model, else its kind in brackets.
fn group(r: &Row) -> String {
    r.model.clone().unwrap_or_else(|| format!("({})", r.kind))
}

/// A row's lane: the host that served it.
fn lane(r: &Row) -> String {
    r.host.clone().unwrap_or_else(|| "(no host)".to_string())
}

impl<'a> Layout<'a> {
    fn new(rows: &'a [Row]) -> Layout<'a> {
        let mut served_by: Vec<&str> = rows.iter().filter_map(|r| r.host.as_deref()).collect();
        served_by.sort_unstable();
        served_by.dedup();
        // When several hosts served the run, one lane per host.
        let by_host = served_by.len() > 1;
        let rows = ordered(rows, by_host);
        let mut models: Vec<String> = Vec::new();
        for r in &rows {
            let g = group(r);
            if !models.contains(&g) {
                models.push(g);
            }
        }
        let critical = critical_path(&rows.iter().map(|r| (*r).clone()).collect::<Vec<_>>());
        let end = rows.iter().map(|r| r.end_ms).fold(0.0, f64::max).max(1.0);
        // Each lane starts with a header line of its own.
        let mut lanes: Vec<(String, f64, usize)> = Vec::new();
        let mut y_of: HashMap<&str, f64> = HashMap::new();
        let mut line = 0.0;
        for r in &rows {
            if by_host && lanes.last().is_none_or(|(l, _, _)| *l != lane(r)) {
                lanes.push((lane(r), TOP + line * ROW_H, 0));
                line += 1.0;
            }
            if let Some(l) = lanes.last_mut() {
                l.2 += 1;
            }
            y_of.insert(r.agent.as_str(), TOP + line * ROW_H);
            line += 1.0;
        }
        Layout {
            rows,
            models,
            critical,
            end,
            lanes,
            y_of,
            lines: line,
        }
    }

    fn x(&self, ms: f64) -> f64 {
        LEFT + ms / self.end * (WIDTH - LEFT - 20.0)
    }

    fn colour(&self, g: &str) -> (&'static str, &'static str) {
        PALETTE[self.models.iter().position(|m| m == g).unwrap_or(0) % PALETTE.len()]
    }

    /// The y of the axis labels' line: below the last row.
    fn bottom(&self) -> f64 {
        TOP + self.lines * ROW_H
    }
}

/// Rows grouped by lane (hosts in order of first start) when `by_host`, then by model (models
/// in order of first start), then by start time.
fn ordered(rows: &[Row], by_host: bool) -> Vec<&Row> {
    let mut rows: Vec<&Row> = rows.iter().collect();
    let mut first: BTreeMap<String, f64> = BTreeMap::new();
    for r in &rows {
        let e = first.entry(group(r)).or_insert(f64::MAX);
        *e = e.min(r.start_ms);
    }
    let mut lane_first: BTreeMap<String, f64> = BTreeMap::new();
    if by_host {
        for r in &rows {
            let e = lane_first.entry(lane(r)).or_insert(f64::MAX);
            *e = e.min(r.start_ms);
        }
    }
    rows.sort_by(|a, b| {
        let (ga, gb) = (group(a), group(b));
        let by_lane = if by_host {
            let (la, lb) = (lane(a), lane(b));
            lane_first[&la]
                .total_cmp(&lane_first[&lb])
                .then(la.cmp(&lb))
        } else {
            std::cmp::Ordering::Equal
        };
        by_lane
            .then(first[&ga].total_cmp(&first[&gb]))
            .then(ga.cmp(&gb))
            .then(a.start_ms.total_cmp(&b.start_ms))
    });
    rows
}

/// Draws the chart.
pub fn svg(title: &str, rows: &[Row]) -> String {
    let l = Layout::new(rows);
    let mut s = String::new();
    header(&mut s, &l, title);
    axis(&mut s, &l);
    lanes(&mut s, &l);
    dependencies(&mut s, &l);
    for r in &l.rows {
        bar(&mut s, &l, r);
    }
    legend(&mut s, &l);
    s.push_str("</svg>\n");
    s
}

/// The document, its title and the line saying how to read it.
fn header(s: &mut String, l: &Layout, title: &str) {
    let width = WIDTH;
    let height = l.bottom() + 40.0 + l.models.len() as f64 * 16.0;
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0}" viewBox="0 0 {width} {height:.0}" font-family="Helvetica, Arial, sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<title>{}</title>"#, esc(title));
    let _ = writeln!(
        s,
        r##"<rect x="0" y="0" width="{width}" height="{height:.0}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">{}</text>"#,
        esc(title)
    );
    let _ = writeln!(
        s,
        r##"<text x="10" y="38" fill="#555">{} agents, {:.2} s; light: waiting for a slot, dark: service; outlined: critical path</text>"##,
        l.rows.len(),
        l.end / 1000.0
    );
}

/// The time axis with its ticks.
fn axis(s: &mut String, l: &Layout) {
    let end = l.end;
    let step = [
        1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0,
        20000.0, 60000.0,
    ]
    .into_iter()
    .find(|t| end / t <= 10.0)
    .unwrap_or(end / 10.0);
    let bottom = l.bottom();
    let mut t = 0.0;
    let _ = writeln!(s, r#"<g class="axis">"#);
    while t <= end + 1e-9 {
        let _ = writeln!(
            s,
            r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" fill="#777" text-anchor="middle">{}</text>"##,
            l.x(t),
            TOP - 4.0,
            l.x(t),
            bottom,
            l.x(t),
            bottom + 12.0,
            fmt_ms(t)
        );
        t += step;
    }
    let _ = writeln!(s, "</g>");
}

/// The host lanes' header lines.
fn lanes(s: &mut String, l: &Layout) {
    for (host, y, n) in &l.lanes {
        let _ = writeln!(
            s,
            r##"<g class="lane" data-host="{h}"><line x1="10" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#bbb"/><text x="10" y="{:.1}" font-weight="bold" fill="#333">{h} ({n})</text></g>"##,
            WIDTH - 10.0,
            y + 12.0,
            h = esc(host),
        );
    }
}

/// A line from each dependency's end to the dependent's ready time.
fn dependencies(s: &mut String, l: &Layout) {
    let _ = writeln!(s, r#"<g class="deps">"#);
    for r in &l.rows {
        for d in &r.depends_on {
            if let (Some(&y1), Some(&y2), Some(dep)) = (
                l.y_of.get(d.as_str()),
                l.y_of.get(r.agent.as_str()),
                l.rows.iter().find(|o| &o.agent == d),
            ) {
                let _ = writeln!(
                    s,
                    r##"<line class="dep" data-from="{}" data-to="{}" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#999" stroke-width="0.6" opacity="0.6"/>"##,
                    esc(d),
                    esc(&r.agent),
                    l.x(dep.end_ms),
                    y1 + ROW_H / 2.0,
                    l.x(r.ready_ms),
                    y2 + ROW_H / 2.0
                );
            }
        }
    }
    let _ = writeln!(s, "</g>");
}

/// One agent: its name, the wait for a slot (light) and the service (dark), outlined when on
/// the critical path, in red when it failed.
fn bar(s: &mut String, l: &Layout, r: &Row) {
    let y = l.y_of[r.agent.as_str()];
    let (light, dark) = l.colour(&group(r));
    let crit = l.critical.contains(&r.agent);
    let failed = r.status == Status::Failed;
    let _ = writeln!(
        s,
        r#"<g class="agent{}" data-agent="{}">"#,
        if crit { " critical" } else { "" },
        esc(&r.agent)
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
        LEFT - 6.0,
        y + 11.5,
        esc(&r.agent)
    );
    let qw = (l.x(r.start_ms) - l.x(r.ready_ms)).max(0.0);
    if qw > 0.0 {
        let _ = writeln!(
            s,
            r#"<rect class="queue" x="{:.1}" y="{:.1}" width="{qw:.1}" height="{:.1}" fill="{light}"><title>{}: waited {:.1} ms for a slot</title></rect>"#,
            l.x(r.ready_ms),
            y + 2.0,
            ROW_H - 4.0,
            esc(&r.agent),
            r.start_ms - r.ready_ms
        );
    }
    let stroke = if failed {
        r##" stroke="#d62728" stroke-width="2""##
    } else if crit {
        r##" stroke="#000" stroke-width="1.5""##
    } else {
        ""
    };
    let _ = writeln!(
        s,
        r#"<rect class="service" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{dark}"{stroke}><title>{}: {} {:.1} ms ({})</title></rect>"#,
        l.x(r.start_ms),
        y + 2.0,
        (l.x(r.end_ms) - l.x(r.start_ms)).max(1.0),
        ROW_H - 4.0,
        esc(&r.agent),
        esc(&group(r)),
        r.end_ms - r.start_ms,
        r.status.word()
    );
    let _ = writeln!(s, "</g>");
}

/// Each model's colours and how many agents it ran.
fn legend(s: &mut String, l: &Layout) {
    let mut ly = l.bottom() + 28.0;
    for m in &l.models {
        let (light, dark) = l.colour(m);
        let n = l.rows.iter().filter(|r| &group(r) == m).count();
        let _ = writeln!(
            s,
            r#"<g class="legend"><rect x="10" y="{:.1}" width="10" height="10" fill="{light}"/><rect x="20" y="{:.1}" width="10" height="10" fill="{dark}"/><text x="36" y="{:.1}">{} ({n})</text></g>"#,
            ly - 9.0,
            ly - 9.0,
            ly,
            esc(m)
        );
        ly += 16.0;
    }
}

fn fmt_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.1}s", ms / 1000.0)
    } else {
        format!("{ms:.0}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(a: &str, deps: &[&str], ready: f64, start: f64, end: f64) -> Row {
        Row {
            agent: a.into(),
            kind: "llm",
            model: Some(
                if deps.is_empty() {
                    "qwen3:0.6b"
                } else {
                    "gemma3:4b"
                }
                .into(),
            ),
            status: Status::Success,
            depends_on: deps.iter().map(|s| s.to_string()).collect(),
            ready_ms: ready,
            start_ms: start,
            end_ms: end,
            queue_ms: start - ready,
            service_ms: end - start,
            host: None,
        }
    }

    #[test]
    fn critical_path_follows_the_last_dependency() {
        let rows = vec![
            row("a", &[], 0.0, 0.0, 10.0),
            row("b", &[], 0.0, 5.0, 30.0),
            row("c", &["a", "b"], 30.0, 31.0, 40.0),
        ];
        assert_eq!(critical_path(&rows), ["b", "c"]);
    }
}
