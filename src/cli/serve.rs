//! `orc mcp serve`: the server's options checked and turned into the MCP layer's, a runtime,
//! and stdio or HTTP (behind a token) until the client goes away.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{Code, McpCommand};
use crate::load::project::Env;
use crate::mcp::http::{HttpOptions, TokenSource, default_token_path};

/// Serves MCP as `orc mcp serve` was told to (`command` is `McpCommand::Serve`).
pub fn mcp_serve(
    command: McpCommand,
    cwd: PathBuf,
    project: Option<PathBuf>,
    env: Env,
) -> anyhow::Result<Code> {
    let McpCommand::Serve {
        http,
        allow_remote,
        allow_inline_scripts,
        token_file,
        max_sessions,
        idle_timeout,
        all_tools,
        heartbeat,
        max_result_chars,
        ..
    } = command
    else {
        anyhow::bail!("internal error: `orc mcp serve` was expected");
    };
    if !(0.01..=30.0).contains(&heartbeat) {
        eprintln!(
            "error: --heartbeat {heartbeat} must be between 0.01 and 30 seconds (Claude Code gives up after 300 s without progress over HTTP)"
        );
        return Ok(2);
    }
    let mcp_opts = crate::mcp::McpOptions {
        all_tools,
        heartbeat: Duration::from_secs_f64(heartbeat),
        max_result_chars: max_result_chars.max(1000),
    };
    let env = Env {
        mcp_allows_inline_scripts: allow_inline_scripts,
        ..env
    };
    // stdout belongs to the MCP transport (written from another thread): never lock it here.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match http {
        Some(addr) => {
            if !addr.ip().is_loopback() && !allow_remote {
                eprintln!(
                    "error: --http {addr} is not a loopback address; orc serves 127.0.0.1 unless --allow-remote is given"
                );
                return Ok(2);
            }
            tracing::info!(%addr, "MCP server: streamable HTTP at /mcp");
            let Some(token) = token_source(token_file, &env) else {
                eprintln!(
                    "error: neither HOME nor XDG_CONFIG_HOME is set; give --token-file PATH or ORC_MCP_TOKEN"
                );
                return Ok(2);
            };
            let opts = HttpOptions {
                token,
                max_sessions,
                idle_timeout: Duration::from_secs(idle_timeout.clamp(1, 30 * 86_400)),
                allow_remote,
            };
            runtime.block_on(crate::mcp::serve_http(
                addr, cwd, project, env, opts, mcp_opts,
            ))?;
        }
        None => {
            tracing::info!(cwd = %cwd.display(), "MCP server: stdio");
            runtime.block_on(crate::mcp::serve_stdio(cwd, project, env, mcp_opts))?
        }
    }
    tracing::info!("MCP server: the client closed the connection");
    Ok(0)
}

/// Where the HTTP server's token comes from: `--token-file`, else `ORC_MCP_TOKEN`, else the
/// default file (None when there is no home to hold it).
fn token_source(token_file: Option<PathBuf>, env: &Env) -> Option<TokenSource> {
    let from_env = std::env::var("ORC_MCP_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty());
    match (token_file, from_env) {
        (Some(path), _) => Some(TokenSource::File(path)),
        (None, Some(t)) => Some(TokenSource::Value(t)),
        (None, None) => default_token_path(env).map(TokenSource::File),
    }
}
