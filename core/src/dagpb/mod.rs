//! dag-pb, the IPLD codec of UnixFS: a protobuf `PBNode` of links and opaque data, as
//! <https://ipld.io/specs/codecs/dag-pb/spec/> defines it.
//!
//! ```text
//! message PBLink { optional bytes Hash = 1; optional string Name = 2; optional uint64 Tsize = 3; }
//! message PBNode { repeated PBLink Links = 2; optional bytes Data = 1; }
//! ```
//!
//! [`PbNode::parse`] validates a block once and is then a view: [`PbNode::links`] re-scans the
//! bytes, so reading a node needs no `alloc` whatever its number of links. [`write_node`]
//! encodes into a caller buffer, links first and data last, as every IPFS implementation does.
//!
//! # Strictness
//! The decoder follows the spec and the reference decoders (`@ipld/dag-pb`, go-codec-dagpb):
//! - only fields 1 (Data) and 2 (Links) in a node, and 1 (Hash), 2 (Name), 3 (Tsize) in a
//!   link, each with its own wire type; anything else is rejected;
//! - a link's fields appear in field-number order, each at most once, and Hash is required and
//!   must be a CID;
//! - Data appears at most once, and the links form one contiguous group: `Links, Data` and
//!   `Data, Links` are both accepted (existing blocks use both), `Links, Data, Links` is not.
//!
//! # Q&A
//! *Why is a link's name bytes and not `&str`?* The spec calls it a UTF-8 string, but the Go
//! decoder keeps whatever bytes are there and blocks with such names exist; refusing them would
//! make such a directory unreadable. [`PbLink::name_str`] gives the UTF-8 view.
//!
//! *Are links sorted?* The data model requires links sorted by name bytes, and
//! `@ipld/dag-pb`'s `prepare` sorts them before encoding. [`write_node`] writes them in the
//! order given: the UnixFS directory builder sorts its entries, and a file's links all have the
//! empty name, where a stable sort keeps their order.

mod writer;

pub use writer::{encoded_len, link_body_len, link_encoded_len, write_node};

use crate::cid::{Cid, CidError};
use crate::wire::proto::{Field, ProtoError, Reader, Value};

/// Field numbers of `PBNode`.
mod node_field {
    pub const DATA: u32 = 1;
    pub const LINKS: u32 = 2;
}

/// Field numbers of `PBLink`.
mod link_field {
    pub const HASH: u32 = 1;
    pub const NAME: u32 = 2;
    pub const TSIZE: u32 = 3;
}

/// Why bytes are not a valid dag-pb node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DagPbError {
    /// The bytes are not well-formed protobuf.
    Proto(ProtoError),
    /// A node field other than 1 (Data) and 2 (Links).
    UnknownNodeField(u32),
    /// A link field other than 1 (Hash), 2 (Name) and 3 (Tsize).
    UnknownLinkField(u32),
    /// A field with the wrong wire type (`node` says whether in the node or in a link).
    WrongWireType {
        /// Whether the field belongs to the node (`true`) or to a link.
        node: bool,
        /// The field number.
        field: u32,
    },
    /// Data appears twice.
    DuplicateData,
    /// Links appear on both sides of Data.
    InterleavedLinks,
    /// A link field appears twice.
    DuplicateLinkField(u32),
    /// A link's fields are out of field-number order.
    LinkFieldOrder,
    /// A link has no Hash.
    MissingHash,
    /// A link's Hash is not a binary CID.
    InvalidHash(CidError),
}

impl core::fmt::Display for DagPbError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DagPbError::Proto(e) => write!(f, "dag-pb: {e}"),
            DagPbError::UnknownNodeField(n) => write!(f, "dag-pb: unknown PBNode field {n}"),
            DagPbError::UnknownLinkField(n) => write!(f, "dag-pb: unknown PBLink field {n}"),
            DagPbError::WrongWireType { node, field } => {
                let msg = if *node { "PBNode" } else { "PBLink" };
                write!(f, "dag-pb: {msg} field {field} has the wrong wire type")
            }
            DagPbError::DuplicateData => f.write_str("dag-pb: duplicate Data field"),
            DagPbError::InterleavedLinks => f.write_str("dag-pb: Links on both sides of Data"),
            DagPbError::DuplicateLinkField(n) => write!(f, "dag-pb: duplicate PBLink field {n}"),
            DagPbError::LinkFieldOrder => f.write_str("dag-pb: PBLink fields out of order"),
            DagPbError::MissingHash => f.write_str("dag-pb: link without a Hash"),
            DagPbError::InvalidHash(e) => write!(f, "dag-pb: link Hash: {e}"),
        }
    }
}

impl core::error::Error for DagPbError {}

impl From<ProtoError> for DagPbError {
    fn from(e: ProtoError) -> Self {
        DagPbError::Proto(e)
    }
}

/// One link of a node: the child's CID, its name in a directory, and the cumulative size of
/// the child's DAG (its blocks' bytes, as the producer counted them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PbLink<'a> {
    /// The child's CID.
    pub hash: Cid,
    /// The name (absent and empty are different encodings).
    pub name: Option<&'a [u8]>,
    /// The cumulative size of the child's DAG (absent and 0 are different encodings).
    pub tsize: Option<u64>,
}

impl<'a> PbLink<'a> {
    /// A link with a (possibly empty) name and a size, the shape UnixFS writes.
    pub fn new(hash: Cid, name: &'a str, tsize: u64) -> Self {
        PbLink {
            hash,
            name: Some(name.as_bytes()),
            tsize: Some(tsize),
        }
    }

    /// The name as UTF-8, if present and valid.
    pub fn name_str(&self) -> Option<&'a str> {
        self.name.and_then(|n| core::str::from_utf8(n).ok())
    }

    /// Parses the body of one `PBLink` message.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DagPbError> {
        let mut hash = None;
        let mut name = None;
        let mut tsize = None;
        let mut last = 0u32;
        for field in Reader::new(bytes) {
            let Field { number, value } = field?;
            if number > link_field::TSIZE {
                return Err(DagPbError::UnknownLinkField(number));
            }
            if number == last {
                return Err(DagPbError::DuplicateLinkField(number));
            }
            if number < last {
                return Err(DagPbError::LinkFieldOrder);
            }
            last = number;
            let wrong = DagPbError::WrongWireType {
                node: false,
                field: number,
            };
            match (number, value) {
                (link_field::HASH, Value::Len(b)) => {
                    hash = Some(Cid::from_bytes(b).map_err(DagPbError::InvalidHash)?);
                }
                (link_field::NAME, Value::Len(b)) => name = Some(b),
                (link_field::TSIZE, Value::Varint(v)) => tsize = Some(v),
                _ => return Err(wrong),
            }
        }
        Ok(PbLink {
            hash: hash.ok_or(DagPbError::MissingHash)?,
            name,
            tsize,
        })
    }
}

/// A validated dag-pb node, borrowing its block's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PbNode<'a> {
    bytes: &'a [u8],
    data: Option<&'a [u8]>,
    link_count: usize,
}

impl<'a> PbNode<'a> {
    /// Validates a whole dag-pb block (see the module's strictness rules).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DagPbError> {
        let mut data = None;
        let mut link_count = 0usize;
        let mut links_before_data = false;
        for field in Reader::new(bytes) {
            let Field { number, value } = field?;
            let Value::Len(body) = value else {
                if number == node_field::DATA || number == node_field::LINKS {
                    return Err(DagPbError::WrongWireType {
                        node: true,
                        field: number,
                    });
                }
                return Err(DagPbError::UnknownNodeField(number));
            };
            match number {
                node_field::DATA => {
                    if data.is_some() {
                        return Err(DagPbError::DuplicateData);
                    }
                    data = Some(body);
                    links_before_data = link_count > 0;
                }
                node_field::LINKS => {
                    if links_before_data || (data.is_some() && link_count > 0) {
                        return Err(DagPbError::InterleavedLinks);
                    }
                    PbLink::parse(body)?;
                    link_count += 1;
                }
                other => return Err(DagPbError::UnknownNodeField(other)),
            }
        }
        Ok(PbNode {
            bytes,
            data,
            link_count,
        })
    }

    /// The Data field (absent and empty are different encodings).
    pub fn data(&self) -> Option<&'a [u8]> {
        self.data
    }

    /// The number of links.
    pub fn link_count(&self) -> usize {
        self.link_count
    }

    /// The links, in block order.
    pub fn links(&self) -> Links<'a> {
        Links {
            fields: Reader::new(self.bytes),
        }
    }

    /// The link at `index`, if there is one (a scan from the start of the block).
    pub fn link(&self, index: usize) -> Option<PbLink<'a>> {
        self.links().nth(index)
    }

    /// The whole block.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Whether the block is in the one form [`write_node`] produces for its contents (links
    /// before data, shortest varints), so that re-encoding gives the same bytes and CID.
    pub fn is_canonical(&self) -> bool {
        let data_first = self.link_count > 0
            && matches!(Reader::new(self.bytes).next(), Some(Ok(f)) if f.number == node_field::DATA);
        !data_first && encoded_len(self.links(), self.data) == self.bytes.len()
    }
}

/// The links of a [`PbNode`], in block order.
#[derive(Clone, Debug)]
pub struct Links<'a> {
    fields: Reader<'a>,
}

impl<'a> Iterator for Links<'a> {
    type Item = PbLink<'a>;

    fn next(&mut self) -> Option<PbLink<'a>> {
        // The node was validated, so every field reads and every link parses; a failure here
        // cannot happen and would end the iteration rather than panic.
        loop {
            let field = self.fields.next()?.ok()?;
            if field.number == node_field::LINKS {
                return PbLink::parse(field.bytes().ok()?).ok();
            }
        }
    }
}

#[cfg(test)]
mod tests;
