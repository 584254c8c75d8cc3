//! Noise: the `Noise_XX_25519_ChaChaPoly_SHA256` handshake and transport that secure libp2p
//! connections (libp2p/specs `noise/README.md`).
//!
//! - [`HandshakeXX`]: the XX pattern with opaque payloads, over any
//!   [`CryptoProvider`](crate::crypto::CryptoProvider).
//! - [`NoiseTransport`]: the two transport cipher states and libp2p's framing: every message
//!   is a 2-byte big-endian length, then at most 65535 bytes of ciphertext with its 16-byte tag.
//!   Frames are sealed and opened in place in the caller's buffers.
//! - [`payload`]: the libp2p handshake payload (identity key, signature over the static key,
//!   extensions for early muxer negotiation).
//! - [`session`]: [`NoiseHandshake`], the libp2p handshake as a sans-IO state machine (framing,
//!   signed identities, early muxer negotiation) that ends in a [`NoiseTransport`].

pub mod payload;
pub mod session;
mod symmetric;
mod transport;
mod xx;

pub use payload::{
    NoiseExtensions, NoiseExtensionsBuilder, NoiseHandshakePayload, NoiseHandshakePayloadBuilder,
    STATIC_KEY_SIGNATURE_PREFIX, static_key_signing_input,
};
pub use session::{
    NoiseConfigError, NoiseHandshake, NoiseHandshakeConfig, NoiseHandshakeError, NoiseIdentity,
    RemoteInfo, Role,
};
pub use symmetric::CipherState;
pub use transport::{MAX_FRAME_LEN, MAX_PLAINTEXT_LEN, NoiseTransport, OpenedFrame};
pub use xx::{HandshakeXX, PROTOCOL_NAME};

/// The protocol id multistream-select negotiates for Noise.
pub const PROTOCOL_ID: &str = "/noise";

/// Why a Noise operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseError {
    /// A message failed authentication: altered in transit, or the peer's keys are not the ones
    /// this side expects.
    Decrypt,
    /// The peer sent a low-order X25519 key.
    WeakKey,
    /// A handshake message is shorter than its pattern requires.
    MessageTooShort,
    /// A message was written or read out of turn.
    OutOfOrder,
    /// The nonce counter is spent (2^64 - 1 messages): the session must end.
    NonceExhausted,
    /// More plaintext than one frame carries ([`MAX_PLAINTEXT_LEN`]).
    FrameTooLong,
    /// The output buffer is too small.
    BufferTooSmall {
        /// Bytes needed.
        required: usize,
    },
}

impl core::fmt::Display for NoiseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NoiseError::Decrypt => f.write_str("noise: message failed authentication"),
            NoiseError::WeakKey => f.write_str("noise: peer sent a low-order key"),
            NoiseError::MessageTooShort => f.write_str("noise: handshake message too short"),
            NoiseError::OutOfOrder => f.write_str("noise: message out of turn"),
            NoiseError::NonceExhausted => f.write_str("noise: nonces exhausted"),
            NoiseError::FrameTooLong => f.write_str("noise: plaintext longer than one frame"),
            NoiseError::BufferTooSmall { required } => {
                write!(
                    f,
                    "noise: output buffer too small ({required} bytes needed)"
                )
            }
        }
    }
}

impl core::error::Error for NoiseError {}

#[cfg(test)]
mod tests;
