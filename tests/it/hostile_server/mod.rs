//! A model server that misbehaves on purpose: a raw TCP listener on 127.0.0.1 writing
//! hand-made HTTP. Every endless answer stops when the client stops reading, and after
//! `MAX_WRITE` bytes at most, so a test against a broken client still ends.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The most one answer writes (3 GiB), whatever the client does.
pub const MAX_WRITE: u64 = 3 << 30;

/// How the server answers every request.
#[derive(Clone, Debug)]
pub enum Act {
    /// 200, NDJSON chunks with content, forever; never `done`.
    EndlessStream,
    /// 200, one NDJSON line `{"message":{"content":"aaaa...` that never ends (no newline).
    EndlessLine,
    /// 200, a body delimited by closing the connection that never ends (non-streamed).
    EndlessBody,
    /// 200 with `Content-Length: declared`, then as much of the body as the client reads.
    Declared { declared: u64 },
    /// 500 with a body that never ends.
    Endless500,
    /// 307 to `location`.
    Redirect { location: String },
    /// 200 with this body, once (`Content-Length` set).
    Body { content_type: String, body: String },
    /// 200, then the body a byte at a time, slowly, forever.
    Drip,
    /// `/api/tags` listing `count` models, written as it goes (close-delimited).
    Tags { count: u64 },
}

pub struct HostileServer {
    pub addr: SocketAddr,
    /// Requests received (whole headers read).
    pub requests: Arc<AtomicUsize>,
    /// Bytes written to clients so far.
    pub written: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl HostileServer {
    pub async fn start(act: Act) -> HostileServer {
        Self::serve(act, None).await
    }

    /// The same over TLS with the test certificate (`tests/fixtures/tls/server.pem`, signed by
    /// `ca.pem`, for 127.0.0.1 and localhost).
    pub async fn start_tls(act: Act) -> HostileServer {
        Self::serve(act, Some(tls_acceptor())).await
    }

    async fn serve(act: Act, tls: Option<tokio_rustls::TlsAcceptor>) -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(AtomicUsize::new(0));
        let written = Arc::new(AtomicU64::new(0));
        let (r, w) = (requests.clone(), written.clone());
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let _ = sock.set_nodelay(true);
                let (act, r, w, tls) = (act.clone(), r.clone(), w.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(s) = acceptor.accept(sock).await {
                                answer(s, &act, &r, &w).await;
                            }
                        }
                        None => answer(sock, &act, &r, &w).await,
                    }
                });
            }
        });
        HostileServer {
            addr,
            requests,
            written,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A listener that only counts the connections it gets (the target of a redirect).
pub struct Witness {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Witness {
    pub async fn start() -> Witness {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let c = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                    )
                    .await;
            }
        });
        Witness {
            addr,
            connections,
            task,
        }
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(format!("{dir}/server.pem"))
            .expect("server.pem")
            .collect::<Result<_, _>>()
            .expect("certs");
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/server.key")).expect("server.key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Reads one request (headers and a body of Content-Length, at most 16 MiB), then acts.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    act: &Act,
    requests: &AtomicUsize,
    written: &AtomicU64,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 4096];
    let body_start = loop {
        let Ok(n) = s.read(&mut byte).await else {
            return;
        };
        if n == 0 {
            return;
        }
        head.extend_from_slice(&byte[..n]);
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if head.len() > 1 << 20 {
            return;
        }
    };
    let text = String::from_utf8_lossy(&head[..body_start]).to_lowercase();
    let length: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
        .min(16 << 20);
    let mut have = head.len() - body_start;
    while have < length {
        match s.read(&mut byte).await {
            Ok(0) | Err(_) => return,
            Ok(n) => have += n,
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let w = |n: usize| {
        written.fetch_add(n as u64, Ordering::SeqCst);
    };
    let w = &w;
    match act {
        Act::EndlessStream => {
            let line = format!(
                "{{\"model\":\"m\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{{\"role\":\"assistant\",\"content\":\"{}\"}},\"done\":false}}\n",
                "word ".repeat(200)
            );
            let block = line.repeat(64);
            head_then_forever(
                &mut s,
                "200 OK",
                "application/x-ndjson",
                b"",
                block.as_bytes(),
                &w,
            )
            .await;
        }
        Act::EndlessLine => {
            let block = vec![b'a'; 64 * 1024];
            head_then_forever(
                &mut s,
                "200 OK",
                "application/x-ndjson",
                b"{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"",
                &block,
                &w,
            )
            .await;
        }
        Act::EndlessBody => {
            let block = vec![b'a'; 64 * 1024];
            head_then_forever(
                &mut s,
                "200 OK",
                "application/json",
                b"{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"",
                &block,
                &w,
            )
            .await;
        }
        Act::Declared { declared } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n{{\"choices\":[{{\"message\":{{\"content\":\""
            );
            if s.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let block = vec![b'a'; 64 * 1024];
            let mut sent = head.len() as u64;
            while sent < (*declared).min(MAX_WRITE) {
                if s.write_all(&block).await.is_err() {
                    return;
                }
                sent += block.len() as u64;
                w(block.len());
            }
        }
        Act::Endless500 => {
            let block = b"internal error, and more, ".repeat(2048);
            head_then_forever(
                &mut s,
                "500 Internal Server Error",
                "text/plain",
                b"",
                &block,
                &w,
            )
            .await;
        }
        Act::Redirect { location } => {
            let r = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = s.write_all(r.as_bytes()).await;
            let _ = s.shutdown().await;
        }
        Act::Body { content_type, body } => {
            let r = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(r.as_bytes()).await;
            let _ = s.shutdown().await;
        }
        Act::Drip => {
            let h = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n";
            if s.write_all(h.as_bytes()).await.is_err() {
                return;
            }
            // One byte every 50 ms: the body never completes while anyone listens (bounded
            // to an hour).
            for _ in 0..72_000 {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                if s.write_all(b" ").await.is_err() {
                    return;
                }
            }
        }
        Act::Tags { count } => {
            let h = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"models\":[";
            if s.write_all(h.as_bytes()).await.is_err() {
                return;
            }
            let mut buf = String::new();
            for i in 0..*count {
                if i > 0 {
                    buf.push(',');
                }
                buf.push_str(&format!(
                    "{{\"name\":\"model-{i}:7b\",\"model\":\"model-{i}:7b\",\"size\":4000000000,\"details\":{{\"family\":\"x\",\"parameter_size\":\"7B\"}}}}"
                ));
                if buf.len() > 64 * 1024 {
                    if s.write_all(buf.as_bytes()).await.is_err() {
                        return;
                    }
                    w(buf.len());
                    buf.clear();
                }
            }
            buf.push_str("]}");
            let _ = s.write_all(buf.as_bytes()).await;
            let _ = s.shutdown().await;
        }
    }
}

/// The status line and headers of a close-delimited body, `first`, then `block` again and
/// again until the client goes away or `MAX_WRITE` is reached.
async fn head_then_forever<S: AsyncWrite + Unpin>(
    s: &mut S,
    status: &str,
    content_type: &str,
    first: &[u8],
    block: &[u8],
    w: &(dyn Fn(usize) + Sync),
) {
    let h =
        format!("HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n");
    if s.write_all(h.as_bytes()).await.is_err() || s.write_all(first).await.is_err() {
        return;
    }
    let mut sent = 0u64;
    while sent < MAX_WRITE {
        if s.write_all(block).await.is_err() {
            return;
        }
        sent += block.len() as u64;
        w(block.len());
    }
}
