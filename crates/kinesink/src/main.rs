//! The kinesink command line.

/// mimalloc: the pipeline allocates and frees a few small buffers per record (user records,
/// partition keys); mimalloc's thread-local free lists make that markedly cheaper than glibc's
/// malloc (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kinesink::cli::main()
}
