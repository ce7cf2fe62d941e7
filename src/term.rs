//! The one sanitiser for text that reaches a terminal: answers, names, errors, server-reported
//! versions and model names, report rows. Every text-mode printer uses [`safe`] (the CLI as
//! `cli::term_safe`); JSON output and artifacts keep the exact text (JSON escapes it).

/// Whether `c` must not reach a terminal raw: control characters other than newline and tab
/// (ESC starts sequences that clear the screen, write the clipboard (OSC 52) or retitle the
/// window; CR overwrites a line) and the bidi controls that reorder what is shown.
pub fn unsafe_for_terminal(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// Text as orc prints it in text mode: each character `unsafe_for_terminal` becomes a visible
/// escape (`\x1b`, `\u{202e}`); a CR right before a newline stays. JSON output needs none of
/// this: serde_json escapes control characters, and artifacts keep the exact text.
pub fn safe(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(unsafe_for_terminal) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if !unsafe_for_terminal(c) || c == '\r' && chars.peek() == Some(&'\n') {
            out.push(c);
        } else if (c as u32) < 0x100 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    std::borrow::Cow::Owned(out)
}
