use super::*;
use crate::stream_pair::StreamPair;
use proptest::prelude::*;

const MS: Duration = Duration::from_millis(1);

fn manual() -> PingDialerConfig {
    PingDialerConfig {
        timeout: DEFAULT_TIMEOUT,
        interval: None,
    }
}

fn pair(
    config: PingDialerConfig,
    chunks: &[usize],
    out_len: usize,
) -> StreamPair<PingDialer, PingListener> {
    StreamPair::new(
        PingDialer::new(config, [7; 32]),
        PingListener::new(Instant::ZERO, PingListenerConfig::default()),
        chunks,
        out_len,
    )
}

#[test]
fn rtt_is_the_virtual_time_in_flight() {
    for (chunks, out_len) in [(&[1usize][..], 1), (&[32], 32), (&[5, 1, 30], 7), (&[], 64)] {
        let mut p = pair(manual(), chunks, out_len);
        p.a.ping(p.now, [0xab; 32]).unwrap();
        assert_eq!(p.a.ping(p.now, [1; 32]), Err(PingStartError::Outstanding));
        p.send_a();
        p.advance(7 * MS);
        p.deliver_to_b();
        p.send_b();
        p.advance(8 * MS);
        p.deliver_to_a();
        assert_eq!(p.a_events, [PingEvent::Rtt(15 * MS)]);
        assert_eq!(p.b_events, [PingEvent::Echoed]);
        assert!(!p.a.is_pinging());
        assert_eq!(p.a.pings_completed(), 1);
    }
}

#[test]
fn repeated_pings_on_one_stream_then_close() {
    let config = PingDialerConfig {
        timeout: Duration::from_secs(20),
        interval: Some(Duration::from_secs(15)),
    };
    let mut p = pair(config, &[3, 1, 9], 5);
    // The first ping goes at once; then one every 15 s.
    p.run_for(Duration::from_secs(46), Duration::from_secs(1));
    assert_eq!(p.a_events, [PingEvent::Rtt(Duration::ZERO); 4]);
    assert_eq!(p.b.pings_received(), 4);
    assert!(p.a_error.is_none() && p.b_error.is_none());
    assert_eq!(p.a.poll_timeout(), Some(Instant::from_secs(60)));
    // Closing: the listener closes its half in turn, and both are done.
    p.a.close();
    assert_eq!(p.a.ping(p.now, [0; 32]), Err(PingStartError::Closed));
    p.run();
    assert!(p.a.is_done() && p.b.is_done());
    assert_eq!(p.a.poll_timeout(), None);
    assert_eq!(p.b.poll_timeout(), None);
}

#[test]
fn automatic_payloads_differ() {
    let mut dialer = PingDialer::new(PingDialerConfig::default(), [0; 32]);
    let mut seen = Vec::new();
    for round in 0..4u64 {
        let now = Instant::from_secs(round * 100);
        dialer.handle_timeout(now).unwrap();
        let mut out = [0u8; 64];
        assert_eq!(dialer.poll_transmit(now, &mut out), PAYLOAD_LEN);
        let payload = out[..PAYLOAD_LEN].to_vec();
        assert!(!seen.contains(&payload));
        assert_eq!(dialer.handle_input(now, &payload), Ok(PAYLOAD_LEN));
        seen.push(payload);
    }
}

#[test]
fn timeout_fires() {
    let mut p = pair(manual(), &[], 64);
    p.a.ping(p.now, [1; 32]).unwrap();
    p.send_a();
    // The echo is never delivered.
    p.advance(DEFAULT_TIMEOUT - MS);
    p.fire_timeouts();
    assert_eq!(p.a_error, None);
    p.advance(MS);
    p.fire_timeouts();
    assert_eq!(p.a_error, Some(PingError::Timeout));
}

#[test]
fn wrong_or_unexpected_echo_fails() {
    let mut dialer = PingDialer::new(manual(), [0; 32]);
    let now = Instant::ZERO;
    assert_eq!(
        dialer.handle_input(now, &[0]),
        Err(PingError::UnexpectedData)
    );
    dialer.ping(now, [5; 32]).unwrap();
    // Nothing written yet: no echo can be right.
    assert_eq!(
        dialer.handle_input(now, &[5]),
        Err(PingError::UnexpectedData)
    );
    let mut out = [0u8; 32];
    assert_eq!(dialer.poll_transmit(now, &mut out), 32);
    assert_eq!(dialer.handle_input(now, &[5; 10]), Ok(10));
    assert_eq!(dialer.handle_input(now, &[6]), Err(PingError::WrongEcho));

    // Bytes after a complete echo are not an echo.
    let mut dialer = PingDialer::new(manual(), [0; 32]);
    dialer.ping(now, [5; 32]).unwrap();
    dialer.poll_transmit(now, &mut out);
    assert_eq!(dialer.handle_input(now, &[5; 40]), Ok(32));
    assert_eq!(
        dialer.handle_input(now, &[5; 8]),
        Err(PingError::UnexpectedData)
    );
    // The peer closing with a ping outstanding.
    dialer.ping(now, [9; 32]).unwrap();
    assert_eq!(
        dialer.handle_remote_close(now),
        Err(PingError::ClosedByPeer)
    );
}

#[test]
fn listener_limits() {
    let now = Instant::ZERO;
    // Truncated payload at close.
    let mut listener = PingListener::new(now, PingListenerConfig::default());
    assert_eq!(listener.handle_input(now, &[1; 33]), Ok(33));
    assert_eq!(
        listener.handle_remote_close(now),
        Err(PingListenerError::TruncatedPayload)
    );

    // Backpressure: at most one payload received and one echo pending.
    let mut listener = PingListener::new(now, PingListenerConfig::default());
    assert_eq!(listener.handle_input(now, &[1; 100]), Ok(64));
    assert_eq!(listener.handle_input(now, &[1; 36]), Ok(0));
    let mut out = [0u8; 100];
    assert_eq!(listener.poll_transmit(now, &mut out), 32);
    assert_eq!(listener.poll_transmit(now, &mut out), 32);
    assert_eq!(listener.poll_transmit(now, &mut out), 0);
    assert_eq!(listener.poll_event(), Some(PingEvent::Echoed));
    assert_eq!(listener.poll_event(), Some(PingEvent::Echoed));
    assert_eq!(listener.poll_event(), None);

    // Idle timeout, refreshed by each ping.
    let idle = DEFAULT_IDLE_TIMEOUT;
    let mut listener = PingListener::new(now, PingListenerConfig::default());
    assert_eq!(listener.poll_timeout(), Some(now + idle));
    let later = now + Duration::from_secs(30);
    listener.handle_input(later, &[2; 32]).unwrap();
    assert_eq!(listener.poll_timeout(), Some(later + idle));
    assert_eq!(listener.handle_timeout(now + idle), Ok(()));
    assert_eq!(
        listener.handle_timeout(later + idle),
        Err(PingListenerError::IdleTimeout)
    );

    // A cap on pings per stream.
    let config = PingListenerConfig {
        max_pings: Some(2),
        ..PingListenerConfig::default()
    };
    let mut p = StreamPair::new(
        PingDialer::new(manual(), [1; 32]),
        PingListener::new(now, config),
        &[],
        64,
    );
    for i in 0..3u8 {
        p.a.ping(p.now, [i; 32]).unwrap();
        p.run();
    }
    assert_eq!(p.a_events.len(), 2);
    assert_eq!(p.b_error, Some(PingListenerError::TooManyPings));
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..8),
        close: bool,
    ) {
        let now = Instant::from_secs(1);
        let mut dialer = PingDialer::new(PingDialerConfig::default(), [3; 32]);
        let mut listener = PingListener::new(now, PingListenerConfig::default());
        let mut out = [0u8; 13];
        for chunk in &chunks {
            dialer.poll_transmit(now, &mut out);
            listener.poll_transmit(now, &mut out);
            if let Ok(used) = dialer.handle_input(now, chunk) {
                prop_assert!(used <= chunk.len());
            }
            if let Ok(used) = listener.handle_input(now, chunk) {
                prop_assert!(used <= chunk.len());
            }
        }
        if close {
            let _ = dialer.handle_remote_close(now);
            let _ = listener.handle_remote_close(now);
        }
        let _ = dialer.handle_timeout(Instant::MAX);
        let _ = listener.handle_timeout(Instant::MAX);
    }

    #[test]
    fn pings_survive_any_chunking(
        chunks in proptest::collection::vec(1usize..40, 1..6),
        out_len in 1usize..70,
        pings in 1usize..5,
    ) {
        let mut p = pair(manual(), &chunks, out_len);
        for i in 0..pings {
            p.a.ping(p.now, [i as u8; 32]).unwrap();
            p.run();
            p.advance(MS);
        }
        prop_assert_eq!(p.a_events.len(), pings);
        p.a.close();
        p.run();
        prop_assert!(p.a.is_done() && p.b.is_done());
        prop_assert_eq!(p.b_events.len(), pings);
    }
}
