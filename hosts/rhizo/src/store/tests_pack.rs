//! Pack file tests: rollover, torn tails, dropped batches, gc compaction, migration from
//! schema 1, readers during writes and gc, corruption found by verify, and the record format.

use super::migrate::OLD_BLOCKS;
use super::pack::{self, FILE_HEADER_LEN};
use super::*;
use rhizo_core::cid::codec;
use std::io::Write;

fn raw(data: &[u8]) -> Block<'_> {
    Block::new_v1(codec::RAW, data).unwrap()
}

/// Distinct data for block `i`, `len` bytes long.
fn data(i: u32, len: usize) -> Vec<u8> {
    let mut out = i.to_le_bytes().to_vec();
    out.resize(len, (i % 251) as u8);
    out
}

fn pack_files(dir: &Path) -> Vec<(u32, u64)> {
    let mut packs: Vec<(u32, u64)> = std::fs::read_dir(dir.join(PACK_DIR))
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let number = pack::parse_pack_name(&e.file_name().to_string_lossy())?;
            Some((number, e.metadata().unwrap().len()))
        })
        .collect();
    packs.sort();
    packs
}

fn assert_all_read_back(store: &Store, datas: &[Vec<u8>]) {
    for d in datas {
        assert_eq!(store.get(raw(d).cid()).unwrap().as_ref(), Some(d));
        let mut out = vec![0u8; d.len()];
        assert_eq!(
            BlockStore::read(store, raw(d).cid(), &mut out).unwrap(),
            Some(d.len())
        );
        assert_eq!(&out, d);
    }
}

#[test]
fn packs_roll_over_at_the_limit_and_reopen_continues_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let datas: Vec<Vec<u8>> = (0..40).map(|i| data(i, 300)).collect();
    {
        let store = Store::open(dir.path()).unwrap();
        store.set_pack_limit(1000);
        for chunk in datas[..30].chunks(4) {
            store.put_many(chunk.iter().map(|d| raw(d))).unwrap();
        }
        assert_all_read_back(&store, &datas[..30]);
        let stat = store.stat().unwrap();
        // Records of 300 + 42 bytes after the 8-byte file magic: 2 fit a 1000-byte pack.
        assert_eq!(stat.pack_files, 15, "{stat:?}");
        assert_eq!(pack_files(dir.path()).len(), 15);
        for (_, len) in pack_files(dir.path()) {
            assert!(len <= 1000);
        }
        assert!(store.verify().unwrap().is_consistent());
    }
    let store = Store::open(dir.path()).unwrap();
    store.set_pack_limit(1000);
    store.put_many(datas[30..].iter().map(|d| raw(d))).unwrap();
    assert_all_read_back(&store, &datas);
    let report = store.verify().unwrap();
    assert!(report.is_consistent(), "{report:?}");
    assert!(report.orphans.is_empty(), "{report:?}");
    assert_eq!(store.stat().unwrap().pack_files, 20);
}

#[test]
fn a_torn_tail_and_an_unindexed_pack_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let kept = data(1, 5000);
    let (pack_path, indexed_len) = {
        let store = Store::open(dir.path()).unwrap();
        store.put(raw(&kept)).unwrap();
        let (number, offset, len) = store
            .location(&block_key(raw(&kept).cid()))
            .unwrap()
            .unwrap();
        (store.readers.path(number), offset + u64::from(len))
    };
    assert_eq!(std::fs::metadata(&pack_path).unwrap().len(), indexed_len);
    // A crash between the pack write and the index commit: half a record at the end, and a
    // new pack that was never indexed.
    let lost = data(2, 5000);
    let mut record = Vec::new();
    pack::write_header(&block_key(raw(&lost).cid()), 5000, &mut record).unwrap();
    record.extend_from_slice(&lost[..2000]);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&pack_path)
        .unwrap()
        .write_all(&record)
        .unwrap();
    std::fs::write(
        dir.path().join(PACK_DIR).join(pack::pack_name(7)),
        pack::FILE_MAGIC,
    )
    .unwrap();

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(std::fs::metadata(&pack_path).unwrap().len(), indexed_len);
    assert_eq!(pack_files(dir.path()).len(), 1);
    let report = store.verify().unwrap();
    assert!(report.is_consistent(), "{report:?}");
    assert_eq!(report.orphans.len(), 2, "{report:?}");
    assert!(
        report.orphans.iter().any(|o| o.contains("cut")),
        "{report:?}"
    );
    // Appends go on right after the last indexed record.
    store.put(raw(&lost)).unwrap();
    assert_all_read_back(&store, &[kept, lost]);
    assert!(store.verify().unwrap().is_consistent());
}

#[test]
fn verify_reports_orphan_bytes_present_while_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.put(raw(b"block")).unwrap();
    let (number, _, _) = store
        .location(&block_key(raw(b"block").cid()))
        .unwrap()
        .unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(store.readers.path(number))
        .unwrap()
        .write_all(b"garbage")
        .unwrap();
    let report = store.verify().unwrap();
    assert!(
        report.is_consistent(),
        "orphan bytes are harmless: {report:?}"
    );
    assert!(report.orphans[0].contains("7 orphan bytes"), "{report:?}");
}

#[test]
fn a_dropped_batch_cuts_its_bytes_and_deletes_its_packs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.set_pack_limit(10_000);
    store.put(raw(&data(0, 3000))).unwrap();
    let before = pack_files(dir.path());
    let mut batch = store.batch().unwrap();
    for i in 1..10 {
        batch.insert(raw(&data(i, 3000))).unwrap();
    }
    // Read back inside the batch (its bytes are still buffered).
    assert_eq!(
        batch.get(raw(&data(5, 3000)).cid()).unwrap(),
        Some(data(5, 3000))
    );
    assert!(pack_files(dir.path()).len() > 1);
    drop(batch);
    assert_eq!(pack_files(dir.path()), before);
    // The numbers of the deleted packs are used again, with fresh read handles.
    let again: Vec<Vec<u8>> = (20..30).map(|i| data(i, 3000)).collect();
    store.put_many(again.iter().map(|d| raw(d))).unwrap();
    assert_all_read_back(&store, &again);
    assert!(!store.has(raw(&data(5, 3000)).cid()).unwrap());
    let report = store.verify().unwrap();
    assert!(
        report.is_consistent() && report.orphans.is_empty(),
        "{report:?}"
    );
}

#[test]
fn gc_compacts_mostly_dead_packs_and_every_kept_block_still_reads_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let datas: Vec<Vec<u8>> = (0..60).map(|i| data(i, 700)).collect();
    let kept: Vec<Vec<u8>> = datas.iter().step_by(3).cloned().collect();
    {
        let store = Store::open(dir.path()).unwrap();
        store.set_pack_limit(4000);
        store.put_many(datas.iter().map(|d| raw(d))).unwrap();
        for d in &kept {
            store.pin(raw(d).cid(), PinMode::Direct).unwrap();
        }
        let before = store.stat().unwrap();
        let report = store.gc().unwrap();
        assert_eq!(report.removed.len(), 40);
        assert!(report.packs_compacted > 0, "{report:?}");
        let after = store.stat().unwrap();
        assert!(
            after.pack_bytes < before.pack_bytes / 2,
            "{before:?} -> {after:?}"
        );
        assert_eq!(after.pack_files, pack_files(dir.path()).len() as u64);
        assert_all_read_back(&store, &kept);
        let verify = store.verify().unwrap();
        assert!(
            verify.is_consistent() && verify.orphans.is_empty(),
            "{verify:?}"
        );
        // Nothing more to compact.
        assert_eq!(store.gc().unwrap().packs_compacted, 0);
        // Unpin everything: gc gives every pack back.
        for d in &kept {
            store.unpin(raw(d).cid()).unwrap();
        }
        store.gc().unwrap();
        assert_eq!(store.stat().unwrap().blocks, 0);
        assert!(store.stat().unwrap().pack_bytes <= FILE_HEADER_LEN);
        store.put_many(kept.iter().map(|d| raw(d))).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_all_read_back(&store, &kept);
    let verify = store.verify().unwrap();
    assert!(
        verify.is_consistent() && verify.orphans.is_empty(),
        "{verify:?}"
    );
}

/// Writes a schema 1 store by hand: blocks inline in `blocks`, totals in `meta`, pins.
fn write_v1_store(dir: &Path, datas: &[Vec<u8>]) {
    let db = redb::Database::create(dir.join(DB_FILE)).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut meta = txn.open_table(META).unwrap();
        meta.insert(META_SCHEMA, 1).unwrap();
        meta.insert(META_COUNT, datas.len() as u64).unwrap();
        let bytes: usize = datas.iter().map(Vec::len).sum();
        meta.insert(META_BYTES, bytes as u64).unwrap();
        let mut blocks = txn.open_table(OLD_BLOCKS).unwrap();
        for d in datas {
            blocks
                .insert(block_key(raw(d).cid()).as_slice(), d.as_slice())
                .unwrap();
        }
        let mut pins = txn.open_table(PINS).unwrap();
        pins.insert(raw(&datas[0]).cid().to_bytes().as_slice(), 1u8)
            .unwrap();
    }
    txn.commit().unwrap();
}

#[test]
fn a_schema_1_store_is_moved_into_packs_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let datas: Vec<Vec<u8>> = (0..25).map(|i| data(i, 100 + i as usize)).collect();
    write_v1_store(dir.path(), &datas);
    let store = Store::open(dir.path()).unwrap();
    assert_all_read_back(&store, &datas);
    assert_eq!(store.pins().unwrap().len(), 1);
    let stat = store.stat().unwrap();
    assert_eq!(stat.blocks, 25);
    assert_eq!(stat.pack_files, 1);
    let report = store.verify().unwrap();
    assert!(report.is_consistent(), "{report:?}");
    let txn = store.db.begin_read().unwrap();
    assert_eq!(
        txn.open_table(META)
            .unwrap()
            .get(META_SCHEMA)
            .unwrap()
            .unwrap()
            .value(),
        SCHEMA_VERSION
    );
    assert!(txn.open_table(OLD_BLOCKS).is_err(), "the old table is gone");
}

#[test]
fn a_migration_cut_short_goes_on_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let datas: Vec<Vec<u8>> = (0..25).map(|i| data(i, 200)).collect();
    write_v1_store(dir.path(), &datas);
    {
        let (store, version) = Store::open_unmigrated(dir.path(), Arc::new(CodecLinks)).unwrap();
        assert_eq!(version, 1);
        // One step of 1000 bytes, then a crash in the next one after its pack write.
        let (moved, done) = migrate::step(&store, 1000).unwrap();
        assert_eq!((moved, done), (5, false));
        let number = store.appender().current_number().unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(store.readers.path(number))
            .unwrap()
            .write_all(&[0xb1; 300])
            .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_all_read_back(&store, &datas);
    let report = store.verify().unwrap();
    assert!(report.is_consistent(), "{report:?}");
    assert_eq!(store.stat().unwrap().blocks, 25);
}

#[test]
fn readers_see_whole_blocks_while_a_writer_adds_and_gc_compacts() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    store.set_pack_limit(20_000);
    let committed: Arc<RwLock<Vec<u32>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let (store, committed, stop) = (store.clone(), committed.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut reads = 0u64;
                let mut n: u32 = r;
                while !stop.load(Ordering::Relaxed) {
                    let list = committed.read().unwrap().clone();
                    if list.is_empty() {
                        std::thread::yield_now();
                        continue;
                    }
                    n = n.wrapping_mul(31).wrapping_add(7);
                    let i = list[n as usize % list.len()];
                    let want = data(i, 1000 + i as usize % 500);
                    let got = store.get(raw(&want).cid()).unwrap();
                    assert_eq!(got.as_ref(), Some(&want), "block {i}");
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for round in 0..40u32 {
        let mut batch = store.batch().unwrap();
        let mut new = Vec::new();
        for k in 0..5 {
            let i = round * 5 + k;
            let d = data(i, 1000 + i as usize % 500);
            batch.insert(raw(&d)).unwrap();
            // Every other block pinned; the rest is gc's.
            if i % 2 == 0 {
                batch.pin(raw(&d).cid(), PinMode::Direct).unwrap();
                new.push(i);
            }
        }
        batch.commit().unwrap();
        committed.write().unwrap().extend(new);
        if round % 10 == 9 {
            store.gc().unwrap();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        assert!(reader.join().unwrap() > 0);
    }
    let report = store.verify().unwrap();
    assert!(report.is_consistent(), "{report:?}");
    assert_eq!(store.stat().unwrap().blocks, 100);
}

#[test]
fn verify_finds_a_broken_record_header_and_a_missing_pack() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.set_pack_limit(1000);
    let datas: Vec<Vec<u8>> = (0..6).map(|i| data(i, 400)).collect();
    store.put_many(datas.iter().map(|d| raw(d))).unwrap();
    let (first, offset, _) = store
        .location(&block_key(raw(&datas[0]).cid()))
        .unwrap()
        .unwrap();
    let path = store.readers.path(first);
    let mut bytes = std::fs::read(&path).unwrap();
    // The multihash in the first record's header.
    let at = offset as usize - 6;
    bytes[at] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let (last, _, _) = store
        .location(&block_key(raw(&datas[5]).cid()))
        .unwrap()
        .unwrap();
    assert_ne!(first, last);
    std::fs::remove_file(store.readers.path(last)).unwrap();
    store.readers.forget(last);
    let report = store.verify().unwrap();
    assert!(!report.is_consistent());
    assert_eq!(report.corrupt.len(), 1, "{report:?}");
    assert!(report.corrupt[0].contains("header"), "{report:?}");
    assert!(
        report.problems.iter().any(|p| p.contains("missing")),
        "{report:?}"
    );
    assert!(matches!(
        store.get(raw(&datas[5]).cid()),
        Err(StoreError::Pack { .. })
    ));
}

#[test]
fn scan_lists_every_record_of_a_pack() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let datas: Vec<Vec<u8>> = (0..5).map(|i| data(i, 10 + 300 * i as usize)).collect();
    store.put_many(datas.iter().map(|d| raw(d))).unwrap();
    let (number, _, _) = store
        .location(&block_key(raw(&datas[0]).cid()))
        .unwrap()
        .unwrap();
    let file = std::fs::File::open(store.readers.path(number)).unwrap();
    let len = file.metadata().unwrap().len();
    let records = pack::scan(&file, len).unwrap().records;
    assert_eq!(records.len(), 5);
    for (record, d) in records.iter().zip(&datas) {
        assert_eq!(record.key, block_key(raw(d).cid()));
        assert_eq!(
            store.location(&record.key).unwrap(),
            Some((number, record.offset, d.len() as u32))
        );
    }
    assert!(pack::scan(&file, len - 1).is_err());
}

proptest::proptest! {
    /// A record header reads back as written, whatever the key and length.
    #[test]
    fn record_headers_round_trip(key in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
                                 len in proptest::prelude::any::<u32>()) {
        let mut out = Vec::new();
        pack::write_header(&key, len, &mut out).unwrap();
        proptest::prop_assert_eq!(out.len() as u64, pack::header_len(key.len()));
        let (k, l, h) = pack::parse_header(&out).unwrap();
        proptest::prop_assert_eq!((k, l, h), (key.as_slice(), len, out.len()));
    }

    /// Arbitrary bytes never make the header parser or a pack scan panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
                                   end in 0u64..700) {
        let _ = pack::parse_header(&bytes);
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(pack::FILE_MAGIC).unwrap();
        file.write_all(&bytes).unwrap();
        let _ = pack::scan(&file, end);
    }

    /// Pack names round-trip and other names are not packs.
    #[test]
    fn pack_names_round_trip(n in proptest::prelude::any::<u32>(), other in ".{0,20}") {
        proptest::prop_assert_eq!(pack::parse_pack_name(&pack::pack_name(n)), Some(n));
        if let Some(m) = pack::parse_pack_name(&other) {
            proptest::prop_assert_eq!(pack::pack_name(m), other);
        }
    }
}

#[test]
fn a_dag_pb_leaf_is_marked_and_a_recursive_pin_still_walks_real_links() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // PBNode { Data: "leaf" } and PBNode { Links: [leaf] }.
    let leaf = Block::new_v1(codec::DAG_PB, b"\x0a\x04leaf").unwrap();
    let mut parent_bytes = vec![0x12, 0x00, 0x0a, 0x00];
    let cid = leaf.cid().to_bytes();
    parent_bytes[1] = (cid.len() + 2) as u8;
    parent_bytes.splice(2..2, [0x0a, cid.len() as u8].into_iter().chain(cid));
    let parent = Block::new_v1(codec::DAG_PB, &parent_bytes).unwrap();
    store.put_many([leaf, parent]).unwrap();
    let entry = |b: &Block<'_>| store.entry(&block_key(b.cid())).unwrap().unwrap();
    assert!(entry(&leaf).dag_pb_leaf);
    assert!(!entry(&parent).dag_pb_leaf);
    assert_eq!(entry(&leaf).location.2, leaf.data().len() as u32);
    store.pin(parent.cid(), PinMode::Recursive).unwrap();
    assert_eq!(store.indirect_pins().unwrap(), vec![*leaf.cid()]);
    assert!(store.gc().unwrap().removed.is_empty());
    // The same bytes named as raw are not known leaves under that codec.
    let raw_twin = Cid::new_v1(codec::RAW, *leaf.cid().hash()).unwrap();
    assert!(!entry(&leaf).known_leaf(&raw_twin));
    assert_eq!(store.get(&raw_twin).unwrap().unwrap(), leaf.data());
    assert!(store.verify().unwrap().is_consistent());
}
