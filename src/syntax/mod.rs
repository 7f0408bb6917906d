//! Source text → syntax tree with spans.
//!
//! `hujson` reads Tailscale policy files exactly as tailscale/hujson does (and formats and
//! standardizes them byte-for-byte like it); `json5` reads the intents file. Both produce
//! the same [`tree::Value`].

pub mod hujson;
pub mod json5;
pub mod tree;

pub use tree::{Document, Kind, Member, Span, Step, SyntaxError, Value};
