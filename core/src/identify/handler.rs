//! The identify stream handlers: one side writes its identify message and closes, the other
//! reads it.
//!
//! | protocol              | opens the stream        | accepts the stream      |
//! |-----------------------|-------------------------|-------------------------|
//! | `/ipfs/id/1.0.0`      | [`IdentifyRequester`]   | [`IdentifyResponder`]   |
//! | `/ipfs/id/push/1.0.0` | [`IdentifyPushSender`]  | [`IdentifyPushReceiver`]|
//!
//! A push is the same exchange with the roles swapped: the side that opens writes. So
//! [`IdentifyPushSender`] is an [`IdentifyResponder`] and [`IdentifyPushReceiver`] an
//! [`IdentifyRequester`]. Both are [`StreamHandler`]s: see [`crate::stream`] for the call
//! order.
//!
//! # Where the received message lives
//! The requester keeps the message in its own fixed buffer (`N` bytes, [`MAX_MESSAGE_LEN`] by
//! default). [`IdentifyEvent::Received`] carries no data; on it, read the message with
//! [`IdentifyRequester::message`], a view borrowing that buffer, before dropping the handler.
//! No heap is needed, and the event stays `Copy`.
//!
//! # Q&A
//! *What about a message in several frames?* go-libp2p sends a long message as several
//! length-prefixed frames (the signed peer record apart) and merges up to ten on receipt. The
//! requester does the same: it appends the frames' payloads (protobuf merging is
//! concatenation) up to [`MAX_FRAMES`] frames and `N` bytes in all, and decodes the whole at
//! the end of the stream.
//!
//! *Why a timeout?* A stream that neither sends its message nor closes would otherwise be
//! held for ever; [`DEFAULT_TIMEOUT`] (60 s) is generous for one message.

use super::message::{Identify, IdentifyBuilder, MAX_MESSAGE_LEN, MAX_SENT_MESSAGE_LEN};
use crate::stream::StreamHandler;
use crate::time::{Duration, Instant};
use crate::wire::frame::FrameError;
use crate::wire::proto::ProtoError;
use crate::wire::varint::{self, VarintError};

/// How long an identify stream may take, from its start, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The most frames a requester merges into one message (go-libp2p's limit).
pub const MAX_FRAMES: usize = 10;
/// The default capacity of a responder's frame: the largest message worth sending, with its
/// length prefix.
pub const SENT_FRAME_CAPACITY: usize =
    varint::encoded_len(MAX_SENT_MESSAGE_LEN as u64) + MAX_SENT_MESSAGE_LEN;

/// What an identify handler tells the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentifyEvent {
    /// The whole message was written.
    Sent,
    /// A valid message arrived and the peer closed: read it with
    /// [`IdentifyRequester::message`].
    Received,
}

/// Why an identify handler gave up on its stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentifyStreamError {
    /// A frame's length prefix is malformed.
    Frame(FrameError),
    /// The frames add up to more than the requester holds.
    TooLong {
        /// The most the requester holds.
        max: usize,
    },
    /// More than [`MAX_FRAMES`] frames.
    TooManyFrames,
    /// The peer closed inside a frame.
    Truncated,
    /// The peer closed without sending a message.
    NoMessage,
    /// The merged message is not a valid identify message.
    Message(ProtoError),
    /// The peer sent bytes to the side that only writes.
    UnexpectedData,
    /// The stream took longer than its timeout.
    Timeout,
}

impl core::fmt::Display for IdentifyStreamError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IdentifyStreamError::Frame(e) => write!(f, "identify: {e}"),
            IdentifyStreamError::TooLong { max } => {
                write!(f, "identify: message longer than {max} bytes")
            }
            IdentifyStreamError::TooManyFrames => f.write_str("identify: too many frames"),
            IdentifyStreamError::Truncated => f.write_str("identify: stream closed inside a frame"),
            IdentifyStreamError::NoMessage => {
                f.write_str("identify: stream closed without a message")
            }
            IdentifyStreamError::Message(e) => write!(f, "identify: {e}"),
            IdentifyStreamError::UnexpectedData => {
                f.write_str("identify: peer sent unexpected bytes")
            }
            IdentifyStreamError::Timeout => f.write_str("identify: stream timed out"),
        }
    }
}

impl core::error::Error for IdentifyStreamError {}

/// Why a responder could not be made from a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentifyEncodeError {
    /// The message is longer than [`MAX_SENT_MESSAGE_LEN`] or the responder's capacity.
    TooLong {
        /// The message's length, or its frame's when the capacity is what it exceeds.
        len: usize,
        /// The limit it exceeds.
        max: usize,
    },
}

impl core::fmt::Display for IdentifyEncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IdentifyEncodeError::TooLong { len, max } => {
                write!(f, "identify: {len}-byte message over the limit of {max}")
            }
        }
    }
}

impl core::error::Error for IdentifyEncodeError {}

/// Writes one identify message on a stream and closes: the accepting side of
/// `/ipfs/id/1.0.0`, the opening side of a push.
///
/// The frame is copied into the handler at construction (`N` bytes at most,
/// [`SENT_FRAME_CAPACITY`] by default).
#[derive(Clone, Debug)]
pub struct IdentifyResponder<const N: usize = SENT_FRAME_CAPACITY> {
    frame: heapless::Vec<u8, N>,
    written: usize,
    deadline: Instant,
    remote_closed: bool,
    /// Everything was sent and the timeout passed without the peer closing.
    abandoned: bool,
    sent_event: bool,
}

/// The opening side of an identify push: writes its message and closes.
pub type IdentifyPushSender<const N: usize = SENT_FRAME_CAPACITY> = IdentifyResponder<N>;

impl<const N: usize> IdentifyResponder<N> {
    /// A responder for a stream started at `now`, sending the message `builder` describes.
    pub fn new(now: Instant, builder: &IdentifyBuilder<'_>) -> Result<Self, IdentifyEncodeError> {
        let len = builder.encoded_len();
        let mut frame = Self::frame_for(len)?;
        let written =
            builder
                .encode_frame(&mut frame)
                .map_err(|e| IdentifyEncodeError::TooLong {
                    len: e.required,
                    max: N,
                })?;
        frame.truncate(written);
        Ok(Self::with_frame(now, frame))
    }

    /// A responder sending `message`, an encoded identify message without length prefix
    /// (e.g. one the application keeps ready).
    pub fn from_message(now: Instant, message: &[u8]) -> Result<Self, IdentifyEncodeError> {
        let mut frame = Self::frame_for(message.len())?;
        let prefix = varint::Varint::new(message.len() as u64).map_err(|_| {
            IdentifyEncodeError::TooLong {
                len: message.len(),
                max: MAX_SENT_MESSAGE_LEN,
            }
        })?;
        let (head, body) = frame.split_at_mut(prefix.len());
        head.copy_from_slice(&prefix);
        body.copy_from_slice(message);
        Ok(Self::with_frame(now, frame))
    }

    /// Sets how long the stream may take from its start (default [`DEFAULT_TIMEOUT`]);
    /// `now` is the stream's start, as given to the constructor.
    pub fn with_timeout(mut self, now: Instant, timeout: Duration) -> Self {
        self.deadline = now + timeout;
        self
    }

    /// A zeroed buffer the size of the frame for a `len`-byte message.
    fn frame_for(len: usize) -> Result<heapless::Vec<u8, N>, IdentifyEncodeError> {
        if len > MAX_SENT_MESSAGE_LEN {
            return Err(IdentifyEncodeError::TooLong {
                len,
                max: MAX_SENT_MESSAGE_LEN,
            });
        }
        let frame_len = varint::encoded_len(len as u64) + len;
        let mut frame = heapless::Vec::new();
        frame
            .resize(frame_len, 0)
            .map_err(|_| IdentifyEncodeError::TooLong {
                len: frame_len,
                max: N,
            })?;
        Ok(frame)
    }

    fn with_frame(now: Instant, frame: heapless::Vec<u8, N>) -> Self {
        IdentifyResponder {
            frame,
            written: 0,
            deadline: now + DEFAULT_TIMEOUT,
            remote_closed: false,
            abandoned: false,
            sent_event: false,
        }
    }

    /// The frame this responder sends: the length prefix and the message.
    pub fn frame(&self) -> &[u8] {
        &self.frame
    }

    fn all_sent(&self) -> bool {
        self.written == self.frame.len()
    }
}

impl<const N: usize> StreamHandler for IdentifyResponder<N> {
    type Event = IdentifyEvent;
    type Error = IdentifyStreamError;

    fn handle_input(&mut self, _now: Instant, input: &[u8]) -> Result<usize, IdentifyStreamError> {
        if input.is_empty() {
            return Ok(0);
        }
        Err(IdentifyStreamError::UnexpectedData)
    }

    fn handle_remote_close(&mut self, _now: Instant) -> Result<(), IdentifyStreamError> {
        self.remote_closed = true;
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), IdentifyStreamError> {
        if self.is_done() || now < self.deadline {
            return Ok(());
        }
        if self.all_sent() {
            // The message went out; the peer just never closed. Nothing is lost.
            self.abandoned = true;
            return Ok(());
        }
        Err(IdentifyStreamError::Timeout)
    }

    fn poll_transmit(&mut self, _now: Instant, out: &mut [u8]) -> usize {
        let rest = &self.frame[self.written..];
        let n = rest.len().min(out.len());
        out[..n].copy_from_slice(&rest[..n]);
        self.written += n;
        if n > 0 && self.all_sent() {
            self.sent_event = true;
        }
        n
    }

    fn poll_event(&mut self) -> Option<IdentifyEvent> {
        core::mem::take(&mut self.sent_event).then_some(IdentifyEvent::Sent)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (!self.is_done()).then_some(self.deadline)
    }

    fn wants_close(&self) -> bool {
        self.all_sent()
    }

    fn is_done(&self) -> bool {
        self.all_sent() && (self.remote_closed || self.abandoned)
    }

    fn max_input_len(&self) -> usize {
        1
    }
}

/// Where the requester is in the frame it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FrameState {
    /// Reading a length prefix; `len` bytes of it so far.
    Prefix {
        bytes: [u8; varint::MAX_LEN],
        len: usize,
    },
    /// Reading a payload; `remaining` bytes of it to go.
    Payload { remaining: usize },
}

/// Reads one identify message (in up to [`MAX_FRAMES`] frames) until the peer closes: the
/// opening side of `/ipfs/id/1.0.0`, the accepting side of a push.
///
/// Holds the message in a buffer of `N` bytes ([`MAX_MESSAGE_LEN`] by default); a longer one
/// fails the stream as soon as a length prefix announces it.
#[derive(Clone, Debug)]
pub struct IdentifyRequester<const N: usize = MAX_MESSAGE_LEN> {
    message: heapless::Vec<u8, N>,
    state: FrameState,
    frames: usize,
    deadline: Instant,
    received: bool,
    received_event: bool,
}

/// The accepting side of an identify push: reads the pushed message.
pub type IdentifyPushReceiver<const N: usize = MAX_MESSAGE_LEN> = IdentifyRequester<N>;

impl<const N: usize> IdentifyRequester<N> {
    /// A requester for a stream started at `now`.
    pub fn new(now: Instant) -> Self {
        IdentifyRequester {
            message: heapless::Vec::new(),
            state: FrameState::Prefix {
                bytes: [0; varint::MAX_LEN],
                len: 0,
            },
            frames: 0,
            deadline: now + DEFAULT_TIMEOUT,
            received: false,
            received_event: false,
        }
    }

    /// Sets how long the stream may take from its start (default [`DEFAULT_TIMEOUT`]);
    /// `now` is the stream's start, as given to the constructor.
    pub fn with_timeout(mut self, now: Instant, timeout: Duration) -> Self {
        self.deadline = now + timeout;
        self
    }

    /// The received message, once [`IdentifyEvent::Received`] has been reported.
    pub fn message(&self) -> Option<Identify<'_>> {
        if !self.received {
            return None;
        }
        // Validated when it was received; decoding again is a cheap scan.
        Identify::decode(&self.message).ok()
    }

    /// The received message's bytes (all frames' payloads, merged), once received.
    pub fn message_bytes(&self) -> Option<&[u8]> {
        self.received.then_some(&self.message[..])
    }

    fn start_payload(&mut self, len: u64) -> Result<(), IdentifyStreamError> {
        let max = N.min(MAX_MESSAGE_LEN);
        let room = max - self.message.len();
        let too_long = IdentifyStreamError::TooLong { max };
        let len = usize::try_from(len).map_err(|_| too_long)?;
        if len > room {
            return Err(too_long);
        }
        self.frames += 1;
        if self.frames > MAX_FRAMES {
            return Err(IdentifyStreamError::TooManyFrames);
        }
        self.state = FrameState::Payload { remaining: len };
        Ok(())
    }
}

impl<const N: usize> StreamHandler for IdentifyRequester<N> {
    type Event = IdentifyEvent;
    type Error = IdentifyStreamError;

    fn handle_input(&mut self, _now: Instant, input: &[u8]) -> Result<usize, IdentifyStreamError> {
        let mut used = 0;
        while used < input.len() {
            match &mut self.state {
                FrameState::Prefix { bytes, len } => {
                    // A prefix is at most a few bytes: take them one at a time.
                    bytes[*len] = input[used];
                    *len += 1;
                    used += 1;
                    match varint::decode(&bytes[..*len]) {
                        Ok((value, _)) => self.start_payload(value)?,
                        Err(VarintError::Incomplete) if *len < varint::MAX_LEN => {}
                        Err(VarintError::Incomplete) => {
                            return Err(IdentifyStreamError::Frame(FrameError::Length(
                                VarintError::Overflow,
                            )));
                        }
                        Err(e) => return Err(IdentifyStreamError::Frame(FrameError::Length(e))),
                    }
                }
                FrameState::Payload { remaining } => {
                    let take = (*remaining).min(input.len() - used);
                    *remaining -= take;
                    let done = *remaining == 0;
                    self.message
                        .extend_from_slice(&input[used..used + take])
                        .map_err(|_| IdentifyStreamError::TooLong { max: N })?;
                    used += take;
                    if done {
                        self.state = FrameState::Prefix {
                            bytes: [0; varint::MAX_LEN],
                            len: 0,
                        };
                    }
                }
            }
        }
        Ok(used)
    }

    fn handle_remote_close(&mut self, _now: Instant) -> Result<(), IdentifyStreamError> {
        match self.state {
            FrameState::Prefix { len: 0, .. } if self.frames == 0 => {
                return Err(IdentifyStreamError::NoMessage);
            }
            FrameState::Prefix { len: 0, .. } => {}
            FrameState::Payload { remaining: 0 } => {}
            _ => return Err(IdentifyStreamError::Truncated),
        }
        Identify::decode(&self.message).map_err(IdentifyStreamError::Message)?;
        self.received = true;
        self.received_event = true;
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), IdentifyStreamError> {
        if !self.received && now >= self.deadline {
            return Err(IdentifyStreamError::Timeout);
        }
        Ok(())
    }

    fn poll_transmit(&mut self, _now: Instant, _out: &mut [u8]) -> usize {
        0
    }

    fn poll_event(&mut self) -> Option<IdentifyEvent> {
        core::mem::take(&mut self.received_event).then_some(IdentifyEvent::Received)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (!self.received).then_some(self.deadline)
    }

    fn wants_close(&self) -> bool {
        self.received
    }

    fn is_done(&self) -> bool {
        self.received
    }

    fn max_input_len(&self) -> usize {
        1
    }
}

#[cfg(test)]
mod tests;
