//! The Kubernetes side of the intents: the annotations each Service needs, and a check of
//! Service manifests against the intents (every exposed Service has an intent and the
//! intent's host name and tag; every intent has a Service; the operator owns the tags).

use super::Intents;
use crate::diagnostics::{Diagnostic, FileId, Location, SourceFile, SourceMap};
use crate::model::Policy;
use crate::rules::Code;
use crate::syntax::Span;
use std::fmt::Write;
use std::path::Path;
use yaml_rust2::YamlLoader;

/// One `---` document per service: a merge patch with the annotations it needs.
pub fn annotations(intents: &Intents) -> String {
    let mut out = String::new();
    for (i, s) in intents.services.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        let (namespace, name) = match s.k8s_service.as_deref().and_then(|k| k.split_once('/')) {
            Some((ns, n)) => (Some(ns.to_string()), n.to_string()),
            None => (
                None,
                s.k8s_service
                    .clone()
                    .unwrap_or_else(|| s.name.value.clone()),
            ),
        };
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
        out.push_str("apiVersion: v1\nkind: Service\nmetadata:\n");
        let _ = writeln!(out, "  name: {name}");
        if let Some(ns) = namespace {
            let _ = writeln!(out, "  namespace: {ns}");
        }
        out.push_str("  annotations:\n    tailscale.com/expose: \"true\"\n");
        let _ = writeln!(out, "    tailscale.com/hostname: {:?}", s.hostname);
        let _ = writeln!(out, "    tailscale.com/tags: {:?}", s.tag);
    }
    out
}

/// A Service exposed through the operator, as a manifest says.
struct Exposed {
    file: FileId,
    /// The span of the Service's name (for messages).
    name_span: Span,
    name: String,
    namespace: String,
    hostname: Option<(String, Span)>,
    tags: Option<(String, Span)>,
}

fn find_span(text: &str, from: usize, needle: &str) -> Span {
    match text[from..].find(needle) {
        Some(i) => Span::new(from + i, from + i + needle.len()),
        None => Span::new(from, from),
    }
}

/// Read every `*.yaml`/`*.yml` under `dir` and compare the exposed Services with the
/// intents. Files go into `sources`; unreadable files or bad YAML are errors in `Err`.
pub fn check(
    intents: &Intents,
    policy: Option<&Policy>,
    intents_file: FileId,
    dir: &Path,
    sources: &mut SourceMap,
    diags: &mut Vec<Diagnostic>,
) -> Result<usize, String> {
    let mut files = Vec::new();
    collect(dir, &mut files).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    files.sort();
    let mut exposed = Vec::new();
    // Ingresses that ask for Funnel: what, their tags (None: the proxy tag), where.
    let mut funnels: Vec<(String, Option<Vec<String>>, Location)> = Vec::new();
    for path in &files {
        let bytes = crate::fsutil::read_text_file(path)?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let docs =
            YamlLoader::load_from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let id = sources.add(SourceFile::new(path, path.display().to_string(), bytes));
        // Document start offsets, to look spans up inside the right document.
        let mut starts = vec![0usize];
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            if line.trim_end() == "---" && offset > 0 {
                starts.push(offset + line.len());
            }
            offset += line.len();
        }
        for (i, doc) in docs.iter().enumerate() {
            if doc["kind"].as_str() == Some("Ingress") {
                // Funnel is an Ingress feature: `tailscale.com/funnel: "true"`.
                let ann = &doc["metadata"]["annotations"];
                let ours = doc["spec"]["ingressClassName"].as_str() == Some("tailscale");
                if ours && ann["tailscale.com/funnel"].as_str() == Some("true") {
                    let start = starts.get(i).copied().unwrap_or(0);
                    let name = doc["metadata"]["name"].as_str().unwrap_or("").to_string();
                    let tags = ann["tailscale.com/tags"].as_str().map(|t| {
                        t.split(',')
                            .map(|x| x.trim().to_string())
                            .collect::<Vec<_>>()
                    });
                    funnels.push((
                        format!("Ingress {name}"),
                        tags,
                        Location {
                            file: id,
                            span: find_span(&text, start, "tailscale.com/funnel"),
                        },
                    ));
                }
                continue;
            }
            if doc["kind"].as_str() != Some("Service") {
                continue;
            }
            let meta = &doc["metadata"];
            let ann = &meta["annotations"];
            let expose = ann["tailscale.com/expose"].as_str() == Some("true")
                || doc["spec"]["loadBalancerClass"].as_str() == Some("tailscale");
            if !expose {
                continue;
            }
            let start = starts.get(i).copied().unwrap_or(0);
            let name = meta["name"].as_str().unwrap_or("").to_string();
            let text_at = |needle: &str| find_span(&text, start, needle);
            exposed.push(Exposed {
                file: id,
                name_span: text_at(&format!("name: {name}")),
                namespace: meta["namespace"].as_str().unwrap_or("default").to_string(),
                hostname: ann["tailscale.com/hostname"]
                    .as_str()
                    .map(|h| (h.to_string(), text_at("tailscale.com/hostname"))),
                tags: ann["tailscale.com/tags"]
                    .as_str()
                    .map(|t| (t.to_string(), text_at("tailscale.com/tags"))),
                name,
            });
        }
    }
    let op = intents.operator.clone().unwrap_or_default();
    let mut matched = vec![false; intents.services.len()];
    for e in &exposed {
        let hostname = e
            .hostname
            .as_ref()
            .map_or_else(|| format!("{}-{}", e.namespace, e.name), |(h, _)| h.clone());
        let full = format!("{}/{}", e.namespace, e.name);
        let found = intents.services.iter().position(|s| {
            s.k8s_service
                .as_deref()
                .is_some_and(|k| k == full || k == e.name)
                || s.hostname == hostname
                || s.name.value == e.name
        });
        let Some(i) = found else {
            diags.push(
                Diagnostic::new(
                    Code::K8sUnknownService,
                    Location { file: e.file, span: e.name_span },
                    format!("Service {full} is exposed on the tailnet as {hostname:?} but no intent names it"),
                )
                .with_help("add it under `services` in the intents, or remove tailscale.com/expose"),
            );
            continue;
        };
        matched[i] = true;
        let s = &intents.services[i];
        if hostname != s.hostname {
            let span = e.hostname.as_ref().map_or(e.name_span, |(_, sp)| *sp);
            diags.push(
                Diagnostic::new(
                    Code::K8sHostname,
                    Location { file: e.file, span },
                    format!("Service {full} is exposed as {hostname:?}, but the intent {:?} expects {:?}", s.name.value, s.hostname),
                )
                .with_help(format!("set tailscale.com/hostname: {:?}", s.hostname)),
            );
        }
        let tags: Vec<String> = match &e.tags {
            Some((t, _)) => t.split(',').map(|x| x.to_string()).collect(),
            None => vec![op.proxy_tag.clone()],
        };
        let tag_span = e.tags.as_ref().map_or(e.name_span, |(_, sp)| *sp);
        if tags.iter().any(|t| t != t.trim()) {
            diags.push(
                Diagnostic::new(
                    Code::K8sTag,
                    Location {
                        file: e.file,
                        span: tag_span,
                    },
                    "tailscale.com/tags has spaces around a tag; the operator does not trim them",
                )
                .with_help("write the tags comma-separated without spaces"),
            );
        }
        if !tags.iter().any(|t| t.trim() == s.tag) {
            diags.push(
                Diagnostic::new(
                    Code::K8sTag,
                    Location {
                        file: e.file,
                        span: tag_span,
                    },
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
                            Location { file: e.file, span: tag_span },
                            format!("the operator ({}) does not own {t}, so it cannot create this Service's proxy", op.tag),
                        )
                        .with_help(format!("tagOwners must have {t:?}: [{:?}]", op.tag)),
                    );
                }
            }
        }
    }
    if let Some(policy) = policy {
        let asks: Vec<(String, Vec<String>, Location)> = funnels
            .into_iter()
            .map(|(what, tags, at)| (what, tags.unwrap_or_else(|| vec![op.proxy_tag.clone()]), at))
            .collect();
        crate::lint::operator::funnel(policy, &asks, diags);
    }
    for (i, s) in intents.services.iter().enumerate() {
        if !matched[i] {
            diags.push(
                Diagnostic::new(
                    Code::K8sMissingService,
                    Location { file: intents_file, span: s.name.span },
                    format!("no manifest under {} exposes the service {:?}", dir.display(), s.name.value),
                )
                .with_help("annotate its Service with tailscale.com/expose: \"true\" (`tsacl k8s` prints the annotations)"),
            );
        }
    }
    Ok(exposed.len())
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
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
