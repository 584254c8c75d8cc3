//! Application streams as the connection task and the application share them.
//!
//! The connection task owns the [`Connection`](rhizo_core::connection::Connection); an
//! [`AppStream`] only shares two bounded byte queues with it. Writes fill the send queue and
//! wake the task, which moves the bytes into the stream's yamux send buffer as the window
//! allows; the task reads the stream into the receive queue while it has room, so a slow
//! reader holds the yamux window closed (backpressure reaches the sender). Each driver wraps
//! an [`AppStream`] in its runtime's `AsyncRead + AsyncWrite` traits.

use crate::wake::Wake;
use rhizo_core::yamux::StreamId;
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// The most bytes queued between an application stream and its connection, each direction.
pub const QUEUE_LEN: usize = 256 * 1024;

/// How a stream ended abnormally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreamFailure {
    /// The peer (or a protocol error) reset it.
    Reset,
    /// The peer does not speak the protocol.
    Refused,
    /// The connection ended.
    ConnectionClosed,
}

impl StreamFailure {
    fn to_io(self) -> io::Error {
        match self {
            StreamFailure::Reset => {
                io::Error::new(io::ErrorKind::ConnectionReset, "the stream was reset")
            }
            StreamFailure::Refused => io::Error::new(
                io::ErrorKind::Unsupported,
                "the peer does not speak the stream's protocol",
            ),
            StreamFailure::ConnectionClosed => {
                io::Error::new(io::ErrorKind::NotConnected, "the connection has ended")
            }
        }
    }
}

/// What a stream and its connection task share.
#[derive(Debug, Default)]
pub(crate) struct StreamQueues {
    /// Received bytes the application has not read.
    pub(crate) rx: VecDeque<u8>,
    /// The peer closed its half and every byte before it is in `rx`.
    pub(crate) rx_eof: bool,
    /// Bytes the application wrote that the connection has not taken.
    pub(crate) tx: VecDeque<u8>,
    /// The application closed its half (shutdown); sent once `tx` is empty.
    pub(crate) close_requested: bool,
    /// The connection has sent the close.
    pub(crate) close_sent: bool,
    /// The stream failed.
    pub(crate) failure: Option<StreamFailure>,
    /// The application dropped its handle.
    pub(crate) dropped: bool,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
}

impl StreamQueues {
    /// Wakes a reader waiting for bytes, end or failure.
    pub(crate) fn wake_reader(&mut self) {
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
    }

    /// Wakes a writer waiting for room, a flush or a shutdown.
    pub(crate) fn wake_writer(&mut self) {
        if let Some(w) = self.write_waker.take() {
            w.wake();
        }
    }

    /// Marks the stream failed and wakes both sides.
    pub(crate) fn fail(&mut self, failure: StreamFailure) {
        if self.failure.is_none() {
            self.failure = Some(failure);
        }
        self.wake_reader();
        self.wake_writer();
    }
}

pub(crate) type SharedQueues = Arc<Mutex<StreamQueues>>;

pub(crate) fn lock(q: &Mutex<StreamQueues>) -> MutexGuard<'_, StreamQueues> {
    // A panic while holding the lock leaves plain byte queues, still consistent.
    q.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The application's end of one stream: the poll functions a driver's `AsyncRead +
/// AsyncWrite` impls call.
///
/// `poll_close` closes this side's half (the peer reads to its end); reads return 0 once the
/// peer closed its half. `poll_flush` completes once the connection has taken every written
/// byte into the stream's yamux buffer (they then leave as the peer's window allows). Dropping
/// a stream that has not been closed and read to its end resets it.
///
/// Errors: `ConnectionReset` (the stream was reset), `Unsupported` (the peer refused the
/// protocol), `NotConnected` (the connection ended), `BrokenPipe` (a write after close).
#[derive(Debug)]
pub struct AppStream {
    id: StreamId,
    protocol: &'static str,
    queues: SharedQueues,
    wake_connection: Arc<Wake>,
}

impl AppStream {
    pub(crate) fn new(
        id: StreamId,
        protocol: &'static str,
        queues: SharedQueues,
        wake_connection: Arc<Wake>,
    ) -> Self {
        AppStream {
            id,
            protocol,
            queues,
            wake_connection,
        }
    }

    /// The yamux stream id.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// The protocol the stream speaks.
    pub fn protocol(&self) -> &'static str {
        self.protocol
    }

    /// Reads received bytes into `buf`: `Ok(0)` at the end (or for an empty `buf`).
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut q = lock(&self.queues);
        if !q.rx.is_empty() {
            let n = q.rx.len().min(buf.len());
            let (a, b) = q.rx.as_slices();
            let from_a = n.min(a.len());
            buf[..from_a].copy_from_slice(&a[..from_a]);
            buf[from_a..n].copy_from_slice(&b[..n - from_a]);
            q.rx.drain(..n);
            drop(q);
            // Room in the queue: the task may read more from the stream.
            self.wake_connection.wake();
            return Poll::Ready(Ok(n));
        }
        if q.rx_eof {
            return Poll::Ready(Ok(0));
        }
        if let Some(f) = q.failure {
            return Poll::Ready(Err(f.to_io()));
        }
        q.read_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Queues as much of `data` as there is room for.
    pub fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let mut q = lock(&self.queues);
        if let Some(f) = q.failure {
            return Poll::Ready(Err(f.to_io()));
        }
        if q.close_requested {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the stream was shut down for writing",
            )));
        }
        let room = QUEUE_LEN.saturating_sub(q.tx.len());
        if room == 0 {
            q.write_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = room.min(data.len());
        q.tx.extend(&data[..n]);
        drop(q);
        self.wake_connection.wake();
        Poll::Ready(Ok(n))
    }

    /// Ready once the connection has taken every written byte.
    pub fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut q = lock(&self.queues);
        if q.tx.is_empty() {
            return Poll::Ready(Ok(()));
        }
        if let Some(f) = q.failure {
            return Poll::Ready(Err(f.to_io()));
        }
        q.write_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Closes this side's half; ready once the close is sent.
    pub fn poll_close(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut q = lock(&self.queues);
        if q.close_sent {
            return Poll::Ready(Ok(()));
        }
        if let Some(f) = q.failure {
            return Poll::Ready(Err(f.to_io()));
        }
        let first = !q.close_requested;
        q.close_requested = true;
        q.write_waker = Some(cx.waker().clone());
        drop(q);
        if first {
            self.wake_connection.wake();
        }
        Poll::Pending
    }
}

impl Drop for AppStream {
    fn drop(&mut self) {
        lock(&self.queues).dropped = true;
        self.wake_connection.wake();
    }
}
