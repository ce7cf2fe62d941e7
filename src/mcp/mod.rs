//! `orc mcp serve`: llm-orc's MCP tool surface over stdio or HTTP, on rmcp. This file holds the
//! server (its state, the router, the transports' entry points); `params` the tools' parameter
//! structs, `tools` the tools (thin adapters over `service`), `shapes` llm-orc's JSON shapes of
//! typed results. Nothing here reads project files itself.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{CallToolResult, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, ServiceExt, tool_handler};
use serde_json::{Value, json};

use crate::learn::records::Handover;
use crate::load::project::Env;

mod account;
pub mod http;
pub mod params;
pub mod promotion;
pub mod reference;
pub mod result;
mod runs;
pub mod surface;
mod tools;
pub use tools::help;
mod stdio;

/// How `orc mcp serve` was started.
#[derive(Debug, Clone)]
pub struct McpOptions {
    /// Serve every tool (llm-orc's whole surface), not only the core set.
    pub all_tools: bool,
    /// A progress notification at least this often while a run is going (a heartbeat naming
    /// the agents running), so a client's inactivity timeout never fires during a slow agent.
    pub heartbeat: Duration,
    /// The default cap on an invoke / run_result answer, in characters of JSON.
    pub max_result_chars: usize,
}

impl Default for McpOptions {
    fn default() -> Self {
        McpOptions {
            all_tools: false,
            heartbeat: Duration::from_secs(15),
            max_result_chars: result::DEFAULT_MAX_CHARS,
        }
    }
}
use crate::service::{ErrorKind, Invocation, Service, ServiceError};

type ToolResult = Result<CallToolResult, String>;

fn ok(v: Value) -> ToolResult {
    Ok(CallToolResult::structured(v))
}

fn err(e: ServiceError) -> String {
    match e {
        ServiceError::Invalid { name, diagnostics } => {
            let lines: Vec<String> = diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.to_string().replace("\n  hint: ", " (hint: ") + ")")
                .collect();
            format!("ensemble `{name}` is invalid:\n{}", lines.join("\n"))
        }
        // A failure to read or write is said to be one, never worded as a refusal.
        other if other.kind() == ErrorKind::Io => format!("I/O error: {other}"),
        other => other.to_string(),
    }
}

/// One run started by `invoke` (async or not).
struct Run {
    ensemble: String,
    started: Instant,
    done: u64,
    failed: u64,
    total: u64,
    /// The agents working now, since when.
    running: BTreeMap<String, Instant>,
    /// The whole document (llm-orc's keys, the ids), once the run is over.
    result: Option<Value>,
    cancel: tokio::sync::watch::Sender<bool>,
    /// Calls that named the run before its routing record was written (the async invoke
    /// itself, polls): the record takes them.
    handover: Handover,
    /// Set once the routing record is written; later calls go to handover.jsonl.
    routing_id: Option<String>,
}

struct State {
    cwd: PathBuf,
    env: Env,
    opts: McpOptions,
    project: Mutex<Option<PathBuf>>,
    service: Mutex<Arc<Service>>,
    runs: Mutex<HashMap<String, Run>>,
    /// Tokens (as counted, before the Claude factor) of the tool definitions served.
    definition_tokens: u64,
    /// Calls that prepare the next delegation (route_task, list/validate/check): the next
    /// invoke's (or record_claude_task's) record takes them.
    pending: Mutex<Handover>,
}

/// Refuses names a client passed that hold control characters, newlines or bidi marks (one
/// check for every tool that takes a name; see `config::check_name_chars`).
fn names(list: &[(&str, &str)]) -> Result<(), String> {
    for (what, value) in list {
        crate::load::project::check_name_chars(value)
            .map_err(|why| format!("invalid {what} `{}`: {why}", value.escape_debug()))?;
    }
    Ok(())
}

/// Why `dir` (canonical) may not become a new project: a system directory (or inside one,
/// unless under the user's home), or the home directory itself.
fn forbidden_project_dir(dir: &std::path::Path, home: Option<&std::path::Path>) -> Option<String> {
    use std::path::{Component, Path};
    let home = home.map(|h| std::fs::canonicalize(h).unwrap_or_else(|_| h.to_path_buf()));
    if home.as_deref() == Some(dir) {
        return Some(format!(
            "{} is your home directory; create a project in a folder of its own",
            dir.display()
        ));
    }
    if dir.parent().is_none() {
        return Some(format!("{} is the filesystem root", dir.display()));
    }
    if home.as_deref().is_some_and(|h| dir.starts_with(h)) {
        return None;
    }
    let first = match dir.components().nth(1) {
        Some(Component::Normal(c)) => c.to_string_lossy().into_owned(),
        _ => return None,
    };
    let system = [
        "etc", "usr", "bin", "sbin", "proc", "sys", "dev", "boot", "var", "run",
    ]
    .contains(&first.as_str())
        || first.starts_with("lib");
    system.then(|| {
        format!(
            "{} is a system directory ({}); orc creates projects only outside it",
            dir.display(),
            Path::new("/").join(&first).display()
        )
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Clone)]
pub struct OrcMcp {
    state: Arc<State>,
    tool_router: ToolRouter<Self>,
}

// ------------------------------------------------------------------ the server

impl OrcMcp {
    pub fn new(cwd: PathBuf, project: Option<PathBuf>, env: Env, opts: McpOptions) -> Self {
        let service = Service::open(&cwd, project.as_deref(), &env);
        let tool_router = surface::router(opts.all_tools);
        let definition_tokens =
            crate::learn::estimate::tokens(&surface::definitions_text(&tool_router));
        OrcMcp {
            state: Arc::new(State {
                cwd,
                env,
                opts,
                project: Mutex::new(project),
                service: Mutex::new(Arc::new(service)),
                runs: Mutex::new(HashMap::new()),
                definition_tokens,
                pending: Mutex::new(Handover::default()),
            }),
            tool_router,
        }
    }

    /// The project as it is on disk now (files may have changed since the last call).
    fn svc(&self) -> Arc<Service> {
        let project = lock(&self.state.project).clone();
        let fresh = Arc::new(Service::open(
            &self.state.cwd,
            project.as_deref(),
            &self.state.env,
        ));
        *lock(&self.state.service) = fresh.clone();
        fresh
    }

    fn result_json(inv: &Invocation) -> Value {
        let full = &inv.doc;
        json!({
            "results": full["results"],
            "deliverable": inv.result.deliverable,
            "status": if inv.result.has_errors() || inv.result.interrupted { "error" } else { "success" },
            "has_errors": inv.result.has_errors() || inv.result.interrupted,
            "executor_status": inv.result.status(),
            "metadata": full["metadata"],
            "artifact_id": inv.artifact.as_ref().and_then(|a| a.as_ref().ok()).map(|w| w.id.clone()),
            "warnings": inv.warnings.iter().map(ToString::to_string)
                .chain(inv.result.budget.as_ref().and_then(|b| b.estimate_note()))
                .collect::<Vec<_>>(),
        })
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for OrcMcp {
    /// Every call goes through here: its arguments and result are counted, and the calls that
    /// belong to a delegated run are charged to it (see `account`).
    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        mut context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, rmcp::ErrorData> {
        let tool = request.name.to_string();
        let args = request.arguments.clone().unwrap_or_default();
        let arg_tokens = account::argument_tokens(&args);
        context.extensions.insert(account::ArgTokens(arg_tokens));
        let ct = context.ct.clone();
        let tcc = rmcp::handler::server::tool::ToolCallContext::new(self, request, context);
        let out = self.tool_router.call(tcc).await;
        // A cancelled call's result is never sent: only its arguments crossed the wire.
        let result = match (&out, ct.is_cancelled()) {
            (Ok(rmcp::model::CallToolResponse::Complete(r)), false) => Some(r),
            _ => None,
        };
        // invoke charges itself to its run's record; one refused before it ran still cost
        // Claude the call, charged to the next delegation.
        let ran = result
            .and_then(|r| r.structured_content.as_ref())
            .is_some_and(|v| v.get("run_id").is_some());
        if tool != "invoke" || !ran {
            self.account(&tool, &args, arg_tokens, result);
        }
        out
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("orc", env!("CARGO_PKG_VERSION")))
            .with_instructions("orc runs llm-orc ensembles of small local models on Ollama. Start with list_ensembles or get_help.")
    }
}

/// Serves MCP over stdin/stdout until the client goes away. Every frame gets an answer: one
/// that cannot be read is answered with a JSON-RPC parse error (see `stdio`).
pub async fn serve_stdio(
    cwd: PathBuf,
    project: Option<PathBuf>,
    env: Env,
    opts: McpOptions,
) -> anyhow::Result<()> {
    let server = OrcMcp::new(cwd, project, env, opts);
    let transport = stdio::FramedStdio::new(tokio::io::stdin(), tokio::io::stdout());
    let running = server.serve(transport).await?;
    running.waiting().await?;
    Ok(())
}

/// Serves MCP over streamable HTTP at `http://ADDR/mcp` until Ctrl-C, behind a bearer token,
/// an `Origin` check and a bound on sessions (see `http`). Binds where asked; the CLI refuses
/// non-loopback addresses unless told otherwise. Prints (stderr) where it listens and how
/// clients authenticate; the token itself only when it was just created.
pub async fn serve_http(
    addr: std::net::SocketAddr,
    cwd: PathBuf,
    project: Option<PathBuf>,
    env: Env,
    opts: http::HttpOptions,
    mcp: McpOptions,
) -> anyhow::Result<()> {
    let (token, created) = http::load_token(&opts.token)?;
    let server = OrcMcp::new(cwd, project, env, mcp);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    eprintln!("orc MCP server on {url}");
    let origin = http::token_origin(&opts.token);
    if created {
        eprintln!(
            "orc: created the MCP access token in {origin} (only you can read it); every request must carry it. For Claude Code:\n  {}",
            http::claude_hint(&url, &token)
        );
    } else {
        eprintln!(
            "orc: clients must send `Authorization: Bearer <token>` with the token from {origin}"
        );
    }
    http::serve(listener, server, token, &opts).await?;
    Ok(())
}
