//! The instruction-count gate (`benches/instructions.sh`, which `.ci/run` runs with
//! `--check`): its comparison, run through `--compare` on counts written here, so that it
//! is tested without valgrind or a release build. Also that the committed baseline is
//! well formed and names exactly the commands the script measures.

use std::path::Path;
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn script(args: &[&str], threshold: Option<&str>) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("benches/instructions.sh")).args(args);
    cmd.env_remove("TSACL_INSTRUCTIONS_THRESHOLD");
    if let Some(t) = threshold {
        cmd.env("TSACL_INSTRUCTIONS_THRESHOLD", t);
    }
    cmd.output().expect("bash runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `--compare` on a baseline and a measurement given as (name, count) lines.
fn compare(baseline: &str, measured: &str, threshold: Option<&str>) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let (b, m) = (dir.path().join("baseline"), dir.path().join("measured"));
    std::fs::write(&b, baseline).unwrap();
    std::fs::write(&m, measured).unwrap();
    let output = script(
        &["--compare", b.to_str().unwrap(), m.to_str().unwrap()],
        threshold,
    );
    (output.status.code().expect("an exit code"), text(&output))
}

const BASELINE: &str = "# a comment\n\ncheck\t1000000\nexplain tag:svc7\t500000\n";

#[test]
fn equal_counts_pass_and_print_the_table() {
    let (code, out) = compare(BASELINE, "check\t1000000\nexplain tag:svc7\t500000\n", None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("baseline Ir"), "{out}");
    assert!(out.contains("1,000,000"), "{out}");
    assert!(out.contains("explain tag:svc7"), "{out}");
    assert!(out.contains("every command within 10 %"), "{out}");
}

#[test]
fn a_measurement_far_above_its_baseline_fails() {
    let (code, out) = compare(BASELINE, "check\t1500000\nexplain tag:svc7\t500000\n", None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("REGRESSION"), "{out}");
    assert!(
        out.contains("check executes 50.0 % more instructions than its baseline"),
        "{out}"
    );
    assert!(out.contains("--update"), "{out}");
    // The unchanged command is not blamed.
    assert!(!out.contains("explain tag:svc7 executes"), "{out}");
}

#[test]
fn the_threshold_is_where_the_gate_fails() {
    // 10 % is the default: 9.9 % passes, 10.1 % fails.
    let (code, out) = compare(BASELINE, "check\t1099000\nexplain tag:svc7\t500000\n", None);
    assert_eq!(code, 0, "{out}");
    let (code, out) = compare(BASELINE, "check\t1101000\nexplain tag:svc7\t500000\n", None);
    assert_eq!(code, 1, "{out}");
    // TSACL_INSTRUCTIONS_THRESHOLD moves it.
    let (code, out) = compare(
        BASELINE,
        "check\t1050000\nexplain tag:svc7\t500000\n",
        Some("3"),
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("(threshold 3 %)"), "{out}");
    let (code, out) = compare(
        BASELINE,
        "check\t1200000\nexplain tag:svc7\t500000\n",
        Some("25"),
    );
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_measurement_far_below_its_baseline_warns_but_passes() {
    let (code, out) = compare(BASELINE, "check\t600000\nexplain tag:svc7\t500000\n", None);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: check executes 40.0 % fewer instructions than its baseline; update the baseline"),
        "{out}"
    );
}

#[test]
fn a_command_with_no_baseline_fails_and_a_stale_line_warns() {
    let (code, out) = compare(
        BASELINE,
        "check\t1000000\nexplain tag:svc7\t500000\ndiff\t7\n",
        None,
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("'diff' has no baseline"), "{out}");
    let (code, out) = compare(BASELINE, "check\t1000000\n", None);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("the baseline lists 'explain tag:svc7', which is no longer measured"),
        "{out}"
    );
}

#[test]
fn bad_input_is_a_usage_error() {
    let measured = "check\t1000000\n";
    let (code, out) = compare("check 1000000\n", measured, None);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(":1:1: expected NAME<TAB>INSTRUCTIONS"),
        "{out}"
    );
    let (code, out) = compare("check\t1000000\ncheck\t2\n", measured, None);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(":2:1: 'check' is listed twice"), "{out}");
    let (code, out) = compare("check\t0\n", measured, None);
    assert_eq!(code, 2, "{out}");
    for threshold in ["ten", "0", "-5", "nan", "inf"] {
        let (code, out) = compare(BASELINE, measured, Some(threshold));
        assert_eq!(code, 2, "{threshold}: {out}");
        assert!(out.contains("TSACL_INSTRUCTIONS_THRESHOLD"), "{out}");
    }
    let output = script(&["--compare", "only-one-file"], None);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let output = script(&["--no-such-option"], None);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("usage:"));
}

#[test]
fn the_committed_baseline_covers_exactly_the_measured_commands() {
    let output = script(&["--list"], None);
    assert!(output.status.success(), "{}", text(&output));
    let measured: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(measured.len() >= 6, "{measured:?}");
    let baseline = std::fs::read_to_string(root().join("benches/instructions.baseline")).unwrap();
    let names: Vec<&str> = baseline
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(
        names, measured,
        "benches/instructions.baseline is out of date: run benches/instructions.sh --update"
    );
    // And it is well formed: compared with itself it passes.
    let path = root().join("benches/instructions.baseline");
    let path = path.to_str().unwrap();
    let output = script(&["--compare", path, path], None);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
}

/// Without valgrind the gate fails (exit 2) rather than skipping, under CI=true or not.
#[cfg(unix)]
#[test]
fn without_valgrind_the_gate_fails() {
    let bin = tempfile::tempdir().unwrap();
    for tool in ["bash", "python3", "dirname"] {
        let found = Command::new("bash")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .unwrap();
        let path = String::from_utf8(found.stdout).unwrap();
        std::os::unix::fs::symlink(path.trim(), bin.path().join(tool)).unwrap();
    }
    let output = Command::new(bin.path().join("bash"))
        .arg(root().join("benches/instructions.sh"))
        .arg("--check")
        .env("PATH", bin.path())
        .env("CI", "true")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("needs valgrind"),
        "{}",
        text(&output)
    );
}
