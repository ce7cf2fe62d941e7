//! Code: fenced code blocks parse (JSON and YAML in process; Python, shell and JavaScript with
//! the interpreter's own parser, which runs nothing; other languages by bracket balance, a soft
//! signal).

use super::signal::Signal;
use serde_json::Value;
use std::time::Duration;

// ------------------------------------------------------------------ code

/// A fenced code block.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// The info string's first word, lower case (`rust`, `python`, ...).
    pub lang: String,
    /// The info string's rest (`path=src/lib.rs`, `title="x.py"`).
    pub info: String,
    pub code: String,
}

/// The fenced (``` or ~~~) blocks of a Markdown answer.
pub fn code_blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(String, String, String, String)> = None; // fence, lang, info, code
    for line in text.lines() {
        let t = line.trim_start();
        match &mut open {
            None => {
                for fence in ["```", "~~~"] {
                    if let Some(rest) = t.strip_prefix(fence) {
                        let rest = rest.trim_start_matches(fence.chars().next().unwrap_or('`'));
                        let mut words = rest.trim().splitn(2, char::is_whitespace);
                        let lang = words.next().unwrap_or("").to_lowercase();
                        let info = words.next().unwrap_or("").trim().to_string();
                        open = Some((fence.to_string(), lang, info, String::new()));
                        break;
                    }
                }
            }
            Some((fence, lang, info, code)) => {
                if t.starts_with(fence.as_str())
                    && t.trim_start_matches(['`', '~']).trim().is_empty()
                {
                    out.push(Block {
                        lang: std::mem::take(lang),
                        info: std::mem::take(info),
                        code: std::mem::take(code),
                    });
                    open = None;
                } else {
                    code.push_str(line);
                    code.push('\n');
                }
            }
        }
    }
    // A block never closed is cut off: keep it, the parser will say so.
    if let Some((_, lang, info, code)) = open {
        out.push(Block { lang, info, code });
    }
    out
}

/// How a language is parsed.
pub(super) enum Parser {
    Json,
    Yaml,
    Process(&'static str, &'static [&'static str], &'static str),
    Balance,
    None,
}

pub(super) fn parser(lang: &str) -> Parser {
    match lang {
        "json" | "jsonc" => Parser::Json,
        "yaml" | "yml" => Parser::Yaml,
        "python" | "py" | "python3" => Parser::Process(
            "python3",
            &["-c", "import ast,sys; ast.parse(sys.stdin.read())"],
            "",
        ),
        "sh" | "bash" | "shell" | "zsh" => Parser::Process("bash", &["-n"], ""),
        "javascript" | "js" | "mjs" | "node" => Parser::Process("node", &["--check"], ".mjs"),
        "" | "text" | "txt" | "console" | "output" | "markdown" | "md" | "diff" | "patch" => {
            Parser::None
        }
        _ => Parser::Balance,
    }
}

/// Brackets balanced outside double-quoted strings and `//` comments.
pub(super) fn balanced(code: &str) -> Result<(), String> {
    let mut stack = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if in_str {
                if c == '"' && prev != '\\' {
                    in_str = false;
                }
                prev = if prev == '\\' && c == '\\' { ' ' } else { c };
                continue;
            }
            match c {
                '"' => in_str = true,
                '/' if chars.peek() == Some(&'/') => break,
                '(' | '[' | '{' => stack.push((c, n + 1)),
                ')' | ']' | '}' => {
                    let want = match c {
                        ')' => '(',
                        ']' => '[',
                        _ => '{',
                    };
                    match stack.pop() {
                        Some((o, _)) if o == want => {}
                        _ => return Err(format!("unmatched `{c}` on line {}", n + 1)),
                    }
                }
                _ => {}
            }
            prev = c;
        }
    }
    match stack.last() {
        Some((c, line)) => Err(format!("`{c}` opened on line {line} is never closed")),
        None => Ok(()),
    }
}

/// Runs a parser program on `code` (stdin, or a temporary file named `*.ext`); Ok(None) when the
/// program is not installed.
async fn parse_with(
    program: &str,
    args: &[&str],
    ext: &str,
    code: &str,
) -> Result<Option<()>, String> {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let _file = if ext.is_empty() {
        cmd.stdin(std::process::Stdio::piped());
        None
    } else {
        let f = tempfile::Builder::new()
            .suffix(ext)
            .tempfile()
            .map_err(|e| e.to_string())?;
        std::fs::write(f.path(), code).map_err(|e| e.to_string())?;
        cmd.arg(f.path()).stdin(std::process::Stdio::null());
        Some(f)
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if let Some(mut w) = child.stdin.take() {
        let _ = w.write_all(code.as_bytes()).await;
        drop(w);
    }
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .map_err(|_| format!("{program} took more than 20 s to parse the block"))?
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(Some(()))
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(3).collect();
        Err(tail.into_iter().rev().collect::<Vec<_>>().join(" | "))
    }
}

/// Every fenced block parses; None when the answer has no block to parse.
pub async fn code(output: &str) -> Option<Signal> {
    let blocks = code_blocks(output);
    let mut checked = Vec::new();
    let mut soft = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        let what = format!(
            "block {} ({})",
            i + 1,
            if b.lang.is_empty() {
                "no language"
            } else {
                &b.lang
            }
        );
        let r = match parser(&b.lang) {
            Parser::None => continue,
            Parser::Json => serde_json::from_str::<Value>(&b.code)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Parser::Yaml => serde_saphyr::from_str::<Value>(&b.code)
                .map(|_| ())
                .map_err(|e| e.to_string().lines().next().unwrap_or("").to_string()),
            Parser::Process(p, args, ext) => match parse_with(p, args, ext, &b.code).await {
                Ok(Some(())) => Ok(()),
                Ok(None) => {
                    soft.push(format!("{what}: {p} is not installed, brackets only"));
                    balanced(&b.code)
                        .map_err(|e| {
                            soft.push(format!("{what}: {e}"));
                            String::new()
                        })
                        .or(Ok(()))
                }
                Err(e) => Err(e),
            },
            Parser::Balance => {
                if let Err(e) = balanced(&b.code) {
                    soft.push(format!("{what}: {e}"));
                }
                checked.push(what);
                continue;
            }
        };
        if let Err(e) = r {
            return Some(Signal::fail(
                "code",
                "reasoning_error",
                format!(
                    "{what} does not parse: {}",
                    e.chars().take(300).collect::<String>()
                ),
            ));
        }
        checked.push(what);
    }
    if checked.is_empty() {
        return None;
    }
    Some(if soft.iter().any(|s| !s.contains("brackets only")) {
        Signal::doubt("code", soft.join("; "))
    } else {
        Signal::pass("code", format!("{} parse", checked.join(", ")))
    })
}
