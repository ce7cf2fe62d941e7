//! Hashes of what decided a result.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::Work;
use super::script::ScriptInput;
use crate::compile::{Agent, Kind};
use crate::load::resolve::ScriptTarget;
use crate::pyfmt;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key of one script run in the script cache; `None` when the run is not cacheable (a primitive, or a file
/// that cannot be read).
pub fn script_key(
    target: &ScriptTarget,
    parameters: &Map<String, Value>,
    input: &ScriptInput,
) -> Option<String> {
    let mut h = Sha256::new();
    match target {
        ScriptTarget::File(path) => {
            h.update(b"file\0");
            h.update(path.to_string_lossy().as_bytes());
            h.update(b"\0");
            h.update(std::fs::read(path).ok()?);
        }
        ScriptTarget::Inline(text) => {
            h.update(b"inline\0");
            h.update(text.as_bytes());
        }
        ScriptTarget::Primitive(_) => return None,
    }
    h.update(b"\0input\0");
    match input {
        ScriptInput::Plain(t) => h.update(t.as_bytes()),
        ScriptInput::Schema { json, .. } => h.update(json.as_bytes()),
    }
    h.update(b"\0params\0");
    h.update(pyfmt::json_dumps(&sorted(&Value::Object(parameters.clone()))).as_bytes());
    Some(hex(&h.finalize()))
}

/// SHA-256 (hex) of a value's canonical form: JSON with every object's keys sorted, no spaces.
/// Stable across compiler and crate versions, unlike anything built from `Debug`.
pub fn canonical_hash(v: &Value) -> String {
    let text = serde_json::to_string(&sorted(v)).unwrap_or_default();
    hex(&Sha256::digest(text.as_bytes()))
}

/// The hash of everything that decides an agent's answer: what it runs on and what it is given.
/// `--resume` reuses an earlier result only when this matches.
pub(super) fn input_hash(agent: &Agent, work: &Work) -> String {
    canonical_hash(&json!({
        "agent": decided_by(&agent.kind),
        "input": work_input(work),
    }))
}

/// The agent's settings that decide its answer.
fn decided_by(kind: &Kind) -> Value {
    match kind {
        Kind::Llm(l) => json!({
            "kind": "llm",
            "model": l.model,
            "provider": l.provider.name(),
            "system_prompt": l.system_prompt,
            "options": l.options,
            "temperature": l.temperature,
            "max_tokens": l.max_tokens,
            "format": l.format,
            "think": l.think,
        }),
        Kind::Script {
            reference,
            parameters,
            ..
        } => json!({
            "kind": "script",
            "reference": reference,
            "parameters": parameters,
        }),
        other => json!({ "kind": other.label() }),
    }
}

/// What the agent is given.
fn work_input(work: &Work) -> Value {
    match work {
        Work::Text(t) | Work::Script(ScriptInput::Plain(t)) => json!({ "text": t }),
        Work::Script(ScriptInput::Schema { json, .. }) => json!({ "json": json }),
        Work::Child { input, child } => json!({ "child": child.name, "text": input }),
    }
}

/// The value with every object's keys sorted (the parameter part of the key ignores order).
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn llm_agent() -> Agent {
        let mut options = Map::new();
        options.insert("num_ctx".into(), json!(4096));
        options.insert("top_k".into(), json!(20));
        Agent {
            name: "critic".into(),
            depends_on: vec![],
            fan_out: false,
            input_key: None,
            input_scope: None,
            when: None,
            on_dependency_failure: Default::default(),
            timeout_seconds: 60.0,
            level: 0,
            kind: Kind::Llm(Box::new(crate::compile::LlmAgent {
                target: crate::compile::ModelTarget {
                    profile: Some("micro".into()),
                    model: "qwen3:0.6b".into(),
                    provider: crate::compile::ProviderKind::Ollama,
                    base_url: None,
                    temperature: Some(0.2),
                    max_tokens: Some(256),
                    options,
                    cost_per_token: None,
                },
                system_prompt: "You are a critic.".into(),
                format: None,
                think: Some(json!(false)),
                keep_alive: None,
                fallback_chain: vec![],
                fallbacks: vec![],
                size_b: Some(0.6),
            })),
        }
    }

    /// The input hash of a known agent and input is this exact value: a change to what is
    /// hashed, or how, changes what `--resume` reuses, and must be deliberate (README says an
    /// older artifact then reruns everything).
    #[test]
    fn the_input_hash_of_a_known_input_is_fixed() {
        let h = input_hash(&llm_agent(), &Work::Text("Review this.".into()));
        // The same as Python's sha256(json.dumps(v, sort_keys=True, separators=(",", ":"))).
        assert_eq!(
            h,
            "6f537a1712b24bb98e1eede3a943e294b72435d59e48d09c3e3c7c797ec5ed03"
        );
    }

    /// Options given in another order hash the same (the canonical form sorts keys).
    #[test]
    fn the_input_hash_ignores_key_order() {
        let a = llm_agent();
        let mut b = llm_agent();
        if let Kind::Llm(l) = &mut b.kind {
            let mut o = Map::new();
            o.insert("top_k".into(), json!(20));
            o.insert("num_ctx".into(), json!(4096));
            l.options = o;
        }
        let w = Work::Text("x".into());
        assert_eq!(input_hash(&a, &w), input_hash(&b, &w));
        assert_ne!(input_hash(&a, &w), input_hash(&a, &Work::Text("y".into())));
    }

    #[test]
    fn keys_follow_content_input_and_parameters() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s.sh");
        std::fs::write(&script, "echo 1").unwrap();
        let t = ScriptTarget::File(script.clone());
        let p: Map<String, Value> = serde_json::from_str("{\"a\": 1, \"b\": 2}").unwrap();
        let q: Map<String, Value> = serde_json::from_str("{\"b\": 2, \"a\": 1}").unwrap();
        let k1 = script_key(&t, &p, &ScriptInput::Plain("x".into())).unwrap();
        assert_eq!(
            k1,
            script_key(&t, &q, &ScriptInput::Plain("x".into())).unwrap()
        );
        assert_ne!(
            k1,
            script_key(&t, &p, &ScriptInput::Plain("y".into())).unwrap()
        );
        std::fs::write(&script, "echo 2").unwrap();
        assert_ne!(
            k1,
            script_key(&t, &p, &ScriptInput::Plain("x".into())).unwrap()
        );
        assert!(
            script_key(
                &ScriptTarget::Primitive("read_file".into()),
                &p,
                &ScriptInput::Plain("x".into())
            )
            .is_none()
        );
    }
}
