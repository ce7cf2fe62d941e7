//! The arithmetic: savings, quality, acceptance, judge spend, break-even rate, PGR and Cohen's
//! kappa, aggregated while streaming the two logs once each. Memory depends on the number of
//! ensembles, task types and days, on the outputs judged (the latest verdict per output counts
//! for quality, so one key per judged output is held) and on the runs Claude redid, never on
//! the number of routing records.

mod evaluation;
mod lines;
mod quality;
mod routing;
mod stats;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use self::lines::{EvalLite, RoutingLite, Verdicts, within_limits};
pub use self::lines::{Ledger, ledger};
pub use self::quality::{
    CheckCount, Quality, break_even_rate, checks_score, judge_weight, kappa, pgr,
};
pub use self::stats::Stats;
use self::stats::{entry, merge_map};
use super::records::{self, ScanStats, Score, Seen, Subject};
use super::{LearnConfig, LearnError, Paths};

/// Counts and token sums saturate: a hand-edited or hostile log cannot overflow them.
fn add(n: &mut u64, by: u64) {
    *n = n.saturating_add(by);
}

/// One day's figures, for the charts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Day {
    pub runs: u64,
    pub tokens_saved: u64,
    pub usd_saved: f64,
    /// Hand-over dollars (delegation and judging calls).
    pub handover_usd: f64,
    pub judge_usd: f64,
    pub evaluations: u64,
}

/// A local judge's agreement with the other judges on the same outputs.
#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    pub judge: String,
    /// Outputs judged by both.
    pub n: u64,
    pub agreement_rate: Option<f64>,
    pub kappa: Option<f64>,
}

/// The two logs, aggregated.
#[derive(Debug, Default)]
pub struct Aggregate {
    pub ensembles: BTreeMap<String, Stats>,
    pub task_types: BTreeMap<String, Stats>,
    /// By task type, then ensemble: what learning and routing compare.
    pub pairs: BTreeMap<String, BTreeMap<String, Stats>>,
    pub totals: Stats,
    pub days: BTreeMap<String, Day>,
    pub agreements: Vec<Agreement>,
    pub routing_scan: ScanStats,
    pub evaluation_scan: ScanStats,
    /// Local runs Claude redid (`redoes`), with the routing ids of Claude's redos: their local
    /// outputs were not delivered.
    pub redos: HashMap<String, Vec<String>>,
    /// Local runs with Claude's paired answers (`paired_with`): compared, not redone.
    pub paired: HashMap<String, Vec<String>>,
    /// Routing ids of `handover.jsonl` met in the routing log (the rest count in totals only).
    matched_handover: std::collections::HashSet<String>,
}

impl Aggregate {
    /// Adds another part of the routing log's figures.
    fn merge(&mut self, o: Aggregate) {
        self.totals.merge(o.totals);
        merge_map(&mut self.ensembles, o.ensembles);
        merge_map(&mut self.task_types, o.task_types);
        for (tt, m) in o.pairs {
            merge_map(self.pairs.entry(tt).or_default(), m);
        }
        for (d, x) in o.days {
            let e = self.days.entry(d).or_default();
            add(&mut e.runs, x.runs);
            add(&mut e.tokens_saved, x.tokens_saved);
            e.usd_saved += x.usd_saved;
            e.handover_usd += x.handover_usd;
            e.judge_usd += x.judge_usd;
            add(&mut e.evaluations, x.evaluations);
        }
        self.routing_scan.then(o.routing_scan);
        self.matched_handover.extend(o.matched_handover);
        for (local, by) in o.redos {
            self.redos.entry(local).or_default().extend(by);
        }
        for (local, by) in o.paired {
            self.paired.entry(local).or_default().extend(by);
        }
    }

    /// Streams `routing-log.jsonl` and `evaluations.jsonl`.
    pub fn load(paths: &Paths, cfg: &LearnConfig) -> Result<Aggregate, LearnError> {
        Aggregate::load_since(paths, cfg, &BTreeMap::new())
    }

    /// `load`, reading for the task types in `since` only the evaluations after that line of
    /// evaluations.jsonl (a rollback's pin: older evidence was rolled back).
    pub fn load_since(
        paths: &Paths,
        cfg: &LearnConfig,
        since: &BTreeMap<String, u64>,
    ) -> Result<Aggregate, LearnError> {
        let (ledger, _) = ledger(paths)?;
        let ledger = &ledger;
        let mut agg = Aggregate::read_routing(paths, cfg, ledger)?;
        // Calls naming a run the log does not hold (yet) still count, in the totals.
        for (id, (deleg, judging)) in ledger {
            if !agg.matched_handover.contains(id) {
                agg.totals.handover.add(deleg);
                agg.totals.handover_usd += cfg.handover_usd(deleg);
                agg.totals.judging_handover.add(judging);
                agg.totals.judging_handover_usd += cfg.handover_usd(judging);
            }
        }
        let mut verdicts = Verdicts::default();
        let mut line_no = 0u64;
        agg.evaluation_scan = records::scan_lines(&paths.evaluations(), |line| {
            line_no += 1;
            match serde_json::from_str::<EvalLite>(line) {
                Ok(e) if within_limits(&[e.judge_tokens_used]) => {
                    if since.get(e.task_type.as_ref()).is_none_or(|l| line_no > *l) {
                        agg.add_evaluation(&e, cfg, &mut verdicts);
                    }
                    Seen::Next
                }
                _ => Seen::Bad,
            }
        })?;
        agg.agreements = agreements(paths)?;
        let min_pairs = cfg.local_judge.as_ref().map_or(30, |j| j.min_pairs);
        let weights: HashMap<String, f64> = agg
            .agreements
            .iter()
            .map(|a| (a.judge.clone(), judge_weight(a, min_pairs)))
            .collect();
        agg.add_quality(&verdicts, &weights);
        Ok(agg)
    }

    /// The routing log's figures. The routing log is the big one: it is read in parallel parts,
    /// one per core.
    fn read_routing(
        paths: &Paths,
        cfg: &LearnConfig,
        ledger: &Ledger,
    ) -> Result<Aggregate, LearnError> {
        let log = paths.routing_log();
        let len = records::snapshot_len(&log)?;
        let parts = if len > 32 << 20 {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(8)) as u64
        } else {
            1
        };
        let ranges = records::line_ranges(&log, len, parts)?;
        let partials: Vec<Result<Aggregate, LearnError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = ranges
                .iter()
                .map(|&(start, end)| {
                    let log = &log;
                    scope.spawn(move || {
                        let mut part = Aggregate::default();
                        part.routing_scan = records::scan_file_range(log, start, end, |line| {
                            match serde_json::from_str::<RoutingLite>(line) {
                                Ok(r) if r.within_limits() => {
                                    part.add_routing(&r, cfg, ledger);
                                    Seen::Next
                                }
                                _ => Seen::Bad,
                            }
                        })?;
                        Ok(part)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(LearnError::Refused("a report worker panicked".into()))
                    })
                })
                .collect()
        });
        let mut agg = Aggregate::default();
        for p in partials {
            agg.merge(p?);
        }
        Ok(agg)
    }

    /// The stats a record counts toward: totals, its task type, its ensemble, and the pair.
    fn targets<'s>(&'s mut self, task_type: &str, ensemble: Option<&str>) -> Vec<&'s mut Stats> {
        let mut out = vec![&mut self.totals, entry(&mut self.task_types, task_type)];
        if let Some(e) = ensemble {
            out.push(entry(&mut self.ensembles, e));
            if !self.pairs.contains_key(task_type) {
                self.pairs.insert(task_type.to_string(), BTreeMap::new());
            }
            if let Some(m) = self.pairs.get_mut(task_type) {
                out.push(entry(m, e));
            }
        }
        out
    }
}

/// Each local judge's agreement with the other (reference) judges on the same outputs: the
/// latest reference verdict per output against the local judge's latest. Memory: the outputs a
/// local judge has judged.
pub fn agreements(paths: &Paths) -> Result<Vec<Agreement>, LearnError> {
    let mut local: HashMap<(String, bool), (String, Score)> = HashMap::new();
    records::scan_lines(&paths.evaluations(), |line| {
        if line.contains("\"local_judge\":true")
            && let Ok(e) = serde_json::from_str::<EvalLite>(line)
            && e.local_judge
        {
            local.insert(
                (e.routing_id.to_string(), e.subject == Subject::Claude),
                (e.judge.to_string(), e.score),
            );
        }
        Seen::Next
    })?;
    if local.is_empty() {
        return Ok(Vec::new());
    }
    let mut other: HashMap<(String, bool), Score> = HashMap::new();
    records::scan_lines(&paths.evaluations(), |line| {
        if let Ok(e) = serde_json::from_str::<EvalLite>(line)
            && !e.local_judge
        {
            let key = (e.routing_id.to_string(), e.subject == Subject::Claude);
            if local.contains_key(&key) {
                other.insert(key, e.score);
            }
        }
        Seen::Next
    })?;
    let mut pairs: BTreeMap<String, Vec<(Score, Score)>> = BTreeMap::new();
    for (key, (judge, score)) in &local {
        let p = pairs.entry(judge.clone()).or_default();
        if let Some(o) = other.get(key) {
            p.push((*score, *o));
        }
    }
    Ok(pairs
        .into_iter()
        .map(|(judge, p)| Agreement {
            judge,
            n: p.len() as u64,
            agreement_rate: (!p.is_empty())
                .then(|| p.iter().filter(|(a, b)| a == b).count() as f64 / p.len() as f64),
            kappa: kappa(&p),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(good: u64, acceptable: u64, poor: u64) -> Quality {
        let mut out = Quality::default();
        for (n, s) in [
            (good, Score::Good),
            (acceptable, Score::Acceptable),
            (poor, Score::Poor),
        ] {
            for _ in 0..n {
                out.add(s);
            }
        }
        out
    }

    #[test]
    fn pgr_by_hand() {
        // weak: 1 good, 2 acceptable, 1 poor -> (1 + 1) / 4 = 0.5
        // strong: 3 good, 1 acceptable -> 3.5 / 4 = 0.875
        // router: 2 good, 2 acceptable -> 3 / 4 = 0.75
        // PGR = (0.75 - 0.5) / (0.875 - 0.5) = 0.25 / 0.375 = 2/3
        let p = pgr(&q(1, 2, 1), &q(3, 1, 0), &q(2, 2, 0)).unwrap();
        assert!((p - 2.0 / 3.0).abs() < 1e-12, "{p}");
        // Claude no better than local: n/a.
        assert_eq!(pgr(&q(1, 0, 0), &q(1, 0, 0), &q(1, 0, 0)), None);
        assert_eq!(pgr(&q(0, 0, 0), &q(1, 0, 0), &q(1, 0, 0)), None);
        assert_eq!(pgr(&q(1, 0, 1), &q(0, 0, 0), &q(1, 0, 0)), None);
    }

    #[test]
    fn kappa_by_hand() {
        use Score::*;
        // 10 items. Judge A: 5 good, 3 acceptable, 2 poor. Judge B agrees on 7:
        // pairs (A,B): 4x(G,G) 1x(G,A) 2x(A,A) 1x(A,P) 1x(P,P) 1x(P,G)
        // p_o = 7/10 = 0.7
        // A: G .5, A .3, P .2;  B: G .5, A .3, P .2
        // p_e = .25 + .09 + .04 = .38;  kappa = (.7 - .38) / .62 = 0.516129...
        let mut pairs = vec![(Good, Good); 4];
        pairs.push((Good, Acceptable));
        pairs.extend([(Acceptable, Acceptable); 2]);
        pairs.push((Acceptable, Poor));
        pairs.push((Poor, Poor));
        pairs.push((Poor, Good));
        let k = kappa(&pairs).unwrap();
        assert!((k - 0.32 / 0.62).abs() < 1e-12, "{k}");
        // Perfect agreement over two categories: 1.
        assert_eq!(kappa(&[(Good, Good), (Poor, Poor)]), Some(1.0));
        // One score only on both sides: chance agreement is total, kappa undefined.
        assert_eq!(kappa(&[(Good, Good), (Good, Good)]), None);
        assert_eq!(kappa(&[]), None);
    }

    #[test]
    fn break_even_by_hand() {
        // Saves $0.006 a request; a judgment costs $0.003: judging up to 200% of runs pays, i.e.
        // every run; at $0.03 a judgment, only 20%.
        assert!((break_even_rate(0.006, 0.003).unwrap() - 2.0).abs() < 1e-12);
        assert!((break_even_rate(0.006, 0.03).unwrap() - 0.2).abs() < 1e-12);
        assert_eq!(break_even_rate(0.006, 0.0), None);
    }
}
