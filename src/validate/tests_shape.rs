//! The shape of `tests` and `sshTests` entries. Whether a well-formed test passes is the
//! semantic engine's business; here are the entries the control plane can never pass
//! (it answers `test(s) failed` for both kinds).

use super::Validator;
use crate::model::lower::split_host_port;
use crate::model::{Autogroup, Protocol, Selector, Spanned};
use crate::rules::Code;

/// A test destination `host:port`: one host, one numeric port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestDestination {
    pub host: Selector,
    pub port: u16,
}

/// Parse a test destination; the error says why the control plane cannot test it.
pub fn parse_test_destination(text: &str) -> Result<TestDestination, String> {
    let text = text.trim();
    let (host, port) = split_host_port(text).map_err(|e| e.to_string())?;
    if port == "*" || port.contains(',') || port.contains('-') || port.is_empty() {
        return Err(format!(
            "port {port:?}: test destination port must be a single port"
        ));
    }
    let port: u16 = port.parse().map_err(|_| {
        format!("port {port:?}: test destination port must be a single number from 0 to 65535")
    })?;
    let host = Selector::parse(&host)
        .map_err(|_| format!("{host:?} is not a user, group, tag, host alias or IP"))?;
    match &host {
        Selector::Prefix(p) if !(p.bare && p.is_single_address()) => Err(format!(
            "{p}: test destination must be a single host, not a CIDR range"
        )),
        Selector::Autogroup(a) => Err(format!("{} not valid as a test destination", a.name())),
        Selector::Wildcard | Selector::Range(..) | Selector::IpSet(_) | Selector::UserDomain(_) => {
            Err(format!(
                "{host}: test destinations must be one user, group, tag, host alias or IP"
            ))
        }
        _ => Ok(TestDestination { host, port }),
    }
}

/// Whether one of `spans` (sorted by start) lies inside `span`.
fn within(spans: &[(u32, u32)], span: crate::syntax::Span) -> bool {
    let first = spans.partition_point(|&(start, _)| start < span.start);
    spans[first..]
        .iter()
        .take_while(|&&(start, _)| start < span.end)
        .any(|&(_, end)| end <= span.end)
}

impl Validator<'_> {
    /// Where values Go cannot decode into their field (TSA004) lie in this file, sorted:
    /// the control plane answers with that decoding error and checks nothing further, so a
    /// list left empty by it is not reported again as missing.
    fn undecodable(&self) -> Vec<(u32, u32)> {
        let mut spans: Vec<(u32, u32)> = self
            .diags
            .iter()
            .filter(|d| d.code == Code::WrongType && d.primary.file == self.file)
            .map(|d| (d.primary.span.start, d.primary.span.end))
            .collect();
        spans.sort_unstable();
        spans
    }

    pub(super) fn tests(&mut self) {
        let policy = self.policy;
        let undecodable = self.undecodable();
        for test in &policy.tests {
            self.test_src(test.src.as_ref(), test.span, "test");
            if test.accept.is_empty() && test.deny.is_empty() && !within(&undecodable, test.span) {
                self.report(
                    Code::InvalidTest,
                    test.span,
                    "test entry must have at least one of \"accept\" or \"deny\"",
                )
                .help =
                    Some("a test with nothing to check always fails on the control plane".into());
            }
            if let Some(proto) = &test.proto
                && !proto.value.is_empty()
                && let Err(e) = Protocol::parse(proto.value.trim())
            {
                self.report(Code::InvalidTest, proto.span, format!("test proto: {e}"));
            }
            for (list, dsts) in [("accept", &test.accept), ("deny", &test.deny)] {
                for dst in dsts {
                    self.test_dst(list, dst);
                }
            }
        }
        for test in &policy.ssh_tests {
            self.ssh_test(test, &undecodable);
        }
    }

    fn test_src(
        &mut self,
        src: Option<&Spanned<String>>,
        span: crate::syntax::Span,
        what: &str,
    ) -> Option<Selector> {
        let Some(src) = src.filter(|s| !s.value.trim().is_empty()) else {
            let at = src.map_or(span, |s| s.span);
            self.report(
                Code::InvalidTest,
                at,
                format!("{what} entry must have a non-empty src"),
            )
            .help = Some("src is one user, group, tag, host alias or Tailscale IP".into());
            return None;
        };
        let selector = match Selector::parse(&src.value) {
            Ok(s) => s,
            Err(_) => {
                self.report(
                    Code::InvalidTest,
                    src.span,
                    format!(
                        "{what} src {:?} is not a user, group, tag, host alias or IP",
                        src.value
                    ),
                );
                return None;
            }
        };
        match &selector {
            Selector::Wildcard
            | Selector::Range(..)
            | Selector::IpSet(_)
            | Selector::Service(_)
            | Selector::UserDomain(_) => {
                self.report(
                    Code::InvalidTest,
                    src.span,
                    format!(
                        "{what} src must be one user, group, tag, host alias or IP, not {:?}",
                        src.value
                    ),
                )
                .help = Some("write one test per source".into());
                return None;
            }
            Selector::Prefix(p) if !p.is_single_address() => {
                self.report(
                    Code::InvalidTest,
                    src.span,
                    format!("{what} src must be a single host, not a CIDR range"),
                );
                return None;
            }
            _ => {}
        }
        self.check_test_reference(&selector, src);
        Some(selector)
    }

    /// Unknown names make a test fail on the control plane (`test(s) failed`).
    fn check_test_reference(&mut self, selector: &Selector, at: &Spanned<String>) {
        let (defined, names) = match selector {
            Selector::Tag(t) => (self.tags.contains(t.as_str()), &self.tags),
            Selector::Group(g) => (
                g.contains('@') || self.groups.contains(g.as_str()),
                &self.groups,
            ),
            Selector::Host(h) => (self.hosts.contains(h.as_str()), &self.hosts),
            Selector::Autogroup(
                Autogroup::SelfDevices | Autogroup::Internet | Autogroup::Nonroot,
            ) => {
                self.report(
                    Code::InvalidTest,
                    at.span,
                    format!("{selector} is not valid in a test"),
                );
                return;
            }
            _ => return,
        };
        if defined {
            return;
        }
        let candidates: Vec<&str> = names.iter().copied().collect();
        let name = selector.to_string();
        let what = selector.kind_name();
        let suggestion = crate::suggest::did_you_mean(&name, candidates);
        let dns = match selector {
            Selector::Host(h) => self.dns_name_help(h),
            _ => None,
        };
        let d = self.report(
            Code::InvalidTest,
            at.span,
            format!("test {what} {name:?} is not defined"),
        );
        d.help = Some(match (dns, suggestion) {
            (Some(h), _) => format!("{h} (the control plane answers \"test(s) failed\")"),
            (None, Some(s)) => format!("did you mean {s:?}? (the control plane answers \"test(s) failed\")"),
            (None, None) => "tests can only name defined tags, groups and host aliases (the control plane answers \"test(s) failed\")".into(),
        });
    }

    fn test_dst(&mut self, list: &str, dst: &Spanned<String>) {
        match parse_test_destination(&dst.value) {
            Err(why) => {
                let d = self.report(
                    Code::InvalidTest,
                    dst.span,
                    format!("{list} {:?}: {why}", dst.value),
                );
                d.help = Some("test destinations are host:port with one numeric port, e.g. \"tag:web:443\"; write one entry per port".into());
            }
            Ok(parsed) => {
                if let Selector::Host(name) = &parsed.host
                    && let Some(host) = self.host_defs.get(name.as_str())
                    && host.prefix.is_some_and(|p| !p.is_single_address())
                {
                    let d = self.report(
                                Code::InvalidTest,
                                dst.span,
                                format!("{list} {:?}: host {name:?} is a CIDR ({}); test destinations must be a single host", dst.value, host.value.value),
                            );
                    d.help = Some("test against one address inside the range".into());
                    return;
                }
                let host_text = split_host_port(dst.value.trim())
                    .map(|(h, _)| h.into_owned())
                    .unwrap_or_default();
                self.check_test_reference(
                    &parsed.host,
                    &Spanned {
                        value: host_text,
                        span: dst.span,
                    },
                );
            }
        }
    }

    fn ssh_test(&mut self, test: &crate::model::SshTest, undecodable: &[(u32, u32)]) {
        if let Some(src) = self.test_src(test.src.as_ref(), test.span, "SSH tests")
            && let Selector::Autogroup(_) = src
        {
            let at = test.src.as_ref().map_or(test.span, |s| s.span);
            let d = self.report(
                Code::InvalidSshTest,
                at,
                format!(
                    "SSH tests src contains disallowed element {:?}",
                    src.to_string()
                ),
            );
            d.help = Some("test one user, group, tag, host alias or IP".into());
        }
        if test.dst.is_empty() {
            let d = self.report(
                Code::SshTestWithoutDst,
                test.span,
                "SSH tests entry has no dst: it tests nothing",
            );
            d.help = Some("name the devices it tests, as \"dst\": [\"tag:server\"]".into());
        }
        for dst in &test.dst {
            let text = dst.value.trim();
            let message = match Selector::parse(text) {
                Ok(Selector::Tag(tag))
                    if tag.matches(':').count() > 1 || !self.tags.contains(tag.as_str()) =>
                {
                    Some(format!("SSH tests dst contains unknown tag {tag:?}"))
                }
                Ok(
                    Selector::Autogroup(_)
                    | Selector::Wildcard
                    | Selector::Range(..)
                    | Selector::IpSet(_)
                    | Selector::Service(_)
                    | Selector::UserDomain(_),
                ) => Some(format!(
                    "SSH tests dst contains disallowed element {text:?}"
                )),
                Ok(Selector::Prefix(p)) if !p.is_single_address() || !p.addr.is_ipv4() => Some(
                    format!("SSH tests dst contains disallowed element {text:?}"),
                ),
                Ok(s @ (Selector::Group(_) | Selector::Host(_))) => {
                    self.check_test_reference(&s, dst);
                    None
                }
                Ok(_) => None,
                Err(_) => Some(format!(
                    "SSH tests dst contains disallowed element {text:?}"
                )),
            };
            if let Some(message) = message {
                let d = self.report(Code::InvalidSshTest, dst.span, message);
                d.help = Some("SSH test destinations are users, groups, tags, host aliases or IPv4 addresses, without a port".into());
            }
        }
        if test.accept.is_empty()
            && test.check.is_empty()
            && test.deny.is_empty()
            && !within(undecodable, test.span)
        {
            self.report(
                Code::InvalidSshTest,
                test.span,
                "SSH tests entry must have at least one of \"accept\", \"check\" or \"deny\"",
            );
        }
        for user in test.accept.iter().chain(&test.check).chain(&test.deny) {
            if user.value.trim().is_empty() {
                self.report(
                    Code::InvalidSshTest,
                    user.span,
                    "SSH tests user \"\" is not valid",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_destinations() {
        assert_eq!(parse_test_destination("tag:server:22").unwrap().port, 22);
        assert!(parse_test_destination("[fd7a:115c:a1e0::10]:22").is_ok());
        assert!(parse_test_destination("webserver:*").is_err());
        assert!(parse_test_destination("webserver:22,3306").is_err());
        assert!(parse_test_destination("webserver:8000-8100").is_err());
        assert!(parse_test_destination("webserver:-1").is_err());
        assert!(parse_test_destination("webserver:notaport").is_err());
        assert!(parse_test_destination("10.0.0.0/8:22").is_err());
        assert!(parse_test_destination("100.64.0.16/32:22").is_err());
        assert!(parse_test_destination("autogroup:internet:443").is_err());
        assert!(parse_test_destination("autogroup:self:22").is_err());
        assert!(parse_test_destination("*:*").is_err());
    }
}
