//! One delegated invoke, the same for both fronts (`orc invoke` and MCP `invoke`): the run,
//! its free checks (retried locally, or escalated to Claude, before delivery) and the routing
//! record that logs it for learning. Cancellation comes in with the options (their watch
//! channel, which every retry shares) and progress goes out on their event channel; what is a
//! front's own stays there (the terminal's Ctrl-C and progress line, an MCP request's
//! cancellation, progress notifications and hand-over accounting).

use crate::learn::LearnError;
use crate::learn::deliver::{self, Checked, Request};
use crate::learn::records::{self, RoutingRecord};
use crate::learn::service::{Learning, RunExtras};
use crate::service::{Invocation, InvokeOptions, Service, ServiceError};

/// Makes the options of another run of the same ensemble (a local retry, or a sample after a
/// failed free check): the same host, budget and cancellation as the first.
pub type Again<'a> = &'a (dyn Fn() -> InvokeOptions + Send + Sync);

/// What to run and how it is judged.
pub struct Delegation<'a> {
    pub ensemble: &'a str,
    pub input: String,
    pub request: &'a Request,
    /// Whether the free checks apply (a plain or resumed `orc invoke` skips them).
    pub checks: bool,
}

/// A delegated run: the answer to deliver (or not) and its routing record, not yet written.
pub struct Delegated {
    pub checked: Checked,
    /// The record that logs the run for learning, or why it could not be made.
    pub record: Result<RoutingRecord, LearnError>,
}

impl Delegated {
    /// The run was cancelled by its caller: it saved nothing.
    pub fn cancelled(&mut self) {
        if let Ok(r) = &mut self.record {
            r.status = Some("cancelled".into());
            r.tokens_saved = 0;
        }
    }

    /// Appends the routing record to the learning log; its id, or why the run was not logged.
    pub fn log(&self, learning: &Learning) -> Result<String, String> {
        match &self.record {
            Ok(r) => log_record(learning, r).map(|()| r.id.clone()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Runs `d.ensemble` with `opts`, then the free checks and the routing record.
pub async fn invoke(
    svc: &Service,
    learning: &Learning,
    d: Delegation<'_>,
    opts: InvokeOptions,
    again: Again<'_>,
) -> Result<Delegated, ServiceError> {
    let first = svc.invoke(d.ensemble, d.input.clone(), opts).await?;
    Ok(deliver(svc, learning, &d, first, again).await)
}

/// The free checks of a finished run (when they apply) and its routing record.
pub async fn deliver(
    svc: &Service,
    learning: &Learning,
    d: &Delegation<'_>,
    first: Invocation,
    again: Again<'_>,
) -> Delegated {
    let checked = if d.checks {
        deliver::check(learning, svc, d.ensemble, &d.input, d.request, first, again).await
    } else {
        Checked {
            inv: first,
            checks: None,
            extras: RunExtras::default(),
        }
    };
    let record = learning.checked_run_record(
        &checked.inv,
        d.request.task_type.as_deref(),
        d.request.task_summary.as_deref(),
        &checked.extras,
    );
    Delegated { checked, record }
}

/// Appends one routing record to the learning log.
pub fn log_record(learning: &Learning, record: &RoutingRecord) -> Result<(), String> {
    records::append(&learning.paths.routing_log(), record).map_err(|e| e.to_string())
}
