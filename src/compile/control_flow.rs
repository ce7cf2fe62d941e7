//! The control-flow checks: guards, loop predicates and dispatch targets refer to agents that
//! have finished when they are read.

use std::collections::HashMap;

use super::hints::list_names;
use super::predicate;
use crate::load::diag::{Sink, WithHint, closest};
use crate::load::spec::{AgentKind, AgentSpec, EnsembleSpec};
use crate::load::yaml::Pos;

/// Checks the control flow of a sound graph; returns each agent's referenced agents and the
/// extra ones it must wait for.
pub(super) fn check(
    spec: &EnsembleSpec,
    index: &HashMap<&str, usize>,
    sink: &mut Sink,
) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    let deps: Vec<Vec<usize>> = spec
        .agents
        .iter()
        .map(|a| {
            a.depends_on
                .iter()
                .filter_map(|d| index.get(d.name.value.as_str()).copied())
                .collect()
        })
        .collect();
    let level = phases(&deps);
    check_control_flow(spec, index, &deps, &level, sink)
}

/// Where the `${agent.field}` references of one agent are read: the graph, and that agent's
/// references so far.
struct Flow<'a> {
    index: &'a HashMap<&'a str, usize>,
    names: Vec<&'a str>,
    deps: &'a [Vec<usize>],
    level: &'a [usize],
    refs: Vec<Vec<usize>>,
    after: Vec<Vec<usize>>,
}

/// Checks guards, loop predicates and dispatch targets: every `${agent.field}` must name an agent
/// that has finished when the reference is read. Returns each agent's referenced agents and the
/// extra ones it must wait for.
fn check_control_flow(
    spec: &EnsembleSpec,
    index: &HashMap<&str, usize>,
    deps: &[Vec<usize>],
    level: &[usize],
    sink: &mut Sink,
) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    let n = spec.agents.len();
    let mut flow = Flow {
        index,
        names: spec.agents.iter().map(|a| a.name.value.as_str()).collect(),
        deps,
        level,
        refs: vec![Vec::new(); n],
        after: vec![Vec::new(); n],
    };
    for (i, a) in spec.agents.iter().enumerate() {
        let me = a.name.value.as_str();
        for (token, pos, what) in references(a, sink) {
            flow.check_reference(i, me, token, pos, what, sink);
        }
        if let AgentKind::Dispatch(t) = &a.kind
            && t.value.contains("${")
            && predicate::agent_ref(&t.value).is_none()
        {
            sink.error(t.pos, format!("the `dispatch:` of agent `{me}` is `{}`, which is neither an ensemble name nor a `${{agent.field}}` reference", t.value))
                .hint("use `dispatch: ${classifier.ensemble}` to pick the ensemble from an upstream agent's JSON");
        }
    }
    (flow.refs, flow.after)
}

/// The tokens of an agent that may refer to other agents (its guard, its dispatch target), with
/// where and what they are; warns about guards and loop predicates that are literal text.
fn references<'a>(a: &'a AgentSpec, sink: &mut Sink) -> Vec<(&'a str, Pos, &'static str)> {
    let me = a.name.value.as_str();
    let is_agent_ref = |t: &str| predicate::agent_ref(t).is_some();
    let mut tokens: Vec<(&str, Pos, &str)> = Vec::new();
    if let Some(w) = &a.when {
        if let Some(msg) = predicate::literal_warning(&w.value, is_agent_ref) {
            sink.warning(w.pos, format!("the `when:` guard of agent `{me}`: {msg}"))
                .hint("a guard reads an upstream agent's JSON: `${agent.field}` or `${agent.field} == value`");
        }
        tokens.push((predicate::resolved_token(&w.value), w.pos, "when"));
    }
    match &a.kind {
        AgentKind::Dispatch(t) if predicate::agent_ref(&t.value).is_some() => {
            tokens.push((t.value.as_str(), t.pos, "dispatch"));
        }
        AgentKind::Loop(l) => {
            let is_out_ref = |t: &str| predicate::output_ref(t).is_some();
            if let Some(msg) = predicate::literal_warning(&l.until, is_out_ref) {
                sink.warning(a.pos, format!("the `until:` of loop agent `{me}`: {msg}"))
                    .hint("`until:` reads the body's output: `${field}` or `${field} == value`");
            }
            if let Some(c) = &l.carry
                && predicate::output_ref(c).is_none()
            {
                sink.warning(a.pos, format!("the `carry:` of loop agent `{me}` is `{c}`, not a `${{field}}` reference: every iteration after the first gets that text as its input"))
                    .hint("`carry: ${field}` passes a field of the body's output to the next iteration");
            }
        }
        _ => {}
    }
    tokens
}

impl Flow<'_> {
    /// One reference of agent `i` (`me`): to a known agent other than itself, which has finished
    /// when `i` runs (an ancestor, or an earlier phase it is then made to wait for).
    fn check_reference(
        &mut self,
        i: usize,
        me: &str,
        token: &str,
        pos: Pos,
        what: &str,
        sink: &mut Sink,
    ) {
        let Some((dep, _)) = predicate::agent_ref(token) else {
            return;
        };
        let Some(&j) = self.index.get(dep) else {
            let diag = sink.error(
                pos,
                format!("the `{what}:` of agent `{me}` refers to unknown agent `{dep}`"),
            );
            match closest(dep, self.names.iter().copied()) {
                Some(near) => diag.hint(format!("did you mean `{near}`?")),
                None => diag.hint(format!("the agents are: {}", list_names(&self.names))),
            };
            return;
        };
        if j == i {
            sink.error(pos, format!("the `{what}:` of agent `{me}` refers to the agent itself"))
                .hint("a reference reads an upstream agent's result, which must exist before this agent runs");
            return;
        }
        if !self.refs[i].contains(&j) {
            self.refs[i].push(j);
        }
        if is_ancestor(j, i, self.deps) {
            return;
        }
        if self.level[j] < self.level[i] {
            if !self.after[i].contains(&j) {
                self.after[i].push(j);
            }
        } else {
            sink.error(pos, format!("the `{what}:` of agent `{me}` refers to `{dep}`, which is not upstream of it"))
                .hint(format!("llm-orc runs `{dep}` in the same phase or later, so the reference would always be empty; add `{dep}` to the `depends_on` of `{me}`"));
        }
    }
}

/// Each agent's phase (longest dependency path from a root) in an acyclic graph.
fn phases(deps: &[Vec<usize>]) -> Vec<usize> {
    let mut level: Vec<Option<usize>> = vec![None; deps.len()];
    for start in 0..deps.len() {
        let mut stack = vec![(start, false)];
        while let Some((i, expanded)) = stack.pop() {
            if level[i].is_some() {
                continue;
            }
            if expanded {
                let l = deps[i]
                    .iter()
                    .filter_map(|&d| level[d])
                    .map(|l| l + 1)
                    .max();
                level[i] = Some(l.unwrap_or(0));
            } else {
                stack.push((i, true));
                stack.extend(
                    deps[i]
                        .iter()
                        .filter(|&&d| level[d].is_none())
                        .map(|&d| (d, false)),
                );
            }
        }
    }
    level.into_iter().map(|l| l.unwrap_or(0)).collect()
}

/// Whether `j` is `i` or one of its (transitive) dependencies.
fn is_ancestor(j: usize, i: usize, deps: &[Vec<usize>]) -> bool {
    let mut seen = vec![false; deps.len()];
    let mut stack = vec![i];
    while let Some(k) = stack.pop() {
        if k == j {
            return true;
        }
        for &d in &deps[k] {
            if !std::mem::replace(&mut seen[d], true) {
                stack.push(d);
            }
        }
    }
    false
}
