//! What `orc mcp install` and `orc skill install` check before they write, so that an install
//! never leaves Claude Code with a server it cannot start or a skill listed twice: the command
//! resolves (on the PATH Claude Code will see) and is orc, a project's shared file gets no
//! machine-specific path, and another install (the other scope, the orc plugin) is found and
//! named.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::claude::{InstallError, Scope};
use super::claude_json;
use super::claude_tools::orc_plugins_enabled;

/// Folders where a command is found whatever started Claude Code (a terminal, a desktop app,
/// an IDE): a command found elsewhere through PATH gets a warning.
const SYSTEM_DIRS: &[&str] = &[
    "/usr/local/bin",
    "/usr/bin",
    "/bin",
    "/usr/local/sbin",
    "/usr/sbin",
    "/sbin",
    "/opt/homebrew/bin",
];

/// Where a command resolves and what to say about it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CommandCheck {
    /// The file Claude Code would start.
    pub resolved: Option<PathBuf>,
    /// `orc --version`'s answer, when it was asked.
    pub version: Option<String>,
    pub warnings: Vec<String>,
}

/// Expands `${VAR}` and `${VAR:-default}` as Claude Code does in `command`; an unset variable
/// without a default is an error there too.
pub fn expand(cmd: &str, var: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = cmd;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("`{cmd}` has a `${{` without its `}}`"));
        };
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        match (var(name).filter(|v| !v.is_empty()), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(format!(
                    "`{cmd}` uses ${{{name}}}, which is not set here (Claude Code refuses the server then)"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// Finds `name` on `path_var` as a shell would: the first executable file.
pub fn which(name: &str, path_var: Option<&OsStr>) -> Option<PathBuf> {
    let dirs = path_var.map(|p| std::env::split_paths(p).collect::<Vec<_>>())?;
    dirs.into_iter()
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(name))
        .find(|c| is_executable(c))
}

/// Checks `command` as Claude Code will start it: from `cwd` (the project root), with
/// `path_var` as its PATH. A command that does not resolve, or that is not orc, is an error
/// (`verify` false skips asking it for its version).
pub fn check_command(
    command: &str,
    cwd: &Path,
    path_var: Option<&OsStr>,
    verify: bool,
) -> Result<CommandCheck, InstallError> {
    let unresolved = |why: String| InstallError::Unresolvable {
        command: command.to_string(),
        why,
    };
    if command.trim().is_empty() {
        return Err(unresolved("it is empty".into()));
    }
    if command.starts_with('~') {
        return Err(unresolved(
            "Claude Code does not expand `~` in a server's command; write ${HOME}/... instead"
                .into(),
        ));
    }
    let expanded = expand(command, |k| std::env::var(k).ok()).map_err(unresolved)?;
    let mut check = CommandCheck::default();
    let file = if expanded.contains('/') {
        let p = Path::new(&expanded);
        if p.is_relative() {
            check.warnings.push(format!(
                "`{command}` is relative: Claude Code resolves it from the folder it is started in, which must then be {}",
                cwd.display()
            ));
        }
        let full = cwd.join(p);
        if !is_executable(&full) {
            return Err(unresolved(format!(
                "{} is not an executable file",
                full.display()
            )));
        }
        full
    } else {
        let Some(found) = which(&expanded, path_var) else {
            return Err(unresolved(
                "it is not on PATH (install orc with `cargo install --path . --locked`, or pass --command with where it is)".into(),
            ));
        };
        let dir = found.parent().unwrap_or(Path::new(""));
        if dir.is_relative() {
            check.warnings.push(format!(
                "`{command}` resolves through a relative PATH entry ({}): it depends on the folder Claude Code starts in",
                found.display()
            ));
        } else if !SYSTEM_DIRS.iter().any(|s| dir == Path::new(s)) {
            check.warnings.push(format!(
                "`{command}` depends on PATH: it is {}, found only when Claude Code starts with {} on its PATH (a desktop app or an IDE may not have it)",
                found.display(),
                dir.display()
            ));
        }
        found
    };
    if verify {
        let v = version_of(&file).map_err(|why| {
            unresolved(format!(
                "{} is not orc, or does not start ({why}); --no-verify writes it anyway",
                file.display()
            ))
        })?;
        check.version = Some(v);
    }
    check.resolved = Some(file);
    Ok(check)
}

/// `FILE --version`, expected to answer `orc X.Y.Z`; at most 5 s.
fn version_of(file: &Path) -> Result<String, String> {
    let mut child = Command::new(file)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(_) => break,
            None if start.elapsed() > Duration::from_secs(5) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("no answer to --version within 5 s".into());
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match text.strip_prefix("orc ") {
        Some(v) if out.status.success() => Ok(v.to_string()),
        _ => Err(format!(
            "its --version said `{}`",
            text.chars()
                .take(60)
                .map(|c| if c.is_control() { '?' } else { c })
                .collect::<String>()
        )),
    }
}

/// Whether `command` names a file on this machine only: an absolute path (or one made from
/// `${HOME}`-like variables is fine, it is the same on every machine).
pub fn is_machine_path(command: &str) -> bool {
    command.starts_with('/') || (command.len() > 2 && command.as_bytes()[1] == b':')
}

/// Another install of the same thing, found and named.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Other {
    pub kind: OtherKind,
    pub what: String,
}

/// Where another install was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OtherKind {
    /// The project's `.claude/`.
    Project,
    /// The user's `~/.claude/`.
    User,
    /// The orc plugin.
    Plugin,
}

impl OtherKind {
    pub fn label(self) -> &'static str {
        match self {
            OtherKind::Project => "project",
            OtherKind::User => "user",
            OtherKind::Plugin => "plugin",
        }
    }
}

/// Claude Code settings files that may enable the orc plugin for this project.
fn settings_files(project_root: &Path, home: Option<&Path>) -> Vec<PathBuf> {
    let mut v = vec![
        project_root.join(".claude/settings.json"),
        project_root.join(".claude/settings.local.json"),
    ];
    if let Some(h) = home {
        v.push(h.join(".claude/settings.json"));
    }
    v
}

/// The orc plugin, when a settings file Claude Code reads for this project enables it.
pub fn plugin_enabled(project_root: &Path, home: Option<&Path>) -> Option<Other> {
    for f in settings_files(project_root, home) {
        let Ok(t) = claude_json::target(&f, None) else {
            continue;
        };
        let Ok(doc) = claude_json::read_object(&t) else {
            continue;
        };
        if let Some(id) = orc_plugins_enabled(&doc).first() {
            return Some(Other {
                kind: OtherKind::Plugin,
                what: format!("the orc plugin ({id}, enabled in {})", f.display()),
            });
        }
    }
    None
}

/// The skill in the other scope, or from the plugin.
pub fn other_skill(scope: Scope, project_root: &Path, home: Option<&Path>) -> Option<Other> {
    let other = match scope {
        Scope::Project => home.map(|h| (h.join(".claude/skills/orc"), OtherKind::User)),
        Scope::User => Some((project_root.join(".claude/skills/orc"), OtherKind::Project)),
    };
    if let Some((dir, kind)) = other
        && dir.join("SKILL.md").is_file()
    {
        return Some(Other {
            kind,
            what: format!("the {}-scope skill in {}", kind.label(), dir.display()),
        });
    }
    plugin_enabled(project_root, home).map(|o| Other {
        what: format!("{} (its skill is listed as orc:orc)", o.what),
        ..o
    })
}
