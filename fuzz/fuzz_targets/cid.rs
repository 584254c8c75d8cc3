//! CIDs: binary and text parsing never panic; what parses writes back (binary: the same bytes;
//! text: canonical text and every base's text that parse to the same CID).
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhizo_core::cid::{Cid, MAX_ENCODED_LEN, MAX_TEXT_LEN, Version};
use rhizo_core::multibase::Base;

fn check_text(cid: &Cid) {
    let canonical = cid.to_string();
    assert!(canonical.len() <= MAX_TEXT_LEN);
    assert_eq!(Cid::parse(&canonical), Ok(*cid));
    for base in Base::ALL {
        let mut buf = [0u8; MAX_TEXT_LEN];
        match cid.encode(base, &mut buf) {
            Ok(text) => assert_eq!(Cid::parse_with_base(text), Ok((*cid, base))),
            Err(e) => assert!(
                cid.version() == Version::V0 && base != Base::Base58Btc,
                "{e}"
            ),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok((cid, used)) = Cid::read(data) {
        assert!(used <= MAX_ENCODED_LEN);
        assert_eq!(cid.encoded_len(), used);
        assert_eq!(&cid.to_bytes()[..], &data[..used]);
        assert_eq!(Cid::from_bytes(data).is_ok(), used == data.len());
        check_text(&cid);
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok((cid, base)) = Cid::parse_with_base(text)
    {
        let mut buf = [0u8; MAX_TEXT_LEN];
        let again = cid.encode(base, &mut buf);
        match cid.version() {
            // Same base: the same text up to letter case.
            Version::V1 => assert!(again.expect("any base").eq_ignore_ascii_case(text)),
            // `Qm...` comes back as it was; a multibase-wrapped CIDv0 comes back as `Qm...`.
            Version::V0 if text.starts_with("Qm") => assert_eq!(again, Ok(text)),
            Version::V0 => {}
        }
        check_text(&cid);
    }
});
