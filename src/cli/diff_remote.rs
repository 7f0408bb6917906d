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

    /// With --remote: the local policy file [default: policy.hujson]. Without: OLD NEW
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    #[command(flatten)]
    pub api: ApiArgs,
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
    let (old_label, old, new_label, new) = if args.remote {
        if args.files.len() > 1 {
            error_line("diff --remote takes one policy file");
            return EXIT_USAGE;
        }
        let file = args
            .files
            .first()
            .cloned()
            .unwrap_or_else(|| PathBuf::from("policy.hujson"));
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
        match gitsync::provenance(&file, &server.body) {
            Provenance::Committed { commit, .. } => eprintln!(
                "tsacl: the server's policy is {shown} as committed in {}",
                &commit[..commit.len().min(12)]
            ),
            Provenance::Drifted { .. } => eprintln!(
                "tsacl: drift: the server's policy matches no committed version of {shown}; it was changed elsewhere"
            ),
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
        let old = match read(old_path) {
            Ok(b) => b,
            Err(code) => return code,
        };
        let new = match read(new_path) {
            Ok(b) => b,
            Err(code) => return code,
        };
        (
            old_path.display().to_string(),
            old,
            new_path.display().to_string(),
            new,
        )
    };
    let changes = remote::show_changes(&old_label, &old, &new_label, &new, color);
    if changes.is_empty() {
        eprintln!("tsacl: no changes between {old_label} and {new_label}");
        EXIT_CLEAN
    } else {
        print!("{changes}");
        EXIT_FINDINGS
    }
}
