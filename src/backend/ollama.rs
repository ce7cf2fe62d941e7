//! Ollama's native `POST /api/chat`, streamed as NDJSON.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::{
    ChatRequest, ChatResponse, Lines, Provider, ProviderError, TokenSink, Usage, describe,
    error_text, location, read_capped, redact, unreachable,
};

#[derive(Debug, Clone)]
pub struct OllamaClient {
    http: reqwest::Client,
    /// Where requests go (may carry credentials).
    base: String,
    /// The same without credentials: for messages, logs and the artifact.
    host: String,
    /// Stream the response (progress per chunk) or take it in one piece.
    pub stream: bool,
    /// What one response may hold (`performance.execution.max_response_bytes`).
    pub max_response_bytes: u64,
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
    // Counts and durations are read as written and checked one by one: a figure that is not a
    // count must not cost the answer.
    #[serde(default)]
    prompt_eval_count: Option<Box<RawValue>>,
    #[serde(default)]
    eval_count: Option<Box<RawValue>>,
    #[serde(default)]
    prompt_eval_cached_count: Option<Box<RawValue>>,
    #[serde(default)]
    load_duration: Option<Box<RawValue>>,
    #[serde(default)]
    prompt_eval_duration: Option<Box<RawValue>>,
    #[serde(default)]
    eval_duration: Option<Box<RawValue>>,
    #[serde(default)]
    total_duration: Option<Box<RawValue>>,
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
        let base = super::normalize_host(host);
        OllamaClient {
            http,
            host: redact(&base),
            base,
            stream: true,
            max_response_bytes: super::DEFAULT_MAX_RESPONSE_BYTES,
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

    fn too_large(&self, model: &str) -> ProviderError {
        tracing::warn!(host = %self.host, model, limit = self.max_response_bytes, "response too large; stopped reading");
        ProviderError::TooLarge {
            host: self.host.clone(),
            model: model.to_string(),
            limit: self.max_response_bytes,
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
            let mut u = Usage::default();
            u.input_tokens = u.take(
                "input_tokens",
                "prompt_eval_count",
                chunk.prompt_eval_count.as_deref(),
            );
            u.output_tokens = u.take("output_tokens", "eval_count", chunk.eval_count.as_deref());
            u.cached_input_tokens = u.take(
                "cached_input_tokens",
                "prompt_eval_cached_count",
                chunk.prompt_eval_cached_count.as_deref(),
            );
            u.load_duration_ns = u.take(
                "load_duration_ns",
                "load_duration",
                chunk.load_duration.as_deref(),
            );
            u.prompt_eval_duration_ns = u.take(
                "prompt_eval_duration_ns",
                "prompt_eval_duration",
                chunk.prompt_eval_duration.as_deref(),
            );
            u.eval_duration_ns = u.take(
                "eval_duration_ns",
                "eval_duration",
                chunk.eval_duration.as_deref(),
            );
            u.total_duration_ns = u.take(
                "total_duration_ns",
                "total_duration",
                chunk.total_duration.as_deref(),
            );
            out.usage = u;
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
        let url = format!("{}/api/chat", self.base);
        let mut resp = self
            .http
            .post(&url)
            .json(&self.body(req))
            .send()
            .await
            .map_err(|e| unreachable(&self.host, model, &e, true))?;
        let status = resp.status();
        if status.is_redirection() {
            return Err(ProviderError::Redirect {
                host: self.host.clone(),
                model: model.to_string(),
                status: status.as_u16(),
                location: location(&resp),
            });
        }
        if status != reqwest::StatusCode::OK {
            let text = error_text(resp).await;
            return Err(self.status_error(model, status.as_u16(), &text));
        }
        if !self.stream {
            return self.whole(model, &mut resp).await;
        }
        self.streamed(model, &mut resp, progress).await
    }
}

impl OllamaClient {
    /// A whole (not streamed) answer: one message, which must say `done`.
    async fn whole(
        &self,
        model: &str,
        resp: &mut reqwest::Response,
    ) -> Result<ChatResponse, ProviderError> {
        let mut out = ChatResponse::default();
        let body = read_capped(resp, self.max_response_bytes)
            .await
            .map_err(|e| self.interrupted(model, &e))?
            .map_err(|_| self.too_large(model))?;
        let chunk: ChatChunk =
            serde_json::from_slice(&body).map_err(|e| self.malformed(model, format!("{e}")))?;
        if !self.absorb(model, chunk, &mut out)? {
            return Err(self.malformed(model, "the response is not marked done".into()));
        }
        Ok(out)
    }

    /// A streamed answer: NDJSON messages as they arrive (each one counted for progress), up
    /// to the one that says `done`; everything received counts toward the size limit.
    async fn streamed(
        &self,
        model: &str,
        resp: &mut reqwest::Response,
        progress: &dyn TokenSink,
    ) -> Result<ChatResponse, ProviderError> {
        let mut out = ChatResponse::default();
        let mut lines = Lines::default();
        let mut received: u64 = 0;
        let mut chunks = 0u64;
        let mut done = false;
        while let Some(piece) = resp
            .chunk()
            .await
            .map_err(|e| self.interrupted(model, &e))?
        {
            // Everything that arrives counts, content or not: a stream that never says `done`
            // must end somewhere.
            received = received.saturating_add(piece.len() as u64);
            if received > self.max_response_bytes {
                return Err(self.too_large(model));
            }
            lines.push(&piece);
            while let Some(line) = lines.next_line() {
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
        let rest = lines.rest();
        if !rest.iter().all(u8::is_ascii_whitespace) {
            let chunk: ChatChunk = serde_json::from_slice(rest)
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

/// What `GET /api/tags` may hold: far more than any real host's list (~400 bytes a model).
pub const MAX_TAGS_BYTES: u64 = 8 * 1024 * 1024;
/// How many model names orc keeps from one host.
pub const MAX_MODELS: usize = 10_000;

/// The models a host has installed, and whether the list was cut short.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelList {
    pub models: Vec<String>,
    /// Why the list is incomplete (more than [`MAX_MODELS`] models, or a body over
    /// [`MAX_TAGS_BYTES`]), or `None` when it is whole.
    pub truncated: Option<String>,
}

/// `GET /api/tags`: the models a host has installed. At most [`MAX_TAGS_BYTES`] of the answer
/// are read and at most [`MAX_MODELS`] names kept, so a hostile host cannot take memory or time.
pub async fn installed_models(
    http: &reqwest::Client,
    host: &str,
) -> Result<ModelList, ProviderError> {
    let base = super::normalize_host(host);
    let host = redact(&base);
    tracing::debug!(host = %host, "listing installed models");
    let mut resp = http
        .get(format!("{base}/api/tags"))
        .send()
        .await
        .map_err(|e| unreachable(&host, "", &e, true))?;
    let status = resp.status();
    if status.is_redirection() {
        return Err(ProviderError::Redirect {
            host: host.clone(),
            model: String::new(),
            status: status.as_u16(),
            location: location(&resp),
        });
    }
    if status != reqwest::StatusCode::OK {
        let text = error_text(resp).await;
        return Err(ProviderError::Status {
            host,
            model: "/api/tags".into(),
            status: status.as_u16(),
            message: text.trim().chars().take(300).collect(),
        });
    }
    let mut body = Vec::new();
    let mut cut = false;
    while let Some(piece) = resp.chunk().await.map_err(|e| ProviderError::Interrupted {
        host: host.clone(),
        model: "/api/tags".into(),
        detail: describe(&e),
    })? {
        let room = (MAX_TAGS_BYTES as usize).saturating_sub(body.len());
        if piece.len() > room {
            body.extend_from_slice(&piece[..room]);
            cut = true;
            break;
        }
        body.extend_from_slice(&piece);
    }
    drop(resp);
    let mut list = parse_tags(&body, cut).map_err(|detail| ProviderError::Malformed {
        host: host.clone(),
        model: "/api/tags".into(),
        detail,
    })?;
    if let Some(why) = &list.truncated {
        tracing::warn!(host = %host, reason = %why, "model list truncated");
    }
    list.models.shrink_to_fit();
    Ok(list)
}

/// Reads the model names of an `/api/tags` answer, keeping at most [`MAX_MODELS`]. `cut`: the
/// body is only the first [`MAX_TAGS_BYTES`] of the answer, so it may end anywhere; the names
/// read before the cut are kept.
fn parse_tags(body: &[u8], cut: bool) -> Result<ModelList, String> {
    use serde::de::DeserializeSeed;
    let mut names = Vec::new();
    let mut total: u64 = 0;
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = tags::Top {
        names: &mut names,
        total: &mut total,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    let truncated = match parsed {
        Err(e) if !(cut && e.is_eof()) => return Err(e.to_string()),
        Err(_) => Some(format!(
            "the answer is larger than {}; the first {} models are listed",
            super::size(MAX_TAGS_BYTES),
            names.len()
        )),
        Ok(()) if total > names.len() as u64 => Some(format!(
            "the host lists {total} models; the first {} are listed",
            names.len()
        )),
        Ok(()) => None,
    };
    Ok(ModelList {
        models: names,
        truncated,
    })
}

/// serde visitors that walk `{"models": [{"name": ...}, ...]}` without building the document.
mod tags {
    use std::fmt;

    use serde::Deserializer;
    use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

    use super::MAX_MODELS;

    pub(super) struct Top<'a> {
        pub names: &'a mut Vec<String>,
        pub total: &'a mut u64,
    }

    impl<'de> DeserializeSeed<'de> for Top<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Top<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object with `models`")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                if key == "models" {
                    map.next_value_seed(Models {
                        names: &mut *self.names,
                        total: &mut *self.total,
                    })?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(())
        }
    }

    struct Models<'a> {
        names: &'a mut Vec<String>,
        total: &'a mut u64,
    }

    impl<'de> DeserializeSeed<'de> for Models<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Models<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of models")
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(name) = seq.next_element::<Model>()? {
                let Some(name) = name.0 else { continue };
                *self.total += 1;
                if self.names.len() < MAX_MODELS {
                    self.names.push(name);
                }
            }
            Ok(())
        }
    }

    /// One entry: its `name`, else its `model`, when that is a string.
    struct Model(Option<String>);

    impl<'de> serde::Deserialize<'de> for Model {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Model, D::Error> {
            d.deserialize_any(ModelVisitor)
        }
    }

    struct ModelVisitor;

    impl<'de> Visitor<'de> for ModelVisitor {
        type Value = Model;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a model entry")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Model, A::Error> {
            let (mut name, mut model) = (None, None);
            while let Some(key) = map.next_key::<String>()? {
                match key.as_str() {
                    "name" => name = map.next_value::<Text>()?.0,
                    "model" => model = map.next_value::<Text>()?.0,
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(Model(name.or(model)))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Model, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Model(None))
        }
        fn visit_str<E>(self, _: &str) -> Result<Model, E> {
            Ok(Model(None))
        }
        fn visit_bool<E>(self, _: bool) -> Result<Model, E> {
            Ok(Model(None))
        }
        fn visit_i64<E>(self, _: i64) -> Result<Model, E> {
            Ok(Model(None))
        }
        fn visit_u64<E>(self, _: u64) -> Result<Model, E> {
            Ok(Model(None))
        }
        fn visit_f64<E>(self, _: f64) -> Result<Model, E> {
            Ok(Model(None))
        }
        fn visit_unit<E>(self) -> Result<Model, E> {
            Ok(Model(None))
        }
    }

    /// A string value; anything else is skipped.
    struct Text(Option<String>);

    impl<'de> serde::Deserialize<'de> for Text {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
            d.deserialize_any(TextVisitor)
        }
    }

    struct TextVisitor;

    impl<'de> Visitor<'de> for TextVisitor {
        type Value = Text;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E>(self, v: &str) -> Result<Text, E> {
            Ok(Text(Some(v.chars().take(512).collect())))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Text, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Text(None))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Text, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Text(None))
        }
        fn visit_bool<E>(self, _: bool) -> Result<Text, E> {
            Ok(Text(None))
        }
        fn visit_i64<E>(self, _: i64) -> Result<Text, E> {
            Ok(Text(None))
        }
        fn visit_u64<E>(self, _: u64) -> Result<Text, E> {
            Ok(Text(None))
        }
        fn visit_f64<E>(self, _: f64) -> Result<Text, E> {
            Ok(Text(None))
        }
        fn visit_unit<E>(self) -> Result<Text, E> {
            Ok(Text(None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tags_list_is_read_whole_when_small() {
        let body =
            br#"{"models":[{"name":"a:1b","size":1},{"model":"b:2b"},{"size":3},{"name":7}]}"#;
        let l = parse_tags(body, false).expect("parse");
        assert_eq!(l.models, vec!["a:1b", "b:2b"]);
        assert_eq!(l.truncated, None);
        assert!(parse_tags(b"{\"models\": 3}", false).is_err());
        assert!(parse_tags(b"{\"models\": [", false).is_err());
    }

    #[test]
    fn a_long_tags_list_keeps_the_first_models_and_says_so() {
        let mut body = String::from("{\"models\":[");
        for i in 0..MAX_MODELS + 5 {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&format!("{{\"name\":\"m{i}\"}}"));
        }
        body.push_str("]}");
        let l = parse_tags(body.as_bytes(), false).expect("parse");
        assert_eq!(l.models.len(), MAX_MODELS);
        assert_eq!(l.models[0], "m0");
        assert!(
            l.truncated
                .as_deref()
                .is_some_and(|t| t.contains(&format!("lists {} models", MAX_MODELS + 5))),
            "{l:?}"
        );
        // Cut in the middle (the body was over MAX_TAGS_BYTES): what was read is kept.
        let cut = &body.as_bytes()[..body.len() / 2];
        let l = parse_tags(cut, true).expect("parse");
        assert!(!l.models.is_empty() && l.models.len() <= MAX_MODELS);
        assert!(
            l.truncated
                .as_deref()
                .is_some_and(|t| t.contains("larger than 8 MiB"))
        );
    }
}
