//! JSON and schema: the output parses, and validates against `expect.schema` (JSON Schema, with
//! boon; no `$ref` is ever fetched).

use super::code::code_blocks;
use super::signal::Signal;
use serde_json::Value;

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

pub(super) fn json_checks(output: &str, schema: Option<&Value>) -> Vec<Signal> {
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
pub(super) struct NoLoader;

impl boon::UrlLoader for NoLoader {
    fn load(&self, url: &str) -> Result<Value, Box<dyn std::error::Error>> {
        Err(format!("orc does not fetch schemas ({url})").into())
    }
}

pub(super) fn compile_schema(schema: &Value) -> Result<(boon::Schemas, boon::SchemaIndex), String> {
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

pub(super) fn validate_schema(schema: &Value, v: &Value) -> Result<(), String> {
    let (schemas, i) = compile_schema(schema)?;
    schemas.validate(v, i).map_err(|e| {
        let s = format!("{e}");
        let s = s.lines().take(4).collect::<Vec<_>>().join("; ");
        s.chars().take(400).collect()
    })
}
