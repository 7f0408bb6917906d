//! `tsacl compile`: intents → the committed policy file.

use super::{EXIT_CLEAN, EXIT_FINDINGS, EXIT_RUNTIME, error_line};
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
    let project = match super::load_intents(&args.intents, color, "; nothing was written") {
        Ok(p) => p,
        Err(code) => return code,
    };
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
