//! rhizo against rust-libp2p 0.57 over loopback TCP: both dial directions; Ed25519, RSA,
//! secp256k1 and ECDSA identities on the rust-libp2p side; the Noise handshake, ping and
//! identify on both sides; application streams and perf (through libp2p-stream); closing.

use libp2p::futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, SwarmBuilder, identify, identity, noise, ping, tcp, yamux};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;

const LIMIT: Duration = Duration::from_secs(60);
const LIBP2P_AGENT: &str = "rust-libp2p-interop/0.57";
const RHIZO_AGENT: &str = "rhizo-interop/0.1";
const PING: &str = "/ipfs/ping/1.0.0";
const IDENTIFY: &str = "/ipfs/id/1.0.0";

#[derive(NetworkBehaviour)]
struct Behaviour {
    ping: ping::Behaviour,
    identify: identify::Behaviour,
    stream: libp2p_stream::Behaviour,
}

/// What the rust-libp2p swarm reported.
#[derive(Debug)]
enum Seen {
    Listening(Multiaddr),
    Connected(PeerId),
    Pong(PeerId),
    PingFailed(String),
    Identified(PeerId, Box<identify::Info>),
    Closed(PeerId),
    IdentifyFailed(String),
    Failed(String),
}

/// A rust-libp2p swarm running in its own task, reporting what it sees.
struct Libp2pPeer {
    peer_id: PeerId,
    events: mpsc::UnboundedReceiver<Seen>,
    dial: mpsc::UnboundedSender<Multiaddr>,
    disconnect: mpsc::UnboundedSender<PeerId>,
    control: libp2p_stream::Control,
    _task: tokio::task::JoinHandle<()>,
}

fn spawn_libp2p(key: identity::Keypair, listen: bool) -> Libp2pPeer {
    let peer_id = key.public().to_peer_id();
    let mut swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| Behaviour {
            ping: ping::Behaviour::new(
                ping::Config::new().with_interval(Duration::from_millis(300)),
            ),
            identify: identify::Behaviour::new(
                identify::Config::new("ipfs/0.1.0".into(), key.public())
                    .with_agent_version(LIBP2P_AGENT.into()),
            ),
            stream: libp2p_stream::Behaviour::new(),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
        .build();
    if listen {
        swarm
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .unwrap();
    }
    let control = swarm.behaviour().stream.new_control();
    serve_echo_and_perf(control.clone());
    let (events_tx, events) = mpsc::unbounded_channel();
    let (dial, mut dial_rx) = mpsc::unbounded_channel::<Multiaddr>();
    let (disconnect, mut disconnect_rx) = mpsc::unbounded_channel::<PeerId>();
    let task = tokio::spawn(async move {
        loop {
            let seen = tokio::select! {
                event = swarm.select_next_some() => match event {
                    SwarmEvent::NewListenAddr { address, .. } => Seen::Listening(address),
                    SwarmEvent::ConnectionEstablished { peer_id, .. } => Seen::Connected(peer_id),
                    SwarmEvent::ConnectionClosed { peer_id, .. } => Seen::Closed(peer_id),
                    SwarmEvent::OutgoingConnectionError { error, .. } => {
                        Seen::Failed(format!("dial: {error}"))
                    }
                    SwarmEvent::IncomingConnectionError { error, .. } => {
                        Seen::Failed(format!("incoming: {error}"))
                    }
                    SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event { peer, result, .. })) => {
                        match result {
                            Ok(_) => Seen::Pong(peer),
                            Err(e) => Seen::PingFailed(format!("{peer}: {e}")),
                        }
                    }
                    SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                        peer_id,
                        info,
                        ..
                    })) => Seen::Identified(peer_id, Box::new(info)),
                    SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Error {
                        peer_id,
                        error,
                        ..
                    })) => Seen::IdentifyFailed(format!("{peer_id}: {error}")),
                    _ => continue,
                },
                Some(addr) = dial_rx.recv() => match swarm.dial(addr) {
                    Ok(()) => continue,
                    Err(e) => Seen::Failed(format!("dial: {e}")),
                },
                Some(peer) = disconnect_rx.recv() => {
                    let _ = swarm.disconnect_peer_id(peer);
                    continue;
                }
            };
            if events_tx.send(seen).is_err() {
                return;
            }
        }
    });
    Libp2pPeer {
        peer_id,
        events,
        dial,
        disconnect,
        control,
        _task: task,
    }
}

impl Libp2pPeer {
    /// Waits for the first event `pick` accepts; a failure event fails the test.
    async fn wait_for<T>(&mut self, mut pick: impl FnMut(&Seen) -> Option<T>) -> T {
        loop {
            let seen = self.events.recv().await.expect("the swarm task runs");
            if let Some(t) = pick(&seen) {
                return t;
            }
            match seen {
                Seen::Failed(e) => panic!("rust-libp2p: {e}"),
                Seen::PingFailed(e) => panic!("rust-libp2p ping: {e}"),
                Seen::IdentifyFailed(e) => panic!("rust-libp2p identify: {e}"),
                _ => {}
            }
        }
    }

    async fn listen_addr(&mut self) -> SocketAddr {
        let addr = self
            .wait_for(|s| match s {
                Seen::Listening(a) => Some(a.clone()),
                _ => None,
            })
            .await;
        let mut ip = None;
        let mut port = None;
        for p in addr.iter() {
            match p {
                Protocol::Ip4(a) => ip = Some(std::net::IpAddr::V4(a)),
                Protocol::Tcp(p) => port = Some(p),
                _ => {}
            }
        }
        SocketAddr::new(ip.unwrap(), port.unwrap())
    }

    /// Waits until the swarm has connected to, pinged and identified `rhizo`, and checks what
    /// identify told it.
    async fn expect_rhizo(&mut self, rhizo: PeerId) {
        let (mut connected, mut ponged, mut identified) = (false, false, false);
        while !(connected && ponged && identified) {
            let seen = self.events.recv().await.expect("the swarm task runs");
            match seen {
                Seen::Connected(p) => connected |= p == rhizo,
                Seen::Pong(p) => ponged |= p == rhizo,
                Seen::Identified(p, info) if p == rhizo => {
                    assert_eq!(info.agent_version, RHIZO_AGENT);
                    assert_eq!(info.public_key.to_peer_id(), rhizo);
                    let protocols: Vec<String> =
                        info.protocols.iter().map(|p| p.to_string()).collect();
                    for p in [PING, IDENTIFY] {
                        assert!(protocols.iter().any(|q| q == p), "{p} in {protocols:?}");
                    }
                    identified = true;
                }
                Seen::Failed(e) => panic!("rust-libp2p: {e}"),
                Seen::PingFailed(e) => panic!("rust-libp2p ping: {e}"),
                Seen::IdentifyFailed(e) => panic!("rust-libp2p identify: {e}"),
                _ => {}
            }
        }
    }
}

fn rhizo_host() -> rhizo_tokio::Host {
    rhizo_tokio::Host::builder()
        .agent_version(RHIZO_AGENT)
        .build()
}

fn to_rhizo(peer: &PeerId) -> rhizo_tokio::PeerId {
    rhizo_tokio::PeerId::from_bytes(&peer.to_bytes()).unwrap()
}

fn to_libp2p(peer: &rhizo_tokio::PeerId) -> PeerId {
    PeerId::from_bytes(&peer.to_bytes()).unwrap()
}

/// What rhizo checks on a connection to the rust-libp2p peer.
async fn check_from_rhizo(conn: &rhizo_tokio::ConnectionHandle, libp2p: PeerId) {
    assert_eq!(to_libp2p(conn.remote_peer()), libp2p);
    let rtt = conn.ping().await.unwrap();
    assert!(rtt < Duration::from_secs(2), "{rtt:?}");
    let info = conn.identify().await.unwrap();
    assert_eq!(info.agent_version.as_deref(), Some(LIBP2P_AGENT));
    for p in [PING, IDENTIFY] {
        assert!(info.protocols.iter().any(|q| q == p), "{p} in {info:?}");
    }
    let observed = info
        .observed_addr
        .expect("rust-libp2p sends the observed address");
    assert_eq!(
        Some(observed),
        rhizo_tokio::socket_multiaddr(conn.local_addr())
    );
}

async fn rhizo_dials_libp2p(key: identity::Keypair) {
    let mut libp2p = spawn_libp2p(key, true);
    let addr = libp2p.listen_addr().await;
    let host = rhizo_host();
    let conn = host
        .dial(addr, Some(to_rhizo(&libp2p.peer_id)))
        .await
        .unwrap();
    check_from_rhizo(&conn, libp2p.peer_id).await;
    libp2p.expect_rhizo(to_libp2p(&host.peer_id())).await;
    conn.close().await;
}

async fn libp2p_dials_rhizo(key: identity::Keypair) {
    let host = rhizo_host();
    let mut listener = host.listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut libp2p = spawn_libp2p(key, false);
    let rhizo_peer = to_libp2p(&host.peer_id());
    let addr: Multiaddr = rhizo_tokio::socket_multiaddr(listener.local_addr())
        .unwrap()
        .to_string()
        .parse::<Multiaddr>()
        .unwrap()
        .with(Protocol::P2p(rhizo_peer));
    libp2p.dial.send(addr).unwrap();
    let conn = listener.accept().await.unwrap();
    check_from_rhizo(&conn, libp2p.peer_id).await;
    libp2p.expect_rhizo(rhizo_peer).await;
}

fn rsa_key() -> identity::Keypair {
    // rust-libp2p's own RSA test key (see core/tests/vectors/peer-ids/).
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/tests/vectors/peer-ids/rust-libp2p-identity/rsa-2048.pk8"
    );
    let mut der = std::fs::read(path).unwrap();
    identity::Keypair::rsa_from_pkcs8(&mut der).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rhizo_dials_rust_libp2p_ed25519() {
    tokio::time::timeout(
        LIMIT,
        rhizo_dials_libp2p(identity::Keypair::generate_ed25519()),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_libp2p_ed25519_dials_rhizo() {
    tokio::time::timeout(
        LIMIT,
        libp2p_dials_rhizo(identity::Keypair::generate_ed25519()),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rhizo_dials_rust_libp2p_rsa() {
    tokio::time::timeout(LIMIT, rhizo_dials_libp2p(rsa_key()))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_libp2p_rsa_dials_rhizo() {
    tokio::time::timeout(LIMIT, libp2p_dials_rhizo(rsa_key()))
        .await
        .unwrap();
}

// ---- application streams and perf, with rust-libp2p's plain stream API ----

const ECHO: &str = "/echo/1.0.0";
const PERF: &str = "/perf/1.0.0";

/// Serves `/echo/1.0.0` (read to the end, write it back, close) and `/perf/1.0.0` (the perf
/// spec: an 8-byte big-endian size to send back, then everything up to the end, then that many
/// bytes) on the rust-libp2p side.
fn serve_echo_and_perf(mut control: libp2p_stream::Control) {
    use libp2p::futures::{AsyncReadExt, AsyncWriteExt};
    let mut echo = control.accept(libp2p::StreamProtocol::new(ECHO)).unwrap();
    let mut perf = control.accept(libp2p::StreamProtocol::new(PERF)).unwrap();
    tokio::spawn(async move {
        while let Some((_, mut stream)) = echo.next().await {
            tokio::spawn(async move {
                let mut data = Vec::new();
                stream.read_to_end(&mut data).await.unwrap();
                stream.write_all(&data).await.unwrap();
                stream.close().await.unwrap();
            });
        }
    });
    tokio::spawn(async move {
        while let Some((_, mut stream)) = perf.next().await {
            tokio::spawn(async move {
                let mut size = [0u8; 8];
                stream.read_exact(&mut size).await.unwrap();
                let mut buf = vec![0u8; 64 * 1024];
                while stream.read(&mut buf).await.unwrap() > 0 {}
                let mut left = u64::from_be_bytes(size);
                while left > 0 {
                    let n = left.min(buf.len() as u64) as usize;
                    stream.write_all(&buf[..n]).await.unwrap();
                    left -= n as u64;
                }
                stream.close().await.unwrap();
            });
        }
    });
}

fn echo_data(i: usize) -> Vec<u8> {
    (0..(i * 7919) % 200_000 + 1)
        .map(|x| (x as u8) ^ (i as u8))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rhizo_streams_and_perf_against_rust_libp2p() {
    tokio::time::timeout(LIMIT, async {
        let mut libp2p = spawn_libp2p(identity::Keypair::generate_ed25519(), true);
        let addr = libp2p.listen_addr().await;
        let conn = rhizo_host()
            .dial(addr, Some(to_rhizo(&libp2p.peer_id)))
            .await
            .unwrap();
        // rust-libp2p's yamux windows and ACKs, with rhizo as the perf client.
        let started = std::time::Instant::now();
        let result = conn.perf(10 << 20, 10 << 20).await.unwrap();
        assert_eq!((result.uploaded, result.downloaded), (10 << 20, 10 << 20));
        eprintln!(
            "perf, rhizo client, 10 MiB each way: {:?}",
            started.elapsed()
        );
        // One stream at a time: libp2p-stream drops inbound streams that arrive while its
        // accept channel is full (it holds one), so a burst of streams would see resets.
        // Concurrency is tested the other way round, and rhizo to rhizo.
        for i in 0..20 {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let data = echo_data(i);
            let stream = conn.open_stream(ECHO).await.unwrap();
            let (mut rd, mut wr) = tokio::io::split(stream);
            let writer = async {
                wr.write_all(&data).await.unwrap();
                wr.shutdown().await.unwrap();
            };
            let mut back = Vec::new();
            let ((), read) = tokio::join!(writer, rd.read_to_end(&mut back));
            read.unwrap();
            assert!(
                back == data,
                "stream {i}: {} of {} bytes",
                back.len(),
                data.len()
            );
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_libp2p_streams_and_perf_against_rhizo() {
    use libp2p::futures::{AsyncReadExt, AsyncWriteExt};
    tokio::time::timeout(LIMIT, async {
        static PROTOCOLS: &[&str] = &[ECHO];
        let host = rhizo_tokio::Host::builder()
            .agent_version(RHIZO_AGENT)
            .app_protocols(PROTOCOLS)
            .build();
        let listener = host.listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let libp2p = spawn_libp2p(identity::Keypair::generate_ed25519(), false);
        let rhizo_peer = to_libp2p(&host.peer_id());
        let addr: Multiaddr = rhizo_tokio::socket_multiaddr(listener.local_addr())
            .unwrap()
            .to_string()
            .parse::<Multiaddr>()
            .unwrap()
            .with(Protocol::P2p(rhizo_peer));
        libp2p.dial.send(addr).unwrap();
        // rhizo echoes every inbound stream.
        let mut listener = listener;
        let mut conn = listener.accept().await.unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Some(mut stream) = conn.accept_stream().await {
                tokio::spawn(async move {
                    let mut data = Vec::new();
                    stream.read_to_end(&mut data).await.unwrap();
                    stream.write_all(&data).await.unwrap();
                    stream.shutdown().await.unwrap();
                });
            }
        });
        // rust-libp2p as the perf client of rhizo's perf server.
        let mut control = libp2p.control.clone();
        let mut perf = control
            .open_stream(rhizo_peer, libp2p::StreamProtocol::new(PERF))
            .await
            .unwrap();
        let (upload, download) = (10u64 << 20, 10u64 << 20);
        let chunk = vec![7u8; 64 * 1024];
        let (mut rd, mut wr) = perf.split();
        let writer = async {
            wr.write_all(&download.to_be_bytes()).await.unwrap();
            for _ in 0..upload / chunk.len() as u64 {
                wr.write_all(&chunk).await.unwrap();
            }
            wr.close().await.unwrap();
        };
        let reader = async {
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = 0u64;
            loop {
                let n = rd.read(&mut buf).await.unwrap();
                if n == 0 {
                    return got;
                }
                got += n as u64;
            }
        };
        let started = std::time::Instant::now();
        let ((), got) = tokio::join!(writer, reader);
        assert_eq!(got, download);
        eprintln!(
            "perf, rust-libp2p client, 10 MiB each way: {:?}",
            started.elapsed()
        );
        perf = rd.reunite(wr).unwrap();
        drop(perf);
        let mut tasks = Vec::new();
        for i in 0..20 {
            let mut control = libp2p.control.clone();
            tasks.push(tokio::spawn(async move {
                let data = echo_data(i);
                let stream = control
                    .open_stream(rhizo_peer, libp2p::StreamProtocol::new(ECHO))
                    .await
                    .unwrap();
                let (mut rd, mut wr) = stream.split();
                let writer = async {
                    wr.write_all(&data).await.unwrap();
                    wr.close().await.unwrap();
                };
                let mut back = Vec::new();
                let ((), read) = tokio::join!(writer, rd.read_to_end(&mut back));
                read.unwrap();
                assert!(
                    back == data,
                    "stream {i}: {} of {} bytes",
                    back.len(),
                    data.len()
                );
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await
    .unwrap();
}

// ---- closing ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_from_either_side_ends_both() {
    tokio::time::timeout(LIMIT, async {
        let mut libp2p = spawn_libp2p(identity::Keypair::generate_ed25519(), true);
        let addr = libp2p.listen_addr().await;
        let host = rhizo_host();
        let rhizo_peer = to_libp2p(&host.peer_id());
        // rhizo closes: rust-libp2p sees the connection end.
        let conn = host
            .dial(addr, Some(to_rhizo(&libp2p.peer_id)))
            .await
            .unwrap();
        conn.ping().await.unwrap();
        conn.close().await;
        libp2p
            .wait_for(|s| matches!(s, Seen::Closed(p) if *p == rhizo_peer).then_some(()))
            .await;
        // rust-libp2p closes: rhizo's calls fail with `Closed`.
        let conn = host
            .dial(addr, Some(to_rhizo(&libp2p.peer_id)))
            .await
            .unwrap();
        conn.ping().await.unwrap();
        libp2p.disconnect.send(rhizo_peer).unwrap();
        libp2p
            .wait_for(|s| matches!(s, Seen::Closed(p) if *p == rhizo_peer).then_some(()))
            .await;
        // A clean end: rust-libp2p's go-away (or its socket's end), no error.
        assert!(conn.closed().await.is_none());
        assert!(matches!(conn.ping().await, Err(rhizo_tokio::Error::Closed)));
    })
    .await
    .unwrap();
}

// ---- the other key types of the peer-id spec ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secp256k1_and_ecdsa_rust_libp2p_peers_both_ways() {
    tokio::time::timeout(LIMIT, async {
        for key in [
            identity::Keypair::generate_secp256k1(),
            identity::Keypair::generate_ecdsa(),
        ] {
            rhizo_dials_libp2p(key.clone()).await;
            libp2p_dials_rhizo(key).await;
        }
    })
    .await
    .unwrap();
}
