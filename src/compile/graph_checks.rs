//! The checks of an ensemble's graph as written: unique agent names, known dependencies,
//! `fan_out` with a dependency, no dependency cycle; and the `validation:` block.

use std::collections::HashMap;

use super::hints::list_names;
use super::validation;
use crate::load::diag::{Sink, WithHint, closest};
use crate::load::spec::{AgentSpec, EnsembleSpec};

/// Checks names, dependencies, `fan_out` and cycles, reporting into `sink`; returns the index of
/// each agent by name (the first of duplicates).
pub(super) fn check_graph<'s>(spec: &'s EnsembleSpec, sink: &mut Sink) -> HashMap<&'s str, usize> {
    let index = check_names(spec, sink);
    let deps_ok = check_dependencies(spec, &index, sink);
    if deps_ok && let Some(cycle) = find_cycle(&spec.agents, &index) {
        let first = &spec.agents[cycle[0]];
        let path: Vec<&str> = cycle
            .iter()
            .map(|&i| spec.agents[i].name.value.as_str())
            .collect();
        sink.error(
            first.name.pos,
            format!("circular dependency: {}", path.join(" -> ")),
        )
        .hint("an ensemble must be a DAG; remove one of these `depends_on` entries");
    }
    index
}

/// Names: unique.
fn check_names<'s>(spec: &'s EnsembleSpec, sink: &mut Sink) -> HashMap<&'s str, usize> {
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(spec.agents.len());
    for (i, a) in spec.agents.iter().enumerate() {
        if let Some(&first) = index.get(a.name.value.as_str()) {
            let first_line = spec.agents[first].name.pos.line;
            sink.error(
                a.name.pos,
                format!("duplicate agent name `{}`", a.name.value),
            )
            .hint(format!(
                "`{}` is already defined at line {first_line}; agent names must be unique",
                a.name.value
            ));
        } else {
            index.insert(a.name.value.as_str(), i);
        }
    }
    index
}

/// Every dependency names an agent, and a `fan_out` agent has one; false when a dependency is
/// unknown.
fn check_dependencies(spec: &EnsembleSpec, index: &HashMap<&str, usize>, sink: &mut Sink) -> bool {
    let names: Vec<&str> = spec.agents.iter().map(|a| a.name.value.as_str()).collect();
    let mut deps_ok = true;
    for a in &spec.agents {
        for d in &a.depends_on {
            if !index.contains_key(d.name.value.as_str()) {
                deps_ok = false;
                let diag = sink.error(
                    d.name.pos,
                    format!(
                        "agent `{}` depends on unknown agent `{}`",
                        a.name.value, d.name.value
                    ),
                );
                match closest(&d.name.value, names.iter().copied()) {
                    Some(near) => diag.hint(format!("did you mean `{near}`?")),
                    None => diag.hint(format!("the agents are: {}", list_names(&names))),
                }
            }
        }
        if a.fan_out && a.depends_on.is_empty() {
            sink.error(a.pos, format!("agent `{}` has `fan_out: true` but no `depends_on`", a.name.value))
                .hint("fan_out maps an agent over an array from its first dependency; add `depends_on: [the-agent-producing-the-array]`");
        }
    }
    deps_ok
}

/// The `validation:` block parses, and its behavioral assertions are expressions orc evaluates.
pub(super) fn check_validation(spec: &EnsembleSpec, sink: &mut Sink) {
    let Some(block) = &spec.validation else {
        return;
    };
    match validation::parse(block) {
        Err(e) => {
            sink.error(spec.name.pos, format!("ensemble `{}` has an invalid `validation:` block: {e}", spec.name.value))
                .hint("see the validation keys in docs/ensembles.md (structural, schema_validations, behavioral, quantitative, semantic)");
        }
        Ok(cfg) => {
            for a in &cfg.behavioral {
                if let Err(why) = crate::compile::expr::check(&a.assertion) {
                    sink.warning(spec.name.pos, format!("behavioral assertion `{}` cannot be evaluated by orc: {why}", a.name))
                        .hint("orc evaluates a safe subset of Python expressions; the assertion will fail with this error");
                }
            }
        }
    }
}

/// Finds a dependency cycle as llm-orc reports it: depth-first over agents in declaration order,
/// following `depends_on` in list order; the path starts where the cycle was entered and
/// repeats that agent at the end.
fn find_cycle(agents: &[AgentSpec], index: &HashMap<&str, usize>) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; agents.len()];
    for root in 0..agents.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, next dependency to visit).
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::Open;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let deps = &agents[node].depends_on;
            if *next < deps.len() {
                let d = &deps[*next];
                *next += 1;
                let Some(&j) = index.get(d.name.value.as_str()) else {
                    continue;
                };
                match mark[j] {
                    Mark::New => {
                        mark[j] = Mark::Open;
                        stack.push((j, 0));
                    }
                    Mark::Open => {
                        let start = stack.iter().position(|&(n, _)| n == j).unwrap_or(0);
                        let mut path: Vec<usize> = stack[start..].iter().map(|&(n, _)| n).collect();
                        path.push(j);
                        return Some(path);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}
