//! PeerIds: the multihash of a protobuf-encoded public key (peer-ids spec, "Peer Ids").
//!
//! A key whose encoding is at most 42 bytes (Ed25519, secp256k1) is embedded with the identity
//! multihash, so its PeerId carries the key; longer keys (RSA, ECDSA) are hashed with sha2-256.
//! Text forms: the legacy base58btc multihash (`12D3KooW...`, `Qm...`), which [`Display`]
//! writes, and a CIDv1 with the `libp2p-key` codec (0x72) in any multibase (base32 `b...` by
//! default), which [`PeerId::to_cid_text`] writes. [`FromStr`] reads both, as the spec's
//! "Decoding" section says.
//!
//! # Q&A
//! *Why refuse identity multihashes over 42 bytes?* The spec says longer keys must be hashed,
//! so no valid PeerId has one; rust-libp2p refuses them too (`from_multihash`).
//!
//! [`Display`]: core::fmt::Display
//! [`FromStr`]: core::str::FromStr

use super::keys::{KeyError, PublicKey};
use crate::multibase::{self, Base, MultibaseError};
use crate::multihash::{self, Multihash, MultihashError};
use crate::wire::BufferTooSmall;
use crate::wire::varint::{self, VarintError};

/// The longest key encoding embedded with the identity multihash.
pub const MAX_INLINE_KEY_LEN: usize = 42;
/// The most bytes [`PeerId::to_bytes`] gives (an identity multihash of 42 bytes).
pub const MAX_PEER_ID_LEN: usize = 2 + MAX_INLINE_KEY_LEN;
/// The multicodec code of `libp2p-key`, the CID codec of PeerIds.
pub const LIBP2P_KEY_CODEC: u64 = 0x72;
/// The most characters the base58btc form takes.
pub const MAX_BASE58_LEN: usize = 61;
/// The most characters [`PeerId::to_cid_text`] writes, in any base.
pub const MAX_CID_TEXT_LEN: usize = 96;
/// Bytes of the CIDv1 header `<version 1><codec 0x72>`.
const CID_HEADER: [u8; 2] = [0x01, 0x72];
const MAX_CID_LEN: usize = CID_HEADER.len() + MAX_PEER_ID_LEN;

/// Why a PeerId could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerIdError {
    /// The multihash is malformed.
    Multihash(MultihashError),
    /// The hash function is neither identity nor sha2-256.
    UnsupportedHash(u64),
    /// An identity multihash longer than [`MAX_INLINE_KEY_LEN`].
    IdentityTooLong(usize),
    /// A sha2-256 multihash whose digest is not the full 32 bytes.
    TruncatedSha256(usize),
    /// The text is not valid multibase (or base58btc).
    Multibase(MultibaseError),
    /// The text is longer than any PeerId's.
    TooLong,
    /// The CID's version or codec varint is malformed.
    Varint(VarintError),
    /// The CID is not version 1.
    CidVersion(u64),
    /// The CID's codec is not `libp2p-key` (0x72).
    WrongCodec(u64),
}

impl core::fmt::Display for PeerIdError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PeerIdError::Multihash(e) => write!(f, "peer id: {e}"),
            PeerIdError::UnsupportedHash(c) => {
                write!(f, "peer id: hash {c:#x} is neither identity nor sha2-256")
            }
            PeerIdError::IdentityTooLong(n) => {
                write!(f, "peer id: {n}-byte identity multihash is over 42 bytes")
            }
            PeerIdError::TruncatedSha256(n) => {
                write!(f, "peer id: a sha2-256 digest must be 32 bytes, not {n}")
            }
            PeerIdError::Multibase(e) => write!(f, "peer id: {e}"),
            PeerIdError::TooLong => f.write_str("peer id: text too long"),
            PeerIdError::Varint(e) => write!(f, "peer id: CID {e}"),
            PeerIdError::CidVersion(v) => write!(f, "peer id: CID version {v} is not 1"),
            PeerIdError::WrongCodec(c) => {
                write!(f, "peer id: CID codec {c:#x} is not libp2p-key (0x72)")
            }
        }
    }
}

impl core::error::Error for PeerIdError {}

impl From<MultihashError> for PeerIdError {
    fn from(e: MultihashError) -> Self {
        PeerIdError::Multihash(e)
    }
}

impl From<MultibaseError> for PeerIdError {
    fn from(e: MultibaseError) -> Self {
        match e {
            MultibaseError::BufferTooSmall(_) => PeerIdError::TooLong,
            e => PeerIdError::Multibase(e),
        }
    }
}

impl From<VarintError> for PeerIdError {
    fn from(e: VarintError) -> Self {
        PeerIdError::Varint(e)
    }
}

/// A libp2p peer identity: an identity or sha2-256 multihash of a public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId {
    multihash: Multihash,
}

impl PeerId {
    /// The PeerId of `key`.
    pub fn from_public_key(key: &PublicKey) -> Self {
        let encoded = key.to_protobuf();
        let multihash = if encoded.len() <= MAX_INLINE_KEY_LEN {
            Multihash::identity(&encoded).expect("at most 42 bytes")
        } else {
            Multihash::sha2_256(&encoded)
        };
        PeerId { multihash }
    }

    /// A PeerId from a multihash: sha2-256, or identity of at most 42 bytes.
    pub fn from_multihash(multihash: Multihash) -> Result<Self, PeerIdError> {
        match multihash.code() {
            multihash::code::SHA2_256 => {
                // Multihash carries truncated sha2-256; a PeerId is always the whole digest.
                let len = multihash.digest().len();
                if len != 32 {
                    return Err(PeerIdError::TruncatedSha256(len));
                }
                Ok(PeerId { multihash })
            }
            multihash::code::IDENTITY => {
                let len = multihash.digest().len();
                if len > MAX_INLINE_KEY_LEN {
                    return Err(PeerIdError::IdentityTooLong(len));
                }
                Ok(PeerId { multihash })
            }
            other => Err(PeerIdError::UnsupportedHash(other)),
        }
    }

    /// Reads the binary form (a multihash) with nothing after it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PeerIdError> {
        Self::from_multihash(Multihash::from_bytes(bytes)?)
    }

    /// The multihash.
    pub fn multihash(&self) -> &Multihash {
        &self.multihash
    }

    /// The binary form (the multihash bytes), on the stack.
    pub fn to_bytes(&self) -> heapless::Vec<u8, MAX_PEER_ID_LEN> {
        let mut v = heapless::Vec::new();
        v.resize(self.multihash.encoded_len(), 0)
            .expect("a PeerId multihash takes at most 44 bytes");
        self.multihash.write_to(&mut v).expect("sized above");
        v
    }

    /// The public key, when the PeerId embeds it (identity multihash). `None` for hashed keys;
    /// an error if the embedded bytes are not a valid key.
    pub fn public_key(&self) -> Option<Result<PublicKey, KeyError>> {
        (self.multihash.code() == multihash::code::IDENTITY)
            .then(|| PublicKey::decode(self.multihash.digest()))
    }

    /// Whether `key` is the key this PeerId was made from.
    pub fn matches(&self, key: &PublicKey) -> bool {
        Self::from_public_key(key) == *self
    }

    /// Writes the legacy base58btc form into `out`.
    pub fn to_base58<'o>(&self, out: &'o mut [u8]) -> Result<&'o str, BufferTooSmall> {
        Base::Base58Btc
            .encode(&self.to_bytes(), out)
            .map_err(|_| BufferTooSmall {
                required: MAX_BASE58_LEN,
            })
    }

    /// Writes the CIDv1 (`libp2p-key`) form in multibase `base` into `out`; [`MAX_CID_TEXT_LEN`]
    /// bytes always suffice.
    pub fn to_cid_text<'o>(
        &self,
        base: Base,
        out: &'o mut [u8],
    ) -> Result<&'o str, BufferTooSmall> {
        let (cid, len) = self.cid_bytes();
        multibase::encode(base, &cid[..len], out).map_err(|_| BufferTooSmall {
            required: multibase::encoded_len(base, len),
        })
    }

    /// The CIDv1 binary form: `<varint 1><varint 0x72><multihash>`.
    fn cid_bytes(self) -> ([u8; MAX_CID_LEN], usize) {
        let mut cid = [0u8; MAX_CID_LEN];
        cid[..CID_HEADER.len()].copy_from_slice(&CID_HEADER);
        let n = self
            .multihash
            .write_to(&mut cid[CID_HEADER.len()..])
            .expect("a PeerId multihash takes at most 44 bytes");
        (cid, CID_HEADER.len() + n)
    }

    /// Reads the CIDv1 binary form, checking version 1 and codec `libp2p-key`.
    fn from_cid_bytes(bytes: &[u8]) -> Result<Self, PeerIdError> {
        let (version, rest) = varint::split(bytes)?;
        if version != 1 {
            return Err(PeerIdError::CidVersion(version));
        }
        let (codec, rest) = varint::split(rest)?;
        if codec != LIBP2P_KEY_CODEC {
            return Err(PeerIdError::WrongCodec(codec));
        }
        Self::from_bytes(rest)
    }

    /// Parses either text form.
    pub fn parse(text: &str) -> Result<Self, PeerIdError> {
        // The longest decodings: base58 of 44 bytes, a CID of 46 bytes in any base.
        let mut buf = [0u8; 128];
        if text.starts_with('1') || text.starts_with("Qm") {
            let n = Base::Base58Btc.decode(text, &mut buf)?;
            return Self::from_bytes(&buf[..n]);
        }
        if text.len() > 2 * MAX_CID_TEXT_LEN {
            return Err(PeerIdError::TooLong);
        }
        let (_, n) = multibase::decode(text, &mut buf)?;
        Self::from_cid_bytes(&buf[..n])
    }

    /// The base58btc form as a new string.
    #[cfg(feature = "alloc")]
    pub fn to_base58_string(&self) -> alloc::string::String {
        alloc::string::ToString::to_string(self)
    }

    /// The CIDv1 form in `base` as a new string.
    #[cfg(feature = "alloc")]
    pub fn to_cid_string(&self, base: Base) -> alloc::string::String {
        let mut buf = [0u8; MAX_CID_TEXT_LEN];
        alloc::string::String::from(
            self.to_cid_text(base, &mut buf)
                .expect("MAX_CID_TEXT_LEN fits every base"),
        )
    }
}

impl core::fmt::Display for PeerId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut buf = [0u8; MAX_BASE58_LEN];
        f.write_str(
            self.to_base58(&mut buf)
                .expect("MAX_BASE58_LEN fits any PeerId"),
        )
    }
}

impl core::fmt::Debug for PeerId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PeerId({self})")
    }
}

impl core::str::FromStr for PeerId {
    type Err = PeerIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<&PublicKey> for PeerId {
    fn from(key: &PublicKey) -> Self {
        Self::from_public_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spec_examples() {
        // The examples of the peer-ids spec (libp2p/specs, peer-ids/peer-ids.md, "Decoding").
        let cid =
            PeerId::parse("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe").unwrap();
        let legacy = PeerId::parse("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N").unwrap();
        assert_eq!(cid, legacy);
        assert_eq!(cid.multihash().code(), multihash::code::SHA2_256);
        assert!(cid.public_key().is_none());
        let mut buf = [0u8; MAX_CID_TEXT_LEN];
        assert_eq!(
            legacy.to_cid_text(Base::Base32Lower, &mut buf).unwrap(),
            "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe"
        );
        assert_eq!(
            cid.to_string(),
            "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"
        );
        let ed = PeerId::parse("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA").unwrap();
        assert_eq!(ed.multihash().code(), multihash::code::IDENTITY);
        let key = ed.public_key().unwrap().unwrap();
        assert!(ed.matches(&key));
        assert_eq!(
            ed.to_string(),
            "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
        );
        // The same PeerId as a CID in base36 and base58 (multibase 'z') parses too.
        let k = ed.to_cid_string(Base::Base36Lower);
        assert!(k.starts_with('k'));
        assert_eq!(PeerId::parse(&k), Ok(ed));
        assert_eq!(PeerId::parse(&ed.to_cid_string(Base::Base58Btc)), Ok(ed));
    }

    #[test]
    fn rejections() {
        let ed = PeerId::parse("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA").unwrap();
        // A CIDv1 with another codec (dag-pb 0x70).
        let mut cid = vec![0x01, 0x70];
        cid.extend_from_slice(&ed.to_bytes());
        let text = multibase::encode_to_string(Base::Base32Lower, &cid);
        assert_eq!(PeerId::parse(&text), Err(PeerIdError::WrongCodec(0x70)));
        cid[0] = 0x02;
        cid[1] = 0x72;
        let text = multibase::encode_to_string(Base::Base32Lower, &cid);
        assert_eq!(PeerId::parse(&text), Err(PeerIdError::CidVersion(2)));
        let sha3 = Multihash::wrap(multihash::code::SHA3_256, &[0; 32]).unwrap();
        assert_eq!(
            PeerId::from_multihash(sha3),
            Err(PeerIdError::UnsupportedHash(multihash::code::SHA3_256))
        );
        let long = Multihash::identity(&[0; 43]).unwrap();
        assert_eq!(
            PeerId::from_multihash(long),
            Err(PeerIdError::IdentityTooLong(43))
        );
        // The input the fuzzer found: a 7-byte (truncated) sha2-256 multihash.
        assert_eq!(
            PeerId::from_bytes(&[18, 7, 8, 9, 14, 15, 16, 30, 31]),
            Err(PeerIdError::TruncatedSha256(7))
        );
        assert!(PeerId::parse("").is_err());
        assert!(PeerId::parse("x").is_err());
        assert!(PeerId::parse(&"1".repeat(200)).is_err());
        assert!(PeerId::parse(&"b".repeat(1000)).is_err());
    }

    #[test]
    fn every_base_fits() {
        let max = PeerId::from_multihash(Multihash::identity(&[0xff; 42]).unwrap()).unwrap();
        for base in Base::ALL {
            let mut buf = [0u8; MAX_CID_TEXT_LEN];
            let text = max.to_cid_text(base, &mut buf).unwrap();
            assert_eq!(PeerId::parse(text), Ok(max), "{base:?}");
        }
        assert!(max.to_string().len() <= MAX_BASE58_LEN);
        assert_eq!(PeerId::parse(&max.to_string()), Ok(max));
    }

    fn arb_peer_id() -> impl Strategy<Value = PeerId> {
        prop_oneof![
            any::<[u8; 32]>()
                .prop_map(|d| PeerId::from_multihash(Multihash::wrap(0x12, &d).unwrap()).unwrap()),
            proptest::collection::vec(any::<u8>(), 0..=42)
                .prop_map(|d| PeerId::from_multihash(Multihash::identity(&d).unwrap()).unwrap()),
        ]
    }

    proptest! {
        #[test]
        fn round_trips(id in arb_peer_id(), base_index in 0usize..13) {
            prop_assert_eq!(PeerId::from_bytes(&id.to_bytes()), Ok(id));
            let text = id.to_string();
            // Base58 of a multihash starts with '1' (identity) or "Qm" (sha2-256).
            prop_assert!(text.starts_with('1') || text.starts_with("Qm"));
            prop_assert_eq!(text.parse::<PeerId>(), Ok(id));
            let base = Base::ALL[base_index];
            prop_assert_eq!(PeerId::parse(&id.to_cid_string(base)), Ok(id));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(id) = PeerId::from_bytes(&bytes) {
                prop_assert_eq!(&id.to_bytes()[..], &bytes[..]);
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
            if let Ok(id) = PeerId::parse(&text) {
                prop_assert_eq!(PeerId::parse(&id.to_string()), Ok(id));
            }
        }

        #[test]
        fn arbitrary_base58ish_text_never_panics(text in "[1Qmbkzf][1-9A-Za-z]{0,70}") {
            let _ = PeerId::parse(&text);
        }
    }
}
