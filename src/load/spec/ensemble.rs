//! Reading an ensemble file: its top-level keys, its name and description, and its agents list.

use std::path::Path;

use serde_json::{Map, Value as Json};

use super::agent::read_agent;
use super::names::{name_problem, shown};
use super::reader::Reader;
use super::{AgentSpec, EnsembleSpec, Located};
use crate::load::diag::{Sink, WithHint};
use crate::load::yaml::{self, Entry, Pos, Value};

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
    let top = read_top(&mut r, entries);
    let name = ensemble_name(&mut r, top.name, stem, doc.root.pos);
    if top.description.is_none() {
        r.sink
            .warning(doc.root.pos, "the ensemble has no `description:`")
            .hint(
                "llm-orc refuses ensembles without a description; add one line saying what it does",
            );
    }
    let agents = read_agents(&mut r, top.agents, doc.root.pos)?;
    Some(EnsembleSpec {
        name,
        description: top.description,
        default_task: top.default_task.or(top.task),
        agents,
        validation: top.validation,
        test_mode: top.test_mode,
        raw_output: top.raw_output,
        serving: top.serving,
    })
}

/// The top-level keys of an ensemble, as read (the agents not yet).
struct Top<'d> {
    name: Option<Located<String>>,
    description: Option<String>,
    default_task: Option<String>,
    task: Option<String>,
    agents: Option<&'d Entry>,
    validation: Option<Json>,
    test_mode: Option<Json>,
    raw_output: bool,
    serving: Map<String, Json>,
}

fn read_top<'d>(r: &mut Reader<'_>, entries: &'d [Entry]) -> Top<'d> {
    let mut top = Top {
        name: None,
        description: None,
        default_task: None,
        task: None,
        agents: None,
        validation: None,
        test_mode: None,
        raw_output: false,
        serving: Map::new(),
    };
    for e in entries {
        match e.key.as_str() {
            "name" => top.name = r.located_string(e),
            "description" => top.description = r.text(e),
            "default_task" => top.default_task = r.text(e),
            "task" => top.task = r.text(e),
            "agents" => top.agents = Some(e),
            "validation" => top.validation = Some(e.value.to_json()),
            "test_mode" => top.test_mode = Some(e.value.to_json()),
            "raw_output" => top.raw_output = r.boolean(e).unwrap_or(false),
            k if SERVING_KEYS.contains(&k) => {
                top.serving.insert(k.to_string(), e.value.to_json());
            }
            _ => {
                let known: Vec<&str> = TOP_KEYS.iter().chain(SERVING_KEYS).copied().collect();
                r.unknown_key(e, "the ensemble", &known);
            }
        }
    }
    top
}

/// The ensemble's name: the file stem when it has none (a warning), checked as a folder name.
fn ensemble_name(
    r: &mut Reader<'_>,
    name: Option<Located<String>>,
    stem: String,
    root: Pos,
) -> Located<String> {
    let name = match name {
        Some(n) if !n.value.trim().is_empty() => n,
        _ => {
            r.sink
                .warning(
                    root,
                    format!("the ensemble has no `name:`; it is known as `{stem}`"),
                )
                .hint("llm-orc requires `name:`; add it so both tools find this ensemble");
            Located::new(stem, root)
        }
    };
    if let Some(why) = name_problem(&name.value, true) {
        r.sink
            .error(name.pos, format!("the ensemble name {} {why}", shown(&name.value)))
            .hint("the name is the artifact folder's name and is shown on terminals; use letters, digits, `-` and `_`");
    }
    name
}

/// The `agents:` list, each agent read; None when there is no list.
fn read_agents(r: &mut Reader<'_>, entry: Option<&Entry>, root: Pos) -> Option<Vec<AgentSpec>> {
    let Some(agents_entry) = entry else {
        r.sink
            .error(root, "the ensemble has no `agents:` list")
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
    Some(
        items
            .iter()
            .enumerate()
            .filter_map(|(i, n)| read_agent(r, i, n))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{EnsembleSpec, parse_ensemble};
    use crate::load::diag::Sink;

    fn parse(text: &str) -> (Option<EnsembleSpec>, Sink) {
        let mut sink = Sink::new(Path::new("t.yaml"));
        let spec = parse_ensemble(text, Path::new("t.yaml"), &mut sink);
        (spec, sink)
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
}
