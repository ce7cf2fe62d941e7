//! Model profiles merged the way llm-orc merges them: config.yaml's `model_profiles` and the
//! `profiles/` folders, later tiers and files replacing earlier ones.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::read_text;
use super::tiers::Tier;
use crate::load::diag::{Diagnostic, Sink, WithHint};
use crate::load::spec::{self, ProfileSpec, Reader};
use crate::load::yaml;

/// A profile with where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileEntry {
    #[serde(flatten)]
    pub spec: ProfileSpec,
    pub tier: Tier,
    pub source: PathBuf,
    /// Files whose definition this one replaced, in merge order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<PathBuf>,
}

/// All profiles, merged: global config.yaml, global profiles/, local config.yaml, local
/// profiles/ (`*.local.yaml` last); a later definition replaces an earlier one whole.
#[derive(Debug, Clone, Default)]
pub struct Profiles {
    pub by_name: BTreeMap<String, ProfileEntry>,
    /// Every file and directory profiles were looked for in, for error messages.
    pub searched: Vec<PathBuf>,
}

impl Profiles {
    pub fn get(&self, name: &str) -> Option<&ProfileEntry> {
        self.by_name.get(name)
    }

    pub(super) fn insert(&mut self, spec: ProfileSpec, tier: Tier, source: &Path) {
        let mut overrides = Vec::new();
        if let Some(old) = self.by_name.remove(&spec.name) {
            overrides = old.overrides;
            overrides.push(old.source);
        }
        self.by_name.insert(
            spec.name.clone(),
            ProfileEntry {
                spec,
                tier,
                source: source.to_path_buf(),
                overrides,
            },
        );
    }
}

pub(super) fn read_profile_dir(
    dir: &Path,
    tier: Tier,
    profiles: &mut Profiles,
    out: &mut Vec<Diagnostic>,
) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml") && p.is_file())
        .collect();
    // Sorted by name, with private `*.local.yaml` overrides after all the others.
    files.sort_by_key(|p| {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (
            name.ends_with(".local.yaml") || name.ends_with(".local.yml"),
            name,
        )
    });
    for path in files {
        let mut sink = Sink::new(&path);
        match read_text(&path) {
            Err(d) => out.push(d),
            Ok(text) => match yaml::parse(&text) {
                Err(e) => {
                    sink.error(e.pos, format!("YAML syntax: {}", e.message));
                }
                Ok(doc) => {
                    spec::warn_duplicates(&doc, &mut sink);
                    let mut r = Reader { sink: &mut sink };
                    if doc.root.get("model_profiles").is_some()
                        || doc.root.get("profiles").is_some()
                    {
                        r.sink
                            .warning(doc.root.pos, "this profile file lists several profiles; runs read one profile per file")
                            .hint("put each profile in its own file with a `name:` key");
                    } else if let Some(p) = spec::read_profile(&mut r, None, &doc.root) {
                        profiles.insert(p, tier, &path);
                    }
                }
            },
        }
        out.extend(sink.items);
    }
}
