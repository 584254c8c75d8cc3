//! Length-prefixed frames: an unsigned varint length, then that many bytes.
//!
//! This is how multistream-select, identify, Kademlia, Bitswap and gossipsub delimit messages
//! on a stream. Every reader states the largest frame it accepts, so a peer cannot make the
//! core buffer more than that.

use super::BufferTooSmall;
use super::varint::{self, VarintError};

/// Why a frame could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix is not a valid varint.
    Length(VarintError),
    /// The frame is longer than the reader accepts.
    TooLong {
        /// The length the peer announced.
        len: u64,
        /// The most the reader accepts.
        max: usize,
    },
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::Length(e) => write!(f, "frame length: {e}"),
            FrameError::TooLong { len, max } => {
                write!(f, "frame of {len} bytes is over the limit of {max}")
            }
        }
    }
}

impl core::error::Error for FrameError {}

/// A complete frame found at the front of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The frame's payload, without its length prefix.
    pub payload: &'a [u8],
    /// How many input bytes the frame took, prefix included.
    pub consumed: usize,
}

/// Reads one frame from the front of `input`.
///
/// `Ok(None)` means the input holds only the start of a frame: call again with more bytes.
/// A length above `max_len` fails as soon as the prefix is read, before any payload arrives.
pub fn decode(input: &[u8], max_len: usize) -> Result<Option<Frame<'_>>, FrameError> {
    let (len, prefix) = match varint::decode(input) {
        Ok(v) => v,
        Err(VarintError::Incomplete) => return Ok(None),
        Err(e) => return Err(FrameError::Length(e)),
    };
    let too_long = FrameError::TooLong { len, max: max_len };
    let len = usize::try_from(len).map_err(|_| too_long)?;
    if len > max_len {
        return Err(too_long);
    }
    let end = prefix.checked_add(len).ok_or(too_long)?;
    Ok(input.get(prefix..end).map(|payload| Frame {
        payload,
        consumed: end,
    }))
}

/// Writes `payload` with its length prefix to the front of `out`; returns the bytes written.
pub fn encode(payload: &[u8], out: &mut [u8]) -> Result<usize, BufferTooSmall> {
    let prefix = varint::Varint::new(payload.len() as u64).map_err(|_| BufferTooSmall {
        required: usize::MAX,
    })?;
    let required = prefix.len() + payload.len();
    if out.len() < required {
        return Err(BufferTooSmall { required });
    }
    out[..prefix.len()].copy_from_slice(&prefix);
    out[prefix.len()..required].copy_from_slice(payload);
    Ok(required)
}

/// The bytes [`encode`] writes for a payload of `len` bytes.
pub const fn encoded_len(len: usize) -> usize {
    varint::encoded_len(len as u64) + len
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn partial_and_limits() {
        let mut buf = [0u8; 300];
        let n = encode(&[7u8; 200], &mut buf).unwrap();
        assert_eq!(n, 202);
        for cut in 0..n {
            assert_eq!(decode(&buf[..cut], 1000), Ok(None), "cut at {cut}");
        }
        let frame = decode(&buf[..n], 200).unwrap().unwrap();
        assert_eq!(frame.payload, &[7u8; 200][..]);
        assert_eq!(frame.consumed, n);
        // Rejected from the prefix alone.
        assert_eq!(
            decode(&buf[..2], 199),
            Err(FrameError::TooLong { len: 200, max: 199 })
        );
        assert_eq!(
            decode(&[0x80, 0x00], 10),
            Err(FrameError::Length(VarintError::NotMinimal))
        );
        assert_eq!(
            encode(&[1, 2, 3], &mut [0u8; 3]),
            Err(BufferTooSmall { required: 4 })
        );
        assert_eq!(
            decode(&[0], 0),
            Ok(Some(Frame {
                payload: &[],
                consumed: 1
            }))
        );
    }

    proptest! {
        #[test]
        fn round_trip(payload in proptest::collection::vec(any::<u8>(), 0..400), extra in proptest::collection::vec(any::<u8>(), 0..8)) {
            let mut buf = vec![0u8; encoded_len(payload.len())];
            prop_assert_eq!(encode(&payload, &mut buf), Ok(buf.len()));
            buf.extend_from_slice(&extra);
            let frame = decode(&buf, payload.len()).unwrap().unwrap();
            prop_assert_eq!(frame.payload, &payload[..]);
            prop_assert_eq!(frame.consumed, encoded_len(payload.len()));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), max in 0usize..100) {
            if let Ok(Some(frame)) = decode(&bytes, max) {
                prop_assert!(frame.payload.len() <= max);
                prop_assert!(frame.consumed <= bytes.len());
            }
        }
    }
}
