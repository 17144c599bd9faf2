//! The kinesink command line.

fn main() -> std::process::ExitCode {
    kinesink::cli::main()
}
