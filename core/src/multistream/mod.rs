//! multistream-select 1.0: agreeing on the protocol a connection or stream speaks.
//!
//! Each message is a varint-length-prefixed line ending in `\n`. Both sides send the header
//! `/multistream/1.0.0`; the dialer proposes protocol ids one at a time, and the listener echoes
//! the one it supports or answers `na`. A listener also answers `ls` with the protocols it
//! supports. See libp2p/specs `connections/README.md` and multiformats/multistream-select.
//!
//! [`MultistreamDialer`] and [`MultistreamListener`] are sans-IO negotiators for one stream.
//! Neither keeps a copy of the protocol ids: the caller owns the list and passes the same slice
//! to every call, so a negotiator is a few bytes and has no lifetime.
//!
//! # Call order
//! 1. `poll_transmit(out, protocols)` until it returns `Ok(None)`, sending what it wrote.
//! 2. On received bytes: `handle_input(input, protocols)` returns how many bytes it used. It
//!    only consumes whole messages and stops at the end of the negotiation, so the bytes after
//!    the returned count (those it did not use) belong to the negotiated protocol, or are the
//!    start of a message that is not complete yet (keep them and call again with more).
//! 3. `outcome()` says when the negotiation has ended. Go back to 1 after every input.
//!
//! A dialer with one protocol may be *lazy* (rust-libp2p's `V1Lazy`): it sends the header and
//! its proposal together and reports the protocol as agreed at once, so the application can
//! send data in the same round trip. The listener's confirmation is still read and checked
//! before any of the listener's protocol data is handed on; a refusal then is
//! [`MultistreamError::LazyProposalRefused`].
//!
//! Messages above the negotiator's `max_message_len` are rejected as soon as their length is
//! read, so the caller never has to buffer more than `max_message_len + 2` bytes.

mod negotiator;

pub use negotiator::{MultistreamDialer, MultistreamListener, Outcome};

use crate::wire::frame::FrameError;

/// The protocol id of multistream-select 1.0.
pub const PROTOCOL_ID: &str = "/multistream/1.0.0";

/// The default limit on one message: protocol ids are short; `ls` answers are bounded by this.
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 1024;

/// The largest limit a negotiator accepts: rust-libp2p and go-multistream frame messages with
/// at most a 2-byte length prefix (16383 bytes).
pub const MAX_MESSAGE_LEN: usize = 16383;

/// How many proposals a listener answers with `na` before giving up on the stream.
pub const DEFAULT_MAX_PROPOSALS: u16 = 32;

/// Why a negotiation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MultistreamError {
    /// The peer's first message is not the multistream-select 1.0 header.
    NotMultistream,
    /// A message is not a valid protocol id, `na` or `ls` line.
    InvalidMessage,
    /// A message that is valid but not allowed at this point of the negotiation.
    UnexpectedMessage,
    /// A message's length prefix is malformed or above the limit.
    Frame(FrameError),
    /// The peer proposed more protocols than the listener answers.
    TooManyProposals,
    /// The listener refused the protocol that a lazy dialer had already started to speak.
    LazyProposalRefused,
    /// A local protocol id is invalid (it must start with `/`, have no `\n`, and fit the limit).
    InvalidProtocolId,
    /// A dialer was given no protocol to propose.
    NoProtocols,
}

impl core::fmt::Display for MultistreamError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MultistreamError::NotMultistream => {
                f.write_str("peer does not speak multistream-select 1.0")
            }
            MultistreamError::InvalidMessage => f.write_str("invalid multistream-select message"),
            MultistreamError::UnexpectedMessage => {
                f.write_str("unexpected multistream-select message")
            }
            MultistreamError::Frame(e) => write!(f, "multistream-select: {e}"),
            MultistreamError::TooManyProposals => f.write_str("peer proposed too many protocols"),
            MultistreamError::LazyProposalRefused => {
                f.write_str("peer refused the protocol that was sent optimistically")
            }
            MultistreamError::InvalidProtocolId => f.write_str("invalid local protocol id"),
            MultistreamError::NoProtocols => f.write_str("no protocol to propose"),
        }
    }
}

impl core::error::Error for MultistreamError {}

impl From<FrameError> for MultistreamError {
    fn from(e: FrameError) -> Self {
        MultistreamError::Frame(e)
    }
}

/// Checks that `id` can be sent as a protocol id with messages of at most `max_message_len`.
pub fn validate_protocol_id(id: &str, max_message_len: usize) -> Result<(), MultistreamError> {
    if !id.starts_with('/') || id.contains('\n') || id.len() + 1 > max_message_len {
        return Err(MultistreamError::InvalidProtocolId);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
