//! Node attributes from `nodeAttrs`: the capability names each device gets in its
//! `CapMap`. The control plane adds attributes of its own (tailnet settings, user roles);
//! these are only the ones the policy decides.

use super::inventory::Device;
use super::ipset::IpSet;
use super::resolve::{Resolver, device_addresses};
use crate::model::{Autogroup, NodeAttr, Selector};
use std::collections::BTreeSet;

/// Attributes the `funnel` attribute brings along.
const FUNNEL_EXTRAS: &[&str] = &[
    "https://tailscale.com/cap/funnel-ports?ports=443,8443,10000",
    "https://tailscale.com/cap/warn-funnel-no-https",
];

/// Every attribute name the policy can give any device (what a comparison looks at).
pub fn policy_attributes(resolver: &Resolver) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in &resolver.policy.node_attrs {
        add_entry(entry, &mut out);
    }
    out
}

/// The attribute names one `nodeAttrs` entry gives.
fn add_entry(entry: &NodeAttr, out: &mut BTreeSet<String>) {
    for a in &entry.attr {
        out.insert(a.value.clone());
        if a.value == "funnel" {
            out.extend(FUNNEL_EXTRAS.iter().map(|s| s.to_string()));
        }
    }
    for app in &entry.app {
        out.insert(app.name.value.clone());
    }
}

/// The attributes one device gets. (For many devices, resolve the policy's entries once
/// with [`NodeAttrs::new`].)
pub fn device_attributes(resolver: &Resolver, device: &Device) -> BTreeSet<String> {
    NodeAttrs::new(resolver).device_attributes(device)
}

/// The policy's `nodeAttrs` entries with their targets resolved once.
pub struct NodeAttrs<'p> {
    /// Each entry, whether it targets every device (`*`), and the addresses of the
    /// devices its other targets name.
    entries: Vec<(&'p NodeAttr, bool, IpSet)>,
}

impl<'p> NodeAttrs<'p> {
    pub fn new(resolver: &Resolver<'p>) -> NodeAttrs<'p> {
        let entries = resolver
            .policy
            .node_attrs
            .iter()
            .map(|entry| {
                let mut everyone = false;
                let mut targets = IpSet::new();
                for t in &entry.target {
                    match &t.selector {
                        Some(Selector::Wildcard) => everyone = true,
                        Some(Selector::Autogroup(Autogroup::SelfDevices)) | None => {}
                        Some(sel) => targets.union_with(&resolver.addresses(sel)),
                    }
                }
                (entry, everyone, targets)
            })
            .collect();
        NodeAttrs { entries }
    }

    /// The attributes one device gets.
    pub fn device_attributes(&self, device: &Device) -> BTreeSet<String> {
        let mine = device_addresses(device);
        let mut out = BTreeSet::new();
        for (entry, everyone, targets) in &self.entries {
            if *everyone || targets.overlaps(&mine) {
                add_entry(entry, &mut out);
            }
        }
        out
    }
}
