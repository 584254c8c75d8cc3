//! Writing a HAMT-sharded directory, node for node as `ipfs-unixfs-importer` (`dir-sharded.ts`
//! with the `hamt-sharding` package) and kubo (boxo `ipld/unixfs/hamt`) write it.
//!
//! The entries go into a trie of 256-way buckets by their hash bits ([`super::hamt`]): an
//! entry takes the empty slot of its index; when the slot holds another entry, the slot
//! becomes a sub-bucket holding both, one level deeper (again and again while their indexes
//! agree). Each bucket is then one dag-pb node, children first:
//!
//! - links in index order (which is also name order: the labels are upper-case hex), named
//!   `XX` + the entry's name for an entry (Tsize: the entry's), `XX` alone for a sub-bucket
//!   (Tsize: the sub-bucket's block plus its links' Tsizes);
//! - Data: UnixFS `HAMTShard` with `Data` the bitfield of used slots (bit `i` for index `i`,
//!   as a big-endian number in the fewest bytes), `hashType` 0x22 and `fanout` 256; no
//!   `filesize`, no `blocksizes`;
//! - the node's CID has the directory's CID version (dag-pb, sha2-256), sub-buckets too.

use super::data::{DataFields, DataType};
use super::hamt::{DEFAULT_FANOUT, HAMT_HASH_MURMUR3, MAX_LEVELS, bucket_index, write_label};
use super::importer::{ImportedBlock, ImportedNode, dag_pb_cid, encode_node};
use crate::cid::Version;
use crate::dagpb::PbLink;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::collections::btree_map::Entry;
use alloc::string::String;
use alloc::vec::Vec;

const BITS: u32 = DEFAULT_FANOUT.trailing_zeros();
const LABEL_LEN: usize = 2;

/// Why a shard could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShardError<E> {
    /// The sink failed.
    Sink(E),
    /// Two names agree on [`MAX_LEVELS`] levels of hash bits.
    TooDeep,
    /// A node would pass [`crate::block::MAX_BLOCK_LEN`] (names of megabytes).
    BlockTooLarge,
}

#[derive(Debug, Default)]
struct Bucket {
    slots: BTreeMap<u16, Slot>,
}

#[derive(Debug)]
enum Slot {
    Leaf(String, ImportedNode),
    Sub(Box<Bucket>),
}

impl Bucket {
    fn insert(&mut self, name: String, node: ImportedNode, level: usize) -> Result<(), ()> {
        if level >= MAX_LEVELS {
            return Err(());
        }
        let index = bucket_index(name.as_bytes(), level, BITS) as u16;
        match self.slots.entry(index) {
            Entry::Vacant(slot) => {
                slot.insert(Slot::Leaf(name, node));
                Ok(())
            }
            Entry::Occupied(mut slot) => match slot.get_mut() {
                Slot::Sub(sub) => sub.insert(name, node, level + 1),
                Slot::Leaf(..) => {
                    let mut sub = Box::<Bucket>::default();
                    let Slot::Leaf(old_name, old_node) =
                        core::mem::replace(slot.get_mut(), Slot::Sub(Box::default()))
                    else {
                        unreachable!("matched a leaf above");
                    };
                    sub.insert(old_name, old_node, level + 1)?;
                    sub.insert(name, node, level + 1)?;
                    *slot.get_mut() = Slot::Sub(sub);
                    Ok(())
                }
            },
        }
    }

    /// The bitfield of used slots: big-endian, fewest bytes (none for an empty bucket, as
    /// `sparse-array` gives).
    fn bitfield(&self) -> Vec<u8> {
        if self.slots.is_empty() {
            return Vec::new();
        }
        let mut little = [0u8; (DEFAULT_FANOUT / 8) as usize];
        for &index in self.slots.keys() {
            little[index as usize / 8] |= 1 << (index % 8);
        }
        let used = little.iter().rposition(|&b| b != 0).map_or(1, |i| i + 1);
        little[..used].iter().rev().copied().collect()
    }

    fn encode<E>(
        self,
        version: Version,
        sink: &mut impl FnMut(ImportedBlock) -> Result<(), E>,
    ) -> Result<ImportedNode, ShardError<E>> {
        let bitfield = self.bitfield();
        let mut links: Vec<(String, ImportedNode)> = Vec::with_capacity(self.slots.len());
        for (index, slot) in self.slots {
            let mut label = [0u8; LABEL_LEN];
            write_label(index as usize, LABEL_LEN, &mut label);
            let mut name = String::from(core::str::from_utf8(&label).expect("hex digits"));
            let node = match slot {
                Slot::Leaf(entry, node) => {
                    name.push_str(&entry);
                    node
                }
                Slot::Sub(sub) => sub.encode(version, sink)?,
            };
            links.push((name, node));
        }
        let fields = DataFields {
            data: (!bitfield.is_empty()).then_some(&bitfield[..]),
            hash_type: Some(HAMT_HASH_MURMUR3),
            fanout: Some(DEFAULT_FANOUT),
            ..DataFields::new(DataType::HamtShard)
        };
        let block = encode_node(
            links
                .iter()
                .map(|(name, node)| PbLink::new(node.cid, name, node.tsize)),
            &fields,
        );
        if block.len() > crate::block::MAX_BLOCK_LEN {
            return Err(ShardError::BlockTooLarge);
        }
        let cid = dag_pb_cid(version, &block);
        let tsize = links.iter().fold(block.len() as u64, |sum, (_, n)| {
            sum.saturating_add(n.tsize)
        });
        sink(ImportedBlock { cid, data: block }).map_err(ShardError::Sink)?;
        Ok(ImportedNode {
            cid,
            tsize,
            file_size: 0,
        })
    }
}

/// Writes the HAMT of `entries` (unique names), handing every node to `sink`, sub-shards
/// first; returns the root shard's node.
pub(crate) fn write_shard<E>(
    entries: Vec<(String, ImportedNode)>,
    version: Version,
    sink: &mut impl FnMut(ImportedBlock) -> Result<(), E>,
) -> Result<ImportedNode, ShardError<E>> {
    let mut root = Bucket::default();
    for (name, node) in entries {
        root.insert(name, node, 0)
            .map_err(|()| ShardError::TooDeep)?;
    }
    root.encode(version, sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket_of(indexes: &[u16]) -> Bucket {
        let mut b = Bucket::default();
        for &i in indexes {
            b.slots.insert(i, Slot::Sub(Box::default()));
        }
        b
    }

    #[test]
    fn bitfields_are_minimal_big_endian() {
        assert_eq!(bucket_of(&[0]).bitfield(), [0x01]);
        assert_eq!(bucket_of(&[7]).bitfield(), [0x80]);
        assert_eq!(bucket_of(&[8, 0]).bitfield(), [0x01, 0x01]);
        let all: Vec<u16> = (0..256).collect();
        assert_eq!(bucket_of(&all).bitfield(), [0xff; 32]);
        let mut top = vec![0u8; 32];
        top[0] = 0x80;
        assert_eq!(bucket_of(&[255]).bitfield(), top);
        assert!(Bucket::default().bitfield().is_empty());
    }
}
