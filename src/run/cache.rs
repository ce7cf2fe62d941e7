//! The optional script result cache (`performance.script_cache`, off by default as in llm-orc
//! 0.19). A result is keyed by what the script is (its resolved path and the bytes of the file,
//! or the inline text), what it is given and its parameters; so an edited script or a changed
//! input is a miss. Entries live for an hour; at most 1,000 are kept. Failures are never stored.
//! Built-in primitives are not cached: they read and write files and ask the user, and they are
//! fast.
//!
//! Entries are kept in memory and, when the project has a `.llm-orc/` directory, also in
//! `.llm-orc/cache/scripts/<key>.json` (written atomically), so separate `orc invoke` runs share
//! them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::script::ScriptInput;
use crate::load::resolve::ScriptTarget;
use crate::pyfmt;

/// How long an entry stays valid, in seconds.
pub const TTL_SECONDS: f64 = 3600.0;
/// Most entries kept in memory (the oldest go first).
pub const MAX_ENTRIES: usize = 1000;

pub struct ScriptCache {
    dir: Option<PathBuf>,
    mem: Mutex<HashMap<String, (f64, Value)>>,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ScriptCache {
    /// A cache kept in memory, and in `dir` when given.
    pub fn new(dir: Option<PathBuf>) -> ScriptCache {
        ScriptCache {
            dir,
            mem: Mutex::new(HashMap::new()),
        }
    }

    /// The key of one script run; `None` when the run is not cacheable (a primitive, or a file
    /// that cannot be read).
    pub fn key(
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

    fn file(&self, key: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{key}.json")))
    }

    /// A stored response younger than the TTL.
    pub fn get(&self, key: &str) -> Option<Value> {
        let t = now();
        {
            let mut mem = self.mem.lock().unwrap_or_else(|e| e.into_inner());
            match mem.get(key) {
                Some((at, v)) if t - at <= TTL_SECONDS => return Some(v.clone()),
                Some(_) => {
                    mem.remove(key);
                }
                None => {}
            }
        }
        let text = std::fs::read_to_string(self.file(key)?).ok()?;
        let doc: Value = serde_json::from_str(&text).ok()?;
        let at = doc["stored_at"].as_f64()?;
        if t - at > TTL_SECONDS {
            return None;
        }
        let v = doc.get("response")?.clone();
        self.remember(key, at, v.clone());
        Some(v)
    }

    fn remember(&self, key: &str, at: f64, v: Value) {
        let mut mem = self.mem.lock().unwrap_or_else(|e| e.into_inner());
        if mem.len() >= MAX_ENTRIES
            && !mem.contains_key(key)
            && let Some(oldest) = mem
                .iter()
                .min_by(|a, b| a.1.0.total_cmp(&b.1.0))
                .map(|(k, _)| k.clone())
        {
            mem.remove(&oldest);
        }
        mem.insert(key.to_string(), (at, v));
    }

    /// Stores a successful response. A failure to write the file only costs a later miss.
    pub fn put(&self, key: &str, response: &Value) {
        let at = now();
        self.remember(key, at, response.clone());
        if let Some(path) = self.file(key) {
            if let Some(d) = path.parent() {
                let _ = std::fs::create_dir_all(d);
            }
            let doc = json!({"stored_at": at, "response": response});
            let _ = crate::store::artifact::write_atomic(&path, doc.to_string().as_bytes());
        }
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

    #[test]
    fn keys_follow_content_input_and_parameters() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s.sh");
        std::fs::write(&script, "echo 1").unwrap();
        let t = ScriptTarget::File(script.clone());
        let p: Map<String, Value> = serde_json::from_str("{\"a\": 1, \"b\": 2}").unwrap();
        let q: Map<String, Value> = serde_json::from_str("{\"b\": 2, \"a\": 1}").unwrap();
        let k1 = ScriptCache::key(&t, &p, &ScriptInput::Plain("x".into())).unwrap();
        assert_eq!(
            k1,
            ScriptCache::key(&t, &q, &ScriptInput::Plain("x".into())).unwrap()
        );
        assert_ne!(
            k1,
            ScriptCache::key(&t, &p, &ScriptInput::Plain("y".into())).unwrap()
        );
        std::fs::write(&script, "echo 2").unwrap();
        assert_ne!(
            k1,
            ScriptCache::key(&t, &p, &ScriptInput::Plain("x".into())).unwrap()
        );
        assert!(
            ScriptCache::key(
                &ScriptTarget::Primitive("read_file".into()),
                &p,
                &ScriptInput::Plain("x".into())
            )
            .is_none()
        );
    }

    #[test]
    fn entries_survive_in_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let c = ScriptCache::new(Some(dir.path().to_path_buf()));
        c.put("k", &json!("v"));
        let again = ScriptCache::new(Some(dir.path().to_path_buf()));
        assert_eq!(again.get("k"), Some(json!("v")));
        assert_eq!(again.get("other"), None);
    }
}
