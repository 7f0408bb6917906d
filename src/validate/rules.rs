//! Access rules: `acls`, `grants`, `ssh`, `nodeAttrs` and `autoApprovers`.

use super::selectors::Position;
use super::{Validator, duration};
use crate::diagnostics::Label;
use crate::model::{Acl, Autogroup, Grant, NodeAttr, Prefix, Sel, Selector, SshRule};
use crate::rules::Code;

/// Tailscale capabilities that grants may carry (the control plane rejects the tailscale.com
/// names it does not define). `databases` is the database connector's (tailscale's
/// ts-db-connector README has users put it in their tailnet policy; public policies push
/// it); `pam` is Tailscale PAM's (its docs, "Control access": access is a
/// `tailscale.com/cap/pam` grant, and enabling PAM writes one).
const ALLOWED_TAILSCALE_CAPS: &[&str] = &[
    "tailscale.com/cap/databases",
    "tailscale.com/cap/drive",
    "tailscale.com/cap/kubernetes",
    "tailscale.com/cap/pam",
    "tailscale.com/cap/relay",
    "tailscale.com/cap/webui",
    "tailscale.com/cap/tsidp",
    "tailscale.com/cap/secrets",
    "tailscale.com/cap/tailsql",
    "tailscale.com/cap/golink",
];

/// Tailscale capability names the control plane is recorded rejecting in grants
/// (captures grant-k10 and grant-a5, and headscale's published capture grant-k9 for
/// `ingress`, taken from tailscale.com in April 2026: "capability name must not be in the
/// tailscale.com domain"). Other names under tailscale.com are decided by the server's own
/// list, which grows with Tailscale's features: tsacl warns (TSA045) rather than guess.
const REJECTED_TAILSCALE_CAPS: &[&str] = &[
    "tailscale.com/cap/funnel",
    "tailscale.com/cap/ingress",
    "tailscale.com/cap/relay-target",
];

/// Node IPs come from 100.64.0.0/10, minus these ranges Tailscale reserves: "Unavailable
/// for IP pools", and "IP pools can't overlap reserved ranges" (Tailscale docs, Reserved IP
/// addresses, kb/1610); headscale, which follows the control plane, rejects an overlap
/// too (`validateNodeAttrIPPool`).
const RESERVED_POOLS: &[&str] = &["100.100.0.0/24", "100.100.100.0/24", "100.115.92.0/23"];

impl Validator<'_> {
    pub(super) fn rules(&mut self) {
        let policy = self.policy;
        for acl in policy.acls.iter().flatten() {
            self.acl(acl);
        }
        for grant in policy.grants.iter().flatten() {
            self.grant(grant);
        }
        for rule in &policy.ssh {
            self.ssh_rule(rule);
        }
        for attr in &policy.node_attrs {
            self.node_attr(attr);
        }
        self.auto_approvers();
    }

    fn acl(&mut self, acl: &Acl) {
        if let Some(action) = &acl.action
            && action.value.trim() != "accept"
        {
            let d = self.report(
                Code::InvalidAction,
                action.span,
                format!("action={:?} is not supported", action.value),
            );
            d.help = Some(
                    "policies are default-deny and additive: \"accept\" is the only action; remove what should be denied from the rules that allow it".into(),
                );
        }
        for src in &acl.src {
            self.check_selector(src, Position::AclSrc);
        }
        for dst in &acl.dst {
            self.check_selector(&dst.host, Position::AclDst(&dst.host.raw));
        }
        self.src_postures(&acl.src_posture);
        let self_dst = acl
            .dst
            .iter()
            .find(|d| d.host.selector == Some(Selector::Autogroup(Autogroup::SelfDevices)))
            .map(|d| d.span);
        if let Some(span) = self_dst {
            // ACLs, unlike grants, accept `*` beside autogroup:self (SaaS-captured).
            self.self_sources(span, &acl.src, true);
        }
    }

    /// `autogroup:self` as a destination needs sources that are users.
    fn self_sources(&mut self, self_span: crate::syntax::Span, src: &[Sel], wildcard_ok: bool) {
        let offending: Vec<&Sel> = src
            .iter()
            .filter(|s| match &s.selector {
                Some(Selector::User(_) | Selector::Group(_) | Selector::UserDomain(_)) => false,
                Some(Selector::Autogroup(a)) => !a.is_user_set(),
                Some(Selector::Wildcard) => !wildcard_ok,
                Some(_) => true,
                None => false,
            })
            .collect();
        if offending.is_empty() {
            return;
        }
        let labels: Vec<Label> = offending
            .iter()
            .map(|s| Label {
                location: self.at(s.span),
                message: format!("{} is not a user", s.raw.trim()),
            })
            .collect();
        let d = self.report(
            Code::SelfWithNonUserSource,
            self_span,
            "autogroup:self can only be used with users, groups, or supported autogroups",
        );
        d.labels = labels;
        d.help = Some(
            "autogroup:self means each source user's own devices; use users, groups or autogroup:member as sources, and a separate rule for the others".into(),
        );
    }

    fn grant(&mut self, grant: &Grant) {
        for src in &grant.src {
            self.check_selector(src, Position::GrantSrc);
        }
        for dst in &grant.dst {
            self.check_selector(dst, Position::GrantDst);
        }
        for via in &grant.via {
            self.check_selector(via, Position::Via);
        }
        self.src_postures(&grant.src_posture);
        if grant.ip_written == 0 && grant.app.is_empty() {
            let d = self.report(
                Code::EmptyGrant,
                grant.span,
                "ip and app can not both be empty",
            );
            d.help = Some("add \"ip\": [\"*\"] (or specific ports such as \"tcp:443\") or an \"app\" capability".into());
        }
        for cap in &grant.app {
            let name = &cap.name.value;
            match check_capability_name(name) {
                CapabilityName::Fine => {}
                CapabilityName::Rejected(message) => {
                    let d = self.report(Code::InvalidCapability, cap.name.span, message);
                    d.help = Some("capability names look like example.com/cap/name".into());
                }
                CapabilityName::UnknownTailscale => {
                    let d = self.report(
                        Code::UnknownTailscaleCapability,
                        cap.name.span,
                        format!(
                            "{name:?} is not a Tailscale capability tsacl knows: the control plane accepts only the tailscale.com capabilities Tailscale defines, and rejects the others (\"capability name must not be in the tailscale.com domain\")"
                        ),
                    );
                    d.help = Some(match nearest_tailscale_capability(name) {
                        Some(known) => format!("did you mean {known:?}?"),
                        None => "check the name in Tailscale's app capabilities documentation (`tsacl push` has the control plane decide it); a capability of your own takes your own domain, as example.com/cap/name".into(),
                    });
                }
            }
        }
        if !grant.app.is_empty()
            && let Some(internet) = grant
                .dst
                .iter()
                .find(|d| d.selector == Some(Selector::Autogroup(Autogroup::Internet)))
        {
            let at = self.at(grant.app[0].name.span);
            let d = self.report(
                Code::AppWithInternet,
                internet.span,
                "cannot use app grants with autogroup:internet",
            );
            d.labels.push(Label {
                location: at,
                message: "app capability granted here".into(),
            });
            d.help = Some(
                "put the app capabilities in a separate grant without autogroup:internet".into(),
            );
        }
        if let Some(self_dst) = grant
            .dst
            .iter()
            .find(|d| d.selector == Some(Selector::Autogroup(Autogroup::SelfDevices)))
        {
            self.self_sources(self_dst.span, &grant.src, false);
        }
    }

    fn src_postures(&mut self, postures: &[crate::model::Spanned<String>]) {
        for p in postures {
            self.check_posture_reference(p);
        }
    }

    fn ssh_rule(&mut self, rule: &SshRule) {
        let action = rule.action.as_ref().map(|a| a.value.trim());
        match (&rule.action, action) {
            (None, _) | (_, Some("")) => {
                let span = rule.action.as_ref().map_or(rule.span, |a| a.span);
                let d = self.report(Code::SshAction, span, "action must be specified");
                d.help = Some("add \"action\": \"accept\" or \"action\": \"check\"".into());
            }
            (Some(a), Some(trimmed)) if trimmed != "accept" && trimmed != "check" => {
                let d = self.report(
                    Code::SshAction,
                    a.span,
                    format!("{:?} is not a valid action", a.value),
                );
                d.help = Some("SSH actions are \"accept\" or \"check\", in lower case".into());
            }
            _ => {}
        }
        for src in &rule.src {
            self.check_selector(src, Position::SshSrc);
        }
        for dst in &rule.dst {
            self.check_selector(dst, Position::SshDst);
        }
        for recorder in &rule.recorder {
            self.check_selector(recorder, Position::Recorder);
        }
        self.src_postures(&rule.src_posture);
        match &rule.users {
            None => {
                let d = self.report(Code::SshUsers, rule.span, "users must be specified");
                d.help = Some(
                    "add \"users\": [\"autogroup:nonroot\"] or the local user names to allow"
                        .into(),
                );
            }
            Some(users) if users.value.is_empty() => {
                let d = self.report(Code::SshUsers, users.span, "users must be specified");
                d.help = Some("list the local users to allow, e.g. [\"autogroup:nonroot\"]".into());
            }
            Some(users) => {
                for user in &users.value {
                    let name = user.value.trim();
                    if name.is_empty() || name == "*" {
                        let d = self.report(
                            Code::SshUsers,
                            user.span,
                            format!("user {name:?} is not valid"),
                        );
                        d.help = Some("use autogroup:nonroot for every user but root".into());
                    } else if let Some(domain) = name.strip_prefix("localpart:*@") {
                        self.check_domain(domain, user.span, "");
                    }
                }
            }
        }
        if let Some(period) = &rule.check_period {
            self.check_period(period);
        }
        for env in &rule.accept_env {
            if env.value.is_empty() {
                self.report(
                    Code::SshAcceptEnv,
                    env.span,
                    "acceptEnv values cannot be empty",
                )
                .help = Some("remove the empty entry".into());
            }
        }
        self.ssh_combinations(rule, action == Some("check"));
    }

    fn check_period(&mut self, period: &crate::model::Spanned<String>) {
        let text = period.value.trim();
        if text == "always" {
            return;
        }
        let max = 168 * duration::HOUR;
        let message = match duration::parse(text) {
            Err(e) => e,
            Ok(d) if d < 0 => format!(
                "checkPeriod {} must be a positive duration",
                duration::format(d)
            ),
            Ok(d) if d > max => format!(
                "checkPeriod {} is above the max (168h)",
                duration::format(d)
            ),
            Ok(_) => return,
        };
        let d = self.report(Code::SshCheckPeriod, period.span, message);
        d.help = Some(
            "a Go duration such as \"12h\" or \"30m\", at most \"168h\", or \"always\"".into(),
        );
    }

    /// Which sources may reach which SSH destinations.
    fn ssh_combinations(&mut self, rule: &SshRule, check: bool) {
        let is_tagged = |s: &Sel| {
            matches!(
                s.selector,
                Some(Selector::Tag(_) | Selector::Autogroup(Autogroup::Tagged))
            )
        };
        let tagged_src: Vec<&Sel> = rule.src.iter().filter(|s| is_tagged(s)).collect();
        for dst in &rule.dst {
            match &dst.selector {
                Some(Selector::User(user)) => {
                    let same = rule
                        .src
                        .iter()
                        .all(|s| matches!(&s.selector, Some(Selector::User(u)) if u == user));
                    if !same || rule.src.is_empty() {
                        let d = self.report(
                            Code::SshDst,
                            dst.span,
                            "users in dst are only allowed from the same user",
                        );
                        d.help = Some(
                            "use autogroup:self to let each user reach their own devices".into(),
                        );
                    }
                }
                Some(Selector::Autogroup(Autogroup::SelfDevices)) => {
                    self.self_sources(dst.span, &rule.src, false);
                    continue;
                }
                _ => {}
            }
            let user_owned = matches!(
                dst.selector,
                Some(Selector::User(_) | Selector::Autogroup(Autogroup::Member))
            );
            if user_owned {
                for src in &tagged_src {
                    let at = self.at(dst.span);
                    let d = self.report(
                        Code::SshSrc,
                        src.span,
                        format!(
                            "tags in SSH source cannot access user-owned devices ({})",
                            dst.raw.trim()
                        ),
                    );
                    d.labels.push(Label {
                        location: at,
                        message: "user-owned destination".into(),
                    });
                    d.help = Some("use autogroup:tagged or specific tags as destinations".into());
                }
            }
        }
        if check {
            for src in &tagged_src {
                let d = self.report(
                    Code::SshSrc,
                    src.span,
                    "[ssh] \"check\" action does not support tags in src",
                );
                d.help = Some("check mode re-authenticates a user; tagged devices have no user. Use \"accept\"".into());
            }
        }
    }

    fn node_attr(&mut self, attr: &NodeAttr) {
        for target in &attr.target {
            self.check_selector(target, Position::NodeAttrTarget);
        }
        let cgnat = Prefix::parse("100.64.0.0/10").expect("constant");
        for pool in &attr.ip_pool {
            let text = pool.value.trim();
            let message = match Prefix::parse(text) {
                None => format!("IPPool({text}): not a CIDR"),
                Some(p) if !cgnat.contains(&p) => {
                    format!("IPPool({text}): network not within 100.64.0.0/10")
                }
                Some(p) => {
                    let reserved = RESERVED_POOLS
                        .iter()
                        .map(|r| (*r, Prefix::parse(r).expect("constant")))
                        .filter(|(_, r)| r.overlaps(&p))
                        .collect::<Vec<_>>();
                    match reserved.as_slice() {
                        [] => continue,
                        // The control plane's own words (capture e4), for a pool inside one.
                        [(_, r)] if r.contains(&p) => {
                            format!("IPPool({text}): network within reserved range")
                        }
                        _ => format!(
                            "IPPool({text}): network overlaps reserved range{} {} (IP pools can't overlap Tailscale's reserved ranges)",
                            if reserved.len() == 1 { "" } else { "s" },
                            reserved
                                .iter()
                                .map(|(text, _)| *text)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    }
                }
            };
            let d = self.report(Code::IpPool, pool.span, message);
            d.help = Some("choose a prefix inside 100.64.0.0/10 avoiding Tailscale's reserved 100.100.0.0/24, 100.100.100.0/24 and 100.115.92.0/23 (kb/1610, Reserved IP addresses)".into());
        }
    }

    fn auto_approvers(&mut self) {
        let approvers = &self.policy.auto_approvers;
        for route in &approvers.routes {
            for a in &route.approvers {
                self.check_selector(a, Position::AutoApprover);
            }
        }
        for a in &approvers.exit_node {
            self.check_selector(a, Position::AutoApprover);
        }
        for service in &approvers.services {
            match &service.service.selector {
                Some(Selector::Service(_)) => {}
                Some(Selector::Tag(tag)) => {
                    let tag = tag.clone();
                    self.check_tag_reference(&tag, &service.service, Position::AutoApprover);
                }
                _ => {
                    self.report(
                        Code::InvalidSelector,
                        service.service.span,
                        format!(
                            "autoApprovers.services key {:?} must be svc:<name> or a tag",
                            service.service.raw
                        ),
                    );
                }
            }
            for a in &service.approvers {
                self.check_selector(a, Position::AutoApprover);
            }
        }
    }
}

/// What tsacl knows of an app capability's name.
#[derive(Debug, PartialEq, Eq)]
pub enum CapabilityName {
    /// Well formed, and not a reserved name the control plane may refuse.
    Fine,
    /// Under tailscale.com (or tailscale.io) and not a capability tsacl knows: the control
    /// plane accepts it only if Tailscale defines it.
    UnknownTailscale,
    /// The control plane rejects it, with this message.
    Rejected(&'static str),
}

/// Capability names: `{domain}/{path}`, and not reserved by Tailscale.
pub fn check_capability_name(name: &str) -> CapabilityName {
    let Some((domain, path)) = name.split_once('/') else {
        return CapabilityName::Rejected("capability name must have the form {domain}/{path}");
    };
    if name.contains("://") || domain.is_empty() || path.is_empty() || domain.contains(':') {
        return CapabilityName::Rejected("capability name must have the form {domain}/{path}");
    }
    if REJECTED_TAILSCALE_CAPS.contains(&name) {
        return CapabilityName::Rejected("capability name must not be in the tailscale.com domain");
    }
    let reserved = domain == "tailscale.com" || domain == "tailscale.io";
    if reserved && !ALLOWED_TAILSCALE_CAPS.contains(&name) {
        return CapabilityName::UnknownTailscale;
    }
    CapabilityName::Fine
}

/// The known Tailscale capability `name` is most likely a misspelling of. By edit
/// distance alone, not `suggest::did_you_mean`: every name here shares the long prefix
/// `tailscale.com/cap/`, so a similarity score would call any new capability a typo.
fn nearest_tailscale_capability(name: &str) -> Option<&'static str> {
    ALLOWED_TAILSCALE_CAPS
        .iter()
        .map(|known| (strsim::damerau_levenshtein(name, known), *known))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, known)| known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_names() {
        use CapabilityName::*;
        let rejected = |name| matches!(check_capability_name(name), Rejected(_));
        assert_eq!(check_capability_name("example.com/cap/foo"), Fine);
        assert_eq!(check_capability_name("tailscale.com/cap/drive"), Fine);
        assert_eq!(check_capability_name("tailscale.com/cap/databases"), Fine);
        assert_eq!(check_capability_name("tailscale.com/cap/pam"), Fine);
        assert!(rejected("tailscale.com/cap/funnel"));
        assert!(rejected("tailscale.com/cap/relay-target"));
        assert!(rejected("tailscale.com/cap/ingress"));
        assert!(rejected("https://example.com/cap"));
        assert!(rejected("nocap"));
        assert_eq!(
            check_capability_name("tailscale.com/cap/something-new"),
            UnknownTailscale
        );
        assert_eq!(
            check_capability_name("tailscale.io/cap/x"),
            UnknownTailscale
        );
        assert_eq!(
            nearest_tailscale_capability("tailscale.com/cap/drvie"),
            Some("tailscale.com/cap/drive")
        );
        assert_eq!(
            nearest_tailscale_capability("tailscale.com/cap/something-new"),
            None
        );
    }
}
