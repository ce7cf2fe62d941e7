//! The ensemble tools: list, validate, create, update, delete, check runnable.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router};
use serde_json::Value;

use crate::mcp::params::*;
use crate::mcp::{OrcMcp, ToolResult, err, names, ok};
use crate::service::shapes;

#[tool_router(router = ensembles_router, vis = "pub(super)")]
impl OrcMcp {
    #[tool(
        description = "List ensembles in every tier (local, library, global) with descriptions and agent counts."
    )]
    async fn list_ensembles(&self) -> ToolResult {
        ok(shapes::to_value(&shapes::EnsemblesShape::from(
            self.svc().ensemble_summaries(),
        ))?)
    }

    #[tool(
        description = "Validate an ensemble: YAML, agents, dependencies, cycles, profiles, scripts, nesting. Errors carry file:line:column."
    )]
    async fn validate_ensemble(&self, Parameters(a): Parameters<EnsembleArg>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        let check = self
            .svc()
            .validate_ensemble(&a.ensemble_name)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::ValidationShape::from(check))?)
    }

    #[tool(
        description = "Create a project ensemble from agent objects or by copying another ensemble's agents; it is validated after writing."
    )]
    async fn create_ensemble(&self, Parameters(a): Parameters<CreateEnsembleArgs>) -> ToolResult {
        names(&[
            ("name", &a.name),
            ("from_template", a.from_template.as_deref().unwrap_or("")),
        ])?;
        let created = self
            .svc()
            .create_ensemble(
                &a.name,
                &a.description,
                a.agents.map(Value::Array),
                a.from_template.as_deref(),
            )
            .map_err(err)?;
        ok(shapes::to_value(&shapes::EnsembleCreatedShape::from(
            created,
        ))?)
    }

    #[tool(
        description = "Change top-level keys of a project ensemble (dry_run previews; the result must validate; backup keeps a .bak)."
    )]
    async fn update_ensemble(&self, Parameters(a): Parameters<UpdateEnsembleArgs>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        let changes = Value::Object(a.changes);
        let update = self
            .svc()
            .update_ensemble(&a.ensemble_name, &changes, a.dry_run, a.backup)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::EnsembleUpdateShape::new(
            update, changes,
        ))?)
    }

    #[tool(description = "Delete a project ensemble. Requires confirm: true.")]
    async fn delete_ensemble(&self, Parameters(a): Parameters<DeleteEnsembleArgs>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        let path = self
            .svc()
            .delete_ensemble(&a.ensemble_name, a.confirm)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::PathDeletedShape {
            deleted: true,
            path,
        })?)
    }

    #[tool(
        description = "Check that every model an ensemble needs is installed on its Ollama host; for missing ones, name the installed model of the nearest size."
    )]
    async fn check_ensemble_runnable(&self, Parameters(a): Parameters<EnsembleArg>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        let check = self
            .svc()
            .check_runnable(&a.ensemble_name)
            .await
            .map_err(err)?;
        ok(shapes::to_value(&shapes::RunnableShape::from(check))?)
    }
}
