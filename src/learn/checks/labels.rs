//! Labels: a classification answer is one of the labels given, or of a list the instruction
//! names ("one of: bug, feature, question").

use super::completeness::has_word;
use super::json::json_of;
use super::signal::Signal;
use serde_json::Value;
use std::collections::BTreeSet;

// ------------------------------------------------------------------ labels

/// Lower case, outer quotes and punctuation trimmed, spaces collapsed.
pub(super) fn norm(s: &str) -> String {
    s.trim()
        .trim_matches(|c: char| {
            c.is_whitespace()
                || matches!(
                    c,
                    '"' | '\'' | '`' | '*' | '.' | ',' | ';' | ':' | '!' | '(' | ')' | '[' | ']'
                )
        })
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The labels an instruction lists: after `one of`, `labels:`, `categories:`, `classes:`,
/// `options:` or `choose from`, up to the end of the sentence; at least two.
pub fn labels_in(instruction: &str) -> Vec<String> {
    let lower = instruction.to_lowercase();
    for marker in [
        "one of",
        "labels:",
        "label:",
        "categories:",
        "category:",
        "classes:",
        "options:",
        "choose from",
    ] {
        let Some(i) = lower.find(marker) else {
            continue;
        };
        let mut rest = lower[i + marker.len()..].trim_start_matches([':', ' ', '\t']);
        // "one of the following: a, b" - the list starts after the colon.
        if let Some(c) = rest
            .char_indices()
            .take(40)
            .find(|&(_, ch)| ch == ':')
            .map(|(j, _)| j)
        {
            rest = rest[c + 1..].trim_start();
        }
        let end = rest
            .char_indices()
            .find(|&(j, c)| {
                matches!(c, '\n' | ';' | '?' | '!')
                    || (c == '.' && !rest[j + 1..].starts_with(|d: char| d.is_alphanumeric()))
            })
            .map_or(rest.len(), |(j, _)| j);
        let list = &rest[..end];
        let labels: Vec<String> = list
            .replace(" or ", ",")
            .replace(" and ", ",")
            .split([',', '|', '/'])
            .map(norm)
            .filter(|l| !l.is_empty() && l.len() <= 40 && l.split(' ').count() <= 4)
            .collect();
        if labels.len() >= 2 {
            return labels;
        }
    }
    Vec::new()
}

pub(super) fn labels_check(output: &str, labels: &[String]) -> Signal {
    let set: BTreeSet<&str> = labels.iter().map(String::as_str).collect();
    let shown = || labels.join(", ");
    let mut answers: Vec<String> = Vec::new();
    if let Ok(v) = json_of(output) {
        collect_label_values(&v, &mut answers);
        if answers.is_empty()
            && let Value::String(s) = v
        {
            answers.push(norm(&s));
        }
    } else {
        let whole = strip_prefix_label(&norm(output));
        if set.contains(whole.as_str()) {
            return Signal::pass("labels", format!("`{whole}` is one of the labels"));
        }
        let items: Vec<String> = output
            .split([',', '\n'])
            .map(|s| strip_prefix_label(&norm(s.trim_start_matches(['-', '*', ' ']))))
            .filter(|s| !s.is_empty())
            .collect();
        if !items.is_empty() && items.iter().all(|i| set.contains(i.as_str())) {
            return Signal::pass("labels", format!("{} is in the labels", items.join(", ")));
        }
        // A short answer that names exactly one label ("Sentiment: positive.").
        let words = whole.split(' ').count();
        let named: Vec<&&str> = set.iter().filter(|l| has_word(&whole, l)).collect();
        if words <= 8 && named.len() == 1 {
            return Signal::pass("labels", format!("`{}` is one of the labels", named[0]));
        }
        answers = vec![whole];
    }
    if !answers.is_empty() && answers.iter().all(|a| set.contains(a.as_str())) {
        return Signal::pass("labels", format!("{} is in the labels", answers.join(", ")));
    }
    let bad: Vec<String> = answers
        .into_iter()
        .filter(|a| !set.contains(a.as_str()))
        .map(|a| a.chars().take(60).collect())
        .collect();
    Signal::fail(
        "labels",
        "wrong_format",
        format!(
            "`{}` is not one of the labels ({})",
            bad.join("`, `"),
            shown()
        ),
    )
}

pub(super) fn strip_prefix_label(s: &str) -> String {
    for p in [
        "label",
        "category",
        "class",
        "answer",
        "classification",
        "sentiment",
    ] {
        if let Some(r) = s.strip_prefix(p) {
            let r = norm(r.trim_start_matches([':', '=', '-', ' ']));
            if !r.is_empty() {
                return r;
            }
        }
    }
    s.to_string()
}

pub(super) fn collect_label_values(v: &Value, out: &mut Vec<String>) {
    const KEYS: &[&str] = &[
        "label",
        "labels",
        "category",
        "categories",
        "class",
        "classification",
        "sentiment",
        "answer",
    ];
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if KEYS.contains(&k.to_lowercase().as_str()) {
                    match x {
                        Value::String(s) => out.push(norm(s)),
                        Value::Array(a) => out.extend(a.iter().filter_map(Value::as_str).map(norm)),
                        _ => {}
                    }
                } else if x.is_object() || x.is_array() {
                    collect_label_values(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_label_values(x, out)),
        _ => {}
    }
}
