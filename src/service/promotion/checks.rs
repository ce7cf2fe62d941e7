//! The dependency and readiness checks behind llm-orc's `list_dependencies` and
//! `check_promotion_readiness`: what each agent needs and whether it is available, and the
//! issues (broken references, missing profiles, unavailable providers and models) beside orc's
//! readiness. Typed here; their JSON is built at the MCP edge.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::Serialize;

use super::closure::Closure;
use super::deps::DepsReport;
use super::plan::Action;
use super::readiness::Readiness;
use super::{Dest, Evidence};
use crate::compile::ProviderKind;
use crate::load::project::{EnsembleFile, Tier};
use crate::load::spec::AgentKind;
use crate::service::providers::has_model;
use crate::service::{Service, ServiceError};

/// What one agent needs.
#[derive(Debug, Clone)]
pub enum AgentNeeds {
    Script {
        name: String,
        script: String,
    },
    Llm {
        name: String,
        model_profile: String,
        profile_found: bool,
        profile_tier: Option<Tier>,
        provider: Option<String>,
        model: Option<String>,
        model_available: bool,
    },
}

/// The profiles, models and providers an ensemble needs.
#[derive(Debug, Clone)]
pub struct Dependencies {
    pub ensemble: String,
    pub source_tier: Tier,
    pub agents: Vec<AgentNeeds>,
    pub profiles_needed: Vec<String>,
    pub models_needed: Vec<String>,
    pub providers_needed: Vec<String>,
    /// orc's addition: the whole closure and what each destination lacks (when it compiles).
    pub closure: Option<DepsReport>,
}

/// A check's issue kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    BrokenReference,
    MissingProfile,
    ProviderUnavailable,
    ModelUnavailable,
}

/// Something in the way of a promotion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issue {
    /// No tier defines the profile.
    BrokenReference { profile: String },
    /// The destination lacks the profile (promotion copies it).
    MissingProfile { profile: String },
    /// The profile's Ollama host does not answer.
    ProviderUnavailable { profile: String, host: String },
    /// The profile's model is not installed on its host.
    ModelUnavailable { model: String },
}

impl Issue {
    pub fn kind(&self) -> IssueKind {
        match self {
            Issue::BrokenReference { .. } => IssueKind::BrokenReference,
            Issue::MissingProfile { .. } => IssueKind::MissingProfile,
            Issue::ProviderUnavailable { .. } => IssueKind::ProviderUnavailable,
            Issue::ModelUnavailable { .. } => IssueKind::ModelUnavailable,
        }
    }
    /// Whether it stops the promotion.
    pub fn blocks(&self) -> bool {
        matches!(
            self,
            Issue::BrokenReference { .. } | Issue::ProviderUnavailable { .. }
        )
    }
}

/// A readiness check: the profile issues, what the destination has, and orc's readiness.
#[derive(Debug, Clone)]
pub struct PromotionCheck {
    pub ensemble: String,
    pub destination: Dest,
    /// No blocking issue and the bar met.
    pub ready: bool,
    pub issues: Vec<Issue>,
    pub already_exists: bool,
    pub profiles_to_copy: Vec<String>,
    pub profiles_already_present: Vec<String>,
    /// The files a promotion would write (when it compiles and can be planned).
    pub would_write: Option<Vec<PathBuf>>,
    pub dependencies: Option<Closure>,
    pub readiness: Readiness,
}

impl Service {
    /// The ensemble file and, for each of its agents, the profile it refers to (`""` for an agent
    /// that is not an LLM agent).
    fn agent_profiles(
        &self,
        name: &str,
    ) -> Result<(EnsembleFile, Vec<(String, String)>), ServiceError> {
        let file = self.find(name)?;
        let mut out = Vec::new();
        if let Some(spec) = &file.spec {
            for a in &spec.agents {
                match &a.kind {
                    AgentKind::Llm(l) => {
                        if let Some(p) = &l.model_profile {
                            out.push((a.name.value.clone(), p.value.clone()));
                        }
                    }
                    _ => out.push((a.name.value.clone(), String::new())),
                }
            }
        }
        Ok((file, out))
    }

    /// What each agent needs, whether it is available, and the closure report.
    pub async fn list_dependencies(&self, name: &str) -> Result<Dependencies, ServiceError> {
        let (file, used) = self.agent_profiles(name)?;
        let installed = self.installed_by_host().await;
        let mut agents = Vec::new();
        let (mut profiles, mut models, mut providers) = (Vec::new(), Vec::new(), Vec::new());
        for (agent, profile) in &used {
            let spec_agent = file
                .spec
                .as_ref()
                .and_then(|s| s.agents.iter().find(|a| &a.name.value == agent));
            if let Some(AgentKind::Script(sc)) = spec_agent.map(|a| &a.kind) {
                agents.push(AgentNeeds::Script {
                    name: agent.clone(),
                    script: sc.script.value.clone(),
                });
                continue;
            }
            if profile.is_empty() {
                continue;
            }
            let entry = self.project.profiles.get(profile);
            let provider = entry.and_then(|p| p.spec.provider.clone());
            let model = entry.and_then(|p| p.spec.model.clone());
            let available = match (provider.as_deref(), &model, entry) {
                (Some("ollama"), Some(m), Some(p)) => {
                    let host = self.host_of(p.spec.base_url.as_deref());
                    installed
                        .get(&host)
                        .is_some_and(|r| r.as_ref().is_ok_and(|ms| has_model(ms, m)))
                }
                (Some(pr), _, _) => ProviderKind::parse(pr).is_some_and(|p| p.runnable()),
                _ => false,
            };
            agents.push(AgentNeeds::Llm {
                name: agent.clone(),
                model_profile: profile.clone(),
                profile_found: entry.is_some(),
                profile_tier: entry.map(|p| p.tier),
                provider: provider.clone(),
                model: model.clone(),
                model_available: available,
            });
            profiles.push(profile.clone());
            models.extend(model);
            providers.extend(provider);
        }
        for v in [&mut profiles, &mut models, &mut providers] {
            v.sort();
            v.dedup();
        }
        let closure = match self.closure(name).await {
            Ok(c) => Some(self.deps_report(&c)),
            Err(_) => None,
        };
        Ok(Dependencies {
            ensemble: file.name,
            source_tier: file.tier,
            agents,
            profiles_needed: profiles,
            models_needed: models,
            providers_needed: providers,
            closure,
        })
    }

    /// The profile issues of promoting an ensemble to `destination`, with orc's readiness.
    pub async fn check_promotion(
        &self,
        name: &str,
        destination: &str,
        evidence: &dyn Evidence,
    ) -> Result<PromotionCheck, ServiceError> {
        let dest = Dest::parse(destination)?;
        let (file, used) = self.agent_profiles(name)?;
        let (issues, to_copy, present) = self.profile_issues(dest, &used).await;
        let (r, closure) = self.readiness(name, dest, evidence).await?;
        let plan = closure
            .as_ref()
            .and_then(|c| self.plan(c, dest, None, false).ok());
        let already_exists = match &plan {
            Some(plan) => plan
                .files
                .first()
                .is_some_and(|f| f.action != Action::Write),
            None => {
                let stem = file
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                self.dest_root(dest).join("ensembles").join(&stem).exists()
            }
        };
        Ok(PromotionCheck {
            ensemble: file.name,
            destination: dest,
            ready: !issues.iter().any(Issue::blocks) && r.ready,
            issues,
            already_exists,
            profiles_to_copy: to_copy,
            profiles_already_present: present,
            would_write: plan.map(|p| p.writes().map(|f| f.path.clone()).collect()),
            dependencies: closure,
            readiness: r,
        })
    }

    /// Each profile the agents use, once: whether a tier defines it, whether the destination
    /// has it, and for Ollama whether its host answers and has the model.
    async fn profile_issues(
        &self,
        dest: Dest,
        used: &[(String, String)],
    ) -> (Vec<Issue>, Vec<String>, Vec<String>) {
        let installed = self.installed_by_host().await;
        let mut issues = Vec::new();
        let (mut to_copy, mut present) = (Vec::new(), Vec::new());
        let mut seen = HashSet::new();
        for (_, profile) in used.iter().filter(|(_, p)| !p.is_empty()) {
            if !seen.insert(profile.clone()) {
                continue;
            }
            let Some(p) = self.project.profiles.get(profile) else {
                issues.push(Issue::BrokenReference {
                    profile: profile.clone(),
                });
                continue;
            };
            if self.profile_at_dest(dest, profile) {
                present.push(profile.clone());
            } else {
                to_copy.push(profile.clone());
                issues.push(Issue::MissingProfile {
                    profile: profile.clone(),
                });
            }
            if p.spec.provider.as_deref() != Some("ollama") {
                continue;
            }
            let host = self.host_of(p.spec.base_url.as_deref());
            match installed.get(&host) {
                Some(Err(_)) | None => issues.push(Issue::ProviderUnavailable {
                    profile: profile.clone(),
                    host,
                }),
                Some(Ok(ms)) => {
                    if let Some(m) = &p.spec.model
                        && !has_model(ms, m)
                    {
                        issues.push(Issue::ModelUnavailable { model: m.clone() });
                    }
                }
            }
        }
        (issues, to_copy, present)
    }
}
