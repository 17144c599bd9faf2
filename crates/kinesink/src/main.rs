//! The kinesink command line.

/// mimalloc: the pipeline allocates and frees several small buffers per record in batches of
/// thousands (response records, positions, partition keys); glibc's malloc spent ~17% of the
/// worker's CPU on that (its per-thread cache holds 7 blocks per size), mimalloc 16% less CPU
/// in all (interleaved A/B with LD_PRELOAD, bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    keep_c_allocations_in_the_heap();
    kinesink::cli::main()
}

/// zstd (inside parquet-rs) allocates its compression workspace with the C library's malloc,
/// once per Parquet column chunk; glibc served those from fresh `mmap`s and unmapped them on
/// free, so every column chunk faulted in and zeroed new pages (~115,000 page faults per
/// million records). Serving them from the heap, and keeping freed heap memory for reuse,
/// leaves ~5,000 (bench/RESULTS.md).
fn keep_c_allocations_in_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's tuning parameters; called before any other thread
    // exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
    }
}
