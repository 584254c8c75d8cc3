//! The input half of [`YamuxSession`]: the streaming frame parser and what each frame does.

use super::buffer::{StreamSlots, YamuxStorage};
use super::frame::{Flags, FrameType, GoAwayCode, HEADER_LEN, Header, HeaderError, INITIAL_WINDOW};
use super::session::{YamuxSession, grow_ring};
use super::stream::{EVENT_INBOUND, EVENT_READABLE, EVENT_REMOTE_CLOSED, EVENT_RESET, StreamSlot};
use super::{ProtocolViolation, StreamId, YamuxError};
use crate::time::Instant;

/// Where the frame parser is.
#[derive(Clone, Copy, Debug)]
pub(super) enum Parse {
    /// Collecting a header; `have` of its 12 bytes are in `bytes`.
    Header { bytes: [u8; HEADER_LEN], have: u8 },
    /// Inside a data frame's body.
    Body {
        stream_id: u32,
        remaining: u32,
        /// Throw the bytes away (stream gone, reset, or refused).
        discard: bool,
        /// FIN to apply once the body is complete.
        fin: bool,
    },
}

impl Parse {
    pub(super) const START: Parse = Parse::Header {
        bytes: [0; HEADER_LEN],
        have: 0,
    };
}

impl<S: YamuxStorage> YamuxSession<S> {
    /// Feeds bytes received from the peer; returns how many were used. Fewer than
    /// `input.len()` means a buffer is full: offer the rest again after draining `poll_*` and
    /// reading. An error ends the session (a go-away is queued for `poll_transmit`).
    pub fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<usize, YamuxError> {
        self.handle_input_with(now, input, &mut |_, _| 0)
    }

    /// [`handle_input`](Self::handle_input), offering a stream's data to `direct` before
    /// buffering it, whenever that stream has nothing buffered (so the order holds):
    /// `direct(stream, bytes)` returns how many of `bytes` it took, as if they had been read
    /// at once. The rest is buffered as usual. A reader that can take data in place (a
    /// protocol handler) saves the copy into the stream's buffer.
    pub fn handle_input_with(
        &mut self,
        now: Instant,
        input: &[u8],
        direct: &mut impl FnMut(StreamId, &[u8]) -> usize,
    ) -> Result<usize, YamuxError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        self.last_now = self.last_now.max(now);
        let mut pos = 0;
        while pos < input.len() {
            match self.parse {
                Parse::Header { mut bytes, have } => {
                    let have = usize::from(have);
                    if have == 0 && self.control.is_full() {
                        break;
                    }
                    let take = (HEADER_LEN - have).min(input.len() - pos);
                    bytes[have..have + take].copy_from_slice(&input[pos..pos + take]);
                    pos += take;
                    if have + take < HEADER_LEN {
                        // `have + take` < 12 fits a u8.
                        self.parse = Parse::Header {
                            bytes,
                            have: (have + take) as u8,
                        };
                        continue;
                    }
                    self.parse = Parse::START;
                    if let Err(v) = self.on_header(now, &bytes) {
                        return Err(self.fail(YamuxError::Protocol(v)));
                    }
                }
                Parse::Body {
                    stream_id,
                    remaining,
                    discard,
                    fin,
                } => {
                    let avail = (remaining as usize).min(input.len() - pos);
                    let used = if discard {
                        avail
                    } else {
                        let body = &input[pos..pos + avail];
                        let taken = if self.takes_direct(stream_id) {
                            direct(StreamId(stream_id), body).min(avail)
                        } else {
                            0
                        };
                        taken + self.buffer_body(stream_id, &body[taken..])
                    };
                    if used == 0 && avail > 0 {
                        break; // the stream's receive ring is full
                    }
                    pos += used;
                    // `used` ≤ `remaining`, a u32.
                    let remaining = remaining - used as u32;
                    if remaining == 0 {
                        self.parse = Parse::START;
                        if fin {
                            self.remote_fin(stream_id);
                        }
                    } else {
                        self.parse = Parse::Body {
                            stream_id,
                            remaining,
                            discard,
                            fin,
                        };
                    }
                }
            }
        }
        Ok(pos)
    }

    /// Whether the stream's data may go to a direct reader: it is live and has nothing
    /// buffered that would have to be read first.
    fn takes_direct(&self, stream_id: u32) -> bool {
        self.find(stream_id)
            .map(|i| &self.streams.as_slice()[i])
            .is_some_and(|s| s.visible() && !s.discards_input() && s.rx.is_empty())
    }

    /// Copies body bytes into the stream's receive ring; returns how many fit.
    fn buffer_body(&mut self, stream_id: u32, data: &[u8]) -> usize {
        if data.is_empty() {
            return 0;
        }
        let Some(index) = self.find(stream_id) else {
            return data.len(); // gone meanwhile: discard
        };
        let rx_limit = self.rx_limit();
        let budget = self.budget();
        let slot = &mut self.streams.as_mut_slice()[index];
        if slot.discards_input() {
            return data.len();
        }
        let before = slot.allocated();
        grow_ring(&mut slot.rx, data.len(), rx_limit, budget);
        let n = slot.rx.push(data);
        self.allocated = self.allocated - before + slot.allocated();
        if n > 0 {
            self.add_event(index, EVENT_READABLE);
        }
        n
    }

    fn remote_fin(&mut self, stream_id: u32) {
        let Some(index) = self.find(stream_id) else {
            return;
        };
        let slot = &mut self.streams.as_mut_slice()[index];
        if slot.fin_received || slot.dead {
            return;
        }
        slot.fin_received = true;
        if slot.visible() {
            self.add_event(index, EVENT_REMOTE_CLOSED);
        }
        self.remove_if_finished(index);
    }

    fn remote_reset(&mut self, index: usize) {
        let slot = &mut self.streams.as_mut_slice()[index];
        if slot.dead {
            return;
        }
        let before = slot.allocated();
        slot.rx.clear();
        slot.tx.clear();
        slot.dead = true;
        slot.rst_to_send = false;
        self.allocated -= before;
        let visible = slot.visible();
        let keep = slot.events & EVENT_INBOUND;
        self.set_events(index, if visible { keep | EVENT_RESET } else { 0 });
        self.remove_if_finished(index);
    }

    fn on_header(
        &mut self,
        now: Instant,
        bytes: &[u8; HEADER_LEN],
    ) -> Result<(), ProtocolViolation> {
        let header = Header::decode(bytes).map_err(|e| match e {
            HeaderError::UnsupportedVersion(v) => ProtocolViolation::InvalidVersion(v),
            HeaderError::UnknownType(t) => ProtocolViolation::InvalidType(t),
        })?;
        match header.frame_type {
            FrameType::Ping => self.on_ping(now, header),
            FrameType::GoAway => {
                let code = GoAwayCode::from_u32(header.length);
                if self.remote_go_away.is_none() {
                    self.remote_go_away = Some(code);
                    self.go_away_event = Some(code);
                }
                Ok(())
            }
            FrameType::Data | FrameType::WindowUpdate => self.on_stream_frame(header),
        }
    }

    fn on_ping(&mut self, now: Instant, header: Header) -> Result<(), ProtocolViolation> {
        if header.flags.contains(Flags::SYN) {
            // Room was checked before the header was taken.
            let _ = self
                .control
                .push_back(Header::ping(Flags::ACK, header.length));
        } else if header.flags.contains(Flags::ACK) {
            match self.ping_outstanding {
                Some(ping) if ping.opaque == header.length => {
                    let rtt = now.saturating_duration_since(ping.sent_at);
                    self.rtt = Some(rtt);
                    self.rtt_event = Some(rtt);
                    self.ping_outstanding = None;
                    self.next_ping_at = self.config.keep_alive_interval.map(|i| now + i);
                }
                _ => return Err(ProtocolViolation::UnexpectedPingAck(header.length)),
            }
        }
        Ok(())
    }

    fn on_stream_frame(&mut self, header: Header) -> Result<(), ProtocolViolation> {
        let id = header.stream_id;
        if id == 0 {
            return Err(ProtocolViolation::InvalidStreamId(0));
        }
        let is_data = header.frame_type == FrameType::Data;
        let index = if header.flags.contains(Flags::SYN) {
            match self.on_syn(id)? {
                Some(index) => index,
                None => {
                    // Refused (reset queued): its data is discarded, but still bounded by the
                    // window the peer was entitled to.
                    if is_data {
                        if header.length > INITIAL_WINDOW {
                            return Err(ProtocolViolation::WindowExceeded);
                        }
                        self.start_body(id, header.length, true, false);
                    }
                    return Ok(());
                }
            }
        } else {
            match self.find(id) {
                Some(index) => index,
                None if self.was_opened(id) => {
                    // Recently closed or reset: tolerate and discard.
                    if is_data {
                        self.start_body(id, header.length, true, false);
                    }
                    return Ok(());
                }
                None => return Err(ProtocolViolation::UnknownStream(id)),
            }
        };
        let fin = header.flags.contains(Flags::FIN);
        let rst = header.flags.contains(Flags::RST);
        let slot = &mut self.streams.as_mut_slice()[index];
        if header.flags.contains(Flags::ACK) {
            slot.acked = true;
        }
        if is_data {
            if header.length > slot.recv_window {
                return Err(ProtocolViolation::WindowExceeded);
            }
            slot.recv_window -= header.length;
            let discard = rst || slot.discards_input();
            if rst {
                self.remote_reset(index);
            }
            self.start_body(id, header.length, discard, fin && !rst);
        } else {
            slot.send_window = slot
                .send_window
                .checked_add(header.length)
                .ok_or(ProtocolViolation::WindowOverflow)?;
            if rst {
                self.remote_reset(index);
            } else if fin {
                self.remote_fin(id);
            }
        }
        Ok(())
    }

    /// Sets up the parser for a data body (or finishes a zero-length one at once).
    fn start_body(&mut self, stream_id: u32, length: u32, discard: bool, fin: bool) {
        if length == 0 {
            if fin {
                self.remote_fin(stream_id);
            }
        } else {
            self.parse = Parse::Body {
                stream_id,
                remaining: length,
                discard,
                fin,
            };
        }
    }

    /// A SYN from the peer: the new slot's index, `None` when refused (RST queued).
    fn on_syn(&mut self, id: u32) -> Result<Option<usize>, ProtocolViolation> {
        if !self.is_peer_id(id) {
            return Err(ProtocolViolation::InvalidStreamId(id));
        }
        // SYNs may arrive out of order: a peer sends each stream's SYN with its first frame,
        // and streams opened together write first in any order (rhizo's own sender does, as
        // rust-yamux's and go-yamux's may). Like them, only a stream still open is an error.
        self.highest_inbound_id = self.highest_inbound_id.max(id);
        let pending = self
            .streams
            .as_slice()
            .iter()
            .filter(|s| !s.accepted && !s.dead)
            .count();
        let full = self.stream_count() >= self.config.max_streams.min(S::Streams::MAX_LEN);
        let index = match self.streams.as_slice().binary_search_by_key(&id, |s| s.id) {
            Ok(_) => return Err(ProtocolViolation::StreamIdInUse(id)),
            Err(index) => index,
        };
        if self.local_go_away || full || pending >= self.config.max_pending_inbound {
            let _ = self
                .control
                .push_back(Header::window_update(id, Flags::RST, 0));
            return Ok(None);
        }
        if self
            .streams
            .insert_at(index, StreamSlot::new(id, false, self.max_window_target()))
            .is_err()
        {
            let _ = self
                .control
                .push_back(Header::window_update(id, Flags::RST, 0));
            return Ok(None);
        }
        self.add_event(index, EVENT_INBOUND);
        Ok(Some(index))
    }
}
