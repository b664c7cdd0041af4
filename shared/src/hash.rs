//! Stable hashes: the same value in every build, process and release.
//!
//! Keys, shards, samples and deduplication sets are derived from these, so they must never
//! change with a compiler or library upgrade (std's hashers make no such promise).

/// FNV-1a, 64 bits.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// FNV-1a followed by splitmix64's finalizer: every output bit depends on every input bit, so
/// truncating the result (to 48 bits, say) keeps its spread.
pub fn mixed64(bytes: &[u8]) -> u64 {
    let mut z = fnv1a64(bytes);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Which of `buckets` a text falls in (shards, scan segments).
pub fn bucket(text: &str, buckets: u32) -> u32 {
    (fnv1a64(text.as_bytes()) % u64::from(buckets.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_the_published_fnv_values() {
        // Reference values of FNV-1a 64 (Fowler, Noll, Vo).
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn mixing_spreads_similar_inputs() {
        let a = mixed64(b"evt-1") >> 16;
        let b = mixed64(b"evt-2") >> 16;
        assert!((a ^ b).count_ones() > 8, "{a:x} vs {b:x}");
        assert!(bucket("C#x", 7) < 7);
    }
}
