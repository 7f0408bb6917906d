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
    /// Policy files to check (`-` reads standard input)
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

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

pub fn run(args: CheckArgs, color: bool) -> u8 {
    if args.files.is_empty() {
        error_line("no policy file given; usage: tsacl check FILE...");
        return EXIT_USAGE;
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
