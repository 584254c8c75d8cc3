//! Identify requester and responder driven by arbitrary chunks: never a panic, every input
//! consumed whole or refused, a received message is valid, within the buffer and exactly the
//! frames' payloads merged, and the responder writes exactly its frame.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rhizo_core::identify::handler::{IdentifyEvent, IdentifyRequester, IdentifyResponder};
use rhizo_core::identify::{CheckedIdentify, Identify};
use rhizo_core::identity::{Keypair, PeerId};
use rhizo_core::stream::StreamHandler;
use rhizo_core::time::{Duration, Instant};
use rhizo_core::wire::frame;

#[derive(Arbitrary, Debug)]
enum Op {
    Input(Vec<u8>),
    Transmit(u8),
    Advance(u16),
    RemoteClose,
}

/// The payloads of the complete frames at the front of `bytes`, merged; `None` if any frame
/// is malformed.
fn merged_payloads(mut bytes: &[u8]) -> Option<Vec<u8>> {
    let mut merged = Vec::new();
    while !bytes.is_empty() {
        let f = frame::decode(bytes, usize::MAX).ok()??;
        merged.extend_from_slice(f.payload);
        bytes = &bytes[f.consumed..];
    }
    Some(merged)
}

fuzz_target!(|input: (Vec<u8>, Vec<Op>)| {
    let (message, ops) = input;
    let mut now = Instant::ZERO;
    let mut requester = IdentifyRequester::<512>::new(now);
    let Ok(mut responder) = IdentifyResponder::<600>::from_message(now, &message) else {
        assert!(message.len() > 512);
        return;
    };
    let mut consumed = Vec::new();
    let mut written = Vec::new();
    let mut alive = true;
    for op in ops {
        match op {
            Op::Input(bytes) => {
                if alive {
                    match requester.handle_input(now, &bytes) {
                        Ok(used) => {
                            assert_eq!(used, bytes.len());
                            consumed.extend_from_slice(&bytes);
                        }
                        Err(_) => alive = false,
                    }
                }
                let _ = responder.handle_input(now, &bytes);
            }
            Op::Transmit(len) => {
                let mut out = vec![0u8; usize::from(len)];
                let n = responder.poll_transmit(now, &mut out);
                written.extend_from_slice(&out[..n]);
                assert_eq!(requester.poll_transmit(now, &mut out), 0);
            }
            Op::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms));
                if alive && requester.poll_timeout().is_some_and(|t| t <= now) {
                    alive &= requester.handle_timeout(now).is_ok();
                }
                let _ = responder.handle_timeout(now);
            }
            Op::RemoteClose => {
                if alive && requester.message().is_none() {
                    alive &= requester.handle_remote_close(now).is_ok();
                }
                let _ = responder.handle_remote_close(now);
            }
        }
        assert_eq!(written[..], responder.frame()[..written.len()]);
        if responder.poll_event() == Some(IdentifyEvent::Sent) {
            assert_eq!(written, responder.frame());
            assert!(responder.wants_close());
        }
        if requester.poll_event() == Some(IdentifyEvent::Received) {
            let message = requester.message().expect("received");
            assert!(message.as_bytes().len() <= 512);
            assert_eq!(
                Some(message.as_bytes().to_vec()),
                merged_payloads(&consumed)
            );
            assert!(Identify::decode(message.as_bytes()).is_ok());
            let remote = PeerId::from_public_key(&Keypair::from_seed([1; 32]).public());
            let _ = CheckedIdentify::check(message, &remote);
        }
    }
});
