//! End to end: the firmware image (firmware/, board mps2-an386) boots in `qemu-system-arm` with
//! its port 4001 forwarded to a free loopback port, and a tokio-driver rhizo host dials it,
//! checks identify, pings it and runs a small perf, over two connections at once.
//!
//! Bitswap both ways: a host peer listens on loopback with a test block; QEMU's `guestfwd`
//! (restrict=on, so the guest reaches nothing else) maps 10.0.2.100:4002 in the guest to it, and
//! the semihosting arguments tell the firmware to dial it and fetch the block (it prints
//! `fetched <CID>`). Then the host fetches the firmware's built-in UnixFS file over Bitswap and
//! compares its root CID and bytes with the asset file imported here.
//!
//! The image is built here (`cargo build --release` in firmware/, its own workspace and target
//! directory) unless `RHIZO_FIRMWARE_IMAGE` names a prebuilt one. `RHIZO_FIRMWARE_TARGET_DIR`
//! sets the firmware's target directory (default `firmware/target`). QEMU is killed when the
//! test ends, whatever happens (a `Drop` guard), and everything runs under a time limit.

use rhizo_core::bitswap::engine::{Config as BitswapConfig, Event, HeapBitswapEngine};
use rhizo_core::bitswap::{PROTOCOL_1_2_0, PROTOCOL_IDS, PeerKey, ProtocolVersion};
use rhizo_core::block::{Block, BlockStore, MemoryBlockStore};
use rhizo_core::cid::{Cid, codec};
use rhizo_core::identity::PeerId;
use rhizo_core::multiaddr::Multiaddr;
use rhizo_core::unixfs::{ExportError, FileExporter, FileImporter, ImporterConfig};
use rhizo_tokio::{ConnectionHandle, RhizoStream};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

/// The whole scenario, QEMU's boot included.
const LIMIT: Duration = Duration::from_secs(120);
/// Building the image from cold takes 1-2 minutes on two cores.
const BUILD_NOTE: &str = "cargo build --release in firmware/";

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
}

/// The release image: prebuilt (`RHIZO_FIRMWARE_IMAGE`) or built now.
fn firmware_image() -> PathBuf {
    if let Some(image) = std::env::var_os("RHIZO_FIRMWARE_IMAGE") {
        return image.into();
    }
    let root = repo_root();
    let target_dir = std::env::var_os("RHIZO_FIRMWARE_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("firmware/target"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--locked"])
        .current_dir(root.join("firmware"))
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .unwrap_or_else(|e| panic!("{BUILD_NOTE}: cannot run cargo: {e}"));
    assert!(status.success(), "{BUILD_NOTE} failed: {status}");
    target_dir.join("thumbv7em-none-eabihf/release/rhizo-firmware")
}

/// QEMU running the image; killed and reaped when dropped.
struct Qemu {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    /// Everything QEMU printed so far, for failure messages.
    output: Vec<String>,
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Qemu {
    /// Boots `image` with the node's port 4001 at 127.0.0.1:`host_port` and, in the guest,
    /// 10.0.2.100:4002 leading to 127.0.0.1:`bitswap_port`; `args` are the semihosting
    /// arguments.
    fn boot(image: &Path, host_port: u16, bitswap_port: u16, args: &[String]) -> Qemu {
        match Command::new("qemu-system-arm").arg("--version").output() {
            Ok(out) if out.status.success() => {}
            _ => panic!(
                "qemu-system-arm is not installed: `apt-get install -y --no-install-recommends \
                 qemu-system-arm` (.ci/run installs it)"
            ),
        }
        let nic = format!(
            "user,restrict=on,hostfwd=tcp:127.0.0.1:{host_port}-10.0.2.15:4001,\
             guestfwd=tcp:10.0.2.100:4002-tcp:127.0.0.1:{bitswap_port}"
        );
        let mut semihosting = String::from("enable=on,target=native,arg=rhizo-firmware");
        for arg in args {
            assert!(
                !arg.contains(','),
                "a semihosting argument has no comma: {arg}"
            );
            semihosting.push_str(",arg=");
            semihosting.push_str(arg);
        }
        let mut child = Command::new("qemu-system-arm")
            .args([
                "-M",
                "mps2-an386",
                "-nographic",
                "-monitor",
                "none",
                "-serial",
                "stdio",
            ])
            .args(["-semihosting-config", &semihosting])
            .args(["-nic", &nic])
            .arg("-kernel")
            .arg(image)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("qemu-system-arm starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                eprintln!("firmware: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Qemu {
            child,
            lines,
            output: Vec::new(),
        }
    }

    /// Waits for the line containing `needle`; returns it.
    fn wait_for(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.output.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no {needle:?} from the firmware ({e:?}); it printed:\n{}",
                    self.output.join("\n")
                ),
            }
        }
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

/// The block the host serves and the firmware fetches.
const HOST_BLOCK: &[u8] = b"hello from the host\n";
/// The firmware's built-in file and its import settings (firmware/node/build.rs).
const ASSET: &str = "firmware/node/assets/hello.txt";
const ASSET_CHUNK_SIZE: usize = 1024;

#[test]
fn firmware_in_qemu_answers_identify_ping_and_perf() {
    let started = Instant::now();
    let image = firmware_image();
    eprintln!(
        "image ready in {:?}: {}",
        started.elapsed(),
        image.display()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // The host peer the firmware dials: listening before QEMU starts (guestfwd connects to it).
    let host_block = Block::new_v1(codec::RAW, HOST_BLOCK).unwrap();
    let host_cid = *host_block.cid();
    let mut store = MemoryBlockStore::new();
    store.put(host_block).unwrap();
    let bitswap = runtime.block_on(async { Bitswap::start(store) });
    let host = bitswap_host();
    let mut listener = runtime
        .block_on(host.listen(([127, 0, 0, 1], 0).into()))
        .expect("the host listens");
    let bitswap_port = listener.local_addr().port();
    {
        let bitswap = bitswap.clone();
        runtime.spawn(async move {
            let mut key = 0;
            while let Ok(conn) = listener.accept().await {
                key += 1;
                tokio::spawn(bitswap.clone().run_peer(conn, PeerKey(key), None, None));
            }
        });
    }

    let port = free_port();
    let args = [
        format!("host=/ip4/10.0.2.100/tcp/4002/p2p/{}", host.peer_id()),
        format!("fetch={host_cid}"),
    ];
    let mut qemu = Qemu::boot(&image, port, bitswap_port, &args);
    let line = qemu.wait_for("listening on /ip4/10.0.2.15/tcp/4001/p2p/", LIMIT);
    let peer: PeerId = line
        .rsplit("/p2p/")
        .next()
        .and_then(|id| id.trim().parse().ok())
        .unwrap_or_else(|| panic!("a PeerId in {line:?}"));
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();

    // The firmware fetched the host's block (the engine verified it against its CID).
    let line = qemu.wait_for("fetched ", Duration::from_secs(60));
    assert!(
        line.contains(&format!("fetched {host_cid} ({} bytes)", HOST_BLOCK.len())),
        "{line}"
    );
    // ...and closed that connection, freeing its slot for the host's dials below.
    qemu.wait_for("connection closed", Duration::from_secs(30));

    runtime.block_on(limited(scenario(addr, peer)));
    // The firmware notices the closed connections and accepts new ones.
    let line = qemu.wait_for("stack high-water mark", Duration::from_secs(30));
    eprintln!("{line}");
    runtime.block_on(limited(dial_again(addr, peer)));
    qemu.wait_for("stack high-water mark", Duration::from_secs(30));
    runtime.block_on(limited(fetch_file(addr, peer, bitswap)));
    let line = qemu.wait_for("stack high-water mark", Duration::from_secs(30));
    eprintln!("after Bitswap: {line}");
    drop(qemu);
}

/// The host side of Bitswap: app protocols for every Bitswap version.
fn bitswap_host() -> rhizo_tokio::Host {
    rhizo_tokio::Host::builder()
        .app_protocols(&PROTOCOL_IDS)
        .build()
}

/// The host fetches the firmware's UnixFS file over Bitswap and compares it with the asset.
async fn fetch_file(addr: SocketAddr, peer: PeerId, bitswap: Bitswap) {
    let asset = std::fs::read(repo_root().join(ASSET)).expect("the asset file");
    let config = ImporterConfig {
        chunk_size: ASSET_CHUNK_SIZE,
        ..ImporterConfig::kubo()
    };
    let mut importer = FileImporter::new(config).unwrap();
    let mut ignore = |_| Ok::<(), ()>(());
    importer.write_all(&asset, &mut ignore).unwrap();
    let root = importer.finish_into(&mut ignore).unwrap().cid;

    let host = bitswap_host();
    let conn = dial(&host, addr, peer).await;
    let (stop, stopped) = oneshot::channel();
    let peer_task = tokio::spawn(bitswap.clone().run_peer(
        conn,
        PeerKey(1000),
        Some(ProtocolVersion::V1_2_0),
        Some(stopped),
    ));
    let mut blocks = MemoryBlockStore::new();
    let mut exporter = FileExporter::<8>::new(root);
    let mut buf = vec![0u8; 64 * 1024];
    let mut file = Vec::new();
    let mut fetched = 0;
    loop {
        match exporter.next_chunk(&blocks, &mut buf) {
            Ok(Some(bytes)) => file.extend_from_slice(bytes),
            Ok(None) => break,
            Err(ExportError::MissingBlock(cid)) => {
                let data = bitswap.fetch(cid).await;
                blocks.put(Block::verify(cid, &data).unwrap()).unwrap();
                fetched += 1;
            }
            Err(e) => panic!("exporting the firmware's file: {e}"),
        }
    }
    eprintln!(
        "fetched the firmware's file {root} over Bitswap: {} bytes in {fetched} blocks",
        file.len()
    );
    assert!(fetched > 1, "the file spans several blocks");
    assert_eq!(file, asset, "the firmware's file is the asset");
    // Close the connection, so the firmware logs its stack high-water mark after serving.
    let _ = stop.send(());
    peer_task.await.expect("the Bitswap connection task");
}

/// What a connection task tells the Bitswap task.
enum BitswapCommand {
    /// A peer's Bitswap is up: its messages go to the sender.
    Connected(PeerKey, ProtocolVersion, mpsc::UnboundedSender<Vec<u8>>),
    /// A message (a frame's payload) from a peer.
    Message(PeerKey, Vec<u8>),
    /// The peer's connection ended.
    Gone(PeerKey),
    /// Fetch a block; the answer is its bytes.
    Fetch(Cid, oneshot::Sender<Vec<u8>>),
}

/// The host's Bitswap: one `HeapBitswapEngine` over a `MemoryBlockStore` in a task; connection
/// tasks feed it frames and send what it writes.
#[derive(Clone)]
struct Bitswap {
    commands: mpsc::UnboundedSender<BitswapCommand>,
}

impl Bitswap {
    fn start(store: MemoryBlockStore) -> Bitswap {
        let (commands, rx) = mpsc::unbounded_channel();
        tokio::spawn(Self::run(rx, store));
        Bitswap { commands }
    }

    async fn fetch(&self, cid: Cid) -> Vec<u8> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(BitswapCommand::Fetch(cid, tx)).unwrap();
        tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .unwrap_or_else(|_| panic!("fetching {cid} from the firmware timed out"))
            .expect("the Bitswap task runs")
    }

    async fn run(
        mut commands: mpsc::UnboundedReceiver<BitswapCommand>,
        mut store: MemoryBlockStore,
    ) {
        let started = Instant::now();
        let now = || rhizo_core::time::Instant::from_micros(started.elapsed().as_micros() as u64);
        let mut engine = HeapBitswapEngine::new(BitswapConfig::default());
        let mut out = vec![0u8; engine.transmit_buffer_len()];
        let mut peers: HashMap<PeerKey, mpsc::UnboundedSender<Vec<u8>>> = HashMap::new();
        let mut waiting: Vec<(Cid, oneshot::Sender<Vec<u8>>)> = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    None => return,
                    Some(BitswapCommand::Connected(key, version, tx)) => {
                        engine.peer_connected(key, version).unwrap();
                        peers.insert(key, tx);
                    }
                    Some(BitswapCommand::Message(key, bytes)) => {
                        let _ = engine.handle_message(now(), key, &bytes, &mut store);
                    }
                    Some(BitswapCommand::Gone(key)) => {
                        engine.peer_disconnected(key);
                        peers.remove(&key);
                    }
                    Some(BitswapCommand::Fetch(cid, tx)) => match store.get(&cid) {
                        Some(data) => { let _ = tx.send(data.to_vec()); }
                        None => {
                            engine.fetch(now(), cid).unwrap();
                            waiting.push((cid, tx));
                        }
                    },
                },
                _ = tick.tick() => engine.handle_timeout(now()),
            }
            while let Some(t) = engine.poll_transmit(now(), &store, &mut out) {
                if let Some(tx) = peers.get(&t.peer) {
                    let _ = tx.send(out[..t.len].to_vec());
                }
            }
            while let Some(event) = engine.poll_event() {
                match event {
                    Event::BlockReceived { cid, .. } => {
                        let data = store
                            .get(&cid)
                            .expect("a received block is stored")
                            .to_vec();
                        for (_, tx) in waiting.extract_if(.., |(c, _)| *c == cid) {
                            let _ = tx.send(data.clone());
                        }
                    }
                    other => eprintln!("host bitswap: {other:?}"),
                }
            }
        }
    }

    /// Runs Bitswap on one connection: inbound Bitswap streams are read frame by frame, the
    /// engine's messages for `key` go out on one outbound stream opened on the first one.
    /// `version`: the peer's version when known now (we dialed it), else that of its first
    /// stream. `stop`: closes the connection when it fires.
    async fn run_peer(
        self,
        mut conn: ConnectionHandle,
        key: PeerKey,
        version: Option<ProtocolVersion>,
        stop: Option<oneshot::Receiver<()>>,
    ) {
        let mut stop = stop;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut registered = false;
        if let Some(v) = version {
            let _ = self
                .commands
                .send(BitswapCommand::Connected(key, v, tx.clone()));
            registered = true;
        }
        let mut outbound: Option<RhizoStream> = None;
        loop {
            tokio::select! {
                _ = async { stop.as_mut().expect("checked by the branch condition").await }, if stop.is_some() => {
                    let _ = self.commands.send(BitswapCommand::Gone(key));
                    conn.close().await;
                    return;
                }
                stream = conn.accept_stream() => {
                    let Some(stream) = stream else { break };
                    let Some(v) = ProtocolVersion::from_protocol_id(stream.protocol()) else {
                        continue;
                    };
                    if !registered {
                        let _ = self.commands.send(BitswapCommand::Connected(key, v, tx.clone()));
                        registered = true;
                    }
                    tokio::spawn(read_frames(stream, key, self.commands.clone()));
                }
                Some(message) = rx.recv() => {
                    if outbound.is_none() {
                        match conn.open_stream(PROTOCOL_1_2_0).await {
                            Ok(s) => outbound = Some(s),
                            Err(e) => { eprintln!("host bitswap: cannot open a stream: {e}"); break; }
                        }
                    }
                    let stream = outbound.as_mut().expect("opened above");
                    if stream.write_all(&message).await.is_err() || stream.flush().await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = self.commands.send(BitswapCommand::Gone(key));
    }
}

/// Reads length-prefixed Bitswap messages from `stream` and hands them to the engine's task.
async fn read_frames(
    mut stream: RhizoStream,
    key: PeerKey,
    commands: mpsc::UnboundedSender<BitswapCommand>,
) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        loop {
            match rhizo_core::wire::frame::decode(&buf, 4 * 1024 * 1024) {
                Ok(Some(frame)) => {
                    let consumed = frame.consumed;
                    let _ = commands.send(BitswapCommand::Message(key, frame.payload.to_vec()));
                    buf.drain(..consumed);
                }
                Ok(None) => break,
                Err(e) => {
                    eprintln!("host bitswap: a bad frame: {e:?}");
                    return;
                }
            }
        }
    }
}

/// Runs `scenario` under [`LIMIT`].
async fn limited(scenario: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(LIMIT, scenario)
        .await
        .expect("the scenario ran past its time limit")
}

/// Dials with retries: QEMU accepts on the host side even before the guest's socket listens.
async fn dial(host: &rhizo_tokio::Host, addr: SocketAddr, peer: PeerId) -> ConnectionHandle {
    let mut last = None;
    for _ in 0..20 {
        match host.dial(addr, Some(peer)).await {
            Ok(conn) => return conn,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("cannot dial the firmware: {last:?}")
}

async fn dial_again(addr: SocketAddr, peer: PeerId) {
    let host = rhizo_tokio::Host::builder().build();
    let conn = dial(&host, addr, peer).await;
    conn.ping().await.expect("ping after reconnecting");
    conn.close().await;
}

async fn scenario(addr: SocketAddr, peer: PeerId) {
    let (first, second) = (
        rhizo_tokio::Host::builder().build(),
        rhizo_tokio::Host::builder().build(),
    );
    let a = dial(&first, addr, peer).await;
    let b = dial(&second, addr, peer).await;
    assert_eq!(*a.remote_peer(), peer);

    let info = a.identify().await.expect("identify");
    let agent = info.agent_version.as_deref().unwrap_or_default();
    assert!(agent.starts_with("rhizo-firmware/"), "{info:?}");
    assert_eq!(info.protocol_version.as_deref(), Some("ipfs/0.1.0"));
    for p in ["/ipfs/ping/1.0.0", "/ipfs/id/1.0.0", "/perf/1.0.0"] {
        assert!(info.protocols.iter().any(|q| q == p), "{p} in {info:?}");
    }
    let listen: Multiaddr = "/ip4/10.0.2.15/tcp/4001".parse().unwrap();
    assert!(info.listen_addrs.contains(&listen), "{info:?}");
    assert_eq!(info.public_key.as_ref(), Some(&a.remote_public_key()));

    // Both connections are served at once.
    let (ra, rb) = tokio::join!(a.ping(), b.ping());
    let (ra, rb) = (
        ra.expect("ping on the first connection"),
        rb.expect("ping on the second"),
    );
    eprintln!("ping round trips: {ra:?}, {rb:?}");
    assert!(ra < Duration::from_secs(2) && rb < Duration::from_secs(2));

    let result = a.perf(64 * 1024, 64 * 1024).await.expect("perf");
    eprintln!("perf: {result:?}");
    assert_eq!((result.uploaded, result.downloaded), (64 * 1024, 64 * 1024));
    b.close().await;
    a.close().await;
}
