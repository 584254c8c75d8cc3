//! The text form: `/ip4/127.0.0.1/tcp/4001/p2p/Qm...`, read segment by segment into typed
//! [`Protocol`]s. Printing is [`Protocol`]'s `Display`.

use core::net::{Ipv4Addr, Ipv6Addr};

use super::error::{TextError, ValueError};
use super::protocol::{self, Protocol, Size, check_name, check_peer_hash, check_unix_path, code};
use crate::multibase::{self, Base};
use crate::multihash::{self, Multihash};
use crate::wire::varint;

/// The multicodec code of a libp2p public key CID (`libp2p-key`).
const LIBP2P_KEY_CODEC: u64 = 0x72;

/// Reads multiaddr text and hands each protocol to `sink`, stopping at the first error (of
/// the text or of `sink`).
///
/// Trailing slashes are accepted and ignored, as go-multiaddr does (`/ip4/1.2.3.4/` is
/// `/ip4/1.2.3.4`); rust-multiaddr rejects them. `""` and `"/"` are [`TextError::Empty`].
pub(super) fn parse<'a>(
    text: &'a str,
    mut sink: impl FnMut(Protocol<'a>) -> Result<(), TextError>,
) -> Result<(), TextError> {
    let trimmed = text.trim_end_matches('/');
    if text.is_empty() || (text.starts_with('/') && trimmed.is_empty()) {
        return Err(TextError::Empty);
    }
    let Some(mut rest) = trimmed.strip_prefix('/') else {
        return Err(TextError::NoLeadingSlash);
    };
    loop {
        let offset = trimmed.len() - rest.len();
        let (name, after) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(i)),
            None => (rest, None),
        };
        let info = protocol::info_by_name(name).ok_or(TextError::UnknownProtocol { offset })?;
        let missing = TextError::MissingValue {
            protocol: info.name,
        };
        // `next` is what follows this component, if anything.
        let (p, next) = if info.size == Size::None {
            let p = Protocol::without_value(info.code).ok_or(missing)?;
            (p, after.map(|i| &rest[i + 1..]))
        } else {
            let i = after.ok_or(missing)?;
            let (value, next) = if info.code == code::UNIX {
                // A path protocol: the rest of the text, with its leading '/', is the path.
                (&rest[i..], None)
            } else {
                let tail = &rest[i + 1..];
                match tail.find('/') {
                    Some(j) => (&tail[..j], Some(&tail[j + 1..])),
                    None => (tail, None),
                }
            };
            let p =
                value_from_text(info.code, value).map_err(|reason| TextError::InvalidValue {
                    protocol: info.name,
                    reason,
                })?;
            (p, next)
        };
        sink(p)?;
        match next {
            Some(n) => rest = n,
            None => return Ok(()),
        }
    }
}

/// Parses a port or prefix length: ASCII decimal digits only (no sign), in range.
fn decimal<T: core::str::FromStr>(text: &str) -> Result<T, ValueError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::BadNumber);
    }
    text.parse().map_err(|_| ValueError::BadNumber)
}

/// Builds the typed protocol for `code` from its text value.
fn value_from_text(code: u64, text: &str) -> Result<Protocol<'_>, ValueError> {
    let ip = |_| ValueError::BadAddress;
    Ok(match code {
        code::IP4 => Protocol::Ip4(text.parse::<Ipv4Addr>().map_err(ip)?),
        code::IP6 => Protocol::Ip6(text.parse::<Ipv6Addr>().map_err(ip)?),
        code::TCP => Protocol::Tcp(decimal(text)?),
        code::UDP => Protocol::Udp(decimal(text)?),
        code::DCCP => Protocol::Dccp(decimal(text)?),
        code::SCTP => Protocol::Sctp(decimal(text)?),
        code::IPCIDR => Protocol::Ipcidr(decimal(text)?),
        code::IP6ZONE | code::DNS | code::DNS4 | code::DNS6 | code::DNSADDR | code::SNI => {
            check_name(text)?;
            match code {
                code::IP6ZONE => Protocol::Ip6zone(text),
                code::DNS => Protocol::Dns(text),
                code::DNS4 => Protocol::Dns4(text),
                code::DNS6 => Protocol::Dns6(text),
                code::DNSADDR => Protocol::Dnsaddr(text),
                _ => Protocol::Sni(text),
            }
        }
        code::UNIX => {
            check_unix_path(text)?;
            Protocol::Unix(text)
        }
        code::P2P => Protocol::P2p(peer_multihash_from_text(text)?),
        code::CERTHASH => {
            let mut buf = [0u8; multihash::MAX_ENCODED_LEN];
            let (_, n) = multibase::decode(text, &mut buf).map_err(ValueError::Multibase)?;
            Protocol::Certhash(Multihash::from_bytes(&buf[..n]).map_err(ValueError::Multihash)?)
        }
        // Every code with a value is handled above; this is reached by none of the table's.
        _ => return Err(ValueError::BadNumber),
    })
}

/// Reads the text of a `/p2p` value: a base58btc multihash (starting `Qm` for sha2-256 or `1`
/// for identity, go-multiaddr's rule), or else a CIDv1 with codec `libp2p-key` in any multibase.
fn peer_multihash_from_text(text: &str) -> Result<Multihash, ValueError> {
    let mh = if text.starts_with("Qm") || text.starts_with('1') {
        let mut buf = [0u8; multihash::MAX_ENCODED_LEN];
        let n = Base::Base58Btc
            .decode(text, &mut buf)
            .map_err(ValueError::Multibase)?;
        Multihash::from_bytes(&buf[..n]).map_err(ValueError::Multihash)?
    } else {
        multihash_of_libp2p_key_cid(text)?
    };
    check_peer_hash(&mh)?;
    Ok(mh)
}

/// Reads a multibase CIDv1 `<varint 1><varint 0x72><multihash>` and returns its multihash.
/// (A small reader of its own: the CID type lives elsewhere and the header is two varints.)
fn multihash_of_libp2p_key_cid(text: &str) -> Result<Multihash, ValueError> {
    let mut buf = [0u8; 2 + multihash::MAX_ENCODED_LEN];
    let (_, n) = multibase::decode(text, &mut buf).map_err(ValueError::Multibase)?;
    let bad = |_| ValueError::NotLibp2pKeyCid;
    let (version, rest) = varint::split(&buf[..n]).map_err(bad)?;
    let (codec, rest) = varint::split(rest).map_err(bad)?;
    if version != 1 || codec != LIBP2P_KEY_CODEC {
        return Err(ValueError::NotLibp2pKeyCid);
    }
    Multihash::from_bytes(rest).map_err(ValueError::Multihash)
}
