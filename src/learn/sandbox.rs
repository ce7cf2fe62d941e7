//! Execution-based verification of code answers: the project's test command
//! (`learning.checks.test_command`) runs in a temporary copy of the project with the answer's
//! code applied, never in the project itself.
//!
//! The answer's code is applied from a unified diff (a ```diff block, or the whole answer), from
//! blocks that name their file (```` ```rust path=src/lib.rs ````, ```` ```src/lib.rs ````, or a
//! first line `// file: src/lib.rs` / `# src/app.py`), or, for one block, to the caller's
//! `expect.target_file`. Every path must stay inside the copy (no absolute paths, no `..`, no
//! link on the way). The copy leaves out `learning.checks.copy_exclude` (`.git`, `target`,
//! `node_modules`, `.llm-orc`, ...); the command runs with `sh -c` in its own process group,
//! killed at the timeout. The copy is a scratch folder, not a security boundary: the command runs
//! as the user, as the project's own scripts do, which is why only the project's config can name
//! it.

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::checks::{Signal, code_blocks};

/// `learning.checks` in config.yaml.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChecksConfig {
    /// Run the free checks after every invoke.
    pub enabled: bool,
    /// Local re-runs after a failed hard check, before the task is escalated to Claude.
    pub retries: u32,
    /// Answers to compare for agreement, by task type (1 = no repeated samples).
    pub samples: std::collections::BTreeMap<String, u32>,
    /// The project's test command (`sh -c`), run on code answers in a temporary copy.
    pub test_command: Option<String>,
    pub test_timeout_seconds: u64,
    /// Task types whose answers the tests check (an invoke can ask with `expect.tests`).
    pub test_task_types: Vec<String>,
    /// Names left out of the temporary copy, at any depth.
    pub copy_exclude: Vec<String>,
    /// The copy is refused past this many files.
    pub max_copy_files: u64,
}

impl Default for ChecksConfig {
    fn default() -> Self {
        ChecksConfig {
            enabled: true,
            retries: 1,
            samples: Default::default(),
            test_command: None,
            test_timeout_seconds: 600,
            test_task_types: vec!["code-generation".into()],
            copy_exclude: [
                ".git",
                "target",
                "node_modules",
                ".llm-orc",
                ".venv",
                "__pycache__",
            ]
            .map(String::from)
            .to_vec(),
            max_copy_files: 50_000,
        }
    }
}

/// A relative path that stays inside the folder it is joined to.
pub fn relative_path(p: &str) -> Result<PathBuf, String> {
    let path = Path::new(p.trim());
    let ok = !p.trim().is_empty()
        && p.len() <= 4096
        && !p.contains('\0')
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if ok {
        Ok(path.to_path_buf())
    } else {
        Err(format!(
            "`{}` must be a relative path inside the project (no `..`, no absolute path)",
            p.chars().take(100).collect::<String>().escape_debug()
        ))
    }
}

/// What the answer changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// A unified diff (its paths checked).
    Diff(String),
    /// Whole files.
    Files(Vec<(PathBuf, String)>),
}

fn diff_paths_ok(diff: &str) -> Result<(), String> {
    for line in diff.lines() {
        let Some(rest) = line
            .strip_prefix("+++ ")
            .or_else(|| line.strip_prefix("--- "))
        else {
            continue;
        };
        let name = rest.split('\t').next().unwrap_or("").trim();
        if name == "/dev/null" {
            continue;
        }
        let name = name
            .strip_prefix("a/")
            .or_else(|| name.strip_prefix("b/"))
            .unwrap_or(name);
        relative_path(name)?;
    }
    Ok(())
}

fn looks_like_diff(t: &str) -> bool {
    t.lines().any(|l| l.starts_with("--- "))
        && t.lines().any(|l| l.starts_with("+++ "))
        && t.lines().any(|l| l.starts_with("@@"))
}

/// The path a block names: `path=`/`file=`/`title=` in its info string, a language word that is
/// a file name, or a first line comment naming a file.
fn block_path(lang: &str, info: &str, code: &str) -> Option<(String, String)> {
    let unquote = |s: &str| s.trim_matches(['"', '\'']).to_string();
    for word in info.split_whitespace() {
        for key in ["path=", "file=", "title=", "filename="] {
            if let Some(v) = word.strip_prefix(key) {
                return Some((unquote(v), code.to_string()));
            }
        }
    }
    if lang.contains('.') && !lang.starts_with('.') {
        return Some((lang.to_string(), code.to_string()));
    }
    let first = code.lines().next().unwrap_or("").trim();
    let named = first
        .strip_prefix("//")
        .or_else(|| first.strip_prefix('#'))
        .or_else(|| first.strip_prefix("--"))
        .map(str::trim)
        .map(|s| {
            s.strip_prefix("file:")
                .or_else(|| s.strip_prefix("File:"))
                .or_else(|| s.strip_prefix("path:"))
                .unwrap_or(s)
                .trim()
        })
        .filter(|s| {
            !s.contains(' ')
                && s.contains('.')
                && s.rsplit('.')
                    .next()
                    .is_some_and(|e| (1..=5).contains(&e.len()))
        })?;
    let rest = code.split_once('\n').map_or("", |x| x.1);
    Some((named.to_string(), rest.to_string()))
}

/// What to apply, or why nothing can be.
pub fn edits(output: &str, target_file: Option<&str>) -> Result<Edit, String> {
    let blocks = code_blocks(output);
    if let Some(b) = blocks
        .iter()
        .find(|b| matches!(b.lang.as_str(), "diff" | "patch"))
    {
        diff_paths_ok(&b.code)?;
        return Ok(Edit::Diff(b.code.clone()));
    }
    if blocks.is_empty() && looks_like_diff(output) {
        diff_paths_ok(output)?;
        return Ok(Edit::Diff(output.to_string()));
    }
    let mut files = Vec::new();
    for b in &blocks {
        if let Some((p, code)) = block_path(&b.lang, &b.info, &b.code) {
            files.push((relative_path(&p)?, code));
        }
    }
    if !files.is_empty() {
        return Ok(Edit::Files(files));
    }
    match (target_file, blocks.as_slice()) {
        (Some(t), [b]) => Ok(Edit::Files(vec![(relative_path(t)?, b.code.clone())])),
        (Some(t), []) if !output.trim().is_empty() => Ok(Edit::Files(vec![(
            relative_path(t)?,
            format!("{}\n", output.trim()),
        )])),
        (Some(_), _) => Err(format!(
            "{} code blocks and none names its file: say which with a `path=` info string",
            blocks.len()
        )),
        (None, _) => Err(
            "no file to apply the code to (a diff, a block naming its file, or expect.target_file)"
                .into(),
        ),
    }
}

/// Copies `from` into `to`, leaving out `exclude` names; links are copied as links.
fn copy_tree(from: &Path, to: &Path, exclude: &[String], max_files: u64) -> Result<u64, String> {
    let mut n = 0u64;
    let mut stack = vec![(from.to_path_buf(), to.to_path_buf())];
    while let Some((src, dst)) = stack.pop() {
        std::fs::create_dir_all(&dst).map_err(|e| format!("{}: {e}", dst.display()))?;
        let rd = std::fs::read_dir(&src).map_err(|e| format!("{}: {e}", src.display()))?;
        for e in rd.flatten() {
            let name = e.file_name();
            if exclude.iter().any(|x| name.to_string_lossy() == x.as_str()) {
                continue;
            }
            n += 1;
            if n > max_files {
                return Err(format!(
                    "the project has more than {max_files} files to copy (learning.checks.copy_exclude leaves folders out; max_copy_files raises the limit)"
                ));
            }
            let (s, d) = (e.path(), dst.join(&name));
            let Ok(t) = e.file_type() else { continue };
            if t.is_symlink() {
                #[cfg(unix)]
                if let Ok(target) = std::fs::read_link(&s) {
                    let _ = std::os::unix::fs::symlink(target, &d);
                }
            } else if t.is_dir() {
                stack.push((s, d));
            } else if t.is_file() {
                std::fs::copy(&s, &d).map_err(|e| format!("{}: {e}", s.display()))?;
            }
        }
    }
    Ok(n)
}

/// Writes a file inside `root`, refusing a link on the way out of it.
fn write_inside(root: &Path, rel: &Path, text: &str) -> Result<(), String> {
    let full = root.join(rel);
    let parent = full.parent().unwrap_or(root);
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", rel.display()))?;
    let real_root = std::fs::canonicalize(root).map_err(|e| e.to_string())?;
    let real_parent = std::fs::canonicalize(parent).map_err(|e| e.to_string())?;
    if !real_parent.starts_with(&real_root)
        || std::fs::symlink_metadata(&full).is_ok_and(|m| m.file_type().is_symlink())
    {
        return Err(format!(
            "{} leads out of the copy through a link",
            rel.display()
        ));
    }
    std::fs::write(&full, text).map_err(|e| format!("{}: {e}", rel.display()))
}

async fn apply_diff(root: &Path, diff: &str) -> Result<(), String> {
    let attempts: [(&str, &[&str]); 2] = [
        (
            "git",
            &[
                "-c",
                "core.hooksPath=/dev/null",
                "apply",
                "--whitespace=nowarn",
                "-",
            ],
        ),
        ("patch", &["-p1", "--batch", "--forward", "--silent"]),
    ];
    let mut why = Vec::new();
    for (program, args) in attempts {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .current_dir(root)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let Ok(mut child) = cmd.spawn() else {
            why.push(format!("{program} is not installed"));
            continue;
        };
        if let Some(mut w) = child.stdin.take() {
            use tokio::io::AsyncWriteExt;
            let _ = w.write_all(diff.as_bytes()).await;
        }
        match tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await {
            Ok(Ok(o)) if o.status.success() => return Ok(()),
            Ok(Ok(o)) => why.push(format!(
                "{program}: {}",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" | ")
            )),
            _ => why.push(format!("{program} did not finish")),
        }
    }
    Err(format!("the diff does not apply ({})", why.join("; ")))
}

#[cfg(unix)]
fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

#[cfg(not(unix))]
fn kill_group(_pid: Option<u32>) {}

/// The last `n` bytes of a file, as text.
fn tail(path: &Path, n: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(n)));
    let mut buf = Vec::new();
    let _ = f.take(n).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).trim().to_string()
}

/// Runs the project's tests on the answer's code in a temporary copy of `project`.
pub async fn run_tests(
    project: &Path,
    cfg: &ChecksConfig,
    command: &str,
    output: &str,
    target_file: Option<&str>,
) -> Signal {
    let doubt = |why: String| Signal {
        check: "tests".into(),
        outcome: super::checks::Outcome::Doubt,
        strong: false,
        detail: format!("the tests were not run: {why}"),
        failure_mode: None,
    };
    let edit = match edits(output, target_file) {
        Ok(e) => e,
        Err(why) => return doubt(why),
    };
    let scratch = match tempfile::Builder::new().prefix("orc-tests-").tempdir() {
        Ok(d) => d,
        Err(e) => return doubt(format!("no temporary folder: {e}")),
    };
    let copy = scratch.path().join("project");
    let (project2, copy2, exclude, max) = (
        project.to_path_buf(),
        copy.clone(),
        cfg.copy_exclude.clone(),
        cfg.max_copy_files,
    );
    let copied =
        tokio::task::spawn_blocking(move || copy_tree(&project2, &copy2, &exclude, max)).await;
    match copied {
        Ok(Ok(_)) => {}
        Ok(Err(why)) => return doubt(why),
        Err(e) => return doubt(e.to_string()),
    }
    let applied = match &edit {
        Edit::Diff(d) => apply_diff(&copy, d).await,
        Edit::Files(files) => files
            .iter()
            .try_for_each(|(p, text)| write_inside(&copy, p, text)),
    };
    if let Err(why) = applied {
        return Signal {
            check: "tests".into(),
            outcome: super::checks::Outcome::Fail,
            strong: false,
            detail: format!("the answer's code cannot be applied: {why}"),
            failure_mode: Some("wrong_format".into()),
        };
    }
    let log_path = scratch.path().join("tests.log");
    let log = match std::fs::File::create(&log_path).and_then(|f| Ok((f.try_clone()?, f))) {
        Ok(l) => l,
        Err(e) => return doubt(e.to_string()),
    };
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(&copy)
        .env("ORC_CHECK", "tests")
        .stdin(std::process::Stdio::null())
        .stdout(log.0)
        .stderr(log.1)
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    let started = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return doubt(format!("cannot start `sh -c {command}`: {e}")),
    };
    let pid = child.id();
    let timeout = Duration::from_secs(cfg.test_timeout_seconds.max(1));
    let status = tokio::time::timeout(timeout, child.wait()).await;
    kill_group(pid);
    let secs = started.elapsed().as_secs_f64();
    let what = match &edit {
        Edit::Diff(_) => "the answer's diff".to_string(),
        Edit::Files(f) => f
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    };
    match status {
        Ok(Ok(s)) if s.success() => Signal {
            check: "tests".into(),
            outcome: super::checks::Outcome::Pass,
            strong: true,
            detail: format!("`{command}` passed with {what} in a temporary copy ({secs:.1} s)"),
            failure_mode: None,
        },
        Ok(Ok(s)) => Signal {
            check: "tests".into(),
            outcome: super::checks::Outcome::Fail,
            strong: false,
            detail: format!(
                "`{command}` failed with {what} ({}): {}",
                s.code()
                    .map_or("killed".to_string(), |c| format!("exit {c}")),
                tail(&log_path, 600)
            ),
            failure_mode: Some("reasoning_error".into()),
        },
        Ok(Err(e)) => doubt(e.to_string()),
        Err(_) => {
            let _ = child.kill().await;
            Signal {
                check: "tests".into(),
                outcome: super::checks::Outcome::Fail,
                strong: false,
                detail: format!(
                    "`{command}` did not finish within {} s with {what}",
                    cfg.test_timeout_seconds
                ),
                failure_mode: Some("reasoning_error".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside() {
        assert!(relative_path("src/lib.rs").is_ok());
        for bad in ["../x", "/etc/passwd", "a/../../b", ""] {
            assert!(relative_path(bad).is_err(), "{bad}");
        }
        assert!(
            edits(
                "```diff\n--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-a\n+b\n```",
                None
            )
            .is_err()
        );
    }

    #[test]
    fn edits_come_from_diffs_named_blocks_or_the_target_file() {
        let d = edits(
            "```diff\n--- a/f.py\n+++ b/f.py\n@@ -1 +1 @@\n-a\n+b\n```",
            None,
        )
        .unwrap();
        assert!(matches!(d, Edit::Diff(_)));
        let named = edits("```python path=src/f.py\nx = 1\n```", None).unwrap();
        assert_eq!(
            named,
            Edit::Files(vec![("src/f.py".into(), "x = 1\n".into())])
        );
        let lang = edits("```src/f.py\nx = 1\n```", None).unwrap();
        assert_eq!(
            lang,
            Edit::Files(vec![("src/f.py".into(), "x = 1\n".into())])
        );
        let comment = edits("```python\n# file: f.py\nx = 1\n```", None).unwrap();
        assert_eq!(
            comment,
            Edit::Files(vec![("f.py".into(), "x = 1\n".into())])
        );
        let target = edits("```python\nx = 1\n```", Some("calc.py")).unwrap();
        assert_eq!(
            target,
            Edit::Files(vec![("calc.py".into(), "x = 1\n".into())])
        );
        assert!(edits("```python\nx = 1\n```", None).is_err());
    }
}
