//! [`Host`]: one identity with its settings; dials and listens over TCP.

use crate::handle::ConnectionHandle;
use rhizo_core::connection::Role;
use rhizo_core::identity::{Keypair, PeerId};
use rhizo_driver_common::{ConnectionState, Error, HostSettings, HostShared, command_channel};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// Builds a [`Host`].
#[derive(Debug)]
pub struct HostBuilder {
    settings: HostSettings,
}

impl HostBuilder {
    rhizo_driver_common::host_builder_methods!();

    /// The host.
    pub fn build(self) -> Host {
        Host {
            shared: self.settings.build(),
        }
    }
}

/// One libp2p identity on TCP: dials, listens, and runs each connection in its own task.
///
/// Cheap to clone (the clones share identity and settings).
#[derive(Clone, Debug)]
pub struct Host {
    shared: Arc<HostShared>,
}

impl Host {
    /// A builder with defaults: random Ed25519 identity, [`ConnectionConfig::new`](crate::ConnectionConfig::new), ping,
    /// identify and perf served.
    pub fn builder() -> HostBuilder {
        HostBuilder {
            settings: HostSettings::default(),
        }
    }

    /// The host's PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.shared.peer_id()
    }

    /// The host's key.
    pub fn keypair(&self) -> &Keypair {
        self.shared.keypair()
    }

    /// Dials `addr` (IPv4 or IPv6) and upgrades the connection; with `expected` set, a remote
    /// with another PeerId fails with [`Error::WrongPeer`].
    pub async fn dial(
        &self,
        addr: SocketAddr,
        expected: Option<PeerId>,
    ) -> Result<ConnectionHandle, Error> {
        let limit = self.shared.handshake_timeout();
        let socket = tokio::time::timeout(limit, TcpStream::connect(addr))
            .await
            .map_err(|_| Error::Timeout {
                what: "the TCP connection",
            })?
            .map_err(|source| Error::Connect { addr, source })?;
        start(self.shared.clone(), socket, Role::Dialer, expected).await
    }

    /// Listens on `addr` (port 0 picks a free one). Each accepted socket is upgraded in its own
    /// task; [`Listener::accept`] returns the connections that completed the upgrade.
    pub async fn listen(&self, addr: SocketAddr) -> Result<Listener, Error> {
        let socket = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Listen { addr, source })?;
        let local_addr = socket
            .local_addr()
            .map_err(|source| Error::Listen { addr, source })?;
        self.shared.add_listen_addr(local_addr);
        let (tx, rx) = mpsc::channel(16);
        let shared = self.shared.clone();
        let accept_loop = tokio::spawn(accept_loop(shared, socket, tx));
        Ok(Listener {
            local_addr,
            accepted: rx,
            accept_loop,
            shared: self.shared.clone(),
        })
    }
}

async fn accept_loop(
    shared: Arc<HostShared>,
    socket: TcpListener,
    accepted: mpsc::Sender<ConnectionHandle>,
) {
    loop {
        let (stream, _) = match socket.accept().await {
            Ok(s) => s,
            Err(_) => {
                // Out of descriptors, or a socket reset before accept: retry shortly.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = shared.clone();
        let accepted = accepted.clone();
        tokio::spawn(async move {
            // A failed upgrade concerns only that peer; the listener carries on.
            if let Ok(handle) = start(shared, stream, Role::Listener, None).await {
                let _ = accepted.send(handle).await;
            }
        });
    }
}

/// A listening socket: see [`Host::listen`]. Dropping it stops accepting.
#[derive(Debug)]
pub struct Listener {
    local_addr: SocketAddr,
    accepted: mpsc::Receiver<ConnectionHandle>,
    accept_loop: tokio::task::JoinHandle<()>,
    shared: Arc<HostShared>,
}

impl Listener {
    /// The address it listens on (with the port the OS chose).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The next connection that completed its upgrade.
    pub async fn accept(&mut self) -> Result<ConnectionHandle, Error> {
        self.accepted.recv().await.ok_or(Error::Closed)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.accept_loop.abort();
        self.shared.remove_listen_addr(self.local_addr);
    }
}

/// Starts the task of a new connection on `socket` and waits for its upgrade.
async fn start(
    shared: Arc<HostShared>,
    socket: TcpStream,
    role: Role,
    expected: Option<PeerId>,
) -> Result<ConnectionHandle, Error> {
    socket.set_nodelay(true).map_err(Error::Io)?;
    let remote_addr = socket.peer_addr().map_err(Error::Io)?;
    let local_addr = socket.local_addr().map_err(Error::Io)?;
    let request_timeout = shared.request_timeout();
    let (state, ends) = ConnectionState::new(shared, role, remote_addr, expected)?;
    let (commands_tx, commands_rx) = command_channel(64);
    let (closed_tx, closed_rx) = watch::channel(None);
    tokio::spawn(crate::task::run(
        Box::new(state),
        socket,
        commands_rx,
        closed_tx,
    ));
    let established = ends.established.get().await?;
    Ok(ConnectionHandle {
        remote_peer: established.peer,
        remote_public_key: established.public_key.to_protobuf().as_slice().into(),
        remote_addr,
        local_addr,
        commands: commands_tx,
        inbound: ends.inbound,
        closed: closed_rx,
        request_timeout,
    })
}
