//! Hover: what a name is (members, owners, address, devices) and who can reach it, through
//! which rules (`tsacl explain`); what a rule allows; and, on a finding, its rule's
//! explanation (`tsacl rule CODE`).

use super::analysis::{Model, ProjectView};
use super::diagnostics::Finding;
use super::documents::Kind as DocKind;
use super::symbols::{Kind, Occurrence, at};
use crate::diagnostics::SourceFile;
use crate::engine::Inventory;
use crate::engine::explain::{
    Held, address_note, cannot_reach, inbound, inbound_by_address, resolve_name,
};
use crate::engine::reach::Roles;
use crate::model::{Autogroup, Policy};

/// At most this many rows of `explain` in a hover; the command prints them all.
const MAX_ROWS: usize = 12;

/// The policy `explain` answers from, and the file its rules are in (for line numbers).
pub struct Explainer<'a> {
    pub policy: &'a Policy,
    pub file: &'a SourceFile,
}

pub struct Context<'a> {
    pub model: &'a Model,
    /// The findings of this version of the document.
    pub findings: &'a [Finding],
    pub inventory: Option<&'a Inventory>,
    pub project: Option<&'a ProjectView>,
}

impl Context<'_> {
    /// A policy's own rules, or, for the files of an intents project, the compiled policy
    /// (what the control plane will hold).
    fn explainer(&self) -> Option<Explainer<'_>> {
        if let Some(view) = self.project
            && let Some(policy) = &view.policy
        {
            return Some(Explainer {
                policy,
                file: view.project.sources.get(view.project.output_file),
            });
        }
        Some(Explainer {
            policy: self.model.policy.as_ref()?,
            file: &self.model.file,
        })
    }
}

/// The hover text (Markdown) at `offset`; `None` when there is nothing to say.
pub fn hover(ctx: &Context, offset: usize) -> Option<String> {
    let mut sections = Vec::new();
    if let Some(o) = at(&ctx.model.occurrences, offset) {
        sections.push(symbol(ctx, o));
    } else if let Some(text) = rule(ctx.model, offset) {
        sections.push(text);
    }
    for f in ctx.findings {
        let inside = f.span.start as usize <= offset && offset <= f.span.end as usize;
        if let (true, Some(code)) = (inside, f.code) {
            let r = code.rule();
            let text = format!(
                "**{}** `{}` ({}): {}\n\n{}",
                r.id,
                r.name,
                f.severity.as_str(),
                r.summary,
                r.explanation
            );
            if !sections.contains(&text) {
                sections.push(text);
            }
        }
    }
    (!sections.is_empty()).then(|| sections.join("\n\n---\n\n"))
}

fn symbol(ctx: &Context, o: &Occurrence) -> String {
    let mut out = format!("**{}** ({})", o.name, o.kind.describe());
    let explainer = ctx.explainer();
    let lines = &mut Vec::<String>::new();
    let mut explain_as = Some(o.name.clone());
    match (o.kind, &explainer) {
        (Kind::Autogroup, _) => {
            lines.push(autogroup(&o.name).to_string());
            explain_as = None;
        }
        (Kind::Device | Kind::Service, _) => {
            explain_as = intents_symbol(ctx, o, lines);
        }
        (_, Some(e)) => policy_symbol(ctx, e.policy, o, lines),
        _ => {}
    }
    if ctx.model.kind == DocKind::Intents
        && let Some(i) = &ctx.model.intents
        && o.kind == Kind::Group
        && let Some((_, members)) = i.groups.iter().find(|(n, _)| n.value == o.name)
    {
        lines.push(format!(
            "Members: {}",
            list(members.iter().map(|m| m.value.as_str()))
        ));
    }
    if let (Some(name), Some(e)) = (explain_as, &explainer) {
        lines.push(explain(ctx, e, &name));
    }
    for l in lines.iter() {
        out.push_str("\n\n");
        out.push_str(l);
    }
    out
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.map(|s| format!("`{s}`")).collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn policy_symbol(ctx: &Context, policy: &Policy, o: &Occurrence, lines: &mut Vec<String>) {
    match o.kind {
        Kind::Tag => {
            match policy.tag_owner(&o.name) {
                Some(def) => lines.push(format!(
                    "Owners (who may apply it): {}",
                    list(def.owners.iter().map(|s| s.raw.trim()))
                )),
                None => lines.push("Not defined in `tagOwners`.".into()),
            }
            if let Some(inv) = ctx.inventory {
                let devices: Vec<&str> = inv
                    .devices
                    .iter()
                    .filter(|d| d.tags.contains(&o.name))
                    .map(|d| d.hostname.as_str())
                    .collect();
                lines.push(format!(
                    "Devices (inventory): {}",
                    list(devices.into_iter())
                ));
            }
        }
        Kind::Group => match policy.group(&o.name) {
            Some(g) => lines.push(format!(
                "Members: {}",
                list(g.members.iter().map(|m| m.value.as_str()))
            )),
            None if ctx.model.kind == DocKind::Policy => {
                lines.push("Not defined in `groups`.".into())
            }
            None => {}
        },
        Kind::Host => match policy.host(&o.name) {
            Some(h) => lines.push(format!("Address: `{}`", h.value.value)),
            None => lines.push("Not defined in `hosts`.".into()),
        },
        Kind::User => {
            let groups: Vec<&str> = policy
                .groups
                .iter()
                .filter(|g| g.members.iter().any(|m| m.value.trim() == o.name))
                .map(|g| g.name.value.as_str())
                .collect();
            lines.push(format!("In groups: {}", list(groups.into_iter())));
            if let Some(inv) = ctx.inventory {
                let devices: Vec<&str> = inv
                    .devices
                    .iter()
                    .filter(|d| d.owner() == Some(o.name.as_str()))
                    .map(|d| d.hostname.as_str())
                    .collect();
                lines.push(format!(
                    "Devices (inventory): {}",
                    list(devices.into_iter())
                ));
            }
        }
        Kind::IpSet => {
            if let Some(s) = policy.ipset(&o.name) {
                lines.push(format!(
                    "Contents: {}",
                    list(s.ops.iter().map(|op| op.value.as_str()))
                ));
            }
        }
        Kind::Posture => {
            if let Some(p) = policy.postures.iter().find(|p| p.name.value == o.name) {
                lines.push(format!(
                    "Conditions: {}",
                    list(p.conditions.iter().map(|c| c.value.as_str()))
                ));
            }
        }
        _ => {}
    }
}

/// A device or service of the intents file: what it is, and the name to explain it by.
fn intents_symbol(ctx: &Context, o: &Occurrence, lines: &mut Vec<String>) -> Option<String> {
    let intents = ctx.model.intents.as_ref()?;
    if o.kind == Kind::Service {
        let s = intents.service(&o.name)?;
        if s.has_source_ports() {
            lines.push(format!(
                "Tag `{}`; intended for {}",
                s.tag,
                s.intended_text()
            ));
        } else {
            let ports: Vec<String> = s.ports.iter().map(|p| p.grant_text()).collect();
            lines.push(format!(
                "Tag `{}`; intended for {} on {}",
                s.tag,
                list(s.from.iter().map(|f| f.value.as_str())),
                ports.join(", ")
            ));
        }
        return Some(s.tag.clone());
    }
    let Some(d) = intents.device(&o.name) else {
        lines.push("Not a device of the intents.".into());
        return None;
    };
    if !d.tags.is_empty() {
        lines.push(format!(
            "Tags: {}",
            list(d.tags.iter().map(|t| t.value.as_str()))
        ));
    }
    if let Some(u) = &d.user {
        lines.push(format!("Owner: `{}`", u.value));
    }
    if let Some(ip) = &d.ip {
        lines.push(format!("Address: `{}`", ip.value));
    }
    crate::intents::compile::selectors_for(intents, &o.name)
        .into_iter()
        .next()
}

/// Who can reach `name`, per rule, and which named principals cannot.
fn explain(ctx: &Context, e: &Explainer, name: &str) -> String {
    let target = match resolve_name(e.policy, ctx.inventory, name) {
        Ok(t) => t,
        Err(why) => return format!("`tsacl explain`: {why}"),
    };
    let roles = Roles::of(ctx.inventory);
    let held = Held::of(ctx.inventory);
    let model = crate::engine::explain::model(e.policy, &roles, &[&target]);
    let mut rows = inbound(&model, &target);
    let by_address = inbound_by_address(&model, &target, &held);
    rows.extend(by_address.reach.iter().cloned());
    let mut out = format!(
        "**Who can reach {}** (`tsacl explain {}`):",
        target.name, target.name
    );
    if let Some(note) = address_note(&target, &held) {
        out.push_str(&format!("\n\n{note}"));
    }
    if rows.is_empty() {
        out.push_str("\n\nnobody");
        if !by_address.undecided.is_empty() {
            out.push_str(" for certain");
        }
        out.push_str(": no grant or ACL reaches it (SSH rules are not network access)");
    }
    let row_line = |r: &crate::engine::explain::Row| {
        let (line, _) = e.file.line_col(r.span.start as usize);
        let ports = if r.protocol == "any" {
            r.ports.clone()
        } else {
            format!("{}:{}", r.protocol, r.ports)
        };
        let at = if r.span.is_empty() && r.span.start == 0 {
            String::new()
        } else {
            format!(", {} line {line}", e.file.name)
        };
        format!(
            "\n- {} → `{}` on {ports} ({}{at})",
            list(r.sources.iter().map(String::as_str)),
            r.destination,
            r.rule
        )
    };
    for r in rows.iter().take(MAX_ROWS) {
        out.push_str(&row_line(r));
    }
    if rows.len() > MAX_ROWS {
        out.push_str(&format!("\n- … and {} more", rows.len() - MAX_ROWS));
    }
    if !by_address.undecided.is_empty() {
        out.push_str(
            "\n\nUndecided: rules written with addresses, which reach it if its devices hold them (a policy file does not say; `--inventory` decides):",
        );
        for r in by_address.undecided.iter().take(MAX_ROWS) {
            out.push_str(&row_line(r));
        }
        if by_address.undecided.len() > MAX_ROWS {
            out.push_str(&format!(
                "\n- … and {} more",
                by_address.undecided.len() - MAX_ROWS
            ));
        }
    }
    let cannot = cannot_reach(&model, &target, &held, &by_address);
    for (what, names) in [
        ("May reach it, as addresses decide", &cannot.undecided),
        ("Cannot reach it", &cannot.cannot),
    ] {
        if names.is_empty() {
            continue;
        }
        let shown: Vec<&str> = names.iter().take(MAX_ROWS).map(String::as_str).collect();
        out.push_str(&format!("\n\n{what}: {}", list(shown.into_iter())));
        if names.len() > MAX_ROWS {
            out.push_str(&format!(" and {} more", names.len() - MAX_ROWS));
        }
    }
    out
}

/// What the rule under `offset` allows.
fn rule(model: &Model, offset: usize) -> Option<String> {
    let policy = model.policy.as_ref()?;
    let inside =
        |span: crate::syntax::Span| span.start as usize <= offset && offset < span.end as usize;
    let sels = |s: &[crate::model::Sel]| list(s.iter().map(|s| s.raw.trim()));
    if let Some((i, g)) = policy
        .grants
        .iter()
        .flatten()
        .enumerate()
        .find(|(_, g)| inside(g.span))
    {
        let ip: Vec<String> =
            g.ip.iter()
                .map(|s| {
                    String::from_utf8_lossy(&model.file.text[s.span.range()])
                        .trim_matches('"')
                        .to_string()
                })
                .collect();
        let mut text = format!(
            "**grants[{i}]** allows {} to reach {}",
            sels(&g.src),
            sels(&g.dst)
        );
        if !ip.is_empty() {
            text.push_str(&format!(" on {}", list(ip.iter().map(String::as_str))));
        }
        if !g.app.is_empty() {
            text.push_str(&format!(
                "; application capabilities {}",
                list(g.app.iter().map(|a| a.name.value.as_str()))
            ));
        }
        if !g.via.is_empty() {
            text.push_str(&format!(", routed through {}", sels(&g.via)));
        }
        if !g.src_posture.is_empty() {
            text.push_str(&format!(
                ", from devices meeting {}",
                list(g.src_posture.iter().map(|p| p.value.as_str()))
            ));
        }
        return Some(text + ".");
    }
    if let Some((i, a)) = policy
        .acls
        .iter()
        .flatten()
        .enumerate()
        .find(|(_, a)| inside(a.span))
    {
        let proto = a
            .proto
            .as_ref()
            .map_or_else(|| "TCP, UDP and ICMP".to_string(), |p| p.value.to_string());
        return Some(format!(
            "**acls[{i}]** allows {} to reach {} ({proto}).",
            sels(&a.src),
            list(a.dst.iter().map(|d| d.raw.trim()))
        ));
    }
    if let Some((i, r)) = policy.ssh.iter().enumerate().find(|(_, r)| inside(r.span)) {
        let users = r
            .users
            .as_ref()
            .map(|u| list(u.value.iter().map(|u| u.value.as_str())))
            .unwrap_or_else(|| "nobody".into());
        let action = r.action.as_ref().map_or("", |a| a.value.as_str());
        let check = if action == "check" {
            " after a recent re-authentication (check)"
        } else {
            ""
        };
        return Some(format!(
            "**ssh[{i}]** lets {} SSH into {} as {users}{check}.",
            sels(&r.src),
            sels(&r.dst)
        ));
    }
    if let Some((i, n)) = policy
        .node_attrs
        .iter()
        .enumerate()
        .find(|(_, n)| inside(n.span))
    {
        return Some(format!(
            "**nodeAttrs[{i}]** gives {} the attributes {}.",
            sels(&n.target),
            list(n.attr.iter().map(|a| a.value.as_str()))
        ));
    }
    None
}

fn autogroup(name: &str) -> &'static str {
    match Autogroup::from_name(name) {
        Some(Autogroup::Member | Autogroup::Members) => {
            "The devices of every member of the tailnet (users' own devices; not tagged devices, not shared users)."
        }
        Some(Autogroup::Tagged) => "Every tagged device.",
        Some(Autogroup::SelfDevices) => {
            "As a destination: the devices of the user the connection comes from."
        }
        Some(Autogroup::Internet) => "The internet, through exit nodes.",
        Some(Autogroup::Shared) => {
            "The devices of users from other tailnets who were shared a device."
        }
        Some(Autogroup::DangerAll) => "Every address, inside the tailnet or not.",
        Some(Autogroup::Nonroot) => "As an SSH user: any user on the destination but root.",
        Some(Autogroup::Owner) => "The devices of the tailnet's owner.",
        Some(Autogroup::Admin) => "The devices of the tailnet's admins (and owner).",
        Some(Autogroup::NetworkAdmin) => "The devices of users with the network admin role.",
        Some(Autogroup::ItAdmin) => "The devices of users with the IT admin role.",
        Some(Autogroup::BillingAdmin) => "The devices of users with the billing admin role.",
        Some(Autogroup::Auditor) => "The devices of users with the auditor role.",
        None => "Not an autogroup the control plane knows.",
    }
}
