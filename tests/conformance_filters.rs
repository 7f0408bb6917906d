//! Per-device filters against the control plane: for every accepted capture in
//! `../shared/conformance/tailscale-captures`, each node's packet filter must be exactly
//! the recorded one as `tsacl filter` writes it (the same rules in the same order, the
//! same `SrcIPs`, `DstPorts`, `IPProto` and `CapGrant`), and accept exactly the tuples and
//! grant exactly the capabilities of the recorded one (compared as sets, as enforced);
//! and each node must see the same peers.

mod common;
#[path = "conformance/exceptions.rs"]
#[allow(dead_code)]
mod exceptions;

use serde_json::Value;
use std::collections::BTreeMap;
use tsacl::engine::filter::{FilterSets, Filters, WireFilter};
use tsacl::engine::resolve::{Resolver, device_space};
use tsacl::engine::rules::compile;

#[derive(Default)]
struct Tally {
    cases: usize,
    filters_ok: usize,
    exact_ok: usize,
    exact_listed: usize,
    peers_ok: usize,
    ssh_ok: usize,
    attrs_ok: usize,
    listed: usize,
}

#[test]
fn device_filters_match_the_control_plane() {
    let Some(dir) = common::conformance_dir() else {
        return;
    };
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut filter_failures = Vec::new();
    let mut exact_failures = Vec::new();
    let mut ssh_exact_failures = Vec::new();
    let mut ssh_exact = 0;
    let mut peer_failures = Vec::new();
    let mut ssh_failures = Vec::new();
    let mut attr_failures = Vec::new();
    for capture in common::captures(&dir) {
        if capture["response"]["status"] != 200 {
            continue;
        }
        let id = capture["id"].as_str().unwrap().to_string();
        let category = capture["category"].as_str().unwrap().to_string();
        let doc =
            tsacl::syntax::hujson::parse(capture["policy"].as_str().unwrap().as_bytes()).unwrap();
        let mut diags = Vec::new();
        let policy = tsacl::model::lower(doc.root, Default::default(), &mut diags);
        let inv = tsacl::engine::inventory::with_auto_approvals(
            &common::inventory(&capture["topology"]),
            &policy,
        );
        let resolver = Resolver::new(&policy, &inv);
        let rules = compile(&resolver);
        // One device at a time, as `tsacl filter` computes them.
        let filters = Filters::new(&resolver, &rules);
        let mut ours = BTreeMap::new();
        let mut our_peers = BTreeMap::new();
        for (i, device) in inv.devices.iter().enumerate() {
            let filter = filters.filter(i);
            let mut peers: Vec<String> = filters
                .peers(i, &filter)
                .into_iter()
                .map(|j| inv.devices[j].hostname.clone())
                .collect();
            peers.sort();
            ours.insert(device.hostname.clone(), filter);
            our_peers.insert(device.hostname.clone(), peers);
        }
        let tally = tallies.entry(category).or_default();
        tally.cases += 1;
        let wire = WireFilter::default();
        let mut exact_ok = true;
        let mut ssh_exact_ok = true;
        let mut ssh_order_differs = false;
        let mut filters_ok = true;
        let mut peers_ok = true;
        let mut ssh_ok = true;
        let mut attrs_ok = true;
        let universe = tsacl::engine::attrs::policy_attributes(&resolver);
        for (node, recorded) in capture["nodes"].as_object().unwrap() {
            let device = inv.devices.iter().find(|d| &d.hostname == node).unwrap();
            // As sent: the written filter, compared as JSON (arrays in order).
            let written = serde_json::to_value(wire.of(&ours[node])).unwrap();
            let sent = match &recorded["packet_filter_rules"] {
                Value::Null => Value::Array(Vec::new()),
                rules => rules.clone(),
            };
            if written != sent {
                if exact_ok {
                    exact_failures.push(format!(
                        "{id} {node}: ours {}\n    theirs {}",
                        shorten(&written),
                        shorten(&sent)
                    ));
                }
                exact_ok = false;
            }
            let space = device_space(device);
            let theirs = FilterSets::from_json(&recorded["packet_filter_rules"])
                .unwrap()
                .restrict(&space);
            let mine = FilterSets::from_rules(&ours[node]).restrict(&space);
            if let Err(e) = mine.compare(&theirs) {
                if filters_ok {
                    filter_failures.push(format!("{id} {node}: {e}"));
                }
                filters_ok = false;
            }
            let sent_ssh = match &recorded["ssh_rules"] {
                Value::Null => Value::Array(Vec::new()),
                rules => rules.clone(),
            };
            let written_ssh = tsacl::engine::ssh::to_json(&tsacl::engine::ssh::device_ssh_rules(
                &resolver, device,
            ));
            if written_ssh != sent_ssh {
                let listed = exceptions::ssh_order_exception(&id).is_some();
                if !listed || principals_sorted(&written_ssh) != principals_sorted(&sent_ssh) {
                    if ssh_exact_ok {
                        ssh_exact_failures.push(format!(
                            "{id} {node}: ours {}\n    theirs {}",
                            shorten(&written_ssh),
                            shorten(&sent_ssh)
                        ));
                    }
                    ssh_exact_ok = false;
                }
                ssh_order_differs = true;
            }
            let theirs = tsacl::engine::ssh::tuples(&sent_ssh).unwrap();
            let mine = tsacl::engine::ssh::tuples(&written_ssh).unwrap();
            if theirs != mine {
                if ssh_ok {
                    let only_ours: Vec<_> = mine.difference(&theirs).take(4).collect();
                    let only_theirs: Vec<_> = theirs.difference(&mine).take(4).collect();
                    ssh_failures.push(format!(
                        "{id} {node}: only ours {only_ours:?}; only theirs {only_theirs:?}"
                    ));
                }
                ssh_ok = false;
            }
            if let Some(cap_map) = recorded.get("cap_map").and_then(Value::as_object) {
                let theirs: std::collections::BTreeSet<String> = cap_map
                    .keys()
                    .filter(|k| universe.contains(*k))
                    .cloned()
                    .collect();
                let mine = tsacl::engine::attrs::device_attributes(&resolver, device);
                if theirs != mine {
                    if attrs_ok {
                        attr_failures
                            .push(format!("{id} {node}: ours {mine:?}, theirs {theirs:?}"));
                    }
                    attrs_ok = false;
                }
            }
            let mut recorded_peers: Vec<String> = recorded["peers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    p.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| p["name"].as_str().unwrap().to_string())
                })
                .collect();
            recorded_peers.sort();
            if recorded_peers != our_peers[node] {
                if peers_ok {
                    peer_failures.push(format!(
                        "{id} {node}: ours {:?}, theirs {recorded_peers:?}",
                        our_peers[node]
                    ));
                }
                peers_ok = false;
            }
        }
        assert!(
            exceptions::ssh_order_exception(&id).is_none() || ssh_order_differs,
            "{id} is listed for the order of its SSH principals but now agrees: remove it"
        );
        ssh_exact += usize::from(!ssh_order_differs);
        if let Some(_reason) = exceptions::exact_filter_exception(&id) {
            assert!(
                !exact_ok,
                "{id} is listed as an exception to the exact filters but now agrees: remove it"
            );
            assert!(
                filters_ok,
                "{id} is listed as an exception to the exact filters only, but its filters \
                 differ as enforced too"
            );
            exact_failures.retain(|f: &String| !f.starts_with(&format!("{id} ")));
            tally.exact_listed += 1;
            exact_ok = true;
        }
        if let Some(_reason) = exceptions::filter_exception(&id) {
            assert!(
                !(filters_ok && peers_ok && ssh_ok && attrs_ok),
                "{id} is listed as an exception but now agrees: remove it from the list"
            );
            tally.listed += 1;
            filter_failures.retain(|f: &String| !f.starts_with(&format!("{id} ")));
            peer_failures.retain(|f: &String| !f.starts_with(&format!("{id} ")));
            ssh_failures.retain(|f: &String| !f.starts_with(&format!("{id} ")));
            attr_failures.retain(|f: &String| !f.starts_with(&format!("{id} ")));
            exact_failures.retain(|f: &String| !f.starts_with(&format!("{id} ")));
            continue;
        }
        tally.filters_ok += filters_ok as usize;
        tally.exact_ok += exact_ok as usize;
        tally.peers_ok += peers_ok as usize;
        tally.ssh_ok += ssh_ok as usize;
        tally.attrs_ok += attrs_ok as usize;
    }
    let mut line = String::from("filter conformance (cases with every node equal):");
    for (cat, t) in &tallies {
        line.push_str(&format!(
            " {cat} filters as sent {}/{} as enforced {}/{} peers {}/{} ssh {}/{} attrs {}/{};",
            t.exact_ok - t.exact_listed,
            t.cases,
            t.filters_ok,
            t.cases,
            t.peers_ok,
            t.cases,
            t.ssh_ok,
            t.cases,
            t.attrs_ok,
            t.cases
        ));
        if t.listed + t.exact_listed > 0 {
            line.push_str(&format!(
                " ({} listed exception, {} listed as sent only);",
                t.listed, t.exact_listed
            ));
        }
    }
    println!("{line}");
    println!(
        "{} exact filter failures, {} filter failures, {} peer failures, {} ssh failures",
        exact_failures.len(),
        filter_failures.len(),
        peer_failures.len(),
        ssh_failures.len()
    );
    for f in attr_failures.iter().take(40) {
        println!("ATTRS {f}");
    }
    for f in ssh_failures.iter().take(40) {
        println!("SSH {f}");
    }
    for f in filter_failures.iter().take(40) {
        println!("FILTER {f}");
    }
    for f in exact_failures.iter().take(40) {
        println!("AS SENT {f}");
    }
    for f in ssh_exact_failures.iter().take(40) {
        println!("SSH AS SENT {f}");
    }
    println!(
        "SSH rules as sent: {ssh_exact} captures exactly equal, {} listed for the order \
         of their principals",
        exceptions::SSH_ORDER_EXCEPTIONS.len()
    );
    for f in peer_failures.iter().take(40) {
        println!("PEERS {f}");
    }
    assert!(
        filter_failures.is_empty()
            && exact_failures.is_empty()
            && ssh_exact_failures.is_empty()
            && peer_failures.is_empty()
            && ssh_failures.is_empty()
            && attr_failures.is_empty()
    );
}

/// A filter's JSON, cut short for a failure message.
fn shorten(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(600) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

/// SSH rules with each rule's principals sorted (for captures whose principal order the
/// policy does not decide).
fn principals_sorted(rules: &Value) -> Value {
    let mut rules = rules.clone();
    for rule in rules.as_array_mut().into_iter().flatten() {
        if let Some(p) = rule.get_mut("principals").and_then(Value::as_array_mut) {
            p.sort_by_key(|x| x.to_string());
        }
    }
    rules
}
