//! SSH rules per device, as the control plane sends them (`SSHPolicy.rules`): who
//! (principals by node IP) may log in as which local user (`sshUsers`), and how.

use super::inventory::{Device, Inventory};
use super::ipset::IpSet;
use super::resolve::{Resolver, device_addresses};
use crate::model::{Autogroup, Selector, SshRule as PolicySshRule};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshRule {
    pub principals: Vec<IpAddr>,
    /// Local user → mapped user (`""` = denied, `"="` = same name); `"*"` for any.
    pub users: BTreeMap<String, String>,
    pub check: bool,
    pub accept_env: Vec<String>,
    /// Index into the policy's `ssh` section.
    pub origin: usize,
}

/// The check action as the control plane encodes it.
const HOLD_AND_DELEGATE: &str =
    "https://unused/machine/ssh/action/$SRC_NODE_ID/to/$DST_NODE_ID?local_user=$LOCAL_USER";

/// The SSH rules one device receives, `check` rules first.
pub fn device_ssh_rules(resolver: &Resolver, device: &Device) -> Vec<SshRule> {
    let inventory = resolver.inventory;
    let mut check = Vec::new();
    let mut accept = Vec::new();
    for (index, rule) in resolver.policy.ssh.iter().enumerate() {
        let is_check = rule
            .action
            .as_ref()
            .is_some_and(|a| a.value.trim() == "check");
        let out = if is_check { &mut check } else { &mut accept };
        compile_rule(resolver, inventory, device, index, rule, is_check, out);
    }
    check.extend(accept);
    check
}

fn compile_rule(
    resolver: &Resolver,
    inventory: &Inventory,
    device: &Device,
    index: usize,
    rule: &PolicySshRule,
    check: bool,
    out: &mut Vec<SshRule>,
) {
    let mut src = IpSet::new();
    for s in &rule.src {
        if let Some(sel) = &s.selector {
            src.union_with(&resolver.addresses(sel));
        }
    }
    let own = device.owner().map(|o| resolver.user(o));
    // Which sources this device accepts, by destination selector.
    let mut allowed = IpSet::new();
    for d in &rule.dst {
        let Some(sel) = &d.selector else { continue };
        match sel {
            Selector::Tag(t) if device.tags.contains(t) => allowed.union_with(&src),
            Selector::Autogroup(Autogroup::Tagged) if device.is_tagged() => {
                allowed.union_with(&src)
            }
            Selector::Autogroup(Autogroup::Member | Autogroup::Members) if !device.is_tagged() => {
                allowed.union_with(&src)
            }
            Selector::User(u) if device.owner() == Some(u.as_str()) => allowed.union_with(&src),
            Selector::Autogroup(Autogroup::SelfDevices) => {
                if let Some(own) = &own {
                    allowed.union_with(&src.intersect(own));
                }
            }
            _ => {}
        }
    }
    let users: Vec<&str> = rule
        .users
        .iter()
        .flat_map(|u| u.value.iter().map(|x| x.value.trim()))
        .collect();
    let localpart_domains: Vec<&str> = users
        .iter()
        .filter_map(|u| u.strip_prefix("localpart:*@"))
        .filter(|d| !d.is_empty())
        .collect();
    let mut base = BTreeMap::new();
    base.insert("root".to_string(), String::new());
    for u in &users {
        match *u {
            "root" => {
                base.insert("root".into(), "root".into());
            }
            "autogroup:nonroot" => {
                base.insert("*".into(), "=".into());
            }
            // Only `localpart:*@<domain>` maps logins; any other spelling is taken as a
            // literal user name (captures ssh-malformed-user-localpart-*).
            u if u
                .strip_prefix("localpart:*@")
                .is_some_and(|d| !d.is_empty()) => {}
            u => {
                base.insert(u.to_string(), u.to_string());
            }
        }
    }
    let accept_env: Vec<String> = rule.accept_env.iter().map(|e| e.value.clone()).collect();
    let make = |principals: Vec<IpAddr>, users: BTreeMap<String, String>| SshRule {
        principals,
        users,
        check,
        accept_env: accept_env.clone(),
        origin: index,
    };
    if localpart_domains.is_empty() {
        let principals = device_ips_in(inventory, &allowed);
        if !principals.is_empty() {
            out.push(make(principals, base));
        }
        return;
    }
    // With `localpart:*@domain` the control plane writes one group of rules per source
    // identity (a user, or a tagged device), and also sends each source's rules to the
    // source's own devices (captures ssh-d2, ssh-d10, ssh-e5).
    let mine = device_addresses(device);
    for (identity, ips) in identities(resolver, inventory, &src) {
        let here = if allowed.overlaps(&ips) || ips.overlaps(&mine) {
            ips.clone()
        } else {
            continue;
        };
        let principals = device_ips_in(inventory, &here);
        if principals.is_empty() {
            continue;
        }
        out.push(make(principals.clone(), base.clone()));
        if let Some(login) = identity
            && let Some((local, domain)) = login.split_once('@')
            && localpart_domains.contains(&domain)
        {
            let mut m = BTreeMap::new();
            m.insert(local.to_string(), local.to_string());
            out.push(make(principals, m));
        }
    }
}

/// Source devices grouped by identity: each user's devices together, each tagged device
/// alone. `None` for a tagged device.
fn identities(
    resolver: &Resolver,
    inventory: &Inventory,
    src: &IpSet,
) -> Vec<(Option<String>, IpSet)> {
    let mut by_user: BTreeMap<String, IpSet> = BTreeMap::new();
    let mut out = Vec::new();
    for d in &inventory.devices {
        let ips = device_addresses(d);
        if !ips.overlaps(src) {
            continue;
        }
        match d.owner() {
            Some(o) => {
                by_user
                    .entry(o.to_string())
                    .or_default()
                    .union_with(&ips.intersect(src));
            }
            None => out.push((None, ips.intersect(src))),
        }
    }
    let _ = resolver;
    let mut users: Vec<(Option<String>, IpSet)> =
        by_user.into_iter().map(|(u, s)| (Some(u), s)).collect();
    users.extend(out);
    users
}

/// Every device address inside `set`, in inventory order.
fn device_ips_in(inventory: &Inventory, set: &IpSet) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = inventory
        .devices
        .iter()
        .flat_map(|d| d.addresses.iter().copied())
        .filter(|a| set.contains(*a))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The wire shape of a capture's `ssh_rules`.
pub fn to_json(rules: &[SshRule]) -> Value {
    Value::Array(
        rules
            .iter()
            .map(|r| {
                let action = if r.check {
                    json!({"holdAndDelegate": HOLD_AND_DELEGATE})
                } else {
                    json!({"accept": true, "allowAgentForwarding": true, "allowLocalPortForwarding": true, "allowRemotePortForwarding": true})
                };
                let mut obj = json!({
                    "principals": r.principals.iter().map(|p| json!({"nodeIP": p.to_string()})).collect::<Vec<_>>(),
                    "sshUsers": r.users,
                    "action": action,
                });
                if !r.accept_env.is_empty() {
                    obj["acceptEnv"] = json!(r.accept_env);
                }
                obj
            })
            .collect(),
    )
}

/// SSH rules as a set of (principal, local user, mapped user, action, acceptEnv) tuples,
/// for comparing with the control plane's regardless of how it groups and orders rules.
pub fn tuples(rules: &Value) -> Result<std::collections::BTreeSet<String>, String> {
    let mut out = std::collections::BTreeSet::new();
    for r in rules.as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let action = if r["action"].get("holdAndDelegate").is_some() {
            "check"
        } else {
            "accept"
        };
        let env = r
            .get("acceptEnv")
            .map(|e| e.to_string())
            .unwrap_or_default();
        for p in r["principals"]
            .as_array()
            .ok_or("principals must be an array")?
        {
            let ip = p["nodeIP"].as_str().ok_or("principal without nodeIP")?;
            for (user, mapped) in r["sshUsers"]
                .as_object()
                .ok_or("sshUsers must be an object")?
            {
                out.insert(format!(
                    "{ip} {user}={} {action} {env}",
                    mapped.as_str().unwrap_or("?")
                ));
            }
        }
    }
    Ok(out)
}
