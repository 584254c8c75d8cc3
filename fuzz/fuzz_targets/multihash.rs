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
        assert_eq!(Multihash::compute(mh.code(), &data[used..]), Ok(mh));
    }
});
