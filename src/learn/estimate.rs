//! What the same task would have cost on Claude: an estimate, and labelled one everywhere.
//!
//! The seed's rule: the task's input plus an answer as long as the local deliverable. No public
//! tokenizer matches Claude 3 and later, so text is counted as OpenAI's `o200k_base` would count
//! it and multiplied by `learning.claude_token_factor` (default 1.2: published comparisons
//! report Claude counting roughly 15-30% more tokens than `o200k_base`, more for code than for
//! English prose; 1.2 sits in that range for mixed text).
//!
//! Runs and MCP calls count with [`tokens`], a streaming approximation of `o200k_base` that needs
//! no tables: building tiktoken's 200k-entry tables costs ~55 MiB and 150 ms, more than a whole
//! swarm run (issue 21). It follows `o200k_base`'s pre-tokenizer (words with their leading space
//! or punctuation, digits in threes, punctuation runs, whitespace) and estimates each piece from
//! its length; a unit test keeps it within 5-8% of tiktoken on prose, code and JSON (-11% to
//! +8% on the shipped ensembles and docs). Memory is constant, whatever the input (a 100 MB line
//! without whitespace included). [`o200k_tokens`] is the exact count, for callers that can
//! afford the tables; it counts in bounded chunks.

use super::records::Estimate;

pub const ENCODING: &str = "o200k_base";

/// How runs and hand-overs are counted: the label stored with every estimate.
pub const COUNTER: &str = "o200k_base approximation (orc's table-free counter)";

/// Estimated `o200k_base` tokens in `text`: one pass, no tables, constant memory.
pub fn tokens(text: &str) -> u64 {
    let mut n = 0.0f64;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphabetic() {
            n += word(c, &mut chars);
        } else if c.is_numeric() {
            let mut digits = 1u64;
            while chars.peek().is_some_and(|d| d.is_numeric()) {
                chars.next();
                digits += 1;
            }
            n += digits.div_ceil(3) as f64;
        } else if c == '\n' || c == '\r' {
            while chars.peek().is_some_and(|d| d.is_whitespace()) {
                chars.next();
            }
            n += 1.0;
        } else if c.is_whitespace() {
            // A single space joins the word after it; longer runs are a token of their own.
            let mut run = 1u64;
            while chars
                .peek()
                .is_some_and(|d| d.is_whitespace() && *d != '\n' && *d != '\r')
            {
                chars.next();
                run += 1;
            }
            if chars.peek().is_some_and(|d| d.is_alphabetic()) {
                if let Some(first) = chars.next() {
                    n += word(first, &mut chars);
                }
                if run > 1 {
                    n += 1.0;
                }
            } else if !chars.peek().is_some_and(|d| *d == '\n' || *d == '\r') {
                n += 1.0 + (run / 16) as f64;
            }
        } else {
            // Punctuation: a leading mark joins a following word; runs merge about three to a token.
            if chars.peek().is_some_and(|d| d.is_alphabetic()) {
                if let Some(first) = chars.next() {
                    n += word(first, &mut chars);
                }
                continue;
            }
            let mut run = 1u64;
            while chars
                .peek()
                .is_some_and(|d| !d.is_alphanumeric() && !d.is_whitespace())
            {
                chars.next();
                run += 1;
            }
            n += 1.0 + ((run - 1) / 3) as f64;
        }
    }
    n.round() as u64
}

/// The tokens of one word piece that starts with `first` (a letter): ASCII letters in pieces of
/// about six, other scripts about a token per 1.3 characters (CJK has no spaces to split on).
fn word(first: char, chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> f64 {
    let (mut ascii, mut other) = (0u64, 0u64);
    let mut count = |c: char| {
        if c.is_ascii() { ascii += 1 } else { other += 1 }
    };
    count(first);
    let mut prev_lower = first.is_lowercase();
    while let Some(&c) = chars.peek() {
        if !c.is_alphabetic() {
            break;
        }
        // camelCase starts a new piece at the capital, as o200k_base's pre-tokenizer does.
        if prev_lower && c.is_uppercase() {
            break;
        }
        prev_lower = c.is_lowercase();
        count(c);
        chars.next();
    }
    let latin = if ascii == 0 {
        0.0
    } else if ascii <= 8 {
        1.0
    } else {
        1.0 + (ascii - 8) as f64 / 4.5
    };
    latin + other as f64 / 1.3
}

/// Claude-equivalent tokens (the factor applied) of `text`, counted with [`tokens`].
pub fn claude_tokens(text: &str, factor: f64) -> u64 {
    (tokens(text) as f64 * factor).round() as u64
}

/// The exact `o200k_base` count of `text` (special-token text counted as ordinary text). Builds
/// tiktoken's tables on first use (~55 MiB, kept for the process), so nothing on a run's path
/// calls it. Counted in chunks of at most 64 KiB cut at whitespace, and a run of more than 1 KiB
/// without whitespace is cut there: byte-pair merging is quadratic in a piece's length, so one
/// long line without spaces (a minified file, base64) would otherwise take minutes and hundreds
/// of MiB. A cut can add a token or so per cut, no more.
#[cfg(feature = "exact-tokens")]
pub fn o200k_tokens(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    let bpe = tiktoken_rs::o200k_base_singleton();
    chunks(text, 64 << 10, 1 << 10)
        .map(|c| bpe.encode_ordinary(c).len() as u64)
        .sum()
}

/// Without the `exact-tokens` feature (no tiktoken tables in the binary), an input is measured
/// with the table-free counter, [`tokens`].
#[cfg(not(feature = "exact-tokens"))]
pub fn o200k_tokens(text: &str) -> u64 {
    tokens(text)
}

#[cfg_attr(not(feature = "exact-tokens"), allow(dead_code))]
/// Splits `text` into pieces of at most about `max` bytes, each ending after whitespace when
/// there is some, and cuts runs of more than `run_max` bytes without whitespace.
fn chunks(text: &str, max: usize, run_max: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut cut = rest.len();
        let mut last_ws = None;
        let mut run_start = 0;
        for (i, c) in rest.char_indices() {
            if c.is_whitespace() {
                last_ws = Some(i + c.len_utf8());
                run_start = i + c.len_utf8();
            } else if i - run_start >= run_max {
                cut = i;
                break;
            }
            if i >= max {
                cut = last_ws.filter(|&w| w > 0).unwrap_or(i);
                break;
            }
        }
        // Every cut above is a char boundary past the first character.
        let (head, tail) = rest.split_at(cut);
        rest = tail;
        Some(head)
    })
}

/// Claude-equivalent tokens for `input` + an answer like `output`, counted without tables.
pub fn claude_equivalent(input: &str, output: &str, factor: f64) -> Estimate {
    Estimate {
        method: format!("estimate: input + deliverable, {COUNTER} x {factor}"),
        encoding: ENCODING.into(),
        factor,
        input_tokens: claude_tokens(input, factor),
        output_tokens: claude_tokens(output, factor),
    }
}

/// Local tokens a run counted.
pub fn local_tokens(r: &crate::run::RunResult) -> u64 {
    r.usage
        .iter()
        .map(|(_, u)| {
            u.usage
                .input_tokens
                .unwrap_or(0)
                .saturating_add(u.usage.output_tokens.unwrap_or(0))
        })
        .fold(0u64, u64::saturating_add)
}

// Every test compares with tiktoken's exact count, so they need the feature.
#[cfg(all(test, feature = "exact-tokens"))]
mod tests {
    use super::*;

    #[test]
    fn the_exact_count_scales_and_chunks() {
        // "hello world" is two o200k_base tokens.
        assert_eq!(o200k_tokens("hello world"), 2);
        assert_eq!(o200k_tokens(""), 0);
        let e = claude_equivalent("hello world", "hello world hello world", 1.5);
        assert_eq!(e.input_tokens, 3);
        assert_eq!(e.output_tokens, 6);
        assert!(e.method.starts_with("estimate"));
        assert_eq!(e.encoding, "o200k_base");
        // Chunks cover the text exactly, at char boundaries.
        let text = format!("{} é{}", "word ".repeat(30_000), "x".repeat(5000));
        let joined: String = chunks(&text, 64 << 10, 1 << 10).collect();
        assert_eq!(joined, text);
        assert!(chunks(&text, 64 << 10, 1 << 10).all(|c| c.len() <= (64 << 10) + 4));
    }

    #[test]
    fn a_huge_input_without_whitespace_is_counted_in_bounded_time() {
        // 4 MiB of one "word": unchunked byte-pair merging is quadratic in it.
        let blob = "ab".repeat(2 << 20);
        let exact = o200k_tokens(&blob);
        assert!(exact > 100_000, "{exact}");
        let light = tokens(&blob);
        assert!(light > 100_000, "{light}");
    }

    fn within(text: &str, tolerance: f64) {
        let exact = o200k_tokens(text) as f64;
        let light = tokens(text) as f64;
        let off = (light - exact).abs() / exact;
        assert!(
            off <= tolerance,
            "light {light} vs o200k_base {exact}: {:.1}% off",
            off * 100.0
        );
    }

    #[test]
    fn the_light_counter_stays_near_o200k_base() {
        // Fixed copies (prose, Rust, pretty JSON), so edits elsewhere never move the figures.
        within(include_str!("../../tests/fixtures/tokens/prose.md"), 0.05);
        within(
            include_str!("../../tests/fixtures/tokens/code.rs.txt"),
            0.08,
        );
        within(include_str!("../../tests/fixtures/tokens/data.json"), 0.08);
        within(
            "The quick brown fox jumps over the lazy dog. "
                .repeat(50)
                .as_str(),
            0.12,
        );
        assert_eq!(tokens(""), 0);
    }
}
