//! Pins (direct and recursive), garbage collection and verification of a [`Store`].

use super::pack::{self, PackReaders};
use super::{
    INDEX, IndexEntry, META, META_BYTES, META_COUNT, PACKS, PINS, Store, StoreError, block_key,
    walk,
};
use redb::{ReadableTable, WriteTransaction};
use rhizo_core::block::Block;
use rhizo_core::cid::{Cid, codec};
use rhizo_core::multihash::Multihash;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

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
    /// Pack files compacted (live records copied to the current pack, file deleted).
    pub packs_compacted: u64,
    /// Bytes of pack files given back to the file system.
    pub pack_bytes_freed: u64,
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
    /// Other problems: unreadable links, wrong totals, unknown pin values, pack files missing
    /// or shorter than indexed, records that are not where the index says.
    pub problems: Vec<String>,
    /// Harmless garbage, found or removed when the store was opened: bytes past a pack's last
    /// indexed record (a crash between a pack write and its index commit), pack files nothing
    /// indexes. Not an inconsistency.
    pub orphans: Vec<String>,
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

/// Pins `cid` inside `txn`: the block must be held, and for a recursive pin its whole DAG;
/// `get` reads blocks as `txn` sees them (see [`walk`]).
pub(super) fn pin_in(
    store: &Store,
    txn: &WriteTransaction,
    cid: &Cid,
    mode: PinMode,
    get: impl FnMut(&Cid, bool) -> Result<Option<Vec<u8>>, StoreError>,
) -> Result<(), StoreError> {
    let mut pins = txn.open_table(PINS)?;
    let key = cid.to_bytes();
    let old = pins.get(key.as_slice())?.map(|v| v.value());
    if mode == PinMode::Direct && old.and_then(PinMode::from_byte) == Some(PinMode::Recursive) {
        return Err(StoreError::AlreadyRecursive(*cid));
    }
    match mode {
        PinMode::Direct => {
            let held = txn
                .open_table(INDEX)?
                .get(block_key(cid).as_slice())?
                .is_some();
            if !held {
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
            |c, need| self.get_for_walk(c, need),
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
    /// transaction: a crash leaves either all or none removed. Then compacts the packs left
    /// mostly dead (see `compact.rs`). Waits for imports holding [`Store::gc_guard`]. A block
    /// whose links cannot be read stops gc before it removes anything.
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        let _exclusive = self.gc_lock.write().unwrap_or_else(|e| e.into_inner());
        let txn = self.db.begin_write()?;
        let doomed = {
            let pins = read_pins(&txn.open_table(PINS)?, &mut Vec::new())?;
            let blocks = txn.open_table(INDEX)?;
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
            // No write is pending in this transaction: the committed reads see its blocks.
            walk(
                self.link_reader(),
                &recursive,
                |c, need| self.get_for_walk(c, need),
                |c, _| {
                    live.insert(block_key(c));
                    Ok(())
                },
            )?;
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
        let (packs_compacted, pack_bytes_freed) = super::compact::compact(self)?;
        Ok(GcReport {
            removed,
            removed_bytes,
            packs_compacted,
            pack_bytes_freed,
        })
    }

    /// Hashes every block against its key (read back from its pack, its record header checked
    /// too), checks that every pin's blocks are held, that the totals match, and that the pack
    /// files are there with the lengths and live bytes the `packs` table says. Reads one
    /// consistent snapshot.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let txn = self.db.begin_read()?;
        let mut report = VerifyReport::default();
        report.orphans.extend(
            self.open_notes
                .iter()
                .map(|n| format!("when the store was opened: {n}")),
        );
        let rows: BTreeMap<u32, (u64, u64)> = txn
            .open_table(PACKS)?
            .iter()?
            .map(|e| e.map(|(k, v)| (k.value(), v.value())))
            .collect::<Result<_, _>>()?;
        let (files, scanned) = check_pack_files(&self.readers, &rows, &mut report);
        let blocks = txn.open_table(INDEX)?;
        let mut bytes = 0u64;
        let mut live: BTreeMap<u32, u64> = BTreeMap::new();
        let mut indexed: BTreeMap<u32, usize> = BTreeMap::new();
        let mut unreadable: BTreeMap<u32, u64> = BTreeMap::new();
        let mut record = Vec::new();
        for entry in blocks.iter()? {
            let (key, value) = entry?;
            let (key, (pack, offset, len)) =
                (key.value(), IndexEntry::from_value(value.value()).location);
            report.blocks_checked += 1;
            bytes += u64::from(len);
            *live.entry(pack).or_default() += pack::record_len(key, len);
            *indexed.entry(pack).or_default() += 1;
            let Some(file) = files.get(&pack) else {
                *unreadable.entry(pack).or_default() += 1;
                continue;
            };
            if let Err(why) = check_record(file, key, offset, len, &mut record) {
                report.corrupt.push(why);
            }
        }
        for (pack, count) in unreadable {
            report.problems.push(format!(
                "{count} indexed blocks are in pack {}, which cannot be read",
                pack::pack_name(pack)
            ));
        }
        for (&pack, &(row_live, _)) in &rows {
            let found = live.get(&pack).copied().unwrap_or(0);
            if found != row_live {
                report.problems.push(format!(
                    "pack {} holds {found} live bytes, its row in `packs` says {row_live}",
                    pack::pack_name(pack)
                ));
            }
        }
        for (pack, (records, zeros)) in scanned {
            let unindexed = records.saturating_sub(indexed.get(&pack).copied().unwrap_or(0));
            if unindexed > 0 || zeros > 0 {
                report.orphans.push(format!(
                    "pack {} holds {unindexed} records and {zeros} zero bytes no index entry \
                     names (blocks gc removed, or writes whose index commit never came): \
                     harmless, gc compacts the pack once they outweigh its live records",
                    pack::pack_name(pack)
                ));
            }
        }
        if let Some(pack) = live.keys().find(|p| !rows.contains_key(p)) {
            report.problems.push(format!(
                "blocks are indexed in pack {}, which has no row in `packs`",
                pack::pack_name(*pack)
            ));
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
        let get = |c: &Cid, need: bool| -> Result<Option<Vec<u8>>, StoreError> {
            let Some(entry) = blocks
                .get(block_key(c).as_slice())?
                .map(|v| IndexEntry::from_value(v.value()))
            else {
                return Ok(None);
            };
            if !need || entry.known_leaf(c) {
                return Ok(Some(Vec::new()));
            }
            let (pack, offset, len) = entry.location;
            let file = files.get(&pack).ok_or_else(|| StoreError::Pack {
                path: self.readers.path(pack),
                error: std::io::ErrorKind::NotFound.into(),
            })?;
            let mut data = pack::block_buffer(len).map_err(|error| StoreError::Pack {
                path: self.readers.path(pack),
                error,
            })?;
            file.read_exact_at(&mut data, offset)
                .map_err(|error| StoreError::Pack {
                    path: self.readers.path(pack),
                    error,
                })?;
            Ok(Some(data))
        };
        for (cid, mode) in pins {
            let mut missing = Vec::new();
            let walked = match mode {
                PinMode::Direct => get(&cid, false).map(|d| {
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
                Err(e @ StoreError::Pack { .. }) => report.problems.push(e.to_string()),
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }
}

/// Per pack scanned: its records and zero bytes up to its indexed length.
type PackScans = BTreeMap<u32, (usize, u64)>;

/// Opens every pack the `packs` table names (the handles keep them readable through the
/// verify, even if gc deletes one meanwhile), checks their lengths and structure, and notes
/// pack files nothing names. Returns the handles of the packs that could be opened, and for
/// each pack scanned up to its indexed length, its records and zero bytes.
fn check_pack_files(
    readers: &PackReaders,
    rows: &BTreeMap<u32, (u64, u64)>,
    report: &mut VerifyReport,
) -> (HashMap<u32, Arc<File>>, PackScans) {
    let mut files = HashMap::new();
    let mut scanned = BTreeMap::new();
    for (&number, &(_, total)) in rows {
        let name = pack::pack_name(number);
        let file = match readers.file(number) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.problems.push(format!("pack {name} is missing"));
                continue;
            }
            Err(e) => {
                report
                    .problems
                    .push(format!("pack {name} cannot be opened: {e}"));
                continue;
            }
        };
        match file.metadata().map(|m| m.len()) {
            Ok(len) if len < total => report.problems.push(format!(
                "pack {name} is {len} bytes long, but indexed up to {total}: it was cut"
            )),
            Ok(len) => {
                if len > total {
                    report.orphans.push(format!(
                        "pack {name} has {} orphan bytes past its last indexed record",
                        len - total
                    ));
                }
                match pack::scan(&file, total) {
                    Ok(scan) => {
                        scanned.insert(number, (scan.records.len(), scan.zero_bytes));
                    }
                    Err(why) => report
                        .problems
                        .push(format!("pack {name} is broken: {why}")),
                }
            }
            Err(e) => report.problems.push(format!("pack {name}: {e}")),
        }
        files.insert(number, file);
    }
    if let Ok(entries) = std::fs::read_dir(readers.dir()) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(number) = pack::parse_pack_name(&name)
                && !rows.contains_key(&number)
            {
                let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                report.orphans.push(format!(
                    "pack file {name} ({len} bytes) is not indexed: the next open deletes it"
                ));
            }
        }
    }
    (files, scanned)
}

/// Reads the record of the block keyed `key` whose data is at `offset` (header and data in
/// one `pread` into `buf`), checks the header names the block and hashes the data.
fn check_record(
    file: &File,
    key: &[u8],
    offset: u64,
    len: u32,
    buf: &mut Vec<u8>,
) -> Result<(), String> {
    let hash = Multihash::from_bytes(key).map_err(|e| format!("key is not a multihash ({e})"))?;
    let cid = Cid::new_v1(codec::RAW, hash).map_err(|e| format!("key makes no CID ({e})"))?;
    if len as usize > rhizo_core::block::MAX_BLOCK_LEN {
        return Err(format!(
            "{cid}: the index gives it {len} bytes, over the block maximum"
        ));
    }
    let header_len = pack::header_len(key.len());
    let start = offset
        .checked_sub(header_len)
        .ok_or_else(|| format!("{cid}: its offset {offset} leaves no room for its header"))?;
    buf.clear();
    buf.resize(header_len as usize + len as usize, 0);
    file.read_exact_at(buf, start)
        .map_err(|e| format!("{cid}: reading its record at {start}: {e}"))?;
    let (found_key, found_len, _) =
        pack::parse_header(buf).map_err(|e| format!("{cid}: at {start}: {e}"))?;
    if found_key != key || found_len != len {
        return Err(format!(
            "{cid}: the record at {start} is not this block's (its header names another)"
        ));
    }
    let data = buf.get(header_len as usize..).unwrap_or_default();
    Block::verify(cid, data)
        .map(drop)
        .map_err(|e| format!("{cid}: {e}"))
}
