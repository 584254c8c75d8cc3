//! UnixFS directories, plain and HAMT-sharded, from imported files and subdirectories.
//!
//! [`DirectoryBuilder`] collects entries by path (`a/b/c.txt`), then [`DirectoryBuilder::finish`]
//! encodes every directory bottom-up. A directory below the sharding threshold is one dag-pb
//! node whose Data is a UnixFS `Directory` (`08 01`) and whose links, sorted by name bytes,
//! carry each entry's name, CID and cumulative size. A directory above it is a HAMT (see
//! [`super::hamt`] for where names go and `shard.rs` for the nodes). Both are what
//! `ipfs-unixfs-importer` (helia) writes, and kubo for the same tree.
//!
//! # When a directory is sharded
//! As `ipfs-unixfs-importer`'s default `links-bytes` strategy (`dir-flat.ts`,
//! `estimateNodeSize`, after go-unixfsnode's `estimateDirSize`; `flat-to-shard.ts`): the
//! estimate is the sum, over the entries that were imported whole (files, symlinks, empty
//! directories, any [`DirectoryBuilder::add`]ed node), of the name's UTF-8 bytes plus the
//! CID's bytes; subdirectories with entries count nothing (the JS importer checks while they
//! are still being built, and never again). The directory is sharded when the estimate is
//! strictly above the threshold, [`SHARDING_THRESHOLD`] (256 KiB) by default.
//!
//! # Memory
//! Every entry of the tree (its name and node, about 100 bytes plus the name) is held until
//! [`DirectoryBuilder::finish`]; a builder takes at most [`MAX_ENTRIES`] entries (files and
//! directories together), about 100 MiB at worst, and refuses more
//! ([`DirectoryError::TooManyEntries`]).
//!
//! # Q&A
//! *Does kubo shard at the same point?* Nearly. Its estimate (boxo `io/directory.go`,
//! `BasicDirectory.estimatedSize`, `needsToSwitchToHAMTDir`) also counts a link as name plus
//! CID bytes, but counts every child, subdirectories included (kubo adds a subdirectory once
//! it is complete), and switches at `>=` the threshold where the JS importer switches at `>`.
//! For a directory of files the two agree except at exactly 256 KiB; the JS importer is this
//! builder's test oracle. The shards themselves (hash, bucket layout, link names, bitfield)
//! are the same in both.

use super::data::{DataFields, DataType};
use super::importer::{ImportedBlock, ImportedNode, dag_pb_cid, encode_node};
use super::shard::{ShardError, write_shard};
use crate::cid::Version;
use crate::dagpb::PbLink;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// The estimated node size above which kubo and the JS importer shard a directory.
pub const SHARDING_THRESHOLD: usize = 262_144;
/// The most entries (files and directories, at every level) one builder holds.
pub const MAX_ENTRIES: usize = 1 << 20;

/// Why an entry could not be added or the directory built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectoryError {
    /// An empty path, or a component that is empty, `.` or `..`.
    InvalidPath(String),
    /// The path is already taken, or a file stands where a directory is needed.
    Conflict(String),
    /// The builder already holds [`MAX_ENTRIES`] entries.
    TooManyEntries,
    /// A directory node would pass the block size limit: a plain directory of many
    /// subdirectories (which the sharding estimate does not count), or names of megabytes.
    BlockTooLarge(String),
    /// Two names of the directory agree on every hash bit a HAMT may use.
    HashCollision(String),
}

impl core::fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DirectoryError::InvalidPath(p) => write!(f, "invalid path {p:?}"),
            DirectoryError::Conflict(p) => write!(f, "path {p:?} is already taken"),
            DirectoryError::TooManyEntries => {
                write!(f, "more than {MAX_ENTRIES} entries in one directory tree")
            }
            DirectoryError::BlockTooLarge(p) => {
                write!(f, "directory {p:?} does not fit in one block")
            }
            DirectoryError::HashCollision(p) => {
                write!(f, "directory {p:?}: two names collide on every HAMT level")
            }
        }
    }
}

impl core::error::Error for DirectoryError {}

/// Why [`DirectoryBuilder::finish`] stopped: the sink failed, or a directory cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinishError<E> {
    /// The block sink failed.
    Sink(E),
    /// A directory cannot be built.
    Directory(DirectoryError),
}

impl<E: core::fmt::Display> core::fmt::Display for FinishError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FinishError::Sink(e) => write!(f, "block sink: {e}"),
            FinishError::Directory(e) => write!(f, "{e}"),
        }
    }
}

impl<E: core::fmt::Debug + core::fmt::Display> core::error::Error for FinishError<E> {}

#[derive(Debug, Default)]
struct DirNode {
    entries: BTreeMap<String, Entry>,
}

#[derive(Debug)]
enum Entry {
    Node(ImportedNode),
    Dir(Box<DirNode>),
}

/// Builds a tree of directories; see the module documentation.
#[derive(Debug)]
pub struct DirectoryBuilder {
    root: DirNode,
    cid_version: Version,
    shard_threshold: usize,
    entries: usize,
}

/// The directory at `parts` under `dir`, made on the way (counted in `entries`).
fn dir_at<'d>(
    mut dir: &'d mut DirNode,
    entries: &mut usize,
    parts: &[&str],
    path: &str,
) -> Result<&'d mut DirNode, DirectoryError> {
    for part in parts {
        if !dir.entries.contains_key(*part) {
            if *entries >= MAX_ENTRIES {
                return Err(DirectoryError::TooManyEntries);
            }
            *entries += 1;
        }
        let entry = dir
            .entries
            .entry((*part).to_string())
            .or_insert_with(|| Entry::Dir(Box::default()));
        dir = match entry {
            Entry::Dir(d) => d,
            Entry::Node(_) => return Err(DirectoryError::Conflict(path.to_string())),
        };
    }
    Ok(dir)
}

fn components(path: &str) -> Result<Vec<&str>, DirectoryError> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(DirectoryError::InvalidPath(path.to_string()));
    }
    Ok(parts)
}

impl DirectoryBuilder {
    /// An empty root directory whose nodes get CIDs of `cid_version`, sharding at
    /// [`SHARDING_THRESHOLD`].
    pub fn new(cid_version: Version) -> Self {
        DirectoryBuilder {
            root: DirNode::default(),
            cid_version,
            shard_threshold: SHARDING_THRESHOLD,
            entries: 0,
        }
    }

    /// Shards directories whose estimate passes `bytes` instead (the JS importer's
    /// `shardSplitThresholdBytes`).
    pub fn with_shard_threshold(mut self, bytes: usize) -> Self {
        self.shard_threshold = bytes;
        self
    }

    /// Adds an imported file (or any finished DAG: a symlink, a directory built elsewhere) at
    /// `path`, creating the directories on the way.
    pub fn add(&mut self, path: &str, node: ImportedNode) -> Result<(), DirectoryError> {
        let parts = components(path)?;
        let (name, parents) = parts.split_last().expect("split yields at least one part");
        let dir = dir_at(&mut self.root, &mut self.entries, parents, path)?;
        if dir.entries.contains_key(*name) {
            return Err(DirectoryError::Conflict(path.to_string()));
        }
        if self.entries >= MAX_ENTRIES {
            return Err(DirectoryError::TooManyEntries);
        }
        dir.entries.insert((*name).to_string(), Entry::Node(node));
        self.entries += 1;
        Ok(())
    }

    /// Adds a directory at `path` (empty unless entries are added under it).
    pub fn add_directory(&mut self, path: &str) -> Result<(), DirectoryError> {
        let parts = components(path)?;
        dir_at(&mut self.root, &mut self.entries, &parts, path).map(drop)
    }

    /// Encodes every directory, handing each block to `sink`, and returns the root's node.
    pub fn finish<E>(
        self,
        sink: &mut impl FnMut(ImportedBlock) -> Result<(), E>,
    ) -> Result<ImportedNode, FinishError<E>> {
        self.finish_with(sink, &mut |_, _| {})
    }

    /// [`DirectoryBuilder::finish`], also telling `on_directory` each directory's path
    /// (relative to the root, `""` for the root) and node as it is made, children first.
    pub fn finish_with<E>(
        self,
        sink: &mut impl FnMut(ImportedBlock) -> Result<(), E>,
        on_directory: &mut impl FnMut(&str, &ImportedNode),
    ) -> Result<ImportedNode, FinishError<E>> {
        let mut path = String::new();
        let settings = Settings {
            version: self.cid_version,
            threshold: self.shard_threshold,
        };
        encode_dir(self.root, settings, &mut path, sink, on_directory)
    }
}

#[derive(Clone, Copy)]
struct Settings {
    version: Version,
    threshold: usize,
}

/// Encodes `dir` after its subdirectories.
fn encode_dir<E>(
    dir: DirNode,
    settings: Settings,
    path: &mut String,
    sink: &mut impl FnMut(ImportedBlock) -> Result<(), E>,
    on_directory: &mut impl FnMut(&str, &ImportedNode),
) -> Result<ImportedNode, FinishError<E>> {
    let mut children: Vec<(String, ImportedNode)> = Vec::with_capacity(dir.entries.len());
    let mut estimate = 0usize;
    for (name, entry) in dir.entries {
        let (node, counted) = match entry {
            Entry::Node(node) => (node, true),
            Entry::Dir(sub) => {
                let empty = sub.entries.is_empty();
                let len = path.len();
                if !path.is_empty() {
                    path.push('/');
                }
                path.push_str(&name);
                let node = encode_dir(*sub, settings, path, sink, on_directory)?;
                path.truncate(len);
                (node, empty)
            }
        };
        if counted {
            estimate = estimate.saturating_add(name.len() + node.cid.encoded_len());
        }
        children.push((name, node));
    }
    let node = if estimate > settings.threshold {
        write_shard(children, settings.version, sink).map_err(|e| match e {
            ShardError::Sink(e) => FinishError::Sink(e),
            ShardError::TooDeep => {
                FinishError::Directory(DirectoryError::HashCollision(path.clone()))
            }
            ShardError::BlockTooLarge => {
                FinishError::Directory(DirectoryError::BlockTooLarge(path.clone()))
            }
        })?
    } else {
        encode_plain(&children, settings.version, path, sink)?
    };
    on_directory(path, &node);
    Ok(node)
}

/// Encodes a plain directory of `children` (sorted by name bytes).
fn encode_plain<E>(
    children: &[(String, ImportedNode)],
    version: Version,
    path: &str,
    sink: &mut impl FnMut(ImportedBlock) -> Result<(), E>,
) -> Result<ImportedNode, FinishError<E>> {
    let fields = DataFields::new(DataType::Directory);
    let links = children
        .iter()
        .map(|(name, node)| PbLink::new(node.cid, name, node.tsize));
    let block = encode_node(links, &fields);
    if block.len() > crate::block::MAX_BLOCK_LEN {
        return Err(FinishError::Directory(DirectoryError::BlockTooLarge(
            path.to_string(),
        )));
    }
    let cid = dag_pb_cid(version, &block);
    let tsize = children.iter().fold(block.len() as u64, |sum, (_, n)| {
        sum.saturating_add(n.tsize)
    });
    sink(ImportedBlock { cid, data: block }).map_err(FinishError::Sink)?;
    Ok(ImportedNode {
        cid,
        tsize,
        file_size: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cid::Cid;
    use crate::dagpb::PbNode;
    use crate::multihash::Multihash;

    fn node(seed: &[u8]) -> ImportedNode {
        ImportedNode {
            cid: Cid::new_v0(Multihash::sha2_256(seed)).unwrap(),
            tsize: 10,
            file_size: 2,
        }
    }

    fn finish(
        builder: DirectoryBuilder,
    ) -> Result<(ImportedNode, Vec<ImportedBlock>), DirectoryError> {
        let mut blocks = Vec::new();
        let root = builder
            .finish(&mut |b| -> Result<(), ()> {
                blocks.push(b);
                Ok(())
            })
            .map_err(|e| match e {
                FinishError::Directory(e) => e,
                FinishError::Sink(()) => unreachable!("the sink never fails"),
            })?;
        Ok((root, blocks))
    }

    #[test]
    fn empty_directory_is_08_01() {
        let (root, blocks) = finish(DirectoryBuilder::new(Version::V0)).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].data, [0x0a, 0x02, 0x08, 0x01]);
        assert_eq!(root.tsize, 4);
    }

    #[test]
    fn nested_entries_sorted_by_name_bytes() {
        let mut b = DirectoryBuilder::new(Version::V1);
        b.add("b", node(b"1")).unwrap();
        b.add("sub/x", node(b"2")).unwrap();
        b.add("B", node(b"3")).unwrap();
        b.add_directory("sub/empty").unwrap();
        let (root, blocks) = finish(b).unwrap();
        assert_eq!(blocks.len(), 3, "empty, sub, root");
        let top = PbNode::parse(&blocks[2].data).unwrap();
        let names: Vec<_> = top.links().map(|l| l.name_str().unwrap()).collect();
        assert_eq!(names, ["B", "b", "sub"]);
        let sum: u64 = blocks.iter().map(|b| b.data.len() as u64).sum();
        assert_eq!(root.tsize, sum + 30);
    }

    #[test]
    fn bad_paths_and_conflicts() {
        let mut b = DirectoryBuilder::new(Version::V0);
        for bad in ["", "a//b", "./a", "a/../b"] {
            assert!(matches!(
                b.add(bad, node(b"x")),
                Err(DirectoryError::InvalidPath(_))
            ));
        }
        b.add("f", node(b"x")).unwrap();
        assert!(matches!(
            b.add("f", node(b"y")),
            Err(DirectoryError::Conflict(_))
        ));
        assert!(matches!(
            b.add("f/g", node(b"y")),
            Err(DirectoryError::Conflict(_))
        ));
        assert!(matches!(
            b.add_directory("f"),
            Err(DirectoryError::Conflict(_))
        ));
    }

    fn kind_of(block: &ImportedBlock) -> DataType {
        let node = PbNode::parse(&block.data).unwrap();
        crate::unixfs::UnixFsData::parse(node.data().unwrap())
            .unwrap()
            .kind()
    }

    #[test]
    fn directories_shard_strictly_above_the_threshold() {
        let mut b = DirectoryBuilder::new(Version::V0);
        // 34-byte CIDs and 66-byte names: 100 bytes an entry in the estimate.
        for i in 0..2621 {
            b.add(&format!("{i:066}"), node(b"x")).unwrap();
        }
        let (_, blocks) = finish(b).unwrap();
        assert_eq!(blocks.len(), 1, "262100 bytes are under the threshold");
        assert_eq!(kind_of(&blocks[0]), DataType::Directory);
        let mut b = DirectoryBuilder::new(Version::V0);
        for i in 0..2622 {
            b.add(&format!("{i:066}"), node(b"x")).unwrap();
        }
        let (_, blocks) = finish(b).unwrap();
        assert!(blocks.len() > 1, "sub-shards for names sharing a bucket");
        assert!(blocks.iter().all(|b| kind_of(b) == DataType::HamtShard));
    }

    #[test]
    fn subdirectories_with_entries_do_not_count() {
        // Threshold 100: "a" + 34 bytes counts 35, an empty directory counts too, a full
        // one does not.
        let build = |paths: &[&str], empties: &[&str]| {
            let mut b = DirectoryBuilder::new(Version::V0).with_shard_threshold(100);
            for p in paths {
                b.add(p, node(p.as_bytes())).unwrap();
            }
            for p in empties {
                b.add_directory(p).unwrap();
            }
            let (_, blocks) = finish(b).unwrap();
            kind_of(blocks.last().unwrap())
        };
        assert_eq!(build(&["a", "b"], &[]), DataType::Directory);
        assert_eq!(build(&["a", "b", "c"], &[]), DataType::HamtShard);
        assert_eq!(build(&["a", "b", "s/x", "t/y"], &[]), DataType::Directory);
        assert_eq!(build(&["a", "b"], &["e"]), DataType::HamtShard);
    }

    #[test]
    fn entry_limit() {
        let mut b = DirectoryBuilder::new(Version::V0);
        b.entries = MAX_ENTRIES - 1;
        b.add("f", node(b"x")).unwrap();
        assert_eq!(
            b.add("d/f", node(b"x")),
            Err(DirectoryError::TooManyEntries)
        );
        assert_eq!(b.add("g", node(b"x")), Err(DirectoryError::TooManyEntries));
        assert_eq!(b.add_directory("h"), Err(DirectoryError::TooManyEntries));
    }
}
