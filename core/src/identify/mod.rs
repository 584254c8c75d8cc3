//! Identify (`/ipfs/id/1.0.0`) and identify push (`/ipfs/id/push/1.0.0`): peers tell each other
//! their public key, listen addresses, supported protocols and the address they see the other
//! side come from.
//!
//! - [`message`]: the message codec ([`Identify`] view, [`IdentifyBuilder`]).
//! - [`handler`]: the per-stream state machines (one side writes its message, the other
//!   reads it).
//! - [`check`]: holding a received message against the connection's authenticated PeerId.

pub mod check;
pub mod handler;
pub mod message;

pub use check::{CheckedIdentify, IdentifyCheckError, PeerRecordStatus};
pub use handler::{
    IdentifyEncodeError, IdentifyEvent, IdentifyPushReceiver, IdentifyPushSender,
    IdentifyRequester, IdentifyResponder, IdentifyStreamError,
};

pub use message::{
    Identify, IdentifyBuilder, IdentifyFrameError, MAX_MESSAGE_LEN, MAX_SENT_MESSAGE_LEN,
    PROTOCOL_ID, PUSH_PROTOCOL_ID,
};
