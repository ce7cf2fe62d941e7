//! Model providers: Ollama's native API and OpenAI-compatible servers, behind one trait.
//!
//! Both clients are thin typed reqwest clients whose usage fields are all optional: a count the
//! server omits stays `None` (and is flagged later), never a guess. See ARCHITECTURE.md for why
//! this is not ollama-rs.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

pub mod ollama;
pub mod openai;

pub use ollama::OllamaClient;
pub use openai::OpenAiClient;

/// One chat request: a system prompt and one user message.
#[derive(Debug, Clone, Default)]
pub struct ChatRequest {
    pub model: String,
    pub system: String,
    pub user: String,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    /// Provider options (Ollama `options`), already merged profile -> agent.
    pub options: Map<String, Value>,
    /// `"json"` or a JSON schema.
    pub format: Option<Value>,
    pub think: Option<Value>,
    pub keep_alive: Option<Value>,
}

/// What the server counted and timed. Every field is what the server said, or `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Usage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cached_input_tokens: Option<u64>,
    pub load_duration_ns: Option<u64>,
    pub prompt_eval_duration_ns: Option<u64>,
    pub eval_duration_ns: Option<u64>,
    pub total_duration_ns: Option<u64>,
}

impl Usage {
    /// Names of the counts the server did not report.
    pub fn missing_counts(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        if self.input_tokens.is_none() {
            m.push("input_tokens");
        }
        if self.output_tokens.is_none() {
            m.push("output_tokens");
        }
        m
    }
}

/// A completed chat.
#[derive(Debug, Clone, Default)]
pub struct ChatResponse {
    pub content: String,
    pub usage: Usage,
    /// `stop`, `length`, ... as the server reported it.
    pub done_reason: Option<String>,
}

/// Why a request failed. Messages name the host, the model where known, and the cause.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ProviderError {
    #[error("cannot reach {host}{}: {detail} (is Ollama running? start it with `ollama serve` or set OLLAMA_HOST)", if model.is_empty() { String::new() } else { format!(" for `{model}`") })]
    Unreachable {
        host: String,
        model: String,
        detail: String,
    },
    #[error("model `{model}` is not installed on {host}; run `ollama pull {model}`")]
    ModelMissing { host: String, model: String },
    #[error("{host} answered HTTP {status} for `{model}`: {message}")]
    Status {
        host: String,
        model: String,
        status: u16,
        message: String,
    },
    #[error("{host} dropped the connection during the response for `{model}`: {detail}")]
    Interrupted {
        host: String,
        model: String,
        detail: String,
    },
    #[error("malformed response from {host} for `{model}`: {detail}")]
    Malformed {
        host: String,
        model: String,
        detail: String,
    },
    #[error("provider `{provider}` is not runnable by orc (model `{model}`)")]
    NotRunnable { provider: String, model: String },
}

impl ProviderError {
    /// Connection errors, 503 and other 5xx are worth retrying; 4xx and bad bodies are not.
    pub fn retryable(&self) -> bool {
        match self {
            ProviderError::Unreachable { .. } | ProviderError::Interrupted { .. } => true,
            ProviderError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// Progress from a streaming response.
pub trait TokenSink: Send + Sync {
    /// Called as content arrives with the number of chunks received so far.
    fn tokens(&self, chunks: u64);
}

/// No progress wanted.
pub struct NoTokens;

impl TokenSink for NoTokens {
    fn tokens(&self, _: u64) {}
}

/// A chat-capable model server.
pub trait Provider: Send + Sync {
    /// The base URL requests go to, for messages and slot keys.
    fn host(&self) -> &str;

    fn chat(
        &self,
        req: &ChatRequest,
        progress: &dyn TokenSink,
    ) -> impl Future<Output = Result<ChatResponse, ProviderError>> + Send;
}

/// The provider an agent uses.
#[derive(Debug, Clone)]
pub enum AnyProvider {
    Ollama(OllamaClient),
    OpenAi(OpenAiClient),
}

impl Provider for AnyProvider {
    fn host(&self) -> &str {
        match self {
            AnyProvider::Ollama(c) => c.host(),
            AnyProvider::OpenAi(c) => c.host(),
        }
    }

    async fn chat(
        &self,
        req: &ChatRequest,
        progress: &dyn TokenSink,
    ) -> Result<ChatResponse, ProviderError> {
        match self {
            AnyProvider::Ollama(c) => c.chat(req, progress).await,
            AnyProvider::OpenAi(c) => c.chat(req, progress).await,
        }
    }
}

/// One HTTP client for the whole process: connections are pooled per host.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(usize::MAX)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .user_agent(concat!("orc/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Normalises a host as Ollama's own client does: `host`, `host:port`, `http://host:port`,
/// with 11434 as the default port and no trailing slash.
pub fn normalize_host(raw: &str) -> String {
    let raw = raw.trim().trim_end_matches('/');
    // Without a scheme the port defaults to 11434; with one, to the scheme's own port.
    let (scheme, rest, explicit) = match raw.split_once("://") {
        Some((s, r)) => (s.to_string(), r.to_string(), true),
        None => ("http".to_string(), raw.to_string(), false),
    };
    let (hostport, path) = match rest.split_once('/') {
        Some((h, p)) => (h.to_string(), format!("/{p}")),
        None => (rest, String::new()),
    };
    let hostport = if hostport.is_empty() {
        "localhost:11434".to_string()
    } else if explicit {
        hostport
    } else if hostport.starts_with('[') {
        if hostport.contains("]:") {
            hostport
        } else {
            format!("{hostport}:11434")
        }
    } else if hostport.contains(':') {
        hostport
    } else {
        format!("{hostport}:11434")
    };
    // 0.0.0.0 is where a server listens, not an address to call.
    let hostport = hostport.replacen("0.0.0.0", "127.0.0.1", 1);
    format!("{scheme}://{hostport}{path}")
}

/// The scheme, host and port of a URL (the key for per-host limits).
pub fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let hostport = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{hostport}")
}

/// Short text of a reqwest error chain, without URLs (they are in the host part already).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut parts = Vec::new();
    let mut cur: Option<&dyn std::error::Error> = e.source();
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.contains(&s) {
            parts.push(s);
        }
        cur = err.source();
    }
    if parts.is_empty() {
        if e.is_connect() {
            return "connection failed".into();
        }
        return e.to_string();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_normalise_like_ollama() {
        assert_eq!(normalize_host("localhost"), "http://localhost:11434");
        assert_eq!(normalize_host("127.0.0.1:9000"), "http://127.0.0.1:9000");
        assert_eq!(normalize_host("http://h:1/"), "http://h:1");
        assert_eq!(normalize_host("0.0.0.0"), "http://127.0.0.1:11434");
        assert_eq!(normalize_host("https://x.example"), "https://x.example");
        assert_eq!(origin("http://h:1/v1"), "http://h:1");
    }

    #[test]
    fn retry_policy() {
        let s = |status| ProviderError::Status {
            host: "h".into(),
            model: "m".into(),
            status,
            message: String::new(),
        };
        assert!(s(503).retryable());
        assert!(s(500).retryable());
        assert!(!s(400).retryable());
        assert!(
            !ProviderError::ModelMissing {
                host: "h".into(),
                model: "m".into()
            }
            .retryable()
        );
    }
}
