//! Application streams: a tokio `AsyncRead + AsyncWrite` over one yamux stream of a connection
//! (the queues and their logic are `rhizo-driver-common`'s [`AppStream`]).

use rhizo_core::yamux::StreamId;
use rhizo_driver_common::AppStream;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// One stream of an application protocol, as tokio `AsyncRead + AsyncWrite`.
///
/// `poll_shutdown` closes this side's half (the peer reads to its end); reads return 0 once the
/// peer closed its half. `poll_flush` completes once the connection has taken every written
/// byte into the stream's yamux buffer (they then leave as the peer's window allows). Dropping
/// a stream that has not been shut down and read to its end resets it.
///
/// Errors: `ConnectionReset` (the stream was reset), `Unsupported` (the peer refused the
/// protocol), `NotConnected` (the connection ended), `BrokenPipe` (a write after shutdown).
#[derive(Debug)]
pub struct RhizoStream(AppStream);

impl RhizoStream {
    pub(crate) fn new(stream: AppStream) -> Self {
        RhizoStream(stream)
    }

    /// The yamux stream id.
    pub fn id(&self) -> StreamId {
        self.0.id()
    }

    /// The protocol the stream speaks.
    pub fn protocol(&self) -> &'static str {
        self.0.protocol()
    }
}

impl AsyncRead for RhizoStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = std::task::ready!(self.0.poll_read(cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for RhizoStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_close(cx)
    }
}
