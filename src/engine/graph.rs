//! The reachability graph at selector level: sources → destinations, each edge labelled
//! with the protocols and ports of every rule between them (merged, so a tailnet of fifty
//! devices stays readable).

use super::reach::entries;
use crate::model::Policy;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::BTreeMap;

pub type Graph = DiGraph<String, Vec<String>>;

pub fn build(policy: &Policy) -> Graph {
    let mut g = Graph::new();
    let mut nodes: BTreeMap<String, NodeIndex> = BTreeMap::new();
    let mut node = |g: &mut Graph, name: &str| {
        *nodes
            .entry(name.to_string())
            .or_insert_with(|| g.add_node(name.to_string()))
    };
    let mut edges: BTreeMap<(NodeIndex, NodeIndex), Vec<String>> = BTreeMap::new();
    if policy.acls.is_none() && policy.grants.is_none() {
        let all = node(&mut g, "*");
        edges
            .entry((all, all))
            .or_default()
            .push("any * (default allow-all)".into());
    }
    for e in entries(policy) {
        let dst = node(&mut g, e.dst.raw.trim());
        let proto = e.protocol.map_or("any".to_string(), |p| p.to_string());
        let ports: Vec<String> = e.ports.iter().map(ToString::to_string).collect();
        let label = format!("{proto} {}", ports.join(","));
        for s in e.src {
            let src = node(&mut g, s.raw.trim());
            let labels = edges.entry((src, dst)).or_default();
            if !labels.contains(&label) {
                labels.push(label.clone());
            }
        }
    }
    for ((a, b), labels) in edges {
        g.add_edge(a, b, labels);
    }
    g
}

/// The node standing for the public internet, which reaches Funnel nodes.
pub const INTERNET: &str = "the internet";

/// Add the public internet, with an edge to every target of a `funnel` node attribute:
/// Funnel lets the internet reach those devices (on the Funnel ports, 443, 8443 and 10000,
/// wherever they forward it).
pub fn add_funnel(g: &mut Graph, policy: &Policy) {
    let mut internet = None;
    for a in policy
        .node_attrs
        .iter()
        .filter(|a| a.attr.iter().any(|x| x.value.trim() == "funnel"))
    {
        for t in &a.target {
            let from = *internet.get_or_insert_with(|| g.add_node(INTERNET.to_string()));
            let name = t.raw.trim();
            let to = match g.node_indices().find(|i| g[*i] == name) {
                Some(i) => i,
                None => g.add_node(name.to_string()),
            };
            if g.find_edge(from, to).is_none() {
                g.add_edge(from, to, vec!["Funnel (https)".to_string()]);
            }
        }
    }
}

/// Show nodes by the names another layer gives their selectors (the intents' services and
/// devices: `worker (tag:worker)`).
pub fn rename(g: &mut Graph, names: &std::collections::HashMap<String, String>) {
    for i in g.node_indices() {
        if let Some(n) = names.get(&g[i]) {
            g[i] = n.clone();
        }
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

pub fn to_dot(g: &Graph) -> String {
    let mut out = String::from(
        "digraph tailnet {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
    );
    for i in g.node_indices() {
        out.push_str(&format!("  n{} [label={}];\n", i.index(), quote(&g[i])));
    }
    for e in g.edge_indices() {
        let (a, b) = g.edge_endpoints(e).expect("edge");
        out.push_str(&format!(
            "  n{} -> n{} [label={}];\n",
            a.index(),
            b.index(),
            quote(&g[e].join("\\n"))
        ));
    }
    out.push_str("}\n");
    out
}

pub fn to_mermaid(g: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    for i in g.node_indices() {
        out.push_str(&format!(
            "  n{}[\"{}\"]\n",
            i.index(),
            g[i].replace('"', "#quot;")
        ));
    }
    for e in g.edge_indices() {
        let (a, b) = g.edge_endpoints(e).expect("edge");
        out.push_str(&format!(
            "  n{} -->|\"{}\"| n{}\n",
            a.index(),
            g[e].join(", ").replace('"', "#quot;"),
            b.index()
        ));
    }
    out
}

pub fn to_json(g: &Graph) -> String {
    let nodes: Vec<&String> = g.node_indices().map(|i| &g[i]).collect();
    let edges: Vec<serde_json::Value> = g
        .edge_indices()
        .map(|e| {
            let (a, b) = g.edge_endpoints(e).expect("edge");
            serde_json::json!({"from": g[a], "to": g[b], "ports": g[e]})
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&serde_json::json!({"nodes": nodes, "edges": edges}))
        .expect("serializable");
    s.push('\n');
    s
}
