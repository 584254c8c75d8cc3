//! Multihash: a self-describing digest, `<varint code><varint length><digest>`.
//!
//! sha2-256 and identity are computed here; every other code (sha2-512, sha3, blake2b/s, ...) is
//! carried as an opaque digest of up to [`MAX_DIGEST_LEN`] bytes, so CIDs and PeerIds that use
//! them round-trip unchanged even though this crate cannot verify them.

use crate::wire::BufferTooSmall;
use crate::wire::varint::{self, VarintError};
use sha2::Digest as _;

/// Multicodec codes of hash functions this crate names.
pub mod code {
    /// The identity "hash": the digest is the data itself.
    pub const IDENTITY: u64 = 0x00;
    /// SHA-1 (carried, not computed).
    pub const SHA1: u64 = 0x11;
    /// SHA2-256.
    pub const SHA2_256: u64 = 0x12;
    /// SHA2-512 (carried, not computed).
    pub const SHA2_512: u64 = 0x13;
    /// SHA3-256 (carried, not computed).
    pub const SHA3_256: u64 = 0x16;
    /// BLAKE2b-256 (carried, not computed).
    pub const BLAKE2B_256: u64 = 0xb220;
    /// BLAKE3 (carried, not computed).
    pub const BLAKE3: u64 = 0x1e;
}

/// The longest digest a [`Multihash`] holds (SHA2-512, BLAKE2b-512).
pub const MAX_DIGEST_LEN: usize = 64;
/// The longest encoded multihash: two 9-byte varints can't both be maximal here, but the code
/// can be up to 9 bytes and the length 1.
pub const MAX_ENCODED_LEN: usize = varint::MAX_LEN + 1 + MAX_DIGEST_LEN;

/// Why a multihash could not be read or made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MultihashError {
    /// The code or length varint is malformed.
    Varint(VarintError),
    /// The digest is longer than [`MAX_DIGEST_LEN`].
    DigestTooLong(u64),
    /// The input ends before the announced digest length.
    Truncated,
    /// Bytes follow the multihash where none may.
    TrailingBytes,
    /// The digest length does not match what the hash function produces.
    WrongLength {
        /// The hash function's code.
        code: u64,
        /// The length given.
        len: usize,
    },
    /// The operation needs to compute this hash function, which this crate does not.
    Unsupported(u64),
}

impl core::fmt::Display for MultihashError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MultihashError::Varint(e) => write!(f, "multihash: {e}"),
            MultihashError::DigestTooLong(n) => {
                write!(f, "multihash: digest of {n} bytes is over {MAX_DIGEST_LEN}")
            }
            MultihashError::Truncated => f.write_str("multihash: input ends inside the digest"),
            MultihashError::TrailingBytes => f.write_str("multihash: trailing bytes"),
            MultihashError::WrongLength { code, len } => {
                write!(
                    f,
                    "multihash: a {len}-byte digest is wrong for code {code:#x}"
                )
            }
            MultihashError::Unsupported(c) => {
                write!(f, "multihash: hash code {c:#x} is not supported")
            }
        }
    }
}

impl core::error::Error for MultihashError {}

impl From<VarintError> for MultihashError {
    fn from(e: VarintError) -> Self {
        MultihashError::Varint(e)
    }
}

/// A multihash held inline (no heap): code, length and up to 64 digest bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Multihash {
    code: u64,
    len: u8,
    digest: [u8; MAX_DIGEST_LEN],
}

impl Multihash {
    /// Wraps a digest made elsewhere. Checks the length for the codes this crate knows the size
    /// of: sha2-256 digests are at most 32 bytes. Shorter (truncated) sha2-256 digests are
    /// valid multihashes, as go-multihash and rust-multihash read them; see
    /// [`Multihash::verify`] for what that means for verification.
    pub fn wrap(code: u64, digest: &[u8]) -> Result<Self, MultihashError> {
        if code > varint::MAX_VALUE {
            return Err(MultihashError::Varint(VarintError::Overflow));
        }
        if digest.len() > MAX_DIGEST_LEN {
            return Err(MultihashError::DigestTooLong(digest.len() as u64));
        }
        if code == code::SHA2_256 && (digest.len() > 32 || digest.is_empty()) {
            return Err(MultihashError::WrongLength {
                code,
                len: digest.len(),
            });
        }
        let mut d = [0u8; MAX_DIGEST_LEN];
        d[..digest.len()].copy_from_slice(digest);
        Ok(Multihash {
            code,
            len: digest.len() as u8,
            digest: d,
        })
    }

    /// The SHA2-256 multihash of `data`.
    pub fn sha2_256(data: &[u8]) -> Self {
        Self::from_sha2_256_digest(sha2::Sha256::digest(data).into())
    }

    /// A SHA2-256 multihash from a digest computed elsewhere (a streaming hasher, a GPU batch).
    pub fn from_sha2_256_digest(digest: [u8; 32]) -> Self {
        let mut d = [0u8; MAX_DIGEST_LEN];
        d[..32].copy_from_slice(&digest);
        Multihash {
            code: code::SHA2_256,
            len: 32,
            digest: d,
        }
    }

    /// The identity multihash of `data` (at most [`MAX_DIGEST_LEN`] bytes).
    pub fn identity(data: &[u8]) -> Result<Self, MultihashError> {
        Self::wrap(code::IDENTITY, data)
    }

    /// Computes the multihash of `data` with the hash function `code`.
    pub fn compute(code: u64, data: &[u8]) -> Result<Self, MultihashError> {
        match code {
            code::SHA2_256 => Ok(Self::sha2_256(data)),
            code::IDENTITY => Self::identity(data),
            other => Err(MultihashError::Unsupported(other)),
        }
    }

    /// Whether `data` hashes to this multihash. Fails for codes this crate cannot compute.
    ///
    /// A truncated sha2-256 digest is compared with the front of the full digest, so it proves
    /// only as much as its length: a caller that accepts content from peers should also require
    /// a minimum [`Multihash::digest`] length.
    pub fn verify(&self, data: &[u8]) -> Result<bool, MultihashError> {
        let full = Self::compute(self.code, data)?;
        Ok(match self.code {
            code::SHA2_256 => full.digest().starts_with(self.digest()),
            _ => full == *self,
        })
    }

    /// The hash function's multicodec code.
    pub fn code(&self) -> u64 {
        self.code
    }

    /// The digest bytes.
    pub fn digest(&self) -> &[u8] {
        &self.digest[..usize::from(self.len)]
    }

    /// Reads a multihash from the front of `input`; returns it and the bytes it took.
    pub fn read(input: &[u8]) -> Result<(Self, usize), MultihashError> {
        let (code, a) = varint::decode(input)?;
        let (len, b) = varint::decode(&input[a..])?;
        if len > MAX_DIGEST_LEN as u64 {
            return Err(MultihashError::DigestTooLong(len));
        }
        let start = a + b;
        let end = start + len as usize;
        let digest = input.get(start..end).ok_or(MultihashError::Truncated)?;
        Ok((Self::wrap(code, digest)?, end))
    }

    /// Parses exactly one multihash from `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MultihashError> {
        let (mh, used) = Self::read(bytes)?;
        if used != bytes.len() {
            return Err(MultihashError::TrailingBytes);
        }
        Ok(mh)
    }

    /// Bytes the encoded multihash takes.
    pub fn encoded_len(&self) -> usize {
        varint::encoded_len(self.code)
            + varint::encoded_len(u64::from(self.len))
            + usize::from(self.len)
    }

    /// Writes the encoded multihash to the front of `out`; returns the bytes written.
    pub fn write_to(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let required = self.encoded_len();
        let out = out.get_mut(..required).ok_or(BufferTooSmall { required })?;
        let code = varint::Varint::new(self.code).expect("checked at construction");
        let len = varint::Varint::new(u64::from(self.len)).expect("at most 64");
        let (a, rest) = out.split_at_mut(code.len());
        a.copy_from_slice(&code);
        let (b, c) = rest.split_at_mut(len.len());
        b.copy_from_slice(&len);
        c.copy_from_slice(self.digest());
        Ok(required)
    }

    /// The encoded multihash on the stack.
    pub fn to_bytes(&self) -> heapless::Vec<u8, MAX_ENCODED_LEN> {
        let mut v = heapless::Vec::new();
        v.resize(self.encoded_len(), 0)
            .expect("encoded_len <= MAX_ENCODED_LEN");
        let n = self.write_to(&mut v).expect("sized above");
        debug_assert_eq!(n, v.len());
        v
    }
}

impl core::fmt::Debug for Multihash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Multihash({:#x}, ", self.code)?;
        for b in self.digest() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sha2_256_known_answer() {
        // "foo" hashed with sha2-256, from the multihash spec's README examples.
        let mh = Multihash::sha2_256(b"foo");
        assert_eq!(
            hex::encode(mh.to_bytes()),
            "12202c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
        );
        assert_eq!(mh.verify(b"foo"), Ok(true));
        assert_eq!(mh.verify(b"bar"), Ok(false));
    }

    #[test]
    fn errors() {
        assert_eq!(
            Multihash::from_bytes(&[0x12, 0x20, 1]),
            Err(MultihashError::Truncated)
        );
        // sha2-256 digests may be truncated, but never longer than 32 bytes, nor empty.
        let mut long = vec![0x12, 33];
        long.extend_from_slice(&[0; 33]);
        assert_eq!(
            Multihash::from_bytes(&long),
            Err(MultihashError::WrongLength {
                code: 0x12,
                len: 33
            })
        );
        assert_eq!(
            Multihash::from_bytes(&[0x12, 0x00]),
            Err(MultihashError::WrongLength { code: 0x12, len: 0 })
        );
        let short = Multihash::from_bytes(&[0x12, 0x01, 0x2c]).unwrap();
        assert_eq!(short.verify(b"foo"), Ok(true)); // sha2-256("foo") starts with 2c
        assert_eq!(short.verify(b"bar"), Ok(false));
        assert_eq!(
            Multihash::from_bytes(&[0x00, 0x41]),
            Err(MultihashError::DigestTooLong(65))
        );
        assert_eq!(
            Multihash::from_bytes(&[0x00, 0x00, 0x00]),
            Err(MultihashError::TrailingBytes)
        );
        assert_eq!(
            Multihash::identity(&[0; 65]),
            Err(MultihashError::DigestTooLong(65))
        );
        let opaque = Multihash::wrap(code::SHA3_256, &[1; 32]).unwrap();
        assert_eq!(
            opaque.verify(b""),
            Err(MultihashError::Unsupported(code::SHA3_256))
        );
        let mut small = [0u8; 3];
        assert_eq!(
            opaque.write_to(&mut small),
            Err(BufferTooSmall { required: 34 })
        );
    }

    proptest! {
        #[test]
        fn round_trip(code in 0..=varint::MAX_VALUE, digest in proptest::collection::vec(any::<u8>(), 0..=64)) {
            prop_assume!(code != code::SHA2_256 || digest.len() == 32);
            let mh = Multihash::wrap(code, &digest).unwrap();
            prop_assert_eq!(Multihash::from_bytes(&mh.to_bytes()), Ok(mh));
            prop_assert_eq!(mh.digest(), &digest[..]);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok((mh, used)) = Multihash::read(&bytes) {
                prop_assert_eq!(&mh.to_bytes()[..], &bytes[..used]);
            }
        }
    }
}
