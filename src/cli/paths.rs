//! `tsacl paths TARGET [POLICY]` and `tsacl blast SOURCE [POLICY]`: who can reach or
//! become a target in a few hops, and what a source can; each hop with its rule.

use super::explain::{IntentsView, load_inventory_opt, load_policy, policy_and_intents};
use super::{EXIT_CLEAN, EXIT_USAGE, error_line, warning_line};
use crate::diagnostics::{FileId, SourceMap, thousands};
use crate::engine::access::Id;
use crate::engine::explain::{Named, resolve_name_with};
use crate::engine::paths::{ADMIN_PORTS, Cite, Found, Graph, Kind, PortQuery, principals};
use crate::engine::reach::{Held, Principal, Roles, in_part_of_tailnet};
use crate::engine::rules::Origin;
use crate::model::Protocol;
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum PathsFormat {
    Text,
    Json,
    Dot,
    Mermaid,
}

/// What `paths` and `blast` share.
#[derive(Args, Debug)]
pub struct Common {
    /// The policy file (default: the compiled policy of policies/tailnet.json5, else
    /// policies/policy.hujson, found from the current directory upward)
    #[arg(value_name = "POLICY")]
    pub policy: Option<PathBuf>,

    /// Devices and users, shaped like the Tailscale API's answers (their principals,
    /// users' roles for role autogroups, and which device holds each address a rule
    /// names, so that chains go through it; without it, chains through addresses of the
    /// tailnet's range that the target's (source's) devices may hold are listed apart, as
    /// undecided)
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,

    /// At most this many hops per chain
    #[arg(long, value_name = "K", default_value_t = 3)]
    pub max_hops: u32,

    /// The port the last network hop must open (default: any)
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,

    /// The protocol of the last network hop: tcp, udp, icmp or a number (default: any;
    /// tcp when --port is given)
    #[arg(long, value_name = "PROTO")]
    pub proto: Option<String>,

    /// The administrative ports whose access "may become" the device, replacing the
    /// default list (22,3389,5985-5986,2375-2376,10250,6443); "" for none
    #[arg(long, value_name = "LIST")]
    pub admin_ports: Option<String>,

    /// Print every chain; by default the text shows a screenful and counts the rest
    #[arg(long)]
    pub all: bool,

    /// Output format: text, json (every chain, each hop with its rules' file, line and
    /// column), dot or mermaid (the chains as a picture)
    #[arg(long, value_enum, default_value_t = PathsFormat::Text)]
    pub format: PathsFormat,
}

const KINDS_HELP: &str = "Hops: =ssh=> an ssh rule lets A log in to B and a rule opens tcp:22 \
(without port 22, no hop: the output lists such rules); =tag-owner=> A owns B's tag in tagOwners; \
=route-approval=> / =exit-node-approval=> A is an autoApprovers approver; =network=> plain access, \
only as the last hop. \"May become\" (a weakness or credential on the other side): \
~admin-port~> an administrative port (see --admin-ports), ~kubernetes~> impersonation through the \
operator's API-server proxy, ~funnel~> the internet through Funnel.\n\n\
Each principal is listed with its shortest chain, and for `paths`, when that one needs a weakness, \
also its shortest chain that needs none. For `blast`, a principal SOURCE can become is listed with \
the chain that becomes it, even where a shorter one only reaches it over the network: becoming it \
gives everything it can reach. Exit codes: 0 answered, 1 the policy has \
errors, 2 usage (an unknown name, a bad option).";

#[derive(Args, Debug)]
#[command(after_help = KINDS_HELP)]
pub struct PathsArgs {
    /// What is reached or become: a service or device of the intents, a tag, user, group,
    /// host alias, IP/CIDR, or (with --inventory) a device
    #[arg(value_name = "TARGET")]
    pub target: String,

    /// Only chains starting at this source (any name TARGET takes)
    #[arg(long, value_name = "SRC")]
    pub from: Option<String>,

    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
#[command(after_help = KINDS_HELP)]
pub struct BlastArgs {
    /// The principal assumed compromised (any name `paths` takes as TARGET)
    #[arg(value_name = "SOURCE")]
    pub source: String,

    #[command(flatten)]
    pub common: Common,
}

/// A chain's last hop: its link, from, to.
type LastHop = (u32, Id, Id);

/// Chains the text shows without `--all`, and the principals named per chain.
const SCREENFUL: usize = 20;
const SCREENFUL_PRINCIPALS: usize = 5;

/// Parse `22,3389,5985-5986`.
fn parse_admin_ports(text: &str) -> Result<Vec<(u16, u16)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (lo, hi) = p.split_once('-').unwrap_or((p, p));
            let lo: u16 = lo
                .trim()
                .parse()
                .map_err(|_| format!("not a port: {p:?}"))?;
            let hi: u16 = hi
                .trim()
                .parse()
                .map_err(|_| format!("not a port: {p:?}"))?;
            if lo > hi {
                return Err(format!("not a port range: {p:?}"));
            }
            Ok((lo, hi))
        })
        .collect()
}

/// A rule cited where it was written.
struct Cited {
    rule: String,
    file: String,
    line: usize,
    column: usize,
}

struct Context<'a> {
    sources: &'a SourceMap,
    file: FileId,
    view: Option<&'a IntentsView<'a>>,
    graph: &'a Graph<'a>,
    /// Names the intents give principals.
    names: BTreeMap<Principal, String>,
}

impl Context<'_> {
    fn cite(&self, c: &Cite) -> Cited {
        if c.origin == Some(Origin::Default) {
            let f = self.sources.get(self.file);
            return Cited {
                rule: c.rule.clone(),
                file: f.name.clone(),
                line: 1,
                column: 1,
            };
        }
        if let Some(v) = self.view
            && v.locator.is_some()
            && let Some(at) = v.project.written_at(c.span)
        {
            let rule = match c.origin {
                Some(Origin::Grant(i)) => v.project.rule_name(true, i),
                Some(Origin::Acl(i)) => v.project.rule_name(false, i),
                _ => None,
            }
            .unwrap_or_else(|| c.rule.clone());
            // "the base rule at base.hujson:6" repeats the location given beside it.
            let rule = match rule.split_once(" at ") {
                Some((name, _)) => name.trim_start_matches("the ").to_string(),
                None => rule,
            };
            let f = v.project.sources.get(at.file);
            let (line, column) = f.line_col(at.span.start as usize);
            return Cited {
                rule,
                file: f.name.clone(),
                line,
                column,
            };
        }
        let f = self.sources.get(self.file);
        let (line, column) = f.line_col(c.span.start as usize);
        Cited {
            rule: c.rule.clone(),
            file: f.name.clone(),
            line,
            column,
        }
    }

    fn name(&self, id: Id) -> String {
        if Some(id) == self.graph.internet() {
            return "the internet".into();
        }
        let p = self.graph.model.principal(id);
        self.names.get(p).cloned().unwrap_or_else(|| p.to_string())
    }
}

/// One chain as shown: the sources it starts from (as written), and its hops.
struct Chain {
    source: String,
    principals: Vec<String>,
    hops: Vec<crate::engine::paths::Hop>,
}

/// The group or autogroup through which the rule of `link` takes `principal` in, if any: a
/// user through their group reads as the group; a tag, user or address as itself.
fn written_group(graph: &Graph, link: u32, principal: Id) -> Option<String> {
    graph
        .written_as(link, principal)
        .into_iter()
        .find(|w| w.starts_with("group:") || w.starts_with("autogroup:"))
}

/// Chains from `found`, those that differ only in which member of the same written
/// source they start from merged.
fn chains(ctx: &Context, found: &[Found], first_is_source: bool) -> Vec<Chain> {
    let mut out: Vec<Chain> = Vec::new();
    let mut index: BTreeMap<(String, Vec<(u32, Id)>), usize> = BTreeMap::new();
    for f in found {
        if f.hops.is_empty() {
            continue;
        }
        let start = f.hops[0].from;
        let source = if first_is_source {
            written_group(ctx.graph, f.hops[0].link, start).unwrap_or_else(|| ctx.name(start))
        } else {
            ctx.name(start)
        };
        let rest: Vec<(u32, Id)> = f.hops.iter().skip(1).map(|h| (h.link, h.to)).collect();
        let key = (
            source.clone(),
            std::iter::once((f.hops[0].link, f.hops[0].to))
                .chain(rest)
                .collect(),
        );
        let principal = ctx.name(f.principal);
        match index.get(&key) {
            Some(&i) => out[i].principals.push(principal),
            None => {
                index.insert(key, out.len());
                out.push(Chain {
                    source,
                    principals: vec![principal],
                    hops: f.hops.clone(),
                });
            }
        }
    }
    out
}

fn hop_json(ctx: &Context, h: &crate::engine::paths::Hop, from: &str) -> Value {
    let link = ctx.graph.link(h.link);
    json!({
        "kind": link.kind.name(),
        "certain": link.kind.certain(),
        "from": from,
        "to": ctx.name(h.to),
        "access": link.access,
        "reason": link.reason,
        "rules": link.cites.iter().map(|c| {
            let c = ctx.cite(c);
            json!({"rule": c.rule, "file": c.file, "line": c.line, "column": c.column})
        }).collect::<Vec<_>>(),
    })
}

fn chain_json(ctx: &Context, chain: &Chain) -> Value {
    let hops: Vec<Value> = chain
        .hops
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let from = if i == 0 {
                chain.source.clone()
            } else {
                ctx.name(h.from)
            };
            hop_json(ctx, h, &from)
        })
        .collect();
    json!({
        "source": chain.source,
        "principals": chain.principals,
        "length": chain.hops.len(),
        "certain": chain.hops.iter().all(|h| ctx.graph.link(h.link).kind.certain()),
        "hops": hops,
    })
}

/// `=ssh=>` for a certain link, `~admin-port~>` for a possible one.
fn arrow(kind: Kind) -> String {
    if kind.certain() {
        format!("={}=>", kind.name())
    } else {
        format!("~{}~>", kind.name())
    }
}

fn chain_text(ctx: &Context, chain: &Chain) -> String {
    let mut line = chain.source.clone();
    for h in &chain.hops {
        let link = ctx.graph.link(h.link);
        line.push_str(&format!(" {} {}", arrow(link.kind), ctx.name(h.to)));
    }
    line
}

fn hop_text(ctx: &Context, h: &crate::engine::paths::Hop, from: &str) -> String {
    let link = ctx.graph.link(h.link);
    let cites: Vec<String> = link
        .cites
        .iter()
        .map(|c| {
            let c = ctx.cite(c);
            format!("{} {}:{}:{}", c.rule, c.file, c.line, c.column)
        })
        .collect();
    let access = if link.access.is_empty() || link.kind != Kind::Network {
        String::new()
    } else {
        format!(" on {}", link.access)
    };
    let cited = if cites.is_empty() {
        String::new()
    } else {
        format!(" ({})", cites.join("; "))
    };
    format!(
        "{from} {} {}: {}{access}{cited}",
        arrow(link.kind),
        ctx.name(h.to),
        link.reason
    )
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// How an edge of the picture is drawn.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Line {
    /// A link that certainly becomes or reaches.
    Certain,
    /// A link that needs a weakness or credential on the other side.
    May,
    /// Whether the link holds depends on which devices hold an address.
    Undecided,
}

/// The chains as a picture: one node per principal, one edge per distinct hop. An
/// undecided chain gets the step a policy file leaves open (whether `named`'s devices hold
/// the address at its end, or at its start for `blast`) as a dotted edge of its own.
fn picture(
    ctx: &Context,
    chains: &[Chain],
    undecided: &[Chain],
    named: &str,
    blast: bool,
    mermaid: bool,
) -> String {
    // Nodes and edges in the order first met, found again by hash (thousands of chains).
    let mut nodes: Vec<String> = Vec::new();
    let mut node_ids: HashMap<String, usize> = HashMap::new();
    let mut edges: Vec<(usize, usize, String, Line)> = Vec::new();
    let mut seen: HashSet<(usize, usize, String, Line)> = HashSet::new();
    let node = |name: String, nodes: &mut Vec<String>, ids: &mut HashMap<String, usize>| {
        *ids.entry(name).or_insert_with_key(|name| {
            nodes.push(name.clone());
            nodes.len() - 1
        })
    };
    let add = |edge: (usize, usize, String, Line), edges: &mut Vec<_>, seen: &mut HashSet<_>| {
        if seen.insert(edge.clone()) {
            edges.push(edge);
        }
    };
    let held = format!("if {named}'s devices hold it");
    for (c, open) in chains
        .iter()
        .map(|c| (c, false))
        .chain(undecided.iter().map(|c| (c, true)))
    {
        let mut at = node(c.source.clone(), &mut nodes, &mut node_ids);
        if open && blast {
            let from = node(named.to_string(), &mut nodes, &mut node_ids);
            add(
                (from, at, held.clone(), Line::Undecided),
                &mut edges,
                &mut seen,
            );
        }
        for h in &c.hops {
            let link = ctx.graph.link(h.link);
            let to = node(ctx.name(h.to), &mut nodes, &mut node_ids);
            let cited: Vec<String> = link.cites.iter().map(|c| ctx.cite(c).rule).collect();
            let label = format!("{} ({})", link.kind.name(), cited.join(", "));
            let line = if link.kind.certain() {
                Line::Certain
            } else {
                Line::May
            };
            add((at, to, label, line), &mut edges, &mut seen);
            at = to;
        }
        if open && !blast {
            let to = node(named.to_string(), &mut nodes, &mut node_ids);
            add(
                (at, to, held.clone(), Line::Undecided),
                &mut edges,
                &mut seen,
            );
        }
    }
    let mut out = String::new();
    if mermaid {
        out.push_str("flowchart LR\n");
        for (i, n) in nodes.iter().enumerate() {
            out.push_str(&format!("  n{i}[\"{}\"]\n", n.replace('"', "#quot;")));
        }
        for (a, b, label, line) in &edges {
            let (arrow, label) = match line {
                Line::Certain => ("-->", label.clone()),
                Line::May => ("-.->", label.clone()),
                Line::Undecided => ("-.->", format!("undecided: {label}")),
            };
            out.push_str(&format!(
                "  n{a} {arrow}|\"{}\"| n{b}\n",
                label.replace('"', "#quot;")
            ));
        }
    } else {
        out.push_str("digraph paths {\n  rankdir=LR;\n");
        for (i, n) in nodes.iter().enumerate() {
            out.push_str(&format!("  n{i} [label=\"{}\"];\n", escape(n)));
        }
        for (a, b, label, line) in &edges {
            let style = match line {
                Line::Certain => "",
                Line::May => ", style=dashed",
                Line::Undecided => ", style=dotted, color=gray40, fontcolor=gray40",
            };
            out.push_str(&format!(
                "  n{a} -> n{b} [label=\"{}\"{style}];\n",
                escape(label)
            ));
        }
        out.push_str("}\n");
    }
    out
}

pub fn run_paths(args: PathsArgs, color: bool) -> u8 {
    run(
        &args.target,
        args.from.as_deref(),
        &args.common,
        false,
        color,
    )
}

pub fn run_blast(args: BlastArgs, color: bool) -> u8 {
    run(&args.source, None, &args.common, true, color)
}

fn run(name: &str, from: Option<&str>, args: &Common, blast: bool, color: bool) -> u8 {
    let admin_ports = match args.admin_ports.as_deref().map(parse_admin_ports) {
        None => ADMIN_PORTS.to_vec(),
        Some(Ok(list)) => list,
        Some(Err(e)) => {
            error_line(format!("--admin-ports: {e}"));
            return EXIT_USAGE;
        }
    };
    let proto = match args.proto.as_deref().map(Protocol::parse).transpose() {
        Ok(p) => p.map(|p| p.0).or(args.port.map(|_| 6)),
        Err(e) => {
            error_line(format!("--proto: {e}"));
            return EXIT_USAGE;
        }
    };
    let ports = PortQuery {
        proto,
        port: args.port,
    };
    let (path, project) = policy_and_intents(args.policy.as_deref());
    let (sources, file, policy) = match load_policy(path.as_deref(), color) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let inventory = match load_inventory_opt(&args.inventory) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let roles = Roles::of(inventory.as_ref());
    let view = project.as_ref().map(|p| {
        let current = p.compiled.text == sources.get(file).text;
        if !current {
            warning_line(format!(
                "{} is not what the intents compile to (run `tsacl compile`); rules are cited in it",
                sources.get(file).name
            ));
        }
        IntentsView {
            project: p,
            locator: if current { p.locator() } else { None },
        }
    });
    let aliases = view.as_ref().map(IntentsView::aliases).unwrap_or_default();
    let resolve = |n: &str| resolve_name_with(&policy, inventory.as_ref(), &aliases, n);
    let (named, source): (Named, Option<Named>) =
        match (resolve(name), from.map(resolve).transpose()) {
            (Ok(n), Ok(s)) => (n, s),
            (Err(e), _) | (_, Err(e)) => {
                error_line(e);
                return EXIT_USAGE;
            }
        };
    let mut extra: Vec<Principal> = named.principals.clone();
    if let Some(s) = &source {
        extra.extend(s.principals.iter().cloned());
    }
    let all = principals(&policy, inventory.as_ref(), &extra);
    let held = Held::of(inventory.as_ref());
    let graph = Graph::new(&policy, &roles, all, &admin_ports, &held);
    let ids: Vec<Id> = named
        .principals
        .iter()
        .filter_map(|p| graph.model.id(p))
        .collect();
    let ids = graph.with_held_addresses(&ids);
    let mut found = if blast {
        graph.blast(&ids, args.max_hops, ports)
    } else {
        graph.paths(&ids, args.max_hops, ports)
    };
    if !blast {
        // A shortest chain through a "may become" link can hide a longer one that needs no
        // weakness (admins: the Kubernetes proxy in one hop, SSH into a source in two):
        // show that one too.
        let needs_weakness = |f: &Found| f.hops.iter().any(|h| !graph.link(h.link).kind.certain());
        let weak: Vec<Id> = found
            .iter()
            .filter(|f| needs_weakness(f))
            .map(|f| f.principal)
            .collect();
        found.extend(
            graph
                .certain_paths(&ids, args.max_hops, ports)
                .into_iter()
                .filter(|f| weak.contains(&f.principal)),
        );
        found.sort_by_key(|f| f.hops.len());
    }
    // What rules written with addresses would add if the devices held them.
    let ends = undecided_ends(&graph, &named, &ids, &held);
    let mut undecided = graph.search_among(&ends, blast, args.max_hops, ports);
    let known: std::collections::HashSet<Id> = found
        .iter()
        .map(|f| f.principal)
        .chain(ids.iter().copied())
        .collect();
    undecided.retain(|f| !known.contains(&f.principal));
    if let Some(s) = &source {
        let wanted: Vec<Id> = s
            .principals
            .iter()
            .filter_map(|p| graph.model.id(p))
            .collect();
        found.retain(|f| wanted.contains(&f.principal));
        undecided.retain(|f| wanted.contains(&f.principal));
    }
    let mut names = BTreeMap::new();
    for a in &aliases {
        if let [p] = a.principals.as_slice() {
            names.entry(p.clone()).or_insert_with(|| a.name.clone());
        }
    }
    // An address one inventory device holds reads as that device.
    for p in graph.model.principals() {
        let Principal::Address(set) = p else { continue };
        if !set.overlaps(crate::engine::resolve::device_address_space()) {
            continue;
        }
        if let [d] = held.devices_in(set)[..] {
            names
                .entry(p.clone())
                .or_insert_with(|| format!("{} ({set})", d.hostname));
        }
    }
    // An address a host alias or ipset names, as that name (when only one does).
    for (p, name) in crate::engine::explain::address_names(&[&policy]) {
        if graph.model.id(&p).is_some() {
            names.entry(p).or_insert(name);
        }
    }
    let ctx = Context {
        sources: &sources,
        file,
        view: view.as_ref(),
        graph: &graph,
        names,
    };
    // For blast, chains start at the source: show it by its name.
    let shown = if blast {
        let mut cs = chains(&ctx, &found, false);
        for c in &mut cs {
            c.source = named.name.clone();
        }
        cs
    } else {
        chains(&ctx, &found, true)
    };
    let undecided = chains(&ctx, &undecided, !blast);
    let address_note = crate::engine::explain::address_note(&named, &held);
    let no_port_22: Vec<Cited> = graph
        .ssh_without_port_22()
        .iter()
        .map(|&i| {
            ctx.cite(&Cite {
                rule: format!("ssh[{i}]"),
                origin: None,
                span: policy.ssh[i].span,
            })
        })
        .collect();
    // Without an inventory, addresses of part of the tailnet's range in the chains are
    // some device's, unknown: who can become it is not followed.
    let mut unplaced: Vec<String> = Vec::new();
    if inventory.is_none() {
        for f in &found {
            for id in std::iter::once(f.principal).chain(f.hops.iter().map(|h| h.from)) {
                if let Principal::Address(set) = graph.model.principal(id)
                    && in_part_of_tailnet(set)
                    && !unplaced.contains(&ctx.name(id))
                {
                    unplaced.push(ctx.name(id));
                }
            }
        }
    }
    match args.format {
        PathsFormat::Json => {
            // Principals of the answer that can become one another (any number of hops).
            let involved: Vec<Id> = found
                .iter()
                .map(|f| f.principal)
                .chain(ids.iter().copied())
                .collect();
            let mutual: Vec<Vec<String>> = graph
                .mutual()
                .into_iter()
                .filter(|group| group.iter().any(|p| involved.contains(p)))
                .map(|group| group.into_iter().map(|p| ctx.name(p)).collect())
                .collect();
            let doc = json!({
                if blast { "source" } else { "target" }: named.name,
                "kind": named.kind,
                "max_hops": args.max_hops,
                "chains": shown.iter().map(|c| chain_json(&ctx, c)).collect::<Vec<_>>(),
                "can_become_each_other": mutual,
                "addresses_not_followed": unplaced,
                "undecided_chains": undecided.iter().map(|c| chain_json(&ctx, c)).collect::<Vec<_>>(),
                "address_note": address_note,
                "ssh_rules_without_port_22": no_port_22.iter().map(|c| json!({
                    "rule": c.rule, "file": c.file, "line": c.line, "column": c.column
                })).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        PathsFormat::Dot | PathsFormat::Mermaid => {
            print!(
                "{}",
                picture(
                    &ctx,
                    &shown,
                    &undecided,
                    &named.name,
                    blast,
                    args.format == PathsFormat::Mermaid
                )
            );
        }
        PathsFormat::Text => {
            let what = if blast {
                format!(
                    "{} ({}) can become or reach, in at most {} hops:",
                    named.name, named.kind, args.max_hops
                )
            } else {
                format!(
                    "{} ({}) can be reached or become, in at most {} hops, by:",
                    named.name, named.kind, args.max_hops
                )
            };
            println!("{what}");
            if shown.is_empty() {
                if undecided.is_empty() {
                    println!("  nothing");
                } else {
                    println!("  nothing for certain");
                }
            }
            let limit = if args.all { usize::MAX } else { SCREENFUL };
            print_chains(&ctx, &shown, limit, blast);
            if !undecided.is_empty() {
                if blast {
                    println!(
                        "  undecided: addresses in the tailnet's range reach these; so does {} if its devices hold those addresses (a policy file does not say; pass --inventory):",
                        named.name
                    );
                } else {
                    println!(
                        "  undecided: these reach addresses in the tailnet's range; they reach {} too if its devices hold those addresses (a policy file does not say; pass --inventory):",
                        named.name
                    );
                }
                print_chains(&ctx, &undecided, limit, blast);
            }
            if let Some(note) = &address_note {
                println!("  note: {note}");
            }
            if !unplaced.is_empty() {
                let shown = unplaced.len().min(SCREENFUL_PRINCIPALS);
                let mut list = unplaced[..shown].join(", ");
                if shown < unplaced.len() {
                    list.push_str(&format!(" and {} more", thousands(unplaced.len() - shown)));
                }
                let (it, holds) = if unplaced.len() == 1 {
                    ("it", "is")
                } else {
                    ("them", "are")
                };
                println!(
                    "  note: {list} {holds} in the tailnet's address range: who can become a device holding {it} is not followed, since a policy file does not say which devices those are (pass --inventory)"
                );
            }
            for c in &no_port_22 {
                println!(
                    "  note: {} ({}:{}:{}) lets someone log in over Tailscale SSH, but no rule opens tcp:22 to them: no path through it",
                    c.rule, c.file, c.line, c.column
                );
            }
            println!(
                "  (=kind=> becomes; ~kind~> may become, given a weakness or credential on the other side)"
            );
        }
    }
    EXIT_CLEAN
}

/// Print `shown` grouped by their last hop (at most `limit` chains, the rest counted).
fn print_chains(ctx: &Context, shown: &[Chain], limit: usize, blast: bool) {
    let mut groups: Vec<(LastHop, Vec<&Chain>)> = Vec::new();
    for c in shown {
        let last = c.hops.last().expect("chains have hops");
        let key = (last.link, last.from, last.to);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(c),
            None => groups.push((key, vec![c])),
        }
    }
    let mut printed = 0;
    for (_, list) in &groups {
        if printed >= limit {
            break;
        }
        let first = list[0];
        let last = first.hops.last().expect("chains have hops");
        let from = if first.hops.len() == 1 {
            first.source.clone()
        } else {
            ctx.name(last.from)
        };
        println!("  {}", hop_text(ctx, last, &from));
        for c in list {
            if printed >= limit {
                break;
            }
            printed += 1;
            let members = if !blast && (c.principals.len() > 1 || c.principals[0] != c.source) {
                let shown = c.principals.len().min(SCREENFUL_PRINCIPALS);
                let more = if shown < c.principals.len() {
                    format!(" and {} more", thousands(c.principals.len() - shown))
                } else {
                    String::new()
                };
                format!("  [{}{more}]", c.principals[..shown].join(", "))
            } else {
                String::new()
            };
            println!("    {}{members}", chain_text(ctx, c));
            for (i, h) in c.hops.iter().enumerate().take(c.hops.len() - 1) {
                let from = if i == 0 {
                    c.source.clone()
                } else {
                    ctx.name(h.from)
                };
                println!("      {}", hop_text(ctx, h, &from));
            }
        }
    }
    if printed < shown.len() {
        println!(
            "  ... and {} more chains (--all shows every one)",
            thousands(shown.len() - printed)
        );
    }
}

/// Without an inventory, rules written with addresses of part of the tailnet's range
/// reach a user's or tag's devices (for `blast`: take them in as sources) only if those
/// devices hold the addresses, which a policy file does not say: every such address (less
/// `ids`), from which (to which) the undecided chains are searched.
fn undecided_ends(graph: &Graph, named: &Named, ids: &[Id], held: &Held) -> Vec<Id> {
    let has_devices = named
        .principals
        .iter()
        .any(|p| !matches!(p, Principal::Address(_)));
    if held.known() || !has_devices {
        return Vec::new();
    }
    (0..graph.model.principals().len() as Id)
        .filter(|id| !ids.contains(id) && Some(*id) != graph.internet())
        .filter(|&id| {
            matches!(graph.model.principal(id), Principal::Address(set) if in_part_of_tailnet(set))
        })
        .collect()
}

/// For `explain` of a service: one line naming who reaches it by first becoming one of
/// its sources (within `paths`' default three hops), or `None` when nobody does.
pub(crate) fn transitive_line(
    policy: &crate::model::Policy,
    inventory: Option<&crate::engine::Inventory>,
    target: &Named,
) -> Option<String> {
    let roles = Roles::of(inventory);
    let graph = Graph::new(
        policy,
        &roles,
        principals(policy, inventory, &target.principals),
        ADMIN_PORTS,
        &Held::of(inventory),
    );
    let ids: Vec<Id> = target
        .principals
        .iter()
        .filter_map(|p| graph.model.id(p))
        .collect();
    let ids = graph.with_held_addresses(&ids);
    // Who becomes a source for certain (SSH, tag ownership, approval), and who only may
    // (through an administrative port or Funnel, given a weakness on the other side).
    let (mut certain, mut may): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let mut found = graph.paths(&ids, 3, PortQuery::default());
    found.extend(graph.certain_paths(&ids, 3, PortQuery::default()));
    for f in found {
        if f.hops.len() < 2 {
            continue;
        }
        let name = if Some(f.principal) == graph.internet() {
            "the internet".to_string()
        } else {
            written_group(&graph, f.hops[0].link, f.principal)
                .unwrap_or_else(|| graph.model.principal(f.principal).to_string())
        };
        let sure = f.hops.iter().all(|h| graph.link(h.link).kind.certain());
        let list = if sure { &mut certain } else { &mut may };
        if !list.contains(&name) {
            list.push(name);
        }
    }
    may.retain(|m| !certain.contains(m));
    if certain.is_empty() && may.is_empty() {
        return None;
    }
    let few = |who: &[String]| {
        let shown = who.len().min(5);
        let more = if who.len() > shown {
            format!(" and {} more", thousands(who.len() - shown))
        } else {
            String::new()
        };
        format!("{}{more}", who[..shown].join(", "))
    };
    let mut parts = Vec::new();
    if !certain.is_empty() {
        parts.push(few(&certain));
    }
    if !may.is_empty() {
        parts.push(format!(
            "may (given a weakness or credential): {}",
            few(&may)
        ));
    }
    Some(format!(
        "  transitively (by becoming one of its sources, in up to 3 hops): {}; `tsacl paths {}` shows the chains",
        parts.join("; "),
        target.name
    ))
}
