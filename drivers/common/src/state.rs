//! [`ConnectionState`]: everything a connection task does with its [`Connection`] between
//! socket reads, writes and timer wake-ups, with no runtime in it.
//!
//! # Q&A
//! *Why offer unconsumed input again instead of reading more?* The connection takes fewer
//! bytes than offered only while a stream's buffer is full (backpressure); the socket is not
//! read until the application drains its streams, so the peer's TCP window closes too.
//!
//! *Why does the driver wait on the write together with the read, not `write_all` first?* Two
//! peers that both send a lot (perf in both directions, many streams) can fill both sockets'
//! buffers; if each waited in `write_all` without reading, neither would ever read again.

use crate::buffers::OutBuf;
use crate::buffers::with_read_buf;
use crate::clock::Clock;
use crate::command::{Answer, CloseReason, Command, Established, Inbound, Reply};
use crate::error::Error;
use crate::host::{HostShared, served_protocols, socket_multiaddr};
use crate::identify::RemoteIdentify;
use crate::stream::{AppStream, QUEUE_LEN, SharedQueues, StreamFailure, lock};
use crate::wake::Wake;
use futures_channel::{mpsc, oneshot};
use rhizo_core::connection::{Connection, ConnectionConfig, ConnectionEvent, HeapConnection, Role};
use rhizo_core::identify::IdentifyBuilder;
use rhizo_core::identity::PeerId;
use rhizo_core::multiaddr::Multiaddr;
use rhizo_core::noise::session::NoiseIdentity;
use rhizo_core::perf::PerfResult;
use rhizo_core::time::{Duration, Instant};
use rhizo_core::yamux::StreamId;
use rhizo_native_crypto::Native;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// The connection type the drivers run: portable crypto, heap storage, a shared identity.
type DriverConnection = Connection<Native, HeapConnection, Arc<NoiseIdentity>>;

/// The room `poll_transmit` gets at least, so a full Noise frame (65553 bytes) fits.
const MIN_TRANSMIT_ROOM: usize = 65_553;

/// An application stream as the task sees it.
#[derive(Debug)]
struct StreamEntry {
    queues: SharedQueues,
    /// The peer closed its half (`StreamFinished`): a read of 0 is the end.
    finished: bool,
    /// A read or write failed; the event saying why (reset or refused) is due next.
    broken: bool,
}

/// The ends of a new connection's state that its handle keeps.
#[derive(Debug)]
pub struct HandleEnds {
    /// Answered once the upgrade is over (or has failed).
    pub established: Answer<Established>,
    /// The streams the peer opens.
    pub inbound: Inbound,
}

/// One connection's task state, between I/O. A driver's task is a loop over it:
/// ```text
/// loop {
///     state.advance();                       // move everything that moves without waiting
///     if state.is_done() { flush state.final_bytes(); return state.outcome() }
///     wait for: socket readable (if state.wants_read()), writable (if state.pending_write()
///         is not empty), the timer at state.deadline(), a command, state.wake()
///     then: state.on_read(bytes) / state.wrote(n) / state.on_timer() / state.on_command(c)
/// }
/// state.finish(result)                       // fail whatever still waits
/// ```
pub struct ConnectionState {
    conn: DriverConnection,
    clock: Clock,
    host: Arc<HostShared>,
    remote_addr: SocketAddr,
    expected: Option<PeerId>,
    wake: Arc<Wake>,
    inbound: mpsc::UnboundedSender<AppStream>,
    established: Option<Reply<Established>>,
    streams: HashMap<StreamId, StreamEntry>,
    pings: Vec<(StreamId, Reply<Duration>)>,
    identify_stream: Option<StreamId>,
    identifies: Vec<Reply<RemoteIdentify>>,
    perf: Option<(StreamId, Reply<PerfResult>)>,
    /// Input the connection could not take yet (backpressure), offered again later.
    unconsumed: Vec<u8>,
    /// Bytes for the socket: `out[out_start..out_end]` is still to write. Held only while
    /// there is something to write (see [`crate::buffers`]).
    out: Option<OutBuf>,
    out_start: usize,
    out_end: usize,
}

impl std::fmt::Debug for ConnectionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionState")
            .field("remote_addr", &self.remote_addr)
            .field("streams", &self.streams.len())
            .field("pending_write", &(self.out_end - self.out_start))
            .finish_non_exhaustive()
    }
}

impl ConnectionState {
    /// A new connection of `host` with the peer at `remote_addr` (with `expected`, a peer
    /// proving another PeerId fails the upgrade), and the ends its handle keeps.
    pub fn new(
        host: Arc<HostShared>,
        role: Role,
        remote_addr: SocketAddr,
        expected: Option<PeerId>,
    ) -> Result<(Self, HandleEnds), Error> {
        let config = ConnectionConfig {
            role,
            expected_peer: expected,
            ..host.config
        };
        let clock = host.clock;
        let conn = DriverConnection::new(
            clock.now(),
            config,
            host.identity.clone(),
            crate::clock::random32(),
            crate::clock::random32(),
        )?;
        let (established_tx, established_rx) = oneshot::channel();
        let (inbound_tx, inbound_rx) = mpsc::unbounded();
        let state = ConnectionState {
            conn,
            clock,
            host,
            remote_addr,
            expected,
            wake: Arc::new(Wake::default()),
            inbound: inbound_tx,
            established: Some(established_tx),
            streams: HashMap::new(),
            pings: Vec::new(),
            identify_stream: None,
            identifies: Vec::new(),
            perf: None,
            unconsumed: Vec::new(),
            out: None,
            out_start: 0,
            out_end: 0,
        };
        let ends = HandleEnds {
            established: Answer(established_rx),
            inbound: Inbound(inbound_rx),
        };
        Ok((state, ends))
    }

    /// The clock the connection counts time by.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// What the task waits on besides I/O: streams and handles wake it.
    pub fn wake(&self) -> &Arc<Wake> {
        &self.wake
    }

    /// Whether the socket should be read: not while earlier input waits (backpressure).
    pub fn wants_read(&self) -> bool {
        self.unconsumed.is_empty()
    }

    /// Reads the socket once with `read` (a non-blocking read into the buffer it is given)
    /// and hands the bytes to the connection: while a transfer runs, straight into the
    /// connection's receive buffer (no copy); otherwise through the thread's shared read buffer
    /// ([`with_read_buf`]), so an idle connection holds no buffer. A read that would block is
    /// not an error; end of stream is [`eof_error`](Self::eof_error).
    pub fn read_from(
        &mut self,
        read: impl FnOnce(&mut [u8]) -> std::io::Result<usize>,
    ) -> Result<(), Error> {
        let outcome = |r: std::io::Result<usize>| match r {
            Ok(0) => Err(None),
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(0),
            Err(e) => Err(Some(Error::Io(e))),
        };
        // Earlier bytes wait in `unconsumed`: new ones go behind them.
        let direct = if self.unconsumed.is_empty() {
            self.conn.receive_buffer()
        } else {
            None
        };
        let result = match direct {
            Some(room) => outcome(read(room)).map(|n| {
                if n > 0 {
                    // An error closes the connection, seen by `is_done`.
                    let _ = self.conn.handle_received(self.clock.now(), n);
                }
            }),
            None => with_read_buf(|buf| {
                outcome(read(buf)).map(|n| {
                    if n > 0 {
                        self.on_read(&buf[..n]);
                    }
                })
            }),
        };
        result.map_err(|e| e.unwrap_or_else(|| self.eof_error()))
    }

    /// Bytes read from the socket.
    pub fn on_read(&mut self, bytes: &[u8]) {
        // On an error the connection is closed: the next `advance` leaves it done, and
        // `final_bytes` holds its last bytes (a yamux go-away).
        if let Ok(used) = self.conn.handle_input(self.clock.now(), bytes) {
            self.unconsumed.extend_from_slice(&bytes[used..]);
        }
    }

    /// The bytes to write to the socket next (empty: nothing to write).
    pub fn pending_write(&self) -> &[u8] {
        match &self.out {
            Some(out) => &out[self.out_start..self.out_end],
            None => &[],
        }
    }

    /// `n` bytes of [`pending_write`](Self::pending_write) were written.
    pub fn wrote(&mut self, n: usize) {
        self.out_start = (self.out_start + n).min(self.out_end);
        if self.out_start == self.out_end {
            self.release_out();
        }
    }

    /// Gives the write buffer back once everything in it is written.
    fn release_out(&mut self) {
        (self.out_start, self.out_end) = (0, 0);
        if let Some(out) = self.out.take() {
            out.give_back();
        }
    }

    /// When [`on_timer`](Self::on_timer) is due; `None`: no timer.
    pub fn deadline(&self) -> Option<Instant> {
        self.conn.poll_timeout()
    }

    /// The timer for [`deadline`](Self::deadline) went off.
    pub fn on_timer(&mut self) {
        // Re-check: a timer may end early by the OS clock's rounding.
        let now = self.clock.now();
        if self.conn.poll_timeout().is_some_and(|d| now >= d) {
            // An error closes the connection, seen by `is_done`.
            let _ = self.conn.handle_timeout(now);
        }
    }

    /// The handle's channel is gone: nobody can use the connection any more.
    pub fn on_handle_dropped(&mut self) {
        self.conn.close();
    }

    /// Whether the connection has ended: flush [`final_bytes`](Self::final_bytes), then
    /// end with [`outcome`](Self::outcome).
    pub fn is_done(&self) -> bool {
        self.conn.is_closed()
    }

    /// What is left to write once the connection has ended (a yamux go-away).
    pub fn final_bytes(&mut self) -> Vec<u8> {
        let mut rest = self.pending_write().to_vec();
        let now = self.clock.now();
        let mut out = OutBuf::take();
        while let Some(n) = self.conn.poll_transmit(now, &mut out) {
            rest.extend_from_slice(&out[..n]);
        }
        out.give_back();
        self.release_out();
        rest
    }

    /// How the ended connection ended.
    pub fn outcome(&self) -> Result<(), Error> {
        match self.conn.error() {
            Some(e) => Err(Error::from_connection(e, self.expected.as_ref())),
            None => Ok(()),
        }
    }

    /// The error for a socket the peer closed (read of 0 bytes).
    pub fn eof_error(&self) -> Error {
        if self.conn.is_established() {
            Error::Closed
        } else {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the peer closed the TCP connection during the upgrade",
            ))
        }
    }

    /// Fails whatever still waits on the ended connection (the upgrade, requests, streams);
    /// returns the reason to report to the handle.
    pub fn finish(&mut self, result: Result<(), Error>) -> CloseReason {
        if let Some(tx) = self.established.take() {
            let error = match &result {
                Err(e) => e.duplicate(),
                Ok(()) => Error::Closed,
            };
            let _ = tx.send(Err(error));
        }
        for (_, tx) in self.pings.drain(..) {
            let _ = tx.send(Err(Error::Closed));
        }
        for tx in self.identifies.drain(..) {
            let _ = tx.send(Err(Error::Closed));
        }
        if let Some((_, tx)) = self.perf.take() {
            let _ = tx.send(Err(Error::Closed));
        }
        for entry in self.streams.values() {
            lock(&entry.queues).fail(StreamFailure::ConnectionClosed);
        }
        match result {
            Ok(()) | Err(Error::Closed) => None,
            Err(e) => Some(Arc::new(e)),
        }
    }

    /// Moves everything that can move without waiting: offered input, stream queues, events,
    /// then the bytes to write (once the previous ones are written).
    pub fn advance(&mut self) {
        loop {
            let now = self.clock.now();
            let mut moved = false;
            if !self.unconsumed.is_empty() {
                match self.conn.handle_input(now, &self.unconsumed) {
                    Ok(used) => {
                        self.unconsumed.drain(..used);
                        moved |= used > 0;
                    }
                    // The connection failed and is closed: seen by `is_done`.
                    Err(_) => self.unconsumed.clear(),
                }
            }
            moved |= self.service_streams(now);
            while let Some(event) = self.conn.poll_event() {
                self.dispatch(now, event);
                moved = true;
            }
            if self.out_start == self.out_end {
                let out = self.out.get_or_insert_with(OutBuf::take);
                (self.out_start, self.out_end) = (0, 0);
                while out.len() - self.out_end >= MIN_TRANSMIT_ROOM {
                    match self.conn.poll_transmit(now, &mut out[self.out_end..]) {
                        Some(n) => self.out_end += n,
                        None => break,
                    }
                }
                moved |= self.out_end > 0;
                if self.out_end == 0 {
                    self.release_out();
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// A request from the handle.
    pub fn on_command(&mut self, cmd: Command) {
        let now = self.clock.now();
        match cmd {
            Command::Ping(tx) => match self.conn.ping(now) {
                Ok(id) => self.pings.push((id, tx)),
                Err(e) => {
                    let _ = tx.send(Err(e.into()));
                }
            },
            Command::Identify(tx) => {
                if self.identify_stream.is_none() {
                    match self.conn.request_identify(now) {
                        Ok(id) => self.identify_stream = Some(id),
                        Err(e) => {
                            let _ = tx.send(Err(e.into()));
                            return;
                        }
                    }
                }
                self.identifies.push(tx);
            }
            Command::Perf(params, tx) => {
                if self.perf.is_some() {
                    let _ = tx.send(Err(Error::PerfBusy));
                    return;
                }
                match self.conn.perf(now, params) {
                    Ok(id) => self.perf = Some((id, tx)),
                    Err(e) => {
                        let _ = tx.send(Err(e.into()));
                    }
                }
            }
            Command::OpenStream(protocol, tx) => match self.conn.open_stream(now, protocol) {
                Ok(id) => {
                    let stream = self.add_stream(id, protocol);
                    if let Err(Ok(stream)) = tx.send(Ok(stream)) {
                        // The caller gave up waiting: its stream is dropped (and reset).
                        drop(stream);
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e.into()));
                }
            },
            Command::Close => self.conn.close(),
        }
    }

    fn add_stream(&mut self, id: StreamId, protocol: &'static str) -> AppStream {
        let queues = SharedQueues::default();
        self.streams.insert(
            id,
            StreamEntry {
                queues: queues.clone(),
                finished: false,
                broken: false,
            },
        );
        AppStream::new(id, protocol, queues, self.wake.clone())
    }

    fn dispatch(&mut self, now: Instant, event: ConnectionEvent) {
        match event {
            ConnectionEvent::Established { .. } => {
                if let (Some(tx), Some(peer), Some(key)) = (
                    self.established.take(),
                    self.conn.remote_peer(),
                    self.conn.remote_public_key(),
                ) {
                    let _ = tx.send(Ok(Established {
                        peer: *peer,
                        public_key: key,
                    }));
                }
            }
            ConnectionEvent::StreamOpened {
                stream,
                protocol,
                inbound: true,
            } => {
                let handle = self.add_stream(stream, protocol);
                // Without a handle to take it, the stream is dropped (reset).
                let _ = self.inbound.unbounded_send(handle);
            }
            ConnectionEvent::StreamOpened { .. }
            | ConnectionEvent::StreamReadable(_)
            | ConnectionEvent::StreamWritable(_)
            | ConnectionEvent::PerfProgress(_) => {}
            ConnectionEvent::StreamRefused { stream } => {
                self.end_stream(stream, StreamFailure::Refused)
            }
            ConnectionEvent::StreamReset(stream) => self.end_stream(stream, StreamFailure::Reset),
            ConnectionEvent::StreamFinished(stream) => {
                if let Some(entry) = self.streams.get_mut(&stream) {
                    entry.finished = true;
                }
            }
            ConnectionEvent::PingRtt { stream, rtt } => {
                if let Some(i) = self.pings.iter().position(|(id, _)| *id == stream) {
                    let (_, tx) = self.pings.swap_remove(i);
                    let _ = tx.send(Ok(rtt));
                }
            }
            ConnectionEvent::PingFailed { stream, error } => {
                if let Some(i) = self.pings.iter().position(|(id, _)| *id == stream) {
                    let (_, tx) = self.pings.swap_remove(i);
                    let _ = tx.send(Err(Error::Ping(error)));
                }
            }
            ConnectionEvent::IdentifyRequested { stream } => self.answer_identify(now, stream),
            ConnectionEvent::Identified => {
                if let Some(message) = self.conn.remote_identify() {
                    let info = RemoteIdentify::from_message(&message, self.conn.remote_peer());
                    for tx in self.identifies.drain(..) {
                        let _ = tx.send(Ok(info.clone()));
                    }
                }
                self.identify_stream = None;
            }
            ConnectionEvent::IdentifyFailed { stream } => {
                if self.identify_stream == Some(stream) {
                    self.identify_stream = None;
                    for tx in self.identifies.drain(..) {
                        let _ = tx.send(Err(Error::IdentifyFailed));
                    }
                }
            }
            ConnectionEvent::PerfDone(result) => {
                if let Some((_, tx)) = self.perf.take() {
                    let _ = tx.send(Ok(result));
                }
            }
            ConnectionEvent::PerfFailed { stream, error } => {
                if self.perf.as_ref().is_some_and(|(id, _)| *id == stream)
                    && let Some((_, tx)) = self.perf.take()
                {
                    let _ = tx.send(Err(Error::Perf(error)));
                }
            }
            ConnectionEvent::Closed => {}
        }
    }

    fn end_stream(&mut self, stream: StreamId, failure: StreamFailure) {
        if let Some(entry) = self.streams.remove(&stream) {
            lock(&entry.queues).fail(failure);
        }
    }

    /// Answers an identify request with who this host is and how it sees the peer.
    fn answer_identify(&mut self, now: Instant, stream: StreamId) {
        let listen: Vec<Multiaddr> = self.host.listen_multiaddrs();
        let listen_bytes: Vec<&[u8]> = listen.iter().map(|a| a.as_bytes()).collect();
        let observed = socket_multiaddr(self.remote_addr);
        let protocols = served_protocols(self.conn.config());
        let record = self.host.signed_peer_record();
        let message = IdentifyBuilder {
            protocol_version: Some(&self.host.protocol_version),
            agent_version: Some(&self.host.agent_version),
            public_key: Some(self.host.identity.identity_key()),
            listen_addrs: &listen_bytes,
            observed_addr: observed.as_ref().map(|a| a.as_bytes()),
            protocols: &protocols,
            signed_peer_record: Some(&record),
        };
        // A message too large for the responder only fails this one exchange.
        let _ = self.conn.respond_identify(now, stream, &message);
    }
    /// Moves bytes between the application streams' queues and the connection; returns
    /// whether anything moved.
    fn service_streams(&mut self, now: Instant) -> bool {
        let mut moved = false;
        let conn = &mut self.conn;
        self.streams.retain(|&id, entry| {
            let mut q = lock(&entry.queues);
            if entry.broken {
                // The events since the failure did not say why: call it a reset.
                q.fail(StreamFailure::Reset);
                let _ = conn.stream_reset(now, id);
                return false;
            }
            // Application writes into the stream, as far as its buffer and window allow.
            while !q.tx.is_empty() {
                let (front, _) = q.tx.as_slices();
                match conn.stream_write(now, id, front) {
                    Ok(0) => break,
                    Ok(n) => {
                        q.tx.drain(..n);
                        moved = true;
                    }
                    Err(_) => {
                        entry.broken = true;
                        moved = true;
                        return true;
                    }
                }
            }
            if q.tx.len() < QUEUE_LEN {
                q.wake_writer();
            }
            if q.close_requested && !q.close_sent && q.tx.is_empty() {
                q.close_sent = conn.stream_close(now, id).is_ok();
                if !q.close_sent {
                    q.fail(StreamFailure::Reset);
                    return false;
                }
                q.wake_writer();
                moved = true;
            }
            // Stream bytes into the application's queue while it has room.
            while q.rx.len() < QUEUE_LEN && !q.rx_eof && q.failure.is_none() {
                let room = QUEUE_LEN - q.rx.len();
                let rx = &mut q.rx;
                let read = conn.stream_read_with(now, id, |data| {
                    let n = data.len().min(room);
                    rx.extend(&data[..n]);
                    n
                });
                match read {
                    Ok(0) => {
                        if entry.finished {
                            q.rx_eof = true;
                            q.wake_reader();
                            moved = true;
                        }
                        break;
                    }
                    Ok(_) => {
                        q.wake_reader();
                        moved = true;
                    }
                    Err(_) => {
                        entry.broken = true;
                        moved = true;
                        return true;
                    }
                }
            }
            if q.dropped {
                if !(q.close_sent && q.rx_eof) {
                    let _ = conn.stream_reset(now, id);
                }
                moved = true;
                return false;
            }
            true
        });
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::HostSettings;

    /// Moves bytes both ways until neither side has anything to write.
    fn pump(a: &mut ConnectionState, b: &mut ConnectionState) {
        for _ in 0..1000 {
            a.advance();
            b.advance();
            let (to_b, to_a) = (a.pending_write().to_vec(), b.pending_write().to_vec());
            if to_b.is_empty() && to_a.is_empty() {
                return;
            }
            a.wrote(to_b.len());
            b.wrote(to_a.len());
            b.on_read(&to_b);
            a.on_read(&to_a);
        }
        panic!("the connections never went quiet");
    }

    #[test]
    fn two_states_upgrade_ping_identify_and_close_without_a_runtime() {
        let (dialer_host, listener_host) = (
            HostSettings::default().build(),
            HostSettings::default().build(),
        );
        let listener_id = listener_host.peer_id();
        let addr: SocketAddr = "127.0.0.1:4001".parse().expect("a valid socket address");
        let (mut dialer, dialer_ends) =
            ConnectionState::new(dialer_host, Role::Dialer, addr, Some(listener_id))
                .expect("a connection with default settings");
        let (mut listener, _listener_ends) =
            ConnectionState::new(listener_host, Role::Listener, addr, None)
                .expect("a connection with default settings");
        pump(&mut dialer, &mut listener);
        let established = futures::executor::block_on(dialer_ends.established.get())
            .expect("the upgrade succeeds");
        assert_eq!(established.peer, listener_id);

        let (ping, rtt) = Command::with_reply(Command::Ping);
        let (identify, info) = Command::with_reply(Command::Identify);
        dialer.on_command(ping);
        dialer.on_command(identify);
        pump(&mut dialer, &mut listener);
        futures::executor::block_on(rtt.get()).expect("the ping is answered");
        let info = futures::executor::block_on(info.get()).expect("identify is answered");
        assert_eq!(
            info.agent_version.as_deref(),
            Some(crate::DEFAULT_AGENT_VERSION)
        );
        assert_eq!(info.observed_addr, socket_multiaddr(addr));

        dialer.on_command(Command::Close);
        pump(&mut dialer, &mut listener);
        assert!(dialer.is_done());
        assert!(dialer.outcome().is_ok());
        assert!(dialer.finish(Ok(())).is_none());
    }
}
