//! Lints: what a good policy should not do, beyond what the control plane rejects. All
//! are warnings by default; each has a code in `crate::rules`.

mod escalation;
mod internet;
pub mod operator;
pub mod redundancy;
mod ssh;
mod tags;

use crate::diagnostics::{Diagnostic, FileId, Location};
use crate::model::{Autogroup, Policy, Selector};
use crate::rules::Code;

/// [`run`] but TSA240, which the caller runs next ([`run`]) or beside other work (`check`
/// runs it beside the redundancy audit: [`escalation`], [`apply_escalation`]).
pub fn run_but_escalation(
    policy: &Policy,
    file: FileId,
    inventory: Option<&crate::engine::Inventory>,
    warnings: bool,
    diags: &mut Vec<Diagnostic>,
) {
    if warnings {
        diags.extend(warning_lints(policy, file, inventory));
    }
    operator_lints(policy, file, diags);
    operator::drop_covered(diags);
}

/// The lints that can only warn (every lint but the Kubernetes operator's and TSA240), in
/// the order [`run`] gives them. Apart so that `check` can run them beside the redundancy
/// audit, then put them where [`run_but_escalation`] would have, before the operator's
/// findings ([`operator::drop_covered`] then runs on the whole list).
pub fn warning_lints(
    policy: &Policy,
    file: FileId,
    inventory: Option<&crate::engine::Inventory>,
) -> Vec<Diagnostic> {
    use crate::timings::stage;
    let mut diags = Vec::new();
    stage("lint: definitions", || lint(policy, file, &mut diags));
    // The operator's tags are applied outside the policy: its own by whoever installs it
    // (its OAuth client), the proxy tag by the operator to every proxy.
    let op = operator::implied(policy);
    let applied: Vec<&str> = op.iter().flat_map(|o| [o.tag, o.proxy_tag]).collect();
    stage("lint: tags", || {
        tags::unused_tags(policy, inventory, &applied, file, &mut diags);
        tags::owner_cycles(policy, file, &mut diags);
    });
    internet::internet_without_exit_node(policy, inventory, file, &mut diags);
    stage("lint: ssh network", || {
        ssh::ssh_without_network_access(policy, inventory, file, &mut diags)
    });
    diags
}

/// The Kubernetes operator's lints, the only ones that can report an error.
pub fn operator_lints(policy: &Policy, file: FileId, diags: &mut Vec<Diagnostic>) {
    if let Some(op) = operator::implied(policy) {
        operator::operator(policy, op, file, diags);
    }
}

/// Every lint, including those that read the inventory when there is one (it only sharpens
/// messages, except for TSA218, which needs it).
///
/// `warnings: false` runs only the lints that can report an error (the Kubernetes
/// operator's): for commands that show only errors, the costly analyses that can only
/// warn (TSA219's SSH network check, TSA240's escalation) are skipped.
pub fn run(
    policy: &Policy,
    file: FileId,
    inventory: Option<&crate::engine::Inventory>,
    warnings: bool,
    diags: &mut Vec<Diagnostic>,
) {
    run_but_escalation(policy, file, inventory, warnings, diags);
    if warnings {
        crate::timings::stage("lint: tag-owner escalation", || {
            escalation::tag_owner_escalation(policy, file, inventory, diags)
        });
    }
}

/// TSA240 on its own (see [`escalation`]), for a caller that runs it beside other work
/// after [`run_but_escalation`]: [`Escalation::find`] gives the findings for `policy`,
/// given the diagnostics so far, which [`apply_escalation`] then adds.
pub fn escalation<'p>(
    policy: &'p Policy,
    file: FileId,
    inventory: Option<&'p crate::engine::Inventory>,
    so_far: &[Diagnostic],
) -> Escalation<'p> {
    Escalation {
        policy,
        file,
        inventory,
        operator_owned: escalation::operator_owned(so_far),
    }
}

/// TSA240, ready to run (see [`escalation`]).
pub struct Escalation<'p> {
    policy: &'p Policy,
    file: FileId,
    inventory: Option<&'p crate::engine::Inventory>,
    operator_owned: Vec<crate::diagnostics::Location>,
}

impl Escalation<'_> {
    pub fn find(self) -> Vec<Diagnostic> {
        crate::timings::stage("lint: tag-owner escalation", || {
            escalation::escalations(self.policy, self.file, self.inventory, &self.operator_owned)
        })
    }
}

/// Adds what [`escalation`] found (replacing the TSA212 findings it makes exact).
pub fn apply_escalation(found: Vec<Diagnostic>, diags: &mut Vec<Diagnostic>) {
    escalation::apply(found, diags);
}

/// Run every lint on a policy.
pub fn lint<'p>(policy: &'p Policy, file: FileId, diags: &mut Vec<Diagnostic>) {
    let at = |span| Location { file, span };
    // Borrowed and hashed with Fx: a large policy names tens of thousands of selectors.
    let mut used: rustc_hash::FxHashSet<&str> = rustc_hash::FxHashSet::default();
    // A name is noted whole; what may carry a port (a test's destination, `db:5432`, or
    // a selector that did not parse, such as `host:22` written as a source) also names the
    // part before it. ACL destinations arrive with their host part split off already.
    let mut note = |raw: &'p str, may_have_port: bool| {
        let t = raw.trim();
        used.insert(t);
        if may_have_port && let Some((host, _)) = t.rsplit_once(':') {
            used.insert(host);
        }
    };
    for w in crate::engine::rules::Written::all(policy) {
        w.src()
            .iter()
            .chain(w.destinations().map(|d| d.sel))
            .chain(w.via())
            .for_each(|s| note(&s.raw, s.selector.is_none()));
        w.posture().iter().for_each(|p| note(&p.value, false));
    }
    for r in &policy.ssh {
        r.src
            .iter()
            .chain(&r.dst)
            .for_each(|s| note(&s.raw, s.selector.is_none()));
        r.src_posture.iter().for_each(|p| note(&p.value, false));
    }
    for t in &policy.tag_owners {
        t.owners
            .iter()
            .for_each(|s| note(&s.raw, s.selector.is_none()));
    }
    for r in &policy.auto_approvers.routes {
        r.approvers
            .iter()
            .for_each(|s| note(&s.raw, s.selector.is_none()));
    }
    policy
        .auto_approvers
        .exit_node
        .iter()
        .for_each(|s| note(&s.raw, s.selector.is_none()));
    for s in &policy.auto_approvers.services {
        s.approvers
            .iter()
            .for_each(|s| note(&s.raw, s.selector.is_none()));
    }
    for n in &policy.node_attrs {
        n.target
            .iter()
            .for_each(|s| note(&s.raw, s.selector.is_none()));
    }
    for t in &policy.tests {
        t.src.iter().for_each(|s| note(&s.value, false));
        for d in t.accept.iter().chain(&t.deny) {
            note(&d.value, true);
        }
    }
    for t in &policy.ssh_tests {
        t.src.iter().for_each(|s| note(&s.value, false));
        t.dst.iter().for_each(|d| note(&d.value, false));
    }
    policy
        .default_src_posture
        .iter()
        .for_each(|p| note(&p.value, false));
    for set in &policy.ipsets {
        for op in &set.ops {
            for word in op.value.split_whitespace() {
                note(word.trim_start_matches("host:"), false);
            }
        }
    }

    for g in &policy.groups {
        if !used.contains(g.name.value.as_str()) {
            diags.push(
                Diagnostic::new(
                    Code::UnusedGroup,
                    at(g.name.span),
                    format!("{} is not used", g.name.value),
                )
                .with_help("remove it, or use it in a rule"),
            );
        }
    }
    // A host that is the parent range of hosts in use documents where they live (the
    // subnet of the routers they sit behind): that is a use, not a leftover.
    let parent_of_used = |h: &crate::model::HostDef| {
        h.prefix.is_some_and(|p| {
            policy.hosts.iter().any(|other| {
                other.name.value != h.name.value
                    && used.contains(other.name.value.as_str())
                    && other.prefix.is_some_and(|q| p.contains(&q))
            })
        })
    };
    for h in &policy.hosts {
        if !used.contains(h.name.value.as_str()) && !parent_of_used(h) {
            diags.push(Diagnostic::new(
                Code::UnusedHost,
                at(h.name.span),
                format!("host {:?} is not used", h.name.value),
            ));
        }
    }
    for s in &policy.ipsets {
        if !used.contains(s.name.value.as_str()) {
            diags.push(Diagnostic::new(
                Code::UnusedIpSet,
                at(s.name.span),
                format!("{} is not used", s.name.value),
            ));
        }
    }
    for p in &policy.postures {
        if !used.contains(p.name.value.as_str()) {
            diags.push(Diagnostic::new(
                Code::UnusedPosture,
                at(p.name.span),
                format!("{} is not used", p.name.value),
            ));
        }
    }

    // Allow-all and danger-all. Alone, the rule is Tailscale's default policy, which a
    // tailnet may keep on purpose: the help says how to say so, since the finding stays
    // (`--severity TSA210=error` is how a team forbids allow-all rules).
    let allow_all = allow_all_rules(policy);
    let rules = policy.acls.iter().flatten().count() + policy.grants.iter().flatten().count();
    for (origin, span) in &allow_all {
        let help = if rules == allow_all.len() {
            "narrow it to the sources, destinations and ports that need it; a tailnet meant to \
             be flat (Tailscale's default policy) says so with `// tsacl-ignore: TSA210` on the \
             line before"
        } else {
            "narrow it to the sources, destinations and ports that need it"
        };
        diags.push(
            Diagnostic::new(
                Code::AllowAll,
                at(*span),
                format!("{origin} lets every device reach every device on every port"),
            )
            .with_help(help),
        );
    }
    let is = |s: &crate::model::Sel, want: &Selector| s.selector.as_ref() == Some(want);
    let danger = Selector::Autogroup(Autogroup::DangerAll);
    for s in crate::engine::rules::Written::all(policy).flat_map(|w| w.src()) {
        if is(s, &danger) {
            diags.push(
                Diagnostic::new(
                    Code::DangerAll,
                    at(s.span),
                    "autogroup:danger-all admits every source, from inside the tailnet or not",
                )
                .with_help("use * for the tailnet and its approved routes"),
            );
        }
    }

    // Broad tag owners.
    for t in &policy.tag_owners {
        for o in &t.owners {
            if matches!(
                o.selector,
                Some(Selector::Autogroup(Autogroup::Member | Autogroup::Members))
            ) {
                diags.push(
                    Diagnostic::new(Code::BroadTagOwner, at(o.span), format!("every member may apply {}", t.tag.value))
                        .with_help("let a small group, or the tag of the machine that creates these devices, own it"),
                );
            }
        }
    }

    // SSH as root from everyone.
    for r in &policy.ssh {
        let accept = r
            .action
            .as_ref()
            .is_some_and(|a| a.value.trim() == "accept");
        let root = r
            .users
            .as_ref()
            .is_some_and(|u| u.value.iter().any(|x| x.value.trim() == "root"));
        let broad = r.src.iter().find(|s| {
            matches!(
                s.selector,
                Some(Selector::Autogroup(Autogroup::Member | Autogroup::Members))
            )
        });
        // Members logging in as root on their own devices (`autogroup:self`) is the
        // documented default; only other people's devices make this a finding.
        let others: Vec<&str> = r
            .dst
            .iter()
            .filter(|d| {
                !matches!(
                    d.selector,
                    Some(Selector::Autogroup(Autogroup::SelfDevices))
                )
            })
            .map(|d| d.raw.trim())
            .collect();
        if let (true, true, Some(src), false) = (accept, root, broad, others.is_empty()) {
            diags.push(
                Diagnostic::new(
                    Code::SshRootFromBroadSource,
                    at(src.span),
                    format!(
                        "every member may log in as root on {} without a check",
                        others.join(", ")
                    ),
                )
                .with_help("use \"action\": \"check\", or list the users who need root; root on a member's own devices (autogroup:self) is fine"),
            );
        }
    }

    // Duplicate tests. One that asserts nothing is invalid (TSA070), not a repeat.
    let mut seen: rustc_hash::FxHashSet<String> = rustc_hash::FxHashSet::default();
    for t in policy
        .tests
        .iter()
        .filter(|t| !(t.accept.is_empty() && t.deny.is_empty()))
    {
        let key = format!(
            "{:?}|{:?}|{:?}|{:?}",
            t.src.as_ref().map(|s| s.value.trim()),
            t.proto.as_ref().map(|s| s.value.trim()),
            t.accept.iter().map(|a| a.value.trim()).collect::<Vec<_>>(),
            t.deny.iter().map(|a| a.value.trim()).collect::<Vec<_>>()
        );
        if !seen.insert(key) {
            diags.push(Diagnostic::new(
                Code::DuplicateTest,
                at(t.span),
                "this test repeats an earlier one",
            ));
        }
    }
}

/// The rules that let everything reach everything on every port (TSA210): `*` to `*`
/// with every protocol and port.
pub fn allow_all_rules(
    policy: &Policy,
) -> Vec<(crate::engine::rules::Origin, crate::syntax::Span)> {
    let is = |s: &crate::model::Sel, want: &Selector| s.selector.as_ref() == Some(want);
    crate::engine::rules::Written::all(policy)
        .filter(|w| {
            w.src().iter().any(|s| is(s, &Selector::Wildcard))
                && w.entries().any(|e| {
                    is(e.destination.sel, &Selector::Wildcard)
                        && e.protocol.is_none()
                        && e.ports.iter().any(|p| p.is_all())
                })
        })
        .map(|w| (w.origin, w.span()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lints(text: &str) -> Vec<Code> {
        let policy = crate::model::from_text(text);
        let mut d = Vec::new();
        lint(&policy, FileId(0), &mut d);
        d.into_iter().map(|d| d.code).collect()
    }

    #[test]
    fn each_lint_fires_and_stays_quiet() {
        let tags = r#""tagOwners": {"tag:a": ["group:g"]}"#;
        // Unused definitions.
        let unused = format!(
            r#"{{{tags}, "groups": {{"group:g": [], "group:x": []}}, "hosts": {{"h": "10.0.0.1"}}, "ipsets": {{"ipset:s": ["10.0.0.0/8"]}}, "postures": {{"posture:p": ["node:os == 'macos'"]}}, "grants": []}}"#
        );
        let found = lints(&unused);
        for c in [
            Code::UnusedGroup,
            Code::UnusedHost,
            Code::UnusedIpSet,
            Code::UnusedPosture,
        ] {
            assert!(found.contains(&c), "{c:?} in {found:?}");
        }
        assert_eq!(
            found.iter().filter(|c| **c == Code::UnusedGroup).count(),
            1,
            "group:g owns a tag"
        );
        let used = format!(
            r#"{{{tags}, "groups": {{"group:g": []}}, "hosts": {{"h": "10.0.0.1"}}, "ipsets": {{"ipset:s": ["add host:h"]}}, "postures": {{"posture:p": ["node:os == 'macos'"]}}, "grants": [{{"src": ["group:g"], "dst": ["ipset:s"], "ip": ["22"], "srcPosture": ["posture:p"]}}]}}"#
        );
        assert!(lints(&used).is_empty(), "{:?}", lints(&used));
        // Allow-all and danger-all.
        assert!(
            lints(r#"{"grants": [{"src": ["*"], "dst": ["*"], "ip": ["*"]}]}"#)
                .contains(&Code::AllowAll)
        );
        assert!(
            lints(r#"{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}"#)
                .contains(&Code::AllowAll)
        );
        assert!(
            !lints(r#"{"grants": [{"src": ["*"], "dst": ["*"], "ip": ["tcp:443"]}]}"#)
                .contains(&Code::AllowAll)
        );
        assert!(
            lints(
                r#"{"grants": [{"src": ["autogroup:danger-all"], "dst": ["*"], "ip": ["443"]}]}"#
            )
            .contains(&Code::DangerAll)
        );
        // Broad tag owners.
        assert!(lints(r#"{"tagOwners": {"tag:a": ["autogroup:member"]}, "grants": [{"src": ["tag:a"], "dst": ["*"], "ip": ["443"]}]}"#).contains(&Code::BroadTagOwner));
        assert!(
            !lints(r#"{"tagOwners": {"tag:a": ["autogroup:admin"]}}"#)
                .contains(&Code::BroadTagOwner)
        );
        // SSH root from everyone.
        let ssh = |action: &str| {
            format!(
                r#"{{"tagOwners": {{"tag:a": []}}, "ssh": [{{"action": "{action}", "src": ["autogroup:member"], "dst": ["tag:a"], "users": ["root"]}}]}}"#
            )
        };
        assert!(lints(&ssh("accept")).contains(&Code::SshRootFromBroadSource));
        assert!(!lints(&ssh("check")).contains(&Code::SshRootFromBroadSource));
        // Root on a member's own devices is Tailscale's documented default, not a finding.
        let own = |dst: &str| {
            format!(
                r#"{{"tagOwners": {{"tag:a": []}}, "ssh": [{{"action": "accept", "src": ["autogroup:member"], "dst": [{dst}], "users": ["autogroup:nonroot", "root"]}}]}}"#
            )
        };
        assert!(!lints(&own(r#""autogroup:self""#)).contains(&Code::SshRootFromBroadSource));
        assert!(
            lints(&own(r#""autogroup:self", "tag:a""#)).contains(&Code::SshRootFromBroadSource)
        );
        // Duplicate tests.
        let t = r#"{"src": "a@example.com", "accept": ["10.0.0.1:22"]}"#;
        assert!(lints(&format!(r#"{{"tests": [{t}, {t}]}}"#)).contains(&Code::DuplicateTest));
        assert!(!lints(&format!(r#"{{"tests": [{t}]}}"#)).contains(&Code::DuplicateTest));
        // Tests that assert nothing are invalid (TSA070), not repeats of each other.
        let nothing = r#"{"src": "a@example.com"}"#;
        assert!(
            !lints(&format!(r#"{{"tests": [{nothing}, {nothing}]}}"#))
                .contains(&Code::DuplicateTest)
        );
    }

    /// Accept and deny tests for one source in two entries: real policies push this, and
    /// no recorded answer shows the control plane failing it (TSA217 is retired).
    #[test]
    fn a_host_that_contains_hosts_in_use_is_not_unused() {
        let text = |dst: &str| {
            format!(
                r#"{{"hosts": {{"lan": "192.168.1.0/24", "nas": "192.168.1.10", "printer": "192.168.2.9"}},
                    "grants": [{{"src": ["autogroup:member"], "dst": ["{dst}"], "ip": ["tcp:443"]}}]}}"#
            )
        };
        let policy = crate::model::from_text(&text("nas"));
        let mut d = Vec::new();
        lint(&policy, FileId(0), &mut d);
        let unused: Vec<&str> = d
            .iter()
            .filter(|d| d.code == Code::UnusedHost)
            .map(|d| d.message.as_str())
            .collect();
        // lan holds nas, which is used; printer is outside it and unused.
        assert_eq!(unused, ["host \"printer\" is not used"], "{d:?}");
        // With nothing inside it in use, lan is unused too.
        let policy = crate::model::from_text(&text("printer"));
        let mut d = Vec::new();
        lint(&policy, FileId(0), &mut d);
        assert_eq!(
            d.iter().filter(|d| d.code == Code::UnusedHost).count(),
            2,
            "{d:?}"
        );
    }

    /// A test's destination names a host before its port; a selector is a name whole,
    /// unless it did not parse.
    #[test]
    fn a_host_named_by_a_test_destination_is_used() {
        let unused = |tests: &str| {
            let text = format!(
                r#"{{"hosts": {{"db": "10.0.0.1"}}, "grants": [{{"src": ["*"], "dst": ["*"], "ip": ["*"]}}], "tests": [{tests}]}}"#
            );
            lints(&text).contains(&Code::UnusedHost)
        };
        assert!(!unused(
            r#"{"src": "a@example.com", "accept": ["db:5432"]}"#
        ));
        assert!(!unused(r#"{"src": "a@example.com", "deny": ["db:22"]}"#));
        assert!(unused(r#"{"src": "a@example.com", "accept": ["dbx:22"]}"#));
        // A port written where a selector goes is an error of its own (the selector does
        // not parse); the host it names is not reported unused beside it.
        let text = r#"{"hosts": {"db": "10.0.0.1"}, "grants": [{"src": ["db:22"], "dst": ["*"], "ip": ["*"]}]}"#;
        assert!(
            !lints(text).contains(&Code::UnusedHost),
            "{:?}",
            lints(text)
        );
    }

    #[test]
    fn split_accept_and_deny_tests_are_not_a_finding() {
        let text = r#"{"tagOwners": {"tag:a": [], "tag:b": []}, "grants": [{"src": ["tag:a"], "dst": ["tag:b"], "ip": ["tcp:22"]}], "tests": [{"src": "tag:a", "accept": ["tag:b:22"]}, {"src": "tag:a", "deny": ["tag:b:80"]}]}"#;
        let policy = crate::model::from_text(text);
        let mut d = Vec::new();
        run(&policy, FileId(0), None, true, &mut d);
        assert!(d.is_empty(), "{d:?}");
    }

    /// Every lint code with a policy that triggers it and a near miss that must not.
    #[test]
    fn every_lint_has_a_trigger_and_a_near_miss() {
        let run_codes = |text: &str| -> Vec<Code> {
            let policy = crate::model::from_text(text);
            let mut d = Vec::new();
            run(&policy, FileId(0), None, true, &mut d);
            d.into_iter().map(|d| d.code).collect()
        };
        let cases: &[(Code, &str, &str)] = &[
            (
                Code::UnusedGroup,
                r#"{"groups": {"group:g": []}}"#,
                r#"{"groups": {"group:g": []}, "ssh": [{"action": "check", "src": ["group:g"], "dst": ["autogroup:self"], "users": ["x"]}]}"#,
            ),
            (
                Code::UnusedHost,
                r#"{"hosts": {"h": "10.0.0.1"}}"#,
                r#"{"hosts": {"h": "10.0.0.1"}, "acls": [{"action": "accept", "src": ["*"], "dst": ["h:22"]}]}"#,
            ),
            (
                Code::UnusedIpSet,
                r#"{"ipsets": {"ipset:s": ["10.0.0.0/8"]}}"#,
                r#"{"ipsets": {"ipset:s": ["10.0.0.0/8"], "ipset:t": ["add ipset:s"]}, "grants": [{"src": ["*"], "dst": ["ipset:t"], "ip": ["22"]}]}"#,
            ),
            (
                Code::UnusedPosture,
                r#"{"postures": {"posture:p": ["node:os == 'macos'"]}}"#,
                r#"{"postures": {"posture:p": ["node:os == 'macos'"]}, "defaultSrcPosture": ["posture:p"]}"#,
            ),
            (
                Code::UnusedTag,
                r#"{"tagOwners": {"tag:a": []}}"#,
                r#"{"tagOwners": {"tag:a": []}, "grants": [{"src": ["tag:a"], "dst": ["*"], "ip": ["22"]}]}"#,
            ),
            (
                Code::AllowAll,
                r#"{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}"#,
                r#"{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:443"]}, {"action": "accept", "proto": "udp", "src": ["*"], "dst": ["*:*"]}]}"#,
            ),
            (
                Code::DangerAll,
                r#"{"acls": [{"action": "accept", "src": ["autogroup:danger-all"], "dst": ["*:443"]}]}"#,
                r#"{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:443"]}]}"#,
            ),
            (
                Code::BroadTagOwner,
                r#"{"tagOwners": {"tag:a": ["autogroup:members"]}, "grants": [{"src": ["tag:a"], "dst": ["*"], "ip": ["22"]}]}"#,
                r#"{"groups": {"group:ops": []}, "tagOwners": {"tag:a": ["group:ops"]}, "grants": [{"src": ["tag:a"], "dst": ["*"], "ip": ["22"]}]}"#,
            ),
            (
                Code::SshRootFromBroadSource,
                r#"{"tagOwners": {"tag:a": []}, "ssh": [{"action": "accept", "src": ["autogroup:member"], "dst": ["tag:a"], "users": ["ubuntu", "root"]}]}"#,
                r#"{"tagOwners": {"tag:a": []}, "ssh": [{"action": "accept", "src": ["autogroup:member"], "dst": ["tag:a"], "users": ["ubuntu"]}]}"#,
            ),
            (
                Code::DuplicateTest,
                r#"{"tests": [{"src": "a@example.com", "accept": ["10.0.0.1:22"]}, {"src": "a@example.com", "accept": ["10.0.0.1:22"]}]}"#,
                r#"{"tests": [{"src": "a@example.com", "accept": ["10.0.0.1:22"]}, {"src": "a@example.com", "proto": "udp", "accept": ["10.0.0.1:22"]}]}"#,
            ),
            (
                Code::TagOwnerCycle,
                r#"{"tagOwners": {"tag:a": ["tag:b"], "tag:b": ["tag:a"]}}"#,
                r#"{"tagOwners": {"tag:a": ["tag:b"], "tag:b": []}}"#,
            ),
            (
                Code::SharedProxyTag,
                r#"{"tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"]}, "grants": [{"src": ["*"], "dst": ["tag:k8s"], "ip": ["443"]}]}"#,
                r#"{"tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"], "tag:web": ["tag:k8s-operator"]}, "grants": [{"src": ["*"], "dst": ["tag:web"], "ip": ["443"]}]}"#,
            ),
            (
                Code::OperatorProxyTagNotOwned,
                r#"{"tagOwners": {"tag:k8s-operator": [], "tag:k8s": []}}"#,
                r#"{"tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"]}}"#,
            ),
            (
                Code::OperatorTagOwner,
                r#"{"tagOwners": {"tag:k8s-operator": ["autogroup:tagged"], "tag:k8s": ["tag:k8s-operator"]}}"#,
                r#"{"tagOwners": {"tag:k8s-operator": ["autogroup:admin"], "tag:k8s": ["tag:k8s-operator"]}}"#,
            ),
        ];
        for (code, trigger, near_miss) in cases {
            assert!(
                run_codes(trigger).contains(code),
                "{code:?} should fire on {trigger}: {:?}",
                run_codes(trigger)
            );
            assert!(
                !run_codes(near_miss).contains(code),
                "{code:?} should not fire on {near_miss}: {:?}",
                run_codes(near_miss)
            );
        }
    }

    /// `check` runs [`super::warning_lints`] beside the slow stages, which run only when no
    /// error was found before them: so no finding of those lints may be an error. Every
    /// code their modules name is read from the source, so a new one is checked too.
    #[test]
    fn the_lints_that_run_beside_the_slow_stages_never_report_an_error() {
        let sources = [
            include_str!("mod.rs"),
            include_str!("tags.rs"),
            include_str!("internet.rs"),
            include_str!("ssh.rs"),
        ];
        let mut seen = 0;
        for text in sources {
            for (i, _) in text.match_indices("Code::") {
                let name: String = text[i + 6..]
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect();
                if name.is_empty() {
                    continue; // This test's own messages.
                }
                let rule = crate::rules::RULES
                    .iter()
                    .find(|r| format!("{:?}", r.code) == name)
                    .unwrap_or_else(|| panic!("Code::{name} is a code"));
                assert_ne!(rule.severity, crate::rules::Severity::Error, "Code::{name}");
                seen += 1;
            }
        }
        assert!(seen > 10, "the lints' codes were found ({seen})");
    }
}
