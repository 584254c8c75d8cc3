//! Pack upkeep: the repair on open (garbage a crash left), and gc's compaction.
//!
//! Compaction, after gc removed the index entries of unpinned blocks: every pack whose live
//! bytes are less than half its records (or none, for a pack that is not the current one) has
//! its live records copied into the current pack, in one write transaction that moves their
//! index entries and drops the old packs' rows, committed after the copies are synced. Only
//! then are the old files deleted. A crash before the commit leaves copies past the last
//! indexed record (cut on open); a crash after it leaves pack files no row names (deleted on
//! open). Either way the index only names synced bytes.
//!
//! # Q&A
//! *Why copy into the current pack rather than rewrite a pack in place?* Records never move
//! inside a file, so a reader holding an older snapshot's location (and the pack's handle)
//! still reads the right bytes, and the appender stays the only writer (no import's workers
//! reserve room meanwhile: imports hold the gc lock shared, gc holds it exclusively).

use super::pack::{self, Appender, FILE_HEADER_LEN};
use super::{INDEX, IndexEntry, PACKS, PackWrites, Store, StoreError};
use redb::{Database, ReadableTable};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::path::Path;

/// Whether a pack is worth compacting: dead records outweigh live ones (the current pack),
/// or nothing in it lives (any other).
fn worth_compacting(live: u64, total: u64, current: bool) -> bool {
    let records = total.saturating_sub(FILE_HEADER_LEN);
    if current {
        live * 2 < records
    } else {
        live == 0 || live * 2 < records
    }
}

/// On open: deletes pack files no row of `packs` names, cuts packs back to their indexed
/// length, and opens the appender on the last pack. Returns it, with notes on what it did.
pub(super) fn repair_packs(
    db: &Database,
    pack_dir: &Path,
) -> Result<(Appender, Vec<String>), StoreError> {
    let txn = db.begin_read()?;
    let rows: BTreeMap<u32, (u64, u64)> = txn
        .open_table(PACKS)?
        .iter()?
        .map(|e| e.map(|(k, v)| (k.value(), v.value())))
        .collect::<Result<_, _>>()?;
    drop(txn);
    let mut notes = Vec::new();
    let mut intact = BTreeSet::new();
    let mut changed = false;
    for entry in std::fs::read_dir(pack_dir).map_err(StoreError::Io)? {
        let entry = entry.map_err(StoreError::Io)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Some(number) = pack::parse_pack_name(&name) else {
            continue;
        };
        let len = entry.metadata().map_err(StoreError::Io)?.len();
        match rows.get(&number) {
            None => {
                std::fs::remove_file(entry.path()).map_err(StoreError::Io)?;
                changed = true;
                notes.push(format!(
                    "deleted pack file {name} ({len} bytes), which nothing indexed"
                ));
            }
            Some(&(_, total)) if len > total => {
                let file = OpenOptions::new()
                    .write(true)
                    .open(entry.path())
                    .map_err(StoreError::Io)?;
                file.set_len(total).map_err(StoreError::Io)?;
                file.sync_all().map_err(StoreError::Io)?;
                intact.insert(number);
                notes.push(format!(
                    "cut {} orphan bytes past the last indexed record of pack {name}",
                    len - total
                ));
            }
            Some(&(_, total)) if len == total => {
                intact.insert(number);
            }
            // Shorter than indexed: `repo verify` reports it; nothing is appended to it.
            Some(_) => {}
        }
    }
    if changed {
        File::open(pack_dir)
            .and_then(|d| d.sync_all())
            .map_err(StoreError::Io)?;
    }
    let current = rows
        .last_key_value()
        .filter(|(n, _)| intact.contains(n))
        .map(|(&n, &(_, total))| (n, total));
    let next_number = match rows.last_key_value() {
        Some((&n, _)) => n
            .checked_add(1)
            .ok_or_else(|| StoreError::Io(std::io::Error::other("the pack numbers are used up")))?,
        None => 0,
    };
    let appender = Appender::open(pack_dir, current, next_number).map_err(StoreError::Io)?;
    Ok((appender, notes))
}

/// Compacts the packs worth it (see the module documentation). Returns (packs compacted,
/// pack bytes given back).
pub(super) fn compact(store: &Store) -> Result<(u64, u64), StoreError> {
    let txn = store.db.begin_write()?;
    let mut writes = PackWrites::new(store);
    let current = store.appender().current_number();
    let doomed: BTreeMap<u32, (u64, u64)> = txn
        .open_table(PACKS)?
        .iter()?
        .map(|e| e.map(|(k, v)| (k.value(), v.value())))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|&(n, (live, total))| worth_compacting(live, total, Some(n) == current))
        .collect();
    if doomed.is_empty() {
        return Ok((0, 0));
    }
    if current.is_some_and(|n| doomed.contains_key(&n)) {
        writes.start_pack()?;
    }
    let mut copied = 0u64;
    {
        let mut index = txn.open_table(INDEX)?;
        let mut moves = Vec::new();
        for entry in index.iter()? {
            let (key, value) = entry?;
            let entry = IndexEntry::from_value(value.value());
            if doomed.contains_key(&entry.location.0) {
                moves.push((entry.location, entry.dag_pb_leaf, key.value().to_vec()));
            }
        }
        moves.sort();
        for ((number, offset, len), dag_pb_leaf, key) in moves {
            let mut data = pack::block_buffer(len).map_err(|e| store.pack_error(number, e))?;
            store
                .readers
                .read_at(number, offset, &mut data)
                .map_err(|e| store.pack_error(number, e))?;
            let location = writes.append(&key, &data)?;
            let entry = IndexEntry {
                location,
                dag_pb_leaf,
            };
            index.insert(key.as_slice(), entry.to_value())?;
            copied += pack::record_len(&key, len);
        }
        let mut packs = txn.open_table(PACKS)?;
        for number in doomed.keys() {
            packs.remove(number)?;
        }
    }
    writes.commit(txn)?;
    let mut freed = 0u64;
    for (&number, &(_, total)) in &doomed {
        let path = store.readers.path(number);
        match std::fs::remove_file(&path) {
            Ok(()) => freed += total,
            // Left for the next open, which deletes packs no row names.
            Err(e) => tracing::warn!("cannot delete compacted pack {}: {e}", path.display()),
        }
        store.readers.forget(number);
    }
    if let Err(e) = File::open(store.readers.dir()).and_then(|d| d.sync_all()) {
        tracing::warn!("cannot sync the pack folder: {e}");
    }
    tracing::info!(
        "gc compacted {} packs: copied {copied} live bytes, freed {} bytes",
        doomed.len(),
        freed.saturating_sub(copied)
    );
    Ok((doomed.len() as u64, freed.saturating_sub(copied)))
}
