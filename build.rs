//! Records the commit tsacl is built from, for `tsacl --version`.
//!
//! `TSACL_COMMIT` wins (release builds from a source archive have no `.git`); else
//! `git rev-parse HEAD`; else `unknown`. Never fails the build. Uncommitted changes are
//! not marked: watching the index would rebuild the crate on every `git status`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=TSACL_COMMIT");
    let commit = std::env::var("TSACL_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| {
            // Rebuild when HEAD moves (a commit, a checkout).
            if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
                println!("cargo:rerun-if-changed={dir}/HEAD");
                // Only files that exist: cargo reruns a script on every build for one that
                // does not (a branch whose ref lives in packed-refs).
                let head_ref = git(&["symbolic-ref", "-q", "HEAD"]);
                for file in head_ref.iter().map(String::as_str).chain(["packed-refs"]) {
                    let path = format!("{dir}/{file}");
                    if std::path::Path::new(&path).exists() {
                        println!("cargo:rerun-if-changed={path}");
                    }
                }
            }
            git(&["rev-parse", "--short=12", "HEAD"])
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=TSACL_COMMIT={commit}");
}
