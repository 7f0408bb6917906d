//! What `push`, `pull` and `diff --remote` share: the API options, building the
//! client from the environment, showing the changes between two policies, and asking
//! for confirmation.

use super::{EXIT_USAGE, error_line};
use crate::api::{Client, Config};
use crate::check::{Depth, check_policy_to};
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

/// The policy file a remote command works on, and the intents project that compiles it.
pub struct Target {
    pub file: PathBuf,
    pub project: Option<ProjectNames>,
}

/// An intents project, by its files as shown to the user.
pub struct ProjectNames {
    pub intents: PathBuf,
    pub intents_shown: String,
    pub base_shown: Option<String>,
}

impl ProjectNames {
    /// "policies/tailnet.json5 or policies/base.hujson": where changes are made.
    pub fn sources(&self) -> String {
        match &self.base_shown {
            Some(base) => format!("{} or {base}", self.intents_shown),
            None => self.intents_shown.clone(),
        }
    }
}

/// The policy file of `push` and `diff --remote`: FILE, or without one the compiled
/// policy of the intents project found as `check` finds it (`--intents`, else
/// `policies/tailnet.json5` from the current directory upward). A FILE that is some
/// project's compiled policy belongs to that project; a file that says it is generated
/// but whose intents cannot be found is a usage error (its proof could not run).
/// `Err` is the exit code, after printing why.
pub fn target(command: &str, file: Option<&Path>, intents: Option<&Path>) -> Result<Target, u8> {
    let usage = |e: String| {
        error_line(e);
        EXIT_USAGE
    };
    let Some(file) = file else {
        let found = intents.map(Path::to_path_buf).or_else(|| {
            std::env::current_dir()
                .ok()
                .and_then(|d| crate::intents::find(&d))
        });
        let Some(path) = found else {
            return Err(usage(format!(
                "no FILE given and no policies/tailnet.json5 here or in a parent directory; usage: tsacl {command} [FILE]"
            )));
        };
        let (output, names) = project_names(&path).map_err(usage)?;
        return Ok(Target {
            file: crate::fsutil::relative_to_cwd(&output),
            project: Some(names),
        });
    };
    if let Some(path) = intents {
        let (output, names) = project_names(path).map_err(usage)?;
        if !same_file(&output, file) {
            return Err(usage(format!(
                "{} compiles to {}, not to {}",
                names.intents_shown,
                crate::fsutil::relative_to_cwd(&output).display(),
                file.display()
            )));
        }
        return Ok(Target {
            file: file.to_path_buf(),
            project: Some(names),
        });
    }
    match compiled_by(file).map_err(usage)? {
        Some(names) => Ok(Target {
            file: file.to_path_buf(),
            project: Some(names),
        }),
        None => match generated_from(file) {
            Some(name) => Err(usage(format!(
                "{} is generated by tsacl from {name}, which was not found beside it or from the current \
                 directory upward; run from its project or pass --intents, so that the intents are checked",
                file.display()
            ))),
            None => Ok(Target {
                file: file.to_path_buf(),
                project: None,
            }),
        },
    }
}

/// The intents project whose compiled policy `file` is, looked for as its header names
/// it (beside the file), and as `check` looks (from the file's directory and from the
/// current directory upward). `Err` when a candidate cannot be read.
pub fn compiled_by(file: &Path) -> Result<Option<ProjectNames>, String> {
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut candidates: Vec<PathBuf> = Vec::new();
    candidates.extend(generated_from(file).map(|name| dir.join(name)));
    candidates.extend(
        std::path::absolute(&dir)
            .ok()
            .and_then(|d| crate::intents::find(&d)),
    );
    candidates.extend(
        std::env::current_dir()
            .ok()
            .and_then(|d| crate::intents::find(&d)),
    );
    for c in candidates.iter().filter(|c| c.is_file()) {
        let (output, names) = project_names(c)?;
        if same_file(&output, file) {
            return Ok(Some(names));
        }
    }
    Ok(None)
}

/// The intents file a compiled policy's header names (`// Generated by tsacl from NAME`).
fn generated_from(file: &Path) -> Option<String> {
    let bytes = std::fs::read(file).ok()?;
    let rest = bytes.strip_prefix(crate::intents::compile::HEADER.as_bytes())?;
    let line = String::from_utf8_lossy(rest.split(|b| *b == b'\n').next()?).into_owned();
    let name = line.split(" and ").next()?.trim_end_matches('.');
    Some(name.to_string())
}

/// An intents project's compiled policy (its path) and its files' names.
pub fn project_names(intents: &Path) -> Result<(PathBuf, ProjectNames), String> {
    let project = crate::intents::project::load(intents)?;
    let names = ProjectNames {
        intents: intents.to_path_buf(),
        intents_shown: project.sources.get(project.intents_file).name.clone(),
        base_shown: project
            .base_file
            .map(|id| project.sources.get(id).name.clone()),
    };
    Ok((project.output_path, names))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => std::path::absolute(a).ok() == std::path::absolute(b).ok(),
    }
}

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

/// The policy model of a file, if it is a valid policy.
pub fn policy_of(bytes: &[u8]) -> Option<Policy> {
    let mut sources = SourceMap::default();
    let id = sources.add(SourceFile::new("p", "p", bytes.to_vec()));
    // The control plane's own rules decide whether the file is a policy; the lints that
    // only warn, the audit and the offline tests add nothing to what it allows.
    let checked = check_policy_to(
        &sources,
        id,
        &crate::validate::Options::default(),
        Depth::Model,
    );
    if checked.has_errors() {
        None
    } else {
        checked.policy
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
    changes_and_access(old_label, old, new_label, new, color).0
}

/// The intents' names for policy selectors (see `Intents::display_names`) when `target`
/// is an intents project's policy; empty otherwise.
pub fn intents_names(target: &Target) -> std::collections::HashMap<String, String> {
    target
        .project
        .as_ref()
        .and_then(|p| crate::intents::project::load(&p.intents).ok())
        .map(|p| p.intents.display_names())
        .unwrap_or_default()
}

/// [`show_changes`], with principals shown by the intents' names.
pub fn show_changes_named(
    old_label: &str,
    old: &[u8],
    new_label: &str,
    new: &[u8],
    color: bool,
    names: &std::collections::HashMap<String, String>,
) -> String {
    changes_and_access_named(old_label, old, new_label, new, color, names).0
}

/// [`show_changes`], and whether effective access differs (true also when either side
/// is not a valid policy and the texts differ).
pub fn changes_and_access(
    old_label: &str,
    old: &[u8],
    new_label: &str,
    new: &[u8],
    color: bool,
) -> (String, bool) {
    changes_and_access_named(old_label, old, new_label, new, color, &Default::default())
}

/// [`changes_and_access`], with principals shown by the intents' names.
pub fn changes_and_access_named(
    old_label: &str,
    old: &[u8],
    new_label: &str,
    new: &[u8],
    color: bool,
    names: &std::collections::HashMap<String, String>,
) -> (String, bool) {
    let mut sources = SourceMap::default();
    let old_id = sources.add(SourceFile::new(old_label, old_label, old.to_vec()));
    let new_id = sources.add(SourceFile::new(new_label, new_label, new.to_vec()));
    let options = crate::validate::Options::default();
    // Each side is formatted and read on its own: side by side.
    let side = |bytes: &[u8], id| {
        (
            formatted(bytes),
            check_policy_to(&sources, id, &options, Depth::Model),
        )
    };
    let ((old_fmt, a), (new_fmt, b)) = std::thread::scope(|scope| {
        let old_side = scope.spawn(|| side(old, old_id));
        let new_side = side(new, new_id);
        let old_side = old_side
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (old_side, new_side)
    });
    if old_fmt == new_fmt {
        return (String::new(), false);
    }
    // The text diff first: its working memory is freed before the access diff, whose
    // cells are the peak (two wholly different 40,000-rule policies: 24 million).
    let text = text_diff(
        old_label,
        &String::from_utf8_lossy(&old_fmt),
        new_label,
        &String::from_utf8_lossy(&new_fmt),
        color,
    );
    drop((old_fmt, new_fmt, sources));
    let mut out = String::new();
    // Texts that differ change access unless both are policies with the same access.
    let mut access_changed = true;
    let valid = !a.has_errors() && !b.has_errors();
    if let (Some(old_policy), Some(new_policy)) = (a.policy, b.policy) {
        let mut diff = crate::engine::diff::diff(&old_policy, &new_policy);
        diff.rename(names);
        if valid {
            access_changed = !diff.is_empty();
        }
        out.push_str(&crate::engine::diff::render(&diff));
        out.push('\n');
    }
    out.push_str(&text);
    (out, access_changed)
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
    // The position may come anywhere: `line 3, column 5: ...`, `hujson: line 3, column
    // 5: ...`, `parsing HuJSON: hujson: line 3, column 5: ...`.
    let located = message.match_indices("line ").find_map(|(at, _)| {
        let rest = &message[at + "line ".len()..];
        let (line, rest) = rest.split_once(", column ")?;
        let (col, rest) = rest.split_once(':')?;
        let line: usize = line.trim().parse().ok()?;
        let col: usize = col.trim().parse().ok()?;
        let before = &message[..at];
        Some(format!(
            "{}:{line}:{col}: {before}{}",
            file.display(),
            rest.trim()
        ))
    });
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
            locate_message(
                Path::new("p.hujson"),
                "hujson: line 3, column 5: invalid character"
            ),
            "p.hujson:3:5: hujson: invalid character"
        );
        assert_eq!(
            locate_message(Path::new("p.hujson"), "the first line is fine"),
            "the first line is fine"
        );
        assert_eq!(
            locate_message(Path::new("p"), "test(s) failed"),
            "test(s) failed"
        );
    }
}
