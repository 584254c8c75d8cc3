//! UnixFS: files and directories as IPLD DAGs (<https://specs.ipfs.tech/unixfs/>), with the
//! same CIDs kubo and helia produce for the same bytes and settings.
//!
//! - [`data`]: the UnixFS `Data` message (view and writer), no `alloc`.
//! - [`FileImporter`] (`alloc`): bytes in, blocks out, bounded memory: a fixed-size chunker and
//!   the balanced layout of `ipfs add` (CIDv0 dag-pb leaves) or CIDv1 raw leaves.
//! - [`DirectoryBuilder`] (`alloc`): UnixFS directories from imported files, HAMT-sharded
//!   past the JS importer's threshold, as helia and kubo write them.
//! - [`hamt`]: where a name goes in a HAMT, and [`find_entry`]: one name in a plain or
//!   sharded directory, without `alloc`; [`murmur3`]: the HAMT's hash.
//! - [`symlink`]: UnixFS symlink nodes.
//! - [`FileExporter`]: a file DAG back to bytes, in order, resumable at any offset, with a
//!   fixed-depth stack and no `alloc`; [`DirectoryLister`] lists plain and HAMT-sharded
//!   directories the same way. Both read blocks through a [`BlockSource`].
//! - [`NodeInfo`]: what a block is (file, directory, symlink...) before walking it.

pub mod data;
#[cfg(feature = "alloc")]
mod directory;
mod exporter;
pub mod hamt;
#[cfg(feature = "alloc")]
mod importer;
mod listing;
pub mod murmur3;
#[cfg(feature = "alloc")]
mod shard;
mod source;
pub mod symlink;

pub use data::{DataFields, DataType, UnixFsData, UnixFsError, UnixTime};
#[cfg(feature = "alloc")]
pub use directory::{
    DirectoryBuilder, DirectoryError, FinishError, MAX_ENTRIES, SHARDING_THRESHOLD,
};
pub use exporter::{ExportError, FileExporter};
pub use hamt::{FoundEntry, find_entry};
#[cfg(feature = "alloc")]
pub use importer::{
    ChunkTooLong, FileImporter, FileLeaf, ImportConfigError, ImportedBlock, ImportedNode,
    ImporterConfig, MAX_LINKS_LIMIT, PushLeafError,
};
pub use listing::{DirEntry, DirectoryLister};
pub use source::{BlockSource, FnSource};

use crate::cid::{Cid, codec};
use crate::dagpb::{DagPbError, PbNode};
use crate::multihash::code as mh_code;

/// The default chunk size of `ipfs add` and of this importer: 256 KiB.
pub const DEFAULT_CHUNK_SIZE: usize = 262_144;
/// The most links kubo puts in one file node of the balanced layout.
pub const DEFAULT_MAX_LINKS: usize = 174;

/// What a block is, as far as UnixFS is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A raw block (codec raw): file bytes.
    RawLeaf,
    /// A UnixFS file (or raw-type) node.
    File,
    /// A plain directory.
    Directory,
    /// A HAMT-sharded directory.
    HamtShard,
    /// A symbolic link.
    Symlink,
    /// A metadata node.
    Metadata,
}

/// A block's UnixFS kind and, for files, its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeInfo<'a> {
    /// The kind.
    pub kind: NodeKind,
    /// For files and raw leaves, the file's size in bytes.
    pub file_size: Option<u64>,
    /// The node's UnixFS data (absent for raw leaves).
    pub data: Option<UnixFsData<'a>>,
}

/// Why a block is not a UnixFS node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeError {
    /// The CID's codec is neither dag-pb nor raw.
    UnsupportedCodec(u64),
    /// Not a valid dag-pb block.
    DagPb(DagPbError),
    /// The dag-pb node has no Data field.
    MissingData,
    /// The Data field is not a UnixFS `Data` message.
    UnixFs(UnixFsError),
}

impl core::fmt::Display for NodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NodeError::UnsupportedCodec(c) => write!(f, "unixfs: codec {c:#x} is not UnixFS"),
            NodeError::DagPb(e) => write!(f, "unixfs: {e}"),
            NodeError::MissingData => f.write_str("unixfs: dag-pb node without Data"),
            NodeError::UnixFs(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for NodeError {}

impl From<DagPbError> for NodeError {
    fn from(e: DagPbError) -> Self {
        NodeError::DagPb(e)
    }
}

impl From<UnixFsError> for NodeError {
    fn from(e: UnixFsError) -> Self {
        NodeError::UnixFs(e)
    }
}

/// A dag-pb node and its UnixFS data.
pub(crate) fn parse_node(block: &[u8]) -> Result<(PbNode<'_>, UnixFsData<'_>), NodeError> {
    let node = PbNode::parse(block)?;
    let data = UnixFsData::parse(node.data().ok_or(NodeError::MissingData)?)?;
    Ok((node, data))
}

impl<'a> NodeInfo<'a> {
    /// Reads what the block `block` named by `cid` is (the bytes are not checked against
    /// the CID here).
    pub fn parse(cid: &Cid, block: &'a [u8]) -> Result<Self, NodeError> {
        match cid.codec() {
            codec::RAW => Ok(NodeInfo {
                kind: NodeKind::RawLeaf,
                file_size: Some(block.len() as u64),
                data: None,
            }),
            codec::DAG_PB => {
                let (_, data) = parse_node(block)?;
                let kind = match data.kind() {
                    DataType::Raw | DataType::File => NodeKind::File,
                    DataType::Directory => NodeKind::Directory,
                    DataType::HamtShard => NodeKind::HamtShard,
                    DataType::Symlink => NodeKind::Symlink,
                    DataType::Metadata => NodeKind::Metadata,
                };
                let file_size = (kind == NodeKind::File).then(|| file_size_of(&data));
                Ok(NodeInfo {
                    kind,
                    file_size,
                    data: Some(data),
                })
            }
            other => Err(NodeError::UnsupportedCodec(other)),
        }
    }
}

/// A file node's size: its filesize field, or its own data plus its blocksizes.
pub(crate) fn file_size_of(data: &UnixFsData<'_>) -> u64 {
    data.filesize().unwrap_or_else(|| {
        let own = data.data().map_or(0, |d| d.len() as u64);
        data.blocksizes().fold(own, u64::saturating_add)
    })
}

/// Whether `cid` carries its block inline (an identity multihash).
pub(crate) fn is_inline(cid: &Cid) -> bool {
    cid.hash().code() == mh_code::IDENTITY
}
