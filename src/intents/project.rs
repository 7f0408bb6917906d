//! A repository laid out around an intents file: read it and its base policy, compile,
//! and check the result (stale output, validation, tests, and the reachability proof).

use super::compile::{Base, Compiled, compile};
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
    let mut sources = SourceMap::default();
    let mut diagnostics = Vec::new();
    let text = crate::fsutil::read_text_file(intents_path)?;
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
        let bytes = crate::fsutil::read_text_file(&path).map_err(|e| {
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
    Ok(Project {
        sources,
        intents_file,
        base_file,
        output_file,
        output_path,
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
        match std::fs::read(&self.output_path) {
            Ok(committed) if committed == self.compiled.text => {}
            Ok(_) | Err(_) => {
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
            diags.extend(checked.diagnostics);
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
}
