//! Errors of the multiaddr module: one enum per operation, all `Copy`.

use crate::multibase::MultibaseError;
use crate::multihash::MultihashError;
use crate::wire::varint::VarintError;

/// Why a protocol's value is not acceptable (in either form).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueError {
    /// A name, zone or path is not valid UTF-8.
    NotUtf8,
    /// A name or zone is empty.
    Empty,
    /// A name or zone contains `/`, which the text form cannot carry.
    ContainsSlash,
    /// A name or zone is longer than [`MAX_NAME_LEN`](super::MAX_NAME_LEN) bytes.
    TooLong,
    /// A unix path must start with `/`, hold at least one more byte, and not end with `/`.
    BadUnixPath,
    /// The multihash of a `/p2p` or `/certhash` does not parse.
    Multihash(MultihashError),
    /// A `/p2p` multihash uses neither sha2-256 nor identity (the only PeerId hashes).
    NotPeerIdHash(u64),
    /// A `/p2p` sha2-256 multihash whose digest is not the whole 32 bytes.
    TruncatedPeerIdHash(usize),
    /// A port or prefix length is not decimal digits in range.
    BadNumber,
    /// An IP address does not parse.
    BadAddress,
    /// The multibase text of a `/p2p` CID or a `/certhash` does not decode.
    Multibase(MultibaseError),
    /// A `/p2p` CID is not a CIDv1 with the `libp2p-key` codec (0x72).
    NotLibp2pKeyCid,
}

impl core::fmt::Display for ValueError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ValueError::NotUtf8 => f.write_str("not valid UTF-8"),
            ValueError::Empty => f.write_str("empty"),
            ValueError::ContainsSlash => f.write_str("contains '/'"),
            ValueError::TooLong => write!(f, "longer than {} bytes", super::MAX_NAME_LEN),
            ValueError::BadUnixPath => {
                f.write_str("a unix path must start with '/' and not end with '/'")
            }
            ValueError::Multihash(e) => core::fmt::Display::fmt(e, f),
            ValueError::NotPeerIdHash(c) => {
                write!(f, "hash code {c:#x} is neither sha2-256 nor identity")
            }
            ValueError::TruncatedPeerIdHash(n) => {
                write!(f, "a sha2-256 PeerId digest is 32 bytes, not {n}")
            }
            ValueError::BadNumber => f.write_str("not a decimal number in range"),
            ValueError::BadAddress => f.write_str("not an IP address"),
            ValueError::Multibase(e) => core::fmt::Display::fmt(e, f),
            ValueError::NotLibp2pKeyCid => f.write_str("not a CIDv1 with codec libp2p-key"),
        }
    }
}

impl core::error::Error for ValueError {}

/// Why binary multiaddr bytes were rejected. `offset` is where the offending component starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryError {
    /// No bytes: a multiaddr has at least one component (as go-multiaddr requires).
    Empty,
    /// A protocol code or value length is not a valid varint.
    Varint {
        /// Start of the component.
        offset: usize,
        /// What was wrong with the varint.
        error: VarintError,
    },
    /// The protocol code is not one this module knows.
    UnknownCode {
        /// Start of the component.
        offset: usize,
        /// The code read.
        code: u64,
    },
    /// The input ends inside the component's value.
    Truncated {
        /// Start of the component.
        offset: usize,
        /// The protocol code.
        code: u64,
    },
    /// The value does not validate.
    InvalidValue {
        /// Start of the component.
        offset: usize,
        /// The protocol code.
        code: u64,
        /// Why.
        reason: ValueError,
    },
    /// A component follows `/unix`, whose path must end the multiaddr.
    AfterUnixPath {
        /// Start of the component after the path.
        offset: usize,
    },
    /// The bytes do not fit the owned multiaddr's capacity.
    CapacityExceeded(CapacityExceeded),
}

impl BinaryError {
    /// The same error with its offset moved by `by` bytes.
    pub(super) fn shifted(self, by: usize) -> Self {
        match self {
            BinaryError::Varint { offset, error } => BinaryError::Varint {
                offset: offset + by,
                error,
            },
            BinaryError::UnknownCode { offset, code } => BinaryError::UnknownCode {
                offset: offset + by,
                code,
            },
            BinaryError::Truncated { offset, code } => BinaryError::Truncated {
                offset: offset + by,
                code,
            },
            BinaryError::InvalidValue {
                offset,
                code,
                reason,
            } => BinaryError::InvalidValue {
                offset: offset + by,
                code,
                reason,
            },
            BinaryError::AfterUnixPath { offset } => BinaryError::AfterUnixPath {
                offset: offset + by,
            },
            other => other,
        }
    }
}

impl core::fmt::Display for BinaryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BinaryError::Empty => f.write_str("multiaddr: no components"),
            BinaryError::Varint { offset, error } => {
                write!(f, "multiaddr at byte {offset}: {error}")
            }
            BinaryError::UnknownCode { offset, code } => {
                write!(
                    f,
                    "multiaddr at byte {offset}: unknown protocol code {code:#x}"
                )
            }
            BinaryError::Truncated { offset, code } => {
                write!(
                    f,
                    "multiaddr at byte {offset}: value of code {code:#x} truncated"
                )
            }
            BinaryError::InvalidValue {
                offset,
                code,
                reason,
            } => write!(
                f,
                "multiaddr at byte {offset}: invalid value for code {code:#x}: {reason}"
            ),
            BinaryError::AfterUnixPath { offset } => {
                write!(f, "multiaddr at byte {offset}: component after a unix path")
            }
            BinaryError::CapacityExceeded(e) => core::fmt::Display::fmt(e, f),
        }
    }
}

impl core::error::Error for BinaryError {}

/// Why multiaddr text was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextError {
    /// The text is empty or only slashes (as go-multiaddr, which rejects `""` and `"/"`).
    Empty,
    /// The text does not start with `/`.
    NoLeadingSlash,
    /// The protocol name starting at this byte offset is not one this module knows.
    UnknownProtocol {
        /// Byte offset of the name in the text.
        offset: usize,
    },
    /// The protocol takes a value and the text ends before it.
    MissingValue {
        /// The protocol's name.
        protocol: &'static str,
    },
    /// The protocol's value does not parse or validate.
    InvalidValue {
        /// The protocol's name.
        protocol: &'static str,
        /// Why.
        reason: ValueError,
    },
    /// The encoded multiaddr does not fit the owned multiaddr's capacity.
    CapacityExceeded(CapacityExceeded),
}

impl core::fmt::Display for TextError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TextError::Empty => f.write_str("multiaddr: empty text"),
            TextError::NoLeadingSlash => f.write_str("multiaddr: text must start with '/'"),
            TextError::UnknownProtocol { offset } => {
                write!(f, "multiaddr: unknown protocol name at byte {offset}")
            }
            TextError::MissingValue { protocol } => {
                write!(f, "multiaddr: /{protocol} needs a value")
            }
            TextError::InvalidValue { protocol, reason } => {
                write!(f, "multiaddr: invalid value for /{protocol}: {reason}")
            }
            TextError::CapacityExceeded(e) => core::fmt::Display::fmt(e, f),
        }
    }
}

impl core::error::Error for TextError {}

/// An owned multiaddr's fixed capacity would be exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapacityExceeded {
    /// The capacity in bytes.
    pub capacity: usize,
}

impl core::fmt::Display for CapacityExceeded {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "multiaddr: over the capacity of {} bytes", self.capacity)
    }
}

impl core::error::Error for CapacityExceeded {}

/// Why a protocol could not be appended to an owned multiaddr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushError {
    /// The protocol's value does not validate (an empty DNS name, a non-PeerId multihash...).
    InvalidValue(ValueError),
    /// The multiaddr ends with `/unix`, whose path must come last.
    AfterUnixPath,
    /// The fixed capacity would be exceeded.
    CapacityExceeded(CapacityExceeded),
}

impl core::fmt::Display for PushError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PushError::InvalidValue(e) => write!(f, "multiaddr: invalid value: {e}"),
            PushError::AfterUnixPath => f.write_str("multiaddr: nothing may follow a unix path"),
            PushError::CapacityExceeded(e) => core::fmt::Display::fmt(e, f),
        }
    }
}

impl core::error::Error for PushError {}
