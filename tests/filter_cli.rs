//! `tsacl filter` end to end: `--node NAME` prints exactly that device's entry of the
//! every-device output (JSON and text), devices that share a hostname stay apart, and a
//! reader that stops early ends the output quietly.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn tsacl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tsacl"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `filter` for every device, then `filter --node` for each: each device's lines must be
/// exactly its lines in the every-device output (same bytes, same place in the order).
fn every_node_alone_equals_its_entry(policy: &str, inventory: &str) -> usize {
    let all = tsacl(&["filter", policy, "--inventory", inventory]);
    assert_eq!(all.status.code(), Some(0), "{}", stderr(&all));
    let all_json = stdout(&all);
    let parsed: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&all_json).unwrap();
    let all_text = tsacl(&[
        "filter",
        policy,
        "--inventory",
        inventory,
        "--format",
        "text",
    ]);
    assert_eq!(all_text.status.code(), Some(0), "{}", stderr(&all_text));
    let mut json_parts = Vec::new();
    let mut text_parts = Vec::new();
    for name in parsed.keys() {
        let one = tsacl(&["filter", policy, "--inventory", inventory, "--node", name]);
        assert_eq!(one.status.code(), Some(0), "{name}: {}", stderr(&one));
        let one = stdout(&one);
        let entry = one
            .strip_prefix("{\n")
            .and_then(|s| s.strip_suffix("\n}\n"))
            .unwrap_or_else(|| panic!("{name}: not one object: {one}"));
        json_parts.push(entry.to_string());
        let one_text = tsacl(&[
            "filter",
            policy,
            "--inventory",
            inventory,
            "--node",
            name,
            "--format",
            "text",
        ]);
        assert_eq!(one_text.status.code(), Some(0), "{}", stderr(&one_text));
        text_parts.push(stdout(&one_text));
    }
    assert_eq!(all_json, format!("{{\n{}\n}}\n", json_parts.join(",\n")));
    assert_eq!(stdout(&all_text), text_parts.concat());
    parsed.len()
}

#[test]
fn each_node_alone_is_its_entry_in_the_every_device_output() {
    let nodes =
        every_node_alone_equals_its_entry("policies/policy.hujson", "policies/inventory.json");
    assert_eq!(nodes, 12);
}

/// Devices of three users and three tags, with a subnet router, an exit node, SSH rules
/// and node attributes: every part of a device's answer is exercised.
fn write_tailnet(dir: &Path, devices: usize) -> (String, String) {
    let policy = r#"{
        "groups": {"group:dev": ["ann@example.com", "bob@example.com"]},
        "tagOwners": {"tag:web": ["group:dev"], "tag:db": ["group:dev"], "tag:router": ["group:dev"]},
        "autoApprovers": {"routes": {"10.1.0.0/16": ["tag:router"]}, "exitNode": ["tag:router"]},
        "grants": [
            {"src": ["group:dev"], "dst": ["tag:web"], "ip": ["tcp:443"]},
            {"src": ["autogroup:member"], "dst": ["autogroup:self"], "ip": ["*"]},
            {"src": ["tag:web"], "dst": ["tag:db"], "ip": ["tcp:5432"]},
            {"src": ["ann@example.com"], "dst": ["10.1.0.0/16"], "ip": ["tcp:22"]},
            {"src": ["group:dev"], "dst": ["tag:db"], "app": {"tailscale.com/cap/drive": [{"shares": ["*"]}]}}
        ],
        "ssh": [
            {"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self"], "users": ["autogroup:nonroot", "root"]},
            {"action": "check", "src": ["group:dev"], "dst": ["tag:web"], "users": ["root"]}
        ],
        "nodeAttrs": [{"target": ["tag:web"], "attr": ["funnel"]}]
    }"#;
    let users = ["ann@example.com", "bob@example.com", "cy@example.com"];
    let tags = ["tag:web", "tag:db"];
    let mut list = Vec::new();
    for i in 0..devices {
        let n = i + 1;
        let owner = if i % 3 == 0 {
            format!(r#""tags": [{:?}]"#, tags[i % 2])
        } else {
            format!(r#""user": {:?}, "tags": []"#, users[(i / 3) % 3])
        };
        let routes = match i {
            5 => r#", "tags": ["tag:router"], "advertisedRoutes": ["10.1.0.0/16"]"#,
            8 => r#", "tags": ["tag:router"], "advertisedRoutes": ["0.0.0.0/0", "::/0"]"#,
            _ => "",
        };
        let owner = if routes.is_empty() {
            owner
        } else {
            r#""user": "ann@example.com""#.to_string()
        };
        list.push(format!(
            r#"{{"name": "d{i}.example.ts.net", "hostname": "d{i}", "addresses": ["100.64.{}.{}", "fd7a:115c:a1e0::{n:x}"], {owner}{routes}}}"#,
            n / 250,
            n % 250 + 1
        ));
    }
    let users: Vec<String> = users
        .iter()
        .map(|u| format!(r#"{{"loginName": {u:?}, "role": "member"}}"#))
        .collect();
    let inventory = format!(
        r#"{{"devices": [{}], "users": [{}]}}"#,
        list.join(",\n"),
        users.join(", ")
    );
    let policy_path = dir.join("policy.hujson");
    let inventory_path = dir.join("inventory.json");
    std::fs::write(&policy_path, policy).unwrap();
    std::fs::write(&inventory_path, inventory).unwrap();
    (
        policy_path.to_str().unwrap().to_string(),
        inventory_path.to_str().unwrap().to_string(),
    )
}

#[test]
fn each_node_alone_is_its_entry_with_routers_ssh_and_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let (policy, inventory) = write_tailnet(dir.path(), 24);
    let all = tsacl(&["filter", &policy, "--inventory", &inventory]);
    let v: serde_json::Value = serde_json::from_slice(&all.stdout).unwrap();
    // The parts this tailnet is meant to exercise are there.
    assert!(
        !v["d5"]["packet_filter_rules"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(!v["d1"]["ssh_rules"].as_array().unwrap().is_empty());
    assert!(v["d0"]["cap_map"].get("funnel").is_some(), "{}", v["d0"]);
    assert!(
        v["d3"]["packet_filter_rules"]
            .to_string()
            .contains("CapGrant")
    );
    assert_eq!(every_node_alone_equals_its_entry(&policy, &inventory), 24);
}

#[test]
fn devices_sharing_a_hostname_are_named_by_their_full_names() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory.json");
    std::fs::write(
        &inventory,
        r#"{"devices": [
            {"name": "laptop.example.ts.net", "hostname": "laptop", "addresses": ["100.64.0.1"], "user": "ann@example.com"},
            {"name": "laptop-1.example.ts.net", "hostname": "laptop", "addresses": ["100.64.0.2"], "user": "bob@example.com"},
            {"name": "server.example.ts.net", "hostname": "server", "addresses": ["100.64.0.3"], "tags": ["tag:server"]}
        ]}"#,
    )
    .unwrap();
    let policy = dir.path().join("policy.hujson");
    std::fs::write(
        &policy,
        r#"{"tagOwners": {"tag:server": []},
            "grants": [{"src": ["ann@example.com"], "dst": ["tag:server"], "ip": ["*"]}]}"#,
    )
    .unwrap();
    let (policy, inventory) = (policy.to_str().unwrap(), inventory.to_str().unwrap());
    let all = tsacl(&["filter", policy, "--inventory", inventory]);
    assert_eq!(all.status.code(), Some(0), "{}", stderr(&all));
    let v: serde_json::Value = serde_json::from_slice(&all.stdout).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["laptop-1.example.ts.net", "laptop.example.ts.net", "server"]
    );
    assert_eq!(
        v["server"]["peers"],
        serde_json::json!(["laptop.example.ts.net"])
    );
    assert_eq!(v["laptop-1.example.ts.net"]["peers"], serde_json::json!([]));
    let ambiguous = tsacl(&[
        "filter",
        policy,
        "--inventory",
        inventory,
        "--node",
        "laptop",
    ]);
    assert_eq!(ambiguous.status.code(), Some(2));
    assert!(
        stderr(&ambiguous).contains(
            "2 devices are named \"laptop\" (laptop.example.ts.net, laptop-1.example.ts.net)"
        ),
        "{}",
        stderr(&ambiguous)
    );
    let one = tsacl(&[
        "filter",
        policy,
        "--inventory",
        inventory,
        "--node",
        "laptop-1.example.ts.net",
    ]);
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));
    let v: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(v["laptop-1.example.ts.net"]["peers"], serde_json::json!([]));
    assert_eq!(every_node_alone_equals_its_entry(policy, inventory), 3);
}

#[test]
fn a_reader_that_stops_early_ends_the_output_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (policy, inventory) = write_tailnet(dir.path(), 600);
    for format in ["json", "text"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tsacl"))
            .args([
                "filter",
                &policy,
                "--inventory",
                &inventory,
                "--format",
                format,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 100];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        // The pipe is closed here, long before the output ends.
        let out = child.wait_with_output().unwrap();
        assert!(out.stderr.is_empty(), "{format}: {}", stderr(&out));
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            let quiet = out.status.code() == Some(0) || out.status.signal() == Some(13);
            assert!(quiet, "{format}: {:?}", out.status);
        }
    }
}

/// `filter --inventory` loads a policy only if `check --inventory` would: the policy's
/// tests run against the same devices. Here a test passes for some tailnet (the address
/// may be a member's device), so the file checks clean without an inventory, but the
/// given inventory has that address on a tagged device, which no rule lets in.
#[test]
fn the_policy_tests_run_against_the_inventory_the_filters_are_for() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.hujson");
    let inventory = dir.path().join("inventory.json");
    std::fs::write(
        &policy,
        r#"{
        "tagOwners": {"tag:web": ["autogroup:admin"], "tag:db": ["autogroup:admin"]},
        "grants": [{"src": ["autogroup:member"], "dst": ["tag:web"], "ip": ["tcp:443"]}],
        "tests": [{"src": "100.64.0.9", "proto": "tcp", "accept": ["tag:web:443"]}]
    }"#,
    )
    .unwrap();
    std::fs::write(
        &inventory,
        r#"{"devices": [
            {"name": "web.example.ts.net", "hostname": "web", "addresses": ["100.64.0.1"], "tags": ["tag:web"]},
            {"name": "db.example.ts.net", "hostname": "db", "addresses": ["100.64.0.9"], "tags": ["tag:db"]}
        ], "users": []}"#,
    )
    .unwrap();
    let (policy, inventory) = (policy.to_str().unwrap(), inventory.to_str().unwrap());
    let offline = tsacl(&["check", policy]);
    assert_eq!(offline.status.code(), Some(0), "{}", stderr(&offline));
    let checked = tsacl(&["check", policy, "--inventory", inventory]);
    assert_eq!(checked.status.code(), Some(1), "{}", stderr(&checked));
    assert!(stderr(&checked).contains("TSA100"), "{}", stderr(&checked));
    for node in [None, Some("web")] {
        let mut args = vec!["filter", policy, "--inventory", inventory];
        args.extend(node.iter().flat_map(|n| ["--node", n]));
        let filtered = tsacl(&args);
        assert_eq!(filtered.status.code(), Some(1), "{}", stderr(&filtered));
        assert!(stdout(&filtered).is_empty(), "{}", stdout(&filtered));
        let err = stderr(&filtered);
        assert!(
            err.contains("TSA100") && err.contains("100.64.0.9"),
            "{err}"
        );
        assert!(err.contains("the control plane would not load it"), "{err}");
    }
}
