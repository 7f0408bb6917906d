//! Node attributes from `nodeAttrs`: the capability names each device gets in its
//! `CapMap`. The control plane adds attributes of its own (tailnet settings, user roles);
//! these are only the ones the policy decides.

use super::inventory::Device;
use super::resolve::{Resolver, device_addresses};
use crate::model::{Autogroup, Selector};
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
fn add_entry(entry: &crate::model::NodeAttr, out: &mut BTreeSet<String>) {
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

/// The attributes one device gets.
pub fn device_attributes(resolver: &Resolver, device: &Device) -> BTreeSet<String> {
    let mine = device_addresses(device);
    let mut out = BTreeSet::new();
    for entry in &resolver.policy.node_attrs {
        let targeted = entry.target.iter().any(|t| match &t.selector {
            Some(Selector::Wildcard) => true,
            Some(Selector::Autogroup(Autogroup::SelfDevices)) | None => false,
            Some(sel) => resolver.addresses(sel).overlaps(&mine),
        });
        if !targeted {
            continue;
        }
        add_entry(entry, &mut out);
    }
    out
}
