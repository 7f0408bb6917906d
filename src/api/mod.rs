//! The Tailscale API: credentials, a client for the policy-file endpoints with
//! timeouts and retries, and its errors. Used by `tsacl pull`, `push` and
//! `diff --remote` (`src/cli/`); the tests talk to a local fake (`tests/api_server/`).

pub mod client;
pub mod credentials;
pub mod error;
pub mod retry;
pub mod secret;

pub use client::{Client, RemotePolicy, Validation, WriteOutcome};
pub use credentials::{Config, Credentials};
pub use error::{ApiError, Op};
pub use secret::Secret;
