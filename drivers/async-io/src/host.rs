//! [`Host`]: one identity with its settings; dials and listens over TCP.

use crate::clock::{Clock, random32};
use crate::error::Error;
use crate::handle::ConnectionHandle;
use crate::task::{Command, ConnectionTask, DriverConnection};
use crate::wake::Wake;
use async_io::Async;
use futures::channel::{mpsc, oneshot};
use futures::future::{AbortHandle, Abortable, FutureExt};
use futures::{SinkExt, StreamExt};
use rhizo_core::connection::{ConnectionConfig, Role};
use rhizo_core::crypto::Portable;
use rhizo_core::identity::{Keypair, PeerId};
use rhizo_core::multiaddr::{Multiaddr, Protocol};
use rhizo_core::noise::session::NoiseIdentity;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The default agent version sent in identify.
pub const DEFAULT_AGENT_VERSION: &str = concat!("rhizo/", env!("CARGO_PKG_VERSION"));
/// The default protocol version sent in identify.
pub const DEFAULT_PROTOCOL_VERSION: &str = "ipfs/0.1.0";
/// How long `ping`, `identify` and `open_stream` wait for their answer by default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

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

/// What every connection of a host shares.
#[derive(Debug)]
pub(crate) struct HostShared {
    pub(crate) keypair: Keypair,
    pub(crate) identity: Arc<NoiseIdentity>,
    pub(crate) config: ConnectionConfig,
    pub(crate) agent_version: String,
    pub(crate) protocol_version: String,
    pub(crate) request_timeout: Duration,
    pub(crate) clock: Clock,
    spawner: Spawner,
    listen_addrs: Mutex<Vec<SocketAddr>>,
}

impl HostShared {
    /// The addresses the host listens on, as multiaddrs.
    pub(crate) fn listen_multiaddrs(&self) -> Vec<Multiaddr> {
        let addrs = self
            .listen_addrs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        addrs.iter().filter_map(|a| socket_multiaddr(*a)).collect()
    }
}

/// `/ip4/<ip>/tcp/<port>` or `/ip6/<ip>/tcp/<port>`.
pub fn socket_multiaddr(addr: SocketAddr) -> Option<Multiaddr> {
    let ip = match addr.ip() {
        IpAddr::V4(ip) => Protocol::Ip4(ip),
        IpAddr::V6(ip) => Protocol::Ip6(ip),
    };
    Multiaddr::new()
        .with(ip)
        .ok()?
        .with(Protocol::Tcp(addr.port()))
        .ok()
}

/// The protocols a connection with `config` serves, as identify lists them.
pub(crate) fn served_protocols(config: &ConnectionConfig) -> Vec<&'static str> {
    let builtins = [
        (config.serve_ping, rhizo_core::ping::PROTOCOL_ID),
        (config.serve_identify, rhizo_core::identify::PROTOCOL_ID),
        (
            config.serve_identify,
            rhizo_core::identify::PUSH_PROTOCOL_ID,
        ),
        (config.serve_perf, rhizo_core::perf::PROTOCOL_ID),
    ];
    builtins
        .into_iter()
        .filter_map(|(on, id)| on.then_some(id))
        .chain(config.app_protocols.iter().copied())
        .collect()
}

/// Builds a [`Host`].
#[derive(Debug)]
pub struct HostBuilder {
    keypair: Option<Keypair>,
    config: ConnectionConfig,
    agent_version: String,
    protocol_version: String,
    request_timeout: Duration,
    spawner: Option<Spawner>,
}

impl HostBuilder {
    /// Where the host's tasks run (default [`Spawner::thread_per_task`]), e.g.
    /// `.spawner(|task| smol::spawn(task).detach())` or
    /// `.spawner(move |task| executor.spawn(task).detach())`.
    pub fn spawner(mut self, spawn: impl Fn(Task) + Send + Sync + 'static) -> Self {
        self.spawner = Some(Spawner::new(spawn));
        self
    }

    /// The host's identity (default: a fresh random Ed25519 key).
    pub fn keypair(mut self, keypair: Keypair) -> Self {
        self.keypair = Some(keypair);
        self
    }

    /// The host's identity from a 32-byte Ed25519 seed (a fixed PeerId, for tests).
    pub fn seed(self, seed: [u8; 32]) -> Self {
        self.keypair(Keypair::from_seed(seed))
    }

    /// The connection settings; `role` and `expected_peer` are set per connection.
    pub fn connection_config(mut self, config: ConnectionConfig) -> Self {
        self.config = config;
        self
    }

    /// The application protocols accepted on inbound streams.
    pub fn app_protocols(mut self, protocols: &'static [&'static str]) -> Self {
        self.config.app_protocols = protocols;
        self
    }

    /// The agent version sent in identify (default [`DEFAULT_AGENT_VERSION`]).
    pub fn agent_version(mut self, agent_version: impl Into<String>) -> Self {
        self.agent_version = agent_version.into();
        self
    }

    /// The protocol version sent in identify (default [`DEFAULT_PROTOCOL_VERSION`]).
    pub fn protocol_version(mut self, protocol_version: impl Into<String>) -> Self {
        self.protocol_version = protocol_version.into();
        self
    }

    /// How long `ping`, `identify` and `open_stream` wait (default
    /// [`DEFAULT_REQUEST_TIMEOUT`]).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The host.
    pub fn build(self) -> Host {
        let keypair = self
            .keypair
            .unwrap_or_else(|| Keypair::from_seed(random32()));
        let identity = NoiseIdentity::ed25519::<Portable>(&keypair, random32());
        Host {
            shared: Arc::new(HostShared {
                keypair,
                identity: Arc::new(identity),
                config: self.config,
                agent_version: self.agent_version,
                protocol_version: self.protocol_version,
                request_timeout: self.request_timeout,
                clock: Clock::new(),
                spawner: self.spawner.unwrap_or_else(Spawner::thread_per_task),
                listen_addrs: Mutex::new(Vec::new()),
            }),
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
}

impl Host {
    /// A builder with defaults: random Ed25519 identity, [`ConnectionConfig::new`], ping,
    /// identify and perf served.
    pub fn builder() -> HostBuilder {
        HostBuilder {
            keypair: None,
            config: ConnectionConfig::new(Role::Dialer),
            agent_version: DEFAULT_AGENT_VERSION.to_owned(),
            protocol_version: DEFAULT_PROTOCOL_VERSION.to_owned(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            spawner: None,
        }
    }

    /// The host's PeerId.
    pub fn peer_id(&self) -> PeerId {
        *self.shared.identity.peer_id()
    }

    /// The host's key.
    pub fn keypair(&self) -> &Keypair {
        &self.shared.keypair
    }

    /// Dials `addr` (IPv4 or IPv6) and upgrades the connection; with `expected` set, a remote
    /// with another PeerId fails with [`Error::WrongPeer`].
    pub async fn dial(
        &self,
        addr: SocketAddr,
        expected: Option<PeerId>,
    ) -> Result<ConnectionHandle, Error> {
        let limit = self.shared.config.handshake_timeout;
        let socket = crate::timeout(limit, Async::<TcpStream>::connect(addr))
            .await
            .ok_or(Error::Timeout {
                what: "the TCP connection",
            })?
            .map_err(|source| Error::Connect { addr, source })?;
        start(self.shared.clone(), socket, Role::Dialer, expected).await
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
        self.shared
            .listen_addrs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(local_addr);
        let (tx, rx) = mpsc::channel(16);
        let shared = self.shared.clone();
        let (abort, registration) = AbortHandle::new_pair();
        self.shared
            .spawner
            .spawn(Abortable::new(accept_loop(shared, socket, tx), registration).map(|_| ()));
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
        let spawner = shared.spawner.clone();
        spawner.spawn(async move {
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
        let mut addrs = self
            .shared
            .listen_addrs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        addrs.retain(|a| *a != self.local_addr);
    }
}

/// Starts the task of a new connection on `socket` and waits for its upgrade.
async fn start(
    shared: Arc<HostShared>,
    socket: Async<TcpStream>,
    role: Role,
    expected: Option<PeerId>,
) -> Result<ConnectionHandle, Error> {
    let tcp = socket.get_ref();
    tcp.set_nodelay(true).map_err(Error::Io)?;
    let remote_addr = tcp.peer_addr().map_err(Error::Io)?;
    let local_addr = tcp.local_addr().map_err(Error::Io)?;
    let config = ConnectionConfig {
        role,
        expected_peer: expected,
        ..shared.config
    };
    let clock = shared.clock;
    let shared_spawner = shared.spawner.clone();
    let conn = DriverConnection::new(
        clock.now(),
        config,
        shared.identity.clone(),
        random32(),
        random32(),
    )?;
    let (commands_tx, commands_rx) = mpsc::channel::<Command>(64);
    let (inbound_tx, inbound_rx) = mpsc::unbounded();
    let (established_tx, established_rx) = oneshot::channel();
    let (closed_tx, closed_rx) = oneshot::channel();
    let request_timeout = shared.request_timeout;
    let task = ConnectionTask::new(
        conn,
        clock,
        shared,
        socket,
        remote_addr,
        expected,
        commands_rx,
        Arc::new(Wake::default()),
        inbound_tx,
        established_tx,
        closed_tx,
    );
    let spawner = shared_spawner;
    spawner.spawn(task.run());
    let established = established_rx.await.map_err(|_| Error::Closed)??;
    Ok(ConnectionHandle {
        remote_peer: established.peer,
        remote_public_key: established.public_key,
        remote_addr,
        local_addr,
        commands: commands_tx,
        inbound: inbound_rx,
        closed: closed_rx.shared(),
        request_timeout,
    })
}
