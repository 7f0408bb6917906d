//! `tsacl lsp`: a language server for tailnet policy files and intents, over stdio.
//!
//! Everything it says comes from the pipeline `tsacl check` runs ([`crate::check`],
//! [`crate::intents::project`]), so an editor and the command line cannot disagree:
//! diagnostics with the same codes, severities, help, related locations and lint
//! configuration; hover from [`crate::engine::explain`] and the rule registry; formatting
//! from [`crate::syntax::hujson::format`], byte for byte like `tsacl fmt`.
//!
//! - `server`: the handshake, the message loop, the debounced check worker;
//! - `documents`: open buffers, byte offsets ↔ LSP positions (UTF-8 or UTF-16);
//! - `analysis`: settings, which check a file belongs to, the check, per-version models;
//! - `diagnostics`: tsacl diagnostics as LSP diagnostics;
//! - `symbols`: every name a document defines or uses;
//! - `hover`, `navigation` (definition, references, rename), `completion`, `actions`
//!   (quick fixes), `formatting`: one request each.
//!
//! Built on rust-analyzer's `lsp-server` (the transport and handshake; we own the loop)
//! and `lsp-types`.

mod actions;
mod analysis;
mod completion;
mod diagnostics;
mod documents;
mod formatting;
mod hover;
mod navigation;
mod server;
mod symbols;

pub use server::{DEBOUNCE, End, run, serve};

/// What the binary does before the server starts: its allocator's settings for a
/// long-running process (`src/main.rs`). Nothing when the library is used alone.
static BEFORE_SERVING: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Register what to run before the server starts (the first registration holds).
pub fn set_before_serving(prepare: fn()) {
    let _ = BEFORE_SERVING.set(prepare);
}

/// Run what the binary registered, if anything.
pub(crate) fn before_serving() {
    if let Some(prepare) = BEFORE_SERVING.get() {
        prepare();
    }
}
