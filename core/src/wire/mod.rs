//! Byte-level codecs shared by every protocol: unsigned varints, length-prefixed frames and
//! protobuf fields. All of them parse from borrowed bytes and write into caller buffers, so they
//! run without `alloc`; none of them panics on any input.

pub mod frame;
pub mod proto;
pub mod varint;

/// The caller's output buffer is too small for what was to be written into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferTooSmall {
    /// Bytes the whole output needs (a lower bound where the exact size is unknown).
    pub required: usize,
}

impl core::fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "output buffer too small: {} bytes required",
            self.required
        )
    }
}

impl core::error::Error for BufferTooSmall {}

/// Copies `src` to the front of `out`, or says how much room it needed.
pub(crate) fn put(out: &mut [u8], src: &[u8]) -> Result<usize, BufferTooSmall> {
    let dst = out.get_mut(..src.len()).ok_or(BufferTooSmall {
        required: src.len(),
    })?;
    dst.copy_from_slice(src);
    Ok(src.len())
}
