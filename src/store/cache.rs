//! The optional script result cache's storage (the key is `run::hash::script_key`) (`performance.script_cache`, off by default as in llm-orc
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

use serde_json::{Value, json};

use crate::run::ScriptMemo;

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

impl ScriptCache {
    /// A cache kept in memory, and in `dir` when given.
    pub fn new(dir: Option<PathBuf>) -> ScriptCache {
        ScriptCache {
            dir,
            mem: Mutex::new(HashMap::new()),
        }
    }

    fn file(&self, key: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{key}.json")))
    }

    /// A stored response younger than the TTL.
    fn lookup(&self, key: &str) -> Option<Value> {
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
    fn store(&self, key: &str, response: &Value) {
        let at = now();
        self.remember(key, at, response.clone());
        if let Some(path) = self.file(key) {
            if let Some(d) = path.parent() {
                let _ = std::fs::create_dir_all(d);
            }
            let doc = json!({"stored_at": at, "response": response});
            let _ = crate::store::atomic::write_atomic(&path, doc.to_string().as_bytes());
        }
    }
}

impl ScriptMemo for ScriptCache {
    fn get(&self, key: &str) -> Option<Value> {
        self.lookup(key)
    }
    fn put(&self, key: &str, response: &Value) {
        self.store(key, response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
