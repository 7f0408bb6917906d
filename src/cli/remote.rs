//! What `push`, `pull` and `diff --remote` share: the API options, building the
//! client from the environment, showing the changes between two policies, and asking
//! for confirmation.

use super::{EXIT_USAGE, error_line};
use crate::api::{Client, Config};
use crate::check::check_policy;
use crate::diagnostics::{SourceFile, SourceMap};
use crate::model::Policy;
use crate::syntax::hujson;
use clap::Args;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Options of every command that talks to the Tailscale API.
///
/// Credentials come only from the environment or a file: TS_API_KEY, or
/// TS_OAUTH_CLIENT_ID + TS_OAUTH_CLIENT_SECRET (or TS_OAUTH_ID + TS_OAUTH_SECRET), or
/// TS_OAUTH_CLIENT_ID + TS_ID_TOKEN (workload identity federation).
#[derive(Args, Debug, Clone)]
pub struct ApiArgs {
    /// Read the API key from FILE instead of TS_API_KEY (a key is never accepted as a flag value)
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,

    /// Time limit for each HTTP request: `30`, `2.5s`, `500ms`, `2m` [default: 30s; env: TS_API_TIMEOUT]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
}

/// The environment the API commands read, for their `--help` (a macro so that
/// `concat!` can join it to a command's own text).
macro_rules! api_env_help {
    () => {
        "\
Environment:
  TS_API_KEY                  API access token (tskey-api-...), or
  TS_OAUTH_CLIENT_ID          OAuth client ID (also TS_OAUTH_ID), with
  TS_OAUTH_CLIENT_SECRET      OAuth client secret (also TS_OAUTH_SECRET); scope policy_file
  TS_ID_TOKEN                 instead of the secret: an OIDC ID token for workload identity
                              federation (TS_OAUTH_CLIENT_ID is then the federated client)
  TS_TAILNET                  tailnet [default: -, the credential's own]
  TS_API_URL                  API base URL [default: https://api.tailscale.com]
  TS_API_TIMEOUT              like --timeout
  TSACL_RETRY_BASE_MS         first retry delay in ms [default: 500], doubling; 5 tries at most
  TSACL_DEBUG=1               log each request (never credentials) to stderr
An empty variable counts as unset; a key and an OAuth client together are an error."
    };
}
pub(crate) use api_env_help;

/// The text shown by `--help` of the API commands, after the options.
pub const API_ENV_HELP: &str = api_env_help!();

/// Build the client, or print why not and return the exit code (2).
pub fn client(args: &ApiArgs) -> Result<Client, u8> {
    let env = |k: &str| std::env::var(k).ok();
    match Config::from_env(&env, args.api_key_file.as_deref(), args.timeout.as_deref()) {
        Ok(config) => Ok(Client::new(config)),
        Err(e) => {
            error_line(e);
            Err(EXIT_USAGE)
        }
    }
}

/// `"-"` shown as a tailnet name reads badly; say what it means.
pub fn tailnet_label(client: &Client) -> String {
    let t = &client.config().tailnet;
    if t == "-" {
        "the credential's tailnet (-)".to_string()
    } else {
        format!("tailnet {t:?}")
    }
}

/// The formatted text of a policy, or the bytes as they are when they are not HuJSON.
pub fn formatted(bytes: &[u8]) -> Vec<u8> {
    hujson::format(bytes).unwrap_or_else(|_| bytes.to_vec())
}

/// The effective-access diff between two policies: who gains and who loses which
/// access (see `engine::diff`).
pub fn access_diff(sources: &SourceMap, old: &Policy, new: &Policy) -> Option<String> {
    let _ = sources;
    Some(crate::engine::diff::render(&crate::engine::diff::diff(
        old, new,
    )))
}

/// The policy model of a file, if it is a valid policy.
pub fn policy_of(bytes: &[u8]) -> Option<Policy> {
    let mut sources = SourceMap::default();
    let id = sources.add(SourceFile::new("p", "p", bytes.to_vec()));
    let checked = check_policy(&sources, id, &crate::validate::Options::default());
    if checked.has_errors() {
        None
    } else {
        checked.policy
    }
}

/// Whether effective access differs (true also when either side is not a valid policy
/// and the texts differ).
pub fn access_changes(old: &[u8], new: &[u8]) -> bool {
    match (policy_of(old), policy_of(new)) {
        (Some(a), Some(b)) => !crate::engine::diff::diff(&a, &b).is_empty(),
        _ => formatted(old) != formatted(new),
    }
}

/// The changes from `old` to `new`: the effective-access diff (when available), then
/// a unified diff of the formatted HuJSON. Empty when they are the same.
pub fn show_changes(
    old_label: &str,
    old: &[u8],
    new_label: &str,
    new: &[u8],
    color: bool,
) -> String {
    let old_fmt = formatted(old);
    let new_fmt = formatted(new);
    if old_fmt == new_fmt {
        return String::new();
    }
    let mut out = String::new();
    let mut sources = SourceMap::default();
    let old_id = sources.add(SourceFile::new(old_label, old_label, old.to_vec()));
    let new_id = sources.add(SourceFile::new(new_label, new_label, new.to_vec()));
    let options = crate::validate::Options::default();
    if let (Some(old_policy), Some(new_policy)) = (
        check_policy(&sources, old_id, &options).policy,
        check_policy(&sources, new_id, &options).policy,
    ) && let Some(access) = access_diff(&sources, &old_policy, &new_policy)
    {
        out.push_str(&access);
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&text_diff(
        old_label,
        &String::from_utf8_lossy(&old_fmt),
        new_label,
        &String::from_utf8_lossy(&new_fmt),
        color,
    ));
    out
}

/// A unified diff (3 lines of context), coloured when asked, with a summary line.
pub fn text_diff(old_label: &str, old: &str, new_label: &str, new: &str, color: bool) -> String {
    let diff = similar::TextDiff::from_lines(old, new);
    let unified = diff
        .unified_diff()
        .context_radius(3)
        .header(old_label, new_label)
        .to_string();
    let (mut added, mut removed) = (0, 0);
    let mut out = String::new();
    for line in unified.split_inclusive('\n') {
        let (paint, count) = if line.starts_with("+++") || line.starts_with("---") {
            ("\x1b[1m", None)
        } else if line.starts_with('+') {
            ("\x1b[32m", Some(true))
        } else if line.starts_with('-') {
            ("\x1b[31m", Some(false))
        } else if line.starts_with("@@") {
            ("\x1b[36m", None)
        } else {
            ("", None)
        };
        match count {
            Some(true) => added += 1,
            Some(false) => removed += 1,
            None => {}
        }
        if color && !paint.is_empty() {
            out.push_str(paint);
            out.push_str(line.trim_end_matches('\n'));
            out.push_str("\x1b[0m\n");
        } else {
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
    }
    out.push_str(&format!(
        "{added} line{} added, {removed} removed\n",
        if added == 1 { "" } else { "s" }
    ));
    out
}

/// How confirmation went.
pub enum Confirm {
    Yes,
    No,
    /// No terminal to ask on.
    NoTerminal,
}

/// Ask `question` on the terminal (stderr for the question, stdin for the answer).
pub fn confirm(question: &str) -> Confirm {
    if !std::io::stdin().is_terminal() {
        return Confirm::NoTerminal;
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return Confirm::No;
    }
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Confirm::Yes,
        _ => Confirm::No,
    }
}

/// A server message such as `line 3, column 5: bad thing`, pointed at `file`.
pub fn locate_message(file: &Path, message: &str) -> String {
    let located = (|| {
        let rest = message.strip_prefix("line ")?;
        let (line, rest) = rest.split_once(", column ")?;
        let (col, rest) = rest.split_once(':')?;
        let line: usize = line.trim().parse().ok()?;
        let col: usize = col.trim().parse().ok()?;
        Some(format!("{}:{line}:{col}: {}", file.display(), rest.trim()))
    })();
    located.unwrap_or_else(|| message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_counts_and_colours() {
        let d = text_diff("a", "x\ny\n", "b", "x\nz\n", false);
        assert!(d.contains("--- a\n+++ b\n"), "{d}");
        assert!(d.contains("-y\n+z\n"));
        assert!(d.ends_with("1 line added, 1 removed\n"));
        let c = text_diff("a", "x\n", "b", "y\n", true);
        assert!(c.contains("\x1b[32m+y\x1b[0m"));
    }

    #[test]
    fn same_policy_in_another_layout_shows_nothing() {
        assert_eq!(
            show_changes("a", b"{\"a\":1}", "b", b"{ \"a\":   1, }", false),
            ""
        );
    }

    #[test]
    fn locates_server_messages() {
        assert_eq!(
            locate_message(Path::new("p.hujson"), "line 3, column 5: invalid thing"),
            "p.hujson:3:5: invalid thing"
        );
        assert_eq!(
            locate_message(Path::new("p"), "test(s) failed"),
            "test(s) failed"
        );
    }
}
