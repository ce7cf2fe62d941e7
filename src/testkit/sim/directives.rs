//! The faults and shapes a prompt asks the simulator for (`[[sim:...]]`, `[[fake:...]]`).

/// Faults and shapes a request asked for.
#[derive(Default, Debug)]
pub(super) struct Directives {
    pub(super) json_array: Option<usize>,
    pub(super) tokens: Option<u32>,
    pub(super) status: Option<(u16, Option<u32>)>,
    pub(super) reset: bool,
    pub(super) slow_ms: Option<u64>,
    pub(super) malformed: bool,
    pub(super) truncate: bool,
    pub(super) hold_until: Option<String>,
    pub(super) reply: Option<String>,
    pub(super) omit_prompt: bool,
    pub(super) omit_eval: bool,
    pub(super) die: bool,
}

fn directive_num(text: &str, tag: &str) -> Option<u64> {
    let start = text.find(tag)? + tag.len();
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

pub(super) fn directives(text: &str) -> Directives {
    let mut d = Directives {
        json_array: directive_num(text, "[[fake:json_array=").map(|n| n as usize),
        tokens: directive_num(text, "[[fake:tokens=").map(|n| n as u32),
        reset: text.contains("[[sim:reset]]"),
        slow_ms: directive_num(text, "[[sim:slow="),
        malformed: text.contains("[[sim:malformed]]"),
        truncate: text.contains("[[sim:truncate]]"),
        die: text.contains("[[sim:die]]"),
        omit_prompt: text.contains("[[sim:omit=prompt_eval_count]]")
            || text.contains("[[sim:omit=counts]]"),
        omit_eval: text.contains("[[sim:omit=eval_count]]") || text.contains("[[sim:omit=counts]]"),
        ..Directives::default()
    };
    if let Some(i) = text.find("[[fake:reply=") {
        let rest = &text[i + "[[fake:reply=".len()..];
        d.reply = rest.find("]]").map(|j| rest[..j].to_string());
    }
    if let Some(i) = text.find("[[sim:hold_until=") {
        let rest = &text[i + "[[sim:hold_until=".len()..];
        d.hold_until = rest.find("]]").map(|j| rest[..j].to_string());
    }
    if let Some(code) = directive_num(text, "[[sim:status=") {
        let times = text
            .find("[[sim:status=")
            .and_then(|i| {
                text[i..]
                    .find('*')
                    .filter(|&j| j < text[i..].find("]]").unwrap_or(0))
                    .map(|j| i + j + 1)
            })
            .and_then(|i| {
                text[i..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .ok()
            });
        d.status = Some((code as u16, times));
    }
    d
}
