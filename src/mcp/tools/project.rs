//! The project tools: `set_project` (which project the server serves) and `get_help`.

use std::path::PathBuf;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router};
use serde::Serialize;
use serde_json::{Value, json};

use crate::load::project::LOCAL_DIR;
use crate::mcp::params::*;
use crate::mcp::{OrcMcp, ToolResult, forbidden_project_dir, lock, names, ok};
use crate::service::shapes;

#[tool_router(router = project_router, vis = "pub(super)")]
impl OrcMcp {
    #[tool(
        description = "Point the server at a project: a directory holding .llm-orc/ (or the .llm-orc directory itself; no walking up). With init: true, a directory without one gets a new .llm-orc/ (never a system directory or the home directory itself)."
    )]
    async fn set_project(&self, Parameters(a): Parameters<PathArg>) -> ToolResult {
        let reply = match self.open_project(&a) {
            Ok((root, created)) => {
                *lock(&self.state.project) = Some(root.clone());
                ProjectReply::Ok {
                    project_path: root,
                    initialized: created.as_ref().map(|_| true),
                    created,
                }
            }
            Err(error) => ProjectReply::Error { error },
        };
        ok(shapes::to_value(&reply)?)
    }

    #[tool(description = "How orc's tools, files and workflows fit together.")]
    async fn get_help(&self) -> ToolResult {
        ok(help())
    }
}

/// `set_project`'s answer: a refusal is an answer too (`status: error`), not a tool error.
#[derive(Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
enum ProjectReply {
    Ok {
        project_path: PathBuf,
        #[serde(skip_serializing_if = "Option::is_none")]
        initialized: Option<bool>,
        /// The files `init: true` created, when it did.
        #[serde(skip_serializing_if = "Option::is_none")]
        created: Option<Vec<PathBuf>>,
    },
    Error {
        error: String,
    },
}

impl OrcMcp {
    /// The project root `a.path` names (a directory holding .llm-orc/, or .llm-orc itself),
    /// and the files created when `init` made it one; or why it is refused.
    fn open_project(&self, a: &PathArg) -> Result<(PathBuf, Option<Vec<PathBuf>>), String> {
        names(&[("path", &a.path)])?;
        let p = PathBuf::from(&a.path);
        let p = if p.is_absolute() {
            p
        } else {
            self.state.cwd.join(p)
        };
        if !p.is_dir() {
            return Err(format!("Path does not exist: {}", a.path));
        }
        let p = std::fs::canonicalize(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        // The project's .llm-orc directory itself names its parent.
        let root = match p.parent() {
            Some(parent) if p.file_name().is_some_and(|n| n == LOCAL_DIR) => parent.to_path_buf(),
            _ => p,
        };
        if root.join(LOCAL_DIR).is_dir() {
            return Ok((root, None));
        }
        if !a.init {
            return Err(format!(
                "{} is not an orc project (it has no .llm-orc/ directory); point at a project, or pass init: true to create .llm-orc/ there",
                root.display()
            ));
        }
        if let Some(why) = forbidden_project_dir(&root, self.state.env.home.as_deref()) {
            return Err(why);
        }
        let report = crate::service::init_project(&root, None).map_err(|e| e.to_string())?;
        Ok((root, Some(report.created)))
    }
}

/// The `get_help` document: what the tools are for and how they fit together.
pub fn help() -> Value {
    json!({
        "overview": "orc runs llm-orc ensembles (YAML graphs of small local models) on Ollama. Use it to hand extraction, classification and summarisation to a swarm of local models: discover ensembles, create or adapt one, validate it, invoke it, then analyse the artifact.",
        "directory_structure": {
            "local": ".llm-orc/ in the project (ensembles/, profiles/, scripts/, artifacts/); set with set_project",
            "library": "$LLM_ORC_LIBRARY_PATH or ./llm-orchestra-library (ensembles/<category>/, scripts/<category>/)",
            "global": "$XDG_CONFIG_HOME/llm-orc or ~/.config/llm-orc",
            "priority": "local, then library, then global: the first ensemble with the name wins",
        },
        "schemas": {
            "ensemble": {"name": "string", "description": "string", "agents": "list of agents"},
            "agent": {
                "name": "string (unique)",
                "model_profile": "a profile name (or model + provider)",
                "system_prompt": "string",
                "depends_on": "list of agent names; the agent starts when they finish",
                "fan_out": "true: run once per item of the first dependency's JSON array",
                "script": "a script path instead of a model",
                "ensemble": "another ensemble, run as this agent",
                "timeout_seconds": "number",
            },
            "profile": {"name": "string", "provider": "ollama | openai-compatible", "model": "e.g. qwen3:0.6b", "base_url": "optional", "system_prompt": "optional", "temperature": "optional", "max_tokens": "optional"},
        },
        "tools": {
            "set_project": "point the server at a project directory",
            "list_ensembles / validate_ensemble / check_ensemble_runnable": "discover and check",
            "create_ensemble / update_ensemble / delete_ensemble": "edit project ensembles (update applies the changes; dry_run previews)",
            "invoke": "run an ensemble; pass documents by path (input_files); a compact result (detail: agents or full for more, max_chars caps it); progress per agent and heartbeats; cancelling the request stops the run; async: true returns a run_id at once",
            "run_status / run_result": "follow a run and fetch its result (run_result agent: NAME gives one agent's answer)",
            "list_profiles / create_profile / update_profile / delete_profile": "model profiles",
            "list_scripts / get_script / create_script / test_script / delete_script": "script agents",
            "analyze_execution / delete_artifact / cleanup_artifacts": "artifacts (ids are ensemble/timestamp or ensemble/latest)",
            "library_browse / library_search / library_info / library_copy": "the shared library",
            "get_provider_status": "which Ollama hosts answer and what models they have",
            "route_task / record_claude_task": "where a task goes (local ensemble, new ensemble, Claude), with the break-even: a delegation that would not pay goes to Claude; log work Claude did itself",
            "should_evaluate / record_evaluation / record_feedback / judge_locally": "judge sampled runs with the rubric (reasoning before verdict); the user's verdict",
            "learning_report / learn_routing / routing_history / rollback_routing / export_training_data": "savings and quality; learn routing in batches; training data",
            "list_dependencies / check_promotion_readiness / promote_ensemble / demote_ensemble": "what an ensemble needs; readiness with evidence; promotion only with confirm: true (force below the bar)",
            "cancel_run": "stop a running run",
        },
        "skill": "The `orc` Claude Code skill (`orc skill install`) teaches the whole loop: route, build in tiers, invoke, judge, record, learn in batches, promote with consent.",
        "workflows": {
            "the_learning_loop": ["route_task", "create_ensemble or library_copy (if route is new-ensemble)", "invoke with task_type, instruction and expect (delivered: false -> do it yourself, record_claude_task with redoes) (or, if route is claude, do it and record_claude_task with output)", "should_evaluate (judge: claude -> you judge; a profile -> judge_locally; spot_check -> judge_locally too; paired: true -> answer too with record_claude_task paired_with, judge both)", "judge with the rubric, reasoning first", "record_evaluation (also of Claude's redo, logged with record_claude_task redoes and output)", "record_feedback when the user accepts or rejects", "learn_routing in batches (automatic every 20 evaluations)"],
            "share_an_ensemble": ["check_promotion_readiness", "ask the user", "promote_ensemble with confirm: true (force: true only if the user wants it below the bar)", "for a git library: the user pushes contribute/NAME"],
            "route_a_task": ["list_ensembles", "check_ensemble_runnable", "invoke", "analyze_execution"],
            "build_an_ensemble": ["list_profiles", "create_ensemble", "validate_ensemble", "invoke"],
            "long_runs": ["invoke with async: true", "run_status until done", "run_result"],
            "clean_up": ["cleanup_artifacts (dry_run first)", "delete_artifact with confirm: true"],
        },
    })
}
