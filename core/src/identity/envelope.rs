//! Signed envelopes (libp2p/specs RFC 0002): a payload signed for one purpose (a domain).
//!
//! ```text
//! message Envelope {
//!   PublicKey public_key = 1;  // the signer's key, as in the peer-ids spec
//!   bytes payload_type = 2;    // usually a multicodec
//!   bytes payload = 3;
//!   bytes signature = 5;       // over varint(len) domain, varint(len) payload_type,
//! }                            //      varint(len) payload
//! ```
//!
//! The domain is never sent: the receiver names the one it expects, and an envelope signed for
//! any other domain fails as a bad signature. [`seal`] signs and encodes into one caller buffer;
//! [`open`] checks the signature while streaming the signed fields, so it needs no buffer at all.
//!
//! # Q&A
//! *Where does `seal` build the bytes it signs?* In `out` itself: the signing input is written
//! there first, signed, and then overwritten by the envelope, so `out` must hold the larger of
//! the two ([`sealed_len`] and [`signing_input_len`]). Ed25519 (ed25519-compact) needs the whole
//! message at once for a deterministic signature, and no second buffer is asked of the caller.

use super::keypair::{MAX_SIGNATURE_LEN, SignError, Signer};
use super::keys::{KeyError, PublicKey, VerifyError};
use crate::wire::BufferTooSmall;
use crate::wire::proto::{self, ProtoError, Reader, Writer};
use crate::wire::varint::{self, Varint};

/// Why an envelope could not be sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealError {
    /// `out` is too small.
    BufferTooSmall(BufferTooSmall),
    /// The signer failed.
    Sign(SignError),
}

impl core::fmt::Display for SealError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SealError::BufferTooSmall(e) => write!(f, "envelope: {e}"),
            SealError::Sign(e) => write!(f, "envelope: {e}"),
        }
    }
}

impl core::error::Error for SealError {}

impl From<BufferTooSmall> for SealError {
    fn from(e: BufferTooSmall) -> Self {
        SealError::BufferTooSmall(e)
    }
}

/// Why an envelope could not be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// The protobuf is malformed, or `public_key` or `signature` is missing.
    Proto(ProtoError),
    /// The public key is invalid.
    Key(KeyError),
    /// The signature does not verify for the expected domain (a bad signature, a changed
    /// field, or an envelope signed for another domain).
    InvalidSignature,
    /// This build cannot verify the signer's key type (RSA without `alloc`).
    Unsupported(super::keys::KeyType),
}

impl core::fmt::Display for OpenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            OpenError::Proto(e) => write!(f, "envelope: {e}"),
            OpenError::Key(e) => write!(f, "envelope: {e}"),
            OpenError::InvalidSignature => {
                f.write_str("envelope: signature invalid for the expected domain")
            }
            OpenError::Unsupported(t) => write!(f, "envelope: cannot verify {t} signatures"),
        }
    }
}

impl core::error::Error for OpenError {}

impl From<ProtoError> for OpenError {
    fn from(e: ProtoError) -> Self {
        OpenError::Proto(e)
    }
}

impl From<KeyError> for OpenError {
    fn from(e: KeyError) -> Self {
        OpenError::Key(e)
    }
}

impl From<VerifyError> for OpenError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::InvalidSignature => OpenError::InvalidSignature,
            VerifyError::Unsupported(t) => OpenError::Unsupported(t),
        }
    }
}

/// An envelope whose signature verified: the signer's key and the borrowed payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedEnvelope<'a> {
    /// The key that signed it.
    pub public_key: PublicKey,
    /// The payload type.
    pub payload_type: &'a [u8],
    /// The payload.
    pub payload: &'a [u8],
    /// The signature (verified).
    pub signature: &'a [u8],
}

/// Bytes of the buffer the signature covers.
pub fn signing_input_len(domain: &str, payload_type: &[u8], payload: &[u8]) -> usize {
    [domain.as_bytes(), payload_type, payload]
        .iter()
        .map(|f| varint::encoded_len(f.len() as u64) + f.len())
        .sum()
}

/// Bytes of the sealed envelope for a key that encodes in `key_len` bytes and a signature of
/// `signature_len` bytes.
pub fn sealed_len(
    key_len: usize,
    payload_type: &[u8],
    payload: &[u8],
    signature_len: usize,
) -> usize {
    proto::len_field_len(1, key_len)
        + proto::len_field_len(2, payload_type.len())
        + proto::len_field_len(3, payload.len())
        + proto::len_field_len(5, signature_len)
}

/// Signs `payload` for `domain` and writes the envelope into `out`.
///
/// `out` must hold both the signing input and the envelope (see the module's Q&A); a too-small
/// `out` is [`SealError::BufferTooSmall`] with the size needed.
pub fn seal<'o, S: Signer + ?Sized>(
    signer: &S,
    domain: &str,
    payload_type: &[u8],
    payload: &[u8],
    out: &'o mut [u8],
) -> Result<&'o [u8], SealError> {
    let key = signer.public_key();
    let max_sig = signer.max_signature_len().min(MAX_SIGNATURE_LEN);
    let required = signing_input_len(domain, payload_type, payload).max(sealed_len(
        key.encoded_len(),
        payload_type,
        payload,
        max_sig,
    ));
    if out.len() < required {
        return Err(BufferTooSmall { required }.into());
    }
    let mut signature = [0u8; MAX_SIGNATURE_LEN];
    let input_len = write_signing_input(domain, payload_type, payload, out);
    let sig_len = signer
        .sign(&out[..input_len], &mut signature[..max_sig])
        .map_err(SealError::Sign)?;
    let signature = signature
        .get(..sig_len)
        .ok_or(SealError::Sign(SignError::Failed))?;
    let mut w = Writer::new(out);
    w.message(1, |w| {
        super::keys::write_key_message(w, key.key_type(), key.data())
    })?
    .bytes(2, payload_type)?
    .bytes(3, payload)?
    .bytes(5, signature)?;
    Ok(w.finish())
}

fn write_signing_input(domain: &str, payload_type: &[u8], payload: &[u8], out: &mut [u8]) -> usize {
    let mut at = 0;
    for field in [domain.as_bytes(), payload_type, payload] {
        let len = Varint::new(field.len() as u64).expect("slice lengths fit a varint");
        out[at..at + len.len()].copy_from_slice(&len);
        at += len.len();
        out[at..at + field.len()].copy_from_slice(field);
        at += field.len();
    }
    at
}

/// Decodes `bytes` as an envelope and verifies its signature for `expected_domain`.
pub fn open<'a>(bytes: &'a [u8], expected_domain: &str) -> Result<OpenedEnvelope<'a>, OpenError> {
    Reader::validate(bytes)?;
    let field = |n: u32| -> Result<Option<&'a [u8]>, ProtoError> {
        Reader::last(bytes, n).map(|f| f.bytes()).transpose()
    };
    let key_bytes = field(1)?.ok_or(ProtoError::MissingField { field: 1 })?;
    let payload_type = field(2)?.unwrap_or(&[]);
    let payload = field(3)?.unwrap_or(&[]);
    let signature = field(5)?.ok_or(ProtoError::MissingField { field: 5 })?;
    let public_key = PublicKey::decode(key_bytes)?;
    let domain_len = Varint::new(expected_domain.len() as u64).expect("str lengths fit a varint");
    let pt_len = Varint::new(payload_type.len() as u64).expect("slice lengths fit a varint");
    let payload_len = Varint::new(payload.len() as u64).expect("slice lengths fit a varint");
    public_key.verify_parts(
        &[
            domain_len.as_bytes(),
            expected_domain.as_bytes(),
            pt_len.as_bytes(),
            payload_type,
            payload_len.as_bytes(),
            payload,
        ],
        signature,
    )?;
    Ok(OpenedEnvelope {
        public_key,
        payload_type,
        payload,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Keypair;
    use proptest::prelude::*;

    fn sealed(domain: &str, payload_type: &[u8], payload: &[u8]) -> Vec<u8> {
        let keypair = Keypair::from_seed([7; 32]);
        let mut out = vec![0u8; 1024];
        let n = seal(&keypair, domain, payload_type, payload, &mut out)
            .unwrap()
            .len();
        out.truncate(n);
        out
    }

    #[test]
    fn seal_then_open() {
        let bytes = sealed("test-domain", b"/t", b"hello");
        let opened = open(&bytes, "test-domain").unwrap();
        assert_eq!(opened.payload_type, b"/t");
        assert_eq!(opened.payload, b"hello");
        assert_eq!(opened.public_key, Keypair::from_seed([7; 32]).public());
        assert_eq!(
            open(&bytes, "test-domaim"),
            Err(OpenError::InvalidSignature)
        );
        // The signature covers exactly the length-prefixed domain, type and payload.
        let keypair = Keypair::from_seed([7; 32]);
        let mut input = vec![11];
        input.extend_from_slice(b"test-domain");
        input.extend_from_slice(&[2, b'/', b't', 5]);
        input.extend_from_slice(b"hello");
        assert_eq!(opened.signature, &keypair.sign(&input)[..]);
        // Every single-byte change is caught.
        for i in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[i] ^= 0x01;
            assert!(open(&changed, "test-domain").is_err(), "byte {i}");
        }
    }

    #[test]
    fn missing_fields_and_small_buffers() {
        let bytes = sealed("d", b"", b"");
        let opened = open(&bytes, "d").unwrap();
        assert!(opened.payload.is_empty() && opened.payload_type.is_empty());
        assert_eq!(
            open(&[], "d"),
            Err(OpenError::Proto(ProtoError::MissingField { field: 1 }))
        );
        let mut out = [0u8; 20];
        let keypair = Keypair::from_seed([1; 32]);
        let need = sealed_len(36, b"t", b"p", 64);
        assert_eq!(
            seal(&keypair, "d", b"t", b"p", &mut out),
            Err(SealError::BufferTooSmall(BufferTooSmall { required: need }))
        );
        let mut exact = vec![0u8; need];
        assert_eq!(
            seal(&keypair, "d", b"t", b"p", &mut exact).unwrap().len(),
            need
        );
        // A long domain makes the signing input the larger of the two.
        let domain = "x".repeat(300);
        let need = signing_input_len(&domain, b"t", b"p");
        let mut out = vec![0u8; need - 1];
        assert!(seal(&keypair, &domain, b"t", b"p", &mut out).is_err());
        let mut out = vec![0u8; need];
        let bytes = seal(&keypair, &domain, b"t", b"p", &mut out).unwrap();
        assert!(open(bytes, &domain).is_ok());
    }

    proptest! {
        #[test]
        fn round_trip(domain in "\\PC{0,20}", pt in proptest::collection::vec(any::<u8>(), 0..8),
                      payload in proptest::collection::vec(any::<u8>(), 0..200)) {
            let bytes = sealed(&domain, &pt, &payload);
            let opened = open(&bytes, &domain).unwrap();
            prop_assert_eq!(opened.payload_type, &pt[..]);
            prop_assert_eq!(opened.payload, &payload[..]);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = open(&bytes, "d");
        }
    }
}
