//! The plan: the exact files promoting a closure to a destination would write, each marked
//! write, skip (already there) or conflict (there, different), compared with the destination's
//! files (for a git library, with its default branch's tree).

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};

use super::closure::{Closure, ScriptHome};
use super::{DEFAULT_CATEGORY, Dest, git, io, refuse};
use crate::load::project::check_relative_name;
use crate::service::files::safe_join;
use crate::service::{Service, ServiceError};

/// What a promotion does with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Write,
    /// Already there, identical or defined.
    Skip,
    /// There, different.
    Conflict,
}

/// What a planned file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    Ensemble,
    Profile,
    Script,
    Readme,
}

impl FileKind {
    pub fn label(self) -> &'static str {
        match self {
            FileKind::Ensemble => "ensemble",
            FileKind::Profile => "profile",
            FileKind::Script => "script",
            FileKind::Readme => "readme",
        }
    }
}

/// One file a promotion would write (or leaves alone).
#[derive(Debug, Clone, Serialize)]
pub struct PlannedFile {
    pub action: Action,
    pub kind: FileKind,
    pub path: PathBuf,
    /// Relative to the destination's root.
    pub rel: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip)]
    pub bytes: Vec<u8>,
    #[serde(skip)]
    pub executable: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub destination: Dest,
    pub root: PathBuf,
    pub category: Option<String>,
    pub ensemble_path: PathBuf,
    pub files: Vec<PlannedFile>,
    /// A library that is a git repository: the contribution branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
}

impl Plan {
    pub fn writes(&self) -> impl Iterator<Item = &PlannedFile> {
        self.files.iter().filter(|f| f.action == Action::Write)
    }
}

/// The files being planned at one destination root, compared with what is there.
struct Placer {
    root: PathBuf,
    /// A git library gets a commit on top of its default branch: compare with that branch's
    /// files, not the working tree's (uncommitted edits and untracked files are not in it).
    git_lib: bool,
    overwrite: bool,
    files: Vec<PlannedFile>,
}

impl Placer {
    fn existing(&self, rel: &str, path: &Path) -> Option<Vec<u8>> {
        if self.git_lib {
            git::head_blob(&self.root, rel)
        } else {
            fs::read(path).ok()
        }
    }

    /// Plans `bytes` at `rel` (once per path): write, skip when identical, conflict when
    /// different (write with `overwrite`).
    fn add(
        &mut self,
        kind: FileKind,
        rel: String,
        source: Option<PathBuf>,
        bytes: Vec<u8>,
        executable: bool,
    ) -> Result<(), ServiceError> {
        check_relative_name(&rel).map_err(|why| refuse(format!("cannot place `{rel}`: {why}")))?;
        let path = safe_join(&self.root, &rel, "")?;
        if self.files.iter().any(|f| f.path == path) {
            return Ok(());
        }
        let (action, note) = match self.existing(&rel, &path) {
            Some(old) if old == bytes => (Action::Skip, Some("already there, identical".into())),
            Some(_) if self.overwrite => (Action::Write, Some("replaces a different file".into())),
            Some(_) => (
                Action::Conflict,
                Some("already there with different content".into()),
            ),
            None => (Action::Write, None),
        };
        self.files.push(PlannedFile {
            action,
            kind,
            path,
            rel,
            source,
            note,
            bytes,
            executable,
        });
        Ok(())
    }

    /// A file left alone, with why.
    fn skip(
        &mut self,
        kind: FileKind,
        rel: String,
        source: Option<PathBuf>,
        note: String,
    ) -> Result<(), ServiceError> {
        let path = safe_join(&self.root, &rel, "")?;
        self.files.push(PlannedFile {
            action: Action::Skip,
            kind,
            path,
            rel,
            source,
            note: Some(note),
            bytes: Vec::new(),
            executable: false,
        });
        Ok(())
    }
}

impl Service {
    /// The files promoting `c` to `dest` would write.
    pub fn plan(
        &self,
        c: &Closure,
        dest: Dest,
        category: Option<&str>,
        overwrite: bool,
    ) -> Result<Plan, ServiceError> {
        let root = self.dest_root(dest);
        let git_lib = dest == Dest::Library && git::is_repo_root(&root);
        let mut at = Placer {
            root,
            git_lib,
            overwrite,
            files: Vec::new(),
        };
        let category = category_for(c, dest, category)?;
        let bytes = fs::read(&c.source).map_err(io(&c.source))?;
        at.add(
            FileKind::Ensemble,
            ensemble_rel(c, category.as_deref()),
            Some(c.source.clone()),
            bytes,
            false,
        )?;
        let ensemble_path = at.files[0].path.clone();
        place_children(&mut at, c, dest)?;
        self.place_profiles(&mut at, c, dest)?;
        self.place_scripts(&mut at, c)?;
        if let Some(cat) = &category {
            place_readme(&mut at, c, cat)?;
        }
        let branch = git_lib.then(|| git::branch_name(&c.ensemble));
        Ok(Plan {
            destination: dest,
            root: at.root,
            category,
            ensemble_path,
            files: at.files,
            branch,
        })
    }

    /// Profiles not defined at the destination, one file each.
    fn place_profiles(&self, at: &mut Placer, c: &Closure, dest: Dest) -> Result<(), ServiceError> {
        for p in &c.profiles {
            let rel = format!("profiles/{}.yaml", p.name);
            let at_dest = if at.git_lib {
                check_relative_name(&rel).is_ok() && git::head_blob(&at.root, &rel).is_some()
            } else {
                self.profile_at_dest(dest, &p.name)
            };
            if at_dest {
                let note = format!(
                    "profile `{}` is already defined at the {} tier",
                    p.name,
                    dest.label()
                );
                at.skip(FileKind::Profile, rel, Some(p.source.clone()), note)?;
                continue;
            }
            let Some(entry) = self.project.profiles.get(&p.name) else {
                continue;
            };
            let mut v = serde_json::to_value(&entry.spec).unwrap_or(Value::Null);
            let mut dropped_url = false;
            if let Value::Object(m) = &mut v {
                m.insert("name".into(), json!(p.name));
                // A shared library gets no host of this machine's network (nor credentials in a
                // URL): whoever uses it reaches their own Ollama.
                if dest == Dest::Library {
                    dropped_url = m.remove("base_url").is_some_and(|u| !u.is_null());
                }
            }
            let text = serde_saphyr::to_string(&v)
                .map_err(|e| refuse(format!("cannot write profile `{}`: {e}", p.name)))?;
            let source = Some(p.source.clone());
            at.add(
                FileKind::Profile,
                rel.clone(),
                source,
                text.into_bytes(),
                false,
            )?;
            if dropped_url
                && let Some(f) = at
                    .files
                    .iter_mut()
                    .find(|f| f.rel == rel && f.note.is_none())
            {
                f.note = Some("base_url left out: the library never carries a host or URL of this machine's setup".into());
            }
        }
        Ok(())
    }

    /// Scripts that exist only in the project, under `<dest>/scripts/`.
    fn place_scripts(&self, at: &mut Placer, c: &Closure) -> Result<(), ServiceError> {
        let local = self.local_dir();
        let proj = self.project.dirs.project_root.clone();
        for s in &c.scripts {
            let (Some(path), Some(ScriptHome::Project)) = (&s.path, s.found_in) else {
                continue;
            };
            let rel = path
                .strip_prefix(local.join("scripts"))
                .or_else(|_| path.strip_prefix(&local))
                .ok()
                .or_else(|| proj.as_deref().and_then(|r| path.strip_prefix(r).ok()))
                .map(rel_string)
                .unwrap_or_else(|| {
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                });
            let rel = format!("scripts/{}", rel.trim_start_matches("scripts/"));
            let bytes = fs::read(path).map_err(io(path))?;
            at.add(
                FileKind::Script,
                rel,
                Some(path.clone()),
                bytes,
                is_executable(path),
            )?;
        }
        Ok(())
    }
}

/// The library category: the one asked for, else the ensemble's sub-folder, else the default.
/// The global tier has none.
fn category_for(
    c: &Closure,
    dest: Dest,
    category: Option<&str>,
) -> Result<Option<String>, ServiceError> {
    if dest == Dest::Global {
        return Ok(None);
    }
    let cat = category
        .map(str::to_string)
        .or_else(|| {
            (!c.rel_dir.is_empty()).then(|| c.rel_dir.rsplit('/').next().unwrap_or("").to_string())
        })
        .unwrap_or_else(|| DEFAULT_CATEGORY.to_string());
    check_category(&cat)?;
    Ok(Some(cat))
}

/// The ensemble itself: the global tier keeps its sub-folder; the library files it under a
/// category folder.
fn ensemble_rel(c: &Closure, category: Option<&str>) -> String {
    let stem = c
        .source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("{}.yaml", c.ensemble));
    match (category, c.rel_dir.is_empty()) {
        (Some(cat), _) => format!("ensembles/{cat}/{stem}"),
        (None, true) => format!("ensembles/{stem}"),
        (None, false) => format!("ensembles/{}/{stem}", c.rel_dir),
    }
}

/// Nested, loop and dispatch children go where a reference from the destination finds them:
/// `<dest>/ensembles/<reference>.yaml`.
fn place_children(at: &mut Placer, c: &Closure, dest: Dest) -> Result<(), ServiceError> {
    for e in &c.ensembles {
        if e.tier == Some(dest.tier()) {
            continue;
        }
        let ext = e
            .path
            .extension()
            .map(|x| x.to_string_lossy().into_owned())
            .unwrap_or_else(|| "yaml".into());
        let rel = format!("ensembles/{}.{ext}", e.reference);
        let bytes = fs::read(&e.path).map_err(io(&e.path))?;
        at.add(FileKind::Ensemble, rel, Some(e.path.clone()), bytes, false)?;
    }
    Ok(())
}

/// The library's category README lists the ensemble.
fn place_readme(at: &mut Placer, c: &Closure, cat: &str) -> Result<(), ServiceError> {
    let rel = format!("ensembles/{cat}/README.md");
    let path = safe_join(&at.root, &rel, "")?;
    let line = format!(
        "- `{}`: {}\n",
        c.ensemble,
        c.description.as_deref().unwrap_or("").replace('\n', " ")
    );
    let old = at
        .existing(&rel, &path)
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let marker = format!("- `{}`:", c.ensemble);
    let new = match &old {
        Some(t) if t.lines().any(|l| l.starts_with(&marker)) => None,
        Some(t) => Some(format!(
            "{t}{}{line}",
            if t.ends_with('\n') || t.is_empty() {
                ""
            } else {
                "\n"
            }
        )),
        None => Some(format!("# {cat}\n\nEnsembles in this category:\n\n{line}")),
    };
    let Some(text) = new else {
        return at.skip(
            FileKind::Readme,
            rel,
            None,
            "already lists the ensemble".into(),
        );
    };
    let note = if old.is_some() {
        "adds a line"
    } else {
        "new category"
    };
    at.files.push(PlannedFile {
        action: Action::Write,
        kind: FileKind::Readme,
        path,
        rel,
        source: None,
        note: Some(note.into()),
        bytes: text.into_bytes(),
        executable: false,
    });
    Ok(())
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = p;
        false
    }
}

fn rel_string(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// A library category: one folder name.
fn check_category(c: &str) -> Result<(), ServiceError> {
    if c.is_empty()
        || c.len() > 64
        || !c
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    {
        return Err(refuse(format!(
            "category `{}` must be one folder name of letters, digits, `-` and `_`",
            c.chars().take(64).collect::<String>()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planned_files_serialize_in_their_order_with_absent_options_left_out() {
        let f = PlannedFile {
            action: Action::Conflict,
            kind: FileKind::Readme,
            path: PathBuf::from("/lib/ensembles/x/README.md"),
            rel: "ensembles/x/README.md".into(),
            source: None,
            note: Some("n".into()),
            bytes: b"x".to_vec(),
            executable: true,
        };
        assert_eq!(
            serde_json::to_string(&f).ok().as_deref(),
            Some(
                r#"{"action":"conflict","kind":"readme","path":"/lib/ensembles/x/README.md","rel":"ensembles/x/README.md","note":"n"}"#
            )
        );
    }

    #[test]
    fn categories_are_one_folder_name() {
        assert!(check_category("research_2").is_ok());
        assert!(check_category("a/b").is_err());
        assert!(check_category("").is_err());
    }
}
