//! Inputs by reference: files and globs inside the project, read by orc, so that a client
//! passes a path instead of retyping a document as tool-call arguments (Claude's output tokens,
//! the dearest kind). Every path stays inside the project root: no `..`, no absolute path
//! outside it, no symbolic link that leads out, each refused with the reason.

use std::path::{Component, Path, PathBuf};

use crate::service::ServiceError;
use crate::service::files::refuse;

/// At most this many files per call, and this many bytes in all.
pub const MAX_FILES: usize = 200;
pub const MAX_BYTES: u64 = 16 << 20;

/// One file read for a call: its path relative to the project root, and its text.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: String,
    pub text: String,
}

fn outside(pattern: &str, root: &Path) -> ServiceError {
    refuse(format!(
        "input file `{}` is outside the project ({}); only files inside it can be read",
        pattern.escape_debug(),
        root.display()
    ))
}

/// The pattern relative to `root`: refuses `..`, NUL, control characters, and absolute paths
/// that are not inside the root.
fn relative(pattern: &str, root: &Path) -> Result<String, ServiceError> {
    if pattern.trim().is_empty() {
        return Err(refuse("an input file path is empty"));
    }
    if pattern.len() > 4096 || pattern.contains('\0') {
        return Err(refuse(format!(
            "input file `{}` is not a usable path",
            pattern.chars().take(80).collect::<String>().escape_debug()
        )));
    }
    crate::load::project::check_name_chars(pattern)
        .map_err(|why| refuse(format!("input file `{}`: {why}", pattern.escape_debug())))?;
    let p = Path::new(pattern);
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(refuse(format!(
            "input file `{}` uses `..`; name files inside the project from its root",
            pattern.escape_debug()
        )));
    }
    if p.is_absolute() {
        let root_real = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let rest = p
            .strip_prefix(&root_real)
            .or_else(|_| p.strip_prefix(root))
            .map_err(|_| outside(pattern, root))?;
        return Ok(rest.to_string_lossy().into_owned());
    }
    Ok(pattern.to_string())
}

/// The files `patterns` name (paths or globs, relative to `root` or absolute inside it), read
/// as UTF-8 text in the order given (a glob's matches sorted), each once.
pub fn read(root: &Path, patterns: &[String]) -> Result<Vec<InputFile>, ServiceError> {
    let root_real = std::fs::canonicalize(root).map_err(crate::service::files::io(root))?;
    let mut out: Vec<InputFile> = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut bytes = 0u64;
    for pattern in patterns {
        let rel = relative(pattern, root)?;
        let is_glob = rel.contains(['*', '?', '[']);
        let matches: Vec<PathBuf> = if is_glob {
            let full = format!(
                "{}/{rel}",
                glob::Pattern::escape(&root_real.to_string_lossy())
            );
            let mut m: Vec<PathBuf> = glob::glob(&full)
                .map_err(|e| {
                    refuse(format!(
                        "input file pattern `{}`: {e}",
                        pattern.escape_debug()
                    ))
                })?
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            m.sort();
            if m.is_empty() {
                return Err(refuse(format!(
                    "input file pattern `{}` matches no file in {}",
                    pattern.escape_debug(),
                    root.display()
                )));
            }
            m
        } else {
            vec![root_real.join(&rel)]
        };
        for path in matches {
            let real = std::fs::canonicalize(&path).map_err(|e| {
                refuse(format!(
                    "input file `{}` cannot be read: {e}",
                    pattern.escape_debug()
                ))
            })?;
            if !real.starts_with(&root_real) {
                return Err(refuse(format!(
                    "input file `{}` resolves outside the project (a symbolic link to {}); only files inside it can be read",
                    path.strip_prefix(&root_real).unwrap_or(&path).display(),
                    real.display()
                )));
            }
            if !real.is_file() {
                return Err(refuse(format!(
                    "input file `{}` is not a file",
                    pattern.escape_debug()
                )));
            }
            if seen.contains(&real) {
                continue;
            }
            if out.len() >= MAX_FILES {
                return Err(refuse(format!(
                    "the input files name more than {MAX_FILES} files; narrow the patterns"
                )));
            }
            let size = std::fs::metadata(&real)
                .map_err(crate::service::files::io(&real))?
                .len();
            bytes = bytes.saturating_add(size);
            if bytes > MAX_BYTES {
                return Err(refuse(format!(
                    "the input files are over {} MiB together; pass fewer or smaller files",
                    MAX_BYTES >> 20
                )));
            }
            let raw = std::fs::read(&real).map_err(crate::service::files::io(&real))?;
            let shown = real
                .strip_prefix(&root_real)
                .unwrap_or(&real)
                .to_string_lossy()
                .into_owned();
            let text = String::from_utf8(raw).map_err(|_| {
                refuse(format!(
                    "input file `{shown}` is not UTF-8 text; orc passes text to models"
                ))
            })?;
            seen.push(real);
            out.push(InputFile { path: shown, text });
        }
    }
    Ok(out)
}

/// The input a run gets: one file alone is its text as it is (as `orc invoke -f`); otherwise
/// the text given, then each file under a `--- path ---` line.
pub fn compose(input: &str, files: &[InputFile]) -> String {
    match files {
        [] => input.to_string(),
        [one] if input.is_empty() => one.text.clone(),
        _ => {
            let mut s = String::from(input);
            for f in files {
                if !s.is_empty() {
                    s.push_str("\n\n");
                }
                s.push_str(&format!("--- {} ---\n{}", f.path, f.text));
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("proj");
        std::fs::create_dir_all(root.join("docs")).expect("mkdir");
        std::fs::write(root.join("docs/a.md"), "alpha").expect("write");
        std::fs::write(root.join("docs/b.md"), "beta").expect("write");
        std::fs::write(dir.path().join("secret"), "s").expect("write");
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("docs/link.md"))
            .expect("symlink");
        let one = read(&root, &["docs/a.md".into()]).expect("read");
        assert_eq!(compose("", &one), "alpha");
        let both = read(&root, &["docs/[ab].md".into()]).expect("glob");
        assert_eq!(
            compose("Summarise:", &both),
            "Summarise:\n\n--- docs/a.md ---\nalpha\n\n--- docs/b.md ---\nbeta"
        );
        let abs = root.join("docs/a.md").display().to_string();
        assert_eq!(
            read(&root, &[abs]).expect("absolute inside")[0].text,
            "alpha"
        );
        for bad in [
            "../secret".to_string(),
            dir.path().join("secret").display().to_string(),
            "docs/link.md".to_string(),
            "docs/*.md".to_string(),
            "nothing/*.txt".to_string(),
            "docs/none.md".to_string(),
        ] {
            let e = read(&root, std::slice::from_ref(&bad))
                .expect_err(&bad)
                .to_string();
            assert!(
                e.contains("outside the project")
                    || e.contains("`..`")
                    || e.contains("matches no file")
                    || e.contains("cannot be read"),
                "{bad}: {e}"
            );
        }
    }
}
