//! Throughput of the secure channel, layer by layer, against the raw AEAD of the same machine.
//!
//! - `chacha20poly1305/seal+open 65519 B`: the `Portable` provider sealing and opening one
//!   maximum-size Noise frame body in place. This is the reference: no connection can move
//!   application bytes faster than this (each byte is sealed once and opened once).
//! - `noise_transport/frame 65519 B`: `NoiseTransport::encrypt_frame` on one side and
//!   `open_in_place` on the other (framing and the plaintext copy on top of the AEAD).
//! - `connection/...`: two established `Connection<Portable, HeapConnection>` in memory, driven
//!   the way a socket driver would drive them (64 KiB+ buffers, no latency), moving 64 MiB one
//!   way as a perf download or as a raw application stream.
//!
//! Run with `cargo bench -p rhizo-core --bench connection`; results and the machine are in
//! BENCHMARKS.md. Every bench counts one byte pass (seal and open) of application payload.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rhizo_core::connection::{Connection, ConnectionConfig, ConnectionEvent, HeapConnection, Role};
use rhizo_core::crypto::{AeadCipher, CryptoProvider, Portable, TAG_LEN};
use rhizo_core::identity::Keypair;
use rhizo_core::noise::{
    HandshakeXX, MAX_FRAME_LEN, MAX_PLAINTEXT_LEN, NoiseIdentity, NoiseTransport,
};
use rhizo_core::perf::PerfParams;
use rhizo_core::time::Instant;
use std::hint::black_box;
use std::time::Duration;

type Conn = Connection<Portable, HeapConnection>;

/// Bytes moved one way per connection iteration.
const PAYLOAD: u64 = 64 << 20;

/// The socket buffers of the in-memory driver: larger than one full Noise frame (65537 B).
const WIRE_BUF: usize = 256 * 1024;

/// A few seconds per bench: `cargo bench` of this file takes well under a minute.
fn short(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
}

fn aead(c: &mut Criterion) {
    let mut g = c.benchmark_group("chacha20poly1305");
    short(&mut g);
    g.throughput(Throughput::Bytes(MAX_PLAINTEXT_LEN as u64));
    let cipher = Portable::cipher(&[7; 32]);
    let mut buf = vec![0x5au8; MAX_PLAINTEXT_LEN];
    let mut nonce = 0u64;
    g.bench_function(format!("seal+open {MAX_PLAINTEXT_LEN} B"), |b| {
        b.iter(|| {
            nonce += 1;
            let tag = cipher.seal(nonce, &[], &mut buf);
            cipher
                .open(nonce, &[], black_box(&mut buf), &tag)
                .expect("sealed just above");
        })
    });
    g.finish();
}

/// A pair of transports from a real XX handshake (empty payloads): `(initiator, responder)`.
fn transport_pair() -> (NoiseTransport<Portable>, NoiseTransport<Portable>) {
    let mut i = HandshakeXX::<Portable>::new(true, &[], [1; 32], [2; 32]);
    let mut r = HandshakeXX::<Portable>::new(false, &[], [3; 32], [4; 32]);
    let mut msg = [0u8; 256];
    for turn in 0..3 {
        let (w, rd) = if turn % 2 == 0 {
            (&mut i, &mut r)
        } else {
            (&mut r, &mut i)
        };
        let n = w.write_message(&[], &mut msg).expect("handshake message");
        rd.read_message(&mut msg[..n]).expect("handshake message");
    }
    let (is, ir) = i.into_transport().expect("finished");
    let (rs, rr) = r.into_transport().expect("finished");
    (NoiseTransport::new(is, ir), NoiseTransport::new(rs, rr))
}

fn noise_transport(c: &mut Criterion) {
    let mut g = c.benchmark_group("noise_transport");
    short(&mut g);
    g.throughput(Throughput::Bytes(MAX_PLAINTEXT_LEN as u64));
    let (mut a, mut b) = transport_pair();
    let plain = vec![0x5au8; MAX_PLAINTEXT_LEN];
    let mut wire = vec![0u8; 2 + MAX_FRAME_LEN];
    debug_assert_eq!(wire.len(), 2 + MAX_PLAINTEXT_LEN + TAG_LEN);
    g.bench_function(format!("frame {MAX_PLAINTEXT_LEN} B"), |bench| {
        bench.iter(|| {
            let n = a.encrypt_frame(&plain, &mut wire).expect("fits");
            let frame = b
                .open_in_place(black_box(&mut wire[..n]))
                .expect("authentic")
                .expect("whole");
            black_box(frame.plaintext.len())
        })
    });
    g.finish();
}

/// One side of the in-memory link: its connection and the bytes it has not taken yet.
struct Side {
    conn: Conn,
    /// Bytes the peer wrote that this side has not taken (`handle_input` backpressure).
    inbox: Vec<u8>,
    inbox_start: usize,
    events: Vec<ConnectionEvent>,
}

impl Side {
    fn new(role: Role, seed: u8) -> Self {
        let identity =
            NoiseIdentity::ed25519::<Portable>(&Keypair::from_seed([seed; 32]), [seed ^ 0xff; 32]);
        let config = ConnectionConfig {
            app_protocols: &[BENCH_PROTOCOL],
            ..ConnectionConfig::new(role)
        };
        let conn = Conn::new(
            Instant::ZERO,
            config,
            identity,
            [seed ^ 0x55; 32],
            [seed; 32],
        )
        .expect("valid configuration");
        Side {
            conn,
            inbox: Vec::with_capacity(WIRE_BUF),
            inbox_start: 0,
            events: Vec::new(),
        }
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.conn.poll_event() {
            self.events.push(e);
        }
    }

    /// Offers what is waiting in the inbox; returns whether anything was taken.
    fn take_input(&mut self, now: Instant) -> bool {
        if self.inbox_start == self.inbox.len() {
            return false;
        }
        let n = self
            .conn
            .handle_input(now, &self.inbox[self.inbox_start..])
            .expect("the in-memory link never fails");
        self.inbox_start += n;
        if self.inbox_start == self.inbox.len() {
            self.inbox.clear();
            self.inbox_start = 0;
        }
        self.drain_events();
        n > 0
    }
}

/// The application protocol of the raw-stream bench.
const BENCH_PROTOCOL: &str = "/rhizo/bench/1.0.0";

/// Moves `from`'s output into `to`'s inbox while `to` can take it; returns whether any moved.
fn transfer(now: Instant, from: &mut Side, to: &mut Side, wire: &mut [u8]) -> bool {
    let mut moved = false;
    // Only write more once the peer has taken what it had (a socket with a bounded buffer).
    while to.inbox.len() < WIRE_BUF {
        let Some(n) = from.conn.poll_transmit(now, wire) else {
            break;
        };
        from.drain_events();
        to.inbox.extend_from_slice(&wire[..n]);
        moved = true;
        if !to.take_input(now) {
            break;
        }
    }
    moved | to.take_input(now)
}

/// Runs both sides until neither has anything to send or `done` holds.
fn drive(
    a: &mut Side,
    b: &mut Side,
    wire: &mut [u8],
    mut done: impl FnMut(&mut Side, &mut Side) -> bool,
) {
    let now = Instant::ZERO;
    loop {
        let ab = transfer(now, a, b, wire);
        let ba = transfer(now, b, a, wire);
        if done(a, b) {
            return;
        }
        assert!(ab || ba, "the link stalled");
    }
}

/// Two established connections (dialer, listener).
fn established_pair(wire: &mut [u8]) -> (Side, Side) {
    let mut a = Side::new(Role::Dialer, 1);
    let mut b = Side::new(Role::Listener, 2);
    drive(&mut a, &mut b, wire, |a, b| {
        a.conn.is_established() && b.conn.is_established()
    });
    (a, b)
}

fn connection(c: &mut Criterion) {
    let mut g = c.benchmark_group("connection");
    g.throughput(Throughput::Bytes(PAYLOAD));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(6));
    let mut wire = vec![0u8; WIRE_BUF];
    let (mut a, mut b) = established_pair(&mut wire);

    g.bench_function("perf 64 MiB download", |bench| {
        bench.iter(|| {
            let params = PerfParams {
                upload: 0,
                download: PAYLOAD,
            };
            a.conn.perf(Instant::ZERO, params).expect("established");
            a.drain_events();
            drive(&mut a, &mut b, &mut wire, |a, _| {
                a.events.drain(..).any(|e| match e {
                    ConnectionEvent::PerfDone(r) => {
                        assert_eq!(r.downloaded, PAYLOAD);
                        true
                    }
                    ConnectionEvent::PerfFailed { .. } => panic!("perf failed: {e:?}"),
                    _ => false,
                })
            });
        })
    });

    let chunk = vec![0x5au8; 64 * 1024];
    let mut read = vec![0u8; 64 * 1024];
    g.bench_function("app stream 64 MiB", |bench| {
        bench.iter(|| {
            // Opening the stream is part of the run: one small frame against 64 MiB.
            let now = Instant::ZERO;
            let s = a
                .conn
                .open_stream(now, BENCH_PROTOCOL)
                .expect("established");
            a.drain_events();
            let (mut sent, mut received) = (0u64, 0u64);
            let mut closed = false;
            loop {
                let before = (sent, received);
                while sent < PAYLOAD {
                    let len = (PAYLOAD - sent).min(chunk.len() as u64) as usize;
                    let n = a
                        .conn
                        .stream_write(now, s, &chunk[..len])
                        .expect("open stream");
                    if n == 0 {
                        break;
                    }
                    sent += n as u64;
                }
                if sent == PAYLOAD && !closed {
                    a.conn.stream_close(now, s).expect("open stream");
                    closed = true;
                }
                a.drain_events();
                let ab = transfer(now, &mut a, &mut b, &mut wire);
                // The listener's side of the stream: read everything it has.
                let mut finished = false;
                for e in core::mem::take(&mut b.events) {
                    match e {
                        ConnectionEvent::StreamOpened { stream, .. }
                        | ConnectionEvent::StreamReadable(stream) => loop {
                            let n = b.conn.stream_read(now, stream, &mut read).expect("open");
                            if n == 0 {
                                break;
                            }
                            received += n as u64;
                        },
                        ConnectionEvent::StreamFinished(stream) => {
                            while let Ok(n @ 1..) = b.conn.stream_read(now, stream, &mut read) {
                                received += n as u64;
                            }
                            b.conn.stream_close(now, stream).expect("open");
                            finished = true;
                        }
                        _ => {}
                    }
                }
                b.drain_events();
                let ba = transfer(now, &mut b, &mut a, &mut wire);
                if finished {
                    assert_eq!(received, PAYLOAD);
                    // Let the close reach the dialer so the stream is forgotten.
                    drive(&mut a, &mut b, &mut wire, |a, b| {
                        a.events.clear();
                        b.events.clear();
                        a.conn.stream_count() == 0 && b.conn.stream_count() == 0
                    });
                    return;
                }
                let moved = ab || ba || (sent, received) != before || !b.events.is_empty();
                assert!(moved, "the link stalled");
            }
        })
    });
    g.finish();
}

criterion_group!(benches, aead, noise_transport, connection);
criterion_main!(benches);
