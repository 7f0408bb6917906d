//! Validation: the control plane's rules, checked offline on the policy model.
//!
//! Every problem is collected (never stop at the first). Messages are the control plane's
//! own text where it is known (see `../shared/reference/tailscale-policy.md` §5), so a
//! user who has seen the admin console's error recognises it; the help line says what to
//! do. Where the control plane's behaviour is unknown, tsacl reports an error only for
//! what cannot possibly work and says so in the code.

#[cfg(test)]
mod cases;
mod definitions;
pub mod duration;
mod rules;
mod selectors;
mod tests_shape;

use crate::diagnostics::{Diagnostic, FileId, Location};
use crate::model::Policy;
use crate::rules::Code;
use crate::syntax::Span;
// Names are short strings looked up once per selector: FxHash is several times faster than
// SipHash here, and these sets never hold attacker-chosen keys that matter for DoS.
use rustc_hash::FxHashSet as HashSet;

pub use tests_shape::{TestDestination, parse_test_destination};

/// What validation may know beyond the policy text.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Domains associated with the tailnet, for `user:*@domain` and `localpart:*@domain`.
    /// `None`: unknown, so those selectors are not checked (only the server can).
    pub tailnet_domains: Option<Vec<String>>,
    /// Devices and users to evaluate `tests` against; without one, every principal the
    /// policy names gets a stand-in device.
    pub inventory: Option<crate::engine::Inventory>,
}

/// Validate `policy` (read from `file`), appending diagnostics to `diags`.
pub fn validate(policy: &Policy, file: FileId, options: &Options, diags: &mut Vec<Diagnostic>) {
    let mut v = Validator::new(policy, file, options, diags);
    v.definitions();
    v.rules();
    v.tests();
    v.legacy_autogroup_mix();
}

pub(crate) struct Validator<'a> {
    policy: &'a Policy,
    file: FileId,
    options: &'a Options,
    diags: &'a mut Vec<Diagnostic>,
    tags: HashSet<&'a str>,
    groups: HashSet<&'a str>,
    hosts: HashSet<&'a str>,
    host_defs: rustc_hash::FxHashMap<&'a str, &'a crate::model::HostDef>,
    ipsets: HashSet<&'a str>,
    postures: HashSet<&'a str>,
    /// First use of `autogroup:member` and of its legacy spelling `autogroup:members`.
    first_member: Option<Span>,
    first_members: Option<Span>,
}

impl<'a> Validator<'a> {
    fn new(
        policy: &'a Policy,
        file: FileId,
        options: &'a Options,
        diags: &'a mut Vec<Diagnostic>,
    ) -> Self {
        Validator {
            policy,
            file,
            options,
            diags,
            tags: policy
                .tag_owners
                .iter()
                .map(|t| t.tag.value.as_str())
                .collect(),
            groups: policy
                .groups
                .iter()
                .map(|g| g.name.value.as_str())
                .collect(),
            hosts: policy.hosts.iter().map(|h| h.name.value.as_str()).collect(),
            host_defs: policy
                .hosts
                .iter()
                .map(|h| (h.name.value.as_str(), h))
                .collect(),
            ipsets: policy
                .ipsets
                .iter()
                .map(|s| s.name.value.as_str())
                .collect(),
            postures: policy
                .postures
                .iter()
                .map(|p| p.name.value.as_str())
                .collect(),
            first_member: None,
            first_members: None,
        }
    }

    fn at(&self, span: Span) -> Location {
        Location {
            file: self.file,
            span,
        }
    }

    fn note_member(&mut self, span: Span) {
        self.first_member.get_or_insert(span);
    }

    fn note_legacy_members(&mut self, span: Span) {
        self.first_members.get_or_insert(span);
    }

    fn legacy_autogroup_mix(&mut self) {
        if let (Some(member), Some(members)) = (self.first_member, self.first_members) {
            let at = self.at(member);
            let d = self.report(
                Code::LegacyAutogroupMix,
                members,
                "autogroup:members and autogroup:member cannot both be used in one policy",
            );
            d.labels.push(crate::diagnostics::Label {
                location: at,
                message: "autogroup:member used here".into(),
            });
            d.help = Some(
                "autogroup:members is the legacy spelling; use autogroup:member everywhere".into(),
            );
        }
    }

    fn report(&mut self, code: Code, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        let d = Diagnostic::new(code, self.at(span), message);
        self.diags.push(d);
        self.diags.last_mut().unwrap()
    }
}

/// `tailcfg.CheckTag`: the control plane's tag-name rules; `Err` is its message.
pub fn check_tag_name(tag: &str) -> Result<(), &'static str> {
    let Some(name) = tag.strip_prefix("tag:") else {
        return Err("tags must start with 'tag:'");
    };
    let mut chars = name.chars();
    match chars.next() {
        None => Err("tag names must not be empty"),
        Some(c) if !c.is_ascii_alphabetic() => {
            Err("tag names must start with a letter, after 'tag:'")
        }
        Some(_) if chars.all(|c| c.is_ascii_alphanumeric() || c == '-') => Ok(()),
        Some(_) => Err("tag names can only contain numbers, letters, or dashes"),
    }
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn tag_names() {
        assert!(check_tag_name("tag:k8s-operator").is_ok());
        assert_eq!(check_tag_name("k8s"), Err("tags must start with 'tag:'"));
        assert_eq!(check_tag_name("tag:"), Err("tag names must not be empty"));
        assert_eq!(
            check_tag_name("tag:сервер"),
            Err("tag names must start with a letter, after 'tag:'")
        );
        assert_eq!(
            check_tag_name("tag:web_server"),
            Err("tag names can only contain numbers, letters, or dashes")
        );
    }
}
