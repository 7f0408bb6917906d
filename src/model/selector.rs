//! Selectors (`src`, `dst`, targets, owners...) parsed into a typed form.
//!
//! Classification follows the control plane: surrounding whitespace is trimmed, then an IP
//! or CIDR wins, then `*`, then the `prefix:` forms, then anything with `@` is a user and a
//! bare word is a host alias.

use super::addr::Prefix;
use std::fmt;
use std::net::IpAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Autogroup {
    Member,
    /// The legacy spelling `autogroup:members`.
    Members,
    Tagged,
    SelfDevices,
    Internet,
    Shared,
    DangerAll,
    Nonroot,
    Owner,
    Admin,
    NetworkAdmin,
    ItAdmin,
    BillingAdmin,
    Auditor,
}

impl Autogroup {
    pub const ALL: &'static [Autogroup] = &[
        Autogroup::Member,
        Autogroup::Members,
        Autogroup::Tagged,
        Autogroup::SelfDevices,
        Autogroup::Internet,
        Autogroup::Shared,
        Autogroup::DangerAll,
        Autogroup::Nonroot,
        Autogroup::Owner,
        Autogroup::Admin,
        Autogroup::NetworkAdmin,
        Autogroup::ItAdmin,
        Autogroup::BillingAdmin,
        Autogroup::Auditor,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Autogroup::Member => "autogroup:member",
            Autogroup::Members => "autogroup:members",
            Autogroup::Tagged => "autogroup:tagged",
            Autogroup::SelfDevices => "autogroup:self",
            Autogroup::Internet => "autogroup:internet",
            Autogroup::Shared => "autogroup:shared",
            Autogroup::DangerAll => "autogroup:danger-all",
            Autogroup::Nonroot => "autogroup:nonroot",
            Autogroup::Owner => "autogroup:owner",
            Autogroup::Admin => "autogroup:admin",
            Autogroup::NetworkAdmin => "autogroup:network-admin",
            Autogroup::ItAdmin => "autogroup:it-admin",
            Autogroup::BillingAdmin => "autogroup:billing-admin",
            Autogroup::Auditor => "autogroup:auditor",
        }
    }

    pub fn from_name(name: &str) -> Option<Autogroup> {
        Self::ALL.iter().copied().find(|a| a.name() == name)
    }

    /// Role autogroups: the devices of users holding a tailnet role.
    pub fn is_role(self) -> bool {
        matches!(
            self,
            Autogroup::Owner
                | Autogroup::Admin
                | Autogroup::NetworkAdmin
                | Autogroup::ItAdmin
                | Autogroup::BillingAdmin
                | Autogroup::Auditor
        )
    }

    /// Autogroups that stand for users' own (untagged) devices.
    pub fn is_user_set(self) -> bool {
        self.is_role() || matches!(self, Autogroup::Member | Autogroup::Members)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Selector {
    /// `*`
    Wildcard,
    /// A login name: anything with `@` that is no other form.
    User(String),
    /// `user:*@domain`: the domain.
    UserDomain(String),
    /// `group:name` (the full text).
    Group(String),
    /// `tag:name` (the full text).
    Tag(String),
    Autogroup(Autogroup),
    /// A key of `hosts`.
    Host(String),
    /// An IP address or CIDR.
    Prefix(Prefix),
    /// `a-b`, only valid in ipsets.
    Range(IpAddr, IpAddr),
    /// `ipset:name` (the full text).
    IpSet(String),
    /// `svc:name` (the full text).
    Service(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectorError {
    UnknownAutogroup(String),
    Invalid(String),
}

impl Selector {
    pub fn parse(raw: &str) -> Result<Selector, SelectorError> {
        let text = raw.trim();
        // Addresses start with a hex digit or ':'; skip the address parser for the
        // common `tag:`/`group:`/`user@` forms.
        let maybe_address = text
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_hexdigit() || b == b':');
        if maybe_address && let Some(prefix) = Prefix::parse(text) {
            return Ok(Selector::Prefix(prefix));
        }
        if text == "*" {
            return Ok(Selector::Wildcard);
        }
        if let Some(name) = text.strip_prefix("autogroup:") {
            let _ = name;
            return Autogroup::from_name(text)
                .map(Selector::Autogroup)
                .ok_or_else(|| SelectorError::UnknownAutogroup(text.to_string()));
        }
        if text.starts_with("group:") {
            return Ok(Selector::Group(text.to_string()));
        }
        if text.starts_with("tag:") {
            return Ok(Selector::Tag(text.to_string()));
        }
        if text.starts_with("ipset:") {
            return Ok(Selector::IpSet(text.to_string()));
        }
        if text.starts_with("svc:") {
            return Ok(Selector::Service(text.to_string()));
        }
        if let Some(domain) = text.strip_prefix("user:*@") {
            return Ok(Selector::UserDomain(domain.to_string()));
        }
        if let Some((a, b)) = text.split_once('-')
            && let (Ok(a), Ok(b)) = (a.parse::<IpAddr>(), b.parse::<IpAddr>())
        {
            return Ok(Selector::Range(a, b));
        }
        if text.contains('@') {
            return Ok(Selector::User(text.to_string()));
        }
        if !text.contains(':') && !text.is_empty() {
            return Ok(Selector::Host(text.to_string()));
        }
        Err(SelectorError::Invalid(text.to_string()))
    }

    /// Whether the selector names addresses (an IP, CIDR, range, host alias or IP set)
    /// rather than devices by who they are: which devices it takes in depends on their
    /// addresses.
    pub fn names_addresses(&self) -> bool {
        matches!(
            self,
            Selector::Prefix(_) | Selector::Range(..) | Selector::Host(_) | Selector::IpSet(_)
        )
    }

    /// [`Self::kind_name`] with its indefinite article ("an autogroup", "a tag").
    pub fn kind_with_article(&self) -> String {
        let kind = self.kind_name();
        let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u', 'I']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {kind}")
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            Selector::Wildcard => "wildcard",
            Selector::User(_) => "user",
            Selector::UserDomain(_) => "domain user set",
            Selector::Group(_) => "group",
            Selector::Tag(_) => "tag",
            Selector::Autogroup(_) => "autogroup",
            Selector::Host(_) => "host alias",
            Selector::Prefix(p) if p.is_single_address() && p.bare => "IP address",
            Selector::Prefix(_) => "CIDR",
            Selector::Range(..) => "IP range",
            Selector::IpSet(_) => "ipset",
            Selector::Service(_) => "service",
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Wildcard => f.write_str("*"),
            Selector::User(s)
            | Selector::Group(s)
            | Selector::Tag(s)
            | Selector::Host(s)
            | Selector::IpSet(s)
            | Selector::Service(s) => f.write_str(s),
            Selector::UserDomain(d) => write!(f, "user:*@{d}"),
            Selector::Autogroup(a) => f.write_str(a.name()),
            Selector::Prefix(p) => write!(f, "{p}"),
            Selector::Range(a, b) => write!(f, "{a}-{b}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_like_the_control_plane() {
        use Selector::*;
        let p = |s: &str| Selector::parse(s).unwrap();
        assert_eq!(p("*"), Wildcard);
        assert_eq!(p(" tag:server "), Tag("tag:server".into()));
        assert_eq!(
            p("group:eng@example.com"),
            Group("group:eng@example.com".into())
        );
        assert_eq!(p("alice@github"), User("alice@github".into()));
        assert_eq!(p("user:*@example.com"), UserDomain("example.com".into()));
        assert_eq!(
            p("autogroup:self"),
            Autogroup(super::Autogroup::SelfDevices)
        );
        assert_eq!(p("webserver"), Host("webserver".into()));
        assert!(matches!(p("fd7a:115c:a1e0::1"), Prefix(_)));
        assert!(matches!(p("10.0.0.1-10.0.0.9"), Range(..)));
        assert_eq!(
            Selector::parse("autogroup:bogus"),
            Err(SelectorError::UnknownAutogroup("autogroup:bogus".into()))
        );
        assert!(Selector::parse("foo:bar").is_err());
        assert!(Selector::parse("").is_err());
    }
}
