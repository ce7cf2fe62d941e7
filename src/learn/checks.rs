//! Free quality signals: checks of a local run's output that cost no judge (research log,
//! question 3: "use execution-based verification instead of an LLM judge for code").
//!
//! Each check gives a [`Signal`]: `pass`, `fail` (hard: the output is not delivered; orc retries
//! locally, then escalates to Claude with the reason) or `doubt` (soft: a judge should look).
//! Which checks apply follows the task type and what the caller said the answer must be
//! ([`Expect`]):
//!
//! - completeness: not empty, not cut off at `max_tokens` (`done_reason: length`), no
//!   placeholders (`[insert ...]`, `TODO`, `rest of the code here`) that the task did not have;
//! - JSON: the output parses (asked by `expect.json`, a `json` task type, or an instruction that
//!   says JSON), and validates against `expect.schema` (JSON Schema, with boon; no `$ref` is ever
//!   fetched);
//! - labels: a classification answer is one of the labels given (`expect.labels`, or a list the
//!   instruction names: "one of: bug, feature, question");
//! - grounding: each answer of an extraction is found in the input (numbers compared by digits);
//! - length: a summary shorter than what it summarises;
//! - code: fenced code blocks parse (JSON and YAML in process; Python, shell and JavaScript with
//!   the interpreter's own parser, which runs nothing; other languages by bracket balance, a
//!   soft signal); the project's tests are `sandbox`'s;
//! - agreement: repeated local samples say the same thing (SelfCheck-style; `agreement`).

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the answer must be (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Expect {
    /// Must be JSON.
    pub json: bool,
    /// A JSON Schema to validate against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// The allowed labels.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Answers must appear in the input (default for extraction).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grounded: Option<bool>,
    /// Runs to compare.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples: Option<u32>,
    /// Run `learning.checks.test_command` on the code (default for code-generation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tests: Option<bool>,
    /// The file the code replaces (else a path line in the block, or a diff).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_file: Option<String>,
}

/// The most samples a caller may ask for.
pub const MAX_SAMPLES: u32 = 8;

impl Expect {
    /// Refuses what cannot be checked (a schema that does not compile, too many samples, a
    /// target file outside the project).
    pub fn validate(&self) -> Result<(), String> {
        if let Some(s) = &self.schema {
            compile_schema(s).map(|_| ())?;
        }
        if self.samples.is_some_and(|n| n == 0 || n > MAX_SAMPLES) {
            return Err(format!("expect.samples must be 1-{MAX_SAMPLES}"));
        }
        if self
            .labels
            .iter()
            .any(|l| l.trim().is_empty() || l.len() > 200)
            || self.labels.len() > 200
        {
            return Err("expect.labels: at most 200 labels of 1-200 characters".into());
        }
        if let Some(t) = &self.target_file {
            super::sandbox::relative_path(t).map_err(|e| format!("expect.target_file: {e}"))?;
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        *self == Expect::default()
    }
}

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    /// A judge should look (a soft signal: partial grounding, samples disagreeing, ...).
    Doubt,
    /// The output is not delivered.
    Fail,
}

/// One free check's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// `completeness`, `json`, `schema`, `labels`, `grounding`, `length`, `code`, `tests`,
    /// `agreement`.
    pub check: String,
    pub outcome: Outcome,
    /// A pass that is strong evidence by itself (tests passed, a schema validated).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strong: bool,
    pub detail: String,
    /// For a failure: the rubric's failure mode it stands for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_mode: Option<String>,
}

impl Signal {
    fn pass(check: &str, detail: impl Into<String>) -> Signal {
        Signal {
            check: check.into(),
            outcome: Outcome::Pass,
            strong: false,
            detail: detail.into(),
            failure_mode: None,
        }
    }
    fn strong(check: &str, detail: impl Into<String>) -> Signal {
        Signal {
            strong: true,
            ..Signal::pass(check, detail)
        }
    }
    fn doubt(check: &str, detail: impl Into<String>) -> Signal {
        Signal {
            outcome: Outcome::Doubt,
            ..Signal::pass(check, detail)
        }
    }
    fn fail(check: &str, mode: &str, detail: impl Into<String>) -> Signal {
        Signal {
            outcome: Outcome::Fail,
            failure_mode: Some(mode.into()),
            ..Signal::pass(check, detail)
        }
    }
}

/// The free checks of a run, as kept in its routing record and shown in the invoke answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FreeChecks {
    /// `pass` (every check passed), `doubt` (one wants a judge), `fail` (one failed: not
    /// delivered) or `none` (no check applied).
    pub verdict: String,
    /// Strong free evidence: a strong pass (tests, schema) or a format check passed and the
    /// samples agree. Such a run needs no paid judgment.
    #[serde(default)]
    pub strong: bool,
    /// The output went to the user. False: it failed a hard check on every attempt, and the task
    /// goes to Claude (`escalate`).
    pub delivered: bool,
    /// Runs of the ensemble for the answer (1 + local retries).
    #[serde(default = "one")]
    pub attempts: u32,
    /// Answers compared for agreement (1: none).
    #[serde(default = "one")]
    pub samples: u32,
    pub checks: Vec<Signal>,
    /// Why the task goes to Claude (when not delivered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate: Option<String>,
    /// The failure mode of the first hard failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_mode: Option<String>,
}

fn one() -> u32 {
    1
}

impl FreeChecks {
    /// Sums the signals of one answer.
    pub fn from_signals(checks: Vec<Signal>) -> FreeChecks {
        let fail = checks.iter().find(|s| s.outcome == Outcome::Fail);
        let doubt = checks.iter().any(|s| s.outcome == Outcome::Doubt);
        let verdict = if fail.is_some() {
            "fail"
        } else if doubt {
            "doubt"
        } else if checks.is_empty() {
            "none"
        } else {
            "pass"
        };
        let strong = fail.is_none() && !doubt && strong_evidence(&checks);
        FreeChecks {
            verdict: verdict.into(),
            strong,
            delivered: fail.is_none(),
            attempts: 1,
            samples: 1,
            failure_mode: fail.and_then(|s| s.failure_mode.clone()),
            escalate: fail.map(|s| format!("{}: {}", s.check, s.detail)),
            checks,
        }
    }

    pub fn failed(&self) -> bool {
        self.verdict == "fail"
    }
}

/// A strong pass, or a format check (JSON, labels, grounding) passed while the samples agree.
fn strong_evidence(checks: &[Signal]) -> bool {
    let pass = |name: &str| {
        checks
            .iter()
            .any(|s| s.check == name && s.outcome == Outcome::Pass)
    };
    checks
        .iter()
        .any(|s| s.strong && s.outcome == Outcome::Pass)
        || (pass("agreement") && (pass("json") || pass("labels") || pass("grounding")))
}

/// What the checks look at.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub task_type: &'a str,
    /// The task's instruction (the caller's, else its summary and the ensemble's description).
    pub instruction: &'a str,
    pub input: &'a str,
    pub output: &'a str,
    /// The agent that wrote the deliverable stopped at its token limit.
    pub truncated: bool,
}

/// The checks that need no process: completeness, JSON and schema, labels, grounding, length.
pub fn offline(a: &Answer, expect: &Expect) -> Vec<Signal> {
    let mut out = vec![completeness(a)];
    if out[0].outcome == Outcome::Fail && a.output.trim().is_empty() {
        return out;
    }
    let wants_json = expect.json
        || expect.schema.is_some()
        || a.task_type == "json"
        || mentions_word(a.instruction, "json");
    if wants_json {
        out.extend(json_checks(a.output, expect.schema.as_ref()));
    }
    let labels: Vec<String> = if expect.labels.is_empty() {
        labels_in(a.instruction)
    } else {
        expect.labels.iter().map(|l| norm(l)).collect()
    };
    if !labels.is_empty() && (a.task_type == "classification" || !expect.labels.is_empty()) {
        out.push(labels_check(a.output, &labels));
    }
    if expect.grounded.unwrap_or(a.task_type == "extraction")
        && let Some(s) = grounding(a.input, a.output)
    {
        out.push(s);
    }
    if a.task_type == "summarization"
        && let Some(s) = summary_length(a.input, a.output)
    {
        out.push(s);
    }
    out
}

// ------------------------------------------------------------------ completeness

const PLACEHOLDERS: &[&str] = &[
    "lorem ipsum",
    "[insert",
    "<insert",
    "[your ",
    "<your ",
    "[placeholder",
    "<placeholder",
    "{placeholder",
    "todo:",
    "fixme",
    "tbd",
    "rest of the code",
    "remaining code",
    "implementation goes here",
    "your code here",
    "code goes here",
    "// ...",
    "# ...",
    "[...]",
];

fn completeness(a: &Answer) -> Signal {
    let out = a.output.trim();
    if out.is_empty() {
        return Signal::fail("completeness", "incomplete", "the answer is empty");
    }
    if a.truncated {
        return Signal::fail(
            "completeness",
            "incomplete",
            "the answer was cut off at the model's token limit (done_reason: length)",
        );
    }
    let lower = out.to_lowercase();
    let given = format!("{}\n{}", a.instruction, a.input).to_lowercase();
    let found: Vec<&str> = PLACEHOLDERS
        .iter()
        .copied()
        .filter(|p| {
            let hit = if p.chars().all(|c| c.is_ascii_alphabetic()) {
                has_word(&lower, p)
            } else {
                lower.contains(p)
            };
            hit && !given.contains(p)
        })
        .collect();
    if !found.is_empty() {
        return Signal::fail(
            "completeness",
            "incomplete",
            format!(
                "the answer has placeholders the task did not have: {}",
                found.join(", ")
            ),
        );
    }
    Signal::pass("completeness", "not empty, not cut off, no placeholders")
}

fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

fn mentions_word(text: &str, word: &str) -> bool {
    has_word(&text.to_lowercase(), word)
}

// ------------------------------------------------------------------ JSON and schema

/// The JSON in an answer: the whole text, or one fenced block. `Err(true)`: JSON is there but
/// wrapped in prose.
pub fn json_of(output: &str) -> Result<Value, bool> {
    let t = output.trim();
    if let Ok(v) = serde_json::from_str::<Value>(t) {
        return Ok(v);
    }
    if let Some(b) = code_blocks(t).first()
        && code_blocks(t).len() == 1
        && let Ok(v) = serde_json::from_str::<Value>(b.code.trim())
    {
        return Ok(v);
    }
    let start = t.find(['{', '[']);
    let end = t.rfind(['}', ']']);
    if let (Some(s), Some(e)) = (start, end)
        && s < e
        && serde_json::from_str::<Value>(&t[s..=e]).is_ok()
    {
        return Err(true);
    }
    Err(false)
}

fn json_checks(output: &str, schema: Option<&Value>) -> Vec<Signal> {
    let v = match json_of(output) {
        Ok(v) => v,
        Err(true) => {
            return vec![Signal::doubt(
                "json",
                "the JSON is wrapped in prose: a reader must cut it out",
            )];
        }
        Err(false) => {
            return vec![Signal::fail(
                "json",
                "wrong_format",
                "JSON was asked for and the answer does not parse as JSON",
            )];
        }
    };
    let mut out = vec![Signal::pass("json", "the answer parses as JSON")];
    if let Some(s) = schema {
        out.push(match validate_schema(s, &v) {
            Ok(()) => Signal::strong("schema", "the answer validates against the schema"),
            Err(why) => Signal::fail(
                "schema",
                "wrong_format",
                format!("the answer does not match the schema: {why}"),
            ),
        });
    }
    out
}

/// boon's loader for `$ref`s to other documents: none is ever fetched.
struct NoLoader;

impl boon::UrlLoader for NoLoader {
    fn load(&self, url: &str) -> Result<Value, Box<dyn std::error::Error>> {
        Err(format!("orc does not fetch schemas ({url})").into())
    }
}

fn compile_schema(schema: &Value) -> Result<(boon::Schemas, boon::SchemaIndex), String> {
    let mut schemas = boon::Schemas::new();
    let mut c = boon::Compiler::new();
    c.use_loader(Box::new(NoLoader));
    let loc = "urn:orc:expect";
    c.add_resource(loc, schema.clone())
        .map_err(|e| format!("expect.schema is not a JSON Schema: {e}"))?;
    let i = c
        .compile(loc, &mut schemas)
        .map_err(|e| format!("expect.schema is not a JSON Schema: {e}"))?;
    Ok((schemas, i))
}

fn validate_schema(schema: &Value, v: &Value) -> Result<(), String> {
    let (schemas, i) = compile_schema(schema)?;
    schemas.validate(v, i).map_err(|e| {
        let s = format!("{e}");
        let s = s.lines().take(4).collect::<Vec<_>>().join("; ");
        s.chars().take(400).collect()
    })
}

// ------------------------------------------------------------------ labels

/// Lower case, outer quotes and punctuation trimmed, spaces collapsed.
fn norm(s: &str) -> String {
    s.trim()
        .trim_matches(|c: char| {
            c.is_whitespace()
                || matches!(
                    c,
                    '"' | '\'' | '`' | '*' | '.' | ',' | ';' | ':' | '!' | '(' | ')' | '[' | ']'
                )
        })
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The labels an instruction lists: after `one of`, `labels:`, `categories:`, `classes:`,
/// `options:` or `choose from`, up to the end of the sentence; at least two.
pub fn labels_in(instruction: &str) -> Vec<String> {
    let lower = instruction.to_lowercase();
    for marker in [
        "one of",
        "labels:",
        "label:",
        "categories:",
        "category:",
        "classes:",
        "options:",
        "choose from",
    ] {
        let Some(i) = lower.find(marker) else {
            continue;
        };
        let mut rest = lower[i + marker.len()..].trim_start_matches([':', ' ', '\t']);
        // "one of the following: a, b" - the list starts after the colon.
        if let Some(c) = rest
            .char_indices()
            .take(40)
            .find(|&(_, ch)| ch == ':')
            .map(|(j, _)| j)
        {
            rest = rest[c + 1..].trim_start();
        }
        let end = rest
            .char_indices()
            .find(|&(j, c)| {
                matches!(c, '\n' | ';' | '?' | '!')
                    || (c == '.' && !rest[j + 1..].starts_with(|d: char| d.is_alphanumeric()))
            })
            .map_or(rest.len(), |(j, _)| j);
        let list = &rest[..end];
        let labels: Vec<String> = list
            .replace(" or ", ",")
            .replace(" and ", ",")
            .split([',', '|', '/'])
            .map(norm)
            .filter(|l| !l.is_empty() && l.len() <= 40 && l.split(' ').count() <= 4)
            .collect();
        if labels.len() >= 2 {
            return labels;
        }
    }
    Vec::new()
}

fn labels_check(output: &str, labels: &[String]) -> Signal {
    let set: BTreeSet<&str> = labels.iter().map(String::as_str).collect();
    let shown = || labels.join(", ");
    let mut answers: Vec<String> = Vec::new();
    if let Ok(v) = json_of(output) {
        collect_label_values(&v, &mut answers);
        if answers.is_empty()
            && let Value::String(s) = v
        {
            answers.push(norm(&s));
        }
    } else {
        let whole = strip_prefix_label(&norm(output));
        if set.contains(whole.as_str()) {
            return Signal::pass("labels", format!("`{whole}` is one of the labels"));
        }
        let items: Vec<String> = output
            .split([',', '\n'])
            .map(|s| strip_prefix_label(&norm(s.trim_start_matches(['-', '*', ' ']))))
            .filter(|s| !s.is_empty())
            .collect();
        if !items.is_empty() && items.iter().all(|i| set.contains(i.as_str())) {
            return Signal::pass("labels", format!("{} is in the labels", items.join(", ")));
        }
        // A short answer that names exactly one label ("Sentiment: positive.").
        let words = whole.split(' ').count();
        let named: Vec<&&str> = set.iter().filter(|l| has_word(&whole, l)).collect();
        if words <= 8 && named.len() == 1 {
            return Signal::pass("labels", format!("`{}` is one of the labels", named[0]));
        }
        answers = vec![whole];
    }
    if !answers.is_empty() && answers.iter().all(|a| set.contains(a.as_str())) {
        return Signal::pass("labels", format!("{} is in the labels", answers.join(", ")));
    }
    let bad: Vec<String> = answers
        .into_iter()
        .filter(|a| !set.contains(a.as_str()))
        .map(|a| a.chars().take(60).collect())
        .collect();
    Signal::fail(
        "labels",
        "wrong_format",
        format!(
            "`{}` is not one of the labels ({})",
            bad.join("`, `"),
            shown()
        ),
    )
}

fn strip_prefix_label(s: &str) -> String {
    for p in [
        "label",
        "category",
        "class",
        "answer",
        "classification",
        "sentiment",
    ] {
        if let Some(r) = s.strip_prefix(p) {
            let r = norm(r.trim_start_matches([':', '=', '-', ' ']));
            if !r.is_empty() {
                return r;
            }
        }
    }
    s.to_string()
}

fn collect_label_values(v: &Value, out: &mut Vec<String>) {
    const KEYS: &[&str] = &[
        "label",
        "labels",
        "category",
        "categories",
        "class",
        "classification",
        "sentiment",
        "answer",
    ];
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if KEYS.contains(&k.to_lowercase().as_str()) {
                    match x {
                        Value::String(s) => out.push(norm(s)),
                        Value::Array(a) => out.extend(a.iter().filter_map(Value::as_str).map(norm)),
                        _ => {}
                    }
                } else if x.is_object() || x.is_array() {
                    collect_label_values(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_label_values(x, out)),
        _ => {}
    }
}

// ------------------------------------------------------------------ grounding

const EMPTY_ANSWERS: &[&str] = &["none", "n/a", "na", "null", "unknown", "not found", "-"];

/// The answers of an extraction: JSON leaves (strings and numbers), else lines (a `Key: value`
/// line gives its value), split at commas.
pub fn extracted_items(output: &str) -> Vec<String> {
    let mut items = Vec::new();
    if let Ok(v) = json_of(output) {
        json_leaves(&v, &mut items);
    } else {
        for line in output.lines() {
            let l = line.trim().trim_start_matches(['-', '*', '•', ' ']);
            let l = l
                .split_once(". ")
                .filter(|(n, _)| n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty())
                .map_or(l, |(_, r)| r);
            let value = match l.split_once(": ") {
                Some((k, v)) if k.split_whitespace().count() <= 4 => v,
                _ => l,
            };
            for part in value.split([',', ';']) {
                items.push(part.to_string());
            }
        }
    }
    items
        .into_iter()
        .map(|s| norm(&s))
        .filter(|s| s.chars().count() >= 2 && !EMPTY_ANSWERS.contains(&s.as_str()))
        .take(500)
        .collect()
}

fn json_leaves(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(a) => a.iter().for_each(|x| json_leaves(x, out)),
        Value::Object(m) => m.values().for_each(|x| json_leaves(x, out)),
        _ => {}
    }
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn found_in(item: &str, input: &str, input_digits: &str) -> bool {
    if input.contains(item) {
        return true;
    }
    // A number written another way (1,200.00 / 1200): compare digits.
    let d = digits(item);
    let numeric = item
        .chars()
        .all(|c| c.is_ascii_digit() || " .,$€£%-+:/".contains(c));
    if numeric && d.len() >= 2 {
        let d = d.trim_end_matches('0');
        return !d.is_empty() && input_digits.contains(d);
    }
    // Every word of three letters or more is in the input (a reordered or reformatted value).
    let words: Vec<&str> = item
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .collect();
    !words.is_empty() && words.iter().all(|w| input.contains(w))
}

fn grounding(input: &str, output: &str) -> Option<Signal> {
    let items = extracted_items(output);
    if items.is_empty() || input.trim().is_empty() {
        return None;
    }
    let input_n = input
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let input_digits = digits(&input_n);
    let missing: Vec<&String> = items
        .iter()
        .filter(|i| !found_in(i, &input_n, &input_digits))
        .collect();
    let n = items.len();
    let found = n - missing.len();
    let shown = || {
        missing
            .iter()
            .take(5)
            .map(|m| format!("`{}`", m.chars().take(60).collect::<String>()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(if missing.is_empty() {
        Signal::pass("grounding", format!("all {n} answer(s) are in the input"))
    } else if found * 2 >= n {
        Signal::doubt(
            "grounding",
            format!(
                "{found} of {n} answer(s) are in the input; not found: {}",
                shown()
            ),
        )
    } else {
        Signal::fail(
            "grounding",
            "hallucination",
            format!(
                "only {found} of {n} answer(s) are in the input; not found: {}",
                shown()
            ),
        )
    })
}

// ------------------------------------------------------------------ length

fn summary_length(input: &str, output: &str) -> Option<Signal> {
    let (i, o) = (
        input.split_whitespace().count(),
        output.split_whitespace().count(),
    );
    // A short input has nothing to say about a summary's length.
    if i < 150 {
        return None;
    }
    Some(if o < i {
        Signal::pass("length", format!("{o} words for {i} in the input"))
    } else {
        Signal::doubt(
            "length",
            format!("the summary ({o} words) is not shorter than the input ({i} words)"),
        )
    })
}

// ------------------------------------------------------------------ code

/// A fenced code block.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// The info string's first word, lower case (`rust`, `python`, ...).
    pub lang: String,
    /// The info string's rest (`path=src/lib.rs`, `title="x.py"`).
    pub info: String,
    pub code: String,
}

/// The fenced (``` or ~~~) blocks of a Markdown answer.
pub fn code_blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(String, String, String, String)> = None; // fence, lang, info, code
    for line in text.lines() {
        let t = line.trim_start();
        match &mut open {
            None => {
                for fence in ["```", "~~~"] {
                    if let Some(rest) = t.strip_prefix(fence) {
                        let rest = rest.trim_start_matches(fence.chars().next().unwrap_or('`'));
                        let mut words = rest.trim().splitn(2, char::is_whitespace);
                        let lang = words.next().unwrap_or("").to_lowercase();
                        let info = words.next().unwrap_or("").trim().to_string();
                        open = Some((fence.to_string(), lang, info, String::new()));
                        break;
                    }
                }
            }
            Some((fence, lang, info, code)) => {
                if t.starts_with(fence.as_str())
                    && t.trim_start_matches(['`', '~']).trim().is_empty()
                {
                    out.push(Block {
                        lang: std::mem::take(lang),
                        info: std::mem::take(info),
                        code: std::mem::take(code),
                    });
                    open = None;
                } else {
                    code.push_str(line);
                    code.push('\n');
                }
            }
        }
    }
    // A block never closed is cut off: keep it, the parser will say so.
    if let Some((_, lang, info, code)) = open {
        out.push(Block { lang, info, code });
    }
    out
}

/// How a language is parsed.
enum Parser {
    Json,
    Yaml,
    Process(&'static str, &'static [&'static str], &'static str),
    Balance,
    None,
}

fn parser(lang: &str) -> Parser {
    match lang {
        "json" | "jsonc" => Parser::Json,
        "yaml" | "yml" => Parser::Yaml,
        "python" | "py" | "python3" => Parser::Process(
            "python3",
            &["-c", "import ast,sys; ast.parse(sys.stdin.read())"],
            "",
        ),
        "sh" | "bash" | "shell" | "zsh" => Parser::Process("bash", &["-n"], ""),
        "javascript" | "js" | "mjs" | "node" => Parser::Process("node", &["--check"], ".mjs"),
        "" | "text" | "txt" | "console" | "output" | "markdown" | "md" | "diff" | "patch" => {
            Parser::None
        }
        _ => Parser::Balance,
    }
}

/// Brackets balanced outside double-quoted strings and `//` comments.
fn balanced(code: &str) -> Result<(), String> {
    let mut stack = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if in_str {
                if c == '"' && prev != '\\' {
                    in_str = false;
                }
                prev = if prev == '\\' && c == '\\' { ' ' } else { c };
                continue;
            }
            match c {
                '"' => in_str = true,
                '/' if chars.peek() == Some(&'/') => break,
                '(' | '[' | '{' => stack.push((c, n + 1)),
                ')' | ']' | '}' => {
                    let want = match c {
                        ')' => '(',
                        ']' => '[',
                        _ => '{',
                    };
                    match stack.pop() {
                        Some((o, _)) if o == want => {}
                        _ => return Err(format!("unmatched `{c}` on line {}", n + 1)),
                    }
                }
                _ => {}
            }
            prev = c;
        }
    }
    match stack.last() {
        Some((c, line)) => Err(format!("`{c}` opened on line {line} is never closed")),
        None => Ok(()),
    }
}

/// Runs a parser program on `code` (stdin, or a temporary file named `*.ext`); Ok(None) when the
/// program is not installed.
async fn parse_with(
    program: &str,
    args: &[&str],
    ext: &str,
    code: &str,
) -> Result<Option<()>, String> {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let _file = if ext.is_empty() {
        cmd.stdin(std::process::Stdio::piped());
        None
    } else {
        let f = tempfile::Builder::new()
            .suffix(ext)
            .tempfile()
            .map_err(|e| e.to_string())?;
        std::fs::write(f.path(), code).map_err(|e| e.to_string())?;
        cmd.arg(f.path()).stdin(std::process::Stdio::null());
        Some(f)
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if let Some(mut w) = child.stdin.take() {
        let _ = w.write_all(code.as_bytes()).await;
        drop(w);
    }
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .map_err(|_| format!("{program} took more than 20 s to parse the block"))?
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(Some(()))
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(3).collect();
        Err(tail.into_iter().rev().collect::<Vec<_>>().join(" | "))
    }
}

/// Every fenced block parses; None when the answer has no block to parse.
pub async fn code(output: &str) -> Option<Signal> {
    let blocks = code_blocks(output);
    let mut checked = Vec::new();
    let mut soft = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        let what = format!(
            "block {} ({})",
            i + 1,
            if b.lang.is_empty() {
                "no language"
            } else {
                &b.lang
            }
        );
        let r = match parser(&b.lang) {
            Parser::None => continue,
            Parser::Json => serde_json::from_str::<Value>(&b.code)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Parser::Yaml => serde_saphyr::from_str::<Value>(&b.code)
                .map(|_| ())
                .map_err(|e| e.to_string().lines().next().unwrap_or("").to_string()),
            Parser::Process(p, args, ext) => match parse_with(p, args, ext, &b.code).await {
                Ok(Some(())) => Ok(()),
                Ok(None) => {
                    soft.push(format!("{what}: {p} is not installed, brackets only"));
                    balanced(&b.code)
                        .map_err(|e| {
                            soft.push(format!("{what}: {e}"));
                            String::new()
                        })
                        .or(Ok(()))
                }
                Err(e) => Err(e),
            },
            Parser::Balance => {
                if let Err(e) = balanced(&b.code) {
                    soft.push(format!("{what}: {e}"));
                }
                checked.push(what);
                continue;
            }
        };
        if let Err(e) = r {
            return Some(Signal::fail(
                "code",
                "reasoning_error",
                format!(
                    "{what} does not parse: {}",
                    e.chars().take(300).collect::<String>()
                ),
            ));
        }
        checked.push(what);
    }
    if checked.is_empty() {
        return None;
    }
    Some(if soft.iter().any(|s| !s.contains("brackets only")) {
        Signal::doubt("code", soft.join("; "))
    } else {
        Signal::pass("code", format!("{} parse", checked.join(", ")))
    })
}

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

fn jaccard(a: &str, b: &str) -> f64 {
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
const AGREE: f64 = 0.6;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn answer<'a>(
        task_type: &'a str,
        instruction: &'a str,
        input: &'a str,
        output: &'a str,
    ) -> Answer<'a> {
        Answer {
            task_type,
            instruction,
            input,
            output,
            truncated: false,
        }
    }

    fn outcome(signals: &[Signal], check: &str) -> Option<Outcome> {
        signals.iter().find(|s| s.check == check).map(|s| s.outcome)
    }

    #[test]
    fn completeness_fails_empty_cut_off_and_placeholder_answers() {
        let e = Expect::default();
        let ok = offline(
            &answer("instructions", "Rewrite it", "a text", "A fine text."),
            &e,
        );
        assert_eq!(outcome(&ok, "completeness"), Some(Outcome::Pass));
        let empty = offline(&answer("instructions", "Rewrite it", "a text", "  \n"), &e);
        assert_eq!(outcome(&empty, "completeness"), Some(Outcome::Fail));
        let mut cut = answer("instructions", "Rewrite it", "a text", "A fine te");
        cut.truncated = true;
        let cut = offline(&cut, &e);
        assert_eq!(outcome(&cut, "completeness"), Some(Outcome::Fail));
        assert!(cut[0].detail.contains("done_reason: length"));
        let ph = offline(
            &answer(
                "code-generation",
                "Write f",
                "",
                "fn f() {\n    // rest of the code here\n}",
            ),
            &e,
        );
        assert_eq!(outcome(&ph, "completeness"), Some(Outcome::Fail));
        assert_eq!(ph[0].failure_mode.as_deref(), Some("incomplete"));
        // A TODO the input already had is not the model's placeholder.
        let review = offline(
            &answer(
                "code-review",
                "Review",
                "// TODO: handle errors",
                "The TODO: handle errors is still open.",
            ),
            &e,
        );
        assert_eq!(outcome(&review, "completeness"), Some(Outcome::Pass));
    }

    #[test]
    fn json_is_checked_when_asked_and_schemas_validate() {
        let e = Expect::default();
        let good = offline(&answer("json", "Give JSON", "x", "{\"a\": 1}"), &e);
        assert_eq!(outcome(&good, "json"), Some(Outcome::Pass));
        let fenced = offline(
            &answer("json", "Give JSON", "x", "```json\n{\"a\": 1}\n```"),
            &e,
        );
        assert_eq!(outcome(&fenced, "json"), Some(Outcome::Pass));
        let prose = offline(
            &answer(
                "json",
                "Give JSON",
                "x",
                "Here it is: {\"a\": 1} hope it helps",
            ),
            &e,
        );
        assert_eq!(outcome(&prose, "json"), Some(Outcome::Doubt));
        let bad = offline(
            &answer(
                "extraction",
                "Return JSON with the names",
                "Ada",
                "Names: Ada",
            ),
            &e,
        );
        assert_eq!(outcome(&bad, "json"), Some(Outcome::Fail));
        let schema = Expect {
            schema: Some(
                serde_json::json!({"type": "object", "required": ["name", "age"], "properties": {"age": {"type": "integer"}}}),
            ),
            ..Expect::default()
        };
        let valid = offline(
            &answer("json", "x", "x", "{\"name\": \"Ada\", \"age\": 36}"),
            &schema,
        );
        assert_eq!(outcome(&valid, "schema"), Some(Outcome::Pass));
        assert!(valid.iter().any(|s| s.check == "schema" && s.strong));
        let invalid = offline(
            &answer("json", "x", "x", "{\"name\": \"Ada\", \"age\": \"36\"}"),
            &schema,
        );
        assert_eq!(outcome(&invalid, "schema"), Some(Outcome::Fail));
        // A schema that would fetch another document is never fetched.
        let remote = Expect {
            schema: Some(serde_json::json!({"$ref": "file:///etc/passwd"})),
            ..Expect::default()
        };
        assert!(remote.validate().is_err());
    }

    #[test]
    fn labels_come_from_the_set_given_or_named_in_the_instruction() {
        let inst = "Classify the ticket as one of: bug, feature request, question.";
        assert_eq!(labels_in(inst), vec!["bug", "feature request", "question"]);
        assert_eq!(
            labels_in("Is it spam? Answer one of spam or ham."),
            vec!["spam", "ham"]
        );
        assert_eq!(
            labels_in("Classify it as one of the following: spam, ham."),
            vec!["spam", "ham"]
        );
        assert!(labels_in("Classify one of the tickets below as a bug").is_empty());
        let e = Expect::default();
        for out in [
            "bug",
            "Bug.",
            "Label: feature request",
            "{\"label\": \"question\"}",
            "Category: bug",
        ] {
            let s = offline(&answer("classification", inst, "It crashes", out), &e);
            assert_eq!(outcome(&s, "labels"), Some(Outcome::Pass), "{out}: {s:?}");
        }
        for out in [
            "urgent",
            "{\"label\": \"complaint\"}",
            "This is probably a crash report about the app",
        ] {
            let s = offline(&answer("classification", inst, "It crashes", out), &e);
            assert_eq!(outcome(&s, "labels"), Some(Outcome::Fail), "{out}: {s:?}");
        }
        let given = Expect {
            labels: vec!["positive".into(), "negative".into()],
            ..Expect::default()
        };
        let s = offline(
            &answer("classification", "Sentiment?", "Great!", "neutral"),
            &given,
        );
        assert_eq!(outcome(&s, "labels"), Some(Outcome::Fail));
    }

    #[test]
    fn extraction_answers_must_be_found_in_the_input() {
        let input =
            "Invoice 4711 from ACME Corp, total $1,200.00, due 2024-03-01. Contact: Ada Lovelace.";
        let e = Expect::default();
        let ok = offline(
            &answer(
                "extraction",
                "Extract",
                input,
                "- Vendor: ACME Corp\n- Total: 1200\n- Contact: Ada Lovelace",
            ),
            &e,
        );
        assert_eq!(outcome(&ok, "grounding"), Some(Outcome::Pass), "{ok:?}");
        let json = offline(
            &answer(
                "extraction",
                "Extract",
                input,
                "{\"invoice\": 4711, \"vendor\": \"ACME Corp\"}",
            ),
            &e,
        );
        assert_eq!(outcome(&json, "grounding"), Some(Outcome::Pass), "{json:?}");
        let some = offline(
            &answer(
                "extraction",
                "Extract",
                input,
                "Vendor: ACME Corp\nContact: Grace Hopper",
            ),
            &e,
        );
        assert_eq!(outcome(&some, "grounding"), Some(Outcome::Doubt));
        let made_up = offline(
            &answer(
                "extraction",
                "Extract",
                input,
                "Vendor: Initech\nContact: Grace Hopper\nTotal: 99",
            ),
            &e,
        );
        assert_eq!(outcome(&made_up, "grounding"), Some(Outcome::Fail));
        assert_eq!(
            made_up
                .iter()
                .find(|s| s.check == "grounding")
                .and_then(|s| s.failure_mode.as_deref()),
            Some("hallucination")
        );
    }

    #[test]
    fn a_summary_longer_than_its_input_wants_a_judge() {
        let input = "word ".repeat(300);
        let e = Expect::default();
        let short = offline(
            &answer("summarization", "Summarise", &input, "A short summary."),
            &e,
        );
        assert_eq!(outcome(&short, "length"), Some(Outcome::Pass));
        let long = offline(
            &answer("summarization", "Summarise", &input, &"more ".repeat(400)),
            &e,
        );
        assert_eq!(outcome(&long, "length"), Some(Outcome::Doubt));
        let tiny = offline(
            &answer("summarization", "Summarise", "short", &"more ".repeat(40)),
            &e,
        );
        assert_eq!(outcome(&tiny, "length"), None);
    }

    #[tokio::test]
    async fn code_blocks_parse_or_fail() {
        let ok = code("Here:\n```json\n{\"a\": [1, 2]}\n```\n```yaml\na: 1\n```\n")
            .await
            .unwrap();
        assert_eq!(ok.outcome, Outcome::Pass, "{ok:?}");
        let bad = code("```json\n{\"a\": [1, 2}\n```\n").await.unwrap();
        assert_eq!(bad.outcome, Outcome::Fail);
        let unbalanced = code("```rust\nfn main() {\n    let x = (1, 2;\n}\n```\n")
            .await
            .unwrap();
        assert_eq!(unbalanced.outcome, Outcome::Doubt, "{unbalanced:?}");
        let rust = code("```rust\nfn main() { println!(\"{}\", \"}\"); }\n```\n")
            .await
            .unwrap();
        assert_eq!(rust.outcome, Outcome::Pass, "{rust:?}");
        assert!(code("no code here").await.is_none());
        if which("python3") {
            let py = code("```python\ndef f(x):\n    return x + 1\n```")
                .await
                .unwrap();
            assert_eq!(py.outcome, Outcome::Pass, "{py:?}");
            let py = code("```python\ndef f(x)\n    return x + 1\n```")
                .await
                .unwrap();
            assert_eq!(py.outcome, Outcome::Fail, "{py:?}");
        } else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but python3 is missing"
            );
        }
        if which("bash") {
            let sh = code("```bash\nif true; then echo hi\n```").await.unwrap();
            assert_eq!(sh.outcome, Outcome::Fail, "{sh:?}");
        }
    }

    fn which(p: &str) -> bool {
        std::process::Command::new(p)
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok()
    }

    #[test]
    fn samples_that_agree_pass_and_ones_that_differ_want_a_judge() {
        let same = vec!["spam".to_string(), "Spam".into(), "spam.".into()];
        assert_eq!(agreement(&same, true).unwrap().outcome, Outcome::Pass);
        let differ = vec!["spam".to_string(), "ham".into(), "spam".into()];
        assert_eq!(agreement(&differ, true).unwrap().outcome, Outcome::Doubt);
        let prose = vec![
            "The meeting moved to Tuesday at ten.".to_string(),
            "The meeting moved to Tuesday, at ten.".into(),
        ];
        assert_eq!(agreement(&prose, false).unwrap().outcome, Outcome::Pass);
        let made_up = vec![
            "Ada founded the company in 1990.".to_string(),
            "Bob sold shares to investors last spring.".into(),
        ];
        assert_eq!(agreement(&made_up, false).unwrap().outcome, Outcome::Doubt);
        assert!(agreement(&same[..1], true).is_none());
        // Agreement with a format check passed is strong evidence.
        let fc = FreeChecks::from_signals(vec![
            Signal::pass("labels", "x"),
            agreement(&same, true).unwrap(),
        ]);
        assert!(fc.strong && fc.delivered);
        let fc = FreeChecks::from_signals(vec![Signal::pass("labels", "x")]);
        assert!(!fc.strong);
        let fc = FreeChecks::from_signals(vec![Signal::fail("labels", "wrong_format", "no")]);
        assert!(!fc.delivered && fc.escalate.is_some());
    }
}
