//! yamux `/yamux/1.0.0`: many streams over one ordered, reliable connection, as a sans-IO
//! state machine.
//!
//! Specs: libp2p/specs `yamux/README.md` and hashicorp/yamux `spec.md`. Behaviour follows
//! rust-yamux and go-yamux where the spec is silent (lazy SYN, 256 un-ACKed inbound streams,
//! frames for recently closed streams tolerated, window auto-tuning).
//!
//! # Call order
//! 1. [`YamuxSession::new(role, config)`](YamuxSession::new) once the connection (Noise) is up.
//! 2. Bytes from the peer: [`handle_input(now, bytes)`](YamuxSession::handle_input) returns how
//!    many it used. Fewer than offered means a buffer is full (a stream's receive ring, or the
//!    small queue of control answers): keep the rest, drain the `poll_*` calls and
//!    [`read`](YamuxSession::read), and offer the rest again.
//! 3. After every input, timeout or application call, drain:
//!    [`poll_transmit(now, out)`](YamuxSession::poll_transmit) until `None` (whole frames, at
//!    least 12 bytes of room needed), [`poll_event()`](YamuxSession::poll_event) until `None`.
//! 4. [`poll_timeout()`](YamuxSession::poll_timeout) → call
//!    [`handle_timeout(now)`](YamuxSession::handle_timeout) when it passes (keep-alive pings,
//!    ping timeout).
//! 5. Application: [`open_stream`](YamuxSession::open_stream), [`accept`](YamuxSession::accept)
//!    on [`YamuxEvent::InboundStream`], [`write`](YamuxSession::write) /
//!    [`read`](YamuxSession::read) (both bounded, both return how much they moved),
//!    [`close`](YamuxSession::close) (FIN after buffered data), [`reset`](YamuxSession::reset),
//!    [`go_away`](YamuxSession::go_away).
//!
//! A protocol violation by the peer makes `handle_input` return the [`YamuxError`], queues a
//! go-away with the matching code (sent by the next `poll_transmit`) and ends the session.
//!
//! # Q&A
//! **Why a storage type parameter instead of const generics alone?** A microcontroller has no
//! allocator and wants every byte counted at build time; a server with thousands of connections
//! wants an idle connection to cost almost nothing. [`FixedStorage<STREAMS, RX, TX>`] gives the
//! first (slots and rings inline, `STREAMS * (RX + TX)` bytes plus small state), [`HeapStorage`]
//! the second (rings allocated while they hold bytes and freed when empty, table grown on
//! demand). Both plug into the same [`YamuxSession`]: there is one state machine.
//!
//! **What bounds memory with `HeapStorage`?** `max_streams` slots; each receive ring at most
//! `max_stream_rx_buffer`, each send ring at most `max_stream_tx_buffer`; and all rings of a
//! session together at most `max_session_buffer` ([`YamuxSession::buffered_bytes`]). A ring
//! that cannot grow is full: input stops (backpressure) and `write` takes less.
//!
//! **Why may the peer send more than a fixed receive ring holds?** The spec fixes the first
//! window at 256 KiB. With a small `RX` the extra bytes stay unread in the socket
//! (`handle_input` returns fewer bytes; the caller stops reading until the application reads
//! that stream), so TCP's own flow control holds the peer, and the other streams wait too.
//! After that first window, updates never grant more than the ring holds
//! (`min(max_receive_window, receive ring)`), so a small ring blocks the connection at most once
//! per stream.
//!
//! **Why does reading `Ok(0)` mean end of stream?** "Nothing yet" is
//! [`StreamError::WouldBlock`], so `Ok(0)` (with a non-empty `out`) is only ever the peer's FIN.

mod buffer;
mod frame;
mod input;
mod session;
mod stream;

#[cfg(test)]
mod tests;

#[cfg(feature = "alloc")]
pub use buffer::HeapStorage;
pub use buffer::{ByteStorage, FixedStorage, Ring, StreamSlots, YamuxStorage};
pub use frame::{
    Flags, FrameType, GoAwayCode, HEADER_LEN, Header, HeaderError, INITIAL_WINDOW, VERSION,
};
pub use session::{MAX_ACK_BACKLOG, YamuxSession};
pub use stream::{StreamId, StreamSlot};

use crate::time::Duration;
use core::fmt;

/// The protocol id negotiated with multistream-select.
pub const PROTOCOL: &str = "/yamux/1.0.0";

/// Which side of the connection this session is: the dialer opens odd stream ids, the
/// listener even ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The side that dialed the connection (client).
    Dialer,
    /// The side that accepted the connection (server).
    Listener,
}

/// Limits and timers of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct YamuxConfig {
    /// Most streams open at once (both directions); more inbound ones are reset.
    pub max_streams: usize,
    /// Most inbound streams the application has not accepted yet; more are reset.
    pub max_pending_inbound: usize,
    /// The largest receive window a stream's auto-tuning may grow to. Windows after the first
    /// 256 KiB never exceed it nor the receive ring's size.
    pub max_receive_window: u32,
    /// Most bytes a stream's receive ring holds (also capped by the storage).
    pub max_stream_rx_buffer: usize,
    /// Most bytes a stream's send ring holds (also capped by the storage).
    pub max_stream_tx_buffer: usize,
    /// Most bytes all rings of the session may allocate together (heap storage only).
    pub max_session_buffer: usize,
    /// Send a ping this long after the last answer; `None`: only the first RTT ping.
    pub keep_alive_interval: Option<Duration>,
    /// A ping unanswered this long ends the session.
    pub ping_timeout: Duration,
}

impl Default for YamuxConfig {
    fn default() -> Self {
        YamuxConfig {
            max_streams: 512,
            max_pending_inbound: 256,
            max_receive_window: 16 * 1024 * 1024,
            max_stream_rx_buffer: 16 * 1024 * 1024,
            max_stream_tx_buffer: 1024 * 1024,
            max_session_buffer: 64 * 1024 * 1024,
            keep_alive_interval: Some(Duration::from_secs(30)),
            ping_timeout: Duration::from_secs(30),
        }
    }
}

/// What the session tells the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YamuxEvent {
    /// The peer opened a stream: [`accept`](YamuxSession::accept) or
    /// [`reset`](YamuxSession::reset) it.
    InboundStream(StreamId),
    /// Bytes arrived on the stream.
    Readable(StreamId),
    /// A write that took less than offered can now take more.
    Writable(StreamId),
    /// The peer closed its half (FIN): after the buffered bytes, `read` returns `Ok(0)`.
    RemoteClosed(StreamId),
    /// The peer reset the stream; it is gone.
    Reset(StreamId),
    /// A ping was answered after this round-trip time.
    PingRtt(Duration),
    /// The peer sent a go-away: no new streams.
    GoAway(GoAwayCode),
}

/// How the peer broke the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProtocolViolation {
    /// A header with a version other than 0.
    InvalidVersion(u8),
    /// A header with a type other than 0..=3.
    InvalidType(u8),
    /// A data frame longer than the window granted.
    WindowExceeded,
    /// A window update pushed the send window past `u32::MAX`.
    WindowOverflow,
    /// A frame for a stream id that was never opened.
    UnknownStream(u32),
    /// Stream id 0 on a stream frame, or a SYN with our parity.
    InvalidStreamId(u32),
    /// A SYN for an id in use or used before.
    StreamIdInUse(u32),
    /// A ping answer we did not ask for.
    UnexpectedPingAck(u32),
}

impl fmt::Display for ProtocolViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolViolation::InvalidVersion(v) => write!(f, "invalid version {v}"),
            ProtocolViolation::InvalidType(t) => write!(f, "invalid frame type {t}"),
            ProtocolViolation::WindowExceeded => f.write_str("data beyond the receive window"),
            ProtocolViolation::WindowOverflow => f.write_str("send window overflow"),
            ProtocolViolation::UnknownStream(id) => write!(f, "frame for unknown stream {id}"),
            ProtocolViolation::InvalidStreamId(id) => write!(f, "invalid stream id {id}"),
            ProtocolViolation::StreamIdInUse(id) => write!(f, "stream id {id} already used"),
            ProtocolViolation::UnexpectedPingAck(v) => write!(f, "unexpected ping ack {v}"),
        }
    }
}

/// Why the session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum YamuxError {
    /// The peer broke the protocol; a go-away with code 1 is queued.
    Protocol(ProtocolViolation),
    /// A ping went unanswered for `ping_timeout`.
    PingTimeout,
}

impl fmt::Display for YamuxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            YamuxError::Protocol(v) => write!(f, "yamux protocol violation: {v}"),
            YamuxError::PingTimeout => f.write_str("yamux ping timed out"),
        }
    }
}

impl core::error::Error for YamuxError {}

/// Why a stream could not be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpenError {
    /// `max_streams` (or the storage's slots) are in use.
    TooManyStreams,
    /// A go-away was sent or received.
    GoingAway,
    /// [`MAX_ACK_BACKLOG`] of our streams wait for the peer's ACK.
    AckBacklog,
    /// Every stream id of our parity was used.
    IdsExhausted,
    /// The session has ended.
    SessionEnded,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpenError::TooManyStreams => "too many yamux streams",
            OpenError::GoingAway => "yamux session is going away",
            OpenError::AckBacklog => "too many yamux streams await the peer's ACK",
            OpenError::IdsExhausted => "yamux stream ids exhausted",
            OpenError::SessionEnded => "yamux session has ended",
        })
    }
}

impl core::error::Error for OpenError {}

/// Why a stream operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamError {
    /// No stream with this id was ever opened.
    Unknown,
    /// The stream was closed (both halves) or reset by this side and is gone.
    Closed,
    /// The peer reset the stream.
    Reset,
    /// This side already closed its half: no more writes.
    WriteClosed,
    /// Nothing to read yet (the peer has not closed its half).
    WouldBlock,
    /// The session has ended.
    SessionEnded,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StreamError::Unknown => "unknown yamux stream",
            StreamError::Closed => "yamux stream closed",
            StreamError::Reset => "yamux stream reset by the peer",
            StreamError::WriteClosed => "yamux stream closed for writing",
            StreamError::WouldBlock => "no data on the yamux stream yet",
            StreamError::SessionEnded => "yamux session has ended",
        })
    }
}

impl core::error::Error for StreamError {}
