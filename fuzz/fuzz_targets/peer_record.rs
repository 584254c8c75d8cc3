//! Peer records: decoding and opening arbitrary bytes never panic; a decoded record's
//! addresses re-encode (with its PeerId and seq) into a record that decodes to the same fields.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhizo_core::identity::peer_record::{PeerRecord, SignedPeerRecord, encode, encoded_len};

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = PeerRecord::decode(data) {
        let addresses: Vec<&[u8]> = record.addresses().collect();
        let len = encoded_len(&record.peer_id(), record.seq(), addresses.iter().copied());
        let mut out = vec![0u8; len];
        let again = encode(
            &record.peer_id(),
            record.seq(),
            addresses.iter().copied(),
            &mut out,
        )
        .expect("sized by encoded_len");
        let back = PeerRecord::decode(again).expect("re-encoded record decodes");
        assert_eq!(back.peer_id(), record.peer_id());
        assert_eq!(back.seq(), record.seq());
        assert!(back.addresses().eq(addresses.iter().copied()));
    }
    if let Ok(signed) = SignedPeerRecord::open(data) {
        assert!(signed.record.peer_id().matches(&signed.envelope.public_key));
    }
});
