//! rhizo on tokio: TCP sockets, timers, the clock and OS randomness around
//! [`rhizo_core::connection::Connection`]. The driver holds no protocol logic.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rhizo_tokio::Error> {
//! let server = rhizo_tokio::Host::builder().seed([1; 32]).build();
//! let mut listener = server.listen("127.0.0.1:0".parse().unwrap()).await?;
//! let client = rhizo_tokio::Host::builder().build();
//! let conn = client.dial(listener.local_addr(), Some(server.peer_id())).await?;
//! let rtt = conn.ping().await?;
//! let info = conn.identify().await?;
//! # let _ = (rtt, info, listener.accept().await?);
//! # Ok(()) }
//! ```
//!
//! # Shape
//! - [`Host`] holds the identity and settings; [`Host::dial`] and [`Host::listen`] make
//!   connections, each run by one tokio task that owns its socket and its `Connection` (so
//!   connections spread over the runtime's worker threads).
//! - [`ConnectionHandle`] sends requests to that task: ping, identify, perf, streams. The task
//!   answers the peer's identify requests by itself.
//! - [`RhizoStream`] is a tokio `AsyncRead + AsyncWrite` over one application stream.
//!
//! # Q&A
//! *Why a task per connection and not one loop for all?* A connection is a state machine
//! without shared state: one task each lets the multi-thread runtime spread them over cores
//! with no locking, and a slow connection never delays another.
//!
//! *Where is the connection logic?* In `rhizo-driver-common`'s `ConnectionState`, shared with
//! `rhizo-async-io`: this crate keeps the sockets, the timer, the `select!` loop and spawning.

#![warn(missing_docs)]

mod handle;
mod host;
mod stream;
mod task;

pub use handle::ConnectionHandle;
pub use host::{Host, HostBuilder, Listener};
pub use rhizo_core::connection::{ConnectionConfig, Role};
pub use rhizo_core::identity::{Keypair, PeerId};
pub use rhizo_core::multiaddr::Multiaddr;
pub use rhizo_core::perf::PerfResult;
pub use rhizo_driver_common::{
    DEFAULT_AGENT_VERSION, DEFAULT_PROTOCOL_VERSION, DEFAULT_REQUEST_TIMEOUT, Error,
    RemoteIdentify, socket_multiaddr,
};
pub use stream::RhizoStream;
