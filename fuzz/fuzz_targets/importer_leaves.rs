//! The importer fed leaves made apart (`make_leaf` + `push_leaf`) gives the very blocks, in the
//! same order, and the root of the streaming `write` path, for a chunk size, width, CID
//! version and leaf kind taken from the first three bytes; a leaf pushed after the short last
//! one, or after `finish`, is refused.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhizo_core::block::Block;
use rhizo_core::cid::{Cid, Version};
use rhizo_core::unixfs::{FileImporter, ImporterConfig, PushLeafError};

fuzz_target!(|input: &[u8]| {
    let [a, b, c, rest @ ..] = input else {
        return;
    };
    let config = ImporterConfig {
        chunk_size: 1 + usize::from(*a % 64),
        max_links: 2 + usize::from(*b % 7),
        cid_version: if c & 1 == 0 { Version::V0 } else { Version::V1 },
        raw_leaves: c & 2 != 0,
    };
    let mut streamed: Vec<(Cid, Vec<u8>)> = Vec::new();
    let mut importer = FileImporter::new(config).expect("valid config");
    let mut sink = |blk: Block<'_>| -> Result<(), ()> {
        streamed.push((*blk.cid(), blk.data().to_vec()));
        Ok(())
    };
    importer.write_all_blocks(rest, &mut sink).unwrap();
    let root = importer.finish_into_blocks(&mut sink).unwrap();

    let mut pushed: Vec<(Cid, Vec<u8>)> = Vec::new();
    let mut importer = FileImporter::new(config).expect("valid config");
    let mut sink = |blk: Block<'_>| -> Result<(), ()> {
        assert!(Block::verify(*blk.cid(), blk.data()).is_ok());
        pushed.push((*blk.cid(), blk.data().to_vec()));
        Ok(())
    };
    let mut last = None;
    for chunk in rest.chunks(config.chunk_size) {
        let leaf = config
            .make_leaf(chunk.to_vec())
            .expect("a chunk within chunk_size");
        sink(leaf.block()).unwrap();
        importer.push_leaf(leaf.node()).expect("leaves in order");
        importer.drain_blocks(&mut sink).unwrap();
        last = Some(leaf.node());
    }
    if let Some(last) = last
        && last.file_size < config.chunk_size as u64
    {
        assert_eq!(importer.push_leaf(last), Err(PushLeafError::AfterShortLeaf));
    }
    assert_eq!(importer.finish_into_blocks(&mut sink).unwrap(), root);
    assert_eq!(pushed, streamed);
    if let Some(last) = last {
        assert_eq!(importer.push_leaf(last), Err(PushLeafError::Finished));
    }
});
