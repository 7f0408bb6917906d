//! Byte-for-byte conformance of our HuJSON reader, `standardize` and `format` with the
//! reference Go implementation (tailscale/hujson), over every vector in
//! `conformance/hujson/`: upstream error/standardize/format vectors, 400 generated
//! policy-shaped documents and every captured policy.

mod common;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use tsacl::syntax::hujson;

/// Results for one group of vectors.
struct Group {
    name: &'static str,
    passed: usize,
    total: usize,
    failures: Vec<String>,
}

impl Group {
    fn new(name: &'static str) -> Group {
        Group {
            name,
            passed: 0,
            total: 0,
            failures: Vec::new(),
        }
    }

    fn check(&mut self, vector: &Path, outcome: Result<(), String>) {
        self.total += 1;
        match outcome {
            Ok(()) => self.passed += 1,
            Err(why) => self.failures.push(format!("{}: {why}", vector.display())),
        }
    }
}

/// Files in `dir` whose names end with `suffix` and start with `prefix`, sorted.
fn vectors(dir: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with(prefix)
                && name.ends_with(suffix)
                // `x.hujson` inputs, not `x.fmt.hujson` outputs.
                && !(suffix == ".hujson" && name.ends_with(".fmt.hujson"))
        })
        .collect();
    found.sort();
    found
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// `dir/stem.hujson` → `dir/stem<ext>`.
fn sibling(input: &Path, ext: &str) -> PathBuf {
    let name = input.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let stem = name.strip_suffix(".hujson").unwrap_or(name);
    input.with_file_name(format!("{stem}{ext}"))
}

/// A short description of where two outputs first differ.
fn short_diff(got: &[u8], want: &[u8]) -> String {
    let got = String::from_utf8_lossy(got);
    let want = String::from_utf8_lossy(want);
    let got_lines: Vec<&str> = got.split('\n').collect();
    let want_lines: Vec<&str> = want.split('\n').collect();
    let line = got_lines
        .iter()
        .zip(&want_lines)
        .position(|(g, w)| g != w)
        .unwrap_or(got_lines.len().min(want_lines.len()));
    let mut out = format!(
        "differs at line {} ({} vs {} lines)",
        line + 1,
        got_lines.len(),
        want_lines.len()
    );
    for (label, lines) in [("want", &want_lines), ("got ", &got_lines)] {
        for l in lines.iter().skip(line.saturating_sub(1)).take(3) {
            let _ = write!(out, "\n      {label}| {l:?}");
        }
    }
    out
}

fn expect_output(got: Result<Vec<u8>, impl std::fmt::Display>, want: &[u8]) -> Result<(), String> {
    match got {
        Ok(got) if got == want => Ok(()),
        Ok(got) => Err(short_diff(&got, want)),
        Err(e) => Err(format!("unexpected error: {e}")),
    }
}

/// Format must be idempotent on its own (reference) output.
fn expect_idempotent(formatted: &[u8]) -> Result<(), String> {
    expect_output(hujson::format(formatted), formatted)
        .map_err(|why| format!("format not idempotent on reference output: {why}"))
}

fn check_format(group: &mut Group, input: &Path) {
    let want = read(&sibling(input, ".fmt.hujson"));
    let outcome =
        expect_output(hujson::format(&read(input)), &want).and_then(|()| expect_idempotent(&want));
    group.check(input, outcome);
}

fn check_standardize(group: &mut Group, input: &Path) {
    let src = read(input);
    let want = read(&sibling(input, ".std.json"));
    let outcome = expect_output(hujson::standardize(&src), &want).and_then(|()| {
        // The standardized text is plain JSON that parses to the same values.
        let ours = hujson::parse(&src).map_err(|e| e.to_string())?;
        let again = hujson::parse(&want).map_err(|e| e.to_string())?;
        if ours.root != again.root {
            return Err("standardized text parses to a different tree".to_owned());
        }
        if hujson::is_standard(&want) != Ok(true) {
            return Err("standardized text is not standard".to_owned());
        }
        Ok(())
    });
    group.check(input, outcome);
}

fn check_error(group: &mut Group, input: &Path) {
    let src = read(input);
    let want = String::from_utf8_lossy(&read(&sibling(input, ".err")))
        .trim_end_matches('\n')
        .to_owned();
    let outcome = (|| {
        let parsed = hujson::parse(&src).map(|_| ()).map_err(|e| e.to_string());
        if parsed != Err(want.clone()) {
            return Err(format!("parse gave {parsed:?}, want {want:?}"));
        }
        // Every entry point shares the parser, so every one reports the same error.
        let others = [
            ("standardize", hujson::standardize(&src).map(drop)),
            ("format", hujson::format(&src).map(drop)),
            ("is_standard", hujson::is_standard(&src).map(drop)),
        ];
        for (what, result) in others {
            let got = result.map_err(|e| e.to_string());
            if got != Err(want.clone()) {
                return Err(format!("{what} gave {got:?}, want {want:?}"));
            }
        }
        Ok(())
    })();
    group.check(input, outcome);
}

#[test]
fn hujson_conformance() {
    let Some(root) = common::conformance_dir() else {
        return;
    };
    let dir = root.join("hujson");
    let upstream = dir.join("upstream");
    let generated = dir.join("generated");
    let policies = dir.join("policies");

    let mut groups = Vec::new();

    let mut group = Group::new("upstream-errors");
    for input in vectors(&upstream, "e", ".hujson") {
        check_error(&mut group, &input);
    }
    groups.push(group);

    let mut group = Group::new("standardize");
    for input in vectors(&upstream, "s", ".hujson") {
        check_standardize(&mut group, &input);
    }
    groups.push(group);

    let mut group = Group::new("format");
    for input in vectors(&upstream, "f", ".hujson") {
        check_format(&mut group, &input);
    }
    groups.push(group);

    let generated_inputs = vectors(&generated, "", ".hujson");
    let mut group = Group::new("generated-format");
    for input in &generated_inputs {
        check_format(&mut group, input);
    }
    groups.push(group);

    let mut group = Group::new("generated-standardize");
    for input in &generated_inputs {
        check_standardize(&mut group, input);
    }
    groups.push(group);

    let mut group = Group::new("policies-format");
    for input in vectors(&policies, "", ".hujson") {
        check_format(&mut group, &input);
    }
    groups.push(group);

    let summary: Vec<String> = groups
        .iter()
        .map(|g| format!("{} {}/{}", g.name, g.passed, g.total))
        .collect();
    println!("hujson conformance: {}", summary.join(", "));

    let mut report = String::new();
    let mut failed = 0;
    for group in &groups {
        assert!(group.total > 0, "no vectors found for {}", group.name);
        failed += group.failures.len();
        for failure in group.failures.iter().take(5) {
            let _ = writeln!(report, "[{}] {failure}", group.name);
        }
    }
    assert!(
        failed == 0,
        "hujson conformance: {} — {failed} failures, first few:\n{report}",
        summary.join(", ")
    );
}
