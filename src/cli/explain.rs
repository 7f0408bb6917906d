//! `tsacl explain TARGET [POLICY]` and `tsacl graph [POLICY]`.

use super::{EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, error_line, load_inventory};
use crate::check::check_policy;
use crate::diagnostics::render::{TextStyle, render_text};
use crate::diagnostics::{FileId, SourceFile, SourceMap};
use crate::engine::explain::{Row, cannot_reach, inbound, outbound, resolve_name, why};
use crate::engine::inventory::Inventory;
use crate::engine::reach::Roles;
use crate::model::{Policy, Protocol};
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
    /// What to explain: a tag, user, group, host alias, IP/CIDR, or (with --inventory) a device
    #[arg(value_name = "TARGET")]
    pub target: String,

    /// The policy file (default: policies/policy.hujson, looked up from the current directory upward)
    #[arg(value_name = "POLICY")]
    pub policy: Option<PathBuf>,

    /// Devices and users, shaped like the Tailscale API's answers
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,

    /// Answer for one source: why it can, or why it cannot, reach TARGET
    #[arg(long, value_name = "SRC")]
    pub from: Option<String>,

    /// The port for --from (default: every port TARGET is reachable on, or 22 if none)
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,

    /// The protocol for --from: tcp, udp, icmp or a number (default tcp)
    #[arg(long, value_name = "PROTO", default_value = "tcp")]
    pub proto: String,

    /// Show what TARGET can reach instead of who can reach it
    #[arg(long, conflicts_with = "from")]
    pub outbound: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
    pub format: ExplainFormat,
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
    let checked = check_policy(&sources, file, &Default::default());
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

fn load_inventory_opt(path: &Option<PathBuf>) -> Result<Option<Inventory>, u8> {
    match path {
        None => Ok(None),
        Some(p) => load_inventory(p).map(Some).map_err(|e| {
            error_line(e);
            EXIT_USAGE
        }),
    }
}

fn location(sources: &SourceMap, file: FileId, row: &Row) -> String {
    let f = sources.get(file);
    let (line, col) = f.line_col(row.span.start as usize);
    format!("{}:{line}:{col}", f.name)
}

pub fn run_explain(args: ExplainArgs, color: bool) -> u8 {
    let (sources, file, policy) = match load_policy(args.policy.as_deref(), color) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let inventory = match load_inventory_opt(&args.inventory) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let roles = Roles(inventory.as_ref());
    // A service of the intents file is explained by its tag, with the intent beside it.
    let service = std::env::current_dir()
        .ok()
        .and_then(|d| crate::intents::find(&d))
        .and_then(|p| crate::intents::project::load(&p).ok())
        .and_then(|p| p.intents.service(&args.target).cloned());
    let target_name = service
        .as_ref()
        .map_or(args.target.clone(), |s| s.tag.clone());
    if let Some(s) = &service
        && args.format == ExplainFormat::Text
    {
        let ports: Vec<String> = s.ports.iter().map(|p| p.grant_text()).collect();
        let from: Vec<&str> = s.from.iter().map(|f| f.value.as_str()).collect();
        println!(
            "service {} ({}): intended for {} on {}",
            s.name.value,
            s.tag,
            from.join(", "),
            ports.join(", ")
        );
    }
    let target = match resolve_name(&policy, inventory.as_ref(), &target_name) {
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
    if let Some(from) = &args.from {
        let source = match resolve_name(&policy, inventory.as_ref(), from) {
            Ok(s) => s,
            Err(e) => {
                error_line(e);
                return EXIT_USAGE;
            }
        };
        let ports: Vec<u16> = match args.port {
            Some(p) => vec![p],
            None => {
                let mut ps: Vec<u16> = inbound(&policy, &roles, &target)
                    .iter()
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
            .map(|p| why(&policy, &roles, &source, &target, proto.0, *p))
            .collect();
        match args.format {
            ExplainFormat::Json => {
                let list: Vec<_> = answers
                    .iter()
                    .map(|w| {
                        json!({
                            "allowed": w.allowed, "protocol": w.protocol, "port": w.port,
                            "through": w.through.iter().map(|r| row_json(&sources, file, r)).collect::<Vec<_>>(),
                            "nearest": w.nearest.iter().map(|(r, l)| json!({"rule": r, "lacks": l})).collect::<Vec<_>>(),
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
                            println!(
                                "  via {:<12} {}  (sources: {}; destination {})",
                                r.rule,
                                location(&sources, file, r),
                                r.sources.join(", "),
                                r.destination
                            );
                        }
                    } else {
                        println!(
                            "{} -> {} {}/{}: DENIED (no rule allows it)",
                            source.name, target.name, w.protocol, w.port
                        );
                        for (rule, lacks) in &w.nearest {
                            println!("  nearest: {rule}: {lacks}");
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
    let rows = if args.outbound {
        outbound(&policy, &roles, &target)
    } else {
        inbound(&policy, &roles, &target)
    };
    let cannot = if args.outbound {
        Vec::new()
    } else {
        cannot_reach(&policy, &roles, &target)
    };
    match args.format {
        ExplainFormat::Json => {
            let doc = json!({
                "target": target.name,
                "kind": target.kind,
                "direction": if args.outbound { "outbound" } else { "inbound" },
                "rules": rows.iter().map(|r| row_json(&sources, file, r)).collect::<Vec<_>>(),
                "cannot_reach": cannot,
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap());
        }
        ExplainFormat::Text => {
            let direction = if args.outbound {
                "can reach"
            } else {
                "reachable from"
            };
            println!("{} ({}) {direction}:", target.name, target.kind);
            if rows.is_empty() {
                println!(
                    "  nothing: no rule {}",
                    if args.outbound {
                        "has it as a source"
                    } else {
                        "has it as a destination"
                    }
                );
            }
            let mut by_port: std::collections::BTreeMap<(String, String), Vec<&Row>> =
                Default::default();
            for r in &rows {
                by_port
                    .entry((r.protocol.clone(), r.ports.clone()))
                    .or_default()
                    .push(r);
            }
            for ((proto, ports), rows) in by_port {
                println!("  {proto} {ports}");
                for r in rows {
                    let who = if args.outbound {
                        r.destination.clone()
                    } else {
                        r.sources.join(", ")
                    };
                    println!(
                        "    {:<40} {:<12} {}",
                        who,
                        r.rule,
                        location(&sources, file, r)
                    );
                }
            }
            if !cannot.is_empty() {
                println!("  cannot reach it: {}", cannot.join(", "));
            }
        }
    }
    EXIT_CLEAN
}

fn row_json(sources: &SourceMap, file: FileId, r: &Row) -> serde_json::Value {
    json!({
        "protocol": r.protocol, "ports": r.ports, "sources": r.sources, "destination": r.destination,
        "rule": r.rule, "location": location(sources, file, r),
    })
}

pub fn run_graph(args: GraphArgs, color: bool) -> u8 {
    let (_, _, policy) = match load_policy(args.policy.as_deref(), color) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Err(code) = load_inventory_opt(&args.inventory) {
        return code;
    }
    let graph = crate::engine::graph::build(&policy);
    let out = match args.format {
        GraphFormat::Dot => crate::engine::graph::to_dot(&graph),
        GraphFormat::Mermaid => crate::engine::graph::to_mermaid(&graph),
        GraphFormat::Json => crate::engine::graph::to_json(&graph),
    };
    print!("{out}");
    EXIT_CLEAN
}
