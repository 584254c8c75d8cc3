use super::*;
use crate::block::{Block, BlockStore, MemoryBlockStore};
use crate::unixfs::{BlockSource, FileImporter, FnSource, ImportedBlock, ImporterConfig};
use proptest::prelude::*;

fn import(config: ImporterConfig, bytes: &[u8]) -> (Cid, MemoryBlockStore) {
    let mut store = MemoryBlockStore::new();
    let mut imp = FileImporter::new(config).unwrap();
    let mut sink = |b: ImportedBlock| -> Result<(), ()> {
        store.put(Block::verify(b.cid, &b.data).unwrap()).unwrap();
        Ok(())
    };
    imp.write_all(bytes, &mut sink).unwrap();
    let root = imp.finish_into(&mut sink).unwrap();
    (root.cid, store)
}

fn export(root: Cid, store: &MemoryBlockStore, offset: u64) -> Vec<u8> {
    let mut exporter = FileExporter::<8>::starting_at(root, offset);
    let mut buf = vec![0u8; 4096];
    let mut out = Vec::new();
    while let Some(chunk) = exporter.next_chunk(store, &mut buf).unwrap() {
        out.extend_from_slice(chunk);
    }
    assert!(exporter.is_done());
    out
}

fn small(raw_leaves: bool) -> ImporterConfig {
    ImporterConfig {
        chunk_size: 7,
        max_links: 3,
        raw_leaves,
        ..ImporterConfig::kubo()
    }
}

#[test]
fn round_trips_and_resumes() {
    let bytes: Vec<u8> = (0..200u8).collect();
    for raw in [false, true] {
        let (root, store) = import(small(raw), &bytes);
        assert_eq!(export(root, &store, 0), bytes);
        for offset in [1, 7, 8, 63, 150, 199, 200, 500] {
            let want = bytes.get(offset..).unwrap_or(&[]);
            assert_eq!(export(root, &store, offset as u64), want, "offset {offset}");
        }
    }
}

#[test]
fn missing_and_corrupt_blocks_are_errors() {
    let (root, store) = import(small(true), b"0123456789abcdef");
    let mut buf = vec![0u8; 4096];
    let empty = MemoryBlockStore::new();
    let mut exporter = FileExporter::<8>::new(root);
    assert_eq!(
        exporter.next_chunk(&empty, &mut buf),
        Err(ExportError::MissingBlock(root))
    );
    let mut lying = FnSource(
        |cid: &Cid, out: &mut [u8]| -> Result<Option<usize>, core::convert::Infallible> {
            let n = store.read(cid, out).unwrap().unwrap();
            if cid.codec() == codec::RAW {
                out[0] ^= 1;
            }
            Ok(Some(n))
        },
    );
    let mut exporter = FileExporter::<8>::new(root);
    assert!(matches!(
        exporter.next_chunk(&mut lying, &mut buf),
        Err(ExportError::InvalidBlock(_, BlockError::HashMismatch))
    ));
}

/// A source that flips a byte of raw leaves and says whether it vouches for its blocks.
struct Flipping<'a> {
    store: &'a MemoryBlockStore,
    vouches: bool,
}

impl BlockSource for Flipping<'_> {
    type Error = core::convert::Infallible;

    fn read_block(&mut self, cid: &Cid, out: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        let n = self.store.read(cid, out).unwrap().unwrap();
        if cid.codec() == codec::RAW {
            out[0] ^= 1;
        }
        Ok(Some(n))
    }

    fn verified_on_store(&self) -> bool {
        self.vouches
    }
}

#[test]
fn only_a_source_that_vouches_for_its_blocks_skips_the_hash() {
    let (root, store) = import(small(true), b"0123456789abcdef");
    let mut buf = vec![0u8; 4096];
    let mut exporter = FileExporter::<8>::new(root);
    let mut checked = Flipping {
        store: &store,
        vouches: false,
    };
    assert!(matches!(
        exporter.next_chunk(&mut checked, &mut buf),
        Err(ExportError::InvalidBlock(_, BlockError::HashMismatch))
    ));
    // A store is trusted (its blocks were verified when put): the walk does not hash again,
    // so here the flipped byte comes through.
    assert!((&store).verified_on_store());
    let mut trusted = Flipping {
        store: &store,
        vouches: true,
    };
    let mut exporter = FileExporter::<8>::new(root);
    let first = exporter
        .next_chunk(&mut trusted, &mut buf)
        .unwrap()
        .unwrap();
    assert_eq!(first[0], b'0' ^ 1);
}

#[test]
fn too_deep_is_an_error() {
    let bytes = vec![1u8; 100];
    let (root, store) = import(small(true), &bytes);
    let mut exporter = FileExporter::<2>::new(root);
    let mut buf = vec![0u8; 4096];
    let mut result = Ok(None);
    for _ in 0..10 {
        result = exporter
            .next_chunk(&store, &mut buf)
            .map(|c| c.map(<[u8]>::to_vec));
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(ExportError::TooDeep));
}

#[test]
fn identity_leaves_are_read_inline() {
    use crate::multihash::Multihash;
    let cid = Cid::new_v1(codec::RAW, Multihash::identity(b"inline!").unwrap()).unwrap();
    let store = MemoryBlockStore::new();
    assert_eq!(export(cid, &store, 0), b"inline!");
    assert_eq!(export(cid, &store, 3), b"ine!");
}

proptest! {
    #[test]
    fn any_bytes_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..400), raw: bool, offset in 0u64..450) {
        let (root, store) = import(small(raw), &bytes);
        prop_assert_eq!(export(root, &store, 0), bytes.clone());
        let want = bytes.get(offset as usize..).unwrap_or(&[]).to_vec();
        prop_assert_eq!(export(root, &store, offset), want);
    }
}

#[test]
fn a_root_that_promises_more_bytes_is_an_error() {
    use crate::unixfs::data::{DataFields, DataType};
    let fields = DataFields {
        data: Some(b"12345"),
        filesize: Some(10),
        ..DataFields::new(DataType::File)
    };
    let mut data = vec![0u8; fields.encoded_len()];
    fields.write_to(&mut data).unwrap();
    let mut block = vec![0u8; crate::dagpb::encoded_len([], Some(&data))];
    crate::dagpb::write_node(&mut block, [], Some(&data)).unwrap();
    let cid = Cid::new_v1(
        codec::DAG_PB,
        crate::multihash::Multihash::identity(&block).unwrap(),
    )
    .unwrap();
    let store = MemoryBlockStore::new();
    let mut exporter = FileExporter::<4>::new(cid);
    let mut buf = vec![0u8; 256];
    assert_eq!(
        exporter.next_chunk(&store, &mut buf).unwrap(),
        Some(&b"12345"[..])
    );
    assert_eq!(
        exporter.next_chunk(&store, &mut buf),
        Err(ExportError::SizeMismatch)
    );
}
