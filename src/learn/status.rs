//! `orc status` with the learning log's running total: the service looks at the model servers
//! and ensembles; this layer adds the total from the learning report (learn sits above the
//! service, so the service is handed the reader rather than calling learn).

use std::time::Duration;

use crate::service::Service;
use crate::service::status::{Savings, Status};

/// What `orc status` found, the learning log's total included (read within `deadline`, on its
/// own thread; absent when there is no local `.llm-orc` or the log cannot be read).
pub async fn status(svc: &Service, deadline: Duration) -> Status {
    let llm_orc = svc.project.dirs.local.clone();
    svc.status_with(deadline, move || savings(&llm_orc?)).await
}

/// The learning report's totals for the project whose `.llm-orc` is `dir`.
fn savings(dir: &std::path::Path) -> Option<Savings> {
    let l = super::service::Learning::at(dir);
    super::report::build(&l).ok().map(|r| {
        (
            r.totals.local_runs,
            r.totals.tokens_saved_estimate,
            r.totals.net_usd_estimate,
        )
    })
}
