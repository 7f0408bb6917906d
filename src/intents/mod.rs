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
pub mod transitive;

use crate::model::{PortRange, Protocol, Spanned};

/// A machine that is not a Kubernetes service.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceIntent {
    pub name: Spanned<String>,
    pub tags: Vec<Spanned<String>>,
    pub user: Option<Spanned<String>>,
    pub ip: Option<Spanned<String>>,
}

impl DeviceIntent {
    /// The device as one principal of the policy: its tags, else its owner (every device
    /// of that user), else its address.
    pub fn principal(&self) -> crate::engine::reach::Principal {
        use crate::engine::reach::Principal;
        if !self.tags.is_empty() {
            let mut tags: Vec<String> = self.tags.iter().map(|t| t.value.clone()).collect();
            tags.sort();
            tags.dedup();
            return Principal::Tags(tags);
        }
        if let Some(u) = &self.user {
            return Principal::User(u.value.clone());
        }
        let ip = self
            .ip
            .as_ref()
            .and_then(|ip| crate::model::Prefix::parse(&ip.value));
        Principal::Address(
            ip.map(|p| crate::engine::IpSet::from_prefix(&p))
                .unwrap_or_default(),
        )
    }

    /// How it is known: `tags`, `user` or `ip`.
    pub fn kind(&self) -> &'static str {
        if !self.tags.is_empty() {
            "tags"
        } else if self.user.is_some() {
            "user"
        } else {
            "ip"
        }
    }
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

/// The path Funnel takes to a service: which node terminates it, and so gets the `funnel`
/// node attribute.
#[derive(Clone, Debug, PartialEq)]
pub enum Funnel {
    /// `funnel: true` without an operator: the service's own devices run Funnel.
    Itself,
    /// `funnel: { via: "panda" }`: a device of the intents terminates Funnel and forwards to
    /// the service (Caddy on the host, say).
    Via(Spanned<String>),
    /// `funnel: "ingress"`: an Ingress the Kubernetes operator serves (`ingressClassName:
    /// tailscale`, `tailscale.com/funnel: "true"`), whose proxy carries the service's tag.
    Ingress,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceIntent {
    pub name: Spanned<String>,
    pub ports: Vec<ServicePort>,
    /// Who may reach it: device names, groups, users, tags or autogroups, as written.
    pub from: Vec<Spanned<String>>,
    /// Where the `from` list is written (absent: nobody may reach the service).
    pub from_span: Option<crate::syntax::Span>,
    /// How the public internet reaches it, if it does.
    pub funnel: Option<Funnel>,
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

    /// The policy selectors of the node that terminates a service's Funnel (empty without
    /// Funnel): the `via` device as `from` names it, else the service's tag.
    pub fn funnel_targets(&self, service: &ServiceIntent) -> Vec<String> {
        match &service.funnel {
            None => Vec::new(),
            Some(Funnel::Via(device)) => compile::selectors_for(self, &device.value),
            Some(Funnel::Itself | Funnel::Ingress) => vec![service.tag.clone()],
        }
    }

    /// The principal that terminates a service's Funnel, if it has Funnel and (for `via`)
    /// the device exists.
    pub fn funnel_node(&self, service: &ServiceIntent) -> Option<crate::engine::reach::Principal> {
        match service.funnel.as_ref()? {
            Funnel::Via(device) => self.device(&device.value).map(DeviceIntent::principal),
            Funnel::Itself | Funnel::Ingress => Some(crate::engine::reach::Principal::Tags(vec![
                service.tag.clone(),
            ])),
        }
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
