//! Git plumbing for library contributions: the commit is built in a temporary index and
//! pointed to by a new branch, so the user's branch, index and working tree never change.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::refuse;
use crate::service::ServiceError;

pub struct Committed {
    pub commit: String,
    pub base: Option<String>,
}

/// `contribute/NAME` (a qualified name's `/` become `-`).
pub fn branch_name(ensemble: &str) -> String {
    format!("contribute/{}", slug(ensemble))
}

pub fn slug(ensemble: &str) -> String {
    ensemble
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches(['-', '.'])
        .to_string()
}

/// Settings that make git run a program, each turned off for every git call orc makes: a
/// library is a repository someone else may have prepared, and its `.git/config` or hooks
/// must not run code on the user's machine (`core.fsmonitor`, `reference-transaction`...).
const NO_PROGRAMS: &[&str] = &[
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.untrackedCache=false",
    "core.pager=cat",
    "core.editor=false",
    "core.askPass=",
    "core.sshCommand=",
    "core.gitProxy=",
    "core.alternateRefsCommand=",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "credential.helper=",
    "diff.external=",
    "protocol.allow=never",
    "uploadpack.packObjectsHook=",
    "receive.procReceiveRefs=",
];

/// `git -C dir` with every program-running setting off, no terminal prompt, no pager and
/// none of the caller's repository variables.
pub(crate) fn command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("--no-pager");
    for kv in NO_PROGRAMS {
        cmd.arg("-c").arg(kv);
    }
    cmd.arg("-C")
        .arg(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_EXTERNAL_DIFF")
        .env_remove("GIT_PAGER")
        .env_remove("GIT_EDITOR")
        .env_remove("GIT_SSH_COMMAND")
        .env_remove("GIT_ASKPASS");
    cmd
}

fn git(
    dir: &Path,
    args: &[&str],
    index: Option<&Path>,
    stdin: Option<&[u8]>,
) -> Result<String, ServiceError> {
    use std::io::Write as _;
    let mut cmd = command(dir);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match index {
        Some(i) => cmd.env("GIT_INDEX_FILE", i),
        None => cmd.env_remove("GIT_INDEX_FILE"),
    };
    let mut child = cmd
        .spawn()
        .map_err(|e| refuse(format!("cannot run git: {e}")))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input)
            .map_err(|e| refuse(format!("git {}: {e}", args.join(" "))))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| refuse(format!("git {}: {e}", args.join(" "))))?;
    if !out.status.success() {
        return Err(refuse(format!(
            "git {} failed in {}: {}",
            args.first().copied().unwrap_or(""),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// What a contribution starts from: the library's default branch (`origin/HEAD`, else
/// `main`, else `master`), so a feature branch checked out in the library never rides
/// along; `HEAD` when the library has none of them.
pub fn base_rev(repo: &Path) -> String {
    [
        "refs/remotes/origin/HEAD",
        "refs/heads/main",
        "refs/heads/master",
    ]
    .into_iter()
    .find(|r| {
        git(
            repo,
            &["rev-parse", "--verify", "-q", &format!("{r}^{{commit}}")],
            None,
            None,
        )
        .is_ok()
    })
    .unwrap_or("HEAD")
    .to_string()
}

/// The bytes of `rel` in the base's tree (`git cat-file blob BASE:<rel>`, see [`base_rev`]);
/// None when the base or the file does not exist.
pub fn head_blob(repo: &Path, rel: &str) -> Option<Vec<u8>> {
    let base = base_rev(repo);
    let out = command(repo)
        .args(["cat-file", "blob", &format!("{base}:{rel}")])
        .env_remove("GIT_INDEX_FILE")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

/// Whether `dir` is the top of a git work tree (not a folder inside another repository).
pub fn is_repo_root(dir: &Path) -> bool {
    if !dir.join(".git").exists() {
        return false;
    }
    match (
        git(dir, &["rev-parse", "--show-toplevel"], None, None),
        fs::canonicalize(dir),
    ) {
        (Ok(top), Ok(d)) => fs::canonicalize(&top).is_ok_and(|t| t == d),
        _ => false,
    }
}

struct TempIndex(PathBuf);
impl Drop for TempIndex {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
        let _ = fs::remove_file(self.0.with_extension("index.lock"));
    }
}

/// A file to commit: its path in the repository, its bytes, and whether it is executable.
pub struct TreeFile<'a> {
    pub rel: &'a str,
    pub bytes: &'a [u8],
    pub executable: bool,
}

/// Commits `files` on top of the library's default branch ([`base_rev`]) into `branch`,
/// leaving HEAD, the index and the working tree as they were.
pub fn commit_to_branch(
    repo: &Path,
    branch: &str,
    files: &[TreeFile<'_>],
    message: &str,
    overwrite: bool,
) -> Result<Committed, ServiceError> {
    let reference = format!("refs/heads/{branch}");
    let existing = check_branch(repo, branch, &reference, overwrite)?;
    let base = git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "-q",
            &format!("{}^{{commit}}", base_rev(repo)),
        ],
        None,
        None,
    )
    .ok();
    let tree = write_tree(repo, base.as_deref(), files)?;
    if let Some(b) = &base
        && git(repo, &["rev-parse", &format!("{b}^{{tree}}")], None, None)? == tree
    {
        return Err(refuse(format!(
            "nothing to contribute: {} already has these files",
            repo.display()
        )));
    }
    let mut args = vec!["commit-tree", tree.as_str()];
    if let Some(b) = &base {
        args.extend(["-p", b.as_str()]);
    }
    args.extend(["-F", "-"]);
    let commit = git(repo, &args, None, Some(message.as_bytes()))?;
    // The expected old value: the branch as read before, or "" (it must not exist yet).
    let old = existing.unwrap_or_default();
    git(
        repo,
        &[
            "update-ref",
            "-m",
            "orc promote",
            reference.as_str(),
            commit.as_str(),
            old.as_str(),
        ],
        None,
        None,
    )?;
    Ok(Committed { commit, base })
}

/// A valid branch name, not checked out, new unless `overwrite`: the branch's commit when it
/// exists.
fn check_branch(
    repo: &Path,
    branch: &str,
    reference: &str,
    overwrite: bool,
) -> Result<Option<String>, ServiceError> {
    git(repo, &["check-ref-format", "--branch", branch], None, None)
        .map_err(|_| refuse(format!("`{branch}` is not a valid branch name")))?;
    let existing = git(
        repo,
        &["rev-parse", "--verify", "-q", reference],
        None,
        None,
    )
    .ok();
    let current = git(repo, &["symbolic-ref", "-q", "HEAD"], None, None).ok();
    if existing.is_some() {
        if current.as_deref() == Some(reference) {
            return Err(refuse(format!(
                "branch `{branch}` is checked out in {}; switch away from it first",
                repo.display()
            )));
        }
        if !overwrite {
            return Err(refuse(format!(
                "branch `{branch}` already exists in {}; overwrite moves it to a new commit",
                repo.display()
            )));
        }
    }
    Ok(existing)
}

/// The tree of `base` (or an empty one) with `files` added, built in a temporary index.
fn write_tree(
    repo: &Path,
    base: Option<&str>,
    files: &[TreeFile<'_>],
) -> Result<String, ServiceError> {
    let git_dir = git(repo, &["rev-parse", "--absolute-git-dir"], None, None)?;
    let index = TempIndex(PathBuf::from(git_dir).join(format!(
        "orc-contribute-{}-{}.index",
        std::process::id(),
        fastrand::u32(..)
    )));
    match base {
        Some(b) => git(repo, &["read-tree", b], Some(&index.0), None)?,
        None => git(repo, &["read-tree", "--empty"], Some(&index.0), None)?,
    };
    for f in files {
        let sha = git(
            repo,
            // No filters: a `.gitattributes` filter would run the repository's program.
            &["hash-object", "-w", "--no-filters", "--stdin"],
            None,
            Some(f.bytes),
        )?;
        let mode = if f.executable { "100755" } else { "100644" };
        git(
            repo,
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("{mode},{sha},{}", f.rel),
            ],
            Some(&index.0),
            None,
        )?;
    }
    git(repo, &["write-tree"], Some(&index.0), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names() {
        assert_eq!(
            branch_name("research/summary x"),
            "contribute/research-summary-x"
        );
    }
}
