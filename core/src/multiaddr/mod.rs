//! Multiaddr: self-describing network addresses, in binary and text form.
//!
//! The binary form is `<varint code><value>` repeated; values are fixed-size (`ip4` 4 bytes,
//! `ip6` 16, ports 2 big-endian, `ipcidr` 1), absent (`tls`, `ws`, `quic-v1`, `p2p-circuit`,
//! ...), or a varint length then bytes (`dns*`, `sni`, `ip6zone`, `unix`, and the multihashes of
//! `p2p` and `certhash`). The text form is `/name/value/name/...`.
//!
//! - [`MultiaddrRef`] is a validated view over bytes (from the wire: identify, Kademlia).
//! - [`MultiaddrBuf<N>`] is an owned multiaddr held inline in `N` bytes; [`Multiaddr`] is the
//!   one with [`DEFAULT_CAPACITY`] (256) bytes.
//! - [`Protocol`] is one component with a typed value; names borrow from the bytes or text.
//!
//! ```
//! use rhizo_core::multiaddr::{Multiaddr, Protocol};
//! let addr: Multiaddr = "/ip4/127.0.0.1/tcp/4001/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC"
//!     .parse()
//!     .unwrap();
//! let mut it = addr.iter();
//! assert_eq!(it.next(), Some(Protocol::Ip4([127, 0, 0, 1].into())));
//! assert_eq!(it.next(), Some(Protocol::Tcp(4001)));
//! assert!(addr.peer_id_multihash().is_some());
//! ```
//!
//! # Choices where the reference implementations differ or are loose
//! - **Trailing `/`**: accepted and ignored, as go-multiaddr (kubo) does and its tests require
//!   (`/ip4/127.0.0.1/tcp/1234/`); rust-multiaddr rejects it. Text is always printed without.
//! - **Empty**: `""`, `"/"` and empty bytes are errors, as in go-multiaddr (rust-multiaddr
//!   accepts them as the empty multiaddr). [`MultiaddrBuf::new`] is empty and prints as `""`,
//!   so the text round trip holds for every non-empty multiaddr.
//! - **`/p2p`**: text is a base58btc multihash (starting `Qm` or `1`) or a CIDv1 with codec
//!   `libp2p-key` in any multibase, as go-multiaddr reads it; the old name `/ipfs` parses too.
//!   It prints as base58btc, as both references do. The multihash must be sha2-256 or identity.
//! - **`/certhash`**: text is any multibase; it prints as base64url without padding (`u`
//!   prefix), which is what go-multiaddr (`multibase.Base64url`) and rust-multiaddr
//!   (`Base::Base64Url`) print.
//! - **`/unix`**: a path protocol as in go-multiaddr: the rest of the text is the path
//!   (`/unix/tmp/p.sock` holds `/tmp/p.sock`), so it must be last. rust-multiaddr reads one
//!   segment instead; the two disagree, and rhizo follows go.
//! - **Names** (`dns*`, `sni`, `ip6zone`): UTF-8, non-empty, no `/`, at most
//!   [`MAX_NAME_LEN`] bytes (the references set no bound; no DNS name is longer).
//! - **Ports**: ASCII decimal digits only (no sign), 0..=65535; leading zeros are accepted as
//!   both references accept them, and print without.
//! - Not supported (an unknown-protocol error): onion, onion3, garlic32/64, http-path, memory,
//!   plaintextv2, and anything else not in [`code`].
//!
//! # Q&A
//! *Why not the `multiaddr` crate?* It stores bytes in `Arc`/`Bytes`, its values in
//! `Cow<str>`, and needs `std`; rhizo's core runs without a heap.

mod addr;
mod error;
mod protocol;
mod text;

pub use addr::{DEFAULT_CAPACITY, Iter, Multiaddr, MultiaddrBuf, MultiaddrRef};
pub use error::{BinaryError, CapacityExceeded, PushError, TextError, ValueError};
pub use protocol::{MAX_NAME_LEN, Protocol, code};

#[cfg(test)]
mod tests;
