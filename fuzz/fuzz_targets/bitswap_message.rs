//! Bitswap messages: decoding never panics, and a decoded message written again with
//! `MessageWriter` decodes to the same entries, blocks, presences and hints.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhizo_core::bitswap::message::{CidPrefix, Message, MessageWriter};

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = Message::decode(data) else {
        return;
    };
    let mut buf = vec![0u8; data.len() + 64];
    let mut w = MessageWriter::new(&mut buf);
    let entries: Vec<_> = msg.wantlist().collect();
    w.wantlist(msg.full(), entries.iter().copied())
        .expect("a re-encoded message is no longer than the original");
    for block in msg.blocks() {
        w.raw_block(block).expect("room");
    }
    for p in msg.payload() {
        assert_eq!(CidPrefix::decode(&p.prefix.to_bytes()), Ok(p.prefix));
        if let Ok(cid) = p.prefix.cid_of(p.data) {
            assert_eq!(CidPrefix::of(&cid), p.prefix);
        }
        w.payload_block(&p.prefix, p.data).expect("room");
    }
    for p in msg.block_presences() {
        w.block_presence(&p).expect("room");
    }
    if msg.pending_bytes() != 0 {
        w.pending_bytes(msg.pending_bytes()).expect("room");
    }
    let again = Message::decode(w.finish()).expect("what we write decodes");
    assert_eq!(again.wantlist().collect::<Vec<_>>(), entries);
    assert_eq!(again.full(), msg.full());
    assert!(again.blocks().eq(msg.blocks()));
    assert!(again.payload().eq(msg.payload()));
    assert!(again.block_presences().eq(msg.block_presences()));
    assert_eq!(again.pending_bytes(), msg.pending_bytes());
});
