//! llm-orc's control-flow grammar: `${agent.path}` references into upstream JSON, and the
//! predicate of `when:` guards and loop `until:` (`<ref>` truthiness, or `<ref> == <literal>`).
//!
//! Values are JSON values with Python's meaning: `Null` is `None`, equality is Python's
//! (`1 == 1.0 == true`), truthiness is Python's (empty strings, lists, maps, `0` are false).
//! A token that is not a reference resolves to itself, a string: so `${a.b} != x` (there is no
//! `!=`) is a non-empty string, which is true. `orc validate` warns about such expressions.

use serde_json::Value;

/// `${dep.path}` as the whole token: the agent name (no `.` or `}`) and the dotted path.
pub fn agent_ref(token: &str) -> Option<(&str, &str)> {
    let inner = token.strip_prefix("${")?.strip_suffix('}')?;
    if inner.contains('}') {
        return None;
    }
    let (dep, path) = inner.split_once('.')?;
    (!dep.is_empty() && !path.is_empty()).then_some((dep, path))
}

/// `${path}` as the whole token (loop `until:` and `carry:` over the body's output).
pub fn output_ref(token: &str) -> Option<&str> {
    let inner = token.strip_prefix("${")?.strip_suffix('}')?;
    (!inner.is_empty() && !inner.contains('}')).then_some(inner)
}

/// Walks a dotted path through objects only (no list indexing); anything missing is `Null`.
pub fn walk(value: &Value, path: &str) -> Value {
    let mut v = value;
    for part in path.split('.') {
        match v {
            Value::Object(m) => match m.get(part) {
                Some(next) => v = next,
                None => return Value::Null,
            },
            _ => return Value::Null,
        }
    }
    v.clone()
}

/// Resolves a token against upstream responses: `${dep.path}` parses `dep`'s response as JSON
/// and walks the path; a response that is not a JSON string (prose, a list, a failed or skipped
/// agent's null) resolves to `Null`. Any other token is returned as a string.
pub fn resolve_agent_ref<'a>(
    token: &str,
    response_of: impl Fn(&str) -> Option<&'a Value>,
) -> Value {
    let Some((dep, path)) = agent_ref(token) else {
        return Value::String(token.to_string());
    };
    let parsed = match response_of(dep) {
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v) => v,
            Err(_) => return Value::Null,
        },
        _ => return Value::Null,
    };
    walk(&parsed, path)
}

/// Resolves a token against a loop body's output object: `${path}` walks it; any other token is
/// returned as a string.
pub fn resolve_output_ref(token: &str, output: &Value) -> Value {
    match output_ref(token) {
        Some(path) => walk(output, path),
        None => Value::String(token.to_string()),
    }
}

/// A literal on the right of `==`: `true`/`false`, a quoted string, an int, a float, else the
/// raw token.
pub fn literal(token: &str) -> Value {
    match token {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    let b = token.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        return Value::String(token[1..token.len() - 1].to_string());
    }
    if let Some(i) = py_int(token) {
        return Value::from(i);
    }
    if let Some(f) = py_float(token)
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(token.to_string())
}

/// Python's `int(s)` for the forms that matter: sign, digits, single underscores between digits.
fn py_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    s.replace('_', "").parse().ok()
}

/// Python's `float(s)`: decimal and exponent forms, `inf`, `nan` (underscores between digits).
fn py_float(s: &str) -> Option<f64> {
    if s.contains("__") || s.starts_with('_') || s.ends_with('_') {
        return None;
    }
    let cleaned = s.replace('_', "");
    let lower = cleaned.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    let ok = matches!(body, "inf" | "infinity" | "nan")
        || body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-'))
            && body.chars().any(|c| c.is_ascii_digit());
    if !ok {
        return None;
    }
    cleaned.parse().ok()
}

/// Python truthiness of a JSON value.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// A number as Python sees it (bools are 0 and 1).
fn numeric(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// Python `==` between JSON values.
pub fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_i64() && y.is_i64() => x == y,
        (Value::Number(_) | Value::Bool(_), Value::Number(_) | Value::Bool(_)) => {
            numeric(a) == numeric(b)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Evaluates a predicate: if it contains `==`, `resolve(left) == literal(right)` (split at the
/// first `==`, both sides trimmed); otherwise the truthiness of `resolve(expr)`.
pub fn evaluate(expr: &str, resolve: impl Fn(&str) -> Value) -> bool {
    let expr = expr.trim();
    match expr.split_once("==") {
        Some((left, right)) => py_eq(&resolve(left.trim()), &literal(right.trim())),
        None => truthy(&resolve(expr)),
    }
}

/// The token of a predicate that is resolved (the left side of `==`, or the whole expression).
pub fn resolved_token(expr: &str) -> &str {
    let expr = expr.trim();
    match expr.split_once("==") {
        Some((left, _)) => left.trim(),
        None => expr,
    }
}

/// What `orc validate` has to say about a predicate whose resolved token is not a reference:
/// it is a literal string, so the predicate does not depend on any result.
pub fn literal_warning(expr: &str, is_ref: impl Fn(&str) -> bool) -> Option<String> {
    let token = resolved_token(expr);
    if is_ref(token) {
        return None;
    }
    let always = if expr.contains("==") {
        "compares fixed text, so it has the same value on every run"
    } else if token.is_empty() {
        "is empty, so it is always false"
    } else {
        "is a non-empty literal, so it is always true"
    };
    let why = if expr.contains("!=") || expr.contains(" and ") || expr.contains(" or ") {
        " (llm-orc's grammar has no `!=`, `and` or `or`: only `${ref}` or `${ref} == literal`)"
    } else if token.contains("${") {
        " (a reference must be the whole left-hand side)"
    } else {
        ""
    };
    Some(format!("`{expr}` {always}{why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with<'a>(results: &'a [(&'a str, Value)]) -> impl Fn(&str) -> Value + 'a {
        move |t| resolve_agent_ref(t, |d| results.iter().find(|(n, _)| *n == d).map(|(_, v)| v))
    }

    #[test]
    fn references_walk_json_objects_only() {
        let r = [
            (
                "c",
                json!("{\"route\": \"code\", \"n\": 2, \"deep\": {\"ok\": true}, \"l\": [1]}"),
            ),
            ("prose", json!("Route: code")),
            ("failed", Value::Null),
            ("list", json!(["a"])),
        ];
        let f = with(&r);
        assert_eq!(f("${c.route}"), json!("code"));
        assert_eq!(f("${c.deep.ok}"), json!(true));
        assert_eq!(f("${c.l.0}"), Value::Null);
        assert_eq!(f("${c.missing}"), Value::Null);
        assert_eq!(f("${prose.route}"), Value::Null);
        assert_eq!(f("${failed.x}"), Value::Null);
        assert_eq!(f("${list.x}"), Value::Null);
        assert_eq!(f("${nobody.x}"), Value::Null);
        // Not references: returned as text.
        assert_eq!(f("${c}"), json!("${c}"));
        assert_eq!(f("${c.route} != x"), json!("${c.route} != x"));
    }

    #[test]
    fn predicates_follow_python() {
        let r = [(
            "c",
            json!("{\"route\": \"code\", \"n\": 1, \"f\": 1.0, \"b\": true, \"e\": \"\"}"),
        )];
        let f = with(&r);
        assert!(evaluate("${c.route} == code", &f));
        assert!(evaluate(" ${c.route}=='code' ", &f));
        assert!(!evaluate("${c.route} == docs", &f));
        assert!(evaluate("${c.n} == true", &f));
        assert!(evaluate("${c.n} == 1.0", &f));
        assert!(evaluate("${c.f} == 1", &f));
        assert!(evaluate("${c.b} == 1", &f));
        assert!(!evaluate("${c.n} == '1'", &f));
        assert!(evaluate("${c.route}", &f));
        assert!(!evaluate("${c.e}", &f));
        assert!(!evaluate("${c.missing}", &f));
        // No `!=`: a non-reference token is a non-empty string, always true.
        assert!(evaluate("${c.route} != code", &f));
        assert_eq!(literal("1_000"), json!(1000));
        assert_eq!(literal("-2.5e1"), json!(-25.0));
        assert_eq!(literal("True"), json!("True"));
        assert_eq!(literal("'x"), json!("'x"));
    }

    #[test]
    fn output_refs_and_warnings() {
        let out = json!({"done": true, "state": {"n": 3}});
        assert_eq!(resolve_output_ref("${done}", &out), json!(true));
        assert_eq!(resolve_output_ref("${state.n}", &out), json!(3));
        assert_eq!(resolve_output_ref("${state.n.x}", &out), Value::Null);
        assert_eq!(resolve_output_ref("done", &out), json!("done"));
        let is_ref = |t: &str| agent_ref(t).is_some();
        assert!(literal_warning("${a.b} == x", is_ref).is_none());
        assert!(literal_warning("${a.b} != x", is_ref).is_some_and(|w| w.contains("no `!=`")));
        assert!(literal_warning("${a}", is_ref).is_some_and(|w| w.contains("always true")));
    }
}
