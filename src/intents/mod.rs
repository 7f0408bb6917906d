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
pub mod ssh;
pub mod transitive;

use crate::model::{PortRange, Protocol, Spanned};

/// Whether a file is an intents file: named `.json5`, unless its text is a tailnet policy
/// (it reads as HuJSON, names a policy section the intents file has no key for, and no key
/// only the intents file has). Policies are named `.json5` for the editor's highlighting
/// (nSimonFR/nic-os applies `shared/tailscale-acl.json5` with gitops-acl-action, which
/// sends the file as it is).
pub fn is_intents_file(path: &std::path::Path, text: &[u8]) -> bool {
    let named = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json5"));
    named && !is_policy_text(text)
}

/// The HuJSON text of a tailnet policy, by its top-level keys (see [`is_intents_file`]).
fn is_policy_text(text: &[u8]) -> bool {
    let Ok(doc) = crate::syntax::hujson::parse(text) else {
        return false;
    };
    let crate::syntax::Kind::Object(members) = &doc.root.kind else {
        return false;
    };
    let is = |list: &[&str], key: &str| list.iter().any(|k| k.eq_ignore_ascii_case(key));
    let keys: Vec<&str> = members.iter().map(|m| m.key.as_str()).collect();
    keys.iter()
        .any(|k| is(crate::model::lower::TOP_LEVEL, k) && !is(lower::TOP_FIELDS, k))
        && !keys
            .iter()
            .any(|k| is(lower::TOP_FIELDS, k) && !is(crate::model::lower::TOP_LEVEL, k))
}

/// A machine that is not a Kubernetes service.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceIntent {
    pub name: Spanned<String>,
    pub tags: Vec<Spanned<String>>,
    pub user: Option<Spanned<String>>,
    pub ip: Option<Spanned<String>>,
    /// Who may log in on it with Tailscale SSH (see [`ssh`]).
    pub ssh: Vec<ssh::SshIntent>,
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
    /// For each entry of `from` (same index), its own ports when it is written
    /// `{ source: "ci-runner", ports: [9001] }`: they replace `ports` for that source.
    pub source_ports: Vec<Option<Vec<ServicePort>>>,
}

impl ServiceIntent {
    /// The ports `from[i]` may reach: its own when the entry gives them, else the service's.
    pub fn ports_for(&self, i: usize) -> &[ServicePort] {
        match self.source_ports.get(i) {
            Some(Some(own)) => own,
            _ => &self.ports,
        }
    }

    /// Every port some source may reach, each (protocol, range) once, the service's first.
    pub fn all_ports(&self) -> Vec<&ServicePort> {
        let mut out: Vec<&ServicePort> = Vec::new();
        for p in self
            .ports
            .iter()
            .chain(self.source_ports.iter().flatten().flatten())
        {
            if !out
                .iter()
                .any(|q| q.protocol == p.protocol && q.range == p.range)
            {
                out.push(p);
            }
        }
        out
    }

    /// The `from` entries (indices) grouped by the ports they may reach (each entry's own,
    /// else the service's), in the order the groups first appear: one grant each.
    pub fn sources_by_ports(&self) -> Vec<(&[ServicePort], Vec<usize>)> {
        let mut out: Vec<(&[ServicePort], Vec<usize>)> = Vec::new();
        let texts = |ports: &[ServicePort]| -> Vec<String> {
            ports.iter().map(ServicePort::grant_text).collect()
        };
        for j in 0..self.from.len() {
            let ports = self.ports_for(j);
            if ports.is_empty() {
                continue;
            }
            match out.iter_mut().find(|(p, _)| texts(p) == texts(ports)) {
                Some((_, entries)) => entries.push(j),
                None => out.push((ports, vec![j])),
            }
        }
        out
    }

    /// Who may reach it on what, as `explain` and the proof say it: `panda, clanker-001 on
    /// tcp:6333, tcp:6334`, each group of sources with ports of their own after a `; `
    /// (`backup on tcp:9000; ci-runner on tcp:9001`); `nobody` when `from` is empty.
    pub fn intended_text(&self) -> String {
        let groups = self.sources_by_ports();
        if groups.is_empty() {
            return "nobody".into();
        }
        groups
            .iter()
            .map(|(ports, entries)| {
                let names: Vec<&str> = entries.iter().map(|&j| self.from[j].value.trim()).collect();
                let ports: Vec<String> = ports.iter().map(ServicePort::grant_text).collect();
                format!("{} on {}", names.join(", "), ports.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Whether some `from` entry has ports of its own.
    pub fn has_source_ports(&self) -> bool {
        self.source_ports.iter().any(Option::is_some)
    }
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
    /// The `k8s` section: where the cluster's manifests are, so `check` compares them.
    pub k8s: Option<K8sSection>,
}

/// `k8s: { manifests: "k8s/" }`: the Kubernetes manifests of the services (a YAML file or
/// a directory, relative to the intents file), checked by `tsacl check` as `tsacl k8s
/// --check` checks them.
#[derive(Clone, Debug, PartialEq)]
pub struct K8sSection {
    pub manifests: Spanned<String>,
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

    /// Policy names the intents have a name for, each as `name (selector)`: a service's
    /// tag (`worker (tag:worker)`) and the tag of a device known by one tag (`panda
    /// (tag:panda)`), so answers read in the user's words.
    pub fn display_names(&self) -> std::collections::HashMap<String, String> {
        let mut out = std::collections::HashMap::new();
        for s in &self.services {
            out.insert(s.tag.clone(), format!("{} ({})", s.name.value, s.tag));
        }
        for d in &self.devices {
            if let [t] = d.tags.as_slice() {
                out.entry(t.value.clone())
                    .or_insert_with(|| format!("{} ({})", d.name.value, t.value));
            }
        }
        out
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
