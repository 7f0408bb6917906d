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
    tsacl::lsp::set_before_serving(keep_freed_memory);
    tsacl::cli::main()
}

/// mimalloc's `mi_option_purge_delay` (its place in `mi_option_e`, mimalloc.h;
/// libmimalloc-sys names no constant for it).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The language server checks a policy again on every edit, freeing and allocating about
/// as much each time. mimalloc gives freed memory back to the system after a second, and
/// the kernel zeroes it again when the next check takes it (2 MiB at a time with
/// transparent huge pages): a third of the time from an edit to its full check on a 1 MB
/// policy (BENCHMARKS.md). The server keeps freed memory for ten seconds instead, so an
/// editing session reuses it and an idle server still gives it back.
fn keep_freed_memory() {
    // SAFETY: sets an allocator option; mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 10_000) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `PURGE_DELAY` is the purge delay of the mimalloc linked in: its default (1000 ms in
    /// mimalloc 3) and not a neighbour's (14 and 16 default to 1 and 0).
    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        // SAFETY: reads allocator options.
        let get = |option| unsafe { libmimalloc_sys::mi_option_get(option) };
        assert_eq!(get(PURGE_DELAY), 1000);
        keep_freed_memory();
        assert_eq!(get(PURGE_DELAY), 10_000);
    }
}
