//! `tsacl fmt [--check] FILE...` and `tsacl fmt -`.
//!
//! Exit codes: 0 nothing to do; 1 `--check` found files that would change; 2 a file that
//! cannot be read or does not parse (whatever else happened); 3 a file that cannot be written.

use super::{EXIT_CLEAN, EXIT_FINDINGS, EXIT_RUNTIME, EXIT_USAGE, error_line, terminal_width};
use crate::check::syntax_diagnostic;
use crate::diagnostics::render::{TextStyle, render_text};
use crate::diagnostics::{SourceFile, SourceMap};
use crate::syntax::hujson;
use clap::Args;
use std::io::{Read, Write};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct FmtArgs {
    /// Files to format in place; `-` formats standard input to standard output
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Change nothing; list the files that would change and exit 1 if any would (a file
    /// that does not parse is reported at its line and column, exit 2)
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: FmtArgs, color: bool) -> u8 {
    let mut code = EXIT_CLEAN;
    let mut sources = SourceMap::default();
    let worst = |c: u8, code: &mut u8| *code = (*code).max(c);
    for path in &args.files {
        let stdin = path.as_os_str() == "-";
        let (name, bytes) = if stdin {
            let mut buf = Vec::new();
            if let Err(e) = std::io::stdin().read_to_end(&mut buf) {
                error_line(format!("cannot read standard input: {e}"));
                worst(EXIT_USAGE, &mut code);
                continue;
            }
            ("<stdin>".to_string(), buf)
        } else {
            match crate::fsutil::read_text_file(path) {
                Ok(bytes) => (path.display().to_string(), bytes),
                Err(e) => {
                    error_line(e);
                    worst(EXIT_USAGE, &mut code);
                    continue;
                }
            }
        };
        if let Some(why) = json5_not_hujson(path, &name, &bytes) {
            error_line(why);
            worst(EXIT_USAGE, &mut code);
            continue;
        }
        let formatted = match hujson::format(&bytes) {
            Ok(f) => f,
            Err(e) => {
                let len = bytes.len();
                let id = sources.add(SourceFile::new(path.clone(), name.clone(), bytes));
                let d = syntax_diagnostic(id, &e, len);
                eprint!(
                    "{}",
                    render_text(
                        &sources,
                        &[d],
                        TextStyle {
                            color,
                            width: terminal_width()
                        }
                    )
                );
                // Not "would reformat": the file cannot be formatted at all. Exit 2, as
                // ruff and rustfmt tell the two apart.
                error_line(format!("{name}: not formatted: it is not valid HuJSON"));
                worst(EXIT_USAGE, &mut code);
                continue;
            }
        };
        if stdin {
            if args.check {
                if formatted != bytes {
                    println!("would reformat: <stdin>");
                    worst(EXIT_FINDINGS, &mut code);
                }
            } else if let Err(e) = std::io::stdout().write_all(&formatted) {
                error_line(format!("cannot write standard output: {e}"));
                worst(EXIT_RUNTIME, &mut code);
            }
            continue;
        }
        if formatted == bytes {
            continue;
        }
        if args.check {
            println!("would reformat: {name}");
            worst(EXIT_FINDINGS, &mut code);
        } else if let Err(e) = crate::fsutil::write_atomic(path, &formatted) {
            error_line(format!(
                "cannot write {name}: {e} (the file was left unchanged)"
            ));
            worst(EXIT_RUNTIME, &mut code);
        } else {
            eprintln!("reformatted: {name}");
        }
    }
    code
}

/// `tsacl fmt` writes Tailscale's canonical HuJSON; a JSON5 file (the intents file) has no
/// such format, and rewriting it as HuJSON would break it, so it is refused, plainly: by
/// its `.json5` name, or because it reads as JSON5 and not as HuJSON.
fn json5_not_hujson(path: &std::path::Path, name: &str, bytes: &[u8]) -> Option<String> {
    let named = crate::intents::is_intents_file(path, bytes);
    let reads_as_json5_only =
        || hujson::parse(bytes).is_err() && crate::syntax::json5::parse(bytes).is_ok();
    (named || reads_as_json5_only()).then(|| {
        format!(
            "{name} is JSON5 (an intents file), and tsacl fmt formats only HuJSON policy files; it was left unchanged"
        )
    })
}
