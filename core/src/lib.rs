//! rhizo-core: the protocol core of rhizo, `no_std` and sans-IO.
//!
//! Every protocol here is a state machine that takes bytes, time and randomness in and hands
//! bytes, timers and events out. Nothing in this crate reads a clock, a socket, a file or OS
//! randomness: time arrives as [`time::Instant`] (microseconds from an origin the driver picks),
//! randomness arrives as seeds or keys in the configuration, and bytes arrive through
//! `handle_input`. The drivers (tokio, async-io, embassy, OpenCL) own the I/O and nothing else.
//!
//! # The contract every state machine follows
//! - `handle_input(now, bytes) -> Result<consumed, _>` feeds received bytes;
//!   `handle_timeout(now)` tells it that the deadline it asked for has passed.
//! - `poll_transmit(now, &mut [u8]) -> Option<Transmit>`, `poll_event() -> Option<Event>` and
//!   `poll_timeout() -> Option<Instant>` hand its output back.
//! - After any input or application call the caller drains every `poll_*` until it returns
//!   `None`. Time only moves forward.
//! - Every queue, table and buffer is bounded by configuration; exceeding a bound is a typed
//!   error or a protocol reset, never growth without bound and never a panic.
//!
//! # Features
//! - no features: everything runs on fixed capacities and caller buffers (a microcontroller
//!   node without a heap).
//! - `alloc`: owned conveniences (strings, vectors) and RSA signature verification.
//! - `std` (default): `alloc` plus the standard library where it helps a server.
//!
//! # Modules so far
//! - [`time`]: the `Instant` the driver hands in.
//! - [`crypto`]: the provider seam (AEAD, X25519, SHA-256, HKDF, ed25519) and its portable
//!   implementation.
//! - [`wire`]: unsigned varints, length-prefixed frames, protobuf fields.
//! - [`multihash`], [`multibase`]: self-describing digests and text encodings.
//! - [`multiaddr`]: network addresses in binary and text form.
//! - [`multistream`]: multistream-select 1.0 dialer and listener negotiators.
//! - [`noise`]: the Noise XX handshake, transport framing and the libp2p handshake payload.
//! - [`stream`]: the interface between a connection and a stream's protocol handler.
//! - `testkit` (tests, or the `testkit` feature): two endpoints on an in-memory pipe and a
//!   virtual clock.
//! - [`connection`]: one libp2p connection: security, muxer and protocol streams composed.
//! - [`identify`]: the identify message codec, its stream handlers and checks.
//! - [`ping`], [`perf`]: the ping and perf stream handlers.
//! - [`identity`]: keys, PeerIds, signed envelopes and peer records.
//! - [`bitswap`]: the Bitswap message codec and the node-level [`bitswap::BitswapEngine`].
//! - [`block`]: blocks verified against their CID, and the [`block::BlockStore`] seam.
//! - [`cid`]: content identifiers (CIDv0 and CIDv1), binary and text.
//! - [`dagpb`], [`unixfs`]: the dag-pb codec, UnixFS data, the file importer and exporter.
//! - [`dagcbor`]: dag-cbor records (links as tag 42) through minicbor, and a strict validator.
//! - [`yamux`]: the `/yamux/1.0.0` stream multiplexer session.
//!
//! The crate builds without `std` for `thumbv7em-none-eabihf`; its own unit tests link `std`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(all(feature = "std", not(test)))]
extern crate std;

pub mod bitswap;
pub mod block;
pub mod cid;
pub mod connection;
pub mod crypto;
pub mod dagcbor;
pub mod dagpb;
pub mod identify;
pub mod identity;
pub mod multiaddr;
pub mod multibase;
pub mod multihash;
pub mod multistream;
pub mod noise;
pub mod perf;
pub mod ping;
pub mod stream;
#[cfg(test)]
mod stream_pair;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod time;
pub mod unixfs;
pub mod wire;
pub mod yamux;
