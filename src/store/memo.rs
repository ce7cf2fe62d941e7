//! One store for results worth keeping between runs: model answers (the result cache) and
//! script outputs (the script cache), each entry under `.llm-orc/cache/<kind>/<key>.json`, keyed
//! by the one stable input hash (`run::hash`).
//!
//! Entries are written atomically (a temporary file renamed over the entry), so a reader in any
//! process sees a whole entry or none; nothing needs a lock: two processes storing the same key
//! store the same answer, and an entry removed by another process's eviction is a miss. An entry
//! older than the age limit is a miss and is removed. When the entries of a kind exceed the size
//! cap, the least recently used go first (a hit refreshes the entry's modification time).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Value, json};

/// What a store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoKind {
    /// Model answers (`performance.result_cache`).
    Llm,
    /// Script outputs (`performance.script_cache`).
    Scripts,
}

impl MemoKind {
    pub const ALL: [MemoKind; 2] = [MemoKind::Llm, MemoKind::Scripts];

    pub fn folder(self) -> &'static str {
        match self {
            MemoKind::Llm => "llm",
            MemoKind::Scripts => "scripts",
        }
    }
}

/// How much a store may hold.
#[derive(Debug, Clone, Copy)]
pub struct MemoLimits {
    /// Bytes per kind before the least recently used entries go.
    pub max_bytes: u64,
    /// Entries older than this are misses.
    pub max_age: Duration,
}

impl Default for MemoLimits {
    fn default() -> Self {
        MemoLimits {
            max_bytes: 256 * 1024 * 1024,
            max_age: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// One kind's entries, as `orc cache stats` shows them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KindStats {
    pub kind: MemoKind,
    pub entries: u64,
    pub bytes: u64,
    /// Unix seconds of the oldest and newest entry's last use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_used: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest_used: Option<f64>,
}

/// A cache folder (`.llm-orc/cache`).
#[derive(Debug)]
pub struct Memo {
    dir: PathBuf,
    limits: MemoLimits,
    hits: AtomicU64,
    misses: AtomicU64,
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A key is the hex of a hash: anything else never names a file.
fn valid_key(key: &str) -> bool {
    (16..=128).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_hexdigit())
}

struct Entry {
    path: PathBuf,
    bytes: u64,
    used: SystemTime,
}

impl Memo {
    pub fn new(dir: PathBuf, limits: MemoLimits) -> Memo {
        Memo {
            dir,
            limits,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, kind: MemoKind, key: &str) -> Option<PathBuf> {
        valid_key(key).then(|| self.dir.join(kind.folder()).join(format!("{key}.json")))
    }

    /// The stored value for `key`, if one younger than the age limit exists.
    pub fn get(&self, kind: MemoKind, key: &str) -> Option<Value> {
        let found = self.read(kind, key);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn read(&self, kind: MemoKind, key: &str) -> Option<Value> {
        let path = self.file(kind, key)?;
        let meta = fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() {
            return None;
        }
        let text = fs::read_to_string(&path).ok()?;
        let doc: Value = serde_json::from_str(&text).ok()?;
        let stored = doc.get("stored_at").and_then(Value::as_f64)?;
        if unix(SystemTime::now()) - stored > self.limits.max_age.as_secs_f64() {
            let _ = fs::remove_file(&path);
            return None;
        }
        // A hit is a use: the least recently used entries are evicted first.
        if let Ok(f) = fs::File::options().append(true).open(&path) {
            let _ = f.set_modified(SystemTime::now());
        }
        doc.get("value").cloned()
    }

    /// Stores `value` under `key`, then evicts the least recently used entries of this kind
    /// beyond the size cap. A failure costs only a later miss, and is returned for logging.
    pub fn put(&self, kind: MemoKind, key: &str, value: &Value) -> io::Result<()> {
        let Some(path) = self.file(kind, key) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{key}` is not a cache key"),
            ));
        };
        let folder = crate::store::atomic::real_dir(&self.dir, kind.folder(), true)
            .map_err(|e| io::Error::other(e.to_string()))?;
        if folder.is_none() {
            return Err(io::Error::other("cache folder missing"));
        }
        let doc = json!({"stored_at": unix(SystemTime::now()), "kind": kind, "value": value});
        crate::store::atomic::write_atomic(&path, doc.to_string().as_bytes())
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.evict(kind);
        Ok(())
    }

    fn entries(&self, kind: MemoKind) -> Vec<Entry> {
        let Ok(rd) = fs::read_dir(self.dir.join(kind.folder())) else {
            return Vec::new();
        };
        rd.filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                meta.is_file().then(|| Entry {
                    path: e.path(),
                    bytes: meta.len(),
                    used: meta.modified().unwrap_or(UNIX_EPOCH),
                })
            })
            .collect()
    }

    fn evict(&self, kind: MemoKind) {
        let mut entries = self.entries(kind);
        let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
        if total <= self.limits.max_bytes {
            return;
        }
        entries.sort_by_key(|e| e.used);
        for e in entries {
            if total <= self.limits.max_bytes {
                break;
            }
            if fs::remove_file(&e.path).is_ok() {
                total = total.saturating_sub(e.bytes);
            }
        }
    }

    /// Entries and bytes per kind.
    pub fn stats(&self) -> Vec<KindStats> {
        MemoKind::ALL
            .iter()
            .map(|&kind| {
                let entries = self.entries(kind);
                KindStats {
                    kind,
                    entries: entries.len() as u64,
                    bytes: entries.iter().map(|e| e.bytes).sum(),
                    oldest_used: entries.iter().map(|e| e.used).min().map(unix),
                    newest_used: entries.iter().map(|e| e.used).max().map(unix),
                }
            })
            .collect()
    }

    /// Hits and misses of this process so far.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Removes every entry of `kind` (all kinds when `None`); returns entries and bytes removed.
    pub fn clear(&self, kind: Option<MemoKind>) -> (u64, u64) {
        let kinds: Vec<MemoKind> = kind.map_or(MemoKind::ALL.to_vec(), |k| vec![k]);
        let (mut n, mut bytes) = (0, 0);
        for k in kinds {
            for e in self.entries(k) {
                if fs::remove_file(&e.path).is_ok() {
                    n += 1;
                    bytes += e.bytes;
                }
            }
        }
        (n, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "00112233445566778899aabbccddeeff";
    const K2: &str = "ffeeddccbbaa99887766554433221100";
    const K3: &str = "0123456789abcdef0123456789abcdef";

    fn memo(dir: &Path, limits: MemoLimits) -> Memo {
        Memo::new(dir.join("cache"), limits)
    }

    #[test]
    fn a_value_survives_in_another_process_view_and_kinds_are_apart() {
        let d = tempfile::tempdir().expect("temp dir");
        let a = memo(d.path(), MemoLimits::default());
        a.put(MemoKind::Llm, K1, &json!({"response": "hi"}))
            .expect("stored");
        let b = memo(d.path(), MemoLimits::default());
        assert_eq!(b.get(MemoKind::Llm, K1), Some(json!({"response": "hi"})));
        assert_eq!(b.get(MemoKind::Scripts, K1), None);
        assert_eq!(b.hits_and_misses(), (1, 1));
    }

    #[test]
    fn keys_that_are_not_hashes_never_name_a_file() {
        let d = tempfile::tempdir().expect("temp dir");
        let m = memo(d.path(), MemoLimits::default());
        for bad in [
            "../../etc/passwd",
            "abc",
            "zz112233445566778899aabbccddeeff",
        ] {
            assert!(m.put(MemoKind::Llm, bad, &json!(1)).is_err(), "{bad}");
            assert_eq!(m.get(MemoKind::Llm, bad), None);
        }
    }

    #[test]
    fn old_entries_are_misses() {
        let d = tempfile::tempdir().expect("temp dir");
        let m = memo(d.path(), MemoLimits::default());
        m.put(MemoKind::Llm, K1, &json!(1)).expect("stored");
        assert_eq!(m.get(MemoKind::Llm, K1), Some(json!(1)));
        // The same entry stored long ago (past the week's age limit).
        let path = d.path().join("cache/llm").join(format!("{K1}.json"));
        fs::write(&path, r#"{"stored_at": 1000.0, "kind": "llm", "value": 1}"#).expect("write");
        assert_eq!(m.get(MemoKind::Llm, K1), None);
        assert_eq!(m.stats()[0].entries, 0, "the stale entry is removed");
    }

    #[test]
    fn over_the_cap_the_least_recently_used_goes_first() {
        let d = tempfile::tempdir().expect("temp dir");
        let big = json!("x".repeat(1000));
        let probe = memo(d.path(), MemoLimits::default());
        probe.put(MemoKind::Llm, K1, &big).expect("stored");
        let one = probe.stats()[0].bytes;
        let m = memo(
            d.path(),
            MemoLimits {
                // Room for two entries and part of a third: entry sizes differ by a few bytes
                // (the digits of `stored_at`), so an exact `one * 2` could evict early.
                max_bytes: one * 2 + one / 2,
                ..MemoLimits::default()
            },
        );
        m.put(MemoKind::Llm, K2, &big).expect("stored");
        // Make K1 the most recently used (explicit times: no reliance on the clock's grain).
        let path = |k: &str| d.path().join("cache/llm").join(format!("{k}.json"));
        let set = |k: &str, secs: u64| {
            fs::File::options()
                .append(true)
                .open(path(k))
                .and_then(|f| f.set_modified(UNIX_EPOCH + Duration::from_secs(secs)))
                .expect("set mtime");
        };
        set(K2, 1_000);
        set(K1, 2_000);
        m.put(MemoKind::Llm, K3, &big).expect("stored");
        assert!(path(K1).exists() && path(K3).exists());
        assert!(
            !path(K2).exists(),
            "the least recently used entry is evicted"
        );
    }

    #[test]
    fn clear_removes_one_kind_or_all() {
        let d = tempfile::tempdir().expect("temp dir");
        let m = memo(d.path(), MemoLimits::default());
        m.put(MemoKind::Llm, K1, &json!(1)).expect("stored");
        m.put(MemoKind::Scripts, K2, &json!(2)).expect("stored");
        assert_eq!(m.clear(Some(MemoKind::Scripts)).0, 1);
        assert_eq!(m.stats()[0].entries, 1);
        assert_eq!(m.clear(None).0, 1);
        assert!(m.stats().iter().all(|s| s.entries == 0));
    }
}
