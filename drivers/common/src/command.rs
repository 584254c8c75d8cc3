//! What a connection handle and its task say to each other, whatever runtime carries it.

use crate::error::Error;
use crate::identify::RemoteIdentify;
use crate::stream::AppStream;
use futures_channel::{mpsc, oneshot};
use futures_core::Stream;
use rhizo_core::identity::{PeerId, PublicKey};
use rhizo_core::perf::{PerfParams, PerfResult};
use rhizo_core::time::Duration;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;

/// Where the task sends the answer to one request.
pub type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// What a connection handle asks of its task.
#[derive(Debug)]
pub enum Command {
    /// Send a ping; answer its round-trip time.
    Ping(Reply<Duration>),
    /// Ask the peer's identify (requests in flight share one exchange).
    Identify(Reply<RemoteIdentify>),
    /// Run perf (one run at a time).
    Perf(PerfParams, Reply<PerfResult>),
    /// Open a stream of the application protocol.
    OpenStream(&'static str, Reply<AppStream>),
    /// Close the connection (a yamux go-away, then the socket).
    Close,
}

impl Command {
    /// The command `make` builds around a new reply, and the answer to wait on.
    pub fn with_reply<T>(make: impl FnOnce(Reply<T>) -> Command) -> (Command, Answer<T>) {
        let (tx, rx) = oneshot::channel();
        (make(tx), Answer(rx))
    }
}

/// The answer to one request, once the task sends it.
#[derive(Debug)]
pub struct Answer<T>(pub(crate) oneshot::Receiver<Result<T, Error>>);

impl<T> Answer<T> {
    /// Waits for the answer; [`Error::Closed`] when the task ended without one.
    pub async fn get(self) -> Result<T, Error> {
        self.0.await.map_err(|_| Error::Closed)?
    }
}

/// What the task reports once the upgrade is over.
#[derive(Debug)]
pub struct Established {
    /// The peer's PeerId, proved in the Noise handshake.
    pub peer: PeerId,
    /// The peer's public key.
    pub public_key: PublicKey,
}

/// How a connection ended: `None` cleanly (closed by either side), else why it failed.
pub type CloseReason = Option<Arc<Error>>;

/// The streams the peer opened, as the task accepts them.
#[derive(Debug)]
pub struct Inbound(pub(crate) mpsc::UnboundedReceiver<AppStream>);

impl Inbound {
    /// The next stream; `None` once the task has ended.
    pub async fn next(&mut self) -> Option<AppStream> {
        poll_fn(|cx| Pin::new(&mut self.0).poll_next(cx)).await
    }
}

/// The handle's end of a connection's bounded command queue.
///
/// # Q&A
/// *Why not the runtime's channel?* tokio's bounded channel allocates a block of 32 slots
/// when it is made, a kilobyte and a half held by every idle connection; this one allocates
/// per queued command, and commands are rare.
#[derive(Clone, Debug)]
pub struct CommandSender(mpsc::Sender<Command>);

/// The task's end of the command queue.
#[derive(Debug)]
pub struct CommandReceiver(mpsc::Receiver<Command>);

/// A command queue holding up to `capacity` commands (plus one per sender, as
/// `futures-channel` counts).
pub fn command_channel(capacity: usize) -> (CommandSender, CommandReceiver) {
    let (tx, rx) = mpsc::channel(capacity);
    (CommandSender(tx), CommandReceiver(rx))
}

impl CommandSender {
    /// Queues `command`, waiting for room; fails once the task has ended.
    pub async fn send(&self, command: Command) -> Result<(), Error> {
        // A clone: sending wants `&mut`, and handles are shared by reference.
        let mut tx = self.0.clone();
        poll_fn(|cx| tx.poll_ready(cx))
            .await
            .map_err(|_| Error::Closed)?;
        tx.start_send(command).map_err(|_| Error::Closed)
    }

    /// Whether the task has ended (it closes its end first).
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

impl CommandReceiver {
    /// The next command; `None` once every handle is gone.
    pub fn poll_recv(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Command>> {
        Pin::new(&mut self.0).poll_next(cx)
    }

    /// The next command; `None` once every handle is gone.
    pub async fn recv(&mut self) -> Option<Command> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Refuses further commands (the task is ending).
    pub fn close(&mut self) {
        self.0.close();
    }
}
