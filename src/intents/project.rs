//! A repository laid out around an intents file: read it and its base policy, compile,
//! and check the result (stale output, validation, tests, and the reachability proof).

use super::compile::{Base, Compiled, RuleOrigin, compile};
use super::{Intents, lower::lower};
use crate::check::{check_policy, sort, syntax_diagnostic};
use crate::diagnostics::{Diagnostic, FileId, Location, SourceFile, SourceMap};
use crate::rules::Code;
use crate::syntax::Span;
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
    pub compiled: Compiled,
    /// Problems found while reading and compiling.
    pub diagnostics: Vec<Diagnostic>,
}

fn shown(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
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
            diagnostics.push(syntax_diagnostic(intents_file, &e, text.len()));
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
        compiled,
        diagnostics,
    })
}

impl Project {
    /// The full check: the committed output is current, the compiled policy is valid and
    /// its tests pass, and reachability equals the intents.
    pub fn check(&mut self, options: &crate::validate::Options) {
        let mut diags = std::mem::take(&mut self.diagnostics);
        let readable = !diags.iter().any(Diagnostic::is_error);
        match &self.committed {
            Some(committed) if *committed == self.compiled.text => {}
            _ => {
                // What follows is about the policy as compiled now, not the file on disk.
                let f = self.sources.get(self.output_file);
                let renamed = SourceFile::new(
                    f.path.clone(),
                    format!("{} (as compiled now)", f.name),
                    f.text.clone(),
                );
                self.output_file = self.sources.add(renamed);
                let exists = self.output_path.exists();
                let d = Diagnostic::new(
                    Code::StaleOutput,
                    Location {
                        file: self.intents_file,
                        span: Span::new(0, 0),
                    },
                    if exists {
                        format!(
                            "{} is not what the intents compile to",
                            self.sources.get(self.output_file).name
                        )
                    } else {
                        format!("{} does not exist", self.sources.get(self.output_file).name)
                    },
                )
                .with_help("run `tsacl compile` and commit the result");
                diags.push(d);
            }
        }
        if readable {
            let checked = check_policy(&self.sources, self.output_file, options);
            // Failing tests do not stop the proof: it says which rule opens the way.
            let valid = !checked
                .diagnostics
                .iter()
                .any(|d| d.is_error() && !matches!(d.code, Code::TestFailed | Code::SshTestFailed));
            let mut found = checked.diagnostics;
            if let Some(policy) = &checked.policy {
                self.point_at_written_rules(policy, &mut found);
            }
            diags.extend(found);
            if let Some(policy) = &checked.policy {
                self.operator_lints(policy, &mut diags);
            }
            if valid && let Some(policy) = &checked.policy {
                let files = super::prove::Files {
                    intents: self.intents_file,
                    base: self.base_file,
                    output: self.output_file,
                };
                super::prove::prove(&self.intents, policy, &self.compiled, &files, &mut diags);
            }
        }
        sort(&mut diags);
        self.diagnostics = diags;
    }

    /// Where the rule of the compiled `policy` that contains `span` was written: its
    /// service's intent, or the rule in the base file. `None` outside rules.
    pub fn written_at(&self, policy: &crate::model::Policy, span: Span) -> Option<Location> {
        let inside = |outer: Span| outer.start <= span.start && span.end <= outer.end;
        let origin = policy
            .grants
            .iter()
            .flatten()
            .position(|g| inside(g.span))
            .and_then(|i| self.compiled.grant_origins.get(i))
            .or_else(|| {
                policy
                    .acls
                    .iter()
                    .flatten()
                    .position(|a| inside(a.span))
                    .and_then(|i| self.compiled.acl_origins.get(i))
            })?;
        match origin {
            RuleOrigin::Service(k) => Some(Location {
                file: self.intents_file,
                span: self.intents.services.get(*k)?.name.span,
            }),
            RuleOrigin::Base(span) => Some(Location {
                file: self.base_file?,
                span: *span,
            }),
        }
    }

    /// Findings about whole rules of the compiled policy (redundant, allowing nothing, a
    /// redundant selector) point where the rule was written: the service's intent, or the
    /// rule in the base file; the compiled rule becomes a label.
    fn point_at_written_rules(&self, policy: &crate::model::Policy, diags: &mut [Diagnostic]) {
        let written_at = |span: Span| self.written_at(policy, span);
        // `grants[7]` means nothing to someone who wrote intents: say which intent or
        // base rule it is.
        let name = |grant: bool, i: usize| -> Option<String> {
            let origins = if grant {
                &self.compiled.grant_origins
            } else {
                &self.compiled.acl_origins
            };
            Some(match origins.get(i)? {
                RuleOrigin::Service(k) => {
                    format!("the `{}` intent", self.intents.services.get(*k)?.name.value)
                }
                RuleOrigin::Base(span) => {
                    let base = self.sources.get(self.base_file?);
                    let (line, _) = base.line_col(span.start as usize);
                    format!("the base rule at {}:{line}", base.name)
                }
            })
        };
        for d in diags.iter_mut().filter(|d| {
            d.primary.file == self.output_file
                && matches!(
                    d.code,
                    Code::RedundantRule | Code::RedundantSelector | Code::IneffectiveRule
                )
        }) {
            d.message = rename_rules(&d.message, &name);
            for l in &mut d.labels {
                l.message = rename_rules(&l.message, &name);
                if l.location.file == self.output_file
                    && let Some(at) = written_at(l.location.span)
                {
                    l.location = at;
                }
            }
            if let Some(at) = written_at(d.primary.span) {
                let compiled = d.primary;
                d.primary = at;
                d.labels.push(crate::diagnostics::Label {
                    location: compiled,
                    message: "in the compiled policy".into(),
                });
            }
        }
    }

    /// The operator and Funnel lints with what the intents know: the operator's configured
    /// tags (instead of the defaults a plain policy implies), the services' tags, and which
    /// services want Funnel. Findings about the operator section point into the intents.
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
            diags.retain(|d| {
                d.primary.file != output
                    || !(matches!(
                        d.code,
                        Code::SharedProxyTag
                            | Code::OperatorProxyTagNotOwned
                            | Code::OperatorTagOwner
                    ) || (d.code == Code::UnusedTag && Some(d.primary.span) == proxy_def))
            });
            let mut found = Vec::new();
            lints::operator(policy, names, output, &mut found);
            for d in &mut found {
                let to = match d.code {
                    Code::OperatorTagOwner => op.owners_span.or(op.span),
                    Code::OperatorProxyTagNotOwned => op.proxy_tag_span.or(op.span),
                    _ => None,
                };
                if let Some(span) = to {
                    let compiled = d.primary;
                    d.primary = intents_at(span);
                    d.labels.push(crate::diagnostics::Label {
                        location: compiled,
                        message: "in the compiled policy".into(),
                    });
                }
            }
            // Generic findings at an owner TSA127 reports (compared in the compiled policy).
            let covered: Vec<Location> = found
                .iter()
                .filter(|d| d.code == Code::OperatorTagOwner)
                .filter_map(|d| d.labels.last().map(|l| l.location).or(Some(d.primary)))
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
        let funnel: Vec<(String, Vec<String>, Location)> = self
            .intents
            .services
            .iter()
            .filter(|s| s.funnel)
            .map(|s| {
                (
                    format!("the service {:?}", s.name.value),
                    vec![s.tag.clone()],
                    intents_at(s.funnel_span.unwrap_or(s.name.span)),
                )
            })
            .collect();
        lints::funnel(policy, &funnel, diags);
    }
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
