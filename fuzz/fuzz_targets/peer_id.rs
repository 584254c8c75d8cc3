//! PeerIds: binary and text parsing never panics, and whatever parses round-trips through the
//! binary form, the base58 form and the CID form in every multibase.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhizo_core::identity::PeerId;
use rhizo_core::multibase::Base;

fn check(id: PeerId) {
    assert_eq!(PeerId::from_bytes(&id.to_bytes()), Ok(id));
    let text = id.to_string();
    assert_eq!(text.parse::<PeerId>(), Ok(id));
    for base in Base::ALL {
        assert_eq!(PeerId::parse(&id.to_cid_string(base)), Ok(id));
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(id) = PeerId::from_bytes(data) {
        assert_eq!(&id.to_bytes()[..], data);
        check(id);
    }
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(id) = PeerId::parse(text) {
            check(id);
        }
    }
});
