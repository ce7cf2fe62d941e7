//! Model providers: Ollama's native API and OpenAI-compatible servers, behind one trait.
//!
//! Both clients are thin typed reqwest clients whose usage fields are all optional: a count the
//! server omits stays `None` (and is flagged later), never a guess. See ARCHITECTURE.md for why
//! this is not ollama-rs.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

pub mod hosts;
pub mod ollama;
pub mod openai;
pub mod pool;

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
    /// Figures the server sent that cannot be counts (`1e30`, `-5`, `3.5`, `"7"`, more than
    /// 2^53 - 1), by orc's field name, with the reason. Each is recorded as missing (`None`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub invalid: BTreeMap<String, String>,
}

impl Usage {
    /// Names of the counts the server did not report (or reported as something that is not a
    /// count).
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

    /// Reads one figure the server sent as `server_name`, stored as orc's `field`: absent or
    /// `null` is `None`; anything that is not a plausible count is `None` with the reason kept in
    /// `invalid`.
    pub(crate) fn take(
        &mut self,
        field: &'static str,
        server_name: &str,
        raw: Option<&RawValue>,
    ) -> Option<u64> {
        match read_count(raw) {
            Ok(v) => v,
            Err(why) => {
                tracing::warn!(field, server_name, reason = %why, "ignoring a figure that is not a count");
                self.invalid
                    .insert(field.to_string(), format!("{server_name} {why}"));
                None
            }
        }
    }
}

/// The largest figure taken as a count: JSON's exactly representable integers (what Python and
/// JavaScript readers of the artifact read back unchanged). No server counts that many tokens.
pub const MAX_COUNT: u64 = (1 << 53) - 1;

/// A count as the server wrote it: `Ok(None)` when absent or `null`, `Ok(Some(n))` for a whole
/// number from 0 to [`MAX_COUNT`] (`7` or `7.0`), else `Err(why)`.
pub(crate) fn read_count(raw: Option<&RawValue>) -> Result<Option<u64>, String> {
    let Some(raw) = raw else { return Ok(None) };
    let text = raw.get().trim();
    let shown: String = if text.len() > 40 {
        format!("{}...", text.chars().take(40).collect::<String>())
    } else {
        text.to_string()
    };
    let first = text.as_bytes().first().copied().unwrap_or(b' ');
    match first {
        b'n' => return Ok(None),
        b'"' => return Err(format!("was the string {shown}, not a number")),
        b't' | b'f' => return Err(format!("was {shown}, not a number")),
        b'{' | b'[' => return Err("was not a number".to_string()),
        b'-' if text
            .bytes()
            .skip(1)
            .any(|b| b.is_ascii_digit() && b != b'0') =>
        {
            return Err(format!("was {shown}: negative"));
        }
        _ => {}
    }
    let too_large = || format!("was {shown}: more than any real count (at most {MAX_COUNT})");
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u64>() {
            Ok(n) if n <= MAX_COUNT => Ok(Some(n)),
            _ => Err(too_large()),
        };
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() && f.fract() == 0.0 && f.abs() <= MAX_COUNT as f64 => {
            // -0.0 and 0.0 both count as zero.
            Ok(Some(f.abs() as u64))
        }
        Ok(f) if f.is_finite() && f.fract() != 0.0 && f.abs() <= MAX_COUNT as f64 => {
            Err(format!("was {shown}: not a whole number"))
        }
        _ => Err(too_large()),
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

/// The Ollama hint, for a connection refused or a host unreachable on an Ollama provider.
const OLLAMA_HINT: &str = " (is Ollama running? start it with `ollama serve` or set OLLAMA_HOST)";

/// Why a request failed. Messages name the host, the model where known, and the cause.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ProviderError {
    /// The connection could not be made; `detail` names the cause (connection refused, DNS,
    /// TLS, timeout) and `hint` (empty or ` (...)`) what to do about it.
    #[error("cannot reach {host}{}: {detail}{hint}", for_model(model))]
    Unreachable {
        host: String,
        model: String,
        detail: String,
        hint: String,
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
    /// More than `performance.execution.max_response_bytes` arrived; the rest was not read.
    #[error("response from {host}{} exceeded {}; orc stopped reading it (raise performance.execution.max_response_bytes if the server is right)", for_model(model), size(*limit))]
    TooLarge {
        host: String,
        model: String,
        limit: u64,
    },
    /// A 3xx: orc never follows a model server's redirect (it would re-send the prompt to
    /// another host).
    #[error(
        "{host} redirected the request{} to {location} (HTTP {status}); orc does not follow redirects from model servers (set base_url to the server's own address)",
        for_model(model)
    )]
    Redirect {
        host: String,
        model: String,
        status: u16,
        location: String,
    },
    #[error("provider `{provider}` is not runnable by orc (model `{model}`)")]
    NotRunnable { provider: String, model: String },
}

fn for_model(model: &str) -> String {
    if model.is_empty() {
        String::new()
    } else {
        format!(" for `{model}`")
    }
}

/// `64 MiB`, or bytes when the figure is not a whole number of MiB.
pub fn size(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

impl ProviderError {
    /// Connection errors, 503 and other 5xx are worth retrying; 4xx, redirects, bad or
    /// oversized bodies are not.
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

pub use crate::load::project::DEFAULT_MAX_RESPONSE_BYTES;

/// How much of an error body (a non-200 answer) orc reads for the message.
const ERROR_BODY_BYTES: u64 = 64 * 1024;

/// One HTTP client for the whole process: connections are pooled per host. Redirects are never
/// followed (a model server's 3xx would re-send the prompt elsewhere); `https://` goes through
/// rustls with the ring provider and the system's trusted certificates (`SSL_CERT_FILE` and
/// `SSL_CERT_DIR` are honoured).
pub fn http_client() -> reqwest::Client {
    install_crypto_provider();
    let builder = || {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(usize::MAX)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("orc/", env!("CARGO_PKG_VERSION")))
    };
    match builder().build() {
        Ok(c) => c,
        Err(e) => {
            // Only the TLS setup can fail here (the platform verifier); plain http still works.
            tracing::warn!(error = %e, "TLS setup failed; https:// endpoints will not work");
            builder()
                .tls_backend_preconfigured(plain_tls_config())
                .build()
                .unwrap_or_default()
        }
    }
}

/// rustls with no trusted roots: every https:// connection then fails with a certificate
/// error, which names the cause, instead of the process failing to start.
fn plain_tls_config() -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|b| {
        b.with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    })
    .unwrap_or_else(|_| {
        rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    })
}

/// reqwest is built without a crypto provider of its own: install ring once per process.
/// [`http_client`] calls it; anything else that builds a reqwest client (or a rustls config)
/// must call it first, or reqwest panics ("No rustls crypto provider").
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another provider is already installed, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Reads a whole body, at most `cap` bytes. A body announced or found to be larger is
/// `Ok(Err(limit))`, without reading the rest.
pub(crate) async fn read_capped(
    resp: &mut reqwest::Response,
    cap: u64,
) -> Result<Result<Vec<u8>, u64>, reqwest::Error> {
    if resp.content_length().is_some_and(|n| n > cap) {
        return Ok(Err(cap));
    }
    let mut body = Vec::new();
    while let Some(piece) = resp.chunk().await? {
        if body.len() as u64 + piece.len() as u64 > cap {
            return Ok(Err(cap));
        }
        body.extend_from_slice(&piece);
    }
    Ok(Ok(body))
}

/// The start of an error body, for the message: at most 64 KiB are read, the rest dropped with
/// the connection. A body that breaks off is what arrived.
pub(crate) async fn error_text(mut resp: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(piece)) = resp.chunk().await {
        let room = (ERROR_BODY_BYTES as usize).saturating_sub(body.len());
        body.extend_from_slice(&piece[..piece.len().min(room)]);
        if body.len() as u64 >= ERROR_BODY_BYTES {
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// The `Location` of a redirect, as text (for the message).
pub(crate) fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(reqwest::header::LOCATION)
        .map(|l| {
            String::from_utf8_lossy(l.as_bytes())
                .chars()
                .take(300)
                .collect()
        })
        .unwrap_or_else(|| "nowhere (no Location header)".to_string())
}

/// Splits a byte stream into lines in linear time: each byte is examined once, whatever the
/// length of the lines or of the pieces they arrive in.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    buf: Vec<u8>,
    /// Start of the line not yet handed out.
    start: usize,
    /// Bytes before this have been searched for a newline.
    scanned: usize,
    /// Bytes examined so far (for tests).
    #[cfg(test)]
    examined: usize,
}

impl Lines {
    pub(crate) fn push(&mut self, piece: &[u8]) {
        if self.start > 0 {
            // What is left is the unfinished line: at most what arrived since the last newline.
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(piece);
    }

    /// The next complete line, without its newline.
    pub(crate) fn next_line(&mut self) -> Option<&[u8]> {
        let found = self.buf[self.scanned..].iter().position(|&b| b == b'\n');
        #[cfg(test)]
        {
            self.examined += found.map_or(self.buf.len() - self.scanned, |i| i + 1);
        }
        match found {
            Some(i) => {
                let nl = self.scanned + i;
                let line = self.start..nl;
                self.start = nl + 1;
                self.scanned = nl + 1;
                Some(&self.buf[line])
            }
            None => {
                self.scanned = self.buf.len();
                None
            }
        }
    }

    /// What is left after the last newline.
    pub(crate) fn rest(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

/// Normalises a host as Ollama's own client does: `host`, `host:port`, `http://host:port`,
/// with 11434 (`hosts::DEFAULT_OLLAMA_PORT`) as the default port and no trailing slash.
pub fn normalize_host(raw: &str) -> String {
    let raw = raw.trim().trim_end_matches('/');
    use hosts::DEFAULT_OLLAMA_PORT as PORT;
    // Without a scheme the port defaults to Ollama's; with one, to the scheme's own port.
    let (scheme, rest, explicit) = match raw.split_once("://") {
        Some((s, r)) => (s.to_string(), r.to_string(), true),
        None => ("http".to_string(), raw.to_string(), false),
    };
    let (hostport, path) = match rest.split_once('/') {
        Some((h, p)) => (h.to_string(), format!("/{p}")),
        None => (rest, String::new()),
    };
    let hostport = if hostport.is_empty() {
        format!("localhost:{PORT}")
    } else if explicit {
        hostport
    } else if hostport.starts_with('[') {
        if hostport.contains("]:") {
            hostport
        } else {
            format!("{hostport}:{PORT}")
        }
    } else if hostport.contains(':') {
        hostport
    } else {
        format!("{hostport}:{PORT}")
    };
    // 0.0.0.0 is where a server listens, not an address to call.
    let hostport = hostport.replacen("0.0.0.0", "127.0.0.1", 1);
    format!("{scheme}://{hostport}{path}")
}

/// The scheme, host and port of a URL (the key for per-host limits).
pub fn origin(url: &str) -> String {
    let url = redact(url);
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", &url));
    let hostport = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{hostport}")
}

/// Short text of a reqwest error chain, without URLs (they are in the host part already).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&dyn std::error::Error> = e.source();
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
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

/// Why a connection could not be made, found by walking the error's source chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectCause {
    Refused,
    /// No route to the host or network.
    Unreachable,
    Dns,
    Certificate,
    Tls,
    Timeout,
    BadUrl,
    Other,
}

impl ConnectCause {
    pub(crate) fn of(e: &reqwest::Error) -> ConnectCause {
        use std::io::ErrorKind;
        if e.is_builder() {
            return ConnectCause::BadUrl;
        }
        let mut cause = None;
        let mut cur: Option<&dyn std::error::Error> = Some(e);
        while let Some(err) = cur {
            if let Some(t) = err.downcast_ref::<rustls::Error>() {
                return ConnectCause::of_tls(t);
            }
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                // tokio-rustls wraps the TLS error in an io::Error (and hyper-rustls that in
                // another), whose source() skips the wrapped error: look inside.
                let mut inner = io.get_ref();
                while let Some(i) = inner {
                    if let Some(t) = i.downcast_ref::<rustls::Error>() {
                        return ConnectCause::of_tls(t);
                    }
                    inner = i
                        .downcast_ref::<std::io::Error>()
                        .and_then(std::io::Error::get_ref);
                }
                cause = cause.or(match io.kind() {
                    ErrorKind::ConnectionRefused => Some(ConnectCause::Refused),
                    ErrorKind::TimedOut => Some(ConnectCause::Timeout),
                    ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
                        Some(ConnectCause::Unreachable)
                    }
                    _ => None,
                });
            }
            let text = err.to_string();
            if cause.is_none() && text.starts_with("dns error") {
                cause = Some(ConnectCause::Dns);
            }
            cur = err.source();
        }
        match cause {
            Some(c) => c,
            None if e.is_timeout() => ConnectCause::Timeout,
            None => ConnectCause::Other,
        }
    }

    fn of_tls(e: &rustls::Error) -> ConnectCause {
        match e {
            rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::InvalidCertRevocationList(_) => ConnectCause::Certificate,
            _ => ConnectCause::Tls,
        }
    }

    fn label(self) -> &'static str {
        match self {
            ConnectCause::Refused => "connection refused",
            ConnectCause::Unreachable => "host unreachable",
            ConnectCause::Dns => "the host name does not resolve",
            ConnectCause::Certificate => "TLS certificate rejected",
            ConnectCause::Tls => "TLS handshake failed",
            ConnectCause::Timeout => "timed out connecting",
            ConnectCause::BadUrl => "invalid URL",
            ConnectCause::Other => "connection failed",
        }
    }

    fn hint(self, ollama: bool) -> String {
        match self {
            ConnectCause::Refused | ConnectCause::Unreachable if ollama => OLLAMA_HINT.into(),
            ConnectCause::Dns => " (check the host name in base_url or OLLAMA_HOST)".into(),
            ConnectCause::Certificate => " (the server's certificate is not trusted here; to trust a private CA, point SSL_CERT_FILE at its PEM file)".into(),
            _ => String::new(),
        }
    }
}

/// The error for a request that could not be sent: the cause first, then reqwest's chain, and
/// a hint only where it fits (the Ollama hint for a refused or unreachable Ollama).
pub(crate) fn unreachable(
    host: &str,
    model: &str,
    e: &reqwest::Error,
    ollama: bool,
) -> ProviderError {
    let cause = ConnectCause::of(e);
    let chain = describe(e);
    ProviderError::Unreachable {
        host: host.to_string(),
        model: model.to_string(),
        detail: format!("{}: {chain}", cause.label()),
        hint: cause.hint(ollama),
    }
}

/// `scheme://host:port/path` without any `user:password@` (never shown or logged).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
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

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).expect("raw json")
    }

    #[test]
    fn only_whole_numbers_in_range_are_counts() {
        let count = |t: &str| read_count(Some(&raw(t)));
        assert_eq!(read_count(None), Ok(None));
        assert_eq!(count("null"), Ok(None));
        assert_eq!(count("0"), Ok(Some(0)));
        assert_eq!(count("42"), Ok(Some(42)));
        assert_eq!(count("7.0"), Ok(Some(7)));
        assert_eq!(count("9007199254740991"), Ok(Some(MAX_COUNT)));
        for (bad, why) in [
            ("9007199254740992", "more than any real count"),
            ("18446744073709551615", "more than any real count"),
            ("99999999999999999999999999", "more than any real count"),
            ("1e30", "more than any real count"),
            ("1e400", "more than any real count"),
            ("-5", "negative"),
            ("-0.5", "negative"),
            ("3.5", "not a whole number"),
            ("\"7\"", "the string \"7\""),
            ("true", "not a number"),
            ("[1]", "not a number"),
            ("{\"n\": 1}", "not a number"),
        ] {
            let got = count(bad);
            assert!(
                got.as_ref().is_err_and(|e| e.contains(why)),
                "{bad}: {got:?}"
            );
        }
    }

    #[test]
    fn invalid_counts_are_missing_with_the_reason() {
        let mut u = Usage::default();
        u.input_tokens = u.take("input_tokens", "prompt_eval_count", Some(&raw("-5")));
        u.output_tokens = u.take("output_tokens", "eval_count", Some(&raw("12")));
        assert_eq!(u.input_tokens, None);
        assert_eq!(u.output_tokens, Some(12));
        assert_eq!(u.missing_counts(), vec!["input_tokens"]);
        assert_eq!(
            u.invalid.get("input_tokens").map(String::as_str),
            Some("prompt_eval_count was -5: negative")
        );
    }

    #[test]
    fn line_splitting_examines_each_byte_once() {
        // One 4 MiB line arriving 1 KiB at a time, then two short lines: a search that rescans
        // the buffer for every piece would examine ~8 GiB.
        let mut lines = Lines::default();
        let piece = vec![b'a'; 1024];
        let mut got = Vec::new();
        for _ in 0..4096 {
            lines.push(&piece);
            while let Some(l) = lines.next_line() {
                got.push(l.len());
            }
        }
        lines.push(b"\nshort\nlast-unfinished");
        while let Some(l) = lines.next_line() {
            got.push(l.len());
        }
        assert_eq!(got, vec![4 << 20, 5]);
        assert_eq!(lines.rest(), b"last-unfinished");
        let pushed = (4 << 20) + "\nshort\nlast-unfinished".len();
        assert!(lines.examined <= pushed, "{} > {pushed}", lines.examined);
    }

    #[test]
    fn lines_split_across_pieces_are_whole() {
        let mut lines = Lines::default();
        let mut got: Vec<String> = Vec::new();
        for piece in ["{\"a\"", ":1}\n{\"b\":2}\n\n{", "\"c\":3}\n"] {
            lines.push(piece.as_bytes());
            while let Some(l) = lines.next_line() {
                got.push(String::from_utf8_lossy(l).into_owned());
            }
        }
        assert_eq!(got, vec!["{\"a\":1}", "{\"b\":2}", "", "{\"c\":3}"]);
        assert!(lines.rest().is_empty());
    }

    #[test]
    fn sizes_and_messages() {
        assert_eq!(size(64 * 1024 * 1024), "64 MiB");
        assert_eq!(size(1000), "1000 bytes");
        let e = ProviderError::TooLarge {
            host: "http://h:1".into(),
            model: "m".into(),
            limit: 8 << 20,
        };
        assert!(
            e.to_string()
                .starts_with("response from http://h:1 for `m` exceeded 8 MiB")
        );
        assert!(!e.retryable());
        let r = ProviderError::Redirect {
            host: "http://h:1".into(),
            model: "m".into(),
            status: 302,
            location: "http://elsewhere/".into(),
        };
        assert!(
            r.to_string()
                .contains("redirected the request for `m` to http://elsewhere/ (HTTP 302)")
        );
        assert!(!r.retryable());
    }

    #[test]
    fn credentials_in_urls_are_never_shown() {
        assert_eq!(
            redact("https://u:secret@h.example:8443/v1"),
            "https://h.example:8443/v1"
        );
        assert_eq!(redact("http://h:1/a@b"), "http://h:1/a@b");
        assert_eq!(redact("http://h:1"), "http://h:1");
        assert_eq!(origin("https://u:p@h:1/v1"), "https://h:1");
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
