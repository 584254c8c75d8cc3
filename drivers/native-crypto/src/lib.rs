//! [`Native`]: a [`CryptoProvider`] for servers, with faster primitives than the portable ones.
//!
//! rhizo's protocol core is generic over [`CryptoProvider`]; firmware uses the core's
//! [`Portable`] (RustCrypto and `ed25519-compact`, no `alloc`, any
//! target). A server driver plugs `Native` instead, for example
//! `Connection<Native, HeapConnection>`: the bytes on the wire are the same (the tests of this
//! crate run the core's known answers, the Noise cacophony vector, and handshakes, whole
//! connections and AEAD frames between a `Native` and a `Portable` peer), only faster.
//!
//! | primitive | crate |
//! |---|---|
//! | ChaCha20-Poly1305 | `ring` 0.17 (`LessSafeKey`, detached tags) |
//! | SHA-256, HKDF-SHA256 | `Portable`'s: RustCrypto `sha2` 0.11 and `hkdf` 0.13 |
//! | X25519 | `Portable`'s: `ed25519-compact` (measured faster than `x25519-dalek` here) |
//! | ed25519 | `ed25519-dalek` 3 (`verify_strict`) |
//!
//! Measured against `Portable` in `benches/providers.rs`; the numbers are in BENCHMARKS.md
//! ("Crypto providers").
//!
//! # Q&A
//!
//! **Why `ring` for the AEAD, not RustCrypto's `chacha20poly1305` as in `Portable`?** `ring`
//! carries BoringSSL's assembly ChaCha20-Poly1305, which on x86-64 with AVX2 runs ChaCha20 and
//! Poly1305 in one stitched pass; it sealed and opened 64 KiB frames 1.7 times as fast as
//! `Portable` here (BENCHMARKS.md), and the AEAD is most of a connection's CPU time. `ring`
//! builds C and assembly for `std`-class targets, which is why it stays out of the core.
//!
//! **Why RustCrypto's `sha2` and `hkdf` for SHA-256 and HKDF, not `ring`'s?** Both use the CPU's
//! SHA extensions where present, and on the short inputs Noise hashes (a handshake's keys and
//! messages, 32-byte HKDF inputs) `sha2` was measured faster here: SHA-256 of 64 bytes in about
//! 0.7 of `ring`'s time, Noise's two-block HKDF in about 0.8 (on 64 KiB they are within the
//! noise of each other; BENCHMARKS.md). So `Native` reuses `Portable`'s implementations.
//!
//! **Why not `ring` for X25519 and ed25519?** `ring` offers X25519 only for
//! ephemeral keys (`agreement::EphemeralPrivateKey`, generated inside `ring`), but Noise's
//! static key and the test vectors need X25519 of a given secret; and `ring`'s ed25519 signs
//! from a PKCS#8 document, not from the 32-byte seed libp2p keys are. `curve25519-dalek` has
//! precomputed base-point tables and AVX2 Edwards arithmetic (chosen at run time), which is why
//! `ed25519-dalek` signs 2.8 times as fast as `ed25519-compact` here and verifies 1.2 times as
//! fast; ed25519-dalek is also what rust-libp2p's ed25519 keys use.
//!
//! **Why `Portable`'s X25519, not `x25519-dalek`?** Measured here (BENCHMARKS.md), one
//! `x25519-dalek` X25519 took about 1.4 times as long as `ed25519-compact`'s (the Montgomery
//! ladder gets neither curve25519-dalek's tables nor its vector code, and `ed25519-compact`'s
//! 64-bit field arithmetic is quicker), so `Native` keeps the portable one.
//!
//! **Why `verify_strict`, when rust-libp2p calls ed25519-dalek's plain `verify`?** All RFC 8032
//! test vectors are valid signatures, and both methods (and `ed25519-compact`) accept them. They
//! differ on edge cases: `ed25519-compact`, and so `Portable`, rejects a public key or a
//! signature `R` of small order, and so does `verify_strict`; plain `verify` accepts them (for
//! example the identity point as the key with `R` the identity and `S = 0` verifies for *every*
//! message). A node must not accept a signature with one provider and reject it with the
//! other, so `Native` matches `Portable`. The difference from rust-libp2p costs nothing with
//! honest peers: no key pair has a small-order public key, so only a forged or broken key is
//! rejected. (Differences from `ed25519-compact` remain on deliberately malformed signatures:
//! it checks the cofactored equation and dalek the cofactorless one, and they treat
//! non-canonical point encodings differently; no signer produces such signatures, and the tests
//! check that both providers agree on random keys and signatures.)
//!
//! **Why are the dalek keys rebuilt on every call?** The seam passes seeds and public keys as
//! bytes, so that providers keep no state; `Portable` does the same, so the benchmark compares
//! like with like. Expanding a seed is one SHA-512 and one base-point multiplication.

#![warn(missing_docs)]

use ed25519_dalek::Signer as _;
use rhizo_core::crypto::{AeadCipher, CryptoError, CryptoProvider, Portable, TAG_LEN};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, Tag, UnboundKey};

/// The server provider: `ring`'s ChaCha20-Poly1305, `ed25519-dalek`'s ed25519, and the
/// portable provider's X25519, SHA-256 and HKDF. Zero-sized; see the crate documentation for why these crates.
#[derive(Clone, Copy, Debug, Default)]
pub struct Native;

/// ChaCha20-Poly1305 from `ring`. Holds the 32 key bytes and keys `ring` on each call.
///
/// # Q&A
/// *Why not keep ring's `LessSafeKey`?* It is 544 bytes (an enum sized for AES key schedules),
/// two per connection, held by every idle connection; keying ChaCha20 is a 32-byte copy, which
/// is nothing next to sealing even a small frame.
#[derive(Clone)]
pub struct NativeCipher([u8; 32]);

impl NativeCipher {
    fn key(&self) -> LessSafeKey {
        let key = UnboundKey::new(&CHACHA20_POLY1305, &self.0)
            .expect("32 bytes is ChaCha20-Poly1305's key length");
        LessSafeKey::new(key)
    }
}

impl core::fmt::Debug for NativeCipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("NativeCipher(..)")
    }
}

/// Noise's ChaChaPoly nonce: 32 zero bits, then the counter in little-endian.
fn nonce(counter: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&counter.to_le_bytes());
    Nonce::assume_unique_for_key(bytes)
}

impl AeadCipher for NativeCipher {
    fn seal(&self, counter: u64, ad: &[u8], in_out: &mut [u8]) -> [u8; TAG_LEN] {
        let tag = self
            .key()
            .seal_in_place_separate_tag(nonce(counter), Aad::from(ad), in_out)
            .expect("ChaCha20-Poly1305 limits (256 GiB per message) are far above 64 KiB frames");
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        out
    }

    fn open(
        &self,
        counter: u64,
        ad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        self.key()
            .open_in_place_separate_tag(nonce(counter), Aad::from(ad), Tag::from(*tag), in_out, 0..)
            .map(|_| ())
            .map_err(|_| CryptoError::Decrypt)
    }
}

impl CryptoProvider for Native {
    type Cipher = NativeCipher;
    /// `Portable`'s SHA-256 (RustCrypto's `sha2`): see the crate's Q&A.
    type Sha256 = <Portable as CryptoProvider>::Sha256;

    fn cipher(key: &[u8; 32]) -> NativeCipher {
        NativeCipher(*key)
    }

    fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
        Portable::x25519_public(secret)
    }

    fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> Result<[u8; 32], CryptoError> {
        Portable::x25519(secret, public)
    }

    fn sha256() -> Self::Sha256 {
        Portable::sha256()
    }

    fn hkdf_sha256(salt: &[u8; 32], ikm: &[u8], out: &mut [[u8; 32]]) {
        Portable::hkdf_sha256(salt, ikm, out)
    }

    fn ed25519_public(seed: &[u8; 32]) -> [u8; 32] {
        ed25519_dalek::SigningKey::from_bytes(seed)
            .verifying_key()
            .to_bytes()
    }

    fn ed25519_sign(seed: &[u8; 32], msg: &[u8]) -> [u8; 64] {
        ed25519_dalek::SigningKey::from_bytes(seed)
            .sign(msg)
            .to_bytes()
    }

    fn ed25519_verify(public: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
        // Strict, to accept exactly what `Portable` accepts: see the crate's Q&A.
        ed25519_dalek::VerifyingKey::from_bytes(public).is_ok_and(|key| {
            key.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(sig))
                .is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Native;

    #[test]
    fn native_passes_the_known_answers() {
        rhizo_core::crypto::check_provider::<Native>();
    }
}
