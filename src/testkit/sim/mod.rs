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

//!
//! `routes` answers each endpoint, `generate` a generation request (admission, the reply, its
//! body streamed or whole), `directives` reads the faults a prompt asks for, `residency` keeps
//! the loaded models, `text` makes the deterministic words.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use residency::Residency;

mod directives;
mod generate;
mod residency;
mod routes;
mod text;

type Body = BoxBody<Bytes, io::Error>;

/// A JSON response with `code`, for the routes and the generation endpoints alike.
fn full(code: hyper::StatusCode, v: &Value) -> hyper::Response<Body> {
    use http_body_util::BodyExt as _;
    let mut r = hyper::Response::new(
        http_body_util::Full::new(Bytes::from(v.to_string()))
            .map_err(|e: std::convert::Infallible| match e {})
            .boxed(),
    );
    *r.status_mut() = code;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

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
                    let svc =
                        hyper::service::service_fn(move |req| routes::handle(st.clone(), req));
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

#[cfg(test)]
mod tests {
    use super::directives::directives;
    use super::text::words;
    use super::*;
    use serde_json::json;

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
