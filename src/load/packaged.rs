//! The packaged tier: the ensembles shipped with orc (the repository's `ensembles/`, their
//! profiles and scripts), embedded in the binary so that an installed `orc` has them whatever
//! folder it runs from. They are looked up after the local, library and global tiers, so any
//! of those shadows them, as llm-orc 0.25 does with the ensembles of its wheel.
//!
//! A script has to be a file to run and a diagnostic has to name a file, so the embedded tree
//! is unpacked once per build into the user's data folder
//! (`$XDG_DATA_HOME/orc/packaged/<version>-<digest>/`, else `~/.local/share/...`), written
//! into a temporary folder beside it and renamed into place: a reader never sees half a tree,
//! and two orcs unpacking at once both end with the same one. `ORC_PACKAGED_DIR` points the
//! tier at a folder instead (a distribution's own set of ensembles, or none with an empty
//! value).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Every file of the packaged tree, relative to its root (the layout of a `.llm-orc/`
/// folder). `config init` writes the same files into a new project.
pub const FILES: &[(&str, &str)] = &[
    (
        "ensembles/sequential-draft.yaml",
        include_str!("../../ensembles/sequential-draft.yaml"),
    ),
    (
        "ensembles/fan-in-review.yaml",
        include_str!("../../ensembles/fan-in-review.yaml"),
    ),
    (
        "ensembles/fan-out-paragraphs.yaml",
        include_str!("../../ensembles/fan-out-paragraphs.yaml"),
    ),
    (
        "ensembles/swarm-review.yaml",
        include_str!("../../ensembles/swarm-review.yaml"),
    ),
    (
        "ensembles/composable-report.yaml",
        include_str!("../../ensembles/composable-report.yaml"),
    ),
    (
        "profiles/micro.yaml",
        include_str!("../../profiles/micro.yaml"),
    ),
    (
        "profiles/small.yaml",
        include_str!("../../profiles/small.yaml"),
    ),
    (
        "profiles/medium.yaml",
        include_str!("../../profiles/medium.yaml"),
    ),
    (
        "profiles/large.yaml",
        include_str!("../../profiles/large.yaml"),
    ),
    (
        "scripts/split_paragraphs.py",
        include_str!("../../ensembles/scripts/split_paragraphs.py"),
    ),
];

/// The folder name of this build's tree: the version and a digest of every embedded file, so
/// a build with other files never reads an older tree.
fn tree_name() -> String {
    let mut h = Sha256::new();
    for (path, text) in FILES {
        h.update(path.as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", env!("CARGO_PKG_VERSION"))
}

/// Where the packaged tier is: `ORC_PACKAGED_DIR` when set (None when it is empty), else this
/// build's unpacked tree under the data folder, unpacked now if it is not there yet. None when
/// there is no data folder or it cannot be written (the tier is then absent, and said so in
/// the debug log).
pub fn root(packaged_dir: Option<&Path>, data_home: Option<&Path>) -> Option<PathBuf> {
    if let Some(dir) = packaged_dir {
        return (!dir.as_os_str().is_empty()).then(|| dir.to_path_buf());
    }
    let parent = data_home?.join("orc").join("packaged");
    let dir = parent.join(tree_name());
    if dir.join("ensembles").is_dir() {
        return Some(dir);
    }
    match unpack(&parent, &dir) {
        Ok(()) => Some(dir),
        Err(e) => {
            tracing::debug!(dir = %dir.display(), "the packaged ensembles are not available: {e}");
            None
        }
    }
}

/// Writes the tree into a fresh folder beside `dir` and renames it into place. Losing the
/// race to another orc doing the same is success: its tree is this one.
fn unpack(parent: &Path, dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(parent)?;
    let tmp = tempfile::Builder::new()
        .prefix(".unpacking-")
        .tempdir_in(parent)?;
    for (rel, text) in FILES {
        let path = tmp.path().join(rel);
        if let Some(p) = path.parent() {
            fs::create_dir_all(p)?;
        }
        let mut f = fs::File::create(&path)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        #[cfg(unix)]
        if rel.starts_with("scripts/") {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
        }
    }
    let staged = tmp.keep();
    match fs::rename(&staged, dir) {
        Ok(()) => Ok(()),
        Err(_) if dir.join("ensembles").is_dir() => {
            let _ = fs::remove_dir_all(&staged);
            Ok(())
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&staged);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file the repository ships in `ensembles/` and `profiles/` is embedded: adding an
    /// example there installs it with orc.
    #[test]
    fn every_shipped_file_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut on_disk = Vec::new();
        for (dir, prefix) in [
            ("ensembles", "ensembles"),
            ("profiles", "profiles"),
            ("ensembles/scripts", "scripts"),
        ] {
            for e in fs::read_dir(root.join(dir)).expect("read").flatten() {
                if e.path().is_file() {
                    on_disk.push(format!("{prefix}/{}", e.file_name().to_string_lossy()));
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
    }

    #[test]
    fn unpacks_once_and_reuses_the_tree() {
        let data = tempfile::tempdir().expect("tmp");
        let dir = root(None, Some(data.path())).expect("unpacked");
        assert!(dir.join("ensembles/swarm-review.yaml").is_file());
        assert!(dir.join("scripts/split_paragraphs.py").is_file());
        fs::write(dir.join("marker"), "kept").expect("write");
        assert_eq!(root(None, Some(data.path())), Some(dir.clone()));
        assert!(
            dir.join("marker").is_file(),
            "the tree was not unpacked again"
        );
        let others: Vec<_> = fs::read_dir(dir.parent().expect("parent"))
            .expect("read")
            .flatten()
            .collect();
        assert_eq!(others.len(), 1, "no temporary folder is left behind");
    }

    #[test]
    fn the_environment_can_point_elsewhere_or_nowhere() {
        let d = tempfile::tempdir().expect("tmp");
        assert_eq!(root(Some(d.path()), None), Some(d.path().to_path_buf()));
        assert_eq!(root(Some(Path::new("")), Some(d.path())), None);
        assert_eq!(root(None, None), None);
    }
}
