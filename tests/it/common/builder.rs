//! A test as the output it expects: a throwaway project, one `orc` command, and its WHOLE
//! stdout, stderr and exit code compared with what the test spells out, the project's paths
//! redacted (`[ROOT]` the project, `[HOME]` its HOME, `[TMP]` the folder holding both).
//!
//! ```ignore
//! Test::new()
//!     .profiles()
//!     .ensemble("e", r#"
//!         name: e
//!         agents:
//!           - name: a
//!             model_profile: tiny
//!     "#)
//!     .args(&["validate", "e"])
//!     .stdout(r#"
//!         valid  e
//!     "#)
//!     .run();
//! ```
//!
//! Text that starts with a line break (a raw string opened on its own line) is unindented
//! ([`unindent`]); any other text is taken as it is. Ports of `127.0.0.1` print as `[PORT]`,
//! a run's folder name (`20260101-120000-000`) as `[RUN]`, a UUID as `[ID]` and a run's wall
//! time (`tokens in 0.03s`) as `[TIME]`.
//! `TestProject::test(ARGS)` is the same over a project a test has set up itself.

use std::path::Path;

use super::{PEER_CONFIG, Run, TestProject};

/// Unindents `text` when it starts with a line break: drops that break and a last line of only
/// spaces (the closing quote's), and removes the indentation the non-blank lines share. Other
/// text is returned unchanged, so a literal `"  two spaces\n"` stays as written.
pub fn unindent(text: &str) -> String {
    let Some(body) = text.strip_prefix('\n') else {
        return text.to_string();
    };
    let mut lines: Vec<&str> = body.split('\n').collect();
    if lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
        lines.push("");
    }
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches(' ').len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| {
            if l.len() >= indent {
                &l[indent..]
            } else {
                l.trim_start_matches(' ')
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The project a test runs in: its own, or one the caller set up and keeps.
enum Project<'a> {
    Owned(TestProject),
    Borrowed(&'a TestProject),
}

/// One command over a throwaway project, and the output it must print (see the module doc).
pub struct Test<'a> {
    project: Project<'a>,
    args: Vec<String>,
    stdin: Option<String>,
    redactions: Vec<(String, String)>,
    stdout: Option<String>,
    stderr: Option<String>,
    status: i32,
}

impl Default for Test<'static> {
    fn default() -> Self {
        Test::new()
    }
}

impl Test<'static> {
    /// A fresh project (`.llm-orc/` and an empty HOME beside it); the command must exit 0 and
    /// print nothing unless the test says otherwise.
    pub fn new() -> Test<'static> {
        Test::with(Project::Owned(TestProject::new()))
    }
}

impl TestProject {
    /// `orc ARGS` in this project as a [`Test`] of its whole output.
    pub fn test(&self, args: &[&str]) -> Test<'_> {
        Test::with(Project::Borrowed(self)).args(args)
    }
}

impl<'a> Test<'a> {
    fn with(project: Project<'a>) -> Test<'a> {
        Test {
            project,
            args: Vec::new(),
            stdin: None,
            redactions: Vec::new(),
            stdout: Some(String::new()),
            stderr: Some(String::new()),
            status: 0,
        }
    }

    /// The project, for setup the builder has no method for.
    pub fn project(&self) -> &TestProject {
        match &self.project {
            Project::Owned(p) => p,
            Project::Borrowed(p) => p,
        }
    }

    /// The two standard profiles (`tiny`, `small`) in `.llm-orc/config.yaml`.
    pub fn profiles(self) -> Self {
        self.project().write(".llm-orc/config.yaml", PEER_CONFIG);
        self
    }

    /// `.llm-orc/ensembles/<name>.yaml`, unindented.
    pub fn ensemble(self, name: &str, yaml: &str) -> Self {
        self.project().ensemble(name, &unindent(yaml));
        self
    }

    /// A file relative to the project root, unindented.
    pub fn write(self, rel: &str, text: &str) -> Self {
        self.project().write(rel, &unindent(text));
        self
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(|a| a.to_string()).collect();
        self
    }

    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.to_string());
        self
    }

    /// Prints `with` wherever the output has `text` (a URL, a port), before comparing.
    pub fn redact(mut self, text: &str, with: &str) -> Self {
        self.redactions.push((text.to_string(), with.to_string()));
        self
    }

    /// The whole stdout, unindented.
    pub fn stdout(mut self, text: &str) -> Self {
        self.stdout = Some(unindent(text));
        self
    }

    /// The whole stderr, unindented.
    pub fn stderr(mut self, text: &str) -> Self {
        self.stderr = Some(unindent(text));
        self
    }

    /// Stdout not compared (a test that checks it otherwise).
    pub fn any_stdout(mut self) -> Self {
        self.stdout = None;
        self
    }

    /// Stderr not compared.
    pub fn any_stderr(mut self) -> Self {
        self.stderr = None;
        self
    }

    pub fn status(mut self, code: i32) -> Self {
        self.status = code;
        self
    }

    /// `text` with this project's paths and the test's redactions replaced.
    pub fn redacted(&self, text: &str) -> String {
        let p = self.project();
        let mut out = text.to_string();
        for (from, to) in &self.redactions {
            out = out.replace(from.as_str(), to);
        }
        for (dir, name) in [
            (p.root(), "[ROOT]"),
            (p.home(), "[HOME]"),
            (p.dir.path().to_path_buf(), "[TMP]"),
        ] {
            for form in [dir.clone(), dir.canonicalize().unwrap_or(dir)] {
                out = out.replace(&form.display().to_string(), name);
            }
        }
        redact_volatile(&redact_ports(&out))
    }

    /// Runs the command in the project root and compares.
    #[track_caller]
    pub fn run(self) {
        self.output();
    }

    /// As [`Test::run`], returning the redacted output as well.
    #[track_caller]
    pub fn output(&self) -> Run {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let mut cmd = self.project().command(&args);
        if self.stdin.is_some() {
            cmd.stdin(std::process::Stdio::piped());
        }
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("run orc");
        if let Some(text) = &self.stdin {
            use std::io::Write as _;
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(text.as_bytes()).expect("write stdin");
        }
        let raw = Run::from(child.wait_with_output().expect("wait for orc"));
        let got = Run {
            code: raw.code,
            stdout: self.redacted(&raw.stdout),
            stderr: self.redacted(&raw.stderr),
        };
        self.compare(&got);
        got
    }

    #[track_caller]
    fn compare(&self, got: &Run) {
        let mut wrong = Vec::new();
        if got.code != self.status {
            wrong.push(format!(
                "exit code: expected {}, got {}",
                self.status, got.code
            ));
        }
        for (what, want, have) in [
            ("stdout", &self.stdout, &got.stdout),
            ("stderr", &self.stderr, &got.stderr),
        ] {
            if let Some(want) = want
                && want != have
            {
                wrong.push(format!("{what} differs:\n{}", diff(want, have)));
            }
        }
        if wrong.is_empty() {
            return;
        }
        if let Some(file) = std::env::var_os("ORC_TEST_RECORD") {
            record(Path::new(&file), got);
            return;
        }
        panic!(
            "`orc {}`\n{}\n--- whole stdout:\n{}\n--- whole stderr:\n{}",
            self.args.join(" "),
            wrong.join("\n"),
            got.stdout,
            got.stderr
        );
    }
}

/// `127.0.0.1:PORT` as `127.0.0.1:[PORT]` (a simulator's or a server's port changes per run).
fn redact_ports(text: &str) -> String {
    const HOST: &str = "127.0.0.1:";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(HOST) {
        let (before, after) = rest.split_at(at + HOST.len());
        out.push_str(before);
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            out.push_str("[PORT]");
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// A run's folder name (`YYYYMMDD-HHMMSS-mmm`, the artifact id's second half) as `[RUN]`.
pub fn redact_runs(text: &str) -> String {
    redact_shape(text, b"dddddddd-dddddd-ddd", "[RUN]")
}

/// Every stretch of `text` of `shape` (`d` a digit, `x` a lowercase hex digit, `D` one or more
/// digits, any other byte itself) replaced by `with`.
fn redact_shape(text: &str, shape: &[u8], with: &str) -> String {
    let b = text.as_bytes();
    // The length of the match at `at`, if any.
    let fits = |at: usize| -> Option<usize> {
        let mut i = at;
        for s in shape {
            match s {
                b'D' => {
                    let n = b[i.min(b.len())..]
                        .iter()
                        .take_while(|c| c.is_ascii_digit())
                        .count();
                    if n == 0 {
                        return None;
                    }
                    i += n;
                }
                _ => {
                    let c = *b.get(i)?;
                    let ok = match s {
                        b'd' => c.is_ascii_digit(),
                        b'x' => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
                        _ => c == *s,
                    };
                    if !ok {
                        return None;
                    }
                    i += 1;
                }
            }
        }
        Some(i - at)
    };
    let mut out = String::with_capacity(text.len());
    let (mut i, mut from) = (0, 0);
    while i < b.len() {
        match fits(i) {
            Some(n) if text.is_char_boundary(i) => {
                out.push_str(&text[from..i]);
                out.push_str(with);
                i += n;
                from = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[from..]);
    out
}

/// What changes from run to run in orc's output: run folders, ids (UUIDs) and the wall time
/// of a run (`tokens in 0.03s`).
fn redact_volatile(text: &str) -> String {
    let text = redact_runs(text);
    let text = redact_shape(&text, b"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", "[ID]");
    redact_shape(&text, b" tokens in D.Ds", " tokens in [TIME]")
}

/// Expected and actual, line by line: ` ` same, `-` expected only, `+` printed only.
fn diff(want: &str, have: &str) -> String {
    let (w, h): (Vec<&str>, Vec<&str>) = (want.split('\n').collect(), have.split('\n').collect());
    let mut out = String::new();
    for i in 0..w.len().max(h.len()) {
        match (w.get(i), h.get(i)) {
            (Some(a), Some(b)) if a == b => out.push_str(&format!("  {a}\n")),
            (a, b) => {
                if let Some(a) = a {
                    out.push_str(&format!("- {a:?}\n"));
                }
                if let Some(b) = b {
                    out.push_str(&format!("+ {b:?}\n"));
                }
            }
        }
    }
    out
}

/// With `ORC_TEST_RECORD=FILE`, a failed comparison appends the call site and what was printed
/// (one JSON line), so that expectations can be written from the current binary's output.
#[track_caller]
fn record(file: &Path, got: &Run) {
    use std::io::Write as _;
    let at = std::panic::Location::caller();
    let line = serde_json::json!({
        "file": at.file(),
        "line": at.line(),
        "code": got.code,
        "stdout": got.stdout,
        "stderr": got.stderr,
    });
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
    {
        let _ = writeln!(f, "{line}");
    }
}
