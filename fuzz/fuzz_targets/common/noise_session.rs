//! Shared driver of the `noise_initiator` and `noise_responder` targets: one `NoiseHandshake`
//! (the machine under test) against a peer played by the fuzzer with fixed keys, so that
//! inputs get past the Noise cryptography and reach the libp2p layer.
//!
//! Input: `[mode, chunk, rest..]`. The peer's bytes reach the machine `chunk` bytes at a time
//! (0: all at once). Modes (`mode % 4`):
//! 0. `rest` is the peer's whole byte stream: never completes a handshake.
//! 1. The honest peer's stream with `(position u16 BE, xor u8)` edits from `rest`: completes
//!    only if every byte the machine used is unchanged.
//! 2. An honest Noise peer whose libp2p payload is `rest`: completes only with the peer's own
//!    identity (the fuzzer cannot sign).
//! 3. An honest peer with a valid identity and signature, `rest` appended to its payload
//!    (extensions, unknown fields, repeated fields): completes exactly when the identity fields
//!    stay the peer's, and then settles on the muxer the spec's rule picks.
//!
//! After a completed handshake, a transport frame the peer sent right after its last message
//! must be left unconsumed and open with the established transport, and frames must round
//! trip both ways.

use std::sync::LazyLock;

use rhizo_core::crypto::{CryptoProvider, Portable};
use rhizo_core::identity::Keypair;
use rhizo_core::noise::{
    HandshakeXX, NoiseHandshake, NoiseHandshakeConfig, NoiseHandshakePayload, NoiseIdentity,
    NoiseTransport, Role, static_key_signing_input,
};

const LOCAL_MUXERS: [&str; 2] = ["/yamux/1.0.0", "/mplex/6.7.0"];
const PEER_STATIC: [u8; 32] = [0x51; 32];
const PEER_SEED: [u8; 32] = [0x52; 32];
const MAX_REMOTE_MUXERS: usize = 100;

type Machine<'a> = NoiseHandshake<Portable, &'a NoiseIdentity>;

/// Made once: the signature costs more than the rest of a run.
static IDENTITY: LazyLock<NoiseIdentity> = LazyLock::new(|| {
    NoiseIdentity::ed25519::<Portable>(&Keypair::from_seed([0x11; 32]), [0x12; 32])
});
static HONEST_PAYLOAD: LazyLock<Vec<u8>> = LazyLock::new(honest_payload_uncached);
static REPLAY: LazyLock<[Vec<u8>; 2]> = LazyLock::new(|| {
    [
        replay_stream(Role::Initiator),
        replay_stream(Role::Responder),
    ]
});

fn machine(role: Role) -> Machine<'static> {
    let identity: &'static NoiseIdentity = &IDENTITY;
    let config = NoiseHandshakeConfig {
        stream_muxers: &LOCAL_MUXERS,
        ..NoiseHandshakeConfig::default()
    };
    Machine::new(role, identity, [0x13; 32], &config).expect("valid config")
}

fn honest_payload() -> Vec<u8> {
    HONEST_PAYLOAD.clone()
}

/// The peer's honest payload: its identity key and signature, and its muxers.
fn honest_payload_uncached() -> Vec<u8> {
    let keypair = Keypair::from_seed(PEER_SEED);
    let sig = keypair.sign(&static_key_signing_input(&Portable::x25519_public(
        &PEER_STATIC,
    )));
    let key = keypair.public().to_protobuf();
    let mut out = vec![0x0a, key.len() as u8];
    out.extend_from_slice(&key);
    out.extend_from_slice(&[0x12, 64]);
    out.extend_from_slice(&sig);
    // extensions { stream_muxers: "/mplex/6.7.0", stream_muxers: "/yamux/1.0.0" }
    out.extend_from_slice(&[0x22, 28, 0x12, 12]);
    out.extend_from_slice(b"/mplex/6.7.0");
    out.extend_from_slice(&[0x12, 12]);
    out.extend_from_slice(b"/yamux/1.0.0");
    out
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// What feeding a stream to a machine did.
struct Fed {
    /// Bytes of the stream the machine used.
    used: usize,
    /// Bytes it did not use (after its last message, or an incomplete one).
    left: Vec<u8>,
    /// Everything it sent.
    sent: Vec<Vec<u8>>,
}

fn poll_all(hs: &mut Machine<'_>, sent: &mut Vec<Vec<u8>>) -> bool {
    let mut out = [0u8; 4096];
    loop {
        match hs.poll_transmit(&mut out) {
            Ok(Some(n)) => sent.push(out[..n].to_vec()),
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}

fn feed(hs: &mut Machine<'_>, stream: &[u8], chunk: usize) -> Fed {
    let mut fed = Fed {
        used: 0,
        left: Vec::new(),
        sent: Vec::new(),
    };
    if !poll_all(hs, &mut fed.sent) {
        return fed;
    }
    for piece in stream.chunks(chunk) {
        fed.left.extend_from_slice(piece);
        match hs.handle_input(&mut fed.left) {
            Ok(n) => {
                assert!(n <= fed.left.len(), "used more than given");
                fed.left.drain(..n);
                fed.used += n;
            }
            Err(e) => {
                assert!(!hs.is_finished());
                assert_eq!(
                    hs.poll_transmit(&mut [0u8; 4096]),
                    Err(e),
                    "errors are final"
                );
                return fed;
            }
        }
        if !poll_all(hs, &mut fed.sent) {
            return fed;
        }
    }
    fed
}

/// An honest Noise peer with `payload`: returns the peer's stream (ending with one transport
/// frame) and the machine after reading it, or `None` when the machine failed first.
fn live(
    role: Role,
    payload: &[u8],
    chunk: usize,
) -> (Machine<'static>, Fed, Option<NoiseTransport<Portable>>) {
    let mut hs = machine(role);
    let mut peer =
        HandshakeXX::<Portable>::new(role == Role::Responder, b"", PEER_STATIC, [0x53; 32]);
    let mut buf = vec![0u8; 70000];
    let mut stream = Vec::new();
    let mut sent = Vec::new();
    poll_all(&mut hs, &mut sent);
    if role == Role::Responder {
        let n = peer.write_message(b"", &mut buf).expect("message 1");
        stream.extend(frame(&buf[..n]));
        let mut fed = feed(&mut hs, &stream, chunk);
        let Some(m2) = fed.sent.first() else {
            panic!("an honest message 1 gets an answer");
        };
        peer.read_message(&mut m2[2..].to_vec())
            .expect("the machine's message 2 is valid");
        assert_eq!(fed.used, stream.len());
        let Ok(n) = peer.write_message(payload, &mut buf) else {
            return (hs, fed, None);
        };
        let m3 = frame(&buf[..n]);
        let (send, recv) = peer.into_transport().expect("finished");
        let mut transport = NoiseTransport::new(send, recv);
        let mut tail = m3;
        let mut out = [0u8; 64];
        let n = transport.encrypt_frame(b"after", &mut out).expect("fits");
        tail.extend_from_slice(&out[..n]);
        let more = feed(&mut hs, &tail, chunk);
        fed.used += more.used;
        fed.left = more.left;
        fed.sent.extend(more.sent);
        (hs, fed, Some(transport))
    } else {
        let m1 = sent.first().expect("the initiator speaks first").clone();
        assert_eq!(m1.len(), 34);
        peer.read_message(&mut m1[2..].to_vec())
            .expect("the machine's message 1 is valid");
        let Ok(n) = peer.write_message(payload, &mut buf) else {
            let fed = feed(&mut hs, &[], chunk);
            return (hs, fed, None);
        };
        stream.extend(frame(&buf[..n]));
        let fed = feed(&mut hs, &stream, chunk);
        if hs.is_finished() {
            let m3 = fed
                .sent
                .first()
                .expect("message 3 goes out when the handshake ends");
            let range = peer
                .read_message(&mut m3[2..].to_vec())
                .expect("the machine's message 3 is valid");
            assert!(!range.is_empty());
            let (send, recv) = peer.into_transport().expect("finished");
            return (hs, fed, Some(NoiseTransport::new(send, recv)));
        }
        (hs, fed, None)
    }
}

/// Checks an established machine against the peer's transport.
fn check_established(
    hs: Machine<'_>,
    fed: &Fed,
    role: Role,
    peer: Option<NoiseTransport<Portable>>,
) {
    let mut peer = peer.expect("a finished handshake has a peer transport");
    let (mut transport, info) = hs.into_established().expect("finished");
    assert_eq!(
        info.peer_id,
        rhizo_core::identity::PeerId::from_public_key(&Keypair::from_seed(PEER_SEED).public())
    );
    if let Some(m) = &info.muxer {
        assert!(LOCAL_MUXERS.contains(&m.as_str()));
    }
    let mut left = fed.left.clone();
    if role == Role::Responder {
        // The frame sent with message 3 is the caller's.
        let opened = transport
            .open_in_place(&mut left)
            .expect("opens")
            .expect("whole");
        assert_eq!(&left[opened.plaintext], b"after");
    } else {
        assert!(left.is_empty());
    }
    let mut out = [0u8; 64];
    let n = transport.encrypt_frame(b"ping", &mut out).expect("fits");
    let opened = peer
        .open_in_place(&mut out[..n])
        .expect("opens")
        .expect("whole");
    assert_eq!(&out[opened.plaintext], b"ping");
    let n = peer.encrypt_frame(b"pong", &mut out).expect("fits");
    let opened = transport
        .open_in_place(&mut out[..n])
        .expect("opens")
        .expect("whole");
    assert_eq!(&out[opened.plaintext], b"pong");
}

/// The muxer the spec's rule picks for a remote payload.
fn expected_muxer(role: Role, payload: &NoiseHandshakePayload<'_>) -> Option<&'static str> {
    let remote: Vec<&str> = payload
        .extensions()
        .map(|e| e.stream_muxers().collect())
        .unwrap_or_default();
    if remote.len() > MAX_REMOTE_MUXERS {
        return None;
    }
    match role {
        Role::Initiator => LOCAL_MUXERS.into_iter().find(|m| remote.contains(m)),
        Role::Responder => remote
            .iter()
            .find_map(|r| LOCAL_MUXERS.into_iter().find(|m| m == r)),
    }
}

pub fn run(role: Role, data: &[u8]) {
    let [mode, chunk, rest @ ..] = data else {
        return;
    };
    let chunk = if *chunk == 0 {
        usize::MAX
    } else {
        usize::from(*chunk)
    };
    let rest = &rest[..rest.len().min(60_000)];
    match mode % 4 {
        0 => {
            let mut hs = machine(role);
            let fed = feed(&mut hs, rest, chunk);
            assert!(!hs.is_finished());
            assert!(fed.used <= rest.len());
        }
        1 => {
            // The machine is deterministic, so the honest peer's recorded stream is what a
            // fresh machine expects.
            let mut stream = REPLAY[usize::from(role == Role::Responder)].clone();
            let original = stream.clone();
            for edit in rest.chunks_exact(3) {
                let at = usize::from(u16::from_be_bytes([edit[0], edit[1]]));
                if let Some(b) = stream.get_mut(at) {
                    *b ^= edit[2];
                }
            }
            let mut hs = machine(role);
            let fed = feed(&mut hs, &stream, chunk);
            if hs.is_finished() {
                assert_eq!(&stream[..fed.used], &original[..fed.used]);
                assert_eq!(fed.used, original.len());
            }
        }
        2 => {
            let (hs, fed, peer) = live(role, rest, chunk);
            if hs.is_finished() {
                check_established(hs, &fed, role, peer);
            }
        }
        _ => {
            let mut payload = honest_payload();
            payload.extend_from_slice(rest);
            let (hs, fed, peer) = live(role, &payload, chunk);
            let honest = honest_payload();
            let honest = NoiseHandshakePayload::decode(&honest).expect("valid");
            let valid = NoiseHandshakePayload::decode(&payload).ok().filter(|p| {
                p.identity_key() == honest.identity_key()
                    && p.identity_sig() == honest.identity_sig()
            });
            match valid {
                Some(p) => {
                    assert!(hs.is_finished(), "{:?}", hs.error());
                    assert_eq!(hs.muxer(), expected_muxer(role, &p));
                    check_established(hs, &fed, role, peer);
                }
                None => assert!(!hs.is_finished()),
            }
        }
    }
}

/// The honest peer's byte stream (with the transport frame after it).
fn replay_stream(role: Role) -> Vec<u8> {
    let mut peer =
        HandshakeXX::<Portable>::new(role == Role::Responder, b"", PEER_STATIC, [0x53; 32]);
    let mut hs = machine(role);
    let mut buf = vec![0u8; 4096];
    let mut stream = Vec::new();
    let mut out = [0u8; 4096];
    let payload = honest_payload();
    if role == Role::Responder {
        let n = peer.write_message(b"", &mut buf).expect("message 1");
        let m1 = frame(&buf[..n]);
        hs.handle_input(&mut m1.clone()).expect("honest");
        let n = hs
            .poll_transmit(&mut out)
            .expect("fits")
            .expect("message 2");
        peer.read_message(&mut out[2..n]).expect("honest");
        let n = peer.write_message(&payload, &mut buf).expect("message 3");
        stream.extend(m1);
        stream.extend(frame(&buf[..n]));
    } else {
        let n = hs
            .poll_transmit(&mut out)
            .expect("fits")
            .expect("message 1");
        peer.read_message(&mut out[2..n]).expect("honest");
        let n = peer.write_message(&payload, &mut buf).expect("message 2");
        stream.extend(frame(&buf[..n]));
    }
    stream
}
