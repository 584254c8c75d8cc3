//! `rhizo daemon`: listen, serve ping, identify and perf, stop on Ctrl-C or SIGTERM.

use crate::addr::{full_multiaddr, parse_listen};
use crate::node;
use crate::repo::Repo;
use anyhow::Result;
use rhizo_tokio::{Error, Host, Listener};
use std::io::ErrorKind;
use std::net::SocketAddr;
use tokio::task::JoinSet;

/// Runs the node until a stop signal. `listen` replaces the config's addresses when not empty.
pub async fn run(repo: &Repo, listen: &[String]) -> Result<()> {
    let from_flags = !listen.is_empty();
    let texts = if from_flags {
        listen.to_vec()
    } else {
        repo.config.listen_addrs()
    };
    let mut sockets = texts
        .iter()
        .map(|t| parse_listen(t))
        .collect::<Result<Vec<_>>>()?;
    if sockets.is_empty() {
        anyhow::bail!("no listen address: add one to `listen` in config.toml, or pass --listen");
    }
    // `[::]` first: where it is dual-stack (Linux's default) it also takes the IPv4 port, and
    // the `0.0.0.0` socket on that port then fails (see `bind_all`).
    sockets.sort_by_key(|s| !(s.is_ipv6() && s.ip().is_unspecified()));

    let host = node::host(repo);
    let peer = host.peer_id();
    tracing::info!(repo = %repo.dir.display(), "starting");
    println!("PeerId: {peer}");
    let listeners = bind_all(&host, &sockets, from_flags).await?;
    for listener in &listeners {
        println!(
            "Listening on {}",
            full_multiaddr(listener.local_addr(), &peer)
        );
    }
    println!("Daemon is ready");

    let mut tasks = JoinSet::new();
    for listener in listeners {
        tasks.spawn(serve(listener));
    }
    wait_for_stop_signal().await?;
    tracing::info!("stopping");
    // Aborting the accept loops drops their listeners and connection handles, which closes
    // the connections.
    tasks.shutdown().await;
    println!("Daemon stopped");
    Ok(())
}

/// Binds every address, in order. Ignored failures: `0.0.0.0:P` when our own dual-stack
/// `[::]:P` holds the port already, and IPv6 addresses of the default config on a machine
/// without IPv6.
async fn bind_all(host: &Host, sockets: &[SocketAddr], explicit: bool) -> Result<Vec<Listener>> {
    let mut listeners: Vec<Listener> = Vec::new();
    for &socket in sockets {
        match host.listen(socket).await {
            Ok(listener) => {
                tracing::debug!(%socket, "bound");
                listeners.push(listener);
            }
            Err(Error::Listen { source, .. })
                if source.kind() == ErrorKind::AddrInUse
                    && socket.is_ipv4()
                    && socket.ip().is_unspecified()
                    && socket.port() != 0
                    && listeners.iter().any(|l| {
                        let a = l.local_addr();
                        a.is_ipv6() && a.ip().is_unspecified() && a.port() == socket.port()
                    }) =>
            {
                tracing::info!(%socket, "IPv4 is served by the dual-stack IPv6 socket");
            }
            Err(Error::Listen { source, .. })
                if !explicit
                    && socket.is_ipv6()
                    && (matches!(
                        source.kind(),
                        ErrorKind::AddrNotAvailable | ErrorKind::Unsupported
                    ) || source.raw_os_error() == Some(EAFNOSUPPORT)) =>
            {
                tracing::warn!(%socket, %source, "no IPv6 on this machine: not listening there");
            }
            Err(e) => return Err(node::explain(e)),
        }
    }
    if listeners.is_empty() {
        anyhow::bail!("could not listen on any address: pass one with --listen");
    }
    Ok(listeners)
}

/// "Address family not supported by protocol" (Linux), which `ErrorKind` has no name for.
const EAFNOSUPPORT: i32 = 97;

/// Accepts connections and keeps each open until it ends.
async fn serve(mut listener: Listener) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => {
                    let peer = *conn.remote_peer();
                    let addr = conn.remote_addr();
                    tracing::info!(%peer, %addr, "connected");
                    connections.spawn(async move {
                        match conn.closed().await {
                            None => tracing::info!(%peer, "disconnected"),
                            Some(e) => tracing::info!(%peer, error = %e, "connection failed"),
                        }
                    });
                }
                Err(e) => {
                    tracing::error!(error = %e, "the listener stopped");
                    return;
                }
            },
            // Reap the finished connection tasks so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

#[cfg(unix)]
async fn wait_for_stop_signal() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())
        .map_err(|e| anyhow::anyhow!("cannot watch for SIGTERM: {e}"))?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map_err(|e| anyhow::anyhow!("cannot watch for Ctrl-C: {e}"))?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_stop_signal() -> Result<()> {
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| anyhow::anyhow!("cannot watch for Ctrl-C: {e}"))
}
