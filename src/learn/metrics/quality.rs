//! Quality and the statistics over verdicts: a task's quality counts, the judges' weights,
//! acceptance, PGR (with its bootstrap interval), Cohen's kappa and the break-even rate.

use serde::Serialize;

use super::Agreement;
use crate::learn::records::Score;

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

pub(super) fn is_zero(n: &u64) -> bool {
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
pub fn checks_score(c: &crate::learn::checks::FreeChecks) -> Option<Score> {
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

/// One task's judged sides: (weighted score sum, weight) of the local output, of Claude's, and
/// of the delivered one.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Unit {
    pub(super) weak: (f64, f64),
    pub(super) strong: (f64, f64),
    pub(super) router: (f64, f64),
}

pub(super) fn pgr_of(units: &[Unit], pick: impl Iterator<Item = usize>) -> Option<f64> {
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
pub(super) const BOOTSTRAP: usize = 1000;

/// A 95% percentile-bootstrap interval of PGR, resampling tasks (a task's local and Claude
/// outputs stay together); deterministic (a fixed seed). None when fewer than half the
/// resamples give a PGR.
pub(super) fn bootstrap_pgr(units: &[Unit]) -> Option<(f64, f64)> {
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
