//! Listing UnixFS directories, plain and HAMT-sharded, with bounded memory.
//!
//! A plain directory's links are its entries. A HAMT shard's links are named with the bucket
//! index in upper-case hex (two digits for the default fan-out of 256) followed by the entry's
//! name; a link whose name is only the index points at a sub-shard. [`DirectoryLister`] walks
//! both with a stack of at most `DEPTH` positions, re-reading a node from the source for each
//! entry, and hands out entries whose names borrow the caller's buffer: no `alloc`.
//!
//! Entries come in link order: sorted by name for a plain directory, in hash order for a HAMT.
//! Listing does not check that an entry sits in the bucket its name hashes to (reading needs
//! no murmur3).

use super::exporter::{ExportError, offset_in};
use super::source::load;
use super::{DataType, parse_node};
use crate::cid::{Cid, codec};

/// One directory entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirEntry<'b> {
    /// The entry's name (bytes; UTF-8 in practice, see [`DirEntry::name_str`]).
    pub name: &'b [u8],
    /// The entry's CID.
    pub cid: Cid,
    /// The cumulative size of the entry's DAG, if the link states it.
    pub tsize: Option<u64>,
}

impl<'b> DirEntry<'b> {
    /// The name as UTF-8, if valid.
    pub fn name_str(&self) -> Option<&'b str> {
        core::str::from_utf8(self.name).ok()
    }
}

#[derive(Clone, Copy, Debug)]
struct Frame {
    cid: Cid,
    next_link: usize,
}

/// Lists a directory's entries; see the module documentation.
#[derive(Clone, Debug)]
pub struct DirectoryLister<const DEPTH: usize> {
    stack: heapless::Vec<Frame, DEPTH>,
    root: Cid,
    /// The hex prefix length of the HAMT's link names, once the root says it is a shard.
    prefix_len: Option<usize>,
}

enum Step {
    Entry {
        name: (usize, usize),
        cid: Cid,
        tsize: Option<u64>,
    },
    Continue,
}

/// Hex digits of a HAMT bucket index: those of `fanout - 1`. The fan-out must be a power of
/// two between 2 and 2^16 (the spec's limits are narrower: 8 to 1024 in practice).
fn hamt_prefix_len(fanout: Option<u64>) -> Option<usize> {
    let fanout = fanout?;
    if !fanout.is_power_of_two() || !(2..=1 << 16).contains(&fanout) {
        return None;
    }
    let bits = 64 - (fanout - 1).leading_zeros() as usize;
    Some(bits.div_ceil(4))
}

impl<const DEPTH: usize> DirectoryLister<DEPTH> {
    /// A lister of the directory (plain or HAMT root) named by `root`.
    pub fn new(root: Cid) -> Self {
        let mut stack = heapless::Vec::new();
        let _ = stack.push(Frame {
            cid: root,
            next_link: 0,
        });
        DirectoryLister {
            stack,
            root,
            prefix_len: None,
        }
    }

    /// The next entry, with its name in `buf`; `None` after the last. `buf` must hold the
    /// directory's largest block.
    pub fn next_entry<'b, S: super::BlockSource>(
        &mut self,
        mut source: S,
        buf: &'b mut [u8],
    ) -> Result<Option<DirEntry<'b>>, ExportError<S::Error>> {
        if DEPTH == 0 {
            return Err(ExportError::TooDeep);
        }
        loop {
            let Some(&frame) = self.stack.last() else {
                return Ok(None);
            };
            let len = load(&mut source, &frame.cid, buf)?;
            match self.step(frame, &buf[..len])? {
                Step::Entry {
                    name: (start, end),
                    cid,
                    tsize,
                } => {
                    return Ok(Some(DirEntry {
                        name: &buf[start..end],
                        cid,
                        tsize,
                    }));
                }
                Step::Continue => {}
            }
        }
    }

    fn step<E>(&mut self, frame: Frame, block: &[u8]) -> Result<Step, ExportError<E>> {
        if frame.cid.codec() != codec::DAG_PB {
            return Err(ExportError::UnsupportedCodec(frame.cid));
        }
        let (node, data) = parse_node(block).map_err(|e| ExportError::Node(frame.cid, e))?;
        let is_root = frame.cid == self.root && self.stack.len() == 1;
        match (data.kind(), self.prefix_len) {
            (DataType::Directory, None) if is_root => {}
            (DataType::HamtShard, _) => {
                let len =
                    hamt_prefix_len(data.fanout()).ok_or(ExportError::InvalidShard(frame.cid))?;
                if self.prefix_len.is_some_and(|p| p != len) {
                    return Err(ExportError::InvalidShard(frame.cid));
                }
                self.prefix_len = Some(len);
            }
            (kind, _) => return Err(ExportError::NotADirectory(frame.cid, kind)),
        }
        let top = self.stack.len() - 1;
        let Some(link) = node.link(frame.next_link) else {
            self.stack.pop();
            return Ok(Step::Continue);
        };
        self.stack[top].next_link += 1;
        let name = link.name.unwrap_or(&[]);
        let base = offset_in(block, name);
        let Some(prefix) = self.prefix_len else {
            return Ok(Step::Entry {
                name: (base, base + name.len()),
                cid: link.hash,
                tsize: link.tsize,
            });
        };
        if name.len() == prefix {
            self.stack
                .push(Frame {
                    cid: link.hash,
                    next_link: 0,
                })
                .map_err(|_| ExportError::TooDeep)?;
            return Ok(Step::Continue);
        }
        if name.len() < prefix {
            return Err(ExportError::InvalidShard(frame.cid));
        }
        Ok(Step::Entry {
            name: (base + prefix, base + name.len()),
            cid: link.hash,
            tsize: link.tsize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::hamt_prefix_len;

    #[test]
    fn prefix_lengths() {
        assert_eq!(hamt_prefix_len(Some(256)), Some(2));
        assert_eq!(hamt_prefix_len(Some(16)), Some(1));
        assert_eq!(hamt_prefix_len(Some(1024)), Some(3));
        assert_eq!(hamt_prefix_len(Some(100)), None);
        assert_eq!(hamt_prefix_len(None), None);
    }
}
