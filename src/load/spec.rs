//! Ensemble and profile YAML as typed values, read from the located YAML tree.
//!
//! Reading never stops at the first problem: every error and warning in a file is collected with
//! its line and column, and as much of the file as makes sense is kept so that later checks (the
//! graph) can report their problems too. Coercions follow llm-orc (Pydantic's lax mode): `"yes"`
//! and `1` are booleans, `"30"` and `30.0` are integers; names must be real strings.

use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value as Json};

use crate::load::diag::{Sink, WithHint, closest};
use crate::load::yaml::{self, Entry, Node, Pos, Value};

/// A string with where it was written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Located<T> {
    pub value: T,
    #[serde(skip)]
    pub pos: Pos,
}

impl<T> Located<T> {
    pub fn new(value: T, pos: Pos) -> Self {
        Located { value, pos }
    }
}

/// A parsed ensemble file.
#[derive(Debug, Clone)]
pub struct EnsembleSpec {
    pub name: Located<String>,
    pub description: Option<String>,
    pub default_task: Option<String>,
    pub agents: Vec<AgentSpec>,
    /// Post-run validation block, kept as written (see the validation issue).
    pub validation: Option<Json>,
    pub test_mode: Option<Json>,
    pub raw_output: bool,
    /// Serving metadata llm-orc 0.19+ accepts and orc carries but does not act on.
    pub serving: Map<String, Json>,
}

/// One entry of `agents`.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    pub name: Located<String>,
    /// Where the agent's mapping starts.
    pub pos: Pos,
    pub depends_on: Vec<Dependency>,
    pub fan_out: bool,
    pub input_key: Option<String>,
    pub input_scope: Option<InputScope>,
    pub when: Option<Located<String>>,
    pub timeout_seconds: Option<f64>,
    /// `on_dependency_failure: run` (llm-orc 0.25): run even when no dependency succeeded.
    pub on_dependency_failure: OnDependencyFailure,
    pub kind: AgentKind,
}

/// What an agent does when none of its dependencies succeeded (llm-orc 0.25's
/// `on_dependency_failure`): `skip` it (the default; `outcome: skipped_by_failure`), or `run` it
/// with the failures shown in its input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDependencyFailure {
    #[default]
    Skip,
    Run,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dependency {
    pub name: Located<String>,
    /// The `condition` of the mapping form; llm-orc accepts and ignores it.
    pub condition: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputScope {
    Dependencies,
}

#[derive(Debug, Clone)]
pub enum AgentKind {
    Llm(Box<LlmSpec>),
    Script(ScriptSpec),
    Ensemble(Located<String>),
    Loop(LoopSpec),
    Dispatch(Located<String>),
}

impl AgentKind {
    pub fn label(&self) -> &'static str {
        match self {
            AgentKind::Llm(_) => "llm",
            AgentKind::Script(_) => "script",
            AgentKind::Ensemble(_) => "ensemble",
            AgentKind::Loop(_) => "loop",
            AgentKind::Dispatch(_) => "dispatch",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct LlmSpec {
    pub model_profile: Option<Located<String>>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub base_url: Option<String>,
    pub system_prompt: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    pub options: Map<String, Json>,
    pub ollama_format: Option<Json>,
    /// llm-orc 0.25's structured output: `"json"` or a JSON schema (sent as `response_format`
    /// to OpenAI-compatible servers, as `format` to Ollama's native API).
    pub response_format: Option<Json>,
    pub output_format: Option<String>,
    pub fallback_model_profile: Option<String>,
    pub cost_per_token: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct ScriptSpec {
    pub script: Located<String>,
    pub parameters: Map<String, Json>,
}

#[derive(Debug, Clone)]
pub struct LoopSpec {
    pub body: Located<String>,
    pub until: String,
    pub max_iterations: u64,
    pub carry: Option<String>,
}

/// A model profile, from `config.yaml`'s `model_profiles` or a `profiles/*.yaml` file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProfileSpec {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_per_token: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub options: Map<String, Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_model_profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where the profile is defined (file, line).
    #[serde(skip)]
    pub pos: Pos,
}

/// The largest timeout a file may set: one week, in seconds.
pub const MAX_TIMEOUT_SECONDS: f64 = 604_800.0;

/// Reads typed fields out of YAML nodes, reporting problems to a sink.
pub struct Reader<'a> {
    pub sink: &'a mut Sink,
}

impl Reader<'_> {
    fn type_error(&mut self, entry: &Entry, expected: &str) {
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
    fn unknown_agent_key(&mut self, entry: &Entry, known: &[&str]) {
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

/// Why `name` cannot be an ensemble's (`folder`: it names the artifact folder) or an agent's
/// name: control characters (line breaks, escapes, NUL) and bidirectional marks change what a
/// terminal shows; `.`, `..`, `/`, `\` and more than 255 bytes cannot be one folder's name.
pub fn name_problem(name: &str, folder: bool) -> Option<String> {
    if let Some(c) = name
        .chars()
        .find(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        let what = if matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}') {
            "a line break"
        } else {
            "a control character"
        };
        return Some(format!("contains {what} (U+{:04X})", u32::from(c)));
    }
    if let Some(c) = name.chars().find(|c| is_bidi_mark(*c)) {
        return Some(format!(
            "contains a bidirectional mark (U+{:04X}), which makes text display in another order than it is",
            u32::from(c)
        ));
    }
    if folder {
        if name == "." || name == ".." {
            return Some("cannot name the artifact folder".into());
        }
        if let Some(c) = name.chars().find(|c| matches!(c, '/' | '\\')) {
            return Some(format!(
                "contains `{c}`; it names the artifact folder, so it must be one plain folder name (put the file in a sub-folder instead)"
            ));
        }
        if name.len() > 255 {
            return Some(format!(
                "is {} bytes long; it names the artifact folder, which takes at most 255",
                name.len()
            ));
        }
    }
    None
}

/// U+200E/U+200F (marks), U+202A-U+202E (embeddings, overrides), U+2066-U+2069 (isolates).
fn is_bidi_mark(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// A name quoted with its control characters and bidi marks escaped, safe to print. Long
/// names are cut to their first 60 characters.
pub fn shown(name: &str) -> String {
    let mut out = String::from("`");
    for (i, c) in name.chars().enumerate() {
        if i == 60 {
            out.push_str("...");
            break;
        }
        if c.is_control() || is_bidi_mark(c) || matches!(c, '\u{2028}' | '\u{2029}') {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out.push('`');
    out
}

const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "agents",
    "default_task",
    "task",
    "validation",
    "test_mode",
    "raw_output",
];

/// Serving metadata keys of llm-orc 0.19+; carried, not acted on.
const SERVING_KEYS: &[&str] = &[
    "topaz_skill",
    "serves",
    "output_schema",
    "output_substrate",
    "output_retention",
    "calibration_substrate_access",
];

const COMMON_AGENT_KEYS: &[&str] = &[
    "name",
    "depends_on",
    "fan_out",
    "input_key",
    "input_scope",
    "when",
    "timeout_seconds",
    "on_dependency_failure",
];

const LLM_KEYS: &[&str] = &[
    "model_profile",
    "model",
    "provider",
    "base_url",
    "system_prompt",
    "temperature",
    "max_tokens",
    "options",
    "ollama_format",
    "response_format",
    "output_format",
    "fallback_model_profile",
    "cost_per_token",
];

const SCRIPT_KEYS: &[&str] = &["script", "parameters"];
const LOOP_KEYS: &[&str] = &["body", "until", "max_iterations", "carry"];

/// Keys that belong to one agent type and are refused on another, as llm-orc refuses them.
fn owner_of(key: &str) -> Option<&'static str> {
    if LLM_KEYS.contains(&key) {
        Some("an LLM agent")
    } else if SCRIPT_KEYS.contains(&key) {
        Some("a script agent")
    } else if key == "ensemble" {
        Some("an ensemble agent")
    } else if key == "loop" {
        Some("a loop agent")
    } else if key == "dispatch" {
        Some("a dispatch agent")
    } else {
        None
    }
}

/// One warning per repeated key: the last occurrence wins, as in PyYAML.
pub fn warn_duplicates(doc: &yaml::Document, sink: &mut Sink) {
    for dup in &doc.duplicates {
        sink.warning(
            dup.last,
            format!(
                "key `{}` is repeated (first at line {}); the last one wins",
                dup.key, dup.first.line
            ),
        );
    }
}

/// Reads an ensemble file's text. Returns `None` when the file cannot be used at all (syntax
/// error, not a mapping, no agents list); every problem is in `sink`.
pub fn parse_ensemble(text: &str, file: &Path, sink: &mut Sink) -> Option<EnsembleSpec> {
    let doc = match yaml::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            sink.error(e.pos, format!("YAML syntax: {}", e.message))
                .hint("check the indentation and quoting around this line");
            return None;
        }
    };
    warn_duplicates(&doc, sink);
    let Some(entries) = doc.root.as_map() else {
        sink.error(
            doc.root.pos,
            format!(
                "an ensemble must be a mapping, found {}",
                doc.root.value.kind()
            ),
        )
        .hint("start the file with `name:`, `description:` and `agents:`");
        return None;
    };
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut r = Reader { sink };
    let mut name: Option<Located<String>> = None;
    let mut description = None;
    let mut default_task = None;
    let mut task = None;
    let mut agents_node: Option<&Entry> = None;
    let mut validation = None;
    let mut test_mode = None;
    let mut raw_output = false;
    let mut serving = Map::new();
    for e in entries {
        match e.key.as_str() {
            "name" => name = r.located_string(e),
            "description" => description = r.text(e),
            "default_task" => default_task = r.text(e),
            "task" => task = r.text(e),
            "agents" => agents_node = Some(e),
            "validation" => validation = Some(e.value.to_json()),
            "test_mode" => test_mode = Some(e.value.to_json()),
            "raw_output" => raw_output = r.boolean(e).unwrap_or(false),
            k if SERVING_KEYS.contains(&k) => {
                serving.insert(k.to_string(), e.value.to_json());
            }
            _ => {
                let known: Vec<&str> = TOP_KEYS.iter().chain(SERVING_KEYS).copied().collect();
                r.unknown_key(e, "the ensemble", &known);
            }
        }
    }
    let name = match name {
        Some(n) if !n.value.trim().is_empty() => n,
        _ => {
            r.sink
                .warning(
                    doc.root.pos,
                    format!("the ensemble has no `name:`; it is known as `{stem}`"),
                )
                .hint("llm-orc requires `name:`; add it so both tools find this ensemble");
            Located::new(stem, doc.root.pos)
        }
    };
    if let Some(why) = name_problem(&name.value, true) {
        r.sink
            .error(name.pos, format!("the ensemble name {} {why}", shown(&name.value)))
            .hint("the name is the artifact folder's name and is shown on terminals; use letters, digits, `-` and `_`");
    }
    if description.is_none() {
        r.sink
            .warning(doc.root.pos, "the ensemble has no `description:`")
            .hint(
                "llm-orc refuses ensembles without a description; add one line saying what it does",
            );
    }
    let Some(agents_entry) = agents_node else {
        r.sink
            .error(doc.root.pos, "the ensemble has no `agents:` list")
            .hint("add `agents:` with at least one agent");
        return None;
    };
    let items = match &agents_entry.value.value {
        Value::Seq(items) => items,
        other => {
            r.sink
                .error(
                    agents_entry.value.pos,
                    format!("`agents` must be a list, found {}", other.kind()),
                )
                .hint("write each agent as a list item starting with `- name: ...`");
            return None;
        }
    };
    if items.is_empty() {
        r.sink
            .error(agents_entry.value.pos, "`agents` is empty")
            .hint("an ensemble needs at least one agent");
    }
    let agents = items
        .iter()
        .enumerate()
        .filter_map(|(i, n)| read_agent(&mut r, i, n))
        .collect();
    Some(EnsembleSpec {
        name,
        description,
        default_task: default_task.or(task),
        agents,
        validation,
        test_mode,
        raw_output,
        serving,
    })
}

fn read_agent(r: &mut Reader<'_>, index: usize, node: &Node) -> Option<AgentSpec> {
    let Some(entries) = node.as_map() else {
        r.sink
            .error(
                node.pos,
                format!(
                    "agent #{} must be a mapping, found {}",
                    index + 1,
                    node.value.kind()
                ),
            )
            .hint("write an agent as `- name: ...` followed by its keys");
        return None;
    };
    // The type is decided by the first of these keys present, as in llm-orc.
    let kind_key = ["script", "loop", "dispatch", "ensemble"]
        .into_iter()
        .find(|k| entries.iter().any(|e| e.key == *k));
    let kind_label = match kind_key {
        Some("script") => "a script agent",
        Some("loop") => "a loop agent",
        Some("dispatch") => "a dispatch agent",
        Some("ensemble") => "an ensemble agent",
        _ => "an LLM agent",
    };
    let mut name: Option<Located<String>> = None;
    let mut depends_on = Vec::new();
    let mut fan_out = false;
    let mut input_key = None;
    let mut input_scope = None;
    let mut when = None;
    let mut timeout_seconds = None;
    let mut on_dependency_failure = OnDependencyFailure::Skip;
    let mut llm = LlmSpec::default();
    let mut script: Option<Located<String>> = None;
    let mut parameters = Map::new();
    let mut reference: Option<Located<String>> = None;
    let mut loop_spec: Option<LoopSpec> = None;
    for e in entries {
        let key = e.key.as_str();
        if let Some(owner) = owner_of(key)
            && owner != kind_label
        {
            r.sink
                .error(e.key_pos, format!("`{key}` belongs to {owner}, but this is {kind_label}"))
                .hint(format!(
                    "an agent is {kind_label} because it has `{}`; remove `{key}` or split the agent",
                    kind_key.unwrap_or("model_profile")
                ));
            continue;
        }
        match key {
            "name" => name = r.located_string(e),
            "depends_on" => depends_on = read_dependencies(r, e),
            "fan_out" => fan_out = r.boolean(e).unwrap_or(false),
            "input_key" => input_key = r.string(e),
            "input_scope" => match r.string(e).as_deref() {
                Some("dependencies") => input_scope = Some(InputScope::Dependencies),
                None => {}
                Some(other) => {
                    r.sink
                        .error(e.value.pos, format!("`input_scope` cannot be `{other}`"))
                        .hint("the only scope is `dependencies`");
                }
            },
            "when" => when = r.located_string(e),
            "timeout_seconds" => timeout_seconds = r.seconds(e),
            "on_dependency_failure" => match r.string(e).as_deref() {
                Some("run") => on_dependency_failure = OnDependencyFailure::Run,
                Some("skip") | None => {}
                Some(other) => {
                    r.sink
                        .error(
                            e.value.pos,
                            format!("`on_dependency_failure` cannot be `{other}`"),
                        )
                        .hint("`skip` (the default) or `run`");
                }
            },
            "model_profile" => llm.model_profile = r.located_string(e),
            "model" => llm.model = r.model(e),
            "provider" => llm.provider = r.string(e),
            "base_url" => llm.base_url = r.string(e),
            "system_prompt" => llm.system_prompt = r.text(e),
            "temperature" => llm.temperature = r.number(e),
            "max_tokens" => llm.max_tokens = r.unsigned(e),
            "options" => llm.options = r.object(e),
            "ollama_format" => llm.ollama_format = read_format(r, e),
            "response_format" => llm.response_format = read_format(r, e),
            "output_format" => llm.output_format = r.string(e),
            "fallback_model_profile" => llm.fallback_model_profile = r.string(e),
            "cost_per_token" => llm.cost_per_token = r.number(e),
            "script" => script = r.located_string(e),
            "parameters" => parameters = r.object(e),
            "ensemble" | "dispatch" => reference = r.located_string(e),
            "loop" => loop_spec = read_loop(r, e),
            _ => {
                let known: Vec<&str> = COMMON_AGENT_KEYS
                    .iter()
                    .chain(LLM_KEYS)
                    .chain(SCRIPT_KEYS)
                    .chain(&["ensemble", "loop", "dispatch"])
                    .copied()
                    .collect();
                r.unknown_agent_key(e, &known);
            }
        }
    }
    let name = match name {
        Some(n) if !n.value.trim().is_empty() => n,
        Some(n) => {
            r.sink.error(n.pos, "an agent's `name` cannot be empty");
            return None;
        }
        None => {
            r.sink
                .error(node.pos, format!("agent #{} has no `name`", index + 1))
                .hint("every agent needs a unique `name:`");
            return None;
        }
    };
    if let Some(why) = name_problem(&name.value, false) {
        r.sink
            .error(name.pos, format!("the agent name {} {why}", shown(&name.value)))
            .hint("agent names are shown on terminals and in prompts; use letters, digits, `-` and `_`");
    }
    let kind = match kind_key {
        Some("script") => AgentKind::Script(ScriptSpec {
            script: script?,
            parameters,
        }),
        Some("loop") => AgentKind::Loop(loop_spec?),
        Some("dispatch") => AgentKind::Dispatch(reference?),
        Some("ensemble") => AgentKind::Ensemble(reference?),
        _ => {
            check_llm_model(r, &name, node.pos, &llm);
            AgentKind::Llm(Box::new(llm))
        }
    };
    Some(AgentSpec {
        name,
        pos: node.pos,
        depends_on,
        fan_out,
        input_key,
        input_scope,
        when,
        timeout_seconds,
        on_dependency_failure,
        kind,
    })
}

/// `ollama_format` / `response_format`: `"json"` or a JSON schema mapping.
fn read_format(r: &mut Reader<'_>, e: &Entry) -> Option<Json> {
    match &e.value.value {
        Value::Str(_) | Value::Map(_) => Some(e.value.to_json()),
        Value::Null => None,
        _ => {
            r.type_error(e, "\"json\" or a JSON schema mapping");
            None
        }
    }
}

fn check_llm_model(r: &mut Reader<'_>, name: &Located<String>, pos: Pos, llm: &LlmSpec) {
    let agent = &name.value;
    match (&llm.model_profile, &llm.model, &llm.provider) {
        (Some(_), Some(_), _) => {
            r.sink
                .error(
                    pos,
                    format!("agent `{agent}` sets both `model_profile` and `model`"),
                )
                .hint("model_profile and model are mutually exclusive; use one or the other");
        }
        (None, Some(_), None) => {
            r.sink
                .error(
                    pos,
                    format!("agent `{agent}` sets `model` without `provider`"),
                )
                .hint("add `provider: ollama` (or openai-compatible), or use a model_profile");
        }
        (None, None, Some(_)) => {
            r.sink
                .error(
                    pos,
                    format!("agent `{agent}` sets `provider` without `model`"),
                )
                .hint("add `model:`, or use a model_profile");
        }
        (None, None, None) => {
            r.sink
                .error(pos, format!("agent `{agent}` has no model"))
                .hint("an LLM agent needs `model_profile:`, or `model:` with `provider:`");
        }
        _ => {}
    }
}

fn read_dependencies(r: &mut Reader<'_>, e: &Entry) -> Vec<Dependency> {
    let items: Vec<&Node> = match &e.value.value {
        Value::Seq(items) => items.iter().collect(),
        Value::Null => return Vec::new(),
        // A single name is a common slip; accept it as a one-item list.
        Value::Str(_) => vec![&e.value],
        other => {
            r.sink.error(
                e.value.pos,
                format!(
                    "`depends_on` must be a list of agent names, found {}",
                    other.kind()
                ),
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for item in items {
        match &item.value {
            Value::Str(s) => out.push(Dependency {
                name: Located::new(s.clone(), item.pos),
                condition: None,
            }),
            Value::Map(_) => {
                let name = item
                    .get("agent_name")
                    .or_else(|| item.get("name"))
                    .and_then(|n| {
                        n.value
                            .as_str()
                            .map(|s| Located::new(s.to_string(), n.value.pos))
                    });
                let condition = item
                    .get("condition")
                    .and_then(|c| c.value.as_str().map(str::to_string));
                match name {
                    Some(name) => out.push(Dependency { name, condition }),
                    None => {
                        r.sink
                            .error(item.pos, "a `depends_on` mapping needs `agent_name`")
                            .hint("write `- agent_name: other-agent`, or just the name");
                    }
                }
            }
            other => {
                r.sink.error(
                    item.pos,
                    format!(
                        "a `depends_on` entry must be an agent name, found {}",
                        other.kind()
                    ),
                );
            }
        }
    }
    out
}

fn read_loop(r: &mut Reader<'_>, e: &Entry) -> Option<LoopSpec> {
    let Some(entries) = e.value.as_map() else {
        r.type_error(e, "a mapping with `body`, `until` and `max_iterations`");
        return None;
    };
    let mut body = None;
    let mut until = None;
    let mut max_iterations = None;
    let mut carry = None;
    for le in entries {
        match le.key.as_str() {
            "body" => body = r.located_string(le),
            "until" => until = r.text(le),
            "max_iterations" => max_iterations = r.unsigned(le),
            "carry" => carry = r.string(le),
            _ => r.unknown_key(le, "a loop", LOOP_KEYS),
        }
    }
    let mut missing = Vec::new();
    if body.is_none() {
        missing.push("body");
    }
    if until.is_none() {
        missing.push("until");
    }
    if max_iterations.is_none() {
        missing.push("max_iterations");
    }
    if !missing.is_empty() {
        r.sink
            .error(
                e.value.pos,
                format!("`loop` is missing {}", missing.join(", ")),
            )
            .hint("a loop needs `body` (an ensemble), `until` (a predicate) and `max_iterations`");
        return None;
    }
    if max_iterations == Some(0) {
        r.sink
            .error(e.value.pos, "`loop.max_iterations` must be greater than 0");
        return None;
    }
    Some(LoopSpec {
        body: body?,
        until: until?,
        max_iterations: max_iterations?,
        carry,
    })
}

const PROFILE_KEYS: &[&str] = &[
    "name",
    "model",
    "provider",
    "base_url",
    "system_prompt",
    "timeout_seconds",
    "cost_per_token",
    "temperature",
    "max_tokens",
    "options",
    "fallback_model_profile",
    "fallback",
    "description",
    "use",
];

/// Reads one profile mapping. `name` is the map key (config.yaml) or the `name:` field.
pub fn read_profile(r: &mut Reader<'_>, name: Option<&str>, node: &Node) -> Option<ProfileSpec> {
    let Some(entries) = node.as_map() else {
        r.sink.error(
            node.pos,
            format!(
                "a model profile must be a mapping, found {}",
                node.value.kind()
            ),
        );
        return None;
    };
    let mut p = ProfileSpec {
        name: name.unwrap_or_default().to_string(),
        pos: node.pos,
        ..ProfileSpec::default()
    };
    for e in entries {
        match e.key.as_str() {
            "name" => {
                if let Some(n) = r.string(e)
                    && name.is_none()
                {
                    p.name = n;
                }
            }
            "model" => p.model = r.model(e),
            "provider" => p.provider = r.string(e),
            "base_url" => p.base_url = r.string(e),
            "system_prompt" => p.system_prompt = r.text(e),
            "timeout_seconds" => p.timeout_seconds = r.seconds(e),
            "cost_per_token" => p.cost_per_token = r.number(e),
            "temperature" => p.temperature = r.number(e),
            "max_tokens" => p.max_tokens = r.unsigned(e),
            "options" => p.options = r.object(e),
            "fallback_model_profile" | "fallback" => p.fallback_model_profile = r.string(e),
            "description" | "use" => p.description = r.text(e),
            _ => r.unknown_key(e, "a model profile", PROFILE_KEYS),
        }
    }
    if p.name.is_empty() {
        r.sink
            .error(node.pos, "a profile file needs a `name:`")
            .hint("add `name: my-profile`; agents refer to profiles by this name");
        return None;
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Option<EnsembleSpec>, Sink) {
        let mut sink = Sink::new(Path::new("t.yaml"));
        let spec = parse_ensemble(text, Path::new("t.yaml"), &mut sink);
        (spec, sink)
    }

    #[test]
    fn reads_agent_types() {
        let (spec, sink) = parse(
            "name: e\ndescription: d\nagents:\n  - name: s\n    script: x.py\n  - name: l\n    model_profile: tiny\n    depends_on: [s]\n    fan_out: 'yes'\n  - name: n\n    ensemble: other\n    depends_on:\n      - agent_name: l\n        condition: whatever\n",
        );
        assert!(sink.items.is_empty(), "{:?}", sink.items);
        let spec = spec.unwrap();
        assert_eq!(spec.agents.len(), 3);
        assert!(matches!(spec.agents[0].kind, AgentKind::Script(_)));
        assert!(spec.agents[1].fan_out);
        assert_eq!(spec.agents[2].depends_on[0].name.value, "l");
        assert_eq!(spec.agents[2].depends_on[0].name.pos.line, 13);
    }

    #[test]
    fn unknown_keys_warn_with_line() {
        let (spec, sink) = parse(
            "name: e\ndescription: d\ncolour: red\nagents:\n  - name: a\n    model_profile: p\n    notes: mine\n",
        );
        assert!(spec.is_some());
        assert_eq!(sink.items.len(), 2);
        assert!(!sink.has_errors());
        assert_eq!(sink.items[0].line, 3);
        assert_eq!(sink.items[1].line, 7);
        assert_eq!(
            sink.items[1].message,
            "unknown key `notes` in an agent; it is ignored"
        );
        assert_eq!(sink.items[1].hint, None);
    }

    /// A typo of a known agent key would silently drop what it sets (`depend_on` runs the agent
    /// without its dependency): an error, at the did-you-mean distance.
    #[test]
    fn agent_key_close_to_a_known_one_is_an_error() {
        let (_, sink) = parse(
            "name: e\ndescription: d\nagents:\n  - name: a\n    model_profile: p\n  - name: b\n    model_profile: p\n    depend_on: [a]\n    temprature: 0.3\n",
        );
        let errors: Vec<_> = sink.items.iter().filter(|d| d.is_error()).collect();
        assert_eq!(errors.len(), 2, "{:?}", sink.items);
        assert_eq!(errors[0].line, 8);
        assert_eq!(
            errors[0].message,
            "unknown key `depend_on` in an agent; did you mean `depends_on`?"
        );
        assert_eq!(
            errors[1].message,
            "unknown key `temprature` in an agent; did you mean `temperature`?"
        );
    }

    #[test]
    fn keys_of_another_type_are_errors() {
        let (_, sink) = parse(
            "name: e\ndescription: d\nagents:\n  - name: a\n    script: x.sh\n    model_profile: p\n",
        );
        assert!(sink.has_errors());
        assert_eq!(sink.items[0].line, 6);
        assert!(sink.items[0].message.contains("belongs to an LLM agent"));
    }

    #[test]
    fn lax_numbers_and_strict_names() {
        let (spec, sink) = parse(
            "name: e\ndescription: d\nagents:\n  - name: 5\n    model_profile: p\n  - name: b\n    model_profile: p\n    timeout_seconds: '30'\n",
        );
        assert!(sink.has_errors());
        assert!(sink.items[0].message.contains("`name` must be a string"));
        let spec = spec.unwrap();
        assert_eq!(spec.agents.len(), 1);
        assert_eq!(spec.agents[0].timeout_seconds, Some(30.0));
    }

    #[test]
    fn loop_needs_positive_iterations() {
        let (_, sink) = parse(
            "name: e\ndescription: d\nagents:\n  - name: l\n    loop: {body: b, until: '${done}', max_iterations: 0}\n",
        );
        assert!(
            sink.items
                .iter()
                .any(|d| d.message.contains("greater than 0"))
        );
    }
}
