//! One libp2p connection, from the first byte to multiplexed protocol streams.
//!
//! A [`Connection`] turns a reliable byte stream (TCP, a QEMU NIC, an in-memory pipe) into an
//! authenticated, multiplexed libp2p connection:
//!
//! ```text
//! multistream-select "/noise"  ->  Noise XX (libp2p payload, signed identity)
//!   -> the muxer agreed inside the handshake, or multistream-select "/yamux/1.0.0"
//!   -> yamux  ->  per stream: multistream-select, then a protocol handler
//! ```
//!
//! Built-in handlers answer ping, identify (and identify push) and perf; streams of the
//! application's own protocols are raw byte streams it reads and writes through this type.
//!
//! # Call order (the crate's contract)
//! - `handle_input(now, bytes)` with bytes from the socket: returns how many it took. It takes
//!   fewer than offered only while it holds a full Noise frame that the streams cannot take yet
//!   (backpressure); offer the rest again after draining events and reading streams.
//! - `handle_timeout(now)` once `poll_timeout()` has passed.
//! - Application calls: `open_stream`, `stream_read`, `stream_write`, `ping`, `perf`, ...
//! - After each of these, drain `poll_transmit(now, out)` (socket writes) until `None`, and
//!   `poll_event()` until `None`.
//!
//! # Memory
//! Where memory lives is chosen by a [`ConnectionStorage`] type: [`HeapConnection`] allocates
//! on demand and an idle connection holds no stream or frame buffers (the frame buffer is kept
//! through a transfer and dropped after a second without input); [`FixedConnection`] holds
//! everything inline (a Noise frame buffer, the yamux streams and their rings) for targets
//! without an allocator.
//!
//! # Q&A
//! *Why does the connection copy received bytes at all?* Noise frames are decrypted in place,
//! and a frame (up to 65537 bytes) may arrive in many socket reads; the socket's buffer belongs
//! to the driver. One frame buffer per connection is the floor, and the only copy before the
//! yamux rings. Sending copies nothing: yamux frames are written into the caller's `out` two
//! bytes in and sealed there.

mod buffer;
mod negotiation;
mod streams;

#[cfg(test)]
mod tests;

pub use streams::StreamKind;

use crate::crypto::CryptoProvider;
use crate::identify::IdentifyBuilder;
use crate::identity::PeerId;
use crate::multistream::MultistreamError;
use crate::noise::session::{
    NoiseHandshake, NoiseHandshakeConfig, NoiseHandshakeError, NoiseIdentity, Role as NoiseRole,
};
use crate::noise::{MAX_PLAINTEXT_LEN, NoiseError, NoiseTransport};
use crate::perf::{PerfClientError, PerfParams, PerfProgress, PerfResult, PerfServerConfig};
use crate::ping::{PingDialerConfig, PingError};
use crate::time::{Duration, Instant};
use crate::yamux::{
    self, OpenError, StreamError, StreamId, YamuxConfig, YamuxError, YamuxSession, YamuxStorage,
};
use buffer::FrameBuffer;
use core::borrow::Borrow;
use negotiation::Negotiator;
use streams::Streams;

/// The protocol id of Noise, as multistream-select negotiates it.
pub const NOISE_PROTOCOL: &str = crate::noise::PROTOCOL_ID;
/// The protocol id of yamux.
pub const YAMUX_PROTOCOL: &str = yamux::PROTOCOL;

/// Which side opened the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// This side dialed.
    Dialer,
    /// This side accepted.
    Listener,
}

/// The most protocol ids a connection accepts on inbound streams (built-ins included).
pub const MAX_PROTOCOLS: usize = 32;

/// How a connection behaves. Protocol ids are `'static`: they are compared on every stream.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionConfig {
    /// Which side this is.
    pub role: Role,
    /// The PeerId the remote must have (a dialer usually knows it).
    pub expected_peer: Option<PeerId>,
    /// The whole upgrade (security, handshake, muxer) must finish within this.
    pub handshake_timeout: Duration,
    /// A stream's protocol negotiation must finish within this, or the stream is reset.
    pub stream_negotiation_timeout: Duration,
    /// Offer yamux inside the Noise handshake (saves a round trip with peers that support it).
    pub early_muxer_negotiation: bool,
    /// As a dialer, send a protocol proposal and the first data in one flight (rust-libp2p's
    /// `V1Lazy`) wherever only one protocol is proposed.
    pub lazy_negotiation: bool,
    /// The application's own protocols, accepted on inbound streams as raw streams.
    pub app_protocols: &'static [&'static str],
    /// Answer `/ipfs/ping/1.0.0`.
    pub serve_ping: bool,
    /// Answer `/ipfs/id/1.0.0` (the application supplies the message) and accept
    /// `/ipfs/id/push/1.0.0`.
    pub serve_identify: bool,
    /// Answer `/perf/1.0.0`.
    pub serve_perf: bool,
    /// The pings this side sends.
    pub ping: PingDialerConfig,
    /// The limits of the perf server.
    pub perf_server: PerfServerConfig,
    /// The yamux session.
    pub yamux: YamuxConfig,
}

impl ConnectionConfig {
    /// Defaults for `role`: 10 s upgrade and stream negotiation timeouts, early muxer
    /// negotiation and lazy proposals on, ping, identify and perf served.
    pub fn new(role: Role) -> Self {
        ConnectionConfig {
            role,
            expected_peer: None,
            handshake_timeout: Duration::from_secs(10),
            stream_negotiation_timeout: Duration::from_secs(10),
            early_muxer_negotiation: true,
            lazy_negotiation: true,
            app_protocols: &[],
            serve_ping: true,
            serve_identify: true,
            serve_perf: true,
            ping: PingDialerConfig {
                interval: None,
                ..PingDialerConfig::default()
            },
            perf_server: PerfServerConfig::default(),
            yamux: YamuxConfig::default(),
        }
    }
}

/// What the connection tells the application. Small and `Copy`; details are read with
/// accessors (`remote_peer`, `remote_identify`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionEvent {
    /// The upgrade finished: [`Connection::remote_peer`] is known and streams may be opened.
    Established {
        /// Whether the muxer was agreed inside the Noise handshake.
        early_muxer: bool,
    },
    /// A stream of an application protocol is ready: inbound and agreed, or outbound and
    /// proposed (lazily: a refusal comes later as [`ConnectionEvent::StreamRefused`]).
    StreamOpened {
        /// The stream.
        stream: StreamId,
        /// Its protocol.
        protocol: &'static str,
        /// Whether the peer opened it.
        inbound: bool,
    },
    /// The peer does not speak the protocol proposed on this stream; it is gone.
    StreamRefused {
        /// The stream.
        stream: StreamId,
    },
    /// Bytes can be read from an application stream.
    StreamReadable(StreamId),
    /// An application stream can take more bytes.
    StreamWritable(StreamId),
    /// The peer closed its half of an application stream: after the buffered bytes, reads
    /// return 0.
    StreamFinished(StreamId),
    /// An application stream was reset (by the peer, or on a protocol error); it is gone.
    StreamReset(StreamId),
    /// A ping came back.
    PingRtt {
        /// The ping stream.
        stream: StreamId,
        /// The round-trip time.
        rtt: Duration,
    },
    /// A ping failed; its stream is gone.
    PingFailed {
        /// The ping stream.
        stream: StreamId,
        /// Why.
        error: PingError,
    },
    /// The peer asks who this node is: answer with [`Connection::respond_identify`].
    IdentifyRequested {
        /// The identify stream.
        stream: StreamId,
    },
    /// The peer's identify (or identify push) message arrived: see
    /// [`Connection::remote_identify`].
    Identified,
    /// An identify exchange failed; its stream is gone.
    IdentifyFailed {
        /// The identify stream.
        stream: StreamId,
    },
    /// A perf run reports progress.
    PerfProgress(PerfProgress),
    /// A perf run finished.
    PerfDone(PerfResult),
    /// A perf run failed; `None`: the peer reset the stream.
    PerfFailed {
        /// The perf stream.
        stream: StreamId,
        /// Why, when the client itself gave up.
        error: Option<PerfClientError>,
    },
    /// The connection has ended: [`Connection::error`] says why, `None` for a clean close.
    Closed,
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionError {
    /// multistream-select failed while choosing the security protocol or the muxer.
    Negotiation(MultistreamError),
    /// The peer does not speak Noise.
    SecurityRefused,
    /// The Noise handshake failed (including a remote with an unexpected PeerId).
    Handshake(NoiseHandshakeError),
    /// A Noise transport frame failed to decrypt (tampering, or a broken peer).
    Noise(NoiseError),
    /// The peer does not speak yamux.
    MuxerRefused,
    /// The yamux session failed.
    Yamux(YamuxError),
    /// The upgrade did not finish within the handshake timeout.
    HandshakeTimeout,
}

impl core::fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConnectionError::Negotiation(e) => write!(f, "protocol negotiation failed: {e}"),
            ConnectionError::SecurityRefused => f.write_str("the peer does not speak /noise"),
            ConnectionError::Handshake(e) => write!(f, "noise handshake failed: {e}"),
            ConnectionError::Noise(e) => write!(f, "secure channel failed: {e}"),
            ConnectionError::MuxerRefused => f.write_str("the peer does not speak /yamux/1.0.0"),
            ConnectionError::Yamux(e) => write!(f, "{e}"),
            ConnectionError::HandshakeTimeout => f.write_str("the connection upgrade timed out"),
        }
    }
}

impl core::error::Error for ConnectionError {}

/// Why an application call on the connection failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionCallError {
    /// The upgrade has not finished yet.
    NotEstablished,
    /// The connection has ended.
    Closed,
    /// yamux refused a new stream.
    Open(OpenError),
    /// The stream operation failed.
    Stream(StreamError),
    /// No stream with that id, or not one the application may use this way.
    UnknownStream,
    /// The protocol id is not a valid one (it must start with `/`).
    InvalidProtocol,
    /// The stream table (or the one slot for identify exchanges) is full.
    TooManyStreams,
    /// The identify message could not be encoded (too large).
    IdentifyTooLarge,
}

impl core::fmt::Display for ConnectionCallError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConnectionCallError::NotEstablished => f.write_str("connection not established yet"),
            ConnectionCallError::Closed => f.write_str("connection closed"),
            ConnectionCallError::Open(e) => write!(f, "cannot open stream: {e}"),
            ConnectionCallError::Stream(e) => write!(f, "stream: {e}"),
            ConnectionCallError::UnknownStream => f.write_str("unknown stream"),
            ConnectionCallError::InvalidProtocol => f.write_str("invalid protocol id"),
            ConnectionCallError::TooManyStreams => f.write_str("too many streams"),
            ConnectionCallError::IdentifyTooLarge => f.write_str("identify message too large"),
        }
    }
}

impl core::error::Error for ConnectionCallError {}

impl From<StreamError> for ConnectionCallError {
    fn from(e: StreamError) -> Self {
        ConnectionCallError::Stream(e)
    }
}

/// Where a connection's memory lives.
pub trait ConnectionStorage {
    /// The yamux session's storage.
    type Yamux: YamuxStorage;
    /// The buffer that holds received Noise frames (at least 65537 bytes to hold any frame).
    type Rx: yamux::ByteStorage;
    /// The table of stream handlers.
    type Slots: yamux::StreamSlots<streams::Slot>;
    /// Where state that only the upgrade needs (the handshake, its staging buffer) lives: a
    /// heap box, freed once the connection is established, or the value in place.
    type Boxed<T>: core::ops::DerefMut<Target = T>;
    /// The remote's public key, protobuf-encoded: exactly its length on the heap, or a
    /// buffer for the longest key in place.
    type KeyBytes: AsRef<[u8]>;

    /// Puts `value` where [`Boxed`](Self::Boxed) says.
    fn boxed<T>(value: T) -> Self::Boxed<T>;

    /// Keeps an encoded public key (at most [`crate::identity::keys::MAX_PUBLIC_KEY_PROTO_LEN`]
    /// bytes).
    fn key_bytes(encoded: &[u8]) -> Self::KeyBytes;
}

/// A value held in place, where heap storage would box it.
#[derive(Debug)]
pub struct InPlace<T>(T);

impl<T> core::ops::Deref for InPlace<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> core::ops::DerefMut for InPlace<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// Everything inline, for targets without an allocator: `STREAMS` streams with `RX`/`TX`
/// bytes of yamux ring each, and one 65537-byte Noise frame buffer.
#[derive(Debug)]
pub struct FixedConnection<const STREAMS: usize, const RX: usize, const TX: usize>;

/// The receive buffer of a [`FixedConnection`]: one whole Noise frame.
pub const FRAME_BUFFER_LEN: usize = 2 + crate::noise::MAX_FRAME_LEN;

impl<const STREAMS: usize, const RX: usize, const TX: usize> ConnectionStorage
    for FixedConnection<STREAMS, RX, TX>
{
    type Yamux = yamux::FixedStorage<STREAMS, RX, TX>;
    type Rx = [u8; FRAME_BUFFER_LEN];
    type Slots = heapless::Vec<streams::Slot, STREAMS>;
    type Boxed<T> = InPlace<T>;
    type KeyBytes = heapless::Vec<u8, { crate::identity::keys::MAX_PUBLIC_KEY_PROTO_LEN }>;

    fn boxed<T>(value: T) -> InPlace<T> {
        InPlace(value)
    }

    fn key_bytes(encoded: &[u8]) -> Self::KeyBytes {
        heapless::Vec::from_slice(encoded).expect("encoded public keys fit their maximum")
    }
}

/// Allocate on demand, bounded by the configuration; an idle connection holds no buffers
/// (the frame buffer goes one second after the last input).
#[cfg(feature = "alloc")]
#[derive(Debug)]
pub struct HeapConnection;

#[cfg(feature = "alloc")]
impl ConnectionStorage for HeapConnection {
    type Yamux = yamux::HeapStorage;
    type Rx = alloc::vec::Vec<u8>;
    type Slots = alloc::vec::Vec<streams::Slot>;
    type Boxed<T> = alloc::boxed::Box<T>;
    type KeyBytes = alloc::boxed::Box<[u8]>;

    fn boxed<T>(value: T) -> alloc::boxed::Box<T> {
        alloc::boxed::Box::new(value)
    }

    fn key_bytes(encoded: &[u8]) -> Self::KeyBytes {
        encoded.into()
    }
}

/// What only the upgrade needs: the security protocol's negotiation, the Noise handshake and
/// the staging buffer of their messages. Dropped once all three are done.
struct Upgrade<P: CryptoProvider, I: Borrow<NoiseIdentity>> {
    /// multistream-select for the security protocol, while it still has to send or read.
    security: Option<Negotiator>,
    handshake: Option<NoiseHandshake<P, I>>,
    /// Upgrade messages waiting for room in `out`.
    stage: Stage,
}

/// The secure channel: Noise transport, and the muxer negotiation or yamux session over it.
struct Secured<P: CryptoProvider, S: ConnectionStorage> {
    /// Set once the handshake is over (always, while the `Secured` is in use).
    transport: Option<NoiseTransport<P>>,
    /// multistream-select for the muxer, while it still has to send or read.
    muxer: Option<Negotiator>,
    yamux: Kept<YamuxSession<S::Yamux>>,
    streams: Streams<S>,
}

/// A value that stays where it is whether in use or not: an `Option` whose contents are reset
/// in place instead of being built anew (and moved through the stack) for each use. Fixed
/// storage makes the yamux session and the streams several KiB.
#[derive(Debug)]
struct Kept<T> {
    value: T,
    active: bool,
}

impl<T> Kept<T> {
    fn idle(value: T) -> Self {
        Kept {
            value,
            active: false,
        }
    }

    fn as_ref(&self) -> Option<&T> {
        self.active.then_some(&self.value)
    }

    fn as_mut(&mut self) -> Option<&mut T> {
        self.active.then_some(&mut self.value)
    }

    fn is_some(&self) -> bool {
        self.active
    }

    fn is_none(&self) -> bool {
        !self.active
    }
}

/// One libp2p connection: see the [module documentation](self).
pub struct Connection<
    P: CryptoProvider,
    S: ConnectionStorage,
    I: Borrow<NoiseIdentity> = NoiseIdentity,
> {
    config: ConnectionConfig,
    /// Until the upgrade is over (see [`Upgrade`]).
    upgrade: Option<S::Boxed<Upgrade<P, I>>>,
    secured: Kept<Secured<P, S>>,
    remote: Option<(PeerId, S::KeyBytes)>,
    rx: FrameBuffer<S::Rx>,
    deadline: Option<Instant>,
    events: heapless::Deque<ConnectionEvent, 4>,
    error: Option<ConnectionError>,
    closed: bool,
    seed: [u8; 32],
    counter: u64,
}

impl<P: CryptoProvider, S: ConnectionStorage, I: Borrow<NoiseIdentity>> core::fmt::Debug
    for Connection<P, S, I>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.config.role)
            .field("remote", &self.remote.as_ref().map(|(id, _)| id))
            .field("established", &self.is_established())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<P: CryptoProvider, S: ConnectionStorage, I: Borrow<NoiseIdentity>> Connection<P, S, I> {
    /// Starts a connection at `now` with the local `identity`. `ephemeral_secret` is fresh
    /// randomness for the Noise handshake; `seed` feeds the payloads of pings.
    ///
    /// This returns the connection by value: with [`FixedConnection`] storage that is the
    /// whole frame buffer (64 KiB) on the stack. To keep one in a `static` and reuse it, build
    /// it once and start each new connection with [`Connection::reset`].
    pub fn new(
        now: Instant,
        config: ConnectionConfig,
        identity: I,
        ephemeral_secret: [u8; 32],
        seed: [u8; 32],
    ) -> Result<Self, ConnectionCallError> {
        let upgrade = Self::upgrade_state(&config, identity, ephemeral_secret)?;
        Ok(Connection {
            config,
            upgrade: Some(S::boxed(upgrade)),
            secured: Kept::idle(Secured {
                transport: None,
                muxer: None,
                yamux: Kept::idle(YamuxSession::new(yamux::Role::Dialer, config.yamux)),
                streams: Streams::new(),
            }),
            remote: None,
            rx: FrameBuffer::new(),
            deadline: Some(now + config.handshake_timeout),
            events: heapless::Deque::new(),
            error: None,
            closed: false,
            seed,
            counter: 0,
        })
    }

    /// A connection that is over before it began ([`is_closed`](Self::is_closed), no error):
    /// a place to [`reset`](Self::reset) into a real one later. Infallible and without an
    /// identity, so that `StaticCell::init_with(|| Connection::new_closed(..))` can build it
    /// in the static itself.
    #[inline(always)]
    pub fn new_closed(config: ConnectionConfig) -> Self {
        Connection {
            config,
            upgrade: None,
            secured: Kept::idle(Secured {
                transport: None,
                muxer: None,
                yamux: Kept::idle(YamuxSession::new(yamux::Role::Dialer, config.yamux)),
                streams: Streams::new(),
            }),
            remote: None,
            rx: FrameBuffer::new(),
            deadline: None,
            events: heapless::Deque::new(),
            error: None,
            closed: true,
            seed: [0; 32],
            counter: 0,
        }
    }

    /// Starts this value over as a new connection, exactly as [`Connection::new`] with the
    /// same arguments would, but in place: the buffers are emptied, not rebuilt, so a
    /// connection kept in a `static` never passes through the stack. On an error the value is
    /// left as it was.
    pub fn reset(
        &mut self,
        now: Instant,
        config: ConnectionConfig,
        identity: I,
        ephemeral_secret: [u8; 32],
        seed: [u8; 32],
    ) -> Result<(), ConnectionCallError> {
        let upgrade = Self::upgrade_state(&config, identity, ephemeral_secret)?;
        self.config = config;
        self.upgrade = Some(S::boxed(upgrade));
        let secured = &mut self.secured.value;
        secured.transport = None;
        secured.muxer = None;
        secured.yamux.active = false;
        secured
            .yamux
            .value
            .restart(yamux::Role::Dialer, config.yamux);
        secured.streams.clear();
        self.secured.active = false;
        self.remote = None;
        self.rx.reset();
        self.deadline = Some(now + config.handshake_timeout);
        self.events.clear();
        self.error = None;
        self.closed = false;
        self.seed = seed;
        self.counter = 0;
        Ok(())
    }

    /// Checks `config` and builds the upgrade's state.
    fn upgrade_state(
        config: &ConnectionConfig,
        identity: I,
        ephemeral_secret: [u8; 32],
    ) -> Result<Upgrade<P, I>, ConnectionCallError> {
        // Checked once here; `protocol_list` rebuilds the list when a stream needs it.
        if builtin_protocols(config).count() + config.app_protocols.len() > MAX_PROTOCOLS {
            return Err(ConnectionCallError::TooManyStreams);
        }
        for id in config.app_protocols {
            crate::multistream::validate_protocol_id(
                id,
                crate::multistream::DEFAULT_MAX_MESSAGE_LEN,
            )
            .map_err(|_| ConnectionCallError::InvalidProtocol)?;
        }
        let muxers: &[&str] = if config.early_muxer_negotiation {
            &[YAMUX_PROTOCOL]
        } else {
            &[]
        };
        let (security, noise_role) = match config.role {
            Role::Dialer => (
                Negotiator::dialer(&[NOISE_PROTOCOL], config.lazy_negotiation),
                NoiseRole::Initiator,
            ),
            Role::Listener => (Negotiator::listener(), NoiseRole::Responder),
        };
        let handshake = NoiseHandshake::new(
            noise_role,
            identity,
            ephemeral_secret,
            &NoiseHandshakeConfig {
                expected_remote: config.expected_peer,
                stream_muxers: muxers,
                ..Default::default()
            },
        )
        .map_err(|_| ConnectionCallError::InvalidProtocol)?;
        Ok(Upgrade {
            security: Some(security),
            handshake: Some(handshake),
            stage: Stage::default(),
        })
    }

    // ----- getters -----

    /// The remote's PeerId, once the handshake has authenticated it.
    pub fn remote_peer(&self) -> Option<&PeerId> {
        self.remote.as_ref().map(|(id, _)| id)
    }

    /// The remote's public key, once authenticated.
    pub fn remote_public_key(&self) -> Option<crate::identity::PublicKey> {
        let (_, bytes) = self.remote.as_ref()?;
        Some(
            crate::identity::PublicKey::decode(bytes.as_ref())
                .expect("the key was encoded from a decoded key"),
        )
    }

    /// The protocols inbound streams may ask for: the served built-ins, then the
    /// application's (their number and ids were checked by [`Connection::new`]).
    fn protocol_list(config: &ConnectionConfig) -> heapless::Vec<&'static str, MAX_PROTOCOLS> {
        builtin_protocols(config)
            .chain(config.app_protocols.iter().copied())
            .take(MAX_PROTOCOLS)
            .collect()
    }

    /// Whether streams can be opened.
    pub fn is_established(&self) -> bool {
        self.secured.as_ref().is_some_and(|s| s.yamux.is_some())
    }

    /// Whether the connection has ended (with an error or cleanly).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Why the connection ended, if it failed.
    pub fn error(&self) -> Option<ConnectionError> {
        self.error
    }

    /// The configuration.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// The peer's last identify (or push) message, once one arrived.
    pub fn remote_identify(&self) -> Option<crate::identify::Identify<'_>> {
        self.secured.as_ref()?.streams.remote_identify()
    }

    /// The last yamux round-trip time measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.secured.as_ref()?.yamux.as_ref()?.rtt()
    }

    /// How many streams are open.
    pub fn stream_count(&self) -> usize {
        self.secured
            .as_ref()
            .and_then(|s| s.yamux.as_ref())
            .map_or(0, |y| y.stream_count())
    }

    // ----- input -----

    /// Bytes received from the socket; returns how many were taken.
    pub fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<usize, ConnectionError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.closed {
            return Ok(input.len());
        }
        let mut taken = 0;
        loop {
            let n = self.rx.fill(&input[taken..]);
            taken += n;
            self.pump(now)?;
            // Stop when all is taken, or when the buffer stays full (backpressure).
            if taken == input.len() || (n == 0 && self.rx.free() == 0) {
                break;
            }
        }
        Ok(taken)
    }

    /// Where the driver may read socket bytes straight into the connection's receive buffer,
    /// sparing [`handle_input`](Self::handle_input)'s copy: `Some` only while a transfer runs
    /// (the buffer is allocated to a whole frame's size) and the connection is open. Read at
    /// most this much into it, then call [`handle_received`](Self::handle_received) with the
    /// count. `None`: read into a buffer of your own and call `handle_input`.
    pub fn receive_buffer(&mut self) -> Option<&mut [u8]> {
        if self.error.is_some() || self.closed {
            return None;
        }
        let room = self.rx.direct_room()?;
        Some(&mut self.rx.bytes_mut()[room])
    }

    /// `n` bytes were read into the start of [`receive_buffer`](Self::receive_buffer): runs
    /// them through the layers as [`handle_input`](Self::handle_input) would.
    pub fn handle_received(&mut self, now: Instant, n: usize) -> Result<(), ConnectionError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.closed {
            return Ok(());
        }
        let room = self.rx.direct_room().map_or(0, |r| r.len());
        self.rx.commit_direct(n.min(room));
        self.pump(now)
    }

    /// Feeds the buffered input through the layers and moves stream data, until neither
    /// makes progress (handlers that drain a stream's ring let held-back plaintext through).
    fn pump(&mut self, now: Instant) -> Result<(), ConnectionError> {
        loop {
            let before = self.rx.progress();
            if let Err(e) = self.process(now) {
                self.fail(e);
                return Err(e);
            }
            self.drive(now);
            if self.rx.progress() == before {
                return Ok(());
            }
        }
    }

    /// The deadline from `poll_timeout` has passed.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ConnectionError> {
        self.rx.handle_timeout(now);
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.deadline.is_some_and(|d| now >= d) {
            self.fail(ConnectionError::HandshakeTimeout);
            return Err(ConnectionError::HandshakeTimeout);
        }
        if let Some(secured) = self.secured.as_mut() {
            if let Some(yamux) = secured.yamux.as_mut()
                && let Err(e) = yamux.handle_timeout(now)
            {
                self.fail(ConnectionError::Yamux(e));
                return Err(ConnectionError::Yamux(e));
            }
            if let Some(yamux) = secured.yamux.as_mut() {
                secured.streams.handle_timeout(now, yamux);
            }
        }
        self.drive(now);
        Ok(())
    }

    /// Runs the received bytes through the layers that are active.
    fn process(&mut self, now: Instant) -> Result<(), ConnectionError> {
        loop {
            let mut progressed = false;
            if let Some(ms) = self
                .upgrade
                .as_deref_mut()
                .and_then(|u| u.security.as_mut())
                .filter(|ms| ms.wants_input())
            {
                let used = ms
                    .handle_input(self.rx.data(), &[NOISE_PROTOCOL])
                    .map_err(ConnectionError::Negotiation)?;
                self.rx.consume(now, used);
                progressed |= used > 0;
                match ms.outcome() {
                    Some(crate::multistream::Outcome::Refused) => {
                        return Err(ConnectionError::SecurityRefused);
                    }
                    _ if !ms.wants_input() && !ms.has_output() => self.end_security(),
                    _ => {}
                }
                if self.security().is_some_and(|ms| ms.wants_input()) {
                    // Nothing reaches the handshake before the negotiation has been read.
                    return Ok(());
                }
            }
            if self.security_agreed()
                && let Some(hs) = self.upgrade.as_mut().and_then(|u| u.handshake.as_mut())
            {
                let used = hs
                    .handle_input(self.rx.data_mut())
                    .map_err(ConnectionError::Handshake)?;
                self.rx.consume(now, used);
                progressed |= used > 0;
                if hs.is_finished() {
                    self.finish_handshake()?;
                    progressed = true;
                }
            }
            if let Some(secured) = self.secured.as_mut() {
                progressed |= secured.read_frames(now, &mut self.rx)?;
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    fn security(&self) -> Option<&Negotiator> {
        self.upgrade.as_ref().and_then(|u| u.security.as_ref())
    }

    fn end_security(&mut self) {
        if let Some(u) = self.upgrade.as_mut() {
            u.security = None;
        }
        self.end_upgrade_if_done();
    }

    /// Frees the upgrade's state once nothing of it is left to send or read.
    fn end_upgrade_if_done(&mut self) {
        if self
            .upgrade
            .as_ref()
            .is_some_and(|u| u.security.is_none() && u.handshake.is_none() && u.stage.is_empty())
        {
            self.upgrade = None;
        }
    }

    fn handshake_finished(&self) -> bool {
        self.upgrade
            .as_ref()
            .and_then(|u| u.handshake.as_ref())
            .is_some_and(|hs| hs.is_finished())
    }

    fn security_agreed(&self) -> bool {
        match self.security() {
            None => true,
            Some(ms) => matches!(
                ms.outcome(),
                Some(crate::multistream::Outcome::Agreed { .. })
            ),
        }
    }

    fn finish_handshake(&mut self) -> Result<(), ConnectionError> {
        let hs = self
            .upgrade
            .as_mut()
            .and_then(|u| u.handshake.take())
            .expect("called with a finished handshake");
        self.end_upgrade_if_done();
        let (transport, info) = hs.into_established().map_err(ConnectionError::Handshake)?;
        let key = S::key_bytes(&info.public_key.to_protobuf());
        self.remote = Some((info.peer_id, key));
        let early = info.muxer.as_deref() == Some(YAMUX_PROTOCOL);
        let muxer = (!early).then(|| match self.config.role {
            Role::Dialer => Negotiator::dialer(&[YAMUX_PROTOCOL], self.config.lazy_negotiation),
            Role::Listener => Negotiator::listener(),
        });
        // In place: the session and the streams were emptied by `new` or `reset`.
        let secured = &mut self.secured.value;
        secured.transport = Some(transport);
        secured.muxer = muxer;
        secured.start_yamux_if_agreed(&self.config);
        let established = secured.yamux.is_some();
        self.secured.active = true;
        if established {
            self.on_established(early);
        }
        Ok(())
    }

    fn on_established(&mut self, early_muxer: bool) {
        self.deadline = None;
        let _ = self
            .events
            .push_back(ConnectionEvent::Established { early_muxer });
    }

    fn fail(&mut self, e: ConnectionError) {
        if self.error.is_none() && !self.closed {
            self.error = Some(e);
            self.closed = true;
            self.deadline = None;
            let _ = self.events.push_back(ConnectionEvent::Closed);
        }
    }

    /// Moves stream data between yamux and the handlers, and collects their events.
    fn drive(&mut self, now: Instant) {
        // A muxer agreed through multistream-select (not in the handshake) starts yamux here.
        let started = self.secured.as_mut().is_some_and(|s| {
            s.yamux.is_none() && {
                s.start_yamux_if_agreed(&self.config);
                s.yamux.is_some()
            }
        });
        if started {
            self.on_established(false);
        }
        let Some(secured) = self.secured.as_mut() else {
            return;
        };
        let Some(yamux) = secured.yamux.as_mut() else {
            return;
        };
        let negotiation_timeout = self.config.stream_negotiation_timeout;
        let protocols = Self::protocol_list(&self.config);
        let mut ctx = streams::Ctx {
            now,
            yamux,
            protocols: &protocols,
            config: &self.config,
            negotiation_timeout,
        };
        let result = secured.streams.drive(&mut ctx);
        if let Err(e) = result {
            self.fail(ConnectionError::Yamux(e));
        } else if secured.yamux.as_ref().is_some_and(|y| y.is_finished()) && !self.closed {
            self.closed = true;
            let _ = self.events.push_back(ConnectionEvent::Closed);
        }
    }

    // ----- application calls -----

    fn established(&mut self) -> Result<&mut Secured<P, S>, ConnectionCallError> {
        established(self.closed, &mut self.secured)
    }

    /// Opens a stream for the application protocol `protocol`. With lazy negotiation the
    /// stream can be written at once; a refusal comes as [`ConnectionEvent::StreamRefused`].
    pub fn open_stream(
        &mut self,
        now: Instant,
        protocol: &'static str,
    ) -> Result<StreamId, ConnectionCallError> {
        crate::multistream::validate_protocol_id(
            protocol,
            crate::multistream::DEFAULT_MAX_MESSAGE_LEN,
        )
        .map_err(|_| ConnectionCallError::InvalidProtocol)?;
        self.open(now, protocol, StreamKind::App)
    }

    /// Opens a ping stream and sends one ping; the answer comes as
    /// [`ConnectionEvent::PingRtt`]. With `config.ping.interval` set, it keeps pinging.
    pub fn ping(&mut self, now: Instant) -> Result<StreamId, ConnectionCallError> {
        self.open(now, crate::ping::PROTOCOL_ID, StreamKind::Ping)
    }

    /// Opens a perf stream and runs `params`.
    pub fn perf(
        &mut self,
        now: Instant,
        params: PerfParams,
    ) -> Result<StreamId, ConnectionCallError> {
        self.open(now, crate::perf::PROTOCOL_ID, StreamKind::Perf(params))
    }

    /// Asks the peer who it is; the answer comes as [`ConnectionEvent::Identified`].
    pub fn request_identify(&mut self, now: Instant) -> Result<StreamId, ConnectionCallError> {
        self.open(
            now,
            crate::identify::PROTOCOL_ID,
            StreamKind::IdentifyRequest,
        )
    }

    fn open(
        &mut self,
        now: Instant,
        protocol: &'static str,
        kind: StreamKind,
    ) -> Result<StreamId, ConnectionCallError> {
        let lazy = self.config.lazy_negotiation;
        let seed = self.next_seed();
        let secured = established(self.closed, &mut self.secured)?;
        let yamux = secured.yamux.as_mut().expect("established");
        let id = secured
            .streams
            .open(now, yamux, protocol, kind, lazy, &self.config, seed)?;
        self.drive(now);
        Ok(id)
    }

    fn next_seed(&mut self) -> [u8; 32] {
        self.counter += 1;
        crate::crypto::sha256::<P>(&[&self.seed, &self.counter.to_le_bytes()])
    }

    /// Answers the peer's identify request on `stream` with `message`.
    pub fn respond_identify(
        &mut self,
        now: Instant,
        stream: StreamId,
        message: &IdentifyBuilder<'_>,
    ) -> Result<(), ConnectionCallError> {
        let secured = self.established()?;
        secured.streams.respond_identify(now, stream, message)?;
        self.drive(now);
        Ok(())
    }

    /// Reads from an application stream; `Ok(0)` at its end (after `StreamFinished`).
    pub fn stream_read(
        &mut self,
        now: Instant,
        stream: StreamId,
        out: &mut [u8],
    ) -> Result<usize, ConnectionCallError> {
        let secured = self.established()?;
        let yamux = secured.yamux.as_mut().expect("established");
        let n = secured.streams.app_read(yamux, stream, out)?;
        // Room in the stream may let the frame held back by backpressure through; a failure
        // is reported by `error()` and the `Closed` event.
        let _ = self.pump(now);
        Ok(n)
    }

    /// Reads from an application stream in place: `read` gets the first buffered bytes that
    /// lie in one piece and returns how many it took. Returns that count (0: nothing buffered,
    /// or the end of the stream once `StreamFinished` was seen). Saves the copy into an
    /// intermediate buffer that [`stream_read`](Self::stream_read) needs.
    pub fn stream_read_with(
        &mut self,
        now: Instant,
        stream: StreamId,
        read: impl FnOnce(&[u8]) -> usize,
    ) -> Result<usize, ConnectionCallError> {
        let secured = self.established()?;
        let yamux = secured.yamux.as_mut().expect("established");
        let n = secured.streams.app_read_with(yamux, stream, read)?;
        let _ = self.pump(now);
        Ok(n)
    }

    /// Writes to an application stream; returns how many bytes were taken (fewer when its
    /// send buffer or window is full: wait for `StreamWritable`).
    pub fn stream_write(
        &mut self,
        now: Instant,
        stream: StreamId,
        data: &[u8],
    ) -> Result<usize, ConnectionCallError> {
        let secured = self.established()?;
        let yamux = secured.yamux.as_mut().expect("established");
        let n = secured.streams.app_write(yamux, stream, data)?;
        self.drive(now);
        Ok(n)
    }

    /// Closes this side's half of an application stream (after its buffered bytes).
    pub fn stream_close(
        &mut self,
        now: Instant,
        stream: StreamId,
    ) -> Result<(), ConnectionCallError> {
        let secured = self.established()?;
        let yamux = secured.yamux.as_mut().expect("established");
        secured.streams.app_close(yamux, stream)?;
        self.drive(now);
        Ok(())
    }

    /// Resets a stream: both halves end at once, buffered bytes are dropped.
    pub fn stream_reset(
        &mut self,
        now: Instant,
        stream: StreamId,
    ) -> Result<(), ConnectionCallError> {
        let secured = self.established()?;
        let yamux = secured.yamux.as_mut().expect("established");
        secured.streams.reset(yamux, stream)?;
        self.drive(now);
        Ok(())
    }

    /// Ends the connection cleanly: a yamux go-away, then the socket can be closed once
    /// `poll_transmit` has nothing more.
    pub fn close(&mut self) {
        if let Some(yamux) = self.secured.as_mut().and_then(|s| s.yamux.as_mut()) {
            yamux.go_away();
        }
        if !self.closed {
            self.closed = true;
            let _ = self.events.push_back(ConnectionEvent::Closed);
        }
    }

    // ----- output -----

    /// Writes bytes for the socket into `out`. `out` should hold at least a few hundred bytes;
    /// 65553 or more lets a full Noise frame out in one call.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> Option<usize> {
        if self.error.is_some() && !matches!(self.error, Some(ConnectionError::Yamux(_))) {
            return None;
        }
        let mut written = 0;
        if self.upgrade.is_some() {
            self.stage_upgrade_output();
            if let Some(u) = self.upgrade.as_mut() {
                written = u.stage.flush(out);
                if !u.stage.is_empty() {
                    return Some(written);
                }
            }
            self.end_upgrade_if_done();
        }
        if self.handshake_finished() {
            // The dialer finishes by writing message 3: its streams can start now.
            if let Err(e) = self.finish_handshake() {
                self.fail(e);
                return (written > 0).then_some(written);
            }
            self.drive(now);
        }
        if self.secured.is_some() {
            // Sending frees room in the streams' send rings: let the handlers fill it.
            self.drive(now);
        }
        if let Some(secured) = self.secured.as_mut() {
            written += secured.write_frames(now, &mut out[written..]);
        }
        (written > 0).then_some(written)
    }

    /// Moves what multistream-select and the handshake have to send into the staging buffer,
    /// so that any size of `out` can carry it.
    fn stage_upgrade_output(&mut self) {
        let agreed = self.security_agreed();
        let Some(u) = self.upgrade.as_deref_mut() else {
            return;
        };
        if let Some(ms) = u.security.as_mut() {
            if let Ok(Some(n)) = ms.poll_transmit(u.stage.free_mut(), &[NOISE_PROTOCOL]) {
                u.stage.commit(n);
            }
            if ms.is_finished() {
                u.security = None;
            }
        }
        if agreed && let Some(hs) = u.handshake.as_mut() {
            let stage_was_empty = u.stage.is_empty();
            match hs.poll_transmit(u.stage.free_mut()) {
                Ok(Some(n)) => u.stage.commit(n),
                Ok(None) => {}
                // Wait for the stage to drain; an empty stage holds any message of an
                // identity this crate can sign with.
                Err(NoiseHandshakeError::BufferTooSmall { .. }) if !stage_was_empty => {}
                Err(e) => self.fail(ConnectionError::Handshake(e)),
            }
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ConnectionEvent> {
        // Connection-level events first (`Established` precedes every stream event), and
        // `Closed` only after the streams' last events.
        if let Some(e) = self.events.front().copied()
            && e != ConnectionEvent::Closed
        {
            return self.events.pop_front();
        }
        if let Some(e) = self.secured.as_mut().and_then(|s| s.streams.poll_event()) {
            return Some(e);
        }
        self.events.pop_front()
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = min_opt(self.deadline, self.rx.poll_timeout());
        if let Some(secured) = self.secured.as_ref() {
            if let Some(yamux) = secured.yamux.as_ref() {
                t = min_opt(t, yamux.poll_timeout());
            }
            t = min_opt(t, secured.streams.poll_timeout());
        }
        if self.error.is_some() { None } else { t }
    }
}

fn established<P: CryptoProvider, S: ConnectionStorage>(
    closed: bool,
    secured: &mut Kept<Secured<P, S>>,
) -> Result<&mut Secured<P, S>, ConnectionCallError> {
    if closed {
        return Err(ConnectionCallError::Closed);
    }
    match secured.as_mut() {
        Some(s) if s.yamux.is_some() => Ok(s),
        _ => Err(ConnectionCallError::NotEstablished),
    }
}

/// Bytes of the upgrade (negotiation and handshake messages) on their way out.
#[derive(Debug)]
struct Stage {
    buf: [u8; STAGE_LEN],
    start: usize,
    end: usize,
}

/// The staging buffer's size: multistream messages and a handshake message with an identity
/// of up to an RSA-4096 key (about 1.2 kB) fit.
#[cfg(feature = "alloc")]
const STAGE_LEN: usize = 2048;
/// Without an allocator there is no RSA signer: an Ed25519, secp256k1 or ECDSA identity's
/// handshake message (at most about 400 bytes) and the multistream messages fit. A larger one
/// fails the handshake (`BufferTooSmall`) rather than costing every connection 2 KiB.
#[cfg(not(feature = "alloc"))]
const STAGE_LEN: usize = 640;

impl Default for Stage {
    fn default() -> Self {
        Stage {
            buf: [0; STAGE_LEN],
            start: 0,
            end: 0,
        }
    }
}

impl Stage {
    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The free space after what is staged.
    fn free_mut(&mut self) -> &mut [u8] {
        if self.is_empty() {
            self.start = 0;
            self.end = 0;
        }
        &mut self.buf[self.end..]
    }

    /// Keeps `n` bytes just written into `free_mut`.
    fn commit(&mut self, n: usize) {
        self.end += n;
    }

    /// Moves staged bytes into `out`; returns how many.
    fn flush(&mut self, out: &mut [u8]) -> usize {
        let n = (self.end - self.start).min(out.len());
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        n
    }
}

/// The built-in protocols `config` serves.
fn builtin_protocols(config: &ConnectionConfig) -> impl Iterator<Item = &'static str> {
    [
        (config.serve_ping, crate::ping::PROTOCOL_ID),
        (config.serve_identify, crate::identify::PROTOCOL_ID),
        (config.serve_identify, crate::identify::PUSH_PROTOCOL_ID),
        (config.serve_perf, crate::perf::PROTOCOL_ID),
    ]
    .into_iter()
    .filter_map(|(on, id)| on.then_some(id))
}

fn min_opt(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

impl<P: CryptoProvider, S: ConnectionStorage> Secured<P, S> {
    fn start_yamux_if_agreed(&mut self, config: &ConnectionConfig) {
        if self.yamux.is_some() {
            return;
        }
        let agreed = match &self.muxer {
            None => true,
            Some(ms) => matches!(
                ms.outcome(),
                Some(crate::multistream::Outcome::Agreed { .. })
            ),
        };
        if agreed {
            let role = match config.role {
                Role::Dialer => yamux::Role::Dialer,
                Role::Listener => yamux::Role::Listener,
            };
            self.yamux.value.restart(role, config.yamux);
            self.yamux.active = true;
        }
    }

    /// Opens received frames and feeds their plaintext on; returns whether anything moved.
    fn read_frames(
        &mut self,
        now: Instant,
        rx: &mut FrameBuffer<S::Rx>,
    ) -> Result<bool, ConnectionError> {
        let mut progressed = false;
        loop {
            if !rx.has_plaintext() {
                match rx
                    .open_frame(now, self.transport.as_mut().expect("secured"))
                    .map_err(ConnectionError::Noise)?
                {
                    true => progressed = true,
                    false => return Ok(progressed),
                }
            }
            // The muxer negotiation reads first; what follows it is yamux.
            if let Some(ms) = self.muxer.as_mut().filter(|ms| ms.wants_input()) {
                let used = ms
                    .handle_input(rx.plaintext(), &[YAMUX_PROTOCOL])
                    .map_err(ConnectionError::Negotiation)?;
                rx.consume_plaintext(used);
                progressed |= used > 0;
                if ms.outcome() == Some(crate::multistream::Outcome::Refused) {
                    return Err(ConnectionError::MuxerRefused);
                }
                if ms.wants_input() {
                    if used == 0 {
                        return Ok(progressed);
                    }
                    continue;
                }
            }
            let Some(yamux) = self.yamux.as_mut() else {
                return Ok(progressed);
            };
            if !rx.has_plaintext() {
                continue;
            }
            // Perf handlers take their data straight from the opened frame.
            let streams = &mut self.streams;
            let used = yamux
                .handle_input_with(now, rx.plaintext(), &mut |id, data| {
                    streams.offer_direct(now, id, data)
                })
                .map_err(ConnectionError::Yamux)?;
            rx.consume_plaintext(used);
            progressed |= used > 0;
            if used == 0 {
                // Backpressure: a stream's ring is full; wait for the application to read.
                return Ok(progressed);
            }
        }
    }

    /// Writes sealed frames (muxer negotiation, then yamux) into `out`; returns the bytes.
    fn write_frames(&mut self, now: Instant, out: &mut [u8]) -> usize {
        const OVERHEAD: usize = 2 + crate::crypto::TAG_LEN;
        let mut written = 0;
        loop {
            let room = out.len() - written;
            if room <= OVERHEAD {
                return written;
            }
            let frame = &mut out[written..];
            let max_plain = (room - OVERHEAD).min(MAX_PLAINTEXT_LEN);
            let body = &mut frame[2..2 + max_plain];
            let mut n = 0;
            let mut muxer_pending = false;
            if let Some(ms) = self.muxer.as_mut() {
                if let Ok(Some(m)) = ms.poll_transmit(body, &[YAMUX_PROTOCOL]) {
                    n += m;
                }
                muxer_pending = ms.has_output();
                if ms.is_finished() {
                    self.muxer = None;
                }
            }
            // yamux bytes never overtake the muxer negotiation.
            if let Some(yamux) = self.yamux.as_mut().filter(|_| !muxer_pending) {
                while n < max_plain {
                    match yamux.poll_transmit(now, &mut body[n..]) {
                        Some(m) => n += m,
                        None => break,
                    }
                }
            }
            if n == 0 {
                return written;
            }
            let transport = self.transport.as_mut().expect("secured");
            match transport.seal_in_place(frame, n) {
                Ok(len) => written += len,
                // Only nonce exhaustion (2^64 frames) can fail here; stop sending.
                Err(_) => return written,
            }
        }
    }
}
