//! `explain`: who can reach a target, on which ports, through which rule; and why (or why
//! not) one source can. Answers are symbolic (principals, see [`super::reach`]), so they
//! hold without an inventory; rows keep the rule and its span for `file:line` output.

use super::access::{AccessModel, Dst, Id};
use super::inventory::Inventory;
use super::reach::{EntryView, Principal, Roles, grants_through, reachable};
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
        // A group the policy defines, or one the identity provider syncs that it names.
        Ok(Selector::Group(g))
            if policy.group(&g).is_some() || super::structural::idp_groups(policy).contains(&g) =>
        {
            Ok(Named {
                principals: super::structural::group_logins(policy, &g)
                    .map(|m| Principal::User(m.to_string()))
                    .collect(),
                name: g,
                kind: "group",
            })
        }
        Ok(Selector::Group(_)) => Err(unknown("no group named")),
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

/// The access model `explain` answers from: over every principal the policy names (see
/// [`super::diff::named_principals`]) and the names asked about.
pub fn model<'p>(policy: &'p Policy, roles: &Roles, names: &[&Named]) -> AccessModel<'p> {
    let mut principals = super::diff::named_principals(&[policy]);
    for n in names {
        principals.extend(n.principals.iter().cloned());
    }
    AccessModel::new(policy, roles, principals)
}

/// The default allow-all, as a row.
fn allow_all_row() -> Row {
    Row {
        protocol: "any".into(),
        ports: "*".into(),
        sources: vec!["*".into()],
        rule: "the default allow-all (no acls or grants)".into(),
        origin: None,
        span: Span::default(),
        destination: "*".into(),
    }
}

fn ids(model: &AccessModel, named: &Named) -> Vec<Id> {
    named
        .principals
        .iter()
        .filter_map(|p| model.id(p))
        .collect()
}

fn row(e: &EntryView, sources: Vec<String>) -> Row {
    Row {
        protocol: protocol_text(e.protocol),
        ports: ports_text(e.ports),
        sources,
        rule: e.rule.to_string(),
        origin: Some(e.rule),
        span: e.dst.span,
        destination: e.dst.raw.trim().to_string(),
    }
}

/// Every rule entry through which something reaches `target` (which `model` must have
/// been built with), in policy order.
pub fn inbound(model: &AccessModel, target: &Named) -> Vec<Row> {
    if model.allows_all() {
        return vec![allow_all_row()];
    }
    let mut hits: Vec<u32> = ids(model, target)
        .into_iter()
        .flat_map(|t| model.reaching(t).iter().copied())
        .collect();
    hits.sort_unstable();
    hits.dedup();
    hits.into_iter()
        .map(|e| {
            let e = e as usize;
            let entry = &model.entries()[e];
            let sources = if model.destination(e) == Dst::OwnDevices {
                target
                    .principals
                    .iter()
                    .filter(|p| model.id(p).is_some_and(|id| model.sources_include(e, id)))
                    .map(|p| format!("{p} (own devices)"))
                    .collect()
            } else {
                entry.src.iter().map(|s| s.raw.trim().to_string()).collect()
            };
            row(entry, sources)
        })
        .collect()
}

/// Every rule entry through which `source` reaches something.
pub fn outbound(model: &AccessModel, source: &Named) -> Vec<Row> {
    let from = ids(model, source);
    model
        .entries()
        .iter()
        .enumerate()
        .filter(|(e, _)| from.iter().any(|&f| model.sources_include(*e, f)))
        .map(|(_, entry)| row(entry, vec![source.name.clone()]))
        .collect()
}

/// Principals the policy names (tags it owns, users of its groups) that cannot reach
/// `target` on any port.
pub fn cannot_reach(model: &AccessModel, target: &Named) -> Vec<String> {
    if model.allows_all() {
        return Vec::new(); // The default policy lets everyone reach everything.
    }
    let policy = model.policy();
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
    // The sources of every entry that reaches the target; `autogroup:self` reaches it
    // only from itself, which is not a candidate.
    let mut reached = vec![false; model.principals().len()];
    for t in ids(model, target) {
        for &e in model.reaching(t) {
            if model.destination(e as usize) != Dst::OwnDevices {
                for s in model.sources(e as usize) {
                    reached[s as usize] = true;
                }
            }
        }
    }
    candidates
        .into_iter()
        .filter(|c| !target.principals.contains(c))
        .filter(|c| !model.id(c).is_some_and(|id| reached[id as usize]))
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

/// Can `from` reach `to` on `proto`/`port` (both named when `model` was built), and
/// through which rules; or, when not, which rules come nearest and what each lacks.
pub fn why(
    model: &AccessModel,
    roles: &Roles,
    from: &Named,
    to: &Named,
    proto: u8,
    port: u16,
) -> Why {
    let policy = model.policy();
    let (from_ids, to_ids) = (ids(model, from), ids(model, to));
    let mut through = Vec::new();
    for f in &from.principals {
        let Some(fid) = model.id(f) else { continue };
        for &tid in &to_ids {
            let grants = if model.allows_all() {
                reachable(policy, roles, f, model.principal(tid), proto, port)
            } else {
                let entries: Vec<&EntryView> = model
                    .entries_between(fid, tid)
                    .map(|e| &model.entries()[e])
                    .collect();
                grants_through(policy, roles, &entries, f, proto, port)
            };
            for g in grants {
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
    let mut seen: std::collections::HashSet<String> = Default::default();
    through.retain(|r| seen.insert(r.rule.clone()));
    let mut nearest: Vec<(Origin, Span, Lack)> = Vec::new();
    if through.is_empty() {
        let mut at: rustc_hash::FxHashMap<Origin, usize> = Default::default();
        for (i, e) in model.entries().iter().enumerate() {
            let src_ok = from_ids.iter().any(|&f| model.sources_include(i, f));
            let dst_ok = from_ids
                .iter()
                .any(|&f| to_ids.iter().any(|&t| model.leads(i, f, t)));
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
            match at.get(&e.rule) {
                None => {
                    at.insert(e.rule, nearest.len());
                    nearest.push((e.rule, e.rule_span, lack));
                }
                Some(&k) => match (&mut nearest[k].2, lack) {
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
