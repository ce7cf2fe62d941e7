//! Reading a model profile, from config.yaml's `model_profiles` or a file of its own.

use super::ProfileSpec;
use super::reader::Reader;
use crate::load::diag::WithHint;
use crate::load::yaml::Node;

const PROFILE_KEYS: &[&str] = &[
    "name",
    "model",
    "provider",
    "base_url",
    "system_prompt",
    "timeout_seconds",
    "cost_per_token",
    "temperature",
    "max_tokens",
    "options",
    "fallback_model_profile",
    "fallback",
    "description",
    "use",
];

/// Reads one profile mapping. `name` is the map key (config.yaml) or the `name:` field.
pub fn read_profile(r: &mut Reader<'_>, name: Option<&str>, node: &Node) -> Option<ProfileSpec> {
    let Some(entries) = node.as_map() else {
        r.sink.error(
            node.pos,
            format!(
                "a model profile must be a mapping, found {}",
                node.value.kind()
            ),
        );
        return None;
    };
    let mut p = ProfileSpec {
        name: name.unwrap_or_default().to_string(),
        pos: node.pos,
        ..ProfileSpec::default()
    };
    for e in entries {
        match e.key.as_str() {
            "name" => {
                if let Some(n) = r.string(e)
                    && name.is_none()
                {
                    p.name = n;
                }
            }
            "model" => p.model = r.model(e),
            "provider" => p.provider = r.string(e),
            "base_url" => p.base_url = r.string(e),
            "system_prompt" => p.system_prompt = r.text(e),
            "timeout_seconds" => p.timeout_seconds = r.seconds(e),
            "cost_per_token" => p.cost_per_token = r.number(e),
            "temperature" => p.temperature = r.number(e),
            "max_tokens" => p.max_tokens = r.unsigned(e),
            "options" => p.options = r.object(e),
            "fallback_model_profile" | "fallback" => p.fallback_model_profile = r.string(e),
            "description" | "use" => p.description = r.text(e),
            _ => r.unknown_key(e, "a model profile", PROFILE_KEYS),
        }
    }
    if p.name.is_empty() {
        r.sink
            .error(node.pos, "a profile file needs a `name:`")
            .hint("add `name: my-profile`; agents refer to profiles by this name");
        return None;
    }
    Some(p)
}
