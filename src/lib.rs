//! tsacl: Tailscale tailnet policy files, validated offline exactly as the control plane
//! would, formatted byte-for-byte like Tailscale's tools, and explained.
//!
//! The pipeline, one module per stage: [`syntax`] (source text → tree with spans) →
//! [`model`] (typed policy) → [`validate`] (the control plane's rules) → [`diagnostics`]
//! (codes from [`rules`], rendered for people and machines). [`check`] runs the stages on
//! one file; [`cli`] is the command line.

pub mod api;
pub mod check;
pub mod cli;
pub mod diagnostics;
pub mod engine;
pub mod fsutil;
pub mod gitsync;
pub mod intents;
pub mod lint;
pub mod lsp;
pub mod model;
pub mod rules;
pub mod suggest;
pub mod syntax;
pub mod timings;
pub mod validate;
