//! The MCP tools, one file per resource: each tool a thin adapter that checks names, calls one
//! service operation and maps its typed result to llm-orc's JSON shape (`service::shapes`, or
//! a reply struct of its own file). This file joins the files' routers into the server's.

use rmcp::handler::server::router::tool::ToolRouter;

use super::OrcMcp;

mod artifacts;
mod ensembles;
mod learning;
mod library;
mod profiles;
mod project;
mod promotion;
mod providers;
mod runs;
mod scripts;

pub use project::help;

impl OrcMcp {
    /// Every tool (`tools/list` sorts them by name, so the order here is not seen).
    pub(super) fn tool_router() -> ToolRouter<Self> {
        Self::project_router()
            + Self::ensembles_router()
            + Self::runs_router()
            + Self::profiles_router()
            + Self::scripts_router()
            + Self::artifacts_router()
            + Self::library_router()
            + Self::providers_router()
            + Self::promotion_router()
            + Self::learning_router()
    }
}
