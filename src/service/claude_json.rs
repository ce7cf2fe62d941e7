//! Claude Code's JSON files (`.mcp.json`, `~/.claude.json`, `.claude/settings.json`) edited in
//! place. Every value the edit does not touch keeps its exact text: numbers past what an `f64`
//! holds (`12345678901234567890123` stays that, never `1.2345678901234568e+22`), key order,
//! the formatting inside values. A read-only file is refused, never replaced; a project's file
//! is never written through a link (of the file or of a folder above it) that leads out of the
//! project.

use std::fs;
use std::path::{Path, PathBuf};

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::claude_error::InstallError;

/// A JSON object whose values are kept as their source text.
#[derive(Debug, Default)]
pub struct JsonObject {
    entries: Vec<(String, Box<RawValue>)>,
}

impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<JsonObject, A::Error> {
                let mut o = JsonObject::default();
                while let Some((k, v)) = m.next_entry::<String, Box<RawValue>>()? {
                    // As JavaScript's JSON.parse (Claude Code's reader): the first place, the
                    // last value.
                    o.set_raw(&k, v);
                }
                Ok(o)
            }
        }
        d.deserialize_map(V)
    }
}

impl JsonObject {
    /// Parses `text`; `what` names it in errors ("the top level", "`mcpServers`").
    pub fn parse(text: &str, what: &str) -> Result<JsonObject, String> {
        let raw: Box<RawValue> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if !raw.get().trim_start().starts_with('{') {
            return Err(format!("{what} is not an object"));
        }
        serde_json::from_str(raw.get()).map_err(|e| e.to_string())
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// The value at `key` as a `Value` (for reading; numbers there may lose precision, the
    /// text written back never does).
    pub fn value(&self, key: &str) -> Option<Value> {
        self.get(key)
            .and_then(|r| serde_json::from_str(r.get()).ok())
    }

    /// The object at `key` (empty when absent); an error when it is there but not an object.
    pub fn object(&self, key: &str) -> Result<JsonObject, String> {
        match self.get(key) {
            None => Ok(JsonObject::default()),
            Some(r) => JsonObject::parse(r.get(), &format!("`{key}`")),
        }
    }

    fn set_raw(&mut self, key: &str, v: Box<RawValue>) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some((_, old)) => *old = v,
            None => self.entries.push((key.to_string(), v)),
        }
    }

    /// Sets `key` to `v`, pretty-printed for a value at `depth` (the top level's values are
    /// at depth 1).
    pub fn set(&mut self, key: &str, v: &Value, depth: usize) {
        self.set_raw(key, raw(pretty_at(v, depth)));
    }

    /// Sets `key` to the object `o`, rendered for a value at `depth`.
    pub fn set_object(&mut self, key: &str, o: &JsonObject, depth: usize) {
        self.set_raw(key, raw(o.render(depth)));
    }

    /// The object's text, its own braces at `depth` (0 for a whole file).
    pub fn render(&self, depth: usize) -> String {
        if self.entries.is_empty() {
            return "{}".into();
        }
        let pad = "  ".repeat(depth + 1);
        let body: Vec<String> = self
            .entries
            .iter()
            .map(|(k, v)| {
                format!(
                    "{pad}{}: {}",
                    serde_json::to_string(k).unwrap_or_default(),
                    v.get()
                )
            })
            .collect();
        format!("{{\n{}\n{}}}", body.join(",\n"), "  ".repeat(depth))
    }
}

/// Wraps text known to be valid JSON.
fn raw(text: String) -> Box<RawValue> {
    RawValue::from_string(text).unwrap_or_else(|_| {
        // Unreachable: the text comes from serde_json itself; keep a valid value regardless.
        RawValue::from_string("null".into()).unwrap_or_default()
    })
}

/// `v` pretty-printed with 2-space indents, its inner lines indented for `depth`. Safe because
/// a JSON string never holds a raw line feed.
fn pretty_at(v: &Value, depth: usize) -> String {
    let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    text.replace('\n', &format!("\n{}", "  ".repeat(depth)))
}

/// A file to edit: the path the user named, where it really is, and the folder a project
/// file must stay in.
#[derive(Debug, Clone)]
pub struct Target {
    pub shown: PathBuf,
    pub real: PathBuf,
}

/// Resolves `path` for writing. Every link of the file itself is followed (a dotfiles
/// `~/.claude.json` is written where it points). With `confine`, the real location, its
/// folders' links resolved too, must lie inside that folder: a cloned repository's
/// `.mcp.json -> /somewhere/else` (or `.claude -> /elsewhere`) is refused.
pub fn target(path: &Path, confine: Option<&Path>) -> Result<Target, InstallError> {
    let real = link_target(path).map_err(io(path))?;
    if let Some(root) = confine {
        let root_real = fs::canonicalize(root).map_err(io(root))?;
        let resolved = resolve_existing(&real).map_err(io(&real))?;
        if !resolved.starts_with(&root_real) {
            return Err(InstallError::OutsideProject {
                path: path.to_path_buf(),
                target: resolved,
                root: root.to_path_buf(),
            });
        }
    }
    Ok(Target {
        shown: path.to_path_buf(),
        real,
    })
}

/// `path` with its longest existing ancestor canonicalised (links resolved), the rest kept.
fn resolve_existing(path: &Path) -> std::io::Result<PathBuf> {
    let mut rest = Vec::new();
    let mut cur = path.to_path_buf();
    loop {
        match fs::canonicalize(&cur) {
            Ok(c) => {
                let mut out = c;
                for part in rest.iter().rev() {
                    out.push(part);
                }
                return Ok(out);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (Some(parent), Some(name)) = (cur.parent(), cur.file_name()) else {
                    return Err(e);
                };
                rest.push(name.to_os_string());
                cur = if parent.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    parent.to_path_buf()
                };
            }
            Err(e) => return Err(e),
        }
    }
}

/// Where `path` leads once every symlink of the file itself (up to 40) is followed; `path`
/// itself when it is not a link or does not exist.
pub fn link_target(path: &Path) -> std::io::Result<PathBuf> {
    let mut cur = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = fs::read_link(&cur)?;
                cur = match cur.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            Ok(_) => return Ok(cur),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(cur),
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The file's text, `None` when it does not exist.
pub fn read(t: &Target) -> Result<Option<String>, InstallError> {
    match fs::read_to_string(&t.real) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(&t.real)(e)),
    }
}

/// Reads the file as an object (empty when missing or blank); a file that is not a JSON object
/// is an error and stays as it is.
pub fn read_object(t: &Target) -> Result<JsonObject, InstallError> {
    match read(t)? {
        None => Ok(JsonObject::default()),
        Some(text) if text.trim().is_empty() => Ok(JsonObject::default()),
        Some(text) => {
            JsonObject::parse(&text, "the top level").map_err(|why| InstallError::Malformed {
                path: t.real.clone(),
                why,
            })
        }
    }
}

/// Refuses a file the user made read-only (its owner may not write it): it is theirs to keep
/// as it is, even where the folder would let a rename replace it.
pub fn check_writable(t: &Target) -> Result<(), InstallError> {
    match fs::metadata(&t.real) {
        Ok(m) if m.permissions().readonly() => Err(InstallError::ReadOnly {
            path: t.real.clone(),
        }),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(&t.real)(e)),
    }
}

/// Writes `text` to the target in one rename, keeping the file's permissions (never widened:
/// they are set before any content is written).
pub fn write(t: &Target, text: &str) -> Result<(), InstallError> {
    check_writable(t)?;
    let path = t.real.as_path();
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).map_err(io(p))?;
    }
    let perms = match fs::metadata(path) {
        Ok(m) => Some(m.permissions()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(path)(e)),
    };
    crate::store::atomic::write_atomic_with(path, |f| {
        if let Some(perms) = perms {
            f.set_permissions(perms)?;
        }
        std::io::Write::write_all(f, text.as_bytes())
    })
    .map_err(|e| InstallError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })
}

/// Writes the object as a whole file (with a final newline).
pub fn write_object(t: &Target, o: &JsonObject) -> Result<(), InstallError> {
    let mut text = o.render(0);
    text.push('\n');
    write(t, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untouched_values_keep_their_exact_text() {
        let text = r#"{"big": 12345678901234567890123, "f": 1.000000000000000000001,
  "nested": {"n": -0.0, "e": 1E400}, "dup": 1, "dup": 2}"#;
        let mut o = JsonObject::parse(text, "the top level").expect("parse");
        o.set("added", &serde_json::json!({"a": [1, 2]}), 1);
        let out = o.render(0);
        assert!(out.contains("\"big\": 12345678901234567890123"), "{out}");
        assert!(out.contains("1.000000000000000000001"), "{out}");
        assert!(out.contains(r#"{"n": -0.0, "e": 1E400}"#), "{out}");
        assert_eq!(
            o.keys().collect::<Vec<_>>(),
            ["big", "f", "nested", "dup", "added"]
        );
        assert_eq!(
            o.value("dup"),
            Some(serde_json::json!(2)),
            "the last value wins"
        );
        let again = JsonObject::parse(&out, "the top level").expect("valid JSON");
        assert_eq!(again.value("added"), Some(serde_json::json!({"a": [1, 2]})));
        assert!(JsonObject::parse("[1]", "the top level").is_err());
        assert!(JsonObject::parse("{} x", "the top level").is_err());
    }

    #[test]
    fn nested_objects_render_with_their_depth() {
        let mut inner = JsonObject::default();
        inner.set("orc", &serde_json::json!({"args": ["mcp"]}), 2);
        let mut top = JsonObject::default();
        top.set_object("mcpServers", &inner, 1);
        assert_eq!(
            top.render(0),
            "{\n  \"mcpServers\": {\n    \"orc\": {\n      \"args\": [\n        \"mcp\"\n      ]\n    }\n  }\n}"
        );
    }
}
