//! The script tools: list, create, show, test, delete.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router};

use crate::mcp::params::*;
use crate::mcp::{OrcMcp, ToolResult, err, names, ok};
use crate::service::shapes;

#[tool_router(router = scripts_router, vis = "pub(super)")]
impl OrcMcp {
    #[tool(description = "List the project's scripts (.llm-orc/scripts/<category>/<name>).")]
    async fn list_scripts(&self, Parameters(a): Parameters<CategoryFilter>) -> ToolResult {
        names(&[("category", a.category.as_deref().unwrap_or(""))])?;
        ok(shapes::to_value(&shapes::ScriptsShape::from(
            self.svc().script_summaries(a.category.as_deref()),
        ))?)
    }

    #[tool(
        description = "Create a script from a template (basic, splitter) in .llm-orc/scripts/<category>/."
    )]
    async fn create_script(&self, Parameters(a): Parameters<CreateScriptArgs>) -> ToolResult {
        names(&[("name", &a.name), ("category", &a.category)])?;
        let created = self
            .svc()
            .create_script(&a.name, &a.category, &a.template)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::ScriptCreatedShape::from(
            created,
        ))?)
    }

    #[tool(description = "Show a script's source and description.")]
    async fn get_script(&self, Parameters(a): Parameters<ScriptArgs>) -> ToolResult {
        names(&[("name", &a.name), ("category", &a.category)])?;
        let script = self.svc().get_script(&a.name, &a.category).map_err(err)?;
        ok(shapes::to_value(&shapes::ScriptSourceShape::from(script))?)
    }

    #[tool(
        description = "Run a script with an input as a script agent would, and show what it printed."
    )]
    async fn test_script(&self, Parameters(a): Parameters<TestScriptArgs>) -> ToolResult {
        names(&[("name", &a.name), ("category", &a.category)])?;
        let run = self
            .svc()
            .test_script(&a.name, &a.category, &a.input, a.parameters)
            .await
            .map_err(err)?;
        ok(shapes::to_value(&shapes::ScriptRunShape::from(run))?)
    }

    #[tool(description = "Delete a project script. Requires confirm: true.")]
    async fn delete_script(&self, Parameters(a): Parameters<DeleteScriptArgs>) -> ToolResult {
        names(&[("name", &a.name), ("category", &a.category)])?;
        self.svc()
            .delete_script(&a.name, &a.category, a.confirm)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::ScriptDeletedShape {
            deleted: true,
            name: a.name,
            category: a.category,
        })?)
    }
}
