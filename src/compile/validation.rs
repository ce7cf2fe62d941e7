//! A `validation:` block read into typed checks (the compiler checks it; `run::validation`
//! evaluates it after a run).

use serde_json::{Map, Value};

/// A `validation:` block that does not have the expected shape.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("`validation` must be a mapping")]
    NotAMap,
    #[error("`validation.{key}`: {why}")]
    Key { key: String, why: String },
}

fn bad(key: impl Into<String>, why: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key: key.into(),
        why: why.into(),
    }
}

#[derive(Debug, Clone, Default)]
pub struct Structural {
    pub required_agents: Vec<String>,
    pub max_execution_time: Option<f64>,
    pub min_execution_time: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct SchemaCheck {
    pub agent: String,
    pub output_schema: String,
    pub required_fields: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Assertion {
    pub name: String,
    pub description: String,
    pub assertion: String,
}

#[derive(Debug, Clone)]
pub struct Metric {
    pub metric: String,
    pub threshold: Option<String>,
    pub description: String,
}

#[derive(Debug, Clone, Default)]
pub struct Semantic {
    pub enabled: bool,
    pub validator_model: Option<String>,
    pub criteria: Vec<String>,
}

/// A parsed `validation:` block.
#[derive(Debug, Clone, Default)]
pub struct ValidationConfig {
    pub structural: Option<Structural>,
    pub schema_validations: Vec<SchemaCheck>,
    pub behavioral: Vec<Assertion>,
    pub quantitative: Vec<Metric>,
    pub semantic: Option<Semantic>,
    pub strict_schema_validation: bool,
    /// orc's extension (ignored by llm-orc): the category `orc validate category` selects by.
    pub category: Option<String>,
}

fn string(v: &Value, key: &str) -> Result<String, ConfigError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| bad(key, "expected a string"))
}

fn opt_string(
    m: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, ConfigError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => string(v, &format!("{path}.{key}")).map(Some),
    }
}

fn req_string(m: &Map<String, Value>, key: &str, path: &str) -> Result<String, ConfigError> {
    opt_string(m, key, path)?.ok_or_else(|| bad(format!("{path}.{key}"), "is required"))
}

fn strings(m: &Map<String, Value>, key: &str, path: &str) -> Result<Vec<String>, ConfigError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| string(v, &format!("{path}.{key}")))
            .collect(),
        Some(_) => Err(bad(format!("{path}.{key}"), "expected a list of strings")),
    }
}

fn number(m: &Map<String, Value>, key: &str, path: &str) -> Result<Option<f64>, ConfigError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| bad(format!("{path}.{key}"), "expected a number")),
        Some(_) => Err(bad(format!("{path}.{key}"), "expected a number")),
    }
}

/// Pydantic's lax booleans.
fn boolean(m: &Map<String, Value>, key: &str, path: &str) -> Result<bool, ConfigError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Number(n)) if n.as_f64() == Some(1.0) => Ok(true),
        Some(Value::Number(n)) if n.as_f64() == Some(0.0) => Ok(false),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" | "y" | "t" => Ok(true),
            "false" | "no" | "off" | "0" | "n" | "f" => Ok(false),
            _ => Err(bad(format!("{path}.{key}"), "expected true or false")),
        },
        Some(_) => Err(bad(format!("{path}.{key}"), "expected true or false")),
    }
}

fn map<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, ConfigError> {
    v.as_object().ok_or_else(|| bad(path, "expected a mapping"))
}

fn list<'a>(m: &'a Map<String, Value>, key: &str) -> Result<&'a [Value], ConfigError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(bad(key, "expected a list")),
    }
}

/// Parses and checks a `validation:` block (as JSON). Unknown keys are ignored, as llm-orc's
/// models ignore them.
pub fn parse(block: &Value) -> Result<ValidationConfig, ConfigError> {
    let m = block.as_object().ok_or(ConfigError::NotAMap)?;
    let mut cfg = ValidationConfig {
        strict_schema_validation: boolean(m, "strict_schema_validation", "validation")?,
        category: opt_string(m, "category", "validation")?,
        ..ValidationConfig::default()
    };
    if let Some(s) = m.get("structural").filter(|v| !v.is_null()) {
        let s = map(s, "structural")?;
        cfg.structural = Some(Structural {
            required_agents: strings(s, "required_agents", "structural")?,
            max_execution_time: number(s, "max_execution_time", "structural")?,
            min_execution_time: number(s, "min_execution_time", "structural")?,
        });
    }
    for (i, v) in list(m, "schema_validations")?.iter().enumerate() {
        let path = format!("schema_validations[{i}]");
        let s = map(v, &path)?;
        cfg.schema_validations.push(SchemaCheck {
            agent: req_string(s, "agent", &path)?,
            output_schema: req_string(s, "output_schema", &path)?,
            required_fields: strings(s, "required_fields", &path)?,
        });
    }
    for (i, v) in list(m, "behavioral")?.iter().enumerate() {
        let path = format!("behavioral[{i}]");
        let s = map(v, &path)?;
        cfg.behavioral.push(Assertion {
            name: req_string(s, "name", &path)?,
            description: req_string(s, "description", &path)?,
            assertion: req_string(s, "assertion", &path)?,
        });
    }
    for (i, v) in list(m, "quantitative")?.iter().enumerate() {
        let path = format!("quantitative[{i}]");
        let s = map(v, &path)?;
        cfg.quantitative.push(Metric {
            metric: req_string(s, "metric", &path)?,
            threshold: opt_string(s, "threshold", &path)?,
            description: req_string(s, "description", &path)?,
        });
    }
    if let Some(s) = m.get("semantic").filter(|v| !v.is_null()) {
        let s = map(s, "semantic")?;
        cfg.semantic = Some(Semantic {
            enabled: boolean(s, "enabled", "semantic")?,
            validator_model: opt_string(s, "validator_model", "semantic")?,
            criteria: strings(s, "criteria", "semantic")?,
        });
    }
    Ok(cfg)
}
