//! Identify messages: decoding never panics, and a message re-encoded from its view with the
//! builder decodes to the same fields, in no more bytes than the input (unknown and repeated
//! singular fields are dropped, varints made minimal).
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhizo_core::identify::{Identify, IdentifyBuilder, MAX_MESSAGE_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((framed, consumed))) = Identify::decode_frame(data) {
        assert!(consumed <= data.len());
        assert!(framed.as_bytes().len() <= MAX_MESSAGE_LEN);
    }
    let Ok(message) = Identify::decode(data) else {
        return;
    };
    let addrs: Vec<&[u8]> = message.listen_addrs().collect();
    let protocols: Vec<&str> = message.protocols().collect();
    let builder = IdentifyBuilder {
        protocol_version: message.protocol_version(),
        agent_version: message.agent_version(),
        public_key: message.public_key(),
        listen_addrs: &addrs,
        observed_addr: message.observed_addr(),
        protocols: &protocols,
        signed_peer_record: message.signed_peer_record(),
    };
    let mut out = vec![0u8; builder.encoded_len()];
    let len = builder
        .encode(&mut out)
        .expect("the buffer has encoded_len bytes");
    assert_eq!(len, out.len());
    assert!(len <= data.len());
    let again = Identify::decode(&out).expect("what the builder writes decodes");
    assert_eq!(again.protocol_version(), message.protocol_version());
    assert_eq!(again.agent_version(), message.agent_version());
    assert_eq!(again.public_key(), message.public_key());
    assert!(again.listen_addrs().eq(message.listen_addrs()));
    assert_eq!(again.observed_addr(), message.observed_addr());
    assert!(again.protocols().eq(message.protocols()));
    assert_eq!(again.signed_peer_record(), message.signed_peer_record());
    // The frame holds the same message.
    let mut framed = vec![0u8; builder.frame_len()];
    builder
        .encode_frame(&mut framed)
        .expect("the buffer has frame_len bytes");
    if len <= MAX_MESSAGE_LEN {
        let (from_frame, consumed) = Identify::decode_frame(&framed).unwrap().unwrap();
        assert_eq!(consumed, framed.len());
        assert_eq!(from_frame.as_bytes(), &out[..]);
    }
});
