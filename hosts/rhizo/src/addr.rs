//! Multiaddrs the command dials and listens on: `/ip4|ip6/<ip>/tcp/<port>[/p2p/<PeerId>]`.

use anyhow::{Context, Result, anyhow, bail};
use rhizo_core::identity::PeerId;
use rhizo_core::multiaddr::{Multiaddr, Protocol};
use std::net::{IpAddr, SocketAddr};

/// Where to dial: a TCP socket address, and the PeerId the peer must prove, when given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DialTarget {
    /// The peer's TCP address.
    pub socket: SocketAddr,
    /// From a trailing `/p2p/<PeerId>`.
    pub peer: Option<PeerId>,
}

const SHAPE: &str = "expected /ip4/<address>/tcp/<port> or /ip6/<address>/tcp/<port>, \
                     optionally followed by /p2p/<PeerId>";

/// Parses multiaddr text into an IP and TCP port, then what follows them.
fn split_ip_tcp(text: &str) -> Result<(Multiaddr, SocketAddr, Option<PeerId>)> {
    let addr: Multiaddr = text
        .parse()
        .map_err(|e| anyhow!("`{text}` is not a valid multiaddr ({e}); {SHAPE}"))?;
    let mut parts = addr.iter();
    let ip = match parts.next() {
        Some(Protocol::Ip4(ip)) => IpAddr::V4(ip),
        Some(Protocol::Ip6(ip)) => IpAddr::V6(ip),
        Some(
            p @ (Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_) | Protocol::Dnsaddr(_)),
        ) => bail!(
            "`{text}`: rhizo does not resolve DNS names yet (/{}); use the peer's IP address \
             (/ip4/... or /ip6/...)",
            p.name()
        ),
        _ => bail!("`{text}` is not supported: {SHAPE}"),
    };
    let port = match parts.next() {
        Some(Protocol::Tcp(port)) => port,
        _ => bail!("`{text}` is not supported: rhizo speaks only TCP; {SHAPE}"),
    };
    let peer = match parts.next() {
        None => None,
        Some(Protocol::P2p(hash)) => Some(
            PeerId::from_multihash(hash)
                .map_err(|e| anyhow!("`{text}`: the /p2p part is not a valid PeerId ({e})"))?,
        ),
        Some(other) => bail!(
            "`{text}` is not supported (/{} after /tcp); {SHAPE}",
            other.name()
        ),
    };
    if parts.next().is_some() {
        bail!("`{text}` is not supported (something after /p2p); {SHAPE}");
    }
    Ok((addr, SocketAddr::new(ip, port), peer))
}

/// Parses a multiaddr to dial.
pub fn parse_dial(text: &str) -> Result<DialTarget> {
    let (_, socket, peer) = split_ip_tcp(text)?;
    if socket.port() == 0 || socket.ip().is_unspecified() {
        bail!("`{text}` cannot be dialed: it needs a real IP address and a port other than 0");
    }
    Ok(DialTarget { socket, peer })
}

/// Parses a multiaddr to listen on (no `/p2p` part).
pub fn parse_listen(text: &str) -> Result<SocketAddr> {
    let (_, socket, peer) =
        split_ip_tcp(text).context("bad listen address (from --listen or config.toml)")?;
    if peer.is_some() {
        bail!("listen address `{text}` must not end with /p2p/<PeerId>");
    }
    Ok(socket)
}

/// `/ip4|ip6/<ip>/tcp/<port>/p2p/<peer>`: the full address peers dial.
pub fn full_multiaddr(socket: SocketAddr, peer: &PeerId) -> String {
    match rhizo_tokio::socket_multiaddr(socket) {
        Some(addr) => format!("{addr}/p2p/{peer}"),
        // Every IP and port fits a multiaddr: this branch is not taken.
        None => format!("{socket}/p2p/{peer}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";

    #[test]
    fn dial_targets() {
        let t = parse_dial(&format!("/ip4/127.0.0.1/tcp/4001/p2p/{PEER}")).unwrap();
        assert_eq!(t.socket, "127.0.0.1:4001".parse().unwrap());
        assert_eq!(t.peer.unwrap().to_base58_string(), PEER);
        let t = parse_dial("/ip6/::1/tcp/5").unwrap();
        assert_eq!(t.socket, "[::1]:5".parse().unwrap());
        assert_eq!(t.peer, None);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let err = |t: &str| format!("{:#}", parse_dial(t).unwrap_err());
        assert!(err("hello").contains("not a valid multiaddr"));
        assert!(err("/dns4/example.com/tcp/4001").contains("DNS"));
        assert!(err("/ip4/1.2.3.4/udp/4001/quic-v1").contains("TCP"));
        assert!(err("/ip4/1.2.3.4/tcp/0").contains("port"));
        assert!(err("/ip4/1.2.3.4/tcp/1/ws").contains("/ws"));
        assert!(parse_listen(&format!("/ip4/0.0.0.0/tcp/0/p2p/{PEER}")).is_err());
        assert_eq!(
            parse_listen("/ip6/::/tcp/0").unwrap(),
            "[::]:0".parse().unwrap()
        );
    }

    #[test]
    fn full_multiaddr_ends_with_the_peer() {
        let peer: PeerId = PEER.parse().unwrap();
        assert_eq!(
            full_multiaddr("127.0.0.1:9".parse().unwrap(), &peer),
            format!("/ip4/127.0.0.1/tcp/9/p2p/{PEER}")
        );
    }
}
