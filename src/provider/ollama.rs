//! Ollama's native `POST /api/chat`, streamed as NDJSON.

use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{ChatRequest, ChatResponse, Provider, ProviderError, TokenSink, Usage, describe};

#[derive(Debug, Clone)]
pub struct OllamaClient {
    http: reqwest::Client,
    host: String,
    /// Stream the response (progress per chunk) or take it in one piece.
    pub stream: bool,
}

/// One NDJSON line (or the whole non-streamed body). Every field is optional.
#[derive(Debug, Deserialize, Default)]
struct ChatChunk {
    #[serde(default)]
    message: Option<ChunkMessage>,
    #[serde(default)]
    done: Option<bool>,
    #[serde(default)]
    done_reason: Option<String>,
    #[serde(default)]
    prompt_eval_count: Option<u64>,
    #[serde(default)]
    eval_count: Option<u64>,
    #[serde(default)]
    prompt_eval_cached_count: Option<u64>,
    #[serde(default)]
    load_duration: Option<u64>,
    #[serde(default)]
    prompt_eval_duration: Option<u64>,
    #[serde(default)]
    eval_duration: Option<u64>,
    #[serde(default)]
    total_duration: Option<u64>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
struct ChunkMessage {
    #[serde(default)]
    content: Option<String>,
}

impl OllamaClient {
    pub fn new(http: reqwest::Client, host: &str) -> Self {
        OllamaClient {
            http,
            host: super::normalize_host(host),
            stream: true,
        }
    }

    /// The request body: Ollama's field names; temperature and max_tokens become
    /// `options.temperature` and `options.num_predict`.
    pub fn body(&self, req: &ChatRequest) -> Value {
        let mut options: Map<String, Value> = req.options.clone();
        if let Some(t) = req.temperature {
            options.insert("temperature".into(), json!(t));
        }
        if let Some(n) = req.max_tokens {
            options.insert("num_predict".into(), json!(n));
        }
        let mut body = Map::new();
        body.insert("model".into(), json!(req.model));
        body.insert(
            "messages".into(),
            json!([
                {"role": "system", "content": req.system},
                {"role": "user", "content": req.user},
            ]),
        );
        body.insert("stream".into(), json!(self.stream));
        if !options.is_empty() {
            body.insert("options".into(), Value::Object(options));
        }
        if let Some(f) = &req.format {
            body.insert("format".into(), f.clone());
        }
        if let Some(t) = &req.think {
            body.insert("think".into(), t.clone());
        }
        if let Some(k) = &req.keep_alive {
            body.insert("keep_alive".into(), k.clone());
        }
        Value::Object(body)
    }

    fn status_error(&self, model: &str, status: u16, text: &str) -> ProviderError {
        let message = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str().map(str::to_string)))
            .unwrap_or_else(|| text.trim().chars().take(300).collect());
        if status == 404 && (message.contains("not found") || message.is_empty()) {
            return ProviderError::ModelMissing {
                host: self.host.clone(),
                model: model.to_string(),
            };
        }
        ProviderError::Status {
            host: self.host.clone(),
            model: model.to_string(),
            status,
            message,
        }
    }

    fn interrupted(&self, model: &str, e: &reqwest::Error) -> ProviderError {
        ProviderError::Interrupted {
            host: self.host.clone(),
            model: model.to_string(),
            detail: describe(e),
        }
    }

    fn malformed(&self, model: &str, detail: String) -> ProviderError {
        ProviderError::Malformed {
            host: self.host.clone(),
            model: model.to_string(),
            detail,
        }
    }

    /// Folds one parsed chunk into the response; returns true when it was the last.
    fn absorb(
        &self,
        model: &str,
        chunk: ChatChunk,
        out: &mut ChatResponse,
    ) -> Result<bool, ProviderError> {
        if let Some(e) = chunk.error {
            return Err(ProviderError::Status {
                host: self.host.clone(),
                model: model.to_string(),
                status: 200,
                message: e,
            });
        }
        if let Some(c) = chunk.message.and_then(|m| m.content) {
            out.content.push_str(&c);
        }
        if chunk.done == Some(true) {
            out.done_reason = chunk.done_reason;
            out.usage = Usage {
                input_tokens: chunk.prompt_eval_count,
                output_tokens: chunk.eval_count,
                cached_input_tokens: chunk.prompt_eval_cached_count,
                load_duration_ns: chunk.load_duration,
                prompt_eval_duration_ns: chunk.prompt_eval_duration,
                eval_duration_ns: chunk.eval_duration,
                total_duration_ns: chunk.total_duration,
            };
            return Ok(true);
        }
        Ok(false)
    }
}

impl Provider for OllamaClient {
    fn host(&self) -> &str {
        &self.host
    }

    async fn chat(
        &self,
        req: &ChatRequest,
        progress: &dyn TokenSink,
    ) -> Result<ChatResponse, ProviderError> {
        let model = req.model.as_str();
        let url = format!("{}/api/chat", self.host);
        let resp = self
            .http
            .post(&url)
            .json(&self.body(req))
            .send()
            .await
            .map_err(|e| ProviderError::Unreachable {
                host: self.host.clone(),
                model: model.to_string(),
                detail: describe(&e),
            })?;
        let status = resp.status().as_u16();
        if status != 200 {
            let text = resp.text().await.unwrap_or_default();
            return Err(self.status_error(model, status, &text));
        }
        let mut out = ChatResponse::default();
        if !self.stream {
            let text = resp.text().await.map_err(|e| self.interrupted(model, &e))?;
            let chunk: ChatChunk =
                serde_json::from_str(&text).map_err(|e| self.malformed(model, format!("{e}")))?;
            if !self.absorb(model, chunk, &mut out)? {
                return Err(self.malformed(model, "the response is not marked done".into()));
            }
            return Ok(out);
        }
        let mut stream = resp.bytes_stream();
        let mut buf: Vec<u8> = Vec::new();
        let mut chunks = 0u64;
        let mut done = false;
        while let Some(piece) = stream.next().await {
            let piece = piece.map_err(|e| self.interrupted(model, &e))?;
            buf.extend_from_slice(&piece);
            while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let line = &line[..line.len() - 1];
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let chunk: ChatChunk = serde_json::from_slice(line)
                    .map_err(|e| self.malformed(model, format!("bad NDJSON line: {e}")))?;
                chunks += 1;
                progress.tokens(chunks);
                if self.absorb(model, chunk, &mut out)? {
                    done = true;
                }
            }
        }
        if !buf.iter().all(u8::is_ascii_whitespace) {
            let chunk: ChatChunk = serde_json::from_slice(&buf)
                .map_err(|e| self.malformed(model, format!("bad NDJSON line: {e}")))?;
            if self.absorb(model, chunk, &mut out)? {
                done = true;
            }
        }
        if !done {
            return Err(ProviderError::Interrupted {
                host: self.host.clone(),
                model: model.to_string(),
                detail: "the stream ended before the final `done` message".into(),
            });
        }
        Ok(out)
    }
}

/// `GET /api/tags`: the models a host has installed.
pub async fn installed_models(
    http: &reqwest::Client,
    host: &str,
) -> Result<Vec<String>, ProviderError> {
    let host = super::normalize_host(host);
    let resp = http
        .get(format!("{host}/api/tags"))
        .send()
        .await
        .map_err(|e| ProviderError::Unreachable {
            host: host.clone(),
            model: String::new(),
            detail: describe(&e),
        })?;
    let v: Value = resp.json().await.map_err(|e| ProviderError::Malformed {
        host: host.clone(),
        model: String::new(),
        detail: describe(&e),
    })?;
    Ok(v.get("models")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| {
                    m.get("name")
                        .or_else(|| m.get("model"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default())
}
