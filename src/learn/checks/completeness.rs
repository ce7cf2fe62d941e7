//! Completeness (not empty, not cut off at `max_tokens`, no placeholders the task did not
//! have) and length (a summary shorter than what it summarises).

use super::Answer;
use super::signal::Signal;

// ------------------------------------------------------------------ completeness

pub(super) const PLACEHOLDERS: &[&str] = &[
    "lorem ipsum",
    "[insert",
    "<insert",
    "[your ",
    "<your ",
    "[placeholder",
    "<placeholder",
    "{placeholder",
    "todo:",
    "fixme",
    "tbd",
    "rest of the code",
    "remaining code",
    "implementation goes here",
    "your code here",
    "code goes here",
    "// ...",
    "# ...",
    "[...]",
];

pub(super) fn completeness(a: &Answer) -> Signal {
    let out = a.output.trim();
    if out.is_empty() {
        return Signal::fail("completeness", "incomplete", "the answer is empty");
    }
    if a.truncated {
        return Signal::fail(
            "completeness",
            "incomplete",
            "the answer was cut off at the model's token limit (done_reason: length)",
        );
    }
    let lower = out.to_lowercase();
    let given = format!("{}\n{}", a.instruction, a.input).to_lowercase();
    let found: Vec<&str> = PLACEHOLDERS
        .iter()
        .copied()
        .filter(|p| {
            let hit = if p.chars().all(|c| c.is_ascii_alphabetic()) {
                has_word(&lower, p)
            } else {
                lower.contains(p)
            };
            hit && !given.contains(p)
        })
        .collect();
    if !found.is_empty() {
        return Signal::fail(
            "completeness",
            "incomplete",
            format!(
                "the answer has placeholders the task did not have: {}",
                found.join(", ")
            ),
        );
    }
    Signal::pass("completeness", "not empty, not cut off, no placeholders")
}

pub(super) fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

pub(super) fn mentions_word(text: &str, word: &str) -> bool {
    has_word(&text.to_lowercase(), word)
}

// ------------------------------------------------------------------ length

pub(super) fn summary_length(input: &str, output: &str) -> Option<Signal> {
    let (i, o) = (
        input.split_whitespace().count(),
        output.split_whitespace().count(),
    );
    // A short input has nothing to say about a summary's length.
    if i < 150 {
        return None;
    }
    Some(if o < i {
        Signal::pass("length", format!("{o} words for {i} in the input"))
    } else {
        Signal::doubt(
            "length",
            format!("the summary ({o} words) is not shorter than the input ({i} words)"),
        )
    })
}
