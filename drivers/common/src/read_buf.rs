//! The socket read buffer of a connection task, sized by the traffic.
//!
//! # Q&A
//! *Why not a fixed 64 KiB buffer?* An idle connection would hold it for its whole life (64 KiB
//! comes from the allocator's arena, zeroed, so it is resident), and idle connections are most
//! of a server's. This buffer starts small, doubles whenever a read fills it (bulk transfers
//! reach full-size reads within a few reads), and falls back to the small size after a run of
//! small reads, so an idle connection holds 2 KiB.

/// The size an idle connection's buffer has.
pub const MIN_READ_BUF: usize = 2 * 1024;
/// The largest buffer: a whole Noise frame and a bit.
pub const MAX_READ_BUF: usize = 64 * 1024;
/// Small reads in a row after which the buffer shrinks back.
const SHRINK_AFTER: u8 = 16;

/// A read buffer that grows with full reads and shrinks after small ones.
#[derive(Debug)]
pub struct ReadBuf {
    buf: Vec<u8>,
    small_reads: u8,
}

impl Default for ReadBuf {
    fn default() -> Self {
        ReadBuf {
            buf: vec![0; MIN_READ_BUF],
            small_reads: 0,
        }
    }
}

impl ReadBuf {
    /// The buffer to read into.
    pub fn space(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// The first `n` bytes of the last read.
    pub fn filled(&self, n: usize) -> &[u8] {
        &self.buf[..n]
    }

    /// Records a read of `n` bytes and resizes for the next one.
    pub fn adapt(&mut self, n: usize) {
        let cap = self.buf.len();
        if n == cap && cap < MAX_READ_BUF {
            self.buf = vec![0; (cap * 2).min(MAX_READ_BUF)];
            self.small_reads = 0;
        } else if n <= MIN_READ_BUF && cap > MIN_READ_BUF {
            self.small_reads += 1;
            if self.small_reads >= SHRINK_AFTER {
                self.buf = vec![0; MIN_READ_BUF];
                self.small_reads = 0;
            }
        } else {
            self.small_reads = 0;
        }
    }

    /// The current size.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_with_full_reads_and_shrinks_after_small_ones() {
        let mut b = ReadBuf::default();
        assert_eq!(b.capacity(), MIN_READ_BUF);
        while b.capacity() < MAX_READ_BUF {
            let n = b.capacity();
            b.adapt(n);
        }
        assert_eq!(b.capacity(), MAX_READ_BUF);
        b.adapt(MAX_READ_BUF);
        assert_eq!(b.capacity(), MAX_READ_BUF, "never past the maximum");
        for _ in 0..SHRINK_AFTER - 1 {
            b.adapt(100);
        }
        assert_eq!(
            b.capacity(),
            MAX_READ_BUF,
            "a few small reads do not shrink it"
        );
        b.adapt(40_000);
        for _ in 0..SHRINK_AFTER {
            b.adapt(100);
        }
        assert_eq!(b.capacity(), MIN_READ_BUF);
        b.adapt(7);
        assert_eq!(b.filled(7).len(), 7);
    }
}
