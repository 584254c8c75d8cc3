//! The repo's block store: blocks, pins and metadata in one redb database, `blocks.redb`.
//!
//! Tables:
//! - `blocks`: multihash bytes -> block bytes. Only [`Block`]s (bytes proven to hash to their
//!   CID) go in; `rhizo repo verify` hashes every one again when reading it back.
//! - `pins`: CID bytes -> [`PinMode`] (direct or recursive).
//! - `meta`: `schema_version`, and running totals (`block_count`, `block_bytes`) kept in the
//!   same transactions as the blocks, so `repo stat` needs no scan.
//!
//! Writes go in transactions: [`Store::batch`] gives one ([`Batch`], itself a
//! [`BlockStore`]) in which an importer puts many blocks and commits once. A commit is atomic
//! and durable (fsync); a process killed before it leaves the store as it was before the
//! batch, never half-written. An importer commits every few MiB (bounded transactions), then
//! pins the root in the last one: after a crash, at worst some unpinned blocks remain, which
//! `repo gc` removes, and the import can simply be redone.
//!
//! One process at a time: redb locks the file; a second opener gets [`StoreError::InUse`],
//! with the pid the holder wrote to `blocks.pid`. While a daemon runs, the CLI goes through its
//! HTTP API instead (see `crate::api`).
//!
//! # Q&A
//! *Why redb?* It is pure Rust (no C toolchain, unlike rocksdb or sqlite), ACID with
//! copy-on-write B-trees and a checksummed commit (a torn write is detected and rolled back on
//! open, no write-ahead log to replay by hand), has a stable file format, and is actively
//! maintained. sled was the other pure-Rust choice, but its 0.34 release is years old, its
//! rewrite unfinished and its on-disk format unstable. sqlite would need SQL and a C library
//! for what is a key-value map; rocksdb a large C++ build and tuning.
//!
//! *Why are blocks keyed by multihash, not by CID?* The same bytes are the same block whatever
//! codec or CID version names them (`Qm...` and `bafy...` of one dag-pb node); kubo and helia
//! key their blockstores by multihash too, so a Bitswap want for either CID finds the block.
//! Pins keep the whole CID: its codec says how to read the block's links.

mod dag;
mod pins;
#[cfg(test)]
mod tests;

pub use dag::{CodecLinks, LinkError, LinkReader, walk};
pub use pins::{GcReport, PinMode, VerifyReport};

use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};
use rhizo_core::block::{Block, BlockError, BlockStore};
use rhizo_core::cid::Cid;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

/// The database's file name in the repo.
pub const DB_FILE: &str = "blocks.redb";
/// The file naming the pid of the process that has the database open.
pub const PID_FILE: &str = "blocks.pid";
/// The schema this code reads and writes.
pub const SCHEMA_VERSION: u64 = 1;
/// How long [`Store::open`] waits for another short-lived process to let go of the database.
const OPEN_WAIT: Duration = Duration::from_secs(3);

const BLOCKS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blocks");
const PINS: TableDefinition<&[u8], u8> = TableDefinition::new("pins");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const META_SCHEMA: &str = "schema_version";
const META_COUNT: &str = "block_count";
const META_BYTES: &str = "block_bytes";

/// Why a store operation failed.
#[derive(Debug)]
pub enum StoreError {
    /// Another process has the database open.
    InUse {
        /// The database file.
        path: PathBuf,
        /// The pid it wrote, if readable.
        pid: Option<u32>,
    },
    /// The database was written by a newer rhizo.
    NewerSchema(u64),
    /// The database failed (I/O, corruption it detected); boxed, as redb's error is large.
    Db(Box<redb::Error>),
    /// The repo directory or pid file failed.
    Io(std::io::Error),
    /// The block is not in the store.
    NotFound(Cid),
    /// Bytes do not make a block for their CID.
    Block(BlockError),
    /// A block's links could not be read (recursive pin, gc).
    Links(Box<LinkError>),
    /// A recursive pin's DAG is not complete in the store.
    Incomplete {
        /// The pinned root.
        root: Box<Cid>,
        /// A block the DAG links to that is missing.
        missing: Box<Cid>,
    },
    /// `pin add --recursive=false` on a CID pinned recursively.
    AlreadyRecursive(Cid),
    /// `pin rm` of a CID that has no pin of its own.
    NotPinned(Cid),
    /// [`BlockStore::read`] into a buffer shorter than the block (its length).
    OutputTooShort(usize),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::InUse { path, pid } => {
                write!(f, "the repo's block store {} is in use by ", path.display())?;
                match pid {
                    Some(pid) => write!(f, "another rhizo process (pid {pid})")?,
                    None => f.write_str("another rhizo process")?,
                }
                f.write_str(
                    ", a running daemon or a command still at work: stop that daemon (a daemon \
                     whose API answers is used automatically), or wait for the command to end",
                )
            }
            StoreError::NewerSchema(v) => write!(
                f,
                "the block store has schema version {v}, newer than this rhizo's \
                 {SCHEMA_VERSION}: use a newer rhizo"
            ),
            StoreError::Db(e) => write!(f, "block store: {e}"),
            StoreError::Io(e) => write!(f, "block store: {e}"),
            StoreError::NotFound(cid) => write!(f, "block {cid} is not in the repo"),
            StoreError::Block(e) => write!(f, "{e}"),
            StoreError::Links(e) => write!(f, "{e}"),
            StoreError::Incomplete { root, missing } => write!(
                f,
                "the DAG of {root} is not complete in the repo: block {missing} is missing \
                 (fetch it first, or pin only the root with --recursive=false)"
            ),
            StoreError::AlreadyRecursive(cid) => {
                write!(
                    f,
                    "{cid} is already pinned recursively: remove that pin first"
                )
            }
            StoreError::OutputTooShort(len) => {
                write!(f, "output buffer too short: the block needs {len} bytes")
            }
            StoreError::NotPinned(cid) => write!(
                f,
                "{cid} is not pinned directly or recursively (`rhizo pin ls` lists the pins)"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

impl<E: Into<redb::Error>> From<E> for StoreError {
    fn from(e: E) -> Self {
        StoreError::Db(Box::new(e.into()))
    }
}

/// Statistics of the store (`rhizo repo stat`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreStat {
    /// Blocks held.
    pub blocks: u64,
    /// Their total length in bytes.
    pub block_bytes: u64,
    /// Pins (direct, recursive).
    pub pins: (u64, u64),
    /// The database file's size on disk.
    pub file_bytes: u64,
}

/// The block store of a repo. `Sync`: the daemon shares one behind an `Arc`.
pub struct Store {
    db: Database,
    dir: PathBuf,
    links: Arc<dyn LinkReader>,
    /// Held shared by imports between their first block and their pin, exclusively by gc.
    gc_lock: RwLock<()>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).finish()
    }
}

/// The multihash bytes blocks are keyed by.
fn block_key(cid: &Cid) -> Vec<u8> {
    cid.hash().to_bytes().to_vec()
}

impl Store {
    /// Opens (or creates) the store in the repo directory `dir`, reading links with
    /// [`CodecLinks`].
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with_links(dir, Arc::new(CodecLinks))
    }

    /// Opens (or creates) the store, reading DAG links with `links` (recursive pins, gc).
    /// Waits up to a few seconds while another process holds it, then fails with
    /// [`StoreError::InUse`].
    pub fn open_with_links(dir: &Path, links: Arc<dyn LinkReader>) -> Result<Store, StoreError> {
        let path = dir.join(DB_FILE);
        let deadline = Instant::now() + OPEN_WAIT;
        let db = loop {
            match Database::create(&path) {
                Ok(db) => break db,
                Err(redb::DatabaseError::DatabaseAlreadyOpen) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                    let pid = std::fs::read_to_string(dir.join(PID_FILE))
                        .ok()
                        .and_then(|t| t.trim().parse().ok());
                    return Err(StoreError::InUse { path, pid });
                }
                Err(e) => return Err(e.into()),
            }
        };
        std::fs::write(dir.join(PID_FILE), format!("{}\n", std::process::id()))
            .map_err(StoreError::Io)?;
        let store = Store {
            db,
            dir: dir.to_owned(),
            links,
            gc_lock: RwLock::new(()),
        };
        store.init_schema()?;
        Ok(store)
    }

    /// Creates the tables on first use; refuses a newer schema.
    fn init_schema(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let found = meta.get(META_SCHEMA)?.map(|v| v.value());
            match found {
                Some(v) if v > SCHEMA_VERSION => return Err(StoreError::NewerSchema(v)),
                Some(_) => {}
                None => {
                    meta.insert(META_SCHEMA, SCHEMA_VERSION)?;
                }
            }
            txn.open_table(BLOCKS)?;
            txn.open_table(PINS)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// The repo directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The link reader recursive pins and gc use.
    pub fn link_reader(&self) -> &dyn LinkReader {
        &*self.links
    }

    /// Keeps gc from running while held: an import holds it from its first block until its
    /// root is pinned, so gc cannot sweep its blocks in between.
    pub fn gc_guard(&self) -> RwLockReadGuard<'_, ()> {
        // A poisoned lock guards no data (`()`): take it anyway.
        self.gc_lock.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The bytes of the block named by `cid` (any CID with its multihash), if held.
    pub fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(BLOCKS)?;
        Ok(table
            .get(block_key(cid).as_slice())?
            .map(|v| v.value().to_vec()))
    }

    /// Whether the block named by `cid` is held.
    pub fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        Ok(self.block_size(cid)?.is_some())
    }

    /// The length of the block named by `cid`, if held.
    pub fn block_size(&self, cid: &Cid) -> Result<Option<usize>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(BLOCKS)?;
        Ok(table
            .get(block_key(cid).as_slice())?
            .map(|v| v.value().len()))
    }

    /// Stores one block in its own transaction; `true` if it was new.
    pub fn put(&self, block: Block<'_>) -> Result<bool, StoreError> {
        let mut batch = self.batch()?;
        let new = batch.insert(block)?;
        batch.commit()?;
        Ok(new)
    }

    /// Stores blocks in one transaction: all or none. Returns how many were new.
    pub fn put_many<'a>(
        &self,
        blocks: impl IntoIterator<Item = Block<'a>>,
    ) -> Result<usize, StoreError> {
        let mut batch = self.batch()?;
        let mut new = 0;
        for block in blocks {
            new += usize::from(batch.insert(block)?);
        }
        batch.commit()?;
        Ok(new)
    }

    /// A write transaction: puts and pins in it are stored together at [`Batch::commit`], or
    /// not at all when it is dropped. One at a time: a second waits for the first to end.
    pub fn batch(&self) -> Result<Batch<'_>, StoreError> {
        Ok(Batch {
            store: self,
            txn: self.db.begin_write()?,
            added: (0, 0),
        })
    }

    /// The statistics of `repo stat`.
    pub fn stat(&self) -> Result<StoreStat, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let read =
            |key| -> Result<u64, StoreError> { Ok(meta.get(key)?.map(|v| v.value()).unwrap_or(0)) };
        let pins = txn.open_table(PINS)?;
        let mut counts = (0, 0);
        for entry in pins.iter()? {
            match PinMode::from_byte(entry?.1.value()) {
                Some(PinMode::Direct) => counts.0 += 1,
                _ => counts.1 += 1,
            }
        }
        let file_bytes = std::fs::metadata(self.dir.join(DB_FILE))
            .map(|m| m.len())
            .unwrap_or(0);
        Ok(StoreStat {
            blocks: read(META_COUNT)?,
            block_bytes: read(META_BYTES)?,
            pins: counts,
            file_bytes,
        })
    }
}

/// A write transaction on a [`Store`] (see [`Store::batch`]); also a [`BlockStore`], so the
/// importer writes into it directly.
pub struct Batch<'s> {
    store: &'s Store,
    txn: WriteTransaction,
    /// Blocks and bytes added so far, written to `meta` at commit.
    added: (u64, u64),
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("added", &self.added).finish()
    }
}

impl Batch<'_> {
    /// Puts a verified block; `true` if it was new.
    pub fn insert(&mut self, block: Block<'_>) -> Result<bool, StoreError> {
        let mut table = self.txn.open_table(BLOCKS)?;
        let key = block_key(block.cid());
        if table.get(key.as_slice())?.is_some() {
            return Ok(false);
        }
        table.insert(key.as_slice(), block.data())?;
        self.added.0 += 1;
        self.added.1 += block.data().len() as u64;
        Ok(true)
    }

    /// Pins `cid` in this transaction (see [`Store::pin`]).
    pub fn pin(&mut self, cid: &Cid, mode: PinMode) -> Result<(), StoreError> {
        pins::pin_in(self.store, &self.txn, cid, mode)
    }

    /// The bytes of a block, as this transaction sees it.
    pub fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, StoreError> {
        let table = self.txn.open_table(BLOCKS)?;
        Ok(table
            .get(block_key(cid).as_slice())?
            .map(|v| v.value().to_vec()))
    }

    /// Stores everything put and pinned, durably; until this returns, none of it is.
    pub fn commit(self) -> Result<(), StoreError> {
        if self.added != (0, 0) {
            let mut meta = self.txn.open_table(META)?;
            for (key, delta) in [(META_COUNT, self.added.0), (META_BYTES, self.added.1)] {
                let old = meta.get(key)?.map(|v| v.value()).unwrap_or(0);
                meta.insert(key, old.saturating_add(delta))?;
            }
        }
        self.txn.commit()?;
        Ok(())
    }
}

/// Removes blocks in `txn`, keeping the `meta` totals right. Returns (blocks, bytes) removed.
fn remove_blocks(txn: &WriteTransaction, keys: &[Vec<u8>]) -> Result<(u64, u64), StoreError> {
    let mut table = txn.open_table(BLOCKS)?;
    let mut removed = (0u64, 0u64);
    for key in keys {
        if let Some(old) = table.remove(key.as_slice())? {
            removed.0 += 1;
            removed.1 += old.value().len() as u64;
        }
    }
    let mut meta = txn.open_table(META)?;
    for (key, delta) in [(META_COUNT, removed.0), (META_BYTES, removed.1)] {
        let old = meta.get(key)?.map(|v| v.value()).unwrap_or(0);
        meta.insert(key, old.saturating_sub(delta))?;
    }
    Ok(removed)
}

/// Copies a block into `out` for the [`BlockStore`] impls.
fn copy_out(data: Option<Vec<u8>>, out: &mut [u8]) -> Result<Option<usize>, StoreError> {
    let Some(data) = data else { return Ok(None) };
    let dst = out
        .get_mut(..data.len())
        .ok_or(StoreError::OutputTooShort(data.len()))?;
    dst.copy_from_slice(&data);
    Ok(Some(data.len()))
}

impl BlockStore for Store {
    type Error = StoreError;

    fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        Store::has(self, cid)
    }

    fn block_len(&self, cid: &Cid) -> Result<Option<usize>, StoreError> {
        self.block_size(cid)
    }

    fn read(&self, cid: &Cid, out: &mut [u8]) -> Result<Option<usize>, StoreError> {
        copy_out(self.get(cid)?, out)
    }

    fn put(&mut self, block: Block<'_>) -> Result<(), StoreError> {
        Store::put(self, block).map(drop)
    }
}

impl BlockStore for Batch<'_> {
    type Error = StoreError;

    fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        Ok(self.block_len(cid)?.is_some())
    }

    fn block_len(&self, cid: &Cid) -> Result<Option<usize>, StoreError> {
        let table = self.txn.open_table(BLOCKS)?;
        Ok(table
            .get(block_key(cid).as_slice())?
            .map(|v| v.value().len()))
    }

    fn read(&self, cid: &Cid, out: &mut [u8]) -> Result<Option<usize>, StoreError> {
        copy_out(self.get(cid)?, out)
    }

    fn put(&mut self, block: Block<'_>) -> Result<(), StoreError> {
        self.insert(block).map(drop)
    }
}
