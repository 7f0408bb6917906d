//! Deciding rules: every rule first against all the others (independent per rule, so
//! on every core), then in the greedy order, from the last rule in the file to the
//! first, where a rule reported redundant no longer covers earlier ones. One rule's
//! verdict: it grants nothing, a cheap witness shows it is needed, or the exact check
//! (step 2) finds it covered and step 3 picks a concise cover.

use super::candidates::Scratch;
use super::coverage::{Checker, Part};
use super::lower::AuditRule;
use super::{Audit, Inner, SetId, Verdict};
use crate::engine::ipset::IpSet;
use std::borrow::Cow;
use std::sync::Arc;

impl Audit {
    /// Was rule `c` decided before rule `i` (it is later in the file) and reported?
    fn gone_before(&self, c: usize, i: usize) -> bool {
        self.order[c] < self.order[i] && self.verdicts[c].is_some()
    }

    /// The verdict in the greedy order, from the verdict against every other rule: a rule
    /// no other rules cover stays needed in a smaller pool, and a cover made only of rules
    /// still in the pool still holds; only otherwise is the rule decided again.
    pub(super) fn settle(
        &self,
        i: usize,
        full: &Option<Verdict>,
        scratch: &mut Scratch,
    ) -> Option<Verdict> {
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
    pub(super) fn decide_all(&mut self) {
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
                        let mut scratch = this.scratch();
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
        let mut scratch = self.scratch();
        for i in by_order {
            self.verdicts[i] = self.settle(i, &self.full[i], &mut scratch);
            if self.verdicts[i].is_none() && self.full[i].is_some() {
                self.inner[i] = self.selector_findings(i);
            }
        }
    }

    /// that were reported.
    pub(super) fn decide(
        &self,
        i: usize,
        scratch: &mut Scratch,
        exclude_gone: bool,
    ) -> Option<Verdict> {
        let r = &self.rules[i];
        if r.has_caps && r.entries.is_empty() {
            return None;
        }
        // The union of the sources is built only once candidates are found: most rules
        // have none, or are proven needed by the sampled witness.
        if r.src.is_empty() {
            return (!r.has_caps).then_some(Verdict::NoSources);
        }
        let no_dst = r.entries.iter().all(|e| {
            if e.own {
                !r.src.overlaps(&self.sets[0])
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
        if self.needed_at_a_glance(i, exclude_gone) {
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
        let src = r.src.union();
        let size = r.src_size.unwrap_or_else(|| src.size());
        let parts: Vec<Part> = pool
            .iter()
            .map(|&c| self.part(r, (&src, size), c as usize))
            .collect();
        let checker = Checker {
            audit: self,
            src: &src,
            entries: &r.entries,
        };
        // A concise cover: ranked by overlap, one rule if one suffices (it must contain
        // every source, a cheap test), else the shortest covering prefix, pruned to a
        // minimal one when short.
        let mut ranked: Vec<&Part> = parts.iter().collect();
        ranked.sort_by(|a, b| b.volume.total_cmp(&a.volume).then(a.rule.cmp(&b.rule)));
        if let Some(one) = ranked
            .iter()
            .filter(|p| p.has_every_source(&src))
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

    /// The sampled sources of [`Self::witness`]: from each of the rule's source sets, per
    /// family, the first, last and two middle intervals' first addresses.
    fn witness_sources(r: &AuditRule) -> Vec<(usize, u128)> {
        let mut sources: Vec<(usize, u128)> = Vec::new();
        for part in r.src.parts() {
            for (fam, list) in part.families().iter().enumerate() {
                if list.is_empty() {
                    continue;
                }
                for k in [0, list.len() / 3, 2 * list.len() / 3, list.len() - 1] {
                    sources.push((fam, list[k].0));
                }
            }
        }
        sources.sort_unstable();
        sources.dedup();
        sources
    }

    /// Step 0, before any candidate is found: the first flow [`Self::witness`] samples
    /// (the first sampled source, each entry's first destination address and first port)
    /// that no other rule allows proves rule `i` needed. The rules that may allow a flow
    /// to an address are those with a destination set holding it, among the sets that
    /// overlap the entry's own; looking at those alone costs what the flow's destination
    /// touches, where the candidate walk costs what the whole rule overlaps. Most rules
    /// are needed, and most are proven so here. The verdict is the same as after the
    /// walk: a flow no other rule allows is allowed by no candidate either.
    fn needed_at_a_glance(&self, i: usize, exclude_gone: bool) -> bool {
        let r = &self.rules[i];
        // The first of `witness_sources`, without sampling the rest.
        let Some((fam, a)) = r.src.parts().iter().filter_map(|p| first_address(p)).min() else {
            return false;
        };
        let addr = crate::engine::ipset::address(fam, a);
        let owner = self.owners.owner_of(fam, a);
        r.entries.iter().any(|e| {
            let Some(&(key, _)) = e.keys.0.first() else {
                return false;
            };
            let dst = if e.own {
                owner.and_then(|o| first_address(&self.owners.devices[o as usize]))
            } else {
                first_address(&self.sets[e.set as usize])
            };
            let Some((dfam, d)) = dst else { return false };
            let daddr = crate::engine::ipset::address(dfam, d);
            // Whether a rule with an entry on set `t` allows the sampled flow.
            let allowed_at = |t: SetId| {
                let allows = |c: u32| {
                    let c = c as usize;
                    let rule = &self.rules[c];
                    c != i
                        && rule.entries.iter().any(|f| {
                            f.set == t
                                && f.keys.contains(key)
                                && if f.own {
                                    owner.is_some() && owner == self.owners.owner_of(dfam, d)
                                } else {
                                    self.sets[t as usize].contains(daddr)
                                }
                        })
                        && !(exclude_gone && self.gone_before(c, i))
                        && r.coverable_by(rule)
                        && rule.src.contains(addr)
                };
                // Only the rules whose entries on `t` open the flow's port: of the many
                // rules with one destination, few do. When many do (a thousand sources
                // each given the same port), only those whose sources hold the flow's
                // source: found through the source sets holding it.
                let by_key = &self.dst_keys[t as usize];
                if by_key.scanned(key) <= super::keys::MANY {
                    return by_key.at(key).any(allows);
                }
                let stab = &self.src_stab;
                stab.at(fam, a)
                    .chain(
                        stab.broad
                            .iter()
                            .copied()
                            .filter(|&s| self.sets[s as usize].contains(addr)),
                    )
                    .any(|s| {
                        self.by_pair
                            .get(&(s, t))
                            .is_some_and(|rules| rules.iter().copied().any(allows))
                    })
            };
            // The sets holding the destination address (all overlap the entry's, which
            // holds it too): among the entry's overlaps, or, when it overlaps many
            // (`autogroup:self` overlaps every user's devices), from the sets with entries
            // that hold the address.
            let overlaps = &self.overlaps[e.set as usize];
            let holds = |t: &SetId| self.sets[*t as usize].contains(daddr);
            let allowed = if overlaps.len() > super::keys::MANY {
                let stab = &self.dst_stab;
                std::iter::once(e.set)
                    .chain(
                        stab.at(dfam, d)
                            .chain(stab.broad.iter().copied())
                            .filter(|t| *t != e.set && holds(t)),
                    )
                    .any(allowed_at)
            } else {
                std::iter::once(e.set)
                    .chain(overlaps.iter().copied().filter(holds))
                    .any(allowed_at)
            };
            !allowed
        })
    }

    /// Cheap proof that rule `r` is needed: a few of its flows (sources sampled from each
    /// of its source sets, each entry's first destination address and first port) that
    /// no candidate allows. Most rules are needed, and this spares them the exact check
    /// (and the union of their sources).
    fn witness(&self, r: &AuditRule, pool: &[u32]) -> bool {
        let first = first_address;
        for (fam, a) in Self::witness_sources(r) {
            let addr = crate::engine::ipset::address(fam, a);
            let from: Vec<&AuditRule> = pool
                .iter()
                .map(|&c| &self.rules[c as usize])
                .filter(|c| c.src.contains(addr))
                .collect();
            let owner = self.owners.owner_of(fam, a);
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
                let daddr = crate::engine::ipset::address(dfam, d);
                let covered = from.iter().any(|c| {
                    c.entries.iter().any(|f| {
                        f.keys.contains(key)
                            && if f.own {
                                owner.is_some() && owner == self.owners.owner_of(dfam, d)
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

    /// Candidate `c` restricted to rule `r`'s sources (`src`, their union, and its size),
    /// ranked by how much of `r` it covers.
    fn part<'a>(&'a self, r: &'a AuditRule, (src, size): (&'a IpSet, f64), c: usize) -> Part<'a> {
        let rule = &self.rules[c];
        // Borrow rather than copy when the candidate takes in every source (often: a
        // broad rule, or the same selector, whose set is shared).
        let same = matches!((r.src.one(), rule.src.one()), (Some(a), Some(b)) if Arc::ptr_eq(a, b));
        let (src, size) = if same || rule.src.contains_set(src) {
            (Cow::Borrowed(src), size)
        } else if let (Some(theirs), Some(their_size)) = (rule.src.one(), rule.src_size)
            && rule.src.within(src)
        {
            (Cow::Borrowed(&**theirs), their_size)
        } else {
            let mine = rule.src.intersect(src);
            let size = mine.size();
            (Cow::Owned(mine), size)
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
        let sources = size;
        Part {
            rule: c as u32,
            volume: sources * best,
            src,
            entries: &rule.entries,
        }
    }
}

/// A set's first address, with its family (IPv4 first).
fn first_address(set: &IpSet) -> Option<(usize, u128)> {
    set.families()
        .iter()
        .enumerate()
        .find(|(_, l)| !l.is_empty())
        .map(|(f, l)| (f, l[0].0))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{DEFS, audit};

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
}
