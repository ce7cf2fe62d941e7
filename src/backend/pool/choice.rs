//! Choosing a host for a request: among the hosts that may have the model and whose breaker
//! lets a request through, the one ranking first (not avoided, reachable, known to have it,
//! not failing lately, loaded with a free slot, least busy, highest priority).

use std::sync::Arc;
use std::time::Instant;

use super::{BreakerState, DEFAULT_SLOTS, Host, HostPool, Lease, PoolError, Rank, lock, model_key};

/// What looking at one host for a request found.
enum Look {
    /// The host is known not to have the model.
    Lacks,
    /// Its breaker is open (or half open with a probe under way): why, for the message.
    Closed(String),
    Ranked(Rank),
}

impl HostPool {
    /// A host for `model`, avoiding the hosts in `avoid` (already failed for this request)
    /// while another host with the model is available.
    pub fn choose(self: &Arc<Self>, model: &str, avoid: &[String]) -> Result<Lease, PoolError> {
        let key = model_key(model);
        let now = Instant::now();
        let mut best: Option<(usize, Rank)> = None;
        let mut why = Vec::new();
        let mut anyone_might = false;
        let mut look_again = Vec::new();
        for (i, h) in self.hosts.iter().enumerate() {
            let (look, again) = self.look(h, &key, avoid, now);
            if again {
                look_again.push(i);
            }
            match look {
                Look::Lacks => continue,
                Look::Closed(w) => why.push(w),
                Look::Ranked(rank) => {
                    if best.as_ref().is_none_or(|(_, r)| rank < *r) {
                        best = Some((i, rank));
                    }
                }
            }
            anyone_might = true;
        }
        for i in look_again {
            let pool = self.clone();
            tokio::spawn(async move { pool.refresh_host(i).await });
        }
        let Some((i, _)) = best else {
            return Err(if anyone_might {
                PoolError::Unavailable {
                    model: model.to_string(),
                    why,
                }
            } else {
                PoolError::NotInstalled {
                    model: model.to_string(),
                    checked: self.urls(),
                }
            });
        };
        Ok(self.lease(i, key, now))
    }

    /// How host `h` ranks for model `key`, and whether to look at it again (a host found
    /// unreachable whose cool-down is over).
    fn look(&self, h: &Host, key: &str, avoid: &[String], now: Instant) -> (Look, bool) {
        let mut st = lock(&h.state);
        let has = st.has(key);
        if has == Some(false) {
            return (Look::Lacks, false);
        }
        let breaker = st.breaker(now);
        // A host found unreachable whose cool-down is over is looked at again, so that one
        // that came back is used again (a probe request would rank it last while unreachable).
        let again = breaker == BreakerState::HalfOpen
            && st.reachable == Some(false)
            && !st.probing
            && !st.refreshing;
        if again {
            st.refreshing = true;
        }
        if breaker == BreakerState::Open || (breaker == BreakerState::HalfOpen && st.probing) {
            let why = format!(
                "{} (circuit open after {} failures: {})",
                h.shown,
                st.failures,
                st.last_error.as_deref().unwrap_or("failing")
            );
            return (Look::Closed(why), again);
        }
        // Order: not avoided, reachable, known to have it, loaded, least busy, priority.
        // A loaded model is preferred only while the host has a free slot for it: past
        // that, another host with a free slot wins (one loaded host must not take it all).
        let saturated = st.in_flight >= h.cfg.per_model_limit.unwrap_or(DEFAULT_SLOTS);
        let rank = (
            avoid.contains(&h.shown),
            st.reachable == Some(false),
            has.is_none(),
            // A host whose last request failed within the cool-down (a hung one, say) only
            // when no other host ranks as well.
            st.failures > 0
                && st
                    .failed_at
                    .is_some_and(|t| now.duration_since(t) < self.settings.cool_down),
            !st.is_loaded(key) || saturated,
            st.in_flight,
            -h.cfg.priority,
        );
        (Look::Ranked(rank), again)
    }

    /// A claim on host `i` for model `key`: in flight from now, a probe when its breaker is
    /// half open.
    fn lease(self: &Arc<Self>, i: usize, key: String, now: Instant) -> Lease {
        let h = &self.hosts[i];
        let mut st = lock(&h.state);
        if st.breaker(now) == BreakerState::HalfOpen {
            st.probing = true;
        }
        st.in_flight += 1;
        Lease {
            pool: self.clone(),
            index: i,
            url: h.base.clone(),
            shown: h.shown.clone(),
            model: key,
            admitted: false,
            probe: st.probing,
        }
    }

    /// Whether a host outside `avoid` may take a request for `model` now: it may have the
    /// model and its breaker lets a request through.
    pub fn could_serve(&self, model: &str, avoid: &[String]) -> bool {
        let key = model_key(model);
        let now = Instant::now();
        self.hosts.iter().any(|h| {
            if avoid.contains(&h.shown) {
                return false;
            }
            let st = lock(&h.state);
            let breaker = st.breaker(now);
            st.has(&key) != Some(false)
                && st.reachable != Some(false)
                && !(breaker == BreakerState::Open
                    || (breaker == BreakerState::HalfOpen && st.probing))
        })
    }
}
