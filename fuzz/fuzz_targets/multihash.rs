//! Multihashes: reading never panics, what reads writes back to the same bytes, and wrapping
//! the parsed code and digest gives the same multihash.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhizo_core::multihash::{MAX_ENCODED_LEN, Multihash};

fuzz_target!(|data: &[u8]| {
    let Ok((mh, used)) = Multihash::read(data) else {
        assert!(Multihash::from_bytes(data).is_err());
        return;
    };
    assert!(used <= MAX_ENCODED_LEN);
    assert_eq!(mh.encoded_len(), used);
    assert_eq!(&mh.to_bytes()[..], &data[..used]);
    assert_eq!(Multihash::wrap(mh.code(), mh.digest()), Ok(mh));
    assert_eq!(Multihash::from_bytes(data).is_ok(), used == data.len());
    if let Ok(true) = mh.verify(&data[used..]) {
        // A verified multihash is the computed one, or (sha2-256) a truncation of it.
        let full = Multihash::compute(mh.code(), &data[used..]).expect("verify computed it");
        assert_eq!(full.code(), mh.code());
        assert!(full.digest().starts_with(mh.digest()));
    }
});
