//! JSON5 tree → [`Intents`], reporting problems at their spans in the intents file.

use super::{DeviceIntent, Intents, Operator, ServiceIntent, ServicePort};
use crate::diagnostics::{Diagnostic, FileId, Label, Location};
use crate::model::{PortRange, Protocol, Spanned};
use crate::rules::Code;
use crate::suggest::did_you_mean;
use crate::syntax::{Kind, Member, Span, Value};

/// The keys of the intents file and of its sections (for "did you mean" and completion).
pub const TOP_FIELDS: &[&str] = &[
    "output", "tailnet", "base", "groups", "devices", "operator", "services", "lint",
];
pub const DEVICE_FIELDS: &[&str] = &["tags", "user", "ip"];
pub const OPERATOR_FIELDS: &[&str] = &["tag", "proxyTag", "owners"];
pub const SERVICE_FIELDS: &[&str] = &["ports", "from", "funnel", "tag", "hostname", "service"];
pub const LINT_FIELDS: &[&str] = &["select", "ignore", "severity"];

struct Lowerer<'d> {
    file: FileId,
    diags: &'d mut Vec<Diagnostic>,
}

/// Read the intents; problems go to `diags`.
pub fn lower(root: &Value, file: FileId, diags: &mut Vec<Diagnostic>) -> Intents {
    let mut l = Lowerer { file, diags };
    l.intents(root)
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
                let hint = did_you_mean(&m.key, known.iter().copied());
                let d = self.report(
                    Code::UnknownField,
                    m.key_span,
                    format!("unknown field {:?} in {what}", m.key),
                );
                d.help = Some(match hint {
                    Some(h) => format!("did you mean {h:?}?"),
                    None => format!("known fields: {}", known.join(", ")),
                });
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
        };
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
        if d.tags.is_empty() && d.user.is_none() && d.ip.is_none() {
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
            funnel: false,
            funnel_span: None,
            tag: format!("tag:{name}"),
            tag_span: None,
            hostname: name.clone(),
            k8s_service: None,
        };
        if crate::validate::check_tag_name(&svc.tag).is_err() {
            self.report(
                Code::InvalidTagName,
                m.key_span,
                format!("service name {name:?} does not make a valid tag; give it one with `tag: \"tag:...\"`"),
            );
        }
        for f in self.members(&m.value, &format!("services.{name}"), Some(SERVICE_FIELDS)) {
            match f.key.as_str() {
                "ports" => svc.ports = self.ports(&f.value),
                "from" => svc.from = self.strings(&f.value, "from"),
                "funnel" => match f.value.as_bool() {
                    Some(b) => {
                        svc.funnel = b;
                        svc.funnel_span = Some(f.value.span);
                    }
                    None => {
                        self.report(
                            Code::WrongType,
                            f.value.span,
                            "funnel must be true or false",
                        );
                    }
                },
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
        if svc.ports.is_empty() {
            self.report(
                Code::MissingField,
                m.key_span,
                format!("service {name:?} has no ports"),
            )
            .help = Some("add ports: [6379] (TCP) or [\"udp:53\"]".into());
        }
        if svc.from.is_empty() {
            self.report(
                Code::UnreachableService,
                m.key_span,
                format!("nobody may reach service {name:?}"),
            )
            .help = Some("add the machines that need it to `from`".into());
        }
        Some(svc)
    }

    fn ports(&mut self, v: &Value) -> Vec<ServicePort> {
        let Some(items) = v.as_array() else {
            self.report(Code::WrongType, v.span, "ports must be an array");
            return Vec::new();
        };
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
                    self.report(Code::InvalidProtocol, item.span, e);
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
                    self.report(Code::InvalidPort, item.span, format!("port {text:?}: {e}"))
                        .help = Some(
                        "ports are 1-65535, e.g. 6379, \"tcp:8080\", \"udp:50000-60000\"".into(),
                    );
                }
            }
        }
        let _ = PortRange::ALL;
        out
    }

    /// Every `from` entry must name something.
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
                let known = if name.contains('@')
                    || name.starts_with("tag:")
                    || name.starts_with("autogroup:")
                {
                    true
                } else if name.starts_with("group:") {
                    groups.contains(&name)
                } else {
                    devices.contains(&name)
                };
                if !known {
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
        }
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
