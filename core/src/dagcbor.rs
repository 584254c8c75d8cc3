//! dag-cbor (<https://ipld.io/specs/codecs/dag-cbor/spec/>): CBOR for structured IPLD records,
//! with links as tag 42.
//!
//! Records are written and read with [`minicbor`] (re-exported): [`Link`] is a CID that
//! encodes as dag-cbor's tag 42 over the bytes `0x00 || binary CID`, and can sit in any
//! `minicbor::Encode`/`Decode` record. [`validate`] checks that a block is strict dag-cbor and
//! hands out every link in it, so a DAG walker (pinning, fetching) can follow dag-cbor blocks
//! without decoding them into a data model.
//!
//! # Strictness
//! [`validate`] refuses what the spec says a strict decoder refuses: integers and lengths not in
//! their shortest form, indefinite lengths, map keys that are not strings or not in dag-cbor's
//! order (shorter first, then bytewise) or repeated, tags other than 42, a tag 42 that is not a
//! CID, simple values other than `false`, `true` and `null`, floats other than finite 64-bit
//! ones, invalid UTF-8, more than one top-level item, and nesting deeper than [`MAX_DEPTH`].
//!
//! # Q&A
//! *Why hand-written checks rather than minicbor's decoder for [`validate`]?* minicbor accepts
//! non-shortest integers and lengths (as CBOR allows); dag-cbor's canonical form does not, and
//! the check needs the raw header bytes.

pub use minicbor;

use crate::cid::Cid;
use minicbor::data::Tag;
use minicbor::decode::{Decode, Decoder};
use minicbor::encode::{Encode, Encoder, Write};

/// The CBOR tag of an IPLD link.
pub const CID_TAG: u64 = 42;
/// The deepest nesting of arrays, maps and tags [`validate`] follows.
pub const MAX_DEPTH: usize = 64;

/// Why bytes are not strict dag-cbor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DagCborError {
    /// The input ends inside an item.
    Truncated,
    /// Bytes follow the top-level item.
    TrailingBytes,
    /// An integer, length or tag not in its shortest form.
    NotShortest,
    /// An indefinite-length string, array or map.
    Indefinite,
    /// A tag other than 42.
    UnsupportedTag(u64),
    /// A tag 42 whose content is not `0x00` and a binary CID.
    InvalidCid,
    /// A map key that is not a text string.
    NonStringKey,
    /// Map keys out of dag-cbor order, or repeated.
    KeyOrder,
    /// A text string that is not UTF-8.
    InvalidUtf8,
    /// A simple value other than false, true and null, or a 16/32-bit float.
    UnsupportedSimple(u8),
    /// A NaN or infinite float.
    NotFinite,
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A header with reserved additional information (28 to 30).
    Reserved,
}

impl core::fmt::Display for DagCborError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DagCborError::Truncated => f.write_str("dag-cbor: input ends inside an item"),
            DagCborError::TrailingBytes => f.write_str("dag-cbor: bytes after the item"),
            DagCborError::NotShortest => f.write_str("dag-cbor: a number not in shortest form"),
            DagCborError::Indefinite => f.write_str("dag-cbor: indefinite length"),
            DagCborError::UnsupportedTag(t) => write!(f, "dag-cbor: tag {t} is not allowed"),
            DagCborError::InvalidCid => f.write_str("dag-cbor: tag 42 does not hold a CID"),
            DagCborError::NonStringKey => f.write_str("dag-cbor: a map key is not a string"),
            DagCborError::KeyOrder => f.write_str("dag-cbor: map keys out of order or repeated"),
            DagCborError::InvalidUtf8 => f.write_str("dag-cbor: a string is not UTF-8"),
            DagCborError::UnsupportedSimple(v) => {
                write!(f, "dag-cbor: simple value or float kind {v} is not allowed")
            }
            DagCborError::NotFinite => f.write_str("dag-cbor: a float is NaN or infinite"),
            DagCborError::TooDeep => f.write_str("dag-cbor: nested too deeply"),
            DagCborError::Reserved => f.write_str("dag-cbor: reserved header value"),
        }
    }
}

impl core::error::Error for DagCborError {}

/// An IPLD link in a dag-cbor record: tag 42 over `0x00 || binary CID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Link(pub Cid);

impl<C> Encode<C> for Link {
    fn encode<W: Write>(
        &self,
        e: &mut Encoder<W>,
        _: &mut C,
    ) -> Result<(), minicbor::encode::Error<W::Error>> {
        let mut buf = [0u8; 1 + crate::cid::MAX_ENCODED_LEN];
        let n = self
            .0
            .write_to(&mut buf[1..])
            .expect("MAX_ENCODED_LEN holds any CID");
        e.tag(Tag::new(CID_TAG))?.bytes(&buf[..1 + n])?;
        Ok(())
    }
}

impl<'b, C> Decode<'b, C> for Link {
    fn decode(d: &mut Decoder<'b>, _: &mut C) -> Result<Self, minicbor::decode::Error> {
        let at = d.position();
        let tag = d.tag()?;
        if tag.as_u64() != CID_TAG {
            return Err(minicbor::decode::Error::message("expected tag 42 (a CID)").at(at));
        }
        let bytes = d.bytes()?;
        cid_of_tag_content(bytes)
            .map(Link)
            .map_err(|_| minicbor::decode::Error::message("tag 42 does not hold a CID").at(at))
    }
}

fn cid_of_tag_content(bytes: &[u8]) -> Result<Cid, DagCborError> {
    match bytes.split_first() {
        Some((0, cid)) => Cid::from_bytes(cid).map_err(|_| DagCborError::InvalidCid),
        _ => Err(DagCborError::InvalidCid),
    }
}

/// Checks that `bytes` is one strict dag-cbor item; calls `on_link` with every link in it, in
/// order.
pub fn validate(bytes: &[u8], on_link: &mut impl FnMut(Cid)) -> Result<(), DagCborError> {
    let mut reader = ItemReader {
        input: bytes,
        pos: 0,
    };
    reader.item(0, on_link)?;
    if reader.pos != bytes.len() {
        return Err(DagCborError::TrailingBytes);
    }
    Ok(())
}

struct ItemReader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> ItemReader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DagCborError> {
        let end = self.pos.checked_add(n).ok_or(DagCborError::Truncated)?;
        let bytes = self
            .input
            .get(self.pos..end)
            .ok_or(DagCborError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    /// Reads a header: major type and argument, refusing non-shortest arguments and
    /// indefinite lengths (additional information 31) except for major type 7.
    fn header(&mut self) -> Result<(u8, u8, u64), DagCborError> {
        let first = self.take(1)?[0];
        let (major, info) = (first >> 5, first & 0x1f);
        let (arg, min) = match info {
            0..=23 => (u64::from(info), 0),
            24 => (u64::from(self.take(1)?[0]), 24),
            25 => (u64::from(u16::from_be_bytes(self.fixed()?)), 1 << 8),
            26 => (u64::from(u32::from_be_bytes(self.fixed()?)), 1 << 16),
            27 => (u64::from_be_bytes(self.fixed()?), 1 << 32),
            31 if major != 7 => return Err(DagCborError::Indefinite),
            _ if major == 7 => (0, 0),
            _ => return Err(DagCborError::Reserved),
        };
        if major != 7 && arg < min {
            return Err(DagCborError::NotShortest);
        }
        Ok((major, info, arg))
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], DagCborError> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn len(arg: u64) -> Result<usize, DagCborError> {
        usize::try_from(arg).map_err(|_| DagCborError::Truncated)
    }

    fn item(&mut self, depth: usize, on_link: &mut impl FnMut(Cid)) -> Result<(), DagCborError> {
        if depth > MAX_DEPTH {
            return Err(DagCborError::TooDeep);
        }
        let start = self.pos;
        let (major, info, arg) = self.header()?;
        match major {
            0 | 1 => Ok(()),
            2 => self.take(Self::len(arg)?).map(drop),
            3 => {
                let text = self.take(Self::len(arg)?)?;
                core::str::from_utf8(text).map_err(|_| DagCborError::InvalidUtf8)?;
                Ok(())
            }
            4 => {
                for _ in 0..arg {
                    self.item(depth + 1, on_link)?;
                }
                Ok(())
            }
            5 => {
                let mut previous: Option<&[u8]> = None;
                for _ in 0..arg {
                    let key = self.key()?;
                    if let Some(prev) = previous
                        && (prev.len(), prev) >= (key.len(), key)
                    {
                        return Err(DagCborError::KeyOrder);
                    }
                    previous = Some(key);
                    self.item(depth + 1, on_link)?;
                }
                Ok(())
            }
            6 => {
                if arg != CID_TAG {
                    return Err(DagCborError::UnsupportedTag(arg));
                }
                let (major, _, len) = self.header()?;
                if major != 2 {
                    return Err(DagCborError::InvalidCid);
                }
                on_link(cid_of_tag_content(self.take(Self::len(len)?)?)?);
                Ok(())
            }
            _ => match info {
                20..=22 => Ok(()),
                27 => {
                    self.pos = start + 1;
                    let value = f64::from_be_bytes(self.fixed()?);
                    if value.is_finite() {
                        Ok(())
                    } else {
                        Err(DagCborError::NotFinite)
                    }
                }
                other => Err(DagCborError::UnsupportedSimple(other)),
            },
        }
    }

    fn key(&mut self) -> Result<&'a [u8], DagCborError> {
        let (major, _, arg) = self.header()?;
        if major != 3 {
            return Err(DagCborError::NonStringKey);
        }
        let key = self.take(Self::len(arg)?)?;
        core::str::from_utf8(key).map_err(|_| DagCborError::InvalidUtf8)?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests;
