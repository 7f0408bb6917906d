//! `tsacl filter [POLICY] --inventory INV [--node NAME]`: what each device would receive.

use super::{EXIT_CLEAN, EXIT_FINDINGS, EXIT_RUNTIME, EXIT_USAGE, error_line, load_inventory};
use crate::check::{Depth, check_policy_to};
use crate::diagnostics::render::{TextStyle, render_text};
use crate::diagnostics::{SourceFile, SourceMap};
use crate::engine::attrs::NodeAttrs;
use crate::engine::filter::{
    FilterRule, Filters, WireFilter, destinations, device_filter_and_peers,
};
use crate::engine::inventory::{Inventory, with_auto_approvals};
use crate::engine::resolve::Resolver;
use crate::engine::rules::compile;
use crate::engine::ssh::SshRules;
use clap::{Args, ValueEnum};
use rustc_hash::FxHashMap;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct FilterArgs {
    /// The policy file (default: the intents' compiled policy, or policies/policy.hujson,
    /// found from the current directory upward)
    #[arg(value_name = "POLICY")]
    pub policy: Option<PathBuf>,

    /// Devices and users, shaped like the Tailscale API's answers. The policy's `tests` run
    /// against them too, as with `check --inventory`: a policy whose tests fail there is not
    /// loaded (exit 1)
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
    // The policy's tests run against the devices the filters are for, as `check
    // --inventory` runs them: a test that fails for these devices is an error here too.
    let options = crate::validate::Options {
        inventory: Some(inventory),
        ..Default::default()
    };
    let checked = check_policy_to(&sources, file, &options, Depth::Verdict);
    let inventory = options.inventory.expect("set above");
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
    let keys = device_keys(&inventory);
    let mut by_key: Vec<usize> = (0..inventory.devices.len()).collect();
    by_key.sort_by(|a, b| keys[*a].cmp(&keys[*b]));
    let chosen = match &args.node {
        Some(node) => match find_device(&inventory, node) {
            Ok(i) => vec![i],
            Err(why) => {
                error_line(format!("{why} in {}", args.inventory.display()));
                return EXIT_USAGE;
            }
        },
        None => by_key.clone(),
    };
    let mut rank = vec![0; by_key.len()];
    for (r, i) in by_key.iter().enumerate() {
        rank[*i] = r;
    }
    let resolver = Resolver::new(&policy, &inventory);
    let ssh = SshRules::new(&resolver);
    let attrs = NodeAttrs::new(&resolver);
    let wire = WireFilter::default();
    let answer = |i: usize, filter: Vec<FilterRule>, mut peers: Vec<usize>| {
        let device = &inventory.devices[i];
        peers.sort_unstable_by_key(|j| rank[*j]);
        Answer {
            filter,
            peers: peers.iter().map(|j| keys[*j].as_str()).collect(),
            attributes: attrs.device_attributes(device),
            ssh: crate::engine::ssh::to_json(&ssh.device_rules(device)),
            wire: &wire,
        }
    };
    // Each device's answer is computed when it is written, so memory stays that of one
    // device's answer however many devices there are.
    let mut out = BufWriter::new(std::io::stdout().lock());
    let written = if args.node.is_some() {
        // One device: one pass over the rules, keeping only those that concern it.
        write(&mut out, args.format, &chosen, &keys, |i| {
            let (filter, peers) = device_filter_and_peers(&resolver, i);
            answer(i, filter, peers)
        })
    } else {
        let rules = compile(&resolver);
        let filters = Filters::new(&resolver, &rules);
        write(&mut out, args.format, &chosen, &keys, |i| {
            let filter = filters.filter(i);
            let peers = filters.peers(i, &filter);
            answer(i, filter, peers)
        })
    }
    .and_then(|()| out.flush());
    match written {
        Ok(()) => EXIT_CLEAN,
        // The reader stopped reading (`tsacl filter | head`): nothing more to say.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_CLEAN,
        Err(e) => {
            error_line(format!("cannot write the output: {e}"));
            EXIT_RUNTIME
        }
    }
}

/// How each device is named in the output: its hostname, or its full name when several
/// devices share the hostname (and its place in the inventory if that is shared too).
fn device_keys(inventory: &Inventory) -> Vec<String> {
    fn count<'a>(names: impl Iterator<Item = &'a str>) -> FxHashMap<&'a str, usize> {
        let mut n: FxHashMap<&str, usize> = FxHashMap::default();
        names.for_each(|name| *n.entry(name).or_default() += 1);
        n
    }
    let hostnames = count(inventory.devices.iter().map(|d| d.hostname.as_str()));
    let keys: Vec<&str> = inventory
        .devices
        .iter()
        .map(|d| match hostnames[d.hostname.as_str()] {
            1 => d.hostname.as_str(),
            _ => d.name.as_str(),
        })
        .collect();
    let repeated = count(keys.iter().copied());
    keys.iter()
        .enumerate()
        .map(|(i, key)| match repeated[key] {
            1 => key.to_string(),
            _ => format!("{key} (devices[{i}])"),
        })
        .collect()
}

/// The device `--node` names: by full name, hostname, or the first label of its name.
fn find_device(inventory: &Inventory, node: &str) -> Result<usize, String> {
    let devices = &inventory.devices;
    if let [i] = (0..devices.len())
        .filter(|i| devices[*i].name == node)
        .collect::<Vec<_>>()[..]
    {
        return Ok(i);
    }
    let matches: Vec<usize> = (0..devices.len())
        .filter(|i| {
            let d = &devices[*i];
            d.hostname == node || d.name == node || d.name.split('.').next() == Some(node)
        })
        .collect();
    match matches[..] {
        [i] => Ok(i),
        [] => {
            let names = devices.iter().map(|d| d.hostname.as_str());
            let hint = crate::suggest::did_you_mean(node, names)
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_default();
            Err(format!("no device named {node:?}{hint}"))
        }
        _ => {
            let names: Vec<&str> = matches.iter().map(|i| devices[*i].name.as_str()).collect();
            Err(format!(
                "{} devices are named {node:?} ({}); give one's full name",
                matches.len(),
                names.join(", ")
            ))
        }
    }
}

/// What one device receives, as `filter` writes it.
struct Answer<'x> {
    filter: Vec<FilterRule>,
    /// Sorted.
    peers: Vec<&'x str>,
    attributes: BTreeSet<String>,
    ssh: Value,
    wire: &'x WireFilter,
}

impl Serialize for Answer<'_> {
    /// The shape of a conformance capture's node, keys in sorted order.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Attributes<'a>(&'a BTreeSet<String>);
        impl Serialize for Attributes<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_map(self.0.iter().map(|name| (name, ())))
            }
        }
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("cap_map", &Attributes(&self.attributes))?;
        map.serialize_entry("packet_filter_rules", &self.wire.of(&self.filter))?;
        map.serialize_entry("peers", &self.peers)?;
        map.serialize_entry("ssh_rules", &self.ssh)?;
        map.end()
    }
}

fn write<'x>(
    out: &mut impl Write,
    format: FilterFormat,
    devices: &[usize],
    keys: &[String],
    node: impl Fn(usize) -> Answer<'x>,
) -> std::io::Result<()> {
    match format {
        FilterFormat::Json => write_json(out, devices, keys, node),
        FilterFormat::Text => write_text(out, devices, keys, node),
    }
}

/// A JSON object keyed by device, each device's answer computed as it is written.
struct Nodes<'x, F> {
    devices: &'x [usize],
    keys: &'x [String],
    node: F,
}

impl<'x, F: Fn(usize) -> Answer<'x>> Serialize for Nodes<'_, F> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.devices.len()))?;
        for &i in self.devices {
            map.serialize_entry(&self.keys[i], &(self.node)(i))?;
        }
        map.end()
    }
}

fn write_json<'x>(
    out: &mut impl Write,
    devices: &[usize],
    keys: &[String],
    node: impl Fn(usize) -> Answer<'x>,
) -> std::io::Result<()> {
    serde_json::to_writer_pretty(
        &mut *out,
        &Nodes {
            devices,
            keys,
            node,
        },
    )?;
    writeln!(out)
}

/// Per device: a line per packet filter rule and the number of peers.
fn write_text<'x>(
    out: &mut impl Write,
    devices: &[usize],
    keys: &[String],
    node: impl Fn(usize) -> Answer<'x>,
) -> std::io::Result<()> {
    for &i in devices {
        let answer = node(i);
        writeln!(out, "{}", keys[i])?;
        for rule in &answer.filter {
            let sources = answer.wire.sources(rule).len();
            let dst: Vec<String> = destinations(rule)
                .map(|(ip, ports)| format!("{ip}:{}-{}", ports.first, ports.last))
                .collect();
            let dst = if dst.is_empty() {
                "(capabilities)".to_string()
            } else {
                dst.join(", ")
            };
            writeln!(out, "  from {sources} source ranges to {dst}")?;
        }
        writeln!(out, "  peers: {}", answer.peers.len())?;
    }
    Ok(())
}
