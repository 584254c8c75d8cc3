//! The yamux frame header: 12 bytes, big endian (hashicorp/yamux `spec.md`, "Framing").
//!
//! ```text
//! | version: u8 | type: u8 | flags: u16 | stream id: u32 | length: u32 |
//! ```
//! `length` is the body length of a data frame, the window delta of a window update, the
//! opaque value of a ping and the error code of a go-away. Only data frames carry a body.

use core::fmt;

/// The length of every frame header.
pub const HEADER_LEN: usize = 12;

/// The receive window every stream starts with, in each direction (256 KiB).
pub const INITIAL_WINDOW: u32 = 256 * 1024;

/// The only protocol version there is.
pub const VERSION: u8 = 0;

/// What a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// Stream bytes follow the header (`length` of them).
    Data,
    /// `length` is added to the receiver's send window of the stream.
    WindowUpdate,
    /// Keep-alive / RTT: SYN asks, ACK answers with the same opaque `length`.
    Ping,
    /// The session ends: no new streams; `length` is the [`GoAwayCode`].
    GoAway,
}

impl FrameType {
    /// The type byte on the wire.
    pub const fn to_u8(self) -> u8 {
        match self {
            FrameType::Data => 0,
            FrameType::WindowUpdate => 1,
            FrameType::Ping => 2,
            FrameType::GoAway => 3,
        }
    }

    /// The type for a wire byte, if it is one of the four.
    pub const fn from_u8(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(FrameType::Data),
            1 => Some(FrameType::WindowUpdate),
            2 => Some(FrameType::Ping),
            3 => Some(FrameType::GoAway),
            _ => None,
        }
    }
}

/// The header's flag bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u16);

impl Flags {
    /// No flag.
    pub const NONE: Flags = Flags(0);
    /// Opens a stream (data or window update); marks a ping request.
    pub const SYN: Flags = Flags(1);
    /// Acknowledges a stream's SYN; marks a ping response.
    pub const ACK: Flags = Flags(2);
    /// Half-closes the sender's side of a stream.
    pub const FIN: Flags = Flags(4);
    /// Resets a stream at once.
    pub const RST: Flags = Flags(8);

    /// Whether every bit of `other` is set here.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets of bits.
    pub const fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

/// The code carried by a go-away frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GoAwayCode {
    /// 0: normal termination.
    Normal,
    /// 1: the sender saw a protocol error.
    ProtocolError,
    /// 2: the sender had an internal error.
    InternalError,
    /// Any other value a peer sent.
    Other(u32),
}

impl GoAwayCode {
    /// The code on the wire.
    pub const fn to_u32(self) -> u32 {
        match self {
            GoAwayCode::Normal => 0,
            GoAwayCode::ProtocolError => 1,
            GoAwayCode::InternalError => 2,
            GoAwayCode::Other(code) => code,
        }
    }

    /// The code for a wire value.
    pub const fn from_u32(code: u32) -> Self {
        match code {
            0 => GoAwayCode::Normal,
            1 => GoAwayCode::ProtocolError,
            2 => GoAwayCode::InternalError,
            other => GoAwayCode::Other(other),
        }
    }
}

/// One frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// What the frame is.
    pub frame_type: FrameType,
    /// SYN / ACK / FIN / RST.
    pub flags: Flags,
    /// The stream (0 for ping and go-away).
    pub stream_id: u32,
    /// Body length, window delta, ping opaque value or go-away code.
    pub length: u32,
}

/// Why 12 bytes are not a yamux header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeaderError {
    /// The version byte is not 0.
    UnsupportedVersion(u8),
    /// The type byte is not 0..=3.
    UnknownType(u8),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::UnsupportedVersion(v) => write!(f, "unsupported yamux version {v}"),
            HeaderError::UnknownType(t) => write!(f, "unknown yamux frame type {t}"),
        }
    }
}

impl core::error::Error for HeaderError {}

impl Header {
    /// A data frame header for `length` body bytes.
    pub const fn data(stream_id: u32, flags: Flags, length: u32) -> Self {
        Header {
            frame_type: FrameType::Data,
            flags,
            stream_id,
            length,
        }
    }

    /// A window update header granting `delta` more bytes.
    pub const fn window_update(stream_id: u32, flags: Flags, delta: u32) -> Self {
        Header {
            frame_type: FrameType::WindowUpdate,
            flags,
            stream_id,
            length: delta,
        }
    }

    /// A ping request (`Flags::SYN`) or response (`Flags::ACK`).
    pub const fn ping(flags: Flags, opaque: u32) -> Self {
        Header {
            frame_type: FrameType::Ping,
            flags,
            stream_id: 0,
            length: opaque,
        }
    }

    /// A go-away with `code`.
    pub const fn go_away(code: GoAwayCode) -> Self {
        Header {
            frame_type: FrameType::GoAway,
            flags: Flags::NONE,
            stream_id: 0,
            length: code.to_u32(),
        }
    }

    /// The 12 wire bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0u8; HEADER_LEN];
        bytes[0] = VERSION;
        bytes[1] = self.frame_type.to_u8();
        bytes[2..4].copy_from_slice(&self.flags.0.to_be_bytes());
        bytes[4..8].copy_from_slice(&self.stream_id.to_be_bytes());
        bytes[8..12].copy_from_slice(&self.length.to_be_bytes());
        bytes
    }

    /// Parses 12 wire bytes. Unknown flag bits are kept (and ignored by the session).
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Self, HeaderError> {
        if bytes[0] != VERSION {
            return Err(HeaderError::UnsupportedVersion(bytes[0]));
        }
        let frame_type = FrameType::from_u8(bytes[1]).ok_or(HeaderError::UnknownType(bytes[1]))?;
        Ok(Header {
            frame_type,
            flags: Flags(u16::from_be_bytes([bytes[2], bytes[3]])),
            stream_id: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            length: u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn layout_matches_spec() {
        // Window update, SYN|ACK, stream 0x01020304, delta 0x0a0b0c0d.
        let h = Header::window_update(0x0102_0304, Flags::SYN.with(Flags::ACK), 0x0a0b_0c0d);
        assert_eq!(h.encode(), [0, 1, 0, 3, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d]);
        // Data on stream 1 with 38 bytes (the byte sequence from go-yamux-style traces).
        assert_eq!(
            Header::data(1, Flags::NONE, 38).encode(),
            [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x26]
        );
        assert_eq!(
            Header::ping(Flags::ACK, 7).encode(),
            [0, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7]
        );
        assert_eq!(
            Header::go_away(GoAwayCode::InternalError).encode(),
            [0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]
        );
        assert_eq!(
            Header::data(3, Flags::FIN.with(Flags::RST), 0).encode()[2..4],
            [0, 12]
        );
    }

    #[test]
    fn rejects_bad_version_and_type() {
        let mut b = Header::data(1, Flags::NONE, 0).encode();
        b[0] = 1;
        assert_eq!(Header::decode(&b), Err(HeaderError::UnsupportedVersion(1)));
        b[0] = 0;
        b[1] = 4;
        assert_eq!(Header::decode(&b), Err(HeaderError::UnknownType(4)));
    }

    proptest! {
        #[test]
        fn round_trips(t in 0u8..4, flags: u16, id: u32, len: u32) {
            let h = Header {
                frame_type: FrameType::from_u8(t).unwrap(),
                flags: Flags(flags),
                stream_id: id,
                length: len,
            };
            prop_assert_eq!(Header::decode(&h.encode()), Ok(h));
        }

        #[test]
        fn any_bytes_decode_or_error(bytes: [u8; 12]) {
            if let Ok(h) = Header::decode(&bytes) {
                prop_assert_eq!(h.encode(), bytes);
            }
        }
    }
}
