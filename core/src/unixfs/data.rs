//! The UnixFS `Data` message carried in a dag-pb node's Data field
//! (<https://specs.ipfs.tech/unixfs/>):
//!
//! ```text
//! message Data {
//!   enum DataType { Raw = 0; Directory = 1; File = 2; Metadata = 3; Symlink = 4; HAMTShard = 5; }
//!   required DataType Type = 1;   optional bytes Data = 2;   optional uint64 filesize = 3;
//!   repeated uint64 blocksizes = 4;   optional uint64 hashType = 5;   optional uint64 fanout = 6;
//!   optional uint32 mode = 7;   optional UnixTime mtime = 8;
//! }
//! message UnixTime { required int64 Seconds = 1; optional fixed32 FractionalNanoseconds = 2; }
//! ```
//!
//! [`UnixFsData::parse`] is a view (blocksizes re-scan the bytes); [`DataFields::write_to`]
//! encodes in field-number order with unpacked blocksizes, as `ipfs-unixfs` and kubo do.
//! Decoding follows protobuf: the last of a repeated singular field wins, unknown fields are
//! skipped, and blocksizes are read packed or unpacked.

use crate::wire::BufferTooSmall;
use crate::wire::proto::{
    Field, ProtoError, Reader, Value, Writer, len_field_len, read_varint, varint_field_len,
};

mod field {
    pub const TYPE: u32 = 1;
    pub const DATA: u32 = 2;
    pub const FILESIZE: u32 = 3;
    pub const BLOCKSIZES: u32 = 4;
    pub const HASH_TYPE: u32 = 5;
    pub const FANOUT: u32 = 6;
    pub const MODE: u32 = 7;
    pub const MTIME: u32 = 8;
    pub const SECONDS: u32 = 1;
    pub const NANOS: u32 = 2;
}

/// What a UnixFS node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    /// 0: raw file bytes (old dag-pb leaves).
    Raw,
    /// 1: a directory whose links are its entries.
    Directory,
    /// 2: a file (or a part of one): its data, then its children's.
    File,
    /// 3: metadata (unused).
    Metadata,
    /// 4: a symbolic link; Data holds the target.
    Symlink,
    /// 5: a HAMT-sharded directory node.
    HamtShard,
}

impl DataType {
    /// The protobuf enum value.
    pub const fn code(self) -> u64 {
        match self {
            DataType::Raw => 0,
            DataType::Directory => 1,
            DataType::File => 2,
            DataType::Metadata => 3,
            DataType::Symlink => 4,
            DataType::HamtShard => 5,
        }
    }

    /// The type of a protobuf enum value, if defined.
    pub const fn from_code(code: u64) -> Option<Self> {
        Some(match code {
            0 => DataType::Raw,
            1 => DataType::Directory,
            2 => DataType::File,
            3 => DataType::Metadata,
            4 => DataType::Symlink,
            5 => DataType::HamtShard,
            _ => return None,
        })
    }
}

/// A modification time: seconds from the Unix epoch and optional nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UnixTime {
    /// Seconds (negative before 1970).
    pub seconds: i64,
    /// Fractional nanoseconds, if present.
    pub nanos: Option<u32>,
}

impl UnixTime {
    fn body_len(&self) -> usize {
        varint_field_len(field::SECONDS, self.seconds as u64) + self.nanos.map_or(0, |_| 1 + 4)
    }
}

/// Why bytes are not a UnixFS `Data` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnixFsError {
    /// Not well-formed protobuf, a field with the wrong wire type, or a required field
    /// (`Type`, `mtime.Seconds`) missing.
    Proto(ProtoError),
    /// A `Type` value outside 0..=5.
    UnknownType(u64),
}

impl core::fmt::Display for UnixFsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            UnixFsError::Proto(e) => write!(f, "unixfs: {e}"),
            UnixFsError::UnknownType(t) => write!(f, "unixfs: unknown node type {t}"),
        }
    }
}

impl core::error::Error for UnixFsError {}

impl From<ProtoError> for UnixFsError {
    fn from(e: ProtoError) -> Self {
        UnixFsError::Proto(e)
    }
}

/// A validated UnixFS `Data` message, borrowing its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnixFsData<'a> {
    bytes: &'a [u8],
    kind: DataType,
    data: Option<&'a [u8]>,
    filesize: Option<u64>,
    hash_type: Option<u64>,
    fanout: Option<u64>,
    mode: Option<u32>,
    mtime: Option<UnixTime>,
    blocksize_count: usize,
}

fn parse_mtime(bytes: &[u8]) -> Result<UnixTime, ProtoError> {
    let mut seconds = None;
    let mut nanos = None;
    for f in Reader::new(bytes) {
        let f = f?;
        match f.number {
            field::SECONDS => seconds = Some(f.varint()? as i64),
            field::NANOS => nanos = Some(f.fixed32()?),
            _ => {}
        }
    }
    Ok(UnixTime {
        seconds: seconds.ok_or(ProtoError::MissingField {
            field: field::SECONDS,
        })?,
        nanos,
    })
}

/// Counts the varints of a packed repeated field.
fn packed_count(mut bytes: &[u8]) -> Result<usize, ProtoError> {
    let mut n = 0;
    while !bytes.is_empty() {
        let (_, used) = read_varint(bytes)?;
        bytes = &bytes[used..];
        n += 1;
    }
    Ok(n)
}

impl<'a> UnixFsData<'a> {
    /// Validates a `Data` message.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, UnixFsError> {
        let mut kind = None;
        let mut out = UnixFsData {
            bytes,
            kind: DataType::Raw,
            data: None,
            filesize: None,
            hash_type: None,
            fanout: None,
            mode: None,
            mtime: None,
            blocksize_count: 0,
        };
        for f in Reader::new(bytes) {
            let f: Field<'a> = f?;
            match f.number {
                field::TYPE => kind = Some(f.varint()?),
                field::DATA => out.data = Some(f.bytes()?),
                field::FILESIZE => out.filesize = Some(f.varint()?),
                field::BLOCKSIZES => match f.value {
                    Value::Varint(_) => out.blocksize_count += 1,
                    Value::Len(packed) => out.blocksize_count += packed_count(packed)?,
                    _ => return Err(ProtoError::WrongWireType { field: f.number }.into()),
                },
                field::HASH_TYPE => out.hash_type = Some(f.varint()?),
                field::FANOUT => out.fanout = Some(f.varint()?),
                field::MODE => out.mode = Some(f.uint32()?),
                field::MTIME => out.mtime = Some(parse_mtime(f.bytes()?)?),
                _ => {}
            }
        }
        let code = kind.ok_or(ProtoError::MissingField { field: field::TYPE })?;
        out.kind = DataType::from_code(code).ok_or(UnixFsError::UnknownType(code))?;
        Ok(out)
    }

    /// The node's type.
    pub fn kind(&self) -> DataType {
        self.kind
    }

    /// The Data field: file bytes, a symlink target, or a HAMT node's bitfield.
    pub fn data(&self) -> Option<&'a [u8]> {
        self.data
    }

    /// The total size of the file bytes under this node, if stated.
    pub fn filesize(&self) -> Option<u64> {
        self.filesize
    }

    /// The file bytes under each link, in link order.
    pub fn blocksizes(&self) -> Blocksizes<'a> {
        Blocksizes {
            fields: Reader::new(self.bytes),
            packed: &[],
        }
    }

    /// How many blocksizes there are.
    pub fn blocksize_count(&self) -> usize {
        self.blocksize_count
    }

    /// The HAMT's hash function (multihash code; 0x22 is murmur3-x64-64).
    pub fn hash_type(&self) -> Option<u64> {
        self.hash_type
    }

    /// The HAMT's fan-out (a power of two, 256 by default).
    pub fn fanout(&self) -> Option<u64> {
        self.fanout
    }

    /// The Unix permission bits, if stated.
    pub fn mode(&self) -> Option<u32> {
        self.mode
    }

    /// The modification time, if stated.
    pub fn mtime(&self) -> Option<UnixTime> {
        self.mtime
    }

    /// The whole message.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The fields, for writing again (`blocksizes` collected by the caller).
    pub fn fields<'b>(&self, blocksizes: &'b [u64]) -> DataFields<'b>
    where
        'a: 'b,
    {
        DataFields {
            kind: self.kind,
            data: self.data,
            filesize: self.filesize,
            blocksizes,
            hash_type: self.hash_type,
            fanout: self.fanout,
            mode: self.mode,
            mtime: self.mtime,
        }
    }
}

/// The blocksizes of a [`UnixFsData`], packed or not.
#[derive(Clone, Debug)]
pub struct Blocksizes<'a> {
    fields: Reader<'a>,
    packed: &'a [u8],
}

impl Iterator for Blocksizes<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        loop {
            if !self.packed.is_empty() {
                // Validated by `parse`: a malformed varint cannot occur, and would end here.
                let (v, used) = read_varint(self.packed).ok()?;
                self.packed = &self.packed[used..];
                return Some(v);
            }
            let f = self.fields.next()?.ok()?;
            if f.number == field::BLOCKSIZES {
                match f.value {
                    Value::Varint(v) => return Some(v),
                    Value::Len(b) => self.packed = b,
                    _ => return None,
                }
            }
        }
    }
}

/// A UnixFS `Data` message to write; absent optional fields are not written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataFields<'a> {
    /// Type.
    pub kind: DataType,
    /// Data (not written when absent).
    pub data: Option<&'a [u8]>,
    /// filesize.
    pub filesize: Option<u64>,
    /// blocksizes, written unpacked.
    pub blocksizes: &'a [u64],
    /// hashType.
    pub hash_type: Option<u64>,
    /// fanout.
    pub fanout: Option<u64>,
    /// mode.
    pub mode: Option<u32>,
    /// mtime.
    pub mtime: Option<UnixTime>,
}

impl<'a> DataFields<'a> {
    /// A node of `kind` with no other fields.
    pub const fn new(kind: DataType) -> Self {
        DataFields {
            kind,
            data: None,
            filesize: None,
            blocksizes: &[],
            hash_type: None,
            fanout: None,
            mode: None,
            mtime: None,
        }
    }

    /// Bytes the message takes.
    pub fn encoded_len(&self) -> usize {
        let mut len = varint_field_len(field::TYPE, self.kind.code());
        len += self.data.map_or(0, |d| len_field_len(field::DATA, d.len()));
        len += self
            .filesize
            .map_or(0, |v| varint_field_len(field::FILESIZE, v));
        len += self
            .blocksizes
            .iter()
            .map(|&v| varint_field_len(field::BLOCKSIZES, v))
            .sum::<usize>();
        len += self
            .hash_type
            .map_or(0, |v| varint_field_len(field::HASH_TYPE, v));
        len += self
            .fanout
            .map_or(0, |v| varint_field_len(field::FANOUT, v));
        len += self
            .mode
            .map_or(0, |v| varint_field_len(field::MODE, u64::from(v)));
        len += self
            .mtime
            .map_or(0, |t| len_field_len(field::MTIME, t.body_len()));
        len
    }

    /// Writes the message into `out`; returns the bytes written.
    pub fn write_to<'o>(&self, out: &'o mut [u8]) -> Result<&'o [u8], BufferTooSmall> {
        let mut w = Writer::new(out);
        w.varint(field::TYPE, self.kind.code())?;
        if let Some(d) = self.data {
            w.bytes(field::DATA, d)?;
        }
        if let Some(v) = self.filesize {
            w.varint(field::FILESIZE, v)?;
        }
        for &v in self.blocksizes {
            w.varint(field::BLOCKSIZES, v)?;
        }
        if let Some(v) = self.hash_type {
            w.varint(field::HASH_TYPE, v)?;
        }
        if let Some(v) = self.fanout {
            w.varint(field::FANOUT, v)?;
        }
        if let Some(v) = self.mode {
            w.varint(field::MODE, u64::from(v))?;
        }
        if let Some(t) = self.mtime {
            w.message(field::MTIME, |w| {
                w.varint(field::SECONDS, t.seconds as u64)?;
                if let Some(n) = t.nanos {
                    w.fixed32(field::NANOS, n)?;
                }
                Ok(())
            })?;
        }
        Ok(w.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn write(fields: &DataFields<'_>) -> Vec<u8> {
        let mut out = vec![0u8; fields.encoded_len()];
        let n = fields.write_to(&mut out).unwrap().len();
        assert_eq!(n, out.len());
        out
    }

    #[test]
    fn known_encodings() {
        // The empty directory and the empty file, as every IPFS implementation writes them.
        assert_eq!(write(&DataFields::new(DataType::Directory)), [0x08, 0x01]);
        let empty_file = DataFields {
            filesize: Some(0),
            ..DataFields::new(DataType::File)
        };
        assert_eq!(write(&empty_file), [0x08, 0x02, 0x18, 0x00]);
    }

    #[test]
    fn packed_and_unpacked_blocksizes_read_alike() {
        let unpacked = [0x08, 0x02, 0x20, 0x05, 0x20, 0x80, 0x01];
        let packed = [0x08, 0x02, 0x22, 0x03, 0x05, 0x80, 0x01];
        for bytes in [&unpacked[..], &packed[..]] {
            let d = UnixFsData::parse(bytes).unwrap();
            assert_eq!(d.blocksizes().collect::<Vec<_>>(), [5, 128]);
            assert_eq!(d.blocksize_count(), 2);
        }
    }

    #[test]
    fn type_is_required_and_known() {
        assert_eq!(
            UnixFsData::parse(&[0x18, 0x00]),
            Err(UnixFsError::Proto(ProtoError::MissingField { field: 1 }))
        );
        assert_eq!(
            UnixFsData::parse(&[0x08, 0x06]),
            Err(UnixFsError::UnknownType(6))
        );
    }

    type ArbFields = (
        u64,
        Option<Vec<u8>>,
        Option<u64>,
        Vec<u64>,
        (Option<u64>, Option<u64>, Option<u32>),
        Option<(i64, Option<u32>)>,
    );

    fn arb_fields() -> impl Strategy<Value = ArbFields> {
        (
            0u64..6,
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..32)),
            proptest::option::of(any::<u64>()),
            proptest::collection::vec(any::<u64>(), 0..6),
            (
                proptest::option::of(any::<u64>()),
                proptest::option::of(any::<u64>()),
                proptest::option::of(any::<u32>()),
            ),
            proptest::option::of((any::<i64>(), proptest::option::of(any::<u32>()))),
        )
    }

    proptest! {
        #[test]
        fn fields_round_trip(f in arb_fields()) {
            let (kind, data, filesize, blocksizes, (hash_type, fanout, mode), mtime) = f;
            let fields = DataFields {
                kind: DataType::from_code(kind).unwrap(),
                data: data.as_deref(),
                filesize,
                blocksizes: &blocksizes,
                hash_type,
                fanout,
                mode,
                mtime: mtime.map(|(seconds, nanos)| UnixTime { seconds, nanos }),
            };
            let bytes = write(&fields);
            let parsed = UnixFsData::parse(&bytes).unwrap();
            let sizes: Vec<u64> = parsed.blocksizes().collect();
            prop_assert_eq!(parsed.fields(&sizes), fields);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(d) = UnixFsData::parse(&bytes) {
                let sizes: Vec<u64> = d.blocksizes().collect();
                prop_assert_eq!(sizes.len(), d.blocksize_count());
                let again = write(&d.fields(&sizes));
                let d2 = UnixFsData::parse(&again).unwrap();
                let sizes2: Vec<u64> = d2.blocksizes().collect();
                prop_assert_eq!(d2.fields(&sizes2), d.fields(&sizes));
            }
        }
    }
}
