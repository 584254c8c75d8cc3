//! Two-party tests: a dialer and a listener session pumped against each other on a virtual
//! clock, plus frame-level tests of each protocol violation.

use super::*;
use crate::time::{Duration, Instant};
use std::collections::BTreeMap;

type Heap = YamuxSession<HeapStorage>;

/// One side's application: what it sends on each stream and what it received.
#[derive(Default, Debug)]
struct App {
    streams: BTreeMap<u32, AppStream>,
    /// Data to send on each stream the peer opens.
    reply: Vec<u8>,
    /// Read received bytes (false: let them pile up, for backpressure tests).
    reading: bool,
    /// Close inbound streams once the reply is written.
    close_replies: bool,
    resets: Vec<u32>,
    rtts: Vec<Duration>,
    go_aways: Vec<GoAwayCode>,
}

#[derive(Default, Debug, Clone)]
struct AppStream {
    to_send: Vec<u8>,
    sent: usize,
    close_when_sent: bool,
    closed: bool,
    received: Vec<u8>,
    eof: bool,
}

/// A side: the session, its app, and the bytes from the peer not yet taken.
struct Side<S: YamuxStorage> {
    session: YamuxSession<S>,
    app: App,
    inbox: Vec<u8>,
}

struct Pair<S: YamuxStorage> {
    dialer: Side<S>,
    listener: Side<S>,
    now: Instant,
    split: usize,
    out_len: usize,
    /// Deliver the dialer's output to the listener (false: simulate a dead peer).
    link_up: bool,
    /// Bytes the dialer sent in all.
    dialer_wire_bytes: usize,
}

impl<S: YamuxStorage> Side<S> {
    fn new(role: Role, config: YamuxConfig) -> Self {
        Side {
            session: YamuxSession::new(role, config),
            app: App {
                reading: true,
                close_replies: true,
                ..App::default()
            },
            inbox: Vec::new(),
        }
    }

    fn open(&mut self, data: Vec<u8>, close: bool) -> StreamId {
        let id = self.session.open_stream().unwrap();
        self.app.streams.insert(
            id.0,
            AppStream {
                to_send: data,
                close_when_sent: close,
                ..AppStream::default()
            },
        );
        id
    }

    /// Runs the application once: events, writes, reads. Returns whether anything moved.
    fn run_app(&mut self) -> bool {
        let mut progress = false;
        while let Some(event) = self.session.poll_event() {
            progress = true;
            match event {
                YamuxEvent::InboundStream(id) => {
                    self.session.accept(id).unwrap();
                    self.app.streams.insert(
                        id.0,
                        AppStream {
                            to_send: self.app.reply.clone(),
                            close_when_sent: self.app.close_replies,
                            ..AppStream::default()
                        },
                    );
                }
                YamuxEvent::Reset(id) => self.app.resets.push(id.0),
                YamuxEvent::PingRtt(rtt) => self.app.rtts.push(rtt),
                YamuxEvent::GoAway(code) => self.app.go_aways.push(code),
                YamuxEvent::Readable(_) | YamuxEvent::Writable(_) | YamuxEvent::RemoteClosed(_) => {
                }
            }
        }
        let mut buf = [0u8; 3000];
        for (&id, st) in self.app.streams.iter_mut() {
            let id = StreamId(id);
            if self.app.resets.contains(&id.0) {
                continue;
            }
            if st.sent < st.to_send.len()
                && let Ok(n) = self.session.write(id, &st.to_send[st.sent..])
            {
                progress |= n > 0;
                st.sent += n;
            }
            if st.sent == st.to_send.len() && st.close_when_sent && !st.closed {
                st.closed = self.session.close(id).is_ok();
                progress = true;
            }
            while self.app.reading && !st.eof {
                match self.session.read(id, &mut buf) {
                    Ok(0) | Err(StreamError::Closed) => {
                        st.eof = true;
                        progress = true;
                    }
                    Ok(n) => {
                        st.received.extend_from_slice(&buf[..n]);
                        progress = true;
                    }
                    Err(_) => break,
                }
            }
        }
        progress
    }
}

impl<S: YamuxStorage> Pair<S> {
    fn new(config: YamuxConfig) -> Self {
        Pair {
            dialer: Side::new(Role::Dialer, config),
            listener: Side::new(Role::Listener, config),
            now: Instant::from_secs(1),
            split: usize::MAX,
            out_len: 64 * 1024,
            link_up: true,
            dialer_wire_bytes: 0,
        }
    }

    /// Moves `from`'s output into `to`'s inbox.
    fn transmit(
        now: Instant,
        out_len: usize,
        from: &mut Side<S>,
        to: &mut Side<S>,
        up: bool,
    ) -> bool {
        let mut out = vec![0u8; out_len];
        let mut progress = false;
        while let Some(n) = from.session.poll_transmit(now, &mut out) {
            assert!(n <= out_len && n >= HEADER_LEN);
            progress = true;
            if up {
                to.inbox.extend_from_slice(&out[..n]);
            }
        }
        progress
    }

    /// Feeds `side`'s inbox in pieces of `split` bytes.
    fn deliver(now: Instant, split: usize, side: &mut Side<S>) -> Result<bool, YamuxError> {
        let mut progress = false;
        let mut offset = 0;
        while offset < side.inbox.len() {
            let end = side.inbox.len().min(offset.saturating_add(split));
            let n = side.session.handle_input(now, &side.inbox[offset..end])?;
            offset += n;
            progress |= n > 0;
            if offset < end {
                break; // backpressure
            }
        }
        side.inbox.drain(..offset);
        Ok(progress)
    }

    /// One round: apps, transmits, deliveries, timers; the clock moves 1 ms.
    fn step(&mut self) -> Result<bool, YamuxError> {
        let mut progress = self.dialer.run_app() | self.listener.run_app();
        let before = self.listener.inbox.len();
        progress |= Self::transmit(
            self.now,
            self.out_len,
            &mut self.dialer,
            &mut self.listener,
            self.link_up,
        );
        self.dialer_wire_bytes += self.listener.inbox.len() - before;
        progress |= Self::transmit(
            self.now,
            self.out_len,
            &mut self.listener,
            &mut self.dialer,
            true,
        );
        self.now += Duration::from_millis(1);
        progress |= Self::deliver(self.now, self.split, &mut self.listener)?;
        progress |= Self::deliver(self.now, self.split, &mut self.dialer)?;
        for side in [&mut self.dialer, &mut self.listener] {
            side.session.check_invariants();
            if let Some(at) = side.session.poll_timeout()
                && at <= self.now
            {
                side.session.handle_timeout(self.now)?;
            }
        }
        Ok(progress)
    }

    /// Steps until nothing moves (a few idle rounds in a row).
    fn drive(&mut self) -> Result<(), YamuxError> {
        let mut idle = 0;
        for _ in 0..1_000_000 {
            if self.step()? {
                idle = 0;
            } else {
                idle += 1;
                if idle > 3 {
                    return Ok(());
                }
            }
        }
        panic!("no quiescence");
    }
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Dialer opens streams, listener echoes a reply on each; checks everything arrived.
fn exchange<S: YamuxStorage>(pair: &mut Pair<S>, streams: usize, len: usize) {
    pair.listener.app.reply = pattern(999, len / 2 + 1);
    let mut ids = Vec::new();
    for i in 0..streams {
        ids.push(pair.dialer.open(pattern(i as u64, len + i), true));
    }
    pair.drive().unwrap();
    for (i, id) in ids.iter().enumerate() {
        let d = &pair.dialer.app.streams[&id.0];
        let l = &pair.listener.app.streams[&id.0];
        assert_eq!(
            l.received,
            pattern(i as u64, len + i),
            "stream {id} dialer → listener"
        );
        assert!(l.eof && d.eof);
        assert_eq!(
            d.received, pair.listener.app.reply,
            "stream {id} listener → dialer"
        );
    }
    // Both halves closed and drained: the streams are gone on both sides.
    assert_eq!(pair.dialer.session.stream_count(), 0);
    assert_eq!(pair.listener.session.stream_count(), 0);
    assert_eq!(pair.dialer.session.buffered_bytes(), 0);
    assert_eq!(pair.listener.session.buffered_bytes(), 0);
}

#[test]
fn every_split_and_out_size() {
    for out_len in [13, 100, 64 * 1024] {
        // Learn the total wire size once, then try every split up to it.
        let mut pair = Pair::<HeapStorage>::new(YamuxConfig::default());
        pair.split = usize::MAX;
        pair.out_len = out_len;
        exchange(&mut pair, 2, 150);
        let total = pair.dialer_wire_bytes;
        assert!(total > 300);
        for split in 1..=total {
            let mut pair = Pair::<HeapStorage>::new(YamuxConfig::default());
            pair.split = split;
            pair.out_len = out_len;
            exchange(&mut pair, 2, 150);
        }
    }
}

#[test]
fn many_streams_both_directions_random_data() {
    for seed in 0..4u64 {
        let mut pair = Pair::<HeapStorage>::new(YamuxConfig::default());
        let r = pattern(seed, 64);
        pair.split = [7, 1000, 65_536, usize::MAX][seed as usize];
        pair.out_len = [40, 1500, 16_384, 200_000][seed as usize];
        pair.listener.app.reply = Vec::new();
        pair.dialer.app.reply = Vec::new();
        let mut expect = Vec::new();
        for i in 0..12usize {
            let len = usize::from(r[i]) * 1500 + usize::from(r[i + 12]);
            let data = pattern(seed * 100 + i as u64, len);
            let from_dialer = r[i + 24].is_multiple_of(2);
            let side = if from_dialer {
                &mut pair.dialer
            } else {
                &mut pair.listener
            };
            let id = side.open(data.clone(), true);
            expect.push((from_dialer, id, data));
        }
        pair.drive().unwrap();
        for (from_dialer, id, data) in expect {
            let receiver = if from_dialer {
                &pair.listener
            } else {
                &pair.dialer
            };
            let got = &receiver.app.streams[&id.0];
            assert_eq!(got.received.len(), data.len());
            assert!(got.received == data, "stream {id} corrupted");
            assert!(got.eof);
        }
        assert_eq!(pair.dialer.session.stream_count(), 0);
        assert_eq!(pair.listener.session.stream_count(), 0);
    }
}

#[test]
fn fixed_storage_small_rings_transfer() {
    let config = YamuxConfig {
        keep_alive_interval: None,
        ..YamuxConfig::default()
    };
    let mut pair = Pair::<FixedStorage<4, 1024, 512>>::new(config);
    pair.split = 4096;
    pair.out_len = 1500;
    exchange(&mut pair, 3, 300_000);
}

#[test]
fn half_close_both_ways() {
    let mut pair = Pair::<HeapStorage>::new(YamuxConfig::default());
    pair.listener.app.close_replies = false;
    pair.listener.app.reply = b"first".to_vec();
    let id = pair.dialer.open(b"request".to_vec(), true);
    pair.drive().unwrap();
    // Dialer → listener is closed; listener → dialer is still open.
    let l = &pair.listener.app.streams[&id.0];
    assert_eq!(l.received, b"request");
    assert!(l.eof);
    assert!(pair.dialer.session.is_write_closed(id));
    assert!(!pair.dialer.session.is_read_closed(id));
    assert_eq!(
        pair.dialer.session.write(id, b"x"),
        Err(StreamError::WriteClosed)
    );
    assert_eq!(
        pair.dialer.session.read(id, &mut [0; 4]),
        Err(StreamError::WouldBlock)
    );
    // The listener writes after the dialer's FIN, then closes its half too.
    assert_eq!(pair.listener.session.write(id, b" and more"), Ok(9));
    pair.drive().unwrap();
    assert_eq!(pair.dialer.app.streams[&id.0].received, b"first and more");
    assert_eq!(pair.dialer.session.stream_count(), 1);
    pair.listener.session.close(id).unwrap();
    pair.drive().unwrap();
    assert!(pair.dialer.app.streams[&id.0].eof);
    assert_eq!(pair.dialer.session.stream_count(), 0);
    assert_eq!(pair.listener.session.stream_count(), 0);
    assert_eq!(
        pair.dialer.session.read(id, &mut [0; 4]),
        Err(StreamError::Closed)
    );

    // The other way round: the listener closes first.
    pair.listener.app.reply = Vec::new();
    pair.listener.app.close_replies = true;
    let id = pair.dialer.open(Vec::new(), false);
    pair.dialer.session.write(id, b"x").unwrap();
    pair.drive().unwrap();
    assert!(pair.dialer.session.is_read_closed(id));
    assert!(!pair.dialer.session.is_write_closed(id));
    pair.dialer.session.write(id, b"yz").unwrap();
    pair.dialer.session.close(id).unwrap();
    pair.drive().unwrap();
    assert_eq!(pair.listener.app.streams[&id.0].received, b"xyz");
    assert_eq!(pair.dialer.session.stream_count(), 0);
    assert_eq!(pair.listener.session.stream_count(), 0);
}

#[test]
fn reset_reaches_the_peer_and_late_frames_are_discarded() {
    let mut pair = Pair::<HeapStorage>::new(YamuxConfig::default());
    pair.listener.app.reading = false;
    pair.listener.app.reply = Vec::new();
    let id = pair.dialer.open(pattern(1, 100_000), false);
    pair.drive().unwrap();
    assert!(pair.listener.session.readable_len(id) > 0);
    pair.listener.session.reset(id).unwrap();
    assert_eq!(pair.listener.session.readable_len(id), 0);
    assert_eq!(
        pair.listener.session.read(id, &mut [0; 4]),
        Err(StreamError::Closed)
    );
    // The dialer keeps writing until it hears of the reset: tolerated, discarded.
    pair.dialer.session.write(id, &[7; 1000]).unwrap();
    pair.drive().unwrap();
    assert_eq!(pair.dialer.app.resets, vec![id.0]);
    assert_eq!(
        pair.dialer.session.write(id, b"x"),
        Err(StreamError::Closed)
    );
    assert_eq!(pair.dialer.session.stream_count(), 0);
    assert_eq!(pair.listener.session.stream_count(), 0);
    assert!(pair.listener.session.error().is_none());
}

#[test]
fn window_grows_during_a_large_transfer() {
    let mut pair = Pair::<HeapStorage>::new(YamuxConfig::default());
    pair.out_len = 256 * 1024;
    pair.listener.app.reply = Vec::new();
    let data = pattern(5, 6 * 1024 * 1024);
    let id = pair.dialer.open(data.clone(), false);
    let mut grew = false;
    for _ in 0..10_000 {
        pair.step().unwrap();
        if let Some(t) = pair.listener.session.window_target(id) {
            grew |= t > INITIAL_WINDOW;
        }
        if pair
            .listener
            .app
            .streams
            .get(&id.0)
            .is_some_and(|s| s.received.len() == data.len())
        {
            break;
        }
    }
    assert!(pair.listener.app.streams[&id.0].received == data);
    assert!(grew, "auto-tuning never grew the window");
}

#[test]
fn keep_alive_ping_and_timeout() {
    let config = YamuxConfig {
        keep_alive_interval: Some(Duration::from_secs(10)),
        ping_timeout: Duration::from_secs(5),
        ..YamuxConfig::default()
    };
    let mut pair = Pair::<HeapStorage>::new(config);
    pair.drive().unwrap();
    assert_eq!(pair.dialer.app.rtts.len(), 1);
    // Sent at t, delivered at t+1 ms, answered and delivered back at t+2 ms.
    assert_eq!(pair.dialer.app.rtts[0], Duration::from_millis(2));
    let next = pair.dialer.session.poll_timeout().unwrap();
    pair.now = next;
    pair.drive().unwrap();
    assert_eq!(pair.dialer.app.rtts.len(), 2, "keep-alive ping answered");
    // The link to the listener dies: the next ping times out.
    pair.link_up = false;
    pair.now = pair.dialer.session.poll_timeout().unwrap();
    pair.step().unwrap(); // the timer fires: a ping is due
    pair.step().unwrap(); // the ping goes out (and is lost)
    let deadline = pair.dialer.session.poll_timeout().unwrap();
    assert!(deadline > pair.now);
    pair.now = deadline;
    assert_eq!(pair.step(), Err(YamuxError::PingTimeout));
    assert_eq!(pair.dialer.session.error(), Some(YamuxError::PingTimeout));
}

#[test]
fn go_away_stops_new_streams_but_not_open_ones() {
    let mut pair = Pair::<HeapStorage>::new(YamuxConfig::default());
    pair.listener.app.reply = b"still here".to_vec();
    let id = pair.dialer.open(Vec::new(), false);
    pair.drive().unwrap();
    pair.listener.session.go_away();
    pair.drive().unwrap();
    assert_eq!(pair.dialer.app.go_aways, vec![GoAwayCode::Normal]);
    assert_eq!(pair.dialer.session.open_stream(), Err(OpenError::GoingAway));
    assert_eq!(
        pair.listener.session.open_stream(),
        Err(OpenError::GoingAway)
    );
    pair.dialer.session.write(id, b"late").unwrap();
    pair.dialer.session.close(id).unwrap();
    pair.drive().unwrap();
    assert_eq!(pair.listener.app.streams[&id.0].received, b"late");
    assert_eq!(pair.dialer.app.streams[&id.0].received, b"still here");
    pair.dialer.session.go_away();
    pair.drive().unwrap();
    assert!(pair.dialer.session.is_finished() && pair.listener.session.is_finished());
}

#[test]
fn backpressure_sender_stalls_at_the_window() {
    let config = YamuxConfig {
        max_stream_tx_buffer: 64 * 1024,
        ..YamuxConfig::default()
    };
    let mut pair = Pair::<HeapStorage>::new(config);
    pair.listener.app.reading = false;
    pair.listener.app.reply = Vec::new();
    let data = pattern(3, 2 * 1024 * 1024);
    let id = pair.dialer.open(data.clone(), true);
    pair.drive().unwrap();
    // The receiver holds exactly the first window; the sender holds at most its tx ring.
    assert_eq!(
        pair.listener.session.readable_len(id),
        INITIAL_WINDOW as usize
    );
    let sent = pair.dialer.app.streams[&id.0].sent;
    assert_eq!(sent, INITIAL_WINDOW as usize + 64 * 1024);
    assert!(pair.dialer.session.buffered_bytes() <= 64 * 1024);
    // Reading again lets it all through.
    pair.listener.app.reading = true;
    pair.drive().unwrap();
    assert!(pair.listener.app.streams[&id.0].received == data);
}

#[test]
fn fixed_ring_backpressure_holds_input_with_the_caller() {
    let mut pair = Pair::<FixedStorage<2, 256, 256>>::new(YamuxConfig::default());
    pair.listener.app.reading = false;
    pair.listener.app.reply = Vec::new();
    let id = pair.dialer.open(pattern(9, 10_000), true);
    pair.drive().unwrap();
    assert_eq!(pair.listener.session.readable_len(id), 256);
    assert!(
        !pair.listener.inbox.is_empty(),
        "the rest waits with the caller"
    );
    pair.listener.app.reading = true;
    pair.drive().unwrap();
    assert!(pair.listener.app.streams[&id.0].received == pattern(9, 10_000));
}

// ---- protocol violations, frame by frame ----

fn listener() -> Heap {
    let mut s = Heap::new(Role::Listener, YamuxConfig::default());
    // Drain the first RTT ping so tests see only their own output.
    let mut out = [0u8; 64];
    assert_eq!(s.poll_transmit(Instant::ZERO, &mut out), Some(12));
    s
}

fn frame(h: Header, body: &[u8]) -> Vec<u8> {
    let mut v = h.encode().to_vec();
    v.extend_from_slice(body);
    v
}

fn expect_violation(s: &mut Heap, bytes: &[u8], violation: ProtocolViolation) {
    assert_eq!(
        s.handle_input(Instant::ZERO, bytes),
        Err(YamuxError::Protocol(violation))
    );
    let mut out = [0u8; 64];
    let n = s.poll_transmit(Instant::ZERO, &mut out).unwrap();
    assert_eq!(
        &out[..n],
        &Header::go_away(GoAwayCode::ProtocolError).encode()
    );
    assert_eq!(s.poll_transmit(Instant::ZERO, &mut out), None);
    assert_eq!(s.open_stream(), Err(OpenError::SessionEnded));
}

#[test]
fn violation_data_beyond_window() {
    let mut s = listener();
    let mut bytes = frame(
        Header::data(1, Flags::SYN, INITIAL_WINDOW),
        &vec![0; INITIAL_WINDOW as usize],
    );
    // Another byte: one more than granted.
    bytes.extend(frame(Header::data(1, Flags::NONE, 1), &[0]));
    let mut off = 0;
    let err = loop {
        match s.handle_input(Instant::ZERO, &bytes[off..]) {
            Ok(n) => {
                off += n;
                let mut buf = vec![0; 1 << 20];
                let _ = s.read(StreamId(1), &mut buf);
            }
            Err(e) => break e,
        }
    };
    assert_eq!(err, YamuxError::Protocol(ProtocolViolation::WindowExceeded));
}

#[test]
fn violation_unknown_stream() {
    let mut s = listener();
    expect_violation(
        &mut s,
        &frame(Header::data(5, Flags::NONE, 1), b"x"),
        ProtocolViolation::UnknownStream(5),
    );
    let mut s = listener();
    expect_violation(
        &mut s,
        &Header::window_update(2, Flags::NONE, 9).encode(),
        ProtocolViolation::UnknownStream(2),
    );
    let mut s = listener();
    expect_violation(
        &mut s,
        &Header::window_update(0, Flags::NONE, 9).encode(),
        ProtocolViolation::InvalidStreamId(0),
    );
}

#[test]
fn violation_syn_parity_and_reuse() {
    let mut s = listener();
    expect_violation(
        &mut s,
        &Header::window_update(2, Flags::SYN, 0).encode(),
        ProtocolViolation::InvalidStreamId(2),
    );
    let mut s = listener();
    let mut bytes = Header::window_update(3, Flags::SYN, 0).encode().to_vec();
    bytes.extend(Header::window_update(3, Flags::SYN, 0).encode());
    expect_violation(&mut s, &bytes, ProtocolViolation::StreamIdInUse(3));
}

#[test]
fn syns_out_of_order_open_streams() {
    // Stream 5's first frame overtook stream 3's: both open (rust-yamux and go-yamux accept
    // this too; rhizo's own sender did it under load with 50 concurrent streams).
    let mut s = listener();
    let mut bytes = Header::window_update(5, Flags::SYN, 0).encode().to_vec();
    bytes.extend(Header::window_update(3, Flags::SYN, 0).encode());
    assert_eq!(s.handle_input(Instant::ZERO, &bytes), Ok(bytes.len()));
    assert_eq!(s.stream_count(), 2);
    s.check_invariants();
    // A second SYN for a stream still open is an error.
    let again = Header::window_update(3, Flags::SYN, 0).encode();
    assert!(s.handle_input(Instant::ZERO, &again).is_err());
}

#[test]
fn violation_version_type_and_ping_ack() {
    let mut s = listener();
    let mut b = Header::ping(Flags::SYN, 1).encode();
    b[0] = 1;
    expect_violation(&mut s, &b, ProtocolViolation::InvalidVersion(1));
    let mut s = listener();
    b[0] = 0;
    b[1] = 9;
    expect_violation(&mut s, &b, ProtocolViolation::InvalidType(9));
    let mut s = listener();
    expect_violation(
        &mut s,
        &Header::ping(Flags::ACK, 77).encode(),
        ProtocolViolation::UnexpectedPingAck(77),
    );
}

#[test]
fn too_many_streams_and_unacked_streams_are_reset() {
    let config = YamuxConfig {
        max_streams: 3,
        max_pending_inbound: 2,
        ..YamuxConfig::default()
    };
    let mut s = Heap::new(Role::Listener, config);
    let mut out = [0u8; 1024];
    s.poll_transmit(Instant::ZERO, &mut out);
    let syn = |id| Header::window_update(id, Flags::SYN, 0).encode();
    // Two un-ACKed inbound streams are fine; the third is reset.
    for id in [1, 3, 5] {
        s.handle_input(Instant::ZERO, &syn(id)).unwrap();
    }
    assert_eq!(s.stream_count(), 2);
    let n = s.poll_transmit(Instant::ZERO, &mut out).unwrap();
    assert_eq!(&out[..n], &Header::window_update(5, Flags::RST, 0).encode());
    // Accepting makes room among the pending, but max_streams (3) still caps the table.
    s.accept(StreamId(1)).unwrap();
    s.accept(StreamId(3)).unwrap();
    s.handle_input(Instant::ZERO, &syn(7)).unwrap();
    s.handle_input(
        Instant::ZERO,
        &frame(Header::data(9, Flags::SYN, 4), b"data"),
    )
    .unwrap();
    assert_eq!(s.stream_count(), 3);
    let n = s.poll_transmit(Instant::ZERO, &mut out).unwrap();
    let frames: Vec<&[u8]> = out[..n].chunks(12).collect();
    assert!(frames.contains(&&Header::window_update(9, Flags::RST, 0).encode()[..]));
    assert!(frames.contains(&&Header::window_update(1, Flags::ACK, 0).encode()[..]));
    // Late data for the refused stream is tolerated.
    s.handle_input(
        Instant::ZERO,
        &frame(Header::data(9, Flags::NONE, 2), b"zz"),
    )
    .unwrap();
    assert!(s.error().is_none());
}

#[test]
fn ping_is_answered_with_the_same_value() {
    let mut s = listener();
    s.handle_input(
        Instant::ZERO,
        &Header::ping(Flags::SYN, 0xdead_beef).encode(),
    )
    .unwrap();
    let mut out = [0u8; 64];
    let n = s.poll_transmit(Instant::ZERO, &mut out).unwrap();
    assert_eq!(&out[..n], &Header::ping(Flags::ACK, 0xdead_beef).encode());
}

#[test]
fn control_queue_full_applies_backpressure() {
    let mut s = listener();
    let mut bytes = Vec::new();
    for i in 0..100 {
        bytes.extend(Header::ping(Flags::SYN, i).encode());
    }
    let n = s.handle_input(Instant::ZERO, &bytes).unwrap();
    assert!(n < bytes.len() && n.is_multiple_of(12));
    let mut out = vec![0u8; 4096];
    assert!(s.poll_transmit(Instant::ZERO, &mut out).is_some());
    assert!(s.handle_input(Instant::ZERO, &bytes[n..]).unwrap() > 0);
}

#[test]
fn lazy_syn_goes_with_the_first_data() {
    let mut s = Heap::new(Role::Dialer, YamuxConfig::default());
    let mut out = [0u8; 64];
    s.poll_transmit(Instant::ZERO, &mut out);
    let id = s.open_stream().unwrap();
    assert_eq!(id, StreamId(1));
    s.write(id, b"hi").unwrap();
    let n = s.poll_transmit(Instant::ZERO, &mut out).unwrap();
    assert_eq!(&out[..n], &frame(Header::data(1, Flags::SYN, 2), b"hi")[..]);
    let id = s.open_stream().unwrap();
    assert_eq!(id, StreamId(3));
    let n = s.poll_transmit(Instant::ZERO, &mut out).unwrap();
    assert_eq!(&out[..n], &Header::window_update(3, Flags::SYN, 0).encode());
}

/// Interop with js-yamux 8 (js-libp2p 3): a FIN never rides on a data frame. js-yamux handles
/// a frame's flags before its bytes, so a FIN on the echo of a ping whose writer had already
/// closed its half ended the stream and dropped the echo; a FIN with the bytes after a
/// multistream confirmation closed the readable end before the confirmation was taken off it.
#[test]
fn fin_goes_alone_after_the_data() {
    let mut s = Heap::new(Role::Dialer, YamuxConfig::default());
    let mut out = [0u8; 64];
    s.poll_transmit(Instant::ZERO, &mut out);
    let id = s.open_stream().unwrap();
    s.write(id, b"hi").unwrap();
    s.close(id).unwrap();
    let n = s.poll_transmit(Instant::ZERO, &mut out).unwrap();
    let mut expected = frame(Header::data(1, Flags::SYN, 2), b"hi");
    expected.extend_from_slice(&Header::data(1, Flags::FIN, 0).encode());
    assert_eq!(&out[..n], &expected[..]);
    // Room for the data frame only: the FIN follows in the next call.
    let id = s.open_stream().unwrap();
    s.write(id, b"abc").unwrap();
    s.close(id).unwrap();
    let n = s.poll_transmit(Instant::ZERO, &mut out[..15]).unwrap();
    assert_eq!(
        &out[..n],
        &frame(Header::data(3, Flags::SYN, 3), b"abc")[..]
    );
    let n = s.poll_transmit(Instant::ZERO, &mut out).unwrap();
    assert_eq!(&out[..n], &Header::data(3, Flags::FIN, 0).encode());
    assert_eq!(s.poll_transmit(Instant::ZERO, &mut out), None);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn arbitrary_input_never_panics(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..20)) {
            let config = YamuxConfig {
                max_streams: 8,
                max_session_buffer: 64 * 1024,
                ..YamuxConfig::default()
            };
            let mut s = Heap::new(Role::Listener, config);
            let mut out = [0u8; 256];
            for chunk in chunks {
                let _ = s.handle_input(Instant::ZERO, &chunk);
                while s.poll_transmit(Instant::ZERO, &mut out).is_some() {}
                while s.poll_event().is_some() {}
                s.check_invariants();
                prop_assert!(s.buffered_bytes() <= 64 * 1024);
                prop_assert!(s.stream_count() <= 8);
            }
        }

        #[test]
        fn random_transfers_arrive_intact(seed: u64, split in 1usize..5000, out_len in 13usize..5000, streams in 1usize..6) {
            let mut pair = Pair::<HeapStorage>::new(YamuxConfig::default());
            pair.split = split;
            pair.out_len = out_len;
            pair.listener.app.reply = pattern(seed, (seed % 3000) as usize);
            let mut ids = Vec::new();
            for i in 0..streams {
                ids.push(pair.dialer.open(pattern(seed ^ i as u64, (seed as usize >> i) % 5000), true));
            }
            pair.drive().unwrap();
            for (i, id) in ids.iter().enumerate() {
                prop_assert!(pair.listener.app.streams[&id.0].received == pattern(seed ^ i as u64, (seed as usize >> i) % 5000));
                prop_assert!(pair.dialer.app.streams[&id.0].received == pair.listener.app.reply);
            }
        }
    }
}

#[test]
fn outbound_ack_backlog_is_honoured() {
    let config = YamuxConfig {
        max_streams: 1000,
        ..YamuxConfig::default()
    };
    let mut s = Heap::new(Role::Dialer, config);
    for _ in 0..MAX_ACK_BACKLOG {
        s.open_stream().unwrap();
    }
    assert_eq!(s.open_stream(), Err(OpenError::AckBacklog));
    // The peer acknowledges stream 1: one more may open.
    s.handle_input(
        Instant::ZERO,
        &Header::window_update(1, Flags::ACK, 0).encode(),
    )
    .unwrap();
    assert!(s.open_stream().is_ok());
    assert_eq!(s.open_stream(), Err(OpenError::AckBacklog));
}

#[test]
fn emptied_rings_are_kept_while_busy_and_freed_when_idle() {
    let mut pair = Pair::<HeapStorage>::new(YamuxConfig::default());
    pair.listener.app.reply = Vec::new();
    let data = pattern(9, 512 * 1024);
    let id = pair.dialer.open(data.clone(), false);
    for _ in 0..10_000 {
        pair.step().unwrap();
        if pair
            .listener
            .app
            .streams
            .get(&id.0)
            .is_some_and(|s| s.received.len() == data.len())
        {
            break;
        }
    }
    assert!(pair.listener.app.streams[&id.0].received == data);
    // Everything was read, but the rings of the open stream keep their allocation for now.
    assert!(pair.listener.session.buffered_bytes() > 0);
    let sweep = pair
        .listener
        .session
        .poll_timeout()
        .expect("a sweep is scheduled");
    assert!(sweep <= pair.now + super::session::RING_RELEASE_DELAY);
    for side in [&mut pair.dialer, &mut pair.listener] {
        side.session
            .handle_timeout(sweep + super::session::RING_RELEASE_DELAY)
            .unwrap();
        assert_eq!(
            side.session.buffered_bytes(),
            0,
            "an idle session holds no ring"
        );
    }
}

#[test]
fn outbound_stream_below_the_peers_highest_id_is_found() {
    // The peer (a dialer: odd ids) opened streams 1, 3 and 5 before this side opens its first
    // (2): the table must stay sorted or the new stream cannot be written (found by
    // rust-libp2p interop: its identify and ping streams came first).
    let mut s = listener();
    for id in [1, 3, 5] {
        let syn = Header::window_update(id, Flags::SYN, 0).encode();
        assert_eq!(s.handle_input(Instant::ZERO, &syn), Ok(syn.len()));
    }
    let id = s.open_stream().unwrap();
    assert_eq!(id, StreamId(2));
    s.check_invariants();
    assert!(s.writable_len(id) > 0);
    assert_eq!(s.write(id, b"hello"), Ok(5));
}

#[test]
fn queued_zeros_follow_the_written_bytes_within_the_window() {
    let mut pair = Pair::<HeapStorage>::new(YamuxConfig::default());
    pair.listener.app.close_replies = false;
    let id = pair.dialer.open(Vec::new(), false);
    assert_eq!(pair.dialer.session.write(id, b"head"), Ok(4));
    // More zeros than the send buffer limit and the initial window: queued in parts.
    let total: u64 = 3 << 20;
    let mut queued = pair.dialer.session.write_zeros(id, total).unwrap();
    assert!(queued > 0 && queued < total);
    assert!(pair.dialer.session.writable_len(id) == 0);
    // Bytes never overtake queued zeros.
    assert_eq!(pair.dialer.session.write(id, b"tail"), Ok(0));
    while queued < total {
        pair.drive().unwrap();
        queued += pair.dialer.session.write_zeros(id, total - queued).unwrap();
    }
    pair.drive().unwrap();
    assert_eq!(pair.dialer.session.write(id, b"tail"), Ok(4));
    pair.dialer.session.close(id).unwrap();
    pair.drive().unwrap();
    let got = &pair.listener.app.streams[&id.0];
    assert!(got.eof);
    assert_eq!(got.received.len() as u64, 8 + total);
    assert_eq!(&got.received[..4], b"head");
    assert!(got.received[4..4 + total as usize].iter().all(|&b| b == 0));
    assert_eq!(&got.received[4 + total as usize..], b"tail");
    assert_eq!(
        pair.dialer.session.write_zeros(id, 1),
        Err(StreamError::WriteClosed)
    );
}
