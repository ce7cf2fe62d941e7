//! The residency gate: on a host that holds few models at once, a request that would force a
//! load waits while the models in use there still have work. Waiting requests go in order of:
//! model already loaded, then the longest remaining path to the end of the ensemble, then
//! arrival.

use super::{Host, HostState, Lease, lock};

#[derive(Debug, Clone)]
pub(super) struct Waiter {
    pub(super) ticket: u64,
    pub(super) model: String,
    pub(super) priority: u64,
}

impl HostState {
    pub(super) fn mark_loaded(&mut self, key: &str, capacity: Option<usize>) {
        self.loaded.retain(|m| m != key);
        self.loaded.push(key.to_string());
        if let Some(k) = capacity {
            let over = self.loaded.len().saturating_sub(k.max(1));
            self.loaded.drain(..over);
        }
    }

    /// Whether the residency gate lets the waiter with `ticket` in now.
    pub(super) fn admits(&self, ticket: u64, capacity: usize) -> bool {
        let Some(me) = self.waiting.iter().find(|w| w.ticket == ticket) else {
            return false;
        };
        if self.active.contains_key(&me.model) {
            return true;
        }
        if self.active.len() >= capacity.max(1) {
            return false;
        }
        // Room for another model: the best waiting model that is not in use goes first.
        let best = self
            .waiting
            .iter()
            .filter(|w| !self.active.contains_key(&w.model))
            .min_by_key(|w| {
                (
                    !self.is_loaded(&w.model),
                    std::cmp::Reverse(w.priority),
                    w.ticket,
                )
            });
        best.is_some_and(|b| b.model == me.model)
    }
}

impl Lease {
    /// Waits at the host's residency gate (a no-op on a host without `max_loaded_models`):
    /// `priority` is the agent's remaining path to the end of the ensemble.
    pub async fn admit(&mut self, priority: u64) {
        let capacity = {
            let h = self.host();
            h.cfg
                .max_loaded_models
                .or_else(|| lock(&h.state).observed_capacity)
        };
        let Some(capacity) = capacity else {
            return;
        };
        let host = &self.pool.hosts[self.index];
        let ticket = {
            let mut st = lock(&host.state);
            st.next_ticket += 1;
            let ticket = st.next_ticket;
            st.waiting.push(Waiter {
                ticket,
                model: self.model.clone(),
                priority,
            });
            ticket
        };
        // Leaves the queue even if this future is dropped while waiting.
        let mut queued = Queued { host, ticket };
        loop {
            let changed = host.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut st = lock(&host.state);
                if st.admits(ticket, capacity) {
                    st.waiting.retain(|w| w.ticket != ticket);
                    *st.active.entry(self.model.clone()).or_insert(0) += 1;
                    queued.ticket = 0;
                    self.admitted = true;
                    break;
                }
            }
            changed.await;
        }
        drop(queued);
    }
}

/// A place in a residency queue, given up when dropped (ticket 0: already admitted).
struct Queued<'a> {
    host: &'a Host,
    ticket: u64,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if self.ticket != 0 {
            lock(&self.host.state)
                .waiting
                .retain(|w| w.ticket != self.ticket);
            self.host.changed.notify_waiters();
        }
    }
}
