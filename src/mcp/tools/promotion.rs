//! The promotion tools: dependencies, readiness, promote, demote.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router};

use crate::mcp::params::*;
use crate::mcp::{OrcMcp, ToolResult, err, names, ok};

#[tool_router(router = promotion_router, vis = "pub(super)")]
impl OrcMcp {
    #[tool(
        description = "The profiles, models and providers an ensemble needs, and whether each is available."
    )]
    async fn list_dependencies(&self, Parameters(a): Parameters<EnsembleArg>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        crate::mcp::promotion::list_dependencies(&self.svc(), &a.ensemble_name)
            .await
            .map_err(err)
            .and_then(ok)
    }

    #[tool(
        description = "Is an ensemble ready for the global tier or the library? The bar (3+ good evaluations for global; 5+ and no project-specific signal for the library), with the evidence: the evaluation record, hard-coded paths, project-specific words, non-standard profiles, project-only scripts; plus missing profiles, broken references, unavailable models and every dependency."
    )]
    async fn check_promotion_readiness(
        &self,
        Parameters(a): Parameters<ReadinessArgs>,
    ) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        crate::mcp::promotion::check_promotion_readiness(&self.svc(), &a)
            .await
            .map_err(err)
            .and_then(ok)
    }

    #[tool(
        description = "Promote an ensemble with everything it needs (profiles, scripts, nested ensembles) to the global tier or the library. Ask the user first: without confirm: true it only lists the files it would write. Below the readiness bar it needs force: true. A library that is a git repository gets a commit on branch contribute/NAME and a pull-request description; pushing is the user's step."
    )]
    async fn promote_ensemble(&self, Parameters(a): Parameters<PromoteArgs>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        crate::mcp::promotion::promote_ensemble(&self.svc(), &a)
            .await
            .map_err(err)
            .and_then(ok)
    }

    #[tool(
        description = "Remove an ensemble from the global tier or the library (and, optionally, profiles only it used). Without confirm: true it only lists the files it would remove."
    )]
    async fn demote_ensemble(&self, Parameters(a): Parameters<DemoteArgs>) -> ToolResult {
        names(&[("ensemble_name", &a.ensemble_name)])?;
        crate::mcp::promotion::demote_ensemble(&self.svc(), &a)
            .map_err(err)
            .and_then(ok)
    }
}
