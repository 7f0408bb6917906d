//! JSON5 tree → [`Intents`], reporting problems at their spans in the intents file.

use super::{DeviceIntent, Funnel, Intents, Operator, ServiceIntent, ServicePort};
use crate::diagnostics::{Diagnostic, FileId, Label, Location};
use crate::model::{Protocol, Spanned};
use crate::rules::Code;
use crate::suggest::did_you_mean;
use crate::syntax::{Kind, Member, Span, Value};

/// The keys of the intents file and of its sections (for "did you mean" and completion).
pub const TOP_FIELDS: &[&str] = &[
    "output", "tailnet", "base", "groups", "devices", "operator", "services", "lint", "k8s",
];
pub const K8S_FIELDS: &[&str] = &["manifests"];
pub const DEVICE_FIELDS: &[&str] = &["tags", "user", "ip", "ssh"];
pub const OPERATOR_FIELDS: &[&str] = &["tag", "proxyTag", "owners"];
pub const SERVICE_FIELDS: &[&str] = &["ports", "from", "funnel", "tag", "hostname", "service"];
pub const LINT_FIELDS: &[&str] = &["select", "ignore", "severity"];
/// The keys of a `from` entry written as an object (a source with ports of its own).
pub const FROM_ENTRY_FIELDS: &[&str] = &["source", "ports"];

struct Lowerer<'d> {
    file: FileId,
    diags: &'d mut Vec<Diagnostic>,
    /// How many unknown keys were reported so far: a section with one says nothing about
    /// what is missing from it (`form:` is not "nobody may reach it").
    unknown_keys: usize,
}

/// Read the intents; problems go to `diags`.
pub fn lower(root: &Value, file: FileId, diags: &mut Vec<Diagnostic>) -> Intents {
    let mut l = Lowerer {
        file,
        diags,
        unknown_keys: 0,
    };
    let intents = l.intents(root);
    super::ssh::check_names(&intents, file, diags);
    intents
}

impl Lowerer<'_> {
    fn at(&self, span: Span) -> Location {
        Location {
            file: self.file,
            span,
        }
    }

    fn report(&mut self, code: Code, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        let d = Diagnostic::new(code, self.at(span), message);
        self.diags.push(d);
        self.diags.last_mut().unwrap()
    }

    /// Members of an object, after reporting duplicates and keys not in `known`.
    fn members<'a>(&mut self, v: &'a Value, what: &str, known: Option<&[&str]>) -> Vec<&'a Member> {
        let Some(members) = v.as_object() else {
            if !v.is_null() {
                self.report(
                    Code::WrongType,
                    v.span,
                    format!("{what} must be an object, not {}", v.type_name()),
                );
            }
            return Vec::new();
        };
        let mut out: Vec<&Member> = Vec::new();
        for m in members {
            if let Some(first) = out.iter().find(|f| f.key == m.key) {
                let at = self.at(first.key_span);
                let d = self.report(
                    Code::DuplicateKey,
                    m.key_span,
                    format!("duplicate key {:?} in {what}", m.key),
                );
                d.labels.push(Label {
                    location: at,
                    message: "first defined here".into(),
                });
                continue;
            }
            if let Some(known) = known
                && !known.contains(&m.key.as_str())
            {
                // The intents are our language: an unknown key is a typo, never a
                // newer feature, and ignoring it would silently change access.
                let hint = did_you_mean(&m.key, known.iter().copied());
                let d = self.report(
                    Code::UnknownIntentKey,
                    m.key_span,
                    format!("unknown key {:?} in {what}", m.key),
                );
                d.help = Some(match hint {
                    Some(h) => format!("did you mean {h:?}? (known keys: {})", known.join(", ")),
                    None => format!("known keys: {}", known.join(", ")),
                });
                self.unknown_keys += 1;
                continue;
            }
            out.push(m);
        }
        out
    }

    fn string(&mut self, v: &Value, what: &str) -> Option<Spanned<String>> {
        match &v.kind {
            Kind::String(s) => Some(Spanned {
                value: s.clone(),
                span: v.span,
            }),
            _ => {
                self.report(
                    Code::WrongType,
                    v.span,
                    format!("{what} must be a string, not {}", v.type_name()),
                );
                None
            }
        }
    }

    fn strings(&mut self, v: &Value, what: &str) -> Vec<Spanned<String>> {
        match &v.kind {
            Kind::Array(items) => items
                .iter()
                .filter_map(|i| self.string(i, &format!("each entry of {what}")))
                .collect(),
            Kind::Null => Vec::new(),
            _ => {
                self.report(
                    Code::WrongType,
                    v.span,
                    format!("{what} must be an array of strings, not {}", v.type_name()),
                );
                Vec::new()
            }
        }
    }

    fn tag(&mut self, s: Spanned<String>) -> Option<Spanned<String>> {
        if let Err(why) = crate::validate::check_tag_name(&s.value) {
            self.report(
                Code::InvalidTagName,
                s.span,
                format!("{:?}: {why}", s.value),
            )
            .help = Some("tags look like \"tag:redis\"".into());
            return None;
        }
        Some(s)
    }

    fn intents(&mut self, root: &Value) -> Intents {
        let mut out = Intents {
            output: "policy.hujson".into(),
            ..Default::default()
        };
        if root.as_object().is_none() {
            self.report(
                Code::WrongType,
                root.span,
                "the intents file must hold an object",
            );
            return out;
        }
        for m in self.members(root, "the intents", Some(TOP_FIELDS)) {
            match m.key.as_str() {
                "output" => {
                    if let Some(s) = self.string(&m.value, "output") {
                        out.output = s.value;
                    }
                }
                "tailnet" => out.tailnet = self.string(&m.value, "tailnet").map(|s| s.value),
                "base" => out.base = self.string(&m.value, "base"),
                "groups" => {
                    for g in self.members(&m.value, "groups", None) {
                        let members = self.strings(&g.value, &format!("groups.{}", g.key));
                        let name = if g.key.starts_with("group:") {
                            g.key.clone()
                        } else {
                            format!("group:{}", g.key)
                        };
                        out.groups.push((
                            Spanned {
                                value: name,
                                span: g.key_span,
                            },
                            members,
                        ));
                    }
                }
                "devices" => {
                    for d in self.members(&m.value, "devices", None) {
                        out.devices.push(self.device(d));
                    }
                }
                "operator" => {
                    let mut op = self.operator(&m.value);
                    op.span = Some(m.key_span);
                    out.operator = Some(op);
                }
                "services" => {
                    for s in self.members(&m.value, "services", None) {
                        if let Some(svc) = self.service(s) {
                            out.services.push(svc);
                        }
                    }
                }
                "k8s" => {
                    let mut manifests = None;
                    for f in self.members(&m.value, "k8s", Some(K8S_FIELDS)) {
                        manifests = self.string(&f.value, "k8s.manifests");
                    }
                    out.k8s = manifests.map(|manifests| super::K8sSection { manifests });
                }
                _ => out.lint = lint_section(&m.value),
            }
        }
        self.check_names(&out);
        out
    }

    fn device(&mut self, m: &Member) -> DeviceIntent {
        let mut d = DeviceIntent {
            name: Spanned {
                value: m.key.clone(),
                span: m.key_span,
            },
            tags: Vec::new(),
            user: None,
            ip: None,
            ssh: Vec::new(),
        };
        let unknown_before = self.unknown_keys;
        for f in self.members(&m.value, &format!("devices.{}", m.key), Some(DEVICE_FIELDS)) {
            match f.key.as_str() {
                "tags" => {
                    d.tags = self
                        .strings(&f.value, "tags")
                        .into_iter()
                        .filter_map(|t| self.tag(t))
                        .collect()
                }
                "user" => d.user = self.string(&f.value, "user"),
                "ssh" => d.ssh = super::ssh::lower(&f.value, &m.key, self.file, self.diags),
                _ => {
                    d.ip = self.string(&f.value, "ip");
                    if let Some(ip) = &d.ip
                        && crate::model::Prefix::parse(&ip.value).is_none()
                    {
                        let (span, text) = (ip.span, ip.value.clone());
                        self.report(
                            Code::InvalidValue,
                            span,
                            format!("{text:?} is not an IP address or CIDR"),
                        );
                    }
                }
            }
        }
        if d.tags.is_empty()
            && d.user.is_none()
            && d.ip.is_none()
            && self.unknown_keys == unknown_before
        {
            self.report(
                Code::MissingField,
                m.key_span,
                format!("device {:?} needs \"tags\", \"user\" or \"ip\"", m.key),
            )
            .help = Some(
                "say how the policy can name it: its tags, its owner's login, or its address"
                    .into(),
            );
        }
        d
    }

    fn operator(&mut self, v: &Value) -> Operator {
        let mut op = Operator::default();
        for f in self.members(v, "operator", Some(OPERATOR_FIELDS)) {
            match f.key.as_str() {
                "tag" => {
                    if let Some(t) = self
                        .string(&f.value, "operator.tag")
                        .and_then(|t| self.tag(t))
                    {
                        op.tag = t.value;
                    }
                }
                "proxyTag" => {
                    op.proxy_tag_span = Some(f.value.span);
                    if let Some(t) = self
                        .string(&f.value, "operator.proxyTag")
                        .and_then(|t| self.tag(t))
                    {
                        op.proxy_tag = t.value;
                    }
                }
                _ => {
                    op.owners_span = Some(f.value.span);
                    op.owners = self
                        .strings(&f.value, "operator.owners")
                        .into_iter()
                        .map(|s| s.value)
                        .collect()
                }
            }
        }
        op
    }

    fn service(&mut self, m: &Member) -> Option<ServiceIntent> {
        let name = m.key.clone();
        let mut svc = ServiceIntent {
            name: Spanned {
                value: name.clone(),
                span: m.key_span,
            },
            ports: Vec::new(),
            from: Vec::new(),
            from_span: None,
            funnel: None,
            funnel_span: None,
            tag: format!("tag:{name}"),
            tag_span: None,
            hostname: name.clone(),
            k8s_service: None,
            source_ports: Vec::new(),
        };
        if crate::validate::check_tag_name(&svc.tag).is_err() {
            self.report(
                Code::InvalidTagName,
                m.key_span,
                format!("service name {name:?} does not make a valid tag; give it one with `tag: \"tag:...\"`"),
            );
        }
        let unknown_before = self.unknown_keys;
        let mut ports_written = false;
        for f in self.members(&m.value, &format!("services.{name}"), Some(SERVICE_FIELDS)) {
            match f.key.as_str() {
                "ports" => {
                    ports_written = true;
                    svc.ports = self.ports(&f.value);
                }
                "from" => {
                    svc.from_span = Some(f.value.span);
                    (svc.from, svc.source_ports) = self.sources(&f.value, &name);
                }
                "funnel" => {
                    svc.funnel_span = Some(f.value.span);
                    svc.funnel = self.funnel(&f.value, &format!("services.{name}.funnel"));
                }
                "tag" => {
                    if let Some(t) = self.string(&f.value, "tag").and_then(|t| self.tag(t)) {
                        svc.tag = t.value;
                        svc.tag_span = Some(t.span);
                    }
                }
                "hostname" => {
                    if let Some(h) = self.string(&f.value, "hostname") {
                        svc.hostname = h.value;
                    }
                }
                _ => svc.k8s_service = self.string(&f.value, "service").map(|s| s.value),
            }
        }
        // A mistyped key or a bad port has its own error; "no ports" or "nobody may reach
        // it" would only repeat it in other words.
        if self.unknown_keys > unknown_before {
            return Some(svc);
        }
        if !ports_written {
            self.report(
                Code::MissingField,
                m.key_span,
                format!("service {name:?} has no `ports`"),
            )
            .help = Some("add ports: [6379] (TCP) or [\"udp:53\"]".into());
        }
        match svc.from_span {
            None => {
                self.report(
                    Code::UnreachableService,
                    m.key_span,
                    format!("service {name:?} has no `from`: nobody may reach it"),
                )
                .help = Some("add `from` with the devices, groups or users that need it".into());
            }
            Some(span) if svc.from.is_empty() => {
                self.report(
                    Code::UnreachableService,
                    span,
                    format!("`from` of service {name:?} is empty: nobody may reach it"),
                )
                .help = Some(
                    "list the devices, groups or users that need it, or remove the service".into(),
                );
            }
            Some(_) => {}
        }
        Some(svc)
    }

    /// `from`: names, or `{ source: "NAME", ports: [...] }` for a source with ports of its
    /// own; each entry with its own ports (`None`: the service's).
    fn sources(
        &mut self,
        v: &Value,
        service: &str,
    ) -> (Vec<Spanned<String>>, Vec<Option<Vec<ServicePort>>>) {
        let Kind::Array(items) = &v.kind else {
            // The same message as any other list of names.
            return (self.strings(v, "from"), Vec::new());
        };
        let mut names = Vec::new();
        let mut ports = Vec::new();
        for item in items {
            match &item.kind {
                Kind::String(s) => {
                    names.push(Spanned {
                        value: s.clone(),
                        span: item.span,
                    });
                    ports.push(None);
                }
                Kind::Object(_) => {
                    let what = format!("an entry of services.{service}.from");
                    let unknown_before = self.unknown_keys;
                    let (mut source, mut own) = (None, None);
                    for f in self.members(item, &what, Some(FROM_ENTRY_FIELDS)) {
                        if f.key == "source" {
                            source = self.string(&f.value, "source");
                        } else {
                            own = Some(self.ports(&f.value));
                        }
                    }
                    if self.unknown_keys > unknown_before {
                        continue;
                    }
                    match (source, own) {
                        (Some(source), Some(own)) => {
                            names.push(source);
                            ports.push(Some(own));
                        }
                        (source, _) => {
                            let missing = if source.is_none() { "source" } else { "ports" };
                            self.report(
                                Code::MissingField,
                                item.span,
                                format!("{what} written as an object needs `{missing}`"),
                            )
                            .help = Some(
                                "write { source: \"ci-runner\", ports: [9001] } for a source with ports of its own, or the name alone for the service's ports".into(),
                            );
                        }
                    }
                }
                _ => {
                    self.report(
                        Code::WrongType,
                        item.span,
                        format!(
                            "each entry of from must be a name or {{ source, ports }}, not {}",
                            item.type_name()
                        ),
                    );
                }
            }
        }
        (names, ports)
    }

    /// `funnel: true | false | "ingress" | { via: "DEVICE" }`. Whether the path suits the
    /// rest of the intents (an operator, the device) is checked once everything is read.
    fn funnel(&mut self, v: &Value, what: &str) -> Option<Funnel> {
        const FORMS: &str = "funnel is `{ via: \"DEVICE\" }` (a device that forwards to the service), \"ingress\" (an operator Ingress), true or false";
        match &v.kind {
            Kind::Bool(true) => Some(Funnel::Itself),
            Kind::Bool(false) => None,
            Kind::String(s) if s == "ingress" => Some(Funnel::Ingress),
            Kind::String(s) => {
                let hint = if did_you_mean(s, ["ingress"]).is_some() {
                    "did you mean \"ingress\"?".to_string()
                } else {
                    format!("to go through the device {s:?}, write funnel: {{ via: {s:?} }}")
                };
                self.report(
                    Code::FunnelPath,
                    v.span,
                    format!("funnel: {s:?} is not a Funnel path"),
                )
                .help = Some(format!("{hint} ({FORMS})"));
                None
            }
            Kind::Object(_) => {
                let unknown_before = self.unknown_keys;
                let mut via = None;
                for f in self.members(v, what, Some(&["via"])) {
                    via = self.string(&f.value, &format!("{what}.via"));
                }
                match via {
                    Some(device) => Some(Funnel::Via(device)),
                    None => {
                        if self.unknown_keys == unknown_before {
                            self.report(Code::FunnelPath, v.span, "funnel needs `via`")
                                .help =
                                Some(format!("e.g. funnel: {{ via: \"panda\" }} ({FORMS})"));
                        }
                        None
                    }
                }
            }
            _ => {
                self.report(
                    Code::WrongType,
                    v.span,
                    format!("funnel must not be {}", v.type_name()),
                )
                .help = Some(FORMS.into());
                None
            }
        }
    }

    fn ports(&mut self, v: &Value) -> Vec<ServicePort> {
        let Some(items) = v.as_array() else {
            self.report(Code::WrongType, v.span, "ports must be an array");
            return Vec::new();
        };
        if items.is_empty() {
            self.report(Code::MissingField, v.span, "`ports` is empty")
                .help =
                Some("list the ports the service listens on: [6379] (TCP) or [\"udp:53\"]".into());
        }
        let mut out = Vec::new();
        for item in items {
            let text = match &item.kind {
                Kind::Number(n) => n.to_string(),
                Kind::String(s) => s.clone(),
                _ => {
                    self.report(
                        Code::WrongType,
                        item.span,
                        "a port is a number or a string such as \"udp:53\"",
                    );
                    continue;
                }
            };
            let (proto, range) = match text.split_once(':') {
                Some((p, r)) => (Protocol::parse(p), r.to_string()),
                None => (Ok(Protocol::TCP), text.clone()),
            };
            let proto = match proto {
                Ok(p) => p,
                Err(e) => {
                    let (p, r) = text.split_once(':').unwrap_or_default();
                    let names = ["tcp", "udp", "sctp"];
                    let d = self.report(Code::InvalidProtocol, item.span, e);
                    if let Some(name) = did_you_mean(&p.to_ascii_lowercase(), names) {
                        d.help = Some(format!("did you mean \"{name}:{r}\"?"));
                    }
                    continue;
                }
            };
            match crate::model::ports::parse_port_list(&range) {
                Ok(ranges) if ranges.len() == 1 && !ranges[0].is_all() && ranges[0].first > 0 => {
                    out.push(ServicePort {
                        protocol: proto,
                        range: ranges[0],
                        span: item.span,
                    })
                }
                Ok(_) => {
                    self.report(
                        Code::InvalidPort,
                        item.span,
                        format!("port {text:?} must be one port or range from 1 to 65535"),
                    );
                }
                Err(e) => {
                    let help = match port_with_protocol(&text) {
                        Some(fixed) => format!("did you mean {fixed:?}?"),
                        None => {
                            "ports are 1-65535, e.g. 6379, \"tcp:8080\", \"udp:50000-60000\"".into()
                        }
                    };
                    self.report(Code::InvalidPort, item.span, format!("port {text:?}: {e}"))
                        .help = Some(help);
                }
            }
        }
        out
    }

    /// Every `from` entry and Funnel `via` must name something; the Funnel path must suit
    /// the intents; a device known only by its owner is all of that owner's devices.
    fn check_names(&mut self, intents: &Intents) {
        let groups: Vec<&str> = intents
            .groups
            .iter()
            .map(|(n, _)| n.value.as_str())
            .collect();
        let devices: Vec<&str> = intents
            .devices
            .iter()
            .map(|d| d.name.value.as_str())
            .collect();
        for svc in &intents.services {
            for f in &svc.from {
                let name = f.value.trim();
                if !is_known_source(name, &groups, &devices) {
                    let candidates = devices.iter().chain(&groups).copied();
                    let hint = did_you_mean(name, candidates);
                    let d = self.report(
                        Code::UnknownIntentName,
                        f.span,
                        format!(
                            "service {:?}: {name:?} is not a device or group of the intents",
                            svc.name.value
                        ),
                    );
                    d.help = Some(match hint {
                        Some(h) => format!("did you mean {h:?}?"),
                        None => "define it under `devices` (or write a user, group:, tag: or autogroup:)".into(),
                    });
                }
            }
            self.check_funnel(intents, svc, &devices);
        }
        self.devices_by_user(intents);
    }

    fn check_funnel(&mut self, intents: &Intents, svc: &ServiceIntent, devices: &[&str]) {
        let at = svc.funnel_span.unwrap_or(svc.name.span);
        let name = &svc.name.value;
        match &svc.funnel {
            None => {}
            Some(Funnel::Itself) if intents.operator.is_some() => {
                self.report(
                    Code::FunnelPath,
                    at,
                    format!("funnel: true does not say how the public internet reaches {name:?}: the operator serves Funnel only on an Ingress, not on the Service it exposes"),
                )
                .help = Some(
                    "write funnel: { via: \"DEVICE\" } when a device of `devices` terminates Funnel and forwards to the service (Caddy on the host, say), or funnel: \"ingress\" when an operator Ingress serves it (`tsacl k8s` prints it)".into(),
                );
            }
            Some(Funnel::Itself) => {}
            Some(Funnel::Ingress) => {
                if intents.operator.is_none() {
                    self.report(
                        Code::FunnelPath,
                        at,
                        format!("funnel: \"ingress\" on {name:?} needs the Kubernetes operator, and the intents have no `operator` section"),
                    )
                    .help = Some("add the `operator` section, or write funnel: true for a machine that runs Funnel itself, or funnel: { via: \"DEVICE\" }".into());
                } else if !svc.ports.iter().any(|p| p.protocol == Protocol::TCP)
                    && !svc.ports.is_empty()
                {
                    self.report(
                        Code::FunnelPath,
                        at,
                        format!(
                            "funnel: \"ingress\" proxies HTTPS to a TCP port, and {name:?} has none"
                        ),
                    )
                    .help = Some("add the TCP port the Ingress forwards to".into());
                }
            }
            Some(Funnel::Via(device)) => {
                let Some(d) = intents.device(&device.value) else {
                    let hint = did_you_mean(&device.value, devices.iter().copied());
                    self.report(
                        Code::UnknownIntentName,
                        device.span,
                        format!("service {name:?}: Funnel via {:?}, which is not a device of the intents", device.value),
                    )
                    .help = Some(match hint {
                        Some(h) => format!("did you mean {h:?}?"),
                        None => "name a device defined under `devices`".into(),
                    });
                    return;
                };
                let covered = svc.from.iter().any(|f| {
                    let f = f.value.trim();
                    f == d.name.value
                        || d.tags.iter().any(|t| t.value == f)
                        || d.user.as_ref().is_some_and(|u| {
                            u.value == f
                                || intents.groups.iter().any(|(g, members)| {
                                    g.value == f && members.iter().any(|m| m.value == u.value)
                                })
                        })
                });
                if !covered {
                    self.report(
                        Code::FunnelViaWithoutAccess,
                        device.span,
                        format!(
                            "Funnel reaches {name:?} through {:?}, which is not in its `from`",
                            device.value
                        ),
                    )
                    .help = Some(format!(
                        "if {:?} forwards to it over the tailnet, add {:?} to `from`",
                        device.value, device.value
                    ));
                }
            }
        }
    }

    /// TSA119 at each device known only by its owner that a service grants (or that
    /// terminates Funnel), with the uses as labels.
    fn devices_by_user(&mut self, intents: &Intents) {
        for d in &intents.devices {
            let (true, None, Some(user)) = (d.tags.is_empty(), &d.ip, &d.user) else {
                continue;
            };
            let uses: Vec<(Span, String)> = intents
                .services
                .iter()
                .flat_map(|s| {
                    let from = s
                        .from
                        .iter()
                        .filter(|f| f.value.trim() == d.name.value)
                        .map(|f| {
                            (
                                f.span,
                                format!("{} may reach {:?}", d.name.value, s.name.value),
                            )
                        });
                    let funnel = match &s.funnel {
                        Some(Funnel::Via(v)) if v.value == d.name.value => Some((
                            v.span,
                            format!("Funnel to {:?} terminates here", s.name.value),
                        )),
                        _ => None,
                    };
                    from.chain(funnel).collect::<Vec<_>>()
                })
                .collect();
            if uses.is_empty() {
                continue;
            }
            let labels = uses
                .into_iter()
                .map(|(span, message)| Label {
                    location: self.at(span),
                    message: format!("{message}: every device of {}", user.value),
                })
                .collect();
            let d2 = self.report(
                Code::DeviceByUser,
                user.span,
                format!(
                    "{:?} stands for every device of {}: it is defined by its owner",
                    d.name.value, user.value
                ),
            );
            d2.labels = labels;
            d2.help = Some(format!(
                "to mean this one machine, give it a tag (tags: [\"tag:{}\"]) or its address (ip: \"100.x.y.z\")",
                tag_suffix(&d.name.value)
            ));
        }
    }
}

/// A device name as the part of a tag after `tag:` (tags take letters, digits and dashes).
/// Whether a `from` entry names something: a user, a tag or an autogroup as written, or a
/// group or device the intents define.
pub(super) fn is_known_source(name: &str, groups: &[&str], devices: &[&str]) -> bool {
    if name.contains('@') || name.starts_with("tag:") || name.starts_with("autogroup:") {
        true
    } else if name.starts_with("group:") {
        groups.contains(&name)
    } else {
        devices.contains(&name)
    }
}

fn tag_suffix(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// `tcp6379`, `tcp/6379` or `6379/tcp` as the intents spell it: `tcp:6379`.
fn port_with_protocol(text: &str) -> Option<String> {
    let text = text.trim();
    let first_digit = text.find(|c: char| c.is_ascii_digit())?;
    let (proto, range) = if first_digit == 0 {
        let (range, proto) = text.split_once(['/', ' '])?;
        (proto.trim(), range.trim())
    } else {
        let (head, range) = text.split_at(first_digit);
        (head.trim_end_matches(['/', '-', '_', ' ']), range)
    };
    if !proto.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let proto = Protocol::parse(proto).ok()?;
    match crate::model::ports::parse_port_list(range) {
        Ok(r) if r.len() == 1 && !r[0].is_all() && r[0].first > 0 => {
            Some(format!("{proto}:{range}"))
        }
        _ => None,
    }
}

/// The `lint` section: `{select: [...], ignore: [...], severity: {"TSA210": "error", ...}}`.
/// Every problem is a configuration error (exit 2), not a finding: a typo here must not
/// silently change what is checked.
fn lint_section(v: &Value) -> super::LintSection {
    use crate::diagnostics::selection::{Level, check_pattern};
    let mut out = super::LintSection::default();
    let Some(members) = v.as_object() else {
        out.errors.push((
            v.span,
            format!("lint must be an object, not {}", v.type_name()),
        ));
        return out;
    };
    let mut seen: Vec<&str> = Vec::new();
    for m in members {
        if seen.contains(&m.key.as_str()) {
            out.errors
                .push((m.key_span, format!("duplicate key {:?} in lint", m.key)));
            continue;
        }
        seen.push(&m.key);
        match m.key.as_str() {
            "select" | "ignore" => {
                let Some(items) = m.value.as_array() else {
                    out.errors.push((
                        m.value.span,
                        format!(
                            "lint.{} must be an array of codes, not {}",
                            m.key,
                            m.value.type_name()
                        ),
                    ));
                    continue;
                };
                for item in items {
                    let Some(p) = item.as_str() else {
                        out.errors.push((
                            item.span,
                            format!(
                                "each entry of lint.{} must be a string, not {}",
                                m.key,
                                item.type_name()
                            ),
                        ));
                        continue;
                    };
                    match check_pattern(p) {
                        Ok(()) if m.key == "select" => out.layer.select.push(p.to_string()),
                        Ok(()) => out.layer.ignore.push(p.to_string()),
                        Err(e) => out.errors.push((item.span, format!("lint.{}: {e}", m.key))),
                    }
                }
            }
            "severity" => {
                let Some(entries) = m.value.as_object() else {
                    out.errors.push((
                        m.value.span,
                        format!(
                            "lint.severity must be an object such as {{\"TSA210\": \"error\"}}, not {}",
                            m.value.type_name()
                        ),
                    ));
                    continue;
                };
                for e in entries {
                    if let Err(why) = check_pattern(&e.key) {
                        out.errors
                            .push((e.key_span, format!("lint.severity: {why}")));
                        continue;
                    }
                    match e.value.as_str().map(Level::parse) {
                        Some(Ok(level)) => out.layer.severity.push((e.key.clone(), level)),
                        Some(Err(why)) => out
                            .errors
                            .push((e.value.span, format!("lint.severity.{}: {why}", e.key))),
                        None => out.errors.push((
                            e.value.span,
                            format!(
                                "lint.severity.{} must be a string (error, warning, info or off), not {}",
                                e.key,
                                e.value.type_name()
                            ),
                        )),
                    }
                }
            }
            other => {
                let known = LINT_FIELDS;
                let hint = did_you_mean(other, known.iter().copied())
                    .map(|h| format!("; did you mean {h:?}?"))
                    .unwrap_or_else(|| format!("; known keys: {}", known.join(", ")));
                out.errors
                    .push((m.key_span, format!("unknown key {other:?} in lint{hint}")));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lower `text`; the diagnostics as (code, message, help) and the intents.
    fn read(text: &str) -> (Intents, Vec<Diagnostic>) {
        let doc = crate::syntax::json5::parse(text.as_bytes()).expect("JSON5");
        let mut diags = Vec::new();
        let intents = lower(&doc.root, FileId(0), &mut diags);
        (intents, diags)
    }

    fn codes(diags: &[Diagnostic]) -> Vec<Code> {
        diags.iter().map(|d| d.code).collect()
    }

    const DEVICES: &str = r#"devices: {
        panda: { tags: ["tag:panda"] },
        laptop: { user: "joel@example.com" },
        printer: { ip: "192.168.1.40" },
    }"#;

    #[test]
    fn a_mistyped_key_is_an_error_with_the_key_it_means_and_nothing_else() {
        let (_, d) = read(&format!(
            r#"{{ {DEVICES}, services: {{ redis: {{ ports: [6379], form: ["panda"] }} }} }}"#
        ));
        // Not also "nobody may reach it": the missing `from` is the typo.
        assert_eq!(codes(&d), [Code::UnknownIntentKey], "{d:?}");
        assert_eq!(d[0].message, "unknown key \"form\" in services.redis");
        assert!(
            d[0].help
                .as_deref()
                .unwrap()
                .starts_with("did you mean \"from\"?")
        );
        assert!(d[0].is_error());

        let (_, d) = read(r#"{ servics: {} }"#);
        assert_eq!(codes(&d), [Code::UnknownIntentKey]);
        assert!(d[0].help.as_deref().unwrap().contains("\"services\""));

        let (_, d) = read(r#"{ devices: { laptop: { usr: "joel@example.com" } } }"#);
        // Not also "needs tags, user or ip".
        assert_eq!(codes(&d), [Code::UnknownIntentKey], "{d:?}");
        assert!(d[0].help.as_deref().unwrap().contains("\"user\""));

        let (_, d) = read(r#"{ operator: { tag: "tag:k8s-operator", proxytag: "tag:k8s" } }"#);
        assert_eq!(codes(&d), [Code::UnknownIntentKey]);
        assert!(d[0].help.as_deref().unwrap().contains("\"proxyTag\""));

        let (_, d) = read(&format!(
            r#"{{ {DEVICES}, services: {{ w: {{ ports: [1], from: ["panda"], funnel: {{ vai: "panda" }} }} }} }}"#
        ));
        assert_eq!(codes(&d), [Code::UnknownIntentKey], "{d:?}");
        assert!(d[0].help.as_deref().unwrap().contains("\"via\""));
    }

    #[test]
    fn a_bad_port_is_one_error_with_the_spelling_it_means() {
        let port_help = |port: &str| {
            let (_, d) = read(&format!(
                r#"{{ {DEVICES}, services: {{ redis: {{ ports: ["{port}"], from: ["panda"] }} }} }}"#
            ));
            assert_eq!(d.len(), 1, "{d:?}");
            d[0].help.clone().unwrap_or_default()
        };
        assert_eq!(port_help("tcp6379"), "did you mean \"tcp:6379\"?");
        assert_eq!(port_help("6379/tcp"), "did you mean \"tcp:6379\"?");
        assert_eq!(
            port_help("udp50000-60000"),
            "did you mean \"udp:50000-60000\"?"
        );
        assert_eq!(port_help("tpc:6379"), "did you mean \"tcp:6379\"?");
        assert!(port_help("six").starts_with("ports are 1-65535"));
        assert!(!port_help("70000").contains("did you mean"));

        let (_, d) = read(&format!(
            r#"{{ {DEVICES}, services: {{ redis: {{ ports: [], from: ["panda"] }} }} }}"#
        ));
        assert_eq!(codes(&d), [Code::MissingField]);
        assert_eq!(d[0].message, "`ports` is empty");
        let (_, d) = read(&format!(
            r#"{{ {DEVICES}, services: {{ redis: {{ from: ["panda"] }} }} }}"#
        ));
        assert_eq!(codes(&d), [Code::MissingField]);
        assert_eq!(d[0].message, "service \"redis\" has no `ports`");
    }

    #[test]
    fn an_empty_or_missing_from_says_nobody_may_reach_the_service() {
        let text = format!(r#"{{ {DEVICES}, services: {{ old: {{ ports: [1], from: [] }} }} }}"#);
        let (_, d) = read(&text);
        assert_eq!(codes(&d), [Code::UnreachableService]);
        assert_eq!(
            d[0].message,
            "`from` of service \"old\" is empty: nobody may reach it"
        );
        // At the empty list, where the fix goes.
        assert_eq!(&text[d[0].primary.span.range()], "[]");
        let (_, d) = read(r#"{ services: { old: { ports: [1] } } }"#);
        assert_eq!(codes(&d), [Code::UnreachableService]);
        assert_eq!(
            d[0].message,
            "service \"old\" has no `from`: nobody may reach it"
        );
        assert!(!d[0].is_error());
    }

    #[test]
    fn funnel_says_which_node_terminates_it() {
        let service = |funnel: &str, operator: bool| {
            let op = if operator {
                r#"operator: { tag: "tag:k8s-operator" },"#
            } else {
                ""
            };
            read(&format!(
                r#"{{ {DEVICES}, {op} services: {{ worker: {{ ports: [3111], from: ["panda"], funnel: {funnel} }} }} }}"#
            ))
        };
        let (i, d) = service(r#"{ via: "panda" }"#, true);
        assert!(d.is_empty(), "{d:?}");
        assert!(matches!(&i.services[0].funnel, Some(Funnel::Via(v)) if v.value == "panda"));
        assert_eq!(i.funnel_targets(&i.services[0]), ["tag:panda"]);

        let (i, d) = service(r#""ingress""#, true);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(i.services[0].funnel, Some(Funnel::Ingress));
        assert_eq!(i.funnel_targets(&i.services[0]), ["tag:worker"]);

        // Without an operator a service is a machine, which may run Funnel itself.
        let (i, d) = service("true", false);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(i.services[0].funnel, Some(Funnel::Itself));
        let (i, d) = service("false", true);
        assert!(d.is_empty() && i.services[0].funnel.is_none(), "{d:?}");

        // With one, `true` does not say which path: an error with both fixes.
        let (_, d) = service("true", true);
        assert_eq!(codes(&d), [Code::FunnelPath]);
        let help = d[0].help.as_deref().unwrap();
        assert!(help.contains("funnel: { via:") && help.contains("funnel: \"ingress\""));
        let (_, d) = service(r#""ingress""#, false);
        assert_eq!(codes(&d), [Code::FunnelPath]);
        let (_, d) = service(r#""panda""#, true);
        assert_eq!(codes(&d), [Code::FunnelPath]);
        assert!(
            d[0].help
                .as_deref()
                .unwrap()
                .contains("funnel: { via: \"panda\" }")
        );
        let (_, d) = service(r#""ingres""#, true);
        assert!(
            d[0].help
                .as_deref()
                .unwrap()
                .starts_with("did you mean \"ingress\"?")
        );
        let (_, d) = service("{}", true);
        assert_eq!(codes(&d), [Code::FunnelPath]);

        let (_, d) = service(r#"{ via: "pandaa" }"#, true);
        assert_eq!(codes(&d), [Code::UnknownIntentName]);
        assert_eq!(d[0].help.as_deref(), Some("did you mean \"panda\"?"));
        // Through a device that may not reach the service: a warning, it may forward
        // outside the tailnet.
        let (_, d) = service(r#"{ via: "printer" }"#, true);
        assert_eq!(codes(&d), [Code::FunnelViaWithoutAccess]);
        assert!(!d[0].is_error());
    }

    #[test]
    fn a_device_known_by_its_owner_warns_where_it_is_granted() {
        let (_, d) = read(&format!(
            r#"{{ {DEVICES}, services: {{ pds: {{ ports: [3000], from: ["laptop"] }} }} }}"#
        ));
        assert_eq!(codes(&d), [Code::DeviceByUser]);
        assert!(!d[0].is_error());
        assert!(
            d[0].message.contains("every device of joel@example.com"),
            "{}",
            d[0].message
        );
        assert_eq!(d[0].labels.len(), 1);
        let help = d[0].help.as_deref().unwrap();
        assert!(
            help.contains("tags: [\"tag:laptop\"]") && help.contains("ip:"),
            "{help}"
        );
        // Defined but granted nothing: nothing to say.
        let (_, d) = read(&format!(
            r#"{{ {DEVICES}, services: {{ pds: {{ ports: [3000], from: ["panda"] }} }} }}"#
        ));
        assert!(d.is_empty(), "{d:?}");
    }
}
