//! `Native` against the Noise test vector and against `Portable`: the two providers must put
//! the same bytes on the wire and accept the same inputs.

use proptest::prelude::*;
use rhizo_core::connection::{
    Connection, ConnectionConfig, ConnectionError, ConnectionEvent, HeapConnection, Role,
};
use rhizo_core::crypto::{AeadCipher, CryptoError, CryptoProvider, Portable, Sha256Hasher};
use rhizo_core::identity::Keypair;
use rhizo_core::noise::{HandshakeXX, NoiseIdentity, NoiseTransport, PROTOCOL_NAME};
use rhizo_core::testkit::{Endpoint, Pair, PipeConfig};
use rhizo_core::time::{Duration, Instant};
use rhizo_native_crypto::Native;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex in vector file")
}

fn key(s: &str) -> [u8; 32] {
    unhex(s).try_into().expect("32-byte key")
}

/// Runs the cacophony Noise_XX_25519_ChaChaPoly_SHA256 vectors (core/tests/vectors/noise, from
/// haskell-cryptography/cacophony's vectors/cacophony.txt; see the README there) with the initiator on provider `I` and
/// the responder on provider `R`: every handshake and transport ciphertext must match.
fn cacophony<I: CryptoProvider, R: CryptoProvider>() {
    let text =
        include_str!("../../../core/tests/vectors/noise/cacophony-XX_25519_ChaChaPoly_SHA256.json");
    let file: serde_json::Value = serde_json::from_str(text).expect("vector file is JSON");
    let vectors = file["vectors"].as_array().expect("a vector list");
    assert!(!vectors.is_empty());
    for v in vectors {
        assert_eq!(v["protocol_name"], PROTOCOL_NAME);
        let s = |k: &str| v[k].as_str().expect("string field");
        let mut init = HandshakeXX::<I>::new(
            true,
            &unhex(s("init_prologue")),
            key(s("init_static")),
            key(s("init_ephemeral")),
        );
        let mut resp = HandshakeXX::<R>::new(
            false,
            &unhex(s("resp_prologue")),
            key(s("resp_static")),
            key(s("resp_ephemeral")),
        );
        let messages = v["messages"].as_array().expect("messages");
        assert!(messages.len() >= 4);
        let mut buf = [0u8; 1024];
        for (turn, m) in messages[..3].iter().enumerate() {
            let payload = unhex(m["payload"].as_str().expect("payload"));
            let expect = unhex(m["ciphertext"].as_str().expect("ciphertext"));
            let range = if turn % 2 == 0 {
                let n = init.write_message(&payload, &mut buf).expect("write");
                assert_eq!(hex::encode(&buf[..n]), hex::encode(&expect));
                resp.read_message(&mut buf[..n]).expect("read")
            } else {
                let n = resp.write_message(&payload, &mut buf).expect("write");
                assert_eq!(hex::encode(&buf[..n]), hex::encode(&expect));
                init.read_message(&mut buf[..n]).expect("read")
            };
            assert_eq!(&buf[range], &payload[..]);
        }
        assert!(init.is_finished() && resp.is_finished());
        assert_eq!(hex::encode(init.handshake_hash()), s("handshake_hash"));
        assert_eq!(resp.handshake_hash(), init.handshake_hash());
        let (i_send, i_recv) = init.into_transport().expect("finished");
        let (r_send, r_recv) = resp.into_transport().expect("finished");
        let mut i = NoiseTransport::new(i_send, i_recv);
        let mut r = NoiseTransport::new(r_send, r_recv);
        // Transport messages continue the alternation: the responder sends message 3. A frame
        // is the 2-byte length and then the vector's ciphertext.
        let mut wire = [0u8; 1024];
        for (k, m) in messages[3..].iter().enumerate() {
            let payload = unhex(m["payload"].as_str().expect("payload"));
            let expect = unhex(m["ciphertext"].as_str().expect("ciphertext"));
            let frame = if k % 2 == 0 {
                let n = r.encrypt_frame(&payload, &mut wire).expect("fits");
                assert_eq!(hex::encode(&wire[2..n]), hex::encode(&expect));
                i.open_in_place(&mut wire[..n])
            } else {
                let n = i.encrypt_frame(&payload, &mut wire).expect("fits");
                assert_eq!(hex::encode(&wire[2..n]), hex::encode(&expect));
                r.open_in_place(&mut wire[..n])
            };
            let frame = frame.expect("authentic").expect("whole");
            assert_eq!(&wire[frame.plaintext], &payload[..]);
        }
    }
}

#[test]
fn cacophony_vector_with_native() {
    cacophony::<Native, Native>();
}

#[test]
fn cacophony_vector_portable_initiator_native_responder() {
    cacophony::<Portable, Native>();
}

#[test]
fn cacophony_vector_native_initiator_portable_responder() {
    cacophony::<Native, Portable>();
}

/// An XX handshake with empty payloads between providers `I` and `R`, then `frames` frames
/// each way; checks both sides agree on everything.
fn handshake_and_frames<I: CryptoProvider, R: CryptoProvider>(
    keys: [[u8; 32]; 4],
    prologue: &[u8],
    frames: &[Vec<u8>],
) {
    let mut init = HandshakeXX::<I>::new(true, prologue, keys[0], keys[1]);
    let mut resp = HandshakeXX::<R>::new(false, prologue, keys[2], keys[3]);
    let mut buf = [0u8; 256];
    let n = init.write_message(b"", &mut buf).expect("message 1");
    resp.read_message(&mut buf[..n]).expect("message 1");
    let n = resp
        .write_message(b"responder", &mut buf)
        .expect("message 2");
    let range = init.read_message(&mut buf[..n]).expect("message 2");
    assert_eq!(&buf[range], b"responder");
    let n = init
        .write_message(b"initiator", &mut buf)
        .expect("message 3");
    let range = resp.read_message(&mut buf[..n]).expect("message 3");
    assert_eq!(&buf[range], b"initiator");
    assert_eq!(init.handshake_hash(), resp.handshake_hash());
    assert_eq!(init.remote_static(), Some(resp.local_static()));
    assert_eq!(resp.remote_static(), Some(init.local_static()));
    let (s, r) = init.into_transport().expect("finished");
    let mut i = NoiseTransport::new(s, r);
    let (s, r) = resp.into_transport().expect("finished");
    let mut r = NoiseTransport::new(s, r);
    let mut wire = vec![0u8; 2 + 16 + frames.iter().map(Vec::len).max().unwrap_or(0)];
    for data in frames {
        let n = i.encrypt_frame(data, &mut wire).expect("fits");
        let f = r
            .open_in_place(&mut wire[..n])
            .expect("authentic")
            .expect("whole");
        assert_eq!(&wire[f.plaintext], &data[..]);
        let n = r.encrypt_frame(data, &mut wire).expect("fits");
        let f = i
            .open_in_place(&mut wire[..n])
            .expect("authentic")
            .expect("whole");
        assert_eq!(&wire[f.plaintext], &data[..]);
    }
}

#[test]
fn handshakes_between_providers_interoperate() {
    let keys = [[1; 32], [2; 32], [3; 32], [4; 32]];
    let frames = vec![vec![], vec![7; 1], vec![9; 65519]];
    handshake_and_frames::<Portable, Native>(keys, b"p", &frames);
    handshake_and_frames::<Native, Portable>(keys, b"p", &frames);
}

/// A connection and the events it reported (drained after every call, as its contract says).
struct Node<P: CryptoProvider> {
    conn: Connection<P, HeapConnection>,
    events: Vec<ConnectionEvent>,
}

impl<P: CryptoProvider> Node<P> {
    fn new(role: Role, seed: u8) -> Self {
        let identity = identity::<P>(seed);
        let config = ConnectionConfig::new(role);
        let conn = Connection::new(
            Instant::ZERO,
            config,
            identity,
            [seed ^ 0x55; 32],
            [seed; 32],
        )
        .expect("valid configuration");
        Node {
            conn,
            events: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(e) = self.conn.poll_event() {
            self.events.push(e);
        }
    }
}

fn identity<P: CryptoProvider>(seed: u8) -> NoiseIdentity {
    NoiseIdentity::ed25519::<P>(&Keypair::from_seed([seed; 32]), [seed ^ 0xff; 32])
}

impl<P: CryptoProvider> Endpoint for Node<P> {
    type Error = ConnectionError;
    fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<usize, ConnectionError> {
        let r = self.conn.handle_input(now, input);
        self.drain();
        r
    }
    fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> Option<usize> {
        let r = self.conn.poll_transmit(now, out);
        self.drain();
        r
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.conn.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) -> Result<(), ConnectionError> {
        let r = self.conn.handle_timeout(now);
        self.drain();
        r
    }
}

/// A dialer on provider `D` and a listener on provider `L` upgrade a connection (Noise with
/// signed identities, yamux) and ping over it.
fn connection_through_ping<D: CryptoProvider, L: CryptoProvider>() {
    for max_chunk in [1, 100, usize::MAX] {
        let pipe = PipeConfig {
            max_chunk,
            latency: Duration::from_millis(20),
            ..PipeConfig::default()
        };
        let mut p = Pair::new(
            Node::<D>::new(Role::Dialer, 1),
            Node::<L>::new(Role::Listener, 2),
            Instant::ZERO,
            pipe,
        );
        p.drive_until(1_000_000, |p| {
            p.a.conn.is_established() && p.b.conn.is_established()
        })
        .expect("the upgrade completes");
        assert_eq!(p.a.conn.remote_peer(), Some(identity::<L>(2).peer_id()));
        assert_eq!(p.b.conn.remote_peer(), Some(identity::<D>(1).peer_id()));
        p.a.conn.ping(p.now).expect("established");
        p.drive_until(1_000_000, |p| {
            p.a.events
                .iter()
                .any(|e| matches!(e, ConnectionEvent::PingRtt { .. }))
        })
        .expect("the ping returns");
        let rtt = p.a.events.iter().find_map(|e| match e {
            ConnectionEvent::PingRtt { rtt, .. } => Some(*rtt),
            _ => None,
        });
        assert_eq!(rtt, Some(Duration::from_millis(40)));
        assert!(p.a.conn.error().is_none() && p.b.conn.error().is_none());
    }
}

#[test]
fn native_dialer_and_portable_listener_ping() {
    connection_through_ping::<Native, Portable>();
}

#[test]
fn portable_dialer_and_native_listener_ping() {
    connection_through_ping::<Portable, Native>();
}

#[test]
fn native_connections_ping_each_other() {
    connection_through_ping::<Native, Native>();
}

/// The identity point as an ed25519 key, with `R` the identity and `S = 0`: the cofactorless
/// equation holds for every message. ed25519-dalek's plain `verify` (what rust-libp2p calls)
/// accepts it; `Portable` and `Native` reject small-order keys.
#[test]
fn small_order_key_is_rejected_by_both_providers() {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut sig = [0u8; 64];
    sig[0] = 1;
    for msg in [&b""[..], b"any message at all"] {
        let lax = ed25519_dalek::VerifyingKey::from_bytes(&identity)
            .expect("the identity point decodes")
            .verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig));
        assert!(lax.is_err(), "verify_strict rejects");
        let plain = ed25519_dalek::Verifier::verify(
            &ed25519_dalek::VerifyingKey::from_bytes(&identity).expect("decodes"),
            msg,
            &ed25519_dalek::Signature::from_bytes(&sig),
        );
        assert!(plain.is_ok(), "plain verify accepts the forgery");
        assert!(!Portable::ed25519_verify(&identity, msg, &sig));
        assert!(!Native::ed25519_verify(&identity, msg, &sig));
    }
}

/// X25519 of u-coordinates that are not canonical (at or above p, or with the top bit set):
/// RFC 7748 says to mask the top bit and reduce; both providers must agree.
#[test]
fn x25519_non_canonical_points_agree() {
    let p: [u8; 32] = {
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        p
    };
    let mut p_plus_9 = p;
    p_plus_9[0] = 0xf6;
    let mut nine_high_bit = [0u8; 32];
    nine_high_bit[0] = 9;
    nine_high_bit[31] = 0x80;
    for u in [p, p_plus_9, nine_high_bit, [0xff; 32]] {
        for secret in [[1u8; 32], [0x42; 32]] {
            assert_eq!(
                Native::x25519(&secret, &u),
                Portable::x25519(&secret, &u),
                "{u:02x?}"
            );
        }
    }
    // p is 0 mod p: a low-order point.
    assert_eq!(
        Native::x25519(&[1; 32], &p),
        Err(CryptoError::WeakPublicKey)
    );
}

fn sha256_of<P: CryptoProvider>(parts: &[Vec<u8>]) -> [u8; 32] {
    let mut h = P::sha256();
    for part in parts {
        h.update(part);
    }
    h.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Sealed by one provider, opened by the other, for arbitrary keys, nonces, AD and data;
    /// the ciphertexts and tags are identical, and a flipped bit fails both.
    #[test]
    fn aead_seal_with_one_open_with_the_other(
        key in any::<[u8; 32]>(),
        nonce in any::<u64>(),
        ad in proptest::collection::vec(any::<u8>(), 0..64),
        data in proptest::collection::vec(any::<u8>(), 0..2048),
        flip in any::<usize>(),
    ) {
        let native = Native::cipher(&key);
        let portable = Portable::cipher(&key);
        let mut by_native = data.clone();
        let native_tag = native.seal(nonce, &ad, &mut by_native);
        let mut by_portable = data.clone();
        let portable_tag = portable.seal(nonce, &ad, &mut by_portable);
        prop_assert_eq!(&by_native, &by_portable);
        prop_assert_eq!(native_tag, portable_tag);

        let mut opened = by_native.clone();
        prop_assert_eq!(portable.open(nonce, &ad, &mut opened, &native_tag), Ok(()));
        prop_assert_eq!(&opened, &data);
        let mut opened = by_portable.clone();
        prop_assert_eq!(native.open(nonce, &ad, &mut opened, &portable_tag), Ok(()));
        prop_assert_eq!(&opened, &data);

        // One flipped bit, in the ciphertext or the tag.
        let mut sealed = by_native.clone();
        let mut tag = native_tag;
        let bit = flip % ((sealed.len() + tag.len()) * 8);
        if bit / 8 < sealed.len() {
            sealed[bit / 8] ^= 1 << (bit % 8);
        } else {
            tag[bit / 8 - sealed.len()] ^= 1 << (bit % 8);
        }
        let mut copy = sealed.clone();
        prop_assert_eq!(native.open(nonce, &ad, &mut copy, &tag), Err(CryptoError::Decrypt));
        let mut copy = sealed;
        prop_assert_eq!(portable.open(nonce, &ad, &mut copy, &tag), Err(CryptoError::Decrypt));
    }

    /// X25519, SHA-256 and HKDF give the same answers with both providers.
    #[test]
    fn key_agreement_and_hashes_agree(
        secret in any::<[u8; 32]>(),
        public in any::<[u8; 32]>(),
        salt in any::<[u8; 32]>(),
        parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..4),
        blocks in 1usize..4,
    ) {
        prop_assert_eq!(Native::x25519_public(&secret), Portable::x25519_public(&secret));
        prop_assert_eq!(Native::x25519(&secret, &public), Portable::x25519(&secret, &public));
        prop_assert_eq!(sha256_of::<Native>(&parts), sha256_of::<Portable>(&parts));
        let ikm = parts.concat();
        let mut native = [[0u8; 32]; 3];
        let mut portable = [[0u8; 32]; 3];
        Native::hkdf_sha256(&salt, &ikm, &mut native[..blocks]);
        Portable::hkdf_sha256(&salt, &ikm, &mut portable[..blocks]);
        prop_assert_eq!(native, portable);
    }

    /// ed25519: the same public keys and signatures, each verifies the other's signatures, and
    /// both reject a signature with a flipped bit.
    #[test]
    fn ed25519_agrees(
        seed in any::<[u8; 32]>(),
        msg in proptest::collection::vec(any::<u8>(), 0..300),
        flip in 0usize..512,
    ) {
        let public = Native::ed25519_public(&seed);
        prop_assert_eq!(public, Portable::ed25519_public(&seed));
        let sig = Native::ed25519_sign(&seed, &msg);
        prop_assert_eq!(sig, Portable::ed25519_sign(&seed, &msg));
        prop_assert!(Portable::ed25519_verify(&public, &msg, &sig));
        prop_assert!(Native::ed25519_verify(&public, &msg, &sig));
        let mut bad = sig;
        bad[flip / 8] ^= 1 << (flip % 8);
        prop_assert!(!Portable::ed25519_verify(&public, &msg, &bad));
        prop_assert!(!Native::ed25519_verify(&public, &msg, &bad));
    }

    /// Arbitrary 32 + 64 bytes as key and signature: both providers give the same verdict
    /// (almost always a rejection; never a panic).
    #[test]
    fn ed25519_verdicts_agree_on_arbitrary_bytes(
        public in any::<[u8; 32]>(),
        sig in proptest::collection::vec(any::<u8>(), 64),
        msg in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let sig: [u8; 64] = sig.try_into().expect("64 bytes");
        prop_assert_eq!(
            Native::ed25519_verify(&public, &msg, &sig),
            Portable::ed25519_verify(&public, &msg, &sig)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Handshakes between the providers, both ways, with arbitrary keys and prologues.
    #[test]
    fn handshakes_interoperate_for_arbitrary_keys(
        keys in any::<[[u8; 32]; 4]>(),
        prologue in proptest::collection::vec(any::<u8>(), 0..40),
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..4),
    ) {
        handshake_and_frames::<Portable, Native>(keys, &prologue, &frames);
        handshake_and_frames::<Native, Portable>(keys, &prologue, &frames);
    }
}
