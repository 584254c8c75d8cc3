use super::*;
use crate::crypto::Portable;
use proptest::prelude::*;

type Hs = HandshakeXX<Portable>;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex in vector file")
}

fn key(s: &str) -> [u8; 32] {
    unhex(s).try_into().expect("32-byte key")
}

/// The cacophony vector for Noise_XX_25519_ChaChaPoly_SHA256 (see
/// core/tests/vectors/noise/README.md): every handshake and transport ciphertext must match.
#[test]
fn cacophony_vector() {
    let text = include_str!("../../tests/vectors/noise/cacophony-XX_25519_ChaChaPoly_SHA256.json");
    let file: serde_json::Value = serde_json::from_str(text).unwrap();
    let vectors = file["vectors"].as_array().unwrap();
    assert!(!vectors.is_empty());
    for v in vectors {
        assert_eq!(v["protocol_name"], PROTOCOL_NAME);
        let s = |k: &str| v[k].as_str().unwrap();
        let mut init = Hs::new(
            true,
            &unhex(s("init_prologue")),
            key(s("init_static")),
            key(s("init_ephemeral")),
        );
        let mut resp = Hs::new(
            false,
            &unhex(s("resp_prologue")),
            key(s("resp_static")),
            key(s("resp_ephemeral")),
        );
        let messages = v["messages"].as_array().unwrap();
        assert!(messages.len() >= 4);
        let mut buf = [0u8; 1024];
        for m in &messages[..3] {
            let payload = unhex(m["payload"].as_str().unwrap());
            let expect = unhex(m["ciphertext"].as_str().unwrap());
            let (w, r) = if init.is_my_turn() {
                (&mut init, &mut resp)
            } else {
                (&mut resp, &mut init)
            };
            let n = w.write_message(&payload, &mut buf).unwrap();
            assert_eq!(hex::encode(&buf[..n]), hex::encode(&expect));
            let range = r.read_message(&mut buf[..n]).unwrap();
            assert_eq!(&buf[range], &payload[..]);
        }
        assert!(init.is_finished() && resp.is_finished());
        assert_eq!(hex::encode(init.handshake_hash()), s("handshake_hash"));
        assert_eq!(resp.handshake_hash(), init.handshake_hash());
        assert_eq!(init.remote_static(), Some(resp.local_static()));
        let (mut i_send, mut i_recv) = init.into_transport().unwrap();
        let (mut r_send, mut r_recv) = resp.into_transport().unwrap();
        // Transport messages continue the alternation: the responder sends message 3.
        for (i, m) in messages[3..].iter().enumerate() {
            let payload = unhex(m["payload"].as_str().unwrap());
            let expect = unhex(m["ciphertext"].as_str().unwrap());
            let (send, recv) = if i % 2 == 0 {
                (&mut r_send, &mut i_recv)
            } else {
                (&mut i_send, &mut r_recv)
            };
            buf[..payload.len()].copy_from_slice(&payload);
            let n = send.encrypt_with_ad(&[], &mut buf, payload.len()).unwrap();
            assert_eq!(hex::encode(&buf[..n]), hex::encode(&expect));
            let plain = recv.decrypt_with_ad(&[], &mut buf[..n]).unwrap();
            assert_eq!(&buf[..plain], &payload[..]);
        }
    }
}

fn handshake(
    seed: u8,
) -> (
    NoiseTransport<Portable>,
    NoiseTransport<Portable>,
    [u8; 32],
    [u8; 32],
) {
    let mut i = Hs::new(true, b"", [seed; 32], [seed.wrapping_add(1); 32]);
    let mut r = Hs::new(
        false,
        b"",
        [seed.wrapping_add(2); 32],
        [seed.wrapping_add(3); 32],
    );
    let mut buf = [0u8; 256];
    for payload in [&b""[..], b"responder identity", b"initiator identity"] {
        let (w, rd) = if i.is_my_turn() {
            (&mut i, &mut r)
        } else {
            (&mut r, &mut i)
        };
        let n = w.write_message(payload, &mut buf).unwrap();
        let range = rd.read_message(&mut buf[..n]).unwrap();
        assert_eq!(&buf[range], payload);
    }
    let i_rs = *i.remote_static().unwrap();
    let r_rs = *r.remote_static().unwrap();
    let (s, rc) = i.into_transport().unwrap();
    let (s2, rc2) = r.into_transport().unwrap();
    (
        NoiseTransport::new(s, rc),
        NoiseTransport::new(s2, rc2),
        i_rs,
        r_rs,
    )
}

#[test]
fn handshake_learns_static_keys_and_frames_round_trip() {
    let (mut a, mut b, a_sees, b_sees) = handshake(9);
    assert_eq!(
        a_sees,
        <Portable as crate::crypto::CryptoProvider>::x25519_public(&[11; 32])
    );
    assert_eq!(
        b_sees,
        <Portable as crate::crypto::CryptoProvider>::x25519_public(&[9; 32])
    );
    let mut wire = vec![0u8; MAX_FRAME_LEN + 2];
    for len in [0usize, 1, 100, MAX_PLAINTEXT_LEN] {
        let data: Vec<u8> = (0..len).map(|x| x as u8).collect();
        let n = a.encrypt_frame(&data, &mut wire).unwrap();
        assert_eq!(n, len + 18);
        // Every prefix short of the whole frame is incomplete.
        for cut in [0, 1, 2, n - 1] {
            assert_eq!(b.open_in_place(&mut wire[..cut]).unwrap(), None);
        }
        let f = b.open_in_place(&mut wire[..n]).unwrap().unwrap();
        assert_eq!(f.consumed, n);
        assert_eq!(&wire[f.plaintext], &data[..]);
    }
    assert_eq!(
        a.encrypt_frame(&vec![0; MAX_PLAINTEXT_LEN + 1], &mut wire),
        Err(NoiseError::FrameTooLong)
    );
    assert_eq!(a.nonces(), (4, 0));
    assert_eq!(b.nonces(), (0, 4));
}

#[test]
fn tampering_is_detected_and_does_not_advance_the_nonce() {
    let (mut a, mut b, _, _) = handshake(1);
    let mut wire = [0u8; 64];
    let n = a.encrypt_frame(b"hello", &mut wire).unwrap();
    let good = wire;
    wire[5] ^= 1;
    assert_eq!(b.open_in_place(&mut wire[..n]), Err(NoiseError::Decrypt));
    assert_eq!(b.nonces().1, 0);
    let mut wire = good;
    let f = b.open_in_place(&mut wire[..n]).unwrap().unwrap();
    assert_eq!(&wire[f.plaintext], b"hello");
    // A replayed frame fails: its nonce has passed.
    let mut wire = good;
    assert_eq!(b.open_in_place(&mut wire[..n]), Err(NoiseError::Decrypt));
}

#[test]
fn handshake_errors() {
    let mut i = Hs::new(true, b"", [1; 32], [2; 32]);
    let mut r = Hs::new(false, b"", [3; 32], [4; 32]);
    let mut buf = [0u8; 256];
    assert_eq!(r.write_message(b"", &mut buf), Err(NoiseError::OutOfOrder));
    assert_eq!(
        i.write_message(b"", &mut buf[..10]),
        Err(NoiseError::BufferTooSmall { required: 32 })
    );
    let n = i.write_message(b"", &mut buf).unwrap();
    assert_eq!(
        r.read_message(&mut buf[..n - 1]),
        Err(NoiseError::MessageTooShort)
    );
    // A low-order ephemeral key from the initiator.
    let mut r = Hs::new(false, b"", [3; 32], [4; 32]);
    let mut zero = [0u8; 32];
    r.read_message(&mut zero).unwrap();
    assert_eq!(r.write_message(b"", &mut buf), Err(NoiseError::WeakKey));
    // A different prologue makes message 2 fail to authenticate.
    let mut i = Hs::new(true, b"a", [1; 32], [2; 32]);
    let mut r = Hs::new(false, b"b", [3; 32], [4; 32]);
    let n = i.write_message(b"", &mut buf).unwrap();
    r.read_message(&mut buf[..n]).unwrap();
    let n = r.write_message(b"x", &mut buf).unwrap();
    assert_eq!(i.read_message(&mut buf[..n]), Err(NoiseError::Decrypt));
    assert!(
        Hs::new(true, b"", [1; 32], [2; 32])
            .into_transport()
            .is_err()
    );
}

proptest! {
    #[test]
    fn arbitrary_handshake_messages_never_panic(m1 in proptest::collection::vec(any::<u8>(), 0..120), m2 in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut r = Hs::new(false, b"", [3; 32], [4; 32]);
        let mut m1 = m1;
        if r.read_message(&mut m1).is_ok() {
            let mut buf = [0u8; 256];
            let _ = r.write_message(b"", &mut buf);
            let mut m2 = m2.clone();
            let _ = r.read_message(&mut m2);
        }
        let mut i = Hs::new(true, b"", [1; 32], [2; 32]);
        let mut buf = [0u8; 64];
        i.write_message(b"", &mut buf).unwrap();
        let mut m2 = m2;
        prop_assert!(i.read_message(&mut m2).is_err());
    }

    #[test]
    fn arbitrary_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let (_, mut b, _, _) = handshake(5);
        let mut bytes = bytes;
        if let Ok(Some(f)) = b.open_in_place(&mut bytes) {
            prop_assert!(f.consumed <= bytes.len());
        }
    }
}
