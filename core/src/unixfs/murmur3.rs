//! MurmurHash3 x64 128 (Austin Appleby's `MurmurHash3_x64_128`), and the 64-bit hash UnixFS
//! HAMTs use (multihash `murmur3-x64-64`, code 0x22): the first half, `h1`, of the 128-bit
//! hash with seed 0.
//!
//! [`Murmur3x64`] hashes incrementally (a 16-byte block buffer, no `alloc`), so that a name
//! and the one extra byte of a HAMT's deeper hash rounds hash without a copy.
//!
//! # Q&A
//! *Why not a crate?* `murmur3` (0.5) reads through `std::io::Read`; `fastmurmur3` is not
//! `no_std` and its fast path is `unsafe` C. The function is forty lines.
//!
//! *Byte order?* The 128-bit digest is `h1` then `h2`, each big-endian, as kubo
//! (`spaolacci/murmur3`'s `Sum128`) and `@multiformats/murmur3` write it; a HAMT takes its
//! bucket indexes from `h1`'s bytes most significant first.

const C1: u64 = 0x87c3_7b91_1142_53d5;
const C2: u64 = 0x4cf5_ad43_2745_937f;

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

fn mix_k1(k1: u64) -> u64 {
    k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2)
}

fn mix_k2(k2: u64) -> u64 {
    k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1)
}

/// An incremental MurmurHash3 x64 128 hasher.
#[derive(Clone, Debug)]
pub struct Murmur3x64 {
    h1: u64,
    h2: u64,
    tail: [u8; 16],
    tail_len: usize,
    total: u64,
}

impl Murmur3x64 {
    /// A hasher with `seed` (0 for UnixFS).
    pub const fn new(seed: u32) -> Self {
        Murmur3x64 {
            h1: seed as u64,
            h2: seed as u64,
            tail: [0; 16],
            tail_len: 0,
            total: 0,
        }
    }

    fn block(&mut self, block: &[u8; 16]) {
        let (lo, hi) = block.split_at(8);
        let k1 = u64::from_le_bytes(lo.try_into().expect("8 of 16 bytes"));
        let k2 = u64::from_le_bytes(hi.try_into().expect("8 of 16 bytes"));
        self.h1 ^= mix_k1(k1);
        self.h1 = self
            .h1
            .rotate_left(27)
            .wrapping_add(self.h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        self.h2 ^= mix_k2(k2);
        self.h2 = self
            .h2
            .rotate_left(31)
            .wrapping_add(self.h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }

    /// Hashes `bytes` after what came before.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.total = self.total.wrapping_add(bytes.len() as u64);
        if self.tail_len > 0 {
            let take = (16 - self.tail_len).min(bytes.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&bytes[..take]);
            self.tail_len += take;
            bytes = &bytes[take..];
            if self.tail_len < 16 {
                return;
            }
            let block = self.tail;
            self.block(&block);
            self.tail_len = 0;
        }
        let mut blocks = bytes.chunks_exact(16);
        for block in &mut blocks {
            self.block(block.try_into().expect("chunks_exact(16)"));
        }
        let rest = blocks.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    /// The 128-bit hash as `(h1, h2)`.
    pub fn finish128(&self) -> (u64, u64) {
        let (mut h1, mut h2) = (self.h1, self.h2);
        let tail = &self.tail[..self.tail_len];
        let word = |bytes: &[u8]| {
            let mut padded = [0u8; 8];
            padded[..bytes.len()].copy_from_slice(bytes);
            u64::from_le_bytes(padded)
        };
        if tail.len() > 8 {
            h2 ^= mix_k2(word(&tail[8..]));
        }
        if !tail.is_empty() {
            h1 ^= mix_k1(word(&tail[..tail.len().min(8)]));
        }
        h1 ^= self.total;
        h2 ^= self.total;
        h1 = h1.wrapping_add(h2);
        h2 = h2.wrapping_add(h1);
        h1 = fmix64(h1);
        h2 = fmix64(h2);
        h1 = h1.wrapping_add(h2);
        h2 = h2.wrapping_add(h1);
        (h1, h2)
    }

    /// The 128-bit digest: `h1` then `h2`, big-endian.
    pub fn finish_bytes(&self) -> [u8; 16] {
        let (h1, h2) = self.finish128();
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&h1.to_be_bytes());
        out[8..].copy_from_slice(&h2.to_be_bytes());
        out
    }
}

/// MurmurHash3 x64 128 of `bytes` with `seed`, as `(h1, h2)`.
pub fn murmur3_x64_128(bytes: &[u8], seed: u32) -> (u64, u64) {
    let mut h = Murmur3x64::new(seed);
    h.update(bytes);
    h.finish128()
}

/// The UnixFS HAMT hash (`murmur3-x64-64`): `h1` of MurmurHash3 x64 128 with seed 0.
pub fn murmur3_x64_64(bytes: &[u8]) -> u64 {
    murmur3_x64_128(bytes, 0).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// spaolacci/murmur3 `murmur_test.go` (the Go murmur3 kubo's HAMT uses): seed, h1, h2, key.
    const GO_VECTORS: [(u32, u64, u64, &str); 15] = [
        (0x00, 0x0000000000000000, 0x0000000000000000, ""),
        (0x00, 0xcbd8a7b341bd9b02, 0x5b1e906a48ae1d19, "hello"),
        (0x00, 0x342fac623a5ebc8e, 0x4cdcbc079642414d, "hello, world"),
        (
            0x00,
            0xb89e5988b737affc,
            0x664fc2950231b2cb,
            "19 Jan 2038 at 3:14:07 AM",
        ),
        (
            0x00,
            0xcd99481f9ee902c9,
            0x695da1a38987b6e7,
            "The quick brown fox jumps over the lazy dog.",
        ),
        (0x01, 0x4610abe56eff5cb5, 0x51622daa78f83583, ""),
        (0x01, 0xa78ddff5adae8d10, 0x128900ef20900135, "hello"),
        (0x01, 0x8b95f808840725c6, 0x1597ed5422bd493b, "hello, world"),
        (
            0x01,
            0x2a929de9c8f97b2f,
            0x56a41d99af43a2db,
            "19 Jan 2038 at 3:14:07 AM",
        ),
        (
            0x01,
            0xfb3325171f9744da,
            0xaaf8b92a5f722952,
            "The quick brown fox jumps over the lazy dog.",
        ),
        (0x2a, 0xf02aa77dfa1b8523, 0xd1016610da11cbb9, ""),
        (0x2a, 0xc4b8b3c960af6f08, 0x2334b875b0efbc7a, "hello"),
        (0x2a, 0xb91864d797caa956, 0xd5d139a55afe6150, "hello, world"),
        (
            0x2a,
            0xfd8f19ebdc8c6b6a,
            0xd30fdc310fa08ff9,
            "19 Jan 2038 at 3:14:07 AM",
        ),
        (
            0x2a,
            0x74f33c659cda5af7,
            0x4ec7a891caf316f0,
            "The quick brown fox jumps over the lazy dog.",
        ),
    ];

    #[test]
    fn go_murmur3_reference_strings() {
        for (seed, h1, h2, key) in GO_VECTORS {
            assert_eq!(
                murmur3_x64_128(key.as_bytes(), seed),
                (h1, h2),
                "{key:?} seed {seed}"
            );
        }
        assert_eq!(murmur3_x64_64(b"hello"), 0xcbd8a7b341bd9b02);
    }

    /// SMHasher's `VerificationTest` (aappleby/smhasher `src/KeysetTest.cpp`, value from
    /// `src/main.cpp`: `MurmurHash3_x64_128 ... 0x6384BA69`): key `i` is the bytes `0..i` hashed
    /// with seed `256 - i`; the 256 digests (little-endian words, as the C code stores them)
    /// hashed with seed 0 give a digest whose first little-endian `u32` is the value.
    #[test]
    fn smhasher_verification_value() {
        let mut key = [0u8; 256];
        let mut hashes = [0u8; 256 * 16];
        for i in 0..256usize {
            key[i] = i as u8;
            let (h1, h2) = murmur3_x64_128(&key[..i], 256 - i as u32);
            hashes[i * 16..i * 16 + 8].copy_from_slice(&h1.to_le_bytes());
            hashes[i * 16 + 8..i * 16 + 16].copy_from_slice(&h2.to_le_bytes());
        }
        let (h1, _) = murmur3_x64_128(&hashes, 0);
        assert_eq!(h1 as u32, 0x6384_ba69);
    }

    proptest! {
        #[test]
        fn incremental_equals_one_shot(bytes in proptest::collection::vec(any::<u8>(), 0..100), cut in 0usize..100, seed: u32) {
            let cut = cut.min(bytes.len());
            let mut h = Murmur3x64::new(seed);
            h.update(&bytes[..cut]);
            h.update(&bytes[cut..]);
            prop_assert_eq!(h.finish128(), murmur3_x64_128(&bytes, seed));
        }
    }
}
