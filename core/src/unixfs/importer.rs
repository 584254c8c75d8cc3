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
    finished: Option<ImportedNode>,
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
            finished: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ImporterConfig {
        &self.config
    }

    /// Takes bytes of the file; returns how many it took. It takes none while blocks are
    /// waiting in [`FileImporter::poll_block`], or after [`FileImporter::finish`].
    pub fn write(&mut self, bytes: &[u8]) -> usize {
        if !self.pending.is_empty() || self.finished.is_some() {
            return 0;
        }
        let room = self.config.chunk_size - self.chunk.len();
        let n = room.min(bytes.len());
        self.chunk.extend_from_slice(&bytes[..n]);
        if self.chunk.len() == self.config.chunk_size {
            self.flush_chunk();
        }
        n
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
            if n == 0 && self.finished.is_some() {
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
            if n == 0 && self.finished.is_some() {
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

    fn drain_blocks<E>(
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
        let len = chunk.len() as u64;
        let (cid, data) = if self.config.raw_leaves {
            let hash = Multihash::sha2_256(&chunk);
            let cid = Cid::new_v1(codec::RAW, hash).expect("raw is a valid codec");
            self.chunk = Vec::with_capacity(self.config.chunk_size);
            (cid, chunk)
        } else {
            let block = encode_file_leaf(&chunk);
            // The chunk was copied into the leaf: its buffer is kept for the next one.
            self.chunk = chunk;
            self.chunk.clear();
            (dag_pb_cid(self.config.cid_version, &block), block)
        };
        let leaf = ImportedNode {
            cid,
            tsize: data.len() as u64,
            file_size: len,
        };
        self.pending.push_back(ImportedBlock { cid, data });
        self.leaves += 1;
        self.push(0, leaf);
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
