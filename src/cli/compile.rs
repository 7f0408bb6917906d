//! `tsacl compile`: intents → the committed policy file.

use super::{EXIT_CLEAN, EXIT_FINDINGS, EXIT_RUNTIME, EXIT_USAGE, error_line};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct CompileArgs {
    /// The intents file (default: policies/tailnet.json5, found from the current directory upward)
    #[arg(long, value_name = "FILE")]
    pub intents: Option<PathBuf>,

    /// Write nothing; exit 1 if the committed output is not current
    #[arg(long)]
    pub check: bool,

    /// Write the compiled policy to standard output instead of the output file
    #[arg(long)]
    pub stdout: bool,
}

pub fn run(args: CompileArgs, color: bool) -> u8 {
    let Some(path) = super::intents_path(&args.intents) else {
        return EXIT_USAGE;
    };
    let mut project = match crate::intents::project::load(&path) {
        Ok(p) => p,
        Err(e) => {
            error_line(e);
            return EXIT_USAGE;
        }
    };
    // Nothing is written that the control plane would reject, or that says something
    // else than the intents (a mistyped key): every finding is shown where it was written.
    // The `lint` section is the check's: what compile refuses does not depend on it.
    project.check_before_writing(&Default::default());
    if !project.diagnostics.is_empty() {
        eprint!(
            "{}",
            crate::diagnostics::render::render_text(
                &project.sources,
                &project.diagnostics,
                crate::diagnostics::render::TextStyle {
                    color,
                    width: super::terminal_width(),
                },
            )
        );
    }
    if project.diagnostics.iter().any(|d| d.is_error()) {
        error_line("the intents have errors; nothing was written");
        return EXIT_FINDINGS;
    }
    let name = project.sources.get(project.output_file).name.clone();
    if args.stdout {
        use std::io::Write;
        let _ = std::io::stdout().write_all(&project.compiled.text);
        return EXIT_CLEAN;
    }
    let current = std::fs::read(&project.output_path).ok();
    if args.check {
        if current.as_deref() == Some(project.compiled.text.as_slice()) {
            return EXIT_CLEAN;
        }
        println!("would rewrite: {name}");
        return EXIT_FINDINGS;
    }
    if current.as_deref() == Some(project.compiled.text.as_slice()) {
        eprintln!("{name} is up to date");
        return EXIT_CLEAN;
    }
    if let Err(e) = crate::fsutil::write_atomic(&project.output_path, &project.compiled.text) {
        error_line(format!("cannot write {name}: {e} (left unchanged)"));
        return EXIT_RUNTIME;
    }
    eprintln!("wrote {name}");
    EXIT_CLEAN
}
