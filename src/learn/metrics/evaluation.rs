//! An evaluation's contribution to the aggregate: judge spend, feedback, and quality from the
//! latest verdict per output.

use std::collections::HashMap;

use super::Aggregate;
use super::add;
use super::lines::{EvalLite, Verdict, Verdicts};
use super::quality::{Unit, bootstrap_pgr};
use super::stats::{day_entry, day_of};
use crate::learn::LearnConfig;
use crate::learn::records::Subject;

impl Aggregate {
    /// Counts an evaluation's spend, and keeps its verdict as the output's latest.
    pub(super) fn add_evaluation(
        &mut self,
        e: &EvalLite,
        cfg: &LearnConfig,
        verdicts: &mut Verdicts,
    ) {
        let usd = if e.local_judge {
            0.0
        } else {
            cfg.judge_usd(e.judge_tokens_used)
        };
        let ensemble = e
            .ensemble_used
            .as_deref()
            .filter(|_| e.subject == Subject::Local);
        for s in self.targets(&e.task_type, ensemble) {
            add(&mut s.evaluations, 1);
            add(&mut s.judge_tokens, e.judge_tokens_used);
            s.judge_usd += usd;
            if e.local_judge {
                // Quality comes from the reference judges; a local judge is measured against them.
                add(&mut s.local_judge_evaluations, 1);
            }
        }
        let d = day_entry(&mut self.days, day_of(&e.timestamp));
        add(&mut d.evaluations, 1);
        d.judge_usd += usd;
        let v = Verdict {
            score: e.score,
            task_type: verdicts.intern(&e.task_type),
            ensemble: ensemble.map(|n| verdicts.intern(n)),
            delivered: e.delivered,
            checks: e.free_checks.filter(|_| e.subject == Subject::Local),
            judge: if e.local_judge {
                verdicts.intern(&e.judge)
            } else {
                0
            },
        };
        let key = (e.routing_id.to_string(), e.subject);
        if e.local_judge {
            verdicts.local.insert(key, v);
        } else {
            verdicts.latest.insert(key, v);
        }
    }

    /// Quality and PGR from the latest verdict of each output: a reference judge's (weight 1),
    /// else a local judge's (weighted by its agreement with Claude; a judge with no measured
    /// agreement counts for nothing). A local output Claude redid was not delivered (Claude's
    /// was); a local output whose task also has a judged Claude output (the same routing id, a
    /// redo, or a paired answer) makes a PGR pair. A judged output's free-check verdict leaves
    /// `quality_checks` (the judgment replaces it).
    pub(super) fn add_quality(&mut self, verdicts: &Verdicts, weights: &HashMap<String, f64>) {
        // Claude's outputs that answer a local run's task (a redo or a paired answer).
        let (redo_map, paired_map) = (
            std::mem::take(&mut self.redos),
            std::mem::take(&mut self.paired),
        );
        let mut task_of: HashMap<&str, &str> = HashMap::new();
        for (local, by) in redo_map.iter().chain(paired_map.iter()) {
            for c in by {
                task_of.insert(c.as_str(), local.as_str());
            }
        }
        let counted = |key: &(String, Subject)| -> Option<(&Verdict, f64, bool)> {
            if let Some(v) = verdicts.latest.get(key) {
                return Some((v, 1.0, false));
            }
            let v = verdicts.local.get(key)?;
            let w = weights.get(verdicts.name(v.judge)).copied().unwrap_or(0.0);
            (w > 0.0).then_some((v, w, true))
        };
        let judged_claude = |id: &str| counted(&(id.to_string(), Subject::Claude)).is_some();
        let keys = verdicts.latest.keys().chain(
            verdicts
                .local
                .keys()
                .filter(|k| !verdicts.latest.contains_key(*k)),
        );
        // Per target (task type; "" for all), per task: the PGR sides, for the bootstrap.
        let mut units: HashMap<String, HashMap<String, Unit>> = HashMap::new();
        for key in keys {
            let Some((v, w, local)) = counted(key) else {
                continue;
            };
            let (id, subject) = key;
            let redos = redo_map.get(id);
            let (delivered, paired) = match subject {
                Subject::Local => (
                    v.delivered && redos.is_none(),
                    judged_claude(id)
                        || redos.is_some_and(|by| by.iter().any(|c| judged_claude(c)))
                        || paired_map
                            .get(id)
                            .is_some_and(|by| by.iter().any(|c| judged_claude(c))),
                ),
                Subject::Claude => (v.delivered, false),
            };
            let task_type = verdicts.name(v.task_type).to_string();
            let ensemble = v.ensemble.map(|i| verdicts.name(i).to_string());
            for s in self.targets(&task_type, ensemble.as_deref()) {
                match subject {
                    Subject::Local => s.quality_local.add_weighted(v.score, w, local),
                    Subject::Claude => s.quality_claude.add_weighted(v.score, w, local),
                }
                if delivered {
                    s.quality_delivered.add_weighted(v.score, w, local);
                }
                if paired {
                    add(&mut s.pgr_pairs, 1);
                }
                if let Some(c) = v.checks {
                    s.quality_checks.remove(c);
                }
            }
            let task = match subject {
                Subject::Local => id.as_str(),
                Subject::Claude => task_of.get(id.as_str()).copied().unwrap_or(id.as_str()),
            };
            for target in [String::new(), task_type] {
                let u = units
                    .entry(target)
                    .or_default()
                    .entry(task.to_string())
                    .or_default();
                add_to_unit(u, *subject, w * v.score.value(), w, delivered);
            }
        }
        self.set_pgr_ci(units);
        drop(task_of);
        self.redos = redo_map;
        self.paired = paired_map;
    }

    /// Each target's PGR interval, bootstrapped over its tasks.
    fn set_pgr_ci(&mut self, units: HashMap<String, HashMap<String, Unit>>) {
        for (target, us) in units {
            let s = if target.is_empty() {
                &mut self.totals
            } else {
                match self.task_types.get_mut(&target) {
                    Some(s) => s,
                    None => continue,
                }
            };
            if s.pgr().is_some() {
                let list: Vec<Unit> = us.into_values().collect();
                s.pgr_ci = bootstrap_pgr(&list);
            }
        }
    }
}

/// One weighted verdict on one task's side (weak: local, strong: Claude), and on the router's
/// when it was delivered.
fn add_to_unit(u: &mut Unit, subject: Subject, score: f64, w: f64, delivered: bool) {
    let side = match subject {
        Subject::Local => &mut u.weak,
        Subject::Claude => &mut u.strong,
    };
    side.0 += score;
    side.1 += w;
    if delivered {
        u.router.0 += score;
        u.router.1 += w;
    }
}
