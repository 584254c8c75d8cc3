use super::*;
use crate::cid::codec;
use crate::multihash::Multihash;
use proptest::prelude::*;

fn ok(bytes: &[u8]) -> Result<Vec<Cid>, DagCborError> {
    let mut links = Vec::new();
    validate(bytes, &mut |c| links.push(c)).map(|()| links)
}

#[test]
fn links_round_trip_through_minicbor() {
    let cid = Cid::new_v1(codec::RAW, Multihash::sha2_256(b"x")).unwrap();
    let mut buf = [0u8; 128];
    let mut e = Encoder::new(&mut buf[..]);
    e.map(2).unwrap();
    e.str("a").unwrap().u32(1).unwrap();
    e.str("link").unwrap();
    Link(cid).encode(&mut e, &mut ()).unwrap();
    let remaining = e.into_writer().len();
    let len = buf.len() - remaining;
    let bytes = &buf[..len];
    assert_eq!(
        &bytes[9..12],
        [0xd8, 0x2a, 0x58],
        "tag 42 over a byte string"
    );
    assert_eq!(ok(bytes).unwrap(), [cid]);
    let mut d = Decoder::new(bytes);
    assert_eq!(d.map().unwrap(), Some(2));
    assert_eq!(d.str().unwrap(), "a");
    assert_eq!(d.u32().unwrap(), 1);
    assert_eq!(d.str().unwrap(), "link");
    assert_eq!(Link::decode(&mut d, &mut ()).unwrap(), Link(cid));
}

#[test]
fn strictness() {
    assert_eq!(ok(&[0x18, 0x17]), Err(DagCborError::NotShortest));
    assert_eq!(ok(&[0x5f, 0xff]), Err(DagCborError::Indefinite));
    assert_eq!(ok(&[0xc1, 0x00]), Err(DagCborError::UnsupportedTag(1)));
    assert_eq!(ok(&[0xd8, 0x2a, 0x41, 0x00]), Err(DagCborError::InvalidCid));
    assert_eq!(ok(&[0xa1, 0x01, 0x01]), Err(DagCborError::NonStringKey));
    // {"b": 1, "a": 2}: out of order; {"aa": 1, "b": 2}: longer key first.
    assert_eq!(
        ok(&[0xa2, 0x61, b'b', 1, 0x61, b'a', 2]),
        Err(DagCborError::KeyOrder)
    );
    assert_eq!(
        ok(&[0xa2, 0x62, b'a', b'a', 1, 0x61, b'b', 2]),
        Err(DagCborError::KeyOrder)
    );
    assert!(ok(&[0xa2, 0x61, b'b', 1, 0x62, b'a', b'a', 2]).is_ok());
    assert_eq!(ok(&[0xf7]), Err(DagCborError::UnsupportedSimple(23)));
    assert_eq!(ok(&[0xf9, 0, 0]), Err(DagCborError::UnsupportedSimple(25)));
    let nan = [0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0];
    assert_eq!(ok(&nan), Err(DagCborError::NotFinite));
    assert!(ok(&[0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]).is_ok());
    assert_eq!(ok(&[0x01, 0x01]), Err(DagCborError::TrailingBytes));
    assert_eq!(ok(&[0x62, 0xff, 0xfe]), Err(DagCborError::InvalidUtf8));
    assert_eq!(ok(&[0x1c]), Err(DagCborError::Reserved));
    assert_eq!(
        ok(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        Err(DagCborError::Truncated)
    );
    let deep = vec![0x81; MAX_DEPTH + 2];
    assert_eq!(ok(&deep), Err(DagCborError::TooDeep));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = ok(&bytes);
    }
}
