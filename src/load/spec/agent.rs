//! Reading one agent: its type (from the first type key present), the keys of that type, its
//! dependencies, its loop, and the checks on its name and model.

use serde_json::{Map, Value as Json};

use super::names::{name_problem, shown};
use super::reader::Reader;
use super::{
    AgentKind, AgentSpec, Dependency, InputScope, LlmSpec, Located, LoopSpec, OnDependencyFailure,
    ScriptSpec,
};
use crate::load::diag::WithHint;
use crate::load::yaml::{Entry, Node, Pos, Value};

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

pub(super) fn read_agent(r: &mut Reader<'_>, index: usize, node: &Node) -> Option<AgentSpec> {
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
    let mut f = Fields::default();
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
        f.read(r, e);
    }
    let name = agent_name(r, f.name.take(), index, node.pos)?;
    let kind = match kind_key {
        Some("script") => AgentKind::Script(ScriptSpec {
            script: f.script?,
            parameters: f.parameters,
        }),
        Some("loop") => AgentKind::Loop(f.loop_spec?),
        Some("dispatch") => AgentKind::Dispatch(f.reference?),
        Some("ensemble") => AgentKind::Ensemble(f.reference?),
        _ => {
            check_llm_model(r, &name, node.pos, &f.llm);
            AgentKind::Llm(Box::new(f.llm))
        }
    };
    Some(AgentSpec {
        name,
        pos: node.pos,
        depends_on: f.depends_on,
        fan_out: f.fan_out,
        input_key: f.input_key,
        input_scope: f.input_scope,
        when: f.when,
        timeout_seconds: f.timeout_seconds,
        on_dependency_failure: f.on_dependency_failure,
        kind,
    })
}

/// An agent's keys as read, of every type (the type's own are used).
#[derive(Default)]
struct Fields {
    name: Option<Located<String>>,
    depends_on: Vec<Dependency>,
    fan_out: bool,
    input_key: Option<String>,
    input_scope: Option<InputScope>,
    when: Option<Located<String>>,
    timeout_seconds: Option<f64>,
    on_dependency_failure: OnDependencyFailure,
    llm: LlmSpec,
    script: Option<Located<String>>,
    parameters: Map<String, Json>,
    reference: Option<Located<String>>,
    loop_spec: Option<LoopSpec>,
}

impl Fields {
    /// Reads one key of the agent.
    fn read(&mut self, r: &mut Reader<'_>, e: &Entry) {
        let llm = &mut self.llm;
        match e.key.as_str() {
            "name" => self.name = r.located_string(e),
            "depends_on" => self.depends_on = read_dependencies(r, e),
            "fan_out" => self.fan_out = r.boolean(e).unwrap_or(false),
            "input_key" => self.input_key = r.string(e),
            "input_scope" => match r.string(e).as_deref() {
                Some("dependencies") => self.input_scope = Some(InputScope::Dependencies),
                None => {}
                Some(other) => {
                    r.sink
                        .error(e.value.pos, format!("`input_scope` cannot be `{other}`"))
                        .hint("the only scope is `dependencies`");
                }
            },
            "when" => self.when = r.located_string(e),
            "timeout_seconds" => self.timeout_seconds = r.seconds(e),
            "on_dependency_failure" => match r.string(e).as_deref() {
                Some("run") => self.on_dependency_failure = OnDependencyFailure::Run,
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
            "script" => self.script = r.located_string(e),
            "parameters" => self.parameters = r.object(e),
            "ensemble" | "dispatch" => self.reference = r.located_string(e),
            "loop" => self.loop_spec = read_loop(r, e),
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
}

/// The agent's name: present, not empty (else the agent is dropped), and fit to show.
fn agent_name(
    r: &mut Reader<'_>,
    name: Option<Located<String>>,
    index: usize,
    pos: Pos,
) -> Option<Located<String>> {
    let name = match name {
        Some(n) if !n.value.trim().is_empty() => n,
        Some(n) => {
            r.sink.error(n.pos, "an agent's `name` cannot be empty");
            return None;
        }
        None => {
            r.sink
                .error(pos, format!("agent #{} has no `name`", index + 1))
                .hint("every agent needs a unique `name:`");
            return None;
        }
    };
    if let Some(why) = name_problem(&name.value, false) {
        r.sink
            .error(name.pos, format!("the agent name {} {why}", shown(&name.value)))
            .hint("agent names are shown on terminals and in prompts; use letters, digits, `-` and `_`");
    }
    Some(name)
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{AgentKind, EnsembleSpec, parse_ensemble};
    use crate::load::diag::Sink;

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
