//! SSH intents: who may log in on a device, and as which users.
//!
//! ```json5
//! devices: {
//!   panda: { tags: ["tag:panda"],
//!            ssh: [{ from: ["group:admins"], users: ["root", "autogroup:nonroot"], action: "check" }] },
//! }
//! ```
//!
//! Each entry compiles to both halves Tailscale SSH needs: the `ssh` rule (who may log in
//! as whom) and a grant of TCP port 22 to the device's tags from the same sources (the
//! network access without which the `ssh` rule does nothing), with a test accepting each
//! source on port 22 and `sshTests` ([`ssh_tests`]). The proof covers port 22 of the device like a service's ports:
//! exactly the `from` of its SSH intents may reach it there ([`prove`]).

use super::compile::{Compiled, RuleOrigin, selectors_for};
use super::prove::{Files, access_text, analyse};
use super::{DeviceIntent, Intents, ServiceIntent, ServicePort};
use crate::diagnostics::{Diagnostic, FileId, Location};
use crate::engine::Inventory;
use crate::model::{Policy, PortRange, Protocol, Spanned};
use crate::rules::Code;
use crate::suggest::did_you_mean;
use crate::syntax::{Kind, Span, Value};

/// The keys of one SSH intent.
pub const SSH_FIELDS: &[&str] = &["from", "users", "action"];

/// One entry of a device's `ssh`.
#[derive(Clone, Debug, PartialEq)]
pub struct SshIntent {
    /// Who may log in: device names, groups, users, tags or autogroups, as in a service's
    /// `from`.
    pub from: Vec<Spanned<String>>,
    /// As which local users (`root`, `autogroup:nonroot`, `ubuntu`, ...).
    pub users: Vec<Spanned<String>>,
    /// `accept` or `check` (the default: a fresh login for root-capable access).
    pub action: String,
    /// The entry.
    pub span: Span,
}

/// The port SSH intents open.
pub const SSH_PORT: u16 = 22;

/// Read a device's `ssh` value: a list of entries (or one entry).
pub fn lower(v: &Value, device: &str, file: FileId, diags: &mut Vec<Diagnostic>) -> Vec<SshIntent> {
    let at = |span| Location { file, span };
    let items: Vec<&Value> = match &v.kind {
        Kind::Array(items) => items.iter().collect(),
        Kind::Object(_) => vec![v],
        Kind::Null => Vec::new(),
        _ => {
            diags.push(Diagnostic::new(
                Code::WrongType,
                at(v.span),
                format!("devices.{device}.ssh must be a list of {{ from, users, action }} entries, not {}", v.type_name()),
            ));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for item in items {
        let Some(members) = item.as_object() else {
            diags.push(Diagnostic::new(
                Code::WrongType,
                at(item.span),
                format!(
                    "each entry of devices.{device}.ssh must be an object, not {}",
                    item.type_name()
                ),
            ));
            continue;
        };
        let mut entry = SshIntent {
            from: Vec::new(),
            users: Vec::new(),
            action: "check".into(),
            span: item.span,
        };
        let (mut has_from, mut has_users, mut clean) = (false, false, true);
        for m in members {
            let strings = |diags: &mut Vec<Diagnostic>| -> Vec<Spanned<String>> {
                match &m.value.kind {
                    Kind::Array(xs) => xs
                        .iter()
                        .filter_map(|x| match &x.kind {
                            Kind::String(s) => Some(Spanned {
                                value: s.clone(),
                                span: x.span,
                            }),
                            _ => {
                                diags.push(Diagnostic::new(
                                    Code::WrongType,
                                    at(x.span),
                                    format!("each entry of ssh `{}` must be a string", m.key),
                                ));
                                None
                            }
                        })
                        .collect(),
                    _ => {
                        diags.push(Diagnostic::new(
                            Code::WrongType,
                            at(m.value.span),
                            format!("ssh `{}` must be an array of strings", m.key),
                        ));
                        Vec::new()
                    }
                }
            };
            match m.key.as_str() {
                "from" => {
                    has_from = true;
                    entry.from = strings(diags);
                }
                "users" => {
                    has_users = true;
                    entry.users = strings(diags);
                }
                "action" => match &m.value.kind {
                    Kind::String(s) if s == "accept" || s == "check" => entry.action = s.clone(),
                    _ => {
                        diags.push(
                            Diagnostic::new(
                                Code::SshIntent,
                                at(m.value.span),
                                format!("ssh action must be \"accept\" or \"check\", not {}", raw(&m.value)),
                            )
                            .with_help("\"check\" asks for a fresh login in the browser; \"accept\" lets a logged-in source in"),
                        );
                        clean = false;
                    }
                },
                other => {
                    let hint = did_you_mean(other, SSH_FIELDS.iter().copied());
                    let mut d = Diagnostic::new(
                        Code::UnknownIntentKey,
                        at(m.key_span),
                        format!("unknown key {other:?} in devices.{device}.ssh"),
                    );
                    d.help = Some(match hint {
                        Some(h) => format!(
                            "did you mean {h:?}? (known keys: {})",
                            SSH_FIELDS.join(", ")
                        ),
                        None => format!("known keys: {}", SSH_FIELDS.join(", ")),
                    });
                    diags.push(d);
                    clean = false;
                }
            }
        }
        if clean && (!has_from || entry.from.is_empty()) {
            diags.push(
                Diagnostic::new(
                    Code::SshIntent,
                    at(item.span),
                    format!("an ssh entry of {device:?} needs `from`: who may log in"),
                )
                .with_help("e.g. from: [\"group:admins\"]"),
            );
        }
        if clean && (!has_users || entry.users.is_empty()) {
            diags.push(
                Diagnostic::new(
                    Code::SshIntent,
                    at(item.span),
                    format!("an ssh entry of {device:?} needs `users`: the local users one may log in as"),
                )
                .with_help("e.g. users: [\"root\", \"autogroup:nonroot\"]"),
            );
        }
        out.push(entry);
    }
    out
}

fn raw(v: &Value) -> String {
    match &v.kind {
        Kind::String(s) => format!("{s:?}"),
        _ => v.type_name().to_string(),
    }
}

/// Names the SSH intents use must be defined, and the device must be tagged (Tailscale
/// SSH reaches a user's devices only from that user; the intents name devices by tags).
pub fn check_names(intents: &Intents, file: FileId, diags: &mut Vec<Diagnostic>) {
    let at = |span| Location { file, span };
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
    for d in intents.devices.iter().filter(|d| !d.ssh.is_empty()) {
        if d.tags.is_empty() {
            diags.push(
                Diagnostic::new(
                    Code::SshIntent,
                    at(d.ssh[0].span),
                    format!("ssh into {:?} needs the device to be tagged", d.name.value),
                )
                .with_help("Tailscale SSH reaches a user's own devices only from that user (`autogroup:self`, in the base policy); give the device `tags` to let others in"),
            );
            continue;
        }
        for e in &d.ssh {
            for f in &e.from {
                let name = f.value.trim();
                if !super::lower::is_known_source(name, &groups, &devices) {
                    let hint = did_you_mean(name, devices.iter().chain(&groups).copied());
                    diags.push(
                        Diagnostic::new(
                            Code::UnknownIntentName,
                            at(f.span),
                            format!("ssh into {:?}: {name:?} is not a device or group of the intents", d.name.value),
                        )
                        .with_help(match hint {
                            Some(h) => format!("did you mean {h:?}?"),
                            None => "define it under `devices` (or write a user, group:, tag: or autogroup:)".into(),
                        }),
                    );
                }
            }
        }
    }
}

/// The sources of an SSH intent as policy selectors, in order, without repeats.
pub fn sources(intents: &Intents, e: &SshIntent) -> Vec<(String, Span)> {
    let mut out: Vec<(String, Span)> = Vec::new();
    for f in &e.from {
        for sel in selectors_for(intents, &f.value) {
            if !out.iter().any(|(s, _)| *s == sel) {
                out.push((sel, f.span));
            }
        }
    }
    out
}

/// The devices with SSH intents that compile (tagged), with their index in `devices`.
pub fn devices(intents: &Intents) -> impl Iterator<Item = (usize, &DeviceIntent)> {
    intents
        .devices
        .iter()
        .enumerate()
        .filter(|(_, d)| !d.ssh.is_empty() && !d.tags.is_empty())
}

/// Port 22 of each device with SSH intents, as a service the proof can check: its tags
/// reached on tcp:22 from the union of the intents' `from`. The device's other ports are
/// not the intents' business (rules in the base file may open them).
pub(super) fn as_services(intents: &Intents) -> Vec<(usize, ServiceIntent)> {
    let mut out = Vec::new();
    for (k, d) in devices(intents) {
        let mut from: Vec<Spanned<String>> = Vec::new();
        for e in &d.ssh {
            for f in &e.from {
                if !from.iter().any(|x| x.value.trim() == f.value.trim()) {
                    from.push(f.clone());
                }
            }
        }
        for t in &d.tags {
            out.push((
                k,
                ServiceIntent {
                    name: d.name.clone(),
                    ports: vec![ServicePort {
                        protocol: Protocol::TCP,
                        range: PortRange {
                            first: SSH_PORT,
                            last: SSH_PORT,
                        },
                        span: d.ssh[0].span,
                    }],
                    source_ports: vec![None; from.len()],
                    from: from.clone(),
                    from_span: Some(d.ssh[0].span),
                    funnel: None,
                    funnel_span: None,
                    tag: t.value.clone(),
                    tag_span: Some(t.span),
                    hostname: d.name.value.clone(),
                    k8s_service: None,
                },
            ));
        }
    }
    out
}

/// The proof for SSH intents: on TCP port 22 of each device with SSH intents, the
/// principals that can reach it are exactly those the `from` of its SSH intents name.
/// Extra principals are TSA113 at the rule that lets them in, missing ones TSA114 at the
/// `from` entry, like a service's.
pub fn prove(
    intents: &Intents,
    policy: &Policy,
    compiled: &Compiled,
    files: &Files,
    inventory: Option<&Inventory>,
    diags: &mut Vec<Diagnostic>,
) {
    let services = as_services(intents);
    if services.is_empty() {
        return;
    }
    let first_of = |device: usize| services.iter().position(|(k, _)| *k == device);
    let view = Intents {
        services: services.iter().map(|(_, s)| s.clone()).collect(),
        ..intents.clone()
    };
    // The compiled rules, seen from the view: an SSH grant is its device's "service"; the
    // services' own grants are rules like a base's.
    let remap = |o: &RuleOrigin| match o {
        RuleOrigin::Ssh { device, .. } => first_of(*device)
            .map(RuleOrigin::Service)
            .unwrap_or(RuleOrigin::Base(Span::default())),
        RuleOrigin::Service(_) => RuleOrigin::Base(Span::default()),
        RuleOrigin::Base(s) => RuleOrigin::Base(*s),
    };
    let view_compiled = Compiled {
        text: Vec::new(),
        grant_origins: compiled.grant_origins.iter().map(remap).collect(),
        acl_origins: compiled.acl_origins.iter().map(remap).collect(),
        written: Vec::new(),
    };
    let proof = analyse(&view, policy, inventory);
    let port_22 = |a: &crate::engine::reach::Access| crate::engine::reach::admits(a, 6, SSH_PORT);
    for x in &proof.extra {
        let mut x = x.clone();
        x.principals.retain(|p| port_22(&p.access));
        if x.principals.is_empty() {
            continue;
        }
        for p in &mut x.principals {
            p.access = [(6u8, vec![(SSH_PORT, SSH_PORT)])].into_iter().collect();
        }
        let mut d = super::prove::extra_diagnostic(&view, policy, &view_compiled, files, &x);
        d.message = d.message.replace(
            "which the intents do not allow",
            "which the intents' `ssh` does not allow",
        );
        diags.push(d);
    }
    for m in &proof.missing {
        if !port_22(&m.access) {
            continue;
        }
        let svc = &view.services[m.service];
        diags.push(
            Diagnostic::new(
                Code::MissingAccess,
                Location {
                    file: files.intents,
                    span: m.at,
                },
                format!(
                    "{} may SSH into {} by the intents, but the policy does not let it reach {}",
                    m.name,
                    svc.name.value,
                    access_text(&m.access)
                ),
            )
            .with_help("a base rule or definition narrows what the intent compiles to; check the names it uses"),
        );
    }
}

/// `sshTests` for the SSH intents, each with the `from` entry that asks for it: every user
/// the intents name among the sources (a user, or a member of an intents group) may log
/// in on the device as each local user the intent lists (under `check` or `accept`, as the
/// rule's action), and not as `root` when the intent does not list it. The control plane
/// runs them on every save, so an edit elsewhere that breaks the SSH intents fails there.
pub fn ssh_tests(intents: &Intents) -> Vec<(String, Span)> {
    let mut out = Vec::new();
    for (_, d) in devices(intents) {
        let dst: Vec<String> = d.tags.iter().map(|t| format!("{:?}", t.value)).collect();
        for e in &d.ssh {
            let literal: Vec<&str> = e
                .users
                .iter()
                .map(|u| u.value.as_str())
                .filter(|u| !u.contains(':') && !u.contains('*'))
                .collect();
            let root_denied = !e.users.iter().any(|u| u.value == "root");
            if literal.is_empty() && !root_denied {
                continue;
            }
            let mut logins: Vec<(String, Span)> = Vec::new();
            for f in &e.from {
                for sel in selectors_for(intents, &f.value) {
                    let members: Vec<String> = if sel.contains('@') && !sel.contains('*') {
                        vec![sel]
                    } else {
                        intents
                            .groups
                            .iter()
                            .filter(|(n, _)| n.value == sel)
                            .flat_map(|(_, m)| m.iter().map(|x| x.value.trim().to_string()))
                            .collect()
                    };
                    for m in members {
                        if !logins.iter().any(|(l, _)| *l == m) {
                            logins.push((m, f.span));
                        }
                    }
                }
            }
            for (login, span) in logins {
                let mut parts = vec![
                    format!("\"src\": {login:?}"),
                    format!("\"dst\": [{}]", dst.join(", ")),
                ];
                if !literal.is_empty() {
                    let users: Vec<String> = literal.iter().map(|u| format!("{u:?}")).collect();
                    parts.push(format!("{:?}: [{}]", e.action, users.join(", ")));
                }
                if root_denied {
                    parts.push("\"deny\": [\"root\"]".into());
                }
                out.push((format!("{{{}}}", parts.join(", ")), span));
            }
        }
    }
    out
}
