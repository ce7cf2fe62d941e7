//! Which tools a client sees. Every definition is sent to the model with every request where
//! the client does not defer them (Claude Code behind a gateway), so by default orc serves only
//! the core set the skill's loop uses (at most 10,000 characters of definitions, a test checks);
//! `orc mcp serve --all-tools` serves llm-orc's whole surface and orc's additions. Every tool
//! carries `readOnlyHint`, `destructiveHint` and `idempotentHint`, so a client can allow the
//! read-only ones without asking.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::ToolAnnotations;

use super::OrcMcp;

/// The core set: route, invoke, status/result/cancel, judging and learning, list and validate.
pub const CORE: &[&str] = &[
    "route_task",
    "list_ensembles",
    "validate_ensemble",
    "check_ensemble_runnable",
    "invoke",
    "run_status",
    "run_result",
    "cancel_run",
    "should_evaluate",
    "record_evaluation",
    "record_feedback",
    "judge_locally",
    "record_claude_task",
    "learning_report",
    "learn_routing",
];

/// (read-only, destructive, idempotent) per tool. A tool missing here is announced as
/// destructive and not idempotent (the cautious reading), and a test fails.
pub fn hints(name: &str) -> Option<(bool, bool, bool)> {
    const RO: (bool, bool, bool) = (true, false, true);
    const ADD: (bool, bool, bool) = (false, false, false);
    const REPLACE: (bool, bool, bool) = (false, true, true);
    Some(match name {
        "list_ensembles"
        | "validate_ensemble"
        | "check_ensemble_runnable"
        | "run_status"
        | "run_result"
        | "list_profiles"
        | "list_scripts"
        | "get_script"
        | "analyze_execution"
        | "library_browse"
        | "library_search"
        | "library_info"
        | "get_provider_status"
        | "get_help"
        | "route_task"
        | "should_evaluate"
        | "learning_report"
        | "routing_history"
        | "list_dependencies"
        | "check_promotion_readiness" => RO,
        "set_project" => (false, false, true),
        "create_ensemble"
        | "create_profile"
        | "create_script"
        | "test_script"
        | "invoke"
        | "record_claude_task"
        | "record_evaluation"
        | "record_feedback"
        | "learn_routing"
        | "export_training_data"
        | "judge_locally" => ADD,
        "update_ensemble" | "delete_ensemble" | "cancel_run" | "update_profile"
        | "delete_profile" | "delete_script" | "delete_artifact" | "cleanup_artifacts"
        | "rollback_routing" | "demote_ensemble" => REPLACE,
        // Both may overwrite files when asked to (overwrite: true).
        "library_copy" | "promote_ensemble" => (false, true, false),
        _ => return None,
    })
}

/// The server's tools: annotated, and only the core set unless `all`.
pub fn router(all: bool) -> ToolRouter<OrcMcp> {
    let mut r = OrcMcp::tool_router();
    for route in r.map.values_mut() {
        let (ro, destructive, idempotent) = hints(&route.attr.name).unwrap_or((false, true, false));
        route.attr.annotations = Some(
            ToolAnnotations::new()
                .read_only(ro)
                .destructive(destructive)
                .idempotent(idempotent),
        );
        // `$schema` is the same 57 characters in every definition, read with every request.
        if route.attr.input_schema.contains_key("$schema") {
            let mut schema = (*route.attr.input_schema).clone();
            schema.remove("$schema");
            route.attr.input_schema = std::sync::Arc::new(schema);
        }
    }
    if !all {
        let extra: Vec<String> = r
            .map
            .keys()
            .filter(|k| !CORE.contains(&k.as_ref()))
            .map(|k| k.to_string())
            .collect();
        for name in extra {
            r.remove_route(&name);
        }
    }
    r
}

/// The definitions as a client receives them (`tools/list`), as JSON text: what a model reads
/// with every request where the client sends them.
pub fn definitions_text(r: &ToolRouter<OrcMcp>) -> String {
    serde_json::to_string(&r.list_all()).unwrap_or_default()
}
