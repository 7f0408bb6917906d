//! `tsacl explain TARGET [POLICY]` and `tsacl graph [POLICY]`.

use super::{EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, error_line, load_inventory, warning_line};
use crate::check::{Depth, check_policy_to};
use crate::diagnostics::render::{TextStyle, render_text};
use crate::diagnostics::{FileId, SourceFile, SourceMap, thousands};
use crate::engine::explain::{
    Cannot, Held, Named, Near, Row, Undecided, address_note, cannot_reach, inbound,
    inbound_by_address, outbound, outbound_by_address, resolve_name_with, why, with_holders,
};
use crate::engine::inventory::Inventory;
use crate::engine::reach::{Principal, Roles};
use crate::engine::rules::Origin;
use crate::intents::compile::RuleOrigin;
use crate::intents::project::{Locator, Project};
use crate::model::{Policy, Protocol};
use crate::syntax::Span;
use clap::{Args, ValueEnum};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExplainFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// What to explain: a service or device of the intents (`redis`, `panda`), a tag,
    /// user, group, host alias, IP/CIDR, or (with --inventory) a device
    #[arg(value_name = "TARGET")]
    pub target: String,

    /// The policy file (default: the compiled policy of policies/tailnet.json5, else
    /// policies/policy.hujson, found from the current directory upward)
    #[arg(value_name = "POLICY")]
    pub policy: Option<PathBuf>,

    /// Devices and users, shaped like the Tailscale API's answers. Their addresses decide
    /// rules written with addresses of part of the tailnet's range, which are "undecided"
    /// without it
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,

    /// Answer for one source (any name TARGET takes): why it can, or why it cannot, reach
    /// TARGET (exit 1 unless allowed: denied, or undecided where addresses decide). On a compiled policy that is not what its intents
    /// compile to, the answer is for the file, with a warning where the intents' differs
    /// (without --from that difference is exit 1)
    #[arg(long, value_name = "SRC")]
    pub from: Option<String>,

    /// The port for --from (default: every port TARGET is reachable on, or 22 if none);
    /// on tcp/22 the answer also names the SSH rules that let SRC log in
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,

    /// The protocol for --from: tcp, udp, icmp or a number (default tcp)
    #[arg(long, value_name = "PROTO", default_value = "tcp")]
    pub proto: String,

    /// Show what TARGET can reach instead of who can reach it
    #[arg(long, conflicts_with = "from")]
    pub outbound: bool,

    /// Print every rule and every principal that cannot reach TARGET; by default the text
    /// shows a screenful (the first 20 rules, the first 10 principals) and counts the rest
    #[arg(long)]
    pub all: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
    pub format: ExplainFormat,
}

/// Rules and principals the text shows without `--all`.
const SCREENFUL_RULES: usize = 20;
const SCREENFUL_PRINCIPALS: usize = 10;

/// "and 1,998 more tags and 3 more users" for principals left out of a list.
fn more_principals(rest: &[String]) -> String {
    let tags = rest.iter().filter(|p| p.contains("tag:")).count();
    let users = rest
        .iter()
        .filter(|p| !p.contains("tag:") && p.contains('@'))
        .count();
    let others = rest.len() - tags - users;
    let mut parts = Vec::new();
    for (n, one, many) in [
        (tags, "tag", "tags"),
        (users, "user", "users"),
        (others, "other", "others"),
    ] {
        if n > 0 {
            parts.push(format!(
                "{} more {}",
                thousands(n),
                if n == 1 { one } else { many }
            ));
        }
    }
    format!("and {}", parts.join(" and "))
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
    Json,
}

#[derive(Args, Debug)]
pub struct GraphArgs {
    /// The policy file (default: policies/policy.hujson, looked up from the current directory upward)
    #[arg(value_name = "POLICY")]
    pub policy: Option<PathBuf>,

    /// Devices and users (for role autogroups)
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
}

/// `policies/policy.hujson` in the current directory or the nearest parent that has one.
pub fn find_policy() -> Option<PathBuf> {
    let mut dir = std::env::current_dir().ok()?;
    loop {
        let candidate = dir.join("policies/policy.hujson");
        if candidate.is_file() {
            return Some(candidate);
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// The intents project whose compiled policy `policy` is (or, with no policy given, the
/// one found from the current directory upward): `tailnet.json5` beside the policy, or
/// `policies/tailnet.json5` from its directory upward.
fn intents_project(policy: Option<&Path>) -> Option<Project> {
    let Some(policy) = policy else {
        let found = crate::intents::find(&std::env::current_dir().ok()?)?;
        return crate::intents::project::load(&found).ok();
    };
    let dir = std::fs::canonicalize(policy).ok()?.parent()?.to_path_buf();
    let beside = dir.join("tailnet.json5");
    let intents = if beside.is_file() {
        beside
    } else {
        crate::intents::find(&dir)?
    };
    let project = crate::intents::project::load(&intents).ok()?;
    let same =
        std::fs::canonicalize(&project.output_path).ok()? == std::fs::canonicalize(policy).ok()?;
    same.then_some(project)
}

/// The policy a command reads when none is given, and the intents project behind it: the
/// compiled policy of the intents found from the current directory upward, else
/// `policies/policy.hujson` found the same way.
pub(crate) fn policy_and_intents(given: Option<&Path>) -> (Option<PathBuf>, Option<Project>) {
    let project = intents_project(given);
    let path = given
        .map(Path::to_path_buf)
        .or_else(|| project.as_ref().map(|p| p.output_path.clone()))
        .or_else(find_policy);
    (path, project)
}

/// Load, check and lower a policy; on failure print why and return the exit code.
pub(crate) fn load_policy(
    path: Option<&Path>,
    color: bool,
) -> Result<(SourceMap, FileId, Policy), u8> {
    let Some(path) = path.map(Path::to_path_buf).or_else(find_policy) else {
        error_line(
            "no policy file given and no policies/policy.hujson here or in a parent directory",
        );
        return Err(EXIT_USAGE);
    };
    let bytes = crate::fsutil::read_text_file(&path).map_err(|e| {
        error_line(e);
        EXIT_USAGE
    })?;
    let mut sources = SourceMap::default();
    // Show paths relative to where the user is, as they would type them.
    let shown = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.clone());
    let file = sources.add(SourceFile::new(
        path.clone(),
        shown.display().to_string(),
        bytes,
    ));
    // What the rules mean is all a question needs: the control plane's own rules, without
    // the lints that only warn, the redundancy audit and the offline tests (`check`'s).
    let checked = check_policy_to(&sources, file, &Default::default(), Depth::Model);
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    match checked.policy {
        Some(p) if errors.is_empty() => Ok((sources, file, p)),
        _ => {
            eprint!(
                "{}",
                render_text(
                    &sources,
                    &errors,
                    TextStyle {
                        color,
                        width: super::terminal_width()
                    }
                )
            );
            error_line(format!(
                "{} has errors; fix them first (tsacl check)",
                path.display()
            ));
            Err(EXIT_FINDINGS)
        }
    }
}

pub(crate) fn load_inventory_opt(path: &Option<PathBuf>) -> Result<Option<Inventory>, u8> {
    match path {
        None => Ok(None),
        Some(p) => load_inventory(p).map(Some).map_err(|e| {
            error_line(e);
            EXIT_USAGE
        }),
    }
}

/// Where a rule was written, as `explain` cites it: a short name and `file:line:col`.
struct Cited {
    rule: String,
    location: String,
}

/// The intents behind the policy explained: their names, and where each rule was written.
pub(crate) struct IntentsView<'p> {
    pub(crate) project: &'p Project,
    /// Set when the file explained is what the intents compile to, so its rules are the
    /// intents' and the base file's.
    pub(crate) locator: Option<Locator<'p>>,
}

impl IntentsView<'_> {
    /// The intents' services and devices as names `explain` accepts.
    pub(crate) fn aliases(&self) -> Vec<Named> {
        let intents = &self.project.intents;
        let mut out: Vec<Named> = intents
            .services
            .iter()
            .map(|s| Named {
                name: s.name.value.clone(),
                kind: "service",
                principals: vec![Principal::Tags(vec![s.tag.clone()])],
                device_addresses: None,
            })
            .collect();
        out.extend(intents.devices.iter().map(|d| Named {
            name: d.name.value.clone(),
            kind: "device",
            principals: vec![d.principal()],
            device_addresses: None,
        }));
        out
    }

    /// A line saying what an intents name stands for, or `None` for other names.
    pub(crate) fn describe(&self, named: &Named) -> Option<String> {
        let intents = &self.project.intents;
        match named.kind {
            "service" => {
                let s = intents.service(&named.name)?;
                Some(format!(
                    "service {} ({}): intended for {}",
                    s.name.value,
                    s.tag,
                    s.intended_text()
                ))
            }
            "device" => {
                let d = intents.device(&named.name)?;
                let how = if !d.tags.is_empty() {
                    let tags: Vec<&str> = d.tags.iter().map(|t| t.value.as_str()).collect();
                    format!("the devices tagged {}", tags.join(", "))
                } else if let Some(u) = &d.user {
                    format!("every device of {} (a device known by its owner)", u.value)
                } else {
                    // With an inventory, the devices holding the address are part of it.
                    let holders: Vec<String> = named
                        .principals
                        .iter()
                        .filter(|p| !matches!(p, Principal::Address(_)))
                        .map(ToString::to_string)
                        .collect();
                    let held = if holders.is_empty() {
                        String::new()
                    } else {
                        format!(", held by a device of {}", holders.join(", "))
                    };
                    format!(
                        "the address {}{held}",
                        d.ip.as_ref().map_or("", |ip| ip.value.as_str())
                    )
                };
                Some(format!("device {}: {how}", d.name.value))
            }
            _ => None,
        }
    }

    /// A rule of the compiled policy, cited where it was written (`span` is in it).
    fn cite(&self, origin: Option<Origin>, span: Span) -> Option<Cited> {
        let locator = self.locator.as_ref()?;
        let p = self.project;
        let rule = match origin? {
            Origin::Grant(i) => p.compiled.grant_origins.get(i)?,
            Origin::Acl(i) => p.compiled.acl_origins.get(i)?,
            Origin::Default => return None,
        };
        let rule = match rule {
            RuleOrigin::Service(k) => format!("intent {}", p.intents.services.get(*k)?.name.value),
            RuleOrigin::Base(_) => "base rule".to_string(),
            RuleOrigin::Ssh { device, .. } => {
                format!(
                    "ssh intent of {}",
                    p.intents.devices.get(*device)?.name.value
                )
            }
        };
        let at = locator.written_at(span)?;
        let f = p.sources.get(at.file);
        let (line, col) = f.line_col(at.span.start as usize);
        Some(Cited {
            rule,
            location: format!("{}:{line}:{col}", f.name),
        })
    }
}

/// The `ssh` rules listed by index, each with who it lets in, as whom, how, and where it
/// was written (the intents' `ssh` of a device, when the file is what they compile to).
fn ssh_rules_json(
    policy: &Policy,
    sources: &SourceMap,
    file: FileId,
    view: Option<&IntentsView>,
    rules: &[usize],
) -> Vec<serde_json::Value> {
    rules
        .iter()
        .filter_map(|&i| {
            let r = policy.ssh.get(i)?;
            let location = view
                .and_then(|v| v.locator.as_ref()?.written_at(r.span))
                .map(|at| {
                    let f = v_file(view, sources, at.file);
                    let (line, col) = f.line_col(at.span.start as usize);
                    format!("{}:{line}:{col}", f.name)
                })
                .unwrap_or_else(|| {
                    let f = sources.get(file);
                    let (line, col) = f.line_col(r.span.start as usize);
                    format!("{}:{line}:{col}", f.name)
                });
            let list = |sels: &[crate::model::Sel]| -> Vec<String> {
                sels.iter().map(|s| s.raw.trim().to_string()).collect()
            };
            Some(json!({
                "rule": format!("ssh[{i}]"),
                "action": r.action.as_ref().map(|a| a.value.trim().to_string()),
                "sources": list(&r.src),
                "destinations": list(&r.dst),
                "users": r.users.as_ref().map(|u| u.value.iter().map(|x| x.value.clone()).collect::<Vec<_>>()).unwrap_or_default(),
                "location": location,
            }))
        })
        .collect()
}

/// The source file a location of the intents project is in.
fn v_file<'s>(
    view: Option<&'s IntentsView>,
    sources: &'s SourceMap,
    file: FileId,
) -> &'s SourceFile {
    match view {
        Some(v) => v.project.sources.get(file),
        None => sources.get(file),
    }
}

/// One line per `ssh` rule (from [`ssh_rules_json`]).
fn print_ssh_rules(lead: &str, rules: &[serde_json::Value]) {
    for r in rules {
        let words = |k: &str| {
            r[k].as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        println!(
            "  {lead} {} {}: {} -> {} as {} ({})",
            r["rule"].as_str().unwrap_or(""),
            r["location"].as_str().unwrap_or(""),
            words("sources"),
            words("destinations"),
            words("users"),
            r["action"].as_str().unwrap_or("no action"),
        );
    }
}

/// How the public internet reaches an intents service through Funnel.
struct FunnelPath {
    /// The service, by its intents name, and its tag.
    service: String,
    tag: String,
    /// The node that terminates Funnel: an intents device (by name, with its tags), the
    /// operator's Ingress proxy, or the service's own devices; and its policy selectors.
    through: String,
    kind: &'static str,
    selectors: Vec<String>,
    ports: Vec<String>,
    /// Whether the policy gives that node the `funnel` node attribute (without it,
    /// Funnel is off).
    attribute: bool,
    /// Whether the service's intent asks for Funnel (else the policy gives its devices
    /// the attribute beyond it: TSA133).
    intended: bool,
}

impl FunnelPath {
    fn text(&self) -> String {
        format!(
            "the internet -> Funnel on {} -> {} ({}) on {}{}",
            self.through,
            self.service,
            self.tag,
            self.ports.join(", "),
            if !self.intended {
                format!(
                    " (not in its intent, which has no `funnel`: {} gives its devices the funnel attribute; TSA133)",
                    self.selectors.join(", ")
                )
            } else if self.attribute {
                String::new()
            } else {
                " (but no nodeAttrs entry gives it the funnel attribute: Funnel is off)".into()
            }
        )
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "from": "the internet",
            "through": self.through,
            "through_kind": self.kind,
            "through_selectors": self.selectors,
            "service": self.service,
            "tag": self.tag,
            "ports": self.ports,
            "funnel_attribute": self.attribute,
            "intended": self.intended,
            "path": ["the internet", self.through, format!("{} ({})", self.service, self.tag)],
        })
    }
}

impl IntentsView<'_> {
    /// The Funnel paths that concern `named`: its own (a service with Funnel) and those
    /// it terminates (a device or tag that Funnel goes through).
    fn funnel_paths(&self, policy: &Policy, named: &Named) -> Vec<FunnelPath> {
        let intents = &self.project.intents;
        let mut out = Vec::new();
        for s in intents.services.iter().filter(|s| s.funnel.is_some()) {
            let own = named
                .principals
                .contains(&Principal::Tags(vec![s.tag.clone()]));
            let node = intents.funnel_node(s);
            let terminates = node.as_ref().is_some_and(|n| named.principals.contains(n));
            if !own && !terminates {
                continue;
            }
            let selectors = intents.funnel_targets(s);
            let (through, kind) = match &s.funnel {
                Some(crate::intents::Funnel::Via(d)) => {
                    (format!("{} ({})", d.value, selectors.join(", ")), "device")
                }
                Some(crate::intents::Funnel::Ingress) => (
                    format!("its operator Ingress (a proxy tagged {})", s.tag),
                    "ingress",
                ),
                _ => (format!("its own devices ({})", s.tag), "itself"),
            };
            let attribute = policy.node_attrs.iter().any(|a| {
                a.attr.iter().any(|x| x.value.trim() == "funnel")
                    && a.target
                        .iter()
                        .any(|t| selectors.contains(&t.raw.trim().to_string()))
            });
            out.push(FunnelPath {
                service: s.name.value.clone(),
                tag: s.tag.clone(),
                through,
                kind,
                selectors,
                ports: s.ports.iter().map(|p| p.grant_text()).collect(),
                attribute,
                intended: true,
            });
        }
        // Services the policy opens to Funnel beyond their intents.
        for s in intents.services.iter().filter(|s| s.funnel.is_none()) {
            let node = Principal::Tags(vec![s.tag.clone()]);
            if !named.principals.contains(&node) {
                continue;
            }
            let entries = crate::lint::operator::funnel_entries(policy, &node);
            if entries.is_empty() {
                continue;
            }
            out.push(FunnelPath {
                service: s.name.value.clone(),
                tag: s.tag.clone(),
                through: format!("its own devices ({})", s.tag),
                kind: "itself",
                selectors: entries
                    .iter()
                    .map(|(i, t)| format!("nodeAttrs[{i}] `{}`", t.raw.trim()))
                    .collect(),
                ports: s.ports.iter().map(|p| p.grant_text()).collect(),
                attribute: true,
                intended: false,
            });
        }
        out
    }

    /// Policy selectors the intents have a name for, as `name (selector)`: a service's
    /// tag, and the tag of a device known by one tag.
    fn selector_names(&self) -> std::collections::HashMap<String, String> {
        self.project.intents.display_names()
    }
}

/// A selector as the intents name it, else as written.
fn intents_name(names: &std::collections::HashMap<String, String>, selector: &str) -> String {
    names
        .get(selector)
        .cloned()
        .unwrap_or_else(|| selector.to_string())
}

fn cite(
    sources: &SourceMap,
    file: FileId,
    view: Option<&IntentsView>,
    origin: Option<Origin>,
    rule: &str,
    span: Span,
) -> Cited {
    view.and_then(|v| v.cite(origin, span)).unwrap_or_else(|| {
        let f = sources.get(file);
        let (line, col) = f.line_col(span.start as usize);
        Cited {
            rule: rule.to_string(),
            location: format!("{}:{line}:{col}", f.name),
        }
    })
}

/// The policy the intents compile to now, when it loads (for a stale file's answer).
fn compiled_now(project: &Project) -> Option<Policy> {
    if project.diagnostics.iter().any(|d| d.is_error()) {
        return None;
    }
    let checked = check_policy_to(
        &project.sources,
        project.output_file,
        &Default::default(),
        Depth::Model,
    );
    if checked.diagnostics.iter().any(|d| d.is_error()) {
        return None;
    }
    checked.policy
}

/// The flows (sources, destination, protocol and ports) one answer has and the other does
/// not, each side sorted: `* -> tag:redis tcp 6379`.
fn answer_difference(file: &[Row], intended: &[Row]) -> (Vec<String>, Vec<String>) {
    let key = |r: &Row| {
        format!(
            "{} -> {} {} {}",
            r.sources.join(", "),
            r.destination,
            r.protocol,
            r.ports
        )
    };
    let a: std::collections::BTreeSet<String> = file.iter().map(key).collect();
    let b: std::collections::BTreeSet<String> = intended.iter().map(key).collect();
    (
        a.difference(&b).cloned().collect(),
        b.difference(&a).cloned().collect(),
    )
}

/// Protocols and ports of several rows: `tcp 6333,6334; udp 53`.
fn access_text(rows: &[&Row]) -> String {
    let mut by_proto: Vec<(String, Vec<String>)> = Vec::new();
    for r in rows {
        match by_proto.iter_mut().find(|(p, _)| *p == r.protocol) {
            Some((_, ports)) if !ports.contains(&r.ports) => ports.push(r.ports.clone()),
            Some(_) => {}
            None => by_proto.push((r.protocol.clone(), vec![r.ports.clone()])),
        }
    }
    by_proto
        .iter()
        .map(|(p, ports)| format!("{p} {}", ports.join(",")))
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn run_explain(args: ExplainArgs, color: bool) -> u8 {
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
    let held = Held::of(inventory.as_ref());
    let view = project.as_ref().map(|p| {
        let name = &sources.get(file).name;
        let current = p.compiled.text == sources.get(file).text;
        if p.diagnostics.iter().any(|d| d.is_error()) {
            warning_line(format!(
                "the intents have errors (see `tsacl check`); explaining {name} as it is"
            ));
        } else if !current {
            warning_line(format!(
                "{name} is not what the intents compile to (run `tsacl compile`); explaining the file as it is, its rules cited there"
            ));
        }
        IntentsView {
            project: p,
            locator: if current { p.locator() } else { None },
        }
    });
    // A stale file answers for itself; the policy the intents compile to says whether
    // that answer is the intents' one.
    let intended_policy = view
        .as_ref()
        .filter(|v| v.locator.is_none())
        .and_then(|v| compiled_now(v.project));
    let aliases = view.as_ref().map(IntentsView::aliases).unwrap_or_default();
    // The intents' names come first: `redis` is the service even when an inventory has a
    // device of that name (its proxy).
    let resolve = |name: &str| match aliases.iter().find(|a| a.name == name.trim()) {
        Some(alias) => Ok(with_holders(alias.clone(), inventory.as_ref())),
        None => resolve_name_with(&policy, inventory.as_ref(), &aliases, name),
    };
    let target = match resolve(&args.target) {
        Ok(t) => t,
        Err(e) => {
            error_line(e);
            return EXIT_USAGE;
        }
    };
    let proto = match Protocol::parse(&args.proto) {
        Ok(p) => p,
        Err(e) => {
            error_line(format!("--proto: {e}"));
            return EXIT_USAGE;
        }
    };
    let source = match args.from.as_deref().map(resolve).transpose() {
        Ok(s) => s,
        Err(e) => {
            error_line(e);
            return EXIT_USAGE;
        }
    };
    if args.format == ExplainFormat::Text
        && let Some(v) = &view
    {
        for named in std::iter::once(&target).chain(&source) {
            if let Some(line) = v.describe(named) {
                println!("{line}");
            }
        }
        for f in v.funnel_paths(&policy, &target) {
            println!("public: {}", f.text());
        }
    }
    if args.format == ExplainFormat::Text {
        for named in std::iter::once(&target).chain(&source) {
            if let Some(line) = address_note(named, &held) {
                println!("note: {line}");
            }
        }
    }
    let known_names = view
        .as_ref()
        .map(IntentsView::selector_names)
        .unwrap_or_default();
    let funnel: Vec<FunnelPath> = view
        .as_ref()
        .map(|v| v.funnel_paths(&policy, &target))
        .unwrap_or_default();
    let cite_row = |r: &Row| cite(&sources, file, view.as_ref(), r.origin, &r.rule, r.span);
    let row_json = |r: &Row| {
        let c = cite_row(r);
        json!({
            "protocol": r.protocol, "ports": r.ports, "sources": r.sources, "destination": r.destination,
            "rule": r.rule, "written_by": c.rule, "location": c.location,
            "source_names": r.sources.iter().map(|s| intents_name(&known_names, s)).collect::<Vec<_>>(),
            "destination_name": intents_name(&known_names, &r.destination),
        })
    };
    let names: Vec<&Named> = std::iter::once(&target).chain(&source).collect();
    let model = crate::engine::explain::model(&policy, &roles, &names);
    if let Some(source) = &source {
        let ports: Vec<u16> = match args.port {
            Some(p) => vec![p],
            None => {
                let by_address = inbound_by_address(&model, &target, &held);
                let mut ps: Vec<u16> = inbound(&model, &target)
                    .iter()
                    .chain(&by_address.reach)
                    .chain(&by_address.undecided)
                    .filter_map(|r| {
                        r.ports
                            .split(',')
                            .next()
                            .and_then(|p| p.split('-').next()?.parse().ok())
                    })
                    .collect();
                ps.sort();
                ps.dedup();
                if ps.is_empty() { vec![22] } else { ps }
            }
        };
        let answers: Vec<_> = ports
            .iter()
            .map(|p| why(&model, &roles, source, &target, &held, proto.0, *p))
            .collect();
        if let Some(intended) = &intended_policy {
            let now = crate::engine::explain::model(intended, &roles, &names);
            let differ: Vec<String> = answers
                .iter()
                .zip(&ports)
                .filter(|(w, p)| {
                    why(&now, &roles, source, &target, &held, proto.0, **p).allowed != w.allowed
                })
                .map(|(w, p)| {
                    format!(
                        "{}/{p} is {} in the file, {} by the intents",
                        w.protocol,
                        if w.allowed { "allowed" } else { "denied" },
                        if w.allowed { "denied" } else { "allowed" }
                    )
                })
                .collect();
            if !differ.is_empty() {
                warning_line(format!(
                    "this answer differs from what the intents compile to: {}",
                    differ.join("; ")
                ));
            }
        }
        // Tailscale SSH connects to port 22: the ssh rules that let the source log in.
        let ssh_between: Vec<usize> = if proto.0 == 6 && ports.contains(&22) {
            let mut rules: Vec<usize> = source
                .principals
                .iter()
                .flat_map(|s| {
                    target
                        .principals
                        .iter()
                        .flat_map(|d| {
                            crate::engine::ssh_access::rules_between(&policy, &roles, s, d)
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            rules.sort_unstable();
            rules.dedup();
            rules
        } else {
            Vec::new()
        };
        let ssh_json = ssh_rules_json(&policy, &sources, file, view.as_ref(), &ssh_between);
        let cite_rule = |origin: Origin, rule: &str, span: Span| {
            cite(&sources, file, view.as_ref(), Some(origin), rule, span)
        };
        let cite_near = |n: &Near| cite_rule(n.origin, &n.rule, n.span);
        let cite_undecided = |u: &Undecided| cite_rule(u.origin, &u.rule, u.span);
        match args.format {
            ExplainFormat::Json => {
                let list: Vec<_> = answers
                    .iter()
                    .map(|w| {
                        let ssh = if w.port == 22 && proto.0 == 6 { ssh_json.clone() } else { Vec::new() };
                        json!({
                            "allowed": w.allowed, "protocol": w.protocol, "port": w.port,
                            "ssh": ssh,
                            "through": w.through.iter().map(row_json).collect::<Vec<_>>(),
                            "nearest": w.nearest.iter().map(|n| {
                                let c = cite_near(n);
                                json!({"rule": n.rule, "written_by": c.rule, "location": c.location, "lacks": n.lacks})
                            }).collect::<Vec<_>>(),
                            "undecided": w.undecided.iter().map(|u| {
                                let c = cite_undecided(u);
                                json!({"rule": u.rule, "written_by": c.rule, "location": c.location, "depends_on": u.depends})
                            }).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"from": source.name, "to": target.name, "answers": list})
                    )
                    .unwrap()
                );
            }
            ExplainFormat::Text => {
                for w in &answers {
                    if w.allowed {
                        println!(
                            "{} -> {} {}/{}: ALLOWED",
                            source.name, target.name, w.protocol, w.port
                        );
                        for r in &w.through {
                            let c = cite_row(r);
                            println!(
                                "  via {:<16} {}  (sources: {}; destination {})",
                                c.rule,
                                c.location,
                                r.sources.join(", "),
                                r.destination
                            );
                        }
                    } else if !w.undecided.is_empty() {
                        println!(
                            "{} -> {} {}/{}: UNDECIDED: a rule written with addresses allows it if the devices hold them; which devices hold which addresses a policy file does not say (pass --inventory)",
                            source.name, target.name, w.protocol, w.port
                        );
                        for u in &w.undecided {
                            let c = cite_undecided(u);
                            println!("  may allow: {} ({}): {}", c.rule, c.location, u.depends);
                        }
                    } else {
                        println!(
                            "{} -> {} {}/{}: DENIED (no rule allows it)",
                            source.name, target.name, w.protocol, w.port
                        );
                        for n in &w.nearest {
                            let c = cite_near(n);
                            println!("  nearest: {} ({}): {}", c.rule, c.location, n.lacks);
                        }
                    }
                    if w.port == 22 && proto.0 == 6 {
                        if ssh_json.is_empty() {
                            println!(
                                "  SSH: no ssh rule lets {} log in on {}",
                                source.name, target.name
                            );
                        } else if w.allowed {
                            print_ssh_rules("SSH login through", &ssh_json);
                        } else {
                            print_ssh_rules("SSH login allowed by", &ssh_json);
                            println!(
                                "  SSH cannot connect: Tailscale SSH needs network access to tcp port 22 as well"
                            );
                        }
                    }
                }
            }
        }
        return if answers.iter().all(|w| w.allowed) {
            EXIT_CLEAN
        } else {
            EXIT_FINDINGS
        };
    }
    let (mut rows, by_address) = if args.outbound {
        (
            outbound(&model, &target),
            outbound_by_address(&model, &target, &held),
        )
    } else {
        (
            inbound(&model, &target),
            inbound_by_address(&model, &target, &held),
        )
    };
    let Cannot {
        mut cannot,
        undecided: mut undecided_sources,
    } = if args.outbound {
        Cannot::default()
    } else {
        cannot_reach(&model, &target, &held, &by_address)
    };
    // Rules an inventory says reach it by address are rows like the others.
    rows.extend(by_address.reach.iter().cloned());
    let differs = intended_policy.as_ref().map(|intended| {
        let now = crate::engine::explain::model(intended, &roles, &names);
        let mut rows_now = if args.outbound {
            outbound(&now, &target)
        } else {
            inbound(&now, &target)
        };
        rows_now.extend(if args.outbound {
            outbound_by_address(&now, &target, &held).reach
        } else {
            inbound_by_address(&now, &target, &held).reach
        });
        answer_difference(&rows, &rows_now)
    });
    if let Some((only_file, only_intents)) = &differs
        && !(only_file.is_empty() && only_intents.is_empty())
    {
        let mut text = "this answer differs from what the intents compile to (exit 1):".to_string();
        for (what, rows) in [
            ("only in the file", only_file),
            ("only by the intents", only_intents),
        ] {
            if !rows.is_empty() {
                text.push_str(&format!("\n  {what}: {}", rows.join("; ")));
            }
        }
        warning_line(text);
    }
    // Principals the intents have a name for are shown by it.
    if let Some(v) = &view {
        for alias in v.aliases() {
            for p in &alias.principals {
                let p = p.to_string();
                for c in cannot
                    .iter_mut()
                    .chain(undecided_sources.iter_mut())
                    .filter(|c| **c == p)
                {
                    *c = format!("{} ({p})", alias.name);
                }
            }
        }
    }
    let ssh_into: Vec<usize> = if args.outbound {
        Vec::new()
    } else {
        let mut rules: Vec<usize> = target
            .principals
            .iter()
            .flat_map(|d| crate::engine::ssh_access::rules_into(&policy, &roles, d))
            .collect();
        rules.sort_unstable();
        rules.dedup();
        rules
    };
    let ssh_into = ssh_rules_json(&policy, &sources, file, view.as_ref(), &ssh_into);
    match args.format {
        ExplainFormat::Json => {
            let mut doc = json!({
                "ssh": ssh_into,
                "funnel": funnel.iter().map(FunnelPath::json).collect::<Vec<_>>(),
                "target": target.name,
                "kind": target.kind,
                "direction": if args.outbound { "outbound" } else { "inbound" },
                "rules": rows.iter().map(row_json).collect::<Vec<_>>(),
                "cannot_reach": cannot,
                "undecided_rules": by_address.undecided.iter().map(row_json).collect::<Vec<_>>(),
                "undecided_sources": undecided_sources,
            });
            if let Some((only_file, only_intents)) = &differs {
                doc["differs_from_intents"] = json!({
                    "only_in_file": only_file, "only_by_intents": only_intents,
                });
            }
            println!("{}", serde_json::to_string_pretty(&doc).unwrap());
        }
        ExplainFormat::Text => {
            let direction = if args.outbound {
                "can reach"
            } else {
                "reachable from"
            };
            // An intents name reads with its tag: "service worker (tag:worker)".
            let tagged = match (target.kind, target.principals.as_slice()) {
                ("service" | "device", [Principal::Tags(tags)]) if view.is_some() => {
                    Some(tags.join("+"))
                }
                _ => None,
            };
            match tagged {
                Some(tags) => println!("{} {} ({tags}) {direction}:", target.kind, target.name),
                None => println!("{} ({}) {direction}:", target.name, target.kind),
            }
            if rows.is_empty() {
                println!(
                    "  nothing{}: no rule {}",
                    if by_address.undecided.is_empty() {
                        ""
                    } else {
                        " for certain"
                    },
                    if args.outbound {
                        "has it as a source"
                    } else {
                        "has it as a destination"
                    }
                );
            }
            let print_rows = |rows: &[Row], indent: &str, with_destination: bool| {
                // Each rule once, with every protocol and port it opens (found by
                // hashing: a target can have thousands of rules).
                let mut by_rule: Vec<(String, Vec<&Row>)> = Vec::new();
                let mut index: std::collections::HashMap<String, usize> = Default::default();
                for r in rows {
                    let who = if args.outbound {
                        intents_name(&known_names, &r.destination)
                    } else {
                        r.sources
                            .iter()
                            .map(|s| intents_name(&known_names, s))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    let key = format!("{}\u{0}{who}", r.rule);
                    match index.get(&key) {
                        Some(&i) => by_rule[i].1.push(r),
                        None => {
                            index.insert(key.clone(), by_rule.len());
                            by_rule.push((key, vec![r]));
                        }
                    }
                }
                let shown = if args.all {
                    by_rule.len()
                } else {
                    by_rule.len().min(SCREENFUL_RULES)
                };
                for (key, rs) in &by_rule[..shown] {
                    let who = key.split('\u{0}').nth(1).unwrap_or("");
                    let c = cite_row(rs[0]);
                    let to = if with_destination {
                        let mut to: Vec<&str> = rs.iter().map(|r| r.destination.as_str()).collect();
                        to.dedup();
                        format!("  (to {})", to.join(", "))
                    } else {
                        String::new()
                    };
                    println!(
                        "{indent}{:<32} {:<20} {:<16} {}{to}",
                        who,
                        access_text(rs),
                        c.rule,
                        c.location
                    );
                }
                if shown < by_rule.len() {
                    println!(
                        "{indent}... and {} more rules (--all shows every one)",
                        thousands(by_rule.len() - shown)
                    );
                }
            };
            print_rows(&rows, "  ", false);
            if !by_address.undecided.is_empty() {
                let whose = if args.outbound {
                    format!("{}'s devices hold an address of their sources", target.name)
                } else {
                    format!(
                        "{}'s devices hold their destination's addresses",
                        target.name
                    )
                };
                println!(
                    "  undecided: rules written with addresses, which count if {whose} (a policy file does not say; pass --inventory):"
                );
                print_rows(&by_address.undecided, "    ", !args.outbound);
            }
            let principal_list = |list: &[String]| {
                let shown = if args.all {
                    list.len()
                } else {
                    list.len().min(SCREENFUL_PRINCIPALS)
                };
                let mut line = list[..shown].join(", ");
                if shown < list.len() {
                    line.push_str(&format!(
                        ", {} (--all shows every one)",
                        more_principals(&list[shown..])
                    ));
                }
                line
            };
            if !undecided_sources.is_empty() {
                println!(
                    "  may reach it, as addresses decide: {}",
                    principal_list(&undecided_sources)
                );
            }
            if !cannot.is_empty() {
                println!("  cannot reach it: {}", principal_list(&cannot));
            }
            if !ssh_into.is_empty() {
                print_ssh_rules("SSH into it:", &ssh_into);
            }
            for f in &funnel {
                let path = f.text();
                let rest = path.strip_prefix("the internet -> ").unwrap_or(&path);
                println!("  {:<32} {rest}", "the internet (Funnel)");
            }
            if target.kind == "service"
                && let Some(line) =
                    super::paths::transitive_line(&policy, inventory.as_ref(), &target)
            {
                println!("{line}");
            }
        }
    }
    match differs {
        Some((a, b)) if !(a.is_empty() && b.is_empty()) => EXIT_FINDINGS,
        _ => EXIT_CLEAN,
    }
}

pub fn run_graph(args: GraphArgs, color: bool) -> u8 {
    let (path, project) = policy_and_intents(args.policy.as_deref());
    let (sources, file, policy) = match load_policy(path.as_deref(), color) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Err(code) = load_inventory_opt(&args.inventory) {
        return code;
    }
    let mut graph = crate::engine::graph::build(&policy);
    crate::engine::graph::add_funnel(&mut graph, &policy);
    // The intents' names, when the file is what they compile to.
    if let Some(p) = &project
        && p.compiled.text == sources.get(file).text
    {
        let view = IntentsView {
            project: p,
            locator: None,
        };
        crate::engine::graph::rename(&mut graph, &view.selector_names());
    }
    let out = match args.format {
        GraphFormat::Dot => crate::engine::graph::to_dot(&graph),
        GraphFormat::Mermaid => crate::engine::graph::to_mermaid(&graph),
        GraphFormat::Json => crate::engine::graph::to_json(&graph),
    };
    print!("{out}");
    EXIT_CLEAN
}
