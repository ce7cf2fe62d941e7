//! Grounding: each answer of an extraction is found in the input (numbers compared by digits).

use super::json::json_of;
use super::labels::norm;
use super::signal::Signal;
use serde_json::Value;

// ------------------------------------------------------------------ grounding

pub(super) const EMPTY_ANSWERS: &[&str] =
    &["none", "n/a", "na", "null", "unknown", "not found", "-"];

/// The answers of an extraction: JSON leaves (strings and numbers), else lines (a `Key: value`
/// line gives its value), split at commas.
pub fn extracted_items(output: &str) -> Vec<String> {
    let mut items = Vec::new();
    if let Ok(v) = json_of(output) {
        json_leaves(&v, &mut items);
    } else {
        for line in output.lines() {
            let l = line.trim().trim_start_matches(['-', '*', '•', ' ']);
            let l = l
                .split_once(". ")
                .filter(|(n, _)| n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty())
                .map_or(l, |(_, r)| r);
            let value = match l.split_once(": ") {
                Some((k, v)) if k.split_whitespace().count() <= 4 => v,
                _ => l,
            };
            for part in value.split([',', ';']) {
                items.push(part.to_string());
            }
        }
    }
    items
        .into_iter()
        .map(|s| norm(&s))
        .filter(|s| s.chars().count() >= 2 && !EMPTY_ANSWERS.contains(&s.as_str()))
        .take(500)
        .collect()
}

pub(super) fn json_leaves(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(a) => a.iter().for_each(|x| json_leaves(x, out)),
        Value::Object(m) => m.values().for_each(|x| json_leaves(x, out)),
        _ => {}
    }
}

pub(super) fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

pub(super) fn found_in(item: &str, input: &str, input_digits: &str) -> bool {
    if input.contains(item) {
        return true;
    }
    // A number written another way (1,200.00 / 1200): compare digits.
    let d = digits(item);
    let numeric = item
        .chars()
        .all(|c| c.is_ascii_digit() || " .,$€£%-+:/".contains(c));
    if numeric && d.len() >= 2 {
        let d = d.trim_end_matches('0');
        return !d.is_empty() && input_digits.contains(d);
    }
    // Every word of three letters or more is in the input (a reordered or reformatted value).
    let words: Vec<&str> = item
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .collect();
    !words.is_empty() && words.iter().all(|w| input.contains(w))
}

pub(super) fn grounding(input: &str, output: &str) -> Option<Signal> {
    let items = extracted_items(output);
    if items.is_empty() || input.trim().is_empty() {
        return None;
    }
    let input_n = input
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let input_digits = digits(&input_n);
    let missing: Vec<&String> = items
        .iter()
        .filter(|i| !found_in(i, &input_n, &input_digits))
        .collect();
    let n = items.len();
    let found = n - missing.len();
    let shown = || {
        missing
            .iter()
            .take(5)
            .map(|m| format!("`{}`", m.chars().take(60).collect::<String>()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(if missing.is_empty() {
        Signal::pass("grounding", format!("all {n} answer(s) are in the input"))
    } else if found * 2 >= n {
        Signal::doubt(
            "grounding",
            format!(
                "{found} of {n} answer(s) are in the input; not found: {}",
                shown()
            ),
        )
    } else {
        Signal::fail(
            "grounding",
            "hallucination",
            format!(
                "only {found} of {n} answer(s) are in the input; not found: {}",
                shown()
            ),
        )
    })
}
