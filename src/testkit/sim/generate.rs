//! One generation request (`/api/chat`, `/api/generate`, `/v1/chat/completions`) in phases:
//! what it asks for, the faults that refuse it, admission (its model loaded, a slot), the reply,
//! and the body, whole or streamed at the configured pace.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::directives::{Directives, directives};
use super::residency::Hold;
use super::text::{unix_now, words};
use super::{Body, Recorded, SimConfig, State, full, lock};

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Chat,
    Generate,
    OaiChat,
}

/// What a generation request asked for.
struct Ask {
    kind: Kind,
    model: String,
    stream: bool,
    /// Every message's content (or the system prompt and the prompt), one per line.
    prompt: String,
    d: Directives,
}

struct Reply {
    text: String,
    pieces: Vec<String>,
    prompt_tokens: u64,
    eval_tokens: u64,
    /// Tokens generated.
    n: u32,
    done_reason: &'static str,
}

/// A request past admission: what it holds until its answer is sent.
struct Serving {
    st: Arc<State>,
    ask: Ask,
    rec: Recorded,
    resident: Option<Hold>,
    permit: Option<OwnedSemaphorePermit>,
}

pub(super) async fn generate(
    st: Arc<State>,
    kind: Kind,
    path: &str,
    body: Value,
    t_arrive: Duration,
) -> Response<Body> {
    let ask = Ask::read(kind, &body);
    let rec = arrive(&st, &ask, path, &body, t_arrive);
    let rec = match refusal(&st, &ask, rec).await {
        Ok(rec) => rec,
        Err(refused) => return refused,
    };
    let (mut s, t_start) = match admit(st, ask, rec).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let reply = plan_reply(&s.st, &s.ask, &body);
    s.rec.prompt_eval_count = (!s.ask.d.omit_prompt).then_some(reply.prompt_tokens);
    s.rec.eval_count = (!s.ask.d.omit_eval).then_some(reply.eval_tokens);
    s.wait_as_asked().await;
    let cfg = s.st.cfg.clone();
    let service = cfg.ttft + cfg.per_token * reply.n;
    let queue = t_start.saturating_sub(t_arrive);
    let durations = durations(&cfg, queue, &reply, &s.ask.d);
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if s.ask.d.malformed {
        return malformed(s, service).await;
    }
    if !s.ask.stream {
        return whole(s, &reply, &durations, service, created).await;
    }
    streamed(s, reply, durations, cfg, service, created, body)
}

impl Ask {
    fn read(kind: Kind, body: &Value) -> Ask {
        let oai = kind == Kind::OaiChat;
        let model = body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(!oai);
        let (system, prompt) = match kind {
            Kind::Generate => {
                let s = body
                    .get("system")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let p = body.get("prompt").and_then(Value::as_str).unwrap_or("");
                let joined = if s.is_empty() {
                    p.to_string()
                } else {
                    format!("{s}\n{p}")
                };
                (s, joined)
            }
            _ => {
                let msgs = body
                    .get("messages")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let parts: Vec<&str> = msgs
                    .iter()
                    .map(|m| m.get("content").and_then(Value::as_str).unwrap_or(""))
                    .collect();
                let system = msgs
                    .iter()
                    .find(|m| m.get("role").and_then(Value::as_str) == Some("system"))
                    .and_then(|m| m.get("content").and_then(Value::as_str))
                    .unwrap_or("")
                    .to_string();
                (system, parts.join("\n"))
            }
        };
        let mut d = directives(&prompt);
        if let Some(r) = directives(&system).reply {
            d.reply = Some(r);
        }
        Ask {
            kind,
            model,
            stream,
            prompt,
            d,
        }
    }

    fn oai(&self) -> bool {
        self.kind == Kind::OaiChat
    }

    /// An error body in the request's API.
    fn error(&self, msg: String) -> Value {
        if self.oai() {
            json!({"error": {"message": msg, "type": "api_error"}})
        } else {
            json!({"error": msg})
        }
    }
}

/// Counts the request in and starts its record.
fn arrive(st: &State, ask: &Ask, path: &str, body: &Value, t_arrive: Duration) -> Recorded {
    let (seq, in_flight) = {
        let mut c = lock(&st.counters);
        c.seq += 1;
        c.in_flight += 1;
        c.max_in_flight = c.max_in_flight.max(c.in_flight);
        c.prompts.push(ask.prompt.clone());
        (c.seq, c.in_flight)
    };
    Recorded {
        seq,
        path: path.to_string(),
        model: ask.model.clone(),
        body: body.clone(),
        status: 200,
        stream: ask.stream,
        prompt_eval_count: None,
        eval_count: None,
        t_arrive_ms: st.ms(t_arrive),
        t_start_ms: st.ms(t_arrive),
        t_end_ms: st.ms(t_arrive),
        arrive_unix: unix_now(),
        end_unix: 0.0,
        in_flight_at_arrival: in_flight,
        model_load_ms: None,
        hold_released: None,
    }
}

/// The request ends with `status`: counted out and recorded.
fn finish(st: &State, mut rec: Recorded, status: u16) {
    rec.status = status;
    rec.t_end_ms = st.ms(st.started.elapsed());
    rec.end_unix = unix_now();
    lock(&st.counters).in_flight -= 1;
    st.record(rec);
}

/// The faults that answer before any work: the server dies, the model is unknown, a status
/// was asked for. Else the record back.
async fn refusal(st: &State, ask: &Ask, rec: Recorded) -> Result<Recorded, Response<Body>> {
    if ask.d.die {
        // The server dies: stop listening and drop every connection, this one included.
        finish(st, rec.clone(), 0);
        let tasks = lock(&st.tasks).clone();
        if let Some(t) = tasks {
            for h in lock(&t).drain(..) {
                h.abort();
            }
        }
        std::future::pending::<()>().await;
    }
    let model = &ask.model;
    if !st.known(model) {
        finish(st, rec, 404);
        return Err(full(
            StatusCode::NOT_FOUND,
            &ask.error(format!("model \"{model}\" not found, try pulling it first")),
        ));
    }
    if let Some((code, times)) = ask.d.status {
        let key = format!("{code}\0{}", ask.prompt);
        let n = {
            let mut c = lock(&st.counters);
            let n = c.attempts.entry(key).or_insert(0);
            *n += 1;
            *n
        };
        if times.is_none_or(|t| n <= t) {
            finish(st, rec, code);
            let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Err(full(
                code,
                &ask.error(format!("simulated failure {}", code.as_u16())),
            ));
        }
    }
    Ok(rec)
}

/// Loads the model when the server holds few at once, then queues for a slot, as Ollama does
/// per loaded model; 503 when the queue is full. Returns when the request is being served.
async fn admit(
    st: Arc<State>,
    ask: Ask,
    mut rec: Recorded,
) -> Result<(Serving, Duration), Response<Body>> {
    let model = ask.model.clone();
    let resident = st.hold(&model).await;
    rec.model_load_ms = resident.as_ref().map(|(_, d)| st.ms(*d));
    let resident = resident.map(|(h, _)| h);
    let permit = match st.slot(&model) {
        None => None,
        Some(sem) => {
            {
                let mut w = lock(&st.waiting);
                let n = w.entry(model.clone()).or_insert(0);
                if st.cfg.max_queue > 0 && *n >= st.cfg.max_queue && sem.available_permits() == 0 {
                    drop(w);
                    finish(&st, rec, 503);
                    return Err(full(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &ask.error(
                            "server busy, please try again.  maximum pending requests exceeded"
                                .into(),
                        ),
                    ));
                }
                *n += 1;
            }
            let p = sem.acquire_owned().await.ok();
            if let Some(n) = lock(&st.waiting).get_mut(&model) {
                *n = n.saturating_sub(1);
            }
            p
        }
    };
    let t_start = st.started.elapsed();
    rec.t_start_ms = st.ms(t_start);
    {
        let mut c = lock(&st.counters);
        let s = c.serving.entry(model.clone()).or_insert(0);
        *s += 1;
        let now = *s;
        let m = c.max_serving.entry(model.clone()).or_insert(0);
        *m = (*m).max(now);
        c.served.insert(model);
    }
    let serving = Serving {
        st,
        ask,
        rec,
        resident,
        permit,
    };
    Ok((serving, t_start))
}

/// What to generate: how many tokens (capped by the request's limit), and the text: the
/// scripted reply, a JSON array, a JSON object when JSON was asked for, else words.
fn plan_reply(st: &State, ask: &Ask, body: &Value) -> Reply {
    let (d, cfg) = (&ask.d, &st.cfg);
    let num_predict = if ask.oai() {
        body.get("max_tokens")
            .or_else(|| body.get("max_completion_tokens"))
            .and_then(Value::as_u64)
    } else {
        body.get("options")
            .and_then(|o| o.get("num_predict"))
            .and_then(Value::as_u64)
    };
    let want_json = if ask.oai() {
        body.get("response_format")
            .and_then(|f| f.get("type"))
            .and_then(Value::as_str)
            .is_some_and(|t| t != "text")
    } else {
        body.get("format")
            .is_some_and(|f| f.as_str() == Some("json") || f.is_object())
    };
    let base_n = d.tokens.unwrap_or(cfg.tokens).max(1);
    let n = num_predict
        .filter(|&p| p > 0)
        .map_or(base_n, |p| base_n.min(p as u32))
        .max(1);
    let done_reason = if num_predict.is_some_and(|p| p > 0 && (p as u32) < base_n) {
        "length"
    } else {
        "stop"
    };
    let seed = format!("{}\0{}", ask.model, ask.prompt);
    let whole = |t: String| (t.clone(), vec![t]);
    let (text, pieces) = if let Some(t) = &d.reply {
        whole(scripted(st, t, &ask.prompt))
    } else if let Some(k) = d.json_array {
        let per = (n as usize / k.max(1)).max(1) as u32;
        let items: Vec<String> = (0..k)
            .map(|i| words(&format!("{seed}\0{i}"), per).concat())
            .collect();
        whole(serde_json::to_string(&items).unwrap_or_default())
    } else if want_json {
        whole(json!({"answer": words(&seed, n).concat()}).to_string())
    } else {
        let pieces = words(&seed, n);
        (pieces.concat(), pieces)
    };
    Reply {
        text,
        pieces,
        prompt_tokens: (ask.prompt.chars().count() as u64).div_ceil(4).max(1) + 10,
        eval_tokens: u64::from(n),
        n,
        done_reason,
    }
}

/// `[[fake:reply=TEXT]]`; `cycle:A||B||C` answers A, then B, then C, then A again, for the
/// same prompt.
fn scripted(st: &State, t: &str, prompt: &str) -> String {
    match t.strip_prefix("cycle:") {
        Some(rest) => {
            let items: Vec<&str> = rest.split("||").collect();
            let n = {
                let mut c = lock(&st.counters);
                let n = c.attempts.entry(format!("cycle\0{prompt}")).or_insert(0);
                *n += 1;
                *n
            };
            items[(n as usize - 1) % items.len()].to_string()
        }
        None => t.to_string(),
    }
}

impl Serving {
    /// `[[sim:hold_until=TEXT]]` and `[[sim:slow=MS]]`: the waits a request asked for.
    async fn wait_as_asked(&mut self) {
        if let Some(wanted) = &self.ask.d.hold_until {
            // Wait until another request mentioning `wanted` has arrived (causal ordering for
            // tests).
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut released = false;
            while Instant::now() < deadline {
                if lock(&self.st.counters)
                    .prompts
                    .iter()
                    .any(|p| p.contains(wanted.as_str()) && !p.contains("[[sim:hold_until="))
                {
                    released = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            self.rec.hold_released = Some(released);
        }
        if let Some(ms) = self.ask.d.slow_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }

    /// The request is done: its slot and its model released, then its record kept.
    fn done(self, status: u16) {
        if let Some(s) = lock(&self.st.counters).serving.get_mut(&self.ask.model) {
            *s = s.saturating_sub(1);
        }
        drop(self.permit);
        drop(self.resident);
        finish(&self.st, self.rec, status);
    }
}

/// Ollama's duration and count fields of a final answer (a count left out when asked).
fn durations(
    cfg: &SimConfig,
    queue: Duration,
    reply: &Reply,
    d: &Directives,
) -> serde_json::Map<String, Value> {
    let service = cfg.ttft + cfg.per_token * reply.n;
    let mut m = serde_json::Map::new();
    m.insert(
        "total_duration".into(),
        json!((queue + service).as_nanos() as u64),
    );
    m.insert("load_duration".into(), json!(queue.as_nanos() as u64));
    if !d.omit_prompt {
        m.insert("prompt_eval_count".into(), json!(reply.prompt_tokens));
    }
    m.insert(
        "prompt_eval_duration".into(),
        json!(cfg.ttft.as_nanos() as u64),
    );
    if !d.omit_eval {
        m.insert("eval_count".into(), json!(reply.eval_tokens));
    }
    m.insert(
        "eval_duration".into(),
        json!((cfg.per_token * reply.n).as_nanos() as u64),
    );
    m
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// `[[sim:malformed]]`: a body that is not JSON, after the service time.
async fn malformed(s: Serving, service: Duration) -> Response<Body> {
    tokio::time::sleep(service).await;
    s.done(200);
    let mut r = Response::new(
        Full::new(Bytes::from_static(
            b"{\"model\": \"oops\", \"message\": {\"content\": ",
        ))
        .map_err(|e: Infallible| match e {})
        .boxed(),
    );
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// A whole (not streamed) answer after the service time; `[[sim:reset]]` sends half of it
/// and drops the connection.
async fn whole(
    s: Serving,
    reply: &Reply,
    durations: &serde_json::Map<String, Value>,
    service: Duration,
    created: u64,
) -> Response<Body> {
    tokio::time::sleep(service).await;
    let payload = whole_payload(&s.ask, s.rec.seq, reply, durations, created);
    let reset = s.ask.d.reset;
    s.done(200);
    if reset {
        // Half a body, then the connection drops.
        let text = payload.to_string();
        let half = Bytes::from(text[..text.len() / 2].to_string());
        let frames = futures::stream::iter(vec![
            Ok::<_, io::Error>(Frame::data(half)),
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "simulated reset",
            )),
        ]);
        return Response::new(BodyExt::boxed(StreamBody::new(frames)));
    }
    full(StatusCode::OK, &payload)
}

fn whole_payload(
    ask: &Ask,
    seq: u64,
    reply: &Reply,
    durations: &serde_json::Map<String, Value>,
    created: u64,
) -> Value {
    let model = &ask.model;
    match ask.kind {
        Kind::Chat => {
            let mut m = serde_json::Map::new();
            m.insert("model".into(), json!(model));
            m.insert("created_at".into(), json!(now()));
            m.insert(
                "message".into(),
                json!({"role": "assistant", "content": reply.text}),
            );
            m.insert("done_reason".into(), json!(reply.done_reason));
            m.insert("done".into(), json!(true));
            m.extend(durations.clone());
            Value::Object(m)
        }
        Kind::Generate => {
            let mut m = serde_json::Map::new();
            m.insert("model".into(), json!(model));
            m.insert("created_at".into(), json!(now()));
            m.insert("response".into(), json!(reply.text));
            m.insert("done".into(), json!(true));
            m.insert("done_reason".into(), json!(reply.done_reason));
            m.extend(durations.clone());
            Value::Object(m)
        }
        Kind::OaiChat => {
            let d = &ask.d;
            let mut usage = serde_json::Map::new();
            if !d.omit_prompt {
                usage.insert("prompt_tokens".into(), json!(reply.prompt_tokens));
            }
            if !d.omit_eval {
                usage.insert("completion_tokens".into(), json!(reply.eval_tokens));
            }
            if !d.omit_prompt && !d.omit_eval {
                usage.insert(
                    "total_tokens".into(),
                    json!(reply.prompt_tokens + reply.eval_tokens),
                );
            }
            json!({"id": format!("chatcmpl-{seq}"), "object": "chat.completion", "created": created, "model": model,
                   "system_fingerprint": "fp_ollama",
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text}, "finish_reason": reply.done_reason}],
                   "usage": usage})
        }
    }
}

/// A streamed answer: the pieces paced by a task (time to first token, then a time per
/// token), then the final chunk; `[[sim:reset]]` drops the connection halfway and
/// `[[sim:truncate]]` stops before the final chunk.
fn streamed(
    s: Serving,
    reply: Reply,
    durations: serde_json::Map<String, Value>,
    cfg: SimConfig,
    service: Duration,
    created: u64,
    body: Value,
) -> Response<Body> {
    let oai = s.ask.oai();
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, io::Error>>(64);
    tokio::spawn(async move {
        let (kind, model, seq, d) = (s.ask.kind, &s.ask.model, s.rec.seq, &s.ask.d);
        let start = Instant::now();
        let n_pieces = reply.pieces.len();
        for (i, piece) in reply.pieces.iter().enumerate() {
            let due = if n_pieces == 1 {
                service
            } else {
                cfg.ttft + cfg.per_token * i as u32
            };
            tokio::time::sleep_until((start + due).into()).await;
            let line = chunk_line(kind, model, piece, seq, created);
            if tx.send(Ok(Frame::data(Bytes::from(line)))).await.is_err() {
                break;
            }
            if d.reset && i + 1 >= n_pieces / 2 {
                let _ = tx
                    .send(Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "simulated reset",
                    )))
                    .await;
                break;
            }
        }
        tokio::time::sleep_until((start + service).into()).await;
        if !d.reset && !d.truncate {
            let include_usage = body
                .get("stream_options")
                .and_then(|o| o.get("include_usage"))
                .and_then(Value::as_bool)
                == Some(true);
            let fin = final_lines(kind, model, &reply, &durations, seq, created, include_usage);
            let _ = tx.send(Ok(Frame::data(Bytes::from(fin)))).await;
        }
        s.done(200);
    });
    let frames =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    let ct = if oai {
        "text/event-stream"
    } else {
        "application/x-ndjson"
    };
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(ct),
    );
    r
}

/// One streamed piece in the request's API.
fn chunk_line(kind: Kind, model: &str, piece: &str, seq: u64, created: u64) -> String {
    match kind {
        Kind::Chat => format!(
            "{}\n",
            json!({"model": model, "created_at": now(), "message": {"role": "assistant", "content": piece}, "done": false})
        ),
        Kind::Generate => format!(
            "{}\n",
            json!({"model": model, "created_at": now(), "response": piece, "done": false})
        ),
        Kind::OaiChat => format!(
            "data: {}\n\n",
            json!({"id": format!("chatcmpl-{seq}"), "object": "chat.completion.chunk", "created": created, "model": model, "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece}, "finish_reason": null}]})
        ),
    }
}

/// The end of a stream: Ollama's final chunk with the counts, or OpenAI's finish chunk (and
/// usage chunk when asked) and `[DONE]`.
fn final_lines(
    kind: Kind,
    model: &str,
    reply: &Reply,
    durations: &serde_json::Map<String, Value>,
    seq: u64,
    created: u64,
    include_usage: bool,
) -> String {
    match kind {
        Kind::Chat | Kind::Generate => {
            let mut m = serde_json::Map::new();
            m.insert("model".into(), json!(model));
            m.insert("created_at".into(), json!(now()));
            if kind == Kind::Chat {
                m.insert(
                    "message".into(),
                    json!({"role": "assistant", "content": ""}),
                );
            } else {
                m.insert("response".into(), json!(""));
            }
            m.insert("done_reason".into(), json!(reply.done_reason));
            m.insert("done".into(), json!(true));
            m.extend(durations.clone());
            format!("{}\n", Value::Object(m))
        }
        Kind::OaiChat => {
            let mut s = format!(
                "data: {}\n\n",
                json!({"id": format!("chatcmpl-{seq}"), "object": "chat.completion.chunk", "created": created, "model": model, "choices": [{"index": 0, "delta": {}, "finish_reason": reply.done_reason}]})
            );
            if include_usage {
                s.push_str(&format!("data: {}\n\n", json!({"id": format!("chatcmpl-{seq}"), "object": "chat.completion.chunk", "created": created, "model": model, "choices": [], "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.eval_tokens, "total_tokens": reply.prompt_tokens + reply.eval_tokens}})));
            }
            s.push_str("data: [DONE]\n\n");
            s
        }
    }
}
