//! The learning loop (issue 15): orc keeps the records and does the arithmetic; Claude (through
//! MCP) or a person (through the CLI) supplies the judgments.
//!
//! Files live in the project's `.llm-orc/evaluations/`: `routing-log.jsonl` and
//! `evaluations.jsonl` (append-only, under an exclusive file lock), `routing-config.yaml` with
//! its history `routing-config.vN.yaml`, `task-profiles.yaml`, `lora-candidates.yaml`.
//!
//! - `records`  the record types and the locked, append-only JSONL store (torn lines skipped)
//! - `classify` task types, the seed's routing matrix, the instruction's classifier
//! - `signals`  cue phrases, the failure-mode signals, constraint counts, pasted inputs
//! - `input`    a routed task's input measured by orc (inline, files confined to the project)
//! - `delegation` the delegation level a user calibrates (`routing:` in config.yaml)
//! - `rank`     ensembles ranked for a task (BM25 x type fit x measured quality)
//! - `route`    recommend local / new-ensemble / claude for a task (a pipeline of steps)
//! - `breakeven` does a delegation pay? hand-over against Claude doing it (route_task's last word)
//! - `policy`   should this run be judged (the seed's sampling policy)
//! - `estimate` Claude-equivalent tokens (tiktoken o200k_base x a factor) and prices
//! - `metrics`  streaming aggregates: savings, quality, acceptance, PGR, break-even, kappa
//! - `report`   the learning report as text, JSON and a self-contained HTML page
//! - `batch`    `learn`: task profiles, versioned routing configs, rollback, LoRA candidates
//! - `export`   SFT / DPO / judge training data from the linked artifacts
//! - `service`  what both front ends call
//! - `status`   `orc status` with the learning log's running total
//! - `checks`   free quality signals (JSON, schema, labels, grounding, completeness, code, agreement)
//! - `sandbox`  the project's tests on a code answer, in a temporary copy
//! - `deliver`  an invoke's answer checked, retried locally, or escalated to Claude
//! - `examples` instruction, input and output of judged runs, kept where cleanup never reaches
//! - `evidence` promotion's evidence: an ensemble's evaluation record from these files

pub mod batch;
pub mod breakeven;
pub mod checks;
pub mod classify;
pub mod delegation;
pub mod deliver;
pub mod estimate;
pub mod evidence;
pub mod examples;
pub mod export;
pub mod input;
pub mod invoke;
pub mod metrics;
pub mod policy;
pub mod rank;
pub mod records;
pub mod report;
pub mod route;
pub mod sandbox;
pub mod service;
pub mod signals;
pub mod status;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The most tokens a client may report for one task or one judgment: far past any real count,
/// and small enough that no sum of them overflows.
pub const MAX_TOKENS: u64 = 1_000_000_000;

/// 1-40 of `a-z`, `0-9`, `_`, `-`: safe inside a file name and a shell word.
pub fn is_slug(s: &str) -> bool {
    (1..=40).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Errors of the learning layer.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("routing record `{0}` not found in routing-log.jsonl")]
    UnknownRouting(String),
    /// A request refused with a message for the user.
    #[error("{0}")]
    Refused(String),
}

impl LearnError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LearnError + '_ {
        move |source| LearnError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Refuses when a folder holding a learning file is a symbolic link: `path`'s folder and, below
/// `.llm-orc/`, the one above it (`evaluations/` for `evaluations/claude/`). A link planted in a
/// cloned repository must not send appends, exports or Claude's outputs elsewhere.
pub(crate) fn refuse_linked_dirs(path: &Path) -> std::io::Result<()> {
    for dir in path.ancestors().skip(1).take(2) {
        if dir
            .file_name()
            .is_none_or(|n| n == crate::load::project::LOCAL_DIR)
        {
            break;
        }
        if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(std::io::Error::other(format!(
                "{} is a symbolic link; orc never follows links in its learning files",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// Creates a learning folder (`evaluations/`, `evaluations/claude/`, `evaluations/exports/`),
/// refusing when it or the folder above it (below `.llm-orc/`) is a symbolic link.
pub fn ensure_dir(dir: &Path) -> Result<(), LearnError> {
    refuse_linked_dirs(&dir.join("x")).map_err(LearnError::io(dir))?;
    std::fs::create_dir_all(dir).map_err(LearnError::io(dir))
}

/// Opens a learning file without following a symbolic link at its name or at its folder.
pub(crate) fn open_no_follow(
    path: &Path,
    opts: &mut std::fs::OpenOptions,
) -> std::io::Result<std::fs::File> {
    refuse_linked_dirs(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    #[cfg(not(unix))]
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(std::io::Error::other("a symbolic link"));
    }
    opts.open(path).map_err(|e| {
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            std::io::Error::other(format!(
                "{} is a symbolic link; orc never follows links in its learning files",
                path.display()
            ))
        } else {
            e
        }
    })
}

/// What of a task's text goes into the routing log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogInputs {
    /// A short summary (the one given, else the first line of the input, cut at 200 chars).
    #[default]
    Summary,
    /// The whole input as well.
    Full,
    /// Neither.
    None,
}

/// A price per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

/// `learning:` in `.llm-orc/config.yaml`. Every key is optional.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LearnConfig {
    pub log_inputs: LogInputs,
    /// Share of runs judged after calibration (0.10 - 0.20).
    pub sample_rate: f64,
    /// Mixed into the sampling hash, so sampling is deterministic per project.
    pub sample_seed: String,
    /// Every run of an ensemble's first N uses is judged.
    pub calibration_uses: u64,
    /// Never judge an ensemble with more than this many uses...
    pub established_uses: u64,
    /// ... and an acceptance rate above this.
    pub established_acceptance: f64,
    /// `learn` runs by itself after this many new evaluations.
    pub learn_every: u64,
    /// A task type needs this many judged runs before learning changes its route.
    pub min_evidence: u64,
    /// Claude's tokens per o200k_base token.
    pub claude_token_factor: f64,
    /// The model whose price Claude-equivalent work is priced at.
    pub claude_model: String,
    /// The model whose price judge tokens are priced at.
    pub judge_model: String,
    /// Share of a judge's tokens that are output (reasoning + verdict); the rest is reading.
    pub judge_output_share: f64,
    /// Dollars per million tokens, by model.
    pub prices: BTreeMap<String, Price>,
    /// Hand evaluations to a local judge once it agrees with Claude well enough.
    pub local_judge: Option<LocalJudgeConfig>,
    /// Share of calibration runs that are paired comparisons: Claude answers the task too and
    /// both answers are judged, so PGR has tasks judged on both sides.
    pub pair_rate: f64,
    /// The free quality checks after each invoke.
    pub checks: sandbox::ChecksConfig,
    /// Share of orc's tool definitions counted per MCP call of a run (each call is one more
    /// turn, and every turn resends them). Default 0.1: a prompt-cache read costs a tenth of
    /// the input price. 1 without prompt caching; 0 where the client defers definitions
    /// (Claude Code's tool search: only names are sent).
    pub definitions_share: f64,
    /// Net dollars a delegation must be expected to save before `route_task` recommends it
    /// (0: it must not lose). `orc learn` moves it per task type from measured nets.
    pub min_net_usd: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalJudgeConfig {
    /// The profile `orc eval judge --profile` uses.
    pub profile: String,
    /// Cohen's kappa it must reach against Claude...
    #[serde(default = "default_min_kappa")]
    pub min_kappa: f64,
    /// ... on at least this many routing ids judged by both.
    #[serde(default = "default_min_pairs")]
    pub min_pairs: u64,
    /// Share of the runs this judge takes that Claude judges as well, so its agreement stays
    /// measured.
    #[serde(default = "default_spot_check_rate")]
    pub spot_check_rate: f64,
}

fn default_spot_check_rate() -> f64 {
    0.2
}

fn default_min_kappa() -> f64 {
    0.6
}

fn default_min_pairs() -> u64 {
    30
}

/// Published list prices (USD per million tokens) the estimates use unless config says otherwise.
pub fn default_prices() -> BTreeMap<String, Price> {
    let p = |i, o| Price {
        input_per_mtok: i,
        output_per_mtok: o,
    };
    BTreeMap::from([
        ("claude-sonnet-4".to_string(), p(3.0, 15.0)),
        ("claude-sonnet-4-5".to_string(), p(3.0, 15.0)),
        ("claude-opus-4".to_string(), p(15.0, 75.0)),
        ("claude-opus-4-5".to_string(), p(5.0, 25.0)),
        ("claude-haiku-4-5".to_string(), p(1.0, 5.0)),
    ])
}

impl Default for LearnConfig {
    fn default() -> Self {
        LearnConfig {
            log_inputs: LogInputs::Summary,
            sample_rate: 0.15,
            sample_seed: "orc".into(),
            calibration_uses: 5,
            established_uses: 20,
            established_acceptance: 0.8,
            learn_every: 20,
            min_evidence: 3,
            claude_token_factor: 1.2,
            claude_model: "claude-sonnet-4".into(),
            judge_model: "claude-sonnet-4".into(),
            judge_output_share: 0.25,
            prices: default_prices(),
            local_judge: None,
            pair_rate: 0.2,
            checks: sandbox::ChecksConfig::default(),
            definitions_share: 0.1,
            min_net_usd: 0.0,
        }
    }
}

impl LearnConfig {
    /// Reads `learning:` from a project's config.yaml; a missing file or key gives the defaults,
    /// a broken one the defaults and a warning.
    pub fn load(llm_orc: &Path) -> (LearnConfig, Vec<String>) {
        let path = llm_orc.join("config.yaml");
        let mut warnings = Vec::new();
        let Ok(text) = std::fs::read_to_string(&path) else {
            return (LearnConfig::default(), warnings);
        };
        #[derive(Deserialize)]
        struct Outer {
            #[serde(default)]
            learning: Option<serde_json::Value>,
        }
        let outer: Outer = match serde_saphyr::from_str(&text) {
            Ok(o) => o,
            Err(_) => return (LearnConfig::default(), warnings), // `config check` reports it
        };
        let mut cfg = match outer.learning {
            None | Some(serde_json::Value::Null) => LearnConfig::default(),
            Some(v) => match serde_json::from_value::<LearnConfig>(v) {
                Ok(c) => c,
                Err(e) => {
                    warnings.push(format!(
                        "{}: `learning:` ignored ({e}); using the defaults",
                        path.display()
                    ));
                    LearnConfig::default()
                }
            },
        };
        // Prices given in config extend the defaults rather than replace them.
        let mut prices = default_prices();
        prices.append(&mut cfg.prices);
        cfg.prices = prices;
        if !(0.10..=0.20).contains(&cfg.sample_rate) {
            let clamped = cfg.sample_rate.clamp(0.10, 0.20);
            warnings.push(format!(
                "{}: learning.sample_rate {} is outside 0.10-0.20; using {clamped}",
                path.display(),
                cfg.sample_rate
            ));
            cfg.sample_rate = clamped;
        }
        if !(cfg.claude_token_factor.is_finite() && cfg.claude_token_factor > 0.0) {
            warnings.push(format!(
                "{}: learning.claude_token_factor must be positive; using 1.2",
                path.display()
            ));
            cfg.claude_token_factor = 1.2;
        }
        cfg.judge_output_share = cfg.judge_output_share.clamp(0.0, 1.0);
        if !cfg.pair_rate.is_finite() {
            cfg.pair_rate = 0.2;
        }
        cfg.pair_rate = cfg.pair_rate.clamp(0.0, 1.0);
        if let Some(j) = &mut cfg.local_judge {
            if !j.spot_check_rate.is_finite() {
                j.spot_check_rate = 0.2;
            }
            j.spot_check_rate = j.spot_check_rate.clamp(0.0, 1.0);
        }
        cfg.checks.retries = cfg.checks.retries.min(5);
        for n in cfg.checks.samples.values_mut() {
            *n = (*n).clamp(1, checks::MAX_SAMPLES);
        }
        if !cfg.definitions_share.is_finite() {
            cfg.definitions_share = 0.1;
        }
        cfg.definitions_share = cfg.definitions_share.clamp(0.0, 1.0);
        if !cfg.min_net_usd.is_finite() {
            cfg.min_net_usd = 0.0;
        }
        cfg.learn_every = cfg.learn_every.max(1);
        (cfg, warnings)
    }

    /// The price of a model, or Claude's default model's when the table lacks it.
    pub fn price(&self, model: &str) -> Price {
        self.prices
            .get(model)
            .or_else(|| self.prices.get("claude-sonnet-4"))
            .copied()
            .unwrap_or(Price {
                input_per_mtok: 3.0,
                output_per_mtok: 15.0,
            })
    }

    /// Dollars for `input` + `output` tokens of Claude-equivalent work.
    pub fn claude_usd(&self, input: u64, output: u64) -> f64 {
        let p = self.price(&self.claude_model);
        (input as f64 * p.input_per_mtok + output as f64 * p.output_per_mtok) / 1e6
    }

    /// Dollars Claude pays for a hand-over: results and definitions at the input price,
    /// arguments at the output price.
    pub fn handover_usd(&self, h: &records::Handover) -> f64 {
        self.claude_usd(h.input_tokens(), h.argument_tokens)
    }

    /// Dollars for a judge's tokens (a blend of reading and writing).
    pub fn judge_usd(&self, tokens: u64) -> f64 {
        let p = self.price(&self.judge_model);
        let s = self.judge_output_share;
        tokens as f64 * ((1.0 - s) * p.input_per_mtok + s * p.output_per_mtok) / 1e6
    }
}

/// The 3-point rubric every judge uses, so every judge scores alike.
pub const RUBRIC: &str = "Judge the response to the task on a 3-point scale.
- good: correct and complete for the task; follows every instruction and format asked for; nothing invented. A user could use it as is.
- acceptable: usable with light editing: minor omissions, small format slips or awkward wording, but no factual errors that matter.
- poor: wrong, invented (hallucinated), incomplete in a way that matters, in the wrong format, or off-task. A user would have to redo it.
Length is not quality: do not prefer a longer response for being longer.
Write your reasoning first (two to four sentences: what the task needed, what the response did), then the verdict on its own last line as `VERDICT: good`, `VERDICT: acceptable` or `VERDICT: poor`. If it is poor, name the failure mode (hallucination, incomplete, wrong_format, off_task, reasoning_error) on a line `FAILURE: <mode>` before the verdict.";

/// Where the learning files of a project live.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The project's `.llm-orc/` (artifact paths in records are relative to it).
    pub llm_orc: PathBuf,
    /// `.llm-orc/evaluations/`.
    pub dir: PathBuf,
}

impl Paths {
    pub fn new(llm_orc: &Path) -> Paths {
        Paths {
            llm_orc: llm_orc.to_path_buf(),
            dir: llm_orc.join("evaluations"),
        }
    }
    pub fn routing_log(&self) -> PathBuf {
        self.dir.join("routing-log.jsonl")
    }
    pub fn evaluations(&self) -> PathBuf {
        self.dir.join("evaluations.jsonl")
    }
    /// MCP calls that named a run after its record was written, with their hand-over tokens.
    pub fn handover_log(&self) -> PathBuf {
        self.dir.join("handover.jsonl")
    }
    pub fn routing_config(&self) -> PathBuf {
        self.dir.join("routing-config.yaml")
    }
    pub fn routing_version(&self, n: u64) -> PathBuf {
        self.dir.join(format!("routing-config.v{n}.yaml"))
    }
    pub fn task_profiles(&self) -> PathBuf {
        self.dir.join("task-profiles.yaml")
    }
    pub fn lora_candidates(&self) -> PathBuf {
        self.dir.join("lora-candidates.yaml")
    }
    /// The judged runs' instruction, input and output (`examples/<routing id>.json`).
    pub fn examples(&self) -> PathBuf {
        self.dir.join("examples")
    }
    /// Where Claude's own outputs are kept when `record_claude_task` is given one.
    pub fn claude_outputs(&self) -> PathBuf {
        self.dir.join("claude")
    }
}

/// A new random id in UUID v4 form.
pub fn new_id() -> String {
    let a = fastrand::u64(..);
    let b = fastrand::u64(..);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48 & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// Now, as ISO-8601 with the local offset.
pub fn now() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

/// A routing id or evaluation id from a user: short, printable, no path characters.
pub fn check_id(id: &str) -> Result<&str, LearnError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(id)
    } else {
        Err(LearnError::Refused(format!(
            "`{}` is not a routing id (ids are letters, digits, `-` and `_`, at most 64)",
            id.chars().take(80).collect::<String>()
        )))
    }
}

/// A short summary of a task: the first non-empty line, at most 200 characters.
pub fn summarize(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut s: String = line.chars().take(200).collect();
    if line.chars().count() > 200 {
        s.push('…');
    }
    s
}
