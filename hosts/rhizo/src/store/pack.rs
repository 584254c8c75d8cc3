//! Pack files: block bytes appended to `<repo>/blocks/NNNNNNNN.pack`, read back with `pread`.
//!
//! A pack starts with the 8 bytes [`FILE_MAGIC`], then holds records back to back:
//!
//! ```text
//! magic 0xb1 (record format 1) | multihash length (u8) | multihash | data length (u32 LE) | data
//! ```
//!
//! The index (`block_index` in redb) names each block's pack, the offset of its *data* and its
//! length, so a read is one `pread`; the header before the data lets a pack be rescanned
//! ([`scan`]) to check or rebuild the index, and lets `repo verify` check that the index points
//! at the record it means.
//!
//! One [`Appender`] (behind a mutex in the store) owns the end of the packs. Inside a redb
//! write transaction (one at a time) it appends records through its buffer; and any thread may
//! [`Appender::reserve`] room for a record of known length at the end, under the lock, then
//! write the data there with `pwrite` without it ([`Reservation::write`]): the hashing workers
//! of an import write their leaves this way, on several cores at once. Appends and
//! reservations share one end, and the rollover to a new pack at [`PACK_LIMIT`]. Readers go
//! through [`PackReaders`], a cache of read-only handles, and never take the appender's lock.
//!
//! A reservation's record *header* is written under the lock, before the reservation is
//! handed out (and a buffered append is written out before a reservation is made past it), so
//! every byte below a pack's end belongs to a record whose header is in the file: [`scan`] can
//! always walk a pack, even where a reserved record's data never came (a worker's write that
//! failed, or whose result was dropped). Such a record is garbage that no index entry names,
//! between indexed records or at the tail.
//!
//! Durability: [`Appender::sync`] writes out the buffer and `fdatasync`s every pack appended to
//! since the last sync (and the directory when a pack was created), and the store calls it,
//! and `fdatasync`s the packs reserved records were written to, before the redb commit that
//! indexes those bytes, so the index never points at bytes that are not on disk. A header
//! written under the lock is durable once any later record of its pack is indexed (the sync
//! for that record covers the whole file), so a crash leaves headerless bytes only past a
//! pack's last indexed record. Bytes past it (a crash between the write and the commit, or a
//! write transaction dropped before commit) are garbage: [`Appender::rollback`] cuts them on
//! drop when no reservation was made since the transaction began (else it leaves them, as
//! records others reserved may lie among them), and the next open cuts what a crash left.
//! Garbage between indexed records stays until gc compacts the pack (its live bytes are less
//! than its total).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// The folder of pack files in the repo.
pub const PACK_DIR: &str = "blocks";
/// A pack passes to the next when a record would take it past this many bytes.
pub const PACK_LIMIT: u64 = 1 << 30;
/// The first bytes of every pack file.
pub const FILE_MAGIC: &[u8; 8] = b"rhzpack1";
/// The length of [`FILE_MAGIC`]: the size of an empty pack.
pub const FILE_HEADER_LEN: u64 = FILE_MAGIC.len() as u64;
/// The first byte of every record: its format.
const RECORD_MAGIC: u8 = 0xb1;
/// Records are gathered up to this many bytes before a `write` (a large block goes straight
/// from the caller's slice, with the pending bytes, in one `writev`).
const WRITE_BUFFER: usize = 1 << 20;

/// Where a block's bytes are: pack number, offset of the data in it, data length.
pub type Location = (u32, u64, u32);

/// The file name of pack `number`.
pub fn pack_name(number: u32) -> String {
    format!("{number:08}.pack")
}

/// The number of a pack file's name, `None` for any other name.
pub fn parse_pack_name(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(".pack")?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = digits.parse().ok()?;
    // Only the name `pack_name` gives (no sign, no extra leading zeros).
    (pack_name(number) == name).then_some(number)
}

/// The length of a record's header for a multihash of `key_len` bytes.
pub fn header_len(key_len: usize) -> u64 {
    1 + 1 + key_len as u64 + 4
}

/// The bytes a record of `key` with `data_len` bytes takes in its pack.
pub fn record_len(key: &[u8], data_len: u32) -> u64 {
    header_len(key.len()) + u64::from(data_len)
}

/// Why bytes are not a record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer bytes than the header needs.
    Truncated,
    /// The first byte is not a known record format.
    BadMagic(u8),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Truncated => f.write_str("truncated record header"),
            HeaderError::BadMagic(b) => {
                write!(f, "record starts with {b:#04x}, not {RECORD_MAGIC:#04x}")
            }
        }
    }
}

impl std::error::Error for HeaderError {}

/// Appends the header of a record of `key` and `data_len` bytes to `out`. `key` is a
/// multihash's bytes: at most 9 + 9 + 64 bytes, so its length fits the u8.
pub fn write_header(key: &[u8], data_len: u32, out: &mut Vec<u8>) -> std::io::Result<()> {
    let key_len =
        u8::try_from(key.len()).map_err(|_| invalid("multihash longer than 255 bytes"))?;
    out.push(RECORD_MAGIC);
    out.push(key_len);
    out.extend_from_slice(key);
    out.extend_from_slice(&data_len.to_le_bytes());
    Ok(())
}

/// Reads a record header at the start of `bytes`: (multihash, data length, header length).
pub fn parse_header(bytes: &[u8]) -> Result<(&[u8], u32, usize), HeaderError> {
    let (&magic, rest) = bytes.split_first().ok_or(HeaderError::Truncated)?;
    if magic != RECORD_MAGIC {
        return Err(HeaderError::BadMagic(magic));
    }
    let (&key_len, rest) = rest.split_first().ok_or(HeaderError::Truncated)?;
    let key = rest
        .get(..usize::from(key_len))
        .ok_or(HeaderError::Truncated)?;
    let len_bytes = rest
        .get(usize::from(key_len)..usize::from(key_len) + 4)
        .ok_or(HeaderError::Truncated)?;
    let mut len = [0u8; 4];
    len.copy_from_slice(len_bytes);
    Ok((key, u32::from_le_bytes(len), 2 + usize::from(key_len) + 4))
}

/// A buffer of `len` zero bytes for a block read, refusing lengths no block has (a damaged
/// index entry must not make a read allocate gigabytes).
pub fn block_buffer(len: u32) -> std::io::Result<Vec<u8>> {
    let len = len as usize;
    if len > rhizo_core::block::MAX_BLOCK_LEN {
        return Err(invalid("the index gives a block length over the maximum"));
    }
    Ok(vec![0u8; len])
}

fn invalid(what: &'static str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

/// One record found by [`scan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannedRecord {
    /// The block's multihash bytes.
    pub key: Vec<u8>,
    /// Offset of its data in the pack.
    pub offset: u64,
    /// Its data length.
    pub len: u32,
}

/// What [`scan`] found in a pack.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackScan {
    /// The records, in order.
    pub records: Vec<ScannedRecord>,
    /// Bytes of zeros where a record header was expected, skipped: a reserved record whose
    /// header never reached the disk (see the module documentation: only past the last
    /// indexed record, but a scan does not rely on it).
    pub zero_bytes: u64,
}

/// Reads the record headers of a pack from its start up to `end` (its indexed length), data
/// skipped, and zeros where a header should be skipped up to the next non-zero byte (no
/// record starts with a zero): the records in order, or why the pack's structure is broken at
/// some offset.
pub fn scan(file: &File, end: u64) -> Result<PackScan, String> {
    let mut magic = [0u8; FILE_MAGIC.len()];
    file.read_exact_at(&mut magic, 0)
        .map_err(|e| format!("reading its file header: {e}"))?;
    if &magic != FILE_MAGIC {
        return Err("it does not start with the pack file magic".into());
    }
    let mut found = PackScan::default();
    let mut at = FILE_HEADER_LEN;
    let mut header = [0u8; 2 + 255 + 4];
    while at < end {
        let want = header
            .len()
            .min(usize::try_from(end - at).unwrap_or(usize::MAX));
        let got = header.get_mut(..want).unwrap_or_default();
        file.read_exact_at(got, at)
            .map_err(|e| format!("reading the record header at {at}: {e}"))?;
        if got.first() == Some(&0) {
            let zeros = zeros_at(file, at, end)?;
            found.zero_bytes += zeros;
            at += zeros;
            continue;
        }
        let (key, len, hlen) = parse_header(got).map_err(|e| format!("at offset {at}: {e}"))?;
        let offset = at + hlen as u64;
        found.records.push(ScannedRecord {
            key: key.to_vec(),
            offset,
            len,
        });
        at = offset + u64::from(len);
    }
    if at != end {
        return Err(format!("its last record runs past its end ({at} > {end})"));
    }
    Ok(found)
}

/// How many zero bytes the pack has from `at` on, up to `end` (at least one: `at` is zero).
fn zeros_at(file: &File, at: u64, end: u64) -> Result<u64, String> {
    let mut block = vec![0u8; 64 * 1024];
    let mut from = at;
    while from < end {
        let want = block
            .len()
            .min(usize::try_from(end - from).unwrap_or(usize::MAX));
        let got = block.get_mut(..want).unwrap_or_default();
        file.read_exact_at(got, from)
            .map_err(|e| format!("reading the zeros at {from}: {e}"))?;
        match got.iter().position(|&b| b != 0) {
            Some(i) => return Ok(from + i as u64 - at),
            None => from += want as u64,
        }
    }
    Ok(end - at)
}

/// Read-only handles to pack files, opened on first use and kept: a read is one `pread` on a
/// shared handle, without the appender's lock. A handle kept open also keeps a pack readable
/// after gc deleted its file, for readers of an older snapshot.
#[derive(Debug)]
pub struct PackReaders {
    dir: PathBuf,
    files: RwLock<HashMap<u32, Arc<File>>>,
}

impl PackReaders {
    /// Handles to the packs in `dir`.
    pub fn new(dir: PathBuf) -> PackReaders {
        PackReaders {
            dir,
            files: RwLock::new(HashMap::new()),
        }
    }

    /// The folder of the packs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of pack `number`.
    pub fn path(&self, number: u32) -> PathBuf {
        self.dir.join(pack_name(number))
    }

    /// The handle of pack `number`, opening it if needed.
    pub fn file(&self, number: u32) -> std::io::Result<Arc<File>> {
        // A poisoned lock only means a panic elsewhere while it was held; the map is whole.
        if let Some(file) = self
            .files
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&number)
        {
            return Ok(file.clone());
        }
        let file = Arc::new(File::open(self.path(number))?);
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        Ok(files.entry(number).or_insert(file).clone())
    }

    /// Reads `out.len()` bytes of pack `number` at `offset`.
    pub fn read_at(&self, number: u32, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.file(number)?.read_exact_at(out, offset)
    }

    /// Drops the cached handle of pack `number` (its file was deleted or cut).
    pub fn forget(&self, number: u32) {
        self.files
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&number);
    }
}

/// The pack being appended to.
#[derive(Debug)]
struct OpenPack {
    number: u32,
    /// Shared with the reservations made in it, which write their data through it.
    file: Arc<File>,
    /// Its length, counting bytes still in the buffer and reserved records not yet written.
    len: u64,
    /// Whether bytes were written since its last `fdatasync`.
    unsynced: bool,
}

/// The appender's position, to go back to: see [`Appender::mark`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    current: Option<(u32, u64)>,
    next_number: u32,
    /// [`Appender::reserve`]s made before.
    reservations: u64,
}

/// Room for one record at the end of a pack, its header already written: the data goes at
/// [`Reservation::location`] with [`Reservation::write`], from any thread, without the
/// appender's lock. Dropped unwritten, it is garbage (a header and zeros) that no index names.
#[derive(Debug)]
#[must_use = "a reservation dropped unwritten is garbage in the pack"]
pub struct Reservation {
    file: Arc<File>,
    location: Location,
}

impl Reservation {
    /// Where the data goes: pack number, offset, length.
    pub fn location(&self) -> Location {
        self.location
    }

    /// Writes the record's data (`pwrite`); `data` must be as long as reserved. Returns the
    /// pack's handle (to `fdatasync` before the location is indexed) and the location.
    pub fn write(self, data: &[u8]) -> std::io::Result<(Arc<File>, Location)> {
        let (_, offset, len) = self.location;
        if data.len() != len as usize {
            return Err(invalid("the data is not as long as its reservation"));
        }
        self.file.write_all_at(data, offset)?;
        Ok((self.file, self.location))
    }
}

/// What [`Appender::take_unsynced`] hands over: packs and directory to sync.
#[derive(Debug, Default)]
pub struct Unsynced {
    /// The packs written since their last `fdatasync`.
    pub packs: Vec<(u32, Arc<File>)>,
    /// The pack folder, when a pack was created since it was last synced.
    pub dir: Option<PathBuf>,
}

impl Unsynced {
    /// `fdatasync`s the packs and the folder; on a failure, the pack number it failed on
    /// (`None`: the folder) and the error.
    pub fn sync(&self) -> Result<(), (Option<u32>, std::io::Error)> {
        for (number, file) in &self.packs {
            file.sync_data().map_err(|e| (Some(*number), e))?;
        }
        if let Some(dir) = &self.dir {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| (None, e))?;
        }
        Ok(())
    }
}

/// The owner of the packs' end: appends, and reservations for other threads; see the module
/// documentation.
#[derive(Debug)]
pub struct Appender {
    dir: PathBuf,
    limit: u64,
    current: Option<OpenPack>,
    /// The number the next new pack gets.
    next_number: u32,
    /// Bytes of the current pack not yet written: always its last bytes, from `buf_at` on
    /// (a reservation writes the buffer out first).
    buf: Vec<u8>,
    /// The offset of the buffer's first byte in the current pack.
    buf_at: u64,
    /// Packs passed from with bytes not yet synced (a batch may span packs).
    unsynced: Vec<(u32, Arc<File>)>,
    /// Whether a pack was created since the directory was last synced.
    dir_unsynced: bool,
    /// Reservations made so far (a rollback only cuts when none was made since its mark).
    reservations: u64,
}

impl Appender {
    /// An appender continuing pack `current` (its number and indexed length) if given, making
    /// new packs from `next_number` on.
    pub fn open(
        dir: &Path,
        current: Option<(u32, u64)>,
        next_number: u32,
    ) -> std::io::Result<Appender> {
        let mut appender = Appender {
            dir: dir.to_owned(),
            limit: PACK_LIMIT,
            current: None,
            next_number,
            buf: Vec::with_capacity(WRITE_BUFFER),
            buf_at: 0,
            unsynced: Vec::new(),
            dir_unsynced: false,
            reservations: 0,
        };
        if let Some((number, len)) = current {
            appender.current = Some(appender.reopen(number, len)?);
        }
        Ok(appender)
    }

    fn reopen(&self, number: u32, len: u64) -> std::io::Result<OpenPack> {
        let file = OpenOptions::new()
            .write(true)
            .open(self.dir.join(pack_name(number)))?;
        Ok(OpenPack {
            number,
            file: Arc::new(file),
            len,
            unsynced: false,
        })
    }

    /// Sets the size past which a new pack is started (tests use tiny ones).
    #[cfg(test)]
    pub fn set_limit(&mut self, limit: u64) {
        self.limit = limit;
    }

    /// The number of the pack being appended to, if any.
    pub fn current_number(&self) -> Option<u32> {
        self.current.as_ref().map(|p| p.number)
    }

    /// Where the appender is now, for [`Appender::rollback`].
    pub fn mark(&self) -> Mark {
        Mark {
            current: self.current.as_ref().map(|p| (p.number, p.len)),
            next_number: self.next_number,
            reservations: self.reservations,
        }
    }

    /// The pack a record of `record` bytes goes in: the current one, or a new one when there
    /// is none or the record would take the current one past the limit.
    fn pack_for(&mut self, record: u64) -> std::io::Result<&mut OpenPack> {
        let full = match &self.current {
            None => true,
            Some(p) => p.len > FILE_HEADER_LEN && p.len + record > self.limit,
        };
        if full {
            self.start_pack()?;
        }
        self.current
            .as_mut()
            .ok_or_else(|| invalid("no pack open after starting one"))
    }

    /// Appends a record of `key` (multihash bytes) and `data`; returns where the data is.
    pub fn append(&mut self, key: &[u8], data: &[u8]) -> std::io::Result<Location> {
        let data_len = u32::try_from(data.len()).map_err(|_| invalid("block longer than 4 GiB"))?;
        let record = record_len(key, data_len);
        let pack_len = self.pack_for(record)?.len;
        if self.buf.is_empty() {
            self.buf_at = pack_len;
        }
        let header_at = self.buf.len();
        write_header(key, data_len, &mut self.buf)?;
        let offset = pack_len + (self.buf.len() - header_at) as u64;
        let pack = self
            .current
            .as_mut()
            .ok_or_else(|| invalid("no pack open after starting one"))?;
        if self.buf.len() + data.len() <= WRITE_BUFFER {
            self.buf.extend_from_slice(data);
        } else {
            let result = write_all_vectored(&pack.file, self.buf_at, &self.buf, data);
            self.buf.clear();
            if let Err(e) = result {
                // What reached the file is unknown: start over in a new pack.
                self.current = None;
                return Err(e);
            }
        }
        pack.len += record;
        pack.unsynced = true;
        Ok((pack.number, offset, data_len))
    }

    /// Reserves room at the end for a record of `key` (multihash bytes) and `data_len` bytes,
    /// and writes its header; the data is the caller's to write, see [`Reservation`].
    pub fn reserve(&mut self, key: &[u8], data_len: u32) -> std::io::Result<Reservation> {
        let record = record_len(key, data_len);
        let mut header = Vec::with_capacity(header_len(key.len()) as usize);
        write_header(key, data_len, &mut header)?;
        // Buffered records lie before the reservation: they go out first, so that the pack
        // has no unwritten header below its end.
        self.flush()?;
        let pack = self.pack_for(record)?;
        if let Err(e) = pack.file.write_all_at(&header, pack.len) {
            // What reached the file is unknown: start over in a new pack.
            self.current = None;
            return Err(e);
        }
        let location = (pack.number, pack.len + header.len() as u64, data_len);
        pack.len += record;
        pack.unsynced = true;
        let file = pack.file.clone();
        self.reservations += 1;
        Ok(Reservation { file, location })
    }

    /// Writes out the buffer, so that readers of the files see every appended record.
    pub fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = match &self.current {
            Some(pack) => pack.file.write_all_at(&self.buf, self.buf_at),
            None => Ok(()),
        };
        self.buf.clear();
        if result.is_err() {
            self.current = None;
        }
        result
    }

    /// Writes out the buffer and hands over what must be synced to make everything appended
    /// so far durable: the packs written since their last `fdatasync`, and whether the
    /// directory needs one (a pack was created). The caller syncs them without the lock, so
    /// reservations go on meanwhile; if that fails, it gives them back with
    /// [`Appender::resync`].
    pub fn take_unsynced(&mut self) -> std::io::Result<Unsynced> {
        self.flush()?;
        let mut packs: Vec<(u32, Arc<File>)> = self.unsynced.drain(..).collect();
        if let Some(pack) = &mut self.current
            && pack.unsynced
        {
            pack.unsynced = false;
            packs.push((pack.number, pack.file.clone()));
        }
        let dir = std::mem::take(&mut self.dir_unsynced);
        Ok(Unsynced {
            packs,
            dir: dir.then(|| self.dir.clone()),
        })
    }

    /// Takes back what a failed sync of [`Appender::take_unsynced`] left undone.
    pub fn resync(&mut self, unsynced: Unsynced) {
        self.dir_unsynced |= unsynced.dir.is_some();
        self.unsynced.extend(unsynced.packs);
    }

    /// Ends the current pack and creates the next one.
    pub fn start_pack(&mut self) -> std::io::Result<()> {
        self.flush()?;
        if let Some(old) = self.current.take()
            && old.unsynced
        {
            self.unsynced.push((old.number, old.file));
        }
        let number = self.next_number;
        let next = number
            .checked_add(1)
            .ok_or_else(|| invalid("no pack numbers left"))?;
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.dir.join(pack_name(number)))?;
        self.next_number = next;
        self.dir_unsynced = true;
        file.write_all(FILE_MAGIC)?;
        self.current = Some(OpenPack {
            number,
            file: Arc::new(file),
            len: FILE_HEADER_LEN,
            unsynced: true,
        });
        Ok(())
    }

    /// Goes back to `mark`: drops the buffer, deletes the packs created since and cuts the
    /// pack that was current back to its length then. Returns the packs deleted or cut (their
    /// cached read handles are stale). On a failure the appender starts a new pack next time,
    /// and what is left is garbage the next open removes.
    ///
    /// When records were reserved since `mark`, some may be another import's, still to be
    /// indexed: then only the buffer (past every reservation) is dropped, and the bytes
    /// written since stay, garbage for gc's compaction or the next open.
    pub fn rollback(&mut self, mark: Mark) -> Vec<u32> {
        if self.reservations != mark.reservations {
            if let Some(pack) = &mut self.current
                && !self.buf.is_empty()
            {
                pack.len = self.buf_at;
            }
            self.buf.clear();
            return Vec::new();
        }
        self.buf.clear();
        self.unsynced.clear();
        let mut touched = Vec::new();
        for number in mark.next_number..self.next_number {
            let _ = std::fs::remove_file(self.dir.join(pack_name(number)));
            touched.push(number);
        }
        self.next_number = mark.next_number.max(self.next_number);
        self.current = None;
        if let Some((number, len)) = mark.current {
            touched.push(number);
            let cut = OpenOptions::new()
                .write(true)
                .open(self.dir.join(pack_name(number)))
                .and_then(|f| f.set_len(len))
                .and_then(|()| self.reopen(number, len));
            match cut {
                Ok(pack) => {
                    self.current = Some(pack);
                    // Packs deleted above may be made again with their numbers.
                    self.next_number = mark.next_number;
                }
                Err(e) => tracing::warn!(
                    "cannot cut pack {} back to {len} bytes ({e}): continuing in a new pack",
                    pack_name(number)
                ),
            }
        } else {
            self.next_number = mark.next_number;
        }
        touched
    }
}

/// `write_all` of `head` then `tail` at `at` with `writev`: one system call for a block and
/// the record header (and smaller records) before it, without copying the block. Moves the
/// file's cursor, which only the appender uses (reservations write with `pwrite`).
fn write_all_vectored(file: &File, at: u64, head: &[u8], tail: &[u8]) -> std::io::Result<()> {
    let mut file = file;
    file.seek(SeekFrom::Start(at))?;
    let mut slices = [IoSlice::new(head), IoSlice::new(tail)];
    let mut slices: &mut [IoSlice<'_>] = &mut slices;
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WriteZero,
                    "failed to write the whole record",
                ));
            }
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
