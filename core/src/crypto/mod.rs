//! The crypto provider seam: the few primitives the protocols need, behind one trait.
//!
//! Noise needs ChaCha20-Poly1305, X25519, SHA-256 and HKDF-SHA256; identities need ed25519.
//! The state machines are generic over a [`CryptoProvider`] and never name an implementation,
//! so a server driver can plug faster primitives (for example `ring`'s AEAD) while firmware
//! keeps [`Portable`], the pure-Rust default that builds for any target without `alloc`.
//! Every provider must pass the same test vectors ([`tests`] runs them for `Portable`; a new
//! provider calls [`check_provider`] in its own tests).

mod portable;

pub use portable::Portable;

/// A ChaCha20-Poly1305 key schedule, ready to seal and open with 64-bit counter nonces.
///
/// The 96-bit nonce is 32 zero bits followed by `nonce` in little-endian, as Noise specifies
/// for ChaChaPoly.
pub trait AeadCipher {
    /// Encrypts `in_out` in place and returns the 16-byte tag.
    fn seal(&self, nonce: u64, ad: &[u8], in_out: &mut [u8]) -> [u8; TAG_LEN];
    /// Checks `tag` and decrypts `in_out` in place; on failure `in_out` is unspecified.
    fn open(
        &self,
        nonce: u64,
        ad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError>;
}

/// The bytes of a ChaCha20-Poly1305 tag.
pub const TAG_LEN: usize = 16;

/// The primitives rhizo's protocols use. Implementations are usually zero-sized types.
pub trait CryptoProvider {
    /// The keyed AEAD.
    type Cipher: AeadCipher;
    /// A running SHA-256.
    type Sha256: Sha256Hasher;

    /// Prepares ChaCha20-Poly1305 with `key`.
    fn cipher(key: &[u8; 32]) -> Self::Cipher;

    /// The X25519 public key of `secret` (clamped as RFC 7748 says).
    fn x25519_public(secret: &[u8; 32]) -> [u8; 32];

    /// X25519 of `secret` and a peer's `public`. Fails when the result is all zeros (a
    /// low-order point), which Noise allows rejecting and which only a malicious peer sends.
    fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> Result<[u8; 32], CryptoError>;

    /// A new SHA-256.
    fn sha256() -> Self::Sha256;

    /// HKDF-SHA256 (RFC 5869) with `salt`, `ikm` and empty info, filling `out` with 32-byte
    /// blocks: Noise's `HKDF(ck, ikm, n)` for `n = out.len()` (2 or 3).
    fn hkdf_sha256(salt: &[u8; 32], ikm: &[u8], out: &mut [[u8; 32]]);

    /// The ed25519 public key of a 32-byte secret seed.
    fn ed25519_public(seed: &[u8; 32]) -> [u8; 32];

    /// Signs `msg` with the ed25519 key of `seed` (deterministic, RFC 8032).
    fn ed25519_sign(seed: &[u8; 32], msg: &[u8]) -> [u8; 64];

    /// Whether `sig` is a valid ed25519 signature of `msg` by `public`.
    fn ed25519_verify(public: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool;
}

/// A running SHA-256 digest.
pub trait Sha256Hasher {
    /// Adds bytes.
    fn update(&mut self, data: &[u8]);
    /// The digest of everything added.
    fn finish(self) -> [u8; 32];
}

/// SHA-256 of the concatenation of `parts`.
pub fn sha256<P: CryptoProvider>(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = P::sha256();
    for p in parts {
        h.update(p);
    }
    h.finish()
}

/// Why a cryptographic operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptoError {
    /// An AEAD tag did not match: the ciphertext or its associated data was altered, or the key
    /// or nonce is wrong.
    Decrypt,
    /// An X25519 result was all zeros: the peer sent a low-order point.
    WeakPublicKey,
}

impl core::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CryptoError::Decrypt => {
                "decryption failed: the message was altered or the key is wrong"
            }
            CryptoError::WeakPublicKey => "the peer's X25519 key is a low-order point",
        })
    }
}

impl core::error::Error for CryptoError {}

/// Checks every provider must pass: ChaCha20-Poly1305 round trip and tamper detection, and
/// known answers from RFC 7748 (X25519), RFC 5869 (HKDF-SHA256), RFC 8032 (ed25519) and FIPS 180 (SHA-256). Panics with
/// the name of the first check that fails; meant for a provider's own tests.
pub fn check_provider<P: CryptoProvider>() {
    fn h<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [0u8; N];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex literal");
        }
        out
    }
    // RFC 8439's AEAD example uses a nonce that is not of the Noise form (32 zero bits and a
    // counter), so here only round trip and tamper detection are checked with its key; the
    // Noise test vectors (noise module) pin the AEAD output to known answers.
    let key: [u8; 32] = h("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    let c = P::cipher(&key);
    let mut msg = *b"Ladies and Gentlemen of the class of '99";
    let tag = c.seal(7, b"ad", &mut msg);
    assert_ne!(
        &msg, b"Ladies and Gentlemen of the class of '99",
        "aead: seal encrypts"
    );
    let mut copy = msg;
    assert_eq!(c.open(7, b"ad", &mut copy, &tag), Ok(()), "aead: open");
    assert_eq!(
        &copy, b"Ladies and Gentlemen of the class of '99",
        "aead: round trip"
    );
    let mut copy = msg;
    assert_eq!(
        c.open(8, b"ad", &mut copy, &tag),
        Err(CryptoError::Decrypt),
        "aead: wrong nonce"
    );
    let mut copy = msg;
    assert_eq!(
        c.open(7, b"ae", &mut copy, &tag),
        Err(CryptoError::Decrypt),
        "aead: wrong ad"
    );
    // RFC 7748 section 6.1 (Alice and Bob).
    let a: [u8; 32] = h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    let b: [u8; 32] = h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    let a_pub: [u8; 32] = h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    let b_pub: [u8; 32] = h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    let shared: [u8; 32] = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    assert_eq!(P::x25519_public(&a), a_pub, "x25519: public key");
    assert_eq!(P::x25519(&a, &b_pub), Ok(shared), "x25519: shared secret");
    assert_eq!(P::x25519(&b, &a_pub), Ok(shared), "x25519: shared secret");
    assert_eq!(
        P::x25519(&a, &[0u8; 32]),
        Err(CryptoError::WeakPublicKey),
        "x25519: low order"
    );
    // FIPS 180-2 example "abc".
    let abc: [u8; 32] = h("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(sha256::<P>(&[b"a", b"bc"]), abc, "sha256");
    // RFC 5869 test case 3 (empty salt and info) cannot be expressed with a 32-byte salt;
    // test case 1's salt is 13 bytes. Use test case 3's IKM with a zero salt, which RFC 5869
    // defines as equal to an absent salt (HashLen zeros), so test case 3's OKM applies.
    let mut okm = [[0u8; 32]; 2];
    P::hkdf_sha256(&[0u8; 32], &[0x0b; 22], &mut okm);
    let expect: [u8; 32] = h("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d");
    assert_eq!(okm[0], expect, "hkdf-sha256");
    let expect2: [u8; 10] = h("9d201395faa4b61a96c8");
    assert_eq!(&okm[1][..10], &expect2, "hkdf-sha256 second block");
    // RFC 8032 section 7.1, test 1 (empty message).
    let seed: [u8; 32] = h("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    let public: [u8; 32] = h("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    let sig: [u8; 64] = h(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    );
    assert_eq!(P::ed25519_public(&seed), public, "ed25519: public key");
    assert_eq!(P::ed25519_sign(&seed, b""), sig, "ed25519: signature");
    assert!(P::ed25519_verify(&public, b"", &sig), "ed25519: verify");
    assert!(!P::ed25519_verify(&public, b"x", &sig), "ed25519: reject");
}

#[cfg(test)]
mod tests {
    #[test]
    fn portable_passes_the_known_answers() {
        super::check_provider::<super::Portable>();
    }
}
