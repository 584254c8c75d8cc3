//! CIDs (content identifiers), versions 0 and 1, as <https://specs.ipfs.tech/cid/> defines them.
//!
//! A CIDv1 is `<varint 0x01><varint content codec><multihash>`; a CIDv0 is a bare 34-byte
//! sha2-256 multihash (`0x12 0x20 <32 bytes>`) whose codec is implicitly dag-pb. As text, a
//! CIDv1 is multibase (base32 lower case, `b...`, by default) and a CIDv0 is base58btc with no
//! prefix (`Qm...`). [`Cid`] is held inline (no heap) and is `Copy`; binary and text forms are
//! written into caller buffers or onto the stack.
//!
//! # Q&A
//! *Why not the `cid` crate?* Its text forms need `alloc` (it builds on the `multibase` crate)
//! and it brings its own multihash type; this module reuses [`Multihash`] and [`multibase`]
//! and formats into a stack buffer, so `Display` works on a microcontroller.
//!
//! *Is a multibase-encoded CIDv0 (`z` + base58 of the 34 bytes, or `b` + base32 of them)
//! accepted?* Yes: the maintained spec's string algorithm multibase-decodes any text that is not
//! a 46-character `Qm...` and then decodes the bytes as a binary CID, which makes those bytes a
//! CIDv0. (The older multiformats/cid README rejected a leading `0x12` there; the spec at
//! specs.ipfs.tech replaced it.) Such a CID is written back in its canonical `Qm...` form.
//!
//! *And an explicit version byte 0 (`0x00 0x70 0x12 0x20 ...`)?* Rejected, as the spec says:
//! a CIDv0 has no version field, so a leading `0x00` is [`CidError::UnsupportedVersion`].

use crate::multibase::{self, Base, MultibaseError};
use crate::multihash::{self, Multihash, MultihashError};
use crate::wire::BufferTooSmall;
use crate::wire::varint::{self, VarintError};

/// Multicodec codes of content types a CID names. Any other code is carried as is.
pub mod codec {
    /// Raw bytes (a file's leaf blocks with `--raw-leaves`, CIDv1 default for small files).
    pub const RAW: u64 = 0x55;
    /// dag-pb: UnixFS files and directories; the implicit codec of every CIDv0.
    pub const DAG_PB: u64 = 0x70;
    /// dag-cbor.
    pub const DAG_CBOR: u64 = 0x71;
    /// libp2p-key: a PeerId written as a CID (IPNS names).
    pub const LIBP2P_KEY: u64 = 0x72;
    /// dag-json.
    pub const DAG_JSON: u64 = 0x0129;
    /// Plain JSON.
    pub const JSON: u64 = 0x0200;
}

/// The longest binary CID: the version byte, a 9-byte codec varint and the longest multihash.
pub const MAX_ENCODED_LEN: usize = 1 + varint::MAX_LEN + multihash::MAX_ENCODED_LEN;

/// An upper bound on the text of any CID in any supported base, prefix included (base36 and
/// base16 take the most: two characters a byte, plus one).
pub const MAX_TEXT_LEN: usize = 1 + 2 * MAX_ENCODED_LEN + 1;

/// The first two bytes of every binary CIDv0: sha2-256, 32 bytes.
const V0_PREFIX: [u8; 2] = [0x12, 0x20];
/// The length of a binary CIDv0 (a sha2-256 multihash).
const V0_LEN: usize = 34;
/// The length of a CIDv0's base58btc text.
const V0_TEXT_LEN: usize = 46;
/// Room to decode text into: multibase's padded bases ask for a few bytes more than they fill.
const DECODE_BUF_LEN: usize = MAX_ENCODED_LEN + 8;

/// A CID's version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// CIDv0: a bare sha2-256 multihash, codec dag-pb, base58btc text.
    V0,
    /// CIDv1: version, codec and multihash, in any multibase.
    V1,
}

impl Version {
    /// The version number (0 or 1).
    pub const fn code(self) -> u64 {
        match self {
            Version::V0 => 0,
            Version::V1 => 1,
        }
    }
}

/// Why a CID could not be made, read, parsed or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CidError {
    /// The version or codec varint is malformed, or a codec is above the varint maximum.
    Varint(VarintError),
    /// The multihash is malformed or truncated.
    Multihash(MultihashError),
    /// The text is not valid multibase (or, for a `Qm...` CIDv0, not valid base58btc).
    Multibase(MultibaseError),
    /// The version is not 1, or a CIDv0 was written with an explicit version 0 (2 and 3 are
    /// reserved; any other value is not a CID).
    UnsupportedVersion(u64),
    /// A CIDv0 needs a sha2-256 multihash of 32 bytes.
    NotV0Multihash,
    /// A CIDv0 is written in base58btc only.
    V0NotBase58(Base),
    /// Bytes follow the CID where none may.
    TrailingBytes,
    /// The text is longer than any CID's.
    TextTooLong,
    /// The output buffer is too small.
    BufferTooSmall(BufferTooSmall),
}

impl core::fmt::Display for CidError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CidError::Varint(e) => write!(f, "cid: {e}"),
            CidError::Multihash(e) => write!(f, "cid: {e}"),
            CidError::Multibase(e) => write!(f, "cid: {e}"),
            CidError::UnsupportedVersion(v) => write!(f, "cid: version {v} is not supported"),
            CidError::NotV0Multihash => {
                f.write_str("cid: a CIDv0 needs a 32-byte sha2-256 multihash")
            }
            CidError::V0NotBase58(b) => {
                write!(f, "cid: a CIDv0 is written in base58btc only, not {b:?}")
            }
            CidError::TrailingBytes => f.write_str("cid: trailing bytes"),
            CidError::TextTooLong => f.write_str("cid: text longer than any CID"),
            CidError::BufferTooSmall(e) => write!(f, "cid: {e}"),
        }
    }
}

impl core::error::Error for CidError {}

impl From<VarintError> for CidError {
    fn from(e: VarintError) -> Self {
        CidError::Varint(e)
    }
}

impl From<MultihashError> for CidError {
    fn from(e: MultihashError) -> Self {
        CidError::Multihash(e)
    }
}

impl From<MultibaseError> for CidError {
    fn from(e: MultibaseError) -> Self {
        match e {
            MultibaseError::BufferTooSmall(e) => CidError::BufferTooSmall(e),
            other => CidError::Multibase(other),
        }
    }
}

impl From<BufferTooSmall> for CidError {
    fn from(e: BufferTooSmall) -> Self {
        CidError::BufferTooSmall(e)
    }
}

/// A content identifier, held inline: version, content codec and multihash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cid {
    version: Version,
    codec: u64,
    hash: Multihash,
}

impl Cid {
    /// A CIDv0 for a dag-pb block; `hash` must be a 32-byte sha2-256 multihash.
    pub fn new_v0(hash: Multihash) -> Result<Self, CidError> {
        if hash.code() != multihash::code::SHA2_256 || hash.digest().len() != 32 {
            return Err(CidError::NotV0Multihash);
        }
        Ok(Cid {
            version: Version::V0,
            codec: codec::DAG_PB,
            hash,
        })
    }

    /// A CIDv1 of content typed by `codec` (see [`codec`]); fails only for a codec above the
    /// varint maximum (2^63 - 1), which no multicodec is.
    pub fn new_v1(codec: u64, hash: Multihash) -> Result<Self, CidError> {
        if codec > varint::MAX_VALUE {
            return Err(CidError::Varint(VarintError::Overflow));
        }
        Ok(Cid {
            version: Version::V1,
            codec,
            hash,
        })
    }

    /// The version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The content codec (dag-pb for every CIDv0).
    pub fn codec(&self) -> u64 {
        self.codec
    }

    /// The multihash of the content.
    pub fn hash(&self) -> &Multihash {
        &self.hash
    }

    /// The same content as a CIDv1 (a CIDv1 is returned unchanged).
    pub fn to_v1(&self) -> Cid {
        Cid {
            version: Version::V1,
            ..*self
        }
    }

    /// Reads a binary CID from the front of `input`; returns it and the bytes it took.
    ///
    /// Input starting `0x12 0x20` is a CIDv0 (34 bytes); input starting with the varint 1 is a
    /// CIDv1; anything else is [`CidError::UnsupportedVersion`].
    pub fn read(input: &[u8]) -> Result<(Self, usize), CidError> {
        if input.starts_with(&V0_PREFIX) {
            let (hash, used) = Multihash::read(input)?;
            debug_assert_eq!(used, V0_LEN);
            return Ok((Self::new_v0(hash)?, used));
        }
        let (version, a) = varint::decode(input)?;
        if version != Version::V1.code() {
            return Err(CidError::UnsupportedVersion(version));
        }
        let (codec, b) = varint::decode(&input[a..])?;
        let (hash, c) = Multihash::read(&input[a + b..])?;
        Ok((Self::new_v1(codec, hash)?, a + b + c))
    }

    /// Parses exactly one binary CID from `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CidError> {
        let (cid, used) = Self::read(bytes)?;
        if used != bytes.len() {
            return Err(CidError::TrailingBytes);
        }
        Ok(cid)
    }

    /// Bytes the binary CID takes.
    pub fn encoded_len(&self) -> usize {
        match self.version {
            Version::V0 => self.hash.encoded_len(),
            Version::V1 => 1 + varint::encoded_len(self.codec) + self.hash.encoded_len(),
        }
    }

    /// Writes the binary CID to the front of `out`; returns the bytes written.
    pub fn write_to(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let required = self.encoded_len();
        let out = out.get_mut(..required).ok_or(BufferTooSmall { required })?;
        let mut at = 0;
        if self.version == Version::V1 {
            let version = varint::Varint::new(Version::V1.code()).expect("1 is a varint");
            let codec = varint::Varint::new(self.codec).expect("checked at construction");
            for part in [version.as_bytes(), codec.as_bytes()] {
                out[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
        }
        at += self.hash.write_to(&mut out[at..])?;
        debug_assert_eq!(at, required);
        Ok(at)
    }

    /// The binary CID on the stack.
    pub fn to_bytes(&self) -> heapless::Vec<u8, MAX_ENCODED_LEN> {
        let mut v = heapless::Vec::new();
        v.resize(self.encoded_len(), 0)
            .expect("encoded_len <= MAX_ENCODED_LEN");
        let n = self.write_to(&mut v).expect("sized above");
        debug_assert_eq!(n, v.len());
        v
    }

    /// Parses a CID from text: a 46-character `Qm...` CIDv0, or any multibase text.
    pub fn parse(text: &str) -> Result<Self, CidError> {
        Self::parse_with_base(text).map(|(cid, _)| cid)
    }

    /// Parses a CID from text as [`Cid::parse`] does; also says which base the text was in.
    pub fn parse_with_base(text: &str) -> Result<(Self, Base), CidError> {
        if text.len() > MAX_TEXT_LEN {
            return Err(CidError::TextTooLong);
        }
        let mut buf = [0u8; DECODE_BUF_LEN];
        let decoded = if text.len() == V0_TEXT_LEN && text.starts_with("Qm") {
            let base = Base::Base58Btc;
            base.decode(text, &mut buf).map(|n| (base, n))
        } else {
            multibase::decode(text, &mut buf)
        };
        let (base, n) = decoded.map_err(|e| match e {
            // Only a text longer than any CID overflows the decode buffer.
            MultibaseError::BufferTooSmall(_) | MultibaseError::TooLong => CidError::TextTooLong,
            other => CidError::Multibase(other),
        })?;
        Ok((Self::from_bytes(&buf[..n])?, base))
    }

    /// Writes the CID as text in `base` into `out`: multibase (prefix included) for a CIDv1,
    /// bare base58btc for a CIDv0 (which has no other text form). [`MAX_TEXT_LEN`] bytes always
    /// suffice.
    pub fn encode<'o>(&self, base: Base, out: &'o mut [u8]) -> Result<&'o str, CidError> {
        let bytes = self.to_bytes();
        // A full `out` is `CidError::BufferTooSmall`, through `From<MultibaseError>`.
        match self.version {
            Version::V0 if base != Base::Base58Btc => Err(CidError::V0NotBase58(base)),
            Version::V0 => Ok(base.encode(&bytes, out)?),
            Version::V1 => Ok(multibase::encode(base, &bytes, out)?),
        }
    }

    /// The binary CID in a new vector.
    #[cfg(feature = "alloc")]
    pub fn to_vec(&self) -> alloc::vec::Vec<u8> {
        self.to_bytes().to_vec()
    }

    /// The CID as text in `base`, in a new string (see [`Cid::encode`]).
    #[cfg(feature = "alloc")]
    pub fn to_string_of_base(&self, base: Base) -> Result<alloc::string::String, CidError> {
        let mut buf = [0u8; MAX_TEXT_LEN];
        Ok(alloc::string::String::from(self.encode(base, &mut buf)?))
    }
}

/// The canonical text: base58btc (`Qm...`) for a CIDv0, base32 lower case (`b...`) for a CIDv1.
impl core::fmt::Display for Cid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let base = match self.version {
            Version::V0 => Base::Base58Btc,
            Version::V1 => Base::Base32Lower,
        };
        let mut buf = [0u8; MAX_TEXT_LEN];
        let text = self
            .encode(base, &mut buf)
            .expect("the canonical base fits MAX_TEXT_LEN");
        f.write_str(text)
    }
}

impl core::fmt::Debug for Cid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Cid({self})")
    }
}

impl core::str::FromStr for Cid {
    type Err = CidError;

    fn from_str(text: &str) -> Result<Self, CidError> {
        Cid::parse(text)
    }
}

#[cfg(test)]
mod tests;
