//! The model types: how an agent reaches a model (`ProviderKind`), one model to call
//! (`ModelTarget`: what a router or host pool chooses among), and an LLM agent's settings (its
//! own target, its fallbacks' targets, and what it sends).

use std::ops::{Deref, DerefMut};

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value as Json};

/// How an agent reaches its model.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// Ollama's native `/api/chat`.
    Ollama,
    /// `POST {base_url}/chat/completions`.
    OpenaiCompatible,
    /// llama.cpp's `llama-server` (llm-orc 0.25): OpenAI-compatible, at `$LLAMA_SERVER_URL`
    /// (else `http://127.0.0.1:8080/v1`) when the profile has no `base_url`; `think` is sent
    /// as its `chat_template_kwargs.enable_thinking`.
    LlamaServer,
    /// A cloud provider llm-orc knows; it parses but orc cannot run it.
    Cloud(String),
    /// A provider nobody knows, on a profile with a fallback: the agent runs on the fallback.
    Unknown(String),
}

impl ProviderKind {
    pub fn parse(s: &str) -> Option<ProviderKind> {
        match s {
            "ollama" => Some(ProviderKind::Ollama),
            "openai-compatible" => Some(ProviderKind::OpenaiCompatible),
            "llama-server" => Some(ProviderKind::LlamaServer),
            s if s.starts_with("openai-compatible/") => Some(ProviderKind::OpenaiCompatible),
            "anthropic-api"
            | "anthropic-claude-pro-max"
            | "claude-cli"
            | "google-gemini"
            | "openai"
            | "anthropic"
            | "gemini" => Some(ProviderKind::Cloud(s.to_string())),
            _ => None,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            ProviderKind::Ollama => "ollama",
            ProviderKind::OpenaiCompatible => "openai-compatible",
            ProviderKind::LlamaServer => "llama-server",
            ProviderKind::Cloud(s) | ProviderKind::Unknown(s) => s,
        }
    }

    /// Spoken to through the OpenAI-compatible API (`/chat/completions`).
    pub fn speaks_openai(&self) -> bool {
        matches!(
            self,
            ProviderKind::OpenaiCompatible | ProviderKind::LlamaServer
        )
    }

    pub fn runnable(&self) -> bool {
        !matches!(self, ProviderKind::Cloud(_) | ProviderKind::Unknown(_))
    }
}

/// One model to call: the agent's own, or one of its fallback profiles'. The agent's prompt,
/// format, `think` and `keep_alive` are the agent's whichever target runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelTarget {
    /// The model profile it comes from (None when the agent names its model itself).
    pub profile: Option<String>,
    pub model: String,
    pub provider: ProviderKind,
    /// The server's address, if set (else `backend::hosts` decides).
    pub base_url: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    /// Provider options (`think` and `keep_alive` lifted out).
    pub options: Map<String, Json>,
    pub cost_per_token: Option<f64>,
}

impl ModelTarget {
    /// The profile's name, or "" for a model named by the agent.
    pub fn profile_name(&self) -> &str {
        self.profile.as_deref().unwrap_or("")
    }
}

/// An LLM agent's effective settings. Its own model's fields read through `Deref`
/// (`agent.model`), as every caller wants the primary target's.
#[derive(Debug, Clone)]
pub struct LlmAgent {
    /// The agent's own model (profile over agent keys, resolved).
    pub target: ModelTarget,
    pub system_prompt: String,
    pub format: Option<Json>,
    pub think: Option<Json>,
    /// Ollama's `keep_alive`, lifted out of `options` like `think`.
    pub keep_alive: Option<Json>,
    /// The profile's `fallback_model_profile` chain, resolved.
    pub fallback_chain: Vec<String>,
    /// The same chain's targets, in order.
    pub fallbacks: Vec<ModelTarget>,
    /// Parameter count in billions, read from the model tag (`qwen3:0.6b` -> 0.6).
    pub size_b: Option<f64>,
}

impl LlmAgent {
    /// The targets to try, in order: the agent's own, then each fallback.
    pub fn targets(&self) -> impl Iterator<Item = &ModelTarget> {
        std::iter::once(&self.target).chain(&self.fallbacks)
    }
}

impl Deref for LlmAgent {
    type Target = ModelTarget;
    fn deref(&self) -> &ModelTarget {
        &self.target
    }
}

impl DerefMut for LlmAgent {
    fn deref_mut(&mut self) -> &mut ModelTarget {
        &mut self.target
    }
}

/// The compiled form's JSON (`orc graph --format json`): the target's fields and the agent's
/// interleaved in the order they have always had, absent values left out.
impl Serialize for LlmAgent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = &self.target;
        let mut m = s.serialize_map(None)?;
        if let Some(v) = &t.profile {
            m.serialize_entry("profile", v)?;
        }
        m.serialize_entry("model", &t.model)?;
        m.serialize_entry("provider", &t.provider)?;
        if let Some(v) = &t.base_url {
            m.serialize_entry("base_url", v)?;
        }
        m.serialize_entry("system_prompt", &self.system_prompt)?;
        if let Some(v) = &t.temperature {
            m.serialize_entry("temperature", v)?;
        }
        if let Some(v) = &t.max_tokens {
            m.serialize_entry("max_tokens", v)?;
        }
        if !t.options.is_empty() {
            m.serialize_entry("options", &t.options)?;
        }
        for (key, v) in [
            ("format", &self.format),
            ("think", &self.think),
            ("keep_alive", &self.keep_alive),
        ] {
            if let Some(v) = v {
                m.serialize_entry(key, v)?;
            }
        }
        if let Some(v) = &t.cost_per_token {
            m.serialize_entry("cost_per_token", v)?;
        }
        if !self.fallback_chain.is_empty() {
            m.serialize_entry("fallback_chain", &self.fallback_chain)?;
        }
        if let Some(v) = &self.size_b {
            m.serialize_entry("size_b", v)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `orc graph --format json` shows an LLM agent's keys in the order they always had, the
    /// target's fields interleaved with the agent's, and leaves out what is unset.
    #[test]
    fn an_llm_agent_serialises_in_the_documented_order() {
        let mut options = Map::new();
        options.insert("num_ctx".into(), json!(2048));
        let full = LlmAgent {
            target: ModelTarget {
                profile: Some("p".into()),
                model: "m".into(),
                provider: ProviderKind::OpenaiCompatible,
                base_url: Some("http://h".into()),
                temperature: Some(0.5),
                max_tokens: Some(9),
                options,
                cost_per_token: Some(0.1),
            },
            system_prompt: "s".into(),
            format: Some(json!("json")),
            think: Some(json!(false)),
            keep_alive: Some(json!("5m")),
            fallback_chain: vec!["q".into()],
            fallbacks: vec![],
            size_b: Some(1.0),
        };
        assert_eq!(
            serde_json::to_string(&full).unwrap(),
            r#"{"profile":"p","model":"m","provider":"openai-compatible","base_url":"http://h","system_prompt":"s","temperature":0.5,"max_tokens":9,"options":{"num_ctx":2048},"format":"json","think":false,"keep_alive":"5m","cost_per_token":0.1,"fallback_chain":["q"],"size_b":1.0}"#
        );
        let bare = LlmAgent {
            target: ModelTarget {
                profile: None,
                model: "m".into(),
                provider: ProviderKind::Ollama,
                base_url: None,
                temperature: None,
                max_tokens: None,
                options: Map::new(),
                cost_per_token: None,
            },
            system_prompt: "s".into(),
            format: None,
            think: None,
            keep_alive: None,
            fallback_chain: vec![],
            fallbacks: vec![],
            size_b: None,
        };
        assert_eq!(
            serde_json::to_string(&bare).unwrap(),
            r#"{"model":"m","provider":"ollama","system_prompt":"s"}"#
        );
        assert_eq!(full.targets().count(), 1);
    }
}
