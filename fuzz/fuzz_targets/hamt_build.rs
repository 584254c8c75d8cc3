//! UnixFS directories, plain and HAMT-sharded: a directory built from arbitrary names (one a
//! line, the first 64, at a sharding threshold and CID version from the first byte) lists
//! back to exactly the names and CIDs put in, every name is found again by `find_entry`
//! (through the HAMT's buckets), a name not put in is not found, and the root is a HAMT
//! exactly when the estimate (name bytes plus CID bytes) passes the threshold.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhizo_core::block::{Block, BlockStore, MemoryBlockStore};
use rhizo_core::cid::{Cid, Version, codec};
use rhizo_core::multihash::Multihash;
use rhizo_core::unixfs::{
    DirectoryBuilder, DirectoryLister, ImportedBlock, ImportedNode, NodeInfo, NodeKind, find_entry,
};
use std::collections::BTreeMap;

fuzz_target!(|input: &[u8]| {
    let [settings, rest @ ..] = input else {
        return;
    };
    let threshold = usize::from(settings >> 1) * 16;
    let version = if settings & 1 == 0 {
        Version::V0
    } else {
        Version::V1
    };
    let mut builder = DirectoryBuilder::new(version).with_shard_threshold(threshold);
    let mut want = BTreeMap::new();
    // At most 64 names: each is looked up from the root, reading (and hashing) its nodes.
    for line in rest.split(|&b| b == b'\n').take(64) {
        // One name, not a path: the builder reads `/` as a separator.
        let name = String::from_utf8_lossy(line).replace('/', "_");
        let node = ImportedNode {
            cid: Cid::new_v1(codec::RAW, Multihash::sha2_256(name.as_bytes())).unwrap(),
            tsize: name.len() as u64,
            file_size: name.len() as u64,
        };
        let valid = !name.is_empty() && name != "." && name != "..";
        match builder.add(&name, node) {
            Ok(()) => {
                assert!(valid, "{name:?} was taken");
                assert!(
                    want.insert(name, node.cid).is_none(),
                    "a duplicate was taken"
                );
            }
            Err(_) => assert!(!valid || want.contains_key(&name), "{name:?} was refused"),
        }
    }
    let mut store = MemoryBlockStore::new();
    let root = builder
        .finish(&mut |blk: ImportedBlock| {
            store.put(Block::verify(blk.cid, &blk.data).expect("builder CIDs match"))
        })
        .expect("any set of names builds");

    // Names and CIDs come from the input (4 KiB by default): a node is smaller than that
    // plus its links' overhead.
    let mut buf = vec![0u8; 64 * 1024 + rest.len() * 4];
    let mut lister = DirectoryLister::<64>::new(root.cid);
    let mut listed = BTreeMap::new();
    while let Some(e) = lister.next_entry(&store, &mut buf).expect("lists") {
        let name = e.name_str().expect("names are UTF-8").to_owned();
        assert!(listed.insert(name, e.cid).is_none(), "listed twice");
    }
    assert_eq!(listed, want);
    for (name, cid) in &want {
        let found = find_entry(&store, root.cid, name.as_bytes(), &mut buf).expect("finds");
        assert_eq!(found.map(|f| f.cid), Some(*cid), "{name:?}");
    }
    let absent = find_entry(&store, root.cid, b"/not a name", &mut buf).expect("finds");
    assert_eq!(absent, None);

    let estimate: usize = want.iter().map(|(n, c)| n.len() + c.encoded_len()).sum();
    let len = store.read(&root.cid, &mut buf).unwrap().unwrap();
    let kind = NodeInfo::parse(&root.cid, &buf[..len]).unwrap().kind;
    let sharded = estimate > threshold;
    assert_eq!(kind == NodeKind::HamtShard, sharded, "estimate {estimate}");
});
