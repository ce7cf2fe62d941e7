//! The tiers of a project and where they are: the local `.llm-orc/`, the library, the global
//! folder and the packaged profiles, found from the working directory and the environment.

use std::path::{Path, PathBuf};

use serde::Serialize;

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
