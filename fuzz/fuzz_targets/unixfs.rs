//! UnixFS. The first byte picks a check:
//! - 0: the `Data` message: decoding never panics, and what decodes re-encodes to bytes that
//!   decode to the same fields;
//! - 1: the importer and exporter: the rest of the input, imported with a small chunk size and
//!   width taken from the input, exports back to the same bytes, also from an offset;
//! - 2: the exporter and directory lister on an arbitrary (inline) block never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhizo_core::block::{Block, BlockStore, MemoryBlockStore};
use rhizo_core::cid::{Cid, Version, codec};
use rhizo_core::multihash::Multihash;
use rhizo_core::unixfs::{
    DirectoryLister, FileExporter, FileImporter, ImportedBlock, ImporterConfig, UnixFsData,
};

fn data_round_trip(bytes: &[u8]) {
    let Ok(data) = UnixFsData::parse(bytes) else {
        return;
    };
    let sizes: Vec<u64> = data.blocksizes().collect();
    assert_eq!(sizes.len(), data.blocksize_count());
    let fields = data.fields(&sizes);
    let mut out = vec![0u8; fields.encoded_len()];
    let again = fields.write_to(&mut out).expect("sized");
    let reparsed = UnixFsData::parse(again).expect("our encoding decodes");
    let sizes2: Vec<u64> = reparsed.blocksizes().collect();
    assert_eq!(reparsed.fields(&sizes2), fields);
}

fn import_export(input: &[u8]) {
    let [a, b, c, d, rest @ ..] = input else {
        return;
    };
    let config = ImporterConfig {
        chunk_size: 1 + usize::from(*a % 32),
        max_links: 2 + usize::from(*b % 5),
        cid_version: if c & 1 == 0 { Version::V0 } else { Version::V1 },
        raw_leaves: c & 2 != 0,
    };
    let mut store = MemoryBlockStore::new();
    let mut importer = FileImporter::new(config).expect("valid config");
    let mut sink = |blk: ImportedBlock| -> Result<(), ()> {
        store
            .put(Block::verify(blk.cid, &blk.data).expect("importer CIDs match"))
            .expect("memory store");
        Ok(())
    };
    for piece in rest.chunks(1 + usize::from(*d % 16)) {
        importer.write_all(piece, &mut sink).unwrap();
    }
    let root = importer.finish_into(&mut sink).unwrap();
    assert_eq!(root.file_size, rest.len() as u64);
    let offset = u64::from(*d) % (rest.len() as u64 + 2);
    for start in [0, offset] {
        let mut exporter = FileExporter::<16>::starting_at(root.cid, start);
        let mut buf = vec![0u8; 4096];
        let mut out = Vec::new();
        while let Some(chunk) = exporter.next_chunk(&store, &mut buf).expect("exports") {
            out.extend_from_slice(chunk);
        }
        assert_eq!(out, rest.get(start as usize..).unwrap_or(&[]));
        assert_eq!(exporter.file_size(), Some(rest.len() as u64));
    }
}

fn walk_garbage(input: &[u8]) {
    let block = &input[..input.len().min(64)];
    let store = MemoryBlockStore::new();
    let mut buf = vec![0u8; 256];
    for codec in [codec::DAG_PB, codec::RAW] {
        let cid = Cid::new_v1(codec, Multihash::identity(block).expect("<= 64 bytes")).unwrap();
        let mut exporter = FileExporter::<4>::new(cid);
        for _ in 0..64 {
            match exporter.next_chunk(&store, &mut buf) {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        let mut lister = DirectoryLister::<4>::new(cid);
        for _ in 0..64 {
            match lister.next_entry(&store, &mut buf) {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
}

fuzz_target!(|input: &[u8]| {
    match input.split_first() {
        Some((0, rest)) => data_round_trip(rest),
        Some((1, rest)) => import_export(rest),
        Some((_, rest)) => walk_garbage(rest),
        None => {}
    }
});
