//! The catalogue of ensemble files: every YAML file under each tier's `ensembles/`, read and
//! parsed, and how a name finds one of them.

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::names::stays_inside;
use super::read_text;
use super::tiers::{Dirs, Tier};
use crate::load::diag::{Diagnostic, Sink};
use crate::load::spec::{self, EnsembleSpec};

/// One ensemble file found in a tier.
#[derive(Debug, Clone)]
pub struct EnsembleFile {
    pub tier: Tier,
    pub path: PathBuf,
    /// Sub-folder under the tier's `ensembles/`, `/`-separated, empty at the top.
    pub rel_dir: String,
    /// The `name:` key, else the file stem.
    pub name: String,
    pub description: Option<String>,
    /// The parsed file, or `None` when it could not be read as an ensemble.
    pub spec: Option<Arc<EnsembleSpec>>,
    /// What reading the file found.
    pub diagnostics: Vec<Diagnostic>,
}

impl EnsembleFile {
    /// `sub/dir/name`, or `name` at the top.
    pub fn qualified_name(&self) -> String {
        if self.rel_dir.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.rel_dir, self.name)
        }
    }

    pub fn stem(&self) -> String {
        self.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    pub fn is_valid_yaml(&self) -> bool {
        self.spec.is_some()
    }

    /// Whether the file is named after its ensemble (`<name>.yaml` or `<name>.yml`).
    pub fn named_after_itself(&self) -> bool {
        self.stem() == self.name
    }
}

/// Every ensemble file in the tiers, in lookup order.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub files: Vec<EnsembleFile>,
    /// The ensemble directories searched, in order (existing ones only).
    pub searched: Vec<PathBuf>,
}

/// How orc picks one of several files with the same name in one tier (llm-orc takes whichever
/// the filesystem lists first).
pub const SAME_NAME_RULE: &str = "the file named after the ensemble wins, else the first by path";

impl Catalogue {
    /// Finds an ensemble as llm-orc's CLI does: by its `name:`, or `sub/dir/name`; first tier
    /// wins. Within a tier, a file whose qualified name is the query beats one matched by its
    /// bare `name:`, then [`SAME_NAME_RULE`] decides. A file whose YAML is broken is found by its
    /// file stem so its errors can be shown.
    pub fn find(&self, query: &str) -> Option<&EnsembleFile> {
        let query = query.trim_end_matches(".yaml").trim_end_matches(".yml");
        let mut best: Option<(Tier, bool, bool, usize)> = None;
        for (i, f) in self.files.iter().enumerate() {
            if !f.is_valid_yaml() || !(f.name == query || f.qualified_name() == query) {
                continue;
            }
            // Files are in lookup order, so the first tier with a match is the first seen.
            if best.is_some_and(|(t, ..)| t != f.tier) {
                break;
            }
            let rank = (
                f.tier,
                f.qualified_name() != query,
                !f.named_after_itself(),
                i,
            );
            if best.is_none_or(|b| rank < b) {
                best = Some(rank);
            }
        }
        if let Some((.., i)) = best {
            return self.files.get(i);
        }
        self.files.iter().find(|f| {
            let rel = if f.rel_dir.is_empty() {
                f.stem()
            } else {
                format!("{}/{}", f.rel_dir, f.stem())
            };
            !f.is_valid_yaml() && (f.stem() == query || rel == query)
        })
    }

    /// The other readable files of `file`'s tier with the same qualified name.
    pub fn same_name_in_tier(&self, file: &EnsembleFile) -> Vec<&EnsembleFile> {
        self.files
            .iter()
            .filter(|f| {
                f.path != file.path
                    && f.tier == file.tier
                    && f.is_valid_yaml()
                    && f.qualified_name() == file.qualified_name()
            })
            .collect()
    }

    /// Whether a readable file of an earlier tier has `file`'s qualified name.
    pub fn shadowed_by_earlier_tier(&self, file: &EnsembleFile) -> bool {
        self.files.iter().any(|f| {
            f.tier < file.tier && f.is_valid_yaml() && f.qualified_name() == file.qualified_name()
        })
    }

    /// Whether `file` is the one a lookup of its name reaches.
    pub fn is_active(&self, file: &EnsembleFile) -> bool {
        self.find(&file.qualified_name())
            .is_some_and(|f| f.path == file.path)
    }
}

/// Lists ensemble files under each tier's `ensembles/`, recursively, sorted by relative path.
pub(super) fn scan_catalogue(dirs: &Dirs) -> Catalogue {
    let mut cat = Catalogue::default();
    for (tier, dir) in dirs.ensemble_dirs() {
        if !dir.is_dir() {
            continue;
        }
        cat.searched.push(dir.clone());
        let mut paths = Vec::new();
        walk_yaml(&dir, &dir, 0, &mut paths);
        paths.sort();
        for path in paths {
            let rel_dir = path
                .parent()
                .and_then(|p| p.strip_prefix(&dir).ok())
                .map(|p| {
                    p.components()
                        .filter_map(|c| match c {
                            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .unwrap_or_default();
            cat.files.push(load_ensemble_file(tier, &path, rel_dir));
        }
    }
    cat
}

/// Reads one ensemble file.
pub fn load_ensemble_file(tier: Tier, path: &Path, rel_dir: String) -> EnsembleFile {
    match read_text(path) {
        Ok(text) => ensemble_from_text(tier, path, rel_dir, &text),
        Err(d) => {
            let mut f = ensemble_from_text(tier, path, rel_dir, "");
            f.spec = None;
            f.diagnostics = vec![d];
            f
        }
    }
}

/// An ensemble file as if `text` were at `path` (to check a change before writing it).
pub fn ensemble_from_text(tier: Tier, path: &Path, rel_dir: String, text: &str) -> EnsembleFile {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut sink = Sink::new(path);
    let spec = spec::parse_ensemble(text, path, &mut sink);
    EnsembleFile {
        tier,
        path: path.to_path_buf(),
        rel_dir,
        name: spec.as_ref().map(|s| s.name.value.clone()).unwrap_or(stem),
        description: spec.as_ref().and_then(|s| s.description.clone()),
        spec: spec.map(Arc::new),
        diagnostics: sink.items,
    }
}

/// Deepest sub-folder scanned for ensembles.
const MAX_SCAN_DEPTH: usize = 16;

fn walk_yaml(root: &Path, dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > MAX_SCAN_DEPTH {
        return;
    }
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    for entry in rd.filter_map(Result::ok) {
        let path = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_symlink() {
            // A link is followed only when it stays inside the tier's directory.
            if !stays_inside(root, &path) {
                continue;
            }
        }
        if path.is_dir() {
            if !ft.is_symlink() {
                walk_yaml(root, &path, depth + 1, out);
            }
        } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(path);
        }
    }
}
