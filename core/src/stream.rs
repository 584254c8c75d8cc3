//! The interface between a connection and the protocol that runs on one of its streams.
//!
//! Once multistream-select has agreed on a protocol for a stream, the connection hands the
//! stream's bytes to a [`StreamHandler`] and sends what the handler writes. A handler knows
//! nothing of yamux, Noise or sockets: it sees an ordered byte stream in each direction, the
//! end of the peer's half, and time. Adding a protocol means writing one handler; neither the
//! drivers nor the other protocols change.
//!
//! # Call order (the same as every state machine in this crate)
//! 1. `handle_input(now, bytes)` with the stream's received bytes: the handler returns how
//!    many it used; the rest stays buffered by the connection and is offered again with more.
//!    A handler that used none of a non-empty input while `bytes.len() >= max_input_len()`
//!    and that has nothing to send either is stuck, and the connection resets the stream
//!    (a handler with output pending is applying backpressure, not stuck).
//! 2. `handle_remote_close(now)` once the peer has closed its half and every byte before it
//!    was used.
//! 3. `handle_timeout(now)` when `poll_timeout()`'s instant has passed.
//! 4. Then drain: `poll_transmit(now, out)` until it returns 0, `poll_event()` until `None`.
//!    When `wants_close()` is true and nothing is left to send, the connection closes this
//!    side's half; when `is_done()` is true it forgets the handler.

use crate::time::Instant;

/// What a handler asks of its stream.
pub trait StreamHandler {
    /// What the handler tells the application.
    type Event;
    /// Why the handler gave up; the connection resets the stream.
    type Error;

    /// Bytes received on the stream, in order; returns how many were used.
    fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<usize, Self::Error>;

    /// The peer closed its half: no bytes follow the ones already handed in.
    fn handle_remote_close(&mut self, now: Instant) -> Result<(), Self::Error>;

    /// The instant from `poll_timeout` has passed.
    fn handle_timeout(&mut self, now: Instant) -> Result<(), Self::Error>;

    /// Writes bytes to send into `out`; returns how many (0: nothing to send now).
    fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> usize;

    /// Zero bytes to send next, counted rather than written: up to `max` of the bytes that
    /// `poll_transmit` would write next, when they are all zeros (perf's payload). The handler
    /// counts them as sent; the runner sends that many zeros without copying them, then calls
    /// `poll_transmit` again as usual. The default (0) sends everything through
    /// `poll_transmit`; a runner that never calls this loses nothing.
    fn poll_transmit_zeros(&mut self, _now: Instant, _max: u64) -> u64 {
        0
    }

    /// The next event for the application.
    fn poll_event(&mut self) -> Option<Self::Event>;

    /// When `handle_timeout` should next be called.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Whether this side's half should be closed once `poll_transmit` has nothing more.
    fn wants_close(&self) -> bool;

    /// Whether the handler has finished: the stream can be dropped.
    fn is_done(&self) -> bool;

    /// The most input the handler may need to see at once to make progress (its largest
    /// message). The connection buffers at least this much per stream.
    fn max_input_len(&self) -> usize;
}
