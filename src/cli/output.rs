//! Where `-o FILE` writes (exports, reports): `-` is stdout; a file is replaced whole (a
//! temporary beside it, then a rename) keeping its mode, a new one private when it holds task
//! inputs; a link is followed to the file it names (as `>` does), so the link stays; a device or
//! a pipe (`/dev/stdout`, `/dev/null`, a FIFO) is written into, never replaced; a read-only
//! file is refused. Errors name the path the user gave, never the temporary.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Whether a new file is readable by its owner only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privacy {
    /// It holds task inputs or answers (training data, the learning report): 0600.
    Private,
    /// As the umask says.
    Default,
}

/// What was written: stdout, or the file (the real path when a link led to it).
pub enum Written {
    Stdout,
    File(PathBuf),
}

/// Writes what `fill` produces to `target` (`-`: `stdout`).
pub fn write_output<T>(
    target: &Path,
    privacy: Privacy,
    stdout: &mut dyn Write,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<T>,
) -> anyhow::Result<(T, Written)> {
    let named = || crate::cli::term_safe(&target.display().to_string()).into_owned();
    if target.as_os_str() == "-" {
        let v = fill(stdout).with_context(|| "cannot write to stdout".to_string())?;
        stdout.flush()?;
        return Ok((v, Written::Stdout));
    }
    // Follow a link to what it names (a dangling one: where it points).
    let real = match fs::canonicalize(target) {
        Ok(p) => p,
        Err(_) => match fs::read_link(target) {
            Ok(to) if to.is_absolute() => to,
            Ok(to) => target.parent().unwrap_or(Path::new(".")).join(to),
            Err(_) => target.to_path_buf(),
        },
    };
    let meta = fs::metadata(&real).ok();
    if let Some(m) = &meta
        && !m.is_file()
    {
        if m.is_dir() {
            bail!("cannot write {}: it is a folder", named());
        }
        // A device or a pipe: write into it as it is.
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(&real)
            .with_context(|| format!("cannot open {}", named()))?;
        let v = fill(&mut f).with_context(|| format!("cannot write {}", named()))?;
        return Ok((v, Written::File(target.to_path_buf())));
    }
    let mode = meta.as_ref().map(permissions_of);
    if let Some(m) = &meta
        && m.permissions().readonly()
    {
        bail!(
            "{} is read-only; not replaced (make it writable, or name another file)",
            named()
        );
    }
    let dir = real
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        bail!(
            "cannot write {}: the folder {} does not exist",
            named(),
            crate::cli::term_safe(&dir.display().to_string())
        );
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(
            ".{}.tmp-",
            real.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ))
        .tempfile_in(dir)
        .map_err(plain)
        .with_context(|| format!("cannot write {}", named()))?;
    // tempfile creates 0600; a replaced file keeps its mode, a new shareable one gets 0666
    // less the umask.
    set_mode(tmp.as_file(), mode, privacy)
        .with_context(|| format!("cannot set the mode of {}", named()))?;
    let v = {
        let mut w = io::BufWriter::new(tmp.as_file_mut());
        let v = fill(&mut w).with_context(|| format!("cannot write {}", named()))?;
        w.flush()
            .with_context(|| format!("cannot write {}", named()))?;
        v
    };
    tmp.persist(&real)
        .map_err(|e| plain(e.error))
        .with_context(|| format!("cannot write {}", named()))?;
    Ok((v, Written::File(real)))
}

/// The cause alone: tempfile's errors name the temporary, which the user never named.
fn plain(e: io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.kind().to_string()),
    }
}

#[cfg(unix)]
fn permissions_of(m: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn permissions_of(_: &fs::Metadata) -> u32 {
    0o644
}

#[cfg(unix)]
fn set_mode(f: &fs::File, keep: Option<u32>, privacy: Privacy) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = match (keep, privacy) {
        (Some(m), _) => m,
        (None, Privacy::Private) => 0o600,
        (None, Privacy::Default) => 0o666 & !umask(),
    };
    f.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &fs::File, _: Option<u32>, _: Privacy) -> io::Result<()> {
    Ok(())
}

/// The process's umask (read from /proc; 022 when it cannot be read).
#[cfg(unix)]
fn umask() -> u32 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0)
    }

    #[test]
    fn modes_links_devices_and_stdout() {
        let d = tempfile::tempdir().expect("tmp");
        let mut out = Vec::new();
        let write = |p: &Path, privacy, out: &mut Vec<u8>| {
            write_output(p, privacy, out, |w| w.write_all(b"data"))
        };
        // A new private file is 0600; a replaced file keeps its mode.
        let new = d.path().join("new.jsonl");
        write(&new, Privacy::Private, &mut out).expect("written");
        assert_eq!(mode(&new), 0o600);
        let kept = d.path().join("kept.jsonl");
        fs::write(&kept, "old").expect("w");
        fs::set_permissions(&kept, fs::Permissions::from_mode(0o640)).expect("chmod");
        write(&kept, Privacy::Private, &mut out).expect("written");
        assert_eq!(mode(&kept), 0o640);
        assert_eq!(fs::read_to_string(&kept).expect("r"), "data");
        // A link is followed: the link stays, its file is replaced.
        let link = d.path().join("link.jsonl");
        std::os::unix::fs::symlink(&kept, &link).expect("link");
        fs::write(&kept, "old").expect("w");
        write(&link, Privacy::Private, &mut out).expect("written");
        assert!(
            fs::symlink_metadata(&link)
                .expect("m")
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&kept).expect("r"), "data");
        // `-` is stdout; a device is written into, not replaced.
        write(Path::new("-"), Privacy::Private, &mut out).expect("written");
        assert_eq!(out, b"data");
        write(Path::new("/dev/null"), Privacy::Private, &mut out).expect("written");
        assert!(
            fs::metadata("/dev/null")
                .map(|m| !m.is_file())
                .unwrap_or(false)
        );
        // A folder is an error naming it.
        let e = write(d.path(), Privacy::Private, &mut out)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(
            e.contains(&d.path().display().to_string()) && e.contains("folder"),
            "{e}"
        );
        // Nothing temporary is left behind.
        let left: Vec<String> = fs::read_dir(d.path())
            .expect("ls")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
