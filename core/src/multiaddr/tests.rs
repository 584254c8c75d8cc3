//! Tests of the multiaddr module: official vectors, unit cases, property tests.

use super::*;
use crate::multihash::{self, Multihash};
use core::net::{Ipv4Addr, Ipv6Addr};
use proptest::prelude::*;

type Big = MultiaddrBuf<4096>;

/// Protocol names of rows that rhizo does not implement (counted as skipped).
const OUT_OF_SCOPE: &[&str] = &[
    "onion",
    "onion3",
    "garlic64",
    "garlic32",
    "http-path",
    "memory",
];

fn out_of_scope(text: &str) -> bool {
    text.split('/').any(|s| OUT_OF_SCOPE.contains(&s))
}

fn rows(file: &str) -> impl Iterator<Item = &str> {
    file.lines().filter(|l| !l.starts_with('#'))
}

const VALID: &str = include_str!("../../tests/vectors/multiaddr/valid.txt");
const VALID_TEXT: &str = include_str!("../../tests/vectors/multiaddr/valid_text.txt");
const ROUNDTRIP_TEXT: &str = include_str!("../../tests/vectors/multiaddr/roundtrip_text.txt");
const INVALID_TEXT: &str = include_str!("../../tests/vectors/multiaddr/invalid_text.txt");
const INVALID_HEX: &str = include_str!("../../tests/vectors/multiaddr/invalid_hex.txt");

#[test]
fn vectors_valid_pairs() {
    let (mut checked, mut skipped) = (0, 0);
    for row in rows(VALID) {
        let (text, hex) = row.split_once(' ').expect("rows are 'text hex'");
        if out_of_scope(text) {
            skipped += 1;
            continue;
        }
        let bytes = hex::decode(hex).unwrap();
        let parsed = Big::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(hex::encode(parsed.as_bytes()), hex, "{text}");
        let view = MultiaddrRef::try_from_bytes(&bytes).unwrap_or_else(|e| panic!("{hex}: {e}"));
        assert_eq!(view.to_string(), text);
        assert_eq!(parsed, view);
        checked += 1;
    }
    assert_eq!((checked, skipped), (45, 7));
}

#[test]
fn vectors_valid_text() {
    let (mut checked, mut skipped) = (0, 0);
    for text in rows(VALID_TEXT) {
        if out_of_scope(text) {
            assert!(Big::parse(text).is_err(), "{text}");
            skipped += 1;
            continue;
        }
        let parsed = Big::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let printed = parsed.to_string();
        assert_eq!(Big::parse(&printed).unwrap(), parsed, "{text} -> {printed}");
        let view = MultiaddrRef::try_from_bytes(parsed.as_bytes()).unwrap();
        assert_eq!(view.iter().count(), parsed.iter().count());
        checked += 1;
    }
    assert_eq!((checked, skipped), (79, 24));
}

#[test]
fn vectors_roundtrip_text() {
    let (mut checked, mut skipped) = (0, 0);
    for text in rows(ROUNDTRIP_TEXT) {
        if out_of_scope(text) {
            skipped += 1;
            continue;
        }
        assert_eq!(Big::parse(text).unwrap().to_string(), text);
        checked += 1;
    }
    assert_eq!((checked, skipped), (9, 1));
}

#[test]
fn vectors_invalid() {
    let (mut checked, mut skipped) = (0, 0);
    for text in rows(INVALID_TEXT) {
        // Out-of-scope rows fail too (as unknown protocols), but not for the row's reason.
        assert!(Big::parse(text).is_err(), "accepted {text:?}");
        if out_of_scope(text) {
            skipped += 1;
        } else {
            checked += 1;
        }
    }
    assert_eq!((checked, skipped), (45, 23));
    for hex in rows(INVALID_HEX) {
        let bytes = hex::decode(hex).unwrap();
        assert!(MultiaddrRef::try_from_bytes(&bytes).is_err(), "{hex}");
        checked += 1;
    }
    assert_eq!(checked, 47);
}

const PEER: &str = "QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC";

#[test]
fn p2p_text_forms() {
    let base58 = Multiaddr::parse(&format!("/p2p/{PEER}")).unwrap();
    // The same key as a base36 CIDv1 libp2p-key, and /ipfs as the old name; both print as p2p.
    let cid = "/ipfs/k2k4r8oqamigqdo6o7hsbfwd45y70oyynp98usk7zmyfrzpqxh1pohl7";
    let as_cid = Multiaddr::parse(cid).unwrap();
    assert_eq!(as_cid.to_string(), base58.to_string());
    // Ed25519 identity PeerIds, base58 and as a base32 CIDv1.
    let ed = Multiaddr::parse("/p2p/12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV").unwrap();
    assert_eq!(
        ed.peer_id_multihash().unwrap().code(),
        multihash::code::IDENTITY
    );
    let bafz = "/p2p/bafzaajaiaejcalj543iwv2d7pkjt7ykvefrkfu7qjfi6sduakhso4lay6abn2d5u";
    assert!(Multiaddr::parse(bafz).is_ok());
    // A CID with another codec (dag-pb) is not a PeerId.
    assert!(matches!(
        Multiaddr::parse("/p2p/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"),
        Err(TextError::InvalidValue {
            protocol: "p2p",
            reason: ValueError::NotLibp2pKeyCid
        })
    ));
    // A sha3 multihash is a valid multihash but not a PeerId's.
    let sha3 = Multihash::wrap(multihash::code::SHA3_256, &[7; 32]).unwrap();
    assert_eq!(
        Multiaddr::new().with(Protocol::P2p(sha3)),
        Err(PushError::InvalidValue(ValueError::NotPeerIdHash(0x16)))
    );
    // The fuzzer's find: /ws/p2p/<sha2-256 truncated to 2 bytes> printed as text that could
    // not be parsed back. A /p2p sha2-256 digest must be whole.
    let bytes = [221, 3, 165, 3, 4, 18, 2, 47, 4];
    assert_eq!(
        MultiaddrRef::try_from_bytes(&bytes).map(drop),
        Err(BinaryError::InvalidValue {
            offset: 2,
            code: 421,
            reason: ValueError::TruncatedPeerIdHash(2)
        })
    );
}

#[test]
fn text_edge_cases() {
    let plain = Multiaddr::parse("/ip4/127.0.0.1/tcp/1234").unwrap();
    assert_eq!(Multiaddr::parse("/ip4/127.0.0.1/tcp/1234/").unwrap(), plain);
    assert_eq!(
        Multiaddr::parse("/ip4/127.0.0.1/tcp/1234///").unwrap(),
        plain
    );
    assert_eq!(Multiaddr::parse("/ip4/127.0.0.1/tcp/01234").unwrap(), plain);
    assert_eq!(Multiaddr::parse(""), Err(TextError::Empty));
    assert_eq!(Multiaddr::parse("/"), Err(TextError::Empty));
    assert_eq!(
        Multiaddr::parse("ip4/1.2.3.4"),
        Err(TextError::NoLeadingSlash)
    );
    assert_eq!(
        Multiaddr::parse("/ip4/1.2.3.4/bogus/1"),
        Err(TextError::UnknownProtocol { offset: 13 })
    );
    assert_eq!(
        Multiaddr::parse("/tcp"),
        Err(TextError::MissingValue { protocol: "tcp" })
    );
    for port in ["+80", "-1", " 80", "65536", "0x50", ""] {
        let text = format!("/tcp/{port}/tls");
        assert!(Multiaddr::parse(&text).is_err(), "{text}");
    }
    assert!(Multiaddr::parse("/dns//tcp/1").is_err());
    // /unix takes the rest of the text.
    let unix = Multiaddr::parse("/ip4/1.2.3.4/tcp/80/unix/tmp/p2p.sock").unwrap();
    assert_eq!(unix.last(), Some(Protocol::Unix("/tmp/p2p.sock")));
    assert_eq!(
        unix.clone().with(Protocol::Tls),
        Err(PushError::AfterUnixPath)
    );
}

#[test]
fn binary_errors() {
    use crate::wire::varint::VarintError;
    assert_eq!(MultiaddrRef::try_from_bytes(&[]), Err(BinaryError::Empty));
    assert_eq!(
        MultiaddrRef::try_from_bytes(&[0x04, 1, 2, 3, 4, 0x06, 0]),
        Err(BinaryError::Truncated {
            offset: 5,
            code: code::TCP
        })
    );
    assert_eq!(
        MultiaddrRef::try_from_bytes(&[0x7f]),
        Err(BinaryError::UnknownCode {
            offset: 0,
            code: 0x7f
        })
    );
    assert_eq!(
        MultiaddrRef::try_from_bytes(&[0x86, 0x00]),
        Err(BinaryError::Varint {
            offset: 0,
            error: VarintError::NotMinimal
        })
    );
    // A dns name with a slash, an empty one, and invalid UTF-8.
    for (value, reason) in [
        (&b"a/b"[..], ValueError::ContainsSlash),
        (b"", ValueError::Empty),
        (b"\xff", ValueError::NotUtf8),
    ] {
        let mut bytes = vec![0x35, value.len() as u8];
        bytes.extend_from_slice(value);
        assert_eq!(
            MultiaddrRef::try_from_bytes(&bytes),
            Err(BinaryError::InvalidValue {
                offset: 0,
                code: code::DNS,
                reason
            })
        );
    }
    // A length prefix far beyond the input.
    assert!(matches!(
        MultiaddrRef::try_from_bytes(&[0x35, 0xff, 0xff, 0xff, 0xff, 0x0f, b'a']),
        Err(BinaryError::Truncated { .. })
    ));
    // Something after a unix path.
    let mut bytes = vec![0x90, 0x03, 2, b'/', b'a'];
    bytes.extend_from_slice(&[0x06, 0, 80]);
    assert_eq!(
        MultiaddrRef::try_from_bytes(&bytes),
        Err(BinaryError::AfterUnixPath { offset: 5 })
    );
    // Capacity.
    let long = Multiaddr::parse(&format!("/ip4/1.2.3.4/dns/{}", "a".repeat(200))).unwrap();
    assert_eq!(
        MultiaddrBuf::<64>::try_from_bytes(long.as_bytes()),
        Err(BinaryError::CapacityExceeded(CapacityExceeded {
            capacity: 64
        }))
    );
    assert_eq!(
        MultiaddrBuf::<8>::parse("/ip4/1.2.3.4/tcp/1/tcp/2"),
        Err(TextError::CapacityExceeded(CapacityExceeded {
            capacity: 8
        }))
    );
}

#[test]
fn building_and_comparing() {
    let mut addr = Multiaddr::new()
        .with(Protocol::Ip6(Ipv6Addr::LOCALHOST))
        .unwrap()
        .with(Protocol::Udp(4001))
        .unwrap();
    addr.push(Protocol::QuicV1).unwrap();
    let peer = Multihash::sha2_256(b"key");
    addr.push(Protocol::P2p(peer)).unwrap();
    assert_eq!(addr.peer_id_multihash(), Some(peer));
    let text = addr.to_string();
    assert!(
        text.starts_with("/ip6/::1/udp/4001/quic-v1/p2p/Qm"),
        "{text}"
    );
    let prefix = Multiaddr::parse("/ip6/::1/udp/4001").unwrap();
    let suffix = Multiaddr::parse("/quic-v1").unwrap();
    assert!(addr.starts_with(prefix.view()));
    assert!(!addr.ends_with(suffix.view()));
    let popped = addr.pop().unwrap();
    assert_eq!(popped.last(), Some(Protocol::P2p(peer)));
    assert_eq!(addr.peer_id_multihash(), None);
    assert!(addr.ends_with(suffix.view()));
    assert!(addr.ends_with(addr.view()));
    assert!(!prefix.ends_with(addr.view()));
    let udp = Multiaddr::new().with(Protocol::Udp(0x0401)).unwrap();
    assert_eq!(
        udp.view().split_last().map(|(b, _)| b.is_empty()),
        Some(true)
    );
    assert_eq!(
        Multiaddr::new().with(Protocol::Dns("")),
        Err(PushError::InvalidValue(ValueError::Empty))
    );
    let v4 = Multiaddr::new()
        .with(Protocol::Ip4(Ipv4Addr::new(10, 0, 0, 1)))
        .unwrap();
    assert_eq!(format!("{v4:?}"), "Multiaddr(\"/ip4/10.0.0.1\")");
    let mut joined = v4.clone();
    joined.extend_from(prefix.view()).unwrap();
    assert_eq!(joined.to_string(), "/ip4/10.0.0.1/ip6/::1/udp/4001");
    assert_eq!(Multiaddr::new().to_string(), "");
    assert_eq!(Multiaddr::new().pop(), None);
}

#[test]
fn ends_with_checks_component_boundaries() {
    // /dns/<name> where the name's last bytes spell a valid multiaddr (/tcp/...: 06 00 50).
    let bytes = [0x35, 3, b'\x06', 0x00, 0x50];
    // The name "\x06\x00P" is valid UTF-8 without '/', so this is a valid multiaddr.
    let addr = MultiaddrRef::try_from_bytes(&bytes).unwrap();
    let tail = MultiaddrRef::try_from_bytes(&[0x06, 0x00, 0x50]).unwrap();
    assert!(!addr.ends_with(tail));
}

/// An owned description of a protocol for property tests (values borrow from it).
#[derive(Clone, Debug)]
enum Spec {
    Ip4([u8; 4]),
    Ip6([u8; 16]),
    Port(u64, u16),
    Cidr(u8),
    Name(u64, String),
    Unix(String),
    P2p(Multihash),
    Certhash(Multihash),
    Bare(u64),
}

impl Spec {
    fn protocol(&self) -> Protocol<'_> {
        match self {
            Spec::Ip4(a) => Protocol::Ip4(Ipv4Addr::from(*a)),
            Spec::Ip6(a) => Protocol::Ip6(Ipv6Addr::from(*a)),
            Spec::Port(c, p) => match *c {
                code::TCP => Protocol::Tcp(*p),
                code::UDP => Protocol::Udp(*p),
                code::DCCP => Protocol::Dccp(*p),
                _ => Protocol::Sctp(*p),
            },
            Spec::Cidr(n) => Protocol::Ipcidr(*n),
            Spec::Name(c, s) => match *c {
                code::DNS => Protocol::Dns(s),
                code::DNS4 => Protocol::Dns4(s),
                code::DNS6 => Protocol::Dns6(s),
                code::DNSADDR => Protocol::Dnsaddr(s),
                code::SNI => Protocol::Sni(s),
                _ => Protocol::Ip6zone(s),
            },
            Spec::Unix(s) => Protocol::Unix(s),
            Spec::P2p(mh) => Protocol::P2p(*mh),
            Spec::Certhash(mh) => Protocol::Certhash(*mh),
            Spec::Bare(c) => Protocol::without_value(*c).unwrap(),
        }
    }
}

const BARE: &[u64] = &[
    code::P2P_WEBRTC_STAR,
    code::P2P_WEBRTC_DIRECT,
    code::P2P_STARDUST,
    code::WEBRTC_DIRECT,
    code::WEBRTC,
    code::P2P_CIRCUIT,
    code::UDT,
    code::UTP,
    code::HTTPS,
    code::TLS,
    code::NOISE,
    code::QUIC,
    code::QUIC_V1,
    code::WEBTRANSPORT,
    code::WS,
    code::WSS,
    code::P2P_WEBSOCKET_STAR,
    code::HTTP,
];

fn spec() -> impl Strategy<Value = Spec> {
    let digest = proptest::collection::vec(any::<u8>(), 0..=64);
    prop_oneof![
        any::<[u8; 4]>().prop_map(Spec::Ip4),
        any::<[u8; 16]>().prop_map(Spec::Ip6),
        (
            prop::sample::select(vec![code::TCP, code::UDP, code::DCCP, code::SCTP]),
            any::<u16>()
        )
            .prop_map(|(c, p)| Spec::Port(c, p)),
        any::<u8>().prop_map(Spec::Cidr),
        (
            prop::sample::select(vec![
                code::DNS,
                code::DNS4,
                code::DNS6,
                code::DNSADDR,
                code::SNI,
                code::IP6ZONE
            ]),
            "[^/]{1,30}"
        )
            .prop_map(|(c, s)| Spec::Name(c, s)),
        "(/[^/]{0,6}){0,3}/[^/]{1,6}".prop_map(Spec::Unix),
        any::<[u8; 32]>().prop_map(|d| Spec::P2p(Multihash::from_sha2_256_digest(d))),
        proptest::collection::vec(any::<u8>(), 0..=64)
            .prop_map(|d| Spec::P2p(Multihash::identity(&d).unwrap())),
        (
            prop::sample::select(vec![0x00u64, 0x13, 0x16, 0xb220, 0x1e]),
            digest
        )
            .prop_map(|(c, d)| Spec::Certhash(Multihash::wrap(c, &d).unwrap())),
        prop::sample::select(BARE).prop_map(Spec::Bare),
    ]
}

/// Specs with every unix path but a last one dropped, as the format requires.
fn specs() -> impl Strategy<Value = Vec<Spec>> {
    proptest::collection::vec(spec(), 1..8).prop_map(|v| {
        let n = v.len();
        v.into_iter()
            .enumerate()
            .filter(|(i, s)| !matches!(s, Spec::Unix(_)) || *i == n - 1)
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
    })
}

proptest! {
    #[test]
    fn generated_round_trip(specs in specs()) {
        prop_assume!(!specs.is_empty());
        let mut addr = Big::new();
        for s in &specs {
            addr.push(s.protocol()).unwrap();
        }
        let expected: Vec<Protocol<'_>> = specs.iter().map(Spec::protocol).collect();
        // Binary.
        let view = MultiaddrRef::try_from_bytes(addr.as_bytes()).unwrap();
        prop_assert_eq!(view.iter().collect::<Vec<_>>(), expected.clone());
        prop_assert_eq!(Big::try_from_bytes(addr.as_bytes()).unwrap(), addr.clone());
        // Text.
        let text = addr.to_string();
        prop_assert_eq!(Big::parse(&text), Ok(addr.clone()), "{}", text);
        // Prefixes, suffixes, pop.
        for i in 0..=expected.len() {
            let mut head = Big::new();
            let mut tail = Big::new();
            for p in &expected[..i] { head.push(*p).unwrap(); }
            for p in &expected[i..] { tail.push(*p).unwrap(); }
            prop_assert!(addr.starts_with(head.view()));
            prop_assert!(addr.ends_with(tail.view()));
        }
        let mut popped = addr.clone();
        let last = popped.pop().unwrap();
        prop_assert_eq!(last.last(), expected.last().copied());
        prop_assert_eq!(popped.iter().count(), expected.len() - 1);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(view) = MultiaddrRef::try_from_bytes(&bytes) {
            let text = view.to_string();
            let again = Big::parse(&text).unwrap();
            prop_assert_eq!(again.as_bytes(), &bytes[..]);
        }
    }

    #[test]
    fn component_like_bytes_never_panic(
        parts in proptest::collection::vec(
            (prop::sample::select(vec![0x04u8, 0x06, 0x29, 0x2a, 0x35, 0x90, 0xa5, 0xd2, 0xcc]),
             proptest::collection::vec(any::<u8>(), 0..40)),
            1..4)
    ) {
        let mut bytes = Vec::new();
        for (c, v) in parts {
            bytes.push(c);
            if c == 0x90 || c == 0xa5 || c == 0xd2 || c == 0xcc {
                bytes.push(0x03);
            }
            bytes.push(v.len() as u8);
            bytes.extend_from_slice(&v);
        }
        if let Ok(view) = MultiaddrRef::try_from_bytes(&bytes) {
            let again = Big::parse(&view.to_string()).unwrap();
            prop_assert_eq!(again.as_bytes(), &bytes[..]);
        }
    }

    #[test]
    fn arbitrary_strings_never_panic(text in "\\PC{0,40}|(/(ip4|ip6|tcp|udp|dns|unix|p2p|certhash|ipfs|quic-v1|ipcidr|x)(/[0-9a-zA-Z.:%+-]{0,12})?){0,5}/?") {
        if let Ok(addr) = Big::parse(&text) {
            let printed = addr.to_string();
            prop_assert_eq!(Big::parse(&printed), Ok(addr), "{} -> {}", text, printed);
        }
    }
}
