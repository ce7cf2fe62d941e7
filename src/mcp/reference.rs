//! The MCP tool reference (`docs/reference/mcp-tools.md`) rendered from the tool list the
//! server announces (`surface::router(true)`, what `orc mcp serve --all-tools` serves): each
//! tool's name, whether it is in the core set, its annotations, its description and its
//! parameters from the JSON schema. A test (`tests/docs_reference.rs`) keeps the file equal to
//! this text.

use serde_json::{Map, Value};

use super::surface;

/// The whole reference as Markdown (deterministic: tools by name, parameters in schema order).
pub fn markdown() -> String {
    let tools = surface::router(true).list_all();
    let mut out = String::new();
    out.push_str("# MCP tool reference\n\n");
    out.push_str(
        "Generated from the tools `orc mcp serve --all-tools` announces (`src/mcp/surface.rs`, \
         the `#[tool]` descriptions and parameter structs) by `src/mcp/reference.rs`; do not edit \
         by hand. After changing a tool, regenerate it with\n\
         `ORC_REGENERATE_DOCS=1 cargo test --locked --test it docs_reference`.\n\n",
    );
    out.push_str(&format!(
        "{} tools; `orc mcp serve` serves the {} tools of the core set, `--all-tools` every one.\n\n",
        tools.len(),
        surface::CORE.len()
    ));
    out.push_str("| tool | core | read-only | destructive | idempotent |\n|---|---|---|---|---|\n");
    for t in &tools {
        let (ro, destructive, idempotent) = hints(t);
        out.push_str(&format!(
            "| [`{}`](#{}) | {} | {} | {} | {} |\n",
            t.name,
            t.name,
            yes(surface::CORE.contains(&t.name.as_ref())),
            yes(ro),
            yes(destructive),
            yes(idempotent)
        ));
    }
    out.push('\n');
    for t in &tools {
        out.push_str(&format!("## `{}`\n\n", t.name));
        let core = if surface::CORE.contains(&t.name.as_ref()) {
            "core set"
        } else {
            "only with `--all-tools`"
        };
        let (ro, destructive, idempotent) = hints(t);
        out.push_str(&format!(
            "{core}; read-only: {}, destructive: {}, idempotent: {}.\n\n",
            yes(ro),
            yes(destructive),
            yes(idempotent)
        ));
        if let Some(d) = &t.description {
            let lines: Vec<&str> = d.trim().lines().map(str::trim_end).collect();
            out.push_str(&lines.join("\n"));
            out.push_str("\n\n");
        }
        params(&mut out, &t.input_schema);
    }
    let end = out.trim_end().len();
    out.truncate(end);
    out.push('\n');
    out
}

/// The annotations as announced (read-only, destructive, idempotent).
fn hints(t: &rmcp::model::Tool) -> (bool, bool, bool) {
    let a = t.annotations.as_ref();
    (
        a.and_then(|a| a.read_only_hint).unwrap_or(false),
        a.and_then(|a| a.destructive_hint).unwrap_or(true),
        a.and_then(|a| a.idempotent_hint).unwrap_or(false),
    )
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The parameters table: name, type, required, default, description.
fn params(out: &mut String, schema: &Map<String, Value>) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        out.push_str("No parameters.\n\n");
        return;
    };
    if props.is_empty() {
        out.push_str("No parameters.\n\n");
        return;
    }
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str(
        "| parameter | type | required | default | description |\n|---|---|---|---|---|\n",
    );
    for (name, p) in props {
        let default = p
            .get("default")
            .map(|d| format!("`{d}`"))
            .unwrap_or_default();
        let description = p
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        out.push_str(&format!(
            "| `{name}` | {} | {} | {} | {} |\n",
            cell(&type_of(p)),
            yes(required.contains(&name.as_str())),
            cell(&default),
            cell(description)
        ));
    }
    out.push('\n');
}

/// A property's type in a few words: `string`, `integer or null`, `array of string`, an
/// enumeration's values, a referenced definition's name.
fn type_of(p: &Value) -> String {
    if let Some(values) = p.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(", ");
    }
    if let Some(r) = p.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_string();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = p.get(key).and_then(Value::as_array) {
            return options.iter().map(type_of).collect::<Vec<_>>().join(" or ");
        }
    }
    let base = match p.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".to_string(),
    };
    match p.get("items") {
        Some(items) if base.starts_with("array") => {
            base.replacen("array", &format!("array of {}", type_of(items)), 1)
        }
        _ => base,
    }
}

/// Text for one table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_read_as_words() {
        assert_eq!(
            type_of(&json!({"type": ["integer", "null"]})),
            "integer or null"
        );
        assert_eq!(
            type_of(&json!({"type": "array", "items": {"type": "string"}})),
            "array of string"
        );
        assert_eq!(type_of(&json!({"$ref": "#/$defs/Detail"})), "Detail");
        assert_eq!(type_of(&json!({"enum": ["a", "b"]})), "`\"a\"`, `\"b\"`");
    }
}
