//! Real policy files from public repositories (`tests/data/real/`, sources and licences in
//! `tests/data/README.md`), checked as a user would: the exit code and every finding, so
//! that a lint that starts firing on a real file the control plane accepts is a decision,
//! not an accident.

use std::path::Path;
use std::process::Command;

fn check(file: &str, extra: &[&str]) -> (Option<i32>, Vec<(String, String)>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/real")
        .join(file);
    let out = Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .args(["check", "--format", "json"])
        .args(extra)
        .arg(&path)
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
                d["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (out.status.code(), found)
}

/// An inventory with only the users, each `(login, role)`, members of the tailnet.
fn users(dir: &Path, list: &[(&str, &str)]) -> String {
    let users: Vec<String> = list
        .iter()
        .map(|(login, role)| {
            format!(r#"{{"loginName": "{login}", "role": "{role}", "type": "member"}}"#)
        })
        .collect();
    let path = dir.join("inventory.json");
    std::fs::write(
        &path,
        format!(r#"{{"devices": [], "users": [{}]}}"#, users.join(", ")),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn a_personal_tailnet_whose_admin_tests_depend_on_the_owners_role() {
    let file = "michaelahern-casa-cirrus-tailscale.hujson";
    let (code, found) = check(file, &[]);
    assert_eq!(code, Some(0), "{found:#?}");
    // Two test entries, six destinations, one condition: one finding.
    let codes: Vec<&str> = found.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(codes, ["TSA102"], "{found:#?}");
    assert_eq!(
        found[0].1,
        "cannot decide 2 tests offline: each holds unless michaelahern@github is a member without the admin role"
    );
    // The owner is an admin: with the user's role known, nothing is left.
    let dir = tempfile::tempdir().unwrap();
    let inventory = users(dir.path(), &[("michaelahern@github", "owner")]);
    let (code, found) = check(file, &["--inventory", &inventory]);
    assert_eq!(code, Some(0), "{found:#?}");
    // (An inventory without devices leaves the grant's sources empty: TSA232, for it.)
    assert!(
        found.iter().all(|(c, _)| !c.starts_with("TSA1")),
        "{found:#?}"
    );
}

#[test]
fn an_owners_homelab_with_tests_of_what_the_owner_reaches() {
    let file = "jonpulsifer-infra.hujson";
    let (code, found) = check(file, &[]);
    assert_eq!(code, Some(0), "{found:#?}");
    let codes: Vec<&str> = found.iter().map(|(c, _)| c.as_str()).collect();
    // Four tests, one unknown fact: one finding.
    assert_eq!(codes, ["TSA102"], "{found:#?}");
    assert_eq!(
        found[0].1,
        "cannot decide 4 tests offline: each holds unless jonathan@pulsifer.ca is a member without the owner role"
    );
    let dir = tempfile::tempdir().unwrap();
    let inventory = users(dir.path(), &[("jonathan@pulsifer.ca", "owner")]);
    let (code, found) = check(file, &["--inventory", &inventory]);
    assert_eq!(code, Some(0), "{found:#?}");
    assert!(
        found.iter().all(|(c, _)| !c.starts_with("TSA1")),
        "{found:#?}"
    );
    // Anyone else as the owner fails the owner's tests: an error, with the roles known.
    let inventory = users(
        dir.path(),
        &[
            ("jonathan@pulsifer.ca", "admin"),
            ("other@example.com", "owner"),
        ],
    );
    let (code, found) = check(file, &["--inventory", &inventory]);
    assert_eq!(code, Some(1), "{found:#?}");
    assert!(found.iter().any(|(c, _)| c == "TSA100"), "{found:#?}");
}
