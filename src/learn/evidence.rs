//! Promotion's evidence from the learning loop: an ensemble's evaluation record (the latest
//! verdict per run and kind of judge, and the routing records of its local runs with the user's
//! verdicts), read from the project's learning files for `service::promotion`.

use std::collections::BTreeMap;

use crate::learn::records::{self, RoutingRecord, Score, Subject};
use crate::learn::service::Learning;
use crate::service::ServiceError;
use crate::service::promotion::{EvalRecord, Evidence};

impl Evidence for Learning {
    fn eval_record(&self, ensemble: &str) -> Result<EvalRecord, ServiceError> {
        let refuse = |e: crate::learn::LearnError| ServiceError::Refused(e.to_string());
        let mut r = EvalRecord {
            source: self.paths.evaluations(),
            ..EvalRecord::default()
        };
        // The latest verdict per run and kind of judge: the bar counts distinct runs.
        let latest = records::latest_evaluations(&self.paths.evaluations(), |e| {
            e.ensemble_used.as_deref() == Some(ensemble) && e.subject == Subject::Local
        })
        .map_err(refuse)?;
        for e in latest {
            if e.local_judge {
                r.local_judge += 1;
            } else {
                match e.score {
                    Score::Good => r.good += 1,
                    Score::Acceptable => r.acceptable += 1,
                    Score::Poor => r.poor += 1,
                }
            }
        }
        // The latest revision of each routing record decides its acceptance.
        let mut latest: BTreeMap<String, (u32, Option<bool>)> = BTreeMap::new();
        records::scan::<RoutingRecord>(&self.paths.routing_log(), |rec| {
            if rec.ensemble_used.as_deref() == Some(ensemble) && rec.route.is_local() {
                let e = latest.entry(rec.id).or_insert((0, None));
                if rec.revision >= e.0 {
                    *e = (rec.revision, rec.user_accepted);
                }
            }
        })
        .map_err(refuse)?;
        r.runs = latest.len() as u64;
        r.accepted = latest.values().filter(|v| v.1 == Some(true)).count() as u64;
        r.rejected = latest.values().filter(|v| v.1 == Some(false)).count() as u64;
        Ok(r)
    }
}
