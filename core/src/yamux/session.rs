//! [`YamuxSession`]: one connection's streams, frame parser and frame writer.

use super::buffer::{ByteStorage, StreamSlots, YamuxStorage};
use super::frame::{Flags, GoAwayCode, HEADER_LEN, Header};
use super::stream::{
    EVENT_INBOUND, EVENT_READABLE, EVENT_REMOTE_CLOSED, EVENT_WRITABLE, StreamId, StreamSlot,
};
use super::{OpenError, Role, StreamError, YamuxConfig, YamuxError, YamuxEvent};
use crate::time::{Duration, Instant};

/// Control frames waiting to go out (ping answers, resets of refused streams). When full,
/// `handle_input` stops before the next header until `poll_transmit` made room.
const CONTROL_QUEUE: usize = 16;

/// Most of our streams the peer has not acknowledged yet (libp2p yamux spec: 256).
pub const MAX_ACK_BACKLOG: usize = 256;

/// The smallest allocation a heap ring starts with.
const MIN_RING: usize = 4 * 1024;

/// How long an emptied heap ring keeps its allocation before it is freed: long enough that a
/// busy stream does not free and regrow (and zero) its rings for every frame, short enough
/// that an idle session soon holds no buffers.
pub const RING_RELEASE_DELAY: Duration = Duration::from_secs(1);

/// A ping on the wire waiting for its answer.
#[derive(Clone, Copy, Debug)]
pub(super) struct OutstandingPing {
    pub(super) opaque: u32,
    pub(super) sent_at: Instant,
}

/// One yamux connection: the stream table, the frame parser and the frame writer.
///
/// `S` picks the memory: [`FixedStorage`](super::FixedStorage) (no allocator) or
/// [`HeapStorage`](super::HeapStorage) (feature `alloc`). See the [module doc](super) for the
/// call order.
#[derive(Debug)]
pub struct YamuxSession<S: YamuxStorage> {
    pub(super) role: Role,
    pub(super) config: YamuxConfig,
    /// Sorted by stream id.
    pub(super) streams: S::Streams,
    /// Our next stream id (u64: exhaustion is detectable).
    pub(super) next_outbound_id: u64,
    /// The largest id the peer has opened (0: none).
    pub(super) highest_inbound_id: u32,
    pub(super) parse: super::input::Parse,
    pub(super) control: heapless::Deque<Header, CONTROL_QUEUE>,
    pub(super) ping_due: bool,
    pub(super) ping_outstanding: Option<OutstandingPing>,
    pub(super) next_ping_at: Option<Instant>,
    /// When to free the allocations of rings that went empty (heap storage): emptied rings
    /// are kept while traffic flows instead of being freed and regrown for every frame.
    pub(super) sweep_at: Option<Instant>,
    /// The latest instant the session was given (calls without `now` use it).
    pub(super) last_now: Instant,
    pub(super) ping_counter: u32,
    pub(super) rtt: Option<Duration>,
    pub(super) rtt_event: Option<Duration>,
    /// A go-away we still have to send.
    pub(super) go_away_to_send: Option<GoAwayCode>,
    /// We sent (or queued) a go-away.
    pub(super) local_go_away: bool,
    /// The peer's go-away.
    pub(super) remote_go_away: Option<GoAwayCode>,
    pub(super) go_away_event: Option<GoAwayCode>,
    pub(super) failed: Option<YamuxError>,
    /// Slots with a non-zero `events` field.
    pub(super) streams_with_events: usize,
    pub(super) event_cursor: usize,
    pub(super) transmit_cursor: usize,
    /// Bytes allocated by all rings together.
    pub(super) allocated: usize,
}

impl<S: YamuxStorage> YamuxSession<S> {
    /// A session for one connection. A first ping (to learn the round-trip time that window
    /// auto-tuning uses) goes out with the first `poll_transmit`.
    #[inline(always)]
    pub fn new(role: Role, config: YamuxConfig) -> Self {
        YamuxSession {
            role,
            config,
            streams: S::Streams::empty(),
            next_outbound_id: match role {
                Role::Dialer => 1,
                Role::Listener => 2,
            },
            highest_inbound_id: 0,
            parse: super::input::Parse::START,
            control: heapless::Deque::new(),
            ping_due: true,
            ping_outstanding: None,
            next_ping_at: None,
            sweep_at: None,
            last_now: Instant::ZERO,
            ping_counter: 0,
            rtt: None,
            rtt_event: None,
            go_away_to_send: None,
            local_go_away: false,
            remote_go_away: None,
            go_away_event: None,
            failed: None,
            streams_with_events: 0,
            event_cursor: 0,
            transmit_cursor: 0,
            allocated: 0,
        }
    }

    /// Starts over as a new session for another connection, in place: the stream table is
    /// emptied, not rebuilt, so fixed storage never passes through the stack.
    pub fn restart(&mut self, role: Role, config: YamuxConfig) {
        while let Some(last) = self.streams.as_slice().len().checked_sub(1) {
            self.streams.remove_at(last);
        }
        self.role = role;
        self.config = config;
        self.next_outbound_id = match role {
            Role::Dialer => 1,
            Role::Listener => 2,
        };
        self.highest_inbound_id = 0;
        self.parse = super::input::Parse::START;
        self.control.clear();
        self.ping_due = true;
        self.ping_outstanding = None;
        self.next_ping_at = None;
        self.sweep_at = None;
        self.last_now = Instant::ZERO;
        self.ping_counter = 0;
        self.rtt = None;
        self.rtt_event = None;
        self.go_away_to_send = None;
        self.local_go_away = false;
        self.remote_go_away = None;
        self.go_away_event = None;
        self.failed = None;
        self.streams_with_events = 0;
        self.event_cursor = 0;
        self.transmit_cursor = 0;
        self.allocated = 0;
    }

    // ---- getters ----

    /// This side's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration.
    pub fn config(&self) -> &YamuxConfig {
        &self.config
    }

    /// Why the session ended, if it did.
    pub fn error(&self) -> Option<YamuxError> {
        self.failed
    }

    /// Streams in the table (including ones waiting for a frame or an event to go out).
    pub fn stream_count(&self) -> usize {
        self.streams.as_slice().len()
    }

    /// Bytes the rings of all streams hold from the allocator (0 with fixed storage).
    pub fn buffered_bytes(&self) -> usize {
        self.allocated
    }

    /// The last measured round-trip time.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// The go-away the peer sent, if any.
    pub fn remote_go_away(&self) -> Option<GoAwayCode> {
        self.remote_go_away
    }

    /// Whether the session is over: it failed, or both sides sent a go-away and every stream
    /// is gone and nothing is left to send.
    pub fn is_finished(&self) -> bool {
        self.failed.is_some()
            || (self.local_go_away
                && self.remote_go_away.is_some()
                && self.go_away_to_send.is_none()
                && self.streams.as_slice().is_empty())
    }

    /// Bytes that `read` would return now (0 for unknown streams).
    pub fn readable_len(&self, id: StreamId) -> usize {
        self.find(id.0)
            .map(|i| &self.streams.as_slice()[i])
            .filter(|s| s.visible() && !s.dead)
            .map_or(0, |s| s.rx.len())
    }

    /// Whether this side can no longer write on the stream (closed, reset or gone).
    pub fn is_write_closed(&self, id: StreamId) -> bool {
        self.find(id.0)
            .map(|i| &self.streams.as_slice()[i])
            .is_none_or(|s| s.fin_requested || s.dead || !s.visible())
    }

    /// Whether the peer closed its half (or the stream is reset or gone).
    pub fn is_read_closed(&self, id: StreamId) -> bool {
        self.find(id.0)
            .map(|i| &self.streams.as_slice()[i])
            .is_none_or(|s| s.fin_received || s.dead || !s.visible())
    }

    /// Bytes `write` would take now without growing past the limits (an estimate for heap
    /// storage: the ring grows on demand).
    pub fn writable_len(&self, id: StreamId) -> usize {
        match self.find(id.0).map(|i| &self.streams.as_slice()[i]) {
            Some(s) if s.visible() && !s.dead && !s.fin_requested => {
                let queued = usize::try_from(s.tx_queued()).unwrap_or(usize::MAX);
                self.tx_limit().saturating_sub(queued)
            }
            _ => 0,
        }
    }

    /// The receive window a stream currently aims for (tests watch auto-tuning with it).
    #[cfg(test)]
    pub(crate) fn window_target(&self, id: StreamId) -> Option<u32> {
        self.find(id.0)
            .map(|i| self.streams.as_slice()[i].window_target)
    }

    /// Checks the bookkeeping against the table (tests only).
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let slots = self.streams.as_slice();
        let allocated: usize = slots.iter().map(|s| s.allocated()).sum();
        assert_eq!(allocated, self.allocated, "allocation count");
        let with_events = slots.iter().filter(|s| s.events != 0).count();
        assert_eq!(with_events, self.streams_with_events, "event count");
        assert!(slots.windows(2).all(|w| w[0].id < w[1].id), "table sorted");
        assert!(self.allocated <= self.config.max_session_buffer);
        for s in slots {
            assert!(s.rx.len() <= self.rx_limit() && s.tx_queued() <= self.tx_limit() as u64);
        }
    }

    // ---- input ----

    /// The instant from `poll_timeout` passed: sends keep-alive pings, ends the session when
    /// a ping went unanswered too long.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), YamuxError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        self.last_now = self.last_now.max(now);
        if self.sweep_at.is_some_and(|at| now >= at) {
            self.sweep_at = None;
            self.release_empty_rings();
        }
        if let Some(ping) = self.ping_outstanding {
            if now >= ping.sent_at.saturating_add(self.config.ping_timeout) {
                return Err(self.fail(YamuxError::PingTimeout));
            }
        } else if let Some(at) = self.next_ping_at
            && now >= at
        {
            self.next_ping_at = None;
            self.ping_due = true;
        }
        Ok(())
    }

    // ---- application calls ----

    /// Opens a stream. Its SYN goes out with the first data written before the next
    /// `poll_transmit`, or alone as a window update. At most [`MAX_ACK_BACKLOG`] of our
    /// streams may wait for the peer's ACK ([`OpenError::AckBacklog`]: try again later).
    pub fn open_stream(&mut self) -> Result<StreamId, OpenError> {
        if self.failed.is_some() {
            return Err(OpenError::SessionEnded);
        }
        if self.local_go_away || self.remote_go_away.is_some() {
            return Err(OpenError::GoingAway);
        }
        if self.stream_count() >= self.config.max_streams.min(S::Streams::MAX_LEN) {
            return Err(OpenError::TooManyStreams);
        }
        let unacked = self
            .streams
            .as_slice()
            .iter()
            .filter(|s| !s.acked && !s.dead)
            .count();
        if unacked >= MAX_ACK_BACKLOG {
            return Err(OpenError::AckBacklog);
        }
        let id = u32::try_from(self.next_outbound_id).map_err(|_| OpenError::IdsExhausted)?;
        // The table is sorted by id. Outbound ids grow, but the peer's (of the other parity)
        // may be higher than this one: insert in order, or `find` misses the stream.
        let index = self.streams.as_slice().partition_point(|s| s.id < id);
        if self
            .streams
            .insert_at(index, StreamSlot::new(id, true, self.max_window_target()))
            .is_err()
        {
            return Err(OpenError::TooManyStreams);
        }
        self.next_outbound_id += 2;
        Ok(StreamId(id))
    }

    /// Accepts an inbound stream: its ACK goes out with the next frame. Writing or closing
    /// accepts too.
    pub fn accept(&mut self, id: StreamId) -> Result<(), StreamError> {
        let index = self.app_stream(id)?;
        let slot = &mut self.streams.as_mut_slice()[index];
        if !slot.accepted {
            slot.accepted = true;
            slot.ack_to_send = true;
        }
        Ok(())
    }

    /// Copies as much of `data` into the stream's send ring as fits; returns how much. When it
    /// takes less than offered, [`YamuxEvent::Writable`] follows once there is room.
    pub fn write(&mut self, id: StreamId, data: &[u8]) -> Result<usize, StreamError> {
        let index = self.app_stream(id)?;
        let tx_limit = self.tx_limit();
        let budget = self.budget();
        let slot = open_for_writing(&mut self.streams.as_mut_slice()[index])?;
        if slot.tx_zeros > 0 {
            // Bytes never overtake queued zeros: wait until those are sent.
            slot.want_writable = true;
            return Ok(0);
        }
        let before = slot.allocated();
        grow_ring(&mut slot.tx, data.len(), tx_limit, budget);
        let n = slot.tx.push(data);
        if n < data.len() {
            slot.want_writable = true;
        }
        self.allocated = self.allocated - before + slot.allocated();
        Ok(n)
    }

    /// Moves received bytes into `out`; returns how many. `Ok(0)` with a non-empty `out` is
    /// the end of the stream (the peer's FIN); [`StreamError::WouldBlock`]: nothing yet. Once
    /// both halves are closed and every byte was read the stream is forgotten, and `read`
    /// answers [`StreamError::Closed`]: treat it as the end of the stream too.
    pub fn read(&mut self, id: StreamId, out: &mut [u8]) -> Result<usize, StreamError> {
        let index = self.app_stream(id)?;
        let slot = &mut self.streams.as_mut_slice()[index];
        if slot.dead {
            return Err(StreamError::Reset);
        }
        if out.is_empty() {
            return Ok(0);
        }
        let n = slot.rx.pop(out);
        let emptied = slot.rx.is_empty() && slot.rx.allocated() > 0;
        let pending = n == 0 && !slot.fin_received;
        if emptied {
            self.schedule_sweep();
        }
        self.remove_if_finished(index);
        if pending {
            return Err(StreamError::WouldBlock);
        }
        Ok(n)
    }

    /// Copies the stream's buffered bytes into `out` without consuming them (0 for unknown,
    /// reset or empty streams). With [`consume`](Self::consume), lets a caller hand bytes to a
    /// parser that may use only some of them.
    pub fn peek(&self, id: StreamId, out: &mut [u8]) -> usize {
        self.find(id.0)
            .map(|i| &self.streams.as_slice()[i])
            .filter(|s| s.visible() && !s.dead)
            .map_or(0, |s| s.rx.peek(out))
    }

    /// The first buffered bytes of the stream that lie in one piece, to read in place before
    /// [`consume`](Self::consume) (empty: nothing buffered, or the stream is gone).
    pub fn peek_slice(&self, id: StreamId) -> &[u8] {
        self.find(id.0)
            .map(|i| &self.streams.as_slice()[i])
            .filter(|s| s.visible() && !s.dead)
            .map_or(&[], |s| s.rx.front_slice())
    }

    /// Like [`write`](Self::write), but lets `fill` write straight into the stream's send
    /// buffer: `fill` gets up to `wanted` free bytes in one piece and returns how many it
    /// wrote. Returns that count.
    pub fn write_with(
        &mut self,
        id: StreamId,
        wanted: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize, StreamError> {
        let index = self.app_stream(id)?;
        let tx_limit = self.tx_limit();
        let budget = self.budget();
        let slot = open_for_writing(&mut self.streams.as_mut_slice()[index])?;
        if slot.tx_zeros > 0 {
            // Bytes never overtake queued zeros: wait until those are sent.
            slot.want_writable = true;
            return Ok(0);
        }
        let before = slot.allocated();
        grow_ring(&mut slot.tx, wanted, tx_limit, budget);
        let space = slot.tx.back_slice_mut();
        let room = space.len().min(wanted);
        let n = fill(&mut space[..room]).min(room);
        slot.tx.commit(n);
        if room < wanted && n == room {
            // The buffer, not the writer, set the limit: say when there is room again.
            slot.want_writable = true;
        }
        self.allocated = self.allocated - before + slot.allocated();
        Ok(n)
    }

    /// Queues up to `n` zero bytes to send after everything written before, without storing
    /// them: the frame they go out in is zeroed in place. Returns how many were queued (at
    /// most [`writable_len`](Self::writable_len)); writes after them wait until they are sent.
    ///
    /// # Q&A
    /// *Why zeros?* `/perf/1.0.0` sends zeros (its content is open; rust-libp2p sends zeros
    /// too), and copying them through a ring first cost the sender a copy of every byte.
    pub fn write_zeros(&mut self, id: StreamId, n: u64) -> Result<u64, StreamError> {
        let room = self.writable_len(id) as u64;
        let index = self.app_stream(id)?;
        let slot = open_for_writing(&mut self.streams.as_mut_slice()[index])?;
        let taken = n.min(room);
        if taken < n {
            slot.want_writable = true;
        }
        slot.tx_zeros += taken;
        Ok(taken)
    }

    /// Drops the first `n` buffered bytes of the stream, as `read` would (at most
    /// [`readable_len`](Self::readable_len)); the window reopens as with `read`.
    pub fn consume(&mut self, id: StreamId, n: usize) {
        if n == 0 {
            return;
        }
        let Ok(index) = self.app_stream(id) else {
            return;
        };
        let slot = &mut self.streams.as_mut_slice()[index];
        if slot.dead {
            return;
        }
        slot.rx.consume(n.min(slot.rx.len()));
        if slot.rx.is_empty() && slot.rx.allocated() > 0 {
            self.schedule_sweep();
        }
        self.remove_if_finished(index);
    }

    /// Closes this side's half: FIN goes out after the bytes already written.
    pub fn close(&mut self, id: StreamId) -> Result<(), StreamError> {
        let index = self.app_stream(id)?;
        let slot = &mut self.streams.as_mut_slice()[index];
        if slot.dead {
            return Err(StreamError::Reset);
        }
        if !slot.accepted {
            slot.accepted = true;
            slot.ack_to_send = true;
        }
        slot.fin_requested = true;
        slot.want_writable = false;
        Ok(())
    }

    /// Resets the stream: its buffers are dropped, a RST goes out, later frames for it are
    /// discarded, and the id is no longer usable.
    pub fn reset(&mut self, id: StreamId) -> Result<(), StreamError> {
        let index = self.app_stream(id)?;
        let slot = &mut self.streams.as_mut_slice()[index];
        let before = slot.allocated();
        slot.rx.clear();
        slot.tx.clear();
        slot.local_reset = true;
        slot.want_writable = false;
        if !slot.dead && !slot.syn_to_send {
            slot.rst_to_send = true;
        }
        slot.dead = true;
        self.allocated -= before;
        self.set_events(index, 0);
        self.remove_if_finished(index);
        Ok(())
    }

    /// Tells the peer no new streams will be accepted (go-away, code 0). Open streams go on.
    pub fn go_away(&mut self) {
        if !self.local_go_away && self.failed.is_none() {
            self.local_go_away = true;
            self.go_away_to_send = Some(GoAwayCode::Normal);
        }
    }

    // ---- output ----

    /// Writes whole frames into `out` (needs at least 12 bytes); returns their total length,
    /// `None` when there is nothing to send. Streams take turns (round robin); data frames are
    /// cut to the room left in `out` and to the peer's window.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> Option<usize> {
        self.last_now = self.last_now.max(now);
        let mut written = 0;
        if out.len() < HEADER_LEN {
            return None;
        }
        if let Some(code) = self.go_away_to_send.take() {
            out[..HEADER_LEN].copy_from_slice(&Header::go_away(code).encode());
            written += HEADER_LEN;
        }
        if self.failed.is_some() {
            return (written > 0).then_some(written);
        }
        while out.len() - written >= HEADER_LEN {
            let Some(header) = self.control.pop_front() else {
                break;
            };
            out[written..written + HEADER_LEN].copy_from_slice(&header.encode());
            written += HEADER_LEN;
        }
        if self.ping_due && self.ping_outstanding.is_none() && out.len() - written >= HEADER_LEN {
            self.ping_due = false;
            self.ping_counter = self.ping_counter.wrapping_add(1);
            let opaque = self.ping_counter;
            self.ping_outstanding = Some(OutstandingPing {
                opaque,
                sent_at: now,
            });
            out[written..written + HEADER_LEN]
                .copy_from_slice(&Header::ping(Flags::SYN, opaque).encode());
            written += HEADER_LEN;
        }
        written += self.transmit_streams(now, &mut out[written..]);
        (written > 0).then_some(written)
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<YamuxEvent> {
        if let Some(code) = self.go_away_event.take() {
            return Some(YamuxEvent::GoAway(code));
        }
        if let Some(rtt) = self.rtt_event.take() {
            return Some(YamuxEvent::PingRtt(rtt));
        }
        if self.streams_with_events == 0 {
            return None;
        }
        let len = self.streams.as_slice().len();
        for step in 0..len {
            let index = (self.event_cursor + step) % len;
            let events = self.streams.as_slice()[index].events;
            if events == 0 {
                continue;
            }
            let bit = events & events.wrapping_neg(); // lowest set bit
            let id = StreamId(self.streams.as_slice()[index].id);
            self.set_events(index, events & !bit);
            self.event_cursor = index + 1;
            self.remove_if_finished(index);
            return Some(match bit {
                EVENT_INBOUND => YamuxEvent::InboundStream(id),
                EVENT_READABLE => YamuxEvent::Readable(id),
                EVENT_REMOTE_CLOSED => YamuxEvent::RemoteClosed(id),
                EVENT_WRITABLE => YamuxEvent::Writable(id),
                _ => YamuxEvent::Reset(id),
            });
        }
        None
    }

    /// When `handle_timeout` should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.failed.is_some() {
            return None;
        }
        let ping = match self.ping_outstanding {
            Some(ping) => Some(ping.sent_at.saturating_add(self.config.ping_timeout)),
            None => self.next_ping_at,
        };
        match (ping, self.sweep_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ---- internals ----

    /// Asks for emptied rings to be freed after [`RING_RELEASE_DELAY`].
    pub(super) fn schedule_sweep(&mut self) {
        if self.sweep_at.is_none() {
            self.sweep_at = Some(self.last_now + RING_RELEASE_DELAY);
        }
    }

    /// Frees the allocation of every empty ring.
    fn release_empty_rings(&mut self) {
        let mut allocated = 0;
        for slot in self.streams.as_mut_slice() {
            slot.rx.release_if_empty();
            slot.tx.release_if_empty();
            allocated += slot.allocated();
        }
        self.allocated = allocated;
    }

    pub(super) fn fail(&mut self, error: YamuxError) -> YamuxError {
        if self.failed.is_none() {
            self.failed = Some(error);
            if let YamuxError::Protocol(_) = error {
                self.go_away_to_send = Some(GoAwayCode::ProtocolError);
            }
            // Drop every stream and its buffers: nothing more will be read or written.
            self.streams = S::Streams::empty();
            self.allocated = 0;
            self.streams_with_events = 0;
            self.control.clear();
        }
        error
    }

    pub(super) fn find(&self, id: u32) -> Option<usize> {
        self.streams
            .as_slice()
            .binary_search_by_key(&id, |s| s.id)
            .ok()
    }

    /// The slot of a stream the application may use.
    fn app_stream(&self, id: StreamId) -> Result<usize, StreamError> {
        if self.failed.is_some() {
            return Err(StreamError::SessionEnded);
        }
        match self.find(id.0) {
            Some(index) if self.streams.as_slice()[index].visible() => Ok(index),
            _ if self.was_opened(id.0) => Err(StreamError::Closed),
            _ => Err(StreamError::Unknown),
        }
    }

    /// Whether `id` belongs to the peer's side.
    pub(super) fn is_peer_id(&self, id: u32) -> bool {
        let odd = id % 2 == 1;
        match self.role {
            Role::Dialer => !odd,
            Role::Listener => odd,
        }
    }

    /// Whether a stream with this id was opened at some point (by either side).
    pub(super) fn was_opened(&self, id: u32) -> bool {
        if id == 0 {
            false
        } else if self.is_peer_id(id) {
            id <= self.highest_inbound_id
        } else {
            u64::from(id) < self.next_outbound_id
        }
    }

    fn tx_limit(&self) -> usize {
        self.config
            .max_stream_tx_buffer
            .min(<S::Tx as ByteStorage>::MAX_CAPACITY)
    }

    pub(super) fn rx_limit(&self) -> usize {
        self.config
            .max_stream_rx_buffer
            .min(<S::Rx as ByteStorage>::MAX_CAPACITY)
    }

    /// Allocation the session may still make.
    pub(super) fn budget(&self) -> usize {
        self.config
            .max_session_buffer
            .saturating_sub(self.allocated)
    }

    /// The largest window auto-tuning may reach: what the config allows, and no more than
    /// the receive ring holds. Below 256 KiB, later updates grant less than the first window.
    pub(super) fn max_window_target(&self) -> u32 {
        let ring = u32::try_from(self.rx_limit()).unwrap_or(u32::MAX);
        self.config.max_receive_window.min(ring).max(1)
    }

    pub(super) fn set_events(&mut self, index: usize, events: u8) {
        let slot = &mut self.streams.as_mut_slice()[index];
        match (slot.events != 0, events != 0) {
            (false, true) => self.streams_with_events += 1,
            (true, false) => self.streams_with_events -= 1,
            _ => {}
        }
        slot.events = events;
    }

    pub(super) fn add_event(&mut self, index: usize, bit: u8) {
        let events = self.streams.as_slice()[index].events | bit;
        self.set_events(index, events);
    }

    pub(super) fn remove_if_finished(&mut self, index: usize) {
        let slot = &self.streams.as_slice()[index];
        if slot.finished() {
            let slot = self.streams.remove_at(index);
            self.allocated -= slot.allocated();
        }
    }

    /// Writes stream frames round robin into `out`; returns the bytes written.
    fn transmit_streams(&mut self, now: Instant, out: &mut [u8]) -> usize {
        let rtt = self.rtt;
        let max_target = self.max_window_target();
        let tx_limit = self.tx_limit() as u64;
        let mut written = 0;
        let mut idle = 0;
        let mut index = self.transmit_cursor;
        loop {
            let len = self.streams.as_slice().len();
            if len == 0 || idle >= len || out.len() - written < HEADER_LEN {
                break;
            }
            if index >= len {
                index = 0;
            }
            let slot = &mut self.streams.as_mut_slice()[index];
            let before = slot.allocated();
            let n = slot.next_frame(&mut out[written..], now, rtt, max_target);
            if n == 0 {
                idle += 1;
                index += 1;
                continue;
            }
            idle = 0;
            written += n;
            if slot.tx.is_empty() && slot.tx.allocated() > 0 && self.sweep_at.is_none() {
                self.sweep_at = Some(now + RING_RELEASE_DELAY);
            }
            let writable = slot.want_writable
                && if slot.tx_zeros > 0 {
                    slot.tx_queued() < tx_limit
                } else {
                    slot.tx.free() > 0 || slot.tx.is_empty()
                };
            self.allocated = self.allocated - before + slot.allocated();
            if writable {
                self.streams.as_mut_slice()[index].want_writable = false;
                self.add_event(index, EVENT_WRITABLE);
            }
            let before_len = self.streams.as_slice().len();
            self.remove_if_finished(index);
            if self.streams.as_slice().len() == before_len {
                index += 1;
            }
        }
        self.transmit_cursor = index;
        written
    }
}

/// The slot of a stream the application writes to: refused once reset or closed for writing;
/// a write accepts an inbound stream the application had not accepted yet.
fn open_for_writing<Rx, Tx>(
    slot: &mut super::stream::StreamSlot<Rx, Tx>,
) -> Result<&mut super::stream::StreamSlot<Rx, Tx>, StreamError> {
    if slot.dead {
        return Err(StreamError::Reset);
    }
    if slot.fin_requested {
        return Err(StreamError::WriteClosed);
    }
    if !slot.accepted {
        slot.accepted = true;
        slot.ack_to_send = true;
    }
    Ok(slot)
}

/// Grows `ring` so it can take `wanted` more bytes, within `limit` total capacity and
/// `budget` more allocated bytes. Starts at [`MIN_RING`], then doubles.
pub(super) fn grow_ring<B: ByteStorage>(
    ring: &mut super::buffer::Ring<B>,
    wanted: usize,
    limit: usize,
    budget: usize,
) {
    if !B::ALLOCATES || ring.free() >= wanted {
        return;
    }
    let cap = ring.capacity();
    let needed = ring.len().saturating_add(wanted);
    let target = needed
        .max(cap.saturating_mul(2))
        .max(MIN_RING)
        .min(limit)
        .min(cap.saturating_add(budget));
    if target > cap {
        ring.grow_to(target);
    }
}
