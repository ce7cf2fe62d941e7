//! The caches a run asks (`run::ScriptMemo`), as views of the one store (`store::memo`): the
//! script cache (`performance.script_cache`, off by default as in llm-orc 0.19; key
//! `run::hash::script_key`) is the store's `Scripts` kind, the result cache
//! (`performance.result_cache`; key `run::hash::input_hash`) its `Llm` kind. Both live under
//! `.llm-orc/cache/<kind>/`, so separate `orc invoke` runs share them.
//!
//! The script cache keeps its one-hour life (a script may read the clock or the network); its
//! size is capped by the memo's limit like the result cache's. Failures are never stored.
//! Built-in primitives are not cached: they read and write files and ask the user, and they are
//! fast.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::memo::{Memo, MemoKind, MemoLimits};
use crate::load::project::ResultCache;
use crate::run::ScriptMemo;

/// How long a script result stays valid, in seconds.
pub const SCRIPT_TTL_SECONDS: u64 = 3600;

/// One kind of the store, as a run asks it.
pub struct KindView {
    memo: Arc<Memo>,
    kind: MemoKind,
}

impl KindView {
    pub fn new(memo: Arc<Memo>, kind: MemoKind) -> KindView {
        KindView { memo, kind }
    }
}

impl ScriptMemo for KindView {
    fn get(&self, key: &str) -> Option<Value> {
        self.memo.get(self.kind, key)
    }
    fn put(&self, key: &str, response: &Value) {
        if let Err(e) = self.memo.put(self.kind, key, response) {
            tracing::warn!(kind = self.kind.folder(), "cache entry not stored: {e}");
        }
    }
}

/// The limits `performance.result_cache` sets (`max_mb`, `max_age_hours`).
pub fn limits(rc: &ResultCache) -> MemoLimits {
    let hours = if rc.max_age_hours.is_finite() && rc.max_age_hours > 0.0 {
        rc.max_age_hours
    } else {
        0.0
    };
    MemoLimits {
        max_bytes: rc.max_mb.saturating_mul(1024 * 1024),
        max_age: Duration::try_from_secs_f64(hours * 3600.0)
            .unwrap_or(MemoLimits::default().max_age),
    }
}

/// The project's cache folder (`.llm-orc/cache`) as the result cache's store.
pub fn results(local: &Path, rc: &ResultCache) -> Arc<Memo> {
    Arc::new(Memo::new(local.join("cache"), limits(rc)))
}

/// The project's cache folder as the script cache's store: one hour per entry.
pub fn scripts(local: &Path, rc: &ResultCache) -> Arc<Memo> {
    let mut l = limits(rc);
    l.max_age = Duration::from_secs(SCRIPT_TTL_SECONDS);
    Arc::new(Memo::new(local.join("cache"), l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_entries_survive_in_the_folder() {
        let dir = tempfile::tempdir().expect("temp dir");
        let rc = ResultCache::default();
        let key = "00112233445566778899aabbccddeeff";
        let c = KindView::new(scripts(dir.path(), &rc), MemoKind::Scripts);
        c.put(key, &serde_json::json!("v"));
        let again = KindView::new(scripts(dir.path(), &rc), MemoKind::Scripts);
        assert_eq!(again.get(key), Some(serde_json::json!("v")));
        let llm = KindView::new(results(dir.path(), &rc), MemoKind::Llm);
        assert_eq!(llm.get(key), None, "kinds are apart");
    }
}
