//! The project's files on disk: where the local, library and global trees are, `config.yaml`,
//! model profiles merged the way llm-orc merges them, and the catalogue of ensemble files.

mod catalogue;
mod config;
mod hosts;
mod names;
mod performance;
mod profiles;
mod scripts;
mod tiers;

use std::fs;
use std::path::{Path, PathBuf};

use catalogue::scan_catalogue;
pub use catalogue::{
    Catalogue, EnsembleFile, SAME_NAME_RULE, ensemble_from_text, load_ensemble_file,
};
use config::read_config;
pub use config::{Config, read_config_text};
pub use hosts::{HostEntry, hosts_from_env};
pub use names::{check_name_chars, check_relative_name, stays_inside};
pub use performance::{
    CacheMode, DEFAULT_MAX_FAN_OUT, DEFAULT_MAX_RESPONSE_BYTES, Performance, ResultCache,
};
use profiles::read_profile_dir;
pub use profiles::{ProfileEntry, Profiles};
pub use scripts::{ConfiguredInterpreter, DEFAULT_SCRIPT_OUTPUT_BYTES, ScriptSettings};
pub use tiers::{Dirs, Env, LOCAL_DIR, Tier};

use crate::load::diag::{Diagnostic, Sink, WithHint};
use crate::load::yaml::{self, Pos};

/// Everything read from disk for one working directory.
#[derive(Debug, Clone)]
pub struct Project {
    pub dirs: Dirs,
    pub config: Config,
    pub profiles: Profiles,
    /// Every ensemble file, read on first use (a single lookup usually needs one file).
    catalogue: std::sync::OnceLock<Catalogue>,
    /// Problems in config.yaml and profile files.
    pub diagnostics: Vec<Diagnostic>,
    /// The config files read, in merge order.
    pub config_files: Vec<PathBuf>,
}

/// Largest file orc will read.
const MAX_FILE: u64 = yaml::MAX_FILE_BYTES as u64;

/// Reads a text file, refusing huge ones; the error is a diagnostic.
pub fn read_text(path: &Path) -> Result<String, Diagnostic> {
    let fail = |message: String| Diagnostic {
        severity: crate::load::diag::Severity::Error,
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        message,
        hint: None,
    };
    let meta = fs::metadata(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    if meta.len() > MAX_FILE {
        return Err(fail(format!(
            "file is {} bytes; orc reads YAML files of at most {MAX_FILE} bytes",
            meta.len()
        )));
    }
    let bytes = fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| fail(format!("not UTF-8 text: {e}")))
}

impl Project {
    /// Reads config, profiles and the ensemble catalogue.
    pub fn load(dirs: Dirs) -> Project {
        let mut diagnostics = Vec::new();
        let mut config = Config::default();
        let mut profiles = Profiles::default();
        let mut config_files = Vec::new();
        // The packaged profiles come first, so that any other definition replaces them.
        let mut trees: Vec<(Tier, PathBuf)> = dirs
            .packaged
            .iter()
            .map(|p| (Tier::Packaged, p.clone()))
            .collect();
        trees.push((Tier::Global, dirs.global.clone()));
        if let Some(local) = &dirs.local {
            trees.push((Tier::Local, local.clone()));
        }
        for (tier, root) in trees {
            let cfg = root.join("config.yaml");
            profiles.searched.push(cfg.clone());
            if cfg.is_file() && tier == Tier::Packaged {
                // Only the packaged tree's profiles count: its settings are not the project's,
                // and its warnings are nobody's to fix.
                let mut found = Vec::new();
                read_config(
                    &cfg,
                    tier,
                    &mut Config::default(),
                    &mut profiles,
                    &mut found,
                );
                diagnostics.extend(found.into_iter().filter(Diagnostic::is_error));
            } else if cfg.is_file() {
                config_files.push(cfg.clone());
                read_config(&cfg, tier, &mut config, &mut profiles, &mut diagnostics);
            }
            let pdir = root.join("profiles");
            profiles.searched.push(pdir.clone());
            read_profile_dir(&pdir, tier, &mut profiles, &mut diagnostics);
        }
        Project {
            dirs,
            config,
            profiles,
            catalogue: std::sync::OnceLock::new(),
            diagnostics,
            config_files,
        }
    }
}

impl Project {
    /// Every ensemble file of every tier (read and parsed on first use).
    pub fn catalogue(&self) -> &Catalogue {
        self.catalogue.get_or_init(|| scan_catalogue(&self.dirs))
    }

    /// Finds an ensemble by name. Tries the file named after the ensemble in the first tier
    /// that exists (`<tier>/ensembles/<name>.yaml`), which avoids reading every file of a
    /// project; falls back to the full catalogue (other tiers, names that differ from file
    /// names, broken files). Only the first tier can answer early: a file of a later tier may be
    /// hidden by a file of an earlier one whose name differs from its file name.
    pub fn find_ensemble(&self, query: &str) -> Option<EnsembleFile> {
        let query = query.trim_end_matches(".yaml").trim_end_matches(".yml");
        let first_tier = self
            .dirs
            .ensemble_dirs()
            .into_iter()
            .find(|(_, dir)| dir.is_dir());
        if let Some((tier, dir)) = first_tier
            && check_relative_name(query).is_ok()
            && self.catalogue.get().is_none()
        {
            for ext in ["yaml", "yml"] {
                let path = dir.join(format!("{query}.{ext}"));
                if !path.is_file() || !stays_inside(&dir, &path) {
                    continue;
                }
                let rel_dir = Path::new(query)
                    .parent()
                    .map(|p| p.to_string_lossy().replace('\\', "/"))
                    .unwrap_or_default();
                let f = load_ensemble_file(tier, &path, rel_dir);
                // Named after itself, so no other file of this tier beats it.
                if f.is_valid_yaml() && f.qualified_name() == query && f.named_after_itself() {
                    return Some(f);
                }
            }
        }
        self.catalogue().find(query).cloned()
    }
}

/// Position-free diagnostic for a file.
pub fn file_error(path: &Path, message: String, hint: Option<String>) -> Diagnostic {
    let mut sink = Sink::new(path);
    let d = sink.error(Pos::UNKNOWN, message);
    if let Some(h) = hint {
        d.hint(h);
    }
    sink.items.remove(0)
}
