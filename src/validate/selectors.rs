//! References (is every tag, group, host, ipset defined?) and placement (is this kind of
//! selector allowed here?), with the control plane's wording for each position.

use super::Validator;
use crate::model::{Autogroup, Sel, Selector};
use crate::rules::Code;
use crate::suggest::did_you_mean;

/// Where a selector was written; decides what it may be and how errors are worded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Position<'s> {
    AclSrc,
    /// The host part of an ACL destination, as written.
    AclDst(&'s str),
    GrantSrc,
    GrantDst,
    SshSrc,
    SshDst,
    NodeAttrTarget,
    TagOwner,
    AutoApprover,
    Via,
    Recorder,
}

impl Validator<'_> {
    /// Check one selector in one position.
    pub(crate) fn check_selector(&mut self, sel: &Sel, pos: Position<'_>) {
        let Some(selector) = &sel.selector else {
            return; // Unparseable: reported while lowering.
        };
        if let Some((code, message)) = placement_error(selector, pos) {
            let dns = match selector {
                Selector::Host(h) if pos == Position::SshDst => self.dns_name_hint(h).map(|hint| {
                    format!(
                        "{:?} looks like a DNS name, but policies never resolve names: {}{hint}",
                        h.trim(),
                        placement_help(pos)
                    )
                }),
                Selector::Host(h) => self.dns_name_help(h),
                _ => None,
            };
            let d = self.report(code, sel.span, message);
            d.help = Some(dns.unwrap_or_else(|| placement_help(pos).into()));
            return;
        }
        match selector {
            Selector::Tag(tag) => self.check_tag_reference(tag, sel, pos),
            Selector::Group(group) => self.check_group_reference(group, sel),
            Selector::Host(host) => self.check_host_reference(host, sel),
            Selector::IpSet(name) if !self.ipsets.contains(name.as_str()) => {
                let suggestion = did_you_mean(name, self.ipsets.iter().copied());
                let d = self.report(
                    Code::UndefinedIpSet,
                    sel.span,
                    format!("ipset not found: {name:?}"),
                );
                d.help = Some(match suggestion {
                    Some(s) => format!("did you mean {s:?}?"),
                    None => {
                        format!("define it in \"ipsets\": {{{name:?}: [\"add 192.0.2.0/24\"]}}")
                    }
                });
            }
            Selector::UserDomain(domain) => {
                let prefix = if pos == Position::SshSrc {
                    "[ssh] "
                } else {
                    ""
                };
                self.check_domain(domain, sel.span, prefix);
            }
            Selector::Autogroup(Autogroup::Members) => {
                self.note_legacy_members(sel.span);
            }
            Selector::Autogroup(Autogroup::Member) => {
                self.note_member(sel.span);
            }
            _ => {}
        }
    }

    pub(crate) fn check_tag_reference(&mut self, tag: &str, sel: &Sel, pos: Position<'_>) {
        if self.tags.contains(tag) {
            return;
        }
        let message = match pos {
            Position::AclSrc | Position::GrantSrc => format!("src=tag not found: {tag:?}"),
            Position::AclDst(host) => format!("dst={host:?}: tag not found: {tag:?}"),
            Position::GrantDst => format!("dst={:?}: tag not found: {tag:?}", sel.raw.trim()),
            Position::Via => format!("tag {tag:?} not found"),
            _ => format!("tag not found: {tag:?}"),
        };
        let suggestion = did_you_mean(tag, self.tags.iter().copied());
        let d = self.report(Code::UndefinedTag, sel.span, message);
        d.help = Some(match suggestion {
            Some(s) => format!("did you mean {s:?}? Every tag must be defined in tagOwners"),
            None => format!("define it in tagOwners, e.g. {tag:?}: [\"autogroup:admin\"]"),
        });
    }

    fn check_group_reference(&mut self, group: &str, sel: &Sel) {
        // `group:name@domain` is a SCIM-synced group: defined by the identity provider.
        if self.groups.contains(group) || group.contains('@') {
            return;
        }
        let suggestion = did_you_mean(group, self.groups.iter().copied());
        let d = self.report(
            Code::UndefinedGroup,
            sel.span,
            format!("group not found: {group:?}"),
        );
        d.help = Some(match suggestion {
            Some(s) => format!("did you mean {s:?}?"),
            None => format!(
                "define it in \"groups\": {{{group:?}: [\"alice@example.com\"]}}; if CI fills in `groups` from a template, check the generated file (or pass --severity TSA012=warning)"
            ),
        });
    }

    fn check_host_reference(&mut self, host: &str, sel: &Sel) {
        if self.hosts.contains(host) {
            return;
        }
        let dns = self.dns_name_help(host);
        let suggestion = did_you_mean(host, self.hosts.iter().copied());
        let d = self.report(
            Code::UndefinedHost,
            sel.span,
            format!("{host:?}: invalid address"),
        );
        d.help = Some(match (dns, suggestion) {
            (Some(h), _) => h,
            (None, Some(s)) => format!("no host alias named {host:?}; did you mean {s:?}?"),
            (None, None) => format!(
                "{host:?} is neither a key of \"hosts\" nor an IP address; users are written with @ (alice@example.com)"
            ),
        });
    }

    /// For a bare name that looks like a DNS name (`db.example.ts.net`): policies never
    /// resolve names, so say what to write instead, with the host alias or the inventory's
    /// device of that name when there is one. `None` for anything else.
    pub(crate) fn dns_name_help(&self, name: &str) -> Option<String> {
        let hint = self.dns_name_hint(name)?;
        Some(format!(
            "{:?} looks like a DNS name, but policies never resolve names: write the device's tag, a host alias (\"hosts\"), or its IP address{hint}",
            name.trim()
        ))
    }

    /// `Some` when `name` looks like a DNS name: what the inventory or the host aliases
    /// know about it (`; the inventory's device ... has the address ...`), or nothing.
    pub(crate) fn dns_name_hint(&self, name: &str) -> Option<String> {
        let name = name.trim();
        let labels: Vec<&str> = name.split('.').collect();
        let looks_like_dns = labels.len() >= 2
            && labels
                .iter()
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            && labels
                .last()
                .is_some_and(|tld| tld.chars().any(|c| c.is_ascii_alphabetic()))
            && name.parse::<std::net::IpAddr>().is_err();
        if !looks_like_dns {
            return None;
        }
        let first = labels[0];
        let device = self.options.inventory.as_ref().and_then(|inv| {
            inv.devices
                .iter()
                .find(|d| d.name.trim_end_matches('.').eq_ignore_ascii_case(name))
                .or_else(|| {
                    inv.devices
                        .iter()
                        .find(|d| d.hostname.eq_ignore_ascii_case(first))
                })
        });
        if let Some(d) = device {
            let address = d
                .addresses
                .iter()
                .find(|a| a.is_ipv4())
                .or(d.addresses.first())
                .map(|a| format!(" has the address {a}"));
            let tags = (!d.tags.is_empty()).then(|| format!(" carries {}", d.tags.join(", ")));
            let owner = d.owner().map(|u| format!(" is owned by {u}"));
            let what: Vec<String> = tags.into_iter().chain(owner).chain(address).collect();
            if what.is_empty() {
                return Some(String::new());
            }
            return Some(format!(
                "; the inventory's device {}{}",
                d.name,
                what.join(" and")
            ));
        }
        if self.hosts.contains(first) {
            return Some(format!("; did you mean the host alias {first:?}?"));
        }
        Some(String::new())
    }

    /// `user:*@domain` / `localpart:*@domain`: only domains of the tailnet. Without the
    /// tailnet's domains, a domain holding `*` is still no tailnet's (capture
    /// ssh-malformed-user-localpart-multi-glob: `localpart:*@*`): a login's domain is a
    /// name, never a pattern.
    pub(crate) fn check_domain(&mut self, domain: &str, span: crate::syntax::Span, prefix: &str) {
        let help = match &self.options.tailnet_domains {
            Some(domains) if !domains.iter().any(|d| d == domain) => {
                format!("the tailnet's domains are: {}", domains.join(", "))
            }
            None if domain.contains('*') => "a domain is matched as written, never as a                 pattern: name one of the tailnet's domains (user:*@example.com), or use                 autogroup:member for every member"
                .to_string(),
            _ => return,
        };
        if domain.is_empty() {
            return;
        }
        let d = self.report(
            Code::DomainNotInTailnet,
            span,
            format!(
                "{prefix}{domain} is not associated with this Tailnet and cannot be used in user:*@<domain> expressions"
            ),
        );
        d.help = Some(help);
    }
}

/// Is this kind of selector allowed in this position? `Some((code, message))` if not.
fn placement_error(selector: &Selector, pos: Position<'_>) -> Option<(Code, String)> {
    use Autogroup as A;
    use Selector as S;
    let not_allowed = |m: String| Some((Code::SelectorNotAllowed, m));
    // Only rendered for a message: most selectors are fine, and allocating for each of
    // them is measurable on large policies.
    let shown = Shown(selector);
    if let S::Range(..) = selector {
        return not_allowed(format!("{shown:?}: IP ranges are only valid in ipsets"));
    }
    if let S::Autogroup(A::Nonroot) = selector {
        return not_allowed("autogroup:nonroot is only valid in SSH users".into());
    }
    match pos {
        Position::AclSrc | Position::GrantSrc => match selector {
            S::Autogroup(A::SelfDevices) => {
                not_allowed("\"autogroup:self\" not valid on the src side of a rule".into())
            }
            S::Autogroup(A::Internet) => {
                not_allowed("autogroup:internet can only be used in ACL destinations".into())
            }
            S::Service(_) => not_allowed(format!("{shown:?}: services are only valid as destinations")),
            _ => None,
        },
        Position::AclDst(_) | Position::GrantDst => match selector {
            S::Autogroup(A::DangerAll) => not_allowed("cannot use autogroup:danger-all as a dst".into()),
            S::Autogroup(A::Shared) => not_allowed("autogroup:shared can only be used as a src".into()),
            S::Prefix(p) if pos == Position::GrantDst && p.len == 0 => Some((
                Code::AllAddressesDst,
                format!("dst {shown:?}: to allow all IP addresses, use \"*\" or \"autogroup:internet\""),
            )),
            _ => None,
        },
        Position::SshSrc => match selector {
            S::User(_) | S::UserDomain(_) | S::Group(_) | S::Tag(_) => None,
            S::Autogroup(a) if a.is_user_set() || *a == A::Tagged => None,
            _ => Some((Code::SshSrc, format!("invalid src {shown:?}"))),
        },
        Position::SshDst => match selector {
            S::User(_) | S::Tag(_) | S::Autogroup(A::Tagged | A::SelfDevices) => None,
            _ => Some((Code::SshDst, format!("invalid dst {shown:?}"))),
        },
        Position::NodeAttrTarget => match selector {
            S::Autogroup(A::SelfDevices) => Some((
                Code::NodeAttrTarget,
                "autogroup:self is not a valid nodeAttrs target (the control plane fails with \"internal server error\")".into(),
            )),
            S::Autogroup(a) if !(a.is_user_set() || *a == A::Tagged) => Some((
                Code::NodeAttrTarget,
                format!("nodeAttrs target does not support {shown:?}"),
            )),
            S::IpSet(_) | S::Service(_) => Some((
                Code::NodeAttrTarget,
                format!("nodeAttrs target does not support {shown:?}"),
            )),
            _ => None,
        },
        Position::TagOwner | Position::AutoApprover => {
            let what = if pos == Position::TagOwner { "tag owner" } else { "auto approver" };
            match selector {
                S::User(_) | S::UserDomain(_) | S::Group(_) | S::Tag(_) => None,
                S::Autogroup(a) if a.is_user_set() || *a == A::Tagged => None,
                _ => not_allowed(format!("invalid {what} {shown:?}")),
            }
        }
        Position::Via => match selector {
            S::Tag(_) => None,
            _ => Some((Code::ViaNotTag, "via can only be a tag".into())),
        },
        Position::Recorder => match selector {
            S::Tag(_) => None,
            _ => not_allowed(format!("recorder {shown:?} must be a tag")),
        },
    }
}

/// Displays a selector, `Debug`-quoted like a Go `%q`.
struct Shown<'a>(&'a Selector);

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0.to_string())
    }
}

fn placement_help(pos: Position<'_>) -> &'static str {
    match pos {
        Position::AclSrc | Position::GrantSrc => {
            "sources are users, groups, tags, hosts, IPs, CIDRs, ipsets, * and the autogroups member, tagged, shared, danger-all and the role autogroups"
        }
        Position::AclDst(_) | Position::GrantDst => {
            "destinations are users, groups, tags, hosts, IPs, CIDRs, ipsets, svc:, *, and the autogroups member, tagged, self, internet and the role autogroups"
        }
        Position::SshSrc => {
            "SSH sources are users, groups, tags, user:*@domain, autogroup:member, autogroup:tagged and the role autogroups"
        }
        Position::SshDst => {
            "SSH destinations are tags, autogroup:tagged, autogroup:self, or a user (only from that same user); port 22 is implied"
        }
        Position::NodeAttrTarget => {
            "targets are *, users, groups, tags, hosts, IPs, CIDRs, autogroup:member, autogroup:tagged and the role autogroups"
        }
        Position::TagOwner | Position::AutoApprover => {
            "owners and approvers are users, groups, tags, user:*@domain, autogroup:member, autogroup:tagged and the role autogroups"
        }
        Position::Via => "via takes tags of exit nodes, subnet routers or app connectors",
        Position::Recorder => "recorder takes the tag of a tsrecorder node",
    }
}
