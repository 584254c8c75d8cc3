//! Blocks written into the packs from several threads at once, indexed afterwards by the one
//! thread that holds the batch.
//!
//! A [`PackWriter`] is shared by the hashing workers of an import. A worker's
//! [`PackWriter::write`] reserves room at the packs' end under the appender's lock (the same
//! end the appender's own appends use, with the same rollover), the record header written
//! there, then `pwrite`s the data without the lock, and gets a [`WrittenBlock`]: the only way
//! to index a location with [`Batch::insert_written`], so a location is never indexed before
//! its bytes were written. The batch `fdatasync`s the packs of the blocks it indexed before
//! its redb commit, as for its own appends.
//!
//! A written block that is never indexed (dropped after an error, or a crash before the
//! commit) is garbage: a whole record, its data maybe zeros or torn, that no index entry names,
//! which may now lie between indexed records. `repo verify` reports such records as harmless
//! orphans, gc's compaction drops them with the other dead records of a pack, and the next open
//! cuts them when they are past a pack's last indexed record.
//!
//! # Q&A
//! *Why not let the workers insert into the index too?* redb has one write transaction at a
//! time, held by the calling thread's batch; a 16-byte insert is cheap next to hashing and
//! writing 256 KiB, so only the writes move to the workers.
//!
//! *Why does a worker skip blocks the store holds?* Adding the same file twice would
//! otherwise write every block again as garbage. The writer checks the committed index and the
//! blocks it wrote itself; a block it skips goes through [`Batch::insert`] on the calling
//! thread, which finds it there (or appends it once, when an earlier copy is still in flight).

use super::pack::{Location, Reservation};
use super::writes::{IndexEntry, is_dag_pb_leaf};
use super::{Batch, INDEX, Store, StoreError, block_key};
use redb::ReadableTable;
use rhizo_core::block::Block;
use std::collections::HashSet;
use std::fs::File;
use std::sync::{Arc, Mutex};

/// Writes blocks into the packs from any thread (`Sync`); see the module documentation.
///
/// Use it only while holding [`Store::gc_guard`], as an import does, until its blocks are
/// indexed: gc's compaction deletes packs.
#[derive(Debug)]
pub struct PackWriter<'s> {
    store: &'s Store,
    /// Keys of the blocks this writer wrote (or is writing).
    claimed: Mutex<HashSet<Vec<u8>>>,
}

/// A block whose record was written into a pack (not yet durable, not indexed): index it with
/// [`Batch::insert_written`]. Dropped instead, its record is garbage.
#[derive(Debug)]
#[must_use = "a written block that is not indexed is garbage in the pack"]
pub struct WrittenBlock {
    key: Vec<u8>,
    entry: IndexEntry,
    file: Arc<File>,
}

impl WrittenBlock {
    /// Where its data is: pack number, offset, length.
    pub fn location(&self) -> Location {
        self.entry.location
    }

    /// Starts flushing its pack to the disk on a thread of its own (an early `fdatasync`),
    /// so that the commit of the batch that indexes it finds less to wait for. Only a hint:
    /// the bytes are durable once that commit's own `fdatasync` returns, as always.
    pub fn start_writeback(&self) -> std::io::Result<std::thread::JoinHandle<()>> {
        let file = Arc::clone(&self.file);
        std::thread::Builder::new()
            .name("rhizo-writeback".into())
            .spawn(move || {
                // A failure here is seen again (and reported) by the commit's own sync.
                let _ = file.sync_data();
            })
    }
}

/// Room for one block's record, its header written: [`PackReservation::write`] its data.
#[derive(Debug)]
pub(super) struct PackReservation<'s> {
    store: &'s Store,
    key: Vec<u8>,
    dag_pb_leaf: bool,
    reservation: Reservation,
}

impl PackReservation<'_> {
    /// Where the data goes: pack number, offset, length.
    #[cfg(test)]
    pub fn location(&self) -> Location {
        self.reservation.location()
    }

    /// Writes the data (which must be the reserved length) without any lock.
    pub fn write(self, data: &[u8]) -> Result<WrittenBlock, StoreError> {
        let number = self.reservation.location().0;
        let (file, location) = self
            .reservation
            .write(data)
            .map_err(|e| self.store.pack_error(number, e))?;
        Ok(WrittenBlock {
            key: self.key,
            entry: IndexEntry {
                location,
                dag_pb_leaf: self.dag_pb_leaf,
            },
            file,
        })
    }
}

impl Store {
    /// A writer of blocks into the packs for several threads; see [`PackWriter`].
    pub fn pack_writer(&self) -> PackWriter<'_> {
        PackWriter {
            store: self,
            claimed: Mutex::new(HashSet::new()),
        }
    }
}

impl<'s> PackWriter<'s> {
    /// Writes `block`'s record into the packs, unless the store's committed index already
    /// holds it or this writer wrote it before (then `None`: put it with [`Batch::insert`]).
    pub fn write(&self, block: Block<'_>) -> Result<Option<WrittenBlock>, StoreError> {
        let key = block_key(block.cid());
        if self.store.entry(&key)?.is_some() {
            return Ok(None);
        }
        // A panic elsewhere while the set was held leaves it whole.
        let fresh = self
            .claimed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone());
        if !fresh {
            return Ok(None);
        }
        let dag_pb_leaf = is_dag_pb_leaf(self.store.link_reader(), &block, &mut Vec::new());
        self.reserve(key, block.data().len(), dag_pb_leaf)?
            .write(block.data())
            .map(Some)
    }

    /// Reserves room for a record of `key` and `len` bytes, its header written.
    pub(super) fn reserve(
        &self,
        key: Vec<u8>,
        len: usize,
        dag_pb_leaf: bool,
    ) -> Result<PackReservation<'s>, StoreError> {
        let len = u32::try_from(len).map_err(|_| {
            StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "block longer than 4 GiB",
            ))
        })?;
        let mut appender = self.store.appender();
        let reservation = appender.reserve(&key, len).map_err(|e| {
            self.store
                .pack_error(appender.current_number().unwrap_or(0), e)
        })?;
        Ok(PackReservation {
            store: self.store,
            key,
            dag_pb_leaf,
            reservation,
        })
    }
}

impl Batch<'_> {
    /// Indexes a block a [`PackWriter`] wrote; `true` if it was new. When the index holds the
    /// block already (put since the write), the written record is left as garbage.
    pub fn insert_written(&mut self, written: WrittenBlock) -> Result<bool, StoreError> {
        let mut table = self.txn.open_table(INDEX)?;
        if table.get(written.key.as_slice())?.is_some() {
            return Ok(false);
        }
        let location = written.entry.location;
        self.packs
            .note_written(&written.key, location, &written.file);
        table.insert(written.key.as_slice(), written.entry.to_value())?;
        self.added.0 += 1;
        self.added.1 += u64::from(location.2);
        Ok(true)
    }
}
