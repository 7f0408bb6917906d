//! The synthetic tailnets benches and examples run on (`tests/support/synth.rs`) are
//! valid policies of the size asked for, deterministic, and the audit's tailnet has the
//! redundancy it is meant to have, and the command tailnet is strict JSON whose inventory
//! reads back as written.

#[path = "support/synth.rs"]
mod synth;

use synth::{Shape, audit_tailnet, command_tailnet, inventory_json, policy, with_one_more_grant};
use tsacl::check::check_policy;
use tsacl::diagnostics::{SourceFile, SourceMap};
use tsacl::engine::Inventory;

#[test]
fn synthetic_policies_are_valid_and_near_the_requested_size() {
    for size in [10_000, 200_000] {
        let text = policy(Shape::of_size(size), 7);
        assert!(
            text.len() > size / 2 && text.len() < size * 2,
            "{size}: {}",
            text.len()
        );
        let mut sources = SourceMap::default();
        let id = sources.add(SourceFile::new("s", "s", text.into_bytes()));
        let checked = check_policy(&sources, id, &Default::default());
        let errors: Vec<_> = checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
    assert_eq!(
        policy(Shape::of_size(5000), 1),
        policy(Shape::of_size(5000), 1)
    );
}

#[test]
fn the_audit_tailnet_is_valid_has_the_rules_asked_for_and_some_redundancy() {
    let (text, inv) = audit_tailnet(2000, 300, 3);
    let mut sources = SourceMap::default();
    let id = sources.add(SourceFile::new("s", "s", text.clone().into_bytes()));
    let checked = check_policy(&sources, id, &Default::default());
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let policy = checked.policy.unwrap();
    let n = policy.grants.as_ref().map_or(0, Vec::len);
    assert!((300..303).contains(&n), "{n}");
    let found = tsacl::engine::redundancy::Audit::new(&policy, &inv).findings();
    assert!(found.len() > 10, "{}", found.len());
}

#[test]
fn the_command_tailnet_is_strict_json_valid_and_its_edit_adds_one_grant() {
    let (text, inv) = command_tailnet(2000, 200, 1);
    let json: serde_json::Value = serde_json::from_str(&text).expect("strict JSON");
    let grants = |v: &serde_json::Value| v["grants"].as_array().map_or(0, Vec::len);
    assert_eq!(
        grants(&json) + json["acls"].as_array().map_or(0, Vec::len),
        200
    );
    let mut sources = SourceMap::default();
    let id = sources.add(SourceFile::new("s", "s", text.clone().into_bytes()));
    let checked = check_policy(&sources, id, &Default::default());
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");

    let edited: serde_json::Value =
        serde_json::from_str(&with_one_more_grant(&text)).expect("strict JSON");
    assert_eq!(grants(&edited), grants(&json) + 1);
    // Another seed: other rules over the same inventory.
    let (other, other_inv) = command_tailnet(2000, 200, 2);
    assert_ne!(other, text);
    assert_eq!(inventory_json(&other_inv), inventory_json(&inv));

    let read = Inventory::from_json(inventory_json(&inv).as_bytes()).expect("an inventory");
    assert_eq!(read.devices.len(), inv.devices.len());
    assert_eq!(read.users.len(), inv.users.len());
    assert_eq!(inventory_json(&read), inventory_json(&inv));
}
