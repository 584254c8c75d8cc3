//! [`Wake`]: how handles and streams nudge their connection task.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

/// A one-permit wake-up: [`Wake::wake`] before the task waits is not lost, and many wakes
/// before the task runs count as one.
///
/// # Q&A
/// *Why not an executor's or a crate's notify type?* This is a flag and a waker (a dozen
/// lines); a runtime's type (tokio's `Notify`) would tie the shared task state to that runtime,
/// and every runtime can wait on a `poll` function.
#[derive(Debug, Default)]
pub struct Wake {
    pending: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Wake {
    /// Wakes the task (or lets its next wait end at once).
    pub fn wake(&self) {
        self.pending.store(true, Ordering::Release);
        let waker = self
            .waker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Ready once a wake is pending, taking it.
    pub fn poll_woken(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.pending.swap(false, Ordering::AcqRel) {
            return Poll::Ready(());
        }
        *self
            .waker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(cx.waker().clone());
        if self.pending.swap(false, Ordering::AcqRel) {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Waits for a wake.
    pub fn woken(&self) -> impl std::future::Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| self.poll_woken(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;

    #[test]
    fn a_wake_before_the_wait_is_kept_once() {
        let wake = Wake::default();
        wake.wake();
        wake.wake();
        futures::executor::block_on(wake.woken());
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(pin!(wake.woken()).poll(&mut cx).is_pending());
    }

    #[test]
    fn a_wake_after_the_wait_wakes_the_waiter() {
        let wake = std::sync::Arc::new(Wake::default());
        let waker = wake.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            waker.wake();
        });
        futures::executor::block_on(wake.woken());
        thread.join().expect("the waking thread does not panic");
    }
}
