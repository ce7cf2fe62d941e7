//! One node of the graph, once its dependencies are done: the gate (no dependency answered:
//! skipped, or run anyway with `on_dependency_failure: run`; a false `when:`), `input_key`, the
//! dispatch target, and either one unit of work or a fan-out's instances and their gathered
//! entry.

use std::sync::Arc;

use serde_json::Value;

use super::engine::{Engine, Event};
use super::prompt::{self, Dep};
use super::results::{Entry, InstanceStatus, Status, Timing};
use super::units::{Unit, UnitOut, run_unit};
use super::{Outputs, Place, Work, script};
use crate::compile::{Agent, CompiledEnsemble, Kind, OnDependencyFailure};

/// What one node of the graph produced.
#[derive(Clone)]
pub(super) struct NodeDone {
    pub main: Entry,
    /// Fan-out instance entries (empty when the agent was not expanded).
    pub instances: Vec<(String, Entry)>,
    pub out: Outputs,
}

impl NodeDone {
    pub fn of(main: Entry) -> NodeDone {
        NodeDone {
            main,
            instances: vec![],
            out: Outputs::default(),
        }
    }
}

/// A node about to run: its agent, where it sits, and what it was given.
struct Node<'a> {
    engine: &'a Arc<Engine>,
    ens: &'a CompiledEnsemble,
    agent: &'a Agent,
    /// The run's input.
    base: &'a str,
    deps: &'a [(usize, Arc<NodeDone>)],
    refs: &'a [(usize, Arc<NodeDone>)],
    place: &'a Place,
    display: String,
    ready: f64,
    /// The agent's remaining path to the end of the ensemble.
    priority: u64,
}

/// Runs one node: the agent, or its fan-out instances and the gathered entry.
pub(super) async fn run_node(
    engine: &Arc<Engine>,
    ens: &CompiledEnsemble,
    i: usize,
    base: &str,
    deps: &[(usize, Arc<NodeDone>)],
    refs: &[(usize, Arc<NodeDone>)],
    place: &Place,
) -> NodeDone {
    let agent = &ens.agents[i];
    let node = Node {
        engine,
        ens,
        agent,
        base,
        deps,
        refs,
        place,
        display: format!("{}{}", place.prefix, agent.name),
        ready: engine.ms(),
        priority: ens.remaining.get(i).copied().unwrap_or(1),
    };
    // Once the budget is spent no new agent starts (checked before the guards, so that the
    // dependents of an agent the budget stopped say why too).
    let over_budget = engine.budget.as_ref().and_then(|b| {
        let why = b.exhausted()?;
        b.skipped(&node.display);
        Some(why)
    });
    let gate = match over_budget {
        Some(why) => Gate::Skip(Box::new(Entry::skipped(
            why,
            agent.kind.label(),
            Timing::instant(node.ready, node.ready),
        ))),
        None => node.gate(),
    };
    engine.emit(Event::Ready {
        agent: node.display.clone(),
    });
    let handled = match gate {
        Gate::Skip(e) => {
            let e = *e;
            let mut done = node.finish(e.clone(), Outputs::default());
            done.out.leaves = vec![(node.display, e)];
            return done;
        }
        Gate::Run { handled } => handled,
    };
    let mut done = match node.prepare() {
        Ok(p) => node.run(p).await,
        Err(main) => node.finish(*main, Outputs::default()),
    };
    if done.main.is_success() {
        done.main.handled_failure = handled;
    }
    done
}

/// Whether a node runs once its dependencies are done.
enum Gate {
    /// It runs; `handled` names the dependencies that failed when none answered and the agent
    /// says `on_dependency_failure: run`.
    Run { handled: Option<String> },
    /// It does not run: this is its entry.
    Skip(Box<Entry>),
}

/// What a node hands its unit(s): the dependency whose response `input_key` narrowed, and the
/// dispatch target picked.
struct Prepared {
    first_override: Option<Entry>,
    dispatch_child: Option<Arc<CompiledEnsemble>>,
}

impl Node<'_> {
    fn response_of(&self, name: &str) -> Option<&Value> {
        self.refs
            .iter()
            .find(|(j, _)| self.ens.agents[*j].name == name)
            .map(|(_, d)| &d.main.response)
    }

    /// The gate, as llm-orc 0.25.2 keeps it. When no dependency answered (none succeeded, no
    /// fan-out partly did): with `on_dependency_failure: run` the agent runs, shown what
    /// became of each; else it is skipped, by a guard when its dependencies all were
    /// (`skipped_by_guard`), else by their failure (`skipped_by_failure`, with the reason). An
    /// agent whose `when:` is false is skipped by its guard.
    fn gate(&self) -> Gate {
        let deps = self.dep_list(None);
        let kind = self.agent.kind.label();
        let now = Timing::instant(self.ready, self.ready);
        if !deps.is_empty() && !deps.iter().any(|d| prompt::answered(d.entry)) {
            let what = prompt::unanswered(&deps);
            let guarded = deps.iter().all(|d| d.entry.skipped_by_guard);
            if self.agent.on_dependency_failure == OnDependencyFailure::Run {
                return Gate::Run {
                    handled: (!guarded).then_some(what),
                };
            }
            if guarded {
                return Gate::Skip(Box::new(guard_skip(
                    "every dependency was skipped by a guard".into(),
                    kind,
                    now,
                )));
            }
            let mut e = Entry::skipped(String::new(), kind, now);
            e.note = None;
            e.reason = Some(format!("no dependency succeeded: {what}"));
            return Gate::Skip(Box::new(e));
        }
        match self.when_false() {
            Some(why) => Gate::Skip(Box::new(guard_skip(why, kind, now))),
            None => Gate::Run { handled: None },
        }
    }

    /// Why the agent's `when:` guard is false, if it is.
    fn when_false(&self) -> Option<String> {
        use crate::compile::predicate::{evaluate, resolve_agent_ref, resolved_token};
        let w = self.agent.when.as_ref()?;
        let resolve = |t: &str| resolve_agent_ref(t, |n| self.response_of(n));
        (!evaluate(w, resolve)).then(|| {
            let token = resolved_token(w);
            format!(
                "`when: {w}` is false ({token} is {})",
                crate::pyfmt::repr(&resolve(token))
            )
        })
    }

    /// `input_key` and the dispatch target; an error is the node's failed entry.
    fn prepare(&self) -> Result<Prepared, Box<Entry>> {
        let first_override = self.narrowed_first()?;
        let dispatch_child = match &self.agent.kind {
            Kind::Dispatch { target, child } => {
                let picked = resolve_dispatch(self, target, child.as_ref());
                Some(picked.map_err(|msg| {
                    Box::new(Entry::failed(
                        msg,
                        "dispatch",
                        Timing::instant(self.ready, self.engine.ms()),
                    ))
                })?)
            }
            _ => None,
        };
        Ok(Prepared {
            first_override,
            dispatch_child,
        })
    }

    /// input_key narrows the first dependency's response for this agent only.
    fn narrowed_first(&self) -> Result<Option<Entry>, Box<Entry>> {
        let (Some(key), Some((j, first))) = (&self.agent.input_key, self.deps.first()) else {
            return Ok(None);
        };
        if !first.main.is_success() {
            return Ok(None);
        }
        match prompt::select_key(&self.ens.agents[*j].name, &first.main.response, key) {
            Ok(v) => {
                let mut e = first.main.clone();
                e.response = v;
                Ok(Some(e))
            }
            Err(msg) => {
                let t = Timing {
                    ready_ms: self.ready,
                    start_ms: self.ready,
                    end_ms: self.engine.ms(),
                    attempts: 0,
                };
                Err(Box::new(Entry::failed(msg, self.agent.kind.label(), t)))
            }
        }
    }

    fn dep_list<'d>(&'d self, first_override: Option<&'d Entry>) -> Vec<Dep<'d>> {
        self.deps
            .iter()
            .enumerate()
            .map(|(k, (j, d))| Dep {
                name: &self.ens.agents[*j].name,
                entry: match (k, first_override) {
                    (0, Some(e)) => e,
                    _ => &d.main,
                },
                agent: &self.ens.agents[*j],
            })
            .collect()
    }

    async fn run(&self, p: Prepared) -> NodeDone {
        let dep_list = self.dep_list(p.first_override.as_ref());
        // Fan-out: map over the first dependency's array; without one the agent fails (it is
        // never run once on something that is not a list, as 0.19 did).
        if self.agent.fan_out
            && let Some(first) = dep_list.first()
        {
            let items = match (first.entry.status, &first.entry.response) {
                (Status::Success, r) => prompt::fan_out_items(r, None).ok_or_else(|| {
                    format!(
                        "Fan-out agent '{}' cannot run: upstream agent '{}'s response did not contain a JSON array",
                        self.agent.name, first.name
                    )
                }),
                (status, _) => Err(format!(
                    "Fan-out agent '{}' cannot run: upstream agent '{}' did not succeed (status: '{}')",
                    self.agent.name,
                    first.name,
                    status.word()
                )),
            };
            return match items {
                Ok(items) => self.fan_out(first.name, &items, &p).await,
                Err(msg) => {
                    let t = Timing::instant(self.ready, self.engine.ms());
                    let e = Entry::failed(msg, self.agent.kind.label(), t);
                    self.finish(e, Outputs::default())
                }
            };
        }
        let work = self.work(&dep_list, &p);
        let unit = self.unit(&self.agent.name, &self.display, self.ready);
        let out = run_unit(&unit, work).await;
        self.finish(out.entry, out.out)
    }

    fn unit<'u>(&'u self, name: &'u str, display: &'u str, ready: f64) -> Unit<'u> {
        Unit {
            engine: self.engine,
            agent: self.agent,
            name,
            display,
            ready,
            place: self.place,
            priority: self.priority,
        }
    }

    /// The input of the agent's one unit of work.
    fn work(&self, dep_list: &[Dep<'_>], p: &Prepared) -> Work {
        let (agent, base) = (self.agent, self.base);
        match &agent.kind {
            Kind::Script { .. } if dep_list.is_empty() => {
                Work::Script(script::ScriptInput::Plain(base.to_string()))
            }
            Kind::Script { .. } => Work::Script(script::ScriptInput::Schema {
                json: prompt::script_input(&agent.name, base, dep_list),
                input_data: base.to_string(),
            }),
            Kind::Ensemble { .. } => Work::Text(prompt::nested_input(agent, base, dep_list)),
            Kind::Dispatch { .. } => {
                // The child gets the selected value (input_key), else what a nested agent's
                // child gets (the input, then the dependency blocks; llm-orc 0.25.2): never T1.
                let input = match (&agent.input_key, &p.first_override) {
                    (Some(_), Some(e)) => crate::pyfmt::str_of(&e.response),
                    _ => prompt::nested_input(agent, base, dep_list),
                };
                match &p.dispatch_child {
                    Some(child) => Work::Child {
                        input,
                        child: child.clone(),
                    },
                    None => Work::Text(input),
                }
            }
            _ => Work::Text(prompt::llm_input(agent, base, dep_list)),
        }
    }

    /// Expands a fan-out into one instance per item, runs them concurrently and gathers them.
    async fn fan_out(&self, from: &str, items: &[Value], p: &Prepared) -> NodeDone {
        let n = items.len();
        if n as u64 > self.engine.max_fan_out {
            let msg = format!(
                "fan_out over {n} items from `{from}` exceeds the limit of {} instances; raise performance.execution.max_fan_out in config.yaml or split the work",
                self.engine.max_fan_out
            );
            tracing::warn!(agent = %self.agent.name, "{msg}");
            let t = Timing::instant(self.ready, self.engine.ms());
            let e = Entry::failed(msg, self.agent.kind.label(), t);
            return self.finish(e, Outputs::default());
        }
        tracing::debug!(
            agent = self.display.as_str(),
            instances = n,
            "fan-out expanded"
        );
        let futs = items
            .iter()
            .enumerate()
            .map(|(k, chunk)| self.instance(k, n, chunk, p.dispatch_child.as_ref()));
        let results = futures::future::join_all(futs).await;
        self.gather(results)
    }

    /// Runs fan-out instance `k` of `n` over `chunk`.
    async fn instance(
        &self,
        k: usize,
        n: usize,
        chunk: &Value,
        dispatch_child: Option<&Arc<CompiledEnsemble>>,
    ) -> (String, UnitOut) {
        let (engine, agent, base) = (self.engine, self.agent, self.base);
        let inst = format!("{}[{k}]", agent.name);
        let inst_display = format!("{}{inst}", self.place.prefix);
        engine.emit(Event::Ready {
            agent: inst_display.clone(),
        });
        let ready = engine.ms();
        let work = match (&agent.kind, dispatch_child) {
            (Kind::Script { .. }, _) => Work::Script(script::ScriptInput::Plain(
                prompt::fan_out_script_input(&agent.name, k, n, base, chunk),
            )),
            // A child run gets the item itself (llm-orc 0.25.2), not the chunk template.
            (_, Some(child)) => Work::Child {
                input: prompt::fan_out_child_input(chunk),
                child: child.clone(),
            },
            (Kind::Ensemble { .. }, None) => Work::Text(prompt::fan_out_child_input(chunk)),
            _ => Work::Text(prompt::fan_out_llm_input(k, n, base, chunk)),
        };
        let out = run_unit(&self.unit(&inst, &inst_display, ready), work).await;
        trace_finished(&inst_display, &out.entry);
        let tokens = out.out.usage.first().and_then(|(_, u)| u.total_tokens());
        engine.emit(Event::Finished {
            agent: inst_display.clone(),
            status: out.entry.status,
            tokens,
        });
        (inst, out)
    }

    /// The gathered entry of a fan-out: the instances' responses (a failed one as null), the
    /// overall status, and what dependents of nested instances see.
    fn gather(&self, results: Vec<(String, UnitOut)>) -> NodeDone {
        let n = results.len();
        let mut instances = Vec::with_capacity(n);
        let mut statuses = Vec::with_capacity(n);
        let mut responses = Vec::with_capacity(n);
        let mut all = Outputs::default();
        // What dependents see of a nested agent's instances: each instance's final answers,
        // named `agent[k]` (as llm-orc 0.25.2 hands them over), a failed instance as
        // `[k] (failed): error`.
        let mut handed: Vec<String> = Vec::with_capacity(n);
        let mut inner_errors = false;
        let nested = matches!(
            self.agent.kind,
            Kind::Ensemble { .. } | Kind::Dispatch { .. }
        );
        let (mut first_start, mut last_end) = (f64::MAX, 0.0f64);
        for (k, (inst, UnitOut { entry, out })) in results.into_iter().enumerate() {
            let response = if entry.is_success() {
                entry.response.clone()
            } else {
                Value::Null
            };
            if nested {
                handed.push(match (&entry.handover, entry.is_success()) {
                    (Some(h), true) => h.clone(),
                    (_, true) => format!("[{k}]:\n{}", crate::pyfmt::str_of(&response)),
                    (_, false) => format!(
                        "[{k}] (failed): {}",
                        entry.error.as_deref().unwrap_or("no response")
                    ),
                });
            }
            inner_errors |= entry.inner_errors;
            responses.push(response);
            statuses.push(InstanceStatus {
                index: k,
                status: entry.status,
                error: entry.error.clone(),
            });
            first_start = first_start.min(entry.timing.start_ms);
            last_end = last_end.max(entry.timing.end_ms);
            all.append(out);
            instances.push((inst, entry));
        }
        let timing = if n == 0 {
            Timing::instant(self.ready, self.engine.ms())
        } else {
            Timing {
                ready_ms: self.ready,
                start_ms: first_start.min(last_end),
                end_ms: last_end,
                attempts: 0,
            }
        };
        let mut main = gathered_entry(self.agent, responses, statuses, timing);
        // An empty fan-out hands over llm-orc's "produced zero instances" (render_response).
        if nested && n > 0 {
            handed.retain(|h| !h.is_empty());
            main.handover = Some(handed.join("\n\n"));
        }
        main.inner_errors = inner_errors;
        let status = main.status;
        trace_finished(&self.display, &main);
        // A failed gathered entry says what failed, instance by instance; a partial one does
        // not (llm-orc 0.25.2).
        main.error = (status == Status::Failed).then(|| failed_instances(&main));
        self.engine.emit(Event::Finished {
            agent: self.display.clone(),
            status,
            tokens: None,
        });
        NodeDone {
            main,
            instances,
            out: all,
        }
    }

    /// Traces and announces the node's end.
    fn finish(&self, main: Entry, out: Outputs) -> NodeDone {
        let tokens = out.usage.first().and_then(|(_, u)| u.total_tokens());
        trace_finished(&self.display, &main);
        self.engine.emit(Event::Finished {
            agent: self.display.clone(),
            status: main.status,
            tokens,
        });
        NodeDone {
            main,
            instances: vec![],
            out,
        }
    }
}

/// `[0] error; [1] error`: the errors of a fan-out's failed instances.
fn failed_instances(main: &Entry) -> String {
    main.instances
        .iter()
        .flatten()
        .filter(|i| i.status != Status::Success)
        .map(|i| {
            format!(
                "[{}] {}",
                i.index,
                i.error.as_deref().unwrap_or("no response")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// An entry skipped by a guard, with orc's note on why.
fn guard_skip(why: String, kind: &'static str, t: Timing) -> Entry {
    let mut e = Entry::skipped(why, kind, t);
    e.skipped_by_guard = true;
    e
}

/// The entry a fan-out's instances gather into: success when all succeeded (or there were
/// none), failed when none did, partial otherwise.
fn gathered_entry(
    agent: &Agent,
    responses: Vec<Value>,
    statuses: Vec<InstanceStatus>,
    timing: Timing,
) -> Entry {
    let n = statuses.len();
    let ok = statuses
        .iter()
        .filter(|s| s.status == Status::Success)
        .count();
    let status = if ok == n {
        Status::Success
    } else if ok == 0 {
        Status::Failed
    } else {
        Status::Partial
    };
    let mut main = Entry::success(Value::Array(responses), agent.kind.label(), timing);
    main.status = status;
    main.instances = Some(statuses);
    main
}

/// A debug event for an agent (or fan-out instance) that finished: its status and the
/// milliseconds from ready to done, or why it was skipped.
fn trace_finished(who: &str, e: &Entry) {
    let ms = (e.timing.end_ms - e.timing.ready_ms).max(0.0).round() as u64;
    match e.status {
        Status::Skipped => tracing::debug!(
            agent = who,
            reason = e.note.as_deref().unwrap_or(""),
            "agent skipped"
        ),
        status => tracing::debug!(
            agent = who,
            status = status.outcome(),
            ms,
            error = e.error.as_deref(),
            "agent finished"
        ),
    }
}

/// The ensemble a dispatch agent runs: its literal target (compiled with the ensemble), or the
/// name its `${agent.field}` reference resolves to, compiled now.
fn resolve_dispatch(
    node: &Node<'_>,
    expr: &str,
    literal: Option<&Arc<CompiledEnsemble>>,
) -> Result<Arc<CompiledEnsemble>, String> {
    if let Some(c) = literal {
        return Ok(c.clone());
    }
    let agent = &node.agent.name;
    let quoted = crate::pyfmt::repr(&Value::String(expr.to_string()));
    let name = match crate::compile::predicate::resolve_agent_ref(expr, |n| node.response_of(n)) {
        Value::Null => {
            return Err(format!(
                "Dispatch target for '{agent}' was not resolved (dispatch: {quoted})"
            ));
        }
        Value::String(s) => s,
        other => {
            return Err(format!(
                "Dispatch target for '{agent}' resolved to {}, which is not an ensemble name (dispatch: {quoted})",
                crate::pyfmt::repr(&other)
            ));
        }
    };
    match &node.engine.resolver {
        Some(r) => r(node.ens, &name),
        None => Err(format!(
            "Ensemble '{name}' not found (this run cannot load ensembles at run time)"
        )),
    }
}
