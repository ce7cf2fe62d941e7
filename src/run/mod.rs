//! The executor: runs a compiled ensemble, starting every agent the moment its dependencies
//! have finished (no level barriers), within the global and per-(host, model) limits.

pub mod hash;
pub mod primitives;
pub mod prompt;
pub mod results;
pub mod script;
pub mod validation;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::backend::{
    AnyProvider, ChatRequest, OllamaClient, OpenAiClient, Provider, ProviderError, TokenSink,
    normalize_host, origin,
};
use crate::compile::{Agent, CompiledEnsemble, Kind, LlmAgent, ProviderKind};
use crate::load::resolve::ScriptTarget;
use prompt::Dep;
pub use results::{AgentUsage, Entry, InstanceStatus, RunResult, Status, TimelineRow, Timing};

/// What happens during a run, for progress displays.
#[derive(Debug, Clone)]
pub enum Event {
    /// Dependencies done; waiting for a slot.
    Ready { agent: String },
    /// The request was sent (or the script started).
    Started { agent: String },
    /// Streamed chunks received so far.
    Tokens { agent: String, chunks: u64 },
    /// A retryable failure; trying again.
    Retrying {
        agent: String,
        attempt: u32,
        error: String,
    },
    Finished {
        agent: String,
        status: Status,
        tokens: Option<u64>,
    },
}

/// Retries for connection errors, 503 and 5xx: exponential backoff with jitter.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Delay before attempt `attempt + 1`: base x 2^(attempt-1), capped, with +-50% jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let d = exp.min(self.cap);
        d.mul_f64(0.5 + fastrand::f64())
    }
}

/// In-flight limits per (host, model): Ollama serves few requests per model at once.
pub struct Limits {
    default: usize,
    hosts: BTreeMap<String, usize>,
    sems: Mutex<HashMap<(String, String), Arc<Semaphore>>>,
}

impl Limits {
    pub fn new(default: usize, hosts: BTreeMap<String, usize>) -> Limits {
        Limits {
            default: default.max(1),
            hosts: hosts
                .into_iter()
                .map(|(k, v)| (origin(&normalize_host(&k)), v.max(1)))
                .collect(),
            sems: Mutex::new(HashMap::new()),
        }
    }

    fn semaphore(&self, host: &str, model: &str) -> Arc<Semaphore> {
        let key = (origin(host), model.to_string());
        let mut sems = self
            .sems
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sems.entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Semaphore::new(
                    *self.hosts.get(&key.0).unwrap_or(&self.default),
                ))
            })
            .clone()
    }

    /// Waits for a slot for `model` on `host`.
    pub async fn acquire(&self, host: &str, model: &str) -> Option<OwnedSemaphorePermit> {
        self.semaphore(host, model).acquire_owned().await.ok()
    }
}

/// Where script results are kept between runs (`performance.script_cache`): the run computes
/// the key (`hash::script_key`) and asks; `store::cache` keeps them.
pub trait ScriptMemo: Send + Sync {
    /// A stored response for `key`, if one is still valid.
    fn get(&self, key: &str) -> Option<Value>;
    /// Stores a successful response.
    fn put(&self, key: &str, response: &Value);
}

/// Shared by a run and every nested run inside it.
pub struct Engine {
    pub http: reqwest::Client,
    /// Where `provider: ollama` agents without a base_url go (`OLLAMA_HOST` or the default).
    pub ollama_host: String,
    pub limits: Limits,
    /// Overall cap on agents working at once (None = unlimited).
    pub max_concurrent: Option<Arc<Semaphore>>,
    pub retry: RetryPolicy,
    pub max_depth: u64,
    /// Most instances one fan-out may expand into; more fails the agent.
    pub max_fan_out: u64,
    pub events: Option<mpsc::UnboundedSender<Event>>,
    /// When the root run started; timings are relative to it.
    pub origin: Instant,
    /// Becomes true when the run is to stop (Ctrl-C).
    pub cancel: watch::Receiver<bool>,
    /// Whether Ollama responses are streamed.
    pub stream: bool,
    /// What one model response may hold (`performance.execution.max_response_bytes`).
    pub max_response_bytes: u64,
    /// Finished results of an earlier run (`--resume`), by agent name, with their input hash.
    pub reuse: HashMap<String, Reusable>,
    /// Compiles the ensemble a `dispatch:` agent picked at run time (None: only literal
    /// targets, compiled beforehand, can run).
    pub resolver: Option<Resolver>,
    /// Asks the user for an interactive primitive; None when no one can answer.
    pub ask: Option<Asker>,
    /// Where the file primitives may read and write.
    pub files: primitives::FileScope,
    /// Script results kept between runs (`performance.script_cache`).
    pub script_cache: Option<Arc<dyn ScriptMemo>>,
    /// Answers read from the user so far.
    pub user_inputs: std::sync::atomic::AtomicU64,
}

/// Compiles a dispatch target: `(the ensemble that dispatches, the target's name)`.
pub type Resolver =
    Arc<dyn Fn(&CompiledEnsemble, &str) -> Result<Arc<CompiledEnsemble>, String> + Send + Sync>;

/// Asks the user: `(agent, prompt)` -> their line, or None at end of input.
pub type Asker = Arc<dyn Fn(&str, &str) -> Option<String> + Send + Sync>;

/// A result from an earlier run that may stand in for a new call when its input is unchanged.
#[derive(Debug, Clone)]
pub struct Reusable {
    pub input_hash: String,
    pub response: Value,
    pub model_substituted: bool,
    pub agent_requests: Option<Value>,
}

/// A stable hash of everything that decides an agent's answer: what it runs on and what it is
/// given (FNV-1a, hex).
fn input_hash(agent: &Agent, work: &Work) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x100_0000_01b3);
    };
    match &agent.kind {
        Kind::Llm(l) => {
            feed(b"llm");
            feed(l.model.as_bytes());
            feed(l.provider.name().as_bytes());
            feed(l.system_prompt.as_bytes());
            feed(
                serde_json::to_string(&l.options)
                    .unwrap_or_default()
                    .as_bytes(),
            );
            feed(
                format!(
                    "{:?}{:?}{:?}{:?}",
                    l.temperature, l.max_tokens, l.format, l.think
                )
                .as_bytes(),
            );
        }
        Kind::Script {
            reference,
            parameters,
            ..
        } => {
            feed(b"script");
            feed(reference.as_bytes());
            feed(
                serde_json::to_string(parameters)
                    .unwrap_or_default()
                    .as_bytes(),
            );
        }
        other => feed(other.label().as_bytes()),
    }
    match work {
        Work::Text(t) => feed(t.as_bytes()),
        Work::Script(script::ScriptInput::Plain(t)) => feed(t.as_bytes()),
        Work::Script(script::ScriptInput::Schema { json, .. }) => feed(json.as_bytes()),
        Work::Child { input, child } => {
            feed(child.name.as_bytes());
            feed(input.as_bytes());
        }
    }
    format!("{h:016x}")
}

impl Engine {
    fn ms(&self) -> f64 {
        self.origin.elapsed().as_secs_f64() * 1000.0
    }

    fn emit(&self, e: Event) {
        match &e {
            Event::Ready { agent } => tracing::debug!(agent = agent.as_str(), "agent ready"),
            Event::Started { agent } => tracing::debug!(agent = agent.as_str(), "agent started"),
            _ => {}
        }
        if let Some(tx) = &self.events {
            let _ = tx.send(e);
        }
    }

    async fn global_permit(&self) -> Option<OwnedSemaphorePermit> {
        match &self.max_concurrent {
            Some(s) => s.clone().acquire_owned().await.ok(),
            None => None,
        }
    }

    fn provider(&self, kind: &ProviderKind, base_url: Option<&str>) -> Result<AnyProvider, String> {
        match kind {
            ProviderKind::Ollama => Ok(AnyProvider::Ollama({
                let host = crate::backend::hosts::ollama_host(base_url, Some(&self.ollama_host));
                let mut c = OllamaClient::new(self.http.clone(), &host);
                c.stream = self.stream;
                c.max_response_bytes = self.max_response_bytes;
                c
            })),
            ProviderKind::OpenaiCompatible => {
                let url = base_url
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{}/v1", self.ollama_host));
                let mut c = OpenAiClient::new(self.http.clone(), &url);
                c.max_response_bytes = self.max_response_bytes;
                Ok(AnyProvider::OpenAi(c))
            }
            ProviderKind::Cloud(p) | ProviderKind::Unknown(p) => Err(p.clone()),
        }
    }
}

/// The agent's timeout as a `Duration`. The compiler bounds timeouts (at most a week), so an
/// out-of-range value can only come from a caller that built an agent by hand; it fails the agent
/// instead of panicking.
fn agent_timeout(agent: &Agent) -> Result<Duration, String> {
    Duration::try_from_secs_f64(agent.timeout_seconds.max(0.001)).map_err(|_| {
        format!(
            "timeout_seconds {} of agent `{}` is out of range (at most {} seconds)",
            agent.timeout_seconds,
            agent.name,
            crate::load::spec::MAX_TIMEOUT_SECONDS
        )
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// What one node of the graph produced.
#[derive(Clone)]
struct NodeDone {
    main: Entry,
    /// Fan-out instance entries (empty when the agent was not expanded).
    instances: Vec<(String, Entry)>,
    usage: Vec<(String, AgentUsage)>,
    timeline: Vec<TimelineRow>,
    /// LLM and script results (and skipped agents), nested ones included, by display name.
    leaves: Vec<(String, Entry)>,
}

impl NodeDone {
    fn of(main: Entry) -> NodeDone {
        NodeDone {
            main,
            instances: vec![],
            usage: vec![],
            timeline: vec![],
            leaves: vec![],
        }
    }
}

/// Runs an ensemble to completion (or until cancelled).
pub fn run(
    engine: Arc<Engine>,
    ens: Arc<CompiledEnsemble>,
    input: String,
) -> Pin<Box<dyn Future<Output = RunResult> + Send>> {
    let chain = Arc::new(vec![ens.name.clone()]);
    run_graph(engine, ens, input, 0, String::new(), chain)
}

/// Where a run sits: its depth, the display prefix of its agents, and the ensembles from the
/// root to it (for the depth-limit error).
#[derive(Clone)]
struct Place {
    depth: u64,
    prefix: String,
    chain: Arc<Vec<String>>,
}

impl Place {
    /// The place of a child run started by agent `display` for ensemble `target`, or the depth
    /// error llm-orc gives, with the chain.
    fn child(&self, engine: &Engine, display: &str, target: &str) -> Result<Place, String> {
        let depth = self.depth + 1;
        let limit = engine.max_depth.min(crate::compile::MAX_ENSEMBLE_DEPTH);
        if depth > limit {
            return Err(format!(
                "Ensemble nesting depth limit exceeded: depth {depth} > limit {limit} ({} -> {target})",
                self.chain.join(" -> ")
            ));
        }
        let mut chain = (*self.chain).clone();
        chain.push(target.to_string());
        Ok(Place {
            depth,
            prefix: format!("{display}/"),
            chain: Arc::new(chain),
        })
    }
}

fn run_graph(
    engine: Arc<Engine>,
    ens: Arc<CompiledEnsemble>,
    input: String,
    depth: u64,
    prefix: String,
    chain: Arc<Vec<String>>,
) -> Pin<Box<dyn Future<Output = RunResult> + Send>> {
    let place = Place {
        depth,
        prefix,
        chain,
    };
    Box::pin(async move {
        let started_at = epoch();
        let n = ens.agents.len();
        // An agent waits for its dependencies and for the agents its guard reads.
        let mut wakes: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, after) in ens.after.iter().enumerate() {
            for &j in after {
                wakes[j].push(i);
            }
        }
        let mut remaining: Vec<usize> = (0..n)
            .map(|i| {
                ens.graph
                    .neighbors_directed(NodeIndex::new(i), Direction::Incoming)
                    .count()
                    + ens.after[i].len()
            })
            .collect();
        let mut done: Vec<Option<Arc<NodeDone>>> = vec![None; n];
        let mut running: HashMap<tokio::task::Id, usize> = HashMap::new();
        let mut set: JoinSet<(usize, NodeDone)> = JoinSet::new();
        let input = Arc::new(input);
        let mut cancel = engine.cancel.clone();
        let mut interrupted = *cancel.borrow();
        let mut cancel_open = true;

        let spawn = |i: usize,
                     done: &Vec<Option<Arc<NodeDone>>>,
                     set: &mut JoinSet<(usize, NodeDone)>,
                     running: &mut HashMap<tokio::task::Id, usize>| {
            let deps: Vec<(usize, Arc<NodeDone>)> = ens.deps[i]
                .iter()
                .filter_map(|&j| Some((j, done[j].clone()?)))
                .collect();
            let refs: Vec<(usize, Arc<NodeDone>)> = ens.refs[i]
                .iter()
                .filter_map(|&j| Some((j, done[j].clone()?)))
                .collect();
            let (engine, ens, input, place) =
                (engine.clone(), ens.clone(), input.clone(), place.clone());
            let h = set.spawn(async move {
                let out = run_node(&engine, &ens, i, &input, &deps, &refs, &place).await;
                (i, out)
            });
            running.insert(h.id(), i);
        };

        if !interrupted {
            let roots: Vec<usize> = (0..n).filter(|&i| remaining[i] == 0).collect();
            for i in roots {
                spawn(i, &done, &mut set, &mut running);
            }
        }
        while !set.is_empty() {
            tokio::select! {
                joined = set.join_next_with_id() => {
                    let Some(joined) = joined else { break };
                    let (i, node) = match joined {
                        Ok((id, v)) => { running.remove(&id); v }
                        Err(e) => {
                            let Some(i) = running.remove(&e.id()) else { continue };
                            let t = engine.ms();
                            let why = if e.is_cancelled() { "interrupted before it finished".to_string() } else { format!("agent task failed: {e}") };
                            (i, NodeDone::of(Entry::failed(why, ens.agents[i].kind.label(), Timing::instant(t, t))))
                        }
                    };
                    done[i] = Some(Arc::new(node));
                    let succs = ens.graph.neighbors_directed(NodeIndex::new(i), Direction::Outgoing).map(|s| s.index());
                    for j in succs.chain(wakes[i].iter().copied()) {
                        remaining[j] -= 1;
                        if remaining[j] == 0 && !interrupted {
                            spawn(j, &done, &mut set, &mut running);
                        }
                    }
                }
                changed = cancel.changed(), if !interrupted && cancel_open => {
                    match changed {
                        // Nobody can cancel any more: run to the end.
                        Err(_) => cancel_open = false,
                        Ok(()) => {
                            if *cancel.borrow() {
                                interrupted = true;
                                set.abort_all();
                            }
                        }
                    }
                }
            }
        }
        // Agents cut off by an interruption are recorded as failed, with what they were doing.
        if interrupted {
            let t = engine.ms();
            for (_, i) in running.drain() {
                if done[i].is_none() {
                    done[i] = Some(Arc::new(NodeDone::of(Entry::failed(
                        "interrupted before it finished".into(),
                        ens.agents[i].kind.label(),
                        Timing::instant(t, t),
                    ))));
                }
            }
        }
        assemble(&ens, (*input).clone(), done, started_at, interrupted)
    })
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
    let (deliverable, deliverable_nested) = match deliverable(ens, &done) {
        Some((i, d)) => (
            Some(d),
            done[i].as_ref().is_some_and(|n| n.main.holds_documents()),
        ),
        None => (None, false),
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
    let mut usage = Vec::new();
    let mut own_usage = Vec::new();
    let mut timeline = Vec::new();
    let mut all_entries = Vec::new();
    for (i, node) in done.iter_mut().enumerate() {
        let Some(node) = node else { continue };
        let own = matches!(ens.agents[i].kind, Kind::Llm(_));
        own_usage.extend(std::iter::repeat_n(own, node.usage.len()));
        usage.append(&mut node.usage);
        timeline.append(&mut node.timeline);
        all_entries.append(&mut node.leaves);
    }
    timeline.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    let mut entries = Vec::new();
    let skipped =
        |d: &Option<NodeDone>| d.as_ref().is_some_and(|n| n.main.status == Status::Skipped);
    for level in &ens.levels {
        let mut instances = Vec::new();
        let mut gathered = Vec::new();
        // llm-orc writes a phase's skipped entries before it runs the phase.
        for &i in level {
            if skipped(&done[i])
                && let Some(node) = done[i].take()
            {
                entries.push((ens.agents[i].name.clone(), node.main));
            }
        }
        for &i in level {
            let Some(node) = done[i].take() else { continue };
            let name = ens.agents[i].name.clone();
            if node.instances.is_empty() {
                entries.push((name, node.main));
            } else {
                instances.extend(node.instances);
                gathered.push((name, node.main));
            }
        }
        entries.extend(instances);
        entries.extend(gathered);
    }
    RunResult {
        ensemble: ens.name.clone(),
        input,
        entries,
        agents_used: ens.agents.len(),
        started_at,
        completed_at: epoch(),
        interrupted,
        deliverable,
        deliverable_nested,
        execution_order,
        usage,
        own_usage,
        timeline,
        all_entries,
        resumed_from: None,
        interactive: is_interactive(ens),
        user_inputs: 0,
        validation: None,
    }
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

/// The final answer: the last terminal agent (in declaration order) that succeeded with text;
/// else the last agent that did. Returns that agent's index and the text.
fn deliverable(ens: &CompiledEnsemble, done: &[Option<Arc<NodeDone>>]) -> Option<(usize, String)> {
    let text_of = |i: usize| {
        done[i]
            .as_ref()
            .and_then(|d| match (&d.main.status, &d.main.response) {
                (Status::Success, Value::String(s)) if !s.is_empty() => Some((i, s.clone())),
                _ => None,
            })
    };
    let n = ens.agents.len();
    (0..n)
        .rev()
        .filter(|&i| ens.terminal[i])
        .find_map(text_of)
        .or_else(|| (0..n).rev().find_map(text_of))
}

/// Runs one node: the agent, or its fan-out instances and the gathered entry.
async fn run_node(
    engine: &Arc<Engine>,
    ens: &CompiledEnsemble,
    i: usize,
    base: &str,
    deps: &[(usize, Arc<NodeDone>)],
    refs: &[(usize, Arc<NodeDone>)],
    place: &Place,
) -> NodeDone {
    let agent = &ens.agents[i];
    let prefix = place.prefix.as_str();
    let display = format!("{prefix}{}", agent.name);
    let ready = engine.ms();
    let response_of = |name: &str| {
        refs.iter()
            .find(|(j, _)| ens.agents[*j].name == name)
            .map(|(_, d)| &d.main.response)
    };

    // Guards: an agent whose dependencies were all skipped, or whose `when:` is false, is
    // skipped (and so are its dependents, in turn).
    let skip = if !deps.is_empty() && deps.iter().all(|(_, d)| d.main.status == Status::Skipped) {
        Some("every dependency was skipped".to_string())
    } else {
        agent.when.as_ref().and_then(|w| {
            let resolve = |t: &str| crate::compile::predicate::resolve_agent_ref(t, response_of);
            (!crate::compile::predicate::evaluate(w, resolve)).then(|| {
                let token = crate::compile::predicate::resolved_token(w);
                format!(
                    "`when: {w}` is false ({token} is {})",
                    crate::pyfmt::repr(&resolve(token))
                )
            })
        })
    };
    engine.emit(Event::Ready {
        agent: display.clone(),
    });
    if let Some(why) = skip {
        let e = Entry::skipped(why, agent.kind.label(), Timing::instant(ready, ready));
        let mut node = finish_node(engine, &display, e.clone(), vec![], vec![]);
        node.leaves = vec![(display, e)];
        return node;
    }

    // input_key narrows the first dependency's response for this agent only.
    let mut first_override: Option<Entry> = None;
    if let (Some(key), Some((j, first))) = (&agent.input_key, deps.first())
        && first.main.is_success()
    {
        match prompt::select_key(&ens.agents[*j].name, &first.main.response, key) {
            Ok(v) => {
                let mut e = first.main.clone();
                e.response = v;
                first_override = Some(e);
            }
            Err(msg) => {
                let t = Timing {
                    ready_ms: ready,
                    start_ms: ready,
                    end_ms: engine.ms(),
                    attempts: 0,
                };
                return finish_node(
                    engine,
                    &display,
                    Entry::failed(msg, agent.kind.label(), t),
                    vec![],
                    vec![],
                );
            }
        }
    }
    let dep_list: Vec<Dep<'_>> = deps
        .iter()
        .enumerate()
        .map(|(k, (j, d))| Dep {
            name: &ens.agents[*j].name,
            entry: if k == 0 {
                first_override.as_ref().unwrap_or(&d.main)
            } else {
                &d.main
            },
            agent: &ens.agents[*j],
        })
        .collect();

    // Dispatch: the target is chosen now, from the upstream results.
    let dispatch_child = match &agent.kind {
        Kind::Dispatch { target, child } => {
            match resolve_dispatch(
                engine,
                ens,
                &agent.name,
                target,
                child.as_ref(),
                response_of,
            ) {
                Ok(c) => Some(c),
                Err(msg) => {
                    let t = Timing::instant(ready, engine.ms());
                    return finish_node(
                        engine,
                        &display,
                        Entry::failed(msg, "dispatch", t),
                        vec![],
                        vec![],
                    );
                }
            }
        }
        _ => None,
    };

    // Fan-out: map over the first dependency's array.
    if agent.fan_out
        && let Some(first) = dep_list.first()
        && first.entry.is_success()
        && let Some(items) = prompt::fan_out_items(&first.entry.response, None)
    {
        let n = items.len();
        if n as u64 > engine.max_fan_out {
            let msg = format!(
                "fan_out over {n} items from `{}` exceeds the limit of {} instances; raise performance.execution.max_fan_out in config.yaml or split the work",
                first.name, engine.max_fan_out
            );
            tracing::warn!(agent = %agent.name, "{msg}");
            let t = Timing::instant(ready, engine.ms());
            return finish_node(
                engine,
                &display,
                Entry::failed(msg, agent.kind.label(), t),
                vec![],
                vec![],
            );
        }
        let who = display.as_str();
        tracing::debug!(agent = who, instances = n, "fan-out expanded");
        let dispatch_child = &dispatch_child;
        let futs = items.iter().enumerate().map(|(k, chunk)| {
            let inst = format!("{}[{k}]", agent.name);
            let inst_display = format!("{prefix}{inst}");
            async move {
                engine.emit(Event::Ready {
                    agent: inst_display.clone(),
                });
                let ready = engine.ms();
                let work = match (&agent.kind, dispatch_child) {
                    (Kind::Script { .. }, _) => Work::Script(script::ScriptInput::Plain(
                        prompt::fan_out_script_input(&agent.name, k, n, base, chunk),
                    )),
                    (_, Some(child)) => Work::Child {
                        input: prompt::fan_out_llm_input(k, n, base, chunk),
                        child: child.clone(),
                    },
                    _ => Work::Text(prompt::fan_out_llm_input(k, n, base, chunk)),
                };
                let out = run_unit(engine, agent, &inst, &inst_display, work, ready, place).await;
                trace_finished(&inst_display, &out.entry);
                let tokens = out.usage.first().and_then(|(_, u)| u.total_tokens());
                engine.emit(Event::Finished {
                    agent: inst_display.clone(),
                    status: out.entry.status,
                    tokens,
                });
                (inst, out)
            }
        });
        let results = futures::future::join_all(futs).await;
        let mut instances = Vec::with_capacity(n);
        let mut statuses = Vec::with_capacity(n);
        let mut responses = Vec::with_capacity(n);
        let mut usage = Vec::new();
        let mut timeline = Vec::new();
        let mut leaves = Vec::new();
        // What dependents see of each instance: a nested instance's final answers (as for a
        // nested agent), else its response; a failed instance is `None`.
        let mut handed: Vec<String> = Vec::with_capacity(n);
        let nested_instances = matches!(agent.kind, Kind::Ensemble { .. } | Kind::Dispatch { .. });
        let (mut first_start, mut last_end) = (f64::MAX, 0.0f64);
        for (k, (inst, out)) in results.into_iter().enumerate() {
            let UnitOut {
                entry,
                usage: u,
                rows,
                leaves: l,
            } = out;
            leaves.extend(l);
            let response = if entry.is_success() {
                entry.response.clone()
            } else {
                Value::Null
            };
            if nested_instances {
                let text = match (&entry.handover, entry.is_success()) {
                    (Some(h), true) => h.clone(),
                    _ => crate::pyfmt::str_of(&response),
                };
                handed.push(format!("[{k}]:\n{text}"));
            }
            responses.push(response);
            statuses.push(InstanceStatus {
                index: k,
                status: entry.status,
                error: entry.error.clone(),
            });
            first_start = first_start.min(entry.timing.start_ms);
            last_end = last_end.max(entry.timing.end_ms);
            usage.extend(u);
            timeline.extend(rows);
            instances.push((inst, entry));
        }
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
        let mut main = Entry::success(
            Value::Array(responses),
            agent.kind.label(),
            Timing {
                ready_ms: ready,
                start_ms: first_start.min(last_end),
                end_ms: last_end,
                attempts: 0,
            },
        );
        main.status = status;
        main.instances = Some(statuses);
        if nested_instances {
            main.handover = Some(handed.join("\n\n"));
        }
        trace_finished(&display, &main);
        if status != Status::Success {
            main.error = None;
        }
        engine.emit(Event::Finished {
            agent: display.clone(),
            status,
            tokens: None,
        });
        return NodeDone {
            main,
            instances,
            usage,
            timeline,
            leaves,
        };
    }

    let work = match &agent.kind {
        Kind::Script { .. } => {
            if dep_list.is_empty() {
                Work::Script(script::ScriptInput::Plain(base.to_string()))
            } else {
                Work::Script(script::ScriptInput::Schema {
                    json: prompt::script_input(&agent.name, base, &dep_list),
                    input_data: base.to_string(),
                })
            }
        }
        Kind::Ensemble { .. } => Work::Text(prompt::nested_input(agent, base, &dep_list)),
        Kind::Dispatch { .. } => {
            // The child gets the selected value (input_key), else the plain input: never T1.
            let input = match (&agent.input_key, &first_override) {
                (Some(_), Some(e)) => crate::pyfmt::str_of(&e.response),
                _ => base.to_string(),
            };
            match dispatch_child {
                Some(child) => Work::Child { input, child },
                None => Work::Text(input),
            }
        }
        _ => Work::Text(prompt::llm_input(agent, base, &dep_list)),
    };
    let out = run_unit(engine, agent, &agent.name, &display, work, ready, place).await;
    let mut node = finish_node(engine, &display, out.entry, out.usage, out.rows);
    node.leaves = out.leaves;
    node
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

fn finish_node(
    engine: &Engine,
    display: &str,
    main: Entry,
    usage: Vec<(String, AgentUsage)>,
    timeline: Vec<TimelineRow>,
) -> NodeDone {
    let tokens = usage.first().and_then(|(_, u)| u.total_tokens());
    trace_finished(display, &main);
    engine.emit(Event::Finished {
        agent: display.to_string(),
        status: main.status,
        tokens,
    });
    NodeDone {
        main,
        instances: vec![],
        usage,
        timeline,
        leaves: vec![],
    }
}

/// What one unit of work produced: its entry, the usage of LLM calls made for it (its own, or
/// a nested run's, already named), and timeline rows.
struct UnitOut {
    entry: Entry,
    usage: Vec<(String, AgentUsage)>,
    rows: Vec<TimelineRow>,
    /// The LLM and script results it produced, by display name (a nested run's, for ensembles).
    leaves: Vec<(String, Entry)>,
}

/// The input of one unit of work.
enum Work {
    Text(String),
    Script(script::ScriptInput),
    /// A dispatch agent's input and the ensemble it picked.
    Child {
        input: String,
        child: Arc<CompiledEnsemble>,
    },
}

/// The ensemble a dispatch agent runs: its literal target (compiled with the ensemble), or the
/// name its `${agent.field}` reference resolves to, compiled now.
fn resolve_dispatch<'a>(
    engine: &Engine,
    ens: &CompiledEnsemble,
    agent: &str,
    expr: &str,
    literal: Option<&Arc<CompiledEnsemble>>,
    response_of: impl Fn(&str) -> Option<&'a Value>,
) -> Result<Arc<CompiledEnsemble>, String> {
    if let Some(c) = literal {
        return Ok(c.clone());
    }
    let quoted = crate::pyfmt::repr(&Value::String(expr.to_string()));
    let name = match crate::compile::predicate::resolve_agent_ref(expr, response_of) {
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
    match &engine.resolver {
        Some(r) => r(ens, &name),
        None => Err(format!(
            "Ensemble '{name}' not found (this run cannot load ensembles at run time)"
        )),
    }
}

/// Runs one agent (or one fan-out instance) given its input. Returns its entry, the usage of
/// its own LLM call, and timeline rows (its own, and a nested run's).
#[allow(clippy::too_many_arguments)]
async fn run_unit(
    engine: &Arc<Engine>,
    agent: &Agent,
    name: &str,
    display: &str,
    work: Work,
    ready: f64,
    place: &Place,
) -> UnitOut {
    let kind = agent.kind.label();
    let prefix = place.prefix.as_str();
    let row = |e: &Entry, model: Option<String>| TimelineRow {
        agent: display.to_string(),
        kind,
        model,
        status: e.status,
        depends_on: agent
            .depends_on
            .iter()
            .map(|d| format!("{prefix}{d}"))
            .collect(),
        ready_ms: round3(e.timing.ready_ms),
        start_ms: round3(e.timing.start_ms),
        end_ms: round3(e.timing.end_ms),
        queue_ms: round3(e.timing.queue_ms()),
        service_ms: round3(e.timing.service_ms()),
    };
    let hash =
        matches!(agent.kind, Kind::Llm(_) | Kind::Script { .. }).then(|| input_hash(agent, &work));
    if let Some(h) = &hash
        && let Some(prev) = engine.reuse.get(display)
        && &prev.input_hash == h
    {
        let t = engine.ms();
        let mut e = Entry::success(prev.response.clone(), kind, Timing::instant(ready, t));
        e.model_substituted = prev.model_substituted;
        e.agent_requests = prev.agent_requests.clone();
        e.input_hash = hash;
        e.reused = true;
        let r = row(&e, None);
        return UnitOut {
            leaves: vec![(display.to_string(), e.clone())],
            entry: e,
            usage: vec![],
            rows: vec![r],
        };
    }
    let one = |mut entry: Entry, model: Option<String>| {
        entry.input_hash = hash.clone();
        let r = row(&entry, model);
        let leaves = if hash.is_some() {
            vec![(display.to_string(), entry.clone())]
        } else {
            vec![]
        };
        UnitOut {
            leaves,
            entry,
            usage: vec![],
            rows: vec![r],
        }
    };
    match (&agent.kind, work) {
        (Kind::Llm(llm), Work::Text(user)) => {
            let timeout = match agent_timeout(agent) {
                Ok(t) => t,
                Err(msg) => {
                    let t = Timing::instant(ready, engine.ms());
                    return one(Entry::failed(msg, kind, t), Some(llm.model.clone()));
                }
            };
            let (mut entry, usage) = call_llm(engine, llm, timeout, display, user, ready).await;
            if entry.model_substituted && !llm.provider.runnable() {
                let used = usage.as_ref().and_then(|u| u.profile.as_deref());
                let why = format!(
                    "provider `{}` of profile `{}` cannot run in orc; ran on fallback profile `{}`",
                    llm.provider.name(),
                    llm.profile.as_deref().unwrap_or("(none)"),
                    used.unwrap_or("(none)")
                );
                let who: &str = display;
                tracing::info!(agent = who, "{why}");
                entry.note = Some(why);
            }
            let model = usage
                .as_ref()
                .map(|u| u.model.clone())
                .unwrap_or_else(|| llm.model.clone());
            let mut out = one(entry, Some(model));
            out.usage = usage
                .map(|u| (display.to_string(), u))
                .into_iter()
                .collect();
            out
        }
        (
            Kind::Script {
                target,
                parameters,
                launcher,
                ..
            },
            Work::Script(input),
        ) => {
            let timeout = match agent_timeout(agent) {
                Ok(t) => t,
                Err(msg) => {
                    return one(
                        Entry::failed(msg, kind, Timing::instant(ready, engine.ms())),
                        None,
                    );
                }
            };
            let _permit = engine.global_permit().await;
            let start = engine.ms();
            engine.emit(Event::Started {
                agent: display.to_string(),
            });
            let mut note = None;
            let outcome = match target {
                ScriptTarget::Primitive(p) => {
                    run_primitive(engine, p, parameters, input, display).await
                }
                _ => {
                    let cached = engine.script_cache.as_ref().and_then(|c| {
                        let key = hash::script_key(target, parameters, &input)?;
                        Some((c, key))
                    });
                    match cached {
                        Some((c, key)) => match c.get(&key) {
                            Some(v) => {
                                note = Some("script result from the cache".to_string());
                                Ok(v)
                            }
                            None => {
                                let r =
                                    script::run(target, launcher, parameters, input, timeout).await;
                                if let Ok(v) = &r {
                                    c.put(&key, v);
                                }
                                r
                            }
                        },
                        None => script::run(target, launcher, parameters, input, timeout).await,
                    }
                }
            };
            let timing = Timing {
                ready_ms: ready,
                start_ms: start,
                end_ms: engine.ms(),
                attempts: 1,
            };
            let mut entry = match outcome {
                Ok(response) => {
                    let mut e = Entry::success(response, kind, timing);
                    e.agent_requests = script::agent_requests(&e.response);
                    e
                }
                Err(msg) => Entry::failed(format!("script `{name}` failed: {msg}"), kind, timing),
            };
            entry.note = note;
            one(entry, None)
        }
        (Kind::Ensemble { child, reference }, Work::Text(child_input)) => {
            let out = run_child(
                engine,
                child,
                reference,
                child_input,
                agent,
                display,
                ready,
                place,
            )
            .await;
            out.unit(child, |e| row(e, None))
        }
        (Kind::Dispatch { .. }, Work::Child { input, child }) => {
            let out = run_child(
                engine,
                &child,
                &child.name,
                input,
                agent,
                display,
                ready,
                place,
            )
            .await;
            out.unit(&child, |e| row(e, None))
        }
        (
            Kind::Loop {
                body,
                until,
                max_iterations,
                carry,
                child,
            },
            Work::Text(input),
        ) => {
            let start = engine.ms();
            let inner = match place.child(engine, display, body) {
                Ok(p) => p,
                Err(msg) => {
                    return one(
                        Entry::failed(msg, kind, Timing::instant(ready, start)),
                        None,
                    );
                }
            };
            let timeout = match agent_timeout(agent) {
                Ok(t) => t,
                Err(msg) => {
                    return one(
                        Entry::failed(msg, kind, Timing::instant(ready, start)),
                        None,
                    );
                }
            };
            engine.emit(Event::Started {
                agent: display.to_string(),
            });
            let spec = LoopRun {
                child: child.clone(),
                until,
                carry: carry.as_deref(),
                max_iterations: *max_iterations,
                display,
                inner,
            };
            let mut acc = Accumulated::default();
            let outcome =
                tokio::time::timeout(timeout, run_loop(engine, &spec, input, &mut acc)).await;
            let timing = Timing {
                ready_ms: ready,
                start_ms: start,
                end_ms: engine.ms(),
                attempts: 1,
            };
            let e = match outcome {
                Err(_) => Entry::failed(
                    format!(
                        "Agent execution timed out after {} seconds (in iteration {} of `{body}`)",
                        script::fmt_secs(timeout),
                        acc.iterations + 1
                    ),
                    kind,
                    timing,
                ),
                Ok(Err(msg)) => Entry::failed(msg, kind, timing),
                Ok(Ok((output, iterations, terminated))) => Entry::success(
                    Value::String(crate::pyfmt::json_dumps(&serde_json::json!({
                        "output": output,
                        "iterations": iterations,
                        "terminated": terminated,
                    }))),
                    kind,
                    timing,
                ),
            };
            let mut rows = acc.rows;
            rows.push(row(&e, None));
            UnitOut {
                entry: e,
                usage: acc.usage,
                rows,
                leaves: acc.leaves,
            }
        }
        (_, _) => {
            let t = engine.ms();
            one(
                Entry::failed(
                    "internal error: input does not match the agent kind".into(),
                    kind,
                    Timing::instant(ready, t),
                ),
                None,
            )
        }
    }
}

/// Runs a built-in primitive off the async threads (it may read files or wait for the user).
async fn run_primitive(
    engine: &Arc<Engine>,
    name: &str,
    parameters: &serde_json::Map<String, Value>,
    input: script::ScriptInput,
    display: &str,
) -> Result<Value, String> {
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
        Some(msg) => Err(msg),
        None => Ok(out.response),
    }
}

/// What a child run left behind.
struct ChildOut {
    entry: Entry,
    usage: Vec<(String, AgentUsage)>,
    rows: Vec<TimelineRow>,
    leaves: Vec<(String, Entry)>,
    result: Option<RunResult>,
}

impl ChildOut {
    /// The agent's unit of work: dependents get the child's final answers (the hand-over), and
    /// the timeline gets the agent's own row after the child's.
    fn unit(self, child: &CompiledEnsemble, row: impl Fn(&Entry) -> TimelineRow) -> UnitOut {
        let (mut entry, mut rows) = (self.entry, self.rows);
        if let Some(result) = self.result {
            entry.handover = Some(prompt::handover(child, &result.entries));
        }
        rows.push(row(&entry));
        UnitOut {
            entry,
            usage: self.usage,
            rows,
            leaves: self.leaves,
        }
    }
}

/// Runs a nested or dispatched ensemble on the shared engine (the same limits, client and
/// cancellation), bounded by the agent's timeout. The response is the child's result as JSON.
#[allow(clippy::too_many_arguments)]
async fn run_child(
    engine: &Arc<Engine>,
    child: &Arc<CompiledEnsemble>,
    reference: &str,
    input: String,
    agent: &Agent,
    display: &str,
    ready: f64,
    place: &Place,
) -> ChildOut {
    let kind = agent.kind.label();
    let start = engine.ms();
    let failed = |msg: String, timing: Timing| ChildOut {
        entry: Entry::failed(msg, kind, timing),
        usage: vec![],
        rows: vec![],
        leaves: vec![],
        result: None,
    };
    let inner = match place.child(engine, display, reference) {
        Ok(p) => p,
        Err(msg) => return failed(msg, Timing::instant(ready, start)),
    };
    let timeout = match agent_timeout(agent) {
        Ok(t) => t,
        Err(msg) => return failed(msg, Timing::instant(ready, start)),
    };
    engine.emit(Event::Started {
        agent: display.to_string(),
    });
    let run = run_graph(
        engine.clone(),
        child.clone(),
        input,
        inner.depth,
        inner.prefix,
        inner.chain,
    );
    let outcome = tokio::time::timeout(timeout, run).await;
    let timing = Timing {
        ready_ms: ready,
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
            let doc = crate::pyfmt::json_dumps(&result.to_embedded_json());
            ChildOut {
                entry: Entry::success(Value::String(doc), kind, timing),
                usage: std::mem::take(&mut result.usage),
                rows: std::mem::take(&mut result.timeline),
                leaves: std::mem::take(&mut result.all_entries),
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
    usage: Vec<(String, AgentUsage)>,
    rows: Vec<TimelineRow>,
    leaves: Vec<(String, Entry)>,
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
    let mut current = input;
    let mut output = serde_json::json!({});
    for k in 1..=spec.max_iterations {
        let result = run_graph(
            engine.clone(),
            spec.child.clone(),
            current.clone(),
            spec.inner.depth,
            format!("{}#{k}/", spec.display),
            spec.inner.chain.clone(),
        )
        .await;
        acc.iterations = k;
        acc.usage.extend(result.usage);
        acc.rows.extend(result.timeline);
        acc.leaves.extend(result.all_entries);
        if result.interrupted {
            return Err(format!("interrupted in iteration {k}"));
        }
        output = loop_output(result.deliverable.as_deref());
        if crate::compile::predicate::evaluate(spec.until, |t| {
            crate::compile::predicate::resolve_output_ref(t, &output)
        }) {
            return Ok((output, k, "until"));
        }
        if let Some(c) = spec.carry {
            match crate::compile::predicate::resolve_output_ref(c, &output) {
                Value::Null => {}
                Value::String(s) => current = s,
                other => current = crate::pyfmt::json_dumps(&other),
            }
        }
    }
    Ok((output, spec.max_iterations, "exhausted"))
}

/// Streamed-chunk progress for one agent.
struct Progress<'a> {
    engine: &'a Engine,
    agent: &'a str,
}

impl TokenSink for Progress<'_> {
    fn tokens(&self, chunks: u64) {
        if chunks % 8 == 1 {
            self.engine.emit(Event::Tokens {
                agent: self.agent.to_string(),
                chunks,
            });
        }
    }
}

/// One model to try: the agent's own, or a fallback profile's.
struct Target<'a> {
    profile: Option<&'a str>,
    model: &'a str,
    provider: &'a ProviderKind,
    base_url: Option<&'a str>,
    temperature: Option<f64>,
    max_tokens: Option<u64>,
    options: &'a serde_json::Map<String, Value>,
    cost_per_token: Option<f64>,
}

enum CallError {
    Timeout(String),
    Provider(ProviderError),
}

/// Calls the agent's model; on failure (not a timeout) tries each fallback profile in turn.
async fn call_llm(
    engine: &Engine,
    llm: &LlmAgent,
    timeout: Duration,
    display: &str,
    user: String,
    ready: f64,
) -> (Entry, Option<AgentUsage>) {
    let mut targets = vec![Target {
        profile: llm.profile.as_deref(),
        model: &llm.model,
        provider: &llm.provider,
        base_url: llm.base_url.as_deref(),
        temperature: llm.temperature,
        max_tokens: llm.max_tokens,
        options: &llm.options,
        cost_per_token: llm.cost_per_token,
    }];
    targets.extend(llm.fallbacks.iter().map(|f| Target {
        profile: Some(&f.profile),
        model: &f.model,
        provider: &f.provider,
        base_url: f.base_url.as_deref(),
        temperature: f.temperature,
        max_tokens: f.max_tokens,
        options: &f.options,
        cost_per_token: f.cost_per_token,
    }));
    let _global = engine.global_permit().await;
    let agent_name = display;
    let mut errors: Vec<String> = Vec::new();
    let mut timing = Timing::instant(ready, ready);
    for (k, t) in targets.iter().enumerate() {
        let provider = match engine.provider(t.provider, t.base_url) {
            Ok(p) => p,
            Err(cloud) => {
                errors.push(
                    ProviderError::NotRunnable {
                        provider: cloud,
                        model: t.model.to_string(),
                    }
                    .to_string(),
                );
                continue;
            }
        };
        let req = ChatRequest {
            model: t.model.to_string(),
            system: llm.system_prompt.clone(),
            user: user.clone(),
            temperature: t.temperature,
            max_tokens: t.max_tokens,
            options: t.options.clone(),
            format: llm.format.clone(),
            think: llm.think.clone(),
            keep_alive: llm.keep_alive.clone(),
        };
        if k > 0 {
            tracing::warn!(
                agent = agent_name,
                profile = t.profile.unwrap_or(""),
                model = t.model,
                host = provider.host(),
                after = errors.last().map(String::as_str).unwrap_or(""),
                "falling back to another model profile"
            );
        }
        match attempt(engine, &provider, &req, display, timeout, &mut timing).await {
            Ok((resp, service_ms)) => {
                timing.end_ms = engine.ms();
                let usage = AgentUsage {
                    model: t.model.to_string(),
                    profile: t.profile.map(str::to_string),
                    provider: t.provider.name().to_string(),
                    host: provider.host().to_string(),
                    usage: resp.usage,
                    done_reason: resp.done_reason,
                    cost_per_token: t.cost_per_token,
                    service_ms,
                };
                let mut e = Entry::success(Value::String(resp.content), "llm", timing);
                e.model_substituted = k > 0;
                return (e, Some(usage));
            }
            Err(CallError::Timeout(msg)) => {
                timing.end_ms = engine.ms();
                return (Entry::failed(msg, "llm", timing), None);
            }
            Err(CallError::Provider(e)) => errors.push(e.to_string()),
        }
    }
    timing.end_ms = engine.ms();
    let msg = match errors.len() {
        0 => "no model to call".to_string(),
        1 => errors.remove(0),
        _ => format!(
            "{} (fallbacks failed too: {})",
            errors[0],
            errors[1..].join("; ")
        ),
    };
    (Entry::failed(msg, "llm", timing), None)
}

/// Sends the request, retrying connection errors, 503 and 5xx with backoff. The timeout counts
/// from when the request is sent, not while it waits for a slot.
async fn attempt(
    engine: &Engine,
    provider: &AnyProvider,
    req: &ChatRequest,
    display: &str,
    timeout: Duration,
    timing: &mut Timing,
) -> Result<(crate::backend::ChatResponse, f64), CallError> {
    let sink = Progress {
        engine,
        agent: display,
    };
    let agent_name = display;
    let mut attempt_no = 0;
    loop {
        attempt_no += 1;
        let asked = engine.ms();
        let permit = engine.limits.acquire(provider.host(), &req.model).await;
        let sent = engine.ms();
        tracing::debug!(
            agent = agent_name,
            host = provider.host(),
            model = %req.model,
            waited_ms = (sent - asked).round() as u64,
            "got a slot"
        );
        tracing::debug!(
            agent = agent_name,
            host = provider.host(),
            model = %req.model,
            attempt = attempt_no,
            prompt_bytes = req.system.len() + req.user.len(),
            "sending request"
        );
        tracing::trace!(agent = agent_name, system = %req.system, user = %req.user, "prompt");
        if timing.attempts == 0 {
            timing.start_ms = sent;
            engine.emit(Event::Started {
                agent: display.to_string(),
            });
        }
        timing.attempts += 1;
        let agent: &str = display;
        tracing::info!(
            agent,
            model = %req.model,
            host = provider.host(),
            attempt = attempt_no,
            "request sent"
        );
        // Boxed so that the (large) request future exists only once a slot is held: thousands of
        // agents waiting for slots then cost little memory.
        let outcome = tokio::time::timeout(timeout, Box::pin(provider.chat(req, &sink))).await;
        drop(permit);
        match outcome {
            Err(_) => {
                tracing::warn!(
                    agent = agent_name,
                    host = provider.host(),
                    model = %req.model,
                    timeout_s = timeout.as_secs_f64(),
                    "request timed out"
                );
                return Err(CallError::Timeout(format!(
                    "Agent execution timed out after {} seconds waiting for `{}` on {}",
                    script::fmt_secs(timeout),
                    req.model,
                    provider.host()
                )));
            }
            Ok(Ok(resp)) => {
                tracing::debug!(
                    agent = agent_name,
                    host = provider.host(),
                    model = %req.model,
                    ms = (engine.ms() - sent).round() as u64,
                    input_tokens = resp.usage.input_tokens,
                    output_tokens = resp.usage.output_tokens,
                    "response"
                );
                return Ok((resp, engine.ms() - sent));
            }
            Ok(Err(e)) if e.retryable() && attempt_no < engine.retry.max_attempts => {
                let backoff = engine.retry.backoff(attempt_no);
                tracing::warn!(
                    agent = agent_name,
                    host = provider.host(),
                    model = %req.model,
                    attempt = attempt_no,
                    of = engine.retry.max_attempts,
                    cause = %e,
                    backoff_ms = backoff.as_millis() as u64,
                    "request failed; retrying"
                );
                engine.emit(Event::Retrying {
                    agent: display.to_string(),
                    attempt: attempt_no,
                    error: e.to_string(),
                });
                let mut cancel = engine.cancel.clone();
                let cancelled = async move {
                    while cancel.changed().await.is_ok() {
                        if *cancel.borrow() {
                            return;
                        }
                    }
                    std::future::pending::<()>().await;
                };
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = cancelled => return Err(CallError::Provider(e)),
                }
            }
            Ok(Err(e)) => {
                tracing::debug!(
                    agent = agent_name,
                    host = provider.host(),
                    model = %req.model,
                    attempt = attempt_no,
                    cause = %e,
                    "request failed"
                );
                let e = if attempt_no > 1 {
                    match e {
                        ProviderError::Status {
                            host,
                            model,
                            status,
                            message,
                        } => ProviderError::Status {
                            host,
                            model,
                            status,
                            message: format!("{message} (after {attempt_no} attempts)"),
                        },
                        other => other,
                    }
                } else {
                    e
                };
                return Err(CallError::Provider(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use crate::load::project::Env;
    use crate::service::{InvokeOptions, Service};
    use crate::testkit::sim::{SimConfig, Simulator};

    /// A writer into a shared buffer, for capturing log lines.
    #[derive(Clone)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The scheduler says, at debug level, when each agent becomes ready, starts and finishes
    /// (status and milliseconds), why one was skipped, and how many instances a fan-out made.
    #[test]
    fn the_scheduler_traces_each_agent() {
        let buf = Captured(Arc::new(Mutex::new(Vec::new())));
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .finish();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let local = dir.path().join(".llm-orc");
        std::fs::create_dir_all(local.join("ensembles")).expect("mkdir");
        tracing::subscriber::with_default(subscriber, || {
            rt.block_on(async {
                let sim = Simulator::start(SimConfig::default(), 0)
                    .await
                    .expect("sim");
                std::fs::write(
                    local.join("config.yaml"),
                    crate::testkit::synth::config(&sim.url(), 4),
                )
                .expect("write");
                std::fs::write(
                    local.join("ensembles/e.yaml"),
                    "name: e\ndescription: d\nagents:\n  - name: plan\n    model_profile: micro\n    system_prompt: '[[fake:json_array=3]]'\n  - name: work\n    model_profile: micro\n    depends_on: [plan]\n    fan_out: true\n  - name: never\n    model_profile: micro\n    depends_on: [plan]\n    when: '${plan.missing}'\n",
                )
                .expect("write");
                let svc = Service::open(dir.path(), None, &Env::default());
                let (ens, _) = svc.compile("e").expect("compile");
                let (_tx, rx) = tokio::sync::watch::channel(false);
                let mut opts = InvokeOptions::new(rx);
                opts.write_artifact = false;
                let (r, _, _) = svc.run_compiled(ens, "", "x".into(), opts).await;
                assert!(!r.interrupted);
            });
        });
        let log = String::from_utf8_lossy(
            &buf.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned();
        let has = |needle: &str| log.lines().any(|l| l.contains(needle));
        for agent in ["plan", "work", "never", "work[0]", "work[2]"] {
            assert!(
                has(&format!("agent ready agent=\"{agent}\"")),
                "{agent}: {log}"
            );
        }
        assert!(has("agent started agent=\"plan\""), "{log}");
        assert!(has("agent started agent=\"work[1]\""), "{log}");
        assert!(
            log.lines()
                .any(|l| l.contains("agent finished agent=\"plan\" status=\"succeeded\" ms=")),
            "{log}"
        );
        assert!(
            has("agent finished agent=\"work\" status=\"succeeded\" ms="),
            "{log}"
        );
        assert!(has("fan-out expanded agent=\"work\" instances=3"), "{log}");
        assert!(
            has("agent skipped agent=\"never\" reason=\"`when: ${plan.missing}` is false"),
            "{log}"
        );
    }
}
