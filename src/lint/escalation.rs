//! TSA240: a broad owner of a tag can gain the tag's wider access (Tailsnitch's ACL-006,
//! decided exactly on the access model): `autogroup:member`, `user:*@domain` or a group of
//! [`LARGE_GROUP`] users or more owns a tag that reaches a destination, protocol and port
//! that one of those users cannot reach themselves. Replaces TSA212 (every member may
//! apply a tag) where it reports, being its exact form.

use crate::diagnostics::{Diagnostic, FileId, Location};
use crate::engine::Inventory;
use crate::engine::access::{AccessModel, Dst, Id};
use crate::engine::reach::{self, Access, Principal, Roles, Side};
use crate::model::{Autogroup, Policy, Protocol, Sel, Selector};
use crate::rules::Code;
use rustc_hash::FxHashMap;

/// From this many users a group owning a tag counts as a broad source.
pub const LARGE_GROUP: usize = 10;

/// Whether `owner` is a broad source.
fn broad(policy: &Policy, owner: &Sel) -> bool {
    match &owner.selector {
        Some(Selector::Autogroup(Autogroup::Member | Autogroup::Members)) => true,
        Some(Selector::UserDomain(_)) => true,
        Some(Selector::Group(g)) => policy
            .group(g)
            .is_some_and(|g| g.members.len() >= LARGE_GROUP),
        _ => false,
    }
}

/// The first protocol and port of `access`, as `tcp:22`.
fn first_port(access: &Access) -> String {
    access
        .iter()
        .find_map(|(proto, ranges)| {
            let (lo, hi) = ranges.first()?;
            let ports = if lo == hi {
                lo.to_string()
            } else if (*lo, *hi) == (0, u16::MAX) {
                "*".to_string()
            } else {
                format!("{lo}-{hi}")
            };
            Some(format!("{}:{ports}", Protocol(*proto)))
        })
        .unwrap_or_default()
}

/// See the module documentation: finds TSA240 and drops the TSA212 findings it replaces.
pub fn tag_owner_escalation(
    policy: &Policy,
    file: FileId,
    inventory: Option<&Inventory>,
    diags: &mut Vec<Diagnostic>,
) {
    let found = escalations(policy, file, inventory, &operator_owned(diags));
    apply(found, diags);
}

/// Where TSA127 reports the operator's tag owner (TSA240 leaves those to it).
pub fn operator_owned(diags: &[Diagnostic]) -> Vec<Location> {
    diags
        .iter()
        .filter(|d| d.code == Code::OperatorTagOwner)
        .map(|d| d.primary)
        .collect()
}

/// Adds TSA240 findings to `diags`, dropping the TSA212 findings at the same owners (TSA240
/// is their exact form).
pub fn apply(found: Vec<Diagnostic>, diags: &mut Vec<Diagnostic>) {
    let reported: Vec<Location> = found.iter().map(|d| d.primary).collect();
    diags.retain(|d| !(d.code == Code::BroadTagOwner && reported.contains(&d.primary)));
    diags.extend(found);
}

/// The TSA240 findings, owners at `operator_owned` aside; [`apply`] adds them. Apart so
/// that `check` can run it beside the redundancy audit: it reads only the policy.
pub fn escalations(
    policy: &Policy,
    file: FileId,
    inventory: Option<&Inventory>,
    operator_owned: &[Location],
) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let owners: Vec<(&str, &Sel)> = policy
        .tag_owners
        .iter()
        .flat_map(|t| {
            t.owners
                .iter()
                .filter(|o| broad(policy, o))
                .map(move |o| (t.tag.value.as_str(), o))
        })
        .collect();
    if owners.is_empty() || (policy.acls.is_none() && policy.grants.is_none()) {
        return diags; // Nothing broad owns a tag, or everyone reaches everything anyway.
    }
    let roles = Roles::of(inventory);
    let model: AccessModel = crate::engine::explain::model(policy, &roles, &[]);
    let at = |o: &Sel| Location { file, span: o.span };
    // The entries each owned tag is a source of, found through the distinct source sets
    // (a pass over every entry per tag would cost tags × entries).
    let mut tags: Vec<Id> = owners
        .iter()
        .filter_map(|(tag, _)| model.id(&Principal::Tags(vec![tag.to_string()])))
        .collect();
    tags.sort_unstable();
    tags.dedup();
    let mut is_owned_tag = vec![false; model.principals().len()];
    for &t in &tags {
        is_owned_tag[t as usize] = true;
    }
    let mut tags_in: FxHashMap<u32, Vec<Id>> = FxHashMap::default();
    let mut entries_of: FxHashMap<Id, Vec<usize>> = FxHashMap::default();
    for e in 0..model.entries().len() {
        if !matches!(model.destination(e), Dst::Set(_)) {
            continue;
        }
        for &part in model.source_sets(e) {
            // The owned tags among a set's members, walking whichever list is shorter
            // (thousands of distinct sets in a large policy, and as many owned tags).
            let found = tags_in.entry(part).or_insert_with(|| {
                let members = model.set(part);
                if members.len() < tags.len() {
                    members
                        .iter()
                        .copied()
                        .filter(|&m| is_owned_tag[m as usize])
                        .collect()
                } else {
                    tags.iter()
                        .copied()
                        .filter(|t| members.binary_search(t).is_ok())
                        .collect()
                }
            });
            for &t in found.iter() {
                let list = entries_of.entry(t).or_default();
                if list.last() != Some(&e) {
                    list.push(e);
                }
            }
        }
    }
    let mut scanned: std::collections::HashMap<Selector, Vec<Id>> = Default::default();
    // An owner's users, the unnamed member first (what any member gets).
    let unnamed_first = |users: &mut Vec<Id>| {
        users.sort_by_key(|&u| {
            !matches!(model.principal(u),
                Principal::User(login) if login == crate::engine::diff::ANY_OTHER_MEMBER)
        })
    };
    for (tag, owner) in owners {
        let location = at(owner);
        if operator_owned.contains(&location) {
            continue; // The operator's tag: TSA127 says it.
        }
        let Some(t) = model.id(&Principal::Tags(vec![tag.to_string()])) else {
            continue;
        };
        // What the tag reaches, per destination (`model.access(t, d)` for each, in one
        // pass over the tag's entries rather than over each destination's).
        let mut reached: FxHashMap<Id, Access> = FxHashMap::default();
        for &e in entries_of.get(&t).map(Vec::as_slice).unwrap_or_default() {
            if let Dst::Set(set) = model.destination(e) {
                for &d in model.set(set).iter().filter(|&&d| d != t) {
                    model.entries()[e].add_access(reached.entry(d).or_default());
                }
            }
        }
        let mut reach: Vec<(Id, Access)> =
            reached.into_iter().filter(|(_, a)| !a.is_empty()).collect();
        if reach.is_empty() {
            continue;
        }
        reach.sort_unstable_by_key(|(d, _)| *d);
        let Some(sel) = &owner.selector else { continue };
        // A selector other than a group (`autogroup:member`, say) is found by asking every
        // principal once, and its users are kept in order: many tags may share the owner.
        let users: std::borrow::Cow<[Id]> = match sel {
            Selector::Group(g) => {
                let mut users = crate::engine::structural::group_logins(policy, g)
                    .filter_map(|m| model.id(&Principal::User(m.to_string())))
                    .collect();
                unnamed_first(&mut users);
                users.into()
            }
            _ => scanned
                .entry(sel.clone())
                .or_insert_with(|| {
                    let mut users = (0..model.principals().len() as Id)
                        .filter(|&i| {
                            matches!(model.principal(i), Principal::User(_))
                                && reach::contains(
                                    policy,
                                    &roles,
                                    sel,
                                    Side::Src,
                                    model.principal(i),
                                )
                        })
                        .collect();
                    unnamed_first(&mut users);
                    users
                })
                .as_slice()
                .into(),
        };
        let witness = users.iter().find_map(|&u| {
            reach.iter().find_map(|(d, access)| {
                if *d == u {
                    return None; // Their own devices.
                }
                let gained = reach::minus(access, &model.access(u, *d));
                (!gained.is_empty()).then(|| (u, *d, first_port(&gained)))
            })
        });
        let Some((user, dst, port)) = witness else {
            continue;
        };
        let owner_text = owner.raw.trim();
        diags.push(
            Diagnostic::new(
                Code::TagOwnerEscalation,
                location,
                format!(
                    "{owner_text} owns {tag}, which reaches {} on {port}; {} cannot, but may tag a device it controls {tag} and gain it",
                    model.principal(dst),
                    model.principal(user)
                ),
            )
            .with_help(format!(
                "let a small group, or the tag of the machine that creates these devices, own {tag}; `tsacl blast {tag}` shows everything it gives"
            )),
        );
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<Diagnostic> {
        let policy = crate::model::from_text(text);
        let mut diags = Vec::new();
        crate::lint::run(&policy, FileId::default(), None, true, &mut diags);
        diags
            .into_iter()
            .filter(|d| matches!(d.code, Code::TagOwnerEscalation | Code::BroadTagOwner))
            .collect()
    }

    #[test]
    fn a_member_owned_tag_reaching_more_than_members_is_reported() {
        let d = found(
            r#"{
              "tagOwners": {"tag:deploy": ["autogroup:member"], "tag:prod": []},
              "grants": [
                {"src": ["tag:deploy"], "dst": ["tag:prod"], "ip": ["tcp:22"]},
                {"src": ["autogroup:member"], "dst": ["tag:deploy"], "ip": ["tcp:443"]}
              ]
            }"#,
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].code, Code::TagOwnerEscalation, "replaces TSA212");
        assert!(
            d[0].message.contains("tag:prod on tcp:22"),
            "{}",
            d[0].message
        );
    }

    #[test]
    fn a_large_group_is_broad_and_a_small_one_is_not() {
        let members: Vec<String> = (0..LARGE_GROUP)
            .map(|i| format!("\"u{i}@example.com\""))
            .collect();
        let policy = |members: &[String]| {
            format!(
                r#"{{
                  "groups": {{"group:eng": [{}]}},
                  "tagOwners": {{"tag:ci": ["group:eng"], "tag:prod": []}},
                  "grants": [{{"src": ["tag:ci"], "dst": ["tag:prod"], "ip": ["tcp:22"]}}]
                }}"#,
                members.join(", ")
            )
        };
        let d = found(&policy(&members));
        assert_eq!(d.len(), 1);
        assert!(d[0].message.contains("group:eng owns tag:ci"));
        assert!(found(&policy(&members[..3])).is_empty());
    }

    #[test]
    fn no_finding_when_the_owners_reach_as_much() {
        // Members already reach what the tag reaches: tagging gains nothing.
        let d = found(
            r#"{
              "tagOwners": {"tag:dev": ["autogroup:member"], "tag:prod": []},
              "grants": [
                {"src": ["tag:dev", "autogroup:member"], "dst": ["tag:prod"], "ip": ["tcp:22"]}
              ]
            }"#,
        );
        assert!(
            d.iter().all(|d| d.code != Code::TagOwnerEscalation),
            "{d:?}"
        );
        // A tag that reaches nothing keeps the generic TSA212 only.
        let d = found(r#"{"tagOwners": {"tag:dev": ["autogroup:member"]}, "grants": []}"#);
        assert_eq!(
            d.iter().map(|d| d.code).collect::<Vec<_>>(),
            [Code::BroadTagOwner]
        );
    }
}
