//! The daemon's connections: every one, dialed or accepted, is listed in the [`PeerTable`]
//! and runs Bitswap through the [`Exchange`] until it ends.

use crate::addr::DialTarget;
use crate::api::{ConnectedPeer, PeerTable};
use crate::exchange::{self, Exchange};
use crate::node;
use rhizo_tokio::{ConnectionHandle, Host, PeerId};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Numbers the connections in the peer table.
static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(0);

/// The node's host, its Bitswap and its connections. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Swarm {
    host: Host,
    exchange: Exchange,
    peers: PeerTable,
}

impl Swarm {
    /// A swarm over `host`, listing connections in `peers`.
    pub fn new(host: Host, exchange: Exchange, peers: PeerTable) -> Swarm {
        Swarm {
            host,
            exchange,
            peers,
        }
    }

    /// The node's Bitswap.
    pub fn exchange(&self) -> &Exchange {
        &self.exchange
    }

    /// The node's host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Lists `conn` and serves Bitswap on it in a task of its own until it ends.
    pub fn attach(&self, conn: ConnectionHandle, inbound: bool) {
        let peer = *conn.remote_peer();
        let addr = conn.remote_addr();
        tracing::info!(%peer, %addr, inbound, "connected");
        let number = NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed);
        let entry = ConnectedPeer {
            peer,
            addr: rhizo_tokio::socket_multiaddr(addr)
                .map_or_else(|| addr.to_string(), |a| a.to_string()),
            inbound,
        };
        if let Ok(mut table) = self.peers.lock() {
            table.insert(number, entry);
        }
        let peers = Arc::clone(&self.peers);
        let exchange = self.exchange.clone();
        tokio::spawn(async move {
            if exchange::serve_connection(&exchange, conn).await {
                tracing::info!(%peer, "disconnected: it broke the Bitswap protocol");
            } else {
                tracing::info!(%peer, "disconnected");
            }
            if let Ok(mut table) = peers.lock() {
                table.remove(&number);
            }
        });
    }

    /// Whether a connection to `peer` is open.
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.peers
            .lock()
            .map(|t| t.values().any(|p| p.peer == *peer))
            .unwrap_or(false)
    }

    /// Dials `target` (unless its PeerId is connected already) and attaches the connection.
    pub async fn connect(&self, target: DialTarget) -> anyhow::Result<PeerId> {
        if let Some(peer) = target.peer
            && self.is_connected(&peer)
        {
            return Ok(peer);
        }
        let conn = node::dial(&self.host, target).await?;
        let peer = *conn.remote_peer();
        self.attach(conn, false);
        Ok(peer)
    }
}
