//! [`Wake`]: how handles and streams nudge their connection task.

use futures::task::AtomicWaker;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

/// A one-permit wake-up: [`Wake::wake`] before the task waits is not lost, and many wakes
/// before the task runs count as one.
///
/// # Q&A
/// *Why not an executor's or a crate's notify type?* This is a flag and a waker (a dozen lines
/// on `futures`' `AtomicWaker`); a crate for it would tie the driver to one runtime family.
#[derive(Debug, Default)]
pub(crate) struct Wake {
    pending: AtomicBool,
    waker: AtomicWaker,
}

impl Wake {
    /// Wakes the task (or lets its next wait end at once).
    pub(crate) fn wake(&self) {
        self.pending.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Ready once a wake is pending, taking it.
    pub(crate) fn poll_woken(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.pending.swap(false, Ordering::AcqRel) {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        if self.pending.swap(false, Ordering::AcqRel) {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Waits for a wake.
    #[cfg(test)]
    pub(crate) fn woken(&self) -> impl std::future::Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| self.poll_woken(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::Pin;

    #[test]
    fn a_wake_before_the_wait_is_kept_once() {
        let wake = Wake::default();
        wake.wake();
        wake.wake();
        async_io::block_on(wake.woken());
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(
            Pin::new(&mut Box::pin(wake.woken()))
                .as_mut()
                .poll(&mut cx)
                .is_pending()
        );
    }
}
