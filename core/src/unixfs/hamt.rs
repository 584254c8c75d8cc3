//! UnixFS HAMT directories (<https://specs.ipfs.tech/unixfs/#hamt-structure-and-parameters>):
//! where a name goes, and finding one name in a directory, plain or sharded, without `alloc`.
//!
//! A name's place is read from an endless stream of hash bits: the 64 bits of
//! `murmur3-x64-64(name)` ([`super::murmur3`]), most significant first, then those of
//! `murmur3-x64-64(name ‖ [1])`, `name ‖ [2]`... (`hamt-sharding`'s `InfiniteHash`, which
//! `ipfs-unixfs-importer` uses). Level `d` of the trie takes the next `log2(fanout)` bits as
//! its bucket index: 8 bits, one byte of the hash, at the default fan-out of 256. A shard
//! node's links are named with the index in upper-case hex, padded to the digits of
//! `fanout - 1`, followed by the entry's name for an entry, or alone for a sub-shard.
//!
//! [`find_entry`] looks one name up: a plain directory's links are scanned; a HAMT is walked
//! from the root, one node per level, reading each node into the caller's buffer.

use super::exporter::ExportError;
use super::source::{BlockSource, load};
use super::{DataType, murmur3::Murmur3x64, parse_node};
use crate::cid::{Cid, codec};

/// The multihash code of the HAMT hash function (`murmur3-x64-64`), the `hashType` kubo and
/// the JS importer write.
pub const HAMT_HASH_MURMUR3: u64 = 0x22;
/// The fan-out kubo and the JS importer write: 256 buckets a node.
pub const DEFAULT_FANOUT: u64 = 256;
/// The most levels a lookup walks (and the builder makes): 64 levels of 8 bits are 512 bits
/// of hash, eight rounds of `murmur3-x64-64`.
pub const MAX_LEVELS: usize = 64;

/// The bits of a fan-out (`log2`), if it is a power of two from 2 to 2^16.
pub fn fanout_bits(fanout: u64) -> Option<u32> {
    (fanout.is_power_of_two() && (2..=1 << 16).contains(&fanout)).then(|| fanout.trailing_zeros())
}

/// The hex digits of a bucket index at `fanout` (those of `fanout - 1`).
pub fn label_len(fanout: u64) -> Option<usize> {
    fanout_bits(fanout).map(|bits| (bits as usize).div_ceil(4))
}

/// The hash of one round: round 0 hashes the name, round `r` hashes the name and the byte
/// `r` (`hamt-sharding` appends its depth as one byte).
fn round_hash(name: &[u8], round: usize) -> u64 {
    let mut h = Murmur3x64::new(0);
    h.update(name);
    if round > 0 {
        h.update(&[round as u8]);
    }
    h.finish128().0
}

/// The bucket index of `name` at `level` of a trie of `bits`-bit indexes.
pub fn bucket_index(name: &[u8], level: usize, bits: u32) -> usize {
    let first = level * bits as usize;
    let mut cached: Option<(usize, u64)> = None;
    let mut index = 0usize;
    for bit in first..first + bits as usize {
        let round = bit / 64;
        let hash = match cached {
            Some((r, h)) if r == round => h,
            _ => {
                let h = round_hash(name, round);
                cached = Some((round, h));
                h
            }
        };
        index = (index << 1) | ((hash >> (63 - bit % 64)) & 1) as usize;
    }
    index
}

/// Writes `index` as `len` upper-case hex digits into `out` (at least `len` bytes).
pub fn write_label(index: usize, len: usize, out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for (i, slot) in out[..len].iter_mut().enumerate() {
        let shift = 4 * (len - 1 - i);
        *slot = HEX[(index >> shift) & 0xf];
    }
}

/// One directory entry found by [`find_entry`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FoundEntry {
    /// The entry's CID.
    pub cid: Cid,
    /// The cumulative size of its DAG, if the link states it.
    pub tsize: Option<u64>,
}

/// Finds the entry `name` in the directory `dir` (plain or a HAMT root); `Ok(None)` when it
/// has no such entry. `buf` must hold the directory's largest node. A node that is not a
/// directory is [`ExportError::NotADirectory`].
pub fn find_entry<S: BlockSource>(
    mut source: S,
    dir: Cid,
    name: &[u8],
    buf: &mut [u8],
) -> Result<Option<FoundEntry>, ExportError<S::Error>> {
    let mut node_cid = dir;
    let mut shard: Option<(u32, usize)> = None;
    for level in 0..MAX_LEVELS {
        if node_cid.codec() != codec::DAG_PB {
            return match shard {
                None => Err(ExportError::NotADirectory(node_cid, DataType::Raw)),
                Some(_) => Err(ExportError::InvalidShard(node_cid)),
            };
        }
        let len = load(&mut source, &node_cid, buf)?;
        let (node, data) = parse_node(&buf[..len]).map_err(|e| ExportError::Node(node_cid, e))?;
        match (data.kind(), shard) {
            (DataType::Directory, None) => {
                return Ok(node.links().find_map(|l| {
                    (l.name.unwrap_or(&[]) == name).then_some(FoundEntry {
                        cid: l.hash,
                        tsize: l.tsize,
                    })
                }));
            }
            (DataType::HamtShard, _) => {
                let fanout = data.fanout().ok_or(ExportError::InvalidShard(node_cid))?;
                let bits = fanout_bits(fanout).ok_or(ExportError::InvalidShard(node_cid))?;
                let digits = label_len(fanout).ok_or(ExportError::InvalidShard(node_cid))?;
                if shard.is_some_and(|s| s != (bits, digits))
                    || data.hash_type() != Some(HAMT_HASH_MURMUR3)
                {
                    return Err(ExportError::InvalidShard(node_cid));
                }
                shard = Some((bits, digits));
                let mut label = [0u8; 4];
                write_label(bucket_index(name, level, bits), digits, &mut label);
                let label = &label[..digits];
                let mut next = None;
                for link in node.links() {
                    let link_name = link.name.unwrap_or(&[]);
                    let Some(rest) = link_name.strip_prefix(label) else {
                        continue;
                    };
                    if rest.is_empty() {
                        next = Some(link.hash);
                        break;
                    }
                    if rest == name {
                        return Ok(Some(FoundEntry {
                            cid: link.hash,
                            tsize: link.tsize,
                        }));
                    }
                }
                match next {
                    Some(cid) => node_cid = cid,
                    None => return Ok(None),
                }
            }
            (_, Some(_)) => return Err(ExportError::InvalidShard(node_cid)),
            (kind, None) => return Err(ExportError::NotADirectory(node_cid, kind)),
        }
    }
    Err(ExportError::TooDeep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_are_the_hash_bytes_most_significant_first() {
        // murmur3-x64-64("hello") = 0xcbd8a7b341bd9b02 (spaolacci/murmur3's vectors).
        let bytes = 0xcbd8_a7b3_41bd_9b02u64.to_be_bytes();
        for (level, byte) in bytes.iter().enumerate() {
            assert_eq!(bucket_index(b"hello", level, 8), *byte as usize);
        }
        assert_eq!(bucket_index(b"hello", 0, 4), 0xc);
        assert_eq!(bucket_index(b"hello", 1, 4), 0xb);
        // Level 8 starts the second round: murmur3 of "hello" and the byte 1.
        let mut name = b"hello".to_vec();
        name.push(1);
        let round1 = super::super::murmur3::murmur3_x64_64(&name).to_be_bytes();
        assert_eq!(bucket_index(b"hello", 8, 8), round1[0] as usize);
        // 3-bit indexes cross the round boundary at bit 63: the last bit of round 0, then
        // the first two of round 1.
        let want = (((bytes[7] & 1) as usize) << 2) | (round1[0] >> 6) as usize;
        assert_eq!(bucket_index(b"hello", 21, 3), want);
    }

    #[test]
    fn labels() {
        let mut out = [0u8; 4];
        write_label(0xa, 2, &mut out);
        assert_eq!(&out[..2], b"0A");
        write_label(0x3ff, 3, &mut out);
        assert_eq!(&out[..3], b"3FF");
        assert_eq!(label_len(256), Some(2));
        assert_eq!(label_len(1024), Some(3));
        assert_eq!(label_len(16), Some(1));
        assert_eq!(label_len(100), None);
        assert_eq!(fanout_bits(1 << 17), None);
    }

    #[cfg(feature = "alloc")]
    mod built {
        use crate::block::{Block, BlockStore, MemoryBlockStore};
        use crate::cid::{Cid, Version};
        use crate::multihash::Multihash;
        use crate::unixfs::{
            DirectoryBuilder, DirectoryLister, ExportError, ImportedBlock, ImportedNode, find_entry,
        };
        use proptest::prelude::*;
        use std::collections::BTreeMap;

        fn node(seed: &str) -> ImportedNode {
            ImportedNode {
                cid: Cid::new_v0(Multihash::sha2_256(seed.as_bytes())).unwrap(),
                tsize: 10,
                file_size: 2,
            }
        }

        /// Builds a flat directory of `names` at `threshold`, lists it and looks every name
        /// up; returns the store and root for more checks.
        fn round_trip(names: &[String], threshold: usize) -> (MemoryBlockStore, Cid) {
            let mut b = DirectoryBuilder::new(Version::V1).with_shard_threshold(threshold);
            let mut want = BTreeMap::new();
            for name in names {
                if b.add(name, node(name)).is_ok() {
                    want.insert(name.clone(), node(name).cid);
                }
            }
            let mut store = MemoryBlockStore::new();
            let root = b
                .finish(&mut |blk: ImportedBlock| {
                    store
                        .put(Block::verify(blk.cid, &blk.data).unwrap())
                        .map(drop)
                })
                .unwrap();
            let mut buf = vec![0u8; crate::block::MAX_BLOCK_LEN];
            let mut lister = DirectoryLister::<{ super::MAX_LEVELS }>::new(root.cid);
            let mut listed = BTreeMap::new();
            while let Some(e) = lister.next_entry(&store, &mut buf).unwrap() {
                listed.insert(e.name_str().unwrap().to_owned(), e.cid);
            }
            assert_eq!(listed, want);
            for (name, cid) in &want {
                let found = find_entry(&store, root.cid, name.as_bytes(), &mut buf).unwrap();
                assert_eq!(found.map(|f| f.cid), Some(*cid), "{name}");
            }
            let missing = find_entry(&store, root.cid, b"\xffnot there", &mut buf).unwrap();
            assert_eq!(missing, None);
            (store, root.cid)
        }

        #[test]
        fn sharded_directories_list_and_find_every_name() {
            let names: Vec<String> = (0..600).map(|i| format!("file-{i:05}.txt")).collect();
            round_trip(&names, 1000);
            round_trip(&names, usize::MAX);
        }

        #[test]
        fn lookup_through_a_file_is_not_a_directory() {
            let (store, root) = round_trip(&["a".to_owned()], 0);
            let mut buf = vec![0u8; 4096];
            let file = node("a").cid;
            assert!(store.has(&root).unwrap());
            let err = find_entry(&store, file, b"x", &mut buf).unwrap_err();
            assert!(matches!(err, ExportError::MissingBlock(_)), "{err:?}");
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            #[test]
            fn arbitrary_names_build_list_and_find(names in proptest::collection::vec("[^/]{1,12}", 0..120), threshold in 0usize..2000) {
                round_trip(&names, threshold);
            }
        }
    }
}
