//! Model profiles: list the merged profiles; create, update and delete the project's own.

use std::fs;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use super::files::*;
use crate::compile::ProviderKind;
use crate::load::project::{Tier, read_text};
use crate::service::{Service, ServiceError};

/// A profile file to create: the keys written in this order, an absent one not at all.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewProfile {
    pub name: String,
    pub provider: String,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_per_token: Option<f64>,
}

impl Service {
    /// The merged profiles, optionally only those of one provider.
    pub fn profile_summaries(&self, provider: Option<&str>) -> Vec<ProfileSummary> {
        self.project
            .profiles
            .by_name
            .values()
            .filter(|p| provider.is_none_or(|want| p.spec.provider.as_deref() == Some(want)))
            .map(|p| {
                let runnable = p
                    .spec
                    .provider
                    .as_deref()
                    .and_then(ProviderKind::parse)
                    .is_some_and(|pr| pr.runnable());
                ProfileSummary {
                    name: p.spec.name.clone(),
                    provider: p.spec.provider.clone(),
                    model: p.spec.model.clone(),
                    path: p.source.clone(),
                    tier: p.tier,
                    runnable,
                    description: p.spec.description.clone(),
                }
            })
            .collect()
    }

    fn local_profile_path(&self, name: &str) -> Result<PathBuf, ServiceError> {
        safe_join(&self.local_dir().join("profiles"), name, ".yaml")
    }

    /// Writes a new profile file in the project's `profiles/`; answers its path. Null values of
    /// `extra` are left out.
    pub fn create_profile(&self, profile: &NewProfile) -> Result<PathBuf, ServiceError> {
        let (name, provider) = (profile.name.as_str(), profile.provider.as_str());
        if name.contains('/') {
            return Err(refuse(format!(
                "invalid name `{name}`: a profile name has no `/`"
            )));
        }
        if ProviderKind::parse(provider).is_none() {
            return Err(refuse(format!(
                "unknown provider `{provider}` (orc runs ollama and openai-compatible)"
            )));
        }
        let path = self.local_profile_path(name)?;
        if path.exists()
            || self
                .project
                .profiles
                .get(name)
                .is_some_and(|p| p.tier == Tier::Local)
        {
            return Err(refuse(format!("Profile '{name}' already exists")));
        }
        let doc = serde_json::to_value(profile).map_err(|e| refuse(e.to_string()))?;
        write_new(&path, &to_yaml(&doc)?, false)?;
        Ok(path)
    }

    fn local_profile_file(&self, name: &str) -> Result<PathBuf, ServiceError> {
        match self.project.profiles.get(name) {
            Some(p)
                if p.tier == Tier::Local
                    && p.source.parent().is_some_and(|d| d.ends_with("profiles")) =>
            {
                Ok(p.source.clone())
            }
            Some(p) => Err(refuse(format!(
                "Profile '{name}' is defined in {}; orc changes only profile files in the project's .llm-orc/profiles/",
                p.source.display()
            ))),
            None => Err(refuse(format!(
                "Profile '{name}' not found{}",
                did_you_mean(
                    name,
                    self.project.profiles.by_name.keys().map(String::as_str)
                )
            ))),
        }
    }

    /// Sets (or, with null, removes) keys of a project profile file; answers its path.
    pub fn update_profile(&self, name: &str, changes: &Value) -> Result<PathBuf, ServiceError> {
        let Value::Object(changes) = changes else {
            return Err(refuse("`changes` must be an object"));
        };
        let path = self.local_profile_file(name)?;
        let text = read_text(&path).map_err(|d| refuse(d.to_string()))?;
        let doc = crate::load::yaml::parse(&text).map_err(|e| refuse(e.message))?;
        let mut v = doc.root.to_json();
        let Value::Object(m) = &mut v else {
            return Err(refuse("the profile file is not a mapping"));
        };
        for (k, val) in changes {
            if k == "name" {
                continue;
            }
            if val.is_null() {
                m.remove(k);
            } else {
                m.insert(k.clone(), val.clone());
            }
        }
        crate::store::atomic::write_atomic(&path, to_yaml(&v)?.as_bytes())?;
        Ok(path)
    }

    /// Deletes a project profile file; answers the path it removed.
    pub fn delete_profile(&self, name: &str, confirm: bool) -> Result<PathBuf, ServiceError> {
        if !confirm {
            return Err(refuse(
                "Confirmation required to delete profile (pass confirm: true)",
            ));
        }
        let path = self.local_profile_file(name)?;
        fs::remove_file(&path).map_err(io(&path))?;
        Ok(path)
    }
}

/// One merged profile as `list_profiles` shows it.
#[derive(Debug, Clone)]
pub struct ProfileSummary {
    pub name: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// The file that defines it.
    pub path: PathBuf,
    pub tier: Tier,
    /// Whether orc can run its provider.
    pub runnable: bool,
    pub description: Option<String>,
}
