//! A located YAML tree.
//!
//! serde-saphyr parses the text (YAML 1.1 scalars, anchors, merges); this module keeps every node's
//! line and column so later stages can point at the exact place of a problem. Duplicate keys are
//! passed through by the parser and resolved here: the last one wins, as PyYAML does, and each
//! duplicate is reported as a warning.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// Largest YAML file orc will read (bytes). Real ensembles are a few kilobytes; 10,000-agent
/// swarms are about 1 MiB.
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;
/// Deepest nesting of collections accepted.
pub const MAX_DEPTH: usize = 32;
/// Most YAML nodes in one file (a 10,000-agent swarm needs about 100,000).
pub const MAX_NODES: usize = 2_000_000;

/// A 1-based line and column in a source file (0 when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    pub const UNKNOWN: Pos = Pos { line: 0, column: 0 };

    fn from_location(loc: serde_saphyr::Location) -> Pos {
        Pos {
            line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
            column: u32::try_from(loc.column()).unwrap_or(u32::MAX),
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

/// A mapping entry: key text, key position, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A key that appeared more than once in one mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct DuplicateKey {
    pub key: String,
    /// Where the overridden occurrence was.
    pub first: Pos,
    /// Where the winning occurrence is.
    pub last: Pos,
}

/// A parsed document and what the parse noticed.
#[derive(Debug, Clone)]
pub struct Document {
    pub root: Node,
    pub duplicates: Vec<DuplicateKey>,
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

impl Value {
    /// The YAML type name used in messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// The entry for `key` in a mapping (after duplicate resolution there is at most one).
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.as_map()?.iter().find(|e| e.key == key)
    }

    /// Converts to JSON (for options, parameters and other free-form values).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => {
                serde_json::Value::Array(items.iter().map(Node::to_json).collect())
            }
            Value::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Parses one YAML document into a located tree.
pub fn parse(text: &str) -> Result<Document, SyntaxError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(SyntaxError {
            pos: Pos::UNKNOWN,
            message: format!(
                "file is {} bytes; orc reads YAML files of at most {} bytes",
                text.len(),
                MAX_FILE_BYTES
            ),
        });
    }
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.flow_nesting_limit = MAX_DEPTH;
    budget.max_nodes = MAX_NODES;
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        budget: Some(budget),
    };
    let raw: Option<Spanned<RawNode>> = serde_saphyr::from_str_with_options(text, options)
        .map_err(|e| {
            let pos = e.location().map(Pos::from_location).unwrap_or(Pos::UNKNOWN);
            SyntaxError {
                pos,
                message: first_line(&e.without_snippet().to_string()),
            }
        })?;
    let mut duplicates = Vec::new();
    let root = match raw {
        Some(mut node) => {
            if !text.ends_with(['\n', '\r'])
                && last_str(&node).is_some_and(|s| s.ends_with('\n'))
                && let Some((offset, value)) = eof_block_scalar(text)
            {
                replace_last_str(&mut node, offset, value);
            }
            lower(node, text, &mut duplicates, 0).map_err(|pos| SyntaxError {
                pos,
                message: format!("collections are nested deeper than {MAX_DEPTH} levels"),
            })?
        }
        None => Node {
            pos: Pos { line: 1, column: 1 },
            value: Value::Null,
        },
    };
    Ok(Document { root, duplicates })
}

/// PyYAML's value for a block scalar (`|`, `>`, with any chomping indicator) whose last line
/// ends the file without a line break, with the byte offset where its content starts.
///
/// serde-saphyr reads such a line as if it ended with a line break (as the YAML test suite
/// expects), so `"key: |\n  text"` would be `"text\n"`; PyYAML (what llm-orc reads with), like
/// libyaml, gives `"text"`. The parser underneath has the libyaml reading as an option that
/// serde-saphyr does not expose, so the last scalar is read again with it. Only a file that does
/// not end with a line break pays for the second pass.
fn eof_block_scalar(text: &str) -> Option<(usize, String)> {
    if text.is_empty() || text.ends_with(['\n', '\r']) {
        return None;
    }
    let options = granit_parser::options! {
        block_scalar_eof_without_line_feed: true,
        flow_nesting_limit: MAX_DEPTH + 1,
        block_nesting_limit: MAX_DEPTH + 1,
    };
    let mut last = None;
    for event in granit_parser::Parser::new_from_str_with_options(text, options) {
        // The text already parsed once; an error here only means there is nothing to adjust.
        let (event, span) = event.ok()?;
        match event {
            granit_parser::Event::Scalar(value, style, _, _) => {
                last = matches!(
                    style,
                    granit_parser::ScalarStyle::Literal | granit_parser::ScalarStyle::Folded
                )
                .then(|| span.start.byte_offset().map(|at| (at, value.into_owned())))
                .flatten();
            }
            granit_parser::Event::Alias(_)
            | granit_parser::Event::SequenceStart(..)
            | granit_parser::Event::MappingStart(..) => last = None,
            _ => {}
        }
    }
    last
}

/// The last scalar in document order, when it is a string: only a block scalar ending in a line
/// feed can differ from PyYAML's reading, so others skip the second pass.
fn last_str(node: &Spanned<RawNode>) -> Option<&str> {
    let mut node = node;
    loop {
        match &node.value {
            RawNode::Seq(items) => node = items.last()?,
            RawNode::Map(entries) => node = &entries.last()?.1,
            RawNode::Str(s) => return Some(s),
            _ => return None,
        }
    }
}

/// Replaces the value of the last scalar in document order when it is the string that starts at
/// `offset` (the block scalar [`eof_block_scalar`] read).
fn replace_last_str(node: &mut Spanned<RawNode>, offset: usize, value: String) {
    let mut node = node;
    loop {
        match &mut node.value {
            RawNode::Seq(items) => match items.last_mut() {
                Some(item) => node = item,
                None => return,
            },
            RawNode::Map(entries) => match entries.last_mut() {
                Some((_, v)) => node = v,
                None => return,
            },
            RawNode::Str(s) => {
                let at = node.referenced.span().byte_offset();
                if at.and_then(|a| usize::try_from(a).ok()) == Some(offset) {
                    *s = value;
                } else {
                    tracing::debug!(?at, offset, "block scalar at end of file not matched");
                }
                return;
            }
            _ => return,
        }
    }
}

fn first_line(s: &str) -> String {
    let line = s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim();
    line.to_string()
}

/// What the serde visitor builds: positions, but duplicates not yet resolved.
#[derive(Debug)]
enum RawNode {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<RawNode>>),
    Map(Vec<(Spanned<RawKey>, Spanned<RawNode>)>),
}

/// A mapping key; non-string scalar keys are kept as their text.
#[derive(Debug)]
struct RawKey(String);

/// The source text of a scalar, when the parser recorded its byte span.
fn source_text(text: &str, loc: serde_saphyr::Location) -> Option<&str> {
    let span = loc.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    text.get(start..start.checked_add(len)?)
}

fn lower(
    node: Spanned<RawNode>,
    text: &str,
    dups: &mut Vec<DuplicateKey>,
    depth: usize,
) -> Result<Node, Pos> {
    let pos = Pos::from_location(node.referenced);
    if depth > MAX_DEPTH {
        return Err(pos);
    }
    let value = match node.value {
        RawNode::Null => Value::Null,
        // YAML 1.1 lists y/n as booleans but PyYAML (what llm-orc reads with) does not: keep them
        // as the strings they are there.
        RawNode::Bool(b) => match source_text(text, node.referenced) {
            Some(src @ ("y" | "Y" | "n" | "N")) => Value::Str(src.to_string()),
            _ => Value::Bool(b),
        },
        RawNode::Int(i) => Value::Int(i),
        RawNode::Float(f) => Value::Float(f),
        RawNode::Str(s) => Value::Str(s),
        RawNode::Seq(items) => Value::Seq(
            items
                .into_iter()
                .map(|n| lower(n, text, dups, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        RawNode::Map(entries) => {
            let mut out: Vec<Entry> = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let key_pos = Pos::from_location(k.referenced);
                let value = lower(v, text, dups, depth + 1)?;
                let key = k.value.0;
                if let Some(existing) = out.iter_mut().find(|e| e.key == key) {
                    dups.push(DuplicateKey {
                        key: key.clone(),
                        first: existing.key_pos,
                        last: key_pos,
                    });
                    // PyYAML keeps the last value; keep the first key's slot so that the order of
                    // keys stays as written.
                    existing.key_pos = key_pos;
                    existing.value = value;
                } else {
                    out.push(Entry {
                        key,
                        key_pos,
                        value,
                    });
                }
            }
            Value::Map(out)
        }
    };
    Ok(Node { pos, value })
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawNode;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawNode, E> {
        Ok(RawNode::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawNode, E> {
        Ok(RawNode::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawNode, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => RawNode::Int(i),
            Err(_) => RawNode::Float(v as f64),
        })
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawNode, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => RawNode::Int(i),
            Err(_) => RawNode::Float(v as f64),
        })
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawNode, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => RawNode::Int(i),
            Err(_) => RawNode::Float(v as f64),
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawNode, E> {
        Ok(RawNode::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawNode, E> {
        Ok(RawNode::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<RawNode, E> {
        Ok(RawNode::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<RawNode, E> {
        Ok(RawNode::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_none<E: de::Error>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }
    fn visit_unit<E: de::Error>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawNode, D::Error> {
        d.deserialize_any(RawVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawNode, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<RawNode>>()? {
            items.push(item);
        }
        Ok(RawNode::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNode, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<RawKey>>()? {
            let value = map.next_value::<Spanned<RawNode>>()?;
            entries.push((key, value));
        }
        Ok(RawNode::Map(entries))
    }
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

impl<'de> Deserialize<'de> for RawKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let node = d.deserialize_any(RawVisitor)?;
        Ok(RawKey(match node {
            RawNode::Null => "null".to_string(),
            RawNode::Bool(b) => if b { "True" } else { "False" }.to_string(),
            RawNode::Int(i) => i.to_string(),
            RawNode::Float(f) => f.to_string(),
            RawNode::Str(s) => s,
            RawNode::Seq(_) | RawNode::Map(_) => {
                return Err(de::Error::custom("a mapping key must be a scalar"));
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_last_duplicate_wins() {
        let doc = parse("name: a\nagents:\n  - name: x\n    name: y\nflag: yes\n").unwrap();
        let agents = doc.root.get("agents").unwrap();
        assert_eq!(agents.key_pos, Pos { line: 2, column: 1 });
        let Value::Seq(items) = &agents.value.value else {
            panic!("not a seq")
        };
        let name = items[0].get("name").unwrap();
        assert_eq!(name.value.as_str(), Some("y"));
        assert_eq!(name.key_pos.line, 4);
        assert_eq!(doc.duplicates.len(), 1);
        assert_eq!(doc.duplicates[0].first.line, 3);
        assert_eq!(doc.root.get("flag").unwrap().value.value, Value::Bool(true));
    }

    #[test]
    fn syntax_error_has_a_line() {
        let err = parse("name: a\nagents: [\n  - x\n").unwrap_err();
        assert!(err.pos.line >= 2, "{err:?}");
    }

    #[test]
    fn empty_document_is_null() {
        assert!(parse("").unwrap().root.is_null());
        assert!(parse("# only a comment\n").unwrap().root.is_null());
    }

    fn str_at(text: &str, key: &str) -> String {
        let doc = parse(text).unwrap();
        doc.root
            .get(key)
            .unwrap()
            .value
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A block scalar whose last line ends the file without a line break: the bytes PyYAML 6.0
    /// gives (`yaml.safe_load`), for every chomping indicator, with and without an indentation
    /// indicator.
    #[test]
    fn block_scalar_at_end_of_file_reads_as_pyyaml() {
        let cases = [
            ("|", "a\nb"),
            ("|-", "a\nb"),
            ("|+", "a\nb"),
            (">", "a b"),
            (">-", "a b"),
            (">+", "a b"),
            ("|2", "a\nb"),
            ("|2-", "a\nb"),
            ("|2+", "a\nb"),
            (">2", "a b"),
            (">2-", "a b"),
            (">2+", "a b"),
        ];
        for (indicator, want) in cases {
            let text = format!("x: 1\nk: {indicator}\n  a\n  b");
            assert_eq!(str_at(&text, "k"), want, "{text:?}");
            // The same with the final line break: unchanged (clip and keep end with it).
            let with_break = format!("{text}\n");
            let want_break = if indicator.ends_with('-') {
                want.to_string()
            } else {
                format!("{want}\n")
            };
            assert_eq!(str_at(&with_break, "k"), want_break, "{with_break:?}");
        }
        // Deeper, in a sequence, after blank lines, with trailing spaces, with a tag.
        let doc =
            parse("agents:\n  - name: a\n    system_prompt: |\n      One.\n\n      Two.").unwrap();
        assert_eq!(
            doc.root.to_json(),
            serde_json::json!({"agents": [{"name": "a", "system_prompt": "One.\n\nTwo."}]})
        );
        assert_eq!(str_at("k: |\n  a\n  b  ", "k"), "a\nb  ");
        assert_eq!(str_at("k: |+\n  a\n     ", "k"), "a\n   ");
        assert_eq!(str_at("k: !!str |\n  a", "k"), "a");
        assert_eq!(str_at("k: |\n  a\r\n  b", "k"), "a\nb");
        assert_eq!(
            parse("- |\n  a").unwrap().root.to_json(),
            serde_json::json!(["a"])
        );
    }

    /// What is not the last line of a block scalar keeps its line break, as in PyYAML.
    #[test]
    fn block_scalar_followed_by_other_lines_keeps_its_break() {
        // A trailing blank or under-indented line, a comment: PyYAML keeps the content's break.
        assert_eq!(str_at("k: |\n  a\n  b\n  ", "k"), "a\nb\n");
        assert_eq!(str_at("k: |+\n  a\n  b\n\n  ", "k"), "a\nb\n\n");
        assert_eq!(str_at("k: |\n  a\n# c", "k"), "a\n");
        assert_eq!(str_at("k: |\n  a\n ", "k"), "a\n");
        // Another key after it.
        assert_eq!(str_at("k: |\n  a\nj: 1", "k"), "a\n");
        // An alias to it at the end.
        let doc = parse("k: &x |\n  a\nj: *x").unwrap();
        assert_eq!(
            doc.root.to_json(),
            serde_json::json!({"k": "a\n", "j": "a\n"})
        );
        // A duplicate key later in the file wins; the block scalar it overrides is not touched.
        assert_eq!(str_at("k: |\n  a\nk: |\n  b", "k"), "b");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(200) + &"]".repeat(200);
        assert!(parse(&text).is_err());
    }
}
