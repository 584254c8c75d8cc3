//! The `XX` handshake pattern with 25519, ChaChaPoly and SHA-256:
//!
//! ```text
//!   -> e
//!   <- e, ee, s, es
//!   -> s, se
//! ```
//!
//! Payloads are opaque here; the libp2p layer puts its signed identity in messages 2 and 3.

use super::NoiseError;
use super::symmetric::{CipherState, SymmetricState};
use crate::crypto::{CryptoProvider, TAG_LEN};

/// The Noise protocol name libp2p uses.
pub const PROTOCOL_NAME: &str = "Noise_XX_25519_ChaChaPoly_SHA256";

const DH_LEN: usize = 32;

/// A Noise XX handshake in progress, for one side.
pub struct HandshakeXX<P: CryptoProvider> {
    ss: SymmetricState<P>,
    initiator: bool,
    /// Messages done so far (0..=3).
    step: u8,
    s: [u8; 32],
    s_pub: [u8; 32],
    e: [u8; 32],
    e_pub: [u8; 32],
    rs: Option<[u8; 32]>,
    re: Option<[u8; 32]>,
}

impl<P: CryptoProvider> core::fmt::Debug for HandshakeXX<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HandshakeXX")
            .field("initiator", &self.initiator)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

impl<P: CryptoProvider> HandshakeXX<P> {
    /// Starts a handshake with the local static X25519 secret `s`, the ephemeral secret `e`
    /// (fresh randomness for every handshake: the caller draws it) and a prologue both sides
    /// share (libp2p's is empty).
    pub fn new(initiator: bool, prologue: &[u8], s: [u8; 32], e: [u8; 32]) -> Self {
        let mut ss = SymmetricState::new(PROTOCOL_NAME.as_bytes());
        ss.mix_hash(prologue);
        HandshakeXX {
            ss,
            initiator,
            step: 0,
            s_pub: P::x25519_public(&s),
            s,
            e_pub: P::x25519_public(&e),
            e,
            rs: None,
            re: None,
        }
    }

    /// Whether it is this side's turn to write.
    pub fn is_my_turn(&self) -> bool {
        self.step < 3 && self.step.is_multiple_of(2) == self.initiator
    }

    /// Whether all three messages are done.
    pub fn is_finished(&self) -> bool {
        self.step == 3
    }

    /// The peer's static key, once received (message 2 for the initiator, 3 for the responder).
    pub fn remote_static(&self) -> Option<&[u8; 32]> {
        self.rs.as_ref()
    }

    /// The local static public key.
    pub fn local_static(&self) -> &[u8; 32] {
        &self.s_pub
    }

    /// The handshake hash (channel binding), final once the handshake is finished.
    pub fn handshake_hash(&self) -> [u8; 32] {
        self.ss.handshake_hash()
    }

    /// Bytes the next message takes with a payload of `payload_len` bytes.
    pub fn message_len(&self, payload_len: usize) -> usize {
        let keyed_payload = payload_len + if self.step == 0 { 0 } else { TAG_LEN };
        match self.step {
            0 => DH_LEN + keyed_payload,
            1 => DH_LEN + DH_LEN + TAG_LEN + keyed_payload,
            _ => DH_LEN + TAG_LEN + keyed_payload,
        }
    }

    fn dh(&self, secret: &[u8; 32], public: Option<&[u8; 32]>) -> Result<[u8; 32], NoiseError> {
        let public = public.ok_or(NoiseError::OutOfOrder)?;
        P::x25519(secret, public).map_err(|_| NoiseError::WeakKey)
    }

    /// Writes this side's next message with `payload` into `out`; returns its length.
    pub fn write_message(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, NoiseError> {
        if !self.is_my_turn() {
            return Err(NoiseError::OutOfOrder);
        }
        let required = self.message_len(payload.len());
        if out.len() < required {
            return Err(NoiseError::BufferTooSmall { required });
        }
        let mut at = 0;
        if self.step < 2 {
            // e
            out[..DH_LEN].copy_from_slice(&self.e_pub);
            self.ss.mix_hash(&self.e_pub);
            at += DH_LEN;
        }
        if self.step == 1 {
            // ee
            let ee = self.dh(&self.e, self.re.as_ref())?;
            self.ss.mix_key(&ee);
        }
        if self.step >= 1 {
            // s
            out[at..at + DH_LEN].copy_from_slice(&self.s_pub);
            at += self.ss.encrypt_and_hash(&mut out[at..], DH_LEN)?;
            // es (responder: DH(s, re)) or se (initiator: DH(s, re))
            let k = self.dh(&self.s, self.re.as_ref())?;
            self.ss.mix_key(&k);
        }
        out[at..at + payload.len()].copy_from_slice(payload);
        at += self.ss.encrypt_and_hash(&mut out[at..], payload.len())?;
        debug_assert_eq!(at, required);
        self.step += 1;
        Ok(at)
    }

    /// Reads the peer's next message (decrypting it in place) and returns the range of `msg`
    /// that holds the payload.
    pub fn read_message(&mut self, msg: &mut [u8]) -> Result<core::ops::Range<usize>, NoiseError> {
        if self.is_my_turn() || self.is_finished() {
            return Err(NoiseError::OutOfOrder);
        }
        let mut at = 0;
        if self.step < 2 {
            // e
            let re: [u8; 32] = msg
                .get(..DH_LEN)
                .ok_or(NoiseError::MessageTooShort)?
                .try_into()
                .expect("32 bytes");
            self.ss.mix_hash(&re);
            self.re = Some(re);
            at += DH_LEN;
        }
        if self.step == 1 {
            // ee
            let ee = self.dh(&self.e, self.re.as_ref())?;
            self.ss.mix_key(&ee);
        }
        if self.step >= 1 {
            // s
            let end = at + DH_LEN + TAG_LEN;
            let field = msg.get_mut(at..end).ok_or(NoiseError::MessageTooShort)?;
            self.ss.decrypt_and_hash(field)?;
            let rs: [u8; 32] = field[..DH_LEN].try_into().expect("32 bytes");
            self.rs = Some(rs);
            at = end;
            // es (initiator: DH(e, rs)) or se (responder: DH(e, rs))
            let k = self.dh(&self.e, self.rs.as_ref())?;
            self.ss.mix_key(&k);
        }
        let payload_len = if self.ss.has_key() {
            msg.len()
                .checked_sub(at + TAG_LEN)
                .ok_or(NoiseError::MessageTooShort)?
        } else {
            msg.len() - at
        };
        self.ss.decrypt_and_hash(&mut msg[at..])?;
        self.step += 1;
        Ok(at..at + payload_len)
    }

    /// Ends a finished handshake: the cipher states for sending and receiving.
    pub fn into_transport(self) -> Result<(CipherState<P>, CipherState<P>), NoiseError> {
        if !self.is_finished() {
            return Err(NoiseError::OutOfOrder);
        }
        let (i_to_r, r_to_i) = self.ss.split();
        Ok(if self.initiator {
            (i_to_r, r_to_i)
        } else {
            (r_to_i, i_to_r)
        })
    }
}
