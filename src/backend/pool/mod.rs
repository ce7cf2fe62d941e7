//! A pool of Ollama hosts (`hosts:` in config.yaml, or `OLLAMA_HOSTS`): which hosts have which
//! models installed and loaded, how busy each is, and a circuit breaker per host.
//!
//! The engine asks [`HostPool::choose`] for a host for a model and reports back through the
//! [`Lease`] it gets: success, or a failure that counts toward the host's breaker. Among the
//! hosts that have the model, the pool prefers one where it is loaded, then the least busy, then
//! the highest `priority`, then the order of the list. Discovery (`/api/version`, `/api/tags`,
//! `/api/ps`) runs before a run, in the background while it lasts, and after a failure.
//!
//! On a host that holds few models at once (`max_loaded_models`), [`Lease::admit`] keeps a
//! request that would force a load waiting while the models in use there still have work: the
//! residency gate. Waiting requests go in order of: model already loaded, then the longest
//! remaining path to the end of the ensemble, then arrival.
//!
//! `discovery` looks at the hosts, `choice` picks one for a request, `breaker` hears how the
//! request went (the circuit breaker), `residency` is the gate.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{normalize_host, redact};

mod breaker;
mod choice;
mod discovery;
mod residency;

use residency::Waiter;

/// One host as configured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostConfig {
    pub url: String,
    /// Requests at once per model on this host (else `performance.per_model_limit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_model_limit: Option<usize>,
    /// Higher is preferred when hosts are otherwise equal.
    pub priority: i64,
    /// Models the host can hold loaded at once (a small GPU: 1); none = no residency limit known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_loaded_models: Option<usize>,
}

impl HostConfig {
    pub fn new(url: &str) -> HostConfig {
        HostConfig {
            url: url.to_string(),
            per_model_limit: None,
            priority: 0,
            max_loaded_models: None,
        }
    }
}

/// How the pool treats failing hosts and how often it looks again.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Consecutive failures that open a host's breaker.
    pub failures_to_open: u32,
    /// How long an open breaker stays open before one request may probe the host.
    pub cool_down: Duration,
    /// Background discovery interval.
    pub refresh_every: Duration,
    /// Time allowed for one discovery request.
    pub probe_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            failures_to_open: 3,
            cool_down: Duration::from_secs(10),
            refresh_every: Duration::from_secs(15),
            probe_timeout: Duration::from_secs(3),
        }
    }
}

/// A host's breaker, as `orc hosts` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

/// One host's state, as `orc hosts` and `get_provider_status` show it.
#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    pub url: String,
    /// `None` before the first look.
    pub reachable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub models_installed: Vec<String>,
    pub models_loaded: Vec<String>,
    pub in_flight: usize,
    pub served: u64,
    pub breaker: BreakerState,
    /// How many times the breaker opened since the pool was built.
    pub breaker_opened: u32,
    pub consecutive_failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub priority: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_loaded_models: Option<usize>,
}

/// Why no host could take a request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PoolError {
    #[error(
        "model `{model}` is not installed on any host of the pool (checked {}); run `ollama pull {model}` on one of them",
        checked.join(", ")
    )]
    NotInstalled { model: String, checked: Vec<String> },
    #[error("no host with model `{model}` is available: {}", why.join("; "))]
    Unavailable { model: String, why: Vec<String> },
}

#[derive(Debug, Default)]
struct HostState {
    reachable: Option<bool>,
    version: Option<String>,
    /// `None` until the host has listed its models.
    installed: Option<BTreeSet<String>>,
    /// Loaded models, least recently used first.
    loaded: Vec<String>,
    /// What the last `/api/ps` listed (to see the host swap models).
    ps_loaded: Option<Vec<String>>,
    /// Models the host was seen to hold at most: between two looks, models went and others came
    /// while the count did not grow (an eviction), so it holds no more than it listed then.
    observed_capacity: Option<usize>,
    in_flight: usize,
    served: u64,
    failures: u32,
    /// Times the breaker opened.
    opened: u32,
    open_until: Option<Instant>,
    /// A look at the host (discovery) is under way.
    refreshing: bool,
    /// The last failure was a request that got no answer in time (a hung host).
    hung: bool,
    /// When the last request failed here (a host that failed within the cool-down is chosen
    /// only when no other host ranks as well).
    failed_at: Option<Instant>,
    probing: bool,
    last_error: Option<String>,
    /// Residency gate: requests per model admitted and not finished.
    active: HashMap<String, usize>,
    /// Residency gate: requests waiting, in arrival order.
    waiting: Vec<Waiter>,
    next_ticket: u64,
}

struct Host {
    cfg: HostConfig,
    /// Normalised base URL (may carry credentials; never shown).
    base: String,
    /// The same without credentials.
    shown: String,
    state: Mutex<HostState>,
    changed: tokio::sync::Notify,
}

/// Requests a host serves at once when its `per_model_limit` is not set (orc's default).
const DEFAULT_SLOTS: usize = 4;

/// How a host ranks for a request (lower is better).
type Rank = (bool, bool, bool, bool, bool, usize, i64);

/// The hosts a run may use.
pub struct HostPool {
    hosts: Vec<Host>,
    http: reqwest::Client,
    settings: PoolSettings,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `gemma3` and `gemma3:latest` name the same model.
pub fn model_key(model: &str) -> String {
    if model.contains(':') {
        model.to_string()
    } else {
        format!("{model}:latest")
    }
}

impl HostState {
    pub(super) fn breaker(&self, now: Instant) -> BreakerState {
        match self.open_until {
            None => BreakerState::Closed,
            Some(t) if now >= t => BreakerState::HalfOpen,
            Some(_) => BreakerState::Open,
        }
    }

    pub(super) fn has(&self, key: &str) -> Option<bool> {
        self.installed.as_ref().map(|s| s.contains(key))
    }

    pub(super) fn is_loaded(&self, key: &str) -> bool {
        self.loaded.iter().any(|m| m == key)
    }
}

impl HostPool {
    pub fn new(hosts: Vec<HostConfig>, http: reqwest::Client, settings: PoolSettings) -> Arc<Self> {
        let hosts = hosts
            .into_iter()
            .map(|cfg| {
                let base = normalize_host(&cfg.url);
                Host {
                    shown: redact(&base),
                    base,
                    cfg,
                    state: Mutex::new(HostState::default()),
                    changed: tokio::sync::Notify::new(),
                }
            })
            .collect();
        Arc::new(HostPool {
            hosts,
            http,
            settings,
        })
    }

    /// The hosts' URLs as shown (without credentials).
    pub fn urls(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.shown.clone()).collect()
    }

    /// Every host's state.
    pub fn status(&self) -> Vec<HostStatus> {
        let now = Instant::now();
        self.hosts
            .iter()
            .map(|h| {
                let st = lock(&h.state);
                HostStatus {
                    url: h.shown.clone(),
                    reachable: st.reachable,
                    version: st.version.clone(),
                    models_installed: st
                        .installed
                        .as_ref()
                        .map(|s| s.iter().cloned().collect())
                        .unwrap_or_default(),
                    models_loaded: st.loaded.clone(),
                    in_flight: st.in_flight,
                    served: st.served,
                    breaker: st.breaker(now),
                    breaker_opened: st.opened,
                    consecutive_failures: st.failures,
                    last_error: st.last_error.clone(),
                    priority: h.cfg.priority,
                    max_loaded_models: h.cfg.max_loaded_models.or(st.observed_capacity),
                }
            })
            .collect()
    }

    /// The per-model limit of the host at `url` (as shown), if configured.
    pub fn per_model_limit(&self, shown: &str) -> Option<usize> {
        self.hosts
            .iter()
            .find(|h| h.shown == shown)
            .and_then(|h| h.cfg.per_model_limit)
    }
}

/// A request's claim on a host: counted in flight until dropped; report how it went with
/// [`Lease::succeeded`] or [`Lease::failed`].
pub struct Lease {
    pool: Arc<HostPool>,
    index: usize,
    /// Where to send the request (may carry credentials).
    pub url: String,
    /// The host without credentials (for results, logs, messages).
    pub shown: String,
    model: String,
    admitted: bool,
    probe: bool,
}

impl Lease {
    fn host(&self) -> &Host {
        &self.pool.hosts[self.index]
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let h = &self.pool.hosts[self.index];
        let mut st = lock(&h.state);
        st.in_flight = st.in_flight.saturating_sub(1);
        if self.admitted
            && let Some(n) = st.active.get_mut(&self.model)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                st.active.remove(&self.model);
            }
        }
        drop(st);
        h.changed.notify_waiters();
    }
}

#[cfg(all(test, feature = "testkit"))]
mod tests {
    use super::*;
    use crate::backend::ProviderError;
    use crate::testkit::sim::{SimConfig, Simulator};

    async fn sim(models: &[&str]) -> Simulator {
        Simulator::start(
            SimConfig {
                models: models.iter().map(|m| m.to_string()).collect(),
                ..SimConfig::default()
            },
            0,
        )
        .await
        .expect("simulator starts")
    }

    fn pool(urls: &[String], settings: PoolSettings) -> Arc<HostPool> {
        HostPool::new(
            urls.iter().map(|u| HostConfig::new(u)).collect(),
            super::super::http_client(),
            settings,
        )
    }

    fn unreachable(host: &str) -> ProviderError {
        ProviderError::Unreachable {
            host: host.into(),
            model: "m".into(),
            detail: "connection refused".into(),
            hint: String::new(),
        }
    }

    #[tokio::test]
    async fn a_model_on_one_host_only_goes_there_and_a_model_nowhere_names_the_hosts() {
        let (a, b) = (sim(&["gemma3:1b"]).await, sim(&["qwen3:0.6b"]).await);
        let p = pool(&[a.url(), b.url()], PoolSettings::default());
        p.refresh().await;
        for _ in 0..3 {
            let lease = p.choose("qwen3:0.6b", &[]).expect("a host has it");
            assert_eq!(lease.shown, b.url());
        }
        let err = p.choose("llama3", &[]).err().expect("nowhere");
        assert_eq!(
            err.to_string(),
            format!(
                "model `llama3` is not installed on any host of the pool (checked {}, {}); run `ollama pull llama3` on one of them",
                a.url(),
                b.url()
            )
        );
        let status = p.status();
        assert_eq!(status[0].version.as_deref(), Some("0.12.6"));
        assert_eq!(status[1].models_installed, ["qwen3:0.6b"]);
    }

    #[tokio::test]
    async fn the_least_busy_host_is_chosen_and_a_loaded_model_wins() {
        let (a, b) = (sim(&["gemma3:1b"]).await, sim(&["gemma3:1b"]).await);
        let p = pool(&[a.url(), b.url()], PoolSettings::default());
        p.refresh().await;
        let first = p.choose("gemma3:1b", &[]).expect("a host");
        let second = p.choose("gemma3:1b", &[]).expect("a host");
        assert_ne!(first.shown, second.shown, "both hosts share the work");
        second.succeeded();
        drop((first, second));
        // Now the model is loaded on the second host only: it goes there...
        let again = p.choose("gemma3:1b", &[]).expect("a host");
        assert_eq!(again.shown, p.status()[1].url);
        // ...while it has a free slot (4 by default); past that, the idle host takes work.
        let mut held = vec![again];
        for _ in 0..3 {
            held.push(p.choose("gemma3:1b", &[]).expect("a host"));
        }
        assert!(held.iter().all(|l| l.shown == p.status()[1].url));
        let fifth = p.choose("gemma3:1b", &[]).expect("a host");
        assert_eq!(fifth.shown, p.status()[0].url, "the loaded host is full");
    }

    #[tokio::test]
    async fn the_breaker_opens_after_consecutive_failures_and_a_probe_closes_it() {
        let (a, b) = (sim(&["gemma3:1b"]).await, sim(&["gemma3:1b"]).await);
        let settings = PoolSettings {
            failures_to_open: 2,
            cool_down: Duration::ZERO,
            ..PoolSettings::default()
        };
        let p = pool(&[a.url(), b.url()], settings);
        p.refresh().await;
        for _ in 0..2 {
            let l = p.choose("gemma3:1b", &[b.url()]).expect("a host");
            assert_eq!(l.shown, a.url());
            l.failed(&unreachable(&a.url()));
        }
        // Cool-down zero: half-open at once; one probe goes to the failed host...
        assert_eq!(p.status()[0].breaker, BreakerState::HalfOpen);
        let probe = p.choose("gemma3:1b", &[b.url()]).expect("a probe");
        assert_eq!(probe.shown, a.url());
        // ...and while it runs nothing else does.
        let other = p.choose("gemma3:1b", &[b.url()]).expect("the other host");
        assert_eq!(other.shown, b.url());
        probe.succeeded();
        assert_eq!(p.status()[0].breaker, BreakerState::Closed);
        assert_eq!(p.status()[0].consecutive_failures, 0);
    }

    #[tokio::test]
    async fn a_failed_probe_opens_the_breaker_again() {
        let a = sim(&["gemma3:1b"]).await;
        let settings = PoolSettings {
            failures_to_open: 1,
            cool_down: Duration::from_secs(3600),
            ..PoolSettings::default()
        };
        let p = pool(&[a.url()], settings);
        p.refresh().await;
        p.choose("gemma3:1b", &[])
            .expect("a host")
            .failed(&unreachable(&a.url()));
        assert_eq!(p.status()[0].breaker, BreakerState::Open);
        let err = p.choose("gemma3:1b", &[]).err().expect("nothing available");
        assert!(
            matches!(&err, PoolError::Unavailable { why, .. } if why[0].contains("circuit open after 1 failures")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_stopped_host_is_unreachable_after_refresh() {
        let (a, b) = (sim(&["gemma3:1b"]).await, sim(&["gemma3:1b"]).await);
        let p = pool(&[a.url(), b.url()], PoolSettings::default());
        a.stop();
        p.refresh().await;
        let s = p.status();
        assert_eq!((s[0].reachable, s[1].reachable), (Some(false), Some(true)));
        assert!(s[0].last_error.is_some());
    }

    #[tokio::test]
    async fn the_residency_gate_holds_another_model_while_the_loaded_one_has_work() {
        let a = sim(&["gemma3:1b", "qwen3:0.6b"]).await;
        let p = HostPool::new(
            vec![HostConfig {
                max_loaded_models: Some(1),
                ..HostConfig::new(&a.url())
            }],
            super::super::http_client(),
            PoolSettings::default(),
        );
        p.refresh().await;
        let mut g1 = p.choose("gemma3:1b", &[]).expect("a host");
        g1.admit(0).await;
        // qwen must wait while gemma is in use; a second gemma request joins at once.
        let mut q = p.choose("qwen3:0.6b", &[]).expect("a host");
        let waiting = tokio::spawn(async move {
            q.admit(5).await;
            q
        });
        let mut g2 = p.choose("gemma3:1b", &[]).expect("a host");
        g2.admit(0).await;
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(g1);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "gemma still has work");
        drop(g2);
        let q = waiting.await.expect("admitted once gemma drained");
        assert!(q.admitted);
    }

    #[tokio::test]
    async fn a_host_seen_evicting_gets_the_residency_gate_without_config() {
        let a = Simulator::start(
            SimConfig {
                models: vec!["gemma3:1b".into(), "qwen3:0.6b".into()],
                max_loaded: 1,
                ..SimConfig::default()
            },
            0,
        )
        .await
        .expect("simulator starts");
        let p = pool(&[a.url()], PoolSettings::default());
        let http = super::super::http_client();
        let chat = |model: &'static str| {
            let (http, url) = (http.clone(), a.url());
            async move {
                http.post(format!("{url}/api/chat"))
                    .json(&serde_json::json!({"model": model, "stream": false,
                        "messages": [{"role": "user", "content": "hi"}]}))
                    .send()
                    .await
                    .expect("simulator answers");
            }
        };
        // Between two looks the host swapped gemma for qwen: it holds one model.
        chat("gemma3:1b").await;
        p.refresh().await;
        chat("qwen3:0.6b").await;
        p.refresh().await;
        assert_eq!(p.status()[0].max_loaded_models, Some(1));
        let mut q = p.choose("qwen3:0.6b", &[]).expect("a host");
        q.admit(0).await;
        let mut g = p.choose("gemma3:1b", &[]).expect("a host");
        let waiting = tokio::spawn(async move {
            g.admit(0).await;
            g
        });
        tokio::task::yield_now().await;
        assert!(
            !waiting.is_finished(),
            "gemma would force a load while qwen has work"
        );
        drop(q);
        assert!(waiting.await.expect("admitted once qwen drained").admitted);
    }

    #[test]
    fn a_host_seen_swapping_models_is_taken_to_hold_that_many() {
        let mut st = HostState::default();
        let names = |v: &[&str]| v.iter().map(|m| m.to_string()).collect::<Vec<_>>();
        st.observe(&names(&["a:latest"]));
        st.observe(&names(&["a:latest", "b:latest"]));
        assert_eq!(st.observed_capacity, None, "growing is not an eviction");
        st.observe(&names(&["b:latest"]));
        assert_eq!(
            st.observed_capacity, None,
            "a model expiring is not one either"
        );
        st.observe(&names(&["c:latest"]));
        assert_eq!(
            st.observed_capacity,
            Some(1),
            "b went and c came: it holds one"
        );
    }

    #[test]
    fn among_waiters_a_loaded_model_then_the_longest_path_goes_first() {
        let mut st = HostState {
            loaded: vec!["b:latest".into()],
            ..HostState::default()
        };
        for (t, m, prio) in [(1, "a:latest", 9), (2, "b:latest", 1), (3, "c:latest", 20)] {
            st.waiting.push(Waiter {
                ticket: t,
                model: m.into(),
                priority: prio,
            });
        }
        assert!(st.admits(2, 1), "the loaded model first");
        st.loaded.clear();
        assert!(st.admits(3, 1), "then the longest remaining path");
        assert!(!st.admits(1, 1));
    }
}
