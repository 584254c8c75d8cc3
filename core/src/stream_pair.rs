//! Test harness: two [`StreamHandler`]s joined by an in-memory stream on a virtual clock.
//!
//! Bytes written by one side wait in a pipe until [`StreamPair::deliver_to_a`] or
//! [`StreamPair::deliver_to_b`] hands them over, in chunks of the sizes the test picks, so a
//! test controls both time and how the stream splits its bytes. [`StreamPair::run`] moves
//! everything until nothing moves any more, firing due timeouts on the way.

use crate::stream::StreamHandler;
use crate::time::{Duration, Instant};
use core::fmt::Debug;

/// One direction of the stream and the state of the writer's half.
#[derive(Debug, Default)]
struct Pipe {
    bytes: Vec<u8>,
    /// Bytes before this index have been used by the reader.
    start: usize,
    /// The writer closed its half (after the bytes now in the pipe).
    closed: bool,
    /// The reader has been told of the close.
    close_delivered: bool,
}

/// Sizes of the chunks input arrives in, used in turn.
#[derive(Debug)]
struct Chunker {
    sizes: Vec<usize>,
    next: usize,
}

impl Chunker {
    fn next(&mut self) -> usize {
        let c = self.sizes[self.next % self.sizes.len()];
        self.next += 1;
        c
    }
}

/// Two handlers, `a` and `b`, on one stream.
pub(crate) struct StreamPair<A: StreamHandler, B: StreamHandler> {
    pub a: A,
    pub b: B,
    pub now: Instant,
    pub a_events: Vec<A::Event>,
    pub b_events: Vec<B::Event>,
    pub a_error: Option<A::Error>,
    pub b_error: Option<B::Error>,
    a_to_b: Pipe,
    b_to_a: Pipe,
    chunker: Chunker,
    /// The size of the `out` buffer handed to `poll_transmit`.
    out_len: usize,
    /// Ask `poll_transmit_zeros` before every `poll_transmit`, as the connection does.
    pub count_zeros: bool,
}

impl<A, B> StreamPair<A, B>
where
    A: StreamHandler,
    B: StreamHandler,
    A::Error: Debug,
    B::Error: Debug,
{
    /// A pair at time zero, with chunk sizes `chunks` (zeros count as one) and `out` buffers
    /// of `out_len` bytes.
    pub fn new(a: A, b: B, chunks: &[usize], out_len: usize) -> Self {
        let mut chunks: Vec<usize> = chunks.iter().map(|c| (*c).max(1)).collect();
        if chunks.is_empty() {
            chunks.push(usize::MAX);
        }
        StreamPair {
            a,
            b,
            now: Instant::ZERO,
            a_events: Vec::new(),
            b_events: Vec::new(),
            a_error: None,
            b_error: None,
            a_to_b: Pipe::default(),
            b_to_a: Pipe::default(),
            chunker: Chunker {
                sizes: chunks,
                next: 0,
            },
            out_len: out_len.max(1),
            count_zeros: false,
        }
    }

    /// Moves the clock forward (nothing runs).
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    /// Whether either side has failed.
    pub fn failed(&self) -> bool {
        self.a_error.is_some() || self.b_error.is_some()
    }

    /// Drains `a`'s output into the pipe; returns whether anything moved.
    pub fn send_a(&mut self) -> bool {
        if self.a_error.is_some() {
            return false;
        }
        let moved = transmit(
            &mut self.a,
            self.now,
            self.out_len,
            self.count_zeros,
            &mut self.a_to_b,
        );
        drain_events(&mut self.a, &mut self.a_events);
        moved
    }

    /// Drains `b`'s output into the pipe; returns whether anything moved.
    pub fn send_b(&mut self) -> bool {
        if self.b_error.is_some() {
            return false;
        }
        let moved = transmit(
            &mut self.b,
            self.now,
            self.out_len,
            self.count_zeros,
            &mut self.b_to_a,
        );
        drain_events(&mut self.b, &mut self.b_events);
        moved
    }

    /// Hands the bytes waiting for `b` to it; returns whether anything moved.
    pub fn deliver_to_b(&mut self) -> bool {
        if self.b_error.is_some() {
            return false;
        }
        let moved = match deliver(&mut self.b, self.now, &mut self.a_to_b, &mut self.chunker) {
            Ok(moved) => moved,
            Err(e) => {
                self.b_error = Some(e);
                true
            }
        };
        drain_events(&mut self.b, &mut self.b_events);
        moved
    }

    /// Hands the bytes waiting for `a` to it; returns whether anything moved.
    pub fn deliver_to_a(&mut self) -> bool {
        if self.a_error.is_some() {
            return false;
        }
        let moved = match deliver(&mut self.a, self.now, &mut self.b_to_a, &mut self.chunker) {
            Ok(moved) => moved,
            Err(e) => {
                self.a_error = Some(e);
                true
            }
        };
        drain_events(&mut self.a, &mut self.a_events);
        moved
    }

    /// Calls `handle_timeout` on each side whose deadline has passed.
    pub fn fire_timeouts(&mut self) {
        if self.a_error.is_none()
            && self.a.poll_timeout().is_some_and(|t| t <= self.now)
            && let Err(e) = self.a.handle_timeout(self.now)
        {
            self.a_error = Some(e);
        }
        if self.b_error.is_none()
            && self.b.poll_timeout().is_some_and(|t| t <= self.now)
            && let Err(e) = self.b.handle_timeout(self.now)
        {
            self.b_error = Some(e);
        }
        drain_events(&mut self.a, &mut self.a_events);
        drain_events(&mut self.b, &mut self.b_events);
    }

    /// Moves bytes both ways and fires due timeouts until nothing moves or a side fails.
    pub fn run(&mut self) {
        for _ in 0..10_000_000 {
            if self.failed() {
                return;
            }
            self.fire_timeouts();
            let mut moved = self.send_a();
            moved |= self.deliver_to_b();
            moved |= self.send_b();
            moved |= self.deliver_to_a();
            if !moved {
                return;
            }
        }
        panic!("the pair never settles");
    }

    /// Advances the clock in `step`s up to `total`, running after each.
    pub fn run_for(&mut self, total: Duration, step: Duration) {
        let end = self.now + total;
        self.run();
        while self.now < end && !self.failed() {
            self.advance(step.min(end - self.now));
            self.run();
        }
    }
}

fn transmit<H: StreamHandler>(
    handler: &mut H,
    now: Instant,
    out_len: usize,
    count_zeros: bool,
    pipe: &mut Pipe,
) -> bool {
    let mut moved = false;
    if pipe.closed {
        assert_eq!(
            handler.poll_transmit(now, &mut vec![0; out_len]),
            0,
            "wrote after close"
        );
        return false;
    }
    let mut out = vec![0u8; out_len];
    loop {
        if count_zeros {
            let zeros = handler.poll_transmit_zeros(now, out_len as u64);
            assert!(zeros <= out_len as u64, "more zeros than asked for");
            if zeros > 0 {
                pipe.bytes.resize(pipe.bytes.len() + zeros as usize, 0);
                moved = true;
                continue;
            }
        }
        let n = handler.poll_transmit(now, &mut out);
        assert!(n <= out.len(), "poll_transmit claims more than out holds");
        if n == 0 {
            break;
        }
        pipe.bytes.extend_from_slice(&out[..n]);
        moved = true;
    }
    if handler.wants_close() {
        pipe.closed = true;
        moved = true;
    }
    moved
}

fn deliver<H: StreamHandler>(
    handler: &mut H,
    now: Instant,
    pipe: &mut Pipe,
    chunker: &mut Chunker,
) -> Result<bool, H::Error> {
    let mut moved = false;
    // Bytes at the front of the pipe that have "arrived" and are offered.
    let mut arrived = 0usize;
    while pipe.start < pipe.bytes.len() {
        let available = pipe.bytes.len() - pipe.start;
        arrived = arrived.saturating_add(chunker.next()).min(available);
        let offered = &pipe.bytes[pipe.start..pipe.start + arrived];
        let used = handler.handle_input(now, offered)?;
        assert!(used <= arrived, "used more than it was given");
        if used == 0 && arrived == available {
            // Waiting for more bytes, or for its own output to drain.
            break;
        }
        pipe.start += used;
        arrived -= used;
        moved |= used > 0;
    }
    if pipe.start == pipe.bytes.len() {
        pipe.bytes.clear();
        pipe.start = 0;
    }
    if pipe.closed && pipe.bytes.is_empty() && !pipe.close_delivered {
        pipe.close_delivered = true;
        handler.handle_remote_close(now)?;
        moved = true;
    }
    Ok(moved)
}

fn drain_events<H: StreamHandler>(handler: &mut H, events: &mut Vec<H::Event>) {
    while let Some(e) = handler.poll_event() {
        events.push(e);
    }
}
