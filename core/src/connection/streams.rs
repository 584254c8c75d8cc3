//! The connection's streams: negotiation, then a built-in handler or a raw application stream.

use super::negotiation::Negotiator;
use super::{ConnectionCallError, ConnectionConfig, ConnectionEvent, ConnectionStorage};
use crate::identify::IdentifyBuilder;
use crate::identify::handler::{IdentifyEvent, IdentifyRequester, IdentifyResponder};
use crate::multistream::Outcome;
use crate::perf::{PerfClient, PerfClientConfig, PerfEvent, PerfParams, PerfServer};
use crate::ping::{PingDialer, PingEvent, PingListener, PingListenerConfig};
use crate::stream::StreamHandler;
use crate::time::{Duration, Instant};
use crate::yamux::{StreamId, StreamSlots, YamuxError, YamuxEvent, YamuxSession};

/// Bytes moved between yamux and a handler per step (on the stack).
const SCRATCH: usize = 4096;
/// The most a handler writes in one call (straight into the stream's send buffer).
const MAX_WRITE_CHUNK: usize = 64 * 1024;

#[cfg(feature = "alloc")]
type RequesterBox = alloc::boxed::Box<IdentifyRequester>;
#[cfg(feature = "alloc")]
type ResponderBox = alloc::boxed::Box<IdentifyResponder>;
/// Without an allocator, identify messages up to 2 KiB are read and 1 KiB ones sent.
#[cfg(not(feature = "alloc"))]
type RequesterBox = Inline<IdentifyRequester<2048>>;
#[cfg(not(feature = "alloc"))]
type ResponderBox = Inline<IdentifyResponder<1024>>;

/// Holds a value in place where `alloc` would box it, so both read as `&mut **x`.
#[cfg(not(feature = "alloc"))]
#[derive(Debug)]
struct Inline<T>(T);

#[cfg(not(feature = "alloc"))]
impl<T> core::ops::Deref for Inline<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

#[cfg(not(feature = "alloc"))]
impl<T> core::ops::DerefMut for Inline<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

fn new_requester(now: Instant) -> RequesterBox {
    #[cfg(feature = "alloc")]
    {
        alloc::boxed::Box::new(IdentifyRequester::new(now))
    }
    #[cfg(not(feature = "alloc"))]
    {
        Inline(IdentifyRequester::new(now))
    }
}

fn new_responder(now: Instant, message: &IdentifyBuilder<'_>) -> Option<ResponderBox> {
    #[cfg(feature = "alloc")]
    {
        IdentifyResponder::new(now, message)
            .ok()
            .map(alloc::boxed::Box::new)
    }
    #[cfg(not(feature = "alloc"))]
    {
        IdentifyResponder::new(now, message).ok().map(Inline)
    }
}

/// What an outbound stream is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// A raw stream of an application protocol.
    App,
    /// Ping.
    Ping,
    /// A perf run.
    Perf(PerfParams),
    /// An identify request.
    IdentifyRequest,
}

/// The protocol side of a stream. The identify handlers' buffers are not here but in
/// [`IdentifyBuffers`], one set per connection: a slot costs what its largest small handler
/// does, not an identify message.
#[derive(Debug)]
enum Handler {
    /// Inbound, protocol not agreed yet.
    Negotiating,
    /// A raw application stream.
    App,
    Ping(PingDialer),
    PingServe(PingListener),
    Perf(PerfClient),
    PerfServe(PerfServer),
    /// Receives an identify message (our request's answer, or a push) into
    /// [`IdentifyBuffers::received`].
    IdentifyRequest,
    /// Inbound identify: waiting for the application's message.
    IdentifyAwaitingMessage,
    /// Sends the message in [`IdentifyBuffers::responder`].
    IdentifyRespond,
}

impl Handler {
    /// Whether the application reads and writes this stream itself.
    fn is_app(&self) -> bool {
        matches!(self, Handler::App)
    }
}

/// Notifications a stream owes the application (bit flags).
const OPENED: u8 = 1;
const READABLE: u8 = 2;
const WRITABLE: u8 = 4;
const FINISHED: u8 = 8;
const IDENTIFY_REQUESTED: u8 = 16;

/// One stream of the connection.
#[derive(Debug)]
pub struct Slot {
    id: StreamId,
    inbound: bool,
    negotiation: Option<Negotiator>,
    /// The protocol proposed (outbound) or agreed (inbound).
    protocol: Option<&'static str>,
    handler: Handler,
    /// The negotiation must end by then.
    deadline: Option<Instant>,
    remote_closed: bool,
    remote_close_delivered: bool,
    close_sent: bool,
    /// Notifications not yet delivered.
    notify: u8,
    /// The stream has ended; the slot stays until its last events are delivered.
    ended: bool,
    /// The event that reports how the stream failed, until delivered.
    failure: Option<ConnectionEvent>,
}

impl Slot {
    fn new(
        id: StreamId,
        inbound: bool,
        negotiation: Negotiator,
        protocol: Option<&'static str>,
        handler: Handler,
        deadline: Instant,
    ) -> Self {
        Slot {
            id,
            inbound,
            negotiation: Some(negotiation),
            protocol,
            handler,
            deadline: Some(deadline),
            remote_closed: false,
            remote_close_delivered: false,
            close_sent: false,
            notify: 0,
            ended: false,
            failure: None,
        }
    }

    /// Ends the stream: resets it, and keeps the event that tells the application.
    fn fail(
        &mut self,
        yamux: &mut YamuxSession<impl crate::yamux::YamuxStorage>,
        failure: Option<ConnectionEvent>,
    ) {
        if !self.ended {
            let _ = yamux.reset(self.id);
            self.ended = true;
            self.failure = failure.or_else(|| failure_event(self));
            self.notify = 0;
        }
    }
}

/// The streams of one connection.
pub(crate) struct Streams<S: ConnectionStorage> {
    slots: S::Slots,
    identify: IdentifyBuffers,
}

/// The identify handlers' buffers, one of each per connection: at most one identify message is
/// received (an answer or a push) and one sent at a time.
///
/// # Q&A
/// *Why not one per stream?* Without an allocator a buffer is its full size (2 KiB to read,
/// 1 KiB to send) whether used or not; in every stream slot they tripled a small connection's
/// stream state. A second identify while one is under way is refused (its stream is reset).
#[derive(Debug)]
struct IdentifyBuffers {
    /// The message being received, then the last one received (kept after its stream ends,
    /// until the next identify starts).
    received: Option<RequesterBox>,
    /// The answer being sent.
    responder: Option<ResponderBox>,
}

/// What driving the streams needs from the connection.
pub(crate) struct Ctx<'a, S: ConnectionStorage> {
    pub now: Instant,
    pub yamux: &'a mut YamuxSession<S::Yamux>,
    pub protocols: &'a [&'static str],
    pub config: &'a ConnectionConfig,
    pub negotiation_timeout: Duration,
}

impl<S: ConnectionStorage> Streams<S> {
    #[inline(always)]
    /// Bytes for stream `id` straight from a received frame, before yamux would buffer
    /// them: a perf handler whose negotiation is over takes what it can. Returns how many it
    /// took. A handler error is left to meet again when the bytes come from the buffer.
    pub(crate) fn offer_direct(&mut self, now: Instant, id: StreamId, data: &[u8]) -> usize {
        let Some(slot) = self.slots.as_mut_slice().iter_mut().find(|s| s.id == id) else {
            return 0;
        };
        if slot.ended
            || slot.failure.is_some()
            || slot.negotiation.as_ref().is_some_and(|n| n.wants_input())
        {
            return 0;
        }
        let taken = match &mut slot.handler {
            Handler::PerfServe(h) => h.handle_input(now, data).ok(),
            Handler::Perf(h) => h.handle_input(now, data).ok(),
            _ => return 0,
        };
        taken.unwrap_or(0).min(data.len())
    }

    pub(crate) fn new() -> Self {
        Streams {
            slots: S::Slots::empty(),
            identify: IdentifyBuffers {
                received: None,
                responder: None,
            },
        }
    }

    /// Forgets every stream and identify message, in place (for a reused connection).
    pub(crate) fn clear(&mut self) {
        while !self.slots.as_slice().is_empty() {
            let last = self.slots.as_slice().len() - 1;
            self.slots.remove_at(last);
        }
        self.identify.received = None;
        self.identify.responder = None;
    }

    /// Whether a stream is receiving an identify message.
    fn receiving_identify(&self) -> bool {
        self.slots
            .as_slice()
            .iter()
            .any(|s| !s.ended && matches!(s.handler, Handler::IdentifyRequest))
    }

    fn index(&self, id: StreamId) -> Option<usize> {
        self.slots
            .as_slice()
            .iter()
            .position(|s| s.id == id && !s.ended)
    }

    pub(crate) fn remote_identify(&self) -> Option<crate::identify::Identify<'_>> {
        let received = self.identify.received.as_ref()?;
        if self.receiving_identify() {
            return None;
        }
        received.message()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.slots
            .as_slice()
            .iter()
            .filter(|s| !s.ended)
            .flat_map(|s| {
                let handler = match &s.handler {
                    Handler::Ping(h) => h.poll_timeout(),
                    Handler::PingServe(h) => h.poll_timeout(),
                    Handler::Perf(h) => h.poll_timeout(),
                    Handler::PerfServe(h) => h.poll_timeout(),
                    Handler::IdentifyRequest => self
                        .identify
                        .received
                        .as_ref()
                        .and_then(|h| h.poll_timeout()),
                    Handler::IdentifyRespond => self
                        .identify
                        .responder
                        .as_ref()
                        .and_then(|h| h.poll_timeout()),
                    _ => None,
                };
                [s.deadline.filter(|_| s.negotiation.is_some()), handler]
            })
            .flatten()
            .min()
    }

    /// Fires the handlers' due timers. Failures surface in the next `drive`.
    pub(crate) fn handle_timeout(&mut self, now: Instant, yamux: &mut YamuxSession<S::Yamux>) {
        let identify = &mut self.identify;
        for slot in self.slots.as_mut_slice().iter_mut().filter(|s| !s.ended) {
            let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
            let stream = slot.id;
            let failed = match &mut slot.handler {
                Handler::Ping(h) if due(h.poll_timeout()) => h
                    .handle_timeout(now)
                    .err()
                    .map(|error| Some(ConnectionEvent::PingFailed { stream, error })),
                Handler::PingServe(h) if due(h.poll_timeout()) => {
                    h.handle_timeout(now).err().map(|_| None)
                }
                Handler::Perf(h) if due(h.poll_timeout()) => h.handle_timeout(now).err().map(|e| {
                    Some(ConnectionEvent::PerfFailed {
                        stream,
                        error: Some(e),
                    })
                }),
                Handler::PerfServe(h) if due(h.poll_timeout()) => {
                    h.handle_timeout(now).err().map(|_| None)
                }
                Handler::IdentifyRequest => match identify.received.as_mut() {
                    Some(h) if due(h.poll_timeout()) => h
                        .handle_timeout(now)
                        .err()
                        .map(|_| Some(ConnectionEvent::IdentifyFailed { stream })),
                    _ => None,
                },
                Handler::IdentifyRespond => match identify.responder.as_mut() {
                    Some(h) if due(h.poll_timeout()) => h.handle_timeout(now).err().map(|_| None),
                    _ => None,
                },
                _ => None,
            };
            if let Some(failure) = failed {
                slot.fail(yamux, failure);
            }
        }
    }

    /// Opens an outbound stream.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn open(
        &mut self,
        now: Instant,
        yamux: &mut YamuxSession<S::Yamux>,
        protocol: &'static str,
        kind: StreamKind,
        lazy: bool,
        config: &ConnectionConfig,
        seed: [u8; 32],
    ) -> Result<StreamId, ConnectionCallError> {
        if self.slots.as_slice().len() >= S::Slots::MAX_LEN {
            return Err(ConnectionCallError::TooManyStreams);
        }
        if kind == StreamKind::IdentifyRequest && self.receiving_identify() {
            return Err(ConnectionCallError::TooManyStreams);
        }
        let handler = match kind {
            StreamKind::App => Handler::App,
            StreamKind::Ping => {
                // The first payload is the seed; the dialer's generator (for repeated pings)
                // starts from its complement.
                let mut dialer = PingDialer::new(config.ping, seed.map(|b| !b));
                dialer
                    .ping(now, seed)
                    .map_err(|_| ConnectionCallError::TooManyStreams)?;
                Handler::Ping(dialer)
            }
            StreamKind::Perf(params) => {
                Handler::Perf(PerfClient::new(now, params, PerfClientConfig::default()))
            }
            StreamKind::IdentifyRequest => Handler::IdentifyRequest,
        };
        let id = yamux.open_stream().map_err(ConnectionCallError::Open)?;
        if kind == StreamKind::IdentifyRequest {
            self.identify.received = Some(new_requester(now));
        }
        let deadline = now + config.stream_negotiation_timeout;
        let slot = Slot::new(
            id,
            false,
            Negotiator::dialer(&[protocol], lazy),
            Some(protocol),
            handler,
            deadline,
        );
        if self
            .slots
            .insert_at(self.slots.as_slice().len(), slot)
            .is_err()
        {
            let _ = yamux.reset(id);
            return Err(ConnectionCallError::TooManyStreams);
        }
        Ok(id)
    }

    pub(crate) fn respond_identify(
        &mut self,
        now: Instant,
        stream: StreamId,
        message: &IdentifyBuilder<'_>,
    ) -> Result<(), ConnectionCallError> {
        let i = self
            .index(stream)
            .ok_or(ConnectionCallError::UnknownStream)?;
        let slot = &mut self.slots.as_mut_slice()[i];
        if !matches!(slot.handler, Handler::IdentifyAwaitingMessage) {
            return Err(ConnectionCallError::UnknownStream);
        }
        self.identify.responder =
            Some(new_responder(now, message).ok_or(ConnectionCallError::IdentifyTooLarge)?);
        slot.handler = Handler::IdentifyRespond;
        Ok(())
    }

    fn app_slot(&mut self, stream: StreamId) -> Result<&mut Slot, ConnectionCallError> {
        let i = self
            .index(stream)
            .ok_or(ConnectionCallError::UnknownStream)?;
        let slot = &mut self.slots.as_mut_slice()[i];
        if slot.handler.is_app() {
            Ok(slot)
        } else {
            Err(ConnectionCallError::UnknownStream)
        }
    }

    pub(crate) fn app_read(
        &mut self,
        yamux: &mut YamuxSession<S::Yamux>,
        stream: StreamId,
        out: &mut [u8],
    ) -> Result<usize, ConnectionCallError> {
        let slot = self.app_slot(stream)?;
        if slot.negotiation.as_ref().is_some_and(|n| n.wants_input()) {
            // The peer's confirmation has not been read yet: nothing is application data.
            return Ok(0);
        }
        match yamux.read(stream, out) {
            Ok(n) => Ok(n),
            Err(crate::yamux::StreamError::WouldBlock | crate::yamux::StreamError::Closed) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// Hands the application stream's first buffered bytes in one piece to `read`, which
    /// returns how many it took; those are consumed.
    pub(crate) fn app_read_with(
        &mut self,
        yamux: &mut YamuxSession<S::Yamux>,
        stream: StreamId,
        read: impl FnOnce(&[u8]) -> usize,
    ) -> Result<usize, ConnectionCallError> {
        let slot = self.app_slot(stream)?;
        if slot.negotiation.as_ref().is_some_and(|n| n.wants_input()) {
            return Ok(0);
        }
        if yamux.readable_len(stream) == 0 {
            // Nothing buffered: `read` says so, and forgets a stream that has finished.
            return self.app_read(yamux, stream, &mut [0u8; 1]);
        }
        let data = yamux.peek_slice(stream);
        let n = read(data).min(data.len());
        yamux.consume(stream, n);
        Ok(n)
    }

    pub(crate) fn app_write(
        &mut self,
        yamux: &mut YamuxSession<S::Yamux>,
        stream: StreamId,
        data: &[u8],
    ) -> Result<usize, ConnectionCallError> {
        let slot = self.app_slot(stream)?;
        if slot
            .negotiation
            .as_ref()
            .is_some_and(|n| n.has_output() || n.outcome().is_none())
        {
            // The proposal goes first, and a non-lazy proposal must be confirmed.
            return Ok(0);
        }
        Ok(yamux.write(stream, data)?)
    }

    pub(crate) fn app_close(
        &mut self,
        yamux: &mut YamuxSession<S::Yamux>,
        stream: StreamId,
    ) -> Result<(), ConnectionCallError> {
        let slot = self.app_slot(stream)?;
        slot.close_sent = true;
        if slot.negotiation.as_ref().is_some_and(|n| n.has_output()) {
            // Closed once the proposal is written (in `drive`).
            return Ok(());
        }
        Ok(yamux.close(stream)?)
    }

    pub(crate) fn reset(
        &mut self,
        yamux: &mut YamuxSession<S::Yamux>,
        stream: StreamId,
    ) -> Result<(), ConnectionCallError> {
        let i = self
            .index(stream)
            .ok_or(ConnectionCallError::UnknownStream)?;
        self.slots.remove_at(i);
        yamux.reset(stream)?;
        Ok(())
    }

    /// The next stream event, pulled from the slots in order; ended slots whose events were
    /// all delivered are forgotten here.
    pub(crate) fn poll_event(&mut self) -> Option<ConnectionEvent> {
        let mut i = 0;
        while i < self.slots.as_slice().len() {
            let slot = &mut self.slots.as_mut_slice()[i];
            if let Some(e) = next_event(slot, &mut self.identify) {
                if e == ConnectionEvent::Identified {
                    // The message stays in `identify.received`; the stream is done with it.
                    slot.handler = Handler::Negotiating;
                }
                return Some(e);
            }
            if slot.ended {
                self.slots.remove_at(i);
            } else {
                i += 1;
            }
        }
        None
    }

    /// One pass over yamux events and every stream.
    pub(crate) fn drive(&mut self, ctx: &mut Ctx<'_, S>) -> Result<(), YamuxError> {
        while let Some(event) = ctx.yamux.poll_event() {
            self.on_yamux_event(ctx, event);
        }
        for i in 0..self.slots.as_slice().len() {
            let answering_identify = self.slots.as_slice().iter().any(|s| {
                !s.ended
                    && matches!(
                        s.handler,
                        Handler::IdentifyRespond | Handler::IdentifyAwaitingMessage
                    )
            });
            let receiving_identify = self.receiving_identify();
            let slot = &mut self.slots.as_mut_slice()[i];
            if !slot.ended {
                let busy = IdentifyBusy {
                    answering: answering_identify,
                    receiving: receiving_identify,
                };
                step_slot(slot, ctx, &mut self.identify, busy);
            }
        }
        match ctx.yamux.error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn on_yamux_event(&mut self, ctx: &mut Ctx<'_, S>, event: YamuxEvent) {
        match event {
            YamuxEvent::InboundStream(id) => {
                let full = self.slots.as_slice().len() >= S::Slots::MAX_LEN;
                if full || ctx.yamux.accept(id).is_err() {
                    let _ = ctx.yamux.reset(id);
                    return;
                }
                let deadline = ctx.now + ctx.negotiation_timeout;
                let slot = Slot::new(
                    id,
                    true,
                    Negotiator::listener(),
                    None,
                    Handler::Negotiating,
                    deadline,
                );
                if self
                    .slots
                    .insert_at(self.slots.as_slice().len(), slot)
                    .is_err()
                {
                    let _ = ctx.yamux.reset(id);
                }
            }
            YamuxEvent::Readable(id) => {
                if let Some(i) = self.index(id) {
                    let slot = &mut self.slots.as_mut_slice()[i];
                    if slot.handler.is_app() && slot.negotiation.is_none() {
                        slot.notify |= READABLE;
                    }
                }
            }
            YamuxEvent::Writable(id) => {
                if let Some(i) = self.index(id) {
                    let slot = &mut self.slots.as_mut_slice()[i];
                    if slot.handler.is_app() {
                        slot.notify |= WRITABLE;
                    }
                }
            }
            YamuxEvent::RemoteClosed(id) => {
                if let Some(i) = self.index(id) {
                    let slot = &mut self.slots.as_mut_slice()[i];
                    slot.remote_closed = true;
                    if slot.handler.is_app() && slot.negotiation.is_none() {
                        slot.remote_close_delivered = true;
                        slot.notify |= FINISHED;
                    }
                }
            }
            YamuxEvent::Reset(id) => {
                if let Some(i) = self.index(id) {
                    let slot = &mut self.slots.as_mut_slice()[i];
                    slot.ended = true;
                    slot.notify = 0;
                    slot.failure = failure_event(slot);
                }
            }
            YamuxEvent::PingRtt(_) | YamuxEvent::GoAway(_) => {}
        }
    }
}

/// Which identify buffers other streams use.
#[derive(Clone, Copy)]
struct IdentifyBusy {
    answering: bool,
    receiving: bool,
}

/// Advances one stream: its negotiation, then its handler.
fn step_slot<S: ConnectionStorage>(
    slot: &mut Slot,
    ctx: &mut Ctx<'_, S>,
    identify: &mut IdentifyBuffers,
    busy: IdentifyBusy,
) {
    let mut scratch = [0u8; SCRATCH];
    let id = slot.id;
    // 1. Negotiation: read first, then send (what reading produced goes out in this pass).
    if let Some(ms) = slot.negotiation.as_mut() {
        let protos: &[&str] = match slot.protocol {
            Some(ref p) if !slot.inbound => core::slice::from_ref(p),
            _ => ctx.protocols,
        };
        if ms.wants_input() {
            let n = ctx.yamux.peek(id, &mut scratch);
            match ms.handle_input(&scratch[..n], protos) {
                Ok(used) => ctx.yamux.consume(id, used),
                Err(crate::multistream::MultistreamError::LazyProposalRefused)
                    if !slot.inbound && slot.handler.is_app() =>
                {
                    let refused = ConnectionEvent::StreamRefused { stream: id };
                    return slot.fail(ctx.yamux, Some(refused));
                }
                Err(_) => return slot.fail(ctx.yamux, None),
            }
            if ms.wants_input() && slot.remote_closed && ctx.yamux.readable_len(id) == 0 {
                // The peer closed before finishing the negotiation.
                return slot.fail(ctx.yamux, None);
            }
        }
        let room = ctx.yamux.writable_len(id).min(SCRATCH);
        if let Ok(Some(n)) = ms.poll_transmit(&mut scratch[..room], protos) {
            let _ = ctx.yamux.write(id, &scratch[..n]);
        }
        match ms.outcome() {
            Some(Outcome::Refused) => return slot.fail(ctx.yamux, None),
            Some(Outcome::Agreed { index })
                if slot.inbound && matches!(slot.handler, Handler::Negotiating) =>
            {
                let protocol = ctx.protocols[index];
                slot.protocol = Some(protocol);
                slot.handler = match protocol {
                    crate::ping::PROTOCOL_ID => Handler::PingServe(PingListener::new(
                        ctx.now,
                        PingListenerConfig::default(),
                    )),
                    crate::perf::PROTOCOL_ID => {
                        Handler::PerfServe(PerfServer::new(ctx.now, ctx.config.perf_server))
                    }
                    crate::identify::PROTOCOL_ID => {
                        if busy.answering {
                            // One identify answer at a time per connection.
                            return slot.fail(ctx.yamux, None);
                        }
                        slot.notify |= IDENTIFY_REQUESTED;
                        Handler::IdentifyAwaitingMessage
                    }
                    crate::identify::PUSH_PROTOCOL_ID => {
                        if busy.receiving {
                            // One identify message received at a time per connection.
                            return slot.fail(ctx.yamux, None);
                        }
                        identify.received = Some(new_requester(ctx.now));
                        Handler::IdentifyRequest
                    }
                    _ => {
                        slot.notify |= OPENED;
                        Handler::App
                    }
                };
            }
            Some(Outcome::Agreed { .. })
                if !slot.inbound && slot.handler.is_app() && slot.deadline.is_some() =>
            {
                // An outbound application stream is usable from now on (lazily or confirmed).
                slot.deadline = None;
                slot.notify |= OPENED;
            }
            _ => {}
        }
        if ms.is_finished() {
            slot.negotiation = None;
            slot.deadline = None;
            if slot.handler.is_app() {
                if ctx.yamux.readable_len(id) > 0 {
                    slot.notify |= READABLE;
                }
                if slot.remote_closed && !slot.remote_close_delivered {
                    slot.remote_close_delivered = true;
                    slot.notify |= FINISHED;
                }
                if slot.close_sent {
                    let _ = ctx.yamux.close(id);
                }
            }
        } else if slot.deadline.is_some_and(|d| ctx.now >= d) {
            return slot.fail(ctx.yamux, None);
        }
    }
    let reading = slot.negotiation.as_ref().is_none_or(|n| !n.wants_input());
    let writing = slot.negotiation.as_ref().is_none_or(|n| !n.has_output());
    // 2. The handler.
    let flags = Flags { reading, writing };
    let close = reading && slot.remote_closed && !slot.remote_close_delivered;
    let mut io = Io {
        ctx,
        id,
        scratch: &mut scratch,
        flags,
        deliver_close: close,
    };
    let stream = id;
    let result = match &mut slot.handler {
        Handler::Ping(h) => io
            .run(h)
            .map_err(|error| Some(ConnectionEvent::PingFailed { stream, error })),
        Handler::PingServe(h) => io.run(h).map_err(|_| None),
        Handler::Perf(h) => io.run(h).map_err(|e| {
            Some(ConnectionEvent::PerfFailed {
                stream,
                error: Some(e),
            })
        }),
        Handler::PerfServe(h) => io.run(h).map_err(|_| None),
        Handler::IdentifyRequest => {
            let outbound = !slot.inbound;
            match identify.received.as_mut() {
                Some(h) => io
                    .run(&mut **h)
                    .map_err(|_| outbound.then_some(ConnectionEvent::IdentifyFailed { stream })),
                None => Err(outbound.then_some(ConnectionEvent::IdentifyFailed { stream })),
            }
        }
        Handler::IdentifyRespond => match identify.responder.as_mut() {
            Some(h) => io.run(&mut **h).map_err(|_| None),
            None => Err(None),
        },
        Handler::App | Handler::Negotiating | Handler::IdentifyAwaitingMessage => {
            Ok(State::default())
        }
    };
    let ctx = io.ctx;
    let state = match result {
        Ok(state) => state,
        Err(failure) => return slot.fail(ctx.yamux, failure),
    };
    if close
        && !matches!(
            slot.handler,
            Handler::App | Handler::Negotiating | Handler::IdentifyAwaitingMessage
        )
    {
        slot.remote_close_delivered = true;
    }
    if state.wants_close && !slot.close_sent && writing {
        slot.close_sent = true;
        let _ = ctx.yamux.close(id);
    }
    if state.done {
        if !(slot.close_sent && slot.remote_closed) {
            let _ = ctx.yamux.reset(id);
        }
        slot.ended = true;
    }
}

/// The next event a slot owes the application.
fn next_event(slot: &mut Slot, identify: &mut IdentifyBuffers) -> Option<ConnectionEvent> {
    let stream = slot.id;
    if let Some(e) = slot.failure.take() {
        return Some(e);
    }
    for (flag, event) in [
        (
            OPENED,
            ConnectionEvent::StreamOpened {
                stream,
                protocol: slot.protocol.unwrap_or_default(),
                inbound: slot.inbound,
            },
        ),
        (
            IDENTIFY_REQUESTED,
            ConnectionEvent::IdentifyRequested { stream },
        ),
        (READABLE, ConnectionEvent::StreamReadable(stream)),
        (WRITABLE, ConnectionEvent::StreamWritable(stream)),
        (FINISHED, ConnectionEvent::StreamFinished(stream)),
    ] {
        if slot.notify & flag != 0 {
            slot.notify &= !flag;
            return Some(event);
        }
    }
    loop {
        let e = match &mut slot.handler {
            Handler::Ping(h) => match h.poll_event()? {
                PingEvent::Rtt(rtt) => ConnectionEvent::PingRtt { stream, rtt },
                PingEvent::Echoed => continue,
            },
            Handler::Perf(h) => match h.poll_event()? {
                PerfEvent::Progress(p) => ConnectionEvent::PerfProgress(p),
                PerfEvent::Done(r) => ConnectionEvent::PerfDone(r),
            },
            Handler::IdentifyRequest => match identify.received.as_mut()?.poll_event()? {
                IdentifyEvent::Received => ConnectionEvent::Identified,
                IdentifyEvent::Sent => continue,
            },
            Handler::PingServe(h) => {
                h.poll_event()?;
                continue;
            }
            Handler::PerfServe(h) => {
                h.poll_event()?;
                continue;
            }
            Handler::IdentifyRespond => {
                identify.responder.as_mut()?.poll_event()?;
                continue;
            }
            _ => return None,
        };
        return Some(e);
    }
}

#[derive(Clone, Copy)]
struct Flags {
    /// The negotiation has read all it needs: received bytes are the handler's.
    reading: bool,
    /// The negotiation has sent all it had: the handler may write.
    writing: bool,
}

/// What a handler wants once its bytes have moved.
#[derive(Clone, Copy, Default)]
struct State {
    wants_close: bool,
    done: bool,
}

/// Moves one stream's bytes between yamux and its handler.
struct Io<'c, 'a, S: ConnectionStorage> {
    ctx: &'c mut Ctx<'a, S>,
    id: StreamId,
    scratch: &'c mut [u8; SCRATCH],
    flags: Flags,
    /// The peer's close is due to the handler (all bytes before it were read).
    deliver_close: bool,
}

impl<S: ConnectionStorage> Io<'_, '_, S> {
    fn run<H: StreamHandler>(&mut self, h: &mut H) -> Result<State, H::Error> {
        self.pump(h)?;
        if self.deliver_close && self.ctx.yamux.readable_len(self.id) == 0 {
            h.handle_remote_close(self.ctx.now)?;
            // Let the handler answer the close (a last echo, the perf download) at once.
            self.pump(h)?;
        }
        Ok(State {
            wants_close: h.wants_close(),
            done: h.is_done(),
        })
    }

    /// Moves bytes until neither direction can move more. The handler reads straight from
    /// the stream's receive buffer and writes straight into its send buffer: no copy here.
    fn pump<H: StreamHandler>(&mut self, h: &mut H) -> Result<(), H::Error> {
        let (now, id) = (self.ctx.now, self.id);
        loop {
            let mut moved = false;
            if self.flags.reading {
                let data = self.ctx.yamux.peek_slice(id);
                if !data.is_empty() {
                    let in_one_piece = data.len();
                    let mut used = h.handle_input(now, data)?;
                    if used == 0 && self.ctx.yamux.readable_len(id) > in_one_piece {
                        // A message that wraps around the buffer's end: show it whole.
                        let n = self.ctx.yamux.peek(id, &mut self.scratch[..]);
                        used = h.handle_input(now, &self.scratch[..n])?;
                    }
                    self.ctx.yamux.consume(id, used);
                    moved |= used > 0;
                }
            }
            if self.flags.writing {
                let room = self.ctx.yamux.writable_len(id);
                // Zeros first (perf's payload): counted, not copied through the send ring.
                let zeros = h.poll_transmit_zeros(now, room as u64);
                if zeros > 0 {
                    let queued = self.ctx.yamux.write_zeros(id, zeros).unwrap_or(0);
                    debug_assert_eq!(queued, zeros, "at most writable_len");
                    moved = true;
                } else if room > 0 {
                    let n = self
                        .ctx
                        .yamux
                        .write_with(id, room.min(MAX_WRITE_CHUNK), |space| {
                            h.poll_transmit(now, space)
                        })
                        .unwrap_or(0);
                    moved |= n > 0;
                }
            }
            if !moved {
                return Ok(());
            }
        }
    }
}

/// The event that tells the application a stream of this kind failed, if any.
fn failure_event(slot: &Slot) -> Option<ConnectionEvent> {
    let stream = slot.id;
    match &slot.handler {
        // Only a "na" is a refusal: a reset before the confirmation was read (its bytes are
        // dropped with the stream) is a reset, as when rust-libp2p's libp2p-stream accepts a
        // stream and drops it at once.
        Handler::App
            if !slot.inbound
                && slot
                    .negotiation
                    .as_ref()
                    .is_some_and(|n| n.outcome() == Some(Outcome::Refused)) =>
        {
            Some(ConnectionEvent::StreamRefused { stream })
        }
        Handler::App => Some(ConnectionEvent::StreamReset(stream)),
        Handler::Ping(_) => Some(ConnectionEvent::PingFailed {
            stream,
            error: crate::ping::PingError::ClosedByPeer,
        }),
        Handler::Perf(_) => Some(ConnectionEvent::PerfFailed {
            stream,
            error: None,
        }),
        Handler::IdentifyRequest if !slot.inbound => {
            Some(ConnectionEvent::IdentifyFailed { stream })
        }
        _ => None,
    }
}
