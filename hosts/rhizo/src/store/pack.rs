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
//! One [`Appender`] (behind a mutex in the store) writes; it is only used inside a redb write
//! transaction, which redb hands out one at a time, so the mutex is never contended by two
//! writers. Readers go through [`PackReaders`], a cache of read-only handles, and never take the
//! appender's lock.
//!
//! Durability: [`Appender::sync`] writes out the buffer and `fdatasync`s every pack written
//! since the last sync (and the directory when a pack was created), and the store calls it
//! before the redb commit that indexes those bytes, so the index never points at bytes that are
//! not on disk. Bytes past a pack's last indexed record (a crash between the two, or a write
//! transaction dropped before commit) are garbage: [`Appender::rollback`] cuts them on drop,
//! and the next open cuts what a crash left.

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

/// Reads the record headers of a pack from its start up to `end` (its indexed length), data
/// skipped: the records in order, or why the pack's structure is broken at some offset.
pub fn scan(file: &File, end: u64) -> Result<Vec<ScannedRecord>, String> {
    let mut magic = [0u8; FILE_MAGIC.len()];
    file.read_exact_at(&mut magic, 0)
        .map_err(|e| format!("reading its file header: {e}"))?;
    if &magic != FILE_MAGIC {
        return Err("it does not start with the pack file magic".into());
    }
    let mut records = Vec::new();
    let mut at = FILE_HEADER_LEN;
    let mut header = [0u8; 2 + 255 + 4];
    while at < end {
        let want = header
            .len()
            .min(usize::try_from(end - at).unwrap_or(usize::MAX));
        let got = header.get_mut(..want).unwrap_or_default();
        file.read_exact_at(got, at)
            .map_err(|e| format!("reading the record header at {at}: {e}"))?;
        let (key, len, hlen) = parse_header(got).map_err(|e| format!("at offset {at}: {e}"))?;
        let offset = at + hlen as u64;
        records.push(ScannedRecord {
            key: key.to_vec(),
            offset,
            len,
        });
        at = offset + u64::from(len);
    }
    if at != end {
        return Err(format!("its last record runs past its end ({at} > {end})"));
    }
    Ok(records)
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
    file: File,
    /// Its length, counting bytes still in the buffer.
    len: u64,
    /// Whether bytes were written since its last `fdatasync`.
    unsynced: bool,
}

/// The appender's position, to go back to: see [`Appender::mark`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    current: Option<(u32, u64)>,
    next_number: u32,
}

/// The one writer of pack files; see the module documentation.
#[derive(Debug)]
pub struct Appender {
    dir: PathBuf,
    limit: u64,
    current: Option<OpenPack>,
    /// The number the next new pack gets.
    next_number: u32,
    /// Bytes of the current pack not yet written.
    buf: Vec<u8>,
    /// Packs passed from with bytes not yet synced (a batch may span packs).
    unsynced: Vec<File>,
    /// Whether a pack was created since the directory was last synced.
    dir_unsynced: bool,
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
            unsynced: Vec::new(),
            dir_unsynced: false,
        };
        if let Some((number, len)) = current {
            appender.current = Some(appender.reopen(number, len)?);
        }
        Ok(appender)
    }

    fn reopen(&self, number: u32, len: u64) -> std::io::Result<OpenPack> {
        let mut file = OpenOptions::new()
            .write(true)
            .open(self.dir.join(pack_name(number)))?;
        file.seek(SeekFrom::Start(len))?;
        Ok(OpenPack {
            number,
            file,
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
        }
    }

    /// Appends a record of `key` (multihash bytes) and `data`; returns where the data is.
    pub fn append(&mut self, key: &[u8], data: &[u8]) -> std::io::Result<Location> {
        let data_len = u32::try_from(data.len()).map_err(|_| invalid("block longer than 4 GiB"))?;
        let record = record_len(key, data_len);
        let full = match &self.current {
            None => true,
            Some(p) => p.len > FILE_HEADER_LEN && p.len + record > self.limit,
        };
        if full {
            self.start_pack()?;
        }
        let header_at = self.buf.len();
        write_header(key, data_len, &mut self.buf)?;
        let pack = self
            .current
            .as_mut()
            .ok_or_else(|| invalid("no pack open after starting one"))?;
        let offset = pack.len + (self.buf.len() - header_at) as u64;
        if self.buf.len() + data.len() <= WRITE_BUFFER {
            self.buf.extend_from_slice(data);
        } else {
            let result = write_all_vectored(&mut pack.file, &self.buf, data);
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

    /// Writes out the buffer, so that readers of the files see every appended record.
    pub fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = match &mut self.current {
            Some(pack) => pack.file.write_all(&self.buf),
            None => Ok(()),
        };
        self.buf.clear();
        if result.is_err() {
            self.current = None;
        }
        result
    }

    /// Makes everything appended so far durable: writes the buffer, `fdatasync`s the packs
    /// written, and the directory if a pack was created.
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.flush()?;
        for file in self.unsynced.drain(..) {
            file.sync_data()?;
        }
        if let Some(pack) = &mut self.current
            && pack.unsynced
        {
            pack.file.sync_data()?;
            pack.unsynced = false;
        }
        if self.dir_unsynced {
            File::open(&self.dir)?.sync_all()?;
            self.dir_unsynced = false;
        }
        Ok(())
    }

    /// Ends the current pack and creates the next one.
    pub fn start_pack(&mut self) -> std::io::Result<()> {
        self.flush()?;
        if let Some(old) = self.current.take()
            && old.unsynced
        {
            self.unsynced.push(old.file);
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
            file,
            len: FILE_HEADER_LEN,
            unsynced: true,
        });
        Ok(())
    }

    /// Goes back to `mark`: drops the buffer, deletes the packs created since and cuts the
    /// pack that was current back to its length then. Returns the packs deleted or cut (their
    /// cached read handles are stale). On a failure the appender starts a new pack next time,
    /// and what is left is garbage the next open removes.
    pub fn rollback(&mut self, mark: Mark) -> Vec<u32> {
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

/// `write_all` of `head` then `tail` with `writev`: one system call for a block and the
/// record header (and smaller records) before it, without copying the block.
fn write_all_vectored(file: &mut File, head: &[u8], tail: &[u8]) -> std::io::Result<()> {
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
