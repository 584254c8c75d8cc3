//! [`RemoteIdentify`]: the peer's identify answer, owned.

use rhizo_core::identify::Identify;
use rhizo_core::identity::peer_record::SignedPeerRecord;
use rhizo_core::identity::{PeerId, PublicKey};
use rhizo_core::multiaddr::Multiaddr;

/// What the peer said about itself in identify.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteIdentify {
    /// Its software and version.
    pub agent_version: Option<String>,
    /// Its protocol family and version, e.g. `ipfs/0.1.0`.
    pub protocol_version: Option<String>,
    /// The protocols it serves.
    pub protocols: Vec<String>,
    /// The addresses it listens on (those this build can read).
    pub listen_addrs: Vec<Multiaddr>,
    /// The address it sees this side's connection come from.
    pub observed_addr: Option<Multiaddr>,
    /// Its public key, when sent and valid.
    pub public_key: Option<PublicKey>,
    /// The addresses of its signed peer record, when it sent one whose signature verified
    /// (with the record's sequence number).
    pub signed_listen_addrs: Option<(u64, Vec<Multiaddr>)>,
}

impl RemoteIdentify {
    /// The message of the peer `remote` (a signed record by anyone else is ignored).
    pub(crate) fn from_message(message: &Identify<'_>, remote: Option<&PeerId>) -> Self {
        RemoteIdentify {
            agent_version: message.agent_version().map(str::to_owned),
            protocol_version: message.protocol_version().map(str::to_owned),
            protocols: message.protocols().map(str::to_owned).collect(),
            listen_addrs: message
                .listen_addrs()
                .filter_map(|a| Multiaddr::try_from_bytes(a).ok())
                .collect(),
            observed_addr: message
                .observed_addr()
                .and_then(|a| Multiaddr::try_from_bytes(a).ok()),
            public_key: message.public_key().and_then(|k| PublicKey::decode(k).ok()),
            signed_listen_addrs: message
                .signed_peer_record()
                .and_then(|bytes| SignedPeerRecord::open(bytes).ok())
                .filter(|signed| Some(&signed.record.peer_id()) == remote)
                .map(|signed| {
                    let addrs = signed
                        .record
                        .addresses()
                        .filter_map(|a| Multiaddr::try_from_bytes(a).ok())
                        .collect();
                    (signed.record.seq(), addrs)
                }),
        }
    }
}
