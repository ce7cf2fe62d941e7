//! `performance:` in config.yaml: concurrency and slot limits, execution limits, the script and
//! result caches, the run budget; and how they are read.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::load::spec::Reader;
use crate::load::yaml::{Entry, Node, Value};

/// Default for `performance.execution.max_response_bytes`: what one model response may hold.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// The default cap on one fan-out's instances.
pub const DEFAULT_MAX_FAN_OUT: u64 = 10_000;

/// `performance:` settings, defaults as in llm-orc plus orc's slot limits.
#[derive(Debug, Clone, Serialize)]
pub struct Performance {
    /// Most agents in flight at once; 0 = unlimited.
    pub max_concurrent_agents: u64,
    /// Most requests in flight per (host, model).
    pub per_model_limit: u64,
    /// Per-host overrides of `per_model_limit`, keyed by base URL.
    pub hosts: BTreeMap<String, u64>,
    pub default_timeout: f64,
    pub max_ensemble_depth: u64,
    /// Most instances one `fan_out` agent may expand into (`performance.execution.max_fan_out`).
    pub max_fan_out: u64,
    /// What one model response may hold, in bytes (orc; default 64 MiB).
    pub max_response_bytes: u64,
    /// Stream Ollama responses: `None` = when someone watches progress, else as set.
    pub streaming_enabled: Option<bool>,
    pub script_cache_enabled: bool,
    /// `performance.budget.tokens_per_run`: no agent starts once a run has counted this many.
    pub budget_tokens: Option<u64>,
    /// `performance.budget.cost_usd_per_run` (zero-cost local models never count).
    pub budget_cost_usd: Option<f64>,
    /// `performance.result_cache`.
    pub result_cache: ResultCache,
    /// `performance.execution.host_cool_down`: seconds a failing pool host's breaker stays
    /// open before one request may probe it.
    pub host_cool_down: f64,
    /// `performance.execution.idle_timeout`: seconds a streamed request to a pool host may go
    /// without a complete message (first token, then each chunk) before that host counts as
    /// failed and the request moves to another host with the model (None: the agent's timeout).
    pub idle_timeout: Option<f64>,
}

/// When a model answer may be reused from `.llm-orc/cache/` (`performance.result_cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheMode {
    /// Never (the default).
    #[default]
    Off,
    /// Only answers to deterministic requests (temperature 0 or a fixed seed): `true`.
    Deterministic,
    /// Every answer: `always`.
    Always,
}

/// `performance.result_cache`: `true`, `false`, `always`, or a mapping with `enabled`,
/// `max_mb` and `max_age_hours`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ResultCache {
    pub mode: CacheMode,
    pub max_mb: u64,
    pub max_age_hours: f64,
}

impl Default for ResultCache {
    fn default() -> Self {
        ResultCache {
            mode: CacheMode::Off,
            max_mb: 256,
            max_age_hours: 168.0,
        }
    }
}

impl Default for Performance {
    fn default() -> Self {
        Performance {
            max_concurrent_agents: 0,
            per_model_limit: 4,
            hosts: BTreeMap::new(),
            default_timeout: 60.0,
            max_ensemble_depth: 5,
            max_fan_out: DEFAULT_MAX_FAN_OUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            streaming_enabled: None,
            script_cache_enabled: false,
            budget_tokens: None,
            budget_cost_usd: None,
            result_cache: ResultCache::default(),
            host_cool_down: 10.0,
            idle_timeout: None,
        }
    }
}

fn read_budget(r: &mut Reader<'_>, e: &Entry, perf: &mut Performance) {
    let Some(entries) = e.value.as_map() else {
        if !e.value.is_null() {
            r.sink
                .error(e.value.pos, "`performance.budget` must be a mapping");
        }
        return;
    };
    for b in entries {
        match b.key.as_str() {
            "tokens_per_run" => match r.unsigned(b) {
                Some(0) => {
                    r.sink
                        .error(b.value.pos, "`tokens_per_run` must be at least 1");
                }
                n => perf.budget_tokens = n.or(perf.budget_tokens),
            },
            "cost_usd_per_run" => match r.number(b) {
                Some(x) if x <= 0.0 => {
                    r.sink
                        .error(b.value.pos, "`cost_usd_per_run` must be above 0");
                }
                x => perf.budget_cost_usd = x.or(perf.budget_cost_usd),
            },
            _ => r.unknown_key(
                b,
                "`performance.budget`",
                &["tokens_per_run", "cost_usd_per_run"],
            ),
        }
    }
}

fn cache_mode(r: &mut Reader<'_>, e: &Entry) -> Option<CacheMode> {
    match &e.value.value {
        Value::Str(s) if s == "always" => Some(CacheMode::Always),
        _ => r.boolean(e).map(|on| {
            if on {
                CacheMode::Deterministic
            } else {
                CacheMode::Off
            }
        }),
    }
}

fn read_result_cache(r: &mut Reader<'_>, e: &Entry, cache: &mut ResultCache) {
    let Some(entries) = e.value.as_map() else {
        if let Some(mode) = cache_mode(r, e) {
            cache.mode = mode;
        }
        return;
    };
    for c in entries {
        match c.key.as_str() {
            "enabled" => {
                if let Some(mode) = cache_mode(r, c) {
                    cache.mode = mode;
                }
            }
            "max_mb" => match r.unsigned(c) {
                Some(0) => {
                    r.sink.error(c.value.pos, "`max_mb` must be at least 1");
                }
                Some(n) => cache.max_mb = n,
                None => {}
            },
            "max_age_hours" => match r.number(c) {
                Some(h) if h <= 0.0 || h > 24.0 * 3650.0 => {
                    r.sink.error(
                        c.value.pos,
                        "`max_age_hours` must be above 0 and at most ten years",
                    );
                }
                Some(h) => cache.max_age_hours = h,
                None => {}
            },
            _ => r.unknown_key(
                c,
                "`performance.result_cache`",
                &["enabled", "max_mb", "max_age_hours"],
            ),
        }
    }
}

pub(super) fn read_performance(r: &mut Reader<'_>, node: &Node, perf: &mut Performance) {
    let Some(entries) = node.as_map() else {
        if !node.is_null() {
            r.sink.error(node.pos, "`performance` must be a mapping");
        }
        return;
    };
    for e in entries {
        match e.key.as_str() {
            "concurrency" => read_concurrency(r, &e.value, perf),
            "execution" => read_execution(r, &e.value, perf),
            "script_cache" => match &e.value.value {
                Value::Bool(b) => perf.script_cache_enabled = *b,
                Value::Map(_) => {
                    if let Some(en) = e.value.get("enabled") {
                        perf.script_cache_enabled = r.boolean(en).unwrap_or(false);
                    }
                }
                _ => {}
            },
            "budget" => read_budget(r, e, perf),
            "result_cache" => read_result_cache(r, e, &mut perf.result_cache),
            "memory" | "streaming_enabled" | "monitoring_enabled" => {}
            _ => r.unknown_key(
                e,
                "`performance`",
                &[
                    "concurrency",
                    "execution",
                    "script_cache",
                    "budget",
                    "result_cache",
                    "memory",
                ],
            ),
        }
    }
}

/// `performance.concurrency`: agents in flight, the per-model limit, per-host limits.
fn read_concurrency(r: &mut Reader<'_>, node: &Node, perf: &mut Performance) {
    for c in node.as_map().unwrap_or_default() {
        match c.key.as_str() {
            "max_concurrent_agents" => {
                if let Some(n) = r.unsigned(c) {
                    perf.max_concurrent_agents = n;
                }
            }
            "per_model_limit" => match r.unsigned(c) {
                Some(0) => {
                    r.sink
                        .error(c.value.pos, "`per_model_limit` must be at least 1");
                }
                Some(n) => perf.per_model_limit = n,
                None => {}
            },
            "hosts" => {
                for h in c.value.as_map().unwrap_or_default() {
                    let limit = h
                        .value
                        .get("per_model_limit")
                        .and_then(|l| r.unsigned(l))
                        .filter(|n| *n > 0);
                    match limit {
                        Some(n) => {
                            perf.hosts
                                .insert(h.key.trim_end_matches('/').to_string(), n);
                        }
                        None => {
                            r.sink.error(
                                h.value.pos,
                                format!("host `{}` needs `per_model_limit: N` (N >= 1)", h.key),
                            );
                        }
                    }
                }
            }
            "connection_pool" | "request_timeout" => {}
            _ => r.unknown_key(
                c,
                "`performance.concurrency`",
                &[
                    "max_concurrent_agents",
                    "per_model_limit",
                    "hosts",
                    "connection_pool",
                    "request_timeout",
                ],
            ),
        }
    }
}

/// `performance.execution`: timeouts, nesting and fan-out limits, response cap, streaming.
fn read_execution(r: &mut Reader<'_>, node: &Node, perf: &mut Performance) {
    for x in node.as_map().unwrap_or_default() {
        match x.key.as_str() {
            "default_timeout" => {
                if let Some(n) = r.seconds(x) {
                    perf.default_timeout = n;
                }
            }
            "max_ensemble_depth" => {
                if let Some(n) = r.unsigned(x) {
                    perf.max_ensemble_depth = n;
                }
            }
            "max_fan_out" => match r.unsigned(x) {
                Some(0) => {
                    r.sink
                        .error(x.value.pos, "`max_fan_out` must be at least 1");
                }
                Some(n) => perf.max_fan_out = n,
                None => {}
            },
            "streaming_enabled" => {
                if let Some(b) = r.boolean(x) {
                    perf.streaming_enabled = Some(b);
                }
            }
            "max_response_bytes" => match r.unsigned(x) {
                Some(0) => {
                    r.sink
                        .error(x.value.pos, "`max_response_bytes` must be at least 1");
                }
                Some(n) => perf.max_response_bytes = n,
                None => {}
            },
            "host_cool_down" => {
                if let Some(n) = r.seconds(x) {
                    perf.host_cool_down = n;
                }
            }
            "idle_timeout" => {
                if let Some(n) = r.seconds(x) {
                    perf.idle_timeout = Some(n);
                }
            }
            "monitoring_enabled" => {}
            _ => r.unknown_key(
                x,
                "`performance.execution`",
                &[
                    "host_cool_down",
                    "idle_timeout",
                    "default_timeout",
                    "max_ensemble_depth",
                    "max_fan_out",
                    "streaming_enabled",
                    "max_response_bytes",
                    "monitoring_enabled",
                ],
            ),
        }
    }
}
