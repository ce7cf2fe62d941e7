//! The shared library: browse, search, describe, copy into the project.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::files::*;
use crate::load::project::{Tier, stays_inside};
use crate::service::{Service, ServiceError};

impl Service {
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
                    let f =
                        crate::load::project::load_ensemble_file(Tier::Library, &p, String::new());
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
        crate::store::atomic::write_atomic(&dest, &bytes)?;
        Ok(json!({"copied": true, "source": src, "destination": dest}))
    }

    // ------------------------------------------------------------------ providers
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
