//! The generality signals: evidence that an ensemble is tied to its project (hard-coded paths,
//! words naming the project, profiles orc does not ship, scripts only the project has).

use std::fs;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::closure::{Closure, ScriptHome};
use super::{Dest, STANDARD_PROFILES};
use crate::compile::{CompiledEnsemble, Kind};
use crate::service::Service;

/// What ties an ensemble to its project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    HardCodedPath,
    ProjectWord,
    NonStandardProfile,
    ProjectScript,
}

impl SignalKind {
    pub fn label(self) -> &'static str {
        match self {
            SignalKind::HardCodedPath => "hard_coded_path",
            SignalKind::ProjectWord => "project_word",
            SignalKind::NonStandardProfile => "non_standard_profile",
            SignalKind::ProjectScript => "project_script",
        }
    }
}

/// One piece of evidence that an ensemble is tied to its project.
#[derive(Debug, Clone, Serialize)]
pub struct Signal {
    pub kind: SignalKind,
    pub detail: String,
    /// Where it was found (an agent's prompt or parameter, a script line, a profile).
    pub location: String,
}

/// A hard-coded path's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// `/a/b`, `~/a`, `C:\a`
    Absolute,
    /// `./a`, `../a`, or `a/b` that exists in the project.
    ProjectRelative,
}

impl PathKind {
    pub fn label(self) -> &'static str {
        match self {
            PathKind::Absolute => "absolute",
            PathKind::ProjectRelative => "project-relative",
        }
    }
}

/// Names too common to mark a prompt as project-specific.
const GENERIC: &[&str] = &[
    "src",
    "lib",
    "bin",
    "doc",
    "docs",
    "test",
    "tests",
    "spec",
    "specs",
    "target",
    "build",
    "dist",
    "out",
    "output",
    "input",
    "scripts",
    "script",
    "examples",
    "example",
    "assets",
    "data",
    "config",
    "vendor",
    "public",
    "static",
    "tmp",
    "temp",
    "tools",
    "benches",
    "fuzz",
    "ensembles",
    "profiles",
    "artifacts",
    "readme",
    "license",
    "changelog",
    "makefile",
    "main",
    "index",
    "app",
    "notes",
    "node_modules",
    "cache",
    "logs",
    "log",
    "images",
    "fixtures",
];

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `word` (lowercase) occurs in `text` (lowercase) as a whole word.
fn has_word(text: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(i) = text[from..].find(word) {
        let at = from + i;
        let end = at + word.len();
        let before = text[..at].chars().next_back();
        let after = text[end..].chars().next();
        if !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char) {
            return true;
        }
        from = at + word.len().max(1);
        while !text.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

/// Path-like tokens in `text`: absolute paths (`/a/b`, `~/a`, `C:\a`) and paths relative to the
/// project (`./a`, `../a`, or `a/b` that exists under `root`). URLs are not paths.
pub fn hard_coded_paths(text: &str, root: Option<&Path>) -> Vec<(String, PathKind)> {
    let mut out: Vec<(String, PathKind)> = Vec::new();
    let seg_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '~'))
    };
    for raw in text.split(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '"' | '\''
                    | '`'
                    | '('
                    | ')'
                    | ','
                    | ';'
                    | '<'
                    | '>'
                    | '['
                    | ']'
                    | '{'
                    | '}'
                    | '='
                    | '|'
            )
    }) {
        let tok = raw.trim_end_matches(['.', ',', ':', '!', '?']);
        if tok.len() < 3 || tok.contains("://") {
            continue;
        }
        let win = tok.len() > 3
            && tok.as_bytes()[0].is_ascii_alphabetic()
            && tok.as_bytes()[1] == b':'
            && matches!(tok.as_bytes()[2], b'\\' | b'/');
        let kind = if win {
            Some(PathKind::Absolute)
        } else if let Some(rest) = tok.strip_prefix("~/") {
            rest.split('/').all(seg_ok).then_some(PathKind::Absolute)
        } else if let Some(rest) = tok.strip_prefix('/') {
            let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
            (!rest.starts_with('/')
                && segs.len() >= 2
                && segs.iter().all(|s| seg_ok(s))
                && segs[0].chars().any(char::is_alphabetic))
            .then_some(PathKind::Absolute)
        } else if tok.starts_with("./") || tok.starts_with("../") {
            tok.split('/')
                .filter(|s| !s.is_empty())
                .all(seg_ok)
                .then_some(PathKind::ProjectRelative)
        } else if tok.contains('/') && tok.split('/').all(seg_ok) {
            root.filter(|r| r.join(tok).exists())
                .map(|_| PathKind::ProjectRelative)
        } else {
            None
        };
        if let Some(k) = kind
            && !out.iter().any(|(t, _)| t == tok)
        {
            out.push((tok.to_string(), k));
        }
    }
    out
}

/// Words that name this project: its name, its folder, and the folders and files in it (two
/// levels, hidden ones and generic names left out), each with where it comes from.
fn project_words(svc: &Service) -> Vec<(String, String)> {
    let mut words: Vec<(String, String)> = Vec::new();
    let mut add = |w: &str, why: String| {
        let l = w.to_lowercase();
        if l.chars().count() >= 3
            && !GENERIC.contains(&l.as_str())
            && !words.iter().any(|(x, _)| *x == l)
        {
            words.push((l, why));
        }
    };
    if let Some(n) = &svc.project.config.project_name {
        add(n, "the project's name".into());
    }
    let Some(root) = svc.project.dirs.project_root.clone() else {
        return words;
    };
    if let Some(n) = root.file_name() {
        add(&n.to_string_lossy(), "the project's folder name".into());
    }
    let mut budget = 2000usize;
    let mut walk = vec![(root.clone(), 0u8)];
    while let Some((dir, depth)) = walk.pop() {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            if budget == 0 {
                return words;
            }
            budget -= 1;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "target" || name == "node_modules" {
                continue;
            }
            let rel = e
                .path()
                .strip_prefix(&root)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| name.clone());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                add(&name, format!("the project's folder `{rel}/`"));
                if depth == 0 {
                    walk.push((e.path(), 1));
                }
            } else if let Some(stem) = Path::new(&name).file_stem()
                && GENERIC.contains(&stem.to_string_lossy().to_lowercase().as_str())
            {
                // README.md, LICENSE, Makefile...: every project has one.
            } else {
                add(&name, format!("the project's file `{rel}`"));
                if let Some(stem) = Path::new(&name).file_stem().map(|s| s.to_string_lossy())
                    && stem != name
                    && stem.contains(['-', '_'])
                {
                    add(&stem, format!("the project's file `{rel}`"));
                }
            }
        }
    }
    words
}

/// String values in a JSON value, with their key paths.
fn strings_in(v: &Value, path: String, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) => out.push((path, s.clone())),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                strings_in(x, format!("{path}[{i}]"), out);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                strings_in(x, p, out);
            }
        }
        _ => {}
    }
}

impl Service {
    /// The generality signals of a closure, for a destination.
    pub fn signals(&self, c: &Closure, dest: Dest) -> Vec<Signal> {
        let root = self.project.dirs.project_root.clone();
        let words = project_words(self);
        let mut out = Vec::new();
        for e in &c.compiled {
            ensemble_signals(c, e, root.as_deref(), &words, &mut out);
        }
        for s in &c.scripts {
            let Some(path) = &s.path else { continue };
            if s.found_in != Some(ScriptHome::Project) {
                continue;
            }
            out.push(Signal {
                kind: SignalKind::ProjectScript,
                detail: format!(
                    "script `{}` exists only in this project ({})",
                    s.reference,
                    path.display()
                ),
                location: format!("used by {}", s.used_by.join(", ")),
            });
            if let Ok(text) = fs::read_to_string(path) {
                for (i, line) in text.lines().enumerate() {
                    if i == 0 && line.starts_with("#!") {
                        continue;
                    }
                    path_signals(
                        line,
                        root.as_deref(),
                        format!("{}:{}", s.reference, i + 1),
                        &mut out,
                    );
                }
            }
        }
        for p in &c.profiles {
            if !STANDARD_PROFILES.contains(&p.name.as_str()) && !self.profile_at_dest(dest, &p.name)
            {
                out.push(Signal {
                    kind: SignalKind::NonStandardProfile,
                    detail: format!(
                        "profile `{}` is not one of orc's standard profiles ({}) and is not defined at the {} tier",
                        p.name,
                        STANDARD_PROFILES.join(", "),
                        dest.label()
                    ),
                    location: p.source.display().to_string(),
                });
            }
        }
        out
    }
}

/// A signal for every hard-coded path in `text`.
fn path_signals(text: &str, root: Option<&Path>, location: String, out: &mut Vec<Signal>) {
    for (p, kind) in hard_coded_paths(text, root) {
        out.push(Signal {
            kind: SignalKind::HardCodedPath,
            detail: format!("{} path `{p}`", kind.label()),
            location: location.clone(),
        });
    }
}

/// The signals in one ensemble of the closure: paths in its scripts' parameters, paths and
/// project words in its default task and prompts.
fn ensemble_signals(
    c: &Closure,
    e: &CompiledEnsemble,
    root: Option<&Path>,
    words: &[(String, String)],
    out: &mut Vec<Signal>,
) {
    let prefix = if e.file == c.source {
        String::new()
    } else {
        format!("{}: ", e.name)
    };
    let mut prompts: Vec<(String, String)> = Vec::new();
    if let Some(t) = &e.spec.default_task {
        prompts.push((format!("{prefix}default_task"), t.clone()));
    }
    for a in &e.agents {
        match &a.kind {
            Kind::Llm(l) => prompts.push((
                format!("{prefix}agent `{}` system prompt", a.name),
                l.system_prompt.clone(),
            )),
            Kind::Script { parameters, .. } => {
                let mut strs = Vec::new();
                strings_in(&Value::Object(parameters.clone()), String::new(), &mut strs);
                for (k, s) in strs {
                    path_signals(
                        &s,
                        root,
                        format!("{prefix}agent `{}` parameter `{k}`", a.name),
                        out,
                    );
                }
            }
            _ => {}
        }
    }
    for (loc, text) in &prompts {
        path_signals(text, root, loc.clone(), out);
        let lower = text.to_lowercase();
        for (w, why) in words {
            if has_word(&lower, w) {
                out.push(Signal {
                    kind: SignalKind::ProjectWord,
                    detail: format!("`{w}` ({why})"),
                    location: loc.clone(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_text() {
        let found = hard_coded_paths(
            "Read /home/ada/notes.txt and ~/work/x, not http://a.b/c/d or 3/4; see ./out.md.",
            None,
        );
        let toks: Vec<&str> = found.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(toks, ["/home/ada/notes.txt", "~/work/x", "./out.md"]);
        assert_eq!(found[2].1, PathKind::ProjectRelative);
        assert!(hard_coded_paths("a regex /\\s+/ and a/b", None).is_empty());
        assert_eq!(hard_coded_paths(r"C:\Users\ada", None).len(), 1);
    }

    #[test]
    fn whole_words() {
        assert!(has_word("review the acme-billing code", "acme-billing"));
        assert!(!has_word("acmebillingx", "billing"));
        assert!(has_word("billing.", "billing"));
    }

    #[test]
    fn signal_kinds_serialize_as_their_labels() {
        for k in [
            SignalKind::HardCodedPath,
            SignalKind::ProjectWord,
            SignalKind::NonStandardProfile,
            SignalKind::ProjectScript,
        ] {
            assert_eq!(serde_json::json!(k), serde_json::json!(k.label()));
        }
    }
}
