//! Views of a compiled ensemble: text, JSON and Graphviz DOT.

pub mod timeline;

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::compile::{Agent, CompiledEnsemble, Kind};

/// A size class for a model, by parameter count.
pub fn size_class(size_b: Option<f64>) -> &'static str {
    match size_b {
        None => "unknown size",
        Some(s) if s <= 1.5 => "micro",
        Some(s) if s <= 5.0 => "small",
        Some(s) if s <= 15.0 => "medium",
        Some(_) => "large",
    }
}

/// A model's size class with its order (micro 0 ... large 3, unknown 4), for sorting tiers.
pub fn size_tier(model: &str) -> (u8, &'static str) {
    let class = size_class(crate::compile::model_size_b(model));
    let rank = match class {
        "micro" => 0,
        "small" => 1,
        "medium" => 2,
        "large" => 3,
        _ => 4,
    };
    (rank, class)
}

fn fmt_size(size_b: Option<f64>) -> String {
    match size_b {
        Some(s) => format!("{}B", trim_float(s)),
        None => "?".into(),
    }
}

fn trim_float(f: f64) -> String {
    let s = format!("{f:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One tier of the graph: a level, with the models its agents run on.
#[derive(Debug, Clone, Serialize)]
pub struct TierView {
    pub level: usize,
    pub agents: Vec<String>,
    /// Model (or script/child) -> count.
    pub models: BTreeMap<String, usize>,
    /// The largest model in the level, in billions of parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_size_b: Option<f64>,
    /// The size class of the level's LLM agents (by the largest model); for a level without
    /// LLM agents, `script`, else `ensemble`.
    pub size_class: &'static str,
    /// Agents per class: the LLM agents under their size class, script agents as `script`,
    /// agents that run a child ensemble (nested, loop, dispatch) as `ensemble`.
    pub classes: BTreeMap<&'static str, usize>,
}

/// The class of a non-LLM agent in the tiers (an LLM agent's is its level's size class).
fn kind_class(kind: &Kind) -> Option<&'static str> {
    match kind {
        Kind::Llm(_) => None,
        Kind::Script { .. } => Some("script"),
        Kind::Ensemble { .. } | Kind::Loop { .. } | Kind::Dispatch { .. } => Some("ensemble"),
    }
}

/// Everything `orc graph` shows, for JSON output.
#[derive(Debug, Clone, Serialize)]
pub struct GraphView<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub file: String,
    pub pattern: &'static str,
    pub agent_count: usize,
    pub edge_count: usize,
    pub levels: Vec<TierView>,
    pub agents_per_model: BTreeMap<String, usize>,
    pub agents: &'a [Agent],
    pub edges: Vec<(String, String)>,
}

fn tiers(e: &CompiledEnsemble) -> Vec<TierView> {
    e.levels
        .iter()
        .enumerate()
        .map(|(level, idx)| {
            let mut models = BTreeMap::new();
            let mut max_size: Option<f64> = None;
            for &i in idx {
                let a = &e.agents[i];
                *models.entry(a.kind.runs_on()).or_insert(0) += 1;
                if let Kind::Llm(l) = &a.kind
                    && let Some(s) = l.size_b
                {
                    max_size = Some(max_size.map_or(s, |m: f64| m.max(s)));
                }
            }
            let llm_class = size_class(max_size);
            let mut classes = BTreeMap::new();
            for &i in idx {
                let class = kind_class(&e.agents[i].kind).unwrap_or(llm_class);
                *classes.entry(class).or_insert(0) += 1;
            }
            let has_llm = idx
                .iter()
                .any(|&i| matches!(e.agents[i].kind, Kind::Llm(_)));
            let level_class = if has_llm {
                llm_class
            } else if classes.contains_key("script") {
                "script"
            } else {
                "ensemble"
            };
            TierView {
                level,
                agents: idx.iter().map(|&i| e.agents[i].name.clone()).collect(),
                models,
                max_size_b: max_size,
                size_class: level_class,
                classes,
            }
        })
        .collect()
}

pub fn view(e: &CompiledEnsemble) -> GraphView<'_> {
    let edges = e
        .graph
        .edge_indices()
        .filter_map(|ei| e.graph.edge_endpoints(ei))
        .map(|(a, b)| {
            (
                e.agents[e.graph[a]].name.clone(),
                e.agents[e.graph[b]].name.clone(),
            )
        })
        .collect();
    GraphView {
        name: &e.name,
        description: e.description.as_deref(),
        file: e.file.display().to_string(),
        pattern: e.pattern.name(),
        agent_count: e.agents.len(),
        edge_count: e.edge_count(),
        levels: tiers(e),
        agents_per_model: e.agents_per_model(),
        agents: &e.agents,
        edges,
    }
}

fn agent_detail(a: &Agent) -> String {
    match &a.kind {
        Kind::Llm(l) => {
            let mut s = l.model.clone();
            if let Some(p) = &l.profile {
                s.push_str(&format!(" ({p})"));
            }
            if !l.provider.runnable() {
                s.push_str(&format!(" [{} not runnable]", l.provider.name()));
            }
            s
        }
        Kind::Script { reference, .. } => format!("script {reference}"),
        Kind::Ensemble { reference, child } => {
            format!(
                "ensemble {reference} ({} agents, {})",
                child.agents.len(),
                child.pattern.name()
            )
        }
        Kind::Loop {
            body,
            until,
            max_iterations,
            carry,
            child,
        } => {
            let mut s = format!(
                "loop {body} ({} agents) until `{until}`, at most {max_iterations}",
                child.agents.len()
            );
            if let Some(c) = carry {
                s.push_str(&format!(", carry `{c}`"));
            }
            s
        }
        Kind::Dispatch { target, child } => match child {
            Some(c) => format!("dispatch {target} ({} agents)", c.agents.len()),
            None => format!("dispatch {target} (chosen at run time)"),
        },
    }
}

/// The agent's guard and the agents it waits for without depending on them.
fn control_notes(e: &CompiledEnsemble, i: usize) -> String {
    let a = &e.agents[i];
    let mut s = String::new();
    if let Some(w) = &a.when {
        s.push_str(&format!("  [when `{w}`]"));
    }
    if !e.after[i].is_empty() {
        let names: Vec<&str> = e.after[i]
            .iter()
            .map(|&j| e.agents[j].name.as_str())
            .collect();
        s.push_str(&format!("  (waits for {})", names.join(", ")));
    }
    s
}

/// Levels wider than this are folded in the text view unless `full` is asked for.
const FOLD_OVER: usize = 20;

/// The text view: header, levels with their agents, models. Wide levels are folded (first ten
/// and last three agents) unless `full`.
pub fn text(e: &CompiledEnsemble, full: bool) -> String {
    let v = view(e);
    let mut s = String::new();
    let _ = writeln!(s, "ensemble: {}", e.name);
    if let Some(d) = &e.description {
        let _ = writeln!(s, "description: {d}");
    }
    let _ = writeln!(
        s,
        "pattern: {} ({} agents, {} edges, {} levels)",
        v.pattern,
        v.agent_count,
        v.edge_count,
        v.levels.len()
    );
    if v.levels.len() > 1 {
        let shape: Vec<String> = v.levels.iter().map(tier_shape).collect();
        let _ = writeln!(s, "tiers: {}", shape.join(" -> "));
    }
    let width = e
        .agents
        .iter()
        .map(|a| a.name.len())
        .max()
        .unwrap_or(0)
        .min(40);
    for t in &v.levels {
        level_block(&mut s, e, t, full, width);
    }
    models_table(&mut s, e, &v);
    s
}

/// One level in the `tiers:` line: the LLM agents with their models, then scripts and child
/// ensembles.
fn tier_shape(t: &TierView) -> String {
    let models: Vec<&str> = t
        .models
        .keys()
        .map(String::as_str)
        .filter(|m| !m.starts_with('('))
        .collect();
    let mut parts = Vec::new();
    for (class, n) in &t.classes {
        if !matches!(*class, "script" | "ensemble") {
            parts.push(format!("{n} {class} ({})", models.join(" + ")));
        }
    }
    for class in ["script", "ensemble"] {
        if let Some(n) = t.classes.get(class) {
            parts.push(format!("{n} {class}"));
        }
    }
    parts.join(", ")
}

/// A level's heading and its agents, one a line (names padded to `width`), folded when wide.
fn level_block(s: &mut String, e: &CompiledEnsemble, t: &TierView, full: bool, width: usize) {
    let models: Vec<String> = t.models.iter().map(|(m, n)| format!("{m} x{n}")).collect();
    let _ = writeln!(
        s,
        "\nlevel {} ({} agent{}; {})",
        t.level,
        t.agents.len(),
        if t.agents.len() == 1 { "" } else { "s" },
        models.join(", ")
    );
    let n = t.agents.len();
    let fold = !full && n > FOLD_OVER;
    for (k, name) in t.agents.iter().enumerate() {
        if fold && k == 10 {
            let _ = writeln!(s, "  ... {} more (orc graph --full shows all)", n - 13);
        }
        if fold && (10..n - 3).contains(&k) {
            continue;
        }
        let Some(i) = e.agents.iter().position(|a| &a.name == name) else {
            continue;
        };
        let _ = writeln!(s, "{}", agent_line(e, i, full, width).trim_end());
    }
}

/// One agent of a level: name, detail, fan-out, guard and waits, dependencies (the first six
/// of many unless `full`).
fn agent_line(e: &CompiledEnsemble, i: usize, full: bool, width: usize) -> String {
    let a = &e.agents[i];
    let mut line = format!("  {:width$}  {}", a.name, agent_detail(a), width = width);
    if a.fan_out {
        line.push_str("  [fan-out]");
    }
    line.push_str(&control_notes(e, i));
    if !a.depends_on.is_empty() {
        let d = &a.depends_on;
        if full || d.len() <= 8 {
            line.push_str(&format!("  <- {}", d.join(", ")));
        } else {
            line.push_str(&format!(
                "  <- {}, ... and {} more",
                d[..6].join(", "),
                d.len() - 6
            ));
        }
    }
    line
}

/// `agents per model:` with each model's size and size class.
fn models_table(s: &mut String, e: &CompiledEnsemble, v: &GraphView) {
    let _ = writeln!(s, "\nagents per model:");
    let mwidth = v
        .agents_per_model
        .keys()
        .map(String::len)
        .max()
        .unwrap_or(0);
    for (m, n) in &v.agents_per_model {
        let size = e
            .agents
            .iter()
            .find_map(|a| match &a.kind {
                Kind::Llm(l) if &l.model == m => Some(l.size_b),
                _ => None,
            })
            .map(|sz| format!("  {} ({})", fmt_size(sz), size_class(sz)))
            .unwrap_or_default();
        let _ = writeln!(s, "  {m:mwidth$}  {n:>5}{size}");
    }
}

fn dot_id(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Graphviz DOT: one box per agent, ranks by level, edges from dependency to dependent.
pub fn dot(e: &CompiledEnsemble) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "digraph {} {{", dot_id(&e.name));
    let _ = writeln!(s, "  rankdir=LR;");
    let _ = writeln!(s, "  node [shape=box, fontname=\"Helvetica\"];");
    for (level, idx) in e.levels.iter().enumerate() {
        let _ = writeln!(s, "  subgraph level_{level} {{");
        let _ = writeln!(s, "    rank=same;");
        for &i in idx {
            let a = &e.agents[i];
            let mut label = format!("{}\\n{}", a.name, agent_detail(a));
            if let Some(w) = &a.when {
                label.push_str(&format!("\\nwhen {w}"));
            }
            let label = label.replace('"', "\\\"");
            let shape = match a.kind {
                Kind::Llm(_) => "box",
                Kind::Script { .. } => "note",
                Kind::Loop { .. } => "doubleoctagon",
                Kind::Dispatch { .. } => "diamond",
                Kind::Ensemble { .. } => "box3d",
            };
            let _ = writeln!(
                s,
                "    {} [label=\"{label}\", shape={shape}];",
                dot_id(&a.name)
            );
        }
        let _ = writeln!(s, "  }}");
    }
    for ei in e.graph.edge_indices() {
        if let Some((a, b)) = e.graph.edge_endpoints(ei) {
            let _ = writeln!(
                s,
                "  {} -> {};",
                dot_id(&e.agents[e.graph[a]].name),
                dot_id(&e.agents[e.graph[b]].name)
            );
        }
    }
    for (i, after) in e.after.iter().enumerate() {
        for &j in after {
            let _ = writeln!(
                s,
                "  {} -> {} [style=dashed, label=\"reads\"];",
                dot_id(&e.agents[j].name),
                dot_id(&e.agents[i].name)
            );
        }
    }
    let _ = writeln!(s, "}}");
    s
}

/// Reference makespans for an ensemble whose every call takes `service` seconds, with `slots`
/// requests served at once per model (0 = unlimited).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Bounds {
    /// What a phase-by-phase executor can reach at best: each level waits for the previous.
    pub level_barrier_ideal: f64,
    /// No schedule can be shorter: the critical path, and each model's queue with the shortest
    /// way in and out of it.
    pub lower_bound: f64,
}

pub fn bounds(e: &CompiledEnsemble, slots: usize, service: f64) -> Bounds {
    let n = e.agents.len();
    let model = |i: usize| e.agents[i].kind.runs_on();
    let waves = |count: usize| {
        if slots == 0 {
            count.min(1)
        } else {
            count.div_ceil(slots)
        }
    };
    // Level barrier: sum over levels of the slowest model's waves.
    let mut ideal = 0usize;
    for level in &e.levels {
        let mut per: BTreeMap<String, usize> = BTreeMap::new();
        for &i in level {
            *per.entry(model(i)).or_insert(0) += 1;
        }
        ideal += per.values().map(|&c| waves(c)).max().unwrap_or(0);
    }
    // head: calls before a node on its longest path; tail: calls after it.
    let mut head = vec![0usize; n];
    let mut tail = vec![0usize; n];
    let node = petgraph::graph::NodeIndex::new;
    for level in &e.levels {
        for &i in level {
            for j in e
                .graph
                .neighbors_directed(node(i), petgraph::Direction::Incoming)
            {
                head[i] = head[i].max(head[j.index()] + 1);
            }
        }
    }
    for level in e.levels.iter().rev() {
        for &i in level {
            for j in e
                .graph
                .neighbors_directed(node(i), petgraph::Direction::Outgoing)
            {
                tail[i] = tail[i].max(tail[j.index()] + 1);
            }
        }
    }
    let critical = (0..n).map(|i| head[i] + 1 + tail[i]).max().unwrap_or(0);
    let mut per_model: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for i in 0..n {
        let entry = per_model
            .entry(model(i))
            .or_insert((0, usize::MAX, usize::MAX));
        entry.0 += 1;
        entry.1 = entry.1.min(head[i]);
        entry.2 = entry.2.min(tail[i]);
    }
    let queue_bound = per_model
        .values()
        .map(|&(c, h, t)| h + waves(c) + t)
        .max()
        .unwrap_or(0);
    Bounds {
        level_barrier_ideal: ideal as f64 * service,
        lower_bound: critical.max(queue_bound) as f64 * service,
    }
}

/// The lower bound for the service times a run actually got: `service[i]` is how long agent
/// `i`'s call took at the server. No schedule could finish sooner than the longest dependency
/// path through those times, nor sooner than any model's total work spread over its slots
/// (plus the shortest way into and out of that model's agents).
pub fn realized_bound(e: &CompiledEnsemble, service: &[f64], slots: usize) -> f64 {
    let n = e.agents.len();
    let node = petgraph::graph::NodeIndex::new;
    let mut head = vec![0.0f64; n];
    let mut tail = vec![0.0f64; n];
    for level in &e.levels {
        for &i in level {
            for j in e
                .graph
                .neighbors_directed(node(i), petgraph::Direction::Incoming)
            {
                head[i] = head[i].max(head[j.index()] + service[j.index()]);
            }
        }
    }
    for level in e.levels.iter().rev() {
        for &i in level {
            for j in e
                .graph
                .neighbors_directed(node(i), petgraph::Direction::Outgoing)
            {
                tail[i] = tail[i].max(tail[j.index()] + service[j.index()]);
            }
        }
    }
    let critical = (0..n)
        .map(|i| head[i] + service[i] + tail[i])
        .fold(0.0, f64::max);
    let mut per_model: BTreeMap<String, (f64, f64, f64)> = BTreeMap::new();
    for i in 0..n {
        let m = per_model
            .entry(e.agents[i].kind.runs_on())
            .or_insert((0.0, f64::MAX, f64::MAX));
        m.0 += service[i];
        m.1 = m.1.min(head[i]);
        m.2 = m.2.min(tail[i]);
    }
    let k = if slots == 0 { n.max(1) } else { slots } as f64;
    let queue = per_model
        .values()
        .map(|&(w, h, t)| h + w / k + t)
        .fold(0.0, f64::max);
    critical.max(queue)
}
