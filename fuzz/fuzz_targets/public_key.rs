//! Public keys: decoding never panics, what decodes re-encodes to the same bytes and gives the
//! same key back, and verifying an arbitrary signature never panics (and a fixed Ed25519 key's
//! real signature still verifies).
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhizo_core::identity::{Keypair, PeerId, PublicKey};

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let (key_bytes, rest) = data.split_at(split);
    let key_bytes = key_bytes.get(1..).unwrap_or_default();
    for candidate in [data, key_bytes] {
        if let Ok(key) = PublicKey::decode(candidate) {
            assert_eq!(&key.to_protobuf()[..], candidate);
            assert_eq!(PublicKey::decode(&key.to_protobuf()).as_ref(), Ok(&key));
            let id = PeerId::from_public_key(&key);
            assert!(id.matches(&key));
            if let Some(embedded) = id.public_key() {
                assert_eq!(embedded, Ok(key.clone()));
            }
            let _ = key.verify(rest, rest);
        }
    }
    let keypair = Keypair::from_seed([5; 32]);
    let sig = keypair.sign(data);
    assert!(keypair.public().verify(data, &sig).is_ok());
    if data != b"x" {
        assert!(keypair.public().verify(b"x", &sig).is_err());
    }
});
