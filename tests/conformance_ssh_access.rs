//! TSA219's computation (`engine::ssh_access::gaps`) against the control plane's answers:
//! on every accepted capture with `ssh` rules, each source/destination pair it reports as
//! lacking network access to port 22 must be closed in the per-device packet filters
//! (ours, which `conformance_filters.rs` holds equal to the recorded ones): no device of
//! the source reaches any device of the destination on tcp:22 (for a tag, the devices
//! carrying it alone, as the pairs are meant).

mod common;

use std::net::IpAddr;
use tsacl::engine::Device;
use tsacl::engine::filter::Filters;
use tsacl::engine::resolve::Resolver;
use tsacl::engine::rules::compile;
use tsacl::engine::ssh_access::gaps;

fn untagged_of<'a>(devices: &'a [Device], login: &str) -> Vec<&'a Device> {
    devices
        .iter()
        .filter(|d| d.tags.is_empty() && d.owner() == Some(login))
        .collect()
}

#[test]
fn reported_pairs_are_closed_in_the_packet_filters() {
    let Some(dir) = common::conformance_dir() else {
        return;
    };
    let (mut captures, mut pairs_checked, mut reported) = (0, 0, 0);
    for capture in common::captures(&dir) {
        if capture["response"]["status"] != 200 {
            continue;
        }
        let id = capture["id"].as_str().unwrap().to_string();
        let doc =
            tsacl::syntax::hujson::parse(capture["policy"].as_str().unwrap().as_bytes()).unwrap();
        let mut diags = Vec::new();
        let policy = tsacl::model::lower(doc.root, Default::default(), &mut diags);
        if policy.ssh.is_empty() {
            continue;
        }
        captures += 1;
        let inv = tsacl::engine::inventory::with_auto_approvals(
            &common::inventory(&capture["topology"]),
            &policy,
        );
        let resolver = Resolver::new(&policy, &inv);
        let rules = compile(&resolver);
        let filters = Filters::new(&resolver, &rules);
        let opens_22 = |dst: usize, from: IpAddr, to: IpAddr| {
            filters.filter(dst).iter().any(|r| {
                (r.src_everything || r.src.contains(from))
                    && r.protocols.numbers().contains(&6)
                    && r.dst_ports.iter().any(|(d, ports)| {
                        d.as_ref().is_none_or(|d| d.contains(to)) && ports.contains(22)
                    })
            })
        };
        let index = |d: &Device| inv.devices.iter().position(|x| std::ptr::eq(x, d)).unwrap();
        for gap in gaps(&policy, None) {
            for pair in &gap.pairs {
                reported += 1;
                // Concrete sources: a login's untagged devices, or a tag's devices; broad
                // selectors (stand-ins) are checked through the principals they name.
                let sources: Vec<&Device> = if pair.from.starts_with("tag:") {
                    inv.devices
                        .iter()
                        .filter(|d| d.tags == [pair.from.clone()])
                        .collect()
                } else if pair.from.contains('@') && !pair.from.starts_with('(') {
                    untagged_of(&inv.devices, &pair.from)
                } else {
                    continue;
                };
                for s in &sources {
                    let destinations: Vec<&Device> = if pair.to.starts_with("tag:") {
                        inv.devices
                            .iter()
                            .filter(|d| d.tags == [pair.to.clone()])
                            .collect()
                    } else if pair.to.contains("autogroup:self") {
                        s.owner()
                            .filter(|_| s.tags.is_empty())
                            .map(|o| untagged_of(&inv.devices, o))
                            .unwrap_or_default()
                    } else if pair.to.contains('@') {
                        untagged_of(&inv.devices, &pair.to)
                    } else {
                        continue;
                    };
                    for d in destinations {
                        if std::ptr::eq(*s, d) {
                            continue;
                        }
                        for from in &s.addresses {
                            for to in d.addresses.iter().filter(|a| a.is_ipv4() == from.is_ipv4()) {
                                pairs_checked += 1;
                                assert!(
                                    !opens_22(index(d), *from, *to),
                                    "{id}: ssh[{}] {} → {} reported without port 22, but {} ({from}) reaches {} ({to}) on tcp:22",
                                    gap.rule,
                                    pair.from,
                                    pair.to,
                                    s.hostname,
                                    d.hostname
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    eprintln!(
        "ssh access: {captures} captures with ssh rules, {reported} pairs reported, {pairs_checked} device address pairs confirmed closed"
    );
    assert!(captures > 0);
}
