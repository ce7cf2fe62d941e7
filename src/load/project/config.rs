//! `config.yaml`: the merged settings of a project, read key by key from each tier's file.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::hosts::{HostEntry, read_hosts};
use super::performance::{Performance, read_performance};
use super::profiles::Profiles;
use super::read_text;
use super::scripts::{ScriptSettings, read_scripts};
use super::tiers::Tier;
use crate::load::diag::{Diagnostic, Sink};
use crate::load::spec::{self, Reader};
use crate::load::yaml::{self, Entry, Value};

/// Merged `config.yaml` contents.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Config {
    pub project_name: Option<String>,
    pub default_models: BTreeMap<String, String>,
    pub performance: Performance,
    pub scripts: ScriptSettings,
    /// The pool of Ollama hosts (`hosts:`); empty = one host (`OLLAMA_HOST` or localhost).
    pub hosts: Vec<HostEntry>,
}

pub(super) fn read_config(
    path: &Path,
    tier: Tier,
    config: &mut Config,
    profiles: &mut Profiles,
    out: &mut Vec<Diagnostic>,
) {
    let text = match read_text(path) {
        Ok(t) => t,
        Err(d) => {
            out.push(d);
            return;
        }
    };
    read_config_text(&text, path, tier, config, profiles, out);
}

/// Reads config.yaml text (as if it were at `path`) into `config` and `profiles`.
pub fn read_config_text(
    text: &str,
    path: &Path,
    tier: Tier,
    config: &mut Config,
    profiles: &mut Profiles,
    out: &mut Vec<Diagnostic>,
) {
    let mut sink = Sink::new(path);
    match yaml::parse(text) {
        Err(e) => {
            sink.error(e.pos, format!("YAML syntax: {}", e.message));
        }
        Ok(doc) => {
            spec::warn_duplicates(&doc, &mut sink);
            match &doc.root.value {
                Value::Null => {}
                Value::Map(entries) => {
                    read_config_entries(entries, tier, path, config, profiles, &mut sink)
                }
                other => {
                    sink.error(
                        doc.root.pos,
                        format!("config.yaml must be a mapping, found {}", other.kind()),
                    );
                }
            }
        }
    }
    out.extend(sink.items);
}

const CONFIG_KEYS: &[&str] = &[
    "project",
    "model_profiles",
    "performance",
    "hosts",
    "agentic_serving",
    "serving",
    "remotes",
    "templates",
    "streaming_enabled",
    "scripts",
    "learning",
    "routing",
];

fn read_config_entries(
    entries: &[Entry],
    tier: Tier,
    path: &Path,
    config: &mut Config,
    profiles: &mut Profiles,
    sink: &mut Sink,
) {
    let mut r = Reader { sink };
    for e in entries {
        match e.key.as_str() {
            "project" => {
                let Some(pe) = e.value.as_map() else {
                    if !e.value.is_null() {
                        r.sink.error(e.value.pos, "`project` must be a mapping");
                    }
                    continue;
                };
                for p in pe {
                    match p.key.as_str() {
                        "name" => config.project_name = r.text(p),
                        "default_models" => {
                            for (k, v) in r.object(p) {
                                if let Some(s) = v.as_str() {
                                    config.default_models.insert(k, s.to_string());
                                }
                            }
                        }
                        _ => r.unknown_key(p, "`project`", &["name", "default_models"]),
                    }
                }
            }
            "model_profiles" => match &e.value.value {
                Value::Map(items) => {
                    for item in items {
                        if let Some(p) = spec::read_profile(&mut r, Some(&item.key), &item.value) {
                            profiles.insert(p, tier, path);
                        }
                    }
                }
                Value::Null => {}
                other => {
                    r.sink.error(
                        e.value.pos,
                        format!(
                            "`model_profiles` must be a mapping of names to profiles, found {}",
                            other.kind()
                        ),
                    );
                }
            },
            "performance" => read_performance(&mut r, &e.value, &mut config.performance),
            "hosts" => read_hosts(&mut r, &e.value, &mut config.hosts),
            "scripts" => read_scripts(&mut r, &e.value, tier, path, &mut config.scripts),
            "streaming_enabled" => {
                if let Some(b) = r.boolean(e) {
                    config.performance.streaming_enabled = Some(b);
                }
            }
            "agentic_serving" | "serving" | "remotes" | "templates" => {}
            // The learning loop reads its own sections (src/learn).
            "learning" | "routing" => {}
            _ => r.unknown_key(e, "config.yaml", CONFIG_KEYS),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::load::project::CacheMode;

    fn read(texts: &[&str]) -> (Config, Vec<String>) {
        let mut config = Config::default();
        let mut profiles = Profiles::default();
        let mut out = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            let path = PathBuf::from(format!("/p{i}/config.yaml"));
            read_config_text(t, &path, Tier::Local, &mut config, &mut profiles, &mut out);
        }
        (config, out.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn hosts_are_read_and_a_later_file_replaces_the_same_url() {
        let global = "hosts:\n  - http://gpu1:11434\n  - url: http://gpu2:11434/\n    priority: 5\n    max_loaded_models: 1\n";
        let local =
            "hosts:\n  - url: http://gpu2:11434\n    per_model_limit: 2\n  - http://cpu:11434\n";
        let (c, errs) = read(&[global, local]);
        assert!(errs.is_empty(), "{errs:?}");
        let urls: Vec<_> = c.hosts.iter().map(|h| h.url.as_str()).collect();
        assert_eq!(
            urls,
            ["http://gpu1:11434", "http://gpu2:11434", "http://cpu:11434"]
        );
        assert_eq!(c.hosts[1].per_model_limit, Some(2));
        assert_eq!(
            (c.hosts[1].priority, c.hosts[1].max_loaded_models),
            (0, None)
        );
    }

    #[test]
    fn bad_hosts_are_errors_with_their_line() {
        let (_, errs) = read(&[
            "hosts:\n  - url: ''\n  - priority: 1\n  - url: http://a\n    max_loaded_models: 0\n  - 7\n",
        ]);
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(
            errs[0].contains(":2:") && errs[0].contains("non-empty `url`"),
            "{errs:?}"
        );
        assert!(
            errs[1].contains(":3:") && errs[1].contains("needs `url`"),
            "{errs:?}"
        );
        assert!(
            errs[2].contains("`max_loaded_models` must be at least 1"),
            "{errs:?}"
        );
        assert!(errs[3].contains("a host must be a URL"), "{errs:?}");
    }

    #[test]
    fn budget_and_result_cache_are_read() {
        let (c, errs) = read(&[
            "performance:\n  budget:\n    tokens_per_run: 5000\n  result_cache: always\n",
            "performance:\n  budget:\n    cost_usd_per_run: 0.25\n  result_cache:\n    enabled: true\n    max_mb: 8\n",
        ]);
        assert!(errs.is_empty(), "{errs:?}");
        let p = &c.performance;
        assert_eq!(
            (p.budget_tokens, p.budget_cost_usd),
            (Some(5000), Some(0.25))
        );
        assert_eq!(p.result_cache.mode, CacheMode::Deterministic);
        assert_eq!(p.result_cache.max_mb, 8);
        let (_, errs) = read(&[
            "performance:\n  budget:\n    tokens_per_run: 0\n    cost_usd_per_run: -1\n  result_cache: maybe\n",
        ]);
        assert_eq!(errs.len(), 3, "{errs:?}");
    }
}
