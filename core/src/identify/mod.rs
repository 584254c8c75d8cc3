//! Identify (`/ipfs/id/1.0.0`) and identify push (`/ipfs/id/push/1.0.0`): peers tell each other
//! their public key, listen addresses, supported protocols and the address they see the other
//! side come from.
//!
//! For now this module holds the message codec ([`message`]); the per-stream state machines
//! come here later.

pub mod message;

pub use message::{
    Identify, IdentifyBuilder, IdentifyFrameError, MAX_MESSAGE_LEN, MAX_SENT_MESSAGE_LEN,
    PROTOCOL_ID, PUSH_PROTOCOL_ID,
};
