//! The node of a repo: its [`Host`], and driver errors turned into advice.

use crate::addr::DialTarget;
use crate::repo::Repo;
use anyhow::anyhow;
use rhizo_tokio::{ConnectionHandle, Error, Host, HostBuilder};
use std::io::ErrorKind;
use std::time::Duration;

/// A host with the repo's identity and settings.
pub fn host(repo: &Repo) -> Host {
    builder(repo).build()
}

/// The daemon's host: the repo's, accepting Bitswap streams too.
pub fn daemon_host(repo: &Repo) -> Host {
    builder(repo)
        .app_protocols(&rhizo_core::bitswap::PROTOCOL_IDS)
        .build()
}

fn builder(repo: &Repo) -> HostBuilder {
    let mut builder = Host::builder().keypair(repo.keypair.clone());
    if let Some(agent) = &repo.config.agent_version {
        builder = builder.agent_version(agent.clone());
    }
    if let Some(version) = &repo.config.protocol_version {
        builder = builder.protocol_version(version.clone());
    }
    if let Some(secs) = repo.config.request_timeout_secs {
        builder = builder.request_timeout(Duration::from_secs(secs));
    }
    builder
}

/// Dials `target`, with advice in the error.
pub async fn dial(host: &Host, target: DialTarget) -> anyhow::Result<ConnectionHandle> {
    host.dial(target.socket, target.peer).await.map_err(explain)
}

/// The driver's error, with what to do about it.
pub fn explain(e: Error) -> anyhow::Error {
    let advice = match &e {
        Error::Connect { source, .. } => match source.kind() {
            ErrorKind::ConnectionRefused => {
                "nothing listens there: check the address and that the peer runs (`rhizo daemon`)"
            }
            _ => "check the address, and that the peer runs and is reachable from here",
        },
        Error::Listen { source, .. } => match source.kind() {
            ErrorKind::AddrInUse => {
                "the port is in use (another rhizo daemon?): stop that process, or choose \
                 another address with --listen (port 0 picks a free one)"
            }
            ErrorKind::AddrNotAvailable => {
                "this machine has no such IP address: use one of its own, or 0.0.0.0 / ::"
            }
            ErrorKind::PermissionDenied => "ports below 1024 need privileges: use a higher port",
            _ => "check the listen address (from --listen or config.toml)",
        },
        Error::WrongPeer { .. } => {
            "the /p2p/ part of the address names another peer than the one that answered: \
             check the address (`rhizo id` on that peer prints its PeerId)"
        }
        Error::Timeout { .. } => "the peer did not answer in time: it may be overloaded or gone",
        Error::Connection(_) => {
            "is the peer a libp2p node speaking Noise and yamux over TCP? (rhizo, kubo, \
             rust-libp2p and js-libp2p are)"
        }
        Error::ProtocolRefused | Error::Ping(_) | Error::Perf(_) | Error::IdentifyFailed => {
            "the peer may not serve this protocol"
        }
        _ => return anyhow!(e),
    };
    anyhow!("{e}\n  hint: {advice}")
}
