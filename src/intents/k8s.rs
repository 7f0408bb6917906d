//! The Kubernetes side of the intents: the manifests each service needs (Service
//! annotations, and the Ingress when the operator serves its Funnel), and a check of
//! manifests against the intents (every exposed Service has an intent, with the intent's
//! host name, tag, ports and protocols; every intent has a Service; Funnel is served by an
//! Ingress exactly where the intents say so; the operator owns the tags).

use super::{Funnel, Intents, ServiceIntent};
use crate::diagnostics::{Diagnostic, FileId, Location, SourceFile, SourceMap};
use crate::lint::operator::FunnelAsk;
use crate::model::{Policy, Protocol};
use crate::rules::Code;
use crate::syntax::Span;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use yaml_rust2::{Yaml, YamlLoader};

/// The namespace and name of the Kubernetes Service behind an intent (`service:
/// "ns/name"`, else the service's name; no namespace when the intent does not say).
fn k8s_name(s: &ServiceIntent) -> (Option<String>, String) {
    match s.k8s_service.as_deref().and_then(|k| k.split_once('/')) {
        Some((ns, n)) => (Some(ns.to_string()), n.to_string()),
        None => (
            None,
            s.k8s_service
                .clone()
                .unwrap_or_else(|| s.name.value.clone()),
        ),
    }
}

/// The TCP port an operator Ingress forwards Funnel traffic to: the service's first.
fn ingress_port(s: &ServiceIntent) -> Option<u16> {
    s.ports
        .iter()
        .find(|p| p.protocol == Protocol::TCP)
        .map(|p| p.range.first)
}

/// One `---` document per manifest: a merge patch with the annotations each Service
/// needs, and for a service whose Funnel the operator serves, the whole Ingress.
pub fn annotations(intents: &Intents) -> String {
    annotations_in(intents, &[])
}

/// [`annotations`], with each service's namespace where the intent does not say it:
/// `namespaces[i]` for the service with index `i` (from [`manifest_namespaces`]).
pub fn annotations_in(intents: &Intents, namespaces: &[Option<String>]) -> String {
    let mut out = String::new();
    for (i, s) in intents.services.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        let (namespace, name) = k8s_name(s);
        let namespace = namespace.or_else(|| namespaces.get(i).cloned().flatten());
        let from: Vec<&str> = s.from.iter().map(|f| f.value.as_str()).collect();
        let _ = writeln!(
            out,
            "# {}: reachable from {}",
            s.name.value,
            if from.is_empty() {
                "nobody".into()
            } else {
                from.join(", ")
            }
        );
        let metadata = |out: &mut String, name: &str| {
            out.push_str("metadata:\n");
            let _ = writeln!(out, "  name: {name}");
            if let Some(ns) = &namespace {
                let _ = writeln!(out, "  namespace: {ns}");
            }
            out.push_str("  annotations:\n");
        };
        out.push_str("apiVersion: v1\nkind: Service\n");
        metadata(&mut out, &name);
        out.push_str("    tailscale.com/expose: \"true\"\n");
        let _ = writeln!(out, "    tailscale.com/hostname: {:?}", s.hostname);
        let _ = writeln!(out, "    tailscale.com/tags: {:?}", s.tag);
        if s.funnel == Some(Funnel::Ingress)
            && let Some(port) = ingress_port(s)
        {
            let _ = writeln!(
                out,
                "---\n# {}: the public internet, through Funnel on the operator's Ingress",
                s.name.value
            );
            out.push_str("apiVersion: networking.k8s.io/v1\nkind: Ingress\n");
            metadata(&mut out, &format!("{name}-funnel"));
            out.push_str("    tailscale.com/funnel: \"true\"\n");
            let _ = writeln!(out, "    tailscale.com/tags: {:?}", s.tag);
            out.push_str("spec:\n  ingressClassName: tailscale\n  defaultBackend:\n    service:\n");
            let _ = writeln!(
                out,
                "      name: {name}\n      port:\n        number: {port}"
            );
            let _ = writeln!(out, "  tls:\n    - hosts:\n        - {}-funnel", s.hostname);
        }
    }
    out
}

/// One document of a manifest file: its tree and where its text is.
struct Document<'a> {
    yaml: &'a Yaml,
    file: FileId,
    text: &'a str,
    /// Its byte range in `text`.
    start: usize,
    end: usize,
}

impl Document<'_> {
    /// The first occurrence of `needle` in this document (else its start).
    fn find(&self, needle: &str) -> Location {
        let span = match self.text[self.start..self.end].find(needle) {
            Some(i) => Span::new(self.start + i, self.start + i + needle.len()),
            None => Span::new(self.start, self.start),
        };
        Location {
            file: self.file,
            span,
        }
    }
}

/// A Service exposed through the operator, as a manifest says.
struct Exposed {
    name_at: Location,
    name: String,
    namespace: String,
    hostname: Option<(String, Location)>,
    tags: Option<(String, Location)>,
    /// `spec.ports`: protocol, port, where; and where `ports:` is (or the name).
    ports: Vec<(Protocol, u16, Location)>,
    ports_at: Location,
}

/// An Ingress that asks for Funnel (class `tailscale`, `tailscale.com/funnel: "true"`).
struct FunnelIngress {
    name: String,
    namespace: String,
    /// The Services it forwards to.
    backends: Vec<String>,
    tags: Option<Vec<String>>,
    at: Location,
}

fn exposed(doc: &Document) -> Exposed {
    let meta = &doc.yaml["metadata"];
    let ann = &meta["annotations"];
    let name = meta["name"].as_str().unwrap_or("").to_string();
    let ports_at = doc.find("ports:");
    let ports = doc.yaml["spec"]["ports"]
        .as_vec()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let port = u16::try_from(p["port"].as_i64()?).ok()?;
            let protocol = Protocol::parse(p["protocol"].as_str().unwrap_or("TCP")).ok()?;
            Some((protocol, port, doc.find(&format!("port: {port}"))))
        })
        .collect();
    Exposed {
        name_at: doc.find(&format!("name: {name}")),
        namespace: meta["namespace"].as_str().unwrap_or("default").to_string(),
        hostname: ann["tailscale.com/hostname"]
            .as_str()
            .map(|h| (h.to_string(), doc.find("tailscale.com/hostname"))),
        tags: ann["tailscale.com/tags"]
            .as_str()
            .map(|t| (t.to_string(), doc.find("tailscale.com/tags"))),
        ports_at,
        ports,
        name,
    }
}

fn funnel_ingress(doc: &Document) -> Option<FunnelIngress> {
    let y = doc.yaml;
    let ann = &y["metadata"]["annotations"];
    let ours = y["spec"]["ingressClassName"].as_str() == Some("tailscale");
    if !ours || ann["tailscale.com/funnel"].as_str() != Some("true") {
        return None;
    }
    let mut backends: Vec<String> = Vec::new();
    let mut add = |b: &Yaml| {
        if let Some(n) = b["service"]["name"].as_str()
            && !backends.iter().any(|x| x == n)
        {
            backends.push(n.to_string());
        }
    };
    add(&y["spec"]["defaultBackend"]);
    for rule in y["spec"]["rules"].as_vec().into_iter().flatten() {
        for path in rule["http"]["paths"].as_vec().into_iter().flatten() {
            add(&path["backend"]);
        }
    }
    Some(FunnelIngress {
        name: y["metadata"]["name"].as_str().unwrap_or("").to_string(),
        namespace: y["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string(),
        backends,
        tags: ann["tailscale.com/tags"].as_str().map(|t| {
            t.split(',')
                .map(|x| x.trim().to_string())
                .collect::<Vec<_>>()
        }),
        at: doc.find("tailscale.com/funnel"),
    })
}

/// Does this intent describe the Kubernetes Service `namespace/name`?
fn describes(s: &ServiceIntent, namespace: &str, name: &str) -> bool {
    let full = format!("{namespace}/{name}");
    match s.k8s_service.as_deref() {
        Some(k) => k == full || k == name,
        None => s.name.value == name,
    }
}

/// The namespace of the exposed Service each intent describes in the manifests at `path`
/// (by its `service`, its name or its host name), per service index; `None` where no
/// manifest has it.
pub fn manifest_namespaces(intents: &Intents, path: &Path) -> Result<Vec<Option<String>>, String> {
    let mut out = vec![None; intents.services.len()];
    for file in manifest_files(path)? {
        let bytes = crate::fsutil::read_text_file(&file)?;
        let Ok(docs) = YamlLoader::load_from_str(&String::from_utf8_lossy(&bytes)) else {
            continue; // `check` reports it.
        };
        for y in docs
            .iter()
            .filter(|y| y["kind"].as_str() == Some("Service"))
        {
            let meta = &y["metadata"];
            let name = meta["name"].as_str().unwrap_or("");
            let namespace = meta["namespace"].as_str().unwrap_or("default");
            let hostname = meta["annotations"]["tailscale.com/hostname"].as_str();
            for (i, s) in intents.services.iter().enumerate() {
                if out[i].is_none()
                    && (describes(s, namespace, name) || hostname == Some(s.hostname.as_str()))
                {
                    out[i] = Some(namespace.to_string());
                }
            }
        }
    }
    Ok(out)
}

/// `path` if it is a file, else every `*.yaml`/`*.yml` under it, sorted.
pub fn manifest_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    collect(path, &mut files).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    files.sort();
    Ok(files)
}

/// Read the manifests at `path` (a file, or every `*.yaml`/`*.yml` under a directory) and
/// compare them with the intents. Files go into `sources`; a file that is not YAML is a
/// finding (TSA132) and the others are still checked; an unreadable one is `Err`. Returns
/// how many Services the operator exposes.
pub fn check(
    intents: &Intents,
    policy: Option<&Policy>,
    intents_file: FileId,
    path: &Path,
    sources: &mut SourceMap,
    diags: &mut Vec<Diagnostic>,
) -> Result<usize, String> {
    let files = manifest_files(path)?;
    // Read everything first: documents borrow the source map's text.
    let mut loaded: Vec<(FileId, Vec<Yaml>)> = Vec::new();
    let mut unparsed = false;
    for file in &files {
        let bytes = crate::fsutil::read_text_file(file)?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let id = sources.add(SourceFile::new(file, file.display().to_string(), bytes));
        match YamlLoader::load_from_str(&text) {
            Ok(docs) => loaded.push((id, docs)),
            Err(e) => {
                unparsed = true;
                let at = e.marker().index().min(text.len());
                let at = (0..=at)
                    .rev()
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap_or(0);
                let end = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
                diags.push(
                    Diagnostic::new(
                        Code::K8sYaml,
                        Location {
                            file: id,
                            span: Span::new(at, end),
                        },
                        format!("not valid YAML: {}", e.info()),
                    )
                    .with_help("fix the YAML; the other manifests were checked"),
                );
            }
        }
    }
    let mut exposed_all: Vec<Exposed> = Vec::new();
    let mut ingresses: Vec<FunnelIngress> = Vec::new();
    for (id, docs) in &loaded {
        let text = std::str::from_utf8(&sources.get(*id).text).unwrap_or("");
        // Document boundaries, to look text up inside the right document.
        let mut starts = vec![0usize];
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            if line.trim_end() == "---" && offset > 0 {
                starts.push(offset + line.len());
            }
            offset += line.len();
        }
        for (i, yaml) in docs.iter().enumerate() {
            let start = starts.get(i).copied().unwrap_or(0);
            let end = starts.get(i + 1).copied().unwrap_or(text.len()).max(start);
            let doc = Document {
                yaml,
                file: *id,
                text,
                start,
                end,
            };
            match yaml["kind"].as_str() {
                Some("Ingress") => ingresses.extend(funnel_ingress(&doc)),
                Some("Service") => {
                    let ann = &yaml["metadata"]["annotations"];
                    if ann["tailscale.com/expose"].as_str() == Some("true")
                        || yaml["spec"]["loadBalancerClass"].as_str() == Some("tailscale")
                    {
                        exposed_all.push(exposed(&doc));
                    }
                }
                _ => {}
            }
        }
    }
    let op = intents.operator.clone().unwrap_or_default();
    let mut matched = vec![false; intents.services.len()];
    for e in &exposed_all {
        let hostname = e
            .hostname
            .as_ref()
            .map_or_else(|| format!("{}-{}", e.namespace, e.name), |(h, _)| h.clone());
        let full = format!("{}/{}", e.namespace, e.name);
        let found = intents
            .services
            .iter()
            .position(|s| describes(s, &e.namespace, &e.name) || s.hostname == hostname);
        let Some(i) = found else {
            diags.push(
                Diagnostic::new(
                    Code::K8sUnknownService,
                    e.name_at,
                    format!("Service {full} is exposed on the tailnet as {hostname:?} but no intent names it"),
                )
                .with_help("add it under `services` in the intents, or remove tailscale.com/expose"),
            );
            continue;
        };
        matched[i] = true;
        let s = &intents.services[i];
        if hostname != s.hostname {
            let at = e.hostname.as_ref().map_or(e.name_at, |(_, at)| *at);
            diags.push(
                Diagnostic::new(
                    Code::K8sHostname,
                    at,
                    format!("Service {full} is exposed as {hostname:?}, but the intent {:?} expects {:?}", s.name.value, s.hostname),
                )
                .with_help(format!("set tailscale.com/hostname: {:?}", s.hostname)),
            );
        }
        let tags: Vec<String> = match &e.tags {
            Some((t, _)) => t.split(',').map(|x| x.to_string()).collect(),
            None => vec![op.proxy_tag.clone()],
        };
        let tag_at = e.tags.as_ref().map_or(e.name_at, |(_, at)| *at);
        if tags.iter().any(|t| t != t.trim()) {
            diags.push(
                Diagnostic::new(
                    Code::K8sTag,
                    tag_at,
                    "tailscale.com/tags has spaces around a tag; the operator does not trim them",
                )
                .with_help("write the tags comma-separated without spaces"),
            );
        }
        if !tags.iter().any(|t| t.trim() == s.tag) {
            diags.push(
                Diagnostic::new(
                    Code::K8sTag,
                    tag_at,
                    format!(
                        "Service {full} gets tags {:?}, but the intent {:?} grants access to {}",
                        tags.join(","),
                        s.name.value,
                        s.tag
                    ),
                )
                .with_help(format!("set tailscale.com/tags: {:?}", s.tag)),
            );
        }
        if let Some(policy) = policy {
            for t in tags.iter().map(|t| t.trim()) {
                let owned = policy
                    .tag_owner(t)
                    .is_some_and(|o| o.owners.iter().any(|x| x.raw.trim() == op.tag));
                if !owned {
                    diags.push(
                        Diagnostic::new(
                            Code::K8sTagNotOwned,
                            tag_at,
                            format!("the operator ({}) does not own {t}, so it cannot create this Service's proxy", op.tag),
                        )
                        .with_help(format!("tagOwners must have {t:?}: [{:?}]", op.tag)),
                    );
                }
            }
        }
        compare_ports(s, e, &full, diags);
    }
    check_funnel(intents, intents_file, path, &ingresses, unparsed, diags);
    if let Some(policy) = policy {
        let asks: Vec<FunnelAsk> = ingresses
            .iter()
            .map(|ing| {
                FunnelAsk::tagged(
                    format!("Ingress {}", ing.name),
                    ing.tags
                        .as_deref()
                        .unwrap_or(std::slice::from_ref(&op.proxy_tag)),
                    ing.at,
                )
            })
            .collect();
        crate::lint::operator::funnel(policy, &asks, diags);
    }
    // With a manifest unread, a missing Service may be in it.
    if !unparsed {
        for (i, s) in intents.services.iter().enumerate() {
            if !matched[i] {
                diags.push(
                    Diagnostic::new(
                        Code::K8sMissingService,
                        Location { file: intents_file, span: s.name.span },
                        format!("no manifest under {} exposes the service {:?}", path.display(), s.name.value),
                    )
                    .with_help("annotate its Service with tailscale.com/expose: \"true\" (`tsacl k8s` prints the annotations)"),
                );
            }
        }
    }
    Ok(exposed_all.len())
}

/// TSA130: the Service forwards exactly the intent's ports and protocols.
fn compare_ports(s: &ServiceIntent, e: &Exposed, full: &str, diags: &mut Vec<Diagnostic>) {
    let name = &s.name.value;
    let mut reported: Vec<(Protocol, u16)> = Vec::new();
    // Ports a single source may reach (`{ source, ports }`) are the Service's too.
    let granted_ports = s.all_ports();
    for want in granted_ports.iter().filter(|p| p.protocol.has_ports()) {
        let missing: Vec<u16> = (want.range.first..=want.range.last)
            .filter(|n| {
                !e.ports
                    .iter()
                    .any(|(p, port, _)| *p == want.protocol && port == n)
            })
            .collect();
        if missing.is_empty() {
            continue;
        }
        // The same port under another protocol: one finding, with the protocol to set.
        if let [n] = missing[..]
            && let Some((other, _, at)) = e.ports.iter().find(|(p, port, _)| {
                *port == n
                    && !granted_ports
                        .iter()
                        .any(|w| w.protocol == *p && w.range.contains(n))
            })
        {
            reported.push((*other, n));
            diags.push(
                Diagnostic::new(
                    Code::K8sPorts,
                    *at,
                    format!(
                        "Service {full} exposes port {n} over {}, but the intent {name:?} grants {}:{n}",
                        other.to_string().to_uppercase(),
                        want.protocol
                    ),
                )
                .with_help(format!(
                    "set `protocol: {}` on this port (or change the intent)",
                    want.protocol.to_string().to_uppercase()
                )),
            );
            continue;
        }
        let what = if missing.len() == usize::from(want.range.last - want.range.first) + 1 {
            want.grant_text()
        } else {
            format!(
                "{} of {}",
                ranges_text(want.protocol, &missing),
                want.grant_text()
            )
        };
        let add = match want.protocol {
            Protocol::TCP => format!("`- {{name: tcp-{0}, port: {0}}}`", missing[0]),
            p => format!(
                "`- {{name: {p}-{0}, port: {0}, protocol: {1}}}`",
                missing[0],
                p.to_string().to_uppercase()
            ),
        };
        diags.push(
            Diagnostic::new(
                Code::K8sPorts,
                e.ports_at,
                format!("Service {full} does not expose {what}, which the intent {name:?} grants"),
            )
            .with_help(if missing.len() == 1 {
                format!("add {add} to its spec.ports, or drop the port from the intent")
            } else {
                format!(
                    "a Service lists each port; add the {} missing ports to its spec.ports, or narrow the intent",
                    missing.len()
                )
            }),
        );
    }
    for (p, n, at) in &e.ports {
        let granted = granted_ports
            .iter()
            .any(|w| w.protocol == *p && w.range.contains(*n));
        if granted || reported.contains(&(*p, *n)) {
            continue;
        }
        diags.push(
            Diagnostic::new(
                Code::K8sPorts,
                *at,
                format!(
                    "Service {full} exposes {p}:{n}, which the intent {name:?} does not grant: nothing on the tailnet may reach it"
                ),
            )
            .with_help("add it to the intent's ports, or remove it from the Service"),
        );
    }
}

/// Sorted ports as `tcp:1-3, tcp:7`.
fn ranges_text(protocol: Protocol, ports: &[u16]) -> String {
    let mut ranges: Vec<(u16, u16)> = Vec::new();
    for &p in ports {
        match ranges.last_mut() {
            Some((_, last)) if u32::from(*last) + 1 == u32::from(p) => *last = p,
            _ => ranges.push((p, p)),
        }
    }
    ranges
        .iter()
        .map(|(a, b)| {
            if a == b {
                format!("{protocol}:{a}")
            } else {
                format!("{protocol}:{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// TSA131: an Ingress serves Funnel for exactly the services whose intent says
/// `funnel: "ingress"`.
fn check_funnel(
    intents: &Intents,
    intents_file: FileId,
    path: &Path,
    ingresses: &[FunnelIngress],
    unparsed: bool,
    diags: &mut Vec<Diagnostic>,
) {
    for ing in ingresses {
        for backend in &ing.backends {
            let intent = intents
                .services
                .iter()
                .find(|s| describes(s, &ing.namespace, backend));
            let problem = match intent.map(|s| (s, &s.funnel)) {
                Some((_, Some(Funnel::Ingress))) => continue,
                None => format!(
                    "Ingress {} serves Funnel to the Service {}/{backend}, which no intent names: the public internet reaches it without the intents saying so",
                    ing.name, ing.namespace
                ),
                Some((s, Some(Funnel::Via(device)))) => format!(
                    "Ingress {} serves Funnel to {:?}, whose intent says Funnel goes through {}",
                    ing.name, s.name.value, device.value
                ),
                Some((s, _)) => format!(
                    "Ingress {} serves Funnel to {:?}, whose intent does not say funnel: \"ingress\"",
                    ing.name, s.name.value
                ),
            };
            diags.push(
                Diagnostic::new(Code::K8sFunnelIngress, ing.at, problem).with_help(
                    "write funnel: \"ingress\" in the service's intent, or remove tailscale.com/funnel from the Ingress",
                ),
            );
        }
    }
    if unparsed {
        return;
    }
    for s in &intents.services {
        if s.funnel != Some(Funnel::Ingress) {
            continue;
        }
        let served = ingresses
            .iter()
            .any(|ing| ing.backends.iter().any(|b| describes(s, &ing.namespace, b)));
        if !served {
            diags.push(
                Diagnostic::new(
                    Code::K8sFunnelIngress,
                    Location {
                        file: intents_file,
                        span: s.funnel_span.unwrap_or(s.name.span),
                    },
                    format!(
                        "the intent {:?} says the operator's Ingress serves its Funnel, but no Ingress under {} does",
                        s.name.value,
                        path.display()
                    ),
                )
                .with_help("add the Ingress `tsacl k8s` prints (ingressClassName: tailscale, tailscale.com/funnel: \"true\")"),
            );
        }
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}
