//! Discovery: what each host runs (`/api/version`), has installed (`/api/tags`) and has
//! loaded (`/api/ps`), looked at before a run, in the background while it lasts, and after a
//! failure; and what two looks in a row tell of how many models a host holds.

use std::sync::{Arc, Weak};

use serde::Deserialize;

use super::{HostPool, HostState, lock, model_key};

impl HostState {
    /// Learns what the host can hold from two successive `/api/ps` answers: when models went
    /// and others came while the count did not grow, the host evicted to make room, so it holds
    /// at most that many.
    pub(super) fn observe(&mut self, now: &[String]) {
        if let Some(before) = &self.ps_loaded {
            let went = before.iter().any(|m| !now.contains(m));
            let came = now.iter().any(|m| !before.contains(m));
            if went && came && !now.is_empty() && now.len() <= before.len() {
                let cap = now.len();
                self.observed_capacity = Some(self.observed_capacity.map_or(cap, |c| c.min(cap)));
            }
        }
        self.ps_loaded = Some(now.to_vec());
    }
}

impl HostPool {
    /// Looks at every host at once: version, installed and loaded models.
    pub async fn refresh(&self) {
        futures::future::join_all((0..self.hosts.len()).map(|i| self.refresh_host(i))).await;
    }

    pub(super) async fn refresh_host(&self, i: usize) {
        let host = &self.hosts[i];
        let looked = tokio::time::timeout(self.settings.probe_timeout, async {
            let version = get_json::<Version>(&self.http, &host.base, "/api/version").await;
            let tags = crate::backend::ollama::installed_models(&self.http, &host.base).await;
            let ps = get_json::<Ps>(&self.http, &host.base, "/api/ps").await;
            (version, tags, ps)
        })
        .await;
        let mut st = lock(&host.state);
        st.refreshing = false;
        match looked {
            Ok((version, Ok(tags), ps)) => {
                st.reachable = Some(true);
                st.version = version.ok().map(|v| v.version);
                st.installed = Some(tags.models.iter().map(|m| model_key(m)).collect());
                if let Ok(ps) = ps {
                    let now: Vec<String> = ps
                        .models
                        .iter()
                        .filter_map(|m| m.name.as_deref().or(m.model.as_deref()))
                        .map(model_key)
                        .collect();
                    st.observe(&now);
                    st.loaded = now;
                }
                // A host that answers its probes may still fail requests (a hung generation):
                // the request's error stays while it counts toward the breaker.
                if st.failures == 0 {
                    st.last_error = None;
                }
            }
            Ok((_, Err(e), _)) => {
                st.reachable = Some(false);
                st.last_error = Some(e.to_string());
            }
            Err(_) => {
                st.reachable = Some(false);
                st.last_error = Some(format!(
                    "no answer within {} s",
                    self.settings.probe_timeout.as_secs_f64()
                ));
            }
        }
        drop(st);
        host.changed.notify_waiters();
    }

    /// Refreshes every `refresh_every` while the pool is alive.
    pub fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak: Weak<HostPool> = Arc::downgrade(self);
        let every = self.settings.refresh_every;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(pool) = weak.upgrade() else { break };
                pool.refresh().await;
            }
        })
    }
}

#[derive(Deserialize)]
struct Version {
    version: String,
}

#[derive(Deserialize)]
struct Ps {
    #[serde(default)]
    models: Vec<PsModel>,
}

/// Ollama sends both `name` and `model` (a serde alias would reject that as a duplicate).
#[derive(Deserialize)]
struct PsModel {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    model: Option<String>,
}

/// What a discovery answer may hold.
const MAX_DISCOVERY_BYTES: u64 = 1024 * 1024;

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    base: &str,
    path: &str,
) -> Result<T, String> {
    let mut resp = http
        .get(format!("{base}{path}"))
        .send()
        .await
        .map_err(|e| crate::backend::describe(&e))?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status().as_u16()));
    }
    match crate::backend::read_capped(&mut resp, MAX_DISCOVERY_BYTES).await {
        Ok(Ok(body)) => serde_json::from_slice(&body).map_err(|e| e.to_string()),
        Ok(Err(cap)) => Err(format!("answer larger than {}", crate::backend::size(cap))),
        Err(e) => Err(crate::backend::describe(&e)),
    }
}
