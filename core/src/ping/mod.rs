//! Ping (`/ipfs/ping/1.0.0`, libp2p/specs `ping/ping.md`): a liveness check and round-trip
//! time measurement on an open connection.
//!
//! The side that opens the stream ([`PingDialer`]) writes 32 random bytes; the other side
//! ([`PingListener`]) echoes them back. The dialer measures the time from writing the payload
//! to reading its echo, and may ping again on the same stream; the listener loops until the
//! dialer closes its half, then finishes its last echo and closes too.
//!
//! Both are [`StreamHandler`]s: see [`crate::stream`] for the call order.
//!
//! # Randomness
//! The dialer's payloads come from the application: either one per [`PingDialer::ping`] call,
//! or, for the automatic pings of [`PingDialerConfig::interval`], from a small generator
//! seeded at construction (a payload only has to differ from the previous ones so that a stale
//! or forged echo is caught; it is not a secret).
//!
//! # Q&A
//! *Why these defaults?* rust-libp2p pings every 15 s on one stream and fails a ping after
//! 20 s ([`DEFAULT_INTERVAL`], [`DEFAULT_TIMEOUT`]); go-libp2p's listener resets a ping stream
//! that stays silent for 60 s ([`DEFAULT_IDLE_TIMEOUT`]).
//!
//! *How is the listener bounded?* It holds at most one payload being received and one echo
//! being sent (64 bytes), and stops consuming input while both are full: a peer that pings
//! faster than it reads its echoes is slowed down by the stream's flow control, not buffered.
//! An echo is exactly as long as the ping, so the listener never sends more than it receives.
//! [`PingListenerConfig::max_pings`] optionally caps the pings answered on one stream.

use crate::stream::StreamHandler;
use crate::time::{Duration, Instant};

#[cfg(test)]
mod tests;

/// The ping protocol id.
pub const PROTOCOL_ID: &str = "/ipfs/ping/1.0.0";
/// The length of a ping payload and of its echo.
pub const PAYLOAD_LEN: usize = 32;
/// How long the dialer waits for an echo before failing (rust-libp2p's default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// The time from one echo to the next automatic ping (rust-libp2p's default).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
/// How long the listener waits for the next ping before failing (go-libp2p's `pingTimeout`).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A ping payload.
pub type Payload = [u8; PAYLOAD_LEN];

/// What a ping handler tells the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PingEvent {
    /// The dialer's ping came back intact after this round-trip time.
    Rtt(Duration),
    /// The listener echoed one ping.
    Echoed,
}

/// Why a [`PingDialer`] gave up on its stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PingError {
    /// No echo within the configured timeout.
    Timeout,
    /// The echo differs from the payload sent.
    WrongEcho,
    /// The peer sent bytes that echo no payload sent.
    UnexpectedData,
    /// The peer closed its half before echoing the outstanding ping.
    ClosedByPeer,
}

impl core::fmt::Display for PingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            PingError::Timeout => "ping: no echo within the timeout",
            PingError::WrongEcho => "ping: echo differs from the payload",
            PingError::UnexpectedData => "ping: peer sent bytes that echo no ping",
            PingError::ClosedByPeer => "ping: peer closed the stream before echoing",
        })
    }
}

impl core::error::Error for PingError {}

/// Why [`PingDialer::ping`] could not start a ping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PingStartError {
    /// A ping is still waiting for its echo.
    Outstanding,
    /// The stream is closing: no more pings on it.
    Closed,
}

impl core::fmt::Display for PingStartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            PingStartError::Outstanding => "ping: a ping is already waiting for its echo",
            PingStartError::Closed => "ping: the stream is closing",
        })
    }
}

impl core::error::Error for PingStartError {}

/// Why a [`PingListener`] gave up on its stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PingListenerError {
    /// The peer closed its half in the middle of a payload.
    TruncatedPayload,
    /// No ping within the idle timeout.
    IdleTimeout,
    /// The peer sent more pings than [`PingListenerConfig::max_pings`].
    TooManyPings,
}

impl core::fmt::Display for PingListenerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            PingListenerError::TruncatedPayload => "ping: stream closed inside a payload",
            PingListenerError::IdleTimeout => "ping: no ping within the idle timeout",
            PingListenerError::TooManyPings => "ping: too many pings on one stream",
        })
    }
}

impl core::error::Error for PingListenerError {}

/// The dialer's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PingDialerConfig {
    /// How long a ping may wait for its echo, from the moment it is due.
    pub timeout: Duration,
    /// `Some`: ping at once, then again this long after each echo, with payloads from the
    /// seed. `None`: ping only when [`PingDialer::ping`] is called.
    pub interval: Option<Duration>,
}

impl Default for PingDialerConfig {
    fn default() -> Self {
        PingDialerConfig {
            timeout: DEFAULT_TIMEOUT,
            interval: Some(DEFAULT_INTERVAL),
        }
    }
}

/// A ping written (or being written) and waiting for its echo.
#[derive(Clone, Copy, Debug)]
struct OutstandingPing {
    payload: Payload,
    /// Payload bytes handed to `poll_transmit`.
    written: usize,
    /// Echo bytes received and checked.
    echoed: usize,
    /// When the first payload byte was written.
    sent_at: Option<Instant>,
    deadline: Instant,
}

/// The side that opened a ping stream: sends payloads and times their echoes.
#[derive(Clone, Debug)]
pub struct PingDialer {
    config: PingDialerConfig,
    payloads: PayloadGenerator,
    /// When the next automatic ping is due.
    next_ping: Option<Instant>,
    outstanding: Option<OutstandingPing>,
    /// The round-trip time not yet handed out as an event.
    rtt: Option<Duration>,
    /// [`close`](Self::close) was called: no more pings.
    closing: bool,
    remote_closed: bool,
    completed: u64,
}

impl PingDialer {
    /// A dialer; with an [`interval`](PingDialerConfig::interval) its first ping is due at
    /// once. `seed` (random bytes from the driver) seeds the automatic pings' payloads.
    pub fn new(config: PingDialerConfig, seed: [u8; 32]) -> Self {
        PingDialer {
            config,
            payloads: PayloadGenerator::new(seed),
            next_ping: config.interval.map(|_| Instant::ZERO),
            outstanding: None,
            rtt: None,
            closing: false,
            remote_closed: false,
            completed: 0,
        }
    }

    /// Starts a ping with `payload` now (it is written on the next `poll_transmit`).
    pub fn ping(&mut self, now: Instant, payload: Payload) -> Result<(), PingStartError> {
        if self.closing || self.remote_closed {
            return Err(PingStartError::Closed);
        }
        if self.outstanding.is_some() {
            return Err(PingStartError::Outstanding);
        }
        self.start(now, payload);
        Ok(())
    }

    /// Stops pinging: the outstanding ping (if any) is still written and its echo awaited,
    /// then this side's half closes.
    pub fn close(&mut self) {
        self.closing = true;
        self.next_ping = None;
    }

    /// Whether a ping is waiting for its echo.
    pub fn is_pinging(&self) -> bool {
        self.outstanding.is_some()
    }

    /// How many pings came back intact on this stream.
    pub fn pings_completed(&self) -> u64 {
        self.completed
    }

    fn start(&mut self, now: Instant, payload: Payload) {
        self.next_ping = None;
        self.outstanding = Some(OutstandingPing {
            payload,
            written: 0,
            echoed: 0,
            sent_at: None,
            deadline: now + self.config.timeout,
        });
    }

    /// Starts the automatic ping if it is due.
    fn start_if_due(&mut self, now: Instant) {
        let due = self.next_ping.is_some_and(|at| at <= now);
        if due && self.outstanding.is_none() && !self.closing && !self.remote_closed {
            let payload = self.payloads.next_payload();
            self.start(now, payload);
        }
    }
}

impl StreamHandler for PingDialer {
    type Event = PingEvent;
    type Error = PingError;

    fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<usize, PingError> {
        if input.is_empty() {
            return Ok(0);
        }
        let Some(ping) = self.outstanding.as_mut() else {
            return Err(PingError::UnexpectedData);
        };
        let take = input.len().min(PAYLOAD_LEN - ping.echoed);
        let end = ping.echoed + take;
        if end > ping.written {
            // The peer "echoes" bytes it has not been sent.
            return Err(PingError::UnexpectedData);
        }
        if input[..take] != ping.payload[ping.echoed..end] {
            return Err(PingError::WrongEcho);
        }
        ping.echoed = end;
        if end == PAYLOAD_LEN {
            // `written >= end > 0`, so the first byte was written and `sent_at` was set.
            let sent_at = ping.sent_at.unwrap_or(now);
            self.outstanding = None;
            self.rtt = Some(now - sent_at);
            self.completed = self.completed.saturating_add(1);
            if !self.closing && !self.remote_closed {
                self.next_ping = self.config.interval.map(|interval| now + interval);
            }
        }
        Ok(take)
    }

    fn handle_remote_close(&mut self, _now: Instant) -> Result<(), PingError> {
        self.remote_closed = true;
        self.next_ping = None;
        if self.outstanding.is_some() {
            return Err(PingError::ClosedByPeer);
        }
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), PingError> {
        if self.outstanding.is_some_and(|ping| ping.deadline <= now) {
            return Err(PingError::Timeout);
        }
        self.start_if_due(now);
        Ok(())
    }

    fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> usize {
        self.start_if_due(now);
        let Some(ping) = self.outstanding.as_mut() else {
            return 0;
        };
        let n = out.len().min(PAYLOAD_LEN - ping.written);
        if n == 0 {
            return 0;
        }
        out[..n].copy_from_slice(&ping.payload[ping.written..ping.written + n]);
        if ping.written == 0 {
            ping.sent_at = Some(now);
        }
        ping.written += n;
        n
    }

    fn poll_event(&mut self) -> Option<PingEvent> {
        self.rtt.take().map(PingEvent::Rtt)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.outstanding {
            Some(ping) => Some(ping.deadline),
            None if self.closing || self.remote_closed => None,
            None => self.next_ping,
        }
    }

    fn wants_close(&self) -> bool {
        (self.closing || self.remote_closed)
            && self
                .outstanding
                .is_none_or(|ping| ping.written == PAYLOAD_LEN)
    }

    fn is_done(&self) -> bool {
        self.remote_closed && self.outstanding.is_none()
    }

    fn max_input_len(&self) -> usize {
        PAYLOAD_LEN
    }
}

/// The listener's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PingListenerConfig {
    /// How long the listener waits for the next ping (from the stream's start or the last
    /// ping) before failing.
    pub idle_timeout: Duration,
    /// The most pings answered on one stream (`None`: no limit).
    pub max_pings: Option<u32>,
}

impl Default for PingListenerConfig {
    fn default() -> Self {
        PingListenerConfig {
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_pings: None,
        }
    }
}

/// The side that accepted a ping stream: echoes every 32-byte payload.
#[derive(Clone, Debug)]
pub struct PingListener {
    config: PingListenerConfig,
    /// The payload being received.
    received: Payload,
    received_len: usize,
    /// The payload being echoed, when `echo_pending`.
    echo: Payload,
    echo_written: usize,
    echo_pending: bool,
    deadline: Instant,
    remote_closed: bool,
    pings: u32,
    /// Echoes not yet reported as events.
    unreported: u32,
}

impl PingListener {
    /// A listener for a stream accepted at `now`.
    pub fn new(now: Instant, config: PingListenerConfig) -> Self {
        PingListener {
            config,
            received: [0; PAYLOAD_LEN],
            received_len: 0,
            echo: [0; PAYLOAD_LEN],
            echo_written: 0,
            echo_pending: false,
            deadline: now + config.idle_timeout,
            remote_closed: false,
            pings: 0,
            unreported: 0,
        }
    }

    /// How many complete pings the peer sent on this stream.
    pub fn pings_received(&self) -> u32 {
        self.pings
    }

    /// Moves a complete received payload to the echo slot if that is free.
    fn promote(&mut self) {
        if self.received_len == PAYLOAD_LEN && !self.echo_pending {
            self.echo = self.received;
            self.echo_written = 0;
            self.echo_pending = true;
            self.received_len = 0;
        }
    }
}

impl StreamHandler for PingListener {
    type Event = PingEvent;
    type Error = PingListenerError;

    fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<usize, PingListenerError> {
        let mut used = 0;
        loop {
            self.promote();
            let rest = &input[used..];
            let take = rest.len().min(PAYLOAD_LEN - self.received_len);
            if take == 0 {
                // Out of input, or both slots full: the rest waits for the echo to drain.
                return Ok(used);
            }
            self.received[self.received_len..self.received_len + take]
                .copy_from_slice(&rest[..take]);
            self.received_len += take;
            used += take;
            if self.received_len == PAYLOAD_LEN {
                self.pings = self.pings.saturating_add(1);
                if self.config.max_pings.is_some_and(|max| self.pings > max) {
                    return Err(PingListenerError::TooManyPings);
                }
                self.deadline = now + self.config.idle_timeout;
            }
        }
    }

    fn handle_remote_close(&mut self, _now: Instant) -> Result<(), PingListenerError> {
        self.remote_closed = true;
        if self.received_len != 0 && self.received_len != PAYLOAD_LEN {
            return Err(PingListenerError::TruncatedPayload);
        }
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), PingListenerError> {
        if !self.is_done() && self.deadline <= now {
            return Err(PingListenerError::IdleTimeout);
        }
        Ok(())
    }

    fn poll_transmit(&mut self, _now: Instant, out: &mut [u8]) -> usize {
        self.promote();
        if !self.echo_pending {
            return 0;
        }
        let n = out.len().min(PAYLOAD_LEN - self.echo_written);
        out[..n].copy_from_slice(&self.echo[self.echo_written..self.echo_written + n]);
        self.echo_written += n;
        if self.echo_written == PAYLOAD_LEN {
            self.echo_pending = false;
            self.unreported = self.unreported.saturating_add(1);
        }
        n
    }

    fn poll_event(&mut self) -> Option<PingEvent> {
        if self.unreported == 0 {
            return None;
        }
        self.unreported -= 1;
        Some(PingEvent::Echoed)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (!self.is_done()).then_some(self.deadline)
    }

    fn wants_close(&self) -> bool {
        self.remote_closed
    }

    fn is_done(&self) -> bool {
        self.remote_closed && !self.echo_pending && self.received_len == 0
    }

    fn max_input_len(&self) -> usize {
        PAYLOAD_LEN
    }
}

/// xoshiro256** (Blackman and Vigna): payloads for the automatic pings.
///
/// # Q&A
/// *Why not a crate?* Four lines of arithmetic against a dependency; the payloads need no
/// cryptographic strength, only to differ from one ping to the next.
#[derive(Clone, Debug)]
struct PayloadGenerator {
    state: [u64; 4],
}

impl PayloadGenerator {
    fn new(seed: [u8; 32]) -> Self {
        let mut state = [0u64; 4];
        for (word, bytes) in state.iter_mut().zip(seed.chunks_exact(8)) {
            let mut le = [0u8; 8];
            le.copy_from_slice(bytes);
            *word = u64::from_le_bytes(le);
        }
        if state == [0; 4] {
            // The all-zero state is a fixed point; any other state works.
            state = [
                0x9E37_79B9_7F4A_7C15,
                0xBF58_476D_1CE4_E5B9,
                0x94D0_49BB_1331_11EB,
                1,
            ];
        }
        PayloadGenerator { state }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    fn next_payload(&mut self) -> Payload {
        let mut payload = [0u8; PAYLOAD_LEN];
        for chunk in payload.chunks_exact_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        payload
    }
}
