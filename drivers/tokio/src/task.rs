//! The connection task: one tokio task per connection owns its socket and its
//! [`ConnectionState`] (the `Connection` and all that is done with it), and waits on the
//! socket, the timer, the handle's commands and the streams' wake-ups.
//!
//! # Q&A
//! *Why are socket writes a branch of the `select!` rather than a `write_all` before it?* Two
//! peers that both send a lot can fill both sockets' buffers; if each waited in `write_all`
//! without reading, neither would ever read again.

use rhizo_driver_common::{CloseReason, CommandReceiver, ConnectionState, Error};
use std::future::poll_fn;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;

/// How long a closing connection may take to write its last bytes.
const CLOSE_FLUSH_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs the connection to its end, then fails whatever still waits on it and reports the end
/// on `closed`.
pub(crate) async fn run(
    mut state: Box<ConnectionState>,
    socket: TcpStream,
    mut commands: CommandReceiver,
    closed: watch::Sender<Option<CloseReason>>,
) {
    let (mut reader, mut writer) = socket.into_split();
    let result = run_loop(&mut state, &mut reader, &mut writer, &mut commands).await;
    let _ = writer.shutdown().await;
    let reason = state.finish(result);
    // Closed first, so `is_closed` holds for whoever sees the close reason.
    commands.close();
    closed.send_replace(Some(reason));
}

async fn run_loop(
    state: &mut ConnectionState,
    reader: &mut OwnedReadHalf,
    writer: &mut OwnedWriteHalf,
    commands: &mut CommandReceiver,
) -> Result<(), Error> {
    let mut commands_open = true;
    loop {
        state.advance();
        if state.is_done() {
            let rest = state.final_bytes();
            let _ = tokio::time::timeout(CLOSE_FLUSH_LIMIT, writer.write_all(&rest)).await;
            return state.outcome();
        }
        let sleep_at = state.deadline().map(|d| state.clock().to_std(d));
        let sleep = async {
            match sleep_at {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        let wake = state.wake().clone();
        tokio::select! {
            r = reader.readable(), if state.wants_read() => {
                r.map_err(Error::Io)?;
                // Into the connection's buffer while a transfer runs, else the thread's: no
                // buffer is held while the connection waits (see rhizo_driver_common).
                state.read_from(|buf| reader.try_read(buf))?;
            }
            r = writer.write(state.pending_write()), if !state.pending_write().is_empty() => {
                state.wrote(r.map_err(Error::Io)?);
            }
            () = sleep => state.on_timer(),
            cmd = commands.recv(), if commands_open => match cmd {
                Some(cmd) => state.on_command(cmd),
                None => {
                    commands_open = false;
                    state.on_handle_dropped();
                }
            },
            () = poll_fn(|cx| wake.poll_woken(cx)) => {}
        }
    }
}
