//! The engine a run and its nested runs share: the HTTP client, the limits (global permit and
//! per-(host, model) slots), the retry policy, progress events, cancellation, and what a run may
//! reuse or ask.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

use super::primitives;
use super::results::Status;
use crate::backend::{AnyProvider, OllamaClient, OpenAiClient, normalize_host, origin};
use crate::compile::{Agent, CompiledEnsemble, ProviderKind};

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

/// Where results are kept between runs (`performance.script_cache`, `performance.result_cache`):
/// the run computes the key (`hash::script_key`, `hash::input_hash`) and asks; `store::memo`
/// keeps them, one kind per store.
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
    /// Where `provider: llama-server` agents without a base_url go (`LLAMA_SERVER_URL` or
    /// llm-orc's default, `backend::hosts::llama_server_url`).
    pub llama_server_url: String,
    /// The pool of Ollama hosts (`hosts:` / `OLLAMA_HOSTS`): where `provider: ollama` agents
    /// without a base_url go instead of `ollama_host`, host by host per attempt.
    pub pool: Option<Arc<crate::backend::pool::HostPool>>,
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
    /// How long a streamed request to a pool host may go without a complete message before
    /// the host counts as failed and the request moves on (`performance.execution.idle_timeout`;
    /// None: the agent's timeout). Only while another host could take the request.
    pub idle_timeout: Option<Duration>,
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
    /// Model answers kept between runs (`performance.result_cache`, `--cache`).
    pub result_cache: Option<ResultCacheUse>,
    /// The run's token and dollar budget (`--token-budget`, `performance.budget`).
    pub budget: Option<Budget>,
    /// Answers read from the user so far.
    pub user_inputs: std::sync::atomic::AtomicU64,
    /// Model calls made through `Engine::ask_model` (not by agents) so far.
    pub auxiliary: Mutex<Vec<super::results::AuxiliaryCall>>,
}

/// The result cache as a run uses it: where answers are kept, and whether answers to requests
/// that are not deterministic (no temperature 0, no fixed seed) are kept too (`always`).
pub struct ResultCacheUse {
    pub store: Arc<dyn ScriptMemo>,
    pub always: bool,
}

/// A run's budget: once the counted usage reaches a limit, no new agent starts. It is checked
/// when an agent is about to send its first request (its slots held), so agents queued for a
/// slot never start once it is spent, and the overshoot is at most what was in flight. Calls in
/// flight finish (and are counted); models with no cost in their profile add nothing to the
/// dollars. A count the server did not report is estimated from bytes ([`super::BYTES_PER_TOKEN`]),
/// and the estimate is reported as one, so a server without counts cannot turn a budget off.
#[derive(Debug, Default)]
pub struct Budget {
    pub limit_tokens: Option<u64>,
    pub limit_cost_usd: Option<f64>,
    spent: Mutex<Spent>,
}

#[derive(Debug, Default, Clone)]
struct Spent {
    tokens: u64,
    cost_usd: f64,
    skipped: Vec<String>,
    /// Of `tokens`, how many were estimated from bytes.
    estimated_tokens: u64,
    /// Agents whose counts were (partly) estimated.
    estimated: Vec<String>,
}

/// One answered request as the budget counts it.
pub struct Spending<'a> {
    pub agent: &'a str,
    pub usage: &'a crate::backend::Usage,
    /// Bytes of the prompt (system and user) and of the answer, for a missing count.
    pub prompt_bytes: usize,
    pub answer_bytes: usize,
    pub cost_per_token: Option<f64>,
}

impl Budget {
    /// A budget when either limit is set.
    pub fn new(limit_tokens: Option<u64>, limit_cost_usd: Option<f64>) -> Option<Budget> {
        (limit_tokens.is_some() || limit_cost_usd.is_some()).then(|| Budget {
            limit_tokens,
            limit_cost_usd,
            spent: Mutex::new(Spent::default()),
        })
    }

    fn spent(&self) -> std::sync::MutexGuard<'_, Spent> {
        self.spent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one call: the tokens the server counted (a missing count estimated from bytes,
    /// and recorded as an estimate), and their cost (0 without a price).
    pub fn spend(&self, s: &Spending<'_>) {
        let estimate = |bytes: usize| (bytes as u64).div_ceil(super::BYTES_PER_TOKEN).max(1);
        let mut estimated = 0u64;
        let input = s.usage.input_tokens.unwrap_or_else(|| {
            estimated = estimated.saturating_add(estimate(s.prompt_bytes));
            estimate(s.prompt_bytes)
        });
        let output = s.usage.output_tokens.unwrap_or_else(|| {
            estimated = estimated.saturating_add(estimate(s.answer_bytes));
            estimate(s.answer_bytes)
        });
        let tokens = input.saturating_add(output);
        let cost = s.cost_per_token.unwrap_or(0.0) * tokens as f64;
        let mut spent = self.spent();
        spent.tokens = spent.tokens.saturating_add(tokens);
        if cost.is_finite() && cost > 0.0 {
            spent.cost_usd += cost;
        }
        if estimated > 0 {
            spent.estimated_tokens = spent.estimated_tokens.saturating_add(estimated);
            spent.estimated.push(s.agent.to_string());
        }
    }

    /// Why no new agent may start, once a limit is reached.
    pub fn exhausted(&self) -> Option<String> {
        let s = self.spent();
        let estimated = if s.estimated_tokens > 0 {
            format!(
                " ({} estimated: the server reported no counts)",
                s.estimated_tokens
            )
        } else {
            String::new()
        };
        if let Some(n) = self.limit_tokens
            && s.tokens >= n
        {
            return Some(format!(
                "token budget of {n} reached: {} counted{estimated}",
                s.tokens
            ));
        }
        if let Some(x) = self.limit_cost_usd
            && s.cost_usd >= x
        {
            return Some(format!(
                "cost budget of ${x} reached: ${:.6} counted{estimated}",
                s.cost_usd
            ));
        }
        None
    }

    /// Records an agent that did not run because the budget was spent.
    pub fn skipped(&self, agent: &str) {
        self.spent().skipped.push(agent.to_string());
    }

    /// What the artifact says of the budget.
    pub fn report(&self) -> super::results::BudgetReport {
        let s = self.spent().clone();
        super::results::BudgetReport {
            limit_tokens: self.limit_tokens,
            limit_cost_usd: self.limit_cost_usd,
            spent_tokens: s.tokens,
            spent_cost_usd: s.cost_usd,
            skipped: s.skipped,
            estimated_tokens: s.estimated_tokens,
            estimated: s.estimated,
        }
    }
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

impl Engine {
    pub(super) fn ms(&self) -> f64 {
        self.origin.elapsed().as_secs_f64() * 1000.0
    }

    pub(super) fn emit(&self, e: Event) {
        match &e {
            Event::Ready { agent } => tracing::debug!(agent = agent.as_str(), "agent ready"),
            Event::Started { agent } => tracing::debug!(agent = agent.as_str(), "agent started"),
            _ => {}
        }
        if let Some(tx) = &self.events {
            let _ = tx.send(e);
        }
    }

    pub(super) async fn global_permit(&self) -> Option<OwnedSemaphorePermit> {
        match &self.max_concurrent {
            Some(s) => s.clone().acquire_owned().await.ok(),
            None => None,
        }
    }

    /// An Ollama client for one host of the pool (`url` as the lease gives it).
    pub(super) fn ollama_at(&self, url: &str) -> AnyProvider {
        let mut c = OllamaClient::new(self.http.clone(), url);
        c.stream = self.stream;
        c.max_response_bytes = self.max_response_bytes;
        AnyProvider::Ollama(c)
    }

    pub(super) fn provider(
        &self,
        kind: &ProviderKind,
        base_url: Option<&str>,
    ) -> Result<AnyProvider, String> {
        match kind {
            ProviderKind::Ollama => Ok(AnyProvider::Ollama({
                let host = crate::backend::hosts::ollama_host(base_url, Some(&self.ollama_host));
                let mut c = OllamaClient::new(self.http.clone(), &host);
                c.stream = self.stream;
                c.max_response_bytes = self.max_response_bytes;
                c
            })),
            ProviderKind::OpenaiCompatible => {
                let url = crate::backend::hosts::openai_base_url(base_url, &self.ollama_host);
                let mut c = OpenAiClient::new(self.http.clone(), &url);
                c.max_response_bytes = self.max_response_bytes;
                Ok(AnyProvider::OpenAi(c))
            }
            ProviderKind::LlamaServer => {
                let url =
                    crate::backend::hosts::llama_server_url(base_url, Some(&self.llama_server_url));
                let mut c = OpenAiClient::new(self.http.clone(), &url);
                c.max_response_bytes = self.max_response_bytes;
                c.llama_server = true;
                Ok(AnyProvider::OpenAi(c))
            }
            ProviderKind::Cloud(p) | ProviderKind::Unknown(p) => Err(p.clone()),
        }
    }
}

/// The agent's timeout as a `Duration`. The compiler bounds timeouts (at most a week), so an
/// out-of-range value can only come from a caller that built an agent by hand; it fails the agent
/// instead of panicking.
pub(super) fn agent_timeout(agent: &Agent) -> Result<Duration, String> {
    Duration::try_from_secs_f64(agent.timeout_seconds.max(0.001)).map_err(|_| {
        format!(
            "timeout_seconds {} of agent `{}` is out of range (at most {} seconds)",
            agent.timeout_seconds,
            agent.name,
            crate::load::spec::MAX_TIMEOUT_SECONDS
        )
    })
}
