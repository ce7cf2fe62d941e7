//! How a request went, as the pool hears it through its [`Lease`]: success closes the host's
//! breaker, failures count toward opening it (connection errors, resets, 5xx, timeouts), and a
//! missing model corrects what the pool believes is installed.

use std::collections::BTreeSet;
use std::time::Instant;

use super::{BreakerState, Lease, lock};
use crate::backend::ProviderError;

impl Lease {
    /// Whether a request holding this lease should go elsewhere before it is sent (the caller
    /// asks only while another host could take it): the host's last request got no answer in
    /// time and none succeeded since (a hung host: trying costs a whole timeout). A host that
    /// refuses fails fast, so its queued requests still try it (and find it when it is back). A
    /// probe's lease is never turned away.
    pub fn turned_away(&self) -> bool {
        !self.probe && lock(&self.host().state).hung
    }

    /// The request was answered.
    pub fn succeeded(&self) {
        let h = self.host();
        let mut st = lock(&h.state);
        st.failures = 0;
        st.hung = false;
        st.open_until = None;
        st.probing = false;
        st.reachable = Some(true);
        st.served += 1;
        let capacity = h.cfg.max_loaded_models.or(st.observed_capacity);
        st.mark_loaded(&self.model, capacity);
    }

    /// The request failed. Connection errors, resets and 5xx count toward the breaker; a
    /// missing model corrects what the pool believes is installed there.
    pub fn failed(&self, e: &ProviderError) {
        let h = self.host();
        let mut st = lock(&h.state);
        if let ProviderError::ModelMissing { .. } = e {
            if let Some(set) = st.installed.as_mut() {
                set.remove(&self.model);
            } else {
                st.installed = Some(BTreeSet::new());
            }
            st.probing = false;
            return;
        }
        if !e.retryable() {
            st.probing = false;
            return;
        }
        if matches!(e, ProviderError::Unreachable { .. }) {
            st.reachable = Some(false);
        }
        st.hung = false;
        drop(st);
        self.count_failure(e.to_string());
    }

    /// The request got no answer in time (the agent's timeout, or the idle deadline): a hung
    /// or dripping host has failed like one that resets, and its breaker counts it.
    pub fn timed_out(&self, why: &str) {
        lock(&self.host().state).hung = true;
        self.count_failure(why.to_string());
    }

    fn count_failure(&self, why: String) {
        let h = self.host();
        let mut st = lock(&h.state);
        st.failures = st.failures.saturating_add(1);
        st.failed_at = Some(Instant::now());
        st.last_error = Some(why);
        if self.probe || st.failures >= self.pool.settings.failures_to_open {
            let now = Instant::now();
            if st.breaker(now) != BreakerState::Open {
                st.opened = st.opened.saturating_add(1);
            }
            st.open_until = Some(now + self.pool.settings.cool_down);
            tracing::warn!(host = %h.shown, failures = st.failures, "circuit opened");
        }
        st.probing = false;
    }

    /// Looks at this host again in the background (after a failure).
    pub fn refresh_later(&self) {
        let pool = self.pool.clone();
        let i = self.index;
        tokio::spawn(async move { pool.refresh_host(i).await });
    }
}
