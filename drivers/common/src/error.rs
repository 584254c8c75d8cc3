//! The driver's errors: what went wrong, in words a user can act on.

use rhizo_core::connection::{ConnectionCallError, ConnectionError};
use rhizo_core::identity::PeerId;
use rhizo_core::noise::session::NoiseHandshakeError;
use rhizo_core::perf::PerfClientError;
use rhizo_core::ping::PingError;
use std::fmt;
use std::net::SocketAddr;

/// Why a driver call failed.
#[derive(Debug)]
pub enum Error {
    /// The TCP connection could not be made (refused, unreachable, ...).
    Connect {
        /// The address dialed.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Binding a listening socket failed.
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A socket failed after the connection was made.
    Io(std::io::Error),
    /// The remote proved a different PeerId than the one dialed.
    WrongPeer {
        /// The PeerId the caller expected.
        expected: Box<PeerId>,
        /// The PeerId the remote proved.
        actual: Box<PeerId>,
    },
    /// The connection upgrade (negotiation, Noise handshake, muxer) failed, or the established
    /// connection failed later.
    Connection(ConnectionError),
    /// The connection refused an application call.
    Call(ConnectionCallError),
    /// The connection has ended (closed by either side, or failed earlier).
    Closed,
    /// Waiting for `what` took longer than the limit.
    Timeout {
        /// What was waited for.
        what: &'static str,
    },
    /// A ping failed.
    Ping(PingError),
    /// The peer did not answer an identify request (or its answer was invalid).
    IdentifyFailed,
    /// A perf run failed; `None`: the peer reset the stream.
    Perf(Option<PerfClientError>),
    /// Another perf run is in progress on this connection.
    PerfBusy,
    /// The peer does not speak the protocol proposed on a stream.
    ProtocolRefused,
}

impl Error {
    /// The error of a failed connection; a PeerId mismatch against `expected` is
    /// [`Error::WrongPeer`].
    pub fn from_connection(e: ConnectionError, expected: Option<&PeerId>) -> Self {
        match (e, expected) {
            (
                ConnectionError::Handshake(NoiseHandshakeError::PeerIdMismatch { actual }),
                Some(expected),
            ) => Error::WrongPeer {
                expected: Box::new(*expected),
                actual: Box::new(actual),
            },
            _ => Error::Connection(e),
        }
    }

    /// The error again for one more waiter: a connection, wrong-peer or I/O error (kind and
    /// message) carries over, any other is [`Error::Closed`].
    pub fn duplicate(&self) -> Self {
        match self {
            Error::Connection(e) => Error::Connection(*e),
            Error::WrongPeer { expected, actual } => Error::WrongPeer {
                expected: expected.clone(),
                actual: actual.clone(),
            },
            Error::Io(e) => Error::Io(std::io::Error::new(e.kind(), e.to_string())),
            _ => Error::Closed,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect { addr, source } => write!(f, "cannot connect to {addr}: {source}"),
            Error::Listen { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            Error::Io(e) => write!(f, "socket error: {e}"),
            Error::WrongPeer { expected, actual } => write!(
                f,
                "the remote is {}, not the expected {}",
                actual.to_base58_string(),
                expected.to_base58_string()
            ),
            Error::Connection(e) => write!(f, "connection failed: {e}"),
            Error::Call(e) => write!(f, "connection refused the call: {e}"),
            Error::Closed => f.write_str("the connection has ended"),
            Error::Timeout { what } => write!(f, "timed out waiting for {what}"),
            Error::Ping(e) => write!(f, "ping failed: {e}"),
            Error::IdentifyFailed => f.write_str("the peer did not answer identify"),
            Error::Perf(Some(e)) => write!(f, "perf failed: {e}"),
            Error::Perf(None) => f.write_str("perf failed: the peer reset the stream"),
            Error::PerfBusy => f.write_str("a perf run is already in progress"),
            Error::ProtocolRefused => f.write_str("the peer does not speak the protocol"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect { source, .. } | Error::Listen { source, .. } => Some(source),
            Error::Io(e) => Some(e),
            Error::Connection(e) => Some(e),
            Error::Call(e) => Some(e),
            Error::Ping(e) => Some(e),
            Error::Perf(Some(e)) => Some(e),
            _ => None,
        }
    }
}

impl From<ConnectionCallError> for Error {
    fn from(e: ConnectionCallError) -> Self {
        match e {
            ConnectionCallError::Closed => Error::Closed,
            e => Error::Call(e),
        }
    }
}
