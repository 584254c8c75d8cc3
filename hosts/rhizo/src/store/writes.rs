//! The two halves of the store's writes that are not redb's own: the `block_index` value
//! ([`IndexEntry`]) and the pack side of a write transaction ([`PackWrites`]).

use super::pack::{self, Location, Mark};
use super::{LinkReader, PACKS, Store, StoreError};
use redb::{ReadableTable, WriteTransaction};
use rhizo_core::block::Block;
use rhizo_core::cid::{Cid, codec};
use std::collections::BTreeMap;
use std::fs::File;
use std::sync::Arc;

/// In an index value's length: set when the block, put as dag-pb, has no links.
const DAG_PB_LEAF: u32 = 1 << 31;

/// One `block_index` value: where the block is, and whether it was put as a dag-pb node
/// without links (the top bit of the stored length; blocks are at most 2 MiB).
///
/// # Q&A
/// *Why the dag-pb leaf bit?* A recursive pin (every `rhizo add`) walks the whole DAG, and
/// a dag-pb leaf's links can only be known by reading it: without the bit, pinning a 1 GiB
/// import reads the whole GiB back. The bit is set at insert (the bytes are at hand) and
/// honoured only for walks under a dag-pb CID, the codec it was found with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct IndexEntry {
    /// Where the block is.
    pub location: Location,
    /// Whether it was put as a dag-pb node without links.
    pub dag_pb_leaf: bool,
}

impl IndexEntry {
    pub fn from_value((pack, offset, len): (u32, u64, u32)) -> IndexEntry {
        IndexEntry {
            location: (pack, offset, len & !DAG_PB_LEAF),
            dag_pb_leaf: len & DAG_PB_LEAF != 0,
        }
    }

    pub fn to_value(self) -> (u32, u64, u32) {
        let (pack, offset, len) = self.location;
        let leaf = if self.dag_pb_leaf { DAG_PB_LEAF } else { 0 };
        (pack, offset, len | leaf)
    }

    /// Whether a walk under `cid` can skip reading the block: it has no links.
    pub fn known_leaf(self, cid: &Cid) -> bool {
        self.dag_pb_leaf && cid.codec() == codec::DAG_PB
    }
}

/// Whether `block` is a dag-pb node without links, by `links`.
pub(super) fn is_dag_pb_leaf(
    links: &dyn LinkReader,
    block: &Block<'_>,
    scratch: &mut Vec<Cid>,
) -> bool {
    if block.cid().codec() != codec::DAG_PB {
        return false;
    }
    scratch.clear();
    links.links(block.cid(), block.data(), scratch).is_ok() && scratch.is_empty()
}

/// The pack side of a write transaction: appends through the store's appender, remembers
/// what it added to which pack (appended, or written by another thread into a reservation and
/// indexed here), makes it durable and records it in `packs` at commit, and cuts it off again
/// when dropped uncommitted (see [`pack::Appender::rollback`]).
pub(super) struct PackWrites<'s> {
    store: &'s Store,
    /// The appender's position when the transaction began.
    mark: Mark,
    /// Per pack written: (record bytes added, end of the last record).
    touched: BTreeMap<u32, (u64, u64)>,
    /// Whether the appender was used (and so must be synced, or rolled back).
    used: bool,
    /// The packs that records written into reservations and indexed here are in: synced at
    /// commit, as the appender's sync may have run before those writes.
    written: BTreeMap<u32, Arc<File>>,
    committed: bool,
}

impl<'s> PackWrites<'s> {
    pub fn new(store: &'s Store) -> PackWrites<'s> {
        PackWrites {
            store,
            mark: store.appender().mark(),
            touched: BTreeMap::new(),
            used: false,
            written: BTreeMap::new(),
            committed: false,
        }
    }

    /// Appends a record; returns where its data is.
    pub fn append(&mut self, key: &[u8], data: &[u8]) -> Result<Location, StoreError> {
        self.used = true;
        let mut appender = self.store.appender();
        let location = appender.append(key, data).map_err(|e| {
            self.store
                .pack_error(appender.current_number().unwrap_or(0), e)
        })?;
        self.note(key, location);
        Ok(location)
    }

    /// Counts a record of `key` at `location` as added to its pack.
    fn note(&mut self, key: &[u8], (pack, offset, len): Location) {
        let entry = self.touched.entry(pack).or_insert((0, 0));
        entry.0 += pack::record_len(key, len);
        entry.1 = entry.1.max(offset + u64::from(len));
    }

    /// Takes a record written into a reservation (its write returned) as added in this
    /// transaction: its pack is synced at commit.
    pub fn note_written(&mut self, key: &[u8], location: Location, file: &Arc<File>) {
        self.note(key, location);
        self.written
            .entry(location.0)
            .or_insert_with(|| file.clone());
    }

    /// Ends the current pack and starts a new one (compaction empties the current pack).
    pub fn start_pack(&mut self) -> Result<(), StoreError> {
        self.used = true;
        let mut appender = self.store.appender();
        appender.start_pack().map_err(StoreError::Io)?;
        if let Some(number) = appender.current_number() {
            self.touched.insert(number, (0, pack::FILE_HEADER_LEN));
        }
        Ok(())
    }

    /// Writes out buffered records so that this transaction can read them back.
    pub fn flush(&self) -> Result<(), StoreError> {
        if self.used {
            self.store.appender().flush().map_err(StoreError::Io)?;
        }
        Ok(())
    }

    /// Makes the appended bytes durable, records them in `packs`, then commits `txn`.
    pub fn commit(mut self, txn: WriteTransaction) -> Result<(), StoreError> {
        if self.used || !self.written.is_empty() {
            // Also for written records alone: a reservation may have created a pack, whose
            // directory entry must be made durable. The syncs run without the appender's
            // lock, so that workers reserve and write on meanwhile.
            let mut unsynced = self
                .store
                .appender()
                .take_unsynced()
                .map_err(StoreError::Io)?;
            for (number, file) in &self.written {
                if !unsynced.packs.iter().any(|(n, _)| n == number) {
                    unsynced.packs.push((*number, file.clone()));
                }
            }
            if let Err((number, error)) = unsynced.sync() {
                self.store.appender().resync(unsynced);
                return Err(match number {
                    Some(number) => self.store.pack_error(number, error),
                    None => StoreError::Io(error),
                });
            }
            let mut packs = txn.open_table(PACKS)?;
            for (&number, &(added, end)) in &self.touched {
                let (live, total) = packs
                    .get(number)?
                    .map(|v| v.value())
                    .unwrap_or((0, pack::FILE_HEADER_LEN));
                packs.insert(number, (live + added, total.max(end)))?;
            }
        }
        txn.commit()?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PackWrites<'_> {
    fn drop(&mut self) {
        if self.used && !self.committed {
            let stale = self.store.appender().rollback(self.mark);
            for number in stale {
                self.store.readers.forget(number);
            }
        }
    }
}
