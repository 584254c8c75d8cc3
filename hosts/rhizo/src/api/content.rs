//! The API's file verbs: `add` (multipart upload, kubo's), `cat` (the file's bytes) and `get`
//! (a tar archive, kubo's), fetching missing blocks over Bitswap (prefetching the DAG with
//! several wants in flight while the export streams).

use super::{ApiError, ApiResult, ApiState, Args, DEFAULT_FETCH_TIMEOUT, ensure_block, json_lines};
use crate::api::ops::{self, OpError, OpResult};
use crate::content::{self, CatSink, Fetcher, Import, Source, TarSink};
use crate::exchange::Exchange;
use crate::store::{CodecLinks, LinkReader, Store};
use axum::body::Body;
use axum::extract::{Multipart, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use rhizo_core::cid::Cid;
use rhizo_core::unixfs::NodeKind;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Chunks queued between the export thread and the HTTP response.
const STREAM_QUEUE: usize = 16;
/// The longest symlink target an upload may carry (Linux's `PATH_MAX` is 4096).
const MAX_SYMLINK_TARGET: usize = 64 * 1024;
/// Wants the prefetch keeps in flight.
const PREFETCH_WINDOW: usize = 32;
/// CIDs the prefetch keeps waiting at most (about 100 bytes each).
const PREFETCH_QUEUE: usize = 65_536;

/// The CID a `cat`/`get` argument names and the name of its output: a CID (named by
/// itself), or a path `CID/a/b`, `/ipfs/CID/a/b` (named by its last name, as kubo), resolved
/// through plain and HAMT directories, fetching their blocks unless `offline`.
async fn target_arg(state: &Arc<ApiState>, args: &Args) -> ApiResult<(Cid, String)> {
    let text = args
        .get("arg")
        .ok_or_else(|| OpError::client("argument \"arg\" is required: pass ?arg=<cid>"))?;
    let (root, names) = content::parse_path(text)?;
    let Some(name) = names.last().cloned() else {
        return Ok((root, root.to_string()));
    };
    let offline = args.flag("offline", false)?;
    let fetcher = (!offline)
        .then(|| -> OpResult<Fetcher> {
            Ok(Fetcher {
                exchange: state.swarm.exchange().clone(),
                runtime: tokio::runtime::Handle::current(),
                timeout: fetch_timeout(args)?,
            })
        })
        .transpose()?;
    let store = Arc::clone(&state.store);
    let target = tokio::task::spawn_blocking(move || {
        content::resolve(
            &mut Source {
                store: &store,
                fetcher,
            },
            root,
            &names,
        )
    })
    .await
    .map_err(|e| OpError::server(format!("the resolve task failed: {e}")))??;
    Ok((target, name))
}

fn fetch_timeout(args: &Args) -> OpResult<Duration> {
    args.get("timeout")
        .map_or(Ok(DEFAULT_FETCH_TIMEOUT), ops::parse_duration)
}

/// A `Write` into the response's queue (from a blocking thread).
struct ChannelWriter(mpsc::Sender<Result<Bytes, std::io::Error>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Fetches the DAG under `root` into the store, `PREFETCH_WINDOW` blocks at a time, so an
/// export finds its blocks local. Best effort: failures are left to the export, and so are
/// links past the first [`PREFETCH_QUEUE`] waiting (a huge DAG is prefetched in part, never
/// held in memory whole). A block linked twice may be asked for twice: the exchange answers
/// the second at once.
pub async fn prefetch(exchange: Exchange, store: Arc<Store>, root: Cid, timeout: Duration) {
    let mut queue = VecDeque::from([root]);
    let mut inflight = JoinSet::new();
    loop {
        while inflight.len() < PREFETCH_WINDOW
            && let Some(cid) = queue.pop_front()
        {
            let (exchange, store) = (exchange.clone(), Arc::clone(&store));
            inflight.spawn(async move {
                exchange.fetch(cid, timeout).await.ok()?;
                if !CodecLinks.may_link(&cid) {
                    // A raw leaf: nothing to read back.
                    return Some(Vec::new());
                }
                let data = tokio::task::spawn_blocking(move || store.get(&cid))
                    .await
                    .ok()?
                    .ok()??;
                let mut links = Vec::new();
                CodecLinks.links(&cid, &data, &mut links).ok()?;
                Some(links)
            });
        }
        let Some(done) = inflight.join_next().await else {
            return;
        };
        if let Ok(Some(links)) = done {
            let room = PREFETCH_QUEUE.saturating_sub(queue.len());
            queue.extend(links.into_iter().take(room));
        }
    }
}

/// Streams what `export` writes as the response body; it runs on a blocking thread with
/// Bitswap behind the store (unless `offline`), a prefetch of the DAG beside it.
async fn stream_export(
    state: &Arc<ApiState>,
    args: &Args,
    root: Cid,
    content_type: &'static str,
    export: impl FnOnce(&mut Source<'_>, ChannelWriter) -> OpResult<()> + Send + 'static,
) -> ApiResult<Response> {
    let offline = args.flag("offline", false)?;
    let timeout = fetch_timeout(args)?;
    let exchange = state.swarm.exchange().clone();
    let fetcher = (!offline).then(|| Fetcher {
        exchange: exchange.clone(),
        runtime: tokio::runtime::Handle::current(),
        timeout,
    });
    let prefetch = (!offline)
        .then(|| tokio::spawn(prefetch(exchange, Arc::clone(&state.store), root, timeout)));
    let (tx, mut rx) = mpsc::channel(STREAM_QUEUE);
    let store = Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || {
        let mut source = Source {
            store: &store,
            fetcher,
        };
        let errors = tx.clone();
        if let Err(e) = export(&mut source, ChannelWriter(tx)) {
            let _ = errors.blocking_send(Err(std::io::Error::other(e.message)));
        }
        if let Some(p) = prefetch {
            p.abort();
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The root's kind, fetched if need be.
async fn root_kind(state: &Arc<ApiState>, args: &Args, root: Cid) -> ApiResult<NodeKind> {
    ensure_block(state, args, root).await?;
    let store = Arc::clone(&state.store);
    let (kind, _) = tokio::task::spawn_blocking(move || {
        content::node_kind(
            &mut Source {
                store: &store,
                fetcher: None,
            },
            &root,
        )
    })
    .await
    .map_err(|e| OpError::server(format!("the store task failed: {e}")))??;
    Ok(kind)
}

/// `cat`: a file's bytes.
pub async fn cat(
    State(state): State<Arc<ApiState>>,
    Query(args): Query<Args>,
) -> ApiResult<Response> {
    let (root, name) = target_arg(&state, &args).await?;
    match root_kind(&state, &args, root).await? {
        NodeKind::Directory | NodeKind::HamtShard => {
            return Err(OpError::client(format!("{name} is a directory: use get")).into());
        }
        NodeKind::Symlink => {
            return Err(OpError::client(format!("{name} is a symlink, not a file")).into());
        }
        _ => {}
    }
    stream_export(&state, &args, root, "text/plain", move |source, w| {
        content::export(source, root, &name, &mut CatSink(w))
    })
    .await
}

/// `get`: a tar archive of the file or directory, its root named by the CID (or the path's
/// last name).
pub async fn get(
    State(state): State<Arc<ApiState>>,
    Query(args): Query<Args>,
) -> ApiResult<Response> {
    let (root, name) = target_arg(&state, &args).await?;
    if root_kind(&state, &args, root).await? == NodeKind::Symlink {
        return Err(OpError::client(format!(
            "{name} is a symlink: get writes symlinks only inside a directory"
        ))
        .into());
    }
    stream_export(
        &state,
        &args,
        root,
        "application/x-tar",
        move |source, w| {
            let mut tar = TarSink::new(w);
            content::export(source, root, &name, &mut tar)?;
            tar.finish().map(drop)
        },
    )
    .await
}

/// What the upload hands the import thread.
enum Part {
    Directory(String),
    Symlink(String, Vec<u8>),
    FileStart(String),
    Data(Bytes),
    FileEnd,
}

/// A file's bytes as they arrive, until its `FileEnd`.
struct PartReader<'a> {
    parts: &'a mut mpsc::Receiver<Part>,
    current: Bytes,
    ended: bool,
}

impl Read for PartReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() && !self.ended {
            match self.parts.blocking_recv() {
                Some(Part::Data(bytes)) => self.current = bytes,
                Some(Part::FileEnd) | None => self.ended = true,
                Some(_) => {
                    return Err(std::io::Error::other("a part began inside a file"));
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Decodes `%XX` escapes (kubo's clients escape the file names of multipart parts).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `add`: files (and `application/x-directory` parts) of a multipart body, imported as they
/// stream in; answers one JSON line per file and directory, the root last.
pub async fn add(
    State(state): State<Arc<ApiState>>,
    Query(args): Query<Args>,
    mut multipart: Multipart,
) -> ApiResult<Response> {
    let cid_version = match args.get("cid-version") {
        None => 0,
        Some(v) => v
            .parse()
            .map_err(|_| OpError::client(format!("cid-version={v}: use 0 or 1")))?,
    };
    let raw_leaves = match args.get("raw-leaves") {
        None => None,
        Some(_) => Some(args.flag("raw-leaves", false)?),
    };
    let config = content::importer_config(cid_version, raw_leaves, args.get("chunker"))?;
    let pin = args.flag("pin", true)?;
    let (tx, mut rx) = mpsc::channel::<Part>(8);
    let store = Arc::clone(&state.store);
    let worker = tokio::task::spawn_blocking(move || {
        let mut import = Import::new(&store, config, pin);
        while let Some(part) = rx.blocking_recv() {
            match part {
                Part::Directory(path) => import.directory(&path)?,
                Part::Symlink(path, target) => {
                    import.symlink(&path, &target)?;
                }
                Part::FileStart(path) => {
                    let mut reader = PartReader {
                        parts: &mut rx,
                        current: Bytes::new(),
                        ended: false,
                    };
                    import.file(&path, &mut reader, &mut |_| {})?;
                }
                Part::Data(_) | Part::FileEnd => {
                    return Err(OpError::client("file data outside a file part"));
                }
            }
        }
        import.finish()
    });
    let sent: OpResult<()> = async {
        let bad = |e: axum::extract::multipart::MultipartError| {
            OpError::client(format!("reading the multipart body: {e}"))
        };
        while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
            let name = percent_decode(field.file_name().or(field.name()).unwrap_or("file"));
            let name = name.trim_matches('/').to_owned();
            let is_dir = field.content_type() == Some("application/x-directory");
            if field.content_type() == Some("application/symlink") {
                // kubo's clients send a symlink as its target (a path: small).
                let mut target = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    if target.len() + chunk.len() > MAX_SYMLINK_TARGET {
                        return Err(OpError::client(format!(
                            "{name}: a symlink target longer than {MAX_SYMLINK_TARGET} bytes"
                        )));
                    }
                    target.extend_from_slice(&chunk);
                }
                if tx.send(Part::Symlink(name, target)).await.is_err() {
                    return Ok(());
                }
                continue;
            }
            let first = if is_dir {
                Part::Directory(name)
            } else {
                Part::FileStart(name)
            };
            if tx.send(first).await.is_err() {
                return Ok(());
            }
            if !is_dir {
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    if tx.send(Part::Data(chunk)).await.is_err() {
                        return Ok(());
                    }
                }
                if tx.send(Part::FileEnd).await.is_err() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
    .await;
    drop(tx);
    let entries = worker
        .await
        .map_err(|e| OpError::server(format!("the import task failed: {e}")))?;
    sent?;
    Ok(json_lines(&entries.map_err(ApiError)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn percent_escapes_decode() {
        assert_eq!(percent_decode("dir%2Fa%20b.txt"), "dir/a b.txt");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    proptest! {
        #[test]
        fn arbitrary_names_never_panic(text in ".{0,60}") {
            let _ = percent_decode(&text);
        }
    }
}
