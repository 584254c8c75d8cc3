//! The operations behind the API's verbs and the local CLI, on a [`Store`], with kubo's JSON
//! shapes as their results: the daemon serves them over HTTP, and the CLI calls them directly
//! when no daemon runs, so both print the same.

use crate::store::{PinMode, Store, StoreError};
use rhizo_core::block::{Block, MAX_BLOCK_LEN};
use rhizo_core::cid::{Cid, codec};
use rhizo_core::multihash::Multihash;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Whose fault a failed operation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A bad argument (HTTP 400, kubo's code 1).
    Client,
    /// Anything else (HTTP 500, kubo's code 0).
    Server,
}

/// A failed operation: its message says what went wrong and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpError {
    /// Whose fault.
    pub kind: ErrorKind,
    /// For a person.
    pub message: String,
}

impl OpError {
    /// A bad argument.
    pub fn client(message: impl Into<String>) -> OpError {
        OpError {
            kind: ErrorKind::Client,
            message: message.into(),
        }
    }

    /// Anything else.
    pub fn server(message: impl Into<String>) -> OpError {
        OpError {
            kind: ErrorKind::Server,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OpError {}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        let kind = match e {
            StoreError::NotFound(_)
            | StoreError::Incomplete { .. }
            | StoreError::AlreadyRecursive(_)
            | StoreError::NotPinned(_)
            | StoreError::Block(_) => ErrorKind::Client,
            _ => ErrorKind::Server,
        };
        OpError {
            kind,
            message: e.to_string(),
        }
    }
}

/// The result type of the operations.
pub type OpResult<T> = Result<T, OpError>;

/// `block/put` and `block/stat`: `{"Key": cid, "Size": n}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BlockStat {
    /// The CID.
    pub key: String,
    /// The block's length.
    pub size: u64,
}

/// `pin/add` and `pin/rm`: `{"Pins": [cid, ...]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Pins {
    /// The CIDs pinned or unpinned.
    pub pins: Vec<String>,
}

/// One entry of `pin/ls`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PinType {
    /// `direct`, `recursive` or `indirect`.
    #[serde(rename = "Type")]
    pub kind: String,
}

/// `pin/ls`: `{"Keys": {cid: {"Type": ...}}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PinList {
    /// The pinned CIDs and how.
    pub keys: BTreeMap<String, PinType>,
}

/// `repo/stat`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RepoStat {
    /// Bytes of blocks held.
    pub repo_size: u64,
    /// The configured limit: none yet, so `u64::MAX`.
    pub storage_max: u64,
    /// Blocks held.
    pub num_objects: u64,
    /// The repo directory.
    pub repo_path: String,
    /// The store's format.
    pub version: String,
    /// Direct pins (rhizo's addition).
    pub direct_pins: u64,
    /// Recursive pins (rhizo's addition).
    pub recursive_pins: u64,
    /// Pack files holding the blocks (rhizo's addition).
    #[serde(default)]
    pub pack_files: u64,
    /// Their total bytes, record headers and records gc has not compacted yet included
    /// (rhizo's addition).
    #[serde(default)]
    pub pack_bytes: u64,
}

/// `repo/gc`, one per removed block: `{"Key": {"/": cid}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GcKey {
    /// The removed block's CID, in IPLD's link form.
    pub key: Link,
}

/// An IPLD link in JSON: `{"/": cid}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The CID.
    #[serde(rename = "/")]
    pub cid: String,
}

/// `repo/verify` (rhizo's shape; kubo streams progress messages instead).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyResult {
    /// Whether nothing is wrong.
    pub consistent: bool,
    /// Blocks hashed.
    pub blocks_checked: u64,
    /// Blocks whose bytes do not hash to their CID.
    pub corrupt: Vec<String>,
    /// Pinned blocks not held.
    pub missing: Vec<String>,
    /// Other problems.
    pub problems: Vec<String>,
    /// Harmless garbage found, or removed when the store was opened (not an inconsistency).
    #[serde(default)]
    pub orphans: Vec<String>,
}

/// Parses a CID argument.
pub fn parse_cid(text: &str) -> OpResult<Cid> {
    text.trim().parse().map_err(|e| {
        OpError::client(format!(
            "`{text}` is not a CID ({e}): give one like bafkrei... or Qm..."
        ))
    })
}

/// Parses a duration as kubo's `--timeout` takes it: `30s`, `500ms`, `2m`, `1h`, or a plain
/// number of seconds.
pub fn parse_duration(text: &str) -> OpResult<std::time::Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || {
        OpError::client(format!(
            "`{text}` is not a duration: use e.g. 30s, 500ms, 2m or 1h"
        ))
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(bad()),
    };
    std::time::Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

/// Parses `--cid-codec` (kubo's names).
pub fn parse_codec(name: &str) -> OpResult<u64> {
    match name {
        "raw" => Ok(codec::RAW),
        "dag-pb" | "protobuf" => Ok(codec::DAG_PB),
        "dag-cbor" | "cbor" => Ok(codec::DAG_CBOR),
        "dag-json" => Ok(codec::DAG_JSON),
        "json" => Ok(codec::JSON),
        other => Err(OpError::client(format!(
            "unknown CID codec `{other}`: use raw, dag-pb, dag-cbor, dag-json or json"
        ))),
    }
}

/// The CID `data` gets: sha2-256 with `codec`, version 0 (dag-pb only) or 1.
pub fn cid_for(data: &[u8], codec_code: u64, version: u64) -> OpResult<Cid> {
    let hash = Multihash::sha2_256(data);
    match version {
        0 if codec_code == codec::DAG_PB => Cid::new_v0(hash),
        0 => {
            return Err(OpError::client(
                "CIDv0 exists only for dag-pb: pass --cid-codec dag-pb, or --cid-version 1",
            ));
        }
        1 => Cid::new_v1(codec_code, hash),
        v => {
            return Err(OpError::client(format!(
                "unknown CID version {v}: use 0 or 1"
            )));
        }
    }
    .map_err(|e| OpError::server(format!("making the CID: {e}")))
}

/// `block/put`: stores each of `blocks` (in one transaction), pinning each directly if `pin`.
pub fn block_put(
    store: &Store,
    blocks: &[Vec<u8>],
    codec_code: u64,
    version: u64,
    pin: bool,
) -> OpResult<Vec<BlockStat>> {
    let mut batch = store.batch()?;
    let mut stats = Vec::with_capacity(blocks.len());
    for data in blocks {
        if data.len() > MAX_BLOCK_LEN {
            return Err(OpError::client(format!(
                "the block is {} bytes, more than the {MAX_BLOCK_LEN} bytes peers accept: split \
                 the data (rhizo add makes a DAG of small blocks)",
                data.len()
            )));
        }
        let cid = cid_for(data, codec_code, version)?;
        let block = Block::verify(cid, data).map_err(StoreError::Block)?;
        batch.insert(block)?;
        if pin {
            batch.pin(&cid, PinMode::Direct)?;
        }
        stats.push(BlockStat {
            key: cid.to_string(),
            size: data.len() as u64,
        });
    }
    batch.commit()?;
    Ok(stats)
}

/// `block/get`.
pub fn block_get(store: &Store, cid: &Cid) -> OpResult<Vec<u8>> {
    store
        .get(cid)?
        .ok_or_else(|| StoreError::NotFound(*cid).into())
}

/// `block/stat`.
pub fn block_stat(store: &Store, cid: &Cid) -> OpResult<BlockStat> {
    let size = store.block_size(cid)?.ok_or(StoreError::NotFound(*cid))?;
    Ok(BlockStat {
        key: cid.to_string(),
        size: size as u64,
    })
}

/// `pin/add`: all in one transaction.
pub fn pin_add(store: &Store, cids: &[Cid], recursive: bool) -> OpResult<Pins> {
    let mode = if recursive {
        PinMode::Recursive
    } else {
        PinMode::Direct
    };
    let mut batch = store.batch()?;
    for cid in cids {
        batch.pin(cid, mode)?;
    }
    batch.commit()?;
    Ok(Pins {
        pins: cids.iter().map(Cid::to_string).collect(),
    })
}

/// `pin/rm`.
pub fn pin_rm(store: &Store, cids: &[Cid]) -> OpResult<Pins> {
    for cid in cids {
        store.unpin(cid)?;
    }
    Ok(Pins {
        pins: cids.iter().map(Cid::to_string).collect(),
    })
}

/// `pin/ls`: `kind` is `all` (default), `direct`, `recursive` or `indirect`; `cids` not empty
/// asks about those only.
pub fn pin_ls(store: &Store, kind: &str, cids: &[Cid]) -> OpResult<PinList> {
    let (direct, recursive, indirect) = match kind {
        "all" => (true, true, true),
        "direct" => (true, false, false),
        "recursive" => (false, true, false),
        "indirect" => (false, false, true),
        other => {
            return Err(OpError::client(format!(
                "unknown pin type `{other}`: use all, direct, recursive or indirect"
            )));
        }
    };
    let mut keys = BTreeMap::new();
    let entry = |kind: &str| PinType {
        kind: kind.to_owned(),
    };
    for (cid, mode) in store.pins()? {
        if (mode == PinMode::Direct && direct) || (mode == PinMode::Recursive && recursive) {
            keys.insert(cid.to_string(), entry(mode.as_str()));
        }
    }
    if indirect {
        for cid in store.indirect_pins()? {
            keys.entry(cid.to_string())
                .or_insert_with(|| entry("indirect"));
        }
    }
    if !cids.is_empty() {
        let wanted: Vec<String> = cids.iter().map(Cid::to_string).collect();
        keys.retain(|k, _| wanted.contains(k));
        if let Some(absent) = wanted.iter().find(|w| !keys.contains_key(*w)) {
            return Err(OpError::client(format!("{absent} is not pinned")));
        }
    }
    Ok(PinList { keys })
}

/// `repo/stat`.
pub fn repo_stat(store: &Store) -> OpResult<RepoStat> {
    let stat = store.stat()?;
    Ok(RepoStat {
        repo_size: stat.block_bytes,
        storage_max: u64::MAX,
        num_objects: stat.blocks,
        repo_path: store.dir().display().to_string(),
        version: format!("rhizo-repo@{}", crate::store::SCHEMA_VERSION),
        direct_pins: stat.pins.0,
        recursive_pins: stat.pins.1,
        pack_files: stat.pack_files,
        pack_bytes: stat.pack_bytes,
    })
}

/// `repo/gc`.
pub fn repo_gc(store: &Store) -> OpResult<Vec<GcKey>> {
    let report = store.gc()?;
    Ok(report
        .removed
        .iter()
        .map(|cid| GcKey {
            key: Link {
                cid: cid.to_string(),
            },
        })
        .collect())
}

/// `repo/verify`.
pub fn repo_verify(store: &Store) -> OpResult<VerifyResult> {
    let report = store.verify()?;
    Ok(VerifyResult {
        consistent: report.is_consistent(),
        blocks_checked: report.blocks_checked,
        corrupt: report.corrupt,
        missing: report.missing.iter().map(Cid::to_string).collect(),
        problems: report.problems,
        orphans: report.orphans,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    #[test]
    fn durations_read_like_kubo() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        for bad in ["", "s", "-1s", "1d", "1e999", "NaN"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_durations_never_panic(text in ".{0,30}") {
            let _ = parse_duration(&text);
        }
    }
}
