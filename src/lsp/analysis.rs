//! What the server knows about documents: the settings a check runs with, which check a
//! document belongs to (a policy on its own, or an intents project), the check itself (run
//! on the worker thread through the same code path as `tsacl check`), and the model of a
//! document that requests read (tree, policy or intents, names).

use super::diagnostics::{Finding, configuration_error, convert};
use super::documents::{Document, Documents, Encoding, Kind, same_path as same_file, uri_of};
use super::symbols::{self, Occurrence};
use crate::check::Depth;
use crate::diagnostics::selection::{Layer, Level, check_pattern};
use crate::diagnostics::{Diagnostic, SourceFile, SourceMap};
use crate::intents::Intents;
use crate::intents::project::Project;
use crate::model::Policy;
use crate::syntax::{Span, Value};
use crate::validate::Options;
use lsp_types::Uri;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The settings every check runs with: what `tsacl check` takes on its command line
/// (`--inventory`, `--tailnet-domain`, `--select`, `--ignore`, `--severity`), from the
/// client's `initializationOptions` or `workspace/didChangeConfiguration`.
#[derive(Debug, Default)]
pub struct Config {
    pub options: Options,
    pub layer: Layer,
    /// Settings that could not be used, each a sentence for the user.
    pub problems: Vec<String>,
}

impl Config {
    /// Whether `settings` says anything to tsacl (clients send empty settings too, which
    /// must not undo the `initializationOptions`).
    pub fn present(settings: &serde_json::Value) -> bool {
        const KEYS: [&str; 6] = [
            "tsacl",
            "inventory",
            "tailnetDomains",
            "select",
            "ignore",
            "severity",
        ];
        KEYS.iter().any(|k| settings.get(k).is_some())
    }

    /// Read `{"inventory": PATH, "tailnetDomains": [...], "select": [...], "ignore": [...],
    /// "severity": {"TSA210": "error"} or ["TSA210=error"]}`, also nested under `"tsacl"`.
    /// A relative inventory path is relative to `root` (the workspace).
    pub fn from_settings(settings: &serde_json::Value, root: Option<&Path>) -> Config {
        let s = settings.get("tsacl").unwrap_or(settings);
        let mut config = Config::default();
        let strings = |key: &str, problems: &mut Vec<String>| -> Vec<String> {
            match s.get(key) {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .filter_map(|i| {
                        let text = i.as_str().map(str::to_string);
                        if text.is_none() {
                            problems.push(format!("tsacl.{key}: {i} is not a string"));
                        }
                        text
                    })
                    .collect(),
                Some(other) => {
                    problems.push(format!(
                        "tsacl.{key} must be a list of strings, not {other}"
                    ));
                    Vec::new()
                }
            }
        };
        let mut problems = Vec::new();
        let domains = strings("tailnetDomains", &mut problems);
        config.options.tailnet_domains = (!domains.is_empty()).then_some(domains);
        for (key, into) in [("select", 0), ("ignore", 1)] {
            for pattern in strings(key, &mut problems) {
                match check_pattern(&pattern) {
                    Ok(()) if into == 0 => config.layer.select.push(pattern),
                    Ok(()) => config.layer.ignore.push(pattern),
                    Err(e) => problems.push(format!("tsacl.{key}: {e}")),
                }
            }
        }
        let pairs: Vec<(String, String)> = match s.get("severity") {
            Some(serde_json::Value::Object(map)) => map
                .iter()
                .map(|(p, l)| (p.clone(), l.as_str().unwrap_or_default().to_string()))
                .collect(),
            Some(serde_json::Value::Array(_)) => strings("severity", &mut problems)
                .into_iter()
                .map(|text| match text.split_once('=') {
                    Some((p, l)) => (p.trim().to_string(), l.to_string()),
                    None => (text, String::new()),
                })
                .collect(),
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(other) => {
                problems.push(format!(
                    "tsacl.severity must be an object such as {{\"TSA210\": \"error\"}}, not {other}"
                ));
                Vec::new()
            }
        };
        for (pattern, level) in pairs {
            match check_pattern(&pattern).and_then(|()| Level::parse(&level)) {
                Ok(level) => config.layer.severity.push((pattern, level)),
                Err(e) => problems.push(format!("tsacl.severity: {pattern}: {e}")),
            }
        }
        match s.get("inventory").and_then(serde_json::Value::as_str) {
            Some(path) if !path.is_empty() => {
                let path = match root {
                    Some(root) if Path::new(path).is_relative() => root.join(path),
                    _ => PathBuf::from(path),
                };
                match crate::cli::load_inventory(&path) {
                    Ok(inv) => config.options.inventory = Some(inv),
                    Err(e) => problems.push(format!("tsacl.inventory: {e}")),
                }
            }
            _ => {}
        }
        config.problems = problems;
        config
    }
}

/// One check: a policy file on its own, or an intents project (the intents file, its base
/// and its output checked together, as `tsacl check` does with no file).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    Policy(Uri),
    Project(PathBuf),
}

/// The base and output files an intents file names (relative to it), read from its text
/// without compiling; `None` when it does not parse.
fn project_files(intents_path: &Path, text: &[u8]) -> Option<(Option<PathBuf>, PathBuf)> {
    let doc = crate::syntax::json5::parse(text).ok()?;
    let dir = intents_path.parent().unwrap_or(Path::new("."));
    let base = doc
        .root
        .get("base")
        .and_then(Value::as_str)
        .map(|b| dir.join(b));
    let output = doc
        .root
        .get("output")
        .and_then(Value::as_str)
        .unwrap_or("policy.hujson");
    Some((base, dir.join(output)))
}

/// The intents file whose project `path` (a policy file) is the base or the output of:
/// an open intents file, `tailnet.json5` beside it, or `policies/tailnet.json5` found
/// upward (where `tsacl check` looks).
pub fn project_of(path: &Path, docs: &Documents) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = docs
        .iter()
        .filter(|d| d.kind == Kind::Intents)
        .map(|d| d.path.clone())
        .collect();
    if let Some(dir) = path.parent() {
        candidates.push(dir.join("tailnet.json5"));
        candidates.extend(crate::intents::find(dir));
    }
    candidates.into_iter().find(|intents| {
        let text = match docs.by_path(intents) {
            Some(d) => d.file.text.clone(),
            None => match std::fs::read(intents) {
                Ok(t) => t,
                Err(_) => return false,
            },
        };
        project_files(intents, &text).is_some_and(|(base, output)| {
            same_file(&output, path) || base.is_some_and(|b| same_file(&b, path))
        })
    })
}

/// The check a document belongs to; `None` for files tsacl has nothing to say about.
pub fn unit_of(doc: &Document, docs: &Documents) -> Option<Unit> {
    match doc.kind {
        Kind::Intents => Some(Unit::Project(doc.path.clone())),
        Kind::Policy => Some(match project_of(&doc.path, docs) {
            Some(intents) => Unit::Project(intents),
            None => Unit::Policy(doc.uri.clone()),
        }),
        Kind::Other => None,
    }
}

/// An open buffer a check reads instead of the file on disk.
#[derive(Clone)]
pub struct Input {
    pub uri: Uri,
    pub version: i32,
    pub file: Arc<SourceFile>,
}

pub struct Job {
    pub unit: Unit,
    pub inputs: Vec<Input>,
    pub config: Arc<Config>,
    pub encoding: Encoding,
}

/// A check's findings, per file, and the versions of the buffers it read (the result is
/// stale, and dropped, when any of them has changed since).
pub struct Outcome {
    pub unit: Unit,
    pub versions: Vec<(Uri, i32)>,
    pub files: Vec<(Uri, Vec<Finding>)>,
    /// `Quick`: a policy's findings without the slow stages (published with the slow
    /// findings of the last full check carried over), a full check follows.
    pub depth: Depth,
    /// After a full check of a policy: its text, and what only the slow stages found.
    pub slow: Option<(Arc<SourceFile>, Vec<Finding>)>,
}

/// Run a full check (a policy's through [`run_staged`], without stopping). Called on the
/// worker thread.
pub fn run(job: &Job) -> Outcome {
    let versions = job
        .inputs
        .iter()
        .map(|i| (i.uri.clone(), i.version))
        .collect();
    let files = match &job.unit {
        Unit::Policy(uri) => match run_staged(job, uri, &mut |_| true) {
            Some(outcome) => return outcome,
            None => Vec::new(),
        },
        Unit::Project(intents) => check_project(job, intents),
    };
    Outcome {
        unit: job.unit.clone(),
        versions,
        files,
        depth: Depth::Full,
        slow: None,
    }
}

/// A policy's full check in one pass, handing its quick findings (an outcome at
/// `Depth::Quick`, to publish) to `on_quick` as soon as they are known, before the slow
/// stages; `on_quick` says whether to go on, and `None` is returned when it stops. The
/// full outcome's `slow` holds what the slow stages added. Called on the worker thread.
pub fn run_staged(
    job: &Job,
    uri: &Uri,
    on_quick: &mut dyn FnMut(Outcome) -> bool,
) -> Option<Outcome> {
    let versions: Vec<(Uri, i32)> = job
        .inputs
        .iter()
        .map(|i| (i.uri.clone(), i.version))
        .collect();
    let Some(input) = job.inputs.iter().find(|i| &i.uri == uri) else {
        return Some(Outcome {
            unit: job.unit.clone(),
            versions,
            files: Vec::new(),
            depth: Depth::Full,
            slow: None,
        });
    };
    let mut sources = SourceMap::default();
    let f = &input.file;
    let id = sources.add(SourceFile::new(
        f.path.clone(),
        f.name.clone(),
        f.text.clone(),
    ));
    let convert_all = |diagnostics: &[crate::diagnostics::Diagnostic]| -> Vec<Finding> {
        diagnostics
            .iter()
            .map(|d| convert(&sources, d, job.encoding))
            .collect()
    };
    let mut fast: Vec<Finding> = Vec::new();
    let full = crate::check::check_file_staged(
        &sources,
        id,
        &job.config.options,
        &job.config.layer,
        &mut |quick| {
            fast = convert_all(&quick);
            on_quick(Outcome {
                unit: job.unit.clone(),
                versions: versions.clone(),
                files: vec![(uri.clone(), fast.clone())],
                depth: Depth::Quick,
                slow: None,
            })
        },
    )?;
    let full = convert_all(&full);
    let slow = full
        .iter()
        .filter(|f| !fast.iter().any(|q| q.same_as(f)))
        .cloned()
        .collect();
    Some(Outcome {
        unit: job.unit.clone(),
        versions,
        files: vec![(uri.clone(), full)],
        depth: Depth::Full,
        slow: Some((input.file.clone(), slow)),
    })
}

/// What a full check's slow findings become in a newer text: unchanged before the edited
/// region, shifted after it, dropped inside it (the region is what differs between the
/// two texts: their common prefix and suffix are left alone).
pub fn carry_over(
    old: &SourceFile,
    slow: &[Finding],
    new: &SourceFile,
    encoding: Encoding,
) -> Vec<Finding> {
    let (a, b) = (&old.text, &new.text);
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let max_suffix = a.len().min(b.len()) - prefix;
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(max_suffix)
        .take_while(|(x, y)| x == y)
        .count();
    let changed_end = a.len() - suffix;
    let shift = |span: Span| -> Option<Span> {
        let (start, end) = (span.start as usize, span.end as usize);
        if end <= prefix {
            Some(span)
        } else if start >= changed_end {
            Some(Span::new(
                start - a.len() + b.len(),
                end - a.len() + b.len(),
            ))
        } else {
            None
        }
    };
    slow.iter()
        .filter_map(|f| f.moved(new, encoding, shift))
        .collect()
}

/// Read through the open buffers, else from disk.
fn reader(inputs: &[Input]) -> impl Fn(&Path) -> Result<Vec<u8>, String> + '_ {
    move |path: &Path| match inputs.iter().find(|i| same_file(&i.file.path, path)) {
        Some(i) => Ok(i.file.text.clone()),
        None => crate::fsutil::read_text_file(path),
    }
}

/// Load an intents project through the open buffers.
pub fn load_project(intents: &Path, inputs: &[Input]) -> Result<Project, String> {
    crate::intents::project::load_with(intents, &reader(inputs))
}

fn check_project(job: &Job, intents: &Path) -> Vec<(Uri, Vec<Finding>)> {
    let intents_uri = uri_in(&job.inputs, intents);
    let mut project = match load_project(intents, &job.inputs) {
        Ok(p) => p,
        Err(e) => return unreadable_project(job, intents, &e),
    };
    let encoding = job.encoding;
    let intents_source = project.sources.get(project.intents_file);
    if !project.intents.lint.errors.is_empty() {
        let findings = project
            .intents
            .lint
            .errors
            .iter()
            .map(|(span, message)| configuration_error(intents_source, *span, message, encoding))
            .collect();
        return vec![(intents_uri, findings)];
    }
    project.check_with_selection(&job.config.options, job.config.layer.clone());
    let in_sync = project.committed.as_deref() == Some(project.compiled.text.as_slice());
    let compiled_policy = crate::syntax::hujson::parse(&project.compiled.text)
        .ok()
        .map(|doc| crate::model::lower(doc.root, project.output_file, &mut Vec::new()));
    let mut per_file: Vec<(PathBuf, Vec<Finding>)> = vec![(intents.to_path_buf(), Vec::new())];
    if let Some(base) = project.base_file {
        per_file.push((project.sources.get(base).path.clone(), Vec::new()));
    }
    per_file.push((project.output_path.clone(), Vec::new()));
    let diagnostics = std::mem::take(&mut project.diagnostics);
    let stale: Vec<Diagnostic> = diagnostics
        .iter()
        .filter(|d| d.code == crate::rules::Code::StaleOutput)
        .filter_map(|d| in_the_stale_file(&mut project, d))
        .collect();
    let placed = diagnostics
        .into_iter()
        .map(|d| in_written_file(&project, compiled_policy.as_ref(), in_sync, d))
        .collect::<Vec<_>>();
    // The stale-output copies are placed already (in the file as it is, not as compiled).
    for d in placed.into_iter().chain(stale) {
        let path = &project.sources.get(d.primary.file).path;
        let finding = convert(&project.sources, &d, encoding);
        match per_file.iter_mut().find(|(p, _)| p == path) {
            Some((_, list)) => list.push(finding),
            None => per_file.push((path.clone(), vec![finding])),
        }
    }
    per_file
        .into_iter()
        .map(|(path, findings)| (uri_in(&job.inputs, &path), findings))
        .collect()
}

/// The URI the editor opened a file under (its spelling of the path may differ from
/// ours), else the file's own.
fn uri_in(inputs: &[Input], path: &Path) -> Uri {
    inputs
        .iter()
        .find(|i| same_file(&i.file.path, path))
        .map_or_else(|| uri_of(path), |i| i.uri.clone())
}

/// A finding in the compiled policy goes where it was written: a rule's intent or base
/// rule (the compiled rule becomes a related location when the file on disk is current).
/// A finding outside any rule stays in the compiled file when that file is current, else
/// it goes to the top of the intents file, saying where it is in the policy as compiled.
fn in_written_file(
    project: &Project,
    compiled: Option<&Policy>,
    in_sync: bool,
    mut d: Diagnostic,
) -> Diagnostic {
    let output = &project.sources.get(d.primary.file).path;
    if *output != project.output_path {
        return d;
    }
    if let Some(at) = compiled.and_then(|_| project.written_at(d.primary.span)) {
        let compiled_at = d.primary;
        d.primary = at;
        if in_sync {
            d.labels.push(crate::diagnostics::Label {
                location: compiled_at,
                message: "in the compiled policy".into(),
            });
        }
        return d;
    }
    if in_sync {
        return d;
    }
    let f = project.sources.get(d.primary.file);
    let (line, _) = f.line_col(d.primary.span.start as usize);
    d.message = format!(
        "in {} as compiled now (line {line}; run `tsacl compile`): {}",
        f.name.trim_end_matches(" (as compiled now)"),
        d.message
    );
    d.primary = crate::diagnostics::Location {
        file: project.intents_file,
        span: Span::new(0, 0),
    };
    d.labels.retain(|l| l.location.file != project.output_file);
    d
}

/// The stale-output finding (TSA112, on the intents file) again in the compiled policy's
/// own buffer, at its first line that differs from what the intents compile to, so that
/// someone editing the generated file sees it there. `None` when the file does not exist.
fn in_the_stale_file(project: &mut Project, d: &Diagnostic) -> Option<Diagnostic> {
    let committed = project.committed.clone()?;
    let compiled = &project.compiled.text;
    let first = committed
        .iter()
        .zip(compiled.iter())
        .position(|(a, b)| a != b)
        .unwrap_or(committed.len().min(compiled.len()));
    let start = committed[..first]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let end = committed[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(committed.len(), |i| start + i);
    let name = project
        .sources
        .get(project.output_file)
        .name
        .trim_end_matches(" (as compiled now)")
        .to_string();
    let file = project.sources.add(SourceFile::new(
        project.output_path.clone(),
        name,
        committed,
    ));
    let mut here = d.clone();
    here.labels.push(crate::diagnostics::Label {
        location: d.primary,
        message: "the intents this file is compiled from".into(),
    });
    here.primary = crate::diagnostics::Location {
        file,
        span: Span::new(start, end),
    };
    Some(here)
}

/// A project whose files cannot be read: say why on the intents file, at its `base` when
/// that is what is missing.
fn unreadable_project(job: &Job, intents: &Path, error: &str) -> Vec<(Uri, Vec<Finding>)> {
    let Ok(text) = reader(&job.inputs)(intents) else {
        return Vec::new();
    };
    let file = SourceFile::new(intents, intents.display().to_string(), text);
    let span = if error.contains("the base named at") {
        crate::syntax::json5::parse(&file.text)
            .ok()
            .and_then(|d| d.root.get("base").map(|b| b.span))
            .unwrap_or_default()
    } else {
        Span::default()
    };
    let finding = configuration_error(&file, span, error, job.encoding);
    vec![(uri_in(&job.inputs, intents), vec![finding])]
}

/// A document as requests see it: its tree, model and names. Built on demand for the
/// current version and cached until the next change.
pub struct Model {
    pub file: Arc<SourceFile>,
    pub kind: Kind,
    /// `None` when the text does not parse (requests then answer empty).
    pub tree: Option<Value>,
    pub policy: Option<Policy>,
    pub intents: Option<Intents>,
    pub occurrences: Vec<Occurrence>,
}

impl Model {
    pub fn build(doc: &Document) -> Model {
        let file = doc.file.clone();
        let mut model = Model {
            file: file.clone(),
            kind: doc.kind,
            tree: None,
            policy: None,
            intents: None,
            occurrences: Vec::new(),
        };
        match doc.kind {
            Kind::Policy => {
                if let Ok(parsed) = crate::syntax::hujson::parse(&file.text) {
                    let policy = crate::model::lower(
                        parsed.root.clone(),
                        Default::default(),
                        &mut Vec::new(),
                    );
                    model.occurrences = symbols::policy(&policy, &file.text);
                    model.tree = Some(parsed.root);
                    model.policy = Some(policy);
                }
            }
            Kind::Intents => {
                if let Ok(parsed) = crate::syntax::json5::parse(&file.text) {
                    let intents = crate::intents::lower::lower(
                        &parsed.root,
                        Default::default(),
                        &mut Vec::new(),
                    );
                    model.occurrences = symbols::intents(&intents, &file.text);
                    model.tree = Some(parsed.root);
                    model.intents = Some(intents);
                }
            }
            Kind::Other => {}
        }
        model
    }
}

/// An intents project as requests see it: compiled through the open buffers, with the
/// compiled policy's model.
pub struct ProjectView {
    pub project: Project,
    pub policy: Option<Policy>,
    /// The compiled policy equals the output file (as open, or on disk).
    pub in_sync: bool,
}

impl ProjectView {
    pub fn load(intents: &Path, docs: &Documents) -> Option<ProjectView> {
        let inputs: Vec<Input> = docs
            .iter()
            .map(|d| Input {
                uri: d.uri.clone(),
                version: d.version,
                file: d.file.clone(),
            })
            .collect();
        let project = load_project(intents, &inputs).ok()?;
        let policy = crate::syntax::hujson::parse(&project.compiled.text)
            .ok()
            .map(|doc| crate::model::lower(doc.root, project.output_file, &mut Vec::new()));
        let in_sync = project.committed.as_deref() == Some(project.compiled.text.as_slice());
        Some(ProjectView {
            project,
            policy,
            in_sync,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_like_the_command_line() {
        let c = Config::from_settings(
            &serde_json::json!({"tsacl": {
                "tailnetDomains": ["example.com"],
                "select": ["TSA"],
                "ignore": ["unused-group"],
                "severity": {"TSA210": "error"},
            }}),
            None,
        );
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert_eq!(c.options.tailnet_domains, Some(vec!["example.com".into()]));
        assert_eq!(c.layer.ignore, vec!["unused-group".to_string()]);
        assert_eq!(c.layer.severity.len(), 1);
        let c = Config::from_settings(
            &serde_json::json!({"severity": ["TSA999=error"], "select": ["alow-all"],
                                "inventory": "/nonexistent/inventory.json"}),
            None,
        );
        assert_eq!(c.problems.len(), 3, "{:?}", c.problems);
        assert!(
            c.problems[0].contains("did you mean allow-all?"),
            "{:?}",
            c.problems
        );
    }
}
