//! The libp2p Noise handshake payload: the protobuf that the second and third XX messages carry
//! (encrypted) to bind the sender's libp2p identity to its Noise static key.
//!
//! ```protobuf
//! message NoiseExtensions {
//!     repeated bytes webtransport_certhashes = 1;
//!     repeated string stream_muxers = 2;
//! }
//! message NoiseHandshakePayload {
//!     bytes identity_key = 1;        // a protobuf-encoded libp2p PublicKey
//!     bytes identity_sig = 2;        // signs STATIC_KEY_SIGNATURE_PREFIX || noise static key
//!     optional NoiseExtensions extensions = 4;
//! }
//! ```
//! Field numbers and types as in libp2p/specs `noise/README.md` and rust-libp2p
//! `transports/noise/src/generated/payload.proto` (proto3 there, proto2 with `optional` in
//! go-libp2p; the bytes on the wire are the same). The first draft of the spec had
//! `bytes libp2p_data = 3` and `bytes libp2p_data_signature = 4`; no implementation sends them
//! now. Field 3 is skipped like any unknown field; field 4 is read as `extensions`, as
//! rust-libp2p, go-libp2p and js-libp2p read it.
//!
//! [`NoiseHandshakePayload`] and [`NoiseExtensions`] are views: `decode` validates once, then
//! the accessors borrow from the input. [`NoiseHandshakePayloadBuilder`] writes a payload into a
//! caller buffer.
//!
//! # Q&A
//! *Why can `extensions` appear more than once?* Protobuf merges repeated occurrences of a
//! message field: prost and go-libp2p read two `extensions` fields as one whose lists are
//! concatenated. The view does the same, so it reads what they read.
//!
//! *Why is an absent `identity_key` the same as an empty one?* rust-libp2p declares the fields
//! proto3 `bytes` (no presence), and an empty key or signature fails verification anyway. The
//! builder leaves empty ones out, as prost and rust-libp2p do.

use crate::wire::BufferTooSmall;
use crate::wire::proto::{self, ProtoError, Reader, Writer};

/// What the identity key signs: this prefix, then the 32-byte X25519 Noise static public key.
pub const STATIC_KEY_SIGNATURE_PREFIX: &[u8] = b"noise-libp2p-static-key:";

/// The bytes the identity key signs for the Noise static public key `static_key`.
pub fn static_key_signing_input(static_key: &[u8; 32]) -> [u8; 56] {
    let mut input = [0u8; 56];
    let (prefix, key) = input.split_at_mut(STATIC_KEY_SIGNATURE_PREFIX.len());
    prefix.copy_from_slice(STATIC_KEY_SIGNATURE_PREFIX);
    key.copy_from_slice(static_key);
    input
}

const IDENTITY_KEY: u32 = 1;
const IDENTITY_SIG: u32 = 2;
const EXTENSIONS: u32 = 4;
const WEBTRANSPORT_CERTHASHES: u32 = 1;
const STREAM_MUXERS: u32 = 2;

/// A decoded Noise handshake payload, borrowing the (decrypted) bytes it was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoiseHandshakePayload<'a> {
    bytes: &'a [u8],
}

impl<'a> NoiseHandshakePayload<'a> {
    /// Validates `bytes` as a payload: well-formed protobuf, known fields with their wire types,
    /// every `extensions` occurrence a valid [`NoiseExtensions`]. Unknown fields are skipped.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, ProtoError> {
        for field in Reader::new(bytes) {
            let field = field?;
            match field.number {
                IDENTITY_KEY | IDENTITY_SIG => {
                    field.bytes()?;
                }
                EXTENSIONS => validate_extensions(field.bytes()?)?,
                _ => {}
            }
        }
        Ok(NoiseHandshakePayload { bytes })
    }

    /// The sender's public key, a protobuf-encoded libp2p `PublicKey` (empty when absent).
    pub fn identity_key(&self) -> &'a [u8] {
        last_bytes(self.bytes, IDENTITY_KEY)
    }

    /// The identity key's signature over [`static_key_signing_input`] (empty when absent).
    pub fn identity_sig(&self) -> &'a [u8] {
        last_bytes(self.bytes, IDENTITY_SIG)
    }

    /// The extensions, if any `extensions` field is present (all occurrences merged).
    pub fn extensions(&self) -> Option<NoiseExtensions<'a>> {
        Reader::fields(self.bytes, EXTENSIONS)
            .next()
            .map(|_| NoiseExtensions {
                holder: self.bytes,
                merged: true,
            })
    }

    /// The bytes this view reads.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// Decoded Noise extensions: the stream muxers offered for early negotiation and the
/// WebTransport certificate hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoiseExtensions<'a> {
    /// The extensions message itself, or (when `merged`) the payload whose `extensions`
    /// occurrences together make the extensions.
    holder: &'a [u8],
    merged: bool,
}

impl<'a> NoiseExtensions<'a> {
    /// Validates `bytes` as a standalone `NoiseExtensions` message.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, ProtoError> {
        validate_extensions(bytes)?;
        Ok(NoiseExtensions {
            holder: bytes,
            merged: false,
        })
    }

    /// The extensions message bodies this view reads, in order.
    fn parts(&self) -> impl Iterator<Item = &'a [u8]> + Clone + 'a {
        let (single, outer): (Option<&'a [u8]>, &'a [u8]) = if self.merged {
            (None, self.holder)
        } else {
            (Some(self.holder), &[])
        };
        single
            .into_iter()
            .chain(Reader::fields(outer, EXTENSIONS).filter_map(|field| field.bytes().ok()))
    }

    /// The WebTransport certificate hashes (multihashes), in order.
    pub fn webtransport_certhashes(&self) -> impl Iterator<Item = &'a [u8]> + Clone + 'a {
        self.parts().flat_map(|part| {
            Reader::fields(part, WEBTRANSPORT_CERTHASHES).filter_map(|field| field.bytes().ok())
        })
    }

    /// The stream muxer protocol ids, in the sender's order of preference.
    pub fn stream_muxers(&self) -> impl Iterator<Item = &'a str> + Clone + 'a {
        // `decode` checked every entry is UTF-8, so `filter_map` drops nothing.
        self.parts().flat_map(|part| {
            Reader::fields(part, STREAM_MUXERS).filter_map(|field| field.str().ok())
        })
    }
}

fn validate_extensions(bytes: &[u8]) -> Result<(), ProtoError> {
    for field in Reader::new(bytes) {
        let field = field?;
        match field.number {
            WEBTRANSPORT_CERTHASHES => {
                field.bytes()?;
            }
            STREAM_MUXERS => {
                field.str()?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The last occurrence of a validated bytes field, or empty.
fn last_bytes(message: &[u8], number: u32) -> &[u8] {
    Reader::last(message, number)
        .and_then(|field| field.bytes().ok())
        .unwrap_or(&[])
}

/// Bytes a length-delimited field takes, saturating at `usize::MAX` (which no buffer holds).
fn len_field_size(number: u32, len: usize) -> usize {
    proto::varint_len(u64::from(number) << 3)
        .saturating_add(proto::varint_len(len as u64))
        .saturating_add(len)
}

/// The contents of a `NoiseExtensions` message to encode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoiseExtensionsBuilder<'a> {
    /// WebTransport certificate hashes (multihashes).
    pub webtransport_certhashes: &'a [&'a [u8]],
    /// Stream muxer protocol ids, most preferred first.
    pub stream_muxers: &'a [&'a str],
}

impl NoiseExtensionsBuilder<'_> {
    /// Bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        let hashes = self.webtransport_certhashes.iter().fold(0usize, |sum, h| {
            sum.saturating_add(len_field_size(WEBTRANSPORT_CERTHASHES, h.len()))
        });
        let muxers = self.stream_muxers.iter().fold(0usize, |sum, m| {
            sum.saturating_add(len_field_size(STREAM_MUXERS, m.len()))
        });
        hashes.saturating_add(muxers)
    }

    /// Writes the message to the front of `out`; returns the bytes written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let required = self.encoded_len();
        if out.len() < required {
            return Err(BufferTooSmall { required });
        }
        let mut writer = Writer::new(out);
        self.write(&mut writer)?;
        Ok(writer.len())
    }

    fn write(&self, writer: &mut Writer<'_>) -> Result<(), BufferTooSmall> {
        for hash in self.webtransport_certhashes {
            writer.bytes(WEBTRANSPORT_CERTHASHES, hash)?;
        }
        for muxer in self.stream_muxers {
            writer.str(STREAM_MUXERS, muxer)?;
        }
        Ok(())
    }

    /// The encoded message in a new vector.
    #[cfg(feature = "alloc")]
    pub fn encode_to_vec(&self) -> alloc::vec::Vec<u8> {
        let mut out = alloc::vec![0u8; self.encoded_len()];
        let len = self
            .encode(&mut out)
            .expect("the vector has encoded_len bytes");
        out.truncate(len);
        out
    }
}

/// The contents of a Noise handshake payload to encode, in field order as prost writes them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoiseHandshakePayloadBuilder<'a> {
    /// The protobuf-encoded libp2p `PublicKey` (left out when empty).
    pub identity_key: &'a [u8],
    /// The signature over [`static_key_signing_input`] (left out when empty).
    pub identity_sig: &'a [u8],
    /// The extensions; `Some` writes the field even when both lists are empty.
    pub extensions: Option<NoiseExtensionsBuilder<'a>>,
}

impl NoiseHandshakePayloadBuilder<'_> {
    /// Bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        let mut len = 0usize;
        if !self.identity_key.is_empty() {
            len = len.saturating_add(len_field_size(IDENTITY_KEY, self.identity_key.len()));
        }
        if !self.identity_sig.is_empty() {
            len = len.saturating_add(len_field_size(IDENTITY_SIG, self.identity_sig.len()));
        }
        if let Some(extensions) = &self.extensions {
            len = len.saturating_add(len_field_size(EXTENSIONS, extensions.encoded_len()));
        }
        len
    }

    /// Writes the payload to the front of `out`; returns the bytes written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let required = self.encoded_len();
        if out.len() < required {
            return Err(BufferTooSmall { required });
        }
        let mut writer = Writer::new(out);
        if !self.identity_key.is_empty() {
            writer.bytes(IDENTITY_KEY, self.identity_key)?;
        }
        if !self.identity_sig.is_empty() {
            writer.bytes(IDENTITY_SIG, self.identity_sig)?;
        }
        if let Some(extensions) = &self.extensions {
            writer.message(EXTENSIONS, |w| extensions.write(w))?;
        }
        Ok(writer.len())
    }

    /// The encoded payload in a new vector.
    #[cfg(feature = "alloc")]
    pub fn encode_to_vec(&self) -> alloc::vec::Vec<u8> {
        let mut out = alloc::vec![0u8; self.encoded_len()];
        let len = self
            .encode(&mut out)
            .expect("the vector has encoded_len bytes");
        out.truncate(len);
        out
    }
}

#[cfg(test)]
mod tests;
