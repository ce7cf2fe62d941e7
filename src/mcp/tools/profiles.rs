//! The model-profile tools: list, create, update, delete.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router};
use serde_json::Value;

use crate::mcp::params::*;
use crate::mcp::{OrcMcp, ToolResult, err, names, ok};
use crate::service::profiles::NewProfile;
use crate::service::shapes;

#[tool_router(router = profiles_router, vis = "pub(super)")]
impl OrcMcp {
    #[tool(
        description = "List model profiles (config.yaml and profiles/ of each tier, merged), optionally of one provider."
    )]
    async fn list_profiles(&self, Parameters(a): Parameters<ProviderFilter>) -> ToolResult {
        ok(shapes::to_value(&shapes::ProfilesShape::from(
            self.svc().profile_summaries(a.provider.as_deref()),
        ))?)
    }

    #[tool(description = "Create a model profile file in the project's .llm-orc/profiles/.")]
    async fn create_profile(&self, Parameters(a): Parameters<CreateProfileArgs>) -> ToolResult {
        names(&[("name", &a.name)])?;
        let path = self
            .svc()
            .create_profile(&NewProfile {
                name: a.name,
                provider: a.provider,
                model: a.model,
                system_prompt: a.system_prompt,
                timeout_seconds: a.timeout_seconds,
                temperature: a.temperature,
                max_tokens: a.max_tokens,
                base_url: a.base_url,
                cost_per_token: a.cost_per_token,
            })
            .map_err(err)?;
        ok(shapes::to_value(&shapes::ProfileCreatedShape {
            created: true,
            path,
        })?)
    }

    #[tool(description = "Change keys of a project profile file (null removes a key).")]
    async fn update_profile(&self, Parameters(a): Parameters<UpdateProfileArgs>) -> ToolResult {
        names(&[("name", &a.name)])?;
        let path = self
            .svc()
            .update_profile(&a.name, &Value::Object(a.changes))
            .map_err(err)?;
        ok(shapes::to_value(&shapes::ProfileUpdatedShape {
            updated: true,
            path,
        })?)
    }

    #[tool(description = "Delete a project profile file. Requires confirm: true.")]
    async fn delete_profile(&self, Parameters(a): Parameters<NameConfirm>) -> ToolResult {
        names(&[("name", &a.name)])?;
        let path = self.svc().delete_profile(&a.name, a.confirm).map_err(err)?;
        ok(shapes::to_value(&shapes::ProfileDeletedShape {
            deleted: true,
            name: a.name,
            path,
        })?)
    }
}
