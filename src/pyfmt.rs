//! The few Python behaviours llm-orc's prompts depend on, so orc composes byte-identical text:
//! `str.title()`, `repr()` of JSON-like values, and `json.dumps` with its default separators and
//! `ensure_ascii`.

use serde_json::Value;

/// Python's `str.title()`: a cased character is uppercased after an uncased one (digits,
/// punctuation, `_`, spaces), lowercased otherwise.
pub fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_cased = false;
    for c in s.chars() {
        let cased = c.is_lowercase() || c.is_uppercase();
        if cased {
            if prev_cased {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
        } else {
            out.push(c);
        }
        prev_cased = cased;
    }
    out
}

/// The role label llm-orc prints after an agent name: the profile (or agent) name with `-` as
/// spaces, title-cased.
pub fn role_label(profile_or_name: &str) -> String {
    title(&profile_or_name.replace('-', " "))
}

/// Python's `str()` of a value: strings verbatim, everything else as `repr`.
pub fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => repr(other),
    }
}

/// Python's `repr()` of a JSON-like value (`None`, `True`, single-quoted strings).
pub fn repr(v: &Value) -> String {
    let mut out = String::new();
    write_repr(v, &mut out);
    out
}

fn write_repr(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => out.push_str(&py_number(n)),
        Value::String(s) => repr_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_str(k, out);
                out.push_str(": ");
                write_repr(item, out);
            }
            out.push('}');
        }
    }
}

/// `repr(str)`: single quotes unless the text has a single quote and no double quote.
fn repr_str(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// A number as Python prints it: integers as digits, floats with a `.0` when whole.
fn py_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    py_float(f)
}

fn py_float(f: f64) -> String {
    if f.is_finite() && f == f.trunc() && f.abs() < 1e16 {
        return format!("{f:.1}");
    }
    let s = format!("{f:?}");
    // Rust prints 1e-6 as "1e-6"; Python as "1e-06".
    if let Some((mant, exp)) = s.split_once('e') {
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ("-", d),
            None => ("+", exp),
        };
        return format!("{mant}e{sign}{digits:0>2}");
    }
    s
}

/// Python's `json.dumps(v)` with defaults: `", "` and `": "` separators, non-ASCII escaped as
/// `\uXXXX` (astral characters as surrogate pairs), keys in insertion order.
pub fn json_dumps(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_f64() {
                out.push_str(&py_float(n.as_f64().unwrap_or(0.0)));
            } else {
                out.push_str(&n.to_string());
            }
        }
        Value::String(s) => json_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                json_str(k, out);
                out.push_str(": ");
                write_json(item, out);
            }
            out.push('}');
        }
    }
}

fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn titles_like_python() {
        assert_eq!(role_label("fast-llama3.2"), "Fast Llama3.2");
        assert_eq!(role_label("gpt4o-mini-prof"), "Gpt4O Mini Prof");
        assert_eq!(role_label("writer_x"), "Writer_X");
        assert_eq!(role_label("child-seq"), "Child Seq");
        assert_eq!(role_label("c1"), "C1");
        assert_eq!(title("qwen3:0.6b"), "Qwen3:0.6B");
        assert_eq!(title("TINY"), "Tiny");
    }

    #[test]
    fn repr_like_python() {
        assert_eq!(
            repr(&json!(["a", null, true, 1, 1.5, {"k": "it's"}])),
            "['a', None, True, 1, 1.5, {'k': \"it's\"}]"
        );
        assert_eq!(repr(&json!(2.0)), "2.0");
        assert_eq!(repr(&json!("a\nb")), "'a\\nb'");
    }

    #[test]
    fn dumps_like_python() {
        assert_eq!(
            json_dumps(&json!({"a": [1, "é"], "b": null})),
            "{\"a\": [1, \"\\u00e9\"], \"b\": null}"
        );
        assert_eq!(json_dumps(&json!("😀")), "\"\\ud83d\\ude00\"");
        assert_eq!(json_dumps(&json!(1e-6)), "1e-06");
        assert_eq!(json_dumps(&json!(3.0)), "3.0");
    }
}
