//! Public keys in libp2p's protobuf encoding, and signature verification.
//!
//! `PublicKey { required KeyType Type = 1; required bytes Data = 2; }` with `KeyType` RSA = 0,
//! Ed25519 = 1, Secp256k1 = 2, ECDSA = 3 (peer-ids spec, "Keys"). A [`PublicKey`] keeps the
//! `Data` bytes exactly as received, so re-encoding it gives back the bytes its PeerId was
//! hashed from.
//!
//! | type      | `Data`                                      | signature                                  |
//! |-----------|---------------------------------------------|--------------------------------------------|
//! | Ed25519   | 32 raw bytes                                | RFC 8032 Ed25519 over the message          |
//! | Secp256k1 | SEC1 point, 33 (compressed) or 65 bytes     | ECDSA over SHA-256(message), DER, low-S    |
//! | ECDSA     | DER SubjectPublicKeyInfo, P-256 only        | ECDSA over SHA-256(message), DER           |
//! | RSA       | DER SubjectPublicKeyInfo, 2048..=8192 bits  | RSASSA-PKCS1-v1.5 with SHA-256             |
//!
//! # Q&A
//! *Why is decoding stricter than a protobuf decoder?* The spec requires a deterministic
//! encoding (minimal varints, tag order, both fields, nothing else) because a PeerId is the
//! hash of these bytes. Bytes that are not the canonical encoding are refused
//! ([`KeyError::NonCanonical`]), so a key can never have two PeerIds.
//!
//! *Why does an RSA key fit in [`MAX_RSA_KEY_LEN`] bytes?* Keys live inline (no heap). The bound
//! holds every SubjectPublicKeyInfo up to about 6000 bits (RSA-4096 takes 550 bytes); go-libp2p
//! accepts up to 8192 bits, so a larger key is the typed [`KeyError::KeyTooLarge`]. Moduli
//! outside 2048..=8192 bits are [`KeyError::RsaKeySize`], as go-libp2p refuses them when it
//! decodes and rust-libp2p (ring's `RSA_PKCS1_2048_8192_SHA256`) when it verifies.
//!
//! *Which encodings are accepted?* What go-libp2p and rust-libp2p both accept: RSA as SPKI only
//! (neither takes a bare PKCS#1 `RSAPublicKey`), secp256k1 as compressed or uncompressed SEC1
//! (k256's `from_sec1_bytes`, as rust-libp2p), ECDSA as a P-256 SPKI (rust-libp2p supports no
//! other curve). Ed25519 data is any 32 bytes, as go-libp2p: an invalid point just never verifies.

use crate::wire::BufferTooSmall;
use crate::wire::proto::{self, ProtoError, Reader, Writer};
use k256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::Digest as _;

/// The most bytes the `Data` of an RSA key (a DER SubjectPublicKeyInfo) may take.
pub const MAX_RSA_KEY_LEN: usize = 800;
/// The most bytes the `Data` of a secp256k1 key takes (an uncompressed SEC1 point).
pub const MAX_SECP256K1_KEY_LEN: usize = 65;
/// The most bytes the `Data` of an ECDSA key takes (P-256 SPKI with an uncompressed point).
pub const MAX_ECDSA_KEY_LEN: usize = 91;
/// The most bytes an encoded [`PublicKey`] takes.
pub const MAX_PUBLIC_KEY_PROTO_LEN: usize =
    proto::varint_field_len(1, 3) + proto::len_field_len(2, MAX_RSA_KEY_LEN);
/// The smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted, in bits (go-libp2p's and ring's bound).
pub const MAX_RSA_BITS: usize = 8192;

/// The key types of the peer-ids spec, with their protobuf numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyType {
    /// 0: RSA.
    Rsa,
    /// 1: Ed25519.
    Ed25519,
    /// 2: Secp256k1.
    Secp256k1,
    /// 3: ECDSA (P-256 here).
    Ecdsa,
}

impl KeyType {
    /// The protobuf enum number.
    pub const fn number(self) -> u64 {
        match self {
            KeyType::Rsa => 0,
            KeyType::Ed25519 => 1,
            KeyType::Secp256k1 => 2,
            KeyType::Ecdsa => 3,
        }
    }

    /// The key type with this protobuf number.
    pub const fn from_number(n: u64) -> Option<Self> {
        Some(match n {
            0 => KeyType::Rsa,
            1 => KeyType::Ed25519,
            2 => KeyType::Secp256k1,
            3 => KeyType::Ecdsa,
            _ => return None,
        })
    }
}

impl core::fmt::Display for KeyType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            KeyType::Rsa => "RSA",
            KeyType::Ed25519 => "Ed25519",
            KeyType::Secp256k1 => "Secp256k1",
            KeyType::Ecdsa => "ECDSA",
        })
    }
}

/// Why a key could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The protobuf is malformed, or a required field is missing.
    Proto(ProtoError),
    /// The bytes are valid protobuf but not the spec's deterministic encoding.
    NonCanonical,
    /// The `Type` field names no key type of the spec.
    UnknownKeyType(u64),
    /// The `Data` field is not a valid key of its type.
    InvalidKeyData(KeyType),
    /// The key is longer than this crate stores inline (see [`MAX_RSA_KEY_LEN`]).
    KeyTooLarge {
        /// Its type.
        key_type: KeyType,
        /// Its `Data` length.
        len: usize,
    },
    /// An RSA modulus outside [`MIN_RSA_BITS`]..=[`MAX_RSA_BITS`].
    RsaKeySize {
        /// The modulus length in bits.
        bits: usize,
    },
    /// The key type is valid but this operation does not support it (private keys other than
    /// Ed25519).
    Unsupported(KeyType),
    /// A private key's embedded public key does not match its secret.
    KeyMismatch,
}

impl core::fmt::Display for KeyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KeyError::Proto(e) => write!(f, "key: {e}"),
            KeyError::NonCanonical => f.write_str("key: protobuf encoding is not canonical"),
            KeyError::UnknownKeyType(t) => write!(f, "key: unknown key type {t}"),
            KeyError::InvalidKeyData(t) => write!(f, "key: invalid {t} key data"),
            KeyError::KeyTooLarge { key_type, len } => {
                write!(f, "key: {len}-byte {key_type} key is too large")
            }
            KeyError::RsaKeySize { bits } => write!(
                f,
                "key: {bits}-bit RSA key outside {MIN_RSA_BITS}..={MAX_RSA_BITS} bits"
            ),
            KeyError::Unsupported(t) => write!(f, "key: {t} is not supported here"),
            KeyError::KeyMismatch => f.write_str("key: public key does not match the secret"),
        }
    }
}

impl core::error::Error for KeyError {}

impl From<ProtoError> for KeyError {
    fn from(e: ProtoError) -> Self {
        KeyError::Proto(e)
    }
}

/// Why a signature did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// The signature is malformed or does not match the message and key.
    InvalidSignature,
    /// This build cannot verify this key type (RSA needs the `alloc` feature).
    Unsupported(KeyType),
}

impl core::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            VerifyError::InvalidSignature => f.write_str("signature: invalid"),
            VerifyError::Unsupported(t) => {
                write!(f, "signature: {t} verification is not built in")
            }
        }
    }
}

impl core::error::Error for VerifyError {}

/// A libp2p public key of any type, held inline.
///
/// The RSA variant makes every key [`MAX_RSA_KEY_LEN`] bytes large: boxing it would need
/// `alloc`, and keys are few (one per connection), so the size is accepted.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum PublicKey {
    /// An Ed25519 key.
    Ed25519([u8; 32]),
    /// A secp256k1 key as SEC1 bytes (compressed or not, as received).
    Secp256k1(heapless::Vec<u8, MAX_SECP256K1_KEY_LEN>),
    /// A P-256 key as a DER SubjectPublicKeyInfo.
    Ecdsa(heapless::Vec<u8, MAX_ECDSA_KEY_LEN>),
    /// An RSA key as a DER SubjectPublicKeyInfo.
    Rsa(heapless::Vec<u8, MAX_RSA_KEY_LEN>),
}

impl core::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PublicKey::{}(", self.key_type())?;
        for b in self.data() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

impl PublicKey {
    /// Makes a key from its type and `Data` bytes, checking that they are a valid key.
    pub fn from_data(key_type: KeyType, data: &[u8]) -> Result<Self, KeyError> {
        let too_large = KeyError::KeyTooLarge {
            key_type,
            len: data.len(),
        };
        let invalid = KeyError::InvalidKeyData(key_type);
        match key_type {
            KeyType::Ed25519 => data.try_into().map(PublicKey::Ed25519).map_err(|_| invalid),
            KeyType::Secp256k1 => {
                k256::ecdsa::VerifyingKey::from_sec1_bytes(data).map_err(|_| invalid)?;
                heapless::Vec::from_slice(data)
                    .map(PublicKey::Secp256k1)
                    .map_err(|_| invalid)
            }
            KeyType::Ecdsa => {
                use p256::pkcs8::DecodePublicKey as _;
                p256::ecdsa::VerifyingKey::from_public_key_der(data).map_err(|_| invalid)?;
                heapless::Vec::from_slice(data)
                    .map(PublicKey::Ecdsa)
                    .map_err(|_| invalid)
            }
            KeyType::Rsa => {
                let bits = rsa_spki_modulus_bits(data).ok_or(invalid)?;
                if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                    return Err(KeyError::RsaKeySize { bits });
                }
                heapless::Vec::from_slice(data)
                    .map(PublicKey::Rsa)
                    .map_err(|_| too_large)
            }
        }
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        match self {
            PublicKey::Ed25519(_) => KeyType::Ed25519,
            PublicKey::Secp256k1(_) => KeyType::Secp256k1,
            PublicKey::Ecdsa(_) => KeyType::Ecdsa,
            PublicKey::Rsa(_) => KeyType::Rsa,
        }
    }

    /// The `Data` bytes: the key in its type's encoding.
    pub fn data(&self) -> &[u8] {
        match self {
            PublicKey::Ed25519(k) => k,
            PublicKey::Secp256k1(k) => k,
            PublicKey::Ecdsa(k) => k,
            PublicKey::Rsa(k) => k,
        }
    }

    /// Decodes the canonical protobuf encoding of a public key.
    pub fn decode(bytes: &[u8]) -> Result<Self, KeyError> {
        let (key_type, data) = decode_key_message(bytes)?;
        Self::from_data(key_type, data)
    }

    /// Bytes [`PublicKey::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        key_message_len(self.key_type(), self.data().len())
    }

    /// Writes the protobuf encoding into `out`; returns the bytes written.
    pub fn encode<'o>(&self, out: &'o mut [u8]) -> Result<&'o [u8], BufferTooSmall> {
        let mut w = Writer::new(out);
        write_key_message(&mut w, self.key_type(), self.data())?;
        Ok(w.finish())
    }

    /// The protobuf encoding on the stack.
    pub fn to_protobuf(&self) -> heapless::Vec<u8, MAX_PUBLIC_KEY_PROTO_LEN> {
        let mut v = heapless::Vec::new();
        v.resize(self.encoded_len(), 0)
            .expect("every stored key encodes within MAX_PUBLIC_KEY_PROTO_LEN");
        let n = self.encode(&mut v).expect("sized by encoded_len").len();
        v.truncate(n);
        v
    }

    /// Verifies `signature` over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
        self.verify_parts(&[message], signature)
    }

    /// Verifies `signature` over the concatenation of `parts`, without concatenating them.
    pub fn verify_parts(&self, parts: &[&[u8]], signature: &[u8]) -> Result<(), VerifyError> {
        let bad = VerifyError::InvalidSignature;
        match self {
            PublicKey::Ed25519(k) => {
                let key = ed25519_compact::PublicKey::new(*k);
                let sig = ed25519_compact::Signature::from_slice(signature).map_err(|_| bad)?;
                let mut state = key.verify_incremental(&sig).map_err(|_| bad)?;
                for part in parts {
                    state.absorb(part);
                }
                state.verify().map_err(|_| bad)
            }
            PublicKey::Secp256k1(k) => {
                let key = k256::ecdsa::VerifyingKey::from_sec1_bytes(k).map_err(|_| bad)?;
                let sig = k256::ecdsa::Signature::from_der(signature).map_err(|_| bad)?;
                key.verify_prehash(&sha256_parts(parts), &sig)
                    .map_err(|_| bad)
            }
            PublicKey::Ecdsa(k) => {
                use p256::pkcs8::DecodePublicKey as _;
                let key = p256::ecdsa::VerifyingKey::from_public_key_der(k).map_err(|_| bad)?;
                let sig = p256::ecdsa::Signature::from_der(signature).map_err(|_| bad)?;
                key.verify_prehash(&sha256_parts(parts), &sig)
                    .map_err(|_| bad)
            }
            PublicKey::Rsa(k) => verify_rsa(k, parts, signature),
        }
    }
}

fn sha256_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    for part in parts {
        h.update(part);
    }
    h.finalize().into()
}

#[cfg(feature = "alloc")]
fn verify_rsa(spki: &[u8], parts: &[&[u8]], signature: &[u8]) -> Result<(), VerifyError> {
    use rsa::pkcs8::DecodePublicKey as _;
    let bad = VerifyError::InvalidSignature;
    let key = rsa::RsaPublicKey::from_public_key_der(spki).map_err(|_| bad)?;
    let key = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key);
    let sig = rsa::pkcs1v15::Signature::try_from(signature).map_err(|_| bad)?;
    key.verify_prehash(&sha256_parts(parts), &sig)
        .map_err(|_| bad)
}

#[cfg(not(feature = "alloc"))]
fn verify_rsa(_spki: &[u8], _parts: &[&[u8]], _signature: &[u8]) -> Result<(), VerifyError> {
    Err(VerifyError::Unsupported(KeyType::Rsa))
}

/// Bytes a key message with `data_len` bytes of `Data` takes.
pub(crate) fn key_message_len(key_type: KeyType, data_len: usize) -> usize {
    proto::varint_field_len(1, key_type.number()) + proto::len_field_len(2, data_len)
}

/// Writes `Type` then `Data`, as the spec's deterministic encoding requires.
pub(crate) fn write_key_message(
    w: &mut Writer<'_>,
    key_type: KeyType,
    data: &[u8],
) -> Result<(), BufferTooSmall> {
    w.varint(1, key_type.number())?.bytes(2, data)?;
    Ok(())
}

/// Reads a `PublicKey` or `PrivateKey` message, refusing anything but the canonical encoding.
pub(crate) fn decode_key_message(bytes: &[u8]) -> Result<(KeyType, &[u8]), KeyError> {
    let mut fields = Reader::new(bytes);
    let first = fields
        .next()
        .ok_or(ProtoError::MissingField { field: 1 })??;
    if first.number != 1 {
        return Err(if first.number == 2 {
            KeyError::NonCanonical
        } else {
            ProtoError::MissingField { field: 1 }.into()
        });
    }
    let number = first.varint()?;
    let second = fields
        .next()
        .ok_or(ProtoError::MissingField { field: 2 })??;
    if second.number != 2 {
        return Err(KeyError::NonCanonical);
    }
    let data = second.bytes()?;
    if fields.next().is_some() {
        return Err(KeyError::NonCanonical);
    }
    let key_type = KeyType::from_number(number).ok_or(KeyError::UnknownKeyType(number))?;
    // Minimal varints: the canonical form is exactly as long as what was read.
    if key_message_len(key_type, data.len()) != bytes.len() {
        return Err(KeyError::NonCanonical);
    }
    Ok((key_type, data))
}

/// One DER element with `tag` at the front of `input`: its contents and the rest.
/// Only definite, minimal lengths (DER) up to two length bytes are accepted.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        0..=0x7f => (usize::from(first), rest),
        0x81 => {
            let (&l, rest) = rest.split_first()?;
            if l < 0x80 {
                return None;
            }
            (usize::from(l), rest)
        }
        0x82 => {
            let (l, rest) = rest.split_first_chunk::<2>()?;
            let l = usize::from(u16::from_be_bytes(*l));
            if l < 0x100 {
                return None;
            }
            (l, rest)
        }
        _ => return None,
    };
    (len <= rest.len()).then(|| rest.split_at(len))
}

/// A positive DER INTEGER's magnitude bytes (leading zero stripped), if minimal and positive.
fn der_positive_integer(contents: &[u8]) -> Option<&[u8]> {
    match contents {
        [] => None,
        [0, next, ..] if *next < 0x80 => None,
        [0, rest @ ..] if !rest.is_empty() => Some(rest),
        [first, ..] if *first >= 0x80 => None,
        [0] => None,
        _ => Some(contents),
    }
}

/// The modulus length in bits of an RSA SubjectPublicKeyInfo, if it is well-formed DER:
/// `SEQUENCE { SEQUENCE { OID rsaEncryption, NULL }, BIT STRING { SEQUENCE { INTEGER n,
/// INTEGER e } } }` with nothing trailing.
fn rsa_spki_modulus_bits(spki: &[u8]) -> Option<usize> {
    const RSA_ALGORITHM: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let (outer, rest) = der_element(spki, 0x30)?;
    if !rest.is_empty() {
        return None;
    }
    let (algorithm, outer) = der_element(outer, 0x30)?;
    if algorithm != RSA_ALGORITHM {
        return None;
    }
    let (bits, outer) = der_element(outer, 0x03)?;
    if !outer.is_empty() {
        return None;
    }
    let (&unused, key) = bits.split_first()?;
    if unused != 0 {
        return None;
    }
    let (key, rest) = der_element(key, 0x30)?;
    if !rest.is_empty() {
        return None;
    }
    let (n, key) = der_element(key, 0x02)?;
    let (e, key) = der_element(key, 0x02)?;
    if !key.is_empty() {
        return None;
    }
    der_positive_integer(e)?;
    let n = der_positive_integer(n)?;
    let top = n.first()?;
    Some(n.len() * 8 - top.leading_zeros() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn non_canonical_encodings_are_refused() {
        let good =
            hex::decode("080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e")
                .unwrap();
        assert!(PublicKey::decode(&good).is_ok());
        // Fields swapped.
        let mut swapped = good[2..].to_vec();
        swapped.extend_from_slice(&good[..2]);
        assert_eq!(PublicKey::decode(&swapped), Err(KeyError::NonCanonical));
        // Non-minimal type varint.
        let mut long = vec![0x08, 0x81, 0x00];
        long.extend_from_slice(&good[2..]);
        assert_eq!(PublicKey::decode(&long), Err(KeyError::NonCanonical));
        // An extra field.
        let mut extra = good.clone();
        extra.extend_from_slice(&[0x18, 0x01]);
        assert_eq!(PublicKey::decode(&extra), Err(KeyError::NonCanonical));
        // Missing data, unknown type, wrong length.
        assert_eq!(
            PublicKey::decode(&[0x08, 0x01]),
            Err(KeyError::Proto(ProtoError::MissingField { field: 2 }))
        );
        assert_eq!(
            PublicKey::decode(&[0x08, 0x04, 0x12, 0x00]),
            Err(KeyError::UnknownKeyType(4))
        );
        assert_eq!(
            PublicKey::decode(&[0x08, 0x01, 0x12, 0x01, 0x00]),
            Err(KeyError::InvalidKeyData(KeyType::Ed25519))
        );
        assert_eq!(
            PublicKey::decode(&[]),
            Err(ProtoError::MissingField { field: 1 }.into())
        );
    }

    #[test]
    fn der_integers() {
        assert_eq!(der_positive_integer(&[0x00, 0x80]), Some(&[0x80][..]));
        assert_eq!(der_positive_integer(&[0x00, 0x7f]), None);
        assert_eq!(der_positive_integer(&[0x80]), None);
        assert_eq!(der_positive_integer(&[0x00]), None);
        assert_eq!(der_positive_integer(&[0x01, 0x00]), Some(&[0x01, 0x00][..]));
        assert_eq!(der_element(&[0x30, 0x81, 0x10], 0x30), None);
        assert_eq!(
            der_element(&[0x30, 0x01, 0xaa, 0xbb], 0x30),
            Some((&[0xaa][..], &[0xbb][..]))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            if let Ok(key) = PublicKey::decode(&bytes) {
                prop_assert_eq!(&key.to_protobuf()[..], &bytes[..]);
                prop_assert!(key.verify(b"m", &bytes).is_err());
            }
        }

        #[test]
        fn typed_arbitrary_data_never_panics(t in 0u64..4, data in proptest::collection::vec(any::<u8>(), 0..100)) {
            let key_type = KeyType::from_number(t).unwrap();
            if let Ok(key) = PublicKey::from_data(key_type, &data) {
                prop_assert_eq!(key.data(), &data[..]);
                let again = PublicKey::decode(&key.to_protobuf()).unwrap();
                prop_assert_eq!(again, key);
            }
        }
    }
}
