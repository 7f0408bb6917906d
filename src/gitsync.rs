//! Drift from git: was the policy on the server pushed from this repository?
//!
//! tsacl keeps no cache. It takes every version of the policy file in the history of
//! `HEAD` (`git log --follow -- FILE`, so renames are followed), formats each with
//! `hujson::format` and compares it byte for byte with the formatted server policy.
//! Equal to some committed version: the server holds something this repository
//! produced, and pushing over it loses nothing. Equal to none: someone edited the
//! policy elsewhere (the admin console, another tool), and `push` refuses without
//! `--force`. Formatting both sides first makes the answer independent of whether
//! the server stores the file as sent or reformatted; its ETag is the SHA-256 of this
//! same formatted text.
//!
//! When git cannot answer (no git, not a repository, the file never committed, a
//! shallow clone without the matching commit), the answer is [`Provenance::Unknown`]
//! with the reason, and `push` treats it like drift.

use crate::syntax::hujson;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// Where the server's policy came from, as far as git can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// The server's policy is the file as committed in `commit`.
    Committed {
        commit: String,
        subject: String,
        /// True when it is the newest committed version of the file.
        newest: bool,
    },
    /// No committed version of the file matches the server's policy.
    Drifted {
        /// The newest committed version (commit, bytes), to show what changed remotely.
        newest: Option<(String, Vec<u8>)>,
        versions: usize,
    },
    /// git cannot tell; the reason is a sentence for the user.
    Unknown { reason: String },
}

/// Look for `remote` (the server's policy, any layout) in the git history of `file`.
pub fn provenance(file: &Path, remote: &[u8]) -> Provenance {
    let Ok(remote_fmt) = hujson::format(remote) else {
        return Provenance::Drifted {
            newest: None,
            versions: 0,
        };
    };
    let shown = file.display();
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    let Some(name) = file.file_name() else {
        return Provenance::Unknown {
            reason: format!("{shown} is not a file name"),
        };
    };
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(args)
            .stdin(Stdio::null())
            .output()
    };
    match git(&["rev-parse", "--is-inside-work-tree"]) {
        Err(e) => {
            return Provenance::Unknown {
                reason: format!(
                    "cannot run git ({e}); tsacl needs git to see the history of {shown}"
                ),
            };
        }
        Ok(out) if !out.status.success() || out.stdout.trim_ascii() != b"true" => {
            return Provenance::Unknown {
                reason: format!("{shown} is not in a git repository"),
            };
        }
        Ok(_) => {}
    }
    let mut log_args: Vec<&std::ffi::OsStr> = [
        "log",
        "--follow",
        "--format=%x01%H%x02%s",
        "--name-only",
        "--",
    ]
    .iter()
    .map(std::ffi::OsStr::new)
    .collect();
    log_args.push(name);
    let log = Command::new("git")
        .arg("-C")
        .arg(&dir)
        .args(&log_args)
        .stdin(Stdio::null())
        .output();
    let log = match log {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        // `git log` fails in a repository without commits.
        Ok(_) => {
            return Provenance::Unknown {
                reason: format!("{shown} has never been committed (the repository has no commits)"),
            };
        }
        Err(e) => {
            return Provenance::Unknown {
                reason: format!("cannot run git log: {e}"),
            };
        }
    };
    // (commit, subject, path at that commit relative to the repository root)
    let mut versions: Vec<(String, String, String)> = Vec::new();
    for chunk in log.split('\x01').filter(|c| !c.trim().is_empty()) {
        let mut lines = chunk.lines();
        let Some((hash, subject)) = lines.next().and_then(|l| l.split_once('\x02')) else {
            continue;
        };
        if let Some(path) = lines.map(str::trim).find(|l| !l.is_empty()) {
            versions.push((hash.to_string(), subject.to_string(), path.to_string()));
        }
    }
    if versions.is_empty() {
        return Provenance::Unknown {
            reason: format!("{shown} has never been committed"),
        };
    }
    let blobs = match cat_files(&dir, &versions) {
        Ok(b) => b,
        Err(e) => {
            return Provenance::Unknown {
                reason: format!("cannot read the history of {shown} from git: {e}"),
            };
        }
    };
    let mut newest = None;
    for (i, ((commit, subject, _), blob)) in versions.iter().zip(blobs).enumerate() {
        let Some(blob) = blob else { continue };
        if newest.is_none() {
            newest = Some((commit.clone(), blob.clone()));
        }
        if hujson::format(&blob).is_ok_and(|f| f == remote_fmt) {
            return Provenance::Committed {
                commit: commit.clone(),
                subject: subject.clone(),
                newest: i == 0,
            };
        }
    }
    let shallow = git(&["rev-parse", "--is-shallow-repository"])
        .is_ok_and(|o| o.stdout.trim_ascii() == b"true");
    if shallow {
        return Provenance::Unknown {
            reason: format!(
                "no committed version of {shown} matches the server's policy, but this clone is shallow \
                 and may lack the commit that does; fetch the full history (actions/checkout \
                 `fetch-depth: 0`, GitLab `GIT_DEPTH: 0`, or `git fetch --unshallow`)"
            ),
        };
    }
    Provenance::Drifted {
        versions: versions.len(),
        newest,
    }
}

/// The file's bytes at each version, through one `git cat-file --batch`.
fn cat_files(
    dir: &Path,
    versions: &[(String, String, String)],
) -> std::io::Result<Vec<Option<Vec<u8>>>> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input: String = versions
        .iter()
        .map(|(c, _, p)| format!("{c}:{p}\n"))
        .collect();
    // Write from a thread: git answers while it reads, and both pipes are bounded.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut blobs = Vec::with_capacity(versions.len());
    for _ in versions {
        let mut header = String::new();
        if out.read_line(&mut header)? == 0 {
            return Err(std::io::Error::other("git cat-file ended early"));
        }
        let parts: Vec<&str> = header.split_whitespace().collect();
        if parts.len() == 3 && parts[1] == "blob" {
            let size: usize = parts[2]
                .parse()
                .map_err(|_| std::io::Error::other("bad git cat-file header"))?;
            let mut blob = vec![0; size];
            out.read_exact(&mut blob)?;
            let mut newline = [0u8; 1];
            out.read_exact(&mut newline)?;
            blobs.push(Some(blob));
        } else if parts.len() == 3 {
            // Not a blob (a tree?): skip its content.
            let size: usize = parts[2].parse().unwrap_or(0);
            std::io::copy(&mut (&mut out).take(size as u64 + 1), &mut std::io::sink())?;
            blobs.push(None);
        } else {
            // "<name> missing": the file was deleted in that commit.
            blobs.push(None);
        }
    }
    let _ = writer.join();
    let _ = child.wait();
    Ok(blobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn finds_committed_versions_and_drift() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let file = d.join("policy.hujson");
        assert!(
            matches!(provenance(&file, b"{}"), Provenance::Unknown { reason } if reason.contains("not in a git repository"))
        );
        git(d, &["init", "-q"]);
        std::fs::write(&file, "{\"a\": 1}").unwrap();
        assert!(
            matches!(provenance(&file, b"{}"), Provenance::Unknown { reason } if reason.contains("never been committed"))
        );
        git(d, &["add", "policy.hujson"]);
        git(d, &["commit", "-q", "-m", "first"]);
        std::fs::write(&file, "{\"a\": 2}").unwrap();
        git(d, &["commit", "-q", "-am", "second"]);
        // An old version matches it, whatever its spacing.
        match provenance(&file, b"{ \"a\":   1 , }") {
            Provenance::Committed {
                subject, newest, ..
            } => {
                assert_eq!(subject, "first");
                assert!(!newest);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            provenance(&file, b"{\"a\":2}"),
            Provenance::Committed { newest: true, .. }
        ));
        match provenance(&file, b"{\"a\": 3}") {
            Provenance::Drifted {
                newest: Some((_, bytes)),
                versions,
            } => {
                assert_eq!(bytes, b"{\"a\": 2}");
                assert_eq!(versions, 2);
            }
            other => panic!("{other:?}"),
        }
    }
}
