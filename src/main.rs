fn main() -> std::process::ExitCode {
    tsacl::cli::main()
}
