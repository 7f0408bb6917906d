//! Offline evaluation of a policy's `tests` and `sshTests`, with the control plane's
//! semantics, and diagnostics that say which rule allowed a flow a test denies, or which
//! rule came closest to a flow a test accepts.
//!
//! It works with no inventory at all: every user, group member and tag the policy names
//! gets a stand-in device, so a user with no devices is still testable (the control plane
//! needs real devices). With an inventory, its devices are used and stand-ins fill only
//! the gaps.

use super::inventory::{Device, Inventory, Role, User, with_auto_approvals};
use super::ipset::IpSet;
use super::resolve::{Resolver, Target, device_addresses};
use super::rules::{Origin, Rule, compile};
use super::ssh::device_ssh_rules;
use crate::diagnostics::{Diagnostic, FileId, Label, Location};
use crate::model::{Policy, Protocol, Selector, Spanned};
use crate::rules::Code;
use crate::syntax::Span;
use crate::validate::{TestDestination, parse_test_destination};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Evaluate every test; append a diagnostic for each failing assertion.
pub fn evaluate(
    policy: &Policy,
    inventory: Option<&Inventory>,
    file: FileId,
    diags: &mut Vec<Diagnostic>,
) {
    if policy.tests.is_empty() && policy.ssh_tests.is_empty() {
        return;
    }
    let has_inventory = inventory.is_some();
    let base = inventory.cloned().unwrap_or_default();
    let inventory = with_auto_approvals(&with_stand_ins(policy, base), policy);
    let resolver = Resolver::new(policy, &inventory);
    let rules = compile(&resolver);
    // Which rules can concern each device, found once (the same index as device filters).
    let by_device = super::filter::candidate_rules(&rules, &inventory);
    let device_of: std::collections::HashMap<IpAddr, usize> = inventory
        .devices
        .iter()
        .enumerate()
        .flat_map(|(i, d)| d.addresses.iter().map(move |a| (*a, i)))
        .collect();
    let index = super::inventory::AddressIndex::new(&inventory);
    let ev = Evaluator {
        stab: Stab::new(&rules),
        index: &index,
        by_device: &by_device,
        device_of: &device_of,
        policy,
        inventory: &inventory,
        resolver: &resolver,
        rules: &rules,
        file,
        has_inventory,
    };
    for test in &policy.tests {
        ev.network_test(test, diags);
    }
    for test in &policy.ssh_tests {
        ev.ssh_test(test, diags);
    }
}

/// Add a stand-in device for every user and tag the policy names that has none.
fn with_stand_ins(policy: &Policy, mut inv: Inventory) -> Inventory {
    let mut users: Vec<String> = Vec::new();
    let mut tags: Vec<String> = policy
        .tag_owners
        .iter()
        .map(|t| t.tag.value.clone())
        .collect();
    let mut note = |raw: &str| match Selector::parse(raw) {
        Ok(Selector::User(u)) => users.push(u),
        Ok(Selector::Tag(t)) => tags.push(t),
        _ => {}
    };
    for g in &policy.groups {
        g.members.iter().for_each(|m| note(&m.value));
    }
    for g in policy.grants.iter().flatten() {
        g.src.iter().chain(&g.dst).for_each(|s| note(&s.raw));
    }
    for a in policy.acls.iter().flatten() {
        a.src.iter().for_each(|s| note(&s.raw));
        a.dst.iter().for_each(|d| note(&d.host.raw));
    }
    for r in &policy.ssh {
        r.src.iter().chain(&r.dst).for_each(|s| note(&s.raw));
    }
    for t in &policy.tests {
        t.src.iter().for_each(|s| note(&s.value));
        for d in t.accept.iter().chain(&t.deny) {
            if let Ok(dst) = parse_test_destination(&d.value) {
                note(&dst.host.to_string());
            }
        }
    }
    for t in &policy.ssh_tests {
        t.src.iter().for_each(|s| note(&s.value));
        t.dst.iter().for_each(|s| note(&s.value));
    }
    users.sort();
    users.dedup();
    tags.sort();
    tags.dedup();
    let owners: std::collections::HashSet<String> = inv
        .devices
        .iter()
        .filter_map(|d| d.owner().map(str::to_string))
        .collect();
    let tagged: std::collections::HashSet<String> = inv
        .devices
        .iter()
        .flat_map(|d| d.tags.iter().cloned())
        .collect();
    let known_users: std::collections::HashSet<String> =
        inv.users.iter().map(|u| u.login.clone()).collect();
    let mut next = 0u32;
    let mut address = || {
        next += 1;
        // Stand-ins live at the top of the tailnet range, away from hand-picked addresses.
        let v4 = Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 127, 255, 254)) - next);
        let v6 = Ipv6Addr::from(0xfd7a_115c_a1e0_ffff_0000_0000_0000_0000u128 + next as u128);
        vec![IpAddr::V4(v4), IpAddr::V6(v6)]
    };
    for u in users {
        if !owners.contains(&u) {
            inv.devices.push(Device {
                name: format!("<{u}'s device>"),
                hostname: format!("<{u}'s device>"),
                addresses: address(),
                user: Some(u.clone()),
                tags: Vec::new(),
                advertised_routes: Vec::new(),
                enabled_routes: Vec::new(),
            });
        }
        if !known_users.contains(&u) {
            inv.users.push(User {
                login: u,
                role: Role::Member,
                shared: false,
            });
        }
    }
    for t in tags {
        if !tagged.contains(&t) {
            inv.devices.push(Device {
                name: format!("<{t} device>"),
                hostname: format!("<{t} device>"),
                addresses: address(),
                user: None,
                tags: vec![t],
                advertised_routes: Vec::new(),
                enabled_routes: Vec::new(),
            });
        }
    }
    inv
}

/// The rules whose destinations contain an address: intervals sorted by start with a
/// running maximum of ends, so a lookup scans back only over intervals that can reach it.
/// An address as a sortable key: family (IPv6 first), then value.
type AddrKey = (bool, u128);

struct Stab {
    intervals: Vec<(AddrKey, AddrKey, usize)>,
    max_end: Vec<(bool, u128)>,
    everywhere: Vec<usize>,
}

impl Stab {
    fn new(rules: &[Rule]) -> Stab {
        let mut intervals = Vec::new();
        let mut everywhere = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            for e in &r.entries {
                match &e.target {
                    Target::Everything | Target::OwnDevices => everywhere.push(i),
                    Target::Addresses(d) => {
                        for (a, b) in d.ranges() {
                            let key = |x: IpAddr| (x.is_ipv4(), crate::model::addr::ip_to_u128(x));
                            intervals.push((key(a), key(b), i));
                        }
                    }
                }
            }
        }
        intervals.sort_unstable();
        let mut max_end = Vec::with_capacity(intervals.len());
        let mut m = (false, 0u128);
        for (i, (_, end, _)) in intervals.iter().enumerate() {
            m = if i == 0 { *end } else { m.max(*end) };
            max_end.push(m);
        }
        everywhere.dedup();
        Stab {
            intervals,
            max_end,
            everywhere,
        }
    }

    fn rules_at(&self, ip: IpAddr) -> Vec<usize> {
        let x = (ip.is_ipv4(), crate::model::addr::ip_to_u128(ip));
        let mut out = self.everywhere.clone();
        let mut i = self.intervals.partition_point(|(lo, _, _)| *lo <= x);
        while i > 0 && self.max_end[i - 1] >= x {
            i -= 1;
            let (_, hi, r) = self.intervals[i];
            if hi >= x {
                out.push(r);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

struct Evaluator<'a> {
    stab: Stab,
    index: &'a super::inventory::AddressIndex,
    by_device: &'a [Vec<usize>],
    device_of: &'a std::collections::HashMap<IpAddr, usize>,
    policy: &'a Policy,
    inventory: &'a Inventory,
    resolver: &'a Resolver<'a>,
    rules: &'a [Rule],
    file: FileId,
    has_inventory: bool,
}

/// One address per device inside `set` (IPv4 when it has one), or the set's single
/// address when no device holds it.
fn representatives(
    inventory: &Inventory,
    index: &super::inventory::AddressIndex,
    set: &IpSet,
) -> Vec<IpAddr> {
    let mut devices: Vec<usize> = index.devices_in(set).collect();
    devices.sort_unstable();
    devices.dedup();
    let mut out: Vec<IpAddr> = devices
        .into_iter()
        .filter_map(|i| {
            let d = &inventory.devices[i];
            d.addresses
                .iter()
                .find(|a| a.is_ipv4() && set.contains(**a))
                .or_else(|| d.addresses.iter().find(|a| set.contains(**a)))
                .copied()
        })
        .collect();
    if out.is_empty()
        && let Some((a, b)) = set.ranges().next()
        && a == b
    {
        out.push(a);
    }
    out
}

impl Evaluator<'_> {
    /// Without an inventory, an address that is no stand-in device may belong to any
    /// device: a failure that involves one cannot be decided offline.
    fn undecidable(&self, ips: &[IpAddr]) -> Option<IpAddr> {
        if self.has_inventory {
            return None;
        }
        ips.iter()
            .find(|ip| !self.device_of.contains_key(ip))
            .copied()
    }

    /// A failure, or a warning when it involves an address no known device holds.
    fn failure(&self, code: Code, span: Span, message: String, involved: &[IpAddr]) -> Diagnostic {
        match self.undecidable(involved) {
            None => Diagnostic::new(code, self.at(span), message),
            Some(ip) => Diagnostic::new(
                Code::TestUndecidable,
                self.at(span),
                format!("cannot decide offline: {message}"),
            )
            .with_help(format!(
                "{ip} is the address of no device tsacl knows; pass --inventory (devices saved from the API) to decide this test"
            )),
        }
    }

    fn at(&self, span: Span) -> Location {
        Location {
            file: self.file,
            span,
        }
    }

    fn owner_of(&self, ip: IpAddr) -> Option<&str> {
        self.device_of
            .get(&ip)
            .and_then(|i| self.inventory.devices[*i].owner())
    }

    /// The rules allowing this flow, each with the destination entry that matches.
    fn allowing(&self, src: IpAddr, dst: IpAddr, proto: u8, port: u16) -> Vec<(&Rule, Span)> {
        let candidates: Box<dyn Iterator<Item = &Rule>> = match self.device_of.get(&dst) {
            Some(i) => Box::new(self.by_device[*i].iter().map(|r| &self.rules[*r])),
            None => Box::new(self.stab.rules_at(dst).into_iter().map(|r| &self.rules[r])),
        };
        candidates
            .filter(|r| r.src_everything || r.src.contains(src))
            .filter_map(|r| {
                r.entries
                    .iter()
                    .find(|e| e.admits(|ip| self.owner_of(ip), src, dst, proto, port))
                    .map(|e| (r, e.span))
            })
            .collect()
    }

    /// The rule that comes closest to allowing a flow, the entry, and what it lacks.
    fn closest(
        &self,
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        port: u16,
    ) -> Option<(&Rule, Span, String)> {
        let mut best: Option<(u8, &Rule, Span, String)> = None;
        for r in self.rules {
            let src_ok = r.src_everything || r.src.contains(src);
            for e in &r.entries {
                let dst_ok = e.reaches(|ip| self.owner_of(ip), src, dst);
                let port_ok = e.ports.iter().any(|p| p.contains(port));
                let proto_ok = e.protocols.contains(proto);
                let score = src_ok as u8 * 4 + dst_ok as u8 * 4 + port_ok as u8 + proto_ok as u8;
                let lacks = if !src_ok {
                    "its sources do not include this source".to_string()
                } else if !dst_ok {
                    format!(
                        "its destination {} does not include this destination",
                        e.written
                    )
                } else if !port_ok {
                    let ports: Vec<String> = e.ports.iter().map(ToString::to_string).collect();
                    format!(
                        "it allows ports {} on {}, not {port}",
                        ports.join(","),
                        e.written
                    )
                } else {
                    "it allows another protocol".to_string()
                };
                if score >= 4 && best.as_ref().is_none_or(|(s, ..)| score > *s) {
                    best = Some((score, r, e.span, lacks));
                }
            }
        }
        best.map(|(_, r, span, l)| (r, span, l))
    }

    fn rule_label(&self, rule: &Rule, span: Span) -> Option<Label> {
        (rule.origin != Origin::Default).then(|| Label {
            location: self.at(span),
            message: format!("{} allows it", rule.origin),
        })
    }

    fn source_ips(&self, src: &Spanned<String>) -> Result<Vec<IpAddr>, String> {
        let sel =
            Selector::parse(&src.value).map_err(|_| format!("src {:?} is not valid", src.value))?;
        let set = self.resolver.addresses(&sel);
        let ips = representatives(self.inventory, self.index, &set);
        if ips.is_empty() {
            return Err(format!(
                "source {:?} resolved to no addresses",
                src.value.trim()
            ));
        }
        Ok(ips)
    }

    fn destination_ips(&self, dst: &TestDestination) -> Vec<IpAddr> {
        representatives(
            self.inventory,
            self.index,
            &self.resolver.addresses(&dst.host),
        )
    }

    fn network_test(&self, test: &crate::model::Test, diags: &mut Vec<Diagnostic>) {
        let Some(src) = test.src.as_ref().filter(|s| !s.value.trim().is_empty()) else {
            return; // Reported by validation.
        };
        let protos: Vec<u8> = match test
            .proto
            .as_ref()
            .map(|p| p.value.trim())
            .filter(|p| !p.is_empty())
        {
            None => vec![Protocol::TCP.0, Protocol::UDP.0],
            Some(p) => match Protocol::parse(p) {
                Ok(p) => vec![p.0],
                Err(_) => return,
            },
        };
        let proto_name = if protos.len() == 2 {
            "tcp or udp".to_string()
        } else {
            Protocol(protos[0]).to_string()
        };
        let sources = match self.source_ips(src) {
            Ok(s) => s,
            Err(why) => {
                diags.push(Diagnostic::new(
                    Code::TestFailed,
                    self.at(src.span),
                    format!("test failed: {why}"),
                ));
                return;
            }
        };
        for (accept, list) in [(true, &test.accept), (false, &test.deny)] {
            for entry in list {
                let Ok(dst) = parse_test_destination(&entry.value) else {
                    continue;
                };
                let dsts = self.destination_ips(&dst);
                if dsts.is_empty() {
                    diags.push(Diagnostic::new(
                        Code::TestFailed,
                        self.at(entry.span),
                        format!(
                            "test failed: destination {:?} resolved to no addresses",
                            entry.value
                        ),
                    ));
                    continue;
                }
                'pairs: for s in &sources {
                    for d in &dsts {
                        let allowing: Vec<(&Rule, Span)> = protos
                            .iter()
                            .flat_map(|p| self.allowing(*s, *d, *p, dst.port))
                            .collect();
                        let what = format!(
                            "{} -> {} ({proto_name})",
                            src.value.trim(),
                            entry.value.trim()
                        );
                        if accept && allowing.is_empty() {
                            let mut diag = self.failure(
                                Code::TestFailed,
                                entry.span,
                                format!("test failed: {what} is denied, but the test expects it to be accepted"),
                                &[*s, *d],
                            );
                            match self.closest(*s, *d, protos[0], dst.port) {
                                Some((rule, span, lacks)) => {
                                    if rule.origin != Origin::Default {
                                        diag.labels.push(Label {
                                            location: self.at(span),
                                            message: format!("closest rule: {}", rule.origin),
                                        });
                                    }
                                    if diag.code == Code::TestFailed {
                                        diag.help = Some(format!(
                                            "no rule allows this flow; the closest, {}, does not because {lacks}",
                                            rule.origin
                                        ));
                                    }
                                }
                                None if diag.code == Code::TestFailed => {
                                    diag.help = Some(
                                        "no rule allows this source to reach this destination"
                                            .into(),
                                    )
                                }
                                None => {}
                            }
                            diags.push(diag);
                            break 'pairs;
                        }
                        if !accept && !allowing.is_empty() {
                            let mut diag = self.failure(
                                Code::TestFailed,
                                entry.span,
                                format!("test failed: {what} is accepted, but the test expects it to be denied"),
                                &[*s, *d],
                            );
                            let mut names = Vec::new();
                            for (rule, span) in &allowing {
                                names.push(rule.origin.to_string());
                                if let Some(l) = self.rule_label(rule, *span)
                                    && !diag.labels.contains(&l)
                                {
                                    diag.labels.push(l);
                                }
                            }
                            names.dedup();
                            if diag.code == Code::TestFailed {
                                diag.help = Some(format!("allowed by {}", names.join(", ")));
                            }
                            diags.push(diag);
                            break 'pairs;
                        }
                    }
                }
            }
        }
    }

    fn ssh_test(&self, test: &crate::model::SshTest, diags: &mut Vec<Diagnostic>) {
        let Some(src) = test.src.as_ref().filter(|s| !s.value.trim().is_empty()) else {
            return;
        };
        let sources = match self.source_ips(src) {
            Ok(s) => s,
            Err(why) => {
                diags.push(Diagnostic::new(
                    Code::SshTestFailed,
                    self.at(src.span),
                    format!("SSH test failed: {why}"),
                ));
                return;
            }
        };
        for dst in &test.dst {
            let Ok(sel) = Selector::parse(&dst.value) else {
                continue;
            };
            let set = self.resolver.addresses(&sel);
            let devices: Vec<&Device> = self
                .inventory
                .devices
                .iter()
                .filter(|d| device_addresses(d).overlaps(&set))
                .collect();
            if devices.is_empty() {
                let involved: Vec<IpAddr> = set.ranges().map(|(a, _)| a).take(1).collect();
                let involved = if involved.is_empty() {
                    vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)]
                } else {
                    involved
                };
                diags.push(self.failure(
                    Code::SshTestFailed,
                    dst.span,
                    format!("SSH test failed: destination {:?} is no device", dst.value),
                    &involved,
                ));
                continue;
            }
            for (want, users) in [
                ("accept", &test.accept),
                ("check", &test.check),
                ("deny", &test.deny),
            ] {
                for user in users {
                    let name = user.value.trim();
                    'outer: for device in &devices {
                        let rules = device_ssh_rules(self.resolver, device);
                        for s in &sources {
                            let got = ssh_verdict(&rules, *s, name);
                            if got.0 != want {
                                let mut diag = self.failure(
                                    Code::SshTestFailed,
                                    user.span,
                                    format!(
                                        "SSH test failed: {} to {} as {name:?}: want {want}, got {}",
                                        src.value.trim(),
                                        dst.value.trim(),
                                        got.0
                                    ),
                                    &[*s],
                                );
                                if let Some(i) = got.1 {
                                    let rule = &self.policy.ssh[i];
                                    let span = rule.users.as_ref().map_or(rule.span, |u| u.span);
                                    diag.labels.push(Label {
                                        location: self.at(span),
                                        message: format!("decided by ssh[{i}]"),
                                    });
                                } else {
                                    diag.help = Some("no SSH rule lets this source log in as this user on this destination".into());
                                }
                                diags.push(diag);
                                break 'outer;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The action the first matching SSH rule takes for a login, and that rule's index.
fn ssh_verdict(
    rules: &[super::ssh::SshRule],
    src: IpAddr,
    user: &str,
) -> (&'static str, Option<usize>) {
    for r in rules {
        if !r.principals.contains(&src) {
            continue;
        }
        let mapped = r.users.get(user).or_else(|| {
            if user == "root" {
                None
            } else {
                r.users.get("*")
            }
        });
        match mapped {
            Some(m) if !m.is_empty() => {
                return (if r.check { "check" } else { "accept" }, Some(r.origin));
            }
            _ => {}
        }
    }
    ("deny", None)
}
