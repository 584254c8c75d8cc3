//! The socket buffers of connection tasks: shared by the tasks of a thread, held by none while
//! it is idle.
//!
//! # Q&A
//! *Why doesn't each connection own a read and a write buffer?* An idle connection would hold
//! them for its whole life, and idle connections are most of a server's. A read only needs a
//! buffer between "the socket is readable" and "the bytes are handed to the connection", which
//! happens without waiting, so every task of a thread reads into that thread's one buffer
//! ([`with_read_buf`]). Bytes to write must outlive a wait when the socket is full, so a task
//! takes an [`OutBuf`] from its thread's small pool when it has bytes to send and gives it back
//! once they are written.
//!
//! *Why thread-local pools rather than one shared pool?* No lock on the data path; a task that
//! moves to another thread gives its buffer to that thread's pool, and each pool is bounded.

use std::cell::RefCell;

/// The largest single socket read: a whole Noise frame and a bit.
pub const READ_BUF_LEN: usize = 64 * 1024;
/// The write buffer: room for several full Noise frames.
pub const WRITE_BUF_LEN: usize = 256 * 1024;
/// Spare write buffers a thread keeps for the next connection that has bytes to send.
const POOL_LEN: usize = 4;

thread_local! {
    static READ_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_BUF_LEN].into_boxed_slice());
    static WRITE_POOL: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's read buffer. `f` must not wait (it runs between a readiness
/// notification and handing the bytes on) and must not call `with_read_buf` again.
pub fn with_read_buf<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    READ_BUF.with(|buf| {
        let mut buf = buf
            .try_borrow_mut()
            .expect("with_read_buf is not re-entered: its callers only hand bytes on");
        f(&mut buf)
    })
}

/// A write buffer of [`WRITE_BUF_LEN`] bytes, taken from the thread's pool while a connection
/// has bytes to send.
#[derive(Debug)]
pub struct OutBuf(Box<[u8]>);

impl OutBuf {
    /// A buffer from this thread's pool, or a new one.
    pub fn take() -> Self {
        let pooled = WRITE_POOL.with(|pool| pool.borrow_mut().pop());
        OutBuf(pooled.unwrap_or_else(|| vec![0; WRITE_BUF_LEN].into_boxed_slice()))
    }

    /// Gives the buffer back to this thread's pool (or frees it when the pool is full).
    pub fn give_back(self) {
        WRITE_POOL.with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.len() < POOL_LEN {
                pool.push(self.0);
            }
        });
    }
}

impl std::ops::Deref for OutBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl std::ops::DerefMut for OutBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_buffers_are_reused_and_the_pool_is_bounded() {
        let bufs: Vec<OutBuf> = (0..POOL_LEN + 2).map(|_| OutBuf::take()).collect();
        let last_kept = bufs[POOL_LEN - 1].as_ptr();
        for b in bufs {
            b.give_back();
        }
        assert_eq!(WRITE_POOL.with(|p| p.borrow().len()), POOL_LEN);
        let again = OutBuf::take();
        assert_eq!(again.len(), WRITE_BUF_LEN);
        assert_eq!(
            again.as_ptr(),
            last_kept,
            "the last buffer kept is taken first"
        );
    }

    #[test]
    fn the_read_buffer_is_the_thread_s_one() {
        let a = with_read_buf(|b| {
            b[0] = 7;
            b.as_ptr()
        });
        let (b, first) = with_read_buf(|b| (b.as_ptr(), b[0]));
        assert_eq!((a, first), (b, 7));
    }
}
