//! Fetching: each wanted block, who has been asked what, and the choice of the next provider.

use super::table::Table;
use super::{BitswapEngine, Config, Event, FetchFailure, Misbehaviour, Peer, PeerKey};
use crate::bitswap::message::{Message, MessageWriter, PresenceType, WantType, WantlistEntry};
use crate::block::{Block, BlockStore};
use crate::cid::Cid;
use crate::multihash::Multihash;
use crate::time::Instant;

/// How many wantlist entries one message carries at most.
const ENTRIES_PER_MESSAGE: usize = 32;

/// Where one peer stands on one want.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ask {
    /// A want-have is to be sent.
    HavePending,
    /// A want-have was sent at this time.
    HaveAsked(Instant),
    /// It said HAVE.
    Has,
    /// It said DONT_HAVE (or a want-have timed out).
    DontHave,
    /// A want-block is to be sent.
    BlockPending,
    /// A want-block was sent at this time.
    BlockAsked(Instant),
    /// The want-block timed out or was answered DONT_HAVE: not asked again.
    Failed,
    /// The want is over: a cancel is to be sent.
    CancelPending,
}

impl Ask {
    fn owes_block(self) -> bool {
        matches!(self, Ask::BlockPending | Ask::BlockAsked(_))
    }

    /// Whether the peer was sent a want for this block (so it needs a cancel).
    fn was_sent(self) -> bool {
        !matches!(self, Ask::HavePending | Ask::BlockPending)
    }
}

#[derive(Clone, Copy, Debug)]
struct PeerAsk {
    peer: PeerKey,
    ask: Ask,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Active,
    Received(PeerKey),
    Failed(FetchFailure),
    Cancelled,
}

/// One wanted block.
#[derive(Debug)]
pub(crate) struct Want<const PEERS: usize> {
    cid: Cid,
    since: Instant,
    outcome: Outcome,
    reported: bool,
    asks: Table<PeerAsk, PEERS>,
}

impl<const PEERS: usize> Want<PEERS> {
    pub(crate) fn new(cid: Cid, now: Instant) -> Self {
        Want {
            cid,
            since: now,
            outcome: Outcome::Active,
            reported: false,
            asks: Table::new(),
        }
    }

    pub(crate) fn cid(&self) -> &Cid {
        &self.cid
    }

    pub(crate) fn is_active(&self) -> bool {
        self.outcome == Outcome::Active
    }

    /// Over, reported, and every cancel sent: can leave the table.
    pub(crate) fn is_finished(&self) -> bool {
        !self.is_active()
            && (self.reported || self.outcome == Outcome::Cancelled)
            && self.asks.is_empty()
    }

    fn finish(&mut self, outcome: Outcome) {
        self.outcome = outcome;
        self.asks.retain(|a| a.ask.was_sent());
        for a in self.asks.iter_mut() {
            a.ask = Ask::CancelPending;
        }
    }

    pub(crate) fn cancel(&mut self) {
        self.finish(Outcome::Cancelled);
    }

    pub(crate) fn forget_peer(&mut self, peer: PeerKey) {
        self.asks.retain(|a| a.peer != peer);
    }

    pub(crate) fn take_event(&mut self) -> Option<Event> {
        if self.reported {
            return None;
        }
        let event = match self.outcome {
            Outcome::Active | Outcome::Cancelled => return None,
            Outcome::Received(peer) => Event::BlockReceived {
                cid: self.cid,
                peer,
            },
            Outcome::Failed(reason) => Event::FetchFailed {
                cid: self.cid,
                reason,
            },
        };
        self.reported = true;
        Some(event)
    }

    fn ask_of(&mut self, peer: PeerKey) -> Option<&mut Ask> {
        self.asks
            .iter_mut()
            .find(|a| a.peer == peer)
            .map(|a| &mut a.ask)
    }

    pub(crate) fn next_deadline(&self, config: &Config) -> Option<Instant> {
        if !self.is_active() {
            return None;
        }
        let asks = self.asks.iter().filter_map(|a| match a.ask {
            Ask::HaveAsked(t) => Some(t + config.have_timeout),
            Ask::BlockAsked(t) => Some(t + config.block_timeout),
            _ => None,
        });
        asks.chain([self.since + config.fetch_timeout]).min()
    }

    pub(crate) fn handle_timeout<const E: usize>(
        &mut self,
        now: Instant,
        config: &Config,
        peers: &mut [Peer<E>],
    ) {
        if !self.is_active() {
            return;
        }
        if now >= self.since + config.fetch_timeout {
            self.finish(Outcome::Failed(FetchFailure::Timeout));
            return;
        }
        for a in self.asks.iter_mut() {
            let (late, next, waited) = match a.ask {
                Ask::HaveAsked(t) => (
                    now >= t + config.have_timeout,
                    Ask::DontHave,
                    config.have_timeout,
                ),
                Ask::BlockAsked(t) => (
                    now >= t + config.block_timeout,
                    Ask::Failed,
                    config.block_timeout,
                ),
                _ => continue,
            };
            if late {
                a.ask = next;
                if let Some(p) = peers.iter_mut().find(|p| p.key == a.peer) {
                    p.sample_latency(waited);
                }
            }
        }
    }

    pub(crate) fn count_outstanding<const E: usize>(&self, peers: &mut [Peer<E>]) {
        for a in self.asks.iter().filter(|a| a.ask.owes_block()) {
            if let Some(p) = peers.iter_mut().find(|p| p.key == a.peer) {
                p.outstanding += 1;
            }
        }
    }

    /// Decides who is asked next: the best HAVE gets the want-block, new peers get want-haves
    /// (a proven provider gets the want-block at once), and, when no 1.2.0 peer can help, one
    /// older peer gets a want-block.
    pub(crate) fn plan<const E: usize>(&mut self, config: &Config, peers: &mut [Peer<E>]) {
        if !self.is_active() || self.asks.iter().any(|a| a.ask.owes_block()) {
            return;
        }
        let limit = config.max_outstanding_blocks_per_peer;
        let score = |p: &Peer<E>| p.latency_us.saturating_mul(p.outstanding as u64 + 1);
        let usable = |p: &Peer<E>| p.active() && p.outstanding < limit;
        // The best peer that said HAVE.
        let best_have = self
            .asks
            .iter()
            .filter(|a| a.ask == Ask::Has)
            .filter_map(|a| peers.iter().position(|p| p.key == a.peer))
            .filter(|&i| usable(&peers[i]))
            .min_by_key(|&i| score(&peers[i]));
        if let Some(i) = best_have {
            let key = peers[i].key;
            if let Some(ask) = self.ask_of(key) {
                *ask = Ask::BlockPending;
                peers[i].outstanding += 1;
            }
            return;
        }
        let fresh = self.asks.is_empty();
        // A proven provider, asked for the block straight away on a fresh want, when it is
        // also the best-scoring peer: a busy provider leaves the want to the want-have round,
        // so the others get their chance to prove themselves (and the load spreads).
        let proven = peers
            .iter()
            .enumerate()
            .filter(|(_, p)| fresh && p.version.has_presences() && usable(p))
            .min_by_key(|(_, p)| score(p))
            .filter(|(_, p)| p.delivered > 0)
            .map(|(i, _)| i);
        let mut pushed_block = false;
        for (i, p) in peers.iter_mut().enumerate() {
            if !p.active()
                || !p.version.has_presences()
                || self.asks.iter().any(|a| a.peer == p.key)
            {
                continue;
            }
            let ask = if Some(i) == proven {
                p.outstanding += 1;
                pushed_block = true;
                Ask::BlockPending
            } else {
                Ask::HavePending
            };
            let _ = self
                .asks
                .try_push(PeerAsk { peer: p.key, ask }, config.max_peers);
        }
        let someone_may_have = pushed_block
            || self
                .asks
                .iter()
                .any(|a| matches!(a.ask, Ask::HavePending | Ask::HaveAsked(_) | Ask::Has));
        if someone_may_have {
            return;
        }
        // No 1.2.0 peer can help: one older peer gets a want-block.
        let legacy = peers
            .iter_mut()
            .filter(|p| usable(p) && !p.version.has_presences())
            .find(|p| !self.asks.iter().any(|a| a.peer == p.key));
        if let Some(p) = legacy {
            p.outstanding += 1;
            let ask = PeerAsk {
                peer: p.key,
                ask: Ask::BlockPending,
            };
            let _ = self.asks.try_push(ask, config.max_peers);
        }
    }
}

/// Writes the wantlist entries due to `peer` (want-haves, want-blocks, cancels) and marks them
/// sent.
pub(crate) fn write_wants<const P: usize, const W: usize, const E: usize>(
    wants: &mut Table<Want<P>, W>,
    peer: &Peer<E>,
    now: Instant,
    writer: &mut MessageWriter<'_>,
) {
    let presences = peer.version.has_presences();
    let entry_of = |want: &Want<P>| {
        let a = want.asks.iter().find(|a| a.peer == peer.key)?;
        match a.ask {
            Ask::HavePending => Some(WantlistEntry::want(want.cid, WantType::Have, true)),
            Ask::BlockPending => Some(WantlistEntry::want(want.cid, WantType::Block, presences)),
            Ask::CancelPending => Some(WantlistEntry::cancel(want.cid)),
            _ => None,
        }
    };
    // Indices only: the entries are made again while writing, to keep the stack small.
    let mut chosen: heapless::Vec<usize, ENTRIES_PER_MESSAGE> = heapless::Vec::new();
    let mut entries_len = 0;
    for (i, want) in wants.iter().enumerate() {
        let Some(entry) = entry_of(want) else {
            continue;
        };
        let len = entries_len + entry.encoded_len();
        if MessageWriter::wantlist_len(len, false) > writer.remaining() {
            break;
        }
        if chosen.push(i).is_err() {
            break;
        }
        entries_len = len;
    }
    let entries = chosen.iter().filter_map(|&i| entry_of(&wants[i]));
    if chosen.is_empty() || writer.wantlist(false, entries).is_err() {
        return;
    }
    for &i in &chosen {
        let want = &mut wants[i];
        let Some(pos) = want.asks.iter().position(|a| a.peer == peer.key) else {
            continue;
        };
        match want.asks[pos].ask {
            Ask::HavePending => want.asks[pos].ask = Ask::HaveAsked(now),
            Ask::BlockPending => want.asks[pos].ask = Ask::BlockAsked(now),
            _ => {
                want.asks.remove(pos);
            }
        }
    }
}

impl<const PEERS: usize, const WANTS: usize, const ENTRIES: usize>
    BitswapEngine<PEERS, WANTS, ENTRIES>
{
    /// Takes presences and blocks from a message of the peer at `index`.
    pub(super) fn receive<S: BlockStore>(
        &mut self,
        now: Instant,
        index: usize,
        message: &Message<'_>,
        store: &mut S,
    ) -> Result<(), Misbehaviour> {
        let key = self.peers[index].key;
        for presence in message.block_presences() {
            let Some(want) = self
                .wants
                .iter_mut()
                .find(|w| w.is_active() && w.cid.hash() == presence.cid.hash())
            else {
                continue;
            };
            let (next, asked_at) = match (presence.presence, want.ask_of(key).copied()) {
                (PresenceType::Have, Some(Ask::HaveAsked(t))) => (Ask::Has, Some(t)),
                // A HAVE after a DONT_HAVE: the peer has received the block since.
                (PresenceType::Have, Some(Ask::HavePending | Ask::DontHave) | None) => {
                    (Ask::Has, None)
                }
                (PresenceType::DontHave, Some(Ask::HaveAsked(t))) => (Ask::DontHave, Some(t)),
                (PresenceType::DontHave, Some(Ask::BlockAsked(t))) => (Ask::Failed, Some(t)),
                (PresenceType::DontHave, Some(Ask::HavePending | Ask::Has) | None) => {
                    (Ask::DontHave, None)
                }
                _ => continue,
            };
            match want.ask_of(key) {
                Some(ask) => *ask = next,
                None => {
                    let ask = PeerAsk {
                        peer: key,
                        ask: next,
                    };
                    let _ = want.asks.try_push(ask, self.config.max_peers);
                }
            }
            if let Some(t) = asked_at {
                self.peers[index].sample_latency(now.saturating_duration_since(t));
            }
        }
        for payload in message.payload() {
            // A prefix naming a hash we cannot compute: nothing to check it against, skip.
            let Ok(cid) = payload.prefix.cid_of(payload.data) else {
                continue;
            };
            self.receive_block(now, index, &cid, payload.data, store)?;
        }
        for data in message.blocks() {
            let cid =
                Cid::new_v0(Multihash::sha2_256(data)).expect("a sha2-256 digest makes a CIDv0");
            self.receive_block(now, index, &cid, data, store)?;
        }
        Ok(())
    }

    /// One block whose bytes hash to `received` (the CID rebuilt from its prefix).
    fn receive_block<S: BlockStore>(
        &mut self,
        now: Instant,
        index: usize,
        received: &Cid,
        data: &[u8],
        store: &mut S,
    ) -> Result<(), Misbehaviour> {
        let key = self.peers[index].key;
        let hash = received.hash();
        let matches = |w: &Want<PEERS>| w.cid.hash() == hash;
        let active = self.wants.iter().position(|w| w.is_active() && matches(w));
        let Some(want) = active.map(|i| &mut self.wants[i]) else {
            // A late answer to a want that is over (still held, or remembered) is a block we
            // asked for; anything else from a peer that owes us a block is a block we asked for
            // with its bytes changed.
            let known = self.wants.iter().any(matches)
                || self.recent.contains(hash)
                || store.has(received).unwrap_or(false);
            let owes = self.wants.iter().any(|w| {
                w.is_active() && w.asks.iter().any(|a| a.peer == key && a.ask.owes_block())
            });
            if owes && !known {
                return Err(Misbehaviour::CorruptBlock);
            }
            return Ok(());
        };
        let cid = want.cid;
        let Ok(block) = Block::verify(cid, data) else {
            return Err(Misbehaviour::CorruptBlock);
        };
        if let Some(Ask::BlockAsked(t)) = want.ask_of(key).copied() {
            self.peers[index].sample_latency(now.saturating_duration_since(t));
        }
        if store.put(block).is_err() {
            want.finish(Outcome::Failed(FetchFailure::Store));
            return Ok(());
        }
        want.finish(Outcome::Received(key));
        self.peers[index].delivered = self.peers[index].delivered.saturating_add(1);
        for p in self.peers.iter_mut() {
            p.ledger.block_arrived(&cid);
        }
        Ok(())
    }
}

/// Fingerprints of the blocks whose wants ended lately, so a late answer is not taken for a
/// corrupt block.
#[derive(Debug)]
pub(crate) struct RecentWants {
    fingerprints: [u64; RECENT_WANTS],
    next: usize,
}

/// How many ended wants [`RecentWants`] remembers.
const RECENT_WANTS: usize = 64;

impl RecentWants {
    pub(crate) const fn new() -> Self {
        RecentWants {
            fingerprints: [0; RECENT_WANTS],
            next: 0,
        }
    }

    fn fingerprint(hash: &Multihash) -> u64 {
        let mut bytes = [0u8; 8];
        for (dst, src) in bytes.iter_mut().zip(hash.digest()) {
            *dst = *src;
        }
        u64::from_le_bytes(bytes) | 1
    }

    pub(crate) fn remember<const P: usize>(&mut self, want: &Want<P>) {
        self.fingerprints[self.next] = Self::fingerprint(want.cid.hash());
        self.next = (self.next + 1) % RECENT_WANTS;
    }

    fn contains(&self, hash: &Multihash) -> bool {
        self.fingerprints.contains(&Self::fingerprint(hash))
    }
}
