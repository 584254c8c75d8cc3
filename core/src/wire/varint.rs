//! Unsigned varints as the multiformats spec defines them.
//!
//! LEB128, least significant group first, at most 9 bytes (so at most 63 bits), and the encoding
//! must be minimal: a trailing `0x00` group (as in `0x80 0x00` for zero) is rejected. These are
//! the varints of multihash, multicodec, CID, multiaddr and the length prefixes of libp2p
//! streams. Protobuf's own varints (10 bytes, non-minimal allowed) live in
//! [`crate::wire::proto`].

use super::BufferTooSmall;

/// The most bytes an unsigned varint may take.
pub const MAX_LEN: usize = 9;
/// The largest value an unsigned varint can carry (2^63 - 1).
pub const MAX_VALUE: u64 = (1 << 63) - 1;

/// Why a varint could not be read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarintError {
    /// The input ended inside the varint; more bytes may complete it.
    Incomplete,
    /// More than [`MAX_LEN`] bytes, or a value above [`MAX_VALUE`].
    Overflow,
    /// The encoding is longer than needed (a trailing zero group).
    NotMinimal,
}

impl core::fmt::Display for VarintError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            VarintError::Incomplete => "varint: input ends inside the varint",
            VarintError::Overflow => "varint: longer than 9 bytes or above 2^63-1",
            VarintError::NotMinimal => "varint: not minimally encoded",
        })
    }
}

impl core::error::Error for VarintError {}

/// Reads one varint from the front of `input`: the value and how many bytes it took.
pub fn decode(input: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut value: u64 = 0;
    for (i, &byte) in input.iter().enumerate() {
        if i == MAX_LEN {
            return Err(VarintError::Overflow);
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return Err(VarintError::NotMinimal);
            }
            return Ok((value, i + 1));
        }
    }
    if input.len() >= MAX_LEN {
        Err(VarintError::Overflow)
    } else {
        Err(VarintError::Incomplete)
    }
}

/// Reads one varint from the front of `input`, which must hold nothing else before `rest`.
/// Returns the value and the remaining bytes.
pub fn split(input: &[u8]) -> Result<(u64, &[u8]), VarintError> {
    let (value, len) = decode(input)?;
    Ok((value, &input[len..]))
}

/// How many bytes `value` takes as a varint (values above [`MAX_VALUE`] count as 10).
pub const fn encoded_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// A varint encoded on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Varint {
    bytes: [u8; MAX_LEN],
    len: u8,
}

impl Varint {
    /// Encodes `value`, or fails with [`VarintError::Overflow`] above [`MAX_VALUE`].
    pub const fn new(value: u64) -> Result<Self, VarintError> {
        if value > MAX_VALUE {
            return Err(VarintError::Overflow);
        }
        let mut bytes = [0u8; MAX_LEN];
        let mut v = value;
        let mut len = 0;
        loop {
            let group = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                bytes[len] = group;
                len += 1;
                break;
            }
            bytes[len] = group | 0x80;
            len += 1;
        }
        Ok(Varint {
            bytes,
            len: len as u8,
        })
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl core::ops::Deref for Varint {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl core::fmt::Debug for Varint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Varint({:02x?})", self.as_bytes())
    }
}

/// Why [`encode`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The value is above [`MAX_VALUE`].
    Overflow,
    /// The output buffer is too small.
    BufferTooSmall(BufferTooSmall),
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EncodeError::Overflow => VarintError::Overflow.fmt(f),
            EncodeError::BufferTooSmall(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for EncodeError {}

impl From<BufferTooSmall> for EncodeError {
    fn from(e: BufferTooSmall) -> Self {
        EncodeError::BufferTooSmall(e)
    }
}

/// Writes `value` as a varint to the front of `out`; returns the bytes written.
pub fn encode(value: u64, out: &mut [u8]) -> Result<usize, EncodeError> {
    let v = Varint::new(value).map_err(|_| EncodeError::Overflow)?;
    Ok(super::put(out, v.as_bytes())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // The examples of the multiformats unsigned-varint spec
    // (github.com/multiformats/unsigned-varint, README "Examples").
    const SPEC_EXAMPLES: &[(u64, &[u8])] = &[
        (1, &[0x01]),
        (127, &[0x7f]),
        (128, &[0x80, 0x01]),
        (255, &[0xff, 0x01]),
        (300, &[0xac, 0x02]),
        (16384, &[0x80, 0x80, 0x01]),
    ];

    #[test]
    fn spec_examples() {
        for &(value, bytes) in SPEC_EXAMPLES {
            assert_eq!(Varint::new(value).unwrap().as_bytes(), bytes, "{value}");
            assert_eq!(decode(bytes), Ok((value, bytes.len())), "{value}");
            assert_eq!(encoded_len(value), bytes.len());
        }
    }

    #[test]
    fn limits() {
        let max = Varint::new(MAX_VALUE).unwrap();
        assert_eq!(max.len(), MAX_LEN);
        assert_eq!(decode(&max), Ok((MAX_VALUE, 9)));
        assert_eq!(Varint::new(MAX_VALUE + 1), Err(VarintError::Overflow));
        // A tenth byte is never allowed, even if it would be a valid LEB128 value.
        assert_eq!(decode(&[0xff; 9]), Err(VarintError::Overflow));
        assert_eq!(decode(&[0x80; 12]), Err(VarintError::Overflow));
        assert_eq!(decode(&[0x80, 0x80]), Err(VarintError::Incomplete));
        assert_eq!(decode(&[]), Err(VarintError::Incomplete));
        assert_eq!(decode(&[0x80, 0x00]), Err(VarintError::NotMinimal));
        assert_eq!(decode(&[0x81, 0x80, 0x00]), Err(VarintError::NotMinimal));
        assert_eq!(decode(&[0x00]), Ok((0, 1)));
        let mut small = [0u8; 1];
        assert_eq!(
            encode(300, &mut small),
            Err(EncodeError::BufferTooSmall(BufferTooSmall { required: 2 }))
        );
        assert_eq!(encode(u64::MAX, &mut [0u8; 10]), Err(EncodeError::Overflow));
    }

    proptest! {
        #[test]
        fn round_trip(value in 0..=MAX_VALUE, tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let v = Varint::new(value).unwrap();
            prop_assert_eq!(v.len(), encoded_len(value));
            let mut bytes = v.as_bytes().to_vec();
            bytes.extend_from_slice(&tail);
            prop_assert_eq!(split(&bytes), Ok((value, &tail[..])));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            if let Ok((value, len)) = decode(&bytes) {
                // Whatever decodes re-encodes to exactly the bytes it came from.
                let again = Varint::new(value).unwrap();
                prop_assert_eq!(again.as_bytes(), &bytes[..len]);
            }
        }
    }
}
