//! One multiaddr component: the protocol table, the typed [`Protocol`] value, and its binary
//! form `<varint code><value>`.

use core::net::{Ipv4Addr, Ipv6Addr};

use super::error::{BinaryError, ValueError};
use crate::multibase::{self, Base};
use crate::multihash::{self, Multihash};
use crate::wire::BufferTooSmall;
use crate::wire::varint;

/// Multicodec codes of the protocols this module knows (multiformats/multicodec `table.csv`,
/// tag `multiaddr`).
pub mod code {
    /// `ip4`: 4 bytes.
    pub const IP4: u64 = 0x04;
    /// `tcp`: 2-byte big-endian port.
    pub const TCP: u64 = 0x06;
    /// `dccp`: 2-byte big-endian port.
    pub const DCCP: u64 = 0x21;
    /// `ip6`: 16 bytes.
    pub const IP6: u64 = 0x29;
    /// `ip6zone`: length-prefixed zone name.
    pub const IP6ZONE: u64 = 0x2a;
    /// `ipcidr`: 1-byte prefix length.
    pub const IPCIDR: u64 = 0x2b;
    /// `dns`: length-prefixed name.
    pub const DNS: u64 = 0x35;
    /// `dns4`: length-prefixed name.
    pub const DNS4: u64 = 0x36;
    /// `dns6`: length-prefixed name.
    pub const DNS6: u64 = 0x37;
    /// `dnsaddr`: length-prefixed name.
    pub const DNSADDR: u64 = 0x38;
    /// `sctp`: 2-byte big-endian port.
    pub const SCTP: u64 = 0x84;
    /// `udp`: 2-byte big-endian port.
    pub const UDP: u64 = 0x0111;
    /// `p2p-webrtc-star` (deprecated): no value.
    pub const P2P_WEBRTC_STAR: u64 = 0x0113;
    /// `p2p-webrtc-direct` (deprecated): no value.
    pub const P2P_WEBRTC_DIRECT: u64 = 0x0114;
    /// `p2p-stardust` (deprecated): no value.
    pub const P2P_STARDUST: u64 = 0x0115;
    /// `webrtc-direct`: no value.
    pub const WEBRTC_DIRECT: u64 = 0x0118;
    /// `webrtc`: no value.
    pub const WEBRTC: u64 = 0x0119;
    /// `p2p-circuit`: no value.
    pub const P2P_CIRCUIT: u64 = 0x0122;
    /// `udt`: no value.
    pub const UDT: u64 = 0x012d;
    /// `utp`: no value.
    pub const UTP: u64 = 0x012e;
    /// `unix`: length-prefixed absolute path; must be the last component.
    pub const UNIX: u64 = 0x0190;
    /// `p2p` (text alias `ipfs`): length-prefixed multihash of a PeerId.
    pub const P2P: u64 = 0x01a5;
    /// `https`: no value.
    pub const HTTPS: u64 = 0x01bb;
    /// `tls`: no value.
    pub const TLS: u64 = 0x01c0;
    /// `sni`: length-prefixed server name.
    pub const SNI: u64 = 0x01c1;
    /// `noise`: no value.
    pub const NOISE: u64 = 0x01c6;
    /// `quic`: no value.
    pub const QUIC: u64 = 0x01cc;
    /// `quic-v1`: no value.
    pub const QUIC_V1: u64 = 0x01cd;
    /// `webtransport`: no value.
    pub const WEBTRANSPORT: u64 = 0x01d1;
    /// `certhash`: length-prefixed multihash of a certificate.
    pub const CERTHASH: u64 = 0x01d2;
    /// `ws`: no value.
    pub const WS: u64 = 0x01dd;
    /// `wss`: no value.
    pub const WSS: u64 = 0x01de;
    /// `p2p-websocket-star` (deprecated): no value.
    pub const P2P_WEBSOCKET_STAR: u64 = 0x01df;
    /// `http`: no value.
    pub const HTTP: u64 = 0x01e0;
}

/// The longest DNS name, SNI name or IPv6 zone accepted, in bytes (a DNS name has at most 253
/// characters in text; 255 leaves room for a trailing dot and is the wire limit).
pub const MAX_NAME_LEN: usize = 255;

/// How a protocol's value is laid out in the binary form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Size {
    /// No value.
    None,
    /// Exactly this many bytes.
    Fixed(usize),
    /// A varint length, then that many bytes.
    Prefixed,
}

/// One row of the protocol table.
#[derive(Clone, Copy, Debug)]
pub(super) struct Info {
    pub(super) name: &'static str,
    pub(super) code: u64,
    pub(super) size: Size,
}

const fn row(name: &'static str, code: u64, size: Size) -> Info {
    Info { name, code, size }
}

/// Every protocol this module knows, by code.
const TABLE: &[Info] = &[
    row("ip4", code::IP4, Size::Fixed(4)),
    row("tcp", code::TCP, Size::Fixed(2)),
    row("dccp", code::DCCP, Size::Fixed(2)),
    row("ip6", code::IP6, Size::Fixed(16)),
    row("ip6zone", code::IP6ZONE, Size::Prefixed),
    row("ipcidr", code::IPCIDR, Size::Fixed(1)),
    row("dns", code::DNS, Size::Prefixed),
    row("dns4", code::DNS4, Size::Prefixed),
    row("dns6", code::DNS6, Size::Prefixed),
    row("dnsaddr", code::DNSADDR, Size::Prefixed),
    row("sctp", code::SCTP, Size::Fixed(2)),
    row("udp", code::UDP, Size::Fixed(2)),
    row("p2p-webrtc-star", code::P2P_WEBRTC_STAR, Size::None),
    row("p2p-webrtc-direct", code::P2P_WEBRTC_DIRECT, Size::None),
    row("p2p-stardust", code::P2P_STARDUST, Size::None),
    row("webrtc-direct", code::WEBRTC_DIRECT, Size::None),
    row("webrtc", code::WEBRTC, Size::None),
    row("p2p-circuit", code::P2P_CIRCUIT, Size::None),
    row("udt", code::UDT, Size::None),
    row("utp", code::UTP, Size::None),
    row("unix", code::UNIX, Size::Prefixed),
    row("p2p", code::P2P, Size::Prefixed),
    row("https", code::HTTPS, Size::None),
    row("tls", code::TLS, Size::None),
    row("sni", code::SNI, Size::Prefixed),
    row("noise", code::NOISE, Size::None),
    row("quic", code::QUIC, Size::None),
    row("quic-v1", code::QUIC_V1, Size::None),
    row("webtransport", code::WEBTRANSPORT, Size::None),
    row("certhash", code::CERTHASH, Size::Prefixed),
    row("ws", code::WS, Size::None),
    row("wss", code::WSS, Size::None),
    row("p2p-websocket-star", code::P2P_WEBSOCKET_STAR, Size::None),
    row("http", code::HTTP, Size::None),
];

pub(super) fn info_by_code(code: u64) -> Option<&'static Info> {
    TABLE.iter().find(|i| i.code == code)
}

/// The table row for a text name; `ipfs` is the old name of `p2p` and still parses.
pub(super) fn info_by_name(name: &str) -> Option<&'static Info> {
    let name = if name == "ipfs" { "p2p" } else { name };
    TABLE.iter().find(|i| i.name == name)
}

/// One multiaddr component with its typed value. Names, zones and paths borrow from the bytes
/// or text they were read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol<'a> {
    /// `/ip4/<dotted quad>`.
    Ip4(Ipv4Addr),
    /// `/tcp/<port>`.
    Tcp(u16),
    /// `/dccp/<port>`.
    Dccp(u16),
    /// `/ip6/<address>`.
    Ip6(Ipv6Addr),
    /// `/ip6zone/<zone>`: the zone of the `/ip6` that follows.
    Ip6zone(&'a str),
    /// `/ipcidr/<prefix length>`.
    Ipcidr(u8),
    /// `/dns/<name>`: resolve to IPv4 or IPv6.
    Dns(&'a str),
    /// `/dns4/<name>`: resolve to IPv4.
    Dns4(&'a str),
    /// `/dns6/<name>`: resolve to IPv6.
    Dns6(&'a str),
    /// `/dnsaddr/<name>`: look up `_dnsaddr.<name>` TXT records holding multiaddrs.
    Dnsaddr(&'a str),
    /// `/sctp/<port>`.
    Sctp(u16),
    /// `/udp/<port>`.
    Udp(u16),
    /// `/p2p-webrtc-star` (deprecated).
    P2pWebrtcStar,
    /// `/p2p-webrtc-direct` (deprecated).
    P2pWebrtcDirect,
    /// `/p2p-stardust` (deprecated).
    P2pStardust,
    /// `/webrtc-direct`.
    WebrtcDirect,
    /// `/webrtc`.
    Webrtc,
    /// `/p2p-circuit`: a relayed connection through the peer before it.
    P2pCircuit,
    /// `/udt`.
    Udt,
    /// `/utp`.
    Utp,
    /// `/unix/<path>`: an absolute path (starting with `/`), always the last component.
    Unix(&'a str),
    /// `/p2p/<peer id>`: the multihash of a PeerId (sha2-256 or identity).
    P2p(Multihash),
    /// `/https`.
    Https,
    /// `/tls`.
    Tls,
    /// `/sni/<server name>`.
    Sni(&'a str),
    /// `/noise`.
    Noise,
    /// `/quic` (draft-29).
    Quic,
    /// `/quic-v1` (RFC 9000).
    QuicV1,
    /// `/webtransport`.
    WebTransport,
    /// `/certhash/<multibase multihash>`: a TLS certificate's hash.
    Certhash(Multihash),
    /// `/ws`.
    Ws,
    /// `/wss`.
    Wss,
    /// `/p2p-websocket-star` (deprecated).
    P2pWebsocketStar,
    /// `/http`.
    Http,
}

/// Checks a DNS name, SNI name or IPv6 zone: non-empty, at most [`MAX_NAME_LEN`] bytes, no `/`.
pub(super) fn check_name(name: &str) -> Result<(), ValueError> {
    if name.is_empty() {
        Err(ValueError::Empty)
    } else if name.len() > MAX_NAME_LEN {
        Err(ValueError::TooLong)
    } else if name.contains('/') {
        Err(ValueError::ContainsSlash)
    } else {
        Ok(())
    }
}

/// Checks a unix path as go-multiaddr does: starts with `/`, at least 2 bytes, no trailing `/`.
pub(super) fn check_unix_path(path: &str) -> Result<(), ValueError> {
    if path.len() < 2 || !path.starts_with('/') || path.ends_with('/') {
        Err(ValueError::BadUnixPath)
    } else {
        Ok(())
    }
}

/// Checks that a multihash can be a PeerId's: sha2-256 or identity (as go-multiaddr checks; the
/// identity length limit of the PeerId spec is left to the PeerId type).
pub(super) fn check_peer_hash(mh: &Multihash) -> Result<(), ValueError> {
    match mh.code() {
        // Multihash carries truncated sha2-256 digests; a PeerId's is always the whole one.
        multihash::code::SHA2_256 if mh.digest().len() != 32 => {
            Err(ValueError::TruncatedPeerIdHash(mh.digest().len()))
        }
        multihash::code::SHA2_256 | multihash::code::IDENTITY => Ok(()),
        other => Err(ValueError::NotPeerIdHash(other)),
    }
}

/// The value bytes of a protocol, inline or borrowed.
enum ValueBytes<'a> {
    Inline {
        bytes: [u8; multihash::MAX_ENCODED_LEN],
        len: usize,
    },
    Borrowed(&'a [u8]),
}

impl ValueBytes<'_> {
    fn inline(src: &[u8]) -> Self {
        let mut bytes = [0u8; multihash::MAX_ENCODED_LEN];
        bytes[..src.len()].copy_from_slice(src);
        ValueBytes::Inline {
            bytes,
            len: src.len(),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            ValueBytes::Inline { bytes, len } => &bytes[..*len],
            ValueBytes::Borrowed(b) => b,
        }
    }
}

impl<'a> Protocol<'a> {
    /// The protocol's multicodec code.
    pub fn code(&self) -> u64 {
        match self {
            Protocol::Ip4(_) => code::IP4,
            Protocol::Tcp(_) => code::TCP,
            Protocol::Dccp(_) => code::DCCP,
            Protocol::Ip6(_) => code::IP6,
            Protocol::Ip6zone(_) => code::IP6ZONE,
            Protocol::Ipcidr(_) => code::IPCIDR,
            Protocol::Dns(_) => code::DNS,
            Protocol::Dns4(_) => code::DNS4,
            Protocol::Dns6(_) => code::DNS6,
            Protocol::Dnsaddr(_) => code::DNSADDR,
            Protocol::Sctp(_) => code::SCTP,
            Protocol::Udp(_) => code::UDP,
            Protocol::P2pWebrtcStar => code::P2P_WEBRTC_STAR,
            Protocol::P2pWebrtcDirect => code::P2P_WEBRTC_DIRECT,
            Protocol::P2pStardust => code::P2P_STARDUST,
            Protocol::WebrtcDirect => code::WEBRTC_DIRECT,
            Protocol::Webrtc => code::WEBRTC,
            Protocol::P2pCircuit => code::P2P_CIRCUIT,
            Protocol::Udt => code::UDT,
            Protocol::Utp => code::UTP,
            Protocol::Unix(_) => code::UNIX,
            Protocol::P2p(_) => code::P2P,
            Protocol::Https => code::HTTPS,
            Protocol::Tls => code::TLS,
            Protocol::Sni(_) => code::SNI,
            Protocol::Noise => code::NOISE,
            Protocol::Quic => code::QUIC,
            Protocol::QuicV1 => code::QUIC_V1,
            Protocol::WebTransport => code::WEBTRANSPORT,
            Protocol::Certhash(_) => code::CERTHASH,
            Protocol::Ws => code::WS,
            Protocol::Wss => code::WSS,
            Protocol::P2pWebsocketStar => code::P2P_WEBSOCKET_STAR,
            Protocol::Http => code::HTTP,
        }
    }

    /// The protocol's name in the text form (`"ip4"`, `"quic-v1"`, ...).
    pub fn name(&self) -> &'static str {
        info_by_code(self.code()).map_or("", |i| i.name)
    }

    /// Checks the value as parsing would: names non-empty without `/`, unix paths absolute,
    /// `/p2p` multihashes sha2-256 or identity. Values read by this module always pass.
    pub fn validate(&self) -> Result<(), ValueError> {
        match self {
            Protocol::Ip6zone(s)
            | Protocol::Dns(s)
            | Protocol::Dns4(s)
            | Protocol::Dns6(s)
            | Protocol::Dnsaddr(s)
            | Protocol::Sni(s) => check_name(s),
            Protocol::Unix(path) => check_unix_path(path),
            Protocol::P2p(mh) => check_peer_hash(mh),
            _ => Ok(()),
        }
    }

    /// Builds the typed protocol from a code and its raw value (already cut to size).
    pub(super) fn from_value(code: u64, value: &'a [u8]) -> Result<Self, ValueError> {
        let port = || -> Result<u16, ValueError> {
            let b: [u8; 2] = value.try_into().map_err(|_| ValueError::BadNumber)?;
            Ok(u16::from_be_bytes(b))
        };
        let text = || -> Result<&'a str, ValueError> {
            core::str::from_utf8(value).map_err(|_| ValueError::NotUtf8)
        };
        let p = match code {
            code::IP4 => {
                let b: [u8; 4] = value.try_into().map_err(|_| ValueError::BadAddress)?;
                Protocol::Ip4(Ipv4Addr::from(b))
            }
            code::IP6 => {
                let b: [u8; 16] = value.try_into().map_err(|_| ValueError::BadAddress)?;
                Protocol::Ip6(Ipv6Addr::from(b))
            }
            code::TCP => Protocol::Tcp(port()?),
            code::UDP => Protocol::Udp(port()?),
            code::DCCP => Protocol::Dccp(port()?),
            code::SCTP => Protocol::Sctp(port()?),
            code::IPCIDR => match value {
                [n] => Protocol::Ipcidr(*n),
                _ => return Err(ValueError::BadNumber),
            },
            code::IP6ZONE => Protocol::Ip6zone(text()?),
            code::DNS => Protocol::Dns(text()?),
            code::DNS4 => Protocol::Dns4(text()?),
            code::DNS6 => Protocol::Dns6(text()?),
            code::DNSADDR => Protocol::Dnsaddr(text()?),
            code::SNI => Protocol::Sni(text()?),
            code::UNIX => Protocol::Unix(text()?),
            code::P2P => {
                Protocol::P2p(Multihash::from_bytes(value).map_err(ValueError::Multihash)?)
            }
            code::CERTHASH => {
                Protocol::Certhash(Multihash::from_bytes(value).map_err(ValueError::Multihash)?)
            }
            other => Self::without_value(other).ok_or(ValueError::BadNumber)?,
        };
        p.validate()?;
        Ok(p)
    }

    /// The protocol for a code that carries no value.
    pub(super) fn without_value(code: u64) -> Option<Self> {
        Some(match code {
            code::P2P_WEBRTC_STAR => Protocol::P2pWebrtcStar,
            code::P2P_WEBRTC_DIRECT => Protocol::P2pWebrtcDirect,
            code::P2P_STARDUST => Protocol::P2pStardust,
            code::WEBRTC_DIRECT => Protocol::WebrtcDirect,
            code::WEBRTC => Protocol::Webrtc,
            code::P2P_CIRCUIT => Protocol::P2pCircuit,
            code::UDT => Protocol::Udt,
            code::UTP => Protocol::Utp,
            code::HTTPS => Protocol::Https,
            code::TLS => Protocol::Tls,
            code::NOISE => Protocol::Noise,
            code::QUIC => Protocol::Quic,
            code::QUIC_V1 => Protocol::QuicV1,
            code::WEBTRANSPORT => Protocol::WebTransport,
            code::WS => Protocol::Ws,
            code::WSS => Protocol::Wss,
            code::P2P_WEBSOCKET_STAR => Protocol::P2pWebsocketStar,
            code::HTTP => Protocol::Http,
            _ => return None,
        })
    }

    /// Reads one component from the front of `input`: the protocol and the bytes it took.
    /// Error offsets are relative to `input`.
    pub fn read(input: &'a [u8]) -> Result<(Self, usize), BinaryError> {
        let (code, code_len) =
            varint::decode(input).map_err(|error| BinaryError::Varint { offset: 0, error })?;
        let info = info_by_code(code).ok_or(BinaryError::UnknownCode { offset: 0, code })?;
        let rest = &input[code_len..];
        let truncated = BinaryError::Truncated { offset: 0, code };
        let (value, used) = match info.size {
            Size::None => (&rest[..0], 0),
            Size::Fixed(n) => (rest.get(..n).ok_or(truncated)?, n),
            Size::Prefixed => {
                let (len, prefix_len) = varint::decode(rest).map_err(|error| match error {
                    varint::VarintError::Incomplete => truncated,
                    error => BinaryError::Varint { offset: 0, error },
                })?;
                // Compare as u64 first: `len as usize` could wrap on a 32-bit target.
                if len > (rest.len() - prefix_len) as u64 {
                    return Err(truncated);
                }
                let n = prefix_len + len as usize;
                (&rest[prefix_len..n], n)
            }
        };
        let p = Self::from_value(code, value).map_err(|reason| BinaryError::InvalidValue {
            offset: 0,
            code,
            reason,
        })?;
        Ok((p, code_len + used))
    }

    fn value_bytes(&self) -> ValueBytes<'a> {
        match *self {
            Protocol::Ip4(a) => ValueBytes::inline(&a.octets()),
            Protocol::Ip6(a) => ValueBytes::inline(&a.octets()),
            Protocol::Tcp(p) | Protocol::Udp(p) | Protocol::Dccp(p) | Protocol::Sctp(p) => {
                ValueBytes::inline(&p.to_be_bytes())
            }
            Protocol::Ipcidr(n) => ValueBytes::inline(&[n]),
            Protocol::Ip6zone(s)
            | Protocol::Dns(s)
            | Protocol::Dns4(s)
            | Protocol::Dns6(s)
            | Protocol::Dnsaddr(s)
            | Protocol::Sni(s)
            | Protocol::Unix(s) => ValueBytes::Borrowed(s.as_bytes()),
            Protocol::P2p(mh) | Protocol::Certhash(mh) => ValueBytes::inline(&mh.to_bytes()),
            _ => ValueBytes::Borrowed(&[]),
        }
    }

    fn is_prefixed(&self) -> bool {
        info_by_code(self.code()).is_some_and(|i| i.size == Size::Prefixed)
    }

    /// Bytes the binary component takes.
    pub fn encoded_len(&self) -> usize {
        let value = self.value_bytes();
        let value = value.as_slice();
        let prefix = if self.is_prefixed() {
            varint::encoded_len(value.len() as u64)
        } else {
            0
        };
        varint::encoded_len(self.code()) + prefix + value.len()
    }

    /// Writes the binary component to the front of `out`; returns the bytes written.
    pub fn write_to(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let required = self.encoded_len();
        let out = out.get_mut(..required).ok_or(BufferTooSmall { required })?;
        let value = self.value_bytes();
        let value = value.as_slice();
        let code = varint::Varint::new(self.code()).expect("table codes are small");
        let (head, rest) = out.split_at_mut(code.len());
        head.copy_from_slice(&code);
        let rest = if self.is_prefixed() {
            let len = varint::Varint::new(value.len() as u64).expect("lengths fit a varint");
            let (head, rest) = rest.split_at_mut(len.len());
            head.copy_from_slice(&len);
            rest
        } else {
            rest
        };
        rest.copy_from_slice(value);
        Ok(required)
    }
}

/// Writes a multihash in base58btc (how `/p2p` prints), on the stack.
fn write_base58(f: &mut core::fmt::Formatter<'_>, mh: &Multihash) -> core::fmt::Result {
    let mut buf = [0u8; 128];
    let text = Base::Base58Btc
        .encode(&mh.to_bytes(), &mut buf)
        .map_err(|_| core::fmt::Error)?;
    f.write_str(text)
}

/// Writes a multihash as multibase base64url (`u` prefix, how go- and rust-multiaddr print
/// `/certhash`), on the stack.
fn write_base64url(f: &mut core::fmt::Formatter<'_>, mh: &Multihash) -> core::fmt::Result {
    let mut buf = [0u8; 128];
    let text = multibase::encode(Base::Base64Url, &mh.to_bytes(), &mut buf)
        .map_err(|_| core::fmt::Error)?;
    f.write_str(text)
}

impl core::fmt::Display for Protocol<'_> {
    /// `/name` or `/name/value`; for `/unix` the path's own leading `/` separates it.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("/")?;
        f.write_str(self.name())?;
        match self {
            Protocol::Ip4(a) => write!(f, "/{a}"),
            Protocol::Ip6(a) => write!(f, "/{a}"),
            Protocol::Tcp(p) | Protocol::Udp(p) | Protocol::Dccp(p) | Protocol::Sctp(p) => {
                write!(f, "/{p}")
            }
            Protocol::Ipcidr(n) => write!(f, "/{n}"),
            Protocol::Ip6zone(s)
            | Protocol::Dns(s)
            | Protocol::Dns4(s)
            | Protocol::Dns6(s)
            | Protocol::Dnsaddr(s)
            | Protocol::Sni(s) => {
                f.write_str("/")?;
                f.write_str(s)
            }
            Protocol::Unix(path) => f.write_str(path),
            Protocol::P2p(mh) => {
                f.write_str("/")?;
                write_base58(f, mh)
            }
            Protocol::Certhash(mh) => {
                f.write_str("/")?;
                write_base64url(f, mh)
            }
            _ => Ok(()),
        }
    }
}
