//! Noise handshake payloads: decoding never panics, and a payload re-encoded from its view
//! with the builder (repeated `extensions` merged into one) decodes to the same fields, in no
//! more bytes than the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhizo_core::noise::{
    NoiseExtensionsBuilder, NoiseHandshakePayload, NoiseHandshakePayloadBuilder,
};

fuzz_target!(|data: &[u8]| {
    let Ok(payload) = NoiseHandshakePayload::decode(data) else {
        return;
    };
    let extensions = payload.extensions();
    let hashes: Vec<&[u8]> = extensions
        .iter()
        .flat_map(|e| e.webtransport_certhashes())
        .collect();
    let muxers: Vec<&str> = extensions.iter().flat_map(|e| e.stream_muxers()).collect();
    let builder = NoiseHandshakePayloadBuilder {
        identity_key: payload.identity_key(),
        identity_sig: payload.identity_sig(),
        extensions: extensions.map(|_| NoiseExtensionsBuilder {
            webtransport_certhashes: &hashes,
            stream_muxers: &muxers,
        }),
    };
    let mut out = vec![0u8; builder.encoded_len()];
    let len = builder
        .encode(&mut out)
        .expect("the buffer has encoded_len bytes");
    assert_eq!(len, out.len());
    assert!(len <= data.len());
    let again = NoiseHandshakePayload::decode(&out).expect("what the builder writes decodes");
    assert_eq!(again.identity_key(), payload.identity_key());
    assert_eq!(again.identity_sig(), payload.identity_sig());
    let again_extensions = again.extensions();
    assert_eq!(again_extensions.is_some(), extensions.is_some());
    if let (Some(a), Some(b)) = (again_extensions, extensions) {
        assert!(a.webtransport_certhashes().eq(b.webtransport_certhashes()));
        assert!(a.stream_muxers().eq(b.stream_muxers()));
    }
});
