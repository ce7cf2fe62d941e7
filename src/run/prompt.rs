//! What each agent receives, byte for byte as llm-orc 0.25.2 composes it.

use serde_json::{Map, Value, json};

use super::results::{Entry, Status};
use crate::compile::{Agent, CompiledEnsemble, Kind};
use crate::pyfmt;

/// The dependent-agent template (T1).
const T1_HEAD: &str = "Please respond to the following input, taking into account the results from the previous agents in the dependency chain.\n\nOriginal Input:\n";
const T1_MID: &str = "\n\nPrevious Agent Results (for your reference):\n";
const T1_TAIL: &str = "\n\nPlease provide your own analysis, building upon (but not simply repeating) the previous results.";

/// A dependency as an agent sees it: its name, its entry, and how it was declared.
pub struct Dep<'a> {
    pub name: &'a str,
    pub entry: &'a Entry,
    pub agent: &'a Agent,
}

/// The label in `Agent name (Label):`: the profile name for profiled LLM agents, else the name.
pub fn role_of(agent: &Agent) -> String {
    match &agent.kind {
        Kind::Llm(l) => pyfmt::role_label(l.profile.as_deref().unwrap_or(&agent.name)),
        _ => pyfmt::role_label(&agent.name),
    }
}

/// A dependency's response as text inside a block. A fan-out's gathered list shows each
/// instance under `[i]:` (a failed one as `[i] (failed): error`); a fan-out that made no
/// instances says so.
pub fn render_response(dep: &Dep<'_>) -> String {
    if let Some(h) = &dep.entry.handover {
        return h.clone();
    }
    match (&dep.entry.response, &dep.entry.instances) {
        (Value::Array(items), _) if items.is_empty() && dep.agent.fan_out => {
            format!("Agent {}: {ZERO_INSTANCES}", dep.name)
        }
        (Value::Array(items), inst) if dep.agent.fan_out => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let failed = inst
                    .as_ref()
                    .and_then(|inst| inst.get(i))
                    .filter(|s| s.status != Status::Success);
                match failed {
                    Some(s) => format!(
                        "[{i}] (failed): {}",
                        s.error.as_deref().unwrap_or(NO_RESPONSE)
                    ),
                    None => format!("[{i}]:\n{}", pyfmt::str_of(v)),
                }
            })
            .collect::<Vec<_>>()
            .join("\n\n"),
        (other, _) => pyfmt::str_of(other),
    }
}

/// What stands for an answer that never came (a skipped agent, a failure without a message).
const NO_RESPONSE: &str = "no response";

/// What a fan-out over an empty list hands its dependents (llm-orc 0.25.2's words).
const ZERO_INSTANCES: &str = "produced zero instances (upstream list was empty)";

/// Whether a dependency counts as having answered: succeeded, or a fan-out of which some
/// instances did (`partial`).
pub fn answered(e: &Entry) -> bool {
    matches!(e.status, Status::Success | Status::Partial)
}

/// What an agent that did not answer left its dependents, after `(failed): ` or
/// `(skipped): `: the error, the reason it was skipped, else `no response`.
fn unanswered_text(e: &Entry) -> &str {
    match e.status {
        Status::Failed => e.error.as_deref(),
        _ => e.reason.as_deref(),
    }
    .unwrap_or(NO_RESPONSE)
}

/// One dependency as an LLM sees it: `Agent d (Role):\nresponse` for one that answered,
/// `Agent d (Role) (failed): error` or `Agent d (Role) (skipped): reason` for one that did not
/// (llm-orc 0.25.2 shows every dependency, whatever became of it).
fn block(d: &Dep<'_>) -> String {
    let (name, role) = (d.name, role_of(d.agent));
    if answered(d.entry) {
        return format!("Agent {name} ({role}):\n{}", render_response(d));
    }
    format!(
        "Agent {name} ({role}) ({}): {}",
        d.entry.status.word(),
        unanswered_text(d.entry)
    )
}

/// Every dependency's block, in `depends_on` order, joined by blank lines.
pub fn blocks(deps: &[Dep<'_>]) -> String {
    deps.iter().map(block).collect::<Vec<_>>().join("\n\n")
}

/// What became of the dependencies that did not answer, as llm-orc 0.25.2 words it in a
/// `reason` or `handled_failure_reason`: `a (failed: error), b (skipped)`.
pub fn unanswered(deps: &[Dep<'_>]) -> String {
    deps.iter()
        .filter(|d| !answered(d.entry))
        .map(|d| match (d.entry.status, &d.entry.error) {
            (Status::Failed, Some(err)) => format!("{} (failed: {err})", d.name),
            (status, _) => format!("{} ({})", d.name, status.word()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The user message of an LLM agent (and the input of a loop agent).
pub fn llm_input(agent: &Agent, base: &str, deps: &[Dep<'_>]) -> String {
    if agent.input_scope.is_some() {
        return blocks(deps);
    }
    if deps.is_empty() {
        return base.to_string();
    }
    format!("{T1_HEAD}{base}{T1_MID}{}{T1_TAIL}", blocks(deps))
}

/// The input a nested ensemble's child run gets: the input, then the dependency blocks.
pub fn nested_input(agent: &Agent, base: &str, deps: &[Dep<'_>]) -> String {
    if agent.input_scope.is_some() {
        return blocks(deps);
    }
    if deps.is_empty() {
        return base.to_string();
    }
    format!("{base}\n\n{}", blocks(deps))
}

/// The JSON a script agent with dependencies gets (llm-orc's ScriptAgentInput): every
/// dependency's entry as 0.25.2 stores it, a failed or skipped one included.
pub fn script_input(agent_name: &str, base: &str, deps: &[Dep<'_>]) -> String {
    let mut d = Map::new();
    for dep in deps {
        d.insert(dep.name.to_string(), entry_json(dep.entry));
    }
    pyfmt::json_dumps(&json!({
        "agent_name": agent_name,
        "input_data": base,
        "context": {},
        "dependencies": Value::Object(d),
    }))
}

/// A result entry as llm-orc stores it (what scripts see of their dependencies): its
/// `results` entry without orc's own keys.
pub fn entry_json(e: &Entry) -> Value {
    super::document::llm_orc_entry(e)
}

/// What a fan-out instance of an `ensemble:` (or dispatch) agent hands its child run: the
/// item itself, a string as it is and anything else as JSON (llm-orc 0.25.2).
pub fn fan_out_child_input(chunk: &Value) -> String {
    match chunk {
        Value::String(s) => s.clone(),
        other => pyfmt::json_dumps(other),
    }
}

/// The text of one fan-out chunk.
pub fn chunk_text(chunk: &Value) -> String {
    match chunk {
        Value::Object(_) => pyfmt::json_dumps(chunk),
        other => pyfmt::str_of(other),
    }
}

/// The user message of fan-out instance `i` of `n`.
pub fn fan_out_llm_input(i: usize, n: usize, base: &str, chunk: &Value) -> String {
    format!(
        "Processing chunk {} of {n}.\n\nOriginal task: {base}\n\nChunk content:\n{}",
        i + 1,
        chunk_text(chunk)
    )
}

/// The input of a fan-out script instance (wrapped again as plain input on stdin).
pub fn fan_out_script_input(name: &str, i: usize, n: usize, base: &str, chunk: &Value) -> String {
    pyfmt::json_dumps(&json!({
        "agent_name": format!("{name}[{i}]"),
        "input": chunk,
        "chunk_index": i,
        "total_chunks": n,
        "base_input": base,
        "context": {},
    }))
}

/// Strips a Markdown code fence around JSON (```json ... ```), if there is one.
fn unfence(s: &str) -> &str {
    let t = s.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    let rest = rest.split_once('\n').map_or("", |(_, r)| r);
    rest.trim_end().strip_suffix("```").unwrap_or(rest).trim()
}

/// The array a fan-out maps over, from its first dependency's response: a list, a JSON array
/// (also inside a code fence), or an object whose `data` (or `input_key`) is a list. An empty
/// list is a list (the fan-out makes no instances); None when there is no list at all.
pub fn fan_out_items(response: &Value, input_key: Option<&str>) -> Option<Vec<Value>> {
    let parsed;
    let v = match response {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(unfence(s)).ok()?;
            &parsed
        }
        other => other,
    };
    let items = match (v, input_key) {
        (Value::Object(o), Some(k)) => o.get(k)?.as_array()?.clone(),
        (Value::Array(a), _) => a.clone(),
        (Value::Object(o), None) => o.get("data")?.as_array()?.clone(),
        _ => return None,
    };
    Some(items)
}

/// `input_key`: the first dependency's response narrowed to one key of its JSON object.
/// Returns the replaced response, or why it could not be selected.
pub fn select_key(dep_name: &str, response: &Value, key: &str) -> Result<Value, String> {
    let parsed = match response {
        Value::String(s) => serde_json::from_str::<Value>(unfence(s)).map_err(|_| {
            format!(
                "input_key error: upstream '{dep_name}' output is not dict-shaped (not valid JSON)"
            )
        })?,
        other => other.clone(),
    };
    let Value::Object(map) = parsed else {
        let t = match parsed {
            Value::Array(_) => "list",
            Value::String(_) => "str",
            Value::Number(ref n) if n.is_f64() => "float",
            Value::Number(_) => "int",
            Value::Bool(_) => "bool",
            _ => "NoneType",
        };
        return Err(format!(
            "input_key error: upstream '{dep_name}' output is not dict (got {t})"
        ));
    };
    match map.get(key) {
        Some(Value::String(s)) => Ok(Value::String(s.clone())),
        Some(other) => Ok(Value::String(pyfmt::json_dumps(other))),
        None => {
            let keys: Vec<Value> = map.keys().map(|k| json!(k)).collect();
            Err(format!(
                "input_key error: key '{key}' not found in upstream '{dep_name}' output. Available keys: {}",
                pyfmt::repr(&Value::Array(keys))
            ))
        }
    }
}

/// What a nested ensemble hands its parent's dependents: each final agent's answer as
/// `name:\nanswer`, and a final agent that did not answer as `name (failed): error` or
/// `name (skipped): reason` (llm-orc 0.25.2). `suffix` follows each name: `[k]` for fan-out
/// instance k of the nested agent, else empty. A final agent that is itself a nested ensemble
/// (or a fan-out over one) hands over its own children's answers, never its run's document
/// (which carries timings, so the prompt would change on every run).
pub fn handover(child: &CompiledEnsemble, entries: &[(String, Entry)], suffix: &str) -> String {
    let mut parts = Vec::new();
    for (i, a) in child.agents.iter().enumerate() {
        if !child.terminal[i] {
            continue;
        }
        let Some((_, e)) = entries.iter().find(|(n, _)| *n == a.name) else {
            continue;
        };
        let name = &a.name;
        match (e.status, &e.handover, &e.response) {
            (Status::Failed | Status::Skipped, _, _) => parts.push(format!(
                "{name}{suffix} ({}): {}",
                e.status.word(),
                unanswered_text(e)
            )),
            (_, Some(h), _) => parts.push(format!("{name}{suffix}:\n{h}")),
            (_, None, Value::String(s)) => parts.push(format!("{name}{suffix}:\n{s}")),
            _ => {}
        }
    }
    parts.join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_out_arrays() {
        assert_eq!(
            fan_out_items(&json!("[\"a\", \"b\"]"), None).map(|v| v.len()),
            Some(2)
        );
        assert_eq!(
            fan_out_items(&json!("```json\n[1, 2, 3]\n```"), None).map(|v| v.len()),
            Some(3)
        );
        assert_eq!(
            fan_out_items(&json!("{\"success\": true, \"data\": [\"x\"]}"), None).map(|v| v.len()),
            Some(1)
        );
        assert_eq!(
            fan_out_items(&json!(["x", "y"]), None).map(|v| v.len()),
            Some(2)
        );
        assert_eq!(fan_out_items(&json!("[]"), None), Some(vec![]));
        assert!(fan_out_items(&json!("not json"), None).is_none());
        assert_eq!(
            fan_out_items(&json!("{\"items\": [1]}"), Some("items")).map(|v| v.len()),
            Some(1)
        );
    }

    #[test]
    fn select_keys() {
        assert_eq!(
            select_key("d", &json!("{\"a\": \"x\"}"), "a"),
            Ok(json!("x"))
        );
        assert_eq!(
            select_key("d", &json!("{\"a\": [1]}"), "a"),
            Ok(json!("[1]"))
        );
        assert_eq!(
            select_key("d", &json!("{\"a\": 1, \"b\": 2}"), "c"),
            Err("input_key error: key 'c' not found in upstream 'd' output. Available keys: ['a', 'b']".into())
        );
        assert!(
            select_key("d", &json!("[1]"), "a")
                .unwrap_err()
                .ends_with("(got list)")
        );
    }

    #[test]
    fn chunk_rendering() {
        assert_eq!(
            fan_out_llm_input(0, 2, "base", &json!("c")),
            "Processing chunk 1 of 2.\n\nOriginal task: base\n\nChunk content:\nc"
        );
        assert_eq!(chunk_text(&json!({"k": 1})), "{\"k\": 1}");
        assert_eq!(chunk_text(&json!(["a"])), "['a']");
    }
}
