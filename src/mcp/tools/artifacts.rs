//! The artifact tools: analyse a run, delete one, clean up old ones.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router};

use crate::mcp::params::*;
use crate::mcp::{OrcMcp, ToolResult, err, names, ok};
use crate::service::shapes;

#[tool_router(router = artifacts_router, vis = "pub(super)")]
impl OrcMcp {
    #[tool(
        description = "Summarise a run's artifact: agents ok and failed, tokens, cost, duration, slowest agents."
    )]
    async fn analyze_execution(&self, Parameters(a): Parameters<ArtifactArg>) -> ToolResult {
        names(&[("artifact_id", &a.artifact_id)])?;
        let analysis = self.svc().analyze(&a.artifact_id).map_err(err)?;
        ok(shapes::to_value(&shapes::AnalysisShape::from(analysis))?)
    }

    #[tool(
        description = "Delete one run's artifact (latest is repointed). Requires confirm: true."
    )]
    async fn delete_artifact(&self, Parameters(a): Parameters<DeleteArtifactArgs>) -> ToolResult {
        names(&[("artifact_id", &a.artifact_id)])?;
        self.svc()
            .delete_artifact(&a.artifact_id, a.confirm)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::DeletedShape {
            deleted: true,
            artifact_id: a.artifact_id,
        })?)
    }

    #[tool(
        description = "Delete artifacts older than N days (by their run time), for one ensemble or all. dry_run lists them first."
    )]
    async fn cleanup_artifacts(&self, Parameters(a): Parameters<CleanupArgs>) -> ToolResult {
        names(&[("ensemble_name", a.ensemble_name.as_deref().unwrap_or(""))])?;
        let ids = self
            .svc()
            .cleanup_artifacts(a.ensemble_name.as_deref(), a.older_than_days, a.dry_run)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::CleanupShape::new(
            a.dry_run, ids,
        ))?)
    }
}
