//! Noise (`/noise`): libp2p's secure channel, `Noise_XX_25519_ChaChaPoly_SHA256` with the
//! libp2p handshake payload.
//!
//! For now this module holds the handshake payload codec ([`payload`]); the XX handshake and
//! transport state machine come here later.

pub mod payload;

pub use payload::{
    NoiseExtensions, NoiseExtensionsBuilder, NoiseHandshakePayload, NoiseHandshakePayloadBuilder,
    STATIC_KEY_SIGNATURE_PREFIX, static_key_signing_input,
};

/// The protocol id multistream-select negotiates for Noise.
pub const PROTOCOL_ID: &str = "/noise";
