//! One unit of work (an agent, or one fan-out instance) given its input: one fn per kind of
//! unit (LLM, script, primitive, nested or dispatched child, loop), and reuse of an earlier
//! run's result when the input is unchanged.

use std::sync::Arc;

use serde_json::Value;

use super::call::{Call, call_llm};
use super::engine::{Engine, Event, agent_timeout};
use super::results::{Entry, RunResult, TimelineRow, Timing};
use super::scheduler::run_graph;
use super::{Outputs, Place, Work, hash, primitives, prompt, script};
use crate::compile::{Agent, CompiledEnsemble, Kind, LlmAgent};
use crate::load::resolve::ScriptTarget;

/// Who runs a unit: the agent, its name (an instance's `name[k]`), display name (with the
/// run's prefix), when it became ready, and where its run sits.
pub(super) struct Unit<'a> {
    pub engine: &'a Arc<Engine>,
    pub agent: &'a Agent,
    pub name: &'a str,
    pub display: &'a str,
    pub ready: f64,
    pub place: &'a Place,
    /// The agent's remaining path to the end of its ensemble (`CompiledEnsemble::remaining`).
    pub priority: u64,
}

/// What one unit of work produced: its entry, and the usage, rows and leaves of the calls made
/// for it (its own, or a nested run's, already named).
pub(super) struct UnitOut {
    pub entry: Entry,
    pub out: Outputs,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Unit<'_> {
    fn kind(&self) -> &'static str {
        self.agent.kind.label()
    }

    /// The unit's timeline row.
    fn row(&self, e: &Entry, model: Option<String>) -> TimelineRow {
        let prefix = self.place.prefix.as_str();
        TimelineRow {
            agent: self.display.to_string(),
            kind: self.kind(),
            model,
            status: e.status,
            depends_on: self
                .agent
                .depends_on
                .iter()
                .map(|d| format!("{prefix}{d}"))
                .collect(),
            ready_ms: round3(e.timing.ready_ms),
            start_ms: round3(e.timing.start_ms),
            end_ms: round3(e.timing.end_ms),
            queue_ms: round3(e.timing.queue_ms()),
            service_ms: round3(e.timing.service_ms()),
            host: None,
        }
    }

    /// A unit that made no nested run: its entry (with its input hash), its row, and itself as
    /// a leaf when it is an LLM or script result.
    fn one(&self, mut entry: Entry, hash: &Option<String>, model: Option<String>) -> UnitOut {
        entry.input_hash = hash.clone();
        let rows = vec![self.row(&entry, model)];
        let leaves = if hash.is_some() {
            vec![(self.display.to_string(), entry.clone())]
        } else {
            vec![]
        };
        UnitOut {
            entry,
            out: Outputs {
                usage: vec![],
                rows,
                leaves,
            },
        }
    }

    fn failed_now(&self, msg: String) -> Entry {
        Entry::failed(
            msg,
            self.kind(),
            Timing::instant(self.ready, self.engine.ms()),
        )
    }

    /// The earlier run's result, when this unit's input hash matches it (`--resume`).
    fn reused(&self, hash: &Option<String>) -> Option<UnitOut> {
        let h = hash.as_ref()?;
        let prev = self.engine.reuse.get(self.display)?;
        if &prev.input_hash != h {
            return None;
        }
        let t = self.engine.ms();
        let mut e = Entry::success(
            prev.response.clone(),
            self.kind(),
            Timing::instant(self.ready, t),
        );
        e.model_substituted = prev.model_substituted;
        e.agent_requests = prev.agent_requests.clone();
        e.input_hash = hash.clone();
        e.reused = true;
        let rows = vec![self.row(&e, None)];
        Some(UnitOut {
            out: Outputs {
                usage: vec![],
                rows,
                leaves: vec![(self.display.to_string(), e.clone())],
            },
            entry: e,
        })
    }
}

/// Whether a request always gets the same answer: temperature 0, or a fixed `seed` option.
fn deterministic(llm: &LlmAgent) -> bool {
    let zero = |v: Option<f64>| v.is_some_and(|t| t == 0.0);
    zero(llm.temperature)
        || zero(llm.options.get("temperature").and_then(Value::as_f64))
        || llm.options.get("seed").is_some_and(|s| !s.is_null())
}

impl Unit<'_> {
    /// The answer the result cache holds for `key`: spends nothing, keeps what it once cost.
    fn cached(&self, c: &super::engine::ResultCacheUse, key: &str, model: &str) -> Option<UnitOut> {
        let doc = c.store.get(key)?;
        let response = doc.get("response")?.clone();
        let t = self.engine.ms();
        let mut e = Entry::success(response, self.kind(), Timing::instant(self.ready, t));
        e.cached_usage = Some(doc.get("usage").cloned().unwrap_or(Value::Null));
        tracing::debug!(agent = self.display, "answer from the result cache");
        Some(self.one(e, &Some(key.to_string()), Some(model.to_string())))
    }
}

/// Runs one agent (or one fan-out instance) given its input.
pub(super) async fn run_unit(u: &Unit<'_>, work: Work) -> UnitOut {
    let agent = u.agent;
    let hash = matches!(agent.kind, Kind::Llm(_) | Kind::Script { .. })
        .then(|| hash::input_hash(agent, &work));
    if let Some(out) = u.reused(&hash) {
        return out;
    }
    match (&agent.kind, work) {
        (Kind::Llm(llm), Work::Text(user)) => llm_unit(u, llm, &user, &hash).await,
        (Kind::Script { .. }, Work::Script(input)) => script_unit(u, input, &hash).await,
        (Kind::Ensemble { child, reference }, Work::Text(input)) => {
            child_unit(u, child, reference, input).await
        }
        (Kind::Dispatch { .. }, Work::Child { input, child }) => {
            child_unit(u, &child, &child.name, input).await
        }
        (Kind::Loop { .. }, Work::Text(input)) => loop_unit(u, input).await,
        (_, _) => u.one(
            u.failed_now("internal error: input does not match the agent kind".into()),
            &hash,
            None,
        ),
    }
}

/// An LLM agent: its model, else its fallbacks.
async fn llm_unit(u: &Unit<'_>, llm: &LlmAgent, user: &str, hash: &Option<String>) -> UnitOut {
    let timeout = match agent_timeout(u.agent) {
        Ok(t) => t,
        Err(msg) => return u.one(u.failed_now(msg), hash, Some(llm.model.clone())),
    };
    let call = Call {
        engine: u.engine,
        display: u.display,
        timeout,
        announce: true,
        priority: u.priority,
        budgeted: true,
    };
    let cache = u
        .engine
        .result_cache
        .as_ref()
        .filter(|c| c.always || deterministic(llm))
        .zip(hash.as_deref());
    if let Some((c, key)) = cache
        && let Some(hit) = u.cached(c, key, &llm.model)
    {
        return hit;
    }
    // The budget is checked before the first request and spent as answers arrive (call.rs).
    let (mut entry, usage) = call_llm(&call, llm, user, u.ready).await;
    // Only the agent's own model's successful answers are kept.
    if let (Some((c, key)), Some(used)) = (cache, &usage)
        && entry.is_success()
        && !entry.model_substituted
    {
        let doc = serde_json::json!({
            "response": entry.response,
            "usage": super::document::usage_to_json(used),
        });
        c.store.put(key, &doc);
    }
    if entry.model_substituted && !llm.provider.runnable() {
        let used = usage.as_ref().and_then(|u| u.profile.as_deref());
        let why = format!(
            "provider `{}` of profile `{}` cannot run in orc; ran on fallback profile `{}`",
            llm.provider.name(),
            llm.profile.as_deref().unwrap_or("(none)"),
            used.unwrap_or("(none)")
        );
        tracing::info!(agent = u.display, "{why}");
        entry.note = Some(why);
    }
    let model = usage
        .as_ref()
        .map(|u| u.model.clone())
        .unwrap_or_else(|| llm.model.clone());
    let mut out = u.one(entry, hash, Some(model));
    if let (Some(row), Some(usage)) = (out.out.rows.first_mut(), usage.as_ref()) {
        row.host = Some(usage.host.clone());
    }
    out.out.usage = usage
        .map(|usage| (u.display.to_string(), usage))
        .into_iter()
        .collect();
    out
}

/// A script agent: a built-in primitive, or a script (from the script cache when it holds the
/// result).
async fn script_unit(u: &Unit<'_>, input: script::ScriptInput, hash: &Option<String>) -> UnitOut {
    let Kind::Script {
        target,
        parameters,
        launcher,
        ..
    } = &u.agent.kind
    else {
        return u.one(
            u.failed_now("internal error: not a script".into()),
            hash,
            None,
        );
    };
    let timeout = match agent_timeout(u.agent) {
        Ok(t) => t,
        Err(msg) => return u.one(u.failed_now(msg), hash, None),
    };
    let engine = u.engine;
    let _permit = engine.global_permit().await;
    // Checked again once the agent holds its permit: it may have waited while the budget went.
    if let Some(b) = &engine.budget
        && let Some(why) = b.exhausted()
    {
        b.skipped(u.display);
        let t = engine.ms();
        return u.one(
            Entry::skipped(why, u.kind(), Timing::instant(u.ready, t)),
            &None,
            None,
        );
    }
    let start = engine.ms();
    engine.emit(Event::Started {
        agent: u.display.to_string(),
    });
    let (outcome, note) = match target {
        ScriptTarget::Primitive(p) => (
            run_primitive(engine, p, parameters, input, u.display).await,
            None,
        ),
        _ => run_script(engine, target, launcher, parameters, input, timeout).await,
    };
    let timing = Timing {
        ready_ms: u.ready,
        start_ms: start,
        end_ms: engine.ms(),
        attempts: 1,
    };
    let mut entry = match outcome {
        Ok(response) => {
            let mut e = Entry::success(response, u.kind(), timing);
            e.agent_requests = script::agent_requests(&e.response);
            e
        }
        // The error as llm-orc 0.25.2 words it (dependents are shown it); what else the script
        // left (stderr, the envelope's other keys) is the payload.
        Err(f) => {
            let mut e = Entry::failed(f.error, u.kind(), timing);
            e.payload = f.payload;
            e
        }
    };
    entry.note = note;
    u.one(entry, hash, None)
}

/// Runs a script, or takes its result from the script cache when it holds it (and says so:
/// the note); a result computed is kept there.
async fn run_script(
    engine: &Arc<Engine>,
    target: &ScriptTarget,
    launcher: &crate::load::resolve::Launcher,
    parameters: &serde_json::Map<String, Value>,
    input: script::ScriptInput,
    timeout: std::time::Duration,
) -> (Result<Value, script::Failure>, Option<String>) {
    let cached = engine.script_cache.as_ref().and_then(|c| {
        let key = hash::script_key(target, parameters, &input)?;
        Some((c, key))
    });
    let Some((c, key)) = cached else {
        return (
            script::run(target, launcher, parameters, input, timeout).await,
            None,
        );
    };
    if let Some(v) = c.get(&key) {
        return (Ok(v), Some("script result from the cache".to_string()));
    }
    let r = script::run(target, launcher, parameters, input, timeout).await;
    if let Ok(v) = &r {
        c.put(&key, v);
    }
    (r, None)
}

/// Runs a built-in primitive off the async threads (it may read files or wait for the user).
async fn run_primitive(
    engine: &Arc<Engine>,
    name: &str,
    parameters: &serde_json::Map<String, Value>,
    input: script::ScriptInput,
    display: &str,
) -> Result<Value, script::Failure> {
    let (e, primitive, params, agent) = (
        engine.clone(),
        name.to_string(),
        parameters.clone(),
        display.to_string(),
    );
    let out = tokio::task::spawn_blocking(move || {
        let ask = |prompt: &str| -> Option<String> {
            let answer = e.ask.as_ref()?(&agent, prompt);
            if answer.is_some() {
                e.user_inputs
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            answer
        };
        primitives::run(&primitive, &params, &input, &e.files, &ask)
    })
    .await
    .map_err(|e| format!("primitive `{name}` stopped: {e}"))??;
    match script::reported_failure(&out.response) {
        Some(f) => Err(f),
        None => Ok(out.response),
    }
}

/// What a child run left behind.
struct ChildOut {
    entry: Entry,
    out: Outputs,
    result: Option<RunResult>,
}

/// A nested or dispatched ensemble: dependents get the child's final answers (the
/// hand-over), and the timeline gets the agent's own row after the child's.
async fn child_unit(
    u: &Unit<'_>,
    child: &Arc<CompiledEnsemble>,
    reference: &str,
    input: String,
) -> UnitOut {
    let ChildOut {
        mut entry,
        mut out,
        result,
    } = run_child(u, child, reference, input).await;
    if let Some(result) = result {
        // A fan-out instance (`agent[k]`) names its child's answers `name[k]`.
        let suffix = u.name.strip_prefix(u.agent.name.as_str()).unwrap_or("");
        entry.handover = Some(prompt::handover(child, &result.entries, suffix));
        entry.inner_errors = result.has_errors();
    }
    out.rows.push(u.row(&entry, None));
    UnitOut { entry, out }
}

/// Runs a nested or dispatched ensemble on the shared engine (the same limits, client and
/// cancellation), bounded by the agent's timeout. The response is the child's result as JSON.
async fn run_child(
    u: &Unit<'_>,
    child: &Arc<CompiledEnsemble>,
    reference: &str,
    input: String,
) -> ChildOut {
    let engine = u.engine;
    let start = engine.ms();
    let failed = |msg: String, timing: Timing| ChildOut {
        entry: Entry::failed(msg, u.kind(), timing),
        out: Outputs::default(),
        result: None,
    };
    let inner = match u.place.child(engine, u.display, reference) {
        Ok(p) => p,
        Err(msg) => return failed(msg, Timing::instant(u.ready, start)),
    };
    let timeout = match agent_timeout(u.agent) {
        Ok(t) => t,
        Err(msg) => return failed(msg, Timing::instant(u.ready, start)),
    };
    engine.emit(Event::Started {
        agent: u.display.to_string(),
    });
    let run = run_graph(engine.clone(), child.clone(), input, inner);
    let outcome = tokio::time::timeout(timeout, run).await;
    let timing = Timing {
        ready_ms: u.ready,
        start_ms: start,
        end_ms: engine.ms(),
        attempts: 1,
    };
    match outcome {
        Err(_) => failed(
            format!(
                "Agent execution timed out after {} seconds",
                script::fmt_secs(timeout)
            ),
            timing,
        ),
        Ok(mut result) => {
            // The child's document is built once, with its own nested documents embedded as
            // values (not re-escaped); its calls, rows and leaves move up to the parent.
            let doc = result.to_embedded_json();
            let mut entry = Entry::success(
                Value::String(crate::pyfmt::json_dumps(&doc)),
                u.kind(),
                timing,
            );
            entry.document = Some(Arc::new(doc));
            ChildOut {
                entry,
                out: Outputs::take_from(&mut result),
                result: Some(result),
            }
        }
    }
}

/// A loop agent's settings for one run.
struct LoopRun<'a> {
    child: Arc<CompiledEnsemble>,
    until: &'a str,
    carry: Option<&'a str>,
    max_iterations: u64,
    display: &'a str,
    /// Where the body runs (depth and chain); each iteration gets its own display prefix.
    inner: Place,
}

/// What a loop's iterations produced so far (kept when the loop times out).
#[derive(Default)]
struct Accumulated {
    iterations: u64,
    out: Outputs,
    /// Some iteration's run had an agent fail (the loop's `has_errors`).
    errors: bool,
}

/// A loop agent: its body run again and again, bounded by the agent's timeout.
async fn loop_unit(u: &Unit<'_>, input: String) -> UnitOut {
    let Kind::Loop {
        body,
        until,
        max_iterations,
        carry,
        child,
    } = &u.agent.kind
    else {
        return u.one(
            u.failed_now("internal error: not a loop".into()),
            &None,
            None,
        );
    };
    let engine = u.engine;
    let start = engine.ms();
    let early = |msg| {
        u.one(
            Entry::failed(msg, u.kind(), Timing::instant(u.ready, start)),
            &None,
            None,
        )
    };
    let inner = match u.place.child(engine, u.display, body) {
        Ok(p) => p,
        Err(msg) => return early(msg),
    };
    let timeout = match agent_timeout(u.agent) {
        Ok(t) => t,
        Err(msg) => return early(msg),
    };
    engine.emit(Event::Started {
        agent: u.display.to_string(),
    });
    let spec = LoopRun {
        child: child.clone(),
        until,
        carry: carry.as_deref(),
        max_iterations: *max_iterations,
        display: u.display,
        inner,
    };
    let mut acc = Accumulated::default();
    let outcome = tokio::time::timeout(timeout, run_loop(engine, &spec, input, &mut acc)).await;
    let timing = Timing {
        ready_ms: u.ready,
        start_ms: start,
        end_ms: engine.ms(),
        attempts: 1,
    };
    let e = loop_entry(u, body, timeout, &acc, outcome, timing);
    let mut out = acc.out;
    out.rows.push(u.row(&e, None));
    UnitOut { entry: e, out }
}

/// A loop's entry: its output, iterations and why it stopped, or why it failed (its timeout
/// names the iteration it was in).
fn loop_entry(
    u: &Unit<'_>,
    body: &str,
    timeout: std::time::Duration,
    acc: &Accumulated,
    outcome: Result<Result<(Value, u64, &'static str), String>, tokio::time::error::Elapsed>,
    timing: Timing,
) -> Entry {
    match outcome {
        Err(_) => Entry::failed(
            format!(
                "Agent execution timed out after {} seconds (in iteration {} of `{body}`)",
                script::fmt_secs(timeout),
                acc.iterations + 1
            ),
            u.kind(),
            timing,
        ),
        Ok(Err(msg)) => Entry::failed(msg, u.kind(), timing),
        Ok(Ok((output, iterations, terminated))) => {
            let mut e = Entry::success(
                Value::String(crate::pyfmt::json_dumps(&serde_json::json!({
                    "output": output,
                    "iterations": iterations,
                    "terminated": terminated,
                    "has_errors": acc.errors,
                }))),
                u.kind(),
                timing,
            );
            e.inner_errors = acc.errors;
            e
        }
    }
}

/// A body run's output as `until` and `carry` see it: its deliverable parsed as a JSON object;
/// another JSON value, or text, as `{"value": ...}`; no deliverable as `{}`.
fn loop_output(deliverable: Option<&str>) -> Value {
    let Some(d) = deliverable else {
        return serde_json::json!({});
    };
    match serde_json::from_str::<Value>(d) {
        Ok(v @ Value::Object(_)) => v,
        Ok(v) => serde_json::json!({ "value": v }),
        Err(_) => serde_json::json!({ "value": d }),
    }
}

/// Runs the body until `until` holds over its output or `max_iterations` runs are done. Each
/// iteration is a child run on the shared engine. Returns (output, iterations, why it stopped).
async fn run_loop(
    engine: &Arc<Engine>,
    spec: &LoopRun<'_>,
    input: String,
    acc: &mut Accumulated,
) -> Result<(Value, u64, &'static str), String> {
    use crate::compile::predicate::{evaluate, resolve_output_ref};
    let mut current = input;
    let mut output = serde_json::json!({});
    for k in 1..=spec.max_iterations {
        let place = spec.inner.with_prefix(format!("{}#{k}/", spec.display));
        let mut result =
            run_graph(engine.clone(), spec.child.clone(), current.clone(), place).await;
        acc.iterations = k;
        acc.errors |= result.has_errors();
        acc.out.append(Outputs::take_from(&mut result));
        if result.interrupted {
            return Err(format!("interrupted in iteration {k}"));
        }
        output = loop_output(result.deliverable.as_deref());
        if evaluate(spec.until, |t| resolve_output_ref(t, &output)) {
            return Ok((output, k, "until"));
        }
        if let Some(c) = spec.carry {
            match resolve_output_ref(c, &output) {
                Value::Null => {}
                Value::String(s) => current = s,
                other => current = crate::pyfmt::json_dumps(&other),
            }
        }
    }
    Ok((output, spec.max_iterations, "exhausted"))
}
