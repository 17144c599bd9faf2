//! The kinesink command line, built inside this package so its tests can run it.

/// The same allocator as the released binary (see crates/kinesink/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kinesink::cli::main()
}
