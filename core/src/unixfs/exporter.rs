//! The file exporter: a UnixFS file DAG back to its bytes, in order, with bounded memory.
//!
//! [`FileExporter`] keeps a stack of at most `DEPTH` positions (a node's CID and the index of
//! its next link), never the DAG. Each call to [`FileExporter::next_chunk`] loads blocks into
//! the caller's buffer and returns the next piece of file bytes as a slice of that buffer
//! (a raw leaf's bytes or a dag-pb leaf's data, without copying), so it works without `alloc`.
//! Every block is checked against its CID before it is used.
//!
//! It reads raw leaves, dag-pb `File` and `Raw` nodes (their own data first, then their
//! children), and identity CIDs (the block is the digest). Starting at an offset
//! ([`FileExporter::starting_at`]) skips whole subtrees by their `blocksizes`, so resuming a
//! large file loads only the blocks on the path to the offset.
//!
//! # Q&A
//! *Why load the parent again for every child, rather than keep it?* Keeping one block per
//! level would need `DEPTH` buffers of up to 2 MiB; a parent is a few KiB (174 links), so
//! reading it again per 256 KiB leaf costs a few percent and keeps the exporter at one buffer.

use super::source::{LoadError, load};
use super::{DataType, NodeError, file_size_of, parse_node};
use crate::block::BlockError;
use crate::cid::{Cid, codec};

/// Why the exporter stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportError<E> {
    /// The block source failed.
    Source(E),
    /// The source does not have a block of the DAG.
    MissingBlock(Cid),
    /// A block's bytes do not match its CID.
    InvalidBlock(Cid, BlockError),
    /// A block is longer than the caller's buffer.
    BufferTooSmall(Cid),
    /// A block is not a valid UnixFS node.
    Node(Cid, NodeError),
    /// A node of the file is not a file node (a directory, a symlink...).
    NotAFile(Cid, DataType),
    /// A node listed as a directory is not one.
    NotADirectory(Cid, DataType),
    /// A HAMT shard with a bad fan-out, or a link name shorter than its bucket index.
    InvalidShard(Cid),
    /// A CID's codec is neither dag-pb nor raw.
    UnsupportedCodec(Cid),
    /// The DAG is deeper than the exporter's stack.
    TooDeep,
    /// The DAG holds more or fewer bytes than its root says the file has.
    SizeMismatch,
}

impl<E: core::fmt::Display> core::fmt::Display for ExportError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ExportError::Source(e) => write!(f, "block source: {e}"),
            ExportError::MissingBlock(c) => write!(f, "block {c} is not available"),
            ExportError::InvalidBlock(c, e) => write!(f, "block {c}: {e}"),
            ExportError::BufferTooSmall(c) => write!(f, "block {c} is larger than the buffer"),
            ExportError::Node(c, e) => write!(f, "block {c}: {e}"),
            ExportError::NotAFile(c, t) => write!(f, "block {c} is a {t:?}, not a file"),
            ExportError::NotADirectory(c, t) => {
                write!(f, "block {c} is a {t:?}, not a directory")
            }
            ExportError::InvalidShard(c) => write!(f, "block {c} is not a valid HAMT shard"),
            ExportError::UnsupportedCodec(c) => write!(f, "block {c} has a non-UnixFS codec"),
            ExportError::TooDeep => f.write_str("the DAG is deeper than the exporter's stack"),
            ExportError::SizeMismatch => {
                f.write_str("the DAG's bytes differ from its root's file size")
            }
        }
    }
}

impl<E: core::fmt::Debug + core::fmt::Display> core::error::Error for ExportError<E> {}

impl<E> From<LoadError<E>> for ExportError<E> {
    fn from(e: LoadError<E>) -> Self {
        match e {
            LoadError::Source(e) => ExportError::Source(e),
            LoadError::Missing(c) => ExportError::MissingBlock(c),
            LoadError::Invalid(c, e) => ExportError::InvalidBlock(c, e),
            LoadError::BufferTooSmall(c) => ExportError::BufferTooSmall(c),
        }
    }
}

/// One node on the path from the root to the next leaf.
#[derive(Clone, Copy, Debug)]
struct Frame {
    cid: Cid,
    /// Index of the next link to follow.
    next_link: usize,
    /// Whether the node's own data has been produced (or skipped).
    data_done: bool,
}

/// What one step of the walk found.
enum Step {
    /// File bytes at `buf[start..end]`.
    Emit(usize, usize),
    /// Nothing to hand out yet; walk on.
    Continue,
}

/// Walks a file DAG in order; see the module documentation. `DEPTH` bounds the DAG's depth
/// (a kubo file of 174-link nodes and 256 KiB chunks needs 4 levels up to 1.3 TB; 8 is ample).
#[derive(Clone, Debug)]
pub struct FileExporter<const DEPTH: usize> {
    stack: heapless::Vec<Frame, DEPTH>,
    /// The file offset of the next byte the walk reaches (skipped bytes included).
    position: u64,
    /// Bytes before this offset are skipped.
    start: u64,
    file_size: Option<u64>,
}

impl<const DEPTH: usize> FileExporter<DEPTH> {
    /// An exporter of the file whose root is `root`, from its first byte.
    pub fn new(root: Cid) -> Self {
        Self::starting_at(root, 0)
    }

    /// An exporter that skips the first `offset` bytes of the file (to resume a transfer).
    pub fn starting_at(root: Cid, offset: u64) -> Self {
        let mut stack = heapless::Vec::new();
        // DEPTH 0 cannot hold the root; the first call then reports TooDeep.
        let _ = stack.push(Frame {
            cid: root,
            next_link: 0,
            data_done: false,
        });
        FileExporter {
            stack,
            position: 0,
            start: offset,
            file_size: None,
        }
    }

    /// The file's size, known once the root has been read.
    pub fn file_size(&self) -> Option<u64> {
        self.file_size
    }

    /// The file offset just after the bytes handed out so far (where a resumed exporter would
    /// start).
    pub fn offset(&self) -> u64 {
        self.position.max(self.start)
    }

    /// Whether the whole file has been handed out.
    pub fn is_done(&self) -> bool {
        self.stack.is_empty()
    }

    /// The next piece of the file's bytes, as a slice of `buf`; `None` at the end. `buf` must
    /// hold the largest block of the DAG ([`crate::block::MAX_BLOCK_LEN`] holds any; a chunk
    /// size plus 32 bytes holds an importer's blocks). After an error the exporter may be
    /// called again (for a block that can now be fetched).
    pub fn next_chunk<'b, S: super::BlockSource>(
        &mut self,
        mut source: S,
        buf: &'b mut [u8],
    ) -> Result<Option<&'b [u8]>, ExportError<S::Error>> {
        if DEPTH == 0 {
            return Err(ExportError::TooDeep);
        }
        loop {
            let Some(&frame) = self.stack.last() else {
                if self.file_size.is_some_and(|size| self.position < size) {
                    // The root promised more bytes than its DAG holds.
                    return Err(ExportError::SizeMismatch);
                }
                return Ok(None);
            };
            let len = load(&mut source, &frame.cid, buf)?;
            match self.step(frame, &buf[..len])? {
                Step::Emit(start, end) => return Ok(Some(&buf[start..end])),
                Step::Continue => {}
            }
        }
    }

    /// Accounts for `data` (file bytes at the current position) and says which part of it to
    /// hand out.
    fn take<E>(&mut self, block: &[u8], data: &[u8]) -> Result<Step, ExportError<E>> {
        let base = offset_in(block, data);
        let len = data.len() as u64;
        let skip = self.start.saturating_sub(self.position).min(len);
        self.position += len;
        if self.file_size.is_some_and(|size| self.position > size) {
            return Err(ExportError::SizeMismatch);
        }
        if skip == len {
            return Ok(Step::Continue);
        }
        Ok(Step::Emit(base + skip as usize, base + data.len()))
    }

    fn step<E>(&mut self, frame: Frame, block: &[u8]) -> Result<Step, ExportError<E>> {
        let root = self.file_size.is_none();
        match frame.cid.codec() {
            codec::RAW => {
                self.stack.pop();
                if root {
                    self.file_size = Some(block.len() as u64);
                }
                self.take(block, block)
            }
            codec::DAG_PB => {
                let (node, data) =
                    parse_node(block).map_err(|e| ExportError::Node(frame.cid, e))?;
                if !matches!(data.kind(), DataType::File | DataType::Raw) {
                    return Err(ExportError::NotAFile(frame.cid, data.kind()));
                }
                if root {
                    self.file_size = Some(file_size_of(&data));
                }
                let top = self.stack.len() - 1;
                if !frame.data_done {
                    self.stack[top].data_done = true;
                    if let Some(own) = data.data().filter(|d| !d.is_empty()) {
                        return self.take(block, own);
                    }
                }
                let Some(link) = node.link(frame.next_link) else {
                    self.stack.pop();
                    return Ok(Step::Continue);
                };
                self.stack[top].next_link += 1;
                let size = (data.blocksize_count() == node.link_count())
                    .then(|| data.blocksizes().nth(frame.next_link))
                    .flatten();
                if let Some(size) = size
                    && self.position.saturating_add(size) <= self.start
                {
                    // The whole child lies before the start: skip it unread.
                    self.position += size;
                    return Ok(Step::Continue);
                }
                self.stack
                    .push(Frame {
                        cid: link.hash,
                        next_link: 0,
                        data_done: false,
                    })
                    .map_err(|_| ExportError::TooDeep)?;
                Ok(Step::Continue)
            }
            _ => Err(ExportError::UnsupportedCodec(frame.cid)),
        }
    }
}

/// Where `inner`, a subslice of `outer`, starts in it.
pub(crate) fn offset_in(outer: &[u8], inner: &[u8]) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

#[cfg(test)]
mod tests;
