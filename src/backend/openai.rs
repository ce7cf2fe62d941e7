//! OpenAI-compatible `POST {base_url}/chat/completions` (llm-orc 0.25's way to reach Ollama).
//!
//! The body is what llm-orc 0.25.2 sends: `model` and `messages`, then `temperature` and
//! `max_tokens` when set, then (llama-server only) `think` as
//! `chat_template_kwargs.enable_thinking`, then the model's `options` as top-level keys (profile
//! then agent, merged), then `response_format` when set. Not streamed, so usage comes in one
//! piece.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::{
    ChatRequest, ChatResponse, Provider, ProviderError, TokenSink, Usage, describe, error_text,
    location, read_capped, redact, unreachable,
};

#[derive(Debug, Clone)]
pub struct OpenAiClient {
    http: reqwest::Client,
    /// Where requests go (may carry credentials).
    base: String,
    /// The same without credentials: for messages, logs and the artifact.
    base_url: String,
    /// What one response may hold (`performance.execution.max_response_bytes`).
    pub max_response_bytes: u64,
    /// The server is llama.cpp's `llama-server`: `think` goes in `chat_template_kwargs`.
    pub llama_server: bool,
}

#[derive(Debug, Deserialize, Default)]
struct Completion {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<OaiUsage>,
}

#[derive(Debug, Deserialize, Default)]
struct Choice {
    #[serde(default)]
    message: Option<OaiMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
struct OaiMessage {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
struct OaiUsage {
    #[serde(default)]
    prompt_tokens: Option<Box<RawValue>>,
    #[serde(default)]
    completion_tokens: Option<Box<RawValue>>,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Debug, Deserialize, Default)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<Box<RawValue>>,
}

impl OpenAiClient {
    pub fn new(http: reqwest::Client, base_url: &str) -> Self {
        let base = base_url.trim_end_matches('/').to_string();
        OpenAiClient {
            http,
            base_url: redact(&base),
            base,
            max_response_bytes: super::DEFAULT_MAX_RESPONSE_BYTES,
            llama_server: false,
        }
    }

    pub fn body(&self, req: &ChatRequest) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), json!(req.model));
        body.insert(
            "messages".into(),
            json!([
                {"role": "system", "content": req.system},
                {"role": "user", "content": req.user},
            ]),
        );
        if let Some(t) = req.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if let Some(n) = req.max_tokens {
            body.insert("max_tokens".into(), json!(n));
        }
        if self.llama_server
            && let Some(think) = &req.think
        {
            body.insert(
                "chat_template_kwargs".into(),
                json!({"enable_thinking": crate::compile::predicate::truthy(think)}),
            );
        }
        for (k, v) in &req.options {
            // The request's own keys are never replaced by an option.
            if !matches!(k.as_str(), "model" | "messages" | "stream") {
                body.insert(k.clone(), v.clone());
            }
        }
        if let Some(v) = &req.keep_alive {
            body.entry("keep_alive").or_insert_with(|| v.clone());
        }
        match &req.format {
            Some(Value::String(s)) if s == "json" => {
                body.insert("response_format".into(), json!({"type": "json_object"}));
            }
            Some(schema @ Value::Object(_)) => {
                body.insert(
                    "response_format".into(),
                    json!({"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}),
                );
            }
            _ => {}
        }
        Value::Object(body)
    }
}

impl Provider for OpenAiClient {
    fn host(&self) -> &str {
        &self.base_url
    }

    async fn chat(
        &self,
        req: &ChatRequest,
        _progress: &dyn TokenSink,
    ) -> Result<ChatResponse, ProviderError> {
        let model = req.model.as_str();
        let mut resp = self
            .http
            .post(format!("{}/chat/completions", self.base))
            .json(&self.body(req))
            .send()
            .await
            .map_err(|e| unreachable(&self.base_url, model, &e, false))?;
        let status = resp.status();
        if status.is_redirection() {
            return Err(ProviderError::Redirect {
                host: self.base_url.clone(),
                model: model.to_string(),
                status: status.as_u16(),
                location: location(&resp),
            });
        }
        if status != reqwest::StatusCode::OK {
            return Err(self.refusal(resp, model).await);
        }
        let body = read_capped(&mut resp, self.max_response_bytes)
            .await
            .map_err(|e| ProviderError::Interrupted {
                host: self.base_url.clone(),
                model: model.to_string(),
                detail: describe(&e),
            })?
            .map_err(|limit| {
                tracing::warn!(host = %self.base_url, model, limit, "response too large; stopped reading");
                ProviderError::TooLarge {
                    host: self.base_url.clone(),
                    model: model.to_string(),
                    limit,
                }
            })?;
        self.completion(&body, model)
    }
}

impl OpenAiClient {
    /// A status other than 200: the server's message (OpenAI's `error.message`, or the start of
    /// the body); a 404 saying "not found" is a missing model.
    async fn refusal(&self, resp: reqwest::Response, model: &str) -> ProviderError {
        let status = resp.status().as_u16();
        let text = error_text(resp).await;
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| {
                let e = v.get("error")?;
                e.get("message")
                    .and_then(Value::as_str)
                    .or_else(|| e.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| text.trim().chars().take(300).collect());
        if status == 404 && message.contains("not found") {
            return ProviderError::ModelMissing {
                host: self.base_url.clone(),
                model: model.to_string(),
            };
        }
        ProviderError::Status {
            host: self.base_url.clone(),
            model: model.to_string(),
            status,
            message,
        }
    }

    /// A whole completion: its first choice and its counts.
    fn completion(&self, body: &[u8], model: &str) -> Result<ChatResponse, ProviderError> {
        let c: Completion = serde_json::from_slice(body).map_err(|e| ProviderError::Malformed {
            host: self.base_url.clone(),
            model: model.to_string(),
            detail: e.to_string(),
        })?;
        let choice = c
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| ProviderError::Malformed {
                host: self.base_url.clone(),
                model: model.to_string(),
                detail: "no choices in the response".into(),
            })?;
        Ok(ChatResponse {
            content: choice.message.and_then(|m| m.content).unwrap_or_default(),
            done_reason: choice.finish_reason,
            usage: counts(c.usage.unwrap_or_default()),
        })
    }
}

/// OpenAI's counts in orc's fields (a figure that is not a count is recorded as invalid).
fn counts(usage: OaiUsage) -> Usage {
    let mut u = Usage::default();
    u.input_tokens = u.take(
        "input_tokens",
        "usage.prompt_tokens",
        usage.prompt_tokens.as_deref(),
    );
    u.output_tokens = u.take(
        "output_tokens",
        "usage.completion_tokens",
        usage.completion_tokens.as_deref(),
    );
    u.cached_input_tokens = u.take(
        "cached_input_tokens",
        "usage.prompt_tokens_details.cached_tokens",
        usage
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens.as_deref()),
    );
    u
}
