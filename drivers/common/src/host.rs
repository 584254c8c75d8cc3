//! The host's identity and settings, shared by all its connections; the builder's data.

use crate::clock::{Clock, random32};
use rhizo_core::connection::{ConnectionConfig, Role};
use rhizo_core::identity::{Keypair, PeerId};
use rhizo_core::multiaddr::{Multiaddr, Protocol};
use rhizo_core::noise::session::NoiseIdentity;
use rhizo_native_crypto::Native;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The default agent version sent in identify.
pub const DEFAULT_AGENT_VERSION: &str = concat!("rhizo/", env!("CARGO_PKG_VERSION"));
/// The default protocol version sent in identify.
pub const DEFAULT_PROTOCOL_VERSION: &str = "ipfs/0.1.0";
/// How long `ping`, `identify` and `open_stream` wait for their answer by default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// What every connection of a host shares.
#[derive(Debug)]
pub struct HostShared {
    pub(crate) keypair: Keypair,
    pub(crate) identity: Arc<NoiseIdentity>,
    pub(crate) config: ConnectionConfig,
    pub(crate) agent_version: String,
    pub(crate) protocol_version: String,
    pub(crate) request_timeout: Duration,
    pub(crate) clock: Clock,
    listen_addrs: Mutex<Vec<SocketAddr>>,
    /// The signed peer record of the current listen addresses, made when first asked for.
    signed_record: Mutex<Option<SignedRecord>>,
}

/// A signed peer record and the addresses it was made for.
#[derive(Debug)]
struct SignedRecord {
    addrs: Vec<SocketAddr>,
    envelope: Arc<[u8]>,
}

impl HostShared {
    /// The host's PeerId.
    pub fn peer_id(&self) -> PeerId {
        *self.identity.peer_id()
    }

    /// The host's key.
    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }

    /// How long requests wait for their answer.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// How long a dial and its upgrade may take.
    pub fn handshake_timeout(&self) -> Duration {
        self.config.handshake_timeout
    }

    fn listen_addrs(&self) -> std::sync::MutexGuard<'_, Vec<SocketAddr>> {
        self.listen_addrs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a listening address (sent in identify).
    pub fn add_listen_addr(&self, addr: SocketAddr) {
        self.listen_addrs().push(addr);
    }

    /// Forgets a listening address.
    pub fn remove_listen_addr(&self, addr: SocketAddr) {
        self.listen_addrs().retain(|a| *a != addr);
    }

    /// The host's signed peer record (a `libp2p-peer-record` envelope) of the addresses it
    /// listens on, sent in identify. Made again when the addresses change, with a larger
    /// sequence number (microseconds since the Unix epoch, as other libp2p hosts use time).
    pub fn signed_peer_record(&self) -> Arc<[u8]> {
        let addrs = self.listen_addrs().clone();
        let mut cache = self
            .signed_record
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(record) = cache.as_ref().filter(|r| r.addrs == addrs) {
            return record.envelope.clone();
        }
        let multiaddrs: Vec<Multiaddr> =
            addrs.iter().filter_map(|a| socket_multiaddr(*a)).collect();
        let bytes: Vec<&[u8]> = multiaddrs.iter().map(|a| a.as_bytes()).collect();
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        // Room for the record, the key and the signature: addresses are at most a few dozen
        // bytes each.
        let room = 512 + bytes.iter().map(|a| a.len() + 8).sum::<usize>();
        let mut record_buf = vec![0u8; room];
        let mut out = vec![0u8; 2 * room];
        let envelope: Arc<[u8]> = rhizo_core::identity::peer_record::seal(
            &self.keypair,
            seq,
            bytes.iter().copied(),
            &mut record_buf,
            &mut out,
        )
        .expect("the buffers are sized for the record and an ed25519 signature")
        .into();
        *cache = Some(SignedRecord {
            addrs,
            envelope: envelope.clone(),
        });
        envelope
    }

    /// The addresses the host listens on, as multiaddrs.
    pub(crate) fn listen_multiaddrs(&self) -> Vec<Multiaddr> {
        self.listen_addrs()
            .iter()
            .filter_map(|a| socket_multiaddr(*a))
            .collect()
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

/// A host builder's settings, before the host exists: see [`host_builder_methods`](crate::host_builder_methods).
#[derive(Debug)]
pub struct HostSettings {
    /// The identity (default: a fresh random Ed25519 key).
    pub keypair: Option<Keypair>,
    /// The connection settings; `role` and `expected_peer` are set per connection.
    pub config: ConnectionConfig,
    /// The agent version sent in identify.
    pub agent_version: String,
    /// The protocol version sent in identify.
    pub protocol_version: String,
    /// How long `ping`, `identify` and `open_stream` wait.
    pub request_timeout: Duration,
}

impl Default for HostSettings {
    /// Random Ed25519 identity, [`ConnectionConfig::new`] (ping, identify and perf served),
    /// the default versions and request timeout.
    fn default() -> Self {
        HostSettings {
            keypair: None,
            config: ConnectionConfig::new(Role::Dialer),
            agent_version: DEFAULT_AGENT_VERSION.to_owned(),
            protocol_version: DEFAULT_PROTOCOL_VERSION.to_owned(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

impl HostSettings {
    /// The host's shared part: the identity made (and its Noise key drawn), the clock started.
    pub fn build(self) -> Arc<HostShared> {
        let keypair = self
            .keypair
            .unwrap_or_else(|| Keypair::from_seed(random32()));
        let identity = NoiseIdentity::ed25519::<Native>(&keypair, random32());
        Arc::new(HostShared {
            keypair,
            identity: Arc::new(identity),
            config: self.config,
            agent_version: self.agent_version,
            protocol_version: self.protocol_version,
            request_timeout: self.request_timeout,
            signed_record: Mutex::new(None),
            clock: Clock::new(),
            listen_addrs: Mutex::new(Vec::new()),
        })
    }
}

/// The setters every driver's `HostBuilder` has, over its `settings: HostSettings` field:
/// `keypair`, `seed`, `connection_config`, `app_protocols`, `agent_version`,
/// `protocol_version`, `request_timeout`. Use it inside the builder's `impl` block.
///
/// # Q&A
/// *Why a macro and not a shared builder type?* Each driver's builder is its own public type
/// with runtime-specific settings too (async-io's spawner) and builds its own `Host`; a
/// generic builder would need a trait import for those, which changes the drivers' API.
#[macro_export]
macro_rules! host_builder_methods {
    () => {
        /// The host's identity (default: a fresh random Ed25519 key).
        pub fn keypair(mut self, keypair: $crate::reexport::Keypair) -> Self {
            self.settings.keypair = Some(keypair);
            self
        }

        /// The host's identity from a 32-byte Ed25519 seed (a fixed PeerId, for tests).
        pub fn seed(self, seed: [u8; 32]) -> Self {
            self.keypair($crate::reexport::Keypair::from_seed(seed))
        }

        /// The connection settings; `role` and `expected_peer` are set per connection.
        pub fn connection_config(mut self, config: $crate::reexport::ConnectionConfig) -> Self {
            self.settings.config = config;
            self
        }

        /// The application protocols accepted on inbound streams.
        pub fn app_protocols(mut self, protocols: &'static [&'static str]) -> Self {
            self.settings.config.app_protocols = protocols;
            self
        }

        /// The agent version sent in identify (default
        /// [`DEFAULT_AGENT_VERSION`](crate::DEFAULT_AGENT_VERSION)).
        pub fn agent_version(mut self, agent_version: impl Into<String>) -> Self {
            self.settings.agent_version = agent_version.into();
            self
        }

        /// The protocol version sent in identify (default
        /// [`DEFAULT_PROTOCOL_VERSION`](crate::DEFAULT_PROTOCOL_VERSION)).
        pub fn protocol_version(mut self, protocol_version: impl Into<String>) -> Self {
            self.settings.protocol_version = protocol_version.into();
            self
        }

        /// How long `ping`, `identify` and `open_stream` wait (default
        /// [`DEFAULT_REQUEST_TIMEOUT`](crate::DEFAULT_REQUEST_TIMEOUT)).
        pub fn request_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.settings.request_timeout = timeout;
            self
        }
    };
}
