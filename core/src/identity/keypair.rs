//! Our own identity: an Ed25519 keypair, and the [`Signer`] seam other signers plug into.
//!
//! The core has no random number generator: a keypair is made from a 32-byte seed the driver
//! draws (or loads). Its private key is stored as the peer-ids spec's `PrivateKey` protobuf with
//! `Type = Ed25519` and `Data` = the 32-byte seed followed by the 32-byte public key (the
//! "preferred" form); the older 96-byte form (seed, public key, public key) is read too.
//!
//! # Q&A
//! *Why only Ed25519?* The spec makes it the one key type every implementation must support,
//! and it is what rhizo nodes use. Anything that can sign (a hardware key, an RSA key held by a
//! server host) implements [`Signer`] and is then accepted wherever the core signs
//! ([`crate::identity::envelope::seal`]).

use super::keys::{self, KeyError, KeyType, PublicKey};
use crate::wire::BufferTooSmall;
use crate::wire::proto::Writer;

/// The most bytes a signature from any [`Signer`] in this crate takes (RSA-8192).
pub const MAX_SIGNATURE_LEN: usize = 1024;
/// Bytes of an encoded Ed25519 `PrivateKey` message.
pub const ED25519_PRIVATE_KEY_PROTO_LEN: usize = 68;

/// Why signing failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignError {
    /// The signature does not fit the output buffer.
    BufferTooSmall(BufferTooSmall),
    /// The signer could not sign (a hardware key refused, a remote signer is unreachable).
    Failed,
}

impl core::fmt::Display for SignError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SignError::BufferTooSmall(e) => write!(f, "sign: {e}"),
            SignError::Failed => f.write_str("sign: the signer failed"),
        }
    }
}

impl core::error::Error for SignError {}

impl From<BufferTooSmall> for SignError {
    fn from(e: BufferTooSmall) -> Self {
        SignError::BufferTooSmall(e)
    }
}

/// Something that signs with a libp2p key: the seam for signers other than [`Keypair`].
pub trait Signer {
    /// The public key signatures verify with.
    fn public_key(&self) -> PublicKey;
    /// The most bytes [`Signer::sign`] writes.
    fn max_signature_len(&self) -> usize;
    /// Signs `message` as the peer-ids spec defines for this key type; writes the signature to
    /// the front of `out` and returns its length.
    fn sign(&self, message: &[u8], out: &mut [u8]) -> Result<usize, SignError>;
}

/// An Ed25519 keypair.
#[derive(Clone)]
pub struct Keypair {
    inner: ed25519_compact::KeyPair,
}

impl core::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the secret.
        f.debug_struct("Keypair")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

impl Keypair {
    /// The keypair whose secret is `seed` (32 bytes of randomness from the driver).
    ///
    /// # Panics
    /// If `seed` is all zeros (ed25519-compact refuses it); [`Keypair::decode_private_key`]
    /// returns an error for such a key instead.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Keypair {
            inner: ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(seed)),
        }
    }

    /// The secret seed.
    pub fn seed(&self) -> [u8; 32] {
        *self.inner.sk.seed()
    }

    /// The raw 32-byte public key.
    pub fn public_bytes(&self) -> [u8; 32] {
        *self.inner.pk
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey::Ed25519(self.public_bytes())
    }

    /// Signs `message` (RFC 8032, deterministic).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        *self.inner.sk.sign(message, None)
    }

    /// Decodes a `PrivateKey` protobuf holding an Ed25519 key (64- or legacy 96-byte `Data`).
    pub fn decode_private_key(bytes: &[u8]) -> Result<Self, KeyError> {
        let (key_type, data) = keys::decode_key_message(bytes)?;
        if key_type != KeyType::Ed25519 {
            return Err(KeyError::Unsupported(key_type));
        }
        let invalid = KeyError::InvalidKeyData(KeyType::Ed25519);
        let (seed, public) = match data.len() {
            64 => data.split_at(32),
            96 => {
                let (head, repeated) = data.split_at(64);
                if &head[32..] != repeated {
                    return Err(invalid);
                }
                head.split_at(32)
            }
            _ => return Err(invalid),
        };
        let seed: [u8; 32] = seed.try_into().map_err(|_| invalid)?;
        // `from_seed` panics on the all-zero seed: a key file can hold one.
        if seed == [0; 32] {
            return Err(invalid);
        }
        let keypair = Keypair::from_seed(seed);
        if keypair.public_bytes()[..] != *public {
            return Err(KeyError::KeyMismatch);
        }
        Ok(keypair)
    }

    /// Writes the `PrivateKey` protobuf (64-byte `Data`) into `out`.
    pub fn encode_private_key<'o>(&self, out: &'o mut [u8]) -> Result<&'o [u8], BufferTooSmall> {
        let mut data = [0u8; 64];
        data[..32].copy_from_slice(&self.seed());
        data[32..].copy_from_slice(&self.public_bytes());
        let mut w = Writer::new(out);
        keys::write_key_message(&mut w, KeyType::Ed25519, &data)?;
        Ok(w.finish())
    }
}

impl Signer for Keypair {
    fn public_key(&self) -> PublicKey {
        self.public()
    }

    fn max_signature_len(&self) -> usize {
        64
    }

    fn sign(&self, message: &[u8], out: &mut [u8]) -> Result<usize, SignError> {
        Ok(crate::wire::put(out, &Keypair::sign(self, message))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // The Ed25519 private key test vector of the peer-ids spec (libp2p/specs,
    // peer-ids/peer-ids.md, "Test vectors").
    const SPEC_PRIVATE: &str = "080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
    const SPEC_PUBLIC: &str =
        "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";

    #[test]
    fn spec_private_key_round_trip() {
        let bytes = hex::decode(SPEC_PRIVATE).unwrap();
        let keypair = Keypair::decode_private_key(&bytes).unwrap();
        assert_eq!(hex::encode(keypair.public().to_protobuf()), SPEC_PUBLIC);
        let mut out = [0u8; ED25519_PRIVATE_KEY_PROTO_LEN];
        assert_eq!(keypair.encode_private_key(&mut out).unwrap(), &bytes[..]);
        let sig = keypair.sign(b"hello");
        assert_eq!(keypair.public().verify(b"hello", &sig), Ok(()));
        assert_eq!(
            keypair.public().verify(b"hellO", &sig),
            Err(super::super::keys::VerifyError::InvalidSignature)
        );
    }

    #[test]
    fn legacy_96_byte_form() {
        let bytes = hex::decode(SPEC_PRIVATE).unwrap();
        let mut data = bytes[4..].to_vec();
        data.extend_from_slice(&bytes[36..]);
        let mut legacy = vec![0x08, 0x01, 0x12, 96];
        legacy.extend_from_slice(&data);
        let keypair = Keypair::decode_private_key(&legacy).unwrap();
        assert_eq!(hex::encode(keypair.public().to_protobuf()), SPEC_PUBLIC);
        *legacy.last_mut().unwrap() ^= 1;
        assert_eq!(
            Keypair::decode_private_key(&legacy).unwrap_err(),
            KeyError::InvalidKeyData(KeyType::Ed25519)
        );
        let mut mismatch = bytes.clone();
        *mismatch.last_mut().unwrap() ^= 1;
        assert_eq!(
            Keypair::decode_private_key(&mismatch).unwrap_err(),
            KeyError::KeyMismatch
        );
    }

    #[test]
    fn an_all_zero_seed_is_an_error_not_a_panic() {
        let mut bytes = vec![0x08, 0x01, 0x12, 64];
        bytes.extend_from_slice(&[0; 64]);
        assert_eq!(
            Keypair::decode_private_key(&bytes).unwrap_err(),
            KeyError::InvalidKeyData(KeyType::Ed25519)
        );
    }

    #[test]
    fn rfc8032_test_1() {
        // RFC 8032 section 7.1, TEST 1 (empty message).
        let seed: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap();
        let keypair = Keypair::from_seed(seed);
        assert_eq!(
            hex::encode(keypair.public_bytes()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex::encode(keypair.sign(b"")),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
             5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..110)) {
            if let Ok(k) = Keypair::decode_private_key(&bytes) {
                let mut out = [0u8; 68];
                let enc = k.encode_private_key(&mut out).unwrap();
                prop_assert_eq!(&enc[..36], &bytes[..36]);
            }
        }

        #[test]
        fn seed_round_trip(seed: [u8; 32], msg in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assume!(seed != [0; 32]);
            let k = Keypair::from_seed(seed);
            let mut out = [0u8; 68];
            let back = Keypair::decode_private_key(k.encode_private_key(&mut out).unwrap()).unwrap();
            prop_assert_eq!(back.seed(), seed);
            let mut sig = [0u8; 64];
            prop_assert_eq!(Signer::sign(&k, &msg, &mut sig), Ok(64));
            prop_assert_eq!(k.public().verify(&msg, &sig), Ok(()));
        }
    }
}
