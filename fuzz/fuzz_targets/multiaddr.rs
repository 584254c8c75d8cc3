//! Multiaddr: binary parsing of arbitrary bytes and text parsing of arbitrary strings never
//! panic, and whatever parses survives print -> parse unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhizo_core::multiaddr::{MultiaddrBuf, MultiaddrRef};

/// Large enough for any input libFuzzer hands in by default (-max_len 4096).
type Big = MultiaddrBuf<8192>;

fuzz_target!(|data: &[u8]| {
    // Binary: bytes -> view -> text -> owned: the same bytes.
    if let Ok(view) = MultiaddrRef::try_from_bytes(data) {
        let text = view.to_string();
        let again = Big::parse(&text).expect("printed text parses");
        assert_eq!(again.as_bytes(), data, "{text}");
        assert_eq!(view.iter().count(), again.iter().count());
        if let Some((before, _)) = view.split_last() {
            assert!(view.starts_with(before));
        }
    }
    // Text: string -> owned -> text -> owned: the same multiaddr, and printing is stable.
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(addr) = Big::parse(text) {
            let printed = addr.to_string();
            let again = Big::parse(&printed).expect("printed text parses");
            assert_eq!(again, addr, "{text} -> {printed}");
            assert_eq!(again.to_string(), printed);
            let view = MultiaddrRef::try_from_bytes(addr.as_bytes()).expect("valid bytes");
            assert_eq!(view, addr.view());
        }
    }
});
