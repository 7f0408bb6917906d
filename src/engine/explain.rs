//! `explain`: who can reach a target, on which ports, through which rule; and why (or why
//! not) one source can. Answers are symbolic (principals, see [`super::reach`]), so they
//! hold without an inventory; rows keep the rule and its span for `file:line` output.

use super::inventory::Inventory;
use super::reach::{
    Principal, Roles, Side, contains, entries, entry_reaches, reachable, sources_include,
};
use super::rules::Origin;
use crate::model::{Policy, PortRange, Protocol, Selector};
use crate::suggest::did_you_mean;
use crate::syntax::Span;
use serde::Serialize;

/// A target or source named on the command line, resolved.
#[derive(Clone, Debug)]
pub struct Named {
    /// What the user typed, normalised (`tag:redis`, `alice@example.com`).
    pub name: String,
    /// What kind of name it is.
    pub kind: &'static str,
    pub principals: Vec<Principal>,
}

/// Resolve a name: a tag, user, group, host alias, IP or CIDR, or an inventory device.
pub fn resolve_name(
    policy: &Policy,
    inventory: Option<&Inventory>,
    name: &str,
) -> Result<Named, String> {
    resolve_name_with(policy, inventory, &[], name)
}

/// [`resolve_name`], where `aliases` (names another layer defines, such as the intents'
/// devices and services) come after inventory devices and before the policy's selectors,
/// and are among the names "did you mean" offers.
pub fn resolve_name_with(
    policy: &Policy,
    inventory: Option<&Inventory>,
    aliases: &[Named],
    name: &str,
) -> Result<Named, String> {
    let text = name.trim();
    if let Some(inv) = inventory
        && let Some(d) = inv.device(text)
    {
        let principal = match d.owner() {
            Some(o) => Principal::User(o.to_string()),
            None => {
                let mut t = d.tags.clone();
                t.sort();
                Principal::Tags(t)
            }
        };
        return Ok(Named {
            name: d.hostname.clone(),
            kind: "device",
            principals: vec![principal],
        });
    }
    if let Some(alias) = aliases.iter().find(|a| a.name == text) {
        return Ok(alias.clone());
    }
    let unknown = |what: &str| {
        let mut names: Vec<&str> = aliases.iter().map(|a| a.name.as_str()).collect();
        names.extend(policy.tag_owners.iter().map(|t| t.tag.value.as_str()));
        names.extend(policy.groups.iter().map(|g| g.name.value.as_str()));
        names.extend(policy.hosts.iter().map(|h| h.name.value.as_str()));
        if let Some(inv) = inventory {
            names.extend(inv.devices.iter().map(|d| d.hostname.as_str()));
        }
        let hint = did_you_mean(text, names.iter().copied())
            .map(|s| format!("; did you mean {s:?}?"))
            .unwrap_or_default();
        format!("{what} {text:?}{hint}")
    };
    match Selector::parse(text) {
        Ok(Selector::Tag(t)) => {
            if policy.tag_owner(&t).is_none() {
                return Err(unknown("no tag named"));
            }
            Ok(Named {
                name: t.clone(),
                kind: "tag",
                principals: vec![Principal::Tags(vec![t])],
            })
        }
        Ok(Selector::User(u)) => Ok(Named {
            name: u.clone(),
            kind: "user",
            principals: vec![Principal::User(u)],
        }),
        Ok(Selector::Group(g)) => match policy.group(&g) {
            Some(def) => Ok(Named {
                name: g.clone(),
                kind: "group",
                principals: def
                    .members
                    .iter()
                    .map(|m| Principal::User(m.value.trim().to_string()))
                    .collect(),
            }),
            None => Err(unknown("no group named")),
        },
        Ok(Selector::Host(h)) => match policy.host(&h).and_then(|d| d.prefix) {
            Some(p) => Ok(Named {
                name: h.clone(),
                kind: "host",
                principals: vec![Principal::Address(super::IpSet::from_prefix(&p))],
            }),
            None if !aliases.is_empty() => Err(unknown(
                "no device or service of the intents, host alias or inventory device named",
            )),
            None => Err(unknown("no host alias or device named")),
        },
        Ok(Selector::Prefix(p)) => Ok(Named {
            name: p.to_string(),
            kind: if p.bare { "address" } else { "CIDR" },
            principals: vec![Principal::Address(super::IpSet::from_prefix(&p))],
        }),
        _ if !aliases.is_empty() => Err(unknown("no device, service or policy name")),
        _ => Err(unknown("cannot explain")),
    }
}

/// One way in: these sources, through this rule, on these ports.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub protocol: String,
    pub ports: String,
    pub sources: Vec<String>,
    pub rule: String,
    /// The rule, as a value (`None` for the default allow-all).
    #[serde(skip)]
    pub origin: Option<Origin>,
    #[serde(skip)]
    pub span: Span,
    pub destination: String,
}

fn protocol_text(p: Option<Protocol>) -> String {
    p.map_or_else(|| "any".to_string(), |p| p.to_string())
}

fn ports_text(ports: &[PortRange]) -> String {
    ports
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Every rule entry through which something reaches `target`.
pub fn inbound(policy: &Policy, roles: &Roles, target: &Named) -> Vec<Row> {
    let mut rows = Vec::new();
    if policy.acls.is_none() && policy.grants.is_none() {
        rows.push(Row {
            protocol: "any".into(),
            ports: "*".into(),
            sources: vec!["*".into()],
            rule: "the default allow-all (no acls or grants)".into(),
            origin: None,
            span: Span::default(),
            destination: "*".into(),
        });
        return rows;
    }
    for e in entries(policy) {
        let Some(sel) = &e.dst.selector else { continue };
        let is_self = matches!(
            sel,
            Selector::Autogroup(crate::model::Autogroup::SelfDevices)
        );
        let hits = target.principals.iter().any(|p| {
            if is_self {
                matches!(p, Principal::User(_)) && sources_include(policy, roles, &e, p)
            } else {
                contains(policy, roles, sel, Side::Dst, p)
            }
        });
        if !hits {
            continue;
        }
        let sources = if is_self {
            target
                .principals
                .iter()
                .filter(|p| sources_include(policy, roles, &e, p))
                .map(|p| format!("{p} (own devices)"))
                .collect()
        } else {
            e.src.iter().map(|s| s.raw.trim().to_string()).collect()
        };
        rows.push(Row {
            protocol: protocol_text(e.protocol),
            ports: ports_text(e.ports),
            sources,
            rule: e.rule.to_string(),
            origin: Some(e.rule),
            span: e.dst.span,
            destination: e.dst.raw.trim().to_string(),
        });
    }
    rows
}

/// Every rule entry through which `source` reaches something.
pub fn outbound(policy: &Policy, roles: &Roles, source: &Named) -> Vec<Row> {
    let mut rows = Vec::new();
    for e in entries(policy) {
        if !source
            .principals
            .iter()
            .any(|p| sources_include(policy, roles, &e, p))
        {
            continue;
        }
        rows.push(Row {
            protocol: protocol_text(e.protocol),
            ports: ports_text(e.ports),
            sources: vec![source.name.clone()],
            rule: e.rule.to_string(),
            origin: Some(e.rule),
            span: e.dst.span,
            destination: e.dst.raw.trim().to_string(),
        });
    }
    rows
}

/// Principals the policy names (users, tags) that cannot reach `target` on any port.
pub fn cannot_reach(policy: &Policy, roles: &Roles, target: &Named) -> Vec<String> {
    let mut candidates: Vec<Principal> = policy
        .tag_owners
        .iter()
        .map(|t| Principal::Tags(vec![t.tag.value.clone()]))
        .collect();
    let mut users: Vec<String> = policy
        .groups
        .iter()
        .flat_map(|g| g.members.iter().map(|m| m.value.trim().to_string()))
        .collect();
    users.sort();
    users.dedup();
    candidates.extend(users.into_iter().map(Principal::User));
    if policy.acls.is_none() && policy.grants.is_none() {
        return Vec::new(); // The default policy lets everyone reach everything.
    }
    let all = entries(policy);
    candidates
        .into_iter()
        .filter(|c| !target.principals.contains(c))
        .filter(|c| {
            !all.iter().any(|e| {
                sources_include(policy, roles, e, c)
                    && target
                        .principals
                        .iter()
                        .any(|t| entry_reaches(policy, roles, e, c, t))
            })
        })
        .map(|c| c.to_string())
        .collect()
}

/// A rule that comes close to allowing a denied flow.
#[derive(Clone, Debug, Serialize)]
pub struct Near {
    /// `grants[3]`.
    pub rule: String,
    #[serde(skip)]
    pub origin: Origin,
    /// The rule's span.
    #[serde(skip)]
    pub span: Span,
    /// What it lacks: "its sources (tag:panda) do not include tag:clanker".
    pub lacks: String,
}

/// The answer to "can `from` reach `to` on `port`", with the reasons.
#[derive(Clone, Debug, Serialize)]
pub struct Why {
    pub allowed: bool,
    pub protocol: String,
    pub port: u16,
    /// Rules that allow it (when allowed).
    pub through: Vec<Row>,
    /// When denied: the nearest rules and what each lacks, each rule once.
    pub nearest: Vec<Near>,
}

pub fn why(policy: &Policy, roles: &Roles, from: &Named, to: &Named, proto: u8, port: u16) -> Why {
    let mut through = Vec::new();
    for f in &from.principals {
        for t in &to.principals {
            for g in reachable(policy, roles, f, t, proto, port) {
                through.push(Row {
                    protocol: protocol_text(g.protocol),
                    ports: ports_text(&g.ports),
                    sources: g.via_sources.clone(),
                    rule: g.rule.clone(),
                    origin: g.origin,
                    span: g.entry_span,
                    destination: g.dst.clone(),
                });
            }
        }
    }
    // Each rule once, though several of its entries (or principals) may allow the flow.
    let mut seen: Vec<String> = Vec::new();
    through.retain(|r| {
        let first = !seen.contains(&r.rule);
        seen.push(r.rule.clone());
        first
    });
    let mut nearest: Vec<(Origin, Span, Lack)> = Vec::new();
    if through.is_empty() {
        for e in entries(policy) {
            let src_ok = from
                .principals
                .iter()
                .any(|f| sources_include(policy, roles, &e, f));
            let dst_ok = from.principals.iter().any(|f| {
                to.principals
                    .iter()
                    .any(|t| entry_reaches(policy, roles, &e, f, t))
            });
            let lack = match (src_ok, dst_ok) {
                (false, false) => continue, // Shares neither: not near.
                (false, true) => Lack::Source(
                    e.src
                        .iter()
                        .map(|s| s.raw.trim())
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                (true, false) => Lack::Destination(e.dst.raw.trim().to_string()),
                (true, true) if !e.ports.iter().any(|p| p.contains(port)) => Lack::Port {
                    ports: vec![ports_text(e.ports)],
                    dst: e.dst.raw.trim().to_string(),
                },
                (true, true) => Lack::Protocol(protocol_text(e.protocol)),
            };
            // A rule once, at its nearest entry; the ports of its entries together.
            match nearest.iter_mut().find(|(o, _, _)| *o == e.rule) {
                None => nearest.push((e.rule, e.rule_span, lack)),
                Some((_, _, found)) => match (found, lack) {
                    (Lack::Port { ports, .. }, Lack::Port { ports: more, .. }) => {
                        for p in more {
                            if !ports.contains(&p) {
                                ports.push(p);
                            }
                        }
                    }
                    (found, lack) if lack.rank() < found.rank() => *found = lack,
                    _ => {}
                },
            }
        }
        nearest.sort_by_key(|(_, _, lack)| lack.rank());
        // Rules that take the source elsewhere matter only when none opens the
        // destination at all.
        if nearest.first().is_some_and(|(_, _, lack)| lack.rank() < 3) {
            nearest.retain(|(_, _, lack)| lack.rank() < 3);
        }
        nearest.truncate(5);
    }
    let nearest: Vec<Near> = nearest
        .into_iter()
        .map(|(origin, span, lack)| Near {
            rule: origin.to_string(),
            origin,
            span,
            lacks: lack.text(&from.name, &to.name, port, proto),
        })
        .collect();
    Why {
        allowed: !through.is_empty(),
        protocol: Protocol(proto).to_string(),
        port,
        through,
        nearest,
    }
}

/// What a near rule lacks to allow the flow.
enum Lack {
    /// It opens the destination to these sources, not this one.
    Source(String),
    /// It takes in the source but reaches this destination instead.
    Destination(String),
    /// Source and destination, but these ports.
    Port { ports: Vec<String>, dst: String },
    /// Source, destination and port, but this protocol.
    Protocol(String),
}

impl Lack {
    /// Nearest first: a rule that shares source, destination and port, then source and
    /// destination, then one that opens the destination to others, then one that takes
    /// the source elsewhere.
    fn rank(&self) -> u8 {
        match self {
            Lack::Protocol(_) => 0,
            Lack::Port { .. } => 1,
            Lack::Source(_) => 2,
            Lack::Destination(_) => 3,
        }
    }

    fn text(&self, from: &str, to: &str, port: u16, proto: u8) -> String {
        match self {
            Lack::Source(sources) => format!("its sources ({sources}) do not include {from}"),
            Lack::Destination(dst) => format!("it reaches {dst}, not {to}"),
            Lack::Port { ports, dst } => {
                format!("it allows port(s) {} on {dst}, not {port}", ports.join(","))
            }
            Lack::Protocol(p) => format!("it allows protocol {p}, not {}", Protocol(proto)),
        }
    }
}
