//! The real `tsacl` binary, end to end: exit codes, output streams, formats, bad input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn tsacl() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tsacl"));
    cmd.env_remove("NO_COLOR").env("COLUMNS", "100");
    cmd
}

fn run(args: &[&str]) -> Output {
    tsacl().args(args).output().unwrap()
}

fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = tsacl()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn repo(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

const BAD: &str = "{\n\t\"tagOwners\": {\"tag:web\": []},\n\t\"acls\": [\n\t\t{\"action\": \"accept\", \"src\": [\"tag:db\"], \"dst\": [\"tag:web:80\"]},\n\t],\n}\n";

#[test]
fn the_repository_policy_is_clean() {
    let out = run(&["check", &repo("policies/policy.hujson")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("0 errors"));
    assert!(out.stdout.is_empty(), "human output goes to stderr");
}

#[test]
fn errors_exit_1_with_location_code_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.hujson", BAD.as_bytes());
    let out = run(&["check", "--color", "never", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("TSA010"), "{err}");
    assert!(err.contains("src=tag not found: \"tag:db\""), "{err}");
    assert!(err.contains("bad.hujson:4:32"), "{err}");
    assert!(err.contains("help:"), "{err}");
    assert!(!err.contains('\u{1b}'), "no colour with --color never");
}

#[test]
fn json_output_is_one_document_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.hujson", BAD.as_bytes());
    let out = run(&["check", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "TSA010");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["line"], 4);
    assert_eq!(d["column"], 32);
    assert_eq!(d["end_line"], 4);
    assert_eq!(d["end_column"], 40);
    assert!(d["file"].as_str().unwrap().ends_with("bad.hujson"));
    assert_eq!(v["errors"], 1);
}

#[test]
fn colour_follows_flag_and_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.hujson", BAD.as_bytes());
    let p = path.to_str().unwrap();
    assert!(text(&run(&["check", "--color", "always", p]).stderr).contains('\u{1b}'));
    let out = tsacl()
        .env("NO_COLOR", "1")
        .args(["check", p])
        .output()
        .unwrap();
    assert!(!text(&out.stderr).contains('\u{1b}'));
}

#[test]
fn unreadable_inputs_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let binary = write(dir.path(), "bin.hujson", b"{\"a\": \0\x01\x02}");
    let latin1 = write(dir.path(), "latin1.hujson", b"{\"a\": \"caf\xe9\"}");
    for (path, expect) in [
        (dir.path().join("missing.hujson"), "no such file"),
        (dir.path().to_path_buf(), "is a directory"),
        (binary, "binary data"),
        (latin1, "not UTF-8"),
    ] {
        let out = run(&["check", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{path:?}");
        let err = text(&out.stderr);
        assert_eq!(
            err.lines()
                .filter(|l| l.starts_with("tsacl: error:"))
                .count(),
            1,
            "{err}"
        );
        assert!(err.contains(expect), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn one_unreadable_file_does_not_hide_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.hujson", BAD.as_bytes());
    let out = run(&[
        "check",
        "--color",
        "never",
        "nope.hujson",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("TSA010"));
}

#[test]
fn usage_errors_exit_2() {
    // No file and no policies/tailnet.json5 above the current directory.
    let empty = tempfile::tempdir().unwrap();
    let out = tsacl()
        .arg("check")
        .current_dir(empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no policies/tailnet.json5"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        run(&["check", "--format", "yaml", "x"]).status.code(),
        Some(2)
    );
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(run(&["--help"]).status.code(), Some(0));
    let version = run(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
    // The version and the commit it was built from.
    let line = text(&version.stdout);
    assert!(
        line.starts_with(&format!("tsacl {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{line}"
    );
    let commit = line
        .trim()
        .trim_end_matches(')')
        .rsplit(' ')
        .next()
        .unwrap();
    assert!(
        commit == "unknown" || (commit.len() >= 7 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{line}"
    );
}

#[test]
fn syntax_errors_use_the_reference_wording() {
    let out = run_stdin(&["check", "--color", "never", "-"], b"{\"acls\": [,]}");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("hujson: line 1, column 11: invalid character ',' at start of value"),
        "{err}"
    );
    assert!(err.contains("<stdin>:1:11"), "{err}");
}

#[test]
fn deep_nesting_and_garbage_never_panic() {
    let deep = "[".repeat(100_000);
    for input in [
        deep.as_bytes(),
        b"\xff\xfe\x00garbage".as_slice(),
        b"",
        b"}",
    ] {
        let out = run_stdin(&["check", "-"], input);
        let code = out.status.code();
        assert!(code == Some(1) || code == Some(2), "{code:?}");
        assert!(!text(&out.stderr).contains("panicked"));
    }
}

#[test]
fn fmt_rewrites_in_place_keeping_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "p.hujson",
        b"{\"acls\":[\n{\"action\":\"accept\",\"src\":[\"*\"],\"dst\":[\"*:*\"]}]}",
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let p = path.to_str().unwrap();
    let out = run(&["fmt", "--check", p]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("would reformat"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&["fmt", p]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let formatted = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        formatted,
        // Standard JSON stays standard JSON: no trailing comma is added.
        "{\"acls\": [\n\t{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*:*\"]}\n]}\n"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert_eq!(run(&["fmt", "--check", p]).status.code(), Some(0));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );
}

#[test]
fn fmt_stdin_to_stdout() {
    let out = run_stdin(&["fmt", "-"], b"{\"a\":1, // c\n}");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "{\n\t\"a\": 1, // c\n}\n");
}

#[test]
fn fmt_leaves_invalid_files_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "p.hujson", b"{\"a\": [1,,]}");
    let out = run(&["fmt", "--color", "never", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("hujson: line 1, column 10"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\": [1,,]}");
}

/// `fmt --check` tells "would reformat" (1) from "does not parse" (2), as ruff and
/// rustfmt do; with both, the worse wins.
#[test]
fn fmt_check_tells_reformat_from_parse_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ugly = write(dir.path(), "ugly.hujson", b"{\"a\":1}");
    let broken = write(dir.path(), "broken.hujson", b"{\"a\": [1,,]}");
    let (ugly, broken) = (ugly.to_str().unwrap(), broken.to_str().unwrap());
    let out = run(&["fmt", "--check", "--color", "never", ugly]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("would reformat"));
    let out = run(&["fmt", "--check", "--color", "never", broken]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!text(&out.stdout).contains("would reformat"));
    let err = text(&out.stderr);
    assert!(err.contains("broken.hujson:1:10"), "{err}");
    assert!(
        err.contains("not formatted: it is not valid HuJSON"),
        "{err}"
    );
    let out = run(&["fmt", "--check", "--color", "never", ugly, broken]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).contains("would reformat"));
}

#[test]
fn the_repository_policy_is_formatted() {
    let out = run(&["fmt", "--check", &repo("policies/policy.hujson")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn rule_lists_and_explains_codes() {
    let out = run(&["rule", "--all"]);
    assert_eq!(out.status.code(), Some(0));
    let listing = text(&out.stdout);
    for rule in tsacl::rules::RULES {
        assert!(
            listing.contains(rule.id) && listing.contains(rule.name),
            "{}",
            rule.id
        );
    }
    let out = run(&["rule", "tsa010"]);
    assert!(text(&out.stdout).contains("undefined-tag"));
    let out = run(&["rule", "--all", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), tsacl::rules::RULES.len());
    let out = run(&["rule", "TSA999"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sarif_and_github_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.hujson", BAD.as_bytes());
    let p = path.to_str().unwrap();
    let out = run(&["check", "--format", "sarif", p]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run0 = &v["runs"][0];
    assert_eq!(run0["tool"]["driver"]["name"], "tsacl");
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), tsacl::rules::RULES.len());
    let result = &run0["results"][0];
    assert_eq!(result["ruleId"], "TSA010");
    let index = result["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[index]["id"], "TSA010");
    assert_eq!(result["level"], "error");
    let region = &result["locations"][0]["physicalLocation"]["region"];
    assert_eq!(
        (region["startLine"].as_u64(), region["startColumn"].as_u64()),
        (Some(4), Some(32))
    );
    assert!(
        result["partialFingerprints"]["tsacl/v1"]
            .as_str()
            .unwrap()
            .len()
            == 16
    );
    // The same run twice gives the same fingerprints.
    let again: serde_json::Value =
        serde_json::from_slice(&run(&["check", "--format", "sarif", p]).stdout).unwrap();
    assert_eq!(again["runs"][0]["results"], run0["results"]);

    let out = run(&["check", "--format", "github", p]);
    let line = text(&out.stdout);
    let re_ok = line.starts_with("::error file=")
        && line.contains(",line=4,col=32,endLine=4,endColumn=40,title=TSA010 undefined-tag::src=tag not found: \"tag:db\"");
    assert!(re_ok, "{line}");
}

#[test]
fn exit_zero_and_fail_on() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.hujson", BAD.as_bytes());
    let warn = write(dir.path(), "warn.hujson", b"{\"bogus\": 1}\n");
    assert_eq!(
        run(&["check", "--exit-zero", bad.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        run(&["check", warn.to_str().unwrap()]).status.code(),
        Some(0)
    );
    assert_eq!(
        run(&["check", "--fail-on", "warning", warn.to_str().unwrap()])
            .status
            .code(),
        Some(1)
    );
    // Usage errors are not findings.
    assert_eq!(
        run(&["check", "--exit-zero", "missing.hujson"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0));
        assert!(text(&out.stdout).contains("check"), "{shell}");
    }
}

#[test]
fn inline_suppressions_and_select_ignore() {
    let dir = tempfile::tempdir().unwrap();
    let policy = "{\n\t\"groups\": {\n\t\t// tsacl-ignore: TSA200 kept for the next project\n\t\t\"group:later\": [],\n\t\t\"group:stale\": [],\n\t},\n\t// tsacl-ignore: unused-host\n\t\"tagOwners\": {},\n}\n";
    let path = write(dir.path(), "p.hujson", policy.as_bytes());
    let p = path.to_str().unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&run(&["check", "--format", "json", p]).stdout).unwrap();
    let codes: Vec<(String, u64)> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["line"].as_u64().unwrap(),
            )
        })
        .collect();
    // group:later is suppressed, group:stale is not, and the suppression before
    // tagOwners matches nothing.
    assert_eq!(
        codes,
        vec![("TSA200".to_string(), 5), ("TSA220".to_string(), 7)],
        "{v}"
    );

    let only: serde_json::Value =
        serde_json::from_slice(&run(&["check", "--format", "json", "--select", "TSA22", p]).stdout)
            .unwrap();
    assert_eq!(only["diagnostics"].as_array().unwrap().len(), 1);
    let none: serde_json::Value = serde_json::from_slice(
        &run(&[
            "check",
            "--format",
            "json",
            "--ignore",
            "unused-group,TSA220",
            p,
        ])
        .stdout,
    )
    .unwrap();
    assert!(none["diagnostics"].as_array().unwrap().is_empty());
    let out = run(&["check", "--select", "TSA999x", p]);
    assert_eq!(out.status.code(), Some(2));
}

/// A minified policy is one very long line: a finding far along it is reported in the
/// compact form (a snippet would be unreadable, and miette cannot pad that far), not a
/// panic.
#[test]
fn findings_on_a_very_long_line_are_reported_compactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut acls: Vec<String> = (0..3000)
        .map(|i| format!(r#"{{"action":"accept","src":["*"],"dst":["*:{}"]}}"#, i + 1))
        .collect();
    acls.push(r#"{"action":"accept","src":["tag:nope"],"dst":["*:22"]}"#.into());
    let policy = format!(r#"{{"acls":[{}]}}"#, acls.join(","));
    assert!(policy.len() > 70_000 && !policy.contains('\n'));
    let path = write(dir.path(), "min.json", policy.as_bytes());
    let out = run(&["check", "--color", "never", path.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(&format!(
            "min.json:1:{}: error[TSA010]",
            policy.find("\"tag:nope\"").unwrap() + 1
        )),
        "{}",
        &err[..err.len().min(2000)]
    );
}

/// The files of an intents project stand for the project, as a pre-commit hook passes
/// them: its base policy alone runs the proof; a lone policy beside it is checked on its
/// own; json, one document, refuses more than one of them.
#[test]
fn a_projects_files_check_the_project_and_other_policies_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    for name in [
        "tailnet.json5",
        "base.hujson",
        "policy.hujson",
        "inventory.json",
    ] {
        std::fs::copy(repo(&format!("policies/{name}")), policies.join(name)).unwrap();
    }
    std::fs::create_dir(policies.join("k8s")).unwrap();
    for entry in std::fs::read_dir(repo("policies/k8s")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), policies.join("k8s").join(entry.file_name())).unwrap();
    }
    let lone = "{\n\t\"tagOwners\": {\"tag:web\": [\"autogroup:admin\"]},\n\t\"grants\": [\n\t\t{\"src\": [\"autogroup:member\"], \"dst\": [\"tag:web\"], \"ip\": [\"443\"]},\n\t],\n}\n";
    write(dir.path(), "lone.hujson", lone.as_bytes());
    let check = |args: &[&str]| {
        tsacl()
            .arg("check")
            .args(args)
            .args(["--color", "never"])
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = check(&[
        "lone.hujson",
        "policies/tailnet.json5",
        "policies/base.hujson",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(err.matches("tsacl: checked 3 files").count(), 1, "{err}");
    assert_eq!(err.matches("tsacl: checked 1 file").count(), 1, "{err}");

    // The base policy lets the agent box reach Redis, which the intents give to panda.
    let base = std::fs::read_to_string(policies.join("base.hujson")).unwrap();
    let opened = base.replacen(
        "\t\"grants\": [\n",
        "\t\"grants\": [\n\t\t{\"src\": [\"tag:clanker\"], \"dst\": [\"tag:redis\"], \"ip\": [\"tcp:6379\"]},\n",
        1,
    );
    assert_ne!(base, opened);
    write(&policies, "base.hujson", opened.as_bytes());
    let out = check(&["policies/base.hujson"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("TSA113"), "the proof ran: {err}");

    let out = check(&["--format", "json", "lone.hujson", "policies/base.hujson"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stdout).is_empty());
}

/// A tailnet policy named `.json5` (nSimonFR/nic-os names it so for the editor's
/// highlighting; gitops-acl-action sends it as it is) is checked and formatted as the
/// policy it is, not read as an intents file.
#[test]
fn a_policy_named_json5_is_a_policy() {
    let dir = tempfile::tempdir().unwrap();
    let policy = "// HuJSON, named .json5\n{\n\t\"tagOwners\": {\"tag:web\": [\"autogroup:admin\"]},\n\t\"grants\": [{\"src\": [\"autogroup:member\"], \"dst\": [\"tag:web\"], \"ip\": [\"tcp:443\"]}],\n}\n";
    let path = write(dir.path(), "tailscale-acl.json5", policy.as_bytes());
    let out = tsacl()
        .args(["check", "--format", "json"])
        .arg(&path)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["diagnostics"].as_array().unwrap().len(), 0, "{doc}");
    // The same errors as under its usual name.
    let bad = write(dir.path(), "bad.json5", BAD.as_bytes());
    let out = tsacl()
        .arg("check")
        .arg(&bad)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("TSA010"),
        "{}",
        text(&out.stderr)
    );
    // fmt writes it as the HuJSON it is.
    let out = tsacl()
        .args(["fmt", "--check"])
        .arg(&path)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("intents file"),
        "{}",
        text(&out.stderr)
    );
}
