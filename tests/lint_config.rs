//! Severity overrides and selection, end to end with the real binary: `--severity` on the
//! command line and the intents file's `lint` section, in every output format, and how
//! they decide the exit code.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tsacl(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "120")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

/// (code, severity) of every finding in a JSON report.
/// The findings, less the repository tailnet's two TSA150 warnings about its admins' SSH
/// (checked by `tests/github_annotations.rs`), which every copy of it has.
fn findings(o: &Output) -> Vec<(String, String)> {
    json(o)["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| {
            !(d["code"] == "TSA150"
                && d["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("group:admins can become")))
        })
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A policy with one allow-all rule (TSA210) and one unused group (TSA200), both warnings.
const POLICY: &str = "{\n\t\"groups\": {\"group:stale\": []},\n\t\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*:*\"]}],\n}\n";

fn policy_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.hujson");
    std::fs::write(&path, POLICY).unwrap();
    (dir, path)
}

#[test]
fn severity_overrides_change_every_format_and_the_exit_code() {
    let (dir, path) = policy_file();
    let p = path.to_str().unwrap();
    let d = dir.path();
    // Defaults: two warnings, exit 0.
    let out = tsacl(d, &["check", "--format", "json", p]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        findings(&out),
        vec![
            ("TSA200".to_string(), "warning".to_string()),
            ("TSA210".to_string(), "warning".to_string())
        ]
    );
    // By code and by name, repeated and comma-separated.
    for args in [
        &[
            "--severity",
            "TSA210=error",
            "--severity",
            "unused-group=off",
        ][..],
        &["--severity", "allow-all=ERROR,TSA200=ignore"][..],
    ] {
        let mut all = vec!["check", "--format", "json"];
        all.extend_from_slice(args);
        all.push(p);
        let out = tsacl(d, &all);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert_eq!(
            findings(&out),
            vec![("TSA210".to_string(), "error".to_string())],
            "{args:?}"
        );
    }
    // --exit-zero still wins over a raised severity.
    let out = tsacl(
        d,
        &["check", "--severity", "TSA210=error", "--exit-zero", p],
    );
    assert_eq!(out.status.code(), Some(0));
    // Text: the summary counts the effective severities.
    let out = tsacl(
        d,
        &[
            "check",
            "--severity",
            "TSA210=error",
            "--severity",
            "TSA200=info",
            p,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("1 error, 0 warnings, 1 info"),
        "{}",
        stderr(&out)
    );
    // SARIF: the result's level; the rule keeps its default configuration.
    let out = tsacl(
        d,
        &[
            "check",
            "--format",
            "sarif",
            "--severity",
            "TSA210=error",
            p,
        ],
    );
    let v = json(&out);
    let results = v["runs"][0]["results"].as_array().unwrap();
    let allow_all = results.iter().find(|r| r["ruleId"] == "TSA210").unwrap();
    assert_eq!(allow_all["level"], "error");
    let unused = results.iter().find(|r| r["ruleId"] == "TSA200").unwrap();
    assert_eq!(unused["level"], "warning");
    // GitHub annotations.
    let out = tsacl(
        d,
        &[
            "check",
            "--format",
            "github",
            "--severity",
            "TSA2=info",
            "--severity",
            "TSA210=error",
            p,
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("::error ") && text.contains("title=TSA210 allow-all"),
        "{text}"
    );
    assert!(
        text.contains("::notice ") && text.contains("title=TSA200 unused-group"),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn lowered_severities_and_fail_on() {
    let (dir, path) = policy_file();
    let p = path.to_str().unwrap();
    let d = dir.path();
    assert_eq!(
        tsacl(d, &["check", "--fail-on", "warning", p])
            .status
            .code(),
        Some(1)
    );
    // Both lints down to info: nothing reaches the warning threshold.
    assert_eq!(
        tsacl(
            d,
            &[
                "check",
                "--fail-on",
                "warning",
                "--severity",
                "TSA2=info",
                p
            ]
        )
        .status
        .code(),
        Some(0)
    );
    // An error lowered to a warning no longer fails the default threshold.
    let bad = dir.path().join("bad.hujson");
    std::fs::write(
        &bad,
        "{\"grants\": [{\"src\": [\"tag:nope\"], \"dst\": [\"*\"], \"ip\": [\"22\"]}]}",
    )
    .unwrap();
    let b = bad.to_str().unwrap();
    assert_eq!(tsacl(d, &["check", b]).status.code(), Some(1));
    let out = tsacl(
        d,
        &[
            "check",
            "--format",
            "json",
            "--severity",
            "undefined-tag=warning",
            b,
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        findings(&out),
        vec![("TSA010".to_string(), "warning".to_string())]
    );
}

#[test]
fn bad_severity_flags_are_usage_errors() {
    let (dir, path) = policy_file();
    let p = path.to_str().unwrap();
    for (flag, expected) in [
        ("TSA2100=error", "unknown rule \"TSA2100\""),
        ("alow-all=error", "did you mean allow-all?"),
        ("TSA210=loud", "unknown severity \"loud\""),
        ("TSA210", "expected CODE=LEVEL"),
    ] {
        let out = tsacl(dir.path(), &["check", "--severity", flag, p]);
        assert_eq!(out.status.code(), Some(2), "{flag}");
        assert!(stderr(&out).contains(expected), "{flag}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
    }
    assert!(
        String::from_utf8_lossy(&tsacl(dir.path(), &["check", "--help"]).stdout)
            .contains("--severity <CODE=LEVEL>")
    );
}

/// A copy of the repository's `policies/` with extra text in the intents file (before its
/// closing brace) and one more service nobody may reach (TSA111, a warning), compiled.
fn project(lint: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for f in ["base.hujson", "policy.hujson", "inventory.json"] {
        std::fs::copy(root.join(f), policies.join(f)).unwrap();
    }
    // Without the cluster's manifests: the intents alone.
    let text = std::fs::read_to_string(root.join("tailnet.json5"))
        .unwrap()
        .replace("  k8s: { manifests: \"k8s/\" },\n", "");
    let text = text.replacen(
        "  services: {\n",
        "  services: {\n    retired: { ports: [9999], from: [] },\n",
        1,
    );
    let end = text.rfind('}').unwrap();
    let text = format!("{}{lint}\n}}\n", &text[..end]);
    let intents = policies.join("tailnet.json5");
    std::fs::write(&intents, text).unwrap();
    let out = tsacl(dir.path(), &["compile"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (dir, intents)
}

#[test]
fn the_intents_lint_section_and_the_command_line_over_it() {
    // Without a lint section: one warning, exit 0.
    let (dir, _) = project("");
    let out = tsacl(dir.path(), &["check", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        findings(&out),
        vec![("TSA111".to_string(), "warning".to_string())]
    );

    let (dir, _) = project(r#"  lint: { severity: { TSA111: "error", "allow-all": "error" } },"#);
    let out = tsacl(dir.path(), &["check", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        findings(&out),
        vec![("TSA111".to_string(), "error".to_string())]
    );
    // The command line wins over the file.
    let out = tsacl(
        dir.path(),
        &["check", "--severity", "unreachable-service=warning"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = tsacl(dir.path(), &["check", "--ignore", "TSA111"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // select/ignore in the file; naming a code on the command line brings it back.
    let (dir, _) = project(r#"  lint: { ignore: ["TSA11"] },"#);
    let out = tsacl(dir.path(), &["check", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(findings(&out).is_empty());
    let out = tsacl(
        dir.path(),
        &["check", "--format", "json", "--select", "TSA111"],
    );
    assert_eq!(findings(&out).len(), 1);
    let (dir, _) = project(r#"  lint: { select: ["TSA0"] },"#);
    let out = tsacl(dir.path(), &["check", "--format", "json"]);
    assert!(findings(&out).is_empty());
}

#[test]
fn mistakes_in_the_lint_section_are_configuration_errors_with_a_location() {
    for (lint, expected) in [
        (
            r#"  lint: { severity: { TSA999: "error" } },"#,
            "lint.severity: unknown rule \"TSA999\"",
        ),
        (
            r#"  lint: { severity: { TSA210: "loud" } },"#,
            "lint.severity.TSA210: unknown severity \"loud\"",
        ),
        (
            r#"  lint: { severity: { TSA210: 2 } },"#,
            "lint.severity.TSA210 must be a string",
        ),
        (
            r#"  lint: { selct: ["TSA2"] },"#,
            "unknown key \"selct\" in lint; did you mean \"select\"?",
        ),
        (
            r#"  lint: { ignore: "TSA2" },"#,
            "lint.ignore must be an array",
        ),
        (
            r#"  lint: { select: ["unused-grop"] },"#,
            "did you mean unused-group?",
        ),
        (r#"  lint: ["TSA2"],"#, "lint must be an object"),
    ] {
        let (dir, _) = project(lint);
        let out = tsacl(dir.path(), &["check"]);
        assert_eq!(out.status.code(), Some(2), "{lint}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(expected), "{lint}: {err}");
        // file:line:col, pointing at the last line before the closing brace.
        let lines = std::fs::read_to_string(dir.path().join("policies/tailnet.json5"))
            .unwrap()
            .lines()
            .count();
        assert!(
            err.contains(&format!("policies/tailnet.json5:{}:", lines - 1)),
            "{lint}: {err}"
        );
    }
}
