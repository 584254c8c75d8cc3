//! [`Host`]: one identity with its settings; dials and listens over TCP.

use crate::handle::ConnectionHandle;
use async_io::Async;
use futures::channel::{mpsc, oneshot};
use futures::future::{AbortHandle, Abortable, FutureExt};
use futures::{SinkExt, StreamExt};
use rhizo_core::connection::Role;
use rhizo_core::identity::{Keypair, PeerId};
use rhizo_driver_common::{ConnectionState, Error, HostSettings, HostShared, command_channel};
use std::fmt;
use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A task the driver asks to run to its end.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs the driver's tasks (one per connection, one per listener, one per inbound upgrade) on
/// the caller's executor: see [`HostBuilder::spawner`].
#[derive(Clone)]
pub struct Spawner(Arc<dyn Fn(Task) + Send + Sync>);

impl Spawner {
    /// A spawner that hands each task to `spawn`, e.g.
    /// `Spawner::new(|task| smol::spawn(task).detach())`.
    pub fn new(spawn: impl Fn(Task) + Send + Sync + 'static) -> Self {
        Spawner(Arc::new(spawn))
    }

    /// The default: each task on a thread of its own, driven by `async_io::block_on`. Right
    /// for a few connections; give a real executor for many.
    pub fn thread_per_task() -> Self {
        Spawner::new(|task| {
            std::thread::Builder::new()
                .name("rhizo-async-io".into())
                .spawn(move || async_io::block_on(task))
                .expect("the OS can start a thread (it fails only out of resources)");
        })
    }

    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        (self.0)(Box::pin(task));
    }
}

impl fmt::Debug for Spawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Spawner")
    }
}

/// Builds a [`Host`].
#[derive(Debug)]
pub struct HostBuilder {
    settings: HostSettings,
    spawner: Option<Spawner>,
}

impl HostBuilder {
    rhizo_driver_common::host_builder_methods!();

    /// Where the host's tasks run (default [`Spawner::thread_per_task`]), e.g.
    /// `.spawner(|task| smol::spawn(task).detach())` or
    /// `.spawner(move |task| executor.spawn(task).detach())`.
    pub fn spawner(mut self, spawn: impl Fn(Task) + Send + Sync + 'static) -> Self {
        self.spawner = Some(Spawner::new(spawn));
        self
    }

    /// The host.
    pub fn build(self) -> Host {
        Host {
            shared: self.settings.build(),
            spawner: self.spawner.unwrap_or_else(Spawner::thread_per_task),
        }
    }
}

/// One libp2p identity on TCP: dials, listens, and runs each connection in its own task
/// (spawned by the host's [`Spawner`]).
///
/// Cheap to clone (the clones share identity and settings).
#[derive(Clone, Debug)]
pub struct Host {
    shared: Arc<HostShared>,
    spawner: Spawner,
}

impl Host {
    /// A builder with defaults: random Ed25519 identity, [`ConnectionConfig::new`](crate::ConnectionConfig::new), ping,
    /// identify and perf served.
    pub fn builder() -> HostBuilder {
        HostBuilder {
            settings: HostSettings::default(),
            spawner: None,
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
        let socket = crate::timeout(limit, Async::<TcpStream>::connect(addr))
            .await
            .ok_or(Error::Timeout {
                what: "the TCP connection",
            })?
            .map_err(|source| Error::Connect { addr, source })?;
        start(
            self.shared.clone(),
            self.spawner.clone(),
            socket,
            Role::Dialer,
            expected,
        )
        .await
    }

    /// Listens on `addr` (port 0 picks a free one). Each accepted socket is upgraded in its own
    /// task; [`Listener::accept`] returns the connections that completed the upgrade.
    pub async fn listen(&self, addr: SocketAddr) -> Result<Listener, Error> {
        let socket =
            Async::<TcpListener>::bind(addr).map_err(|source| Error::Listen { addr, source })?;
        let local_addr = socket
            .get_ref()
            .local_addr()
            .map_err(|source| Error::Listen { addr, source })?;
        self.shared.add_listen_addr(local_addr);
        let (tx, rx) = mpsc::channel(16);
        let shared = self.shared.clone();
        let (abort, registration) = AbortHandle::new_pair();
        let spawner = self.spawner.clone();
        self.spawner.spawn(
            Abortable::new(accept_loop(shared, spawner, socket, tx), registration).map(|_| ()),
        );
        Ok(Listener {
            local_addr,
            accepted: rx,
            accept_loop: abort,
            shared: self.shared.clone(),
        })
    }
}

async fn accept_loop(
    shared: Arc<HostShared>,
    spawner: Spawner,
    socket: Async<TcpListener>,
    accepted: mpsc::Sender<ConnectionHandle>,
) {
    loop {
        let (stream, _) = match socket.accept().await {
            Ok(s) => s,
            Err(_) => {
                // Out of descriptors, or a socket reset before accept: retry shortly.
                async_io::Timer::after(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = shared.clone();
        let mut accepted = accepted.clone();
        let task_spawner = spawner.clone();
        spawner.spawn(async move {
            // A failed upgrade concerns only that peer; the listener carries on.
            if let Ok(handle) = start(shared, task_spawner, stream, Role::Listener, None).await {
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
    accept_loop: AbortHandle,
    shared: Arc<HostShared>,
}

impl Listener {
    /// The address it listens on (with the port the OS chose).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The next connection that completed its upgrade.
    pub async fn accept(&mut self) -> Result<ConnectionHandle, Error> {
        self.accepted.next().await.ok_or(Error::Closed)
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
    spawner: Spawner,
    socket: Async<TcpStream>,
    role: Role,
    expected: Option<PeerId>,
) -> Result<ConnectionHandle, Error> {
    let tcp = socket.get_ref();
    tcp.set_nodelay(true).map_err(Error::Io)?;
    let remote_addr = tcp.peer_addr().map_err(Error::Io)?;
    let local_addr = tcp.local_addr().map_err(Error::Io)?;
    let request_timeout = shared.request_timeout();
    let (state, ends) = ConnectionState::new(shared, role, remote_addr, expected)?;
    let (commands_tx, commands_rx) = command_channel(64);
    let (closed_tx, closed_rx) = oneshot::channel();
    spawner.spawn(crate::task::run(
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
        closed: closed_rx.shared(),
        request_timeout,
    })
}
