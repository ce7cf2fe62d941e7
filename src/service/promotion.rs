//! Promotion with consent: an ensemble's dependency closure (profiles, scripts, nested, loop and
//! dispatch ensembles, models), the generality signals and the evaluation record that decide
//! whether it is ready for the global tier or the library, the exact plan of files, and applying
//! it: files for the global tier and a plain library folder, a commit on `contribute/NAME` for a
//! library that is a git repository (the user's branch and working tree are left alone).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use super::providers::has_model;
use crate::compile::{CompiledEnsemble, Kind, ProviderKind};
use crate::learn::records::{self, Score, Subject};
use crate::load::project::{Tier, stays_inside};
use crate::load::resolve::ScriptTarget;
use crate::service::{Service, ServiceError};

/// Good evaluations an ensemble needs for the global tier.
pub const GLOBAL_GOOD: u64 = 3;
/// Good evaluations an ensemble needs for the library (and no project-specific signal).
pub const LIBRARY_GOOD: u64 = 5;
/// Profile names orc ships (`profiles/`): an ensemble using only these is portable.
pub const STANDARD_PROFILES: &[&str] = &["micro", "small", "medium", "large"];
/// The library category used when none is given and the ensemble is not in a sub-folder.
pub const DEFAULT_CATEGORY: &str = "general";

fn refuse(msg: impl Into<String>) -> ServiceError {
    ServiceError::Refused(msg.into())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ServiceError + '_ {
    move |source| ServiceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where an ensemble can go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dest {
    Global,
    Library,
}

impl Dest {
    pub fn parse(s: &str) -> Result<Dest, ServiceError> {
        match s {
            "global" => Ok(Dest::Global),
            "library" => Ok(Dest::Library),
            _ => Err(refuse("destination must be 'global' or 'library'")),
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Dest::Global => "global",
            Dest::Library => "library",
        }
    }
    pub fn tier(self) -> Tier {
        match self {
            Dest::Global => Tier::Global,
            Dest::Library => Tier::Library,
        }
    }
    /// Good evaluations needed.
    pub fn good_needed(self) -> u64 {
        match self {
            Dest::Global => GLOBAL_GOOD,
            Dest::Library => LIBRARY_GOOD,
        }
    }
}

// ---------------------------------------------------------------------- the closure

/// A nested, loop or dispatch ensemble the ensemble needs.
#[derive(Debug, Clone, Serialize)]
pub struct EnsembleDep {
    /// The reference as written (`ensemble:`, `loop.body`, a literal `dispatch:`).
    pub reference: String,
    pub name: String,
    /// `nested`, `loop` or `dispatch`.
    pub how: &'static str,
    pub path: PathBuf,
    pub tier: Option<Tier>,
    pub used_by: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProfileDep {
    pub name: String,
    pub tier: Tier,
    /// Where it is defined (a profile file or a config.yaml).
    pub source: PathBuf,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub used_by: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScriptDep {
    pub reference: String,
    /// The file, for a script file (not for primitives and inline commands).
    pub path: Option<PathBuf>,
    /// `file`, `primitive` or `inline`.
    pub kind: &'static str,
    /// For a file: `project` (only in this project), `library` or `global`.
    pub found_in: Option<&'static str>,
    pub used_by: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelDep {
    pub model: String,
    pub provider: String,
    pub profiles: Vec<String>,
    /// Hosts that have it installed (Ollama only).
    pub installed_on: Vec<String>,
    /// `installed`, `missing`, `unchecked` (no Ollama host answered) or `not-ollama`.
    pub status: &'static str,
    /// When missing: the installed models nearest in size, closest first.
    pub nearest: Vec<String>,
}

/// Everything one ensemble needs.
#[derive(Debug, Clone, Serialize)]
pub struct Closure {
    pub ensemble: String,
    pub qualified_name: String,
    pub description: Option<String>,
    pub source: PathBuf,
    pub source_tier: Tier,
    /// The sub-folder under the tier's `ensembles/` (a library category).
    pub rel_dir: String,
    pub ensembles: Vec<EnsembleDep>,
    pub profiles: Vec<ProfileDep>,
    pub scripts: Vec<ScriptDep>,
    pub models: Vec<ModelDep>,
    /// Dispatch targets chosen at run time: they cannot be followed.
    pub unresolved: Vec<String>,
    #[serde(skip)]
    pub compiled: Vec<Arc<CompiledEnsemble>>,
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

impl Service {
    /// The ensemble's dependency closure (it must compile).
    pub async fn closure(&self, name: &str) -> Result<Closure, ServiceError> {
        let file = self.find(name)?;
        let (root, _) = self.compile(name)?;
        let mut c = Closure {
            ensemble: root.name.clone(),
            qualified_name: file.qualified_name(),
            description: root.description.clone(),
            source: file.path.clone(),
            source_tier: file.tier,
            rel_dir: file.rel_dir.clone(),
            ensembles: Vec::new(),
            profiles: Vec::new(),
            scripts: Vec::new(),
            models: Vec::new(),
            unresolved: Vec::new(),
            compiled: Vec::new(),
        };
        let mut models: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        let mut seen: HashSet<PathBuf> = HashSet::new();
        let mut stack: Vec<(String, Arc<CompiledEnsemble>)> = vec![(String::new(), root)];
        while let Some((prefix, e)) = stack.pop() {
            if !seen.insert(e.file.clone()) {
                continue;
            }
            c.compiled.push(e.clone());
            for a in &e.agents {
                let who = format!("{prefix}{}", a.name);
                match &a.kind {
                    Kind::Llm(l) => {
                        let mut names: Vec<&String> = l.profile.iter().collect();
                        names.extend(l.fallback_chain.iter());
                        for p in names {
                            if let Some(entry) = self.project.profiles.get(p) {
                                match c.profiles.iter_mut().find(|d| &d.name == p) {
                                    Some(d) => push_unique(&mut d.used_by, who.clone()),
                                    None => c.profiles.push(ProfileDep {
                                        name: p.clone(),
                                        tier: entry.tier,
                                        source: entry.source.clone(),
                                        model: entry.spec.model.clone(),
                                        provider: entry.spec.provider.clone(),
                                        used_by: vec![who.clone()],
                                    }),
                                }
                            }
                        }
                        let m = models
                            .entry((l.model.clone(), l.provider.name().to_string()))
                            .or_default();
                        if let Some(p) = &l.profile {
                            push_unique(m, p.clone());
                        }
                    }
                    Kind::Script {
                        reference, target, ..
                    } => {
                        let (path, kind, found_in) = match target {
                            ScriptTarget::File(p) => {
                                (Some(p.clone()), "file", Some(self.script_home(p)))
                            }
                            ScriptTarget::Primitive(_) => (None, "primitive", None),
                            ScriptTarget::Inline(_) => (None, "inline", None),
                        };
                        match c
                            .scripts
                            .iter_mut()
                            .find(|d| d.reference == *reference && d.path == path)
                        {
                            Some(d) => push_unique(&mut d.used_by, who.clone()),
                            None => c.scripts.push(ScriptDep {
                                reference: reference.clone(),
                                path,
                                kind,
                                found_in,
                                used_by: vec![who.clone()],
                            }),
                        }
                    }
                    Kind::Ensemble { reference, child } => {
                        add_child(&mut c, &mut stack, &who, "nested", reference, child)
                    }
                    Kind::Loop { body, child, .. } => {
                        add_child(&mut c, &mut stack, &who, "loop", body, child)
                    }
                    Kind::Dispatch { target, child } => match child {
                        Some(ch) => add_child(&mut c, &mut stack, &who, "dispatch", target, ch),
                        None => c.unresolved.push(format!(
                            "agent `{who}` dispatches to `{target}`, chosen at run time: its targets cannot be followed"
                        )),
                    },
                }
            }
        }
        // Models: installed where they will run? If not anywhere, the nearest in size.
        let installed = self.installed_by_host().await;
        let all_installed: BTreeSet<String> = installed
            .values()
            .filter_map(|r| r.as_ref().ok())
            .flatten()
            .cloned()
            .collect();
        let any_reachable = installed.values().any(Result::is_ok);
        for ((model, provider), profiles) in models {
            let mut on: Vec<String> = installed
                .iter()
                .filter(|(_, r)| {
                    r.as_ref()
                        .is_ok_and(|ms| super::providers::has_model(ms, &model))
                })
                .map(|(h, _)| h.clone())
                .collect();
            on.sort();
            let (status, nearest) = if provider != "ollama" {
                ("not-ollama", Vec::new())
            } else if !on.is_empty() {
                ("installed", Vec::new())
            } else if !any_reachable {
                ("unchecked", Vec::new())
            } else {
                let all: Vec<String> = all_installed.iter().cloned().collect();
                ("missing", super::providers::nearest(&all, &model))
            };
            c.models.push(ModelDep {
                model,
                provider,
                profiles,
                installed_on: on,
                status,
                nearest,
            });
        }
        c.profiles.sort_by(|a, b| a.name.cmp(&b.name));
        c.scripts.sort_by(|a, b| a.reference.cmp(&b.reference));
        c.ensembles.sort_by(|a, b| a.reference.cmp(&b.reference));
        Ok(c)
    }

    /// Where a script file lives: only in this project, in the library, or in the global tier.
    fn script_home(&self, path: &Path) -> &'static str {
        let d = &self.project.dirs;
        if d.library.is_dir() && stays_inside(&d.library, path) {
            "library"
        } else if d.global.is_dir() && stays_inside(&d.global, path) {
            "global"
        } else {
            "project"
        }
    }

    /// The root of a destination tier.
    pub fn dest_root(&self, dest: Dest) -> PathBuf {
        match dest {
            Dest::Global => self.project.dirs.global.clone(),
            Dest::Library => self.project.dirs.library.clone(),
        }
    }

    /// Whether a profile is defined at the destination (a profile file, or the global config).
    pub fn profile_at_dest(&self, dest: Dest, profile: &str) -> bool {
        let root = self.dest_root(dest);
        root.join("profiles")
            .join(format!("{profile}.yaml"))
            .is_file()
            || self
                .project
                .profiles
                .get(profile)
                .is_some_and(|p| p.tier == dest.tier())
    }
}

fn add_child(
    c: &mut Closure,
    stack: &mut Vec<(String, Arc<CompiledEnsemble>)>,
    who: &str,
    how: &'static str,
    target: &str,
    ch: &Arc<CompiledEnsemble>,
) {
    match c.ensembles.iter_mut().find(|d| d.path == ch.file) {
        Some(d) => push_unique(&mut d.used_by, who.to_string()),
        None => c.ensembles.push(EnsembleDep {
            reference: target.to_string(),
            name: ch.name.clone(),
            how,
            path: ch.file.clone(),
            tier: ch.tier,
            used_by: vec![who.to_string()],
        }),
    }
    stack.push((format!("{who}/"), ch.clone()));
}

// ---------------------------------------------------------------------- readiness

/// One piece of evidence that an ensemble is tied to its project.
#[derive(Debug, Clone, Serialize)]
pub struct Signal {
    /// `hard_coded_path`, `project_word`, `non_standard_profile` or `project_script`.
    pub kind: &'static str,
    pub detail: String,
    /// Where it was found (an agent's prompt or parameter, a script line, a profile).
    pub location: String,
}

/// The learning loop's judgments of the ensemble's own outputs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EvalRecord {
    /// Claude's (or a person's) judgments of the ensemble's outputs.
    pub good: u64,
    pub acceptable: u64,
    pub poor: u64,
    /// Judgments by a local model: shown, not counted toward the bar.
    pub local_judge: u64,
    /// Routing records of runs of the ensemble, and the user's verdicts on them.
    pub runs: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// The file read.
    pub source: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub ensemble: String,
    pub destination: Dest,
    /// Promotion may go ahead without `force`.
    pub ready: bool,
    /// The bar: good evaluations (and, for the library, no project-specific signal).
    pub bar: String,
    pub meets_bar: bool,
    /// Why the bar is not met.
    pub below_bar: Vec<String>,
    pub evaluations: EvalRecord,
    pub signals: Vec<Signal>,
    /// Problems that stop promotion whatever the override (the ensemble does not compile).
    pub errors: Vec<String>,
    /// Models not installed on any reachable host, with the nearest installed ones.
    pub model_warnings: Vec<String>,
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
pub fn hard_coded_paths(text: &str, root: Option<&Path>) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
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
            Some("absolute")
        } else if let Some(rest) = tok.strip_prefix("~/") {
            rest.split('/').all(seg_ok).then_some("absolute")
        } else if let Some(rest) = tok.strip_prefix('/') {
            let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
            (!rest.starts_with('/')
                && segs.len() >= 2
                && segs.iter().all(|s| seg_ok(s))
                && segs[0].chars().any(char::is_alphabetic))
            .then_some("absolute")
        } else if tok.starts_with("./") || tok.starts_with("../") {
            tok.split('/')
                .filter(|s| !s.is_empty())
                .all(seg_ok)
                .then_some("project-relative")
        } else if tok.contains('/') && tok.split('/').all(seg_ok) {
            root.filter(|r| r.join(tok).exists())
                .map(|_| "project-relative")
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
        let paths = |text: &str, location: String, out: &mut Vec<Signal>| {
            for (p, kind) in hard_coded_paths(text, root.as_deref()) {
                out.push(Signal {
                    kind: "hard_coded_path",
                    detail: format!("{kind} path `{p}`"),
                    location: location.clone(),
                });
            }
        };
        for e in &c.compiled {
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
                            paths(
                                &s,
                                format!("{prefix}agent `{}` parameter `{k}`", a.name),
                                &mut out,
                            );
                        }
                    }
                    _ => {}
                }
            }
            for (loc, text) in &prompts {
                paths(text, loc.clone(), &mut out);
                let lower = text.to_lowercase();
                for (w, why) in &words {
                    if has_word(&lower, w) {
                        out.push(Signal {
                            kind: "project_word",
                            detail: format!("`{w}` ({why})"),
                            location: loc.clone(),
                        });
                    }
                }
            }
        }
        for s in &c.scripts {
            let Some(path) = &s.path else { continue };
            if s.found_in == Some("project") {
                out.push(Signal {
                    kind: "project_script",
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
                        paths(line, format!("{}:{}", s.reference, i + 1), &mut out);
                    }
                }
            }
        }
        for p in &c.profiles {
            if !STANDARD_PROFILES.contains(&p.name.as_str()) && !self.profile_at_dest(dest, &p.name)
            {
                out.push(Signal {
                    kind: "non_standard_profile",
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

    /// The evaluation record of an ensemble from this project's learning files.
    pub fn eval_record(&self, ensemble: &str) -> Result<EvalRecord, ServiceError> {
        let l = crate::learn::service::Learning::open(self);
        let mut r = EvalRecord {
            source: l.paths.evaluations(),
            ..EvalRecord::default()
        };
        // The latest verdict per run and kind of judge: the bar counts distinct runs.
        let latest = records::latest_evaluations(&l.paths.evaluations(), |e| {
            e.ensemble_used.as_deref() == Some(ensemble) && e.subject == Subject::Local
        })
        .map_err(|e| refuse(e.to_string()))?;
        for e in latest {
            if e.local_judge {
                r.local_judge += 1;
            } else {
                match e.score {
                    Score::Good => r.good += 1,
                    Score::Acceptable => r.acceptable += 1,
                    Score::Poor => r.poor += 1,
                }
            }
        }
        // The latest revision of each routing record decides its acceptance.
        let mut latest: BTreeMap<String, (u32, Option<bool>)> = BTreeMap::new();
        records::scan::<records::RoutingRecord>(&l.paths.routing_log(), |rec| {
            if rec.ensemble_used.as_deref() == Some(ensemble) && rec.route.is_local() {
                let e = latest.entry(rec.id).or_insert((0, None));
                if rec.revision >= e.0 {
                    *e = (rec.revision, rec.user_accepted);
                }
            }
        })
        .map_err(|e| refuse(e.to_string()))?;
        r.runs = latest.len() as u64;
        r.accepted = latest.values().filter(|v| v.1 == Some(true)).count() as u64;
        r.rejected = latest.values().filter(|v| v.1 == Some(false)).count() as u64;
        Ok(r)
    }

    /// Readiness of an ensemble for a destination, with its evidence. An ensemble that does
    /// not compile is not ready, whatever the override.
    pub async fn readiness(
        &self,
        name: &str,
        dest: Dest,
    ) -> Result<(Readiness, Option<Closure>), ServiceError> {
        let file = self.find(name)?;
        let closure = match self.closure(name).await {
            Ok(c) => Some(c),
            Err(ServiceError::Invalid { diagnostics, .. }) => {
                let errors: Vec<String> = diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| d.to_string().replace("\n  hint: ", " (hint: "))
                    .collect();
                let evaluations = self.eval_record(&file.name)?;
                return Ok((
                    Readiness {
                        ensemble: file.name.clone(),
                        destination: dest,
                        ready: false,
                        bar: bar_text(dest),
                        meets_bar: false,
                        below_bar: vec!["the ensemble does not compile".into()],
                        evaluations,
                        signals: Vec::new(),
                        errors,
                        model_warnings: Vec::new(),
                    },
                    None,
                ));
            }
            Err(e) => return Err(e),
        };
        let Some(c) = closure else {
            return Err(refuse("internal: no closure"));
        };
        let evaluations = self.eval_record(&c.ensemble)?;
        let signals = self.signals(&c, dest);
        let mut below = Vec::new();
        let need = dest.good_needed();
        if evaluations.good < need {
            below.push(format!(
                "{} good evaluation(s) of the {need} the {} tier needs",
                evaluations.good,
                dest.label()
            ));
        }
        if dest == Dest::Library && !signals.is_empty() {
            below.push(format!(
                "{} project-specific signal(s); the library takes none",
                signals.len()
            ));
        }
        let model_warnings = c
            .models
            .iter()
            .filter(|m| m.status == "missing")
            .map(|m| {
                format!(
                    "model `{}` (profile {}) is not installed on any reachable host{}",
                    m.model,
                    if m.profiles.is_empty() {
                        "none".to_string()
                    } else {
                        m.profiles.join(", ")
                    },
                    m.nearest
                        .first()
                        .map(|n| format!("; nearest installed in size: {n}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        let meets = below.is_empty();
        Ok((
            Readiness {
                ensemble: c.ensemble.clone(),
                destination: dest,
                ready: meets,
                bar: bar_text(dest),
                meets_bar: meets,
                below_bar: below,
                evaluations,
                signals,
                errors: Vec::new(),
                model_warnings,
            },
            Some(c),
        ))
    }
}

fn bar_text(dest: Dest) -> String {
    match dest {
        Dest::Global => format!("{GLOBAL_GOOD} or more good evaluations"),
        Dest::Library => {
            format!("{LIBRARY_GOOD} or more good evaluations and no project-specific signal")
        }
    }
}

// ---------------------------------------------------------------------- the plan

/// One file a promotion would write (or leaves alone).
#[derive(Debug, Clone, Serialize)]
pub struct PlannedFile {
    /// `write`, `skip` (already there, identical or defined) or `conflict` (there, different).
    pub action: &'static str,
    /// `ensemble`, `profile`, `script` or `readme`.
    pub kind: &'static str,
    pub path: PathBuf,
    /// Relative to the destination's root.
    pub rel: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip)]
    pub bytes: Vec<u8>,
    #[serde(skip)]
    pub executable: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub destination: Dest,
    pub root: PathBuf,
    pub category: Option<String>,
    pub ensemble_path: PathBuf,
    pub files: Vec<PlannedFile>,
    /// A library that is a git repository: the contribution branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
}

impl Plan {
    pub fn writes(&self) -> impl Iterator<Item = &PlannedFile> {
        self.files.iter().filter(|f| f.action == "write")
    }
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = p;
        false
    }
}

fn rel_string(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// A library category: one folder name.
fn check_category(c: &str) -> Result<(), ServiceError> {
    if c.is_empty()
        || c.len() > 64
        || !c
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    {
        return Err(refuse(format!(
            "category `{}` must be one folder name of letters, digits, `-` and `_`",
            c.chars().take(64).collect::<String>()
        )));
    }
    Ok(())
}

impl Service {
    /// The files promoting `c` to `dest` would write.
    pub fn plan(
        &self,
        c: &Closure,
        dest: Dest,
        category: Option<&str>,
        overwrite: bool,
    ) -> Result<Plan, ServiceError> {
        let root = self.dest_root(dest);
        // A git library gets a commit on top of HEAD: compare with HEAD's files, not the
        // working tree's (uncommitted edits and untracked files are not in the commit).
        let git_lib = dest == Dest::Library && git::is_repo_root(&root);
        let existing = |rel: &str, path: &Path| -> Option<Vec<u8>> {
            if git_lib {
                git::head_blob(&root, rel)
            } else {
                fs::read(path).ok()
            }
        };
        let mut files: Vec<PlannedFile> = Vec::new();
        let add = |kind: &'static str,
                   rel: String,
                   source: Option<PathBuf>,
                   bytes: Vec<u8>,
                   executable: bool,
                   files: &mut Vec<PlannedFile>|
         -> Result<(), ServiceError> {
            crate::load::project::check_relative_name(&rel)
                .map_err(|why| refuse(format!("cannot place `{rel}`: {why}")))?;
            let path = super::files::safe_join(&root, &rel, "")?;
            if files.iter().any(|f| f.path == path) {
                return Ok(());
            }
            let (action, note) = match existing(&rel, &path) {
                Some(old) if old == bytes => ("skip", Some("already there, identical".to_string())),
                Some(_) if overwrite => ("write", Some("replaces a different file".to_string())),
                Some(_) => (
                    "conflict",
                    Some("already there with different content".to_string()),
                ),
                None => ("write", None),
            };
            files.push(PlannedFile {
                action,
                kind,
                path,
                rel,
                source,
                note,
                bytes,
                executable,
            });
            Ok(())
        };
        // The ensemble itself: the global tier keeps its sub-folder; the library files it
        // under a category folder.
        let stem = c
            .source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("{}.yaml", c.ensemble));
        let category = match dest {
            Dest::Global => None,
            Dest::Library => {
                let cat = category
                    .map(str::to_string)
                    .or_else(|| {
                        (!c.rel_dir.is_empty())
                            .then(|| c.rel_dir.rsplit('/').next().unwrap_or("").to_string())
                    })
                    .unwrap_or_else(|| DEFAULT_CATEGORY.to_string());
                check_category(&cat)?;
                Some(cat)
            }
        };
        let ens_rel = match (&category, c.rel_dir.is_empty()) {
            (Some(cat), _) => format!("ensembles/{cat}/{stem}"),
            (None, true) => format!("ensembles/{stem}"),
            (None, false) => format!("ensembles/{}/{stem}", c.rel_dir),
        };
        let bytes = fs::read(&c.source).map_err(io(&c.source))?;
        add(
            "ensemble",
            ens_rel.clone(),
            Some(c.source.clone()),
            bytes,
            false,
            &mut files,
        )?;
        let ensemble_path = files[0].path.clone();
        // Nested, loop and dispatch children go where a reference from the destination finds
        // them: `<dest>/ensembles/<reference>.yaml`.
        for e in &c.ensembles {
            if e.tier == Some(dest.tier()) {
                continue;
            }
            let ext = e
                .path
                .extension()
                .map(|x| x.to_string_lossy().into_owned())
                .unwrap_or_else(|| "yaml".into());
            let rel = format!("ensembles/{}.{ext}", e.reference);
            let bytes = fs::read(&e.path).map_err(io(&e.path))?;
            add(
                "ensemble",
                rel,
                Some(e.path.clone()),
                bytes,
                false,
                &mut files,
            )?;
        }
        // Profiles not defined at the destination, one file each.
        for p in &c.profiles {
            let rel = format!("profiles/{}.yaml", p.name);
            let at_dest = if git_lib {
                crate::load::project::check_relative_name(&rel).is_ok()
                    && git::head_blob(&root, &rel).is_some()
            } else {
                self.profile_at_dest(dest, &p.name)
            };
            if at_dest {
                let path = super::files::safe_join(&root, &rel, "")?;
                files.push(PlannedFile {
                    action: "skip",
                    kind: "profile",
                    path,
                    rel,
                    source: Some(p.source.clone()),
                    note: Some(format!(
                        "profile `{}` is already defined at the {} tier",
                        p.name,
                        dest.label()
                    )),
                    bytes: Vec::new(),
                    executable: false,
                });
                continue;
            }
            let Some(entry) = self.project.profiles.get(&p.name) else {
                continue;
            };
            let mut v = serde_json::to_value(&entry.spec).unwrap_or(Value::Null);
            let mut dropped_url = false;
            if let Value::Object(m) = &mut v {
                m.insert("name".into(), json!(p.name));
                // A shared library gets no host of this machine's network (nor credentials in a
                // URL): whoever uses it reaches their own Ollama.
                if dest == Dest::Library {
                    dropped_url = m.remove("base_url").is_some_and(|u| !u.is_null());
                }
            }
            let text = serde_saphyr::to_string(&v)
                .map_err(|e| refuse(format!("cannot write profile `{}`: {e}", p.name)))?;
            add(
                "profile",
                rel.clone(),
                Some(p.source.clone()),
                text.into_bytes(),
                false,
                &mut files,
            )?;
            if dropped_url
                && let Some(f) = files.iter_mut().find(|f| f.rel == rel && f.note.is_none())
            {
                f.note = Some("base_url left out: the library never carries a host or URL of this machine's setup".into());
            }
        }
        // Scripts that exist only in the project, under `<dest>/scripts/`.
        let local = self.local_dir();
        let proj = self.project.dirs.project_root.clone();
        for s in &c.scripts {
            let (Some(path), Some("project")) = (&s.path, s.found_in) else {
                continue;
            };
            let rel = path
                .strip_prefix(local.join("scripts"))
                .or_else(|_| path.strip_prefix(&local))
                .ok()
                .or_else(|| proj.as_deref().and_then(|r| path.strip_prefix(r).ok()))
                .map(rel_string)
                .unwrap_or_else(|| {
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                });
            let rel = format!("scripts/{}", rel.trim_start_matches("scripts/"));
            let bytes = fs::read(path).map_err(io(path))?;
            add(
                "script",
                rel,
                Some(path.clone()),
                bytes,
                is_executable(path),
                &mut files,
            )?;
        }
        // The library's category README lists the ensemble.
        if let Some(cat) = &category {
            let rel = format!("ensembles/{cat}/README.md");
            let path = super::files::safe_join(&root, &rel, "")?;
            let line = format!(
                "- `{}`: {}\n",
                c.ensemble,
                c.description.as_deref().unwrap_or("").replace('\n', " ")
            );
            let old = existing(&rel, &path).map(|b| String::from_utf8_lossy(&b).into_owned());
            let marker = format!("- `{}`:", c.ensemble);
            let new = match &old {
                Some(t) if t.lines().any(|l| l.starts_with(&marker)) => None,
                Some(t) => Some(format!(
                    "{t}{}{line}",
                    if t.ends_with('\n') || t.is_empty() {
                        ""
                    } else {
                        "\n"
                    }
                )),
                None => Some(format!("# {cat}\n\nEnsembles in this category:\n\n{line}")),
            };
            match new {
                Some(text) => files.push(PlannedFile {
                    action: "write",
                    kind: "readme",
                    path,
                    rel,
                    source: None,
                    note: Some(
                        if old.is_some() {
                            "adds a line"
                        } else {
                            "new category"
                        }
                        .into(),
                    ),
                    bytes: text.into_bytes(),
                    executable: false,
                }),
                None => files.push(PlannedFile {
                    action: "skip",
                    kind: "readme",
                    path,
                    rel,
                    source: None,
                    note: Some("already lists the ensemble".into()),
                    bytes: Vec::new(),
                    executable: false,
                }),
            }
        }
        let branch = git_lib.then(|| git::branch_name(&c.ensemble));
        Ok(Plan {
            destination: dest,
            root,
            category,
            ensemble_path,
            files,
            branch,
        })
    }
}

// ---------------------------------------------------------------------- deps

impl Service {
    /// The closure with, for every dependency, whether each destination tier has it:
    /// `present`, `missing`, `differs` (a different file of that name is there), `shared`
    /// (a library or global script) or `built-in` (a primitive or inline command).
    pub fn deps_report(&self, c: &Closure) -> Value {
        let plans: Vec<(Dest, Option<Plan>)> = [Dest::Global, Dest::Library]
            .into_iter()
            .map(|d| (d, self.plan(c, d, None, false).ok()))
            .collect();
        let state = |pick: &dyn Fn(&PlannedFile) -> bool| -> Value {
            let mut m = serde_json::Map::new();
            for (d, plan) in &plans {
                let s = match plan.as_ref().and_then(|p| p.files.iter().find(|f| pick(f))) {
                    Some(f) if f.action == "skip" => "present",
                    Some(f) if f.action == "conflict" => "differs",
                    Some(_) => "missing",
                    None => "present",
                };
                m.insert(d.label().into(), json!(s));
            }
            Value::Object(m)
        };
        let ensembles: Vec<Value> = c
            .ensembles
            .iter()
            .map(|e| {
                let mut v = json!(e);
                v["at"] = state(&|f: &PlannedFile| f.source.as_deref() == Some(e.path.as_path()));
                v
            })
            .collect();
        let profiles: Vec<Value> = c
            .profiles
            .iter()
            .map(|p| {
                let rel = format!("profiles/{}.yaml", p.name);
                let mut v = json!(p);
                v["at"] = state(&|f: &PlannedFile| f.rel == rel);
                v
            })
            .collect();
        let scripts: Vec<Value> = c
            .scripts
            .iter()
            .map(|s| {
                let mut v = json!(s);
                v["at"] = match (&s.path, s.found_in) {
                    (None, _) => json!({"global": "built-in", "library": "built-in"}),
                    (Some(_), Some(home)) if home != "project" => {
                        json!({"global": "shared", "library": "shared"})
                    }
                    (Some(path), _) => {
                        state(&|f: &PlannedFile| f.source.as_deref() == Some(path.as_path()))
                    }
                };
                v
            })
            .collect();
        json!({
            "ensemble": c.ensemble, "source": c.source, "source_tier": c.source_tier,
            "ensembles": ensembles, "profiles": profiles, "scripts": scripts,
            "models": c.models, "unresolved": c.unresolved,
        })
    }
}

// ---------------------------------------------------------------------- promote / demote

/// What `promote` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct PromoteRequest {
    pub dry_run: bool,
    /// The user's consent (`--yes`, `confirm: true`); without it nothing is written.
    pub confirm: bool,
    pub overwrite: bool,
    /// Promote below the bar.
    pub force: bool,
    pub category: Option<String>,
    /// Leave profiles out (MCP `include_profiles: false`).
    pub skip_profiles: bool,
}

impl Service {
    /// Promotes an ensemble with everything it needs. Without `confirm` (or with `dry_run`) it
    /// returns the plan and writes nothing.
    pub async fn promote(
        &self,
        name: &str,
        destination: &str,
        req: &PromoteRequest,
    ) -> Result<Value, ServiceError> {
        let dest = Dest::parse(destination)?;
        let (r, closure) = self.readiness(name, dest).await?;
        let Some(c) = closure else {
            // llm-orc's message for profiles no tier defines, then the other errors.
            let file = self.find(name)?;
            let mut broken: Vec<String> = file
                .spec
                .iter()
                .flat_map(|s| s.agents.iter())
                .filter_map(|a| match &a.kind {
                    crate::load::spec::AgentKind::Llm(l) => l.model_profile.as_ref(),
                    _ => None,
                })
                .map(|p| p.value.clone())
                .filter(|p| self.project.profiles.get(p).is_none())
                .collect();
            broken.sort();
            broken.dedup();
            if !broken.is_empty() {
                return Err(refuse(format!(
                    "Broken profile references: {}. These profiles do not exist in any tier.",
                    broken.join(", ")
                )));
            }
            return Err(refuse(format!(
                "ensemble `{name}` cannot be promoted: {}",
                r.errors.join("; ")
            )));
        };
        let mut plan = self.plan(&c, dest, req.category.as_deref(), req.overwrite)?;
        if req.skip_profiles {
            for f in plan.files.iter_mut().filter(|f| f.kind == "profile") {
                f.action = "skip";
                f.note = Some("include_profiles is false".into());
            }
        }
        if plan.files.first().is_some_and(|f| f.action == "skip") && !req.overwrite && !req.dry_run
        {
            return Err(refuse(format!(
                "Ensemble '{}' already exists at {} tier. Use overwrite=true to replace.",
                c.ensemble,
                dest.label()
            )));
        }
        let conflicts: Vec<&PlannedFile> = plan
            .files
            .iter()
            .filter(|f| f.action == "conflict")
            .collect();
        if let Some(first) = conflicts.first()
            && !req.dry_run
        {
            if first.kind == "ensemble" && first.path == plan.ensemble_path {
                return Err(refuse(format!(
                    "Ensemble '{}' already exists at {} tier. Use overwrite=true to replace.",
                    c.ensemble,
                    dest.label()
                )));
            }
            return Err(refuse(format!(
                "{} already exists at the {} tier with different content: {} (overwrite replaces)",
                if conflicts.len() == 1 {
                    "a file"
                } else {
                    "files"
                },
                dest.label(),
                conflicts
                    .iter()
                    .map(|f| f.path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let overridden: Vec<String> = if r.meets_bar {
            Vec::new()
        } else {
            r.below_bar.clone()
        };
        let mut out = json!({
            "ensemble": c.ensemble, "source_tier": c.source_tier, "source": c.source,
            "destination": dest, "ensemble_path": plan.ensemble_path,
            "readiness": r, "plan": plan,
            "profiles_copied": plan.writes().filter(|f| f.kind == "profile").map(|f| f.rel.trim_start_matches("profiles/").trim_end_matches(".yaml").to_string()).collect::<Vec<_>>(),
            "profiles_already_present": plan.files.iter().filter(|f| f.kind == "profile" && f.action == "skip").map(|f| f.rel.trim_start_matches("profiles/").trim_end_matches(".yaml").to_string()).collect::<Vec<_>>(),
        });
        if req.dry_run || !req.confirm {
            out["status"] = json!(if req.dry_run {
                "dry_run"
            } else {
                "needs_confirmation"
            });
            out["would_write"] = json!(plan.writes().map(|f| &f.path).collect::<Vec<_>>());
            if !r.meets_bar {
                out["needs_force"] = json!(overridden);
            }
            return Ok(out);
        }
        if !r.meets_bar && !req.force {
            return Err(refuse(format!(
                "`{}` is below the bar for the {} tier ({}): {}. Nothing was written; force (CLI --force, MCP force: true) promotes it anyway.",
                c.ensemble,
                dest.label(),
                r.bar,
                r.below_bar.join("; ")
            )));
        }
        if plan.writes().next().is_none() {
            return Err(refuse(format!(
                "nothing to promote: the {} tier already has `{}` and everything it needs",
                dest.label(),
                c.ensemble
            )));
        }
        out["overridden"] = json!(overridden);
        match &plan.branch {
            Some(branch) => {
                let pr = pr_description(&c, &r, &plan, &overridden);
                let msg = format!("Add ensemble {}\n\n{pr}", c.ensemble);
                let commit = git::commit_to_branch(&plan.root, branch, &plan, &msg, req.overwrite)?;
                let pr_path = self
                    .local_dir()
                    .join("contributions")
                    .join(format!("{}.md", git::slug(&c.ensemble)));
                if let Some(p) = pr_path.parent() {
                    fs::create_dir_all(p).map_err(io(p))?;
                }
                crate::store::atomic::write_atomic(&pr_path, pr.as_bytes())?;
                out["status"] = json!("contributed");
                out["branch"] = json!(branch);
                out["commit"] = json!(commit.commit);
                out["base"] = json!(commit.base);
                out["pr_description"] = json!(pr_path);
                // Shell lines the user may paste: every path and name quoted, and `gh` run in
                // the library (it takes the repository from the current folder).
                let q = |s: &str| {
                    shlex::try_quote(s).map_or_else(|_| "''".to_string(), |c| c.into_owned())
                };
                let lib = q(&plan.root.to_string_lossy());
                out["next_steps"] = json!([
                    format!("git -C {lib} push -u origin {}", q(branch)),
                    format!(
                        "cd {lib} && gh pr create --head {} --title {} --body-file {}",
                        q(branch),
                        q(&format!("Add ensemble {}", c.ensemble)),
                        q(&pr_path.to_string_lossy())
                    ),
                ]);
                out["committed"] = json!(plan.writes().map(|f| &f.rel).collect::<Vec<_>>());
            }
            None => {
                for f in plan.writes() {
                    write_file(&f.path, &f.bytes, f.executable)?;
                }
                out["status"] = json!("promoted");
            }
        }
        if plan.branch.is_none() {
            out["written"] = json!(plan.writes().map(|f| &f.path).collect::<Vec<_>>());
        }
        tracing::info!(ensemble = %c.ensemble, destination = dest.label(), status = %out["status"], "promoted");
        Ok(out)
    }

    /// Removes an ensemble from the global tier or the library (and, optionally, profiles only
    /// it used there). Without `confirm`: the files it would remove.
    pub fn demote(
        &self,
        name: &str,
        tier_name: &str,
        remove_orphaned_profiles: bool,
        confirm: bool,
    ) -> Result<Value, ServiceError> {
        let dest = Dest::parse(tier_name)?;
        let dir = self.dest_root(dest);
        let ens_dir = dir.join("ensembles");
        let mut path = super::files::safe_join(&ens_dir, name, ".yaml")?;
        if !path.is_file() {
            // A library keeps ensembles in category folders: look one level down.
            let file = format!("{}.yaml", name.trim_end_matches(".yaml"));
            let found = fs::read_dir(&ens_dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path().join(&file))
                .find(|p| p.is_file() && stays_inside(&ens_dir, p));
            match found {
                Some(p) if !name.contains('/') => path = p,
                _ => {
                    return Err(refuse(format!(
                        "Ensemble '{name}' not found at {} tier",
                        dest.label()
                    )));
                }
            }
        }
        let uses = |p: &Path| profiles_used(dest.tier(), p);
        let mine = uses(&path);
        let mut others = Vec::new();
        let mut stack = vec![ens_dir.clone()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    if stack.len() < 64 {
                        stack.push(p);
                    }
                } else if p != path && p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                    others.extend(uses(&p));
                }
            }
        }
        // A profile name from the file is untrusted: only a relative name that resolves inside
        // the tier's `profiles/` names a file we may remove (never `/abs/path` or `../x`).
        let profiles_dir = dir.join("profiles");
        let profile_file = |p: &str| -> Option<PathBuf> {
            crate::load::project::check_relative_name(p).ok()?;
            let f = profiles_dir.join(format!("{p}.yaml"));
            (f.is_file() && stays_inside(&dir, &f) && stays_inside(&profiles_dir, &f)).then_some(f)
        };
        let mut orphans: Vec<(String, PathBuf)> = mine
            .into_iter()
            .filter(|p| !others.contains(p))
            .filter_map(|p| profile_file(&p).map(|f| (p, f)))
            .collect();
        orphans.sort();
        orphans.dedup();
        let mut files = vec![path.clone()];
        if remove_orphaned_profiles {
            files.extend(orphans.iter().map(|(_, f)| f.clone()));
        }
        // In a library's category folder, the category README lists the ensemble: its line goes.
        let readme = category_readme_without(&ens_dir, &path);
        let git_note = (dest == Dest::Library && git::is_repo_root(&dir)).then_some(
            "the library is a git repository: the files are removed from its working tree; review and commit the removal there (pushing stays yours)",
        );
        if !confirm {
            let mut would = json!({"ensemble": path});
            if remove_orphaned_profiles {
                would["orphaned_profiles"] =
                    json!(orphans.iter().map(|(p, _)| p).collect::<Vec<_>>());
            }
            if let Some((readme, _)) = &readme {
                would["readme_line"] = json!(readme);
            }
            let mut answer = json!({
                "status": "preview", "ensemble": name, "tier": dest.label(),
                "would_remove": would, "files": files,
                "confirm_with": "confirm: true (CLI --yes)",
            });
            if let Some(n) = git_note {
                answer["note"] = json!(n);
            }
            return Ok(answer);
        }
        fs::remove_file(&path).map_err(io(&path))?;
        if let Some((readme, text)) = &readme {
            crate::store::atomic::write_atomic(readme, text.as_bytes())?;
        }
        let mut removed = Vec::new();
        if remove_orphaned_profiles {
            for (p, f) in &orphans {
                if fs::remove_file(f).is_ok() {
                    removed.push(p.clone());
                }
            }
        }
        tracing::info!(ensemble = %name, tier = dest.label(), "demoted");
        let mut answer = json!({
            "status": "demoted", "ensemble": name, "tier": dest.label(),
            "removed": files, "removed_profiles": removed,
        });
        if let Some((readme, _)) = &readme {
            answer["readme_updated"] = json!(readme);
        }
        if let Some(n) = git_note {
            answer["note"] = json!(n);
        }
        Ok(answer)
    }
}

/// The category README beside `ensemble` (in a category folder below `ens_dir`) and its text
/// without the ensemble's `- \`NAME\`:` line, when it has one.
fn category_readme_without(ens_dir: &Path, ensemble: &Path) -> Option<(PathBuf, String)> {
    let folder = ensemble.parent().filter(|p| *p != ens_dir)?;
    let readme = folder.join("README.md");
    if !fs::symlink_metadata(&readme).is_ok_and(|m| m.is_file()) || !stays_inside(ens_dir, &readme)
    {
        return None;
    }
    let stem = ensemble.file_stem()?.to_string_lossy();
    let marker = format!("- `{stem}`:");
    let text = fs::read_to_string(&readme).ok()?;
    if !text.lines().any(|l| l.starts_with(&marker)) {
        return None;
    }
    let kept: String = text
        .split_inclusive('\n')
        .filter(|l| !l.starts_with(&marker))
        .collect();
    Some((readme, kept))
}

/// The `model_profile` names an ensemble file's LLM agents use (none when it cannot be read).
fn profiles_used(tier: Tier, path: &Path) -> Vec<String> {
    let f = crate::load::project::load_ensemble_file(tier, path, String::new());
    f.spec
        .map(|s| {
            s.agents
                .iter()
                .filter_map(|a| match &a.kind {
                    crate::load::spec::AgentKind::Llm(l) => {
                        l.model_profile.as_ref().map(|p| p.value.clone())
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn write_file(path: &Path, bytes: &[u8], executable: bool) -> Result<(), ServiceError> {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).map_err(io(p))?;
    }
    crate::store::atomic::write_atomic(path, bytes)?;
    #[cfg(unix)]
    if executable {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o755));
    }
    #[cfg(not(unix))]
    let _ = executable;
    Ok(())
}

/// The pull-request description: what it does, its evaluation record, its models.
fn pr_description(c: &Closure, r: &Readiness, plan: &Plan, overridden: &[String]) -> String {
    let mut s = format!("# Add ensemble `{}`\n\n", c.ensemble);
    s.push_str("## What it does\n\n");
    s.push_str(c.description.as_deref().unwrap_or("(no description)"));
    s.push_str("\n\n");
    if let Some(root) = c.compiled.first() {
        s.push_str(&format!(
            "{} agents in {} levels ({}).\n\n",
            root.agents.len(),
            root.levels.len(),
            serde_json::to_value(root.pattern)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "graph".into())
        ));
    }
    s.push_str("## Evaluation record\n\n");
    let e = &r.evaluations;
    s.push_str(&format!(
        "- judged outputs: {} good, {} acceptable, {} poor",
        e.good, e.acceptable, e.poor
    ));
    if e.local_judge > 0 {
        s.push_str(&format!(
            " (and {} by a local judge, not counted)",
            e.local_judge
        ));
    }
    s.push_str(&format!(
        "\n- runs: {}; accepted by the user: {}, rejected: {}\n- bar for the library: {}: {}\n",
        e.runs,
        e.accepted,
        e.rejected,
        r.bar,
        if r.meets_bar { "met" } else { "not met" }
    ));
    for o in overridden {
        s.push_str(&format!("- overridden by the contributor: {o}\n"));
    }
    if !r.signals.is_empty() {
        s.push_str("\nProject-specific signals:\n\n");
        for sig in &r.signals {
            s.push_str(&format!(
                "- {}: {} ({})\n",
                sig.kind, sig.detail, sig.location
            ));
        }
    }
    s.push_str("\n## Models\n\n");
    for m in &c.models {
        s.push_str(&format!(
            "- `{}` ({}; profiles: {})\n",
            m.model,
            m.provider,
            if m.profiles.is_empty() {
                "-".to_string()
            } else {
                m.profiles.join(", ")
            }
        ));
    }
    s.push_str("\n## Files\n\n");
    for f in plan.writes() {
        s.push_str(&format!("- `{}` ({})\n", f.rel, f.kind));
    }
    s.push_str("\nPrepared by `orc promote`.\n");
    s
}

/// Git plumbing for library contributions: the commit is built in a temporary index and
/// pointed to by a new branch, so the user's branch, index and working tree never change.
pub mod git {
    use super::*;

    pub struct Committed {
        pub commit: String,
        pub base: Option<String>,
    }

    /// `contribute/NAME` (a qualified name's `/` become `-`).
    pub fn branch_name(ensemble: &str) -> String {
        format!("contribute/{}", slug(ensemble))
    }

    pub fn slug(ensemble: &str) -> String {
        ensemble
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect::<String>()
            .trim_matches(['-', '.'])
            .to_string()
    }

    /// Settings that make git run a program, each turned off for every git call orc makes: a
    /// library is a repository someone else may have prepared, and its `.git/config` or hooks
    /// must not run code on the user's machine (`core.fsmonitor`, `reference-transaction`...).
    const NO_PROGRAMS: &[&str] = &[
        "core.hooksPath=/dev/null",
        "core.fsmonitor=false",
        "core.untrackedCache=false",
        "core.pager=cat",
        "core.editor=false",
        "core.askPass=",
        "core.sshCommand=",
        "core.gitProxy=",
        "core.alternateRefsCommand=",
        "commit.gpgSign=false",
        "tag.gpgSign=false",
        "credential.helper=",
        "diff.external=",
        "protocol.allow=never",
        "uploadpack.packObjectsHook=",
        "receive.procReceiveRefs=",
    ];

    /// `git -C dir` with every program-running setting off, no terminal prompt, no pager and
    /// none of the caller's repository variables.
    pub(crate) fn command(dir: &Path) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("--no-pager");
        for kv in NO_PROGRAMS {
            cmd.arg("-c").arg(kv);
        }
        cmd.arg("-C")
            .arg(dir)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_EXTERNAL_DIFF")
            .env_remove("GIT_PAGER")
            .env_remove("GIT_EDITOR")
            .env_remove("GIT_SSH_COMMAND")
            .env_remove("GIT_ASKPASS");
        cmd
    }

    fn git(
        dir: &Path,
        args: &[&str],
        index: Option<&Path>,
        stdin: Option<&[u8]>,
    ) -> Result<String, ServiceError> {
        use std::io::Write as _;
        let mut cmd = command(dir);
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match index {
            Some(i) => cmd.env("GIT_INDEX_FILE", i),
            None => cmd.env_remove("GIT_INDEX_FILE"),
        };
        let mut child = cmd
            .spawn()
            .map_err(|e| refuse(format!("cannot run git: {e}")))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input)
                .map_err(|e| refuse(format!("git {}: {e}", args.join(" "))))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| refuse(format!("git {}: {e}", args.join(" "))))?;
        if !out.status.success() {
            return Err(refuse(format!(
                "git {} failed in {}: {}",
                args.first().copied().unwrap_or(""),
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// What a contribution starts from: the library's default branch (`origin/HEAD`, else
    /// `main`, else `master`), so a feature branch checked out in the library never rides
    /// along; `HEAD` when the library has none of them.
    pub fn base_rev(repo: &Path) -> String {
        [
            "refs/remotes/origin/HEAD",
            "refs/heads/main",
            "refs/heads/master",
        ]
        .into_iter()
        .find(|r| {
            git(
                repo,
                &["rev-parse", "--verify", "-q", &format!("{r}^{{commit}}")],
                None,
                None,
            )
            .is_ok()
        })
        .unwrap_or("HEAD")
        .to_string()
    }

    /// The bytes of `rel` in the base's tree (`git cat-file blob BASE:<rel>`, see [`base_rev`]);
    /// None when the base or the file does not exist.
    pub fn head_blob(repo: &Path, rel: &str) -> Option<Vec<u8>> {
        let base = base_rev(repo);
        let out = command(repo)
            .args(["cat-file", "blob", &format!("{base}:{rel}")])
            .env_remove("GIT_INDEX_FILE")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status.success().then_some(out.stdout)
    }

    /// Whether `dir` is the top of a git work tree (not a folder inside another repository).
    pub fn is_repo_root(dir: &Path) -> bool {
        if !dir.join(".git").exists() {
            return false;
        }
        match (
            git(dir, &["rev-parse", "--show-toplevel"], None, None),
            fs::canonicalize(dir),
        ) {
            (Ok(top), Ok(d)) => fs::canonicalize(&top).is_ok_and(|t| t == d),
            _ => false,
        }
    }

    struct TempIndex(PathBuf);
    impl Drop for TempIndex {
        fn drop(&mut self) {
            let _ = fs::remove_file(&self.0);
            let _ = fs::remove_file(self.0.with_extension("index.lock"));
        }
    }

    /// Commits the plan's files on top of the library's default branch ([`base_rev`]) into
    /// `branch`, leaving HEAD, the index and the working tree as they were.
    pub fn commit_to_branch(
        repo: &Path,
        branch: &str,
        plan: &Plan,
        message: &str,
        overwrite: bool,
    ) -> Result<Committed, ServiceError> {
        git(repo, &["check-ref-format", "--branch", branch], None, None)
            .map_err(|_| refuse(format!("`{branch}` is not a valid branch name")))?;
        let reference = format!("refs/heads/{branch}");
        let existing = git(
            repo,
            &["rev-parse", "--verify", "-q", &reference],
            None,
            None,
        )
        .ok();
        let current = git(repo, &["symbolic-ref", "-q", "HEAD"], None, None).ok();
        if existing.is_some() {
            if current.as_deref() == Some(reference.as_str()) {
                return Err(refuse(format!(
                    "branch `{branch}` is checked out in {}; switch away from it first",
                    repo.display()
                )));
            }
            if !overwrite {
                return Err(refuse(format!(
                    "branch `{branch}` already exists in {}; overwrite moves it to a new commit",
                    repo.display()
                )));
            }
        }
        let base = git(
            repo,
            &[
                "rev-parse",
                "--verify",
                "-q",
                &format!("{}^{{commit}}", base_rev(repo)),
            ],
            None,
            None,
        )
        .ok();
        let git_dir = git(repo, &["rev-parse", "--absolute-git-dir"], None, None)?;
        let index = TempIndex(PathBuf::from(git_dir).join(format!(
            "orc-contribute-{}-{}.index",
            std::process::id(),
            fastrand::u32(..)
        )));
        match &base {
            Some(b) => git(repo, &["read-tree", b], Some(&index.0), None)?,
            None => git(repo, &["read-tree", "--empty"], Some(&index.0), None)?,
        };
        for f in plan.writes() {
            let sha = git(
                repo,
                // No filters: a `.gitattributes` filter would run the repository's program.
                &["hash-object", "-w", "--no-filters", "--stdin"],
                None,
                Some(&f.bytes),
            )?;
            let mode = if f.executable { "100755" } else { "100644" };
            git(
                repo,
                &[
                    "update-index",
                    "--add",
                    "--cacheinfo",
                    &format!("{mode},{sha},{}", f.rel),
                ],
                Some(&index.0),
                None,
            )?;
        }
        let tree = git(repo, &["write-tree"], Some(&index.0), None)?;
        if let Some(b) = &base
            && git(repo, &["rev-parse", &format!("{b}^{{tree}}")], None, None)? == tree
        {
            return Err(refuse(format!(
                "nothing to contribute: {} already has these files",
                repo.display()
            )));
        }
        let mut args = vec!["commit-tree", tree.as_str()];
        if let Some(b) = &base {
            args.extend(["-p", b.as_str()]);
        }
        args.extend(["-F", "-"]);
        let commit = git(repo, &args, None, Some(message.as_bytes()))?;
        let mut upd = vec![
            "update-ref",
            "-m",
            "orc promote",
            reference.as_str(),
            commit.as_str(),
        ];
        // The expected old value: the branch as read above, or "" (it must not exist yet).
        let old = existing.clone().unwrap_or_default();
        upd.push(old.as_str());
        git(repo, &upd, None, None)?;
        Ok(Committed { commit, base })
    }
}

// ---------------------------------------------------------------------- promotion

impl Service {
    fn tier_dir(&self, destination: &str) -> Result<(Tier, PathBuf), ServiceError> {
        match destination {
            "global" => Ok((Tier::Global, self.project.dirs.global.clone())),
            "library" => Ok((Tier::Library, self.project.dirs.library.clone())),
            "local" | "project" => Ok((Tier::Local, self.local_dir())),
            _ => Err(refuse("destination must be 'global' or 'library'")),
        }
    }

    /// The profiles an ensemble's agents (and its nested ensembles') refer to.
    fn profiles_used(
        &self,
        name: &str,
    ) -> Result<(crate::load::project::EnsembleFile, Vec<(String, String)>), ServiceError> {
        let file = self.find(name)?;
        let mut out = Vec::new();
        if let Some(spec) = &file.spec {
            for a in &spec.agents {
                match &a.kind {
                    crate::load::spec::AgentKind::Llm(l) => {
                        if let Some(p) = &l.model_profile {
                            out.push((a.name.value.clone(), p.value.clone()));
                        }
                    }
                    _ => out.push((a.name.value.clone(), String::new())),
                }
            }
        }
        Ok((file, out))
    }

    pub async fn mcp_list_dependencies(&self, name: &str) -> Result<Value, ServiceError> {
        let (file, used) = self.profiles_used(name)?;
        let installed = self.installed_by_host().await;
        let mut agents = Vec::new();
        let (mut profiles, mut models, mut providers) = (Vec::new(), Vec::new(), Vec::new());
        for (agent, profile) in &used {
            let spec_agent = file
                .spec
                .as_ref()
                .and_then(|s| s.agents.iter().find(|a| &a.name.value == agent));
            if let Some(crate::load::spec::AgentKind::Script(sc)) = spec_agent.map(|a| &a.kind) {
                agents.push(json!({"name": agent, "type": "script", "script": sc.script.value}));
                continue;
            }
            if profile.is_empty() {
                continue;
            }
            let entry = self.project.profiles.get(profile);
            let provider = entry.and_then(|p| p.spec.provider.clone());
            let model = entry.and_then(|p| p.spec.model.clone());
            let available = match (provider.as_deref(), &model, entry) {
                (Some("ollama"), Some(m), Some(p)) => {
                    let host = self.host_of(p.spec.base_url.as_deref());
                    installed
                        .get(&host)
                        .is_some_and(|r| r.as_ref().is_ok_and(|ms| has_model(ms, m)))
                }
                (Some(pr), _, _) => ProviderKind::parse(pr).is_some_and(|p| p.runnable()),
                _ => false,
            };
            agents.push(json!({
                "name": agent, "model_profile": profile, "profile_found": entry.is_some(),
                "profile_tier": entry.map(|p| p.tier), "provider": provider, "model": model, "model_available": available,
            }));
            profiles.push(profile.clone());
            if let Some(m) = model {
                models.push(m);
            }
            if let Some(p) = provider {
                providers.push(p);
            }
        }
        for v in [&mut profiles, &mut models, &mut providers] {
            v.sort();
            v.dedup();
        }
        let mut out = json!({"ensemble": file.name, "source_tier": file.tier, "agents": agents, "profiles_needed": profiles, "models_needed": models, "providers_needed": providers});
        // orc's addition: the whole closure, and what each destination tier lacks.
        if let Ok(c) = self.closure(name).await {
            out["closure"] = self.deps_report(&c);
        }
        Ok(out)
    }

    /// Whether `profile` exists at the destination tier (a profile file, or config.yaml there).
    fn profile_at(&self, dest: &Path, tier: Tier, profile: &str) -> bool {
        dest.join("profiles")
            .join(format!("{profile}.yaml"))
            .is_file()
            || self
                .project
                .profiles
                .get(profile)
                .is_some_and(|p| p.tier == tier)
    }

    pub async fn mcp_check_promotion(
        &self,
        name: &str,
        destination: &str,
    ) -> Result<Value, ServiceError> {
        let (tier, dest) = self.tier_dir(destination)?;
        if tier == Tier::Local {
            return Err(refuse("destination must be 'global' or 'library'"));
        }
        let (file, used) = self.profiles_used(name)?;
        let installed = self.installed_by_host().await;
        let mut issues = Vec::new();
        let (mut to_copy, mut present) = (Vec::new(), Vec::new());
        let mut seen = std::collections::HashSet::new();
        for (_, profile) in used.iter().filter(|(_, p)| !p.is_empty()) {
            if !seen.insert(profile.clone()) {
                continue;
            }
            match self.project.profiles.get(profile) {
                None => issues.push(json!({"type": "broken_reference", "detail": format!("Profile '{profile}' not found in any tier"), "resolution": "Create the profile before promoting"})),
                Some(p) => {
                    if self.profile_at(&dest, tier, profile) {
                        present.push(profile.clone());
                    } else {
                        to_copy.push(profile.clone());
                        issues.push(json!({"type": "missing_profile", "detail": format!("Profile '{profile}' not found at {destination} tier"), "resolution": "Will be copied during promotion if include_profiles=true"}));
                    }
                    if p.spec.provider.as_deref() == Some("ollama") {
                        let host = self.host_of(p.spec.base_url.as_deref());
                        match installed.get(&host) {
                            Some(Err(_)) | None => issues.push(json!({"type": "provider_unavailable", "detail": format!("Provider 'ollama' for profile '{profile}' is not available at {host}"), "resolution": "Ensure ollama is running"})),
                            Some(Ok(ms)) => {
                                if let Some(m) = &p.spec.model
                                    && !has_model(ms, m)
                                {
                                    issues.push(json!({"type": "model_unavailable", "detail": format!("Model '{m}' requires Ollama but is not installed"), "resolution": format!("Install with: ollama pull {m}")}));
                                }
                            }
                        }
                    }
                }
            }
        }
        let ready = !issues
            .iter()
            .any(|i| i["type"] == "broken_reference" || i["type"] == "provider_unavailable");
        let stem = file
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut out = json!({
            "ensemble": file.name, "destination": destination, "ready": ready, "issues": issues,
            "already_exists": dest.join("ensembles").join(&stem).exists(),
            "profiles_to_copy": to_copy, "profiles_already_present": present,
        });
        // orc's readiness: the bar (evaluations, generality signals) with its evidence.
        let d = crate::service::promotion::Dest::parse(destination)?;
        let (r, closure) = self.readiness(name, d).await?;
        out["ready"] = json!(ready && r.ready);
        if let Some(c) = &closure {
            if let Ok(plan) = self.plan(c, d, None, false) {
                out["already_exists"] =
                    json!(plan.files.first().is_some_and(|f| f.action != "write"));
                out["would_write"] = json!(plan.writes().map(|f| &f.path).collect::<Vec<_>>());
            }
            out["dependencies"] = json!(c);
        }
        if let (Value::Object(o), Ok(Value::Object(extra))) = (&mut out, serde_json::to_value(&r)) {
            for (k, v) in extra {
                if k != "ready" && k != "ensemble" && k != "destination" {
                    o.insert(k, v);
                }
            }
        }
        Ok(out)
    }

    /// `promote_ensemble`: nothing is written without `confirm: true`; `dry_run` (or no
    /// confirm) returns the plan. `force` promotes below the readiness bar.
    #[allow(clippy::too_many_arguments)]
    pub async fn mcp_promote(
        &self,
        name: &str,
        destination: &str,
        include_profiles: bool,
        dry_run: Option<bool>,
        overwrite: bool,
        confirm: bool,
        force: bool,
        category: Option<&str>,
    ) -> Result<Value, ServiceError> {
        crate::service::promotion::Dest::parse(destination)?;
        if dry_run == Some(false) && !confirm {
            return Err(refuse(
                "Confirmation required to promote (pass confirm: true after the user agreed); nothing was written. Call without dry_run: false to see the files it would write.",
            ));
        }
        let req = crate::service::promotion::PromoteRequest {
            dry_run: dry_run.unwrap_or(!confirm),
            confirm,
            overwrite,
            force,
            category: category.map(str::to_string),
            skip_profiles: !include_profiles,
        };
        self.promote(name, destination, &req).await
    }

    /// MCP `demote_ensemble`: the global tier or the library only, as `orc demote --from`. The
    /// project's own ensembles are never demoted (before, `tier: "local"` deleted the project's
    /// ensemble and, with `remove_orphaned_profiles`, its profiles).
    pub fn mcp_demote(
        &self,
        name: &str,
        tier_name: &str,
        remove_orphaned_profiles: bool,
        confirm: bool,
    ) -> Result<Value, ServiceError> {
        if !matches!(tier_name, "global" | "library") {
            return Err(refuse(format!(
                "tier `{}` refused: demote removes an ensemble from the global tier or the library, never the project's own (tier must be 'global' or 'library')",
                tier_name.chars().take(40).collect::<String>()
            )));
        }
        self.demote(name, tier_name, remove_orphaned_profiles, confirm)
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
    fn branch_names() {
        assert_eq!(
            git::branch_name("research/summary x"),
            "contribute/research-summary-x"
        );
    }
}
