//! Signed envelopes: opening arbitrary bytes never panics and never accepts a forgery; an
//! envelope sealed over the input opens to the same payload, and only for its own domain.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhizo_core::identity::Keypair;
use rhizo_core::identity::envelope::{open, seal};
use rhizo_core::wire::varint::Varint;

const DOMAIN: &str = "rhizo-fuzz";

fuzz_target!(|data: &[u8]| {
    if let Ok(opened) = open(data, DOMAIN) {
        // Streamed verification agrees with verifying the concatenated signing input, and a
        // changed signature fails.
        let mut input = Vec::new();
        for field in [DOMAIN.as_bytes(), opened.payload_type, opened.payload] {
            input.extend_from_slice(&Varint::new(field.len() as u64).unwrap());
            input.extend_from_slice(field);
        }
        assert!(opened.public_key.verify(&input, opened.signature).is_ok());
        let mut bad = opened.signature.to_vec();
        if let Some(last) = bad.last_mut() {
            *last ^= 0x40;
        }
        assert!(opened.public_key.verify(&input, &bad).is_err());
    }
    let keypair = Keypair::from_seed([1; 32]);
    let (payload_type, payload) = data.split_at(data.len().min(4));
    let mut out = vec![0u8; data.len() + 256];
    let sealed = seal(&keypair, DOMAIN, payload_type, payload, &mut out).expect("sized above");
    let opened = open(sealed, DOMAIN).expect("what we seal opens");
    assert_eq!(opened.payload_type, payload_type);
    assert_eq!(opened.payload, payload);
    assert_eq!(opened.public_key, keypair.public());
    assert!(open(sealed, "rhizo-fuzz2").is_err());
});
