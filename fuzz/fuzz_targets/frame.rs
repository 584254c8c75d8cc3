//! Length-prefixed frames: never a panic, never a payload above the limit, and a frame that
//! decodes re-encodes to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhizo_core::wire::frame;

fuzz_target!(|input: (u16, &[u8])| {
    let (max, data) = input;
    let max = usize::from(max);
    if let Ok(Some(f)) = frame::decode(data, max) {
        assert!(f.payload.len() <= max);
        let mut out = vec![0u8; frame::encoded_len(f.payload.len())];
        assert_eq!(frame::encode(f.payload, &mut out), Ok(f.consumed));
        assert_eq!(&out[..], &data[..f.consumed]);
    }
});
