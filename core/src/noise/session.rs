//! The libp2p Noise handshake (libp2p/specs `noise/README.md`) as a sans-IO state machine:
//! [`NoiseHandshake`] runs `Noise_XX_25519_ChaChaPoly_SHA256` with libp2p's framing, signed
//! identity payloads and early stream muxer negotiation, and hands over a [`NoiseTransport`]
//! and the authenticated [`RemoteInfo`].
//!
//! ```text
//!   initiator                                   responder
//!   -> e                                        (payload empty)
//!   <- e, ee, s, es   + payload(responder identity, responder's muxers)
//!   -> s, se          + payload(initiator identity, initiator's muxers)
//! ```
//! Every handshake message is a 2-byte big-endian length, then the Noise message (at most
//! [`MAX_FRAME_LEN`] = 65535 bytes). The payload is the protobuf `NoiseHandshakePayload`
//! ([`super::payload`]): the sender's protobuf-encoded libp2p public key, its signature over
//! `"noise-libp2p-static-key:" || static X25519 public key`, and `extensions.stream_muxers`.
//!
//! # Call order
//! 1. Build a [`NoiseIdentity`] once per node (it signs the static key: one signature, reused
//!    by every handshake), then a [`NoiseHandshake`] per connection with fresh ephemeral
//!    randomness.
//! 2. `poll_transmit(out)` until it returns `Ok(None)`, sending what it wrote.
//! 3. On received bytes: `handle_input(input)` returns how many bytes it used. It consumes
//!    whole handshake messages only (decrypting them in place), so keep the unused tail and
//!    call again with more. It never reads past the last handshake message: bytes after it are
//!    transport frames for the caller (the initiator may send its first frame together with
//!    message 3).
//! 4. Go back to 2 after every input. When [`NoiseHandshake::is_finished`] says so,
//!    [`NoiseHandshake::into_established`] gives the transport and the remote's identity.
//!
//! Any error except [`NoiseHandshakeError::BufferTooSmall`] from `poll_transmit` ends the
//! handshake: later calls return the same error, and the connection must be closed. Timeouts
//! belong to the connection that drives this machine, not here.
//!
//! # Early muxer negotiation
//! libp2p/specs `connections/inlined-muxer-negotiation.md`: the responder lists its muxers in
//! message 2, the initiator in message 3, and the muxer is the first of the *initiator's* list
//! that the responder supports (go-libp2p's `matchMuxers` since "noise: prefer the client's
//! muxer preference"). When either list is empty or nothing matches, there is no early muxer
//! and the connection negotiates one with multistream-select on the secured channel, as
//! go-libp2p does (the spec says the handshake fails on no overlap; no implementation does
//! that, and rust-libp2p sends no list at all). Like go-libp2p, a remote list of more than
//! [`MAX_REMOTE_MUXERS`] entries is ignored.
//!
//! # Q&A
//! *Why is the identity signature made once, in [`NoiseIdentity`]?* The signed bytes depend only
//! on the static key, which a node keeps for many handshakes (rust-libp2p and go-libp2p make
//! one per transport). Signing per handshake would cost a signature per connection for nothing.
//!
//! *Why may message 1 carry a payload?* The first draft of the spec allowed early data there.
//! go-libp2p ignores it; rust-libp2p refuses it. It is unauthenticated either way, so it is
//! ignored here, which accepts what both accept.
//!
//! *Why does the initiator check the expected PeerId at message 2?* It learns the responder's
//! identity there, and failing before message 3 means it never reveals its own identity to a
//! peer it did not mean to reach.
//!
//! *Why does [`NoiseHandshakeError::PeerIdMismatch`] not carry the expected PeerId?* A PeerId
//! is 80 bytes inline; two would make every `Result` carrying the error 170 bytes (clippy's
//! `result_large_err`, and every error enum that wraps this one). The caller gave the expected
//! one and can read it back from [`NoiseHandshake::expected_remote`].
//!
//! *Why copy the muxer list instead of borrowing it?* A handshake with no lifetime fits into a
//! connection table; the list is small ([`MAX_MUXER_LIST_LEN`] bytes encoded).

use core::borrow::Borrow;

use super::payload::{NoiseExtensions, NoiseExtensionsBuilder, NoiseHandshakePayload};
use super::{
    HandshakeXX, MAX_FRAME_LEN, NoiseError, NoiseTransport, STATIC_KEY_SIGNATURE_PREFIX,
    static_key_signing_input,
};
use crate::crypto::CryptoProvider;
use crate::identity::keypair::MAX_SIGNATURE_LEN;
use crate::identity::keys::MAX_PUBLIC_KEY_PROTO_LEN;
use crate::identity::{
    KeyError, KeyType, Keypair, PeerId, PublicKey, SignError, Signer, VerifyError,
};
use crate::wire::proto::{self, ProtoError, Writer};

/// The longest stream muxer protocol id this side may offer, in bytes.
pub const MAX_MUXER_ID_LEN: usize = 64;
/// The most bytes the local muxer list takes, encoded as a `NoiseExtensions` message (about a
/// dozen ids the length of `/yamux/1.0.0`).
pub const MAX_MUXER_LIST_LEN: usize = 256;
/// A remote muxer list with more entries is ignored (go-libp2p's `maxProtoNum`).
pub const MAX_REMOTE_MUXERS: usize = 100;

/// The most bytes a local handshake payload takes.
const MAX_PAYLOAD_LEN: usize = proto::len_field_len(1, MAX_PUBLIC_KEY_PROTO_LEN)
    + proto::len_field_len(2, MAX_SIGNATURE_LEN)
    + proto::len_field_len(4, MAX_MUXER_LIST_LEN);

const IDENTITY_KEY: u32 = 1;
const IDENTITY_SIG: u32 = 2;
const EXTENSIONS: u32 = 4;

/// Which side of the handshake this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The dialer: sends messages 1 and 3.
    Initiator,
    /// The listener: sends message 2.
    Responder,
}

/// The local half of every handshake: the Noise static key and the libp2p identity's signature
/// over it. Made once per node (or per static key) and shared by the handshakes, by value or by
/// reference ([`NoiseHandshake`] takes anything that borrows one).
#[derive(Clone)]
pub struct NoiseIdentity {
    static_secret: [u8; 32],
    static_public: [u8; 32],
    peer_id: PeerId,
    identity_key: heapless::Vec<u8, MAX_PUBLIC_KEY_PROTO_LEN>,
    signature: heapless::Vec<u8, MAX_SIGNATURE_LEN>,
}

impl core::fmt::Debug for NoiseIdentity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the secret.
        f.debug_struct("NoiseIdentity")
            .field("peer_id", &self.peer_id)
            .finish_non_exhaustive()
    }
}

impl NoiseIdentity {
    /// The identity of an Ed25519 `keypair` with the X25519 static secret `static_secret`,
    /// signed with the provider's `ed25519_sign`.
    pub fn ed25519<P: CryptoProvider>(keypair: &Keypair, static_secret: [u8; 32]) -> Self {
        let static_public = P::x25519_public(&static_secret);
        let signature = P::ed25519_sign(&keypair.seed(), &static_key_signing_input(&static_public));
        let public = keypair.public();
        NoiseIdentity {
            static_secret,
            static_public,
            peer_id: PeerId::from_public_key(&public),
            identity_key: public.to_protobuf(),
            signature: heapless::Vec::from_slice(&signature)
                .expect("64 bytes fit MAX_SIGNATURE_LEN"),
        }
    }

    /// The identity of any [`Signer`] (secp256k1, ECDSA, RSA, a hardware key) with the X25519
    /// static secret `static_secret`. Fails when the signer fails, or when its signature does
    /// not fit [`MAX_SIGNATURE_LEN`] bytes.
    pub fn from_signer<P: CryptoProvider, S: Signer + ?Sized>(
        signer: &S,
        static_secret: [u8; 32],
    ) -> Result<Self, SignError> {
        let static_public = P::x25519_public(&static_secret);
        let mut signature = [0u8; MAX_SIGNATURE_LEN];
        let len = signer.sign(&static_key_signing_input(&static_public), &mut signature)?;
        let public = signer.public_key();
        Ok(NoiseIdentity {
            static_secret,
            static_public,
            peer_id: PeerId::from_public_key(&public),
            identity_key: public.to_protobuf(),
            signature: heapless::Vec::from_slice(signature.get(..len).ok_or(SignError::Failed)?)
                .map_err(|_| SignError::Failed)?,
        })
    }

    /// The X25519 static public key.
    pub fn static_public(&self) -> &[u8; 32] {
        &self.static_public
    }

    /// The local PeerId.
    pub fn peer_id(&self) -> &PeerId {
        &self.peer_id
    }

    /// The protobuf-encoded libp2p public key that handshakes send.
    pub fn identity_key(&self) -> &[u8] {
        &self.identity_key
    }

    /// The signature over `"noise-libp2p-static-key:" || static public key`.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
}

/// What a handshake needs besides the identity and the ephemeral randomness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoiseHandshakeConfig<'a> {
    /// The PeerId the remote must have (a dialer usually knows it); another one fails the
    /// handshake with [`NoiseHandshakeError::PeerIdMismatch`].
    pub expected_remote: Option<PeerId>,
    /// The stream muxers this side supports, most preferred first (may be empty). Each at most
    /// [`MAX_MUXER_ID_LEN`] bytes, all together at most [`MAX_MUXER_LIST_LEN`] bytes encoded.
    pub stream_muxers: &'a [&'a str],
    /// The longest handshake message accepted from the remote (without its 2-byte prefix),
    /// checked as soon as the prefix is read, so the caller never buffers more than this plus
    /// 2 bytes. At most [`MAX_FRAME_LEN`] (65535, what the prefix can say); a handshake message
    /// with an RSA-4096 identity takes about 1.2 kB, with Ed25519 about 200 bytes.
    pub max_message_len: usize,
}

impl Default for NoiseHandshakeConfig<'_> {
    fn default() -> Self {
        NoiseHandshakeConfig {
            expected_remote: None,
            stream_muxers: &[],
            max_message_len: MAX_FRAME_LEN,
        }
    }
}

/// Why a handshake could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseConfigError {
    /// A muxer id is empty or longer than [`MAX_MUXER_ID_LEN`].
    InvalidMuxerId,
    /// The muxer list takes more than [`MAX_MUXER_LIST_LEN`] bytes encoded.
    TooManyMuxers,
}

impl core::fmt::Display for NoiseConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NoiseConfigError::InvalidMuxerId => write!(
                f,
                "noise: a muxer id is empty or longer than {MAX_MUXER_ID_LEN} bytes"
            ),
            NoiseConfigError::TooManyMuxers => write!(
                f,
                "noise: the muxer list takes more than {MAX_MUXER_LIST_LEN} bytes"
            ),
        }
    }
}

impl core::error::Error for NoiseConfigError {}

/// Why a handshake failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseHandshakeError {
    /// The Noise layer failed: a message did not authenticate, was too short, or carried a
    /// low-order key.
    Noise(NoiseError),
    /// The remote's handshake payload is not a valid `NoiseHandshakePayload`.
    Payload(ProtoError),
    /// The remote's identity key is missing or not a valid libp2p public key.
    InvalidKey(KeyError),
    /// The remote's identity key did not sign its Noise static key.
    InvalidSignature,
    /// This build cannot verify the remote's key type (RSA needs the `alloc` feature).
    UnsupportedKeyType(KeyType),
    /// The remote is not the peer this side expected
    /// ([`NoiseHandshakeConfig::expected_remote`], also in
    /// [`NoiseHandshake::expected_remote`]).
    PeerIdMismatch {
        /// The PeerId the remote proved.
        actual: PeerId,
    },
    /// A handshake message is longer than [`NoiseHandshakeConfig::max_message_len`].
    FrameTooLong {
        /// Its length, from its prefix.
        len: usize,
    },
    /// The output buffer is too small for the next message; nothing was written, and the call
    /// may be repeated with a larger buffer.
    BufferTooSmall {
        /// Bytes needed.
        required: usize,
    },
    /// [`NoiseHandshake::into_established`] was called before the handshake finished.
    NotFinished,
}

impl core::fmt::Display for NoiseHandshakeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NoiseHandshakeError::Noise(e) => e.fmt(f),
            NoiseHandshakeError::Payload(e) => write!(f, "noise: handshake payload: {e}"),
            NoiseHandshakeError::InvalidKey(e) => write!(f, "noise: remote identity: {e}"),
            NoiseHandshakeError::InvalidSignature => {
                f.write_str("noise: the remote identity did not sign its static key")
            }
            NoiseHandshakeError::UnsupportedKeyType(t) => {
                write!(f, "noise: cannot verify {t} identities in this build")
            }
            NoiseHandshakeError::PeerIdMismatch { actual } => {
                write!(f, "noise: reached peer {actual}, not the one expected")
            }
            NoiseHandshakeError::FrameTooLong { len } => {
                write!(f, "noise: {len}-byte handshake message is too long")
            }
            NoiseHandshakeError::BufferTooSmall { required } => {
                write!(
                    f,
                    "noise: output buffer too small ({required} bytes needed)"
                )
            }
            NoiseHandshakeError::NotFinished => f.write_str("noise: handshake not finished"),
        }
    }
}

impl core::error::Error for NoiseHandshakeError {}

impl From<NoiseError> for NoiseHandshakeError {
    fn from(e: NoiseError) -> Self {
        NoiseHandshakeError::Noise(e)
    }
}

/// The remote's authenticated identity and what the handshake negotiated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteInfo {
    /// The remote's PeerId, derived from `public_key`.
    pub peer_id: PeerId,
    /// The remote's libp2p public key, which signed its Noise static key.
    pub public_key: PublicKey,
    /// The stream muxer agreed in the handshake, if any; `None` means negotiating one with
    /// multistream-select on the secured channel.
    pub muxer: Option<heapless::String<MAX_MUXER_ID_LEN>>,
}

/// One side of a libp2p Noise handshake in progress. See the [module docs](self) for the call
/// order.
///
/// `I` is the local [`NoiseIdentity`], owned or borrowed (`&NoiseIdentity`, an `Arc`, ...).
pub struct NoiseHandshake<P: CryptoProvider, I = NoiseIdentity> {
    xx: HandshakeXX<P>,
    role: Role,
    identity: I,
    /// Handshake messages written or read so far (0..=3).
    messages: u8,
    expected_remote: Option<PeerId>,
    /// The local muxer list, encoded as a `NoiseExtensions` message (empty: none).
    local_muxers: heapless::Vec<u8, MAX_MUXER_LIST_LEN>,
    max_message_len: usize,
    remote: Option<(PeerId, PublicKey)>,
    muxer: Option<heapless::String<MAX_MUXER_ID_LEN>>,
    error: Option<NoiseHandshakeError>,
}

impl<P: CryptoProvider, I> core::fmt::Debug for NoiseHandshake<P, I> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NoiseHandshake")
            .field("role", &self.role)
            .field("messages", &self.messages)
            .field("remote", &self.remote.as_ref().map(|(id, _)| id))
            .field("muxer", &self.muxer)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<P: CryptoProvider, I: Borrow<NoiseIdentity>> NoiseHandshake<P, I> {
    /// Starts a handshake as `role` with the local `identity` and the ephemeral X25519 secret
    /// `ephemeral_secret` (fresh randomness for every handshake: the caller draws it).
    pub fn new(
        role: Role,
        identity: I,
        ephemeral_secret: [u8; 32],
        config: &NoiseHandshakeConfig<'_>,
    ) -> Result<Self, NoiseConfigError> {
        if config
            .stream_muxers
            .iter()
            .any(|id| id.is_empty() || id.len() > MAX_MUXER_ID_LEN)
        {
            return Err(NoiseConfigError::InvalidMuxerId);
        }
        let extensions = NoiseExtensionsBuilder {
            webtransport_certhashes: &[],
            stream_muxers: config.stream_muxers,
        };
        let mut local_muxers = heapless::Vec::new();
        local_muxers
            .resize(extensions.encoded_len(), 0)
            .map_err(|_| NoiseConfigError::TooManyMuxers)?;
        extensions
            .encode(&mut local_muxers)
            .map_err(|_| NoiseConfigError::TooManyMuxers)?;
        let xx = HandshakeXX::new(
            role == Role::Initiator,
            b"",
            identity.borrow().static_secret,
            ephemeral_secret,
        );
        Ok(NoiseHandshake {
            xx,
            role,
            identity,
            messages: 0,
            expected_remote: config.expected_remote,
            local_muxers,
            max_message_len: config.max_message_len.min(MAX_FRAME_LEN),
            remote: None,
            muxer: None,
            error: None,
        })
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The PeerId the remote must have, if one was given.
    pub fn expected_remote(&self) -> Option<&PeerId> {
        self.expected_remote.as_ref()
    }

    /// Whether all three messages are done and the remote is authenticated.
    pub fn is_finished(&self) -> bool {
        self.error.is_none() && self.xx.is_finished()
    }

    /// The error that ended the handshake, if one did.
    pub fn error(&self) -> Option<NoiseHandshakeError> {
        self.error
    }

    /// The remote's authenticated PeerId, once its payload is verified (message 2 for the
    /// initiator, 3 for the responder).
    pub fn remote_peer_id(&self) -> Option<&PeerId> {
        self.remote.as_ref().map(|(id, _)| id)
    }

    /// The early muxer, once known: the initiator knows it from message 2, the responder from
    /// message 3.
    pub fn muxer(&self) -> Option<&str> {
        self.muxer.as_deref()
    }

    /// The handshake hash (channel binding), final once the handshake is finished.
    pub fn handshake_hash(&self) -> [u8; 32] {
        self.xx.handshake_hash()
    }

    /// Writes the next handshake message, with its length prefix, to the front of `out`.
    /// `Ok(None)` when this side has nothing to send now.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> Result<Option<usize>, NoiseHandshakeError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if !self.xx.is_my_turn() {
            return Ok(None);
        }
        let mut payload = [0u8; MAX_PAYLOAD_LEN];
        let payload_len = if self.messages == 0 {
            0
        } else {
            self.write_payload(&mut payload)
        };
        let message_len = self.xx.message_len(payload_len);
        if message_len > MAX_FRAME_LEN {
            // Bounded payloads keep every local message far below the limit.
            return self.fail(NoiseHandshakeError::FrameTooLong { len: message_len });
        }
        let required = 2 + message_len;
        let Some(frame) = out.get_mut(..required) else {
            return Err(NoiseHandshakeError::BufferTooSmall { required });
        };
        let written = match self
            .xx
            .write_message(&payload[..payload_len], &mut frame[2..])
        {
            Ok(n) => n,
            Err(e) => return self.fail(e.into()),
        };
        frame[..2].copy_from_slice(&(written as u16).to_be_bytes());
        self.messages += 1;
        Ok(Some(2 + written))
    }

    /// Reads handshake messages from the front of `input`, decrypting them in place; returns
    /// the bytes used. Only whole messages are used, and nothing after the last handshake
    /// message.
    pub fn handle_input(&mut self, input: &mut [u8]) -> Result<usize, NoiseHandshakeError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut used = 0;
        while !self.xx.is_finished() && !self.xx.is_my_turn() {
            let rest = input.get_mut(used..).unwrap_or_default();
            let Some(prefix) = rest.first_chunk::<2>() else {
                break;
            };
            let len = usize::from(u16::from_be_bytes(*prefix));
            if len > self.max_message_len {
                return self.fail(NoiseHandshakeError::FrameTooLong { len });
            }
            let Some(message) = rest.get_mut(2..2 + len) else {
                break;
            };
            if let Err(e) = self.read_message(message) {
                return self.fail(e);
            }
            used += 2 + len;
        }
        Ok(used)
    }

    /// Ends a finished handshake: the transport for the secured channel and the remote's
    /// identity.
    pub fn into_established(self) -> Result<(NoiseTransport<P>, RemoteInfo), NoiseHandshakeError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let Some((peer_id, public_key)) = self.remote else {
            return Err(NoiseHandshakeError::NotFinished);
        };
        let (send, recv) = self
            .xx
            .into_transport()
            .map_err(|_| NoiseHandshakeError::NotFinished)?;
        Ok((
            NoiseTransport::new(send, recv),
            RemoteInfo {
                peer_id,
                public_key,
                muxer: self.muxer,
            },
        ))
    }

    fn fail<T>(&mut self, e: NoiseHandshakeError) -> Result<T, NoiseHandshakeError> {
        self.error = Some(e);
        Err(e)
    }

    /// Encodes the local payload into `out` (sized by `MAX_PAYLOAD_LEN`); returns its length.
    fn write_payload(&self, out: &mut [u8; MAX_PAYLOAD_LEN]) -> usize {
        let identity = self.identity.borrow();
        let mut w = Writer::new(out);
        let mut write = || -> Result<(), crate::wire::BufferTooSmall> {
            w.bytes(IDENTITY_KEY, &identity.identity_key)?;
            w.bytes(IDENTITY_SIG, &identity.signature)?;
            if !self.local_muxers.is_empty() {
                w.bytes(EXTENSIONS, &self.local_muxers)?;
            }
            Ok(())
        };
        write().expect("MAX_PAYLOAD_LEN bounds the identity key, signature and muxer list");
        w.len()
    }

    fn read_message(&mut self, message: &mut [u8]) -> Result<(), NoiseHandshakeError> {
        let range = self.xx.read_message(message)?;
        if self.messages > 0 {
            let payload = message.get(range).unwrap_or_default();
            self.accept_remote(payload)?;
        }
        self.messages += 1;
        Ok(())
    }

    /// Verifies the remote's payload (message 2 or 3) and settles the muxer.
    fn accept_remote(&mut self, payload: &[u8]) -> Result<(), NoiseHandshakeError> {
        let payload =
            NoiseHandshakePayload::decode(payload).map_err(NoiseHandshakeError::Payload)?;
        let public_key =
            PublicKey::decode(payload.identity_key()).map_err(NoiseHandshakeError::InvalidKey)?;
        let remote_static = self
            .xx
            .remote_static()
            .ok_or(NoiseHandshakeError::Noise(NoiseError::OutOfOrder))?;
        verify_static_key::<P>(&public_key, remote_static, payload.identity_sig())?;
        let peer_id = PeerId::from_public_key(&public_key);
        if let Some(expected) = self.expected_remote
            && expected != peer_id
        {
            return Err(NoiseHandshakeError::PeerIdMismatch { actual: peer_id });
        }
        self.muxer = payload
            .extensions()
            .and_then(|remote| self.choose_muxer(remote));
        self.remote = Some((peer_id, public_key));
        Ok(())
    }

    /// The first of the initiator's muxers that the responder supports.
    fn choose_muxer(
        &self,
        remote: NoiseExtensions<'_>,
    ) -> Option<heapless::String<MAX_MUXER_ID_LEN>> {
        let remote = remote.stream_muxers();
        if remote.clone().nth(MAX_REMOTE_MUXERS).is_some() {
            return None;
        }
        let local = NoiseExtensions::decode(&self.local_muxers)
            .ok()?
            .stream_muxers();
        let chosen = match self.role {
            Role::Initiator => local.clone().find(|m| remote.clone().any(|r| r == *m)),
            Role::Responder => remote.clone().find(|r| local.clone().any(|m| m == *r)),
        }?;
        let mut id = heapless::String::new();
        id.push_str(chosen).ok()?;
        Some(id)
    }
}

/// Checks that `key` signed `"noise-libp2p-static-key:" || remote_static`.
fn verify_static_key<P: CryptoProvider>(
    key: &PublicKey,
    remote_static: &[u8; 32],
    signature: &[u8],
) -> Result<(), NoiseHandshakeError> {
    match key {
        PublicKey::Ed25519(public) => {
            let signature: &[u8; 64] = signature
                .try_into()
                .map_err(|_| NoiseHandshakeError::InvalidSignature)?;
            if P::ed25519_verify(public, &static_key_signing_input(remote_static), signature) {
                Ok(())
            } else {
                Err(NoiseHandshakeError::InvalidSignature)
            }
        }
        other => other
            .verify_parts(&[STATIC_KEY_SIGNATURE_PREFIX, remote_static], signature)
            .map_err(|e| match e {
                VerifyError::InvalidSignature => NoiseHandshakeError::InvalidSignature,
                VerifyError::Unsupported(t) => NoiseHandshakeError::UnsupportedKeyType(t),
            }),
    }
}

#[cfg(test)]
mod tests;
