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
    let inventory = match &args.inventory {
        None => None,
        Some(_) => {
            let lists = client.devices().and_then(|d| Ok((d, client.users()?)));
            match lists {
                Ok((devices, users)) => {
                    let doc = serde_json::json!({"devices": devices, "users": users});
                    let mut text = serde_json::to_vec_pretty(&doc).expect("JSON values serialize");
                    text.push(b'\n');
                    Some(text)
                }
                Err(e) => {
                    error_line(format!("{e}; nothing was written"));
                    return e.exit_code();
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
    if let (Some(path), Some(text)) = (&args.inventory, inventory) {
        if let Err(e) = crate::fsutil::write_atomic(path, &text) {
            error_line(format!("cannot write {}: {e}", path.display()));
            return EXIT_RUNTIME;
        }
        eprintln!("tsacl: saved devices and users into {}", path.display());
    }
    EXIT_CLEAN
}
