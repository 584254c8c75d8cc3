//! Two-party tests of the libp2p Noise handshake.
//!
//! No recorded libp2p Noise handshake with known keys was found in public test data (libp2p
//! implementations draw their ephemeral keys at random and record none), so interop at the
//! byte level rests on the cacophony vectors of the XX layer (`super::super::tests`), the
//! payload encoding checked against prost (`payload/tests.rs`) and the PeerId/key vectors of
//! the identity module; these tests check the libp2p layer between two rhizo peers.

use super::*;
use crate::crypto::Portable;
use crate::identity::{KeyType, Keypair, PeerId, PublicKey, SignError, Signer};
use crate::noise::{NoiseExtensionsBuilder, NoiseHandshakePayloadBuilder};
use proptest::prelude::*;

type Hs<I = NoiseIdentity> = NoiseHandshake<Portable, I>;
type Xx = HandshakeXX<Portable>;

const YAMUX: &str = "/yamux/1.0.0";
const MPLEX: &str = "/mplex/6.7.0";

fn identity(seed: u8) -> NoiseIdentity {
    NoiseIdentity::ed25519::<Portable>(&Keypair::from_seed([seed; 32]), [seed ^ 0x55; 32])
}

fn config<'a>(muxers: &'a [&'a str], expected: Option<PeerId>) -> NoiseHandshakeConfig<'a> {
    NoiseHandshakeConfig {
        expected_remote: expected,
        stream_muxers: muxers,
        ..NoiseHandshakeConfig::default()
    }
}

fn initiator<I: Borrow<NoiseIdentity>>(id: I, muxers: &[&str], expected: Option<PeerId>) -> Hs<I> {
    Hs::new(Role::Initiator, id, [0xe1; 32], &config(muxers, expected)).unwrap()
}

fn responder<I: Borrow<NoiseIdentity>>(id: I, muxers: &[&str]) -> Hs<I> {
    Hs::new(Role::Responder, id, [0xe2; 32], &config(muxers, None)).unwrap()
}

/// Everything `hs` wants to send, written into `out_len`-byte buffers; after
/// `BufferTooSmall` the call is repeated with the size asked for.
fn transmit<I: Borrow<NoiseIdentity>>(
    hs: &mut Hs<I>,
    out_len: usize,
    wire: &mut Vec<u8>,
) -> Result<(), NoiseHandshakeError> {
    loop {
        let mut out = vec![0u8; out_len];
        match hs.poll_transmit(&mut out) {
            Ok(Some(n)) => wire.extend_from_slice(&out[..n]),
            Ok(None) => return Ok(()),
            Err(NoiseHandshakeError::BufferTooSmall { required }) => {
                assert!(required > out_len);
                let mut out = vec![0u8; required];
                let n = hs.poll_transmit(&mut out)?.expect("a message is due");
                assert_eq!(n, required);
                wire.extend_from_slice(&out);
            }
            Err(e) => return Err(e),
        }
    }
}

/// One direction of the connection: bytes sent and not yet delivered, and bytes delivered and
/// not yet used.
#[derive(Default)]
struct Link {
    wire: Vec<u8>,
    inbox: Vec<u8>,
    transcript: Vec<u8>,
}

impl Link {
    /// Delivers up to `chunk` bytes to `hs`; returns whether anything moved.
    fn deliver<I: Borrow<NoiseIdentity>>(
        &mut self,
        hs: &mut Hs<I>,
        chunk: usize,
    ) -> Result<bool, NoiseHandshakeError> {
        let n = chunk.min(self.wire.len());
        self.inbox.extend(self.wire.drain(..n));
        let used = hs.handle_input(&mut self.inbox)?;
        assert!(used <= self.inbox.len());
        self.inbox.drain(..used);
        Ok(n > 0 || used > 0)
    }
}

/// Runs a handshake to its end, messages written with `out_len`-byte buffers and delivered
/// `chunk` bytes at a time. Returns the two links (initiator to responder, and back); an error
/// says which side failed.
fn drive<I: Borrow<NoiseIdentity>>(
    init: &mut Hs<I>,
    resp: &mut Hs<I>,
    chunk: usize,
    out_len: usize,
) -> Result<(Link, Link), (Role, NoiseHandshakeError)> {
    let (mut to_resp, mut to_init) = (Link::default(), Link::default());
    loop {
        let before = (to_resp.transcript.len(), to_init.transcript.len());
        let mut sent = Vec::new();
        transmit(init, out_len, &mut sent).map_err(|e| (Role::Initiator, e))?;
        to_resp.wire.extend_from_slice(&sent);
        to_resp.transcript.extend_from_slice(&sent);
        let mut sent = Vec::new();
        transmit(resp, out_len, &mut sent).map_err(|e| (Role::Responder, e))?;
        to_init.wire.extend_from_slice(&sent);
        to_init.transcript.extend_from_slice(&sent);
        let moved_r = to_resp
            .deliver(resp, chunk)
            .map_err(|e| (Role::Responder, e))?;
        let moved_i = to_init
            .deliver(init, chunk)
            .map_err(|e| (Role::Initiator, e))?;
        let progress =
            moved_r || moved_i || before != (to_resp.transcript.len(), to_init.transcript.len());
        if !progress {
            return Ok((to_resp, to_init));
        }
    }
}

#[test]
fn full_handshake_through_every_split_and_buffer_size() {
    let (a, b) = (identity(1), identity(2));
    let mut baseline: Option<(Vec<u8>, Vec<u8>)> = None;
    let out_lens = [1usize, 2, 31, 100, 200, 65537];
    // Chunks from 1 byte to more than the longest message, then everything at once.
    for chunk in (1..=260).chain([usize::MAX]) {
        let out_len = out_lens[chunk % out_lens.len()];
        let mut init = initiator(&a, &[YAMUX], Some(*b.peer_id()));
        let mut resp = responder(&b, &[YAMUX]);
        let (to_resp, to_init) = drive(&mut init, &mut resp, chunk, out_len).unwrap();
        assert!(init.is_finished() && resp.is_finished(), "chunk {chunk}");
        assert!(to_resp.inbox.is_empty() && to_init.inbox.is_empty());
        assert_eq!(init.remote_peer_id(), Some(b.peer_id()));
        assert_eq!(resp.remote_peer_id(), Some(a.peer_id()));
        assert_eq!(init.handshake_hash(), resp.handshake_hash());
        // Fixed keys: the bytes are the same whatever the split.
        let transcript = (to_resp.transcript, to_init.transcript);
        match &baseline {
            None => baseline = Some(transcript),
            Some(first) => assert_eq!(first, &transcript, "chunk {chunk}"),
        }
        let (mut ti, info_i) = init.into_established().unwrap();
        let (mut tr, info_r) = resp.into_established().unwrap();
        assert_eq!(info_i.peer_id, *b.peer_id());
        assert_eq!(info_r.peer_id, *a.peer_id());
        assert_eq!(info_i.public_key, Keypair::from_seed([2; 32]).public());
        assert_eq!(info_i.muxer.as_deref(), Some(YAMUX));
        assert_eq!(info_r.muxer.as_deref(), Some(YAMUX));
        let mut frame = [0u8; 64];
        let n = ti.encrypt_frame(b"ping", &mut frame).unwrap();
        let opened = tr.open_in_place(&mut frame[..n]).unwrap().unwrap();
        assert_eq!(&frame[opened.plaintext], b"ping");
    }
    // Message sizes: 2 + 32; 2 + 32 + 48 + payload + 16; 2 + 48 + payload + 16.
    let (i_bytes, r_bytes) = baseline.unwrap();
    let payload_len = 38 + 66 + 16; // key, signature, extensions with one muxer (with tags)
    assert_eq!(i_bytes.len(), 34 + 2 + 48 + payload_len + 16);
    assert_eq!(r_bytes.len(), 2 + 32 + 48 + payload_len + 16);
    assert_eq!(&i_bytes[..2], &[0, 32]);
}

/// Messages 1, 2 and 3 of an honest handshake, and the two machines after it.
fn honest(
    a: &NoiseIdentity,
    b: &NoiseIdentity,
) -> (Hs<NoiseIdentity>, Hs<NoiseIdentity>, [Vec<u8>; 3]) {
    let mut init = initiator(a.clone(), &[YAMUX], None);
    let mut resp = responder(b.clone(), &[YAMUX]);
    let mut out = vec![0u8; 4096];
    let n = init.poll_transmit(&mut out).unwrap().unwrap();
    let m1 = out[..n].to_vec();
    assert_eq!(init.poll_transmit(&mut out), Ok(None));
    assert_eq!(resp.handle_input(&mut m1.clone()), Ok(m1.len()));
    let n = resp.poll_transmit(&mut out).unwrap().unwrap();
    let m2 = out[..n].to_vec();
    assert_eq!(resp.poll_transmit(&mut out), Ok(None));
    assert_eq!(init.handle_input(&mut m2.clone()), Ok(m2.len()));
    let n = init.poll_transmit(&mut out).unwrap().unwrap();
    let m3 = out[..n].to_vec();
    assert!(init.is_finished() && !resp.is_finished());
    (init, resp, [m1, m2, m3])
}

#[test]
fn first_transport_frame_in_the_same_input_as_message_3() {
    let (a, b) = (identity(3), identity(4));
    let (init, mut resp, [_, _, m3]) = honest(&a, &b);
    let (mut ti, _) = init.into_established().unwrap();
    let mut input = m3.clone();
    let mut frame = [0u8; 64];
    let n = ti.encrypt_frame(b"hello", &mut frame).unwrap();
    input.extend_from_slice(&frame[..n]);
    let n = ti.encrypt_frame(b"again", &mut frame).unwrap();
    input.extend_from_slice(&frame[..n]);
    // Only message 3 is used; the frames are the caller's.
    assert_eq!(resp.handle_input(&mut input), Ok(m3.len()));
    assert!(resp.is_finished());
    assert_eq!(resp.handle_input(&mut input[m3.len()..]), Ok(0));
    assert_eq!(resp.poll_transmit(&mut frame), Ok(None));
    let (mut tr, info) = resp.into_established().unwrap();
    assert_eq!(info.peer_id, *a.peer_id());
    let rest = &mut input[m3.len()..];
    let first = tr.open_in_place(rest).unwrap().unwrap();
    assert_eq!(&rest[first.plaintext.clone()], b"hello");
    let rest = &mut rest[first.consumed..];
    let second = tr.open_in_place(rest).unwrap().unwrap();
    assert_eq!(&rest[second.plaintext], b"again");
    // And back.
    let n = tr.encrypt_frame(b"world", &mut frame).unwrap();
    let opened = ti.open_in_place(&mut frame[..n]).unwrap().unwrap();
    assert_eq!(&frame[opened.plaintext], b"world");
}

#[test]
fn expected_peer_id_mismatch_fails_on_the_initiator_before_message_3() {
    let (a, b, c) = (identity(5), identity(6), identity(7));
    let mut init = initiator(&a, &[], Some(*c.peer_id()));
    let mut resp = responder(&b, &[]);
    assert_eq!(init.expected_remote(), Some(c.peer_id()));
    let expected = NoiseHandshakeError::PeerIdMismatch {
        actual: *b.peer_id(),
    };
    assert_eq!(
        drive(&mut init, &mut resp, usize::MAX, 4096).err(),
        Some((Role::Initiator, expected))
    );
    // Failed for good: nothing more goes out, and the responder never got message 3.
    let mut out = [0u8; 4096];
    assert_eq!(init.poll_transmit(&mut out), Err(expected));
    assert_eq!(init.handle_input(&mut []), Err(expected));
    assert!(!init.is_finished() && !resp.is_finished());
    assert_eq!(init.error(), Some(expected));
    assert_eq!(init.into_established().unwrap_err(), expected);
    assert_eq!(
        resp.into_established().unwrap_err(),
        NoiseHandshakeError::NotFinished
    );
    // A responder that expects someone else fails at message 3.
    let mut init = initiator(&a, &[], None);
    let mut resp = Hs::new(
        Role::Responder,
        &b,
        [9; 32],
        &config(&[], Some(*c.peer_id())),
    )
    .unwrap();
    assert_eq!(
        drive(&mut init, &mut resp, 7, 4096).err(),
        Some((
            Role::Responder,
            NoiseHandshakeError::PeerIdMismatch {
                actual: *a.peer_id()
            }
        ))
    );
    assert!(init.is_finished());
}

#[test]
fn tampered_messages_2_and_3_fail() {
    let (a, b) = (identity(8), identity(9));
    let (_, _, [m1, m2, m3]) = honest(&a, &b);
    for at in (0..m2.len()).step_by(3).chain([1, m2.len() - 1]) {
        let mut init = initiator(a.clone(), &[YAMUX], None);
        let mut out = [0u8; 64];
        init.poll_transmit(&mut out).unwrap();
        let mut bad = m2.clone();
        bad[at] ^= 0x20;
        match init.handle_input(&mut bad) {
            // A longer length prefix: still waiting for the rest.
            Ok(0) if at < 2 => {}
            Err(NoiseHandshakeError::Noise(_)) => {}
            other => panic!("byte {at} of message 2: {other:?}"),
        }
        assert!(init.remote_peer_id().is_none());
    }
    for at in (0..m3.len()).step_by(3).chain([1, m3.len() - 1]) {
        let mut resp = responder(b.clone(), &[YAMUX]);
        resp.handle_input(&mut m1.clone()).unwrap();
        let mut out = [0u8; 4096];
        resp.poll_transmit(&mut out).unwrap();
        let mut bad = m3.clone();
        bad[at] ^= 0x01;
        match resp.handle_input(&mut bad) {
            Ok(0) if at < 2 => {}
            Err(NoiseHandshakeError::Noise(_)) => {}
            other => panic!("byte {at} of message 3: {other:?}"),
        }
        assert!(!resp.is_finished());
    }
}

/// Message 2 made by hand from `payload`, as a responder with static secret `static_secret`
/// answering the initiator's message 1 `m1`.
fn hand_made_message_2(m1: &[u8], static_secret: [u8; 32], payload: &[u8]) -> Vec<u8> {
    let mut xx = Xx::new(false, b"", static_secret, [0x77; 32]);
    xx.read_message(&mut m1[2..].to_vec()).unwrap();
    let mut out = vec![0u8; 2 + xx.message_len(payload.len())];
    let n = xx.write_message(payload, &mut out[2..]).unwrap();
    out[..2].copy_from_slice(&(n as u16).to_be_bytes());
    out
}

/// What an initiator (with `muxers`) makes of a hand-made message 2 carrying `payload`.
fn initiator_reads(payload: &[u8], static_secret: [u8; 32], muxers: &[&str]) -> Hs {
    let mut init = initiator(identity(10), muxers, None);
    let mut m1 = [0u8; 34];
    init.poll_transmit(&mut m1).unwrap();
    let mut m2 = hand_made_message_2(&m1, static_secret, payload);
    let _ = init.handle_input(&mut m2);
    init
}

fn signed_payload(keypair: &Keypair, signed_static: &[u8; 32], muxers: &[&str]) -> Vec<u8> {
    NoiseHandshakePayloadBuilder {
        identity_key: &keypair.public().to_protobuf(),
        identity_sig: &keypair.sign(&static_key_signing_input(signed_static)),
        extensions: Some(NoiseExtensionsBuilder {
            webtransport_certhashes: &[],
            stream_muxers: muxers,
        }),
    }
    .encode_to_vec()
}

#[test]
fn a_signature_over_another_static_key_fails() {
    let keypair = Keypair::from_seed([11; 32]);
    let secret = [12u8; 32];
    let real = Portable::x25519_public(&secret);
    let other = Portable::x25519_public(&[13; 32]);
    // The hand-made message is right when it signs the real key...
    let init = initiator_reads(&signed_payload(&keypair, &real, &[]), secret, &[]);
    assert_eq!(init.error(), None);
    assert_eq!(
        init.remote_peer_id(),
        Some(&PeerId::from_public_key(&keypair.public()))
    );
    // ...and refused when it signs another.
    let init = initiator_reads(&signed_payload(&keypair, &other, &[]), secret, &[]);
    assert_eq!(init.error(), Some(NoiseHandshakeError::InvalidSignature));
    assert!(init.remote_peer_id().is_none());
}

#[test]
fn malformed_payloads_fail() {
    let keypair = Keypair::from_seed([14; 32]);
    let secret = [15u8; 32];
    let real = Portable::x25519_public(&secret);
    let key = keypair.public().to_protobuf();
    let sig = keypair.sign(&static_key_signing_input(&real));
    let cases: [(Vec<u8>, NoiseHandshakeError); 5] = [
        (
            vec![0x0a],
            NoiseHandshakeError::Payload(ProtoError::Truncated),
        ),
        (
            vec![],
            NoiseHandshakeError::InvalidKey(KeyError::Proto(ProtoError::MissingField { field: 1 })),
        ),
        (
            NoiseHandshakePayloadBuilder {
                identity_key: &key,
                identity_sig: &sig[..63],
                extensions: None,
            }
            .encode_to_vec(),
            NoiseHandshakeError::InvalidSignature,
        ),
        (
            NoiseHandshakePayloadBuilder {
                identity_key: &key,
                identity_sig: &[],
                extensions: None,
            }
            .encode_to_vec(),
            NoiseHandshakeError::InvalidSignature,
        ),
        (
            NoiseHandshakePayloadBuilder {
                identity_key: &[0x08, 0x07, 0x12, 0x00],
                identity_sig: &sig,
                extensions: None,
            }
            .encode_to_vec(),
            NoiseHandshakeError::InvalidKey(KeyError::UnknownKeyType(7)),
        ),
    ];
    for (payload, expected) in cases {
        let init = initiator_reads(&payload, secret, &[]);
        assert_eq!(init.error(), Some(expected), "{payload:02x?}");
    }
}

#[test]
fn message_1_payload_is_ignored_and_its_size_is_bounded() {
    // An initiator of the first spec draft sends early data in message 1.
    let mut xx = Xx::new(true, b"", [16; 32], [17; 32]);
    let mut m1 = vec![0u8; 2 + xx.message_len(5)];
    let n = xx.write_message(b"early", &mut m1[2..]).unwrap();
    m1[..2].copy_from_slice(&(n as u16).to_be_bytes());
    let mut resp = responder(identity(18), &[]);
    assert_eq!(resp.handle_input(&mut m1.clone()), Ok(m1.len()));
    let mut out = [0u8; 4096];
    assert!(resp.poll_transmit(&mut out).unwrap().is_some());
    // A limit below the message's length fails as soon as the prefix is read.
    let limited = NoiseHandshakeConfig {
        max_message_len: 36,
        ..NoiseHandshakeConfig::default()
    };
    let mut resp = Hs::new(Role::Responder, identity(18), [1; 32], &limited).unwrap();
    assert_eq!(
        resp.handle_input(&mut m1[..2].to_vec()),
        Err(NoiseHandshakeError::FrameTooLong { len: 37 })
    );
    assert_eq!(
        resp.handle_input(&mut m1.clone()),
        Err(NoiseHandshakeError::FrameTooLong { len: 37 })
    );
    // The largest prefix within the limit just waits for its bytes.
    let mut resp = responder(identity(18), &[]);
    assert_eq!(resp.handle_input(&mut [0xff, 0xff, 0, 0]), Ok(0));
    // Too short for an ephemeral key.
    assert_eq!(
        resp.handle_input(&mut [0, 3, 1, 2, 3]),
        Err(NoiseHandshakeError::Noise(NoiseError::MessageTooShort))
    );
    // Nothing to read before message 1 is sent, nothing to send before it is read.
    let mut init = initiator(identity(19), &[], None);
    assert_eq!(init.handle_input(&mut m1.clone()), Ok(0));
    let mut resp = responder(identity(18), &[]);
    assert_eq!(resp.poll_transmit(&mut out), Ok(None));
    assert_eq!(
        resp.into_established().unwrap_err(),
        NoiseHandshakeError::NotFinished
    );
}

/// A secp256k1 signer: the [`Signer`] seam with a key type other than Ed25519.
struct Secp256k1Signer(k256::ecdsa::SigningKey);

impl Signer for Secp256k1Signer {
    fn public_key(&self) -> PublicKey {
        let point = self.0.verifying_key().to_sec1_point(true);
        PublicKey::from_data(KeyType::Secp256k1, point.as_bytes()).unwrap()
    }
    fn max_signature_len(&self) -> usize {
        72
    }
    fn sign(&self, message: &[u8], out: &mut [u8]) -> Result<usize, SignError> {
        use k256::ecdsa::signature::hazmat::PrehashSigner;
        use sha2::Digest;
        let sig: k256::ecdsa::Signature = self
            .0
            .sign_prehash(&sha2::Sha256::digest(message))
            .map_err(|_| SignError::Failed)?;
        let der = sig.to_der();
        let dst = out.get_mut(..der.len()).ok_or(SignError::Failed)?;
        dst.copy_from_slice(der.as_bytes());
        Ok(der.len())
    }
}

/// An ECDSA P-256 signer.
struct P256Signer(p256::ecdsa::SigningKey);

impl Signer for P256Signer {
    fn public_key(&self) -> PublicKey {
        use p256::pkcs8::EncodePublicKey;
        let der = self.0.verifying_key().to_public_key_der().unwrap();
        PublicKey::from_data(KeyType::Ecdsa, der.as_bytes()).unwrap()
    }
    fn max_signature_len(&self) -> usize {
        72
    }
    fn sign(&self, message: &[u8], out: &mut [u8]) -> Result<usize, SignError> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        use sha2::Digest;
        let sig: p256::ecdsa::Signature = self
            .0
            .sign_prehash(&sha2::Sha256::digest(message))
            .map_err(|_| SignError::Failed)?;
        let der = sig.to_der();
        let dst = out.get_mut(..der.len()).ok_or(SignError::Failed)?;
        dst.copy_from_slice(der.as_bytes());
        Ok(der.len())
    }
}

/// A signer that cannot sign.
struct BrokenSigner;

impl Signer for BrokenSigner {
    fn public_key(&self) -> PublicKey {
        Keypair::from_seed([0; 32]).public()
    }
    fn max_signature_len(&self) -> usize {
        64
    }
    fn sign(&self, _: &[u8], _: &mut [u8]) -> Result<usize, SignError> {
        Err(SignError::Failed)
    }
}

#[test]
fn identities_of_other_key_types_are_accepted() {
    let secp = Secp256k1Signer(k256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap());
    let p256 = P256Signer(p256::ecdsa::SigningKey::from_slice(&[0x43; 32]).unwrap());
    let signers: [(&dyn Signer, KeyType); 3] = [
        (&secp, KeyType::Secp256k1),
        (&p256, KeyType::Ecdsa),
        (&Keypair::from_seed([0x44; 32]), KeyType::Ed25519),
    ];
    for (signer, key_type) in signers {
        let id = NoiseIdentity::from_signer::<Portable, _>(signer, [0x45; 32]).unwrap();
        let expected = PeerId::from_public_key(&signer.public_key());
        assert_eq!(id.peer_id(), &expected);
        // As responder, then as initiator.
        let mut init = initiator(identity(20), &[YAMUX], Some(expected));
        let mut resp = responder(id.clone(), &[YAMUX]);
        drive(&mut init, &mut resp, 13, 4096).unwrap();
        let (_, info) = init.into_established().unwrap();
        assert_eq!(info.peer_id, expected);
        assert_eq!(info.public_key.key_type(), key_type);
        assert_eq!(info.muxer.as_deref(), Some(YAMUX));
        let mut init = initiator(id, &[], None);
        let mut resp = responder(identity(21), &[]);
        drive(&mut init, &mut resp, 1000, 4096).unwrap();
        assert_eq!(resp.remote_peer_id(), Some(&expected));
    }
    assert_eq!(
        NoiseIdentity::from_signer::<Portable, _>(&BrokenSigner, [1; 32]).unwrap_err(),
        SignError::Failed
    );
}

/// An RSA signer (RSASSA-PKCS1-v1.5 with SHA-256), with rust-libp2p's test key.
#[cfg(feature = "alloc")]
struct RsaSigner(rsa::RsaPrivateKey);

#[cfg(feature = "alloc")]
impl Signer for RsaSigner {
    fn public_key(&self) -> PublicKey {
        use rsa::pkcs8::EncodePublicKey;
        let spki = self.0.to_public_key().to_public_key_der().unwrap();
        PublicKey::from_data(KeyType::Rsa, spki.as_bytes()).unwrap()
    }
    fn max_signature_len(&self) -> usize {
        512
    }
    fn sign(&self, message: &[u8], out: &mut [u8]) -> Result<usize, SignError> {
        use rsa::signature::{SignatureEncoding, Signer as _};
        let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(self.0.clone());
        let sig = signer.sign(message).to_vec();
        let dst = out.get_mut(..sig.len()).ok_or(SignError::Failed)?;
        dst.copy_from_slice(&sig);
        Ok(sig.len())
    }
}

#[cfg(feature = "alloc")]
#[test]
fn rsa_identities_are_accepted() {
    use rsa::pkcs8::DecodePrivateKey;
    let der = include_bytes!("../../../tests/vectors/peer-ids/rust-libp2p-identity/rsa-2048.pk8");
    let signer = RsaSigner(rsa::RsaPrivateKey::from_pkcs8_der(der).unwrap());
    let id = NoiseIdentity::from_signer::<Portable, _>(&signer, [0x48; 32]).unwrap();
    assert_eq!(id.signature().len(), 256);
    let expected = PeerId::from_public_key(&signer.public_key());
    let local = identity(31);
    let mut init = initiator(&local, &[], Some(expected));
    let mut resp = responder(&id, &[]);
    drive(&mut init, &mut resp, 100, 64).unwrap();
    let (_, info) = init.into_established().unwrap();
    assert_eq!(info.peer_id, expected);
    assert_eq!(info.public_key.key_type(), KeyType::Rsa);
}

#[test]
fn ed25519_identity_from_a_signer_matches_the_provider_path() {
    let keypair = Keypair::from_seed([0x46; 32]);
    let direct = NoiseIdentity::ed25519::<Portable>(&keypair, [0x47; 32]);
    let via = NoiseIdentity::from_signer::<Portable, _>(&keypair, [0x47; 32]).unwrap();
    assert_eq!(direct.signature(), via.signature());
    assert_eq!(direct.identity_key(), via.identity_key());
    assert_eq!(
        direct.static_public(),
        &Portable::x25519_public(&[0x47; 32])
    );
    assert!(!format!("{direct:?}").contains("47, 47"));
}

/// The early muxer each side settles on, with these lists.
fn negotiate(init_muxers: &[&str], resp_muxers: &[&str]) -> (Option<String>, Option<String>) {
    let mut init = initiator(identity(22), init_muxers, None);
    let mut resp = responder(identity(23), resp_muxers);
    drive(&mut init, &mut resp, usize::MAX, 4096).unwrap();
    let (_, i) = init.into_established().unwrap();
    let (_, r) = resp.into_established().unwrap();
    (
        i.muxer.map(|m| m.as_str().to_owned()),
        r.muxer.map(|m| m.as_str().to_owned()),
    )
}

#[test]
fn early_muxer_negotiation() {
    let both = |m: &str| (Some(m.to_owned()), Some(m.to_owned()));
    // The initiator's preference wins (go-libp2p since 2022; the spec's example shows the
    // responder's, against its own rule).
    assert_eq!(negotiate(&[YAMUX, MPLEX], &[MPLEX, YAMUX]), both(YAMUX));
    assert_eq!(negotiate(&[MPLEX, YAMUX], &[YAMUX, MPLEX]), both(MPLEX));
    assert_eq!(negotiate(&["/other", YAMUX], &[MPLEX, YAMUX]), both(YAMUX));
    // No overlap, or a list missing: multistream-select after the handshake.
    assert_eq!(negotiate(&[YAMUX], &[MPLEX]), (None, None));
    assert_eq!(negotiate(&[], &[YAMUX]), (None, None));
    assert_eq!(negotiate(&[YAMUX], &[]), (None, None));
    assert_eq!(negotiate(&[], &[]), (None, None));
}

#[test]
fn remote_muxer_lists_over_the_limit_are_ignored() {
    let keypair = Keypair::from_seed([24; 32]);
    let secret = [25u8; 32];
    let real = Portable::x25519_public(&secret);
    for (filler, expect) in [
        (MAX_REMOTE_MUXERS - 1, Some(YAMUX)),
        (MAX_REMOTE_MUXERS, None),
    ] {
        let mut muxers = vec!["/x"; filler];
        muxers.push(YAMUX);
        let init = initiator_reads(&signed_payload(&keypair, &real, &muxers), secret, &[YAMUX]);
        assert_eq!(init.error(), None);
        assert_eq!(init.muxer(), expect, "{} muxers", muxers.len());
    }
}

#[test]
fn config_errors() {
    let long = "/".repeat(MAX_MUXER_ID_LEN + 1);
    let ok = "/".repeat(MAX_MUXER_ID_LEN);
    let many = [ok.as_str(); 4];
    for (muxers, expected) in [
        (&[""][..], Err(NoiseConfigError::InvalidMuxerId)),
        (&[long.as_str()][..], Err(NoiseConfigError::InvalidMuxerId)),
        (&many[..], Err(NoiseConfigError::TooManyMuxers)),
        (&many[..3], Ok(())),
    ] {
        let made = Hs::new(
            Role::Initiator,
            identity(26),
            [1; 32],
            &config(muxers, None),
        );
        assert_eq!(made.map(|_| ()), expected);
    }
}

#[test]
fn errors_display() {
    let id = *identity(1).peer_id();
    let errors = [
        NoiseHandshakeError::Noise(NoiseError::Decrypt),
        NoiseHandshakeError::Payload(ProtoError::Truncated),
        NoiseHandshakeError::InvalidKey(KeyError::NonCanonical),
        NoiseHandshakeError::InvalidSignature,
        NoiseHandshakeError::UnsupportedKeyType(KeyType::Rsa),
        NoiseHandshakeError::PeerIdMismatch { actual: id },
        NoiseHandshakeError::FrameTooLong { len: 9 },
        NoiseHandshakeError::BufferTooSmall { required: 9 },
        NoiseHandshakeError::NotFinished,
    ];
    for e in errors {
        assert!(e.to_string().starts_with("noise"), "{e}");
    }
    assert!(!NoiseConfigError::TooManyMuxers.to_string().is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_input_never_panics_or_finishes(
        m1 in proptest::collection::vec(any::<u8>(), 0..64),
        m2 in proptest::collection::vec(any::<u8>(), 0..400),
        m3 in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        // A responder fed anything: message 1 may be accepted, message 3 never.
        let mut resp = responder(identity(27), &[YAMUX]);
        let mut out = vec![0u8; 4096];
        for input in [m1, m3] {
            let mut input = input;
            if let Ok(used) = resp.handle_input(&mut input) {
                prop_assert!(used <= input.len());
            }
            let _ = resp.poll_transmit(&mut out);
        }
        prop_assert!(!resp.is_finished());
        // An initiator fed anything as message 2.
        let mut init = initiator(identity(28), &[YAMUX], None);
        init.poll_transmit(&mut out).unwrap();
        let mut m2 = m2;
        if let Ok(used) = init.handle_input(&mut m2) {
            prop_assert!(used <= m2.len());
        }
        prop_assert!(init.remote_peer_id().is_none());
    }

    #[test]
    fn a_flipped_byte_anywhere_fails_or_stalls(at in any::<prop::sample::Index>(), bit in 0u8..8, chunk in 1usize..300) {
        let (a, b) = (identity(29), identity(30));
        let (_, _, [m1, m2, m3]) = honest(&a, &b);
        let mut stream = [m1.clone(), m2.clone(), m3.clone()].concat();
        let at = at.index(stream.len());
        stream[at] ^= 1 << bit;
        let (w1, w2) = (m1.len(), m1.len() + m2.len());
        let (s1, s2, s3) = (&stream[..w1], &stream[w1..w2], &stream[w2..]);
        let mut init = initiator(&a, &[YAMUX], None);
        let mut resp = responder(&b, &[YAMUX]);
        let mut out = vec![0u8; 4096];
        init.poll_transmit(&mut out).unwrap();
        // Feed the altered transcript piecewise where it belongs.
        let mut to_resp = Vec::new();
        let mut to_init = Vec::new();
        for (part, to_responder) in [(s1, true), (s2, false), (s3, true)] {
            for piece in part.chunks(chunk) {
                let (inbox, hs) = if to_responder { (&mut to_resp, &mut resp) } else { (&mut to_init, &mut init) };
                inbox.extend_from_slice(piece);
                if let Ok(used) = hs.handle_input(inbox) {
                    inbox.drain(..used);
                }
                let _ = hs.poll_transmit(&mut out);
            }
        }
        // The machines are deterministic, so the recorded messages are the ones they would
        // exchange; with any bit altered, at most one side completes.
        prop_assert!(!(init.is_finished() && resp.is_finished()), "byte {}", at);
    }
}
