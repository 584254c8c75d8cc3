//! The identify message (libp2p/specs `identify/README.md`), sent varint-length-prefixed on
//! `/ipfs/id/1.0.0` and `/ipfs/id/push/1.0.0` streams.
//!
//! ```protobuf
//! syntax = "proto2";
//! message Identify {
//!     optional string protocolVersion = 5;
//!     optional string agentVersion = 6;
//!     optional bytes publicKey = 1;         // a protobuf-encoded libp2p PublicKey
//!     repeated bytes listenAddrs = 2;       // binary multiaddrs
//!     optional bytes observedAddr = 4;      // binary multiaddr
//!     repeated string protocols = 3;
//!     optional bytes signedPeerRecord = 8;  // a signed envelope holding a peer record
//! }
//! ```
//! [`Identify`] is a view: [`Identify::decode`] validates once, then the accessors borrow from
//! the input and the repeated fields are iterators. [`IdentifyBuilder`] writes a message (or a
//! length-prefixed frame) into a caller buffer.
//!
//! # Q&A
//! *What happens to a protocol string that is not UTF-8?* The whole message is rejected with
//! [`ProtoError::InvalidUtf8`]. rust-libp2p (quick-protobuf's `read_string`) and prost do the
//! same, so a peer that sends one is already cut off from rust-libp2p nodes; go-libp2p (proto2,
//! no UTF-8 check) and js-libp2p (lossy decoding) accept it. Rejecting keeps every `&str`
//! accessor infallible. Valid UTF-8 that is not a usable protocol id (rust-libp2p skips ids
//! that do not start with `/`) is handed out as is: which ids to keep is the state machine's
//! choice, not the codec's.
//!
//! *What about a known field with the wrong wire type?* A typed error
//! ([`ProtoError::WrongWireType`]), as prost reports. (quick-protobuf, in rust-libp2p, skips it
//! as an unknown tag; no implementation sends one.)
//!
//! *Why two size limits?* [`MAX_MESSAGE_LEN`] (8 KiB) is what this crate accepts: go-libp2p's
//! `signedIDSize` and js-libp2p's `MAX_IDENTIFY_MESSAGE_SIZE`; a kubo message with a signed peer
//! record and an RSA key is about 2.6 KiB. [`MAX_SENT_MESSAGE_LEN`] (4 KiB) is what to send:
//! rust-libp2p rejects longer messages (`MAX_MESSAGE_SIZE_BYTES = 4096`), and go-libp2p caps
//! its own at 4 KiB (`maxOwnIdentifyMsgSize`) for that reason.
//!
//! *go-libp2p reads up to ten frames and merges them.* It does, for peers that split a long
//! message. Protobuf merging is concatenation, so a state machine that wants this can append
//! the frames' payloads in one buffer (within [`MAX_MESSAGE_LEN`]) and decode that.

use crate::wire::BufferTooSmall;
use crate::wire::frame::{self, FrameError};
use crate::wire::proto::{self, ProtoError, Reader, Writer};
use crate::wire::varint;

/// The identify protocol id: the listener answers with one message and closes.
pub const PROTOCOL_ID: &str = "/ipfs/id/1.0.0";
/// The identify push protocol id: the dialer sends one (possibly partial) message and closes.
pub const PUSH_PROTOCOL_ID: &str = "/ipfs/id/push/1.0.0";
/// The longest message (without its length prefix) this crate accepts; see the module's Q&A.
pub const MAX_MESSAGE_LEN: usize = 8 * 1024;
/// The longest message (without its length prefix) to send, so rust-libp2p peers accept it.
pub const MAX_SENT_MESSAGE_LEN: usize = 4 * 1024;

const PUBLIC_KEY: u32 = 1;
const LISTEN_ADDRS: u32 = 2;
const PROTOCOLS: u32 = 3;
const OBSERVED_ADDR: u32 = 4;
const PROTOCOL_VERSION: u32 = 5;
const AGENT_VERSION: u32 = 6;
const SIGNED_PEER_RECORD: u32 = 8;

/// Why a length-prefixed identify message could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentifyFrameError {
    /// The length prefix is malformed or announces more than [`MAX_MESSAGE_LEN`].
    Frame(FrameError),
    /// The message inside the frame is not a valid identify message.
    Message(ProtoError),
}

impl core::fmt::Display for IdentifyFrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IdentifyFrameError::Frame(e) => write!(f, "identify: {e}"),
            IdentifyFrameError::Message(e) => write!(f, "identify: {e}"),
        }
    }
}

impl core::error::Error for IdentifyFrameError {}

/// A decoded identify message, borrowing the bytes it was read from.
///
/// Singular fields follow protobuf's "last one wins"; absent ones are `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identify<'a> {
    bytes: &'a [u8],
}

impl<'a> Identify<'a> {
    /// Validates `bytes` (one message, without length prefix): well-formed protobuf, known
    /// fields with their wire types, every string field UTF-8. Unknown fields are skipped.
    ///
    /// The length is not checked here; [`decode_frame`](Self::decode_frame) bounds it.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, ProtoError> {
        for field in Reader::new(bytes) {
            let field = field?;
            match field.number {
                PUBLIC_KEY | LISTEN_ADDRS | OBSERVED_ADDR | SIGNED_PEER_RECORD => {
                    field.bytes()?;
                }
                PROTOCOLS | PROTOCOL_VERSION | AGENT_VERSION => {
                    field.str()?;
                }
                _ => {}
            }
        }
        Ok(Identify { bytes })
    }

    /// Reads one length-prefixed message from the front of `input`, refusing any longer than
    /// [`MAX_MESSAGE_LEN`]. `Ok(None)`: the frame is not complete yet. On success, also
    /// returns how many input bytes the frame took.
    pub fn decode_frame(input: &'a [u8]) -> Result<Option<(Self, usize)>, IdentifyFrameError> {
        let Some(frame) =
            frame::decode(input, MAX_MESSAGE_LEN).map_err(IdentifyFrameError::Frame)?
        else {
            return Ok(None);
        };
        let message = Identify::decode(frame.payload).map_err(IdentifyFrameError::Message)?;
        Ok(Some((message, frame.consumed)))
    }

    /// The implementation family's version, e.g. `ipfs/0.1.0`.
    pub fn protocol_version(&self) -> Option<&'a str> {
        self.last_str(PROTOCOL_VERSION)
    }

    /// The software's name and version, like an HTTP `User-Agent`.
    pub fn agent_version(&self) -> Option<&'a str> {
        self.last_str(AGENT_VERSION)
    }

    /// The sender's public key, a protobuf-encoded libp2p `PublicKey`.
    pub fn public_key(&self) -> Option<&'a [u8]> {
        self.last_bytes(PUBLIC_KEY)
    }

    /// The addresses the sender listens on, as binary multiaddrs (not checked here).
    pub fn listen_addrs(&self) -> impl Iterator<Item = &'a [u8]> + Clone + 'a {
        Reader::fields(self.bytes, LISTEN_ADDRS).filter_map(|field| field.bytes().ok())
    }

    /// The address the sender sees this side's connection come from, as a binary multiaddr.
    pub fn observed_addr(&self) -> Option<&'a [u8]> {
        self.last_bytes(OBSERVED_ADDR)
    }

    /// The protocol ids the sender supports.
    pub fn protocols(&self) -> impl Iterator<Item = &'a str> + Clone + 'a {
        // `decode` checked every entry is UTF-8, so `filter_map` drops nothing.
        Reader::fields(self.bytes, PROTOCOLS).filter_map(|field| field.str().ok())
    }

    /// The sender's signed peer record: a signed envelope (libp2p/specs RFC 0002).
    pub fn signed_peer_record(&self) -> Option<&'a [u8]> {
        self.last_bytes(SIGNED_PEER_RECORD)
    }

    /// The bytes this view reads.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    fn last_bytes(&self, number: u32) -> Option<&'a [u8]> {
        Reader::last(self.bytes, number).and_then(|field| field.bytes().ok())
    }

    fn last_str(&self, number: u32) -> Option<&'a str> {
        Reader::last(self.bytes, number).and_then(|field| field.str().ok())
    }
}

/// Bytes a length-delimited field takes, saturating at `usize::MAX` (which no buffer holds).
fn len_field_size(number: u32, len: usize) -> usize {
    proto::varint_len(u64::from(number) << 3)
        .saturating_add(proto::varint_len(len as u64))
        .saturating_add(len)
}

fn optional_size(number: u32, value: Option<&[u8]>) -> usize {
    value.map_or(0, |v| len_field_size(number, v.len()))
}

/// The contents of an identify message to encode. `None` fields are left out; `Some("")` is
/// written as an empty field, as proto2 `optional` says.
///
/// Fields are written in field-number order, as prost and go-libp2p write them. The builder
/// does not enforce [`MAX_SENT_MESSAGE_LEN`]: size the output buffer to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdentifyBuilder<'a> {
    /// The implementation family's version, e.g. `ipfs/0.1.0`.
    pub protocol_version: Option<&'a str>,
    /// The software's name and version.
    pub agent_version: Option<&'a str>,
    /// The protobuf-encoded libp2p `PublicKey`.
    pub public_key: Option<&'a [u8]>,
    /// Binary multiaddrs the sender listens on.
    pub listen_addrs: &'a [&'a [u8]],
    /// The binary multiaddr the remote connection was seen from.
    pub observed_addr: Option<&'a [u8]>,
    /// Supported protocol ids.
    pub protocols: &'a [&'a str],
    /// A signed envelope holding the sender's peer record.
    pub signed_peer_record: Option<&'a [u8]>,
}

impl IdentifyBuilder<'_> {
    /// Bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        let addrs = self.listen_addrs.iter().fold(0usize, |sum, a| {
            sum.saturating_add(len_field_size(LISTEN_ADDRS, a.len()))
        });
        let protocols = self.protocols.iter().fold(0usize, |sum, p| {
            sum.saturating_add(len_field_size(PROTOCOLS, p.len()))
        });
        [
            optional_size(PUBLIC_KEY, self.public_key),
            addrs,
            protocols,
            optional_size(OBSERVED_ADDR, self.observed_addr),
            optional_size(PROTOCOL_VERSION, self.protocol_version.map(str::as_bytes)),
            optional_size(AGENT_VERSION, self.agent_version.map(str::as_bytes)),
            optional_size(SIGNED_PEER_RECORD, self.signed_peer_record),
        ]
        .iter()
        .fold(0usize, |sum, len| sum.saturating_add(*len))
    }

    /// Bytes [`encode_frame`](Self::encode_frame) writes: the length prefix and the message.
    pub fn frame_len(&self) -> usize {
        let len = self.encoded_len();
        varint::encoded_len(len as u64).saturating_add(len)
    }

    /// Writes the message (no length prefix) to the front of `out`; returns the bytes written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let required = self.encoded_len();
        if out.len() < required {
            return Err(BufferTooSmall { required });
        }
        let mut writer = Writer::new(out);
        if let Some(key) = self.public_key {
            writer.bytes(PUBLIC_KEY, key)?;
        }
        for addr in self.listen_addrs {
            writer.bytes(LISTEN_ADDRS, addr)?;
        }
        for protocol in self.protocols {
            writer.str(PROTOCOLS, protocol)?;
        }
        if let Some(addr) = self.observed_addr {
            writer.bytes(OBSERVED_ADDR, addr)?;
        }
        if let Some(version) = self.protocol_version {
            writer.str(PROTOCOL_VERSION, version)?;
        }
        if let Some(agent) = self.agent_version {
            writer.str(AGENT_VERSION, agent)?;
        }
        if let Some(record) = self.signed_peer_record {
            writer.bytes(SIGNED_PEER_RECORD, record)?;
        }
        Ok(writer.len())
    }

    /// Writes the length-prefixed message, as sent on an identify stream, to the front of
    /// `out`; returns the bytes written.
    pub fn encode_frame(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let required = self.frame_len();
        if out.len() < required {
            return Err(BufferTooSmall { required });
        }
        let len = self.encoded_len();
        let prefix = varint::Varint::new(len as u64).map_err(|_| BufferTooSmall { required })?;
        let (head, body) = out.split_at_mut(prefix.len());
        head.copy_from_slice(&prefix);
        let written = self.encode(body)?;
        Ok(prefix.len() + written)
    }

    /// The encoded message (no length prefix) in a new vector.
    #[cfg(feature = "alloc")]
    pub fn encode_to_vec(&self) -> alloc::vec::Vec<u8> {
        let mut out = alloc::vec![0u8; self.encoded_len()];
        let len = self
            .encode(&mut out)
            .expect("the vector has encoded_len bytes");
        out.truncate(len);
        out
    }
}

#[cfg(test)]
mod tests;
