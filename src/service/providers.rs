//! Model servers: which hosts answer with which models, and whether an ensemble can run.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::compile::{Kind, ProviderKind, model_size_b};
use crate::service::{Service, ServiceError};

impl Service {
    /// Ollama hosts the project's profiles use (base_url or OLLAMA_HOST) with their profiles.
    fn ollama_hosts(&self) -> BTreeMap<String, Vec<String>> {
        let default = crate::backend::hosts::ollama_host(None, self.env.ollama_host.as_deref());
        let mut hosts: BTreeMap<String, Vec<String>> = BTreeMap::new();
        hosts.entry(default.clone()).or_default();
        for p in self.project.profiles.by_name.values() {
            if p.spec.provider.as_deref() == Some("ollama") {
                let h = p
                    .spec
                    .base_url
                    .as_deref()
                    .map(crate::backend::normalize_host)
                    .unwrap_or_else(|| default.clone());
                hosts.entry(h).or_default().push(p.spec.name.clone());
            }
        }
        hosts
    }

    pub async fn mcp_provider_status(&self) -> Value {
        let http = crate::backend::http_client();
        let mut ollama = Vec::new();
        for (host, profiles) in self.ollama_hosts() {
            let r = tokio::time::timeout(
                Duration::from_secs(5),
                crate::backend::ollama::installed_models(&http, &host),
            )
            .await;
            let entry = match r {
                Ok(Ok(list)) => {
                    let mut models = list.models;
                    models.sort();
                    let mut entry = json!({"host": host, "available": true, "models": models, "model_count": models.len(), "profiles": profiles});
                    if let Some(why) = list.truncated {
                        entry["truncated"] = json!(why);
                    }
                    entry
                }
                Ok(Err(e)) => {
                    json!({"host": host, "available": false, "reason": e.to_string(), "profiles": profiles})
                }
                Err(_) => {
                    json!({"host": host, "available": false, "reason": "no answer within 5 s", "profiles": profiles})
                }
            };
            ollama.push(entry);
        }
        let first = ollama.first().cloned().unwrap_or(json!({}));
        let endpoints: Vec<Value> =
            self.project
                .profiles
                .by_name
                .values()
                .filter(|p| {
                    p.spec.provider.as_deref().is_some_and(|pr| {
                        pr.starts_with("openai-compatible") || pr == "llama-server"
                    })
                })
                .filter_map(|p| p.spec.base_url.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .map(|u| json!({"base_url": u}))
                .collect();
        let mut first_ollama = json!({"available": first["available"], "host": first["host"], "models": first["models"], "model_count": first["model_count"], "reason": first["reason"], "hosts": ollama});
        if let Some(why) = first.get("truncated") {
            first_ollama["truncated"] = why.clone();
        }
        // The pool (`hosts:` / OLLAMA_HOSTS), each host as `orc hosts --format json` shows it.
        let report = self.hosts().await;
        if report.pool {
            first_ollama["pool"] = serde_json::to_value(&report.hosts).unwrap_or_default();
        }
        json!({"providers": {
            "ollama": first_ollama,
            "openai-compatible": {"available": !endpoints.is_empty(), "endpoints": endpoints},
            "anthropic-api": {"available": false, "reason": "cloud providers are not runnable by orc"},
            "google-gemini": {"available": false, "reason": "cloud providers are not runnable by orc"},
        }})
    }

    /// For each LLM agent: is its model installed where it will run? If not, the installed
    /// model of the nearest size that could stand in.
    pub async fn mcp_check_runnable(&self, name: &str) -> Result<Value, ServiceError> {
        let (ens, _) = self.compile(name)?;
        let http = crate::backend::http_client();
        let default = crate::backend::hosts::ollama_host(None, self.env.ollama_host.as_deref());
        let mut installed: BTreeMap<String, Result<crate::backend::ollama::ModelList, String>> =
            BTreeMap::new();
        let mut rows = Vec::new();
        let mut runnable = true;
        let mut stack = vec![ens.clone()];
        let mut seen = std::collections::HashSet::new();
        while let Some(e) = stack.pop() {
            if !seen.insert(e.name.clone()) {
                continue;
            }
            for a in &e.agents {
                match &a.kind {
                    Kind::Llm(l) => {
                        let (status, alternatives, host) = match &l.provider {
                            ProviderKind::Cloud(p) => {
                                (format!("not runnable: cloud provider {p}"), vec![], None)
                            }
                            ProviderKind::Unknown(p) => (
                                format!(
                                    "not runnable: unknown provider {p} (runs on its fallback)"
                                ),
                                vec![],
                                None,
                            ),
                            ProviderKind::OpenaiCompatible => (
                                "assumed available (openai-compatible)".to_string(),
                                vec![],
                                l.base_url.clone(),
                            ),
                            ProviderKind::LlamaServer => (
                                "assumed available (llama-server)".to_string(),
                                vec![],
                                Some(crate::backend::hosts::llama_server_url(
                                    l.base_url.as_deref(),
                                    self.env.llama_server_url.as_deref(),
                                )),
                            ),
                            ProviderKind::Ollama => {
                                let host = l
                                    .base_url
                                    .as_deref()
                                    .map(crate::backend::normalize_host)
                                    .unwrap_or_else(|| default.clone());
                                if !installed.contains_key(&host) {
                                    let r = tokio::time::timeout(
                                        Duration::from_secs(5),
                                        crate::backend::ollama::installed_models(&http, &host),
                                    )
                                    .await
                                    .map_err(|_| "no answer within 5 s".to_string())
                                    .and_then(|r| r.map_err(|e| e.to_string()));
                                    installed.insert(host.clone(), r);
                                }
                                match &installed[&host] {
                                    Err(e) => (format!("unreachable: {e}"), vec![], Some(host)),
                                    Ok(list) if has_model(&list.models, &l.model) => {
                                        ("available".to_string(), vec![], Some(host))
                                    }
                                    Ok(list) => (
                                        match &list.truncated {
                                            None => "missing".to_string(),
                                            Some(why) => {
                                                format!("missing from the models listed ({why})")
                                            }
                                        },
                                        nearest(&list.models, &l.model),
                                        Some(host),
                                    ),
                                }
                            }
                        };
                        if status != "available" && !status.starts_with("assumed") {
                            runnable = false;
                        }
                        rows.push(json!({
                            "name": if e.name == ens.name { a.name.clone() } else { format!("{}/{}", e.name, a.name) },
                            "profile": l.profile, "provider": l.provider.name(), "model": l.model, "host": host,
                            "status": status, "alternatives": alternatives,
                            "hint": if status.starts_with("missing") { Some(format!("ollama pull {}", l.model)) } else { None },
                        }));
                    }
                    Kind::Ensemble { child, .. } | Kind::Loop { child, .. } => {
                        stack.push(child.clone())
                    }
                    _ => {}
                }
            }
        }
        Ok(json!({"ensemble": ens.name, "runnable": runnable, "agents": rows}))
    }

    pub(crate) fn host_of(&self, base_url: Option<&str>) -> String {
        crate::backend::hosts::ollama_host(base_url, self.env.ollama_host.as_deref())
    }

    pub(crate) async fn installed_by_host(&self) -> BTreeMap<String, Result<Vec<String>, String>> {
        let http = crate::backend::http_client();
        let mut out = BTreeMap::new();
        for host in self.ollama_hosts().into_keys() {
            let r = tokio::time::timeout(
                Duration::from_secs(5),
                crate::backend::ollama::installed_models(&http, &host),
            )
            .await
            .map_err(|_| "no answer within 5 s".to_string())
            .and_then(|r| r.map(|l| l.models).map_err(|e| e.to_string()));
            out.insert(host, r);
        }
        out
    }
}

pub(crate) fn has_model(installed: &[String], model: &str) -> bool {
    let want = if model.contains(':') {
        model.to_string()
    } else {
        format!("{model}:latest")
    };
    installed.iter().any(|m| *m == want || m == model)
}

/// Installed models ordered by how close their size is to `model`'s (the closest first).
pub(crate) fn nearest(installed: &[String], model: &str) -> Vec<String> {
    let want = model_size_b(model);
    let mut v: Vec<(f64, &String)> = installed
        .iter()
        .map(|m| {
            let d = match (want, model_size_b(m)) {
                (Some(a), Some(b)) => (a.ln() - b.ln()).abs(),
                _ => f64::MAX / 2.0,
            };
            (d, m)
        })
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    v.into_iter().take(3).map(|(_, m)| m.clone()).collect()
}
