//! Resolving a script agent: its file (or inline content, or primitive) and its launcher, with
//! the checks on what it would run.

use super::Compiler;
use super::ensemble::Kind;
use super::hints::{inline_preview, join_paths};
use crate::load::diag::{Sink, WithHint};
use crate::load::project::EnsembleFile;
use crate::load::resolve::{Launcher, ScriptProblem, ScriptTarget, resolve_script};
use crate::load::spec::{AgentSpec, Located, ScriptSpec};

impl Compiler<'_> {
    /// A script agent: its target found (within the project), then checked for what it runs.
    pub(super) fn resolve_script_agent(
        &self,
        file: &EnsembleFile,
        a: &AgentSpec,
        s: &ScriptSpec,
        sink: &mut Sink,
    ) -> Option<Kind> {
        let reference = &s.script;
        let dirs = &self.project.dirs;
        let tier_dir = match file.tier {
            crate::load::project::Tier::Local => None,
            tier => dirs.tier_root(tier),
        };
        match resolve_script(dirs, &reference.value, tier_dir) {
            Ok(target) => {
                let settings = &self.project.config.scripts;
                let launcher = Launcher::new(settings, &target);
                if !check_target(
                    a,
                    reference,
                    &target,
                    &launcher,
                    settings.allow_inline,
                    sink,
                ) {
                    return None;
                }
                Some(Kind::Script {
                    reference: reference.value.clone(),
                    target,
                    parameters: s.parameters.clone(),
                    launcher,
                })
            }
            Err(ScriptProblem::Missing { looked_in }) => {
                sink.error(
                    reference.pos,
                    format!(
                        "script `{}` of agent `{}` not found",
                        reference.value, a.name.value
                    ),
                )
                .hint(format!("looked in: {}", join_paths(&looked_in)));
                None
            }
            Err(ScriptProblem::Escapes { resolved, root }) => {
                sink.error(
                    reference.pos,
                    format!(
                        "script `{}` of agent `{}` is outside the project",
                        reference.value, a.name.value
                    ),
                )
                .hint(format!(
                    "it resolves to {}, outside {}; keep scripts in .llm-orc/scripts/",
                    resolved.display(),
                    root.display()
                ));
                None
            }
        }
    }
}

/// Inline content is refused unless the project allows it (false), and warned about when it
/// does; a file whose interpreter is missing is warned about.
fn check_target(
    a: &AgentSpec,
    reference: &Located<String>,
    target: &ScriptTarget,
    launcher: &Launcher,
    allow_inline: bool,
    sink: &mut Sink,
) -> bool {
    match target {
        ScriptTarget::Inline(content) => {
            let shown = inline_preview(content);
            if !allow_inline {
                sink.error(
                    reference.pos,
                    format!(
                        "agent `{}` runs inline shell content (`{shown}`), which this project does not allow",
                        a.name.value
                    ),
                )
                .hint(
                    "a `script:` that is not a file runs with `bash -c` and can do anything you can; \
                     put it in a file under .llm-orc/scripts/, or allow inline scripts with \
                     `scripts: {allow_inline: true}` in .llm-orc/config.yaml",
                );
                return false;
            }
            sink.warning(
                reference.pos,
                format!(
                    "agent `{}` runs inline shell content with `bash -c` (`{shown}`; allowed by `scripts.allow_inline`)",
                    a.name.value
                ),
            );
        }
        ScriptTarget::File(path) => {
            let program = &launcher.interpreter.program;
            if !crate::load::resolve::program_exists(program) {
                let ext = path.extension().and_then(|x| x.to_str());
                sink.warning(
                    reference.pos,
                    format!(
                        "interpreter `{}` for script `{}` of agent `{}` was not found ({})",
                        program.display(),
                        reference.value,
                        a.name.value,
                        launcher.interpreter.describe_origin(ext)
                    ),
                );
            }
        }
        ScriptTarget::Primitive(_) => {}
    }
    true
}
