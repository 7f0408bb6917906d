//! `tsacl pull [-o FILE] [--inventory FILE]`: the server's policy as HuJSON, comments
//! kept, and optionally its devices and users for offline analysis.

use super::remote::{self, ApiArgs};
use super::{EXIT_CLEAN, EXIT_RUNTIME, error_line};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(after_long_help = remote::API_ENV_HELP)]
pub struct PullArgs {
    /// Write the policy to FILE (atomically) instead of standard output
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Also save the tailnet's devices and users to FILE, as
    /// {"devices": [...], "users": [...]} (the inventory format `--inventory` reads)
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,

    #[command(flatten)]
    pub api: ApiArgs,
}

pub fn run(args: PullArgs) -> u8 {
    let mut client = match remote::client(&args.api) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let tailnet = remote::tailnet_label(&client);
    // Read everything first, so a failure writes nothing.
    let policy = match client.get_policy() {
        Ok(p) => p,
        Err(e) => {
            error_line(format!("{e}; nothing was written"));
            return e.exit_code();
        }
    };
    // The inventory goes to a file beside its destination as it is read (tens of
    // thousands of devices do not fit comfortably in memory), and replaces the
    // destination only once the policy is written too.
    let inventory = match &args.inventory {
        None => None,
        Some(path) => {
            let mut staged = match crate::fsutil::Staged::new(path) {
                Ok(s) => s,
                Err(e) => {
                    error_line(format!(
                        "cannot write {}: {e}; nothing was written",
                        path.display()
                    ));
                    return EXIT_RUNTIME;
                }
            };
            let mut out = std::io::BufWriter::new(staged.file());
            let written = client.write_inventory(&mut out);
            let flushed = out.flush();
            drop(out);
            match (written, flushed) {
                (Ok(counts), Ok(())) => Some((staged, counts)),
                (Err(e), _) => {
                    error_line(format!("{e}; nothing was written"));
                    return e.exit_code();
                }
                (_, Err(e)) => {
                    error_line(format!(
                        "cannot write {}: {e}; nothing was written",
                        path.display()
                    ));
                    return EXIT_RUNTIME;
                }
            }
        }
    };
    // In an intents project the policy is generated: say where changes belong.
    let project = match &args.output {
        Some(path) => remote::compiled_by(path).ok().flatten(),
        None => std::env::current_dir()
            .ok()
            .and_then(|d| crate::intents::find(&d))
            .and_then(|i| remote::project_names(&i).ok())
            .map(|(_, names)| names),
    };
    let etag = policy
        .etag
        .as_deref()
        .map(|e| format!(" (ETag \"{e}\")"))
        .unwrap_or_default();
    match &args.output {
        Some(path) => {
            if let Err(e) = crate::fsutil::write_atomic(path, &policy.body) {
                error_line(format!("cannot write {}: {e}", path.display()));
                return EXIT_RUNTIME;
            }
            eprintln!(
                "tsacl: pulled the policy of {tailnet} into {}{etag}",
                path.display()
            );
        }
        None => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = out.write_all(&policy.body).and_then(|()| out.flush()) {
                error_line(format!("cannot write standard output: {e}"));
                return EXIT_RUNTIME;
            }
            eprintln!("tsacl: pulled the policy of {tailnet}{etag}");
        }
    }
    if let Some(p) = &project {
        let keep = format!(
            "to keep changes made on the server, write them into {} and run `tsacl compile` \
             (`tsacl diff --remote` shows them)",
            p.sources()
        );
        match &args.output {
            Some(path) => eprintln!(
                "tsacl: warning: {} is generated from {}: `tsacl check` will find it stale and `tsacl compile` \
                 will overwrite it; {keep}",
                path.display(),
                p.intents_shown
            ),
            None => eprintln!(
                "tsacl: note: this repository's policy is generated from {}; {keep}",
                p.intents_shown
            ),
        }
    }
    if let (Some(path), Some((staged, (devices, users)))) = (&args.inventory, inventory) {
        if let Err(e) = staged.commit() {
            error_line(format!("cannot write {}: {e}", path.display()));
            return EXIT_RUNTIME;
        }
        eprintln!(
            "tsacl: saved {devices} devices and {users} users into {}",
            path.display()
        );
    }
    EXIT_CLEAN
}
