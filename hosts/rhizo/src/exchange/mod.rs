//! The daemon's Bitswap: one [`HeapBitswapEngine`] for the whole node, owned by one task on
//! its own thread, serving blocks from the repo's [`Store`] to every peer and fetching the
//! blocks the API asks for from the connected peers.
//!
//! ```text
//! connection task (one per connection)          engine thread (one)
//!   accepts the peer's Bitswap streams  --->  Command::Message (whole frames)  -> engine
//!   opens our outbound stream on demand <---  PeerLink::frames (engine output)
//!   closes the connection               <---  PeerLink::close (cut off)
//! Exchange::fetch (API)                  --->  Command::Fetch, answered once the block is stored
//! ```
//!
//! As boxo and helia do, each side sends on a stream it opened itself (one per connection,
//! opened at the first message, `/ipfs/bitswap/1.2.0` first, then 1.1.0 and 1.0.0 when the
//! peer refuses) and reads every Bitswap stream the peer opens.
//!
//! Bounds: a frame is at most the engine's `max_message_len` (4 MiB); each reader holds at
//! most one frame; the engine's input queue holds [`COMMAND_QUEUE`] commands (readers wait
//! when it is full); each peer's output queue holds [`FRAMES_PER_PEER`] frames, and a peer
//! that takes none for [`STALL_LIMIT`] is disconnected. A peer the engine cuts off (a
//! wantlist flood, an oversized or malformed message, a corrupt block) is disconnected.
//!
//! # Q&A
//! *Why a thread of its own for the engine?* The engine calls the store synchronously
//! (redb reads, and a commit when blocks arrive); on its own current-thread runtime that I/O
//! blocks nothing but the engine, with no `block_in_place` (which would need the caller's
//! runtime to be multi-threaded).
//!
//! *Why one `PeerKey` per connection, not per PeerId?* The streams, the close and the order of
//! messages belong to a connection; two connections to one peer are rare and cost only a
//! second ledger.

mod connection;
mod engine_task;

use rhizo_core::bitswap::ProtocolVersion;
use rhizo_core::bitswap::engine::{Config, FetchFailure, PeerKey};
use rhizo_core::cid::Cid;
use rhizo_core::identity::PeerId;
use rhizo_core::wire::frame::FrameError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};

pub use connection::serve_connection;

use crate::store::Store;

/// Commands the engine's queue holds; senders wait when it is full.
pub const COMMAND_QUEUE: usize = 32;
/// Frames waiting to be written to one peer.
pub const FRAMES_PER_PEER: usize = 4;
/// How long a peer may leave its output queue full before it is disconnected.
pub const STALL_LIMIT: Duration = Duration::from_secs(20);

/// What the engine's task is told.
#[derive(Debug)]
enum Command {
    /// A connection is up: the engine may send to it.
    Connected { key: PeerKey, link: PeerLink },
    /// The connection ended.
    Disconnected { key: PeerKey },
    /// Our outbound stream was refused for the version the engine was using: use `version`,
    /// or with `None` the peer speaks no Bitswap.
    Downgrade {
        key: PeerKey,
        version: Option<ProtocolVersion>,
    },
    /// A whole frame's payload from the peer.
    Message { key: PeerKey, payload: Vec<u8> },
    /// The peer's stream held a broken or oversized frame.
    FrameError { key: PeerKey, error: FrameError },
    /// Fetch a block; answered once it is in the store.
    Fetch {
        cid: Cid,
        reply: oneshot::Sender<Result<(), FetchError>>,
    },
    /// A fetch's caller gave up.
    Cancel { cid: Cid },
    /// Statistics.
    Stat { reply: oneshot::Sender<BitswapStat> },
    /// Stop the engine; answered once its state (and its hold on the store) is dropped.
    Shutdown { done: oneshot::Sender<()> },
}

/// The engine's end of one connection.
#[derive(Debug)]
struct PeerLink {
    peer: PeerId,
    frames: mpsc::Sender<Vec<u8>>,
    close: Arc<Notify>,
}

/// Why a fetch failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchError {
    /// No connected peer sent the block in time.
    Timeout,
    /// The engine refused the want (too many at once, or a hash rhizo cannot verify).
    Refused(String),
    /// The store failed.
    Store(String),
    /// The daemon is stopping.
    Stopped,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Timeout => f.write_str(
                "no connected peer sent the block in time: connect to a peer that has it \
                 (`rhizo swarm connect`), or allow more time (--timeout)",
            ),
            FetchError::Refused(why) => write!(f, "bitswap refused the fetch: {why}"),
            FetchError::Store(why) => write!(f, "the block store failed: {why}"),
            FetchError::Stopped => f.write_str("the daemon is stopping"),
        }
    }
}

impl std::error::Error for FetchError {}

impl From<FetchFailure> for FetchError {
    fn from(f: FetchFailure) -> Self {
        match f {
            FetchFailure::Timeout => FetchError::Timeout,
            FetchFailure::Store => FetchError::Store("a received block could not be stored".into()),
        }
    }
}

/// `bitswap/stat`, in kubo's field names where kubo has them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BitswapStat {
    /// Blocks fetched from peers (verified and stored).
    pub blocks_received: u64,
    /// Messages sent to peers.
    pub messages_sent: u64,
    /// Messages received from peers.
    pub messages_received: u64,
    /// The CIDs being fetched.
    pub wantlist: Vec<String>,
    /// The peers with a Bitswap link.
    pub peers: Vec<String>,
    /// Blocks received from each peer (rhizo's addition).
    pub received_from: BTreeMap<String, u64>,
    /// Peers disconnected for breaking the protocol (rhizo's addition).
    pub peers_cut_off: u64,
}

/// The handle of the daemon's Bitswap: cheap to clone.
#[derive(Clone, Debug)]
pub struct Exchange {
    commands: mpsc::Sender<Command>,
    max_message_len: usize,
}

impl Exchange {
    /// Starts the engine on its own thread, serving from and fetching into `store`.
    pub fn start(store: Arc<Store>, config: Config) -> std::io::Result<Exchange> {
        let (commands, queue) = mpsc::channel(COMMAND_QUEUE);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        std::thread::Builder::new()
            .name("rhizo-bitswap".into())
            .spawn(move || runtime.block_on(engine_task::run(queue, store, config)))?;
        Ok(Exchange {
            commands,
            max_message_len: config.max_message_len,
        })
    }

    /// The engine settings a daemon uses: the core's defaults, with fetches limited by their
    /// callers' timeouts rather than the engine's.
    pub fn daemon_config() -> Config {
        Config {
            fetch_timeout: Duration::from_secs(3600),
            ..Config::default()
        }
    }

    /// Fetches the block `cid` from the connected peers (and those that connect meanwhile)
    /// into the store, waiting at most `timeout`. Returns at once when the block is held.
    pub async fn fetch(&self, cid: Cid, timeout: Duration) -> Result<(), FetchError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Fetch { cid, reply }).await?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(FetchError::Stopped),
            Err(_) => {
                let _ = self.send(Command::Cancel { cid }).await;
                Err(FetchError::Timeout)
            }
        }
    }

    /// The engine's statistics.
    pub async fn stat(&self) -> Result<BitswapStat, FetchError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Stat { reply }).await?;
        answer.await.map_err(|_| FetchError::Stopped)
    }

    /// Stops the engine and waits until it has let go of the store (so the daemon closes the
    /// database cleanly). Fetches still waiting fail with [`FetchError::Stopped`].
    pub async fn shutdown(&self) {
        let (done, stopped) = oneshot::channel();
        if self.send(Command::Shutdown { done }).await.is_ok() {
            let _ = stopped.await;
        }
    }

    async fn send(&self, command: Command) -> Result<(), FetchError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| FetchError::Stopped)
    }
}
