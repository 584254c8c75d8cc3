//! The portable provider: RustCrypto's `chacha20poly1305`, `sha2` and `hkdf`, and
//! `ed25519-compact` for ed25519 and X25519. No `alloc`, no platform code: what firmware uses.

use super::{AeadCipher, CryptoError, CryptoProvider, Sha256Hasher, TAG_LEN};
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use sha2::Digest as _;

/// Pure-Rust primitives that build for every target.
#[derive(Clone, Copy, Debug, Default)]
pub struct Portable;

/// ChaCha20-Poly1305 from RustCrypto.
#[derive(Clone)]
pub struct PortableCipher(ChaCha20Poly1305);

impl core::fmt::Debug for PortableCipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PortableCipher(..)")
    }
}

fn nonce(n: u64) -> chacha20poly1305::Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&n.to_le_bytes());
    bytes.into()
}

impl AeadCipher for PortableCipher {
    fn seal(&self, n: u64, ad: &[u8], in_out: &mut [u8]) -> [u8; TAG_LEN] {
        let tag = self
            .0
            .encrypt_inout_detached(&nonce(n), ad, in_out.into())
            .expect("ChaCha20-Poly1305 limits (256 GiB per message) are far above 64 KiB frames");
        tag.into()
    }

    fn open(
        &self,
        n: u64,
        ad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        self.0
            .decrypt_inout_detached(&nonce(n), ad, in_out.into(), tag.into())
            .map_err(|_| CryptoError::Decrypt)
    }
}

/// SHA-256 from RustCrypto.
#[derive(Clone, Debug, Default)]
pub struct PortableSha256(sha2::Sha256);

impl Sha256Hasher for PortableSha256 {
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

impl CryptoProvider for Portable {
    type Cipher = PortableCipher;
    type Sha256 = PortableSha256;

    fn cipher(key: &[u8; 32]) -> PortableCipher {
        PortableCipher(ChaCha20Poly1305::new(key.into()))
    }

    fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
        let sk = ed25519_compact::x25519::SecretKey::new(*secret);
        // The base point is never low order, so the ladder cannot fail.
        *sk.recover_public_key().expect("base point multiplication")
    }

    fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> Result<[u8; 32], CryptoError> {
        let sk = ed25519_compact::x25519::SecretKey::new(*secret);
        // `new` takes the u-coordinate as RFC 7748 says (no canonical-encoding check); the
        // ladder fails only on an all-zero result.
        let pk = ed25519_compact::x25519::PublicKey::new(*public);
        pk.dh(&sk)
            .map(|out| *out)
            .map_err(|_| CryptoError::WeakPublicKey)
    }

    fn sha256() -> PortableSha256 {
        PortableSha256::default()
    }

    fn hkdf_sha256(salt: &[u8; 32], ikm: &[u8], out: &mut [[u8; 32]]) {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), ikm);
        let okm = out.as_flattened_mut();
        hk.expand(&[], okm)
            .expect("at most 3 blocks, far under HKDF's 255-block limit");
    }

    fn ed25519_public(seed: &[u8; 32]) -> [u8; 32] {
        let kp = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(*seed));
        *kp.pk
    }

    fn ed25519_sign(seed: &[u8; 32], msg: &[u8]) -> [u8; 64] {
        let kp = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(*seed));
        *kp.sk.sign(msg, None)
    }

    fn ed25519_verify(public: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
        let pk = ed25519_compact::PublicKey::new(*public);
        pk.verify(msg, &ed25519_compact::Signature::new(*sig))
            .is_ok()
    }
}
