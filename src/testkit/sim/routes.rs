//! The simulator's endpoints: discovery (`/`, `/api/version`, `/api/tags`, `/api/ps`,
//! `/api/show`, `/v1/models`, `/models`, `/_sim/stats`), generation handed to `generate`, and
//! the answers of a stalled simulator.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::generate::{Kind, generate};
use super::text::fnv;
use super::{Body, Stall, State, full, lock};

pub(super) fn text(code: StatusCode, s: &'static str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from_static(s.as_bytes()))
            .map_err(|e: Infallible| match e {})
            .boxed(),
    );
    *r.status_mut() = code;
    r
}

pub(super) async fn handle(
    st: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let t_arrive = st.started.elapsed();
    let body: Value = match req.into_body().collect().await {
        Ok(b) => {
            let bytes = b.to_bytes();
            if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or(Value::Null)
            }
        }
        Err(_) => Value::Null,
    };
    let resp = match (&method, path.as_str()) {
        (&Method::POST, "/api/chat" | "/api/generate" | "/v1/chat/completions")
            if lock(&st.stall).is_some() =>
        {
            stalled(&st).await
        }
        (&Method::POST, "/api/chat") => generate(st, Kind::Chat, &path, body, t_arrive).await,
        (&Method::POST, "/api/generate") => {
            generate(st, Kind::Generate, &path, body, t_arrive).await
        }
        (&Method::POST, "/v1/chat/completions") => {
            generate(st, Kind::OaiChat, &path, body, t_arrive).await
        }
        _ => discovery(&st, &method, &path, &body),
    };
    Ok(resp)
}

/// The endpoints that describe the server (and 404 for any other path).
fn discovery(st: &State, method: &Method, path: &str, body: &Value) -> Response<Body> {
    match (method, path) {
        (&Method::GET, "/") | (&Method::HEAD, "/") => text(StatusCode::OK, "Ollama is running"),
        (&Method::GET, "/api/version") => full(StatusCode::OK, &json!({"version": "0.12.6"})),
        (&Method::GET, "/api/tags") => {
            let models: Vec<Value> = st.cfg.models.iter().map(|m| tag_entry(m)).collect();
            full(StatusCode::OK, &json!({"models": models}))
        }
        (&Method::GET, "/api/ps") => {
            let models: Vec<Value> = st.loaded_models().iter().map(|m| ps_entry(m)).collect();
            full(StatusCode::OK, &json!({"models": models}))
        }
        (&Method::GET, "/_sim/stats") => {
            let (loads, evictions) = {
                let r = lock(&st.residency.state);
                (r.loads, r.evictions)
            };
            let c = lock(&st.counters);
            full(
                StatusCode::OK,
                &json!({"seq": c.seq, "in_flight": c.in_flight, "max_in_flight": c.max_in_flight,
                        "loads": loads, "evictions": evictions}),
            )
        }
        (&Method::GET, "/v1/models") => {
            let data: Vec<Value> = st
                .cfg
                .models
                .iter()
                .map(|m| json!({"id": m, "object": "model", "created": 1746093600, "owned_by": "library"}))
                .collect();
            full(StatusCode::OK, &json!({"object": "list", "data": data}))
        }
        // llama-server's router lists its models (and their load state) at `/models`, beside
        // its OpenAI-compatible `/v1`: llm-orc 0.25.2 asks it before a `llama-server` run.
        (&Method::GET, "/models") => {
            let data: Vec<Value> = st
                .cfg
                .models
                .iter()
                .map(|m| json!({"id": m, "object": "model", "status": {"value": "loaded"}}))
                .collect();
            full(StatusCode::OK, &json!({"object": "list", "data": data}))
        }
        (&Method::POST, "/api/show") => {
            let name = body
                .get("model")
                .or_else(|| body.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if st.known(name) {
                full(
                    StatusCode::OK,
                    &json!({"details": details(name), "capabilities": ["completion"], "model_info": {}}),
                )
            } else {
                full(
                    StatusCode::NOT_FOUND,
                    &json!({"error": format!("model '{name}' not found")}),
                )
            }
        }
        _ => text(StatusCode::NOT_FOUND, "404 page not found"),
    }
}

/// A stalled generation request: never answered, or a drip of spaces (at most an hour, and only
/// while the client listens).
async fn stalled(st: &State) -> Response<Body> {
    st.stalled.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let how = *lock(&st.stall);
    if how != Some(Stall::Drip) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return text(StatusCode::SERVICE_UNAVAILABLE, "stalled for an hour");
    }
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, io::Error>>(1);
    tokio::spawn(async move {
        for _ in 0..72_000 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if tx
                .send(Ok(Frame::data(Bytes::from_static(b" "))))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let frames =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-ndjson"),
    );
    r
}

fn details(m: &str) -> Value {
    let family = m.split(':').next().unwrap_or(m);
    let size = crate::compile::model_size_b(m)
        .map(|b| format!("{b}B"))
        .unwrap_or_else(|| "1.0B".into());
    json!({"parent_model": "", "format": "gguf", "family": family, "families": [family],
           "parameter_size": size, "quantization_level": "Q4_K_M"})
}

fn tag_entry(m: &str) -> Value {
    json!({"name": m, "model": m, "modified_at": "2025-05-01T10:00:00Z", "size": 1_000_000_000u64,
           "digest": format!("{:016x}", fnv(m.as_bytes())), "details": details(m)})
}

fn ps_entry(m: &str) -> Value {
    let expires = chrono::Utc::now() + chrono::Duration::minutes(5);
    json!({"name": m, "model": m, "size": 1_000_000_000u64,
           "digest": format!("{:016x}", fnv(m.as_bytes())), "details": details(m),
           "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
           "size_vram": 1_000_000_000u64})
}
