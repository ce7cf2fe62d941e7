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

/// Streamed-chunk progress for one agent.
struct Progress<'a> {
    engine: &'a Engine,
    agent: &'a str,
    announce: bool,
}

impl TokenSink for Progress<'_> {
    fn tokens(&self, chunks: u64) {
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
    ) -> Result<Answered, String> {
        let mut errors: Vec<String> = Vec::new();
        for (k, t) in targets.enumerate() {
            let pooled = matches!(t.provider, ProviderKind::Ollama) && t.base_url.is_none();
            let route = match (&self.engine.pool, pooled) {
                (Some(pool), true) => Route::Pool(pool.clone()),
                _ => match self.engine.provider(&t.provider, t.base_url.as_deref()) {
                    Ok(p) => Route::Fixed(p),
                    Err(cloud) => {
                        let e = ProviderError::NotRunnable {
                            provider: cloud,
                            model: t.model.clone(),
                        };
                        errors.push(e.to_string());
                        continue;
                    }
                },
            };
            if k > 0 {
                tracing::warn!(
                    agent = self.display,
                    profile = t.profile_name(),
                    model = %t.model,
                    host = match &route {
                        Route::Fixed(p) => p.host(),
                        Route::Pool(_) => "the host pool",
                    },
                    after = errors.last().map(String::as_str).unwrap_or(""),
                    "falling back to another model profile"
                );
            }
            let req = prompt.request(t);
            let answered = match &route {
                Route::Fixed(provider) => self.with_retries(provider, &req, timing).await,
                Route::Pool(pool) => self.on_pool(pool, &req, timing).await,
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
                    return Err(msg);
                }
                Err(CallError::Provider(e)) => errors.push(e.to_string()),
                Err(CallError::Pool(e)) => errors.push(e.to_string()),
            }
        }
        timing.end_ms = self.engine.ms();
        Err(match errors.len() {
            0 => "no model to call".to_string(),
            1 => errors.remove(0),
            _ => format!(
                "{} (fallbacks failed too: {})",
                errors[0],
                errors[1..].join("; ")
            ),
        })
    }

    /// Sends the request, retrying connection errors, 503 and 5xx with backoff. The timeout
    /// counts from when the request is sent, not while it waits for a slot.
    async fn with_retries(
        &self,
        provider: &AnyProvider,
        req: &ChatRequest,
        timing: &mut Timing,
    ) -> Result<Served, CallError> {
        let engine = self.engine;
        let mut attempt_no = 0;
        loop {
            attempt_no += 1;
            let (outcome, sent) = self.send(provider, req, timing, attempt_no).await;
            match outcome {
                None => return Err(self.timed_out(provider, req)),
                Some(Ok(resp)) => {
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
                Some(Err(e)) if e.retryable() && attempt_no < engine.retry.max_attempts => {
                    if !self.back_off(provider.host(), req, attempt_no, &e).await {
                        return Err(CallError::Provider(e));
                    }
                }
                Some(Err(e)) => {
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
    /// request is retried with backoff up to `max_attempts` like a single host's.
    async fn on_pool(
        &self,
        pool: &Arc<HostPool>,
        req: &ChatRequest,
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
                None => match pool.choose(&req.model, &tried) {
                    Ok(l) => l,
                    Err(e @ PoolError::NotInstalled { .. }) => return Err(CallError::Pool(e)),
                    Err(e) => {
                        // Every host with the model has its breaker open: wait like a retry.
                        if attempt_no < engine.retry.max_attempts
                            && self.back_off("the host pool", req, attempt_no, &e).await
                        {
                            continue;
                        }
                        return Err(CallError::Pool(e));
                    }
                },
            };
            lease.admit(self.priority).await;
            let provider = engine.ollama_at(&lease.url);
            let (outcome, sent) = self.send(&provider, req, timing, attempt_no).await;
            let e = match outcome {
                None => return Err(self.timed_out(&provider, req)),
                Some(Ok(resp)) => {
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
                Some(Err(e)) => e,
            };
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
            match pool.choose(&req.model, &tried) {
                Ok(other) if !tried.contains(&other.shown) => {
                    self.switching(&host, &other.shown, req, attempt_no, &e);
                    next = Some(other);
                    continue;
                }
                Ok(_) => {}
                Err(p @ PoolError::NotInstalled { .. }) => return Err(CallError::Pool(p)),
                Err(_) => {}
            }
            if missing || attempt_no >= engine.retry.max_attempts {
                return Err(CallError::Provider(after_attempts(e, attempt_no)));
            }
            if !self.back_off(&host, req, attempt_no, &e).await {
                return Err(CallError::Provider(e));
            }
        }
    }

    /// A failed request moves to another host of the pool at once (a retry without backoff).
    fn switching(
        &self,
        from: &str,
        to: &str,
        req: &ChatRequest,
        attempt_no: u32,
        e: &ProviderError,
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

    /// One attempt: waits for the (host, model) slot, sends, and releases the slot. Returns the
    /// outcome (None: timed out) and when the request was sent.
    async fn send(
        &self,
        provider: &AnyProvider,
        req: &ChatRequest,
        timing: &mut Timing,
        attempt_no: u32,
    ) -> (Option<Result<ChatResponse, ProviderError>>, f64) {
        let (engine, agent) = (self.engine, self.display);
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
        tracing::debug!(
            agent,
            host = provider.host(),
            model = %req.model,
            attempt = attempt_no,
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
            attempt = attempt_no,
            "request sent"
        );
        let sink = Progress {
            engine,
            agent,
            announce: self.announce,
        };
        // Boxed so that the (large) request future exists only once a slot is held: thousands of
        // agents waiting for slots then cost little memory.
        let outcome = tokio::time::timeout(self.timeout, Box::pin(provider.chat(req, &sink))).await;
        drop(permit);
        (outcome.ok(), sent)
    }

    fn timed_out(&self, provider: &AnyProvider, req: &ChatRequest) -> CallError {
        tracing::warn!(
            agent = self.display,
            host = provider.host(),
            model = %req.model,
            timeout_s = self.timeout.as_secs_f64(),
            "request timed out"
        );
        CallError::Timeout(format!(
            "Agent execution timed out after {} seconds waiting for `{}` on {}",
            script::fmt_secs(self.timeout),
            req.model,
            provider.host()
        ))
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
            .await?;
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
        Err(msg) => (Entry::failed(msg, "llm", timing), None),
    }
}
