//! TSA218: `autogroup:internet` granted while the inventory has no exit node to carry it.

use crate::diagnostics::{Diagnostic, FileId, Location};
use crate::engine::Inventory;
use crate::model::{Autogroup, Policy, Sel, Selector};
use crate::rules::Code;
use std::collections::HashSet;

/// Does this ipset add `autogroup:internet`, directly or through the ipsets it adds?
fn ipset_adds_internet<'a>(policy: &'a Policy, name: &'a str, seen: &mut HashSet<&'a str>) -> bool {
    if !seen.insert(name) {
        return false;
    }
    let Some(set) = policy.ipset(name) else {
        return false;
    };
    set.ops.iter().any(|op| {
        let mut words = op.value.split_whitespace();
        let (verb, target) = match (words.next(), words.next()) {
            (Some(v @ ("add" | "remove")), Some(t)) => (v, t),
            (Some(t), None) => ("add", t),
            _ => return false,
        };
        verb == "add"
            && (target == "autogroup:internet"
                || (target.starts_with("ipset:") && ipset_adds_internet(policy, target, seen)))
    })
}

fn grants_internet(policy: &Policy, sel: &Sel) -> bool {
    match &sel.selector {
        Some(Selector::Autogroup(Autogroup::Internet)) => true,
        Some(Selector::IpSet(name)) => ipset_adds_internet(policy, name, &mut HashSet::new()),
        _ => false,
    }
}

pub fn internet_without_exit_node(
    policy: &Policy,
    inventory: Option<&Inventory>,
    file: FileId,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(inventory) = inventory else {
        return;
    };
    let any = policy
        .acls
        .iter()
        .flatten()
        .any(|a| a.dst.iter().any(|d| grants_internet(policy, &d.host)))
        || policy
            .grants
            .iter()
            .flatten()
            .any(|g| g.dst.iter().any(|d| grants_internet(policy, d)));
    if !any {
        return;
    }
    let approved = crate::engine::inventory::with_auto_approvals(inventory, policy);
    let exits: Vec<&crate::engine::Device> = approved
        .devices
        .iter()
        .filter(|d| d.is_exit_node())
        .collect();
    // Devices that advertise an exit route nobody approved: the likely fix.
    let unapproved: Vec<&str> = approved
        .devices
        .iter()
        .filter(|d| !d.is_exit_node() && d.advertised_routes.iter().any(|p| p.len == 0))
        .map(|d| d.hostname.as_str())
        .collect();
    let help = |via: &[&str]| {
        let mut h = if unapproved.is_empty() {
            "make a device an exit node (advertise 0.0.0.0/0 and ::/0, and approve them or list its tag in autoApprovers.exitNode), or remove the rule".to_string()
        } else {
            format!(
                "{} advertise{} an exit route that is not approved: approve it in the admin console, or in autoApprovers.exitNode",
                unapproved.join(", "),
                if unapproved.len() == 1 { "s" } else { "" }
            )
        };
        if !via.is_empty() {
            h.push_str(&format!(
                "; with via, the exit node must carry {}",
                via.join(" or ")
            ));
        }
        h
    };
    let report = |diags: &mut Vec<Diagnostic>, sel: &Sel, rule: String, via: &[&str]| {
        let message = if via.is_empty() {
            format!(
                "{rule} grants autogroup:internet, but no device of the inventory is an exit node"
            )
        } else {
            format!(
                "{rule} grants autogroup:internet via {}, but no exit node of the inventory carries {}",
                via.join(", "),
                if via.len() == 1 { "it" } else { "any of them" }
            )
        };
        diags.push(
            Diagnostic::new(
                Code::InternetWithoutExitNode,
                Location {
                    file,
                    span: sel.span,
                },
                message,
            )
            .with_help(help(via)),
        );
    };
    for (i, a) in policy.acls.iter().flatten().enumerate() {
        if exits.is_empty()
            && let Some(d) = a.dst.iter().find(|d| grants_internet(policy, &d.host))
        {
            report(diags, &d.host, format!("acls[{i}]"), &[]);
        }
    }
    for (i, g) in policy.grants.iter().flatten().enumerate() {
        let via: Vec<&str> = g
            .via
            .iter()
            .filter_map(|v| match &v.selector {
                Some(Selector::Tag(t)) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        let carried = exits
            .iter()
            .any(|d| via.is_empty() || d.tags.iter().any(|t| via.contains(&t.as_str())));
        if !carried && let Some(d) = g.dst.iter().find(|d| grants_internet(policy, d)) {
            report(diags, d, format!("grants[{i}]"), &via);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(policy: &str, devices: &str) -> Vec<String> {
        let policy = crate::model::from_text(policy);
        let inv =
            Inventory::from_json(format!(r#"{{"devices": [{devices}]}}"#).as_bytes()).unwrap();
        let mut d = Vec::new();
        internet_without_exit_node(&policy, Some(&inv), FileId(0), &mut d);
        d.into_iter().map(|d| d.message).collect()
    }

    const LAPTOP: &str =
        r#"{"hostname": "laptop", "addresses": ["100.64.0.1"], "user": "a@example.com"}"#;
    const EXIT: &str = r#"{"hostname": "exit", "addresses": ["100.64.0.2"], "tags": ["tag:exit"], "advertisedRoutes": ["0.0.0.0/0", "::/0"], "enabledRoutes": ["0.0.0.0/0", "::/0"]}"#;
    const ADVERTISED: &str = r#"{"hostname": "exit", "addresses": ["100.64.0.2"], "tags": ["tag:exit"], "advertisedRoutes": ["0.0.0.0/0", "::/0"]}"#;

    #[test]
    fn internet_without_an_exit_node_fires() {
        let grant = r#"{"tagOwners": {"tag:exit": []}, "grants": [{"src": ["*"], "dst": ["autogroup:internet"], "ip": ["*"]}]}"#;
        assert_eq!(
            found(grant, LAPTOP),
            vec![
                "grants[0] grants autogroup:internet, but no device of the inventory is an exit node"
            ]
        );
        // Advertised but not approved is not an exit node.
        assert_eq!(found(grant, ADVERTISED).len(), 1);
        let acl =
            r#"{"acls": [{"action": "accept", "src": ["*"], "dst": ["autogroup:internet:*"]}]}"#;
        assert_eq!(found(acl, LAPTOP).len(), 1);
        // Through an ipset.
        let ipset = r#"{"ipsets": {"ipset:web": ["add autogroup:internet"], "ipset:all": ["add ipset:web"]}, "grants": [{"src": ["*"], "dst": ["ipset:all"], "ip": ["443"]}]}"#;
        assert_eq!(found(ipset, LAPTOP).len(), 1);
        // An exit node exists, but not one with the via tag.
        let via = r#"{"tagOwners": {"tag:exit": [], "tag:exit-eu": []}, "grants": [{"src": ["*"], "dst": ["autogroup:internet"], "ip": ["*"], "via": ["tag:exit-eu"]}]}"#;
        assert_eq!(
            found(via, EXIT),
            vec![
                "grants[0] grants autogroup:internet via tag:exit-eu, but no exit node of the inventory carries it"
            ]
        );
    }

    #[test]
    fn internet_with_an_exit_node_or_without_inventory_is_quiet() {
        let grant = r#"{"tagOwners": {"tag:exit": []}, "grants": [{"src": ["*"], "dst": ["autogroup:internet"], "ip": ["*"], "via": ["tag:exit"]}]}"#;
        assert!(found(grant, EXIT).is_empty());
        // Approved by autoApprovers.exitNode.
        let auto = r#"{"tagOwners": {"tag:exit": []}, "autoApprovers": {"exitNode": ["tag:exit"]}, "acls": [{"action": "accept", "src": ["*"], "dst": ["autogroup:internet:*"]}]}"#;
        assert!(found(auto, ADVERTISED).is_empty());
        // No internet in the rules.
        assert!(
            found(
                r#"{"grants": [{"src": ["*"], "dst": ["*"], "ip": ["443"]}]}"#,
                LAPTOP
            )
            .is_empty()
        );
        // No inventory: nothing to say.
        let policy = crate::model::from_text(grant);
        let mut d = Vec::new();
        internet_without_exit_node(&policy, None, FileId(0), &mut d);
        assert!(d.is_empty());
    }
}
