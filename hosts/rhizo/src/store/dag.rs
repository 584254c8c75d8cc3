//! DAG links: the [`LinkReader`] seam that recursive pins and gc read links through, and the
//! walk over a DAG in the store.
//!
//! # Q&A
//! *Why a trait and not the codecs called directly?* The codecs (dag-pb, later dag-cbor) live
//! in rhizo-core; the store only needs "which CIDs does this block link to". A trait keeps the
//! store independent of which codecs exist, and lets the tests build DAGs out of raw blocks
//! with a fake reader. [`CodecLinks`] is the reader the `rhizo` command plugs in.

use super::StoreError;
use rhizo_core::cid::{Cid, codec};
use rhizo_core::dagpb::PbNode;
use std::collections::HashSet;

/// Why the links of a block could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkError {
    /// The block.
    pub cid: Cid,
    /// What is wrong, for a person.
    pub reason: String,
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot read the links of block {}: {}",
            self.cid, self.reason
        )
    }
}

impl std::error::Error for LinkError {}

/// Reads the CIDs a block links to, by its codec.
pub trait LinkReader: Send + Sync {
    /// Appends to `out` the CIDs that `data` (the verified bytes of `cid`) links to, in order.
    /// A codec the reader does not know is an error, never "no links": gc must not sweep what
    /// an unreadable block might link to.
    fn links(&self, cid: &Cid, data: &[u8], out: &mut Vec<Cid>) -> Result<(), LinkError>;

    /// Whether a block named `cid` can link to anything; `false` lets a walk check that the
    /// block is held without reading its bytes (raw leaves of a large file). Only return
    /// `false` where [`LinkReader::links`] would find no links whatever the bytes.
    fn may_link(&self, cid: &Cid) -> bool {
        let _ = cid;
        true
    }
}

/// The link reader of the `rhizo` command, by codec: raw blocks have no links, dag-pb blocks
/// link to their `Links` (parsed by `rhizo_core::dagpb`); any other codec is an error naming it.
#[derive(Clone, Copy, Debug, Default)]
pub struct CodecLinks;

impl LinkReader for CodecLinks {
    fn links(&self, cid: &Cid, data: &[u8], out: &mut Vec<Cid>) -> Result<(), LinkError> {
        match cid.codec() {
            codec::RAW => Ok(()),
            codec::DAG_PB => {
                let node = PbNode::parse(data).map_err(|e| LinkError {
                    cid: *cid,
                    reason: e.to_string(),
                })?;
                out.extend(node.links().map(|link| link.hash));
                Ok(())
            }
            other => Err(LinkError {
                cid: *cid,
                reason: format!("this rhizo has no link reader for codec {other:#x}"),
            }),
        }
    }

    fn may_link(&self, cid: &Cid) -> bool {
        cid.codec() != codec::RAW
    }
}

/// Visits every block reachable from `roots` once, parents before children: `get(cid,
/// need_bytes)` fetches a block's bytes (`None`: not held; it may answer `Some` of no bytes,
/// after checking the block is held, when `need_bytes` is false because the reader says the
/// block cannot link, or when the store knows the block has no links), `visit` sees each CID with those bytes or `None` when missing (a missing
/// block's links are unknown, so the walk does not go below it). Bounded by the DAG's size;
/// depth does not grow the call stack.
pub fn walk<L: LinkReader + ?Sized>(
    reader: &L,
    roots: &[Cid],
    mut get: impl FnMut(&Cid, bool) -> Result<Option<Vec<u8>>, StoreError>,
    mut visit: impl FnMut(&Cid, Option<&[u8]>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut seen: HashSet<Cid> = HashSet::new();
    let mut stack: Vec<Cid> = roots.iter().rev().copied().collect();
    let mut links = Vec::new();
    while let Some(cid) = stack.pop() {
        if !seen.insert(cid) {
            continue;
        }
        let may_link = reader.may_link(&cid);
        let data = get(&cid, may_link)?;
        visit(&cid, data.as_deref())?;
        // No bytes: none needed, or the block is known to have no links (no encoding can
        // link to anything in zero bytes).
        if let Some(data) = data.filter(|d| may_link && !d.is_empty()) {
            links.clear();
            reader
                .links(&cid, &data, &mut links)
                .map_err(|e| StoreError::Links(Box::new(e)))?;
            stack.extend(links.iter().rev().filter(|c| !seen.contains(c)));
        }
    }
    Ok(())
}
