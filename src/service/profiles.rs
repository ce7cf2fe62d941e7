//! Model profiles: list the merged profiles; create, update and delete the project's own.

use std::fs;
use std::path::PathBuf;

use serde_json::{Map, Value, json};

use super::files::*;
use crate::compile::ProviderKind;
use crate::load::project::{Tier, read_text};
use crate::service::{Service, ServiceError};

impl Service {
    pub fn mcp_list_profiles(&self, provider: Option<&str>) -> Value {
        let rows: Vec<Value> = self
            .project
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
                json!({
                    "name": p.spec.name, "provider": p.spec.provider, "model": p.spec.model,
                    "path": p.source, "tier": p.tier, "runnable": runnable,
                    "description": p.spec.description,
                })
            })
            .collect();
        json!({ "profiles": rows })
    }

    fn local_profile_path(&self, name: &str) -> Result<PathBuf, ServiceError> {
        safe_join(&self.local_dir().join("profiles"), name, ".yaml")
    }

    #[allow(clippy::too_many_arguments)]
    pub fn mcp_create_profile(
        &self,
        name: &str,
        provider: &str,
        model: &str,
        extra: Map<String, Value>,
    ) -> Result<Value, ServiceError> {
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
        let mut m = Map::new();
        m.insert("name".into(), json!(name));
        m.insert("provider".into(), json!(provider));
        m.insert("model".into(), json!(model));
        for (k, v) in extra {
            if !v.is_null() {
                m.insert(k, v);
            }
        }
        write_new(&path, &to_yaml(&Value::Object(m))?, false)?;
        Ok(json!({"created": true, "path": path}))
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

    pub fn mcp_update_profile(&self, name: &str, changes: &Value) -> Result<Value, ServiceError> {
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
        Ok(json!({"updated": true, "path": path}))
    }

    pub fn mcp_delete_profile(&self, name: &str, confirm: bool) -> Result<Value, ServiceError> {
        if !confirm {
            return Err(refuse(
                "Confirmation required to delete profile (pass confirm: true)",
            ));
        }
        let path = self.local_profile_file(name)?;
        fs::remove_file(&path).map_err(io(&path))?;
        Ok(json!({"deleted": true, "name": name, "path": path}))
    }

    // ------------------------------------------------------------------ scripts
}
