//! A stand-in for Anthropic's Messages API, for driving the real Claude Code CLI in tests:
//! `POST /v1/messages` answered as the CLI asks (server-sent events when `stream` is true, one
//! JSON message otherwise), `POST /v1/messages/count_tokens`, everything recorded. A script
//! decides each answer of the main loop (a request that offers tools): text, or one `tool_use`
//! block. Claude Code's side requests (no tools) get a short text.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// What the model "says" next.
#[derive(Debug, Clone)]
pub enum Reply {
    Text(String),
    Tool { name: String, input: Value },
}

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub body: Value,
    /// A request of the main loop (it offers tools), answered by the script.
    pub main: bool,
}

type Script = Box<dyn FnMut(&Value) -> futures::future::BoxFuture<'static, Reply> + Send>;

struct State {
    requests: Vec<Recorded>,
    script: Script,
}

pub struct Standin {
    addr: SocketAddr,
    state: Arc<tokio::sync::Mutex<State>>,
    log: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Standin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Standin {
    /// Listens on 127.0.0.1 (port 0); `script` answers each request of the main loop (it may
    /// wait for something, e.g. a condition on the model server, before it answers).
    pub async fn start(
        script: impl FnMut(&Value) -> futures::future::BoxFuture<'static, Reply> + Send + 'static,
    ) -> Standin {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(tokio::sync::Mutex::new(State {
            requests: Vec::new(),
            script: Box::new(script),
        }));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (st, lg) = (state.clone(), log.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (st, lg) = (st.clone(), lg.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let (st, lg) = (st.clone(), lg.clone());
                        async move { Ok::<_, Infallible>(answer(req, st, lg).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Standin {
            addr,
            state,
            log,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The requests of the main loop.
    pub fn main_requests(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.main).collect()
    }

    #[allow(dead_code)]
    pub async fn answered(&self) -> usize {
        self.state.lock().await.requests.len()
    }
}

fn json_response(status: u16, v: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(v.to_string())))
        .unwrap_or_default()
}

async fn answer(
    req: Request<Incoming>,
    st: Arc<tokio::sync::Mutex<State>>,
    log: Arc<Mutex<Vec<Recorded>>>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let bytes = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let main = path == "/v1/messages" && body["tools"].as_array().is_some_and(|t| !t.is_empty());
    let rec = Recorded {
        path: path.clone(),
        body: body.clone(),
        main,
    };
    if let Ok(mut l) = log.lock() {
        l.push(rec.clone());
    }
    if path.ends_with("/count_tokens") {
        return json_response(200, &json!({"input_tokens": 100}));
    }
    if path != "/v1/messages" {
        return json_response(
            404,
            &json!({"type": "error", "error": {"type": "not_found_error", "message": path}}),
        );
    }
    let reply = if main {
        let fut = {
            let mut s = st.lock().await;
            s.requests.push(rec);
            (s.script)(&body)
        };
        fut.await
    } else {
        Reply::Text("ok".into())
    };
    message(&body, reply)
}

/// The Messages API's answer: SSE events when the request streams, else one message.
fn message(req: &Value, reply: Reply) -> Response<Full<Bytes>> {
    let model = req["model"]
        .as_str()
        .unwrap_or("claude-stand-in")
        .to_string();
    let n = req["messages"].as_array().map_or(0, Vec::len);
    let id = format!("msg_standin_{n}");
    let (block, stop) = match &reply {
        Reply::Text(t) => (json!({"type": "text", "text": t}), "end_turn"),
        Reply::Tool { name, input } => (
            json!({"type": "tool_use", "id": format!("toolu_{n}"), "name": name, "input": input}),
            "tool_use",
        ),
    };
    let usage = json!({"input_tokens": 100, "output_tokens": 10});
    if req["stream"] != json!(true) {
        return json_response(
            200,
            &json!({"id": id, "type": "message", "role": "assistant", "model": model,
                    "content": [block], "stop_reason": stop, "stop_sequence": null, "usage": usage}),
        );
    }
    let mut events = vec![(
        "message_start",
        json!({"type": "message_start", "message": {"id": id, "type": "message", "role": "assistant",
               "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
               "usage": {"input_tokens": 100, "output_tokens": 1}}}),
    )];
    match &reply {
        Reply::Text(t) => {
            events.push((
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ));
            events.push((
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}),
            ));
        }
        Reply::Tool { name, input } => {
            events.push((
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block":
                       {"type": "tool_use", "id": format!("toolu_{n}"), "name": name, "input": {}}}),
            ));
            events.push((
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta":
                       {"type": "input_json_delta", "partial_json": input.to_string()}}),
            ));
        }
    }
    events.push((
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push((
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
               "usage": {"output_tokens": 10}}),
    ));
    events.push(("message_stop", json!({"type": "message_stop"})));
    let text: String = events
        .into_iter()
        .map(|(e, d)| format!("event: {e}\ndata: {d}\n\n"))
        .collect();
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Full::new(Bytes::from(text)))
        .unwrap_or_default()
}

/// How many assistant turns the conversation already has: the script's step.
pub fn step(body: &Value) -> usize {
    body["messages"]
        .as_array()
        .map_or(0, |m| m.iter().filter(|x| x["role"] == "assistant").count())
}

/// The text of the `tool_result` answering `tool_use_id`, anywhere in the conversation, and
/// whether it is marked an error.
pub fn tool_result(body: &Value, tool_use_id: &str) -> Option<(String, bool)> {
    for m in body["messages"].as_array()? {
        for b in m["content"].as_array().into_iter().flatten() {
            if b["type"] == "tool_result" && b["tool_use_id"] == tool_use_id {
                let text = match &b["content"] {
                    Value::String(s) => s.clone(),
                    Value::Array(parts) => parts
                        .iter()
                        .filter_map(|p| p["text"].as_str())
                        .collect::<Vec<_>>()
                        .join("\n"),
                    other => other.to_string(),
                };
                return Some((text, b["is_error"] == true));
            }
        }
    }
    None
}

/// The id the stand-in gave the tool call it made at `step` (the request then had `2 * step + 1`
/// messages: each step adds an assistant turn and a user turn).
pub fn tool_use_id_at(body: &Value, step: usize) -> Option<String> {
    let mut seen = 0;
    for m in body["messages"].as_array()? {
        if m["role"] != "assistant" {
            continue;
        }
        if seen == step {
            return m["content"]
                .as_array()?
                .iter()
                .find(|b| b["type"] == "tool_use")
                .and_then(|b| b["id"].as_str())
                .map(str::to_string);
        }
        seen += 1;
    }
    None
}

/// Everything the model was shown (system prompt, messages, tool names) as one text.
pub fn shown(body: &Value) -> String {
    let mut s = body["system"].to_string();
    s.push_str(&body["messages"].to_string());
    s
}

/// The names of the tools offered in full (with a schema) in this request.
pub fn tool_names(body: &Value) -> Vec<String> {
    body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect()
}
