//! The intents file: who may reach each service, written as JSON5
//! (`policies/tailnet.json5`), and the compiler that turns it into a whole tailnet policy.
//!
//! [`lower`] reads the file into [`Intents`] (every name with its span, so findings point
//! into the intents file); [`compile`] produces the policy text and a map from each
//! generated rule back to the intent (or the base-file rule) it came from; [`prove`]
//! checks that reachability in the final policy equals the intents.

pub mod compile;
pub mod k8s;
pub mod lower;
pub mod project;
pub mod prove;

use crate::model::{PortRange, Protocol, Spanned};

/// A machine that is not a Kubernetes service.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceIntent {
    pub name: Spanned<String>,
    pub tags: Vec<Spanned<String>>,
    pub user: Option<Spanned<String>>,
    pub ip: Option<Spanned<String>>,
}

/// One port (range) of a service, with its protocol (TCP when not written).
#[derive(Clone, Debug, PartialEq)]
pub struct ServicePort {
    pub protocol: Protocol,
    pub range: PortRange,
    pub span: crate::syntax::Span,
}

impl ServicePort {
    /// As a grant `ip` entry: `tcp:6379`, `udp:50000-60000`.
    pub fn grant_text(&self) -> String {
        format!("{}:{}", self.protocol, self.range)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceIntent {
    pub name: Spanned<String>,
    pub ports: Vec<ServicePort>,
    /// Who may reach it: device names, groups, users, tags or autogroups, as written.
    pub from: Vec<Spanned<String>>,
    pub funnel: bool,
    /// Where `funnel` is written.
    pub funnel_span: Option<crate::syntax::Span>,
    /// Its tag (default `tag:<name>`).
    pub tag: String,
    pub tag_span: Option<crate::syntax::Span>,
    /// The tailnet host name the operator gives it (default `<name>`).
    pub hostname: String,
    /// The Kubernetes Service that exposes it (`namespace/name`), if known.
    pub k8s_service: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Operator {
    pub tag: String,
    pub proxy_tag: String,
    pub owners: Vec<String>,
    /// Where the section is written (its key), and its `owners` and `proxyTag` values.
    pub span: Option<crate::syntax::Span>,
    pub owners_span: Option<crate::syntax::Span>,
    pub proxy_tag_span: Option<crate::syntax::Span>,
}

impl Default for Operator {
    fn default() -> Self {
        Operator {
            tag: "tag:k8s-operator".into(),
            proxy_tag: "tag:k8s".into(),
            owners: vec!["autogroup:admin".into()],
            span: None,
            owners_span: None,
            proxy_tag_span: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Intents {
    /// The compiled policy's path, relative to the intents file.
    pub output: String,
    pub tailnet: Option<String>,
    /// A hand-written policy merged in, relative to the intents file.
    pub base: Option<Spanned<String>>,
    pub groups: Vec<(Spanned<String>, Vec<Spanned<String>>)>,
    pub devices: Vec<DeviceIntent>,
    pub operator: Option<Operator>,
    pub services: Vec<ServiceIntent>,
    /// The `lint` section: which findings to show, and at which severity.
    pub lint: LintSection,
}

/// The intents file's `lint` section, and its problems (configuration errors: exit 2).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LintSection {
    pub layer: crate::diagnostics::selection::Layer,
    /// Each problem with where it is written.
    pub errors: Vec<(crate::syntax::Span, String)>,
}

impl Intents {
    pub fn device(&self, name: &str) -> Option<&DeviceIntent> {
        self.devices.iter().find(|d| d.name.value == name)
    }
    pub fn service(&self, name: &str) -> Option<&ServiceIntent> {
        self.services.iter().find(|s| s.name.value == name)
    }
}

/// The intents file's default location, found from `start` upward.
pub fn find(start: &std::path::Path) -> Option<std::path::PathBuf> {
    let mut dir = start.to_path_buf();
    loop {
        let candidate = dir.join("policies/tailnet.json5");
        if candidate.is_file() {
            return Some(candidate);
        }
        if !dir.pop() {
            return None;
        }
    }
}
