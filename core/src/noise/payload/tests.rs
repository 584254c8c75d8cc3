//! Tests of the Noise handshake payload codec, differential against prost.

use super::*;
use proptest::prelude::*;

/// The same messages as rust-libp2p's `payload.proto`, derived by prost.
#[derive(Clone, PartialEq, prost::Message)]
struct PbNoiseExtensions {
    #[prost(bytes = "vec", repeated, tag = "1")]
    webtransport_certhashes: Vec<Vec<u8>>,
    #[prost(string, repeated, tag = "2")]
    stream_muxers: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PbNoiseHandshakePayload {
    #[prost(bytes = "vec", tag = "1")]
    identity_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    identity_sig: Vec<u8>,
    #[prost(message, optional, tag = "4")]
    extensions: Option<PbNoiseExtensions>,
}

fn extensions_to_pb(view: NoiseExtensions<'_>) -> PbNoiseExtensions {
    PbNoiseExtensions {
        webtransport_certhashes: view.webtransport_certhashes().map(<[u8]>::to_vec).collect(),
        stream_muxers: view.stream_muxers().map(str::to_owned).collect(),
    }
}

fn to_pb(view: NoiseHandshakePayload<'_>) -> PbNoiseHandshakePayload {
    PbNoiseHandshakePayload {
        identity_key: view.identity_key().to_vec(),
        identity_sig: view.identity_sig().to_vec(),
        extensions: view.extensions().map(extensions_to_pb),
    }
}

/// Encodes `pb` with our builder.
fn encode_ours(pb: &PbNoiseHandshakePayload) -> Vec<u8> {
    let hashes: Vec<&[u8]> = pb
        .extensions
        .iter()
        .flat_map(|e| e.webtransport_certhashes.iter().map(Vec::as_slice))
        .collect();
    let muxers: Vec<&str> = pb
        .extensions
        .iter()
        .flat_map(|e| e.stream_muxers.iter().map(String::as_str))
        .collect();
    let builder = NoiseHandshakePayloadBuilder {
        identity_key: &pb.identity_key,
        identity_sig: &pb.identity_sig,
        extensions: pb.extensions.as_ref().map(|_| NoiseExtensionsBuilder {
            webtransport_certhashes: &hashes,
            stream_muxers: &muxers,
        }),
    };
    let mut out = vec![0u8; builder.encoded_len()];
    assert_eq!(builder.encode(&mut out), Ok(out.len()));
    assert_eq!(builder.encode_to_vec(), out);
    out
}

/// An ed25519 `PublicKey` protobuf, from libp2p/specs `peer-ids/peer-ids.md` (test vectors).
const ED25519_PUBLIC_KEY: &str =
    "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";

#[test]
fn payload_round_trip_with_muxers() {
    let key = hex::decode(ED25519_PUBLIC_KEY).unwrap();
    let sig = [0x5au8; 64];
    let builder = NoiseHandshakePayloadBuilder {
        identity_key: &key,
        identity_sig: &sig,
        extensions: Some(NoiseExtensionsBuilder {
            webtransport_certhashes: &[],
            stream_muxers: &["/yamux/1.0.0", "/mplex/6.7.0"],
        }),
    };
    let mut buf = [0u8; 256];
    let len = builder.encode(&mut buf).unwrap();
    let bytes = &buf[..len];
    // 0a 24 <key> 12 40 <sig> 22 1c (12 0c "/yamux/1.0.0" 12 0c "/mplex/6.7.0")
    assert_eq!(&bytes[..2], &[0x0a, 0x24]);
    assert_eq!(&bytes[38..40], &[0x12, 0x40]);
    assert_eq!(&bytes[104..108], &[0x22, 0x1c, 0x12, 0x0c]);
    assert_eq!(len, 104 + 2 + 28);

    let payload = NoiseHandshakePayload::decode(bytes).unwrap();
    assert_eq!(payload.identity_key(), &key[..]);
    assert_eq!(payload.identity_sig(), &sig[..]);
    assert_eq!(payload.as_bytes(), bytes);
    let extensions = payload.extensions().unwrap();
    assert_eq!(
        extensions.stream_muxers().collect::<Vec<_>>(),
        ["/yamux/1.0.0", "/mplex/6.7.0"]
    );
    assert_eq!(extensions.webtransport_certhashes().count(), 0);

    let pb: PbNoiseHandshakePayload = prost::Message::decode(bytes).unwrap();
    assert_eq!(to_pb(payload), pb);
    assert_eq!(prost::Message::encode_to_vec(&pb), bytes);
}

#[test]
fn signing_input_is_prefix_then_key() {
    let key = [7u8; 32];
    let input = static_key_signing_input(&key);
    assert_eq!(&input[..24], b"noise-libp2p-static-key:");
    assert_eq!(&input[24..], &key);
    assert_eq!(STATIC_KEY_SIGNATURE_PREFIX.len(), 24);
}

#[test]
fn empty_payload_and_absent_fields() {
    let payload = NoiseHandshakePayload::decode(&[]).unwrap();
    assert_eq!(payload.identity_key(), &[] as &[u8]);
    assert_eq!(payload.identity_sig(), &[] as &[u8]);
    assert!(payload.extensions().is_none());
    // Empty extensions present: `22 00`.
    let payload = NoiseHandshakePayload::decode(&[0x22, 0x00]).unwrap();
    let extensions = payload.extensions().unwrap();
    assert_eq!(extensions.stream_muxers().count(), 0);
    let builder = NoiseHandshakePayloadBuilder {
        extensions: Some(NoiseExtensionsBuilder::default()),
        ..Default::default()
    };
    assert_eq!(builder.encode_to_vec(), [0x22, 0x00]);
    assert_eq!(NoiseHandshakePayloadBuilder::default().encoded_len(), 0);
}

#[test]
fn unknown_fields_are_skipped() {
    // Field 3 (the old spec's `libp2p_data`), a varint field 9, a fixed32 field 10, a fixed64
    // field 11 and an unknown field 3 inside the extensions.
    let bytes = hex::decode(
        "0a0101 1a0378797a 4801 5504030201 59 0102030405060708 2206 1a01ff 1201 61"
            .replace(' ', ""),
    )
    .unwrap();
    let payload = NoiseHandshakePayload::decode(&bytes).unwrap();
    assert_eq!(payload.identity_key(), &[1]);
    assert_eq!(
        payload
            .extensions()
            .unwrap()
            .stream_muxers()
            .collect::<Vec<_>>(),
        ["a"]
    );
    let pb: PbNoiseHandshakePayload = prost::Message::decode(&bytes[..]).unwrap();
    assert_eq!(to_pb(payload), pb);
}

#[test]
fn wrong_wire_types_and_bad_strings_are_typed_errors() {
    let cases: &[(&str, ProtoError)] = &[
        ("0801", ProtoError::WrongWireType { field: 1 }),
        ("1501020304", ProtoError::WrongWireType { field: 2 }),
        ("2001", ProtoError::WrongWireType { field: 4 }),
        ("22020801", ProtoError::WrongWireType { field: 1 }),
        ("22021001", ProtoError::WrongWireType { field: 2 }),
        ("22031201ff", ProtoError::InvalidUtf8 { field: 2 }),
        ("2203120561", ProtoError::Truncated),
        ("0a05", ProtoError::Truncated),
        ("0b", ProtoError::UnsupportedWireType(3)),
    ];
    for (hex_bytes, error) in cases {
        let bytes = hex::decode(hex_bytes).unwrap();
        assert_eq!(
            NoiseHandshakePayload::decode(&bytes),
            Err(*error),
            "{hex_bytes}"
        );
        let pb: Result<PbNoiseHandshakePayload, _> = prost::Message::decode(&bytes[..]);
        assert!(pb.is_err(), "prost accepts {hex_bytes}");
    }
    assert_eq!(
        NoiseExtensions::decode(&[0x12, 0x01, 0xc0]),
        Err(ProtoError::InvalidUtf8 { field: 2 })
    );
}

#[test]
fn repeated_extensions_merge_and_last_key_wins() {
    // identity_key twice, extensions twice: the key is the last one, the lists concatenate.
    let bytes =
        hex::decode("0a0101 2203120161 0a0102 22070a0201021201 62".replace(' ', "")).unwrap();
    let payload = NoiseHandshakePayload::decode(&bytes).unwrap();
    assert_eq!(payload.identity_key(), &[2]);
    let extensions = payload.extensions().unwrap();
    assert_eq!(extensions.stream_muxers().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(
        extensions.webtransport_certhashes().collect::<Vec<_>>(),
        [&[1u8, 2][..]]
    );
    let pb: PbNoiseHandshakePayload = prost::Message::decode(&bytes[..]).unwrap();
    assert_eq!(to_pb(payload), pb);
}

#[test]
fn buffer_too_small_says_how_much() {
    let builder = NoiseHandshakePayloadBuilder {
        identity_key: &[1; 36],
        identity_sig: &[2; 64],
        extensions: Some(NoiseExtensionsBuilder {
            webtransport_certhashes: &[&[3; 34]],
            stream_muxers: &["/yamux/1.0.0"],
        }),
    };
    let len = builder.encoded_len();
    for short in [0, 1, len / 2, len - 1] {
        assert_eq!(
            builder.encode(&mut vec![0u8; short]),
            Err(BufferTooSmall { required: len })
        );
    }
    let extensions = builder.extensions.unwrap();
    assert_eq!(
        extensions.encode(&mut [0u8; 3]),
        Err(BufferTooSmall {
            required: extensions.encoded_len()
        })
    );
    let mut out = vec![0u8; extensions.encoded_len()];
    assert_eq!(extensions.encode(&mut out), Ok(out.len()));
    assert_eq!(extensions.encode_to_vec(), out);
    let view = NoiseExtensions::decode(&out).unwrap();
    assert_eq!(view.stream_muxers().collect::<Vec<_>>(), ["/yamux/1.0.0"]);
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

/// Length-delimited contents: short bytes, UTF-8 text, invalid UTF-8.
fn len_contents() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..6),
        "[a-z/0-9.é]{0,8}".prop_map(String::into_bytes),
        Just(vec![0xff]),
    ]
}

fn raw_value(contents: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = RawValue> {
    prop_oneof![
        1 => any::<u64>().prop_map(RawValue::Varint),
        1 => any::<u64>().prop_map(RawValue::Fixed64),
        1 => any::<u32>().prop_map(RawValue::Fixed32),
        6 => contents.prop_map(RawValue::Len),
    ]
}

/// Fields numbered 1 to 5 plus a few far ones, with any wire type.
fn raw_fields(
    contents: impl Strategy<Value = Vec<u8>>,
) -> impl Strategy<Value = Vec<(u32, RawValue)>> {
    let number = prop_oneof![
        4 => 1u32..=5,
        2 => Just(EXTENSIONS),
        1 => Just(100u32),
        1 => Just((1 << 29) - 1),
    ];
    proptest::collection::vec((number, raw_value(contents)), 0..8)
}

/// Extensions-shaped raw messages: mostly length-delimited fields 1 and 2, some odd ones.
fn raw_extensions() -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![
        8 => (1u32..=2, len_contents().prop_map(RawValue::Len)),
        1 => (1u32..=3, raw_value(len_contents())),
    ];
    proptest::collection::vec(field, 0..5).prop_map(|f| write_raw(&f))
}

/// Payload-shaped raw messages: field 4's contents are mostly raw extension fields.
fn raw_payload() -> impl Strategy<Value = Vec<u8>> {
    let contents = prop_oneof![1 => len_contents(), 3 => raw_extensions()];
    raw_fields(contents).prop_map(|f| write_raw(&f))
}

fn pb_payload() -> impl Strategy<Value = PbNoiseHandshakePayload> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..80);
    let extensions = (
        proptest::collection::vec(bytes(), 0..4),
        proptest::collection::vec(".{0,16}", 0..4),
    )
        .prop_map(
            |(webtransport_certhashes, stream_muxers)| PbNoiseExtensions {
                webtransport_certhashes,
                stream_muxers,
            },
        );
    (bytes(), bytes(), proptest::option::of(extensions)).prop_map(
        |(identity_key, identity_sig, extensions)| PbNoiseHandshakePayload {
            identity_key,
            identity_sig,
            extensions,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn encoding_matches_prost(pb in pb_payload()) {
        let ours = encode_ours(&pb);
        prop_assert_eq!(&ours, &prost::Message::encode_to_vec(&pb));
        let view = NoiseHandshakePayload::decode(&ours).unwrap();
        prop_assert_eq!(to_pb(view), pb);
    }

    #[test]
    fn odd_messages_read_as_prost_reads_them(bytes in raw_payload()) {
        let ours = NoiseHandshakePayload::decode(&bytes);
        let theirs: Result<PbNoiseHandshakePayload, _> = prost::Message::decode(&bytes[..]);
        match (ours, theirs) {
            (Ok(view), Ok(pb)) => prop_assert_eq!(to_pb(view), pb),
            (Err(_), Err(_)) => {}
            (ours, theirs) => prop_assert!(false, "ours {:?}, prost {:?}", ours, theirs),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        if let Ok(view) = NoiseHandshakePayload::decode(&bytes) {
            // Whatever we accept, prost accepts with the same contents (prost also skips
            // unknown groups, which we reject, so the converse does not hold for any bytes).
            let pb: PbNoiseHandshakePayload = prost::Message::decode(&bytes[..]).unwrap();
            prop_assert_eq!(to_pb(view), pb.clone());
            let again = encode_ours(&pb);
            prop_assert!(again.len() <= bytes.len());
        }
        if let Ok(view) = NoiseExtensions::decode(&bytes) {
            let pb: PbNoiseExtensions = prost::Message::decode(&bytes[..]).unwrap();
            prop_assert_eq!(extensions_to_pb(view), pb);
        }
    }
}
