//! Two Bitswap engines exchanging messages on a virtual clock, driven by fuzzer-chosen
//! operations, with forged messages and corrupt blocks injected. Invariants: no panic; only
//! blocks whose bytes hash to their CID reach a store; every table stays within the
//! configuration; every message sent decodes and respects the peer's version and the size
//! limit.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rhizo_core::bitswap::ProtocolVersion;
use rhizo_core::bitswap::engine::{Config, HeapBitswapEngine, PeerKey};
use rhizo_core::bitswap::message::{CidPrefix, Message, MessageWriter, WantType, WantlistEntry};
use rhizo_core::block::{Block, BlockStore, MemoryBlockStore};
use rhizo_core::cid::{Cid, codec};
use rhizo_core::time::{Duration, Instant};
use rhizo_core::wire::frame;

#[derive(Arbitrary, Debug)]
enum Op {
    Fetch {
        node: bool,
        block: u8,
    },
    Cancel {
        node: bool,
        block: u8,
    },
    Put {
        node: bool,
        block: u8,
    },
    Deliver {
        to: bool,
    },
    DeliverAll,
    Advance {
        millis: u16,
    },
    Disconnect,
    Reconnect {
        version: u8,
    },
    Inject {
        to: bool,
        bytes: Vec<u8>,
    },
    Want {
        to: bool,
        block: u8,
        have: bool,
        dont_have: bool,
        cancel: bool,
    },
    CorruptBlock {
        to: bool,
        block: u8,
    },
    Presence {
        to: bool,
        block: u8,
        have: bool,
    },
}

/// A store that checks, independently of the engine, that every block put hashes to its CID.
#[derive(Default)]
struct CheckedStore(MemoryBlockStore);

impl BlockStore for CheckedStore {
    type Error = <MemoryBlockStore as BlockStore>::Error;
    fn has(&self, cid: &Cid) -> Result<bool, Self::Error> {
        self.0.has(cid)
    }
    fn block_len(&self, cid: &Cid) -> Result<Option<usize>, Self::Error> {
        self.0.block_len(cid)
    }
    fn read(&self, cid: &Cid, out: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        self.0.read(cid, out)
    }
    fn put(&mut self, block: Block<'_>) -> Result<(), Self::Error> {
        assert!(block.cid().hash().verify(block.data()).unwrap());
        self.0.put(block)
    }
}

fn block(i: u8) -> (Cid, Vec<u8>) {
    let data = vec![i; 1 + usize::from(i % 16) * 37];
    (*Block::new_v1(codec::RAW, &data).unwrap().cid(), data)
}

const CONFIG: Config = Config {
    max_message_len: 4096,
    max_peers: 4,
    max_wants: 8,
    max_wantlist_entries: 8,
    max_outstanding_blocks_per_peer: 3,
    have_timeout: Duration::from_millis(300),
    block_timeout: Duration::from_millis(700),
    fetch_timeout: Duration::from_secs(5),
    initial_latency: Duration::from_millis(50),
};

struct Side {
    engine: HeapBitswapEngine,
    store: CheckedStore,
    inbox: Vec<Vec<u8>>,
}

fn version(v: u8) -> ProtocolVersion {
    match v % 3 {
        0 => ProtocolVersion::V1_2_0,
        1 => ProtocolVersion::V1_1_0,
        _ => ProtocolVersion::V1_0_0,
    }
}

fn one_message(write: impl FnOnce(&mut MessageWriter<'_>)) -> Vec<u8> {
    let mut buf = vec![0u8; 8192];
    let mut w = MessageWriter::new(&mut buf);
    write(&mut w);
    w.finish().to_vec()
}

fuzz_target!(|ops: Vec<Op>| {
    let mut now = Instant::from_secs(1);
    let mut sides = [0, 1].map(|_| Side {
        engine: HeapBitswapEngine::new(CONFIG),
        store: CheckedStore::default(),
        inbox: Vec::new(),
    });
    let mut connected = Some(ProtocolVersion::V1_2_0);
    for s in 0..2 {
        sides[s]
            .engine
            .peer_connected(PeerKey(1 - s as u32), ProtocolVersion::V1_2_0)
            .unwrap();
    }
    let mut buf = vec![0u8; 8192];
    for op in ops.into_iter().take(200) {
        match op {
            Op::Fetch { node, block: b } => {
                let _ = sides[usize::from(node)].engine.fetch(now, block(b).0);
            }
            Op::Cancel { node, block: b } => sides[usize::from(node)].engine.cancel(&block(b).0),
            Op::Put { node, block: b } => {
                let (cid, data) = block(b);
                let side = &mut sides[usize::from(node)];
                side.store.put(Block::verify(cid, &data).unwrap()).unwrap();
            }
            Op::Deliver { to } => {
                let side = &mut sides[usize::from(to)];
                if !side.inbox.is_empty() {
                    let m = side.inbox.remove(0);
                    let key = PeerKey(1 - u32::from(to));
                    let _ = side.engine.handle_message(now, key, &m, &mut side.store);
                }
            }
            Op::DeliverAll => {
                for (s, side) in sides.iter_mut().enumerate() {
                    for m in std::mem::take(&mut side.inbox) {
                        let key = PeerKey(1 - s as u32);
                        let _ = side.engine.handle_message(now, key, &m, &mut side.store);
                    }
                }
            }
            Op::Advance { millis } => {
                now = now + Duration::from_millis(u64::from(millis));
                for side in sides.iter_mut() {
                    if side.engine.poll_timeout().is_some_and(|t| t <= now) {
                        side.engine.handle_timeout(now);
                    }
                }
            }
            Op::Disconnect => {
                for (s, side) in sides.iter_mut().enumerate() {
                    side.engine.peer_disconnected(PeerKey(1 - s as u32));
                    side.inbox.clear();
                }
                connected = None;
            }
            Op::Reconnect { version: v } => {
                let v = version(v);
                for (s, side) in sides.iter_mut().enumerate() {
                    side.engine.peer_disconnected(PeerKey(1 - s as u32));
                    // A cut-off peer stays until its event is polled: drain first.
                    while side.engine.poll_event().is_some() {}
                    side.engine.peer_disconnected(PeerKey(1 - s as u32));
                    side.engine
                        .peer_connected(PeerKey(1 - s as u32), v)
                        .unwrap();
                    side.inbox.clear();
                }
                connected = Some(v);
            }
            // Forged traffic, as if the other side had sent it.
            Op::Inject { to, bytes } => {
                let side = &mut sides[usize::from(to)];
                let _ = side.engine.handle_message(
                    now,
                    PeerKey(1 - u32::from(to)),
                    &bytes,
                    &mut side.store,
                );
            }
            Op::Want {
                to,
                block: b,
                have,
                dont_have,
                cancel,
            } => {
                let cid = block(b).0;
                let entry = if cancel {
                    WantlistEntry::cancel(cid)
                } else {
                    WantlistEntry::want(
                        cid,
                        if have {
                            WantType::Have
                        } else {
                            WantType::Block
                        },
                        dont_have,
                    )
                };
                let m = one_message(|w| w.wantlist(false, [entry]).unwrap());
                let side = &mut sides[usize::from(to)];
                let _ = side.engine.handle_message(
                    now,
                    PeerKey(1 - u32::from(to)),
                    &m,
                    &mut side.store,
                );
            }
            Op::CorruptBlock { to, block: b } => {
                let (cid, mut data) = block(b);
                data[0] ^= 0x80;
                let m = one_message(|w| w.payload_block(&CidPrefix::of(&cid), &data).unwrap());
                let side = &mut sides[usize::from(to)];
                let _ = side.engine.handle_message(
                    now,
                    PeerKey(1 - u32::from(to)),
                    &m,
                    &mut side.store,
                );
            }
            Op::Presence { to, block: b, have } => {
                use rhizo_core::bitswap::message::{BlockPresence, PresenceType};
                let presence = BlockPresence {
                    cid: block(b).0,
                    presence: if have {
                        PresenceType::Have
                    } else {
                        PresenceType::DontHave
                    },
                };
                let m = one_message(|w| w.block_presence(&presence).unwrap());
                let side = &mut sides[usize::from(to)];
                let _ = side.engine.handle_message(
                    now,
                    PeerKey(1 - u32::from(to)),
                    &m,
                    &mut side.store,
                );
            }
        }
        // Drain both engines; check what they send.
        for s in 0..2 {
            loop {
                let side = &mut sides[s];
                let Some(t) = side.engine.poll_transmit(now, &side.store, &mut buf) else {
                    break;
                };
                let f = frame::decode(&buf[..t.len], CONFIG.max_message_len)
                    .expect("within the limit")
                    .expect("a whole frame");
                assert_eq!(f.consumed, t.len);
                let msg = Message::decode(f.payload).expect("what the engine sends decodes");
                let v = connected.expect("nothing is sent to a disconnected peer");
                if !v.has_presences() {
                    assert_eq!(msg.block_presences().count(), 0);
                    assert!(
                        msg.wantlist()
                            .all(|e| e.want_type == WantType::Block && !e.send_dont_have)
                    );
                }
                if !v.has_payload() {
                    assert_eq!(msg.payload().count(), 0);
                } else {
                    assert_eq!(msg.blocks().count(), 0);
                }
                sides[1 - s].inbox.push(f.payload.to_vec());
                assert!(sides[1 - s].inbox.len() < 10_000);
            }
            while sides[s].engine.poll_event().is_some() {}
            let e = &sides[s].engine;
            assert!(e.want_count() <= CONFIG.max_wants);
            assert!(e.peer_count() <= CONFIG.max_peers);
            let peer = PeerKey(1 - s as u32);
            assert!(e.ledger_len(peer).unwrap_or(0) <= CONFIG.max_wantlist_entries);
        }
    }
});
