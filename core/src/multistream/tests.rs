use super::*;
use crate::wire::BufferTooSmall;
use proptest::prelude::*;

/// One side's end of a negotiation: how it ended, or its error.
type Side = Result<Option<Outcome>, MultistreamError>;

const HEADER: &[u8] = b"\x13/multistream/1.0.0\n";

fn drain_dialer(d: &mut MultistreamDialer, protocols: &[&str], chunk: usize) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = vec![0u8; chunk];
    while let Some(n) = d.poll_transmit(&mut buf, protocols).unwrap() {
        all.extend_from_slice(&buf[..n]);
    }
    all
}

fn drain_listener(l: &mut MultistreamListener, protocols: &[&str], chunk: usize) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = vec![0u8; chunk];
    while let Some(n) = l.poll_transmit(&mut buf, protocols).unwrap() {
        all.extend_from_slice(&buf[..n]);
    }
    all
}

/// Runs a dialer and a listener against each other, delivering at most `split` bytes per
/// input call, and appends `dialer_data` after the dialer's messages once it considers the
/// protocol agreed (as an application would). Returns both outcomes and what the listener
/// left unconsumed (the application data it must hand to the protocol).
fn negotiate(
    dialer_protos: &[&str],
    listener_protos: &[&str],
    lazy: bool,
    split: usize,
    out_chunk: usize,
) -> (Side, Side, Vec<u8>) {
    let mut d = MultistreamDialer::new(dialer_protos, lazy).unwrap();
    let mut l = MultistreamListener::new();
    // Bytes in flight, and bytes arrived but not yet consumed, for each direction.
    let (mut wire_l, mut to_l) = (Vec::new(), Vec::new());
    let (mut wire_d, mut to_d) = (Vec::new(), Vec::new());
    let mut sent_data = false;
    for _ in 0..10_000 {
        wire_l.extend(drain_dialer(&mut d, dialer_protos, out_chunk));
        if !sent_data && matches!(d.outcome(), Some(Outcome::Agreed { .. })) {
            wire_l.extend_from_slice(b"APP");
            sent_data = true;
        }
        wire_d.extend(drain_listener(&mut l, listener_protos, out_chunk));
        if wire_l.is_empty() && wire_d.is_empty() {
            break;
        }
        // Deliver at most `split` bytes each way, then let each side read all it has.
        let n = wire_l.len().min(split);
        to_l.extend(wire_l.drain(..n));
        let n = wire_d.len().min(split);
        to_d.extend(wire_d.drain(..n));
        if l.outcome().is_none() {
            match l.handle_input(&to_l, listener_protos) {
                Ok(used) => drop(to_l.drain(..used)),
                Err(e) => return (Ok(d.outcome()), Err(e), to_l),
            }
        }
        if d.wants_input() {
            match d.handle_input(&to_d, dialer_protos) {
                Ok(used) => drop(to_d.drain(..used)),
                Err(e) => return (Err(e), Ok(l.outcome()), to_l),
            }
        }
    }
    assert!(to_d.is_empty(), "dialer left {to_d:?}");
    (Ok(d.outcome()), Ok(l.outcome()), to_l)
}

#[test]
fn wire_bytes_match_the_spec() {
    let protos = ["/ipfs/ping/1.0.0"];
    let mut d = MultistreamDialer::new(&protos, false).unwrap();
    let sent = drain_dialer(&mut d, &protos, 64);
    assert_eq!(&sent[..HEADER.len()], HEADER);
    assert_eq!(&sent[HEADER.len()..], b"\x11/ipfs/ping/1.0.0\n");
    // "na" is 0x036e610a (spec example).
    let mut l = MultistreamListener::new();
    let mut input = HEADER.to_vec();
    input.extend_from_slice(b"\x05/foo\n");
    assert_eq!(l.handle_input(&input, &protos), Ok(input.len()));
    assert_eq!(
        drain_listener(&mut l, &protos, 64),
        [HEADER, &[0x03, 0x6e, 0x61, 0x0a]].concat()
    );
}

#[test]
fn agrees_on_the_first_supported_protocol_across_every_split() {
    let dialer = ["/a/1", "/b/2", "/c/3"];
    let listener = ["/z", "/c/3", "/b/2"];
    for split in 1..=64 {
        for out_chunk in [24, 64, 4096] {
            let (d, l, rest) = negotiate(&dialer, &listener, false, split, out_chunk);
            assert_eq!(d, Ok(Some(Outcome::Agreed { index: 1 })), "split {split}");
            assert_eq!(l, Ok(Some(Outcome::Agreed { index: 2 })), "split {split}");
            assert_eq!(rest, b"APP", "split {split}");
        }
    }
}

#[test]
fn lazy_dialer_sends_data_in_the_first_flight() {
    let protos = ["/yamux/1.0.0"];
    for split in 1..=48 {
        let (d, l, rest) = negotiate(&protos, &protos, true, split, 4096);
        assert_eq!(d, Ok(Some(Outcome::Agreed { index: 0 })));
        assert_eq!(l, Ok(Some(Outcome::Agreed { index: 0 })));
        assert_eq!(rest, b"APP");
    }
    // The optimistic flight is header, proposal and data, before any answer.
    let mut d = MultistreamDialer::new(&protos, true).unwrap();
    assert_eq!(d.outcome(), Some(Outcome::Agreed { index: 0 }));
    assert!(d.wants_input());
    drain_dialer(&mut d, &protos, 64);
    // Listener answers header + echo + its own protocol data in one segment.
    let mut input = HEADER.to_vec();
    input.extend_from_slice(b"\x0d/yamux/1.0.0\nDATA");
    assert_eq!(d.handle_input(&input, &protos), Ok(input.len() - 4));
    assert!(!d.wants_input());
}

#[test]
fn lazy_refusal_is_an_error() {
    let (d, l, _) = negotiate(&["/x"], &["/y"], true, 100, 4096);
    assert_eq!(d, Err(MultistreamError::LazyProposalRefused));
    assert_eq!(l, Ok(None));
}

#[test]
fn refused_when_nothing_matches() {
    let (d, l, _) = negotiate(&["/x", "/y"], &["/z"], false, 7, 4096);
    assert_eq!(d, Ok(Some(Outcome::Refused)));
    assert_eq!(l, Ok(None));
}

#[test]
fn ls_lists_the_protocols() {
    let protos = ["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"];
    let mut l = MultistreamListener::new();
    let input = [HEADER, b"\x03ls\n"].concat();
    assert_eq!(l.handle_input(&input, &protos), Ok(input.len()));
    let out = drain_listener(&mut l, &protos, 128);
    let answer = &out[HEADER.len()..];
    let inner = [
        &b"\x0f/ipfs/id/1.0.0\n"[..],
        b"\x11/ipfs/ping/1.0.0\n",
        b"\n",
    ]
    .concat();
    assert_eq!(answer[0] as usize, inner.len());
    assert_eq!(&answer[1..], &inner[..]);
    // An `ls` answer that would exceed the limit lists what fits.
    let many: Vec<String> = (0..200).map(|i| format!("/proto/number/{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let mut l = MultistreamListener::new();
    l.handle_input(&input, &many).unwrap();
    let out = drain_listener(&mut l, &many, 4096);
    let frame = crate::wire::frame::decode(&out[HEADER.len()..], DEFAULT_MAX_MESSAGE_LEN)
        .unwrap()
        .unwrap();
    assert!(frame.payload.len() <= DEFAULT_MAX_MESSAGE_LEN);
    assert!(frame.payload.ends_with(b"\n\n"));
}

#[test]
fn violations_are_typed_errors() {
    let protos = ["/a"];
    let mut l = MultistreamListener::new();
    assert_eq!(
        l.handle_input(b"\x05/bad\n", &protos),
        Err(MultistreamError::NotMultistream)
    );
    let mut l = MultistreamListener::new();
    let input = [HEADER, b"\x03na\n"].concat();
    assert_eq!(
        l.handle_input(&input, &protos),
        Err(MultistreamError::UnexpectedMessage)
    );
    let mut l = MultistreamListener::new();
    let input = [HEADER, b"\x04nope"].concat();
    assert_eq!(
        l.handle_input(&input, &protos),
        Err(MultistreamError::InvalidMessage)
    );
    // A length above the limit fails on the prefix alone.
    let mut l = MultistreamListener::new();
    let input = [HEADER, &[0x81, 0x08][..]].concat();
    assert!(matches!(
        l.handle_input(&input, &protos),
        Err(MultistreamError::Frame(_))
    ));
    // A dialer that answers with a different protocol than it proposed.
    let mut d = MultistreamDialer::new(&protos, false).unwrap();
    let input = [HEADER, b"\x03/b\n"].concat();
    assert_eq!(
        d.handle_input(&input, &protos),
        Err(MultistreamError::UnexpectedMessage)
    );
    assert_eq!(
        MultistreamDialer::new(&[], false).err(),
        Some(MultistreamError::NoProtocols)
    );
    assert_eq!(
        MultistreamDialer::new(&["no-slash"], false).err(),
        Some(MultistreamError::InvalidProtocolId)
    );
    assert_eq!(
        MultistreamDialer::new(&["/a\nb"], false).err(),
        Some(MultistreamError::InvalidProtocolId)
    );
    let mut d = MultistreamDialer::new(&protos, false).unwrap();
    assert_eq!(
        d.poll_transmit(&mut [0u8; 4], &protos),
        Err(BufferTooSmall { required: 20 })
    );
}

#[test]
fn proposal_floods_are_bounded_and_backpressured() {
    let protos = ["/a"];
    let mut l = MultistreamListener::with_limits(64, 5);
    let mut input = HEADER.to_vec();
    for _ in 0..10 {
        input.extend_from_slice(b"\x03/x\n");
    }
    // The outbox holds a few answers; the listener stops reading until they are sent.
    let mut pos = 0;
    let mut nas = 0;
    let err = loop {
        match l.handle_input(&input[pos..], &protos) {
            Ok(used) => {
                assert!(used > 0, "stalled with nothing to send");
                pos += used;
                let out = drain_listener(&mut l, &protos, 256);
                nas += out.windows(4).filter(|w| w == b"\x03na\n").count();
            }
            Err(e) => {
                let out = drain_listener(&mut l, &protos, 256);
                nas += out.windows(4).filter(|w| w == b"\x03na\n").count();
                break e;
            }
        }
    };
    assert_eq!(err, MultistreamError::TooManyProposals);
    assert_eq!(nas, 5);
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(input in proptest::collection::vec(any::<u8>(), 0..200), lazy: bool) {
        let protos = ["/a", "/b/c"];
        let mut l = MultistreamListener::with_limits(64, 4);
        let mut buf = [0u8; 256];
        if let Ok(used) = l.handle_input(&input, &protos) {
            prop_assert!(used <= input.len());
            while l.poll_transmit(&mut buf, &protos).unwrap().is_some() {}
        }
        let mut d = MultistreamDialer::new(&protos[..1], lazy).unwrap();
        while d.poll_transmit(&mut buf, &protos[..1]).unwrap().is_some() {}
        if let Ok(used) = d.handle_input(&input, &protos[..1]) {
            prop_assert!(used <= input.len());
        }
    }

    #[test]
    fn headers_then_random_protocol_sets_agree(
        dialer in proptest::collection::vec("/[a-c]{1,2}", 1..4),
        listener in proptest::collection::vec("/[a-c]{1,2}", 0..4),
        split in 1usize..40,
    ) {
        let dialer: Vec<&str> = dialer.iter().map(String::as_str).collect();
        let listener: Vec<&str> = listener.iter().map(String::as_str).collect();
        let expect = dialer.iter().position(|p| listener.contains(p));
        let (d, l, _) = negotiate(&dialer, &listener, false, split, 4096);
        match expect {
            Some(i) => {
                prop_assert_eq!(d, Ok(Some(Outcome::Agreed { index: i })));
                let j = listener.iter().position(|p| *p == dialer[i]).unwrap();
                prop_assert_eq!(l, Ok(Some(Outcome::Agreed { index: j })));
            }
            None => prop_assert_eq!(d, Ok(Some(Outcome::Refused))),
        }
    }
}
