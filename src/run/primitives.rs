//! llm-orc's built-in script primitives, run natively (no Python): read_file, write_file,
//! json_extract, replicate_n_times, get_user_input, confirm_action.
//!
//! Each primitive builds the JSON object llm-orc's script would print (same keys, same order) and
//! returns it in the form llm-orc stores: re-serialised by `json.dumps` for plain input, the raw
//! pretty-printed text for schema input. The file primitives are confined to the project
//! directory unless the user passed `--allow-outside-project` (orc's rule, not llm-orc's).

use std::cell::Cell;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::pyfmt::{json_dumps, repr, str_of};
use crate::run::script::ScriptInput;

/// Upper bound on `replicate_n_times`' count, so a typo cannot exhaust memory.
const MAX_REPLICATIONS: i64 = 100_000;

/// Symlinks followed while resolving one path before giving up (Linux's ELOOP limit).
const MAX_LINKS: u32 = 40;

/// Where the file primitives may read and write.
#[derive(Debug, Clone)]
pub struct FileScope {
    /// The project directory (the folder holding `.llm-orc/`, or the working directory when there is none).
    pub root: PathBuf,
    /// Relative paths are resolved against this (the process's working directory).
    pub cwd: PathBuf,
    /// The user passed the explicit flag allowing paths outside `root`.
    pub unconfined: bool,
}

/// What a primitive produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The agent's response, exactly as llm-orc would store it.
    pub response: Value,
    /// True when an answer was requested from the user through `ask` (for metadata.user_inputs_collected).
    pub asked_user: bool,
}

/// The table of primitives lives in `load::resolve`, which resolves references to them.
pub use crate::load::resolve::{PRIMITIVES, is_interactive, is_primitive};

/// Runs primitive `name`. `ask(prompt)` asks the user and returns their line, or None on end of
/// input / when no one can answer. Failures of the primitive itself (missing file, bad JSON...)
/// are `Ok` with `success: false`, as in llm-orc; `Err` only for an unknown name.
pub fn run(
    name: &str,
    parameters: &Map<String, Value>,
    input: &ScriptInput,
    scope: &FileScope,
    ask: &dyn Fn(&str) -> Option<String>,
) -> Result<Outcome, String> {
    let asked = Cell::new(false);
    let tracked = |prompt: &str| {
        let answer = ask(prompt);
        asked.set(answer.is_some());
        answer
    };
    let obj = match name {
        "read_file" => read_file(&params(parameters, input), scope),
        "write_file" => write_file(&params(parameters, input), scope),
        "json_extract" => json_extract(&params(parameters, input)),
        "replicate_n_times" => replicate(&params(parameters, input)),
        "get_user_input" => {
            let (p, pre, fallback) = interactive_params(parameters, input);
            get_user_input(&p, (pre, fallback), &tracked)
        }
        "confirm_action" => {
            let (p, pre, fallback) = interactive_params(parameters, input);
            confirm_action(&p, (pre, fallback), &tracked)
        }
        _ => return Err(format!("unknown built-in primitive `{name}`")),
    };
    let text = match input {
        ScriptInput::Plain(_) => json_dumps(&obj),
        ScriptInput::Schema { .. } => {
            serde_json::to_string_pretty(&obj).map_err(|e| e.to_string())?
        }
    };
    Ok(Outcome {
        response: Value::String(text),
        asked_user: asked.get(),
    })
}

/// The JSON object the script would read on stdin. An unparsable schema document reads as `{}`.
fn stdin(input: &ScriptInput, plain_parameters: &Map<String, Value>) -> Map<String, Value> {
    match input {
        ScriptInput::Plain(text) => {
            let mut m = Map::new();
            m.insert("input".into(), Value::String(text.clone()));
            m.insert("parameters".into(), Value::Object(plain_parameters.clone()));
            m.insert("context".into(), Value::Object(Map::new()));
            m
        }
        ScriptInput::Schema { json, .. } => serde_json::from_str(json).unwrap_or_default(),
    }
}

/// stdin's `parameters` object, or (llm-orc quirk) the whole stdin object when it has none: for
/// schema input the primitive sees agent_name, input_data, ... as its parameters.
fn stdin_params(stdin: &Map<String, Value>) -> Map<String, Value> {
    match stdin.get("parameters") {
        Some(Value::Object(p)) => p.clone(),
        _ => stdin.clone(),
    }
}

/// AGENT_PARAMETERS when non-empty, else the parameters read from stdin (plain stdin carries `{}`).
fn params(parameters: &Map<String, Value>, input: &ScriptInput) -> Map<String, Value> {
    if parameters.is_empty() {
        stdin_params(&stdin(input, &Map::new()))
    } else {
        parameters.clone()
    }
}

/// The settings and answers of an interactive primitive. orc asks the way llm-orc's interactive
/// mode does, with a fixed order: a `pre_collected` parameter is the answer; else the user is
/// asked (when someone can answer); else, as in llm-orc's non-interactive run, the plain input
/// text is the answer; else the primitive reports that input was cancelled.
/// Returns (parameters, the pre-collected answer, the fallback input text).
fn interactive_params(
    parameters: &Map<String, Value>,
    input: &ScriptInput,
) -> (Map<String, Value>, Option<String>, Option<String>) {
    let stdin = stdin(input, parameters);
    let p = if parameters.is_empty() {
        stdin_params(&stdin)
    } else {
        parameters.clone()
    };
    let pre = p
        .get("pre_collected")
        .and_then(Value::as_str)
        .map(str::to_string);
    let fallback = stdin
        .get("input")
        .and_then(Value::as_str)
        .map(str::to_string);
    (p, pre, fallback)
}

/// Python's `str(params.get(key, default))`.
fn param(p: &Map<String, Value>, key: &str, default: &str) -> String {
    p.get(key).map_or_else(|| default.to_string(), str_of)
}

use crate::compile::predicate::truthy;

/// Reads a text file. Like Python's text mode, `\r\n` and `\r` become `\n`.
fn read_file(p: &Map<String, Value>, scope: &FileScope) -> Value {
    let path = param(p, "path", "input.txt");
    let encoding = param(p, "encoding", "utf-8");
    let result = confine(&path, scope).and_then(|real| {
        let bytes = fs::read(real).map_err(|e| os_error(&e, &path))?;
        let text = decode(&bytes, codec(&encoding)?)?;
        Ok(text.replace("\r\n", "\n").replace('\r', "\n"))
    });
    match result {
        Ok(content) => json!({"success": true, "content": content, "path": path,
            "size": content.chars().count(), "error": null}),
        Err(error) => json!({"success": false, "content": null, "path": path, "size": 0,
            "error": error}),
    }
}

/// Writes a text file, creating parent directories. Unlike Python, the content is encoded before
/// anything touches the disk, so an encoding error leaves no empty file behind.
fn write_file(p: &Map<String, Value>, scope: &FileScope) -> Value {
    let path = param(p, "path", "output.txt");
    let content = param(p, "content", "");
    let encoding = param(p, "encoding", "utf-8");
    let result = confine(&path, scope).and_then(|real| {
        let bytes = encode(&content, codec(&encoding)?)?;
        if let Some(parent) = real.parent() {
            fs::create_dir_all(parent).map_err(|e| os_error(&e, &path))?;
        }
        fs::write(&real, &bytes).map_err(|e| os_error(&e, &path))?;
        Ok(bytes.len())
    });
    match result {
        Ok(n) => json!({"success": true, "path": path, "size": content.chars().count(),
            "bytes_written": n, "error": null}),
        Err(error) => json!({"success": false, "path": path, "size": 0, "bytes_written": 0,
            "error": error}),
    }
}

/// A Python-style OS error: `[Errno 2] No such file or directory: 'missing.txt'`.
fn os_error(e: &io::Error, path: &str) -> String {
    let msg = e.to_string();
    match e.raw_os_error() {
        Some(n) => {
            let strerror = msg
                .strip_suffix(&format!(" (os error {n})"))
                .unwrap_or(&msg);
            format!(
                "[Errno {n}] {strerror}: {}",
                repr(&Value::String(path.to_string()))
            )
        }
        None => msg,
    }
}

/// The text encodings the file primitives support.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Codec {
    Utf8,
    Ascii,
    Latin1,
}

fn codec(name: &str) -> Result<Codec, String> {
    match name.trim().to_ascii_lowercase().replace('_', "-").as_str() {
        "utf-8" | "utf8" | "u8" => Ok(Codec::Utf8),
        "ascii" | "us-ascii" => Ok(Codec::Ascii),
        "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" | "l1" => Ok(Codec::Latin1),
        _ => Err(format!("unknown encoding: {name}")),
    }
}

fn decode(bytes: &[u8], codec: Codec) -> Result<String, String> {
    match codec {
        Codec::Latin1 => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
        Codec::Ascii => match bytes.iter().position(|b| !b.is_ascii()) {
            Some(i) => Err(format!(
                "'ascii' codec can't decode byte 0x{:02x} in position {i}: ordinal not in range(128)",
                bytes[i]
            )),
            None => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
        },
        Codec::Utf8 => String::from_utf8(bytes.to_vec()).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let byte = bytes.get(at).copied().unwrap_or(0);
            let reason = match e.utf8_error().error_len() {
                None => "unexpected end of data",
                Some(_) if matches!(byte, 0x80..=0xc1 | 0xf5..=0xff) => "invalid start byte",
                Some(_) => "invalid continuation byte",
            };
            format!("'utf-8' codec can't decode byte 0x{byte:02x} in position {at}: {reason}")
        }),
    }
}

fn encode(text: &str, codec: Codec) -> Result<Vec<u8>, String> {
    let (name, limit) = match codec {
        Codec::Utf8 => return Ok(text.as_bytes().to_vec()),
        Codec::Ascii => ("ascii", 0x80),
        Codec::Latin1 => ("latin-1", 0x100),
    };
    let mut out = Vec::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        match u8::try_from(u32::from(c)) {
            Ok(b) if u32::from(c) < limit => out.push(b),
            _ => {
                let code = u32::from(c);
                let esc = match code {
                    0..=0xff => format!("\\x{code:02x}"),
                    0x100..=0xffff => format!("\\u{code:04x}"),
                    _ => format!("\\U{code:08x}"),
                };
                return Err(format!(
                    "'{name}' codec can't encode character '{esc}' in position {i}: \
                     ordinal not in range({limit})"
                ));
            }
        }
    }
    Ok(out)
}

/// Resolves `given` against the working directory and, unless unconfined, checks it stays inside
/// the project root once `..` and every symlink (dangling ones too) are followed. Returns the
/// fully resolved path, which is what the primitive then opens.
fn confine(given: &str, scope: &FileScope) -> Result<PathBuf, String> {
    let joined = scope.cwd.join(given);
    if scope.unconfined {
        return Ok(joined);
    }
    let refused = || {
        format!(
            "path {} is outside the project directory {}; pass --allow-outside-project to allow it",
            repr(&Value::String(given.to_string())),
            scope.root.display()
        )
    };
    let root = real_path(&scope.root, &mut 0).ok_or_else(refused)?;
    match real_path(&joined, &mut 0) {
        Some(real) if real.starts_with(&root) => Ok(real),
        _ => Err(refused()),
    }
}

/// `realpath -m`: an absolute path with `.`/`..` applied and every existing symlink replaced by
/// its target, missing components kept as they are. None when the links loop.
fn real_path(path: &Path, links: &mut u32) -> Option<PathBuf> {
    let path = std::path::absolute(path).ok()?;
    let mut out = PathBuf::new();
    for comp in path.components() {
        match comp {
            Component::Prefix(_) | Component::RootDir => out.push(comp.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => {
                let next = out.join(name);
                match fs::read_link(&next) {
                    Ok(target) => {
                        *links += 1;
                        if *links > MAX_LINKS {
                            return None;
                        }
                        out = real_path(&out.join(target), links)?;
                    }
                    Err(_) => out = next,
                }
            }
        }
    }
    Some(out)
}

/// Picks `fields` out of `json_data`. Where llm-orc would crash (json_data neither an object nor
/// a string holding one, `fields` not a list of strings) this fails like an invalid JSON string:
/// `success: false`, empty results, and an error naming the problem.
fn json_extract(p: &Map<String, Value>) -> Value {
    let fail = |error: String| {
        json!({"success": false, "extracted": {}, "missing_fields": [], "total_fields": 0,
            "extracted_count": 0, "error": error})
    };
    let data = match p.get("json_data") {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return fail("json_data is not a JSON object".into()),
            Err(e) => return fail(format!("Invalid JSON: {e}")),
        },
        Some(_) => return fail("json_data must be a JSON object or a string holding one".into()),
    };
    let fields: Option<Vec<&str>> = match p.get("fields") {
        None => Some(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(Value::as_str).collect(),
        Some(_) => None,
    };
    let Some(fields) = fields else {
        return fail("fields must be a list of strings".into());
    };
    let mut extracted = Map::new();
    let mut missing = Vec::new();
    for field in &fields {
        match data.get(*field) {
            Some(v) => {
                extracted.insert((*field).to_string(), v.clone());
            }
            None => missing.push(*field),
        }
    }
    json!({"success": true, "extracted": extracted, "missing_fields": missing,
        "total_fields": fields.len(), "extracted_count": extracted.len(), "error": null})
}

/// Describes `replications` runs, each with its own seed (`seed + i`, or random in
/// 1..=1_000_000 without a seed). Both parameters must be JSON integers (seed may be null).
fn replicate(p: &Map<String, Value>) -> Value {
    let fail = |error: String| {
        json!({"success": false, "replications": [], "total_replications": 0,
            "base_seed": null, "error": error})
    };
    let n = match p.get("replications") {
        None => 1,
        // A u64 beyond i64 is simply too many.
        Some(v) => match v.as_i64().or_else(|| v.as_u64().map(|_| i64::MAX)) {
            Some(n) if n >= 1 => n,
            _ => return fail("replications must be >= 1".into()),
        },
    };
    if n > MAX_REPLICATIONS {
        return fail(format!(
            "replications must be <= {MAX_REPLICATIONS} (orc's safety limit)"
        ));
    }
    let seed = match p.get("seed") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(s) => Some(s),
            None => return fail("seed must be an integer or null".into()),
        },
    };
    let mut reps = Vec::new();
    for i in 0..n {
        let random_seed = match seed {
            Some(s) => match s.checked_add(i) {
                Some(v) => v,
                None => return fail("seed + replication index overflows a 64-bit integer".into()),
            },
            None => fastrand::i64(1..=1_000_000),
        };
        reps.push(json!({"replication_id": i + 1, "total_replications": n,
            "random_seed": random_seed}));
    }
    json!({"success": true, "replications": reps, "total_replications": n, "base_seed": seed,
        "error": null})
}

fn get_user_input(
    p: &Map<String, Value>,
    (pre, fallback): (Option<String>, Option<String>),
    ask: &dyn Fn(&str) -> Option<String>,
) -> Value {
    let prompt = param(p, "prompt", "Enter input:");
    let multiline = p.get("multiline").is_some_and(truthy);
    match pre.or_else(|| ask(&prompt)).or(fallback) {
        Some(input) => json!({"success": true, "input": input, "multiline": multiline,
            "length": input.chars().count(), "error": null}),
        None => json!({"success": false, "input": "", "multiline": false, "length": 0,
            "error": "User cancelled input"}),
    }
}

/// `input` in the output is the normalised answer (stripped, lower-cased, default applied).
fn confirm_action(
    p: &Map<String, Value>,
    (pre, fallback): (Option<String>, Option<String>),
    ask: &dyn Fn(&str) -> Option<String>,
) -> Value {
    let prompt = param(p, "prompt", "Continue?");
    let default = param(p, "default", "n").to_lowercase();
    let hint = if default == "y" { "[Y/n]" } else { "[y/N]" };
    let Some(raw) = pre
        .or_else(|| ask(&format!("{prompt} {hint}:")))
        .or(fallback)
    else {
        return json!({"success": false, "confirmed": false, "input": "", "prompt": "",
            "error": "User cancelled confirmation"});
    };
    let mut answer = raw.trim().to_lowercase();
    if answer.is_empty() {
        answer = default;
    }
    let confirmed = matches!(answer.as_str(), "y" | "yes" | "true" | "1");
    json!({"success": true, "confirmed": confirmed, "input": answer, "prompt": prompt,
        "error": null})
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A temp dir holding `proj/` (root and cwd) and `outside/`.
    fn setup() -> (tempfile::TempDir, FileScope) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("proj")).unwrap();
        fs::create_dir(dir.path().join("outside")).unwrap();
        let root = dir.path().join("proj");
        let scope = FileScope {
            root: root.clone(),
            cwd: root,
            unconfined: false,
        };
        (dir, scope)
    }

    fn plain() -> ScriptInput {
        ScriptInput::Plain("the input".into())
    }

    fn schema() -> ScriptInput {
        let json = r#"{"agent_name":"a","input_data":"x","context":{},"dependencies":{}}"#;
        ScriptInput::Schema {
            json: json.into(),
            input_data: "x".into(),
        }
    }

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn no_answer(_: &str) -> Option<String> {
        None
    }

    /// Runs with plain input and returns the response parsed back into JSON.
    fn call(name: &str, params: Value, scope: &FileScope) -> Value {
        let out = run(name, &map(params), &plain(), scope, &no_answer).unwrap();
        serde_json::from_str(out.response.as_str().unwrap()).unwrap()
    }

    #[test]
    fn read_file_outputs_in_both_forms() {
        let (_d, scope) = setup();
        fs::write(scope.root.join("a.txt"), "héllo\r\n").unwrap();
        let p = map(json!({"path": "a.txt"}));
        let out = run("read_file", &p, &plain(), &scope, &no_answer).unwrap();
        assert_eq!(
            out.response,
            json!(
                r#"{"success": true, "content": "h\u00e9llo\n", "path": "a.txt", "size": 6, "error": null}"#
            )
        );
        assert!(!out.asked_user);
        let out = run("read_file", &p, &schema(), &scope, &no_answer).unwrap();
        let want = "{\n  \"success\": true,\n  \"content\": \"héllo\\n\",\n  \"path\": \"a.txt\",\n  \"size\": 6,\n  \"error\": null\n}";
        assert_eq!(out.response, json!(want));
    }

    #[test]
    fn read_file_errors() {
        let (_d, scope) = setup();
        let v = call("read_file", json!({"path": "missing.txt"}), &scope);
        assert_eq!(
            v,
            json!({"success": false, "content": null, "path": "missing.txt", "size": 0,
                "error": "[Errno 2] No such file or directory: 'missing.txt'"})
        );
        fs::write(scope.root.join("bin"), [0xffu8, 0x41]).unwrap();
        let v = call("read_file", json!({"path": "bin"}), &scope);
        assert_eq!(
            v["error"],
            "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"
        );
        let v = call(
            "read_file",
            json!({"path": "bin", "encoding": "latin-1"}),
            &scope,
        );
        assert_eq!(v["content"], "ÿA");
    }

    #[test]
    fn empty_parameters_fall_back_to_stdin() {
        let (_d, scope) = setup();
        fs::write(scope.root.join("input.txt"), "default").unwrap();
        let out = run("read_file", &Map::new(), &schema(), &scope, &no_answer).unwrap();
        assert!(
            out.response
                .as_str()
                .unwrap()
                .contains("\"content\": \"default\"")
        );
        assert_eq!(call("read_file", json!({}), &scope)["content"], "default");
    }

    #[test]
    fn write_file_outputs_and_creates_dirs() {
        let (_d, scope) = setup();
        let v = call(
            "write_file",
            json!({"path": "sub/dir/o.txt", "content": "é!"}),
            &scope,
        );
        assert_eq!(
            json_dumps(&v),
            r#"{"success": true, "path": "sub/dir/o.txt", "size": 2, "bytes_written": 3, "error": null}"#
        );
        assert_eq!(
            fs::read_to_string(scope.root.join("sub/dir/o.txt")).unwrap(),
            "é!"
        );
        let v = call(
            "write_file",
            json!({"path": "l.txt", "content": "é", "encoding": "latin-1"}),
            &scope,
        );
        assert_eq!(v["bytes_written"], 1);
        assert_eq!(fs::read(scope.root.join("l.txt")).unwrap(), [0xe9]);
    }

    #[test]
    fn write_file_errors() {
        let (_d, scope) = setup();
        let v = call(
            "write_file",
            json!({"path": "a.txt", "content": "abcé", "encoding": "ascii"}),
            &scope,
        );
        assert_eq!(
            v,
            json!({"success": false, "path": "a.txt", "size": 0, "bytes_written": 0,
                "error": "'ascii' codec can't encode character '\\xe9' in position 3: ordinal not in range(128)"})
        );
        assert!(!scope.root.join("a.txt").exists());
        let v = call(
            "write_file",
            json!({"path": "a.txt", "encoding": "klingon"}),
            &scope,
        );
        assert_eq!(v["error"], "unknown encoding: klingon");
    }

    fn refused(p: &str, scope: &FileScope) -> String {
        format!(
            "path '{p}' is outside the project directory {}; pass --allow-outside-project to allow it",
            scope.root.display()
        )
    }

    #[test]
    fn escapes_are_refused() {
        let (d, scope) = setup();
        let outside = d.path().join("outside");
        fs::write(outside.join("secret"), "s").unwrap();
        for p in [
            "../outside/secret",
            outside.join("secret").to_str().unwrap(),
        ] {
            let v = call("read_file", json!({"path": p}), &scope);
            assert_eq!(v["error"], refused(p, &scope));
            let v = call("write_file", json!({"path": p, "content": "x"}), &scope);
            assert_eq!(v["success"], false);
        }
        assert_eq!(fs::read_to_string(outside.join("secret")).unwrap(), "s");
        // No directories created outside when refused.
        let v = call("write_file", json!({"path": "../newdir/f.txt"}), &scope);
        assert_eq!(v["error"], refused("../newdir/f.txt", &scope));
        assert!(!d.path().join("newdir").exists());
        // `..` that stays inside is fine.
        let v = call("write_file", json!({"path": "a/../b.txt"}), &scope);
        assert_eq!(v["success"], true);
    }

    #[cfg(unix)]
    #[test]
    fn symlink_escapes_are_refused() {
        let (d, scope) = setup();
        let outside = d.path().join("outside");
        fs::write(outside.join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(&outside, scope.root.join("dirlink")).unwrap();
        std::os::unix::fs::symlink(outside.join("new.txt"), scope.root.join("dangling")).unwrap();
        let v = call("read_file", json!({"path": "dirlink/secret"}), &scope);
        assert_eq!(v["error"], refused("dirlink/secret", &scope));
        let v = call(
            "write_file",
            json!({"path": "dangling", "content": "x"}),
            &scope,
        );
        assert_eq!(v["error"], refused("dangling", &scope));
        let v = call("write_file", json!({"path": "dirlink/sub/f"}), &scope);
        assert_eq!(v["success"], false);
        assert!(!outside.join("new.txt").exists() && !outside.join("sub").exists());
        // A link that stays inside is followed.
        std::os::unix::fs::symlink(scope.root.join("t.txt"), scope.root.join("in")).unwrap();
        assert_eq!(
            call("write_file", json!({"path": "in", "content": "y"}), &scope)["success"],
            true
        );
        assert_eq!(fs::read_to_string(scope.root.join("t.txt")).unwrap(), "y");
    }

    #[test]
    fn unconfined_allows_outside() {
        let (d, mut scope) = setup();
        scope.unconfined = true;
        let v = call(
            "write_file",
            json!({"path": "../outside/n/f.txt", "content": "ok"}),
            &scope,
        );
        assert_eq!(v["success"], true);
        let v = call("read_file", json!({"path": "../outside/n/f.txt"}), &scope);
        assert_eq!(v["content"], "ok");
        assert!(d.path().join("outside/n/f.txt").exists());
    }

    #[test]
    fn json_extract_outputs() {
        let (_d, scope) = setup();
        let p = json!({"json_data": r#"{"a": 1, "b": {"c": "é"}}"#, "fields": ["b", "z", "a"]});
        let out = run("json_extract", &map(p), &schema(), &scope, &no_answer).unwrap();
        let want = "{\n  \"success\": true,\n  \"extracted\": {\n    \"b\": {\n      \"c\": \"é\"\n    },\n    \"a\": 1\n  },\n  \"missing_fields\": [\n    \"z\"\n  ],\n  \"total_fields\": 3,\n  \"extracted_count\": 2,\n  \"error\": null\n}";
        assert_eq!(out.response, json!(want));
        let v = call(
            "json_extract",
            json!({"json_data": {"k": true}, "fields": ["k"]}),
            &scope,
        );
        assert_eq!(v["extracted"], json!({"k": true}));
        let v = call("json_extract", json!({}), &scope);
        assert_eq!(v["success"], true);
        assert_eq!(v["total_fields"], 0);
    }

    #[test]
    fn json_extract_errors() {
        let (_d, scope) = setup();
        let v = call(
            "json_extract",
            json!({"json_data": "{nope", "fields": ["a"]}),
            &scope,
        );
        assert_eq!(v["success"], false);
        assert_eq!(
            json_dumps(&v).split("\"error\"").next().unwrap(),
            r#"{"success": false, "extracted": {}, "missing_fields": [], "total_fields": 0, "extracted_count": 0, "#
        );
        assert!(v["error"].as_str().unwrap().starts_with("Invalid JSON: "));
        let v = call("json_extract", json!({"json_data": "[1]"}), &scope);
        assert_eq!(v["error"], "json_data is not a JSON object");
        let v = call(
            "json_extract",
            json!({"json_data": "{}", "fields": "a"}),
            &scope,
        );
        assert_eq!(v["error"], "fields must be a list of strings");
    }

    #[test]
    fn replicate_with_seed_counts_up() {
        let (_d, scope) = setup();
        let out = run(
            "replicate_n_times",
            &map(json!({"replications": 2, "seed": 40})),
            &plain(),
            &scope,
            &no_answer,
        )
        .unwrap();
        assert_eq!(
            out.response,
            json!(
                r#"{"success": true, "replications": [{"replication_id": 1, "total_replications": 2, "random_seed": 40}, {"replication_id": 2, "total_replications": 2, "random_seed": 41}], "total_replications": 2, "base_seed": 40, "error": null}"#
            )
        );
        let v = call("replicate_n_times", json!({"replications": 3}), &scope);
        assert_eq!(v["base_seed"], Value::Null);
        for r in v["replications"].as_array().unwrap() {
            assert!((1..=1_000_000).contains(&r["random_seed"].as_i64().unwrap()));
        }
    }

    #[test]
    fn replicate_errors() {
        let (_d, scope) = setup();
        for bad in [json!(0), json!(-3), json!("2"), json!(1.5)] {
            let v = call("replicate_n_times", json!({"replications": bad}), &scope);
            assert_eq!(
                v,
                json!({"success": false, "replications": [], "total_replications": 0,
                    "base_seed": null, "error": "replications must be >= 1"})
            );
        }
        let v = call(
            "replicate_n_times",
            json!({"replications": u64::MAX}),
            &scope,
        );
        assert!(v["error"].as_str().unwrap().contains("<= 100000"));
        let v = call(
            "replicate_n_times",
            json!({"replications": 2, "seed": i64::MAX}),
            &scope,
        );
        assert_eq!(v["success"], false);
    }

    #[test]
    fn get_user_input_plain_uses_the_input_text() {
        let (_d, scope) = setup();
        // No one to ask: the plain input is the answer, as in llm-orc's non-interactive run.
        let p = map(json!({"prompt": "Name?", "multiline": 1}));
        let out = run("get_user_input", &p, &plain(), &scope, &no_answer).unwrap();
        assert_eq!(
            out.response,
            json!(
                r#"{"success": true, "input": "the input", "multiline": true, "length": 9, "error": null}"#
            )
        );
        assert!(!out.asked_user);
    }

    #[test]
    fn get_user_input_schema_asks() {
        let (_d, scope) = setup();
        let prompts = RefCell::new(Vec::new());
        let ask = |q: &str| {
            prompts.borrow_mut().push(q.to_string());
            Some("héllo".to_string())
        };
        let out = run("get_user_input", &Map::new(), &schema(), &scope, &ask).unwrap();
        assert!(out.asked_user);
        assert_eq!(prompts.borrow().as_slice(), ["Enter input:"]);
        let want = "{\n  \"success\": true,\n  \"input\": \"héllo\",\n  \"multiline\": false,\n  \"length\": 5,\n  \"error\": null\n}";
        assert_eq!(out.response, json!(want));
        let out = run("get_user_input", &Map::new(), &schema(), &scope, &no_answer).unwrap();
        let v: Value = serde_json::from_str(out.response.as_str().unwrap()).unwrap();
        assert_eq!(
            v,
            json!({"success": false, "input": "", "multiline": false, "length": 0,
                "error": "User cancelled input"})
        );
    }

    #[test]
    fn confirm_action_defaults_and_answers() {
        let (_d, scope) = setup();
        let p = map(json!({"prompt": "Go?", "default": "Y"}));
        let out = run(
            "confirm_action",
            &p,
            &ScriptInput::Plain("  ".into()),
            &scope,
            &no_answer,
        )
        .unwrap();
        assert_eq!(
            out.response,
            json!(
                r#"{"success": true, "confirmed": true, "input": "y", "prompt": "Go?", "error": null}"#
            )
        );
        let out = run(
            "confirm_action",
            &p,
            &ScriptInput::Plain(" No ".into()),
            &scope,
            &no_answer,
        )
        .unwrap();
        assert!(
            out.response
                .as_str()
                .unwrap()
                .contains(r#""confirmed": false, "input": "no""#)
        );
        let prompts = RefCell::new(Vec::new());
        let ask = |q: &str| {
            prompts.borrow_mut().push(q.to_string());
            Some(String::new())
        };
        let out = run("confirm_action", &p, &schema(), &scope, &ask).unwrap();
        assert!(out.asked_user);
        // The agent's prompt and default are used, with or without dependencies.
        assert_eq!(prompts.borrow().as_slice(), ["Go? [Y/n]:"]);
        assert!(
            out.response
                .as_str()
                .unwrap()
                .contains("\"confirmed\": true")
        );
        // A pre_collected parameter answers without asking.
        let p = map(json!({"prompt": "Go?", "pre_collected": "yes"}));
        let out = run("confirm_action", &p, &schema(), &scope, &ask).unwrap();
        assert!(!out.asked_user);
        assert!(
            out.response
                .as_str()
                .unwrap()
                .contains("\"confirmed\": true")
        );
    }

    #[test]
    fn confirm_action_cancelled() {
        let (_d, scope) = setup();
        let out = run("confirm_action", &Map::new(), &schema(), &scope, &no_answer).unwrap();
        let v: Value = serde_json::from_str(out.response.as_str().unwrap()).unwrap();
        assert_eq!(
            json_dumps(&v),
            r#"{"success": false, "confirmed": false, "input": "", "prompt": "", "error": "User cancelled confirmation"}"#
        );
    }

    /// The resolver's table and this module's dispatch agree: every listed primitive runs.
    #[test]
    fn every_listed_primitive_runs() {
        let (_d, scope) = setup();
        for p in PRIMITIVES {
            assert!(
                run(p.name, &Map::new(), &plain(), &scope, &no_answer).is_ok(),
                "{}",
                p.name
            );
        }
    }

    #[test]
    fn names() {
        let (_d, scope) = setup();
        assert!(PRIMITIVES.iter().all(|p| is_primitive(p.name)));
        assert!(!is_primitive("read-file") && !is_interactive("read_file"));
        assert!(is_interactive("get_user_input") && is_interactive("confirm_action"));
        let err = run("nope", &Map::new(), &plain(), &scope, &no_answer).unwrap_err();
        assert_eq!(err, "unknown built-in primitive `nope`");
    }
}
