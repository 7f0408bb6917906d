//! The exact redundancy audit (`analysis-design.md` §6.5): rules that grant nothing, rules
//! whose every flow another rule or a union of several already allows, and selectors made
//! redundant by others in their own rule.
//!
//! A rule's flows are its sources × the union of its entries' destinations × protocol and
//! port; all three are sets of intervals (addresses, and `proto << 16 | port` keys). Tailscale
//! rules only allow, so "redundant" means every flow of the rule lies in the union of other
//! rules' flows; rule order means nothing to the control plane.
//!
//! How a rule is checked, exactly and without cube subtraction:
//! 0. A glance: one sampled flow of the rule that no other rule allows proves it needed.
//!    The rules that could allow it are found from its destination address alone (the
//!    sets around the entry's that hold it), which costs what that flow touches; most
//!    rules are needed, and most are proven so here, without step 1.
//! 1. Candidates: rules that overlap it in sources, destinations and ports, found through
//!    the overlap relation of *selectors* (computed once by a sweep over every selector's
//!    addresses), not by intersecting address sets rule by rule.
//! 2. The rule's sources are cut into pieces by the candidates' sources; pieces with the
//!    same set of candidates form one class (Zobrist hashing), and each class needs only
//!    one two-dimensional check: are destinations × ports covered by those candidates?
//!    That check sweeps the port keys and subtracts destination sets.
//! 3. A covered rule gets a concise cover: one rule if one suffices, else the smallest
//!    prefix of the candidates ranked by overlap that still covers, pruned to be minimal.
//!
//! Invariant: removing every rule this audit reports leaves access unchanged. Rules are
//! decided from the last in the file to the first, and a rule reported redundant no longer
//! covers earlier ones, so of two identical rules only the later one is reported.
//! [`Audit::update`] re-decides only the rules an edit can affect.
//!
//! `autogroup:self` destinations depend on the source's owner, so when one is involved the
//! source pieces are also split by owner. Rules with `srcPosture` are covered only by rules
//! without posture or with the same one. A grant that also gives app capabilities, or that
//! routes `via` some routers, is never reported as redundant (capabilities are not packet
//! flows, and `via` steers which router carries the flows), but it covers others where it
//! applies: a `via` rule covers only rules with a `via` it includes.
//!
//! The steps, a file each: `lower` turns written rules into the audit form (a set of
//! addresses interned per selector, `keys` for protocols × ports, `owners` for
//! `autogroup:self`); `candidates` finds the rules that overlap a rule; `decide` decides
//! each rule (all against all on every core, then in the greedy order) and picks its
//! cover; `coverage` is the exact check that a union of rules covers one; `selectors`
//! finds the redundant and empty selectors of a needed rule; `update` re-decides after
//! an edit.

mod candidates;
mod coverage;
mod decide;
mod keys;
mod lower;
mod owners;
mod selectors;
mod update;

use super::inventory::Inventory;
use super::ipset::IpSet;
use super::resolve::Resolver;
use super::rules::Origin;
use crate::engine::rules::Written;
use crate::engine::zobrist;
use crate::model::Policy;
use crate::syntax::Span;
use lower::{AuditRule, Interner, definitions_key};
use owners::Owners;
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// Index of a resolved selector in the audit's table.
type SetId = u32;

/// What the audit found about one rule (or one selector of it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The rule's sources resolve to nobody.
    NoSources,
    /// The rule's destinations resolve to nothing (or `autogroup:self` with no user
    /// among the sources).
    NoDestinations,
    /// Every flow of the rule is allowed by the covering rules (one: subsumed).
    Redundant { covering: Vec<(Origin, Span)> },
    /// A source selector adds nothing the rule's other sources do not already give.
    RedundantSource { span: Span, by: Vec<Span> },
    /// A destination selector adds nothing the rule's other destinations do not.
    RedundantDestination { span: Span, by: Vec<Span> },
    /// A source selector matches nobody.
    EmptySource { span: Span },
    /// A destination selector matches nothing.
    EmptyDestination { span: Span },
}

/// A rule's verdict as stored: covering rules by index, so that an edit that moves them
/// in the file needs no rewrite.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    NoSources,
    NoDestinations,
    Redundant(Vec<u32>),
}

/// A selector-level finding as stored: selectors by their index in the rule.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Inner {
    RedundantSource(usize, Vec<usize>),
    RedundantDestination(usize, Vec<usize>),
    EmptySource(usize),
    EmptyDestination(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub origin: Origin,
    /// The rule.
    pub span: Span,
    pub kind: Kind,
}

/// The audit of one policy against one inventory, kept so that an edit can be re-decided
/// incrementally.
pub struct Audit {
    sets: Vec<Arc<IpSet>>,
    /// Each set's address count, for ranking.
    sizes: Vec<f64>,
    set_ids: lower::SetIds,
    /// For each set, the sets it overlaps (sorted, itself excluded).
    overlaps: Vec<Vec<SetId>>,
    rules: Vec<AuditRule>,
    /// For each set, the rules with it among their sources / destinations.
    by_src: Vec<Vec<u32>>,
    by_dst: Vec<Vec<u32>>,
    /// For each set, the rules with an entry on it, by the keys the entry opens.
    dst_keys: Vec<keys::KeyStab>,
    /// For each (source set, destination set) a rule names together, the rules that do.
    by_pair: FxHashMap<(SetId, SetId), Vec<u32>>,
    /// The sets rules name as sources, by the addresses they hold.
    src_stab: keys::AddressStab,
    /// The sets rules have entries on, by the addresses they hold: built only when a set
    /// overlaps many others (`autogroup:self` overlaps every user's devices).
    dst_stab: keys::AddressStab,
    /// Per set, how many rules its overlaps lead to, by sources / destinations.
    src_reach: Vec<usize>,
    dst_reach: Vec<usize>,
    /// Per rule: `None` if needed, else its finding.
    verdicts: Vec<Option<Verdict>>,
    /// Per rule: its verdict against every other rule, whatever was reported.
    full: Vec<Option<Verdict>>,
    /// Processing order (last rule in the file first) as a position per rule.
    order: Vec<u32>,
    owners: Owners,
    /// Selector-level findings per rule.
    inner: Vec<Vec<Inner>>,
    /// See `lower::definitions_key`.
    definitions: u64,
}

impl Audit {
    /// Audit every ACL and grant of `policy` against `inventory`.
    pub fn new(policy: &Policy, inventory: &Inventory) -> Audit {
        let resolver = Resolver::new(policy, inventory);
        let owners = Owners::new(inventory, &resolver);
        let mut audit = Audit {
            // Set 0: every user-owned device, the stand-in for `autogroup:self` in overlaps.
            sets: vec![Arc::new(owners.all())],
            sizes: Vec::new(),
            set_ids: Default::default(),
            overlaps: Vec::new(),
            rules: Vec::new(),
            by_src: Vec::new(),
            by_dst: Vec::new(),
            dst_keys: Vec::new(),
            by_pair: FxHashMap::default(),
            src_stab: Default::default(),
            dst_stab: Default::default(),
            src_reach: Vec::new(),
            dst_reach: Vec::new(),
            verdicts: Vec::new(),
            full: Vec::new(),
            order: Vec::new(),
            inner: Vec::new(),
            owners,
            definitions: definitions_key(policy),
        };
        let mut interner = Interner {
            policy,
            inventory,
            resolver: Some(resolver),
        };
        let written = Written::all(policy);
        audit.rules.reserve_exact(written.clone().count());
        for w in written {
            let rule = lower::lower(w, &mut interner, &mut audit.sets, &mut audit.set_ids);
            audit.rules.push(rule);
        }
        audit.overlaps = candidates::overlaps(&audit.sets);
        audit.sizes = audit.sets.iter().map(|s| s.size()).collect();
        audit.source_sizes();
        audit.index();
        audit.decide_all();
        audit
    }

    /// Each one-set source's size, from its set's (computed once per set: a set of every
    /// member's devices has as many intervals as they have addresses, and a thousand
    /// rules may name it).
    fn source_sizes(&mut self) {
        for r in &mut self.rules {
            r.src_size = r.src.one().and_then(|one| {
                let set = r
                    .src_sels
                    .iter()
                    .find(|&&s| Arc::ptr_eq(&self.sets[s as usize], one));
                set.map(|&s| self.sizes[s as usize])
            });
        }
    }

    /// Every finding, in rule order.
    pub fn findings(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut ids: Vec<usize> = (0..self.rules.len()).collect();
        ids.sort_by_key(|&i| self.rules[i].span.start);
        for i in ids {
            let r = &self.rules[i];
            let at = |kind: Kind| Finding {
                origin: r.origin,
                span: r.span,
                kind,
            };
            let src = |k: usize| r.src_spans[k];
            let dst = |k: usize| r.dst_spans[k];
            match &self.verdicts[i] {
                Some(Verdict::NoSources) => out.push(at(Kind::NoSources)),
                Some(Verdict::NoDestinations) => out.push(at(Kind::NoDestinations)),
                Some(Verdict::Redundant(cover)) => out.push(at(Kind::Redundant {
                    covering: cover
                        .iter()
                        .map(|&c| {
                            let c = &self.rules[c as usize];
                            (c.origin, c.span)
                        })
                        .collect(),
                })),
                None => {}
            }
            for inner in &self.inner[i] {
                out.push(at(match inner {
                    Inner::RedundantSource(k, by) => Kind::RedundantSource {
                        span: src(*k),
                        by: by.iter().map(|&j| src(j)).collect(),
                    },
                    Inner::RedundantDestination(k, by) => Kind::RedundantDestination {
                        span: dst(*k),
                        by: by.iter().map(|&j| dst(j)).collect(),
                    },
                    Inner::EmptySource(k) => Kind::EmptySource { span: src(*k) },
                    Inner::EmptyDestination(k) => Kind::EmptyDestination { span: dst(*k) },
                }));
            }
        }
        out
    }
}

/// What the tests of every step share: a policy's structural findings, one line each.
#[cfg(test)]
mod testing {
    use super::{Audit, Finding, Kind};
    use crate::engine::structural::representative;
    use crate::model::Policy;

    pub(super) fn policy(text: &str) -> Policy {
        crate::model::from_text(text)
    }

    /// Findings as `origin: kind [covering...]`, structurally.
    pub(super) fn audit(text: &str) -> Vec<String> {
        let p = policy(text);
        let inv = representative(&p);
        show(&Audit::new(&p, &inv).findings())
    }

    pub(super) fn show(findings: &[Finding]) -> Vec<String> {
        findings
            .iter()
            .map(|f| match &f.kind {
                Kind::Redundant { covering } => format!(
                    "{} redundant: {}",
                    f.origin,
                    covering
                        .iter()
                        .map(|(o, _)| o.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                k => format!("{} {k:?}", f.origin),
            })
            .collect()
    }

    pub(super) const DEFS: &str = r#""groups": {"group:eng": ["alice@example.com", "bob@example.com"], "group:none": []},
        "tagOwners": {"tag:db": ["group:eng"], "tag:web": ["group:eng"]},
        "hosts": {"lan": "10.0.0.0/24"},"#;
}

#[cfg(test)]
mod tests {
    use super::Audit;
    use super::testing::{DEFS, audit, policy, show};

    /// Many rules opening one port on one destination (a source each): the glance looks
    /// them up by the flow's source, and still finds the rule that allows a flow (a later
    /// duplicate, a wider source, a user's device among a group's).
    #[test]
    fn many_sources_on_one_port_are_looked_up_by_source() {
        let mut grants: Vec<String> = (0..200)
            .map(|k| {
                format!(
                    r#"{{"src": ["10.1.{}.{}/32"], "dst": ["tag:db"], "ip": ["tcp:5432"]}}"#,
                    k / 100,
                    k % 100
                )
            })
            .collect();
        grants.push(r#"{"src": ["10.1.0.7/32"], "dst": ["tag:db"], "ip": ["tcp:5432"]}"#.into());
        grants.push(r#"{"src": ["10.2.0.0/24"], "dst": ["tag:db"], "ip": ["tcp:5432"]}"#.into());
        grants.push(r#"{"src": ["10.2.0.9/32"], "dst": ["tag:db"], "ip": ["tcp:5432"]}"#.into());
        grants.push(
            r#"{"src": ["alice@example.com"], "dst": ["tag:db"], "ip": ["tcp:5432"]}"#.into(),
        );
        grants.push(r#"{"src": ["group:eng"], "dst": ["tag:db"], "ip": ["tcp:5432"]}"#.into());
        let f = audit(&format!(r#"{{{DEFS} "grants": [{}]}}"#, grants.join(",\n")));
        assert_eq!(
            f,
            [
                "grants[200] redundant: grants[7]",
                "grants[202] redundant: grants[201]",
                "grants[203] redundant: grants[204]",
            ]
        );
    }

    #[test]
    fn named_users_may_be_shared_in_or_hold_roles() {
        // alice and bob may be users shared in from another tailnet, outside
        // autogroup:member: group:eng's rule is needed whatever the devices.
        let f = audit(&format!(
            r#"{{{DEFS} "grants": [
                {{"src": ["group:eng"], "dst": ["tag:db"], "ip": ["tcp:5432"]}},
                {{"src": ["autogroup:member"], "dst": ["tag:db"], "ip": ["*"]}}]}}"#
        ));
        assert!(f.is_empty(), "{f:?}");
        // Either alice is shared in (the second grant lets her in) or she is a member.
        let f = audit(&format!(
            r#"{{{DEFS} "grants": [
                {{"src": ["alice@example.com"], "dst": ["autogroup:internet"], "ip": ["*"]}},
                {{"src": ["autogroup:member"], "dst": ["autogroup:internet"], "ip": ["*"]}},
                {{"src": ["autogroup:shared"], "dst": ["autogroup:internet"], "ip": ["*"]}}]}}"#
        ));
        assert_eq!(f, ["grants[0] redundant: grants[1], grants[2]"]);
        // An admin may be anyone, alice included; the owner is an admin.
        let f = audit(&format!(
            r#"{{{DEFS} "grants": [
                {{"src": ["autogroup:owner"], "dst": ["tag:db"], "ip": ["tcp:22"]}},
                {{"src": ["autogroup:admin"], "dst": ["tag:db"], "ip": ["tcp:22"]}},
                {{"src": ["alice@example.com"], "dst": ["tag:db"], "ip": ["tcp:22"]}}]}}"#
        ));
        assert_eq!(f, ["grants[0] redundant: grants[1]"]);
        // The inventory decides: alice is a member there, so autogroup:member covers her.
        let text = format!(
            r#"{{{DEFS} "grants": [
                {{"src": ["alice@example.com"], "dst": ["autogroup:internet"], "ip": ["*"]}},
                {{"src": ["autogroup:member"], "dst": ["autogroup:internet"], "ip": ["*"]}}]}}"#
        );
        assert!(audit(&text).is_empty());
        let inv = |kind: &str| {
            crate::engine::Inventory::from_json(
                format!(
                    r#"{{"devices": [{{"hostname": "a", "addresses": ["100.64.0.1"], "user": "alice@example.com", "tags": []}},
                                     {{"hostname": "c", "addresses": ["100.64.0.2"], "user": "carol@example.com", "tags": []}}],
                        "users": [{{"loginName": "alice@example.com", "role": "member", "type": "{kind}"}},
                                  {{"loginName": "carol@example.com", "role": "member", "type": "member"}}]}}"#
                )
                .as_bytes(),
            )
            .unwrap()
        };
        let p = policy(&text);
        assert_eq!(
            show(&Audit::new(&p, &inv("member")).findings()),
            ["grants[0] redundant: grants[1]"]
        );
        assert!(show(&Audit::new(&p, &inv("shared")).findings()).is_empty());
    }

    #[test]
    fn structural_findings_hold_for_any_devices() {
        // Today only alice may own tag:db devices, but a policy cannot know that.
        let f = audit(&format!(
            r#"{{{DEFS} "acls": [
                {{"action": "accept", "src": ["tag:db"], "dst": ["tag:web:80"]}},
                {{"action": "accept", "src": ["autogroup:tagged"], "dst": ["tag:web:80"]}},
                {{"action": "accept", "src": ["alice@example.com"], "dst": ["10.0.0.5:22"]}},
                {{"action": "accept", "src": ["group:eng"], "dst": ["lan:22"]}}]}}"#
        ));
        assert_eq!(
            f,
            ["acls[0] redundant: acls[1]", "acls[2] redundant: acls[3]"]
        );
        // A named user is not known to be an admin, nor an admin to be in a group.
        let f = audit(&format!(
            r#"{{{DEFS} "acls": [
                {{"action": "accept", "src": ["autogroup:admin"], "dst": ["tag:web:80"]}},
                {{"action": "accept", "src": ["group:eng"], "dst": ["tag:web:80"]}},
                {{"action": "accept", "src": ["autogroup:member"], "dst": ["tag:db:80"]}},
                {{"action": "accept", "src": ["autogroup:admin"], "dst": ["tag:db:80"]}}]}}"#
        ));
        assert_eq!(f, ["acls[3] redundant: acls[2]"]);
    }

    #[test]
    fn inventory_findings_use_the_devices_there_are() {
        let text = format!(
            r#"{{{DEFS} "acls": [
                {{"action": "accept", "src": ["tag:db"], "dst": ["tag:web:80"]}},
                {{"action": "accept", "src": ["alice@example.com"], "dst": ["tag:web:80"]}}]}}"#
        );
        let p = policy(&text);
        let inv = crate::engine::Inventory::from_json(
            br#"{"devices": [
                {"hostname": "a", "addresses": ["100.64.0.1"], "user": "alice@example.com", "tags": []},
                {"hostname": "db", "addresses": ["100.64.0.1"], "tags": ["tag:db"]},
                {"hostname": "web", "addresses": ["100.64.0.3"], "tags": ["tag:web"]}]}"#,
        )
        .unwrap();
        // Same address: in this inventory the two sources are the same device.
        let f = show(&Audit::new(&p, &inv).findings());
        assert_eq!(f, ["acls[1] redundant: acls[0]"]);
        assert!(audit(&text).is_empty());
    }
}
