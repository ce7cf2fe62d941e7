//! The folders under `src/` are the layers (ARCHITECTURE.md). This test reads every source file
//! and fails on a path that goes against the layer order (reported as `file:line`), or on any
//! import cycle between files (reported as its path, `a -> b -> a`). It understands `crate::`,
//! `super::` and `self::` paths, paths through a child module's name, grouped imports
//! (`super::{a, b}`), `use super::*`, inline `mod x { .. }` blocks, and follows a name through
//! the `use` (re-export) that brought it into a module, so `super::Learning` lands in the file
//! that defines `Learning`. A child module using its parent's own items is not an edge. Unit tests
//! (`#[cfg(test)] mod tests`) may reach anything and are not read.
//! `scripts/check-layers` runs it alone.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// Each top-level module's rank: a file may use modules of its own rank or lower ones.
/// `pyfmt` and `term` (the terminal sanitiser) are shared vocabulary and use nothing; `report`
/// reads compiled ensembles and stored artifacts; `learn` builds on the service (it invokes
/// ensembles to judge and route); `testkit` may use everything.
const RANKS: &[(&str, u32)] = &[
    ("pyfmt", 0),
    ("term", 0),
    ("load", 1),
    ("compile", 2),
    ("backend", 3),
    ("run", 4),
    ("store", 5),
    ("report", 6),
    ("service", 7),
    ("learn", 8),
    ("mcp", 9),
    ("cli", 10),
    ("testkit", 11),
];

/// Cycles allowed inside one folder, each named with its reason: a cycle whose files are all
/// in one of these sets is accepted. Nothing else is.
const ALLOWED_CYCLES: &[(&str, &[&str])] = &[(
    // Nested ensembles: the scheduler runs a node, a node runs its units, and a unit that is a
    // nested ensemble runs the scheduler again on the inner ensemble. The recursion is the
    // feature, and it stays inside `run/`.
    "nested ensembles recurse through the scheduler",
    &["run::scheduler", "run::node", "run::units"],
)];

/// Upward uses known and being removed on another branch, each with who removes it. An entry
/// that no longer matches anything fails the test, so it is deleted once the fix is merged.
const PENDING_UPWARD: &[(&str, &str, &str)] = &[];

type Module = Vec<String>;

fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code a layer rule applies to: unit tests cut off (lines kept, so line numbers hold).
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if (t.starts_with("#[cfg(test)]") || t.starts_with("#[cfg(all(test,"))
            && lines
                .peek()
                .is_some_and(|n| n.trim_start().starts_with("mod tests"))
        {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Path,
    Punct(u8),
}

/// Identifiers and punctuation with their line; comments, strings and char literals dropped.
fn tokens(code: &str) -> Vec<(Tok, usize)> {
    let s = code.as_bytes();
    let (mut i, mut line) = (0, 1);
    let mut out = Vec::new();
    let skip_to = |i: &mut usize, line: &mut usize, end: usize| {
        *line += s[*i..end.min(s.len())]
            .iter()
            .filter(|&&c| c == b'\n')
            .count();
        *i = end;
    };
    while i < s.len() {
        let c = s[i];
        if c == b'\n' {
            line += 1;
            i += 1;
        } else if s[i..].starts_with(b"//") {
            let end = code[i..].find('\n').map_or(s.len(), |n| i + n);
            i = end;
        } else if s[i..].starts_with(b"/*") {
            let end = code[i + 2..].find("*/").map_or(s.len(), |n| i + 2 + n + 2);
            skip_to(&mut i, &mut line, end);
        } else if c == b'r' && (s[i + 1..].starts_with(b"\"") || s[i + 1..].starts_with(b"#\"")) {
            let hashes = s[i + 1..].iter().take_while(|&&h| h == b'#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let from = i + 2 + hashes;
            let end = code[from..]
                .find(&close)
                .map_or(s.len(), |n| from + n + close.len());
            skip_to(&mut i, &mut line, end);
        } else if c == b'"' || (c == b'b' && s[i + 1..].starts_with(b"\"")) {
            let mut j = i + if c == b'b' { 2 } else { 1 };
            while j < s.len() && s[j] != b'"' {
                j += if s[j] == b'\\' { 2 } else { 1 };
            }
            skip_to(&mut i, &mut line, j + 1);
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{1F600}'), else a lifetime.
            if s.get(i + 1) == Some(&b'\\') {
                let end = code[i + 2..].find('\'').map_or(s.len(), |n| i + 2 + n + 1);
                i = end;
            } else if let Some(ch) = code[i + 1..].chars().next()
                && code[i + 1 + ch.len_utf8()..].starts_with('\'')
            {
                i += 2 + ch.len_utf8();
            } else {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'_') {
                i += 1;
            }
            let word = &code[start..i];
            out.push((
                Tok::Ident(word.strip_prefix("r#").unwrap_or(word).into()),
                line,
            ));
        } else if s[i..].starts_with(b"::") {
            out.push((Tok::Path, line));
            i += 2;
        } else {
            if !c.is_ascii_whitespace() {
                out.push((Tok::Punct(c), line));
            }
            i += 1;
        }
    }
    out
}

/// A path as written, relative to the module it is written in (`ctx`: the file's module plus
/// any inline `mod x { .. }` around it).
#[derive(Debug, Clone)]
struct Written {
    ctx: Module,
    segs: Vec<String>,
    line: usize,
}

/// What a `use` item binds: `name` for the path, or every name of the path's module (`*`).
#[derive(Debug, Clone)]
struct UseItem {
    path: Written,
    name: Option<String>,
}

/// One file, read.
#[derive(Debug, Default)]
struct Read {
    uses: Vec<UseItem>,
    paths: Vec<Written>,
    idents: BTreeSet<String>,
    /// Items defined, per module (the file's and its inline ones).
    defined: BTreeMap<Module, BTreeSet<String>>,
    inline: BTreeSet<Module>,
}

const ITEMS: &[&str] = &[
    "fn",
    "struct",
    "enum",
    "trait",
    "type",
    "const",
    "static",
    "mod",
    "union",
    "macro_rules",
];

fn ident_at(t: &[(Tok, usize)], i: usize) -> Option<&str> {
    match t.get(i) {
        Some((Tok::Ident(s), _)) => Some(s),
        _ => None,
    }
}

/// A `use` tree from `i` (after `use`, or inside a group), its items pushed to `out`.
fn use_tree(t: &[(Tok, usize)], mut i: usize, prefix: &Written, out: &mut Vec<UseItem>) -> usize {
    let mut path = prefix.clone();
    if t.get(i).is_some_and(|(k, _)| *k == Tok::Path) {
        i += 1;
    }
    loop {
        match t.get(i) {
            Some((Tok::Punct(b'{'), _)) => {
                i += 1;
                loop {
                    match t.get(i) {
                        None => return i,
                        Some((Tok::Punct(b'}'), _)) => return i + 1,
                        Some((Tok::Punct(b','), _)) => i += 1,
                        _ => i = use_tree(t, i, &path, out),
                    }
                }
            }
            Some((Tok::Punct(b'*'), _)) => {
                out.push(UseItem { path, name: None });
                return i + 1;
            }
            Some((Tok::Ident(name), line)) => {
                if path.segs.is_empty() {
                    path.line = *line;
                }
                let is_self = name == "self" && !path.segs.is_empty();
                if !is_self {
                    path.segs.push(name.clone());
                }
                i += 1;
                if t.get(i).is_some_and(|(k, _)| *k == Tok::Path) {
                    i += 1;
                    continue;
                }
                let mut bound = path.segs.last().cloned();
                if ident_at(t, i) == Some("as") {
                    bound = ident_at(t, i + 1).map(str::to_string);
                    i += 2;
                }
                if bound.as_deref() != Some("_") {
                    out.push(UseItem { path, name: bound });
                }
                return i;
            }
            _ => return i,
        }
    }
}

/// Reads one file's tokens: its `use` items, other paths, identifiers and item names.
fn read(module: &Module, code: &str) -> Read {
    let t = tokens(code);
    let mut r = Read::default();
    // Inline modules: (module, brace depth at which it closes).
    let mut stack: Vec<(Module, usize)> = vec![(module.clone(), 0)];
    let mut depth: usize = 0;
    let mut i = 0;
    while i < t.len() {
        let ctx = stack.last().map(|(m, _)| m.clone()).unwrap_or_default();
        match &t[i].0 {
            Tok::Punct(b'{') => depth += 1,
            Tok::Punct(b'}') => {
                depth = depth.saturating_sub(1);
                if stack.len() > 1 && stack.last().is_some_and(|(_, d)| *d == depth) {
                    stack.pop();
                }
            }
            Tok::Ident(w) if w == "use" => {
                let start = Written {
                    ctx,
                    segs: Vec::new(),
                    line: t[i].1,
                };
                i = use_tree(&t, i + 1, &start, &mut r.uses);
                continue;
            }
            Tok::Ident(w) if ITEMS.contains(&w.as_str()) => {
                let n = if t.get(i + 1).is_some_and(|(k, _)| *k == Tok::Punct(b'!')) {
                    i + 2
                } else {
                    i + 1
                };
                if let Some(name) = ident_at(&t, n) {
                    r.defined
                        .entry(ctx.clone())
                        .or_default()
                        .insert(name.to_string());
                    if w == "mod" && t.get(n + 1).is_some_and(|(k, _)| *k == Tok::Punct(b'{')) {
                        let mut inner = ctx.clone();
                        inner.push(name.to_string());
                        r.inline.insert(inner.clone());
                        depth += 1;
                        stack.push((inner, depth - 1));
                        i = n + 2;
                        continue;
                    }
                }
            }
            Tok::Ident(w) => {
                r.idents.insert(w.clone());
                let after_path = i > 0 && t[i - 1].0 == Tok::Path;
                if !after_path && t.get(i + 1).is_some_and(|(k, _)| *k == Tok::Path) {
                    let mut segs = vec![w.clone()];
                    let mut j = i + 1;
                    while t.get(j).is_some_and(|(k, _)| *k == Tok::Path)
                        && let Some(n) = ident_at(&t, j + 1)
                    {
                        segs.push(n.to_string());
                        j += 2;
                    }
                    r.paths.push(Written {
                        ctx,
                        segs,
                        line: t[i].1,
                    });
                    i = j;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    r
}

/// The names each module (file or inline) can see: what it defines, what its `use` items bind,
/// and the modules it glob-imports.
#[derive(Debug, Default)]
struct Scope {
    defined: BTreeSet<String>,
    aliases: BTreeMap<String, Module>,
    globs: Vec<Module>,
}

struct Crate {
    /// Every module, file or inline, with its scope.
    scopes: BTreeMap<Module, Scope>,
    /// The modules that are files.
    files: BTreeSet<Module>,
}

impl Crate {
    /// A written path made absolute: its first segment resolved against its module (`crate`,
    /// `super`, `self`, a child module, or a name the module imported); `None` when it starts
    /// outside the crate (`std::..`, a local type, a dependency).
    fn absolute(&self, w: &Written, aliases: &BTreeMap<String, Module>) -> Option<Module> {
        let mut segs = w.segs.iter().peekable();
        let mut base: Module = match segs.peek()?.as_str() {
            "crate" => {
                segs.next();
                Vec::new()
            }
            "self" => {
                segs.next();
                w.ctx.clone()
            }
            "super" => {
                let mut m = w.ctx.clone();
                while segs.peek().is_some_and(|s| *s == "super") {
                    segs.next();
                    m.pop();
                }
                m
            }
            first => {
                let mut child = w.ctx.clone();
                child.push(first.to_string());
                if self.scopes.contains_key(&child) {
                    segs.next();
                    child
                } else if let Some(a) = aliases.get(first) {
                    segs.next();
                    a.clone()
                } else {
                    return None;
                }
            }
        };
        base.extend(segs.cloned());
        Some(base)
    }

    /// The path after following every `use` that re-binds one of its names.
    fn resolve(&self, path: &Module, depth: usize) -> Module {
        if depth > 16 {
            return path.clone();
        }
        let Some(k) = (0..=path.len())
            .rev()
            .find(|&n| self.scopes.contains_key(&path[..n]))
        else {
            return path.clone();
        };
        let Some(name) = path.get(k) else {
            return path.clone();
        };
        let scope = &self.scopes[&path[..k]];
        let rest = &path[k + 1..];
        if let Some(a) = scope.aliases.get(name)
            && a != path
        {
            let mut next = a.clone();
            next.extend(rest.iter().cloned());
            return self.resolve(&next, depth + 1);
        }
        if scope.defined.contains(name) {
            return path.clone();
        }
        for g in &scope.globs {
            let g = self.resolve(g, depth + 1);
            if let Some(s) = self.scopes.get(&g)
                && (s.defined.contains(name) || s.aliases.contains_key(name))
            {
                let mut next = g;
                next.extend(path[k..].iter().cloned());
                return self.resolve(&next, depth + 1);
            }
        }
        path.clone()
    }

    /// The file a path lands in: its longest prefix that is a file's module.
    fn file_of(&self, path: &Module) -> Option<Module> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|p| self.files.contains(p))
    }
}

fn rank(m: &Module) -> Option<u32> {
    let top = m.first()?;
    RANKS.iter().find(|(n, _)| n == top).map(|&(_, r)| r)
}

fn name(m: &Module) -> String {
    m.join("::")
}

/// One use of one file by another.
#[derive(Debug, Clone)]
struct Use {
    from: Module,
    to: Module,
    path: Module,
    line: usize,
}

struct Graph {
    edges: BTreeMap<Module, BTreeSet<Module>>,
    uses: Vec<Use>,
    files: BTreeMap<Module, String>,
    problems: Vec<String>,
}

/// Reads the given sources (module path -> (file name shown, text)) into the graph of uses.
fn graph_of(sources: &BTreeMap<Module, (String, String)>) -> Graph {
    let reads: BTreeMap<Module, Read> = sources
        .iter()
        .map(|(m, (_, text))| (m.clone(), read(m, &code(text))))
        .collect();
    let mut krate = Crate {
        scopes: BTreeMap::new(),
        files: sources.keys().cloned().collect(),
    };
    for (m, r) in &reads {
        krate.scopes.entry(m.clone()).or_default();
        for i in &r.inline {
            krate.scopes.entry(i.clone()).or_default();
        }
        for (ctx, names) in &r.defined {
            krate
                .scopes
                .entry(ctx.clone())
                .or_default()
                .defined
                .extend(names.iter().cloned());
        }
    }
    // Aliases made absolute: twice, so a `use` through a name another `use` bound resolves.
    for _ in 0..2 {
        for r in reads.values() {
            for u in &r.uses {
                let known = krate
                    .scopes
                    .get(&u.path.ctx)
                    .map(|s| s.aliases.clone())
                    .unwrap_or_default();
                let Some(abs) = krate.absolute(&u.path, &known) else {
                    continue;
                };
                let scope = krate.scopes.entry(u.path.ctx.clone()).or_default();
                match &u.name {
                    Some(n) => {
                        scope.aliases.insert(n.clone(), abs);
                    }
                    None if !scope.globs.contains(&abs) => scope.globs.push(abs),
                    None => {}
                }
            }
        }
    }
    let mut g = Graph {
        edges: BTreeMap::new(),
        uses: Vec::new(),
        files: sources
            .iter()
            .map(|(m, (f, _))| (m.clone(), f.clone()))
            .collect(),
        problems: Vec::new(),
    };
    for (m, r) in &reads {
        let Some(from) = rank(m) else {
            g.problems
                .push(format!("{}: not in RANKS (tests/layers.rs)", g.files[m]));
            continue;
        };
        let mut written: Vec<(Written, Option<Module>)> = Vec::new();
        // A `use` that binds a module is no edge by itself: the paths written through the name
        // are (a folder's `mod.rs` is not used by `use super::batch; batch::current()`).
        for u in &r.uses {
            let binds_module = u.name.is_some()
                && krate
                    .absolute(&u.path, &krate.scopes[&u.path.ctx].aliases)
                    .is_some_and(|a| krate.scopes.contains_key(&krate.resolve(&a, 0)));
            if !binds_module {
                written.push((u.path.clone(), None));
            }
        }
        for p in &r.paths {
            written.push((p.clone(), None));
        }
        // Names a glob import brought in, used bare.
        for u in r.uses.iter().filter(|u| u.name.is_none()) {
            let scope_aliases = krate.scopes[&u.path.ctx].aliases.clone();
            let Some(g) = krate.absolute(&u.path, &scope_aliases) else {
                continue;
            };
            let g = krate.resolve(&g, 0);
            if let Some(s) = krate.scopes.get(&g) {
                for n in s.aliases.keys().chain(&s.defined) {
                    if r.idents.contains(n) {
                        let mut p = g.clone();
                        p.push(n.clone());
                        let w = Written {
                            ctx: u.path.ctx.clone(),
                            segs: Vec::new(),
                            line: u.path.line,
                        };
                        written.push((w, Some(p)));
                    }
                }
            }
        }
        for (w, abs) in written {
            let aliases = &krate.scopes[&w.ctx].aliases;
            let Some(abs) = abs.or_else(|| krate.absolute(&w, aliases)) else {
                continue;
            };
            let path = krate.resolve(&abs, 0);
            let Some(t) = krate.file_of(&path) else {
                continue;
            };
            // A child using its parent's (or its own) items is not an edge.
            if m.starts_with(&t) {
                continue;
            }
            let to = rank(&t).unwrap_or(u32::MAX);
            if to > from {
                g.problems.push(format!(
                    "{}:{}: {} uses crate::{}: layer {} is above layer {}",
                    g.files[m],
                    w.line,
                    name(m),
                    name(&path),
                    t[0],
                    m[0]
                ));
            }
            g.edges.entry(m.clone()).or_default().insert(t.clone());
            g.uses.push(Use {
                from: m.clone(),
                to: t,
                path,
                line: w.line,
            });
        }
    }
    g.problems.sort();
    g.problems.dedup();
    g
}

fn graph() -> Graph {
    // `LAYERS_SRC=<dir> cargo test --test layers` checks another tree (an older commit's).
    let src = std::env::var_os("LAYERS_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.retain(|f| {
        let rel = f.strip_prefix(&src).expect("under src");
        !(rel == Path::new("lib.rs") || rel == Path::new("main.rs") || rel.starts_with("bin"))
    });
    let sources = files
        .iter()
        .map(|f| {
            let shown = format!("src/{}", f.strip_prefix(&src).expect("under src").display());
            let text = std::fs::read_to_string(f).expect("read source");
            (module_of(&src, f), (shown, text))
        })
        .collect();
    graph_of(&sources)
}

/// Every import cycle between files, each as its path (`a -> b -> a`): for each file in a
/// strongly connected set, the shortest way back to it; rotations of one cycle counted once.
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    let mut found: BTreeSet<Vec<Module>> = BTreeSet::new();
    for start in edges.keys() {
        // Shortest path start -> .. -> start (BFS).
        let mut prev: BTreeMap<&Module, &Module> = BTreeMap::new();
        let mut queue = VecDeque::from([start]);
        let mut back = None;
        while let Some(n) = queue.pop_front() {
            for next in edges.get(n).into_iter().flatten() {
                if next == start {
                    back = Some(n);
                    break;
                }
                if !prev.contains_key(next) {
                    prev.insert(next, n);
                    queue.push_back(next);
                }
            }
            if back.is_some() {
                break;
            }
        }
        let Some(mut at) = back else { continue };
        let mut path = vec![at.clone()];
        while at != start {
            at = prev[at];
            path.push(at.clone());
        }
        path.reverse();
        // One rotation per cycle: the smallest file first.
        let low = (0..path.len()).min_by_key(|&i| &path[i]).unwrap_or(0);
        path.rotate_left(low);
        let first = path[0].clone();
        path.push(first);
        found.insert(path);
    }
    found.into_iter().collect()
}

/// Whether a cycle is one of the named exceptions.
fn allowed(cycle: &[Module]) -> bool {
    ALLOWED_CYCLES
        .iter()
        .any(|(_, set)| cycle.iter().all(|m| set.contains(&name(m).as_str())))
}

fn show(cycle: &[Module], g: &Graph) -> String {
    let names: Vec<String> = cycle.iter().map(name).collect();
    let mut lines = vec![names.join(" -> ")];
    for pair in cycle.windows(2) {
        if let Some(u) = g.uses.iter().find(|u| u.from == pair[0] && u.to == pair[1]) {
            lines.push(format!(
                "    {}:{} uses crate::{}",
                g.files[&u.from],
                u.line,
                name(&u.path)
            ));
        }
    }
    lines.join("\n")
}

fn pending(problem: &str, from: &str, layer: &str) -> bool {
    problem.contains(&format!(": {from} uses crate::{layer}"))
}

#[test]
fn no_file_uses_a_layer_above_its_own() {
    let g = graph();
    let broken: Vec<&String> = g
        .problems
        .iter()
        .filter(|p| !PENDING_UPWARD.iter().any(|(f, l, _)| pending(p, f, l)))
        .collect();
    let stale: Vec<String> = PENDING_UPWARD
        .iter()
        .filter(|(f, l, _)| !g.problems.iter().any(|p| pending(p, f, l)))
        .map(|(f, l, why)| format!("{f} -> {l} ({why}): fixed, delete it from PENDING_UPWARD"))
        .collect();
    assert!(
        broken.is_empty() && stale.is_empty(),
        "layer order broken:\n{}",
        broken
            .iter()
            .map(|s| s.as_str())
            .chain(stale.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn no_import_cycle_between_files() {
    let g = graph();
    let found: Vec<String> = cycles(&g.edges)
        .iter()
        .filter(|c| !allowed(c))
        .map(|c| show(c, &g))
        .collect();
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
    for (why, set) in ALLOWED_CYCLES {
        assert!(
            cycles(&g.edges)
                .iter()
                .any(|c| allowed(c) && c.iter().all(|m| set.contains(&name(m).as_str()))),
            "the allowed cycle `{why}` no longer exists: delete it from ALLOWED_CYCLES"
        );
    }
}

fn m(s: &str) -> Module {
    s.split("::")
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

fn paths(module: &str, text: &str) -> Vec<String> {
    let r = read(&m(module), &code(text));
    let mut out: Vec<String> = r.uses.iter().map(|u| u.path.segs.join("::")).collect();
    out.extend(r.paths.iter().map(|p| p.segs.join("::")));
    out
}

/// The checker itself: grouped imports are expanded, `super::`/`self::` and re-exports are
/// followed, a parent is not an edge, strings and comments are not paths, and a cycle or an
/// upward use is caught with its place.
#[test]
fn the_checker_sees_groups_relative_paths_and_cycles() {
    assert_eq!(
        paths(
            "a",
            "use crate::{run::{self, Engine}, store::artifact};\nx(crate::load::yaml::parse)"
        ),
        [
            "crate::run",
            "crate::run::Engine",
            "crate::store::artifact",
            "crate::load::yaml::parse"
        ]
    );
    assert_eq!(
        paths(
            "a",
            "// crate::cli\nlet s = \"crate::cli\"; let c = '\"'; /* super::x */ y(self::z)"
        ),
        ["self::z"]
    );
    assert!(
        code("use a;\n#[cfg(test)]\nmod tests {\nuse crate::cli;\n}")
            .find("cli")
            .is_none()
    );
    assert!(
        code(
            "use a;\n#[cfg(all(test, feature = \"testkit\"))]\nmod tests {\nuse crate::testkit;\n}"
        )
        .find("testkit")
        .is_none()
    );

    let src = |files: &[(&str, &str)]| -> BTreeMap<Module, (String, String)> {
        files
            .iter()
            .map(|(md, text)| (m(md), (format!("{md}.rs"), text.to_string())))
            .collect()
    };
    // learn::batch reaches learn::service through the parent's re-export; service uses batch.
    let g = graph_of(&src(&[
        (
            "learn",
            "pub mod batch;\npub mod service;\npub use service::Learning;\npub fn now() {}",
        ),
        (
            "learn::batch",
            "use super::{now, Learning};\nfn f(l: &Learning) { now() }",
        ),
        (
            "learn::service",
            "pub struct Learning;\nfn g() { super::batch::learn() }",
        ),
        ("service", "use crate::learn;\n\nfn h() { learn::now() }"),
    ]));
    let c = cycles(&g.edges);
    assert_eq!(c.len(), 1);
    assert_eq!(
        show(&c[0], &g),
        "learn::batch -> learn::service -> learn::batch\n    \
         learn::batch.rs:1 uses crate::learn::service::Learning\n    \
         learn::service.rs:2 uses crate::learn::batch::learn"
    );
    assert_eq!(
        g.problems,
        ["service.rs:3: service uses crate::learn::now: layer learn is above layer service"]
    );
    // `use super::*` and an inline module's `super::`.
    let g = graph_of(&src(&[
        ("run", "pub mod a;\npub mod b;\npub use b::Place;"),
        (
            "run::a",
            "use super::*;\nmod inner {\n    use super::super::b::Place;\n}\nfn f(p: Place) {}",
        ),
        ("run::b", "pub struct Place;"),
    ]));
    let to: Vec<(String, usize)> = g
        .uses
        .iter()
        .filter(|u| u.from == m("run::a"))
        .map(|u| (name(&u.path), u.line))
        .collect();
    assert_eq!(
        to,
        [
            ("run::b::Place".to_string(), 3),
            ("run::b::Place".to_string(), 1)
        ]
    );

    let mut edges = BTreeMap::new();
    edges.insert(m("a"), BTreeSet::from([m("b")]));
    edges.insert(m("b"), BTreeSet::from([m("a"), m("c")]));
    edges.insert(m("c"), BTreeSet::from([m("b")]));
    let names: Vec<String> = cycles(&edges)
        .iter()
        .map(|c| c.iter().map(name).collect::<Vec<_>>().join(" -> "))
        .collect();
    assert_eq!(names, ["a -> b -> a", "b -> c -> b"]);
    edges.remove(&m("b"));
    assert!(cycles(&edges).is_empty());
}

/// The two front ends never use each other: `mcp` nothing of `cli`, and `cli` only the server's
/// entry points, from its top (`orc mcp serve` starts the server; rendering and logic are the
/// service's).
#[test]
fn the_front_ends_never_use_each_other() {
    let g = graph();
    let mut crossing = Vec::new();
    for (from, tos) in &g.edges {
        for to in tos {
            let (a, b) = (from[0].as_str(), to[0].as_str());
            // `cli/serve.rs` is `orc mcp serve`: the command that starts the server.
            let starts_server = (from == &["cli".to_string()]
                || from == &["cli".to_string(), "serve".to_string()])
                && b == "mcp";
            if (a == "mcp" && b == "cli") || (a == "cli" && b == "mcp" && !starts_server) {
                crossing.push(format!("{} uses {}", from.join("::"), to.join("::")));
            }
        }
    }
    assert!(
        crossing.is_empty(),
        "front ends crossing:\n{}",
        crossing.join("\n")
    );
}
