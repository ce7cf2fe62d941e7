//! The library tools: browse, search, info, copy into the project.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router};

use crate::mcp::params::*;
use crate::mcp::{OrcMcp, ToolResult, err, names, ok};
use crate::service::shapes;

#[tool_router(router = library_router, vis = "pub(super)")]
impl OrcMcp {
    #[tool(description = "Browse the library's ensembles and scripts, optionally one category.")]
    async fn library_browse(&self, Parameters(a): Parameters<BrowseArgs>) -> ToolResult {
        names(&[("category", a.category.as_deref().unwrap_or(""))])?;
        let listing = self
            .svc()
            .library_browse(&a.browse_type, a.category.as_deref())
            .map_err(err)?;
        ok(shapes::to_value(&shapes::LibraryBrowseShape::from(
            listing,
        ))?)
    }

    #[tool(description = "Search the library by name, description or category.")]
    async fn library_search(&self, Parameters(a): Parameters<SearchArgs>) -> ToolResult {
        let found = self.svc().library_search(&a.query).map_err(err)?;
        ok(shapes::to_value(&shapes::LibrarySearchShape::from(found))?)
    }

    #[tool(description = "Where the library is and what it holds.")]
    async fn library_info(&self) -> ToolResult {
        ok(shapes::to_value(&shapes::LibraryInfoShape::from(
            self.svc().library_info(),
        ))?)
    }

    #[tool(description = "Copy an ensemble or script from the library into the project.")]
    async fn library_copy(&self, Parameters(a): Parameters<CopyArgs>) -> ToolResult {
        names(&[
            ("source", &a.source),
            ("destination", a.destination.as_deref().unwrap_or("")),
        ])?;
        let copied = self
            .svc()
            .library_copy(&a.source, a.destination.as_deref(), a.overwrite)
            .map_err(err)?;
        ok(shapes::to_value(&shapes::LibraryCopyShape::from(copied))?)
    }
}
