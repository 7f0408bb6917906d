//! `explain` and `graph` in the intents' words: Funnel's public path (the internet → the
//! node that terminates Funnel → the service), and devices and services named as the
//! intents name them, with their tag.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tsacl(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "200")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn explain_of_a_funnel_service_shows_its_public_path() {
    let o = tsacl(&repo(), &["explain", "worker"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains(
            "the internet -> Funnel on panda (tag:panda) -> worker (tag:worker) on tcp:3111"
        ),
        "{out}"
    );
    assert!(out.contains("the internet (Funnel)"), "{out}");

    let o = tsacl(&repo(), &["explain", "worker", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = &v["funnel"][0];
    assert_eq!(f["from"], "the internet");
    assert_eq!(f["through"], "panda (tag:panda)");
    assert_eq!(f["through_kind"], "device");
    assert_eq!(f["funnel_attribute"], true);
    assert_eq!(
        f["path"],
        serde_json::json!(["the internet", "panda (tag:panda)", "worker (tag:worker)"])
    );
    // A service without Funnel has none.
    let o = tsacl(&repo(), &["explain", "redis", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["funnel"], serde_json::json!([]));
    // No public path, no Funnel row; only the transitive line may say that the internet
    // could become panda (its source) given a weakness in what panda serves through Funnel.
    let text = stdout(&tsacl(&repo(), &["explain", "redis"]));
    assert!(
        !text.contains("public:") && !text.contains("(Funnel)"),
        "{text}"
    );
    let mentions: Vec<&str> = text.lines().filter(|l| l.contains("internet")).collect();
    assert!(
        mentions.len() == 1
            && mentions[0].contains("may (given a weakness or credential): the internet"),
        "{text}"
    );
}

#[test]
fn the_device_that_terminates_funnel_and_the_graph_include_the_internet() {
    let o = tsacl(&repo(), &["explain", "panda", "--outbound"]);
    let out = stdout(&o);
    assert!(out.contains("the internet (Funnel)"), "{out}");
    assert!(out.contains("-> worker (tag:worker)"), "{out}");
    let o = tsacl(&repo(), &["graph", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let edges = v["edges"].as_array().unwrap();
    assert!(
        edges
            .iter()
            .any(|e| e["from"] == "the internet" && e["to"] == "panda (tag:panda)"),
        "{v}"
    );
    assert!(
        edges
            .iter()
            .any(|e| e["from"] == "panda (tag:panda)" && e["to"] == "worker (tag:worker)"),
        "{v}"
    );
}

#[test]
fn a_plain_policy_graph_shows_funnel_by_its_attribute() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.hujson"),
        r#"{"tagOwners": {"tag:web": []}, "grants": [{"src": ["autogroup:member"], "dst": ["tag:web"], "ip": ["443"]}],
        "nodeAttrs": [{"target": ["tag:web"], "attr": ["funnel"]}]}"#,
    )
    .unwrap();
    let o = tsacl(dir.path(), &["graph", "p.hujson", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["from"] == "the internet" && e["to"] == "tag:web"),
        "{v}"
    );
}

#[test]
fn explain_names_intents_services_and_devices_with_their_tag() {
    let o = tsacl(&repo(), &["explain", "redis"]);
    let out = stdout(&o);
    assert!(
        out.contains("service redis (tag:redis) reachable from:"),
        "{out}"
    );
    assert!(out.contains("  panda (tag:panda) "), "{out}");
    // With an inventory that has a device called redis (the operator's proxy), `redis` is
    // still the service.
    let o = tsacl(
        &repo(),
        &["explain", "redis", "--inventory", "policies/inventory.json"],
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("intended for panda"), "{out}");
    assert!(out.contains("service redis (tag:redis)"), "{out}");
    assert!(!out.contains("redis (device)"), "{out}");
    let o = tsacl(
        &repo(),
        &["explain", "panda", "--outbound", "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["destination_name"] == "redis (tag:redis)"),
        "{v}"
    );
}

/// An intents device known by its address is, with an inventory, the device holding that
/// address: rules to its tag reach it (an answer of "denied" or "cannot reach it" there
/// would be false); without one, whether they do is undecided.
#[test]
fn a_device_known_by_its_address_is_the_inventory_device_holding_it() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(
        policies.join("tailnet.json5"),
        r#"{
  output: "policy.hujson",
  base: "base.hujson",
  devices: {
    "alex-laptop": { user: "alex@example.com" },
    backup: { tags: ["tag:backup"] },
    printer: { ip: "100.64.1.40" },
  },
  services: {
    nas: { ports: [445], from: ["backup", "printer"] },
  },
}"#,
    )
    .unwrap();
    std::fs::write(
        policies.join("base.hujson"),
        r#"{
	"tagOwners": {"tag:printer": ["alex@example.com"]},
	"grants": [{"src": ["alex@example.com"], "dst": ["tag:printer"], "ip": ["tcp:631"]}],
}"#,
    )
    .unwrap();
    std::fs::write(
        policies.join("inventory.json"),
        r#"{"devices": [
  {"name": "printer-1.example.ts.net", "hostname": "printer-1", "addresses": ["100.64.1.40"], "tags": ["tag:printer"]}
], "users": [{"loginName": "alex@example.com", "role": "member"}]}"#,
    )
    .unwrap();
    let o = tsacl(dir.path(), &["compile"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let inventory = ["--inventory", "policies/inventory.json"];
    let why = [
        "explain",
        "printer",
        "--from",
        "alex-laptop",
        "--port",
        "631",
    ];
    let o = tsacl(dir.path(), &[&why[..], &inventory[..]].concat());
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("alex-laptop -> printer tcp/631: ALLOWED"),
        "{out}"
    );
    assert!(
        out.contains("device printer: the address 100.64.1.40, held by a device of tag:printer"),
        "{out}"
    );
    let out = stdout(&tsacl(
        dir.path(),
        &[&["explain", "printer"][..], &inventory[..]].concat(),
    ));
    assert!(
        out.contains("alex@example.com") && out.contains("tcp 631"),
        "{out}"
    );
    let cannot = out
        .lines()
        .find(|l| l.contains("cannot reach it"))
        .unwrap_or("");
    assert!(!cannot.contains("alex"), "{out}");
    // Offline: undecided, not denied.
    let o = tsacl(dir.path(), &why);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("UNDECIDED"), "{out}");
}
