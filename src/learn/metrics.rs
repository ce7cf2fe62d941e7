//! The arithmetic: savings, quality, acceptance, judge spend, break-even rate, PGR and Cohen's
//! kappa, aggregated while streaming the two logs once each. Memory depends on the number of
//! ensembles, task types and days, on the outputs judged (the latest verdict per output counts
//! for quality, so one key per judged output is held) and on the runs Claude redid, never on
//! the number of routing records.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::records::{self, Handover, Route, ScanStats, Score, Seen, Subject};
use super::{LearnConfig, LearnError, Paths};

/// good / acceptable / poor counts and their mean on PGR's scale. A verdict carries a weight:
/// 1 for a reference judge (Claude, a person) and for the free checks, a local judge's measured
/// agreement with Claude for its own verdicts ([`judge_weight`]); the mean is weighted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Quality {
    pub good: u64,
    pub acceptable: u64,
    pub poor: u64,
    /// Of those, verdicts of a local judge (weighted by its agreement with Claude).
    #[serde(skip_serializing_if = "is_zero")]
    pub by_local_judge: u64,
    /// The sum of the weights (what counts as evidence).
    #[serde(skip)]
    pub weight: f64,
    /// The sum of weight x score.
    #[serde(skip)]
    pub score: f64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Quality {
    pub fn add(&mut self, s: Score) {
        self.add_weighted(s, 1.0, false);
    }
    /// Adds a verdict of weight `w` (a local judge's when `local`).
    pub fn add_weighted(&mut self, s: Score, w: f64, local: bool) {
        match s {
            Score::Good => self.good = self.good.saturating_add(1),
            Score::Acceptable => self.acceptable = self.acceptable.saturating_add(1),
            Score::Poor => self.poor = self.poor.saturating_add(1),
        }
        if local {
            self.by_local_judge = self.by_local_judge.saturating_add(1);
        }
        self.weight += w;
        self.score += w * s.value();
    }
    /// Takes back a verdict of weight 1 (one a later judgment replaced).
    pub fn remove(&mut self, s: Score) {
        let n = match s {
            Score::Good => &mut self.good,
            Score::Acceptable => &mut self.acceptable,
            Score::Poor => &mut self.poor,
        };
        if *n > 0 {
            *n -= 1;
            self.weight = (self.weight - 1.0).max(0.0);
            self.score = (self.score - s.value()).max(0.0);
        }
    }
    /// Adds another part's verdicts.
    pub fn merge(&mut self, o: &Quality) {
        self.good = self.good.saturating_add(o.good);
        self.acceptable = self.acceptable.saturating_add(o.acceptable);
        self.poor = self.poor.saturating_add(o.poor);
        self.by_local_judge = self.by_local_judge.saturating_add(o.by_local_judge);
        self.weight += o.weight;
        self.score += o.score;
    }
    pub fn n(&self) -> u64 {
        self.good
            .saturating_add(self.acceptable)
            .saturating_add(self.poor)
    }
    /// The evidence the verdicts amount to: their weights summed.
    pub fn weight(&self) -> f64 {
        self.weight
    }
    /// The weighted mean score (good 1, acceptable 0.5, poor 0), None without judgments.
    pub fn mean(&self) -> Option<f64> {
        (self.weight > 1e-12).then(|| (self.score / self.weight).clamp(0.0, 1.0))
    }
}

/// How much a local judge's verdict counts (0-1): its agreement with Claude (Cohen's kappa, or
/// the raw agreement rate when kappa is undefined because both always gave one score), scaled
/// down while it has fewer than `min_pairs` outputs judged by both.
pub fn judge_weight(a: &Agreement, min_pairs: u64) -> f64 {
    let k = a.kappa.or(a.agreement_rate).unwrap_or(0.0).clamp(0.0, 1.0);
    k * (a.n as f64 / min_pairs.max(1) as f64).min(1.0)
}

/// The free checks' verdict on a run, as quality evidence: a strong pass is good, an answer
/// that failed on every attempt (not delivered) is poor; anything else says nothing.
pub fn checks_score(c: &super::checks::FreeChecks) -> Option<Score> {
    if !c.delivered {
        Some(Score::Poor)
    } else if c.strong {
        Some(Score::Good)
    } else {
        None
    }
}

/// Counts of one check's outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CheckCount {
    pub pass: u64,
    pub doubt: u64,
    pub fail: u64,
}

/// PGR = (r_router - r_weak) / (r_strong - r_weak); None ("n/a") when a side has no judgments
/// or r_strong <= r_weak. ([`Stats::pgr`] also needs a task judged on both sides.)
pub fn pgr(weak: &Quality, strong: &Quality, router: &Quality) -> Option<f64> {
    let (w, s, r) = (weak.mean()?, strong.mean()?, router.mean()?);
    (s > w).then(|| (r - w) / (s - w))
}

/// Cohen's kappa of two judges over the same items: (p_o - p_e) / (1 - p_e). None without
/// pairs, or when chance agreement is total (both judges always gave one and the same score).
pub fn kappa(pairs: &[(Score, Score)]) -> Option<f64> {
    let n = pairs.len() as f64;
    if pairs.is_empty() {
        return None;
    }
    let agree = pairs.iter().filter(|(a, b)| a == b).count() as f64;
    let p_o = agree / n;
    let share = |pick: &dyn Fn(&(Score, Score)) -> Score, s: Score| {
        pairs.iter().filter(|p| pick(p) == s).count() as f64 / n
    };
    let p_e: f64 = [Score::Good, Score::Acceptable, Score::Poor]
        .iter()
        .map(|&s| share(&|p| p.0, s) * share(&|p| p.1, s))
        .sum();
    if (1.0 - p_e).abs() < 1e-12 {
        return None;
    }
    Some((p_o - p_e) / (1.0 - p_e))
}

/// The highest share of runs it pays to judge: savings per request / judge cost per evaluation.
pub fn break_even_rate(savings_per_request: f64, judge_cost_per_eval: f64) -> Option<f64> {
    (judge_cost_per_eval > 0.0).then(|| savings_per_request / judge_cost_per_eval)
}

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
    fn day(&mut self, day: &str) {
        if self.first_run.as_deref().is_none_or(|d| day < d) {
            self.first_run = Some(day.to_string());
        }
        if self.last_run.as_deref().is_none_or(|d| day > d) {
            self.last_run = Some(day.to_string());
        }
    }
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
struct Verdict {
    score: Score,
    /// Indexes into the interned names.
    task_type: u32,
    ensemble: Option<u32>,
    delivered: bool,
    /// The free checks' verdict this judgment replaces in quality.
    checks: Option<Score>,
    /// For a local judge's verdict: the judge (interned).
    judge: u32,
}

/// Latest verdicts per (routing id, subject), of the reference judges and of the local ones;
/// task types, ensembles and judges interned.
#[derive(Default)]
struct Verdicts {
    latest: HashMap<(String, Subject), Verdict>,
    local: HashMap<(String, Subject), Verdict>,
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Verdicts {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), i);
        i
    }
    fn name(&self, i: u32) -> &str {
        self.names.get(i as usize).map_or("", String::as_str)
    }
}

#[derive(Deserialize)]
struct EstLite {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
}

/// The fields of a routing line the report reads (strings borrowed from the line).
#[derive(Deserialize)]
struct RoutingLite<'a> {
    #[serde(borrow, default)]
    id: Cow<'a, str>,
    #[serde(borrow, default)]
    timestamp: Cow<'a, str>,
    #[serde(borrow)]
    task_type: Cow<'a, str>,
    #[serde(borrow, default)]
    ensemble_used: Option<Cow<'a, str>>,
    #[serde(default)]
    total_tokens_local: u64,
    #[serde(default)]
    estimated_claude_tokens: u64,
    #[serde(default)]
    tokens_saved: u64,
    #[serde(default)]
    user_accepted: Option<bool>,
    route: Route,
    #[serde(default)]
    estimate: Option<EstLite>,
    #[serde(default)]
    claude_input_tokens: Option<u64>,
    #[serde(default)]
    claude_output_tokens: Option<u64>,
    #[serde(default)]
    revision: Option<u32>,
    #[serde(borrow, default)]
    model_tiers_used: Vec<Cow<'a, str>>,

    #[serde(default)]
    previous_accepted: Option<bool>,
    #[serde(borrow, default)]
    redoes: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    redone: Option<RedoneLite<'a>>,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(default)]
    handover: Option<Handover>,
    #[serde(borrow, default)]
    checks: Option<ChecksLite<'a>>,
    #[serde(borrow, default)]
    paired_with: Option<Cow<'a, str>>,
}

/// What the report reads of a run's free checks.
#[derive(Deserialize)]
struct ChecksLite<'a> {
    #[serde(borrow)]
    verdict: Cow<'a, str>,
    #[serde(default)]
    strong: bool,
    #[serde(default = "yes")]
    delivered: bool,
    #[serde(default)]
    attempts: u32,
    #[serde(borrow, default)]
    checks: Vec<SignalLite<'a>>,
}

#[derive(Deserialize)]
struct SignalLite<'a> {
    #[serde(borrow)]
    check: Cow<'a, str>,
    outcome: super::checks::Outcome,
}

fn yes() -> bool {
    true
}

/// What a redo takes back from the local run it redid.
#[derive(Deserialize)]
struct RedoneLite<'a> {
    #[serde(borrow)]
    task_type: Cow<'a, str>,
    #[serde(borrow, default)]
    ensemble_used: Option<Cow<'a, str>>,
    #[serde(default)]
    tokens_saved: u64,
    #[serde(default)]
    estimate: Option<EstLite>,
}

#[derive(Deserialize)]
struct EvalLite<'a> {
    #[serde(borrow)]
    routing_id: Cow<'a, str>,
    #[serde(borrow)]
    judge: Cow<'a, str>,
    score: Score,
    #[serde(default)]
    judge_tokens_used: u64,
    subject: Subject,
    #[serde(borrow, default)]
    timestamp: Cow<'a, str>,
    #[serde(borrow, default)]
    task_type: Cow<'a, str>,
    #[serde(borrow, default)]
    ensemble_used: Option<Cow<'a, str>>,
    #[serde(default)]
    delivered: bool,
    #[serde(default)]
    local_judge: bool,
    #[serde(default)]
    free_checks: Option<Score>,
}

/// Whether every count of a line is within what orc's writers accept
/// (`service::MAX_TOKENS`): a line past it was not written by orc (a planted `u64::MAX` would
/// show as 18 quintillion tokens saved) and is skipped as not a record.
fn within_limits(counts: &[u64]) -> bool {
    counts.iter().all(|&n| n <= super::service::MAX_TOKENS)
}

impl RoutingLite<'_> {
    fn within_limits(&self) -> bool {
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

/// Counts and token sums saturate: a hand-edited or hostile log cannot overflow them.
fn add(n: &mut u64, by: u64) {
    *n = n.saturating_add(by);
}

fn day_of(ts: &str) -> &str {
    ts.get(..10).unwrap_or("unknown")
}

fn entry<'m>(map: &'m mut BTreeMap<String, Stats>, key: &str) -> &'m mut Stats {
    if !map.contains_key(key) {
        map.insert(key.to_string(), Stats::default());
    }
    map.get_mut(key).expect("inserted above")
}

fn day_entry<'m>(days: &'m mut BTreeMap<String, Day>, day: &str) -> &'m mut Day {
    if !days.contains_key(day) {
        days.insert(day.to_string(), Day::default());
    }
    days.get_mut(day).expect("inserted above")
}

/// Moves a run's verdict. Counts are sums of +1/-1 that may be split across parallel parts,
/// so they wrap while parts are summed and are whole again once every part is in.
fn feedback(s: &mut Stats, v: Option<bool>, sign: i64) {
    let bump = |n: &mut u64| *n = n.wrapping_add_signed(sign);
    match v {
        Some(true) => bump(&mut s.accepted),
        Some(false) => bump(&mut s.rejected),
        None => {}
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

impl Stats {
    /// Adds another part's figures.
    fn merge(&mut self, o: Stats) {
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

fn merge_map(into: &mut BTreeMap<String, Stats>, from: BTreeMap<String, Stats>) {
    for (k, v) in from {
        match into.get_mut(&k) {
            Some(s) => s.merge(v),
            None => {
                into.insert(k, v);
            }
        }
    }
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
        // The routing log is the big one: read it in parallel parts, one per core.
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

    fn add_routing(&mut self, r: &RoutingLite, cfg: &LearnConfig, ledger: &Ledger) {
        let ensemble = r.ensemble_used.as_deref().filter(|_| r.route.is_local());
        if let Some(local) = r.redoes.as_deref().filter(|_| r.revision.unwrap_or(1) <= 1) {
            self.redos
                .entry(local.to_string())
                .or_default()
                .push(r.id.to_string());
        }
        if r.revision.unwrap_or(1) > 1 {
            // Feedback: move the run from its earlier verdict to the new one.
            for s in self.targets(&r.task_type, ensemble) {
                feedback(s, r.previous_accepted, -1);
                feedback(s, r.user_accepted, 1);
            }
            return;
        }
        let day = day_of(&r.timestamp);
        if let Some(local) = r.paired_with.as_deref() {
            // Claude's answer of a paired comparison: evaluation spend, not a run of its own.
            self.paired
                .entry(local.to_string())
                .or_default()
                .push(r.id.to_string());
            let (i, o) = (
                r.claude_input_tokens.unwrap_or(0),
                r.claude_output_tokens.unwrap_or(0),
            );
            let usd = cfg.claude_usd(i, o);
            for s in self.targets(&r.task_type, None) {
                add(&mut s.paired_answers, 1);
                add(&mut s.pairing_tokens, i.saturating_add(o));
                s.pairing_usd += usd;
            }
            day_entry(&mut self.days, day).judge_usd += usd;
            return;
        }
        if let Some(back) = &r.redone {
            self.take_back(back, day, cfg);
        }
        if let Some(c) = &r.checks {
            self.add_checks(c, &r.task_type, ensemble);
        }
        // A failed or cancelled local run saved nothing (older records counted failed ones),
        // nor did an answer that failed its free checks (not delivered: the task went to Claude).
        let cancelled = r.status.as_deref() == Some("cancelled");
        let failed = cancelled
            || r.status.as_deref() == Some("error")
            || r.checks.as_ref().is_some_and(|c| !c.delivered);
        let mut handover = r.handover.clone().unwrap_or_default();
        let mut judging = Handover::default();
        if let Some((d, j)) = ledger.get(r.id.as_ref()) {
            handover.add(d);
            judging.add(j);
            self.matched_handover.insert(r.id.to_string());
        }
        let (handover_usd, judging_usd) = (cfg.handover_usd(&handover), cfg.handover_usd(&judging));
        let (gross_in, gross_out) = match (&r.estimate, failed || !r.route.is_local()) {
            (Some(e), false) => (e.input_tokens, e.output_tokens),
            (None, false) => (r.estimated_claude_tokens, 0),
            _ => (0, 0),
        };
        let tokens_saved = if failed { 0 } else { r.tokens_saved };
        let (usd_saved, direct_usd) = if failed {
            (0.0, 0.0)
        } else if r.route.is_local() {
            let usd = match &r.estimate {
                Some(e) => cfg.claude_usd(e.input_tokens, e.output_tokens),
                None => cfg.claude_usd(r.estimated_claude_tokens, 0),
            };
            (usd, 0.0)
        } else {
            (
                0.0,
                cfg.claude_usd(
                    r.claude_input_tokens.unwrap_or(0),
                    r.claude_output_tokens.unwrap_or(0),
                ),
            )
        };
        let n_targets = if ensemble.is_some() { 4 } else { 2 };
        for (k, s) in self.targets(&r.task_type, ensemble).into_iter().enumerate() {
            add(&mut s.runs, 1);
            s.day(day);
            s.handover.add(&handover);
            s.handover_usd += handover_usd;
            s.judging_handover.add(&judging);
            s.judging_handover_usd += judging_usd;
            if cancelled {
                add(&mut s.cancelled_runs, 1);
            }
            if r.route.is_local() {
                add(&mut s.gross_input_tokens, gross_in);
                add(&mut s.gross_output_tokens, gross_out);
                if usd_saved - handover_usd - judging_usd < 0.0 {
                    add(&mut s.losing_runs, 1);
                }
                add(&mut s.local_runs, 1);
                add(&mut s.local_tokens, r.total_tokens_local);
                add(&mut s.claude_equivalent_tokens, r.estimated_claude_tokens);
                add(&mut s.tokens_saved, tokens_saved);
                s.usd_saved += usd_saved;
                // Tiers matter per (task type, ensemble) only: the last target.
                if k + 1 == n_targets && ensemble.is_some() {
                    for t in &r.model_tiers_used {
                        if !s.tiers.contains(t.as_ref()) {
                            s.tiers.insert(t.to_string());
                        }
                    }
                }
            } else {
                add(&mut s.claude_runs, 1);
                add(
                    &mut s.claude_direct_tokens,
                    r.claude_input_tokens
                        .unwrap_or(0)
                        .saturating_add(r.claude_output_tokens.unwrap_or(0)),
                );
                s.claude_direct_usd += direct_usd;
            }
            feedback(s, r.user_accepted, 1);
        }
        let d = day_entry(&mut self.days, day);
        add(&mut d.runs, 1);
        add(&mut d.tokens_saved, tokens_saved);
        d.usd_saved += usd_saved;
        d.handover_usd += handover_usd + judging_usd;
    }

    /// Counts a run's free checks, and their verdict as quality evidence.
    fn add_checks(&mut self, c: &ChecksLite, task_type: &str, ensemble: Option<&str>) {
        let score = if !c.delivered {
            Some(Score::Poor)
        } else if c.strong {
            Some(Score::Good)
        } else {
            None
        };
        for s in self.targets(task_type, ensemble) {
            add(&mut s.checked_runs, 1);
            match c.verdict.as_ref() {
                "pass" => add(&mut s.checks_passed, 1),
                "doubt" => add(&mut s.checks_doubted, 1),
                "fail" => add(&mut s.checks_failed, 1),
                _ => {}
            }
            if c.strong {
                add(&mut s.checks_strong, 1);
            }
            if c.attempts > 1 {
                add(&mut s.retried_runs, 1);
            }
            for sig in c.checks.iter().take(32) {
                if !s.checks.contains_key(sig.check.as_ref()) && s.checks.len() >= 32 {
                    continue;
                }
                let e = s.checks.entry(sig.check.to_string()).or_default();
                match sig.outcome {
                    super::checks::Outcome::Pass => add(&mut e.pass, 1),
                    super::checks::Outcome::Doubt => add(&mut e.doubt, 1),
                    super::checks::Outcome::Fail => add(&mut e.fail, 1),
                }
            }
            if let Some(sc) = score {
                s.quality_checks.add(sc);
            }
        }
    }

    /// A local run Claude redid was not delivered: its saving is taken back (on the redo's day).
    fn take_back(&mut self, back: &RedoneLite, day: &str, cfg: &LearnConfig) {
        let usd = match &back.estimate {
            Some(e) => cfg.claude_usd(e.input_tokens, e.output_tokens),
            None => cfg.claude_usd(back.tokens_saved, 0),
        };
        let (gin, gout) = back.estimate.as_ref().map_or((back.tokens_saved, 0), |e| {
            (e.input_tokens, e.output_tokens)
        });
        for s in self.targets(&back.task_type, back.ensemble_used.as_deref()) {
            s.tokens_saved = s.tokens_saved.saturating_sub(back.tokens_saved);
            s.usd_saved = (s.usd_saved - usd).max(0.0);
            s.gross_input_tokens = s.gross_input_tokens.saturating_sub(gin);
            s.gross_output_tokens = s.gross_output_tokens.saturating_sub(gout);
        }
        let d = day_entry(&mut self.days, day);
        d.tokens_saved = d.tokens_saved.saturating_sub(back.tokens_saved);
        d.usd_saved = (d.usd_saved - usd).max(0.0);
    }

    /// Counts an evaluation's spend, and keeps its verdict as the output's latest.
    fn add_evaluation(&mut self, e: &EvalLite, cfg: &LearnConfig, verdicts: &mut Verdicts) {
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
    fn add_quality(&mut self, verdicts: &Verdicts, weights: &HashMap<String, f64>) {
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
                let side = match subject {
                    Subject::Local => &mut u.weak,
                    Subject::Claude => &mut u.strong,
                };
                side.0 += w * v.score.value();
                side.1 += w;
                if delivered {
                    u.router.0 += w * v.score.value();
                    u.router.1 += w;
                }
            }
        }
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
        drop(task_of);
        self.redos = redo_map;
        self.paired = paired_map;
    }
}

/// One task's judged sides: (weighted score sum, weight) of the local output, of Claude's, and
/// of the delivered one.
#[derive(Debug, Clone, Copy, Default)]
struct Unit {
    weak: (f64, f64),
    strong: (f64, f64),
    router: (f64, f64),
}

fn pgr_of(units: &[Unit], pick: impl Iterator<Item = usize>) -> Option<f64> {
    let (mut w, mut s, mut r) = ((0.0, 0.0), (0.0, 0.0), (0.0, 0.0));
    for i in pick {
        let u = &units[i];
        for (acc, x) in [(&mut w, u.weak), (&mut s, u.strong), (&mut r, u.router)] {
            acc.0 += x.0;
            acc.1 += x.1;
        }
    }
    let mean = |x: (f64, f64)| (x.1 > 1e-12).then(|| x.0 / x.1);
    let (w, s, r) = (mean(w)?, mean(s)?, mean(r)?);
    (s > w).then(|| (r - w) / (s - w))
}

/// Resamples drawn for PGR's interval.
const BOOTSTRAP: usize = 1000;

/// A 95% percentile-bootstrap interval of PGR, resampling tasks (a task's local and Claude
/// outputs stay together); deterministic (a fixed seed). None when fewer than half the
/// resamples give a PGR.
fn bootstrap_pgr(units: &[Unit]) -> Option<(f64, f64)> {
    let n = units.len();
    if n < 2 {
        return None;
    }
    let mut rng = fastrand::Rng::with_seed(0x5eed_0022);
    let mut vals: Vec<f64> = (0..BOOTSTRAP)
        .filter_map(|_| pgr_of(units, (0..n).map(|_| rng.usize(..n))))
        .filter(|v| v.is_finite())
        .collect();
    if vals.len() * 2 < BOOTSTRAP {
        return None;
    }
    vals.sort_by(f64::total_cmp);
    let at = |q: f64| vals[((vals.len() - 1) as f64 * q).round() as usize];
    Some((at(0.025), at(0.975)))
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
