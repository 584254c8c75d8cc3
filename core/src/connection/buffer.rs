//! The receive buffer: raw bytes before the secure channel, then Noise frames opened in place.

use crate::crypto::CryptoProvider;
use crate::noise::{NoiseError, NoiseTransport};
use crate::time::{Duration, Instant};
use crate::yamux::ByteStorage;
use core::ops::Range;

/// The most bytes the buffer holds: one whole Noise frame.
const CAPACITY: usize = super::FRAME_BUFFER_LEN;

/// How long an empty heap buffer keeps its allocation. Frames of a transfer follow each other
/// within microseconds; freeing and reallocating (and zeroing) 64 KiB for each one cost a
/// fifth of a bulk transfer's time in `benches/connection.rs`.
pub(crate) const IDLE_RELEASE: Duration = Duration::from_secs(1);

/// An empty heap buffer no larger than this is freed at once: small frames (the handshake,
/// pings, identify) are cheap to reallocate, and an idle connection should hold nothing.
const RELEASE_AT_ONCE: usize = 4096;

/// The smallest allocation: most frames outside transfers are a few hundred bytes.
const MIN_ALLOCATION: usize = 1024;

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
    /// Empty but still allocated: the allocation is dropped at this time (heap storage only).
    release_at: Option<Instant>,
}

impl<B: ByteStorage> FrameBuffer<B> {
    #[inline(always)]
    pub(crate) fn new() -> Self {
        FrameBuffer {
            buf: B::empty(),
            len: 0,
            frame_end: 0,
            plain: 0..0,
            taken: 0,
            release_at: None,
        }
    }

    /// Empties the buffer in place (the bytes stay allocated; fixed storage is not rebuilt).
    pub(crate) fn reset(&mut self) {
        self.len = 0;
        self.frame_end = 0;
        self.plain = 0..0;
        self.taken = 0;
        self.release_at = None;
        self.buf.set_capacity(0);
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
            // Grow by doubling (at least 1 KiB), never past one frame.
            let cap = need
                .next_power_of_two()
                .max(MIN_ALLOCATION)
                .min(Self::max_capacity());
            self.buf.set_capacity(cap);
        }
        self.buf.bytes_mut()[self.len..need].copy_from_slice(&input[..n]);
        self.len = need;
        self.release_at = None;
        n
    }

    /// Where the socket may write received bytes straight into the buffer, sparing the copy
    /// [`fill`](Self::fill) makes: `buf[len..end]`, returned as that range. Only while the
    /// buffer is allocated to its full size (a transfer is running; an idle connection holds
    /// no such buffer, and reads through the driver's shared buffer instead), and only up to
    /// the end of the first incomplete frame plus the next frame's 2-byte length, so that
    /// opening a frame never has to move a long tail of ciphertext to the front. `None`: no
    /// room, or no full-size allocation.
    pub(crate) fn direct_room(&mut self) -> Option<Range<usize>> {
        let cap = Self::max_capacity();
        if self.buf.bytes().len() < cap {
            return None;
        }
        // The first frame not yet opened starts at `frame_end`; skip whole ones after it.
        let mut start = self.frame_end;
        let end = loop {
            let bytes = &self.buf.bytes()[start..self.len];
            match bytes.first_chunk::<2>() {
                Some(prefix) => {
                    let frame = 2 + usize::from(u16::from_be_bytes(*prefix));
                    if bytes.len() >= frame {
                        start += frame;
                        continue;
                    }
                    break start + frame + 2;
                }
                None => break cap,
            }
        };
        let end = end.min(cap);
        (end > self.len).then_some(self.len..end)
    }

    /// The bytes of the buffer, writable (the socket reads into [`direct_room`]).
    ///
    /// [`direct_room`]: Self::direct_room
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        self.buf.bytes_mut()
    }

    /// `n` bytes were written at the start of [`direct_room`](Self::direct_room).
    pub(crate) fn commit_direct(&mut self, n: usize) {
        debug_assert!(self.len + n <= self.buf.bytes().len());
        self.len = (self.len + n).min(self.buf.bytes().len());
        if n > 0 {
            self.release_at = None;
        }
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
    pub(crate) fn consume(&mut self, now: Instant, n: usize) {
        debug_assert!(self.frame_end == 0 && n <= self.len);
        if n == 0 {
            return;
        }
        self.buf.bytes_mut().copy_within(n..self.len, 0);
        self.len -= n;
        self.taken += n as u64;
        self.release_later_if_empty(now);
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
        now: Instant,
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
                self.release_later_if_empty(now);
                Ok(false)
            }
        }
    }

    /// Schedules the release of an empty heap buffer (see [`IDLE_RELEASE`]).
    fn release_later_if_empty(&mut self, now: Instant) {
        if self.len != 0 || !B::ALLOCATES || self.buf.bytes().is_empty() {
            return;
        }
        if self.buf.bytes().len() <= RELEASE_AT_ONCE {
            self.buf.set_capacity(0);
            self.release_at = None;
        } else if self.release_at.is_none() {
            self.release_at = Some(now + IDLE_RELEASE);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) will drop the idle allocation.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.release_at
    }

    /// Drops the allocation if the buffer stayed empty until its release time.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.release_at.is_some_and(|t| t <= now) {
            self.release_at = None;
            if self.len == 0 {
                self.buf.set_capacity(0);
            }
        }
    }

    /// Bytes allocated (tests).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.bytes().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_heap_buffers_are_freed_at_once() {
        let mut rx: FrameBuffer<std::vec::Vec<u8>> = FrameBuffer::new();
        assert_eq!(rx.capacity(), 0);
        assert_eq!(rx.fill(&[1; 100]), 100);
        assert_eq!(rx.capacity(), MIN_ALLOCATION);
        rx.consume(Instant::from_millis(5), 100);
        assert_eq!(rx.capacity(), 0);
        assert_eq!(rx.poll_timeout(), None);
    }

    #[test]
    fn large_heap_buffer_is_kept_while_busy_and_released_when_idle() {
        let big = RELEASE_AT_ONCE + 1;
        let mut rx: FrameBuffer<std::vec::Vec<u8>> = FrameBuffer::new();
        let t0 = Instant::from_millis(5);
        assert_eq!(rx.fill(&vec![1; big]), big);
        let cap = rx.capacity();
        assert!(cap >= big);
        rx.consume(t0, big);
        // Empty, but kept for the next bytes.
        assert_eq!(rx.capacity(), cap);
        assert_eq!(rx.poll_timeout(), Some(t0 + IDLE_RELEASE));
        // New bytes before the release time cancel it.
        rx.fill(&[2; 10]);
        assert_eq!(rx.poll_timeout(), None);
        rx.handle_timeout(t0 + IDLE_RELEASE);
        assert_eq!(rx.capacity(), cap);
        let t1 = t0 + Duration::from_millis(300);
        rx.consume(t1, 10);
        rx.handle_timeout(t1 + IDLE_RELEASE - Duration::from_millis(1));
        assert_eq!(rx.capacity(), cap);
        rx.handle_timeout(t1 + IDLE_RELEASE);
        assert_eq!(rx.capacity(), 0);
        assert_eq!(rx.poll_timeout(), None);
    }

    #[test]
    fn direct_room_needs_a_full_allocation_and_stops_after_the_next_length() {
        let mut rx: FrameBuffer<std::vec::Vec<u8>> = FrameBuffer::new();
        assert_eq!(rx.direct_room(), None);
        rx.fill(&[0; 10]);
        assert_eq!(
            rx.direct_room(),
            None,
            "a small allocation reads through fill"
        );
        // A full-size allocation: a frame of 1000 body bytes, 500 of them here.
        let mut rx: FrameBuffer<std::vec::Vec<u8>> = FrameBuffer::new();
        rx.fill(&vec![0; CAPACITY]);
        rx.consume(Instant::ZERO, CAPACITY);
        assert_eq!(
            rx.direct_room(),
            Some(0..CAPACITY),
            "no length known: up to the end"
        );
        let mut head = vec![0u8; 502];
        head[..2].copy_from_slice(&1000u16.to_be_bytes());
        let room = rx.direct_room().unwrap();
        rx.bytes_mut()[room.start..room.start + head.len()].copy_from_slice(&head);
        rx.commit_direct(head.len());
        // The rest of the frame (500 bytes) and the next length (2).
        assert_eq!(rx.direct_room(), Some(502..1004));
        // A whole frame followed by part of the next: the room ends after the next one's
        // length.
        let mut next = vec![0u8; 502];
        next[500..].copy_from_slice(&20u16.to_be_bytes());
        rx.bytes_mut()[502..1004].copy_from_slice(&next);
        rx.commit_direct(502);
        assert_eq!(rx.direct_room(), Some(1004..1026));
    }

    #[test]
    fn direct_room_is_capped_by_the_buffer() {
        let mut rx: FrameBuffer<[u8; CAPACITY]> = FrameBuffer::new();
        let mut head = [0u8; 2];
        head.copy_from_slice(&u16::MAX.to_be_bytes());
        rx.fill(&head);
        assert_eq!(rx.direct_room(), Some(2..CAPACITY));
    }

    #[test]
    fn fixed_buffer_has_no_release_timer() {
        let mut rx: FrameBuffer<[u8; super::CAPACITY]> = FrameBuffer::new();
        rx.fill(&[1; 10]);
        rx.consume(Instant::ZERO, 10);
        assert_eq!(rx.poll_timeout(), None);
    }
}
