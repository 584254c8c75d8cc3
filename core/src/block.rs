//! Blocks: bytes named by the CID they hash to, and the store the core keeps them in.
//!
//! A [`Block`] can only be made by [`Block::verify`], which hashes the bytes and compares them
//! with the CID: a block received from a peer, read from disk or produced by the importer is
//! accepted only once its bytes are proven to be what its CID names. Everything that takes a
//! `Block` (a [`BlockStore`], Bitswap's responses) can therefore trust it.
//!
//! [`BlockStore`] is the seam between the core (Bitswap serving and fetching, the UnixFS
//! importer and exporter) and a backend: an embedded database on a server, a table of blocks
//! built into a firmware image, a map in tests. It copies into caller buffers, so it works
//! without `alloc`.

use crate::cid::Cid;
use crate::multihash::{MultihashError, code as mh_code};

/// The largest block rhizo accepts or serves: 2 MiB, Bitswap's limit in kubo, boxo and helia.
pub const MAX_BLOCK_LEN: usize = 2 * 1024 * 1024;

/// The shortest sha2-256 digest accepted as proof of a block's content. Truncated digests are
/// carried by CIDs, but a short one proves little: content from peers needs the full 32 bytes.
pub const MIN_SHA2_256_DIGEST_LEN: usize = 32;

/// Why bytes are not a valid block for a CID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// The bytes do not hash to the CID's multihash.
    HashMismatch,
    /// The CID's hash function is one this crate cannot compute.
    UnsupportedHash(u64),
    /// A sha2-256 digest shorter than [`MIN_SHA2_256_DIGEST_LEN`]: too weak to prove content.
    DigestTooShort(usize),
    /// The block is longer than [`MAX_BLOCK_LEN`].
    TooLarge(usize),
}

impl core::fmt::Display for BlockError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BlockError::HashMismatch => f.write_str("block bytes do not hash to their CID"),
            BlockError::UnsupportedHash(code) => {
                write!(
                    f,
                    "block CID uses hash function {code:#x}, which rhizo cannot compute"
                )
            }
            BlockError::DigestTooShort(len) => {
                write!(
                    f,
                    "block CID has a {len}-byte sha2-256 digest; 32 bytes are required"
                )
            }
            BlockError::TooLarge(len) => {
                write!(f, "block of {len} bytes is larger than {MAX_BLOCK_LEN}")
            }
        }
    }
}

impl core::error::Error for BlockError {}

/// Bytes proven to hash to their CID. Only [`Block::verify`] makes one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block<'a> {
    cid: Cid,
    data: &'a [u8],
}

impl<'a> Block<'a> {
    /// Checks that `data` hashes to `cid` (sha2-256 with a full digest, or identity) and is at
    /// most [`MAX_BLOCK_LEN`] bytes.
    pub fn verify(cid: Cid, data: &'a [u8]) -> Result<Self, BlockError> {
        if data.len() > MAX_BLOCK_LEN {
            return Err(BlockError::TooLarge(data.len()));
        }
        let hash = cid.hash();
        if hash.code() == mh_code::SHA2_256 && hash.digest().len() < MIN_SHA2_256_DIGEST_LEN {
            return Err(BlockError::DigestTooShort(hash.digest().len()));
        }
        match hash.verify(data) {
            Ok(true) => Ok(Block { cid, data }),
            Ok(false) => Err(BlockError::HashMismatch),
            Err(MultihashError::Unsupported(code)) => Err(BlockError::UnsupportedHash(code)),
            Err(_) => Err(BlockError::HashMismatch),
        }
    }

    /// Computes the CIDv1 of `data` with `codec` and sha2-256: a block by construction.
    pub fn new_v1(codec: u64, data: &'a [u8]) -> Result<Self, BlockError> {
        if data.len() > MAX_BLOCK_LEN {
            return Err(BlockError::TooLarge(data.len()));
        }
        let hash = crate::multihash::Multihash::sha2_256(data);
        let cid = Cid::new_v1(codec, hash).expect("a sha2-256 multihash always fits a CIDv1");
        Ok(Block { cid, data })
    }

    /// A block whose CID this crate has just computed from `data` itself (the importer):
    /// no second hash. `data` must be at most [`MAX_BLOCK_LEN`] bytes and `cid`'s multihash
    /// the sha2-256 of `data`; both are checked in debug builds.
    #[cfg(feature = "alloc")]
    pub(crate) fn computed(cid: Cid, data: &'a [u8]) -> Self {
        debug_assert!(data.len() <= MAX_BLOCK_LEN);
        debug_assert_eq!(cid.hash().verify(data), Ok(true));
        Block { cid, data }
    }

    /// The block's CID.
    pub fn cid(&self) -> &Cid {
        &self.cid
    }

    /// The block's bytes.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
}

/// Where the core keeps and finds blocks. Implementations decide durability; the core only
/// ever hands them verified [`Block`]s.
pub trait BlockStore {
    /// Why an operation on the backend failed (I/O, a full table, ...).
    type Error: core::fmt::Debug + core::fmt::Display;

    /// Whether the store holds the block named by `cid`.
    fn has(&self, cid: &Cid) -> Result<bool, Self::Error>;

    /// The length of the block named by `cid`, if held.
    fn block_len(&self, cid: &Cid) -> Result<Option<usize>, Self::Error>;

    /// Copies the block named by `cid` into `out`; returns its length, or `None` if not held.
    /// `out` shorter than the block is an error of the implementation's choosing; callers
    /// size it with [`BlockStore::block_len`] or [`MAX_BLOCK_LEN`].
    fn read(&self, cid: &Cid, out: &mut [u8]) -> Result<Option<usize>, Self::Error>;

    /// Stores a verified block (storing one already held is not an error).
    fn put(&mut self, block: Block<'_>) -> Result<(), Self::Error>;
}

/// An in-memory [`BlockStore`], for tests and small tools.
#[cfg(feature = "alloc")]
#[derive(Clone, Debug, Default)]
pub struct MemoryBlockStore {
    blocks: alloc::collections::BTreeMap<alloc::vec::Vec<u8>, alloc::vec::Vec<u8>>,
}

#[cfg(feature = "alloc")]
impl MemoryBlockStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many blocks it holds.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The bytes of the block named by `cid`, borrowed.
    pub fn get(&self, cid: &Cid) -> Option<&[u8]> {
        self.blocks
            .get(cid.to_bytes().as_slice())
            .map(|v| v.as_slice())
    }
}

/// Errors of [`MemoryBlockStore`]: only a too-short output buffer.
#[cfg(feature = "alloc")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputTooShort {
    /// The bytes the block needs.
    pub required: usize,
}

#[cfg(feature = "alloc")]
impl core::fmt::Display for OutputTooShort {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "output buffer too short: the block needs {} bytes",
            self.required
        )
    }
}

#[cfg(feature = "alloc")]
impl BlockStore for MemoryBlockStore {
    type Error = OutputTooShort;

    fn has(&self, cid: &Cid) -> Result<bool, Self::Error> {
        Ok(self.get(cid).is_some())
    }

    fn block_len(&self, cid: &Cid) -> Result<Option<usize>, Self::Error> {
        Ok(self.get(cid).map(<[u8]>::len))
    }

    fn read(&self, cid: &Cid, out: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        let Some(data) = self.get(cid) else {
            return Ok(None);
        };
        let dst = out.get_mut(..data.len()).ok_or(OutputTooShort {
            required: data.len(),
        })?;
        dst.copy_from_slice(data);
        Ok(Some(data.len()))
    }

    fn put(&mut self, block: Block<'_>) -> Result<(), Self::Error> {
        self.blocks
            .entry(block.cid().to_bytes().to_vec())
            .or_insert_with(|| block.data().to_vec());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cid::codec;
    use crate::multihash::Multihash;

    #[test]
    fn verify_accepts_matching_bytes_and_rejects_others() {
        let data = b"hello rhizo";
        let cid = Cid::new_v1(codec::RAW, Multihash::sha2_256(data)).unwrap();
        assert_eq!(Block::verify(cid, data).unwrap().data(), data);
        assert_eq!(
            Block::verify(cid, b"hello rhizO"),
            Err(BlockError::HashMismatch)
        );
        let v0 = Cid::new_v0(Multihash::sha2_256(data)).unwrap();
        assert!(Block::verify(v0, data).is_ok());
    }

    #[test]
    fn verify_rejects_truncated_digests_and_unknown_hashes() {
        let data = b"x";
        let full = Multihash::sha2_256(data);
        let short = Multihash::wrap(mh_code::SHA2_256, &full.digest()[..20]).unwrap();
        let cid = Cid::new_v1(codec::RAW, short).unwrap();
        assert_eq!(
            Block::verify(cid, data),
            Err(BlockError::DigestTooShort(20))
        );
        let blake = Multihash::wrap(0xb220, &[0; 32]).unwrap();
        let cid = Cid::new_v1(codec::RAW, blake).unwrap();
        assert_eq!(
            Block::verify(cid, data),
            Err(BlockError::UnsupportedHash(0xb220))
        );
    }

    #[test]
    fn identity_blocks_verify() {
        let data = b"inline";
        let cid = Cid::new_v1(codec::RAW, Multihash::identity(data).unwrap()).unwrap();
        assert!(Block::verify(cid, data).is_ok());
        assert_eq!(Block::verify(cid, b"other!"), Err(BlockError::HashMismatch));
    }

    #[test]
    fn oversized_blocks_are_refused() {
        let data = vec![0u8; MAX_BLOCK_LEN + 1];
        assert_eq!(
            Block::new_v1(codec::RAW, &data),
            Err(BlockError::TooLarge(data.len()))
        );
    }

    #[test]
    fn memory_store_round_trips() {
        let mut store = MemoryBlockStore::new();
        let block = Block::new_v1(codec::RAW, b"abc").unwrap();
        assert!(!store.has(block.cid()).unwrap());
        store.put(block).unwrap();
        store.put(block).unwrap();
        assert_eq!(store.len(), 1);
        assert_eq!(store.block_len(block.cid()).unwrap(), Some(3));
        let mut out = [0u8; 2];
        assert_eq!(
            store.read(block.cid(), &mut out),
            Err(OutputTooShort { required: 3 })
        );
        let mut out = [0u8; 8];
        assert_eq!(store.read(block.cid(), &mut out).unwrap(), Some(3));
        assert_eq!(&out[..3], b"abc");
    }
}
