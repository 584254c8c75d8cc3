//! Test support: two endpoints joined by an in-memory byte pipe, on a virtual clock.
//!
//! [`Pair`] moves bytes between any two state machines that implement [`Endpoint`], the shape
//! every connection-level state machine of this crate has. It delivers the bytes in chunks of a
//! chosen size (1 byte at a time up to everything at once), gives each side output buffers of a
//! chosen size, adds a one-way latency, and advances the clock to the next timer or delivery
//! when nothing else can happen, so timeouts fire in virtual time. Everything is deterministic.
//!
//! Built for this crate's own tests and, with the `testkit` feature, for other crates' tests.

use crate::time::{Duration, Instant};
use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

/// A state machine that reads and writes one byte stream.
pub trait Endpoint {
    /// What `handle_input` and `handle_timeout` fail with.
    type Error: core::fmt::Debug;
    /// Received bytes; returns how many were used (the rest is offered again later).
    fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<usize, Self::Error>;
    /// Bytes to send, written into `out`.
    fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> Option<usize>;
    /// The next timer.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The timer from `poll_timeout` has passed.
    fn handle_timeout(&mut self, now: Instant) -> Result<(), Self::Error>;
}

/// How the pipe between the two endpoints behaves.
#[derive(Clone, Copy, Debug)]
pub struct PipeConfig {
    /// The most bytes handed to `handle_input` in one call.
    pub max_chunk: usize,
    /// The size of the buffer given to `poll_transmit`.
    pub out_len: usize,
    /// One-way delay of every byte.
    pub latency: Duration,
}

impl Default for PipeConfig {
    fn default() -> Self {
        PipeConfig {
            max_chunk: usize::MAX,
            out_len: 70_000,
            latency: Duration::from_millis(10),
        }
    }
}

/// Bytes in flight in one direction: when they arrive, and the bytes.
#[derive(Debug, Default)]
struct Wire {
    in_flight: VecDeque<(Instant, Vec<u8>)>,
    /// Arrived but not yet used by the receiver.
    arrived: Vec<u8>,
}

impl Wire {
    fn next_arrival(&self) -> Option<Instant> {
        self.in_flight.front().map(|(t, _)| *t)
    }

    fn deliver_due(&mut self, now: Instant) {
        while self.in_flight.front().is_some_and(|(t, _)| *t <= now) {
            let (_, bytes) = self.in_flight.pop_front().expect("checked front");
            self.arrived.extend_from_slice(&bytes);
        }
    }
}

/// Which side failed, and how.
#[derive(Debug)]
pub enum PairError<A, B> {
    /// Side A failed.
    A(A),
    /// Side B failed.
    B(B),
    /// Nothing can happen any more (no bytes, no timers) before the goal was reached.
    Stalled,
    /// The step limit was reached.
    TooManySteps,
}

/// Two endpoints, a pipe each way, and the virtual clock.
#[derive(Debug)]
pub struct Pair<A, B> {
    /// Side A (usually the dialer).
    pub a: A,
    /// Side B (usually the listener).
    pub b: B,
    /// The current virtual time.
    pub now: Instant,
    /// The pipe's behaviour; may be changed between steps.
    pub config: PipeConfig,
    a_to_b: Wire,
    b_to_a: Wire,
    out: Vec<u8>,
    /// Bytes that went from A to B, and from B to A, so far.
    pub sent: (u64, u64),
}

type Res<A, B> = Result<(), PairError<<A as Endpoint>::Error, <B as Endpoint>::Error>>;

impl<A: Endpoint, B: Endpoint> Pair<A, B> {
    /// Joins `a` and `b` at virtual time `start`.
    pub fn new(a: A, b: B, start: Instant, config: PipeConfig) -> Self {
        Pair {
            a,
            b,
            now: start,
            config,
            a_to_b: Wire::default(),
            b_to_a: Wire::default(),
            out: vec![0; config.out_len],
            sent: (0, 0),
        }
    }

    /// One round at the current time: both sides transmit, arrived bytes are delivered, due
    /// timers fire. Returns whether anything happened.
    pub fn step(&mut self) -> Result<bool, PairError<A::Error, B::Error>> {
        let now = self.now;
        let latency = self.config.latency;
        if self.out.len() != self.config.out_len {
            self.out.resize(self.config.out_len, 0);
        }
        let mut progressed = false;
        while let Some(n) = self.a.poll_transmit(now, &mut self.out) {
            self.a_to_b
                .in_flight
                .push_back((now + latency, self.out[..n].to_vec()));
            self.sent.0 += n as u64;
            progressed = true;
        }
        while let Some(n) = self.b.poll_transmit(now, &mut self.out) {
            self.b_to_a
                .in_flight
                .push_back((now + latency, self.out[..n].to_vec()));
            self.sent.1 += n as u64;
            progressed = true;
        }
        self.a_to_b.deliver_due(now);
        self.b_to_a.deliver_due(now);
        let chunk = self.config.max_chunk.max(1);
        if !self.a_to_b.arrived.is_empty() {
            let take = self.a_to_b.arrived.len().min(chunk);
            let used = self
                .b
                .handle_input(now, &self.a_to_b.arrived[..take])
                .map_err(PairError::B)?;
            assert!(used <= take, "B used more than it was given");
            self.a_to_b.arrived.drain(..used);
            progressed |= used > 0;
        }
        if !self.b_to_a.arrived.is_empty() {
            let take = self.b_to_a.arrived.len().min(chunk);
            let used = self
                .a
                .handle_input(now, &self.b_to_a.arrived[..take])
                .map_err(PairError::A)?;
            assert!(used <= take, "A used more than it was given");
            self.b_to_a.arrived.drain(..used);
            progressed |= used > 0;
        }
        if self.a.poll_timeout().is_some_and(|t| t <= now) {
            self.a.handle_timeout(now).map_err(PairError::A)?;
            progressed = true;
        }
        if self.b.poll_timeout().is_some_and(|t| t <= now) {
            self.b.handle_timeout(now).map_err(PairError::B)?;
            progressed = true;
        }
        Ok(progressed)
    }

    /// The next instant something is due: a delivery or a timer.
    pub fn next_event(&self) -> Option<Instant> {
        [
            self.a_to_b.next_arrival(),
            self.b_to_a.next_arrival(),
            self.a.poll_timeout(),
            self.b.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Steps until `done` holds, moving the clock forward when nothing can happen now.
    /// Fails on an endpoint error, when nothing can happen at all, or after `max_steps`.
    pub fn drive_until(
        &mut self,
        max_steps: usize,
        mut done: impl FnMut(&mut Self) -> bool,
    ) -> Res<A, B> {
        for _ in 0..max_steps {
            if done(self) {
                return Ok(());
            }
            if !self.step()? {
                match self.next_event() {
                    Some(t) if t > self.now => self.now = t,
                    Some(_) => {}
                    None => return Err(PairError::Stalled),
                }
            }
        }
        if done(self) {
            Ok(())
        } else {
            Err(PairError::TooManySteps)
        }
    }

    /// Bytes that arrived at a side but were not used yet: (at A, at B).
    pub fn unread(&self) -> (usize, usize) {
        (self.b_to_a.arrived.len(), self.a_to_b.arrived.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Echoes what it reads after a timer, to exercise delivery, chunking and timers.
    #[derive(Default)]
    struct DelayedEcho {
        pending: Vec<u8>,
        due: Option<Instant>,
        ready: Vec<u8>,
        received: Vec<u8>,
    }

    impl Endpoint for DelayedEcho {
        type Error = ();
        fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<usize, ()> {
            self.received.extend_from_slice(input);
            self.pending.extend_from_slice(input);
            self.due.get_or_insert(now + Duration::from_millis(100));
            Ok(input.len())
        }
        fn poll_transmit(&mut self, _now: Instant, out: &mut [u8]) -> Option<usize> {
            let n = self.ready.len().min(out.len());
            (n > 0).then(|| {
                out[..n].copy_from_slice(&self.ready[..n]);
                self.ready.drain(..n);
                n
            })
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.due
        }
        fn handle_timeout(&mut self, _now: Instant) -> Result<(), ()> {
            self.due = None;
            self.ready.append(&mut self.pending);
            Ok(())
        }
    }

    #[test]
    fn delivers_in_chunks_with_latency_and_fires_timers() {
        let a = DelayedEcho {
            ready: b"hello world".to_vec(),
            ..Default::default()
        };
        let config = PipeConfig {
            max_chunk: 3,
            out_len: 4,
            latency: Duration::from_millis(10),
        };
        let mut pair = Pair::new(a, DelayedEcho::default(), Instant::ZERO, config);
        pair.drive_until(1000, |p| p.a.received.len() == 11)
            .unwrap();
        assert_eq!(pair.a.received, b"hello world");
        // 10 ms there, a 100 ms timer, 10 ms back; chunking adds no virtual time.
        assert_eq!(pair.now, Instant::from_millis(120));
        assert_eq!(pair.sent, (11, 11));
    }

    #[test]
    fn reports_a_stall() {
        let mut pair = Pair::new(
            DelayedEcho::default(),
            DelayedEcho::default(),
            Instant::ZERO,
            PipeConfig::default(),
        );
        assert!(matches!(
            pair.drive_until(10, |_| false),
            Err(PairError::Stalled)
        ));
    }
}
