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

mod agreement;
mod code;
mod completeness;
mod grounding;
mod json;
mod labels;
mod signal;

pub use self::agreement::{agreement, exact_kind, similarity};
pub use self::code::{Block, code, code_blocks};
use self::completeness::{completeness, mentions_word, summary_length};
pub use self::grounding::extracted_items;
use self::grounding::grounding;
pub use self::json::json_of;
use self::json::{compile_schema, json_checks};
pub use self::labels::labels_in;
use self::labels::{labels_check, norm};
pub use self::signal::{Outcome, Signal};
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
