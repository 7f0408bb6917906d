//! Attack paths and blast radius (analysis-design §6.8): who can *become* whom, and so
//! reach what, in a few hops.
//!
//! The graph is over the principals of an [`AccessModel`] (a user's devices, a device
//! with a set of tags, an address) plus the internet. Its "becomes" links, each with its
//! [`Kind`], the rule that creates it and a one-line reason:
//!
//! - **Tailscale SSH**: an `ssh` rule lets A log in to B *and* some rule opens tcp:22
//!   from A to B. One link per (SSH rule, rule entry opening tcp:22), from the principals
//!   both take in as sources to those both take in as destinations, so the pairs of all
//!   links are exactly the pairs for which both hold. An SSH rule without port-22 access
//!   creates nothing ([`Graph::ssh_without_port_22`] lists them).
//! - **Administrative ports** ([`ADMIN_PORTS`], adjustable): network access to one of
//!   them *may* make A into B (a shell, RDP, WinRM, Docker, the kubelet, the API server).
//! - **Kubernetes**: a `tailscale.com/cap/kubernetes` grant with impersonation through
//!   the operator's API-server proxy may control the cluster: the destination and every
//!   tag it owns (the proxies the operator creates).
//! - **Tag ownership**: a principal in `tagOwners[T]` (directly, through a group, a tag it
//!   holds, or a role autogroup) can give a device it controls tag T.
//! - **Route and exit-node approval**: an `autoApprovers` approver may advertise the
//!   route (or act as exit node) and receives the traffic others send there.
//! - **Funnel**: the internet reaches devices with the `funnel` node attribute, which
//!   may become them through what they serve.
//! - A user's own devices are one principal ([`Principal::User`]), so compromising one
//!   of them is acting as the user, and `autogroup:self` rules add no link.
//!
//! The last hop of a path may also be plain network access ("reach" links, one per rule
//! entry, filtered by the port asked about). Links go from sets of principals to a set,
//! never pair by pair, so a rule for `autogroup:member` costs its members once; a
//! breadth-first search expands each set at most once, so a query costs at most the
//! size of the graph, and shortest chains come first. Strongly connected components of
//! the "becomes" relation (principals that can become one another) are condensed with
//! petgraph ([`Graph::mutual`]).
//!
//! **Invariant** (checked against a brute-force search over concrete devices by
//! `tests/paths_property.rs`): [`Graph::paths`] and [`Graph::blast`] find exactly the
//! principals within K hops, at their shortest distance.

use super::access::{AccessModel, Dst, Id};
use super::inventory::Inventory;
use super::reach::{self, Held, Principal, Roles, Side};
use super::rules::Origin;
use crate::model::{Policy, PortRange, Protocol, Sel, Selector};
use crate::syntax::Span;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// The ports an administrator's tool listens on: access to one may give control of the
/// machine (SSH, RDP, WinRM, Docker, kubelet, Kubernetes API server).
pub const ADMIN_PORTS: &[(u16, u16)] = &[
    (22, 22),
    (3389, 3389),
    (5985, 5986),
    (2375, 2376),
    (10250, 10250),
    (6443, 6443),
];

/// The Kubernetes operator's capability for its API-server proxy.
const KUBERNETES_CAP: &str = "tailscale.com/cap/kubernetes";

/// What kind of link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Ssh,
    TagOwner,
    RouteApproval,
    ExitNodeApproval,
    Kubernetes,
    AdminPort,
    Funnel,
    /// Network access: only ever the last hop.
    Network,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ssh => "ssh",
            Kind::TagOwner => "tag-owner",
            Kind::RouteApproval => "route-approval",
            Kind::ExitNodeApproval => "exit-node-approval",
            Kind::Kubernetes => "kubernetes",
            Kind::AdminPort => "admin-port",
            Kind::Funnel => "funnel",
            Kind::Network => "network",
        }
    }

    /// Whether the link is certain ("becomes") rather than possible ("may become": it
    /// takes a weakness or a credential on the other side).
    pub fn certain(self) -> bool {
        !matches!(self, Kind::AdminPort | Kind::Kubernetes | Kind::Funnel)
    }
}

/// Where a link's rule was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cite {
    /// `ssh[0]`, `grants[2]`, `tagOwners["tag:bastion"]`.
    pub rule: String,
    /// For ACLs and grants.
    pub origin: Option<Origin>,
    /// What to point at in the policy file.
    pub span: Span,
}

/// Every member of each `from` set becomes (or reaches) every member of `to`.
pub struct Link<'p> {
    pub kind: Kind,
    /// The rule that creates the link, then any other it needs (the rule opening tcp:22
    /// for an SSH link).
    pub cites: Vec<Cite>,
    /// Protocol and ports, for network links: `tcp:22`.
    pub access: String,
    /// One line: "may log in as root over Tailscale SSH".
    pub reason: String,
    /// The selectors as written that take in the sources (to show `group:devs` rather
    /// than each of its users).
    pub written_sources: &'p [Sel],
    from: Vec<u32>,
    to: u32,
    /// For network links: the entry of the access model, to filter by port.
    entry: Option<usize>,
}

/// A port the last hop must open (`None`: any).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortQuery {
    pub proto: Option<u8>,
    pub port: Option<u16>,
}

/// See the module documentation.
pub struct Graph<'p> {
    pub model: AccessModel<'p>,
    roles: &'p Roles<'p>,
    sets: Vec<Vec<Id>>,
    links: Vec<Link<'p>>,
    /// Per principal, the sets it is in as a source, then as a destination.
    from_sets: Vec<Vec<u32>>,
    to_sets: Vec<Vec<u32>>,
    /// Per set, the links having it among their sources, and as their destination.
    links_from: Vec<Vec<u32>>,
    links_to: Vec<Vec<u32>>,
    /// The internet, as a principal.
    internet: Option<Id>,
    /// SSH rules that let someone log in but open no tcp:22 to them (rule index).
    ssh_without_port_22: Vec<usize>,
    /// Principals by user and by tag, and the members of other selectors once found.
    by_user: FxHashMap<String, Id>,
    by_tag: FxHashMap<String, Vec<Id>>,
    scanned: std::cell::RefCell<FxHashMap<(bool, Selector), Vec<Id>>>,
    /// With an inventory: each address principal in part of the tailnet's range, with
    /// the principals whose devices hold its addresses.
    held_by: Vec<(Id, Vec<Id>)>,
}

/// One hop of a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    pub from: Id,
    pub to: Id,
    pub link: u32,
}

/// A principal found by a query, with its shortest chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub principal: Id,
    /// For `paths`, from the principal to the target; for `blast`, from the source.
    pub hops: Vec<Hop>,
}

/// The principals a paths/blast model is built over: those the policy names (as
/// `explain` has them), the users its tag owners, SSH rules and approvers name, route
/// prefixes, the internet, the inventory's devices, and `extra`.
pub fn principals(
    policy: &Policy,
    inventory: Option<&Inventory>,
    extra: &[Principal],
) -> Vec<Principal> {
    let mut out = super::diff::named_principals(&[policy]);
    let note = |sel: &Sel, out: &mut Vec<Principal>| {
        if let Some(Selector::User(u)) = &sel.selector {
            out.push(Principal::User(u.clone()));
        }
    };
    for t in &policy.tag_owners {
        t.owners.iter().for_each(|s| note(s, &mut out));
    }
    for r in &policy.ssh {
        r.src.iter().chain(&r.dst).for_each(|s| note(s, &mut out));
    }
    let approvers = &policy.auto_approvers;
    for r in &approvers.routes {
        r.approvers.iter().for_each(|s| note(s, &mut out));
        if let Some(p) = r.prefix {
            out.push(Principal::Address(super::IpSet::from_prefix(&p)));
        }
    }
    approvers.exit_node.iter().for_each(|s| note(s, &mut out));
    out.push(Principal::Address(super::resolve::internet().clone()));
    if let Some(inv) = inventory {
        out.extend(inv.devices.iter().map(Principal::of_device));
    }
    out.extend(extra.iter().cloned());
    out
}

/// Whether an entry's protocol and ports admit `proto` on a port in `lo..=hi`.
fn admits_range(
    protocol: Option<Protocol>,
    ports: &[PortRange],
    proto: u8,
    lo: u16,
    hi: u16,
) -> bool {
    let proto_ok = match protocol {
        None => super::rules::Protocols::DEFAULT_NUMBERS.contains(&proto),
        Some(p) => p.0 == proto,
    };
    proto_ok && ports.iter().any(|r| r.first <= hi && lo <= r.last)
}

fn intersect(a: &[Id], b: &[Id]) -> Vec<Id> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn ports_text(protocol: Option<Protocol>, ports: &[PortRange]) -> String {
    let ports = ports
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    match protocol {
        None => ports,
        Some(p) => format!("{p}:{ports}"),
    }
}

impl<'p> Graph<'p> {
    /// The graph of `policy` over `principals` (see [`principals`]), with `admin_ports`
    /// as the ports whose access may make one principal into another, and rules written
    /// with addresses taking in the principals whose devices `held` says hold them.
    pub fn new(
        policy: &'p Policy,
        roles: &'p Roles<'p>,
        principals: Vec<Principal>,
        admin_ports: &[(u16, u16)],
        held: &Held,
    ) -> Graph<'p> {
        let internet_principal = Principal::Address(super::resolve::internet().clone());
        let model = AccessModel::new(policy, roles, principals);
        let internet = model.id(&internet_principal);
        let mut g = Graph {
            model,
            roles,
            sets: Vec::new(),
            links: Vec::new(),
            from_sets: Vec::new(),
            to_sets: Vec::new(),
            links_from: Vec::new(),
            links_to: Vec::new(),
            internet,
            ssh_without_port_22: Vec::new(),
            by_user: FxHashMap::default(),
            by_tag: FxHashMap::default(),
            scanned: Default::default(),
            held_by: Vec::new(),
        };
        for (i, p) in g.model.principals().iter().enumerate() {
            match p {
                Principal::User(u) => {
                    g.by_user.insert(u.clone(), i as Id);
                }
                Principal::Tags(ts) => {
                    for t in ts {
                        g.by_tag.entry(t.clone()).or_default().push(i as Id);
                    }
                }
                Principal::Address(_) => {}
            }
        }
        g.build(policy, admin_ports);
        g.held_address_links(held);
        g.index();
        g
    }

    /// A rule written with an address of part of the tailnet's range is about the devices
    /// holding it, which only an inventory names (`held`). With one:
    ///
    /// - becoming such a device (SSH into it, an administrative port, Funnel, the
    ///   Kubernetes proxy: whatever leads into its principal) is becoming an address of
    ///   the set, so those links lead into the address too; tag ownership does not (a
    ///   device its owner tags is another device, with another address);
    /// - network access to the address (and an administrative port there) reaches the
    ///   principals of the devices holding it: the last hop, or becoming that device;
    /// - a principal whose own device holds one of its addresses acts as the address from
    ///   the start ([`Self::paths`] lists it with the address's chains,
    ///   [`Self::with_held_addresses`] starts from it).
    ///
    /// Taking an address's rules to the whole principal instead would add a false chain
    /// through tag ownership.
    fn held_address_links(&mut self, held: &Held) {
        if !held.known() {
            return;
        }
        for (a, p) in self.model.principals().iter().enumerate() {
            let Principal::Address(set) = p else { continue };
            if !reach::in_part_of_tailnet(set) {
                continue;
            }
            let mut by: Vec<Id> = held
                .devices_in(set)
                .into_iter()
                .filter_map(|d| self.model.id(&Principal::of_device(d)))
                .collect();
            by.sort_unstable();
            by.dedup();
            if !by.is_empty() {
                self.held_by.push((a as Id, by));
            }
        }
        if self.held_by.is_empty() {
            return;
        }
        // Into the addresses first, from the links as built (into whole principals).
        let mut grown: Vec<(usize, Vec<Id>)> = Vec::new();
        for (l, link) in self.links.iter().enumerate() {
            let to = &self.sets[link.to as usize];
            let more: Vec<Id> = match link.kind {
                Kind::TagOwner | Kind::RouteApproval | Kind::ExitNodeApproval => continue,
                // Reaching an address reaches (or, on an administrative port, may take
                // over) the devices holding it.
                Kind::Network | Kind::AdminPort => self
                    .held_by
                    .iter()
                    .filter(|(a, _)| to.binary_search(a).is_ok())
                    .flat_map(|(_, by)| by.iter().copied())
                    .chain(self.held_by.iter().filter_map(|(a, by)| {
                        by.iter().any(|p| to.binary_search(p).is_ok()).then_some(*a)
                    }))
                    .collect(),
                _ => self
                    .held_by
                    .iter()
                    .filter(|(_, by)| by.iter().any(|p| to.binary_search(p).is_ok()))
                    .map(|(a, _)| *a)
                    .collect(),
            };
            let mut set = to.clone();
            set.extend(more);
            set.sort_unstable();
            set.dedup();
            if set.len() > to.len() {
                grown.push((l, set));
            }
        }
        for (l, set) in grown {
            self.links[l].to = self.add_set(set);
        }
    }

    /// `ids` and, with an inventory, the addresses of part of the tailnet's range that
    /// their devices hold: their own devices act as those addresses.
    pub fn with_held_addresses(&self, ids: &[Id]) -> Vec<Id> {
        let mut out = ids.to_vec();
        for (a, by) in &self.held_by {
            if !out.contains(a) && by.iter().any(|p| ids.contains(p)) {
                out.push(*a);
            }
        }
        out
    }

    /// `found` and, for each address found, the principals whose devices hold it, with
    /// the same chain (their own device is the address), unless found with a shorter one.
    fn with_holders(&self, mut found: Vec<Found>, targets: &[Id]) -> Vec<Found> {
        if self.held_by.is_empty() {
            return found;
        }
        let mut more = Vec::new();
        for f in &found {
            let Some((_, by)) = self.held_by.iter().find(|(a, _)| *a == f.principal) else {
                continue;
            };
            for &p in by {
                if !targets.contains(&p) {
                    more.push(Found {
                        principal: p,
                        hops: f.hops.clone(),
                    });
                }
            }
        }
        for m in more {
            match found.iter_mut().find(|f| f.principal == m.principal) {
                Some(f) if f.hops.len() <= m.hops.len() => {}
                Some(f) => *f = m,
                None => found.push(m),
            }
        }
        found.sort_by_key(|f| f.hops.len());
        found
    }

    fn add_set(&mut self, members: Vec<Id>) -> u32 {
        self.sets.push(members);
        self.sets.len() as u32 - 1
    }

    /// The principals `sel` takes in on `side`: by lookup for users, groups and tags,
    /// else by asking every principal once per distinct selector.
    fn members(&self, sel: &Sel, side: Side) -> Vec<Id> {
        let Some(selector) = &sel.selector else {
            return Vec::new();
        };
        let policy = self.model.policy();
        let mut out: Vec<Id> = match selector {
            Selector::User(u) => self.by_user.get(u.as_str()).copied().into_iter().collect(),
            Selector::Group(g) => super::structural::group_logins(policy, g)
                .filter_map(|m| self.by_user.get(m.as_ref()).copied())
                .collect(),
            Selector::Tag(t) => self.by_tag.get(t.as_str()).cloned().unwrap_or_default(),
            _ => {
                let key = (side == Side::Src, selector.clone());
                if let Some(found) = self.scanned.borrow().get(&key) {
                    return found.clone();
                }
                let found: Vec<Id> = (0..self.model.principals().len() as Id)
                    .filter(|&i| {
                        reach::contains(policy, self.roles, selector, side, self.model.principal(i))
                    })
                    .collect();
                self.scanned.borrow_mut().insert(key, found.clone());
                found
            }
        };
        out.sort_unstable();
        out.dedup();
        out
    }

    fn members_of(&self, sels: &[Sel], side: Side) -> Vec<Id> {
        let mut out: Vec<Id> = sels.iter().flat_map(|s| self.members(s, side)).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    fn build(&mut self, policy: &'p Policy, admin_ports: &[(u16, u16)]) {
        let model_sets: usize = self.model.entries().len();
        // The model's sets, copied into ours as they are used.
        let mut copied: FxHashMap<u32, u32> = FxHashMap::default();
        let mut copy = |g: &mut Graph<'p>, set: u32| -> u32 {
            *copied.entry(set).or_insert_with(|| {
                let members = g.model.set(set).to_vec();
                g.add_set(members)
            })
        };
        let everyone: Vec<Id> = (0..self.model.principals().len() as Id).collect();
        let all = self.add_set(everyone);
        // Network links: one per entry, and an admin-port link where it opens one.
        let allow_all = self.model.allows_all();
        if allow_all {
            let cite = Cite {
                rule: Origin::Default.to_string(),
                origin: Some(Origin::Default),
                span: Span::default(),
            };
            for (kind, access, reason) in [
                (
                    Kind::Network,
                    "*".to_string(),
                    "may connect on any port".to_string(),
                ),
                (
                    Kind::AdminPort,
                    "*".to_string(),
                    "may connect to its administrative ports".to_string(),
                ),
            ] {
                self.links.push(Link {
                    kind,
                    cites: vec![cite.clone()],
                    access,
                    reason,
                    written_sources: &[],
                    from: vec![all],
                    to: all,
                    entry: None,
                });
            }
        }
        for e in 0..model_sets {
            let Dst::Set(dst) = self.model.destination(e) else {
                continue; // `autogroup:self` leads a user to themselves: no new principal.
            };
            if self.model.set(dst).is_empty() || self.model.entries()[e].ports.is_empty() {
                continue;
            }
            let from: Vec<u32> = self
                .model
                .source_sets(e)
                .to_vec()
                .into_iter()
                .map(|s| copy(self, s))
                .collect();
            if from.is_empty() {
                continue;
            }
            let to = copy(self, dst);
            let entry = &self.model.entries()[e];
            let cite = Cite {
                rule: entry.rule.to_string(),
                origin: Some(entry.rule),
                span: entry.dst.span,
            };
            let access = ports_text(entry.protocol, entry.ports);
            let admin: Vec<String> = admin_ports
                .iter()
                .filter(|&&(lo, hi)| admits_range(entry.protocol, entry.ports, 6, lo, hi))
                .map(|&(lo, hi)| {
                    if lo == hi {
                        format!("tcp:{lo}")
                    } else {
                        format!("tcp:{lo}-{hi}")
                    }
                })
                .collect();
            let src = entry.src;
            if !admin.is_empty() {
                self.links.push(Link {
                    kind: Kind::AdminPort,
                    cites: vec![cite.clone()],
                    access: admin.join(","),
                    reason: format!(
                        "may take it over through an administrative port ({})",
                        admin.join(", ")
                    ),
                    written_sources: src,
                    from: from.clone(),
                    to,
                    entry: Some(e),
                });
            }
            self.links.push(Link {
                kind: Kind::Network,
                cites: vec![cite],
                access,
                reason: "may connect".to_string(),
                written_sources: src,
                from,
                to,
                entry: Some(e),
            });
        }
        self.ssh_links(policy, allow_all);
        self.kubernetes_links(policy);
        self.tag_owner_links(policy);
        self.approver_links(policy);
        self.funnel_links(policy);
    }

    fn ssh_links(&mut self, policy: &'p Policy, allow_all: bool) {
        for (i, rule) in policy.ssh.iter().enumerate() {
            let users: Vec<&str> = rule
                .users
                .as_ref()
                .map(|u| u.value.iter().map(|s| s.value.as_str()).collect())
                .unwrap_or_default();
            if users.is_empty() {
                continue; // Logs in as nobody.
            }
            let action = rule.action.as_ref().map_or("accept", |a| a.value.as_str());
            if action != "accept" && action != "check" {
                continue;
            }
            let src = self.members_of(&rule.src, Side::Src);
            // `autogroup:self` logs a user in to their own devices: no new principal.
            let dst_sels: Vec<Sel> = rule
                .dst
                .iter()
                .filter(|s| {
                    !matches!(
                        s.selector,
                        Some(Selector::Autogroup(crate::model::Autogroup::SelfDevices))
                    )
                })
                .cloned()
                .collect();
            let dst = self.members_of(&dst_sels, Side::Dst);
            if src.is_empty() || dst.is_empty() {
                continue;
            }
            let as_whom = if users.contains(&"root") {
                "root".to_string()
            } else if users == ["autogroup:nonroot"] {
                "a non-root user".to_string()
            } else {
                users.join(", ")
            };
            let check = if action == "check" {
                " (after a fresh login check)"
            } else {
                ""
            };
            let ssh_cite = Cite {
                rule: format!("ssh[{i}]"),
                origin: None,
                span: rule.span,
            };
            let mut made = false;
            let mut push = |g: &mut Graph<'p>, from: Vec<Id>, to: Vec<Id>, opener: Cite| {
                let from: Vec<Id> = from.into_iter().collect();
                if from.is_empty() || to.is_empty() || (from.len() == 1 && from == to) {
                    return;
                }
                let (f, t) = (g.add_set(from), g.add_set(to));
                g.links.push(Link {
                    kind: Kind::Ssh,
                    cites: vec![ssh_cite.clone(), opener],
                    access: "tcp:22".into(),
                    reason: format!("may log in as {as_whom} over Tailscale SSH{check}"),
                    written_sources: &rule.src,
                    from: vec![f],
                    to: t,
                    entry: None,
                });
                made = true;
            };
            if allow_all {
                let opener = Cite {
                    rule: Origin::Default.to_string(),
                    origin: Some(Origin::Default),
                    span: Span::default(),
                };
                push(self, src.clone(), dst.clone(), opener);
            } else {
                // Every entry opening tcp:22 to one of the rule's destinations.
                let mut openers: Vec<usize> = dst
                    .iter()
                    .flat_map(|&d| self.model.reaching(d).iter().map(|&e| e as usize))
                    .filter(|&e| {
                        let entry = &self.model.entries()[e];
                        matches!(self.model.destination(e), Dst::Set(_))
                            && admits_range(entry.protocol, entry.ports, 6, 22, 22)
                    })
                    .collect();
                openers.sort_unstable();
                openers.dedup();
                for e in openers {
                    let Dst::Set(set) = self.model.destination(e) else {
                        continue;
                    };
                    let to = intersect(&dst, self.model.set(set));
                    let mut from: Vec<Id> = self
                        .model
                        .sources(e)
                        .filter(|s| src.binary_search(s).is_ok())
                        .collect();
                    from.sort_unstable();
                    let entry = &self.model.entries()[e];
                    let opener = Cite {
                        rule: entry.rule.to_string(),
                        origin: Some(entry.rule),
                        span: entry.dst.span,
                    };
                    push(self, from, to, opener);
                }
            }
            if !made {
                self.ssh_without_port_22.push(i);
            }
        }
    }

    /// The tags whose owners include a tag some member of `set` holds.
    fn tags_owned_by(&self, policy: &Policy, members: &[Id]) -> Vec<Id> {
        let mut out = Vec::new();
        for t in &policy.tag_owners {
            let owned = t.owners.iter().any(|o| {
                matches!(&o.selector, Some(Selector::Tag(_)))
                    && members.iter().any(|&m| {
                        matches!(self.model.principal(m), Principal::Tags(_))
                            && o.selector.as_ref().is_some_and(|sel| {
                                reach::contains(
                                    policy,
                                    self.roles,
                                    sel,
                                    Side::Src,
                                    self.model.principal(m),
                                )
                            })
                    })
            });
            if owned && let Some(id) = self.model.id(&Principal::Tags(vec![t.tag.value.clone()])) {
                out.push(id);
            }
        }
        out
    }

    fn kubernetes_links(&mut self, policy: &'p Policy) {
        for (i, g) in policy.grants.iter().flatten().enumerate() {
            let Some(cap) = g.app.iter().find(|c| c.name.value == KUBERNETES_CAP) else {
                continue;
            };
            let values = super::value_to_json(&cap.values).to_string();
            if !values.contains("impersonate") {
                continue;
            }
            let masters = values.contains("system:masters");
            let from = self.members_of(&g.src, Side::Src);
            let mut to = self.members_of(&g.dst, Side::Dst);
            let owned = self.tags_owned_by(policy, &to);
            to.extend(owned);
            to.sort_unstable();
            to.dedup();
            if from.is_empty() || to.is_empty() {
                continue;
            }
            let (f, t) = (self.add_set(from), self.add_set(to));
            self.links.push(Link {
                kind: Kind::Kubernetes,
                cites: vec![Cite {
                    rule: format!("grants[{i}]"),
                    origin: Some(Origin::Grant(i)),
                    span: cap.name.span,
                }],
                access: String::new(),
                reason: if masters {
                    "may impersonate system:masters through the operator's API-server proxy, controlling the cluster and every proxy the operator tags".into()
                } else {
                    "may impersonate Kubernetes users through the operator's API-server proxy".into()
                },
                written_sources: &g.src,
                from: vec![f],
                to: t,
                entry: None,
            });
        }
    }

    fn tag_owner_links(&mut self, policy: &'p Policy) {
        for t in &policy.tag_owners {
            let Some(tag) = self.model.id(&Principal::Tags(vec![t.tag.value.clone()])) else {
                continue;
            };
            for owner in &t.owners {
                let from = self.members(owner, Side::Src);
                if from.is_empty() || from == [tag] {
                    continue;
                }
                let (f, to) = (self.add_set(from), self.add_set(vec![tag]));
                self.links.push(Link {
                    kind: Kind::TagOwner,
                    cites: vec![Cite {
                        rule: format!("tagOwners[{:?}]", t.tag.value),
                        origin: None,
                        span: owner.span,
                    }],
                    access: String::new(),
                    reason: format!(
                        "may tag a device it controls as {} ({} is among its owners)",
                        t.tag.value,
                        owner.raw.trim()
                    ),
                    written_sources: std::slice::from_ref(owner),
                    from: vec![f],
                    to,
                    entry: None,
                });
            }
        }
    }

    fn approver_links(&mut self, policy: &'p Policy) {
        let approvers = &policy.auto_approvers;
        for r in &approvers.routes {
            let Some(prefix) = r.prefix else { continue };
            let Some(route) = self
                .model
                .id(&Principal::Address(super::IpSet::from_prefix(&prefix)))
            else {
                continue;
            };
            for a in &r.approvers {
                self.approver_link(
                    a,
                    route,
                    Kind::RouteApproval,
                    format!(
                        "may advertise {} and have it approved, receiving the traffic sent there",
                        r.route.value
                    ),
                    format!("autoApprovers.routes[{:?}]", r.route.value),
                );
            }
        }
        if let Some(internet) = self.internet {
            for a in &approvers.exit_node {
                self.approver_link(
                    a,
                    internet,
                    Kind::ExitNodeApproval,
                    "may act as an approved exit node, receiving the internet traffic of those who use it".into(),
                    "autoApprovers.exitNode".into(),
                );
            }
        }
    }

    fn approver_link(&mut self, a: &'p Sel, to: Id, kind: Kind, reason: String, rule: String) {
        let from = self.members(a, Side::Src);
        if from.is_empty() {
            return;
        }
        let (f, t) = (self.add_set(from), self.add_set(vec![to]));
        self.links.push(Link {
            kind,
            cites: vec![Cite {
                rule,
                origin: None,
                span: a.span,
            }],
            access: String::new(),
            reason,
            written_sources: std::slice::from_ref(a),
            from: vec![f],
            to: t,
            entry: None,
        });
    }

    fn funnel_links(&mut self, policy: &'p Policy) {
        let Some(internet) = self.internet else {
            return;
        };
        for (i, attr) in policy.node_attrs.iter().enumerate() {
            if !attr.attr.iter().any(|a| a.value == "funnel") {
                continue;
            }
            let to = self.members_of(&attr.target, Side::Dst);
            if to.is_empty() {
                continue;
            }
            let (f, t) = (self.add_set(vec![internet]), self.add_set(to));
            self.links.push(Link {
                kind: Kind::Funnel,
                cites: vec![Cite {
                    rule: format!("nodeAttrs[{i}]"),
                    origin: None,
                    span: attr.span,
                }],
                access: "tcp:443,8443,10000".into(),
                reason: "reaches it through Funnel (tcp:443, 8443, 10000) and may take over what it serves".into(),
                written_sources: &[],
                from: vec![f],
                to: t,
                entry: None,
            });
        }
    }

    fn index(&mut self) {
        let n = self.model.principals().len();
        self.from_sets = vec![Vec::new(); n];
        self.to_sets = vec![Vec::new(); n];
        self.links_from = vec![Vec::new(); self.sets.len()];
        self.links_to = vec![Vec::new(); self.sets.len()];
        // Certain links first, so a chain shows them where it could take either.
        let mut order: Vec<u32> = (0..self.links.len() as u32).collect();
        order.sort_by_key(|&l| {
            let k = self.links[l as usize].kind;
            (!k.certain(), k)
        });
        let mut used_from = vec![false; self.sets.len()];
        let mut used_to = vec![false; self.sets.len()];
        for l in order {
            let link = &self.links[l as usize];
            for &f in &link.from {
                self.links_from[f as usize].push(l);
                used_from[f as usize] = true;
            }
            self.links_to[link.to as usize].push(l);
            used_to[link.to as usize] = true;
        }
        for (s, members) in self.sets.iter().enumerate() {
            for &p in members {
                if used_from[s] {
                    self.from_sets[p as usize].push(s as u32);
                }
                if used_to[s] {
                    self.to_sets[p as usize].push(s as u32);
                }
            }
        }
    }

    pub fn link(&self, l: u32) -> &Link<'p> {
        &self.links[l as usize]
    }

    pub fn links(&self) -> &[Link<'p>] {
        &self.links
    }

    /// The principal standing for the internet.
    pub fn internet(&self) -> Option<Id> {
        self.internet
    }

    /// SSH rules (indices into `ssh`) that would let someone log in but for which no
    /// rule opens tcp:22: they make no link.
    pub fn ssh_without_port_22(&self) -> &[usize] {
        &self.ssh_without_port_22
    }

    /// The links of `sets` (through `by_set`), each once, certain kinds first: where a
    /// principal could be found through either, its chain shows the certain link.
    fn ordered(&self, sets: &[u32], by_set: &[Vec<u32>]) -> Vec<u32> {
        let mut out: Vec<u32> = sets
            .iter()
            .flat_map(|&s| by_set[s as usize].iter().copied())
            .collect();
        out.sort_unstable_by_key(|&l| {
            let k = self.links[l as usize].kind;
            (!k.certain(), k, l)
        });
        out.dedup();
        out
    }

    /// Whether link `l` may be a hop: "becomes" links anywhere, network links as the last
    /// hop when they open the port asked about.
    fn usable(&self, l: u32, last: bool, ports: PortQuery) -> bool {
        let link = &self.links[l as usize];
        if link.kind != Kind::Network {
            return true;
        }
        if !last {
            return false;
        }
        match link.entry {
            None => true,
            Some(e) => {
                let entry = &self.model.entries()[e];
                let proto_ok = match (ports.proto, entry.protocol) {
                    (None, _) => true,
                    (Some(p), None) => super::rules::Protocols::DEFAULT_NUMBERS.contains(&p),
                    (Some(p), Some(q)) => p == q.0,
                };
                proto_ok
                    && ports
                        .port
                        .is_none_or(|port| entry.ports.iter().any(|r| r.contains(port)))
            }
        }
    }

    /// Every principal that can reach or become one of `targets` in at most `max_hops`
    /// hops (the last on `ports`), each with its shortest chain (becoming preferred to
    /// reaching at equal length), shortest first. The targets themselves are not listed.
    pub fn paths(&self, targets: &[Id], max_hops: u32, ports: PortQuery) -> Vec<Found> {
        let found = self.search_back(targets, max_hops, Some(ports), false);
        self.with_holders(found, targets)
    }

    /// As [`Graph::paths`], through certain links only (no "may become"): for a principal
    /// whose shortest chain needs a weakness, the chain that needs none, if any.
    pub fn certain_paths(&self, targets: &[Id], max_hops: u32, ports: PortQuery) -> Vec<Found> {
        let found = self.search_back(targets, max_hops, Some(ports), true);
        self.with_holders(found, targets)
    }

    /// What [`Graph::paths`] into `ends` (with `blast`, [`Graph::blast`] out of them)
    /// finds, and the ends themselves, each with its chain into (out of) another end, as
    /// one search from every other end would find it. A search from several principals
    /// does not list them: any two ends differ in a bit of their position in `ends`, so
    /// searching from the ends with bit k set, then from those with it clear, for every k,
    /// finds each end's chain in 2·log₂(n) searches, not n.
    pub fn search_among(
        &self,
        ends: &[Id],
        blast: bool,
        max_hops: u32,
        ports: PortQuery,
    ) -> Vec<Found> {
        let search = |from: &[Id]| {
            if blast {
                self.blast(from, max_hops, ports)
            } else {
                self.paths(from, max_hops, ports)
            }
        };
        if ends.is_empty() {
            return Vec::new();
        }
        let mut out = search(ends);
        // As the searches rank chains: the shortest, but for `blast`, a principal become
        // before one only reached.
        let rank = |f: &Found| {
            let reached_only = blast
                && f.hops
                    .last()
                    .is_some_and(|h| self.links[h.link as usize].kind == Kind::Network);
            (reached_only, f.hops.len())
        };
        let position: FxHashMap<Id, usize> =
            ends.iter().enumerate().map(|(i, &c)| (c, i)).collect();
        let mut best: BTreeMap<usize, Found> = BTreeMap::new();
        let bits = usize::BITS - (ends.len() - 1).leading_zeros();
        for k in 0..bits {
            for side in [0, 1] {
                let from: Vec<Id> = ends
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| (i >> k) & 1 == side)
                    .map(|(_, &c)| c)
                    .collect();
                for f in search(&from) {
                    let Some(&i) = position.get(&f.principal) else {
                        continue;
                    };
                    if best.get(&i).is_none_or(|b| rank(&f) < rank(b)) {
                        best.insert(i, f);
                    }
                }
            }
        }
        out.extend(best.into_values());
        out.sort_by_key(|f| f.hops.len());
        out
    }

    /// Every principal that can become one of `targets` (no network hop) in at most
    /// `max_hops` hops, through certain links only when `certain_only`, each with its
    /// shortest chain.
    pub fn becoming(&self, targets: &[Id], max_hops: u32, certain_only: bool) -> Vec<Found> {
        self.search_back(targets, max_hops, None, certain_only)
    }

    fn search_back(
        &self,
        targets: &[Id],
        max_hops: u32,
        ports: Option<PortQuery>,
        certain_only: bool,
    ) -> Vec<Found> {
        let n = self.model.principals().len();
        // Per principal, the hop it takes towards a target.
        let mut next: Vec<Option<Hop>> = vec![None; n];
        let mut seen = vec![false; n];
        let mut set_done = vec![false; self.sets.len()];
        let mut link_done = vec![false; self.links.len()];
        let mut order: Vec<Id> = Vec::new();
        let mut level: Vec<Id> = targets.to_vec();
        for &t in targets {
            seen[t as usize] = true;
        }
        for depth in 0..max_hops {
            let mut found = Vec::new();
            // Network access counts only as the hop into a target.
            for last in [false, true] {
                if last && depth > 0 {
                    break;
                }
                for &q in &level {
                    for l in self.ordered(&self.to_sets[q as usize], &self.links_to) {
                        let kind = self.links[l as usize].kind;
                        let network = kind == Kind::Network;
                        let usable = match ports {
                            Some(ports) => self.usable(l, last, ports),
                            None => !network,
                        };
                        if network != last
                            || link_done[l as usize]
                            || !usable
                            || (certain_only && !kind.certain())
                        {
                            continue;
                        }
                        link_done[l as usize] = true;
                        for &f in &self.links[l as usize].from {
                            if network {
                                // A network link's source set can still lead in
                                // through another link: not marked as done.
                            } else if std::mem::replace(&mut set_done[f as usize], true) {
                                continue;
                            }
                            for &s in &self.sets[f as usize] {
                                if !seen[s as usize] {
                                    seen[s as usize] = true;
                                    next[s as usize] = Some(Hop {
                                        from: s,
                                        to: q,
                                        link: l,
                                    });
                                    found.push(s);
                                }
                            }
                        }
                    }
                }
            }
            if found.is_empty() {
                break;
            }
            order.extend(&found);
            level = found;
        }
        order
            .into_iter()
            .map(|p| {
                let mut hops = Vec::new();
                let mut at = p;
                while let Some(h) = &next[at as usize] {
                    hops.push(h.clone());
                    at = h.to;
                }
                Found { principal: p, hops }
            })
            .collect()
    }

    /// Everything `sources` can become in at most `max_hops` hops, or reach with a last
    /// network hop (on `ports`), each with its shortest chain, shortest first (becoming
    /// preferred at equal length). The sources themselves are not listed.
    pub fn blast(&self, sources: &[Id], max_hops: u32, ports: PortQuery) -> Vec<Found> {
        let n = self.model.principals().len();
        let mut prev: Vec<Option<Hop>> = vec![None; n];
        let mut seen = vec![false; n];
        let mut set_done = vec![false; self.sets.len()];
        let mut link_done = vec![false; self.links.len()];
        let mut became: Vec<(Id, u32)> = sources.iter().map(|&s| (s, 0)).collect();
        for &s in sources {
            seen[s as usize] = true;
        }
        // Becoming first: breadth-first over "becomes" links.
        let mut level: Vec<Id> = sources.to_vec();
        for depth in 0..max_hops {
            let mut found = Vec::new();
            for &p in &level {
                let sets: Vec<u32> = self.from_sets[p as usize]
                    .iter()
                    .copied()
                    .filter(|&set| !std::mem::replace(&mut set_done[set as usize], true))
                    .collect();
                for l in self.ordered(&sets, &self.links_from) {
                    let link = &self.links[l as usize];
                    if link.kind == Kind::Network
                        || std::mem::replace(&mut link_done[l as usize], true)
                    {
                        continue;
                    }
                    for &d in &self.sets[link.to as usize] {
                        if !seen[d as usize] {
                            seen[d as usize] = true;
                            prev[d as usize] = Some(Hop {
                                from: p,
                                to: d,
                                link: l,
                            });
                            found.push(d);
                            became.push((d, depth + 1));
                        }
                    }
                }
            }
            if found.is_empty() {
                break;
            }
            level = found;
        }
        // Then the last hop over the network, from each principal become, nearest first;
        // each network link once (its destinations are reached from its first source).
        let mut reached: Vec<(Id, u32)> = Vec::new();
        let mut net_set_done = vec![false; self.sets.len()];
        for &(p, depth) in &became {
            if depth >= max_hops {
                continue;
            }
            for &set in &self.from_sets[p as usize] {
                if std::mem::replace(&mut net_set_done[set as usize], true) {
                    continue;
                }
                for &l in &self.links_from[set as usize] {
                    let link = &self.links[l as usize];
                    if link.kind != Kind::Network || !self.usable(l, true, ports) {
                        continue;
                    }
                    for &d in &self.sets[link.to as usize] {
                        if !seen[d as usize] {
                            seen[d as usize] = true;
                            prev[d as usize] = Some(Hop {
                                from: p,
                                to: d,
                                link: l,
                            });
                            reached.push((d, depth + 1));
                        }
                    }
                }
            }
        }
        let mut all: Vec<(Id, u32)> = became.into_iter().skip(sources.len()).collect();
        all.extend(reached);
        all.sort_by_key(|&(_, d)| d);
        all.into_iter()
            .map(|(p, _)| {
                let mut hops = Vec::new();
                let mut at = p;
                while let Some(h) = &prev[at as usize] {
                    hops.push(h.clone());
                    at = h.from;
                }
                hops.reverse();
                Found { principal: p, hops }
            })
            .collect()
    }

    /// The selectors as written through which `principal` is a source of link `l`.
    pub fn written_as(&self, l: u32, principal: Id) -> Vec<String> {
        let link = &self.links[l as usize];
        let policy = self.model.policy();
        let p = self.model.principal(principal);
        link.written_sources
            .iter()
            .filter(|s| {
                s.selector
                    .as_ref()
                    .is_some_and(|sel| reach::contains(policy, self.roles, sel, Side::Src, p))
            })
            .map(|s| s.raw.trim().to_string())
            .collect()
    }

    /// Groups of principals that can become one another (strongly connected components
    /// of the "becomes" links with more than one principal), condensed with petgraph.
    pub fn mutual(&self) -> Vec<Vec<Id>> {
        use petgraph::graph::{DiGraph, NodeIndex};
        // Principals, then one node per set, then one per link: the relation is never
        // expanded pair by pair. Each node's weight is its number.
        let n = self.model.principals().len();
        let total = n + self.sets.len() + self.links.len();
        let mut graph: DiGraph<usize, ()> = DiGraph::with_capacity(total, 0);
        for i in 0..total {
            graph.add_node(i);
        }
        let set_node = |s: u32| NodeIndex::new(n + s as usize);
        let link_node = |l: usize| NodeIndex::new(n + self.sets.len() + l);
        for (p, sets) in self.from_sets.iter().enumerate() {
            for &s in sets {
                graph.add_edge(NodeIndex::new(p), set_node(s), ());
            }
        }
        for (l, link) in self.links.iter().enumerate() {
            if link.kind == Kind::Network {
                continue;
            }
            for &f in &link.from {
                graph.add_edge(set_node(f), link_node(l), ());
            }
            for &d in &self.sets[link.to as usize] {
                graph.add_edge(link_node(l), NodeIndex::new(d as usize), ());
            }
        }
        let condensed = petgraph::algo::condensation(graph, true);
        condensed
            .node_weights()
            .filter_map(|members| {
                let mut ps: Vec<Id> = members
                    .iter()
                    .filter(|&&i| i < n)
                    .map(|&i| i as Id)
                    .collect();
                ps.sort_unstable();
                (ps.len() > 1).then_some(ps)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph_of<'p>(policy: &'p Policy, roles: &'p Roles<'p>) -> Graph<'p> {
        Graph::new(
            policy,
            roles,
            principals(policy, None, &[]),
            ADMIN_PORTS,
            &Held::default(),
        )
    }

    fn tag(g: &Graph, t: &str) -> Id {
        g.model
            .id(&Principal::Tags(vec![t.into()]))
            .expect("a principal")
    }

    #[test]
    fn tags_owning_each_other_are_one_component() {
        let policy = crate::model::from_text(
            r#"{
              "tagOwners": {"tag:a": ["tag:b"], "tag:b": ["tag:a"], "tag:c": ["tag:a"]},
              "grants": [{"src": ["tag:a"], "dst": ["tag:c"], "ip": ["tcp:443"]}]
            }"#,
        );
        let roles = Roles::none();
        let g = graph_of(&policy, &roles);
        let (a, b) = (tag(&g, "tag:a"), tag(&g, "tag:b"));
        let mut pair = vec![a, b];
        pair.sort_unstable();
        assert_eq!(g.mutual(), vec![pair], "tag:c is owned, not owning");
        // tag:b becomes tag:a and then tag:c: two hops; one hop finds only tag:a.
        let found: Vec<(Id, usize)> = g
            .blast(&[b], 3, PortQuery::default())
            .into_iter()
            .map(|f| (f.principal, f.hops.len()))
            .collect();
        assert!(found.contains(&(a, 1)) && found.contains(&(tag(&g, "tag:c"), 2)));
        assert_eq!(g.blast(&[b], 1, PortQuery::default()).len(), 1);
    }

    #[test]
    fn kubernetes_impersonation_reaches_the_tags_the_operator_owns() {
        let policy = crate::model::from_text(
            r#"{
              "groups": {"group:k8s-admins": ["ann@example.com"]},
              "tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"]},
              "grants": [{
                "src": ["group:k8s-admins"], "dst": ["tag:k8s-operator"],
                "app": {"tailscale.com/cap/kubernetes": [{"impersonate": {"groups": ["system:masters"]}}]}
              }]
            }"#,
        );
        let roles = Roles::none();
        let g = graph_of(&policy, &roles);
        let ann = g
            .model
            .id(&Principal::User("ann@example.com".into()))
            .unwrap();
        let found = g.blast(&[ann], 1, PortQuery::default());
        let reached: Vec<Id> = found.iter().map(|f| f.principal).collect();
        assert!(reached.contains(&tag(&g, "tag:k8s-operator")));
        assert!(
            reached.contains(&tag(&g, "tag:k8s")),
            "the proxies, in one hop"
        );
        let link = g.link(found[0].hops[0].link);
        assert_eq!(link.kind, Kind::Kubernetes);
        assert!(!link.kind.certain());
    }

    #[test]
    fn an_ssh_rule_without_port_22_is_listed_and_makes_no_link() {
        let policy = crate::model::from_text(
            r#"{
              "tagOwners": {"tag:ci": [], "tag:bastion": []},
              "grants": [{"src": ["tag:ci"], "dst": ["tag:bastion"], "ip": ["tcp:443"]}],
              "ssh": [{"action": "accept", "src": ["tag:ci"], "dst": ["tag:bastion"], "users": ["root"]}]
            }"#,
        );
        let roles = Roles::none();
        let g = graph_of(&policy, &roles);
        assert_eq!(g.ssh_without_port_22(), &[0]);
        assert!(g.links().iter().all(|l| l.kind != Kind::Ssh));
        let found = g.becoming(&[tag(&g, "tag:bastion")], 3, false);
        assert!(found.is_empty(), "443 is no administrative port either");
    }
}
