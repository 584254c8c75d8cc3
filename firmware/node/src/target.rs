//! The host peer dialed at boot and the block fetched from it: the semihosting arguments
//! `host=/ip4/<a.b.c.d>/tcp/<port>/p2p/<PeerId>` and `fetch=<CID>`, each defaulting to its
//! build-time value (`RHIZO_FIRMWARE_HOST`, `RHIZO_FIRMWARE_FETCH_CID`, see build.rs).
//!
//! # Q&A
//! *Why parse by hand rather than with the core's `Multiaddr` and `Cid` text parsers?* Flash:
//! those accept every multibase and every multiaddr protocol, which links ~35 KiB of decoders.
//! Here only the forms above are read: base58btc PeerIds, and CIDs in base32 (`b...`, CIDv1)
//! or base58btc (`Qm...`, CIDv0).

use rhizo_core::cid::Cid;
use rhizo_core::identity::PeerId;

use crate::log;

mod defaults {
    include!(concat!(env!("OUT_DIR"), "/host.rs"));
}

/// The host peer dialed at boot and the block wanted from it.
#[derive(Clone, Debug)]
pub struct FetchTarget {
    /// The host's IPv4 address.
    pub ip: [u8; 4],
    /// Its TCP port.
    pub port: u16,
    /// Its PeerId.
    pub peer: PeerId,
    /// The block.
    pub cid: Cid,
    /// The block's CID as given, for the log.
    pub cid_text: heapless::String<64>,
}

/// Reads the semihosting arguments (see the module documentation); `None` when a value does
/// not parse (logged).
pub fn from_semihosting() -> Option<FetchTarget> {
    let mut buf = [0u8; 512];
    let args = crate::board::semihosting_cmdline(&mut buf).unwrap_or("");
    let mut host = defaults::HOST;
    let mut cid = defaults::FETCH_CID;
    for arg in args.split_ascii_whitespace() {
        if let Some(v) = arg.strip_prefix("host=") {
            host = v;
        } else if let Some(v) = arg.strip_prefix("fetch=") {
            cid = v;
        }
    }
    log!("bitswap: host {host}, fetch {cid}");
    let Some((ip, port, peer)) = parse_host(host) else {
        log!("bitswap: {host} is not /ip4/<a.b.c.d>/tcp/<port>/p2p/<PeerId>");
        return None;
    };
    let Some(parsed) = parse_cid(cid) else {
        log!("bitswap: {cid} is not a base32 or base58btc CID");
        return None;
    };
    let mut cid_text = heapless::String::new();
    cid_text.push_str(cid).ok()?;
    Some(FetchTarget {
        ip,
        port,
        peer,
        cid: parsed,
        cid_text,
    })
}

/// `/ip4/<a.b.c.d>/tcp/<port>/p2p/<base58 PeerId>`.
fn parse_host(text: &str) -> Option<([u8; 4], u16, PeerId)> {
    let mut parts = text.strip_prefix('/')?.split('/');
    let mut next = |name: &str| {
        (parts.next()? == name)
            .then_some(())
            .and_then(|()| parts.next())
    };
    let ip_text = next("ip4")?;
    let port = next("tcp")?.parse().ok()?;
    let peer_text = next("p2p")?;
    let mut ip = [0u8; 4];
    let mut octets = ip_text.split('.');
    for byte in &mut ip {
        *byte = octets.next()?.parse().ok()?;
    }
    if octets.next().is_some() {
        return None;
    }
    let mut bytes = [0u8; 64];
    let n = bs58::decode(peer_text).onto(&mut bytes[..]).ok()?;
    let peer = PeerId::from_bytes(&bytes[..n]).ok()?;
    Some((ip, port, peer))
}

/// A CIDv1 in base32 lower case (`b...`) or a CIDv0 (`Qm...`, base58btc).
fn parse_cid(text: &str) -> Option<Cid> {
    let mut bytes = [0u8; 80];
    let n = if let Some(rest) = text.strip_prefix('b') {
        base32_decode(rest, &mut bytes)?
    } else if text.starts_with("Qm") {
        bs58::decode(text).onto(&mut bytes[..]).ok()?
    } else {
        return None;
    };
    Cid::from_bytes(&bytes[..n]).ok()
}

/// RFC 4648 base32, lower case, no padding (multibase `b`).
fn base32_decode(text: &str, out: &mut [u8]) -> Option<usize> {
    let (mut acc, mut bits, mut n) = (0u32, 0u32, 0usize);
    for c in text.bytes() {
        let v = match c {
            b'a'..=b'z' => c - b'a',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        acc = (acc << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            *out.get_mut(n)? = (acc >> bits) as u8;
            n += 1;
        }
        acc &= (1 << bits) - 1;
    }
    Some(n)
}
