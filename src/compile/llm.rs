//! The effective settings of an LLM agent: its own keys over its model profile's, the fallback
//! chain, the provider, and the warnings about what orc cannot run as written.

use serde_json::{Map, Value as Json};

use super::Compiler;
use super::hints::{join_paths, list_names};
use super::model::{LlmAgent, ModelTarget, ProviderKind};
use crate::load::diag::{Sink, WithHint, closest};
use crate::load::project::ProfileEntry;
use crate::load::spec::{AgentKind, AgentSpec, LlmSpec, ProfileSpec};
use crate::load::yaml::Pos;

impl Compiler<'_> {
    pub(super) fn timeout(&self, a: &AgentSpec) -> f64 {
        let profile_timeout = match &a.kind {
            AgentKind::Llm(l) => l
                .model_profile
                .as_ref()
                .and_then(|p| self.project.profiles.get(&p.value))
                .and_then(|p| p.spec.timeout_seconds),
            _ => None,
        };
        a.timeout_seconds
            .or(profile_timeout)
            .unwrap_or(self.project.config.performance.default_timeout)
    }

    /// An LLM agent's effective settings: its profile found, model and provider required, the
    /// fallback chain followed, the provider read, and the endpoint and options checked.
    pub(super) fn resolve_llm(
        &self,
        a: &AgentSpec,
        l: &LlmSpec,
        sink: &mut Sink,
    ) -> Option<LlmAgent> {
        let profile = self.profile_of(a, l, sink)?;
        let pspec = profile.map(|p| &p.spec);
        let model = l
            .model
            .clone()
            .or_else(|| pspec.and_then(|p| p.model.clone()));
        let provider_name = l
            .provider
            .clone()
            .or_else(|| pspec.and_then(|p| p.provider.clone()));
        let pos = l.model_profile.as_ref().map_or(a.pos, |p| p.pos);
        let source = profile
            .map(|p| p.source.display().to_string())
            .unwrap_or_default();
        let (Some(model), Some(provider_name)) = (model, provider_name) else {
            if let Some(p) = profile {
                sink.error(
                    pos,
                    format!(
                        "model profile `{}` is incomplete: it needs both `model` and `provider`",
                        p.spec.name
                    ),
                )
                .hint(format!("complete the profile in {source}"));
            }
            return None;
        };
        let fallback_chain = self.fallback_chain(pspec, pos, sink);
        let fallbacks = self.fallback_targets(&fallback_chain);
        let provider = provider_kind(a, &provider_name, profile, &fallbacks, pos, sink)?;
        let base_url = l
            .base_url
            .clone()
            .or_else(|| pspec.and_then(|p| p.base_url.clone()));
        check_endpoint(a, &provider, base_url.as_deref(), pos, sink);
        let (options, think, keep_alive) = options(a, l, pspec, &provider, pos, sink);
        let target = ModelTarget {
            profile: l.model_profile.as_ref().map(|p| p.value.clone()),
            model,
            provider,
            base_url,
            temperature: l.temperature.or_else(|| pspec.and_then(|p| p.temperature)),
            max_tokens: l.max_tokens.or_else(|| pspec.and_then(|p| p.max_tokens)),
            options,
            cost_per_token: l
                .cost_per_token
                .or_else(|| pspec.and_then(|p| p.cost_per_token)),
        };
        Some(LlmAgent {
            size_b: model_size_b(&target.model),
            target,
            system_prompt: l
                .system_prompt
                .clone()
                .or_else(|| pspec.and_then(|p| p.system_prompt.clone()))
                .unwrap_or_else(|| {
                    format!("You are a {}. Provide helpful analysis.", a.name.value)
                }),
            format: l
                .response_format
                .clone()
                .or_else(|| l.ollama_format.clone()),
            think,
            keep_alive,
            fallback_chain,
            fallbacks,
        })
    }

    /// The agent's model profile: `Some(None)` without one, `None` (reported) when it names
    /// an unknown profile.
    fn profile_of(
        &self,
        a: &AgentSpec,
        l: &LlmSpec,
        sink: &mut Sink,
    ) -> Option<Option<&ProfileEntry>> {
        let profiles = &self.project.profiles;
        let Some(p) = &l.model_profile else {
            return Some(None);
        };
        if let Some(entry) = profiles.get(&p.value) {
            return Some(Some(entry));
        }
        let known: Vec<&str> = profiles.by_name.keys().map(String::as_str).collect();
        let diag = sink.error(
            p.pos,
            format!(
                "agent `{}` uses unknown model profile `{}`",
                a.name.value, p.value
            ),
        );
        let listed = if known.is_empty() {
            "none".to_string()
        } else {
            list_names(&known)
        };
        let near = closest(&p.value, known.iter().copied())
            .map(|n| format!("did you mean `{n}`? "))
            .unwrap_or_default();
        diag.hint(format!(
            "{near}known profiles: {listed}; looked in {}",
            join_paths(&profiles.searched)
        ));
        None
    }

    /// The targets of the fallback profiles orc can run, in chain order.
    fn fallback_targets(&self, fallback_chain: &[String]) -> Vec<ModelTarget> {
        let profiles = &self.project.profiles;
        fallback_chain
            .iter()
            .filter_map(|name| {
                let p = &profiles.get(name)?.spec;
                let provider = ProviderKind::parse(p.provider.as_deref()?)?;
                let mut options = p.options.clone();
                options.shift_remove("think");
                // Ollama takes keep_alive beside its options; an OpenAI-compatible server
                // gets it among them, where the profile put it (as llm-orc 0.25.2 sends it).
                if provider == ProviderKind::Ollama {
                    options.shift_remove("keep_alive");
                }
                Some(ModelTarget {
                    profile: Some(name.clone()),
                    model: p.model.clone()?,
                    provider,
                    base_url: p.base_url.clone(),
                    temperature: p.temperature,
                    max_tokens: p.max_tokens,
                    options,
                    cost_per_token: p.cost_per_token,
                })
            })
            .collect()
    }

    fn fallback_chain(
        &self,
        start: Option<&ProfileSpec>,
        pos: Pos,
        sink: &mut Sink,
    ) -> Vec<String> {
        let mut chain: Vec<String> = Vec::new();
        let mut next = start.and_then(|p| p.fallback_model_profile.clone());
        while let Some(name) = next {
            if chain.contains(&name) || start.is_some_and(|s| s.name == name) {
                let mut path: Vec<&str> = start.map(|s| s.name.as_str()).into_iter().collect();
                path.extend(chain.iter().map(String::as_str));
                path.push(&name);
                sink.warning(
                    pos,
                    format!("fallback profiles form a loop: {}", path.join(" -> ")),
                )
                .hint("the loop is cut where it repeats");
                break;
            }
            match self.project.profiles.get(&name) {
                Some(p) => {
                    next = p.spec.fallback_model_profile.clone();
                    chain.push(name);
                }
                None => {
                    sink.warning(pos, format!("fallback profile `{name}` does not exist"))
                        .hint("define it, or remove `fallback_model_profile`");
                    break;
                }
            }
        }
        chain
    }
}

/// The provider an agent names: an unknown one runs on the fallback when there is one (else it
/// is an error, None); a cloud one is warned about.
fn provider_kind(
    a: &AgentSpec,
    provider_name: &str,
    profile: Option<&ProfileEntry>,
    fallbacks: &[ModelTarget],
    pos: Pos,
    sink: &mut Sink,
) -> Option<ProviderKind> {
    let provider = match ProviderKind::parse(provider_name) {
        Some(p) => p,
        // As llm-orc: an unknown provider falls back at run time when the profile has a
        // fallback orc can run; without one it is an error.
        None => match (profile, fallbacks.first()) {
            (Some(p), Some(f)) => {
                sink.warning(pos, format!(
                    "model profile `{}` of agent `{}` uses unknown provider `{provider_name}`; the agent will run on its fallback profile `{}`",
                    p.spec.name, a.name.value, f.profile_name()
                ))
                .hint("orc runs `ollama` and `openai-compatible`; the result is marked model_substituted");
                ProviderKind::Unknown(provider_name.to_string())
            }
            _ => {
                sink.error(pos, format!("agent `{}` uses unknown provider `{provider_name}`", a.name.value))
                    .hint("orc runs `ollama` and `openai-compatible`; llm-orc also knows anthropic-api, anthropic-claude-pro-max and google-gemini; or give the profile a `fallback_model_profile` orc can run");
                return None;
            }
        },
    };
    if let ProviderKind::Cloud(_) = provider {
        let d = sink.warning(
            pos,
            format!(
                "agent `{}` uses cloud provider `{provider_name}`, which orc cannot run",
                a.name.value
            ),
        );
        match fallbacks.first() {
            Some(f) => d.hint(format!("invoke runs it on its fallback profile `{}`", f.profile_name())),
            None => d.hint("invoke will fail this agent; point the profile at a local model (provider: ollama) to run it"),
        }
    }
    Some(provider)
}

/// Warns about an https endpoint, and about an openai-compatible agent without one.
fn check_endpoint(
    a: &AgentSpec,
    provider: &ProviderKind,
    base_url: Option<&str>,
    pos: Pos,
    sink: &mut Sink,
) {
    if base_url.is_some_and(|u| u.starts_with("https://")) {
        sink.warning(pos, format!("agent `{}` points at an https endpoint; orc speaks plain HTTP to local model servers", a.name.value))
            .hint("use the server's http:// address (or a local proxy); requests to https will fail");
    }
    if *provider == ProviderKind::OpenaiCompatible && base_url.is_none() {
        sink.warning(
            pos,
            format!(
                "agent `{}` is openai-compatible but has no `base_url`",
                a.name.value
            ),
        )
        .hint("set base_url, e.g. http://localhost:11434/v1 for Ollama");
    }
}

/// The options sent (the agent's over the profile's, in the order written), with `think` and
/// Ollama's `keep_alive` taken out; checks `think` and the two format keys.
fn options(
    a: &AgentSpec,
    l: &LlmSpec,
    pspec: Option<&ProfileSpec>,
    provider: &ProviderKind,
    pos: Pos,
    sink: &mut Sink,
) -> (Map<String, Json>, Option<Json>, Option<Json>) {
    let mut options = pspec.map(|p| p.options.clone()).unwrap_or_default();
    for (k, v) in &l.options {
        options.insert(k.clone(), v.clone());
    }
    // shift_remove keeps the other options in the order written (they are sent in it).
    let think = options.shift_remove("think");
    if think.is_some() && *provider == ProviderKind::OpenaiCompatible {
        sink.error(
            pos,
            format!(
                "agent `{}` sets `options.think`, which an openai-compatible server cannot take",
                a.name.value
            ),
        )
        .hint("`think` works with `provider: ollama` (Ollama's own API) and `provider: llama-server` (as chat_template_kwargs); llm-orc 0.25.2 refuses it here too");
    }
    let keep_alive = if *provider == ProviderKind::Ollama {
        options.shift_remove("keep_alive")
    } else {
        None
    };
    if l.response_format.is_some() && l.ollama_format.is_some() {
        sink.warning(
            pos,
            format!(
                "agent `{}` sets both `response_format` and `ollama_format`; `response_format` is used",
                a.name.value
            ),
        )
        .hint("keep one: `response_format` is llm-orc 0.25's key, `ollama_format` 0.19's");
    }
    (options, think, keep_alive)
}

/// Reads a parameter count in billions from a model name: `qwen3:0.6b` -> 0.6,
/// `gemma3:12b-it-qat` -> 12, `smollm2:135m` -> 0.135. `None` when the name does not say.
pub fn model_size_b(model: &str) -> Option<f64> {
    let (base, tag) = match model.rsplit_once(':') {
        Some((b, t)) => (b, Some(t)),
        None => (model, None),
    };
    tag.and_then(size_in).or_else(|| size_in(base))
}

fn size_in(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    for (i, &c) in bytes.iter().enumerate() {
        if c != b'b' && c != b'm' {
            continue;
        }
        // The unit must end a token.
        if bytes.get(i + 1).is_some_and(|n| n.is_ascii_alphanumeric()) {
            continue;
        }
        let start = lower[..i]
            .rfind(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
            .map_or(0, |p| p + 1);
        if start == i {
            continue;
        }
        // `e2b` style (gemma3n:e2b) counts as the number after the letter.
        if let Ok(n) = lower[start..i].parse::<f64>() {
            return Some(if c == b'm' { n / 1000.0 } else { n });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(model_size_b("qwen3:0.6b"), Some(0.6));
        assert_eq!(model_size_b("gemma3:4b"), Some(4.0));
        assert_eq!(model_size_b("gemma3:12b-it-qat"), Some(12.0));
        assert_eq!(model_size_b("smollm2:135m"), Some(0.135));
        assert_eq!(model_size_b("llama3.2:1b"), Some(1.0));
        assert_eq!(model_size_b("llama3"), None);
        assert_eq!(model_size_b("mistral:latest"), None);
        assert_eq!(model_size_b("qwen2.5-coder:7b"), Some(7.0));
    }
}
