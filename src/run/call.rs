//! Calling a model: each target in turn (the agent's own, then its fallbacks), each request
//! under its (host, model) slot, with retries and backoff. Every model call orc makes goes
//! through here, an agent's and an auxiliary one (a judge, a simulated user).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::engine::{Engine, Event};
use super::results::{AgentUsage, AuxiliaryCall, Entry, Timing};
use super::script;
use crate::backend::pool::{HostPool, Lease, PoolError};
use crate::backend::{AnyProvider, ChatRequest, ChatResponse, Provider, ProviderError, TokenSink};
use crate::compile::{LlmAgent, ModelTarget, ProviderKind};

/// Streamed-chunk progress for one agent, and when the last chunk arrived (the idle deadline).
struct Progress<'a> {
    engine: &'a Engine,
    agent: &'a str,
    announce: bool,
    last: std::sync::Mutex<tokio::time::Instant>,
}

impl Progress<'_> {
    fn last(&self) -> tokio::time::Instant {
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl TokenSink for Progress<'_> {
    fn tokens(&self, chunks: u64) {
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = tokio::time::Instant::now();
        if self.announce && chunks % 8 == 1 {
            self.engine.emit(Event::Tokens {
                agent: self.agent.to_string(),
                chunks,
            });
        }
    }
}

pub(super) enum CallError {
    Timeout(String),
    Provider(ProviderError),
    /// No host of the pool could take the request.
    Pool(PoolError),
    /// The run's budget was spent before the agent's first request could start.
    OverBudget(String),
}

/// Why a call got no answer.
pub(super) enum Unanswered {
    Failed(String),
    /// The budget was spent before the first request started: nothing was sent.
    OverBudget(String),
}

impl Unanswered {
    fn message(self) -> String {
        match self {
            Unanswered::Failed(m) | Unanswered::OverBudget(m) => m,
        }
    }
}

/// How one attempt ended.
enum Sent {
    Answer(Result<ChatResponse, ProviderError>),
    /// The agent's timeout passed (`idle: false`), or the idle deadline (`idle: true`).
    TimedOut {
        idle: bool,
    },
    /// The budget was spent before the agent's first request: nothing was sent.
    OverBudget(String),
    /// The pool host was found hung while the request waited for its slot: nothing was sent,
    /// the request goes elsewhere.
    HostHung,
}

/// Where a target's requests go: one server, or the pool (host chosen per attempt).
enum Route {
    Fixed(AnyProvider),
    Pool(Arc<HostPool>),
}

/// An answer, how long the request took, and the host (as shown) that served it.
type Served = (ChatResponse, f64, String);

/// One call in progress: who makes it and how long a request may take.
pub(super) struct Call<'a> {
    pub engine: &'a Engine,
    /// The agent's display name (or an auxiliary call's label), for events and logs.
    pub display: &'a str,
    pub timeout: Duration,
    /// Whether progress events (started, tokens, retrying) are sent: an agent's call, not an
    /// auxiliary one (progress displays count agents).
    pub announce: bool,
    /// The agent's remaining path to the end of its ensemble (the residency gate's order).
    pub priority: u64,
    /// Whether the run's budget applies: an agent's call (checked before its first request,
    /// spent when an answer arrives), not an auxiliary one.
    pub budgeted: bool,
}

/// The error of a call whose every target failed: the first target's, with the fallbacks'.
fn all_failed(mut errors: Vec<String>) -> String {
    match errors.len() {
        0 => "no model to call".to_string(),
        1 => errors.remove(0),
        _ => format!(
            "{} (fallbacks failed too: {})",
            errors[0],
            errors[1..].join("; ")
        ),
    }
}

/// What a model answered and what it cost.
pub(super) struct Answered {
    pub text: String,
    pub usage: AgentUsage,
    /// Whether a fallback (not the first target) answered.
    pub substituted: bool,
}

impl Call<'_> {
    /// Asks each target in turn until one answers; a timeout ends the search. `timing` gets
    /// the start of the first request, the attempts and the end.
    pub async fn first_answer<'t>(
        &self,
        targets: impl Iterator<Item = &'t ModelTarget>,
        prompt: &Prompt<'_>,
        timing: &mut Timing,
    ) -> Result<Answered, Unanswered> {
        let mut errors: Vec<String> = Vec::new();
        for (k, t) in targets.enumerate() {
            let route = match self.route(t) {
                Ok(r) => r,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            if k > 0 {
                self.falling_back(t, &route, &errors);
            }
            let req = prompt.request(t);
            let answered = match &route {
                Route::Fixed(provider) => {
                    self.with_retries(provider, &req, t.cost_per_token, timing)
                        .await
                }
                Route::Pool(pool) => self.on_pool(pool, &req, t.cost_per_token, timing).await,
            };
            match answered {
                Ok((resp, service_ms, host)) => {
                    timing.end_ms = self.engine.ms();
                    let usage = AgentUsage {
                        model: t.model.clone(),
                        profile: t.profile.clone(),
                        provider: t.provider.name().to_string(),
                        host,
                        usage: resp.usage,
                        done_reason: resp.done_reason,
                        cost_per_token: t.cost_per_token,
                        service_ms,
                    };
                    return Ok(Answered {
                        text: resp.content,
                        usage,
                        substituted: k > 0,
                    });
                }
                Err(CallError::Timeout(msg)) => {
                    timing.end_ms = self.engine.ms();
                    return Err(Unanswered::Failed(msg));
                }
                Err(CallError::OverBudget(why)) => {
                    timing.end_ms = self.engine.ms();
                    return Err(Unanswered::OverBudget(why));
                }
                Err(CallError::Provider(e)) => errors.push(e.to_string()),
                Err(CallError::Pool(e)) => errors.push(e.to_string()),
            }
        }
        timing.end_ms = self.engine.ms();
        Err(Unanswered::Failed(all_failed(errors)))
    }

    /// Where a target's requests go: the host pool for a plain Ollama target when the run has
    /// one, else the target's provider; Err (the message) for a provider orc cannot run.
    fn route(&self, t: &ModelTarget) -> Result<Route, String> {
        let pooled = matches!(t.provider, ProviderKind::Ollama) && t.base_url.is_none();
        match (&self.engine.pool, pooled) {
            (Some(pool), true) => Ok(Route::Pool(pool.clone())),
            _ => match self.engine.provider(&t.provider, t.base_url.as_deref()) {
                Ok(p) => Ok(Route::Fixed(p)),
                Err(cloud) => Err(ProviderError::NotRunnable {
                    provider: cloud,
                    model: t.model.clone(),
                }
                .to_string()),
            },
        }
    }

    /// Says that a fallback target is tried, after which error.
    fn falling_back(&self, t: &ModelTarget, route: &Route, errors: &[String]) {
        tracing::warn!(
            agent = self.display,
            profile = t.profile_name(),
            model = %t.model,
            host = match route {
                Route::Fixed(p) => p.host(),
                Route::Pool(_) => "the host pool",
            },
            after = errors.last().map(String::as_str).unwrap_or(""),
            "falling back to another model profile"
        );
    }

    /// Sends the request, retrying connection errors, 503 and 5xx with backoff. The timeout
    /// counts from when the request is sent, not while it waits for a slot.
    async fn with_retries(
        &self,
        provider: &AnyProvider,
        req: &ChatRequest,
        cost_per_token: Option<f64>,
        timing: &mut Timing,
    ) -> Result<Served, CallError> {
        let engine = self.engine;
        let mut attempt_no = 0;
        loop {
            attempt_no += 1;
            let attempt = Attempt {
                provider,
                lease: None,
                req,
                cost_per_token,
                attempt_no,
                idle: None,
            };
            let (outcome, sent) = self.send(&attempt, timing).await;
            let outcome = match outcome {
                Sent::OverBudget(why) => return Err(CallError::OverBudget(why)),
                // Only a pool lease is turned away; a fixed host has none.
                Sent::HostHung => continue,
                Sent::TimedOut { idle } => {
                    return Err(CallError::Timeout(self.timed_out(provider, req, idle)));
                }
                Sent::Answer(a) => a,
            };
            match outcome {
                Ok(resp) => {
                    tracing::debug!(
                        agent = self.display,
                        host = provider.host(),
                        model = %req.model,
                        ms = (engine.ms() - sent).round() as u64,
                        input_tokens = resp.usage.input_tokens,
                        output_tokens = resp.usage.output_tokens,
                        "response"
                    );
                    return Ok((resp, engine.ms() - sent, provider.host().to_string()));
                }
                Err(e) if e.retryable() && attempt_no < engine.retry.max_attempts => {
                    if !self.back_off(provider.host(), req, attempt_no, &e).await {
                        return Err(CallError::Provider(e));
                    }
                }
                Err(e) => {
                    tracing::debug!(
                        agent = self.display,
                        host = provider.host(),
                        model = %req.model,
                        attempt = attempt_no,
                        cause = %e,
                        "request failed"
                    );
                    return Err(CallError::Provider(after_attempts(e, attempt_no)));
                }
            }
        }
    }

    /// Sends the request to the pool: per attempt a host for the model (avoiding the hosts that
    /// already failed it while another has the model), its residency gate, then its (host,
    /// model) slot. A retryable failure moves to an untried host at once, with no backoff and
    /// even past `max_attempts`; when every host that may have the model has been tried, the
    /// request is retried with backoff up to `max_attempts` like a single host's. A host that
    /// does not answer in time (the agent's timeout, or `idle_timeout` without a complete
    /// message while another host could take the request) has failed: its breaker counts it
    /// and the request moves to an untried host, with a fresh timeout.
    async fn on_pool(
        &self,
        pool: &Arc<HostPool>,
        req: &ChatRequest,
        cost_per_token: Option<f64>,
        timing: &mut Timing,
    ) -> Result<Served, CallError> {
        let engine = self.engine;
        let mut tried: Vec<String> = Vec::new();
        let mut next: Option<Lease> = None;
        let mut attempt_no = 0;
        loop {
            attempt_no += 1;
            let mut lease = match next.take() {
                Some(l) => l,
                None => match self.choose_host(pool, req, &tried, attempt_no).await? {
                    Some(l) => l,
                    None => continue,
                },
            };
            lease.admit(self.priority).await;
            let provider = engine.ollama_at(&lease.url);
            // The idle deadline applies only to streamed answers, and only while another host
            // could take the request: on the last one, waiting is all there is.
            let mut others = tried.clone();
            others.push(lease.shown.clone());
            let elsewhere = pool.could_serve(&req.model, &others);
            let idle = engine
                .idle_timeout
                .filter(|i| engine.stream && *i < self.timeout && elsewhere);
            let attempt = Attempt {
                provider: &provider,
                // Turned away from a hung host only while another could take the request.
                lease: elsewhere.then_some(&lease),
                req,
                cost_per_token,
                attempt_no,
                idle,
            };
            let (outcome, sent) = self.send(&attempt, timing).await;
            let e = match outcome {
                Sent::OverBudget(why) => return Err(CallError::OverBudget(why)),
                Sent::HostHung => {
                    // Not this request's failure: choose again, away from that host.
                    if !tried.contains(&lease.shown) {
                        tried.push(lease.shown.clone());
                    }
                    attempt_no -= 1;
                    continue;
                }
                Sent::TimedOut { idle } => {
                    let msg = self.timed_out(&provider, req, idle);
                    next = Some(self.after_timeout(pool, req, lease, msg, &mut tried, attempt_no)?);
                    continue;
                }
                Sent::Answer(Ok(resp)) => {
                    lease.succeeded();
                    tracing::debug!(
                        agent = self.display,
                        host = %lease.shown,
                        model = %req.model,
                        ms = (engine.ms() - sent).round() as u64,
                        "response"
                    );
                    return Ok((resp, engine.ms() - sent, lease.shown.clone()));
                }
                Sent::Answer(Err(e)) => e,
            };
            next = self
                .after_failure(pool, req, lease, e, &mut tried, attempt_no)
                .await?;
        }
    }

    /// A host for the next attempt (avoiding `tried`). When every host with the model has its
    /// breaker open, waits like a retry: None, try again.
    async fn choose_host(
        &self,
        pool: &Arc<HostPool>,
        req: &ChatRequest,
        tried: &[String],
        attempt_no: u32,
    ) -> Result<Option<Lease>, CallError> {
        match pool.choose(&req.model, tried) {
            Ok(l) => Ok(Some(l)),
            Err(e @ PoolError::NotInstalled { .. }) => Err(CallError::Pool(e)),
            Err(e) => {
                if attempt_no < self.engine.retry.max_attempts
                    && self.back_off("the host pool", req, attempt_no, &e).await
                {
                    return Ok(None);
                }
                Err(CallError::Pool(e))
            }
        }
    }

    /// The host gave no answer in time: it has failed (its breaker counts it), and the
    /// request moves to an untried host with a fresh timeout, else fails with `msg`.
    fn after_timeout(
        &self,
        pool: &Arc<HostPool>,
        req: &ChatRequest,
        lease: Lease,
        msg: String,
        tried: &mut Vec<String>,
        attempt_no: u32,
    ) -> Result<Lease, CallError> {
        lease.timed_out(&msg);
        lease.refresh_later();
        let host = lease.shown.clone();
        drop(lease);
        if !tried.contains(&host) {
            tried.push(host.clone());
        }
        match pool.choose(&req.model, tried) {
            Ok(other) if !tried.contains(&other.shown) => {
                self.switching(&host, &other.shown, req, attempt_no, &msg);
                Ok(other)
            }
            _ => Err(CallError::Timeout(msg)),
        }
    }

    /// The host answered with an error: a retryable one moves the request to an untried host
    /// at once (Some), else it is retried with backoff up to `max_attempts` (None); anything
    /// else ends the request.
    async fn after_failure(
        &self,
        pool: &Arc<HostPool>,
        req: &ChatRequest,
        lease: Lease,
        e: ProviderError,
        tried: &mut Vec<String>,
        attempt_no: u32,
    ) -> Result<Option<Lease>, CallError> {
        lease.failed(&e);
        let missing = matches!(e, ProviderError::ModelMissing { .. });
        if e.retryable() {
            lease.refresh_later();
        }
        let host = lease.shown.clone();
        drop(lease);
        if !e.retryable() && !missing {
            return Err(CallError::Provider(after_attempts(e, attempt_no)));
        }
        if !tried.contains(&host) {
            tried.push(host.clone());
        }
        match pool.choose(&req.model, tried) {
            Ok(other) if !tried.contains(&other.shown) => {
                self.switching(&host, &other.shown, req, attempt_no, &e);
                return Ok(Some(other));
            }
            Ok(_) => {}
            Err(p @ PoolError::NotInstalled { .. }) => return Err(CallError::Pool(p)),
            Err(_) => {}
        }
        if missing || attempt_no >= self.engine.retry.max_attempts {
            return Err(CallError::Provider(after_attempts(e, attempt_no)));
        }
        if !self.back_off(&host, req, attempt_no, &e).await {
            return Err(CallError::Provider(e));
        }
        Ok(None)
    }

    /// A failed request moves to another host of the pool at once (a retry without backoff).
    fn switching(
        &self,
        from: &str,
        to: &str,
        req: &ChatRequest,
        attempt_no: u32,
        e: &dyn std::fmt::Display,
    ) {
        tracing::warn!(
            agent = self.display,
            host = from,
            to,
            model = %req.model,
            attempt = attempt_no,
            cause = %e,
            "request failed; moving to another host"
        );
        if self.announce {
            self.engine.emit(Event::Retrying {
                agent: self.display.to_string(),
                attempt: attempt_no,
                error: e.to_string(),
            });
        }
    }

    /// One attempt: waits for the (host, model) slot, checks the budget (before the agent's
    /// first request: a request queued for a slot never starts once it is spent), sends, counts
    /// the answer against the budget while the slot is still held (so the next request to take
    /// it sees the spending), and releases the slot. Returns how it ended and when it was sent.
    async fn send(&self, a: &Attempt<'_>, timing: &mut Timing) -> (Sent, f64) {
        let (engine, agent) = (self.engine, self.display);
        let (provider, req) = (a.provider, a.req);
        let asked = engine.ms();
        let permit = engine.limits.acquire(provider.host(), &req.model).await;
        let sent = engine.ms();
        tracing::debug!(
            agent,
            host = provider.host(),
            model = %req.model,
            waited_ms = (sent - asked).round() as u64,
            "got a slot"
        );
        if self.budgeted
            && timing.attempts == 0
            && let Some(why) = engine.budget.as_ref().and_then(|b| b.exhausted())
        {
            tracing::info!(agent, "not started: {why}");
            return (Sent::OverBudget(why), sent);
        }
        if a.lease.is_some_and(Lease::turned_away) {
            return (Sent::HostHung, sent);
        }
        tracing::debug!(
            agent,
            host = provider.host(),
            model = %req.model,
            attempt = a.attempt_no,
            prompt_bytes = req.system.len() + req.user.len(),
            "sending request"
        );
        tracing::trace!(agent, system = %req.system, user = %req.user, "prompt");
        if timing.attempts == 0 && self.announce {
            engine.emit(Event::Started {
                agent: agent.to_string(),
            });
        }
        if timing.attempts == 0 {
            timing.start_ms = sent;
        }
        timing.attempts += 1;
        tracing::info!(
            agent,
            model = %req.model,
            host = provider.host(),
            attempt = a.attempt_no,
            "request sent"
        );
        let sink = Progress {
            engine,
            agent,
            announce: self.announce,
            last: std::sync::Mutex::new(tokio::time::Instant::now()),
        };
        // Boxed so that the (large) request future exists only once a slot is held: thousands of
        // agents waiting for slots then cost little memory.
        let chat = Box::pin(provider.chat(req, &sink));
        let outcome = match a.idle {
            None => match tokio::time::timeout(self.timeout, chat).await {
                Ok(r) => Sent::Answer(r),
                Err(_) => Sent::TimedOut { idle: false },
            },
            Some(idle) => self.watch_idle(chat, &sink, idle).await,
        };
        if let (Sent::Answer(Ok(resp)), true, Some(b)) =
            (&outcome, self.budgeted, engine.budget.as_ref())
        {
            b.spend(&super::engine::Spending {
                agent,
                usage: &resp.usage,
                prompt_bytes: req.system.len() + req.user.len(),
                answer_bytes: resp.content.len(),
                cost_per_token: a.cost_per_token,
            });
        }
        drop(permit);
        (outcome, sent)
    }

    /// Awaits an answer under the agent's timeout and an idle deadline: the answer is abandoned
    /// when no complete message has arrived for `idle` (headers, first token, or between chunks).
    async fn watch_idle(
        &self,
        mut chat: std::pin::Pin<
            Box<impl Future<Output = Result<ChatResponse, ProviderError>> + Send>,
        >,
        sink: &Progress<'_>,
        idle: Duration,
    ) -> Sent {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let wake = (sink.last() + idle).min(deadline);
            tokio::select! {
                r = &mut chat => return Sent::Answer(r),
                _ = tokio::time::sleep_until(wake) => {
                    let now = tokio::time::Instant::now();
                    if now >= deadline {
                        return Sent::TimedOut { idle: false };
                    }
                    if now >= sink.last() + idle {
                        return Sent::TimedOut { idle: true };
                    }
                }
            }
        }
    }

    fn timed_out(&self, provider: &AnyProvider, req: &ChatRequest, idle: bool) -> String {
        let waited = match (idle, self.engine.idle_timeout) {
            (true, Some(i)) => i,
            _ => self.timeout,
        };
        tracing::warn!(
            agent = self.display,
            host = provider.host(),
            model = %req.model,
            timeout_s = waited.as_secs_f64(),
            idle,
            "request timed out"
        );
        if idle {
            format!(
                "no answer from {} for `{}` within idle_timeout ({} seconds without a message)",
                provider.host(),
                req.model,
                script::fmt_secs(waited)
            )
        } else {
            format!(
                "Agent execution timed out after {} seconds waiting for `{}` on {}",
                script::fmt_secs(waited),
                req.model,
                provider.host()
            )
        }
    }

    /// Waits before the next attempt (no slot held). False when the run was cancelled meanwhile.
    async fn back_off(
        &self,
        host: &str,
        req: &ChatRequest,
        attempt_no: u32,
        e: &(dyn std::fmt::Display + Sync),
    ) -> bool {
        let engine = self.engine;
        let backoff = engine.retry.backoff(attempt_no);
        tracing::warn!(
            agent = self.display,
            host,
            model = %req.model,
            attempt = attempt_no,
            of = engine.retry.max_attempts,
            cause = %e,
            backoff_ms = backoff.as_millis() as u64,
            "request failed; retrying"
        );
        if self.announce {
            engine.emit(Event::Retrying {
                agent: self.display.to_string(),
                attempt: attempt_no,
                error: e.to_string(),
            });
        }
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
            _ = tokio::time::sleep(backoff) => true,
            _ = cancelled => false,
        }
    }
}

/// One attempt's request: where it goes, what it costs a token, and its idle deadline.
struct Attempt<'a> {
    provider: &'a AnyProvider,
    /// The pool's lease when the request goes to a pool host.
    lease: Option<&'a Lease>,
    req: &'a ChatRequest,
    cost_per_token: Option<f64>,
    attempt_no: u32,
    idle: Option<Duration>,
}

/// A status error after retries says how many attempts were made.
fn after_attempts(e: ProviderError, attempt_no: u32) -> ProviderError {
    match e {
        ProviderError::Status {
            host,
            model,
            status,
            message,
        } if attempt_no > 1 => ProviderError::Status {
            host,
            model,
            status,
            message: format!("{message} (after {attempt_no} attempts)"),
        },
        other => other,
    }
}

/// What is sent, whichever target answers.
pub(super) struct Prompt<'a> {
    pub system: &'a str,
    pub user: &'a str,
    pub format: Option<&'a Value>,
    pub think: Option<&'a Value>,
    pub keep_alive: Option<&'a Value>,
}

impl Prompt<'_> {
    fn request(&self, t: &ModelTarget) -> ChatRequest {
        ChatRequest {
            model: t.model.clone(),
            system: self.system.to_string(),
            user: self.user.to_string(),
            temperature: t.temperature,
            max_tokens: t.max_tokens,
            options: t.options.clone(),
            format: self.format.cloned(),
            think: self.think.cloned(),
            keep_alive: self.keep_alive.cloned(),
        }
    }
}

/// A question asked outside the ensemble's agents (a semantic validator, a simulated user).
pub struct Question<'a> {
    /// Recorded with the usage: `semantic_validation` or `simulated_user`.
    pub purpose: &'static str,
    /// The agent it is asked for, if any.
    pub agent: Option<&'a str>,
    pub target: &'a ModelTarget,
    pub system: &'a str,
    pub user: &'a str,
    pub timeout: Duration,
}

impl Engine {
    /// Asks one model through the engine: its (host, model) slot, retries and backoff, the same
    /// provider code as agents; the usage is kept in `auxiliary` for the artifact. It takes no
    /// global permit: a simulated user is asked from inside an agent that holds one.
    pub async fn ask_model(&self, q: Question<'_>) -> Result<String, String> {
        let label = format!("{} ({})", q.purpose, q.agent.unwrap_or(&q.target.model));
        let call = Call {
            engine: self,
            display: &label,
            timeout: q.timeout,
            announce: false,
            priority: 0,
            budgeted: false,
        };
        let prompt = Prompt {
            system: q.system,
            user: q.user,
            format: None,
            think: None,
            keep_alive: None,
        };
        let now = self.ms();
        let mut timing = Timing::instant(now, now);
        let a = call
            .first_answer(std::iter::once(q.target), &prompt, &mut timing)
            .await
            .map_err(Unanswered::message)?;
        self.auxiliary
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(AuxiliaryCall {
                purpose: q.purpose,
                agent: q.agent.map(str::to_string),
                usage: a.usage,
            });
        Ok(a.text)
    }
}

/// Calls the agent's model; on failure (not a timeout) tries each fallback profile in turn.
pub(super) async fn call_llm(
    call: &Call<'_>,
    llm: &LlmAgent,
    user: &str,
    ready: f64,
) -> (Entry, Option<AgentUsage>) {
    let _global = call.engine.global_permit().await;
    let prompt = Prompt {
        system: &llm.system_prompt,
        user,
        format: llm.format.as_ref(),
        think: llm.think.as_ref(),
        keep_alive: llm.keep_alive.as_ref(),
    };
    let mut timing = Timing::instant(ready, ready);
    match call.first_answer(llm.targets(), &prompt, &mut timing).await {
        Ok(a) => {
            let mut e = Entry::success(Value::String(a.text), "llm", timing);
            e.model_substituted = a.substituted;
            (e, Some(a.usage))
        }
        Err(Unanswered::Failed(msg)) => (Entry::failed(msg, "llm", timing), None),
        Err(Unanswered::OverBudget(why)) => {
            if let Some(b) = &call.engine.budget {
                b.skipped(call.display);
            }
            (Entry::skipped(why, "llm", timing), None)
        }
    }
}
