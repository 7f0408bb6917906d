//! `tsacl lsp`: the language server.

use super::{EXIT_CLEAN, EXIT_FINDINGS, EXIT_RUNTIME, error_line};
use clap::Args;

#[derive(Args, Debug)]
pub struct LspArgs {
    /// Speak over standard input and output (the only transport, and the default; accepted
    /// because editors' clients pass it)
    #[arg(long)]
    pub stdio: bool,
}

pub fn run(_args: LspArgs) -> u8 {
    match crate::lsp::run() {
        Ok(crate::lsp::End::Clean) => EXIT_CLEAN,
        // The protocol's code for `exit` without `shutdown`.
        Ok(crate::lsp::End::Abrupt) => EXIT_FINDINGS,
        Err(e) => {
            error_line(format!("lsp: {e}"));
            EXIT_RUNTIME
        }
    }
}
