//! The intents' promise through every hop (TSA150): a principal outside a service's
//! `from` that can *become* one of its sources (Tailscale SSH with tcp:22 open, tag
//! ownership, route or exit-node approval; see [`crate::engine::paths`]) reaches the
//! service too. The proof ([`super::prove`]) holds for one hop; this follows the chain.

use super::Intents;
use super::compile::selectors_for;
use crate::diagnostics::{Diagnostic, FileId, Location};
use crate::engine::access::Id;
use crate::engine::inventory::Inventory;
use crate::engine::paths::{ADMIN_PORTS, Graph, principals};
use crate::engine::reach::{self, Held, Principal, Roles, Side};
use crate::model::{Policy, Selector};
use crate::rules::Code;
use std::collections::BTreeSet;

/// How many hops a chain may have: beyond this, chains are long enough that `tsacl paths`
/// is the place to see them.
const MAX_HOPS: u32 = 6;

/// The roles that may edit the policy file.
const ADMIN_ROLES: &[&str] = &[
    "autogroup:owner",
    "autogroup:admin",
    "autogroup:network-admin",
];

/// The principals a service's `from` names, as numbers of `graph`.
fn sources(graph: &Graph, intents: &Intents, from: &[crate::model::Spanned<String>]) -> Vec<Id> {
    let policy = graph.model.policy();
    let roles = Roles::none();
    let mut out = BTreeSet::new();
    for f in from {
        if let Some(d) = intents.device(f.value.trim())
            && let Some(id) = graph.model.id(&d.principal())
        {
            out.insert(id);
        }
        for text in selectors_for(intents, &f.value) {
            let Ok(sel) = Selector::parse(&text) else {
                continue;
            };
            for (i, p) in graph.model.principals().iter().enumerate() {
                if reach::contains(policy, &roles, &sel, Side::Src, p) {
                    out.insert(i as Id);
                }
            }
        }
    }
    out.into_iter().collect()
}

/// TSA150 for each service that someone outside its `from` can reach by becoming one of
/// its sources, at the rule where the chain starts (in `output`, the compiled policy),
/// with a label at the service (in `intents_file`).
pub fn promise(
    intents: &Intents,
    policy: &Policy,
    files: (FileId, FileId),
    inventory: Option<&Inventory>,
    diags: &mut Vec<Diagnostic>,
) {
    let (intents_file, output) = files;
    if intents.services.iter().all(|s| s.from.is_empty()) {
        return;
    }
    let roles = Roles::of(inventory);
    let graph = Graph::new(
        policy,
        &roles,
        principals(policy, inventory, &[]),
        ADMIN_PORTS,
        &Held::of(inventory),
    );
    let name_of = |p: &Principal| -> String {
        intents
            .devices
            .iter()
            .find(|d| d.principal() == *p)
            .map(|d| format!("{} ({p})", d.name.value))
            .unwrap_or_else(|| p.to_string())
    };
    // One finding per (where the chain starts, the written source), naming every
    // service reached that way: the cut is the same for all of them.
    let mut found_chains: Vec<Chain> = Vec::new();
    for svc in &intents.services {
        if svc.from.is_empty() {
            continue;
        }
        let inside = sources(&graph, intents, &svc.from);
        let own = graph.model.id(&Principal::Tags(vec![svc.tag.clone()]));
        for found in graph.becoming(&inside, MAX_HOPS, true) {
            if Some(found.principal) == own || inside.contains(&found.principal) {
                continue;
            }
            let first = &found.hops[0];
            let written = graph.written_as(first.link, found.principal);
            let who = if written.is_empty() {
                name_of(graph.model.principal(found.principal))
            } else {
                written.join(", ")
            };
            // Admins can rewrite the policy itself: that they can also tag a device is no
            // news about the service.
            if written.iter().any(|w| ADMIN_ROLES.contains(&w.as_str())) {
                continue;
            }
            if let Some(c) = found_chains
                .iter_mut()
                .find(|c| c.link == first.link && c.who == who)
            {
                if !c.services.contains(&svc.name.value) {
                    c.services.push(svc.name.value.clone());
                    c.labels.push(svc.from_span.unwrap_or(svc.name.span));
                }
                continue;
            }
            let mut chain = who.clone();
            let mut rules = Vec::new();
            for h in &found.hops {
                let link = graph.link(h.link);
                let arrow = format!("={}=>", link.kind.name());
                chain.push_str(&format!(
                    " {arrow} {}",
                    name_of(graph.model.principal(h.to))
                ));
                rules.extend(link.cites.iter().map(|c| c.rule.clone()));
            }
            let became = name_of(
                graph
                    .model
                    .principal(found.hops.last().map_or(found.principal, |h| h.to)),
            );
            found_chains.push(Chain {
                link: first.link,
                who,
                became,
                chain,
                rules,
                services: vec![svc.name.value.clone()],
                labels: vec![svc.from_span.unwrap_or(svc.name.span)],
            });
        }
    }
    for c in found_chains {
        let link = graph.link(c.link);
        let at = link.cites[0].span;
        let help = match link.kind {
            crate::engine::paths::Kind::Ssh => {
                "narrow the SSH rule (its sources or users, or `check` mode)"
            }
            crate::engine::paths::Kind::TagOwner => "restrict the tag's owners",
            _ => "narrow the auto-approvers",
        };
        let services: Vec<String> = c.services.iter().map(|s| format!("`{s}`")).collect();
        let (services, whose) = match services.len() {
            1 => (format!("the service {}", services[0]), "its"),
            _ => (format!("the services {}", and_list(&services)), "their"),
        };
        let who = &c.who;
        let mut d = Diagnostic::new(
            Code::TransitiveSource,
            Location {
                file: output,
                span: at,
            },
            format!(
                "{who} can become {}, a source of {services}, though {whose} `from` does not name {who}: {} =network=> {} ({who} {}; {})",
                c.became,
                c.chain,
                c.services.join(", "),
                link.reason,
                c.rules.join(", ")
            ),
        );
        for (name, span) in c.services.iter().zip(&c.labels) {
            d = d.with_label(
                Location {
                    file: intents_file,
                    span: *span,
                },
                format!("`{name}` is meant for these sources only"),
            );
        }
        let first = &c.services[0];
        diags.push(d.with_help(format!(
            "{help}, or add {who} to the `from` of {} if this is intended; `tsacl paths {first}` shows every chain",
            and_list(&c.services.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>())
        )));
    }
}

/// One way in: who starts it, through which first link, and every service it reaches.
struct Chain {
    link: u32,
    who: String,
    became: String,
    chain: String,
    rules: Vec<String>,
    services: Vec<String>,
    labels: Vec<crate::syntax::Span>,
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}
