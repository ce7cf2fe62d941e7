//! The names and relative paths users and clients give: what is refused, and whether a path
//! stays inside its root.

use std::fs;
use std::path::{Component, Path};

/// Whether `path`, with every link resolved, is inside `root`.
pub fn stays_inside(root: &Path, path: &Path) -> bool {
    match (fs::canonicalize(root), fs::canonicalize(path)) {
        (Ok(r), Ok(p)) => p.starts_with(r),
        _ => false,
    }
}

/// Checks a name or relative path given by a user or client: no `..`, no absolute path, no
/// NUL, not empty, not absurdly long. Returns why it is refused.
pub fn check_relative_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.len() > 255 {
        return Err(format!(
            "the name is {} bytes long; at most 255 are allowed",
            name.len()
        ));
    }
    if name.contains('\0') {
        return Err("the name contains a NUL byte".into());
    }
    check_name_chars(name)?;
    let p = Path::new(name);
    if p.is_absolute() || name.starts_with('/') || name.starts_with('\\') {
        return Err(format!(
            "`{name}` is an absolute path; give a name relative to the tier"
        ));
    }
    if p.components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!("`{name}` leaves its directory (`..`)"));
    }
    Ok(())
}

/// Refuses a name that would mislead a terminal (control characters, line breaks, bidi marks),
/// saying which character: the same rule `validate` applies to names in files
/// ([`crate::load::spec::name_problem`]).
pub fn check_name_chars(name: &str) -> Result<(), String> {
    match crate::load::spec::name_problem(name, false) {
        Some(why) => Err(format!("the name {why}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_names() {
        assert!(check_relative_name("sub/x").is_ok());
        assert!(check_relative_name("../x").is_err());
        assert!(check_relative_name("a/../../x").is_err());
        assert!(check_relative_name("/etc/passwd").is_err());
        assert!(check_relative_name("a\0b").is_err());
        assert!(check_relative_name(&"x".repeat(300)).is_err());
        for bad in [
            "a\nb",
            "a\tb",
            "a\u{1b}[2Jb",
            "a\u{7f}",
            "a\u{9b}b",
            "a\u{202e}b",
            "a\u{2066}b",
            "a\u{200f}b",
        ] {
            let why = check_relative_name(bad).expect_err(bad);
            assert!(why.starts_with("the name contains "), "{bad:?}: {why}");
        }
        assert!(check_relative_name("café/über-analyse").is_ok());
    }
}
