//! Bitswap (specs.ipfs.tech `bitswap-protocol`): exchanging blocks with IPFS peers.
//!
//! - [`message`]: the Bitswap protobuf message as a zero-copy view ([`message::Message`]) and
//!   a writer into a caller buffer ([`message::MessageWriter`]).
//! - [`engine`]: [`BitswapEngine`], the node-level state machine that serves blocks from a
//!   [`BlockStore`](crate::block::BlockStore) to every peer and fetches wanted blocks from
//!   connected peers.
//!
//! Messages travel on a stream negotiated with multistream-select for one of
//! [`PROTOCOL_IDS`], each message a varint-length-prefixed frame. The version decides what may
//! be sent: 1.0.0 carries blocks as raw bytes and has no HAVE / DONT_HAVE; 1.1.0 sends blocks
//! with their CID prefix; 1.2.0 adds want-have, send-dont-have and block presences.

pub mod engine;
pub mod message;

pub use engine::{BitswapEngine, Config, Event, PeerKey};

/// `/ipfs/bitswap/1.2.0`: want-have, send-dont-have and block presences.
pub const PROTOCOL_1_2_0: &str = "/ipfs/bitswap/1.2.0";
/// `/ipfs/bitswap/1.1.0`: blocks sent with their CID prefix, CIDv1 in wantlists.
pub const PROTOCOL_1_1_0: &str = "/ipfs/bitswap/1.1.0";
/// `/ipfs/bitswap/1.0.0`: blocks as raw bytes (CIDv0 only).
pub const PROTOCOL_1_0_0: &str = "/ipfs/bitswap/1.0.0";
/// `/ipfs/bitswap`: the unversioned name of 1.0.0.
pub const PROTOCOL_LEGACY: &str = "/ipfs/bitswap";

/// Every protocol id rhizo speaks, most preferred first: the list to offer and to accept.
pub const PROTOCOL_IDS: [&str; 4] = [
    PROTOCOL_1_2_0,
    PROTOCOL_1_1_0,
    PROTOCOL_1_0_0,
    PROTOCOL_LEGACY,
];

/// The Bitswap version a stream negotiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// 1.0.0 (also `/ipfs/bitswap`).
    V1_0_0,
    /// 1.1.0.
    V1_1_0,
    /// 1.2.0.
    V1_2_0,
}

impl ProtocolVersion {
    /// The version a negotiated protocol id names, if it is a Bitswap id.
    pub fn from_protocol_id(id: &str) -> Option<Self> {
        match id {
            PROTOCOL_1_2_0 => Some(ProtocolVersion::V1_2_0),
            PROTOCOL_1_1_0 => Some(ProtocolVersion::V1_1_0),
            PROTOCOL_1_0_0 | PROTOCOL_LEGACY => Some(ProtocolVersion::V1_0_0),
            _ => None,
        }
    }

    /// The protocol id to offer for this version.
    pub const fn protocol_id(self) -> &'static str {
        match self {
            ProtocolVersion::V1_0_0 => PROTOCOL_1_0_0,
            ProtocolVersion::V1_1_0 => PROTOCOL_1_1_0,
            ProtocolVersion::V1_2_0 => PROTOCOL_1_2_0,
        }
    }

    /// Whether want-have, send-dont-have and block presences may be sent (1.2.0).
    pub const fn has_presences(self) -> bool {
        matches!(self, ProtocolVersion::V1_2_0)
    }

    /// Whether blocks go in `payload` with a CID prefix (1.1.0 and later) rather than in
    /// `blocks` as raw bytes (1.0.0).
    pub const fn has_payload(self) -> bool {
        !matches!(self, ProtocolVersion::V1_0_0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_ids_map_to_versions() {
        for id in PROTOCOL_IDS {
            let v = ProtocolVersion::from_protocol_id(id).unwrap();
            assert_eq!(ProtocolVersion::from_protocol_id(v.protocol_id()), Some(v));
        }
        assert_eq!(
            ProtocolVersion::from_protocol_id(PROTOCOL_LEGACY),
            Some(ProtocolVersion::V1_0_0)
        );
        assert_eq!(
            ProtocolVersion::from_protocol_id("/ipfs/bitswap/1.3.0"),
            None
        );
    }
}
