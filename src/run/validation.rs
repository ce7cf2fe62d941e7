//! Validation ensembles: the checks of an ensemble's `validation:` block, evaluated after a run
//! into llm-orc's `validation_result` (layers structural, schema, behavioral, quantitative,
//! semantic; each `{layer, passed, errors, details}` or null when not configured).
//!
//! Where llm-orc raises (a malformed threshold, an assertion that fails to evaluate), orc records
//! the problem as that check's error so one bad check does not hide the others. Behavioral
//! assertions are Python expressions in llm-orc (`eval` with a few builtins); orc evaluates a
//! safe subset natively (see [`expr`]) and never executes code from a file.

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use crate::compile::expr;
pub use crate::compile::validation::{
    Assertion, ConfigError, Metric, SchemaCheck, Semantic, Structural, ValidationConfig, parse,
};
use crate::pyfmt;

/// The run as the checks see it.
pub struct RunView<'a> {
    pub ensemble: &'a str,
    /// Declared agents that appear in the results, in declaration order.
    pub execution_order: &'a [String],
    /// The run's `results` map, as in execution.json.
    pub results: &'a Map<String, Value>,
    /// Seconds from the run's start to its completion.
    pub execution_time: f64,
}

/// Asks a model for the semantic layer: (model, prompt) -> the reply, or why there is none.
pub type Judge<'a> =
    &'a (dyn Fn(&str, &str) -> BoxFuture<'static, Result<String, String>> + Send + Sync);

fn layer(name: &str, errors: Vec<String>, details: Map<String, Value>) -> Value {
    json!({"layer": name, "passed": errors.is_empty(), "errors": errors, "details": details})
}

/// A float as Python's `f"{x:.2f}"`.
fn f2(x: f64) -> String {
    format!("{x:.2}")
}

/// A number as Python prints it (`3`, `0.5`, `3.0`).
fn py_num(v: &Value) -> String {
    pyfmt::json_dumps(v)
}

/// Each agent's output as the checks see it: a string response parsed as JSON, else
/// `{"output": text}`; other responses as they are.
pub fn agent_outputs(results: &Map<String, Value>) -> Map<String, Value> {
    results
        .iter()
        .map(|(name, entry)| {
            let out = match &entry["response"] {
                Value::String(s) => {
                    serde_json::from_str(s).unwrap_or_else(|_| json!({ "output": s }))
                }
                other => other.clone(),
            };
            (name.clone(), out)
        })
        .collect()
}

fn structural(s: &Structural, run: &RunView<'_>) -> Value {
    let mut errors = Vec::new();
    let mut d = Map::new();
    if !s.required_agents.is_empty() {
        let mut missing: Vec<&String> = s
            .required_agents
            .iter()
            .filter(|a| !run.execution_order.contains(a))
            .collect();
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            errors.push(format!("Missing required agents: {}", names.join(", ")));
        }
        d.insert("required_agents".into(), json!(s.required_agents));
        d.insert("executed_agents".into(), json!(run.execution_order));
    }
    let t = run.execution_time;
    if let Some(max) = s.max_execution_time {
        if t > max {
            errors.push(format!(
                "Execution time {}s exceeds max {}s",
                f2(t),
                f2(max)
            ));
        }
        d.insert("max_execution_time".into(), json!(max));
    }
    if let Some(min) = s.min_execution_time {
        d.insert("min_execution_time".into(), json!(min));
    }
    d.insert("actual_execution_time".into(), json!(t));
    // A floor on the run's time is met when the run is faster: it was written for a slower
    // engine (llm-orc's primitives take ~10 ms; orc's take well under one) and says nothing
    // about what the ensemble does. It is reported apart, never a failure.
    if let Some(min) = s.min_execution_time
        && t < min
    {
        d.insert("timing_floor".into(), timing_floor(t, min));
    }
    layer("structural", errors, d)
}

/// `details.timing_floor` of the structural layer when the run was faster than
/// `min_execution_time`: the floor, the time, and that it was treated as met.
fn timing_floor(t: f64, min: f64) -> Value {
    json!({
        "min_execution_time": min,
        "actual_execution_time": t,
        "treated_as_met": true,
        "note": format!(
            "the run took {t:.4}s, under min_execution_time {}s: treated as met (a timing floor is not a behaviour check)",
            py_num(&json!(min))
        ),
    })
}

/// What a validation result says apart from its checks: each layer's timing floor that was
/// treated as met, as `layer: note`.
pub fn notes(result: &Value) -> Vec<String> {
    let Some(layers) = result["results"].as_object() else {
        return Vec::new();
    };
    layers
        .iter()
        .filter_map(|(name, l)| {
            let note = l["details"]["timing_floor"]["note"].as_str()?;
            Some(format!("{name}: {note}"))
        })
        .collect()
}

/// Python's `field in output`: keys of a map, items of a list, substrings of a string.
fn has_field(output: &Value, field: &str) -> bool {
    match output {
        Value::Object(m) => m.contains_key(field),
        Value::Array(items) => items.iter().any(|v| v.as_str() == Some(field)),
        Value::String(s) => s.contains(field),
        _ => false,
    }
}

fn schema(checks: &[SchemaCheck], outputs: &Map<String, Value>) -> Value {
    let mut errors = Vec::new();
    let mut d = Map::new();
    for c in checks {
        let Some(out) = outputs.get(&c.agent) else {
            errors.push(format!("Agent {} not found in execution results", c.agent));
            continue;
        };
        let missing: Vec<&str> = c
            .required_fields
            .iter()
            .filter(|f| !has_field(out, f))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            errors.push(format!(
                "Agent {} missing required fields: {}",
                c.agent,
                missing.join(", ")
            ));
        }
        let present: Vec<&String> = out
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        d.insert(
            c.agent.clone(),
            json!({"output_schema": c.output_schema, "required_fields": c.required_fields, "present_fields": present}),
        );
    }
    layer("schema", errors, d)
}

fn behavioral(assertions: &[Assertion], run: &RunView<'_>, outputs: &Map<String, Value>) -> Value {
    let mut errors = Vec::new();
    let mut d = Map::new();
    let vars: Vec<(&str, Value)> = vec![
        ("execution_order", json!(run.execution_order)),
        ("agent_outputs", Value::Object(outputs.clone())),
        ("results", Value::Object(outputs.clone())),
        ("execution_time", json!(run.execution_time)),
        ("ensemble_name", json!(run.ensemble)),
    ];
    for a in assertions {
        match expr::evaluate(&a.assertion, &vars) {
            Ok(passed) => {
                if !passed {
                    errors.push(format!("Assertion '{}' failed: {}", a.name, a.description));
                }
                d.insert(
                    a.name.clone(),
                    json!({"description": a.description, "passed": passed, "assertion": a.assertion}),
                );
            }
            Err(why) => {
                let msg = format!("Assertion evaluation failed: {}", a.assertion);
                errors.push(format!("Assertion '{}' raised exception: {msg}", a.name));
                d.insert(
                    a.name.clone(),
                    json!({"description": a.description, "error": msg, "assertion": a.assertion, "cause": why}),
                );
            }
        }
    }
    layer("behavioral", errors, d)
}

/// `value OP number` for `>=`, `<=`, `>`, `<`, `==` (checked in that order).
fn threshold(value: f64, t: &str) -> Result<bool, String> {
    let t = t.trim();
    for op in [">=", "<=", ">", "<", "=="] {
        if let Some(rest) = t.strip_prefix(op) {
            let n: f64 = rest
                .trim()
                .parse()
                .map_err(|_| format!("Invalid threshold value: {t}"))?;
            return Ok(match op {
                ">=" => value >= n,
                "<=" => value <= n,
                ">" => value > n,
                "<" => value < n,
                _ => value == n,
            });
        }
    }
    Err(format!("Invalid threshold format: {t}"))
}

fn quantitative(metrics: &[Metric], run: &RunView<'_>) -> Value {
    let mut errors = Vec::new();
    let mut d = Map::new();
    for m in metrics {
        let value = match m.metric.as_str() {
            "execution_time" => json!(run.execution_time),
            "agent_count" => json!(run.execution_order.len()),
            _ => {
                errors.push(format!("Metric '{}' not found in results", m.metric));
                continue;
            }
        };
        let mut entry =
            json!({"value": value, "threshold": m.threshold, "description": m.description});
        if let Some(t) = m.threshold.as_deref().filter(|t| !t.is_empty()) {
            match threshold(value.as_f64().unwrap_or(0.0), t) {
                Ok(passed) => {
                    entry["passed"] = json!(passed);
                    if !passed {
                        errors.push(format!(
                            "Metric '{}' failed threshold: {} not {t}",
                            m.metric,
                            py_num(&value)
                        ));
                    }
                }
                Err(why) => {
                    entry["passed"] = json!(false);
                    errors.push(format!("Metric '{}': {why}", m.metric));
                }
            }
        }
        d.insert(m.metric.clone(), entry);
    }
    layer("quantitative", errors, d)
}

async fn semantic(s: &Semantic, outputs: &Map<String, Value>, judge: Option<Judge<'_>>) -> Value {
    let mut errors = Vec::new();
    let mut d = Map::new();
    let Some(model) = &s.validator_model else {
        errors.push("Semantic validation enabled but no validator model specified".to_string());
        return layer("semantic", errors, d);
    };
    let summary: Vec<String> = outputs
        .iter()
        .map(|(a, o)| format!("{a}: {}", pyfmt::str_of(o)))
        .collect();
    for c in &s.criteria {
        let prompt = format!(
            "Evaluate if the following agent outputs meet this criterion: {c}\n\nOutputs:\n{}\n\nRespond with 'PASS' or 'FAIL' followed by justification.",
            summary.join("\n")
        );
        let reply = match judge {
            Some(j) => j(model, &prompt).await,
            None => Err("no model can be asked".to_string()),
        };
        match reply {
            Ok(text) => {
                let passed = text.trim().to_uppercase().starts_with("PASS");
                if !passed {
                    errors.push(format!("Semantic criterion failed: {c}"));
                }
                d.insert(c.clone(), json!({"passed": passed, "justification": text}));
            }
            Err(e) => {
                errors.push(format!(
                    "LLM validation failed for criterion '{c}': Model '{model}' unavailable"
                ));
                d.insert(
                    c.clone(),
                    json!({"passed": false, "error": format!("LLM unavailable: {e}")}),
                );
            }
        }
    }
    layer("semantic", errors, d)
}

/// Evaluates every configured layer into llm-orc's ValidationResult shape.
pub async fn evaluate(
    cfg: &ValidationConfig,
    run: &RunView<'_>,
    judge: Option<Judge<'_>>,
) -> Value {
    let outputs = agent_outputs(run.results);
    let structural = cfg
        .structural
        .as_ref()
        .map_or(Value::Null, |s| structural(s, run));
    let schema = if cfg.schema_validations.is_empty() {
        Value::Null
    } else {
        schema(&cfg.schema_validations, &outputs)
    };
    let behavioral = if cfg.behavioral.is_empty() {
        Value::Null
    } else {
        behavioral(&cfg.behavioral, run, &outputs)
    };
    let quantitative = if cfg.quantitative.is_empty() {
        Value::Null
    } else {
        quantitative(&cfg.quantitative, run)
    };
    let semantic = match &cfg.semantic {
        Some(s) if s.enabled => semantic(s, &outputs, judge).await,
        _ => Value::Null,
    };
    let layers = [&structural, &schema, &behavioral, &quantitative, &semantic];
    let passed = layers.iter().all(|l| l.is_null() || l["passed"] == true);
    json!({
        "ensemble_name": run.ensemble,
        "passed": passed,
        "results": {
            "structural": structural,
            "schema": schema,
            "behavioral": behavioral,
            "quantitative": quantitative,
            "semantic": semantic,
        },
        "timestamp": chrono::Local::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
    })
}

/// Which checks failed and why, one line each: `structural: Missing required agents: a`.
pub fn failures(result: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(e) = result["error"].as_str() {
        out.push(e.to_string());
    }
    if let Some(layers) = result["results"].as_object() {
        for (name, l) in layers {
            for e in l["errors"].as_array().into_iter().flatten() {
                out.push(format!("{name}: {}", e.as_str().unwrap_or_default()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_of<'a>(order: &'a [String], results: &'a Map<String, Value>, t: f64) -> RunView<'a> {
        RunView {
            ensemble: "e",
            execution_order: order,
            results,
            execution_time: t,
        }
    }

    fn results() -> Map<String, Value> {
        json!({
            "extract": {"response": "{\"success\": true, \"extracted\": {\"a\": 1}, \"missing_fields\": []}", "status": "success"},
            "summarise": {"response": "plain words", "status": "success"},
            "list": {"response": ["x"], "status": "success"},
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    fn eval(block: Value, t: f64) -> Value {
        let order = vec!["extract".to_string(), "summarise".to_string()];
        let r = results();
        let cfg = parse(&block).unwrap();
        futures::executor::block_on(evaluate(&cfg, &run_of(&order, &r, t), None))
    }

    #[test]
    fn outputs_are_parsed_or_wrapped() {
        let o = agent_outputs(&results());
        assert_eq!(o["summarise"], json!({"output": "plain words"}));
        assert_eq!(o["list"], json!(["x"]));
        assert_eq!(o["extract"]["success"], true);
    }

    #[test]
    fn structural_and_quantitative() {
        let v = eval(
            json!({"structural": {"required_agents": ["publish", "extract", "audit"], "max_execution_time": 2, "min_execution_time": "1"},
                   "quantitative": [{"metric": "agent_count", "threshold": "> 3", "description": "d"},
                                    {"metric": "execution_time", "threshold": "<= 5", "description": "d"},
                                    {"metric": "nope", "description": "d"},
                                    {"metric": "agent_count", "threshold": "~ 3", "description": "d"}]}),
            3.214,
        );
        assert_eq!(v["passed"], false);
        let s = &v["results"]["structural"];
        assert_eq!(
            s["errors"],
            json!([
                "Missing required agents: audit, publish",
                "Execution time 3.21s exceeds max 2.00s"
            ])
        );
        let keys: Vec<&String> = s["details"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "required_agents",
                "executed_agents",
                "max_execution_time",
                "min_execution_time",
                "actual_execution_time"
            ]
        );
        assert!(s["details"].get("timing_floor").is_none());
        let q = &v["results"]["quantitative"];
        assert_eq!(
            q["errors"],
            json!([
                "Metric 'agent_count' failed threshold: 2 not > 3",
                "Metric 'nope' not found in results",
                "Metric 'agent_count': Invalid threshold format: ~ 3"
            ])
        );
        assert_eq!(q["details"]["execution_time"]["passed"], true);
        assert!(v["results"]["schema"].is_null());
        let top: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(top, ["ensemble_name", "passed", "results", "timestamp"]);
        assert_eq!(
            failures(&v)[0],
            "structural: Missing required agents: audit, publish"
        );
    }

    /// A run faster than `min_execution_time` passes the structural layer; the floor is
    /// reported apart (details.timing_floor, and `notes`).
    #[test]
    fn a_timing_floor_under_the_run_is_met_and_said() {
        let v = eval(
            json!({"structural": {"required_agents": ["extract"], "max_execution_time": 15, "min_execution_time": 0.01}}),
            0.0004,
        );
        let s = &v["results"]["structural"];
        assert_eq!(s["passed"], true, "{s}");
        assert_eq!(s["errors"], json!([]));
        assert_eq!(s["details"]["timing_floor"]["treated_as_met"], true);
        assert_eq!(
            notes(&v),
            [
                "structural: the run took 0.0004s, under min_execution_time 0.01s: treated as met (a timing floor is not a behaviour check)"
            ]
        );
        let slow = eval(json!({"structural": {"min_execution_time": 0.01}}), 0.5);
        assert!(notes(&slow).is_empty());
        assert_eq!(slow["results"]["structural"]["passed"], true);
    }

    #[test]
    fn schema_and_behavioral() {
        let v = eval(
            json!({"schema_validations": [
                        {"agent": "extract", "output_schema": "X", "required_fields": ["success", "owner"]},
                        {"agent": "summarise", "output_schema": "Y", "required_fields": ["output"]},
                        {"agent": "ghost", "output_schema": "Z"}],
                   "behavioral": [
                        {"name": "order", "description": "extract first", "assertion": "execution_order.index('extract') < execution_order.index('summarise')"},
                        {"name": "all", "description": "both ran", "assertion": "all(a in execution_order for a in ['extract', 'summarise'])"},
                        {"name": "false", "description": "too many", "assertion": "len(agent_outputs) > 5"},
                        {"name": "boom", "description": "d", "assertion": "agent_outputs['ghost']['x']"}]}),
            1.0,
        );
        let s = &v["results"]["schema"];
        assert_eq!(
            s["errors"],
            json!([
                "Agent extract missing required fields: owner",
                "Agent ghost not found in execution results"
            ])
        );
        assert_eq!(
            s["details"]["extract"]["present_fields"],
            json!(["success", "extracted", "missing_fields"])
        );
        let b = &v["results"]["behavioral"];
        assert_eq!(
            b["errors"],
            json!([
                "Assertion 'false' failed: too many",
                "Assertion 'boom' raised exception: Assertion evaluation failed: agent_outputs['ghost']['x']"
            ])
        );
        assert_eq!(b["details"]["order"]["passed"], true);
        assert_eq!(b["details"]["all"]["passed"], true);
    }

    #[test]
    fn semantic_asks_the_judge() {
        let order = vec!["extract".to_string()];
        let r = results();
        let cfg = parse(&json!({"semantic": {"enabled": true, "validator_model": "m", "criteria": ["good", "bad", "down"]}})).unwrap();
        let judge = |_: &str, prompt: &str| {
            let reply = if prompt.contains("criterion: good") {
                Ok("PASS fine".to_string())
            } else if prompt.contains("criterion: bad") {
                Ok("FAIL no".to_string())
            } else {
                Err("refused".to_string())
            };
            Box::pin(async move { reply }) as BoxFuture<'static, Result<String, String>>
        };
        let v = futures::executor::block_on(evaluate(&cfg, &run_of(&order, &r, 0.1), Some(&judge)));
        let s = &v["results"]["semantic"];
        assert_eq!(
            s["errors"],
            json!([
                "Semantic criterion failed: bad",
                "LLM validation failed for criterion 'down': Model 'm' unavailable"
            ])
        );
        assert_eq!(s["details"]["good"]["passed"], true);
        let none = parse(&json!({"semantic": {"enabled": true}})).unwrap();
        let v = futures::executor::block_on(evaluate(&none, &run_of(&order, &r, 0.1), None));
        assert_eq!(
            v["results"]["semantic"]["errors"],
            json!(["Semantic validation enabled but no validator model specified"])
        );
    }

    #[test]
    fn bad_blocks_name_the_key() {
        assert!(parse(&json!([1])).is_err());
        let e = parse(&json!({"schema_validations": [{"output_schema": "x"}]})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`validation.schema_validations[0].agent`: is required"
        );
        let e = parse(&json!({"structural": {"max_execution_time": "soon"}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`validation.structural.max_execution_time`: expected a number"
        );
        assert!(parse(&json!({"unknown": 1, "category": "primitive"})).is_ok());
    }
}
