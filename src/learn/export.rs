//! The flywheel's data: training files built from the logs and the linked artifacts.
//!
//! - `sft`: chat JSONL (`{"messages": [user, assistant]}`) of local outputs judged good, and of
//!   Claude's outputs for tasks where Claude redid local work that was judged poor or rejected;
//! - `dpo`: `{"prompt", "chosen", "rejected"}` where both exist: Claude's redo is chosen over the
//!   poor or rejected local output;
//! - `judge`: judge-training rows (task, response, rubric, reasoning, score) from the reference
//!   judges' evaluations, for fine-tuning a small local judge.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use serde::Serialize;
use serde_json::json;

use super::records::{self, EvaluationRecord, RoutingRecord, Score, Seen, Subject};
use super::service::Learning;
use super::{LearnError, RUBRIC};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Sft,
    Dpo,
    Judge,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sft" => Some(Kind::Sft),
            "dpo" => Some(Kind::Dpo),
            "judge" => Some(Kind::Judge),
            _ => None,
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Exported {
    pub rows: u64,
    /// Runs that qualified but whose artifact is missing or unreadable.
    pub missing_artifacts: u64,
}

/// Writes the rows of `kind` as JSONL into `out`.
pub fn export(
    learning: &Learning,
    kind: Kind,
    out: &mut dyn Write,
) -> Result<Exported, LearnError> {
    let paths = &learning.paths;
    // The latest reference verdict per (routing id, subject).
    let mut verdicts: HashMap<(String, Subject), EvaluationRecord> = HashMap::new();
    records::scan::<EvaluationRecord>(&paths.evaluations(), |e| {
        if !e.local_judge {
            verdicts.insert((e.routing_id.clone(), e.subject), e);
        }
    })?;
    // Runs: those judged, and Claude's redos (with what they redid).
    let judged: HashSet<&str> = verdicts.keys().map(|(id, _)| id.as_str()).collect();
    let mut runs: HashMap<String, RoutingRecord> = HashMap::new();
    let mut redos: Vec<String> = Vec::new();
    records::scan_lines(&paths.routing_log(), |line| {
        if let Ok(r) = serde_json::from_str::<RoutingRecord>(line) {
            let wanted =
                judged.contains(r.id.as_str()) || r.redoes.is_some() || runs.contains_key(&r.id);
            if wanted {
                if r.redoes.is_some() && r.revision <= 1 {
                    redos.push(r.id.clone());
                }
                keep_latest(&mut runs, r);
            }
        }
        Seen::Next
    })?;
    // The local runs Claude redid are needed too.
    let redone: HashSet<String> = redos
        .iter()
        .filter_map(|id| runs.get(id).and_then(|r| r.redoes.clone()))
        .filter(|id| !runs.contains_key(id))
        .collect();
    if !redone.is_empty() {
        records::scan_lines(&paths.routing_log(), |line| {
            if let Ok(r) = serde_json::from_str::<RoutingRecord>(line)
                && redone.contains(&r.id)
            {
                keep_latest(&mut runs, r);
            }
            Seen::Next
        })?;
    }
    let io = |e: std::io::Error| LearnError::Io {
        path: "export output".into(),
        source: e,
    };
    let mut done = Exported::default();
    let mut row = |v: serde_json::Value, done: &mut Exported| -> Result<(), LearnError> {
        serde_json::to_writer(&mut *out, &v).map_err(|e| io(std::io::Error::other(e)))?;
        out.write_all(b"\n").map_err(io)?;
        done.rows += 1;
        Ok(())
    };
    let chat = |input: &str, output: &str| json!({"messages": [{"role": "user", "content": input}, {"role": "assistant", "content": output}]});
    // Was this local run's output bad (judged poor, or rejected)?
    let bad = |id: &str| {
        verdicts
            .get(&(id.to_string(), Subject::Local))
            .is_some_and(|e| e.score == Score::Poor)
            || runs.get(id).is_some_and(|r| r.user_accepted == Some(false))
    };
    let mut ids: Vec<&String> = runs.keys().collect();
    ids.sort_by(|a, b| {
        let (ra, rb) = (&runs[*a], &runs[*b]);
        (ra.timestamp.as_str(), a.as_str()).cmp(&(rb.timestamp.as_str(), b.as_str()))
    });
    match kind {
        Kind::Sft => {
            for id in ids {
                let r = &runs[id];
                let good_local = r.route.is_local()
                    && r.user_accepted != Some(false)
                    && verdicts
                        .get(&(id.clone(), Subject::Local))
                        .is_some_and(|e| e.score == Score::Good);
                let claude_redo = !r.route.is_local() && r.redoes.as_deref().is_some_and(bad);
                if !(good_local || claude_redo) {
                    continue;
                }
                match learning.artifact_io(r) {
                    Some((input, output)) if !input.is_empty() => {
                        row(chat(&input, &output), &mut done)?
                    }
                    _ => done.missing_artifacts += 1,
                }
            }
        }
        Kind::Dpo => {
            for id in ids {
                let r = &runs[id];
                let Some(local_id) = r.redoes.as_deref().filter(|l| bad(l)) else {
                    continue;
                };
                let Some(local) = runs.get(local_id) else {
                    continue;
                };
                match (learning.artifact_io(local), learning.artifact_io(r)) {
                    (Some((input, rejected)), Some((_, chosen))) if !input.is_empty() => row(
                        json!({"prompt": input, "chosen": chosen, "rejected": rejected}),
                        &mut done,
                    )?,
                    _ => done.missing_artifacts += 1,
                }
            }
        }
        Kind::Judge => {
            let mut keys: Vec<&(String, Subject)> = verdicts.keys().collect();
            keys.sort_by(|a, b| {
                (verdicts[*a].timestamp.as_str(), a.0.as_str())
                    .cmp(&(verdicts[*b].timestamp.as_str(), b.0.as_str()))
            });
            for key in keys {
                let e = &verdicts[key];
                let Some(r) = runs.get(&e.routing_id) else {
                    continue;
                };
                // The judged output: the run's own (local output of a local run, Claude's of a
                // Claude run); a judgment of another subject has no output to pair with here.
                if (e.subject == Subject::Local) != r.route.is_local() {
                    continue;
                }
                match learning.artifact_io(r) {
                    Some((input, output)) if !input.is_empty() => row(
                        json!({
                            "task": input,
                            "response": output,
                            "rubric": RUBRIC,
                            "reasoning": e.reasoning.clone().unwrap_or_default(),
                            "score": e.score,
                        }),
                        &mut done,
                    )?,
                    _ => done.missing_artifacts += 1,
                }
            }
        }
    }
    out.flush().map_err(io)?;
    Ok(done)
}

/// Keeps the latest revision of each run; a revision carries no input, so the first line's
/// `task_input` is kept with it.
fn keep_latest(runs: &mut HashMap<String, RoutingRecord>, r: RoutingRecord) {
    match runs.get_mut(&r.id) {
        Some(old) if old.revision > r.revision => {
            if old.task_input.is_none() {
                old.task_input = r.task_input;
            }
        }
        Some(old) => {
            let input = old.task_input.take();
            let mut r = r;
            r.task_input = r.task_input.or(input);
            *old = r;
        }
        None => {
            runs.insert(r.id.clone(), r);
        }
    }
}
