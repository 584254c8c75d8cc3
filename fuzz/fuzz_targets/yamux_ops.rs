//! Two yamux sessions connected in memory, driven by arbitrary application operations and
//! injected peer control frames. Invariants: no panic; every byte a stream delivers is the
//! byte the other side wrote at that offset (in order, uncorrupted, never more than written);
//! memory stays within the configuration.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rhizo_core::time::{Duration, Instant};
use rhizo_core::yamux::{
    HEADER_LEN, HeapStorage, Role, StreamId, YamuxConfig, YamuxEvent, YamuxSession,
};
use std::collections::BTreeMap;

#[derive(Arbitrary, Debug)]
enum Op {
    Open {
        dialer: bool,
    },
    Accept {
        dialer: bool,
        stream: u8,
    },
    Write {
        dialer: bool,
        stream: u8,
        len: u16,
    },
    Read {
        dialer: bool,
        stream: u8,
        len: u16,
    },
    /// `write_with`: the bytes are written straight into the send buffer.
    WriteInPlace {
        dialer: bool,
        stream: u8,
        len: u16,
    },
    /// `write_zeros`: zeros queued without being stored.
    WriteZeros {
        dialer: bool,
        stream: u8,
        len: u16,
    },
    /// `peek_slice` then `consume`: the bytes are read in place.
    ReadInPlace {
        dialer: bool,
        stream: u8,
        len: u16,
    },
    Close {
        dialer: bool,
        stream: u8,
    },
    Reset {
        dialer: bool,
        stream: u8,
    },
    GoAway {
        dialer: bool,
    },
    /// Moves one side's output to the other side's inbox.
    Transmit {
        dialer: bool,
        out_len: u16,
    },
    /// Feeds a side's inbox in pieces.
    Deliver {
        dialer: bool,
        piece: u16,
    },
    Advance {
        millis: u16,
    },
    /// A control frame (not data: it would corrupt the stream bytes) from nowhere.
    Inject {
        to_dialer: bool,
        header: [u8; 12],
    },
}

const SESSION_BUFFER: usize = 64 * 1024;

/// The byte side `from_dialer` writes at `offset` of stream `id`.
fn byte(id: u32, from_dialer: bool, offset: u64) -> u8 {
    let x = offset.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(id) ^ u64::from(from_dialer);
    (x >> 56) as u8
}

#[derive(Default)]
struct Counts {
    written: u64,
    read: u64,
    /// Offsets written as queued zeros (`write_zeros`), as half-open ranges.
    zeros: Vec<(u64, u64)>,
}

/// The byte the peer wrote at `offset` of stream `id`: a zero inside one of its zero ranges.
fn expected(writer: Option<&Counts>, id: u32, from_dialer: bool, offset: u64) -> u8 {
    let zero = writer.is_some_and(|c| c.zeros.iter().any(|&(a, b)| a <= offset && offset < b));
    if zero {
        0
    } else {
        byte(id, from_dialer, offset)
    }
}

struct Side {
    session: YamuxSession<HeapStorage>,
    inbox: Vec<u8>,
    ids: Vec<u32>,
    counts: BTreeMap<u32, Counts>,
    dialer: bool,
}

impl Side {
    fn pick(&self, stream: u8) -> Option<StreamId> {
        (!self.ids.is_empty()).then(|| StreamId(self.ids[usize::from(stream) % self.ids.len()]))
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            if let YamuxEvent::InboundStream(id) = event {
                self.ids.push(id.get());
            }
        }
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let config = YamuxConfig {
        max_streams: 8,
        max_pending_inbound: 4,
        max_receive_window: 1024 * 1024,
        max_stream_rx_buffer: 32 * 1024,
        max_stream_tx_buffer: 8 * 1024,
        max_session_buffer: SESSION_BUFFER,
        keep_alive_interval: Some(Duration::from_secs(5)),
        ping_timeout: Duration::from_secs(10),
    };
    let mk = |role, dialer| Side {
        session: YamuxSession::new(role, config),
        inbox: Vec::new(),
        ids: Vec::new(),
        counts: BTreeMap::new(),
        dialer,
    };
    let mut sides = [mk(Role::Dialer, true), mk(Role::Listener, false)];
    let mut now = Instant::from_secs(1);
    let mut buf = vec![0u8; 70_000];
    for op in ops {
        match op {
            Op::Open { dialer } => {
                let side = &mut sides[usize::from(!dialer)];
                if let Ok(id) = side.session.open_stream() {
                    side.ids.push(id.get());
                }
            }
            Op::Accept { dialer, stream } => {
                let side = &mut sides[usize::from(!dialer)];
                if let Some(id) = side.pick(stream) {
                    let _ = side.session.accept(id);
                }
            }
            Op::Write {
                dialer,
                stream,
                len,
            } => {
                let side = &mut sides[usize::from(!dialer)];
                if let Some(id) = side.pick(stream) {
                    let c = side.counts.entry(id.get()).or_default();
                    let data: Vec<u8> = (0..u64::from(len))
                        .map(|i| byte(id.get(), side.dialer, c.written + i))
                        .collect();
                    if let Ok(n) = side.session.write(id, &data) {
                        assert!(n <= data.len());
                        c.written += n as u64;
                    }
                }
            }
            Op::Read {
                dialer,
                stream,
                len,
            } => {
                let (me, peer) = if dialer { (0, 1) } else { (1, 0) };
                if let Some(id) = sides[me].pick(stream) {
                    let len = usize::from(len).min(buf.len());
                    if let Ok(n) = sides[me].session.read(id, &mut buf[..len]) {
                        let from_dialer = !sides[me].dialer;
                        let start = sides[me].counts.get(&id.get()).map_or(0, |c| c.read);
                        let writer = sides[peer].counts.get(&id.get());
                        for (i, b) in buf[..n].iter().enumerate() {
                            let want = expected(writer, id.get(), from_dialer, start + i as u64);
                            assert_eq!(*b, want);
                        }
                        let c = sides[me].counts.entry(id.get()).or_default();
                        c.read += n as u64;
                        let read = c.read;
                        let written = sides[peer].counts.get(&id.get()).map_or(0, |c| c.written);
                        assert!(read <= written, "read more than the peer wrote");
                    }
                }
            }
            Op::WriteInPlace {
                dialer,
                stream,
                len,
            } => {
                let side = &mut sides[usize::from(!dialer)];
                if let Some(id) = side.pick(stream) {
                    let c = side.counts.entry(id.get()).or_default();
                    let (owner, dialer_side, start) = (id.get(), side.dialer, c.written);
                    let written = side.session.write_with(id, usize::from(len), |space| {
                        assert!(space.len() <= usize::from(len));
                        for (i, b) in space.iter_mut().enumerate() {
                            *b = byte(owner, dialer_side, start + i as u64);
                        }
                        space.len()
                    });
                    if let Ok(n) = written {
                        assert!(n <= usize::from(len));
                        c.written += n as u64;
                    }
                }
            }
            Op::WriteZeros {
                dialer,
                stream,
                len,
            } => {
                let side = &mut sides[usize::from(!dialer)];
                if let Some(id) = side.pick(stream) {
                    let room = side.session.writable_len(id) as u64;
                    if let Ok(n) = side.session.write_zeros(id, u64::from(len)) {
                        assert!(n <= u64::from(len) && n <= room);
                        let c = side.counts.entry(id.get()).or_default();
                        if n > 0 {
                            c.zeros.push((c.written, c.written + n));
                        }
                        c.written += n;
                    }
                }
            }
            Op::ReadInPlace {
                dialer,
                stream,
                len,
            } => {
                let (me, peer) = if dialer { (0, 1) } else { (1, 0) };
                if let Some(id) = sides[me].pick(stream) {
                    let data = sides[me].session.peek_slice(id);
                    let n = data.len().min(usize::from(len));
                    assert!(n <= sides[me].session.readable_len(id));
                    let from_dialer = !sides[me].dialer;
                    let start = sides[me].counts.get(&id.get()).map_or(0, |c| c.read);
                    let writer = sides[peer].counts.get(&id.get());
                    for (i, b) in data[..n].iter().enumerate() {
                        let want = expected(writer, id.get(), from_dialer, start + i as u64);
                        assert_eq!(*b, want);
                    }
                    let c = sides[me].counts.entry(id.get()).or_default();
                    c.read += n as u64;
                    let read = c.read;
                    sides[me].session.consume(id, n);
                    let written = sides[peer].counts.get(&id.get()).map_or(0, |c| c.written);
                    assert!(read <= written, "read more than the peer wrote");
                }
            }
            Op::Close { dialer, stream } => {
                let side = &mut sides[usize::from(!dialer)];
                if let Some(id) = side.pick(stream) {
                    let _ = side.session.close(id);
                }
            }
            Op::Reset { dialer, stream } => {
                let side = &mut sides[usize::from(!dialer)];
                if let Some(id) = side.pick(stream) {
                    let _ = side.session.reset(id);
                }
            }
            Op::GoAway { dialer } => sides[usize::from(!dialer)].session.go_away(),
            Op::Transmit { dialer, out_len } => {
                let (from, to) = if dialer { (0, 1) } else { (1, 0) };
                let out_len = usize::from(out_len).max(HEADER_LEN);
                while let Some(n) = sides[from].session.poll_transmit(now, &mut buf[..out_len]) {
                    assert!(n <= out_len);
                    let bytes = buf[..n].to_vec();
                    sides[to].inbox.extend_from_slice(&bytes);
                }
            }
            Op::Deliver { dialer, piece } => {
                let side = &mut sides[usize::from(!dialer)];
                let piece = usize::from(piece).max(1);
                let mut offset = 0;
                while offset < side.inbox.len() {
                    let end = side.inbox.len().min(offset + piece);
                    match side.session.handle_input(now, &side.inbox[offset..end]) {
                        Ok(n) => {
                            offset += n;
                            if offset < end {
                                break;
                            }
                        }
                        Err(_) => {
                            offset = side.inbox.len();
                        }
                    }
                }
                side.inbox.drain(..offset);
                side.drain_events();
            }
            Op::Advance { millis } => {
                now += Duration::from_millis(u64::from(millis));
                for side in &mut sides {
                    if side.session.poll_timeout().is_some_and(|t| t <= now) {
                        let _ = side.session.handle_timeout(now);
                    }
                }
            }
            Op::Inject {
                to_dialer,
                mut header,
            } => {
                // Mostly version 0; never a data frame (its body would corrupt the stream
                // bytes the invariant checks); the frames target covers bad types.
                if header[0] < 200 {
                    header[0] = 0;
                }
                header[1] = 1 + header[1] % 3;
                // Appended after whole frames, so it lands on a frame boundary.
                sides[usize::from(!to_dialer)]
                    .inbox
                    .extend_from_slice(&header);
            }
        }
        for side in &mut sides {
            side.drain_events();
            assert!(side.session.buffered_bytes() <= SESSION_BUFFER);
            assert!(side.session.stream_count() <= 8);
        }
    }
});
