//! Reading an instruction: the words it is made of, cue phrases matched over them, the signals
//! that push any task past what small models do well, the explicit constraints it sets, and
//! where a pasted input starts when a caller put it in the same string.
//!
//! A cue is a phrase of words: `extract*` matches any word starting with `extract`, `...` lets up
//! to four words pass between two parts (`sort ... into`), and anything else is a whole word.

use serde::Serialize;

/// The words of a text: lower case, `'` kept inside words (`what's`), `tl;dr` as `tldr`.
pub fn words(text: &str) -> Vec<String> {
    let lower = text
        .to_lowercase()
        .replace(['\u{2019}', '\u{2018}'], "'")
        .replace("tl;dr", "tldr");
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in lower.chars() {
        if c.is_alphanumeric() || (c == '\'' && !cur.is_empty()) {
            cur.push(c);
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur).trim_end_matches('\'').to_string());
        }
    }
    if !cur.is_empty() {
        out.push(cur.trim_end_matches('\'').to_string());
    }
    out
}

/// How many words `...` may skip.
const GAP: usize = 4;

fn word_matches(pattern: &str, word: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => word.starts_with(prefix),
        None => word == pattern,
    }
}

/// Whether the cue `pattern` occurs in `words`.
pub fn matches(words: &[String], pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split_whitespace().collect();
    (0..words.len()).any(|start| match_at(words, start, &parts))
}

fn match_at(words: &[String], at: usize, parts: &[&str]) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return true;
    };
    if *first == "..." {
        return (0..=GAP).any(|skip| at + skip <= words.len() && match_at(words, at + skip, rest));
    }
    // Cue words are written as words() would split them (`a/b` is two words).
    let sub = words_of_cue(first);
    if sub.len() > 1 {
        let mut all: Vec<&str> = sub.iter().map(String::as_str).collect();
        all.extend_from_slice(rest);
        return match_at(words, at, &all);
    }
    at < words.len() && word_matches(first, &words[at]) && match_at(words, at + 1, rest)
}

fn words_of_cue(part: &str) -> Vec<String> {
    if part
        .chars()
        .all(|c| c.is_alphanumeric() || c == '\'' || c == '*')
    {
        vec![part.to_string()]
    } else {
        let star = part.ends_with('*');
        let mut w = words(part);
        if star && let Some(last) = w.last_mut() {
            last.push('*');
        }
        w
    }
}

/// Why a signal sends a task to Claude whatever its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signal {
    Security,
    Concurrency,
    MultiFile,
    Architecture,
    MultiHop,
    MultiDocument,
    ComplexStructure,
    LongForm,
    OpenEnded,
    Debugging,
    Planning,
}

impl Signal {
    pub fn label(self) -> &'static str {
        match self {
            Signal::Security => "security",
            Signal::Concurrency => "concurrency or payment correctness",
            Signal::MultiFile => "work across many files",
            Signal::Architecture => "architecture or system design",
            Signal::MultiHop => "multi-hop: facts to combine before answering",
            Signal::MultiDocument => "several documents to combine",
            Signal::ComplexStructure => "YAML, manifests or nested structures",
            Signal::LongForm => "long-form writing",
            Signal::OpenEnded => "open-ended: no fixed answer or label set",
            Signal::Debugging => "debugging a failure",
            Signal::Planning => "planning or multi-step calculation",
        }
    }

    /// The hard limits of the matrix (checked before and after any learned rule, whatever the
    /// delegation level); the other signals are its failure modes, applied the same way.
    pub fn is_hard_limit(self) -> bool {
        matches!(
            self,
            Signal::Security | Signal::MultiHop | Signal::MultiDocument
        )
    }
}

/// Cue phrases of each signal.
const SIGNALS: &[(Signal, &[&str])] = &[
    (
        Signal::Security,
        &[
            "security",
            "secure*",
            "insecure",
            "vulnerab*",
            "exploit*",
            "injection",
            "injectable",
            "xss",
            "csrf",
            "traversal",
            "jwt*",
            "encrypt*",
            "decrypt*",
            "cryptograph*",
            "password*",
            "credential*",
            "secret*",
            "auth",
            "authn",
            "authz",
            "authenticat*",
            "authoriz*",
            "oauth*",
            "login",
            "session token*",
            "access control",
            "permission*",
            "privilege*",
            "sanitiz*",
            "sanitis*",
            "is it safe",
            "safe to",
            "safely",
            "holes",
            "cve*",
            "pentest*",
            "bcrypt",
            "hashing",
        ],
    ),
    (
        Signal::Concurrency,
        &[
            "race",
            "races",
            "racy",
            "deadlock*",
            "concurren*",
            "thread safe",
            "thread-safe",
            "threading",
            "mutex*",
            "atomic*",
            "idempoten*",
            "charged twice",
            "double charg*",
            "double-click*",
            "double click*",
        ],
    ),
    (
        Signal::MultiFile,
        &[
            "multi-file",
            "across files",
            "codebase",
            "whole repo*",
            "entire repo*",
            "the repository",
            "whole project",
            "entire project",
            "across the project",
            "across all",
            "all the files",
            "every file",
            "every caller",
            "all callers",
            "every reference",
            "all references",
            "all the services",
            "the services",
            "every service",
            "monorepo",
            "refactor*",
            "restructur*",
            "migrate*",
            "split ... into ... services",
            "separate services",
            "separate packages",
        ],
    ),
    (
        Signal::Architecture,
        &[
            "architect*",
            "design a",
            "design an",
            "design the",
            "design our",
            "system design",
            "microservice*",
            "distributed",
            "multi-tenant",
            "multi-region",
            "regions",
            "scalab*",
            "zero downtime",
            "zero-downtime",
        ],
    ),
    (
        Signal::MultiHop,
        &[
            "multi-hop",
            "cross-reference*",
            "cross reference*",
            "work out which",
            "infer*",
            "deduc*",
            "then cite",
            "based on both",
            "using the ... and the",
            "combine ... with",
            "trace ... through",
            "who should approve",
        ],
    ),
    (
        Signal::MultiDocument,
        &[
            "across documents",
            "these documents",
            "both documents",
            "two documents",
            "multiple documents",
            "several documents",
            "the two",
            "these two",
            "both files",
            "and the ... together",
            "together",
            "across the",
            "into one",
        ],
    ),
    (
        Signal::ComplexStructure,
        &[
            "yaml",
            "yml",
            "kubernetes",
            "k8s",
            "helm",
            "manifest*",
            "terraform",
            "docker-compose",
            "github actions",
            "nested",
            "complex schema",
        ],
    ),
    (
        Signal::LongForm,
        &[
            "write ... essay*",
            "write ... blog post*",
            "write ... article*",
            "write ... story",
            "write ... stories",
            "write ... novel",
            "write ... chapter*",
            "write ... speech",
            "write ... newsletter*",
            "draft ... essay*",
            "draft ... blog post*",
            "draft ... article*",
            "draft ... story",
            "draft ... novel",
            "draft ... chapter*",
            "draft ... speech",
            "long-form",
            "landing page",
            "email sequence",
            "onboarding sequence",
            "product copy",
            "white paper",
            "whitepaper",
        ],
    ),
    (
        Signal::OpenEnded,
        &[
            "taxonomy",
            "come up with categories",
            "come up with a taxonomy",
            "by root cause",
            "by the underlying cause",
            "underlying cause",
            "open-ended",
            "help me",
            "how should i",
            "how should we",
            "advice",
            "prepare for",
        ],
    ),
    (
        Signal::Debugging,
        &[
            "crash*",
            "stack trace",
            "traceback",
            "oom*",
            "memory leak*",
            "memory use",
            "exit code",
            "restarting",
            "keeps restarting",
            "latency",
            "slow",
            "outage",
            "sometimes",
            "intermittent*",
            "what's going on",
            "what is going on",
            "truncated",
            "p99",
            "hangs",
            "freezes",
            "deadlocks",
        ],
    ),
    (
        Signal::Planning,
        &[
            "plan",
            "a plan",
            "plan the",
            "roadmap",
            "step by step",
            "show the steps",
            "strategy",
            "how many ... need",
            "calculat*",
            "break-even",
            "break even",
            "forecast*",
            "estimates",
        ],
    ),
];

/// One signal found in an instruction, with the cue that found it.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    pub signal: Signal,
    pub cue: &'static str,
}

/// Every signal whose cues occur in the instruction (one entry per signal, the first cue).
pub fn signals(words: &[String], text: &str) -> Vec<Found> {
    let mut out: Vec<Found> = Vec::new();
    for (signal, cues) in SIGNALS {
        if let Some(cue) = cues.iter().find(|c| matches(words, c)) {
            out.push(Found {
                signal: *signal,
                cue,
            });
        }
    }
    if !out.iter().any(|f| f.signal == Signal::LongForm) && word_count_asked(text) >= 300 {
        out.push(Found {
            signal: Signal::LongForm,
            cue: "N-word",
        });
    }
    out
}

/// The largest "N words" / "N-word" figure in a text (1,500-word -> 1500), 0 when none.
fn word_count_asked(text: &str) -> u64 {
    let lower = text.to_lowercase();
    let mut best = 0;
    for (i, _) in lower.match_indices("word") {
        let before = lower[..i].trim_end_matches(['-', ' ']);
        let digits: String = before
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit() || *c == ',')
            .filter(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if let Ok(n) = digits.parse::<u64>() {
            best = best.max(n);
        }
    }
    best
}

/// Words that mark a clause as a requirement on the answer.
const REQUIREMENT_CUES: &[&str] = &[
    "must",
    "should",
    "make sure",
    "ensure",
    "never",
    "always",
    "exactly",
    "at most",
    "at least",
    "no more than",
    "fewer than",
    "less than",
    "under",
    "up to",
    "max",
    "maximum",
    "minimum",
    "avoid*",
    "don't",
    "do not",
    "without",
    "keep*",
    "end with",
    "ends with",
    "start with",
    "starts with",
    "starting with",
    "begin with",
    "mention*",
    "includ*",
    "but not",
    "no",
    "only",
    "needs",
    "uses",
    "use",
    "in british",
    "in american",
];

fn is_list_line(line: &str) -> bool {
    let l = line.trim_start();
    if l.starts_with("- ") || l.starts_with("* ") || l.starts_with("• ") {
        return true;
    }
    let digits = l.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && (l[digits..].starts_with(". ") || l[digits..].starts_with(") "))
}

/// Explicit constraints an instruction sets: each list line after the first line, each clause
/// of its prose with a requirement word (`must`, `under 80 words`, `avoid`, `keep`, ...). A list
/// of fields (`number, date and total`) is not a constraint.
/// Only the instruction is read: constraints in a pasted input are the input's, not the task's.
pub fn constraints(instruction: &str) -> usize {
    let mut n = 0;
    let mut prose = String::new();
    for (i, line) in instruction.lines().enumerate() {
        if i > 0 && is_list_line(line) {
            n += 1;
        } else {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    for sentence in prose.split(['.', '\n', '?', '!']) {
        for clause in sentence.split([',', ';', ':', '(', ')']) {
            for part in clause.split(" and ") {
                let w = words(part);
                if REQUIREMENT_CUES.iter().any(|c| matches(&w, c)) {
                    n += 1;
                }
            }
        }
    }
    n
}

/// Splits a task that carries its input after the instruction (`Summarize this:\n\n<text>`): the
/// first paragraph is the instruction when it ends with a colon or points at what follows
/// (`this`, `below`, `the following`, ...), and everything after the first blank line is the
/// input. A fenced code block is input wherever it is. Otherwise the whole text is the
/// instruction.
pub fn split_pasted(task: &str) -> (String, Option<String>) {
    let mut instruction = String::new();
    let mut pasted = String::new();
    let mut in_fence = false;
    for line in task.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            pasted.push_str(line);
            pasted.push('\n');
        } else if in_fence {
            pasted.push_str(line);
            pasted.push('\n');
        } else {
            instruction.push_str(line);
            instruction.push('\n');
        }
    }
    let (head, rest) = match instruction
        .find("\n\n")
        .or_else(|| instruction.find("\r\n\r\n"))
    {
        Some(i) => (&instruction[..i], instruction[i..].trim()),
        None => (instruction.as_str(), ""),
    };
    let head_words = words(head);
    let points_ahead = head.trim_end().ends_with(':')
        || [
            "this",
            "these",
            "below",
            "the following",
            "following",
            "the text",
            "here",
            "here's",
            "attached",
        ]
        .iter()
        .any(|c| matches(&head_words, c));
    let (instruction, extra) = if !rest.is_empty() && points_ahead {
        (head.trim().to_string(), rest.to_string())
    } else {
        (instruction.trim().to_string(), String::new())
    };
    let input = [pasted.trim(), extra.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("\n\n");
    (instruction, (!input.is_empty()).then_some(input))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        words(s)
    }

    #[test]
    fn cues_match_words_prefixes_and_gaps() {
        let t = w("Sort each of these tickets into bug or feature; TL;DR what's left");
        assert!(matches(&t, "sort ... into"));
        assert!(matches(&t, "ticket*"));
        assert!(!matches(&t, "tick"));
        assert!(matches(&t, "tldr"));
        assert!(matches(&t, "what's left"));
        assert!(!matches(&w("sort a b c d e f into"), "sort ... into"));
        assert!(matches(&w("a double-click on Pay"), "double-click*"));
        assert!(!matches(&w("with keys title, author"), "auth"));
    }

    #[test]
    fn signals_apply_whatever_the_words_around_them() {
        let found =
            |s: &str| -> Vec<Signal> { signals(&w(s), s).into_iter().map(|f| f.signal).collect() };
        assert!(found("Refactor the codebase to use the new logger").contains(&Signal::MultiFile));
        assert!(found("Review this login handler for security holes").contains(&Signal::Security));
        assert!(found("Write a 1,500-word post on Rust").contains(&Signal::LongForm));
        assert!(found("Write an essay on privacy").contains(&Signal::LongForm));
        assert!(found("tl;dr this blog post").is_empty());
        assert!(found("Write a Kubernetes Deployment").contains(&Signal::ComplexStructure));
        assert!(found("Turn these notes from the planning meeting into a list").is_empty());
        assert!(found("Convert this to JSON with keys title, author and year").is_empty());
    }

    #[test]
    fn constraints_count_the_instruction_only() {
        assert_eq!(
            constraints("Make this message friendlier, and keep it under 80 words."),
            1
        );
        assert_eq!(
            constraints("Pull the invoice number, issue date, due date and grand total out."),
            0
        );
        let listed = "Rewrite it so that it:\n- is under 60 words\n- uses British spelling\n- mentions the warranty\n- avoids 'cheap'\n- ends with a question";
        assert_eq!(constraints(listed), 5);
        assert_eq!(
            constraints(
                "Write copy: a headline under 8 words, a subhead under 20 words, three bullets each starting with a verb, and a line that mentions the trial but not the price."
            ),
            4
        );
    }

    #[test]
    fn a_pasted_input_is_split_from_its_instruction() {
        let (i, p) = split_pasted("Summarize this:\n\nOur hiring closed.\nMust hire more.");
        assert_eq!(i, "Summarize this:");
        assert_eq!(p.as_deref(), Some("Our hiring closed.\nMust hire more."));
        let (i, p) = split_pasted("Fix the typo.\n\nThen push it.");
        assert_eq!(i, "Fix the typo.\n\nThen push it.");
        assert!(p.is_none());
        let (i, p) = split_pasted("Review this:\n```\nfn a() {}\n```");
        assert_eq!(i, "Review this:");
        assert!(p.is_some_and(|p| p.contains("fn a()")));
    }
}
