//! How the compiler's hints write lists of names and paths, and a preview of inline script content.

use std::path::PathBuf;

pub(super) fn list_names(names: &[&str]) -> String {
    const MAX: usize = 12;
    let mut s = names
        .iter()
        .take(MAX)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX {
        s.push_str(&format!(" and {} more", names.len() - MAX));
    }
    s
}

pub(super) fn join_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "(no directories)".into();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first line of inline script content, shortened for a message.
pub(super) fn inline_preview(content: &str) -> String {
    let line = content.trim().lines().next().unwrap_or("");
    let short: String = line.chars().take(60).collect();
    if short.len() < line.len() || content.trim().lines().nth(1).is_some() {
        format!("{short}...")
    } else {
        short
    }
}
