//! [`ConnectionHandle`]: the application's side of one connection.

use crate::error::Error;
use crate::stream::RhizoStream;
use crate::task::{CloseReason, Command};
use futures::channel::{mpsc, oneshot};
use futures::future::Shared;
use futures::{SinkExt, StreamExt};
use rhizo_core::identify::Identify;
use rhizo_core::identity::{PeerId, PublicKey};
use rhizo_core::multiaddr::Multiaddr;
use rhizo_core::perf::{PerfParams, PerfResult};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What the peer said about itself in identify.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteIdentify {
    /// Its software and version.
    pub agent_version: Option<String>,
    /// Its protocol family and version, e.g. `ipfs/0.1.0`.
    pub protocol_version: Option<String>,
    /// The protocols it serves.
    pub protocols: Vec<String>,
    /// The addresses it listens on (those this build can read).
    pub listen_addrs: Vec<Multiaddr>,
    /// The address it sees this side's connection come from.
    pub observed_addr: Option<Multiaddr>,
    /// Its public key, when sent and valid.
    pub public_key: Option<PublicKey>,
}

impl RemoteIdentify {
    pub(crate) fn from_message(message: &Identify<'_>) -> Self {
        RemoteIdentify {
            agent_version: message.agent_version().map(str::to_owned),
            protocol_version: message.protocol_version().map(str::to_owned),
            protocols: message.protocols().map(str::to_owned).collect(),
            listen_addrs: message
                .listen_addrs()
                .filter_map(|a| Multiaddr::try_from_bytes(a).ok())
                .collect(),
            observed_addr: message
                .observed_addr()
                .and_then(|a| Multiaddr::try_from_bytes(a).ok()),
            public_key: message.public_key().and_then(|k| PublicKey::decode(k).ok()),
        }
    }
}

/// An established connection: ask the peer things, open and accept application streams.
///
/// Dropping the handle closes the connection.
#[derive(Debug)]
pub struct ConnectionHandle {
    pub(crate) remote_peer: PeerId,
    pub(crate) remote_public_key: PublicKey,
    pub(crate) remote_addr: SocketAddr,
    pub(crate) local_addr: SocketAddr,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) inbound: mpsc::UnboundedReceiver<RhizoStream>,
    pub(crate) closed: Shared<oneshot::Receiver<CloseReason>>,
    pub(crate) request_timeout: Duration,
}

impl ConnectionHandle {
    /// The peer's PeerId, proved in the Noise handshake.
    pub fn remote_peer(&self) -> &PeerId {
        &self.remote_peer
    }

    /// The peer's public key.
    pub fn remote_public_key(&self) -> &PublicKey {
        &self.remote_public_key
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
        match self.closed.clone().await {
            Ok(reason) => reason,
            // The task is gone without a word (it panicked, or its executor dropped it).
            Err(_) => Some(Arc::new(Error::Closed)),
        }
    }

    async fn request<T>(
        &self,
        what: &'static str,
        limit: Option<Duration>,
        make: impl FnOnce(oneshot::Sender<Result<T, Error>>) -> Command,
    ) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        // A clone: `send` wants `&mut`, and handles are shared by reference.
        self.commands
            .clone()
            .send(make(tx))
            .await
            .map_err(|_| Error::Closed)?;
        let answer = async { rx.await.map_err(|_| Error::Closed)? };
        match limit {
            Some(limit) => crate::timeout(limit, answer)
                .await
                .ok_or(Error::Timeout { what })?,
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
    }

    /// The next stream the peer opened for one of the host's application protocols; `None`
    /// once the connection has ended.
    pub async fn accept_stream(&mut self) -> Option<RhizoStream> {
        self.inbound.next().await
    }

    /// Closes the connection (a yamux go-away, then the socket).
    pub async fn close(self) {
        let _ = self.commands.clone().send(Command::Close).await;
        // Wait for the task to end.
        let _ = self.closed.clone().await;
    }
}
