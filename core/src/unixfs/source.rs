//! Where the exporter and the directory lister get blocks from.

use crate::block::{Block, BlockError, BlockStore, MAX_BLOCK_LEN};
use crate::cid::Cid;

/// A source of blocks by CID: a [`BlockStore`] (through `&store`), a fetch callback
/// ([`FnSource`]), or anything else that can copy a block into a buffer.
pub trait BlockSource {
    /// Why a block could not be read.
    type Error: core::fmt::Debug + core::fmt::Display;

    /// Copies the block named by `cid` into `out`; returns its length, or `None` when the
    /// block is not available.
    fn read_block(&mut self, cid: &Cid, out: &mut [u8]) -> Result<Option<usize>, Self::Error>;

    /// Whether every block this source returns was checked against its CID when it was
    /// stored, so a walk need not hash it again. `false` (the default): every block read is
    /// hashed and compared with its CID before it is used.
    ///
    /// # Q&A
    /// *Is trusting a store safe?* A [`BlockStore`] only ever takes [`Block`]s, whose bytes
    /// were proven to hash to their CID; what it can still get wrong is the disk under it,
    /// which kubo does not check on reads either (`HashOnRead` is off by default) and which a
    /// repo check (`rhizo repo verify`) finds. A source of bytes from anywhere else (a
    /// network, a callback) keeps the default.
    fn verified_on_store(&self) -> bool {
        false
    }
}

impl<S: BlockStore + ?Sized> BlockSource for &S {
    type Error = S::Error;

    fn read_block(&mut self, cid: &Cid, out: &mut [u8]) -> Result<Option<usize>, S::Error> {
        self.read(cid, out)
    }

    fn verified_on_store(&self) -> bool {
        true
    }
}

impl<T: BlockSource + ?Sized> BlockSource for &mut T {
    type Error = T::Error;

    fn read_block(&mut self, cid: &Cid, out: &mut [u8]) -> Result<Option<usize>, T::Error> {
        (**self).read_block(cid, out)
    }

    fn verified_on_store(&self) -> bool {
        (**self).verified_on_store()
    }
}

/// A [`BlockSource`] made of a closure `(cid, out) -> Result<Option<len>, E>`.
#[derive(Clone, Copy, Debug)]
pub struct FnSource<F>(pub F);

impl<F, E> BlockSource for FnSource<F>
where
    F: FnMut(&Cid, &mut [u8]) -> Result<Option<usize>, E>,
    E: core::fmt::Debug + core::fmt::Display,
{
    type Error = E;

    fn read_block(&mut self, cid: &Cid, out: &mut [u8]) -> Result<Option<usize>, E> {
        (self.0)(cid, out)
    }
}

/// Why a block could not be loaded for a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LoadError<E> {
    /// The source failed.
    Source(E),
    /// The source does not have the block.
    Missing(Cid),
    /// The source returned bytes that are not the block the CID names.
    Invalid(Cid, BlockError),
    /// The block is longer than the buffer.
    BufferTooSmall(Cid),
}

/// Loads the block `cid` into `buf` and checks it against the CID (unless the source vouches
/// for its blocks: [`BlockSource::verified_on_store`]); an identity CID's block is its digest.
/// Returns the block's length.
pub(crate) fn load<S: BlockSource>(
    source: &mut S,
    cid: &Cid,
    buf: &mut [u8],
) -> Result<usize, LoadError<S::Error>> {
    if super::is_inline(cid) {
        let digest = cid.hash().digest();
        let dst = buf
            .get_mut(..digest.len())
            .ok_or(LoadError::BufferTooSmall(*cid))?;
        dst.copy_from_slice(digest);
        return Ok(digest.len());
    }
    let len = source
        .read_block(cid, buf)
        .map_err(LoadError::Source)?
        .ok_or(LoadError::Missing(*cid))?;
    let bytes = buf.get(..len).ok_or(LoadError::BufferTooSmall(*cid))?;
    if len > MAX_BLOCK_LEN {
        return Err(LoadError::Invalid(*cid, BlockError::TooLarge(len)));
    }
    if !source.verified_on_store() {
        Block::verify(*cid, bytes).map_err(|e| LoadError::Invalid(*cid, e))?;
    }
    Ok(len)
}
