// tsacl allocates many small strings and vectors (one per selector and rule); mimalloc
// makes checking a large policy about a third faster than the system allocator
// (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Rust ignores SIGPIPE, so `tsacl explain ... | head` would panic on the closed pipe;
    // restore the default so the process ends quietly, like other command-line tools.
    #[cfg(unix)]
    // SAFETY: setting a signal disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tsacl::cli::main()
}
