//! The DAG of a compiled ensemble: edges, topological phases, remaining depth, terminal agents,
//! and the name of its structure.

use std::collections::HashMap;

use petgraph::graph::{DiGraph, NodeIndex};

use super::ensemble::{Agent, Kind, Pattern};

/// The agents with their phases, and the graph execution walks.
pub(super) struct Dag {
    pub(super) agents: Vec<Agent>,
    pub(super) graph: DiGraph<usize, ()>,
    pub(super) levels: Vec<Vec<usize>>,
    pub(super) deps: Vec<Vec<usize>>,
    pub(super) terminal: Vec<bool>,
    pub(super) remaining: Vec<u64>,
    pub(super) pattern: Pattern,
}

/// Builds the DAG of checked agents: edges from dependencies, then each agent's remaining
/// depth and phase, the phases, the structure, and which agents are terminal. None on a cycle.
pub(super) fn build(mut agents: Vec<Agent>, index: &HashMap<&str, usize>) -> Option<Dag> {
    let mut graph = DiGraph::<usize, ()>::with_capacity(agents.len(), agents.len());
    let nodes: Vec<NodeIndex> = (0..agents.len()).map(|i| graph.add_node(i)).collect();
    for (i, a) in agents.iter().enumerate() {
        for d in &a.depends_on {
            if let Some(&j) = index.get(d.as_str()) {
                graph.update_edge(nodes[j], nodes[i], ());
            }
        }
    }
    let order = petgraph::algo::toposort(&graph, None).ok()?;
    let mut remaining = vec![1u64; agents.len()];
    for &n in order.iter().rev() {
        let i = graph[n];
        for succ in graph.neighbors(n) {
            remaining[i] = remaining[i].max(remaining[graph[succ]].saturating_add(1));
        }
    }
    let mut level = vec![0usize; agents.len()];
    for n in order {
        let i = graph[n];
        for succ in graph.neighbors(n) {
            let j = graph[succ];
            level[j] = level[j].max(level[i] + 1);
        }
    }
    let depth = level.iter().copied().max().map_or(0, |m| m + 1);
    let mut levels = vec![Vec::new(); depth];
    for (i, a) in agents.iter_mut().enumerate() {
        a.level = level[i];
        levels[level[i]].push(i);
    }
    let pattern = classify(&agents, &levels);
    let deps: Vec<Vec<usize>> = agents
        .iter()
        .map(|a| {
            a.depends_on
                .iter()
                .filter_map(|d| index.get(d.as_str()).copied())
                .collect()
        })
        .collect();
    let terminal: Vec<bool> = (0..agents.len())
        .map(|i| {
            graph
                .neighbors_directed(nodes[i], petgraph::Direction::Outgoing)
                .next()
                .is_none()
        })
        .collect();
    Some(Dag {
        agents,
        graph,
        levels,
        deps,
        terminal,
        remaining,
        pattern,
    })
}

/// Names the structure of an ensemble from its agents and levels.
pub fn classify(agents: &[Agent], levels: &[Vec<usize>]) -> Pattern {
    if agents.iter().any(|a| {
        matches!(
            a.kind,
            Kind::Ensemble { .. } | Kind::Loop { .. } | Kind::Dispatch { .. }
        )
    }) {
        return Pattern::Composable;
    }
    if agents.iter().any(|a| a.fan_out) {
        return Pattern::FanOut;
    }
    let widths: Vec<usize> = levels.iter().map(Vec::len).collect();
    match widths.as_slice() {
        [] | [1] => Pattern::Single,
        [_] => Pattern::Parallel,
        w if w.iter().all(|&n| n == 1) => Pattern::Sequential,
        [first, 1] if *first > 1 => Pattern::FanIn,
        w if w.len() >= 3
            && w.last() == Some(&1)
            && w[0] > 1
            && w.windows(2).all(|p| p[0] >= p[1]) =>
        {
            Pattern::Swarm
        }
        _ => Pattern::Dag,
    }
}
