//! One connection's side of the exchange: its readers (one per Bitswap stream the peer opens)
//! and its writer (our one outbound stream, opened at the first message).

use super::{Command, Exchange, FRAMES_PER_PEER, PeerLink};
use rhizo_core::bitswap::ProtocolVersion;
use rhizo_core::bitswap::engine::PeerKey;
use rhizo_core::wire::frame;
use rhizo_tokio::{ConnectionHandle, Error, RhizoStream};
use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinSet;

/// Numbers the connections for the engine.
static NEXT_KEY: AtomicU32 = AtomicU32::new(0);

/// The bytes read from a stream at a time.
const READ_CHUNK: usize = 64 * 1024;

/// A request from the writer for a new outbound stream.
type OpenRequest = (ProtocolVersion, oneshot::Sender<Result<RhizoStream, Error>>);

/// Runs Bitswap on `conn` until the connection ends, or until the engine cuts the peer off
/// (then the connection is closed). Returns whether the peer was cut off.
pub async fn serve_connection(exchange: &Exchange, mut conn: ConnectionHandle) -> bool {
    let key = PeerKey(NEXT_KEY.fetch_add(1, Ordering::Relaxed));
    let (frames_tx, frames_rx) = mpsc::channel(FRAMES_PER_PEER);
    let close = Arc::new(Notify::new());
    let link = PeerLink {
        peer: *conn.remote_peer(),
        frames: frames_tx,
        close: Arc::clone(&close),
    };
    if exchange
        .send(Command::Connected { key, link })
        .await
        .is_err()
    {
        return false;
    }
    let (open_tx, mut open_rx) = mpsc::channel::<OpenRequest>(1);
    let writer = tokio::spawn(write_frames(
        key,
        frames_rx,
        open_tx,
        exchange.commands.clone(),
    ));
    let mut readers = JoinSet::new();
    let cut_off = loop {
        tokio::select! {
            stream = conn.accept_stream() => match stream {
                Some(stream) => {
                    if ProtocolVersion::from_protocol_id(stream.protocol()).is_some() {
                        let commands = exchange.commands.clone();
                        readers.spawn(read_frames(key, stream, commands, exchange.max_message_len));
                    }
                }
                None => break false,
            },
            Some((version, reply)) = open_rx.recv() => {
                let _ = reply.send(conn.open_stream(version.protocol_id()).await);
            }
            () = close.notified() => break true,
            Some(_) = readers.join_next(), if !readers.is_empty() => {}
        }
    };
    writer.abort();
    readers.shutdown().await;
    let _ = exchange.send(Command::Disconnected { key }).await;
    if cut_off {
        conn.close().await;
    }
    cut_off
}

/// Reads frames from one of the peer's Bitswap streams and hands them to the engine, until the
/// stream ends or breaks. At most one frame (and one read chunk) is held.
async fn read_frames(
    key: PeerKey,
    mut stream: RhizoStream,
    commands: mpsc::Sender<Command>,
    max_len: usize,
) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let mut start = 0;
        loop {
            match frame::decode(&buf[start..], max_len) {
                Ok(Some(f)) => {
                    let payload = f.payload.to_vec();
                    start += f.consumed;
                    if commands
                        .send(Command::Message { key, payload })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    let _ = commands.send(Command::FrameError { key, error }).await;
                    return;
                }
            }
        }
        buf.drain(..start);
        if buf.is_empty() && buf.capacity() > READ_CHUNK {
            // A large frame passed: do not keep its buffer while the stream idles.
            buf = Vec::new();
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Writes the engine's frames on our outbound stream, opening it when needed and stepping
/// down a version when the peer refuses one.
async fn write_frames(
    key: PeerKey,
    mut frames: mpsc::Receiver<Vec<u8>>,
    open: mpsc::Sender<OpenRequest>,
    commands: mpsc::Sender<Command>,
) {
    let mut version = ProtocolVersion::V1_2_0;
    let mut stream: Option<RhizoStream> = None;
    while let Some(frame) = frames.recv().await {
        let out = match &mut stream {
            Some(s) => s,
            None => {
                let (reply, answer) = oneshot::channel();
                if open.send((version, reply)).await.is_err() {
                    return;
                }
                match answer.await {
                    Ok(Ok(s)) => stream.insert(s),
                    // The connection is ending.
                    _ => return,
                }
            }
        };
        let written = match out.write_all(&frame).await {
            Ok(()) => out.flush().await,
            Err(e) => Err(e),
        };
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Unsupported => {
                // The peer refused this version: the frame is lost, and the engine re-plans
                // for the next version (its wants are asked again).
                stream = None;
                let next = match version {
                    ProtocolVersion::V1_2_0 => Some(ProtocolVersion::V1_1_0),
                    ProtocolVersion::V1_1_0 => Some(ProtocolVersion::V1_0_0),
                    ProtocolVersion::V1_0_0 => None,
                };
                let _ = commands
                    .send(Command::Downgrade { key, version: next })
                    .await;
                match next {
                    Some(v) => version = v,
                    None => return,
                }
            }
            // A reset stream: the next frame opens a new one; this one is lost, and what it
            // asked times out in the engine and is asked again.
            Err(_) => stream = None,
        }
    }
}
