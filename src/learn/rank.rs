//! Which ensemble a task is about: the project's, the library's and the global ensembles ranked
//! by the relevance of their name, description and agents' prompts to the instruction (BM25 per
//! field, the `bm25` crate), weighted by how well each has done on this task type. A judged
//! failure demotes that ensemble for that type only.
//!
//! The tokenizer is ours: words as the classifier reads them, British `-ise` spelt `-ize`, a
//! short table of the task vocabulary's synonyms (`patch` is a `diff`, `tl;dr` a `summary`),
//! English stop words dropped, Snowball English stems (`rust-stemmers`).

use bm25::{Embedder, EmbedderBuilder, Scorer, Tokenizer};
use rust_stemmers::{Algorithm, Stemmer};
use serde::Serialize;

use super::classify;
use super::signals::words;

/// Weights of the fields: an ensemble's name says most about it, its prompts least.
const FIELDS: [(&str, f32); 3] = [("name", 2.0), ("description", 1.5), ("prompts", 1.0)];
/// Below this relevance no ensemble is about the task: build one. Tuned on the development set.
pub const MIN_RELEVANCE: f64 = 7.0;
/// How many candidates an answer lists.
pub const TOP: usize = 3;

#[rustfmt::skip]
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "of", "to", "in", "on", "at", "by", "for", "with",
    "from", "into", "onto", "as", "is", "are", "was", "were", "be", "been", "being", "it", "its",
    "this", "that", "these", "those", "there", "here", "what", "which", "who", "whom", "whose",
    "when", "where", "how", "why", "can", "could", "would", "will", "shall", "may", "might", "do",
    "does", "did", "done", "have", "has", "had", "i", "me", "my", "we", "us", "our", "you", "your",
    "they", "them", "their", "he", "she", "him", "her", "his", "hers", "so", "if", "then", "than",
    "too", "very", "just", "also", "all", "any", "each", "every", "some", "one", "two", "three",
    "five", "few", "more", "most", "other", "such", "no", "not", "only", "own", "same", "up",
    "down", "out", "over", "under", "again", "about", "below", "above", "after", "before",
    "please", "give", "get", "make", "want", "need", "let", "s", "t", "don't", "what's", "it's",
    "let's", "here's", "following", "given", "text", "task", "write", "turn", "find", "list",
    "short", "small", "new", "like", "way", "four", "six", "seven", "eight", "nine", "ten",
    "first", "second", "third", "last", "next", "whole", "many", "much",
];

/// The words that name a kind of task rather than what it is about (after synonyms, before
/// stemming): they match every ensemble of that kind, so they rank only when the instruction
/// says nothing else an ensemble knows.
#[rustfmt::skip]
const TASK_VERBS: &[&str] = &[
    "classify", "summary", "extract", "review", "rewrite", "translate", "convert", "generate",
    "implement", "create", "produce", "check", "look", "suggest", "come", "draft", "tell", "point",
    "show", "return", "put", "help", "use", "using", "code",
];

/// Words of the task vocabulary with one meaning, spelt one way before stemming.
const SYNONYMS: &[(&str, &str)] = &[
    ("patch", "diff"),
    ("pr", "diff"),
    ("changeset", "diff"),
    ("tldr", "summary"),
    ("gist", "summary"),
    ("recap", "summary"),
    ("synopsis", "summary"),
    ("condense", "summary"),
    ("summarize", "summary"),
    ("summarized", "summary"),
    ("summaries", "summary"),
    ("digest", "summary"),
    ("categorize", "classify"),
    ("categorized", "classify"),
    ("classification", "classify"),
    ("triage", "classify"),
    ("label", "classify"),
    ("labels", "classify"),
    ("tag", "classify"),
    ("rate", "classify"),
    ("flag", "classify"),
    ("sort", "classify"),
    ("bucket", "classify"),
    ("pull", "extract"),
    ("grab", "extract"),
    ("extraction", "extract"),
    ("mistake", "bug"),
    ("mistakes", "bug"),
    ("broken", "bug"),
    ("pytest", "test"),
    ("unittest", "test"),
    ("e-mail", "email"),
    ("telephone", "phone"),
    ("mobile", "phone"),
    ("company", "organization"),
    ("companies", "organization"),
    ("organisation", "organization"),
    ("firm", "organization"),
    ("people", "person"),
    ("persons", "person"),
    ("city", "place"),
    ("cities", "place"),
    ("town", "place"),
    ("country", "place"),
    ("countries", "place"),
    ("standup", "meeting"),
    ("stand-up", "meeting"),
    ("minutes", "meeting"),
    ("helper", "function"),
    ("routine", "function"),
    ("slogans", "tagline"),
    ("slogan", "tagline"),
    ("motto", "tagline"),
    ("limerick", "poem"),
    ("haiku", "poem"),
    ("verse", "poem"),
    ("friendlier", "tone"),
    ("formal", "tone"),
    ("plainer", "tone"),
    ("reword", "rewrite"),
    ("rephrase", "rewrite"),
];

/// Words of ensemble texts and tasks as BM25 terms.
#[derive(Clone)]
pub struct Terms {
    stemmer: std::sync::Arc<Stemmer>,
}

impl Default for Terms {
    fn default() -> Self {
        Terms {
            stemmer: std::sync::Arc::new(Stemmer::create(Algorithm::English)),
        }
    }
}

/// `-ise`, `-ised`, `-ising`, `-isation` spelt with `z` (summarise, organisation, categorise).
fn american(w: &str) -> String {
    for (from, to) in [
        ("isation", "ization"),
        ("isations", "izations"),
        ("ising", "izing"),
        ("ised", "ized"),
        ("ises", "izes"),
        ("ise", "ize"),
    ] {
        if let Some(stem) = w.strip_suffix(from)
            && stem.len() >= 4
        {
            return format!("{stem}{to}");
        }
    }
    w.to_string()
}

impl Tokenizer for Terms {
    fn tokenize(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for w in words(text) {
            let w = american(&w);
            let w = SYNONYMS
                .iter()
                .find(|(from, _)| *from == w)
                .map(|(_, to)| (*to).to_string())
                .unwrap_or(w);
            if STOP_WORDS.contains(&w.as_str()) || w.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            out.push(self.stemmer.stem(&w).into_owned());
        }
        out
    }
}

/// What ranking needs of one ensemble.
#[derive(Debug, Clone)]
pub struct Doc {
    /// The name routing answers with (qualified by its sub-folder).
    pub name: String,
    /// `local`, `library` or `global`.
    pub tier: &'static str,
    pub description: String,
    /// Every LLM agent's system prompt and every agent's name, joined.
    pub prompts: String,
}

impl Doc {
    /// The task type the ensemble's own name and description point at (`unclassified` when
    /// none): the same classifier as tasks.
    pub fn task_type(&self) -> &'static str {
        let about = format!(
            "{} {}",
            self.name.replace(['-', '_', '/'], " "),
            self.description
        );
        classify::describes(&about)
    }
}

/// One ranked ensemble.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub ensemble: String,
    pub tier: &'static str,
    /// relevance x type fit x quality: what the ranking sorts by.
    pub score: f64,
    /// BM25 of the instruction against name (x2), description (x1.5) and prompts (x1): its
    /// content words plus half its task verbs.
    pub relevance: f64,
    /// The content words' part of it.
    pub content: f64,
    /// False when the task enumerates labels and this ensemble names fewer than half of them.
    #[serde(skip_serializing_if = "is_true")]
    pub labels_fit: bool,
    /// Whether the instruction had content words any ensemble knows.
    #[serde(skip)]
    pub content_known: bool,
    /// The task type its name and description point at.
    pub ensemble_type: &'static str,
    /// 1.25 when that is the task's type, 0.5 when it is another type, 1 when unclassified.
    pub type_fit: f64,
    /// 0.5 + the smoothed mean of its judged local runs on this task type (a neutral prior of
    /// 0.6 worth two verdicts), so 0.5 - 1.5.
    pub quality: f64,
    /// Judged runs of this ensemble on this task type.
    pub evaluations: u64,
    /// Judged and found wanting on this task type: never chosen for it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub demoted: bool,
    /// The ensemble the learned routing config names for this task type.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub learned: bool,
}

fn is_true(b: &bool) -> bool {
    *b
}

impl Candidate {
    /// Whether routing may choose it: not demoted, naming the task's labels (when it lists
    /// some), and about the task: its content words reach `MIN_RELEVANCE` (type fit applied),
    /// or, when the instruction names nothing any ensemble knows (`Summarize this:`), its task
    /// verbs match and its type is the task's.
    pub fn eligible(&self) -> bool {
        !self.demoted
            && self.labels_fit
            && (self.content * self.type_fit >= MIN_RELEVANCE
                || (!self.content_known && self.relevance > self.content && self.type_fit > 1.0))
    }
}

/// How relevant one ensemble is to an instruction.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Relevance {
    /// BM25 over the instruction's content words (what the task is about), fields weighted.
    pub content: f64,
    /// BM25 over its task verbs (`summarize`, `classify`, ...), fields weighted.
    pub verb: f64,
    /// Whether any content word of the instruction occurs in any ensemble at all: when none
    /// does, the instruction says nothing an ensemble knows and the verbs decide.
    pub content_known: bool,
}

impl Relevance {
    /// One figure for sorting: content first, verbs at half weight.
    pub fn total(&self) -> f64 {
        self.content + 0.5 * self.verb
    }
}

/// The instruction's terms, each once, weighted 2, or 1 when it only says what the input is
/// (`in this email`, `from these notes`: the two words after `in`/`from`/`of`/`on` + `this`,
/// `these`, `the`, ...): a task about dates in an email is about dates.
fn weighted_terms(terms: &Terms, query: &str) -> Vec<(String, usize)> {
    const PREPOSITIONS: &[&str] = &["in", "from", "of", "on"];
    const DETERMINERS: &[&str] = &[
        "this", "these", "that", "those", "the", "my", "our", "their",
    ];
    let ws = words(query);
    let mut out: Vec<(String, usize)> = Vec::new();
    let mut describes_input = 0usize;
    for (i, w) in ws.iter().enumerate() {
        if i > 0 && PREPOSITIONS.contains(&ws[i - 1].as_str()) && DETERMINERS.contains(&w.as_str())
        {
            describes_input = 3; // the determiner and the two words after it
        }
        let weight = if describes_input > 0 { 1 } else { 2 };
        describes_input = describes_input.saturating_sub(1);
        for t in terms.tokenize(w) {
            match out.iter_mut().find(|(x, _)| *x == t) {
                Some(e) => e.1 = e.1.max(weight),
                None => out.push((t, weight)),
            }
        }
    }
    out
}

/// BM25 relevance of `query` to each document, in the order of `docs`.
pub fn relevance(docs: &[Doc], query: &str) -> Vec<Relevance> {
    let terms = Terms::default();
    let verbs: Vec<String> = TASK_VERBS.iter().flat_map(|v| terms.tokenize(v)).collect();
    let (verb_q, content_q): (Vec<String>, Vec<String>) = weighted_terms(&terms, query)
        .into_iter()
        .flat_map(|(t, w)| std::iter::repeat_n(t, w))
        .partition(|t| verbs.contains(t));
    let mut out = vec![Relevance::default(); docs.len()];
    if docs.is_empty() {
        return out;
    }
    for (field, weight) in FIELDS {
        let mut texts: Vec<String> = docs
            .iter()
            .map(|d| match field {
                "name" => d.name.replace(['-', '_', '/'], " "),
                "description" => d.description.clone(),
                _ => d.prompts.clone(),
            })
            .collect();
        // The background: one document per matrix row, never ranked. A project with one or two
        // ensembles would otherwise give every word an inverse document frequency near zero.
        texts.extend(classify::MATRIX.iter().map(|r| match field {
            "name" => r.task_type.replace('-', " "),
            "description" => format!("{} {}", r.conditions, r.failure_mode),
            _ => r.shape.to_string(),
        }));
        let corpus: Vec<&str> = texts.iter().map(String::as_str).collect();
        let embedder: Embedder<u32, Terms> =
            EmbedderBuilder::with_tokenizer_and_fit_to_corpus(terms.clone(), &corpus).build();
        let mut scorer = Scorer::<usize>::new();
        for (i, t) in corpus.iter().enumerate() {
            scorer.upsert(&i, embedder.embed(t));
        }
        let content = embedder.embed(&content_q.join(" "));
        let verb = embedder.embed(&verb_q.join(" "));
        for (i, r) in out.iter_mut().enumerate() {
            let c = f64::from(scorer.score(&i, &content).unwrap_or(0.0) * weight);
            r.content += c;
            r.verb += f64::from(scorer.score(&i, &verb).unwrap_or(0.0) * weight);
        }
    }
    let known = out.iter().any(|r| r.content > 0.0);
    for r in &mut out {
        r.content_known = known;
    }
    out
}

/// The labels an instruction enumerates (`as bug, feature or question`, `into low, medium or
/// high`, `: spam, ham`), lower case; empty when it lists none.
pub fn labels(instruction: &str) -> Vec<String> {
    let lower = instruction.to_lowercase();
    for marker in [" as ", " into ", ": ", " by "] {
        let Some(i) = lower.find(marker) else {
            continue;
        };
        let tail = &lower[i + marker.len()..];
        let tail = tail.split(['.', '?', ';', '\n']).next().unwrap_or("");
        if !tail.contains(" or ") && !tail.contains(',') {
            continue;
        }
        let items: Vec<String> = tail
            .split([',', '/'])
            .flat_map(|p| p.split(" or "))
            .map(|p| {
                p.trim()
                    .trim_start_matches("or ")
                    .trim_start_matches("and ")
                    .trim()
            })
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        // Labels are short: one to three words each, two or more of them.
        if items.len() >= 2 && items.iter().all(|p| p.split_whitespace().count() <= 3) {
            return items;
        }
    }
    Vec::new()
}

/// Whether an ensemble's text names at least half of the labels a task enumerates.
pub fn labels_fit(doc: &Doc, labels: &[String]) -> bool {
    if labels.is_empty() {
        return true;
    }
    let terms = Terms::default();
    let text: Vec<String> = terms.tokenize(&format!("{} {}", doc.description, doc.prompts));
    let found = labels
        .iter()
        .filter(|l| {
            let t = terms.tokenize(l);
            !t.is_empty() && t.iter().all(|w| text.contains(w))
        })
        .count();
    found * 2 >= labels.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str, description: &str, prompts: &str) -> Doc {
        Doc {
            name: name.into(),
            tier: "local",
            description: description.into(),
            prompts: prompts.into(),
        }
    }

    #[test]
    fn terms_stem_spell_and_drop_stop_words() {
        let t = Terms::default();
        assert_eq!(
            t.tokenize("Summarise the reviews"),
            t.tokenize("summary review")
        );
        assert_eq!(t.tokenize("Look over this patch"), t.tokenize("look diff"));
        assert_eq!(t.tokenize("TL;DR"), t.tokenize("summary"));
        assert!(t.tokenize("the of and this").is_empty());
    }

    #[test]
    fn the_purpose_built_ensemble_ranks_first() {
        let docs = vec![
            doc(
                "composable-report",
                "Composable: two ensembles run as agents (a fan-in review and a sequential draft); a judge compares them",
                "Given a review of the input and a rewritten draft, say whether the draft addresses the review.",
            ),
            doc(
                "diff-review",
                "Review a unified diff (a patch or pull request) for obvious bugs, naming and style in the changed lines",
                "List obvious bugs the change introduces",
            ),
            doc(
                "invoice-extract",
                "Extract the fields of an invoice",
                "invoice number",
            ),
        ];
        let r = relevance(
            &docs,
            "Look over this patch for obvious mistakes and naming problems",
        );
        assert!(
            r[1].content > r[0].content * 2.0 && r[1].content > r[2].content,
            "{r:?}"
        );
        assert!(r[1].content >= MIN_RELEVANCE, "{r:?}");
        let r = relevance(&docs, "Translate the memo into Basque");
        assert!(
            r.iter().all(|x| x.content == 0.0 && !x.content_known),
            "{r:?}"
        );
        assert_eq!(docs[1].task_type(), "code-review");
        assert_eq!(
            labels("Classify these as bug, feature request or question."),
            ["bug", "feature request", "question"]
        );
        assert_eq!(
            labels("Label each review: positive, negative, neutral"),
            ["positive", "negative", "neutral"]
        );
        assert!(labels("Summarize the report for the board.").is_empty());
        let spam = labels("Classify these emails as spam or ham");
        assert!(!labels_fit(&docs[1], &spam) && labels_fit(&docs[1], &[]));
        assert!(labels_fit(
            &docs[1],
            &labels("Sort into bugs, style or naming")
        ));
        assert_eq!(docs[2].task_type(), "extraction");
    }
}
