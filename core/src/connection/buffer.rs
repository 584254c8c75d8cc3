//! The receive buffer: raw bytes before the secure channel, then Noise frames opened in place.

use crate::crypto::CryptoProvider;
use crate::noise::{NoiseError, NoiseTransport};
use crate::yamux::ByteStorage;
use core::ops::Range;

/// The most bytes the buffer holds: one whole Noise frame.
const CAPACITY: usize = super::FRAME_BUFFER_LEN;

/// Received bytes in `buf[..len]`. Once frames are opened, `buf[..frame_end]` is the opened
/// frame, whose unconsumed plaintext is `buf[plain]`, and `buf[frame_end..len]` the ciphertext
/// that follows it.
#[derive(Debug)]
pub(crate) struct FrameBuffer<B> {
    buf: B,
    len: usize,
    frame_end: usize,
    plain: Range<usize>,
    /// Counts everything taken out (raw bytes, plaintext, frames), to detect progress.
    taken: u64,
}

impl<B: ByteStorage> FrameBuffer<B> {
    pub(crate) fn new() -> Self {
        FrameBuffer {
            buf: B::empty(),
            len: 0,
            frame_end: 0,
            plain: 0..0,
            taken: 0,
        }
    }

    fn max_capacity() -> usize {
        CAPACITY.min(B::MAX_CAPACITY)
    }

    /// Copies as much of `input` as fits; returns how much.
    pub(crate) fn fill(&mut self, input: &[u8]) -> usize {
        let n = input.len().min(Self::max_capacity() - self.len);
        if n == 0 {
            return 0;
        }
        let need = self.len + n;
        if self.buf.bytes().len() < need {
            // Grow by doubling (at least 4 KiB), never past one frame.
            let cap = need.next_power_of_two().max(4096).min(Self::max_capacity());
            self.buf.set_capacity(cap);
        }
        self.buf.bytes_mut()[self.len..need].copy_from_slice(&input[..n]);
        self.len = need;
        n
    }

    /// A number that grows whenever anything is taken out of the buffer.
    pub(crate) fn progress(&self) -> u64 {
        self.taken
    }

    /// Room left before the buffer is full.
    pub(crate) fn free(&self) -> usize {
        Self::max_capacity() - self.len
    }

    /// The raw bytes (before any frame is opened).
    pub(crate) fn data(&self) -> &[u8] {
        &self.buf.bytes()[self.frame_end..self.len]
    }

    /// The raw bytes, writable (the handshake decrypts in place).
    pub(crate) fn data_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.frame_end, self.len);
        &mut self.buf.bytes_mut()[start..end]
    }

    /// Drops `n` raw bytes from the front.
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(self.frame_end == 0 && n <= self.len);
        if n == 0 {
            return;
        }
        self.buf.bytes_mut().copy_within(n..self.len, 0);
        self.len -= n;
        self.taken += n as u64;
        self.release_if_empty();
    }

    pub(crate) fn has_plaintext(&self) -> bool {
        !self.plain.is_empty()
    }

    pub(crate) fn plaintext(&self) -> &[u8] {
        &self.buf.bytes()[self.plain.clone()]
    }

    pub(crate) fn consume_plaintext(&mut self, n: usize) {
        debug_assert!(n <= self.plain.len());
        self.plain.start += n;
        self.taken += n as u64;
    }

    /// Drops the frame whose plaintext was consumed and opens the next one if it is whole.
    /// Returns whether a frame was opened.
    pub(crate) fn open_frame<P: CryptoProvider>(
        &mut self,
        transport: &mut NoiseTransport<P>,
    ) -> Result<bool, NoiseError> {
        debug_assert!(!self.has_plaintext());
        if self.frame_end > 0 {
            self.buf
                .bytes_mut()
                .copy_within(self.frame_end..self.len, 0);
            self.len -= self.frame_end;
            self.frame_end = 0;
            self.plain = 0..0;
        }
        let len = self.len;
        match transport.open_in_place(&mut self.buf.bytes_mut()[..len])? {
            Some(frame) => {
                self.frame_end = frame.consumed;
                self.plain = frame.plaintext;
                self.taken += 1;
                Ok(true)
            }
            None => {
                self.release_if_empty();
                Ok(false)
            }
        }
    }

    fn release_if_empty(&mut self) {
        if self.len == 0 && B::ALLOCATES {
            self.buf.set_capacity(0);
        }
    }
}
