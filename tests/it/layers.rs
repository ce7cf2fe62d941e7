//! The folders under `src/` are the layers (ARCHITECTURE.md). This test reads every source file
//! and fails on a `crate::` path that goes against the layer order, or on any import cycle
//! between files (a child module using its parent's items is not a cycle). Unit tests
//! (`#[cfg(test)] mod tests`) may reach anything and are not read.
//! `scripts/check-layers` runs it alone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module's rank: a file may use modules of its own rank or lower ones.
/// `pyfmt` and `term` (the terminal sanitiser) are shared vocabulary and use nothing; `learn` is its own room beside `service`;
/// `report` reads compiled ensembles and stored artifacts; `testkit` may use everything.
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
    ("learn", 7),
    ("mcp", 8),
    ("cli", 9),
    ("testkit", 10),
];

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

/// The code a layer rule applies to: comments dropped, unit tests cut off.
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
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn ident(s: &[u8], mut i: usize) -> (String, usize) {
    let start = i;
    while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'_') {
        i += 1;
    }
    (String::from_utf8_lossy(&s[start..i]).into_owned(), i)
}

/// Paths after `crate::` starting at `i`, with `{a::b, c}` groups expanded.
fn paths_at(s: &[u8], mut i: usize, prefix: Module, out: &mut Vec<Module>) -> usize {
    let mut path = prefix;
    loop {
        if i < s.len() && s[i] == b'{' {
            i += 1;
            loop {
                while i < s.len() && (s[i] as char).is_whitespace() {
                    i += 1;
                }
                if i >= s.len() || s[i] == b'}' {
                    return i + 1;
                }
                i = paths_at(s, i, path.clone(), out);
                while i < s.len() && s[i] != b',' && s[i] != b'}' {
                    i += 1;
                }
                if i < s.len() && s[i] == b',' {
                    i += 1;
                }
            }
        }
        let (name, next) = ident(s, i);
        if name.is_empty() {
            break;
        }
        if name != "self" {
            path.push(name);
        }
        i = next;
        if s[i..].starts_with(b"::") {
            i += 2;
        } else {
            break;
        }
    }
    out.push(path);
    i
}

fn crate_paths(code: &str) -> Vec<Module> {
    let s = code.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("crate::") {
        let start = from + at;
        let boundary = start == 0 || {
            let c = s[start - 1];
            !(c.is_ascii_alphanumeric() || c == b'_')
        };
        let end = start + "crate::".len();
        if boundary {
            paths_at(s, end, Vec::new(), &mut out);
        }
        from = end;
    }
    out
}

fn rank(m: &Module) -> Option<u32> {
    let top = m.first()?;
    RANKS.iter().find(|(n, _)| n == top).map(|&(_, r)| r)
}

/// The file (module) a path lands in: its longest prefix that is a module.
fn target(path: &Module, modules: &BTreeSet<Module>) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
}

struct Graph {
    edges: BTreeMap<Module, BTreeSet<Module>>,
    problems: Vec<String>,
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.retain(|f| {
        let rel = f.strip_prefix(&src).expect("under src");
        !(rel == Path::new("lib.rs") || rel == Path::new("main.rs") || rel.starts_with("bin"))
    });
    let modules: BTreeMap<Module, PathBuf> = files
        .iter()
        .map(|f| (module_of(&src, f), f.clone()))
        .collect();
    let known: BTreeSet<Module> = modules.keys().cloned().collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    let mut problems = Vec::new();
    for (m, file) in &modules {
        let name = m.join("::");
        let Some(from) = rank(m) else {
            problems.push(format!("src/{name}: not in RANKS (tests/layers.rs)"));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read source");
        for path in crate_paths(&code(&text)) {
            let Some(t) = target(&path, &known) else {
                continue;
            };
            // A child using its parent's (or its own) items is not an edge.
            if m.starts_with(&t) {
                continue;
            }
            let to = rank(&t).unwrap_or(u32::MAX);
            if to > from {
                problems.push(format!(
                    "{name} uses crate::{}: layer {} is above layer {}",
                    path.join("::"),
                    t[0],
                    m[0]
                ));
            }
            edges.entry(m.clone()).or_default().insert(t);
        }
    }
    Graph { edges, problems }
}

fn cycle(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    // 0 unvisited, 1 on the stack, 2 done.
    fn visit(
        m: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        state: &mut BTreeMap<Module, u8>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        state.insert(m.clone(), 1);
        stack.push(m.clone());
        for n in edges.get(m).into_iter().flatten() {
            match state.get(n).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == n).unwrap_or(0);
                    let mut c = stack[at..].to_vec();
                    c.push(n.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(n, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(m.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in edges.keys() {
        if state.get(m).copied().unwrap_or(0) == 0
            && let Some(c) = visit(m, edges, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_file_uses_a_layer_above_its_own() {
    let g = graph();
    assert!(
        g.problems.is_empty(),
        "layer order broken:\n{}",
        g.problems.join("\n")
    );
}

#[test]
fn no_import_cycle_between_files() {
    let g = graph();
    if let Some(c) = cycle(&g.edges) {
        let names: Vec<String> = c.iter().map(|m| m.join("::")).collect();
        panic!("import cycle: {}", names.join(" -> "));
    }
}

/// The checker itself: grouped imports are expanded, a parent is not an edge, and a cycle or
/// an upward use is caught.
#[test]
fn the_checker_sees_groups_and_cycles() {
    let paths = crate_paths(
        "use crate::{run::{self, Engine}, store::artifact};\nx(crate::load::yaml::parse)",
    );
    let names: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        names,
        ["run", "run::Engine", "store::artifact", "load::yaml::parse"]
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
    let m = |s: &str| -> Module { s.split("::").map(str::to_string).collect() };
    let mut edges = BTreeMap::new();
    edges.insert(m("a"), BTreeSet::from([m("b")]));
    edges.insert(m("b"), BTreeSet::from([m("a")]));
    assert!(cycle(&edges).is_some());
    edges.remove(&m("b"));
    assert!(cycle(&edges).is_none());
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
