use super::*;
use crate::dagpb::PbNode;
use crate::unixfs::UnixFsData;

fn import(
    config: ImporterConfig,
    bytes: &[u8],
    pieces: usize,
) -> (ImportedNode, Vec<ImportedBlock>) {
    let mut imp = FileImporter::new(config).unwrap();
    let mut blocks = Vec::new();
    let mut sink = |b: ImportedBlock| -> Result<(), ()> {
        blocks.push(b);
        Ok(())
    };
    for part in bytes.chunks(bytes.len().div_ceil(pieces.max(1)).max(1)) {
        imp.write_all(part, &mut sink).unwrap();
    }
    let root = imp.finish_into(&mut sink).unwrap();
    (root, blocks)
}

#[test]
fn empty_file_is_one_empty_leaf() {
    let (root, blocks) = import(ImporterConfig::kubo(), b"", 1);
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].data, [0x0a, 0x04, 0x08, 0x02, 0x18, 0x00]);
    // QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH is the well-known empty file of kubo.
    assert_eq!(
        root.cid
            .to_string_of_base(crate::multibase::Base::Base58Btc)
            .unwrap()
            .len(),
        46
    );
    assert_eq!(root.file_size, 0);
    assert_eq!(root.tsize, 6);
    let (root, blocks) = import(ImporterConfig::v1_raw_leaves(), b"", 1);
    assert_eq!(blocks.len(), 1);
    assert!(blocks[0].data.is_empty());
    assert_eq!(root.cid.codec(), codec::RAW);
}

#[test]
fn single_chunk_is_its_leaf() {
    let (root, blocks) = import(ImporterConfig::kubo(), b"hello", 1);
    assert_eq!(blocks.len(), 1);
    assert_eq!(root.cid, blocks[0].cid);
    let node = PbNode::parse(&blocks[0].data).unwrap();
    let data = UnixFsData::parse(node.data().unwrap()).unwrap();
    assert_eq!(data.data(), Some(&b"hello"[..]));
    assert_eq!(data.filesize(), Some(5));
}

#[test]
fn layout_is_balanced_and_sizes_add_up() {
    let config = ImporterConfig {
        chunk_size: 4,
        max_links: 3,
        ..ImporterConfig::kubo()
    };
    // 10 chunks: 4 parents of <= 3 leaves, then 2 parents, then the root.
    let bytes: Vec<u8> = (0..40u8).collect();
    let (root, blocks) = import(config, &bytes, 7);
    assert_eq!(blocks.len(), 10 + 4 + 2 + 1);
    assert_eq!(blocks.last().unwrap().cid, root.cid);
    assert_eq!(root.file_size, 40);
    assert_eq!(
        root.tsize,
        blocks.iter().map(|b| b.data.len() as u64).sum::<u64>()
    );
    let node = PbNode::parse(&blocks.last().unwrap().data).unwrap();
    assert_eq!(node.link_count(), 2);
    let data = UnixFsData::parse(node.data().unwrap()).unwrap();
    assert_eq!(data.blocksizes().collect::<Vec<_>>(), [36, 4]);
    for block in &blocks {
        assert_eq!(block.cid.hash(), &Multihash::sha2_256(&block.data));
    }
}

#[test]
fn write_stops_while_blocks_wait() {
    let config = ImporterConfig {
        chunk_size: 4,
        ..ImporterConfig::kubo()
    };
    let mut imp = FileImporter::new(config).unwrap();
    assert_eq!(imp.write(b"abcdef"), 4);
    assert_eq!(imp.write(b"ef"), 0);
    assert!(imp.poll_block().is_some());
    assert!(imp.poll_block().is_none());
    assert_eq!(imp.write(b"ef"), 2);
}

#[test]
fn config_bounds() {
    for bad in [
        ImporterConfig {
            chunk_size: 0,
            ..ImporterConfig::kubo()
        },
        ImporterConfig {
            chunk_size: MAX_BLOCK_LEN,
            ..ImporterConfig::kubo()
        },
        ImporterConfig {
            max_links: 1,
            ..ImporterConfig::kubo()
        },
    ] {
        assert!(FileImporter::new(bad).is_err());
    }
}

proptest::proptest! {
    #[test]
    fn leaf_fast_path_matches_the_general_encoder(chunk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        let fields = DataFields {
            data: (!chunk.is_empty()).then_some(&chunk[..]),
            filesize: Some(chunk.len() as u64),
            ..DataFields::new(DataType::File)
        };
        proptest::prop_assert_eq!(encode_file_leaf(&chunk), encode_node([], &fields));
    }
}

#[test]
fn leaf_fast_path_at_chunk_sizes() {
    for len in [0, 127, 128, 16_383, 16_384, 262_144, 1 << 20] {
        let chunk = vec![3u8; len];
        let fields = DataFields {
            data: (!chunk.is_empty()).then_some(&chunk[..]),
            filesize: Some(len as u64),
            ..DataFields::new(DataType::File)
        };
        assert_eq!(encode_file_leaf(&chunk), encode_node([], &fields), "{len}");
    }
}

proptest::proptest! {
    /// `write_all_blocks` hands the same blocks as `write_all`, each one a valid block (the
    /// CID it skips re-hashing is the bytes' hash), for every layout setting.
    #[test]
    fn blocks_sink_matches_the_imported_blocks(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
        chunk_size in 1usize..300,
        max_links in 2usize..6,
        raw_leaves in proptest::prelude::any::<bool>(),
        v1 in proptest::prelude::any::<bool>(),
        pieces in 1usize..5,
    ) {
        let config = ImporterConfig {
            chunk_size,
            max_links,
            cid_version: if v1 { Version::V1 } else { Version::V0 },
            raw_leaves,
        };
        let (root, expected) = import(config, &bytes, pieces);
        let mut imp = FileImporter::new(config).unwrap();
        let mut got: Vec<(Cid, Vec<u8>)> = Vec::new();
        let mut sink = |b: Block<'_>| -> Result<(), ()> {
            assert!(Block::verify(*b.cid(), b.data()).is_ok());
            got.push((*b.cid(), b.data().to_vec()));
            Ok(())
        };
        for part in bytes.chunks(bytes.len().div_ceil(pieces).max(1)) {
            imp.write_all_blocks(part, &mut sink).unwrap();
        }
        proptest::prop_assert_eq!(imp.finish_into_blocks(&mut sink).unwrap(), root);
        let expected: Vec<(Cid, Vec<u8>)> = expected.into_iter().map(|b| (b.cid, b.data)).collect();
        proptest::prop_assert_eq!(got, expected);
    }
}

/// Imports `bytes` through `make_leaf` and `push_leaf`: every block in the order a store would
/// get them (each leaf, then the parents it completes), and the root.
fn import_by_leaves(config: ImporterConfig, bytes: &[u8]) -> (ImportedNode, Vec<(Cid, Vec<u8>)>) {
    let mut imp = FileImporter::new(config).unwrap();
    let mut blocks = Vec::new();
    let mut sink = |b: Block<'_>| -> Result<(), ()> {
        assert!(Block::verify(*b.cid(), b.data()).is_ok());
        blocks.push((*b.cid(), b.data().to_vec()));
        Ok(())
    };
    for chunk in bytes.chunks(config.chunk_size) {
        let leaf = config.make_leaf(chunk.to_vec()).unwrap();
        sink(leaf.block()).unwrap();
        imp.push_leaf(leaf.node()).unwrap();
        imp.drain_blocks(&mut sink).unwrap();
    }
    let root = imp.finish_into_blocks(&mut sink).unwrap();
    (root, blocks)
}

proptest::proptest! {
    /// Leaves made apart and pushed in order give the very blocks (CIDs, bytes, order) and root
    /// of the streaming path, for every layout setting and both leaf kinds.
    #[test]
    fn pushed_leaves_match_the_streaming_path(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000),
        chunk_size in 1usize..64,
        max_links in 2usize..8,
        raw_leaves in proptest::prelude::any::<bool>(),
        v1 in proptest::prelude::any::<bool>(),
        pieces in 1usize..5,
    ) {
        let config = ImporterConfig {
            chunk_size,
            max_links,
            cid_version: if v1 { Version::V1 } else { Version::V0 },
            raw_leaves,
        };
        let (root, expected) = import(config, &bytes, pieces);
        let expected: Vec<(Cid, Vec<u8>)> = expected.into_iter().map(|b| (b.cid, b.data)).collect();
        let (pushed_root, pushed) = import_by_leaves(config, &bytes);
        proptest::prop_assert_eq!(pushed_root, root);
        proptest::prop_assert_eq!(pushed, expected);
    }

    /// Any sequence of calls on the leaf path never panics, and a refused leaf changes nothing.
    #[test]
    fn arbitrary_leaf_calls_never_panic(
        ops in proptest::collection::vec((0u8..5, 0usize..12), 0..40),
        raw_leaves in proptest::prelude::any::<bool>(),
    ) {
        let config = ImporterConfig { chunk_size: 8, max_links: 3, raw_leaves, ..ImporterConfig::kubo() };
        let mut imp = FileImporter::new(config).unwrap();
        for (op, len) in ops {
            match op {
                0 => {
                    if let Ok(leaf) = config.make_leaf(vec![1; len]) {
                        let _ = imp.push_leaf(leaf.node());
                    } else {
                        proptest::prop_assert!(len > 8);
                    }
                }
                1 => { let _ = imp.write(&vec![2; len]); }
                2 => { while imp.poll_block().is_some() {} }
                3 => { let _ = imp.finish(); }
                _ => { let _ = imp.drain_blocks(&mut |_| Ok::<(), ()>(())); }
            }
        }
    }
}

#[test]
fn leaf_feeding_rules_are_enforced() {
    let config = ImporterConfig {
        chunk_size: 4,
        max_links: 2,
        ..ImporterConfig::kubo()
    };
    let leaf = |n: usize| config.make_leaf(vec![9; n]).unwrap().node();
    assert_eq!(
        config.make_leaf(vec![0; 5]),
        Err(ChunkTooLong { len: 5, max: 4 })
    );
    // Bytes first: no leaves.
    let mut imp = FileImporter::new(config).unwrap();
    assert_eq!(imp.write(b"ab"), 2);
    assert_eq!(imp.push_leaf(leaf(4)), Err(PushLeafError::BytesWritten));
    // Leaves first: no bytes, and `write_all` stops rather than spinning.
    let mut imp = FileImporter::new(config).unwrap();
    imp.push_leaf(leaf(4)).unwrap();
    assert_eq!(imp.write(b"ab"), 0);
    imp.write_all(b"abcdef", &mut |_| Ok::<(), ()>(())).unwrap();
    imp.push_leaf(leaf(4)).unwrap();
    // Two leaves make a parent, which must be drained first.
    assert_eq!(imp.push_leaf(leaf(4)), Err(PushLeafError::BlocksWaiting));
    assert!(imp.poll_block().is_some());
    let too_large = ImportedNode {
        file_size: 9,
        ..leaf(4)
    };
    assert_eq!(
        imp.push_leaf(too_large),
        Err(PushLeafError::LeafTooLarge(9))
    );
    imp.push_leaf(leaf(1)).unwrap();
    assert_eq!(imp.push_leaf(leaf(4)), Err(PushLeafError::AfterShortLeaf));
    let root = imp.finish();
    assert_eq!(root.file_size, 9);
    assert_eq!(imp.push_leaf(leaf(4)), Err(PushLeafError::Finished));
    // No leaf pushed: the empty file, as with no bytes written.
    let mut imp = FileImporter::new(config).unwrap();
    let (empty, _) = import(config, b"", 1);
    assert_eq!(imp.finish(), empty);
    assert_eq!(
        config.make_leaf(Vec::new()).unwrap().node(),
        empty,
        "the empty leaf is the empty file"
    );
}
