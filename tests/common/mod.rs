//! Shared helpers for integration tests.
#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tsacl::engine::inventory::{Device, Inventory, Role, User};
use tsacl::model::Prefix;

/// The conformance data folder: `$TSACL_CONFORMANCE_DIR`, else `../shared/conformance`
/// beside the checkout. `None` (after printing why) when it is absent on a user's
/// machine; a panic when it is absent under `CI=true`, so CI can never pass by skipping.
pub fn conformance_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("TSACL_CONFORMANCE_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance"),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    let ci = std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false);
    if ci {
        panic!(
            "conformance data not found at {} (CI=true: it must be present; set TSACL_CONFORMANCE_DIR)",
            dir.display()
        );
    }
    // Written to the process's stderr itself, not through `eprintln!`, which the test
    // harness captures and shows only for a failing test: a skip must be seen.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: conformance data not found at {} (set TSACL_CONFORMANCE_DIR to run these tests)",
        dir.display()
    );
    None
}

/// The capture's topology as an inventory. The tailnet is odin@example.com: odin is its
/// owner, thor and freya are admins (shared/conformance/README.md).
pub fn inventory(topology: &Value) -> Inventory {
    let mut inv = Inventory::default();
    let mut emails = BTreeMap::new();
    for u in topology["users"].as_array().unwrap() {
        let name = u["name"].as_str().unwrap();
        let email = u["email"].as_str().unwrap();
        emails.insert(name.to_string(), email.to_string());
        inv.users.push(User {
            login: email.to_string(),
            role: if name == "odin" {
                Role::Owner
            } else {
                Role::Admin
            },
            shared: false,
        });
    }
    let prefixes = |v: &Value| -> Vec<Prefix> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|p| Prefix::parse(p.as_str().unwrap()).unwrap())
            .collect()
    };
    for (name, n) in topology["nodes"].as_object().unwrap() {
        inv.devices.push(Device {
            name: name.clone(),
            hostname: n["hostname"].as_str().unwrap_or(name).to_string(),
            addresses: [&n["ipv4"], &n["ipv6"]]
                .iter()
                .filter_map(|a| a.as_str()?.parse().ok())
                .collect(),
            user: n
                .get("user")
                .and_then(Value::as_str)
                .map(|u| emails[u].clone()),
            tags: n["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| t.as_str().unwrap().to_string())
                .collect(),
            advertised_routes: prefixes(&n["routable_ips"]),
            enabled_routes: prefixes(&n["approved_routes"]),
        });
    }
    inv
}

/// Every capture of `tailscale-captures/`, in category then file order.
pub fn captures(dir: &std::path::Path) -> Vec<Value> {
    let sorted = |d: &std::path::Path| {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    };
    sorted(&dir.join("tailscale-captures"))
        .iter()
        .flat_map(|cat| sorted(cat))
        .map(|f| serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap())
        .collect()
}

/// Copy a directory tree (a project's `policies/`, say) into `to`.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
