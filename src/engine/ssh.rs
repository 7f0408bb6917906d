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

/// The SSH rules one device receives, `check` rules first. (For many devices, compile
/// the policy's rules once with [`SshRules::new`].)
pub fn device_ssh_rules(resolver: &Resolver, device: &Device) -> Vec<SshRule> {
    SshRules::new(resolver).device_rules(device)
}

/// The policy's SSH rules resolved once, so that each device's rules cost what they say
/// about that device, not a pass over the whole inventory.
pub struct SshRules<'r> {
    resolver: &'r Resolver<'r>,
    rules: Vec<Compiled<'r>>,
    /// Every device address, sorted, without repeats.
    addresses: Vec<IpAddr>,
    /// How many tags the device holding each tagged address has.
    tag_counts: rustc_hash::FxHashMap<crate::model::addr::IpKey, usize>,
    /// The rules whose destinations may take a device in, by what the device is.
    by_destination: ByDestination<'r>,
}

/// Rules (indices into [`SshRules::rules`]) by the destinations they name, so that one
/// device's rules cost the rules that may concern it, not a pass over every rule (an
/// `sshTests` entry per rule made that quadratic).
#[derive(Default)]
struct ByDestination<'r> {
    tag: rustc_hash::FxHashMap<&'r str, Vec<usize>>,
    user: rustc_hash::FxHashMap<&'r str, Vec<usize>>,
    /// `autogroup:tagged`.
    tagged: Vec<usize>,
    /// `autogroup:member`.
    untagged: Vec<usize>,
    /// `autogroup:self`, and rules with `localpart:*@domain` users (sent to their
    /// sources' own devices too).
    any: Vec<usize>,
}

impl<'r> ByDestination<'r> {
    fn new(rules: &[Compiled<'r>]) -> ByDestination<'r> {
        let mut by = ByDestination::default();
        for (k, rule) in rules.iter().enumerate() {
            if !rule.localpart_domains.is_empty() {
                by.any.push(k);
                continue;
            }
            for d in &rule.rule.dst {
                let list = match &d.selector {
                    Some(Selector::Tag(t)) => by.tag.entry(t.as_str()).or_default(),
                    Some(Selector::User(u)) => by.user.entry(u.as_str()).or_default(),
                    Some(Selector::Autogroup(Autogroup::Tagged)) => &mut by.tagged,
                    Some(Selector::Autogroup(Autogroup::Member | Autogroup::Members)) => {
                        &mut by.untagged
                    }
                    Some(Selector::Autogroup(Autogroup::SelfDevices)) => &mut by.any,
                    _ => continue,
                };
                if list.last() != Some(&k) {
                    list.push(k);
                }
            }
        }
        by
    }

    /// The rules that may send `device` something, in policy order. Exactly those whose
    /// destinations [`SshRules::compile_rule`] may take the device in by.
    fn rules_for(&self, device: &Device) -> Vec<usize> {
        let mut out = self.any.clone();
        if device.is_tagged() {
            out.extend(&self.tagged);
            for t in &device.tags {
                out.extend(self.tag.get(t.as_str()).into_iter().flatten());
            }
        } else {
            out.extend(&self.untagged);
            if let Some(owner) = device.owner() {
                out.extend(self.user.get(owner).into_iter().flatten());
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// One rule of the policy's `ssh` section, with what does not depend on the device.
struct Compiled<'r> {
    /// Index into the policy's `ssh` section.
    index: usize,
    rule: &'r PolicySshRule,
    check: bool,
    src: IpSet,
    /// Local user → mapped user, before any `localpart:*@domain` mapping.
    base: BTreeMap<String, String>,
    localpart_domains: Vec<&'r str>,
    accept_env: Vec<String>,
    /// The sources name `autogroup:tagged`, which the control plane resolves tag by tag:
    /// a device's addresses appear once per tag it has (capture ssh-b6).
    per_tag: bool,
    /// With `localpart:*@domain`: the sources by identity, and which identity each source
    /// address belongs to (see [`identities`]).
    identities: Vec<(Option<String>, IpSet)>,
    identity_of: Vec<(IpAddr, usize)>,
}

impl<'r> SshRules<'r> {
    pub fn new(resolver: &'r Resolver<'r>) -> SshRules<'r> {
        let inventory = resolver.inventory;
        let addresses = crate::model::addr::sorted_unique(
            inventory
                .devices
                .iter()
                .flat_map(|d| d.addresses.iter().copied()),
        );
        let tag_counts = inventory
            .devices
            .iter()
            .filter(|d| d.is_tagged())
            .flat_map(|d| {
                d.addresses
                    .iter()
                    .map(|a| (crate::model::addr::ip_key(*a), d.tags.len()))
            })
            .collect();
        let rules: Vec<Compiled> = resolver
            .policy
            .ssh
            .iter()
            .enumerate()
            .map(|(index, rule)| Compiled::new(resolver, index, rule))
            .collect();
        SshRules {
            resolver,
            by_destination: ByDestination::new(&rules),
            rules,
            addresses,
            tag_counts,
        }
    }

    /// The SSH rules one device receives, `check` rules first.
    pub fn device_rules(&self, device: &Device) -> Vec<SshRule> {
        let mut check = Vec::new();
        let mut accept = Vec::new();
        for k in self.by_destination.rules_for(device) {
            let rule = &self.rules[k];
            let out = if rule.check { &mut check } else { &mut accept };
            self.compile_rule(device, rule, out);
        }
        check.extend(accept);
        check
    }

    fn compile_rule(&self, device: &Device, rule: &Compiled, out: &mut Vec<SshRule>) {
        let src = &rule.src;
        let own = device.owner().map(|o| self.resolver.user(o));
        // Which sources this device accepts, by destination selector.
        let mut allowed = IpSet::new();
        for d in &rule.rule.dst {
            let Some(sel) = &d.selector else { continue };
            match sel {
                Selector::Tag(t) if device.tags.contains(t) => allowed.union_with(src),
                Selector::Autogroup(Autogroup::Tagged) if device.is_tagged() => {
                    allowed.union_with(src)
                }
                Selector::Autogroup(Autogroup::Member | Autogroup::Members)
                    if !device.is_tagged() =>
                {
                    allowed.union_with(src)
                }
                Selector::User(u) if device.owner() == Some(u.as_str()) => allowed.union_with(src),
                Selector::Autogroup(Autogroup::SelfDevices) => {
                    if let Some(own) = &own {
                        allowed.union_with(&src.intersect(own));
                    }
                }
                _ => {}
            }
        }
        let make = |principals: Vec<IpAddr>, users: BTreeMap<String, String>| SshRule {
            principals,
            users,
            check: rule.check,
            accept_env: rule.accept_env.clone(),
            origin: rule.index,
        };
        if rule.localpart_domains.is_empty() {
            let principals = self.principals(rule, &allowed);
            if !principals.is_empty() {
                out.push(make(principals, rule.base.clone()));
            }
            return;
        }
        // With `localpart:*@domain` the control plane writes one group of rules per source
        // identity (a user, or a tagged device), and also sends each source's rules to the
        // source's own devices (captures ssh-d2, ssh-d10, ssh-e5).
        allowed.union_with(&device_addresses(device));
        for k in rule.identities_meeting(&allowed) {
            let (identity, ips) = &rule.identities[k];
            let principals = self.principals(rule, ips);
            if principals.is_empty() {
                continue;
            }
            out.push(make(principals.clone(), rule.base.clone()));
            if let Some(login) = identity
                && let Some((local, domain)) = login.split_once('@')
                && rule.localpart_domains.contains(&domain)
            {
                let mut m = BTreeMap::new();
                m.insert(local.to_string(), local.to_string());
                out.push(make(principals, m));
            }
        }
    }

    /// The principals of `rule` within `set` as the control plane writes them: every
    /// device address inside, once per tag where the sources name `autogroup:tagged`,
    /// sorted as strings (`…::8037:2923` before `…::d37:7b12`).
    fn principals(&self, rule: &Compiled, set: &IpSet) -> Vec<IpAddr> {
        let mut out = Vec::new();
        for a in self.device_ips_in(set) {
            let times = match self.tag_counts.get(&crate::model::addr::ip_key(a)) {
                Some(tags) if rule.per_tag => (*tags).max(1),
                _ => 1,
            };
            out.extend(std::iter::repeat_n(a, times));
        }
        out.sort_by_cached_key(|a| a.to_string());
        out
    }

    /// Every device address inside `set`, sorted.
    fn device_ips_in(&self, set: &IpSet) -> Vec<IpAddr> {
        let mut out = Vec::new();
        for (a, b) in set.ranges() {
            let start = self.addresses.partition_point(|x| *x < a);
            out.extend(self.addresses[start..].iter().take_while(|x| **x <= b));
        }
        out
    }
}

impl<'r> Compiled<'r> {
    fn new(resolver: &Resolver, index: usize, rule: &'r PolicySshRule) -> Compiled<'r> {
        let check = rule
            .action
            .as_ref()
            .is_some_and(|a| a.value.trim() == "check");
        let mut src = IpSet::new();
        for s in &rule.src {
            if let Some(sel) = &s.selector {
                src.union_with(&resolver.addresses(sel));
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
        let accept_env = rule.accept_env.iter().map(|e| e.value.clone()).collect();
        let per_tag = rule
            .src
            .iter()
            .any(|s| s.selector == Some(Selector::Autogroup(Autogroup::Tagged)));
        let (identities, identity_of) = if localpart_domains.is_empty() {
            Default::default()
        } else {
            identities(resolver.inventory, &src)
        };
        Compiled {
            index,
            rule,
            check,
            src,
            base,
            localpart_domains,
            accept_env,
            per_tag,
            identities,
            identity_of,
        }
    }

    /// The identities with an address in `set`, in the order of `identities`.
    fn identities_meeting(&self, set: &IpSet) -> Vec<usize> {
        let mut out = Vec::new();
        for (a, b) in set.ranges() {
            let start = self.identity_of.partition_point(|(x, _)| *x < a);
            out.extend(
                self.identity_of[start..]
                    .iter()
                    .take_while(|(x, _)| *x <= b)
                    .map(|(_, k)| *k),
            );
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Source devices grouped by identity: each user's devices together (users in the order
/// the inventory lists them, as the control plane orders them by user ID: captures
/// ssh-d2, ssh-d10), then each tagged device alone (`None`); and each source address
/// with its identity's number, sorted.
type Identities = (Vec<(Option<String>, IpSet)>, Vec<(IpAddr, usize)>);

fn identities(inventory: &Inventory, src: &IpSet) -> Identities {
    let mut by_user: BTreeMap<&str, Vec<IpAddr>> = BTreeMap::new();
    let mut tagged: Vec<Vec<IpAddr>> = Vec::new();
    for d in &inventory.devices {
        let inside: Vec<IpAddr> = d
            .addresses
            .iter()
            .copied()
            .filter(|a| src.contains(*a))
            .collect();
        if inside.is_empty() {
            continue;
        }
        match d.owner() {
            Some(o) => by_user.entry(o).or_default().extend(inside),
            None => tagged.push(inside),
        }
    }
    let mut list = Vec::new();
    let mut identity_of = Vec::new();
    let rank = |login: &str| {
        let listed = inventory.users.iter().position(|u| u.login == login);
        listed.unwrap_or(usize::MAX)
    };
    let mut by_user: Vec<(&str, Vec<IpAddr>)> = by_user.into_iter().collect();
    by_user.sort_by_key(|(login, _)| rank(login));
    let users = by_user.into_iter().map(|(u, a)| (Some(u.to_string()), a));
    for (k, (identity, addresses)) in users
        .chain(tagged.into_iter().map(|a| (None, a)))
        .enumerate()
    {
        identity_of.extend(addresses.iter().map(|a| (*a, k)));
        list.push((identity, IpSet::from_addrs(addresses)));
    }
    identity_of.sort_unstable();
    (list, identity_of)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::inventory::Inventory;

    /// Two users' devices, a device with two tags and a server.
    fn tailnet() -> Inventory {
        Inventory::from_json(
            br#"{"users": [{"loginName": "zed@example.com"}, {"loginName": "amy@example.com"}],
                 "devices": [
            {"hostname": "z", "addresses": ["100.64.9.1", "fd7a:115c:a1e0::d37:1"], "user": "zed@example.com"},
            {"hostname": "a", "addresses": ["100.64.10.2", "fd7a:115c:a1e0::8037:2"], "user": "amy@example.com"},
            {"hostname": "t", "addresses": ["100.64.0.3"], "tags": ["tag:x", "tag:y"]},
            {"hostname": "s", "addresses": ["100.64.0.4"], "tags": ["tag:server"]}
        ]}"#,
        )
        .unwrap()
    }

    fn sent(policy: &str) -> BTreeMap<String, Value> {
        let policy = crate::model::from_text(policy);
        let inventory = tailnet();
        let resolver = Resolver::new(&policy, &inventory);
        let rules = SshRules::new(&resolver);
        inventory
            .devices
            .iter()
            .map(|d| (d.hostname.clone(), to_json(&rules.device_rules(d))))
            .collect()
    }

    /// The rules found by destination are exactly those a pass over every rule sends.
    #[test]
    fn rules_by_destination_are_every_rule_that_sends_something() {
        let policy = crate::model::from_text(
            r#"{"tagOwners": {"tag:x": [], "tag:y": [], "tag:server": []},
                "ssh": [
                  {"action": "accept", "src": ["autogroup:member"], "dst": ["tag:x"], "users": ["root"]},
                  {"action": "check", "src": ["zed@example.com"], "dst": ["autogroup:self"], "users": ["zed"]},
                  {"action": "accept", "src": ["tag:x"], "dst": ["tag:server", "amy@example.com"], "users": ["root"]},
                  {"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:tagged"], "users": ["ops"]},
                  {"action": "accept", "src": ["tag:server"], "dst": ["autogroup:member"], "users": ["backup"]},
                  {"action": "accept", "src": ["autogroup:member"], "dst": ["tag:y"], "users": ["localpart:*@example.com"]},
                  {"action": "accept", "src": ["amy@example.com"], "dst": ["tag:nobody"], "users": ["root"]}
                ]}"#,
        );
        let inventory = tailnet();
        let resolver = Resolver::new(&policy, &inventory);
        let rules = SshRules::new(&resolver);
        for d in &inventory.devices {
            let (mut check, mut accept) = (Vec::new(), Vec::new());
            for rule in &rules.rules {
                rules.compile_rule(d, rule, if rule.check { &mut check } else { &mut accept });
            }
            check.extend(accept);
            let got = rules.device_rules(d);
            assert!(!got.is_empty(), "{}", d.hostname);
            assert_eq!(to_json(&got), to_json(&check), "{}", d.hostname);
        }
    }

    fn principals(rule: &Value) -> Vec<&str> {
        rule["principals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["nodeIP"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn principals_are_sorted_as_strings_and_repeated_per_tag_for_autogroup_tagged() {
        let rules = sent(
            r#"{"tagOwners": {"tag:x": [], "tag:y": [], "tag:server": []},
                "ssh": [{"action": "accept", "src": ["autogroup:member", "autogroup:tagged"],
                         "dst": ["tag:server"], "users": ["root"]}]}"#,
        );
        assert_eq!(
            principals(&rules["s"][0]),
            [
                "100.64.0.3",
                "100.64.0.3",
                "100.64.0.4",
                "100.64.10.2",
                "100.64.9.1",
                "fd7a:115c:a1e0::8037:2",
                "fd7a:115c:a1e0::d37:1"
            ]
        );
    }

    #[test]
    fn localpart_rules_follow_the_users_in_the_inventorys_order() {
        let rules = sent(
            r#"{"tagOwners": {"tag:server": []},
                "ssh": [{"action": "accept", "src": ["autogroup:member"], "dst": ["tag:server"],
                         "users": ["localpart:*@example.com"]}]}"#,
        );
        let users: Vec<String> = rules["s"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["sshUsers"].to_string())
            .collect();
        assert_eq!(
            users,
            [
                r#"{"root":""}"#,
                r#"{"zed":"zed"}"#,
                r#"{"root":""}"#,
                r#"{"amy":"amy"}"#
            ]
        );
        assert_eq!(
            principals(&rules["s"][0]),
            ["100.64.9.1", "fd7a:115c:a1e0::d37:1"]
        );
    }
}
