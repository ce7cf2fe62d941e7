//! What the same task would have cost on Claude: an estimate, and labelled one everywhere.
//!
//! The seed's rule: the task's input plus an answer as long as the local deliverable. No public
//! tokenizer matches Claude 3 and later, so both are counted with OpenAI's `o200k_base`
//! (tiktoken-rs, offline) and multiplied by `learning.claude_token_factor` (default 1.2:
//! published comparisons report Claude counting roughly 15-30% more tokens than `o200k_base`,
//! more for code than for English prose; 1.2 sits in that range for mixed text).

use super::records::Estimate;

pub const ENCODING: &str = "o200k_base";

/// Builds the tokenizer on a background thread (it takes a moment), so a run's routing record
/// does not wait for it after the run.
pub fn warm_up() {
    std::thread::spawn(|| {
        let _ = tiktoken_rs::o200k_base_singleton();
    });
}

/// `o200k_base` tokens in `text` (special-token text counted as ordinary text).
pub fn o200k_tokens(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    tiktoken_rs::o200k_base_singleton()
        .encode_ordinary(text)
        .len() as u64
}

/// Claude-equivalent tokens for `input` + an answer like `output`.
pub fn claude_equivalent(input: &str, output: &str, factor: f64) -> Estimate {
    let scale = |n: u64| (n as f64 * factor).round() as u64;
    Estimate {
        method: format!("estimate: input + deliverable, {ENCODING} x {factor}"),
        encoding: ENCODING.into(),
        factor,
        input_tokens: scale(o200k_tokens(input)),
        output_tokens: scale(o200k_tokens(output)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_with_o200k_and_scales_by_the_factor() {
        // "hello world" is two o200k_base tokens.
        assert_eq!(o200k_tokens("hello world"), 2);
        assert_eq!(o200k_tokens(""), 0);
        let e = claude_equivalent("hello world", "hello world hello world", 1.5);
        assert_eq!(e.input_tokens, 3);
        assert_eq!(e.output_tokens, 6);
        assert!(e.method.starts_with("estimate"));
        assert_eq!(e.encoding, "o200k_base");
    }
}
