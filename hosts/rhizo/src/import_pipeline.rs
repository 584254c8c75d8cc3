//! One file into blocks on several cores: the calling thread reads chunks and indexes blocks,
//! workers make the leaves and write them into the store in between.
//!
//! # Shape
//! ```text
//! reader -> [calling thread: fill chunk] -(seq, chunk)-> sync_channel -> N workers:
//!                                                   make_leaf, LeafWriter::write (the pack)
//!        <- [calling thread: reorder by seq, index leaf, push_leaf, store parents]
//!                                                   <-(seq, leaf, written)-
//! ```
//! Leaves do not depend on each other ([`ImporterConfig::make_leaf`]); only their order does,
//! and the tree builder ([`FileImporter::push_leaf`]) takes them back in order. Reading,
//! hashing and writing overlap: while the calling thread copies the next chunk in or commits
//! a store batch, the workers hash and write the chunks queued before. A worker's write hands
//! back a token ([`LeafWriter::Written`]) that the calling thread gives to `put` with the
//! leaf, in order, to index it; parents (small) and leaves the writer leaves to the calling
//! thread go to `put` alone.
//!
//! # Bounds
//! At most [`in_flight`]`(N)` = 2N + 2 chunks are between the reader and the store (queued,
//! being hashed, or waiting in the reorder buffer for an earlier one), and as many spent
//! buffers are kept for reuse: memory is at most 2 x (2N + 2) x (`chunk_size` + a leaf's few
//! bytes of framing), 9 MiB with 8 workers and 256 KiB chunks, whatever the file's size.
//!
//! Files of fewer than 3 chunks (known after reading two), and machines of one core, use no
//! threads at all: the same calls one after the other, so adding many small files costs no
//! thread start.
//!
//! # Errors
//! A read, write or store error stops the pipeline: the workers see the stop flag or the
//! closed channel and return, the scope joins them, and the first error is returned. No thread
//! outlives the call. Tokens of leaves written but not yet handed to `put` are dropped: with
//! the pack store, their records are garbage that no index names (see `store/located.rs`).
//!
//! # Q&A
//! *Why `std::sync::mpsc` rather than crossbeam-channel?* crossbeam-channel is not a dependency
//! of rhizo (the lock file has it only through hickory-resolver's `moka`); std's channels are
//! crossbeam's algorithm since Rust 1.67.
//! The one thing missing, a receiver shared by several workers, is a `Mutex` around it: a
//! worker holds it only while waiting for the next chunk, and a chunk takes far longer to hash
//! (~0.3 ms for 256 KiB) than the lock to pass on.
//!
//! *Why do the workers write the leaves?* With pack files, writing a leaf (a `pwrite` into the
//! page cache) costs about as much CPU as reading it, and the calling thread did both and all
//! the indexing: it was the bottleneck while the hashing was spread over the workers. Only the
//! index stays on the calling thread, in order, through the caller's `put` (the `Import`'s
//! open batch, one redb write transaction, which is not `Send`).

use crate::api::ops::{OpError, OpResult};
use rhizo_core::block::Block;
use rhizo_core::unixfs::{FileImporter, FileLeaf, ImportedNode, ImporterConfig};
use std::collections::VecDeque;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel, sync_channel};
use std::sync::{Mutex, OnceLock, PoisonError};

/// The first read of a chunk asks for this much; each next one for as much again as the chunk
/// holds, up to the chunk size.
const FIRST_READ: usize = 16 * 1024;

/// The most hashing workers one import starts.
pub const MAX_WORKERS: usize = 8;

/// Hashing workers for an import on this machine: its parallelism, at most [`MAX_WORKERS`];
/// 1 means none (the calling thread does everything). Asked once per process: on Linux,
/// `available_parallelism` reads the cgroup files each time (4 opens, ~50 us), which `add -r`
/// of many small files would pay per file.
pub fn workers() -> usize {
    static WORKERS: OnceLock<usize> = OnceLock::new();
    *WORKERS.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(MAX_WORKERS)
    })
}

/// Chunks between the reader and the store with `workers` workers: each worker busy, as many
/// queued, and two for the reader and the store to work on meanwhile.
pub fn in_flight(workers: usize) -> usize {
    2 * workers + 2
}

/// Writes leaves into the store from the workers; the calling thread indexes what it hands
/// back.
pub trait LeafWriter: Sync {
    /// What a write hands back, to be given to `put` with its leaf.
    type Written: Send;

    /// Writes the leaf `block` into the store, or leaves it to `put` on the calling thread
    /// (`None`: the store holds it already, say).
    fn write(&self, block: Block<'_>) -> OpResult<Option<Self::Written>>;
}

/// A [`LeafWriter`] that writes nothing: `put` stores every block.
#[derive(Clone, Copy, Debug)]
pub struct PutOnly;

impl LeafWriter for PutOnly {
    type Written = std::convert::Infallible;

    fn write(&self, _block: Block<'_>) -> OpResult<Option<Self::Written>> {
        Ok(None)
    }
}

impl LeafWriter for crate::store::PackWriter<'_> {
    type Written = crate::store::WrittenBlock;

    fn write(&self, block: Block<'_>) -> OpResult<Option<Self::Written>> {
        Ok(crate::store::PackWriter::write(self, block)?)
    }
}

/// What `import_file` hands a block to: with the token of its write when a worker wrote it.
pub type Put<'p, W> = dyn FnMut(Block<'_>, Option<W>) -> OpResult<()> + 'p;

/// Imports the file `reader` holds (named `path` in errors) with `workers` workers, which
/// make the leaves and write them with `writer`, handing every block to `put` (each leaf
/// before the parents it completes, parents in the importer's order; a leaf with its write's
/// token) and the bytes read so far to `progress`. Returns the root. Without workers (one core,
/// files under three chunks), `writer` is not used.
pub fn import_file<W: LeafWriter>(
    config: ImporterConfig,
    workers: usize,
    (path, reader): (&str, &mut dyn Read),
    progress: &mut dyn FnMut(u64),
    writer: &W,
    put: &mut Put<'_, W::Written>,
) -> OpResult<ImportedNode> {
    let mut importer = FileImporter::new(config).map_err(|e| OpError::client(e.to_string()))?;
    let mut chunks = ChunkReader {
        path,
        reader,
        chunk_size: config.chunk_size,
        read: 0,
        end: false,
        spare: Vec::new(),
        spare_max: in_flight(workers),
    };
    let mut first = VecDeque::new();
    while first.len() < 2
        && let Some(chunk) = chunks.next(progress)?
    {
        first.push_back(chunk);
    }
    let mut store = LeafStore {
        importer: &mut importer,
        put,
    };
    if workers <= 1 || chunks.end {
        for chunk in first {
            let leaf = make_leaf(&config, chunk)?;
            chunks.recycle(store.take(leaf, None)?);
        }
        while let Some(chunk) = chunks.next(progress)? {
            let leaf = make_leaf(&config, chunk)?;
            chunks.recycle(store.take(leaf, None)?);
        }
    } else {
        parallel(
            (config, workers, writer),
            first,
            &mut chunks,
            progress,
            &mut store,
        )?;
    }
    let root = importer.finish();
    importer.drain_blocks(&mut |b| put(b, None))?;
    Ok(root)
}

fn make_leaf(config: &ImporterConfig, chunk: Vec<u8>) -> OpResult<FileLeaf> {
    config
        .make_leaf(chunk)
        .map_err(|e| OpError::server(format!("the importer refused a chunk: {e}")))
}

/// Reads the file in chunks of exactly `chunk_size` bytes (the last one shorter), across
/// short reads, into reused buffers.
struct ChunkReader<'r> {
    path: &'r str,
    reader: &'r mut dyn Read,
    chunk_size: usize,
    read: u64,
    end: bool,
    spare: Vec<Vec<u8>>,
    spare_max: usize,
}

impl ChunkReader<'_> {
    /// The next chunk, or `None` at the end of the file.
    fn next(&mut self, progress: &mut dyn FnMut(u64)) -> OpResult<Option<Vec<u8>>> {
        if self.end {
            return Ok(None);
        }
        let mut chunk = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.chunk_size));
        // A dag-pb leaf is a few bytes longer than its chunk.
        chunk.truncate(self.chunk_size);
        let mut filled = 0;
        while filled < self.chunk_size {
            if filled == chunk.len() {
                // Grown (zeroed) as it fills: a small file touches only its own size of
                // memory, and a spare buffer (a chunk or a leaf already) needs no zeroing.
                let len = (2 * filled).max(FIRST_READ).min(self.chunk_size);
                chunk.resize(len, 0);
            }
            match self.reader.read(&mut chunk[filled..]) {
                Ok(0) => {
                    self.end = true;
                    break;
                }
                Ok(n) => {
                    filled += n;
                    self.read += n as u64;
                    progress(self.read);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.end = true;
                    return Err(OpError::server(format!("reading {}: {e}", self.path)));
                }
            }
        }
        chunk.truncate(filled);
        if filled == 0 {
            self.recycle(chunk);
            return Ok(None);
        }
        Ok(Some(chunk))
    }

    /// Keeps a spent buffer for a later chunk.
    fn recycle(&mut self, buffer: Vec<u8>) {
        if self.spare.len() < self.spare_max && buffer.capacity() >= self.chunk_size {
            self.spare.push(buffer);
        }
    }
}

/// Where finished leaves go, in order: the store, then the tree builder.
struct LeafStore<'a, 'p, W> {
    importer: &'a mut FileImporter,
    put: &'a mut Put<'p, W>,
}

impl<W> LeafStore<'_, '_, W> {
    /// Stores (or indexes, when `written`) the next leaf and the parents it completes; gives
    /// its buffer back.
    fn take(&mut self, leaf: FileLeaf, written: Option<W>) -> OpResult<Vec<u8>> {
        (self.put)(leaf.block(), written)?;
        self.importer
            .push_leaf(leaf.node())
            .map_err(|e| OpError::server(format!("the importer refused a leaf: {e}")))?;
        let put = &mut *self.put;
        self.importer.drain_blocks(&mut |b| put(b, None))?;
        Ok(leaf.into_data())
    }
}

/// A worker's answer for chunk `seq`: its leaf, and the token of its write if it wrote it.
type Made<W> = (u64, OpResult<(FileLeaf, Option<W>)>);

/// The pipeline proper, once the file is known to have at least three chunks.
fn parallel<W: LeafWriter>(
    (config, workers, writer): (ImporterConfig, usize, &W),
    mut first: VecDeque<Vec<u8>>,
    chunks: &mut ChunkReader<'_>,
    progress: &mut dyn FnMut(u64),
    store: &mut LeafStore<'_, '_, W::Written>,
) -> OpResult<()> {
    let limit = in_flight(workers);
    let (work_tx, work_rx) = sync_channel::<(u64, Vec<u8>)>(limit);
    let work_rx = Mutex::new(work_rx);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = channel::<Made<W::Written>>();
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let (work_rx, stop) = (&work_rx, &stop);
            scope.spawn(move || make_leaves(&config, writer, work_rx, stop, &done_tx));
        }
        drop(done_tx);
        let result = (|| {
            let mut sent = 0u64;
            let mut stored = 0u64;
            // `waiting[i]` is the leaf of chunk `stored + i`, once made.
            let mut waiting = VecDeque::with_capacity(limit);
            loop {
                while let Ok(done) = done_rx.try_recv() {
                    place(&mut waiting, stored, done)?;
                }
                while let Some(Some(_)) = waiting.front() {
                    let (leaf, written) =
                        waiting.pop_front().flatten().expect("checked just above");
                    stored += 1;
                    chunks.recycle(store.take(leaf, written)?);
                }
                if sent - stored < limit as u64 {
                    let chunk = match first.pop_front() {
                        Some(chunk) => Some(chunk),
                        None => chunks.next(progress)?,
                    };
                    if let Some(chunk) = chunk {
                        work_tx
                            .send((sent, chunk))
                            .map_err(|_| OpError::server("the hashing workers stopped"))?;
                        sent += 1;
                        continue;
                    }
                }
                if sent == stored {
                    return Ok(());
                }
                let done = done_rx
                    .recv()
                    .map_err(|_| OpError::server("the hashing workers stopped"))?;
                place(&mut waiting, stored, done)?;
            }
        })();
        // Whether done or failed: the workers return once the channel is closed.
        stop.store(true, Ordering::Relaxed);
        drop(work_tx);
        result
    })
}

/// Puts a worker's leaf at its place in the reorder buffer.
fn place<W>(
    waiting: &mut VecDeque<Option<(FileLeaf, Option<W>)>>,
    stored: u64,
    (seq, leaf): Made<W>,
) -> OpResult<()> {
    let at = usize::try_from(seq - stored).expect("in flight chunks are bounded by `limit`");
    if waiting.len() <= at {
        waiting.resize_with(at + 1, || None);
    }
    waiting[at] = Some(leaf?);
    Ok(())
}

/// A worker: makes the leaf of each chunk it receives and writes it with `writer`, until the
/// channel closes or the import stops.
fn make_leaves<W: LeafWriter>(
    config: &ImporterConfig,
    writer: &W,
    work: &Mutex<Receiver<(u64, Vec<u8>)>>,
    stop: &AtomicBool,
    done: &std::sync::mpsc::Sender<Made<W::Written>>,
) {
    loop {
        // Nothing panics while holding the lock; were it poisoned, the receiver is still fine.
        let job = work.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((seq, chunk)) = job else { return };
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let made = make_leaf(config, chunk).and_then(|leaf| {
            let written = writer.write(leaf.block())?;
            Ok((leaf, written))
        });
        if done.send((seq, made)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhizo_core::cid::{Cid, Version};

    /// A reader that returns at most `step` bytes per call, and fails after `fail_at` bytes.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
        fail_at: Option<usize>,
        at: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.fail_at.is_some_and(|f| self.at >= f) {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = self.step.min(buf.len()).min(self.bytes.len() - self.at);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// Blocks as a store got them: CID and bytes, in order.
    type Blocks = Vec<(Cid, Vec<u8>)>;

    fn reference(config: ImporterConfig, bytes: &[u8]) -> (ImportedNode, Blocks) {
        let mut importer = FileImporter::new(config).unwrap();
        let mut blocks = Vec::new();
        let mut sink = |b: Block<'_>| -> Result<(), ()> {
            blocks.push((*b.cid(), b.data().to_vec()));
            Ok(())
        };
        importer.write_all_blocks(bytes, &mut sink).unwrap();
        let root = importer.finish_into_blocks(&mut sink).unwrap();
        (root, blocks)
    }

    /// "Writes" a leaf by copying it, so that `put` can check it gets the token of its own
    /// leaf; refuses every `skip`th leaf (left to `put`), and fails at write `fail_at`.
    struct CopyWriter {
        skip: usize,
        fail_at: Option<usize>,
        writes: std::sync::atomic::AtomicUsize,
    }

    impl LeafWriter for CopyWriter {
        type Written = (Cid, Vec<u8>);

        fn write(&self, block: Block<'_>) -> OpResult<Option<Self::Written>> {
            let n = self.writes.fetch_add(1, Ordering::Relaxed);
            if Some(n) == self.fail_at {
                return Err(OpError::server("pack full"));
            }
            if n.is_multiple_of(self.skip) {
                return Ok(None);
            }
            Ok(Some((*block.cid(), block.data().to_vec())))
        }
    }

    fn copy_writer(fail_at: Option<usize>) -> CopyWriter {
        CopyWriter {
            skip: 3,
            fail_at,
            writes: 0.into(),
        }
    }

    fn run(
        config: ImporterConfig,
        workers: usize,
        reader: &mut dyn Read,
        fail_put_at: Option<usize>,
    ) -> (OpResult<ImportedNode>, Blocks, u64) {
        run_with(config, workers, reader, fail_put_at, &copy_writer(None))
    }

    fn run_with(
        config: ImporterConfig,
        workers: usize,
        reader: &mut dyn Read,
        fail_put_at: Option<usize>,
        writer: &CopyWriter,
    ) -> (OpResult<ImportedNode>, Blocks, u64) {
        let mut blocks = Vec::new();
        let mut last_progress = 0;
        let root = import_file(
            config,
            workers,
            ("f", reader),
            &mut |n| last_progress = n,
            writer,
            &mut |b, written| {
                if Some(blocks.len()) == fail_put_at {
                    return Err(OpError::server("store full"));
                }
                if let Some(written) = written {
                    assert_eq!(written, (*b.cid(), b.data().to_vec()), "a leaf's own token");
                }
                blocks.push((*b.cid(), b.data().to_vec()));
                Ok(())
            },
        );
        (root, blocks, last_progress)
    }

    fn configs() -> impl Iterator<Item = ImporterConfig> {
        [
            (false, Version::V0),
            (true, Version::V1),
            (false, Version::V1),
        ]
        .into_iter()
        .map(|(raw_leaves, cid_version)| ImporterConfig {
            chunk_size: 7,
            max_links: 3,
            cid_version,
            raw_leaves,
        })
    }

    #[test]
    fn the_pipeline_gives_the_streaming_importers_blocks() {
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
        for config in configs() {
            for len in [0, 1, 7, 13, 14, 15, 21, 22, 300, 1000] {
                let (root, expected) = reference(config, &bytes[..len]);
                for workers in [1, 2, 3, 8] {
                    for step in [1, 3, 7, 64] {
                        let mut reader = Trickle {
                            bytes: &bytes[..len],
                            step,
                            fail_at: None,
                            at: 0,
                        };
                        let (got, blocks, progress) = run(config, workers, &mut reader, None);
                        assert_eq!(got.unwrap(), root, "{config:?} {len} {workers} {step}");
                        assert_eq!(blocks, expected, "{config:?} {len} {workers} {step}");
                        assert_eq!(progress, len as u64);
                    }
                }
            }
        }
    }

    #[test]
    fn chunks_above_the_first_read_fill_across_reads() {
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        for config in configs() {
            let config = ImporterConfig {
                chunk_size: 3 * FIRST_READ + 5,
                ..config
            };
            let (root, expected) = reference(config, &bytes);
            for (workers, step) in [(1, 5000), (2, 70_000), (3, usize::MAX)] {
                let mut reader = Trickle {
                    bytes: &bytes,
                    step,
                    fail_at: None,
                    at: 0,
                };
                let (got, blocks, _) = run(config, workers, &mut reader, None);
                assert_eq!(got.unwrap(), root);
                assert_eq!(blocks, expected);
            }
        }
    }

    #[test]
    fn read_and_store_errors_stop_the_pipeline() {
        let bytes = vec![5u8; 2000];
        let config = configs().next().unwrap();
        for workers in [1, 2, 4] {
            for fail_at in [0, 5, 30, 1500] {
                let mut reader = Trickle {
                    bytes: &bytes,
                    step: 10,
                    fail_at: Some(fail_at),
                    at: 0,
                };
                let (got, _, _) = run(config, workers, &mut reader, None);
                let err = got.unwrap_err().to_string();
                assert!(err.contains("disk on fire"), "{err}");
            }
            for fail_put_at in [0, 1, 3, 100] {
                let (got, blocks, _) = run(config, workers, &mut &bytes[..], Some(fail_put_at));
                assert!(got.unwrap_err().to_string().contains("store full"));
                assert_eq!(blocks.len(), fail_put_at);
            }
            if workers > 1 {
                for fail_at in [0, 2, 50] {
                    let writer = copy_writer(Some(fail_at));
                    let (got, _, _) = run_with(config, workers, &mut &bytes[..], None, &writer);
                    assert!(got.unwrap_err().to_string().contains("pack full"));
                }
            }
        }
    }
}
