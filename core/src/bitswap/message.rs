//! The Bitswap message (boxo `bitswap/message/pb/message.proto`, proto3), one per
//! varint-length-prefixed frame:
//!
//! ```protobuf
//! message Message {
//!   message Wantlist {
//!     enum WantType { Block = 0; Have = 1; }
//!     message Entry {
//!       bytes block = 1;        // the CID
//!       int32 priority = 2;
//!       bool cancel = 3;
//!       WantType wantType = 4;  // 1.2.0
//!       bool sendDontHave = 5;  // 1.2.0
//!     }
//!     repeated Entry entries = 1;
//!     bool full = 2;
//!   }
//!   message Block {
//!     bytes prefix = 1;         // CID version, codec, multihash code, digest length
//!     bytes data = 2;
//!   }
//!   enum BlockPresenceType { Have = 0; DontHave = 1; }
//!   message BlockPresence {
//!     bytes cid = 1;
//!     BlockPresenceType type = 2;
//!   }
//!   Wantlist wantlist = 1;
//!   repeated bytes blocks = 2;                 // 1.0.0
//!   repeated Block payload = 3;                // 1.1.0 and later
//!   repeated BlockPresence blockPresences = 4; // 1.2.0
//!   int32 pendingBytes = 5;
//! }
//! ```
//!
//! [`Message::decode`] validates everything once (every CID and prefix parses, enum values are
//! known, blocks are at most [`MAX_BLOCK_LEN`]); the accessors then iterate over the borrowed
//! bytes. [`MessageWriter`] writes a message into a caller buffer, and can leave room for a
//! block that the caller copies in place (from a [`BlockStore`](crate::block::BlockStore)).
//!
//! # Q&A
//! *Several `wantlist` fields?* Protobuf merges repeated occurrences of a message field, so the
//! entries of every occurrence are read, and `full` is the last one given. [`MessageWriter`]
//! writes one, as every implementation does.
//!
//! *Why is a bad CID an error for the whole message?* boxo and helia also refuse the whole
//! message; a peer that sends one is broken or hostile.

use crate::block::MAX_BLOCK_LEN;
use crate::cid::{Cid, CidError, Version, codec};
use crate::multihash::{Multihash, MultihashError, code as mh_code};
use crate::wire::BufferTooSmall;
use crate::wire::proto::{self, ProtoError, Reader, Writer};
use crate::wire::varint;

const WANTLIST: u32 = 1;
const BLOCKS: u32 = 2;
const PAYLOAD: u32 = 3;
const BLOCK_PRESENCES: u32 = 4;
const PENDING_BYTES: u32 = 5;

const WANTLIST_ENTRIES: u32 = 1;
const WANTLIST_FULL: u32 = 2;

const ENTRY_BLOCK: u32 = 1;
const ENTRY_PRIORITY: u32 = 2;
const ENTRY_CANCEL: u32 = 3;
const ENTRY_WANT_TYPE: u32 = 4;
const ENTRY_SEND_DONT_HAVE: u32 = 5;

const PAYLOAD_PREFIX: u32 = 1;
const PAYLOAD_DATA: u32 = 2;

const PRESENCE_CID: u32 = 1;
const PRESENCE_TYPE: u32 = 2;

/// The default largest message: 4 MiB, boxo's and helia's limit.
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 4 * 1024 * 1024;

/// The longest encoded [`CidPrefix`]: four varints.
pub const MAX_PREFIX_LEN: usize = 4 * varint::MAX_LEN;

/// Why a Bitswap message could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageError {
    /// Malformed protobuf, a field with the wrong wire type, or an unknown enum value.
    Proto(ProtoError),
    /// A wantlist entry or block presence holds bytes that are not a CID.
    InvalidCid(CidError),
    /// A payload block's prefix is not a valid CID prefix.
    InvalidPrefix,
    /// A block longer than [`MAX_BLOCK_LEN`].
    BlockTooLarge(usize),
}

impl core::fmt::Display for MessageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MessageError::Proto(e) => write!(f, "bitswap message: {e}"),
            MessageError::InvalidCid(e) => write!(f, "bitswap message: invalid CID: {e}"),
            MessageError::InvalidPrefix => f.write_str("bitswap message: invalid CID prefix"),
            MessageError::BlockTooLarge(len) => {
                write!(
                    f,
                    "bitswap message: block of {len} bytes is over {MAX_BLOCK_LEN}"
                )
            }
        }
    }
}

impl core::error::Error for MessageError {}

impl From<ProtoError> for MessageError {
    fn from(e: ProtoError) -> Self {
        MessageError::Proto(e)
    }
}

/// What a wantlist entry asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WantType {
    /// 0: send the block.
    Block,
    /// 1: say whether you have it (1.2.0).
    Have,
}

/// What a block presence says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PresenceType {
    /// 0: the sender has the block.
    Have,
    /// 1: the sender does not have it.
    DontHave,
}

/// One wantlist entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WantlistEntry {
    /// The wanted block.
    pub cid: Cid,
    /// Higher is more urgent.
    pub priority: i32,
    /// Revokes an earlier want of this CID.
    pub cancel: bool,
    /// Block or presence.
    pub want_type: WantType,
    /// Answer DONT_HAVE when the block is not held.
    pub send_dont_have: bool,
}

impl WantlistEntry {
    /// A want for `cid` (priority 1, no cancel).
    pub fn want(cid: Cid, want_type: WantType, send_dont_have: bool) -> Self {
        WantlistEntry {
            cid,
            priority: 1,
            cancel: false,
            want_type,
            send_dont_have,
        }
    }

    /// A cancel of an earlier want of `cid`.
    pub fn cancel(cid: Cid) -> Self {
        WantlistEntry {
            cid,
            priority: 0,
            cancel: true,
            want_type: WantType::Block,
            send_dont_have: false,
        }
    }

    fn body_len(&self) -> usize {
        let mut len = proto::len_field_len(ENTRY_BLOCK, self.cid.encoded_len());
        if self.priority != 0 {
            len += proto::varint_field_len(ENTRY_PRIORITY, int32_wire(self.priority));
        }
        len += 2 * usize::from(self.cancel);
        len += 2 * usize::from(self.want_type == WantType::Have);
        len += 2 * usize::from(self.send_dont_have);
        len
    }

    /// Bytes this entry adds to a wantlist (its field header included).
    pub fn encoded_len(&self) -> usize {
        proto::len_field_len(WANTLIST_ENTRIES, self.body_len())
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), BufferTooSmall> {
        w.message(WANTLIST_ENTRIES, |w| {
            w.bytes(ENTRY_BLOCK, &self.cid.to_bytes())?;
            if self.priority != 0 {
                w.varint(ENTRY_PRIORITY, int32_wire(self.priority))?;
            }
            if self.cancel {
                w.bool(ENTRY_CANCEL, true)?;
            }
            if self.want_type == WantType::Have {
                w.varint(ENTRY_WANT_TYPE, 1)?;
            }
            if self.send_dont_have {
                w.bool(ENTRY_SEND_DONT_HAVE, true)?;
            }
            Ok(())
        })
        .map(drop)
    }

    fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        let mut cid = None;
        let (mut priority, mut cancel, mut want_type, mut send_dont_have) =
            (0, false, WantType::Block, false);
        for field in Reader::new(bytes) {
            let field = field?;
            match field.number {
                ENTRY_BLOCK => cid = Some(field.bytes()?),
                // int32: protobuf keeps the low 32 bits of the varint.
                ENTRY_PRIORITY => priority = field.varint()? as i32,
                ENTRY_CANCEL => cancel = field.bool()?,
                ENTRY_WANT_TYPE => {
                    want_type = match field.varint()? {
                        0 => WantType::Block,
                        1 => WantType::Have,
                        _ => {
                            return Err(ProtoError::InvalidValue {
                                field: ENTRY_WANT_TYPE,
                            }
                            .into());
                        }
                    }
                }
                ENTRY_SEND_DONT_HAVE => send_dont_have = field.bool()?,
                _ => {}
            }
        }
        let cid = cid.ok_or(ProtoError::MissingField { field: ENTRY_BLOCK })?;
        Ok(WantlistEntry {
            cid: Cid::from_bytes(cid)?,
            priority,
            cancel,
            want_type,
            send_dont_have,
        })
    }
}

impl From<CidError> for MessageError {
    fn from(e: CidError) -> Self {
        MessageError::InvalidCid(e)
    }
}

/// An int32 as protobuf writes it: negative values sign-extended to 64 bits.
fn int32_wire(value: i32) -> u64 {
    i64::from(value) as u64
}

/// A CID without its digest: what a 1.1.0 payload block carries so the receiver can rebuild
/// the CID by hashing the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CidPrefix {
    /// CID version.
    pub version: Version,
    /// Content codec.
    pub codec: u64,
    /// Multihash function code.
    pub hash_code: u64,
    /// Digest length in bytes.
    pub hash_len: usize,
}

impl CidPrefix {
    /// The prefix of `cid`.
    pub fn of(cid: &Cid) -> Self {
        CidPrefix {
            version: cid.version(),
            codec: cid.codec(),
            hash_code: cid.hash().code(),
            hash_len: cid.hash().digest().len(),
        }
    }

    /// Reads a prefix (exactly four varints).
    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        let bad = |_| MessageError::InvalidPrefix;
        let (version, rest) = varint::split(bytes).map_err(bad)?;
        let (codec, rest) = varint::split(rest).map_err(bad)?;
        let (hash_code, rest) = varint::split(rest).map_err(bad)?;
        let (hash_len, rest) = varint::split(rest).map_err(bad)?;
        if !rest.is_empty() {
            return Err(MessageError::InvalidPrefix);
        }
        let version = match version {
            0 if codec == codec::DAG_PB && hash_code == mh_code::SHA2_256 && hash_len == 32 => {
                Version::V0
            }
            1 => Version::V1,
            _ => return Err(MessageError::InvalidPrefix),
        };
        let hash_len = usize::try_from(hash_len).map_err(|_| MessageError::InvalidPrefix)?;
        if hash_len > crate::multihash::MAX_DIGEST_LEN {
            return Err(MessageError::InvalidPrefix);
        }
        Ok(CidPrefix {
            version,
            codec,
            hash_code,
            hash_len,
        })
    }

    /// Writes the prefix into `out`; returns the bytes written.
    pub fn write_to(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let mut at = 0;
        for value in [
            self.version.code(),
            self.codec,
            self.hash_code,
            self.hash_len as u64,
        ] {
            let v = varint::Varint::new(value).map_err(|_| BufferTooSmall {
                required: MAX_PREFIX_LEN,
            })?;
            at += crate::wire::put(&mut out[at..], v.as_bytes()).map_err(|e| BufferTooSmall {
                required: at + e.required,
            })?;
        }
        Ok(at)
    }

    /// The encoded prefix, inline.
    pub fn to_bytes(&self) -> heapless::Vec<u8, MAX_PREFIX_LEN> {
        let mut buf = [0u8; MAX_PREFIX_LEN];
        let len = self.write_to(&mut buf).unwrap_or(0);
        heapless::Vec::from_slice(&buf[..len]).expect("at most MAX_PREFIX_LEN bytes")
    }

    /// Rebuilds the CID of `data` by hashing it with the prefix's function. Only sha2-256 and
    /// identity can be computed; a digest length other than the function's is refused.
    pub fn cid_of(&self, data: &[u8]) -> Result<Cid, MultihashError> {
        let hash = Multihash::compute(self.hash_code, data)?;
        if hash.digest().len() != self.hash_len {
            return Err(MultihashError::WrongLength {
                code: self.hash_code,
                len: self.hash_len,
            });
        }
        let cid = match self.version {
            Version::V0 => Cid::new_v0(hash),
            Version::V1 => Cid::new_v1(self.codec, hash),
        };
        cid.map_err(|_| MultihashError::Unsupported(self.hash_code))
    }
}

/// A 1.1.0 block: a CID prefix and the data it names once hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadBlock<'a> {
    /// How to rebuild the CID.
    pub prefix: CidPrefix,
    /// The block's bytes, not yet verified.
    pub data: &'a [u8],
}

impl<'a> PayloadBlock<'a> {
    fn decode(bytes: &'a [u8]) -> Result<Self, MessageError> {
        let mut prefix = None;
        let mut data: &[u8] = &[];
        for field in Reader::new(bytes) {
            let field = field?;
            match field.number {
                PAYLOAD_PREFIX => prefix = Some(field.bytes()?),
                PAYLOAD_DATA => data = field.bytes()?,
                _ => {}
            }
        }
        let prefix = prefix.ok_or(ProtoError::MissingField {
            field: PAYLOAD_PREFIX,
        })?;
        if data.len() > MAX_BLOCK_LEN {
            return Err(MessageError::BlockTooLarge(data.len()));
        }
        Ok(PayloadBlock {
            prefix: CidPrefix::decode(prefix)?,
            data,
        })
    }
}

/// A 1.2.0 block presence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockPresence {
    /// The block it is about.
    pub cid: Cid,
    /// Have or don't have.
    pub presence: PresenceType,
}

impl BlockPresence {
    fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        let mut cid = None;
        let mut presence = PresenceType::Have;
        for field in Reader::new(bytes) {
            let field = field?;
            match field.number {
                PRESENCE_CID => cid = Some(field.bytes()?),
                PRESENCE_TYPE => {
                    presence = match field.varint()? {
                        0 => PresenceType::Have,
                        1 => PresenceType::DontHave,
                        _ => {
                            return Err(ProtoError::InvalidValue {
                                field: PRESENCE_TYPE,
                            }
                            .into());
                        }
                    }
                }
                _ => {}
            }
        }
        let cid = cid.ok_or(ProtoError::MissingField {
            field: PRESENCE_CID,
        })?;
        Ok(BlockPresence {
            cid: Cid::from_bytes(cid)?,
            presence,
        })
    }

    fn body_len(&self) -> usize {
        proto::len_field_len(PRESENCE_CID, self.cid.encoded_len())
            + 2 * usize::from(self.presence == PresenceType::DontHave)
    }

    /// Bytes this presence adds to a message.
    pub fn encoded_len(&self) -> usize {
        proto::len_field_len(BLOCK_PRESENCES, self.body_len())
    }
}

/// A validated Bitswap message, borrowing the bytes it was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    bytes: &'a [u8],
}

impl<'a> Message<'a> {
    /// Validates one message (without its length prefix). Unknown fields are skipped.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, MessageError> {
        for field in Reader::new(bytes) {
            let field = field?;
            match field.number {
                WANTLIST => {
                    for inner in Reader::new(field.bytes()?) {
                        let inner = inner?;
                        match inner.number {
                            WANTLIST_ENTRIES => {
                                WantlistEntry::decode(inner.bytes()?)?;
                            }
                            WANTLIST_FULL => {
                                inner.bool()?;
                            }
                            _ => {}
                        }
                    }
                }
                BLOCKS => {
                    let data = field.bytes()?;
                    if data.len() > MAX_BLOCK_LEN {
                        return Err(MessageError::BlockTooLarge(data.len()));
                    }
                }
                PAYLOAD => {
                    PayloadBlock::decode(field.bytes()?)?;
                }
                BLOCK_PRESENCES => {
                    BlockPresence::decode(field.bytes()?)?;
                }
                PENDING_BYTES => {
                    field.varint()?;
                }
                _ => {}
            }
        }
        Ok(Message { bytes })
    }

    /// The message's bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    fn wantlists(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        Reader::fields(self.bytes, WANTLIST).filter_map(|f| f.bytes().ok())
    }

    /// Whether the wantlist replaces the sender's earlier one (false when absent).
    pub fn full(&self) -> bool {
        self.wantlists()
            .filter_map(|w| Reader::last(w, WANTLIST_FULL))
            .last()
            .is_some_and(|f| f.bool() == Ok(true))
    }

    /// The wantlist entries, in order.
    pub fn wantlist(&self) -> impl Iterator<Item = WantlistEntry> + 'a {
        self.wantlists().flat_map(|w| {
            Reader::fields(w, WANTLIST_ENTRIES)
                .filter_map(|f| WantlistEntry::decode(f.bytes().ok()?).ok())
        })
    }

    /// The 1.0.0 blocks (raw bytes; their CID is the CIDv0 of their sha2-256).
    pub fn blocks(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        Reader::fields(self.bytes, BLOCKS).filter_map(|f| f.bytes().ok())
    }

    /// The 1.1.0 blocks, with their CID prefixes.
    pub fn payload(&self) -> impl Iterator<Item = PayloadBlock<'a>> + 'a {
        Reader::fields(self.bytes, PAYLOAD)
            .filter_map(|f| PayloadBlock::decode(f.bytes().ok()?).ok())
    }

    /// The 1.2.0 block presences.
    pub fn block_presences(&self) -> impl Iterator<Item = BlockPresence> + 'a {
        Reader::fields(self.bytes, BLOCK_PRESENCES)
            .filter_map(|f| BlockPresence::decode(f.bytes().ok()?).ok())
    }

    /// The bytes the sender says it still has queued for us (0 when absent).
    pub fn pending_bytes(&self) -> i32 {
        Reader::last(self.bytes, PENDING_BYTES)
            .and_then(|f| f.varint().ok())
            .map_or(0, |v| v as i32)
    }
}

/// Why a block could not be written in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InPlaceError<E> {
    /// The buffer has no room for the block.
    BufferTooSmall(BufferTooSmall),
    /// The caller's fill function failed.
    Fill(E),
}

/// Writes one message into a caller buffer, field by field. A field that does not fit leaves
/// the writer unchanged and reports the room it needed.
#[derive(Debug)]
pub struct MessageWriter<'a> {
    out: &'a mut [u8],
    len: usize,
}

impl<'a> MessageWriter<'a> {
    /// A writer that fills `out` from its start.
    pub fn new(out: &'a mut [u8]) -> Self {
        MessageWriter { out, len: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room left in the buffer.
    pub fn remaining(&self) -> usize {
        self.out.len() - self.len
    }

    /// Ends writing and returns the message.
    pub fn finish(self) -> &'a [u8] {
        let MessageWriter { out, len } = self;
        &out[..len]
    }

    fn field(
        &mut self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<(), BufferTooSmall>,
    ) -> Result<(), BufferTooSmall> {
        let at = self.len;
        let mut w = Writer::new(&mut self.out[at..]);
        f(&mut w).map_err(|e| BufferTooSmall {
            required: at + e.required,
        })?;
        self.len = at + w.len();
        Ok(())
    }

    /// Bytes [`wantlist`](Self::wantlist) takes for entries whose
    /// [`encoded_len`](WantlistEntry::encoded_len)s sum to `entries_len`.
    pub fn wantlist_len(entries_len: usize, full: bool) -> usize {
        proto::len_field_len(WANTLIST, entries_len + 2 * usize::from(full))
    }

    /// Writes the wantlist (call at most once per message).
    pub fn wantlist(
        &mut self,
        full: bool,
        entries: impl IntoIterator<Item = WantlistEntry>,
    ) -> Result<(), BufferTooSmall> {
        self.field(|w| {
            w.message(WANTLIST, |w| {
                for entry in entries {
                    entry.write(w)?;
                }
                if full {
                    w.bool(WANTLIST_FULL, true)?;
                }
                Ok(())
            })
            .map(drop)
        })
    }

    /// A 1.0.0 block (raw bytes).
    pub fn raw_block(&mut self, data: &[u8]) -> Result<(), BufferTooSmall> {
        self.field(|w| w.bytes(BLOCKS, data).map(drop))
    }

    /// Bytes [`payload_block`](Self::payload_block) takes.
    pub fn payload_block_len(prefix: &CidPrefix, data_len: usize) -> usize {
        proto::len_field_len(PAYLOAD, Self::payload_body_len(prefix, data_len))
    }

    fn payload_body_len(prefix: &CidPrefix, data_len: usize) -> usize {
        proto::len_field_len(PAYLOAD_PREFIX, prefix.to_bytes().len())
            + proto::len_field_len(PAYLOAD_DATA, data_len)
    }

    /// A 1.1.0 block with its CID prefix.
    pub fn payload_block(&mut self, prefix: &CidPrefix, data: &[u8]) -> Result<(), BufferTooSmall> {
        self.field(|w| {
            w.message(PAYLOAD, |w| {
                w.bytes(PAYLOAD_PREFIX, &prefix.to_bytes())?;
                w.bytes(PAYLOAD_DATA, data)?;
                Ok(())
            })
            .map(drop)
        })
    }

    /// A block of `data_len` bytes whose data `fill` copies in place (from a block store, say),
    /// as a 1.1.0 payload block (`prefix` given) or a 1.0.0 raw block (`prefix` `None`). Saves
    /// a copy of the block through an intermediate buffer.
    pub fn block_in_place<E>(
        &mut self,
        prefix: Option<&CidPrefix>,
        data_len: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<(), InPlaceError<E>> {
        let (head, total) = match prefix {
            Some(p) => {
                let body = Self::payload_body_len(p, data_len);
                let total = proto::len_field_len(PAYLOAD, body);
                (total - data_len, total)
            }
            None => {
                let total = proto::len_field_len(BLOCKS, data_len);
                (total - data_len, total)
            }
        };
        let at = self.len;
        let required = at + total;
        if required > self.out.len() {
            return Err(InPlaceError::BufferTooSmall(BufferTooSmall { required }));
        }
        let mut pos = at;
        match prefix {
            Some(p) => {
                let prefix = p.to_bytes();
                let body = Self::payload_body_len(p, data_len);
                put_len_header(self.out, &mut pos, PAYLOAD, body);
                put_len_header(self.out, &mut pos, PAYLOAD_PREFIX, prefix.len());
                self.out[pos..pos + prefix.len()].copy_from_slice(&prefix);
                pos += prefix.len();
                put_len_header(self.out, &mut pos, PAYLOAD_DATA, data_len);
            }
            None => put_len_header(self.out, &mut pos, BLOCKS, data_len),
        }
        debug_assert_eq!(pos, at + head);
        fill(&mut self.out[at + head..required]).map_err(InPlaceError::Fill)?;
        self.len = required;
        Ok(())
    }

    /// A 1.2.0 block presence.
    pub fn block_presence(&mut self, presence: &BlockPresence) -> Result<(), BufferTooSmall> {
        self.field(|w| {
            w.message(BLOCK_PRESENCES, |w| {
                w.bytes(PRESENCE_CID, &presence.cid.to_bytes())?;
                if presence.presence == PresenceType::DontHave {
                    w.varint(PRESENCE_TYPE, 1)?;
                }
                Ok(())
            })
            .map(drop)
        })
    }

    /// The pending-bytes hint.
    pub fn pending_bytes(&mut self, value: i32) -> Result<(), BufferTooSmall> {
        self.field(|w| w.varint(PENDING_BYTES, int32_wire(value)).map(drop))
    }
}

/// Writes a length-delimited field's key and length (not its bytes) at `*pos`. The caller has
/// checked the room: the header is part of a length computed with `len_field_len`.
fn put_len_header(out: &mut [u8], pos: &mut usize, field: u32, len: usize) {
    for value in [(u64::from(field) << 3) | 2, len as u64] {
        let v = varint::Varint::new(value).expect("field tags and block lengths are small");
        out[*pos..*pos + v.len()].copy_from_slice(v.as_bytes());
        *pos += v.len();
    }
}

#[cfg(test)]
mod tests;
