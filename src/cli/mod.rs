//! The command line: argument parsing and the commands. The binary is `src/main.rs`,
//! which only calls [`main`].
//!
//! Exit codes (documented in the README): 0 clean, 1 findings, 2 usage or configuration
//! error (bad flag, unreadable file), 3 runtime failure.

mod check;
mod compile;
mod diff_remote;
mod explain;
mod filter;
mod fmt;
mod k8s;
mod lsp;
mod paths;
mod pull;
mod push;
mod remote;
mod rule;

use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::process::ExitCode;

/// `tsacl --version`: the version and the commit it was built from (see `build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("TSACL_COMMIT"),
    ")"
);

pub const EXIT_CLEAN: u8 = 0;
pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_RUNTIME: u8 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "tsacl",
    version = VERSION,
    about = "Compile, check, explain and push Tailscale tailnet policy files",
    long_about = "tsacl turns per-service access intents into a Tailscale tailnet policy file, checks \
policy files the way the control plane does (offline, without credentials), runs their tests, \
proves that reachability equals the intents, explains who can reach what and why, formats \
HuJSON byte-for-byte like Tailscale's own tools, and pushes safely through the API.\n\n\
Exit codes: 0 clean (warnings allowed), 1 findings, 2 usage or unreadable input, 3 runtime failure."
)]
pub struct Cli {
    /// When to use colour in human output (NO_COLOR is honoured with `auto`)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Annotated source snippets, on stderr
    Text,
    /// One JSON document, on stdout
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate policy files as the control plane would, lint them (including an exact audit of redundant rules), run their tests; with no FILE, check the intents: stale output, tests, reachability proof (services and SSH's port 22), and the Kubernetes manifests the intents name
    #[command(
        after_help = "Which findings, at which severity: --select and --ignore keep or drop codes; \
--severity CODE=LEVEL (error, warning, info, off) changes one, e.g. --severity TSA210=error \
--severity unused-group=off. The intents file can say the same in its `lint` section:\n\n  \
lint: { ignore: [\"TSA111\"], severity: { TSA210: \"error\", \"unused-group\": \"off\" } }\n\n\
The command line wins over the file. The effective severity is what every output format \
shows and what --fail-on and the exit code use. `tsacl rule --all` lists the codes."
    )]
    Check(check::CheckArgs),
    /// Compile the intents file into the tailnet policy file
    #[command(
        long_about = "Compile the intents file (and its base policy) into the tailnet policy file, \
atomically and deterministically.\n\n\
Nothing is written while `tsacl check` would report an error: in the intents, in the policy \
they compile to (validation, its tests), or in the proof that reachability equals the intents \
(a base rule opening a service beyond its `from` is TSA113). Then the diagnostics are printed, \
the exit code is 1 and the file on disk is left byte for byte as it was.\n\n\
The compiled `tests` make the control plane enforce the intents on every save: each source \
accepts its ports and is denied the next one, and every device, group, user and tag the \
intents name is denied each service not meant for it, and port 22 of each service's \
source device whose `ssh` intents do not name it. A `from` entry may give one source \
ports of its own, which replace the service's for it: \
from: [\"backup\", { source: \"ci-runner\", ports: [9001] }]."
    )]
    Compile(compile::CompileArgs),
    /// Print the manifests each service needs (Service annotations with the manifests' namespace, Funnel Ingresses), or check manifests against the intents (--check alone: the intents' k8s.manifests)
    K8s(k8s::K8sArgs),
    /// Format HuJSON policy files exactly as Tailscale's hujsonfmt does (not the JSON5 intents file)
    Fmt(fmt::FmtArgs),
    /// Explain a diagnostic code, or list them all
    Rule(rule::RuleArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the packet filter, SSH rules, node attributes and peers each device would receive
    Filter(filter::FilterArgs),
    /// Who can reach TARGET, on which ports, through which rule, which SSH rules let someone log in, and a service's Funnel path from the internet; or why SRC can or cannot
    Explain(explain::ExplainArgs),
    /// The reachability graph (sources to destinations, edges labelled with ports; the internet to each Funnel node; intents' names)
    Graph(explain::GraphArgs),
    /// Who can reach or become TARGET in a few hops (SSH, administrative ports, tag
    /// ownership, route approval, Funnel), each hop with its rule
    Paths(paths::PathsArgs),
    /// What SOURCE, if compromised, can become or reach in a few hops
    Blast(paths::BlastArgs),
    /// Push the intents project's compiled policy (or FILE): check as `tsacl check` does, validate, refuse drift, show changes, write with If-Match
    Push(push::PushArgs),
    /// Save the tailnet's policy (comments kept), and optionally its devices and users
    Pull(pull::PullArgs),
    /// Changes between two policy files, or the server's policy and a file (--remote)
    Diff(diff_remote::DiffArgs),
    /// Run the language server (LSP over stdio) for editors: diagnostics as you type, hover, go to definition, rename, completion, quick fixes, formatting
    #[command(
        long_about = "Run the language server: tsacl's checks inside an editor, speaking the Language \
Server Protocol over standard input and output. Editors start it themselves; you do not run it by hand.\n\n\
For policy files (*.hujson, and *.json files that name a policy section) and intents files \
(*.json5, with their base and output policies): diagnostics on open and as you type, exactly as \
`tsacl check` reports them (the same codes, severities, help and lint configuration); hover \
(what a tag, group, host or user is, who can reach it and through which rules, what a rule \
allows, a finding's explanation); go to definition, find references and rename; completion; \
quick fixes (\"did you mean\", remove unused definitions and redundant rules, add a \
tsacl-ignore comment); formatting identical to `tsacl fmt`.",
        after_help = "Settings (the client's initializationOptions, or workspace/didChangeConfiguration \
under \"tsacl\"): inventory (a path, relative to the workspace), tailnetDomains, select, ignore, \
severity ({\"TSA210\": \"error\"}): what `tsacl check` takes as --inventory, --tailnet-domain, \
--select, --ignore and --severity. Set-up for VS Code, Neovim and Helix: the README, \"In your editor\".\n\n\
Exit codes: 0 after the client's shutdown and exit; 1 on exit without shutdown, or when the \
client goes away (as the protocol says); 3 when the connection fails."
    )]
    Lsp(lsp::LspArgs),
}

/// Run the command line; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_CLEAN
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let color = use_color(cli.color);
    let code = match cli.command {
        Command::Check(args) => check::run(args, color),
        Command::Fmt(args) => fmt::run(args, color),
        Command::Compile(args) => compile::run(args, color),
        Command::K8s(args) => k8s::run(args, color),
        Command::Rule(args) => rule::run(args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "tsacl", &mut std::io::stdout());
            EXIT_CLEAN
        }
        Command::Filter(args) => filter::run(args, color),
        Command::Explain(args) => explain::run_explain(args, color),
        Command::Graph(args) => explain::run_graph(args, color),
        Command::Paths(args) => paths::run_paths(args, color),
        Command::Blast(args) => paths::run_blast(args, color),
        Command::Push(args) => push::run(args, color),
        Command::Pull(args) => pull::run(args),
        Command::Diff(args) => diff_remote::run(args, cli.color),
        Command::Lsp(args) => lsp::run(args),
    };
    ExitCode::from(code)
}

fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stderr().is_terminal()
        }
    }
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|w| *w >= 40)
        .unwrap_or(100)
}

/// The intents file: `--intents`, else `policies/tailnet.json5` found from the current
/// directory upward; `None` after printing why.
fn intents_path(given: &Option<std::path::PathBuf>) -> Option<std::path::PathBuf> {
    let found = given.clone().or_else(|| {
        std::env::current_dir()
            .ok()
            .and_then(|d| crate::intents::find(&d))
    });
    if found.is_none() {
        error_line(
            "no --intents given and no policies/tailnet.json5 here or in a parent directory",
        );
    }
    found
}

/// Find, read and compile the intents; on unreadable input or errors in them, print why
/// and return the exit code. `then` says what did not happen (`nothing was written`).
fn load_intents(
    given: &Option<std::path::PathBuf>,
    color: bool,
    then: &str,
) -> Result<crate::intents::project::Project, u8> {
    let path = intents_path(given).ok_or(EXIT_USAGE)?;
    let project = crate::intents::project::load(&path).map_err(|e| {
        error_line(e);
        EXIT_USAGE
    })?;
    if project.diagnostics.iter().any(|d| d.is_error()) {
        let style = crate::diagnostics::render::TextStyle {
            color,
            width: terminal_width(),
        };
        eprint!(
            "{}",
            crate::diagnostics::render::render_text(&project.sources, &project.diagnostics, style)
        );
        error_line(format!("the intents have errors{then}"));
        return Err(EXIT_FINDINGS);
    }
    Ok(project)
}

/// Read an inventory file, with a one-line error naming the file.
pub(crate) fn load_inventory(path: &std::path::Path) -> Result<crate::engine::Inventory, String> {
    let bytes = crate::fsutil::read_text_file(path)?;
    crate::engine::Inventory::from_json(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Print a one-line error the tsacl way.
fn error_line(message: impl std::fmt::Display) {
    eprintln!("tsacl: error: {message}");
}

/// Print a one-line warning the tsacl way.
fn warning_line(message: impl std::fmt::Display) {
    eprintln!("tsacl: warning: {message}");
}
