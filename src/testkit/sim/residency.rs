//! Model residency in the simulator (`max_loaded` > 0): which models are loaded, least
//! recently used first, and the wait of a request whose model is not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{State, lock};

/// Whether a model is on its way in or ready.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Load {
    Loading,
    Ready,
}

/// Which models are loaded, least recently used first.
#[derive(Default)]
pub(super) struct Resident {
    pub(super) loaded: Vec<(String, Load)>,
    /// Requests using or awaiting each model.
    pub(super) refs: HashMap<String, usize>,
    pub(super) loads: u64,
    pub(super) evictions: u64,
}

/// Model residency: the state and a wake-up for requests waiting on it.
#[derive(Default)]
pub(super) struct Residency {
    pub(super) state: Mutex<Resident>,
    pub(super) changed: tokio::sync::Notify,
}

/// A request's hold on its model: released (and waiters woken) when dropped, also when the
/// client goes away mid-wait; a load that never finished is undone.
pub(super) struct Hold {
    st: Arc<State>,
    model: String,
    loading: bool,
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut r = lock(&self.st.residency.state);
        if let Some(n) = r.refs.get_mut(&self.model) {
            *n = n.saturating_sub(1);
        }
        if self.loading {
            r.loaded.retain(|(m, _)| *m != self.model);
        }
        drop(r);
        self.st.residency.changed.notify_waiters();
    }
}

/// What waiting for a model decided.
enum Admit {
    Ready,
    Load,
    Wait,
}

impl Resident {
    fn admit(&mut self, model: &str, max: usize) -> Admit {
        if let Some(i) = self.loaded.iter().position(|(m, _)| m == model) {
            if self.loaded[i].1 == Load::Loading {
                return Admit::Wait;
            }
            let entry = self.loaded.remove(i);
            self.loaded.push(entry);
            return Admit::Ready;
        }
        if self.loaded.len() >= max {
            let idle = self.loaded.iter().position(|(m, l)| {
                *l == Load::Ready && self.refs.get(m).copied().unwrap_or(0) == 0
            });
            match idle {
                Some(i) => {
                    self.loaded.remove(i);
                    self.evictions += 1;
                }
                None => return Admit::Wait,
            }
        }
        self.loaded.push((model.to_string(), Load::Loading));
        self.loads += 1;
        Admit::Load
    }
}

impl State {
    /// What `/api/ps` lists: the ready models under residency, else every model served so far.
    pub(super) fn loaded_models(&self) -> Vec<String> {
        if self.cfg.max_loaded == 0 {
            return lock(&self.counters).served.iter().cloned().collect();
        }
        lock(&self.residency.state)
            .loaded
            .iter()
            .filter(|(_, l)| *l == Load::Ready)
            .map(|(m, _)| m.clone())
            .collect()
    }

    /// Waits until `model` is loaded, loading it (and evicting an idle one) when there is room.
    /// `None` without residency; else the hold and the time spent loading.
    pub(super) async fn hold(self: &Arc<Self>, model: &str) -> Option<(Hold, Duration)> {
        if self.cfg.max_loaded == 0 {
            return None;
        }
        *lock(&self.residency.state)
            .refs
            .entry(model.to_string())
            .or_insert(0) += 1;
        let mut hold = Hold {
            st: self.clone(),
            model: model.to_string(),
            loading: false,
        };
        let started = Instant::now();
        loop {
            let changed = self.residency.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let admit = lock(&self.residency.state).admit(model, self.cfg.max_loaded);
            match admit {
                Admit::Ready => return Some((hold, started.elapsed())),
                Admit::Wait => changed.await,
                Admit::Load => {
                    hold.loading = true;
                    tokio::time::sleep(self.cfg.load_time).await;
                    let mut r = lock(&self.residency.state);
                    if let Some(e) = r.loaded.iter_mut().find(|(m, _)| m == model) {
                        e.1 = Load::Ready;
                    }
                    drop(r);
                    hold.loading = false;
                    self.residency.changed.notify_waiters();
                    return Some((hold, started.elapsed()));
                }
            }
        }
    }
}
