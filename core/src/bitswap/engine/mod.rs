//! [`BitswapEngine`]: Bitswap for a whole node, sans-IO. It serves blocks from the caller's
//! [`BlockStore`] to every peer (a per-peer ledger of what each one wants) and fetches the
//! blocks the application wants from the connected peers.
//!
//! # Call order
//! ```text
//! a Bitswap stream negotiated with a peer   -> engine.peer_connected(peer, version)
//! a whole frame read from that stream       -> engine.handle_message(now, peer, payload, &mut store)
//!   (frames: wire::frame::decode(buf, engine.config().max_message_len); a frame error
//!    -> engine.handle_frame_error(peer, err))
//! the peer's streams closed                 -> engine.peer_disconnected(peer)
//! the application wants a block             -> engine.fetch(now, cid) / engine.cancel(cid)
//! the deadline from poll_timeout passed     -> engine.handle_timeout(now)
//! after any of these, drain:
//!   while let Some(t) = engine.poll_transmit(now, &store, &mut buf) { send buf[..t.len] to t.peer }
//!   while let Some(e) = engine.poll_event() { ... }   // PeerMisbehaved: close that peer's streams
//!   engine.poll_timeout()                               // the next deadline
//! ```
//! Every message written by `poll_transmit` is one complete frame (length prefix included),
//! to be written on a Bitswap stream to that peer (rhizo keeps one outbound stream per peer;
//! a peer may answer on any stream).
//!
//! # Fetching
//! A wanted CID is asked of every connected 1.2.0 peer with want-have (send-dont-have set);
//! the peers that answer HAVE are candidates, and one at a time the best of them gets the
//! want-block: the one with the lowest `latency × (outstanding want-blocks + 1)`, so wants spread
//! over several providers and the fast ones get more. A peer that has already delivered blocks
//! gets the want-block at once, alongside the want-haves. A DONT_HAVE, a timeout or a
//! disconnect moves the want on to the next candidate. 1.0.0 and 1.1.0 peers (no presences)
//! are asked want-block one at a time when no 1.2.0 peer has the block.
//!
//! A received block is accepted only through [`Block::verify`](crate::block::Block::verify)
//! against the wanted CID, then put into the store. A block that hashes to nothing wanted, is
//! not already stored, and comes from a peer that owes us a block is corrupt: the peer is cut
//! off ([`Event::PeerMisbehaved`]) and its wants move elsewhere.
//!
//! # Serving
//! Each peer's wantlist is kept in a ledger bounded by [`Config::max_wantlist_entries`]; a peer
//! that goes past it, sends a message over [`Config::max_message_len`] or sends a malformed one
//! is cut off. want-block is answered with the block, want-have with HAVE, a missing block with
//! DONT_HAVE when asked; a wanted block that arrives later is sent then.
//!
//! # Q&A
//! *Why an opaque [`PeerKey`] and not a PeerId?* The engine never needs the identity: the
//! driver already maps connections to PeerIds, and a `u32` chosen by the caller (a connection
//! index) costs four bytes in every table where a PeerId would cost 40, which matters on a
//! microcontroller. A peer with two connections can use one key for both.
//!
//! *Why do the const generics not matter with `alloc`?* Without `alloc` the tables are inline
//! (`PEERS` peers, `WANTS` wants, `ENTRIES` ledger entries per peer); with `alloc` they are heap
//! vectors bounded by [`Config`] alone, so a server's engine does not sit on the stack.

mod ledger;
mod session;
mod table;
#[cfg(test)]
mod tests;

use crate::block::BlockStore;
use crate::cid::Cid;
use crate::time::{Duration, Instant};
use crate::wire::frame::FrameError;
use crate::wire::varint;

use super::ProtocolVersion;
use super::message::{DEFAULT_MAX_MESSAGE_LEN, Message, MessageError, MessageWriter};
use ledger::Ledger;
use session::{RecentWants, Want};
use table::Table;

/// A peer as the caller names it: any `u32` that is stable while the peer is connected (a
/// connection index, a slot number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerKey(pub u32);

/// Limits and timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The longest message accepted from a peer, and the longest sent (boxo: 4 MiB).
    pub max_message_len: usize,
    /// Peers at once.
    pub max_peers: usize,
    /// Blocks wanted at once.
    pub max_wants: usize,
    /// Entries a peer's wantlist may hold; one more and the peer is cut off.
    pub max_wantlist_entries: usize,
    /// want-blocks in flight to one peer.
    pub max_outstanding_blocks_per_peer: usize,
    /// How long a want-have may go unanswered before the peer counts as not having the block.
    pub have_timeout: Duration,
    /// How long a want-block may go unanswered before it is asked elsewhere.
    pub block_timeout: Duration,
    /// How long a fetch may take in all before it fails.
    pub fetch_timeout: Duration,
    /// The latency assumed for a peer that has not answered yet.
    pub initial_latency: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_message_len: DEFAULT_MAX_MESSAGE_LEN,
            max_peers: 256,
            max_wants: 1024,
            max_wantlist_entries: 1024,
            max_outstanding_blocks_per_peer: 32,
            have_timeout: Duration::from_secs(5),
            block_timeout: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(60),
            initial_latency: Duration::from_millis(100),
        }
    }
}

/// Why a peer was cut off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misbehaviour {
    /// A message longer than [`Config::max_message_len`].
    Oversized,
    /// A message or frame that does not decode.
    Malformed(MessageError),
    /// A broken length prefix.
    BadFrame,
    /// More wantlist entries than [`Config::max_wantlist_entries`].
    WantlistOverflow,
    /// A block that hashes to nothing we asked it for.
    CorruptBlock,
}

impl core::fmt::Display for Misbehaviour {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Misbehaviour::Oversized => f.write_str("sent an oversized message"),
            Misbehaviour::Malformed(e) => write!(f, "sent a malformed message: {e}"),
            Misbehaviour::BadFrame => f.write_str("sent a malformed length prefix"),
            Misbehaviour::WantlistOverflow => f.write_str("flooded its wantlist"),
            Misbehaviour::CorruptBlock => f.write_str("sent a corrupt block"),
        }
    }
}

/// Why a fetch failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchFailure {
    /// [`Config::fetch_timeout`] passed.
    Timeout,
    /// The store refused the block.
    Store,
}

/// What the engine tells the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A wanted block arrived, was verified and is in the store.
    BlockReceived {
        /// The block.
        cid: Cid,
        /// Who sent it.
        peer: PeerKey,
    },
    /// A wanted block could not be fetched.
    FetchFailed {
        /// The block.
        cid: Cid,
        /// Why.
        reason: FetchFailure,
    },
    /// A peer broke the protocol and was dropped: close its Bitswap streams (or connection).
    PeerMisbehaved {
        /// The peer.
        peer: PeerKey,
        /// What it did.
        reason: Misbehaviour,
    },
}

/// Why [`BitswapEngine::peer_connected`] refused a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// [`Config::max_peers`] reached.
    TooManyPeers,
    /// The key is already in use.
    AlreadyConnected,
}

impl core::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConnectError::TooManyPeers => f.write_str("bitswap: too many peers"),
            ConnectError::AlreadyConnected => f.write_str("bitswap: peer key already in use"),
        }
    }
}

impl core::error::Error for ConnectError {}

/// Why [`BitswapEngine::fetch`] refused a want.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchError {
    /// [`Config::max_wants`] reached.
    TooManyWants,
    /// The CID's hash is one a received block could not be verified against (a function
    /// rhizo cannot compute, or a truncated sha2-256 digest).
    Unverifiable,
}

impl core::fmt::Display for FetchError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FetchError::TooManyWants => f.write_str("bitswap: too many blocks wanted at once"),
            FetchError::Unverifiable => {
                f.write_str("bitswap: a block with this CID's hash could not be verified")
            }
        }
    }
}

impl core::error::Error for FetchError {}

/// Why [`BitswapEngine::handle_message`] refused a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandleError {
    /// The peer is not connected.
    UnknownPeer,
    /// The peer has been cut off (an [`Event::PeerMisbehaved`] says why).
    CutOff(Misbehaviour),
}

impl core::fmt::Display for HandleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HandleError::UnknownPeer => f.write_str("bitswap: message from an unknown peer"),
            HandleError::CutOff(m) => write!(f, "bitswap: peer cut off: it {m}"),
        }
    }
}

impl core::error::Error for HandleError {}

/// A message written by [`BitswapEngine::poll_transmit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Who to send it to.
    pub peer: PeerKey,
    /// The frame's length at the front of the caller's buffer (length prefix included).
    pub len: usize,
}

/// One peer's state.
#[derive(Debug)]
pub(crate) struct Peer<const ENTRIES: usize> {
    key: PeerKey,
    version: ProtocolVersion,
    /// Smoothed response time, microseconds.
    latency_us: u64,
    /// want-blocks pending or in flight, recounted by each planning pass.
    outstanding: usize,
    /// Blocks it has delivered: a proven provider.
    delivered: u32,
    cut_off: Option<Misbehaviour>,
    ledger: Ledger<ENTRIES>,
}

impl<const ENTRIES: usize> Peer<ENTRIES> {
    fn active(&self) -> bool {
        self.cut_off.is_none()
    }

    fn sample_latency(&mut self, sample: Duration) {
        let sample = u64::try_from(sample.as_micros()).unwrap_or(u64::MAX);
        self.latency_us = (self.latency_us.saturating_mul(7) / 8).saturating_add(sample / 8);
    }
}

/// Bitswap for a whole node: see the [module documentation](self) for the call order.
///
/// `PEERS`, `WANTS` and `ENTRIES` are the inline capacities used without `alloc` (peers, wanted
/// blocks, wantlist entries per peer); with `alloc` they are ignored and [`Config`] alone bounds
/// the tables.
#[derive(Debug)]
pub struct BitswapEngine<const PEERS: usize, const WANTS: usize, const ENTRIES: usize> {
    config: Config,
    peers: Table<Peer<ENTRIES>, PEERS>,
    wants: Table<Want<PEERS>, WANTS>,
    /// Where the next `poll_transmit` starts looking, for fairness between peers.
    next_peer: usize,
    /// Wants or peers changed since the last planning pass.
    dirty: bool,
    /// Wants that ended lately.
    recent: RecentWants,
}

/// An engine whose tables live on the heap, bounded by [`Config`] alone.
#[cfg(feature = "alloc")]
pub type HeapBitswapEngine = BitswapEngine<0, 0, 0>;

impl<const PEERS: usize, const WANTS: usize, const ENTRIES: usize>
    BitswapEngine<PEERS, WANTS, ENTRIES>
{
    /// An engine with no peers and no wants.
    pub fn new(config: Config) -> Self {
        BitswapEngine {
            config,
            peers: Table::new(),
            wants: Table::new(),
            next_peer: 0,
            dirty: false,
            recent: RecentWants::new(),
        }
    }

    // ---- getters ----

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The output buffer [`poll_transmit`](Self::poll_transmit) needs to send any message,
    /// the largest block included: a frame of [`Config::max_message_len`].
    pub fn transmit_buffer_len(&self) -> usize {
        crate::wire::frame::encoded_len(self.config.max_message_len)
    }

    /// Peers known (connected, or cut off with the event not yet polled).
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Wants held (active, or finished with cancels or an event still to deliver).
    pub fn want_count(&self) -> usize {
        self.wants.len()
    }

    /// Whether `cid` is wanted and not yet received.
    pub fn is_wanted(&self, cid: &Cid) -> bool {
        self.wants.iter().any(|w| w.is_active() && w.cid() == cid)
    }

    /// Entries in `peer`'s wantlist, as the ledger holds them.
    pub fn ledger_len(&self, peer: PeerKey) -> Option<usize> {
        self.peer(peer).map(|p| p.ledger.len())
    }

    fn peer(&self, key: PeerKey) -> Option<&Peer<ENTRIES>> {
        self.peers.iter().find(|p| p.key == key)
    }

    fn peer_index(&self, key: PeerKey) -> Option<usize> {
        self.peers.iter().position(|p| p.key == key)
    }

    // ---- inputs ----

    /// A Bitswap stream of `version` is open with `peer`: it can now be asked for blocks.
    pub fn peer_connected(
        &mut self,
        peer: PeerKey,
        version: ProtocolVersion,
    ) -> Result<(), ConnectError> {
        if self.peer(peer).is_some() {
            return Err(ConnectError::AlreadyConnected);
        }
        let entry = Peer {
            key: peer,
            version,
            latency_us: u64::try_from(self.config.initial_latency.as_micros()).unwrap_or(u64::MAX),
            outstanding: 0,
            delivered: 0,
            cut_off: None,
            ledger: Ledger::new(),
        };
        self.peers
            .try_push(entry, self.config.max_peers)
            .map_err(|_| ConnectError::TooManyPeers)?;
        self.dirty = true;
        Ok(())
    }

    /// The peer is gone: its wantlist is dropped and what it was asked is asked elsewhere.
    /// A cut-off peer whose event is not yet polled stays until then.
    pub fn peer_disconnected(&mut self, peer: PeerKey) {
        for want in self.wants.iter_mut() {
            want.forget_peer(peer);
        }
        if let Some(i) = self.peer_index(peer)
            && self.peers[i].active()
        {
            self.peers.remove(i);
        }
        self.dirty = true;
    }

    /// A frame from `peer` could not be read (too long, or a broken length prefix): cuts it
    /// off.
    pub fn handle_frame_error(&mut self, peer: PeerKey, error: FrameError) {
        let reason = match error {
            FrameError::TooLong { .. } => Misbehaviour::Oversized,
            FrameError::Length(_) => Misbehaviour::BadFrame,
        };
        self.cut_off(peer, reason);
    }

    /// One message (a frame's payload) from `peer`. Received blocks that were wanted are
    /// verified and put into `store`. A malformed or oversized message, a wantlist flood or a
    /// corrupt block cuts the peer off and returns [`HandleError::CutOff`].
    pub fn handle_message<S: BlockStore>(
        &mut self,
        now: Instant,
        peer: PeerKey,
        bytes: &[u8],
        store: &mut S,
    ) -> Result<(), HandleError> {
        let index = self.peer_index(peer).ok_or(HandleError::UnknownPeer)?;
        if let Some(reason) = self.peers[index].cut_off {
            return Err(HandleError::CutOff(reason));
        }
        let verdict = if bytes.len() > self.config.max_message_len {
            Err(Misbehaviour::Oversized)
        } else {
            match Message::decode(bytes) {
                Err(e) => Err(Misbehaviour::Malformed(e)),
                Ok(message) => {
                    let limit = self.config.max_wantlist_entries;
                    let p = &mut self.peers[index];
                    p.ledger
                        .apply(&message, p.version, limit)
                        .and_then(|()| self.receive(now, index, &message, store))
                }
            }
        };
        self.dirty = true;
        verdict.map_err(|reason| {
            self.cut_off(peer, reason);
            HandleError::CutOff(reason)
        })
    }

    /// Time passed: timed-out asks move elsewhere, timed-out fetches fail.
    pub fn handle_timeout(&mut self, now: Instant) {
        let config = self.config;
        for want in self.wants.iter_mut() {
            want.handle_timeout(now, &config, &mut self.peers);
        }
        self.dirty = true;
    }

    // ---- application calls ----

    /// Wants the block `cid` from the connected peers (and those that connect later), until
    /// it arrives ([`Event::BlockReceived`]), [`Config::fetch_timeout`] passes
    /// ([`Event::FetchFailed`]) or [`cancel`](Self::cancel). Wanting a CID already wanted does
    /// nothing. Check the store first: the engine does not.
    pub fn fetch(&mut self, now: Instant, cid: Cid) -> Result<(), FetchError> {
        if self.is_wanted(&cid) {
            return Ok(());
        }
        let hash = cid.hash();
        let verifiable = match hash.code() {
            crate::multihash::code::SHA2_256 => hash.digest().len() == 32,
            crate::multihash::code::IDENTITY => true,
            _ => false,
        };
        if !verifiable {
            return Err(FetchError::Unverifiable);
        }
        self.wants
            .try_push(Want::new(cid, now), self.config.max_wants)
            .map_err(|_| FetchError::TooManyWants)?;
        self.dirty = true;
        Ok(())
    }

    /// Stops wanting `cid`; the peers asked are sent cancels. No event follows.
    pub fn cancel(&mut self, cid: &Cid) {
        for want in self
            .wants
            .iter_mut()
            .filter(|w| w.is_active() && w.cid() == cid)
        {
            want.cancel();
        }
        self.dirty = true;
    }

    fn cut_off(&mut self, peer: PeerKey, reason: Misbehaviour) {
        let Some(i) = self.peer_index(peer) else {
            return;
        };
        let p = &mut self.peers[i];
        if p.cut_off.is_none() {
            p.cut_off = Some(reason);
        }
        p.ledger.clear();
        for want in self.wants.iter_mut() {
            want.forget_peer(peer);
        }
        self.dirty = true;
    }

    // ---- outputs ----

    /// Writes the next message for some peer into `out` as one length-prefixed frame:
    /// wantlist changes (want-have, want-block, cancel) and answers to its wantlist (blocks read
    /// from `store`, HAVE, DONT_HAVE). `None`: nothing to send. `out` should hold the largest
    /// block plus some 100 bytes (a block that cannot fit even alone is answered as missing).
    pub fn poll_transmit<S: BlockStore>(
        &mut self,
        now: Instant,
        store: &S,
        out: &mut [u8],
    ) -> Option<Transmit> {
        if self.dirty {
            self.plan();
        }
        let count = self.peers.len();
        let max_body = out.len().min(self.config.max_message_len);
        let reserve = varint::encoded_len(max_body as u64);
        if out.len() <= reserve {
            return None;
        }
        let body_end = (reserve + max_body).min(out.len());
        for step in 0..count {
            let index = (self.next_peer + step) % count;
            if !self.peers[index].active() {
                continue;
            }
            let mut writer = MessageWriter::new(&mut out[reserve..body_end]);
            session::write_wants(&mut self.wants, &self.peers[index], now, &mut writer);
            let p = &mut self.peers[index];
            p.ledger.write_answers(p.version, store, &mut writer);
            let len = writer.len();
            if len == 0 {
                continue;
            }
            self.next_peer = index + 1;
            self.gc_wants();
            let prefix = varint::Varint::new(len as u64).expect("a message length fits a varint");
            let start = reserve - prefix.len();
            out[start..reserve].copy_from_slice(&prefix);
            out.copy_within(start..reserve + len, 0);
            return Some(Transmit {
                peer: self.peers[index].key,
                len: prefix.len() + len,
            });
        }
        None
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(i) = self.peers.iter().position(|p| !p.active()) {
            let p = self.peers.remove(i);
            self.dirty = true;
            return Some(Event::PeerMisbehaved {
                peer: p.key,
                reason: p.cut_off.expect("an inactive peer has a reason"),
            });
        }
        let event = self.wants.iter_mut().find_map(Want::take_event);
        self.gc_wants();
        event
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.wants
            .iter()
            .filter_map(|w| w.next_deadline(&self.config))
            .min()
    }

    fn gc_wants(&mut self) {
        let recent = &mut self.recent;
        self.wants.retain(|w| {
            if w.is_finished() {
                recent.remember(w);
            }
            !w.is_finished()
        });
    }

    /// Decides, for each active want, who is asked what next.
    fn plan(&mut self) {
        self.dirty = false;
        for p in self.peers.iter_mut() {
            p.outstanding = 0;
        }
        for want in self.wants.iter() {
            want.count_outstanding(&mut self.peers);
        }
        let config = self.config;
        for want in self.wants.iter_mut() {
            want.plan(&config, &mut self.peers);
        }
    }
}
