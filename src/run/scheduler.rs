//! The ready-queue loop over one graph: per agent, the number of unfinished dependencies; an
//! agent whose count reaches zero is spawned at once (no level barriers). Nested, dispatched and
//! loop-body runs are this same loop on the same engine.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use serde_json::Value;
use tokio::task::{Id, JoinError, JoinSet};

use super::engine::Engine;
use super::node::{NodeDone, run_node};
use super::results::{Entry, RunResult, Status, Timing};
use super::{Outputs, Place, primitives};
use crate::compile::{CompiledEnsemble, Kind};

/// Runs an ensemble to completion (or until cancelled).
pub fn run(
    engine: Arc<Engine>,
    ens: Arc<CompiledEnsemble>,
    input: String,
) -> Pin<Box<dyn Future<Output = RunResult> + Send>> {
    let place = Place {
        depth: 0,
        prefix: String::new(),
        chain: Arc::new(vec![ens.name.clone()]),
    };
    run_graph(engine, ens, input, place)
}

/// Runs one graph at `place` on the shared engine.
pub(super) fn run_graph(
    engine: Arc<Engine>,
    ens: Arc<CompiledEnsemble>,
    input: String,
    place: Place,
) -> Pin<Box<dyn Future<Output = RunResult> + Send>> {
    Box::pin(async move {
        let started_at = epoch();
        let mut s = Scheduler::new(engine, ens, input, place);
        s.drive().await;
        let Scheduler {
            ens,
            input,
            done,
            interrupted,
            ..
        } = s;
        assemble(&ens, (*input).clone(), done, started_at, interrupted)
    })
}

/// One graph's run in progress.
struct Scheduler {
    engine: Arc<Engine>,
    ens: Arc<CompiledEnsemble>,
    input: Arc<String>,
    place: Place,
    /// Who waits for each agent besides its dependents (guards reading it).
    wakes: Vec<Vec<usize>>,
    /// Unfinished agents each agent waits for.
    remaining: Vec<usize>,
    done: Vec<Option<Arc<NodeDone>>>,
    running: HashMap<Id, usize>,
    set: JoinSet<(usize, NodeDone)>,
    interrupted: bool,
}

impl Scheduler {
    fn new(engine: Arc<Engine>, ens: Arc<CompiledEnsemble>, input: String, place: Place) -> Self {
        let n = ens.agents.len();
        // An agent waits for its dependencies and for the agents its guard reads.
        let mut wakes: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, after) in ens.after.iter().enumerate() {
            for &j in after {
                wakes[j].push(i);
            }
        }
        let remaining: Vec<usize> = (0..n)
            .map(|i| {
                ens.graph
                    .neighbors_directed(NodeIndex::new(i), Direction::Incoming)
                    .count()
                    + ens.after[i].len()
            })
            .collect();
        let interrupted = *engine.cancel.borrow();
        Scheduler {
            engine,
            ens,
            input: Arc::new(input),
            place,
            wakes,
            remaining,
            done: vec![None; n],
            running: HashMap::new(),
            set: JoinSet::new(),
            interrupted,
        }
    }

    /// Starts agent `i` with what its dependencies and guard references produced.
    fn spawn(&mut self, i: usize) {
        let finished = |list: &[usize]| -> Vec<(usize, Arc<NodeDone>)> {
            list.iter()
                .filter_map(|&j| Some((j, self.done[j].clone()?)))
                .collect()
        };
        let deps = finished(&self.ens.deps[i]);
        let refs = finished(&self.ens.refs[i]);
        let (engine, ens, input, place) = (
            self.engine.clone(),
            self.ens.clone(),
            self.input.clone(),
            self.place.clone(),
        );
        let h = self.set.spawn(async move {
            let out = run_node(&engine, &ens, i, &input, &deps, &refs, &place).await;
            (i, out)
        });
        self.running.insert(h.id(), i);
    }

    /// Runs until every spawned agent has finished, or the run is cancelled.
    async fn drive(&mut self) {
        let mut cancel = self.engine.cancel.clone();
        let mut cancel_open = true;
        if !self.interrupted {
            let mut roots: Vec<usize> = (0..self.ens.agents.len())
                .filter(|&i| self.remaining[i] == 0)
                .collect();
            self.longest_first(&mut roots);
            for i in roots {
                self.spawn(i);
            }
        }
        while !self.set.is_empty() {
            tokio::select! {
                joined = self.set.join_next_with_id() => {
                    let Some(joined) = joined else { break };
                    self.joined(joined);
                }
                changed = cancel.changed(), if !self.interrupted && cancel_open => {
                    match changed {
                        // Nobody can cancel any more: run to the end.
                        Err(_) => cancel_open = false,
                        Ok(()) => {
                            if *cancel.borrow() {
                                self.interrupted = true;
                                self.set.abort_all();
                            }
                        }
                    }
                }
            }
        }
        if self.interrupted {
            self.record_cut_off();
        }
    }

    /// Records a finished task and spawns the agents it was the last to wait for.
    fn joined(&mut self, joined: Result<(Id, (usize, NodeDone)), JoinError>) {
        let (i, node) = match joined {
            Ok((id, v)) => {
                self.running.remove(&id);
                v
            }
            Err(e) => {
                let Some(i) = self.running.remove(&e.id()) else {
                    return;
                };
                let why = if e.is_cancelled() {
                    "interrupted before it finished".to_string()
                } else {
                    format!("agent task failed: {e}")
                };
                (i, self.failed_now(i, why))
            }
        };
        self.done[i] = Some(Arc::new(node));
        let succs: Vec<usize> = self
            .ens
            .graph
            .neighbors_directed(NodeIndex::new(i), Direction::Outgoing)
            .map(|s| s.index())
            .chain(self.wakes[i].iter().copied())
            .collect();
        let mut ready = Vec::new();
        for j in succs {
            self.remaining[j] -= 1;
            if self.remaining[j] == 0 && !self.interrupted {
                ready.push(j);
            }
        }
        self.longest_first(&mut ready);
        for j in ready {
            self.spawn(j);
        }
    }

    /// Agents that become ready together start in order of their remaining path to the end of
    /// the ensemble, longest first (then declaration order).
    fn longest_first(&self, ready: &mut [usize]) {
        let rem = |i: usize| self.ens.remaining.get(i).copied().unwrap_or(1);
        ready.sort_by_key(|&i| (std::cmp::Reverse(rem(i)), i));
    }

    /// Agents cut off by an interruption are recorded as failed, with what they were doing.
    fn record_cut_off(&mut self) {
        let cut: Vec<usize> = self.running.drain().map(|(_, i)| i).collect();
        for i in cut {
            if self.done[i].is_none() {
                let node = self.failed_now(i, "interrupted before it finished".into());
                self.done[i] = Some(Arc::new(node));
            }
        }
    }

    fn failed_now(&self, i: usize, why: String) -> NodeDone {
        let t = self.engine.ms();
        NodeDone::of(Entry::failed(
            why,
            self.ens.agents[i].kind.label(),
            Timing::instant(t, t),
        ))
    }
}

fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Builds the run result in llm-orc's order from what each node produced. Nodes are moved,
/// not copied: a nested run's results can be large.
fn assemble(
    ens: &CompiledEnsemble,
    input: String,
    done: Vec<Option<Arc<NodeDone>>>,
    started_at: f64,
    interrupted: bool,
) -> RunResult {
    let (deliverable, deliverable_nested, deliverable_answer) = match deliverable(ens, &done) {
        Some((i, d)) => match done[i].as_ref().filter(|n| n.main.holds_documents()) {
            Some(n) => (Some(d), true, nested_answer(&n.main)),
            None => (Some(d), false, None),
        },
        None => (None, false, None),
    };
    let execution_order = ens
        .agents
        .iter()
        .zip(&done)
        .filter(|(_, d)| d.is_some())
        .map(|(a, _)| a.name.clone())
        .collect();
    // Every task has finished, so each node has one owner left.
    let mut done: Vec<Option<NodeDone>> = done
        .into_iter()
        .map(|d| d.map(|n| Arc::try_unwrap(n).unwrap_or_else(|n| (*n).clone())))
        .collect();
    let (mut all, own_usage) = gather_outputs(ens, &mut done);
    all.rows.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    RunResult {
        ensemble: ens.name.clone(),
        input,
        entries: entries_in_order(ens, done),
        agents_used: ens.agents.len(),
        started_at,
        completed_at: epoch(),
        interrupted,
        deliverable,
        deliverable_nested,
        deliverable_answer,
        execution_order,
        usage: all.usage,
        own_usage,
        timeline: all.rows,
        all_entries: all.leaves,
        resumed_from: None,
        interactive: is_interactive(ens),
        user_inputs: 0,
        validation: None,
        auxiliary_calls: Vec::new(),
        budget: None,
    }
}

/// Moves every node's usage, rows and leaves into one; with, per usage, whether it is the
/// ensemble's own LLM agent's (not a nested run's).
fn gather_outputs(ens: &CompiledEnsemble, done: &mut [Option<NodeDone>]) -> (Outputs, Vec<bool>) {
    let mut all = Outputs::default();
    let mut own_usage = Vec::new();
    for (i, node) in done.iter_mut().enumerate() {
        let Some(node) = node else { continue };
        let own = matches!(ens.agents[i].kind, Kind::Llm(_));
        own_usage.extend(std::iter::repeat_n(own, node.out.usage.len()));
        all.append(std::mem::take(&mut node.out));
    }
    (all, own_usage)
}

/// The results map's entries in llm-orc's order: level by level; in each, the skipped agents
/// first, then the fan-out agents that could not expand (written while expanding), then the
/// others, fan-out instances before their gathered entries (an empty fan-out's too).
fn entries_in_order(
    ens: &CompiledEnsemble,
    mut done: Vec<Option<NodeDone>>,
) -> Vec<(String, Entry)> {
    let mut entries = Vec::new();
    let skipped =
        |d: &Option<NodeDone>| d.as_ref().is_some_and(|n| n.main.status == Status::Skipped);
    let unexpanded = |i: usize, d: &Option<NodeDone>| {
        ens.agents[i].fan_out
            && d.as_ref()
                .is_some_and(|n| n.main.instances.is_none() && n.main.status == Status::Failed)
    };
    for level in &ens.levels {
        let mut instances = Vec::new();
        let mut gathered = Vec::new();
        // llm-orc writes a phase's skipped entries before it runs the phase, and a fan-out it
        // cannot expand as it expands them.
        for &i in level {
            if skipped(&done[i])
                && let Some(node) = done[i].take()
            {
                entries.push((ens.agents[i].name.clone(), node.main));
            }
        }
        for &i in level {
            if unexpanded(i, &done[i])
                && let Some(node) = done[i].take()
            {
                entries.push((ens.agents[i].name.clone(), node.main));
            }
        }
        for &i in level {
            let Some(node) = done[i].take() else { continue };
            let name = ens.agents[i].name.clone();
            if node.main.instances.is_none() {
                entries.push((name, node.main));
            } else {
                instances.extend(node.instances);
                gathered.push((name, node.main));
            }
        }
        entries.extend(instances);
        entries.extend(gathered);
    }
    entries
}

/// Whether an ensemble asks the user (llm-orc's test: an interactive primitive, or `input(` in
/// a script reference).
fn is_interactive(ens: &CompiledEnsemble) -> bool {
    ens.agents.iter().any(|a| match &a.kind {
        Kind::Script {
            reference, target, ..
        } => {
            matches!(target, crate::load::resolve::ScriptTarget::Primitive(p) if primitives::is_interactive(p))
                || reference.contains("input(")
        }
        _ => false,
    })
}

/// A nested agent's final answer: its child document's own `deliverable` (in the embedded form,
/// already the answer further down).
fn nested_answer(e: &Entry) -> Option<Value> {
    match &e.document {
        Some(d) => d.get("deliverable").cloned(),
        None => match &e.response {
            Value::String(s) => serde_json::from_str::<Value>(s)
                .ok()?
                .get("deliverable")
                .cloned(),
            _ => None,
        },
    }
}

/// The final answer: the last terminal agent (in declaration order) that succeeded with text;
/// none when no final agent did (llm-orc 0.25.2: an intermediate answer is not the answer).
/// Returns that agent's index and the text.
fn deliverable(ens: &CompiledEnsemble, done: &[Option<Arc<NodeDone>>]) -> Option<(usize, String)> {
    let text_of = |i: usize| {
        done[i]
            .as_ref()
            .and_then(|d| match (&d.main.status, &d.main.response) {
                (Status::Success, Value::String(s)) if !s.is_empty() => Some((i, s.clone())),
                _ => None,
            })
    };
    (0..ens.agents.len())
        .rev()
        .filter(|&i| ens.terminal[i])
        .find_map(text_of)
}
