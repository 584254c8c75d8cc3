//! Tests of blocks written by several threads into reservations ([`PackWriter`]) and indexed
//! afterwards: garbage between indexed records (holes, torn records, unindexed records), the
//! rollback that must not cut others' records, rollover, and arbitrary interleavings.

use super::pack::{self, FILE_HEADER_LEN};
use super::*;
use proptest::prelude::*;
use rhizo_core::cid::codec;
use std::os::unix::fs::FileExt;

fn raw(data: &[u8]) -> Block<'_> {
    Block::new_v1(codec::RAW, data).unwrap()
}

/// Distinct data for block `i`, `len` bytes long.
fn data(i: u32, len: usize) -> Vec<u8> {
    let mut out = i.to_le_bytes().to_vec();
    out.resize(len.max(4), (i % 251) as u8);
    out
}

fn assert_reads_back(store: &Store, datas: &[Vec<u8>]) {
    for d in datas {
        assert_eq!(store.get(raw(d).cid()).unwrap().as_ref(), Some(d));
    }
}

/// A consistent verify; returns its orphan notes.
fn verified(store: &Store) -> Vec<String> {
    let report = store.verify().unwrap();
    assert!(report.is_consistent(), "{report:?}");
    report.orphans
}

/// Reserves room for `d`'s record without writing the data.
fn reserve<'s>(writer: &PackWriter<'s>, d: &[u8]) -> located::PackReservation<'s> {
    writer
        .reserve(block_key(raw(d).cid()), d.len(), false)
        .unwrap()
}

#[test]
fn workers_write_and_the_batch_indexes_what_they_hand_back() {
    let dir = tempfile::tempdir().unwrap();
    let datas: Vec<Vec<u8>> = (0..64).map(|i| data(i, 1000 + 37 * i as usize)).collect();
    {
        let store = Store::open(dir.path()).unwrap();
        store.set_pack_limit(20_000);
        let writer = store.pack_writer();
        let written: Vec<WrittenBlock> = std::thread::scope(|scope| {
            let handles: Vec<_> = datas
                .chunks(16)
                .map(|part| {
                    let writer = &writer;
                    scope.spawn(move || {
                        part.iter()
                            .map(|d| writer.write(raw(d)).unwrap().unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let mut batch = store.batch().unwrap();
        for w in written {
            assert!(batch.insert_written(w).unwrap());
        }
        // Appends through the batch share the packs' end with the reservations.
        batch.insert(raw(b"appended")).unwrap();
        batch.commit().unwrap();
        assert_reads_back(&store, &datas);
        assert!(verified(&store).is_empty());
        assert!(store.stat().unwrap().pack_files > 1);
        let stat = store.stat().unwrap();
        assert_eq!(stat.blocks, 65);
    }
    let store = Store::open(dir.path()).unwrap();
    assert_reads_back(&store, &datas);
    assert!(verified(&store).is_empty());
}

#[test]
fn the_writer_skips_blocks_the_store_holds_or_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.put(raw(b"old")).unwrap();
    let writer = store.pack_writer();
    assert!(writer.write(raw(b"old")).unwrap().is_none());
    let first = writer.write(raw(b"new")).unwrap().unwrap();
    assert!(writer.write(raw(b"new")).unwrap().is_none());
    let mut batch = store.batch().unwrap();
    // The copy left to the calling thread is appended; the written one then is garbage.
    assert!(batch.insert(raw(b"new")).unwrap());
    assert!(!batch.insert_written(first).unwrap());
    batch.commit().unwrap();
    assert_reads_back(&store, &[b"new".to_vec(), b"old".to_vec()]);
    assert_eq!(store.stat().unwrap().blocks, 2);
    let orphans = verified(&store);
    assert_eq!(orphans.len(), 1, "{orphans:?}");
    assert!(orphans[0].contains("1 records"), "{orphans:?}");
}

#[test]
fn a_hole_in_the_middle_is_a_harmless_orphan_that_gc_reclaims() {
    let dir = tempfile::tempdir().unwrap();
    let big = data(1, 50_000);
    let small = data(2, 100);
    {
        let store = Store::open(dir.path()).unwrap();
        let writer = store.pack_writer();
        // Reserved and never written: its header, then zeros.
        drop(reserve(&writer, &big));
        let kept = writer.write(raw(&small)).unwrap().unwrap();
        let mut batch = store.batch().unwrap();
        batch.insert_written(kept).unwrap();
        batch.pin(raw(&small).cid(), PinMode::Direct).unwrap();
        batch.commit().unwrap();
        let orphans = verified(&store);
        assert_eq!(orphans.len(), 1, "{orphans:?}");
        assert!(
            orphans[0].contains("1 records and 0 zero bytes"),
            "{orphans:?}"
        );
    }
    // Not cut on open: it is below an indexed record.
    let store = Store::open(dir.path()).unwrap();
    assert_reads_back(&store, std::slice::from_ref(&small));
    assert_eq!(verified(&store).len(), 1);
    let before = store.stat().unwrap().pack_bytes;
    let report = store.gc().unwrap();
    assert_eq!(report.packs_compacted, 1, "{report:?}");
    assert!(store.stat().unwrap().pack_bytes < before - 50_000);
    assert_reads_back(&store, &[small]);
    assert!(verified(&store).is_empty());
}

#[test]
fn a_torn_record_and_a_lost_header_in_the_middle_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let torn = data(1, 30_000);
    let lost = data(2, 20_000);
    let kept = data(3, 5000);
    {
        let store = Store::open(dir.path()).unwrap();
        let writer = store.pack_writer();
        // Half its data written, then the worker's result dropped.
        let half = reserve(&writer, &torn);
        let (number, offset, _) = half.location();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(store.readers.path(number))
            .unwrap();
        file.write_all_at(&torn[..15_000], offset).unwrap();
        drop(half);
        // A header that never reached the disk (a crash may only leave this past the last
        // indexed record; the scan copes anywhere): all zeros.
        let gone = reserve(&writer, &lost);
        let (_, offset, _) = gone.location();
        let header = pack::header_len(block_key(raw(&lost).cid()).len());
        file.write_all_at(&vec![0; header as usize], offset - header)
            .unwrap();
        drop(gone);
        let w = writer.write(raw(&kept)).unwrap().unwrap();
        let mut batch = store.batch().unwrap();
        batch.insert_written(w).unwrap();
        batch.commit().unwrap();
        let orphans = verified(&store);
        assert_eq!(orphans.len(), 1, "{orphans:?}");
        let zeros = 20_000 + header;
        assert!(
            orphans[0].contains(&format!("1 records and {zeros} zero bytes")),
            "{orphans:?}"
        );
    }
    let store = Store::open(dir.path()).unwrap();
    assert_reads_back(&store, &[kept]);
    assert_eq!(verified(&store).len(), 1);
}

#[test]
fn a_written_block_never_indexed_at_the_tail_is_cut_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let kept = data(1, 3000);
    let (path, indexed_len) = {
        let store = Store::open(dir.path()).unwrap();
        let writer = store.pack_writer();
        let w = writer.write(raw(&kept)).unwrap().unwrap();
        let mut batch = store.batch().unwrap();
        batch.insert_written(w).unwrap();
        batch.commit().unwrap();
        let (number, offset, len) = store
            .location(&block_key(raw(&kept).cid()))
            .unwrap()
            .unwrap();
        // A crash before the next commit: written, never indexed.
        let lost = writer.write(raw(&data(2, 4000))).unwrap().unwrap();
        let (_, lost_offset, _) = lost.location();
        drop(lost);
        let path = store.readers.path(number);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), lost_offset + 4000);
        (path, offset + u64::from(len))
    };
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), indexed_len);
    let orphans = verified(&store);
    assert!(orphans.iter().any(|o| o.contains("cut")), "{orphans:?}");
    assert_reads_back(&store, &[kept]);
}

#[test]
fn a_dropped_batch_keeps_records_reserved_since_it_began() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.set_pack_limit(10_000);
    store.put(raw(&data(0, 3000))).unwrap();
    let writer = store.pack_writer();
    let mut doomed = store.batch().unwrap();
    doomed.insert(raw(&data(1, 3000))).unwrap();
    // Another import's worker writes meanwhile, into the same packs (and a new one).
    let others: Vec<Vec<u8>> = (10..14).map(|i| data(i, 3000)).collect();
    let written: Vec<WrittenBlock> = others
        .iter()
        .map(|d| writer.write(raw(d)).unwrap().unwrap())
        .collect();
    doomed.insert(raw(&data(2, 3000))).unwrap();
    drop(doomed);
    let mut batch = store.batch().unwrap();
    for w in written {
        batch.insert_written(w).unwrap();
    }
    batch.insert(raw(&data(3, 3000))).unwrap();
    batch.commit().unwrap();
    assert_reads_back(&store, &others);
    assert_reads_back(&store, &[data(0, 3000), data(3, 3000)]);
    assert!(!store.has(raw(&data(1, 3000)).cid()).unwrap());
    assert!(!store.has(raw(&data(2, 3000)).cid()).unwrap());
    verified(&store);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_reads_back(&store, &others);
    verified(&store);
}

/// One step of an interleaving: reservations and writes from "workers", indexing, appends,
/// commits and drops of the batch from the calling thread.
#[derive(Clone, Debug)]
enum Step {
    /// Reserve room for a new block (its header written).
    Reserve(u16),
    /// Write the data of the `n`th open reservation (modulo), keeping the token.
    Write(usize),
    /// Write only half the data of a reservation, then drop it.
    Tear(usize),
    /// Drop a reservation unwritten.
    DropReservation(usize),
    /// Index a written block in the open batch.
    Index(usize),
    /// Drop a written block's token.
    DropWritten(usize),
    /// Append a new block through the batch.
    Append(u16),
    /// Commit the open batch.
    Commit,
    /// Drop the open batch.
    Rollback,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1u16..3000).prop_map(Step::Reserve),
        4 => any::<usize>().prop_map(Step::Write),
        1 => any::<usize>().prop_map(Step::Tear),
        1 => any::<usize>().prop_map(Step::DropReservation),
        4 => any::<usize>().prop_map(Step::Index),
        1 => any::<usize>().prop_map(Step::DropWritten),
        2 => (1u16..3000).prop_map(Step::Append),
        2 => Just(Step::Commit),
        1 => Just(Step::Rollback),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the interleaving, verify finds the store consistent (before and after a
    /// reopen and a gc), every committed block reads back, and nothing else is indexed.
    #[test]
    fn arbitrary_interleavings_never_break_verify(steps in proptest::collection::vec(step(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut committed: Vec<Vec<u8>> = Vec::new();
        {
            let store = Store::open(dir.path()).unwrap();
            store.set_pack_limit(8000);
            let writer = store.pack_writer();
            let mut next = 0u32;
            let mut reserved: Vec<(Vec<u8>, located::PackReservation<'_>)> = Vec::new();
            let mut written: Vec<(Vec<u8>, WrittenBlock)> = Vec::new();
            let mut batch: Option<(Batch<'_>, Vec<Vec<u8>>)> = None;
            for step in steps {
                match step {
                    Step::Reserve(len) => {
                        next += 1;
                        let d = data(next, len.into());
                        let r = reserve(&writer, &d);
                        reserved.push((d, r));
                    }
                    Step::Write(i) | Step::Tear(i) | Step::DropReservation(i)
                        if !reserved.is_empty() =>
                    {
                        let (d, r) = reserved.remove(i % reserved.len());
                        match step {
                            Step::Write(_) => written.push((d.clone(), r.write(&d).unwrap())),
                            Step::Tear(_) => {
                                let (number, offset, _) = r.location();
                                std::fs::OpenOptions::new()
                                    .write(true)
                                    .open(store.readers.path(number))
                                    .unwrap()
                                    .write_all_at(&d[..d.len() / 2], offset)
                                    .unwrap();
                            }
                            _ => {}
                        }
                    }
                    Step::Index(i) | Step::DropWritten(i) if !written.is_empty() => {
                        let (d, w) = written.remove(i % written.len());
                        if matches!(step, Step::Index(_)) {
                            let (b, added) = batch.get_or_insert_with(|| (store.batch().unwrap(), Vec::new()));
                            b.insert_written(w).unwrap();
                            added.push(d);
                        }
                    }
                    Step::Append(len) => {
                        next += 1;
                        let d = data(next, len.into());
                        let (b, added) = batch.get_or_insert_with(|| (store.batch().unwrap(), Vec::new()));
                        b.insert(raw(&d)).unwrap();
                        added.push(d);
                    }
                    Step::Commit => {
                        if let Some((b, added)) = batch.take() {
                            b.commit().unwrap();
                            committed.extend(added);
                        }
                    }
                    Step::Rollback => batch = None,
                    _ => {}
                }
            }
            drop(batch);
            drop(written);
            drop(reserved);
            assert_reads_back(&store, &committed);
            prop_assert_eq!(store.stat().unwrap().blocks, committed.len() as u64);
            verified(&store);
        }
        let store = Store::open(dir.path()).unwrap();
        assert_reads_back(&store, &committed);
        verified(&store);
        for d in &committed {
            store.pin(raw(d).cid(), PinMode::Direct).unwrap();
        }
        store.gc().unwrap();
        assert_reads_back(&store, &committed);
        verified(&store);
        // Every pack gc left holds more live bytes than garbage.
        let txn = store.db.begin_read().unwrap();
        for row in txn.open_table(PACKS).unwrap().iter().unwrap() {
            let (live, total) = row.unwrap().1.value();
            prop_assert!(live * 2 >= total - FILE_HEADER_LEN || total == FILE_HEADER_LEN);
        }
    }
}
