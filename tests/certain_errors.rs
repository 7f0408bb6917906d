//! Files that are certainly wrong fail `tsacl check` (exit 1): a key written twice, a
//! name defined nowhere, the autogroup:member/members mix. Each such rule lists its
//! evidence (`tsacl rule`), and a file that is wrong on purpose (a template CI fills in)
//! stays possible with `--severity` or `tsacl-ignore`.

use std::process::Command;

fn tsacl(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A finding of `check --format json`: code, severity, message, label count.
type Finding = (String, String, String, usize);

/// `tsacl check` of `policy` with `extra` arguments: exit code and the JSON findings.
fn check(policy: &str, extra: &[&str]) -> (Option<i32>, Vec<Finding>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.hujson"), policy).unwrap();
    let mut args = vec!["check", "--format", "json"];
    args.extend_from_slice(extra);
    args.push("policy.hujson");
    let out = Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .args(&args)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let found = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["severity"].as_str().unwrap().to_string(),
                d["message"].as_str().unwrap().to_string(),
                d["labels"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    (out.status.code(), found)
}

#[track_caller]
fn fails_with(policy: &str, code: &str) -> Vec<Finding> {
    let (exit, found) = check(policy, &[]);
    assert_eq!(exit, Some(1), "{policy}\n{found:#?}");
    assert!(
        found
            .iter()
            .any(|(c, sev, _, _)| c == code && sev == "error"),
        "{code} is not an error on\n{policy}\n{found:#?}"
    );
    found
}

#[test]
fn a_key_written_twice_fails_and_shows_both_places() {
    let policy = "{\n  \"groups\": {\"group:a\": [\"x@example.com\"]},\n  \"groups\": {},\n}\n";
    let found = fails_with(policy, "TSA002");
    let repeated = found.iter().find(|f| f.0 == "TSA002").unwrap();
    assert_eq!(repeated.3, 1, "the first key is a label: {repeated:?}");
    // In text, both lines are shown: the first as a label, the repeated one as primary.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.hujson"), policy).unwrap();
    let (exit, text) = tsacl(dir.path(), &["check", "policy.hujson"]);
    assert_eq!(exit, Some(1));
    assert!(
        text.contains("first defined here") && text.contains("defined again here"),
        "{text}"
    );
    assert!(text.contains("policy.hujson:3:3"), "{text}");
}

#[test]
fn a_rule_naming_an_undefined_group_fails() {
    // The groups section commented out, the rules left as they were.
    fails_with(
        r#"{
            // "groups": {"group:komodo-admin": ["alice@example.com"]},
            "grants": [{"src": ["group:komodo-admin"], "dst": ["*"], "ip": ["tcp:443"]}],
        }"#,
        "TSA012",
    );
}

#[test]
fn undefined_ipset_posture_and_unknown_autogroup_fail() {
    fails_with(
        r#"{"grants": [{"src": ["*"], "dst": ["ipset:prod"], "ip": ["*"]}]}"#,
        "TSA022",
    );
    fails_with(
        r#"{"grants": [{"src": ["*"], "dst": ["*"], "ip": ["*"], "srcPosture": ["posture:latest-mac"]}]}"#,
        "TSA024",
    );
    fails_with(
        r#"{"grants": [{"src": ["autogroup:members-only"], "dst": ["*"], "ip": ["*"]}]}"#,
        "TSA017",
    );
}

#[test]
fn mixing_autogroup_member_and_members_fails() {
    fails_with(
        r#"{"acls": [
            {"action": "accept", "src": ["autogroup:members"], "dst": ["autogroup:self:*"]},
            {"action": "accept", "src": ["autogroup:member"], "dst": ["tag:web:443"]},
        ], "tagOwners": {"tag:web": []}}"#,
        "TSA021",
    );
    // The legacy spelling alone is only a spelling note.
    let (exit, found) = check(
        r#"{"acls": [{"action": "accept", "src": ["autogroup:members"], "dst": ["autogroup:self:*"]}]}"#,
        &[],
    );
    assert_eq!(exit, Some(0), "{found:#?}");
}

#[test]
fn a_template_ci_fills_in_stays_possible() {
    let policy = r#"{
        "grants": [
            // tsacl-ignore: TSA012 the groups are written by CI from the IdP
            {"src": ["group:ops"], "dst": ["*"], "ip": ["tcp:22"]},
        ],
    }"#;
    let (exit, found) = check(policy, &[]);
    assert_eq!(exit, Some(0), "{found:#?}");
    let unsuppressed = r#"{"grants": [{"src": ["group:ops"], "dst": ["*"], "ip": ["tcp:22"]}]}"#;
    let (exit, found) = check(unsuppressed, &["--severity", "TSA012=warning"]);
    assert_eq!(exit, Some(0), "{found:#?}");
    assert!(found.iter().any(|f| f.0 == "TSA012" && f.1 == "warning"));
}

#[test]
fn each_error_lists_its_evidence() {
    let dir = tempfile::tempdir().unwrap();
    for (code, cites) in [
        ("TSA002", "tailscale/tailscale#2807"),
        ("TSA012", "terraform-provider-tailscale#546"),
        ("TSA017", "kb/1337"),
        (
            "TSA021",
            "You cannot use both autogroup:member and autogroup:members",
        ),
        ("TSA022", "kb/1387"),
        ("TSA024", "kb/1288"),
    ] {
        let (exit, text) = tsacl(dir.path(), &["rule", code]);
        assert_eq!(exit, Some(0));
        assert!(text.contains("Default severity: error"), "{text}");
        assert!(text.contains(cites), "{code}: {text}");
        assert!(text.contains("--severity"), "{code}: {text}");
    }
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md")).unwrap();
    for cites in ["#2807", "#546", "You cannot use both autogroup:member"] {
        assert!(docs.contains(cites), "docs/rules.md lacks {cites}");
    }
}
