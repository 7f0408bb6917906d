//! What a policy file cannot say about users: their role, and whether they are members of
//! the tailnet or shared in from another one. Analyses without the API's `users` answer
//! examine every standing the policy's selectors tell apart (its variants), and decide
//! what depends on them exactly, with [`Problem`], a small constraint search over the
//! standings of the users involved.

use super::inventory::{Role, Standing};
use crate::model::{Autogroup, Selector};
use std::collections::BTreeSet;

/// The standings a policy's selectors tell apart: a member without any role the policy
/// names, each role it names, and a user shared in when `autogroup:member` or
/// `autogroup:shared` appears. Every real standing behaves, under that policy, like
/// exactly one of them (its class), so examining the variants examines every standing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standings {
    variants: Vec<Standing>,
}

impl Standings {
    pub fn of<'a>(selectors: impl IntoIterator<Item = &'a Selector>) -> Standings {
        let mut roles = BTreeSet::new();
        let mut membership = false;
        for s in selectors {
            let Selector::Autogroup(a) = s else { continue };
            match a {
                Autogroup::Member | Autogroup::Members | Autogroup::Shared => membership = true,
                _ => {
                    if let Some(r) = Role::of_autogroup(*a) {
                        roles.insert(r);
                    }
                }
            }
        }
        let mut variants: Vec<Standing> = Role::ALL
            .iter()
            .filter(|r| **r == Role::Member || roles.contains(*r))
            .map(|r| Standing::Member(*r))
            .collect();
        if membership {
            variants.push(Standing::Shared);
        }
        Standings { variants }
    }

    /// The variants, a member without a named role first.
    pub fn variants(&self) -> &[Standing] {
        &self.variants
    }

    /// The variant that behaves as `standing` does under the policy.
    pub fn class(&self, standing: Standing) -> Standing {
        if self.variants.contains(&standing) {
            return standing;
        }
        let admin = Standing::Member(Role::Admin);
        match standing {
            // The owner is also an admin.
            Standing::Member(Role::Owner) if self.variants.contains(&admin) => admin,
            // Unnamed roles, and a user shared in (no role here) when membership is not
            // told apart, behave as a plain member.
            _ => Standing::Member(Role::Member),
        }
    }

    /// The class of the tailnet's owner, and whether that class holds the owner alone
    /// (a tailnet has exactly one owner).
    pub fn owner_class(&self) -> (Standing, bool) {
        let c = self.class(Standing::Member(Role::Owner));
        (c, c == Standing::Member(Role::Owner))
    }

    /// Without `Shared`: for users known to be members.
    pub fn members_only(&self) -> Vec<Standing> {
        self.variants
            .iter()
            .copied()
            .filter(|s| *s != Standing::Shared)
            .collect()
    }

    /// A noun phrase for one variant: "the tailnet's owner", "an admin or the owner".
    pub fn noun(&self, s: Standing) -> String {
        let has = |r: Role| self.variants.contains(&Standing::Member(r));
        match s {
            Standing::Shared => "a user shared in from another tailnet".into(),
            Standing::Member(Role::Owner) => "the tailnet's owner".into(),
            Standing::Member(Role::Admin) if has(Role::Owner) => "an admin".into(),
            Standing::Member(Role::Admin) => "an admin or the owner".into(),
            Standing::Member(Role::ItAdmin) => "an IT admin".into(),
            Standing::Member(Role::NetworkAdmin) => "a network admin".into(),
            Standing::Member(Role::BillingAdmin) => "a billing admin".into(),
            Standing::Member(Role::Auditor) => "an auditor".into(),
            Standing::Member(Role::Member) => {
                let roles: Vec<&str> = self
                    .variants
                    .iter()
                    .filter_map(|v| match v {
                        Standing::Member(r) if *r != Role::Member => Some(r.name()),
                        _ => None,
                    })
                    .collect();
                if roles.is_empty() {
                    "a member".into()
                } else {
                    format!("a member without the {} role", or_list(&roles))
                }
            }
        }
    }

    /// What it takes for a user's standing to be in `allowed`, of `domain`:
    /// "is the tailnet's owner", "is not an admin", "is a member of the tailnet, not a
    /// user shared in from another tailnet".
    pub fn predicate(&self, allowed: &[Standing], domain: &[Standing]) -> String {
        let excluded: Vec<Standing> = domain
            .iter()
            .copied()
            .filter(|s| !allowed.contains(s))
            .collect();
        if excluded == [Standing::Shared] {
            return "is a member of the tailnet, not a user shared in from another tailnet".into();
        }
        if allowed == [Standing::Shared] {
            return "is a user shared in from another tailnet, not a member".into();
        }
        if let [one] = allowed {
            return format!("is {}", self.noun(*one));
        }
        // "is not an admin" reads better than a long list, or than a list naming "a
        // member without the owner or admin role", but "is not a member without the admin
        // role" does not.
        if let [one] = excluded.as_slice()
            && *one != Standing::Member(Role::Member)
            && (allowed.len() > 2 || allowed.contains(&Standing::Member(Role::Member)))
        {
            let noun = self.noun(*one);
            return match noun.split_once(" or ") {
                Some((a, b)) => format!("is neither {a} nor {b}"),
                None => format!("is not {noun}"),
            };
        }
        let nouns: Vec<String> = allowed.iter().map(|s| self.noun(*s)).collect();
        let nouns: Vec<&str> = nouns.iter().map(String::as_str).collect();
        format!("is {}", or_list(&nouns))
    }
}

fn or_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// A literal: variable `.0` takes value `.1`.
pub type Lit = (usize, usize);

/// Unknown standings as a constraint problem: each variable takes one of a few values
/// (a named user's standing, or whether some unnamed user holds one); `nogoods` are
/// literals that must not all hold (a failing flow between two stand-ins), `clauses`
/// literals of which one must hold, and `counts` bound how many of some literals hold
/// (the tailnet's single owner). Problems are small (the users one test involves), so a
/// plain backtracking search with a node budget decides them exactly.
#[derive(Clone, Debug, Default)]
pub struct Problem {
    pub domains: Vec<usize>,
    pub nogoods: Vec<Vec<Lit>>,
    pub clauses: Vec<Vec<Lit>>,
    pub counts: Vec<(Vec<Lit>, usize, usize)>,
}

/// The search gave up: too many combinations to decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooBig;

const BUDGET: usize = 100_000;

impl Problem {
    /// Every value of every variable allowed.
    pub fn everything(&self) -> Vec<Vec<bool>> {
        self.domains.iter().map(|n| vec![true; *n]).collect()
    }

    /// Is there an assignment within `allowed` that satisfies every constraint? With
    /// `world_only`, only the counts count.
    pub fn satisfiable(&self, allowed: &[Vec<bool>], world_only: bool) -> Result<bool, TooBig> {
        // A clause is a count of at least one; counts are kept up to date as variables
        // are assigned, so a long one (every source of a test) costs nothing per step.
        let mut counts: Vec<(&[Lit], usize, usize)> = self
            .counts
            .iter()
            .map(|(lits, lo, hi)| (lits.as_slice(), *lo, *hi))
            .collect();
        if !world_only {
            counts.extend(self.clauses.iter().map(|c| (c.as_slice(), 1, usize::MAX)));
        }
        let n = self.domains.len();
        let mut in_counts: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
        let mut open = vec![0; counts.len()];
        for (i, (lits, _, _)) in counts.iter().enumerate() {
            for &(var, val) in *lits {
                in_counts[var].push((i, val));
                open[i] += usize::from(allowed[var][val]);
            }
        }
        // Which nogoods each variable takes part in: after assigning it, only those can
        // have become violated.
        let mut in_nogoods: Vec<Vec<usize>> = vec![Vec::new(); n];
        if !world_only {
            for (i, lits) in self.nogoods.iter().enumerate() {
                for (var, _) in lits {
                    in_nogoods[*var].push(i);
                }
            }
        }
        let mut search = Search {
            problem: self,
            allowed,
            sure: vec![0; counts.len()],
            open,
            counts,
            in_counts,
            in_nogoods,
            assign: vec![None; n],
            budget: BUDGET,
        };
        search.run()
    }
}

struct Search<'a> {
    problem: &'a Problem,
    allowed: &'a [Vec<bool>],
    counts: Vec<(&'a [Lit], usize, usize)>,
    /// Per count: literals that hold, and literals still open.
    sure: Vec<usize>,
    open: Vec<usize>,
    /// Per variable: (count, value) of its literals in counts; nogoods it is in.
    in_counts: Vec<Vec<(usize, usize)>>,
    in_nogoods: Vec<Vec<usize>>,
    assign: Vec<Option<usize>>,
    budget: usize,
}

impl Search<'_> {
    /// Depth-first over the variables in order, without recursion (a test's source may
    /// hold thousands of users).
    fn run(&mut self) -> Result<bool, TooBig> {
        let n = self.assign.len();
        // Per variable: the next value to try, and the value it holds.
        let mut next = vec![0; n];
        let mut chosen = vec![0; n];
        let mut var = 0;
        loop {
            if var == n {
                return Ok(true);
            }
            let mut placed = false;
            while next[var] < self.problem.domains[var] {
                let v = next[var];
                next[var] += 1;
                if !self.allowed[var][v] {
                    continue;
                }
                if self.budget == 0 {
                    return Err(TooBig);
                }
                self.budget -= 1;
                self.set(var, v, true);
                if self.consistent(var) {
                    chosen[var] = v;
                    placed = true;
                    break;
                }
                self.set(var, v, false);
            }
            if placed {
                var += 1;
                if var < n {
                    next[var] = 0;
                }
                continue;
            }
            // Every value of `var` failed: try the next value of the one before.
            if var == 0 {
                return Ok(false);
            }
            var -= 1;
            self.set(var, chosen[var], false);
        }
    }

    /// Assign `var` to `v`, or undo that, keeping the counts up to date.
    fn set(&mut self, var: usize, v: usize, assigning: bool) {
        for &(i, val) in &self.in_counts[var] {
            let was_open = usize::from(self.allowed[var][val]);
            if assigning {
                self.open[i] -= was_open;
                self.sure[i] += usize::from(val == v);
            } else {
                self.open[i] += was_open;
                self.sure[i] -= usize::from(val == v);
            }
        }
        self.assign[var] = assigning.then_some(v);
    }

    /// Do the constraints `var` takes part in still hold, or can they still?
    fn consistent(&self, var: usize) -> bool {
        let holds = |(var, val): &Lit| self.assign[*var] == Some(*val);
        self.in_nogoods[var]
            .iter()
            .all(|i| !self.problem.nogoods[*i].iter().all(holds))
            && self.in_counts[var].iter().all(|(i, _)| {
                let (_, lo, hi) = self.counts[*i];
                self.sure[*i] <= hi && self.sure[*i] + self.open[*i] >= lo
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standings(selectors: &[&str]) -> Standings {
        let parsed: Vec<Selector> = selectors
            .iter()
            .map(|s| Selector::parse(s).unwrap())
            .collect();
        Standings::of(&parsed)
    }

    #[test]
    fn variants_are_only_the_standings_the_policy_tells_apart() {
        let plain = standings(&["group:eng", "tag:db", "*"]);
        assert_eq!(plain.variants(), [Standing::Member(Role::Member)]);
        assert_eq!(
            plain.class(Standing::Shared),
            Standing::Member(Role::Member)
        );
        let s = standings(&["autogroup:admin", "autogroup:member"]);
        assert_eq!(
            s.variants(),
            [
                Standing::Member(Role::Member),
                Standing::Member(Role::Admin),
                Standing::Shared
            ]
        );
        assert_eq!(s.owner_class(), (Standing::Member(Role::Admin), false));
        assert_eq!(
            s.class(Standing::Member(Role::Auditor)),
            Standing::Member(Role::Member)
        );
        let owner = standings(&["autogroup:owner"]);
        assert_eq!(owner.owner_class(), (Standing::Member(Role::Owner), true));
    }

    #[test]
    fn predicates_read_as_conditions() {
        let s = standings(&["autogroup:owner", "autogroup:member"]);
        let all = s.variants().to_vec();
        assert_eq!(
            s.predicate(&[Standing::Member(Role::Owner)], &all),
            "is the tailnet's owner"
        );
        assert_eq!(
            s.predicate(&s.members_only(), &all),
            "is a member of the tailnet, not a user shared in from another tailnet"
        );
        assert_eq!(
            s.predicate(&[Standing::Member(Role::Member), Standing::Shared], &all),
            "is not the tailnet's owner"
        );
        assert_eq!(
            s.predicate(&[Standing::Member(Role::Owner), Standing::Shared], &all),
            "is the tailnet's owner or a user shared in from another tailnet"
        );
        let o = standings(&["autogroup:owner", "autogroup:admin"]);
        assert_eq!(
            o.predicate(
                &[
                    Standing::Member(Role::Member),
                    Standing::Member(Role::Admin)
                ],
                o.variants()
            ),
            "is not the tailnet's owner"
        );
        let a = standings(&["autogroup:admin", "autogroup:auditor", "autogroup:shared"]);
        assert_eq!(
            a.predicate(
                &[
                    Standing::Member(Role::Member),
                    Standing::Member(Role::Auditor),
                    Standing::Shared
                ],
                a.variants()
            ),
            "is neither an admin nor the owner"
        );
        assert_eq!(
            a.noun(Standing::Member(Role::Member)),
            "a member without the admin or auditor role"
        );
    }

    #[test]
    fn the_search_respects_nogoods_clauses_and_counts() {
        // Two users, each plain (0) or owner (1); at most one owner; the flow fails
        // unless both are owners.
        let p = Problem {
            domains: vec![2, 2],
            nogoods: vec![vec![(0, 0)], vec![(1, 0)]],
            clauses: vec![],
            counts: vec![(vec![(0, 1), (1, 1)], 0, 1)],
        };
        assert_eq!(p.satisfiable(&p.everything(), false), Ok(false));
        assert_eq!(p.satisfiable(&p.everything(), true), Ok(true));
        let one = Problem {
            nogoods: vec![vec![(0, 0)]],
            ..p.clone()
        };
        assert_eq!(one.satisfiable(&one.everything(), false), Ok(true));
        let mut only_plain = one.everything();
        only_plain[0][1] = false;
        assert_eq!(one.satisfiable(&only_plain, false), Ok(false));
        let clause = Problem {
            domains: vec![2],
            clauses: vec![vec![(0, 1)]],
            ..Problem::default()
        };
        assert_eq!(clause.satisfiable(&clause.everything(), false), Ok(true));
        let mut absent = clause.everything();
        absent[0][1] = false;
        assert_eq!(clause.satisfiable(&absent, false), Ok(false));
    }
}
