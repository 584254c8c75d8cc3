//! rhizo against rust-libp2p 0.57 (TCP + Noise + yamux, its defaults) on 127.0.0.1, in one run
//! so that the ratios compare on the same machine under the same load:
//!
//! 1. `/perf/1.0.0` on one stream, `RHIZO_BENCH_BYTES` up then as many down (default 256 MiB),
//!    rhizo client against rhizo server and rust-libp2p client against rust-libp2p server,
//!    median of `RHIZO_BENCH_RUNS` (default 3) on one connection: once with client and server
//!    in this process (one runtime, 2 workers), once "pinned": server and client in two
//!    processes of this binary, on cores 1 and 0 (`taskset`), each on a one-thread runtime,
//!    with the CPU seconds each process used per GB moved.
//! 2. Dials per second: `RHIZO_BENCH_DIALS` (default 1000) sequential full dials (TCP,
//!    multistream, Noise, yamux) each followed by one ping and a close, measured before the
//!    perf runs.
//! 3. Server memory per idle connection: a server process alone (this binary again, with
//!    `RHIZO_BENCH_MODE`) measures its resident set before and after `RHIZO_BENCH_IDLE`
//!    (default 1000, as the issue asks) connections from a client process of the same
//!    implementation.
//! 4. The machine's ceilings: C, one core sealing then opening 65519-byte Noise frames with
//!    each provider; T, plain tokio TCP over loopback on one stream; L = 1/(1/C + 1/T).
//!
//! Run with `cargo bench -p rhizo-tests --bench vs_rust_libp2p` (about 20 s with the defaults
//! on the 2-core development machine; `RHIZO_BENCH_BYTES=1073741824` for the 1 GiB);
//! results and the machine are in BENCHMARKS.md. Each row's median is taken per column, not
//! per run.
//!
//! # Q&A
//! *Why not criterion?* The measures are whole transfers and process memory, a few samples
//! each; a median of runs in one process says what criterion would, in far less time.
//!
//! *How are upload and download timed?* As rhizo's perf client times them, for both: upload
//! from the start to the last upload byte handed to the stream (with the close), download from
//! there to the server's end of stream. Both ways together (`2 × bytes / total`) does not
//! depend on where that boundary falls.
//!
//! *Why the pinned run?* The limit L = 1/(1/C + 1/T) is that of a receiver with one
//! core to itself. In one process on a 2-core machine, sender and receiver tasks share both
//! cores and the scheduler decides how well they overlap (the same code measures 6.7 or 12
//! Gbit/s from run to run); with one core per side each gets what L assumes. Both
//! implementations are measured both ways.
//!
//! *Why does rust-libp2p run ping and no identify?* rhizo answers identify but does not ask on
//! its own; a rust-libp2p with identify would exchange it on every connection. Both sides run
//! ping (rust-libp2p's pings every 15 s, and once at once) and serve perf.

use libp2p::futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, SwarmBuilder, identity, noise, ping, tcp, yamux};
use rhizo_core::crypto::{AeadCipher, CryptoProvider, Portable};
use rhizo_core::noise::MAX_PLAINTEXT_LEN;
use rhizo_native_crypto::Native;
use std::collections::HashMap;
use std::hint::black_box;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

const PERF: &str = "/perf/1.0.0";
const MODE: &str = "RHIZO_BENCH_MODE";
const SERVER_ADDR: &str = "RHIZO_BENCH_ADDR";
/// How long the memory server lets its connections sit before measuring: rhizo frees idle
/// frame buffers and yamux rings after one second.
const SETTLE: Duration = Duration::from_secs(3);
/// `/proc/self/statm` counts pages; 4 KiB on x86_64 and aarch64 Linux as configured here.
const PAGE: u64 = 4096;
const CHUNK: usize = 64 * 1024;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("a socket address")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The runtime of the pinned perf processes: one thread, so the process uses the one core
/// `taskset` gives it.
fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn gbit(bytes: u64, time: Duration) -> f64 {
    bytes as f64 * 8.0 / time.as_secs_f64() / 1e9
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mode = std::env::var(MODE).unwrap_or_default();
    let idle = env_u64("RHIZO_BENCH_IDLE", 1000) as usize;
    match mode.as_str() {
        "mem-rhizo" => runtime().block_on(memory_server(Side::Rhizo, idle)),
        "mem-libp2p" => runtime().block_on(memory_server(Side::Libp2p, idle)),
        "client-rhizo" => runtime().block_on(memory_client(Side::Rhizo, idle)),
        "client-libp2p" => runtime().block_on(memory_client(Side::Libp2p, idle)),
        "perf-server-rhizo" => current_thread().block_on(perf_server(Side::Rhizo)),
        "perf-server-libp2p" => current_thread().block_on(perf_server(Side::Libp2p)),
        "perf-client-rhizo" => current_thread().block_on(perf_client(Side::Rhizo)),
        "perf-client-libp2p" => current_thread().block_on(perf_client(Side::Libp2p)),
        // The pinned perf of both alone: `RHIZO_BENCH_MODE=pinned`.
        "pinned" => {
            let bytes = env_u64("RHIZO_BENCH_BYTES", 256 << 20);
            let runs = env_u64("RHIZO_BENCH_RUNS", 3) as usize;
            for side in [Side::Rhizo, Side::Libp2p] {
                let (results, cpu) = pinned_perf(side, bytes, runs);
                let moved = (2 * bytes * runs as u64) as f64;
                println!(
                    "{}: CPU per GB moved: client {:.3} s, server {:.3} s",
                    side.name(),
                    cpu.client / moved * 1e9,
                    cpu.server / moved * 1e9
                );
                for r in results {
                    println!(
                        "{}: up {:.2} down {:.2} both {:.2} Gbit/s",
                        side.name(),
                        r.up,
                        r.down,
                        r.both
                    );
                }
            }
        }
        // One implementation's perf alone (for profiling): `RHIZO_BENCH_MODE=perf-rhizo`.
        "perf-rhizo" | "perf-libp2p" => {
            let bytes = env_u64("RHIZO_BENCH_BYTES", 256 << 20);
            let runs = env_u64("RHIZO_BENCH_RUNS", 3) as usize;
            let rt = runtime();
            let runs = if mode == "perf-rhizo" {
                rt.block_on(rhizo_perf(bytes, runs))
            } else {
                rt.block_on(libp2p_perf(bytes, runs))
            };
            for r in runs {
                println!(
                    "up {:.2} down {:.2} both {:.2} Gbit/s",
                    r.up, r.down, r.both
                );
            }
        }
        _ => compare(idle),
    }
}

/// One row of the table: what, rhizo, rust-libp2p, the target ratio (rhizo / rust-libp2p) and
/// whether a higher value is better.
struct Row {
    what: &'static str,
    rhizo: f64,
    libp2p: f64,
    target: Option<f64>,
    higher_is_better: bool,
}

fn compare(idle: usize) {
    let bytes = env_u64("RHIZO_BENCH_BYTES", 256 << 20);
    let runs = env_u64("RHIZO_BENCH_RUNS", 3) as usize;
    let dials = env_u64("RHIZO_BENCH_DIALS", 1000) as usize;
    let rt = runtime();

    eprintln!("ceilings ...");
    let c_portable = aead_gbit::<Portable>();
    let c_native = aead_gbit::<Native>();
    let t = median(
        (0..3)
            .map(|_| rt.block_on(tcp_gbit(1 << 30)))
            .collect::<Vec<_>>(),
    );
    let limit = |c: f64| 1.0 / (1.0 / c + 1.0 / t);
    let (l_native, l_portable) = (limit(c_native), limit(c_portable));

    // Dials first: after gigabytes of perf traffic both implementations dial slower and the
    // ratio moves more (a few hundred dials take well under a second).
    eprintln!("dials, {dials} ...");
    let rhizo_dials = rt.block_on(rhizo_dials(dials));
    let libp2p_dials = rt.block_on(libp2p_dials(dials));
    eprintln!("perf, {bytes} bytes each way, {runs} runs ...");
    let rhizo_perf = rt.block_on(rhizo_perf(bytes, runs));
    let libp2p_perf = rt.block_on(libp2p_perf(bytes, runs));
    let pinned = can_pin();
    let ((rhizo_pinned, rhizo_cpu), (libp2p_pinned, libp2p_cpu)) = if pinned {
        eprintln!(
            "perf pinned (server on core 1, client on core 0), {bytes} bytes, {runs} runs ..."
        );
        (
            pinned_perf(Side::Rhizo, bytes, runs),
            pinned_perf(Side::Libp2p, bytes, runs),
        )
    } else {
        eprintln!("perf pinned: skipped (needs 2 cores and `taskset`)");
        let none = CpuSeconds {
            client: f64::NAN,
            server: f64::NAN,
        };
        ((Vec::new(), none), (Vec::new(), none))
    };
    let moved_gb = (2 * bytes * runs as u64) as f64 / 1e9;
    eprintln!("memory, {idle} idle connections ...");
    let rhizo_mem = memory_in_child("mem-rhizo", idle);
    let libp2p_mem = memory_in_child("mem-libp2p", idle);

    let pick = |p: &[Perf], f: fn(&Perf) -> f64| {
        if p.is_empty() {
            f64::NAN
        } else {
            median(p.iter().map(f).collect())
        }
    };
    let rows = [
        Row {
            what: "perf upload, Gbit/s",
            rhizo: pick(&rhizo_perf, |p| p.up),
            libp2p: pick(&libp2p_perf, |p| p.up),
            target: Some(1.6),
            higher_is_better: true,
        },
        Row {
            what: "perf download, Gbit/s",
            rhizo: pick(&rhizo_perf, |p| p.down),
            libp2p: pick(&libp2p_perf, |p| p.down),
            target: Some(1.6),
            higher_is_better: true,
        },
        Row {
            what: "perf both ways (2 × bytes / total), Gbit/s",
            rhizo: pick(&rhizo_perf, |p| p.both),
            libp2p: pick(&libp2p_perf, |p| p.both),
            target: Some(1.6),
            higher_is_better: true,
        },
        Row {
            what: "pinned perf upload (one core per side), Gbit/s",
            rhizo: pick(&rhizo_pinned, |p| p.up),
            libp2p: pick(&libp2p_pinned, |p| p.up),
            target: Some(1.6),
            higher_is_better: true,
        },
        Row {
            what: "pinned perf download (one core per side), Gbit/s",
            rhizo: pick(&rhizo_pinned, |p| p.down),
            libp2p: pick(&libp2p_pinned, |p| p.down),
            target: Some(1.6),
            higher_is_better: true,
        },
        Row {
            what: "pinned perf both ways, Gbit/s",
            rhizo: pick(&rhizo_pinned, |p| p.both),
            libp2p: pick(&libp2p_pinned, |p| p.both),
            target: Some(1.6),
            higher_is_better: true,
        },
        Row {
            what: "pinned perf CPU seconds per GB moved, client + server",
            rhizo: (rhizo_cpu.client + rhizo_cpu.server) / moved_gb,
            libp2p: (libp2p_cpu.client + libp2p_cpu.server) / moved_gb,
            target: None,
            higher_is_better: false,
        },
        Row {
            what: "full dials + ping, per second",
            rhizo: rhizo_dials,
            libp2p: libp2p_dials,
            target: Some(1.5),
            higher_is_better: true,
        },
        Row {
            what: "server memory per idle connection, KB",
            rhizo: rhizo_mem / 1000.0,
            libp2p: libp2p_mem / 1000.0,
            target: Some(0.25),
            higher_is_better: false,
        },
    ];
    println!();
    println!(
        "Loopback, {bytes} bytes each way (median of {runs}), {dials} dials, {idle} idle connections:"
    );
    println!();
    println!("| measure | rhizo | rust-libp2p 0.57 | rhizo / rust-libp2p | target | met |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        let ratio = r.rhizo / r.libp2p;
        let (target, met) = match r.target {
            Some(x) if r.higher_is_better => (format!(">= {x}"), ratio >= x),
            Some(x) => (format!("<= {x}"), ratio <= x),
            None => (String::new(), true),
        };
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {} | {} |",
            r.what,
            r.rhizo,
            r.libp2p,
            ratio,
            target,
            if met { "yes" } else { "no" }
        );
    }
    println!();
    println!("| ceiling | Gbit/s |");
    println!("|---|---|");
    println!("| C, `Native` (ring) ChaCha20-Poly1305, one core, per pass | {c_native:.2} |");
    println!(
        "| C, `Portable` (RustCrypto) ChaCha20-Poly1305, one core, per pass | {c_portable:.2} |"
    );
    println!("| T, plain tokio TCP loopback, one stream, 1 GiB | {t:.2} |");
    println!("| L = 1/(1/C + 1/T) with `Native` (the drivers' provider) | {l_native:.2} |");
    println!("| L with `Portable` (the portable provider) | {l_portable:.2} |");
    println!();
    let down = rows[1].rhizo;
    println!(
        "rhizo download / L(Native) = {:.2} (target >= 0.8); / L(Portable) = {:.2}",
        down / l_native,
        down / l_portable
    );
    if pinned {
        println!(
            "pinned: rhizo download / L(Native) = {:.2}, upload / L(Native) = {:.2}",
            rows[4].rhizo / l_native,
            rows[3].rhizo / l_native
        );
    }
    eprintln!("rhizo pinned perf runs: {rhizo_pinned:?}");
    eprintln!("rust-libp2p pinned perf runs: {libp2p_pinned:?}");
    eprintln!("rhizo perf runs: {rhizo_perf:?}");
    eprintln!("rust-libp2p perf runs: {libp2p_perf:?}");
}

// ---- ceilings ----

/// ChaCha20-Poly1305 on one core: seals then opens one maximum Noise frame in place, for a
/// second and a half. Gbit/s per pass (each byte is sealed once and opened once: twice the
/// frame rate), as a receiver that only opens would see it.
fn aead_gbit<P: CryptoProvider>() -> f64 {
    let cipher = P::cipher(&[7; 32]);
    let mut buf = vec![0x5au8; MAX_PLAINTEXT_LEN];
    let mut nonce = 0u64;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        for _ in 0..16 {
            nonce += 1;
            let tag = cipher.seal(nonce, &[], &mut buf);
            cipher
                .open(nonce, &[], black_box(&mut buf), &tag)
                .expect("sealed just above");
        }
    }
    gbit(2 * nonce * MAX_PLAINTEXT_LEN as u64, started.elapsed())
}

/// Plain TCP over loopback, one stream, 256 KiB writes and reads.
async fn tcp_gbit(bytes: u64) -> f64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0u64;
        loop {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                return got;
            }
            got += n as u64;
        }
    });
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let chunk = vec![1u8; 256 * 1024];
    let started = Instant::now();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        socket.write_all(&chunk[..n]).await.unwrap();
        left -= n as u64;
    }
    socket.shutdown().await.unwrap();
    assert_eq!(reader.await.unwrap(), bytes);
    gbit(bytes, started.elapsed())
}

// ---- rhizo ----

/// A rhizo server that keeps every connection it accepts until the peer ends it.
async fn rhizo_server() -> (rhizo_tokio::Host, SocketAddr) {
    let host = rhizo_tokio::Host::builder().build();
    let mut listener = host.listen(loopback()).await.unwrap();
    let addr = listener.local_addr();
    tokio::spawn(async move {
        while let Ok(conn) = listener.accept().await {
            tokio::spawn(async move { conn.closed().await });
        }
    });
    (host, addr)
}

#[derive(Debug, Clone, Copy)]
struct Perf {
    up: f64,
    down: f64,
    both: f64,
}

async fn rhizo_perf(bytes: u64, runs: usize) -> Vec<Perf> {
    let (server, addr) = rhizo_server().await;
    rhizo_perf_runs(addr, Some(server.peer_id()), bytes, runs).await
}

/// Dials `addr` and runs `runs` perf transfers on one connection to it.
async fn rhizo_perf_runs(
    addr: SocketAddr,
    peer: Option<rhizo_core::identity::PeerId>,
    bytes: u64,
    runs: usize,
) -> Vec<Perf> {
    let client = rhizo_tokio::Host::builder().build();
    let conn = client.dial(addr, peer).await.unwrap();
    let mut out = Vec::new();
    for _ in 0..runs {
        let r = conn.perf(bytes, bytes).await.unwrap();
        assert_eq!((r.uploaded, r.downloaded), (bytes, bytes));
        out.push(Perf {
            up: gbit(bytes, r.upload_time),
            down: gbit(bytes, r.download_time),
            both: gbit(2 * bytes, r.total_time),
        });
    }
    conn.close().await;
    out
}

async fn rhizo_dials(dials: usize) -> f64 {
    let (server, addr) = rhizo_server().await;
    let client = rhizo_tokio::Host::builder().build();
    let once = || async {
        let conn = client.dial(addr, Some(server.peer_id())).await.unwrap();
        conn.ping().await.unwrap();
        conn.close().await;
    };
    once().await;
    let started = Instant::now();
    for _ in 0..dials {
        once().await;
    }
    dials as f64 / started.elapsed().as_secs_f64()
}

// ---- rust-libp2p ----

#[derive(NetworkBehaviour)]
struct Behaviour {
    ping: ping::Behaviour,
    stream: libp2p_stream::Behaviour,
}

enum Libp2pCommand {
    /// Dial, answer once the new connection's first ping came back.
    Dial(Multiaddr, oneshot::Sender<ConnectionId>),
    /// Close a connection, answer once it is closed.
    Close(ConnectionId, oneshot::Sender<()>),
}

/// A rust-libp2p swarm in its own task.
struct Libp2pNode {
    peer_id: PeerId,
    control: libp2p_stream::Control,
    commands: mpsc::UnboundedSender<Libp2pCommand>,
    listening: watch::Receiver<Option<Multiaddr>>,
    connections: watch::Receiver<usize>,
}

impl Libp2pNode {
    fn spawn(listen: bool) -> Self {
        let key = identity::Keypair::generate_ed25519();
        let peer_id = key.public().to_peer_id();
        let mut swarm = SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|_| Behaviour {
                ping: ping::Behaviour::new(ping::Config::new()),
                stream: libp2p_stream::Behaviour::new(),
            })
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
            .build();
        if listen {
            swarm
                .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
                .unwrap();
        }
        let control = swarm.behaviour().stream.new_control();
        let (commands, mut commands_rx) = mpsc::unbounded_channel();
        let (listening_tx, listening) = watch::channel(None);
        let (connections_tx, connections) = watch::channel(0usize);
        tokio::spawn(async move {
            let mut pinging: HashMap<ConnectionId, oneshot::Sender<ConnectionId>> = HashMap::new();
            let mut closing: HashMap<ConnectionId, oneshot::Sender<()>> = HashMap::new();
            loop {
                tokio::select! {
                    event = swarm.select_next_some() => match event {
                        SwarmEvent::NewListenAddr { address, .. } => {
                            listening_tx.send_replace(Some(address));
                        }
                        SwarmEvent::ConnectionEstablished { .. } => {
                            connections_tx.send_modify(|n| *n += 1);
                        }
                        SwarmEvent::ConnectionClosed { connection_id, .. } => {
                            connections_tx.send_modify(|n| *n -= 1);
                            if let Some(tx) = closing.remove(&connection_id) {
                                let _ = tx.send(());
                            }
                        }
                        SwarmEvent::OutgoingConnectionError { error, .. } => {
                            panic!("rust-libp2p dial: {error}")
                        }
                        SwarmEvent::IncomingConnectionError { error, .. } => {
                            panic!("rust-libp2p incoming: {error}")
                        }
                        SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event {
                            connection,
                            result: Ok(_),
                            ..
                        })) => {
                            if let Some(tx) = pinging.remove(&connection) {
                                let _ = tx.send(connection);
                            }
                        }
                        _ => {}
                    },
                    Some(command) = commands_rx.recv() => match command {
                        Libp2pCommand::Dial(addr, tx) => {
                            let opts = DialOpts::unknown_peer_id().address(addr).build();
                            pinging.insert(opts.connection_id(), tx);
                            swarm.dial(opts).unwrap();
                        }
                        Libp2pCommand::Close(id, tx) => {
                            if swarm.close_connection(id) {
                                closing.insert(id, tx);
                            } else {
                                let _ = tx.send(());
                            }
                        }
                    },
                }
            }
        });
        Libp2pNode {
            peer_id,
            control,
            commands,
            listening,
            connections,
        }
    }

    async fn listen_addr(&mut self) -> Multiaddr {
        let addr = self.listening.wait_for(Option::is_some).await.unwrap();
        addr.clone().expect("waited for it")
    }

    /// Dials and waits for the first ping on the new connection.
    async fn dial(&self, addr: Multiaddr) -> ConnectionId {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(Libp2pCommand::Dial(addr, tx));
        rx.await.expect("the dial succeeds")
    }

    async fn close(&self, id: ConnectionId) {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(Libp2pCommand::Close(id, tx));
        rx.await.expect("the swarm runs");
    }
}

/// The perf server of the spec through libp2p-stream: an 8-byte big-endian size, everything
/// up to the end, then that many bytes.
fn serve_perf(mut control: libp2p_stream::Control) {
    use libp2p::futures::{AsyncReadExt, AsyncWriteExt};
    let mut perf = control.accept(StreamProtocol::new(PERF)).unwrap();
    tokio::spawn(async move {
        while let Some((_, mut stream)) = perf.next().await {
            tokio::spawn(async move {
                let mut size = [0u8; 8];
                stream.read_exact(&mut size).await.unwrap();
                let mut buf = vec![0u8; CHUNK];
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

async fn libp2p_perf(bytes: u64, runs: usize) -> Vec<Perf> {
    let mut server = Libp2pNode::spawn(true);
    serve_perf(server.control.clone());
    let addr = server.listen_addr().await;
    let client = Libp2pNode::spawn(false);
    libp2p_perf_runs(&client, addr, server.peer_id, bytes, runs).await
}

/// Dials `addr` and runs `runs` perf transfers on one connection to it.
async fn libp2p_perf_runs(
    client: &Libp2pNode,
    addr: Multiaddr,
    server: PeerId,
    bytes: u64,
    runs: usize,
) -> Vec<Perf> {
    use libp2p::futures::{AsyncReadExt, AsyncWriteExt};
    let conn = client.dial(addr).await;
    let mut out = Vec::new();
    for _ in 0..runs {
        let stream = client
            .control
            .clone()
            .open_stream(server, StreamProtocol::new(PERF))
            .await
            .unwrap();
        let (mut rd, mut wr) = stream.split();
        let started = Instant::now();
        let writer = async {
            let chunk = vec![7u8; CHUNK];
            wr.write_all(&bytes.to_be_bytes()).await.unwrap();
            let mut left = bytes;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                wr.write_all(&chunk[..n]).await.unwrap();
                left -= n as u64;
            }
            wr.close().await.unwrap();
            started.elapsed()
        };
        let reader = async {
            let mut buf = vec![0u8; CHUNK];
            let mut got = 0u64;
            loop {
                let n = rd.read(&mut buf).await.unwrap();
                if n == 0 {
                    return got;
                }
                got += n as u64;
            }
        };
        let (upload_time, got) = tokio::join!(writer, reader);
        let total = started.elapsed();
        assert_eq!(got, bytes);
        out.push(Perf {
            up: gbit(bytes, upload_time),
            down: gbit(bytes, total - upload_time),
            both: gbit(2 * bytes, total),
        });
    }
    client.close(conn).await;
    out
}

async fn libp2p_dials(dials: usize) -> f64 {
    let mut server = Libp2pNode::spawn(true);
    let addr = server.listen_addr().await;
    let client = Libp2pNode::spawn(false);
    let once = || async {
        let conn = client.dial(addr.clone()).await;
        client.close(conn).await;
    };
    once().await;
    let started = Instant::now();
    for _ in 0..dials {
        once().await;
    }
    dials as f64 / started.elapsed().as_secs_f64()
}

// ---- perf with client and server pinned to cores of their own ----

/// Whether `taskset` (util-linux) can pin processes here, on a machine with 2 cores or more.
fn can_pin() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
        && Command::new("taskset")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// Runs perf between two processes of this binary, the server pinned to core 1 and the client
/// to core 0, each on a one-thread runtime: each side has one core of its own, as the issue's
/// one-core limit L assumes.
fn pinned_perf(side: Side, bytes: u64, runs: usize) -> (Vec<Perf>, CpuSeconds) {
    use std::io::BufRead;
    let exe = std::env::current_exe().unwrap();
    let (server_mode, client_mode) = match side {
        Side::Rhizo => ("perf-server-rhizo", "perf-client-rhizo"),
        Side::Libp2p => ("perf-server-libp2p", "perf-client-libp2p"),
    };
    let mut server = Command::new("taskset")
        .args(["-c", "1"])
        .arg(&exe)
        .env(MODE, server_mode)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let announced = lines
        .find_map(|l| l.ok()?.strip_prefix("PERF_SERVER ").map(str::to_owned))
        .expect("the perf server announces its address");
    let (addr, peer) = announced.split_once(' ').expect("address and peer id");
    let out = Command::new("taskset")
        .args(["-c", "0"])
        .arg(&exe)
        .env(MODE, client_mode)
        .env(SERVER_ADDR, addr)
        .env("RHIZO_BENCH_PEER", peer)
        .env("RHIZO_BENCH_BYTES", bytes.to_string())
        .env("RHIZO_BENCH_RUNS", runs.to_string())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let server_cpu = cpu_seconds(server.id());
    server.kill().unwrap();
    let _ = server.wait();
    assert!(out.status.success(), "{client_mode} failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let client_cpu = text
        .lines()
        .find_map(|l| l.strip_prefix("CPU "))
        .and_then(|v| v.parse().ok())
        .expect("the client reports its CPU time");
    let cpu = CpuSeconds {
        client: client_cpu,
        server: server_cpu,
    };
    let runs = text
        .lines()
        .filter_map(|l| l.strip_prefix("PERF "))
        .map(|l| {
            let v: Vec<f64> = l.split(' ').map(|x| x.parse().unwrap()).collect();
            Perf {
                up: v[0],
                down: v[1],
                both: v[2],
            }
        })
        .collect();
    (runs, cpu)
}

/// CPU time (user + system) the two pinned processes used over all their runs, handshake
/// included: a measure of work per byte that other load on the machine changes far less than
/// it changes throughput.
#[derive(Debug, Clone, Copy)]
struct CpuSeconds {
    client: f64,
    server: f64,
}

/// User + system CPU seconds of process `pid` so far (`/proc/<pid>/stat`, in USER_HZ = 100
/// ticks per second as Linux reports them on x86_64 and aarch64).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("Linux /proc");
    // Fields after the command name (which may hold spaces, so split after its `)`): state is
    // field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// The pinned perf server: announces `PERF_SERVER <address> <peer id>` and serves until killed.
async fn perf_server(side: Side) {
    match side {
        Side::Rhizo => {
            let (host, addr) = rhizo_server().await;
            println!("PERF_SERVER {addr} {}", host.peer_id());
            std::future::pending::<()>().await;
        }
        Side::Libp2p => {
            let mut node = Libp2pNode::spawn(true);
            serve_perf(node.control.clone());
            let addr = node.listen_addr().await;
            println!("PERF_SERVER {addr} {}", node.peer_id);
            std::future::pending::<()>().await;
        }
    }
}

/// The pinned perf client: runs the transfers, prints `PERF <up> <down> <both>` per run.
async fn perf_client(side: Side) {
    let addr = std::env::var(SERVER_ADDR).expect("the server's address");
    let peer = std::env::var("RHIZO_BENCH_PEER").expect("the server's peer id");
    let bytes = env_u64("RHIZO_BENCH_BYTES", 256 << 20);
    let runs = env_u64("RHIZO_BENCH_RUNS", 3) as usize;
    let results = match side {
        Side::Rhizo => {
            let peer = peer.parse().expect("a peer id");
            rhizo_perf_runs(addr.parse().unwrap(), Some(peer), bytes, runs).await
        }
        Side::Libp2p => {
            let client = Libp2pNode::spawn(false);
            let peer = peer.parse().expect("a peer id");
            libp2p_perf_runs(&client, addr.parse().unwrap(), peer, bytes, runs).await
        }
    };
    for r in results {
        println!("PERF {} {} {}", r.up, r.down, r.both);
    }
    println!("CPU {}", cpu_seconds(std::process::id()));
}

// ---- memory per idle connection, one implementation per process ----

#[derive(Clone, Copy)]
enum Side {
    Rhizo,
    Libp2p,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Rhizo => "rhizo",
            Side::Libp2p => "rust-libp2p",
        }
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let resident: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("statm's second field");
    resident * PAGE
}

/// Runs this binary as a memory server and reads the bytes per connection it prints.
fn memory_in_child(mode: &str, idle: usize) -> f64 {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .env(MODE, mode)
        .env("RHIZO_BENCH_IDLE", idle.to_string())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "{mode} failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("PER_CONNECTION "))
        .unwrap_or_else(|| panic!("{mode} printed {text}"));
    line.trim().parse().unwrap()
}

/// The server process: listens, measures its resident set, has a client process open `idle`
/// connections, waits until all are up and settled, measures again.
async fn memory_server(side: Side, idle: usize) {
    let (addr, client_mode, count): (String, &str, watch::Receiver<usize>) = match side {
        Side::Rhizo => {
            let host = rhizo_tokio::Host::builder().build();
            let mut listener = host.listen(loopback()).await.unwrap();
            let addr = listener.local_addr().to_string();
            let (count_tx, count) = watch::channel(0usize);
            tokio::spawn(async move {
                let _host = host;
                let mut held = Vec::new();
                while let Ok(conn) = listener.accept().await {
                    held.push(conn);
                    count_tx.send_replace(held.len());
                }
            });
            (addr, "client-rhizo", count)
        }
        Side::Libp2p => {
            let mut node = Libp2pNode::spawn(true);
            serve_perf(node.control.clone());
            let addr = node.listen_addr().await.to_string();
            let count = node.connections.clone();
            // The node lives as long as the process.
            std::mem::forget(node);
            (addr, "client-libp2p", count)
        }
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_bytes();
    let mut client = Command::new(std::env::current_exe().unwrap())
        .env(MODE, client_mode)
        .env(SERVER_ADDR, &addr)
        .env("RHIZO_BENCH_IDLE", idle.to_string())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut count = count;
    tokio::time::timeout(Duration::from_secs(120), count.wait_for(|n| *n >= idle))
        .await
        .expect("the client connects in time")
        .unwrap();
    tokio::time::sleep(SETTLE).await;
    let after = rss_bytes();
    client.kill().unwrap();
    let _ = client.wait();
    eprintln!("server for {client_mode}: RSS {before} B before, {after} B with {idle} connections");
    println!(
        "PER_CONNECTION {}",
        (after as f64 - before as f64) / idle as f64
    );
}

/// The client process: opens `idle` connections one after the other and holds them.
async fn memory_client(side: Side, idle: usize) {
    let addr = std::env::var(SERVER_ADDR).expect("the server's address");
    match side {
        Side::Rhizo => {
            let host = rhizo_tokio::Host::builder().build();
            let addr: SocketAddr = addr.parse().unwrap();
            let mut held = Vec::new();
            for _ in 0..idle {
                held.push(host.dial(addr, None).await.unwrap());
            }
            std::future::pending::<()>().await;
        }
        Side::Libp2p => {
            let node = Libp2pNode::spawn(false);
            let addr: Multiaddr = addr.parse().unwrap();
            // Without the peer id, every dial is a new connection.
            let addr = addr
                .iter()
                .filter(|p| !matches!(p, Protocol::P2p(_)))
                .collect::<Multiaddr>();
            for _ in 0..idle {
                node.dial(addr.clone()).await;
            }
            std::future::pending::<()>().await;
        }
    }
}
