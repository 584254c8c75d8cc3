//! [`Native`]: a [`CryptoProvider`] for servers, with the fastest primitives this machine has.
//!
//! rhizo's protocol core is generic over [`CryptoProvider`]; firmware uses the core's
//! [`Portable`](rhizo_core::crypto::Portable) (RustCrypto and `ed25519-compact`, no `alloc`, any
//! target). A server driver plugs `Native` instead, for example
//! `Connection<Native, HeapConnection>`: the bytes on the wire are the same (the tests of this
//! crate run the core's known answers, the Noise cacophony vector, and handshakes, whole
//! connections and AEAD frames between a `Native` and a `Portable` peer), only faster.
//!
//! | primitive | crate |
//! |---|---|
//! | ChaCha20-Poly1305 | `ring` 0.17 (`LessSafeKey`, detached tags) |
//! | SHA-256, HKDF-SHA256 | `ring` 0.17 (`digest`, `hkdf`) |
//! | X25519 | `x25519-dalek` 3 (`StaticSecret`) |
//! | ed25519 | `ed25519-dalek` 3 (`verify_strict`) |
//!
//! Measured against `Portable` in `benches/providers.rs`; the numbers are in BENCHMARKS.md
//! ("Crypto providers").
//!
//! # Q&A
//!
//! **Why `ring` for the AEAD, not RustCrypto's `chacha20poly1305` as in `Portable`?** `ring`
//! carries the assembly ChaCha20 and Poly1305 of BoringSSL/OpenSSL (AVX2 and AVX-512 on x86-64,
//! NEON on aarch64); RustCrypto's AVX2 backend is about half as fast on the AEAD here, and the
//! AEAD is most of a connection's CPU time. `ring` needs `std`-class targets and builds C and
//! assembly, which is why it stays out of the core.
//!
//! **Why `ring` for SHA-256 and HKDF?** Both `ring` and RustCrypto's `sha2` use the CPU's SHA
//! extensions where present; `ring` was measured at least as fast here (BENCHMARKS.md), and
//! taking HKDF from `ring` too keeps the provider on one hash implementation. Noise hashes only
//! small inputs, so this matters little either way.
//!
//! **Why the dalek crates for X25519 and ed25519, not `ring`?** `ring` offers X25519 only for
//! ephemeral keys (`agreement::EphemeralPrivateKey`, generated inside `ring`), but Noise's
//! static key and the test vectors need X25519 of a given secret; and `ring`'s ed25519 signs
//! from a PKCS#8 document, not from the 32-byte seed libp2p keys are. `curve25519-dalek` has
//! SIMD field arithmetic (AVX2, and AVX-512 IFMA where present) and precomputed base-point
//! tables, which is why `ed25519-dalek` signs about three times faster than `ed25519-compact`.
//!
//! **Why `verify_strict`, when rust-libp2p calls ed25519-dalek's plain `verify`?** All RFC 8032
//! test vectors are valid signatures, and both methods (and `ed25519-compact`) accept them. They
//! differ on edge cases: `ed25519-compact`, and so `Portable`, rejects a public key or a
//! signature `R` of small order, and so does `verify_strict`; plain `verify` accepts them (for
//! example the identity point as the key with `R` the identity and `S = 0` verifies for *every*
//! message). A node must not accept a signature with one provider and reject it with the
//! other, so `Native` matches `Portable`. The difference from rust-libp2p costs nothing with
//! honest peers: no key pair has a small-order public key, so only a forged or broken key is
//! rejected. (One difference from `ed25519-compact` remains: it checks the cofactored equation,
//! dalek the cofactorless one; they disagree only on signatures made with a deliberately mixed-in
//! small-order component, which no signer produces.)
//!
//! **Why are the dalek keys rebuilt on every call?** The seam passes seeds and public keys as
//! bytes, so that providers keep no state; `Portable` does the same, so the benchmark compares
//! like with like. Expanding a seed is one SHA-512 and one base-point multiplication.

#![warn(missing_docs)]

use ed25519_dalek::Signer as _;
use rhizo_core::crypto::{AeadCipher, CryptoError, CryptoProvider, Sha256Hasher, TAG_LEN};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, Tag, UnboundKey};

/// The server provider: `ring`'s ChaCha20-Poly1305, SHA-256 and HKDF, the dalek crates'
/// X25519 and ed25519. Zero-sized; see the crate documentation for why these crates.
#[derive(Clone, Copy, Debug, Default)]
pub struct Native;

/// ChaCha20-Poly1305 from `ring`, keyed once per Noise cipher state.
#[derive(Clone)]
pub struct NativeCipher(LessSafeKey);

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
            .0
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
        self.0
            .open_in_place_separate_tag(nonce(counter), Aad::from(ad), Tag::from(*tag), in_out, 0..)
            .map(|_| ())
            .map_err(|_| CryptoError::Decrypt)
    }
}

/// SHA-256 from `ring`.
#[derive(Clone)]
pub struct NativeSha256(ring::digest::Context);

impl core::fmt::Debug for NativeSha256 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("NativeSha256(..)")
    }
}

impl Sha256Hasher for NativeSha256 {
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    fn finish(self) -> [u8; 32] {
        let digest = self.0.finish();
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        out
    }
}

/// The output length `ring::hkdf` expands to.
struct OkmLen(usize);

impl ring::hkdf::KeyType for OkmLen {
    fn len(&self) -> usize {
        self.0
    }
}

impl CryptoProvider for Native {
    type Cipher = NativeCipher;
    type Sha256 = NativeSha256;

    fn cipher(key: &[u8; 32]) -> NativeCipher {
        let key = UnboundKey::new(&CHACHA20_POLY1305, key)
            .expect("32 bytes is ChaCha20-Poly1305's key length");
        NativeCipher(LessSafeKey::new(key))
    }

    fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
        let secret = x25519_dalek::StaticSecret::from(*secret);
        x25519_dalek::PublicKey::from(&secret).to_bytes()
    }

    fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> Result<[u8; 32], CryptoError> {
        let secret = x25519_dalek::StaticSecret::from(*secret);
        let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(*public));
        // `was_contributory` is false exactly for the all-zero result (a low-order point).
        if shared.was_contributory() {
            Ok(shared.to_bytes())
        } else {
            Err(CryptoError::WeakPublicKey)
        }
    }

    fn sha256() -> NativeSha256 {
        NativeSha256(ring::digest::Context::new(&ring::digest::SHA256))
    }

    fn hkdf_sha256(salt: &[u8; 32], ikm: &[u8], out: &mut [[u8; 32]]) {
        let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, salt).extract(ikm);
        let okm = out.as_flattened_mut();
        prk.expand(&[], OkmLen(okm.len()))
            .and_then(|okm_reader| okm_reader.fill(okm))
            .expect("at most 3 blocks, far under HKDF's 255-block limit");
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
