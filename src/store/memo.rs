//! One store for results worth keeping between runs: model answers (the result cache) and
//! script outputs (the script cache), each entry under `.llm-orc/cache/<kind>/<key>.json`, keyed
//! by the one stable input hash (`run::hash`).
//!
//! Entries are written atomically (a temporary file renamed over the entry), so a reader in any
//! process sees a whole entry or none; nothing needs a lock: two processes storing the same key
//! store the same answer, and an entry removed by another process's eviction is a miss. An entry
//! older than the age limit is a miss and is removed. When the entries of a kind exceed the size
//! cap, the least recently used go first (a hit refreshes the entry's modification time).
//!
//! Nothing is read, listed or removed through a link: a kind's folder (or `cache/` itself) that
//! is a symbolic link is left alone and said so. Every entry records where it was written (a
//! hash of the machine's id, and of the project folder): an entry written on another machine (a
//! `.llm-orc/cache` shipped in a cloned repository) or by an orc that did not record it is never
//! served (its answers were not computed here, and may have been planted), nor is one whose
//! `stored_at` lies in the future (it would never expire); `stats` counts each.

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
    /// Where the entries came from: written in this project on this machine, in another folder
    /// on this machine, elsewhere (another machine, or no origin recorded: never served), and
    /// stamped in the future (never served).
    pub origin: Origins,
    /// The kind's folder is a symbolic link: nothing in it was counted, read or removed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub linked: bool,
    /// Unix seconds of the oldest and newest entry's last use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_used: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest_used: Option<f64>,
}

/// Counts of entries by where they were written.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Origins {
    pub this_project: u64,
    pub other_folder: u64,
    pub elsewhere: u64,
    pub future: u64,
}

/// What `clear` did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cleared {
    pub entries: u64,
    pub bytes: u64,
    /// Kind folders left alone because they are symbolic links.
    pub links: Vec<PathBuf>,
}

/// A stamp from the future is older than this far ahead of the clock (clock steps between
/// processes of one machine are smaller).
const FUTURE_SLACK_SECS: f64 = 300.0;

/// A short hash of what identifies this machine (`/etc/machine-id`, else the host name), so an
/// entry says where it was written without carrying the id itself.
fn machine() -> &'static str {
    static M: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    M.get_or_init(|| {
        let id = [
            "/etc/machine-id",
            "/var/lib/dbus/machine-id",
            "/proc/sys/kernel/hostname",
        ]
        .iter()
        .find_map(|p| fs::read_to_string(p).ok().filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| "unknown".to_string());
        short_hash(id.trim())
    })
}

fn short_hash(s: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(s.as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Where an entry came from, against this store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provenance {
    ThisProject,
    OtherFolder,
    Elsewhere,
    Future,
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

    /// The folder of `kind` when it and `cache/` are real folders (not links), creating them
    /// if asked; `Err(path)` when one is a link.
    fn kind_dir(&self, kind: MemoKind, create: bool) -> Result<Option<PathBuf>, PathBuf> {
        let (Some(parent), Some(name)) = (
            self.dir.parent(),
            self.dir.file_name().and_then(|n| n.to_str()),
        ) else {
            return Ok(None);
        };
        match crate::store::atomic::real_dir(parent, &format!("{name}/{}", kind.folder()), create) {
            Ok(d) => Ok(d),
            Err(crate::store::atomic::ArtifactError::Link { path }) => Err(path),
            Err(_) => Ok(None),
        }
    }

    fn file(&self, kind: MemoKind, key: &str) -> Option<PathBuf> {
        if !valid_key(key) {
            return None;
        }
        let dir = self.kind_dir(kind, false).ok()??;
        Some(dir.join(format!("{key}.json")))
    }

    /// This project's folder, as entries record it.
    fn project(&self) -> String {
        short_hash(&self.dir.to_string_lossy())
    }

    fn provenance(&self, doc: &Value, now: f64) -> Provenance {
        if doc
            .get("stored_at")
            .and_then(Value::as_f64)
            .is_some_and(|t| t > now + FUTURE_SLACK_SECS)
        {
            return Provenance::Future;
        }
        let origin = doc.get("origin");
        let field = |k: &str| origin.and_then(|o| o.get(k)).and_then(Value::as_str);
        if field("machine") != Some(machine()) {
            Provenance::Elsewhere
        } else if field("project") == Some(self.project().as_str()) {
            Provenance::ThisProject
        } else {
            Provenance::OtherFolder
        }
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
        let now = unix(SystemTime::now());
        match self.provenance(&doc, now) {
            Provenance::ThisProject | Provenance::OtherFolder => {}
            Provenance::Elsewhere | Provenance::Future => return None,
        }
        if now - stored > self.limits.max_age.as_secs_f64() {
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
        if !valid_key(key) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{key}` is not a cache key"),
            ));
        }
        let path = match self.kind_dir(kind, true) {
            Ok(Some(dir)) => dir.join(format!("{key}.json")),
            Ok(None) => return Err(io::Error::other("cache folder missing")),
            Err(link) => {
                return Err(io::Error::other(format!(
                    "{} is a symbolic link; nothing is written through it",
                    link.display()
                )));
            }
        };
        let doc = json!({
            "stored_at": unix(SystemTime::now()),
            "kind": kind,
            "origin": {"machine": machine(), "project": self.project()},
            "value": value,
        });
        crate::store::atomic::write_atomic(&path, doc.to_string().as_bytes())
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.evict(kind);
        Ok(())
    }

    fn entries(&self, kind: MemoKind) -> Vec<Entry> {
        let Ok(Some(dir)) = self.kind_dir(kind, false) else {
            return Vec::new();
        };
        let Ok(rd) = fs::read_dir(dir) else {
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
                let now = unix(SystemTime::now());
                let mut origin = Origins::default();
                for e in &entries {
                    let doc = fs::read_to_string(&e.path)
                        .ok()
                        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                        .unwrap_or(Value::Null);
                    match self.provenance(&doc, now) {
                        Provenance::ThisProject => origin.this_project += 1,
                        Provenance::OtherFolder => origin.other_folder += 1,
                        Provenance::Elsewhere => origin.elsewhere += 1,
                        Provenance::Future => origin.future += 1,
                    }
                }
                KindStats {
                    kind,
                    entries: entries.len() as u64,
                    bytes: entries.iter().map(|e| e.bytes).sum(),
                    origin,
                    linked: self.kind_dir(kind, false).is_err(),
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

    /// Removes every entry of `kind` (all kinds when `None`), never through a link: a kind's
    /// folder that is one is left alone and listed.
    pub fn clear(&self, kind: Option<MemoKind>) -> Cleared {
        let kinds: Vec<MemoKind> = kind.map_or(MemoKind::ALL.to_vec(), |k| vec![k]);
        let mut out = Cleared::default();
        for k in kinds {
            if let Err(link) = self.kind_dir(k, false) {
                if !out.links.contains(&link) {
                    out.links.push(link);
                }
                continue;
            }
            for e in self.entries(k) {
                if fs::remove_file(&e.path).is_ok() {
                    out.entries += 1;
                    out.bytes += e.bytes;
                }
            }
        }
        out
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
        let old = json!({"stored_at": 1000.0, "kind": "llm", "value": 1,
            "origin": {"machine": machine(), "project": m.project()}});
        fs::write(&path, old.to_string()).expect("write");
        assert_eq!(m.get(MemoKind::Llm, K1), None);
        assert_eq!(m.stats()[0].entries, 0, "the stale entry is removed");
    }

    #[test]
    fn entries_from_the_future_or_from_elsewhere_are_misses_and_counted() {
        let d = tempfile::tempdir().expect("temp dir");
        let m = memo(d.path(), MemoLimits::default());
        m.put(MemoKind::Llm, K1, &json!(1)).expect("stored");
        let path = |k: &str| d.path().join("cache/llm").join(format!("{k}.json"));
        let here = json!({"machine": machine(), "project": m.project()});
        let future = json!({"stored_at": unix(SystemTime::now()) + 86_400.0 * 365.0,
            "kind": "llm", "value": 2, "origin": here});
        fs::write(path(K2), future.to_string()).expect("write");
        let shipped = json!({"stored_at": unix(SystemTime::now()), "kind": "llm", "value": 3,
            "origin": {"machine": "0000000000000000", "project": "x"}});
        fs::write(path(K3), shipped.to_string()).expect("write");
        assert_eq!(m.get(MemoKind::Llm, K1), Some(json!(1)));
        assert_eq!(m.get(MemoKind::Llm, K2), None, "from the future");
        assert_eq!(m.get(MemoKind::Llm, K3), None, "written on another machine");
        let o = m.stats()[0].origin;
        assert_eq!(
            o,
            Origins {
                this_project: 1,
                other_folder: 0,
                elsewhere: 1,
                future: 1
            }
        );
    }

    #[cfg(unix)]
    #[test]
    fn clear_and_stats_never_follow_a_linked_folder() {
        let d = tempfile::tempdir().expect("temp dir");
        let outside = d.path().join("outside");
        fs::create_dir_all(&outside).expect("mkdir");
        fs::write(outside.join(format!("{K1}.json")), "{}").expect("write");
        fs::create_dir_all(d.path().join("cache")).expect("mkdir");
        std::os::unix::fs::symlink(&outside, d.path().join("cache/llm")).expect("link");
        let m = memo(d.path(), MemoLimits::default());
        let c = m.clear(None);
        assert_eq!(c.entries, 0);
        assert_eq!(c.links, vec![d.path().join("cache/llm")]);
        assert!(
            outside.join(format!("{K1}.json")).exists(),
            "nothing removed outside"
        );
        assert!(m.stats()[0].linked);
        assert_eq!(m.get(MemoKind::Llm, K1), None);
        assert!(m.put(MemoKind::Llm, K2, &json!(1)).is_err());
        assert!(!outside.join(format!("{K2}.json")).exists());
        // cache/ itself a link: the same.
        fs::remove_file(d.path().join("cache/llm")).expect("unlink");
        fs::remove_dir(d.path().join("cache")).expect("rmdir");
        std::os::unix::fs::symlink(&outside, d.path().join("cache")).expect("link");
        fs::create_dir_all(outside.join("llm")).expect("mkdir");
        fs::write(outside.join(format!("llm/{K1}.json")), "{}").expect("write");
        assert_eq!(m.clear(None).entries, 0);
        assert!(outside.join(format!("llm/{K1}.json")).exists());
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
        assert_eq!(m.clear(Some(MemoKind::Scripts)).entries, 1);
        assert_eq!(m.stats()[0].entries, 1);
        assert_eq!(m.clear(None).entries, 1);
        assert!(m.stats().iter().all(|s| s.entries == 0));
    }
}
