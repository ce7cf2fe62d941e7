//! The running figures of one ensemble, task type or day ([`Stats`]), added and merged while
//! the logs stream.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::quality::{CheckCount, Quality, break_even_rate, pgr};
use super::{Day, add};
use crate::learn::records::Handover;

/// Everything counted for one ensemble, one task type, or all.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Routing records (local and Claude-direct).
    pub runs: u64,
    pub local_runs: u64,
    pub claude_runs: u64,
    /// Tokens the local models used (exact: Ollama's counts, from the artifacts).
    pub local_tokens: u64,
    /// Estimated tokens Claude would have used for the local runs.
    pub claude_equivalent_tokens: u64,
    pub tokens_saved: u64,
    /// Estimated dollars those tokens would have cost on Claude.
    pub usd_saved: f64,
    /// Claude-equivalent input and output tokens of the delivered local runs (the gross, before
    /// what handing them over cost).
    pub gross_input_tokens: u64,
    pub gross_output_tokens: u64,
    /// What handing runs over cost Claude (arguments, results, definitions; judging calls apart).
    pub handover: Handover,
    pub handover_usd: f64,
    /// The hand-over of the judging calls (should_evaluate, record_evaluation, judge_locally).
    pub judging_handover: Handover,
    pub judging_handover_usd: f64,
    /// Runs cancelled by the client (never delivered: no gross, their hand-over still spent).
    pub cancelled_runs: u64,
    /// Local runs whose own hand-over cost more than their gross saving.
    pub losing_runs: u64,
    /// Tokens and dollars Claude reported for the work it did itself.
    pub claude_direct_tokens: u64,
    pub claude_direct_usd: f64,
    /// Judgments of local outputs, of Claude's outputs, and of the delivered outputs.
    pub quality_local: Quality,
    pub quality_claude: Quality,
    pub quality_delivered: Quality,
    /// Tasks judged on both sides: a local output and Claude's output of the same task (a
    /// local run Claude redid, `redoes`, or one routing id judged with both subjects). Without
    /// one, the delivered outputs are just both sides pooled and PGR only the share of Claude's
    /// judgments, so PGR is n/a.
    pub pgr_pairs: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub evaluations: u64,
    /// Evaluations by a local judge (no dollars).
    pub local_judge_evaluations: u64,
    pub judge_tokens: u64,
    pub judge_usd: f64,
    /// Day (YYYY-MM-DD) of the first and last run.
    pub first_run: Option<String>,
    pub last_run: Option<String>,
    /// Model tiers the runs used (kept per task type and ensemble).
    #[serde(skip)]
    pub tiers: BTreeSet<String>,
    /// Free checks: the runs checked, by verdict; retried and not delivered.
    pub checked_runs: u64,
    pub checks_passed: u64,
    pub checks_doubted: u64,
    pub checks_failed: u64,
    pub checks_strong: u64,
    pub retried_runs: u64,
    /// Each check's outcomes.
    pub checks: BTreeMap<String, CheckCount>,
    /// The free checks' verdicts as evidence (strong pass good, not delivered poor), for runs no
    /// judge has judged: learning counts them beside the judges'.
    pub quality_checks: Quality,
    /// Claude's answers of paired comparisons, and their tokens and dollars (evaluation spend).
    pub paired_answers: u64,
    pub pairing_tokens: u64,
    pub pairing_usd: f64,
    /// A 95% bootstrap interval of PGR over the judged tasks.
    pub pgr_ci: Option<(f64, f64)>,
}

impl Stats {
    /// The estimated net saving: gross, less the hand-over, less judging (Claude's judge tokens
    /// and the judging calls' hand-over). Negative: delegating lost money.
    pub fn net_usd(&self) -> f64 {
        self.usd_saved - self.handover_usd - self.judge_usd - self.judging_handover_usd
    }
    /// Net over gross; None without a gross.
    pub fn efficiency(&self) -> Option<f64> {
        (self.usd_saved > 0.0).then(|| self.net_usd() / self.usd_saved)
    }
    pub fn acceptance_rate(&self) -> Option<f64> {
        let n = self.accepted + self.rejected;
        (n > 0).then(|| self.accepted as f64 / n as f64)
    }
    /// Estimated dollars saved per local run.
    pub fn savings_per_request(&self) -> Option<f64> {
        (self.local_runs > 0).then(|| self.usd_saved / self.local_runs as f64)
    }
    /// Dollars per evaluation by a paid (non-local) judge.
    pub fn judge_cost_per_eval(&self) -> Option<f64> {
        let paid = self
            .evaluations
            .saturating_sub(self.local_judge_evaluations);
        (paid > 0 && self.judge_usd > 0.0).then(|| self.judge_usd / paid as f64)
    }
    pub fn break_even(&self) -> Option<f64> {
        break_even_rate(self.savings_per_request()?, self.judge_cost_per_eval()?)
    }
    /// Paid judgments per local run: the judging rate the history actually had.
    pub fn observed_judging_rate(&self) -> Option<f64> {
        let paid = self
            .evaluations
            .saturating_sub(self.local_judge_evaluations);
        (self.local_runs > 0).then(|| paid as f64 / self.local_runs as f64)
    }
    /// Dollars spent on knowing quality: paid judgments and Claude's paired answers.
    pub fn evaluation_usd(&self) -> f64 {
        self.judge_usd + self.pairing_usd
    }
    /// The local verdicts learning weighs: the judges' and, for runs no judge saw, the checks'.
    pub fn quality_evidence(&self) -> Quality {
        let mut q = self.quality_local;
        q.merge(&self.quality_checks);
        q
    }
    pub fn pgr(&self) -> Option<f64> {
        if self.pgr_pairs == 0 {
            return None;
        }
        pgr(
            &self.quality_local,
            &self.quality_claude,
            &self.quality_delivered,
        )
    }
    /// Why PGR is n/a (None when it is a number).
    pub fn pgr_reason(&self) -> Option<String> {
        if self.pgr().is_some() {
            return None;
        }
        Some(
            match (self.quality_local.mean(), self.quality_claude.mean()) {
                (None, _) | (_, None) => {
                    "it needs judgments of local outputs and of Claude's outputs"
                }
                _ if self.pgr_pairs == 0 => {
                    "no task judged on both sides: judge Claude's redo of a local run too"
                }
                _ => "Claude's outputs scored no better than local ones",
            }
            .to_string(),
        )
    }
    pub(super) fn day(&mut self, day: &str) {
        if self.first_run.as_deref().is_none_or(|d| day < d) {
            self.first_run = Some(day.to_string());
        }
        if self.last_run.as_deref().is_none_or(|d| day > d) {
            self.last_run = Some(day.to_string());
        }
    }
}

impl Stats {
    /// Adds another part's figures.
    pub(super) fn merge(&mut self, o: Stats) {
        add(&mut self.runs, o.runs);
        add(&mut self.local_runs, o.local_runs);
        add(&mut self.claude_runs, o.claude_runs);
        add(&mut self.local_tokens, o.local_tokens);
        add(
            &mut self.claude_equivalent_tokens,
            o.claude_equivalent_tokens,
        );
        add(&mut self.tokens_saved, o.tokens_saved);
        self.usd_saved += o.usd_saved;
        add(&mut self.claude_direct_tokens, o.claude_direct_tokens);
        self.claude_direct_usd += o.claude_direct_usd;
        add(&mut self.gross_input_tokens, o.gross_input_tokens);
        add(&mut self.gross_output_tokens, o.gross_output_tokens);
        self.handover.add(&o.handover);
        self.handover_usd += o.handover_usd;
        self.judging_handover.add(&o.judging_handover);
        self.judging_handover_usd += o.judging_handover_usd;
        add(&mut self.cancelled_runs, o.cancelled_runs);
        add(&mut self.losing_runs, o.losing_runs);
        for (a, b) in [
            (&mut self.quality_local, o.quality_local),
            (&mut self.quality_claude, o.quality_claude),
            (&mut self.quality_delivered, o.quality_delivered),
            (&mut self.quality_checks, o.quality_checks),
        ] {
            a.merge(&b);
        }
        add(&mut self.checked_runs, o.checked_runs);
        add(&mut self.checks_passed, o.checks_passed);
        add(&mut self.checks_doubted, o.checks_doubted);
        add(&mut self.checks_failed, o.checks_failed);
        add(&mut self.checks_strong, o.checks_strong);
        add(&mut self.retried_runs, o.retried_runs);
        for (k, c) in o.checks {
            let e = self.checks.entry(k).or_default();
            add(&mut e.pass, c.pass);
            add(&mut e.doubt, c.doubt);
            add(&mut e.fail, c.fail);
        }
        add(&mut self.paired_answers, o.paired_answers);
        add(&mut self.pairing_tokens, o.pairing_tokens);
        self.pairing_usd += o.pairing_usd;
        // Feedback deltas may cross parts: they wrap while parts are summed.
        add(&mut self.pgr_pairs, o.pgr_pairs);
        self.accepted = self.accepted.wrapping_add(o.accepted);
        self.rejected = self.rejected.wrapping_add(o.rejected);
        add(&mut self.evaluations, o.evaluations);
        add(&mut self.local_judge_evaluations, o.local_judge_evaluations);
        add(&mut self.judge_tokens, o.judge_tokens);
        self.judge_usd += o.judge_usd;
        if let Some(d) = o.first_run {
            self.day(&d);
        }
        if let Some(d) = o.last_run {
            self.day(&d);
        }
        self.tiers.extend(o.tiers);
    }
}

pub(super) fn merge_map(into: &mut BTreeMap<String, Stats>, from: BTreeMap<String, Stats>) {
    for (k, v) in from {
        match into.get_mut(&k) {
            Some(s) => s.merge(v),
            None => {
                into.insert(k, v);
            }
        }
    }
}

pub(super) fn day_of(ts: &str) -> &str {
    ts.get(..10).unwrap_or("unknown")
}

pub(super) fn entry<'m>(map: &'m mut BTreeMap<String, Stats>, key: &str) -> &'m mut Stats {
    if !map.contains_key(key) {
        map.insert(key.to_string(), Stats::default());
    }
    map.get_mut(key).expect("inserted above")
}

pub(super) fn day_entry<'m>(days: &'m mut BTreeMap<String, Day>, day: &str) -> &'m mut Day {
    if !days.contains_key(day) {
        days.insert(day.to_string(), Day::default());
    }
    days.get_mut(day).expect("inserted above")
}

/// Moves a run's verdict. Counts are sums of +1/-1 that may be split across parallel parts,
/// so they wrap while parts are summed and are whole again once every part is in.
pub(super) fn feedback(s: &mut Stats, v: Option<bool>, sign: i64) {
    let bump = |n: &mut u64| *n = n.wrapping_add_signed(sign);
    match v {
        Some(true) => bump(&mut s.accepted),
        Some(false) => bump(&mut s.rejected),
        None => {}
    }
}
