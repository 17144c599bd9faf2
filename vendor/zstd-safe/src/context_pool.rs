//! kinesink patch: a small process-wide pool of compression and decompression contexts.
//!
//! Why: parquet-rs creates a `zstd::bulk::Compressor` AND a `Decompressor` for every column
//! chunk it writes. `ZSTD_createCCtx`/`ZSTD_createDCtx` each run `cpuid` three times (zstd
//! 1.5.7 `ZSTD_cpuSupportsBmi2`), which traps to the hypervisor on every virtual machine;
//! with ~7,000 column chunks per million events that was ~5% of kinesink's CPU on a 2-vCPU VM,
//! plus a fresh allocation per context (a decompression context is ~160 KiB).
//!
//! What it guarantees: a context handed out again has been reset with
//! `ZSTD_reset_session_and_parameters`, which zstd documents as returning it to the state of a
//! new context (no frame in progress, every parameter at its default, no dictionary) while it
//! keeps its allocations and its CPU feature flags (the same machine). Only contexts that never
//! used worker threads and were not poisoned by an error are kept; a reset that fails frees the
//! context. At most [`POOLED_CCTXS`] compression and [`POOLED_DCTXS`] decompression contexts
//! are kept; the rest are freed.

use core::ptr::NonNull;
use std::sync::Mutex;
use std::vec::Vec;

/// Compression contexts kept: a Parquet row group of N leaf columns holds N of each kind while
/// it is written, and kinesink encodes on two or three threads at once. 24 was too few for wide
/// records (41 leaf columns: 17 of each kind created and freed per row group, 15% of the
/// worker's CPU on that shape); 64 covers ~60 columns on one thread. The pool only ever holds
/// contexts that were alive at the same time before, so it adds nothing to the peak; at most
/// ~90 MiB when all are parked with the workspace of a 1 MiB page.
const POOLED_CCTXS: usize = 64;

/// Decompression contexts kept (parquet-rs makes one per column chunk it writes and never uses
/// it; ~94 KiB each, at most ~12 MiB parked).
const POOLED_DCTXS: usize = 128;

/// An owned context pointer parked in the pool. zstd contexts are plain heap allocations with
/// no thread affinity, like `CCtx`/`DCtx` themselves (which are `Send`).
struct Parked<T>(NonNull<T>);

// Safety: see `Parked`.
unsafe impl<T> Send for Parked<T> {}

static CCTXS: Mutex<Vec<Parked<zstd_sys::ZSTD_CCtx>>> = Mutex::new(Vec::new());
static DCTXS: Mutex<Vec<Parked<zstd_sys::ZSTD_DCtx>>> = Mutex::new(Vec::new());

/// A pooled compression context, if one is parked.
pub(crate) fn take_cctx() -> Option<*mut zstd_sys::ZSTD_CCtx> {
    CCTXS.lock().ok()?.pop().map(|p| p.0.as_ptr())
}

/// A pooled decompression context, if one is parked.
pub(crate) fn take_dctx() -> Option<*mut zstd_sys::ZSTD_DCtx> {
    DCTXS.lock().ok()?.pop().map(|p| p.0.as_ptr())
}

/// Resets `context` and parks it; `false` (the caller frees it) when the reset fails or the
/// pool is full.
pub(crate) fn give_cctx(context: NonNull<zstd_sys::ZSTD_CCtx>) -> bool {
    let Ok(mut pool) = CCTXS.lock() else {
        return false;
    };
    if pool.len() >= POOLED_CCTXS {
        return false;
    }
    // Safety: the caller owns the context and gives it up if this returns true.
    let code = unsafe {
        zstd_sys::ZSTD_CCtx_reset(
            context.as_ptr(),
            zstd_sys::ZSTD_ResetDirective::ZSTD_reset_session_and_parameters,
        )
    };
    // Safety: pure function of the code.
    if unsafe { zstd_sys::ZSTD_isError(code) } != 0 {
        return false;
    }
    pool.push(Parked(context));
    true
}

/// As [`give_cctx`], for a decompression context.
pub(crate) fn give_dctx(context: NonNull<zstd_sys::ZSTD_DCtx>) -> bool {
    let Ok(mut pool) = DCTXS.lock() else {
        return false;
    };
    if pool.len() >= POOLED_DCTXS {
        return false;
    }
    // Safety: as in `give_cctx`.
    let code = unsafe {
        zstd_sys::ZSTD_DCtx_reset(
            context.as_ptr(),
            zstd_sys::ZSTD_ResetDirective::ZSTD_reset_session_and_parameters,
        )
    };
    // Safety: pure function of the code.
    if unsafe { zstd_sys::ZSTD_isError(code) } != 0 {
        return false;
    }
    pool.push(Parked(context));
    true
}
