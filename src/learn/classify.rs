//! Task types and the seed's routing matrix (research log, question 2): which tasks models of
//! 7B and under handle, on what conditions, and how they fail.

use serde::Serialize;

/// What the matrix says a local swarm can do with a task type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reliability {
    Yes,
    Adequate,
    Marginal,
    No,
}

/// One row of the routing matrix.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixRow {
    pub task_type: &'static str,
    pub local: Reliability,
    /// When local models are reliable.
    pub conditions: &'static str,
    /// How they fail.
    pub failure_mode: &'static str,
    /// The ensemble shape to build when none exists.
    pub shape: &'static str,
    /// Model tiers of that shape (micro <= 1.5B, small <= 5B, medium <= 15B).
    pub tiers: &'static [&'static str],
    /// Words that suggest this task type (lower case, matched on word starts).
    #[serde(skip)]
    keywords: &'static [&'static str],
    /// Words that push it past what local models do well (then Claude).
    #[serde(skip)]
    escalate: &'static [&'static str],
}

pub const MATRIX: &[MatrixRow] = &[
    MatrixRow {
        task_type: "extraction",
        local: Reliability::Yes,
        conditions: "fixed schema, document under 8K tokens",
        failure_mode: "multi-hop, ambiguous or deeply nested information",
        shape: "swarm: micro extractors, one per chunk or field group -> one small merger",
        tiers: &["micro", "small"],
        keywords: &[
            "extract",
            "pull out",
            "list all",
            "list the",
            "find all",
            "find every",
            "entities",
            "names of",
            "fields",
            "parse",
        ],
        escalate: &["multi-hop", "across documents", "infer"],
    },
    MatrixRow {
        task_type: "classification",
        local: Reliability::Yes,
        conditions: "enumerable labels, examples in the prompt",
        failure_mode: "open-ended or domain-specific labels",
        shape: "parallel: a few small classifiers voting -> one micro tally",
        tiers: &["small", "micro"],
        keywords: &[
            "classify",
            "categorize",
            "categorise",
            "label",
            "tag ",
            "sentiment",
            "which category",
            "triage",
            "is this spam",
            "detect the language",
        ],
        escalate: &["open-ended", "nuanced"],
    },
    MatrixRow {
        task_type: "summarization",
        local: Reliability::Yes,
        conditions: "a single document under 8K tokens",
        failure_mode: "multi-document synthesis",
        shape: "fan-out: micro summarisers per section -> one small synthesiser",
        tiers: &["micro", "small"],
        keywords: &[
            "summarize",
            "summarise",
            "summary",
            "tl;dr",
            "tldr",
            "condense",
            "key points",
            "gist",
            "recap",
            "abstract",
        ],
        escalate: &[
            "several documents",
            "multiple documents",
            "across documents",
            "these documents",
        ],
    },
    MatrixRow {
        task_type: "code-generation",
        local: Reliability::Adequate,
        conditions: "a single function, Python, boilerplate",
        failure_mode: "multi-file work, architecture, security",
        shape: "sequential: small drafter -> small tester/critic -> small fixer",
        tiers: &["small"],
        keywords: &[
            "write a function",
            "implement",
            "write code",
            "write a script",
            "generate code",
            "boilerplate",
            "function that",
            "unit test",
            "write a class",
            "snippet",
        ],
        escalate: &[
            "multi-file",
            "architecture",
            "design a system",
            "security",
            "refactor the codebase",
            "across files",
        ],
    },
    MatrixRow {
        task_type: "code-review",
        local: Reliability::Adequate,
        conditions: "style, obvious bugs, small functions",
        failure_mode: "security, logic and cross-file issues",
        shape: "fan-in: micro checkers per concern (style, naming, bugs) -> one small reviewer",
        tiers: &["micro", "small"],
        keywords: &[
            "review this code",
            "code review",
            "review the code",
            "review this function",
            "review this diff",
            "review this pr",
            "lint",
            "find bugs",
            "style issues",
        ],
        escalate: &[
            "security",
            "vulnerab",
            "race condition",
            "cross-file",
            "concurrency",
        ],
    },
    MatrixRow {
        task_type: "json",
        local: Reliability::Adequate,
        conditions: "a simple schema, constrained output (ollama_format)",
        failure_mode: "complex or nested schemas; YAML",
        shape: "single: one small agent with ollama_format set to the schema",
        tiers: &["small"],
        keywords: &[
            "json",
            "structured output",
            "schema",
            "convert to json",
            "as json",
        ],
        escalate: &["yaml", "nested schema", "deeply nested"],
    },
    MatrixRow {
        task_type: "reasoning",
        local: Reliability::No,
        conditions: "one or two steps at most",
        failure_mode: "three or more steps, planning, causal inference",
        shape: "claude",
        tiers: &[],
        keywords: &[
            "why does",
            "why do",
            "prove",
            "plan ",
            "step by step",
            "figure out",
            "deduce",
            "root cause",
            "what would happen",
            "trade-off",
            "tradeoff",
            "decide",
            "strategy",
            "calculate",
            "solve",
        ],
        escalate: &[],
    },
    MatrixRow {
        task_type: "creative",
        local: Reliability::Marginal,
        conditions: "short snippets only",
        failure_mode: "extended form, quality-sensitive writing",
        shape: "sequential: small drafter -> small editor (short pieces only)",
        tiers: &["small"],
        keywords: &[
            "poem",
            "story",
            "slogan",
            "tagline",
            "haiku",
            "creative",
            "lyrics",
            "blog post",
            "essay",
            "write a joke",
            "brainstorm names",
        ],
        escalate: &["essay", "blog post", "chapter", "long-form", "article"],
    },
    MatrixRow {
        task_type: "knowledge",
        local: Reliability::No,
        conditions: "only with the answer in the context (RAG)",
        failure_mode: "open-domain questions, factual accuracy (7B models hallucinate on ~58% of reference QA)",
        shape: "claude",
        tiers: &[],
        keywords: &[
            "what is",
            "who is",
            "who was",
            "when did",
            "explain",
            "history of",
            "what are",
            "how does",
            "define",
        ],
        escalate: &[],
    },
    MatrixRow {
        task_type: "instructions",
        local: Reliability::Marginal,
        conditions: "four explicit constraints or fewer",
        failure_mode: "five or more constraints, conflicting goals",
        shape: "sequential: small drafter -> micro constraint checkers -> small fixer",
        tiers: &["small", "micro"],
        keywords: &[
            "must",
            "make sure",
            "follow these",
            "requirements",
            "constraints",
            "rewrite",
            "format it",
            "reformat",
            "translate",
        ],
        escalate: &[],
    },
];

/// The names of the task types, in the matrix's order.
pub fn names() -> Vec<&'static str> {
    MATRIX.iter().map(|r| r.task_type).collect()
}

/// The matrix row of a task type, accepting a few common spellings.
pub fn row(task_type: &str) -> Option<&'static MatrixRow> {
    let t = normalize(task_type);
    MATRIX.iter().find(|r| r.task_type == t)
}

/// `code` -> `code-generation`, `summarisation` -> `summarization`, `_` -> `-`, lower case.
pub fn normalize(task_type: &str) -> String {
    let t = task_type
        .trim()
        .to_ascii_lowercase()
        .replace(['_', ' '], "-");
    match t.as_str() {
        "code" | "codegen" | "code-gen" | "coding" => "code-generation".into(),
        "review" => "code-review".into(),
        "summarisation" | "summary" | "summarize" | "summarise" => "summarization".into(),
        "extract" | "information-extraction" => "extraction".into(),
        "classify" | "text-classification" => "classification".into(),
        "json-output" | "structured-output" => "json".into(),
        "multi-step-reasoning" | "analysis" => "reasoning".into(),
        "creative-writing" | "writing" => "creative".into(),
        "knowledge-qa" | "qa" | "q&a" => "knowledge".into(),
        "complex-instructions" | "instruction-following" => "instructions".into(),
        _ => t,
    }
}

/// Checks a task type from a user: a matrix name (or alias), or a custom one of letters, digits,
/// `-` and `_`.
pub fn check(task_type: &str) -> Result<String, String> {
    let t = normalize(task_type);
    let ok =
        !t.is_empty() && t.len() <= 48 && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(t)
    } else {
        Err(format!(
            "`{}` is not a task type; use one of {} (or a custom name of letters, digits and `-`)",
            task_type.chars().take(60).collect::<String>(),
            names().join(", ")
        ))
    }
}

/// The outcome of classifying a task description.
#[derive(Debug, Clone, Serialize)]
pub struct Classified {
    pub task_type: &'static str,
    /// The words that decided it.
    pub matched: Vec<&'static str>,
    /// Words that push the task past what local models do well.
    pub escalators: Vec<&'static str>,
    /// Explicit constraints counted (must, should, bullet lines).
    pub constraints: usize,
}

fn contains_word_start(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(i, _)| {
        i == 0
            || !hay[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric())
    })
}

/// Classifies a task description by the matrix's keywords. The type with the most matches wins
/// (earlier rows break ties: the reliable local types come first); none matched is `knowledge`
/// for a question and `instructions` otherwise.
pub fn classify(task: &str) -> Classified {
    let text = task.to_lowercase();
    let mut best: Option<(&'static MatrixRow, Vec<&'static str>)> = None;
    for row in MATRIX {
        let matched: Vec<&'static str> = row
            .keywords
            .iter()
            .copied()
            .filter(|k| contains_word_start(&text, k))
            .collect();
        if !matched.is_empty() && best.as_ref().is_none_or(|(_, m)| matched.len() > m.len()) {
            best = Some((row, matched));
        }
    }
    let constraints = text
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with("- ")
                || l.starts_with("* ")
                || l.starts_with(|c: char| c.is_ascii_digit()) && l.contains(". ")
        })
        .count()
        + [
            "must ",
            "should ",
            "never ",
            "always ",
            "exactly ",
            "at most ",
            "at least ",
        ]
        .iter()
        .map(|w| text.matches(w).count())
        .sum::<usize>();
    let (row, matched) = match best {
        Some(b) => b,
        None => {
            let fallback = if text.trim_end().ends_with('?') {
                "knowledge"
            } else {
                "instructions"
            };
            (row(fallback).unwrap_or(&MATRIX[0]), Vec::new())
        }
    };
    let escalators = row
        .escalate
        .iter()
        .copied()
        .filter(|k| contains_word_start(&text, k))
        .collect();
    Classified {
        task_type: row.task_type,
        matched,
        escalators,
        constraints,
    }
}

/// Checks an optional `--task-type` / `task_type` before a run starts.
pub fn check_task_type(t: Option<&str>) -> Result<(), String> {
    match t {
        Some(t) => check(t).map(|_| ()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_matrix_types() {
        let cases = [
            (
                "Extract every person's name and email from this memo",
                "extraction",
            ),
            (
                "Classify these support tickets as bug, feature or question",
                "classification",
            ),
            (
                "Summarize this design document in five bullet points",
                "summarization",
            ),
            (
                "Write a function that parses ISO dates in Python",
                "code-generation",
            ),
            ("Review this code for style issues", "code-review"),
            ("Convert the table to JSON", "json"),
            (
                "Plan the migration step by step and decide the order",
                "reasoning",
            ),
            ("Write a haiku about autumn", "creative"),
            ("Who was the first person to climb K2?", "knowledge"),
        ];
        for (task, want) in cases {
            assert_eq!(classify(task).task_type, want, "{task}");
        }
    }

    #[test]
    fn escalators_and_aliases() {
        let c = classify("Review this code for security vulnerabilities");
        assert_eq!(c.task_type, "code-review");
        assert!(!c.escalators.is_empty());
        assert_eq!(normalize("Code"), "code-generation");
        assert_eq!(normalize("summarisation"), "summarization");
        assert!(check("../etc").is_err());
        assert_eq!(check("extraction").as_deref(), Ok("extraction"));
    }
}
