//! `rhizo daemon`: listen, serve ping, identify, perf and Bitswap and the local HTTP API,
//! stop on Ctrl-C or SIGTERM.

use crate::addr::{full_multiaddr, parse_listen};
use crate::api::{self, API_FILE, ApiState, PeerTable};
use crate::exchange::Exchange;
use crate::node;
use crate::repo::Repo;
use crate::store::Store;
use crate::swarm::Swarm;
use anyhow::{Context, Result, bail};
use rhizo_tokio::{Error, Host, Listener};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::task::JoinSet;

/// Runs the node until a stop signal. `listen` replaces the config's addresses when not empty,
/// `api` the config's API address.
pub async fn run(repo: &Repo, listen: &[String], api: Option<&str>) -> Result<()> {
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

    let api_socket = api_socket(repo, api)?;
    let mut stop = StopSignals::install()?;
    // The daemon holds the store while it runs; the CLI then goes through the API.
    let dir = repo.dir.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&dir))
        .await
        .context("opening the block store")??;
    let store = Arc::new(store);
    let exchange = Exchange::start(Arc::clone(&store), Exchange::daemon_config())
        .context("starting Bitswap")?;
    let host = node::daemon_host(repo);
    let peer = host.peer_id();
    tracing::info!(repo = %repo.dir.display(), "starting");
    println!("PeerId: {peer}");
    let (listeners, covered) = bind_all(&host, &sockets, from_flags).await?;
    let bound = listeners.iter().map(Listener::local_addr).chain(covered);
    let mut reachable: Vec<SocketAddr> = bound.flat_map(reachable_addrs).collect();
    // IPv4 first: the address most users want to copy.
    reachable.sort_by_key(SocketAddr::is_ipv6);
    let addresses: Vec<String> = reachable
        .iter()
        .map(|a| full_multiaddr(*a, &peer))
        .collect();
    for addr in &addresses {
        println!("Listening on {addr}");
    }

    let peers = PeerTable::default();
    let swarm = Swarm::new(host.clone(), exchange, Arc::clone(&peers));
    let state = Arc::new(ApiState {
        store,
        id: crate::client::local_id(repo, Some(addresses)),
        peers: Arc::clone(&peers),
        swarm: swarm.clone(),
    });
    let api_listener = tokio::net::TcpListener::bind(api_socket)
        .await
        .map_err(|e| api_bind_error(api_socket, e))?;
    let api_addr = api_listener
        .local_addr()
        .context("reading the API's address")?;
    let api_multiaddr = rhizo_tokio::socket_multiaddr(api_addr)
        .map_or_else(|| api_addr.to_string(), |a| a.to_string());
    let api_file = repo.dir.join(API_FILE);
    // Written whole, then renamed: a CLI reading it meanwhile never sees half an address.
    let partial = repo.dir.join(format!("{API_FILE}.partial"));
    std::fs::write(&partial, &api_multiaddr)
        .and_then(|()| std::fs::rename(&partial, &api_file))
        .with_context(|| format!("cannot write the API address to {}", api_file.display()))?;
    println!("API server listening on {api_multiaddr}");
    let (api_stop, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let api_task = tokio::spawn(api::serve(api_listener, api::router(state), async move {
        let _ = api_stopped.await;
    }));
    println!("Daemon is ready");

    let mut tasks = JoinSet::new();
    for listener in listeners {
        tasks.spawn(serve(listener, swarm.clone()));
    }
    stop.wait().await?;
    tracing::info!("stopping");
    // Aborting the accept loops drops their listeners and connection handles, which closes
    // the connections.
    tasks.shutdown().await;
    if let Err(e) = std::fs::remove_file(&api_file) {
        tracing::warn!(error = %e, "cannot remove the api file");
    }
    let _ = api_stop.send(());
    // Requests in flight finish (a gc may take a moment); the store closes with the state.
    match api_task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "the API server failed"),
        Err(e) => tracing::warn!(error = %e, "the API task failed"),
    }
    // Bitswap lets go of the store last, so the database is closed before the process ends.
    swarm.exchange().shutdown().await;
    println!("Daemon stopped");
    Ok(())
}

/// The API's socket address: `--api`, or the config's; loopback only unless the config allows
/// others.
fn api_socket(repo: &Repo, flag: Option<&str>) -> Result<SocketAddr> {
    let text = flag.unwrap_or(repo.config.api_addr());
    let socket =
        parse_listen(text).context("bad API address (from --api or `api` in config.toml)")?;
    if !socket.ip().is_loopback() && repo.config.api_allow_remote != Some(true) {
        bail!(
            "the API address {text} is not a loopback address: the API has no authentication,              so anyone reaching it controls the node. Use /ip4/127.0.0.1/tcp/5001, or set              api_allow_remote = true in config.toml if that is really meant"
        );
    }
    Ok(socket)
}

fn api_bind_error(socket: SocketAddr, e: std::io::Error) -> anyhow::Error {
    let advice = match e.kind() {
        ErrorKind::AddrInUse => {
            "the port is in use (another rhizo daemon or an IPFS node?): stop it, or choose              another address with --api or `api` in config.toml (port 0 picks a free one)"
        }
        _ => "check the API address (--api or `api` in config.toml)",
    };
    anyhow::anyhow!("cannot serve the API on {socket}: {e}\n  hint: {advice}")
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

/// Accepts connections and attaches each to the swarm (listed, and serving Bitswap).
async fn serve(mut listener: Listener, swarm: Swarm) {
    loop {
        match listener.accept().await {
            Ok(conn) => swarm.attach(conn, true),
            Err(e) => {
                tracing::error!(error = %e, "the listener stopped");
                return;
            }
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
