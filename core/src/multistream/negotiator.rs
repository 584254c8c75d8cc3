//! The dialer and listener state machines; see the module documentation for the call order.

use super::{
    DEFAULT_MAX_MESSAGE_LEN, DEFAULT_MAX_PROPOSALS, MAX_MESSAGE_LEN, MultistreamError, PROTOCOL_ID,
    validate_protocol_id,
};
use crate::wire::BufferTooSmall;
use crate::wire::frame;
use crate::wire::varint;

/// How a negotiation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Both sides speak `protocols[index]` from now on.
    Agreed {
        /// The index into the caller's protocol list.
        index: usize,
    },
    /// The listener refused every protocol the dialer proposed.
    Refused,
}

/// A message waiting to be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Msg {
    Header,
    /// A protocol id from the caller's list: a dialer's proposal or a listener's echo.
    Protocol(u16),
    Na,
    /// A listener's answer to `ls`.
    List,
}

/// Messages waiting to be sent. A few slots suffice: when it is full, `handle_input` stops
/// reading until the caller has drained `poll_transmit` (backpressure, not growth).
#[derive(Clone, Debug, Default)]
struct Outbox {
    queue: heapless::Deque<Msg, 4>,
}

impl Outbox {
    fn push(&mut self, msg: Msg) {
        // Callers check `is_full` before reading a message that may queue an answer, and each
        // message read queues at most one; the header and first proposal fit an empty queue.
        let pushed = self.queue.push_back(msg);
        debug_assert!(pushed.is_ok(), "outbox overflow");
    }

    fn is_full(&self) -> bool {
        self.queue.is_full()
    }

    /// Writes as many whole queued messages as fit in `out`.
    fn write(
        &mut self,
        out: &mut [u8],
        protocols: &[&str],
        max_message_len: usize,
    ) -> Result<Option<usize>, BufferTooSmall> {
        let mut written = 0;
        while let Some(&msg) = self.queue.front() {
            match write_msg(msg, &mut out[written..], protocols, max_message_len) {
                Ok(n) => written += n,
                Err(e) if written == 0 => return Err(e),
                Err(_) => break,
            }
            self.queue.pop_front();
        }
        Ok((written > 0).then_some(written))
    }
}

/// Writes one length-prefixed line.
fn write_line(out: &mut [u8], parts: &[&[u8]]) -> Result<usize, BufferTooSmall> {
    let body: usize = parts.iter().map(|p| p.len()).sum::<usize>() + 1;
    let prefix = varint::Varint::new(body as u64).map_err(|_| BufferTooSmall {
        required: usize::MAX,
    })?;
    let required = prefix.len() + body;
    let out = out.get_mut(..required).ok_or(BufferTooSmall { required })?;
    out[..prefix.len()].copy_from_slice(&prefix);
    let mut at = prefix.len();
    for p in parts {
        out[at..at + p.len()].copy_from_slice(p);
        at += p.len();
    }
    out[at] = b'\n';
    Ok(required)
}

fn write_msg(
    msg: Msg,
    out: &mut [u8],
    protocols: &[&str],
    max_message_len: usize,
) -> Result<usize, BufferTooSmall> {
    match msg {
        Msg::Header => write_line(out, &[PROTOCOL_ID.as_bytes()]),
        Msg::Na => write_line(out, &[b"na"]),
        Msg::Protocol(i) => {
            let id = protocols.get(usize::from(i)).copied().unwrap_or_default();
            write_line(out, &[id.as_bytes()])
        }
        Msg::List => {
            // One message: each id as its own length-prefixed line, then a final `\n`. Ids that
            // would take the message past the limit are left out.
            let mut body = 0usize;
            let mut count = 0usize;
            for id in protocols {
                let line = varint::encoded_len(id.len() as u64 + 1) + id.len() + 1;
                if body + line + 1 > max_message_len {
                    break;
                }
                body += line;
                count += 1;
            }
            body += 1;
            let prefix = varint::Varint::new(body as u64).map_err(|_| BufferTooSmall {
                required: usize::MAX,
            })?;
            let required = prefix.len() + body;
            let out = out.get_mut(..required).ok_or(BufferTooSmall { required })?;
            out[..prefix.len()].copy_from_slice(&prefix);
            let mut at = prefix.len();
            for id in &protocols[..count] {
                at += write_line(&mut out[at..], &[id.as_bytes()])?;
            }
            out[at] = b'\n';
            Ok(required)
        }
    }
}

/// The bytes of a message body that is exactly `line` + `\n`.
fn is_line(body: &[u8], line: &[u8]) -> bool {
    body.len() == line.len() + 1 && body.ends_with(b"\n") && &body[..line.len()] == line
}

/// A protocol id line: starts with `/`, ends with its only `\n`.
fn protocol_line(body: &[u8]) -> Option<&[u8]> {
    let (last, id) = body.split_last()?;
    (*last == b'\n' && id.first() == Some(&b'/') && !id.contains(&b'\n')).then_some(id)
}

fn check_limit(max_message_len: usize) -> usize {
    max_message_len.clamp(PROTOCOL_ID.len() + 1, MAX_MESSAGE_LEN)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DialerState {
    /// Waiting for the listener's header; `proposed` is in flight.
    AwaitHeader {
        proposed: u16,
    },
    /// Waiting for the answer to `proposed`.
    AwaitAnswer {
        proposed: u16,
    },
    Agreed(u16),
    Refused,
}

/// The side that opened the stream: proposes protocols in order of preference.
#[derive(Clone, Debug)]
pub struct MultistreamDialer {
    state: DialerState,
    outbox: Outbox,
    count: u16,
    lazy: bool,
    max_message_len: usize,
}

impl MultistreamDialer {
    /// A dialer that proposes `protocols` in order. With `lazy` and exactly one protocol, the
    /// protocol counts as agreed at once (see the module documentation).
    pub fn new(protocols: &[&str], lazy: bool) -> Result<Self, MultistreamError> {
        Self::with_max_message_len(protocols, lazy, DEFAULT_MAX_MESSAGE_LEN)
    }

    /// As [`MultistreamDialer::new`], with a limit on one message (clamped to
    /// [`MAX_MESSAGE_LEN`](super::MAX_MESSAGE_LEN)).
    pub fn with_max_message_len(
        protocols: &[&str],
        lazy: bool,
        max_message_len: usize,
    ) -> Result<Self, MultistreamError> {
        let max_message_len = check_limit(max_message_len);
        if protocols.is_empty() {
            return Err(MultistreamError::NoProtocols);
        }
        let count =
            u16::try_from(protocols.len()).map_err(|_| MultistreamError::InvalidProtocolId)?;
        for id in protocols {
            validate_protocol_id(id, max_message_len)?;
        }
        let mut outbox = Outbox::default();
        outbox.push(Msg::Header);
        outbox.push(Msg::Protocol(0));
        Ok(MultistreamDialer {
            state: DialerState::AwaitHeader { proposed: 0 },
            outbox,
            count,
            lazy: lazy && count == 1,
            max_message_len,
        })
    }

    /// Writes pending messages into `out`: `Ok(None)` when there is nothing to send. Fails
    /// only if `out` cannot hold the next message.
    pub fn poll_transmit(
        &mut self,
        out: &mut [u8],
        protocols: &[&str],
    ) -> Result<Option<usize>, BufferTooSmall> {
        debug_assert_eq!(protocols.len(), usize::from(self.count));
        self.outbox.write(out, protocols, self.max_message_len)
    }

    /// Reads the listener's messages from the front of `input`; returns the bytes used.
    pub fn handle_input(
        &mut self,
        input: &[u8],
        protocols: &[&str],
    ) -> Result<usize, MultistreamError> {
        debug_assert_eq!(protocols.len(), usize::from(self.count));
        let mut used = 0;
        while !self.outbox.is_full() {
            let proposed = match self.state {
                DialerState::AwaitHeader { proposed } | DialerState::AwaitAnswer { proposed } => {
                    proposed
                }
                DialerState::Agreed(_) | DialerState::Refused => break,
            };
            let Some(frame) = frame::decode(&input[used..], self.max_message_len)? else {
                break;
            };
            used += frame.consumed;
            let body = frame.payload;
            if let DialerState::AwaitHeader { .. } = self.state {
                if !is_line(body, PROTOCOL_ID.as_bytes()) {
                    return Err(MultistreamError::NotMultistream);
                }
                self.state = DialerState::AwaitAnswer { proposed };
                continue;
            }
            let id = protocols
                .get(usize::from(proposed))
                .copied()
                .unwrap_or_default();
            if is_line(body, id.as_bytes()) {
                self.state = DialerState::Agreed(proposed);
            } else if is_line(body, b"na") {
                if self.lazy {
                    return Err(MultistreamError::LazyProposalRefused);
                }
                let next = proposed + 1;
                if next < self.count {
                    self.outbox.push(Msg::Protocol(next));
                    self.state = DialerState::AwaitAnswer { proposed: next };
                } else {
                    self.state = DialerState::Refused;
                }
            } else if protocol_line(body).is_some() || is_line(body, b"ls") {
                return Err(MultistreamError::UnexpectedMessage);
            } else {
                return Err(MultistreamError::InvalidMessage);
            }
        }
        Ok(used)
    }

    /// Whether messages wait to be sent (drain `poll_transmit`).
    pub fn has_output(&self) -> bool {
        !self.outbox.queue.is_empty()
    }

    /// How the negotiation ended, if it has. A lazy dialer reports its protocol at once.
    pub fn outcome(&self) -> Option<Outcome> {
        match self.state {
            DialerState::Agreed(i) => Some(Outcome::Agreed {
                index: usize::from(i),
            }),
            DialerState::Refused => Some(Outcome::Refused),
            _ if self.lazy => Some(Outcome::Agreed { index: 0 }),
            _ => None,
        }
    }

    /// Whether the negotiator still has to read the listener's messages. A lazy dialer that
    /// reported its protocol still reads the confirmation: until this is `false`, received
    /// bytes go to [`MultistreamDialer::handle_input`] first.
    pub fn wants_input(&self) -> bool {
        matches!(
            self.state,
            DialerState::AwaitHeader { .. } | DialerState::AwaitAnswer { .. }
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListenerState {
    AwaitHeader,
    AwaitProposal,
    Agreed(u16),
}

/// The side that accepted the stream: agrees to the first proposal it supports.
#[derive(Clone, Debug)]
pub struct MultistreamListener {
    state: ListenerState,
    outbox: Outbox,
    proposals: u16,
    max_proposals: u16,
    max_message_len: usize,
}

impl Default for MultistreamListener {
    fn default() -> Self {
        Self::new()
    }
}

impl MultistreamListener {
    /// A listener with the default limits. It sends its header at once.
    pub fn new() -> Self {
        Self::with_limits(DEFAULT_MAX_MESSAGE_LEN, DEFAULT_MAX_PROPOSALS)
    }

    /// A listener that reads messages of at most `max_message_len` bytes (clamped to
    /// [`MAX_MESSAGE_LEN`](super::MAX_MESSAGE_LEN)) and refuses at most `max_proposals`
    /// proposals before failing.
    pub fn with_limits(max_message_len: usize, max_proposals: u16) -> Self {
        let mut outbox = Outbox::default();
        outbox.push(Msg::Header);
        MultistreamListener {
            state: ListenerState::AwaitHeader,
            outbox,
            proposals: 0,
            max_proposals,
            max_message_len: check_limit(max_message_len),
        }
    }

    /// Writes pending messages into `out`: `Ok(None)` when there is nothing to send. Fails
    /// only if `out` cannot hold the next message.
    pub fn poll_transmit(
        &mut self,
        out: &mut [u8],
        protocols: &[&str],
    ) -> Result<Option<usize>, BufferTooSmall> {
        self.outbox.write(out, protocols, self.max_message_len)
    }

    /// Reads the dialer's messages from the front of `input`; returns the bytes used.
    /// `protocols` are the ids this side supports; ids that are not valid protocol ids are
    /// never matched.
    pub fn handle_input(
        &mut self,
        input: &[u8],
        protocols: &[&str],
    ) -> Result<usize, MultistreamError> {
        let mut used = 0;
        while !self.outbox.is_full() && !matches!(self.state, ListenerState::Agreed(_)) {
            let Some(frame) = frame::decode(&input[used..], self.max_message_len)? else {
                break;
            };
            used += frame.consumed;
            let body = frame.payload;
            if self.state == ListenerState::AwaitHeader {
                if !is_line(body, PROTOCOL_ID.as_bytes()) {
                    return Err(MultistreamError::NotMultistream);
                }
                self.state = ListenerState::AwaitProposal;
                continue;
            }
            if is_line(body, b"ls") {
                self.outbox.push(Msg::List);
                continue;
            }
            let Some(id) = protocol_line(body) else {
                return Err(if is_line(body, b"na") {
                    MultistreamError::UnexpectedMessage
                } else {
                    MultistreamError::InvalidMessage
                });
            };
            if id == PROTOCOL_ID.as_bytes() {
                return Err(MultistreamError::UnexpectedMessage);
            }
            let found = protocols.iter().take(usize::from(u16::MAX)).position(|p| {
                p.as_bytes() == id && validate_protocol_id(p, self.max_message_len).is_ok()
            });
            match found {
                Some(i) => {
                    let i = u16::try_from(i).expect("taken at most u16::MAX ids");
                    self.outbox.push(Msg::Protocol(i));
                    self.state = ListenerState::Agreed(i);
                }
                None => {
                    self.proposals = self.proposals.saturating_add(1);
                    if self.proposals > self.max_proposals {
                        return Err(MultistreamError::TooManyProposals);
                    }
                    self.outbox.push(Msg::Na);
                }
            }
        }
        Ok(used)
    }

    /// Whether messages wait to be sent (drain `poll_transmit`).
    pub fn has_output(&self) -> bool {
        !self.outbox.queue.is_empty()
    }

    /// Whether the negotiator still reads the dialer's messages (until a protocol is agreed).
    pub fn wants_input(&self) -> bool {
        !matches!(self.state, ListenerState::Agreed(_))
    }

    /// The agreed protocol, once the dialer proposed one this side supports. The echo that
    /// confirms it is queued: keep draining `poll_transmit`.
    pub fn outcome(&self) -> Option<Outcome> {
        match self.state {
            ListenerState::Agreed(i) => Some(Outcome::Agreed {
                index: usize::from(i),
            }),
            _ => None,
        }
    }
}
