//! Tag lints: tags nothing refers to (TSA204) and tag owners that form a cycle (TSA215).

use crate::diagnostics::{Diagnostic, FileId, Location};
use crate::engine::Inventory;
use crate::model::{Policy, Sel, Selector};
use crate::rules::Code;
use std::collections::{HashMap, HashSet, VecDeque};

/// The tag a selector names, if it is a tag.
fn tag_of(sel: &Sel) -> Option<&str> {
    match &sel.selector {
        Some(Selector::Tag(t)) => Some(t.as_str()),
        _ => None,
    }
}

/// The tag a test's `src`/`dst` text names (`tag:db` or `tag:db:5432`).
fn tag_in_text(text: &str) -> Option<&str> {
    let t = text.trim();
    if !t.starts_with("tag:") {
        return None;
    }
    // `tag:` itself has a colon; a port follows the second one.
    match t[4..].find(':') {
        Some(i) => Some(&t[..4 + i]),
        None => Some(t),
    }
}

/// Every tag some section other than the tag's own `tagOwners` entry names.
fn referenced_tags<'a>(policy: &'a Policy) -> HashSet<&'a str> {
    let mut used: HashSet<&'a str> = HashSet::new();
    used.extend(policy.rule_selectors().filter_map(tag_of));
    for t in &policy.tag_owners {
        for o in &t.owners {
            // Owning itself does not make a tag used.
            if let Some(owner) = tag_of(o)
                && owner != t.tag.value
            {
                used.insert(owner);
            }
        }
    }
    let mut text = |s: &'a str| {
        if let Some(t) = tag_in_text(s) {
            used.insert(t);
        }
    };
    for t in &policy.tests {
        t.src.iter().for_each(|s| text(&s.value));
        t.accept.iter().chain(&t.deny).for_each(|d| text(&d.value));
    }
    for t in &policy.ssh_tests {
        t.src.iter().for_each(|s| text(&s.value));
        t.dst.iter().for_each(|d| text(&d.value));
    }
    // Capability values name tags too: an app connector's `connectors`, a Kubernetes
    // impersonation, and sections tsacl does not model.
    let apps = policy
        .grants
        .iter()
        .flatten()
        .flat_map(|g| &g.app)
        .chain(policy.node_attrs.iter().flat_map(|n| &n.app))
        .map(|a| &a.values);
    for value in apps.chain(policy.opaque.iter().map(|(_, v)| v)) {
        strings_in(value, &mut text);
    }
    used
}

/// Every string inside `value`, at any depth (bounded by the tree's `MAX_DEPTH`).
fn strings_in<'a>(value: &'a crate::syntax::Value, found: &mut impl FnMut(&'a str)) {
    use crate::syntax::Kind;
    match &value.kind {
        Kind::String(s) => found(s),
        Kind::Array(items) => items.iter().for_each(|v| strings_in(v, found)),
        Kind::Object(members) => members.iter().for_each(|m| strings_in(&m.value, found)),
        _ => {}
    }
}

/// TSA204: `tagOwners` entries nothing refers to. `applied_elsewhere` are tags known to be
/// applied outside the policy and required by it (the Kubernetes operator's proxy tag).
pub fn unused_tags(
    policy: &Policy,
    inventory: Option<&Inventory>,
    applied_elsewhere: &[&str],
    file: FileId,
    diags: &mut Vec<Diagnostic>,
) {
    let used = referenced_tags(policy);
    // Under a rule that lets everything reach everything, a tag that only marks devices
    // is the ordinary case: its devices have all the access there is, and the note would
    // say nothing. Only a tag no device of the inventory carries is still worth a word.
    let allow_all = !crate::lint::allow_all_rules(policy).is_empty();
    for def in &policy.tag_owners {
        let tag = def.tag.value.as_str();
        if used.contains(tag) || applied_elsewhere.contains(&tag) {
            continue;
        }
        let carried = inventory.map(|inv| {
            inv.devices
                .iter()
                .filter(|d| d.tags.iter().any(|t| t == tag))
                .count()
        });
        if allow_all && carried != Some(0) {
            continue;
        }
        // A tag only applied to devices is a documented use (servers that outlive their
        // user, no key expiry): say what the tag does and does not do, not that it is dead.
        let mut message = format!(
            "{tag} is named only in tagOwners: devices carrying it get access only through *, autogroup:tagged or their addresses"
        );
        let mut help = "if it only marks devices as tagged, nothing is wrong; if its devices need access, grant it".to_string();
        if let Some(n) = carried {
            message.push_str(&match n {
                0 => "; no device of the inventory carries it".to_string(),
                1 => "; 1 device of the inventory carries it".to_string(),
                n => format!("; {n} devices of the inventory carry it"),
            });
            if n == 0 {
                help = "no device carries it and nothing refers to it: it can be removed".into();
            }
        }
        diags.push(
            Diagnostic::new(
                Code::UnusedTag,
                Location {
                    file,
                    span: def.tag.span,
                },
                message,
            )
            .with_help(help),
        );
    }
}

/// TSA215: cycles in "is owned by" among tags, each reported once, starting at the tag
/// written first.
pub fn owner_cycles(policy: &Policy, file: FileId, diags: &mut Vec<Diagnostic>) {
    let at = |span| Location { file, span };
    // Nodes in source order; an edge a → b when tag b owns tag a (only defined tags).
    let index: HashMap<&str, usize> = policy
        .tag_owners
        .iter()
        .enumerate()
        .map(|(i, t)| (t.tag.value.as_str(), i))
        .rev() // A duplicate key keeps its first definition.
        .collect();
    let n = policy.tag_owners.len();
    let mut graph = petgraph::graph::DiGraph::<usize, usize>::with_capacity(n, n);
    let nodes: Vec<_> = (0..n).map(|i| graph.add_node(i)).collect();
    for (i, def) in policy.tag_owners.iter().enumerate() {
        if index.get(def.tag.value.as_str()) != Some(&i) {
            continue;
        }
        for (k, o) in def.owners.iter().enumerate() {
            if let Some(j) = tag_of(o).and_then(|t| index.get(t)) {
                graph.add_edge(nodes[i], nodes[*j], k);
            }
        }
    }
    let mut components = petgraph::algo::tarjan_scc(&graph);
    for c in &mut components {
        c.sort_by_key(|n| graph[*n]);
    }
    components.sort_by_key(|c| c.first().map(|n| graph[*n]));
    for component in components {
        let members: HashSet<usize> = component.iter().map(|n| graph[*n]).collect();
        let start = graph[component[0]];
        let self_owner = policy.tag_owners[start]
            .owners
            .iter()
            .position(|o| tag_of(o) == Some(policy.tag_owners[start].tag.value.as_str()));
        if component.len() == 1 && self_owner.is_none() {
            continue;
        }
        let def = &policy.tag_owners[start];
        // Owners outside the cycle: who tags the first device (admins always can).
        let others: Vec<&str> = component
            .iter()
            .flat_map(|n| &policy.tag_owners[graph[*n]].owners)
            .filter(|o| {
                !tag_of(o)
                    .and_then(|t| index.get(t))
                    .is_some_and(|i| members.contains(i))
            })
            .map(|o| o.raw.trim())
            .collect();
        if let Some(k) = self_owner
            && component.len() == 1
        {
            let tag = def.tag.value.as_str();
            let help = if others.is_empty() {
                format!(
                    "besides admins (who may apply every tag), only devices that already carry {tag} can apply it, so each of them can tag new devices with it; let people (a group, or autogroup:admin) or the machine that creates its devices own it"
                )
            } else {
                format!(
                    "devices carrying {tag} can tag new devices with it, besides its other owners ({}); if its devices should not mint more of themselves, remove {tag} from its own owners",
                    others.join(", ")
                )
            };
            diags.push(
                Diagnostic::new(
                    Code::TagOwnerCycle,
                    at(def.owners[k].span),
                    format!("{tag} owns itself"),
                )
                .with_help(help),
            );
            continue;
        }
        // The shortest way back to `start` inside the component: (tag, owner index) steps.
        let Some(path) = shortest_cycle(policy, &index, &members, start) else {
            continue;
        };
        let names: Vec<&str> = path
            .iter()
            .map(|(t, _)| policy.tag_owners[*t].tag.value.as_str())
            .chain([def.tag.value.as_str()])
            .collect();
        let (first_tag, first_owner) = path[0];
        let mut d = Diagnostic::new(
            Code::TagOwnerCycle,
            at(policy.tag_owners[first_tag].owners[first_owner].span),
            format!(
                "tag owners form a cycle: {} (each tag owned by the next)",
                names.join(" → ")
            ),
        );
        for (t, k) in &path[1..] {
            let owned = &policy.tag_owners[*t];
            d = d.with_label(
                at(owned.owners[*k].span),
                format!(
                    "{} is owned by {}",
                    owned.tag.value,
                    owned.owners[*k].raw.trim()
                ),
            );
        }
        if members.len() > path.len() {
            let mut all: Vec<&str> = component
                .iter()
                .map(|n| policy.tag_owners[graph[*n]].tag.value.as_str())
                .collect();
            all.sort_unstable();
            d.message
                .push_str(&format!("; {} own one another", all.join(", ")));
        }
        diags.push(d.with_help(if others.is_empty() {
            "besides admins (who may apply every tag), no one can apply a tag of the cycle without already carrying one; let people (a group, or autogroup:admin) own one end and remove the owner that closes the cycle".to_string()
        } else {
            format!(
                "devices carrying a tag of the cycle can tag new devices with the others, and the other owners ({}) start it; if that is not meant, remove the owner that closes the cycle",
                others.join(", ")
            )
        }));
    }
}

/// Breadth-first from `start` back to it, through owners inside `members`: the steps as
/// (tag index, index of the owner entry that leads to the next tag).
fn shortest_cycle(
    policy: &Policy,
    index: &HashMap<&str, usize>,
    members: &HashSet<usize>,
    start: usize,
) -> Option<Vec<(usize, usize)>> {
    let mut previous: HashMap<usize, (usize, usize)> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    let mut seen = HashSet::from([start]);
    while let Some(t) = queue.pop_front() {
        for (k, o) in policy.tag_owners[t].owners.iter().enumerate() {
            let Some(&next) = tag_of(o).and_then(|x| index.get(x)) else {
                continue;
            };
            if !members.contains(&next) {
                continue;
            }
            if next == start {
                let mut steps = vec![(t, k)];
                let mut cur = t;
                while cur != start {
                    let (p, pk) = previous[&cur];
                    steps.push((p, pk));
                    cur = p;
                }
                steps.reverse();
                return Some(steps);
            }
            if seen.insert(next) {
                previous.insert(next, (t, k));
                queue.push_back(next);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Policy {
        crate::model::from_text(text)
    }

    fn unused(text: &str, inventory: Option<&Inventory>) -> Vec<String> {
        let mut d = Vec::new();
        unused_tags(&policy(text), inventory, &[], FileId(0), &mut d);
        d.into_iter().map(|d| d.message).collect()
    }

    fn cycles(text: &str) -> Vec<Diagnostic> {
        let mut d = Vec::new();
        owner_cycles(&policy(text), FileId(0), &mut d);
        d
    }

    #[test]
    fn unused_tag_fires_for_a_tag_only_defined() {
        let found = unused(
            r#"{"tagOwners": {"tag:a": ["group:g"], "tag:b": ["group:g"]}, "groups": {"group:g": []}, "grants": [{"src": ["tag:b"], "dst": ["*"], "ip": ["443"]}]}"#,
            None,
        );
        assert_eq!(
            found,
            vec![
                "tag:a is named only in tagOwners: devices carrying it get access only through *, autogroup:tagged or their addresses"
            ]
        );
        // Under an allow-all rule a tag that only marks devices is the ordinary case.
        let everything = r#"{"tagOwners": {"tag:a": []}, "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}"#;
        assert!(unused(everything, None).is_empty());
        let none = Inventory::from_json(br#"{"devices": []}"#).unwrap();
        assert_eq!(
            unused(everything, Some(&none)).len(),
            1,
            "no device carries it"
        );
        // Owning itself is not a use.
        assert_eq!(
            unused(r#"{"tagOwners": {"tag:a": ["tag:a"]}}"#, None).len(),
            1
        );
        // Devices carrying it do not make it used; the message counts them.
        let inv = Inventory::from_json(
            br#"{"devices": [{"hostname": "x", "addresses": ["100.64.0.1"], "tags": ["tag:a"]}]}"#,
        )
        .unwrap();
        let found = unused(r#"{"tagOwners": {"tag:a": []}}"#, Some(&inv));
        assert!(
            found[0].contains("1 device of the inventory carries it"),
            "{found:?}"
        );
    }

    #[test]
    fn unused_tag_stays_quiet_for_every_kind_of_reference() {
        for (owners, section) in [
            (
                "",
                r#""acls": [{"action": "accept", "src": ["*"], "dst": ["tag:a:22"]}]"#,
            ),
            (
                "",
                r#""grants": [{"src": ["*"], "dst": ["*"], "ip": ["443"], "via": ["tag:a"]}]"#,
            ),
            (
                "",
                r#""ssh": [{"action": "check", "src": ["autogroup:member"], "dst": ["tag:a"], "users": ["x"]}]"#,
            ),
            (
                "",
                r#""nodeAttrs": [{"target": ["tag:a"], "attr": ["funnel"]}]"#,
            ),
            ("", r#""autoApprovers": {"exitNode": ["tag:a"]}"#),
            (
                "",
                r#""autoApprovers": {"routes": {"10.0.0.0/8": ["tag:a"]}}"#,
            ),
            (
                "",
                r#""autoApprovers": {"services": {"tag:a": ["autogroup:admin"]}}"#,
            ),
            (
                "",
                r#""tests": [{"src": "x@example.com", "deny": ["tag:a:22"]}]"#,
            ),
            (
                "",
                r#""sshTests": [{"src": "x@example.com", "dst": ["tag:a"], "deny": ["root"]}]"#,
            ),
            (
                r#", "tag:b": ["tag:a"]"#,
                r#""grants": [{"src": ["tag:b"], "dst": ["*"], "ip": ["1"]}]"#,
            ),
            // An app connector, as Tailscale's documentation configures one.
            (
                "",
                r#""nodeAttrs": [{"target": ["*"], "app": {"tailscale.com/app-connectors": [{"name": "github", "connectors": ["tag:a"], "domains": ["github.com"]}]}}]"#,
            ),
            // A capability value in a grant.
            (
                "",
                r#""grants": [{"src": ["*"], "dst": ["*"], "app": {"example.com/cap/x": [{"tags": ["tag:a"]}]}}]"#,
            ),
        ] {
            let text = format!(r#"{{"tagOwners": {{"tag:a": []{owners}}}, {section}}}"#);
            assert!(
                unused(&text, None).is_empty(),
                "{text}: {:?}",
                unused(&text, None)
            );
        }
        // A tag known to be applied outside the policy (the operator's proxy tag).
        let mut d = Vec::new();
        unused_tags(
            &policy(r#"{"tagOwners": {"tag:k8s": ["tag:k8s-operator"], "tag:k8s-operator": []}}"#),
            None,
            &["tag:k8s"],
            FileId(0),
            &mut d,
        );
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn owner_cycles_are_named_once() {
        let two = cycles(r#"{"tagOwners": {"tag:a": ["tag:b"], "tag:b": ["tag:a"]}}"#);
        assert_eq!(two.len(), 1);
        assert_eq!(
            two[0].message,
            "tag owners form a cycle: tag:a → tag:b → tag:a (each tag owned by the next)"
        );
        assert_eq!(two[0].labels.len(), 1);
        let three = cycles(
            r#"{"tagOwners": {"tag:c": ["group:x", "tag:a"], "tag:a": ["tag:b"], "tag:b": ["tag:c"]}}"#,
        );
        assert_eq!(three.len(), 1);
        assert_eq!(
            three[0].message,
            "tag owners form a cycle: tag:c → tag:a → tag:b → tag:c (each tag owned by the next)"
        );
        let own = cycles(r#"{"tagOwners": {"tag:a": ["group:x", "tag:a"]}}"#);
        assert_eq!(own.len(), 1);
        assert_eq!(own[0].message, "tag:a owns itself");
        // With other owners listed, devices carrying the tag can tag new ones with it:
        // the help says so, not that only such a device could apply it.
        let help = own[0].help.as_deref().unwrap();
        assert!(
            help.starts_with("devices carrying tag:a can tag new devices with it, besides its other owners (group:x)"),
            "{help}"
        );
        let alone = cycles(r#"{"tagOwners": {"tag:ci": ["tag:ci"]}}"#);
        assert!(
            alone[0]
                .help
                .as_deref()
                .unwrap()
                .starts_with("besides admins"),
            "{alone:?}"
        );
        let with_others =
            cycles(r#"{"tagOwners": {"tag:ci": ["tag:iac", "tag:ci"], "tag:iac": []}}"#);
        assert!(
            with_others[0]
                .help
                .as_deref()
                .unwrap()
                .contains("other owners (tag:iac)"),
            "{with_others:?}"
        );
        // Two cycles sharing nothing: two findings.
        let both = cycles(
            r#"{"tagOwners": {"tag:a": ["tag:b"], "tag:b": ["tag:a"], "tag:c": ["tag:c"]}}"#,
        );
        assert_eq!(both.len(), 2);
    }

    #[test]
    fn owner_chains_without_a_cycle_are_quiet() {
        assert!(
            cycles(
                r#"{"tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"], "tag:web": ["tag:k8s-operator", "tag:k8s"], "tag:x": ["tag:undefined"]}}"#
            )
            .is_empty()
        );
    }
}
