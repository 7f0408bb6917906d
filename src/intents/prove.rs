//! Proof that reachability equals the intents: for every service and port, the
//! principals that can reach it in the final policy (base rules included) are exactly
//! those its `from` names. Decided symbolically (see `engine::reach`), so it holds for
//! any devices the tailnet may have.

use super::Intents;
use super::compile::{Compiled, RuleOrigin, selectors_for};
use crate::diagnostics::{Diagnostic, FileId, Label, Location};
use crate::engine::reach::{
    EntryView, Principal, Roles, Side, contains, entries, grants_through, reachable,
};
use crate::engine::rules::Origin;
use crate::model::{Policy, Selector};
use crate::rules::Code;

/// Where the compiled policy's rules point: the base file (when there is one).
pub struct Files {
    pub intents: FileId,
    pub base: Option<FileId>,
    pub output: FileId,
}

/// Every principal worth asking about: each device of the intents, each group member and
/// user named, each tag, and one stand-in for any other member.
fn universe(intents: &Intents, policy: &Policy) -> Vec<(Principal, String)> {
    let mut out: Vec<(Principal, String)> = Vec::new();
    let mut push = |p: Principal, name: String| {
        if !out.iter().any(|(q, _)| *q == p) {
            out.push((p, name));
        }
    };
    for d in &intents.devices {
        let p = device_principal(intents, &d.name.value);
        push(p, d.name.value.clone());
    }
    for g in &policy.groups {
        for m in &g.members {
            push(
                Principal::User(m.value.trim().to_string()),
                m.value.trim().to_string(),
            );
        }
    }
    for t in &policy.tag_owners {
        push(
            Principal::Tags(vec![t.tag.value.clone()]),
            t.tag.value.clone(),
        );
    }
    push(
        Principal::User(crate::engine::diff::ANY_OTHER_MEMBER.into()),
        crate::engine::diff::ANY_OTHER_MEMBER.into(),
    );
    out
}

fn device_principal(intents: &Intents, name: &str) -> Principal {
    let d = intents.device(name).expect("a device of the intents");
    if !d.tags.is_empty() {
        let mut t: Vec<String> = d.tags.iter().map(|t| t.value.clone()).collect();
        t.sort();
        return Principal::Tags(t);
    }
    if let Some(u) = &d.user {
        return Principal::User(u.value.clone());
    }
    let ip =
        d.ip.as_ref()
            .and_then(|ip| crate::model::Prefix::parse(&ip.value));
    Principal::Address(
        ip.map(|p| crate::engine::IpSet::from_prefix(&p))
            .unwrap_or_default(),
    )
}

/// Does a `from` entry take in this principal?
fn allows(intents: &Intents, policy: &Policy, from: &str, p: &Principal) -> bool {
    if intents.device(from.trim()).is_some() {
        return device_principal(intents, from.trim()) == *p;
    }
    selectors_for(intents, from).iter().any(|s| {
        Selector::parse(s).is_ok_and(|sel| {
            crate::engine::reach::contains(
                policy,
                &Roles(None),
                &sel,
                crate::engine::reach::Side::Src,
                p,
            )
        })
    })
}

/// Report every extra or missing principal, per service and port.
pub fn prove(
    intents: &Intents,
    policy: &Policy,
    compiled: &Compiled,
    files: &Files,
    diags: &mut Vec<Diagnostic>,
) {
    let roles = Roles(None);
    let everyone = universe(intents, policy);
    let default_allow = policy.acls.is_none() && policy.grants.is_none();
    let all = entries(policy);
    for svc in &intents.services {
        let target = Principal::Tags(vec![svc.tag.clone()]);
        // Only the entries whose destination takes in this service matter: a service's
        // tag is never `autogroup:self`, so that does not depend on the source.
        let relevant: Vec<&EntryView> = all
            .iter()
            .filter(|e| {
                e.dst
                    .selector
                    .as_ref()
                    .is_some_and(|sel| contains(policy, &roles, sel, Side::Dst, &target))
            })
            .collect();
        // What `from` takes in, resolved once per service: devices by their principal,
        // everything else by selector.
        let mut from_devices: Vec<Principal> = Vec::new();
        let mut from_selectors: Vec<Selector> = Vec::new();
        for f in &svc.from {
            if intents.device(f.value.trim()).is_some() {
                from_devices.push(device_principal(intents, f.value.trim()));
            } else {
                from_selectors.extend(
                    selectors_for(intents, &f.value)
                        .iter()
                        .filter_map(|s| Selector::parse(s).ok()),
                );
            }
        }
        let intended_for = |p: &Principal| {
            from_devices.contains(p)
                || from_selectors
                    .iter()
                    .any(|sel| contains(policy, &roles, sel, Side::Src, p))
        };
        for port in &svc.ports {
            for (p, name) in &everyone {
                if *p == target {
                    continue;
                }
                let (proto, first) = (port.protocol.0, port.range.first);
                let ways = if default_allow {
                    reachable(policy, &roles, p, &target, proto, first)
                } else {
                    grants_through(policy, &roles, &relevant, p, proto, first)
                };
                let intended = intended_for(p);
                let shown = describe(intents, p, name);
                if !ways.is_empty() && !intended {
                    let way = &ways[0];
                    let (location, where_) =
                        rule_location(compiled, files, way.origin, way.entry_span);
                    let mut d = Diagnostic::new(
                        Code::ExtraAccess,
                        location,
                        format!(
                            "{shown} can reach {} on {} {} but the intents do not allow it",
                            svc.name.value, port.protocol, port.range.first
                        ),
                    );
                    let rule = if where_ == "in the base policy" {
                        "this rule".to_string()
                    } else {
                        way.rule.clone()
                    };
                    d.primary_label = Some(format!("{rule} opens the way ({where_})"));
                    d.labels.push(Label {
                        location: Location {
                            file: files.intents,
                            span: svc.name.span,
                        },
                        message: format!(
                            "{} is only for: {}",
                            svc.name.value,
                            svc.from
                                .iter()
                                .map(|f| f.value.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                    d.help = Some(format!(
                        "narrow {rule} so it does not include {shown}, or add it to `from`"
                    ));
                    diags.push(d);
                } else if ways.is_empty() && intended {
                    let at = svc
                        .from
                        .iter()
                        .find(|f| allows(intents, policy, &f.value, p))
                        .map_or(svc.name.span, |f| f.span);
                    diags.push(Diagnostic::new(
                        Code::MissingAccess,
                        Location { file: files.intents, span: at },
                        format!(
                            "{shown} may reach {} on {} {} by the intents, but the policy does not allow it",
                            svc.name.value, port.protocol, port.range.first
                        ),
                    ));
                }
            }
        }
    }
}

fn describe(intents: &Intents, p: &Principal, name: &str) -> String {
    match p {
        Principal::User(u) => {
            let devices: Vec<&str> = intents
                .devices
                .iter()
                .filter(|d| d.tags.is_empty() && d.user.as_ref().is_some_and(|x| &x.value == u))
                .map(|d| d.name.value.as_str())
                .collect();
            if devices.is_empty() {
                u.clone()
            } else {
                format!("{} ({u})", devices.join(", "))
            }
        }
        _ => name.to_string(),
    }
}

/// Where a rule of the compiled policy was written: in the base file, or (for generated
/// rules) in the output.
fn rule_location(
    compiled: &Compiled,
    files: &Files,
    origin: Option<Origin>,
    entry: crate::syntax::Span,
) -> (Location, String) {
    let mapped = match origin {
        Some(Origin::Grant(i)) => compiled.grant_origins.get(i),
        Some(Origin::Acl(i)) => compiled.acl_origins.get(i),
        _ => None,
    };
    match (mapped, files.base) {
        (Some(RuleOrigin::Base(span)), Some(base)) => (
            Location {
                file: base,
                span: *span,
            },
            "in the base policy".into(),
        ),
        _ => (
            Location {
                file: files.output,
                span: entry,
            },
            "in the compiled policy".into(),
        ),
    }
}
