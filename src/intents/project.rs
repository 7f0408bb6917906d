//! A repository laid out around an intents file: read it and its base policy, compile,
//! and check the result (stale output, validation, tests, and the reachability proof).

use super::compile::{Base, Compiled, RuleOrigin, Written, compile};
use super::{Intents, lower::lower};
use crate::check::{check_policy, sort, syntax_diagnostic};
use crate::diagnostics::{Diagnostic, FileId, Location, SourceFile, SourceMap};
use crate::rules::Code;
use crate::syntax::{Span, Value};
use std::path::{Path, PathBuf};

pub struct Project {
    pub sources: SourceMap,
    pub intents_file: FileId,
    pub base_file: Option<FileId>,
    /// The compiled policy, as a file named like the output (its bytes are `compiled.text`).
    pub output_file: FileId,
    pub output_path: PathBuf,
    /// The output file as committed (`None` when it cannot be read), to tell a stale one.
    pub committed: Option<Vec<u8>>,
    pub intents: Intents,
    /// The base policy as written (its spans are in `base_file`).
    pub base_policy: Option<crate::model::Policy>,
    pub compiled: Compiled,
    /// The base file's tree, to find where a part copied from it is written.
    pub base_root: Option<Value>,
    /// Problems found while reading and compiling.
    pub diagnostics: Vec<Diagnostic>,
    /// Whether the last `check` ran the proof (it needs intents and a compiled policy
    /// without errors).
    pub proved: bool,
}

fn shown(path: &Path) -> String {
    crate::fsutil::relative_to_cwd(path).display().to_string()
}

/// Read and compile. `Err` is a one-line reason for an unreadable input (exit 2).
pub fn load(intents_path: &Path) -> Result<Project, String> {
    load_with(intents_path, &crate::fsutil::read_text_file)
}

/// [`load`], reading every file through `read` (the language server passes the editor's
/// unsaved buffers).
pub fn load_with(
    intents_path: &Path,
    read: &dyn Fn(&Path) -> Result<Vec<u8>, String>,
) -> Result<Project, String> {
    let mut sources = SourceMap::default();
    let mut diagnostics = Vec::new();
    let text = read(intents_path)?;
    let intents_name = shown(intents_path);
    let intents_file = sources.add(SourceFile::new(
        intents_path,
        intents_name.clone(),
        text.clone(),
    ));
    let intents = match crate::syntax::json5::parse(&text) {
        Ok(doc) => lower(&doc.root, intents_file, &mut diagnostics),
        Err(e) => {
            diagnostics.push(
                syntax_diagnostic(intents_file, &e, text.len()).with_help(
                    "the intents file is JSON5: JSON plus comments, trailing commas, unquoted keys and single-quoted strings",
                ),
            );
            Intents::default()
        }
    };
    let dir = intents_path.parent().unwrap_or(Path::new("."));
    let mut base_file = None;
    let mut base_parts = None;
    if let Some(base) = &intents.base {
        let path = dir.join(&base.value);
        let bytes = read(&path).map_err(|e| {
            let f = sources.get(intents_file);
            let (line, col) = f.line_col(base.span.start as usize);
            format!("{e} (the base named at {}:{line}:{col})", f.name)
        })?;
        let id = sources.add(SourceFile::new(&path, shown(&path), bytes.clone()));
        base_file = Some(id);
        match crate::syntax::hujson::parse(&bytes) {
            Ok(doc) => {
                let mut base_diags = Vec::new();
                let policy = crate::model::lower(doc.root.clone(), id, &mut base_diags);
                diagnostics.extend(base_diags.into_iter().filter(|d| d.is_error()));
                base_parts = Some((doc.root, policy, bytes));
            }
            Err(e) => diagnostics.push(syntax_diagnostic(id, &e, bytes.len())),
        }
    }
    let base = match (&base_parts, base_file) {
        (Some((root, policy, bytes)), Some(file)) => Some(Base {
            file,
            name: &sources.get(file).name,
            text: bytes,
            root,
            policy,
        }),
        _ => None,
    };
    let file_name = intents_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let compiled = compile(
        &intents,
        intents_file,
        &file_name,
        base.as_ref(),
        &mut diagnostics,
    );
    let (base_root, base_policy) = match base_parts {
        Some((root, policy, _)) => (Some(root), Some(policy)),
        None => (None, None),
    };
    let output_path = dir.join(&intents.output);
    let output_file = sources.add(SourceFile::new(
        &output_path,
        shown(&output_path),
        compiled.text.clone(),
    ));
    let committed = read(&output_path).ok();
    Ok(Project {
        sources,
        intents_file,
        base_file,
        output_file,
        output_path,
        committed,
        intents,
        base_policy,
        compiled,
        base_root,
        diagnostics,
        proved: false,
    })
}

impl Project {
    /// `tsacl check` on an intents project: the whole check (stale output, validation,
    /// tests, proof), then the intents file's `lint` section with the user's layer over
    /// it. Call it only when the `lint` section has no errors (those are configuration
    /// errors). Shared by the command line and the language server.
    pub fn check_with_selection(
        &mut self,
        options: &crate::validate::Options,
        user: crate::diagnostics::selection::Layer,
    ) {
        self.check(options);
        crate::diagnostics::selection::Selection {
            layers: vec![self.intents.lint.layer.clone(), user],
        }
        .apply(&mut self.diagnostics);
    }

    /// The full check: the committed output is current, the compiled policy is valid and
    /// its tests pass, and reachability equals the intents.
    pub fn check(&mut self, options: &crate::validate::Options) {
        let mut diags = std::mem::take(&mut self.diagnostics);
        // Intents with errors compile to something else than what they mean: their own
        // errors say what to fix, and a stale output or findings in the compiled policy
        // would only be knock-on noise.
        let readable = !diags.iter().any(Diagnostic::is_error);
        if readable {
            self.stale_output(&mut diags);
        }
        if readable {
            let checked = check_policy(&self.sources, self.output_file, options);
            // Failing tests do not stop the proof: it says which rule opens the way.
            let valid = !checked
                .diagnostics
                .iter()
                .any(|d| d.is_error() && !matches!(d.code, Code::TestFailed | Code::SshTestFailed));
            diags.extend(checked.diagnostics);
            if let Some(policy) = &checked.policy {
                self.operator_lints(policy, &mut diags);
            }
            self.proved = valid && checked.policy.is_some();
            if valid && let Some(policy) = &checked.policy {
                self.prove_compiled(policy, options, &mut diags);
                self.prove_hand_edits(policy, options, &mut diags);
                super::transitive::promise(
                    &self.intents,
                    policy,
                    (self.intents_file, self.output_file),
                    options.inventory.as_ref(),
                    &mut diags,
                );
            }
            if let Some(policy) = &checked.policy {
                self.k8s_manifests(policy, &mut diags);
            }
            self.point_at_written(&mut diags);
            self.name_missing_operator(&mut diags);
        }
        sort(&mut diags);
        self.diagnostics = diags;
    }

    /// The manifests the intents name (`k8s.manifests`), resolved beside the intents file.
    pub fn manifests_path(&self) -> Option<PathBuf> {
        let section = self.intents.k8s.as_ref()?;
        let intents = &self.sources.get(self.intents_file).path;
        let dir = intents.parent().unwrap_or(Path::new("."));
        Some(dir.join(&section.manifests.value))
    }

    /// `tsacl k8s --check` on the manifests the intents name, as part of the check.
    fn k8s_manifests(&mut self, policy: &crate::model::Policy, diags: &mut Vec<Diagnostic>) {
        let (Some(path), Some(section)) = (self.manifests_path(), self.intents.k8s.clone()) else {
            return;
        };
        let at = Location {
            file: self.intents_file,
            span: section.manifests.span,
        };
        if !path.exists() {
            diags.push(
                Diagnostic::new(
                    Code::K8sManifests,
                    at,
                    format!("k8s.manifests: {} does not exist", shown(&path)),
                )
                .with_help("the path of the cluster's manifests (a YAML file or a directory), relative to the intents file"),
            );
            return;
        }
        if let Err(e) = super::k8s::check(
            &self.intents,
            Some(policy),
            self.intents_file,
            &path,
            &mut self.sources,
            diags,
        ) {
            diags.push(Diagnostic::new(
                Code::K8sManifests,
                at,
                format!("k8s.manifests: {e}"),
            ));
        }
    }

    /// What `compile` checks before it writes: the intents, that the control plane
    /// would accept the compiled policy (validation and its tests), and the proof (a base
    /// rule may open a service beyond its intent), every error where it was written.
    /// Lints and warnings are `check`'s.
    pub fn check_before_writing(&mut self, options: &crate::validate::Options) {
        let mut diags = std::mem::take(&mut self.diagnostics);
        if !diags.iter().any(Diagnostic::is_error) {
            let checked = check_policy(&self.sources, self.output_file, options);
            let valid = !checked
                .diagnostics
                .iter()
                .any(|d| d.is_error() && !matches!(d.code, Code::TestFailed | Code::SshTestFailed));
            diags.extend(checked.diagnostics.into_iter().filter(Diagnostic::is_error));
            if valid && let Some(policy) = &checked.policy {
                let mut proven = Vec::new();
                self.prove_compiled(policy, options, &mut proven);
                diags.extend(proven.into_iter().filter(Diagnostic::is_error));
            }
            self.point_at_written(&mut diags);
            self.name_missing_operator(&mut diags);
        }
        sort(&mut diags);
        self.diagnostics = diags;
    }

    /// Without an `operator` section no operator tags are written, so a base rule naming
    /// `tag:k8s-operator` (or `tag:k8s`) finds it undefined: say that it is the operator's
    /// and where it went, instead of the nearest tag's name.
    fn name_missing_operator(&self, diags: &mut [Diagnostic]) {
        if self.intents.operator.is_some() {
            return;
        }
        let op = super::Operator::default();
        for d in diags.iter_mut().filter(|d| d.code == Code::UndefinedTag) {
            let Some((tag, role)) = [
                (&op.tag, "the Kubernetes operator's tag"),
                (&op.proxy_tag, "the tag of the operator's proxies"),
            ]
            .into_iter()
            .find(|(tag, _)| d.message.ends_with(&format!("{tag:?}"))) else {
                continue;
            };
            d.message = format!(
                "{}: {role}, and the intents have no `operator` section to define it",
                d.message
            );
            d.help = Some(format!(
                "the `operator` section writes the operator's tags and owners; add it back \
                 (operator: {{ tag: {:?}, proxyTag: {:?}, owners: [\"autogroup:admin\"] }}), \
                 or define {tag} in the base's tagOwners",
                op.tag, op.proxy_tag
            ));
        }
    }

    /// The proof on the policy as compiled now.
    fn prove_compiled(
        &self,
        policy: &crate::model::Policy,
        options: &crate::validate::Options,
        diags: &mut Vec<Diagnostic>,
    ) {
        let files = super::prove::Files {
            intents: self.intents_file,
            base: self.base_file,
            output: self.output_file,
            base_policy: self.base_policy.as_ref(),
        };
        super::prove::prove(
            &self.intents,
            policy,
            &self.compiled,
            &files,
            options.inventory.as_ref(),
            diags,
        );
        super::ssh::prove(
            &self.intents,
            policy,
            &self.compiled,
            &files,
            options.inventory.as_ref(),
            diags,
        );
    }

    /// A committed output that differs from what the intents compile to (TSA112) is also
    /// proven as it is: what a hand edit opens is TSA113 at the edited line of the file on
    /// disk (`now` is the policy as compiled now). Nothing when the file does not load.
    fn prove_hand_edits(
        &mut self,
        now: &crate::model::Policy,
        options: &crate::validate::Options,
        diags: &mut Vec<Diagnostic>,
    ) {
        let Some(committed) = self.committed.clone().filter(|c| *c != self.compiled.text) else {
            return;
        };
        let edited = discarded_lines(
            &String::from_utf8_lossy(&committed),
            &String::from_utf8_lossy(&self.compiled.text),
        );
        let file = self.sources.add(SourceFile::new(
            self.output_path.clone(),
            shown(&self.output_path),
            committed,
        ));
        let checked =
            crate::check::check_policy_to(&self.sources, file, options, crate::check::Depth::Quick);
        let Some(disk) = checked.policy.filter(|_| {
            !checked
                .diagnostics
                .iter()
                .any(|d| d.is_error() && !matches!(d.code, Code::TestFailed | Code::SshTestFailed))
        }) else {
            return;
        };
        let files = super::prove::Files {
            intents: self.intents_file,
            base: self.base_file,
            output: file,
            base_policy: self.base_policy.as_ref(),
        };
        super::prove::prove_hand_edits(
            &self.intents,
            &disk,
            now,
            &files,
            options.inventory.as_ref(),
            &edited,
            diags,
        );
    }

    /// Where the part of the compiled policy at `span` was written: the intents or the
    /// base file (for an editor's "go to definition" from the compiled policy).
    pub fn written_at(&self, span: Span) -> Option<Location> {
        self.locator()?.written_at(span)
    }

    /// TSA112 when the file on disk is not what the intents compile to, with the lines
    /// `tsacl compile` would change (a hand edit shows as lines it would discard).
    fn stale_output(&mut self, diags: &mut Vec<Diagnostic>) {
        // As read at load (through the caller's reader: an editor's unsaved buffer).
        let committed = match &self.committed {
            Some(committed) if *committed == self.compiled.text => return,
            Some(committed) => Some(committed.clone()),
            None => None,
        };
        // What follows is about the policy as compiled now, not the file on disk.
        let f = self.sources.get(self.output_file);
        let name = f.name.clone();
        let renamed = SourceFile::new(
            f.path.clone(),
            format!("{name} (as compiled now)"),
            f.text.clone(),
        );
        let now = String::from_utf8_lossy(&f.text).into_owned();
        self.output_file = self.sources.add(renamed);
        let Some(committed) = committed else {
            diags.push(
                Diagnostic::new(
                    Code::StaleOutput,
                    Location {
                        file: self.intents_file,
                        span: Span::new(0, 0),
                    },
                    format!("{name} does not exist"),
                )
                .with_help("run `tsacl compile` and commit the result"),
            );
            return;
        };
        let old = String::from_utf8_lossy(&committed).into_owned();
        let changes = changed_lines(&old, &now);
        let mut d = Diagnostic::new(
            Code::StaleOutput,
            Location {
                file: self.intents_file,
                span: Span::new(0, 0),
            },
            format!("{name} is not what the intents compile to"),
        )
        .with_help(format!(
            "run `tsacl compile` and commit the result. It would change {name} as below; a line the intents did not write is lost, so make such a change in the intents or the base file:\n{}",
            changes.text
        ));
        if let Some(offset) = changes.first_discarded {
            let file = self
                .sources
                .add(SourceFile::new(self.output_path.clone(), name, committed));
            d.labels.push(crate::diagnostics::Label {
                location: Location {
                    file,
                    span: Span::new(offset, offset),
                },
                message: "`tsacl compile` would discard this line".into(),
            });
        }
        diags.push(d);
    }

    /// Every finding in the compiled policy moves to where that part was written (the
    /// intents or the base file), the compiled place kept as a label; rule names such as
    /// `grants[7]` become the intent or base rule they are.
    fn point_at_written(&self, diags: &mut Vec<Diagnostic>) {
        let output = self.output_file;
        let Some(locator) = self.locator() else {
            return;
        };
        let written_at = |span: Span| locator.written_at(span);
        // A generated test repeats its `from` entry: a finding about the test at the same
        // place as one about the grant is the same mistake said twice.
        let repeats: Vec<bool> = diags
            .iter()
            .map(|d| d.primary.file == output && locator.in_generated_test(d.primary.span))
            .collect();
        // `grants[7]` means nothing to someone who wrote intents: say which intent or
        // base rule it is.
        let name = |grant: bool, i: usize| self.rule_name(grant, i);
        for d in diags.iter_mut() {
            let about_output =
                d.primary.file == output || d.labels.iter().any(|l| l.location.file == output);
            if !about_output {
                continue;
            }
            d.message = rename_rules(&d.message, &name);
            if let Some(help) = &d.help {
                d.help = Some(rename_rules(help, &name));
            }
            for l in &mut d.labels {
                l.message = rename_rules(&l.message, &name);
                if l.location.file == output
                    && let Some(at) = written_at(l.location.span)
                {
                    l.location = at;
                }
            }
            if d.primary.file == output
                && let Some(at) = written_at(d.primary.span)
            {
                let compiled = d.primary;
                d.primary = at;
                d.labels.push(crate::diagnostics::Label {
                    location: compiled,
                    message: "in the compiled policy".into(),
                });
            }
        }
        let said: Vec<Location> = diags
            .iter()
            .zip(&repeats)
            .filter(|(d, repeat)| !**repeat && d.is_error())
            .map(|(d, _)| d.primary)
            .collect();
        let mut repeats = repeats.into_iter();
        diags.retain(|d| !(repeats.next().unwrap_or(false) && said.contains(&d.primary)));
    }

    /// Finds where parts of the compiled policy (as compiled now) were written; `None`
    /// when it is not HuJSON (then nothing was compiled that could be checked).
    pub fn locator(&self) -> Option<Locator<'_>> {
        let doc = crate::syntax::hujson::parse(&self.sources.get(self.output_file).text).ok()?;
        Some(Locator {
            project: self,
            root: doc.root,
        })
    }

    /// What wrote the compiled policy's `grants[i]` (or `acls[i]`): "the `redis` intent"
    /// or "the base rule at base.hujson:12".
    pub fn rule_name(&self, grant: bool, i: usize) -> Option<String> {
        let origins = if grant {
            &self.compiled.grant_origins
        } else {
            &self.compiled.acl_origins
        };
        Some(match origins.get(i)? {
            RuleOrigin::Service(k) => {
                format!("the `{}` intent", self.intents.services.get(*k)?.name.value)
            }
            RuleOrigin::Ssh { device, .. } => format!(
                "the `ssh` intent of {}",
                self.intents.devices.get(*device)?.name.value
            ),
            RuleOrigin::Base(span) => {
                let base = self.sources.get(self.base_file?);
                let (line, _) = base.line_col(span.start as usize);
                format!("the base rule at {}:{line}", base.name)
            }
        })
    }

    /// The operator and Funnel lints with what the intents know: the operator's configured
    /// tags (instead of the defaults a plain policy implies), the services' tags, and which
    /// services want Funnel, through which node.
    fn operator_lints(&self, policy: &crate::model::Policy, diags: &mut Vec<Diagnostic>) {
        use crate::lint::operator::{self as lints, OperatorTags};
        let output = self.output_file;
        let intents_at = |span: Span| Location {
            file: self.intents_file,
            span,
        };
        let def_span = |tag: &str| policy.tag_owner(tag).map(|d| d.tag.span);
        // A service nobody may reach already has TSA111 at its intent; its tag being
        // unused says the same again.
        let unreachable: Vec<Span> = self
            .intents
            .services
            .iter()
            .filter(|s| s.from.is_empty())
            .filter_map(|s| def_span(&s.tag))
            .collect();
        diags.retain(|d| {
            !(d.code == Code::UnusedTag
                && d.primary.file == output
                && unreachable.contains(&d.primary.span))
        });
        if let Some(op) = &self.intents.operator {
            let names = OperatorTags {
                tag: &op.tag,
                proxy_tag: &op.proxy_tag,
            };
            // Replace what the policy alone implied (the default names) with the intents'.
            let proxy_def = def_span(&op.proxy_tag);
            let operator_def = def_span(&op.tag);
            diags.retain(|d| {
                d.primary.file != output
                    || !(matches!(
                        d.code,
                        Code::SharedProxyTag
                            | Code::OperatorProxyTagNotOwned
                            | Code::OperatorTagOwner
                    ) || (d.code == Code::UnusedTag
                        && [proxy_def, operator_def].contains(&Some(d.primary.span))))
            });
            let mut found = Vec::new();
            lints::operator(policy, names, output, &mut found);
            // Generic findings at an owner TSA127 reports.
            let covered: Vec<Location> = found
                .iter()
                .filter(|d| d.code == Code::OperatorTagOwner)
                .map(|d| d.primary)
                .collect();
            diags.retain(|d| {
                !(matches!(d.code, Code::BroadTagOwner | Code::TagOwnerCycle)
                    && covered.contains(&d.primary))
            });
            diags.extend(found);
            let services: Vec<(&str, &str, Location)> = self
                .intents
                .services
                .iter()
                .map(|s| {
                    (
                        s.name.value.as_str(),
                        s.tag.as_str(),
                        intents_at(s.tag_span.unwrap_or(s.name.span)),
                    )
                })
                .collect();
            lints::service_tags(policy, names, &services, diags);
        }
        let funnel: Vec<lints::FunnelAsk> = self
            .intents
            .services
            .iter()
            .filter_map(|s| {
                Some(lints::FunnelAsk {
                    what: format!("the service {:?}", s.name.value),
                    node: self.intents.funnel_node(s)?,
                    target: self.intents.funnel_targets(s),
                    at: intents_at(s.funnel_span.unwrap_or(s.name.span)),
                })
            })
            .collect();
        lints::funnel(policy, &funnel, diags);
    }
}

/// Where the parts of a project's compiled policy were written.
pub struct Locator<'p> {
    project: &'p Project,
    /// The compiled policy's tree.
    root: Value,
}

impl Locator<'_> {
    /// Where the part of the compiled policy at `span` was written: in the intents, or in
    /// the base file (the same part of the base rule or section it was copied from).
    pub fn written_at(&self, span: Span) -> Option<Location> {
        let p = self.project;
        let (path, on_key) = self.root.path_to(span);
        match p.compiled.written(&path)? {
            (Written::Intents(at), _) => Some(Location {
                file: p.intents_file,
                span: *at,
            }),
            (Written::Base(base_path), rest) => {
                let mut full = base_path.clone();
                full.extend_from_slice(rest);
                Some(Location {
                    file: p.base_file?,
                    span: p.base_root.as_ref()?.span_at(&full, on_key),
                })
            }
        }
    }

    /// Is `span` in a test the compiler generated from a `from` entry?
    fn in_generated_test(&self, span: Span) -> bool {
        let (path, _) = self.root.path_to(span);
        path.first() == Some(&crate::syntax::Step::Key("tests".into()))
            && matches!(
                self.project.compiled.written(&path),
                Some((Written::Intents(_), _))
            )
    }
}

/// What `tsacl compile` would change in the file on disk: a short unified diff (no
/// context), and the offset in `old` of the first line it would discard.
struct Changes {
    text: String,
    first_discarded: Option<usize>,
}

fn changed_lines(old: &str, new: &str) -> Changes {
    const SHOWN: usize = 16;
    let diff = similar::TextDiff::from_lines(old, new);
    let unified = diff.unified_diff().context_radius(0).to_string();
    let lines: Vec<&str> = unified.lines().collect();
    let mut text = lines
        .iter()
        .take(SHOWN)
        .map(|l| format!("  {}", l.replace('\t', "  ")))
        .collect::<Vec<_>>()
        .join("\n");
    if lines.len() > SHOWN {
        text.push_str(&format!("\n  ... {} more lines", lines.len() - SHOWN));
    }
    let first_discarded = diff
        .iter_all_changes()
        .find(|c| c.tag() == similar::ChangeTag::Delete)
        .and_then(|c| c.old_index())
        .map(|line| {
            let start: usize = old.split_inclusive('\n').take(line).map(str::len).sum();
            let indent = old[start..].len() - old[start..].trim_start_matches([' ', '\t']).len();
            start + indent
        });
    Changes {
        text,
        first_discarded,
    }
}

/// The offsets in `old` of the first non-blank character of each line `tsacl compile`
/// would discard to make it `new`.
fn discarded_lines(old: &str, new: &str) -> Vec<usize> {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(old.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    similar::TextDiff::from_lines(old, new)
        .iter_all_changes()
        .filter(|c| c.tag() == similar::ChangeTag::Delete)
        .filter_map(|c| c.old_index())
        .filter_map(|line| {
            let start = *starts.get(line)?;
            let rest = &old[start..];
            Some(start + rest.len() - rest.trim_start_matches([' ', '\t']).len())
        })
        .collect()
}

/// `text` with each `grants[N]` / `acls[N]` replaced by what `name` calls it (kept when
/// `name` has nothing to say).
fn rename_rules(text: &str, name: &dyn Fn(bool, usize) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['g', 'a']) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let found =
            [("grants[", true), ("acls[", false)]
                .into_iter()
                .find_map(|(prefix, grant)| {
                    let digits = from.strip_prefix(prefix)?;
                    let end = digits.find(']')?;
                    let i: usize = digits[..end].parse().ok()?;
                    Some((prefix.len() + end + 1, name(grant, i)?))
                });
        match found {
            Some((len, named)) => {
                out.push_str(&named);
                rest = &from[len..];
            }
            None => {
                out.push_str(&from[..1]);
                rest = &from[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::rename_rules;

    #[test]
    fn rule_names_become_what_wrote_them() {
        let name = |grant: bool, i: usize| -> Option<String> {
            (grant && i == 7).then(|| "the `redis` intent".to_string())
        };
        assert_eq!(
            rename_rules(
                "grants[7] allows nothing that acls[2] and grants[7] do not",
                &name
            ),
            "the `redis` intent allows nothing that acls[2] and the `redis` intent do not"
        );
        assert_eq!(rename_rules("a grants[x] ag", &name), "a grants[x] ag");
        assert_eq!(rename_rules("", &name), "");
    }
}
