//! The provider tool: which model servers answer with which models.

use rmcp::{tool, tool_router};

use crate::mcp::{OrcMcp, ToolResult, ok};
use crate::service::shapes;

#[tool_router(router = providers_router, vis = "pub(super)")]
impl OrcMcp {
    #[tool(
        description = "Which Ollama hosts answer and which models they have installed; other providers' status."
    )]
    async fn get_provider_status(&self) -> ToolResult {
        ok(shapes::to_value(&shapes::ProviderStatusShape::from(
            self.svc().provider_status().await,
        ))?)
    }
}
