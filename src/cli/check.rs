//! `tsacl check FILE...`

use super::{EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, OutputFormat, error_line, terminal_width};
use crate::check::check_policy;
use crate::diagnostics::render::{TextStyle, render_json, render_text, summary};
use crate::diagnostics::{SourceFile, SourceMap};
use crate::validate::Options;
use clap::Args;
use std::io::Read;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Policy files to check (`-` reads standard input). Without any, check the intents
    /// file (`policies/tailnet.json5`, found from the current directory upward): compile
    /// it in memory, require the committed output to be current, validate, run the tests
    /// and prove that reachability equals the intents
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// The intents file to check instead of looking for policies/tailnet.json5
    #[arg(long, value_name = "FILE", conflicts_with = "files")]
    pub intents: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    /// A domain of the tailnet, for checking user:*@domain and localpart:*@domain (repeatable)
    #[arg(long = "tailnet-domain", value_name = "DOMAIN")]
    pub tailnet_domains: Vec<String>,

    /// Devices and users (JSON shaped like the Tailscale API's answers) to evaluate the
    /// policy's tests against; without it, every user and tag gets a stand-in device
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
}

/// `tsacl check` on an intents file.
fn check_intents(path: &std::path::Path, args: &CheckArgs, color: bool) -> u8 {
    let mut project = match crate::intents::project::load(path) {
        Ok(p) => p,
        Err(e) => {
            error_line(e);
            return EXIT_USAGE;
        }
    };
    let inventory = match &args.inventory {
        None => None,
        Some(p) => match super::load_inventory(p) {
            Ok(i) => Some(i),
            Err(e) => {
                error_line(e);
                return EXIT_USAGE;
            }
        },
    };
    let options = Options {
        tailnet_domains: (!args.tailnet_domains.is_empty()).then(|| args.tailnet_domains.clone()),
        inventory,
    };
    project.check(&options);
    let mut files = vec![project.intents_file];
    files.extend(project.base_file);
    files.push(project.output_file);
    report(
        &project.sources,
        &files,
        &project.diagnostics,
        args.format,
        color,
    );
    if project.diagnostics.iter().any(|d| d.is_error()) {
        EXIT_FINDINGS
    } else {
        EXIT_CLEAN
    }
}

fn report(
    sources: &SourceMap,
    files: &[crate::diagnostics::FileId],
    diagnostics: &[crate::diagnostics::Diagnostic],
    format: OutputFormat,
    color: bool,
) {
    match format {
        OutputFormat::Json => print!("{}", render_json(sources, files, diagnostics)),
        OutputFormat::Text => {
            let text = render_text(
                sources,
                diagnostics,
                TextStyle {
                    color,
                    width: terminal_width(),
                },
            );
            eprint!("{text}");
            let n = files.len();
            eprintln!(
                "tsacl: checked {n} file{}: {}",
                if n == 1 { "" } else { "s" },
                summary(diagnostics)
            );
        }
    }
}

pub fn run(args: CheckArgs, color: bool) -> u8 {
    if args.files.is_empty() {
        let found = args.intents.clone().or_else(|| {
            std::env::current_dir()
                .ok()
                .and_then(|d| crate::intents::find(&d))
        });
        let Some(path) = found else {
            error_line(
                "no policy file given and no policies/tailnet.json5 here or in a parent directory; usage: tsacl check [FILE...]",
            );
            return EXIT_USAGE;
        };
        return check_intents(&path, &args, color);
    }
    let inventory = match &args.inventory {
        None => None,
        Some(path) => match super::load_inventory(path) {
            Ok(inv) => Some(inv),
            Err(e) => {
                error_line(e);
                return EXIT_USAGE;
            }
        },
    };
    let options = Options {
        tailnet_domains: (!args.tailnet_domains.is_empty()).then(|| args.tailnet_domains.clone()),
        inventory,
    };
    let mut sources = SourceMap::default();
    let mut files = Vec::new();
    let mut diagnostics = Vec::new();
    let mut unreadable = false;
    for path in &args.files {
        let (name, bytes) = if path.as_os_str() == "-" {
            let mut buf = Vec::new();
            if let Err(e) = std::io::stdin().read_to_end(&mut buf) {
                error_line(format!("cannot read standard input: {e}"));
                unreadable = true;
                continue;
            }
            if let Err(why) = crate::fsutil::check_text(&buf) {
                error_line(format!("cannot read standard input: {why}"));
                unreadable = true;
                continue;
            }
            ("<stdin>".to_string(), buf)
        } else {
            match crate::fsutil::read_text_file(path) {
                Ok(bytes) => (path.display().to_string(), bytes),
                Err(e) => {
                    error_line(e);
                    unreadable = true;
                    continue;
                }
            }
        };
        let id = sources.add(SourceFile::new(path.clone(), name, bytes));
        files.push(id);
        diagnostics.extend(check_policy(&sources, id, &options).diagnostics);
    }
    match args.format {
        OutputFormat::Json => print!("{}", render_json(&sources, &files, &diagnostics)),
        OutputFormat::Text => {
            let text = render_text(
                &sources,
                &diagnostics,
                TextStyle {
                    color,
                    width: terminal_width(),
                },
            );
            eprint!("{text}");
            if !files.is_empty() {
                let n = files.len();
                eprintln!(
                    "tsacl: checked {n} file{}: {}",
                    if n == 1 { "" } else { "s" },
                    summary(&diagnostics)
                );
            }
        }
    }
    if unreadable {
        EXIT_USAGE
    } else if diagnostics.iter().any(|d| d.is_error()) {
        EXIT_FINDINGS
    } else {
        EXIT_CLEAN
    }
}
