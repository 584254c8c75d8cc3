//! libp2p identity: keys, PeerIds, signed envelopes and peer records.
//!
//! - [`keys`]: public keys in the peer-ids spec's protobuf encoding, and signature
//!   verification for Ed25519, secp256k1, ECDSA P-256 and (with `alloc`) RSA.
//! - [`keypair`]: our own Ed25519 [`Keypair`], made from a seed the driver supplies, and the
//!   [`Signer`] trait other signers implement.
//! - [`peer_id`]: [`PeerId`] and its binary and text forms (base58btc and CIDv1 `libp2p-key`).
//! - [`envelope`]: RFC 0002 signed envelopes, sealed into caller buffers and opened as views.
//! - [`peer_record`]: RFC 0003 peer records inside envelopes.
//!
//! Everything parses from borrowed bytes and writes into caller buffers: none of it needs a
//! heap, and no input makes it panic.

pub mod envelope;
pub mod keypair;
pub mod keys;
pub mod peer_id;
pub mod peer_record;

pub use keypair::{Keypair, SignError, Signer};
pub use keys::{KeyError, KeyType, PublicKey, VerifyError};
pub use peer_id::{PeerId, PeerIdError};
