//! An Ollama simulator for tests, benches and side-by-side runs.
//!
//! Speaks Ollama's native API (`/api/chat`, `/api/generate`, `/api/tags`, `/api/show`,
//! `/api/version`, `/api/ps`) and the OpenAI-compatible one (`/v1/chat/completions`,
//! `/v1/models`, and llama-server's `/models` listing), streaming and not, with Ollama's field names. Latency: time to first token plus
//! a time per token; per-model parallel slots with a FIFO queue (as `OLLAMA_NUM_PARALLEL`);
//! deterministic text; token counts from the prompt's length. Faults are injected by directives
//! in the prompt (so any client, in any process, can ask for them) or programmatically:
//!
//! - `[[fake:json_array=N]]` reply with a JSON array of N strings; `[[fake:tokens=N]]` reply length
//!   (the same directives as the neutral reference server in `../shared/peer`);
//! - `[[sim:status=CODE]]`, `[[sim:status=CODE*K]]` answer CODE (the first K times for this prompt);
//! - `[[sim:reset]]` drop the connection mid-body; `[[sim:slow=MS]]` delay the headers;
//! - `[[sim:malformed]]` a body that is not JSON; `[[sim:truncate]]` stop before the final chunk;
//! - `[[sim:omit=FIELD]]` leave a count out (`prompt_eval_count`, `eval_count`, or `counts`);
//! - `[[sim:die]]` the server stops: it closes every connection and stops listening;
//! - `[[sim:hold_until=TEXT]]` answer only once a request containing TEXT has arrived;
//! - [`Simulator::stall`] makes every generation request hang (no headers, ever) or drip (headers,
//!   then a space every 50 ms, never a whole line), while the discovery endpoints still answer:
//!   a hung or dripping host in a pool;
//! - `[[fake:reply=TEXT]]` reply exactly TEXT (up to the first `]]`), read from the system prompt
//!   first, so an agent's reply does not leak into its dependents' replies;
//!   `[[fake:reply=cycle:A||B]]` replies A, then B, then A again, to the same prompt.
//!
//! Residency (`max_loaded` > 0), like a small GPU or `OLLAMA_MAX_LOADED_MODELS`: at most that many
//! models are loaded at once. A request for a model that is not loaded waits until there is room
//! or a loaded model has no request using or awaiting it, evicts the least recently used such
//! model, and pays `load_time`. `/api/ps` lists the loaded models; [`Simulator::loads`],
//! [`Simulator::evictions`] and `GET /_sim/stats` count them. Without residency `/api/ps` lists
//! the models served so far (Ollama keeps a model loaded after use).

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

type Body = BoxBody<Bytes, io::Error>;
/// The server's tasks: the accept loop and one per connection.
type Tasks = Arc<Mutex<Vec<JoinHandle<()>>>>;

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Time to first token.
    pub ttft: Duration,
    /// Time per generated token.
    pub per_token: Duration,
    /// Tokens per reply (capped by `num_predict` / `max_tokens`).
    pub tokens: u32,
    /// Requests served at once per model; 0 = unlimited.
    pub parallel: usize,
    /// Requests allowed to wait per model before 503; 0 = unlimited.
    pub max_queue: usize,
    /// Installed models; others get 404 unless `accept_any_model`.
    pub models: Vec<String>,
    pub accept_any_model: bool,
    /// Models held loaded at once; 0 = no limit (and no load time).
    pub max_loaded: usize,
    /// Time to load a model that is not loaded (with `max_loaded` > 0).
    pub load_time: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            ttft: Duration::ZERO,
            per_token: Duration::ZERO,
            tokens: 16,
            parallel: 0,
            max_queue: 0,
            models: [
                "qwen3:0.6b",
                "gemma3:1b",
                "gemma3:4b",
                "gemma3:12b",
                "llama3:latest",
                "llama3.2:1b",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            accept_any_model: false,
            max_loaded: 0,
            load_time: Duration::ZERO,
        }
    }
}

/// One generation request as the simulator saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    pub seq: u64,
    pub path: String,
    pub model: String,
    pub body: Value,
    pub status: u16,
    pub stream: bool,
    pub prompt_eval_count: Option<u64>,
    pub eval_count: Option<u64>,
    /// Milliseconds since the simulator started.
    pub t_arrive_ms: f64,
    pub t_start_ms: f64,
    pub t_end_ms: f64,
    /// Unix time of arrival and end, in seconds (for comparing with other processes' clocks).
    pub arrive_unix: f64,
    pub end_unix: f64,
    pub in_flight_at_arrival: usize,
    /// Time this request spent loading its model (residency only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_load_ms: Option<f64>,
    /// For `[[sim:hold_until=TEXT]]`: true when the awaited request arrived, false when the
    /// hold gave up after 10 s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_released: Option<bool>,
}

#[derive(Default)]
struct Counters {
    seq: u64,
    in_flight: usize,
    max_in_flight: usize,
    serving: HashMap<String, usize>,
    max_serving: HashMap<String, usize>,
    attempts: HashMap<String, u32>,
    /// Prompts seen so far (for `hold_until`).
    prompts: Vec<String>,
    /// Models served so far (what `/api/ps` lists without residency).
    served: std::collections::BTreeSet<String>,
}

/// How a stalled simulator answers generation requests ([`Simulator::stall`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// Accepts the request and never answers (no headers).
    Hang,
    /// 200 and headers, then one space every 50 ms: bytes, but never a message.
    Drip,
}

/// Whether a model is on its way in or ready.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Load {
    Loading,
    Ready,
}

/// Which models are loaded, least recently used first.
#[derive(Default)]
struct Resident {
    loaded: Vec<(String, Load)>,
    /// Requests using or awaiting each model.
    refs: HashMap<String, usize>,
    loads: u64,
    evictions: u64,
}

/// Model residency: the state and a wake-up for requests waiting on it.
#[derive(Default)]
struct Residency {
    state: Mutex<Resident>,
    changed: tokio::sync::Notify,
}

/// A request's hold on its model: released (and waiters woken) when dropped, also when the
/// client goes away mid-wait; a load that never finished is undone.
struct Hold {
    st: Arc<State>,
    model: String,
    loading: bool,
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut r = lock(&self.st.residency.state);
        if let Some(n) = r.refs.get_mut(&self.model) {
            *n = n.saturating_sub(1);
        }
        if self.loading {
            r.loaded.retain(|(m, _)| *m != self.model);
        }
        drop(r);
        self.st.residency.changed.notify_waiters();
    }
}

/// What waiting for a model decided.
enum Admit {
    Ready,
    Load,
    Wait,
}

impl Resident {
    fn admit(&mut self, model: &str, max: usize) -> Admit {
        if let Some(i) = self.loaded.iter().position(|(m, _)| m == model) {
            if self.loaded[i].1 == Load::Loading {
                return Admit::Wait;
            }
            let entry = self.loaded.remove(i);
            self.loaded.push(entry);
            return Admit::Ready;
        }
        if self.loaded.len() >= max {
            let idle = self.loaded.iter().position(|(m, l)| {
                *l == Load::Ready && self.refs.get(m).copied().unwrap_or(0) == 0
            });
            match idle {
                Some(i) => {
                    self.loaded.remove(i);
                    self.evictions += 1;
                }
                None => return Admit::Wait,
            }
        }
        self.loaded.push((model.to_string(), Load::Loading));
        self.loads += 1;
        Admit::Load
    }
}

struct State {
    cfg: SimConfig,
    /// Every task of the server (accept loop, connections), to stop it from inside.
    tasks: Mutex<Option<Tasks>>,
    started: Instant,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
    waiting: Mutex<HashMap<String, usize>>,
    counters: Mutex<Counters>,
    log: Mutex<Vec<Recorded>>,
    log_file: Mutex<Option<std::fs::File>>,
    residency: Residency,
    stall: Mutex<Option<Stall>>,
    stalled: std::sync::atomic::AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running simulator. Dropping it stops the server and closes every connection.
pub struct Simulator {
    addr: SocketAddr,
    state: Arc<State>,
    tasks: Tasks,
}

impl Simulator {
    /// Starts on `127.0.0.1:port` (0 picks a free port).
    pub async fn start(cfg: SimConfig, port: u16) -> io::Result<Simulator> {
        Self::start_on(cfg, SocketAddr::from(([127, 0, 0, 1], port)), None).await
    }

    /// Starts on `addr`, logging each generation request as a JSON line to `log`.
    pub async fn start_on(
        cfg: SimConfig,
        addr: SocketAddr,
        log: Option<std::fs::File>,
    ) -> io::Result<Simulator> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            tasks: Mutex::new(None),
            cfg,
            started: Instant::now(),
            slots: Mutex::new(HashMap::new()),
            waiting: Mutex::new(HashMap::new()),
            counters: Mutex::new(Counters::default()),
            log: Mutex::new(Vec::new()),
            log_file: Mutex::new(log),
            residency: Residency::default(),
            stall: Mutex::new(None),
            stalled: std::sync::atomic::AtomicUsize::new(0),
        });
        let tasks: Tasks = Arc::new(Mutex::new(Vec::new()));
        *lock(&state.tasks) = Some(tasks.clone());
        let accept_state = state.clone();
        let accept_tasks = tasks.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let st = accept_state.clone();
                let conn = tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(st.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
                let mut t = lock(&accept_tasks);
                t.retain(|h| !h.is_finished());
                t.push(conn);
            }
        });
        lock(&tasks).push(accept);
        Ok(Simulator { addr, state, tasks })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every generation request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        let mut v = lock(&self.state.log).clone();
        v.sort_by_key(|r| r.seq);
        v
    }

    /// The most requests that were being served at once for `model` (after their slot).
    pub fn max_serving(&self, model: &str) -> usize {
        lock(&self.state.counters)
            .max_serving
            .get(model)
            .copied()
            .unwrap_or(0)
    }

    /// Generation requests in flight now (queued or served).
    pub fn in_flight(&self) -> usize {
        lock(&self.state.counters).in_flight
    }

    /// The most generation requests in flight at once (queued or served).
    pub fn max_in_flight(&self) -> usize {
        lock(&self.state.counters).max_in_flight
    }

    /// Models loaded so far (residency only; counts reloads).
    pub fn loads(&self) -> u64 {
        lock(&self.state.residency.state).loads
    }

    /// Models evicted to make room (residency only).
    pub fn evictions(&self) -> u64 {
        lock(&self.state.residency.state).evictions
    }

    /// From now on, every generation request stalls as `how` says (None: answers again).
    pub fn stall(&self, how: Option<Stall>) {
        *lock(&self.state.stall) = how;
    }

    /// Generation requests that stalled so far.
    pub fn stalled(&self) -> usize {
        self.state.stalled.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops accepting and closes every open connection.
    pub fn stop(&self) {
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop();
    }
}

fn full(code: StatusCode, v: &Value) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(v.to_string()))
            .map_err(|e: Infallible| match e {})
            .boxed(),
    );
    *r.status_mut() = code;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn text(code: StatusCode, s: &'static str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from_static(s.as_bytes()))
            .map_err(|e: Infallible| match e {})
            .boxed(),
    );
    *r.status_mut() = code;
    r
}

async fn handle(st: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let t_arrive = st.started.elapsed();
    let body: Value = match req.into_body().collect().await {
        Ok(b) => {
            let bytes = b.to_bytes();
            if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or(Value::Null)
            }
        }
        Err(_) => Value::Null,
    };
    let resp = match (&method, path.as_str()) {
        (&Method::GET, "/") | (&Method::HEAD, "/") => text(StatusCode::OK, "Ollama is running"),
        (&Method::GET, "/api/version") => full(StatusCode::OK, &json!({"version": "0.12.6"})),
        (&Method::GET, "/api/tags") => {
            let models: Vec<Value> = st.cfg.models.iter().map(|m| tag_entry(m)).collect();
            full(StatusCode::OK, &json!({"models": models}))
        }
        (&Method::GET, "/api/ps") => {
            let models: Vec<Value> = st.loaded_models().iter().map(|m| ps_entry(m)).collect();
            full(StatusCode::OK, &json!({"models": models}))
        }
        (&Method::GET, "/_sim/stats") => {
            let (loads, evictions) = {
                let r = lock(&st.residency.state);
                (r.loads, r.evictions)
            };
            let c = lock(&st.counters);
            full(
                StatusCode::OK,
                &json!({"seq": c.seq, "in_flight": c.in_flight, "max_in_flight": c.max_in_flight,
                        "loads": loads, "evictions": evictions}),
            )
        }
        (&Method::GET, "/v1/models") => {
            let data: Vec<Value> = st
                .cfg
                .models
                .iter()
                .map(|m| json!({"id": m, "object": "model", "created": 1746093600, "owned_by": "library"}))
                .collect();
            full(StatusCode::OK, &json!({"object": "list", "data": data}))
        }
        // llama-server's router lists its models (and their load state) at `/models`, beside
        // its OpenAI-compatible `/v1`: llm-orc 0.25.2 asks it before a `llama-server` run.
        (&Method::GET, "/models") => {
            let data: Vec<Value> = st
                .cfg
                .models
                .iter()
                .map(|m| json!({"id": m, "object": "model", "status": {"value": "loaded"}}))
                .collect();
            full(StatusCode::OK, &json!({"object": "list", "data": data}))
        }
        (&Method::POST, "/api/show") => {
            let name = body
                .get("model")
                .or_else(|| body.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if st.known(name) {
                full(
                    StatusCode::OK,
                    &json!({"details": details(name), "capabilities": ["completion"], "model_info": {}}),
                )
            } else {
                full(
                    StatusCode::NOT_FOUND,
                    &json!({"error": format!("model '{name}' not found")}),
                )
            }
        }
        (&Method::POST, "/api/chat" | "/api/generate" | "/v1/chat/completions")
            if lock(&st.stall).is_some() =>
        {
            stalled(&st).await
        }
        (&Method::POST, "/api/chat") => generate(st, Kind::Chat, &path, body, t_arrive).await,
        (&Method::POST, "/api/generate") => {
            generate(st, Kind::Generate, &path, body, t_arrive).await
        }
        (&Method::POST, "/v1/chat/completions") => {
            generate(st, Kind::OaiChat, &path, body, t_arrive).await
        }
        _ => text(StatusCode::NOT_FOUND, "404 page not found"),
    };
    Ok(resp)
}

/// A stalled generation request: never answered, or a drip of spaces (at most an hour, and only
/// while the client listens).
async fn stalled(st: &State) -> Response<Body> {
    st.stalled.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let how = *lock(&st.stall);
    if how != Some(Stall::Drip) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return text(StatusCode::SERVICE_UNAVAILABLE, "stalled for an hour");
    }
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, io::Error>>(1);
    tokio::spawn(async move {
        for _ in 0..72_000 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if tx
                .send(Ok(Frame::data(Bytes::from_static(b" "))))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let frames =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-ndjson"),
    );
    r
}

fn details(m: &str) -> Value {
    let family = m.split(':').next().unwrap_or(m);
    let size = crate::compile::model_size_b(m)
        .map(|b| format!("{b}B"))
        .unwrap_or_else(|| "1.0B".into());
    json!({"parent_model": "", "format": "gguf", "family": family, "families": [family],
           "parameter_size": size, "quantization_level": "Q4_K_M"})
}

fn tag_entry(m: &str) -> Value {
    json!({"name": m, "model": m, "modified_at": "2025-05-01T10:00:00Z", "size": 1_000_000_000u64,
           "digest": format!("{:016x}", fnv(m.as_bytes())), "details": details(m)})
}

fn ps_entry(m: &str) -> Value {
    let expires = chrono::Utc::now() + chrono::Duration::minutes(5);
    json!({"name": m, "model": m, "size": 1_000_000_000u64,
           "digest": format!("{:016x}", fnv(m.as_bytes())), "details": details(m),
           "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
           "size_vram": 1_000_000_000u64})
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Chat,
    Generate,
    OaiChat,
}

/// Faults and shapes a request asked for.
#[derive(Default, Debug)]
struct Directives {
    json_array: Option<usize>,
    tokens: Option<u32>,
    status: Option<(u16, Option<u32>)>,
    reset: bool,
    slow_ms: Option<u64>,
    malformed: bool,
    truncate: bool,
    hold_until: Option<String>,
    reply: Option<String>,
    omit_prompt: bool,
    omit_eval: bool,
    die: bool,
}

fn directive_num(text: &str, tag: &str) -> Option<u64> {
    let start = text.find(tag)? + tag.len();
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn directives(text: &str) -> Directives {
    let mut d = Directives {
        json_array: directive_num(text, "[[fake:json_array=").map(|n| n as usize),
        tokens: directive_num(text, "[[fake:tokens=").map(|n| n as u32),
        reset: text.contains("[[sim:reset]]"),
        slow_ms: directive_num(text, "[[sim:slow="),
        malformed: text.contains("[[sim:malformed]]"),
        truncate: text.contains("[[sim:truncate]]"),
        die: text.contains("[[sim:die]]"),
        omit_prompt: text.contains("[[sim:omit=prompt_eval_count]]")
            || text.contains("[[sim:omit=counts]]"),
        omit_eval: text.contains("[[sim:omit=eval_count]]") || text.contains("[[sim:omit=counts]]"),
        ..Directives::default()
    };
    if let Some(i) = text.find("[[fake:reply=") {
        let rest = &text[i + "[[fake:reply=".len()..];
        d.reply = rest.find("]]").map(|j| rest[..j].to_string());
    }
    if let Some(i) = text.find("[[sim:hold_until=") {
        let rest = &text[i + "[[sim:hold_until=".len()..];
        d.hold_until = rest.find("]]").map(|j| rest[..j].to_string());
    }
    if let Some(code) = directive_num(text, "[[sim:status=") {
        let times = text
            .find("[[sim:status=")
            .and_then(|i| {
                text[i..]
                    .find('*')
                    .filter(|&j| j < text[i..].find("]]").unwrap_or(0))
                    .map(|j| i + j + 1)
            })
            .and_then(|i| {
                text[i..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .ok()
            });
        d.status = Some((code as u16, times));
    }
    d
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

const VOCAB: &[&str] = &[
    "the", "model", "agent", "signal", "data", "result", "layer", "output", "input", "token",
    "graph", "node", "edge", "phase", "stage", "batch", "latency", "cache", "queue", "worker",
    "claim", "evidence", "source", "review", "summary", "finding", "risk", "metric", "trend",
    "report", "detail", "insight", "factor", "scope", "limit", "sample", "error", "retry", "trace",
    "window", "stream", "chunk", "design", "choice", "method", "plan", "goal", "task", "step",
    "rule", "clear", "strong", "early", "late", "fast", "slow", "small", "large", "local",
    "shared", "stable", "simple", "direct", "common", "useful", "first", "final", "core", "merge",
    "split", "route", "rank", "score", "select", "filter", "group", "reduce", "verify", "of",
    "and", "to", "in",
];

/// `n` deterministic words seeded by `seed`, shaped into sentences.
fn words(seed: &str, n: u32) -> Vec<String> {
    let mut x = fnv(seed.as_bytes()) | 1;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let w = VOCAB[(x % VOCAB.len() as u64) as usize];
            let mut w = if i % 12 == 0 {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            } else {
                w.to_string()
            };
            if i % 12 == 11 || i + 1 == n {
                w.push('.');
            }
            if i > 0 {
                w.insert(0, ' ');
            }
            w
        })
        .collect()
}

impl State {
    fn known(&self, model: &str) -> bool {
        if self.cfg.accept_any_model {
            return true;
        }
        let m = if model.contains(':') {
            model.to_string()
        } else {
            format!("{model}:latest")
        };
        self.cfg.models.iter().any(|x| *x == m || *x == model)
    }

    /// What `/api/ps` lists: the ready models under residency, else every model served so far.
    fn loaded_models(&self) -> Vec<String> {
        if self.cfg.max_loaded == 0 {
            return lock(&self.counters).served.iter().cloned().collect();
        }
        lock(&self.residency.state)
            .loaded
            .iter()
            .filter(|(_, l)| *l == Load::Ready)
            .map(|(m, _)| m.clone())
            .collect()
    }

    /// Waits until `model` is loaded, loading it (and evicting an idle one) when there is room.
    /// `None` without residency; else the hold and the time spent loading.
    async fn hold(self: &Arc<Self>, model: &str) -> Option<(Hold, Duration)> {
        if self.cfg.max_loaded == 0 {
            return None;
        }
        *lock(&self.residency.state)
            .refs
            .entry(model.to_string())
            .or_insert(0) += 1;
        let mut hold = Hold {
            st: self.clone(),
            model: model.to_string(),
            loading: false,
        };
        let started = Instant::now();
        loop {
            let changed = self.residency.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let admit = lock(&self.residency.state).admit(model, self.cfg.max_loaded);
            match admit {
                Admit::Ready => return Some((hold, started.elapsed())),
                Admit::Wait => changed.await,
                Admit::Load => {
                    hold.loading = true;
                    tokio::time::sleep(self.cfg.load_time).await;
                    let mut r = lock(&self.residency.state);
                    if let Some(e) = r.loaded.iter_mut().find(|(m, _)| m == model) {
                        e.1 = Load::Ready;
                    }
                    drop(r);
                    hold.loading = false;
                    self.residency.changed.notify_waiters();
                    return Some((hold, started.elapsed()));
                }
            }
        }
    }

    fn slot(&self, model: &str) -> Option<Arc<Semaphore>> {
        if self.cfg.parallel == 0 {
            return None;
        }
        let mut slots = lock(&self.slots);
        Some(
            slots
                .entry(model.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.cfg.parallel)))
                .clone(),
        )
    }

    fn ms(&self, d: Duration) -> f64 {
        d.as_secs_f64() * 1000.0
    }

    fn record(&self, r: Recorded) {
        if let Some(f) = lock(&self.log_file).as_mut() {
            use std::io::Write;
            let mut line = serde_json::to_string(&r).unwrap_or_default();
            line.push('\n');
            let _ = f.write_all(line.as_bytes());
        }
        lock(&self.log).push(r);
    }
}

struct Reply {
    text: String,
    pieces: Vec<String>,
    prompt_tokens: u64,
    eval_tokens: u64,
    done_reason: &'static str,
}

async fn generate(
    st: Arc<State>,
    kind: Kind,
    path: &str,
    body: Value,
    t_arrive: Duration,
) -> Response<Body> {
    let oai = kind == Kind::OaiChat;
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(!oai);
    let (system, prompt) = match kind {
        Kind::Generate => {
            let s = body
                .get("system")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let p = body.get("prompt").and_then(Value::as_str).unwrap_or("");
            let joined = if s.is_empty() {
                p.to_string()
            } else {
                format!("{s}\n{p}")
            };
            (s, joined)
        }
        _ => {
            let msgs = body
                .get("messages")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let parts: Vec<&str> = msgs
                .iter()
                .map(|m| m.get("content").and_then(Value::as_str).unwrap_or(""))
                .collect();
            let system = msgs
                .iter()
                .find(|m| m.get("role").and_then(Value::as_str) == Some("system"))
                .and_then(|m| m.get("content").and_then(Value::as_str))
                .unwrap_or("")
                .to_string();
            (system, parts.join("\n"))
        }
    };
    let mut d = directives(&prompt);
    if let Some(r) = directives(&system).reply {
        d.reply = Some(r);
    }
    let (seq, in_flight) = {
        let mut c = lock(&st.counters);
        c.seq += 1;
        c.in_flight += 1;
        c.max_in_flight = c.max_in_flight.max(c.in_flight);
        c.prompts.push(prompt.clone());
        (c.seq, c.in_flight)
    };
    let mut rec = Recorded {
        seq,
        path: path.to_string(),
        model: model.clone(),
        body: body.clone(),
        status: 200,
        stream,
        prompt_eval_count: None,
        eval_count: None,
        t_arrive_ms: st.ms(t_arrive),
        t_start_ms: st.ms(t_arrive),
        t_end_ms: st.ms(t_arrive),
        arrive_unix: unix_now(),
        end_unix: 0.0,
        in_flight_at_arrival: in_flight,
        model_load_ms: None,
        hold_released: None,
    };
    let finish = |st: &State, mut rec: Recorded, status: u16| {
        rec.status = status;
        rec.t_end_ms = st.ms(st.started.elapsed());
        rec.end_unix = unix_now();
        lock(&st.counters).in_flight -= 1;
        st.record(rec);
    };
    let err_body = |msg: String| {
        if oai {
            json!({"error": {"message": msg, "type": "api_error"}})
        } else {
            json!({"error": msg})
        }
    };

    if d.die {
        // The server dies: stop listening and drop every connection, this one included.
        finish(&st, rec.clone(), 0);
        let tasks = lock(&st.tasks).clone();
        if let Some(t) = tasks {
            for h in lock(&t).drain(..) {
                h.abort();
            }
        }
        std::future::pending::<()>().await;
    }
    if !st.known(&model) {
        finish(&st, rec, 404);
        return full(
            StatusCode::NOT_FOUND,
            &err_body(format!("model \"{model}\" not found, try pulling it first")),
        );
    }
    if let Some((code, times)) = d.status {
        let key = format!("{code}\0{prompt}");
        let n = {
            let mut c = lock(&st.counters);
            let n = c.attempts.entry(key).or_insert(0);
            *n += 1;
            *n
        };
        if times.is_none_or(|t| n <= t) {
            finish(&st, rec, code);
            let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return full(
                code,
                &err_body(format!("simulated failure {}", code.as_u16())),
            );
        }
    }
    // Load the model when the server holds few at once, then queue for a slot, as Ollama does
    // per loaded model.
    let resident = st.hold(&model).await;
    rec.model_load_ms = resident.as_ref().map(|(_, d)| st.ms(*d));
    let resident = resident.map(|(h, _)| h);
    let permit = match st.slot(&model) {
        None => None,
        Some(sem) => {
            {
                let mut w = lock(&st.waiting);
                let n = w.entry(model.clone()).or_insert(0);
                if st.cfg.max_queue > 0 && *n >= st.cfg.max_queue && sem.available_permits() == 0 {
                    drop(w);
                    finish(&st, rec, 503);
                    return full(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &err_body(
                            "server busy, please try again.  maximum pending requests exceeded"
                                .into(),
                        ),
                    );
                }
                *n += 1;
            }
            let p = sem.acquire_owned().await.ok();
            if let Some(n) = lock(&st.waiting).get_mut(&model) {
                *n = n.saturating_sub(1);
            }
            p
        }
    };
    let t_start = st.started.elapsed();
    rec.t_start_ms = st.ms(t_start);
    {
        let mut c = lock(&st.counters);
        let s = c.serving.entry(model.clone()).or_insert(0);
        *s += 1;
        let now = *s;
        let m = c.max_serving.entry(model.clone()).or_insert(0);
        *m = (*m).max(now);
        c.served.insert(model.clone());
    }
    let done_serving = |st: &State| {
        if let Some(s) = lock(&st.counters).serving.get_mut(&model) {
            *s = s.saturating_sub(1);
        }
    };

    // What to generate.
    let num_predict = if oai {
        body.get("max_tokens")
            .or_else(|| body.get("max_completion_tokens"))
            .and_then(Value::as_u64)
    } else {
        body.get("options")
            .and_then(|o| o.get("num_predict"))
            .and_then(Value::as_u64)
    };
    let want_json = if oai {
        body.get("response_format")
            .and_then(|f| f.get("type"))
            .and_then(Value::as_str)
            .is_some_and(|t| t != "text")
    } else {
        body.get("format")
            .is_some_and(|f| f.as_str() == Some("json") || f.is_object())
    };
    let base_n = d.tokens.unwrap_or(st.cfg.tokens).max(1);
    let n = num_predict
        .filter(|&p| p > 0)
        .map_or(base_n, |p| base_n.min(p as u32))
        .max(1);
    let done_reason = if num_predict.is_some_and(|p| p > 0 && (p as u32) < base_n) {
        "length"
    } else {
        "stop"
    };
    let seed = format!("{model}\0{prompt}");
    let reply = if let Some(t) = &d.reply {
        // `cycle:A||B||C` answers A, then B, then C, then A again, for the same prompt.
        let t = &match t.strip_prefix("cycle:") {
            Some(rest) => {
                let items: Vec<&str> = rest.split("||").collect();
                let n = {
                    let mut c = lock(&st.counters);
                    let n = c.attempts.entry(format!("cycle\0{prompt}")).or_insert(0);
                    *n += 1;
                    *n
                };
                items[(n as usize - 1) % items.len()].to_string()
            }
            None => t.clone(),
        };
        Reply {
            pieces: vec![t.clone()],
            text: t.clone(),
            prompt_tokens: 0,
            eval_tokens: u64::from(n),
            done_reason,
        }
    } else if let Some(k) = d.json_array {
        let per = (n as usize / k.max(1)).max(1) as u32;
        let items: Vec<String> = (0..k)
            .map(|i| words(&format!("{seed}\0{i}"), per).concat())
            .collect();
        let t = serde_json::to_string(&items).unwrap_or_default();
        Reply {
            pieces: vec![t.clone()],
            text: t,
            prompt_tokens: 0,
            eval_tokens: u64::from(n),
            done_reason,
        }
    } else if want_json {
        let t = json!({"answer": words(&seed, n).concat()}).to_string();
        Reply {
            pieces: vec![t.clone()],
            text: t,
            prompt_tokens: 0,
            eval_tokens: u64::from(n),
            done_reason,
        }
    } else {
        let pieces = words(&seed, n);
        Reply {
            text: pieces.concat(),
            pieces,
            prompt_tokens: 0,
            eval_tokens: u64::from(n),
            done_reason,
        }
    };
    let reply = Reply {
        prompt_tokens: (prompt.chars().count() as u64).div_ceil(4).max(1) + 10,
        ..reply
    };
    rec.prompt_eval_count = (!d.omit_prompt).then_some(reply.prompt_tokens);
    rec.eval_count = (!d.omit_eval).then_some(reply.eval_tokens);

    if let Some(wanted) = &d.hold_until {
        // Wait until another request mentioning `wanted` has arrived (causal ordering for tests).
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut released = false;
        while Instant::now() < deadline {
            if lock(&st.counters)
                .prompts
                .iter()
                .any(|p| p.contains(wanted.as_str()) && !p.contains("[[sim:hold_until="))
            {
                released = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        rec.hold_released = Some(released);
    }
    if let Some(ms) = d.slow_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let cfg = st.cfg.clone();
    let service = cfg.ttft + cfg.per_token * n;
    let queue = t_start.saturating_sub(t_arrive);
    let durations = {
        let mut m = serde_json::Map::new();
        m.insert(
            "total_duration".into(),
            json!((queue + service).as_nanos() as u64),
        );
        m.insert("load_duration".into(), json!(queue.as_nanos() as u64));
        if !d.omit_prompt {
            m.insert("prompt_eval_count".into(), json!(reply.prompt_tokens));
        }
        m.insert(
            "prompt_eval_duration".into(),
            json!(cfg.ttft.as_nanos() as u64),
        );
        if !d.omit_eval {
            m.insert("eval_count".into(), json!(reply.eval_tokens));
        }
        m.insert(
            "eval_duration".into(),
            json!((cfg.per_token * n).as_nanos() as u64),
        );
        m
    };
    let now = || chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);

    if d.malformed {
        tokio::time::sleep(service).await;
        done_serving(&st);
        drop(permit);
        drop(resident);
        finish(&st, rec, 200);
        let mut r = Response::new(
            Full::new(Bytes::from_static(
                b"{\"model\": \"oops\", \"message\": {\"content\": ",
            ))
            .map_err(|e: Infallible| match e {})
            .boxed(),
        );
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        return r;
    }

    if !stream {
        tokio::time::sleep(service).await;
        let payload = match kind {
            Kind::Chat => {
                let mut m = serde_json::Map::new();
                m.insert("model".into(), json!(model));
                m.insert("created_at".into(), json!(now()));
                m.insert(
                    "message".into(),
                    json!({"role": "assistant", "content": reply.text}),
                );
                m.insert("done_reason".into(), json!(reply.done_reason));
                m.insert("done".into(), json!(true));
                m.extend(durations.clone());
                Value::Object(m)
            }
            Kind::Generate => {
                let mut m = serde_json::Map::new();
                m.insert("model".into(), json!(model));
                m.insert("created_at".into(), json!(now()));
                m.insert("response".into(), json!(reply.text));
                m.insert("done".into(), json!(true));
                m.insert("done_reason".into(), json!(reply.done_reason));
                m.extend(durations.clone());
                Value::Object(m)
            }
            Kind::OaiChat => {
                let mut usage = serde_json::Map::new();
                if !d.omit_prompt {
                    usage.insert("prompt_tokens".into(), json!(reply.prompt_tokens));
                }
                if !d.omit_eval {
                    usage.insert("completion_tokens".into(), json!(reply.eval_tokens));
                }
                if !d.omit_prompt && !d.omit_eval {
                    usage.insert(
                        "total_tokens".into(),
                        json!(reply.prompt_tokens + reply.eval_tokens),
                    );
                }
                json!({"id": format!("chatcmpl-{seq}"), "object": "chat.completion", "created": created, "model": model,
                       "system_fingerprint": "fp_ollama",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text}, "finish_reason": reply.done_reason}],
                       "usage": usage})
            }
        };
        done_serving(&st);
        drop(permit);
        drop(resident);
        if d.reset {
            // Half a body, then the connection drops.
            finish(&st, rec, 200);
            let s = payload.to_string();
            let half = Bytes::from(s[..s.len() / 2].to_string());
            let frames = futures::stream::iter(vec![
                Ok::<_, io::Error>(Frame::data(half)),
                Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "simulated reset",
                )),
            ]);
            return Response::new(BodyExt::boxed(StreamBody::new(frames)));
        }
        finish(&st, rec, 200);
        return full(StatusCode::OK, &payload);
    }

    // Streaming: chunks are produced by a task that paces them.
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, io::Error>>(64);
    let st2 = st.clone();
    let model2 = model.clone();
    tokio::spawn(async move {
        let start = Instant::now();
        let n_pieces = reply.pieces.len();
        for (i, piece) in reply.pieces.iter().enumerate() {
            let due = if n_pieces == 1 {
                service
            } else {
                cfg.ttft + cfg.per_token * i as u32
            };
            tokio::time::sleep_until((start + due).into()).await;
            let line = match kind {
                Kind::Chat => format!(
                    "{}\n",
                    json!({"model": model2, "created_at": now(), "message": {"role": "assistant", "content": piece}, "done": false})
                ),
                Kind::Generate => format!(
                    "{}\n",
                    json!({"model": model2, "created_at": now(), "response": piece, "done": false})
                ),
                Kind::OaiChat => format!(
                    "data: {}\n\n",
                    json!({"id": format!("chatcmpl-{seq}"), "object": "chat.completion.chunk", "created": created, "model": model2, "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece}, "finish_reason": null}]})
                ),
            };
            if tx.send(Ok(Frame::data(Bytes::from(line)))).await.is_err() {
                break;
            }
            if d.reset && i + 1 >= n_pieces / 2 {
                let _ = tx
                    .send(Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "simulated reset",
                    )))
                    .await;
                break;
            }
        }
        tokio::time::sleep_until((start + service).into()).await;
        if !d.reset && !d.truncate {
            let fin = match kind {
                Kind::Chat | Kind::Generate => {
                    let mut m = serde_json::Map::new();
                    m.insert("model".into(), json!(model2));
                    m.insert("created_at".into(), json!(now()));
                    if kind == Kind::Chat {
                        m.insert(
                            "message".into(),
                            json!({"role": "assistant", "content": ""}),
                        );
                    } else {
                        m.insert("response".into(), json!(""));
                    }
                    m.insert("done_reason".into(), json!(reply.done_reason));
                    m.insert("done".into(), json!(true));
                    m.extend(durations.clone());
                    format!("{}\n", Value::Object(m))
                }
                Kind::OaiChat => {
                    let include_usage = body
                        .get("stream_options")
                        .and_then(|o| o.get("include_usage"))
                        .and_then(Value::as_bool)
                        == Some(true);
                    let mut s = format!(
                        "data: {}\n\n",
                        json!({"id": format!("chatcmpl-{seq}"), "object": "chat.completion.chunk", "created": created, "model": model2, "choices": [{"index": 0, "delta": {}, "finish_reason": reply.done_reason}]})
                    );
                    if include_usage {
                        s.push_str(&format!("data: {}\n\n", json!({"id": format!("chatcmpl-{seq}"), "object": "chat.completion.chunk", "created": created, "model": model2, "choices": [], "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.eval_tokens, "total_tokens": reply.prompt_tokens + reply.eval_tokens}})));
                    }
                    s.push_str("data: [DONE]\n\n");
                    s
                }
            };
            let _ = tx.send(Ok(Frame::data(Bytes::from(fin)))).await;
        }
        if let Some(s) = lock(&st2.counters).serving.get_mut(&model2) {
            *s = s.saturating_sub(1);
        }
        drop(permit);
        drop(resident);
        finish(&st2, rec, 200);
    });
    let frames =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    let ct = if oai {
        "text/event-stream"
    } else {
        "application/x-ndjson"
    };
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(ct),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_parse() {
        let d = directives("x [[sim:status=503*2]] [[fake:json_array=8]] [[sim:omit=counts]]");
        assert_eq!(d.status, Some((503, Some(2))));
        assert_eq!(d.json_array, Some(8));
        assert!(d.omit_prompt && d.omit_eval);
        let d = directives("[[sim:status=500]]");
        assert_eq!(d.status, Some((500, None)));
    }

    async fn chat(client: &reqwest::Client, url: &str, model: &str) -> Value {
        client
            .post(format!("{url}/api/chat"))
            .json(&json!({"model": model, "stream": false,
                          "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .expect("simulator answers")
            .json()
            .await
            .expect("a JSON reply")
    }

    async fn ps(client: &reqwest::Client, url: &str) -> Vec<String> {
        let v: Value = client
            .get(format!("{url}/api/ps"))
            .send()
            .await
            .expect("simulator answers")
            .json()
            .await
            .expect("a JSON reply");
        v["models"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["name"].as_str().map(str::to_string))
            .collect()
    }

    #[tokio::test]
    async fn a_server_holding_one_model_loads_evicts_and_lists_it() {
        let sim = Simulator::start(
            SimConfig {
                max_loaded: 1,
                load_time: Duration::from_millis(5),
                ..SimConfig::default()
            },
            0,
        )
        .await
        .expect("simulator starts");
        let c = crate::backend::http_client();
        assert!(ps(&c, &sim.url()).await.is_empty());
        for m in ["gemma3:1b", "gemma3:1b", "qwen3:0.6b", "gemma3:1b"] {
            chat(&c, &sim.url(), m).await;
        }
        assert_eq!((sim.loads(), sim.evictions()), (3, 2));
        assert_eq!(ps(&c, &sim.url()).await, ["gemma3:1b"]);
        let loaded: Vec<bool> = sim
            .requests()
            .iter()
            .map(|r| r.model_load_ms.is_some_and(|ms| ms >= 5.0))
            .collect();
        assert_eq!(loaded, [true, false, true, true]);
        let stats: Value = c
            .get(format!("{}/_sim/stats", sim.url()))
            .send()
            .await
            .expect("simulator answers")
            .json()
            .await
            .expect("a JSON reply");
        assert_eq!(
            (stats["loads"].as_u64(), stats["evictions"].as_u64()),
            (Some(3), Some(2))
        );
    }

    #[tokio::test]
    async fn another_model_waits_until_the_loaded_one_is_idle() {
        let sim = Simulator::start(
            SimConfig {
                max_loaded: 1,
                ..SimConfig::default()
            },
            0,
        )
        .await
        .expect("simulator starts");
        let c = crate::backend::http_client();
        let url = sim.url();
        // The first request holds gemma3:1b until the second has arrived.
        let first = {
            let (c, url) = (c.clone(), url.clone());
            tokio::spawn(async move {
                c.post(format!("{url}/api/chat"))
                    .json(&json!({"model": "gemma3:1b", "stream": false,
                                  "messages": [{"role": "user", "content": "[[sim:hold_until=second]]"}]}))
                    .send()
                    .await
                    .expect("simulator answers")
                    .status()
            })
        };
        let second = c
            .post(format!("{url}/api/chat"))
            .json(&json!({"model": "qwen3:0.6b", "stream": false,
                          "messages": [{"role": "user", "content": "second"}]}))
            .send()
            .await
            .expect("simulator answers")
            .status();
        assert_eq!(first.await.expect("task finishes"), 200);
        assert_eq!(second, 200);
        let r = sim.requests();
        let by = |m: &str| {
            r.iter()
                .find(|x| x.model == m)
                .expect("request seen")
                .clone()
        };
        let (a, b) = (by("gemma3:1b"), by("qwen3:0.6b"));
        assert_eq!(a.hold_released, Some(true));
        assert!(
            b.t_start_ms >= a.t_end_ms,
            "qwen started while gemma was in use"
        );
        assert_eq!((sim.loads(), sim.evictions()), (2, 1));
    }

    #[tokio::test]
    async fn without_residency_ps_lists_the_models_served() {
        let sim = Simulator::start(SimConfig::default(), 0)
            .await
            .expect("simulator starts");
        let c = crate::backend::http_client();
        chat(&c, &sim.url(), "gemma3:4b").await;
        assert_eq!(ps(&c, &sim.url()).await, ["gemma3:4b"]);
        assert_eq!(sim.loads(), 0);
    }

    #[test]
    fn words_are_deterministic() {
        assert_eq!(words("a", 5), words("a", 5));
        assert_ne!(words("a", 5), words("b", 5));
        assert!(words("a", 13).concat().ends_with('.'));
    }
}
