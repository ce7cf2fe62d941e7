//! The names written in files: what makes one unusable as an ensemble's or agent's name, and
//! how a name is shown in a message.

/// Why `name` cannot be an ensemble's (`folder`: it names the artifact folder) or an agent's
/// name: control characters (line breaks, escapes, NUL) and bidirectional marks change what a
/// terminal shows; `.`, `..`, `/`, `\` and more than 255 bytes cannot be one folder's name.
pub fn name_problem(name: &str, folder: bool) -> Option<String> {
    if let Some(c) = name
        .chars()
        .find(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        let what = if matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}') {
            "a line break"
        } else {
            "a control character"
        };
        return Some(format!("contains {what} (U+{:04X})", u32::from(c)));
    }
    if let Some(c) = name.chars().find(|c| is_bidi_mark(*c)) {
        return Some(format!(
            "contains a bidirectional mark (U+{:04X}), which makes text display in another order than it is",
            u32::from(c)
        ));
    }
    if folder {
        if name == "." || name == ".." {
            return Some("cannot name the artifact folder".into());
        }
        if let Some(c) = name.chars().find(|c| matches!(c, '/' | '\\')) {
            return Some(format!(
                "contains `{c}`; it names the artifact folder, so it must be one plain folder name (put the file in a sub-folder instead)"
            ));
        }
        if name.len() > 255 {
            return Some(format!(
                "is {} bytes long; it names the artifact folder, which takes at most 255",
                name.len()
            ));
        }
    }
    None
}

/// U+200E/U+200F (marks), U+202A-U+202E (embeddings, overrides), U+2066-U+2069 (isolates).
fn is_bidi_mark(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// A name quoted with its control characters and bidi marks escaped, safe to print. Long
/// names are cut to their first 60 characters.
pub fn shown(name: &str) -> String {
    let mut out = String::from("`");
    for (i, c) in name.chars().enumerate() {
        if i == 60 {
            out.push_str("...");
            break;
        }
        if c.is_control() || is_bidi_mark(c) || matches!(c, '\u{2028}' | '\u{2029}') {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out.push('`');
    out
}
