//! Pictures in Mermaid's language, read by Mermaid itself: its parser, the library GitHub
//! and most Markdown renderers draw with, under node (`tests/support/mermaid/parse.mjs`),
//! so that a picture tsacl prints is one the tool it is meant for accepts. The parser is
//! installed with `npm ci` from the committed lock file, once per test binary, into
//! Cargo's temporary directory for tests. Without npm the check is skipped with a message,
//! except under `CI=true`, where it must run (`.ci/run` has npm for the VS Code extension).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Mermaid itself parses the picture, where npm is installed.
pub fn valid_mermaid(text: &str) {
    let Some(dir) = parser() else { return };
    let mut child = Command::new("node")
        .arg("parse.mjs")
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (npm is installed)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "Mermaid rejects the picture: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "flowchart-v2",
        "{text}"
    );
}

/// The directory holding the installed parser, or `None` (said once) without npm.
fn parser() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(install).as_deref()
}

fn install() -> Option<PathBuf> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let npm_present = Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !npm_present {
        assert!(
            !ci,
            "npm not found (CI=true: Mermaid must read the pictures)"
        );
        eprintln!("SKIPPED: npm not found; the Mermaid pictures' syntax is not checked");
        return None;
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/mermaid");
    // One directory per test binary: binaries run at once, and `npm ci` empties
    // `node_modules` first.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("mermaid-parser-{}", env!("CARGO_CRATE_NAME")));
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::read(source.join("package-lock.json")).unwrap();
    let installed = std::fs::read(dir.join("package-lock.json")).is_ok_and(|l| l == lock)
        && dir.join("node_modules/.package-lock.json").exists();
    for file in ["package.json", "package-lock.json", "parse.mjs"] {
        std::fs::copy(source.join(file), dir.join(file)).unwrap();
    }
    if !installed {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "npm ci of Mermaid's parser failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Some(dir)
}
