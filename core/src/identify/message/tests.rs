//! Tests of the identify codec: captured messages from kubo, go-ipfs, js-libp2p and
//! rust-libp2p peers, and differential tests against prost.

use super::*;
use proptest::prelude::*;

/// The same message as libp2p/specs `identify/README.md`, derived by prost.
#[derive(Clone, PartialEq, prost::Message)]
struct PbIdentify {
    #[prost(string, optional, tag = "5")]
    protocol_version: Option<String>,
    #[prost(string, optional, tag = "6")]
    agent_version: Option<String>,
    #[prost(bytes = "vec", optional, tag = "1")]
    public_key: Option<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "2")]
    listen_addrs: Vec<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "4")]
    observed_addr: Option<Vec<u8>>,
    #[prost(string, repeated, tag = "3")]
    protocols: Vec<String>,
    #[prost(bytes = "vec", optional, tag = "8")]
    signed_peer_record: Option<Vec<u8>>,
}

fn to_pb(view: Identify<'_>) -> PbIdentify {
    PbIdentify {
        protocol_version: view.protocol_version().map(str::to_owned),
        agent_version: view.agent_version().map(str::to_owned),
        public_key: view.public_key().map(<[u8]>::to_vec),
        listen_addrs: view.listen_addrs().map(<[u8]>::to_vec).collect(),
        observed_addr: view.observed_addr().map(<[u8]>::to_vec),
        protocols: view.protocols().map(str::to_owned).collect(),
        signed_peer_record: view.signed_peer_record().map(<[u8]>::to_vec),
    }
}

/// Encodes `pb` with our builder, checking `encoded_len`, `encode_to_vec` and the frame too.
fn encode_ours(pb: &PbIdentify) -> Vec<u8> {
    let addrs: Vec<&[u8]> = pb.listen_addrs.iter().map(Vec::as_slice).collect();
    let protocols: Vec<&str> = pb.protocols.iter().map(String::as_str).collect();
    let builder = IdentifyBuilder {
        protocol_version: pb.protocol_version.as_deref(),
        agent_version: pb.agent_version.as_deref(),
        public_key: pb.public_key.as_deref(),
        listen_addrs: &addrs,
        observed_addr: pb.observed_addr.as_deref(),
        protocols: &protocols,
        signed_peer_record: pb.signed_peer_record.as_deref(),
    };
    let mut out = vec![0u8; builder.encoded_len()];
    assert_eq!(builder.encode(&mut out), Ok(out.len()));
    assert_eq!(builder.encode_to_vec(), out);
    let mut framed = vec![0u8; builder.frame_len()];
    assert_eq!(builder.encode_frame(&mut framed), Ok(framed.len()));
    assert_eq!(
        frame::decode(&framed, usize::MAX).unwrap().unwrap().payload,
        &out[..]
    );
    out
}

/// Captured messages; see the header of the file for where they come from.
const CAPTURED: &str = include_str!("../../../tests/vectors/identify/captured.tsv");

#[test]
fn captured_messages() {
    let mut seen = 0;
    for line in CAPTURED.lines().filter(|l| !l.starts_with('#')) {
        let columns: Vec<&str> = line.split('\t').collect();
        let [name, addrs, protocols, agent, hex_bytes] = columns[..] else {
            panic!("bad line {line}");
        };
        let bytes = hex::decode(hex_bytes).unwrap();
        let message = if name.ends_with("-framed") {
            let (message, consumed) = Identify::decode_frame(&bytes).unwrap().unwrap();
            assert_eq!(consumed, bytes.len(), "{name}");
            message
        } else {
            assert!(bytes.len() <= MAX_MESSAGE_LEN);
            Identify::decode(&bytes).unwrap()
        };
        assert_eq!(
            message.listen_addrs().count(),
            addrs.parse::<usize>().unwrap(),
            "{name}"
        );
        assert_eq!(
            message.protocols().count(),
            protocols.parse::<usize>().unwrap(),
            "{name}"
        );
        assert_eq!(
            message.agent_version(),
            (agent != "-").then_some(agent),
            "{name}"
        );
        assert!(message.protocols().all(|p| p.starts_with('/')), "{name}");
        assert!(message.listen_addrs().all(|a| !a.is_empty()), "{name}");
        if name.starts_with("push-record") || name.starts_with("kubo") {
            assert_eq!(message.protocol_version(), Some("ipfs/0.1.0"), "{name}");
            assert!(message.public_key().is_some(), "{name}");
            assert!(message.observed_addr().is_some(), "{name}");
            assert!(message.signed_peer_record().is_some(), "{name}");
        }
        // prost reads the same; both encoders write the same bytes for those values, and our
        // decoder reads them back.
        let pb: PbIdentify = prost::Message::decode(message.as_bytes()).unwrap();
        assert_eq!(to_pb(message), pb, "{name}");
        let ours = encode_ours(&pb);
        assert_eq!(ours, prost::Message::encode_to_vec(&pb), "{name}");
        assert_eq!(to_pb(Identify::decode(&ours).unwrap()), pb, "{name}");
        seen += 1;
    }
    assert_eq!(seen, 19);
}

#[test]
fn captured_kubo_message_details() {
    let line = CAPTURED
        .lines()
        .find(|l| l.starts_with("kubo-0.21.0-rc3-identify\t"))
        .unwrap();
    let bytes = hex::decode(line.rsplit('\t').next().unwrap()).unwrap();
    let message = Identify::decode(&bytes).unwrap();
    assert!(message.protocols().any(|p| p == PROTOCOL_ID));
    assert!(message.protocols().any(|p| p == PUSH_PROTOCOL_ID));
    assert!(message.protocols().any(|p| p == "/ipfs/bitswap/1.2.0"));
    // An RSA `PublicKey` protobuf: key type 0 (`08 00`), then the DER bytes.
    assert_eq!(&message.public_key().unwrap()[..3], &[0x08, 0x00, 0x12]);
    // /ip4/104.131.131.82/tcp/4001 is the first listen address (04 <ip> 06 <port 4001>).
    assert_eq!(
        message.listen_addrs().next().unwrap(),
        &[0x04, 104, 131, 131, 82, 0x06, 0x0f, 0xa1]
    );
}

#[test]
fn protocol_ids_and_limits() {
    assert_eq!(PROTOCOL_ID, "/ipfs/id/1.0.0");
    assert_eq!(PUSH_PROTOCOL_ID, "/ipfs/id/push/1.0.0");
    assert_eq!(MAX_MESSAGE_LEN, 8192);
    assert_eq!(MAX_SENT_MESSAGE_LEN, 4096);
}

#[test]
fn invalid_utf8_rejects_the_message() {
    // protocols = ["/a", <ff>]: rust-libp2p and prost reject the whole message; so do we.
    let bytes = hex::decode("1a022f611a01ff").unwrap();
    assert_eq!(
        Identify::decode(&bytes),
        Err(ProtoError::InvalidUtf8 { field: 3 })
    );
    let pb: Result<PbIdentify, _> = prost::Message::decode(&bytes[..]);
    assert!(pb.is_err());
    // Also in an earlier occurrence of a singular string field that a later one replaces.
    let bytes = hex::decode("2a01ff2a0161").unwrap();
    assert_eq!(
        Identify::decode(&bytes),
        Err(ProtoError::InvalidUtf8 { field: 5 })
    );
    assert_eq!(
        Identify::decode(&hex::decode("3201c0").unwrap()),
        Err(ProtoError::InvalidUtf8 { field: 6 })
    );
    // In an unknown field, anything goes.
    assert!(Identify::decode(&hex::decode("3a01ff").unwrap()).is_ok());
}

#[test]
fn wrong_wire_types_are_typed_errors() {
    for (hex_bytes, field) in [
        ("0801", 1),
        ("1001", 2),
        ("1d01020304", 3),
        ("210102030405060708", 4),
        ("2801", 5),
        ("3001", 6),
        ("4001", 8),
    ] {
        let bytes = hex::decode(hex_bytes).unwrap();
        assert_eq!(
            Identify::decode(&bytes),
            Err(ProtoError::WrongWireType { field }),
            "{hex_bytes}"
        );
        let pb: Result<PbIdentify, _> = prost::Message::decode(&bytes[..]);
        assert!(pb.is_err(), "prost accepts {hex_bytes}");
    }
}

#[test]
fn unknown_fields_skipped_and_last_one_wins() {
    // agentVersion "a", unknown varint 7, unknown fixed64 9, unknown bytes 100,
    // agentVersion "b", listenAddrs [01], [02].
    let bytes = hex::decode("3201613801490102030405060708a2060178320162120101120102").unwrap();
    let message = Identify::decode(&bytes).unwrap();
    assert_eq!(message.agent_version(), Some("b"));
    assert_eq!(message.protocol_version(), None);
    assert_eq!(
        message.listen_addrs().collect::<Vec<_>>(),
        [&[1u8][..], &[2u8][..]]
    );
    let pb: PbIdentify = prost::Message::decode(&bytes[..]).unwrap();
    assert_eq!(to_pb(message), pb);
}

#[test]
fn present_but_empty_differs_from_absent() {
    let builder = IdentifyBuilder {
        agent_version: Some(""),
        observed_addr: Some(&[]),
        ..Default::default()
    };
    let bytes = builder.encode_to_vec();
    assert_eq!(bytes, [0x22, 0x00, 0x32, 0x00]);
    let message = Identify::decode(&bytes).unwrap();
    assert_eq!(message.agent_version(), Some(""));
    assert_eq!(message.observed_addr(), Some(&[][..]));
    assert_eq!(message.public_key(), None);
    assert_eq!(IdentifyBuilder::default().encoded_len(), 0);
    assert_eq!(IdentifyBuilder::default().encode_frame(&mut [9]), Ok(1));
}

#[test]
fn frames() {
    let builder = IdentifyBuilder {
        agent_version: Some("rhizo/0.1.0"),
        protocols: &[PROTOCOL_ID, "/ipfs/ping/1.0.0"],
        listen_addrs: &[&[0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1]],
        ..Default::default()
    };
    let mut buf = [0u8; 128];
    let len = builder.encode_frame(&mut buf).unwrap();
    assert_eq!(len, builder.frame_len());
    assert_eq!(usize::from(buf[0]), len - 1);
    for cut in 0..len {
        assert_eq!(
            Identify::decode_frame(&buf[..cut]),
            Ok(None),
            "cut at {cut}"
        );
    }
    let (message, consumed) = Identify::decode_frame(&buf).unwrap().unwrap();
    assert_eq!(consumed, len);
    assert_eq!(message.agent_version(), Some("rhizo/0.1.0"));
    assert_eq!(
        message.protocols().collect::<Vec<_>>(),
        [PROTOCOL_ID, "/ipfs/ping/1.0.0"]
    );
    // Too long: refused from the prefix alone (8193 = 81 40).
    assert_eq!(
        Identify::decode_frame(&[0x81, 0x40]),
        Err(IdentifyFrameError::Frame(FrameError::TooLong {
            len: 8193,
            max: MAX_MESSAGE_LEN
        }))
    );
    assert_eq!(
        Identify::decode_frame(&[0x02, 0x08, 0x01]),
        Err(IdentifyFrameError::Message(ProtoError::WrongWireType {
            field: 1
        }))
    );
    // The buffer must hold the whole frame.
    for short in [0, 1, len - 1] {
        assert_eq!(
            builder.encode_frame(&mut buf[..short]),
            Err(BufferTooSmall { required: len })
        );
        assert_eq!(
            builder.encode(&mut buf[..short.saturating_sub(1)]),
            Err(BufferTooSmall { required: len - 1 })
        );
    }
}

/// A field as it may appear on the wire, for building odd messages.
#[derive(Clone, Debug)]
enum RawValue {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Len(Vec<u8>),
}

fn write_raw(fields: &[(u32, RawValue)]) -> Vec<u8> {
    let size: usize = fields
        .iter()
        .map(|(_, v)| match v {
            RawValue::Len(b) => b.len() + 20,
            _ => 20,
        })
        .sum();
    let mut out = vec![0u8; size];
    let mut w = Writer::new(&mut out);
    for (number, value) in fields {
        match value {
            RawValue::Varint(v) => w.varint(*number, *v),
            RawValue::Fixed64(v) => w.fixed64(*number, *v),
            RawValue::Fixed32(v) => w.fixed32(*number, *v),
            RawValue::Len(b) => w.bytes(*number, b),
        }
        .unwrap();
    }
    let len = w.len();
    out.truncate(len);
    out
}

/// Identify-shaped raw messages: fields 1 to 9 and a few far ones, any wire type, and
/// length-delimited contents that are bytes, UTF-8 text or invalid UTF-8.
fn raw_identify() -> impl Strategy<Value = Vec<u8>> {
    let contents = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..6),
        "[a-z/0-9.é]{0,8}".prop_map(String::into_bytes),
        Just(vec![0xc3]),
    ];
    let value = prop_oneof![
        1 => any::<u64>().prop_map(RawValue::Varint),
        1 => any::<u64>().prop_map(RawValue::Fixed64),
        1 => any::<u32>().prop_map(RawValue::Fixed32),
        6 => contents.prop_map(RawValue::Len),
    ];
    let number = prop_oneof![8 => 1u32..=9, 1 => Just(1000u32), 1 => Just((1 << 29) - 1)];
    proptest::collection::vec((number, value), 0..10).prop_map(|f| write_raw(&f))
}

fn pb_identify() -> impl Strategy<Value = PbIdentify> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..40);
    let text = || ".{0,12}";
    (
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(bytes()),
        proptest::collection::vec(bytes(), 0..5),
        proptest::option::of(bytes()),
        proptest::collection::vec(text(), 0..5),
        proptest::option::of(bytes()),
    )
        .prop_map(
            |(
                protocol_version,
                agent_version,
                public_key,
                listen_addrs,
                observed_addr,
                protocols,
                signed_peer_record,
            )| PbIdentify {
                protocol_version,
                agent_version,
                public_key,
                listen_addrs,
                observed_addr,
                protocols,
                signed_peer_record,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn encoding_matches_prost(pb in pb_identify()) {
        let ours = encode_ours(&pb);
        prop_assert_eq!(&ours, &prost::Message::encode_to_vec(&pb));
        let view = Identify::decode(&ours).unwrap();
        prop_assert_eq!(to_pb(view), pb);
    }

    #[test]
    fn odd_messages_read_as_prost_reads_them(bytes in raw_identify()) {
        let ours = Identify::decode(&bytes);
        let theirs: Result<PbIdentify, _> = prost::Message::decode(&bytes[..]);
        match (ours, theirs) {
            (Ok(view), Ok(pb)) => prop_assert_eq!(to_pb(view), pb),
            (Err(_), Err(_)) => {}
            (ours, theirs) => prop_assert!(false, "ours {:?}, prost {:?}", ours, theirs),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        if let Ok(view) = Identify::decode(&bytes) {
            // Whatever we accept, prost accepts with the same contents (prost also skips
            // unknown groups, which we reject, so the converse does not hold for any bytes).
            let pb: PbIdentify = prost::Message::decode(&bytes[..]).unwrap();
            prop_assert_eq!(to_pb(view), pb.clone());
            prop_assert!(encode_ours(&pb).len() <= bytes.len());
        }
        if let Ok(Some((view, consumed))) = Identify::decode_frame(&bytes) {
            prop_assert!(consumed <= bytes.len());
            prop_assert!(view.as_bytes().len() < consumed);
        }
    }
}
