//! Writing files so that a reader never sees half of one, and folders that are never reached
//! through a link: what the artifact store, the script cache, the learning files and the
//! project files orc edits are written with.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("cannot use `{name}` as an artifact directory name: {why}")]
    BadName { name: String, why: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{}: is a symbolic link; orc never writes, lists or deletes artifacts through links inside the artifacts folder (replace it with a real folder)",
        path.display()
    )]
    Link { path: PathBuf },
}

/// `root/rel` when every folder from `root` down to it is a real folder, not a link (`root`
/// itself may be one: where artifacts live is the user's choice). `Ok(None)` when a folder is
/// missing, unless `create`, which creates the missing ones.
pub fn real_dir(root: &Path, rel: &str, create: bool) -> Result<Option<PathBuf>, ArtifactError> {
    if create {
        fs::create_dir_all(root).map_err(io_err(root))?;
    }
    let mut path = root.to_path_buf();
    for part in Path::new(rel).components() {
        match part {
            std::path::Component::Normal(p) => path.push(p),
            std::path::Component::CurDir => continue,
            _ => {
                return Err(ArtifactError::BadName {
                    name: rel.to_string(),
                    why: "it must be a relative path without `..`".into(),
                });
            }
        }
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => return Err(ArtifactError::Link { path }),
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(ArtifactError::Io {
                    path,
                    source: io::Error::new(io::ErrorKind::NotADirectory, "not a folder"),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                match fs::create_dir(&path) {
                    Ok(()) => {}
                    // Another run created it meanwhile: check it again.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        if fs::symlink_metadata(&path)
                            .map_err(io_err(&path))?
                            .file_type()
                            .is_symlink()
                        {
                            return Err(ArtifactError::Link { path });
                        }
                    }
                    Err(e) => return Err(ArtifactError::Io { path, source: e }),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ArtifactError::Io { path, source: e }),
        }
    }
    Ok(Some(path))
}

/// Whether `path` is a real folder (a link to one is not).
pub fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ArtifactError + '_ {
    move |source| ArtifactError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// JSON formatting as Python's `json.dump(indent=2)` with `ensure_ascii`: non-ASCII escaped.
struct AsciiPretty<'a>(serde_json::ser::PrettyFormatter<'a>);

impl serde_json::ser::Formatter for AsciiPretty<'_> {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        for c in fragment.chars() {
            if c.is_ascii() {
                w.write_all(&[c as u8])?;
            } else {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    write!(w, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// Writes pretty ASCII JSON to `w` as it goes (no whole-document string in memory).
pub fn write_pretty_ascii<W: Write, T: Serialize + ?Sized>(w: W, v: &T) -> io::Result<()> {
    let fmt = AsciiPretty(serde_json::ser::PrettyFormatter::with_indent(b"  "));
    let mut ser = serde_json::Serializer::with_formatter(w, fmt);
    v.serialize(&mut ser).map_err(io::Error::other)
}

/// Pretty JSON, 2-space indent, ASCII only, no trailing newline (as llm-orc writes it).
pub fn to_pretty_ascii(v: &Value) -> String {
    let mut out = Vec::new();
    let fmt = AsciiPretty(serde_json::ser::PrettyFormatter::with_indent(b"  "));
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    if v.serialize(&mut ser).is_err() {
        return v.to_string();
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// Like `write_atomic`, with the content produced by `fill` writing into the temporary file.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut fs::File) -> io::Result<()>,
) -> Result<(), ArtifactError> {
    write_atomic_via(path.parent().unwrap_or(Path::new(".")), path, fill)
}

/// Like `write_atomic_with`, with the temporary in `tmp_dir` (on the same file system).
pub fn write_atomic_via(
    tmp_dir: &Path,
    path: &Path,
    fill: impl FnOnce(&mut fs::File) -> io::Result<()>,
) -> Result<(), ArtifactError> {
    let tmp = tmp_dir.join(format!(
        ".{}.tmp-{}-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id(),
        fastrand::u64(..)
    ));
    let mut f = fs::File::create_new(&tmp).map_err(io_err(&tmp))?;
    if let Err(e) = fill(&mut f) {
        let _ = fs::remove_file(&tmp);
        return Err(ArtifactError::Io {
            path: tmp,
            source: e,
        });
    }
    // No fsync: the rename already makes the file appear whole or not at all to readers and
    // after a crash of orc; an fsync costs tens of milliseconds per file on small machines.
    drop(f);
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        ArtifactError::Io {
            path: path.to_path_buf(),
            source: e,
        }
    })
}
