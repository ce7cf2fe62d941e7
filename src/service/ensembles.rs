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

    /// Every ensemble file in catalogue order, with its path relative to its tier's
    /// `ensembles/` folder and its agent count.
    pub fn ensemble_summaries(&self) -> Vec<EnsembleSummary> {
        self.project
            .catalogue()
            .files
            .iter()
            .map(|f| {
                let dir = self
                    .project
                    .dirs
                    .tier_root(f.tier)
                    .map(|r| r.join("ensembles"))
                    .unwrap_or_default();
                EnsembleSummary {
                    name: f.qualified_name(),
                    tier: f.tier,
                    relative_path: f
                        .path
                        .strip_prefix(&dir)
                        .unwrap_or(&f.path)
                        .display()
                        .to_string(),
                    agent_count: f.spec.as_ref().map_or(0, |s| s.agents.len()),
                    description: f.description.clone().unwrap_or_default(),
                    valid: f.is_valid_yaml() && !f.diagnostics.iter().any(Diagnostic::is_error),
                }
            })
            .collect()
    }

    /// Validates one ensemble by name: its errors and warnings as one line each.
    pub fn validate_ensemble(&self, name: &str) -> Result<EnsembleCheck, ServiceError> {
        let file = self.find(name)?;
        let mut reports = self.validate(&[file.qualified_name()])?;
        if reports.is_empty() {
            return Err(refuse(format!("Ensemble '{name}' was not validated")));
        }
        let r = reports.swap_remove(0);
        Ok(EnsembleCheck {
            valid: r.valid,
            errors: diag_lines(&r.diagnostics, true),
            warnings: diag_lines(&r.diagnostics, false),
            agent_count: r
                .agents
                .or(file.spec.as_ref().map(|s| s.agents.len()))
                .unwrap_or(0),
            pattern: r.pattern,
            path: r.path,
        })
    }

    /// Writes a new project ensemble from agent objects and/or a template's agents, then
    /// validates what was written.
    pub fn create_ensemble(
        &self,
        name: &str,
        description: &str,
        agents: Option<Value>,
        from_template: Option<&str>,
    ) -> Result<EnsembleCreated, ServiceError> {
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
        Ok(EnsembleCreated {
            path,
            agents_copied: copied,
            valid: check.0,
            errors: check.1,
        })
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

    /// Sets (or, with null, removes) top-level keys of a project ensemble. The result must
    /// compile; `dry_run` only previews it.
    pub fn update_ensemble(
        &self,
        name: &str,
        changes: &Value,
        dry_run: bool,
        backup: bool,
    ) -> Result<EnsembleUpdate, ServiceError> {
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
            return Ok(EnsembleUpdate::Preview { document: v, path });
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
        Ok(EnsembleUpdate::Applied {
            backup_created,
            path,
            valid: check.0,
            errors: check.1,
        })
    }

    /// Deletes a project ensemble; answers the path it removed.
    pub fn delete_ensemble(&self, name: &str, confirm: bool) -> Result<PathBuf, ServiceError> {
        if !confirm {
            return Err(refuse(
                "Confirmation required to delete ensemble (pass confirm: true)",
            ));
        }
        let path = self.local_ensemble(name)?;
        fs::remove_file(&path).map_err(io(&path))?;
        Ok(path)
    }
}

/// One ensemble file as `list_ensembles` shows it.
#[derive(Debug, Clone)]
pub struct EnsembleSummary {
    pub name: String,
    pub tier: Tier,
    /// Relative to the tier's `ensembles/` folder.
    pub relative_path: String,
    pub agent_count: usize,
    pub description: String,
    pub valid: bool,
}

/// One ensemble's validation, its diagnostics as lines.
#[derive(Debug, Clone)]
pub struct EnsembleCheck {
    pub valid: bool,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    pub agent_count: usize,
    pub pattern: Option<&'static str>,
    pub path: PathBuf,
}

/// A new ensemble file and the validation of what was written.
#[derive(Debug, Clone)]
pub struct EnsembleCreated {
    pub path: PathBuf,
    /// How many agents came from the template.
    pub agents_copied: usize,
    pub valid: bool,
    pub errors: Vec<String>,
}

/// What `update_ensemble` did.
#[derive(Debug, Clone)]
pub enum EnsembleUpdate {
    /// `dry_run`: the document as it would be written; nothing changed.
    Preview { document: Value, path: PathBuf },
    /// Written (after a `.bak` copy when asked), then validated.
    Applied {
        backup_created: bool,
        path: PathBuf,
        valid: bool,
        errors: Vec<String>,
    },
}
