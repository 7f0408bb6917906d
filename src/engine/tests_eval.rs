//! Offline evaluation of a policy's `tests` and `sshTests`, with the control plane's
//! semantics, and diagnostics that say which rule allowed a flow a test denies, or which
//! rule came closest to a flow a test accepts.
//!
//! It works with no inventory at all: every user, group member and tag the policy names
//! gets a stand-in device, so a user with no devices is still testable (the control plane
//! needs real devices). With an inventory, its devices are used and stand-ins fill only
//! the gaps.
//!
//! What a policy file does not say is decided exactly, not assumed. A user's role, and
//! whether they are a member or shared in from another tailnet, come only from the API's
//! `users` answer: a user the inventory does not list gets one stand-in device per
//! standing the policy tells apart ([`Standings`]), and when a test names a role or
//! membership autogroup as its source, users the policy does not name get stand-ins in
//! every standing too. Each assertion holds or fails on every pair of a source and a
//! destination device; over the unknown standings (one per user, one owner per tailnet)
//! that is a small constraint problem ([`Problem`]): an assertion that fails under every
//! assignment is an error, one that holds under every assignment passes, and any other
//! is a warning (TSA102) that says which standings make it hold. Tailscale Services get
//! stand-in addresses; a rule that opens an address range may or may not take in a
//! service's real address, which is also reported as undecidable.

use super::inventory::{Device, Inventory, Role, Standing, with_auto_approvals};
use super::ipset::IpSet;
use super::resolve::{Resolver, Target, tailnet_space};
use super::rules::{Origin, Rule, compile};
use super::standings::{Lit, Problem, Standings, TooBig};
use super::structural::{
    OTHER_DOMAIN, flow_selectors, in_tailnet_domains, service_stand_in, standing_label,
    unnamed_domains,
};
use crate::diagnostics::{Diagnostic, FileId, Label, Location};
use crate::model::{Autogroup, Policy, Protocol, Selector, Spanned};
use crate::rules::Code;
use crate::syntax::Span;
use crate::validate::{TestDestination, parse_test_destination};
use rustc_hash::{FxHashMap, FxHashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Evaluate every test; append a diagnostic for each failing assertion. Users of
/// `tailnet_domains` are members of the tailnet (their role is still unknown).
pub fn evaluate(
    policy: &Policy,
    inventory: Option<&Inventory>,
    tailnet_domains: Option<&[String]>,
    file: FileId,
    diags: &mut Vec<Diagnostic>,
) -> Undecided {
    if policy.tests.is_empty() && policy.ssh_tests.is_empty() {
        return Undecided::default();
    }
    let has_inventory = inventory.is_some();
    // Tests from a group, read as the control plane's test run appears to read them:
    // from one user in the group alone ([`GroupsAlone`]).
    let alone = GroupsAlone::of(policy);
    let mut found_alone: FxHashMap<usize, Vec<Diagnostic>> = FxHashMap::default();
    let mut records: Vec<(Span, Vec<Advice>)> = Vec::new();
    let mut assumed_alone = std::collections::BTreeSet::new();
    if let Some(alone) = &alone {
        let mut base = inventory.cloned().unwrap_or_default();
        alone.add_to(&mut base);
        with_evaluator(
            &alone.policy,
            base,
            has_inventory,
            tailnet_domains,
            file,
            Some(&alone.logins),
            |ev| {
                for (test, &i) in alone.policy.tests.iter().zip(&alone.indices) {
                    let mut found = Vec::new();
                    ev.network_test(test, &mut found);
                    found_alone.insert(i, found);
                }
                records.extend(ev.undecided.take());
                assumed_alone = ev.unknowns.assumption_used.take();
            },
        );
    }
    let base = inventory.cloned().unwrap_or_default();
    with_evaluator(
        policy,
        base,
        has_inventory,
        tailnet_domains,
        file,
        None,
        |ev| {
            for (i, test) in policy.tests.iter().enumerate() {
                let Some(alone_found) = found_alone.remove(&i) else {
                    ev.network_test(test, diags);
                    continue;
                };
                // Each member's reading decides only whether a failure is certain: what it
                // assumed is not stated unless it decides.
                let assumed = ev.unknowns.assumption_used.borrow().clone();
                let mut each = Vec::new();
                ev.network_test(test, &mut each);
                *ev.unknowns.assumption_used.borrow_mut() = assumed;
                let group = alone
                    .as_ref()
                    .and_then(|a| a.group_of(test))
                    .unwrap_or_default();
                diags.extend(both_readings(group, each, alone_found));
            }
            for test in &policy.ssh_tests {
                ev.ssh_test(test, diags);
            }
            let unknowns = ev.unknowns;
            unknowns
                .assumption_used
                .borrow_mut()
                .extend(std::mem::take(&mut assumed_alone));
            let assumed = unknowns.assumption_used.borrow();
            let first_test = policy
                .tests
                .first()
                .and_then(|t| t.src.as_ref())
                .or_else(|| policy.ssh_tests.first().and_then(|t| t.src.as_ref()));
            if let (false, Some(at)) = (assumed.is_empty(), first_test) {
                let names: Vec<&str> = assumed.iter().map(String::as_str).take(MAX_NAMED).collect();
                let more = assumed.len().saturating_sub(MAX_NAMED);
                let mut who = join_and(&names);
                if more > 0 {
                    who.push_str(&format!(" and {more} more"));
                }
                diags.push(
                Diagnostic::new(
                    Code::AssumedMembers,
                    Location { file, span: at.span },
                    format!(
                        "tests are decided assuming {who} {} of the tailnet, not shared in from another one: the policy names {}, and some tests hold only for members",
                        if assumed.len() == 1 { "is a member" } else { "are members" },
                        if assumed.len() == 1 { "this user" } else { "these users" },
                    ),
                )
                .with_help(
                    "--tailnet-domain DOMAIN or --inventory (the tailnet's users, saved by `tsacl pull --inventory FILE`) decides membership instead",
                ),
            );
            }
            // Each member's reading first: where both readings found something at one
            // place, the other reading's finding is the one kept.
            let mut all = ev.undecided.take();
            all.append(&mut records);
            records = all;
        },
    );
    Undecided {
        file,
        offline: !has_inventory,
        found: records,
    }
}

/// Builds the stand-ins, the resolver and the compiled rules for `policy` over `base`
/// (the inventory, or nothing), and hands `run` the evaluator. With `alone`, a test from
/// one of its groups is from that group's stand-in user ([`GroupsAlone`]).
fn with_evaluator(
    policy: &Policy,
    base: Inventory,
    has_inventory: bool,
    tailnet_domains: Option<&[String]>,
    file: FileId,
    alone: Option<&FxHashMap<String, String>>,
    run: impl FnOnce(&Evaluator),
) {
    // The devices after these are stand-ins, at placeholder addresses.
    let stand_ins_from = base.devices.len();
    let (stand_ins, unknowns) = with_stand_ins(policy, base, has_inventory, tailnet_domains);
    let inventory = with_auto_approvals(&stand_ins, policy);
    let resolver = Resolver::new(policy, &inventory);
    // Where a stand-in device's real address may lie: the tailnet's range, less the
    // addresses of the devices the inventory gives.
    let placeholder_space = tailnet_space().subtract(&IpSet::from_addrs(
        inventory.devices[..stand_ins_from]
            .iter()
            .flat_map(|d| d.addresses.iter().copied()),
    ));
    let rules = Compiled::new(&resolver, &placeholder_space);
    let index = super::inventory::AddressIndex::new(&inventory);
    let services: FxHashMap<IpKey, &str> = inventory
        .services
        .iter()
        .flat_map(|(name, addrs)| addrs.iter().map(move |a| (ip_key(*a), name.as_str())))
        .collect();
    // Where a service's real address may lie: tailnet addresses that are no device's and
    // no other service's stand-in.
    let service_space = tailnet_space()
        .subtract(&IpSet::from_addrs(
            inventory
                .devices
                .iter()
                .flat_map(|d| d.addresses.iter().copied()),
        ))
        .subtract(&IpSet::from_addrs(
            inventory.services.values().flatten().copied(),
        ));
    let ev = Evaluator {
        subnet_routes: super::inventory::subnet_route_space(&inventory, policy, has_inventory),
        index: &index,
        services: &services,
        service_space,
        stand_ins_from,
        placeholder_families: ["0.0.0.0/0", "::/0"]
            .map(|family| placeholder_space.intersect(&IpSet::parse(family).expect("a CIDR"))),
        source_splits: Default::default(),
        via_routed: Default::default(),
        placeholder_cache: Default::default(),
        ssh_rules: Default::default(),
        device_ssh_rules: Default::default(),
        policy,
        inventory: &inventory,
        resolver: &resolver,
        rules: &rules,
        file,
        has_inventory,
        unknowns: &unknowns,
        undecided: Default::default(),
        alone,
        shared_logins: Default::default(),
        postures_by_name: Default::default(),
    };
    run(&ev);
}

/// How the control plane's test run reads a test whose source is a group appears, from
/// policies it runs on every push, to be as one user in that group and in no other group
/// or role, not as each of its members: cedi/dotfiles (gitops-acl-action) denies
/// `group:vpn` what `group:admins` opens everywhere, though its one admin is in both, and
/// madsbv/nix expects `group:consumers` denied what its only member, the tailnet's owner,
/// is tested to reach through `autogroup:admin`. The captures agree with either reading
/// (their group sources are reached, or not, by rules naming the group). A test from a
/// group is therefore decided from a stand-in user of that group alone, a member of the
/// tailnet without a role; a failure is an error only when it also fails for each
/// member ([`both_readings`]).
struct GroupsAlone {
    /// The policy, with each such group's stand-in user added to it, and only the tests
    /// from those groups (the evaluator compiles only the rules they may need).
    policy: Policy,
    /// The index in the policy's `tests` of each test kept.
    indices: Vec<usize>,
    /// Each group's stand-in user, by group name.
    logins: FxHashMap<String, String>,
}

impl GroupsAlone {
    /// `None` when no test is from a group that has a user among its members (one that
    /// has none is decided as it is: the test's source holds nobody).
    fn of(policy: &Policy) -> Option<GroupsAlone> {
        let mut logins: FxHashMap<String, String> = FxHashMap::default();
        for test in &policy.tests {
            let Some(Ok(Selector::Group(name))) =
                test.src.as_ref().map(|s| Selector::parse(s.value.trim()))
            else {
                continue;
            };
            let has_user = policy.group(&name).is_some_and(|g| {
                g.members
                    .iter()
                    .any(|m| matches!(Selector::parse(m.value.trim()), Ok(Selector::User(_))))
            });
            if has_user {
                let login = format!(
                    "a-user-of-{}@tsacl.invalid",
                    name.trim_start_matches("group:")
                );
                logins.insert(name, login);
            }
        }
        if logins.is_empty() {
            return None;
        }
        let mut policy = policy.clone();
        for g in &mut policy.groups {
            if let Some(login) = logins.get(&g.name.value) {
                g.members.push(Spanned {
                    value: login.clone(),
                    span: g.name.span,
                });
            }
        }
        let from_group = |t: &crate::model::Test| {
            t.src
                .as_ref()
                .is_some_and(|s| logins.contains_key(s.value.trim()))
        };
        let indices = (0..policy.tests.len())
            .filter(|&i| from_group(&policy.tests[i]))
            .collect();
        policy.tests.retain(from_group);
        policy.ssh_tests.clear();
        Some(GroupsAlone {
            policy,
            indices,
            logins,
        })
    }

    /// Adds the stand-in users, members of the tailnet without a role, each with a device
    /// at an address the policy names nowhere (so that only an address rule spanning the
    /// tailnet takes it in), as devices the inventory lists: not placeholders.
    fn add_to(&self, inventory: &mut Inventory) {
        let mut logins: Vec<String> = self.logins.values().cloned().collect();
        logins.sort();
        super::structural::add_member_stand_ins(inventory, &self.policy, &logins);
    }

    /// The group a test is from, when it is one of these.
    fn group_of(&self, test: &crate::model::Test) -> Option<&str> {
        let src = test.src.as_ref()?.value.trim();
        self.logins.get_key_value(src).map(|(g, _)| g.as_str())
    }
}

/// A test from `group`, decided for one user of it alone (`alone`) and for each of its
/// members (`each`): the first reading's findings, except that a failure the second
/// reading does not share is undecided.
fn both_readings(group: &str, each: Vec<Diagnostic>, alone: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let failed_for_each: FxHashSet<Span> = each
        .iter()
        .filter(|d| d.code == Code::TestFailed)
        .map(|d| d.primary.span)
        .collect();
    alone
        .into_iter()
        .map(|d| {
            if d.code != Code::TestFailed || failed_for_each.contains(&d.primary.span) {
                return d;
            }
            let what = d.message.strip_prefix("test failed: ").unwrap_or(&d.message);
            let mut undecided = Diagnostic::new(
                Code::TestUndecidable,
                d.primary,
                format!(
                    "cannot decide: the test holds for each member of {group}, but not for a user in {group} and no other group, as the control plane's test run appears to read a group: {what}"
                ),
            )
            .with_help(format!(
                "name {group} in the rule that should decide this flow, or write the test from one of its members by login name"
            ));
            undecided.labels = d.labels;
            undecided
        })
        .collect()
}

/// From this many tests undecided for what only the tailnet's inventory says, they are
/// one finding: each test's own paragraph would repeat "pass --inventory" for every test
/// of a policy whose rules name devices by address (fredrir/infra: 14, abl030/nixosconfig:
/// 12), and a file should not drown in warnings it cannot act on one by one.
const FOLD_AT: usize = 4;

/// The TSA102 findings of one evaluation, with what would decide each, so that those the
/// inventory decides can be said once ([`Undecided::fold`]) after suppression comments
/// have removed the ones a user silenced.
#[derive(Default)]
pub struct Undecided {
    file: FileId,
    offline: bool,
    found: Vec<(Span, Vec<Advice>)>,
}

impl Undecided {
    /// Offline, when [`FOLD_AT`] or more tests of the file are undecided for devices'
    /// addresses (whose device an address is, where a device's address lies, what a
    /// router routes; roles and membership beside them), all of which an inventory
    /// decides, replaces their findings with one: at the first, each other marked, its
    /// help saying once what decides them all. Findings for roles and membership alone
    /// each say their own short condition, and are folded only with those saying the
    /// same one ([`Self::fold_roles`], with or without an inventory); findings for what
    /// no inventory settles (no recorded answer, a Tailscale Service's address) stay as
    /// they are.
    pub fn fold(self, diags: &mut Vec<Diagnostic>) {
        self.fold_roles(diags);
        if !self.offline {
            return;
        }
        let decided_by_inventory: FxHashMap<Span, &[Advice]> = self
            .found
            .iter()
            .filter(|(_, advice)| {
                advice.iter().all(Advice::inventory_decides)
                    && advice.iter().any(|a| a.cause() != Some(Cause::Roles))
            })
            .map(|(span, advice)| (*span, advice.as_slice()))
            .collect();
        let folded = |d: &Diagnostic| {
            d.code == Code::TestUndecidable
                && d.primary.file == self.file
                && decided_by_inventory.contains_key(&d.primary.span)
        };
        let mut undecided: Vec<&Diagnostic> = diags.iter().filter(|d| folded(d)).collect();
        if undecided.len() < FOLD_AT {
            return;
        }
        undecided.sort_by_key(|d| d.primary.span.start);
        let mut causes: Vec<Cause> = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        let mut by_domain = false;
        for d in &undecided {
            for advice in decided_by_inventory[&d.primary.span] {
                if let Some(cause) = advice.cause()
                    && !causes.contains(&cause)
                {
                    causes.push(cause);
                }
                // The addresses and host aliases (a tag or user named here is one whose
                // devices' addresses decide, already named by who they are).
                if let Advice::About(_, about) = advice {
                    for n in about {
                        let by_address = Selector::parse(n).map_or(true, |s| s.names_addresses());
                        if by_address && !names.contains(&n.as_str()) {
                            names.push(n);
                        }
                    }
                }
                by_domain |= matches!(
                    advice,
                    Advice::Roles {
                        domain_decides: true,
                        ..
                    }
                );
            }
        }
        let mut help = "pass --inventory (the tailnet's devices and users, saved by `tsacl pull --inventory FILE`) to decide them".to_string();
        if !names.is_empty() {
            help.push_str(&format!(
                ", or name the {} at {} by tag or user in the rules and tests",
                if names.len() == 1 {
                    "device"
                } else {
                    "devices"
                },
                capped(&names, join_and)
            ));
        }
        if by_domain {
            help.push_str("; --tailnet-domain DOMAIN counts users of DOMAIN as members");
        }
        let first = undecided[0];
        let mut diag = Diagnostic::new(
            Code::TestUndecidable,
            first.primary,
            format!(
                "cannot decide {} tests offline: they turn on {}, which only the tailnet's inventory says",
                undecided.len(),
                join_and(&causes.iter().map(|c| c.says()).collect::<Vec<_>>())
            ),
        )
        .with_help(help);
        diag.primary_label = Some("undecided".into());
        for d in &undecided[1..] {
            diag.labels.push(Label {
                location: d.primary,
                message: "undecided".into(),
            });
        }
        diags.retain(|d| !folded(d));
        diags.push(diag);
    }

    /// Tests undecided only for one condition on roles or membership, the same for each
    /// ("unless alice@example.com is a member without the admin role": a personal
    /// tailnet's tests of its owner's access, jonpulsifer/infra: 4), are one finding: one
    /// unknown fact, said once, at the first test, each other marked. A condition said by
    /// one test stays in that test's own finding, which says what it expects.
    fn fold_roles(&self, diags: &mut Vec<Diagnostic>) {
        // Each undecided test's condition, and the help said of several such tests.
        let unless: FxHashMap<Span, (&str, &str)> = self
            .found
            .iter()
            .filter_map(|(span, advice)| match advice.as_slice() {
                [
                    Advice::Roles {
                        unless: Some(c),
                        help_for_many,
                        ..
                    },
                ] => Some((*span, (c.as_str(), help_for_many.as_str()))),
                _ => None,
            })
            .collect();
        let condition = |d: &Diagnostic| {
            (d.code == Code::TestUndecidable && d.primary.file == self.file)
                .then(|| unless.get(&d.primary.span).map(|&(c, _)| c))
                .flatten()
        };
        // Each condition's findings, in the order conditions are first met.
        let mut by_condition: Vec<(&str, Vec<usize>)> = Vec::new();
        let mut index: FxHashMap<&str, usize> = FxHashMap::default();
        for (i, d) in diags.iter().enumerate() {
            if let Some(c) = condition(d) {
                let at = *index.entry(c).or_insert_with(|| {
                    by_condition.push((c, Vec::new()));
                    by_condition.len() - 1
                });
                by_condition[at].1.push(i);
            }
        }
        let mut folded = vec![false; diags.len()];
        let mut new = Vec::new();
        for (c, mut found) in by_condition {
            // Counted by test: two findings at one place are one test.
            found.sort_by_key(|&i| (diags[i].primary.span.start, diags[i].primary.span.end));
            let mut places: Vec<usize> = found.clone();
            places.dedup_by_key(|&mut i| diags[i].primary.span);
            let count = places.len();
            if count < 2 {
                continue;
            }
            let first = &diags[places[0]];
            let mut diag = Diagnostic::new(
                Code::TestUndecidable,
                first.primary,
                format!(
                    "cannot decide {count} tests{}: each holds unless {c}",
                    if self.offline { " offline" } else { "" }
                ),
            );
            diag.help = first
                .help
                .as_ref()
                .and(unless.get(&first.primary.span))
                .map(|&(_, many)| many.to_string());
            diag.primary_label = Some("undecided".into());
            for &i in &places[1..] {
                diag.labels.push(Label {
                    location: diags[i].primary,
                    message: "undecided".into(),
                });
            }
            for i in found {
                folded[i] = true;
            }
            new.push(diag);
        }
        let mut i = 0;
        diags.retain(|_| {
            i += 1;
            !folded[i - 1]
        });
        diags.extend(new);
    }
}

/// A standing the stand-ins leave open.
enum Unknown {
    /// The standing of a user the policy names and the inventory does not list: value
    /// `i` is `values[i]`.
    Named {
        login: String,
        values: Vec<Standing>,
    },
    /// Whether some user the policy does not name, with a login in `domain`, holds
    /// `standing`: value 1 if so, 0 if not.
    Unnamed { domain: String, standing: Standing },
}

/// What the stand-ins leave open, and how the stand-in devices stand for it.
struct Unknowns {
    standings: Standings,
    vars: Vec<Unknown>,
    /// The literal each stand-in device assumes, by device index.
    literal: FxHashMap<usize, Lit>,
    /// The literals saying "holds the owner's class", and how many of them may hold.
    owner: Vec<Lit>,
    /// Where each unknown's literals are in `owner`, built on first use.
    owner_by_var: std::cell::OnceCell<FxHashMap<usize, Vec<usize>>>,
    owner_max: usize,
    /// Users the policy does not name have stand-ins (every user is represented).
    unnamed: bool,
    /// `--tailnet-domain` was given.
    domains_given: bool,
    /// Unknowns tsacl may assume are members of the tailnet: users the policy names,
    /// when neither an inventory nor `--tailnet-domain` says who is one. The assumption
    /// only ever quiets an undecidable test (never makes one fail), and is stated once
    /// per file (TSA104) when it did.
    assumed_members: FxHashSet<usize>,
    /// Users the policy names outside its tests (a deny test's source named nowhere
    /// else is about someone outside the tailnet).
    named_in_rules: FxHashSet<String>,
    /// The unknown of each user whose standing is open, by login.
    var_of: FxHashMap<String, usize>,
    /// Users whose assumed membership decided some test.
    assumption_used: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

/// Add a stand-in device for every user and tag the policy names that has none, and a
/// stand-in address for every Tailscale Service; see the module doc for users whose
/// standing is unknown.
fn with_stand_ins(
    policy: &Policy,
    mut inv: Inventory,
    has_inventory: bool,
    tailnet_domains: Option<&[String]>,
) -> (Inventory, Unknowns) {
    let mut users: Vec<String> = Vec::new();
    let mut tags: Vec<String> = policy
        .tag_owners
        .iter()
        .map(|t| t.tag.value.clone())
        .collect();
    let mut services: Vec<String> = Vec::new();
    // Selectors that decide flows and SSH access, and tests' sources.
    let mut deciding: Vec<Selector> = flow_selectors(policy)
        .chain(policy.ssh.iter().flat_map(|r| r.src.iter().chain(&r.dst)))
        .filter_map(|s| s.selector.clone())
        .collect();
    let mut autogroup_sources = false;
    let in_tests = std::cell::Cell::new(false);
    let mut named_in_rules: FxHashSet<String> = FxHashSet::default();
    let mut note = |raw: &str| match Selector::parse(raw) {
        Ok(Selector::User(u)) => {
            if !in_tests.get() {
                named_in_rules.insert(u.clone());
            }
            users.push(u)
        }
        Ok(Selector::Tag(t)) => tags.push(t),
        Ok(Selector::Service(s)) => services.push(s),
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
    in_tests.set(true);
    for t in &policy.tests {
        if let Some(s) = &t.src {
            note(&s.value);
            if let Ok(sel @ Selector::Autogroup(a)) = Selector::parse(&s.value) {
                autogroup_sources |= a != Autogroup::Tagged;
                deciding.push(sel);
            }
        }
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
    // A group the identity provider defines has a member the policy cannot name: a
    // stand-in user, of unknown standing as any named user.
    let synced = super::structural::idp_groups(policy);
    for (_, login) in super::structural::join_idp_groups(&mut inv, synced) {
        users.push(login);
    }
    users.sort();
    users.dedup();
    tags.sort();
    tags.dedup();
    for s in services {
        inv.services
            .entry(s.clone())
            .or_insert_with(|| vec![service_stand_in(&s)]);
    }
    let owners: FxHashSet<String> = inv
        .devices
        .iter()
        .filter_map(|d| d.owner().map(str::to_string))
        .collect();
    let tagged: FxHashSet<String> = inv
        .devices
        .iter()
        .flat_map(|d| d.tags.iter().cloned())
        .collect();
    let owner_listed = inv.users.iter().any(|u| u.role == Role::Owner && !u.shared);
    let in_tailnet_domain = |login: &str| in_tailnet_domains(login, tailnet_domains);
    let standings = Standings::of(&deciding);
    let (owner_class, owner_alone) = standings.owner_class();
    let mut unknowns = Unknowns {
        vars: Vec::new(),
        literal: FxHashMap::default(),
        owner: Vec::new(),
        owner_by_var: Default::default(),
        owner_max: match (owner_alone, owner_listed) {
            (false, _) => usize::MAX,
            (true, false) => 1,
            (true, true) => 0,
        },
        unnamed: false,
        domains_given: tailnet_domains.is_some(),
        standings: standings.clone(),
        assumed_members: FxHashSet::default(),
        named_in_rules,
        var_of: FxHashMap::default(),
        assumption_used: Default::default(),
    };
    // Nothing says who is a member: the users the policy names are taken to be members
    // where that decides a test (stated once, TSA104).
    let assume_members = !has_inventory && tailnet_domains.is_none();
    let mut next = 0u32;
    let mut address = || {
        next += 1;
        // Stand-ins live at the top of the tailnet range, away from hand-picked addresses.
        let v4 = Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 127, 255, 254)) - next);
        let v6 = Ipv6Addr::from(0xfd7a_115c_a1e0_ffff_0000_0000_0000_0000u128 + next as u128);
        vec![IpAddr::V4(v4), IpAddr::V6(v6)]
    };
    let mut stand_in = |inv: &mut Inventory, login: &str, name: String| {
        inv.devices.push(Device {
            name: name.clone(),
            hostname: name,
            addresses: address(),
            user: Some(login.to_string()),
            tags: Vec::new(),
            advertised_routes: Vec::new(),
            enabled_routes: Vec::new(),
        });
        inv.devices.len() - 1
    };
    // Users whose standing is unknown, with the standings they may hold.
    let mut open: Vec<(String, Vec<Standing>)> = Vec::new();
    for u in users {
        if owners.contains(&u) {
            continue;
        }
        if inv.user(&u).is_some() {
            stand_in(&mut inv, &u, format!("<{u}'s device>"));
            continue;
        }
        let values = if in_tailnet_domain(&u) {
            standings.members_only()
        } else {
            standings.variants().to_vec()
        };
        if let [only] = values.as_slice() {
            let device = stand_in(&mut inv, &u, format!("<{u}'s device>"));
            inv.standings.insert(device, *only);
        } else {
            open.push((u, values));
        }
    }
    // By standing, then user: devices of one standing get consecutive addresses, so the
    // sets of a standing (`autogroup:member`, a role) stay a few intervals.
    let first_var = unknowns.vars.len();
    for standing in standings.variants() {
        for (k, (u, values)) in open.iter().enumerate() {
            let Some(i) = values.iter().position(|v| v == standing) else {
                continue;
            };
            let device = stand_in(
                &mut inv,
                u,
                format!("<{u}'s device, as {}>", standings.noun(*standing)),
            );
            inv.standings.insert(device, *standing);
            unknowns.literal.insert(device, (first_var + k, i));
            if *standing == owner_class {
                unknowns.owner.push((first_var + k, i));
            }
        }
    }
    for (k, (login, values)) in open.iter().enumerate() {
        unknowns.var_of.insert(login.clone(), first_var + k);
        if assume_members && values.contains(&Standing::Shared) {
            unknowns.assumed_members.insert(first_var + k);
        }
    }
    unknowns.vars.extend(
        open.into_iter()
            .map(|(login, values)| Unknown::Named { login, values }),
    );
    // A test from a role or membership autogroup is about every user in it, including
    // users the policy does not name; an inventory lists them all.
    if autogroup_sources && !has_inventory {
        unknowns.unnamed = true;
        for d in unnamed_domains(&deciding) {
            let values = if in_tailnet_domain(&format!("@{d}")) {
                standings.members_only()
            } else {
                standings.variants().to_vec()
            };
            for v in values {
                let var = unknowns.vars.len();
                let login = format!("someone-{}@{d}", standing_label(v));
                let device = stand_in(&mut inv, &login, format!("<{login}'s device>"));
                inv.standings.insert(device, v);
                unknowns.literal.insert(device, (var, 1));
                if v == owner_class {
                    unknowns.owner.push((var, 1));
                }
                unknowns.vars.push(Unknown::Unnamed {
                    domain: d.clone(),
                    standing: v,
                });
            }
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
    (inv, unknowns)
}

use crate::model::addr::{IpKey, ip_key};

/// The rules whose destinations contain an address.
struct RulesAt {
    by_address: super::stab::Stab<IpKey, usize>,
    /// Rules with an entry on `*` or `autogroup:self`, which may land anywhere.
    everywhere: Vec<usize>,
}

impl RulesAt {
    fn new(rules: &[Rule]) -> RulesAt {
        let mut intervals = Vec::new();
        let mut everywhere = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            for e in &r.entries {
                match &e.target {
                    Target::Everything | Target::OwnDevices => everywhere.push(i),
                    Target::Addresses(d) => {
                        for (a, b) in d.ranges() {
                            intervals.push((ip_key(a), ip_key(b), i));
                        }
                    }
                }
            }
        }
        everywhere.dedup();
        RulesAt {
            by_address: super::stab::Stab::new(intervals),
            everywhere,
        }
    }

    fn rules_at(&self, ip: IpAddr) -> Vec<usize> {
        let mut out = self.everywhere.clone();
        out.extend(self.by_address.at(ip_key(ip)));
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The policy's rules compiled against the stand-ins, as the tests need them: deciding a
/// test needs only the rules that may land on an address a test names (what a policy
/// with thousands of rules and a few tests mostly holds are other rules), so those are
/// compiled first, in policy order, with an index by destination address; every rule is
/// compiled only when a test needs them all (the closest rule to a failing flow, a
/// Tailscale Service).
struct Compiled<'a> {
    resolver: &'a Resolver<'a>,
    near: Vec<Rule>,
    stab: RulesAt,
    /// The rules of `near` with an address destination (an IP, CIDR, host alias or IP
    /// set) where a stand-in device's real address may lie, by index.
    placeholder: Vec<usize>,
    all: std::cell::OnceCell<Vec<Rule>>,
}

impl<'a> Compiled<'a> {
    fn new(resolver: &'a Resolver<'a>, placeholder_space: &IpSet) -> Compiled<'a> {
        let policy = resolver.policy;
        let tested = IpSet::union_all(
            &policy
                .tests
                .iter()
                .flat_map(|t| t.accept.iter().chain(&t.deny))
                .filter_map(|entry| parse_test_destination(&entry.value).ok())
                .map(|dst| resolver.addresses(&dst.host))
                .collect::<Vec<_>>(),
        );
        // Rules with an address destination where a stand-in's real address may lie
        // matter only when a test names such a destination, and only for the sources
        // tests name.
        let placeholder_tested = tested.overlaps(placeholder_space);
        let tested_sources = IpSet::union_all(
            &policy
                .tests
                .iter()
                .filter_map(|t| t.src.as_ref())
                .filter_map(|src| Selector::parse(src.value.trim()).ok())
                .map(|sel| resolver.source(&sel))
                .collect::<Vec<_>>(),
        );
        let sources_tested = |written: &super::rules::Written| {
            written
                .src()
                .iter()
                .filter_map(|s| s.selector.as_ref())
                .any(|sel| match sel {
                    Selector::Wildcard | Selector::Autogroup(Autogroup::DangerAll) => true,
                    other => {
                        resolver.shared(other).overlaps(&tested_sources)
                            || (other.names_addresses()
                                && resolver.shared(other).overlaps(placeholder_space))
                    }
                })
        };
        // An entry admits a flow only at an address its target holds (`*` and
        // `autogroup:self` anywhere), so these are all the rules `allowing` can return.
        let mut near = Vec::new();
        super::rules::compile_each(
            resolver,
            |written| {
                let lands = written
                    .destinations()
                    .filter_map(|d| d.sel.selector.as_ref())
                    .any(|sel| {
                        matches!(
                            sel,
                            Selector::Wildcard | Selector::Autogroup(Autogroup::SelfDevices)
                        ) || resolver.shared(sel).overlaps(&tested)
                            || (placeholder_tested
                                && sel.names_addresses()
                                && resolver.shared(sel).overlaps(placeholder_space)
                                && sources_tested(written))
                    });
                if lands {
                    super::rules::Wanted::Whole
                } else {
                    super::rules::Wanted::Not
                }
            },
            |rule| near.push(rule),
        );
        let placeholder = near
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.entries.iter().any(|e| {
                    matches!(&e.target, Target::Addresses(d) if d.overlaps(placeholder_space))
                        && e.by_address
                })
            })
            .map(|(i, _)| i)
            .collect();
        Compiled {
            resolver,
            stab: RulesAt::new(&near),
            near,
            placeholder,
            all: std::cell::OnceCell::new(),
        }
    }

    /// Every rule of the policy, in order.
    fn all(&self) -> &[Rule] {
        self.all.get_or_init(|| compile(self.resolver))
    }
}

/// (IPv6?, protocols, port) → the rules of [`Evaluator::placeholder_entries`].
type PlaceholderCache =
    FxHashMap<(bool, Vec<u8>, u16), std::rc::Rc<Vec<(usize, Result<Span, String>)>>>;

struct Evaluator<'a> {
    index: &'a super::inventory::AddressIndex,
    /// Tailscale Services' stand-in addresses.
    services: &'a FxHashMap<IpKey, &'a str>,
    service_space: IpSet,
    /// Where a subnet route may carry an address, as the intents proof sees it
    /// ([`super::inventory::subnet_route_space`]; see [`Side::Internet`]).
    subnet_routes: IpSet,
    /// Devices from this index on are stand-ins, whose addresses are placeholders.
    stand_ins_from: usize,
    /// Where a stand-in's real address may lie, per family (IPv4, IPv6).
    placeholder_families: [IpSet; 2],
    /// Per rule, its sources as written, split ([`SourceSplit`]), when first asked for.
    source_splits: std::cell::RefCell<FxHashMap<super::rules::Origin, std::rc::Rc<SourceSplit>>>,
    /// Per `via` rule, what its routers route (see [`Evaluator::via_lands`]).
    via_routed: std::cell::RefCell<FxHashMap<super::rules::Origin, IpSet>>,
    /// See [`Evaluator::placeholder_entries`].
    placeholder_cache: std::cell::RefCell<PlaceholderCache>,
    ssh_rules: std::cell::OnceCell<super::ssh::SshRules<'a>>,
    device_ssh_rules: std::cell::RefCell<FxHashMap<usize, std::rc::Rc<Vec<super::ssh::SshRule>>>>,
    policy: &'a Policy,
    inventory: &'a Inventory,
    resolver: &'a Resolver<'a>,
    rules: &'a Compiled<'a>,
    file: FileId,
    has_inventory: bool,
    unknowns: &'a Unknowns,
    /// Each TSA102 finding of a test, by its location, with what would decide it: for
    /// [`Undecided::fold`].
    undecided: std::cell::RefCell<Vec<(Span, Vec<Advice>)>>,
    /// Groups whose tests are from one stand-in user ([`GroupsAlone`]), by name.
    alone: Option<&'a FxHashMap<String, String>>,
    /// Logins of the users shared in from another tailnet, when first asked for.
    shared_logins: std::cell::OnceCell<FxHashSet<&'a str>>,
    /// The policy's postures by name, when first asked for.
    postures_by_name: std::cell::OnceCell<super::posture::Postures<'a>>,
}

/// One address per device inside `set` (IPv4 when it has one), or the set's single
/// address when no device holds it.
fn representatives(
    inventory: &Inventory,
    index: &super::inventory::AddressIndex,
    set: &IpSet,
) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = index
        .devices_holding(set)
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

/// How one (source, destination) pair fares against an assertion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Holds,
    Fails,
    /// Depends on a Tailscale Service's address, which no rule naming it decides.
    Unsure,
}

/// The most requirements a condition spells out, and users a message names.
const MAX_REQUIREMENTS: usize = 4;
const MAX_NAMED: usize = 5;
/// The most unknowns (users whose standing is open) one assertion is searched over.
const EXACT_LIMIT: usize = 64;

/// One assertion decided over the unknown standings.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Decision {
    Holds,
    /// Fails under every standing; the pair to show (by index), or `None` when the
    /// source is empty whatever the standings.
    Fails(Option<usize>),
    /// Holds under some standings only: the condition that makes it hold, when it can be
    /// said as one requirement per user, and whether a user being shared in rather than a
    /// member can make it fail.
    Open {
        condition: Option<String>,
        membership: bool,
    },
}

/// Whether a selector may take in devices of users the policy does not name, which the
/// stand-ins lack: every tailnet has an owner (a member, and an admin), any user may
/// hold a role or be shared in, and a domain's users need not be listed. An address no
/// known device holds may then be one of theirs, even when the policy names no user.
fn may_take_in_unnamed_users(selector: &Selector) -> bool {
    match selector {
        Selector::UserDomain(_) => true,
        Selector::Autogroup(a) => {
            matches!(
                a,
                Autogroup::Member | Autogroup::Members | Autogroup::Shared
            ) || crate::engine::inventory::Role::of_autogroup(*a).is_some()
        }
        _ => false,
    }
}

/// The literals one assertion involves, renumbered from 0 for a [`Problem`].
#[derive(Default)]
struct Local {
    vars: Vec<usize>,
    index: FxHashMap<usize, usize>,
}

impl Local {
    fn of(&mut self, (var, value): Lit) -> Lit {
        let next = self.vars.len();
        let i = *self.index.entry(var).or_insert(next);
        if i == next {
            self.vars.push(var);
        }
        (i, value)
    }
}

impl Unknowns {
    fn domain_size(&self, var: usize) -> usize {
        match &self.vars[var] {
            Unknown::Named { values, .. } => values.len(),
            Unknown::Unnamed { .. } => 2,
        }
    }

    /// Decide an assertion whose sources carry `sources` literals and whose failing
    /// pairs carry `failing` literals (a device without one is the same under every
    /// standing).
    /// `outsiders` are unknowns read as users outside the tailnet where that decides it.
    fn decide(
        &self,
        sources: &[Option<Lit>],
        failing: &[[Option<Lit>; 2]],
        outsiders: &[usize],
    ) -> Decision {
        // Without literals there is nothing to search.
        let clause_needed = !sources.is_empty() && sources.iter().all(Option::is_some);
        if failing.is_empty() && !clause_needed {
            return Decision::Holds;
        }
        if let Some(i) = failing.iter().position(|p| p.iter().all(Option::is_none)) {
            return Decision::Fails(Some(i));
        }
        let mut local = Local::default();
        let mut pairs: Vec<(usize, Vec<Lit>)> = Vec::new();
        for (i, p) in failing.iter().enumerate() {
            let mut lits: Vec<Lit> = p.iter().flatten().map(|l| local.of(*l)).collect();
            lits.sort_unstable();
            lits.dedup();
            // Two standings of one user never hold together.
            if lits.windows(2).any(|w| w[0].0 == w[1].0) {
                continue;
            }
            pairs.push((i, lits));
        }
        let clause: Option<Vec<Lit>> =
            clause_needed.then(|| sources.iter().flatten().map(|l| local.of(*l)).collect());
        // The tailnet has one owner: when every user who may be it is among the sources,
        // one of them is; otherwise at most one of those involved is.
        let source_lits: FxHashSet<Lit> = sources.iter().flatten().copied().collect();
        let owner_among_sources =
            self.unnamed && self.owner.iter().all(|l| source_lits.contains(l));
        let owner: Vec<Lit> = if owner_among_sources {
            self.owner.clone()
        } else {
            // Those of the unknowns involved, in `self.owner`'s order: found from the
            // unknowns (a few) rather than from every user who may be the owner (in a
            // tailnet of thousands, a pass over all of them per test was most of the run).
            let by_var = self.owner_by_var.get_or_init(|| {
                let mut by_var: FxHashMap<usize, Vec<usize>> = FxHashMap::default();
                for (i, (var, _)) in self.owner.iter().enumerate() {
                    by_var.entry(*var).or_default().push(i);
                }
                by_var
            });
            let mut at: Vec<usize> = local
                .vars
                .iter()
                .filter_map(|v| by_var.get(v))
                .flatten()
                .copied()
                .collect();
            at.sort_unstable();
            at.into_iter().map(|i| self.owner[i]).collect()
        };
        let owner: Vec<Lit> = owner.into_iter().map(|l| local.of(l)).collect();
        // The search is exact but grows with the users involved; past a bound the
        // assertion is reported as undecided rather than searched (never as failing).
        if local.vars.len() > EXACT_LIMIT {
            return Decision::Open {
                condition: None,
                membership: local.vars.iter().any(|v| {
                    matches!(&self.vars[*v], Unknown::Named { values, .. } if values.contains(&Standing::Shared))
                }),
            };
        }
        let mut problem = Problem {
            domains: local.vars.iter().map(|v| self.domain_size(*v)).collect(),
            nogoods: pairs.iter().map(|(_, l)| l.clone()).collect(),
            clauses: clause.iter().cloned().collect(),
            counts: Vec::new(),
        };
        let least = usize::from(owner_among_sources);
        if !owner.is_empty() && (least > 0 || self.owner_max < owner.len()) {
            problem.counts.push((owner, least, self.owner_max));
        }
        let all = problem.everything();
        let decided = |all: &Vec<Vec<bool>>| -> Result<Decision, TooBig> {
            if !problem.satisfiable(all, false)? {
                // The pair to show: one that can happen, the fewest assumptions first.
                let mut order: Vec<&(usize, Vec<Lit>)> = pairs.iter().collect();
                order.sort_by_key(|(_, l)| (l.len(), l.iter().map(|x| x.1).sum::<usize>()));
                for (i, lits) in order {
                    if problem.satisfiable(&forced(all, lits), true)? {
                        return Ok(Decision::Fails(Some(*i)));
                    }
                }
                return Ok(Decision::Fails(None));
            }
            if !can_fail(&problem, &pairs, clause.as_deref(), all)? {
                return Ok(Decision::Holds);
            }
            // Which values each unknown may take at all (the single owner rules some
            // out), and in an assignment that holds.
            let (mut possible, mut holding) = (all.clone(), all.clone());
            for var in 0..all.len() {
                for value in 0..all[var].len() {
                    if !all[var][value] {
                        continue;
                    }
                    let only = forced(all, &[(var, value)]);
                    possible[var][value] = problem.satisfiable(&only, true)?;
                    holding[var][value] = problem.satisfiable(&only, false)?;
                }
            }
            // Whether knowing who is a member (`--tailnet-domain`) would decide it.
            let membership = local.vars.iter().enumerate().any(|(i, var)| {
                let Unknown::Named { values, .. } = &self.vars[*var] else {
                    return false;
                };
                let (shared, members): (Vec<_>, Vec<_>) = values
                    .iter()
                    .zip(&holding[i])
                    .zip(&possible[i])
                    .filter(|(_, p)| **p)
                    .map(|(vh, _)| vh)
                    .partition(|(v, _)| **v == Standing::Shared);
                match (shared.first(), members.first()) {
                    (Some((_, s)), Some((_, m))) => s != m && members.iter().all(|(_, ok)| ok == m),
                    _ => false,
                }
            });
            // Said as one requirement per unknown only if every combination of the
            // values that hold holds.
            if can_fail(&problem, &pairs, clause.as_deref(), &holding)? {
                return Ok(Decision::Open {
                    condition: None,
                    membership,
                });
            }
            // It fails exactly when some unknown takes a value outside those that hold:
            // said as what makes it fail ("holds unless ...").
            let parts: Vec<String> = (0..all.len())
                .filter(|var| holding[*var] != possible[*var])
                .map(|var| {
                    let failing: Vec<bool> = possible[var]
                        .iter()
                        .zip(&holding[var])
                        .map(|(p, h)| *p && !*h)
                        .collect();
                    self.requirement(local.vars[var], &failing, &possible[var])
                })
                .collect();
            // Past a few users a condition is no longer read: name them instead.
            let condition = match parts.as_slice() {
                p if p.len() > MAX_REQUIREMENTS => None,
                [rest @ .., last] if rest.len() > 1 => {
                    Some(format!("{}, or {last}", rest.join(", ")))
                }
                _ => Some(parts.join(" or ")),
            };
            Ok(Decision::Open {
                condition,
                membership,
            })
        };
        let unrestricted = decided(&all).unwrap_or(Decision::Open {
            condition: None,
            membership: true,
        });
        if !matches!(unrestricted, Decision::Open { .. }) {
            return unrestricted;
        }
        // What a policy file does not say, read as its author most likely means it: a
        // deny test's source named nowhere else is someone outside the tailnet (who gets
        // at most what a user shared in gets), and the other users it names are members.
        // That may quiet the warning, or narrow it to the roles; it never makes a test fail.
        let mut assumed = all.clone();
        let mut members_assumed: Vec<usize> = Vec::new();
        for (i, var) in local.vars.iter().enumerate() {
            let Unknown::Named { values, .. } = &self.vars[*var] else {
                continue;
            };
            let outsider = outsiders.contains(var);
            if !outsider && !self.assumed_members.contains(var) {
                continue;
            }
            for (ok, v) in assumed[i].iter_mut().zip(values) {
                *ok &= (*v == Standing::Shared) == outsider;
            }
            if !outsider {
                members_assumed.push(i);
            }
        }
        if assumed == all || !matches!(problem.satisfiable(&assumed, true), Ok(true)) {
            return unrestricted;
        }
        match decided(&assumed) {
            Ok(Decision::Holds) => {
                let mut used = self.assumption_used.borrow_mut();
                for i in members_assumed {
                    if let Unknown::Named { login, .. } = &self.vars[local.vars[i]] {
                        used.insert(login.clone());
                    }
                }
                Decision::Holds
            }
            Ok(open @ Decision::Open { .. }) => open,
            _ => unrestricted,
        }
    }

    /// "alice@example.com is the tailnet's owner", for the values an unknown may take.
    /// Of the `possible` values.
    fn requirement(&self, var: usize, allowed: &[bool], possible: &[bool]) -> String {
        match &self.vars[var] {
            Unknown::Named { login, values } => {
                let pick = |mask: &[bool]| -> Vec<Standing> {
                    values
                        .iter()
                        .zip(mask)
                        .filter(|(_, a)| **a)
                        .map(|(v, _)| *v)
                        .collect()
                };
                let predicate = self.standings.predicate(&pick(allowed), &pick(possible));
                format!("{login} {predicate}")
            }
            Unknown::Unnamed { domain, standing } => {
                let who = if domain == OTHER_DOMAIN {
                    "user the policy does not name".to_string()
                } else {
                    format!("user of {domain} the policy does not name")
                };
                let noun = self.standings.noun(*standing);
                if allowed[1] {
                    format!("some {who} is {noun}")
                } else {
                    format!("no {who} is {noun}")
                }
            }
        }
    }

    /// Why an assertion that holds under some standings and fails under others is open:
    /// the condition that makes it hold when one was found, else whose standings decide.
    fn why_open(&self, condition: Option<String>, involved: impl Iterator<Item = Lit>) -> String {
        match condition {
            Some(c) => format!("which holds unless {c}"),
            None => format!(
                "which depends on the roles or membership of {}",
                self.users_in(involved)
            ),
        }
    }

    /// The users an assertion's outcome depends on, for a message.
    fn users_in(&self, lits: impl Iterator<Item = Lit>) -> String {
        let mut named: Vec<&str> = Vec::new();
        let mut unnamed = false;
        for (var, _) in lits {
            match &self.vars[var] {
                Unknown::Named { login, .. } => named.push(login),
                Unknown::Unnamed { .. } => unnamed = true,
            }
        }
        named.sort_unstable();
        named.dedup();
        let extra = named.len().saturating_sub(MAX_NAMED);
        let mut parts: Vec<String> = named
            .iter()
            .take(MAX_NAMED)
            .map(|s| s.to_string())
            .collect();
        if extra > 0 {
            parts.push(format!("{extra} more"));
        }
        if unnamed {
            parts.push("users the policy does not name".into());
        }
        join_and(&parts.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

/// `allowed` with `lits` forced true.
fn forced(allowed: &[Vec<bool>], lits: &[Lit]) -> Vec<Vec<bool>> {
    let mut out = allowed.to_vec();
    for (var, value) in lits {
        for (v, ok) in out[*var].iter_mut().enumerate() {
            *ok &= v == *value;
        }
    }
    out
}

/// Can the assertion fail within `allowed`: a failing pair happen, or every source be
/// absent?
fn can_fail(
    problem: &Problem,
    pairs: &[(usize, Vec<Lit>)],
    clause: Option<&[Lit]>,
    allowed: &[Vec<bool>],
) -> Result<bool, TooBig> {
    for (_, lits) in pairs {
        if problem.satisfiable(&forced(allowed, lits), true)? {
            return Ok(true);
        }
    }
    if let Some(clause) = clause {
        let mut none = allowed.to_vec();
        for (var, value) in clause {
            none[*var][*value] = false;
        }
        return problem.satisfiable(&none, true);
    }
    Ok(false)
}

/// What an inventory would settle about a test that cannot be decided offline, as the
/// finding that folds such tests says it ([`Undecided::fold`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    WhoseAddress,
    AddressOf,
    /// A test undecided for roles alone says its own condition ("unless alice is a member
    /// without the admin role"), short, so it is not folded with tests undecided for
    /// devices' addresses, only with tests under the same condition
    /// ([`Undecided::fold_roles`]).
    Roles,
    Routes,
}

impl Cause {
    fn says(self) -> &'static str {
        match self {
            Cause::WhoseAddress => "whose device an address is",
            Cause::AddressOf => "where devices' addresses lie",
            Cause::Roles => "users' roles or membership",
            Cause::Routes => "what a router routes",
        }
    }
}

/// At most [`MAX_NAMED`] items, then how many more, joined with `join`: a large policy
/// may have hundreds of rules or tags that would decide one test, and a message names a
/// few.
fn capped(items: &[&str], join: fn(&[&str]) -> String) -> String {
    if items.len() <= MAX_NAMED + 1 {
        return join(items);
    }
    let more = format!("{} more", items.len() - MAX_NAMED);
    let mut shown = items[..MAX_NAMED].to_vec();
    shown.push(&more);
    join(&shown)
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

fn join_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// What would decide an undecided assertion, as its help says it. Advice about some
/// names is kept apart from its wording so that one test's entries, said together, name
/// every address or device once in one sentence rather than repeat the sentence per entry.
#[derive(Clone, Debug, PartialEq)]
enum Advice {
    /// Said as it is, with what an inventory would settle when it would.
    Said(String, Option<Cause>),
    /// Advice of one kind about these names (addresses, tags, users).
    About(AdviceKind, Vec<String>),
    /// Users' roles or membership decide: the help as said, and the one condition under
    /// which the assertion fails, when one was found ("alice@example.com is a member
    /// without the admin role"), so that tests failing under the same condition can be
    /// said once ([`Undecided::fold`]).
    Roles {
        help: String,
        unless: Option<String>,
        /// The help said of several tests that turn on the same condition.
        help_for_many: String,
        /// Knowing who is a member decides too, and `--tailnet-domain` was not given: the
        /// help says that it counts a domain's users as members.
        domain_decides: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum AdviceKind {
    /// Offline: which device an address is, only an inventory says.
    WhoseAddress,
    /// Offline: a device's address, only an inventory says.
    AddressOf,
    /// With an inventory that has no device for the names.
    NoDevice,
}

impl Advice {
    /// A finding's help, as it is, and what an inventory would settle.
    fn of(diag: &Diagnostic, cause: Option<Cause>) -> Advice {
        Advice::Said(diag.help.clone().unwrap_or_default(), cause)
    }

    /// The help of a finding [`Evaluator::failure`] made undecidable: an address no known
    /// device holds, which an inventory settles.
    fn no_known_device(diag: &Diagnostic) -> Advice {
        Advice::of(diag, Some(Cause::WhoseAddress))
    }

    /// The help of a finding that roles or membership decide ([`Evaluator::open`]), and
    /// that help said of several tests ([`Evaluator::roles_help`]).
    fn roles(
        diag: &Diagnostic,
        unless: Option<String>,
        help_for_many: String,
        domain_decides: bool,
    ) -> Advice {
        Advice::Roles {
            help: diag.help.clone().unwrap_or_default(),
            unless,
            help_for_many,
            domain_decides,
        }
    }

    /// Whether passing an inventory decides what this advice is about.
    fn inventory_decides(&self) -> bool {
        self.cause().is_some()
    }

    /// What this advice says a test turns on, when an inventory settles it.
    fn cause(&self) -> Option<Cause> {
        match self {
            Advice::About(AdviceKind::WhoseAddress, _) => Some(Cause::WhoseAddress),
            Advice::About(AdviceKind::AddressOf, _) => Some(Cause::AddressOf),
            Advice::About(AdviceKind::NoDevice, _) => None,
            Advice::Roles { .. } => Some(Cause::Roles),
            Advice::Said(_, cause) => *cause,
        }
    }

    /// Adds `new` to `all`: names join advice of the same kind, text is said once.
    fn merge(all: &mut Vec<Advice>, new: &Advice) {
        match new {
            Advice::Said(text, _) if text.is_empty() || all.contains(new) => {}
            Advice::Roles { .. } if all.contains(new) => {}
            Advice::About(kind, names) => {
                match all
                    .iter_mut()
                    .find(|a| matches!(a, Advice::About(k, _) if k == kind))
                {
                    Some(Advice::About(_, known)) => {
                        for n in names {
                            if !known.contains(n) {
                                known.push(n.clone());
                            }
                        }
                    }
                    _ => all.push(new.clone()),
                }
            }
            _ => all.push(new.clone()),
        }
    }
}

impl std::fmt::Display for Advice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, names) = match self {
            Advice::Said(text, _) | Advice::Roles { help: text, .. } => return f.write_str(text),
            Advice::About(kind, names) => (kind, names),
        };
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let named = capped(&names, join_and);
        let one = names.len() == 1;
        match kind {
            AdviceKind::WhoseAddress => write!(
                f,
                "a policy file does not say whose device an address is: pass --inventory (devices saved by `tsacl pull --inventory FILE`) to decide tests of {named}, or name {} in the test by tag or user",
                if one { "the device" } else { "the devices" }
            ),
            AdviceKind::AddressOf => write!(
                f,
                "a device's address is not in the policy: pass --inventory (devices saved by `tsacl pull --inventory FILE`) to decide tests of {named}, or name {} in the rule by tag or user",
                if one { "it" } else { "them" }
            ),
            AdviceKind::NoDevice => write!(
                f,
                "the inventory has no device for {named}, so {} unknown; rules that name {} by tag or user decide tests of {}",
                if one {
                    "its address is"
                } else {
                    "their addresses are"
                },
                if one { named.as_str() } else { "them" },
                if one { "it" } else { "them" }
            ),
        }
    }
}

/// Rules with an address range that may hold the address of a service or of a device
/// tsacl stands in for, with the range, and on which side of the flow it is.
type Ranges<'r> = Vec<(&'r Rule, String, Side)>;

/// What an undecided rule turns on: the real addresses of the source's or the
/// destination's devices, or whose device an address the test names (and no known device
/// holds) is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Source,
    Destination,
    SourceOwner,
    DestinationOwner,
    /// The flow between the two devices' IPv4 addresses is denied, and between their
    /// IPv6 addresses allowed: no recorded answer shows which the control plane's test
    /// run counts (tsacl, like the captures it agrees with, tests IPv4 first).
    Family,
    /// An address the test names, which no known device holds, is reached by a `via`
    /// rule only if one of its routers routes it (not if it is a device's own).
    Via,
    /// A public address that a subnet route may carry, reached only by a rule to
    /// `autogroup:internet`: no capture shows whether the control plane's test run counts
    /// exit-node access to an address a subnet route carries (clients send it to the
    /// subnet router). Live policies the control plane tests on every push count it for
    /// other public addresses (nlopez/tailnet accepts `tag:work -> 1.1.1.1:53` through
    /// `autogroup:internet`) and expect it not to for a routed one (regulad/tailscale-acls
    /// denies tags a routed public IPv6 address that only `autogroup:internet` opens).
    Internet,
    /// The flow is allowed only by rules with a device posture (their `srcPosture`, or the
    /// policy's `defaultSrcPosture`) that tsacl cannot check against the test: the test
    /// gives no `srcPostureAttrs`, or a condition reads them in a way no document decides
    /// ([`super::posture`]). A deny test it would otherwise fail is undecided.
    Posture,
}

/// A rule's sources as written, split: the addresses of the selectors that name devices
/// by who they are, and of those that name addresses (an IP, CIDR, range, host alias or
/// IP set), with their texts. A stand-in device's address is a placeholder: only the
/// first decide whether the rule's sources take it in.
struct SourceSplit {
    identity: IpSet,
    identity_texts: Vec<String>,
    address: IpSet,
    address_texts: Vec<String>,
}

/// Whether a rule's sources take in a source.
enum Taken {
    In,
    Out,
    /// Only the source's real address decides: the rule's address sources cover part of
    /// where it may lie (their texts).
    Open(String),
}

/// A pair of a source and a destination that an assertion concerns, and how it fares.
struct Pair<'r> {
    src: IpAddr,
    dst: IpAddr,
    verdict: Verdict,
    /// The rules that allow the flow, with the matching entry, for a denied test.
    allowing: Vec<(&'r Rule, Span)>,
    ranges: Ranges<'r>,
    /// Rules that would allow the flow but for their posture, which the test's
    /// `srcPostureAttrs` do not meet: with why, for an accept test that fails.
    unmet: Vec<(&'r Rule, Span, String)>,
}

impl Evaluator<'_> {
    /// Without an inventory, an address that is no stand-in device may belong to any
    /// device: a failure that involves one cannot be decided offline.
    fn undecidable(&self, ips: &[IpAddr]) -> Option<IpAddr> {
        if self.has_inventory {
            return None;
        }
        ips.iter()
            .find(|ip| {
                self.index.device_at(**ip).is_none() && !self.services.contains_key(&ip_key(**ip))
            })
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
                "{ip} is the address of no device tsacl knows; pass --inventory (devices saved \
                from the API) to decide this test"
            )),
        }
    }

    /// What decides an assertion that holds only under some standings, said of `tests`
    /// tests; `membership` when whether a user is a member decides too.
    fn roles_help(&self, membership: bool, tests: usize) -> String {
        let mut help = if self.has_inventory {
            "the inventory does not list these users: its `users` (as `tsacl pull --inventory \
            FILE` saves them) decide roles and membership"
                .to_string()
        } else {
            format!(
                "a policy file does not say who holds which role or who is a member of the \
                tailnet: pass --inventory with the tailnet's users (`tsacl pull \
                --inventory FILE` saves devices and users) to decide {}",
                if tests == 1 { "it" } else { "them" }
            )
        };
        if self.domain_decides(membership) {
            help.push_str("; --tailnet-domain DOMAIN counts users of DOMAIN as members");
        }
        help
    }

    /// Whether `--tailnet-domain` would help decide an assertion that turns on standings
    /// (`membership`: on who is a member): it was not given.
    fn domain_decides(&self, membership: bool) -> bool {
        membership && !self.unknowns.domains_given
    }

    /// The warning for an assertion that holds only under some standings (or some
    /// address of a Tailscale Service).
    fn open(&self, span: Span, expectation: String, why: String, membership: bool) -> Diagnostic {
        let help = self.roles_help(membership, 1);
        Diagnostic::new(
            Code::TestUndecidable,
            self.at(span),
            format!("{}: {expectation}, {why}", self.cannot_decide()),
        )
        .with_help(help)
    }

    /// A test whose source resolves to no address fails (headscale: "source ... resolved
    /// to no IP addresses"), unless the source is a group whose members are all something
    /// other than users (TSA014): whether the control plane takes those in is unrecorded.
    fn empty_source(
        &self,
        src: &Spanned<String>,
        failed: Code,
        prefix: &str,
        why: &str,
    ) -> Diagnostic {
        let text = src.value.trim();
        let members: Vec<&str> = self
            .policy
            .group(text)
            .into_iter()
            .flat_map(|g| &g.members)
            .map(|m| m.value.trim())
            .collect();
        let is_user = |m: &&str| matches!(Selector::parse(m), Ok(Selector::User(_)));
        let not_users: Vec<&str> = members.iter().copied().filter(|m| !is_user(m)).collect();
        if not_users.is_empty() || members.iter().any(is_user) {
            return Diagnostic::new(failed, self.at(src.span), format!("{prefix}: {why}"));
        }
        let listed = capped(&not_users, join_and);
        Diagnostic::new(
            Code::TestUndecidable,
            self.at(src.span),
            format!(
                "{}: {text} holds no user, only {listed}, which {} not a user: the test's source resolves to no address unless the control plane takes {} in",
                self.cannot_decide(),
                if not_users.len() == 1 { "is" } else { "are" },
                if not_users.len() == 1 { "it" } else { "them" },
            ),
        )
        .with_help(format!("list the users of {text} by login name (groups hold users)"))
    }

    /// How an undecidable assertion's message starts.
    fn cannot_decide(&self) -> &'static str {
        if self.has_inventory {
            "cannot decide"
        } else {
            "cannot decide offline"
        }
    }

    fn at(&self, span: Span) -> Location {
        Location {
            file: self.file,
            span,
        }
    }

    fn owner_of(&self, ip: IpAddr) -> Option<&str> {
        self.index
            .device_at(ip)
            .and_then(|i| self.inventory.devices[i].owner())
    }

    /// The unknown standing a stand-in device at `ip` assumes.
    fn literal(&self, ip: IpAddr) -> Option<Lit> {
        self.index
            .device_at(ip)
            .and_then(|i| self.unknowns.literal.get(&i))
            .copied()
    }

    /// The rules allowing this flow, each with the destination entry that matches. At a
    /// stand-in device, only entries that name devices (its address is a placeholder:
    /// [`Evaluator::device_rules`] decides address entries).
    fn allowing(&self, src: IpAddr, dst: IpAddr, proto: u8, port: u16) -> Vec<(&Rule, Span)> {
        let near = &self.rules.near;
        let stand_in = self.stand_in(dst).is_some();
        self.rules
            .stab
            .rules_at(dst)
            .into_iter()
            .map(|r| &near[r])
            .filter(|r| matches!(self.taken(r, src), Taken::In))
            .filter(|r| self.via_lands(r, dst))
            .filter_map(|r| {
                r.entries
                    .iter()
                    .filter(|e| !(stand_in && e.by_address))
                    .find(|e| e.admits(|ip| self.owner_of(ip), src, dst, proto, port))
                    .map(|e| (r, e.span))
            })
            .collect()
    }

    /// Moves the rules that reach `dst`, a public address a subnet route may carry, only
    /// through `autogroup:internet` from `allowing` to `ranges` ([`Side::Internet`]).
    fn exit_node_only<'r>(
        &'r self,
        src: IpAddr,
        dst: IpAddr,
        protos: &[u8],
        port: u16,
        allowing: &mut Vec<(&'r Rule, Span)>,
        ranges: &mut Ranges<'r>,
    ) {
        let internet = super::resolve::internet();
        if !internet.contains(dst) || !self.subnet_routes.contains(dst) {
            return;
        }
        allowing.retain(|(r, _)| {
            let otherwise = r.entries.iter().any(|e| {
                !matches!(&e.target, Target::Addresses(set) if **set == *internet)
                    && protos
                        .iter()
                        .any(|p| e.admits(|ip| self.owner_of(ip), src, dst, *p, port))
            });
            if !otherwise {
                ranges.push((*r, String::new(), Side::Internet));
            }
            otherwise
        });
    }

    /// Checks the postures of the rules that allow a flow from `src`: the control plane
    /// lets a rule with a posture (its own `srcPosture`, else `defaultSrcPosture`) allow
    /// it only when the source meets one, which for a test means its `srcPostureAttrs`
    /// ([`super::posture`]). Rules whose postures those attributes do not meet leave
    /// `allowing` and are returned, with why; when every rule left is one tsacl cannot
    /// decide, they move to `ranges` ([`Side::Posture`]), with the first doubt in `doubt`.
    /// Without `srcPostureAttrs`, how the test run treats postures is not recorded: a deny
    /// test that only postured rules fail is left undecided, an accept test as it was.
    /// Devices shared in from another tailnet are not checked for posture (reference
    /// §2.9).
    fn with_postures<'r>(
        &self,
        src: IpAddr,
        attrs: Option<&super::posture::Attrs>,
        accept: bool,
        allowing: &mut Vec<(&'r Rule, Span)>,
        ranges: &mut Ranges<'r>,
        doubt: &mut Option<String>,
    ) -> Vec<(&'r Rule, Span, String)> {
        use super::posture::Meets;
        if allowing.iter().all(|(r, _)| self.postures(r).is_empty()) || self.shared_in(src) {
            return Vec::new();
        }
        let undecided = |rules: &mut dyn Iterator<Item = &'r Rule>, ranges: &mut Ranges<'r>| {
            for r in rules {
                for posture in self.postures(r) {
                    ranges.push((r, posture.value.trim().to_string(), Side::Posture));
                }
            }
        };
        let Some(attrs) = attrs else {
            if !accept && allowing.iter().all(|(r, _)| !self.postures(r).is_empty()) {
                undecided(&mut allowing.drain(..).map(|(r, _)| r), ranges);
            }
            return Vec::new();
        };
        let mut unmet = Vec::new();
        let mut open = Vec::new();
        allowing.retain(|&(r, span)| {
            let postures = self.postures(r);
            if postures.is_empty() {
                return true;
            }
            let names = postures.iter().map(|p| p.value.as_str());
            match self.postures_by_name().meets_any(names, attrs) {
                Meets::Yes => true,
                Meets::No(why) => {
                    unmet.push((r, span, why));
                    false
                }
                Meets::Unknown(why) => {
                    doubt.get_or_insert(why);
                    open.push(r);
                    false
                }
            }
        });
        if allowing.is_empty() {
            undecided(&mut open.into_iter(), ranges);
        }
        unmet
    }

    fn postures_by_name(&self) -> &super::posture::Postures<'_> {
        self.postures_by_name
            .get_or_init(|| super::posture::Postures::new(self.policy))
    }

    /// Whether the device at `ip` is shared in from another tailnet.
    fn shared_in(&self, ip: IpAddr) -> bool {
        let Some(i) = self.index.device_at(ip) else {
            return false;
        };
        let Some(owner) = self.inventory.devices[i].owner() else {
            return false;
        };
        match self.inventory.standings.get(&i) {
            Some(standing) => *standing == Standing::Shared,
            None => self
                .shared_logins
                .get_or_init(|| {
                    let shared = self.inventory.users.iter().filter(|u| u.shared);
                    shared.map(|u| u.login.as_str()).collect()
                })
                .contains(owner),
        }
    }

    /// The postures a rule's sources must meet: its own `srcPosture`, else the policy's
    /// `defaultSrcPosture` (replaced, not added to).
    fn postures(&self, r: &Rule) -> &[Spanned<String>] {
        match super::rules::Written::at(self.policy, r.origin) {
            Some(w) if !w.posture().is_empty() => w.posture(),
            Some(_) => &self.policy.default_src_posture,
            None => &[],
        }
    }

    /// Whether `r`'s sources take in `src`. A stand-in device's address is a
    /// placeholder: the rule's address selectors take it in only when they cover where
    /// its real address may lie (in its family), and leave it open when they cover part.
    fn taken(&self, r: &Rule, src: IpAddr) -> Taken {
        if r.src_everything {
            return Taken::In;
        }
        if self.stand_in(src).is_none() {
            return if r.src.contains(src) {
                Taken::In
            } else {
                Taken::Out
            };
        }
        let split = self.source_split(r);
        let family = &self.placeholder_families[usize::from(src.is_ipv6())];
        if split.identity.contains(src) || split.address.contains_set(family) {
            Taken::In
        } else if split.address.overlaps(family) {
            Taken::Open(join_and(
                &split
                    .address_texts
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            ))
        } else {
            Taken::Out
        }
    }

    /// `r`'s sources as written, split ([`SourceSplit`]).
    fn source_split(&self, r: &Rule) -> std::rc::Rc<SourceSplit> {
        if let Some(known) = self.source_splits.borrow().get(&r.origin) {
            return known.clone();
        }
        let written = super::rules::Written::at(self.policy, r.origin).map_or(&[][..], |w| w.src());
        let mut split = SourceSplit {
            identity: IpSet::new(),
            identity_texts: Vec::new(),
            address: IpSet::new(),
            address_texts: Vec::new(),
        };
        if r.origin == super::rules::Origin::Default {
            split.identity = r.src.union().into_owned();
        }
        for sel in written {
            let Some(selector) = &sel.selector else {
                continue;
            };
            let set = self.resolver.source_shared(selector);
            if selector.names_addresses() {
                split.address.union_with(&set);
                split.address_texts.push(sel.raw.trim().to_string());
            } else {
                // A selector that takes in no device (an empty group) could not take in
                // an unknown one either; one whose devices may be those of users the
                // policy does not name may, whatever the stand-ins hold.
                if set.overlaps(tailnet_space()) || may_take_in_unnamed_users(selector) {
                    split.identity_texts.push(sel.raw.trim().to_string());
                }
                split.identity.union_with(&set);
            }
        }
        let split = std::rc::Rc::new(split);
        self.source_splits
            .borrow_mut()
            .insert(r.origin, split.clone());
        split
    }

    /// The stand-in device at `ip`, if it is one.
    fn stand_in(&self, ip: IpAddr) -> Option<&Device> {
        self.index
            .device_at(ip)
            .filter(|&i| i >= self.stand_ins_from)
            .map(|i| &self.inventory.devices[i])
    }

    /// Whether a rule reaches `dst` as the control plane sends it. A `via` rule is sent
    /// only to devices with one of its tags, for the destinations their approved routes
    /// (the internet, on an exit node) take in (captures `via-grant-v47`, `grant-v11`):
    /// never to a device for its own address, unless such a device routes it. Whether the
    /// tailnet's routers carry an address no device holds is for the inventory to say.
    fn via_lands(&self, rule: &Rule, dst: IpAddr) -> bool {
        if rule.via.is_empty() {
            return true;
        }
        if self.index.device_at(dst).is_none() {
            // Offline, an address in the tailnet's range that no known device holds may
            // be a device's own: [`Evaluator::owner_rules`] leaves it open.
            return self.has_inventory || !tailnet_space().contains(dst);
        }
        if let Some(routed) = self.via_routed.borrow().get(&rule.origin) {
            return routed.contains(dst);
        }
        // What the filter sends each device for the rule, over every device, once.
        let routed = IpSet::union_all(
            &self
                .inventory
                .devices
                .iter()
                .map(|d| super::filter::via_routes(rule, d))
                .collect::<Vec<_>>(),
        );
        let lands = routed.contains(dst);
        self.via_routed.borrow_mut().insert(rule.origin, routed);
        lands
    }

    /// The rules opening a flow to a device: at a stand-in, whose address is a
    /// placeholder, an address entry (an IP, CIDR, host alias or IP set) allows the flow
    /// when it covers the range where the device's real address may lie in one of its
    /// families, and leaves it open (the range, with the rule) when it covers only part
    /// of it: only the device's real address decides, as in the proof (TSA103).
    fn device_rules(
        &self,
        src: IpAddr,
        dst: IpAddr,
        protos: &[u8],
        port: u16,
    ) -> (Vec<(&Rule, Span)>, Ranges<'_>) {
        let mut allowing: Vec<(&Rule, Span)> = protos
            .iter()
            .flat_map(|p| self.allowing(src, dst, *p, port))
            .collect();
        let mut ranges = Vec::new();
        // Rules whose address sources cover part of where a stand-in source may lie.
        if self.stand_in(src).is_some() {
            let dst_stand_in = self.stand_in(dst).is_some();
            for r in self
                .rules
                .stab
                .rules_at(dst)
                .into_iter()
                .map(|r| &self.rules.near[r])
            {
                let Taken::Open(text) = self.taken(r, src) else {
                    continue;
                };
                let admits = r.entries.iter().any(|e| {
                    !(dst_stand_in && e.by_address)
                        && protos
                            .iter()
                            .any(|p| e.admits(|ip| self.owner_of(ip), src, dst, *p, port))
                });
                if admits && self.via_lands(r, dst) {
                    ranges.push((r, text, Side::Source));
                }
            }
        }
        if self.stand_in(dst).is_none() {
            return (allowing, ranges);
        }
        // The flow is in one family: an entry covering the device's range in the other
        // decides nothing here (see `Side::Family`).
        for (r, found) in self.placeholder_entries(dst.is_ipv6(), protos, port).iter() {
            let r = &self.rules.near[*r];
            if allowing.iter().any(|(a, _)| std::ptr::eq(*a, r)) {
                continue;
            }
            let found = found.clone();
            if !self.via_lands(r, dst) {
                continue;
            }
            match (self.taken(r, src), found) {
                (Taken::Out, _) => {}
                (Taken::In, Ok(span)) => allowing.push((r, span)),
                (Taken::Open(text), Ok(_)) => ranges.push((r, text, Side::Source)),
                (_, Err(host)) => ranges.push((r, host, Side::Destination)),
            }
        }
        (allowing, ranges)
    }

    /// The rules (by index in `near`) with an address entry for this port and protocol
    /// that covers where a stand-in's address may lie in the family (its span), or else
    /// covers part of it (its range, written). They depend only on the port, protocols
    /// and family, so each is found once: a large policy has thousands of such rules and
    /// its tests ask about a few ports.
    fn placeholder_entries(
        &self,
        ipv6: bool,
        protos: &[u8],
        port: u16,
    ) -> std::rc::Rc<Vec<(usize, Result<Span, String>)>> {
        let key = (ipv6, protos.to_vec(), port);
        if let Some(known) = self.placeholder_cache.borrow().get(&key) {
            return known.clone();
        }
        let family = &self.placeholder_families[usize::from(ipv6)];
        let mut out = Vec::new();
        for &i in &self.rules.placeholder {
            let r = &self.rules.near[i];
            let mut found: Option<Result<Span, String>> = None;
            for e in &r.entries {
                let Target::Addresses(set) = &e.target else {
                    continue;
                };
                if !(e.by_address
                    && e.ports.iter().any(|p| p.contains(port))
                    && protos.iter().any(|p| e.protocols.contains(*p)))
                {
                    continue;
                }
                if set.contains_set(family) {
                    found = Some(Ok(e.span));
                    break;
                }
                if found.is_none() && set.overlaps(family) {
                    found = Some(Err(r.destination_host(e).trim().to_string()));
                }
            }
            if let Some(found) = found {
                out.push((i, found));
            }
        }
        let out = std::rc::Rc::new(out);
        self.placeholder_cache.borrow_mut().insert(key, out.clone());
        out
    }

    /// The same two devices' addresses in the other family, when both are devices (not
    /// addresses the test names) and both have one.
    fn other_family(
        &self,
        src: IpAddr,
        dst: IpAddr,
        src_fixed: bool,
        dst_fixed: bool,
    ) -> Option<(IpAddr, IpAddr)> {
        if src_fixed || dst_fixed || src.is_ipv6() != dst.is_ipv6() {
            return None;
        }
        let other = |ip: IpAddr| {
            let device = &self.inventory.devices[self.index.device_at(ip)?];
            device
                .addresses
                .iter()
                .find(|a| a.is_ipv6() != ip.is_ipv6())
                .copied()
        };
        Some((other(src)?, other(dst)?))
    }

    /// Offline, an address a test names that no known device holds may be any device's
    /// (or none's): the rules that would open the flow if it were the address of a device
    /// their selectors name by who it is (a user, group, tag or autogroup), with those
    /// selectors. Only the inventory says whose it is; `via` rules never reach a device's
    /// own address.
    fn owner_rules(&self, src: IpAddr, dst: IpAddr, protos: &[u8], port: u16) -> Ranges<'_> {
        let unknown = |ip: IpAddr| {
            !self.has_inventory
                && self.index.device_at(ip).is_none()
                && !self.services.contains_key(&ip_key(ip))
                && tailnet_space().contains(ip)
        };
        let (src_unknown, dst_unknown) = (unknown(src), unknown(dst));
        if !src_unknown && !dst_unknown {
            return Vec::new();
        }
        let dst_stand_in = self.stand_in(dst).is_some();
        let dst_family = &self.placeholder_families[usize::from(dst.is_ipv6())];
        let mut out = Vec::new();
        for r in self.rules.all() {
            // `None`: this side leaves the flow out; `Some(vec![])`: it takes it in;
            // otherwise it would take it in if the address were a device of one of these
            // selectors, or if the source's devices were inside these addresses.
            let sources: Option<Vec<(String, Side)>> = match self.taken(r, src) {
                Taken::In => Some(Vec::new()),
                Taken::Open(text) => Some(vec![(text, Side::Source)]),
                Taken::Out if src_unknown => {
                    let split = self.source_split(r);
                    let texts: Vec<(String, Side)> = split
                        .identity_texts
                        .iter()
                        .map(|t| (t.clone(), Side::SourceOwner))
                        .collect();
                    (!texts.is_empty()).then_some(texts)
                }
                Taken::Out => None,
            };
            let Some(sources) = sources else { continue };
            let mut destination: Option<Vec<(String, Side)>> = None;
            for e in &r.entries {
                if !(e.ports.iter().any(|p| p.contains(port))
                    && protos.iter().any(|p| e.protocols.contains(*p)))
                {
                    continue;
                }
                let host = || r.destination_host(e).trim().to_string();
                let here = match &e.target {
                    Target::Everything => Some(None),
                    // A stand-in's address is a placeholder (see `device_rules`).
                    Target::Addresses(set) if e.by_address && dst_stand_in => {
                        if set.contains_set(dst_family) {
                            Some(None)
                        } else if set.overlaps(dst_family) {
                            Some(Some((host(), Side::Destination)))
                        } else {
                            None
                        }
                    }
                    Target::Addresses(set) if set.contains(dst) => Some(None),
                    Target::Addresses(_) if e.by_address => None,
                    // Devices named by who they are (not autogroup:internet, nor a group
                    // with no members), users the policy does not name included.
                    Target::Addresses(set)
                        if dst_unknown
                            && r.via.is_empty()
                            && (set.overlaps(tailnet_space())
                                || Selector::parse(&host())
                                    .is_ok_and(|sel| may_take_in_unnamed_users(&sel))) =>
                    {
                        Some(Some((host(), Side::DestinationOwner)))
                    }
                    // Only a user's own devices: the source must be a user's device, or
                    // may be one.
                    Target::OwnDevices
                        if dst_unknown
                            && r.via.is_empty()
                            && (src_unknown || self.owner_of(src).is_some()) =>
                    {
                        Some(Some((host(), Side::DestinationOwner)))
                    }
                    _ => None,
                };
                match here {
                    None => {}
                    Some(None) => {
                        destination = Some(Vec::new());
                        break;
                    }
                    Some(Some(open)) => destination.get_or_insert_with(Vec::new).push(open),
                }
            }
            let Some(destination) = destination else {
                continue;
            };
            if !r.via.is_empty() {
                if dst_unknown && destination.is_empty() {
                    for via in &r.via {
                        out.push((r, via.clone(), Side::Via));
                    }
                    out.extend(sources.into_iter().map(|(text, side)| (r, text, side)));
                }
                continue;
            }
            // Without an unknown address in the rule's way, `device_rules` has decided.
            let owner = |side: &[(String, Side)]| {
                side.iter()
                    .any(|(_, s)| matches!(s, Side::SourceOwner | Side::DestinationOwner))
            };
            if !(owner(&sources) || owner(&destination)) {
                continue;
            }
            out.extend(
                sources
                    .into_iter()
                    .chain(destination)
                    .map(|(text, side)| (r, text, side)),
            );
        }
        out
    }

    /// The rules opening a flow to a Tailscale Service: those naming it (or `*`), which
    /// decide, and those with an address range where its real address may lie.
    fn service_rules(
        &self,
        service: &str,
        src: IpAddr,
        protos: &[u8],
        port: u16,
    ) -> (Vec<(&Rule, Span)>, Ranges<'_>) {
        let (mut naming, mut ranges) = (Vec::new(), Vec::new());
        for r in self.rules.all() {
            if !matches!(self.taken(r, src), Taken::In) {
                continue;
            }
            for e in &r.entries {
                if !(e.ports.iter().any(|p| p.contains(port))
                    && protos.iter().any(|p| e.protocols.contains(*p)))
                {
                    continue;
                }
                let names_it =
                    matches!(Selector::parse(&e.written), Ok(Selector::Service(s)) if s == service);
                match &e.target {
                    Target::Everything => naming.push((r, e.span)),
                    _ if names_it => naming.push((r, e.span)),
                    Target::Addresses(d) if d.overlaps(&self.service_space) => {
                        ranges.push((r, e.written.clone(), Side::Destination))
                    }
                    _ => {}
                }
            }
        }
        (naming, ranges)
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
        for r in self.rules.all() {
            let src_ok = r.src_everything || r.src.contains(src);
            for e in &r.entries {
                let dst_ok = e.reaches(|ip| self.owner_of(ip), src, dst);
                let port_ok = e.ports.iter().any(|p| p.contains(port));
                let proto_ok = e.protocols.contains(proto);
                let score = src_ok as u8 * 4 + dst_ok as u8 * 4 + port_ok as u8 + proto_ok as u8;
                let via_ok = self.via_lands(r, dst);
                let lacks = if !src_ok {
                    "its sources do not include this source".to_string()
                } else if dst_ok && port_ok && proto_ok && !via_ok {
                    format!(
                        "it is a `via` rule: the control plane sends it only to devices tagged {}, for their routes, never for a device's own address",
                        r.via.join(" or ")
                    )
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
        let mut sel =
            Selector::parse(&src.value).map_err(|_| format!("src {:?} is not valid", src.value))?;
        if let (Selector::Group(name), Some(alone)) = (&sel, self.alone)
            && let Some(login) = alone.get(name)
        {
            sel = Selector::User(login.clone());
        }
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
                diags.push(self.empty_source(src, Code::TestFailed, "test failed", &why));
                return;
            }
        };
        let source_lits: Vec<Option<Lit>> = sources.iter().map(|s| self.literal(*s)).collect();
        let attrs = test
            .src_posture_attrs
            .as_ref()
            .and_then(super::posture::Attrs::from_value);
        // A source or destination written as addresses is tested at those addresses; one
        // written as devices (a user, group or tag) at its devices' addresses.
        let src_fixed = Selector::parse(src.value.trim()).is_ok_and(|s| s.names_addresses());
        let outsiders = self.outsider(src);
        let mut undecided: Vec<(String, String, Diagnostic, Advice)> = Vec::new();
        for (accept, list) in [(true, &test.accept), (false, &test.deny)] {
            let outsiders: &[usize] = if accept { &[] } else { &outsiders };
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
                let dst_fixed = dst.host.names_addresses();
                let what = format!(
                    "{} -> {} ({proto_name})",
                    src.value.trim(),
                    entry.value.trim()
                );
                let mut pairs: Vec<Pair> = Vec::new();
                // Why a posture could not be read against the test's attributes.
                let mut posture_doubt: Option<String> = None;
                for s in &sources {
                    for d in &dsts {
                        let mut unmet = Vec::new();
                        let (allowing, ranges) = match self.services.get(&ip_key(*d)) {
                            Some(service) => self.service_rules(service, *s, &protos, dst.port),
                            None => {
                                let (mut allowing, mut ranges) =
                                    self.device_rules(*s, *d, &protos, dst.port);
                                self.exit_node_only(
                                    *s,
                                    *d,
                                    &protos,
                                    dst.port,
                                    &mut allowing,
                                    &mut ranges,
                                );
                                if !allowing.is_empty() {
                                    unmet = self.with_postures(
                                        *s,
                                        attrs.as_ref(),
                                        accept,
                                        &mut allowing,
                                        &mut ranges,
                                        &mut posture_doubt,
                                    );
                                } else {
                                    ranges.extend(self.owner_rules(*s, *d, &protos, dst.port));
                                    if let Some((s6, d6)) =
                                        self.other_family(*s, *d, src_fixed, dst_fixed)
                                    {
                                        let (other, _) =
                                            self.device_rules(s6, d6, &protos, dst.port);
                                        if let Some((r, _)) = other.first() {
                                            ranges.push((*r, String::new(), Side::Family));
                                        }
                                    }
                                }
                                (allowing, ranges)
                            }
                        };
                        // A range that may hold a service's address may rescue an
                        // accepted flow, or open a denied one.
                        let verdict = match (allowing.is_empty() != accept, ranges.is_empty()) {
                            (true, true) => Verdict::Holds,
                            (false, true) => Verdict::Fails,
                            (true, false) if accept => Verdict::Holds,
                            (false, false) if !accept => Verdict::Fails,
                            _ => Verdict::Unsure,
                        };
                        if verdict != Verdict::Holds {
                            pairs.push(Pair {
                                src: *s,
                                dst: *d,
                                verdict,
                                allowing,
                                ranges,
                                unmet,
                            });
                        }
                    }
                }
                let lits = |p: &&Pair| [self.literal(p.src), self.literal(p.dst)];
                let failing: Vec<&Pair> = pairs
                    .iter()
                    .filter(|p| p.verdict == Verdict::Fails)
                    .collect();
                let doubtful: Vec<&Pair> = pairs.iter().collect();
                let all = self.unknowns.decide(
                    &source_lits,
                    &doubtful.iter().map(lits).collect::<Vec<_>>(),
                    outsiders,
                );
                if all == Decision::Holds {
                    continue;
                }
                let sure = if failing.len() == doubtful.len() {
                    all.clone()
                } else {
                    self.unknowns.decide(
                        &source_lits,
                        &failing.iter().map(lits).collect::<Vec<_>>(),
                        outsiders,
                    )
                };
                let expectation = format!(
                    "the test expects {what} to be {}",
                    if accept { "accepted" } else { "denied" }
                );
                let involved = || {
                    doubtful
                        .iter()
                        .flat_map(lits)
                        .flatten()
                        .chain(source_lits.iter().flatten().copied())
                };
                let mut entry_advice = None;
                let diag = match sure {
                    Decision::Fails(Some(i)) => {
                        let mut diag = self.network_failure(
                            failing[i], accept, &what, &protos, dst.port, entry.span,
                        );
                        if involved().next().is_some() && diag.code == Code::TestFailed {
                            let help = diag.help.take().unwrap_or_default();
                            diag.help = Some(format!(
                                "{help} (whatever roles and membership {} have)",
                                self.unknowns.users_in(involved())
                            ));
                        }
                        diag
                    }
                    Decision::Fails(None) => Diagnostic::new(
                        Code::TestFailed,
                        self.at(src.span),
                        format!(
                            "test failed: source {:?} holds no user, whatever the roles",
                            src.value.trim()
                        ),
                    ),
                    Decision::Holds | Decision::Open { .. }
                        if pairs.iter().any(|p| p.verdict == Verdict::Unsure) =>
                    {
                        let service = dst.host.to_string();
                        // A Tailscale Service, or a device tsacl stands in for.
                        let of_service = pairs.iter().any(|p| {
                            p.verdict == Verdict::Unsure
                                && self.services.contains_key(&ip_key(p.dst))
                        });
                        let mut ranges: Vec<(Side, String)> = Vec::new();
                        let mut rules: Vec<String> = Vec::new();
                        for p in pairs.iter().filter(|p| p.verdict == Verdict::Unsure) {
                            for (r, text, side) in &p.ranges {
                                ranges.push((*side, text.clone()));
                                rules.push(r.origin.to_string());
                            }
                        }
                        rules.sort();
                        rules.dedup();
                        let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
                        let source = src.value.trim();
                        // Whose addresses decide: the source's devices, the destination's.
                        let mut names = Vec::new();
                        let mut clauses = Vec::new();
                        if ranges.iter().any(|(s, _)| *s == Side::Internet) {
                            clauses.push(
                                if accept {
                                    "the control plane's test run counts exit-node access to an address a subnet route carries"
                                } else {
                                    "the control plane's test run leaves out exit-node access to an address a subnet route carries"
                                }
                                .to_string(),
                            );
                        }
                        let mut postures: Vec<&str> = ranges
                            .iter()
                            .filter(|(s, _)| *s == Side::Posture)
                            .map(|(_, t)| t.as_str())
                            .collect();
                        if !postures.is_empty() {
                            postures.sort();
                            postures.dedup();
                            clauses.push(format!(
                                "{source}'s posture, as the test's srcPostureAttrs give it, meets {} {}",
                                if accept { "one of" } else { "none of" },
                                capped(&postures, join_or)
                            ));
                        }
                        if ranges.iter().any(|(s, _)| *s == Side::Family) {
                            clauses.push(
                                if accept {
                                    "the control plane's test run also counts IPv6 flows"
                                } else {
                                    "the control plane's test run counts only IPv4 flows"
                                }
                                .to_string(),
                            );
                        }
                        for side in [
                            Side::Source,
                            Side::SourceOwner,
                            Side::Destination,
                            Side::DestinationOwner,
                            Side::Via,
                        ] {
                            let mut texts: Vec<&str> = ranges
                                .iter()
                                .filter(|(s, _)| *s == side)
                                .map(|(_, t)| t.as_str())
                                .collect();
                            if texts.is_empty() {
                                continue;
                            }
                            texts.sort();
                            texts.dedup();
                            let whose = match side {
                                Side::Source => format!("the addresses of {source}'s devices are"),
                                Side::Destination if of_service => {
                                    format!("the address of {service} (not in the policy) is")
                                }
                                Side::Destination => {
                                    format!("the addresses of {service}'s devices are")
                                }
                                Side::SourceOwner => format!("{source} is"),
                                Side::DestinationOwner
                                | Side::Family
                                | Side::Via
                                | Side::Internet
                                | Side::Posture => {
                                    format!("{service} is")
                                }
                            };
                            let name = if matches!(side, Side::Source | Side::SourceOwner) {
                                source
                            } else {
                                service.as_str()
                            };
                            if !names.contains(&name) {
                                names.push(name);
                            }
                            let relation = match (side, accept) {
                                (Side::Source | Side::Destination, true) => "inside",
                                (Side::Source | Side::Destination, false) => "outside",
                                (Side::Via, true) => "routed by a device tagged",
                                (Side::Via, false) => "routed by no device tagged",
                                (_, true) => "the address of a device of",
                                (_, false) => "the address of no device of",
                            };
                            let texts = match side {
                                Side::Source | Side::Destination => join_and(&texts),
                                _ => capped(&texts, join_or),
                            };
                            clauses.push(format!("{whose} {relation} {texts}"));
                        }
                        // Several conditions may combine per rule in ways one sentence
                        // cannot say exactly: each is named as deciding.
                        let mut why = match clauses.as_slice() {
                            [one] => format!("which holds only if {one}"),
                            several => format!(
                                "which depends on whether {}",
                                several.join(", and whether ")
                            ),
                        };
                        why.push_str(&format!(" (opened by {})", capped(&rules, join_and)));
                        if matches!(sure, Decision::Open { .. }) {
                            why.push_str(&format!(
                                "; it also depends on the roles or membership of {}",
                                self.unknowns.users_in(involved())
                            ));
                        }
                        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
                        let about = |kind| Advice::About(kind, names.clone());
                        let advice = if of_service {
                            Advice::Said(
                                format!(
                                    "a Tailscale Service's addresses are in neither the policy nor the inventory; rules that name {service} decide tests of it"
                                ),
                                None,
                            )
                        } else if ranges.iter().all(|(s, _)| *s == Side::Via) {
                            Advice::Said(
                                format!(
                                    "a `via` rule reaches an address only where its routers route it, never as a device's own address, and a policy file does not say which {service} is: pass --inventory (devices and their routes, saved by `tsacl pull --inventory FILE`) to decide it"
                                ),
                                Some(Cause::Routes),
                            )
                        } else if ranges.iter().all(|(s, _)| *s == Side::Internet) {
                            Advice::Said(
                                format!(
                                    "only autogroup:internet opens this flow, and {service} lies in a subnet route the tailnet approves, so clients send it to the subnet router rather than an exit node; no recorded answer shows whether the control plane's test run counts the exit-node rule for it: name the address in a rule"
                                ),
                                None,
                            )
                        } else if ranges.iter().all(|(s, _)| *s == Side::Posture) {
                            Advice::Said(
                                match &posture_doubt {
                                    Some(why) => format!("the control plane checks each rule's srcPosture (or the policy's defaultSrcPosture) against the test's srcPostureAttrs, and tsacl cannot decide one here ({why}): give the attribute as the posture reads it"),
                                    None => "the test gives no srcPostureAttrs, and no recorded answer shows how the control plane's test run checks a rule's srcPosture (or the policy's defaultSrcPosture) without them: give the source's attributes in srcPostureAttrs".to_string(),
                                },
                                None,
                            )
                        } else if ranges.iter().all(|(s, _)| *s == Side::Family) {
                            Advice::Said("the rules that open this flow name addresses of one family only (IPv6), and no recorded answer shows whether the control plane's test run counts IPv6 flows: name both families' addresses in the rule, or the devices by tag or user".to_string(), None)
                        } else if ranges
                            .iter()
                            .all(|(s, _)| matches!(s, Side::SourceOwner | Side::DestinationOwner))
                        {
                            about(AdviceKind::WhoseAddress)
                        } else if self.has_inventory {
                            about(AdviceKind::NoDevice)
                        } else {
                            about(AdviceKind::AddressOf)
                        };
                        let diag = Diagnostic::new(
                            Code::TestUndecidable,
                            self.at(entry.span),
                            format!("{}: {expectation}, {why}", self.cannot_decide()),
                        )
                        .with_help(advice.to_string());
                        entry_advice = Some(advice);
                        diag
                    }
                    Decision::Holds => continue,
                    Decision::Open {
                        condition,
                        membership,
                    } => {
                        let why = self.unknowns.why_open(condition.clone(), involved());
                        let diag = self.open(entry.span, expectation, why, membership);
                        let many = self.roles_help(membership, 2);
                        let by_domain = self.domain_decides(membership);
                        entry_advice = Some(Advice::roles(&diag, condition, many, by_domain));
                        diag
                    }
                };
                if diag.code == Code::TestUndecidable {
                    let verb = if accept {
                        "to be accepted"
                    } else {
                        "to be denied"
                    };
                    // Otherwise [`Evaluator::failure`] found an address no known device
                    // holds.
                    let advice = entry_advice.unwrap_or_else(|| Advice::no_known_device(&diag));
                    undecided.push((
                        entry.value.trim().to_string(),
                        verb.to_string(),
                        diag,
                        advice,
                    ));
                } else {
                    diags.push(diag);
                }
            }
        }
        let lead = format!("the test expects {} ({proto_name}) ->", src.value.trim());
        diags.extend(self.one_per_test(src.span, &lead, undecided));
    }

    /// A deny test's source named nowhere but in tests is someone outside the tailnet:
    /// its unknown, read as such where that decides the test.
    fn outsider(&self, src: &Spanned<String>) -> Vec<usize> {
        match Selector::parse(src.value.trim()) {
            Ok(Selector::User(u)) if !self.unknowns.named_in_rules.contains(&u) => {
                self.unknowns.var_of.get(&u).copied().into_iter().collect()
            }
            _ => Vec::new(),
        }
    }

    /// One finding per test entry: the undecidable assertions of one test (each its
    /// destination and what is expected, "tag:web:443", "to be accepted") said together,
    /// grouped by what decides them, at the test's source, each assertion a label.
    fn one_per_test(
        &self,
        at: Span,
        lead: &str,
        mut items: Vec<(String, String, Diagnostic, Advice)>,
    ) -> Option<Diagnostic> {
        if items.len() <= 1 {
            let (_, _, d, advice) = items.pop()?;
            self.undecided
                .borrow_mut()
                .push((d.primary.span, vec![advice]));
            return Some(d);
        }
        // (why, said of several destinations, verb, destinations)
        let mut groups: Vec<(String, String, String, Vec<String>)> = Vec::new();
        let mut advice: Vec<Advice> = Vec::new();
        let mut labels: Vec<Label> = Vec::new();
        for (head, verb, d, a) in &items {
            let why = match d.message.split_once(", which ") {
                Some((_, why)) => format!("which {why}"),
                None => "which depends on a device tsacl does not know".to_string(),
            };
            // Destinations whose own addresses decide them alike ("the addresses of
            // tag:dns's devices are outside 100.84.20.102") are said together.
            let host = head
                .rsplit_once(':')
                .map_or(head.as_str(), |(host, _)| host);
            let shared = why.replace(
                &format!("the addresses of {host}'s devices are"),
                "the addresses of their devices are",
            );
            match groups
                .iter_mut()
                .find(|(_, s, v, _)| *s == shared && v == verb)
            {
                Some((_, _, _, heads)) => heads.push(head.clone()),
                None => groups.push((why, shared, verb.clone(), vec![head.clone()])),
            }
            Advice::merge(&mut advice, a);
            let here = Label {
                location: d.primary,
                message: "undecided".into(),
            };
            for l in std::iter::once(here).chain(d.labels.iter().cloned()) {
                if !labels.contains(&l) {
                    labels.push(l);
                }
            }
        }
        let said: Vec<String> = groups
            .iter()
            .map(|(why, shared, verb, heads)| {
                let why = if heads.len() == 1 { why } else { shared };
                let heads: Vec<&str> = heads.iter().map(String::as_str).collect();
                format!("{} {verb}, {why}", join_and(&heads))
            })
            .collect();
        let mut diag = Diagnostic::new(
            Code::TestUndecidable,
            self.at(at),
            format!("{}: {lead} {}", self.cannot_decide(), said.join("; ")),
        );
        diag.labels = labels;
        // Roles advice under different conditions says the same help, or the same with
        // `--tailnet-domain` after it: each said once, the longer kept.
        let mut helps: Vec<String> = Vec::new();
        for help in advice.iter().map(ToString::to_string) {
            if help.is_empty() || helps.iter().any(|h| h.starts_with(&help)) {
                continue;
            }
            helps.retain(|h| !help.starts_with(h.as_str()));
            helps.push(help);
        }
        diag.help = (!helps.is_empty()).then(|| helps.join("; "));
        self.undecided
            .borrow_mut()
            .push((diag.primary.span, advice));
        Some(diag)
    }

    /// The error (or device-undecidable warning) for one failing pair of a network test.
    fn network_failure(
        &self,
        pair: &Pair,
        accept: bool,
        what: &str,
        protos: &[u8],
        port: u16,
        span: Span,
    ) -> Diagnostic {
        let (s, d) = (pair.src, pair.dst);
        // An address no known device holds is open where a device there would change the
        // answer ([`Evaluator::owner_rules`] made such a pair unsure, not failing), except
        // that it may be a Tailscale Service's, whose rules name it by name.
        let involved: &[IpAddr] = if self.services.is_empty() {
            &[]
        } else {
            &[s, d]
        };
        if accept {
            let mut diag = self.failure(
                Code::TestFailed,
                span,
                format!("test failed: {what} is denied, but the test expects it to be accepted"),
                involved,
            );
            if let Some((rule, rule_span, why)) = pair.unmet.first() {
                let mut rules: Vec<String> = Vec::new();
                for (r, _, _) in &pair.unmet {
                    let name = r.origin.to_string();
                    if !rules.contains(&name) {
                        rules.push(name);
                    }
                }
                if let Some(l) = self.rule_label(rule, *rule_span) {
                    diag.labels.push(l);
                }
                if diag.code == Code::TestFailed {
                    diag.help = Some(format!(
                        "{} allow{} it only from a device that meets {} posture, and the test's srcPostureAttrs do not ({why})",
                        rules.join(", "),
                        if rules.len() == 1 { "s" } else { "" },
                        if rules.len() == 1 { "its" } else { "their" },
                    ));
                }
                return diag;
            }
            match self.closest(s, d, protos[0], port) {
                Some((rule, rule_span, lacks)) => {
                    if rule.origin != Origin::Default {
                        diag.labels.push(Label {
                            location: self.at(rule_span),
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
                    diag.help = Some("no rule allows this source to reach this destination".into())
                }
                None => {}
            }
            return diag;
        }
        let mut diag = self.failure(
            Code::TestFailed,
            span,
            format!("test failed: {what} is accepted, but the test expects it to be denied"),
            involved,
        );
        let mut names = Vec::new();
        for (rule, rule_span) in &pair.allowing {
            // A rule allows the flow once per address family it is tested on.
            let name = rule.origin.to_string();
            if !names.contains(&name) {
                names.push(name);
            }
            if let Some(l) = self.rule_label(rule, *rule_span)
                && !diag.labels.contains(&l)
            {
                diag.labels.push(l);
            }
        }
        if diag.code == Code::TestFailed {
            diag.help = Some(format!("allowed by {}", names.join(", ")));
        }
        diag
    }

    /// The SSH rules device `i` receives: the policy's rules are compiled once for every
    /// test, and each device's once (tests share destinations).
    fn ssh_rules_of(&self, i: usize) -> std::rc::Rc<Vec<super::ssh::SshRule>> {
        if let Some(rules) = self.device_ssh_rules.borrow().get(&i) {
            return rules.clone();
        }
        let all = self
            .ssh_rules
            .get_or_init(|| super::ssh::SshRules::new(self.resolver));
        let rules = std::rc::Rc::new(all.device_rules(&self.inventory.devices[i]));
        self.device_ssh_rules.borrow_mut().insert(i, rules.clone());
        rules
    }

    fn ssh_test(&self, test: &crate::model::SshTest, diags: &mut Vec<Diagnostic>) {
        let Some(src) = test.src.as_ref().filter(|s| !s.value.trim().is_empty()) else {
            return;
        };
        let sources = match self.source_ips(src) {
            Ok(s) => s,
            Err(why) => {
                diags.push(self.empty_source(src, Code::SshTestFailed, "SSH test failed", &why));
                return;
            }
        };
        let source_lits: Vec<Option<Lit>> = sources.iter().map(|s| self.literal(*s)).collect();
        let outsiders = self.outsider(src);
        let mut undecided: Vec<(String, String, Diagnostic, Advice)> = Vec::new();
        for dst in &test.dst {
            let Ok(sel) = Selector::parse(&dst.value) else {
                continue;
            };
            let set = self.resolver.addresses(&sel);
            let devices = self.index.devices_holding(&set);
            if devices.is_empty() {
                let involved: Vec<IpAddr> = set.ranges().map(|(a, _)| a).take(1).collect();
                let involved = if involved.is_empty() {
                    vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)]
                } else {
                    involved
                };
                let mut diag = self.failure(
                    Code::SshTestFailed,
                    dst.span,
                    format!("SSH test failed: destination {:?} is no device", dst.value),
                    &involved,
                );
                // An inventory settles an address no known device holds, not whether the
                // control plane fails a destination that is no device.
                let mut settled_by = None;
                if diag.code == Code::TestUndecidable {
                    settled_by = Some(Cause::WhoseAddress);
                    diag.message = format!(
                        "cannot decide offline: the SSH test's destination {:?} is the address of no device tsacl knows",
                        dst.value.trim()
                    );
                } else if self.has_inventory && test.accept.is_empty() && test.check.is_empty() {
                    // A test expecting someone to log in on a device that does not exist
                    // is wrong whatever the control plane answers (it fails, or asserts
                    // nothing); one that only denies holds unless the control plane fails
                    // a destination that is no device, which no recorded answer shows.
                    diag = Diagnostic::new(
                        Code::TestUndecidable,
                        self.at(dst.span),
                        format!(
                            "cannot decide: no device in the inventory holds the SSH test's destination {:?}, so nobody can log in there; whether the control plane's SSH test run fails a destination that is no device is not recorded",
                            dst.value.trim()
                        ),
                    )
                    .with_help(
                        "test a device the inventory lists, or drop this destination: a deny test of no device guards nothing",
                    );
                }
                if diag.code == Code::TestUndecidable {
                    let advice = Advice::of(&diag, settled_by);
                    undecided.push((
                        dst.value.trim().to_string(),
                        "to be a device".into(),
                        diag,
                        advice,
                    ));
                } else {
                    diags.push(diag);
                }
                continue;
            }
            let device_rules: Vec<std::rc::Rc<Vec<super::ssh::SshRule>>> =
                devices.iter().map(|&i| self.ssh_rules_of(i)).collect();
            let attrs = test
                .src_posture_attrs
                .as_ref()
                .and_then(super::posture::Attrs::from_value);
            for (want, users) in [
                ("accept", &test.accept),
                ("check", &test.check),
                ("deny", &test.deny),
            ] {
                for user in users {
                    let name = user.value.trim();
                    // Failing (source, device) pairs, with what they got.
                    let mut failing: Vec<(IpAddr, usize, SshOutcome, Option<Unmet>)> = Vec::new();
                    // A login a posture decides that tsacl cannot check: why.
                    let mut doubt: Option<String> = None;
                    for (k, device) in devices.iter().enumerate() {
                        for s in &sources {
                            let mut why = None;
                            let mut unmet = None;
                            let got = self.ssh_outcomes(
                                &device_rules[k],
                                *s,
                                name,
                                attrs.as_ref(),
                                &mut why,
                                &mut unmet,
                            );
                            if got.iter().all(|g| g.0 != want) {
                                failing.push((*s, *device, got[0], unmet));
                            } else if got.iter().any(|g| g.0 != want) {
                                doubt = doubt.or(why);
                            }
                        }
                    }
                    if let Some(why) = doubt.filter(|_| failing.is_empty()) {
                        let diag = Diagnostic::new(
                            Code::TestUndecidable,
                            self.at(user.span),
                            format!(
                                "{}: the SSH test expects {} to {} as {name:?} to {want}, which depends on the source's device posture ({why})",
                                self.cannot_decide(),
                                src.value.trim(),
                                dst.value.trim()
                            ),
                        );
                        let advice = Advice::Said("the control plane checks an SSH rule's srcPosture against the test's srcPostureAttrs: give the attributes the posture reads".into(), None);
                        let diag = diag.with_help(advice.to_string());
                        undecided.push((
                            format!("{} as {name:?}", dst.value.trim()),
                            format!("to {want}"),
                            diag,
                            advice,
                        ));
                        continue;
                    }
                    let lits: Vec<[Option<Lit>; 2]> = failing
                        .iter()
                        .map(|(s, d, _, _)| {
                            [self.literal(*s), self.unknowns.literal.get(d).copied()]
                        })
                        .collect();
                    let involved = || {
                        lits.iter()
                            .flatten()
                            .flatten()
                            .chain(source_lits.iter().flatten())
                            .copied()
                    };
                    let what = format!("{} to {} as {name:?}", src.value.trim(), dst.value.trim());
                    let outsiders: &[usize] = if want == "deny" { &outsiders } else { &[] };
                    match self.unknowns.decide(&source_lits, &lits, outsiders) {
                        Decision::Holds => {}
                        Decision::Fails(i) => {
                            let Some(&(s, _, got, ref unmet)) = i.and_then(|i| failing.get(i))
                            else {
                                continue; // SSH test sources are never autogroups.
                            };
                            let mut diag = self.failure(
                                Code::SshTestFailed,
                                user.span,
                                format!("SSH test failed: {what}: want {want}, got {}", got.0),
                                &[s],
                            );
                            if let Some(i) = got.1 {
                                let rule = &self.policy.ssh[i];
                                let span = rule.users.as_ref().map_or(rule.span, |u| u.span);
                                diag.labels.push(Label {
                                    location: self.at(span),
                                    message: format!("decided by ssh[{i}]"),
                                });
                            } else if let Some((i, why)) =
                                unmet.as_ref().filter(|_| diag.code == Code::SshTestFailed)
                            {
                                diag.help = Some(format!(
                                    "ssh[{i}] lets this source log in only from a device that meets its posture, and the test's srcPostureAttrs do not ({why})"
                                ));
                            } else if diag.code == Code::SshTestFailed {
                                diag.help = Some("no SSH rule lets this source log in as this user on this destination".into());
                            }
                            if involved().next().is_some() && diag.code == Code::SshTestFailed {
                                let users = self.unknowns.users_in(involved());
                                let help =
                                    diag.help.take().map_or(String::new(), |h| format!("{h} "));
                                diag.help = Some(format!(
                                    "{help}(whatever roles and membership {users} have)"
                                ));
                            }
                            if diag.code == Code::TestUndecidable {
                                let advice = Advice::no_known_device(&diag);
                                undecided.push((
                                    format!("{} as {name:?}", dst.value.trim()),
                                    format!("to {want}"),
                                    diag,
                                    advice,
                                ));
                            } else {
                                diags.push(diag);
                            }
                        }
                        Decision::Open {
                            condition,
                            membership,
                        } => {
                            let why = self.unknowns.why_open(condition.clone(), involved());
                            let diag = self.open(
                                user.span,
                                format!("the SSH test expects {what} to {want}"),
                                why,
                                membership,
                            );
                            let advice = Advice::roles(
                                &diag,
                                condition,
                                self.roles_help(membership, 2),
                                self.domain_decides(membership),
                            );
                            undecided.push((
                                format!("{} as {name:?}", dst.value.trim()),
                                format!("to {want}"),
                                diag,
                                advice,
                            ));
                        }
                    }
                }
            }
        }
        let lead = format!("the SSH test expects {} to", src.value.trim());
        diags.extend(self.one_per_test(src.span, &lead, undecided));
    }
}

/// What an SSH login gets: the action, and the index of the rule that decides it.
type SshOutcome = (&'static str, Option<usize>);

/// An SSH rule passed over because the test's `srcPostureAttrs` do not meet its posture:
/// its index, and why.
type Unmet = (usize, String);

impl Evaluator<'_> {
    /// What a login may get: the first matching SSH rule decides it, but a rule with a
    /// posture only for a source that meets it. A rule whose posture the test's
    /// `srcPostureAttrs` meet decides; one they do not meet is passed over; one tsacl
    /// cannot check (no attributes, a condition no document decides, or only the
    /// policy's `defaultSrcPosture`, which no document says SSH rules take) adds its
    /// outcome and the search goes on, with why in `doubt`. The first outcome is what a
    /// source that meets none of those open postures gets.
    fn ssh_outcomes(
        &self,
        rules: &[super::ssh::SshRule],
        src: IpAddr,
        user: &str,
        attrs: Option<&super::posture::Attrs>,
        doubt: &mut Option<String>,
        unmet: &mut Option<Unmet>,
    ) -> Vec<SshOutcome> {
        use super::posture::Meets;
        let mut outcomes = Vec::new();
        let mut rest = rules;
        while let Some((found, at)) = ssh_verdict(rest, src, user) {
            let r = &rest[at];
            rest = &rest[at + 1..];
            let own = &self.policy.ssh[r.origin].src_posture;
            let default = &self.policy.default_src_posture;
            let gate = if (own.is_empty() && default.is_empty()) || self.shared_in(src) {
                Meets::Yes
            } else if !own.is_empty() {
                match attrs {
                    Some(attrs) => self
                        .postures_by_name()
                        .meets_any(own.iter().map(|p| p.value.as_str()), attrs),
                    None => Meets::Unknown("the test gives no srcPostureAttrs".into()),
                }
            } else {
                // Met, the rule decides whether the default applies to it or not.
                let names = default.iter().map(|p| p.value.as_str());
                match attrs.map(|a| self.postures_by_name().meets_any(names, a)) {
                    Some(Meets::Yes) => Meets::Yes,
                    _ => Meets::Unknown(format!(
                        "whether defaultSrcPosture applies to ssh[{}]",
                        r.origin
                    )),
                }
            };
            match gate {
                Meets::Yes => {
                    outcomes.push(found);
                    return outcomes;
                }
                Meets::No(why) => {
                    unmet.get_or_insert((r.origin, why));
                }
                Meets::Unknown(why) => {
                    doubt.get_or_insert(why);
                    outcomes.push(found);
                }
            }
        }
        outcomes.push(("deny", None));
        // The outcome of a source that meets no open posture first: it is certain.
        outcomes.rotate_right(1);
        outcomes
    }
}

/// The action the first matching SSH rule takes for a login, that rule's index, and its
/// place in `rules`.
fn ssh_verdict(
    rules: &[super::ssh::SshRule],
    src: IpAddr,
    user: &str,
) -> Option<(SshOutcome, usize)> {
    for (at, r) in rules.iter().enumerate() {
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
                return Some((
                    (if r.check { "check" } else { "accept" }, Some(r.origin)),
                    at,
                ));
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (code, message) of every test finding, offline unless an inventory is given.
    fn evaluate_text(
        text: &str,
        inventory: Option<&str>,
        domains: Option<&[String]>,
    ) -> Vec<(Code, String)> {
        evaluate_diags(text, inventory, domains)
            .into_iter()
            .map(|d| (d.code, d.message))
            .collect()
    }

    fn evaluate_diags(
        text: &str,
        inventory: Option<&str>,
        domains: Option<&[String]>,
    ) -> Vec<Diagnostic> {
        let policy = crate::model::from_text(text);
        let inventory = inventory.map(|i| Inventory::from_json(i.as_bytes()).unwrap());
        let mut diags = Vec::new();
        evaluate(
            &policy,
            inventory.as_ref(),
            domains,
            FileId::default(),
            &mut diags,
        );
        diags
    }

    #[test]
    fn a_failed_deny_test_names_each_allowing_rule_once_across_address_families() {
        let diags = evaluate_diags(
            r#"{
                "tagOwners": {"tag:web": ["alice@example.com"]},
                "acls": [
                    {"action": "accept", "src": ["alice@example.com"], "dst": ["tag:web:443"]},
                    {"action": "accept", "src": ["alice@example.com"], "dst": ["tag:web:*"]}
                ],
                "tests": [{"src": "alice@example.com", "deny": ["tag:web:443"]}]
            }"#,
            None,
            None,
        );
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(diags[0].code, Code::TestFailed);
        assert_eq!(
            diags[0].help.as_deref(),
            Some("allowed by acls[0], acls[1]")
        );
    }

    #[test]
    fn stand_ins_multiply_only_where_the_policy_tells_standings_apart() {
        let plain = crate::model::from_text(
            r#"{"groups": {"group:eng": ["a@example.com", "b@example.com"]},
                "grants": [{"src": ["group:eng"], "dst": ["*"], "ip": ["*"]}],
                "tests": [{"src": "a@example.com", "accept": ["b@example.com:22"]}]}"#,
        );
        let (inv, unknowns) = with_stand_ins(&plain, Inventory::default(), false, None);
        assert_eq!(inv.devices.len(), 2);
        assert!(unknowns.vars.is_empty());
        let roles = crate::model::from_text(
            r#"{"groups": {"group:eng": ["a@example.com", "b@other.org"]},
                "grants": [{"src": ["autogroup:admin"], "dst": ["autogroup:member"], "ip": ["*"]}],
                "tests": [{"src": "a@example.com", "accept": ["b@other.org:22"]}]}"#,
        );
        // Member, admin, shared: three stand-ins each; a user of the tailnet's domain is
        // a member, so two for a@example.com.
        let (inv, unknowns) = with_stand_ins(&roles, Inventory::default(), false, None);
        assert_eq!(inv.devices.len(), 6);
        assert_eq!(unknowns.vars.len(), 2);
        let domains = ["example.com".to_string()];
        let (inv, _) = with_stand_ins(&roles, Inventory::default(), false, Some(&domains));
        assert_eq!(inv.devices.len(), 5);
    }

    #[test]
    fn a_tailnet_has_one_owner() {
        let text = r#"{
            "grants": [{"src": ["autogroup:owner"], "dst": ["autogroup:owner"], "ip": ["tcp:22"]}],
            "tests": [{"src": "a@example.com", "accept": ["a@example.com:22"]},
                      {"src": "a@example.com", "accept": ["b@example.com:22"]},
                      {"src": "a@example.com", "deny": ["b@example.com:22"]}]}"#;
        let found = evaluate_text(text, None, None);
        let codes: Vec<Code> = found.iter().map(|f| f.0).collect();
        assert_eq!(
            codes,
            [Code::TestUndecidable, Code::TestFailed],
            "{found:?}"
        );
        // With the owner listed, no one else can be the owner.
        let listed = r#"{"users": [{"loginName": "o@example.com", "role": "owner"}]}"#;
        let found = evaluate_text(text, Some(listed), None);
        let codes: Vec<Code> = found.iter().map(|f| f.0).collect();
        assert_eq!(codes, [Code::TestFailed, Code::TestFailed], "{found:?}");
    }

    #[test]
    fn users_the_policy_does_not_name_are_considered_for_autogroup_sources() {
        let text = r#"{
            "tagOwners": {"tag:db": []},
            "grants": [{"src": ["autogroup:it-admin"], "dst": ["tag:db"], "ip": ["tcp:5432"]}],
            "tests": [{"src": "autogroup:it-admin", "accept": ["tag:db:5432"], "deny": ["tag:db:22"]},
                      {"src": "autogroup:member", "deny": ["tag:db:5432"]}]}"#;
        let found = evaluate_text(text, None, None);
        // One finding per test entry: the first test's two assertions are one.
        assert_eq!(found.len(), 2, "{found:?}");
        // With no IT admin, the first test's source holds nobody: both its entries fail.
        assert!(
            found[0].1.contains("tag:db:5432 to be accepted")
                && found[0].1.contains("tag:db:22 to be denied")
                && found[0].1.ends_with(
                    "which holds unless no user the policy does not name is an IT admin"
                ),
            "{found:?}"
        );
        // The tailnet's owner is a member who is no IT admin, whoever it is.
        assert!(
            found[1]
                .1
                .ends_with("which holds unless some user the policy does not name is an IT admin"),
            "{found:?}"
        );
    }

    #[test]
    fn one_finding_per_test_entry_with_each_destination_a_label() {
        let text = r#"{
            "groups": {"group:ops": ["alice@example.com"]},
            "tagOwners": {"tag:db": [], "tag:web": []},
            "grants": [{"src": ["autogroup:admin"], "dst": ["tag:db", "tag:web"], "ip": ["tcp:22"]},
                       {"src": ["group:ops"], "dst": ["tag:web"], "ip": ["tcp:443"]}],
            "tests": [{"src": "alice@example.com", "accept": ["tag:db:22", "tag:web:22", "tag:web:443"]}]}"#;
        let diags = evaluate_diags(text, None, None);
        assert_eq!(diags.len(), 1, "{diags:?}");
        let d = &diags[0];
        assert_eq!(d.code, Code::TestUndecidable);
        // Role-dependent: still a warning, said as what makes it fail.
        assert!(
            d.message
                .contains("tag:db:22 and tag:web:22 to be accepted")
                && d.message.ends_with(
                    "which holds unless alice@example.com is a member without the admin role"
                ),
            "{d:?}"
        );
        assert_eq!(d.labels.len(), 2, "{d:?}");
    }

    #[test]
    fn the_users_a_policy_names_count_as_members_said_once() {
        let text = r#"{
            "groups": {"group:ops": ["alice@example.com", "bob@example.org"]},
            "tagOwners": {"tag:web": []},
            "grants": [{"src": ["autogroup:member"], "dst": ["tag:web"], "ip": ["tcp:443"]}],
            "tests": [{"src": "alice@example.com", "accept": ["tag:web:443"]},
                      {"src": "bob@example.org", "accept": ["tag:web:443"]}]}"#;
        let found = evaluate_text(text, None, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Code::AssumedMembers);
        assert!(
            found[0]
                .1
                .contains("alice@example.com and bob@example.org are members"),
            "{found:?}"
        );
        // --tailnet-domain says who is a member: bob, of another domain, may be shared in.
        let domains = vec!["example.com".to_string()];
        let found = evaluate_text(text, None, Some(&domains));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Code::TestUndecidable, "{found:?}");
        assert!(found[0].1.contains("bob@example.org"), "{found:?}");
    }

    /// An address no known device holds may be a device of a user the policy does not
    /// name: every tailnet has an owner, a member and an admin. With no user named, the
    /// stand-ins hold no member; a test from or to such an address is still undecided,
    /// not failed (HomeScaleCloud/homescale-public tests `100.86.77.56` against
    /// `autogroup:member` rules).
    #[test]
    fn an_unknown_address_may_be_a_device_of_a_user_the_policy_does_not_name() {
        let policy = |src: &str, dst: &str, test: &str| {
            format!(
                r#"{{"tagOwners": {{"tag:app": [], "tag:ci": []}},
                    "acls": [{{"action": "accept", "src": ["{src}"], "dst": ["{dst}:*"]}}],
                    "tests": [{test}]}}"#
            )
        };
        let undecided = |text: &str, owner: &str| {
            let found = evaluate_text(text, None, None);
            assert_eq!(found.len(), 1, "{found:?}");
            assert_eq!(found[0].0, Code::TestUndecidable, "{found:?}");
            assert!(
                found[0]
                    .1
                    .contains(&format!("100.86.77.56 is the address of {owner}")),
                "{found:?}"
            );
        };
        let from = r#"{"src": "100.86.77.56", "accept": ["tag:app:443"]}"#;
        for group in [
            "autogroup:member",
            "autogroup:admin",
            "autogroup:shared",
            "user:*@example.com",
        ] {
            undecided(
                &policy(group, "tag:app", from),
                &format!("a device of {group}"),
            );
        }
        let to = r#"{"src": "tag:ci", "accept": ["100.86.77.56:443"]}"#;
        undecided(
            &policy("tag:ci", "autogroup:member", to),
            "a device of autogroup:member",
        );
        let denied = r#"{"src": "100.86.77.56", "deny": ["tag:app:443"]}"#;
        undecided(
            &policy("autogroup:member", "tag:app", denied),
            "no device of autogroup:member",
        );
        // No tagged device can exist without a tag: with none defined, the test fails.
        let untagged = r#"{"acls": [{"action": "accept", "src": ["autogroup:tagged"], "dst": ["100.64.0.1:*"]}],
                           "tests": [{"src": "100.86.77.56", "accept": ["100.64.0.1:443"]}]}"#;
        let found = evaluate_text(untagged, None, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Code::TestFailed, "{found:?}");
    }

    /// A test's srcPostureAttrs decide a rule with a posture (its own, or the default):
    /// a rule whose posture they do not meet allows nothing for the test; one they meet
    /// allows the flow; without attributes, or where tsacl cannot read a condition, a
    /// deny test that only such rules fail is undecided, and an accept test passes.
    #[test]
    fn a_test_checks_rule_postures_against_its_src_posture_attrs() {
        let policy = |rules: &str, default: &str, tests: &str| {
            format!(
                r#"{{"groups": {{"group:x": ["alice@example.com"]}}, "tagOwners": {{"tag:app": []}},
                    "postures": {{"posture:linux": ["node:os == 'linux'"], "posture:new": ["node:tsVersion >= '1.40'"]}},
                    "defaultSrcPosture": [{default}],
                    "acls": [{rules}],
                    "tests": [{tests}]}}"#
            )
        };
        let own = r#"{"action": "accept", "src": ["group:x"], "dst": ["tag:app:*"], "srcPosture": ["posture:linux"]}"#;
        let bare = r#"{"action": "accept", "src": ["group:x"], "dst": ["tag:app:*"]}"#;
        let test = |attrs: &str, kind: &str| {
            format!(r#"{{"src": "alice@example.com", {attrs} "{kind}": ["tag:app:443"]}}"#)
        };
        let ios = r#""srcPostureAttrs": {"node:os": "ios"},"#;
        let linux = r#""srcPostureAttrs": {"node:os": "linux"},"#;
        for (rules, default) in [(own, ""), (bare, r#""posture:linux""#)] {
            // Attributes that meet the posture, or do not, decide either kind of test.
            let passing = [test(ios, "deny"), test(linux, "accept")].join(", ");
            let found = evaluate_diags(&policy(rules, default, &passing), None, None);
            assert!(found.is_empty(), "{found:?}");
            let found = evaluate_diags(&policy(rules, default, &test(linux, "deny")), None, None);
            assert_eq!(found.len(), 1, "{found:?}");
            assert_eq!(found[0].code, Code::TestFailed, "{found:?}");
            assert_eq!(found[0].help.as_deref(), Some("allowed by acls[0]"));
            let found = evaluate_diags(&policy(rules, default, &test(ios, "accept")), None, None);
            assert_eq!(found.len(), 1, "{found:?}");
            assert_eq!(found[0].code, Code::TestFailed, "{found:?}");
            assert_eq!(
                found[0].help.as_deref(),
                Some(
                    "acls[0] allows it only from a device that meets its posture, and the test's srcPostureAttrs do not (posture:linux: node:os is 'ios', not 'linux')"
                )
            );
            // Without attributes: a deny test is undecided, an accept test passes.
            let found = evaluate_diags(&policy(rules, default, &test("", "deny")), None, None);
            assert_eq!(found.len(), 1, "{found:?}");
            assert_eq!(found[0].code, Code::TestUndecidable, "{found:?}");
            assert!(
                found[0].message.ends_with(
                    "which holds only if alice@example.com's posture, as the test's srcPostureAttrs give it, meets none of posture:linux (opened by acls[0])"
                ),
                "{found:?}"
            );
            assert!(
                found[0]
                    .help
                    .as_deref()
                    .unwrap_or_default()
                    .contains("gives no srcPostureAttrs")
            );
            assert!(
                evaluate_diags(&policy(rules, default, &test("", "accept")), None, None).is_empty()
            );
        }
        // What tsacl cannot read stays undecided for a deny test, with the reason.
        let versioned = r#"{"action": "accept", "src": ["group:x"], "dst": ["tag:app:*"], "srcPosture": ["posture:new"]}"#;
        let odd = r#""srcPostureAttrs": {"node:tsVersion": "1.40.0"},"#;
        let found = evaluate_diags(&policy(versioned, "", &test(odd, "deny")), None, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].code, Code::TestUndecidable, "{found:?}");
        assert!(
            found[0]
                .help
                .as_deref()
                .unwrap_or_default()
                .contains("node:tsVersion is '1.40.0'"),
            "{found:?}"
        );
        // A rule without a posture allows it whatever the posture: the deny test fails.
        let found = evaluate_text(
            &policy(&format!("{own}, {bare}"), "", &test(ios, "deny")),
            None,
            None,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Code::TestFailed, "{found:?}");
        // A device shared in from another tailnet is not checked for posture.
        let shared = r#"{"devices": [{"name": "a", "hostname": "a", "addresses": ["100.64.0.1"], "user": "alice@example.com", "tags": []},
                                     {"name": "b", "hostname": "b", "addresses": ["100.64.0.2"], "tags": ["tag:app"]}],
                         "users": [{"loginName": "alice@example.com", "role": "member", "type": "shared"}]}"#;
        let found = evaluate_text(&policy(own, "", &test(ios, "accept")), Some(shared), None);
        assert!(found.is_empty(), "{found:?}");
    }

    /// An SSH rule with a posture decides a login only for a test whose srcPostureAttrs
    /// meet it; otherwise the next rule does. Without attributes, or under a
    /// `defaultSrcPosture` (no document says SSH rules take it), a test that the posture
    /// decides is undecided, never failed.
    #[test]
    fn an_ssh_rule_posture_decides_a_login_through_the_test_attributes() {
        let policy = |default: &str, posture: &str, tests: &[(&str, &str)]| {
            let tests: Vec<String> = tests
                .iter()
                .map(|(attrs, kind)| {
                    format!(r#"{{"src": "alice@example.com", "dst": ["tag:srv"], {attrs} "{kind}": ["root"]}}"#)
                })
                .collect();
            format!(
                r#"{{"tagOwners": {{"tag:srv": ["alice@example.com"]}},
                    "postures": {{"posture:linux": ["node:os == 'linux'"]}},
                    "defaultSrcPosture": [{default}],
                    "ssh": [{{"action": "accept", "src": ["alice@example.com"], "dst": ["tag:srv"], "users": ["root"]{posture}}}],
                    "sshTests": [{}]}}"#,
                tests.join(", ")
            )
        };
        let own = r#", "srcPosture": ["posture:linux"]"#;
        let ios = r#""srcPostureAttrs": {"node:os": "ios"},"#;
        let linux = r#""srcPostureAttrs": {"node:os": "linux"},"#;
        let codes = |text: &str| -> Vec<Code> {
            evaluate_diags(text, None, None)
                .iter()
                .map(|d| d.code)
                .collect()
        };
        assert_eq!(
            codes(&policy("", own, &[(ios, "deny"), (linux, "accept")])),
            []
        );
        assert_eq!(
            codes(&policy("", own, &[(linux, "deny")])),
            [Code::SshTestFailed]
        );
        let found = evaluate_diags(&policy("", own, &[(ios, "accept")]), None, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].help.as_deref(),
            Some(
                "ssh[0] lets this source log in only from a device that meets its posture, and the test's srcPostureAttrs do not (posture:linux: node:os is 'ios', not 'linux')"
            )
        );
        assert_eq!(
            codes(&policy("", own, &[("", "deny")])),
            [Code::TestUndecidable]
        );
        // The default posture: undecided either way the posture would go.
        let default = r#""posture:linux""#;
        assert_eq!(
            codes(&policy(default, "", &[(ios, "deny")])),
            [Code::TestUndecidable]
        );
        assert_eq!(
            codes(&policy(default, "", &[(linux, "accept"), (linux, "check")])),
            [Code::SshTestFailed]
        );
        // Without any posture, the rule decides as before.
        assert_eq!(
            codes(&policy("", "", &[(ios, "deny")])),
            [Code::SshTestFailed]
        );
    }

    #[test]
    fn a_deny_test_that_holds_for_everyone_outside_the_tailnet_is_no_finding() {
        // torvalds@github is named only by the test: someone outside the tailnet, who
        // gets no access (policytest-src-unknown-user-email) or a shared user's.
        let outsider = r#"{
            "tagOwners": {"tag:open": []},
            "grants": [{"src": ["autogroup:member"], "dst": ["tag:open"], "ip": ["tcp:80"]}],
            "tests": [{"src": "torvalds@github", "deny": ["tag:open:80"]}]}"#;
        assert_eq!(evaluate_text(outsider, None, None), vec![]);
        // Named in a group, he is read as a member, for whom the test fails: that is not
        // assumed into an error, it stays undecided.
        let member = r#"{
            "groups": {"group:friends": ["torvalds@github"]},
            "tagOwners": {"tag:open": []},
            "grants": [{"src": ["autogroup:member"], "dst": ["tag:open"], "ip": ["tcp:80"]},
                       {"src": ["group:friends"], "dst": ["tag:open"], "ip": ["tcp:81"]}],
            "tests": [{"src": "torvalds@github", "deny": ["tag:open:80"]}]}"#;
        let found = evaluate_text(member, None, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Code::TestUndecidable, "{found:?}");
    }

    /// Deciding a test compiles only the rules that may land on its destination; the rule
    /// that comes closest to a failing flow is still looked for among every rule.
    #[test]
    fn the_closest_rule_to_a_failing_flow_is_found_among_every_rule() {
        let text = r#"{
            "tagOwners": {"tag:web": [], "tag:db": [], "tag:cache": []},
            "grants": [{"src": ["tag:web"], "dst": ["tag:cache"], "ip": ["tcp:5432"]}],
            "tests": [{"src": "tag:web", "accept": ["tag:db:5432"]}]}"#;
        let found = evaluate_diags(text, None, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].code, Code::TestFailed);
        assert_eq!(
            found[0].help.as_deref(),
            Some(
                "no rule allows this flow; the closest, grants[0], does not because its destination tag:cache does not include this destination"
            )
        );
        // A rule to the destination on another port comes closer.
        let text = text.replace(
            r#""ip": ["tcp:5432"]}]"#,
            r#""ip": ["tcp:5432"]}, {"src": ["tag:web"], "dst": ["tag:db"], "ip": ["tcp:22"]}]"#,
        );
        let found = evaluate_diags(&text, None, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].help.as_deref(),
            Some(
                "no rule allows this flow; the closest, grants[1], does not because it allows ports 22 on tag:db, not 5432"
            )
        );
    }

    #[test]
    fn a_service_is_reached_by_rules_that_name_it_or_every_destination() {
        let text = r#"{
            "tagOwners": {"tag:web": []},
            "acls": [{"action": "accept", "src": ["tag:web"], "dst": ["*:443"]}],
            "tests": [{"src": "tag:web", "accept": ["svc:web:443"], "deny": ["svc:web:80"]}]}"#;
        assert!(evaluate_text(text, None, None).is_empty());
        let text = text.replace("svc:web:80", "svc:web:443");
        let found = evaluate_text(&text, None, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Code::TestFailed);
    }

    #[test]
    fn an_address_of_no_device_is_still_undecidable_whatever_the_standings() {
        let text = r#"{
            "tagOwners": {"tag:x": []},
            "grants": [{"src": ["autogroup:member"], "dst": ["tag:x"], "ip": ["tcp:22"]}],
            "tests": [{"src": "a@example.com", "accept": ["100.100.1.1:22"]}]}"#;
        let mut found = evaluate_text(text, None, None);
        // That a@example.com is a member, as the policy's users are taken to be, is said
        // once (TSA104).
        found.retain(|(code, _)| *code != Code::AssumedMembers);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Code::TestUndecidable);
        assert!(
            found[0].1.contains(
                "which holds only if 100.100.1.1 is the address of a device of tag:x (opened by grants[0])"
            ),
            "{found:?}"
        );
        // No rule opens port 22 to anything: whoever holds the address, the test fails.
        let nowhere = text.replace(
            r#""dst": ["tag:x"], "ip": ["tcp:22"]"#,
            r#""dst": ["tag:x"], "ip": ["tcp:80"]"#,
        );
        let mut found = evaluate_text(&nowhere, None, None);
        found.retain(|(code, _)| *code != Code::AssumedMembers);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Code::TestFailed, "{found:?}");
    }

    #[test]
    fn past_the_search_bound_an_assertion_is_undecided_never_failed() {
        let members: Vec<String> = (0..EXACT_LIMIT + 1)
            .map(|i| format!("\"u{i}@example.com\""))
            .collect();
        let text = format!(
            r#"{{"groups": {{"group:all": [{}]}}, "tagOwners": {{"tag:x": []}},
                "grants": [{{"src": ["autogroup:owner"], "dst": ["tag:x"], "ip": ["tcp:22"]}}],
                "tests": [{{"src": "group:all", "accept": ["tag:x:22"]}}]}}"#,
            members.join(", ")
        );
        // Two members cannot both be the owner, but that takes a search over 65 users:
        // read as each of its members, the group's test is undecided.
        let policy = crate::model::from_text(&text);
        let mut each = Vec::new();
        with_evaluator(
            &policy,
            Inventory::default(),
            false,
            None,
            FileId::default(),
            None,
            |ev| ev.network_test(&policy.tests[0], &mut each),
        );
        assert_eq!(each.len(), 1, "{each:?}");
        assert_eq!(each[0].code, Code::TestUndecidable);
        assert!(
            each[0].message.ends_with("u0@example.com, u10@example.com, u11@example.com, u12@example.com, u13@example.com and 60 more"),
            "{each:?}"
        );
        // A user of the group alone fails it; with the members' reading undecided, so is
        // the test.
        let found = evaluate_text(&text, None, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Code::TestUndecidable, "{found:?}");
    }
}
