//! Re-deciding after an edit: unchanged rules keep their lowering and verdicts, and only
//! the rules the edit can affect are decided again.

use super::lower::{Interner, content_key_of, definitions_key, lower, selector_spans};
use super::{Audit, SetId, Verdict};
use crate::engine::inventory::Inventory;
use crate::engine::rules::Written;
use crate::model::Policy;
use rustc_hash::FxHashMap;

impl Audit {
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
        let written: Vec<Written> = Written::all(policy).collect();
        // Match unchanged rules by content.
        let mut old_by_key: FxHashMap<u64, Vec<usize>> = FxHashMap::default();
        for (i, r) in self.rules.iter().enumerate().rev() {
            old_by_key.entry(r.key).or_default().push(i);
        }
        let matched: Vec<Option<usize>> = written
            .iter()
            .map(|&w| old_by_key.get_mut(&content_key_of(w)).and_then(|v| v.pop()))
            .collect();
        let mut new_of_old: Vec<Option<u32>> = vec![None; self.rules.len()];
        for (j, m) in matched.iter().enumerate() {
            if let Some(o) = m {
                new_of_old[*o] = Some(j as u32);
            }
        }
        // Rules that overlapped a removed or changed rule, before the index changes.
        let mut dirty: Vec<u32> = Vec::new();
        let mut scratch = self.scratch();
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
                    r.origin = w.origin;
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
                    let r = lower(*w, &mut interner, &mut self.sets, &mut self.set_ids);
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
            (r.src_spans, r.dst_spans) = selector_spans(*w);
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
        self.source_sizes();
        self.index();
        let mut scratch = self.scratch();
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
}

#[cfg(test)]
mod tests {
    use super::super::Audit;
    use super::super::testing::{DEFS, policy, show};
    use crate::engine::structural::representative;

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
