//! The pool of Ollama hosts (`hosts:` in config.yaml, `OLLAMA_HOSTS`): building it for a run,
//! and `orc hosts` (each host's state).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::backend::pool::{HostConfig, HostPool, HostStatus, PoolSettings};
use crate::load::project::{HostEntry, hosts_from_env};
use crate::service::Service;

/// What `orc hosts` shows.
#[derive(Debug, Clone, Serialize)]
pub struct HostsReport {
    /// Whether runs use a pool (`hosts:` or `OLLAMA_HOSTS`); else the one host.
    pub pool: bool,
    pub hosts: Vec<HostStatus>,
}

impl Service {
    /// The pool's hosts: `OLLAMA_HOSTS` when set (keeping config.yaml's settings for the same
    /// URL), else config.yaml's `hosts:`; empty = no pool.
    pub(crate) fn pool_hosts(&self) -> Vec<HostEntry> {
        let configured = &self.project.config.hosts;
        match self.env.ollama_hosts.as_deref() {
            Some(env) => hosts_from_env(configured, env),
            None => configured.clone(),
        }
    }

    /// A pool for one run, or None when no pool is configured.
    pub(crate) fn host_pool(&self, http: &reqwest::Client) -> Option<Arc<HostPool>> {
        let hosts = self.pool_hosts();
        if hosts.is_empty() {
            return None;
        }
        Some(self.pool_of(hosts, http.clone()))
    }

    fn pool_of(&self, hosts: Vec<HostEntry>, http: reqwest::Client) -> Arc<HostPool> {
        let perf = &self.project.config.performance;
        let settings = PoolSettings {
            cool_down: Duration::try_from_secs_f64(perf.host_cool_down.max(0.0))
                .unwrap_or(PoolSettings::default().cool_down),
            ..PoolSettings::default()
        };
        let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        let cfgs = hosts
            .into_iter()
            .map(|h| HostConfig {
                url: h.url,
                per_model_limit: h.per_model_limit.map(to_usize),
                priority: h.priority,
                max_loaded_models: h.max_loaded_models.map(to_usize),
            })
            .collect();
        HostPool::new(cfgs, http, settings)
    }

    /// `orc hosts`: each host of the pool as one look finds it; without a pool, the one host
    /// (`OLLAMA_HOST` or localhost).
    pub async fn hosts(&self) -> HostsReport {
        let mut hosts = self.pool_hosts();
        let pool = !hosts.is_empty();
        if !pool {
            hosts.push(HostEntry::new(&crate::backend::hosts::ollama_host(
                None,
                self.env.ollama_host.as_deref(),
            )));
        }
        let p = self.pool_of(hosts, crate::backend::http_client());
        p.refresh().await;
        HostsReport {
            pool,
            hosts: p.status(),
        }
    }
}
