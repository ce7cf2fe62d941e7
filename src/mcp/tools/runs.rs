//! The run tools: `invoke`, and following a run (`run_status`, `run_result`, `cancel_run`); the bodies are in `mcp::runs`.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};

use crate::mcp::params::*;
use crate::mcp::{OrcMcp, ToolResult};

#[tool_router(router = runs_router, vis = "pub(super)")]
impl OrcMcp {
    #[tool(
        description = "Run an ensemble. Pass documents by path (input_files), not as text. Answers with status, the deliverable, each agent's status and error, usage and routing_id (detail: agents or full for more). Progress while it runs; cancelling the request stops it. async: true returns a run_id at once."
    )]
    async fn invoke(
        &self,
        Parameters(a): Parameters<InvokeArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.invoke_tool(a, ctx).await
    }

    #[tool(
        description = "Status of a run started by invoke: running (and which agents), completed, failed or cancelled; agents done and failed so far."
    )]
    async fn run_status(&self, Parameters(a): Parameters<RunArg>) -> ToolResult {
        self.run_status_tool(a)
    }

    #[tool(
        description = "The result of a finished run, shaped as invoke's (detail, max_chars); agent: NAME gives that agent's answer alone, from offset."
    )]
    async fn run_result(&self, Parameters(a): Parameters<RunResultArgs>) -> ToolResult {
        self.run_result_tool(a)
    }

    #[tool(
        description = "Stop a running run: requests in flight are cancelled; finished results are kept and its artifact is marked interrupted."
    )]
    async fn cancel_run(&self, Parameters(a): Parameters<RunArg>) -> ToolResult {
        self.cancel_run_tool(a)
    }
}
