//! The multiaddr types: [`MultiaddrRef`], a validated view over bytes, and [`MultiaddrBuf`], an
//! owned multiaddr held inline in a fixed capacity.

use super::error::{BinaryError, CapacityExceeded, PushError, TextError};
use super::protocol::{Protocol, code};
use super::text;
use crate::multihash::Multihash;

/// Checks that `bytes` is a complete, valid binary multiaddr of at least one component.
fn validate(bytes: &[u8]) -> Result<(), BinaryError> {
    if bytes.is_empty() {
        return Err(BinaryError::Empty);
    }
    let mut offset = 0;
    while offset < bytes.len() {
        let (p, used) = Protocol::read(&bytes[offset..]).map_err(|e| e.shifted(offset))?;
        let next = offset + used;
        if p.code() == code::UNIX && next < bytes.len() {
            return Err(BinaryError::AfterUnixPath { offset: next });
        }
        offset = next;
    }
    Ok(())
}

/// A validated binary multiaddr borrowed from bytes: iterate it, compare it, print it, all
/// without copying. Equality is byte equality, which is protocol equality because the binary
/// form is canonical (minimal varints, fixed-size values).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MultiaddrRef<'a> {
    bytes: &'a [u8],
}

impl<'a> MultiaddrRef<'a> {
    /// Validates `bytes` as a binary multiaddr: every component known and valid, at least one
    /// component, nothing after a `/unix` path.
    pub fn try_from_bytes(bytes: &'a [u8]) -> Result<Self, BinaryError> {
        validate(bytes)?;
        Ok(MultiaddrRef { bytes })
    }

    /// The binary form.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Whether it has no components (only an empty [`MultiaddrBuf`] gives such a view).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The protocols, first to last.
    pub fn iter(&self) -> Iter<'a> {
        Iter { rest: self.bytes }
    }

    /// The last protocol and the multiaddr before it.
    pub fn split_last(&self) -> Option<(MultiaddrRef<'a>, Protocol<'a>)> {
        let mut iter = self.iter();
        let mut last = None;
        loop {
            let at = self.bytes.len() - iter.rest.len();
            match iter.next() {
                Some(p) => last = Some((at, p)),
                None => break,
            }
        }
        last.map(|(at, p)| {
            (
                MultiaddrRef {
                    bytes: &self.bytes[..at],
                },
                p,
            )
        })
    }

    /// The last protocol.
    pub fn last(&self) -> Option<Protocol<'a>> {
        self.iter().last()
    }

    /// Whether `prefix`'s protocols are the first protocols of this one.
    pub fn starts_with(&self, prefix: MultiaddrRef<'_>) -> bool {
        // Components are self-delimiting, so a byte prefix that is itself a valid multiaddr
        // ends on one of our component boundaries.
        self.bytes.starts_with(prefix.bytes)
    }

    /// Whether `suffix`'s protocols are the last protocols of this one.
    pub fn ends_with(&self, suffix: MultiaddrRef<'_>) -> bool {
        if suffix.bytes.len() > self.bytes.len() {
            return false;
        }
        let start = self.bytes.len() - suffix.bytes.len();
        self.boundaries().any(|b| b == start) && self.bytes[start..] == *suffix.bytes
    }

    /// Byte offsets where components start, then the end.
    fn boundaries(&self) -> impl Iterator<Item = usize> + '_ {
        let mut iter = self.iter();
        let total = self.bytes.len();
        let mut done = false;
        core::iter::from_fn(move || {
            if done {
                return None;
            }
            let at = total - iter.rest.len();
            if iter.next().is_none() {
                done = true;
            }
            Some(at)
        })
    }

    /// The multihash of the trailing `/p2p` component, if the multiaddr ends with one.
    pub fn peer_id_multihash(&self) -> Option<Multihash> {
        match self.last()? {
            Protocol::P2p(mh) => Some(mh),
            _ => None,
        }
    }

    /// Copies it into an owned multiaddr of capacity `N`.
    pub fn to_buf<const N: usize>(&self) -> Result<MultiaddrBuf<N>, CapacityExceeded> {
        let bytes =
            heapless::Vec::from_slice(self.bytes).map_err(|_| CapacityExceeded { capacity: N })?;
        Ok(MultiaddrBuf { bytes })
    }
}

impl<'a> TryFrom<&'a [u8]> for MultiaddrRef<'a> {
    type Error = BinaryError;
    fn try_from(bytes: &'a [u8]) -> Result<Self, BinaryError> {
        Self::try_from_bytes(bytes)
    }
}

impl<'a> IntoIterator for MultiaddrRef<'a> {
    type Item = Protocol<'a>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl core::fmt::Display for MultiaddrRef<'_> {
    /// The text form, written straight to the formatter (no allocation). An empty multiaddr
    /// prints as nothing.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.iter().try_for_each(|p| core::fmt::Display::fmt(&p, f))
    }
}

impl core::fmt::Debug for MultiaddrRef<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Multiaddr(\"{self}\")")
    }
}

/// The protocols of a multiaddr, first to last.
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Iter<'a> {
    type Item = Protocol<'a>;
    fn next(&mut self) -> Option<Protocol<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        match Protocol::read(self.rest) {
            Ok((p, used)) => {
                self.rest = &self.rest[used..];
                Some(p)
            }
            Err(_) => {
                // Unreachable: every view was validated (or built from validated protocols).
                debug_assert!(false, "a multiaddr view holds invalid bytes");
                self.rest = &[];
                None
            }
        }
    }
}

/// The default capacity of [`Multiaddr`], in bytes.
///
/// # Q&A
/// *Why 256?* The largest addresses seen in practice fit with room to spare:
/// `/ip6/../udp/../quic-v1/webtransport/certhash/../certhash/../p2p/..` with two sha2-256
/// certhashes and a sha2-256 PeerId is about 140 bytes; a relayed
/// `/ip6/../tcp/../p2p/<relay>/p2p-circuit/p2p/<peer>` is about 100; a `/dnsaddr` name of 100
/// characters with `/p2p` is about 150. A DNS name near the 253-character limit plus
/// `/tcp/../tls/ws/p2p/..` would not fit and is a [`CapacityExceeded`] error, not a panic; a
/// firmware that stores many addresses can pick a smaller [`MultiaddrBuf`] (about 50 bytes
/// covers `/ip4/../tcp/../p2p/<sha2-256>`).
pub const DEFAULT_CAPACITY: usize = 256;

/// An owned multiaddr with the [`DEFAULT_CAPACITY`].
pub type Multiaddr = MultiaddrBuf<DEFAULT_CAPACITY>;

/// An owned multiaddr held inline (no heap) in at most `N` bytes of binary form. It always
/// holds a valid multiaddr: bytes are validated on the way in, protocols on `push`.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MultiaddrBuf<const N: usize> {
    bytes: heapless::Vec<u8, N>,
}

impl<const N: usize> MultiaddrBuf<N> {
    /// The capacity in bytes.
    pub const CAPACITY: usize = N;

    /// An empty multiaddr, to build with [`push`](Self::push) or [`with`](Self::with).
    pub const fn new() -> Self {
        MultiaddrBuf {
            bytes: heapless::Vec::new(),
        }
    }

    /// Validates and copies a binary multiaddr.
    pub fn try_from_bytes(bytes: &[u8]) -> Result<Self, BinaryError> {
        MultiaddrRef::try_from_bytes(bytes)?
            .to_buf()
            .map_err(BinaryError::CapacityExceeded)
    }

    /// Parses the text form (same as [`str::parse`]).
    pub fn parse(text: &str) -> Result<Self, TextError> {
        let mut out = Self::new();
        text::parse(text, |p| {
            out.push(p).map_err(|e| match e {
                PushError::CapacityExceeded(c) => TextError::CapacityExceeded(c),
                // The parser validated the value and ends the text after a unix path.
                PushError::InvalidValue(reason) => TextError::InvalidValue {
                    protocol: p.name(),
                    reason,
                },
                PushError::AfterUnixPath => TextError::MissingValue { protocol: "unix" },
            })
        })?;
        Ok(out)
    }

    /// A view of it.
    pub fn view(&self) -> MultiaddrRef<'_> {
        MultiaddrRef { bytes: &self.bytes }
    }

    /// The binary form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether it has no components.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The protocols, first to last.
    pub fn iter(&self) -> Iter<'_> {
        self.view().iter()
    }

    /// The last protocol.
    pub fn last(&self) -> Option<Protocol<'_>> {
        self.view().last()
    }

    /// Appends a protocol after validating its value; on error nothing changes.
    pub fn push(&mut self, protocol: Protocol<'_>) -> Result<(), PushError> {
        protocol.validate().map_err(PushError::InvalidValue)?;
        if self.last().is_some_and(|p| p.code() == code::UNIX) {
            return Err(PushError::AfterUnixPath);
        }
        let start = self.bytes.len();
        let len = protocol.encoded_len();
        let full = PushError::CapacityExceeded(CapacityExceeded { capacity: N });
        self.bytes.resize(start + len, 0).map_err(|_| full)?;
        protocol
            .write_to(&mut self.bytes[start..])
            .expect("resized to encoded_len above");
        Ok(())
    }

    /// Appends a protocol, builder style.
    pub fn with(mut self, protocol: Protocol<'_>) -> Result<Self, PushError> {
        self.push(protocol)?;
        Ok(self)
    }

    /// Appends every protocol of `other`; on error nothing changes.
    pub fn extend_from(&mut self, other: MultiaddrRef<'_>) -> Result<(), PushError> {
        if other.is_empty() {
            return Ok(());
        }
        if self.last().is_some_and(|p| p.code() == code::UNIX) {
            return Err(PushError::AfterUnixPath);
        }
        self.bytes
            .extend_from_slice(other.bytes)
            .map_err(|_| PushError::CapacityExceeded(CapacityExceeded { capacity: N }))
    }

    /// Removes the last protocol and returns it as a one-component multiaddr (protocol values
    /// borrow their names from the bytes, so the removed bytes come back owned).
    pub fn pop(&mut self) -> Option<Self> {
        let (before, _) = self.view().split_last()?;
        let at = before.bytes.len();
        let removed = Self {
            bytes: heapless::Vec::from_slice(&self.bytes[at..]).expect("a part fits the whole"),
        };
        self.bytes.truncate(at);
        Some(removed)
    }

    /// Whether `prefix`'s protocols are the first protocols of this one.
    pub fn starts_with(&self, prefix: MultiaddrRef<'_>) -> bool {
        self.view().starts_with(prefix)
    }

    /// Whether `suffix`'s protocols are the last protocols of this one.
    pub fn ends_with(&self, suffix: MultiaddrRef<'_>) -> bool {
        self.view().ends_with(suffix)
    }

    /// The multihash of the trailing `/p2p` component, if the multiaddr ends with one.
    pub fn peer_id_multihash(&self) -> Option<Multihash> {
        self.view().peer_id_multihash()
    }
}

impl<const N: usize> core::str::FromStr for MultiaddrBuf<N> {
    type Err = TextError;
    fn from_str(text: &str) -> Result<Self, TextError> {
        Self::parse(text)
    }
}

impl<const N: usize> TryFrom<&[u8]> for MultiaddrBuf<N> {
    type Error = BinaryError;
    fn try_from(bytes: &[u8]) -> Result<Self, BinaryError> {
        Self::try_from_bytes(bytes)
    }
}

impl<'a, const N: usize> From<&'a MultiaddrBuf<N>> for MultiaddrRef<'a> {
    fn from(m: &'a MultiaddrBuf<N>) -> Self {
        m.view()
    }
}

impl<const N: usize> PartialEq<MultiaddrRef<'_>> for MultiaddrBuf<N> {
    fn eq(&self, other: &MultiaddrRef<'_>) -> bool {
        self.bytes[..] == *other.bytes
    }
}

impl<const N: usize> core::fmt::Display for MultiaddrBuf<N> {
    /// The text form, written straight to the formatter (no allocation).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.view(), f)
    }
}

impl<const N: usize> core::fmt::Debug for MultiaddrBuf<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(&self.view(), f)
    }
}
