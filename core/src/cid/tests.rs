use super::*;
use proptest::prelude::*;

/// The CID spec's examples (specs.ipfs.tech/cid, `src/cid.md` of ipfs/specs): the CIDv1 of the
/// raw bytes `hello`, in hex and in base32, with its human-readable breakdown
/// "base32 - cidv1 - raw - sha2-256-256-2cf24dba...".
const HELLO_HEX: &str = "015512202cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
const HELLO_TEXT: &str = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq";
const HELLO_DIGEST: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

/// The multiformats/cid README's example: "base58btc - cidv1 - raw - sha2-256-256-6e6ff795...".
const README_TEXT: &str = "zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA";
const README_DIGEST: &str = "6e6ff7950a36187a801613426e858dce686cd7d7e3c0fc42ee0330072d245c95";

/// The multihash README's sha2-256 of the text `multihash` in base58btc, which is also the
/// CIDv0 of a block with that hash.
const MULTIHASH_V0: &str = "QmYtUc4iTCbbfVSDNKvtQqrfyezPPnFvE33wFmutw9PBBk";

fn v0_bytes() -> Vec<u8> {
    Multihash::sha2_256(b"multihash").to_bytes().to_vec()
}

#[test]
fn spec_example_hello() {
    let cid = Cid::new_v1(codec::RAW, Multihash::sha2_256(b"hello")).unwrap();
    assert_eq!(hex::encode(cid.to_bytes()), HELLO_HEX);
    assert_eq!(cid.to_string(), HELLO_TEXT);
    assert_eq!(HELLO_TEXT.parse::<Cid>(), Ok(cid));
    assert_eq!(
        Cid::parse_with_base(HELLO_TEXT),
        Ok((cid, Base::Base32Lower))
    );
    assert_eq!(Cid::from_bytes(&hex::decode(HELLO_HEX).unwrap()), Ok(cid));
    assert_eq!(cid.version(), Version::V1);
    assert_eq!(cid.codec(), codec::RAW);
    assert_eq!(cid.hash().code(), multihash::code::SHA2_256);
    assert_eq!(hex::encode(cid.hash().digest()), HELLO_DIGEST);
    // Upper-case base32 names the same CID.
    let upper = HELLO_TEXT.to_ascii_uppercase();
    assert_eq!(Cid::parse_with_base(&upper), Ok((cid, Base::Base32Upper)));
    let mut buf = [0u8; MAX_TEXT_LEN];
    assert_eq!(cid.encode(Base::Base32Upper, &mut buf), Ok(&upper[..]));
}

#[test]
fn readme_example_base58_v1() {
    let (cid, base) = Cid::parse_with_base(README_TEXT).unwrap();
    assert_eq!(base, Base::Base58Btc);
    assert_eq!(cid.version(), Version::V1);
    assert_eq!(cid.codec(), codec::RAW);
    assert_eq!(cid.hash().code(), multihash::code::SHA2_256);
    assert_eq!(hex::encode(cid.hash().digest()), README_DIGEST);
    let mut buf = [0u8; MAX_TEXT_LEN];
    assert_eq!(cid.encode(Base::Base58Btc, &mut buf), Ok(README_TEXT));
    assert_eq!(cid.to_string().parse::<Cid>(), Ok(cid));
    assert!(cid.to_string().starts_with("bafkrei"));
}

#[test]
fn v0_text_and_binary() {
    let cid = Cid::new_v0(Multihash::sha2_256(b"multihash")).unwrap();
    assert_eq!(cid.to_string(), MULTIHASH_V0);
    assert_eq!(format!("{cid:?}"), format!("Cid({MULTIHASH_V0})"));
    assert_eq!(
        Cid::parse_with_base(MULTIHASH_V0),
        Ok((cid, Base::Base58Btc))
    );
    assert_eq!(cid.version(), Version::V0);
    assert_eq!(cid.codec(), codec::DAG_PB);
    assert_eq!(&cid.to_bytes()[..], &v0_bytes()[..]);
    assert_eq!(cid.encoded_len(), 34);
    assert_eq!(Cid::from_bytes(&v0_bytes()), Ok(cid));

    // The same content as CIDv1 differs as a CID but keeps codec and hash.
    let v1 = cid.to_v1();
    assert_ne!(v1, cid);
    assert_eq!(v1.version(), Version::V1);
    assert_eq!((v1.codec(), v1.hash()), (codec::DAG_PB, cid.hash()));
    assert_eq!(v1.to_v1(), v1);
    let mut bytes = vec![0x01, 0x70];
    bytes.extend_from_slice(&v0_bytes());
    assert_eq!(&v1.to_bytes()[..], &bytes[..]);
    assert_eq!(Cid::from_bytes(&bytes), Ok(v1));
    assert!(v1.to_string().starts_with("bafybei"));

    // A CIDv0 has no text form but base58btc.
    let mut buf = [0u8; MAX_TEXT_LEN];
    assert_eq!(
        cid.encode(Base::Base32Lower, &mut buf),
        Err(CidError::V0NotBase58(Base::Base32Lower))
    );
    assert_eq!(cid.encode(Base::Base58Btc, &mut buf), Ok(MULTIHASH_V0));
}

#[cfg(feature = "alloc")]
#[test]
fn multibase_wrapped_v0_is_a_v0() {
    let v0 = Cid::new_v0(Multihash::sha2_256(b"multihash")).unwrap();
    for base in [Base::Base58Btc, Base::Base32Lower, Base::Base16Upper] {
        let text = multibase::encode_to_string(base, &v0_bytes());
        assert_eq!(Cid::parse_with_base(&text), Ok((v0, base)), "{text}");
    }
}

#[test]
fn v0_needs_a_full_sha2_256() {
    assert_eq!(
        Cid::new_v0(Multihash::identity(&[0; 32]).unwrap()),
        Err(CidError::NotV0Multihash)
    );
    let sha512 = Multihash::wrap(multihash::code::SHA2_512, &[7; 64]).unwrap();
    assert_eq!(Cid::new_v0(sha512), Err(CidError::NotV0Multihash));
    // A CIDv1 may carry any hash, known to this crate or not.
    let v1 = Cid::new_v1(codec::DAG_CBOR, sha512).unwrap();
    assert_eq!(Cid::from_bytes(&v1.to_bytes()), Ok(v1));
    assert_eq!(
        Cid::new_v1(varint::MAX_VALUE + 1, sha512),
        Err(CidError::Varint(VarintError::Overflow))
    );
}

#[test]
fn binary_decoding_rules() {
    let v0 = v0_bytes();
    // An explicit version 0 is not a CIDv0.
    let mut explicit = vec![0x00, 0x70];
    explicit.extend_from_slice(&v0);
    assert_eq!(
        Cid::from_bytes(&explicit),
        Err(CidError::UnsupportedVersion(0))
    );
    // Reserved and unknown versions.
    for version in [2u8, 3, 0x7f] {
        let mut bytes = vec![version, 0x55];
        bytes.extend_from_slice(&v0);
        assert_eq!(
            Cid::from_bytes(&bytes),
            Err(CidError::UnsupportedVersion(u64::from(version)))
        );
    }
    // 0x12 not followed by 0x20 is not a CIDv0 but version 18.
    let sha256_wrong_len = [0x12, 0x21, 0x00];
    assert_eq!(
        Cid::from_bytes(&sha256_wrong_len),
        Err(CidError::UnsupportedVersion(0x12))
    );
    // A CIDv0 is exactly 34 bytes.
    assert_eq!(
        Cid::from_bytes(&v0[..33]),
        Err(CidError::Multihash(MultihashError::Truncated))
    );
    let mut longer = v0.clone();
    longer.push(0);
    assert_eq!(Cid::from_bytes(&longer), Err(CidError::TrailingBytes));
    assert_eq!(Cid::read(&longer).map(|(_, n)| n), Ok(34));
    // Non-minimal varints and trailing bytes after a CIDv1.
    let mut not_minimal = vec![0x01, 0xd5, 0x00];
    not_minimal.extend_from_slice(&v0);
    assert_eq!(
        Cid::from_bytes(&not_minimal),
        Err(CidError::Varint(VarintError::NotMinimal))
    );
    let mut trailing = hex::decode(HELLO_HEX).unwrap();
    trailing.push(0);
    assert_eq!(Cid::from_bytes(&trailing), Err(CidError::TrailingBytes));
    assert_eq!(
        Cid::from_bytes(&[]),
        Err(CidError::Varint(VarintError::Incomplete))
    );
    assert_eq!(
        Cid::from_bytes(&[0x01, 0x55]),
        Err(CidError::Multihash(MultihashError::Varint(
            VarintError::Incomplete
        )))
    );
}

#[test]
fn text_decoding_errors() {
    assert_eq!(
        Cid::parse(""),
        Err(CidError::Multibase(MultibaseError::Empty))
    );
    assert_eq!(
        Cid::parse("Qm"),
        Err(CidError::Multibase(MultibaseError::UnknownBase('Q')))
    );
    // 46 characters starting `Qm`, but `0` is not base58.
    let bad = MULTIHASH_V0.replace('Y', "0");
    assert!(matches!(
        Cid::parse(&bad),
        Err(CidError::Multibase(MultibaseError::InvalidCharacter(_)))
    ));
    // The right length and alphabet, but not a CID.
    assert!(Cid::parse("bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4ye").is_err());
    assert_eq!(
        Cid::parse(&"b".repeat(MAX_TEXT_LEN + 1)),
        Err(CidError::TextTooLong)
    );
    assert_eq!(Cid::parse(&"f01".repeat(60)), Err(CidError::TextTooLong));
    assert_eq!(
        Cid::parse(&format!("z{}", "1".repeat(120))),
        Err(CidError::TextTooLong)
    );
}

#[test]
fn buffers() {
    let cid = Cid::new_v1(codec::RAW, Multihash::sha2_256(b"hello")).unwrap();
    let mut small = [0u8; 10];
    assert_eq!(
        cid.write_to(&mut small),
        Err(BufferTooSmall { required: 36 })
    );
    assert!(matches!(
        cid.encode(Base::Base32Lower, &mut small),
        Err(CidError::BufferTooSmall(_))
    ));
}

#[cfg(feature = "alloc")]
#[test]
fn alloc_conveniences() {
    let cid = Cid::new_v1(codec::RAW, Multihash::sha2_256(b"hello")).unwrap();
    assert_eq!(cid.to_vec(), hex::decode(HELLO_HEX).unwrap());
    assert_eq!(
        cid.to_string_of_base(Base::Base16Lower).unwrap(),
        format!("f{HELLO_HEX}")
    );
}

#[test]
fn largest_cid_fits_every_base() {
    let hash = Multihash::wrap(varint::MAX_VALUE, &[0xff; multihash::MAX_DIGEST_LEN]).unwrap();
    let cid = Cid::new_v1(varint::MAX_VALUE, hash).unwrap();
    assert_eq!(cid.encoded_len(), MAX_ENCODED_LEN);
    for base in Base::ALL {
        let mut buf = [0u8; MAX_TEXT_LEN];
        let text = cid.encode(base, &mut buf).unwrap();
        assert!(multibase::encoded_len(base, MAX_ENCODED_LEN) <= MAX_TEXT_LEN);
        assert_eq!(Cid::parse_with_base(text), Ok((cid, base)), "{base:?}");
    }
}

fn arb_hash() -> impl Strategy<Value = Multihash> {
    prop_oneof![
        any::<Vec<u8>>().prop_map(|d| Multihash::sha2_256(&d)),
        (
            0..=varint::MAX_VALUE,
            proptest::collection::vec(any::<u8>(), 0..=multihash::MAX_DIGEST_LEN)
        )
            .prop_filter_map("sha2-256 is 32 bytes", |(code, d)| {
                Multihash::wrap(code, &d).ok()
            }),
    ]
}

proptest! {
    #[test]
    fn v1_round_trips(codec in 0..=varint::MAX_VALUE, hash in arb_hash()) {
        let cid = Cid::new_v1(codec, hash).unwrap();
        let bytes = cid.to_bytes();
        prop_assert_eq!(bytes.len(), cid.encoded_len());
        prop_assert_eq!(Cid::from_bytes(&bytes), Ok(cid));
        prop_assert_eq!(cid.to_string().parse::<Cid>(), Ok(cid));
        for base in Base::ALL {
            let mut buf = [0u8; MAX_TEXT_LEN];
            let text = cid.encode(base, &mut buf).unwrap();
            prop_assert_eq!(Cid::parse_with_base(text), Ok((cid, base)));
        }
    }

    #[test]
    fn v0_round_trips(data in any::<Vec<u8>>()) {
        let cid = Cid::new_v0(Multihash::sha2_256(&data)).unwrap();
        let text = cid.to_string();
        prop_assert_eq!(text.len(), 46);
        prop_assert!(text.starts_with("Qm"));
        prop_assert_eq!(text.parse::<Cid>(), Ok(cid));
        prop_assert_eq!(Cid::from_bytes(&cid.to_bytes()), Ok(cid));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        if let Ok((cid, used)) = Cid::read(&bytes) {
            // Whatever reads writes back to exactly the bytes it came from.
            prop_assert_eq!(&cid.to_bytes()[..], &bytes[..used]);
        }
        let _ = Cid::from_bytes(&bytes);
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        if let Ok(cid) = Cid::parse(&text) {
            prop_assert_eq!(cid.to_string().parse::<Cid>(), Ok(cid));
        }
    }

    #[test]
    fn cid_shaped_text_never_panics(text in "(Qm|[bBfFkKzmuMUcC])[0-9a-zA-Z]{0,70}") {
        if let Ok((cid, base)) = Cid::parse_with_base(&text) {
            let mut buf = [0u8; MAX_TEXT_LEN];
            if let Ok(again) = cid.encode(base, &mut buf) {
                prop_assert_eq!(Cid::parse(again), Ok(cid));
            }
        }
    }
}
