//! The service layer's management operations: ensembles, profiles, scripts, artifacts, the
//! library and providers. The MCP server calls these (and the CLI may); results are JSON in
//! llm-orc's shapes. Every name a client passes is checked to stay inside its tier's directory.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::config::{LOCAL_DIR, Tier, check_relative_name, read_text, stays_inside};
use crate::diag::Diagnostic;
use crate::graph::{Kind, Provider, model_size_b};
use crate::service::{Service, ServiceError};

/// A refusal with a message for the client.
fn refuse(msg: impl Into<String>) -> ServiceError {
    ServiceError::Refused(msg.into())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ServiceError + '_ {
    move |source| ServiceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `root/name.ext`, refusing names that leave `root` (`..`, absolute paths, NUL, symlinks out).
pub fn safe_join(root: &Path, name: &str, ext: &str) -> Result<PathBuf, ServiceError> {
    check_relative_name(name)
        .map_err(|why| refuse(format!("invalid name `{}`: {why}", name.escape_debug())))?;
    let file = if ext.is_empty() || name.ends_with(ext) {
        name.to_string()
    } else {
        format!("{name}{ext}")
    };
    let path = root.join(&file);
    // The deepest part that exists must resolve inside the root (no symlinked way out).
    let mut probe = path.clone();
    while !probe.exists() {
        if !probe.pop() {
            break;
        }
    }
    if probe.exists() && root.exists() && !stays_inside(root, &probe) {
        return Err(refuse(format!(
            "`{name}` resolves outside {}",
            root.display()
        )));
    }
    if path.is_symlink() && !stays_inside(root, &path) {
        return Err(refuse(format!(
            "`{name}` is a link that leaves {}",
            root.display()
        )));
    }
    Ok(path)
}

/// ` (did you mean `x`?)` when one of `known` is close to `name`, else nothing: the same
/// suggestion the CLI gives, for every "not found" answer.
fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    crate::diag::closest(name, known)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

/// The names of the entries of `dir` (folders and files), for suggestions.
fn entry_names(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .take(10_000)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn to_yaml(v: &Value) -> Result<String, ServiceError> {
    serde_saphyr::to_string(v).map_err(|e| refuse(format!("cannot write YAML: {e}")))
}

fn write_new(path: &Path, text: &str, overwrite: bool) -> Result<(), ServiceError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    if path.exists() && !overwrite {
        return Err(refuse(format!("File already exists: {}", path.display())));
    }
    crate::artifact::write_atomic(path, text.as_bytes()).map_err(|e| refuse(e.to_string()))
}

/// Refuses an ensemble or agent name that `validate` would refuse (control characters, bidi
/// marks, names that cannot be an artifact folder) before anything is written.
fn refuse_bad_names(ensemble: &str, agents: &[Value]) -> Result<(), ServiceError> {
    use crate::spec::{name_problem, shown};
    if let Some(why) = name_problem(ensemble, true) {
        return Err(refuse(format!(
            "the ensemble name {} {why}",
            shown(ensemble)
        )));
    }
    for a in agents {
        if let Some(n) = a["name"].as_str()
            && let Some(why) = name_problem(n, false)
        {
            return Err(refuse(format!("the agent name {} {why}", shown(n))));
        }
    }
    Ok(())
}

fn diag_lines(diags: &[Diagnostic], errors: bool) -> Vec<String> {
    diags
        .iter()
        .filter(|d| d.is_error() == errors)
        .map(|d| {
            let mut s = d.to_string();
            if let Some(i) = s.find("\n  hint: ") {
                s.replace_range(i..i + 9, " (hint: ");
                s.push(')');
            }
            s
        })
        .collect()
}

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
            let doc = crate::yaml::parse(&text)
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
        let inline = crate::resolve::inline_script_agents(doc);
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
                let c = crate::graph::Compiler::new(&self.project).compile(f);
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
        let doc = crate::yaml::parse(&text)
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
        let probe = crate::config::ensemble_from_text(Tier::Local, &path, String::new(), &new_text);
        let c = crate::graph::Compiler::new(&self.project).compile(&probe);
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
        crate::artifact::write_atomic(&path, new_text.as_bytes())
            .map_err(|e| refuse(e.to_string()))?;
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
                    .and_then(Provider::parse)
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
        if Provider::parse(provider).is_none() {
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
        let doc = crate::yaml::parse(&text).map_err(|e| refuse(e.message))?;
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
        crate::artifact::write_atomic(&path, to_yaml(&v)?.as_bytes())
            .map_err(|e| refuse(e.to_string()))?;
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

    fn scripts_dir(&self) -> PathBuf {
        self.local_dir().join("scripts")
    }

    fn script_path(&self, name: &str, category: &str) -> Result<PathBuf, ServiceError> {
        let rel = if category.is_empty() {
            name.to_string()
        } else {
            format!("{category}/{name}")
        };
        let ext = if Path::new(name).extension().is_some() {
            ""
        } else {
            ".py"
        };
        safe_join(&self.scripts_dir(), &rel, ext)
    }

    /// `Script 'category/name' not found`, with the nearest existing script.
    fn script_not_found(&self, name: &str, category: &str) -> ServiceError {
        let known: Vec<String> = self.mcp_list_scripts(None)["scripts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let (c, n) = (
                    r["category"].as_str().unwrap_or(""),
                    r["name"].as_str().unwrap_or(""),
                );
                if c.is_empty() {
                    n.to_string()
                } else {
                    format!("{c}/{n}")
                }
            })
            .collect();
        let stem = name
            .strip_suffix(".py")
            .or_else(|| Path::new(name).file_stem().and_then(|s| s.to_str()))
            .unwrap_or(name);
        let wanted = if category.is_empty() {
            stem.to_string()
        } else {
            format!("{category}/{stem}")
        };
        refuse(format!(
            "Script '{category}/{name}' not found{}",
            did_you_mean(&wanted, known.iter().map(String::as_str))
        ))
    }

    pub fn mcp_list_scripts(&self, category: Option<&str>) -> Value {
        let root = self.scripts_dir();
        let mut rows = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                let p = e.path();
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    if stack.len() < 64 {
                        stack.push(p);
                    }
                } else if p
                    .extension()
                    .is_some_and(|x| ["py", "sh", "bash", "js", "rb"].iter().any(|k| x == *k))
                {
                    let cat = p
                        .parent()
                        .and_then(|d| d.strip_prefix(&root).ok())
                        .map(|d| d.display().to_string())
                        .unwrap_or_default();
                    if category.is_none_or(|c| c == cat) {
                        rows.push(json!({"name": p.file_stem().map(|s| s.to_string_lossy().into_owned()), "category": cat, "path": p}));
                    }
                }
            }
        }
        rows.sort_by_key(|r| {
            (
                r["category"].as_str().unwrap_or("").to_string(),
                r["name"].as_str().unwrap_or("").to_string(),
            )
        });
        json!({ "scripts": rows })
    }

    pub fn mcp_create_script(
        &self,
        name: &str,
        category: &str,
        template: &str,
    ) -> Result<Value, ServiceError> {
        let path = self.script_path(name, category)?;
        if path.exists() {
            return Err(refuse(format!("Script '{category}/{name}' already exists")));
        }
        let body = match template {
            "basic" | "" => SCRIPT_BASIC,
            "fan-out" | "fan_out" | "splitter" => SCRIPT_SPLITTER,
            other => {
                return Err(refuse(format!(
                    "unknown template `{other}` (basic, splitter)"
                )));
            }
        };
        write_new(&path, body, false)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o755));
        }
        Ok(
            json!({"created": true, "path": path, "template": if template.is_empty() { "basic" } else { template }}),
        )
    }

    pub fn mcp_get_script(&self, name: &str, category: &str) -> Result<Value, ServiceError> {
        let path = self.script_path(name, category)?;
        let source =
            fs::read_to_string(&path).map_err(|_| self.script_not_found(name, category))?;
        let description = docstring(&source);
        Ok(
            json!({"name": name, "category": category, "path": path, "description": description, "source": source}),
        )
    }

    pub async fn mcp_test_script(
        &self,
        name: &str,
        category: &str,
        input: &str,
        parameters: Map<String, Value>,
    ) -> Result<Value, ServiceError> {
        let path = self.script_path(name, category)?;
        if !path.is_file() {
            return Err(self.script_not_found(name, category));
        }
        let target = crate::resolve::ScriptTarget::File(path);
        let launcher = crate::resolve::Launcher::new(&self.project.config.scripts, &target);
        let started = std::time::Instant::now();
        let out = crate::exec::script::run_raw(
            &target,
            &launcher,
            &parameters,
            crate::exec::script::ScriptInput::Plain(input.to_string()),
            Duration::from_secs(60),
        )
        .await
        .map_err(refuse)?;
        Ok(json!({
            "success": out.code == Some(0),
            "stdout": out.stdout,
            "stderr": out.stderr,
            "return_code": out.code,
            "output": crate::exec::script::normalise_output(&out.stdout),
            "duration_ms": started.elapsed().as_millis() as u64,
        }))
    }

    pub fn mcp_delete_script(
        &self,
        name: &str,
        category: &str,
        confirm: bool,
    ) -> Result<Value, ServiceError> {
        if !confirm {
            return Err(refuse(
                "Confirmation required to delete script (pass confirm: true)",
            ));
        }
        let path = self.script_path(name, category)?;
        fs::remove_file(&path).map_err(|_| self.script_not_found(name, category))?;
        Ok(json!({"deleted": true, "name": name, "category": category}))
    }

    // ------------------------------------------------------------------ artifacts

    /// `ensemble/run-folder` (or `ensemble/latest`) -> the run folder.
    fn artifact_dir(&self, id: &str) -> Result<PathBuf, ServiceError> {
        let root = self.artifacts_root();
        let Some((ens, run)) = id.rsplit_once('/') else {
            return Err(refuse(format!(
                "Invalid artifact_id format: {id} (expected ensemble/timestamp)"
            )));
        };
        check_relative_name(id)
            .map_err(|why| refuse(format!("Invalid artifact_id `{id}`: {why}")))?;
        let not_found = || {
            let hint = if root.join(ens).is_dir() {
                let runs: Vec<String> = entry_names(&root.join(ens))
                    .into_iter()
                    .filter(|n| is_run_folder(n) || n == "latest")
                    .map(|n| format!("{ens}/{n}"))
                    .collect();
                did_you_mean(id, runs.iter().map(String::as_str))
            } else {
                let ensembles: Vec<String> = entry_names(&root)
                    .into_iter()
                    .map(|n| format!("{n}/{run}"))
                    .collect();
                did_you_mean(id, ensembles.iter().map(String::as_str))
            };
            refuse(format!("Artifact not found: {id}{hint}"))
        };
        // No link inside the artifacts tree is followed; `latest` is read as a name.
        let ens_dir = crate::artifact::real_dir(&root, ens, false)
            .map_err(|e| refuse(e.to_string()))?
            .ok_or_else(not_found)?;
        let run = if run == "latest" {
            crate::artifact::latest_target(&ens_dir).ok_or_else(not_found)?
        } else {
            run.to_string()
        };
        let dir = ens_dir.join(run);
        if !crate::artifact::is_real_dir(&dir) || !dir.join("execution.json").is_file() {
            return Err(not_found());
        }
        Ok(dir)
    }

    pub fn mcp_analyze(&self, id: &str) -> Result<Value, ServiceError> {
        let dir = self.artifact_dir(id)?;
        let path = dir.join("execution.json");
        let v: Value = serde_json::from_str(&read_text(&path).map_err(|d| refuse(d.to_string()))?)
            .map_err(|e| refuse(format!("{}: {e}", path.display())))?;
        let results = v["results"].as_object().cloned().unwrap_or_default();
        let total = results.len();
        let ok = results
            .values()
            .filter(|r| r["status"] == "success")
            .count();
        let failed: Vec<Value> = results
            .iter()
            .filter(|(_, r)| r["status"] == "failed")
            .map(|(n, r)| json!({"agent": n, "error": r["error"]}))
            .collect();
        let totals = &v["metadata"]["usage"]["totals"];
        let duration = v["metadata"]["duration"]
            .as_str()
            .and_then(|d| d.trim_end_matches('s').parse::<f64>().ok())
            .unwrap_or(0.0);
        let mut slowest: Vec<Value> = v["metadata"]["orc"]["timeline"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        slowest.sort_by(|a, b| {
            b["service_ms"]
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&a["service_ms"].as_f64().unwrap_or(0.0))
        });
        slowest.truncate(5);
        // The same words as invoke and run_status (llm-orc 0.25.2's MCP words): `status` is
        // success / error, `executor_status` the artifact's completed / completed_with_errors /
        // interrupted.
        let run_failed = v["has_errors"] == true
            || v["status"]
                .as_str()
                .is_some_and(|s| s != "completed" && s != "success");
        Ok(json!({
            "artifact_id": id,
            "ensemble": v["ensemble"],
            "status": if run_failed { "error" } else { "success" },
            "executor_status": v["status"],
            "analysis": {"total_agents": total, "successful_agents": ok, "failed_agents": failed.len(), "failures": failed},
            "metrics": {
                "agent_success_rate": if total == 0 { 0.0 } else { ok as f64 / total as f64 },
                "cost": totals["total_cost_usd"].as_f64().unwrap_or(0.0),
                "duration": duration,
                "total_tokens": totals["total_tokens"],
                "input_tokens": totals["total_input_tokens"],
                "output_tokens": totals["total_output_tokens"],
                "agents_with_missing_counts": totals["agents_with_missing_counts"],
            },
            "slowest_agents": slowest,
            "deliverable": v["deliverable"],
        }))
    }

    /// Points `latest` at the newest remaining run, or removes it when none remains.
    fn relink(&self, ensemble_dir: &Path) {
        let mut runs: Vec<String> = fs::read_dir(ensemble_dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| is_run_folder(n))
                    .collect()
            })
            .unwrap_or_default();
        runs.sort();
        let link = ensemble_dir.join("latest");
        match runs.last() {
            Some(newest) => {
                #[cfg(unix)]
                {
                    let tmp = ensemble_dir.join(format!(".latest.tmp-{}", std::process::id()));
                    let _ = fs::remove_file(&tmp);
                    if std::os::unix::fs::symlink(newest, &tmp).is_ok() {
                        let _ = fs::rename(&tmp, &link);
                    }
                }
            }
            None => {
                let _ = fs::remove_file(&link);
            }
        }
    }

    pub fn mcp_delete_artifact(&self, id: &str, confirm: bool) -> Result<Value, ServiceError> {
        if !confirm {
            return Err(refuse(
                "Confirmation required to delete artifact (pass confirm: true)",
            ));
        }
        // A real folder reached without links (artifact_dir): nothing outside can be hit.
        let dir = self.artifact_dir(id)?;
        fs::remove_dir_all(&dir).map_err(io(&dir))?;
        if let Some(parent) = dir.parent() {
            self.relink(parent);
        }
        Ok(json!({"deleted": true, "artifact_id": id}))
    }

    pub fn mcp_cleanup(
        &self,
        ensemble: Option<&str>,
        older_than_days: u64,
        dry_run: bool,
    ) -> Result<Value, ServiceError> {
        let root = self.artifacts_root();
        let cutoff =
            chrono::Local::now().naive_local() - chrono::Duration::days(older_than_days as i64);
        let mut dirs = Vec::new();
        match ensemble {
            Some(e) => {
                check_relative_name(e)
                    .map_err(|why| refuse(format!("invalid ensemble name: {why}")))?;
                // A linked ensemble folder is refused, never followed.
                if let Some(dir) = crate::artifact::real_dir(&root, e, false)
                    .map_err(|err| refuse(err.to_string()))?
                {
                    dirs.push((e.to_string(), dir));
                }
            }
            None => {
                for en in fs::read_dir(&root).into_iter().flatten().flatten() {
                    // file_type does not follow links: a linked folder is skipped.
                    if en.file_type().is_ok_and(|t| t.is_dir()) {
                        dirs.push((en.file_name().to_string_lossy().into_owned(), en.path()));
                    } else if en.file_type().is_ok_and(|t| t.is_symlink()) {
                        tracing::warn!(path = %en.path().display(), "cleanup_artifacts: skipped a symbolic link");
                    }
                }
            }
        }
        let mut ids = Vec::new();
        for (name, dir) in &dirs {
            for run in fs::read_dir(dir).into_iter().flatten().flatten() {
                let folder = run.file_name().to_string_lossy().into_owned();
                if !is_run_folder(&folder) || !run.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let when =
                    chrono::NaiveDateTime::parse_from_str(&folder[..15], "%Y%m%d-%H%M%S").ok();
                if when.is_some_and(|w| w <= cutoff) {
                    ids.push((format!("{name}/{folder}"), run.path(), dir.clone()));
                }
            }
        }
        ids.sort_by(|a, b| a.0.cmp(&b.0));
        if !dry_run {
            for (_, path, _) in &ids {
                fs::remove_dir_all(path).map_err(io(path))?;
            }
            for (_, dir) in &dirs {
                self.relink(dir);
                crate::artifact::remove_stale_temporaries(dir);
            }
        }
        let list: Vec<&String> = ids.iter().map(|(i, _, _)| i).collect();
        Ok(if dry_run {
            json!({"dry_run": true, "would_delete": list, "count": list.len()})
        } else {
            json!({"dry_run": false, "deleted": list, "count": list.len()})
        })
    }

    // ------------------------------------------------------------------ library

    pub fn library_root(&self) -> PathBuf {
        self.project.dirs.library.clone()
    }

    fn library_items(&self) -> (Vec<Value>, Vec<Value>) {
        let root = self.library_root();
        let mut ens = Vec::new();
        let mut scripts = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                let p = e.path();
                let rel = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    if stack.len() < 256 {
                        stack.push(p);
                    }
                    continue;
                }
                let category = p
                    .parent()
                    .and_then(|d| d.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if rel.starts_with("ensembles/")
                    && p.extension().is_some_and(|x| x == "yaml" || x == "yml")
                {
                    let f = crate::config::load_ensemble_file(Tier::Library, &p, String::new());
                    ens.push(json!({"name": f.name, "description": f.description.unwrap_or_default(), "path": rel, "category": category}));
                } else if rel.starts_with("scripts/") {
                    scripts.push(json!({"name": p.file_stem().map(|s| s.to_string_lossy().into_owned()), "category": category, "path": rel}));
                }
            }
        }
        ens.sort_by_key(|v| v["path"].as_str().unwrap_or("").to_string());
        scripts.sort_by_key(|v| v["path"].as_str().unwrap_or("").to_string());
        (ens, scripts)
    }

    pub fn mcp_library_browse(
        &self,
        browse_type: &str,
        category: Option<&str>,
    ) -> Result<Value, ServiceError> {
        let (ens, scripts) = self.library_items();
        let keep = |v: &Value| category.is_none_or(|c| v["category"] == c);
        let ens: Vec<Value> = ens.into_iter().filter(keep).collect();
        let scripts: Vec<Value> = scripts.into_iter().filter(keep).collect();
        Ok(match browse_type {
            "all" | "" => json!({"ensembles": ens, "scripts": scripts}),
            "ensembles" => json!({"ensembles": ens}),
            "scripts" => json!({"scripts": scripts}),
            other => {
                return Err(refuse(format!(
                    "browse_type must be all, ensembles or scripts, not `{other}`"
                )));
            }
        })
    }

    pub fn mcp_library_search(&self, query: &str) -> Result<Value, ServiceError> {
        let q = query.trim().to_lowercase();
        if q.is_empty() {
            return Err(refuse("query is required"));
        }
        let (ens, scripts) = self.library_items();
        let e_hits = matching(ens, &q, ["name", "description"]);
        let s_hits = matching(scripts, &q, ["name", "category"]);
        let total = e_hits.len() + s_hits.len();
        Ok(json!({"query": q, "results": {"ensembles": e_hits, "scripts": s_hits}, "total": total}))
    }

    pub fn mcp_library_info(&self) -> Value {
        let root = self.library_root();
        let (ens, scripts) = self.library_items();
        let mut cats: Vec<String> = ens
            .iter()
            .chain(&scripts)
            .filter_map(|v| v["category"].as_str().map(str::to_string))
            .collect();
        cats.sort();
        cats.dedup();
        json!({"path": root, "exists": root.is_dir(), "ensembles_count": ens.len(), "scripts_count": scripts.len(), "categories": cats})
    }

    /// Copies one library file into the project. An ensemble (a source under `ensembles/` or a
    /// YAML file) lands in `.llm-orc/ensembles/`, a script in `.llm-orc/scripts/`; `destination`
    /// is a name or relative path inside that folder (`.yaml`, or the script's extension, is
    /// appended when missing) and never reaches anything else of `.llm-orc/`.
    pub fn mcp_library_copy(
        &self,
        source: &str,
        destination: Option<&str>,
        overwrite: bool,
    ) -> Result<Value, ServiceError> {
        let root = self.library_root();
        let mut src = safe_join(&root, source, "")?;
        if !src.is_file() {
            let with = safe_join(&root, source, ".yaml")?;
            if with.is_file() {
                src = with;
            }
        }
        if !src.is_file() || !stays_inside(&root, &src) {
            let (ens, scripts) = self.library_items();
            let known: Vec<String> = ens
                .iter()
                .chain(&scripts)
                .filter_map(|v| v["path"].as_str())
                .flat_map(|p| [p.to_string(), p.trim_end_matches(".yaml").to_string()])
                .collect();
            return Err(refuse(format!(
                "Source not found in library: {source}{}",
                did_you_mean(source, known.iter().map(String::as_str))
            )));
        }
        let file = src
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let is_ensemble =
            source.contains("ensembles") || file.ends_with(".yaml") || file.ends_with(".yml");
        let local = self.local_dir();
        let (folder, ext) = if is_ensemble {
            (local.join("ensembles"), ".yaml".to_string())
        } else {
            let ext = Path::new(&file)
                .extension()
                .map(|x| format!(".{}", x.to_string_lossy()))
                .unwrap_or_default();
            (local.join("scripts"), ext)
        };
        let dest = match destination {
            Some(d) => {
                let has_ext = if is_ensemble {
                    d.ends_with(".yaml") || d.ends_with(".yml")
                } else {
                    Path::new(d).extension().is_some()
                };
                let target =
                    safe_join(&folder, d, if has_ext { "" } else { &ext }).map_err(|e| {
                        refuse(format!(
                            "{e} (a destination is a name or relative path inside {})",
                            folder.display()
                        ))
                    })?;
                if target.file_stem().is_none_or(|s| s.is_empty() || s == ".") {
                    return Err(refuse(format!(
                        "invalid destination `{}`: it names no file inside {}",
                        d.escape_debug(),
                        folder.display()
                    )));
                }
                target
            }
            None => folder.join(&file),
        };
        let bytes = fs::read(&src).map_err(io(&src))?;
        if dest.is_dir() {
            return Err(refuse(format!("{} is a directory", dest.display())));
        }
        if dest.exists() && !overwrite {
            return Err(refuse(format!("File already exists: {}", dest.display())));
        }
        if let Some(p) = dest.parent() {
            fs::create_dir_all(p).map_err(io(p))?;
        }
        crate::artifact::write_atomic(&dest, &bytes).map_err(|e| refuse(e.to_string()))?;
        Ok(json!({"copied": true, "source": src, "destination": dest}))
    }

    // ------------------------------------------------------------------ providers

    /// Ollama hosts the project's profiles use (base_url or OLLAMA_HOST) with their profiles.
    fn ollama_hosts(&self) -> BTreeMap<String, Vec<String>> {
        let default = crate::provider::normalize_host(
            self.env
                .ollama_host
                .as_deref()
                .unwrap_or("http://localhost:11434"),
        );
        let mut hosts: BTreeMap<String, Vec<String>> = BTreeMap::new();
        hosts.entry(default.clone()).or_default();
        for p in self.project.profiles.by_name.values() {
            if p.spec.provider.as_deref() == Some("ollama") {
                let h = p
                    .spec
                    .base_url
                    .as_deref()
                    .map(crate::provider::normalize_host)
                    .unwrap_or_else(|| default.clone());
                hosts.entry(h).or_default().push(p.spec.name.clone());
            }
        }
        hosts
    }

    pub async fn mcp_provider_status(&self) -> Value {
        let http = crate::provider::http_client();
        let mut ollama = Vec::new();
        for (host, profiles) in self.ollama_hosts() {
            let r = tokio::time::timeout(
                Duration::from_secs(5),
                crate::provider::ollama::installed_models(&http, &host),
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
        let http = crate::provider::http_client();
        let default = crate::provider::normalize_host(
            self.env
                .ollama_host
                .as_deref()
                .unwrap_or("http://localhost:11434"),
        );
        let mut installed: BTreeMap<String, Result<crate::provider::ollama::ModelList, String>> =
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
                            Provider::Cloud(p) => {
                                (format!("not runnable: cloud provider {p}"), vec![], None)
                            }
                            Provider::Unknown(p) => (
                                format!(
                                    "not runnable: unknown provider {p} (runs on its fallback)"
                                ),
                                vec![],
                                None,
                            ),
                            Provider::OpenaiCompatible => (
                                "assumed available (openai-compatible)".to_string(),
                                vec![],
                                l.base_url.clone(),
                            ),
                            Provider::Ollama => {
                                let host = l
                                    .base_url
                                    .as_deref()
                                    .map(crate::provider::normalize_host)
                                    .unwrap_or_else(|| default.clone());
                                if !installed.contains_key(&host) {
                                    let r = tokio::time::timeout(
                                        Duration::from_secs(5),
                                        crate::provider::ollama::installed_models(&http, &host),
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
}

/// The items whose first (else second) field contains `q`, each marked with the field that matched.
fn matching(items: Vec<Value>, q: &str, fields: [&str; 2]) -> Vec<Value> {
    items
        .into_iter()
        .filter_map(|mut item| {
            let hit = fields
                .into_iter()
                .find(|f| item[*f].as_str().unwrap_or("").to_lowercase().contains(q))?;
            item["match"] = json!(hit);
            Some(item)
        })
        .collect()
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

fn is_run_folder(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() == 19
        && b[8] == b'-'
        && b[15] == b'-'
        && n.chars()
            .enumerate()
            .all(|(i, c)| i == 8 || i == 15 || c.is_ascii_digit())
}

fn docstring(source: &str) -> String {
    let t = source.trim_start_matches(|c: char| c == '#' || c == '!' || c.is_whitespace());
    let t = source.find("\"\"\"").map(|i| &source[i + 3..]).unwrap_or(t);
    t.split("\"\"\"")
        .next()
        .unwrap_or("")
        .split("\n\n")
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

const SCRIPT_BASIC: &str = r#"#!/usr/bin/env python3
"""Describe what this script does in one line.

Reads llm-orc's JSON on stdin ({"input": ..., "parameters": {...}}) and prints
{"success": true, "data": ...}. Parameters are also in $AGENT_PARAMETERS.
"""
import json
import sys


def main() -> None:
    payload = json.loads(sys.stdin.read() or "{}")
    text = payload.get("input", "") if isinstance(payload, dict) else payload
    print(json.dumps({"success": True, "data": text}))


if __name__ == "__main__":
    main()
"#;

const SCRIPT_SPLITTER: &str = r#"#!/usr/bin/env python3
"""Split the input into sentences for a fan-out agent.

Prints {"success": true, "data": [...]}; an agent with fan_out: true that depends on this
script runs once per item.
"""
import json
import re
import sys


def main() -> None:
    payload = json.loads(sys.stdin.read() or "{}")
    text = payload.get("input", "") if isinstance(payload, dict) else str(payload)
    parts = [p for p in re.split(r"(?<=[.!?])\s+", str(text).strip()) if p]
    print(json.dumps({"success": True, "data": parts}))


if __name__ == "__main__":
    main()
"#;

/// The `get_help` document: what the tools are for and how they fit together.
pub fn help() -> Value {
    json!({
        "overview": "orc runs llm-orc ensembles (YAML graphs of small local models) on Ollama. Use it to hand extraction, classification and summarisation to a swarm of local models: discover ensembles, create or adapt one, validate it, invoke it, then analyse the artifact.",
        "directory_structure": {
            "local": ".llm-orc/ in the project (ensembles/, profiles/, scripts/, artifacts/); set with set_project",
            "library": "$LLM_ORC_LIBRARY_PATH or ./llm-orchestra-library (ensembles/<category>/, scripts/<category>/)",
            "global": "$XDG_CONFIG_HOME/llm-orc or ~/.config/llm-orc",
            "priority": "local, then library, then global: the first ensemble with the name wins",
        },
        "schemas": {
            "ensemble": {"name": "string", "description": "string", "agents": "list of agents"},
            "agent": {
                "name": "string (unique)",
                "model_profile": "a profile name (or model + provider)",
                "system_prompt": "string",
                "depends_on": "list of agent names; the agent starts when they finish",
                "fan_out": "true: run once per item of the first dependency's JSON array",
                "script": "a script path instead of a model",
                "ensemble": "another ensemble, run as this agent",
                "timeout_seconds": "number",
            },
            "profile": {"name": "string", "provider": "ollama | openai-compatible", "model": "e.g. qwen3:0.6b", "base_url": "optional", "system_prompt": "optional", "temperature": "optional", "max_tokens": "optional"},
        },
        "tools": {
            "set_project": "point the server at a project directory",
            "list_ensembles / validate_ensemble / check_ensemble_runnable": "discover and check",
            "create_ensemble / update_ensemble / delete_ensemble": "edit project ensembles (update applies the changes; dry_run previews)",
            "invoke": "run an ensemble; progress notifications per agent; async: true returns a run_id at once",
            "run_status / run_result": "poll an async run and fetch its result",
            "list_profiles / create_profile / update_profile / delete_profile": "model profiles",
            "list_scripts / get_script / create_script / test_script / delete_script": "script agents",
            "analyze_execution / delete_artifact / cleanup_artifacts": "artifacts (ids are ensemble/timestamp or ensemble/latest)",
            "library_browse / library_search / library_info / library_copy": "the shared library",
            "get_provider_status": "which Ollama hosts answer and what models they have",
            "route_task / record_claude_task": "where a task goes (local ensemble, new ensemble, Claude); log work Claude did itself",
            "should_evaluate / record_evaluation / record_feedback / judge_locally": "judge sampled runs with the rubric (reasoning before verdict); the user's verdict",
            "learning_report / learn_routing / routing_history / rollback_routing / export_training_data": "savings and quality; learn routing in batches; training data",
            "list_dependencies / check_promotion_readiness / promote_ensemble / demote_ensemble": "what an ensemble needs; readiness with evidence; promotion only with confirm: true (force below the bar)",
            "cancel_run": "stop a running run",
        },
        "skill": "The `orc` Claude Code skill (`orc skill install`) teaches the whole loop: route, build in tiers, invoke, judge, record, learn in batches, promote with consent.",
        "workflows": {
            "the_learning_loop": ["route_task", "create_ensemble or library_copy (if route is new-ensemble)", "invoke with task_type (or, if route is claude, do it and record_claude_task with output)", "should_evaluate (judge: claude -> you judge; a profile -> judge_locally)", "judge with the rubric, reasoning first", "record_evaluation (also of Claude's redo, logged with record_claude_task redoes and output)", "record_feedback when the user accepts or rejects", "learn_routing in batches (automatic every 20 evaluations)"],
            "share_an_ensemble": ["check_promotion_readiness", "ask the user", "promote_ensemble with confirm: true (force: true only if the user wants it below the bar)", "for a git library: the user pushes contribute/NAME"],
            "route_a_task": ["list_ensembles", "check_ensemble_runnable", "invoke", "analyze_execution"],
            "build_an_ensemble": ["list_profiles", "create_ensemble", "validate_ensemble", "invoke"],
            "long_runs": ["invoke with async: true", "run_status until done", "run_result"],
            "clean_up": ["cleanup_artifacts (dry_run first)", "delete_artifact with confirm: true"],
        },
    })
}

// ---------------------------------------------------------------------- promotion

impl Service {
    fn tier_dir(&self, destination: &str) -> Result<(Tier, PathBuf), ServiceError> {
        match destination {
            "global" => Ok((Tier::Global, self.project.dirs.global.clone())),
            "library" => Ok((Tier::Library, self.project.dirs.library.clone())),
            "local" | "project" => Ok((Tier::Local, self.local_dir())),
            _ => Err(refuse("destination must be 'global' or 'library'")),
        }
    }

    /// The profiles an ensemble's agents (and its nested ensembles') refer to.
    fn profiles_used(
        &self,
        name: &str,
    ) -> Result<(crate::config::EnsembleFile, Vec<(String, String)>), ServiceError> {
        let file = self.find(name)?;
        let mut out = Vec::new();
        if let Some(spec) = &file.spec {
            for a in &spec.agents {
                match &a.kind {
                    crate::spec::AgentKind::Llm(l) => {
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

    pub async fn mcp_list_dependencies(&self, name: &str) -> Result<Value, ServiceError> {
        let (file, used) = self.profiles_used(name)?;
        let installed = self.installed_by_host().await;
        let mut agents = Vec::new();
        let (mut profiles, mut models, mut providers) = (Vec::new(), Vec::new(), Vec::new());
        for (agent, profile) in &used {
            let spec_agent = file
                .spec
                .as_ref()
                .and_then(|s| s.agents.iter().find(|a| &a.name.value == agent));
            if let Some(crate::spec::AgentKind::Script(sc)) = spec_agent.map(|a| &a.kind) {
                agents.push(json!({"name": agent, "type": "script", "script": sc.script.value}));
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
                (Some(pr), _, _) => Provider::parse(pr).is_some_and(|p| p.runnable()),
                _ => false,
            };
            agents.push(json!({
                "name": agent, "model_profile": profile, "profile_found": entry.is_some(),
                "profile_tier": entry.map(|p| p.tier), "provider": provider, "model": model, "model_available": available,
            }));
            profiles.push(profile.clone());
            if let Some(m) = model {
                models.push(m);
            }
            if let Some(p) = provider {
                providers.push(p);
            }
        }
        for v in [&mut profiles, &mut models, &mut providers] {
            v.sort();
            v.dedup();
        }
        let mut out = json!({"ensemble": file.name, "source_tier": file.tier, "agents": agents, "profiles_needed": profiles, "models_needed": models, "providers_needed": providers});
        // orc's addition: the whole closure, and what each destination tier lacks.
        if let Ok(c) = self.closure(name).await {
            out["closure"] = self.deps_report(&c);
        }
        Ok(out)
    }

    pub(crate) fn host_of(&self, base_url: Option<&str>) -> String {
        crate::provider::normalize_host(
            base_url
                .or(self.env.ollama_host.as_deref())
                .unwrap_or("http://localhost:11434"),
        )
    }

    pub(crate) async fn installed_by_host(&self) -> BTreeMap<String, Result<Vec<String>, String>> {
        let http = crate::provider::http_client();
        let mut out = BTreeMap::new();
        for host in self.ollama_hosts().into_keys() {
            let r = tokio::time::timeout(
                Duration::from_secs(5),
                crate::provider::ollama::installed_models(&http, &host),
            )
            .await
            .map_err(|_| "no answer within 5 s".to_string())
            .and_then(|r| r.map(|l| l.models).map_err(|e| e.to_string()));
            out.insert(host, r);
        }
        out
    }

    /// Whether `profile` exists at the destination tier (a profile file, or config.yaml there).
    fn profile_at(&self, dest: &Path, tier: Tier, profile: &str) -> bool {
        dest.join("profiles")
            .join(format!("{profile}.yaml"))
            .is_file()
            || self
                .project
                .profiles
                .get(profile)
                .is_some_and(|p| p.tier == tier)
    }

    pub async fn mcp_check_promotion(
        &self,
        name: &str,
        destination: &str,
    ) -> Result<Value, ServiceError> {
        let (tier, dest) = self.tier_dir(destination)?;
        if tier == Tier::Local {
            return Err(refuse("destination must be 'global' or 'library'"));
        }
        let (file, used) = self.profiles_used(name)?;
        let installed = self.installed_by_host().await;
        let mut issues = Vec::new();
        let (mut to_copy, mut present) = (Vec::new(), Vec::new());
        let mut seen = std::collections::HashSet::new();
        for (_, profile) in used.iter().filter(|(_, p)| !p.is_empty()) {
            if !seen.insert(profile.clone()) {
                continue;
            }
            match self.project.profiles.get(profile) {
                None => issues.push(json!({"type": "broken_reference", "detail": format!("Profile '{profile}' not found in any tier"), "resolution": "Create the profile before promoting"})),
                Some(p) => {
                    if self.profile_at(&dest, tier, profile) {
                        present.push(profile.clone());
                    } else {
                        to_copy.push(profile.clone());
                        issues.push(json!({"type": "missing_profile", "detail": format!("Profile '{profile}' not found at {destination} tier"), "resolution": "Will be copied during promotion if include_profiles=true"}));
                    }
                    if p.spec.provider.as_deref() == Some("ollama") {
                        let host = self.host_of(p.spec.base_url.as_deref());
                        match installed.get(&host) {
                            Some(Err(_)) | None => issues.push(json!({"type": "provider_unavailable", "detail": format!("Provider 'ollama' for profile '{profile}' is not available at {host}"), "resolution": "Ensure ollama is running"})),
                            Some(Ok(ms)) => {
                                if let Some(m) = &p.spec.model
                                    && !has_model(ms, m)
                                {
                                    issues.push(json!({"type": "model_unavailable", "detail": format!("Model '{m}' requires Ollama but is not installed"), "resolution": format!("Install with: ollama pull {m}")}));
                                }
                            }
                        }
                    }
                }
            }
        }
        let ready = !issues
            .iter()
            .any(|i| i["type"] == "broken_reference" || i["type"] == "provider_unavailable");
        let stem = file
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut out = json!({
            "ensemble": file.name, "destination": destination, "ready": ready, "issues": issues,
            "already_exists": dest.join("ensembles").join(&stem).exists(),
            "profiles_to_copy": to_copy, "profiles_already_present": present,
        });
        // orc's readiness: the bar (evaluations, generality signals) with its evidence.
        let d = crate::promote::Dest::parse(destination)?;
        let (r, closure) = self.readiness(name, d).await?;
        out["ready"] = json!(ready && r.ready);
        if let Some(c) = &closure {
            if let Ok(plan) = self.plan(c, d, None, false) {
                out["already_exists"] =
                    json!(plan.files.first().is_some_and(|f| f.action != "write"));
                out["would_write"] = json!(plan.writes().map(|f| &f.path).collect::<Vec<_>>());
            }
            out["dependencies"] = json!(c);
        }
        if let (Value::Object(o), Ok(Value::Object(extra))) = (&mut out, serde_json::to_value(&r)) {
            for (k, v) in extra {
                if k != "ready" && k != "ensemble" && k != "destination" {
                    o.insert(k, v);
                }
            }
        }
        Ok(out)
    }

    /// `promote_ensemble`: nothing is written without `confirm: true`; `dry_run` (or no
    /// confirm) returns the plan. `force` promotes below the readiness bar.
    #[allow(clippy::too_many_arguments)]
    pub async fn mcp_promote(
        &self,
        name: &str,
        destination: &str,
        include_profiles: bool,
        dry_run: Option<bool>,
        overwrite: bool,
        confirm: bool,
        force: bool,
        category: Option<&str>,
    ) -> Result<Value, ServiceError> {
        crate::promote::Dest::parse(destination)?;
        if dry_run == Some(false) && !confirm {
            return Err(refuse(
                "Confirmation required to promote (pass confirm: true after the user agreed); nothing was written. Call without dry_run: false to see the files it would write.",
            ));
        }
        let req = crate::promote::PromoteRequest {
            dry_run: dry_run.unwrap_or(!confirm),
            confirm,
            overwrite,
            force,
            category: category.map(str::to_string),
            skip_profiles: !include_profiles,
        };
        self.promote(name, destination, &req).await
    }

    pub fn mcp_demote(
        &self,
        name: &str,
        tier_name: &str,
        remove_orphaned_profiles: bool,
        confirm: bool,
    ) -> Result<Value, ServiceError> {
        if matches!(tier_name, "global" | "library") {
            return self.demote(name, tier_name, remove_orphaned_profiles, confirm);
        }
        let (tier, dir) = self.tier_dir(tier_name)?;
        let ens_dir = dir.join("ensembles");
        let path = safe_join(&ens_dir, name, ".yaml")?;
        if !path.is_file() {
            let known: Vec<String> = entry_names(&ens_dir)
                .into_iter()
                .filter_map(|n| {
                    n.strip_suffix(".yaml")
                        .or_else(|| n.strip_suffix(".yml"))
                        .map(str::to_string)
                })
                .collect();
            return Err(refuse(format!(
                "Ensemble '{name}' not found at {} tier{}",
                tier.label(),
                did_you_mean(name, known.iter().map(String::as_str))
            )));
        }
        // Profiles this file uses that no other ensemble of the tier uses, present as files there.
        let uses = |p: &Path| -> Vec<String> {
            let f = crate::config::load_ensemble_file(tier, p, String::new());
            f.spec
                .map(|s| {
                    s.agents
                        .iter()
                        .filter_map(|a| match &a.kind {
                            crate::spec::AgentKind::Llm(l) => {
                                l.model_profile.as_ref().map(|p| p.value.clone())
                            }
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let mine = uses(&path);
        let others: Vec<String> = fs::read_dir(&ens_dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p != &path && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .flat_map(|p| uses(&p))
            .collect();
        let mut orphans: Vec<String> = mine
            .into_iter()
            .filter(|p| {
                !others.contains(p) && dir.join("profiles").join(format!("{p}.yaml")).is_file()
            })
            .collect();
        orphans.sort();
        orphans.dedup();
        if !confirm {
            let mut would = json!({"ensemble": path});
            if remove_orphaned_profiles {
                would["orphaned_profiles"] = json!(orphans);
            }
            return Ok(
                json!({"status": "preview", "ensemble": name, "tier": tier.label(), "would_remove": would}),
            );
        }
        fs::remove_file(&path).map_err(io(&path))?;
        let mut removed = Vec::new();
        if remove_orphaned_profiles {
            for p in &orphans {
                let f = dir.join("profiles").join(format!("{p}.yaml"));
                if fs::remove_file(&f).is_ok() {
                    removed.push(p.clone());
                }
            }
        }
        Ok(
            json!({"status": "demoted", "ensemble": name, "tier": tier.label(), "removed_profiles": removed}),
        )
    }
}
