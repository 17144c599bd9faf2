//! The kinesink command line.

/// mimalloc: the pipeline allocates and frees several small buffers per record in batches of
/// thousands (response records, positions, partition keys); glibc's malloc spent ~17% of the
/// worker's CPU on that (its per-thread cache holds 7 blocks per size), mimalloc 16% less CPU
/// in all (interleaved A/B with LD_PRELOAD, bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    keep_c_allocations_in_the_heap();
    no_transparent_huge_pages();
    kinesink::cli::main()
}

/// Transparent huge pages cost more than they save here: the kernel clears a whole 2 MiB page
/// at the first touch of memory the heap grows into, which took up to half of a dry run's
/// time as system time. With them off (mimalloc's `no_thp`, and this for kernels that give
/// them without being asked) a dry run of 1M high-cardinality records took 0.8 s of system
/// time instead of 1.4-1.7 s, and 8-10% less wall time on two of three shapes, the third
/// unchanged (bench/RESULTS.md).
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE only sets a flag on this process's memory map.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
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
