//! Store tests: round trips, pins, gc with a fake link reader, verify against corruption.

use super::*;
use rhizo_core::cid::codec;
use std::collections::HashMap;

/// Links declared up front: DAGs made of raw blocks.
#[derive(Default)]
struct FakeLinks(HashMap<Cid, Vec<Cid>>);

impl LinkReader for FakeLinks {
    fn links(&self, cid: &Cid, _data: &[u8], out: &mut Vec<Cid>) -> Result<(), LinkError> {
        out.extend(self.0.get(cid).into_iter().flatten());
        Ok(())
    }
}

fn raw(data: &[u8]) -> Block<'_> {
    Block::new_v1(codec::RAW, data).unwrap()
}

fn open(dir: &Path) -> Store {
    Store::open(dir).unwrap()
}

#[test]
fn blocks_round_trip_and_totals_follow() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let a = raw(b"alpha");
    assert!(!store.has(a.cid()).unwrap());
    assert!(store.put(a).unwrap());
    assert!(!store.put(a).unwrap());
    assert_eq!(store.get(a.cid()).unwrap().unwrap(), b"alpha");
    assert_eq!(store.block_size(a.cid()).unwrap(), Some(5));
    let n = store.put_many([raw(b"b"), raw(b"cc"), a]).unwrap();
    assert_eq!(n, 2);
    let stat = store.stat().unwrap();
    assert_eq!((stat.blocks, stat.block_bytes), (3, 8));
    // The BlockStore trait: buffers too short are errors, not panics.
    let mut out = [0u8; 3];
    assert!(matches!(
        BlockStore::read(&store, a.cid(), &mut out),
        Err(StoreError::OutputTooShort(5))
    ));
    let mut out = [0u8; 8];
    assert_eq!(
        BlockStore::read(&store, a.cid(), &mut out).unwrap(),
        Some(5)
    );
    BlockStore::put(&mut store, raw(b"dddd")).unwrap();
    assert_eq!(store.stat().unwrap().blocks, 4);
    assert!(store.verify().unwrap().is_consistent());
}

#[test]
fn a_cid_v0_finds_the_block_of_its_v1_twin() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let block = Block::new_v1(codec::DAG_PB, b"\x0a\x02\x08\x01").unwrap();
    store.put(block).unwrap();
    let v0 = Cid::new_v0(*block.cid().hash()).unwrap();
    assert!(store.has(&v0).unwrap());
}

#[test]
fn a_dropped_batch_stores_nothing_and_reopen_keeps_commits() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        let mut batch = store.batch().unwrap();
        batch.insert(raw(b"kept")).unwrap();
        batch.commit().unwrap();
        let mut batch = store.batch().unwrap();
        batch.insert(raw(b"lost")).unwrap();
        drop(batch);
    }
    let store = open(dir.path());
    assert!(store.has(raw(b"kept").cid()).unwrap());
    assert!(!store.has(raw(b"lost").cid()).unwrap());
    assert!(store.verify().unwrap().is_consistent());
}

#[test]
fn pins_direct_and_recursive() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = raw(b"a");
    assert!(matches!(
        store.pin(a.cid(), PinMode::Direct),
        Err(StoreError::NotFound(_))
    ));
    store.put(a).unwrap();
    store.pin(a.cid(), PinMode::Direct).unwrap();
    store.pin(a.cid(), PinMode::Recursive).unwrap();
    assert!(matches!(
        store.pin(a.cid(), PinMode::Direct),
        Err(StoreError::AlreadyRecursive(_))
    ));
    assert_eq!(store.pins().unwrap(), vec![(*a.cid(), PinMode::Recursive)]);
    assert_eq!(store.unpin(a.cid()).unwrap(), PinMode::Recursive);
    assert!(matches!(
        store.unpin(a.cid()),
        Err(StoreError::NotPinned(_))
    ));
}

/// root -> (mid -> (leaf1, leaf2), leaf2); plus loose blocks.
fn linked_dag(dir: &Path) -> (Store, [Cid; 4]) {
    let [root, mid, leaf1, leaf2] = [b"root" as &[u8], b"mid", b"leaf1", b"leaf2"].map(raw);
    let mut links = FakeLinks::default();
    links.0.insert(*root.cid(), vec![*mid.cid(), *leaf2.cid()]);
    links.0.insert(*mid.cid(), vec![*leaf1.cid(), *leaf2.cid()]);
    let store = Store::open_with_links(dir, Arc::new(links)).unwrap();
    store.put_many([root, mid, leaf1, leaf2]).unwrap();
    (store, [root, mid, leaf1, leaf2].map(|b| *b.cid()))
}

#[test]
fn gc_keeps_direct_and_recursive_pins_and_sweeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (store, [root, mid, leaf1, leaf2]) = linked_dag(dir.path());
    let loose = raw(b"loose");
    let direct = raw(b"direct");
    store.put_many([loose, direct]).unwrap();
    store.pin(&root, PinMode::Recursive).unwrap();
    store.pin(direct.cid(), PinMode::Direct).unwrap();
    let mut indirect = store.indirect_pins().unwrap();
    indirect.sort();
    let mut expected = vec![mid, leaf1, leaf2];
    expected.sort();
    assert_eq!(indirect, expected);

    let report = store.gc().unwrap();
    assert_eq!(report.removed, vec![*loose.cid()]);
    assert_eq!(report.removed_bytes, 5);
    for cid in [root, mid, leaf1, leaf2, *direct.cid()] {
        assert!(store.has(&cid).unwrap(), "{cid} kept");
    }
    assert!(!store.has(loose.cid()).unwrap());
    assert!(store.verify().unwrap().is_consistent());

    // Without the recursive pin, only the direct one survives.
    store.unpin(&root).unwrap();
    assert_eq!(store.gc().unwrap().removed.len(), 4);
    assert_eq!(store.stat().unwrap().blocks, 1);
    assert!(store.verify().unwrap().is_consistent());
}

#[test]
fn a_recursive_pin_needs_the_whole_dag() {
    let dir = tempfile::tempdir().unwrap();
    let (store, [root, _, leaf1, _]) = linked_dag(dir.path());
    // Remove leaf1 through the database, as a crash of an older version might have left it.
    let txn = store.db.begin_write().unwrap();
    remove_blocks(&txn, &[block_key(&leaf1)]).unwrap();
    txn.commit().unwrap();
    match store.pin(&root, PinMode::Recursive) {
        Err(StoreError::Incomplete { missing, .. }) => assert_eq!(*missing, leaf1),
        other => panic!("{other:?}"),
    }
    // A direct pin of the root is fine; verify reports nothing missing for it.
    store.pin(&root, PinMode::Direct).unwrap();
    assert!(store.verify().unwrap().is_consistent());
}

#[test]
fn gc_refuses_blocks_whose_links_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let node = Block::new_v1(codec::DAG_CBOR, b"\xa0").unwrap();
    let loose = raw(b"loose");
    store.put_many([node, loose]).unwrap();
    // CodecLinks does not read dag-cbor: the recursive pin cannot be checked...
    assert!(matches!(
        store.pin(node.cid(), PinMode::Recursive),
        Err(StoreError::Links(_))
    ));
    store.pin(node.cid(), PinMode::Direct).unwrap();
    assert_eq!(store.gc().unwrap().removed, vec![*loose.cid()]);
}

#[test]
fn verify_detects_a_corrupted_block_and_a_missing_pinned_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let good = raw(b"good");
    let bad = raw(b"bad");
    store.put_many([good, bad]).unwrap();
    store.pin(good.cid(), PinMode::Direct).unwrap();
    assert!(store.verify().unwrap().is_consistent());

    // Flip a byte of `bad` in its pack, and drop `good` from the index.
    let (pack, offset, _) = store.location(&block_key(bad.cid())).unwrap().unwrap();
    let path = store.readers.path(pack);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[offset as usize] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
    let txn = store.db.begin_write().unwrap();
    txn.open_table(INDEX)
        .unwrap()
        .remove(block_key(good.cid()).as_slice())
        .unwrap();
    txn.commit().unwrap();

    let report = store.verify().unwrap();
    assert!(!report.is_consistent());
    assert_eq!(report.corrupt.len(), 1, "{report:?}");
    assert!(report.corrupt[0].contains(&bad.cid().to_string()));
    assert_eq!(report.missing, vec![*good.cid()]);
    // The totals and the pack's live bytes no longer match the index either.
    assert_eq!(report.problems.len(), 2, "{report:?}");
}

#[test]
fn a_second_opener_is_told_who_holds_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let _held = open(dir.path());
    // redb's lock is per file, also within one process.
    match Store::open(dir.path()) {
        Err(e @ StoreError::InUse { pid: Some(_), .. }) => {
            assert!(e.to_string().contains(&std::process::id().to_string()));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        let txn = store.db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(META_SCHEMA, SCHEMA_VERSION + 1)
            .unwrap();
        txn.commit().unwrap();
    }
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::NewerSchema(_))
    ));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]

    /// Whatever blocks go in, each comes back whole, the totals count the distinct ones and
    /// verify finds the store consistent.
    #[test]
    fn any_blocks_round_trip(datas in proptest::collection::vec(
        proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), 0..20)) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.put_many(datas.iter().map(|d| raw(d))).unwrap();
        let distinct: std::collections::HashSet<&Vec<u8>> = datas.iter().collect();
        for data in &datas {
            proptest::prop_assert_eq!(&store.get(raw(data).cid()).unwrap().unwrap(), data);
        }
        let stat = store.stat().unwrap();
        proptest::prop_assert_eq!(stat.blocks, distinct.len() as u64);
        let bytes: usize = distinct.iter().map(|d| d.len()).sum();
        proptest::prop_assert_eq!(stat.block_bytes, bytes as u64);
        proptest::prop_assert!(store.verify().unwrap().is_consistent());
        proptest::prop_assert_eq!(store.gc().unwrap().removed.len(), distinct.len());
        proptest::prop_assert_eq!(store.stat().unwrap().blocks, 0);
    }
}
