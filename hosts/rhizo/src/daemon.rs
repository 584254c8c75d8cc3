//! `rhizo daemon`: listen, serve ping, identify and perf, stop on Ctrl-C or SIGTERM.

use crate::addr::{full_multiaddr, parse_listen};
use crate::node;
use crate::repo::Repo;
use anyhow::Result;
use rhizo_tokio::{Error, Host, Listener};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
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

    let mut stop = StopSignals::install()?;
    let host = node::host(repo);
    let peer = host.peer_id();
    tracing::info!(repo = %repo.dir.display(), "starting");
    println!("PeerId: {peer}");
    let (listeners, covered) = bind_all(&host, &sockets, from_flags).await?;
    let bound = listeners.iter().map(Listener::local_addr).chain(covered);
    let mut reachable: Vec<SocketAddr> = bound.flat_map(reachable_addrs).collect();
    // IPv4 first: the address most users want to copy.
    reachable.sort_by_key(SocketAddr::is_ipv6);
    for addr in reachable {
        println!("Listening on {}", full_multiaddr(addr, &peer));
    }
    println!("Daemon is ready");

    let mut tasks = JoinSet::new();
    for listener in listeners {
        tasks.spawn(serve(listener));
    }
    stop.wait().await?;
    tracing::info!("stopping");
    // Aborting the accept loops drops their listeners and connection handles, which closes
    // the connections.
    tasks.shutdown().await;
    println!("Daemon stopped");
    Ok(())
}

/// Binds every address, in order. Ignored failures: `0.0.0.0:P` when our own dual-stack
/// `[::]:P` holds the port already, and IPv6 addresses of the default config on a machine
/// without IPv6. Returns the listeners, and the IPv4 addresses served by dual-stack ones.
async fn bind_all(
    host: &Host,
    sockets: &[SocketAddr],
    explicit: bool,
) -> Result<(Vec<Listener>, Vec<SocketAddr>)> {
    let mut listeners: Vec<Listener> = Vec::new();
    let mut covered = Vec::new();
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
                covered.push(socket);
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
    Ok((listeners, covered))
}

/// The addresses a listener on `local` is reached at: `local` itself, or for a wildcard
/// (`0.0.0.0`, `::`) each interface address of its family (IPv6 link-local ones left out: they
/// need a zone to be dialed).
fn reachable_addrs(local: SocketAddr) -> Vec<SocketAddr> {
    if !local.ip().is_unspecified() {
        return vec![local];
    }
    let found: Vec<SocketAddr> = interface_ips()
        .into_iter()
        .filter(|ip| ip.is_ipv4() == local.is_ipv4())
        .filter(|ip| match ip {
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
            IpAddr::V4(_) => true,
        })
        .map(|ip| SocketAddr::new(ip, local.port()))
        .collect();
    if found.is_empty() { vec![local] } else { found }
}

#[cfg(unix)]
fn interface_ips() -> Vec<IpAddr> {
    let Ok(interfaces) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut ips = Vec::new();
    for interface in interfaces {
        let Some(address) = interface.address else {
            continue;
        };
        let ip = if let Some(v4) = address.as_sockaddr_in() {
            IpAddr::V4(v4.ip())
        } else if let Some(v6) = address.as_sockaddr_in6() {
            IpAddr::V6(v6.ip())
        } else {
            continue;
        };
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    ips
}

#[cfg(not(unix))]
fn interface_ips() -> Vec<IpAddr> {
    Vec::new()
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

/// Ctrl-C and SIGTERM, watched from before the first line is printed: a signal that comes
/// after the daemon says it is ready must stop it cleanly, not kill it.
#[derive(Debug)]
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    #[cfg(unix)]
    fn install() -> Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let watch =
            |kind, name| signal(kind).map_err(|e| anyhow::anyhow!("cannot watch for {name}: {e}"));
        Ok(StopSignals {
            interrupt: watch(SignalKind::interrupt(), "Ctrl-C (SIGINT)")?,
            terminate: watch(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    #[cfg(not(unix))]
    fn install() -> Result<Self> {
        Ok(StopSignals {})
    }

    /// Waits for the first stop signal.
    #[cfg(unix)]
    async fn wait(&mut self) -> Result<()> {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        Ok(())
    }

    #[cfg(not(unix))]
    async fn wait(&mut self) -> Result<()> {
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| anyhow::anyhow!("cannot watch for Ctrl-C: {e}"))
    }
}
