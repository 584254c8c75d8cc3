//! The connection task: one tokio task per connection owns its socket and its
//! [`Connection`], and runs the core's call order (input, timeouts, application calls, then
//! drain transmit and events). No protocol logic lives here.
//!
//! # Q&A
//! *Why are socket writes a branch of the `select!` rather than a `write_all` before it?* Two
//! peers that both send a lot (perf in both directions, many streams) can fill both sockets'
//! buffers; if each waited in `write_all` without reading, neither would ever read again.
//! Writing inside the `select!` keeps reading while a write waits.
//!
//! *Why offer unconsumed input again instead of reading more?* The connection takes fewer
//! bytes than offered only while a stream's buffer is full (backpressure); the socket is not
//! read until the application drains its streams, so the peer's TCP window closes too.

use crate::clock::Clock;
use crate::error::Error;
use crate::handle::RemoteIdentify;
use crate::host::HostShared;
use crate::stream::{QUEUE_LEN, RhizoStream, SharedQueues, StreamFailure, lock};
use rhizo_core::connection::{Connection, ConnectionEvent, HeapConnection};
use rhizo_core::crypto::Portable;
use rhizo_core::identify::IdentifyBuilder;
use rhizo_core::identity::{PeerId, PublicKey};
use rhizo_core::multiaddr::Multiaddr;
use rhizo_core::noise::session::NoiseIdentity;
use rhizo_core::perf::{PerfParams, PerfResult};
use rhizo_core::time::Duration;
use rhizo_core::yamux::StreamId;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, mpsc, oneshot, watch};

/// The connection type the driver runs: portable crypto, heap storage, a shared identity.
pub(crate) type DriverConnection = Connection<Portable, HeapConnection, Arc<NoiseIdentity>>;

/// Bytes read from the socket at once.
const READ_BUF_LEN: usize = 64 * 1024;
/// The socket send buffer: room for several full Noise frames.
const WRITE_BUF_LEN: usize = 256 * 1024;
/// The room `poll_transmit` gets at least, so a full Noise frame (65553 bytes) fits.
const MIN_TRANSMIT_ROOM: usize = 65_553;
/// How long a closing connection may take to write its last bytes.
const CLOSE_FLUSH_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// What a [`ConnectionHandle`](crate::ConnectionHandle) asks of its task.
#[derive(Debug)]
pub(crate) enum Command {
    Ping(oneshot::Sender<Result<Duration, Error>>),
    Identify(oneshot::Sender<Result<RemoteIdentify, Error>>),
    Perf(PerfParams, oneshot::Sender<Result<PerfResult, Error>>),
    OpenStream(&'static str, oneshot::Sender<Result<RhizoStream, Error>>),
    Close,
}

/// What the task reports once the upgrade is over.
#[derive(Debug)]
pub(crate) struct Established {
    pub(crate) peer: PeerId,
    pub(crate) public_key: PublicKey,
}

/// How a connection ended: `None` cleanly (closed by either side), else why it failed.
pub(crate) type CloseReason = Option<Arc<Error>>;

/// An application stream as the task sees it.
#[derive(Debug)]
struct StreamEntry {
    queues: SharedQueues,
    /// The peer closed its half (`StreamFinished`): a read of 0 is the end.
    finished: bool,
    /// A read or write failed; the event saying why (reset or refused) is due next.
    broken: bool,
}

/// One connection's task state.
pub(crate) struct ConnectionTask {
    pub(crate) conn: DriverConnection,
    pub(crate) clock: Clock,
    pub(crate) host: Arc<HostShared>,
    pub(crate) reader: OwnedReadHalf,
    pub(crate) writer: OwnedWriteHalf,
    pub(crate) remote_addr: SocketAddr,
    pub(crate) expected: Option<PeerId>,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) wake: Arc<Notify>,
    pub(crate) inbound: mpsc::UnboundedSender<RhizoStream>,
    pub(crate) established: Option<oneshot::Sender<Result<Established, Error>>>,
    /// Set once, when the task ends: `None` for a clean end, else why it failed.
    closed: watch::Sender<Option<CloseReason>>,
    streams: HashMap<StreamId, StreamEntry>,
    pings: Vec<(StreamId, oneshot::Sender<Result<Duration, Error>>)>,
    identify_stream: Option<StreamId>,
    identifies: Vec<oneshot::Sender<Result<RemoteIdentify, Error>>>,
    perf: Option<(StreamId, oneshot::Sender<Result<PerfResult, Error>>)>,
    commands_open: bool,
    scratch: Vec<u8>,
}

impl ConnectionTask {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        conn: DriverConnection,
        clock: Clock,
        host: Arc<HostShared>,
        socket: tokio::net::TcpStream,
        remote_addr: SocketAddr,
        expected: Option<PeerId>,
        commands: mpsc::Receiver<Command>,
        wake: Arc<Notify>,
        inbound: mpsc::UnboundedSender<RhizoStream>,
        established: oneshot::Sender<Result<Established, Error>>,
        closed: watch::Sender<Option<CloseReason>>,
    ) -> Self {
        let (reader, writer) = socket.into_split();
        ConnectionTask {
            conn,
            clock,
            host,
            reader,
            writer,
            remote_addr,
            expected,
            commands,
            wake,
            inbound,
            established: Some(established),
            closed,
            streams: HashMap::new(),
            pings: Vec::new(),
            identify_stream: None,
            identifies: Vec::new(),
            perf: None,
            commands_open: true,
            scratch: vec![0; 16 * 1024],
        }
    }

    /// Runs the connection to its end, then fails whatever still waits on it.
    pub(crate) async fn run(mut self) {
        let result = self.run_loop().await;
        let _ = self.writer.shutdown().await;
        let error = || match &result {
            Err(Error::Connection(e)) => Error::Connection(*e),
            Err(Error::WrongPeer { expected, actual }) => Error::WrongPeer {
                expected: expected.clone(),
                actual: actual.clone(),
            },
            Err(Error::Io(e)) => Error::Io(std::io::Error::new(e.kind(), e.to_string())),
            _ => Error::Closed,
        };
        if let Some(tx) = self.established.take() {
            let _ = tx.send(Err(error()));
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
        let reason = match result {
            Ok(()) | Err(Error::Closed) => None,
            Err(e) => Some(Arc::new(e)),
        };
        // Closed first, so `is_closed` holds for whoever sees the close reason.
        self.commands.close();
        self.closed.send_replace(Some(reason));
    }

    fn connection_error(&self, e: rhizo_core::connection::ConnectionError) -> Error {
        Error::from_connection(e, self.expected.as_ref())
    }

    async fn run_loop(&mut self) -> Result<(), Error> {
        let mut read_buf = vec![0u8; READ_BUF_LEN];
        // Input the connection could not take yet (backpressure), offered again later.
        let mut unconsumed: Vec<u8> = Vec::new();
        let mut out = vec![0u8; WRITE_BUF_LEN];
        let (mut out_start, mut out_end) = (0usize, 0usize);
        loop {
            // Move everything that can move without waiting.
            loop {
                let now = self.clock.now();
                let mut moved = false;
                if !unconsumed.is_empty() {
                    match self.conn.handle_input(now, &unconsumed) {
                        Ok(used) => {
                            unconsumed.drain(..used);
                            moved |= used > 0;
                        }
                        // The connection failed and is closed: handled below.
                        Err(_) => unconsumed.clear(),
                    }
                }
                moved |= self.service_streams(now);
                while let Some(event) = self.conn.poll_event() {
                    self.dispatch(now, event);
                    moved = true;
                }
                if out_start == out_end {
                    (out_start, out_end) = (0, 0);
                    while out.len() - out_end >= MIN_TRANSMIT_ROOM {
                        match self.conn.poll_transmit(now, &mut out[out_end..]) {
                            Some(n) => out_end += n,
                            None => break,
                        }
                    }
                    moved |= out_end > 0;
                }
                if !moved {
                    break;
                }
            }
            if self.conn.is_closed() {
                self.flush_on_close(&out[out_start..out_end]).await;
                return match self.conn.error() {
                    Some(e) => Err(self.connection_error(e)),
                    None => Ok(()),
                };
            }
            let deadline = self.conn.poll_timeout();
            let sleep_at = deadline.map(|d| self.clock.to_tokio(d));
            let sleep = async {
                match sleep_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = self.reader.read(&mut read_buf), if unconsumed.is_empty() => {
                    let n = r.map_err(Error::Io)?;
                    if n == 0 {
                        return Err(self.eof_error());
                    }
                    // On an error the connection is closed: the next pass flushes its last
                    // bytes (a yamux go-away) and returns the error.
                    if let Ok(used) = self.conn.handle_input(self.clock.now(), &read_buf[..n]) {
                        unconsumed.extend_from_slice(&read_buf[used..n]);
                    }
                }
                r = self.writer.write(&out[out_start..out_end]), if out_start < out_end => {
                    out_start += r.map_err(Error::Io)?;
                }
                () = sleep => {
                    // Re-check: a sleep may end early by the OS clock's rounding.
                    let now = self.clock.now();
                    if deadline.is_some_and(|d| now >= d) {
                        // An error closes the connection, handled on the next pass.
                        let _ = self.conn.handle_timeout(now);
                    }
                }
                cmd = self.commands.recv(), if self.commands_open => match cmd {
                    Some(cmd) => self.command(self.clock.now(), cmd),
                    None => {
                        // The handle is gone: nobody can use the connection any more.
                        self.commands_open = false;
                        self.conn.close();
                    }
                },
                () = self.wake.notified() => {}
            }
        }
    }

    fn eof_error(&self) -> Error {
        if self.conn.is_established() {
            Error::Closed
        } else {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the peer closed the TCP connection during the upgrade",
            ))
        }
    }

    /// Writes what is left (a yamux go-away) before the socket is closed, within a limit.
    async fn flush_on_close(&mut self, pending: &[u8]) {
        let mut rest = pending.to_vec();
        let now = self.clock.now();
        let mut out = vec![0u8; WRITE_BUF_LEN];
        while let Some(n) = self.conn.poll_transmit(now, &mut out) {
            rest.extend_from_slice(&out[..n]);
        }
        let _ = tokio::time::timeout(CLOSE_FLUSH_LIMIT, self.writer.write_all(&rest)).await;
    }

    fn command(&mut self, now: rhizo_core::time::Instant, cmd: Command) {
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

    fn add_stream(&mut self, id: StreamId, protocol: &'static str) -> RhizoStream {
        let queues = SharedQueues::default();
        self.streams.insert(
            id,
            StreamEntry {
                queues: queues.clone(),
                finished: false,
                broken: false,
            },
        );
        RhizoStream::new(id, protocol, queues, self.wake.clone())
    }

    fn dispatch(&mut self, now: rhizo_core::time::Instant, event: ConnectionEvent) {
        match event {
            ConnectionEvent::Established { .. } => {
                if let (Some(tx), Some(peer), Some(key)) = (
                    self.established.take(),
                    self.conn.remote_peer(),
                    self.conn.remote_public_key(),
                ) {
                    let _ = tx.send(Ok(Established {
                        peer: *peer,
                        public_key: key.clone(),
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
                let _ = self.inbound.send(handle);
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
                    let info = RemoteIdentify::from_message(&message);
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
    fn answer_identify(&mut self, now: rhizo_core::time::Instant, stream: StreamId) {
        let listen: Vec<Multiaddr> = self.host.listen_multiaddrs();
        let listen_bytes: Vec<&[u8]> = listen.iter().map(|a| a.as_bytes()).collect();
        let observed = crate::host::socket_multiaddr(self.remote_addr);
        let protocols = crate::host::served_protocols(self.conn.config());
        let message = IdentifyBuilder {
            protocol_version: Some(&self.host.protocol_version),
            agent_version: Some(&self.host.agent_version),
            public_key: Some(self.host.identity.identity_key()),
            listen_addrs: &listen_bytes,
            observed_addr: observed.as_ref().map(|a| a.as_bytes()),
            protocols: &protocols,
            signed_peer_record: None,
        };
        // A message too large for the responder only fails this one exchange.
        let _ = self.conn.respond_identify(now, stream, &message);
    }

    /// Moves bytes between the application streams' queues and the connection; returns
    /// whether anything moved.
    fn service_streams(&mut self, now: rhizo_core::time::Instant) -> bool {
        let mut moved = false;
        let conn = &mut self.conn;
        let scratch = &mut self.scratch;
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
                let room = (QUEUE_LEN - q.rx.len()).min(scratch.len());
                match conn.stream_read(now, id, &mut scratch[..room]) {
                    Ok(0) => {
                        if entry.finished {
                            q.rx_eof = true;
                            q.wake_reader();
                            moved = true;
                        }
                        break;
                    }
                    Ok(n) => {
                        q.rx.extend(&scratch[..n]);
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
