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

use super::inventory::Inventory;
use super::ipset::IpSet;
use super::resolve::Resolver;
use super::rules::{Origin, Protocols};
use crate::model::{Autogroup, Policy, PortRange, Sel, Selector};
use crate::syntax::Span;
use rustc_hash::{FxHashMap, FxHashSet};
use std::borrow::Cow;
use std::sync::Arc;

// ------------------------------------------------------------------------------------
// Protocol × port keys

/// Protocols × ports as sorted, disjoint intervals of `proto << 16 | port`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Keys(Vec<(u32, u32)>);

impl Keys {
    pub fn new(protocols: Protocols, ports: &[PortRange]) -> Keys {
        let mut v = Vec::new();
        for p in protocols.numbers() {
            let base = u32::from(p) << 16;
            for r in ports {
                v.push((base | u32::from(r.first), base | u32::from(r.last)));
            }
        }
        v.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        Keys(out)
    }
    fn overlaps(&self, other: &Keys) -> bool {
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() && j < other.0.len() {
            let (a, b) = (self.0[i], other.0[j]);
            if a.0.max(b.0) <= a.1.min(b.1) {
                return true;
            }
            if a.1 < b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        false
    }
    fn contains(&self, k: u32) -> bool {
        let i = self.0.partition_point(|&(lo, _)| lo <= k);
        i > 0 && self.0[i - 1].1 >= k
    }
    fn overlap_size(&self, other: &Keys) -> f64 {
        let (mut i, mut j, mut n) = (0, 0, 0.0);
        while i < self.0.len() && j < other.0.len() {
            let (a, b) = (self.0[i], other.0[j]);
            let (lo, hi) = (a.0.max(b.0), a.1.min(b.1));
            if lo <= hi {
                n += f64::from(hi - lo) + 1.0;
            }
            if a.1 < b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        n
    }
}

// ------------------------------------------------------------------------------------
// Rules in audit form

/// Index of a resolved selector in the audit's table.
type SetId = u32;

#[derive(Clone, Debug)]
struct AuditEntry {
    /// The destination's set; for `autogroup:self`, all user-owned devices (for overlap
    /// tests only: the flows themselves depend on the source's owner).
    set: SetId,
    own: bool,
    keys: Keys,
    /// Which destination selector of the rule this entry comes from.
    dst_index: usize,
}

#[derive(Clone, Debug)]
struct AuditRule {
    origin: Origin,
    span: Span,
    src_sels: Vec<SetId>,
    src_spans: Vec<Span>,
    /// Shared with the selector's set when there is one selector.
    src: Arc<IpSet>,
    src_size: f64,
    entries: Vec<AuditEntry>,
    dst_spans: Vec<Span>,
    via: Vec<String>,
    posture: Vec<String>,
    /// Grants app capabilities: needed whatever its network flows.
    has_caps: bool,
    /// Identifies the rule's content across edits.
    key: u64,
}

impl AuditRule {
    /// Can `other`'s flows stand in for this rule's, `via` and posture considered?
    fn coverable_by(&self, other: &AuditRule) -> bool {
        (other.via.is_empty()
            || (!self.via.is_empty() && self.via.iter().all(|v| other.via.contains(v))))
            && (other.posture.is_empty() || other.posture == self.posture)
    }
}

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

// ------------------------------------------------------------------------------------
// The audit

/// The audit of one policy against one inventory, kept so that an edit can be re-decided
/// incrementally.
pub struct Audit {
    sets: Vec<Arc<IpSet>>,
    /// Each set's address count, for ranking.
    sizes: Vec<f64>,
    set_ids: FxHashMap<(bool, String), SetId>,
    /// For each set, the sets it overlaps (sorted, itself excluded).
    overlaps: Vec<Vec<SetId>>,
    rules: Vec<AuditRule>,
    /// For each set, the rules with it among their sources / destinations.
    by_src: Vec<Vec<u32>>,
    by_dst: Vec<Vec<u32>>,
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
    /// See [`definitions_key`].
    definitions: u64,
}

/// User-owned device addresses with their owner, to split sources by owner for
/// `autogroup:self`, and each owner's devices.
struct Owners {
    /// Per family, sorted (address, owner index).
    addrs: [Vec<(u128, u32)>; 2],
    devices: Vec<IpSet>,
}

impl Owners {
    fn new(inventory: &Inventory) -> Owners {
        let mut index: FxHashMap<&str, u32> = FxHashMap::default();
        let mut addrs: [Vec<(u128, u32)>; 2] = [Vec::new(), Vec::new()];
        let mut per: Vec<Vec<std::net::IpAddr>> = Vec::new();
        for d in &inventory.devices {
            let Some(owner) = d.owner() else { continue };
            let next = index.len() as u32;
            let id = *index.entry(owner).or_insert(next);
            if id as usize == per.len() {
                per.push(Vec::new());
            }
            for a in &d.addresses {
                per[id as usize].push(*a);
                let fam = usize::from(a.is_ipv6());
                addrs[fam].push((crate::model::addr::ip_to_u128(*a), id));
            }
        }
        for list in &mut addrs {
            list.sort_unstable();
        }
        Owners {
            addrs,
            devices: per.into_iter().map(IpSet::from_addrs).collect(),
        }
    }
    fn all(&self) -> IpSet {
        IpSet::union_all(&self.devices)
    }
}

impl Audit {
    /// Audit every ACL and grant of `policy` against `inventory`.
    pub fn new(policy: &Policy, inventory: &Inventory) -> Audit {
        let owners = Owners::new(inventory);
        let mut audit = Audit {
            // Set 0: every user-owned device, the stand-in for `autogroup:self` in overlaps.
            sets: vec![Arc::new(owners.all())],
            sizes: Vec::new(),
            set_ids: FxHashMap::default(),
            overlaps: Vec::new(),
            rules: Vec::new(),
            by_src: Vec::new(),
            by_dst: Vec::new(),
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
            resolver: None,
        };
        for w in Written::all(policy) {
            let rule = w.lower(&mut interner, &mut audit.sets, &mut audit.set_ids);
            audit.rules.push(rule);
        }
        audit.overlaps = overlaps(&audit.sets);
        audit.sizes = audit.sets.iter().map(|s| s.size()).collect();
        audit.index();
        audit.decide_all();
        audit
    }

    /// Re-decide after `policy` was edited, touching only the rules the edit can affect:
    /// the rules whose text changed, the rules that overlap their old or new form, and,
    /// transitively, the rules that overlap a rule whose verdict changed. `inventory` must
    /// be the one the audit was built with. An edit to groups, hosts or ipsets re-decides
    /// everything. Returns how many rules were re-decided.
    pub fn update(&mut self, policy: &Policy, inventory: &Inventory) -> usize {
        if definitions_key(policy) != self.definitions {
            *self = Audit::new(policy, inventory);
            return self.rules.len();
        }
        let written = Written::all(policy);
        // Match unchanged rules by content.
        let mut old_by_key: FxHashMap<u64, Vec<usize>> = FxHashMap::default();
        for (i, r) in self.rules.iter().enumerate().rev() {
            old_by_key.entry(r.key).or_default().push(i);
        }
        let matched: Vec<Option<usize>> = written
            .iter()
            .map(|w| old_by_key.get_mut(&w.key()).and_then(|v| v.pop()))
            .collect();
        let mut new_of_old: Vec<Option<u32>> = vec![None; self.rules.len()];
        for (j, m) in matched.iter().enumerate() {
            if let Some(o) = m {
                new_of_old[*o] = Some(j as u32);
            }
        }
        // Rules that overlapped a removed or changed rule, before the index changes.
        let mut dirty: Vec<u32> = Vec::new();
        let mut scratch = Scratch::new(self.rules.len());
        for (o, m) in new_of_old.iter().enumerate() {
            if m.is_none() {
                for c in self.candidates(o, &mut scratch) {
                    if let Some(j) = new_of_old[c as usize] {
                        dirty.push(j);
                    }
                }
            }
        }
        // The new rule list: unchanged rules keep their lowering and verdicts.
        let old_rules = std::mem::take(&mut self.rules);
        let old_verdicts = std::mem::take(&mut self.verdicts);
        let old_full = std::mem::take(&mut self.full);
        let old_inner = std::mem::take(&mut self.inner);
        let sets_before = self.sets.len();
        let mut interner = Interner {
            policy,
            inventory,
            resolver: None,
        };
        let mut changed = Vec::new();
        for (j, w) in written.iter().enumerate() {
            match matched[j] {
                Some(o) => {
                    let mut r = old_rules[o].clone();
                    r.origin = w.origin();
                    r.span = w.span();
                    self.rules.push(r);
                    // Covering rules that changed make this rule dirty; the rest moved.
                    let remap = |v: &Option<Verdict>| {
                        v.clone().map(|v| match v {
                            Verdict::Redundant(cover) => Verdict::Redundant(
                                cover
                                    .iter()
                                    .filter_map(|&c| new_of_old[c as usize])
                                    .collect(),
                            ),
                            other => other,
                        })
                    };
                    self.verdicts.push(remap(&old_verdicts[o]));
                    self.full.push(remap(&old_full[o]));
                    self.inner.push(old_inner[o].clone());
                }
                None => {
                    let r = w.lower(&mut interner, &mut self.sets, &mut self.set_ids);
                    self.rules.push(r);
                    self.verdicts.push(None);
                    self.full.push(None);
                    self.inner.push(Vec::new());
                    changed.push(j as u32);
                }
            }
        }
        // Spans move when text before them changes length.
        for (r, w) in self.rules.iter_mut().zip(&written) {
            r.span = w.span();
            (r.src_spans, r.dst_spans) = w.selector_spans();
        }
        // Overlaps of the sets the edit introduced.
        for new in sets_before..self.sets.len() {
            let mut mine = Vec::new();
            for other in 0..self.sets.len() {
                if other != new && self.sets[new].overlaps(&self.sets[other]) {
                    mine.push(other as SetId);
                    if other < sets_before {
                        let list = &mut self.overlaps[other];
                        let at = list.partition_point(|&x| x < new as SetId);
                        list.insert(at, new as SetId);
                    }
                }
            }
            self.overlaps.push(mine);
            self.sizes.push(self.sets[new].size());
        }
        self.index();
        let mut scratch = Scratch::new(self.rules.len());
        for &j in &changed {
            dirty.push(j);
            dirty.extend(self.candidates(j as usize, &mut scratch));
        }
        // Re-decide in processing order; a verdict that flips makes the rules decided
        // after it (earlier in the file) that overlap it dirty too.
        let mut queue: std::collections::BTreeSet<(u32, u32)> = dirty
            .into_iter()
            .map(|j| (self.order[j as usize], j))
            .collect();
        let mut decided = 0;
        while let Some((_, j)) = queue.pop_first() {
            let j = j as usize;
            decided += 1;
            let before = self.verdicts[j].is_some();
            self.full[j] = self.decide(j, &mut scratch, false);
            self.verdicts[j] = self.settle(j, &self.full[j], &mut scratch);
            self.inner[j] = if self.verdicts[j].is_none() {
                self.selector_findings(j)
            } else {
                Vec::new()
            };
            if self.verdicts[j].is_some() != before {
                for c in self.candidates(j, &mut scratch) {
                    if self.order[c as usize] > self.order[j] {
                        queue.insert((self.order[c as usize], c));
                    }
                }
            }
        }
        decided
    }

    fn index(&mut self) {
        self.by_src = vec![Vec::new(); self.sets.len()];
        self.by_dst = vec![Vec::new(); self.sets.len()];
        for (i, r) in self.rules.iter().enumerate() {
            for &s in &r.src_sels {
                push_unique(&mut self.by_src[s as usize], i as u32);
            }
            for e in &r.entries {
                push_unique(&mut self.by_dst[e.set as usize], i as u32);
            }
        }
        // How many rules a selector leads to through its overlaps, per side: a broad
        // selector (`autogroup:member`) overlaps most sets, so summing that per rule would
        // cost rules × sets.
        let reach = |index: &Vec<Vec<u32>>| -> Vec<usize> {
            (0..self.sets.len())
                .map(|s| {
                    index[s].len()
                        + self.overlaps[s]
                            .iter()
                            .map(|t| index[*t as usize].len())
                            .sum::<usize>()
                })
                .collect()
        };
        self.src_reach = reach(&self.by_src);
        self.dst_reach = reach(&self.by_dst);
        let mut order: Vec<u32> = (0..self.rules.len() as u32).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.rules[i as usize].span.start));
        self.order = vec![0; self.rules.len()];
        for (pos, &i) in order.iter().enumerate() {
            self.order[i as usize] = pos as u32;
        }
    }

    /// Was rule `c` decided before rule `i` (it is later in the file) and reported?
    fn gone_before(&self, c: usize, i: usize) -> bool {
        self.order[c] < self.order[i] && self.verdicts[c].is_some()
    }

    /// The verdict in the greedy order, from the verdict against every other rule: a rule
    /// no other rules cover stays needed in a smaller pool, and a cover made only of rules
    /// still in the pool still holds; only otherwise is the rule decided again.
    fn settle(&self, i: usize, full: &Option<Verdict>, scratch: &mut Scratch) -> Option<Verdict> {
        match full {
            Some(Verdict::Redundant(cover))
                if cover.iter().any(|&c| self.gone_before(c as usize, i)) =>
            {
                self.decide(i, scratch, true)
            }
            other => other.clone(),
        }
    }

    /// Decide every rule: first each against all others and its own selectors, which is
    /// most of the work and independent per rule, so it runs on every core; then the
    /// greedy order, which rarely needs a rule decided again.
    fn decide_all(&mut self) {
        let n = self.rules.len();
        self.verdicts = vec![None; n];
        let threads = std::thread::available_parallelism()
            .map_or(1, |t| t.get())
            .min(n.div_ceil(64).max(1));
        let this = &*self;
        let results: Vec<(usize, Option<Verdict>, Vec<Inner>)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    scope.spawn(move || {
                        let mut scratch = Scratch::new(n);
                        (t..n)
                            .step_by(threads)
                            .map(|i| {
                                let full = this.decide(i, &mut scratch, false);
                                let inner = if full.is_none() {
                                    this.selector_findings(i)
                                } else {
                                    Vec::new()
                                };
                                (i, full, inner)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("an audit worker panicked"))
                .collect()
        });
        self.full = vec![None; n];
        self.inner = vec![Vec::new(); n];
        for (i, full, inner) in results {
            self.full[i] = full;
            self.inner[i] = inner;
        }
        let mut by_order: Vec<usize> = (0..n).collect();
        by_order.sort_by_key(|&i| self.order[i]);
        let mut scratch = Scratch::new(n);
        for i in by_order {
            self.verdicts[i] = self.settle(i, &self.full[i], &mut scratch);
            if self.verdicts[i].is_none() && self.full[i].is_some() {
                self.inner[i] = self.selector_findings(i);
            }
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

    /// Rules that overlap rule `i` in sources, destinations and ports (any coverability).
    fn candidates(&self, i: usize, scratch: &mut Scratch) -> Vec<u32> {
        let r = &self.rules[i];
        scratch.stamp += 1;
        let stamp = scratch.stamp;
        let mut out = Vec::new();
        // Walk whichever side names fewer rules.
        let src_cost: usize = r.src_sels.iter().map(|&s| self.src_reach[s as usize]).sum();
        let dst_cost: usize = r
            .entries
            .iter()
            .map(|e| self.dst_reach[e.set as usize])
            .sum();
        let (seeds, index): (Vec<SetId>, &Vec<Vec<u32>>) = if src_cost <= dst_cost {
            (r.src_sels.clone(), &self.by_src)
        } else {
            (r.entries.iter().map(|e| e.set).collect(), &self.by_dst)
        };
        for s in seeds {
            for t in std::iter::once(s).chain(self.overlaps[s as usize].iter().copied()) {
                for &c in &index[t as usize] {
                    if scratch.mark[c as usize] != stamp {
                        scratch.mark[c as usize] = stamp;
                        if c as usize != i && self.overlap(r, &self.rules[c as usize]) {
                            out.push(c);
                        }
                    }
                }
            }
        }
        out
    }

    fn sets_overlap(&self, a: SetId, b: SetId) -> bool {
        a == b || self.overlaps[a as usize].binary_search(&b).is_ok()
    }

    fn overlap(&self, r: &AuditRule, c: &AuditRule) -> bool {
        r.src_sels
            .iter()
            .any(|&a| c.src_sels.iter().any(|&b| self.sets_overlap(a, b)))
            && r.entries.iter().any(|e| {
                c.entries
                    .iter()
                    .any(|f| e.keys.overlaps(&f.keys) && self.sets_overlap(e.set, f.set))
            })
    }

    /// Decide rule `i` against the rules still in the pool.
    /// Decide rule `i` against every other rule (`exclude_gone` false), or against the
    /// pool of the greedy order: without the rules decided before it (later in the file)
    /// that were reported.
    fn decide(&self, i: usize, scratch: &mut Scratch, exclude_gone: bool) -> Option<Verdict> {
        let r = &self.rules[i];
        if r.has_caps && r.entries.is_empty() {
            return None;
        }
        if r.src.is_empty() {
            return (!r.has_caps).then_some(Verdict::NoSources);
        }
        let no_dst = r.entries.iter().all(|e| {
            if e.own {
                !self.sets[0].overlaps(&r.src)
            } else {
                self.sets[e.set as usize].is_empty()
            }
        });
        if no_dst {
            return (!r.has_caps).then_some(Verdict::NoDestinations);
        }
        // A `via` grant also steers routing (which router carries the flows), so it is
        // needed even when other rules allow all of its flows.
        if r.has_caps || !r.via.is_empty() {
            return None;
        }
        let pool: Vec<u32> = self
            .candidates(i, scratch)
            .into_iter()
            .filter(|&c| {
                let c = c as usize;
                let gone = exclude_gone && self.gone_before(c, i);
                !gone && r.coverable_by(&self.rules[c])
            })
            .collect();
        if pool.is_empty() || self.witness(r, &pool) {
            return None;
        }
        let parts: Vec<Part> = pool.iter().map(|&c| self.part(r, c as usize)).collect();
        let checker = Checker {
            audit: self,
            src: &r.src,
            entries: &r.entries,
        };
        // A concise cover: ranked by overlap, one rule if one suffices (it must contain
        // every source, a cheap test), else the shortest covering prefix, pruned to a
        // minimal one when short.
        let mut ranked: Vec<&Part> = parts.iter().collect();
        ranked.sort_by(|a, b| b.volume.total_cmp(&a.volume).then(a.rule.cmp(&b.rule)));
        if let Some(one) = ranked
            .iter()
            .filter(|p| p.has_every_source(&r.src))
            .take(16)
            .find(|p| checker.covered(&[**p]))
        {
            return Some(Verdict::Redundant(vec![one.rule]));
        }
        if ranked.len() < 2 || !checker.covered(&ranked) {
            return None;
        }
        let mut n = 2;
        let mut cover = loop {
            let take = n.min(ranked.len());
            if take == ranked.len() || checker.covered(&ranked[..take]) {
                break ranked[..take].to_vec();
            }
            n *= 2;
        };
        if cover.len() <= 64 {
            let mut k = cover.len();
            while k > 0 {
                k -= 1;
                let mut without = cover.clone();
                without.remove(k);
                if checker.covered(&without) {
                    cover = without;
                }
            }
        }
        Some(Verdict::Redundant(cover.iter().map(|p| p.rule).collect()))
    }

    /// Cheap proof that rule `r` is needed: a few of its flows (sampled sources, each
    /// entry's first destination address and first port) that no candidate allows. Most
    /// rules are needed, and this spares them the exact check.
    fn witness(&self, r: &AuditRule, pool: &[u32]) -> bool {
        let first = |set: &IpSet| -> Option<(usize, u128)> {
            set.families()
                .iter()
                .enumerate()
                .find(|(_, l)| !l.is_empty())
                .map(|(f, l)| (f, l[0].0))
        };
        let mut sources: Vec<(usize, u128)> = Vec::new();
        for (fam, list) in r.src.families().iter().enumerate() {
            if list.is_empty() {
                continue;
            }
            for k in [0, list.len() / 3, 2 * list.len() / 3, list.len() - 1] {
                sources.push((fam, list[k].0));
            }
        }
        sources.dedup();
        for (fam, a) in sources {
            let addr = super::ipset::address(fam, a);
            let from: Vec<&AuditRule> = pool
                .iter()
                .map(|&c| &self.rules[c as usize])
                .filter(|c| c.src.contains(addr))
                .collect();
            let owner = self.owner_of(fam, a);
            for e in &r.entries {
                let Some(&(key, _)) = e.keys.0.first() else {
                    continue;
                };
                let dst = if e.own {
                    // The owner's first device address.
                    owner.and_then(|o| first(&self.owners.devices[o as usize]))
                } else {
                    first(&self.sets[e.set as usize])
                };
                let Some((dfam, d)) = dst else { continue };
                let daddr = super::ipset::address(dfam, d);
                let covered = from.iter().any(|c| {
                    c.entries.iter().any(|f| {
                        f.keys.contains(key)
                            && if f.own {
                                owner.is_some() && owner == self.owner_of(dfam, d)
                            } else {
                                self.sets[f.set as usize].contains(daddr)
                            }
                    })
                });
                if !covered {
                    return true;
                }
            }
        }
        false
    }

    fn owner_of(&self, fam: usize, a: u128) -> Option<u32> {
        let list = &self.owners.addrs[fam];
        let i = list.partition_point(|&(x, _)| x < a);
        list.get(i).filter(|(x, _)| *x == a).map(|(_, o)| *o)
    }

    /// Candidate `c` restricted to rule `r`'s sources, ranked by how much of `r` it covers.
    fn part<'a>(&'a self, r: &'a AuditRule, c: usize) -> Part<'a> {
        let rule = &self.rules[c];
        // Borrow rather than copy when the candidate takes in every source (often: a
        // broad rule, or the same selector, whose set is shared).
        let src = if Arc::ptr_eq(&rule.src, &r.src) || rule.src.contains_set(&r.src) {
            Cow::Borrowed(&*r.src)
        } else if r.src.contains_set(&rule.src) {
            Cow::Borrowed(&*rule.src)
        } else {
            Cow::Owned(rule.src.intersect(&r.src))
        };
        let mut best: f64 = 0.0;
        for e in &r.entries {
            for f in &rule.entries {
                if self.sets_overlap(e.set, f.set) {
                    let d = self.sizes[e.set as usize].min(self.sizes[f.set as usize]);
                    best = best.max(d * e.keys.overlap_size(&f.keys));
                }
            }
        }
        let sources = if std::ptr::eq(&*src, &*r.src) {
            r.src_size
        } else if std::ptr::eq(&*src, &*rule.src) {
            rule.src_size
        } else {
            src.size()
        };
        Part {
            rule: c as u32,
            volume: sources * best,
            src,
            entries: &rule.entries,
        }
    }

    /// Selectors of a needed rule made redundant by, or empty next to, its other ones.
    fn selector_findings(&self, i: usize) -> Vec<Inner> {
        let r = &self.rules[i];
        let mut out = Vec::new();
        // Sources: later duplicates are the redundant ones.
        let mut gone = vec![false; r.src_sels.len()];
        for k in (0..r.src_sels.len()).rev() {
            let set = &self.sets[r.src_sels[k] as usize];
            if set.is_empty() {
                out.push(Inner::EmptySource(k));
                gone[k] = true;
                continue;
            }
            let others: Vec<usize> = (0..r.src_sels.len())
                .filter(|&j| j != k && !gone[j])
                .collect();
            let union =
                IpSet::union_all(others.iter().map(|&j| &*self.sets[r.src_sels[j] as usize]));
            if union.contains_set(set) {
                // Name the fewest others that together contain it.
                let by = minimal_containing(set, &others, |j| &self.sets[r.src_sels[j] as usize]);
                out.push(Inner::RedundantSource(k, by));
                gone[k] = true;
            }
        }
        // Destinations: is one selector's part of the flows inside the others'?
        let n = r.dst_spans.len();
        let mut gone = vec![false; n];
        for k in (0..n).rev() {
            let mine: Vec<AuditEntry> = r
                .entries
                .iter()
                .filter(|e| e.dst_index == k)
                .cloned()
                .collect();
            if mine.is_empty() {
                continue;
            }
            let empty = mine
                .iter()
                .all(|e| !e.own && self.sets[e.set as usize].is_empty());
            if empty {
                out.push(Inner::EmptyDestination(k));
                gone[k] = true;
                continue;
            }
            let rest: Vec<AuditEntry> = r
                .entries
                .iter()
                .filter(|e| e.dst_index != k && !gone[e.dst_index])
                .cloned()
                .collect();
            if rest.is_empty() {
                continue;
            }
            let checker = Checker {
                audit: self,
                src: &r.src,
                entries: &mine,
            };
            let part = Part {
                rule: i as u32,
                volume: 0.0,
                src: Cow::Borrowed(&*r.src),
                entries: &rest,
            };
            if checker.covered(&[&part]) {
                // Name one other selector if one suffices.
                let mut by: Vec<usize> = rest.iter().map(|e| e.dst_index).collect();
                by.dedup();
                let alone = by.iter().copied().find(|&j| {
                    let only: Vec<AuditEntry> =
                        rest.iter().filter(|e| e.dst_index == j).cloned().collect();
                    let part = Part {
                        rule: i as u32,
                        volume: 0.0,
                        src: Cow::Borrowed(&*r.src),
                        entries: &only,
                    };
                    checker.covered(&[&part])
                });
                if let Some(j) = alone {
                    by = vec![j];
                }
                out.push(Inner::RedundantDestination(k, by));
                gone[k] = true;
            }
        }
        let at = |k: &Inner| match k {
            Inner::RedundantSource(k, _) | Inner::EmptySource(k) => r.src_spans[*k].start,
            Inner::RedundantDestination(k, _) | Inner::EmptyDestination(k) => r.dst_spans[*k].start,
        };
        out.sort_by_key(at);
        out
    }
}

fn push_unique(list: &mut Vec<u32>, v: u32) {
    if list.last() != Some(&v) {
        list.push(v);
    }
}

/// The fewest of `candidates` whose sets together contain `target` (greedy, largest
/// first, then pruned).
fn minimal_containing<'a>(
    target: &IpSet,
    candidates: &[usize],
    set: impl Fn(usize) -> &'a IpSet,
) -> Vec<usize> {
    let mut ranked: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|&j| set(j).overlaps(target))
        .collect();
    ranked.sort_by(|&a, &b| {
        set(b)
            .intersect(target)
            .size()
            .total_cmp(&set(a).intersect(target).size())
    });
    let mut chosen = Vec::new();
    let mut rest = target.clone();
    for j in ranked {
        if rest.is_empty() {
            break;
        }
        if set(j).overlaps(&rest) {
            rest = rest.subtract(set(j));
            chosen.push(j);
        }
    }
    let mut k = chosen.len();
    while k > 0 {
        k -= 1;
        let without: Vec<usize> = chosen.iter().copied().filter(|&j| j != chosen[k]).collect();
        if IpSet::union_all(without.iter().map(|&j| set(j))).contains_set(target) {
            chosen = without;
        }
    }
    chosen.sort_unstable();
    chosen
}

struct Scratch {
    mark: Vec<u32>,
    stamp: u32,
}

impl Scratch {
    fn new(n: usize) -> Scratch {
        Scratch {
            mark: vec![0; n],
            stamp: 0,
        }
    }
}

/// A candidate rule restricted to the sources of the rule being checked.
struct Part<'a> {
    rule: u32,
    volume: f64,
    /// Borrowed when the candidate takes in all of the rule's sources.
    src: Cow<'a, IpSet>,
    entries: &'a [AuditEntry],
}

impl Part<'_> {
    fn has_every_source(&self, src: &IpSet) -> bool {
        match &self.src {
            Cow::Borrowed(b) => std::ptr::eq(*b, src) || **b == *src,
            Cow::Owned(o) => o == src,
        }
    }
}

/// Source addresses `lo..=hi` of one family, inside the same parts (their hash).
#[derive(Clone, Copy)]
struct Piece {
    fam: usize,
    lo: u128,
    hi: u128,
    hash: u64,
}

/// Decides whether a rule's flows (`src` × `entries`) lie inside the union of parts.
struct Checker<'a> {
    audit: &'a Audit,
    src: &'a IpSet,
    entries: &'a [AuditEntry],
}

impl Checker<'_> {
    fn covered(&self, parts: &[&Part]) -> bool {
        let involves_self = self.entries.iter().any(|e| e.own)
            || parts.iter().any(|p| p.entries.iter().any(|e| e.own));
        // One part with every source: no sweep needed.
        if let [only] = parts
            && !involves_self
            && only.has_every_source(self.src)
        {
            return self.zone_covered(parts, None);
        }
        // Parts with the same sources (often: the same selector's shared set) sweep as
        // one group; a group with every source is active on every piece and adds no
        // events (a broad rule would add one per source interval).
        let mut group_of: Vec<usize> = Vec::with_capacity(parts.len());
        let mut groups: Vec<(*const IpSet, u64)> = Vec::new();
        for (k, p) in parts.iter().enumerate() {
            let ptr: *const IpSet = &*p.src;
            let g = match groups.iter().position(|(q, _)| *q == ptr) {
                Some(g) => g,
                None => {
                    groups.push((ptr, 0));
                    groups.len() - 1
                }
            };
            groups[g].1 ^= zobrist(k as u64);
            group_of.push(g);
        }
        let mut group_src: Vec<&IpSet> = vec![self.src; groups.len()];
        for (k, p) in parts.iter().enumerate() {
            group_src[group_of[k]] = &p.src;
        }
        let everywhere: Vec<bool> = (0..groups.len())
            .map(|g| {
                let k = group_of
                    .iter()
                    .position(|&x| x == g)
                    .expect("every group has a part");
                parts[k].has_every_source(self.src)
            })
            .collect();
        let mut decided: FxHashSet<(u64, u32)> = FxHashSet::default();
        for fam in 0..2 {
            let base = self.src.families()[fam];
            if base.is_empty() {
                continue;
            }
            // Events: (position, group, starts). An interval ending at the top of the
            // space has no end event.
            let mut events: Vec<(u128, u32, bool)> = Vec::new();
            for (g, src) in group_src.iter().enumerate() {
                if everywhere[g] {
                    continue;
                }
                for &(lo, hi) in src.families()[fam] {
                    events.push((lo, g as u32, true));
                    if hi < u128::MAX {
                        events.push((hi + 1, g as u32, false));
                    }
                }
            }
            events.sort_unstable_by_key(|e| e.0);
            let mut active = everywhere.clone();
            let mut hash = (0..groups.len())
                .filter(|&g| everywhere[g])
                .fold(0u64, |h, g| h ^ groups[g].1);
            let mut ev = 0;
            for &(lo, hi) in base {
                let mut cur = lo;
                loop {
                    while ev < events.len() && events[ev].0 <= cur {
                        let (_, g, start) = events[ev];
                        active[g as usize] = start;
                        hash ^= groups[g as usize].1;
                        ev += 1;
                    }
                    let end = if ev < events.len() && events[ev].0 <= hi {
                        events[ev].0 - 1
                    } else {
                        hi
                    };
                    let piece = Piece {
                        fam,
                        lo: cur,
                        hi: end,
                        hash,
                    };
                    if !self.piece_covered(
                        piece,
                        &|k| active[group_of[k]],
                        parts,
                        involves_self,
                        &mut decided,
                    ) {
                        return false;
                    }
                    if end == hi {
                        break;
                    }
                    cur = end + 1;
                }
            }
        }
        true
    }

    fn piece_covered(
        &self,
        Piece { fam, lo, hi, hash }: Piece,
        active: &dyn Fn(usize) -> bool,
        parts: &[&Part],
        involves_self: bool,
        decided: &mut FxHashSet<(u64, u32)>,
    ) -> bool {
        const NO_OWNER: u32 = u32::MAX;
        let mut class = |owner: u32| -> bool {
            if !decided.insert((hash, owner)) {
                return true;
            }
            let owner = (owner != NO_OWNER).then_some(owner);
            let chosen: Vec<&Part> = parts
                .iter()
                .enumerate()
                .filter(|(k, _)| active(*k))
                .map(|(_, p)| *p)
                .collect();
            self.zone_covered(&chosen, owner)
        };
        if !involves_self {
            return class(NO_OWNER);
        }
        let owned = &self.audit.owners.addrs[fam];
        let first = owned.partition_point(|&(a, _)| a < lo);
        // Walk the owned addresses in [lo, hi]; the gaps between them have no owner.
        let mut cur = Some(lo);
        for &(a, owner) in owned[first..].iter().take_while(|(a, _)| *a <= hi) {
            if cur.is_some_and(|c| a > c) && !class(NO_OWNER) {
                return false;
            }
            if !class(owner) {
                return false;
            }
            cur = a.checked_add(1);
        }
        match cur {
            Some(c) if c <= hi => class(NO_OWNER),
            _ => true,
        }
    }

    /// Are the rule's destinations × ports (for a source owned by `owner`, if any) inside
    /// the union of the parts' destinations × ports?
    fn zone_covered(&self, parts: &[&Part], owner: Option<u32>) -> bool {
        let audit = self.audit;
        let dst = |e: &AuditEntry| -> Option<&IpSet> {
            if e.own {
                owner.map(|o| &audit.owners.devices[o as usize])
            } else {
                Some(&audit.sets[e.set as usize])
            }
        };
        // An owner's devices are few; rank them last.
        let size = |e: &AuditEntry| {
            if e.own {
                0.0
            } else {
                audit.sizes[e.set as usize]
            }
        };
        let mine: Vec<(&IpSet, &Keys)> = self
            .entries
            .iter()
            .filter_map(|e| Some((dst(e)?, &e.keys)))
            .filter(|(d, _)| !d.is_empty())
            .collect();
        if mine.is_empty() {
            return true;
        }
        if parts.is_empty() {
            return false;
        }
        let mut theirs: Vec<(f64, &IpSet, &Keys)> = parts
            .iter()
            .flat_map(|p| p.entries.iter())
            .filter_map(|e| Some((size(e), dst(e)?, &e.keys)))
            .filter(|(_, d, k)| !d.is_empty() && mine.iter().any(|(_, mk)| mk.overlaps(k)))
            .collect();
        // Big destinations first: they empty the remainder soonest.
        theirs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let theirs: Vec<(&IpSet, &Keys)> = theirs.into_iter().map(|(_, d, k)| (d, k)).collect();
        let mut bounds: Vec<u32> = Vec::new();
        for (_, k) in mine.iter().chain(theirs.iter()) {
            for &(lo, hi) in &k.0 {
                bounds.push(lo);
                if hi < u32::MAX {
                    bounds.push(hi + 1);
                }
            }
        }
        bounds.sort_unstable();
        bounds.dedup();
        let mut seen: FxHashSet<(u64, u64)> = FxHashSet::default();
        for &x in &bounds {
            let mut mine_sig = 0u64;
            let mut theirs_sig = 0u64;
            let active_mine: Vec<&IpSet> = mine
                .iter()
                .enumerate()
                .filter(|(_, (_, k))| k.contains(x))
                .map(|(j, (d, _))| {
                    mine_sig ^= zobrist(j as u64);
                    *d
                })
                .collect();
            if active_mine.is_empty() {
                continue;
            }
            let active_theirs: Vec<&IpSet> = theirs
                .iter()
                .enumerate()
                .filter(|(_, (_, k))| k.contains(x))
                .map(|(j, (d, _))| {
                    theirs_sig ^= zobrist(!(j as u64));
                    *d
                })
                .collect();
            if !seen.insert((mine_sig, theirs_sig)) {
                continue;
            }
            let mut rest = IpSet::union_all(active_mine.iter().copied());
            for d in active_theirs {
                if rest.is_empty() {
                    break;
                }
                if d.is_all() {
                    rest = IpSet::new();
                    break;
                }
                rest = rest.subtract(d);
            }
            if !rest.is_empty() {
                return false;
            }
        }
        true
    }
}

/// A well-mixed 64-bit key per index (splitmix64), for hashing sets of indices by XOR.
fn zobrist(k: u64) -> u64 {
    let mut z = k.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ------------------------------------------------------------------------------------
// Building the audit form

/// Resolves a selector to its set id, creating the set on first use. `None` for a
/// selector that did not parse (validation reports it). The flag marks `autogroup:self`.
struct Interner<'p> {
    policy: &'p Policy,
    inventory: &'p Inventory,
    resolver: Option<Resolver<'p>>,
}

impl Interner<'_> {
    fn get(
        &mut self,
        sets: &mut Vec<Arc<IpSet>>,
        ids: &mut FxHashMap<(bool, String), SetId>,
        is_src: bool,
        sel: &Sel,
    ) -> Option<(SetId, bool)> {
        let s = sel.selector.as_ref()?;
        if !is_src && *s == Selector::Autogroup(Autogroup::SelfDevices) {
            return Some((0, true));
        }
        let key = (is_src, sel.raw.trim().to_string());
        if let Some(&id) = ids.get(&key) {
            return Some((id, false));
        }
        // Built only when a selector is new: an edit that reuses known selectors costs
        // no pass over the inventory.
        let resolver = self
            .resolver
            .get_or_insert_with(|| Resolver::new(self.policy, self.inventory));
        let set = match s {
            // A Tailscale Service has addresses of its own, outside the inventory: its
            // stand-in is covered only by rules naming it, or `*`.
            Selector::Service(name) => IpSet::from_addr(super::structural::service_stand_in(name)),
            _ if is_src => resolver.source(s),
            _ => match resolver.target(s) {
                super::resolve::Target::Everything => IpSet::all(),
                super::resolve::Target::Addresses(a) => a,
                super::resolve::Target::OwnDevices => IpSet::new(),
            },
        };
        let id = sets.len() as SetId;
        sets.push(Arc::new(set));
        ids.insert(key, id);
        Some((id, false))
    }
}

/// A written rule of either kind, before lowering.
#[derive(Clone, Copy)]
enum Written<'p> {
    Grant(usize, &'p crate::model::Grant),
    Acl(usize, &'p crate::model::Acl),
}

impl Written<'_> {
    fn all(policy: &Policy) -> Vec<Written<'_>> {
        let grants = policy.grants.iter().flatten().enumerate();
        let acls = policy.acls.iter().flatten().enumerate();
        grants
            .map(|(i, g)| Written::Grant(i, g))
            .chain(acls.map(|(i, a)| Written::Acl(i, a)))
            .collect()
    }
    fn origin(self) -> Origin {
        match self {
            Written::Grant(i, _) => Origin::Grant(i),
            Written::Acl(i, _) => Origin::Acl(i),
        }
    }
    fn span(self) -> Span {
        match self {
            Written::Grant(_, g) => g.span,
            Written::Acl(_, a) => a.span,
        }
    }
    /// Identifies the rule's content, wherever it sits in the file.
    fn key(self) -> u64 {
        match self {
            Written::Grant(_, g) => content_key(&(
                "grant",
                g.src.iter().map(|s| s.raw.as_str()).collect::<Vec<_>>(),
                g.dst.iter().map(|s| s.raw.as_str()).collect::<Vec<_>>(),
                g.ip.iter()
                    .map(|s| format!("{:?}", s.value))
                    .collect::<Vec<_>>(),
                g.via.iter().map(|s| s.raw.as_str()).collect::<Vec<_>>(),
                g.src_posture
                    .iter()
                    .map(|s| s.value.as_str())
                    .collect::<Vec<_>>(),
                !g.app.is_empty(),
            )),
            Written::Acl(_, a) => content_key(&(
                "acl",
                a.src.iter().map(|s| s.raw.as_str()).collect::<Vec<_>>(),
                a.dst.iter().map(|d| d.raw.as_str()).collect::<Vec<_>>(),
                a.proto.as_ref().map(|p| p.value.0),
                a.src_posture
                    .iter()
                    .map(|s| s.value.as_str())
                    .collect::<Vec<_>>(),
            )),
        }
    }

    /// The spans of the source selectors and destinations that lowering keeps.
    fn selector_spans(self) -> (Vec<Span>, Vec<Span>) {
        let keep = |s: &Sel| s.selector.is_some();
        match self {
            Written::Grant(_, g) => (
                g.src.iter().filter(|s| keep(s)).map(|s| s.span).collect(),
                g.dst.iter().filter(|s| keep(s)).map(|s| s.span).collect(),
            ),
            Written::Acl(_, a) => (
                a.src.iter().filter(|s| keep(s)).map(|s| s.span).collect(),
                a.dst
                    .iter()
                    .filter(|d| keep(&d.host))
                    .map(|d| d.span)
                    .collect(),
            ),
        }
    }

    fn lower(
        self,
        interner: &mut Interner,
        sets: &mut Vec<Arc<IpSet>>,
        ids: &mut FxHashMap<(bool, String), SetId>,
    ) -> AuditRule {
        type Parts<'a> = (
            &'a [Sel],
            Vec<(&'a Sel, Span)>,
            &'a [crate::model::Spanned<String>],
        );
        let (src, dsts, posture): Parts = match self {
            Written::Grant(_, g) => (
                &g.src,
                g.dst.iter().map(|d| (d, d.span)).collect(),
                &g.src_posture,
            ),
            Written::Acl(_, a) => (
                &a.src,
                a.dst.iter().map(|d| (&d.host, d.span)).collect(),
                &a.src_posture,
            ),
        };
        let mut src_sels = Vec::new();
        let mut src_spans = Vec::new();
        for s in src {
            if let Some((id, _)) = interner.get(sets, ids, true, s) {
                src_sels.push(id);
                src_spans.push(s.span);
            }
        }
        let mut entries = Vec::new();
        let mut dst_spans = Vec::new();
        for (k, (sel, span)) in dsts.into_iter().enumerate() {
            let Some((set, own)) = interner.get(sets, ids, false, sel) else {
                continue;
            };
            let dst_index = dst_spans.len();
            dst_spans.push(span);
            match self {
                Written::Grant(_, g) => {
                    for spec in &g.ip {
                        entries.push(AuditEntry {
                            set,
                            own,
                            keys: Keys::new(
                                spec.value.proto.map_or(Protocols::Default, Protocols::Only),
                                &spec.value.ports,
                            ),
                            dst_index,
                        });
                    }
                }
                Written::Acl(_, a) => entries.push(AuditEntry {
                    set,
                    own,
                    keys: Keys::new(
                        a.proto
                            .as_ref()
                            .map_or(Protocols::Default, |p| Protocols::Only(p.value)),
                        &a.dst[k].ports,
                    ),
                    dst_index,
                }),
            }
        }
        let (via, has_caps) = match self {
            Written::Grant(_, g) => (
                sorted(g.via.iter().map(|v| v.raw.trim().to_string())),
                !g.app.is_empty(),
            ),
            Written::Acl(..) => (Vec::new(), false),
        };
        let src = match src_sels[..] {
            [one] => Arc::clone(&sets[one as usize]),
            _ => Arc::new(IpSet::union_all(
                src_sels.iter().map(|&s| &*sets[s as usize]),
            )),
        };
        AuditRule {
            origin: self.origin(),
            span: self.span(),
            src_size: src.size(),
            src,
            src_sels,
            src_spans,
            entries,
            dst_spans,
            via,
            posture: sorted(posture.iter().map(|p| p.value.clone())),
            has_caps,
            key: self.key(),
        }
    }
}

/// What the definitions rules resolve through look like: an edit to any of them
/// re-decides everything.
fn definitions_key(policy: &Policy) -> u64 {
    content_key(&(
        policy
            .groups
            .iter()
            .map(|g| {
                (
                    &g.name.value,
                    g.members.iter().map(|m| &m.value).collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>(),
        policy
            .hosts
            .iter()
            .map(|h| (&h.name.value, &h.value.value))
            .collect::<Vec<_>>(),
        policy
            .ipsets
            .iter()
            .map(|s| {
                (
                    &s.name.value,
                    s.ops.iter().map(|o| &o.value).collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>(),
        policy.acls.is_none() && policy.grants.is_none(),
    ))
}

fn sorted(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = items.collect();
    v.sort();
    v.dedup();
    v
}

fn content_key(value: &impl std::hash::Hash) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(value)
}

/// For each set, the sets it overlaps. One sweep over every set's intervals: each
/// elementary piece's active sets overlap pairwise; pieces with the same active sets
/// (Zobrist hash) are handled once. Sets active on most pieces (`*`, `autogroup:member`)
/// would make that quadratic, so they are compared with every set directly instead.
fn overlaps(sets: &[Arc<IpSet>]) -> Vec<Vec<SetId>> {
    let n = sets.len();
    let mut out: Vec<Vec<SetId>> = vec![Vec::new(); n];
    let mut broad = vec![false; n];
    let total: usize = sets
        .iter()
        .map(|s| s.families()[0].len() + s.families()[1].len())
        .sum();
    for (i, s) in sets.iter().enumerate() {
        // Few intervals spanning much: a huge range, not a handful of devices.
        let [v4, v6] = s.families();
        let wide =
            v4.iter().any(|(a, b)| b - a > 65_536) || v6.iter().any(|(a, b)| b - a > 1 << 64);
        broad[i] = wide || (v4.len() + v6.len()) * 8 > total.max(64);
    }
    for fam in 0..2 {
        let mut events: Vec<(u128, bool, u32)> = Vec::new();
        for (i, s) in sets.iter().enumerate() {
            if broad[i] {
                continue;
            }
            for &(lo, hi) in s.families()[fam] {
                events.push((lo, true, i as u32));
                if hi < u128::MAX {
                    events.push((hi + 1, false, i as u32));
                }
            }
        }
        // Ends before starts at the same position: [a, b] and [b+1, c] do not overlap.
        events.sort_unstable_by_key(|e| (e.0, e.1));
        let mut active: Vec<u32> = Vec::new();
        let mut hash = 0u64;
        let mut seen: FxHashSet<u64> = FxHashSet::default();
        let mut k = 0;
        while k < events.len() {
            let pos = events[k].0;
            while k < events.len() && events[k].0 == pos {
                let (_, start, i) = events[k];
                if start {
                    active.push(i);
                } else if let Some(at) = active.iter().position(|&x| x == i) {
                    active.swap_remove(at);
                }
                hash ^= zobrist(u64::from(i));
                k += 1;
            }
            if active.len() > 1 && seen.insert(hash) {
                for &a in &active {
                    for &b in &active {
                        if a != b {
                            out[a as usize].push(b);
                        }
                    }
                }
            }
        }
    }
    for (i, is_broad) in broad.iter().enumerate() {
        if !*is_broad {
            continue;
        }
        for j in 0..n {
            if i != j && sets[i].overlaps(&sets[j]) {
                out[i].push(j as SetId);
                out[j].push(i as SetId);
            }
        }
    }
    for list in &mut out {
        list.sort_unstable();
        list.dedup();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::structural::representative;

    fn policy(text: &str) -> Policy {
        crate::model::from_text(text)
    }

    /// Findings as `origin: kind [covering...]`, structurally.
    fn audit(text: &str) -> Vec<String> {
        let p = policy(text);
        let inv = representative(&p);
        show(&Audit::new(&p, &inv).findings())
    }

    fn show(findings: &[Finding]) -> Vec<String> {
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

    const DEFS: &str = r#""groups": {"group:eng": ["alice@example.com", "bob@example.com"], "group:none": []},
        "tagOwners": {"tag:db": ["group:eng"], "tag:web": ["group:eng"]},
        "hosts": {"lan": "10.0.0.0/24"},"#;

    #[test]
    fn the_later_of_two_identical_rules_is_redundant() {
        let f = audit(&format!(
            r#"{{{DEFS} "acls": [
                {{"action": "accept", "src": ["group:eng"], "dst": ["tag:db:5432"]}},
                {{"action": "accept", "src": ["group:eng"], "dst": ["tag:db:5432"]}}]}}"#
        ));
        assert_eq!(f, ["acls[1] redundant: acls[0]"]);
    }

    #[test]
    fn a_broader_rule_subsumes_a_narrower_one() {
        let f = audit(&format!(
            r#"{{{DEFS} "grants": [
                {{"src": ["group:eng"], "dst": ["tag:db"], "ip": ["tcp:5432"]}},
                {{"src": ["*"], "dst": ["tag:db"], "ip": ["*"]}}]}}"#
        ));
        assert_eq!(f, ["grants[0] redundant: grants[1]"]);
        // The other way round nothing is redundant.
        let f = audit(&format!(
            r#"{{{DEFS} "grants": [
                {{"src": ["*"], "dst": ["tag:db"], "ip": ["tcp:5432"]}},
                {{"src": ["group:eng"], "dst": ["tag:db"], "ip": ["*"]}}]}}"#
        ));
        assert!(f.is_empty(), "{f:?}");
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
    fn a_union_of_rules_covers_one_and_is_named() {
        let f = audit(&format!(
            r#"{{{DEFS} "acls": [
                {{"action": "accept", "src": ["alice@example.com"], "dst": ["tag:db:1000-2000"]}},
                {{"action": "accept", "src": ["group:eng"], "dst": ["tag:db:2001-3000"]}},
                {{"action": "accept", "src": ["group:eng"], "dst": ["tag:web:*"]}},
                {{"action": "accept", "src": ["alice@example.com"], "dst": ["tag:db:1500-2500", "tag:web:80"]}}]}}"#
        ));
        assert_eq!(f, ["acls[3] redundant: acls[0], acls[1], acls[2]"]);
        // One port short: needed.
        let f = audit(&format!(
            r#"{{{DEFS} "acls": [
                {{"action": "accept", "src": ["alice@example.com"], "dst": ["tag:db:1000-2000"]}},
                {{"action": "accept", "src": ["group:eng"], "dst": ["tag:db:2002-3000"]}},
                {{"action": "accept", "src": ["alice@example.com"], "dst": ["tag:db:1500-2500"]}}]}}"#
        ));
        assert!(f.is_empty(), "{f:?}");
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

    #[test]
    fn own_devices_flows_depend_on_the_owner() {
        let f = audit(&format!(
            r#"{{{DEFS} "acls": [
                {{"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:22"]}},
                {{"action": "accept", "src": ["alice@example.com"], "dst": ["alice@example.com:22"]}},
                {{"action": "accept", "src": ["alice@example.com"], "dst": ["bob@example.com:22"]}},
                {{"action": "accept", "src": ["group:eng"], "dst": ["autogroup:self:22"]}}]}}"#
        ));
        // alice's own rule is covered by group:eng's; autogroup:member's would cover it
        // only if alice is a member, not shared in.
        assert_eq!(f, ["acls[1] redundant: acls[3]"]);
    }

    #[test]
    fn via_posture_and_capabilities() {
        let f = audit(&format!(
            r#"{{{DEFS} "postures": {{"posture:ok": ["node:os == 'linux'"]}}, "grants": [
                {{"src": ["group:eng"], "dst": ["lan"], "ip": ["*"], "via": ["tag:web"]}},
                {{"src": ["group:eng"], "dst": ["lan"], "ip": ["tcp:22"]}},
                {{"src": ["group:eng"], "dst": ["lan"], "ip": ["tcp:80"], "srcPosture": ["posture:ok"]}},
                {{"src": ["group:eng"], "dst": ["lan"], "ip": ["tcp:80"], "app": {{"example.com/cap/x": [{{}}]}}}},
                {{"src": ["group:eng"], "dst": ["lan"], "ip": ["tcp:80"], "via": ["tag:web"], "srcPosture": ["posture:ok"]}}]}}"#
        ));
        // grants[1] is not covered by a via rule; grants[2] (posture) is covered by the
        // capability grant (no posture); grants[4] routes via tag:web, which steers routing
        // even though grants[0] allows its flows.
        assert_eq!(f, ["grants[2] redundant: grants[3]"]);
    }

    #[test]
    fn rules_that_grant_nothing() {
        let f = audit(&format!(
            r#"{{{DEFS} "acls": [
                {{"action": "accept", "src": ["group:none"], "dst": ["tag:db:22"]}},
                {{"action": "accept", "src": ["tag:db"], "dst": ["autogroup:self:22"]}}]}}"#
        ));
        assert_eq!(f, ["acls[0] NoSources", "acls[1] NoDestinations"]);
    }

    #[test]
    fn selectors_made_redundant_inside_their_rule() {
        let f = audit(&format!(
            r#"{{{DEFS} "acls": [
                {{"action": "accept", "src": ["group:eng", "alice@example.com", "group:none"], "dst": ["tag:db:22", "tag:db:*", "lan:22"]}}]}}"#
        ));
        assert_eq!(f.len(), 3, "{f:?}");
        assert!(f[0].contains("RedundantSource"), "{f:?}");
        assert!(f[1].contains("EmptySource"), "{f:?}");
        assert!(f[2].contains("RedundantDestination"), "{f:?}");
    }

    #[test]
    fn an_edit_re_decides_only_what_it_can_affect() {
        let before = format!(
            r#"{{{DEFS} "acls": [
                {{"action": "accept", "src": ["group:eng"], "dst": ["tag:db:5432"]}},
                {{"action": "accept", "src": ["alice@example.com"], "dst": ["tag:db:5432"]}},
                {{"action": "accept", "src": ["alice@example.com"], "dst": ["tag:web:80"]}}]}}"#
        );
        let after = before.replace(
            r#"["alice@example.com"], "dst": ["tag:db:5432"]"#,
            r#"["alice@example.com"], "dst": ["tag:db:5433"]"#,
        );
        assert_ne!(before, after);
        let (p1, p2) = (policy(&before), policy(&after));
        let inv = representative(&p1);
        let mut a = Audit::new(&p1, &inv);
        assert_eq!(show(&a.findings()), ["acls[1] redundant: acls[0]"]);
        let redecided = a.update(&p2, &inv);
        assert!(redecided < 3, "{redecided}");
        assert_eq!(show(&a.findings()), show(&Audit::new(&p2, &inv).findings()));
        assert!(a.findings().is_empty());
    }
}
