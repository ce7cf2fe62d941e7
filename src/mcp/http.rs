//! `orc mcp serve --http`: rmcp's streamable HTTP service behind a guard that every request
//! passes first.
//!
//! - `Origin`: a request that carries one must come from a loopback origin (`http(s)://localhost`,
//!   `127.x.x.x`, `[::1]`, any port), else 403: a web page cannot drive the server.
//! - `Authorization: Bearer TOKEN`: the token is compared in constant time; anything else is 401.
//! - The body is read up to [`MAX_FRAME_BYTES`] (413 past it) and must be one JSON-RPC message:
//!   not JSON or nested deeper than 128 levels is 400 with a parse error (-32700, id null).
//! - New sessions are created one at a time and only while fewer than `max_sessions` are open
//!   (503 otherwise); a session idle for `idle_timeout` is closed by rmcp and its slot freed.
//!
//! The token lives in a file only the user can read (created with mode 0600 in a 0700
//! directory on first start, 32 bytes from the operating system's CSPRNG, hex-encoded).

use std::convert::Infallible;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, HeaderValue, ORIGIN, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use serde_json::{Value, json};

use super::OrcMcp;
use super::stdio::{MAX_FRAME_BYTES, parse_error, refusal};

/// Where the token comes from.
#[derive(Debug, Clone)]
pub enum TokenSource {
    /// A file: read when it exists, else created with a new token.
    File(PathBuf),
    /// Given as is (`ORC_MCP_TOKEN`).
    Value(String),
}

/// How `serve_http` guards the server.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub token: TokenSource,
    /// Sessions open at once (a new one past it gets 503).
    pub max_sessions: usize,
    /// A session with no request for this long is closed.
    pub idle_timeout: Duration,
    /// Serving a non-loopback address: rmcp's check that `Host` names a loopback host is off
    /// (the token still guards every request).
    pub allow_remote: bool,
}

/// The shortest token accepted (from a file or the environment).
pub const MIN_TOKEN_CHARS: usize = 32;

/// Problems with the token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} can be read by other users (mode {mode:o}); run `chmod 600 {}` (and consider the token leaked: delete the file to have a new one made)",
        path.display(), path.display()
    )]
    Readable { path: PathBuf, mode: u32 },
    #[error("{0}")]
    Invalid(String),
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(String),
}

/// `$XDG_CONFIG_HOME/orc/mcp-token`, else `~/.config/orc/mcp-token`.
pub fn default_token_path(env: &crate::load::project::Env) -> Option<PathBuf> {
    match (&env.xdg_config_home, &env.home) {
        (Some(x), _) => Some(x.join("orc").join("mcp-token")),
        (None, Some(h)) => Some(h.join(".config").join("orc").join("mcp-token")),
        (None, None) => None,
    }
}

fn check_token(token: &str, from: &str) -> Result<(), TokenError> {
    if token.chars().count() < MIN_TOKEN_CHARS || !token.chars().all(|c| c.is_ascii_graphic()) {
        return Err(TokenError::Invalid(format!(
            "{from} does not hold a usable token: it needs at least {MIN_TOKEN_CHARS} visible ASCII characters and no spaces"
        )));
    }
    Ok(())
}

/// A new token: 32 bytes from the operating system's CSPRNG, as 64 hex digits.
fn new_token() -> Result<String, TokenError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The token and whether it was just created.
pub fn load_token(source: &TokenSource) -> Result<(String, bool), TokenError> {
    let path = match source {
        TokenSource::Value(v) => {
            check_token(v.trim(), "ORC_MCP_TOKEN")?;
            return Ok((v.trim().to_string(), false));
        }
        TokenSource::File(p) => p,
    };
    let io = |source| TokenError::Io {
        path: path.clone(),
        source,
    };
    for _ in 0..2 {
        match std::fs::symlink_metadata(path) {
            Ok(meta) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = meta.permissions().mode() & 0o777;
                    if mode & 0o077 != 0 {
                        return Err(TokenError::Readable {
                            path: path.clone(),
                            mode,
                        });
                    }
                }
                if !meta.is_file() {
                    return Err(TokenError::Invalid(format!(
                        "{} is not a regular file",
                        path.display()
                    )));
                }
                let mut text = String::new();
                std::io::Read::read_to_string(
                    &mut std::io::Read::take(std::fs::File::open(path).map_err(io)?, 4096),
                    &mut text,
                )
                .map_err(io)?;
                let token = text.trim().to_string();
                check_token(&token, &path.display().to_string())?;
                return Ok((token, false));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir).map_err(|source| TokenError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let token = new_token()?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        match opts.open(path) {
            Ok(mut f) => {
                f.write_all(format!("{token}\n").as_bytes())
                    .and_then(|()| f.sync_all())
                    .map_err(io)?;
                return Ok((token, true));
            }
            // Another server made it first: read theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
    }
    Err(TokenError::Invalid(format!(
        "{} keeps changing; cannot read a token from it",
        path.display()
    )))
}

/// Whether an `Origin` header names a loopback origin (`http(s)`, any port).
fn loopback_origin(origin: &HeaderValue) -> bool {
    let Ok(o) = origin.to_str() else {
        return false;
    };
    let Some(rest) = o
        .strip_prefix("http://")
        .or_else(|| o.strip_prefix("https://"))
    else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Equal bytes, in time that does not depend on where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

type Body = BoxBody<Bytes, Infallible>;

fn answer(status: StatusCode, body: &Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn refused(status: StatusCode, message: &str) -> Response<Body> {
    answer(
        status,
        &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32001, "message": message}}),
    )
}

/// The `method` of a JSON-RPC message, nothing else read.
#[derive(serde::Deserialize)]
struct MethodOnly {
    method: Option<String>,
}

struct Guard {
    token: String,
    max_sessions: usize,
    sessions: Arc<LocalSessionManager>,
    /// Held while an `initialize` outside a session is served: sessions are
    /// counted and created one at a time.
    opening: tokio::sync::Mutex<()>,
    inner: StreamableHttpService<OrcMcp, LocalSessionManager>,
}

impl Guard {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        if let Some(origin) = req.headers().get(ORIGIN)
            && !loopback_origin(origin)
        {
            tracing::warn!(
                "refused an MCP request from origin {:?}",
                origin.to_str().unwrap_or("(not text)")
            );
            return refused(
                StatusCode::FORBIDDEN,
                "Forbidden: only loopback origins may use this server",
            );
        }
        let authorized = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .is_some_and(|(scheme, token)| {
                scheme.eq_ignore_ascii_case("bearer")
                    && same_secret(token.trim().as_bytes(), self.token.as_bytes())
            });
        if !authorized {
            tracing::warn!("refused an MCP request without the right bearer token");
            let mut r = refused(
                StatusCode::UNAUTHORIZED,
                "Unauthorized: send `Authorization: Bearer <token>` with the token orc printed when it created its token file",
            );
            r.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
        let (parts, body) = req.into_parts();
        let bytes = match Limited::new(body, MAX_FRAME_BYTES).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e)
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                return answer(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &parse_error(&format!(
                        "the message is over {} MiB",
                        MAX_FRAME_BYTES / (1024 * 1024)
                    )),
                );
            }
            Err(e) => {
                return refused(
                    StatusCode::BAD_REQUEST,
                    &format!("cannot read the request body: {e}"),
                );
            }
        };
        if parts.method == hyper::Method::POST
            && let Some(error) = refusal(&bytes)
        {
            return answer(StatusCode::BAD_REQUEST, &error);
        }
        // An `initialize` outside a session opens one; nothing else does (requests of the
        // stateless protocol carry no session id either).
        let new_session = parts.method == hyper::Method::POST
            && !parts.headers.contains_key("mcp-session-id")
            && serde_json::from_slice::<MethodOnly>(&bytes)
                .is_ok_and(|m| m.method.as_deref() == Some("initialize"));
        let req = Request::from_parts(parts, Full::new(bytes));
        if !new_session {
            return self.inner.handle(req).await;
        }
        let _one_at_a_time = self.opening.lock().await;
        let open = self.sessions.sessions.read().await.len();
        if open >= self.max_sessions {
            tracing::warn!(
                "refused a new MCP session: {open} are open (--max-sessions {})",
                self.max_sessions
            );
            let mut r = refused(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "Service Unavailable: {open} sessions are open, the most this server keeps (--max-sessions); close one (DELETE /mcp) or wait until an idle one expires"
                ),
            );
            r.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("60"));
            return r;
        }
        self.inner.handle(req).await
    }
}

/// Serves `server` over streamable HTTP at `http://ADDR/mcp` behind the guard until Ctrl-C.
pub async fn serve(
    listener: tokio::net::TcpListener,
    server: OrcMcp,
    token: String,
    opts: &HttpOptions,
) -> std::io::Result<()> {
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(opts.idle_timeout);
    let sessions = Arc::new(sessions);
    let mut config =
        StreamableHttpServerConfig::default().with_max_request_body_bytes(MAX_FRAME_BYTES);
    if opts.allow_remote {
        config = config.disable_allowed_hosts();
    }
    let inner = StreamableHttpService::new(move || Ok(server.clone()), sessions.clone(), config);
    let guard = Arc::new(Guard {
        token,
        max_sessions: opts.max_sessions.max(1),
        sessions,
        opening: tokio::sync::Mutex::new(()),
        inner,
    });
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let guard = guard.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let guard = guard.clone();
                        async move { Ok::<_, Infallible>(guard.handle(req).await) }
                    });
                    if let Err(e) = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await
                    {
                        tracing::debug!("MCP connection from {peer}: {e}");
                    }
                });
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// How to point Claude Code at the server, for the message printed when the token is made.
pub fn claude_hint(url: &str, token: &str) -> String {
    format!("claude mcp add --transport http orc {url} --header \"Authorization: Bearer {token}\"")
}

/// Where the token came from, for the start-up message (never the token itself).
pub fn token_origin(source: &TokenSource) -> String {
    match source {
        TokenSource::File(p) => p.display().to_string(),
        TokenSource::Value(_) => "ORC_MCP_TOKEN".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        for ok in [
            "http://localhost",
            "http://localhost:3000",
            "https://LOCALHOST:1",
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://[::1]:9000",
        ] {
            assert!(loopback_origin(&HeaderValue::from_static(ok)), "{ok}");
        }
        for bad in [
            "null",
            "http://evil.example",
            "http://localhost.evil.example",
            "http://127.0.0.1.evil.example",
            "file://",
            "http://10.0.0.1",
            "http://[::2]",
        ] {
            assert!(!loopback_origin(&HeaderValue::from_static(bad)), "{bad}");
        }
    }

    #[test]
    fn tokens_are_made_once_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("orc/mcp-token");
        let (t1, created) = load_token(&TokenSource::File(path.clone())).expect("create");
        assert!(created && t1.len() == 64 && t1.chars().all(|c| c.is_ascii_hexdigit()));
        let (t2, created) = load_token(&TokenSource::File(path.clone())).expect("reuse");
        assert!(!created && t1 == t2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let e = load_token(&TokenSource::File(path.clone())).expect_err("readable");
            assert!(e.to_string().contains("chmod 600"), "{e}");
        }
        let short = load_token(&TokenSource::Value("abc".into())).expect_err("short");
        assert!(short.to_string().contains("at least 32"), "{short}");
    }
}
