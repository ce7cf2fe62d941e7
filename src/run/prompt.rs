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

/// A dependency's response as text inside a block.
pub fn render_response(dep: &Dep<'_>) -> String {
    if let Some(h) = &dep.entry.handover {
        return h.clone();
    }
    match &dep.entry.response {
        Value::Array(items) if dep.agent.fan_out => items
            .iter()
            .enumerate()
            .map(|(i, v)| format!("[{i}]:\n{}", pyfmt::str_of(v)))
            .collect::<Vec<_>>()
            .join("\n\n"),
        other => pyfmt::str_of(other),
    }
}

/// `Agent d (Role):\nresponse` for each successful dependency, joined by blank lines.
pub fn blocks(deps: &[Dep<'_>]) -> String {
    deps.iter()
        .filter(|d| d.entry.is_success())
        .map(|d| {
            format!(
                "Agent {} ({}):\n{}",
                d.name,
                role_of(d.agent),
                render_response(d)
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn any_success(deps: &[Dep<'_>]) -> bool {
    deps.iter().any(|d| d.entry.is_success())
}

/// The user message of an LLM agent (and the input of a loop agent).
pub fn llm_input(agent: &Agent, base: &str, deps: &[Dep<'_>]) -> String {
    if agent.input_scope.is_some() {
        return blocks(deps);
    }
    if !any_success(deps) {
        return base.to_string();
    }
    format!("{T1_HEAD}{base}{T1_MID}{}{T1_TAIL}", blocks(deps))
}

/// The input a nested ensemble's child run gets: the input, then the dependency blocks.
pub fn nested_input(agent: &Agent, base: &str, deps: &[Dep<'_>]) -> String {
    if agent.input_scope.is_some() {
        return blocks(deps);
    }
    if !any_success(deps) {
        return base.to_string();
    }
    format!("{base}\n\n{}", blocks(deps))
}

/// The JSON a script agent with dependencies gets (llm-orc's ScriptAgentInput).
pub fn script_input(agent_name: &str, base: &str, deps: &[Dep<'_>]) -> String {
    let mut d = Map::new();
    for dep in deps.iter().filter(|d| d.entry.is_success()) {
        d.insert(dep.name.to_string(), entry_json(dep.entry));
    }
    pyfmt::json_dumps(&json!({
        "agent_name": agent_name,
        "input_data": base,
        "context": {},
        "dependencies": Value::Object(d),
    }))
}

/// A result entry as llm-orc stores it (what scripts see of their dependencies).
pub fn entry_json(e: &Entry) -> Value {
    let mut m = Map::new();
    m.insert("response".into(), e.response.clone());
    m.insert("status".into(), json!(e.status));
    if let Some(inst) = &e.instances {
        m.insert("fan_out".into(), json!(true));
        m.insert("instances".into(), json!(inst));
    } else {
        m.insert("model_substituted".into(), json!(e.model_substituted));
    }
    if let Some(err) = &e.error {
        m.insert("error".into(), json!(err));
    }
    if let Some(r) = &e.agent_requests {
        m.insert("agent_requests".into(), r.clone());
    }
    Value::Object(m)
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
/// (also inside a code fence), or an object whose `data` (or `input_key`) is a list.
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
    (!items.is_empty()).then_some(items)
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

/// What a nested ensemble hands its parent's dependents: each final agent's answer. A final
/// agent that is itself a nested ensemble (or a fan-out over one) hands over its own children's
/// answers, never its run's document (which carries timings, so the prompt would change on
/// every run).
pub fn handover(child: &CompiledEnsemble, entries: &[(String, Entry)]) -> String {
    let mut parts = Vec::new();
    for (i, a) in child.agents.iter().enumerate() {
        if !child.terminal[i] {
            continue;
        }
        let Some((_, e)) = entries.iter().find(|(n, _)| *n == a.name) else {
            continue;
        };
        if e.status != Status::Success {
            continue;
        }
        match (&e.handover, &e.response) {
            (Some(h), _) => parts.push(format!("{}:\n{h}", a.name)),
            (None, Value::String(s)) => parts.push(format!("{}:\n{s}", a.name)),
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
        assert!(fan_out_items(&json!("[]"), None).is_none());
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
