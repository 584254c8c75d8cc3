//! The connection task: one spawned task per connection owns its socket and its
//! [`ConnectionState`] (the `Connection` and all that is done with it), and waits on the
//! socket, the timer, the handle's commands and the streams' wake-ups.
//!
//! # Q&A
//! *Why a hand-written `poll_fn` rather than `futures::select!`?* Its branches are conditional
//! (read only when the state wants input, write only with pending bytes, commands only while
//! the handle lives) and borrow the same socket: one poll function says that plainly, where
//! `select!` would need fused futures rebuilt each turn.

use async_io::{Async, Timer};
use futures::FutureExt;
use futures::channel::oneshot;
use futures::io::{AsyncWrite, AsyncWriteExt};
use rhizo_driver_common::{CloseReason, Command, CommandReceiver, ConnectionState, Error};
use std::future::poll_fn;
use std::io::Read;
use std::net::{Shutdown, TcpStream};
use std::pin::Pin;
use std::task::Poll;

/// How long a closing connection may take to write its last bytes.
const CLOSE_FLUSH_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// What ended one wait of the task loop.
enum Woke {
    Readable(std::io::Result<()>),
    Wrote(std::io::Result<usize>),
    Timer,
    Command(Option<Command>),
    /// A stream or handle has something for the connection.
    Nudged,
}

/// Runs the connection to its end, then fails whatever still waits on it and reports the end
/// on `closed`.
pub(crate) async fn run(
    mut state: Box<ConnectionState>,
    socket: Async<TcpStream>,
    mut commands: CommandReceiver,
    closed: oneshot::Sender<CloseReason>,
) {
    let result = run_loop(&mut state, &socket, &mut commands).await;
    let _ = socket.get_ref().shutdown(Shutdown::Write);
    let reason = state.finish(result);
    // Closed first, so `is_closed` holds for whoever sees the close reason.
    commands.close();
    let _ = closed.send(reason);
}

async fn run_loop(
    state: &mut ConnectionState,
    socket: &Async<TcpStream>,
    commands: &mut CommandReceiver,
) -> Result<(), Error> {
    let mut commands_open = true;
    loop {
        state.advance();
        if state.is_done() {
            let rest = state.final_bytes();
            let mut socket = socket;
            let _ = crate::timeout(CLOSE_FLUSH_LIMIT, socket.write_all(&rest)).await;
            return state.outcome();
        }
        let mut timer = match state.deadline() {
            Some(at) => Timer::at(state.clock().to_std(at)),
            None => Timer::never(),
        };
        let can_read = state.wants_read();
        let pending = state.pending_write();
        let wake = state.wake();
        let woke = poll_fn(|cx| {
            if can_read && let Poll::Ready(r) = socket.poll_readable(cx) {
                return Poll::Ready(Woke::Readable(r));
            }
            if !pending.is_empty()
                && let Poll::Ready(r) = Pin::new(&mut &*socket).poll_write(cx, pending)
            {
                return Poll::Ready(Woke::Wrote(r));
            }
            if timer.poll_unpin(cx).is_ready() {
                return Poll::Ready(Woke::Timer);
            }
            if commands_open && let Poll::Ready(cmd) = commands.poll_recv(cx) {
                return Poll::Ready(Woke::Command(cmd));
            }
            wake.poll_woken(cx).map(|()| Woke::Nudged)
        })
        .await;
        match woke {
            Woke::Readable(r) => {
                r.map_err(Error::Io)?;
                // Into the connection's buffer while a transfer runs, else the thread's: no
                // buffer is held while the connection waits (see rhizo_driver_common).
                state.read_from(|buf| socket.get_ref().read(buf))?;
            }
            Woke::Wrote(r) => state.wrote(r.map_err(Error::Io)?),
            Woke::Timer => state.on_timer(),
            Woke::Command(Some(cmd)) => state.on_command(cmd),
            Woke::Command(None) => {
                commands_open = false;
                state.on_handle_dropped();
            }
            Woke::Nudged => {}
        }
    }
}
