//! rhizo on `async-io` and `futures`: TCP sockets, timers, the clock and OS randomness around
//! [`rhizo_core::connection::Connection`], on any executor (smol, async-std, a thread pool, or
//! a plain `block_on`). The driver holds no protocol logic.
//!
//! ```no_run
//! # fn demo() -> Result<(), rhizo_async_io::Error> { async_io::block_on(async {
//! let server = rhizo_async_io::Host::builder().seed([1; 32]).build();
//! let mut listener = server.listen("127.0.0.1:0".parse().unwrap()).await?;
//! let client = rhizo_async_io::Host::builder().build();
//! let conn = client.dial(listener.local_addr(), Some(server.peer_id())).await?;
//! let rtt = conn.ping().await?;
//! let info = conn.identify().await?;
//! # let _ = (rtt, info, listener.accept().await?);
//! # Ok(()) }) }
//! ```
//!
//! # Shape
//! The same as `rhizo-tokio`'s:
//! - [`Host`] holds the identity, the settings and a [`Spawner`]; [`Host::dial`] and
//!   [`Host::listen`] make connections, each run by one spawned task that owns its socket
//!   (`async_io::Async<TcpStream>`) and its `Connection`.
//! - [`ConnectionHandle`] sends requests to that task: ping, identify, perf, streams. The task
//!   answers the peer's identify requests by itself.
//! - [`RhizoStream`] is a `futures::io::AsyncRead + AsyncWrite` over one application stream.
//!
//! # Q&A
//! *How does it run without a runtime?* `async-io` brings its own reactor thread for sockets
//! and timers, so the driver's futures make progress under any executor. Only spawning needs
//! one: the [`Spawner`] given to [`HostBuilder::spawner`] (e.g. `smol::spawn(f).detach()` or
//! an `async_executor::Executor`); without one, each task gets a thread of its own.
//!
//! *Where is the connection logic?* In `rhizo-driver-common`'s `ConnectionState`, shared with
//! `rhizo-tokio`: this crate keeps the socket, the timer, the wait loop and spawning.

#![warn(missing_docs)]

mod handle;
mod host;
mod stream;
mod task;

pub use handle::ConnectionHandle;
pub use host::{Host, HostBuilder, Listener, Spawner, Task};
pub use rhizo_core::connection::{ConnectionConfig, Role};
pub use rhizo_core::identity::{Keypair, PeerId};
pub use rhizo_core::multiaddr::Multiaddr;
pub use rhizo_core::perf::PerfResult;
pub use rhizo_driver_common::{
    DEFAULT_AGENT_VERSION, DEFAULT_PROTOCOL_VERSION, DEFAULT_REQUEST_TIMEOUT, Error,
    RemoteIdentify, socket_multiaddr,
};
pub use stream::RhizoStream;

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

/// `future`'s output, or `None` when `limit` passes first.
pub(crate) async fn timeout<T>(limit: Duration, future: impl Future<Output = T>) -> Option<T> {
    let timer = async_io::Timer::after(limit);
    match futures::future::select(pin!(future), timer).await {
        futures::future::Either::Left((value, _)) => Some(value),
        futures::future::Either::Right(_) => None,
    }
}
