//! The repo's block store: block bytes in append-only pack files under `<repo>/blocks/`, and
//! their index, pins and metadata in one redb database, `blocks.redb`.
//!
//! Tables:
//! - `block_index`: multihash bytes -> (pack number, offset of the data, length, whose top
//!   bit marks a dag-pb leaf; see `writes.rs`): 16 bytes a block. Only [`Block`]s (bytes proven to hash to their CID) go in; `rhizo repo verify`
//!   hashes every one again when reading it back.
//! - `packs`: pack number -> (live bytes, total bytes): what gc needs to pick packs worth
//!   compacting without a scan, and the length up to which a pack is indexed.
//! - `pins`: CID bytes -> [`PinMode`] (direct or recursive).
//! - `meta`: `schema_version`, and running totals (`block_count`, `block_bytes`) kept in the
//!   same transactions as the blocks, so `repo stat` needs no scan.
//!
//! The pack files and their record format are described in `pack.rs`: each record is a small
//! header (format byte, multihash, length) and the block's bytes, so a pack can be rescanned.
//!
//! Writes go in transactions: [`Store::batch`] gives one ([`Batch`], itself a
//! [`BlockStore`]) in which an importer puts many blocks and commits once. A block is one
//! buffered (or, for a large block, vectored) `write` to the current pack and a 16-byte insert
//! into the index. The leaves of a large file are written by the import's workers instead,
//! several at once, into room reserved at the packs' end ([`PackWriter`], `located.rs`); the
//! batch only indexes what they hand back ([`Batch::insert_written`]). [`Batch::commit`] first
//! makes the pack bytes durable (`fdatasync` of the
//! packs written, and of the directory when a pack was created), then commits the redb
//! transaction, so the index never points at bytes that are not on disk. A process killed
//! before the redb commit leaves the index as it was before the batch, never half-written;
//! the pack bytes it wrote past the last indexed record are garbage, which the next
//! [`Store::open`] cuts off (a batch dropped without commit cuts its own at once, unless
//! workers reserved room since it began). Records written by workers but never indexed may
//! also lie between indexed records: `repo verify` counts them as harmless orphans, and gc's
//! compaction drops them with the dead records of their pack. An
//! importer commits every 64 MiB (bounded transactions), then pins the root in the last
//! one: after a crash, at worst some unpinned blocks remain, which `repo gc` removes, and the
//! import can simply be redone.
//!
//! Reads take no lock the writer holds: a read looks the block up in a redb read snapshot and
//! `pread`s it from a cached read-only handle of its pack (see [`Store::get`]).
//!
//! `repo gc` removes the index entries of unpinned blocks, then compacts: a pack whose live
//! bytes fell below half has its live records copied into the current pack, the index moved
//! to the copies in one commit (after the copies are synced), and its file deleted (see
//! `compact.rs`). Schema 1 kept the block bytes inline in a redb table `blocks`; such a store
//! is moved into packs when opened (`migrate.rs`).
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
//! *Why pack files plus a redb index, not the blocks in redb?* Schema 1 kept each block inline
//! in redb's B-tree. Blocks arrive in random key order (keys are hashes), so every insert
//! rewrote and copied B-tree pages of 256 KiB values: a profile of `rhizo add` showed pwrite,
//! page reads, memcpy and page faults taking 76 % of the time and SHA-256 only 14 %. In a pack,
//! a block is one sequential append, and the B-tree only holds 16-byte values.
//!
//! *Why not a file per block, like kubo's flatfs?* A file per block costs an open, a create
//! and, to be crash-safe, an fsync of the file and its directory per block, and millions of
//! small files in a file system. Packs of up to 1 GiB need one `fdatasync` per batch, whatever
//! its number of blocks, and a few files.
//!
//! *Why are blocks keyed by multihash, not by CID?* The same bytes are the same block whatever
//! codec or CID version names them (`Qm...` and `bafy...` of one dag-pb node); kubo and helia
//! key their blockstores by multihash too, so a Bitswap want for either CID finds the block.
//! Pins keep the whole CID: its codec says how to read the block's links.

mod compact;
mod dag;
mod located;
mod migrate;
mod pack;
mod pins;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_located;
#[cfg(test)]
mod tests_pack;
mod writes;

pub use dag::{CodecLinks, LinkError, LinkReader, walk};
pub use located::{PackWriter, WrittenBlock};
pub use pack::{FILE_MAGIC, PACK_DIR, PACK_LIMIT};
pub use pins::{GcReport, PinMode, VerifyReport};

use pack::{Appender, Location, PackReaders};
use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};
use rhizo_core::block::{Block, BlockError, BlockStore};
use rhizo_core::cid::Cid;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};
use writes::{IndexEntry, PackWrites, is_dag_pb_leaf};

/// The database's file name in the repo.
pub const DB_FILE: &str = "blocks.redb";
/// The file naming the pid of the process that has the database open.
pub const PID_FILE: &str = "blocks.pid";
/// The schema this code reads and writes: 2, block bytes in pack files (1 kept them in redb,
/// and is migrated on open).
pub const SCHEMA_VERSION: u64 = 2;
/// How long [`Store::open`] waits for another short-lived process to let go of the database.
const OPEN_WAIT: Duration = Duration::from_secs(3);

const INDEX: TableDefinition<&[u8], (u32, u64, u32)> = TableDefinition::new("block_index");
const PACKS: TableDefinition<u32, (u64, u64)> = TableDefinition::new("packs");
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
    /// A pack file failed (I/O, or shorter than the index says).
    Pack {
        /// The pack file.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
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
            StoreError::Pack { path, error } => {
                write!(f, "block store: pack file {}: {error}", path.display())
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
    /// The database file's size on disk (the index, pins and totals).
    pub file_bytes: u64,
    /// Pack files.
    pub pack_files: u64,
    /// Their total length: blocks with their record headers, and dead records gc has not
    /// compacted away yet.
    pub pack_bytes: u64,
}

/// The block store of a repo. `Sync`: the daemon shares one behind an `Arc`.
pub struct Store {
    db: Database,
    dir: PathBuf,
    links: Arc<dyn LinkReader>,
    /// Held shared by imports between their first block and their pin, exclusively by gc.
    gc_lock: RwLock<()>,
    /// The owner of the packs' end: appends inside a redb write transaction, reservations
    /// from any thread (see `pack.rs`). Boxed: it is large, and keeps `Store` small where it
    /// is held by value.
    appender: Box<Mutex<Appender>>,
    /// Read handles of the pack files.
    readers: PackReaders,
    /// What opening repaired (garbage past the indexed records, unreferenced packs), for
    /// `repo verify`.
    open_notes: Vec<String>,
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
    /// [`StoreError::InUse`]. Cuts garbage a crash left in the pack files, and moves the
    /// blocks of a schema 1 store into packs.
    pub fn open_with_links(dir: &Path, links: Arc<dyn LinkReader>) -> Result<Store, StoreError> {
        let (store, version) = Store::open_unmigrated(dir, links)?;
        if version < SCHEMA_VERSION {
            migrate::from_v1(&store)?;
        }
        Ok(store)
    }

    /// Opens the store without migrating an older schema; returns the schema found.
    fn open_unmigrated(dir: &Path, links: Arc<dyn LinkReader>) -> Result<(Store, u64), StoreError> {
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
        let pack_dir = dir.join(PACK_DIR);
        std::fs::create_dir_all(&pack_dir).map_err(StoreError::Io)?;
        let version = init_schema(&db)?;
        let (appender, open_notes) = compact::repair_packs(&db, &pack_dir)?;
        for note in &open_notes {
            tracing::warn!("block store: {note}");
        }
        let store = Store {
            db,
            dir: dir.to_owned(),
            links,
            gc_lock: RwLock::new(()),
            appender: Box::new(Mutex::new(appender)),
            readers: PackReaders::new(pack_dir),
            open_notes,
        };
        Ok((store, version))
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

    /// The appender. A panic while it was held leaves it usable: at worst it wrote garbage
    /// past the indexed records, which the next rollback or open cuts.
    fn appender(&self) -> MutexGuard<'_, Appender> {
        self.appender.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the size at which a new pack is started (tests roll packs over with tiny ones).
    #[cfg(test)]
    fn set_pack_limit(&self, limit: u64) {
        self.appender().set_limit(limit);
    }

    /// The index entry of the block keyed `key`, in the latest committed index.
    fn entry(&self, key: &[u8]) -> Result<Option<IndexEntry>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(INDEX)?;
        Ok(table.get(key)?.map(|v| IndexEntry::from_value(v.value())))
    }

    /// Where the block keyed `key` is, in the latest committed index.
    fn location(&self, key: &[u8]) -> Result<Option<Location>, StoreError> {
        Ok(self.entry(key)?.map(|e| e.location))
    }

    /// Looks the block up and hands its location to `read`. When the pack is gone (gc moved
    /// the block and deleted it after the lookup), looks again once.
    fn read_located<T>(
        &self,
        cid: &Cid,
        mut read: impl FnMut(Location) -> std::io::Result<T>,
    ) -> Result<Option<T>, StoreError> {
        let key = block_key(cid);
        let mut retried = false;
        loop {
            let Some(location) = self.location(&key)? else {
                return Ok(None);
            };
            match read(location) {
                Ok(v) => return Ok(Some(v)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !retried => retried = true,
                Err(error) => return Err(self.pack_error(location.0, error)),
            }
        }
    }

    fn pack_error(&self, pack: u32, error: std::io::Error) -> StoreError {
        StoreError::Pack {
            path: self.readers.path(pack),
            error,
        }
    }

    /// The bytes of the block named by `cid` (any CID with its multihash), if held: one
    /// `pread` into a buffer of the block's length.
    pub fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_located(cid, |(pack, offset, len)| {
            let mut data = pack::block_buffer(len)?;
            self.readers.read_at(pack, offset, &mut data)?;
            Ok(data)
        })
    }

    /// For [`walk`]: the bytes when needed, else `Some` of none if the block is held.
    fn get_for_walk(&self, cid: &Cid, need_bytes: bool) -> Result<Option<Vec<u8>>, StoreError> {
        match self.entry(&block_key(cid))? {
            Some(entry) if need_bytes && !entry.known_leaf(cid) => self.get(cid),
            Some(_) => Ok(Some(Vec::new())),
            None => Ok(None),
        }
    }

    /// Whether the block named by `cid` is held.
    pub fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        Ok(self.block_size(cid)?.is_some())
    }

    /// The length of the block named by `cid`, if held.
    pub fn block_size(&self, cid: &Cid) -> Result<Option<usize>, StoreError> {
        Ok(self
            .location(&block_key(cid))?
            .map(|(_, _, len)| len as usize))
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
        let txn = self.db.begin_write()?;
        Ok(Batch {
            store: self,
            packs: PackWrites::new(self),
            txn,
            added: (0, 0),
            scratch: Vec::new(),
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
        let (mut pack_files, mut pack_bytes) = (0, 0);
        for entry in txn.open_table(PACKS)?.iter()? {
            pack_files += 1;
            pack_bytes += entry?.1.value().1;
        }
        let file_bytes = std::fs::metadata(self.dir.join(DB_FILE))
            .map(|m| m.len())
            .unwrap_or(0);
        Ok(StoreStat {
            blocks: read(META_COUNT)?,
            block_bytes: read(META_BYTES)?,
            pins: counts,
            file_bytes,
            pack_files,
            pack_bytes,
        })
    }
}

/// Creates the tables on first use; refuses a newer schema. Returns the schema found (this
/// one for a new store).
fn init_schema(db: &Database) -> Result<u64, StoreError> {
    let txn = db.begin_write()?;
    let version = {
        let mut meta = txn.open_table(META)?;
        let found = meta.get(META_SCHEMA)?.map(|v| v.value());
        match found {
            Some(v) if v > SCHEMA_VERSION => return Err(StoreError::NewerSchema(v)),
            Some(v) => v,
            None => {
                meta.insert(META_SCHEMA, SCHEMA_VERSION)?;
                SCHEMA_VERSION
            }
        }
    };
    txn.open_table(INDEX)?;
    txn.open_table(PACKS)?;
    txn.open_table(PINS)?;
    txn.commit()?;
    Ok(version)
}

/// A write transaction on a [`Store`] (see [`Store::batch`]); also a [`BlockStore`], so the
/// importer writes into it directly.
pub struct Batch<'s> {
    store: &'s Store,
    /// Declared before `txn`: dropped first, so an uncommitted batch's pack bytes are cut
    /// while the transaction still keeps other writers out.
    packs: PackWrites<'s>,
    txn: WriteTransaction,
    /// Blocks and bytes added so far, written to `meta` at commit.
    added: (u64, u64),
    /// Room for a block's links while its leaf bit is found.
    scratch: Vec<Cid>,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("added", &self.added).finish()
    }
}

impl Batch<'_> {
    /// Puts a verified block; `true` if it was new.
    pub fn insert(&mut self, block: Block<'_>) -> Result<bool, StoreError> {
        let mut table = self.txn.open_table(INDEX)?;
        let key = block_key(block.cid());
        if table.get(key.as_slice())?.is_some() {
            return Ok(false);
        }
        let location = self.packs.append(&key, block.data())?;
        let entry = IndexEntry {
            location,
            dag_pb_leaf: is_dag_pb_leaf(self.store.link_reader(), &block, &mut self.scratch),
        };
        table.insert(key.as_slice(), entry.to_value())?;
        self.added.0 += 1;
        self.added.1 += block.data().len() as u64;
        Ok(true)
    }

    /// Pins `cid` in this transaction (see [`Store::pin`]).
    pub fn pin(&mut self, cid: &Cid, mode: PinMode) -> Result<(), StoreError> {
        pins::pin_in(
            self.store,
            &self.txn,
            cid,
            mode,
            |c, need_bytes| match self.entry(c)? {
                Some(entry) if need_bytes && !entry.known_leaf(c) => self.get(c),
                Some(_) => Ok(Some(Vec::new())),
                None => Ok(None),
            },
        )
    }

    /// A block's index entry, as this transaction sees it.
    fn entry(&self, cid: &Cid) -> Result<Option<IndexEntry>, StoreError> {
        let table = self.txn.open_table(INDEX)?;
        Ok(table
            .get(block_key(cid).as_slice())?
            .map(|v| IndexEntry::from_value(v.value())))
    }

    /// Where a block is, as this transaction sees it.
    fn location(&self, cid: &Cid) -> Result<Option<Location>, StoreError> {
        Ok(self.entry(cid)?.map(|e| e.location))
    }

    /// The bytes of a block, as this transaction sees it.
    pub fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((pack, offset, len)) = self.location(cid)? else {
            return Ok(None);
        };
        self.packs.flush()?;
        let mut data = pack::block_buffer(len).map_err(|e| self.store.pack_error(pack, e))?;
        self.store
            .readers
            .read_at(pack, offset, &mut data)
            .map_err(|e| self.store.pack_error(pack, e))?;
        Ok(Some(data))
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
        self.packs.commit(self.txn)
    }
}

/// Removes blocks in `txn`, keeping the `meta` totals and the packs' live bytes right.
/// Returns (blocks, bytes) removed.
fn remove_blocks(txn: &WriteTransaction, keys: &[Vec<u8>]) -> Result<(u64, u64), StoreError> {
    let mut table = txn.open_table(INDEX)?;
    let mut packs = txn.open_table(PACKS)?;
    let mut removed = (0u64, 0u64);
    let mut dead: BTreeMap<u32, u64> = BTreeMap::new();
    for key in keys {
        if let Some(old) = table.remove(key.as_slice())? {
            let (pack, _, len) = IndexEntry::from_value(old.value()).location;
            removed.0 += 1;
            removed.1 += u64::from(len);
            *dead.entry(pack).or_default() += pack::record_len(key, len);
        }
    }
    for (number, bytes) in dead {
        let row = packs.get(number)?.map(|v| v.value());
        if let Some((live, total)) = row {
            packs.insert(number, (live.saturating_sub(bytes), total))?;
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

    /// `pread`s the block straight into `out`.
    fn read(&self, cid: &Cid, out: &mut [u8]) -> Result<Option<usize>, StoreError> {
        let mut too_short = None;
        let read = self.read_located(cid, |(pack, offset, len)| {
            let len = len as usize;
            match out.get_mut(..len) {
                Some(dst) => self.readers.read_at(pack, offset, dst).map(|()| len),
                None => {
                    too_short = Some(len);
                    Ok(len)
                }
            }
        })?;
        match too_short {
            Some(len) => Err(StoreError::OutputTooShort(len)),
            None => Ok(read),
        }
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
        Ok(self.location(cid)?.map(|(_, _, len)| len as usize))
    }

    fn read(&self, cid: &Cid, out: &mut [u8]) -> Result<Option<usize>, StoreError> {
        copy_out(self.get(cid)?, out)
    }

    fn put(&mut self, block: Block<'_>) -> Result<(), StoreError> {
        self.insert(block).map(drop)
    }
}
