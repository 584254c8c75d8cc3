use super::*;
use crate::crypto::Portable;
use crate::identify::IdentifyBuilder;
use crate::identity::Keypair;
use crate::noise::session::NoiseIdentity;
use crate::testkit::{Endpoint, Pair, PairError, PipeConfig};
use std::vec::Vec;

type Conn = Connection<Portable, HeapConnection>;

/// A connection plus the events it reported, drained after every call as the contract says.
struct Node {
    conn: Conn,
    events: Vec<ConnectionEvent>,
    /// Hand input through `receive_buffer` + `handle_received` where it is offered, as the
    /// drivers do, rather than all through `handle_input`.
    direct: bool,
    /// Bytes that went the direct way.
    direct_bytes: usize,
}

impl Node {
    fn drain(&mut self) {
        while let Some(e) = self.conn.poll_event() {
            self.events.push(e);
        }
    }

    fn take(&mut self, f: impl Fn(&ConnectionEvent) -> bool) -> Option<ConnectionEvent> {
        let i = self.events.iter().position(f)?;
        Some(self.events.remove(i))
    }
}

impl Endpoint for Node {
    type Error = ConnectionError;
    fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<usize, ConnectionError> {
        let mut taken = 0;
        while self.direct && taken < input.len() {
            let Some(room) = self.conn.receive_buffer() else {
                break;
            };
            let n = room.len().min(input.len() - taken);
            room[..n].copy_from_slice(&input[taken..taken + n]);
            taken += n;
            self.direct_bytes += n;
            if let Err(e) = self.conn.handle_received(now, n) {
                self.drain();
                return Err(e);
            }
            self.drain();
        }
        let r = self
            .conn
            .handle_input(now, &input[taken..])
            .map(|used| used + taken);
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

fn identity(seed: u8) -> NoiseIdentity {
    NoiseIdentity::ed25519::<Portable>(&Keypair::from_seed([seed; 32]), [seed ^ 0xff; 32])
}

fn node(config: ConnectionConfig, seed: u8) -> Node {
    let conn = Conn::new(
        Instant::ZERO,
        config,
        identity(seed),
        [seed.wrapping_add(7); 32],
        [seed; 32],
    )
    .unwrap();
    Node {
        conn,
        events: Vec::new(),
        direct: false,
        direct_bytes: 0,
    }
}

fn pair_with(
    dialer: ConnectionConfig,
    listener: ConnectionConfig,
    pipe: PipeConfig,
) -> Pair<Node, Node> {
    Pair::new(node(dialer, 1), node(listener, 2), Instant::ZERO, pipe)
}

fn established(p: &mut Pair<Node, Node>) -> bool {
    p.a.conn.is_established() && p.b.conn.is_established()
}

fn dialer() -> ConnectionConfig {
    ConnectionConfig {
        app_protocols: &["/echo/1.0.0"],
        ..ConnectionConfig::new(Role::Dialer)
    }
}

fn listener() -> ConnectionConfig {
    ConnectionConfig {
        app_protocols: &["/echo/1.0.0"],
        ..ConnectionConfig::new(Role::Listener)
    }
}

#[test]
fn upgrade_completes_with_every_split_and_buffer_size() {
    for (early, lazy) in [(true, true), (false, true), (true, false), (false, false)] {
        let d = ConnectionConfig {
            early_muxer_negotiation: early,
            lazy_negotiation: lazy,
            ..dialer()
        };
        let l = ConnectionConfig {
            early_muxer_negotiation: early,
            ..listener()
        };
        for chunk in [1, 2, 3, 7, 64, 1000, usize::MAX] {
            for out_len in [40, 300, 70_000] {
                let pipe = PipeConfig {
                    max_chunk: chunk,
                    out_len,
                    latency: Duration::from_millis(5),
                };
                let mut p = pair_with(d, l, pipe);
                p.drive_until(1_000_000, established)
                    .unwrap_or_else(|e| panic!("{early} {lazy} {chunk} {out_len}: {e:?}"));
                assert_eq!(p.a.conn.remote_peer(), Some(identity(2).peer_id()));
                assert_eq!(p.b.conn.remote_peer(), Some(identity(1).peer_id()));
                let early_seen =
                    p.a.take(|e| matches!(e, ConnectionEvent::Established { .. }));
                assert_eq!(
                    early_seen,
                    Some(ConnectionEvent::Established { early_muxer: early })
                );
            }
        }
    }
}

#[test]
fn round_trips_of_the_upgrade() {
    // Early muxer and lazy proposals: security proposal + handshake message 1 in one flight,
    // then messages 2 and 3, so the dialer can send streams after 1.5 round trips.
    let pipe = PipeConfig {
        latency: Duration::from_millis(50),
        ..PipeConfig::default()
    };
    let mut p = pair_with(dialer(), listener(), pipe);
    p.drive_until(10_000, |p| p.a.conn.is_established())
        .unwrap();
    assert_eq!(p.now, Instant::from_millis(100));
    let mut p = pair_with(dialer(), listener(), pipe);
    p.drive_until(10_000, established).unwrap();
    assert_eq!(p.now, Instant::from_millis(150));
}

#[test]
fn wrong_expected_peer_fails_the_dialer() {
    let d = ConnectionConfig {
        expected_peer: Some(*identity(9).peer_id()),
        ..dialer()
    };
    let mut p = pair_with(d, listener(), PipeConfig::default());
    let err = p.drive_until(10_000, |p| p.a.conn.is_closed()).err();
    assert!(matches!(err, None | Some(PairError::A(_))), "{err:?}");
    assert!(matches!(
        p.a.conn.error(),
        Some(ConnectionError::Handshake(
            crate::noise::session::NoiseHandshakeError::PeerIdMismatch { .. }
        ))
    ));
}

#[test]
fn silent_peer_times_out() {
    let mut a = node(dialer(), 1);
    let mut out = [0u8; 1024];
    assert!(a.conn.poll_transmit(Instant::ZERO, &mut out).is_some());
    assert_eq!(a.conn.poll_timeout(), Some(Instant::from_secs(10)));
    assert_eq!(
        a.conn.handle_timeout(Instant::from_secs(10)),
        Err(ConnectionError::HandshakeTimeout)
    );
    a.drain();
    assert_eq!(a.events.last(), Some(&ConnectionEvent::Closed));
}

#[test]
fn garbage_instead_of_multistream_is_an_error() {
    let mut b = node(listener(), 2);
    let r = b
        .conn
        .handle_input(Instant::ZERO, b"\x05hello and more garbage");
    assert!(matches!(r, Err(ConnectionError::Negotiation(_))), "{r:?}");
}

#[test]
fn ping_measures_the_round_trip() {
    let pipe = PipeConfig {
        latency: Duration::from_millis(20),
        ..PipeConfig::default()
    };
    let mut p = pair_with(dialer(), listener(), pipe);
    p.drive_until(10_000, established).unwrap();
    let start = p.now;
    p.a.conn.ping(p.now).unwrap();
    p.drive_until(10_000, |p| {
        p.a.events
            .iter()
            .any(|e| matches!(e, ConnectionEvent::PingRtt { .. }))
    })
    .unwrap();
    let rtt = match p.a.take(|e| matches!(e, ConnectionEvent::PingRtt { .. })) {
        Some(ConnectionEvent::PingRtt { rtt, .. }) => rtt,
        other => panic!("{other:?}"),
    };
    // The stream is opened lazily: proposal and ping leave together, the listener answers
    // the negotiation and the echo together: one round trip.
    assert_eq!(rtt, Duration::from_millis(40));
    assert_eq!(p.now - start, Duration::from_millis(40));
}

#[test]
fn identify_round_trip() {
    let mut p = pair_with(dialer(), listener(), PipeConfig::default());
    p.drive_until(10_000, established).unwrap();
    p.a.conn.request_identify(p.now).unwrap();
    p.drive_until(10_000, |p| {
        p.b.events
            .iter()
            .any(|e| matches!(e, ConnectionEvent::IdentifyRequested { .. }))
    })
    .unwrap();
    let Some(ConnectionEvent::IdentifyRequested { stream }) =
        p.b.take(|e| matches!(e, ConnectionEvent::IdentifyRequested { .. }))
    else {
        unreachable!()
    };
    let key = identity(2);
    let message = IdentifyBuilder {
        protocol_version: Some("ipfs/0.1.0"),
        agent_version: Some("rhizo-test/0.1"),
        public_key: Some(key.identity_key()),
        protocols: &["/ipfs/ping/1.0.0", "/echo/1.0.0"],
        ..IdentifyBuilder::default()
    };
    let now = p.now;
    p.b.conn.respond_identify(now, stream, &message).unwrap();
    p.drive_until(10_000, |p| {
        p.a.events.contains(&ConnectionEvent::Identified)
    })
    .unwrap();
    let id = p.a.conn.remote_identify().expect("message kept");
    assert_eq!(id.agent_version(), Some("rhizo-test/0.1"));
    assert_eq!(
        id.protocols().collect::<Vec<_>>(),
        ["/ipfs/ping/1.0.0", "/echo/1.0.0"]
    );
    // Both sides forget the stream once the exchange is over.
    p.drive_until(10_000, |p| {
        p.a.conn.stream_count() == 0 && p.b.conn.stream_count() == 0
    })
    .unwrap();
}

/// Runs a perf from `a` to `b` and returns its result.
fn run_perf(p: &mut Pair<Node, Node>, upload: u64, download: u64) -> crate::perf::PerfResult {
    let params = crate::perf::PerfParams { upload, download };
    p.a.conn.perf(p.now, params).unwrap();
    p.drive_until(1_000_000, |p| {
        p.a.events
            .iter()
            .any(|e| matches!(e, ConnectionEvent::PerfDone(_)))
    })
    .unwrap();
    let Some(ConnectionEvent::PerfDone(result)) =
        p.a.take(|e| matches!(e, ConnectionEvent::PerfDone(_)))
    else {
        unreachable!("waited for it")
    };
    result
}

#[test]
fn perf_moves_exact_byte_counts() {
    let mut p = pair_with(dialer(), listener(), PipeConfig::default());
    p.drive_until(10_000, established).unwrap();
    let result = run_perf(&mut p, 3 << 20, 5 << 20);
    assert_eq!(result.uploaded, 3 << 20);
    assert_eq!(result.downloaded, 5 << 20);
    // Noise and yamux overhead: a few frames' worth on top of the payload.
    assert!(
        p.sent.0 > 3 << 20 && p.sent.0 < (3 << 20) + (3 << 20) / 50,
        "{}",
        p.sent.0
    );
    // Once the traffic stops, both frame buffers are freed after a while.
    assert!(p.a.conn.rx.capacity() > 0);
    let stopped = p.now;
    p.drive_until(10_000, |p| {
        p.a.conn.rx.capacity() == 0 && p.b.conn.rx.capacity() == 0
    })
    .unwrap();
    assert!(p.now - stopped <= buffer::IDLE_RELEASE);
}

#[test]
fn reading_into_the_receive_buffer_delivers_the_same_bytes() {
    for chunk in [usize::MAX, 1_000] {
        let pipe = PipeConfig {
            max_chunk: chunk,
            ..PipeConfig::default()
        };
        let mut p = pair_with(dialer(), listener(), pipe);
        (p.a.direct, p.b.direct) = (true, true);
        p.drive_until(10_000, established).unwrap();
        // An application stream a -> b: patterned bytes, checked on arrival.
        let data: Vec<u8> = (0..1u32 << 20).map(|i| (i ^ (i >> 9)) as u8).collect();
        let s = p.a.conn.open_stream(p.now, "/echo/1.0.0").unwrap();
        let (mut sent, mut got, mut inbound) = (0, Vec::new(), None);
        p.drive_until(1_000_000, |p| {
            let now = p.now;
            if sent < data.len() {
                sent += p.a.conn.stream_write(now, s, &data[sent..]).unwrap_or(0);
                if sent == data.len() {
                    p.a.conn.stream_close(now, s).unwrap();
                }
            }
            for e in p.b.events.drain(..) {
                if let ConnectionEvent::StreamOpened { stream, .. } = e {
                    inbound = Some(stream);
                }
            }
            let mut buf = [0u8; 5000];
            while let Some(Ok(k @ 1..)) = inbound.map(|r| p.b.conn.stream_read(now, r, &mut buf)) {
                got.extend_from_slice(&buf[..k]);
            }
            got.len() == data.len()
        })
        .unwrap();
        assert!(got == data, "the bytes differ (chunk {chunk})");
        // And perf both ways (its handlers take data straight from the opened frames).
        let result = run_perf(&mut p, 2 << 20, 2 << 20);
        assert_eq!((result.uploaded, result.downloaded), (2 << 20, 2 << 20));
        // Most bytes went the direct way once the buffers had grown to a whole frame.
        assert!(
            p.b.direct_bytes > 2 << 20,
            "{} (chunk {chunk})",
            p.b.direct_bytes
        );
        assert!(
            p.a.direct_bytes > 1 << 20,
            "{} (chunk {chunk})",
            p.a.direct_bytes
        );
    }
}

/// An echo service on every inbound application stream, and a checker on outbound ones.
fn echo_step(n: &mut Node, now: Instant) {
    let mut buf = [0u8; 1500];
    let events: Vec<_> = n.events.drain(..).collect();
    for e in events {
        match e {
            ConnectionEvent::StreamOpened { inbound: true, .. }
            | ConnectionEvent::StreamReadable(_)
            | ConnectionEvent::StreamFinished(_) => {
                let stream = match e {
                    ConnectionEvent::StreamOpened { stream, .. }
                    | ConnectionEvent::StreamReadable(stream)
                    | ConnectionEvent::StreamFinished(stream) => stream,
                    _ => unreachable!(),
                };
                loop {
                    match n.conn.stream_read(now, stream, &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => assert_eq!(n.conn.stream_write(now, stream, &buf[..k]), Ok(k)),
                    }
                }
                if matches!(e, ConnectionEvent::StreamFinished(_)) {
                    let _ = n.conn.stream_close(now, stream);
                }
            }
            other => n.events.push(other),
        }
    }
    n.drain();
}

#[test]
fn many_concurrent_echo_streams() {
    for chunk in [usize::MAX, 333] {
        let pipe = PipeConfig {
            max_chunk: chunk,
            ..PipeConfig::default()
        };
        let mut p = pair_with(dialer(), listener(), pipe);
        p.drive_until(10_000, established).unwrap();
        let mut streams = Vec::new();
        for i in 0..40u32 {
            let s = p.a.conn.open_stream(p.now, "/echo/1.0.0").unwrap();
            let data: Vec<u8> = (0..(i * 97 % 1000 + 1))
                .map(|x| (x as u8) ^ (i as u8))
                .collect();
            assert_eq!(p.a.conn.stream_write(p.now, s, &data), Ok(data.len()));
            p.a.conn.stream_close(p.now, s).unwrap();
            streams.push((s, data, Vec::new(), false));
        }
        p.drive_until(1_000_000, |p| {
            let now = p.now;
            echo_step(&mut p.b, now);
            let mut buf = [0u8; 700];
            for (s, _, got, done) in streams.iter_mut() {
                loop {
                    match p.a.conn.stream_read(now, *s, &mut buf) {
                        Ok(0) => {
                            if p.a.events.contains(&ConnectionEvent::StreamFinished(*s)) {
                                *done = true;
                            }
                            break;
                        }
                        Ok(k) => got.extend_from_slice(&buf[..k]),
                        Err(_) => {
                            *done = true;
                            break;
                        }
                    }
                }
            }
            streams.iter().all(|(_, _, _, done)| *done)
        })
        .unwrap();
        for (s, data, got, _) in &streams {
            assert_eq!(got, data, "stream {s:?}");
        }
        p.drive_until(10_000, |p| {
            p.a.conn.stream_count() == 0 && p.b.conn.stream_count() == 0
        })
        .unwrap();
    }
}

#[test]
fn unsupported_protocol_is_refused() {
    for lazy in [true, false] {
        let d = ConnectionConfig {
            lazy_negotiation: lazy,
            ..dialer()
        };
        let mut p = pair_with(d, listener(), PipeConfig::default());
        p.drive_until(10_000, established).unwrap();
        let s = p.a.conn.open_stream(p.now, "/nobody/speaks/this").unwrap();
        p.drive_until(10_000, |p| {
            p.a.events
                .contains(&ConnectionEvent::StreamRefused { stream: s })
        })
        .unwrap_or_else(|e| panic!("lazy {lazy}: {e:?}"));
    }
}

#[test]
fn reset_before_the_confirmation_is_a_reset_not_a_refusal() {
    let mut p = pair_with(dialer(), listener(), PipeConfig::default());
    p.drive_until(10_000, established).unwrap();
    let s = p.a.conn.open_stream(p.now, "/echo/1.0.0").unwrap();
    // The listener agrees, then resets the stream at once: the confirmation and the RST
    // reach the dialer together (rust-libp2p's libp2p-stream does this when its accept queue
    // is full).
    p.drive_until(10_000, |p| {
        let now = p.now;
        if let Some(ConnectionEvent::StreamOpened { stream, .. }) =
            p.b.take(|e| matches!(e, ConnectionEvent::StreamOpened { inbound: true, .. }))
        {
            p.b.conn.stream_reset(now, stream).unwrap();
        }
        p.a.events.iter().any(|e| {
            matches!(e, ConnectionEvent::StreamReset(x)
                | ConnectionEvent::StreamRefused { stream: x } if *x == s)
        })
    })
    .unwrap();
    assert!(
        p.a.events.contains(&ConnectionEvent::StreamReset(s)),
        "{:?}",
        p.a.events
    );
}

#[test]
fn fixed_storage_connection_works_without_the_heap_types() {
    type Small = Connection<Portable, FixedConnection<4, 4096, 4096>>;
    let a = Small::new(Instant::ZERO, dialer(), identity(1), [3; 32], [1; 32]).unwrap();
    let b = Small::new(Instant::ZERO, listener(), identity(2), [4; 32], [2; 32]).unwrap();
    struct F(Small);
    impl Endpoint for F {
        type Error = ConnectionError;
        fn handle_input(&mut self, now: Instant, i: &[u8]) -> Result<usize, ConnectionError> {
            let r = self.0.handle_input(now, i);
            while self.0.poll_event().is_some() {}
            r
        }
        fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> Option<usize> {
            self.0.poll_transmit(now, out)
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.0.poll_timeout()
        }
        fn handle_timeout(&mut self, now: Instant) -> Result<(), ConnectionError> {
            self.0.handle_timeout(now)
        }
    }
    let mut p = Pair::new(F(a), F(b), Instant::ZERO, PipeConfig::default());
    p.drive_until(10_000, |p| p.a.0.is_established() && p.b.0.is_established())
        .unwrap();
    // A 64 KiB perf download through 4 KiB rings: backpressure, not growth.
    let params = crate::perf::PerfParams {
        upload: 100_000,
        download: 300_000,
    };
    p.a.0.perf(p.now, params).unwrap();
    p.drive_until(1_000_000, |p| {
        p.a.0.stream_count() == 0 && p.b.0.stream_count() == 0
    })
    .unwrap();
}

#[test]
fn a_reset_connection_starts_over_in_place() {
    let mut p = pair_with(dialer(), listener(), PipeConfig::default());
    p.drive_until(10_000, established).unwrap();
    let pinged = |p: &mut Pair<Node, Node>| {
        p.a.events
            .iter()
            .any(|e| matches!(e, ConnectionEvent::PingRtt { .. }))
    };
    p.a.conn.ping(p.now).unwrap();
    p.drive_until(10_000, pinged).unwrap();

    // Both start over with the roles swapped and new identities: nothing of the first session
    // (keys, streams, buffered bytes, the remote) may leak into the second.
    let now = p.now;
    let mut first = std::mem::replace(&mut p.a, node(dialer(), 9));
    let mut second = std::mem::replace(&mut p.b, node(listener(), 9));
    first
        .conn
        .reset(now, listener(), identity(3), [30; 32], [3; 32])
        .unwrap();
    second
        .conn
        .reset(now, dialer(), identity(4), [40; 32], [4; 32])
        .unwrap();
    first.events.clear();
    second.events.clear();
    assert!(!first.conn.is_established() && first.conn.remote_peer().is_none());

    let mut p = Pair::new(second, first, now, PipeConfig::default());
    p.drive_until(10_000, established).unwrap();
    assert_eq!(p.a.conn.remote_peer(), Some(identity(3).peer_id()));
    assert_eq!(p.b.conn.remote_peer(), Some(identity(4).peer_id()));
    p.a.conn.ping(p.now).unwrap();
    p.drive_until(10_000, pinged).unwrap();
}
