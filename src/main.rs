// tsacl allocates many small strings and vectors (one per selector and rule); mimalloc
// makes checking a large policy about a third faster than the system allocator
// (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tsacl::cli::main()
}
