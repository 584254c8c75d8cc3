//! rhizo on embassy: drives one [`rhizo_core::connection::Connection`] over an embassy-net
//! [`TcpSocket`], with embassy-time for the clock and timers.
//!
//! No allocator and no protocol logic: the caller owns the connection (usually a
//! [`FixedConnection`](rhizo_core::connection::FixedConnection)), the socket and its buffers,
//! and the two byte buffers this driver moves data through. The application sees every
//! [`ConnectionEvent`] through an [`EventHandler`] and acts on the connection there (answer
//! identify, open streams, read and write app streams).
//!
//! ```text
//! loop {
//!     drain poll_transmit -> socket.write, poll_event -> handler.on_event, handler.poll,
//!         until none has anything
//!     wait for: socket readable (-> receive_buffer + handle_received, or rx + handle_input)
//!             | poll_timeout (-> handle_timeout)
//!             | handler.wake() (-> handler.poll on the next round)
//! }
//! ```
//!
//! # Q&A
//! *Why one task per connection and sequential socket writes?* The firmware serves a handful of
//! connections; a write only waits for room in the socket's send buffer, which the peer's ACKs
//! free whatever this side does, so a write never waits on this side's reads.
//!
//! *Why may received bytes stay in `rx`?* The connection takes fewer bytes than offered only
//! while a stream's ring is full (backpressure). They are offered again after the handler has
//! run; the socket is not read while `rx` is full, so the peer's TCP window closes too.
#![no_std]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

use core::borrow::Borrow;
use embassy_futures::select::{Either, select};
use embassy_net::tcp::TcpSocket;
use embassy_time::Timer;
use rhizo_core::connection::{Connection, ConnectionError, ConnectionEvent, ConnectionStorage};
use rhizo_core::crypto::CryptoProvider;
use rhizo_core::noise::session::NoiseIdentity;
use rhizo_core::time::Instant;

/// The clock the core sees: embassy-time's, in microseconds from boot.
pub fn now() -> Instant {
    Instant::from_micros(embassy_time::Instant::now().as_micros())
}

/// The application's part: called with every event, with the connection to act on.
pub trait EventHandler<P: CryptoProvider, S: ConnectionStorage, I: Borrow<NoiseIdentity>> {
    /// One event; the driver sends whatever the handler's calls produce.
    fn on_event(&mut self, conn: &mut Connection<P, S, I>, now: Instant, event: ConnectionEvent);

    /// Called after each round of events, and when [`wake`](Self::wake) resolves: the place
    /// to act on the connection for reasons outside it (another connection's data, the
    /// application's timers). Returns whether it did something (the driver then sends and
    /// polls events again).
    fn poll(&mut self, conn: &mut Connection<P, S, I>, now: Instant) -> bool {
        let _ = (conn, now);
        false
    }

    /// Resolves when [`poll`](Self::poll) has something to do that no socket input or
    /// connection timer announces (default: never).
    fn wake(&mut self) -> impl core::future::Future<Output = ()> {
        core::future::pending()
    }
}

/// An event handler that ignores everything (ping and perf are answered by the core itself).
#[derive(Debug, Default, Clone, Copy)]
pub struct IgnoreEvents;

impl<P: CryptoProvider, S: ConnectionStorage, I: Borrow<NoiseIdentity>> EventHandler<P, S, I>
    for IgnoreEvents
{
    fn on_event(&mut self, _: &mut Connection<P, S, I>, _: Instant, _: ConnectionEvent) {}
}

/// The byte buffers the driver moves data through, owned by the caller.
#[derive(Debug)]
pub struct Buffers<'a> {
    /// Bytes read from the socket and not yet taken by the connection, when the socket cannot
    /// be read straight into the connection's frame buffer
    /// ([`Connection::receive_buffer`]: a fixed-storage connection always can, so a few dozen
    /// bytes do; a heap connection reads here until a transfer grows its buffer, and 1-2 KiB
    /// reads a TCP segment at once).
    pub rx: &'a mut [u8],
    /// Where `poll_transmit` writes: each call fills it with whole sealed Noise frames, so a
    /// larger buffer means fewer, larger frames (at least 256 bytes).
    pub tx: &'a mut [u8],
}

/// Why [`drive`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriveError {
    /// The connection failed (see [`Connection::error`] too).
    Connection(ConnectionError),
    /// The socket failed (reset by the peer, or a timeout).
    Socket(embassy_net::tcp::Error),
    /// The peer closed the TCP connection before the libp2p connection ended.
    Eof,
}

impl core::fmt::Display for DriveError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DriveError::Connection(e) => write!(f, "{e}"),
            DriveError::Socket(e) => write!(f, "socket: {e:?}"),
            DriveError::Eof => f.write_str("the peer closed the TCP connection"),
        }
    }
}

impl core::error::Error for DriveError {}

/// Runs `conn` over the connected `socket` until the connection ends: `Ok(())` after a clean
/// close (ours or the peer's go-away), an error otherwise. The socket is closed (after what
/// was sent) or aborted on the way out.
pub async fn drive<P, S, I, H>(
    socket: &mut TcpSocket<'_>,
    conn: &mut Connection<P, S, I>,
    buffers: Buffers<'_>,
    handler: &mut H,
) -> Result<(), DriveError>
where
    P: CryptoProvider,
    S: ConnectionStorage,
    I: Borrow<NoiseIdentity>,
    H: EventHandler<P, S, I>,
{
    let result = run(socket, conn, buffers, handler).await;
    match result {
        Ok(()) => {
            socket.close();
            let _ = socket.flush().await;
        }
        Err(_) => socket.abort(),
    }
    result
}

async fn run<P, S, I, H>(
    socket: &mut TcpSocket<'_>,
    conn: &mut Connection<P, S, I>,
    buffers: Buffers<'_>,
    handler: &mut H,
) -> Result<(), DriveError>
where
    P: CryptoProvider,
    S: ConnectionStorage,
    I: Borrow<NoiseIdentity>,
    H: EventHandler<P, S, I>,
{
    let Buffers { rx, tx } = buffers;
    // rx[..filled] was read and not yet taken.
    let mut filled = 0usize;
    loop {
        flush_output(socket, conn, tx, handler).await?;
        if conn.is_closed() {
            return match conn.error() {
                None => Ok(()),
                Some(e) => Err(DriveError::Connection(e)),
            };
        }
        // Offer held-back input again: the handler may have drained a stream.
        if filled > 0 {
            let used = conn
                .handle_input(now(), &rx[..filled])
                .map_err(DriveError::Connection)?;
            rx.copy_within(used..filled, 0);
            filled -= used;
            if used > 0 {
                continue;
            }
        }
        let deadline = conn.poll_timeout().map_or(embassy_time::Instant::MAX, |t| {
            embassy_time::Instant::from_micros(t.as_micros())
        });
        if filled == rx.len() {
            // No room to read: only time (or the handler, on the next event) can help.
            Timer::at(
                deadline
                    .min(embassy_time::Instant::now() + embassy_time::Duration::from_millis(10)),
            )
            .await;
            conn.handle_timeout(now()).map_err(DriveError::Connection)?;
            continue;
        }
        if filled == 0
            && let Some(room) = conn.receive_buffer()
        {
            // Straight into the connection's frame buffer: no copy through `rx`.
            let read = select(socket.read(room), Timer::at(deadline));
            let woke = select(read, handler.wake()).await;
            match woke {
                Either::Second(()) => {}
                Either::First(Either::First(Ok(0))) => return Err(DriveError::Eof),
                Either::First(Either::First(Ok(n))) => conn
                    .handle_received(now(), n)
                    .map_err(DriveError::Connection)?,
                Either::First(Either::First(Err(e))) => return Err(DriveError::Socket(e)),
                Either::First(Either::Second(())) => {
                    conn.handle_timeout(now()).map_err(DriveError::Connection)?
                }
            }
            continue;
        }
        let read = select(socket.read(&mut rx[filled..]), Timer::at(deadline));
        match select(read, handler.wake()).await {
            Either::Second(()) => continue,
            Either::First(read) => match read {
                Either::First(Ok(0)) => return Err(DriveError::Eof),
                Either::First(Ok(n)) => {
                    filled += n;
                    let used = conn
                        .handle_input(now(), &rx[..filled])
                        .map_err(DriveError::Connection)?;
                    rx.copy_within(used..filled, 0);
                    filled -= used;
                }
                Either::First(Err(e)) => return Err(DriveError::Socket(e)),
                Either::Second(()) => conn.handle_timeout(now()).map_err(DriveError::Connection)?,
            },
        }
    }
}

/// Sends what the connection has to send and hands its events to the handler, until neither
/// has anything left (the handler's calls may produce more of both).
async fn flush_output<P, S, I, H>(
    socket: &mut TcpSocket<'_>,
    conn: &mut Connection<P, S, I>,
    tx: &mut [u8],
    handler: &mut H,
) -> Result<(), DriveError>
where
    P: CryptoProvider,
    S: ConnectionStorage,
    I: Borrow<NoiseIdentity>,
    H: EventHandler<P, S, I>,
{
    loop {
        let mut progressed = false;
        while let Some(n) = conn.poll_transmit(now(), tx) {
            progressed = true;
            write_all(socket, &tx[..n]).await?;
        }
        while let Some(event) = conn.poll_event() {
            progressed = true;
            handler.on_event(conn, now(), event);
        }
        if !conn.is_closed() && handler.poll(conn, now()) {
            progressed = true;
        }
        if !progressed {
            return Ok(());
        }
    }
}

async fn write_all(socket: &mut TcpSocket<'_>, mut bytes: &[u8]) -> Result<(), DriveError> {
    while !bytes.is_empty() {
        match socket.write(bytes).await {
            Ok(0) => return Err(DriveError::Eof),
            Ok(n) => bytes = &bytes[n..],
            Err(e) => return Err(DriveError::Socket(e)),
        }
    }
    Ok(())
}
