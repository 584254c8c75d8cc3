//! Engines exchanging messages on a virtual clock.

use super::*;
use crate::bitswap::message::{
    BlockPresence, Message, MessageWriter, PresenceType, WantType, WantlistEntry,
};
use crate::block::{Block, MAX_BLOCK_LEN, MemoryBlockStore};
use crate::cid::codec;
use crate::wire::frame;

type Engine = BitswapEngine<8, 64, 64>;

/// How a node treats the messages it sends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Honest,
    /// Flips a byte of every block it sends.
    Corrupt,
    /// Never sends blocks (answers presences only).
    WithholdBlocks,
}

struct Node {
    engine: Engine,
    store: MemoryBlockStore,
    events: Vec<Event>,
    behaviour: Behaviour,
    latency: Duration,
}

struct InFlight {
    at: Instant,
    from: usize,
    to: usize,
    frame: Vec<u8>,
}

struct Net {
    now: Instant,
    nodes: Vec<Node>,
    in_flight: Vec<InFlight>,
    links: Vec<(usize, usize)>,
}

fn config() -> Config {
    Config {
        have_timeout: Duration::from_secs(1),
        block_timeout: Duration::from_secs(2),
        fetch_timeout: Duration::from_secs(30),
        ..Config::default()
    }
}

fn block(i: u32) -> (Cid, Vec<u8>) {
    let data = format!("block number {i}").into_bytes();
    (*Block::new_v1(codec::RAW, &data).unwrap().cid(), data)
}

fn put(store: &mut MemoryBlockStore, i: u32) -> Cid {
    let (cid, data) = block(i);
    store.put(Block::verify(cid, &data).unwrap()).unwrap();
    cid
}

impl Net {
    fn new(n: usize) -> Self {
        Net {
            now: Instant::from_secs(1),
            nodes: (0..n)
                .map(|_| Node {
                    engine: Engine::new(config()),
                    store: MemoryBlockStore::new(),
                    events: Vec::new(),
                    behaviour: Behaviour::Honest,
                    latency: Duration::from_millis(10),
                })
                .collect(),
            in_flight: Vec::new(),
            links: Vec::new(),
        }
    }

    fn connect(&mut self, a: usize, b: usize, version: ProtocolVersion) {
        self.nodes[a]
            .engine
            .peer_connected(PeerKey(b as u32), version)
            .unwrap();
        self.nodes[b]
            .engine
            .peer_connected(PeerKey(a as u32), version)
            .unwrap();
        self.links.push((a, b));
    }

    fn disconnect(&mut self, a: usize, b: usize) {
        self.nodes[a].engine.peer_disconnected(PeerKey(b as u32));
        self.nodes[b].engine.peer_disconnected(PeerKey(a as u32));
        self.in_flight
            .retain(|m| !((m.from == a && m.to == b) || (m.from == b && m.to == a)));
        self.links.retain(|&l| l != (a, b) && l != (b, a));
    }

    fn fetch(&mut self, node: usize, cid: Cid) {
        let now = self.now;
        self.nodes[node].engine.fetch(now, cid).unwrap();
    }

    /// Drains every node's outputs.
    fn drain(&mut self) {
        let mut buf = vec![0u8; 1 << 16];
        for i in 0..self.nodes.len() {
            let node = &mut self.nodes[i];
            while let Some(t) = node.engine.poll_transmit(self.now, &node.store, &mut buf) {
                let frame = rewrite(&buf[..t.len], node.behaviour);
                let to = t.peer.0 as usize;
                if self.links.contains(&(i, to)) || self.links.contains(&(to, i)) {
                    let at = self.now + node.latency;
                    self.in_flight.push(InFlight {
                        at,
                        from: i,
                        to,
                        frame,
                    });
                }
            }
            while let Some(e) = node.engine.poll_event() {
                node.events.push(e);
            }
        }
    }

    /// Runs until nothing is in flight and no timer is due before `until`.
    fn run_until(&mut self, until: Instant) {
        for _ in 0..100_000 {
            self.drain();
            let next_msg = self.in_flight.iter().map(|m| m.at).min();
            let next_timer = self
                .nodes
                .iter()
                .filter_map(|n| n.engine.poll_timeout())
                .min();
            let Some(next) = next_msg.into_iter().chain(next_timer).min() else {
                return;
            };
            if next > until {
                return;
            }
            self.now = self.now.max(next);
            let now = self.now;
            let due: Vec<_> = {
                let (due, rest) = self.in_flight.drain(..).partition(|m| m.at <= now);
                self.in_flight = rest;
                due
            };
            for m in due {
                let node = &mut self.nodes[m.to];
                let f = frame::decode(&m.frame, node.engine.config().max_message_len)
                    .unwrap()
                    .unwrap();
                let _ = node.engine.handle_message(
                    now,
                    PeerKey(m.from as u32),
                    f.payload,
                    &mut node.store,
                );
            }
            for node in &mut self.nodes {
                if node.engine.poll_timeout().is_some_and(|t| t <= now) {
                    node.engine.handle_timeout(now);
                }
            }
        }
        panic!("the network did not settle");
    }

    fn run(&mut self) {
        self.run_until(Instant::MAX);
    }

    fn received(&self, node: usize) -> Vec<(Cid, PeerKey)> {
        self.nodes[node]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::BlockReceived { cid, peer } => Some((*cid, *peer)),
                _ => None,
            })
            .collect()
    }

    /// Every block in the node's store hashes to its CID.
    fn assert_store_sound(&self, node: usize, cids: &[Cid]) {
        for cid in cids {
            let data = self.nodes[node].store.get(cid).expect("block stored");
            assert!(Block::verify(*cid, data).is_ok());
        }
    }
}

/// Re-encodes a frame the way a misbehaving node would send it.
fn rewrite(frame_bytes: &[u8], behaviour: Behaviour) -> Vec<u8> {
    if behaviour == Behaviour::Honest {
        return frame_bytes.to_vec();
    }
    let f = frame::decode(frame_bytes, usize::MAX).unwrap().unwrap();
    let msg = Message::decode(f.payload).unwrap();
    let mut body = vec![0u8; f.payload.len() + 64];
    let mut w = MessageWriter::new(&mut body);
    let entries: Vec<_> = msg.wantlist().collect();
    if !entries.is_empty() {
        w.wantlist(msg.full(), entries).unwrap();
    }
    for p in msg.payload() {
        if behaviour == Behaviour::Corrupt {
            let mut data = p.data.to_vec();
            data[0] ^= 1;
            w.payload_block(&p.prefix, &data).unwrap();
        }
    }
    for p in msg.block_presences() {
        w.block_presence(&p).unwrap();
    }
    let body = w.finish().to_vec();
    let mut out = vec![0u8; body.len() + 8];
    let n = frame::encode(&body, &mut out).unwrap();
    out.truncate(n);
    out
}

#[test]
fn fetches_one_block_from_one_provider() {
    let mut net = Net::new(2);
    let cid = put(&mut net.nodes[0].store, 1);
    net.connect(0, 1, ProtocolVersion::V1_2_0);
    net.fetch(1, cid);
    assert!(net.nodes[1].engine.is_wanted(&cid));
    net.run();
    assert_eq!(net.received(1), vec![(cid, PeerKey(0))]);
    net.assert_store_sound(1, &[cid]);
    // Cancels went out and everything was cleaned up on both sides.
    assert_eq!(net.nodes[1].engine.want_count(), 0);
    assert_eq!(net.nodes[0].engine.ledger_len(PeerKey(1)), Some(0));
    assert_eq!(net.nodes[1].engine.poll_timeout(), None);
}

#[test]
fn fetch_spreads_over_two_providers() {
    let mut net = Net::new(3);
    let cids: Vec<_> = (0..20)
        .map(|i| {
            put(&mut net.nodes[1].store, i);
            put(&mut net.nodes[2].store, i)
        })
        .collect();
    net.connect(0, 1, ProtocolVersion::V1_2_0);
    net.connect(0, 2, ProtocolVersion::V1_2_0);
    for &cid in &cids {
        net.fetch(0, cid);
    }
    net.run();
    let got = net.received(0);
    assert_eq!(got.len(), 20);
    let from_1 = got.iter().filter(|(_, p)| *p == PeerKey(1)).count();
    assert!(
        from_1 > 0 && from_1 < 20,
        "both providers served: {from_1} from 1"
    );
    net.assert_store_sound(0, &cids);
}

#[test]
fn fast_provider_gets_most_wants() {
    let mut net = Net::new(3);
    net.nodes[2].latency = Duration::from_millis(200);
    // Warm up latency estimates with one block each.
    let cids: Vec<_> = (0..40)
        .map(|i| {
            put(&mut net.nodes[1].store, i);
            put(&mut net.nodes[2].store, i)
        })
        .collect();
    net.connect(0, 1, ProtocolVersion::V1_2_0);
    net.connect(0, 2, ProtocolVersion::V1_2_0);
    for &cid in &cids[..4] {
        net.fetch(0, cid);
    }
    net.run();
    for &cid in &cids[4..] {
        net.fetch(0, cid);
    }
    net.run();
    let got = net.received(0);
    assert_eq!(got.len(), 40);
    let from_fast = got.iter().filter(|(_, p)| *p == PeerKey(1)).count();
    assert!(from_fast > 30, "fast provider served {from_fast} of 40");
}

#[test]
fn provider_disconnect_midway_completes_from_the_other() {
    let mut net = Net::new(3);
    net.nodes[2].latency = Duration::from_millis(30);
    let cids: Vec<_> = (0..30)
        .map(|i| {
            put(&mut net.nodes[1].store, i);
            put(&mut net.nodes[2].store, i)
        })
        .collect();
    net.connect(0, 1, ProtocolVersion::V1_2_0);
    net.connect(0, 2, ProtocolVersion::V1_2_0);
    for &cid in &cids {
        net.fetch(0, cid);
    }
    // Let a few blocks arrive, then drop provider 1.
    net.run_until(net.now + Duration::from_millis(25));
    let before = net.received(0).len();
    assert!(before < 30);
    net.disconnect(0, 1);
    net.run();
    let got = net.received(0);
    assert_eq!(
        got.len(),
        30,
        "all blocks arrived ({before} before the disconnect)"
    );
    net.assert_store_sound(0, &cids);
}

#[test]
fn corrupt_provider_is_cut_off_and_fetch_completes() {
    let mut net = Net::new(3);
    net.nodes[1].behaviour = Behaviour::Corrupt;
    let cids: Vec<_> = (0..10)
        .map(|i| {
            put(&mut net.nodes[1].store, i);
            put(&mut net.nodes[2].store, i)
        })
        .collect();
    net.connect(0, 1, ProtocolVersion::V1_2_0);
    net.connect(0, 2, ProtocolVersion::V1_2_0);
    for &cid in &cids {
        net.fetch(0, cid);
    }
    net.run();
    assert!(net.nodes[0].events.contains(&Event::PeerMisbehaved {
        peer: PeerKey(1),
        reason: Misbehaviour::CorruptBlock
    }));
    let got = net.received(0);
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|(_, p)| *p == PeerKey(2)));
    assert_eq!(net.nodes[0].store.len(), 10);
    net.assert_store_sound(0, &cids);
    // The cut-off peer is gone from the engine.
    assert_eq!(net.nodes[0].engine.ledger_len(PeerKey(1)), None);
}

#[test]
fn dont_have_moves_the_want_to_the_next_provider() {
    let mut net = Net::new(3);
    let first = put(&mut net.nodes[1].store, 1);
    let second = put(&mut net.nodes[2].store, 2);
    net.connect(0, 1, ProtocolVersion::V1_2_0);
    net.fetch(0, first);
    net.run();
    // Node 1 is now a proven provider: it gets the want-block straight away for the next
    // block, answers DONT_HAVE, and node 2 (who said HAVE) serves it.
    net.connect(0, 2, ProtocolVersion::V1_2_0);
    net.fetch(0, second);
    let start = net.now;
    net.run();
    assert_eq!(
        net.received(0),
        vec![(first, PeerKey(1)), (second, PeerKey(2))]
    );
    assert!(
        net.now - start < Duration::from_secs(1),
        "no timeout was needed"
    );
}

#[test]
fn silent_provider_times_out_and_the_want_moves_on() {
    let mut net = Net::new(3);
    net.nodes[1].behaviour = Behaviour::WithholdBlocks;
    net.nodes[2].latency = Duration::from_millis(100);
    let (cid, _) = block(7);
    put(&mut net.nodes[1].store, 7);
    put(&mut net.nodes[2].store, 7);
    net.connect(0, 1, ProtocolVersion::V1_2_0);
    net.connect(0, 2, ProtocolVersion::V1_2_0);
    let start = net.now;
    net.fetch(0, cid);
    net.run();
    assert_eq!(net.received(0), vec![(cid, PeerKey(2))]);
    assert!(net.now - start >= config().block_timeout);
}

#[test]
fn fetch_fails_after_the_fetch_timeout() {
    let mut net = Net::new(2);
    net.connect(0, 1, ProtocolVersion::V1_2_0);
    let (cid, _) = block(3);
    net.fetch(0, cid);
    net.run();
    assert_eq!(
        net.nodes[0].events,
        vec![Event::FetchFailed {
            cid,
            reason: FetchFailure::Timeout
        }]
    );
    assert_eq!(net.nodes[0].engine.want_count(), 0);
}

#[test]
fn legacy_peers_exchange_blocks() {
    for version in [ProtocolVersion::V1_0_0, ProtocolVersion::V1_1_0] {
        let mut net = Net::new(2);
        let (_, data) = block(5);
        let cid = Cid::new_v0(crate::multihash::Multihash::sha2_256(&data)).unwrap();
        net.nodes[0]
            .store
            .put(Block::verify(cid, &data).unwrap())
            .unwrap();
        net.connect(0, 1, version);
        net.fetch(1, cid);
        net.run();
        assert_eq!(net.received(1), vec![(cid, PeerKey(0))], "{version:?}");
    }
}

#[test]
fn a_block_that_arrives_later_is_served_to_waiting_peers() {
    // 2 wants a block that 1 does not have yet; 1 fetches it from 0; 2 then gets it from 1.
    let mut net = Net::new(3);
    let cid = put(&mut net.nodes[0].store, 9);
    net.connect(1, 2, ProtocolVersion::V1_2_0);
    net.fetch(2, cid);
    net.run_until(net.now + Duration::from_millis(100));
    net.connect(0, 1, ProtocolVersion::V1_2_0);
    net.fetch(1, cid);
    net.run_until(net.now + Duration::from_secs(5));
    assert_eq!(net.received(1), vec![(cid, PeerKey(0))]);
    assert_eq!(net.received(2), vec![(cid, PeerKey(1))]);
}

#[test]
fn serving_answers_presences_and_respects_cancel() {
    let mut engine = Engine::new(config());
    let mut store = MemoryBlockStore::new();
    let held = put(&mut store, 1);
    let (missing, _) = block(2);
    let (cancelled, _) = block(3);
    let peer = PeerKey(4);
    engine
        .peer_connected(peer, ProtocolVersion::V1_2_0)
        .unwrap();
    let mut body = vec![0u8; 1024];
    let mut w = MessageWriter::new(&mut body);
    w.wantlist(
        false,
        [
            WantlistEntry::want(held, WantType::Have, true),
            WantlistEntry::want(missing, WantType::Block, true),
            WantlistEntry::want(cancelled, WantType::Block, true),
            WantlistEntry::cancel(cancelled),
        ],
    )
    .unwrap();
    let body = w.finish().to_vec();
    let now = Instant::from_secs(1);
    engine.handle_message(now, peer, &body, &mut store).unwrap();
    assert_eq!(engine.ledger_len(peer), Some(2));
    let mut out = vec![0u8; 4096];
    let t = engine.poll_transmit(now, &store, &mut out).unwrap();
    assert_eq!(t.peer, peer);
    let f = frame::decode(&out[..t.len], usize::MAX).unwrap().unwrap();
    let msg = Message::decode(f.payload).unwrap();
    let presences: Vec<_> = msg.block_presences().collect();
    assert_eq!(
        presences,
        vec![
            BlockPresence {
                cid: held,
                presence: PresenceType::Have
            },
            BlockPresence {
                cid: missing,
                presence: PresenceType::DontHave
            },
        ]
    );
    assert_eq!(msg.payload().count(), 0);
    // The missing block waits in the ledger; nothing more to say until it arrives.
    assert_eq!(engine.ledger_len(peer), Some(1));
    assert!(engine.poll_transmit(now, &store, &mut out).is_none());
}

#[test]
fn wantlist_flood_cuts_the_peer_off() {
    let cfg = Config {
        max_wantlist_entries: 8,
        ..config()
    };
    let mut engine = Engine::new(cfg);
    let mut store = MemoryBlockStore::new();
    let peer = PeerKey(1);
    engine
        .peer_connected(peer, ProtocolVersion::V1_2_0)
        .unwrap();
    let mut body = vec![0u8; 4096];
    let mut w = MessageWriter::new(&mut body);
    w.wantlist(
        false,
        (0..9).map(|i| WantlistEntry::want(block(i).0, WantType::Have, true)),
    )
    .unwrap();
    let now = Instant::ZERO;
    assert_eq!(
        engine.handle_message(now, peer, w.finish(), &mut store),
        Err(HandleError::CutOff(Misbehaviour::WantlistOverflow))
    );
    assert_eq!(engine.ledger_len(peer), Some(0));
    assert_eq!(
        engine.handle_message(now, peer, &[], &mut store),
        Err(HandleError::CutOff(Misbehaviour::WantlistOverflow))
    );
    assert_eq!(
        engine.poll_event(),
        Some(Event::PeerMisbehaved {
            peer,
            reason: Misbehaviour::WantlistOverflow
        })
    );
    assert_eq!(engine.peer_count(), 0);
    assert_eq!(
        engine.handle_message(now, peer, &[], &mut store),
        Err(HandleError::UnknownPeer)
    );
    // Cancels do not fill the ledger, but a message of endless cancels is a flood as well.
    engine
        .peer_connected(peer, ProtocolVersion::V1_2_0)
        .unwrap();
    let mut body = vec![0u8; 8192];
    let mut w = MessageWriter::new(&mut body);
    w.wantlist(false, (0..17).map(|i| WantlistEntry::cancel(block(i).0)))
        .unwrap();
    assert_eq!(
        engine.handle_message(now, peer, w.finish(), &mut store),
        Err(HandleError::CutOff(Misbehaviour::WantlistOverflow))
    );
}

#[test]
fn oversized_and_malformed_messages_cut_the_peer_off() {
    let cfg = Config {
        max_message_len: 64,
        ..config()
    };
    let mut engine = Engine::new(cfg);
    let mut store = MemoryBlockStore::new();
    for (key, bytes, reason) in [
        (1, vec![0u8; 65], Misbehaviour::Oversized),
        (
            2,
            vec![0x0a, 0x05, 0x0a, 0x03, 0x0a, 0x01, 0x07],
            Misbehaviour::Malformed(crate::bitswap::message::MessageError::InvalidCid(
                crate::cid::CidError::UnsupportedVersion(7),
            )),
        ),
    ] {
        let peer = PeerKey(key);
        engine
            .peer_connected(peer, ProtocolVersion::V1_2_0)
            .unwrap();
        let err = engine.handle_message(Instant::ZERO, peer, &bytes, &mut store);
        assert!(matches!(err, Err(HandleError::CutOff(_))), "{err:?}");
        let event = engine.poll_event().unwrap();
        if key == 1 {
            assert_eq!(event, Event::PeerMisbehaved { peer, reason });
        }
    }
    // A frame whose prefix announces too much is refused before its payload arrives.
    let peer = PeerKey(3);
    engine
        .peer_connected(peer, ProtocolVersion::V1_2_0)
        .unwrap();
    let err = frame::decode(&[0x80, 0x01], engine.config().max_message_len).unwrap_err();
    engine.handle_frame_error(peer, err);
    assert_eq!(
        engine.poll_event(),
        Some(Event::PeerMisbehaved {
            peer,
            reason: Misbehaviour::Oversized
        })
    );
}

#[test]
fn tables_are_bounded() {
    let cfg = Config {
        max_peers: 2,
        max_wants: 2,
        ..config()
    };
    let mut engine = Engine::new(cfg);
    engine
        .peer_connected(PeerKey(1), ProtocolVersion::V1_2_0)
        .unwrap();
    assert_eq!(
        engine.peer_connected(PeerKey(1), ProtocolVersion::V1_2_0),
        Err(ConnectError::AlreadyConnected)
    );
    engine
        .peer_connected(PeerKey(2), ProtocolVersion::V1_2_0)
        .unwrap();
    assert_eq!(
        engine.peer_connected(PeerKey(3), ProtocolVersion::V1_2_0),
        Err(ConnectError::TooManyPeers)
    );
    engine.fetch(Instant::ZERO, block(1).0).unwrap();
    engine.fetch(Instant::ZERO, block(1).0).unwrap();
    engine.fetch(Instant::ZERO, block(2).0).unwrap();
    assert_eq!(
        engine.fetch(Instant::ZERO, block(3).0),
        Err(FetchError::TooManyWants)
    );
    engine.cancel(&block(1).0);
    assert!(!engine.is_wanted(&block(1).0));
    let blake = crate::multihash::Multihash::wrap(0xb220, &[0; 32]).unwrap();
    let mut engine = Engine::new(config());
    assert_eq!(
        engine.fetch(Instant::ZERO, Cid::new_v1(codec::RAW, blake).unwrap()),
        Err(FetchError::Unverifiable)
    );
}

#[test]
fn a_block_fetched_again_completes_again() {
    let mut net = Net::new(2);
    let cid = put(&mut net.nodes[0].store, 1);
    net.connect(0, 1, ProtocolVersion::V1_2_0);
    net.fetch(1, cid);
    net.run();
    // Take the block out of the store again and want it a second time.
    net.nodes[1].store = MemoryBlockStore::new();
    net.fetch(1, cid);
    net.run();
    assert_eq!(net.received(1).len(), 2);
}

#[test]
fn a_block_too_large_for_the_buffer_is_answered_as_missing() {
    let mut engine = Engine::new(config());
    let mut store = MemoryBlockStore::new();
    let data = vec![1u8; 2000];
    let cid = *Block::new_v1(codec::RAW, &data).unwrap().cid();
    store.put(Block::verify(cid, &data).unwrap()).unwrap();
    let peer = PeerKey(1);
    engine
        .peer_connected(peer, ProtocolVersion::V1_2_0)
        .unwrap();
    let mut body = vec![0u8; 256];
    let mut w = MessageWriter::new(&mut body);
    w.wantlist(false, [WantlistEntry::want(cid, WantType::Block, true)])
        .unwrap();
    engine
        .handle_message(Instant::ZERO, peer, w.finish(), &mut store)
        .unwrap();
    let mut out = vec![0u8; 512];
    assert!(engine.transmit_buffer_len() > MAX_BLOCK_LEN);
    let t = engine
        .poll_transmit(Instant::ZERO, &store, &mut out)
        .unwrap();
    let f = frame::decode(&out[..t.len], usize::MAX).unwrap().unwrap();
    let msg = Message::decode(f.payload).unwrap();
    assert_eq!(
        msg.block_presences().next().map(|p| p.presence),
        Some(PresenceType::DontHave)
    );
}
