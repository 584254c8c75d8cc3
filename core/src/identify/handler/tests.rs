//! Identify handlers against each other on the in-memory stream, with real signed messages.

use super::*;
use crate::identify::check::{CheckedIdentify, IdentifyCheckError, PeerRecordStatus};
use crate::identity::peer_record;
use crate::identity::{Keypair, PeerId};
use crate::stream_pair::StreamPair;
use crate::wire::frame;
use proptest::prelude::*;

const TCP: &[u8] = &[4, 127, 0, 0, 1, 6, 0x10, 0x01]; // /ip4/127.0.0.1/tcp/4097
const UDP: &[u8] = &[4, 10, 0, 0, 2, 0x91, 0x02, 0x10, 0x01]; // /ip4/10.0.0.2/udp/4097
const PROTOCOLS: &[&str] = &["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0", "/perf/1.0.0"];

/// The parts of a real identify message: a public key and a signed peer record from a
/// keypair made from a fixed seed.
struct Parts {
    keypair: Keypair,
    public_key: Vec<u8>,
    record: Vec<u8>,
}

impl Parts {
    fn new(seed: u8, record_addrs: &[&[u8]]) -> Self {
        let keypair = Keypair::from_seed([seed; 32]);
        let public_key = keypair.public().to_protobuf().to_vec();
        let mut record_buf = [0u8; 256];
        let mut out = [0u8; 1024];
        let record = peer_record::seal(
            &keypair,
            42,
            record_addrs.iter().copied(),
            &mut record_buf,
            &mut out,
        )
        .unwrap()
        .to_vec();
        Parts {
            keypair,
            public_key,
            record,
        }
    }

    fn peer_id(&self) -> PeerId {
        PeerId::from_public_key(&self.keypair.public())
    }

    fn builder(&self) -> IdentifyBuilder<'_> {
        IdentifyBuilder {
            protocol_version: Some("ipfs/0.1.0"),
            agent_version: Some("rhizo/0.1.0"),
            public_key: Some(&self.public_key),
            listen_addrs: &[TCP, UDP],
            observed_addr: Some(TCP),
            protocols: PROTOCOLS,
            signed_peer_record: Some(&self.record),
        }
    }
}

fn exchange<A, B>(a: A, b: B, chunks: &[usize], out_len: usize) -> StreamPair<A, B>
where
    A: StreamHandler,
    B: StreamHandler,
    A::Error: core::fmt::Debug,
    B::Error: core::fmt::Debug,
{
    let mut p = StreamPair::new(a, b, chunks, out_len);
    p.run();
    p
}

fn assert_is_parts_message(message: Identify<'_>, parts: &Parts) {
    assert_eq!(message.protocol_version(), Some("ipfs/0.1.0"));
    assert_eq!(message.agent_version(), Some("rhizo/0.1.0"));
    assert_eq!(message.public_key(), Some(&parts.public_key[..]));
    assert_eq!(message.listen_addrs().collect::<Vec<_>>(), [TCP, UDP]);
    assert_eq!(message.observed_addr(), Some(TCP));
    assert_eq!(message.protocols().collect::<Vec<_>>(), PROTOCOLS);
    let checked = CheckedIdentify::check(message, &parts.peer_id()).unwrap();
    assert_eq!(checked.record_status(), PeerRecordStatus::Verified);
    assert!(checked.listen_addrs_are_signed());
    assert_eq!(checked.listen_addrs().collect::<Vec<_>>(), [TCP]);
    assert_eq!(checked.signed_peer_record().unwrap().record.seq(), 42);
}

#[test]
fn identify_round_trip() {
    let parts = Parts::new(1, &[TCP]);
    for (chunks, out_len) in [(&[1usize][..], 1), (&[2, 3], 7), (&[], 4096), (&[100], 50)] {
        let responder =
            IdentifyResponder::<SENT_FRAME_CAPACITY>::new(Instant::ZERO, &parts.builder()).unwrap();
        let requester = IdentifyRequester::<MAX_MESSAGE_LEN>::new(Instant::ZERO);
        // The requester opens the stream and reads: it is `a` here only by convention.
        let p = exchange(requester, responder, chunks, out_len);
        assert_eq!(p.a_error, None);
        assert_eq!(p.b_error, None);
        assert_eq!(p.a_events, [IdentifyEvent::Received]);
        assert_eq!(p.b_events, [IdentifyEvent::Sent]);
        assert!(p.a.is_done() && p.b.is_done());
        assert_is_parts_message(p.a.message().unwrap(), &parts);
        assert_eq!(p.a.message_bytes().unwrap(), &p.b.frame()[2..]);
    }
}

#[test]
fn push_round_trip() {
    let parts = Parts::new(2, &[TCP]);
    let mut encoded = vec![0u8; parts.builder().encoded_len()];
    parts.builder().encode(&mut encoded).unwrap();
    let sender =
        IdentifyPushSender::<SENT_FRAME_CAPACITY>::from_message(Instant::ZERO, &encoded).unwrap();
    let receiver = IdentifyPushReceiver::<MAX_MESSAGE_LEN>::new(Instant::ZERO);
    let p = exchange(sender, receiver, &[5, 1], 3);
    assert_eq!(p.a_events, [IdentifyEvent::Sent]);
    assert_eq!(p.b_events, [IdentifyEvent::Received]);
    assert_is_parts_message(p.b.message().unwrap(), &parts);
}

#[test]
fn frames_are_merged() {
    // go-libp2p's split: the message without its record, then the record alone.
    let parts = Parts::new(3, &[TCP]);
    let first = IdentifyBuilder {
        signed_peer_record: None,
        ..parts.builder()
    };
    let second = IdentifyBuilder {
        signed_peer_record: Some(&parts.record),
        ..IdentifyBuilder::default()
    };
    let mut wire = vec![0u8; first.frame_len() + second.frame_len()];
    let n = first.encode_frame(&mut wire).unwrap();
    second.encode_frame(&mut wire[n..]).unwrap();
    for split in [1, 2, 7, wire.len()] {
        let mut requester = IdentifyRequester::<MAX_MESSAGE_LEN>::new(Instant::ZERO);
        for chunk in wire.chunks(split) {
            assert_eq!(
                requester.handle_input(Instant::ZERO, chunk),
                Ok(chunk.len())
            );
        }
        assert_eq!(requester.message(), None);
        requester.handle_remote_close(Instant::ZERO).unwrap();
        assert_eq!(requester.poll_event(), Some(IdentifyEvent::Received));
        assert_eq!(requester.poll_event(), None);
        assert_is_parts_message(requester.message().unwrap(), &parts);
    }
}

#[test]
fn requester_rejects_bad_streams() {
    let now = Instant::ZERO;
    let fresh = IdentifyRequester::<MAX_MESSAGE_LEN>::new;
    // Oversize, from the length prefix alone.
    let mut prefix = [0u8; 4];
    let n = crate::wire::varint::encode(MAX_MESSAGE_LEN as u64 + 1, &mut prefix).unwrap();
    assert_eq!(
        fresh(now).handle_input(now, &prefix[..n]),
        Err(IdentifyStreamError::TooLong {
            max: MAX_MESSAGE_LEN
        })
    );
    // Oversize in total, over two frames.
    let mut small = IdentifyRequester::<16>::new(now);
    assert_eq!(small.handle_input(now, &[10; 11]), Ok(11));
    assert_eq!(
        small.handle_input(now, &[7]),
        Err(IdentifyStreamError::TooLong { max: 16 })
    );
    // Too many frames.
    let mut r = fresh(now);
    assert_eq!(r.handle_input(now, &[0; MAX_FRAMES]), Ok(MAX_FRAMES));
    assert_eq!(
        r.handle_input(now, &[0]),
        Err(IdentifyStreamError::TooManyFrames)
    );
    // Malformed prefix.
    assert_eq!(
        fresh(now).handle_input(now, &[0x80, 0x00]),
        Err(IdentifyStreamError::Frame(FrameError::Length(
            VarintError::NotMinimal
        )))
    );
    // Truncated frame, no message, invalid message.
    let mut r = fresh(now);
    r.handle_input(now, &[5, 1]).unwrap();
    assert_eq!(
        r.handle_remote_close(now),
        Err(IdentifyStreamError::Truncated)
    );
    let mut r = fresh(now);
    r.handle_input(now, &[0x85]).unwrap();
    assert_eq!(
        r.handle_remote_close(now),
        Err(IdentifyStreamError::Truncated)
    );
    assert_eq!(
        fresh(now).handle_remote_close(now),
        Err(IdentifyStreamError::NoMessage)
    );
    let mut r = fresh(now);
    r.handle_input(now, &[2, 0x2a, 0x05]).unwrap();
    assert!(matches!(
        r.handle_remote_close(now),
        Err(IdentifyStreamError::Message(_))
    ));
    // An empty message is a valid (empty) identify message.
    let mut r = fresh(now);
    r.handle_input(now, &[0]).unwrap();
    r.handle_remote_close(now).unwrap();
    assert_eq!(r.message().unwrap().protocols().count(), 0);
    // Timeout.
    let r = fresh(now).with_timeout(now, Duration::from_secs(5));
    let mut r = r;
    assert_eq!(r.poll_timeout(), Some(Instant::from_secs(5)));
    assert_eq!(r.handle_timeout(Instant::from_secs(4)), Ok(()));
    assert_eq!(
        r.handle_timeout(Instant::from_secs(5)),
        Err(IdentifyStreamError::Timeout)
    );
}

#[test]
fn responder_limits() {
    let now = Instant::ZERO;
    let big = vec![0u8; MAX_SENT_MESSAGE_LEN + 1];
    assert_eq!(
        IdentifyResponder::<SENT_FRAME_CAPACITY>::from_message(now, &big).unwrap_err(),
        IdentifyEncodeError::TooLong {
            len: MAX_SENT_MESSAGE_LEN + 1,
            max: MAX_SENT_MESSAGE_LEN
        }
    );
    let fits = vec![0u8; MAX_SENT_MESSAGE_LEN];
    let r = IdentifyResponder::<SENT_FRAME_CAPACITY>::from_message(now, &fits).unwrap();
    assert_eq!(r.frame().len(), SENT_FRAME_CAPACITY);
    let parts = Parts::new(4, &[TCP]);
    assert!(matches!(
        IdentifyResponder::<64>::new(now, &parts.builder()),
        Err(IdentifyEncodeError::TooLong { max: 64, .. })
    ));
    // The requester must not write.
    let mut r = IdentifyResponder::<64>::from_message(now, &[]).unwrap();
    assert_eq!(
        r.handle_input(now, &[1]),
        Err(IdentifyStreamError::UnexpectedData)
    );
    // Sent, and the peer never closes: the timeout lets it go without error.
    assert_eq!(r.poll_transmit(now, &mut [0; 8]), 1);
    assert!(r.wants_close() && !r.is_done());
    assert_eq!(r.handle_timeout(now + DEFAULT_TIMEOUT), Ok(()));
    assert!(r.is_done());
    // Not sent in time: an error.
    let mut r = IdentifyResponder::<64>::from_message(now, &[]).unwrap();
    assert_eq!(
        r.handle_timeout(now + DEFAULT_TIMEOUT),
        Err(IdentifyStreamError::Timeout)
    );
}

#[test]
fn check_against_the_remote_peer() {
    let parts = Parts::new(5, &[UDP]);
    let other = Parts::new(6, &[TCP]);
    let mut buf = vec![0u8; 2048];
    // A public key that is not the remote's.
    let n = parts.builder().encode(&mut buf).unwrap();
    let message = Identify::decode(&buf[..n]).unwrap();
    assert_eq!(
        CheckedIdentify::check(message, &other.peer_id()).unwrap_err(),
        IdentifyCheckError::PublicKeyMismatch
    );
    // Another peer's record: kept out, the plain addresses used.
    let builder = IdentifyBuilder {
        signed_peer_record: Some(&other.record),
        ..parts.builder()
    };
    let n = builder.encode(&mut buf).unwrap();
    let checked =
        CheckedIdentify::check(Identify::decode(&buf[..n]).unwrap(), &parts.peer_id()).unwrap();
    assert_eq!(checked.record_status(), PeerRecordStatus::OtherPeer);
    assert!(!checked.listen_addrs_are_signed());
    assert_eq!(checked.listen_addrs().collect::<Vec<_>>(), [TCP, UDP]);
    // A broken record.
    let mut broken = parts.record.clone();
    let last = broken.len() - 1;
    broken[last] ^= 1;
    let builder = IdentifyBuilder {
        signed_peer_record: Some(&broken),
        public_key: None,
        ..parts.builder()
    };
    let n = builder.encode(&mut buf).unwrap();
    let checked =
        CheckedIdentify::check(Identify::decode(&buf[..n]).unwrap(), &parts.peer_id()).unwrap();
    assert!(matches!(
        checked.record_status(),
        PeerRecordStatus::Invalid(_)
    ));
    assert_eq!(checked.signed_peer_record(), None);
    // A key that does not decode.
    let builder = IdentifyBuilder {
        public_key: Some(&[1, 2, 3]),
        ..IdentifyBuilder::default()
    };
    let n = builder.encode(&mut buf).unwrap();
    assert!(matches!(
        CheckedIdentify::check(Identify::decode(&buf[..n]).unwrap(), &parts.peer_id()),
        Err(IdentifyCheckError::PublicKey(_))
    ));
    // The frame a responder writes is what `Identify::decode_frame` reads.
    let responder =
        IdentifyResponder::<SENT_FRAME_CAPACITY>::new(Instant::ZERO, &parts.builder()).unwrap();
    let framed = frame::decode(responder.frame(), MAX_MESSAGE_LEN)
        .unwrap()
        .unwrap();
    assert_eq!(framed.consumed, responder.frame().len());
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8),
        close: bool,
    ) {
        let now = Instant::ZERO;
        let mut requester = IdentifyRequester::<256>::new(now);
        let mut responder = IdentifyResponder::<64>::from_message(now, b"\x2a\x01x").unwrap();
        for chunk in &chunks {
            match requester.handle_input(now, chunk) {
                Ok(used) => prop_assert_eq!(used, chunk.len()),
                Err(_) => break,
            }
            let _ = responder.handle_input(now, chunk);
            let _ = responder.poll_transmit(now, &mut [0; 5]);
        }
        prop_assert!(requester.message_bytes().is_none());
        if close && requester.handle_remote_close(now).is_ok() {
            let message = requester.message().unwrap();
            prop_assert!(message.as_bytes().len() <= 256);
            let _ = CheckedIdentify::check(message, &Parts::new(1, &[]).peer_id());
        }
        let _ = requester.handle_timeout(Instant::MAX);
        let _ = responder.handle_timeout(Instant::MAX);
    }
}
