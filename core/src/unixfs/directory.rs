//! Plain UnixFS directories from imported files and subdirectories.
//!
//! [`DirectoryBuilder`] collects entries by path (`a/b/c.txt`), then [`DirectoryBuilder::finish`]
//! encodes every directory bottom-up: a dag-pb node whose Data is a UnixFS `Directory`
//! (`08 01`) and whose links, sorted by name bytes, carry each entry's name, CID and cumulative
//! size. This is what `ipfs-unixfs-importer` and kubo write for directories below the sharding
//! threshold.
//!
//! # Q&A
//! *And large directories?* kubo and the JS importer switch a directory to a HAMT shard when
//! the estimate of its node's size passes 256 KiB: the sum, over the entries that are already
//! imported (files, not subdirectories still being built), of the name's bytes plus the CID's
//! bytes (the JS importer's default `links-bytes` strategy, after go-unixfsnode). Building
//! shards needs murmur3 and is not done here: [`DirectoryBuilder::finish`] refuses such a
//! directory ([`DirectoryError::NeedsSharding`]) rather than produce a CID the other
//! implementations would not.

use super::data::{DataFields, DataType};
use super::importer::{ImportedBlock, ImportedNode, dag_pb_cid, encode_node};
use crate::cid::Version;
use crate::dagpb::PbLink;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// The estimated node size above which kubo and the JS importer shard a directory.
pub const SHARDING_THRESHOLD: usize = 262_144;

/// Why an entry could not be added or the directory built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectoryError {
    /// An empty path, or a component that is empty, `.` or `..`.
    InvalidPath(String),
    /// The path is already taken, or a file stands where a directory is needed.
    Conflict(String),
    /// The directory's node would pass [`SHARDING_THRESHOLD`]: it needs a HAMT.
    NeedsSharding(String),
}

impl core::fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DirectoryError::InvalidPath(p) => write!(f, "invalid path {p:?}"),
            DirectoryError::Conflict(p) => write!(f, "path {p:?} is already taken"),
            DirectoryError::NeedsSharding(p) => {
                write!(
                    f,
                    "directory {p:?} is too large for one node (HAMT sharding needed)"
                )
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

/// Builds a tree of plain directories; see the module documentation.
#[derive(Debug)]
pub struct DirectoryBuilder {
    root: DirNode,
    cid_version: Version,
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
    /// An empty root directory whose nodes get CIDs of `cid_version`.
    pub fn new(cid_version: Version) -> Self {
        DirectoryBuilder {
            root: DirNode::default(),
            cid_version,
        }
    }

    fn dir_at(&mut self, parts: &[&str], path: &str) -> Result<&mut DirNode, DirectoryError> {
        let mut dir = &mut self.root;
        for part in parts {
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

    /// Adds an imported file (or any finished DAG: a symlink, a directory built elsewhere) at
    /// `path`, creating the directories on the way.
    pub fn add(&mut self, path: &str, node: ImportedNode) -> Result<(), DirectoryError> {
        let parts = components(path)?;
        let (name, parents) = parts.split_last().expect("split yields at least one part");
        let dir = self.dir_at(parents, path)?;
        if dir.entries.contains_key(*name) {
            return Err(DirectoryError::Conflict(path.to_string()));
        }
        dir.entries.insert((*name).to_string(), Entry::Node(node));
        Ok(())
    }

    /// Adds a directory at `path` (empty unless entries are added under it).
    pub fn add_directory(&mut self, path: &str) -> Result<(), DirectoryError> {
        let parts = components(path)?;
        self.dir_at(&parts, path).map(drop)
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
        encode_dir(self.root, self.cid_version, &mut path, sink, on_directory)
    }
}

/// Encodes `dir` after its subdirectories.
fn encode_dir<E>(
    dir: DirNode,
    version: Version,
    path: &mut String,
    sink: &mut impl FnMut(ImportedBlock) -> Result<(), E>,
    on_directory: &mut impl FnMut(&str, &ImportedNode),
) -> Result<ImportedNode, FinishError<E>> {
    let estimate: usize = dir
        .entries
        .iter()
        .filter_map(|(name, entry)| match entry {
            Entry::Node(node) => Some(name.len() + node.cid.encoded_len()),
            Entry::Dir(_) => None,
        })
        .sum();
    if estimate > SHARDING_THRESHOLD {
        return Err(FinishError::Directory(DirectoryError::NeedsSharding(
            path.clone(),
        )));
    }
    let mut children: Vec<(String, ImportedNode)> = Vec::with_capacity(dir.entries.len());
    for (name, entry) in dir.entries {
        let node = match entry {
            Entry::Node(node) => node,
            Entry::Dir(sub) => {
                let len = path.len();
                if !path.is_empty() {
                    path.push('/');
                }
                path.push_str(&name);
                let node = encode_dir(*sub, version, path, sink, on_directory)?;
                path.truncate(len);
                node
            }
        };
        children.push((name, node));
    }
    let fields = DataFields::new(DataType::Directory);
    let links = children
        .iter()
        .map(|(name, node)| PbLink::new(node.cid, name, node.tsize));
    let block = encode_node(links, &fields);
    if block.len() > crate::block::MAX_BLOCK_LEN {
        return Err(FinishError::Directory(DirectoryError::NeedsSharding(
            path.clone(),
        )));
    }
    let cid = dag_pb_cid(version, &block);
    let tsize = block.len() as u64 + children.iter().map(|(_, n)| n.tsize).sum::<u64>();
    sink(ImportedBlock { cid, data: block }).map_err(FinishError::Sink)?;
    let node = ImportedNode {
        cid,
        tsize,
        file_size: 0,
    };
    on_directory(path, &node);
    Ok(node)
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

    #[test]
    fn large_directories_need_sharding() {
        let mut b = DirectoryBuilder::new(Version::V0);
        // 34-byte CIDs and 66-byte names: 100 bytes an entry in the estimate.
        for i in 0..2621 {
            b.add(&format!("{i:066}"), node(b"x")).unwrap();
        }
        assert!(finish(b).is_ok(), "262100 bytes are under the threshold");
        let mut b = DirectoryBuilder::new(Version::V0);
        for i in 0..2622 {
            b.add(&format!("{i:066}"), node(b"x")).unwrap();
        }
        assert!(matches!(finish(b), Err(DirectoryError::NeedsSharding(_))));
    }
}
