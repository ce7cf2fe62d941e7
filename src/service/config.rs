//! `orc config init` (a new `.llm-orc/`) and `orc config check` (the tiers, config files and
//! their problems).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::load::diag::Diagnostic;
use crate::load::project::{LOCAL_DIR, Tier};
use crate::service::{Service, ServiceError};

/// What `config init` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InitReport {
    pub root: PathBuf,
    pub created: Vec<PathBuf>,
    pub kept: Vec<PathBuf>,
}

/// What `config check` found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub dirs: Vec<DirStatus>,
    pub config_files: Vec<PathBuf>,
    pub profiles: usize,
    pub ensembles: Vec<(Tier, usize)>,
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DirStatus {
    pub tier: Tier,
    pub path: PathBuf,
    pub exists: bool,
}

impl Service {
    /// Reports the trees, config files, profiles and problems in config and profile files.
    pub fn check_config(&self) -> CheckReport {
        let dirs = &self.project.dirs;
        let mut status = Vec::new();
        match &dirs.local {
            Some(l) => status.push(DirStatus {
                tier: Tier::Local,
                path: l.clone(),
                exists: true,
            }),
            None => status.push(DirStatus {
                tier: Tier::Local,
                path: dirs.cwd.join(LOCAL_DIR),
                exists: false,
            }),
        }
        for tier in [Tier::Library, Tier::Global, Tier::Packaged] {
            if let Some(p) = dirs.tier_root(tier) {
                status.push(DirStatus {
                    tier,
                    path: p.to_path_buf(),
                    exists: p.is_dir(),
                });
            }
        }
        let mut per_tier: Vec<(Tier, usize)> = Vec::new();
        for f in &self.project.catalogue().files {
            match per_tier.iter_mut().find(|(t, _)| *t == f.tier) {
                Some((_, n)) => *n += 1,
                None => per_tier.push((f.tier, 1)),
            }
        }
        CheckReport {
            dirs: status,
            config_files: self.project.config_files.clone(),
            profiles: self.project.profiles.by_name.len(),
            ensembles: per_tier,
            diagnostics: self.project.diagnostics.clone(),
        }
    }
}

/// The files `config init` writes, relative to `.llm-orc/`: the packaged tier's files.
pub const SHIPPED: &[(&str, &str)] = crate::load::packaged::FILES;

fn config_template(project_name: &str) -> String {
    const TEMPLATE: &str = r#"# orc / llm-orc project configuration
project:
  name: __NAME__

# Profiles can live here (model_profiles:) or one per file in profiles/.
model_profiles: {}

performance:
  concurrency:
    max_concurrent_agents: 0   # 0 = unlimited
    per_model_limit: 4         # orc: requests in flight per (host, model)
  execution:
    default_timeout: 60
"#;
    let name = serde_json::to_string(project_name).unwrap_or_else(|_| "\"project\"".into());
    TEMPLATE.replace("__NAME__", &name)
}

/// Creates `.llm-orc/` under `root` with config.yaml, ensembles/, profiles/, scripts/ and the
/// shipped examples. Existing files are never overwritten.
pub fn init_project(root: &Path, project_name: Option<&str>) -> Result<InitReport, ServiceError> {
    let base = root.join(LOCAL_DIR);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ServiceError::Io { path, source }
    };
    let mut report = InitReport {
        root: base.clone(),
        ..InitReport::default()
    };
    for sub in ["ensembles", "profiles", "scripts"] {
        let d = base.join(sub);
        fs::create_dir_all(&d).map_err(io(&d))?;
    }
    let name = project_name.map(str::to_string).unwrap_or_else(|| {
        root.canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "project".into())
    });
    let mut files: Vec<(String, String)> = vec![("config.yaml".into(), config_template(&name))];
    files.extend(SHIPPED.iter().map(|(p, c)| (p.to_string(), c.to_string())));
    for (rel, content) in files {
        let path = base.join(&rel);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(content.as_bytes()).map_err(io(&path))?;
                #[cfg(unix)]
                if rel.ends_with(".py") {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o755));
                }
                report.created.push(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => report.kept.push(path),
            Err(e) => return Err(ServiceError::Io { path, source: e }),
        }
    }
    Ok(report)
}
