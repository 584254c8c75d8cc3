use super::*;
use crate::block::Block;
use proptest::prelude::*;

/// The official message.proto (boxo `bitswap/message/pb/message.proto`), declared for prost by
/// hand so the tests can check our bytes against an independent encoder and decoder.
mod pb {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Message {
        #[prost(message, optional, tag = "1")]
        pub wantlist: Option<Wantlist>,
        #[prost(bytes = "vec", repeated, tag = "2")]
        pub blocks: Vec<Vec<u8>>,
        #[prost(message, repeated, tag = "3")]
        pub payload: Vec<Block>,
        #[prost(message, repeated, tag = "4")]
        pub block_presences: Vec<BlockPresence>,
        #[prost(int32, tag = "5")]
        pub pending_bytes: i32,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Wantlist {
        #[prost(message, repeated, tag = "1")]
        pub entries: Vec<Entry>,
        #[prost(bool, tag = "2")]
        pub full: bool,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Entry {
        #[prost(bytes = "vec", tag = "1")]
        pub block: Vec<u8>,
        #[prost(int32, tag = "2")]
        pub priority: i32,
        #[prost(bool, tag = "3")]
        pub cancel: bool,
        #[prost(int32, tag = "4")]
        pub want_type: i32,
        #[prost(bool, tag = "5")]
        pub send_dont_have: bool,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Block {
        #[prost(bytes = "vec", tag = "1")]
        pub prefix: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub data: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BlockPresence {
        #[prost(bytes = "vec", tag = "1")]
        pub cid: Vec<u8>,
        #[prost(int32, tag = "2")]
        pub r#type: i32,
    }
}

fn raw_cid(data: &[u8]) -> Cid {
    *Block::new_v1(codec::RAW, data).unwrap().cid()
}

fn v0_cid(data: &[u8]) -> Cid {
    Cid::new_v0(Multihash::sha2_256(data)).unwrap()
}

fn sample(buf: &mut [u8]) -> usize {
    let mut w = MessageWriter::new(buf);
    w.wantlist(
        true,
        [
            WantlistEntry::want(raw_cid(b"a"), WantType::Have, true),
            WantlistEntry {
                priority: -5,
                ..WantlistEntry::want(v0_cid(b"b"), WantType::Block, false)
            },
            WantlistEntry::cancel(raw_cid(b"c")),
        ],
    )
    .unwrap();
    w.raw_block(b"legacy").unwrap();
    w.payload_block(&CidPrefix::of(&raw_cid(b"data")), b"data")
        .unwrap();
    w.block_presence(&BlockPresence {
        cid: raw_cid(b"x"),
        presence: PresenceType::DontHave,
    })
    .unwrap();
    w.block_presence(&BlockPresence {
        cid: v0_cid(b"y"),
        presence: PresenceType::Have,
    })
    .unwrap();
    w.pending_bytes(1234).unwrap();
    w.len()
}

#[test]
fn writes_and_reads_every_field() {
    let mut buf = [0u8; 1024];
    let len = sample(&mut buf);
    let msg = Message::decode(&buf[..len]).unwrap();
    assert!(msg.full());
    let entries: Vec<_> = msg.wantlist().collect();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0].want_type, WantType::Have);
    assert!(entries[0].send_dont_have);
    assert_eq!(entries[1].priority, -5);
    assert_eq!(entries[1].cid, v0_cid(b"b"));
    assert!(entries[2].cancel);
    assert_eq!(msg.blocks().collect::<Vec<_>>(), vec![&b"legacy"[..]]);
    let payload: Vec<_> = msg.payload().collect();
    assert_eq!(payload[0].data, b"data");
    assert_eq!(payload[0].prefix.cid_of(b"data").unwrap(), raw_cid(b"data"));
    let presences: Vec<_> = msg.block_presences().collect();
    assert_eq!(presences[0].presence, PresenceType::DontHave);
    assert_eq!(presences[1].cid, v0_cid(b"y"));
    assert_eq!(msg.pending_bytes(), 1234);
}

#[test]
fn prost_reads_our_bytes_and_we_read_prost_bytes() {
    use prost::Message as _;
    let mut buf = [0u8; 1024];
    let len = sample(&mut buf);
    let theirs = pb::Message::decode(&buf[..len]).unwrap();
    let wl = theirs.wantlist.as_ref().unwrap();
    assert!(wl.full);
    assert_eq!(wl.entries.len(), 3);
    assert_eq!(wl.entries[0].want_type, 1);
    assert_eq!(wl.entries[1].priority, -5);
    assert_eq!(wl.entries[1].block, v0_cid(b"b").to_bytes().to_vec());
    assert_eq!(theirs.payload[0].prefix, vec![1, 0x55, 0x12, 0x20]);
    assert_eq!(theirs.block_presences[0].r#type, 1);
    assert_eq!(theirs.pending_bytes, 1234);
    // prost's encoding (canonical field order, proto3 defaults omitted) is byte-identical.
    assert_eq!(theirs.encode_to_vec(), &buf[..len]);

    let other = pb::Message {
        wantlist: Some(pb::Wantlist {
            entries: vec![pb::Entry {
                block: raw_cid(b"q").to_bytes().to_vec(),
                priority: i32::MAX,
                cancel: false,
                want_type: 0,
                send_dont_have: true,
            }],
            full: false,
        }),
        blocks: vec![],
        payload: vec![pb::Block {
            prefix: vec![0, 0x70, 0x12, 0x20],
            data: b"v0 block".to_vec(),
        }],
        block_presences: vec![],
        pending_bytes: -1,
    }
    .encode_to_vec();
    let msg = Message::decode(&other).unwrap();
    let e = msg.wantlist().next().unwrap();
    assert_eq!(
        (e.priority, e.want_type, e.send_dont_have),
        (i32::MAX, WantType::Block, true)
    );
    let p = msg.payload().next().unwrap();
    assert_eq!(p.prefix.version, Version::V0);
    assert_eq!(p.prefix.cid_of(p.data).unwrap(), v0_cid(b"v0 block"));
    assert_eq!(msg.pending_bytes(), -1);
}

#[test]
fn block_in_place_matches_the_copying_writers() {
    let data = vec![7u8; 300];
    let prefix = CidPrefix::of(&raw_cid(&data));
    for p in [Some(&prefix), None] {
        let mut a = [0u8; 512];
        let mut wa = MessageWriter::new(&mut a);
        wa.block_in_place::<()>(p, data.len(), |dst| {
            dst.copy_from_slice(&data);
            Ok(())
        })
        .unwrap();
        let la = wa.len();
        let mut b = [0u8; 512];
        let mut wb = MessageWriter::new(&mut b);
        match p {
            Some(p) => {
                assert_eq!(MessageWriter::payload_block_len(p, 300), la);
                wb.payload_block(p, &data).unwrap()
            }
            None => wb.raw_block(&data).unwrap(),
        }
        assert_eq!(&a[..la], wb.finish());
    }
    let mut small = [0u8; 100];
    let mut w = MessageWriter::new(&mut small);
    assert!(matches!(
        w.block_in_place::<()>(Some(&prefix), 300, |_| Ok(())),
        Err(InPlaceError::BufferTooSmall(_))
    ));
    assert_eq!(
        w.block_in_place(Some(&prefix), 10, |_| Err("store")),
        Err(InPlaceError::Fill("store"))
    );
    assert!(w.is_empty());
}

#[test]
fn entry_lengths_are_exact() {
    for e in [
        WantlistEntry::want(raw_cid(b"a"), WantType::Have, true),
        WantlistEntry {
            priority: -1,
            ..WantlistEntry::cancel(v0_cid(b"b"))
        },
    ] {
        let mut buf = [0u8; 256];
        let mut w = MessageWriter::new(&mut buf);
        w.wantlist(false, [e]).unwrap();
        assert_eq!(w.len(), MessageWriter::wantlist_len(e.encoded_len(), false));
    }
    let p = BlockPresence {
        cid: raw_cid(b"z"),
        presence: PresenceType::DontHave,
    };
    let mut buf = [0u8; 256];
    let mut w = MessageWriter::new(&mut buf);
    w.block_presence(&p).unwrap();
    assert_eq!(w.len(), p.encoded_len());
}

#[test]
fn invalid_messages_are_refused() {
    // An entry without a CID, a CID that does not parse, an unknown want type.
    let no_cid = [0x0a, 0x04, 0x0a, 0x02, 0x10, 0x01];
    assert_eq!(
        Message::decode(&no_cid),
        Err(MessageError::Proto(ProtoError::MissingField { field: 1 }))
    );
    let bad_cid = [0x0a, 0x05, 0x0a, 0x03, 0x0a, 0x01, 0x07];
    assert!(matches!(
        Message::decode(&bad_cid),
        Err(MessageError::InvalidCid(_))
    ));
    let mut buf = [0u8; 128];
    let mut w = Writer::new(&mut buf);
    w.message(1, |w| {
        w.message(1, |w| {
            w.bytes(1, &raw_cid(b"a").to_bytes())?;
            w.varint(4, 2).map(drop)
        })
        .map(drop)
    })
    .unwrap();
    assert_eq!(
        Message::decode(w.finish()),
        Err(MessageError::Proto(ProtoError::InvalidValue { field: 4 }))
    );
    // A payload block with a version-0 prefix that is not dag-pb/sha2-256/32.
    let mut buf = [0u8; 128];
    let mut w = Writer::new(&mut buf);
    w.message(3, |w| w.bytes(1, &[0, 0x55, 0x12, 0x20]).map(drop))
        .unwrap();
    assert_eq!(
        Message::decode(w.finish()),
        Err(MessageError::InvalidPrefix)
    );
    // A raw block over 2 MiB.
    let big = vec![0u8; MAX_BLOCK_LEN + 1];
    let mut buf = vec![0u8; MAX_BLOCK_LEN + 16];
    let mut w = MessageWriter::new(&mut buf);
    w.raw_block(&big).unwrap();
    assert_eq!(
        Message::decode(w.finish()),
        Err(MessageError::BlockTooLarge(MAX_BLOCK_LEN + 1))
    );
}

#[test]
fn prefix_rebuilds_cids_and_refuses_truncation() {
    let data = b"some block";
    for cid in [raw_cid(data), v0_cid(data)] {
        let prefix = CidPrefix::of(&cid);
        assert_eq!(CidPrefix::decode(&prefix.to_bytes()), Ok(prefix));
        assert_eq!(prefix.cid_of(data), Ok(cid));
    }
    let truncated = CidPrefix {
        hash_len: 20,
        ..CidPrefix::of(&raw_cid(data))
    };
    assert!(truncated.cid_of(data).is_err());
    let unknown = CidPrefix {
        hash_code: 0xb220,
        ..CidPrefix::of(&raw_cid(data))
    };
    assert!(unknown.cid_of(data).is_err());
    assert_eq!(
        CidPrefix::decode(&[1, 0x55, 0x12]),
        Err(MessageError::InvalidPrefix)
    );
    assert_eq!(
        CidPrefix::decode(&[1, 0x55, 0x12, 0x20, 0]),
        Err(MessageError::InvalidPrefix)
    );
}

fn arb_cid() -> impl Strategy<Value = Cid> {
    (proptest::collection::vec(any::<u8>(), 0..16), any::<bool>())
        .prop_map(|(d, v0)| if v0 { v0_cid(&d) } else { raw_cid(&d) })
}

fn arb_entry() -> impl Strategy<Value = WantlistEntry> {
    (
        arb_cid(),
        any::<i32>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(cid, priority, cancel, have, send_dont_have)| WantlistEntry {
                cid,
                priority,
                cancel,
                want_type: if have {
                    WantType::Have
                } else {
                    WantType::Block
                },
                send_dont_have,
            },
        )
}

proptest! {
    #[test]
    fn round_trip(
        entries in proptest::collection::vec(arb_entry(), 0..6),
        full: bool,
        blocks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..4),
        presences in proptest::collection::vec((arb_cid(), any::<bool>()), 0..4),
        pending: i32,
    ) {
        let mut buf = vec![0u8; 4096];
        let mut w = MessageWriter::new(&mut buf);
        w.wantlist(full, entries.iter().copied()).unwrap();
        for b in &blocks {
            w.payload_block(&CidPrefix::of(&raw_cid(b)), b).unwrap();
            w.raw_block(b).unwrap();
        }
        let presences: Vec<_> = presences.into_iter().map(|(cid, dont)| BlockPresence {
            cid,
            presence: if dont { PresenceType::DontHave } else { PresenceType::Have },
        }).collect();
        for p in &presences {
            w.block_presence(p).unwrap();
        }
        w.pending_bytes(pending).unwrap();
        let bytes = w.finish();
        let msg = Message::decode(bytes).unwrap();
        prop_assert_eq!(msg.wantlist().collect::<Vec<_>>(), entries.clone());
        prop_assert_eq!(msg.full(), full);
        prop_assert_eq!(msg.blocks().map(<[u8]>::to_vec).collect::<Vec<_>>(), blocks.clone());
        for (p, b) in msg.payload().zip(&blocks) {
            prop_assert_eq!(p.data, &b[..]);
            prop_assert_eq!(p.prefix.cid_of(p.data).unwrap(), raw_cid(b));
        }
        prop_assert_eq!(msg.block_presences().collect::<Vec<_>>(), presences);
        prop_assert_eq!(msg.pending_bytes(), pending);
        // prost agrees on the bytes.
        use prost::Message as _;
        let theirs = pb::Message::decode(bytes).unwrap();
        prop_assert_eq!(theirs.pending_bytes, pending);
        prop_assert_eq!(theirs.wantlist.map_or(0, |w| w.entries.len()), entries.len());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(msg) = Message::decode(&bytes) {
            let _ = msg.full();
            let _ = msg.wantlist().count();
            let _ = msg.blocks().count();
            for p in msg.payload() {
                let _ = p.prefix.cid_of(p.data);
            }
            let _ = msg.block_presences().count();
            let _ = msg.pending_bytes();
        }
    }
}
