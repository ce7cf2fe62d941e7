//! The records and their append-only JSONL store.
//!
//! Every append takes an exclusive lock on the file (`std::fs::File::lock`, flock on Unix), so
//! appends from several processes (CLI runs beside an MCP server) never interleave. A record is
//! one `write_all` of a whole line; if a crash left the file without a final newline (a torn
//! line), the next append ends that line first, so the torn line stays one bad line that readers
//! skip with a warning and the new record is whole.
//!
//! Readers take the lock only for the moment they read the file's length, then stream up to it:
//! what they see ends at a record boundary and writers are never held up by a long report.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::LearnError;

/// Where a task went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    /// An existing local ensemble.
    Local,
    /// A local ensemble made for the task.
    NewEnsemble,
    /// Claude did it itself.
    Claude,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Local => "local",
            Route::NewEnsemble => "new-ensemble",
            Route::Claude => "claude",
        }
    }
    pub fn is_local(self) -> bool {
        self != Route::Claude
    }
}

/// The 3-point verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Score {
    Good,
    Acceptable,
    Poor,
}

impl Score {
    /// good 1, acceptable 0.5, poor 0 (PGR's scale).
    pub fn value(self) -> f64 {
        match self {
            Score::Good => 1.0,
            Score::Acceptable => 0.5,
            Score::Poor => 0.0,
        }
    }
    pub fn parse(s: &str) -> Option<Score> {
        match s.trim().to_ascii_lowercase().as_str() {
            "good" => Some(Score::Good),
            "acceptable" => Some(Score::Acceptable),
            "poor" => Some(Score::Poor),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Score::Good => "good",
            Score::Acceptable => "acceptable",
            Score::Poor => "poor",
        }
    }
}

/// Whose output a judgment is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    Local,
    Claude,
}

/// How `estimated_claude_tokens` was reached (always an estimate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// e.g. `input + deliverable, o200k_base x 1.2`.
    pub method: String,
    pub encoding: String,
    pub factor: f64,
    /// Claude-equivalent input and output tokens.
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// One line of `routing-log.jsonl`: the seed's fields, then orc's. A later line with the same
/// `id` and a higher `revision` supersedes it (feedback appends such a line: the log stays
/// append-only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingRecord {
    pub id: String,
    pub timestamp: String,
    pub task_type: String,
    pub task_summary: Option<String>,
    pub ensemble_used: Option<String>,
    #[serde(default)]
    pub model_tiers_used: Vec<String>,
    #[serde(default)]
    pub total_tokens_local: u64,
    #[serde(default)]
    pub estimated_claude_tokens: u64,
    #[serde(default)]
    pub tokens_saved: u64,
    #[serde(default)]
    pub duration_ms: u64,
    #[serde(default)]
    pub user_accepted: Option<bool>,
    // ---- orc's additions
    pub route: Route,
    /// The run's execution.json, relative to `.llm-orc/` (Claude's kept output for Claude work).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Estimate>,
    /// For Claude-direct work: the tokens Claude reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claude_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claude_output_tokens: Option<u64>,
    /// The model of each tier, in tier order (what a LoRA adapter would be built on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models_used: Vec<String>,
    /// `success` or `error` (local runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The task's whole input (`learning.log_inputs: full`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_input: Option<String>,
    /// Claude redid this local run's work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redoes: Option<String>,
    /// On a redo: what the redone local run was counted as saving, which the report takes back
    /// (its output was not used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redone: Option<Redone>,
    /// 1 for the record as first logged; feedback appends revision 2, 3...
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub revision: u32,
    /// On a revision: `user_accepted` before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_accepted: Option<bool>,
    /// The task's instruction (the caller's, else its summary and the ensemble's description):
    /// what a judge and the training data need beside the input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    /// The free quality checks of the answer (local runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<super::checks::FreeChecks>,
    /// Claude's answer to this local run's task, for a paired comparison: not delivered, judged
    /// beside the local answer so PGR has pairs (its tokens are evaluation spend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired_with: Option<String>,
    /// What handing the run over cost Claude, counted from what crossed the wire (MCP runs; a
    /// CLI run has none). Calls that name the run later are in `handover.jsonl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handover: Option<Handover>,
}

/// Claude-side tokens of a hand-over: what Claude wrote (arguments: its output tokens) and read
/// (results and tool definitions: its input tokens). Estimates (see `estimate::COUNTER`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Handover {
    /// The tool calls counted.
    pub calls: u64,
    /// Arguments Claude wrote (Claude output tokens).
    pub argument_tokens: u64,
    /// Results Claude read (Claude input tokens).
    pub result_tokens: u64,
    /// The share of orc's tool definitions sent with those turns (Claude input tokens).
    pub definition_tokens: u64,
}

impl Handover {
    pub fn add(&mut self, o: &Handover) {
        self.calls = self.calls.saturating_add(o.calls);
        self.argument_tokens = self.argument_tokens.saturating_add(o.argument_tokens);
        self.result_tokens = self.result_tokens.saturating_add(o.result_tokens);
        self.definition_tokens = self.definition_tokens.saturating_add(o.definition_tokens);
    }
    /// Claude input tokens (results and definitions).
    pub fn input_tokens(&self) -> u64 {
        self.result_tokens.saturating_add(self.definition_tokens)
    }
}

/// One line of `handover.jsonl`: an MCP call that names a run after its routing record was
/// written (polls, judging, feedback), with what it cost Claude.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoverLine {
    pub routing_id: String,
    pub tool: String,
    pub timestamp: String,
    /// `judging` (should_evaluate, record_evaluation, judge_locally) or `delegation`.
    pub kind: String,
    #[serde(flatten)]
    pub tokens: Handover,
}

/// The tools whose hand-over the report counts as judging rather than delegation.
pub fn is_judging_tool(tool: &str) -> bool {
    matches!(
        tool,
        "should_evaluate" | "record_evaluation" | "judge_locally"
    )
}

/// The saving of a local run Claude redid, as its record counted it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Redone {
    pub task_type: String,
    pub ensemble_used: Option<String>,
    pub tokens_saved: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Estimate>,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// One line of `evaluations.jsonl`: the seed's fields, then orc's (copied from the routing record
/// so reports stream each file once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationRecord {
    pub id: String,
    pub routing_id: String,
    pub judge: String,
    pub score: Score,
    pub reasoning: Option<String>,
    pub failure_mode: Option<String>,
    #[serde(default)]
    pub judge_tokens_used: u64,
    // ---- orc's additions
    pub subject: Subject,
    #[serde(default)]
    pub timestamp: String,
    #[serde(default)]
    pub task_type: String,
    #[serde(default)]
    pub ensemble_used: Option<String>,
    /// The judged output is the one the user got (local output of a local route, Claude's of a
    /// Claude route): what PGR's r_router averages.
    #[serde(default)]
    pub delivered: bool,
    /// Judged by a local model (`orc eval judge`): costs no dollars.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub local_judge: bool,
    /// The judged run's instruction, input and output, kept in `evaluations/examples/`
    /// (relative to `.llm-orc/`), which `cleanup_artifacts` never touches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
    /// The free checks' verdict on the judged local output (strong pass good, not delivered
    /// poor), which this judgment replaces in quality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_checks: Option<Score>,
}

/// What a scan of a file met.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanStats {
    pub lines: u64,
    /// Lines that are not records (torn by a crash, or edited by hand), skipped.
    pub skipped: u64,
    /// The 1-based numbers of the first few skipped lines.
    pub skipped_at: Vec<u64>,
}

impl ScanStats {
    /// Appends the stats of the next part of the same file.
    pub fn then(&mut self, next: ScanStats) {
        for at in next.skipped_at {
            if self.skipped_at.len() < 5 {
                self.skipped_at.push(self.lines + at);
            }
        }
        self.lines += next.lines;
        self.skipped += next.skipped;
    }

    /// A user-facing warning when lines were skipped.
    pub fn warning(&self, path: &Path) -> Option<String> {
        (self.skipped > 0).then(|| {
            format!(
                "{}: skipped {} line(s) that are not records (line {}{}); a crash mid-append leaves one such line",
                path.display(),
                self.skipped,
                self.skipped_at
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                if self.skipped as usize > self.skipped_at.len() { ", ..." } else { "" }
            )
        })
    }
}

fn open_append(path: &Path) -> Result<File, LearnError> {
    if let Some(dir) = path.parent() {
        super::ensure_dir(dir)?;
    }
    super::open_no_follow(
        path,
        OpenOptions::new().read(true).append(true).create(true),
    )
    .map_err(LearnError::io(path))
}

/// Opens a log for reading (never through a symbolic link).
fn open_read(path: &Path) -> std::io::Result<File> {
    super::open_no_follow(path, OpenOptions::new().read(true))
}

/// True when the file is empty or ends with a newline.
fn ends_with_newline(f: &File) -> std::io::Result<bool> {
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(true);
    }
    let mut last = [0u8; 1];
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        f.read_exact_at(&mut last, len - 1)?;
    }
    #[cfg(not(unix))]
    {
        use std::io::{Seek, SeekFrom};
        let mut g = f.try_clone()?;
        g.seek(SeekFrom::Start(len - 1))?;
        g.read_exact(&mut last)?;
    }
    Ok(last[0] == b'\n')
}

/// Appends one record as one line, under the file's exclusive lock.
pub fn append<T: Serialize>(path: &Path, record: &T) -> Result<(), LearnError> {
    append_locked(path, |_| {
        Ok(Some(serde_json::to_vec(record).map_err(to_io)?))
    })
}

fn to_io(e: serde_json::Error) -> std::io::Error {
    std::io::Error::other(e)
}

/// Under the exclusive lock: `decide` may read the file (it gets the path) and returns the line
/// to append (without its newline), or None to append nothing.
pub fn append_locked(
    path: &Path,
    decide: impl FnOnce(&Path) -> std::io::Result<Option<Vec<u8>>>,
) -> Result<(), LearnError> {
    let mut f = open_append(path)?;
    f.lock().map_err(LearnError::io(path))?;
    let r = (|| -> std::io::Result<()> {
        let Some(mut line) = decide(path)? else {
            return Ok(());
        };
        let mut buf = Vec::with_capacity(line.len() + 2);
        if !ends_with_newline(&f)? {
            // A torn line from a crash: end it, so this record stays whole.
            buf.push(b'\n');
        }
        buf.append(&mut line);
        buf.push(b'\n');
        f.write_all(&buf)?;
        f.flush()
    })();
    let _ = f.unlock();
    r.map_err(LearnError::io(path))
}

/// What a line visitor says.
pub enum Seen {
    Next,
    Stop,
    /// The line is not a record: count it as skipped.
    Bad,
}

/// Streams the lines of a JSONL file up to its length when the scan starts. `each` gets each
/// line. A missing file is empty.
pub fn scan_lines(path: &Path, each: impl FnMut(&str) -> Seen) -> Result<ScanStats, LearnError> {
    scan_lines_with(path, true, each)
}

/// `scan_lines` for a caller that already holds the file's exclusive lock.
pub fn scan_lines_locked(
    path: &Path,
    each: impl FnMut(&str) -> Seen,
) -> Result<ScanStats, LearnError> {
    scan_lines_with(path, false, each)
}

fn scan_lines_with(
    path: &Path,
    lock: bool,
    mut each: impl FnMut(&str) -> Seen,
) -> Result<ScanStats, LearnError> {
    let f = match open_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ScanStats::default()),
        Err(e) => return Err(LearnError::io(path)(e)),
    };
    let len = if lock {
        // A shared lock only while reading the length: no append is half-written at that moment.
        f.lock_shared().map_err(LearnError::io(path))?;
        let len = f.metadata().map_err(LearnError::io(path));
        let _ = f.unlock();
        len?.len()
    } else {
        f.metadata().map_err(LearnError::io(path))?.len()
    };
    scan_range(path, f, 0, len, &mut each)
}

/// The length of a file as a reader should see it (read under a brief shared lock); 0 if missing.
pub fn snapshot_len(path: &Path) -> Result<u64, LearnError> {
    let f = match open_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(LearnError::io(path)(e)),
    };
    f.lock_shared().map_err(LearnError::io(path))?;
    let len = f.metadata().map_err(LearnError::io(path));
    let _ = f.unlock();
    Ok(len?.len())
}

/// Splits `0..len` of a file into up to `parts` ranges that start and end at line boundaries.
pub fn line_ranges(path: &Path, len: u64, parts: u64) -> Result<Vec<(u64, u64)>, LearnError> {
    let mut cuts = vec![0u64];
    if parts > 1 && len > 0 {
        let mut f = open_read(path).map_err(LearnError::io(path))?;
        for k in 1..parts {
            let at = len * k / parts;
            if at <= *cuts.last().unwrap_or(&0) {
                continue;
            }
            use std::io::{Seek, SeekFrom};
            f.seek(SeekFrom::Start(at)).map_err(LearnError::io(path))?;
            let mut r = BufReader::new((&mut f).take(len - at));
            let mut skip = Vec::new();
            // Skipping to the next line boundary keeps nothing of the line.
            let (n, _) = read_line_capped(&mut r, &mut skip, 0).map_err(LearnError::io(path))?;
            let cut = at + n;
            if cut < len && cut > *cuts.last().unwrap_or(&0) {
                cuts.push(cut);
            }
        }
    }
    cuts.push(len);
    Ok(cuts.windows(2).map(|w| (w[0], w[1])).collect())
}

/// Streams the lines in `start..end` of a file (`start` at a line boundary).
pub fn scan_file_range(
    path: &Path,
    start: u64,
    end: u64,
    mut each: impl FnMut(&str) -> Seen,
) -> Result<ScanStats, LearnError> {
    let f = match open_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ScanStats::default()),
        Err(e) => return Err(LearnError::io(path)(e)),
    };
    scan_range(path, f, start, end, &mut each)
}

/// The longest line a reader takes (64 MiB); a longer one is skipped, never held whole.
pub const MAX_LINE: usize = 64 << 20;

/// Reads one line (with its newline, if any) into `buf`, keeping at most `cap` bytes of it
/// before the newline. Returns the bytes consumed and whether the line was longer than `cap`;
/// a longer line is consumed to its end but `buf` is left empty.
fn read_line_capped(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<(u64, bool)> {
    let mut total = 0u64;
    let mut over = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok((total, over));
        }
        let (used, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if !over {
            let content = buf.len() + used - usize::from(done);
            if content > cap {
                over = true;
                buf.clear();
                buf.shrink_to(1024);
            } else {
                buf.extend_from_slice(&avail[..used]);
            }
        }
        r.consume(used);
        total += used as u64;
        if done {
            return Ok((total, over));
        }
    }
}

fn scan_range(
    path: &Path,
    f: File,
    start: u64,
    end: u64,
    each: &mut dyn FnMut(&str) -> Seen,
) -> Result<ScanStats, LearnError> {
    scan_range_capped(path, f, start, end, MAX_LINE, each)
}

fn scan_range_capped(
    path: &Path,
    mut f: File,
    start: u64,
    end: u64,
    cap: usize,
    each: &mut dyn FnMut(&str) -> Seen,
) -> Result<ScanStats, LearnError> {
    if start > 0 {
        use std::io::{Seek, SeekFrom};
        f.seek(SeekFrom::Start(start))
            .map_err(LearnError::io(path))?;
    }
    let mut reader = BufReader::with_capacity(1 << 20, f.take(end.saturating_sub(start)));
    let mut stats = ScanStats::default();
    let mut buf = Vec::with_capacity(1024);
    loop {
        buf.clear();
        let (n, too_long) =
            read_line_capped(&mut reader, &mut buf, cap).map_err(LearnError::io(path))?;
        if n == 0 {
            break;
        }
        stats.lines += 1;
        if too_long {
            tracing::warn!(file = %path.display(), line = stats.lines, max = cap, "a line is longer than the cap; skipped without reading it whole");
            skip(&mut stats, path);
            continue;
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        match std::str::from_utf8(line) {
            Ok(s) => match each(s) {
                Seen::Next => {}
                Seen::Stop => break,
                Seen::Bad => skip(&mut stats, path),
            },
            Err(_) => skip(&mut stats, path),
        }
    }
    Ok(stats)
}

/// Counts a line that is not a record.
fn skip(stats: &mut ScanStats, path: &Path) {
    stats.skipped += 1;
    if stats.skipped_at.len() < 5 {
        stats.skipped_at.push(stats.lines);
    }
    tracing::warn!(file = %path.display(), line = stats.lines, "skipped a line that is not a record");
}

/// Streams the records of a JSONL file; lines that do not parse as `T` are skipped and counted.
pub fn scan<T: for<'de> Deserialize<'de>>(
    path: &Path,
    mut each: impl FnMut(T),
) -> Result<ScanStats, LearnError> {
    scan_lines(path, |line| match serde_json::from_str::<T>(line) {
        Ok(r) => {
            each(r);
            Seen::Next
        }
        Err(_) => Seen::Bad,
    })
}

/// Whether a JSONL line may hold the string `text` in one of its values, so that it is worth
/// parsing: it appears as is, or the line has an escape (`\u0061`, `\/`) that could spell it.
/// Lookups compare parsed values; this only skips lines that cannot match, however another tool
/// spaced or escaped its JSON (`"id": "x"`).
pub fn may_hold(line: &str, text: &str) -> bool {
    line.contains(text) || line.contains('\\')
}

/// The current state of one routing record (its latest revision), parsing only lines that
/// may mention its id. `locked`: the caller holds the exclusive lock.
pub fn find_routing(
    path: &Path,
    id: &str,
    locked: bool,
) -> Result<Option<RoutingRecord>, LearnError> {
    let mut found: Option<RoutingRecord> = None;
    scan_lines_with(path, !locked, |line| {
        if may_hold(line, id)
            && let Ok(r) = serde_json::from_str::<RoutingRecord>(line)
            && r.id == id
            && found.as_ref().is_none_or(|f| r.revision >= f.revision)
        {
            found = Some(r);
        }
        Seen::Next
    })?;
    Ok(found)
}

/// The latest evaluation of each output by each kind of judge (reference or local): per
/// (routing id, subject, local judge) the last line wins, in the order of those lines. `keep`
/// picks the latest ones to return; a later line it refuses still supersedes an earlier one it
/// kept. Memory: the kept records.
pub fn latest_evaluations(
    path: &Path,
    mut keep: impl FnMut(&EvaluationRecord) -> bool,
) -> Result<Vec<EvaluationRecord>, LearnError> {
    let mut latest: std::collections::HashMap<(String, Subject, bool), (u64, EvaluationRecord)> =
        std::collections::HashMap::new();
    let mut seq = 0u64;
    scan::<EvaluationRecord>(path, |e| {
        seq += 1;
        let key = (e.routing_id.clone(), e.subject, e.local_judge);
        if keep(&e) {
            latest.insert(key, (seq, e));
        } else {
            latest.remove(&key);
        }
    })?;
    let mut out: Vec<(u64, EvaluationRecord)> = latest.into_values().collect();
    out.sort_by_key(|(n, _)| *n);
    Ok(out.into_iter().map(|(_, e)| e).collect())
}
