//! Pictures in Graphviz's language, read by Graphviz itself (its `dot` program) when it
//! is installed, so that a picture tsacl prints is one the tool it is meant for accepts.
//! Without it the check is skipped with a message, except under `CI=true`, where it must
//! run (`.ci/run` installs Debian's graphviz).

use std::io::Write;
use std::process::{Command, Stdio};

/// Graphviz itself reads the picture, when it is installed.
pub fn valid_dot(dot: &str) {
    let Ok(mut child) = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    else {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "graphviz's dot not found (CI=true: Graphviz must read the pictures)"
        );
        eprintln!("SKIPPED: graphviz's dot is not installed; the picture's syntax is not checked");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dot.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "dot rejects the picture: {}\n{dot}",
        String::from_utf8_lossy(&out.stderr)
    );
}
