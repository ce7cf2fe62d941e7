//! A routing record's contribution to the aggregate: runs, savings, hand-over, the free checks,
//! and Claude's redos taking a local run back.

use super::Aggregate;
use super::add;
use super::lines::{ChecksLite, Ledger, RedoneLite, RoutingLite};
use super::stats::{day_entry, day_of, feedback};
use crate::learn::LearnConfig;
use crate::learn::records::{Handover, Score};

impl Aggregate {
    pub(super) fn add_routing(&mut self, r: &RoutingLite, cfg: &LearnConfig, ledger: &Ledger) {
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
            self.add_paired(r, local, day, cfg);
            return;
        }
        if let Some(back) = &r.redone {
            self.take_back(back, day, cfg);
        }
        if let Some(c) = &r.checks {
            self.add_checks(c, &r.task_type, ensemble);
        }
        let f = self.figures(r, cfg, ledger);
        self.add_run(r, ensemble, day, &f);
    }

    /// Claude's answer of a paired comparison: evaluation spend, not a run of its own.
    fn add_paired(&mut self, r: &RoutingLite, local: &str, day: &str, cfg: &LearnConfig) {
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
    }

    /// What a run counts for: hand-over, gross, savings, each side's dollars.
    fn figures(&mut self, r: &RoutingLite, cfg: &LearnConfig, ledger: &Ledger) -> Figures {
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
        Figures {
            cancelled,
            handover,
            judging,
            handover_usd,
            judging_usd,
            gross_in,
            gross_out,
            tokens_saved,
            usd_saved,
            direct_usd,
        }
    }

    /// Counts a run in its targets and its day.
    fn add_run(&mut self, r: &RoutingLite, ensemble: Option<&str>, day: &str, f: &Figures) {
        let Figures {
            cancelled,
            ref handover,
            ref judging,
            handover_usd,
            judging_usd,
            gross_in,
            gross_out,
            tokens_saved,
            usd_saved,
            direct_usd,
        } = *f;
        let n_targets = if ensemble.is_some() { 4 } else { 2 };
        for (k, s) in self.targets(&r.task_type, ensemble).into_iter().enumerate() {
            add(&mut s.runs, 1);
            s.day(day);
            s.handover.add(handover);
            s.handover_usd += handover_usd;
            s.judging_handover.add(judging);
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
    pub(super) fn add_checks(&mut self, c: &ChecksLite, task_type: &str, ensemble: Option<&str>) {
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
                    crate::learn::checks::Outcome::Pass => add(&mut e.pass, 1),
                    crate::learn::checks::Outcome::Doubt => add(&mut e.doubt, 1),
                    crate::learn::checks::Outcome::Fail => add(&mut e.fail, 1),
                }
            }
            if let Some(sc) = score {
                s.quality_checks.add(sc);
            }
        }
    }

    /// A local run Claude redid was not delivered: its saving is taken back (on the redo's day).
    pub(super) fn take_back(&mut self, back: &RedoneLite, day: &str, cfg: &LearnConfig) {
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
}

/// A run's figures, computed once for all its targets.
struct Figures {
    cancelled: bool,
    handover: Handover,
    judging: Handover,
    handover_usd: f64,
    judging_usd: f64,
    gross_in: u64,
    gross_out: u64,
    tokens_saved: u64,
    usd_saved: f64,
    direct_usd: f64,
}
