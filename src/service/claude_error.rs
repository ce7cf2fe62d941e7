//! What can go wrong installing orc into Claude Code: the skill, the MCP server's registration
//! and the settings (shared by `claude` and the `claude_json` editor).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON ({why}); it was left as it is")]
    Malformed { path: PathBuf, why: String },
    #[error(
        "{} differ(s) from the skill this orc ships (edited by hand?); nothing was written. --force replaces them: {}",
        .0.len(),
        .0.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    SkillChanged(Vec<PathBuf>),
    #[error(
        "{path} already registers a server `orc` with a different command ({existing}); nothing was written. --force replaces that entry (other servers are always kept)"
    )]
    OtherOrc { path: PathBuf, existing: String },
    #[error("no home directory (HOME is not set)")]
    NoHome,
    #[error("{path} is read-only; it was left as it is (make it writable to install)")]
    ReadOnly { path: PathBuf },
    #[error(
        "{path} leads out of the project ({root}) to {target} through a link; nothing was written there (a cloned repository may plant such links)"
    )]
    OutsideProject {
        path: PathBuf,
        target: PathBuf,
        root: PathBuf,
    },
    #[error("the command `{command}` would not start for Claude Code: {why}; nothing was written")]
    Unresolvable { command: String, why: String },
    #[error(
        "orc is not on PATH here, and this machine's path to it ({command}) would go into the shared {path}, where it breaks the server for everyone who clones the project; nothing was written. Put orc on PATH (`cargo install --path . --locked`) and rerun, pass --command CMD to choose the command, or install for yourself only with --user"
    )]
    MachinePath { command: String, path: PathBuf },
    #[error(
        "{what} already provides this, so Claude Code would list it twice; nothing was written. Remove that one first, or pass --force to install both"
    )]
    Duplicate { what: String },
}
