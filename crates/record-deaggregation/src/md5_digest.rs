//! MD5 of a byte slice, computed by AWS-LC (already linked by the AWS SDK's TLS stack).
//!
//! Verifying the trailing MD5 is most of the cost of unpacking a KPL aggregate. AWS-LC's
//! assembly MD5 runs about 30% faster on x86_64 than the portable `md-5` crate (see the
//! `md5_ceiling` group of `benches/deaggregate.rs`), so it is used for both checking and
//! framing. `md-5` remains a dev-dependency: a test checks both agree.

/// The 16-byte MD5 digest of `bytes`. Pure: same bytes, same digest; never fails.
#[allow(unsafe_code)]
pub(crate) fn md5(bytes: &[u8]) -> [u8; 16] {
    let mut digest = [0_u8; 16];
    // SAFETY: `MD5` reads exactly `bytes.len()` bytes starting at `bytes.as_ptr()` (valid for
    // that length, also when empty) and writes exactly 16 bytes to `digest`; it keeps no pointer.
    unsafe {
        aws_lc_sys::MD5(bytes.as_ptr(), bytes.len(), digest.as_mut_ptr());
    }
    digest
}

/// Public for the benchmark's MD5 ceiling: the same function the deaggregator uses.
#[doc(hidden)]
pub fn md5_for_bench(bytes: &[u8]) -> [u8; 16] {
    md5(bytes)
}

#[cfg(test)]
mod tests {
    use md5::{Digest, Md5};
    use proptest::prelude::*;

    use super::md5;

    #[test]
    fn md5_of_known_inputs_matches_rfc_1321_test_suite() {
        let hex = |digest: [u8; 16]| {
            digest
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect::<String>()
        };
        assert_eq!(hex(md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex(md5(b"abc")), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            hex(md5(
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
            )),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
    }

    proptest! {
        #[test]
        fn md5_agrees_with_the_md5_crate_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..5000)) {
            let expected = Md5::digest(&bytes);
            let actual = md5(&bytes);
            prop_assert_eq!(actual.as_slice(), expected.as_slice());
        }
    }
}
