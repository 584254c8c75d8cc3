//! Files and directories in the repo: `add` (core's UnixFS importer into the store), `cat` and
//! `get` (core's exporter and directory lister out of it, fetching missing blocks over Bitswap
//! when a daemon runs).
//!
//! Imports commit every [`BATCH_BYTES`] and pin the root in the last commit, holding the
//! store's gc guard meanwhile: a crash leaves at worst unpinned blocks, which `repo gc` removes.
//! Exports read one block at a time (a buffer of [`MAX_BLOCK_LEN`]) and copy entry names out
//! of the DAG only after checking them (no `/`, `.`, `..`: a DAG cannot write outside the
//! output directory).
//!
//! Symlinks are stored as UnixFS symlink nodes, as kubo stores them (never followed). `get`
//! recreates a symlink only when its target stays inside the directory being written (a
//! relative path whose `..` never climbs above it); any other is skipped with a warning, so a
//! DAG cannot make `get` write a link to `/etc` or `../..`. `cat` of a symlink is an error.
//!
//! `cat` and `get` take paths: `CID`, `CID/a/b.txt`, `/ipfs/CID/a/b.txt` ([`parse_path`]),
//! resolved through plain and HAMT-sharded directories one name at a time ([`resolve`]).

use crate::api::ops::{OpError, OpResult};
use crate::exchange::Exchange;
use crate::import_pipeline;
use crate::store::{Batch, PinMode, Store, WrittenBlock};
use rhizo_core::block::{Block, MAX_BLOCK_LEN};
use rhizo_core::cid::{Cid, Version};
use rhizo_core::unixfs::symlink::{symlink_node, target_stays_inside};
use rhizo_core::unixfs::{
    BlockSource, DirectoryBuilder, DirectoryLister, ExportError, FileExporter, ImportedBlock,
    ImportedNode, ImporterConfig, NodeInfo, NodeKind, find_entry,
};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::sync::RwLockReadGuard;
use std::time::Duration;

/// Bytes of blocks per store transaction during an import. Each commit costs a durable write
/// (redb's commit; with pack files, a pack fdatasync and an index commit), so fewer, larger
/// batches are faster, while a crash loses at most one batch of unpinned blocks to redo and
/// the batch's index updates are held in memory until the commit (256 entries of 16 bytes
/// with 256 KiB blocks).
///
/// # Q&A
/// *Why 64 MiB?* Measured on the disk (`rhizo add` of 1 GiB, ext4 on a virtual disk, 2
/// cores, six runs each, BENCHMARKS.md): median 2.4 s (CIDv1) / 2.7 s (CIDv0) with 8 MiB
/// batches, 1.9 / 2.0 s with 32 MiB, 1.6 / 1.9 s with 64 MiB. On tmpfs a commit costs
/// little either way.
pub const BATCH_BYTES: usize = 64 << 20;
/// Bytes the workers write between early flushes of the packs: the disk writes a batch back
/// while the next bytes are hashed, rather than all at once in the batch's commit.
pub const WRITEBACK_BYTES: usize = 8 << 20;
/// The exporter's stack: DAGs up to this deep (a kubo file needs 4 levels up to 1.3 TB).
const DEPTH: usize = 16;

/// One line of `add`'s answer, in kubo's shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddedEntry {
    /// The path added.
    pub name: String,
    /// Its CID.
    pub hash: String,
    /// The cumulative size of its DAG, as a decimal string (kubo's).
    pub size: String,
}

/// The importer settings from `add`'s options (kubo's names): `cid_version` 0 or 1,
/// `raw_leaves` (default: true with CIDv1, as kubo), `chunker` `size-<bytes>`.
pub fn importer_config(
    cid_version: u64,
    raw_leaves: Option<bool>,
    chunker: Option<&str>,
) -> OpResult<ImporterConfig> {
    let mut config = ImporterConfig::kubo();
    config.cid_version = match cid_version {
        0 => Version::V0,
        1 => Version::V1,
        v => return Err(OpError::client(format!("cid-version {v}: use 0 or 1"))),
    };
    config.raw_leaves = raw_leaves.unwrap_or(cid_version == 1);
    if let Some(text) = chunker {
        let size = text
            .strip_prefix("size-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                OpError::client(format!(
                    "chunker `{text}`: rhizo supports fixed-size chunks only, e.g. size-262144"
                ))
            })?;
        config.chunk_size = size;
    }
    config
        .validate()
        .map_err(|e| OpError::client(e.to_string()))?;
    Ok(config)
}

/// An import in progress; see the module documentation.
pub struct Import<'s> {
    store: &'s Store,
    batch: Option<Batch<'s>>,
    batch_bytes: usize,
    config: ImporterConfig,
    pin: bool,
    tree: Option<DirectoryBuilder>,
    single: Option<(String, ImportedNode)>,
    entries: Vec<AddedEntry>,
    /// The early flush of the packs (see [`WRITEBACK_BYTES`]), at most one at a time.
    writeback: Option<std::thread::JoinHandle<()>>,
    /// Bytes written by the workers since the last early flush began.
    unflushed: usize,
    _gc: RwLockReadGuard<'s, ()>,
}

impl std::fmt::Debug for Import<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Import")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<'s> Import<'s> {
    /// An import into `store`; the root is pinned recursively at the end when `pin`.
    pub fn new(store: &'s Store, config: ImporterConfig, pin: bool) -> Import<'s> {
        Import {
            _gc: store.gc_guard(),
            store,
            batch: None,
            batch_bytes: 0,
            writeback: None,
            unflushed: 0,
            config,
            pin,
            tree: None,
            single: None,
            entries: Vec::new(),
        }
    }

    /// Puts a directory block (a file's blocks come as [`Block`]s: [`Import::put_block`]).
    fn put(&mut self, block: &ImportedBlock) -> OpResult<()> {
        let checked = Block::verify(block.cid, &block.data)
            .map_err(|e| OpError::server(format!("the importer made a bad block: {e}")))?;
        self.put_block(checked, None)
    }

    /// Stores `block` in the open batch, or only indexes it when a worker wrote it (`written`),
    /// committing every [`BATCH_BYTES`].
    fn put_block(&mut self, block: Block<'_>, written: Option<WrittenBlock>) -> OpResult<()> {
        let batch = match &mut self.batch {
            Some(b) => b,
            None => self.batch.insert(self.store.batch()?),
        };
        match written {
            Some(written) => {
                self.unflushed += block.data().len();
                let idle = self.writeback.as_ref().is_none_or(|w| w.is_finished());
                if self.unflushed >= WRITEBACK_BYTES && idle {
                    self.unflushed = 0;
                    // Without a thread the commit simply flushes everything itself.
                    self.writeback = written.start_writeback().ok();
                }
                batch.insert_written(written)?
            }
            None => batch.insert(block)?,
        };
        self.batch_bytes += block.data().len();
        if self.batch_bytes >= BATCH_BYTES {
            self.batch_bytes = 0;
            if let Some(b) = self.batch.take() {
                b.commit()?;
            }
        }
        Ok(())
    }

    fn tree(&mut self) -> &mut DirectoryBuilder {
        let version = self.config.cid_version;
        self.tree
            .get_or_insert_with(|| DirectoryBuilder::new(version))
    }

    /// Imports one file from `reader`; `path` is its name, `/`-separated under a directory
    /// being added. `progress` hears the bytes read so far. Files of three chunks or more
    /// are hashed, and their leaves written into the packs, on several cores
    /// ([`crate::import_pipeline`]).
    pub fn file(
        &mut self,
        path: &str,
        reader: &mut dyn Read,
        progress: &mut dyn FnMut(u64),
    ) -> OpResult<ImportedNode> {
        let config = self.config;
        // Used under the gc guard this import holds, as `PackWriter` asks.
        let writer = self.store.pack_writer();
        let node = import_pipeline::import_file(
            config,
            import_pipeline::workers(),
            (path, reader),
            progress,
            &writer,
            &mut |b, written| self.put_block(b, written),
        )?;
        self.entries.push(entry(path, &node));
        if path.contains('/') || self.tree.is_some() {
            let tree = self.tree();
            tree.add(path, node)
                .map_err(|e| OpError::client(e.to_string()))?;
        } else if self.single.is_some() {
            return Err(OpError::client(
                "several files without a directory: add a directory (-r) instead",
            ));
        } else {
            self.single = Some((path.to_owned(), node));
        }
        Ok(node)
    }

    /// Adds a directory at `path` (`/`-separated), empty unless files are added under it.
    pub fn directory(&mut self, path: &str) -> OpResult<()> {
        if let Some((name, node)) = self.single.take() {
            self.tree()
                .add(&name, node)
                .map_err(|e| OpError::client(e.to_string()))?;
        }
        self.tree()
            .add_directory(path)
            .map_err(|e| OpError::client(e.to_string()))
    }

    /// Adds a symlink at `path` (`/`-separated, under a directory being added) pointing at
    /// `target`, as a UnixFS symlink node.
    pub fn symlink(&mut self, path: &str, target: &[u8]) -> OpResult<ImportedNode> {
        if !path.contains('/') && self.tree.is_none() {
            return Err(OpError::client(format!(
                "{path}: a symlink is added only inside a directory (-r)"
            )));
        }
        let (block, node) = symlink_node(self.config.cid_version, target);
        self.put(&block)?;
        self.entries.push(entry(path, &node));
        self.tree()
            .add(path, node)
            .map_err(|e| OpError::client(e.to_string()))?;
        Ok(node)
    }

    /// Builds the directories, pins the root, commits; returns an entry for each file and
    /// directory, the root last.
    pub fn finish(mut self) -> OpResult<Vec<AddedEntry>> {
        let root = match (self.tree.take(), self.single.take()) {
            (Some(tree), _) => {
                let mut dirs: Vec<(String, ImportedNode)> = Vec::new();
                let mut blocks = Vec::new();
                tree.finish_with(
                    &mut |b| {
                        blocks.push(b);
                        Ok::<(), OpError>(())
                    },
                    &mut |path, node| dirs.push((path.to_owned(), *node)),
                )
                .map_err(|e| OpError::server(format!("building the directories: {e:?}")))?;
                // The top directory is the root when everything is under one (`add -r dir`):
                // the wrapper around it is then not stored.
                let top: Vec<&(String, ImportedNode)> = dirs
                    .iter()
                    .filter(|(p, _)| !p.is_empty() && !p.contains('/'))
                    .collect();
                let single_top =
                    top.len() == 1 && self.entries.iter().all(|e| e.name.contains('/'));
                let root_path = if single_top {
                    top[0].0.clone()
                } else {
                    String::new()
                };
                let wrapper = dirs.iter().find(|(p, _)| p.is_empty()).map(|(_, n)| n.cid);
                for b in &blocks {
                    let only_wrapper = Some(b.cid) == wrapper
                        && !dirs.iter().any(|(p, n)| !p.is_empty() && n.cid == b.cid);
                    if !(single_top && only_wrapper) {
                        self.put(b)?;
                    }
                }
                let mut root = None;
                for (path, node) in &dirs {
                    if path.is_empty() && single_top {
                        continue;
                    }
                    self.entries.push(entry(path, node));
                    if *path == root_path {
                        root = Some(*node);
                    }
                }
                root.ok_or_else(|| OpError::server("the import made no root directory"))?
            }
            (None, Some((_, node))) => node,
            (None, None) => return Err(OpError::client("nothing to add")),
        };
        let mut batch = match self.batch.take() {
            Some(b) => b,
            None => self.store.batch()?,
        };
        if self.pin {
            batch.pin(&root.cid, PinMode::Recursive)?;
        }
        batch.commit()?;
        Ok(self.entries)
    }
}

fn entry(path: &str, node: &ImportedNode) -> AddedEntry {
    AddedEntry {
        name: path.to_owned(),
        hash: node.cid.to_string(),
        size: node.tsize.to_string(),
    }
}

/// Fetches missing blocks for an export: the daemon's Bitswap, driven from a blocking thread.
#[derive(Clone, Debug)]
pub struct Fetcher {
    /// The daemon's Bitswap.
    pub exchange: Exchange,
    /// The runtime it runs on.
    pub runtime: tokio::runtime::Handle,
    /// How long one block may take.
    pub timeout: Duration,
}

/// Where an export reads blocks: the store, then Bitswap when a [`Fetcher`] is given.
#[derive(Debug)]
pub struct Source<'a> {
    /// The repo's store.
    pub store: &'a Store,
    /// Bitswap, in a daemon.
    pub fetcher: Option<Fetcher>,
}

impl BlockSource for Source<'_> {
    type Error = OpError;

    fn read_block(&mut self, cid: &Cid, out: &mut [u8]) -> OpResult<Option<usize>> {
        let mut data = self.store.get(cid)?;
        if data.is_none()
            && let Some(f) = &self.fetcher
        {
            f.runtime
                .block_on(f.exchange.fetch(*cid, f.timeout))
                .map_err(|e| OpError::server(format!("cannot fetch {cid}: {e}")))?;
            data = self.store.get(cid)?;
        }
        let Some(data) = data else {
            return Ok(None);
        };
        let dst = out
            .get_mut(..data.len())
            .ok_or_else(|| OpError::server(format!("block {cid} is too large")))?;
        dst.copy_from_slice(&data);
        Ok(Some(data.len()))
    }

    /// The store takes only blocks proven against their CIDs (Bitswap's are checked by the
    /// engine before they are stored), so exports do not hash them a second time.
    fn verified_on_store(&self) -> bool {
        true
    }
}

/// What an export writes to: a byte stream (`cat`), a tar archive (`get` over the API), the
/// file system (`get` on the repo).
pub trait Sink {
    /// A directory at `path` (`/`-separated, the root's name first).
    fn directory(&mut self, path: &str) -> OpResult<()>;
    /// A file of `size` bytes at `path`; its bytes follow in [`Sink::data`].
    fn file(&mut self, path: &str, size: u64) -> OpResult<()>;
    /// Bytes of the current file.
    fn data(&mut self, bytes: &[u8]) -> OpResult<()>;
    /// The current file is complete.
    fn end_file(&mut self) -> OpResult<()>;
    /// A symlink at `path` to `target`, which [`export`] checked stays inside the output.
    fn symlink(&mut self, path: &str, target: &str) -> OpResult<()>;
}

/// A name from a directory, checked to be one path component.
fn safe_name(name: &[u8]) -> OpResult<&str> {
    match std::str::from_utf8(name) {
        Ok(n) if !n.is_empty() && n != "." && n != ".." && !n.contains(['/', '\\', '\0']) => Ok(n),
        _ => Err(OpError::server(format!(
            "the DAG holds an entry named {:?}, which is not a valid file name",
            String::from_utf8_lossy(name)
        ))),
    }
}

/// What `cid` is (file or directory) and, for files, its size.
pub fn node_kind(source: &mut Source<'_>, cid: &Cid) -> OpResult<(NodeKind, Option<u64>)> {
    let mut buf = vec![0u8; MAX_BLOCK_LEN];
    let len = source
        .read_block(cid, &mut buf)?
        .ok_or_else(|| OpError::client(format!("block {cid} is not in the repo")))?;
    let info = NodeInfo::parse(cid, &buf[..len])
        .map_err(|e| OpError::client(format!("{cid} is not a UnixFS file or directory: {e}")))?;
    Ok((info.kind, info.file_size))
}

/// Why a path inside a DAG does not resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathError {
    /// Not `CID[/name...]` or `/ipfs/CID[/name...]`, or a `.`/`..` component.
    Invalid(String),
    /// A directory on the path has no entry of that name (the path up to it).
    NotFound(String),
    /// A component names a file or symlink, not a directory (the path up to it).
    NotADirectory(String),
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathError::Invalid(p) => write!(
                f,
                "`{p}` is not a path: give CID, CID/name/... or /ipfs/CID/name/..."
            ),
            PathError::NotFound(p) => write!(f, "no such file or directory: {p}"),
            PathError::NotADirectory(p) => {
                write!(f, "{p} is not a directory: a path cannot go through it")
            }
        }
    }
}

impl std::error::Error for PathError {}

impl From<PathError> for OpError {
    fn from(e: PathError) -> Self {
        OpError::client(e.to_string())
    }
}

/// Splits `CID/a/b`, `/ipfs/CID/a/b` (or `ipfs/...`) into the CID and the names under it.
pub fn parse_path(text: &str) -> OpResult<(Cid, Vec<String>)> {
    let trimmed = text.trim();
    let rest = trimmed
        .strip_prefix("/ipfs/")
        .or_else(|| trimmed.strip_prefix("ipfs/"))
        .unwrap_or(trimmed);
    let mut parts = rest.split('/').filter(|p| !p.is_empty());
    let cid = parts
        .next()
        .ok_or_else(|| PathError::Invalid(text.to_owned()))?;
    let cid = crate::api::ops::parse_cid(cid)?;
    let names: Vec<String> = parts.map(str::to_owned).collect();
    if names.iter().any(|n| n == "." || n == "..") {
        return Err(PathError::Invalid(text.to_owned()).into());
    }
    Ok((cid, names))
}

/// The name `get` gives a path's output by default: its last name, or the CID.
pub fn path_base_name(text: &str) -> OpResult<String> {
    let (cid, names) = parse_path(text)?;
    Ok(names.last().cloned().unwrap_or_else(|| cid.to_string()))
}

/// The CID at `names` under `root`, through plain and HAMT directories.
pub fn resolve(source: &mut Source<'_>, root: Cid, names: &[String]) -> OpResult<Cid> {
    let mut buf = vec![0u8; MAX_BLOCK_LEN];
    let mut cid = root;
    let mut path = root.to_string();
    for name in names {
        let found = match find_entry(&mut *source, cid, name.as_bytes(), &mut buf) {
            Ok(found) => found,
            Err(ExportError::NotADirectory(..)) => {
                return Err(PathError::NotADirectory(path).into());
            }
            Err(ExportError::Source(e)) => return Err(e),
            Err(e) => return Err(OpError::server(format!("resolving {path}/{name}: {e}"))),
        };
        path = format!("{path}/{name}");
        cid = found.ok_or_else(|| PathError::NotFound(path.clone()))?.cid;
    }
    Ok(cid)
}

/// A symlink node's target.
fn symlink_target(source: &mut Source<'_>, cid: &Cid) -> OpResult<Vec<u8>> {
    let mut buf = vec![0u8; MAX_BLOCK_LEN];
    let len = source
        .read_block(cid, &mut buf)?
        .ok_or_else(|| OpError::client(format!("block {cid} is not in the repo")))?;
    let info =
        NodeInfo::parse(cid, &buf[..len]).map_err(|e| OpError::client(format!("{cid}: {e}")))?;
    Ok(info.data.and_then(|d| d.data()).unwrap_or(&[]).to_vec())
}

/// Exports the DAG under `root` to `sink`, the root named `name`.
pub fn export(source: &mut Source<'_>, root: Cid, name: &str, sink: &mut dyn Sink) -> OpResult<()> {
    let mut buf = vec![0u8; MAX_BLOCK_LEN];
    // Each entry with its depth: 0 for the root, 1 for the root's entries...
    let mut pending = vec![(name.to_owned(), root, 0usize)];
    while let Some((path, cid, depth)) = pending.pop() {
        let (kind, size) = node_kind(source, &cid)?;
        match kind {
            NodeKind::RawLeaf | NodeKind::File => {
                sink.file(&path, size.unwrap_or(0))?;
                let mut exporter = FileExporter::<DEPTH>::new(cid);
                while let Some(chunk) = exporter
                    .next_chunk(&mut *source, &mut buf)
                    .map_err(|e| OpError::server(format!("exporting {path}: {e}")))?
                {
                    sink.data(chunk)?;
                }
                sink.end_file()?;
            }
            NodeKind::Directory | NodeKind::HamtShard => {
                sink.directory(&path)?;
                let mut lister = DirectoryLister::<DEPTH>::new(cid);
                let mut children = Vec::new();
                while let Some(entry) = lister
                    .next_entry(&mut *source, &mut buf)
                    .map_err(|e| OpError::server(format!("listing {path}: {e}")))?
                {
                    let child = format!("{path}/{}", safe_name(entry.name)?);
                    children.push((child, entry.cid, depth + 1));
                }
                // Popped from the end: push in reverse for name order.
                pending.extend(children.into_iter().rev());
            }
            NodeKind::Symlink => {
                let target = symlink_target(source, &cid)?;
                let shown = String::from_utf8_lossy(&target);
                if depth == 0 {
                    return Err(OpError::client(format!(
                        "{path} is a symlink (to {shown:?}): cat and get read files and \
                         directories, and write symlinks only inside a directory"
                    )));
                }
                // The link's own directory is `depth - 1` levels below the output.
                match std::str::from_utf8(&target) {
                    Ok(t) if target_stays_inside(depth - 1, &target) => sink.symlink(&path, t)?,
                    _ => tracing::warn!(
                        %path, target = %shown,
                        "skipping a symlink that points outside the output directory"
                    ),
                }
            }
            NodeKind::Metadata => {
                tracing::warn!(%path, "skipping a metadata node");
            }
        }
    }
    Ok(())
}

/// `cat`: a file's bytes to a writer.
#[derive(Debug)]
pub struct CatSink<W: Write>(pub W);

impl<W: Write> Sink for CatSink<W> {
    fn directory(&mut self, path: &str) -> OpResult<()> {
        Err(OpError::client(format!(
            "{path} is a directory: use `get` for directories"
        )))
    }

    fn file(&mut self, _path: &str, _size: u64) -> OpResult<()> {
        Ok(())
    }

    fn data(&mut self, bytes: &[u8]) -> OpResult<()> {
        self.0
            .write_all(bytes)
            .map_err(|e| OpError::server(format!("writing the output: {e}")))
    }

    fn end_file(&mut self) -> OpResult<()> {
        Ok(())
    }

    fn symlink(&mut self, path: &str, target: &str) -> OpResult<()> {
        Err(OpError::client(format!(
            "{path} is a symlink (to {target:?}), not a file"
        )))
    }
}

/// `get` over the API: a tar archive (as kubo's), the root entry named by its CID.
#[derive(Debug)]
pub struct TarSink<W: Write> {
    out: W,
    written: u64,
}

impl<W: Write> TarSink<W> {
    /// A tar writer over `out`.
    pub fn new(out: W) -> Self {
        TarSink { out, written: 0 }
    }

    fn write(&mut self, bytes: &[u8]) -> OpResult<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| OpError::server(format!("writing the archive: {e}")))
    }

    fn header(&mut self, path: &str, size: u64, kind: tar::EntryType) -> OpResult<()> {
        let mut header = tar::Header::new_ustar();
        header
            .set_path(path)
            .map_err(|e| OpError::server(format!("{path}: {e}")))?;
        header.set_size(size);
        header.set_entry_type(kind);
        header.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        header.set_cksum();
        self.write(header.as_bytes())
    }

    /// Ends the archive (two empty records).
    pub fn finish(mut self) -> OpResult<W> {
        self.write(&[0u8; 1024])?;
        Ok(self.out)
    }
}

impl<W: Write> Sink for TarSink<W> {
    fn directory(&mut self, path: &str) -> OpResult<()> {
        self.header(&format!("{path}/"), 0, tar::EntryType::Directory)
    }

    fn file(&mut self, path: &str, size: u64) -> OpResult<()> {
        self.written = 0;
        self.header(path, size, tar::EntryType::Regular)
    }

    fn data(&mut self, bytes: &[u8]) -> OpResult<()> {
        self.written += bytes.len() as u64;
        self.write(bytes)
    }

    fn end_file(&mut self) -> OpResult<()> {
        let pad = (512 - (self.written % 512) as usize) % 512;
        self.write(&vec![0u8; pad])
    }

    fn symlink(&mut self, path: &str, target: &str) -> OpResult<()> {
        let mut header = tar::Header::new_ustar();
        header
            .set_path(path)
            .map_err(|e| OpError::server(format!("{path}: {e}")))?;
        header
            .set_link_name(target)
            .map_err(|e| OpError::server(format!("{path} -> {target}: {e}")))?;
        header.set_size(0);
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_cksum();
        self.write(header.as_bytes())
    }
}

/// `get` on the file system: the root becomes `path` itself.
#[derive(Debug)]
pub struct FsSink {
    file: Option<std::fs::File>,
    /// Bytes written, for progress.
    pub written: u64,
}

impl FsSink {
    /// A sink writing under the paths it is given.
    pub fn new() -> Self {
        FsSink {
            file: None,
            written: 0,
        }
    }
}

impl Default for FsSink {
    fn default() -> Self {
        Self::new()
    }
}

impl Sink for FsSink {
    fn directory(&mut self, path: &str) -> OpResult<()> {
        std::fs::create_dir_all(path)
            .map_err(|e| OpError::server(format!("cannot create {path}: {e}")))
    }

    fn file(&mut self, path: &str, _size: u64) -> OpResult<()> {
        let file = std::fs::File::create(path)
            .map_err(|e| OpError::server(format!("cannot create {path}: {e}")))?;
        self.file = Some(file);
        Ok(())
    }

    fn data(&mut self, bytes: &[u8]) -> OpResult<()> {
        self.written += bytes.len() as u64;
        match &mut self.file {
            Some(f) => f
                .write_all(bytes)
                .map_err(|e| OpError::server(format!("writing: {e}"))),
            None => Ok(()),
        }
    }

    fn end_file(&mut self) -> OpResult<()> {
        if let Some(f) = self.file.take() {
            f.sync_all()
                .map_err(|e| OpError::server(format!("writing: {e}")))?;
        }
        Ok(())
    }

    fn symlink(&mut self, path: &str, target: &str) -> OpResult<()> {
        make_symlink(target, path)
    }
}

/// Creates a symlink at `path` to `target` (on Unix; elsewhere skipped with a warning).
pub fn make_symlink(target: &str, path: &str) -> OpResult<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(target, path)
            .map_err(|e| OpError::server(format!("cannot create the symlink {path}: {e}")))
    }
    #[cfg(not(unix))]
    {
        tracing::warn!(%path, %target, "skipping a symlink: not supported on this system");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn importer_settings_follow_kubo() {
        let v0 = importer_config(0, None, None).unwrap();
        assert_eq!(v0, ImporterConfig::kubo());
        let v1 = importer_config(1, None, Some("size-1048576")).unwrap();
        assert!(v1.raw_leaves);
        assert_eq!(v1.chunk_size, 1_048_576);
        assert!(!importer_config(1, Some(false), None).unwrap().raw_leaves);
        assert!(importer_config(2, None, None).is_err());
        assert!(importer_config(0, None, Some("rabin")).is_err());
        assert!(importer_config(0, None, Some("size-0")).is_err());
        assert!(importer_config(0, None, Some("size-99999999")).is_err());
    }

    #[test]
    fn names_from_a_dag_stay_inside_the_output() {
        assert_eq!(safe_name(b"photo.jpg").unwrap(), "photo.jpg");
        for bad in [&b""[..], b".", b"..", b"a/b", b"..\\x", b"nul\0", b"\xff"] {
            assert!(safe_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_tree_round_trips_through_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut import = Import::new(&store, ImporterConfig::kubo(), true);
        import.directory("top/empty").unwrap();
        import
            .file("top/a.txt", &mut &b"alpha"[..], &mut |_| {})
            .unwrap();
        import
            .file("top/sub/b.bin", &mut &vec![7u8; 300_000][..], &mut |_| {})
            .unwrap();
        let entries = import.finish().unwrap();
        let root = entries.last().unwrap();
        assert_eq!(root.name, "top");
        let root: Cid = root.hash.parse().unwrap();
        let mut tar = TarSink::new(Vec::new());
        let mut source = Source {
            store: &store,
            fetcher: None,
        };
        export(&mut source, root, "top", &mut tar).unwrap();
        let archive = tar.finish().unwrap();
        let mut names = Vec::new();
        let mut reader = tar::Archive::new(&archive[..]);
        for entry in reader.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            names.push((entry.path().unwrap().display().to_string(), data.len()));
        }
        assert_eq!(
            names,
            [
                ("top/".to_owned(), 0),
                ("top/a.txt".to_owned(), 5),
                ("top/empty/".to_owned(), 0),
                ("top/sub/".to_owned(), 0),
                ("top/sub/b.bin".to_owned(), 300_000),
            ]
        );
        let mut out = Vec::new();
        let file: Cid = entries[0].hash.parse().unwrap();
        export(&mut source, file, "a", &mut CatSink(&mut out)).unwrap();
        assert_eq!(out, b"alpha");
        assert!(export(&mut source, root, "top", &mut CatSink(Vec::new())).is_err());
        // The recursive pin holds: gc keeps everything.
        assert!(store.gc().unwrap().removed.is_empty());
    }

    #[test]
    fn paths_parse_as_kubo_writes_them() {
        let cid = "QmYitupCasByZdmuCqPHKTTm6fg6W3urteukt3oJyusY9R";
        let want: Cid = cid.parse().unwrap();
        for text in [
            cid.to_owned(),
            format!("/ipfs/{cid}"),
            format!("ipfs/{cid}/"),
        ] {
            assert_eq!(parse_path(&text).unwrap(), (want, vec![]), "{text}");
        }
        let (root, names) = parse_path(&format!("/ipfs/{cid}/a//b.txt")).unwrap();
        assert_eq!(
            (root, names),
            (want, vec!["a".to_owned(), "b.txt".to_owned()])
        );
        assert_eq!(path_base_name(&format!("{cid}/a/b.txt")).unwrap(), "b.txt");
        assert_eq!(path_base_name(&format!("/ipfs/{cid}")).unwrap(), cid);
        for bad in [
            "",
            "/ipfs/",
            "nope/a",
            &format!("{cid}/../x"),
            &format!("{cid}/./x"),
        ] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn symlinks_and_paths_through_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut alone = Import::new(&store, ImporterConfig::kubo(), true);
        assert!(alone.symlink("alone", b"x").is_err());
        drop(alone);
        let mut import = Import::new(&store, ImporterConfig::kubo(), true);
        import.file("top/a/f", &mut &b"x"[..], &mut |_| {}).unwrap();
        import.symlink("top/in", b"a/f").unwrap();
        import.symlink("top/a/out", b"../../x").unwrap();
        let root: Cid = import
            .finish()
            .unwrap()
            .last()
            .unwrap()
            .hash
            .parse()
            .unwrap();
        let mut source = Source {
            store: &store,
            fetcher: None,
        };
        let names = |p: &str| p.split('/').map(str::to_owned).collect::<Vec<_>>();
        let link = resolve(&mut source, root, &names("in")).unwrap();
        assert_eq!(node_kind(&mut source, &link).unwrap().0, NodeKind::Symlink);
        let err = export(&mut source, link, "in", &mut CatSink(Vec::new())).unwrap_err();
        assert!(err.message.contains("symlink"), "{}", err.message);
        let err = resolve(&mut source, root, &names("a/f/g")).unwrap_err();
        assert!(err.message.contains("not a directory"), "{}", err.message);
        let err = resolve(&mut source, root, &names("a/nope")).unwrap_err();
        assert!(err.message.contains("no such file"), "{}", err.message);

        let mut tar = TarSink::new(Vec::new());
        export(&mut source, root, "top", &mut tar).unwrap();
        let archive = tar.finish().unwrap();
        let mut links = Vec::new();
        for entry in tar::Archive::new(&archive[..]).entries().unwrap() {
            let entry = entry.unwrap();
            if entry.header().entry_type().is_symlink() {
                let path = entry.path().unwrap().display().to_string();
                let target = entry.link_name().unwrap().unwrap().display().to_string();
                links.push((path, target));
            }
        }
        assert_eq!(links, [("top/in".to_owned(), "a/f".to_owned())]);
    }

    proptest! {
        #[test]
        fn arbitrary_paths_never_panic(text in ".{0,80}") {
            let _ = parse_path(&text);
            let _ = path_base_name(&text);
        }

        #[test]
        fn arbitrary_settings_and_names_never_panic(text in ".{0,40}", bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = importer_config(0, None, Some(&text));
            let _ = safe_name(&bytes);
            let _ = safe_name(text.as_bytes());
        }
    }
}
