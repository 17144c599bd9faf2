//! The zstd contexts parquet-rs creates per column chunk come from kinesink's patched
//! zstd-safe (vendor/zstd-safe), which parks dropped contexts and hands them out again. These
//! tests prove a handed-out context behaves exactly like a new one, whatever the previous user
//! set, so pooling can never change an object's bytes or fail a read.

use zstd::zstd_safe::{self, CCtx, CParameter, DCtx, DParameter};

fn sample(len: usize) -> Vec<u8> {
    // Compressible but not trivial: JSON-ish lines with a counter.
    let mut out = Vec::with_capacity(len);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(
            format!(
                "{{\"n\":{i},\"event\":\"click\",\"w\":{}}}\n",
                i * 7919 % 1000
            )
            .as_bytes(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}

/// What a context that was never pooled makes: `ZSTD_compress` uses a context of its own.
fn fresh_compress(data: &[u8], level: i32) -> Vec<u8> {
    let mut out = vec![0u8; zstd_safe::compress_bound(data.len())];
    let n = zstd_safe::compress(&mut out[..], data, level).unwrap();
    out.truncate(n);
    out
}

#[test]
fn a_context_given_back_after_other_settings_compresses_like_a_new_one() {
    let data = sample(300_000);
    for round in 0..12 {
        // Many contexts at once with unusual settings, a dictionary and a frame left unfinished,
        // then all dropped (parked).
        let mut used: Vec<CCtx<'static>> = (0..26).map(|_| CCtx::create()).collect();
        for (i, c) in used.iter_mut().enumerate() {
            c.set_parameter(CParameter::CompressionLevel(19 - (i as i32 % 5)))
                .unwrap();
            c.set_parameter(CParameter::ChecksumFlag(true)).unwrap();
            c.set_parameter(CParameter::WindowLog(10 + (round % 8)))
                .unwrap();
            if i % 3 == 0 {
                c.load_dictionary(b"{\"event\":\"click\",\"n\":").unwrap();
            }
            let mut out = [0u8; 64];
            let mut output = zstd_safe::OutBuffer::around(&mut out[..]);
            let mut input = zstd_safe::InBuffer::around(&data[..1000]);
            c.compress_stream(&mut output, &mut input).unwrap();
        }
        drop(used);
        // What parquet-rs does for each column chunk.
        let level = [1, 3, 9][round as usize % 3];
        let mut compressor = zstd::bulk::Compressor::new(level).unwrap();
        let pooled = compressor.compress(&data).unwrap();
        assert_eq!(
            pooled,
            fresh_compress(&data, level),
            "round {round}, level {level}"
        );
    }
}

#[test]
fn a_decompression_context_given_back_after_other_settings_reads_like_a_new_one() {
    let data = sample(100_000);
    let frame = fresh_compress(&data, 3);
    for _ in 0..10 {
        let mut used: Vec<DCtx<'static>> = (0..30).map(|_| DCtx::create()).collect();
        for d in &mut used {
            // A window limit too small for `frame`, and a dictionary it was not made with.
            d.set_parameter(DParameter::WindowLogMax(10)).unwrap();
            d.load_dictionary(b"unrelated dictionary text").unwrap();
        }
        drop(used);
        let mut decompressor = zstd::bulk::Decompressor::new().unwrap();
        assert_eq!(decompressor.decompress(&frame, data.len()).unwrap(), data);
    }
}

#[test]
fn a_parked_context_with_the_workspace_of_a_one_mib_page_stays_small() {
    // The pool keeps at most 64 compression and 128 decompression contexts
    // (vendor/zstd-safe/src/context_pool.rs); its documented worst cases, ~90 MiB and ~12 MiB,
    // assume at most 1.4 MiB per compression context at parquet-rs's default level after a
    // 1 MiB page and 96 KiB per decompression context.
    let data = sample(1 << 20);
    let mut compressor = zstd::bulk::Compressor::new(zstd::DEFAULT_COMPRESSION_LEVEL).unwrap();
    compressor.compress(&data).unwrap();
    let c = compressor.context_mut().sizeof();
    let d = DCtx::create().sizeof();
    eprintln!("compression context {c} B, decompression context {d} B");
    assert!(
        64 * c <= 90 << 20 && 128 * d <= 12 << 20,
        "compression {c} B, decompression {d} B per context"
    );
}
