//! Should a run be judged? The seed's policy (research log, question 3), in this order:
//! 1. always after negative feedback (on this run, or the ensemble's latest feedback);
//! 2. always for an ensemble's first `calibration_uses` (5) uses;
//! 3. never for an ensemble with more than `established_uses` (20) uses and an acceptance rate
//!    above `established_acceptance` (80%);
//! 4. otherwise a deterministic sample at `sample_rate` (default 15%): a hash of the routing id
//!    and the project's seed, so asking twice gives the same answer.
//!
//! When a local judge has earned it (Cohen's kappa against Claude at or above its bar on enough
//! pairs), a yes names that judge, so Claude's tokens are not spent.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{LearnConfig, RUBRIC};

/// What the policy needs to know about a run and its ensemble.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Claude did the work itself (no ensemble).
    pub claude_direct: bool,
    /// This run is the ensemble's Nth use (1-based).
    pub use_number: u64,
    /// The ensemble's uses so far (runs logged, this one included).
    pub uses: u64,
    /// Runs of the ensemble with feedback, and how many were accepted.
    pub with_feedback: u64,
    pub accepted: u64,
    /// This run was rejected.
    pub rejected: bool,
    /// The ensemble's most recent feedback was a rejection.
    pub last_feedback_rejected: bool,
    /// A local judge that has passed its bar, if any.
    pub trusted_local_judge: Option<String>,
    /// Its share of runs Claude judges as well (spot checks).
    pub spot_check_rate: f64,
    /// What the free checks found on this run.
    pub checks: Option<super::checks::FreeChecks>,
    /// This record is Claude's answer of a paired comparison (`paired_with`).
    pub paired_answer: bool,
}

/// The answer.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub evaluate: bool,
    /// `negative-feedback`, `calibration`, `established`, `sampled` or `not-sampled`.
    pub rule: &'static str,
    /// Why, in a sentence.
    pub detail: String,
    /// The rubric to judge with (when `evaluate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rubric: Option<&'static str>,
    /// Who should judge: `claude`, or a local judge's profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge: Option<String>,
    /// A paired comparison: Claude answers the task too (record_claude_task with
    /// `paired_with`), and both answers are judged, so PGR has a task judged on both sides.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub paired: bool,
    /// With `paired`: the steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pair_steps: Option<String>,
    /// A spot check of a trusted local judge: Claude judges, and this local judge judges the same
    /// output (`judge_locally`), so its agreement with Claude stays measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spot_check: Option<String>,
}

/// A number in [0, 1) from the routing id and the seed.
pub fn sample_point(routing_id: &str, seed: &str) -> f64 {
    let h = Sha256::new()
        .chain_update(seed.as_bytes())
        .chain_update([0u8])
        .chain_update(routing_id.as_bytes())
        .finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    (u64::from_be_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

pub fn decide(routing_id: &str, f: &Facts, cfg: &LearnConfig) -> Decision {
    let mut d = decide_rules(routing_id, f, cfg);
    // A trusted local judge keeps being spot-checked by Claude at a sampled rate.
    if d.evaluate
        && let Some(j) = &f.trusted_local_judge
        && d.judge.as_deref() == Some(j.as_str())
        && sample_point(routing_id, &format!("{}\0spot", cfg.sample_seed)) < f.spot_check_rate
    {
        d.judge = Some("claude".into());
        d.spot_check = Some(j.clone());
        d.detail.push_str(&format!(
            "; a spot check of the local judge `{j}` ({:.0}% of its runs): judge it yourself and run judge_locally(profile: \"{j}\") too",
            f.spot_check_rate * 100.0
        ));
    }
    // A sampled share of calibration runs is a paired comparison.
    if d.evaluate
        && d.rule == "calibration"
        && sample_point(routing_id, &format!("{}\0pair", cfg.sample_seed)) < cfg.pair_rate
    {
        d.paired = true;
        d.judge = Some("claude".into());
        d.pair_steps = Some(format!(
            "a paired comparison ({:.0}% of calibration runs): do the task yourself too, log your answer with record_claude_task(task: ..., input_tokens: N, output_tokens: N, output: \"<your answer>\", paired_with: \"{routing_id}\"), then judge both: record_evaluation(routing_id: \"{routing_id}\", ...) and record_evaluation(routing_id: \"<the id record_claude_task returned>\", ...). Deliver the local answer as usual.",
            cfg.pair_rate * 100.0
        ));
    }
    d
}

fn decide_rules(routing_id: &str, f: &Facts, cfg: &LearnConfig) -> Decision {
    let yes = |rule: &'static str, detail: String| Decision {
        evaluate: true,
        rule,
        detail,
        rubric: Some(RUBRIC),
        judge: Some(
            f.trusted_local_judge
                .clone()
                .unwrap_or_else(|| "claude".into()),
        ),
        paired: false,
        pair_steps: None,
        spot_check: None,
    };
    let no = |rule: &'static str, detail: String| Decision {
        evaluate: false,
        rule,
        detail,
        rubric: None,
        judge: None,
        paired: false,
        pair_steps: None,
        spot_check: None,
    };
    if f.paired_answer {
        let mut d = yes(
            "paired",
            "Claude's answer of a paired comparison: judge it beside the local answer".into(),
        );
        d.judge = Some("claude".into());
        return d;
    }
    if f.rejected {
        return yes(
            "negative-feedback",
            "the user rejected this run: always judged".into(),
        );
    }
    if let Some(c) = f
        .checks
        .as_ref()
        .filter(|c| !c.delivered && !f.claude_direct)
    {
        return no(
            "checks-failed",
            format!(
                "the free checks failed the answer, so it was not delivered ({}): no judgment needed; Claude does the task (record_claude_task with redoes)",
                c.escalate.as_deref().unwrap_or("a hard check failed")
            ),
        );
    }
    if f.last_feedback_rejected && !f.claude_direct {
        return yes(
            "negative-feedback",
            "the ensemble's latest feedback was a rejection: judged until a run is accepted".into(),
        );
    }
    if let Some(c) = f.checks.as_ref().filter(|_| !f.claude_direct) {
        if c.verdict == "doubt" {
            let why: Vec<String> = c
                .checks
                .iter()
                .filter(|s| s.outcome == super::checks::Outcome::Doubt)
                .map(|s| format!("{}: {}", s.check, s.detail))
                .collect();
            return yes(
                "checks-doubt",
                format!("a free check disagrees ({}): judged", why.join("; ")),
            );
        }
        if c.strong {
            let why: Vec<&str> = c
                .checks
                .iter()
                .filter(|s| s.outcome == super::checks::Outcome::Pass)
                .map(|s| s.check.as_str())
                .collect();
            return no(
                "checks-strong",
                format!(
                    "strong free evidence ({} passed): no paid judgment needed",
                    why.join(", ")
                ),
            );
        }
    }
    if !f.claude_direct && f.use_number <= cfg.calibration_uses {
        return yes(
            "calibration",
            format!(
                "use {} of the ensemble's first {}: always judged",
                f.use_number, cfg.calibration_uses
            ),
        );
    }
    let rate = if f.with_feedback > 0 {
        f.accepted as f64 / f.with_feedback as f64
    } else {
        0.0
    };
    // One accepted run of 21 is not a record: the rate needs as many answers as calibration.
    if !f.claude_direct
        && f.uses > cfg.established_uses
        && f.with_feedback >= cfg.calibration_uses.max(1)
        && rate > cfg.established_acceptance
    {
        return no(
            "established",
            format!(
                "{} uses (more than {}) and {:.0}% of {} answers accepted (above {:.0}%): never judged",
                f.uses,
                cfg.established_uses,
                rate * 100.0,
                f.with_feedback,
                cfg.established_acceptance * 100.0
            ),
        );
    }
    let point = sample_point(routing_id, &cfg.sample_seed);
    let what = if f.claude_direct {
        "Claude-direct work (its judgments are PGR's strong side)"
    } else {
        "past calibration"
    };
    if point < cfg.sample_rate {
        yes(
            "sampled",
            format!(
                "{what}: in the {:.0}% sample (hash point {point:.3})",
                cfg.sample_rate * 100.0
            ),
        )
    } else {
        no(
            "not-sampled",
            format!(
                "{what}: outside the {:.0}% sample (hash point {point:.3})",
                cfg.sample_rate * 100.0
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(use_number: u64, uses: u64, with_feedback: u64, accepted: u64) -> Facts {
        Facts {
            use_number,
            uses,
            with_feedback,
            accepted,
            ..Facts::default()
        }
    }

    /// An id that the 15% sample takes, and one it leaves, for the default seed.
    fn ids() -> (String, String) {
        let cfg = LearnConfig::default();
        let mut inside = None;
        let mut outside = None;
        for i in 0..1000 {
            let id = format!("id-{i}");
            if sample_point(&id, &cfg.sample_seed) < cfg.sample_rate {
                inside.get_or_insert(id);
            } else {
                outside.get_or_insert(id);
            }
        }
        (inside.unwrap(), outside.unwrap())
    }

    #[test]
    fn calibration_covers_the_first_five_uses_only() {
        let cfg = LearnConfig::default();
        let (_, outside) = ids();
        let fifth = decide(&outside, &facts(5, 5, 0, 0), &cfg);
        assert!(fifth.evaluate);
        assert_eq!(fifth.rule, "calibration");
        assert!(fifth.rubric.is_some());
        let sixth = decide(&outside, &facts(6, 6, 0, 0), &cfg);
        assert!(!sixth.evaluate);
        assert_eq!(sixth.rule, "not-sampled");
    }

    #[test]
    fn established_needs_more_than_20_uses_and_more_than_80_percent() {
        let cfg = LearnConfig::default();
        let (inside, _) = ids();
        // 20 uses, all accepted: not established yet.
        assert_eq!(
            decide(&inside, &facts(20, 20, 20, 20), &cfg).rule,
            "sampled"
        );
        // 21 uses, 16 of 20 accepted = 80%: not above 80%.
        assert_eq!(
            decide(&inside, &facts(21, 21, 20, 16), &cfg).rule,
            "sampled"
        );
        // 21 uses, 17 of 21 accepted = 81%: never judged.
        let d = decide(&inside, &facts(21, 21, 21, 17), &cfg);
        assert!(!d.evaluate);
        assert_eq!(d.rule, "established");
    }

    #[test]
    fn established_needs_as_many_answers_as_calibration_uses() {
        let cfg = LearnConfig::default();
        let (inside, _) = ids();
        // 21 uses and one accepted answer (100%): still sampled, not established forever.
        assert_eq!(decide(&inside, &facts(21, 21, 1, 1), &cfg).rule, "sampled");
        assert_eq!(decide(&inside, &facts(21, 21, 4, 4), &cfg).rule, "sampled");
        let d = decide(&inside, &facts(21, 21, 5, 5), &cfg);
        assert_eq!(d.rule, "established");
        assert!(d.detail.contains("of 5 answers"), "{}", d.detail);
    }

    #[test]
    fn negative_feedback_always_wins() {
        let cfg = LearnConfig::default();
        let (_, outside) = ids();
        let mut f = facts(30, 30, 30, 29);
        f.rejected = true;
        let d = decide(&outside, &f, &cfg);
        assert!(d.evaluate);
        assert_eq!(d.rule, "negative-feedback");
        let mut f = facts(30, 30, 30, 29);
        f.last_feedback_rejected = true;
        assert_eq!(decide(&outside, &f, &cfg).rule, "negative-feedback");
    }

    #[test]
    fn sampling_is_deterministic_and_near_the_rate() {
        let cfg = LearnConfig::default();
        let n = 20_000;
        let taken = (0..n)
            .filter(|i| decide(&format!("r{i}"), &facts(9, 9, 0, 0), &cfg).evaluate)
            .count();
        let share = taken as f64 / n as f64;
        assert!((0.14..0.16).contains(&share), "{share}");
        let a = decide("abc", &facts(9, 9, 0, 0), &cfg).evaluate;
        assert_eq!(a, decide("abc", &facts(9, 9, 0, 0), &cfg).evaluate);
    }

    #[test]
    fn a_trusted_local_judge_takes_the_evaluation() {
        let cfg = LearnConfig::default();
        let mut f = facts(1, 1, 0, 0);
        f.trusted_local_judge = Some("micro-judge".into());
        assert_eq!(decide("x", &f, &cfg).judge.as_deref(), Some("micro-judge"));
    }
}
