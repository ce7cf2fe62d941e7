//! Hashes of what decided a result.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::script::ScriptInput;
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
