//! The one list of orc's MCP tools as Claude Code's permissions see them: what each may do
//! (read only, write, or destroy something the user keeps) and whether it is in the core set
//! the `orc` skill uses. `orc mcp install --allow read-only|core|all` writes its allow-list
//! from here; destructive tools are never allowed and always ask. A test checks this list
//! against the server's own tool list (and its annotations, where the server sets them).

use serde_json::Value;

use super::claude::InstallError;
use super::claude_json::{self, JsonObject, Target};

/// What a tool may do to the user's files and runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads only (it may log nothing but its own answer).
    ReadOnly,
    /// Writes or runs something (ensembles, runs, logs, copies), nothing that cannot be redone.
    Writes,
    /// Deletes or moves what the user keeps: always asks (`permissions.ask`).
    Destructive,
}

/// One MCP tool of `orc mcp serve`.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub name: &'static str,
    pub access: Access,
    /// In the core set: the tools the `orc` skill uses.
    pub core: bool,
}

const fn t(name: &'static str, access: Access, core: bool) -> Tool {
    Tool { name, access, core }
}

use Access::{Destructive as D, ReadOnly as R, Writes as W};

/// Every tool, in the server's order.
pub const TOOLS: &[Tool] = &[
    t("set_project", W, false),
    t("list_ensembles", R, true),
    t("validate_ensemble", R, true),
    t("create_ensemble", W, true),
    t("update_ensemble", W, true),
    t("delete_ensemble", D, false),
    t("check_ensemble_runnable", R, true),
    t("invoke", W, true),
    t("run_status", R, true),
    t("run_result", R, true),
    t("cancel_run", W, false),
    t("list_profiles", R, true),
    t("create_profile", W, false),
    t("update_profile", W, false),
    t("delete_profile", D, false),
    t("list_scripts", R, false),
    t("create_script", W, false),
    t("get_script", R, false),
    t("test_script", W, false),
    t("delete_script", D, false),
    t("analyze_execution", R, true),
    t("delete_artifact", D, false),
    t("cleanup_artifacts", D, false),
    t("library_browse", R, false),
    t("library_search", R, true),
    t("library_info", R, false),
    t("library_copy", W, true),
    t("get_provider_status", R, true),
    t("list_dependencies", R, false),
    t("check_promotion_readiness", R, true),
    t("promote_ensemble", D, true),
    t("demote_ensemble", D, true),
    t("get_help", R, true),
    t("route_task", R, true),
    t("record_claude_task", W, true),
    t("should_evaluate", R, true),
    t("record_evaluation", W, true),
    t("record_feedback", W, true),
    t("learning_report", R, true),
    t("learn_routing", W, true),
    t("routing_history", R, true),
    t("rollback_routing", W, true),
    t("export_training_data", W, true),
    t("judge_locally", W, true),
];

/// The server's name in `orc mcp install`'s registration, and the one the orc plugin gets.
pub const SERVER_PREFIX: &str = "mcp__orc__";
pub const PLUGIN_PREFIX: &str = "mcp__plugin_orc_orc__";

/// How much `--allow` lets run without a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowLevel {
    ReadOnly,
    Core,
    All,
}

impl AllowLevel {
    pub fn parse(s: &str) -> Option<AllowLevel> {
        match s {
            "read-only" => Some(AllowLevel::ReadOnly),
            "core" => Some(AllowLevel::Core),
            "all" => Some(AllowLevel::All),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AllowLevel::ReadOnly => "read-only",
            AllowLevel::Core => "core",
            AllowLevel::All => "all",
        }
    }

    /// The tools allowed at this level (core: the skill's tools and every read-only one),
    /// never a destructive one.
    pub fn tools(self) -> impl Iterator<Item = &'static Tool> {
        TOOLS.iter().filter(move |t| match (self, t.access) {
            (_, Access::Destructive) => false,
            (AllowLevel::ReadOnly, a) => a == Access::ReadOnly,
            (AllowLevel::Core, a) => t.core || a == Access::ReadOnly,
            (AllowLevel::All, _) => true,
        })
    }
}

pub fn destructive() -> impl Iterator<Item = &'static Tool> {
    TOOLS.iter().filter(|t| t.access == Access::Destructive)
}

/// What writing the permissions did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Permissions {
    pub path: std::path::PathBuf,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub ask_added: Vec<String>,
}

/// Whether `rule` is one of orc's own allow rules for `prefix` (the server as a whole, or one
/// of its tools): the rules `--allow` owns and may replace.
fn is_orc_rule(rule: &str, prefix: &str) -> bool {
    rule == prefix.trim_end_matches('_')
        || rule
            .strip_prefix(prefix)
            .is_some_and(|t| TOOLS.iter().any(|x| x.name == t))
}

/// Writes the level's allow-list into a Claude Code settings file (`.claude/settings.json`
/// or `~/.claude/settings.json`): orc's own entries in `permissions.allow` (for tools named
/// with `prefix`) become the level's list, every other entry and key stays as it was, and the
/// destructive tools are added to `permissions.ask` so they prompt whatever else allows them.
pub fn write_permissions(
    t: &Target,
    level: AllowLevel,
    prefix: &str,
) -> Result<Permissions, InstallError> {
    let mut doc = claude_json::read_object(t)?;
    let malformed = |why: String| InstallError::Malformed {
        path: t.real.clone(),
        why,
    };
    let mut perms = doc.object("permissions").map_err(malformed)?;
    let list = |key: &str| -> Result<Vec<Value>, InstallError> {
        match perms.value(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(malformed(format!("`permissions.{key}` is not a list"))),
        }
    };
    let old_allow = list("allow")?;
    let old_ask = list("ask")?;
    let wanted: Vec<String> = level
        .tools()
        .map(|x| format!("{prefix}{}", x.name))
        .collect();
    let mut out = Permissions {
        path: t.shown.clone(),
        ..Permissions::default()
    };
    let mut allow = Vec::new();
    for v in &old_allow {
        match v.as_str() {
            Some(s) if is_orc_rule(s, prefix) && !wanted.iter().any(|w| w == s) => {
                out.removed.push(s.to_string())
            }
            _ => allow.push(v.clone()),
        }
    }
    for w in &wanted {
        if !allow.iter().any(|v| v.as_str() == Some(w)) {
            allow.push(Value::String(w.clone()));
            out.added.push(w.clone());
        }
    }
    let mut ask = old_ask.clone();
    for d in destructive() {
        let rule = format!("{prefix}{}", d.name);
        if !ask.iter().any(|v| v.as_str() == Some(&rule)) {
            ask.push(Value::String(rule.clone()));
            out.ask_added.push(rule);
        }
    }
    if out.added.is_empty() && out.removed.is_empty() && out.ask_added.is_empty() {
        claude_json::check_writable(t)?;
        return Ok(out);
    }
    // Only the lists that changed are written again; the others keep their text.
    if allow != old_allow {
        perms.set("allow", &Value::Array(allow), 2);
    }
    if ask != old_ask {
        perms.set("ask", &Value::Array(ask), 2);
    }
    doc.set_object("permissions", &perms, 1);
    claude_json::write_object(t, &doc)?;
    Ok(out)
}

/// Reads `enabledPlugins` of a settings file: the ids of enabled plugins named `orc`.
pub fn orc_plugins_enabled(doc: &JsonObject) -> Vec<String> {
    match doc.value("enabledPlugins") {
        Some(Value::Object(m)) => m
            .iter()
            .filter(|(k, v)| k.split('@').next() == Some("orc") && v.as_bool() == Some(true))
            .map(|(k, _)| k.clone())
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_nest_and_never_allow_a_destructive_tool() {
        let names = |l: AllowLevel| l.tools().map(|t| t.name).collect::<Vec<_>>();
        let (ro, core, all) = (
            names(AllowLevel::ReadOnly),
            names(AllowLevel::Core),
            names(AllowLevel::All),
        );
        assert!(ro.contains(&"route_task") && !ro.contains(&"invoke"));
        assert!(core.contains(&"invoke") && !core.contains(&"create_profile"));
        assert!(all.contains(&"create_profile"));
        for d in [
            "delete_ensemble",
            "demote_ensemble",
            "promote_ensemble",
            "cleanup_artifacts",
        ] {
            assert!(!all.contains(&d), "{d} always asks");
        }
        assert!(
            ro.iter().all(|t| core.contains(t)),
            "core includes every read-only tool"
        );
        assert!(ro.len() < core.len() && core.len() < all.len());
        let mut seen = std::collections::HashSet::new();
        assert!(
            TOOLS.iter().all(|t| seen.insert(t.name)),
            "one entry per tool"
        );
    }
}
