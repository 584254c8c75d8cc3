//! What rhizo's drivers share and no runtime owns: the per-connection task state around
//! [`rhizo_core::connection::Connection`] ([`ConnectionState`]), the application streams'
//! queues ([`AppStream`]), the commands between a connection handle and its task, the errors,
//! the clock, and the host's identity and settings.
//!
//! A driver (`rhizo-tokio`, `rhizo-async-io`) keeps only what its runtime does: sockets,
//! timers, spawning, its wait loop over [`ConnectionState`], and its runtime's
//! `AsyncRead`/`AsyncWrite` impls over [`AppStream`]. This crate depends on no runtime.
//!
//! # Q&A
//! *Why `futures-channel` for replies and inbound streams?* Its channels need no executor and
//! no reactor, so a task on any runtime can answer a handle on any other; the drivers' own
//! channels (commands, the close signal) stay the runtime's.

#![warn(missing_docs)]

mod buffers;
mod clock;
mod command;
mod error;
mod host;
mod identify;
mod state;
mod stream;
mod wake;

pub use buffers::{OutBuf, READ_BUF_LEN, WRITE_BUF_LEN, with_read_buf};
pub use clock::{Clock, random32};
pub use command::{
    Answer, CloseReason, Command, CommandReceiver, CommandSender, Established, Inbound, Reply,
    command_channel,
};
pub use error::Error;
pub use host::{
    DEFAULT_AGENT_VERSION, DEFAULT_PROTOCOL_VERSION, DEFAULT_REQUEST_TIMEOUT, HostSettings,
    HostShared, socket_multiaddr,
};
pub use identify::RemoteIdentify;
pub use state::{ConnectionState, HandleEnds};
pub use stream::{AppStream, QUEUE_LEN};
pub use wake::Wake;

/// Paths [`host_builder_methods`] names, whatever the calling crate imports.
#[doc(hidden)]
pub mod reexport {
    pub use rhizo_core::connection::ConnectionConfig;
    pub use rhizo_core::identity::Keypair;
}
