//! Schema 1 -> 2: block bytes move from the redb table `blocks` into pack files.
//!
//! In steps of [`STEP_BYTES`]: each step takes blocks out of the old table, appends them to
//! the current pack, indexes them, and commits (pack bytes synced first, as every batch). The
//! last step drops the old table and writes schema version 2 in the same commit. A crash
//! leaves the store at a step boundary, schema 1, with some blocks moved and the rest still
//! in `blocks`: the next open simply goes on.

use super::{INDEX, IndexEntry, META, META_SCHEMA, PackWrites, SCHEMA_VERSION, Store, StoreError};
use redb::{ReadableTable, TableDefinition};

/// Schema 1's table: multihash bytes -> block bytes.
pub(super) const OLD_BLOCKS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blocks");
/// Block bytes moved per transaction.
const STEP_BYTES: u64 = 64 << 20;

/// Moves every block of a schema 1 store into packs; returns how many were moved.
pub(super) fn from_v1(store: &Store) -> Result<u64, StoreError> {
    let mut moved = 0u64;
    loop {
        let (count, done) = step(store, STEP_BYTES)?;
        moved += count;
        if done {
            tracing::info!("block store: moved {moved} blocks from schema 1 into pack files");
            return Ok(moved);
        }
    }
}

/// One step: moves blocks until `step_bytes` are moved or none are left, and commits.
/// Returns (blocks moved, whether it was the last step).
pub(super) fn step(store: &Store, step_bytes: u64) -> Result<(u64, bool), StoreError> {
    let txn = store.db.begin_write()?;
    let mut writes = PackWrites::new(store);
    let mut moved = 0u64;
    let done = {
        let mut old = txn.open_table(OLD_BLOCKS)?;
        let mut index = txn.open_table(INDEX)?;
        let mut bytes = 0u64;
        loop {
            if bytes >= step_bytes {
                break false;
            }
            let Some((key, data)) = old.pop_first()? else {
                break true;
            };
            let key = key.value().to_vec();
            let data = data.value();
            if index.get(key.as_slice())?.is_none() {
                let location = writes.append(&key, data)?;
                // Schema 1 keys are multihashes: the codec, and so the leaf bit, is unknown.
                let entry = IndexEntry {
                    location,
                    dag_pb_leaf: false,
                };
                index.insert(key.as_slice(), entry.to_value())?;
            }
            bytes += data.len() as u64;
            moved += 1;
        }
    };
    if done {
        txn.delete_table(OLD_BLOCKS)?;
        txn.open_table(META)?.insert(META_SCHEMA, SCHEMA_VERSION)?;
    }
    writes.commit(txn)?;
    Ok((moved, done))
}
