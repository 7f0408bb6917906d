//! Kubernetes operator lints: the shared proxy tag as a destination (TSA125), the ownership
//! chain operator tag → proxy tag (TSA126), who may apply the operator's tag (TSA127),
//! service tags the operator does not own (TSA128) and Funnel without the `funnel` node
//! attribute (TSA129).
//!
//! A plain policy gets TSA125-127 with the operator's default names when it defines
//! `tag:k8s-operator`; an intents project runs them with the names of its `operator`
//! section, and adds TSA128/TSA129, which need to know the services.

use crate::diagnostics::{Diagnostic, FileId, Location};
use crate::engine::reach::{Principal, Roles, Side, contains};
use crate::model::{Autogroup, Policy, Sel, Selector};
use crate::rules::Code;

/// A group with at most this many members is an explicit choice of people, not a broad
/// source (TSA125).
const SMALL_GROUP: usize = 10;

/// The operator's own tag and the tag it gives proxies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperatorTags<'a> {
    pub tag: &'a str,
    pub proxy_tag: &'a str,
}

/// The operator's defaults (Helm `operatorConfig.defaultTags`, `proxyConfig.defaultTags`).
pub const DEFAULT: OperatorTags<'static> = OperatorTags {
    tag: "tag:k8s-operator",
    proxy_tag: "tag:k8s",
};

/// The operator a plain policy implies: the defaults, when it defines the operator's tag.
pub fn implied(policy: &Policy) -> Option<OperatorTags<'static>> {
    policy.tag_owner(DEFAULT.tag).map(|_| DEFAULT)
}

/// A grant `ip` entry as written in canonical form (`tcp:443`, `*`).
fn ip_text(spec: &crate::model::IpSpec) -> String {
    let ports = spec
        .ports
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",");
    match spec.proto {
        Some(p) => format!("{p}:{ports}"),
        None => ports,
    }
}

fn is_tag(sel: &Sel, tag: &str) -> bool {
    matches!(&sel.selector, Some(Selector::Tag(t)) if t == tag)
}

/// TSA125, TSA126 and TSA127 for this operator.
pub fn operator(policy: &Policy, op: OperatorTags<'_>, file: FileId, diags: &mut Vec<Diagnostic>) {
    let at = |span| Location { file, span };
    if op.tag == op.proxy_tag {
        // Everything else would be noise about the same mistake.
        if let Some(def) = policy.tag_owner(op.tag) {
            diags.push(
                Diagnostic::new(
                    Code::OperatorProxyTagNotOwned,
                    at(def.tag.span),
                    format!("the operator's proxy tag is its own tag, {}: every proxy would get the operator's access", op.tag),
                )
                .with_help("give proxies a tag of their own, e.g. tag:k8s, owned by the operator's tag"),
            );
        }
        return;
    }
    // TSA125: a rule that opens the shared proxy tag to others reaches every proxy that has
    // no tags of its own. Quiet for what the operator's documentation itself sets up:
    // proxies and the operator talking among themselves, and app-only or Kubernetes API
    // grants (the API server proxy), where a per-service tag is not the point.
    let operator_side = |srcs: &[Sel]| {
        !srcs.is_empty()
            && srcs
                .iter()
                .all(|s| is_tag(s, op.proxy_tag) || is_tag(s, op.tag))
    };
    // Who the rule lets in decides whether it matters: admins and a small group named in
    // the file are a choice a maintainer makes on purpose; everyone, every tagged device
    // or users shared in reach every future proxy without anyone deciding it.
    let broad = |s: &Sel| match &s.selector {
        Some(
            Selector::Wildcard
            | Selector::UserDomain(_)
            | Selector::Autogroup(
                Autogroup::Member
                | Autogroup::Members
                | Autogroup::Tagged
                | Autogroup::Shared
                | Autogroup::DangerAll,
            ),
        ) => true,
        Some(Selector::Group(g)) => policy
            .groups
            .iter()
            .find(|d| d.name.value == *g)
            .is_some_and(|d| d.members.len() > SMALL_GROUP),
        _ => false,
    };
    let mut shared = |dst: &Sel, srcs: &[Sel], what: String| {
        if !is_tag(dst, op.proxy_tag) || operator_side(srcs) {
            return;
        }
        let who: Vec<&str> = srcs
            .iter()
            .filter(|s| broad(s))
            .map(|s| s.raw.trim())
            .collect();
        if who.is_empty() {
            return;
        }
        diags.push(
            Diagnostic::new(
                Code::SharedProxyTag,
                at(dst.span),
                format!(
                    "this rule lets {} reach every proxy that carries only {} ({what}): each Service and Ingress exposed without a tailscale.com/tags annotation",
                    who.join(", "),
                    op.proxy_tag
                ),
            )
            .with_help(format!(
                "fine while one service is exposed that way; to keep services apart, give each its own tag (tailscale.com/tags: \"tag:NAME\", owned by {}) and grant that tag",
                op.tag
            )),
        );
    };
    for a in policy.acls.iter().flatten() {
        for d in &a.dst {
            let ports = d
                .ports
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(",");
            shared(&d.host, &a.src, format!("ports {ports}"));
        }
    }
    for g in policy.grants.iter().flatten() {
        let kubernetes_api = g
            .app
            .iter()
            .any(|c| c.name.value == "tailscale.com/cap/kubernetes");
        if g.ip.is_empty() || kubernetes_api {
            continue;
        }
        let ip =
            g.ip.iter()
                .map(|s| ip_text(&s.value))
                .collect::<Vec<_>>()
                .join(", ");
        for d in &g.dst {
            shared(d, &g.src, ip.clone());
        }
    }
    // TSA126: the operator must own the proxy tag.
    if let Some(def) = policy.tag_owner(op.proxy_tag)
        && !def.owners.iter().any(|o| is_tag(o, op.tag))
    {
        diags.push(
            Diagnostic::new(
                Code::OperatorProxyTagNotOwned,
                at(def.tag.span),
                format!(
                    "the operator ({}) does not own its proxy tag {}, so it cannot create proxies",
                    op.tag, op.proxy_tag
                ),
            )
            .with_help(format!(
                "add it to the owners: {:?}: [{:?}]",
                op.proxy_tag, op.tag
            )),
        );
    }
    // TSA127: who may apply the operator's tag.
    if let Some(def) = policy.tag_owner(op.tag) {
        for o in &def.owners {
            let who = match &o.selector {
                Some(Selector::Tag(t)) if t == op.tag => {
                    format!(
                        "{} owns itself: any device already carrying it can mint more operators",
                        op.tag
                    )
                }
                Some(Selector::Tag(t)) => {
                    format!("every device tagged {t} may apply {}", op.tag)
                }
                Some(Selector::Autogroup(Autogroup::Member | Autogroup::Members)) => {
                    format!("every member may apply {}", op.tag)
                }
                Some(Selector::Autogroup(Autogroup::Tagged)) => {
                    format!("every tagged device may apply {}", op.tag)
                }
                Some(Selector::UserDomain(d)) => {
                    format!("every user of {d} may apply {}", op.tag)
                }
                _ => continue,
            };
            diags.push(
                Diagnostic::new(
                    Code::OperatorTagOwner,
                    at(o.span),
                    format!("{who}, and so act as the Kubernetes operator and create devices with every tag it owns"),
                )
                .with_help("let admins own the operator's tag: [] (autogroup:admin) or a small admin group"),
            );
        }
    }
}

/// Drop broad-tag-owner (TSA212) and tag-owner-cycle (TSA215) findings at an owner that
/// an operator-tag-owner finding (TSA127) already reports.
pub fn drop_covered(diags: &mut Vec<Diagnostic>) {
    let covered: Vec<Location> = diags
        .iter()
        .filter(|d| d.code == Code::OperatorTagOwner)
        .map(|d| d.primary)
        .collect();
    if covered.is_empty() {
        return;
    }
    diags.retain(|d| {
        !(matches!(d.code, Code::BroadTagOwner | Code::TagOwnerCycle)
            && covered.contains(&d.primary))
    });
}

/// TSA128: each service tag (with where the service is written) must be owned by the
/// operator's tag in `policy`.
pub fn service_tags(
    policy: &Policy,
    op: OperatorTags<'_>,
    services: &[(&str, &str, Location)],
    diags: &mut Vec<Diagnostic>,
) {
    for (name, tag, at) in services {
        let owned = policy
            .tag_owner(tag)
            .is_some_and(|d| d.owners.iter().any(|o| is_tag(o, op.tag)));
        if !owned {
            diags.push(
                Diagnostic::new(
                    Code::ServiceTagNotOwned,
                    *at,
                    format!(
                        "the operator ({}) does not own {tag}, so it cannot create the proxy of the service {name:?}",
                        op.tag
                    ),
                )
                .with_help(format!("tagOwners must have {tag:?}: [{:?}]", op.tag)),
            );
        }
    }
}

/// Something that asks for Funnel: what it is, the node that terminates it, how
/// `nodeAttrs` would name that node, and where the ask is written.
#[derive(Clone, Debug)]
pub struct FunnelAsk {
    pub what: String,
    pub node: Principal,
    pub target: Vec<String>,
    pub at: Location,
}

impl FunnelAsk {
    /// A device carrying exactly `tags` (an Ingress proxy).
    pub fn tagged(what: String, tags: &[String], at: Location) -> FunnelAsk {
        let mut sorted = tags.to_vec();
        sorted.sort();
        sorted.dedup();
        FunnelAsk {
            what,
            node: Principal::Tags(sorted),
            target: tags.to_vec(),
            at,
        }
    }
}

/// Does some `nodeAttrs` entry give `funnel` to this node?
pub fn funnel_granted(policy: &Policy, node: &Principal) -> bool {
    !funnel_entries(policy, node).is_empty()
}

/// The `nodeAttrs` entries that give `funnel` to this node: each entry's index and the
/// first of its targets that takes the node in.
pub fn funnel_entries<'p>(policy: &'p Policy, node: &Principal) -> Vec<(usize, &'p Sel)> {
    policy
        .node_attrs
        .iter()
        .enumerate()
        .filter(|(_, entry)| entry.attr.iter().any(|a| a.value.trim() == "funnel"))
        .filter_map(|(i, entry)| {
            let target = entry.target.iter().find(|t| {
                t.selector
                    .as_ref()
                    .is_some_and(|sel| contains(policy, &Roles::none(), sel, Side::Src, node))
            })?;
            Some((i, target))
        })
        .collect()
}

/// TSA129: each ask for Funnel needs the attribute on its node.
pub fn funnel(policy: &Policy, asks: &[FunnelAsk], diags: &mut Vec<Diagnostic>) {
    for ask in asks {
        if !funnel_granted(policy, &ask.node) {
            let target = ask.target.join("\", \"");
            diags.push(
                Diagnostic::new(
                    Code::FunnelWithoutAttr,
                    ask.at,
                    format!(
                        "{} asks for Funnel, but no nodeAttrs entry gives the funnel attribute to {}",
                        ask.what,
                        match &ask.node {
                            Principal::Tags(_) => format!("a device tagged {}", ask.target.join(", ")),
                            _ => ask.target.join(", "),
                        }
                    ),
                )
                .with_help(format!(
                    "add {{\"target\": [\"{target}\"], \"attr\": [\"funnel\"]}} to nodeAttrs"
                )),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Policy {
        crate::model::from_text(text)
    }

    fn codes(text: &str, op: OperatorTags<'_>) -> Vec<Code> {
        let mut d = Vec::new();
        operator(&policy(text), op, FileId(0), &mut d);
        d.into_iter().map(|d| d.code).collect()
    }

    const GOOD: &str = r#"{"tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"], "tag:web": ["tag:k8s-operator"]},
        "grants": [{"src": ["autogroup:member"], "dst": ["tag:web", "tag:k8s-operator"], "ip": ["443"]}],
        "nodeAttrs": [{"target": ["tag:web"], "attr": ["funnel"]}]}"#;

    #[test]
    fn shared_proxy_tag_as_destination() {
        let grant = r#"{"tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"]}, "grants": [{"src": ["*"], "dst": ["tag:k8s"], "ip": ["443"]}]}"#;
        assert_eq!(codes(grant, DEFAULT), vec![Code::SharedProxyTag]);
        let acl = r#"{"tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"]}, "acls": [{"action": "accept", "src": ["*"], "dst": ["tag:k8s:443"]}]}"#;
        assert_eq!(codes(acl, DEFAULT), vec![Code::SharedProxyTag]);
        // As a source it opens nothing to the proxies.
        let src = r#"{"tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"]}, "grants": [{"src": ["tag:k8s"], "dst": ["*"], "ip": ["443"]}]}"#;
        assert!(codes(src, DEFAULT).is_empty());
        // What the operator's documentation sets up is not a finding: its e2e policy
        // (proxies and the operator among themselves, cmd/k8s-operator/e2e/acl.hujson) ...
        let e2e = r#"{"tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"], "tag:k8s-recorder": ["tag:k8s-operator"]}, "autoApprovers": {"routes": {"10.0.0.0/8": ["tag:k8s"]}, "services": {"tag:k8s": ["tag:k8s"]}}, "grants": [{"src": ["tag:k8s"], "dst": ["tag:k8s", "tag:k8s-operator"], "ip": ["tcp:80", "tcp:443"], "app": {"tailscale.com/cap/kubernetes": [{"impersonate": {"groups": ["ts:e2e-test-proxy"]}}]}}]}"#;
        assert!(codes(e2e, DEFAULT).is_empty(), "{:?}", codes(e2e, DEFAULT));
        // ... the API server proxy on a ProxyGroup, and app-only grants.
        let api = r#"{"groups": {"group:admins": []}, "tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"]}, "grants": [{"src": ["group:admins"], "dst": ["tag:k8s"], "ip": ["tcp:443"], "app": {"tailscale.com/cap/kubernetes": [{"impersonate": {"groups": ["system:masters"]}}]}}]}"#;
        assert!(codes(api, DEFAULT).is_empty(), "{:?}", codes(api, DEFAULT));
        let app = r#"{"tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["tag:k8s-operator"]}, "grants": [{"src": ["*"], "dst": ["tag:k8s"], "app": {"example.com/cap/x": [{}]}}]}"#;
        assert!(codes(app, DEFAULT).is_empty());
        // The finding names who gets in and on what.
        let mut d = Vec::new();
        operator(&crate::model::from_text(grant), DEFAULT, FileId(0), &mut d);
        assert!(
            d[0].message
                .starts_with("this rule lets * reach every proxy that carries only tag:k8s (443)"),
            "{}",
            d[0].message
        );
    }

    #[test]
    fn ownership_chain() {
        assert!(codes(GOOD, DEFAULT).is_empty());
        let not_owned = r#"{"tagOwners": {"tag:k8s-operator": [], "tag:k8s": ["group:admins"]}, "groups": {"group:admins": []}}"#;
        assert_eq!(
            codes(not_owned, DEFAULT),
            vec![Code::OperatorProxyTagNotOwned]
        );
        let same = OperatorTags {
            tag: "tag:k8s-operator",
            proxy_tag: "tag:k8s-operator",
        };
        assert_eq!(
            codes(
                r#"{"tagOwners": {"tag:k8s-operator": ["tag:k8s-operator"]}, "grants": [{"src": ["*"], "dst": ["tag:k8s-operator"], "ip": ["443"]}]}"#,
                same
            ),
            vec![Code::OperatorProxyTagNotOwned]
        );
        // Configured names.
        let custom = OperatorTags {
            tag: "tag:op",
            proxy_tag: "tag:proxy",
        };
        assert!(
            codes(
                r#"{"tagOwners": {"tag:op": [], "tag:proxy": ["tag:op"]}}"#,
                custom
            )
            .is_empty()
        );
        assert_eq!(
            codes(
                r#"{"tagOwners": {"tag:op": [], "tag:proxy": ["tag:k8s-operator"], "tag:k8s-operator": []}}"#,
                custom
            ),
            vec![Code::OperatorProxyTagNotOwned]
        );
    }

    #[test]
    fn who_may_apply_the_operator_tag() {
        for owner in [
            r#""tag:k8s-operator""#,
            r#""autogroup:member""#,
            r#""autogroup:tagged""#,
            r#""tag:ci""#,
            r#""user:*@example.com""#,
        ] {
            let text = format!(
                r#"{{"tagOwners": {{"tag:ci": [], "tag:k8s-operator": [{owner}], "tag:k8s": ["tag:k8s-operator"]}}}}"#
            );
            assert_eq!(
                codes(&text, DEFAULT),
                vec![Code::OperatorTagOwner],
                "{owner}"
            );
        }
        for owner in [
            r#""autogroup:admin""#,
            r#""group:k8s-admins""#,
            r#""alice@example.com""#,
            "",
        ] {
            let text = format!(
                r#"{{"groups": {{"group:k8s-admins": []}}, "tagOwners": {{"tag:k8s-operator": [{owner}], "tag:k8s": ["tag:k8s-operator"]}}}}"#
            );
            assert!(codes(&text, DEFAULT).is_empty(), "{owner}");
        }
    }

    #[test]
    fn covered_generic_findings_are_dropped() {
        let text = r#"{"tagOwners": {"tag:k8s-operator": ["autogroup:member", "tag:k8s-operator"], "tag:k8s": ["tag:k8s-operator"]}}"#;
        let p = policy(text);
        let mut d = Vec::new();
        crate::lint::run(&p, FileId(0), None, true, &mut d);
        let codes: Vec<Code> = d.iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            vec![Code::OperatorTagOwner, Code::OperatorTagOwner],
            "{d:?}"
        );
    }

    #[test]
    fn service_tags_must_be_owned_by_the_operator() {
        let at = Location::default();
        let p = policy(GOOD);
        let mut d = Vec::new();
        service_tags(&p, DEFAULT, &[("web", "tag:web", at)], &mut d);
        assert!(d.is_empty());
        let p =
            policy(r#"{"tagOwners": {"tag:k8s-operator": [], "tag:web": ["autogroup:admin"]}}"#);
        service_tags(
            &p,
            DEFAULT,
            &[("web", "tag:web", at), ("db", "tag:db", at)],
            &mut d,
        );
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|d| d.code == Code::ServiceTagNotOwned));
    }

    #[test]
    fn funnel_needs_the_attribute() {
        let at = Location::default();
        let ask = |tags: &[&str]| {
            let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
            vec![FunnelAsk::tagged("Ingress web".to_string(), &tags, at)]
        };
        let mut d = Vec::new();
        funnel(&policy(GOOD), &ask(&["tag:web"]), &mut d);
        // `*` and autogroup:tagged reach tagged devices too.
        funnel(
            &policy(r#"{"nodeAttrs": [{"target": ["autogroup:tagged"], "attr": ["funnel"]}]}"#),
            &ask(&["tag:x"]),
            &mut d,
        );
        assert!(d.is_empty(), "{d:?}");
        funnel(&policy(GOOD), &ask(&["tag:k8s"]), &mut d);
        // A member target does not reach tagged devices; another attribute is not funnel.
        funnel(
            &policy(
                r#"{"nodeAttrs": [{"target": ["autogroup:member"], "attr": ["funnel"]}, {"target": ["tag:x"], "attr": ["drive:share"]}]}"#,
            ),
            &ask(&["tag:x"]),
            &mut d,
        );
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|d| d.code == Code::FunnelWithoutAttr));
    }
}
