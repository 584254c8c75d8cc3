//! A `NoiseHandshake` initiator against a fuzzer-played responder with fixed keys: raw bytes,
//! edits of the honest messages, arbitrary payloads under valid Noise encryption, and
//! arbitrary extensions after a valid signed identity (see `common/noise_session.rs`). Never a
//! panic; a handshake completes only when the peer proved its identity, and then the muxer is
//! the one the spec's rule picks and the transport works.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common/noise_session.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::run(rhizo_core::noise::Role::Initiator, data);
});
