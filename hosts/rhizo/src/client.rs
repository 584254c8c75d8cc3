//! `rhizo id`, `rhizo ping` and `rhizo perf`.

use crate::addr::{full_multiaddr, parse_dial};
use crate::node;
use crate::repo::Repo;
use anyhow::{Result, bail};
use rhizo_core::identity::{PeerId, PublicKey};
use rhizo_core::multibase::Base;
use rhizo_tokio::{DEFAULT_AGENT_VERSION, DEFAULT_PROTOCOL_VERSION, PerfResult};
use serde::Serialize;
use std::time::Duration;

/// What `rhizo id` prints; the JSON names are those of `ipfs id`.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdOutput {
    /// The PeerId.
    #[serde(rename = "ID")]
    pub id: String,
    /// The public key's protobuf in padded base64.
    pub public_key: String,
    /// Multiaddrs, with `/p2p/<id>`.
    pub addresses: Vec<String>,
    /// The agent version of identify.
    pub agent_version: String,
    /// The protocol version of identify.
    pub protocol_version: String,
    /// The protocols served.
    pub protocols: Vec<String>,
}

impl IdOutput {
    /// Prints it as `rhizo id` does: lines, or JSON.
    pub fn print(&self, json: bool) -> Result<()> {
        if json {
            println!("{}", serde_json::to_string_pretty(self)?);
            return Ok(());
        }
        println!("PeerId: {}", self.id);
        println!("PublicKey: {}", self.public_key);
        println!("AgentVersion: {}", self.agent_version);
        println!("ProtocolVersion: {}", self.protocol_version);
        println!("Addresses:");
        for a in &self.addresses {
            println!("  {a}");
        }
        println!("Protocols:");
        for p in &self.protocols {
            println!("  {p}");
        }
        Ok(())
    }
}

/// The public key as `ipfs id` shows it: its protobuf in padded base64.
fn public_key_text(key: &PublicKey) -> String {
    let proto = key.to_protobuf();
    let mut out = vec![0u8; Base::Base64Pad.encoded_len(proto.len())];
    match Base::Base64Pad.encode(&proto, &mut out) {
        Ok(text) => text.to_owned(),
        // The buffer has the length `encoded_len` asks for: this branch is not taken.
        Err(e) => format!("<{e}>"),
    }
}

/// `rhizo id`: this node, from its repo (the addresses are the configured ones).
pub fn show_local_id(repo: &Repo, json: bool) -> Result<()> {
    local_id(repo, None).print(json)
}

/// This node's identity; `addresses` replaces the configured listen addresses (the daemon
/// passes those it listens on, with `/p2p/<id>`).
pub fn local_id(repo: &Repo, addresses: Option<Vec<String>>) -> IdOutput {
    let key = repo.keypair.public();
    let peer = PeerId::from_public_key(&key);
    let addresses = addresses.unwrap_or_else(|| {
        repo.config
            .listen_addrs()
            .iter()
            .map(|a| format!("{}/p2p/{peer}", a.trim_end_matches('/')))
            .collect()
    });
    let protocols = [
        rhizo_core::identify::PROTOCOL_ID,
        rhizo_core::identify::PUSH_PROTOCOL_ID,
        rhizo_core::perf::PROTOCOL_ID,
        rhizo_core::ping::PROTOCOL_ID,
    ];
    IdOutput {
        id: peer.to_base58_string(),
        public_key: public_key_text(&key),
        addresses,
        agent_version: repo
            .config
            .agent_version
            .clone()
            .unwrap_or_else(|| DEFAULT_AGENT_VERSION.to_owned()),
        protocol_version: repo
            .config
            .protocol_version
            .clone()
            .unwrap_or_else(|| DEFAULT_PROTOCOL_VERSION.to_owned()),
        protocols: protocols.iter().map(|p| (*p).to_owned()).collect(),
    }
}

/// `rhizo id MULTIADDR`: what the peer says in identify, with the key it proved.
pub async fn show_remote_id(repo: &Repo, addr: &str, json: bool) -> Result<()> {
    let target = parse_dial(addr)?;
    let host = node::host(repo);
    let conn = node::dial(&host, target).await?;
    let info = conn.identify().await.map_err(node::explain)?;
    let peer = *conn.remote_peer();
    let output = IdOutput {
        id: peer.to_base58_string(),
        public_key: public_key_text(&conn.remote_public_key()),
        addresses: info
            .listen_addrs
            .iter()
            .map(|a| format!("{a}/p2p/{peer}"))
            .collect(),
        agent_version: info.agent_version.unwrap_or_default(),
        protocol_version: info.protocol_version.unwrap_or_default(),
        protocols: info.protocols,
    };
    conn.close().await;
    output.print(json)
}

/// `rhizo ping`: `count` pings a second apart, as `ipfs ping` prints them.
pub async fn ping(repo: &Repo, addr: &str, count: u32) -> Result<()> {
    let target = parse_dial(addr)?;
    let host = node::host(repo);
    let conn = node::dial(&host, target).await?;
    let peer = *conn.remote_peer();
    println!("PING {peer} ({}).", full_multiaddr(target.socket, &peer));
    let mut times = Vec::new();
    for seq in 0..count {
        if seq > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        match conn.ping().await {
            Ok(rtt) => {
                println!("Pong received: time={:.2} ms", millis(rtt));
                times.push(rtt);
            }
            Err(e) => {
                println!("Ping error: {e}");
                if conn.is_closed() {
                    break;
                }
            }
        }
    }
    conn.close().await;
    if times.is_empty() {
        bail!("no pong from {peer}: the peer may not serve /ipfs/ping/1.0.0");
    }
    let total: Duration = times.iter().sum();
    let n = u32::try_from(times.len()).unwrap_or(u32::MAX);
    println!("Average latency: {:.2} ms", millis(total / n));
    if times.len() < count as usize {
        bail!(
            "{} of {count} pings to {peer} got no answer",
            count as usize - times.len()
        );
    }
    Ok(())
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `rhizo perf`: one run of `/perf/1.0.0`.
pub async fn perf(repo: &Repo, addr: &str, upload: u64, download: u64, json: bool) -> Result<()> {
    let target = parse_dial(addr)?;
    let host = node::host(repo);
    let conn = node::dial(&host, target).await?;
    let peer = *conn.remote_peer();
    if !json {
        println!("PERF {peer} ({}).", full_multiaddr(target.socket, &peer));
    }
    let result = conn.perf(upload, download).await.map_err(node::explain)?;
    conn.close().await;
    print_perf(&result, json);
    Ok(())
}

fn print_perf(r: &PerfResult, json: bool) {
    if json {
        // The final line of libp2p's perf client (test-plans/perf).
        println!(
            "{}",
            serde_json::json!({
                "type": "final",
                "timeSeconds": r.total_time.as_secs_f64(),
                "uploadBytes": r.uploaded,
                "downloadBytes": r.downloaded,
            })
        );
        return;
    }
    println!(
        "Uploaded {} in {:.4} s ({})",
        format_bytes(r.uploaded),
        r.upload_time.as_secs_f64(),
        format_bandwidth(r.uploaded, r.upload_time)
    );
    println!(
        "Downloaded {} in {:.4} s ({})",
        format_bytes(r.downloaded),
        r.download_time.as_secs_f64(),
        format_bandwidth(r.downloaded, r.download_time)
    );
    println!(
        "Total {} in {:.4} s ({})",
        format_bytes(r.uploaded + r.downloaded),
        r.total_time.as_secs_f64(),
        format_bandwidth(r.uploaded + r.downloaded, r.total_time)
    );
}

fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    if value < 1024.0 {
        return format!("{bytes} B");
    }
    let mut unit = "B";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    format!("{value:.2} {unit}")
}

fn format_bandwidth(bytes: u64, time: Duration) -> String {
    let secs = time.as_secs_f64();
    if secs <= 0.0 {
        return "- bit/s".to_owned();
    }
    let bits = bytes as f64 * 8.0 / secs;
    let (value, unit) = if bits >= 1e9 {
        (bits / 1e9, "Gbit/s")
    } else if bits >= 1e6 {
        (bits / 1e6, "Mbit/s")
    } else if bits >= 1e3 {
        (bits / 1e3, "kbit/s")
    } else {
        (bits, "bit/s")
    };
    format!("{value:.2} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(format_bytes(5), "5 B");
        assert_eq!(format_bytes(1 << 20), "1.00 MiB");
        assert_eq!(format_bytes(1536), "1.50 KiB");
        assert_eq!(
            format_bandwidth(1_000_000, Duration::from_secs(1)),
            "8.00 Mbit/s"
        );
        assert_eq!(format_bandwidth(1, Duration::ZERO), "- bit/s");
    }

    #[test]
    fn public_key_is_base64_protobuf() {
        let key = rhizo_core::identity::Keypair::from_seed([1; 32]).public();
        // An Ed25519 PublicKey protobuf starts 08 01 12 20: "CAESI" in base64.
        assert!(public_key_text(&key).starts_with("CAESI"));
    }
}
