//! libp2p's Noise transport framing over the two cipher states of a finished handshake.

use super::NoiseError;
use super::symmetric::CipherState;
use crate::crypto::{CryptoProvider, TAG_LEN};

/// The largest frame body (ciphertext and tag): the 2-byte length prefix's limit.
pub const MAX_FRAME_LEN: usize = u16::MAX as usize;
/// The most plaintext one frame carries.
pub const MAX_PLAINTEXT_LEN: usize = MAX_FRAME_LEN - TAG_LEN;

/// A frame opened in place: where its plaintext lies in the caller's buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedFrame {
    /// Bytes of the buffer the frame took (prefix, ciphertext, tag).
    pub consumed: usize,
    /// The plaintext's range in the buffer.
    pub plaintext: core::ops::Range<usize>,
}

/// The send and receive cipher states of an established Noise session.
pub struct NoiseTransport<P: CryptoProvider> {
    send: CipherState<P>,
    recv: CipherState<P>,
}

impl<P: CryptoProvider> core::fmt::Debug for NoiseTransport<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NoiseTransport")
            .field("send", &self.send)
            .field("recv", &self.recv)
            .finish()
    }
}

impl<P: CryptoProvider> NoiseTransport<P> {
    /// The transport of a finished handshake (see `HandshakeXX::into_transport`).
    pub fn new(send: CipherState<P>, recv: CipherState<P>) -> Self {
        NoiseTransport { send, recv }
    }

    /// Seals `plaintext` into one frame at the front of `out`; returns the frame's length
    /// (`plaintext.len() + 18`).
    pub fn encrypt_frame(&mut self, plaintext: &[u8], out: &mut [u8]) -> Result<usize, NoiseError> {
        let required = plaintext.len() + 2 + TAG_LEN;
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(NoiseError::FrameTooLong);
        }
        let dst = out
            .get_mut(2..2 + plaintext.len())
            .ok_or(NoiseError::BufferTooSmall { required })?;
        dst.copy_from_slice(plaintext);
        self.seal_in_place(out, plaintext.len())
    }

    /// Seals the `len` plaintext bytes at `buf[2..2 + len]` in place: writes the length prefix
    /// in `buf[..2]` and the tag after the ciphertext; returns the frame's length. Lets a caller
    /// build plaintext straight into its send buffer, 2 bytes in, with 16 bytes spare.
    pub fn seal_in_place(&mut self, buf: &mut [u8], len: usize) -> Result<usize, NoiseError> {
        if len > MAX_PLAINTEXT_LEN {
            return Err(NoiseError::FrameTooLong);
        }
        let required = len + 2 + TAG_LEN;
        let frame = buf
            .get_mut(..required)
            .ok_or(NoiseError::BufferTooSmall { required })?;
        let body = self.send.encrypt_with_ad(&[], &mut frame[2..], len)?;
        frame[..2].copy_from_slice(&(body as u16).to_be_bytes());
        Ok(required)
    }

    /// Opens the frame at the front of `buf` in place. `Ok(None)` means the buffer holds only
    /// part of a frame (at most 65537 bytes are ever needed).
    pub fn open_in_place(&mut self, buf: &mut [u8]) -> Result<Option<OpenedFrame>, NoiseError> {
        let Some(prefix) = buf.first_chunk::<2>() else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes(*prefix));
        let Some(body) = buf.get_mut(2..2 + len) else {
            return Ok(None);
        };
        let plain = self.recv.decrypt_with_ad(&[], body)?;
        Ok(Some(OpenedFrame {
            consumed: 2 + len,
            plaintext: 2..2 + plain,
        }))
    }

    /// The nonces of the next frame to send and to receive.
    pub fn nonces(&self) -> (u64, u64) {
        (self.send.nonce(), self.recv.nonce())
    }
}
