//! [`ConnectionHandle`]: the application's side of one connection.

use crate::stream::RhizoStream;
use rhizo_core::identity::{PeerId, PublicKey};
use rhizo_core::perf::{PerfParams, PerfResult};
use rhizo_driver_common::{
    CloseReason, Command, CommandSender, Error, Inbound, RemoteIdentify, Reply,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// An established connection: ask the peer things, open and accept application streams.
///
/// Dropping the handle closes the connection.
#[derive(Debug)]
pub struct ConnectionHandle {
    pub(crate) remote_peer: PeerId,
    /// Protobuf-encoded: a few dozen bytes where a `PublicKey` is sized for RSA.
    pub(crate) remote_public_key: Box<[u8]>,
    pub(crate) remote_addr: SocketAddr,
    pub(crate) local_addr: SocketAddr,
    pub(crate) commands: CommandSender,
    pub(crate) inbound: Inbound,
    pub(crate) closed: watch::Receiver<Option<CloseReason>>,
    pub(crate) request_timeout: Duration,
}

impl ConnectionHandle {
    /// The peer's PeerId, proved in the Noise handshake.
    pub fn remote_peer(&self) -> &PeerId {
        &self.remote_peer
    }

    /// The peer's public key.
    pub fn remote_public_key(&self) -> PublicKey {
        PublicKey::decode(&self.remote_public_key).expect("encoded from a decoded key")
    }

    /// The peer's socket address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote_addr
    }

    /// This side's socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }

    /// Waits until the connection ends: `None` when it ended cleanly (closed by either side),
    /// else the error that ended it (a yamux protocol violation, a socket error, ...).
    pub async fn closed(&self) -> Option<Arc<Error>> {
        let mut closed = self.closed.clone();
        match closed.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().flatten(),
            // The task is gone without a word (it panicked).
            Err(_) => Some(Arc::new(Error::Closed)),
        }
    }

    async fn request<T>(
        &self,
        what: &'static str,
        limit: Option<Duration>,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<T, Error> {
        let (command, answer) = Command::with_reply(make);
        self.commands.send(command).await?;
        let answer = answer.get();
        match limit {
            Some(limit) => tokio::time::timeout(limit, answer)
                .await
                .map_err(|_| Error::Timeout { what })?,
            None => answer.await,
        }
    }

    /// Sends one ping (`/ipfs/ping/1.0.0`) and returns its round-trip time.
    pub async fn ping(&self) -> Result<Duration, Error> {
        self.request("a ping reply", Some(self.request_timeout), Command::Ping)
            .await
    }

    /// Asks the peer who it is (`/ipfs/id/1.0.0`).
    pub async fn identify(&self) -> Result<RemoteIdentify, Error> {
        self.request(
            "an identify answer",
            Some(self.request_timeout),
            Command::Identify,
        )
        .await
    }

    /// Runs `/perf/1.0.0`: sends `upload` bytes, receives `download` bytes. No time limit
    /// besides the connection's own (one perf run at a time per connection).
    pub async fn perf(&self, upload: u64, download: u64) -> Result<PerfResult, Error> {
        let params = PerfParams { upload, download };
        self.request("perf", None, |tx| Command::Perf(params, tx))
            .await
    }

    /// Opens a stream of the application protocol `protocol` (proposed lazily: it can be
    /// written at once; a refusal shows as an `Unsupported` I/O error on the stream).
    pub async fn open_stream(&self, protocol: &'static str) -> Result<RhizoStream, Error> {
        self.request("a new stream", Some(self.request_timeout), |tx| {
            Command::OpenStream(protocol, tx)
        })
        .await
        .map(RhizoStream::new)
    }

    /// The next stream the peer opened for one of the host's application protocols; `None`
    /// once the connection has ended.
    pub async fn accept_stream(&mut self) -> Option<RhizoStream> {
        self.inbound.next().await.map(RhizoStream::new)
    }

    /// Closes the connection (a yamux go-away, then the socket).
    pub async fn close(self) {
        let _ = self.commands.send(Command::Close).await;
        // Wait for the task to end.
        let _ = self.closed().await;
    }
}
