//! What a routed task works on, measured by orc itself: the input given inline, the files given
//! by reference (confined to the project), and project files the instruction names. Routing
//! decides on these figures, never on a size the caller claims.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::LearnError;
use super::estimate::o200k_tokens;
use crate::load::project::{check_relative_name, stays_inside};

/// Files over this many bytes are not tokenised: their tokens are estimated at 4 bytes each
/// (labelled), far past any limit routing checks.
const TOKENISE_MAX_BYTES: u64 = 1 << 20;
/// A folder given as input counts at most this many files.
const FOLDER_MAX_FILES: usize = 10_000;
/// At most this many input files per task.
const MAX_FILES: usize = 1_000;

/// One measured file.
#[derive(Debug, Clone, Serialize)]
pub struct MeasuredFile {
    /// As given (or as found in the instruction).
    pub path: String,
    pub bytes: u64,
    pub tokens: u64,
    /// A folder: how many files it holds (each is a document).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<usize>,
    /// Named in the instruction rather than passed as `input_files`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub named_in_task: bool,
    /// Tokens estimated from the size (over 1 MiB), not counted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
}

/// The measured input of a task.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// `o200k_base` tokens of the inline input and every file together.
    pub tokens: u64,
    /// Documents: the inline input (when given) and each file (a folder's files each count).
    pub documents: usize,
    /// Tokens of the inline input (a pasted part of the task included).
    pub inline_tokens: u64,
    pub files: Vec<MeasuredFile>,
    /// False when the caller gave no input at all: the size limit could not be checked.
    pub measured: bool,
}

/// Resolves a file a caller named: relative to the project root, or absolute inside it; never
/// outside it, through `..` or a symbolic link.
fn resolve(root: &Path, name: &str) -> Result<PathBuf, String> {
    let trimmed = name.trim();
    let path = Path::new(trimmed);
    let full = if path.is_absolute() {
        path.to_path_buf()
    } else {
        check_relative_name(trimmed)?;
        root.join(path)
    };
    if !full.exists() {
        return Err(format!("`{trimmed}` does not exist in {}", root.display()));
    }
    if !stays_inside(root, &full) {
        return Err(format!(
            "`{trimmed}` is outside the project ({}); input files must be inside it",
            root.display()
        ));
    }
    Ok(full)
}

fn measure_file(path: &Path) -> std::io::Result<(u64, u64, bool)> {
    let bytes = std::fs::metadata(path)?.len();
    if bytes > TOKENISE_MAX_BYTES {
        return Ok((bytes, bytes / 4, true));
    }
    let data = std::fs::read(path)?;
    Ok((bytes, o200k_tokens(&String::from_utf8_lossy(&data)), false))
}

fn measure_folder(dir: &Path) -> std::io::Result<(u64, u64, usize, bool)> {
    let (mut bytes, mut tokens, mut files, mut estimated) = (0, 0, 0, false);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let t = e.file_type()?;
            if t.is_symlink() || e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                files += 1;
                if files > FOLDER_MAX_FILES {
                    return Ok((bytes, tokens, files, true));
                }
                let b = e.metadata()?.len();
                bytes += b;
                // A folder's total is what matters: estimated from sizes, 4 bytes a token.
                tokens += b / 4;
                estimated = true;
            }
        }
    }
    Ok((bytes, tokens, files, estimated))
}

/// Paths the instruction names (`docs/design.md`, `src/app.py`) that exist in the project.
fn named_files(root: &Path, instruction: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in instruction.split_whitespace() {
        let w = raw.trim_matches(|c: char| {
            matches!(
                c,
                '`' | '"' | '\'' | ',' | ';' | ':' | '(' | ')' | '[' | ']' | '?' | '!'
            )
        });
        let w = w.strip_suffix('.').unwrap_or(w);
        let looks_like_path = w.contains('/')
            || Path::new(w).extension().is_some_and(|e| {
                e.len() <= 5
                    && e.to_string_lossy()
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric())
            });
        if !looks_like_path || w.len() > 255 || out.iter().any(|o| o == w) {
            continue;
        }
        if check_relative_name(w).is_ok() {
            let p = root.join(w);
            if p.is_file() && stays_inside(root, &p) {
                out.push(w.to_string());
            }
        }
    }
    out
}

/// Measures a task's input. `inline` is the input given with the task (and any part of the task
/// that was pasted input); `files` are given by reference, relative to the project root or
/// absolute inside it. A file that does not exist, or lies outside the project, is refused.
pub fn measure(
    root: &Path,
    instruction: &str,
    inline: Option<&str>,
    files: &[String],
) -> Result<Measured, LearnError> {
    if files.len() > MAX_FILES {
        return Err(LearnError::Refused(format!(
            "{} input files: at most {MAX_FILES} per task",
            files.len()
        )));
    }
    let inline_tokens = inline.map(o200k_tokens).unwrap_or(0);
    let mut out = Measured {
        tokens: inline_tokens,
        documents: usize::from(inline.is_some_and(|s| !s.trim().is_empty())),
        inline_tokens,
        files: Vec::new(),
        measured: inline.is_some() || !files.is_empty(),
    };
    let named = named_files(root, instruction);
    let given = files.iter().map(|f| (f.clone(), false));
    let found = named
        .into_iter()
        .filter(|n| !files.iter().any(|f| f.trim() == n))
        .map(|n| (n, true));
    for (name, named_in_task) in given.chain(found) {
        let path = resolve(root, &name)
            .map_err(|why| LearnError::Refused(format!("input file refused: {why}")))?;
        let io = |e| LearnError::Io {
            path: path.clone(),
            source: e,
        };
        let (bytes, tokens, folder, estimated) = if path.is_dir() {
            let (b, t, n, e) = measure_folder(&path).map_err(io)?;
            (b, t, Some(n), e)
        } else {
            let (b, t, e) = measure_file(&path).map_err(io)?;
            (b, t, None, e)
        };
        out.tokens = out.tokens.saturating_add(tokens);
        out.documents += folder.unwrap_or(1);
        out.measured = true;
        out.files.push(MeasuredFile {
            path: name,
            bytes,
            tokens,
            files: folder,
            named_in_task,
            estimated,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_measured_inside_the_project_only() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().join("p");
        std::fs::create_dir_all(root.join("docs")).expect("mkdir");
        std::fs::write(root.join("docs/a.md"), "hello world ".repeat(100)).expect("write");
        std::fs::write(dir.path().join("outside.md"), "secret").expect("write");
        let m = measure(&root, "Summarize it", None, &["docs/a.md".into()]).expect("measure");
        assert_eq!(m.documents, 1);
        assert!(m.tokens >= 200, "{m:?}");
        assert!(m.measured);
        let abs = root.join("docs/a.md").display().to_string();
        assert!(measure(&root, "x", None, &[abs]).is_ok());
        for bad in ["../outside.md", "/etc/passwd", "docs/missing.md"] {
            let e = measure(&root, "x", None, &[bad.into()]).expect_err(bad);
            assert!(e.to_string().contains("refused"), "{e}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("outside.md"), root.join("docs/link.md"))
                .expect("link");
            assert!(measure(&root, "x", None, &["docs/link.md".into()]).is_err());
        }
        // A file the instruction names is measured too; nothing given means not measured.
        let m = measure(&root, "Summarize docs/a.md for me.", None, &[]).expect("named");
        assert_eq!(m.files.len(), 1);
        assert!(m.files[0].named_in_task);
        let m = measure(&root, "Summarize the memo", None, &[]).expect("none");
        assert!(!m.measured);
        let m = measure(&root, "Summarize the memo", Some("a memo"), &[]).expect("inline");
        assert_eq!((m.documents, m.measured), (1, true));
    }
}
