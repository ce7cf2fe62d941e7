//! Project ensembles: list, validate, create, update (applied, with a `.bak`), delete.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::files::*;
use crate::load::diag::Diagnostic;
use crate::load::project::{LOCAL_DIR, Tier, read_text};
use crate::service::{Service, ServiceError};

impl Service {
    /// The local `.llm-orc/` directory, created on demand under the project root or cwd.
    pub fn local_dir(&self) -> PathBuf {
        let d = &self.project.dirs;
        d.local.clone().unwrap_or_else(|| {
            d.project_root
                .clone()
                .unwrap_or_else(|| d.cwd.clone())
                .join(LOCAL_DIR)
        })
    }

    // ------------------------------------------------------------------ ensembles

    pub fn mcp_list_ensembles(&self) -> Value {
        let rows: Vec<Value> = self
            .project
            .catalogue()
            .files
            .iter()
            .map(|f| {
                let dir = self.project.dirs.tier_root(f.tier).map(|r| r.join("ensembles")).unwrap_or_default();
                json!({
                    "name": f.qualified_name(),
                    "source": f.tier,
                    "relative_path": f.path.strip_prefix(&dir).unwrap_or(&f.path).display().to_string(),
                    "agent_count": f.spec.as_ref().map_or(0, |s| s.agents.len()),
                    "description": f.description.clone().unwrap_or_default(),
                    "valid": f.is_valid_yaml() && !f.diagnostics.iter().any(Diagnostic::is_error),
                })
            })
            .collect();
        json!({ "result": rows })
    }

    pub fn mcp_validate(&self, name: &str) -> Result<Value, ServiceError> {
        let file = self.find(name)?;
        let reports = self.validate(&[file.qualified_name()])?;
        let r = &reports[0];
        Ok(json!({
            "valid": r.valid,
            "details": {
                "errors": diag_lines(&r.diagnostics, true),
                "warnings": diag_lines(&r.diagnostics, false),
                "agent_count": r.agents.or(file.spec.as_ref().map(|s| s.agents.len())).unwrap_or(0),
                "pattern": r.pattern,
                "path": r.path,
            }
        }))
    }

    pub fn mcp_create_ensemble(
        &self,
        name: &str,
        description: &str,
        agents: Option<Value>,
        from_template: Option<&str>,
    ) -> Result<Value, ServiceError> {
        let dir = self.local_dir().join("ensembles");
        let path = safe_join(&dir, name, ".yaml")?;
        if path.exists() {
            return Err(refuse(format!("Ensemble already exists: {name}")));
        }
        let mut description = description.to_string();
        let mut agent_list = match agents {
            Some(Value::Array(a)) => a,
            Some(Value::Null) | None => Vec::new(),
            Some(_) => return Err(refuse("`agents` must be a list of agent objects")),
        };
        let mut copied = 0;
        if let Some(t) = from_template {
            let tf = self.find(t).map_err(|e| refuse(format!("template: {e}")))?;
            let text = read_text(&tf.path).map_err(|d| refuse(d.to_string()))?;
            let doc = crate::load::yaml::parse(&text)
                .map_err(|e| refuse(format!("template {}: {}", tf.path.display(), e.message)))?;
            let v = doc.root.to_json();
            if description.is_empty() {
                description = v["description"].as_str().unwrap_or("").to_string();
            }
            if let Some(a) = v["agents"].as_array() {
                copied = a.len();
                agent_list.extend(a.iter().cloned());
            }
        }
        let leaf = name.rsplit('/').next().unwrap_or(name);
        refuse_bad_names(leaf, &agent_list)?;
        let doc = json!({"name": leaf, "description": description, "agents": agent_list});
        self.refuse_inline_scripts(&doc)?;
        write_new(&path, &to_yaml(&doc)?, false)?;
        let check = Service::open(
            &self.project.dirs.cwd,
            self.project.dirs.project_root.as_deref(),
            &self.env,
        )
        .validate_file(&path);
        Ok(
            json!({"created": true, "path": path, "agents_copied": copied, "valid": check.0, "errors": check.1}),
        )
    }

    /// MCP clients may not write inline shell scripts unless the server was started with
    /// `--allow-inline-scripts`.
    fn refuse_inline_scripts(&self, doc: &Value) -> Result<(), ServiceError> {
        let inline = crate::load::resolve::inline_script_agents(doc);
        if inline.is_empty() || self.env.mcp_allows_inline_scripts {
            return Ok(());
        }
        Err(refuse(format!(
            "agent(s) {} have an inline shell `script:` (not a file); MCP clients cannot write those. \
             Put the script in a file (create_script) and reference it, or start the server with \
             `orc mcp serve --allow-inline-scripts`",
            inline
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    /// Validates one file (after a write), returning (valid, error lines).
    fn validate_file(&self, path: &Path) -> (bool, Vec<String>) {
        match self
            .project
            .catalogue()
            .files
            .iter()
            .find(|f| f.path == path)
        {
            Some(f) => {
                let c = crate::compile::Compiler::new(&self.project).compile(f);
                (!c.has_errors(), diag_lines(&c.diagnostics, true))
            }
            None => (
                false,
                vec![format!("{} was not found after writing it", path.display())],
            ),
        }
    }

    fn local_ensemble(&self, name: &str) -> Result<PathBuf, ServiceError> {
        let file = self.find(name)?;
        if file.tier != Tier::Local {
            return Err(refuse(format!(
                "Ensemble '{name}' is in the {} tier ({}); orc changes only project ensembles (copy it into the project first)",
                file.tier.label(),
                file.path.display()
            )));
        }
        Ok(file.path)
    }

    pub fn mcp_update_ensemble(
        &self,
        name: &str,
        changes: &Value,
        dry_run: bool,
        backup: bool,
    ) -> Result<Value, ServiceError> {
        let Value::Object(changes_map) = changes else {
            return Err(refuse(
                "`changes` must be an object of top-level keys to set",
            ));
        };
        let path = self.local_ensemble(name)?;
        let text = read_text(&path).map_err(|d| refuse(d.to_string()))?;
        let doc = crate::load::yaml::parse(&text)
            .map_err(|e| refuse(format!("{}: {}", path.display(), e.message)))?;
        let mut v = doc.root.to_json();
        let Value::Object(m) = &mut v else {
            return Err(refuse(format!("{} is not a mapping", path.display())));
        };
        for (k, val) in changes_map {
            if val.is_null() {
                m.remove(k);
            } else {
                m.insert(k.clone(), val.clone());
            }
        }
        self.refuse_inline_scripts(&v)?;
        let new_text = to_yaml(&v)?;
        // Compile the result before touching the file: a change that breaks the ensemble is refused.
        let probe =
            crate::load::project::ensemble_from_text(Tier::Local, &path, String::new(), &new_text);
        let c = crate::compile::Compiler::new(&self.project).compile(&probe);
        if c.has_errors() {
            return Err(refuse(format!(
                "the change would make the ensemble invalid: {}",
                diag_lines(&c.diagnostics, true).join("; ")
            )));
        }
        if dry_run {
            return Ok(
                json!({"preview": v, "modified": false, "backup_created": false, "path": path}),
            );
        }
        let mut backup_created = false;
        if backup {
            let b = path.with_extension("yaml.bak");
            fs::copy(&path, &b).map_err(io(&b))?;
            backup_created = true;
        }
        crate::store::atomic::write_atomic(&path, new_text.as_bytes())?;
        let fresh = Service::open(
            &self.project.dirs.cwd,
            self.project.dirs.project_root.as_deref(),
            &self.env,
        );
        let check = fresh.validate_file(&path);
        Ok(
            json!({"modified": true, "backup_created": backup_created, "changes_applied": changes, "path": path, "valid": check.0, "errors": check.1}),
        )
    }

    pub fn mcp_delete_ensemble(&self, name: &str, confirm: bool) -> Result<Value, ServiceError> {
        if !confirm {
            return Err(refuse(
                "Confirmation required to delete ensemble (pass confirm: true)",
            ));
        }
        let path = self.local_ensemble(name)?;
        fs::remove_file(&path).map_err(io(&path))?;
        Ok(json!({"deleted": true, "path": path}))
    }

    // ------------------------------------------------------------------ profiles
}
