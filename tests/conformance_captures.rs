//! Conformance with the real control plane: `tsacl check` must give the recorded verdict
//! for every capture in `../shared/conformance/tailscale-captures` (see its README), and
//! for a rejection, name the same problem as the server's message.
//!
//! The only exceptions are listed in `tests/conformance/exceptions.rs`, each with its reason.

mod common;
#[path = "conformance/exceptions.rs"]
#[allow(dead_code)]
mod exceptions;

use std::collections::BTreeMap;
use std::path::Path;
use tsacl::check::check_policy;
use tsacl::diagnostics::{Diagnostic, SourceFile, SourceMap};
use tsacl::rules::Code;
use tsacl::validate::Options;

struct Capture {
    topology: serde_json::Value,
    id: String,
    category: String,
    policy: String,
    status: u64,
    message: String,
}

fn load(dir: &Path) -> Vec<Capture> {
    common::captures(dir)
        .into_iter()
        .map(|v| Capture {
            topology: v["topology"].clone(),
            id: v["id"].as_str().unwrap().to_string(),
            category: v["category"].as_str().unwrap().to_string(),
            policy: v["policy"].as_str().unwrap().to_string(),
            status: v["response"]["status"].as_u64().unwrap(),
            message: v["response"]["body"]["message"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        })
        .collect()
}

/// What the server knew: the tailnet is odin@example.com (shared/conformance/README.md),
/// and its devices are the capture's topology (tests run against them).
fn options(topology: &serde_json::Value) -> Options {
    Options {
        tailnet_domains: Some(vec!["example.com".into()]),
        inventory: Some(common::inventory(topology)),
    }
}

fn check(policy: &str, topology: &serde_json::Value) -> Vec<Diagnostic> {
    let mut sources = SourceMap::default();
    let id = sources.add(SourceFile::new(
        "policy.hujson",
        "policy.hujson",
        policy.as_bytes().to_vec(),
    ));
    check_policy(&sources, id, &options(topology)).diagnostics
}

/// Does our answer name the same problem as the server's?
fn agrees(capture: &Capture, diags: &[Diagnostic]) -> bool {
    let errors: Vec<&Diagnostic> = diags.iter().filter(|d| d.is_error()).collect();
    match capture.status {
        200 => errors.is_empty(),
        500 if capture.message == "internal server error" => {
            errors.iter().any(|d| d.code == Code::NodeAttrTarget)
        }
        _ if capture.message == "test(s) failed" => errors.iter().any(|d| {
            matches!(d.code, Code::InvalidTest | Code::InvalidSshTest)
                || d.code.id().starts_with("TSA1")
        }),
        _ => errors.iter().any(|d| d.message.contains(&capture.message)),
    }
}

#[test]
fn verdicts_match_the_control_plane() {
    let Some(dir) = common::conformance_dir() else {
        return;
    };
    let captures = load(&dir);
    assert!(
        captures.len() >= 658,
        "expected at least 658 captures, found {}",
        captures.len()
    );
    let mut per_category: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut stale = Vec::new();
    let mut offline_false_rejections = Vec::new();
    let mut missed_without_domains = Vec::new();
    for c in &captures {
        let diags = check(&c.policy, &c.topology);
        // With nothing but the file (no tailnet domains, no devices), a rejection tsacl
        // does not find must be one only the tailnet's domains or devices decide
        // (`exceptions::NEED_THE_TAILNET`).
        let mut sources = SourceMap::default();
        let id = sources.add(SourceFile::new("p", "p", c.policy.as_bytes().to_vec()));
        let file_only = check_policy(&sources, id, &Options::default()).diagnostics;
        if c.status != 200 && !agrees(c, &file_only) {
            missed_without_domains.push(c.id.clone());
        } else if c.status == 200 && file_only.iter().any(Diagnostic::is_error) {
            offline_false_rejections.push(format!("{} (no tailnet domains)", c.id));
        }
        if c.status == 200 {
            // Offline, without the tailnet's devices, an accepted policy must not be
            // rejected either (what cannot be decided is a warning).
            let mut sources = SourceMap::default();
            let id = sources.add(SourceFile::new("p", "p", c.policy.as_bytes().to_vec()));
            let offline = Options {
                tailnet_domains: Some(vec!["example.com".into()]),
                inventory: None,
            };
            let errors: Vec<String> = check_policy(&sources, id, &offline)
                .diagnostics
                .into_iter()
                .filter(|d| d.is_error())
                .map(|d| d.message)
                .collect();
            if !errors.is_empty() {
                offline_false_rejections.push(format!("{}: {errors:?}", c.id));
            }
        }
        let ok = agrees(c, &diags);
        let excepted = exceptions::reason(&c.id);
        let entry = per_category.entry(&c.category).or_default();
        entry.2 += 1;
        match (ok, excepted) {
            (true, None) => entry.0 += 1,
            (true, Some(_)) => stale.push(c.id.clone()),
            (false, Some(_)) => entry.1 += 1,
            (false, None) => {
                let ours: Vec<String> = diags
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| format!("{} {}", d.code.id(), d.message))
                    .collect();
                failures.push(format!(
                    "{} (status {}, server: {:?}); tsacl: {:?}",
                    c.id, c.status, c.message, ours
                ));
            }
        }
    }
    let mut line = String::from("capture conformance:");
    for (cat, (agree, excepted, total)) in &per_category {
        line.push_str(&format!(" {cat} {agree}/{total}"));
        if *excepted > 0 {
            line.push_str(&format!(" (+{excepted} listed)"));
        }
        line.push(',');
    }
    line.pop();
    println!("{line}");
    assert!(
        stale.is_empty(),
        "listed as exceptions but now agree (remove them from the list): {stale:?}"
    );
    assert!(
        failures.is_empty(),
        "{} captures disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
    missed_without_domains.sort();
    let listed: Vec<&str> = exceptions::NEED_THE_TAILNET
        .iter()
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(
        missed_without_domains, listed,
        "rejections tsacl misses with the file alone"
    );
    assert!(
        offline_false_rejections.is_empty(),
        "{} accepted captures are rejected offline (what cannot be decided must be a warning):\n{}",
        offline_false_rejections.len(),
        offline_false_rejections.join("\n")
    );
}

#[test]
fn every_listed_exception_names_a_real_capture() {
    let Some(dir) = common::conformance_dir() else {
        return;
    };
    let ids: std::collections::HashSet<String> = load(&dir).into_iter().map(|c| c.id).collect();
    for (id, _) in exceptions::all() {
        assert!(ids.contains(*id), "exception {id} names no capture");
    }
}
