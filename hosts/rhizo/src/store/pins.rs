//! Pins (direct and recursive), garbage collection and verification of a [`Store`].

use super::{BLOCKS, META, META_BYTES, META_COUNT, PINS, Store, StoreError, block_key, walk};
use redb::{ReadableTable, WriteTransaction};
use rhizo_core::block::Block;
use rhizo_core::cid::{Cid, codec};
use rhizo_core::multihash::Multihash;
use std::collections::HashSet;

/// How a CID is pinned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PinMode {
    /// The block alone.
    Direct,
    /// The block and everything it links to, transitively.
    Recursive,
}

impl PinMode {
    /// The name kubo uses: `direct` or `recursive`.
    pub fn as_str(self) -> &'static str {
        match self {
            PinMode::Direct => "direct",
            PinMode::Recursive => "recursive",
        }
    }

    fn to_byte(self) -> u8 {
        match self {
            PinMode::Direct => 1,
            PinMode::Recursive => 2,
        }
    }

    /// The mode stored as `byte`; `None` for an unknown value.
    pub(super) fn from_byte(byte: u8) -> Option<PinMode> {
        match byte {
            1 => Some(PinMode::Direct),
            2 => Some(PinMode::Recursive),
            _ => None,
        }
    }
}

/// What `repo gc` removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// The removed blocks, named as raw CIDv1s of their multihash (as kubo prints them).
    pub removed: Vec<Cid>,
    /// Their total length.
    pub removed_bytes: u64,
}

/// What `repo verify` found; [`VerifyReport::is_consistent`] says whether all is well.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Blocks hashed.
    pub blocks_checked: u64,
    /// Blocks whose bytes do not hash to their key, with why.
    pub corrupt: Vec<String>,
    /// Pinned blocks (roots, or blocks of a recursive pin's DAG) that are not held.
    pub missing: Vec<Cid>,
    /// Other problems: unreadable links, wrong totals, unknown pin values.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_consistent(&self) -> bool {
        self.corrupt.is_empty() && self.missing.is_empty() && self.problems.is_empty()
    }
}

/// Reads the pins table.
fn read_pins(
    table: &impl ReadableTable<&'static [u8], u8>,
    problems: &mut Vec<String>,
) -> Result<Vec<(Cid, PinMode)>, StoreError> {
    let mut pins = Vec::new();
    for entry in table.iter()? {
        let (key, value) = entry?;
        match (
            Cid::from_bytes(key.value()),
            PinMode::from_byte(value.value()),
        ) {
            (Ok(cid), Some(mode)) => pins.push((cid, mode)),
            _ => problems.push(format!("unreadable pin entry {:02x?}", key.value())),
        }
    }
    Ok(pins)
}

/// Pins `cid` inside `txn`: the block must be held, and for a recursive pin its whole DAG.
pub(super) fn pin_in(
    store: &Store,
    txn: &WriteTransaction,
    cid: &Cid,
    mode: PinMode,
) -> Result<(), StoreError> {
    let mut pins = txn.open_table(PINS)?;
    let key = cid.to_bytes();
    let old = pins.get(key.as_slice())?.map(|v| v.value());
    if mode == PinMode::Direct && old.and_then(PinMode::from_byte) == Some(PinMode::Recursive) {
        return Err(StoreError::AlreadyRecursive(*cid));
    }
    let blocks = txn.open_table(BLOCKS)?;
    let get = |c: &Cid| -> Result<Option<Vec<u8>>, StoreError> {
        Ok(blocks
            .get(block_key(c).as_slice())?
            .map(|v| v.value().to_vec()))
    };
    match mode {
        PinMode::Direct => {
            if get(cid)?.is_none() {
                return Err(StoreError::NotFound(*cid));
            }
        }
        PinMode::Recursive => {
            walk(store.link_reader(), &[*cid], get, |c, data| match data {
                Some(_) => Ok(()),
                None if c == cid => Err(StoreError::NotFound(*cid)),
                None => Err(StoreError::Incomplete {
                    root: Box::new(*cid),
                    missing: Box::new(*c),
                }),
            })?;
        }
    }
    pins.insert(key.as_slice(), mode.to_byte())?;
    Ok(())
}

impl Store {
    /// Pins `cid` (see [`PinMode`]); re-pinning is not an error, and a recursive pin replaces
    /// a direct one. The block must be held, and for a recursive pin every block of its DAG.
    pub fn pin(&self, cid: &Cid, mode: PinMode) -> Result<(), StoreError> {
        let mut batch = self.batch()?;
        batch.pin(cid, mode)?;
        batch.commit()
    }

    /// Removes `cid`'s own pin; returns what it was.
    pub fn unpin(&self, cid: &Cid) -> Result<PinMode, StoreError> {
        let txn = self.db.begin_write()?;
        let old = {
            let mut pins = txn.open_table(PINS)?;
            let old = pins.remove(cid.to_bytes().as_slice())?.map(|v| v.value());
            old.and_then(PinMode::from_byte)
        };
        let mode = old.ok_or(StoreError::NotPinned(*cid))?;
        txn.commit()?;
        Ok(mode)
    }

    /// The pin of `cid` itself, if any.
    pub fn pin_mode(&self, cid: &Cid) -> Result<Option<PinMode>, StoreError> {
        let txn = self.db.begin_read()?;
        let pins = txn.open_table(PINS)?;
        let byte = pins.get(cid.to_bytes().as_slice())?.map(|v| v.value());
        Ok(byte.and_then(PinMode::from_byte))
    }

    /// Every pin, in CID byte order.
    pub fn pins(&self) -> Result<Vec<(Cid, PinMode)>, StoreError> {
        let txn = self.db.begin_read()?;
        read_pins(&txn.open_table(PINS)?, &mut Vec::new())
    }

    /// The CIDs pinned indirectly: reached from a recursive pin, not recursive pins themselves.
    pub fn indirect_pins(&self) -> Result<Vec<Cid>, StoreError> {
        let pins = self.pins()?;
        let roots: Vec<Cid> = pins
            .iter()
            .filter(|(_, m)| *m == PinMode::Recursive)
            .map(|(c, _)| *c)
            .collect();
        let mut found = Vec::new();
        walk(
            self.link_reader(),
            &roots,
            |c| self.get(c),
            |c, _| {
                if !roots.contains(c) {
                    found.push(*c);
                }
                Ok(())
            },
        )?;
        Ok(found)
    }

    /// Removes every block no pin reaches (mark from the pins, sweep the rest), in one
    /// transaction: a crash leaves either all or none removed. Waits for imports holding
    /// [`Store::gc_guard`]. A block whose links cannot be read stops gc before it removes
    /// anything.
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        let _exclusive = self.gc_lock.write().unwrap_or_else(|e| e.into_inner());
        let txn = self.db.begin_write()?;
        let doomed = {
            let pins = read_pins(&txn.open_table(PINS)?, &mut Vec::new())?;
            let blocks = txn.open_table(BLOCKS)?;
            let mut live: HashSet<Vec<u8>> = HashSet::new();
            let direct: Vec<Cid> = pins
                .iter()
                .filter(|(_, m)| *m == PinMode::Direct)
                .map(|(c, _)| *c)
                .collect();
            let recursive: Vec<Cid> = pins
                .iter()
                .filter(|(_, m)| *m == PinMode::Recursive)
                .map(|(c, _)| *c)
                .collect();
            live.extend(direct.iter().map(block_key));
            let get = |c: &Cid| -> Result<Option<Vec<u8>>, StoreError> {
                Ok(blocks
                    .get(block_key(c).as_slice())?
                    .map(|v| v.value().to_vec()))
            };
            walk(self.link_reader(), &recursive, get, |c, _| {
                live.insert(block_key(c));
                Ok(())
            })?;
            let mut doomed = Vec::new();
            for entry in blocks.iter()? {
                let (key, _) = entry?;
                if !live.contains(key.value()) {
                    doomed.push(key.value().to_vec());
                }
            }
            doomed
        };
        let (_, removed_bytes) = super::remove_blocks(&txn, &doomed)?;
        txn.commit()?;
        let removed = doomed
            .iter()
            .filter_map(|key| Multihash::from_bytes(key).ok())
            .filter_map(|hash| Cid::new_v1(codec::RAW, hash).ok())
            .collect();
        Ok(GcReport {
            removed,
            removed_bytes,
        })
    }

    /// Hashes every block against its key, checks that every pin's blocks are held and that
    /// the totals match. Reads one consistent snapshot.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let txn = self.db.begin_read()?;
        let mut report = VerifyReport::default();
        let blocks = txn.open_table(BLOCKS)?;
        let mut bytes = 0u64;
        for entry in blocks.iter()? {
            let (key, value) = entry?;
            report.blocks_checked += 1;
            bytes += value.value().len() as u64;
            let checked = Multihash::from_bytes(key.value())
                .map_err(|e| format!("key is not a multihash ({e})"))
                .and_then(|hash| {
                    Cid::new_v1(codec::RAW, hash).map_err(|e| format!("key makes no CID ({e})"))
                })
                .and_then(|cid| {
                    Block::verify(cid, value.value())
                        .map(drop)
                        .map_err(|e| format!("{cid}: {e}"))
                });
            if let Err(why) = checked {
                report.corrupt.push(why);
            }
        }
        let meta = txn.open_table(META)?;
        let read =
            |key| -> Result<u64, StoreError> { Ok(meta.get(key)?.map(|v| v.value()).unwrap_or(0)) };
        let (count, total) = (read(META_COUNT)?, read(META_BYTES)?);
        if (count, total) != (report.blocks_checked, bytes) {
            report.problems.push(format!(
                "the totals say {count} blocks of {total} bytes, the table holds {} of {bytes}",
                report.blocks_checked
            ));
        }
        let pins = read_pins(&txn.open_table(PINS)?, &mut report.problems)?;
        for (cid, mode) in pins {
            let get = |c: &Cid| -> Result<Option<Vec<u8>>, StoreError> {
                Ok(blocks
                    .get(block_key(c).as_slice())?
                    .map(|v| v.value().to_vec()))
            };
            let mut missing = Vec::new();
            let walked = match mode {
                PinMode::Direct => get(&cid).map(|d| {
                    if d.is_none() {
                        missing.push(cid);
                    }
                }),
                PinMode::Recursive => walk(self.link_reader(), &[cid], get, |c, data| {
                    if data.is_none() {
                        missing.push(*c);
                    }
                    Ok(())
                }),
            };
            match walked {
                Ok(()) => report.missing.extend(missing),
                Err(StoreError::Links(e)) => report.problems.push(e.to_string()),
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }
}
