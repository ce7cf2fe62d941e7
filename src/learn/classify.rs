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
}

pub const MATRIX: &[MatrixRow] = &[
    MatrixRow {
        task_type: "extraction",
        local: Reliability::Yes,
        conditions: "fixed schema, document under 8K tokens",
        failure_mode: "multi-hop, ambiguous or deeply nested information",
        shape: "swarm: micro extractors, one per chunk or field group -> one small merger",
        tiers: &["micro", "small"],
    },
    MatrixRow {
        task_type: "classification",
        local: Reliability::Yes,
        conditions: "enumerable labels, examples in the prompt",
        failure_mode: "open-ended or domain-specific labels",
        shape: "parallel: a few small classifiers voting -> one micro tally",
        tiers: &["small", "micro"],
    },
    MatrixRow {
        task_type: "summarization",
        local: Reliability::Yes,
        conditions: "a single document under 8K tokens",
        failure_mode: "multi-document synthesis",
        shape: "fan-out: micro summarisers per section -> one small synthesiser",
        tiers: &["micro", "small"],
    },
    MatrixRow {
        task_type: "code-generation",
        local: Reliability::Adequate,
        conditions: "a single function, Python, boilerplate",
        failure_mode: "multi-file work, architecture, security",
        shape: "sequential: small drafter -> small tester/critic -> small fixer",
        tiers: &["small"],
    },
    MatrixRow {
        task_type: "code-review",
        local: Reliability::Adequate,
        conditions: "style, obvious bugs, small functions",
        failure_mode: "security, logic and cross-file issues",
        shape: "fan-in: micro checkers per concern (style, naming, bugs) -> one small reviewer",
        tiers: &["micro", "small"],
    },
    MatrixRow {
        task_type: "json",
        local: Reliability::Adequate,
        conditions: "a simple schema, constrained output (ollama_format)",
        failure_mode: "complex or nested schemas; YAML",
        shape: "single: one small agent with ollama_format set to the schema",
        tiers: &["small"],
    },
    MatrixRow {
        task_type: "reasoning",
        local: Reliability::No,
        conditions: "one or two steps at most",
        failure_mode: "three or more steps, planning, causal inference",
        shape: "claude",
        tiers: &[],
    },
    MatrixRow {
        task_type: "creative",
        local: Reliability::Marginal,
        conditions: "short snippets only",
        failure_mode: "extended form, quality-sensitive writing",
        shape: "sequential: small drafter -> small editor (short pieces only)",
        tiers: &["small"],
    },
    MatrixRow {
        task_type: "knowledge",
        local: Reliability::No,
        conditions: "only with the answer in the context (RAG)",
        failure_mode: "open-domain questions, factual accuracy (7B models hallucinate on ~58% of reference QA)",
        shape: "claude",
        tiers: &[],
    },
    MatrixRow {
        task_type: "instructions",
        local: Reliability::Marginal,
        conditions: "four explicit constraints or fewer",
        failure_mode: "five or more constraints, conflicting goals",
        shape: "sequential: small drafter -> micro constraint checkers -> small fixer",
        tiers: &["small", "micro"],
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

/// A cue phrase for a task type (see `signals` for the phrase syntax) and its weight: 3 for a
/// phrase that names the task (`summarize`, `classify`), 2 for a strong hint, 1 for a word that
/// only leans that way.
type Cue = (&'static str, u32);

/// The cues of each task type, read over the instruction only.
const CUES: &[(&str, &[Cue])] = &[
    (
        "extraction",
        &[
            ("extract*", 3),
            ("pull out", 3),
            ("pull ... out", 3),
            ("pull the", 2),
            ("pull all", 2),
            ("pull every", 2),
            ("list every", 2),
            ("list all", 2),
            ("list the", 2),
            ("find all", 2),
            ("find every", 2),
            ("find the ... in", 2),
            ("get every", 2),
            ("get all", 2),
            ("get the ... from", 2),
            ("mentioned in", 2),
            ("mentioned", 1),
            ("named in", 2),
            ("identify all", 2),
            ("identify every", 2),
            ("collect all", 2),
            ("grab", 2),
            ("names", 1),
            ("email address*", 1),
            ("phone number*", 1),
            ("dates", 1),
            ("deadlines", 1),
            ("fields", 1),
            ("entities", 1),
            ("action items", 1),
            ("obligations", 1),
            ("numbers", 1),
            ("amounts", 1),
        ],
    ),
    (
        "classification",
        &[
            ("classif*", 3),
            ("categori*", 3),
            ("categoris*", 3),
            ("triage", 3),
            ("sentiment", 3),
            ("detect the language", 3),
            ("spam", 3),
            ("label*", 2),
            ("tag each", 3),
            ("tag every", 3),
            ("tag the", 2),
            ("tag these", 3),
            ("sort ... into", 3),
            ("sort each", 2),
            ("rate each", 3),
            ("rate every", 3),
            ("flag each", 3),
            ("flag every", 3),
            ("bucket*", 2),
            ("group ... into", 2),
            ("assign each", 2),
            ("which of these", 3),
            ("is each", 3),
            ("are these", 2),
            ("priority", 1),
            ("severity", 1),
            ("category", 1),
            ("categories", 1),
            ("risk level*", 1),
        ],
    ),
    (
        "summarization",
        &[
            ("summar*", 3),
            ("tldr", 3),
            ("gist", 3),
            ("boil ... down", 3),
            ("condense", 3),
            ("recap", 3),
            ("digest", 3),
            ("synopsis", 3),
            ("key points", 2),
            ("main points", 2),
            ("write up", 2),
            ("overview of", 2),
            ("in a nutshell", 2),
            ("bullet points", 1),
            ("bullets", 1),
        ],
    ),
    (
        "code-generation",
        &[
            ("write a function", 3),
            ("write a python function", 3),
            ("write ... function", 3),
            ("implement*", 3),
            ("write ... tests", 3),
            ("write ... test", 3),
            ("unit test*", 3),
            ("pytest", 3),
            ("write a script", 3),
            ("write a class", 3),
            ("dataclass", 3),
            ("write a query", 3),
            ("sql query", 3),
            ("one-liner", 3),
            ("boilerplate", 3),
            ("snippet", 3),
            ("write code", 3),
            ("generate code", 3),
            ("function that", 3),
            ("regex that", 3),
            ("function", 2),
            ("script", 1),
            ("class", 1),
            ("method", 1),
            ("endpoint", 1),
            ("python", 1),
            ("bash", 1),
            ("sql", 1),
            ("typescript", 1),
            ("javascript", 1),
            ("code", 1),
        ],
    ),
    (
        "code-review",
        &[
            ("code review", 3),
            ("review this code", 3),
            ("review the code", 3),
            ("review ... diff", 3),
            ("review ... patch", 3),
            ("review ... pull request", 3),
            ("review ... pr", 3),
            ("review ... function", 3),
            ("lint*", 3),
            ("find bugs", 3),
            ("find the bug", 3),
            ("style issues", 3),
            ("style problems", 3),
            ("code smell*", 3),
            ("look over", 2),
            ("naming problems", 3),
            ("obvious mistakes", 3),
            ("obviously broken", 3),
            ("review", 2),
            ("audit", 2),
            ("patch", 2),
            ("diff", 2),
            ("pull request", 2),
            ("style", 1),
            ("naming", 1),
            ("bug", 1),
            ("bugs", 1),
            ("mistakes", 1),
        ],
    ),
    (
        "json",
        &[
            ("json", 3),
            ("structured output", 3),
            ("schema", 2),
            ("keys", 1),
            ("array", 1),
            ("object", 1),
        ],
    ),
    (
        "reasoning",
        &[
            ("why", 3),
            ("figure out", 3),
            ("work out", 3),
            ("root cause", 3),
            ("trade-off*", 3),
            ("tradeoff*", 3),
            ("pros and cons", 3),
            ("should we", 3),
            ("should i", 3),
            ("prove", 3),
            ("step by step", 3),
            ("what would happen", 3),
            ("what will break", 3),
            ("which ... will break", 3),
            ("what could cause", 3),
            ("likely cause", 3),
            ("what's going on", 3),
            ("what is going on", 3),
            ("decide", 3),
            ("plan", 3),
            ("roadmap", 3),
            ("strategy", 3),
            ("calculat*", 3),
            ("compare", 3),
            ("versus", 3),
            ("vs", 3),
            ("debug*", 3),
            ("diagnos*", 3),
            ("design", 3),
            ("architect*", 3),
            ("cause", 2),
            ("impact", 2),
            ("optimi*", 2),
        ],
    ),
    (
        "creative",
        &[
            ("poem*", 3),
            ("haiku*", 3),
            ("limerick*", 3),
            ("story", 3),
            ("stories", 3),
            ("slogan*", 3),
            ("tagline*", 3),
            ("lyrics", 3),
            ("jingle", 3),
            ("blog post*", 3),
            ("essay*", 3),
            ("novel", 3),
            ("chapter", 3),
            ("name ideas", 3),
            ("names for", 3),
            ("creative", 3),
            ("brainstorm", 2),
            ("headline*", 2),
            ("joke*", 2),
            ("pun*", 2),
            ("copy", 2),
            ("speech", 2),
            ("announcement", 2),
        ],
    ),
    (
        "knowledge",
        &[
            ("who is", 3),
            ("who was", 3),
            ("who won", 3),
            ("who invented", 3),
            ("when did", 3),
            ("when was", 3),
            ("capital of", 3),
            ("history of", 3),
            ("what year", 3),
            ("define", 3),
            ("definition of", 3),
            ("explain", 3),
            ("how does", 3),
            ("how do", 2),
            ("what is", 2),
            ("what are", 2),
            ("what's", 2),
            ("tell me about", 3),
            ("is it safe", 3),
            ("is it true", 3),
            ("difference between", 3),
            ("competitors", 2),
            ("still good enough", 3),
        ],
    ),
    (
        "instructions",
        &[
            ("rewrite", 3),
            ("reformat", 3),
            ("translat*", 3),
            ("rephrase", 3),
            ("proofread", 3),
            ("paraphrase", 3),
            ("make this ... sound", 3),
            ("make it sound", 3),
            ("plain english", 3),
            ("shorten", 3),
            ("format ... as", 3),
            ("put this into", 2),
            ("more formal", 3),
            ("friendlier", 3),
            ("tone", 2),
            ("markdown table", 2),
            ("format", 1),
            ("polish", 2),
            ("edit", 1),
        ],
    ),
];

/// Creative cues of the short pieces the matrix lets small models write.
pub const SHORT_CREATIVE: &[&str] = &[
    "haiku*",
    "limerick*",
    "slogan*",
    "tagline*",
    "name ideas",
    "names for",
    "jingle",
    "joke*",
    "pun*",
    "headline*",
];

/// Knowledge cues that, asked about a given input, are a question answered from context (the
/// matrix's RAG condition): they count for extraction then.
const CONTEXT_QUESTIONS: &[&str] = &["what is", "what are", "what's"];

/// Words that point at a given input (`this invoice`, `the attached file`).
const POINTS_AT_INPUT: &[&str] = &[
    "this",
    "these",
    "attached",
    "below",
    "following",
    "the text",
    "the file",
    "the document",
    "here's",
];

/// The outcome of classifying an instruction.
#[derive(Debug, Clone, Serialize)]
pub struct Classified {
    /// A matrix row, or `unclassified` when no cue matched.
    pub task_type: &'static str,
    /// The cues of the chosen type that matched.
    pub matched: Vec<&'static str>,
    /// The cues of the signals found (security, multi-file, ...).
    pub escalators: Vec<&'static str>,
    /// The signals found, whatever the type.
    pub signals: Vec<super::signals::Found>,
    /// Explicit constraints counted in the instruction.
    pub constraints: usize,
    /// How sure the classifier is that the task is of this type rather than of a type the
    /// matrix sends to Claude: the type's score / (its score + the best Claude type's + 1).
    pub confidence: f64,
    /// Every type with a score, best first.
    pub scores: Vec<(&'static str, u32)>,
}

impl Classified {
    /// The word for the confidence: high (0.75+), medium (0.6+), low (above 0), none.
    pub fn confidence_word(&self) -> &'static str {
        confidence_word(self.confidence)
    }
}

pub fn confidence_word(c: f64) -> &'static str {
    if c >= 0.75 {
        "high"
    } else if c >= 0.6 {
        "medium"
    } else if c > 0.0 {
        "low"
    } else {
        "none"
    }
}

fn goes_to_claude(task_type: &str) -> bool {
    row(task_type).is_none_or(|r| r.local == Reliability::No)
}

/// Classifies an instruction (not the input it works on). Each type scores the weights of its
/// cues that occur; the best score wins, and a tie goes to the type the matrix sends to Claude
/// (fail safe), then to the matrix's order. No cue at all is `unclassified`.
pub fn classify(instruction: &str) -> Classified {
    classify_with(instruction, false)
}

/// As `classify`, knowing whether the task comes with an input: a question about that input
/// (`What is the total due on this invoice?`) is answered from context, so it is extraction.
pub fn classify_with(instruction: &str, has_input: bool) -> Classified {
    classify_as(instruction, has_input, true)
}

/// The task type an ensemble's name and description describe: as `classify`, but a tie goes
/// to the matrix's order (an ensemble is built to run locally, so fail-safe ties do not apply).
pub fn describes(about: &str) -> &'static str {
    classify_as(about, false, false).task_type
}

fn classify_as(instruction: &str, has_input: bool, fail_safe: bool) -> Classified {
    let words = super::signals::words(instruction);
    let about_input = has_input
        && POINTS_AT_INPUT
            .iter()
            .any(|p| super::signals::matches(&words, p));
    let mut scored: Vec<(&'static str, u32, Vec<&'static str>)> = Vec::new();
    let mut moved = 0;
    for (task_type, cues) in CUES {
        let mut score = 0;
        let mut matched = Vec::new();
        for (cue, weight) in cues.iter() {
            if super::signals::matches(&words, cue) {
                if about_input && *task_type == "knowledge" && CONTEXT_QUESTIONS.contains(cue) {
                    moved += 1;
                    continue;
                }
                score += weight;
                matched.push(*cue);
            }
        }
        scored.push((task_type, score, matched));
    }
    if moved > 0
        && let Some(e) = scored.iter_mut().find(|s| s.0 == "extraction")
    {
        e.1 += 2;
        e.2.push("a question about the given input");
    }
    let order = |t: &str| {
        MATRIX
            .iter()
            .position(|r| r.task_type == t)
            .unwrap_or(usize::MAX)
    };
    scored.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then(if fail_safe {
                goes_to_claude(b.0).cmp(&goes_to_claude(a.0))
            } else {
                std::cmp::Ordering::Equal
            })
            .then(order(a.0).cmp(&order(b.0)))
    });
    let signals = super::signals::signals(&words, instruction);
    let constraints = super::signals::constraints(instruction);
    let scores: Vec<(&'static str, u32)> = scored
        .iter()
        .filter(|s| s.1 > 0)
        .map(|s| (s.0, s.1))
        .collect();
    let escalators = signals.iter().map(|f| f.cue).collect();
    let Some((task_type, top, matched)) = scored.into_iter().next().filter(|s| s.1 > 0) else {
        return Classified {
            task_type: "unclassified",
            matched: Vec::new(),
            escalators,
            signals,
            constraints,
            confidence: 0.0,
            scores,
        };
    };
    let rival = if goes_to_claude(task_type) {
        scores.get(1).map(|s| s.1).unwrap_or(0)
    } else {
        scores
            .iter()
            .filter(|s| goes_to_claude(s.0))
            .map(|s| s.1)
            .max()
            .unwrap_or(0)
    };
    let confidence = f64::from(top) / f64::from(top + rival + 1);
    Classified {
        task_type,
        matched,
        escalators,
        signals,
        constraints,
        confidence,
        scores,
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
            ("Rewrite this email so it sounds friendlier", "instructions"),
        ];
        for (task, want) in cases {
            assert_eq!(classify(task).task_type, want, "{task}");
        }
    }

    #[test]
    fn no_cue_is_unclassified_and_a_tie_goes_to_claude() {
        let c = classify("Kafka or SQS for our event bus?");
        assert_eq!(c.task_type, "unclassified");
        assert_eq!(c.confidence, 0.0);
        // `explain` (knowledge) and `summarize` (summarization) weigh the same: knowledge wins.
        let c = classify("Explain and summarize the outage");
        assert_eq!(c.task_type, "knowledge");
    }

    #[test]
    fn a_question_about_the_given_input_is_extraction() {
        let q = "What is the total amount due on this invoice?";
        assert_eq!(classify_with(q, true).task_type, "extraction");
        assert_eq!(classify_with(q, false).task_type, "knowledge");
        // An explanation stays knowledge, input or not.
        assert_eq!(
            classify_with("Explain what this regex does", true).task_type,
            "knowledge"
        );
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
