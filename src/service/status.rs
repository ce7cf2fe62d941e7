//! `orc status`: what orc can do right now, in one line for a person or a model (Claude Code's
//! session-start hook prints it into the session): which model servers answer with which models
//! loaded, how many of the project's ensembles can run with the models installed, and the
//! learning log's running total (read by the learn layer, which calls `status_with`). Every look is bounded by one deadline and fails open: a server
//! that does not answer in time is reported as such, never waited for.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use std::time::Duration;

use serde::Serialize;

use crate::backend::pool::{HostConfig, HostPool, HostStatus, PoolSettings, model_key};
use crate::compile::{CompiledEnsemble, Kind, ProviderKind};
use crate::service::Service;

/// One model server as the look found it.
#[derive(Debug, Clone, Serialize)]
pub struct HostLine {
    pub url: String,
    pub up: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub installed: usize,
    pub loaded: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An ensemble that cannot run now, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Blocked {
    pub ensemble: String,
    /// `model on host` for each model missing or whose host is down; or the compile error.
    pub missing: Vec<String>,
}

/// What `orc status` found.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Whether delegating to orc can work now (a server answers and an ensemble can run, or
    /// the project has none yet to run).
    pub available: bool,
    pub hosts: Vec<HostLine>,
    pub ensembles: usize,
    pub runnable: Vec<String>,
    pub blocked: Vec<Blocked>,
    /// Local runs in the learning log, their gross saving in Claude tokens and the net in
    /// dollars (gross - hand-over - judging), estimates; `None` when the log could not be read
    /// within the deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_runs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_saved_estimate: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_usd_estimate: Option<f64>,
    /// The one line.
    pub line: String,
}

/// The learning log's running total as the line shows it: local runs, their gross saving in
/// Claude tokens, and the net in dollars.
pub type Savings = (u64, u64, f64);

/// `http://localhost:11434` -> `localhost:11434`.
fn short(url: &str) -> &str {
    url.trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
}

/// The gist of a connection error, for one line.
fn brief(err: &str) -> String {
    let e = err.to_ascii_lowercase();
    if e.contains("connection refused") {
        "connection refused".into()
    } else if e.contains("dns") || e.contains("resolve") {
        "name not resolved".into()
    } else if e.contains("timed out") || e.contains("within") {
        "no answer in time".into()
    } else {
        clean(err).chars().take(60).collect()
    }
}

/// A name safe to print on one line for a terminal or a model.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(80)
        .collect()
}

impl Service {
    /// The Ollama hosts the project's agents use: each profile's `base_url` or the default
    /// host, plus the pool's hosts.
    fn status_hosts(&self) -> Vec<String> {
        let mut hosts: BTreeSet<String> = self.status_default_hosts().into_iter().collect();
        for p in self.project.profiles.by_name.values() {
            if p.spec.provider.as_deref() == Some("ollama")
                && let Some(u) = p.spec.base_url.as_deref()
            {
                hosts.insert(crate::backend::normalize_host(u));
            }
        }
        hosts.into_iter().collect()
    }

    /// Where an agent without a `base_url` runs: the pool's hosts, else the one default host.
    fn status_default_hosts(&self) -> Vec<String> {
        let pool = self.pool_hosts();
        if pool.is_empty() {
            vec![self.host_of(None)]
        } else {
            pool.iter()
                .map(|h| crate::backend::normalize_host(&h.url))
                .collect()
        }
    }

    /// Looks at everything within `deadline` and writes the line; `savings` reads the learning
    /// log's running total (the learn layer's, `learn::status::status`), `None` when it cannot.
    pub async fn status_with<F>(&self, deadline: Duration, savings: F) -> Status
    where
        F: FnOnce() -> Option<Savings> + Send + 'static,
    {
        // The learning log is read on its own thread: a long log never holds the line up.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(savings());
        });

        let urls = self.status_hosts();
        let pool = HostPool::new(
            urls.iter().map(|u| HostConfig::new(u)).collect(),
            crate::backend::http_client(),
            PoolSettings {
                probe_timeout: deadline,
                ..PoolSettings::default()
            },
        );
        let looked = tokio::time::timeout(deadline + Duration::from_millis(200), pool.refresh())
            .await
            .is_ok();
        let statuses: Vec<HostStatus> = pool.status();
        let hosts: Vec<HostLine> = statuses
            .iter()
            .map(|h| HostLine {
                url: crate::backend::normalize_host(&h.url),
                up: h.reachable == Some(true),
                version: h.version.clone(),
                installed: h.models_installed.len(),
                loaded: h.models_loaded.clone(),
                error: match h.reachable {
                    Some(true) => None,
                    _ if !looked => Some(format!("no answer within {} ms", deadline.as_millis())),
                    _ => Some(
                        h.last_error
                            .clone()
                            .unwrap_or_else(|| "no answer".to_string()),
                    ),
                },
            })
            .collect();
        let installed: BTreeMap<String, BTreeSet<String>> = statuses
            .iter()
            .filter(|h| h.reachable == Some(true))
            .map(|h| {
                (
                    crate::backend::normalize_host(&h.url),
                    h.models_installed.iter().map(|m| model_key(m)).collect(),
                )
            })
            .collect();

        let (runnable, blocked, ensembles) = self.runnable_now(&installed);
        let saving = rx.recv_timeout(deadline).ok().flatten();
        let (local_runs, saved, net) = match saving {
            Some((runs, saved, net)) => (Some(runs), Some(saved), Some(net)),
            None => (None, None, None),
        };
        let up: Vec<&HostLine> = hosts.iter().filter(|h| h.up).collect();
        let available = !up.is_empty() && (ensembles == 0 || !runnable.is_empty());
        let line = line(&hosts, ensembles, &runnable, &blocked, local_runs, net);
        Status {
            available,
            hosts,
            ensembles,
            runnable,
            blocked,
            local_runs,
            tokens_saved_estimate: saved,
            net_usd_estimate: net,
            line,
        }
    }

    /// Which active, valid ensembles have every model installed on a host that answered.
    fn runnable_now(
        &self,
        installed: &BTreeMap<String, BTreeSet<String>>,
    ) -> (Vec<String>, Vec<Blocked>, usize) {
        let defaults = self.status_default_hosts();
        let mut runnable = Vec::new();
        let mut blocked = Vec::new();
        let mut seen = BTreeSet::new();
        let listed: Vec<_> = self
            .list_ensembles()
            .into_iter()
            // The user's tiers: the examples shipped with orc are not the project's ensembles.
            .filter(|e| e.tier != crate::load::project::Tier::Packaged)
            .filter(|e| e.valid && !e.shadowed && e.used_instead.is_none())
            .filter(|e| seen.insert(e.name.clone()))
            .collect();
        for e in &listed {
            let missing = match self.compile(&e.name) {
                Err(err) => vec![clean(&err.to_string())],
                Ok((ens, _)) => missing_models(&ens, &defaults, installed),
            };
            if missing.is_empty() {
                runnable.push(clean(&e.name));
            } else {
                blocked.push(Blocked {
                    ensemble: clean(&e.name),
                    missing,
                });
            }
        }
        (runnable, blocked, listed.len())
    }
}

/// `model on host` for every Ollama model of `ens` (nested ensembles included) that no
/// answering host of its own has installed.
fn missing_models(
    ens: &CompiledEnsemble,
    defaults: &[String],
    installed: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![ens];
    let mut seen = BTreeSet::new();
    while let Some(e) = stack.pop() {
        if !seen.insert(e.name.clone()) {
            continue;
        }
        for a in &e.agents {
            match &a.kind {
                Kind::Llm(l) if matches!(l.provider, ProviderKind::Ollama) => {
                    let hosts: Vec<String> = match l.base_url.as_deref() {
                        Some(u) => vec![crate::backend::normalize_host(u)],
                        None => defaults.to_vec(),
                    };
                    let want = model_key(&l.model);
                    let ok = hosts
                        .iter()
                        .any(|h| installed.get(h).is_some_and(|m| m.contains(&want)));
                    if !ok {
                        out.insert(format!(
                            "{} on {}",
                            clean(&l.model),
                            hosts.first().map(|h| short(h)).unwrap_or("?")
                        ));
                    }
                }
                Kind::Llm(l) if matches!(l.provider, ProviderKind::Cloud(_)) => {
                    out.insert(format!("{} (a cloud model)", clean(&l.model)));
                }
                Kind::Ensemble { child, .. } | Kind::Loop { child, .. } => stack.push(child),
                _ => {}
            }
        }
    }
    out.into_iter().collect()
}

/// The one line: what works, or why orc cannot be used this session.
fn line(
    hosts: &[HostLine],
    ensembles: usize,
    runnable: &[String],
    blocked: &[Blocked],
    local_runs: Option<u64>,
    net_usd: Option<f64>,
) -> String {
    let up: Vec<&HostLine> = hosts.iter().filter(|h| h.up).collect();
    if up.is_empty() {
        let why: Vec<String> = hosts
            .iter()
            .map(|h| {
                format!(
                    "{}: {}",
                    short(&h.url),
                    brief(h.error.as_deref().unwrap_or("no answer"))
                )
            })
            .collect();
        return format!(
            "orc: unavailable, no model server answers ({}); do tasks directly and do not call orc's tools this session",
            why.join("; ")
        );
    }
    let where_ = up
        .iter()
        .map(|h| short(&h.url).to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let loaded: BTreeSet<&str> = up
        .iter()
        .flat_map(|h| h.loaded.iter().map(String::as_str))
        .collect();
    let loaded = if loaded.is_empty() {
        String::new()
    } else {
        format!(
            " ({} loaded)",
            loaded
                .iter()
                .map(|m| clean(m))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let history = match (local_runs, net_usd) {
        (Some(n), Some(net)) if n > 0 => format!(
            "; {n} local run(s) logged, net {} so far (estimate: gross - hand-over - judging)",
            if net < 0.0 {
                format!("LOSS of ~${:.4}", -net)
            } else {
                format!("saving ~${net:.4}")
            }
        ),
        _ => String::new(),
    };
    if ensembles == 0 {
        return format!(
            "orc: {where_} answers{loaded}; no ensembles in this project yet (route_task suggests a shape){history}"
        );
    }
    if runnable.is_empty() {
        let missing: BTreeSet<&str> = blocked
            .iter()
            .flat_map(|b| b.missing.iter().map(String::as_str))
            .take(4)
            .collect();
        return format!(
            "orc: unavailable, no ensemble can run with the models installed (missing: {}; `orc validate --runnable` says what to pull); do tasks directly and do not call orc's tools unless the user sets them up",
            missing.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    format!(
        "orc: {} of {ensembles} ensembles runnable on {where_}{loaded}{history}",
        runnable.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(up: bool, loaded: &[&str]) -> HostLine {
        HostLine {
            url: "http://localhost:11434".into(),
            up,
            version: None,
            installed: 3,
            loaded: loaded.iter().map(|s| s.to_string()).collect(),
            error: (!up).then(|| "connection refused".into()),
        }
    }

    #[test]
    fn one_line_for_each_case() {
        let l = line(
            &[host(true, &["qwen3:0.6b"])],
            4,
            &["a".into(), "b".into(), "c".into()],
            &[],
            Some(12),
            Some(0.0412),
        );
        assert_eq!(
            l,
            "orc: 3 of 4 ensembles runnable on localhost:11434 (qwen3:0.6b loaded); 12 local run(s) logged, net saving ~$0.0412 so far (estimate: gross - hand-over - judging)"
        );
        let l = line(
            &[host(true, &[])],
            1,
            &["a".into()],
            &[],
            Some(3),
            Some(-0.0123),
        );
        assert!(
            l.ends_with("3 local run(s) logged, net LOSS of ~$0.0123 so far (estimate: gross - hand-over - judging)"),
            "{l}"
        );
        let l = line(&[host(false, &[])], 4, &[], &[], None, None);
        assert!(
            l.starts_with(
                "orc: unavailable, no model server answers (localhost:11434: connection refused)"
            ),
            "{l}"
        );
        let b = Blocked {
            ensemble: "x".into(),
            missing: vec!["gemma3:4b on localhost:11434".into()],
        };
        let l = line(&[host(true, &[])], 1, &[], &[b], None, None);
        assert!(l.contains("missing: gemma3:4b on localhost:11434"), "{l}");
        assert!(!l.contains('\n'));
    }
}
