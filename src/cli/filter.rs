//! `tsacl filter [POLICY] --inventory INV [--node NAME]`: what each device would receive.

use super::{EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, error_line, load_inventory};
use crate::check::check_policy;
use crate::diagnostics::render::{TextStyle, render_text};
use crate::diagnostics::{SourceFile, SourceMap};
use crate::engine::filter::{all_filters, peers, to_json};
use crate::engine::inventory::with_auto_approvals;
use crate::engine::resolve::Resolver;
use crate::engine::rules::compile;
use clap::{Args, ValueEnum};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct FilterArgs {
    /// The policy file (default: the intents' compiled policy, or policies/policy.hujson,
    /// found from the current directory upward)
    #[arg(value_name = "POLICY")]
    pub policy: Option<PathBuf>,

    /// Devices and users, shaped like the Tailscale API's answers
    #[arg(long, value_name = "FILE")]
    pub inventory: PathBuf,

    /// Only this device (hostname or name)
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,

    /// Output format
    #[arg(long, value_enum, default_value_t = FilterFormat::Json)]
    pub format: FilterFormat,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum FilterFormat {
    /// Per device: packet filter, SSH rules, node attributes and peers, shaped like a
    /// conformance capture's `nodes` (on stdout)
    Json,
    /// Per device: a line per packet filter rule and the number of peers (on stdout)
    Text,
}

pub fn run(args: FilterArgs, color: bool) -> u8 {
    let inventory = match load_inventory(&args.inventory) {
        Ok(i) => i,
        Err(e) => {
            error_line(e);
            return EXIT_USAGE;
        }
    };
    let found = match args.policy {
        Some(path) => Some(path),
        None => super::explain::policy_and_intents(None).0,
    };
    let Some(path) = found else {
        error_line(
            "no policy file given and no policies/tailnet.json5 or policies/policy.hujson here or in a parent directory",
        );
        return EXIT_USAGE;
    };
    let bytes = match crate::fsutil::read_text_file(&path) {
        Ok(b) => b,
        Err(e) => {
            error_line(e);
            return EXIT_USAGE;
        }
    };
    let mut sources = SourceMap::default();
    let name = path.display().to_string();
    let file = sources.add(SourceFile::new(path.clone(), name, bytes));
    let checked = check_policy(&sources, file, &Default::default());
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    let Some(policy) = checked.policy.filter(|_| errors.is_empty()) else {
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
        error_line("the policy has errors; the control plane would not load it");
        return EXIT_FINDINGS;
    };
    let inventory = with_auto_approvals(&inventory, &policy);
    if let Some(node) = &args.node
        && inventory.device(node).is_none()
    {
        let names = inventory.devices.iter().map(|d| d.hostname.as_str());
        let hint = crate::suggest::did_you_mean(node, names)
            .map(|s| format!("; did you mean {s:?}?"))
            .unwrap_or_default();
        error_line(format!(
            "no device named {node:?} in {}{hint}",
            args.inventory.display()
        ));
        return EXIT_USAGE;
    }
    let resolver = Resolver::new(&policy, &inventory);
    let rules = compile(&resolver);
    let filters = all_filters(&resolver, &rules, &inventory);
    let peer_map = peers(&inventory, &filters);
    let mut out = serde_json::Map::new();
    for d in &inventory.devices {
        if args
            .node
            .as_ref()
            .is_some_and(|n| inventory.device(n).map(|x| &x.hostname) != Some(&d.hostname))
        {
            continue;
        }
        let ssh = crate::engine::ssh::device_ssh_rules(&resolver, d);
        let attrs: serde_json::Map<String, serde_json::Value> =
            crate::engine::attrs::device_attributes(&resolver, d)
                .into_iter()
                .map(|a| (a, serde_json::Value::Null))
                .collect();
        out.insert(
            d.hostname.clone(),
            json!({
                "packet_filter_rules": to_json(&filters[&d.hostname]),
                "ssh_rules": crate::engine::ssh::to_json(&ssh),
                "cap_map": attrs,
                "peers": peer_map[&d.hostname],
            }),
        );
    }
    match args.format {
        FilterFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("serializable")
        ),
        FilterFormat::Text => {
            for (name, v) in &out {
                println!("{name}");
                for r in v["packet_filter_rules"].as_array().into_iter().flatten() {
                    let src = r["SrcIPs"].as_array().map(|a| a.len()).unwrap_or(0);
                    let dst: Vec<String> = r["DstPorts"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|d| {
                            format!(
                                "{}:{}-{}",
                                d["IP"].as_str().unwrap_or("?"),
                                d["Ports"]["First"],
                                d["Ports"]["Last"]
                            )
                        })
                        .collect();
                    println!(
                        "  from {src} source ranges to {}",
                        if dst.is_empty() {
                            "(capabilities)".into()
                        } else {
                            dst.join(", ")
                        }
                    );
                }
                println!(
                    "  peers: {}",
                    v["peers"].as_array().map(|p| p.len()).unwrap_or(0)
                );
            }
        }
    }
    EXIT_CLEAN
}
