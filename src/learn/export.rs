//! The flywheel's data: training files built from the logs and the kept examples.
//!
//! - `sft`: chat JSONL (`{"messages": [system (the instruction), user, assistant]}`) of local
//!   outputs judged good, and of Claude's outputs for tasks where Claude redid local work that
//!   was judged poor, rejected or failed its free checks;
//! - `dpo`: `{"prompt", "chosen", "rejected"}` where both exist: Claude's redo over the poor,
//!   rejected or failed local output, and Claude's paired answer over a local answer judged worse;
//! - `judge`: judge-training rows (instruction, task, response, rubric, reasoning, score,
//!   failure mode) from the reference judges' evaluations, for fine-tuning a small local judge.
//!
//! A verdict is the latest of each output: a reference judge's, else a local judge's. Inputs and
//! outputs come from `evaluations/examples/` (kept when a run is judged or rejected, never
//! touched by `cleanup_artifacts`), else from the run's artifact. Rows are written as they are
//! made: memory holds the verdicts and the runs they name, never the output.

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
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Sft => "sft",
            Kind::Dpo => "dpo",
            Kind::Judge => "judge",
        }
    }
}

/// Which rows to keep (every field optional).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Filter {
    pub task_type: Option<String>,
    pub ensemble: Option<String>,
    pub judge: Option<String>,
}

impl Filter {
    fn keeps(&self, task_type: &str, ensemble: Option<&str>, judge: Option<&str>) -> bool {
        self.task_type.as_deref().is_none_or(|t| t == task_type)
            && self.ensemble.as_deref().is_none_or(|e| Some(e) == ensemble)
            && self.judge.as_deref().is_none_or(|j| Some(j) == judge)
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Exported {
    pub rows: u64,
    /// Runs that qualified but whose example and artifact are both missing or unreadable.
    pub missing_artifacts: u64,
    /// Rows built from kept examples (the rest came from artifacts).
    pub from_examples: u64,
}

/// The chat rows of one run: the instruction as the system message when there is one.
fn chat(instruction: Option<&str>, input: &str, output: &str) -> serde_json::Value {
    let mut messages = Vec::new();
    if let Some(i) = instruction.filter(|i| !i.trim().is_empty()) {
        messages.push(json!({"role": "system", "content": i}));
    }
    messages.push(json!({"role": "user", "content": input}));
    messages.push(json!({"role": "assistant", "content": output}));
    json!({ "messages": messages })
}

fn prompt(instruction: Option<&str>, input: &str) -> String {
    match instruction.filter(|i| !i.trim().is_empty()) {
        Some(i) => format!("{i}\n\n{input}"),
        None => input.to_string(),
    }
}

/// The latest verdict per (routing id, subject).
type Verdicts = HashMap<(String, Subject), EvaluationRecord>;

/// A run's instruction, input and output.
type RunIo = (Option<String>, String, String);

/// Writes the rows of `kind` as JSONL into `out`, one at a time.
pub fn export(
    learning: &Learning,
    kind: Kind,
    filter: &Filter,
    out: &mut dyn Write,
) -> Result<Exported, LearnError> {
    let verdicts = verdicts(learning, kind, filter)?;
    let runs = runs(learning, &verdicts)?;
    let read = Read {
        learning,
        verdicts,
        runs,
    };
    let mut rows = Rows {
        out,
        done: Exported::default(),
    };
    match kind {
        Kind::Sft => sft(&read, filter, &mut rows)?,
        Kind::Dpo => dpo(&read, filter, &mut rows)?,
        Kind::Judge => judge(&read, filter, &mut rows)?,
    }
    rows.out.flush().map_err(output_error)?;
    Ok(rows.done)
}

/// The latest verdict per (routing id, subject): a reference judge's over a local judge's
/// (a judge export without `--judge` reads only the reference judges').
fn verdicts(learning: &Learning, kind: Kind, filter: &Filter) -> Result<Verdicts, LearnError> {
    let mut verdicts: Verdicts = HashMap::new();
    let mut by_local: Verdicts = HashMap::new();
    records::scan::<EvaluationRecord>(&learning.paths.evaluations(), |mut e| {
        // The export reads inputs and outputs from the example or the artifact, not the record.
        e.reasoning = e.reasoning.map(|r| r.chars().take(16 * 1024).collect());
        let key = (e.routing_id.clone(), e.subject);
        if e.local_judge {
            by_local.insert(key, e);
        } else {
            verdicts.insert(key, e);
        }
    })?;
    if kind != Kind::Judge || filter.judge.is_some() {
        for (k, e) in by_local {
            verdicts.entry(k).or_insert(e);
        }
    }
    Ok(verdicts)
}

/// Runs: those judged, Claude's redos and paired answers (with what they answer), and local
/// answers the free checks failed (DPO's rejected side when Claude redid them).
fn runs(
    learning: &Learning,
    verdicts: &Verdicts,
) -> Result<HashMap<String, RoutingRecord>, LearnError> {
    let paths = &learning.paths;
    let judged: HashSet<&str> = verdicts.keys().map(|(id, _)| id.as_str()).collect();
    let mut runs: HashMap<String, RoutingRecord> = HashMap::new();
    let mut linked: Vec<String> = Vec::new();
    records::scan_lines(&paths.routing_log(), |line| {
        if let Ok(mut r) = serde_json::from_str::<RoutingRecord>(line) {
            let links = r.redoes.is_some() || r.paired_with.is_some();
            let wanted = judged.contains(r.id.as_str()) || links || runs.contains_key(&r.id);
            if wanted {
                if links && r.revision <= 1 {
                    linked.push(r.id.clone());
                }
                // Inputs come from the example or the artifact: the record's copy is not held.
                r.task_input = None;
                keep_latest(&mut runs, r);
            }
        }
        Seen::Next
    })?;
    let other: HashSet<String> = linked
        .iter()
        .filter_map(|id| {
            runs.get(id)
                .and_then(|r| r.redoes.clone().or_else(|| r.paired_with.clone()))
        })
        .filter(|id| !runs.contains_key(id))
        .collect();
    if !other.is_empty() {
        records::scan_lines(&paths.routing_log(), |line| {
            if let Ok(mut r) = serde_json::from_str::<RoutingRecord>(line)
                && other.contains(&r.id)
            {
                r.task_input = None;
                keep_latest(&mut runs, r);
            }
            Seen::Next
        })?;
    }
    Ok(runs)
}

/// What the rows are made from.
struct Read<'l> {
    learning: &'l Learning,
    verdicts: Verdicts,
    runs: HashMap<String, RoutingRecord>,
}

impl Read<'_> {
    fn verdict(&self, id: &str, s: Subject) -> Option<&EvaluationRecord> {
        self.verdicts.get(&(id.to_string(), s))
    }

    /// Was this local run's output bad (judged poor, rejected, or failed its free checks)?
    fn bad(&self, id: &str) -> bool {
        self.verdict(id, Subject::Local)
            .is_some_and(|e| e.score == Score::Poor)
            || self.runs.get(id).is_some_and(|r| {
                r.user_accepted == Some(false) || r.checks.as_ref().is_some_and(|c| !c.delivered)
            })
    }

    /// A run's instruction, input and output, counted when they came from a kept example.
    fn io_of(&self, r: &RoutingRecord, done: &mut Exported) -> Option<RunIo> {
        let from_example = self.learning.example(&r.id).is_some();
        let got = self.learning.run_io(r);
        if got.is_some() && from_example {
            done.from_examples += 1;
        }
        got
    }

    /// The runs' ids, oldest first.
    fn ids(&self) -> Vec<&String> {
        let mut ids: Vec<&String> = self.runs.keys().collect();
        ids.sort_by(|a, b| {
            let (ra, rb) = (&self.runs[*a], &self.runs[*b]);
            (ra.timestamp.as_str(), a.as_str()).cmp(&(rb.timestamp.as_str(), b.as_str()))
        });
        ids
    }
}

fn output_error(e: std::io::Error) -> LearnError {
    LearnError::Io {
        path: "export output".into(),
        source: e,
    }
}

/// Where the rows go, and what was written.
struct Rows<'o> {
    out: &'o mut dyn Write,
    done: Exported,
}

impl Rows<'_> {
    fn row(&mut self, v: serde_json::Value) -> Result<(), LearnError> {
        serde_json::to_writer(&mut *self.out, &v)
            .map_err(|e| output_error(std::io::Error::other(e)))?;
        self.out.write_all(b"\n").map_err(output_error)?;
        self.done.rows += 1;
        Ok(())
    }
}

/// SFT: good local answers, and Claude's redos of bad ones, as chat examples.
fn sft(read: &Read, filter: &Filter, rows: &mut Rows) -> Result<(), LearnError> {
    for id in read.ids() {
        let r = &read.runs[id];
        let good_local = r.route.is_local()
            && r.user_accepted != Some(false)
            && read
                .verdict(id, Subject::Local)
                .is_some_and(|e| e.score == Score::Good);
        let redid = r
            .redoes
            .as_deref()
            .filter(|l| !r.route.is_local() && read.bad(l));
        let (why, local) = match (good_local, redid) {
            (true, _) => (read.verdict(id, Subject::Local), r),
            (false, Some(l)) => match read.runs.get(l) {
                Some(lr) => (read.verdict(l, Subject::Local), lr),
                None => continue,
            },
            _ => continue,
        };
        if !filter.keeps(
            &local.task_type,
            local.ensemble_used.as_deref(),
            why.map(|e| e.judge.as_str()),
        ) {
            continue;
        }
        match read.io_of(r, &mut rows.done) {
            Some((inst, input, output)) if !input.is_empty() => {
                let inst = inst.or_else(|| local.instruction.clone());
                rows.row(chat(inst.as_deref(), &input, &output))?
            }
            _ => rows.done.missing_artifacts += 1,
        }
    }
    Ok(())
}

/// DPO: Claude's redo of a bad local answer, or its paired answer judged better, as chosen
/// over the local answer.
fn dpo(read: &Read, filter: &Filter, rows: &mut Rows) -> Result<(), LearnError> {
    for id in read.ids() {
        let r = &read.runs[id];
        if r.route.is_local() {
            continue;
        }
        let local_id = match (r.redoes.as_deref(), r.paired_with.as_deref()) {
            (Some(l), _) if read.bad(l) => l,
            (_, Some(l))
                if read
                    .verdict(l, Subject::Local)
                    .zip(read.verdict(id, Subject::Claude))
                    .is_some_and(|(lv, cv)| cv.score.value() > lv.score.value()) =>
            {
                l
            }
            _ => continue,
        };
        let Some(local) = read.runs.get(local_id) else {
            continue;
        };
        if !filter.keeps(
            &local.task_type,
            local.ensemble_used.as_deref(),
            read.verdict(local_id, Subject::Local)
                .map(|e| e.judge.as_str()),
        ) {
            continue;
        }
        match (
            read.io_of(local, &mut rows.done),
            read.io_of(r, &mut rows.done),
        ) {
            (Some((inst, input, rejected)), Some((_, _, chosen))) if !input.is_empty() => rows
                .row(
                json!({"prompt": prompt(inst.as_deref(), &input), "chosen": chosen, "rejected": rejected}),
            )?,
            _ => rows.done.missing_artifacts += 1,
        }
    }
    Ok(())
}

/// Judge: each verdict with the output it judged, oldest first.
fn judge(read: &Read, filter: &Filter, rows: &mut Rows) -> Result<(), LearnError> {
    let mut keys: Vec<&(String, Subject)> = read.verdicts.keys().collect();
    keys.sort_by(|a, b| {
        (read.verdicts[*a].timestamp.as_str(), a.0.as_str())
            .cmp(&(read.verdicts[*b].timestamp.as_str(), b.0.as_str()))
    });
    for key in keys {
        let e = &read.verdicts[key];
        let Some(r) = read.runs.get(&e.routing_id) else {
            continue;
        };
        // The judged output: the run's own (local output of a local run, Claude's of a
        // Claude run); a judgment of another subject has no output to pair with here.
        if (e.subject == Subject::Local) != r.route.is_local() {
            continue;
        }
        if !filter.keeps(&r.task_type, r.ensemble_used.as_deref(), Some(&e.judge)) {
            continue;
        }
        match read.io_of(r, &mut rows.done) {
            Some((inst, input, output)) if !input.is_empty() => rows.row(json!({
                "instruction": inst.unwrap_or_default(),
                "task": input,
                "response": output,
                "rubric": RUBRIC,
                "reasoning": e.reasoning.clone().unwrap_or_default(),
                "score": e.score,
                "failure_mode": e.failure_mode,
                "task_type": r.task_type,
                "ensemble": r.ensemble_used,
                "judge": e.judge,
            }))?,
            _ => rows.done.missing_artifacts += 1,
        }
    }
    Ok(())
}

/// Keeps the latest revision of each run.
fn keep_latest(runs: &mut HashMap<String, RoutingRecord>, r: RoutingRecord) {
    match runs.get_mut(&r.id) {
        Some(old) if old.revision > r.revision => {}
        Some(old) => *old = r,
        None => {
            runs.insert(r.id.clone(), r);
        }
    }
}

/// Writes an export to `path` as it is made: into a private temporary file beside it, renamed
/// over `path` once complete (a failed export leaves the old file).
pub fn export_to_file(
    learning: &Learning,
    kind: Kind,
    filter: &Filter,
    path: &std::path::Path,
) -> Result<Exported, LearnError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".orc-export-")
        .tempfile_in(&dir)
        .map_err(LearnError::io(&dir))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file());
    let done = export(learning, kind, filter, &mut w)?;
    w.flush().map_err(LearnError::io(path))?;
    drop(w);
    tmp.as_file().sync_all().map_err(LearnError::io(path))?;
    tmp.persist(path)
        .map_err(|e| LearnError::io(path)(e.error))?;
    Ok(done)
}
