//! Serving: one peer's wantlist, and the answers written to it.

use super::Misbehaviour;
use super::table::Table;
use crate::bitswap::ProtocolVersion;
use crate::bitswap::message::{
    BlockPresence, CidPrefix, InPlaceError, Message, MessageWriter, PresenceType, WantType,
};
use crate::block::BlockStore;
use crate::cid::Cid;

/// One entry of a peer's wantlist.
#[derive(Clone, Copy, Debug)]
struct LedgerEntry {
    cid: Cid,
    want_type: WantType,
    send_dont_have: bool,
    /// Answered as missing (or not at all): waits for the block to arrive here.
    waiting: bool,
}

/// What a peer wants from us, bounded.
#[derive(Debug)]
pub(crate) struct Ledger<const N: usize> {
    entries: Table<LedgerEntry, N>,
}

impl<const N: usize> Ledger<N> {
    pub(crate) const fn new() -> Self {
        Ledger {
            entries: Table::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// Applies a received wantlist. More than `limit` entries held, or more than twice `limit`
    /// entries in one message, is a flood.
    pub(crate) fn apply(
        &mut self,
        message: &Message<'_>,
        version: ProtocolVersion,
        limit: usize,
    ) -> Result<(), Misbehaviour> {
        if message.full() {
            self.entries.clear();
        }
        for (n, entry) in message.wantlist().enumerate() {
            // More entries in one message than two whole wantlists (cancels included) is a
            // flood too, and bounds the work one message can cause.
            if n >= limit.saturating_mul(2) {
                return Err(Misbehaviour::WantlistOverflow);
            }
            let found = self.entries.iter().position(|e| e.cid == entry.cid);
            if entry.cancel {
                if let Some(i) = found {
                    self.entries.remove(i);
                }
                continue;
            }
            // Before 1.2.0 every want is a want-block, and nothing says "don't have".
            let (want_type, send_dont_have) = if version.has_presences() {
                (entry.want_type, entry.send_dont_have)
            } else {
                (WantType::Block, false)
            };
            match found {
                Some(i) => {
                    let e = &mut self.entries[i];
                    // A want-block supersedes a want-have, not the other way round.
                    if want_type == WantType::Block {
                        e.want_type = WantType::Block;
                    }
                    e.send_dont_have = send_dont_have;
                    e.waiting = false;
                }
                None => {
                    let new = LedgerEntry {
                        cid: entry.cid,
                        want_type,
                        send_dont_have,
                        waiting: false,
                    };
                    self.entries
                        .try_push(new, limit)
                        .map_err(|_| Misbehaviour::WantlistOverflow)?;
                }
            }
        }
        Ok(())
    }

    /// A block named `cid` is now in the store: entries that waited for it are answered next.
    pub(crate) fn block_arrived(&mut self, cid: &Cid) {
        for e in self.entries.iter_mut() {
            if e.cid.hash() == cid.hash() {
                e.waiting = false;
            }
        }
    }

    /// Writes answers to the unanswered entries, as many as fit: blocks for want-blocks held,
    /// HAVE for want-haves held, DONT_HAVE for the rest when asked (1.2.0). Sent blocks and
    /// HAVEs leave the ledger; missing blocks wait.
    pub(crate) fn write_answers<S: BlockStore>(
        &mut self,
        version: ProtocolVersion,
        store: &S,
        writer: &mut MessageWriter<'_>,
    ) {
        let capacity = writer.remaining() + writer.len();
        let mut i = 0;
        while i < self.entries.len() {
            let entry = self.entries[i];
            if entry.waiting {
                i += 1;
                continue;
            }
            let held = store.block_len(&entry.cid).ok().flatten();
            let sent = match (entry.want_type, held) {
                (WantType::Block, Some(len)) => {
                    let prefix = CidPrefix::of(&entry.cid);
                    let prefix = version.has_payload().then_some(&prefix);
                    let fill = |dst: &mut [u8]| match store.read(&entry.cid, dst) {
                        Ok(Some(n)) if n == dst.len() => Ok(()),
                        _ => Err(()),
                    };
                    match writer.block_in_place(prefix, len, fill) {
                        Ok(()) => Answer::Done,
                        Err(InPlaceError::BufferTooSmall(e))
                            if e.required - writer.len() > capacity =>
                        {
                            // Can never fit a message: answer as if missing.
                            self.dont_have(version, &entry, writer)
                        }
                        Err(InPlaceError::BufferTooSmall(_)) => Answer::NoRoom,
                        Err(InPlaceError::Fill(())) => self.dont_have(version, &entry, writer),
                    }
                }
                (WantType::Have, Some(_)) => {
                    let presence = BlockPresence {
                        cid: entry.cid,
                        presence: PresenceType::Have,
                    };
                    match writer.block_presence(&presence) {
                        Ok(()) => Answer::Done,
                        Err(_) => Answer::NoRoom,
                    }
                }
                (_, None) => self.dont_have(version, &entry, writer),
            };
            match sent {
                Answer::Done => {
                    self.entries.remove(i);
                }
                Answer::Waiting => {
                    self.entries[i].waiting = true;
                    i += 1;
                }
                Answer::NoRoom => break,
            }
        }
    }

    fn dont_have(
        &self,
        version: ProtocolVersion,
        entry: &LedgerEntry,
        writer: &mut MessageWriter<'_>,
    ) -> Answer {
        if !(entry.send_dont_have && version.has_presences()) {
            return Answer::Waiting;
        }
        let presence = BlockPresence {
            cid: entry.cid,
            presence: PresenceType::DontHave,
        };
        match writer.block_presence(&presence) {
            Ok(()) => Answer::Waiting,
            Err(_) => Answer::NoRoom,
        }
    }
}

enum Answer {
    /// Answered for good: leaves the ledger.
    Done,
    /// Answered as missing (or silently): waits for the block.
    Waiting,
    /// The message is full: answer in the next one.
    NoRoom,
}
