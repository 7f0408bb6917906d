//! The policy model: every section of a tailnet policy file, typed, each element carrying
//! the span it was written at. [`lower::lower`] builds it from a syntax tree, reporting
//! type, shape and syntax problems; [`crate::validate`] checks it against the control
//! plane's rules.
//!
//! Invariants: lowering never drops an element silently. An element whose syntax is
//! invalid is either kept with `selector: None` (and an error was reported) or skipped
//! after reporting an error; selectors keep their raw text for messages.

pub mod addr;
pub mod lower;
pub mod ports;
pub mod selector;

pub use addr::Prefix;
pub use lower::lower;
pub use ports::{IpSpec, PortRange, Protocol};
pub use selector::{Autogroup, Selector};

/// The policy in HuJSON `text` (in file 0), for tests: panics on a syntax error and drops
/// the lowering's diagnostics.
#[cfg(test)]
pub(crate) fn from_text(text: &str) -> Policy {
    let doc = crate::syntax::hujson::parse(text.as_bytes()).expect("test policies are HuJSON");
    lower(doc.root, Default::default(), &mut Vec::new())
}

use crate::syntax::{Span, Value};

#[derive(Clone, Debug, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

/// A selector as written, with its parsed form (`None` when it did not parse; that
/// error has already been reported).
#[derive(Clone, Debug, PartialEq)]
pub struct Sel {
    pub raw: String,
    pub span: Span,
    pub selector: Option<Selector>,
}

/// An ACL destination `host:ports`, split at the last colon.
#[derive(Clone, Debug, PartialEq)]
pub struct AclDst {
    pub raw: String,
    pub span: Span,
    /// The host part (`tag:db` in `tag:db:5432`), spanning the whole entry.
    pub host: Sel,
    pub ports: Vec<PortRange>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Acl {
    pub span: Span,
    pub action: Option<Spanned<String>>,
    pub proto: Option<Spanned<Protocol>>,
    pub src: Vec<Sel>,
    pub dst: Vec<AclDst>,
    pub src_posture: Vec<Spanned<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AppCap {
    pub name: Spanned<String>,
    pub values: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Grant {
    pub span: Span,
    pub src: Vec<Sel>,
    pub dst: Vec<Sel>,
    pub ip: Vec<Spanned<IpSpec>>,
    /// Number of `ip` entries written, valid or not (an invalid one is already reported).
    pub ip_written: usize,
    pub app: Vec<AppCap>,
    pub via: Vec<Sel>,
    pub src_posture: Vec<Spanned<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SshRule {
    pub span: Span,
    pub action: Option<Spanned<String>>,
    pub src: Vec<Sel>,
    pub dst: Vec<Sel>,
    /// `None` when missing or null.
    pub users: Option<Spanned<Vec<Spanned<String>>>>,
    pub check_period: Option<Spanned<String>>,
    pub accept_env: Vec<Spanned<String>>,
    pub src_posture: Vec<Spanned<String>>,
    pub recorder: Vec<Sel>,
    pub enforce_recorder: Option<bool>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GroupDef {
    pub name: Spanned<String>,
    pub members: Vec<Spanned<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HostDef {
    pub name: Spanned<String>,
    pub value: Spanned<String>,
    /// `None` when the value is not an IP or CIDR (reported).
    pub prefix: Option<Prefix>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TagOwnerDef {
    pub tag: Spanned<String>,
    pub owners: Vec<Sel>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RouteApprover {
    pub route: Spanned<String>,
    pub prefix: Option<Prefix>,
    pub approvers: Vec<Sel>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceApprover {
    pub service: Sel,
    pub approvers: Vec<Sel>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AutoApprovers {
    pub routes: Vec<RouteApprover>,
    pub exit_node: Vec<Sel>,
    pub services: Vec<ServiceApprover>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NodeAttr {
    pub span: Span,
    pub target: Vec<Sel>,
    pub attr: Vec<Spanned<String>>,
    pub app: Vec<AppCap>,
    pub ip_pool: Vec<Spanned<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PostureDef {
    pub name: Spanned<String>,
    pub conditions: Vec<Spanned<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct IpSetDef {
    pub name: Spanned<String>,
    pub ops: Vec<Spanned<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Test {
    pub span: Span,
    pub src: Option<Spanned<String>>,
    pub proto: Option<Spanned<String>>,
    pub accept: Vec<Spanned<String>>,
    pub deny: Vec<Spanned<String>>,
    pub src_posture_attrs: Option<Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SshTest {
    pub span: Span,
    pub src: Option<Spanned<String>>,
    pub dst: Vec<Spanned<String>>,
    pub accept: Vec<Spanned<String>>,
    pub check: Vec<Spanned<String>>,
    pub deny: Vec<Spanned<String>>,
    pub src_posture_attrs: Option<Value>,
}

/// Tailnet-wide settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    pub disable_ipv4: Option<Spanned<bool>>,
    pub one_cgnat_route: Option<Spanned<String>>,
    pub randomize_client_port: Option<Spanned<bool>>,
}

/// A whole policy file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Policy {
    /// `None` when the key is absent: with both `acls` and `grants` absent the control plane
    /// allows everything, while `[]` allows nothing.
    pub acls: Option<Vec<Acl>>,
    pub grants: Option<Vec<Grant>>,
    pub ssh: Vec<SshRule>,
    pub groups: Vec<GroupDef>,
    pub hosts: Vec<HostDef>,
    pub tag_owners: Vec<TagOwnerDef>,
    pub auto_approvers: AutoApprovers,
    pub node_attrs: Vec<NodeAttr>,
    pub postures: Vec<PostureDef>,
    pub default_src_posture: Vec<Spanned<String>>,
    pub ipsets: Vec<IpSetDef>,
    pub tests: Vec<Test>,
    pub ssh_tests: Vec<SshTest>,
    pub settings: Settings,
    /// Sections kept as written: their schema is not modelled (derpMap, attrConfig, ...).
    pub opaque: Vec<(Spanned<String>, Value)>,
    groups_by_name: NameIndex,
    hosts_by_name: NameIndex,
    ipsets_by_name: NameIndex,
}

/// Definitions by name, the first of each name, built on the first lookup: a scan per
/// lookup made a policy naming thousands of host aliases quadratic to read. It answers for
/// the list as it was then; a list that has changed length since is scanned instead.
#[derive(Default)]
struct NameIndex(std::sync::OnceLock<(usize, rustc_hash::FxHashMap<String, usize>)>);

impl NameIndex {
    fn find<'a, T>(&self, items: &'a [T], name_of: fn(&T) -> &str, name: &str) -> Option<&'a T> {
        let (len, by_name) = self.0.get_or_init(|| {
            let mut by_name = rustc_hash::FxHashMap::default();
            for (i, item) in items.iter().enumerate() {
                by_name.entry(name_of(item).to_string()).or_insert(i);
            }
            (items.len(), by_name)
        });
        if *len != items.len() {
            return items.iter().find(|item| name_of(item) == name);
        }
        by_name.get(name).map(|&i| &items[i])
    }
}

/// A derived cache: copies start empty, and it never makes two policies differ.
impl Clone for NameIndex {
    fn clone(&self) -> Self {
        NameIndex::default()
    }
}

impl PartialEq for NameIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for NameIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NameIndex")
    }
}

impl Policy {
    pub fn group(&self, name: &str) -> Option<&GroupDef> {
        self.groups_by_name
            .find(&self.groups, |g| g.name.value.as_str(), name)
    }
    pub fn host(&self, name: &str) -> Option<&HostDef> {
        self.hosts_by_name
            .find(&self.hosts, |h| h.name.value.as_str(), name)
    }
    /// The ipset `name` (with its `ipset:` prefix).
    pub fn ipset(&self, name: &str) -> Option<&IpSetDef> {
        self.ipsets_by_name
            .find(&self.ipsets, |s| s.name.value.as_str(), name)
    }
    /// Every selector written in a rule-like section: ACL and grant sources, destinations
    /// and `via`, SSH sources, destinations and recorders, node attribute targets, and
    /// auto-approvers (not `tagOwners`, whose owners callers treat on their own).
    pub fn rule_selectors(&self) -> impl Iterator<Item = &Sel> {
        let acls = self
            .acls
            .iter()
            .flatten()
            .flat_map(|a| a.src.iter().chain(a.dst.iter().map(|d| &d.host)));
        let grants = self
            .grants
            .iter()
            .flatten()
            .flat_map(|g| g.src.iter().chain(&g.dst).chain(&g.via));
        let ssh = self
            .ssh
            .iter()
            .flat_map(|r| r.src.iter().chain(&r.dst).chain(&r.recorder));
        let attrs = self.node_attrs.iter().flat_map(|n| &n.target);
        let approvers = self
            .auto_approvers
            .routes
            .iter()
            .flat_map(|r| &r.approvers)
            .chain(&self.auto_approvers.exit_node)
            .chain(
                self.auto_approvers
                    .services
                    .iter()
                    .flat_map(|s| std::iter::once(&s.service).chain(&s.approvers)),
            );
        acls.chain(grants).chain(ssh).chain(attrs).chain(approvers)
    }
    pub fn tag_owner(&self, tag: &str) -> Option<&TagOwnerDef> {
        self.tag_owners.iter().find(|t| t.tag.value == tag)
    }
}

#[cfg(test)]
mod name_index_tests {
    use super::*;

    fn host(name: &str, value: &str) -> HostDef {
        let spanned = |s: &str| Spanned {
            value: s.to_string(),
            span: Span::default(),
        };
        HostDef {
            name: spanned(name),
            value: spanned(value),
            prefix: None,
        }
    }

    #[test]
    fn lookups_answer_as_a_scan_does() {
        let mut policy = Policy::default();
        policy.hosts.push(host("db", "100.64.0.1"));
        policy.hosts.push(host("web", "100.64.0.2"));
        policy.hosts.push(host("db", "100.64.0.3"));
        // The first definition of a name, as `find` gives it.
        assert_eq!(policy.host("db").unwrap().value.value, "100.64.0.1");
        assert_eq!(policy.host("web").unwrap().value.value, "100.64.0.2");
        assert!(policy.host("nas").is_none());
        // Built before the list grew: the new entry is still found.
        policy.hosts.push(host("nas", "100.64.0.4"));
        assert_eq!(policy.host("nas").unwrap().value.value, "100.64.0.4");
        // A copy starts its own index, and the cache never makes policies differ.
        let copy = policy.clone();
        assert_eq!(copy.host("nas").unwrap().value.value, "100.64.0.4");
        assert_eq!(copy, policy);
    }
}
