//! One stream's state: its flags in each direction, its windows and its two rings.

use super::buffer::{ByteStorage, Ring};
use super::frame::{Flags, Header, INITIAL_WINDOW};
use crate::time::{Duration, Instant};

/// A stream's id on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub u32);

impl StreamId {
    /// The wire value.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl core::fmt::Display for StreamId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Pending-event bits of a slot, delivered in this order.
pub(crate) const EVENT_INBOUND: u8 = 1;
pub(crate) const EVENT_READABLE: u8 = 2;
pub(crate) const EVENT_REMOTE_CLOSED: u8 = 4;
pub(crate) const EVENT_WRITABLE: u8 = 8;
pub(crate) const EVENT_RESET: u8 = 16;

/// One stream's state inside a session's table (opaque outside this module).
///
/// Send side: `syn_to_send` (outbound, SYN not on the wire yet) → established → `close`
/// requested (`fin_requested`) → FIN sent once the send ring is empty. Receive side: open →
/// FIN received (remote half-closed). Either side's RST ends both (`dead`). A slot leaves the
/// table once both halves are closed, its rings are drained and its events were delivered,
/// or once it is dead and its events were delivered.
#[derive(Debug)]
pub struct StreamSlot<Rx, Tx> {
    pub(crate) id: u32,
    pub(crate) rx: Ring<Rx>,
    pub(crate) tx: Ring<Tx>,
    /// Inbound: the application accepted it (or wrote/closed on it).
    pub(crate) accepted: bool,
    pub(crate) syn_to_send: bool,
    /// The other side acknowledged the stream (always true for inbound streams).
    pub(crate) acked: bool,
    pub(crate) ack_to_send: bool,
    pub(crate) fin_requested: bool,
    pub(crate) fin_sent: bool,
    pub(crate) fin_received: bool,
    /// The application reset it: RST still to send; invisible to the application.
    pub(crate) rst_to_send: bool,
    /// The application reset it (RST queued or sent).
    pub(crate) local_reset: bool,
    /// Reset by either side: no more frames either way.
    pub(crate) dead: bool,
    /// Bytes the peer may still send us.
    pub(crate) recv_window: u32,
    /// The receive window we aim to keep granted (grows with auto-tuning).
    pub(crate) window_target: u32,
    pub(crate) last_window_update: Option<Instant>,
    /// Bytes we may still send.
    pub(crate) send_window: u32,
    /// A write took less than offered: tell the application when space opens.
    pub(crate) want_writable: bool,
    pub(crate) events: u8,
    /// Zero bytes queued behind the send ring's bytes, sent without being stored
    /// ([`YamuxSession::write_zeros`](super::YamuxSession::write_zeros)).
    pub(crate) tx_zeros: u64,
}

impl<Rx: ByteStorage, Tx: ByteStorage> StreamSlot<Rx, Tx> {
    /// A new slot; `max_target` caps the receive window it keeps granting after the first.
    pub(crate) fn new(id: u32, outbound: bool, max_target: u32) -> Self {
        StreamSlot {
            id,
            rx: Ring::new(),
            tx: Ring::new(),
            accepted: outbound,
            syn_to_send: outbound,
            acked: !outbound,
            ack_to_send: false,
            fin_requested: false,
            fin_sent: false,
            fin_received: false,
            rst_to_send: false,
            local_reset: false,
            dead: false,
            recv_window: INITIAL_WINDOW,
            window_target: INITIAL_WINDOW.min(max_target),
            last_window_update: None,
            send_window: INITIAL_WINDOW,
            want_writable: false,
            events: 0,
            tx_zeros: 0,
        }
    }

    /// Bytes queued to send: the ring's, then the zeros.
    pub(crate) fn tx_queued(&self) -> u64 {
        self.tx.len() as u64 + self.tx_zeros
    }

    /// Bytes taken from an allocator by both rings.
    pub(crate) fn allocated(&self) -> usize {
        self.rx.allocated() + self.tx.allocated()
    }

    /// Whether the application can still see it.
    pub(crate) fn visible(&self) -> bool {
        !self.local_reset
    }

    /// Whether incoming data should be thrown away rather than buffered.
    pub(crate) fn discards_input(&self) -> bool {
        self.dead || self.local_reset || self.fin_received
    }

    /// SYN / ACK flags still owed to the peer.
    pub(crate) fn open_flags(&self) -> Flags {
        let mut flags = Flags::NONE;
        if self.syn_to_send {
            flags = flags.with(Flags::SYN);
        }
        if self.ack_to_send {
            flags = flags.with(Flags::ACK);
        }
        flags
    }

    /// Window credit to grant now, if it is worth a frame. Auto-tuning: when the previous
    /// update went out less than two round trips ago, the window (not the reader) is what
    /// limits the peer, so the target doubles, up to `max_target`.
    pub(crate) fn window_credit(
        &mut self,
        now: Instant,
        rtt: Option<Duration>,
        max_target: u32,
    ) -> Option<u32> {
        if self.fin_received || self.dead {
            return None;
        }
        let held = u64::from(self.recv_window) + self.rx.len() as u64;
        let credit = u64::from(self.window_target).saturating_sub(held);
        if credit == 0 || credit < u64::from(self.window_target / 2) {
            return None;
        }
        if let (Some(rtt), Some(last)) = (rtt, self.last_window_update)
            && now.saturating_duration_since(last) < rtt.saturating_mul(2)
            && self.window_target < max_target
        {
            self.window_target = self.window_target.saturating_mul(2).min(max_target);
        }
        self.last_window_update = Some(now);
        let credit = u64::from(self.window_target).saturating_sub(held);
        u32::try_from(credit).ok()
    }

    /// Writes this stream's next frame into `out` (at least a header's room); returns its
    /// length, 0 when it has nothing to send. `max_target` bounds window auto-tuning.
    pub(crate) fn next_frame(
        &mut self,
        out: &mut [u8],
        now: Instant,
        rtt: Option<Duration>,
        max_target: u32,
    ) -> usize {
        use super::frame::HEADER_LEN;
        if out.len() < HEADER_LEN {
            return 0;
        }
        if self.rst_to_send {
            self.rst_to_send = false;
            self.dead = true;
            let header = Header::window_update(self.id, Flags::RST, 0);
            out[..HEADER_LEN].copy_from_slice(&header.encode());
            return HEADER_LEN;
        }
        if self.dead {
            return 0;
        }
        let flags = self.open_flags();
        if let Some(credit) = self.window_credit(now, rtt, max_target) {
            self.recv_window = self.recv_window.saturating_add(credit);
            self.syn_to_send = false;
            self.ack_to_send = false;
            let header = Header::window_update(self.id, flags, credit);
            out[..HEADER_LEN].copy_from_slice(&header.encode());
            return HEADER_LEN;
        }
        let room = out.len() - HEADER_LEN;
        let len = usize::try_from(self.tx_queued())
            .unwrap_or(usize::MAX)
            .min(self.send_window as usize)
            .min(room)
            .min(u32::MAX as usize);
        // The FIN never rides on a frame with data: js-yamux 8 reads the flags of a data frame
        // before its bytes, so a FIN there, once its own side is closed, ends the stream and
        // drops the bytes ("ignoring data - read status closed"). go- and rust-yamux send
        // the FIN alone too.
        // (An empty send ring means `len == 0`.)
        let fin = self.fin_requested && !self.fin_sent && self.tx_queued() == 0;
        if len > 0 || fin {
            let flags = if fin { flags.with(Flags::FIN) } else { flags };
            let body = &mut out[HEADER_LEN..HEADER_LEN + len];
            // The ring's bytes first, then queued zeros (written straight into the frame).
            let taken = self.tx.pop(body);
            body[taken..].fill(0);
            // `len - taken <= tx_zeros`: `len` is at most the ring's bytes plus the zeros.
            self.tx_zeros -= (len - taken) as u64;
            // `len` fits the window and u32 (both bounded above).
            self.send_window -= len as u32;
            self.syn_to_send = false;
            self.ack_to_send = false;
            self.fin_sent |= fin;
            let header = Header::data(self.id, flags, len as u32);
            out[..HEADER_LEN].copy_from_slice(&header.encode());
            return HEADER_LEN + len;
        }
        if flags != Flags::NONE {
            self.syn_to_send = false;
            self.ack_to_send = false;
            let header = Header::window_update(self.id, flags, 0);
            out[..HEADER_LEN].copy_from_slice(&header.encode());
            return HEADER_LEN;
        }
        0
    }

    /// Whether the slot can leave the table.
    pub(crate) fn finished(&self) -> bool {
        if self.events != 0 || self.rst_to_send {
            return false;
        }
        if self.dead {
            return true;
        }
        self.fin_sent && self.fin_received && self.rx.is_empty() && self.tx_queued() == 0
    }
}
