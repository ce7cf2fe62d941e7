//! `invoke` and the run table behind `run_status`, `run_result` and `cancel_run`.
//!
//! A synchronous invoke watches its request's cancellation: `notifications/cancelled` (Esc in
//! Claude Code, or its tool timeout) stops the run at once (requests in flight dropped, nothing
//! new started), its artifact is written marked interrupted, its routing record says
//! `cancelled` (never counted as delivered) and no progress is sent for it afterwards. While it
//! runs, progress comes with every finished agent and, between them, a heartbeat at least every
//! `--heartbeat` seconds naming what is running, so a client's inactivity timeout (300 s over
//! HTTP in Claude Code) never fires during a slow agent. An async invoke answers at once and
//! sends no progress (its request is over; a client would not know the token).

use std::collections::BTreeMap;
use std::time::Instant;

use rmcp::RoleServer;
use rmcp::model::{CallToolResult, ProgressNotificationParam};
use rmcp::service::RequestContext;
use serde::Serialize;
use serde_json::{Value, json};

use super::account::{ArgTokens, result_tokens};
use super::params::{InvokeArgs, RunArg, RunResultArgs};
use super::result::{self, Detail};
use super::{OrcMcp, Run, ToolResult, err, lock, names, ok};
use crate::learn::invoke::Delegation;
use crate::learn::records::Handover;
use crate::learn::service::Learning;
use crate::run::{Event, Status};
use crate::service::InvokeOptions;

/// Resolves when the client cancels the request.
type CancelFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// An answer whose run ended in error is a tool error (`isError: true`), with the same content.
fn answer(v: Value) -> ToolResult {
    if v["status"] == "error" {
        Ok(CallToolResult::structured_error(v))
    } else {
        ok(v)
    }
}

/// The heartbeat's message: the agents running, longest first, and how long each has been.
fn running_line(running: &BTreeMap<String, Instant>, done: u64, total: u64) -> String {
    let mut v: Vec<(&String, &Instant)> = running.iter().collect();
    v.sort_by_key(|(_, t)| **t);
    let names: Vec<String> = v
        .iter()
        .take(4)
        .map(|(n, t)| format!("{n} ({:.0} s)", t.elapsed().as_secs_f64()))
        .collect();
    let more = v.len().saturating_sub(4);
    format!(
        "running: {}{}; {done} of {total} agents done",
        if names.is_empty() {
            "waiting for a slot".to_string()
        } else {
            names.join(", ")
        },
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

impl OrcMcp {
    fn cap_of(&self, asked: Option<usize>) -> usize {
        asked.unwrap_or(self.state.opts.max_result_chars).max(1000)
    }

    /// The answer Claude gets for a finished run: shaped, then capped.
    fn shaped(&self, full: &Value, detail: Detail, max: usize) -> Value {
        let path = full["artifact_id"].as_str().map(|id| {
            format!(
                ".llm-orc/artifacts/{id}/execution.json (analyze_execution artifact_id: \"{id}\")"
            )
        });
        result::cap(
            result::shape(full, detail),
            max,
            &result::where_rest(full, path.as_deref()),
        )
    }

    pub(super) async fn invoke_tool(
        &self,
        a: InvokeArgs,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        let detail = Detail::parse(a.detail.as_deref())?;
        let max = self.cap_of(a.max_chars);
        let svc = self.svc();
        let (input, expect) = invoke_input(&a, &svc)?;
        let (ens, _) = svc.compile(&a.ensemble_name).map_err(err)?;
        let total = ens.total_agents() as u64;
        let run_id = format!(
            "{}-{:08x}",
            chrono::Local::now().format("%Y%m%d-%H%M%S-%3f"),
            fastrand::u32(..)
        );
        let arg_tokens = ctx.extensions.get::<ArgTokens>().map_or(0, |t| t.0);
        let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
        lock(&self.state.runs).insert(
            run_id.clone(),
            Run {
                ensemble: ens.name.clone(),
                started: Instant::now(),
                done: 0,
                failed: 0,
                total,
                running: BTreeMap::new(),
                result: None,
                cancel: cancel_tx.clone(),
                handover: Handover::default(),
                routing_id: None,
            },
        );
        // Another run of the same ensemble (a local retry or a sample after a failed free
        // check) with the same host, budget and cancellation.
        let again = {
            let (rx, host, budget) = (
                cancel_rx.clone(),
                self.state.env.ollama_host.clone(),
                a.token_budget,
            );
            move || {
                let mut o = InvokeOptions::new(rx.clone());
                o.ollama_host = host.clone();
                o.token_budget = budget;
                o
            }
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
        let mut opts = InvokeOptions::new(cancel_rx);
        opts.events = Some(tx);
        opts.ollama_host = self.state.env.ollama_host.clone();
        opts.token_budget = a.token_budget;
        opts.cache = a.cache;
        // Progress belongs to this request: an async run's request is over when it answers.
        let token = (!a.run_async)
            .then(|| ctx.meta.get_progress_token())
            .flatten();
        let ct = (!a.run_async).then(|| ctx.ct.clone());
        let on_cancel: Option<CancelFuture> = ct
            .clone()
            .map(|c| Box::pin(c.cancelled_owned()) as CancelFuture);
        let progress = tokio::spawn(self.clone().watch(
            run_id.clone(),
            rx,
            token,
            ctx.peer.clone(),
            on_cancel,
            cancel_tx,
        ));
        let started = Started {
            id: run_id.clone(),
            learning: Learning::open(&svc),
            svc,
            name: a.ensemble_name.clone(),
            input,
            req: crate::learn::deliver::Request {
                task_type: a.task_type.clone(),
                task_summary: a.task_summary.clone(),
                instruction: a.instruction.clone(),
                expect,
            },
            opts,
            again: Box::new(again),
            progress,
            is_cancelled: Box::new(move || ct.as_ref().is_some_and(|c| c.is_cancelled())),
            detail,
            max,
            run_async: a.run_async,
            arg_tokens,
            prepared: self.take_pending(),
        };
        let work = self.clone().finish_run(started);
        if a.run_async {
            let started = serde_json::to_value(RunningReply {
                run_id: &run_id,
                status: "running",
                ensemble: &a.ensemble_name,
                total_agents: total,
            })
            .map_err(|e| e.to_string())?;
            let tokens = crate::learn::estimate::tokens(&started.to_string());
            if let Some(r) = lock(&self.state.runs).get_mut(&run_id) {
                r.handover
                    .add(&self.handover_of(&Learning::open(&self.svc()), arg_tokens, tokens));
            }
            tokio::spawn(work);
            return ok(started);
        }
        answer(work.await)
    }

    /// The rest of an invoke once it has started: the delegated run (checks and routing
    /// record), its whole document kept for run_result, and the answer Claude gets. The record
    /// takes the calls that prepared it and this one.
    async fn finish_run(self, s: Started) -> Value {
        let d = Delegation {
            ensemble: &s.name,
            input: s.input,
            request: &s.req,
            checks: true,
        };
        let outcome = crate::learn::invoke::invoke(&s.svc, &s.learning, d, s.opts, &*s.again).await;
        let _ = s.progress.await;
        let cancelled = (s.is_cancelled)();
        let (mut full, rec) = run_document(outcome, &s.id, cancelled);
        let mut answer = self.shaped(&full, s.detail, s.max);
        // The record takes this call (unless async: it was charged when it answered), the
        // calls that prepared it and the polls so far.
        let sent = if cancelled {
            0
        } else {
            result_tokens_of(&answer)
        };
        let mut h = lock(&self.state.runs)
            .get(&s.id)
            .map(|r| r.handover.clone())
            .unwrap_or_default();
        if !s.run_async {
            h.add(&self.handover_of(&s.learning, s.arg_tokens, sent));
        }
        let mut prepared = s.prepared;
        prepared.add(&h);
        if let Some(mut r) = rec {
            r.handover = Some(prepared);
            let id = r.id.clone();
            if let Err(e) = crate::learn::invoke::log_record(&s.learning, &r) {
                push_warning(
                    &mut full,
                    format!("the run was not logged for learning: {e}"),
                );
                push_warning(
                    &mut answer,
                    format!("the run was not logged for learning: {e}"),
                );
                full["routing_id"] = Value::Null;
                answer["routing_id"] = Value::Null;
            } else if let Some(run) = lock(&self.state.runs).get_mut(&id) {
                run.routing_id = Some(id);
            }
        }
        if let Some(r) = lock(&self.state.runs).get_mut(&s.id) {
            r.result = Some(full);
        }
        answer
    }

    /// Follows a run's events: counters and the running set for run_status, progress for the
    /// client (each finished agent, and a heartbeat between), and the request's cancellation.
    async fn watch(
        self,
        id: String,
        mut rx: tokio::sync::mpsc::UnboundedReceiver<Event>,
        token: Option<rmcp::model::ProgressToken>,
        client: rmcp::Peer<RoleServer>,
        mut on_cancel: Option<CancelFuture>,
        cancel: tokio::sync::watch::Sender<bool>,
    ) {
        let mut tick = tokio::time::interval(self.state.opts.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut cancelled = false;
        // MCP wants progress to grow with every notification: heartbeats between two finished
        // agents add ever smaller fractions.
        let mut beats = 0u32;
        loop {
            let note = tokio::select! {
                ev = rx.recv() => match ev {
                    None => break,
                    Some(ev) => self.on_event(&id, ev).map(|(done, total, msg)| {
                        beats = 0;
                        (done as f64, total, msg)
                    }),
                },
                _ = tick.tick() => {
                    let runs = lock(&self.state.runs);
                    runs.get(&id).map(|r| {
                        beats += 1;
                        let frac = 1.0 - 0.5f64.powi(beats as i32);
                        (r.done as f64 + 0.99 * frac, r.total, running_line(&r.running, r.done, r.total))
                    })
                }
                _ = async { match on_cancel.as_mut() { Some(c) => c.await, None => std::future::pending().await } }, if !cancelled => {
                    cancelled = true;
                    let _ = cancel.send(true);
                    tracing::info!(run = %id, "the client cancelled the request: stopping the run");
                    None
                }
            };
            if cancelled {
                continue;
            }
            if let (Some(t), Some((progress, total, msg))) = (&token, note) {
                let _ = client
                    .notify_progress(
                        ProgressNotificationParam::new(t.clone(), progress)
                            .with_total(total as f64)
                            .with_message(msg),
                    )
                    .await;
            }
        }
    }

    /// Updates the run table for one event; for a finished agent, (done, total, message).
    fn on_event(&self, id: &str, ev: Event) -> Option<(u64, u64, String)> {
        let mut runs = lock(&self.state.runs);
        let r = runs.get_mut(id)?;
        match ev {
            Event::Started { agent } => {
                r.running.insert(agent, Instant::now());
                None
            }
            Event::Finished { agent, status, .. } => {
                r.running.remove(&agent);
                r.done += 1;
                if status == Status::Failed {
                    r.failed += 1;
                }
                r.total = r.total.max(r.done);
                Some((r.done, r.total, format!("{agent}: {}", status.outcome())))
            }
            _ => None,
        }
    }

    pub(super) fn run_status_tool(&self, a: RunArg) -> ToolResult {
        names(&[("run_id", &a.run_id)])?;
        let runs = lock(&self.state.runs);
        let r = runs
            .get(&a.run_id)
            .ok_or_else(|| format!("Run not found: {}", a.run_id))?;
        to_reply(&RunStatusReply {
            run_id: &a.run_id,
            ensemble: &r.ensemble,
            status: match &r.result {
                None => "running",
                Some(v) if v["has_errors"] == true => "error",
                Some(_) => "success",
            },
            executor_status: match &r.result {
                None => Value::from("running"),
                Some(v) => v["executor_status"].clone(),
            },
            done: r.result.is_some(),
            agents_finished: r.done,
            agents_failed: r.failed,
            total_agents: r.total,
            running: r.running.keys().collect(),
            elapsed_s: r.started.elapsed().as_secs_f64(),
        })
    }

    pub(super) fn run_result_tool(&self, a: RunResultArgs) -> ToolResult {
        names(&[("run_id", &a.run_id)])?;
        let detail = Detail::parse(a.detail.as_deref())?;
        let max = self.cap_of(a.max_chars);
        let full = {
            let runs = lock(&self.state.runs);
            let r = runs
                .get(&a.run_id)
                .ok_or_else(|| format!("Run not found: {}", a.run_id))?;
            match &r.result {
                Some(v) => v.clone(),
                None => {
                    return Err(format!(
                        "Run {} is still running ({} of {} agents finished); poll run_status",
                        a.run_id, r.done, r.total
                    ));
                }
            }
        };
        match &a.agent {
            Some(agent) => {
                let one = result::agent(&full, agent, a.offset)?;
                let rest = format!(
                    "The rest: run_result(run_id: \"{}\", agent: \"{agent}\", offset: N) with N past what is shown.",
                    a.run_id
                );
                ok(result::cap(one, max, &rest))
            }
            None => answer(self.shaped(&full, detail, max)),
        }
    }

    pub(super) fn cancel_run_tool(&self, a: RunArg) -> ToolResult {
        names(&[("run_id", &a.run_id)])?;
        let runs = lock(&self.state.runs);
        let r = runs
            .get(&a.run_id)
            .ok_or_else(|| format!("Run not found: {}", a.run_id))?;
        if r.result.is_some() {
            return to_reply(&CancelReply {
                run_id: &a.run_id,
                cancelled: false,
                note: Some("the run had already finished"),
            });
        }
        let _ = r.cancel.send(true);
        to_reply(&CancelReply {
            run_id: &a.run_id,
            cancelled: true,
            note: None,
        })
    }
}

/// `run_status`.
#[derive(Serialize)]
struct RunStatusReply<'a> {
    run_id: &'a str,
    ensemble: &'a str,
    /// running, success or error.
    status: &'static str,
    /// The run document's own word once it is over.
    executor_status: Value,
    done: bool,
    agents_finished: u64,
    agents_failed: u64,
    total_agents: u64,
    running: Vec<&'a String>,
    elapsed_s: f64,
}

/// `cancel_run`.
#[derive(Serialize)]
struct CancelReply<'a> {
    run_id: &'a str,
    cancelled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'static str>,
}

/// An async invoke's answer, at once.
#[derive(Serialize)]
struct RunningReply<'a> {
    run_id: &'a str,
    status: &'static str,
    ensemble: &'a str,
    total_agents: u64,
}

fn to_reply(reply: &impl Serialize) -> ToolResult {
    ok(serde_json::to_value(reply).map_err(|e| e.to_string())?)
}

/// An invoke under way: what `finish_run` needs once the run is registered and watched.
struct Started {
    id: String,
    svc: std::sync::Arc<crate::service::Service>,
    learning: Learning,
    name: String,
    input: String,
    req: crate::learn::deliver::Request,
    opts: InvokeOptions,
    again: Box<dyn Fn() -> InvokeOptions + Send + Sync>,
    progress: tokio::task::JoinHandle<()>,
    /// Whether the client cancelled the request (never, for an async run).
    is_cancelled: Box<dyn Fn() -> bool + Send + Sync>,
    detail: Detail,
    max: usize,
    run_async: bool,
    arg_tokens: u64,
    prepared: Handover,
}

/// An invoke's arguments checked, and its input (the documents read and composed).
fn invoke_input(
    a: &InvokeArgs,
    svc: &crate::service::Service,
) -> Result<(String, crate::learn::checks::Expect), String> {
    crate::learn::classify::check_task_type(a.task_type.as_deref())?;
    if a.token_budget == Some(0) {
        return Err("token_budget must be at least 1 (0 would start no agent)".to_string());
    }
    let expect = a.expect.clone().unwrap_or_default();
    expect.validate()?;
    if let Some(i) = &a.instruction
        && i.len() > 64 * 1024
    {
        return Err("instruction is over 64 KiB".to_string());
    }
    let input = if a.input_files.is_empty() {
        a.input_data.clone()
    } else {
        let root = svc.project.dirs.script_base().to_path_buf();
        let files = crate::service::inputs::read(&root, &a.input_files).map_err(err)?;
        crate::service::inputs::compose(&a.input_data, &files)
    };
    Ok((input, expect))
}

/// A finished delegated run as llm-orc's invoke document (with `run_id`, `routing_id` and
/// what the free checks add), and its routing record when one could be made.
fn run_document(
    outcome: Result<crate::learn::invoke::Delegated, crate::service::ServiceError>,
    id: &str,
    cancelled: bool,
) -> (Value, Option<crate::learn::records::RoutingRecord>) {
    let mut checks = json!({});
    let (mut full, rec) = match outcome {
        Ok(mut delegated) => {
            if cancelled {
                delegated.cancelled();
            }
            let inv = &delegated.checked.inv;
            let mut full = OrcMcp::result_json(inv);
            full["run_id"] = json!(id);
            let rec = match delegated.record {
                Ok(r) => {
                    full["routing_id"] = json!(r.id);
                    Some(r)
                }
                Err(e) => {
                    push_warning(
                        &mut full,
                        format!("the run was not logged for learning: {e}"),
                    );
                    None
                }
            };
            checks = delegated.checked.json(rec.as_ref().map(|r| r.id.as_str()));
            (full, rec)
        }
        Err(e) => (
            json!({"status": "error", "has_errors": true, "error": err(e), "results": {}, "run_id": id}),
            None,
        ),
    };
    if cancelled {
        full["executor_status"] = json!("interrupted");
        full["cancelled"] = json!(true);
    }
    if let (Value::Object(f), Value::Object(q)) = (&mut full, checks) {
        f.extend(q);
    }
    (full, rec)
}

fn push_warning(v: &mut Value, w: String) {
    match v.get_mut("warnings").and_then(Value::as_array_mut) {
        Some(a) => a.push(json!(w)),
        None => v["warnings"] = json!([w]),
    }
}

/// Tokens (before the factor) of an answer's text as the client receives it.
fn result_tokens_of(v: &Value) -> u64 {
    result_tokens(&CallToolResult::structured(v.clone()))
}
