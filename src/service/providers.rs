//! Model servers: which hosts answer with which models, and whether an ensemble can run.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::time::Duration;

use crate::backend::ollama::ModelList;
use crate::backend::pool::HostStatus;
use crate::compile::{Kind, LlmAgent, ProviderKind, model_size_b};
use crate::service::{Service, ServiceError};

/// What `get_provider_status` reports.
#[derive(Debug, Clone)]
pub struct ProviderStatus {
    /// Every Ollama host the profiles use (the default first among equals), with its profiles.
    pub ollama: Vec<OllamaHost>,
    /// The `base_url`s of the OpenAI-compatible and llama-server profiles, sorted.
    pub endpoints: Vec<String>,
    /// The pool's hosts, when runs use a pool.
    pub pool: Option<Vec<HostStatus>>,
}

/// One Ollama host: its installed models (sorted), or why it did not answer.
#[derive(Debug, Clone)]
pub struct OllamaHost {
    pub host: String,
    pub profiles: Vec<String>,
    pub models: Result<ModelList, String>,
}

/// Whether an ensemble's models are where its agents will run.
#[derive(Debug, Clone)]
pub struct RunnableCheck {
    pub ensemble: String,
    pub runnable: bool,
    pub agents: Vec<AgentModel>,
}

/// One LLM agent's model (`name` is `child/agent` for a nested ensemble's agent).
#[derive(Debug, Clone)]
pub struct AgentModel {
    pub name: String,
    pub profile: Option<String>,
    pub provider: String,
    pub model: String,
    pub host: Option<String>,
    pub status: ModelStatus,
    /// For a missing model: the installed ones nearest in size.
    pub alternatives: Vec<String>,
}

/// Where one agent's model stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelStatus {
    /// Installed on its Ollama host.
    Available,
    /// Not asked: the server (this provider) is taken to have it.
    Assumed(&'static str),
    /// Not installed; `truncated` says why the host listed only some of its models.
    Missing { truncated: Option<String> },
    /// Its Ollama host did not answer (why).
    Unreachable(String),
    /// A cloud provider, which orc cannot run.
    Cloud(String),
    /// A provider nobody knows (the agent runs on its fallback).
    UnknownProvider(String),
}

impl ModelStatus {
    /// Whether the agent can run as things stand.
    pub fn runs(&self) -> bool {
        matches!(self, ModelStatus::Available | ModelStatus::Assumed(_))
    }
}

/// The words of `check_ensemble_runnable`'s `status`.
impl fmt::Display for ModelStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelStatus::Available => write!(f, "available"),
            ModelStatus::Assumed(provider) => write!(f, "assumed available ({provider})"),
            ModelStatus::Missing { truncated: None } => write!(f, "missing"),
            ModelStatus::Missing {
                truncated: Some(why),
            } => write!(f, "missing from the models listed ({why})"),
            ModelStatus::Unreachable(e) => write!(f, "unreachable: {e}"),
            ModelStatus::Cloud(p) => write!(f, "not runnable: cloud provider {p}"),
            ModelStatus::UnknownProvider(p) => {
                write!(
                    f,
                    "not runnable: unknown provider {p} (runs on its fallback)"
                )
            }
        }
    }
}

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

    /// Which Ollama hosts answer with which models, the OpenAI-compatible endpoints the
    /// profiles name, and the pool's hosts when there is one.
    pub async fn provider_status(&self) -> ProviderStatus {
        let http = crate::backend::http_client();
        let mut ollama = Vec::new();
        for (host, profiles) in self.ollama_hosts() {
            let r = tokio::time::timeout(
                Duration::from_secs(5),
                crate::backend::ollama::installed_models(&http, &host),
            )
            .await;
            let models = match r {
                Ok(Ok(mut list)) => {
                    list.models.sort();
                    Ok(list)
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("no answer within 5 s".to_string()),
            };
            ollama.push(OllamaHost {
                host,
                profiles,
                models,
            });
        }
        let endpoints =
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
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
        // The pool (`hosts:` / OLLAMA_HOSTS), each host as `orc hosts --format json` shows it.
        let report = self.hosts().await;
        ProviderStatus {
            ollama,
            endpoints,
            pool: report.pool.then_some(report.hosts),
        }
    }

    /// For each LLM agent (of nested ensembles too): is its model installed where it will
    /// run? If not, the installed models of the nearest size that could stand in.
    pub async fn check_runnable(&self, name: &str) -> Result<RunnableCheck, ServiceError> {
        let (ens, _) = self.compile(name)?;
        let http = crate::backend::http_client();
        let mut installed = BTreeMap::new();
        let mut agents = Vec::new();
        let mut stack = vec![ens.clone()];
        let mut seen = HashSet::new();
        while let Some(e) = stack.pop() {
            if !seen.insert(e.name.clone()) {
                continue;
            }
            for a in &e.agents {
                match &a.kind {
                    Kind::Llm(l) => {
                        let (status, host) = self.model_status(l, &http, &mut installed).await;
                        let alternatives = match (&status, &host) {
                            (ModelStatus::Missing { .. }, Some(h)) => match installed.get(h) {
                                Some(Ok(list)) => nearest(&list.models, &l.model),
                                _ => vec![],
                            },
                            _ => vec![],
                        };
                        agents.push(AgentModel {
                            name: if e.name == ens.name {
                                a.name.clone()
                            } else {
                                format!("{}/{}", e.name, a.name)
                            },
                            profile: l.profile.clone(),
                            provider: l.provider.name().to_string(),
                            model: l.model.clone(),
                            host,
                            status,
                            alternatives,
                        });
                    }
                    Kind::Ensemble { child, .. } | Kind::Loop { child, .. } => {
                        stack.push(child.clone())
                    }
                    _ => {}
                }
            }
        }
        Ok(RunnableCheck {
            ensemble: ens.name.clone(),
            runnable: agents.iter().all(|a| a.status.runs()),
            agents,
        })
    }

    /// Where one LLM agent's model stands, and the host it runs on. An Ollama host is asked
    /// once per check (`installed` keeps its answer).
    async fn model_status(
        &self,
        l: &LlmAgent,
        http: &reqwest::Client,
        installed: &mut BTreeMap<String, Result<ModelList, String>>,
    ) -> (ModelStatus, Option<String>) {
        match &l.provider {
            ProviderKind::Cloud(p) => (ModelStatus::Cloud(p.clone()), None),
            ProviderKind::Unknown(p) => (ModelStatus::UnknownProvider(p.clone()), None),
            ProviderKind::OpenaiCompatible => (
                ModelStatus::Assumed("openai-compatible"),
                l.base_url.clone(),
            ),
            ProviderKind::LlamaServer => (
                ModelStatus::Assumed("llama-server"),
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
                    .unwrap_or_else(|| self.host_of(None));
                if !installed.contains_key(&host) {
                    let r = tokio::time::timeout(
                        Duration::from_secs(5),
                        crate::backend::ollama::installed_models(http, &host),
                    )
                    .await
                    .map_err(|_| "no answer within 5 s".to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()));
                    installed.insert(host.clone(), r);
                }
                let status = match installed.get(&host) {
                    None => ModelStatus::Unreachable("no answer within 5 s".to_string()),
                    Some(Err(e)) => ModelStatus::Unreachable(e.clone()),
                    Some(Ok(list)) if has_model(&list.models, &l.model) => ModelStatus::Available,
                    Some(Ok(list)) => ModelStatus::Missing {
                        truncated: list.truncated.clone(),
                    },
                };
                (status, Some(host))
            }
        }
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
