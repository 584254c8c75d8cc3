//! Peer records (libp2p/specs RFC 0003): a peer's listen addresses, signed in an envelope.
//!
//! ```text
//! message PeerRecord {
//!   message AddressInfo { bytes multiaddr = 1; }
//!   bytes peer_id = 1;
//!   uint64 seq = 2;
//!   repeated AddressInfo addresses = 3;
//! }
//! ```
//!
//! # Q&A
//! *Which domain and payload type?* RFC 0003 still names the domain `libp2p-routing-state` and
//! the payload type `/libp2p/routing-state-record`, but go-libp2p, js-libp2p and rust-libp2p's
//! current constructor sign with domain `libp2p-peer-record` and the multicodec `libp2p-peer-record`
//! (0x0301, varint bytes `03 01`): that pair ([`DOMAIN`], [`PAYLOAD_TYPE`]) is what [`seal`]
//! writes. [`SignedPeerRecord::open`] also accepts the legacy pair ([`LEGACY_DOMAIN`],
//! [`LEGACY_PAYLOAD_TYPE`]), which older rust-libp2p versions still send; the payload type picks
//! the domain the signature is checked against.

use super::envelope::{self, OpenError, SealError};
use super::keypair::Signer;
use super::peer_id::{PeerId, PeerIdError};
use crate::wire::BufferTooSmall;
use crate::wire::proto::{self, ProtoError, Reader, Writer};

/// The envelope domain of peer records, as go-, js- and rust-libp2p sign them.
pub const DOMAIN: &str = "libp2p-peer-record";
/// The payload type: multicodec `libp2p-peer-record` (0x0301) as varint bytes.
pub const PAYLOAD_TYPE: &[u8] = &[0x03, 0x01];
/// The domain RFC 0003 names (older rust-libp2p).
pub const LEGACY_DOMAIN: &str = "libp2p-routing-state";
/// The payload type RFC 0003 names (older rust-libp2p).
pub const LEGACY_PAYLOAD_TYPE: &[u8] = b"/libp2p/routing-state-record";

/// Why a peer record could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerRecordError {
    /// The protobuf is malformed.
    Proto(ProtoError),
    /// The `peer_id` field is not a valid PeerId.
    PeerId(PeerIdError),
    /// The envelope did not open.
    Envelope(OpenError),
    /// The envelope's payload type is not a peer record's.
    WrongPayloadType,
    /// The envelope was signed by a key other than the record's PeerId.
    SignerMismatch,
}

impl core::fmt::Display for PeerRecordError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PeerRecordError::Proto(e) => write!(f, "peer record: {e}"),
            PeerRecordError::PeerId(e) => write!(f, "peer record: {e}"),
            PeerRecordError::Envelope(e) => write!(f, "peer record: {e}"),
            PeerRecordError::WrongPayloadType => {
                f.write_str("peer record: envelope payload is not a peer record")
            }
            PeerRecordError::SignerMismatch => {
                f.write_str("peer record: signed by a key other than its peer id's")
            }
        }
    }
}

impl core::error::Error for PeerRecordError {}

impl From<ProtoError> for PeerRecordError {
    fn from(e: ProtoError) -> Self {
        PeerRecordError::Proto(e)
    }
}

/// A decoded peer record, borrowing its addresses from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerRecord<'a> {
    bytes: &'a [u8],
    peer_id: PeerId,
    seq: u64,
}

impl<'a> PeerRecord<'a> {
    /// Decodes and validates a `PeerRecord` message.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, PeerRecordError> {
        Reader::validate(bytes)?;
        let mut peer_id: &[u8] = &[];
        let mut seq = 0;
        for field in Reader::new(bytes) {
            let field = field?;
            match field.number {
                1 => peer_id = field.bytes()?,
                2 => seq = field.varint()?,
                3 => {
                    let info = field.bytes()?;
                    Reader::validate(info)?;
                    for inner in Reader::fields(info, 1) {
                        inner.bytes()?;
                    }
                }
                _ => {}
            }
        }
        let peer_id = PeerId::from_bytes(peer_id).map_err(PeerRecordError::PeerId)?;
        Ok(PeerRecord {
            bytes,
            peer_id,
            seq,
        })
    }

    /// The peer the record is about.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The sequence number (newer records have higher ones).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The addresses, as binary multiaddrs (not parsed here), in record order.
    pub fn addresses(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        Reader::fields(self.bytes, 3).map(|info| {
            let info = info.bytes().unwrap_or_default();
            Reader::last(info, 1)
                .and_then(|f| f.bytes().ok())
                .unwrap_or_default()
        })
    }

    /// The encoded record.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// Bytes [`encode`] writes.
pub fn encoded_len<'m>(
    peer_id: &PeerId,
    seq: u64,
    addresses: impl IntoIterator<Item = &'m [u8]>,
) -> usize {
    proto::len_field_len(1, peer_id.to_bytes().len())
        + proto::varint_field_len(2, seq)
        + addresses
            .into_iter()
            .map(|a| proto::len_field_len(3, proto::len_field_len(1, a.len())))
            .sum::<usize>()
}

/// Writes a `PeerRecord` into `out`.
pub fn encode<'o, 'm>(
    peer_id: &PeerId,
    seq: u64,
    addresses: impl IntoIterator<Item = &'m [u8]>,
    out: &'o mut [u8],
) -> Result<&'o [u8], BufferTooSmall> {
    let mut w = Writer::new(out);
    w.bytes(1, &peer_id.to_bytes())?.varint(2, seq)?;
    for address in addresses {
        w.message(3, |w| w.bytes(1, address).map(drop))?;
    }
    Ok(w.finish())
}

/// Encodes a record of `signer`'s addresses into `record_buf` and seals it into `out`
/// (domain [`DOMAIN`], payload type [`PAYLOAD_TYPE`]).
pub fn seal<'o, 'm, S: Signer + ?Sized>(
    signer: &S,
    seq: u64,
    addresses: impl IntoIterator<Item = &'m [u8]>,
    record_buf: &mut [u8],
    out: &'o mut [u8],
) -> Result<&'o [u8], SealError> {
    let peer_id = PeerId::from_public_key(&signer.public_key());
    let record = encode(&peer_id, seq, addresses, record_buf)?;
    envelope::seal(signer, DOMAIN, PAYLOAD_TYPE, record, out)
}

/// A peer record from an envelope whose signature verified and whose signer is the record's
/// peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedPeerRecord<'a> {
    /// The opened envelope.
    pub envelope: envelope::OpenedEnvelope<'a>,
    /// The record it carries.
    pub record: PeerRecord<'a>,
}

impl<'a> SignedPeerRecord<'a> {
    /// Opens a signed peer record: checks the payload type, the signature (for the domain that
    /// goes with the payload type), then that the signer's key is the record's PeerId.
    pub fn open(bytes: &'a [u8]) -> Result<Self, PeerRecordError> {
        // The payload type is read before verifying only to pick the domain; nothing of the
        // payload is read before the signature verifies.
        Reader::validate(bytes)?;
        let payload_type = Reader::last(bytes, 2)
            .map(|f| f.bytes())
            .transpose()?
            .unwrap_or_default();
        let domain = if payload_type == PAYLOAD_TYPE {
            DOMAIN
        } else if payload_type == LEGACY_PAYLOAD_TYPE {
            LEGACY_DOMAIN
        } else {
            return Err(PeerRecordError::WrongPayloadType);
        };
        let envelope = envelope::open(bytes, domain).map_err(PeerRecordError::Envelope)?;
        let record = PeerRecord::decode(envelope.payload)?;
        if !record.peer_id().matches(&envelope.public_key) {
            return Err(PeerRecordError::SignerMismatch);
        }
        Ok(SignedPeerRecord { envelope, record })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Keypair;
    use crate::identity::envelope::OpenError;
    use proptest::prelude::*;

    fn sealed_record(keypair: &Keypair, seq: u64, addrs: &[&[u8]]) -> Vec<u8> {
        let mut record = vec![0u8; 512];
        let mut out = vec![0u8; 1024];
        let n = seal(keypair, seq, addrs.iter().copied(), &mut record, &mut out)
            .unwrap()
            .len();
        out.truncate(n);
        out
    }

    #[test]
    fn seal_and_open() {
        let keypair = Keypair::from_seed([3; 32]);
        let addrs: [&[u8]; 2] = [&[4, 1, 2, 3, 4, 6, 0, 42], &[]];
        let bytes = sealed_record(&keypair, 1_570_215_229, &addrs);
        let signed = SignedPeerRecord::open(&bytes).unwrap();
        assert_eq!(signed.envelope.payload_type, PAYLOAD_TYPE);
        assert_eq!(signed.record.seq(), 1_570_215_229);
        assert_eq!(
            signed.record.peer_id(),
            PeerId::from_public_key(&keypair.public())
        );
        assert_eq!(signed.record.addresses().collect::<Vec<_>>(), addrs);
        // The record is the exact encoding of its fields.
        let mut again = [0u8; 64];
        let enc = encode(&signed.record.peer_id(), 1_570_215_229, addrs, &mut again).unwrap();
        assert_eq!(enc, signed.record.as_bytes());
        assert_eq!(
            enc.len(),
            encoded_len(&signed.record.peer_id(), 1_570_215_229, addrs)
        );
    }

    #[test]
    fn legacy_domain_and_mismatches() {
        let keypair = Keypair::from_seed([3; 32]);
        let other = Keypair::from_seed([4; 32]);
        let id = PeerId::from_public_key(&keypair.public());
        let mut record = [0u8; 64];
        let record = encode(&id, 2, [&[0u8; 2][..]], &mut record).unwrap();
        let mut out = [0u8; 256];
        let legacy = envelope::seal(
            &keypair,
            LEGACY_DOMAIN,
            LEGACY_PAYLOAD_TYPE,
            record,
            &mut out,
        )
        .unwrap();
        assert_eq!(SignedPeerRecord::open(legacy).unwrap().record.seq(), 2);
        // Signed by another key than the record's peer.
        let mut out = [0u8; 256];
        let forged = envelope::seal(&other, DOMAIN, PAYLOAD_TYPE, record, &mut out).unwrap();
        assert_eq!(
            SignedPeerRecord::open(forged),
            Err(PeerRecordError::SignerMismatch)
        );
        // The standard payload type with the legacy domain fails the signature.
        let mut out = [0u8; 256];
        let mixed =
            envelope::seal(&keypair, LEGACY_DOMAIN, PAYLOAD_TYPE, record, &mut out).unwrap();
        assert_eq!(
            SignedPeerRecord::open(mixed),
            Err(PeerRecordError::Envelope(OpenError::InvalidSignature))
        );
        let mut out = [0u8; 256];
        let other_type = envelope::seal(&keypair, DOMAIN, b"x", record, &mut out).unwrap();
        assert_eq!(
            SignedPeerRecord::open(other_type),
            Err(PeerRecordError::WrongPayloadType)
        );
    }

    #[test]
    fn decode_errors() {
        assert!(matches!(
            PeerRecord::decode(&[]),
            Err(PeerRecordError::PeerId(_))
        ));
        assert!(matches!(
            PeerRecord::decode(&[0x1a, 0x02, 0x08, 0x01]),
            Err(PeerRecordError::Proto(ProtoError::WrongWireType {
                field: 1
            })) | Err(PeerRecordError::PeerId(_))
        ));
    }

    proptest! {
        #[test]
        fn round_trip(seq: u64, addrs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..30), 0..5)) {
            let keypair = Keypair::from_seed([9; 32]);
            let refs: Vec<&[u8]> = addrs.iter().map(Vec::as_slice).collect();
            let bytes = sealed_record(&keypair, seq, &refs);
            let signed = SignedPeerRecord::open(&bytes).unwrap();
            prop_assert_eq!(signed.record.seq(), seq);
            prop_assert_eq!(signed.record.addresses().collect::<Vec<_>>(), refs);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(record) = PeerRecord::decode(&bytes) {
                for address in record.addresses() {
                    prop_assert!(address.len() <= bytes.len());
                }
            }
            let _ = SignedPeerRecord::open(&bytes);
        }
    }
}
