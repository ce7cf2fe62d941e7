//! The typed reading of YAML entries, with llm-orc's lax coercions (`"yes"` is a boolean, `"30"`
//! an integer) and every problem reported to a sink.

use serde_json::{Map, Value as Json};

use super::names::name_problem;
use super::{Located, MAX_TIMEOUT_SECONDS};
use crate::load::diag::{Sink, WithHint, closest};
use crate::load::yaml::{Entry, Value};

/// Reads typed fields out of YAML nodes, reporting problems to a sink.
pub struct Reader<'a> {
    pub sink: &'a mut Sink,
}

impl Reader<'_> {
    pub(super) fn type_error(&mut self, entry: &Entry, expected: &str) {
        self.sink.error(
            entry.value.pos,
            format!(
                "`{}` must be {expected}, found {}",
                entry.key,
                entry.value.value.kind()
            ),
        );
    }

    /// A string; numbers and booleans are refused (names and references must be real strings).
    pub fn string(&mut self, entry: &Entry) -> Option<String> {
        match &entry.value.value {
            Value::Str(s) => Some(s.clone()),
            Value::Null => None,
            _ => {
                self.type_error(entry, "a string");
                None
            }
        }
    }

    /// A model name: a string on one line, without control characters or bidirectional marks
    /// (it reaches requests, logs, terminals and the shell lines orc suggests). A bad one is an
    /// error here and is kept, so the agent or profile still reads as what it is.
    pub fn model(&mut self, entry: &Entry) -> Option<String> {
        let m = self.string(entry)?;
        if let Some(why) = name_problem(&m, false) {
            self.sink
                .error(entry.value.pos, format!("the model name {why}"))
                .hint("a model name is one line, as `ollama list` shows it (e.g. `qwen3:0.6b`)");
        }
        Some(m)
    }

    /// A string where llm-orc would accept any scalar rendered as text (prompts, descriptions).
    pub fn text(&mut self, entry: &Entry) -> Option<String> {
        match &entry.value.value {
            Value::Str(s) => Some(s.clone()),
            Value::Null => None,
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
            _ => {
                self.type_error(entry, "text");
                None
            }
        }
    }

    pub fn located_string(&mut self, entry: &Entry) -> Option<Located<String>> {
        let pos = entry.value.pos;
        self.string(entry).map(|s| Located::new(s, pos))
    }

    /// A boolean, with Pydantic's lax spellings.
    pub fn boolean(&mut self, entry: &Entry) -> Option<bool> {
        match &entry.value.value {
            Value::Bool(b) => Some(*b),
            Value::Int(0) => Some(false),
            Value::Int(1) => Some(true),
            Value::Null => None,
            Value::Str(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" | "y" | "t" => Some(true),
                "false" | "no" | "off" | "0" | "n" | "f" => Some(false),
                _ => {
                    self.type_error(entry, "true or false");
                    None
                }
            },
            _ => {
                self.type_error(entry, "true or false");
                None
            }
        }
    }

    /// A number of seconds or a float setting: integers, floats and numeric strings.
    pub fn number(&mut self, entry: &Entry) -> Option<f64> {
        match &entry.value.value {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) if f.is_finite() => Some(*f),
            Value::Null => None,
            Value::Str(s) => match s.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => Some(f),
                _ => {
                    self.type_error(entry, "a number");
                    None
                }
            },
            _ => {
                self.type_error(entry, "a number");
                None
            }
        }
    }

    /// A non-negative integer; `"30"` and `30.0` are accepted as llm-orc does.
    pub fn unsigned(&mut self, entry: &Entry) -> Option<u64> {
        let parsed = match &entry.value.value {
            Value::Int(i) => u64::try_from(*i).ok(),
            Value::Float(f) if f.fract() == 0.0 && *f >= 0.0 && *f < 1e18 => Some(*f as u64),
            Value::Str(s) => s.trim().parse::<u64>().ok(),
            Value::Null => return None,
            _ => None,
        };
        if parsed.is_none() {
            self.type_error(entry, "a whole number of at least 0");
        }
        parsed
    }

    /// A timeout in seconds: a finite number above 0 and at most [`MAX_TIMEOUT_SECONDS`] (one
    /// week). Larger values (`1e20`), `.inf` and `.nan` are errors here, so no timeout the engine
    /// sees can overflow a `Duration`.
    pub fn seconds(&mut self, entry: &Entry) -> Option<f64> {
        let non_finite = match &entry.value.value {
            Value::Float(f) => (!f.is_finite()).then_some(*f),
            Value::Str(s) => s.trim().parse::<f64>().ok().filter(|f| !f.is_finite()),
            _ => None,
        };
        if let Some(f) = non_finite {
            self.sink
                .error(
                    entry.value.pos,
                    format!(
                        "`{}` must be a finite number of seconds, found {f}",
                        entry.key
                    ),
                )
                .hint(format!(
                    "use a number of seconds between 0 and {MAX_TIMEOUT_SECONDS} (one week)"
                ));
            return None;
        }
        let n = self.number(entry)?;
        if n <= 0.0 {
            self.sink.error(
                entry.value.pos,
                format!("`{}` must be more than 0 seconds", entry.key),
            );
            return None;
        }
        if n > MAX_TIMEOUT_SECONDS {
            self.sink
                .error(
                    entry.value.pos,
                    format!(
                        "`{}` is {n} seconds, over the limit of {MAX_TIMEOUT_SECONDS} (one week)",
                        entry.key
                    ),
                )
                .hint("a timeout bounds one agent's work; use at most 604800 seconds");
            return None;
        }
        Some(n)
    }

    /// A mapping turned into JSON (options, parameters).
    pub fn object(&mut self, entry: &Entry) -> Map<String, Json> {
        match entry.value.to_json() {
            Json::Object(m) => m,
            Json::Null => Map::new(),
            _ => {
                self.type_error(entry, "a mapping");
                Map::new()
            }
        }
    }

    /// Warns about a key nobody reads.
    pub fn unknown_key(&mut self, entry: &Entry, what: &str, known: &[&str]) {
        let d = self.sink.warning(
            entry.key_pos,
            format!("unknown key `{}` in {what}; it is ignored", entry.key),
        );
        if let Some(near) = closest(&entry.key, known.iter().copied()) {
            d.hint(format!("did you mean `{near}`?"));
        }
    }
}

impl Reader<'_> {
    /// An unknown agent key: an error when it is close to a known key (a typo such as
    /// `depend_on` would otherwise run the agent without what the user asked for), else a
    /// warning. llm-orc refuses every unknown agent key.
    pub(super) fn unknown_agent_key(&mut self, entry: &Entry, known: &[&str]) {
        match closest(&entry.key, known.iter().copied()) {
            Some(near) => {
                self.sink
                    .error(
                        entry.key_pos,
                        format!(
                            "unknown key `{}` in an agent; did you mean `{near}`?",
                            entry.key
                        ),
                    )
                    .hint(format!(
                        "a misspelt key would be ignored, so the agent would run without it; rename it to `{near}` (llm-orc refuses unknown agent keys)"
                    ));
            }
            None => self.unknown_key(entry, "an agent", known),
        }
    }
}
