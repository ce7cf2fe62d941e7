//! The shared library: browse, search, describe, copy into the project.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::files::*;
use crate::load::project::{Tier, stays_inside};
use crate::service::{Service, ServiceError};

impl Service {
    pub fn library_root(&self) -> PathBuf {
        self.project.dirs.library.clone()
    }

    fn library_items(&self) -> (Vec<LibraryEnsemble>, Vec<LibraryScript>) {
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
                // A link that leads out of the library (or to something that is not a file) is
                // not the library's: never listed, read or offered (copy refuses it too).
                if e.file_type().is_ok_and(|t| t.is_symlink())
                    && !(p.is_file() && stays_inside(&root, &p))
                {
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
                    ens.push(LibraryEnsemble {
                        name: f.name,
                        description: f.description.unwrap_or_default(),
                        path: rel,
                        category,
                    });
                } else if rel.starts_with("scripts/") {
                    scripts.push(LibraryScript {
                        name: p.file_stem().map(|s| s.to_string_lossy().into_owned()),
                        category,
                        path: rel,
                    });
                }
            }
        }
        ens.sort_by(|a, b| a.path.cmp(&b.path));
        scripts.sort_by(|a, b| a.path.cmp(&b.path));
        (ens, scripts)
    }

    /// The library's ensembles and/or scripts (`browse_type`: all, ensembles, scripts),
    /// optionally of one category.
    pub fn library_browse(
        &self,
        browse_type: &str,
        category: Option<&str>,
    ) -> Result<LibraryListing, ServiceError> {
        let (want_ens, want_scripts) = match browse_type {
            "all" | "" => (true, true),
            "ensembles" => (true, false),
            "scripts" => (false, true),
            other => {
                return Err(refuse(format!(
                    "browse_type must be all, ensembles or scripts, not `{other}`"
                )));
            }
        };
        let (ens, scripts) = self.library_items();
        let keep = |c: &str| category.is_none_or(|want| c == want);
        Ok(LibraryListing {
            ensembles: want_ens.then(|| ens.into_iter().filter(|e| keep(&e.category)).collect()),
            scripts: want_scripts
                .then(|| scripts.into_iter().filter(|s| keep(&s.category)).collect()),
        })
    }

    /// The library items whose name or description (ensembles), name or category (scripts)
    /// contain the query, case-insensitively.
    pub fn library_search(&self, query: &str) -> Result<LibrarySearch, ServiceError> {
        let q = query.trim().to_lowercase();
        if q.is_empty() {
            return Err(refuse("query is required"));
        }
        let (ens, scripts) = self.library_items();
        let ensembles = matching(
            ens,
            &q,
            [
                (Matched::Name, |e| &e.name),
                (Matched::Description, |e| &e.description),
            ],
        );
        let scripts = matching(
            scripts,
            &q,
            [
                (Matched::Name, |s| s.name.as_deref().unwrap_or("")),
                (Matched::Category, |s| &s.category),
            ],
        );
        Ok(LibrarySearch {
            query: q,
            ensembles,
            scripts,
        })
    }

    /// Where the library is and what it holds.
    pub fn library_info(&self) -> LibraryInfo {
        let root = self.library_root();
        let (ens, scripts) = self.library_items();
        let mut categories: Vec<String> = ens
            .iter()
            .map(|e| e.category.clone())
            .chain(scripts.iter().map(|s| s.category.clone()))
            .collect();
        categories.sort();
        categories.dedup();
        LibraryInfo {
            exists: root.is_dir(),
            path: root,
            ensembles_count: ens.len(),
            scripts_count: scripts.len(),
            categories,
        }
    }

    /// Copies one library file into the project. An ensemble (a source under `ensembles/` or a
    /// YAML file) lands in `.llm-orc/ensembles/`, a script in `.llm-orc/scripts/`; `destination`
    /// is a name or relative path inside that folder (`.yaml`, or the script's extension, is
    /// appended when missing) and never reaches anything else of `.llm-orc/`.
    pub fn library_copy(
        &self,
        source: &str,
        destination: Option<&str>,
        overwrite: bool,
    ) -> Result<LibraryCopy, ServiceError> {
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
                .map(|e| e.path.as_str())
                .chain(scripts.iter().map(|s| s.path.as_str()))
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
        Ok(LibraryCopy {
            source: src,
            destination: dest,
        })
    }
}

/// A library ensemble; `path` is relative to the library root.
#[derive(Debug, Clone)]
pub struct LibraryEnsemble {
    pub name: String,
    pub description: String,
    pub path: String,
    /// The folder it is in.
    pub category: String,
}

/// A library script; `path` is relative to the library root.
#[derive(Debug, Clone)]
pub struct LibraryScript {
    /// The file stem.
    pub name: Option<String>,
    /// The folder it is in.
    pub category: String,
    pub path: String,
}

/// What `library_browse` lists: `None` for a kind not asked for.
#[derive(Debug, Clone)]
pub struct LibraryListing {
    pub ensembles: Option<Vec<LibraryEnsemble>>,
    pub scripts: Option<Vec<LibraryScript>>,
}

/// An item that matched a search, with the field that matched.
#[derive(Debug, Clone)]
pub struct LibraryHit<T> {
    pub item: T,
    pub matched: Matched,
}

/// The field of a library item a search matched (`match` in `library_search`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Matched {
    Name,
    Description,
    Category,
}

/// A library search: the query as searched (trimmed, lower case) and the hits.
#[derive(Debug, Clone)]
pub struct LibrarySearch {
    pub query: String,
    pub ensembles: Vec<LibraryHit<LibraryEnsemble>>,
    pub scripts: Vec<LibraryHit<LibraryScript>>,
}

impl LibrarySearch {
    pub fn total(&self) -> usize {
        self.ensembles.len() + self.scripts.len()
    }
}

#[derive(Debug, Clone)]
pub struct LibraryInfo {
    pub path: PathBuf,
    pub exists: bool,
    pub ensembles_count: usize,
    pub scripts_count: usize,
    /// Every category of both kinds, sorted, once each.
    pub categories: Vec<String>,
}

/// A library file copied into the project.
#[derive(Debug, Clone)]
pub struct LibraryCopy {
    pub source: PathBuf,
    pub destination: PathBuf,
}

/// A searchable field of a library item: its name and how to read it.
type Field<T> = (Matched, fn(&T) -> &str);

/// The items whose first (else second) field contains `q`, each with the name of the field
/// that matched.
fn matching<T>(items: Vec<T>, q: &str, fields: [Field<T>; 2]) -> Vec<LibraryHit<T>> {
    items
        .into_iter()
        .filter_map(|item| {
            let (matched, _) = fields
                .into_iter()
                .find(|(_, get)| get(&item).to_lowercase().contains(q))?;
            Some(LibraryHit { item, matched })
        })
        .collect()
}
