//! Claude Code integration: the `orc` skill shipped inside the binary, installed into
//! `.claude/skills/orc/` or `~/.claude/skills/orc/`, and the MCP server's registration in
//! `.mcp.json` (project) or `~/.claude.json` (user), merged with what is already there.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};

pub use super::claude_error::InstallError;
use super::claude_json;

/// The skill's files, relative to its folder, as shipped in the repository's
/// `plugin/skills/orc/` (the orc plugin's skill).
pub const SKILL_FILES: &[(&str, &str)] = &[
    ("SKILL.md", include_str!("../../plugin/skills/orc/SKILL.md")),
    (
        "references/tools.md",
        include_str!("../../plugin/skills/orc/references/tools.md"),
    ),
    (
        "references/swarm-design.md",
        include_str!("../../plugin/skills/orc/references/swarm-design.md"),
    ),
    (
        "references/evaluation.md",
        include_str!("../../plugin/skills/orc/references/evaluation.md"),
    ),
    (
        "references/promotion.md",
        include_str!("../../plugin/skills/orc/references/promotion.md"),
    ),
];

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where to install: the project (checked in, shared) or the user's own config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Project,
    User,
}

impl Scope {
    pub fn label(self) -> &'static str {
        match self {
            Scope::Project => "project",
            Scope::User => "user",
        }
    }
}

fn home(h: Option<&Path>) -> Result<&Path, InstallError> {
    h.ok_or(InstallError::NoHome)
}

/// `.claude/skills/orc/` under the project root, or `~/.claude/skills/orc/`.
pub fn skill_dir(
    scope: Scope,
    project_root: &Path,
    home_dir: Option<&Path>,
) -> Result<PathBuf, InstallError> {
    Ok(match scope {
        Scope::Project => project_root.join(".claude/skills/orc"),
        Scope::User => home(home_dir)?.join(".claude/skills/orc"),
    })
}

/// What an install did to each file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SkillInstall {
    pub dir: PathBuf,
    pub created: Vec<PathBuf>,
    pub updated: Vec<PathBuf>,
    pub unchanged: Vec<PathBuf>,
}

/// Writes the skill's files into `dir`. A file that exists with other content is replaced only
/// with `force` (it may hold the user's edits); otherwise nothing is written. With `confine`
/// (a project's root), a file or folder reached through a link out of it is refused, and so
/// is a read-only file, before anything is written.
pub fn install_skill(
    dir: &Path,
    force: bool,
    confine: Option<&Path>,
) -> Result<SkillInstall, InstallError> {
    let mut r = SkillInstall {
        dir: dir.to_path_buf(),
        ..SkillInstall::default()
    };
    let mut changed = Vec::new();
    for (rel, _) in SKILL_FILES {
        let t = claude_json::target(&dir.join(rel), confine)?;
        claude_json::check_writable(&t)?;
    }
    for (rel, text) in SKILL_FILES {
        let path = dir.join(rel);
        match fs::read(&path) {
            Ok(old) if old == text.as_bytes() => r.unchanged.push(path),
            Ok(_) => changed.push(path),
            Err(_) => r.created.push(path),
        }
    }
    if !changed.is_empty() && !force {
        return Err(InstallError::SkillChanged(changed));
    }
    r.updated = changed;
    for (rel, text) in SKILL_FILES {
        let path = dir.join(rel);
        if r.unchanged.contains(&path) {
            continue;
        }
        if let Some(p) = path.parent() {
            fs::create_dir_all(p).map_err(io(p))?;
        }
        let t = claude_json::target(&path, confine)?;
        claude_json::write(&t, text)?;
    }
    Ok(r)
}

/// `.mcp.json` at the project root, or the user's `~/.claude.json`.
pub fn mcp_config_path(
    scope: Scope,
    project_root: &Path,
    home_dir: Option<&Path>,
) -> Result<PathBuf, InstallError> {
    Ok(match scope {
        Scope::Project => project_root.join(".mcp.json"),
        Scope::User => home(home_dir)?.join(".claude.json"),
    })
}

/// The server entry Claude Code starts.
pub fn server_entry(command: &str) -> Value {
    server_entry_with(command, &[])
}

/// The server entry with extra arguments to `orc mcp serve` (`--all-tools`).
pub fn server_entry_with(command: &str, extra: &[&str]) -> Value {
    let mut args = vec!["mcp", "serve"];
    args.extend_from_slice(extra);
    json!({"type": "stdio", "command": command, "args": args, "env": {}})
}

/// The equivalent `claude mcp add` line.
pub fn claude_mcp_add_line(scope: Scope, command: &str) -> String {
    let cmd = if command.contains(' ') {
        format!("\"{command}\"")
    } else {
        command.to_string()
    };
    format!(
        "claude mcp add --transport stdio --scope {} orc -- {cmd} mcp serve",
        scope.label()
    )
}

#[derive(Debug, Clone, Serialize)]
pub struct McpInstall {
    pub path: PathBuf,
    pub status: InstallStatus,
    /// The other servers found in the file, kept as they were.
    pub kept: Vec<String>,
    pub entry: Value,
}

/// What happened to the `orc` entry of an MCP config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InstallStatus {
    /// There was none: it was added.
    Added,
    /// There was another one, replaced (`force`).
    Updated,
    /// The same one was there already; the file was left alone.
    Unchanged,
}

/// Adds (or, with `force`, replaces) the `orc` entry under `mcpServers` in `path`, keeping
/// every other key and server as it was, byte for byte. A file that is not a JSON object is
/// left alone; so is a read-only one. With `confine` (a project's root), a file reached through
/// a link out of that folder is refused.
/// `extra` goes after `orc mcp serve` (`--all-tools`: every tool).
pub fn install_mcp(
    path: &Path,
    command: &str,
    extra: &[&str],
    force: bool,
    confine: Option<&Path>,
) -> Result<McpInstall, InstallError> {
    let target = claude_json::target(path, confine)?;
    let real = target.real.as_path();
    let entry = server_entry_with(command, extra);
    let malformed = |why: String| InstallError::Malformed {
        path: real.to_path_buf(),
        why,
    };
    let mut doc = claude_json::read_object(&target)?;
    let mut servers = doc.object("mcpServers").map_err(malformed)?;
    let kept: Vec<String> = servers
        .keys()
        .filter(|k| *k != "orc")
        .map(str::to_string)
        .collect();
    let status = match servers.value("orc") {
        None => InstallStatus::Added,
        Some(old) if same_server(&old, &entry) => {
            claude_json::check_writable(&target)?;
            return Ok(McpInstall {
                path: target.shown.clone(),
                status: InstallStatus::Unchanged,
                kept,
                entry: old,
            });
        }
        Some(old) if !force => {
            return Err(InstallError::OtherOrc {
                path: real.to_path_buf(),
                existing: format!(
                    "{} {}",
                    old["command"].as_str().unwrap_or("?"),
                    old["args"]
                        .as_array()
                        .map(|a| a
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(" "))
                        .unwrap_or_default()
                ),
            });
        }
        Some(_) => InstallStatus::Updated,
    };
    servers.set("orc", &entry, 2);
    doc.set_object("mcpServers", &servers, 1);
    claude_json::write_object(&target, &doc)?;
    Ok(McpInstall {
        path: target.shown.clone(),
        status,
        kept,
        entry,
    })
}

/// Same command and arguments (other keys, such as `env`, may differ).
fn same_server(a: &Value, b: &Value) -> bool {
    a["command"] == b["command"] && a["args"] == b["args"]
}

/// The command to register: `orc` when the `orc` on PATH is this binary, else this binary's
/// absolute path.
pub fn default_command() -> String {
    let Ok(me) = std::env::current_exe().and_then(fs::canonicalize) else {
        return "orc".into();
    };
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join("orc"))
        .find(|c| c.is_file());
    match on_path.and_then(|c| fs::canonicalize(c).ok()) {
        Some(c) if c == me => "orc".into(),
        _ => me.display().to_string(),
    }
}

/// Checks SKILL.md's frontmatter against the Agent Skills rules; returns the problems.
pub fn check_skill(text: &str, folder: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(rest) = text.strip_prefix("---\n") else {
        return vec!["SKILL.md does not start with `---` frontmatter".into()];
    };
    let Some(end) = rest.find("\n---\n") else {
        return vec!["the frontmatter has no closing `---`".into()];
    };
    let (front, body) = (&rest[..end], &rest[end + 5..]);
    let field = |k: &str| {
        front.lines().find_map(|l| {
            l.strip_prefix(&format!("{k}:"))
                .map(|v| v.trim().to_string())
        })
    };
    match field("name") {
        None => problems.push("no `name`".into()),
        Some(n) => {
            let ok = !n.is_empty()
                && n.len() <= 64
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !n.starts_with('-')
                && !n.ends_with('-')
                && !n.contains("--");
            if !ok {
                problems.push(format!(
                    "name `{n}` is not 1-64 lowercase letters, digits and single `-`"
                ));
            }
            if n != folder {
                problems.push(format!("name `{n}` does not match the folder `{folder}`"));
            }
        }
    }
    match field("description") {
        None => problems.push("no `description`".into()),
        Some(d) if d.is_empty() || d.chars().count() > 1024 => problems.push(format!(
            "the description has {} characters (1-1,024)",
            d.chars().count()
        )),
        Some(_) => {}
    }
    let lines = body.lines().count();
    if lines >= 500 {
        problems.push(format!("the body has {lines} lines (under 500)"));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_skill_is_well_formed() {
        let (_, text) = SKILL_FILES[0];
        assert_eq!(check_skill(text, "orc"), Vec::<String>::new());
        assert!(!check_skill(&text.replace("name: orc", "name: Orc"), "orc").is_empty());
    }
}
