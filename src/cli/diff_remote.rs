//! `tsacl diff --remote [FILE]` (the server's policy → FILE) and `tsacl diff OLD NEW`:
//! the effective-access diff (once the engine provides it) and the text diff, on
//! standard output. Exit 0 when the policies are the same, 1 when they differ.

use super::remote::{self, ApiArgs};
use super::{ColorChoice, EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, error_line};
use crate::gitsync::{self, Provenance};
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(after_long_help = remote::API_ENV_HELP)]
pub struct DiffArgs {
    /// Compare FILE with the policy on the server (needs API credentials)
    #[arg(long)]
    pub remote: bool,

    /// With --remote: the local policy file [default: the compiled policy of the intents
    /// project, policies/tailnet.json5 found from the current directory upward].
    /// Without: OLD NEW
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// With --remote: the intents file whose compiled policy to compare, instead of
    /// looking for policies/tailnet.json5
    #[arg(long, value_name = "FILE", requires = "remote")]
    pub intents: Option<PathBuf>,

    /// How to show the effective-access diff: text, json, markdown (for pull-request
    /// comments and job summaries), sarif (SARIF 2.1.0) or github (workflow annotations);
    /// all but text print only the access diff. Text and markdown summarize: sources that
    /// change alike share a line (the first eight named, then a count), at most 200 lines;
    /// json lists every source and destination. In sarif and github every change is a
    /// finding about NEW's file: TSA140 access-gained, TSA141 access-lost (notes) and
    /// TSA142 access-lockout (a warning)
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,

    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Text,
    Json,
    Markdown,
    Sarif,
    Github,
}

/// One side of `tsacl diff OLD NEW`: a policy file, an intents file or a directory with
/// `tailnet.json5` (compiled in memory), or `git:REV:PATH` (that file at a revision).
fn read_side(spec: &std::path::Path) -> Result<(String, Vec<u8>), String> {
    let text = spec.to_string_lossy().into_owned();
    if let Some(rest) = text.strip_prefix("git:") {
        let (rev, path) = rest.split_once(':').ok_or_else(|| {
            format!("{text}: write git:REVISION:PATH, e.g. git:HEAD~1:policies/policy.hujson")
        })?;
        let out = std::process::Command::new("git")
            .args(["show", &format!("{rev}:{path}")])
            .output()
            .map_err(|e| format!("{text}: cannot run git: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{text}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        if path.ends_with(".json5") {
            return Err(format!(
                "{text}: compare the compiled policy file at that revision instead"
            ));
        }
        return Ok((text, out.stdout));
    }
    let intents = if spec.is_dir() {
        let candidate = spec.join("tailnet.json5");
        candidate.is_file().then_some(candidate)
    } else if text.ends_with(".json5") {
        Some(spec.to_path_buf())
    } else {
        None
    };
    if let Some(intents) = intents {
        let project = crate::intents::project::load(&intents)?;
        if project.diagnostics.iter().any(|d| d.is_error()) {
            return Err(format!(
                "{}: the intents have errors (tsacl check)",
                intents.display()
            ));
        }
        return Ok((text, project.compiled.text));
    }
    crate::fsutil::read_text_file(spec).map(|b| (text, b))
}

pub fn run(args: DiffArgs, color: ColorChoice) -> u8 {
    let color = match color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    };
    let read = |path: &PathBuf| {
        crate::fsutil::read_text_file(path).map_err(|e| {
            error_line(e);
            EXIT_USAGE
        })
    };
    // With --remote in an intents project: principals by the intents' names.
    let mut names = std::collections::HashMap::new();
    let (old_label, old, new_label, new) = if args.remote {
        if args.files.len() > 1 {
            error_line("diff --remote takes one policy file");
            return EXIT_USAGE;
        }
        let target = match remote::target(
            "diff --remote",
            args.files.first().map(PathBuf::as_path),
            args.intents.as_deref(),
        ) {
            Ok(t) => t,
            Err(code) => return code,
        };
        names = remote::intents_names(&target);
        let file = target.file;
        let local = match read(&file) {
            Ok(b) => b,
            Err(code) => return code,
        };
        let mut client = match remote::client(&args.api) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let server = match client.get_policy() {
            Ok(p) => p,
            Err(e) => {
                error_line(&e);
                return e.exit_code();
            }
        };
        let shown = file.display().to_string();
        if let Some(p) = &target.project
            && crate::intents::project::load(&p.intents)
                .is_ok_and(|project| project.compiled.text != local)
        {
            eprintln!(
                "tsacl: warning: {shown} is not what {} compiles to now; `tsacl compile` would change it",
                p.intents_shown
            );
        }
        match gitsync::provenance(&file, &server.body) {
            Provenance::Committed { commit, .. } => eprintln!(
                "tsacl: the server's policy is {shown} as committed in {}",
                &commit[..commit.len().min(12)]
            ),
            Provenance::Drifted { .. } => {
                eprintln!(
                    "tsacl: drift: the server's policy matches no committed version of {shown}; it was changed elsewhere"
                );
                if let Some(p) = &target.project {
                    eprintln!(
                        "tsacl: {shown} is generated: to keep changes made on the server, write them into {} and run `tsacl compile`",
                        p.sources()
                    );
                }
            }
            Provenance::Unknown { reason } => {
                eprintln!("tsacl: cannot tell where the server's policy came from: {reason}")
            }
        }
        ("server".to_string(), server.body, shown, local)
    } else {
        let [old_path, new_path] = args.files.as_slice() else {
            error_line("usage: tsacl diff OLD NEW, or tsacl diff --remote [FILE]");
            return EXIT_USAGE;
        };
        let (old_label, old) = match read_side(old_path) {
            Ok(x) => x,
            Err(e) => {
                error_line(e);
                return EXIT_USAGE;
            }
        };
        let (new_label, new) = match read_side(new_path) {
            Ok(x) => x,
            Err(e) => {
                error_line(e);
                return EXIT_USAGE;
            }
        };
        if args.format != DiffFormat::Text {
            let new_file = findings_file(new_path);
            return access_only(&old_label, &old, (&new_label, &new_file), &new, args.format);
        }
        // Like `git diff --exit-code`, but about access: 1 only when access changes.
        let (changes, access_changed) =
            remote::changes_and_access_named(&old_label, &old, &new_label, &new, color, &names);
        if changes.is_empty() {
            eprintln!("tsacl: no changes between {old_label} and {new_label}");
        } else {
            print!("{changes}");
        }
        return if access_changed {
            EXIT_FINDINGS
        } else {
            EXIT_CLEAN
        };
    };
    let changes = remote::show_changes_named(&old_label, &old, &new_label, &new, color, &names);
    if changes.is_empty() {
        eprintln!("tsacl: no changes between {old_label} and {new_label}");
        EXIT_CLEAN
    } else {
        print!("{changes}");
        EXIT_FINDINGS
    }
}

/// The file `--format sarif|github` puts a side's findings in: PATH of `git:REV:PATH`
/// (from the work tree's root, as git reads it), a directory's `tailnet.json5`, else the
/// file itself.
fn findings_file(spec: &std::path::Path) -> PathBuf {
    let text = spec.to_string_lossy();
    if let Some((_, path)) = text.strip_prefix("git:").and_then(|r| r.split_once(':')) {
        if path.starts_with("./") || path.starts_with("../") {
            return PathBuf::from(path);
        }
        return crate::diagnostics::render::source_root()
            .map(|root| root.join(path))
            .unwrap_or_else(|| PathBuf::from(path));
    }
    if spec.is_dir() {
        return spec.join("tailnet.json5");
    }
    spec.to_path_buf()
}

/// `--format json|markdown|sarif|github`: the effective-access diff alone, for machines
/// and PRs.
fn access_only(
    old_label: &str,
    old: &[u8],
    (new_label, new_file): (&str, &std::path::Path),
    new: &[u8],
    format: DiffFormat,
) -> u8 {
    // Each side is read on its own: side by side.
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| remote::policy_of(old));
        let b = remote::policy_of(new);
        let a = a
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (a, b)
    });
    let (Some(a), Some(b)) = (a, b) else {
        error_line(format!(
            "{old_label} or {new_label} is not a valid policy (tsacl check)"
        ));
        return EXIT_USAGE;
    };
    let diff = crate::engine::diff::diff(&a, &b);
    match format {
        DiffFormat::Json => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            if let Err(e) = crate::engine::diff::write_json(&diff, &mut out)
                .and_then(|()| std::io::Write::flush(&mut out))
            {
                // A reader that stops early (`| head`) is not an error of ours.
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    error_line(format!("cannot write the diff: {e}"));
                    return super::EXIT_RUNTIME;
                }
            }
        }
        DiffFormat::Sarif | DiffFormat::Github => {
            use crate::diagnostics::render::{render_github, render_sarif};
            let mut sources = crate::diagnostics::SourceMap::default();
            let file = sources.add(crate::diagnostics::SourceFile::new(
                new_file,
                new_label,
                new.to_vec(),
            ));
            let findings = crate::engine::diff::to_diagnostics(&diff, file);
            if format == DiffFormat::Sarif {
                print!("{}", render_sarif(&sources, &findings));
            } else {
                print!("{}", render_github(&sources, &findings));
            }
        }
        DiffFormat::Text | DiffFormat::Markdown => print!(
            "{}",
            crate::engine::diff::render_markdown(&diff, old_label, new_label)
        ),
    }
    if diff.is_empty() {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    }
}
