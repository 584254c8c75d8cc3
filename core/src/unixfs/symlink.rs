//! UnixFS symlinks: a dag-pb node without links whose Data is a UnixFS `Symlink` whose `Data`
//! is the link's target, bytes as the file system gave them (`ipfs/specs` UNIXFS.md,
//! "Symlink"). kubo (`ipfs add -r`, boxo's `unixfs.SymlinkData`) and `ipfs-unixfs` store a
//! symlink this way rather than follow it; an empty target writes no `Data` field, as
//! `ipfs-unixfs` does.
//!
//! [`write_symlink_block`] encodes into a caller buffer; [`target_stays_inside`] says whether a
//! target may be recreated on disk without pointing out of the directory being written.

use super::data::{DataFields, DataType};
use crate::wire::BufferTooSmall;
use crate::wire::proto::{Writer, len_field_len};

const PB_NODE_DATA: u32 = 1;
const UNIXFS_TYPE: u32 = 1;
const UNIXFS_DATA: u32 = 2;

fn fields(target: &[u8]) -> DataFields<'_> {
    DataFields {
        data: (!target.is_empty()).then_some(target),
        ..DataFields::new(DataType::Symlink)
    }
}

/// Bytes of the symlink node for `target`.
pub fn symlink_block_len(target: &[u8]) -> usize {
    len_field_len(PB_NODE_DATA, fields(target).encoded_len())
}

/// Writes the dag-pb block of a symlink to `target` into `out`; returns the written bytes.
pub fn write_symlink_block<'o>(
    target: &[u8],
    out: &'o mut [u8],
) -> Result<&'o [u8], BufferTooSmall> {
    let mut w = Writer::new(out);
    w.message(PB_NODE_DATA, |w| {
        // The fields `fields(target)` counts: Type, then Data when not empty.
        w.varint(UNIXFS_TYPE, DataType::Symlink.code())?;
        if !target.is_empty() {
            w.bytes(UNIXFS_DATA, target)?;
        }
        Ok(())
    })?;
    Ok(w.finish())
}

/// The imported node of a symlink to `target`: its block (CID of `version`) and its node
/// (Tsize: the block's length).
#[cfg(feature = "alloc")]
pub fn symlink_node(
    version: crate::cid::Version,
    target: &[u8],
) -> (super::ImportedBlock, super::ImportedNode) {
    let mut data = alloc::vec![0u8; symlink_block_len(target)];
    write_symlink_block(target, &mut data).expect("sized by symlink_block_len");
    let cid = super::importer::dag_pb_cid(version, &data);
    let node = super::ImportedNode {
        cid,
        tsize: data.len() as u64,
        file_size: 0,
    };
    (super::ImportedBlock { cid, data }, node)
}

/// Whether a symlink `depth` directories below an output directory (0: in it) whose target
/// is `target` points inside that directory: a relative path whose `..` components never climb
/// above it. Absolute and empty targets are not inside; nor is a target with a NUL byte.
pub fn target_stays_inside(depth: usize, target: &[u8]) -> bool {
    if target.is_empty() || target.starts_with(b"/") || target.contains(&0) {
        return false;
    }
    let mut level = depth;
    for part in target.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => match level.checked_sub(1) {
                Some(l) => level = l,
                None => return false,
            },
            _ => level += 1,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// UNIXFS.md: `Data { Type: Symlink (4), Data: target }` in `PBNode.Data`, no links.
    #[test]
    fn symlink_node_bytes_follow_the_spec() {
        let mut out = [0u8; 32];
        let block = write_symlink_block(b"a/b.txt", &mut out).unwrap();
        let mut want = vec![0x0a, 11, 0x08, 0x04, 0x12, 7];
        want.extend_from_slice(b"a/b.txt");
        assert_eq!(block, want);
        assert_eq!(symlink_block_len(b"a/b.txt"), want.len());
        assert_eq!(
            write_symlink_block(b"", &mut out).unwrap(),
            [0x0a, 0x02, 0x08, 0x04]
        );
        assert!(write_symlink_block(b"a/b.txt", &mut [0u8; 12]).is_err());

        let node = crate::dagpb::PbNode::parse(&want).unwrap();
        assert_eq!(node.link_count(), 0);
        let data = crate::unixfs::UnixFsData::parse(node.data().unwrap()).unwrap();
        assert_eq!(data.kind(), DataType::Symlink);
        assert_eq!(data.data(), Some(&b"a/b.txt"[..]));
        assert_eq!(data.filesize(), None);
    }

    #[test]
    fn symlink_nodes_get_cids_of_their_version() {
        use crate::cid::{Version, codec};
        let (block, node) = symlink_node(Version::V1, b"x");
        assert_eq!(node.cid.codec(), codec::DAG_PB);
        assert_eq!(node.tsize, block.data.len() as u64);
        crate::block::Block::verify(node.cid, &block.data).unwrap();
        let (_, v0) = symlink_node(Version::V0, b"x");
        assert_eq!(v0.cid.version(), Version::V0);
    }

    #[test]
    fn containment() {
        assert!(target_stays_inside(0, b"a/b"));
        assert!(target_stays_inside(0, b"./a"));
        assert!(target_stays_inside(1, b"../a"));
        assert!(target_stays_inside(0, b"a/../b"));
        assert!(!target_stays_inside(0, b"../a"));
        assert!(!target_stays_inside(1, b"../../a"));
        assert!(!target_stays_inside(0, b"a/../../b"));
        assert!(!target_stays_inside(3, b"/etc/passwd"));
        assert!(!target_stays_inside(0, b""));
        assert!(!target_stays_inside(0, b"a\0b"));
    }

    proptest! {
        #[test]
        fn arbitrary_targets_never_panic(target in proptest::collection::vec(any::<u8>(), 0..300), depth in 0usize..8) {
            let _ = target_stays_inside(depth, &target);
            let mut out = vec![0u8; symlink_block_len(&target)];
            let block = write_symlink_block(&target, &mut out).unwrap().to_vec();
            let node = crate::dagpb::PbNode::parse(&block).unwrap();
            let data = crate::unixfs::UnixFsData::parse(node.data().unwrap()).unwrap();
            prop_assert_eq!(data.data().unwrap_or(&[]), &target[..]);
        }

        #[test]
        fn text_targets_never_panic(target in ".{0,60}", depth in 0usize..4) {
            let _ = target_stays_inside(depth, target.as_bytes());
        }
    }
}
