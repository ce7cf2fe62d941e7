//! The service layer: what a user (CLI) or a client (MCP) can ask of a project. Front ends call
//! these functions and render the results; they never read project files themselves.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::compile::{Compilation, CompiledEnsemble, Compiler};
use crate::load::diag::{Diagnostic, closest};
use crate::load::project::{Dirs, EnsembleFile, Env, LOCAL_DIR, Project, Tier};

pub mod artifacts;
pub mod claude;
pub mod claude_checks;
pub mod claude_error;
pub mod claude_json;
pub mod claude_tools;
mod config;
pub mod ensembles;
mod error;
mod files;
pub mod hosts;
pub mod inputs;
mod invoke;
pub mod library;
pub mod profiles;
pub mod promotion;
pub mod providers;
pub mod scripts;
pub mod shapes;
pub mod status;
mod validation;

pub use config::{CheckReport, DirStatus, InitReport, SHIPPED, init_project};
pub use error::{ErrorKind, ServiceError};
pub use files::safe_join;
pub use invoke::{Invocation, InvokeOptions};
pub use validation::{VALIDATION_INPUT, ask_model};

/// The warning for a file that shares its name with another file of its tier: which files, and
/// which one orc uses.
fn same_name_warning(
    cat: &crate::load::project::Catalogue,
    file: &EnsembleFile,
) -> Option<Diagnostic> {
    let others = cat.same_name_in_tier(file);
    if others.is_empty() || !file.is_valid_yaml() {
        return None;
    }
    let paths: Vec<String> = others
        .iter()
        .map(|o| o.path.display().to_string())
        .collect();
    let name = file.qualified_name();
    let used = if cat.is_active(file) {
        "orc uses this file".to_string()
    } else {
        match others.iter().find(|o| cat.is_active(o)) {
            Some(w) => format!("orc uses {}, never this one", w.path.display()),
            None => "orc uses another file".to_string(),
        }
    };
    let pos = file
        .spec
        .as_ref()
        .map(|s| s.name.pos)
        .unwrap_or(crate::load::yaml::Pos::UNKNOWN);
    let mut sink = crate::load::diag::Sink::new(&file.path);
    crate::load::diag::WithHint::hint(
        sink.warning(
            pos,
            format!(
                "ensemble name `{name}` is also used by {} in the same ({}) tier; {used} ({})",
                paths.join(", "),
                file.tier.label(),
                crate::load::project::SAME_NAME_RULE
            ),
        ),
        "give each file its own `name:` (llm-orc picks whichever file it lists first)",
    );
    sink.items.pop()
}

/// A project opened for requests.
pub struct Service {
    pub project: Project,
    /// The environment the project was opened with (OLLAMA_HOST and the tier variables).
    pub env: Env,
}

/// One line of `list-ensembles`.
#[derive(Debug, Clone, Serialize)]
pub struct EnsembleListing {
    pub name: String,
    pub tier: Tier,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub path: PathBuf,
    /// False when the file has errors (run validate to see them).
    pub valid: bool,
    /// True when a file of an earlier tier has the same name.
    pub shadowed: bool,
    /// Other files of the same tier with the same name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub same_name_in_tier: Vec<PathBuf>,
    /// When another file of the same tier has this name and is the one used: that file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_instead: Option<PathBuf>,
}

/// The outcome of validating one ensemble file.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    pub name: String,
    pub tier: Tier,
    pub path: PathBuf,
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agents: Option<usize>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Service {
    /// Opens the project seen from `cwd` (or the explicit project directory).
    pub fn open(cwd: &Path, project: Option<&Path>, env: &Env) -> Service {
        Service {
            project: Project::load(Dirs::discover(cwd, project, env)),
            env: env.clone(),
        }
    }

    /// Every ensemble file, tier by tier, sorted by relative path and name.
    pub fn list_ensembles(&self) -> Vec<EnsembleListing> {
        let cat = self.project.catalogue();
        // Valid means what `validate` says: the file compiles (profiles, scripts, nested
        // ensembles and dependencies included), not only that its YAML reads.
        let mut compiler = Compiler::new(&self.project);
        let mut out: Vec<EnsembleListing> = cat
            .files
            .iter()
            .map(|f| {
                let same = cat.same_name_in_tier(f);
                let used_instead = (!same.is_empty() && !cat.is_active(f))
                    .then(|| {
                        same.iter()
                            .find(|o| cat.is_active(o))
                            .map(|o| o.path.clone())
                    })
                    .flatten();
                EnsembleListing {
                    name: f.qualified_name(),
                    tier: f.tier,
                    description: f.description.clone(),
                    path: f.path.clone(),
                    valid: f.is_valid_yaml()
                        && !f.diagnostics.iter().any(Diagnostic::is_error)
                        && !compiler.compile(f).has_errors(),
                    shadowed: f.is_valid_yaml() && cat.shadowed_by_earlier_tier(f),
                    same_name_in_tier: same.iter().map(|o| o.path.clone()).collect(),
                    used_instead,
                }
            })
            .collect();
        out.sort_by(|a, b| (a.tier, &a.name).cmp(&(b.tier, &b.name)));
        out
    }

    /// Finds an ensemble file by name.
    pub fn find(&self, name: &str) -> Result<EnsembleFile, ServiceError> {
        self.project.find_ensemble(name).ok_or_else(|| {
            let cat = self.project.catalogue();
            let names: Vec<String> = cat.files.iter().map(EnsembleFile::qualified_name).collect();
            ServiceError::NotFound {
                name: name.to_string(),
                searched: cat.searched.clone(),
                suggestion: closest(name, names.iter().map(String::as_str)).map(str::to_string),
                unreadable: cat
                    .files
                    .iter()
                    .filter(|f| !f.is_valid_yaml())
                    .filter_map(|f| f.diagnostics.iter().find(|d| d.is_error()).cloned())
                    .collect(),
            }
        })
    }

    /// Compiles one ensemble by name; an invalid file is an error with its diagnostics.
    pub fn compile(
        &self,
        name: &str,
    ) -> Result<(Arc<CompiledEnsemble>, Vec<Diagnostic>), ServiceError> {
        self.compile_found(name).map(|(_, e, d)| (e, d))
    }

    /// Like `compile`, also returning the file it came from.
    fn compile_found(
        &self,
        name: &str,
    ) -> Result<(EnsembleFile, Arc<CompiledEnsemble>, Vec<Diagnostic>), ServiceError> {
        let file = self.find(name)?;
        let Compilation {
            ensemble,
            diagnostics,
        } = Compiler::new(&self.project).compile(&file);
        match ensemble {
            Some(e) => Ok((file, e, diagnostics)),
            None => Err(ServiceError::Invalid {
                name: file.qualified_name(),
                diagnostics,
            }),
        }
    }

    /// Validates the named ensembles, or, when `names` is empty, every file of the user's
    /// tiers (local, library, global: the packaged ensembles are orc's own, checked when named).
    pub fn validate(&self, names: &[String]) -> Result<Vec<ValidationReport>, ServiceError> {
        let files: Vec<EnsembleFile> = if names.is_empty() {
            let cat = self.project.catalogue();
            cat.files
                .iter()
                .filter(|f| f.tier != Tier::Packaged)
                .cloned()
                .collect()
        } else {
            names
                .iter()
                .map(|n| self.find(n))
                .collect::<Result<_, _>>()?
        };
        let mut compiler = Compiler::new(&self.project);
        let cat = self.project.catalogue();
        Ok(files
            .into_iter()
            .map(|f| {
                let mut c = compiler.compile(&f);
                c.diagnostics.extend(same_name_warning(cat, &f));
                let valid = !c.has_errors();
                ValidationReport {
                    name: f.qualified_name(),
                    tier: f.tier,
                    path: f.path.clone(),
                    valid,
                    pattern: c.ensemble.as_ref().map(|e| e.pattern.name()),
                    agents: c.ensemble.as_ref().map(|e| e.agents.len()),
                    diagnostics: c.diagnostics,
                }
            })
            .collect())
    }

    /// Where artifacts go: the project's `.llm-orc/artifacts`, else `./.llm-orc/artifacts`.
    pub fn artifacts_root(&self) -> PathBuf {
        let dirs = &self.project.dirs;
        dirs.local
            .clone()
            .unwrap_or_else(|| dirs.cwd.join(LOCAL_DIR))
            .join("artifacts")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// Every front gets the files that could not be read with a "not found": the error's text
    /// (what MCP's invoke answers) and MCP's validate.
    #[test]
    fn not_found_names_the_files_that_could_not_be_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ens = dir.path().join(".llm-orc/ensembles");
        fs::create_dir_all(&ens).expect("mkdir");
        fs::write(ens.join("broken.yaml"), "name: wanted\nagents: [\n").expect("write");
        fs::write(ens.join("bad.yaml"), [0xff, 0xfe]).expect("write");
        let svc = Service::open(dir.path(), Some(dir.path()), &Env::default());
        let Err(e) = svc.find("wanted") else {
            panic!("found a broken file")
        };
        let text = e.to_string();
        assert!(
            text.starts_with("ensemble `wanted` not found; looked in: "),
            "{text}"
        );
        assert!(
            text.contains(
                "; 2 file(s) could not be read and the ensemble may be defined in one of them: "
            ),
            "{text}"
        );
        let broken = ens.join("broken.yaml").display().to_string();
        assert!(
            text.contains(&format!("{broken}:2:9: YAML syntax:")),
            "{text}"
        );
        assert!(text.contains("bad.yaml: not UTF-8 text"), "{text}");
        // MCP answers with the same words as the CLI, the unreadable files included.
        let Err(e) = svc.validate_ensemble("wanted") else {
            panic!("validate found it")
        };
        let m = e.to_string();
        assert!(
            m.starts_with("ensemble `wanted` not found; looked in: "),
            "{m}"
        );
        assert!(m.contains("2 file(s) could not be read"), "{m}");
        assert!(m.contains(&broken), "{m}");
    }

    /// MCP create_ensemble and update_ensemble refuse the names validate refuses, and write
    /// nothing.
    #[test]
    fn mcp_create_and_update_refuse_misleading_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join(".llm-orc/ensembles")).expect("mkdir");
        let svc = Service::open(dir.path(), Some(dir.path()), &Env::default());
        let agents =
            serde_json::json!([{"name": "ok\u{202e}txt", "model": "m", "provider": "ollama"}]);
        let Err(ServiceError::Refused(m)) = svc.create_ensemble("fine", "d", Some(agents), None)
        else {
            panic!("created")
        };
        assert_eq!(
            m,
            "the agent name `ok\\u{202e}txt` contains a bidirectional mark (U+202E), which makes text display in another order than it is"
        );
        assert!(!dir.path().join(".llm-orc/ensembles/fine.yaml").exists());
        let Err(ServiceError::Refused(m)) = svc.create_ensemble("line\nbreak", "d", None, None)
        else {
            panic!("created")
        };
        assert!(m.contains("contains a line break (U+000A)"), "{m}");

        let agents = serde_json::json!([{"name": "a", "model": "m", "provider": "ollama"}]);
        svc.create_ensemble("good", "d", Some(agents), None)
            .expect("created");
        let svc = Service::open(dir.path(), Some(dir.path()), &Env::default());
        let bad = serde_json::json!({"name": "good\u{7}"});
        let Err(ServiceError::Refused(m)) = svc.update_ensemble("good", &bad, false, false) else {
            panic!("updated")
        };
        assert!(m.contains("contains a control character (U+0007)"), "{m}");
    }
}
