//! An error means the control plane would reject the file: every rule whose default
//! severity is `error` carries its evidence in the registry, and every recorded capture it
//! cites is replayed here: the real control plane rejected it, and tsacl reports the code.

mod common;

use tsacl::check::check_policy;
use tsacl::diagnostics::{SourceFile, SourceMap};
use tsacl::rules::{Evidence, RULES, Severity};
use tsacl::validate::Options;

#[test]
fn every_default_error_names_its_evidence() {
    let missing: Vec<&str> = RULES
        .iter()
        .filter(|r| r.severity == Severity::Error && r.evidence.is_none())
        .map(|r| r.id)
        .collect();
    assert!(
        missing.is_empty(),
        "default-error rules without evidence (make them warnings, or cite a capture or source): {missing:?}"
    );
    for r in RULES {
        if let Some(evidence) = r.evidence {
            assert_eq!(
                r.severity,
                Severity::Error,
                "{} has evidence but is not an error",
                r.id
            );
            let text = evidence.describe();
            assert!(text.len() > 20, "{}: evidence too thin: {text:?}", r.id);
        }
    }
}

#[test]
fn tsacl_only_opinions_are_not_errors() {
    // The issue that set the rule named TSA126: a file the control plane accepts must not
    // fail because of it. Issue 19 kept the malformed-but-plausible ones warnings, where
    // the evidence is only for the other direction (a group, a posture, a setting value).
    for id in ["TSA126", "TSA014", "TSA025", "TSA080"] {
        let rule = tsacl::rules::find(id).unwrap();
        assert_ne!(rule.severity, Severity::Error, "{id}");
    }
}

#[test]
fn every_cited_capture_is_a_rejection_tsacl_reports_with_that_code() {
    let Some(dir) = common::conformance_dir() else {
        return;
    };
    let captures = common::captures(&dir);
    let mut checked = 0;
    for rule in RULES {
        let Some(Evidence::Capture(cited)) = rule.evidence else {
            continue;
        };
        let capture = captures
            .iter()
            .find(|c| {
                format!(
                    "{}/{}",
                    c["category"].as_str().unwrap_or(""),
                    c["id"].as_str().unwrap_or("")
                ) == cited
            })
            .unwrap_or_else(|| panic!("{}: cited capture {cited} is not in {dir:?}", rule.id));
        let status = capture["response"]["status"].as_u64().unwrap();
        assert_ne!(
            status, 200,
            "{}: {cited} was accepted by the control plane",
            rule.id
        );
        let mut sources = SourceMap::default();
        let policy = capture["policy"].as_str().unwrap();
        let id = sources.add(SourceFile::new("p", "p", policy.as_bytes().to_vec()));
        let options = Options {
            tailnet_domains: Some(vec!["example.com".into()]),
            inventory: Some(common::inventory(&capture["topology"])),
        };
        let diags = check_policy(&sources, id, &options).diagnostics;
        assert!(
            diags.iter().any(|d| d.code == rule.code && d.is_error()),
            "{}: tsacl does not report it on {cited} (server: {}); tsacl: {:?}",
            rule.id,
            capture["response"]["body"]["message"],
            diags
                .iter()
                .map(|d| format!("{} {}", d.code.id(), d.message))
                .collect::<Vec<_>>()
        );
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} captures cited");
}
