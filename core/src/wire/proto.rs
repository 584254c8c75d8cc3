//! Protobuf wire format: a zero-copy field reader and a writer into caller buffers.
//!
//! libp2p's messages (keys, envelopes, peer records, the Noise payload, identify, Kademlia,
//! Bitswap, gossipsub) are small protobuf messages. A message type in this crate is a *view*:
//! it validates the bytes once with [`Reader`] and then hands out borrowed fields; repeated
//! fields are iterators that re-scan the bytes, so decoding needs neither `alloc` nor a
//! capacity guess. Encoding writes straight into the caller's buffer with [`Writer`].
//!
//! # Q&A
//! *Why not prost or micropb?* prost needs `alloc` for every message. micropb works without
//! `alloc` but copies each field into fixed-capacity containers whose sizes must be chosen per
//! field at build time (a 64 KiB identify message would need its worst case reserved on the
//! stack), and it generates code from `.proto` files in a build script. The subset libp2p uses
//! (varint, fixed64, fixed32 and length-delimited fields) fits in this one file, and views over
//! the received bytes cost nothing extra.

use super::BufferTooSmall;

/// Protobuf wire types used by libp2p messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireType {
    /// 0: varint.
    Varint,
    /// 1: 64-bit little endian.
    Fixed64,
    /// 2: length-delimited.
    Len,
    /// 5: 32-bit little endian.
    Fixed32,
}

impl WireType {
    const fn bits(self) -> u64 {
        match self {
            WireType::Varint => 0,
            WireType::Fixed64 => 1,
            WireType::Len => 2,
            WireType::Fixed32 => 5,
        }
    }
}

/// Why protobuf bytes could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtoError {
    /// The input ends inside a field.
    Truncated,
    /// A varint longer than 10 bytes or above 64 bits.
    VarintOverflow,
    /// Field number 0 or above 2^29 - 1.
    InvalidFieldNumber,
    /// Wire types 3 and 4 (groups, unused by libp2p) and 6, 7 (undefined).
    UnsupportedWireType(u8),
    /// A known field arrived with a different wire type than its message defines.
    WrongWireType {
        /// The field's number.
        field: u32,
    },
    /// A string field holds invalid UTF-8.
    InvalidUtf8 {
        /// The field's number.
        field: u32,
    },
    /// A field's value is not allowed (an enum value out of range, a too-long key...).
    InvalidValue {
        /// The field's number.
        field: u32,
    },
    /// A required field is absent.
    MissingField {
        /// The field's number.
        field: u32,
    },
}

impl core::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProtoError::Truncated => f.write_str("protobuf: input ends inside a field"),
            ProtoError::VarintOverflow => f.write_str("protobuf: varint overflows 64 bits"),
            ProtoError::InvalidFieldNumber => f.write_str("protobuf: invalid field number"),
            ProtoError::UnsupportedWireType(t) => write!(f, "protobuf: unsupported wire type {t}"),
            ProtoError::WrongWireType { field } => {
                write!(f, "protobuf: field {field} has the wrong wire type")
            }
            ProtoError::InvalidUtf8 { field } => write!(f, "protobuf: field {field} is not UTF-8"),
            ProtoError::InvalidValue { field } => {
                write!(f, "protobuf: field {field} has an invalid value")
            }
            ProtoError::MissingField { field } => {
                write!(f, "protobuf: required field {field} is missing")
            }
        }
    }
}

impl core::error::Error for ProtoError {}

/// Reads a protobuf varint (up to 10 bytes, non-minimal encodings allowed as protobuf allows).
pub fn read_varint(input: &[u8]) -> Result<(u64, usize), ProtoError> {
    let mut value: u64 = 0;
    for (i, &byte) in input.iter().enumerate().take(10) {
        let group = u64::from(byte & 0x7f);
        if i == 9 && group > 1 {
            return Err(ProtoError::VarintOverflow);
        }
        value |= group << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    if input.len() >= 10 {
        Err(ProtoError::VarintOverflow)
    } else {
        Err(ProtoError::Truncated)
    }
}

/// Bytes a protobuf varint of `value` takes.
pub const fn varint_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Bytes a length-delimited field with number `field` and a payload of `len` bytes takes.
pub const fn len_field_len(field: u32, len: usize) -> usize {
    varint_len((field as u64) << 3) + varint_len(len as u64) + len
}

/// Bytes a varint field with number `field` and value `value` takes.
pub const fn varint_field_len(field: u32, value: u64) -> usize {
    varint_len((field as u64) << 3) + varint_len(value)
}

/// One field's value as it appears on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2: bytes, a string, a packed repeated field or a nested message.
    Len(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

/// One field: its number and value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    /// The field number (1 ..= 2^29 - 1).
    pub number: u32,
    /// The value.
    pub value: Value<'a>,
}

impl<'a> Field<'a> {
    /// The value of a varint field, or [`ProtoError::WrongWireType`].
    pub fn varint(&self) -> Result<u64, ProtoError> {
        match self.value {
            Value::Varint(v) => Ok(v),
            _ => Err(ProtoError::WrongWireType { field: self.number }),
        }
    }

    /// A varint field read as `u32`; larger values are [`ProtoError::InvalidValue`].
    pub fn uint32(&self) -> Result<u32, ProtoError> {
        u32::try_from(self.varint()?).map_err(|_| ProtoError::InvalidValue { field: self.number })
    }

    /// A varint field read as `bool` (any non-zero value is `true`, as protobuf decoders do).
    pub fn bool(&self) -> Result<bool, ProtoError> {
        Ok(self.varint()? != 0)
    }

    /// The bytes of a length-delimited field.
    pub fn bytes(&self) -> Result<&'a [u8], ProtoError> {
        match self.value {
            Value::Len(b) => Ok(b),
            _ => Err(ProtoError::WrongWireType { field: self.number }),
        }
    }

    /// A length-delimited field read as a UTF-8 string.
    pub fn str(&self) -> Result<&'a str, ProtoError> {
        core::str::from_utf8(self.bytes()?)
            .map_err(|_| ProtoError::InvalidUtf8 { field: self.number })
    }

    /// The value of a fixed64 field.
    pub fn fixed64(&self) -> Result<u64, ProtoError> {
        match self.value {
            Value::Fixed64(v) => Ok(v),
            _ => Err(ProtoError::WrongWireType { field: self.number }),
        }
    }

    /// The value of a fixed32 field.
    pub fn fixed32(&self) -> Result<u32, ProtoError> {
        match self.value {
            Value::Fixed32(v) => Ok(v),
            _ => Err(ProtoError::WrongWireType { field: self.number }),
        }
    }
}

/// Iterates over the fields of one message, in wire order, borrowing from the input.
///
/// The first malformed field yields an error and ends the iteration.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over the bytes of one message.
    pub const fn new(input: &'a [u8]) -> Self {
        Reader { input }
    }

    /// Checks that the whole message is well-formed protobuf (every field can be read).
    pub fn validate(input: &'a [u8]) -> Result<(), ProtoError> {
        Reader::new(input).try_for_each(|f| f.map(drop))
    }

    /// The fields numbered `number`, in order (a repeated field, or the last-wins candidates of
    /// a singular one).
    pub fn fields(input: &'a [u8], number: u32) -> impl Iterator<Item = Field<'a>> + Clone + 'a {
        Reader::new(input)
            .map_while(Result::ok)
            .filter(move |f| f.number == number)
    }

    /// The last field numbered `number`, as protobuf's "last one wins" rule picks it.
    pub fn last(input: &'a [u8], number: u32) -> Option<Field<'a>> {
        Self::fields(input, number).last()
    }

    fn read_field(&mut self) -> Result<Field<'a>, ProtoError> {
        let (key, n) = read_varint(self.input)?;
        let rest = &self.input[n..];
        let number = u32::try_from(key >> 3).map_err(|_| ProtoError::InvalidFieldNumber)?;
        if number == 0 || number > (1 << 29) - 1 {
            return Err(ProtoError::InvalidFieldNumber);
        }
        let (value, rest) = match (key & 7) as u8 {
            0 => {
                let (v, n) = read_varint(rest)?;
                (Value::Varint(v), &rest[n..])
            }
            1 => {
                let (b, rest) = rest.split_first_chunk::<8>().ok_or(ProtoError::Truncated)?;
                (Value::Fixed64(u64::from_le_bytes(*b)), rest)
            }
            2 => {
                let (len, n) = read_varint(rest)?;
                let rest = &rest[n..];
                let len = usize::try_from(len).map_err(|_| ProtoError::Truncated)?;
                if len > rest.len() {
                    return Err(ProtoError::Truncated);
                }
                let (b, rest) = rest.split_at(len);
                (Value::Len(b), rest)
            }
            5 => {
                let (b, rest) = rest.split_first_chunk::<4>().ok_or(ProtoError::Truncated)?;
                (Value::Fixed32(u32::from_le_bytes(*b)), rest)
            }
            t => return Err(ProtoError::UnsupportedWireType(t)),
        };
        self.input = rest;
        Ok(Field { number, value })
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Field<'a>, ProtoError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.input.is_empty() {
            return None;
        }
        let field = self.read_field();
        if field.is_err() {
            self.input = &[];
        }
        Some(field)
    }
}

/// Writes protobuf fields into a caller buffer.
///
/// Every method fails with [`BufferTooSmall`] (and leaves the written length unchanged) when the
/// field does not fit; `required` then counts from the start of the buffer.
#[derive(Debug)]
pub struct Writer<'a> {
    out: &'a mut [u8],
    len: usize,
}

impl<'a> Writer<'a> {
    /// A writer that fills `out` from its start.
    pub fn new(out: &'a mut [u8]) -> Self {
        Writer { out, len: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        &self.out[..self.len]
    }

    /// Ends writing and returns the written bytes.
    pub fn finish(self) -> &'a [u8] {
        let Writer { out, len } = self;
        &out[..len]
    }

    fn raw_varint(&mut self, mut value: u64) -> Result<(), BufferTooSmall> {
        let need = self.len + varint_len(value);
        if need > self.out.len() {
            return Err(BufferTooSmall { required: need });
        }
        while value >= 0x80 {
            self.out[self.len] = (value as u8) | 0x80;
            self.len += 1;
            value >>= 7;
        }
        self.out[self.len] = value as u8;
        self.len += 1;
        Ok(())
    }

    fn raw(&mut self, bytes: &[u8]) -> Result<(), BufferTooSmall> {
        let need = self.len + bytes.len();
        let dst = self
            .out
            .get_mut(self.len..need)
            .ok_or(BufferTooSmall { required: need })?;
        dst.copy_from_slice(bytes);
        self.len = need;
        Ok(())
    }

    fn key(&mut self, field: u32, wire: WireType) -> Result<(), BufferTooSmall> {
        self.raw_varint((u64::from(field) << 3) | wire.bits())
    }

    fn atomic(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<(), BufferTooSmall>,
    ) -> Result<&mut Self, BufferTooSmall> {
        let start = self.len;
        match f(self) {
            Ok(()) => Ok(self),
            Err(e) => {
                self.len = start;
                Err(e)
            }
        }
    }

    /// A varint field (uint32, uint64, enum, bool).
    pub fn varint(&mut self, field: u32, value: u64) -> Result<&mut Self, BufferTooSmall> {
        self.atomic(|w| {
            w.key(field, WireType::Varint)?;
            w.raw_varint(value)
        })
    }

    /// A bool field.
    pub fn bool(&mut self, field: u32, value: bool) -> Result<&mut Self, BufferTooSmall> {
        self.varint(field, u64::from(value))
    }

    /// A bytes field.
    pub fn bytes(&mut self, field: u32, value: &[u8]) -> Result<&mut Self, BufferTooSmall> {
        self.atomic(|w| {
            w.key(field, WireType::Len)?;
            w.raw_varint(value.len() as u64)?;
            w.raw(value)
        })
    }

    /// A string field.
    pub fn str(&mut self, field: u32, value: &str) -> Result<&mut Self, BufferTooSmall> {
        self.bytes(field, value.as_bytes())
    }

    /// A fixed64 field.
    pub fn fixed64(&mut self, field: u32, value: u64) -> Result<&mut Self, BufferTooSmall> {
        self.atomic(|w| {
            w.key(field, WireType::Fixed64)?;
            w.raw(&value.to_le_bytes())
        })
    }

    /// A fixed32 field.
    pub fn fixed32(&mut self, field: u32, value: u32) -> Result<&mut Self, BufferTooSmall> {
        self.atomic(|w| {
            w.key(field, WireType::Fixed32)?;
            w.raw(&value.to_le_bytes())
        })
    }

    /// A nested message field whose contents `body` writes.
    ///
    /// The body is written in place and then moved up by the size of its length prefix, so no
    /// size pass is needed; the buffer must have room for the prefix as well.
    pub fn message(
        &mut self,
        field: u32,
        body: impl FnOnce(&mut Writer<'_>) -> Result<(), BufferTooSmall>,
    ) -> Result<&mut Self, BufferTooSmall> {
        self.atomic(|w| {
            w.key(field, WireType::Len)?;
            let start = w.len;
            let mut inner = Writer::new(&mut w.out[start..]);
            body(&mut inner).map_err(|e| BufferTooSmall {
                required: start + e.required,
            })?;
            let body_len = inner.len;
            let prefix = varint_len(body_len as u64);
            let need = start + prefix + body_len;
            if need > w.out.len() {
                return Err(BufferTooSmall { required: need });
            }
            w.out.copy_within(start..start + body_len, start + prefix);
            w.raw_varint(body_len as u64)?;
            w.len = need;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_what_it_writes() {
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf);
        w.varint(1, 150)
            .unwrap()
            .str(2, "testing")
            .unwrap()
            .fixed64(3, 7)
            .unwrap();
        w.message(4, |w| w.bool(1, true).map(drop)).unwrap();
        w.fixed32(5, 0xdead_beef).unwrap();
        let bytes = w.finish();
        // The protobuf encoding guide's examples: field 1 = 150 is 08 96 01,
        // field 2 = "testing" is 12 07 74 65 73 74 69 6e 67.
        assert_eq!(&bytes[..3], &[0x08, 0x96, 0x01]);
        assert_eq!(&bytes[3..12], b"\x12\x07testing");
        let fields: Vec<_> = Reader::new(bytes).collect::<Result<_, _>>().unwrap();
        assert_eq!(fields.len(), 5);
        assert_eq!(fields[0].varint(), Ok(150));
        assert_eq!(fields[1].str(), Ok("testing"));
        assert_eq!(fields[2].fixed64(), Ok(7));
        assert_eq!(fields[3].bytes(), Ok(&[0x08, 0x01][..]));
        assert_eq!(fields[4].fixed32(), Ok(0xdead_beef));
        assert_eq!(
            fields[1].varint(),
            Err(ProtoError::WrongWireType { field: 2 })
        );
        assert_eq!(Reader::last(bytes, 2).unwrap().str(), Ok("testing"));
        assert!(Reader::validate(bytes).is_ok());
    }

    #[test]
    fn nested_message_with_long_body_moves_up() {
        let mut buf = [0u8; 400];
        let mut w = Writer::new(&mut buf);
        w.message(7, |w| w.bytes(1, &[9u8; 200]).map(drop)).unwrap();
        let bytes = w.finish();
        assert_eq!(bytes.len(), len_field_len(7, len_field_len(1, 200)));
        let outer = Reader::last(bytes, 7).unwrap().bytes().unwrap();
        assert_eq!(
            Reader::last(outer, 1).unwrap().bytes().unwrap(),
            &[9u8; 200][..]
        );
    }

    #[test]
    fn buffer_too_small_leaves_writer_unchanged() {
        let mut buf = [0u8; 8];
        let mut w = Writer::new(&mut buf);
        w.varint(1, 1).unwrap();
        assert_eq!(
            w.bytes(2, &[0u8; 10]).err(),
            Some(BufferTooSmall { required: 14 })
        );
        assert_eq!(w.len(), 2);
        assert!(w.message(3, |w| w.bytes(1, &[0u8; 10]).map(drop)).is_err());
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn malformed_inputs() {
        assert_eq!(
            Reader::new(&[0x08]).next(),
            Some(Err(ProtoError::Truncated))
        );
        assert_eq!(
            Reader::new(&[0x12, 0x05, 1]).next(),
            Some(Err(ProtoError::Truncated))
        );
        assert_eq!(
            Reader::new(&[0x0b]).next(),
            Some(Err(ProtoError::UnsupportedWireType(3)))
        );
        assert_eq!(
            Reader::new(&[0x00, 0x00]).next(),
            Some(Err(ProtoError::InvalidFieldNumber))
        );
        assert_eq!(read_varint(&[0xff; 10]), Err(ProtoError::VarintOverflow));
        assert_eq!(
            read_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Ok((u64::MAX, 10))
        );
        // Non-minimal varints are legal protobuf.
        assert_eq!(read_varint(&[0x80, 0x00]), Ok((0, 2)));
        let mut r = Reader::new(&[0x0b, 0x08, 0x01]);
        assert!(r.next().unwrap().is_err());
        assert_eq!(r.next(), None);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut total = 0;
            for field in Reader::new(&bytes) {
                match field {
                    Ok(_) => total += 1,
                    Err(_) => break,
                }
            }
            prop_assert!(total <= bytes.len());
        }

        #[test]
        fn varint_round_trip(value: u64) {
            let mut buf = [0u8; 16];
            let mut w = Writer::new(&mut buf);
            w.varint(3, value).unwrap();
            let len = w.len();
            prop_assert_eq!(len, varint_field_len(3, value));
            let f = Reader::new(&buf[..len]).next().unwrap().unwrap();
            prop_assert_eq!(f, Field { number: 3, value: Value::Varint(value) });
        }
    }
}
