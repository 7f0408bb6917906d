//! `tsacl push [FILE] [--dry-run] [--yes] [--force]`: run `tsacl check` (on the intents
//! project FILE is compiled from, when it is), compare with the server, refuse drift, show
//! the changes, then write conditionally on the ETag that was read.

use super::check::{CheckArgs, run_checked};
use super::remote::{self, ApiArgs, Confirm};
use super::{EXIT_CLEAN, EXIT_FINDINGS, EXIT_RUNTIME, EXIT_USAGE, error_line};
use crate::api::{ApiError, Client, RemotePolicy, Validation, WriteOutcome};
use crate::gitsync::{self, Provenance};
use crate::syntax::hujson;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(after_long_help = PUSH_HELP)]
pub struct PushArgs {
    /// The policy file to push [default: the compiled policy of the intents project,
    /// policies/tailnet.json5 found from the current directory upward]
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// The intents file whose compiled policy to push, instead of looking for
    /// policies/tailnet.json5
    #[arg(long, value_name = "FILE")]
    pub intents: Option<PathBuf>,

    /// Show what would change and stop: exit 1 when changes are pending, 0 when none
    #[arg(long)]
    pub dry_run: bool,

    /// Treat the server's validation warnings ("warning(s) found", e.g. a user in a group
    /// who is not in the tailnet) as a failure, as gitops-pusher does; by default they
    /// are shown and the push goes on
    #[arg(long)]
    pub fail_on_warnings: bool,

    /// Run the check and the server's validation (and the policy's tests), then stop:
    /// nothing is read or written (gitops-pusher's `test`)
    #[arg(long, conflicts_with_all = ["dry_run", "yes", "force"])]
    pub validate_only: bool,

    /// Push without asking (required when standard input is not a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Push even when the server's policy was changed outside this repository (drift)
    #[arg(long)]
    pub force: bool,

    /// A domain of the tailnet, for the local check (repeatable; see `tsacl check`)
    #[arg(long = "tailnet-domain", value_name = "DOMAIN")]
    pub tailnet_domains: Vec<String>,

    #[command(flatten)]
    pub api: ApiArgs,
}

const PUSH_HELP: &str = concat!(
    "\
FILE: without one, the compiled policy of the intents project (`--intents`, else
policies/tailnet.json5 found from the current directory upward), as `tsacl check` finds
it. A FILE that is a project's compiled policy is pushed as that project's.

Steps, in order: (1) `tsacl check`, exactly as it runs on its own: for an intents project
the committed output must be current, the policy valid, its tests passing and the
intents proof clean, with the intents file's `lint` settings; for another file its
validation, lints and tests. Any error (exit 1) stops here and nothing is sent, not even
to the server's validation. (2) read the server's policy and its ETag; (3) POST
/acl/validate (the server's own validation and tests; a failure exits 1); (4) stop with
\"up to date\" if the server already holds this policy (compared after formatting
both); (5) drift: unless the server's policy is a committed version of FILE, show the
changes made on the server and write only if the tailnet's policy was never edited
(If-Match: \"ts-default\", the first push to a new tailnet), else refuse; (6) show the changes, and warn when FILE matches
no committed version (the next push would take it for drift); (7) --dry-run stops here;
without --yes ask on a terminal, and refuse when there is none; (8) POST /acl with
If-Match: \"<ETag read in step 2>\", so an edit made in between is never overwritten
(412: re-read, show, exit 3). --validate-only does (1) and (3) and stops: the check
and the server's validation, nothing read or written (what gitops-pusher's `test` does).
The server's warnings (\"warning(s) found\": a group member not in the tailnet, a SCIM
group not syncing) are shown and the push goes on; --fail-on-warnings stops on them, as
gitops-pusher does.

Drift: tsacl keeps no cache. The server's policy counts as pushed from this repository
when, formatted like `tsacl fmt`, it equals FILE formatted at some commit in the history
of HEAD (`git log --follow -- FILE`). Otherwise (someone edited it in the admin console)
push refuses without --force. When git cannot tell (not a repository, FILE never
committed, a shallow clone) push refuses too, saying why. To keep changes made on the
server: in an intents project, write them into the intents or the base file and run
`tsacl compile` (`tsacl diff --remote` shows them); for a plain policy file, `tsacl pull
-o FILE`, commit, then edit.

Exit codes: 0 pushed or up to date; 1 the check failed, the server rejected the policy,
drift refused, --dry-run with changes pending, or the answer was no; 2 usage or
credentials, or no terminal to confirm on without --yes; 3 network or API failure,
including 412 (the policy changed during the push). Whenever a write fails, tsacl says
whether the server holds the old or the new policy.

",
    remote::api_env_help!()
);

pub fn run(args: PushArgs, color: bool) -> u8 {
    let target = match remote::target("push", args.file.as_deref(), args.intents.as_deref()) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let mut client = match remote::client(&args.api) {
        Ok(c) => c,
        Err(code) => return code,
    };

    // 1. `tsacl check`, the same code path.
    let check = match &target.project {
        Some(p) => CheckArgs::plain(None, Some(p.intents.clone()), args.tailnet_domains.clone()),
        None => CheckArgs::plain(
            Some(target.file.clone()),
            None,
            args.tailnet_domains.clone(),
        ),
    };
    let checked = run_checked(&check, color);
    let Some((_, shown, local)) = checked.policies.into_iter().next() else {
        return checked.code; // Unreadable: the check said why.
    };
    if checked.code != EXIT_CLEAN {
        error_line(format!("the check of {shown} failed; nothing was sent"));
        return checked.code;
    }
    let file = target.file.as_path();
    if target.project.is_some() {
        // What is sent is the file on disk, which must be what the intents compile to,
        // even when the intents' `lint` section silences stale-output.
        match crate::fsutil::read_text_file(file) {
            Ok(on_disk) if on_disk == local => {}
            Ok(_) => {
                error_line(format!(
                    "{shown} is not what the intents compile to; run `tsacl compile`, commit, and push again; nothing was sent"
                ));
                return EXIT_FINDINGS;
            }
            Err(e) => {
                error_line(format!("{e}; nothing was sent"));
                return EXIT_USAGE;
            }
        }
    }
    let local_fmt = remote::formatted(&local);
    if args.validate_only {
        return match server_validation(&mut client, &local, &shown, file, args.fail_on_warnings) {
            Ok(()) => EXIT_CLEAN,
            Err(code) => code,
        };
    }

    // 2. The server's policy and its ETag.
    let tailnet = remote::tailnet_label(&client);
    let server = match client.get_policy() {
        Ok(p) => p,
        Err(e) => return api_failure(&e, "nothing was sent"),
    };
    let Some(etag) = server.etag.clone() else {
        error_line(format!(
            "{} sent the policy without an ETag, so a write could not be made conditional; nothing was written",
            client.host()
        ));
        return EXIT_RUNTIME;
    };
    eprintln!(
        "tsacl: read the policy of {tailnet} from {} (ETag \"{etag}\")",
        client.host()
    );

    // 3. The server's validation (and the policy's tests).
    if let Err(code) = server_validation(&mut client, &local, &shown, file, args.fail_on_warnings) {
        return code;
    }

    // 4. Up to date?
    let server_fmt = remote::formatted(&server.body);
    if server_fmt == local_fmt {
        eprintln!("tsacl: {tailnet} is up to date with {shown}; nothing to push");
        return EXIT_CLEAN;
    }

    // 5. Drift. A policy from elsewhere is overwritten only when nobody ever edited it:
    // the write is then made with `If-Match: "ts-default"` (as Terraform's provider
    // makes its first write), which the server refuses once the tailnet's policy has
    // been saved by anyone, and that refusal is the drift refusal.
    let mut untouched_only: Option<String> = None;
    // Principals by the intents' names (services and tagged devices, with their tags).
    let names = remote::intents_names(&target);
    match gitsync::provenance(file, &server.body) {
        Provenance::Committed {
            commit,
            subject,
            newest,
        } => {
            eprintln!(
                "tsacl: the server's policy is {shown} as committed in {} ({subject:?}){}",
                short(&commit),
                if newest { ", its newest commit" } else { "" }
            );
        }
        Provenance::Drifted { newest, versions } => {
            eprintln!(
                "tsacl: drift: the server's policy was changed outside this repository; it matches none of the {versions} committed version{} of {shown}",
                if versions == 1 { "" } else { "s" }
            );
            // When the file is the newest committed version, the server's changes are
            // exactly what the push undoes: shown once, below, as the push's changes.
            let shown_below = newest
                .as_ref()
                .is_some_and(|(_, committed)| remote::formatted(committed) == local_fmt);
            if shown_below {
                eprintln!(
                    "tsacl: a push undoes the changes made on the server: they are the changes shown below, read backwards"
                );
            } else if let Some((commit, committed)) = newest {
                eprintln!(
                    "tsacl: changes made on the server (since {shown} at {}):",
                    short(&commit)
                );
                eprint!(
                    "{}",
                    remote::show_changes_named(
                        &format!("{shown} at {}", short(&commit)),
                        &committed,
                        "server",
                        &server.body,
                        color,
                        &names
                    )
                );
            }
            if !args.force {
                let keep = match &target.project {
                    Some(p) => format!(
                        "Write them into {} (the changes are shown above), run `tsacl compile`, commit, \
                         and push again",
                        p.sources()
                    ),
                    None => format!(
                        "Bring them into {shown} (`tsacl pull -o {shown}`, re-apply your edits, commit)"
                    ),
                };
                untouched_only = Some(format!(
                    "refusing to push: it would overwrite the changes made on the server. {keep}, or push anyway with --force"
                ));
            } else {
                eprintln!(
                    "tsacl: warning: --force: the changes made on the server will be overwritten"
                );
            }
        }
        Provenance::Unknown { reason } => {
            eprintln!(
                "tsacl: cannot tell whether the server's policy was pushed from this repository: {reason}"
            );
            if !args.force {
                let adopt = match &target.project {
                    Some(p) => format!(
                        "Commit {shown} (`tsacl diff --remote` shows what the server holds; keep what you \
                         need by writing it into {} and running `tsacl compile`)",
                        p.sources()
                    ),
                    None => format!(
                        "Commit {shown} (after `tsacl pull -o {shown}` to adopt the server's policy)"
                    ),
                };
                untouched_only = Some(format!(
                    "refusing to push: the server's policy may hold changes made elsewhere. {adopt}, or push anyway with --force"
                ));
            } else {
                eprintln!(
                    "tsacl: warning: --force: pushing without knowing where the server's policy came from"
                );
            }
        }
    }

    if untouched_only.is_some() {
        eprintln!(
            "tsacl: the server's policy is not from this repository; it is replaced only if the tailnet's \
             policy was never edited (the write is conditional on If-Match: \"ts-default\"), else the push \
             is refused as drift"
        );
    }

    // 6. The changes.
    eprintln!("tsacl: changes a push makes (server → {shown}):");
    eprint!(
        "{}",
        remote::show_changes_named("server", &server.body, &shown, &local, color, &names)
    );
    // Drift is judged against committed versions: pushing one that is not makes the
    // next push refuse.
    match gitsync::provenance(file, &local) {
        Provenance::Committed { .. } => {}
        Provenance::Drifted { .. } => eprintln!(
            "tsacl: warning: {shown} has changes that are not committed; commit them after pushing, or the next \
             push will take the server's policy for drift"
        ),
        Provenance::Unknown { reason } => eprintln!(
            "tsacl: warning: {reason}; until {shown} is committed, the next push will not be able to tell \
             this policy from drift"
        ),
    }

    // 7. Dry run, confirmation.
    if args.dry_run {
        eprintln!("tsacl: --dry-run: changes are pending; nothing was written");
        return EXIT_FINDINGS;
    }
    if !args.yes {
        match remote::confirm(&format!("Push {shown} to {tailnet}?")) {
            Confirm::Yes => {}
            Confirm::No => {
                eprintln!("tsacl: not pushed; the server keeps its policy");
                return EXIT_FINDINGS;
            }
            Confirm::NoTerminal => {
                error_line(
                    "refusing to push without --yes: standard input is not a terminal to ask on; nothing was written",
                );
                return EXIT_USAGE;
            }
        }
    }

    // 8. The conditional write.
    let if_match = if untouched_only.is_some() {
        "ts-default"
    } else {
        etag.as_str()
    };
    write(
        &mut client,
        &shown,
        &local,
        &server,
        if_match,
        untouched_only.as_deref(),
        &tailnet,
        color,
    )
}

/// The conditional write. `drift`: the write is `If-Match: "ts-default"` and a 412
/// means the tailnet's policy had been edited, so it is refused with this message.
#[allow(clippy::too_many_arguments)]
fn write(
    client: &mut Client,
    shown: &str,
    local: &[u8],
    before: &RemotePolicy,
    etag: &str,
    drift: Option<&str>,
    tailnet: &str,
    color: bool,
) -> u8 {
    let local_fmt = remote::formatted(local);
    match client.set_policy(local, etag) {
        Ok(WriteOutcome::Written { etag, .. }) => {
            eprintln!(
                "tsacl: pushed {shown} to {tailnet}{}{}",
                etag.map(|e| format!(" (new ETag \"{e}\")"))
                    .unwrap_or_default(),
                if drift.is_some() {
                    "; its policy had never been edited"
                } else {
                    ""
                }
            );
            EXIT_CLEAN
        }
        Ok(WriteOutcome::PreconditionFailed { tries }) => match client.get_policy() {
            Ok(now) if remote::formatted(&now.body) == local_fmt => {
                // A retried write whose first try landed, or a concurrent push of the
                // same policy: the server holds ours.
                eprintln!(
                    "tsacl: pushed {shown} to {tailnet}{}",
                    if tries > 1 {
                        " (an earlier try of the write went through)"
                    } else {
                        " (the server already held it)"
                    }
                );
                EXIT_CLEAN
            }
            Ok(_) if drift.is_some() => {
                // The tailnet's policy was edited at some point: the drift refusal.
                error_line(format!(
                    "{}; nothing was written",
                    drift.unwrap_or_default()
                ));
                EXIT_FINDINGS
            }
            Ok(now) => {
                error_line(
                    "the server's policy changed while pushing (412 Precondition Failed); nothing was written, \
                     the server keeps the policy someone else saved. Changes made on the server since tsacl read it:",
                );
                eprint!(
                    "{}",
                    remote::show_changes(
                        "server (read before)",
                        &before.body,
                        "server (now)",
                        &now.body,
                        color
                    )
                );
                error_line("review them, bring them into your file if needed, and push again");
                EXIT_RUNTIME
            }
            Err(e) => {
                error_line(format!(
                    "the server's policy changed while pushing (412 Precondition Failed); nothing was written. \
                     Reading it again failed: {e}"
                ));
                EXIT_RUNTIME
            }
        },
        Err(e) if e.surely_not_applied() => {
            api_failure(&e, "nothing was written; the server keeps its old policy")
        }
        Err(e) => {
            error_line(&e);
            // The write may or may not have happened: look.
            match client.get_policy() {
                Ok(now) if remote::formatted(&now.body) == local_fmt => {
                    eprintln!(
                        "tsacl: the write went through despite the error: the server holds {shown}"
                    );
                    EXIT_CLEAN
                }
                Ok(now) if remote::formatted(&now.body) == remote::formatted(&before.body) => {
                    if matches!(e, ApiError::Timeout { .. }) {
                        error_line(format!(
                            "the server still holds the old policy; the write that timed out could still replace it \
                             with {shown} (whole, never a mix: it is conditional on the old ETag). Run \
                             `tsacl diff --remote {shown}` to see which the server holds"
                        ));
                    } else {
                        error_line("nothing was written: the server still holds the old policy");
                    }
                    EXIT_RUNTIME
                }
                Ok(_) => {
                    error_line(
                        "the server now holds a policy that is neither the old one nor yours (someone else \
                         wrote it); run `tsacl diff --remote` to see it",
                    );
                    EXIT_RUNTIME
                }
                Err(e2) => {
                    error_line(format!(
                        "cannot tell whether the write happened (reading the policy again failed: {e2}); \
                         the server holds either the old policy or {shown}, never a mix. Run `tsacl diff --remote {shown}` to see which"
                    ));
                    EXIT_RUNTIME
                }
            }
        }
    }
}

/// Print an API error and what it means for the push; returns its exit code.
fn api_failure(e: &ApiError, consequence: &str) -> u8 {
    match e {
        // The server's per-test details, one per line, after the message.
        ApiError::Rejected {
            status,
            message,
            details,
        } if !details.is_empty() => {
            error_line(format!(
                "the server rejected the policy ({status}): {message}; {consequence}"
            ));
            for d in details {
                eprintln!("  - {d}");
            }
        }
        _ => error_line(format!("{e}; {consequence}")),
    }
    e.exit_code()
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// `POST /acl/validate`: the server's own validation and the policy's tests. On failure,
/// the exit code (what was wrong is printed).
fn server_validation(
    client: &mut Client,
    local: &[u8],
    shown: &str,
    file: &std::path::Path,
    fail_on_warnings: bool,
) -> Result<(), u8> {
    let standardized = match hujson::standardize(local) {
        Ok(s) => s,
        Err(e) => {
            error_line(format!("{shown}: {e}"));
            return Err(EXIT_FINDINGS);
        }
    };
    match client.validate(&standardized) {
        Ok(Validation::Accepted { warnings }) => {
            for w in &warnings {
                eprintln!(
                    "tsacl: warning: the server says: {}",
                    remote::locate_message(file, w)
                );
            }
            if fail_on_warnings && !warnings.is_empty() {
                error_line(format!(
                    "the server accepted {shown} with {} warning{}, and --fail-on-warnings makes that a failure; nothing was written",
                    warnings.len(),
                    if warnings.len() == 1 { "" } else { "s" }
                ));
                return Err(EXIT_FINDINGS);
            }
            eprintln!("tsacl: the server validated {shown}");
            Ok(())
        }
        Ok(Validation::Rejected { message, details }) => {
            error_line(format!(
                "the server rejected {shown}: {}",
                remote::locate_message(file, &message)
            ));
            for d in &details {
                eprintln!("  - {}", remote::locate_message(file, d));
            }
            error_line("nothing was written");
            Err(EXIT_FINDINGS)
        }
        Err(e) => Err(api_failure(&e, "nothing was written")),
    }
}
