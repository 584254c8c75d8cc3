//! The file importer: bytes in, UnixFS blocks out, as `ipfs add` and `ipfs-unixfs-importer` lay
//! them out.
//!
//! # Layout
//! The bytes are cut into fixed-size chunks. Each chunk becomes a leaf: a raw block (CIDv1,
//! codec raw) with raw leaves, or else a dag-pb node holding a UnixFS `File` with the chunk as
//! its data and its length as `filesize`. Leaves are grouped `max_links` at a time under
//! parent `File` nodes (links with empty names, `Tsize` the child's cumulative size,
//! `blocksizes` the child's file bytes), and parents likewise, level by level, until one node
//! is left: the balanced layout. A file of one chunk is that one leaf. An empty file is one
//! empty leaf.
//!
//! # Streaming
//! [`FileImporter::write`] takes bytes until a chunk is full, then stops taking any until the
//! blocks that chunk produced are drained with [`FileImporter::poll_block`]. Memory is one
//! chunk, the pending blocks (at most one leaf and one parent per level) and `max_links` child
//! references per level, whatever the file's size.
//!
//! # Leaves made elsewhere
//! Making a leaf (copy, hash) is most of an import's work, and leaves do not depend on each
//! other: [`ImporterConfig::make_leaf`] makes one from one chunk, on any thread, and
//! [`FileImporter::push_leaf`] takes the leaves back in file order and builds the same parents
//! as [`FileImporter::write`] would. One importer is fed one way or the other, never both
//! (`push_leaf` refuses leaves once bytes were written, `write` takes no bytes once a leaf was
//! pushed). Every leaf but the last must hold exactly `chunk_size` bytes, as the chunker
//! makes them; `push_leaf` refuses a leaf after a short one, or one above `chunk_size`.
//!
//! # Q&A
//! *Why level buffers that reduce as soon as they are full, rather than the JS recursion over
//! the list of all leaves?* Both give the same tree: a full group at a level becomes a parent
//! whichever way it is reached, and at the end every partial group is reduced from the bottom
//! up until one node is left. The eager form needs no list of all leaves.

use super::data::{DataFields, DataType};
use crate::block::{Block, MAX_BLOCK_LEN};
use crate::cid::{Cid, Version, codec};
use crate::dagpb::{self, PbLink};
use crate::multihash::Multihash;
use crate::wire::proto::varint_len;
use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

/// The most links a node may have here (a node of 8192 CIDv1 links stays far below the block
/// size limit).
pub const MAX_LINKS_LIMIT: usize = 8192;
/// Room a dag-pb leaf needs around its chunk.
const LEAF_OVERHEAD: usize = 32;

/// How to import a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImporterConfig {
    /// Bytes per chunk (the last chunk may be shorter).
    pub chunk_size: usize,
    /// Most links per node of the balanced layout.
    pub max_links: usize,
    /// The CID version of dag-pb nodes.
    pub cid_version: Version,
    /// Leaves as raw blocks (always CIDv1) rather than dag-pb `File` nodes.
    pub raw_leaves: bool,
}

impl ImporterConfig {
    /// `ipfs add`'s defaults: 256 KiB chunks, 174 links, CIDv0, dag-pb leaves.
    pub const fn kubo() -> Self {
        ImporterConfig {
            chunk_size: super::DEFAULT_CHUNK_SIZE,
            max_links: super::DEFAULT_MAX_LINKS,
            cid_version: Version::V0,
            raw_leaves: false,
        }
    }

    /// `ipfs add --cid-version 1`: the same chunks and width, CIDv1 with raw leaves.
    pub const fn v1_raw_leaves() -> Self {
        ImporterConfig {
            cid_version: Version::V1,
            raw_leaves: true,
            ..Self::kubo()
        }
    }

    /// Checks the bounds: `1 <= chunk_size <= MAX_BLOCK_LEN - 32`, `2 <= max_links <= 8192`.
    pub fn validate(&self) -> Result<(), ImportConfigError> {
        if self.chunk_size == 0 || self.chunk_size > MAX_BLOCK_LEN - LEAF_OVERHEAD {
            return Err(ImportConfigError::ChunkSize(self.chunk_size));
        }
        if !(2..=MAX_LINKS_LIMIT).contains(&self.max_links) {
            return Err(ImportConfigError::MaxLinks(self.max_links));
        }
        Ok(())
    }
}

impl ImporterConfig {
    /// Makes the leaf of one chunk: with raw leaves the chunk itself (its vector becomes the
    /// block's, no copy), else a dag-pb `File` node holding it (one copy), CID per
    /// `cid_version`. Independent of every other leaf: any thread may make it. Refused when
    /// the chunk is longer than `chunk_size` (or than a block can hold).
    pub fn make_leaf(&self, chunk: Vec<u8>) -> Result<FileLeaf, ChunkTooLong> {
        let max = self.chunk_size.min(MAX_BLOCK_LEN - LEAF_OVERHEAD);
        if chunk.len() > max {
            return Err(ChunkTooLong {
                len: chunk.len(),
                max,
            });
        }
        Ok(self.make_leaf_keeping_chunk(chunk).0)
    }

    /// [`ImporterConfig::make_leaf`] without the length check (the caller bounds the chunk by
    /// a validated `chunk_size`); a dag-pb leaf also gives the chunk's vector back, emptied,
    /// for the next chunk.
    fn make_leaf_keeping_chunk(&self, mut chunk: Vec<u8>) -> (FileLeaf, Option<Vec<u8>>) {
        let file_size = chunk.len() as u64;
        let (cid, data, spare) = if self.raw_leaves {
            let hash = Multihash::sha2_256(&chunk);
            let cid = Cid::new_v1(codec::RAW, hash).expect("raw is a valid codec");
            (cid, chunk, None)
        } else {
            let block = encode_file_leaf(&chunk);
            chunk.clear();
            (dag_pb_cid(self.cid_version, &block), block, Some(chunk))
        };
        let node = ImportedNode {
            cid,
            tsize: data.len() as u64,
            file_size,
        };
        (FileLeaf { node, data }, spare)
    }
}

impl Default for ImporterConfig {
    fn default() -> Self {
        Self::kubo()
    }
}

/// An importer setting out of bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportConfigError {
    /// The chunk size is 0 or would make a block above the block size limit.
    ChunkSize(usize),
    /// The link count is below 2 or above 8192.
    MaxLinks(usize),
}

impl core::fmt::Display for ImportConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ImportConfigError::ChunkSize(n) => write!(
                f,
                "chunk size {n} is out of range (1 ..= {})",
                MAX_BLOCK_LEN - LEAF_OVERHEAD
            ),
            ImportConfigError::MaxLinks(n) => {
                write!(
                    f,
                    "links per node {n} is out of range (2 ..= {MAX_LINKS_LIMIT})"
                )
            }
        }
    }
}

impl core::error::Error for ImportConfigError {}

/// A chunk given to [`ImporterConfig::make_leaf`] is longer than a leaf may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkTooLong {
    /// The chunk's length.
    pub len: usize,
    /// The most a leaf holds here: `chunk_size`, at most the block size limit less the
    /// leaf's framing.
    pub max: usize,
}

impl core::fmt::Display for ChunkTooLong {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "a chunk of {} bytes is longer than a leaf holds ({})",
            self.len, self.max
        )
    }
}

impl core::error::Error for ChunkTooLong {}

/// Why [`FileImporter::push_leaf`] refused a leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushLeafError {
    /// Bytes were given to [`FileImporter::write`]: one importer is fed one way only.
    BytesWritten,
    /// [`FileImporter::finish`] was called.
    Finished,
    /// Blocks wait in [`FileImporter::poll_block`]: drain them first (this bounds them).
    BlocksWaiting,
    /// The leaf holds more than `chunk_size` bytes.
    LeafTooLarge(u64),
    /// A leaf shorter than `chunk_size` came before: only the last leaf may be short.
    AfterShortLeaf,
}

impl core::fmt::Display for PushLeafError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PushLeafError::BytesWritten => {
                f.write_str("leaves cannot be pushed into an importer that took bytes")
            }
            PushLeafError::Finished => f.write_str("the file is finished"),
            PushLeafError::BlocksWaiting => {
                f.write_str("blocks are waiting: drain poll_block before pushing a leaf")
            }
            PushLeafError::LeafTooLarge(n) => {
                write!(f, "a leaf of {n} bytes is above the chunk size")
            }
            PushLeafError::AfterShortLeaf => {
                f.write_str("a leaf came after a short one (only the last may be short)")
            }
        }
    }
}

impl core::error::Error for PushLeafError {}

/// One leaf of a file, made by [`ImporterConfig::make_leaf`]: its place in the tree (for
/// [`FileImporter::push_leaf`]) and its block. The bytes stay private so that
/// [`FileLeaf::block`] can hand them out as a [`Block`] without hashing them again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLeaf {
    node: ImportedNode,
    data: Vec<u8>,
}

impl FileLeaf {
    /// What a parent links to: CID, `Tsize` (the block's length), file bytes.
    pub fn node(&self) -> ImportedNode {
        self.node
    }

    /// The leaf as a block (its CID was computed from these bytes, and a chunk within
    /// `make_leaf`'s bound keeps it within [`MAX_BLOCK_LEN`]).
    pub fn block(&self) -> Block<'_> {
        Block::computed(self.node.cid, &self.data)
    }

    /// The leaf as an owned block.
    pub fn into_block(self) -> ImportedBlock {
        ImportedBlock {
            cid: self.node.cid,
            data: self.data,
        }
    }

    /// The block's bytes, e.g. to reuse the vector for the next chunk once stored.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }
}

/// A block the importer made: its CID and bytes (the CID is computed from the bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedBlock {
    /// The CID.
    pub cid: Cid,
    /// The bytes.
    pub data: Vec<u8>,
}

/// The root of an imported DAG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportedNode {
    /// The root's CID.
    pub cid: Cid,
    /// The cumulative size of the DAG's blocks (the `Tsize` a parent's link to it carries).
    pub tsize: u64,
    /// The file's bytes (0 for a directory).
    pub file_size: u64,
}

/// Makes the CID of a dag-pb block.
pub(crate) fn dag_pb_cid(version: Version, bytes: &[u8]) -> Cid {
    let hash = Multihash::sha2_256(bytes);
    match version {
        Version::V0 => Cid::new_v0(hash).expect("a sha2-256 digest of 32 bytes is a CIDv0"),
        Version::V1 => Cid::new_v1(codec::DAG_PB, hash).expect("dag-pb is a valid codec"),
    }
}

/// Encodes a dag-pb node with a UnixFS `Data` into a new vector.
pub(crate) fn encode_node<'l>(
    links: impl IntoIterator<Item = PbLink<'l>> + Clone,
    fields: &DataFields<'_>,
) -> Vec<u8> {
    let mut data = vec![0u8; fields.encoded_len()];
    fields.write_to(&mut data).expect("sized by encoded_len");
    let mut out = vec![0u8; dagpb::encoded_len(links.clone(), Some(&data))];
    dagpb::write_node(&mut out, links, Some(&data)).expect("sized by encoded_len");
    out
}

/// Encodes a dag-pb leaf `{Data: UnixFS {Type: File, Data: chunk, filesize: len}}`, copying
/// the chunk once (what `encode_node` writes, without its intermediate copies).
pub(crate) fn encode_file_leaf(chunk: &[u8]) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let n = chunk.len() as u64;
    let data_field = if chunk.is_empty() {
        0
    } else {
        1 + varint_len(n) + chunk.len()
    };
    let message = 2 + data_field + 1 + varint_len(n);
    let mut out = Vec::with_capacity(1 + varint_len(message as u64) + message);
    out.push(0x0a); // PBNode.Data
    varint(&mut out, message as u64);
    out.extend_from_slice(&[0x08, DataType::File.code() as u8]);
    if !chunk.is_empty() {
        out.push(0x12); // Data.Data
        varint(&mut out, n);
        out.extend_from_slice(chunk);
    }
    out.push(0x18); // Data.filesize
    varint(&mut out, n);
    out
}

/// Streams a file into UnixFS blocks. See the module documentation for the call pattern:
/// `write` until all bytes are taken, draining `poll_block` whenever `write` stops, then
/// `finish` and drain again.
#[derive(Debug)]
pub struct FileImporter {
    config: ImporterConfig,
    chunk: Vec<u8>,
    /// `levels[0]` holds leaves not yet under a parent, `levels[1]` their parents, and so on.
    levels: Vec<Vec<ImportedNode>>,
    pending: VecDeque<ImportedBlock>,
    leaves: u64,
    feed: Feed,
    finished: Option<ImportedNode>,
}

/// How a [`FileImporter`] is being fed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Feed {
    /// Nothing yet.
    Open,
    /// Bytes through `write`.
    Bytes,
    /// Leaves through `push_leaf`; `short` once one shorter than a chunk came.
    Leaves { short: bool },
}

impl FileImporter {
    /// A new importer.
    pub fn new(config: ImporterConfig) -> Result<Self, ImportConfigError> {
        config.validate()?;
        Ok(FileImporter {
            config,
            chunk: Vec::with_capacity(config.chunk_size),
            levels: Vec::new(),
            pending: VecDeque::new(),
            leaves: 0,
            feed: Feed::Open,
            finished: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ImporterConfig {
        &self.config
    }

    /// Takes bytes of the file; returns how many it took. It takes none while blocks are
    /// waiting in [`FileImporter::poll_block`], after [`FileImporter::finish`], or once a leaf
    /// was pushed ([`FileImporter::push_leaf`]).
    pub fn write(&mut self, bytes: &[u8]) -> usize {
        if !self.pending.is_empty() || !self.takes_bytes() {
            return 0;
        }
        let room = self.config.chunk_size - self.chunk.len();
        let n = room.min(bytes.len());
        if n > 0 {
            self.feed = Feed::Bytes;
        }
        self.chunk.extend_from_slice(&bytes[..n]);
        if self.chunk.len() == self.config.chunk_size {
            self.flush_chunk();
        }
        n
    }

    /// Takes the next leaf of the file, made by [`ImporterConfig::make_leaf`] (its block is the
    /// caller's to store), in file order; the parents it completes wait in
    /// [`FileImporter::poll_block`], to be drained before the next leaf. Refused (nothing
    /// changes) once bytes were written, after [`FileImporter::finish`], while blocks wait,
    /// for a leaf above `chunk_size`, and after a leaf shorter than `chunk_size`.
    pub fn push_leaf(&mut self, leaf: ImportedNode) -> Result<(), PushLeafError> {
        let short = match self.feed {
            _ if self.finished.is_some() => return Err(PushLeafError::Finished),
            Feed::Bytes => return Err(PushLeafError::BytesWritten),
            Feed::Leaves { short: true } => return Err(PushLeafError::AfterShortLeaf),
            Feed::Open | Feed::Leaves { short: false } => {
                leaf.file_size < self.config.chunk_size as u64
            }
        };
        if !self.pending.is_empty() {
            return Err(PushLeafError::BlocksWaiting);
        }
        if leaf.file_size > self.config.chunk_size as u64 {
            return Err(PushLeafError::LeafTooLarge(leaf.file_size));
        }
        self.feed = Feed::Leaves { short };
        self.leaves += 1;
        self.push(0, leaf);
        Ok(())
    }

    /// Hands every waiting block to `sink` as a [`Block`], as
    /// [`FileImporter::write_all_blocks`] does (e.g. the parents after a
    /// [`FileImporter::push_leaf`]).
    pub fn drain_blocks<E>(
        &mut self,
        sink: &mut impl FnMut(Block<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        while let Some(block) = self.pending.pop_front() {
            // Made by `flush_chunk` or `reduce` from these very bytes, never changed since
            // (`pending` is private).
            sink(Block::computed(block.cid, &block.data))?;
        }
        Ok(())
    }

    /// The next finished block, if any.
    pub fn poll_block(&mut self) -> Option<ImportedBlock> {
        self.pending.pop_front()
    }

    /// Ends the file: cuts the last chunk and builds the remaining parents. Returns the root;
    /// its blocks are waiting in [`FileImporter::poll_block`]. Calling it again returns the same
    /// root.
    pub fn finish(&mut self) -> ImportedNode {
        if let Some(root) = self.finished {
            return root;
        }
        if !self.chunk.is_empty() || self.leaves == 0 {
            self.flush_chunk();
        }
        let mut level = 0;
        let root = loop {
            let higher = self.levels[level + 1..].iter().any(|l| !l.is_empty());
            if !higher && self.levels[level].len() == 1 {
                break self.levels[level][0];
            }
            if !self.levels[level].is_empty() {
                self.reduce(level);
            }
            level += 1;
        };
        self.levels.clear();
        self.finished = Some(root);
        root
    }

    /// Feeds all of `bytes`, handing each finished block to `sink`.
    pub fn write_all<E>(
        &mut self,
        mut bytes: &[u8],
        sink: &mut impl FnMut(ImportedBlock) -> Result<(), E>,
    ) -> Result<(), E> {
        while !bytes.is_empty() {
            let n = self.write(bytes);
            bytes = &bytes[n..];
            self.drain(sink)?;
            if n == 0 && !self.takes_bytes() {
                break;
            }
        }
        Ok(())
    }

    /// [`FileImporter::finish`], handing the remaining blocks to `sink`.
    pub fn finish_into<E>(
        &mut self,
        sink: &mut impl FnMut(ImportedBlock) -> Result<(), E>,
    ) -> Result<ImportedNode, E> {
        let root = self.finish();
        self.drain(sink)?;
        Ok(root)
    }

    /// [`FileImporter::write_all`], handing each block to `sink` as a [`Block`] without
    /// hashing it again: the importer computed its CID from its bytes, and its chunk size and
    /// link count bounds ([`ImporterConfig::validate`]) keep it within [`MAX_BLOCK_LEN`].
    pub fn write_all_blocks<E>(
        &mut self,
        mut bytes: &[u8],
        sink: &mut impl FnMut(Block<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        while !bytes.is_empty() {
            let n = self.write(bytes);
            bytes = &bytes[n..];
            self.drain_blocks(sink)?;
            if n == 0 && !self.takes_bytes() {
                break;
            }
        }
        Ok(())
    }

    /// [`FileImporter::finish`], handing the remaining blocks to `sink` as in
    /// [`FileImporter::write_all_blocks`].
    pub fn finish_into_blocks<E>(
        &mut self,
        sink: &mut impl FnMut(Block<'_>) -> Result<(), E>,
    ) -> Result<ImportedNode, E> {
        let root = self.finish();
        self.drain_blocks(sink)?;
        Ok(root)
    }

    /// Whether `write` may take bytes (not finished, not fed leaves).
    fn takes_bytes(&self) -> bool {
        self.finished.is_none() && !matches!(self.feed, Feed::Leaves { .. })
    }

    fn drain<E>(&mut self, sink: &mut impl FnMut(ImportedBlock) -> Result<(), E>) -> Result<(), E> {
        while let Some(block) = self.pending.pop_front() {
            sink(block)?;
        }
        Ok(())
    }

    fn push(&mut self, level: usize, node: ImportedNode) {
        if self.levels.len() <= level + 1 {
            self.levels.resize_with(level + 2, Vec::new);
        }
        self.levels[level].push(node);
        if self.levels[level].len() == self.config.max_links {
            self.reduce(level);
        }
    }

    fn flush_chunk(&mut self) {
        let chunk = core::mem::take(&mut self.chunk);
        // `write` keeps the chunk within the validated `chunk_size`.
        let (leaf, spare) = self.config.make_leaf_keeping_chunk(chunk);
        // A dag-pb leaf copied the chunk: its buffer is kept for the next one.
        self.chunk = spare.unwrap_or_else(|| Vec::with_capacity(self.config.chunk_size));
        let node = leaf.node;
        self.pending.push_back(leaf.into_block());
        self.leaves += 1;
        self.push(0, node);
    }

    /// Makes the parent of every node waiting at `level` and pushes it one level up.
    fn reduce(&mut self, level: usize) {
        let children = core::mem::take(&mut self.levels[level]);
        let sizes: Vec<u64> = children.iter().map(|c| c.file_size).collect();
        let file_size = sizes.iter().sum();
        let fields = DataFields {
            filesize: Some(file_size),
            blocksizes: &sizes,
            ..DataFields::new(DataType::File)
        };
        let links = children.iter().map(|c| PbLink::new(c.cid, "", c.tsize));
        let block = encode_node(links, &fields);
        let cid = dag_pb_cid(self.config.cid_version, &block);
        let tsize = block.len() as u64 + children.iter().map(|c| c.tsize).sum::<u64>();
        self.pending.push_back(ImportedBlock { cid, data: block });
        self.levels[level] = children;
        self.levels[level].clear();
        self.push(
            level + 1,
            ImportedNode {
                cid,
                tsize,
                file_size,
            },
        );
    }
}

#[cfg(test)]
mod tests;
