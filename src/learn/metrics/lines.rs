//! What the aggregate reads of each log line: the fields it needs, parsed lazily, with the
//! hand-over ledger and the latest verdict per judged output.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;

use crate::learn::records::{self, Handover, Route, ScanStats, Score, Subject};
use crate::learn::{LearnError, Paths};

/// The calls of `handover.jsonl` per routing id: (delegation, judging).
pub type Ledger = HashMap<String, (Handover, Handover)>;

/// Reads `handover.jsonl` (memory: one entry per run that had calls after its record).
pub fn ledger(paths: &Paths) -> Result<(Ledger, ScanStats), LearnError> {
    let mut out: Ledger = HashMap::new();
    let stats = records::scan::<records::HandoverLine>(&paths.handover_log(), |l| {
        let e = out.entry(l.routing_id.clone()).or_default();
        if l.kind == "judging" {
            e.1.add(&l.tokens);
        } else {
            e.0.add(&l.tokens);
        }
    })?;
    Ok((out, stats))
}

/// The latest verdict of a reference (not local) judge on one output.
pub(super) struct Verdict {
    pub(super) score: Score,
    /// Indexes into the interned names.
    pub(super) task_type: u32,
    pub(super) ensemble: Option<u32>,
    pub(super) delivered: bool,
    /// The free checks' verdict this judgment replaces in quality.
    pub(super) checks: Option<Score>,
    /// For a local judge's verdict: the judge (interned).
    pub(super) judge: u32,
}

/// Latest verdicts per (routing id, subject), of the reference judges and of the local ones;
/// task types, ensembles and judges interned.
#[derive(Default)]
pub(super) struct Verdicts {
    pub(super) latest: HashMap<(String, Subject), Verdict>,
    pub(super) local: HashMap<(String, Subject), Verdict>,
    pub(super) names: Vec<String>,
    pub(super) index: HashMap<String, u32>,
}

impl Verdicts {
    pub(super) fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), i);
        i
    }
    pub(super) fn name(&self, i: u32) -> &str {
        self.names.get(i as usize).map_or("", String::as_str)
    }
}

#[derive(Deserialize)]
pub(super) struct EstLite {
    #[serde(default)]
    pub(super) input_tokens: u64,
    #[serde(default)]
    pub(super) output_tokens: u64,
}

/// The fields of a routing line the report reads (strings borrowed from the line).
#[derive(Deserialize)]
pub(super) struct RoutingLite<'a> {
    #[serde(borrow, default)]
    pub(super) id: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(super) timestamp: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) task_type: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(super) ensemble_used: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(super) total_tokens_local: u64,
    #[serde(default)]
    pub(super) estimated_claude_tokens: u64,
    #[serde(default)]
    pub(super) tokens_saved: u64,
    #[serde(default)]
    pub(super) user_accepted: Option<bool>,
    pub(super) route: Route,
    #[serde(default)]
    pub(super) estimate: Option<EstLite>,
    #[serde(default)]
    pub(super) claude_input_tokens: Option<u64>,
    #[serde(default)]
    pub(super) claude_output_tokens: Option<u64>,
    #[serde(default)]
    pub(super) revision: Option<u32>,
    #[serde(borrow, default)]
    pub(super) model_tiers_used: Vec<Cow<'a, str>>,

    #[serde(default)]
    pub(super) previous_accepted: Option<bool>,
    #[serde(borrow, default)]
    pub(super) redoes: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) redone: Option<RedoneLite<'a>>,
    #[serde(borrow, default)]
    pub(super) status: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(super) handover: Option<Handover>,
    #[serde(borrow, default)]
    pub(super) checks: Option<ChecksLite<'a>>,
    #[serde(borrow, default)]
    pub(super) paired_with: Option<Cow<'a, str>>,
}

/// What the report reads of a run's free checks.
#[derive(Deserialize)]
pub(super) struct ChecksLite<'a> {
    #[serde(borrow)]
    pub(super) verdict: Cow<'a, str>,
    #[serde(default)]
    pub(super) strong: bool,
    #[serde(default = "yes")]
    pub(super) delivered: bool,
    #[serde(default)]
    pub(super) attempts: u32,
    #[serde(borrow, default)]
    pub(super) checks: Vec<SignalLite<'a>>,
}

#[derive(Deserialize)]
pub(super) struct SignalLite<'a> {
    #[serde(borrow)]
    pub(super) check: Cow<'a, str>,
    pub(super) outcome: crate::learn::checks::Outcome,
}

pub(super) fn yes() -> bool {
    true
}

/// What a redo takes back from the local run it redid.
#[derive(Deserialize)]
pub(super) struct RedoneLite<'a> {
    #[serde(borrow)]
    pub(super) task_type: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(super) ensemble_used: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(super) tokens_saved: u64,
    #[serde(default)]
    pub(super) estimate: Option<EstLite>,
}

#[derive(Deserialize)]
pub(super) struct EvalLite<'a> {
    #[serde(borrow)]
    pub(super) routing_id: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) judge: Cow<'a, str>,
    pub(super) score: Score,
    #[serde(default)]
    pub(super) judge_tokens_used: u64,
    pub(super) subject: Subject,
    #[serde(borrow, default)]
    pub(super) timestamp: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(super) task_type: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(super) ensemble_used: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(super) delivered: bool,
    #[serde(default)]
    pub(super) local_judge: bool,
    #[serde(default)]
    pub(super) free_checks: Option<Score>,
}

/// Whether every count of a line is within what orc's writers accept
/// (`learn::MAX_TOKENS`): a line past it was not written by orc (a planted `u64::MAX` would
/// show as 18 quintillion tokens saved) and is skipped as not a record.
pub(super) fn within_limits(counts: &[u64]) -> bool {
    counts.iter().all(|&n| n <= crate::learn::MAX_TOKENS)
}

impl RoutingLite<'_> {
    pub(super) fn within_limits(&self) -> bool {
        let est = |e: &Option<EstLite>| {
            e.as_ref()
                .map_or([0, 0], |e| [e.input_tokens, e.output_tokens])
        };
        let [ei, eo] = est(&self.estimate);
        let (back, [bi, bo]) = match &self.redone {
            Some(r) => (r.tokens_saved, est(&r.estimate)),
            None => (0, [0, 0]),
        };
        within_limits(&[
            self.total_tokens_local,
            self.estimated_claude_tokens,
            self.tokens_saved,
            self.claude_input_tokens.unwrap_or(0),
            self.claude_output_tokens.unwrap_or(0),
            ei,
            eo,
            back,
            bi,
            bo,
        ])
    }
}
