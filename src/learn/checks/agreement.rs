//! Agreement: repeated local samples say the same thing (SelfCheck-style), and whether an
//! answer's kind allows comparing samples exactly.

use super::json::json_of;
use super::labels::norm;
use super::signal::Signal;
use super::{Answer, Expect};
use std::collections::BTreeSet;

// ------------------------------------------------------------------ agreement

/// How alike two answers are, 0-1: equal JSON or labels 1; else the overlap of their words
/// (Jaccard).
pub fn similarity(a: &str, b: &str) -> f64 {
    if let (Ok(x), Ok(y)) = (json_of(a), json_of(b)) {
        return if x == y {
            1.0
        } else {
            jaccard(&x.to_string(), &y.to_string())
        };
    }
    if norm(a) == norm(b) {
        return 1.0;
    }
    jaccard(a, b)
}

pub(super) fn jaccard(a: &str, b: &str) -> f64 {
    let words = |s: &str| -> BTreeSet<String> {
        s.to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (x, y) = (words(a), words(b));
    if x.is_empty() && y.is_empty() {
        return 1.0;
    }
    x.intersection(&y).count() as f64 / x.union(&y).count().max(1) as f64
}

/// The answers agree when every one is at least this alike to the first on average.
pub(super) const AGREE: f64 = 0.6;

/// Agreement of repeated samples (the first is the delivered answer).
pub fn agreement(answers: &[String], labels: bool) -> Option<Signal> {
    if answers.len() < 2 {
        return None;
    }
    let first = &answers[0];
    let sims: Vec<f64> = answers[1..].iter().map(|a| similarity(first, a)).collect();
    let mean = sims.iter().sum::<f64>() / sims.len() as f64;
    let same = sims.iter().filter(|s| **s >= 0.999).count();
    let n = answers.len();
    // Labels and JSON must come out the same; prose may vary in wording.
    let agree = if labels { same + 1 == n } else { mean >= AGREE };
    Some(if agree {
        Signal::pass(
            "agreement",
            format!(
                "{n} samples agree (mean similarity {mean:.2}; {} identical)",
                same + 1
            ),
        )
    } else {
        Signal::doubt(
            "agreement",
            format!(
                "{n} samples disagree (mean similarity {mean:.2} to the delivered answer; {} identical): the answer may be made up",
                same + 1
            ),
        )
    })
}

/// True when the answers are exact-match kinds (labels or JSON) for agreement.
pub fn exact_kind(a: &Answer, expect: &Expect) -> bool {
    !expect.labels.is_empty()
        || a.task_type == "classification"
        || expect.json
        || expect.schema.is_some()
        || a.task_type == "json"
}
