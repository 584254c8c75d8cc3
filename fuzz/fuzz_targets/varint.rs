//! Unsigned varints: decoding never panics, and what decodes re-encodes to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhizo_core::wire::varint;

fuzz_target!(|data: &[u8]| {
    if let Ok((value, len)) = varint::decode(data) {
        assert!(len <= varint::MAX_LEN);
        let again = varint::Varint::new(value).expect("decoded values fit");
        assert_eq!(again.as_bytes(), &data[..len]);
    }
});
