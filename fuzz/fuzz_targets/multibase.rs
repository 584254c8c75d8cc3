//! Multibase text: decoding never panics, and decoded bytes re-encode in the same base to text
//! that decodes to the same bytes (and, letter case aside, to the same text).
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhizo_core::multibase;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut out = vec![0u8; text.len()];
    let Ok((base, n)) = multibase::decode(text, &mut out) else {
        return;
    };
    let mut again = vec![0u8; multibase::encoded_len(base, n)];
    let encoded = multibase::encode(base, &out[..n], &mut again).expect("sized by encoded_len");
    let mut back = vec![0u8; encoded.len()];
    assert_eq!(multibase::decode(encoded, &mut back), Ok((base, n)));
    assert_eq!(back[..n], out[..n]);
    // Every supported base is canonical up to letter case (no padding or trailing-bit slack).
    assert!(encoded.eq_ignore_ascii_case(text));
});
