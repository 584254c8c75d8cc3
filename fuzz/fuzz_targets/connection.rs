//! The composed connection (multistream, Noise, yamux, streams) between two honest endpoints,
//! with the fuzzer choosing the operations, how bytes are chunked, when time jumps, and bytes
//! corrupted or injected in flight.
//!
//! Invariants: no panic; `handle_input` never takes more than it is given; whatever an
//! application stream delivers is exactly what the other side wrote at that offset (the AEAD
//! must catch every alteration); a connection that failed stays failed.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rhizo_core::connection::{Connection, ConnectionConfig, ConnectionEvent, HeapConnection, Role};
use rhizo_core::crypto::Portable;
use rhizo_core::identity::Keypair;
use rhizo_core::noise::session::NoiseIdentity;
use rhizo_core::time::{Duration, Instant};
use rhizo_core::yamux::StreamId;
use std::collections::HashMap;

const PROTO: &str = "/fuzz/1.0.0";

#[derive(Arbitrary, Debug)]
enum Op {
    /// Deliver up to `max` bytes in flight to one side: through `handle_input`, or when
    /// `direct`, through `receive_buffer` + `handle_received` where the connection offers its
    /// buffer (as the drivers read the socket).
    Deliver {
        to_b: bool,
        max: u16,
        direct: bool,
    },
    /// XOR a byte in flight.
    Corrupt {
        to_b: bool,
        at: u16,
        xor: u8,
    },
    /// Inject raw bytes in flight.
    Inject {
        to_b: bool,
        bytes: Vec<u8>,
    },
    /// Let time pass.
    Advance {
        ms: u16,
    },
    /// Open an application stream and write `len` pattern bytes.
    Open {
        on_a: bool,
        len: u16,
    },
    /// Write more on an open stream.
    Write {
        on_a: bool,
        which: u8,
        len: u16,
    },
    /// Close one's half of a stream.
    CloseStream {
        on_a: bool,
        which: u8,
    },
    /// Reset a stream.
    Reset {
        on_a: bool,
        which: u8,
    },
    Ping {
        on_a: bool,
    },
    Identify {
        on_a: bool,
    },
    Perf {
        up: u16,
        down: u16,
    },
    Close {
        on_a: bool,
    },
}

/// The pattern byte at `offset` of what side `from_a` writes on stream `id`.
fn pattern(from_a: bool, id: StreamId, offset: u64) -> u8 {
    (offset as u8) ^ (id.0 as u8).wrapping_mul(31) ^ if from_a { 0x55 } else { 0xaa }
}

struct Side {
    conn: Connection<Portable, HeapConnection>,
    is_a: bool,
    failed: bool,
    /// Per stream: bytes written, bytes read.
    streams: HashMap<StreamId, (u64, u64)>,
    order: Vec<StreamId>,
}

impl Side {
    fn new(role: Role, seed: u8) -> Side {
        let identity =
            NoiseIdentity::ed25519::<Portable>(&Keypair::from_seed([seed; 32]), [seed ^ 0x5c; 32]);
        let config = ConnectionConfig {
            app_protocols: &[PROTO],
            ..ConnectionConfig::new(role)
        };
        let conn = Connection::new(
            Instant::ZERO,
            config,
            identity,
            [seed ^ 0x33; 32],
            [seed; 32],
        )
        .expect("valid config");
        Side {
            conn,
            is_a: role == Role::Dialer,
            failed: false,
            streams: HashMap::new(),
            order: Vec::new(),
        }
    }

    fn pick(&self, which: u8) -> Option<StreamId> {
        (!self.order.is_empty()).then(|| self.order[usize::from(which) % self.order.len()])
    }

    fn write(&mut self, now: Instant, id: StreamId, len: u16) {
        let (written, _) = *self.streams.get(&id).unwrap_or(&(0, 0));
        let data: Vec<u8> = (0..u64::from(len))
            .map(|i| pattern(self.is_a, id, written + i))
            .collect();
        if let Ok(n) = self.conn.stream_write(now, id, &data) {
            assert!(n <= data.len());
            self.streams.entry(id).or_default().0 += n as u64;
        }
    }

    /// Drains events, reading every readable stream and checking its bytes.
    fn drain(&mut self, now: Instant) {
        let mut buf = [0u8; 2048];
        while let Some(e) = self.conn.poll_event() {
            let stream = match e {
                ConnectionEvent::StreamOpened { stream, .. } => {
                    if !self.order.contains(&stream) {
                        self.order.push(stream);
                    }
                    Some(stream)
                }
                ConnectionEvent::StreamReadable(s) | ConnectionEvent::StreamFinished(s) => Some(s),
                ConnectionEvent::IdentifyRequested { stream } => {
                    let msg = rhizo_core::identify::IdentifyBuilder {
                        agent_version: Some("fuzz"),
                        ..Default::default()
                    };
                    let _ = self.conn.respond_identify(now, stream, &msg);
                    None
                }
                _ => None,
            };
            let Some(id) = stream else { continue };
            while let Ok(n) = self.conn.stream_read(now, id, &mut buf) {
                if n == 0 {
                    break;
                }
                let read = &mut self.streams.entry(id).or_default().1;
                for (i, b) in buf[..n].iter().enumerate() {
                    assert_eq!(
                        *b,
                        pattern(!self.is_a, id, *read + i as u64),
                        "stream {id:?} offset {}",
                        *read + i as u64
                    );
                }
                *read += n as u64;
            }
        }
    }
}

/// Runs both sides honestly until both are established (or gives up after a few rounds).
fn establish(a: &mut Side, b: &mut Side, out: &mut [u8]) {
    let now = Instant::ZERO;
    for _ in 0..10 {
        let mut moved = false;
        while let Some(n) = a.conn.poll_transmit(now, out) {
            let used = b.conn.handle_input(now, &out[..n]).expect("honest bytes");
            assert_eq!(used, n);
            moved = true;
        }
        while let Some(n) = b.conn.poll_transmit(now, out) {
            let used = a.conn.handle_input(now, &out[..n]).expect("honest bytes");
            assert_eq!(used, n);
            moved = true;
        }
        a.drain(now);
        b.drain(now);
        if !moved {
            break;
        }
    }
    assert!(a.conn.is_established() && b.conn.is_established());
}

fuzz_target!(|input: (bool, Vec<Op>)| {
    let (established, ops) = input;
    let mut now = Instant::ZERO;
    let mut a = Side::new(Role::Dialer, 1);
    let mut b = Side::new(Role::Listener, 2);
    let (mut to_a, mut to_b): (Vec<u8>, Vec<u8>) = (Vec::new(), Vec::new());
    let mut out = vec![0u8; 70_000];
    if established {
        // Start from an established connection so that the input is spent on the streams.
        establish(&mut a, &mut b, &mut out);
    }
    for op in ops.into_iter().take(200) {
        for (side, wire) in [(&mut a, &mut to_b), (&mut b, &mut to_a)] {
            while let Some(n) = side.conn.poll_transmit(now, &mut out) {
                wire.extend_from_slice(&out[..n]);
                if wire.len() > 4 << 20 {
                    break;
                }
            }
            side.drain(now);
        }
        match op {
            Op::Deliver {
                to_b: dir,
                max,
                direct,
            } => {
                let (side, wire) = if dir {
                    (&mut b, &mut to_b)
                } else {
                    (&mut a, &mut to_a)
                };
                let take = wire.len().min(usize::from(max) + 1);
                let result = match side.conn.receive_buffer().filter(|_| direct) {
                    Some(room) => {
                        let n = room.len().min(take);
                        room[..n].copy_from_slice(&wire[..n]);
                        side.conn.handle_received(now, n).map(|()| n)
                    }
                    None => side.conn.handle_input(now, &wire[..take]),
                };
                match result {
                    Ok(used) => {
                        assert!(used <= take);
                        wire.drain(..used);
                    }
                    Err(_) => {
                        side.failed = true;
                        wire.clear();
                    }
                }
                if side.failed {
                    assert!(side.conn.is_closed());
                    assert!(side.conn.receive_buffer().is_none());
                    assert!(
                        side.conn.handle_input(now, b"more").is_err()
                            || side.conn.error().is_none()
                    );
                }
                side.drain(now);
            }
            Op::Corrupt { to_b: dir, at, xor } => {
                let wire = if dir { &mut to_b } else { &mut to_a };
                if !wire.is_empty() {
                    let i = usize::from(at) % wire.len();
                    wire[i] ^= xor;
                }
            }
            Op::Inject { to_b: dir, bytes } => {
                let wire = if dir { &mut to_b } else { &mut to_a };
                wire.extend_from_slice(&bytes);
            }
            Op::Advance { ms } => {
                now += Duration::from_millis(u64::from(ms) * 10);
                for side in [&mut a, &mut b] {
                    if side.conn.poll_timeout().is_some_and(|t| t <= now)
                        && side.conn.handle_timeout(now).is_err()
                    {
                        side.failed = true;
                    }
                    side.drain(now);
                }
            }
            Op::Open { on_a, len } => {
                let side = if on_a { &mut a } else { &mut b };
                if let Ok(id) = side.conn.open_stream(now, PROTO) {
                    side.order.push(id);
                    side.write(now, id, len);
                }
            }
            Op::Write { on_a, which, len } => {
                let side = if on_a { &mut a } else { &mut b };
                if let Some(id) = side.pick(which) {
                    side.write(now, id, len);
                }
            }
            Op::CloseStream { on_a, which } => {
                let side = if on_a { &mut a } else { &mut b };
                if let Some(id) = side.pick(which) {
                    let _ = side.conn.stream_close(now, id);
                }
            }
            Op::Reset { on_a, which } => {
                let side = if on_a { &mut a } else { &mut b };
                if let Some(id) = side.pick(which) {
                    let _ = side.conn.stream_reset(now, id);
                }
            }
            Op::Ping { on_a } => {
                let _ = if on_a { &mut a } else { &mut b }.conn.ping(now);
            }
            Op::Identify { on_a } => {
                let _ = if on_a { &mut a } else { &mut b }
                    .conn
                    .request_identify(now);
            }
            Op::Perf { up, down } => {
                let params = rhizo_core::perf::PerfParams {
                    upload: u64::from(up) * 64,
                    download: u64::from(down) * 64,
                };
                let _ = a.conn.perf(now, params);
            }
            Op::Close { on_a } => if on_a { &mut a } else { &mut b }.conn.close(),
        }
        for side in [&mut a, &mut b] {
            side.drain(now);
        }
    }
});
