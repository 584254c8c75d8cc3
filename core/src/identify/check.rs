//! Checking a received identify message against the connection it came on.
//!
//! The connection's handshake (Noise) already proved the remote's PeerId. An identify message
//! claims things on top: a public key, and a signed peer record listing the peer's addresses.
//! [`CheckedIdentify::check`] holds those claims against the authenticated PeerId.
//!
//! # Q&A
//! *Why is a bad public key an error but a bad peer record not?* A public key that is not the
//! connection's is a peer lying about who it is (rust-libp2p drops such a message too). A peer
//! record that does not verify only loses its signature: the message's plain `listenAddrs`
//! are still as good as any unsigned address, so [`CheckedIdentify::listen_addrs`] falls back
//! to them and [`CheckedIdentify::record_status`] says why.
//!
//! *And a message without a public key?* Accepted: the key is optional in the schema, and the
//! PeerId is already authenticated by the handshake.

use super::message::Identify;
use crate::identity::peer_record::{PeerRecordError, SignedPeerRecord};
use crate::identity::{KeyError, PeerId, PublicKey};

/// Why an identify message cannot be believed at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentifyCheckError {
    /// The `publicKey` field is not a valid libp2p public key.
    PublicKey(KeyError),
    /// The `publicKey` field is not the connection's remote peer's key.
    PublicKeyMismatch,
}

impl core::fmt::Display for IdentifyCheckError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IdentifyCheckError::PublicKey(e) => write!(f, "identify: public key: {e}"),
            IdentifyCheckError::PublicKeyMismatch => {
                f.write_str("identify: public key is not the remote peer's")
            }
        }
    }
}

impl core::error::Error for IdentifyCheckError {}

/// What became of the message's signed peer record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerRecordStatus {
    /// The message carries none.
    Absent,
    /// It verified and is about the remote peer.
    Verified,
    /// It did not open (bad envelope, signature or record).
    Invalid(PeerRecordError),
    /// It verified, but is about another peer.
    OtherPeer,
}

/// An identify message whose public key matches the connection's remote peer.
#[derive(Clone, Debug)]
pub struct CheckedIdentify<'a> {
    message: Identify<'a>,
    record: Option<SignedPeerRecord<'a>>,
    record_status: PeerRecordStatus,
}

impl<'a> CheckedIdentify<'a> {
    /// Checks `message`, received from `remote` (the connection's authenticated PeerId): its
    /// public key, if any, must be `remote`'s; its signed peer record, if any, is opened and
    /// kept when it is `remote`'s.
    pub fn check(message: Identify<'a>, remote: &PeerId) -> Result<Self, IdentifyCheckError> {
        if let Some(key) = message.public_key() {
            let key = PublicKey::decode(key).map_err(IdentifyCheckError::PublicKey)?;
            if !remote.matches(&key) {
                return Err(IdentifyCheckError::PublicKeyMismatch);
            }
        }
        let (record, record_status) = match message.signed_peer_record() {
            None => (None, PeerRecordStatus::Absent),
            Some(bytes) => match SignedPeerRecord::open(bytes) {
                Err(e) => (None, PeerRecordStatus::Invalid(e)),
                Ok(record) if record.record.peer_id() != *remote => {
                    (None, PeerRecordStatus::OtherPeer)
                }
                Ok(record) => (Some(record), PeerRecordStatus::Verified),
            },
        };
        Ok(CheckedIdentify {
            message,
            record,
            record_status,
        })
    }

    /// The message.
    pub fn message(&self) -> Identify<'a> {
        self.message
    }

    /// The verified peer record of the remote peer, if the message carried one.
    pub fn signed_peer_record(&self) -> Option<&SignedPeerRecord<'a>> {
        self.record.as_ref()
    }

    /// What became of the message's signed peer record.
    pub fn record_status(&self) -> PeerRecordStatus {
        self.record_status
    }

    /// The peer's listen addresses, as binary multiaddrs (not parsed here): the verified
    /// peer record's when there is one, else the message's `listenAddrs`.
    pub fn listen_addrs(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        let signed = self.record.as_ref().map(|r| r.record.addresses());
        let unsigned = self.record.is_none().then(|| self.message.listen_addrs());
        signed
            .into_iter()
            .flatten()
            .chain(unsigned.into_iter().flatten())
    }

    /// Whether [`listen_addrs`](Self::listen_addrs) come from a verified peer record.
    pub fn listen_addrs_are_signed(&self) -> bool {
        self.record.is_some()
    }
}
