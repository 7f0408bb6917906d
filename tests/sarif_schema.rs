//! `--format sarif` of `tsacl check` and `tsacl diff`, from the real binary, validated
//! against the OASIS SARIF 2.1.0 schema (`tests/data/sarif-schema-2.1.0.json`, see
//! `tests/data/README.md`), plus what GitHub code scanning needs beyond the schema: rules
//! with help text, relative URIs under `%SRCROOT%`, full regions and fingerprints that
//! stay put when unrelated lines move.

mod common;

use serde_json::Value;
use sha2::Digest;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const SCHEMA: &str = "tests/data/sarif-schema-2.1.0.json";
const SCHEMA_SHA256: &str = "af47e7b67f24efe74076621fd3a5fbe7398add9e84fe820c971219a385895cea";

/// The schema as vendored, byte for byte.
fn vendored() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Where the vendored schema has a pattern that is no valid ECMA-262 regex in strict
/// (unicode) mode, a stray `]` (oasis-tcs/sarif-spec issues 488 and 576, pull requests
/// 490 and 562; ajv and this validator reject the schema for it).
const BROKEN_PATTERN_AT: [&str; 2] = [
    "/definitions/run/properties/language/pattern",
    "/definitions/toolComponent/properties/language/pattern",
];
const BROKEN_PATTERN: &str = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$";
/// What the TC meant: a two-letter language and an optional two-letter region.
const FIXED_PATTERN: &str = "^[a-zA-Z]{2}(-[a-zA-Z]{2})?$";

/// The schema the tests validate against: the vendored one with that pattern fixed, in
/// memory only (tsacl never writes a `language`, so nothing else changes).
fn schema() -> Value {
    let mut s = vendored();
    for at in BROKEN_PATTERN_AT {
        let pattern = s.pointer_mut(at).unwrap();
        assert_eq!(pattern, BROKEN_PATTERN, "the pattern at {at} changed");
        *pattern = FIXED_PATTERN.into();
    }
    s
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(&schema())
        .unwrap()
}

/// Schema errors, one line each (empty when the document is valid).
fn schema_errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{e} (at {})", e.instance_path()))
        .collect()
}

fn assert_valid(doc: &Value, what: &str) {
    let errors = schema_errors(&validator(), doc);
    assert!(
        errors.is_empty(),
        "{what}: not valid SARIF 2.1.0:\n{}\n{}",
        errors.join("\n"),
        serde_json::to_string_pretty(doc).unwrap()
    );
}

/// Run tsacl in `dir`; its exit code must be `code`.
fn tsacl(dir: &Path, args: &[&str], code: i32) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "tsacl {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `tsacl ARGS` in `dir` as SARIF: valid against the schema and fit for GitHub code
/// scanning, with no absolute path (nor `dir` itself) anywhere in it.
fn sarif(dir: &Path, args: &[&str], code: i32) -> Value {
    let text = tsacl(dir, args, code);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_valid(&doc, &format!("tsacl {args:?}"));
    code_scanning_ready(&doc);
    for absolute in [dir.to_path_buf(), std::fs::canonicalize(dir).unwrap()] {
        let shown = absolute.display().to_string();
        assert!(
            !text.contains(&shown),
            "{shown} appears in the SARIF:\n{text}"
        );
    }
    doc
}

/// The things the schema does not check and GitHub code scanning needs.
fn code_scanning_ready(doc: &Value) {
    assert_eq!(doc["version"], "2.1.0");
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), tsacl::rules::RULES.len());
    let mut ids = BTreeSet::new();
    for r in rules {
        let id = r["id"].as_str().unwrap();
        assert!(ids.insert(id), "rule {id} twice");
        for field in ["shortDescription", "fullDescription", "help"] {
            let text = r[field]["text"].as_str().unwrap_or_default();
            assert!(!text.trim().is_empty(), "rule {id} has no {field}");
        }
        assert!(r["name"].as_str().is_some_and(|n| !n.is_empty()));
    }
    let bases = run["originalUriBaseIds"].as_object().unwrap();
    let mut prints = BTreeSet::new();
    for result in run["results"].as_array().unwrap() {
        let id = result["ruleId"].as_str().unwrap();
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], id, "ruleIndex of {id}");
        assert!(["error", "warning", "note"].contains(&result["level"].as_str().unwrap()));
        assert!(!result["message"]["text"].as_str().unwrap().is_empty());
        let locations = result["locations"].as_array().unwrap();
        assert_eq!(locations.len(), 1, "{result}");
        let related = result["relatedLocations"].as_array().cloned();
        for loc in locations.iter().chain(related.iter().flatten()) {
            let physical = &loc["physicalLocation"];
            let artifact = &physical["artifactLocation"];
            let uri = artifact["uri"].as_str().unwrap();
            assert!(
                !uri.starts_with('/') && !uri.contains("://") && !uri.starts_with("file:"),
                "{uri} is not a relative URI"
            );
            let base = artifact["uriBaseId"].as_str().unwrap();
            assert!(
                bases.contains_key(base),
                "{base} is not in originalUriBaseIds"
            );
            let region = &physical["region"];
            assert!(region["startLine"].as_u64().unwrap() >= 1, "{result}");
            let full = ["startColumn", "endLine", "endColumn"].map(|k| region[k].as_u64());
            match full {
                [None, None, None] => {}
                [Some(col), Some(end_line), Some(end_col)] => {
                    let line = region["startLine"].as_u64().unwrap();
                    assert!(col >= 1 && end_line >= line, "{region}");
                    assert!(end_line > line || end_col >= col, "{region}");
                }
                _ => panic!("a region with some columns and not others: {region}"),
            }
        }
        let print = result["partialFingerprints"]["tsacl/v1"].as_str().unwrap();
        assert!(print.len() == 16 && print.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(
            prints.insert(print),
            "two results share the fingerprint {print}"
        );
    }
}

fn results(doc: &Value) -> &Vec<Value> {
    doc["runs"][0]["results"].as_array().unwrap()
}

fn result<'a>(doc: &'a Value, rule: &str) -> &'a Value {
    results(doc)
        .iter()
        .find(|r| r["ruleId"] == rule)
        .unwrap_or_else(|| panic!("no {rule} in {doc}"))
}

fn location(result: &Value) -> &Value {
    &result["locations"][0]["physicalLocation"]
}

fn fingerprints(doc: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = results(doc)
        .iter()
        .map(|r| {
            (
                r["ruleId"].as_str().unwrap().to_string(),
                r["partialFingerprints"]["tsacl/v1"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// Errors (an undefined tag), lint warnings (an unused group, two allow-all rules that
/// differ only in their index), all with regions.
const FINDINGS: &str = r#"{
	"groups": {"group:unused": ["a@example.com"]},
	"tagOwners": {"tag:web": []},
	"acls": [
		{"action": "accept", "src": ["tag:db"], "dst": ["tag:web:80"]},
		{"action": "accept", "src": ["*"], "dst": ["*:*"]},
		{"action": "accept", "src": ["*"], "dst": ["*:*"]},
	],
}
"#;

const SYNTAX: &str = "{\n  \"acls\": [\n    {\"action\": \"accept\"} x\n  ]\n}\n";

#[test]
fn the_vendored_schema_is_sarif_2_1_0() {
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA)).unwrap();
    let digest = sha2::Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex, SCHEMA_SHA256,
        "{SCHEMA} changed: see tests/data/README.md"
    );
    let s = vendored();
    assert_eq!(s["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(
        s["$id"],
        "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json"
    );
    assert_eq!(
        s["title"],
        "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    );
    assert_eq!(
        s["properties"]["version"]["enum"],
        serde_json::json!(["2.1.0"])
    );
    assert_eq!(s["required"], serde_json::json!(["version", "runs"]));
    for def in [
        "run",
        "result",
        "region",
        "artifactLocation",
        "reportingDescriptor",
    ] {
        assert!(s["definitions"][def].is_object(), "no definition of {def}");
    }
    // A valid draft-07 schema but for the known broken pattern, and valid once it is
    // fixed.
    let meta = jsonschema::draft7::meta::validator();
    let errors: Vec<String> = meta
        .iter_errors(&s)
        .map(|e| e.instance_path().to_string())
        .collect();
    assert_eq!(errors, BROKEN_PATTERN_AT, "draft-07 meta-schema errors");
    let fixed = schema();
    let fixed = jsonschema::draft7::meta::validate(&fixed).map_err(|e| e.to_string());
    assert!(fixed.is_ok(), "not a valid draft-07 schema: {fixed:?}");
}

#[test]
fn the_validator_rejects_broken_sarif() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.hujson", FINDINGS);
    let good = sarif(dir.path(), &["check", "--format", "sarif", "bad.hujson"], 1);
    let v = validator();
    assert!(schema_errors(&v, &good).is_empty());
    type Break = fn(&mut Value);
    let breaks: Vec<(&str, Break)> = vec![
        ("no version", |d| {
            d.as_object_mut().unwrap().remove("version");
        }),
        ("version 2.0.0", |d| d["version"] = "2.0.0".into()),
        ("an unknown level", |d| {
            d["runs"][0]["results"][0]["level"] = "fatal".into()
        }),
        ("line 0", |d| {
            d["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
                0.into()
        }),
        ("a uri that is no URI", |d| {
            d["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] =
                "policies/a b<c>.hujson".into()
        }),
        ("a result without a message", |d| {
            d["runs"][0]["results"][0]
                .as_object_mut()
                .unwrap()
                .remove("message");
        }),
        ("a tool without a driver", |d| {
            d["runs"][0]["tool"]
                .as_object_mut()
                .unwrap()
                .remove("driver");
        }),
        ("a property SARIF does not have", |d| {
            d["runs"][0]["results"][0]["severity"] = "high".into()
        }),
    ];
    for (what, break_it) in breaks {
        let mut doc = good.clone();
        break_it(&mut doc);
        assert!(
            !schema_errors(&v, &doc).is_empty(),
            "the validator accepted SARIF with {what}"
        );
    }
}

#[test]
fn the_repository_policies_give_valid_sarif_with_only_the_admins_ssh_chains() {
    // The repository's tailnet is clean but for its two TSA150 warnings: the admins may
    // SSH into panda and clanker-001 (see tests/github_annotations.rs).
    let only_the_admins_chains = |doc: &Value| {
        let found: Vec<(&str, &str)> = results(doc)
            .iter()
            .map(|r| (r["ruleId"].as_str().unwrap(), r["level"].as_str().unwrap()))
            .collect();
        assert_eq!(
            found,
            [("TSA150", "warning"), ("TSA150", "warning")],
            "{doc}"
        );
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    only_the_admins_chains(&sarif(repo, &["check", "--format", "sarif"], 0));
    only_the_admins_chains(&sarif(
        repo,
        &["check", "--format", "sarif", "policies/policy.hujson"],
        0,
    ));
}

#[test]
fn findings_of_each_severity_are_valid_sarif_with_regions() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.hujson", FINDINGS);
    write(dir.path(), "syntax.hujson", SYNTAX);
    let doc = sarif(
        dir.path(),
        &["check", "--format", "sarif", "bad.hujson", "syntax.hujson"],
        1,
    );
    let levels: BTreeSet<&str> = results(&doc)
        .iter()
        .map(|r| r["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, BTreeSet::from(["error", "warning"]));

    // An error: the undefined tag, its region exactly the quoted name.
    let undefined = location(result(&doc, "TSA010"));
    assert_eq!(undefined["artifactLocation"]["uri"], "bad.hujson");
    assert_eq!(undefined["artifactLocation"]["uriBaseId"], "%SRCROOT%");
    assert_eq!(
        undefined["region"],
        serde_json::json!({"startLine": 5, "startColumn": 32, "endLine": 5, "endColumn": 40})
    );
    // A lint warning with its region.
    let unused = result(&doc, "TSA200");
    assert_eq!(unused["level"], "warning");
    assert_eq!(
        location(unused)["region"],
        serde_json::json!({"startLine": 2, "startColumn": 13, "endLine": 2, "endColumn": 27})
    );
    // The syntax error, in the other file.
    let syntax = result(&doc, "TSA001");
    assert_eq!(syntax["level"], "error");
    assert_eq!(location(syntax)["artifactLocation"]["uri"], "syntax.hujson");
    assert_eq!(location(syntax)["region"]["startLine"], 3);
    // Help reaches the result's message and every rule.
    assert!(
        result(&doc, "TSA010")["message"]["text"]
            .as_str()
            .unwrap()
            .contains("(help: ")
    );
}

#[test]
fn uris_are_relative_to_the_work_tree_root() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    write(dir.path(), "policies/my policy.hujson", FINDINGS);
    let sub = dir.path().join("policies");
    let doc = sarif(&sub, &["check", "--format", "sarif", "my policy.hujson"], 1);
    for r in results(&doc) {
        assert_eq!(
            location(r)["artifactLocation"]["uri"],
            "policies/my%20policy.hujson"
        );
    }
    // Given as an absolute path, the same.
    let absolute = sub.join("my policy.hujson");
    let again = sarif(
        &sub,
        &["check", "--format", "sarif", absolute.to_str().unwrap()],
        1,
    );
    assert_eq!(fingerprints(&again), fingerprints(&doc));
}

#[test]
fn a_file_level_finding_has_a_region_of_its_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    common::copy_dir(&repo.join("policies"), &dir.path().join("policies"));
    let policy = dir.path().join("policies/policy.hujson");
    let mut text = std::fs::read_to_string(&policy).unwrap();
    text.push_str("// edited by hand\n");
    std::fs::write(&policy, text).unwrap();
    let doc = sarif(dir.path(), &["check", "--format", "sarif"], 1);
    let stale = result(&doc, "TSA112");
    assert_eq!(stale["level"], "error");
    assert_eq!(
        location(stale)["artifactLocation"]["uri"],
        "policies/tailnet.json5"
    );
    assert_eq!(
        location(stale)["region"],
        serde_json::json!({"startLine": 1})
    );
}

#[test]
fn diff_sarif_reports_access_changes_and_lockouts() {
    let dir = tempfile::tempdir().unwrap();
    let tags = r#""tagOwners": {"tag:web": [], "tag:db": []}"#;
    write(
        dir.path(),
        "old.hujson",
        &format!(
            r#"{{{tags}, "grants": [{{"src": ["tag:web"], "dst": ["tag:db"], "ip": ["tcp:5432"]}}, {{"src": ["alice@example.com"], "dst": ["tag:web"], "ip": ["443"]}}]}}"#
        ),
    );
    write(
        dir.path(),
        "new.hujson",
        &format!(
            r#"{{{tags}, "grants": [{{"src": ["tag:web"], "dst": ["tag:db"], "ip": ["tcp:6432"]}}]}}"#
        ),
    );
    let args = ["diff", "--format", "sarif", "old.hujson", "new.hujson"];
    let doc = sarif(dir.path(), &args, 1);
    let gained = result(&doc, "TSA140");
    assert_eq!(gained["level"], "note");
    assert!(
        gained["message"]["text"]
            .as_str()
            .unwrap()
            .contains("tag:web gains access to tag:db: tcp 6432")
    );
    assert_eq!(result(&doc, "TSA141")["level"], "note");
    let lockout = result(&doc, "TSA142");
    assert_eq!(lockout["level"], "warning");
    assert!(
        lockout["message"]["text"]
            .as_str()
            .unwrap()
            .contains("alice@example.com loses all the access")
    );
    for r in results(&doc) {
        assert_eq!(location(r)["artifactLocation"]["uri"], "new.hujson");
        assert_eq!(location(r)["region"], serde_json::json!({"startLine": 1}));
    }
    assert_eq!(
        fingerprints(&sarif(dir.path(), &args, 1)),
        fingerprints(&doc)
    );

    let same = sarif(
        dir.path(),
        &["diff", "--format", "sarif", "old.hujson", "old.hujson"],
        0,
    );
    assert!(results(&same).is_empty());
}

/// Stable, as GitHub code scanning needs it to keep one alert per problem across
/// commits: the same input gives the same fingerprints; inserting comments, blank lines
/// or an unrelated rule above the findings moves their lines and indices but not their
/// fingerprints; identical findings still get distinct ones.
#[test]
fn fingerprints_are_stable_when_unrelated_lines_move() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.hujson", FINDINGS);
    write(dir.path(), "syntax.hujson", SYNTAX);
    let args = ["check", "--format", "sarif", "bad.hujson", "syntax.hujson"];
    let before = sarif(dir.path(), &args, 1);
    assert_eq!(
        fingerprints(&sarif(dir.path(), &args, 1)),
        fingerprints(&before)
    );
    // Both allow-all rules are reported, under different fingerprints.
    let allow_all = results(&before)
        .iter()
        .filter(|r| r["ruleId"] == "TSA210")
        .count();
    assert_eq!(allow_all, 2);

    let moved = FINDINGS
        .replacen("{\n", "// Our tailnet.\n\n{\n", 1)
        .replacen(
            "\t\"acls\": [\n",
            "\t\"acls\": [\n\t\t// The web servers talk to each other.\n\t\t{\"action\": \"accept\", \"src\": [\"tag:web\"], \"dst\": [\"tag:web:443\"]},\n",
            1,
        );
    write(dir.path(), "bad.hujson", &moved);
    write(
        dir.path(),
        "syntax.hujson",
        &format!("// Broken.\n\n{SYNTAX}"),
    );
    let after = sarif(dir.path(), &args, 1);
    assert_eq!(results(&after).len(), results(&before).len(), "{after}");
    assert_eq!(fingerprints(&after), fingerprints(&before));
    let line = |doc: &Value, rule: &str| location(result(doc, rule))["region"]["startLine"].clone();
    for rule in ["TSA001", "TSA010", "TSA200", "TSA210"] {
        assert_ne!(
            line(&before, rule),
            line(&after, rule),
            "{rule} did not move"
        );
    }
    let message = |doc: &Value| result(doc, "TSA001")["message"]["text"].clone();
    assert_ne!(
        message(&before),
        message(&after),
        "the syntax error names its line"
    );

    // A different problem is a different fingerprint.
    write(
        dir.path(),
        "bad.hujson",
        &FINDINGS.replace("tag:db", "tag:dbs"),
    );
    let other = sarif(dir.path(), &args, 1);
    let print = |doc: &Value| result(doc, "TSA010")["partialFingerprints"]["tsacl/v1"].clone();
    assert_ne!(print(&other), print(&before));
}

/// Standard input has no URI: its results name it in a description, and stay valid.
#[test]
fn standard_input_is_described_not_addressed() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .args(["check", "--format", "sarif", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(FINDINGS.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_valid(&doc, "tsacl check --format sarif -");
    let artifact = &location(result(&doc, "TSA010"))["artifactLocation"];
    assert_eq!(
        artifact,
        &serde_json::json!({"description": {"text": "<stdin>"}})
    );
}
