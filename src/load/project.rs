//! The project's files on disk: where the local, library and global trees are, `config.yaml`,
//! model profiles merged the way llm-orc merges them, and the catalogue of ensemble files.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::load::diag::{Diagnostic, Sink, WithHint};
use crate::load::spec::{self, EnsembleSpec, ProfileSpec, Reader};
use crate::load::yaml::{self, Entry, Node, Pos, Value};

/// Where a file comes from. Lookups go local -> library -> global -> packaged; the first match
/// wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Local,
    Library,
    Global,
    /// Shipped with orc ([`crate::load::packaged`]): found from any project, shadowed by the
    /// other tiers.
    Packaged,
}

impl Tier {
    pub fn label(self) -> &'static str {
        match self {
            Tier::Local => "local",
            Tier::Library => "library",
            Tier::Global => "global",
            Tier::Packaged => "packaged",
        }
    }
}

/// The environment discovery depends on, read once at the binary's edge.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub home: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub library_path: Option<PathBuf>,
    /// `OLLAMA_HOST`: where `provider: ollama` agents without a base_url go.
    pub ollama_host: Option<String>,
    /// `OLLAMA_HOSTS`: the pool of hosts (comma-separated URLs), over config.yaml's `hosts:`.
    pub ollama_hosts: Option<String>,
    /// `LLAMA_SERVER_URL`: where `provider: llama-server` agents without a base_url go.
    pub llama_server_url: Option<String>,
    /// `XDG_DATA_HOME`: where the packaged ensembles are unpacked (else `~/.local/share`).
    pub data_home: Option<PathBuf>,
    /// `ORC_PACKAGED_DIR`: the packaged tier's folder instead of orc's own (empty: none).
    pub packaged_dir: Option<PathBuf>,
    /// `orc mcp serve --allow-inline-scripts`: MCP clients may write ensembles with inline
    /// shell scripts (never from the environment; false unless the flag is given).
    pub mcp_allows_inline_scripts: bool,
}

impl Env {
    pub fn from_process() -> Env {
        let non_empty = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Env {
            home: non_empty("HOME"),
            xdg_config_home: non_empty("XDG_CONFIG_HOME"),
            library_path: non_empty("LLM_ORC_LIBRARY_PATH"),
            ollama_host: std::env::var("OLLAMA_HOST")
                .ok()
                .filter(|v| !v.trim().is_empty()),
            ollama_hosts: std::env::var("OLLAMA_HOSTS")
                .ok()
                .filter(|v| !v.trim().is_empty()),
            llama_server_url: std::env::var("LLAMA_SERVER_URL")
                .ok()
                .filter(|v| !v.trim().is_empty()),
            data_home: non_empty("XDG_DATA_HOME"),
            packaged_dir: std::env::var_os("ORC_PACKAGED_DIR").map(PathBuf::from),
            mcp_allows_inline_scripts: false,
        }
    }
}

/// The three trees.
#[derive(Debug, Clone, Serialize)]
pub struct Dirs {
    pub cwd: PathBuf,
    /// The directory holding `.llm-orc/` (the project root), if there is one.
    pub project_root: Option<PathBuf>,
    /// The local `.llm-orc/` directory, if there is one.
    pub local: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME/llm-orc`, else `~/.config/llm-orc`.
    pub global: PathBuf,
    /// `$LLM_ORC_LIBRARY_PATH`, else `llm-orchestra-library/` in the project root or cwd.
    pub library: PathBuf,
    /// The packaged tier's tree (orc's shipped ensembles), when there is one.
    pub packaged: Option<PathBuf>,
}

pub const LOCAL_DIR: &str = ".llm-orc";

impl Dirs {
    /// Finds the trees as llm-orc does: walk up from `cwd` to the first directory holding a
    /// `.llm-orc` directory (never the filesystem root), unless `project` names the directory.
    pub fn discover(cwd: &Path, project: Option<&Path>, env: &Env) -> Dirs {
        let (project_root, local) = match project {
            Some(p) => {
                let p = if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    cwd.join(p)
                };
                if p.file_name().is_some_and(|n| n == LOCAL_DIR) && p.is_dir() {
                    (p.parent().map(Path::to_path_buf), Some(p))
                } else {
                    let local = p.join(LOCAL_DIR);
                    let has = local.is_dir();
                    (Some(p), has.then_some(local))
                }
            }
            None => {
                let mut found = (None, None);
                for dir in cwd.ancestors() {
                    if dir.parent().is_none() {
                        break;
                    }
                    let candidate = dir.join(LOCAL_DIR);
                    if candidate.is_dir() {
                        found = (Some(dir.to_path_buf()), Some(candidate));
                        break;
                    }
                }
                found
            }
        };
        let global = match (&env.xdg_config_home, &env.home) {
            (Some(x), _) => x.join("llm-orc"),
            (None, Some(h)) => h.join(".config").join("llm-orc"),
            (None, None) => PathBuf::from(".config").join("llm-orc"),
        };
        let library = match &env.library_path {
            Some(p) => p.clone(),
            None => {
                let in_root = project_root
                    .as_ref()
                    .map(|r| r.join("llm-orchestra-library"));
                match in_root {
                    Some(p) if p.is_dir() => p,
                    _ => cwd.join("llm-orchestra-library"),
                }
            }
        };
        let data_home = env
            .data_home
            .clone()
            .or_else(|| env.home.as_ref().map(|h| h.join(".local").join("share")));
        let packaged =
            crate::load::packaged::root(env.packaged_dir.as_deref(), data_home.as_deref());
        Dirs {
            cwd: cwd.to_path_buf(),
            project_root,
            local,
            global,
            library,
            packaged,
        }
    }

    /// The root of a tier's tree (`.llm-orc/`, the library, the global dir).
    pub fn tier_root(&self, tier: Tier) -> Option<&Path> {
        match tier {
            Tier::Local => self.local.as_deref(),
            Tier::Library => Some(&self.library),
            Tier::Global => Some(&self.global),
            Tier::Packaged => self.packaged.as_deref(),
        }
    }

    /// The ensemble directories in lookup order, whether they exist or not.
    pub fn ensemble_dirs(&self) -> Vec<(Tier, PathBuf)> {
        [Tier::Local, Tier::Library, Tier::Global, Tier::Packaged]
            .into_iter()
            .filter_map(|t| self.tier_root(t).map(|r| (t, r.join("ensembles"))))
            .collect()
    }

    /// The directory scripts resolve against: the project root, else the cwd.
    pub fn script_base(&self) -> &Path {
        self.project_root.as_deref().unwrap_or(&self.cwd)
    }
}

/// Default for `performance.execution.max_response_bytes`: what one model response may hold.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// The default cap on one fan-out's instances.
pub const DEFAULT_MAX_FAN_OUT: u64 = 10_000;

/// `performance:` settings, defaults as in llm-orc plus orc's slot limits.
#[derive(Debug, Clone, Serialize)]
pub struct Performance {
    /// Most agents in flight at once; 0 = unlimited.
    pub max_concurrent_agents: u64,
    /// Most requests in flight per (host, model).
    pub per_model_limit: u64,
    /// Per-host overrides of `per_model_limit`, keyed by base URL.
    pub hosts: BTreeMap<String, u64>,
    pub default_timeout: f64,
    pub max_ensemble_depth: u64,
    /// Most instances one `fan_out` agent may expand into (`performance.execution.max_fan_out`).
    pub max_fan_out: u64,
    /// What one model response may hold, in bytes (orc; default 64 MiB).
    pub max_response_bytes: u64,
    /// Stream Ollama responses: `None` = when someone watches progress, else as set.
    pub streaming_enabled: Option<bool>,
    pub script_cache_enabled: bool,
    /// `performance.budget.tokens_per_run`: no agent starts once a run has counted this many.
    pub budget_tokens: Option<u64>,
    /// `performance.budget.cost_usd_per_run` (zero-cost local models never count).
    pub budget_cost_usd: Option<f64>,
    /// `performance.result_cache`.
    pub result_cache: ResultCache,
    /// `performance.execution.host_cool_down`: seconds a failing pool host's breaker stays
    /// open before one request may probe it.
    pub host_cool_down: f64,
    /// `performance.execution.idle_timeout`: seconds a streamed request to a pool host may go
    /// without a complete message (first token, then each chunk) before that host counts as
    /// failed and the request moves to another host with the model (None: the agent's timeout).
    pub idle_timeout: Option<f64>,
}

/// When a model answer may be reused from `.llm-orc/cache/` (`performance.result_cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheMode {
    /// Never (the default).
    #[default]
    Off,
    /// Only answers to deterministic requests (temperature 0 or a fixed seed): `true`.
    Deterministic,
    /// Every answer: `always`.
    Always,
}

/// `performance.result_cache`: `true`, `false`, `always`, or a mapping with `enabled`,
/// `max_mb` and `max_age_hours`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ResultCache {
    pub mode: CacheMode,
    pub max_mb: u64,
    pub max_age_hours: f64,
}

impl Default for ResultCache {
    fn default() -> Self {
        ResultCache {
            mode: CacheMode::Off,
            max_mb: 256,
            max_age_hours: 168.0,
        }
    }
}

impl Default for Performance {
    fn default() -> Self {
        Performance {
            max_concurrent_agents: 0,
            per_model_limit: 4,
            hosts: BTreeMap::new(),
            default_timeout: 60.0,
            max_ensemble_depth: 5,
            max_fan_out: DEFAULT_MAX_FAN_OUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            streaming_enabled: None,
            script_cache_enabled: false,
            budget_tokens: None,
            budget_cost_usd: None,
            result_cache: ResultCache::default(),
            host_cool_down: 10.0,
            idle_timeout: None,
        }
    }
}

/// Most bytes a script may print on stdout unless `scripts.max_output_bytes` says otherwise.
pub const DEFAULT_SCRIPT_OUTPUT_BYTES: u64 = 16 * 1024 * 1024;

/// An interpreter chosen in config.yaml, with where it was chosen (for error messages).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfiguredInterpreter {
    /// A path (relative ones already joined to the project root) or a bare command name.
    pub program: PathBuf,
    /// The key that set it, e.g. `scripts.python`.
    pub key: String,
    /// The config.yaml it was set in.
    pub file: PathBuf,
}

/// `scripts:` in config.yaml: how script agents run.
#[derive(Debug, Clone, Serialize)]
pub struct ScriptSettings {
    /// Interpreters by file extension without the dot (`py`, `sh`, `js`, ...). `scripts.python`
    /// is `py`.
    pub interpreters: BTreeMap<String, ConfiguredInterpreter>,
    /// Whether inline shell content (`script: echo hi`) may run at all.
    pub allow_inline: bool,
    /// Most bytes a script may print on stdout; more fails the agent.
    pub max_output_bytes: u64,
}

impl Default for ScriptSettings {
    fn default() -> Self {
        ScriptSettings {
            interpreters: BTreeMap::new(),
            allow_inline: false,
            max_output_bytes: DEFAULT_SCRIPT_OUTPUT_BYTES,
        }
    }
}

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

/// One entry of `hosts:` in config.yaml (or of `OLLAMA_HOSTS`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostEntry {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_model_limit: Option<u64>,
    /// Higher is preferred among otherwise equal hosts.
    pub priority: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_loaded_models: Option<u64>,
}

impl HostEntry {
    pub fn new(url: &str) -> HostEntry {
        HostEntry {
            url: url.trim().trim_end_matches('/').to_string(),
            per_model_limit: None,
            priority: 0,
            max_loaded_models: None,
        }
    }
}

/// `OLLAMA_HOSTS=url,url,...` over the configured pool: the listed hosts, each keeping the
/// settings config.yaml gives the same URL.
pub fn hosts_from_env(configured: &[HostEntry], env: &str) -> Vec<HostEntry> {
    env.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            let fresh = HostEntry::new(u);
            configured
                .iter()
                .find(|h| h.url == fresh.url)
                .cloned()
                .unwrap_or(fresh)
        })
        .collect()
}

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

    fn insert(&mut self, spec: ProfileSpec, tier: Tier, source: &Path) {
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

fn read_config(
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

fn read_budget(r: &mut Reader<'_>, e: &Entry, perf: &mut Performance) {
    let Some(entries) = e.value.as_map() else {
        if !e.value.is_null() {
            r.sink
                .error(e.value.pos, "`performance.budget` must be a mapping");
        }
        return;
    };
    for b in entries {
        match b.key.as_str() {
            "tokens_per_run" => match r.unsigned(b) {
                Some(0) => {
                    r.sink
                        .error(b.value.pos, "`tokens_per_run` must be at least 1");
                }
                n => perf.budget_tokens = n.or(perf.budget_tokens),
            },
            "cost_usd_per_run" => match r.number(b) {
                Some(x) if x <= 0.0 => {
                    r.sink
                        .error(b.value.pos, "`cost_usd_per_run` must be above 0");
                }
                x => perf.budget_cost_usd = x.or(perf.budget_cost_usd),
            },
            _ => r.unknown_key(
                b,
                "`performance.budget`",
                &["tokens_per_run", "cost_usd_per_run"],
            ),
        }
    }
}

fn cache_mode(r: &mut Reader<'_>, e: &Entry) -> Option<CacheMode> {
    match &e.value.value {
        Value::Str(s) if s == "always" => Some(CacheMode::Always),
        _ => r.boolean(e).map(|on| {
            if on {
                CacheMode::Deterministic
            } else {
                CacheMode::Off
            }
        }),
    }
}

fn read_result_cache(r: &mut Reader<'_>, e: &Entry, cache: &mut ResultCache) {
    let Some(entries) = e.value.as_map() else {
        if let Some(mode) = cache_mode(r, e) {
            cache.mode = mode;
        }
        return;
    };
    for c in entries {
        match c.key.as_str() {
            "enabled" => {
                if let Some(mode) = cache_mode(r, c) {
                    cache.mode = mode;
                }
            }
            "max_mb" => match r.unsigned(c) {
                Some(0) => {
                    r.sink.error(c.value.pos, "`max_mb` must be at least 1");
                }
                Some(n) => cache.max_mb = n,
                None => {}
            },
            "max_age_hours" => match r.number(c) {
                Some(h) if h <= 0.0 || h > 24.0 * 3650.0 => {
                    r.sink.error(
                        c.value.pos,
                        "`max_age_hours` must be above 0 and at most ten years",
                    );
                }
                Some(h) => cache.max_age_hours = h,
                None => {}
            },
            _ => r.unknown_key(
                c,
                "`performance.result_cache`",
                &["enabled", "max_mb", "max_age_hours"],
            ),
        }
    }
}

/// `hosts:` a list of URLs or of `{url, per_model_limit, priority, max_loaded_models}`. A later
/// config file's entry for the same URL replaces the earlier one; new URLs are added.
fn read_hosts(r: &mut Reader<'_>, node: &Node, hosts: &mut Vec<HostEntry>) {
    let items = match &node.value {
        Value::Seq(items) => items,
        Value::Null => return,
        other => {
            r.sink.error(
                node.pos,
                format!(
                    "`hosts` must be a list of URLs or of {{url: ...}} mappings, found {}",
                    other.kind()
                ),
            );
            return;
        }
    };
    for item in items {
        let Some(host) = read_host(r, item) else {
            continue;
        };
        match hosts.iter_mut().find(|h| h.url == host.url) {
            Some(old) => *old = host,
            None => hosts.push(host),
        }
    }
}

fn read_host(r: &mut Reader<'_>, item: &Node) -> Option<HostEntry> {
    let url_ok = |r: &mut Reader<'_>, url: &str, pos| {
        if url.trim().is_empty() {
            r.sink.error(pos, "a host needs a non-empty `url`");
            false
        } else {
            true
        }
    };
    if let Some(url) = item.as_str() {
        return url_ok(r, url, item.pos).then(|| HostEntry::new(url));
    }
    let Some(entries) = item.as_map() else {
        r.sink.error(
            item.pos,
            format!(
                "a host must be a URL or a mapping with `url`, found {}",
                item.value.kind()
            ),
        );
        return None;
    };
    let mut host: Option<HostEntry> = None;
    let (mut limit, mut priority, mut max_loaded) = (None, 0i64, None);
    for e in entries {
        match e.key.as_str() {
            "url" => {
                host = r
                    .text(e)
                    .filter(|u| url_ok(r, u, e.value.pos))
                    .map(|u| HostEntry::new(&u));
            }
            "per_model_limit" => match r.unsigned(e) {
                Some(0) => {
                    r.sink
                        .error(e.value.pos, "`per_model_limit` must be at least 1");
                }
                n => limit = n,
            },
            "max_loaded_models" => match r.unsigned(e) {
                Some(0) => {
                    r.sink
                        .error(e.value.pos, "`max_loaded_models` must be at least 1");
                }
                n => max_loaded = n,
            },
            "priority" => match &e.value.value {
                Value::Int(i) => priority = *i,
                other => {
                    r.sink.error(
                        e.value.pos,
                        format!("`priority` must be a whole number, found {}", other.kind()),
                    );
                }
            },
            _ => r.unknown_key(
                e,
                "a host",
                &["url", "per_model_limit", "priority", "max_loaded_models"],
            ),
        }
    }
    let Some(mut host) = host else {
        if item.get("url").is_none() {
            r.sink.error(item.pos, "a host needs `url`");
        }
        return None;
    };
    host.per_model_limit = limit;
    host.priority = priority;
    host.max_loaded_models = max_loaded;
    Some(host)
}

fn read_performance(r: &mut Reader<'_>, node: &Node, perf: &mut Performance) {
    let Some(entries) = node.as_map() else {
        if !node.is_null() {
            r.sink.error(node.pos, "`performance` must be a mapping");
        }
        return;
    };
    for e in entries {
        match e.key.as_str() {
            "concurrency" => {
                for c in e.value.as_map().unwrap_or_default() {
                    match c.key.as_str() {
                        "max_concurrent_agents" => {
                            if let Some(n) = r.unsigned(c) {
                                perf.max_concurrent_agents = n;
                            }
                        }
                        "per_model_limit" => match r.unsigned(c) {
                            Some(0) => {
                                r.sink
                                    .error(c.value.pos, "`per_model_limit` must be at least 1");
                            }
                            Some(n) => perf.per_model_limit = n,
                            None => {}
                        },
                        "hosts" => {
                            for h in c.value.as_map().unwrap_or_default() {
                                let limit = h
                                    .value
                                    .get("per_model_limit")
                                    .and_then(|l| r.unsigned(l))
                                    .filter(|n| *n > 0);
                                match limit {
                                    Some(n) => {
                                        perf.hosts
                                            .insert(h.key.trim_end_matches('/').to_string(), n);
                                    }
                                    None => {
                                        r.sink.error(
                                            h.value.pos,
                                            format!(
                                                "host `{}` needs `per_model_limit: N` (N >= 1)",
                                                h.key
                                            ),
                                        );
                                    }
                                }
                            }
                        }
                        "connection_pool" | "request_timeout" => {}
                        _ => r.unknown_key(
                            c,
                            "`performance.concurrency`",
                            &[
                                "max_concurrent_agents",
                                "per_model_limit",
                                "hosts",
                                "connection_pool",
                                "request_timeout",
                            ],
                        ),
                    }
                }
            }
            "execution" => {
                for x in e.value.as_map().unwrap_or_default() {
                    match x.key.as_str() {
                        "default_timeout" => {
                            if let Some(n) = r.seconds(x) {
                                perf.default_timeout = n;
                            }
                        }
                        "max_ensemble_depth" => {
                            if let Some(n) = r.unsigned(x) {
                                perf.max_ensemble_depth = n;
                            }
                        }
                        "max_fan_out" => match r.unsigned(x) {
                            Some(0) => {
                                r.sink
                                    .error(x.value.pos, "`max_fan_out` must be at least 1");
                            }
                            Some(n) => perf.max_fan_out = n,
                            None => {}
                        },
                        "streaming_enabled" => {
                            if let Some(b) = r.boolean(x) {
                                perf.streaming_enabled = Some(b);
                            }
                        }
                        "max_response_bytes" => match r.unsigned(x) {
                            Some(0) => {
                                r.sink
                                    .error(x.value.pos, "`max_response_bytes` must be at least 1");
                            }
                            Some(n) => perf.max_response_bytes = n,
                            None => {}
                        },
                        "host_cool_down" => {
                            if let Some(n) = r.seconds(x) {
                                perf.host_cool_down = n;
                            }
                        }
                        "idle_timeout" => {
                            if let Some(n) = r.seconds(x) {
                                perf.idle_timeout = Some(n);
                            }
                        }
                        "monitoring_enabled" => {}
                        _ => r.unknown_key(
                            x,
                            "`performance.execution`",
                            &[
                                "host_cool_down",
                                "idle_timeout",
                                "default_timeout",
                                "max_ensemble_depth",
                                "max_fan_out",
                                "streaming_enabled",
                                "max_response_bytes",
                                "monitoring_enabled",
                            ],
                        ),
                    }
                }
            }
            "script_cache" => match &e.value.value {
                Value::Bool(b) => perf.script_cache_enabled = *b,
                Value::Map(_) => {
                    if let Some(en) = e.value.get("enabled") {
                        perf.script_cache_enabled = r.boolean(en).unwrap_or(false);
                    }
                }
                _ => {}
            },
            "budget" => read_budget(r, e, perf),
            "result_cache" => read_result_cache(r, e, &mut perf.result_cache),
            "memory" | "streaming_enabled" | "monitoring_enabled" => {}
            _ => r.unknown_key(
                e,
                "`performance`",
                &[
                    "concurrency",
                    "execution",
                    "script_cache",
                    "budget",
                    "result_cache",
                    "memory",
                ],
            ),
        }
    }
}

const SCRIPT_KEYS: &[&str] = &["python", "interpreters", "allow_inline", "max_output_bytes"];

/// `scripts:`: interpreters, inline scripts, the output cap. A relative interpreter path is
/// relative to the project root for the local config.yaml (the folder holding `.llm-orc/`), and
/// to the global folder for the global one; a bare name is looked up on PATH when a script runs.
fn read_scripts(
    r: &mut Reader<'_>,
    node: &Node,
    tier: Tier,
    path: &Path,
    scripts: &mut ScriptSettings,
) {
    let Some(entries) = node.as_map() else {
        if !node.is_null() {
            r.sink.error(node.pos, "`scripts` must be a mapping");
        }
        return;
    };
    let tree = path.parent().unwrap_or(Path::new("."));
    let base = match tier {
        Tier::Local => tree.parent().unwrap_or(tree),
        _ => tree,
    };
    let interpreter = |r: &mut Reader<'_>, e: &Entry, ext: &str, key: String| {
        let program = r.string(e)?;
        if program.trim().is_empty() || program.contains('\0') {
            r.sink.error(
                e.value.pos,
                format!("`{key}` must name an interpreter (a path or a command on PATH)"),
            );
            return None;
        }
        let p = PathBuf::from(&program);
        let program = if p.is_relative() && program.contains('/') {
            base.join(p)
        } else {
            p
        };
        Some((
            ext.to_string(),
            ConfiguredInterpreter {
                program,
                key,
                file: path.to_path_buf(),
            },
        ))
    };
    let mut python = None;
    for e in entries {
        match e.key.as_str() {
            "python" => python = interpreter(r, e, "py", "scripts.python".to_string()),
            "interpreters" => {
                let Some(items) = e.value.as_map() else {
                    if !e.value.is_null() {
                        r.sink.error(
                            e.value.pos,
                            "`scripts.interpreters` must map file extensions to interpreters (`sh: /bin/bash`)",
                        );
                    }
                    continue;
                };
                for i in items {
                    let ext = i.key.trim_start_matches('.');
                    if ext.is_empty() || !ext.chars().all(|c| c.is_ascii_alphanumeric()) {
                        r.sink.error(
                            i.key_pos,
                            format!(
                                "`scripts.interpreters` keys are file extensions such as `py` or `sh`, found `{}`",
                                i.key
                            ),
                        );
                        continue;
                    }
                    let key = format!("scripts.interpreters.{ext}");
                    if let Some((ext, c)) = interpreter(r, i, ext, key) {
                        scripts.interpreters.insert(ext, c);
                    }
                }
            }
            "allow_inline" => {
                if let Some(b) = r.boolean(e) {
                    scripts.allow_inline = b;
                }
            }
            "max_output_bytes" => match r.unsigned(e) {
                Some(0) => {
                    r.sink
                        .error(e.value.pos, "`max_output_bytes` must be at least 1");
                }
                Some(n) => scripts.max_output_bytes = n,
                None => {}
            },
            _ => r.unknown_key(e, "`scripts`", SCRIPT_KEYS),
        }
    }
    // `python` is the shorthand for `interpreters.py` and wins over it in the same file.
    if let Some((ext, c)) = python {
        scripts.interpreters.insert(ext, c);
    }
}

fn read_profile_dir(dir: &Path, tier: Tier, profiles: &mut Profiles, out: &mut Vec<Diagnostic>) {
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

/// Lists ensemble files under each tier's `ensembles/`, recursively, sorted by relative path.
fn scan_catalogue(dirs: &Dirs) -> Catalogue {
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

/// Whether `path`, with every link resolved, is inside `root`.
pub fn stays_inside(root: &Path, path: &Path) -> bool {
    match (fs::canonicalize(root), fs::canonicalize(path)) {
        (Ok(r), Ok(p)) => p.starts_with(r),
        _ => false,
    }
}

/// Checks a name or relative path given by a user or client: no `..`, no absolute path, no
/// NUL, not empty, not absurdly long. Returns why it is refused.
pub fn check_relative_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.len() > 255 {
        return Err(format!(
            "the name is {} bytes long; at most 255 are allowed",
            name.len()
        ));
    }
    if name.contains('\0') {
        return Err("the name contains a NUL byte".into());
    }
    check_name_chars(name)?;
    let p = Path::new(name);
    if p.is_absolute() || name.starts_with('/') || name.starts_with('\\') {
        return Err(format!(
            "`{name}` is an absolute path; give a name relative to the tier"
        ));
    }
    if p.components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!("`{name}` leaves its directory (`..`)"));
    }
    Ok(())
}

/// Refuses a name that would mislead a terminal (control characters, line breaks, bidi marks),
/// saying which character: the same rule `validate` applies to names in files
/// ([`crate::load::spec::name_problem`]).
pub fn check_name_chars(name: &str) -> Result<(), String> {
    match crate::load::spec::name_problem(name, false) {
        Some(why) => Err(format!("the name {why}")),
        None => Ok(()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_names() {
        assert!(check_relative_name("sub/x").is_ok());
        assert!(check_relative_name("../x").is_err());
        assert!(check_relative_name("a/../../x").is_err());
        assert!(check_relative_name("/etc/passwd").is_err());
        assert!(check_relative_name("a\0b").is_err());
        assert!(check_relative_name(&"x".repeat(300)).is_err());
        for bad in [
            "a\nb",
            "a\tb",
            "a\u{1b}[2Jb",
            "a\u{7f}",
            "a\u{9b}b",
            "a\u{202e}b",
            "a\u{2066}b",
            "a\u{200f}b",
        ] {
            let why = check_relative_name(bad).expect_err(bad);
            assert!(why.starts_with("the name contains "), "{bad:?}: {why}");
        }
        assert!(check_relative_name("café/über-analyse").is_ok());
    }

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
    fn ollama_hosts_lists_the_pool_and_keeps_configured_settings() {
        let mut gpu = HostEntry::new("http://gpu:11434");
        gpu.priority = 3;
        let hosts = hosts_from_env(&[gpu.clone()], " http://a:1, http://gpu:11434/ ,,");
        assert_eq!(hosts, [HostEntry::new("http://a:1"), gpu]);
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
