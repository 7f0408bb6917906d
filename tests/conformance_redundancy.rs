//! The redundancy audit on every accepted capture in `../shared/conformance`: removing
//! the rules it reports (rules covered by others, rules that allow nothing) leaves every
//! node's packet filter the same set of flows, in both modes: against the capture's own
//! devices (inventory) and from the policy alone (structural, then judged on the
//! capture's devices). The filters are the ones `tests/conformance_filters.rs` checks
//! against the control plane.

mod common;

use std::collections::BTreeSet;
use tsacl::engine::filter::{FilterSets, all_filters};
use tsacl::engine::redundancy::{Audit, Kind};
use tsacl::engine::resolve::{Resolver, device_space};
use tsacl::engine::rules::{Origin, compile};
use tsacl::engine::structural::representative;

#[test]
fn removing_what_the_audit_reports_changes_no_node_filter() {
    let Some(dir) = common::conformance_dir() else {
        return;
    };
    let (mut cases, mut reported) = (0, 0);
    let mut failures = Vec::new();
    for capture in common::captures(&dir) {
        if capture["response"]["status"] != 200 {
            continue;
        }
        let id = capture["id"].as_str().unwrap().to_string();
        let doc =
            tsacl::syntax::hujson::parse(capture["policy"].as_str().unwrap().as_bytes()).unwrap();
        let policy = tsacl::model::lower(doc.root, Default::default(), &mut Vec::new());
        let inv = tsacl::engine::inventory::with_auto_approvals(
            &common::inventory(&capture["topology"]),
            &policy,
        );
        cases += 1;
        let resolver = Resolver::new(&policy, &inv);
        let rules = compile(&resolver);
        let before = all_filters(&resolver, &rules, &inv);
        for (mode, findings) in [
            ("inventory", Audit::new(&policy, &inv).findings()),
            (
                "structural",
                Audit::new(&policy, &representative(&policy)).findings(),
            ),
        ] {
            let gone: BTreeSet<Origin> = findings
                .iter()
                .filter(|f| {
                    matches!(
                        f.kind,
                        Kind::Redundant { .. } | Kind::NoSources | Kind::NoDestinations
                    )
                })
                .map(|f| f.origin)
                .collect();
            if gone.is_empty() {
                continue;
            }
            reported += gone.len();
            let kept: Vec<_> = rules
                .iter()
                .filter(|r| !gone.contains(&r.origin))
                .cloned()
                .collect();
            let after = all_filters(&resolver, &kept, &inv);
            for (node, filter) in &before {
                let empty = Vec::new();
                let other = after.get(node).unwrap_or(&empty);
                // As enforced: filters send destination blocks whole, beyond what the
                // device receives.
                let device = inv.devices.iter().find(|d| &d.hostname == node).unwrap();
                let space = device_space(device);
                let enforced = |f: &[_]| FilterSets::from_rules(f).restrict(&space);
                if let Err(e) = enforced(filter).compare(&enforced(other)) {
                    failures.push(format!("{id} ({mode}, removing {gone:?}) {node}: {e}"));
                    break;
                }
            }
        }
    }
    println!("{cases} accepted captures, {reported} rules reported and removed");
    assert!(cases > 500, "only {cases} accepted captures were read");
    assert!(reported > 0, "no capture had anything to report");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
