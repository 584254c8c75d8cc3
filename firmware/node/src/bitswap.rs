//! Bitswap on the node: one [`BitswapEngine`] for the whole node, shared by the connection
//! tasks, over a [`BlockStore`] of the file built into the image (flash) plus one RAM slot for
//! a fetched block.
//!
//! Each connection's [`PeerLink`] (in its event handler) moves Bitswap frames between its
//! streams and the engine:
//! - inbound: every `/ipfs/bitswap/*` stream the peer opens is read into the node's one
//!   receive buffer ([`Inbox`]); whole frames go to `handle_message`;
//! - outbound: `poll_transmit` writes one message at a time into the node's one send buffer
//!   ([`Outbox`]); the connection of the peer it is for writes it on its outbound Bitswap stream
//!   (opened lazily, with the version the peer used, or 1.2.0), across as many `poll`s as the
//!   stream's window takes.
//!
//! # Q&A
//! *Why one receive and one send buffer for the node, not one per connection?* RAM: a
//! connection's budget is spent on its Noise frame buffer. The price: while one connection holds
//! a half-read frame or an unsent message, the others wait (their bytes stay in their yamux
//! rings, so their peers' windows close). Messages are small (at most [`MAX_MESSAGE`] bytes), so
//! the wait is one message's transfer.
//!
//! *What does it cost?* See [`size_report`] (logged at boot): the engine with inline tables
//! for [`PEERS`] peers, [`WANTS`] wants and [`ENTRIES`] wantlist entries each, two buffers of a
//! frame of [`MAX_MESSAGE`] bytes, and the [`SLOT_LEN`]-byte RAM slot.

use core::cell::RefCell;
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::signal::Signal;
use rhizo_core::bitswap::engine::{Event, FetchFailure};
use rhizo_core::bitswap::{BitswapEngine, Config, PROTOCOL_IDS, PeerKey, ProtocolVersion};
use rhizo_core::block::{Block, BlockStore};
use rhizo_core::cid::Cid;
use rhizo_core::connection::{Connection, ConnectionEvent, ConnectionStorage};
use rhizo_core::crypto::CryptoProvider;
use rhizo_core::noise::session::NoiseIdentity;
use rhizo_core::time::{Duration, Instant};
use rhizo_core::wire::frame;
use rhizo_core::yamux::StreamId;

use crate::log;

mod blocks {
    include!(concat!(env!("OUT_DIR"), "/blocks.rs"));
}
pub use blocks::{FILE_NAME, FILE_ROOT, FILE_SIZE};

/// Peers the engine holds at once: one per connection.
pub const PEERS: usize = crate::LISTENERS;
/// Blocks wanted at once.
pub const WANTS: usize = 2;
/// Wantlist entries a peer may hold (one more cuts it off).
pub const ENTRIES: usize = 16;
/// The longest Bitswap message sent or accepted: the largest block built in (1 038 bytes) or
/// fetched ([`SLOT_LEN`]) plus room for the message around it.
pub const MAX_MESSAGE: usize = 1536;
/// The RAM slot for a fetched block: blocks up to this size can be fetched; a fetched block
/// replaces the one before.
pub const SLOT_LEN: usize = 1024;
/// A whole frame of [`MAX_MESSAGE`] bytes with its length prefix.
const FRAME_LEN: usize = MAX_MESSAGE + 2;

const _: () = assert!(blocks::LARGEST_BLOCK + 100 <= MAX_MESSAGE);
const _: () = assert!(SLOT_LEN + 100 <= MAX_MESSAGE);

/// The engine as the node sizes it.
pub type Engine = BitswapEngine<PEERS, WANTS, ENTRIES>;

/// The protocol ids the node accepts on inbound streams.
pub const PROTOCOLS: &[&str] = &PROTOCOL_IDS;

/// The node's Bitswap state, behind [`Shared`].
#[derive(Debug)]
pub struct Node {
    engine: Engine,
    store: Store,
    inbox: Inbox,
    outbox: Outbox,
    /// The block fetched at boot (and its CID's text), and whether its fetch has ended (and
    /// how).
    fetch: Option<(Cid, heapless::String<64>)>,
    fetch_done: Option<bool>,
}

/// The one Bitswap node, shared by the connection tasks (one executor: the lock is never
/// contended, it only proves exclusive access).
pub type Shared = Mutex<CriticalSectionRawMutex, RefCell<Node>>;

/// Wakes the connection task of each slot when the node has something for it.
pub static WAKE: [Signal<CriticalSectionRawMutex, ()>; PEERS] = [const { Signal::new() }; PEERS];

fn wake_others(slot: usize) {
    for (i, signal) in WAKE.iter().enumerate() {
        if i != slot {
            signal.signal(());
        }
    }
}

/// The receive buffer: the frame being read, and which stream it comes from.
#[derive(Debug)]
struct Inbox {
    buf: &'static mut [u8; FRAME_LEN],
    filled: usize,
    owner: Option<(usize, StreamId)>,
}

/// The send buffer: one message for one peer, partly written.
#[derive(Debug)]
struct Outbox {
    buf: &'static mut [u8; FRAME_LEN],
    len: usize,
    sent: usize,
    peer: Option<usize>,
}

impl Node {
    /// A node with the buffers given (statics, so they never pass through the stack).
    pub fn new(
        rx: &'static mut [u8; FRAME_LEN],
        tx: &'static mut [u8; FRAME_LEN],
        slot: &'static mut [u8; SLOT_LEN],
    ) -> Self {
        let config = Config {
            max_message_len: MAX_MESSAGE,
            max_peers: PEERS,
            max_wants: WANTS,
            max_wantlist_entries: ENTRIES,
            max_outstanding_blocks_per_peer: 4,
            fetch_timeout: Duration::from_secs(30),
            ..Config::default()
        };
        Node {
            engine: Engine::new(config),
            store: Store {
                slot,
                slot_len: 0,
                slot_cid: None,
            },
            inbox: Inbox {
                buf: rx,
                filled: 0,
                owner: None,
            },
            outbox: Outbox {
                buf: tx,
                len: 0,
                sent: 0,
                peer: None,
            },
            fetch: None,
            fetch_done: None,
        }
    }

    /// Wants the target's block (from the peers connected now or later).
    pub fn fetch(&mut self, now: Instant, target: &crate::target::FetchTarget) {
        self.fetch = Some((target.cid, target.cid_text.clone()));
        if let Err(e) = self.engine.fetch(now, target.cid) {
            log!("cannot fetch {}: {e}", target.cid_text);
            self.fetch_done = Some(false);
        }
    }

    /// The CID's text when it is the fetched block's (CIDs are not encoded here: flash).
    fn name(&self, cid: &Cid) -> &str {
        match &self.fetch {
            Some((c, text)) if c == cid => text,
            _ => "a block",
        }
    }

    /// Handles due timeouts and the engine's events.
    fn pump(&mut self, now: Instant) {
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.engine.handle_timeout(now);
        }
        while let Some(event) = self.engine.poll_event() {
            match event {
                Event::BlockReceived { cid, peer } => {
                    let len = self.store.block_len(&cid).ok().flatten().unwrap_or(0);
                    log!(
                        "fetched {} ({len} bytes) from peer {}",
                        self.name(&cid),
                        peer.0
                    );
                    if self.fetch.as_ref().is_some_and(|(c, _)| *c == cid) {
                        self.fetch_done = Some(true);
                    }
                }
                Event::FetchFailed { cid, reason } => {
                    let why = match reason {
                        FetchFailure::Timeout => "timed out",
                        FetchFailure::Store => "the block is larger than the RAM slot",
                    };
                    log!("fetching {} failed: {why}", self.name(&cid));
                    if self.fetch.as_ref().is_some_and(|(c, _)| *c == cid) {
                        self.fetch_done = Some(false);
                    }
                }
                Event::PeerMisbehaved { peer, reason } => {
                    log!("bitswap peer {} cut off: it {reason}", peer.0);
                }
            }
        }
    }
}

/// The node's blocks: the built-in file's (flash, read-only) and one RAM slot.
#[derive(Debug)]
struct Store {
    slot: &'static mut [u8; SLOT_LEN],
    slot_len: usize,
    slot_cid: Option<Cid>,
}

/// Why the store refused a block: it is larger than the RAM slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotTooSmall;

impl core::fmt::Display for SlotTooSmall {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "the block is larger than the {SLOT_LEN}-byte RAM slot")
    }
}

impl core::error::Error for SlotTooSmall {}

impl Store {
    fn get(&self, cid: &Cid) -> Option<&[u8]> {
        if self.slot_cid.as_ref() == Some(cid) {
            return Some(&self.slot[..self.slot_len]);
        }
        let key = cid.to_bytes();
        blocks::BLOCKS
            .iter()
            .find(|(c, _)| *c == &key[..])
            .map(|(_, data)| *data)
    }
}

impl BlockStore for Store {
    type Error = SlotTooSmall;

    fn has(&self, cid: &Cid) -> Result<bool, SlotTooSmall> {
        Ok(self.get(cid).is_some())
    }

    fn block_len(&self, cid: &Cid) -> Result<Option<usize>, SlotTooSmall> {
        Ok(self.get(cid).map(<[u8]>::len))
    }

    fn read(&self, cid: &Cid, out: &mut [u8]) -> Result<Option<usize>, SlotTooSmall> {
        match self.get(cid) {
            None => Ok(None),
            Some(data) if data.len() > out.len() => Err(SlotTooSmall),
            Some(data) => {
                out[..data.len()].copy_from_slice(data);
                Ok(Some(data.len()))
            }
        }
    }

    fn put(&mut self, block: Block<'_>) -> Result<(), SlotTooSmall> {
        let data = block.data();
        if data.len() > SLOT_LEN {
            return Err(SlotTooSmall);
        }
        self.slot[..data.len()].copy_from_slice(data);
        self.slot_len = data.len();
        self.slot_cid = Some(*block.cid());
        Ok(())
    }
}

/// An inbound Bitswap stream.
#[derive(Clone, Copy, Debug)]
struct Inbound {
    id: StreamId,
    /// The peer closed its half: a read of 0 means the end.
    finished: bool,
}

/// One connection's part in Bitswap: its streams and its peer's place in the engine (the key
/// is the connection's slot).
#[derive(Debug)]
pub struct PeerLink {
    node: &'static Shared,
    slot: usize,
    inbound: heapless::Vec<Inbound, 2>,
    outbound: Option<StreamId>,
    /// The version the peer speaks, once it is in the engine.
    version: Option<ProtocolVersion>,
    /// This connection was dialed to fetch a block: it is closed once the fetch ends.
    fetcher: bool,
}

impl PeerLink {
    /// The Bitswap part of the connection in `slot`.
    pub fn new(node: &'static Shared, slot: usize, fetcher: bool) -> Self {
        PeerLink {
            node,
            slot,
            inbound: heapless::Vec::new(),
            outbound: None,
            version: None,
            fetcher,
        }
    }

    fn key(&self) -> PeerKey {
        PeerKey(self.slot as u32)
    }

    fn connect(&mut self, node: &mut Node, version: ProtocolVersion) {
        if self.version.is_some() {
            return;
        }
        match node.engine.peer_connected(self.key(), version) {
            Ok(()) => self.version = Some(version),
            Err(e) => log!("[{}] {e}", self.slot),
        }
    }

    /// A connection event; returns whether it concerned Bitswap.
    pub fn on_event<P, S, I>(
        &mut self,
        conn: &mut Connection<P, S, I>,
        now: Instant,
        event: ConnectionEvent,
    ) -> bool
    where
        P: CryptoProvider,
        S: ConnectionStorage,
        I: core::borrow::Borrow<NoiseIdentity>,
    {
        let node = self.node;
        node.lock(|cell| {
            let node = &mut *cell.borrow_mut();
            match event {
                ConnectionEvent::Established { .. } if self.fetcher => {
                    // The host is asked at once; our stream opens with the first message.
                    self.connect(node, ProtocolVersion::V1_2_0);
                    true
                }
                ConnectionEvent::StreamOpened {
                    stream,
                    protocol,
                    inbound: true,
                } => {
                    let Some(version) = ProtocolVersion::from_protocol_id(protocol) else {
                        return false;
                    };
                    let entry = Inbound {
                        id: stream,
                        finished: false,
                    };
                    if self.inbound.push(entry).is_err() {
                        let _ = conn.stream_reset(now, stream);
                    }
                    self.connect(node, version);
                    true
                }
                ConnectionEvent::StreamRefused { stream } if self.outbound == Some(stream) => {
                    log!("[{}] the peer refused Bitswap", self.slot);
                    self.outbound = None;
                    self.disconnect(node);
                    true
                }
                ConnectionEvent::StreamFinished(stream) => {
                    if let Some(s) = self.inbound.iter_mut().find(|s| s.id == stream) {
                        s.finished = true;
                        return true;
                    }
                    false
                }
                ConnectionEvent::StreamReset(stream) => {
                    let before = self.inbound.len();
                    self.inbound.retain(|s| s.id != stream);
                    if node.inbox.owner == Some((self.slot, stream)) {
                        node.inbox.owner = None;
                        node.inbox.filled = 0;
                        wake_others(self.slot);
                    }
                    if self.outbound == Some(stream) {
                        self.outbound = None;
                        // A message cut in the middle is lost; the next goes on a new stream.
                        if node.outbox.peer == Some(self.slot) && node.outbox.sent > 0 {
                            node.outbox.peer = None;
                        }
                        return true;
                    }
                    before != self.inbound.len()
                }
                ConnectionEvent::Closed => {
                    self.disconnect(node);
                    true
                }
                _ => false,
            }
        })
    }

    /// The peer is gone from Bitswap: its state leaves the engine and the shared buffers.
    fn disconnect(&mut self, node: &mut Node) {
        if self.version.take().is_some() {
            node.engine.peer_disconnected(self.key());
        }
        if node.inbox.owner.is_some_and(|(slot, _)| slot == self.slot) {
            node.inbox.owner = None;
            node.inbox.filled = 0;
        }
        if node.outbox.peer == Some(self.slot) {
            node.outbox.peer = None;
        }
        self.inbound.clear();
        self.outbound = None;
        wake_others(self.slot);
    }

    /// Moves frames between the connection's Bitswap streams and the engine; closes a fetching
    /// connection once its fetch has ended. Returns whether anything happened.
    pub fn poll<P, S, I>(&mut self, conn: &mut Connection<P, S, I>, now: Instant) -> bool
    where
        P: CryptoProvider,
        S: ConnectionStorage,
        I: core::borrow::Borrow<NoiseIdentity>,
    {
        let node = self.node;
        node.lock(|cell| {
            let node = &mut *cell.borrow_mut();
            node.pump(now);
            let mut progressed = self.read(conn, now, node);
            progressed |= self.write(conn, now, node);
            node.pump(now);
            if self.fetcher && node.fetch_done.is_some() && !conn.is_closed() {
                conn.close();
                progressed = true;
            }
            progressed
        })
    }

    /// When [`poll`](Self::poll) must run even without news: the engine's next deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.node.lock(|cell| cell.borrow().engine.poll_timeout())
    }

    fn read<P, S, I>(
        &mut self,
        conn: &mut Connection<P, S, I>,
        now: Instant,
        node: &mut Node,
    ) -> bool
    where
        P: CryptoProvider,
        S: ConnectionStorage,
        I: core::borrow::Borrow<NoiseIdentity>,
    {
        let mut progressed = false;
        let mut i = 0;
        while i < self.inbound.len() {
            let Inbound { id, finished } = self.inbound[i];
            if node.inbox.owner.is_some_and(|o| o != (self.slot, id)) {
                i += 1;
                continue;
            }
            let inbox = &mut node.inbox;
            let n = match conn.stream_read(now, id, &mut inbox.buf[inbox.filled..]) {
                Ok(n) => n,
                Err(_) => {
                    self.drop_inbound(i, node);
                    progressed = true;
                    continue;
                }
            };
            if n == 0 {
                if finished {
                    // The peer is done with this stream: so are we.
                    let _ = conn.stream_close(now, id);
                    self.drop_inbound(i, node);
                    progressed = true;
                } else {
                    i += 1;
                }
                continue;
            }
            progressed = true;
            inbox.filled += n;
            inbox.owner = Some((self.slot, id));
            if !self.take_frames(conn, now, node, id) {
                self.drop_inbound(i, node);
            }
        }
        progressed
    }

    /// Hands the whole frames in the inbox to the engine; `false`: the stream was reset for a
    /// broken frame.
    fn take_frames<P, S, I>(
        &mut self,
        conn: &mut Connection<P, S, I>,
        now: Instant,
        node: &mut Node,
        stream: StreamId,
    ) -> bool
    where
        P: CryptoProvider,
        S: ConnectionStorage,
        I: core::borrow::Borrow<NoiseIdentity>,
    {
        loop {
            let filled = node.inbox.filled;
            match frame::decode(&node.inbox.buf[..filled], MAX_MESSAGE) {
                Ok(Some(f)) => {
                    let consumed = f.consumed;
                    // A refused message cuts the peer off: the engine reports it as an event.
                    let _ = node
                        .engine
                        .handle_message(now, self.key(), f.payload, &mut node.store);
                    node.inbox.buf.copy_within(consumed..filled, 0);
                    node.inbox.filled = filled - consumed;
                }
                Ok(None) => break,
                Err(e) => {
                    node.engine.handle_frame_error(self.key(), e);
                    let _ = conn.stream_reset(now, stream);
                    node.inbox.filled = 0;
                    node.inbox.owner = None;
                    wake_others(self.slot);
                    return false;
                }
            }
        }
        if node.inbox.filled == 0 {
            node.inbox.owner = None;
            wake_others(self.slot);
        }
        // The engine may have answers for this peer (or blocks for others).
        wake_others(self.slot);
        true
    }

    fn drop_inbound(&mut self, index: usize, node: &mut Node) {
        let id = self.inbound[index].id;
        self.inbound.swap_remove(index);
        if node.inbox.owner == Some((self.slot, id)) {
            node.inbox.owner = None;
            node.inbox.filled = 0;
            wake_others(self.slot);
        }
    }

    fn write<P, S, I>(
        &mut self,
        conn: &mut Connection<P, S, I>,
        now: Instant,
        node: &mut Node,
    ) -> bool
    where
        P: CryptoProvider,
        S: ConnectionStorage,
        I: core::borrow::Borrow<NoiseIdentity>,
    {
        let mut progressed = false;
        loop {
            let outbox = &mut node.outbox;
            if outbox.peer.is_none() {
                let Some(t) = node
                    .engine
                    .poll_transmit(now, &node.store, &mut outbox.buf[..])
                else {
                    return progressed;
                };
                let peer = t.peer.0 as usize;
                outbox.peer = Some(peer);
                outbox.len = t.len;
                outbox.sent = 0;
                if peer != self.slot {
                    if let Some(signal) = WAKE.get(peer) {
                        signal.signal(());
                    }
                    return progressed;
                }
            }
            if outbox.peer != Some(self.slot) {
                return progressed;
            }
            let Some(version) = self.version else {
                // Not (or no longer) a Bitswap peer: the message has nowhere to go.
                outbox.peer = None;
                continue;
            };
            let stream = match self.outbound {
                Some(s) => s,
                None => match conn.open_stream(now, version.protocol_id()) {
                    Ok(s) => {
                        self.outbound = Some(s);
                        progressed = true;
                        s
                    }
                    // No stream slot free now: try again on a later poll.
                    Err(_) => return progressed,
                },
            };
            match conn.stream_write(now, stream, &outbox.buf[outbox.sent..outbox.len]) {
                Ok(0) => return progressed,
                Ok(n) => {
                    progressed = true;
                    outbox.sent += n;
                    if outbox.sent == outbox.len {
                        outbox.peer = None;
                        wake_others(self.slot);
                    }
                }
                Err(_) => {
                    // The stream is gone: the message is lost (the engine's timers recover).
                    self.outbound = None;
                    outbox.peer = None;
                    return true;
                }
            }
        }
    }
}

/// What Bitswap costs in static RAM, for the boot log: (engine, buffers).
pub fn size_report() -> (usize, usize) {
    (core::mem::size_of::<Engine>(), 2 * FRAME_LEN + SLOT_LEN)
}

/// How many blocks the built-in file has.
pub fn block_count() -> usize {
    blocks::BLOCKS.len()
}
