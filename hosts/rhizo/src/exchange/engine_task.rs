//! The engine's task: owns the [`HeapBitswapEngine`], takes [`Command`]s, writes its frames to
//! the peers' queues and answers fetches.

use super::{BitswapStat, Command, FetchError, PeerLink, STALL_LIMIT};
use crate::store::{Store, StoreError};
use rhizo_core::bitswap::ProtocolVersion;
use rhizo_core::bitswap::engine::{Config, Event, HeapBitswapEngine, PeerKey};
use rhizo_core::bitswap::message::Message;
use rhizo_core::block::{Block, BlockStore};
use rhizo_core::cid::Cid;
use rhizo_core::time::Instant;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The store as the engine sees it when no block arrives: reads, and a put in its own
/// transaction (not expected: the engine puts only blocks from messages, which go through a
/// [`Batch`](crate::store::Batch)).
struct StoreRef<'a>(&'a Store);

impl BlockStore for StoreRef<'_> {
    type Error = StoreError;

    fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        self.0.has(cid)
    }

    fn block_len(&self, cid: &Cid) -> Result<Option<usize>, StoreError> {
        self.0.block_size(cid)
    }

    fn read(&self, cid: &Cid, out: &mut [u8]) -> Result<Option<usize>, StoreError> {
        BlockStore::read(self.0, cid, out)
    }

    fn put(&mut self, block: Block<'_>) -> Result<(), StoreError> {
        self.0.put(block).map(drop)
    }
}

/// A frame that found its peer's queue full.
struct Stalled {
    key: PeerKey,
    frame: Vec<u8>,
    sender: mpsc::Sender<Vec<u8>>,
    since: tokio::time::Instant,
}

struct EngineTask {
    engine: HeapBitswapEngine,
    store: Arc<Store>,
    links: HashMap<PeerKey, PeerLink>,
    waiters: HashMap<Cid, Vec<oneshot::Sender<Result<(), FetchError>>>>,
    stat: BitswapStat,
    origin: tokio::time::Instant,
    out: Vec<u8>,
    stalled: Option<Stalled>,
}

/// Runs the engine until every [`Exchange`](super::Exchange) handle is gone.
pub(super) async fn run(mut queue: mpsc::Receiver<Command>, store: Arc<Store>, config: Config) {
    let engine = HeapBitswapEngine::new(config);
    let mut task = EngineTask {
        out: vec![0; engine.transmit_buffer_len()],
        engine,
        store,
        links: HashMap::new(),
        waiters: HashMap::new(),
        stat: BitswapStat::default(),
        origin: tokio::time::Instant::now(),
        stalled: None,
    };
    loop {
        task.flush();
        let deadline = task
            .engine
            .poll_timeout()
            .map(|at| task.origin + std::time::Duration::from_micros(at.as_micros()));
        let stall = task
            .stalled
            .as_ref()
            .map(|s| (s.sender.clone(), s.since + STALL_LIMIT));
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let stall_wait = async {
            match stall {
                Some((sender, limit)) => {
                    tokio::time::timeout_at(limit, sender.reserve_owned()).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            command = queue.recv() => match command {
                Some(Command::Shutdown { done }) => {
                    drop(task);
                    let _ = done.send(());
                    return;
                }
                Some(command) => task.handle(command),
                None => return,
            },
            () = sleep => {
                let now = task.now();
                task.engine.handle_timeout(now);
            }
            waited = stall_wait => {
                let Some(stalled) = task.stalled.take() else { continue };
                match waited {
                    Ok(Ok(permit)) => {
                        permit.send(stalled.frame);
                    }
                    // The connection is gone: its Disconnected command follows.
                    Ok(Err(_)) => {}
                    Err(_) => {
                        tracing::warn!(peer = ?stalled.key, "a peer took no Bitswap message for too long: disconnecting it");
                        task.disconnect(stalled.key);
                    }
                }
            }
        }
    }
}

impl EngineTask {
    fn now(&self) -> Instant {
        let micros = u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX);
        Instant::from_micros(micros)
    }

    fn handle(&mut self, command: Command) {
        let now = self.now();
        match command {
            Command::Connected { key, link } => {
                match self.engine.peer_connected(key, ProtocolVersion::V1_2_0) {
                    Ok(()) => {
                        self.links.insert(key, link);
                    }
                    Err(e) => {
                        tracing::info!(peer = %link.peer, error = %e, "no Bitswap with this peer");
                    }
                }
            }
            Command::Disconnected { key } => {
                self.engine.peer_disconnected(key);
                self.links.remove(&key);
                if self.stalled.as_ref().is_some_and(|s| s.key == key) {
                    self.stalled = None;
                }
            }
            Command::Downgrade { key, version } => {
                self.engine.peer_disconnected(key);
                match version {
                    Some(v) if self.links.contains_key(&key) => {
                        if self.engine.peer_connected(key, v).is_err() {
                            self.links.remove(&key);
                        }
                    }
                    _ => {
                        // Speaks no Bitswap: keep the connection, send it nothing.
                        self.links.remove(&key);
                    }
                }
            }
            Command::Message { key, payload } => self.message(now, key, &payload),
            Command::FrameError { key, error } => {
                self.engine.handle_frame_error(key, error);
            }
            Command::Fetch { cid, reply } => match self.store.has(&cid) {
                Ok(true) => {
                    let _ = reply.send(Ok(()));
                }
                Ok(false) => match self.engine.fetch(now, cid) {
                    Ok(()) => self.waiters.entry(cid).or_default().push(reply),
                    Err(e) => {
                        let _ = reply.send(Err(FetchError::Refused(e.to_string())));
                    }
                },
                Err(e) => {
                    let _ = reply.send(Err(FetchError::Store(e.to_string())));
                }
            },
            Command::Cancel { cid } => {
                if let Some(waiting) = self.waiters.get_mut(&cid) {
                    waiting.retain(|w| !w.is_closed());
                    if waiting.is_empty() {
                        self.waiters.remove(&cid);
                        self.engine.cancel(&cid);
                    }
                }
            }
            Command::Shutdown { .. } => {}
            Command::Stat { reply } => {
                let mut stat = self.stat.clone();
                stat.wantlist = self.waiters.keys().map(Cid::to_string).collect();
                stat.wantlist.sort();
                stat.peers = self
                    .links
                    .values()
                    .map(|l| l.peer.to_base58_string())
                    .collect();
                stat.peers.sort();
                let _ = reply.send(stat);
            }
        }
    }

    /// One message: blocks in it are put in one transaction, committed before their events
    /// are delivered.
    fn message(&mut self, now: Instant, key: PeerKey, payload: &[u8]) {
        self.stat.messages_received += 1;
        let has_blocks = Message::decode(payload)
            .map(|m| m.payload().next().is_some() || m.blocks().next().is_some())
            .unwrap_or(false);
        let result = if has_blocks {
            match self.store.batch() {
                Ok(mut batch) => {
                    let result = self.engine.handle_message(now, key, payload, &mut batch);
                    if let Err(e) = batch.commit() {
                        tracing::error!(error = %e, "cannot store received blocks");
                    }
                    result
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot open a store transaction");
                    return;
                }
            }
        } else {
            let store = Arc::clone(&self.store);
            self.engine
                .handle_message(now, key, payload, &mut StoreRef(&store))
        };
        if let Err(e) = result {
            tracing::debug!(peer = ?key, error = %e, "bitswap message refused");
        }
    }

    /// Sends what the engine has to send, and delivers its events.
    fn flush(&mut self) {
        let now = self.now();
        while self.stalled.is_none() {
            let store = StoreRef(&self.store);
            let Some(t) = self.engine.poll_transmit(now, &store, &mut self.out) else {
                break;
            };
            let Some(link) = self.links.get(&t.peer) else {
                continue;
            };
            let frame = self.out[..t.len].to_vec();
            self.stat.messages_sent += 1;
            match link.frames.try_send(frame) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(frame)) => {
                    self.stalled = Some(Stalled {
                        key: t.peer,
                        frame,
                        sender: link.frames.clone(),
                        since: tokio::time::Instant::now(),
                    });
                }
                // The connection is gone: its Disconnected command follows.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        while let Some(event) = self.engine.poll_event() {
            match event {
                Event::BlockReceived { cid, peer } => {
                    self.stat.blocks_received += 1;
                    if let Some(link) = self.links.get(&peer) {
                        *self
                            .stat
                            .received_from
                            .entry(link.peer.to_base58_string())
                            .or_default() += 1;
                    }
                    for waiter in self.waiters.remove(&cid).unwrap_or_default() {
                        let _ = waiter.send(Ok(()));
                    }
                }
                Event::FetchFailed { cid, reason } => {
                    for waiter in self.waiters.remove(&cid).unwrap_or_default() {
                        let _ = waiter.send(Err(reason.into()));
                    }
                }
                Event::PeerMisbehaved { peer, reason } => {
                    self.stat.peers_cut_off += 1;
                    let who = self.links.get(&peer).map(|l| l.peer.to_base58_string());
                    tracing::warn!(peer = who.as_deref().unwrap_or("?"), %reason, "disconnecting a Bitswap peer");
                    self.disconnect(peer);
                }
            }
        }
    }

    /// Drops the peer and closes its connection.
    fn disconnect(&mut self, key: PeerKey) {
        self.engine.peer_disconnected(key);
        if let Some(link) = self.links.remove(&key) {
            link.close.notify_one();
        }
        if self.stalled.as_ref().is_some_and(|s| s.key == key) {
            self.stalled = None;
        }
    }
}
