//! CID parity with the JavaScript UnixFS importer (`ipfs-unixfs-importer`, the one helia uses;
//! `tests/js/unixfs-import.mjs`): the same inputs, generated here, imported by rhizo and by the
//! JS importer in the same run, must give the same CIDs and cumulative sizes for every file and
//! directory, in kubo's CIDv0 mode (256 KiB chunks, 174 links, dag-pb leaves) and in the CIDv1
//! raw-leaves mode. No CID is typed in by hand.
//!
//! Needs `node` (20 or newer) and `tests/js/node_modules`: `(cd tests/js && npm ci)`.

use rhizo_core::block::{Block, BlockStore, MemoryBlockStore};
use rhizo_core::cid::{Cid, Version};
use rhizo_core::multibase::Base;
use rhizo_core::unixfs::{
    DirectoryBuilder, DirectoryLister, FileExporter, FileImporter, FnSource, ImportedBlock,
    ImportedNode, ImporterConfig, NodeInfo, NodeKind, find_entry,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

const NODE_TIMEOUT: Duration = Duration::from_secs(120);
const INSTALL: &str = "run `(cd tests/js && npm ci)` with Node.js 20 or newer on the PATH \
                       (.ci/run does this)";

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// Seeded pseudo-random bytes (splitmix64).
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The inputs, written under `dir`: single files and one nested directory `tree`.
fn write_inputs(dir: &Path) -> (Vec<PathBuf>, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let files = [
        ("empty", Vec::new()),
        ("one-byte", vec![0x42]),
        ("chunk", random_bytes(1, 262_144)),
        ("chunk-plus-one", random_bytes(2, 262_145)),
        ("five-mib", random_bytes(3, 5 * 1024 * 1024 + 12_345)),
    ];
    let mut paths = Vec::new();
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        paths.push(path);
    }
    let tree = dir.join("tree");
    for sub in ["sub/deeper", "empty", "B"] {
        std::fs::create_dir_all(tree.join(sub)).unwrap();
    }
    let tree_files: [(&str, Vec<u8>); 8] = [
        ("a.txt", b"hello rhizo\n".to_vec()),
        ("aa", b"aa".to_vec()),
        ("a.b", Vec::new()),
        ("\u{fc}n\u{ef}.txt", b"names sort by bytes".to_vec()),
        ("B/x", vec![7; 1000]),
        ("sub/big.bin", random_bytes(4, 700_000)),
        ("sub/deeper/c", Vec::new()),
        ("sub/deeper/d", random_bytes(5, 262_144)),
    ];
    for (name, bytes) in tree_files {
        std::fs::write(tree.join(name), bytes).unwrap();
    }
    (paths, tree)
}

/// One entry the JS importer reported.
#[derive(Debug)]
struct JsEntry {
    input: String,
    path: Option<String>,
    cid: String,
    size: u64,
}

/// Runs the JS importer over `inputs` with these settings.
async fn js_import(config: &ImporterConfig, inputs: &[&Path]) -> Vec<JsEntry> {
    js_import_with(config, inputs, &[]).await.0
}

/// Runs the JS importer with extra environment variables; returns its entries and the blocks it
/// dumped (by multihash bytes) if asked to.
async fn js_import_with(
    config: &ImporterConfig,
    inputs: &[&Path],
    env: &[(&str, &str)],
) -> (Vec<JsEntry>, HashMap<Vec<u8>, Vec<u8>>) {
    let modules = js_dir().join("node_modules").join("ipfs-unixfs-importer");
    assert!(
        modules.is_dir(),
        "{} is missing: {INSTALL}",
        modules.display()
    );
    let mut cmd = tokio::process::Command::new("node");
    cmd.current_dir(js_dir())
        .arg("unixfs-import.mjs")
        .arg(config.cid_version.code().to_string())
        .arg(config.raw_leaves.to_string())
        .arg(config.chunk_size.to_string())
        .arg(config.max_links.to_string())
        .args(inputs)
        .envs(env.iter().copied())
        .kill_on_drop(true);
    let out = tokio::time::timeout(NODE_TIMEOUT, cmd.output())
        .await
        .expect("the JS importer ran past its timeout")
        .unwrap_or_else(|e| panic!("cannot run node ({e}): {INSTALL}"));
    assert!(
        out.status.success(),
        "the JS importer failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut entries = Vec::new();
    let mut blocks = HashMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if let Some(block) = v["block"].as_str() {
            let cid = Cid::parse(block).unwrap();
            let bytes = hex_decode(v["hex"].as_str().unwrap());
            blocks.insert(cid.hash().to_bytes().to_vec(), bytes);
            continue;
        }
        entries.push(JsEntry {
            input: v["input"].as_str().unwrap().to_owned(),
            path: v["path"].as_str().map(str::to_owned),
            cid: v["cid"].as_str().unwrap().to_owned(),
            size: v["size"].as_u64().unwrap(),
        });
    }
    (entries, blocks)
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn cid_text(cid: &Cid) -> String {
    let base = match cid.version() {
        Version::V0 => Base::Base58Btc,
        Version::V1 => Base::Base32Lower,
    };
    cid.to_string_of_base(base).unwrap()
}

/// Imports one file with rhizo, streaming it from disk, into `store`.
fn rhizo_import_file(
    config: ImporterConfig,
    path: &Path,
    store: &mut MemoryBlockStore,
) -> ImportedNode {
    use std::io::Read;
    let mut file = std::fs::File::open(path).unwrap();
    let mut importer = FileImporter::new(config).unwrap();
    let mut sink = |b: ImportedBlock| -> Result<(), std::convert::Infallible> {
        store.put(Block::verify(b.cid, &b.data).unwrap()).unwrap();
        Ok(())
    };
    let mut buf = vec![0u8; 100_000];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        importer.write_all(&buf[..n], &mut sink).unwrap();
    }
    importer.finish_into(&mut sink).unwrap()
}

/// Imports the directory `root` with rhizo; returns every entry's node by path (the JS
/// importer's paths: `<root name>/...`).
fn rhizo_import_tree(
    config: ImporterConfig,
    root: &Path,
    store: &mut MemoryBlockStore,
) -> BTreeMap<String, ImportedNode> {
    rhizo_import_tree_with(config, root, store, rhizo_core::unixfs::SHARDING_THRESHOLD)
}

/// [`rhizo_import_tree`] with a sharding threshold.
fn rhizo_import_tree_with(
    config: ImporterConfig,
    root: &Path,
    store: &mut MemoryBlockStore,
    shard_threshold: usize,
) -> BTreeMap<String, ImportedNode> {
    fn walk(
        config: ImporterConfig,
        dir: &Path,
        rel: &str,
        builder: &mut DirectoryBuilder,
        store: &mut MemoryBlockStore,
        out: &mut BTreeMap<String, ImportedNode>,
    ) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if entry.file_type().unwrap().is_dir() {
                builder.add_directory(&rel).unwrap();
                walk(config, &entry.path(), &rel, builder, store, out);
            } else {
                let node = rhizo_import_file(config, &entry.path(), store);
                builder.add(&rel, node).unwrap();
                out.insert(rel, node);
            }
        }
    }
    let name = root.file_name().unwrap().to_str().unwrap().to_owned();
    let mut builder =
        DirectoryBuilder::new(config.cid_version).with_shard_threshold(shard_threshold);
    let mut files = BTreeMap::new();
    walk(config, root, "", &mut builder, store, &mut files);
    let mut blocks = Vec::new();
    let mut dirs = BTreeMap::new();
    builder
        .finish_with(
            &mut |b: ImportedBlock| -> Result<(), std::convert::Infallible> {
                blocks.push(b);
                Ok(())
            },
            &mut |path: &str, node: &ImportedNode| {
                dirs.insert(path.to_owned(), *node);
            },
        )
        .unwrap();
    for b in blocks {
        store.put(Block::verify(b.cid, &b.data).unwrap()).unwrap();
    }
    files
        .into_iter()
        .chain(dirs)
        .map(|(rel, node)| {
            let path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{name}/{rel}")
            };
            (path, node)
        })
        .collect()
}

/// Reads a file back through the exporter and checks its bytes.
fn check_export(root: Cid, store: &MemoryBlockStore, path: &Path) {
    let mut exporter = FileExporter::<8>::new(root);
    let mut buf = vec![0u8; rhizo_core::block::MAX_BLOCK_LEN];
    let mut out = Vec::new();
    while let Some(chunk) = exporter.next_chunk(store, &mut buf).unwrap() {
        out.extend_from_slice(chunk);
    }
    assert!(
        out == std::fs::read(path).unwrap(),
        "{} exported differently",
        path.display()
    );
}

async fn parity(config: ImporterConfig, tag: &str) {
    let dir =
        std::env::temp_dir().join(format!("rhizo-unixfs-parity-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (files, tree) = write_inputs(&dir);
    let mut inputs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    inputs.push(&tree);
    let js = js_import(&config, &inputs).await;

    let mut store = MemoryBlockStore::new();
    let mut compared = 0;
    for file in &files {
        let ours = rhizo_import_file(config, file, &mut store);
        let theirs: Vec<&JsEntry> = js.iter().filter(|e| Path::new(&e.input) == file).collect();
        assert_eq!(theirs.len(), 1, "{}: {theirs:?}", file.display());
        assert_eq!(
            cid_text(&ours.cid),
            theirs[0].cid,
            "{} ({tag})",
            file.display()
        );
        assert_eq!(ours.tsize, theirs[0].size, "{} ({tag})", file.display());
        check_export(ours.cid, &store, file);
        compared += 1;
    }

    let ours = rhizo_import_tree(config, &tree, &mut store);
    let theirs: Vec<&JsEntry> = js.iter().filter(|e| Path::new(&e.input) == tree).collect();
    assert!(theirs.len() >= 10, "the JS importer reported {theirs:?}");
    for entry in theirs {
        let path = entry.path.as_deref().unwrap();
        let node = ours
            .get(path)
            .unwrap_or_else(|| panic!("rhizo has no entry {path} ({tag})"));
        assert_eq!(cid_text(&node.cid), entry.cid, "{path} ({tag})");
        assert_eq!(node.tsize, entry.size, "{path} ({tag})");
        compared += 1;
    }

    // The directory lists back to its entries, sorted by name bytes.
    let root = ours[tree.file_name().unwrap().to_str().unwrap()].cid;
    let mut lister = DirectoryLister::<4>::new(root);
    let mut buf = vec![0u8; 64 * 1024];
    let mut names = Vec::new();
    while let Some(entry) = lister.next_entry(&store, &mut buf).unwrap() {
        names.push(entry.name_str().unwrap().to_owned());
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(names.len(), 7, "{names:?}");

    eprintln!("{tag}: {compared} CIDs equal to the JS importer's");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A file whose DAG has three levels at a small chunk size: the balanced layout's upper
/// levels, and partial groups at each, against the JS importer.
async fn deep_parity(config: ImporterConfig, tag: &str) {
    let dir = std::env::temp_dir().join(format!("rhizo-unixfs-deep-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("deep");
    // 64-byte chunks, 174 links: 174 * 174 * 64 = 1_937_664 bytes fill two levels.
    std::fs::write(&path, random_bytes(6, 1_990_000)).unwrap();
    let js = js_import(&config, &[&path]).await;
    let mut store = MemoryBlockStore::new();
    let ours = rhizo_import_file(config, &path, &mut store);
    assert_eq!(js.len(), 1);
    assert_eq!(cid_text(&ours.cid), js[0].cid, "deep ({tag})");
    assert_eq!(ours.tsize, js[0].size, "deep ({tag})");
    check_export(ours.cid, &store, &path);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn cidv0_dag_pb_leaves_match_the_js_importer() {
    parity(ImporterConfig::kubo(), "v0").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cidv1_raw_leaves_match_the_js_importer() {
    parity(ImporterConfig::v1_raw_leaves(), "v1-raw").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deep_dags_match_the_js_importer() {
    let small = |config: ImporterConfig| ImporterConfig {
        chunk_size: 64,
        ..config
    };
    deep_parity(small(ImporterConfig::kubo()), "v0").await;
    deep_parity(small(ImporterConfig::v1_raw_leaves()), "v1-raw").await;
}

/// A HAMT-sharded directory made by the JS importer (sharding forced by a low threshold, with
/// enough entries for sub-shards) lists back to its entries, and its files export to their
/// bytes, from the blocks the JS importer made.
#[tokio::test(flavor = "multi_thread")]
async fn hamt_directories_from_the_js_importer_are_readable() {
    for (config, tag) in [
        (ImporterConfig::kubo(), "v0"),
        (ImporterConfig::v1_raw_leaves(), "v1-raw"),
    ] {
        let dir =
            std::env::temp_dir().join(format!("rhizo-unixfs-hamt-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let tree = dir.join("hamt");
        std::fs::create_dir_all(&tree).unwrap();
        let mut want = BTreeMap::new();
        for i in 0..400u64 {
            let name = format!("entry-{i:03}.bin");
            let bytes = random_bytes(100 + i, (i as usize * 37) % 2000);
            std::fs::write(tree.join(&name), &bytes).unwrap();
            want.insert(name, bytes);
        }
        let env = [
            ("RHIZO_SHARD_THRESHOLD", "1000"),
            ("RHIZO_DUMP_BLOCKS", "1"),
        ];
        let (entries, blocks) = js_import_with(&config, &[&tree], &env).await;
        let mut source = FnSource(
            |cid: &Cid, out: &mut [u8]| -> Result<Option<usize>, std::convert::Infallible> {
                let Some(bytes) = blocks.get(cid.hash().to_bytes().as_slice()) else {
                    return Ok(None);
                };
                out[..bytes.len()].copy_from_slice(bytes);
                Ok(Some(bytes.len()))
            },
        );
        let root = entries
            .iter()
            .find(|e| e.path.as_deref() == Some("hamt"))
            .unwrap();
        let root = Cid::parse(&root.cid).unwrap();
        let mut buf = vec![0u8; rhizo_core::block::MAX_BLOCK_LEN];
        let len = rhizo_core::unixfs::BlockSource::read_block(&mut source, &root, &mut buf)
            .unwrap()
            .unwrap();
        let info = NodeInfo::parse(&root, &buf[..len]).unwrap();
        assert_eq!(info.kind, NodeKind::HamtShard, "{tag}");

        let mut listed = BTreeMap::new();
        let mut lister = DirectoryLister::<8>::new(root);
        while let Some(entry) = lister.next_entry(&mut source, &mut buf).unwrap() {
            listed.insert(entry.name_str().unwrap().to_owned(), entry.cid);
        }
        assert_eq!(listed.len(), want.len(), "{tag}");
        for (name, cid) in &listed {
            let found = find_entry(&mut source, root, name.as_bytes(), &mut buf).unwrap();
            assert_eq!(found.map(|f| f.cid), Some(*cid), "{name} ({tag})");
        }
        for e in entries.iter().filter(|e| e.path.as_deref() != Some("hamt")) {
            let name = e.path.as_deref().unwrap().strip_prefix("hamt/").unwrap();
            assert_eq!(cid_text(&listed[name]), e.cid, "{name} ({tag})");
        }
        for (name, cid) in &listed {
            let mut exporter = FileExporter::<8>::new(*cid);
            let mut out = Vec::new();
            while let Some(chunk) = exporter.next_chunk(&mut source, &mut buf).unwrap() {
                out.extend_from_slice(chunk);
            }
            assert!(out == want[name], "{name} ({tag}) exported differently");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Compares every entry the JS importer reports for `tree` with rhizo's import of it at
/// `threshold` (the JS importer gets the same threshold); returns how many were compared and
/// the root's kind.
async fn sharded_parity(
    config: ImporterConfig,
    tree: &Path,
    threshold: Option<usize>,
    tag: &str,
) -> (usize, NodeKind) {
    let threshold_text = threshold.map(|t| t.to_string());
    let env: Vec<(&str, &str)> = threshold_text
        .iter()
        .map(|t| ("RHIZO_SHARD_THRESHOLD", t.as_str()))
        .collect();
    let (js, _) = js_import_with(&config, &[tree], &env).await;
    let mut store = MemoryBlockStore::new();
    let ours = rhizo_import_tree_with(
        config,
        tree,
        &mut store,
        threshold.unwrap_or(rhizo_core::unixfs::SHARDING_THRESHOLD),
    );
    // `dir-sharded.ts` reports the subdirectories it flushes under the sharded directory's
    // own path, before the directory itself: the last entry of a path is that path's, an
    // earlier one is a directory somewhere below it.
    for (i, entry) in js.iter().enumerate() {
        let path = entry.path.as_deref().unwrap();
        let last = !js[i + 1..].iter().any(|e| e.path == entry.path);
        let node = if last {
            ours.get(path)
                .unwrap_or_else(|| panic!("rhizo has no entry {path} ({tag})"))
        } else {
            let below = format!("{path}/");
            ours.iter()
                .find(|(p, n)| p.starts_with(&below) && cid_text(&n.cid) == entry.cid)
                .unwrap_or_else(|| {
                    panic!("rhizo has no directory {} below {path} ({tag})", entry.cid)
                })
                .1
        };
        assert_eq!(cid_text(&node.cid), entry.cid, "{path} ({tag})");
        assert_eq!(node.tsize, entry.size, "{path} ({tag})");
    }
    // Every file is found again by name through the (sharded) directories.
    let name = tree.file_name().unwrap().to_str().unwrap();
    let root = ours[name].cid;
    let mut buf = vec![0u8; rhizo_core::block::MAX_BLOCK_LEN];
    for (path, node) in ours
        .iter()
        .filter(|(p, _)| p.starts_with(&format!("{name}/")))
    {
        let mut dir = root;
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        for part in &parts {
            dir = find_entry(&store, dir, part.as_bytes(), &mut buf)
                .unwrap()
                .unwrap_or_else(|| panic!("{path}: {part} not found ({tag})"))
                .cid;
        }
        assert_eq!(dir, node.cid, "{path} ({tag})");
    }
    let len = store.read(&root, &mut buf).unwrap().unwrap();
    let kind = NodeInfo::parse(&root, &buf[..len]).unwrap().kind;
    (js.len(), kind)
}

/// A directory past the default threshold (3000 files with 55-byte names: 267 KB of names
/// and CIDs in the estimate), with a subdirectory and an empty directory among the files, and
/// the usual tree plus 400 files at a threshold of 1000 bytes (sub-shards, names colliding in
/// buckets, sharded subdirectories): every CID and size equal to the JS importer's.
#[tokio::test(flavor = "multi_thread")]
async fn sharded_directories_match_the_js_importer() {
    for (config, tag) in [
        (ImporterConfig::kubo(), "v0"),
        (ImporterConfig::v1_raw_leaves(), "v1-raw"),
    ] {
        let dir =
            std::env::temp_dir().join(format!("rhizo-unixfs-sharded-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let big = dir.join("big");
        std::fs::create_dir_all(big.join("sub")).unwrap();
        std::fs::create_dir_all(big.join("empty")).unwrap();
        std::fs::write(big.join("sub").join("inner"), b"inner").unwrap();
        for i in 0..3000u64 {
            let name = format!("{i:05}-a-file-name-long-enough-to-pass-the-threshold.txt");
            assert_eq!(name.len(), 55);
            std::fs::write(big.join(&name), random_bytes(i, (i % 7) as usize)).unwrap();
        }
        let (compared, kind) = sharded_parity(config, &big, None, tag).await;
        assert_eq!(
            kind,
            NodeKind::HamtShard,
            "{tag}: the big directory is sharded"
        );
        assert!(compared > 3000, "{tag}: {compared}");

        let (_, tree) = write_inputs(&dir.join("inputs"));
        for i in 0..400u64 {
            let name = format!("entry-{i:03}.bin");
            std::fs::write(
                tree.join("sub").join(&name),
                random_bytes(200 + i, (i % 50) as usize),
            )
            .unwrap();
        }
        let (compared, kind) = sharded_parity(config, &tree, Some(1000), tag).await;
        assert_eq!(
            kind,
            NodeKind::Directory,
            "{tag}: 7 entries stay under 1000 bytes"
        );
        assert!(compared > 400, "{tag}: {compared}");
        let (_, kind) = sharded_parity(config, &tree, Some(100), tag).await;
        assert_eq!(kind, NodeKind::HamtShard, "{tag}");
        eprintln!("{tag}: sharded directories equal to the JS importer's");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
