//! The kinesink command line, built inside this package so its tests can run it.

fn main() -> std::process::ExitCode {
    kinesink::cli::main()
}
