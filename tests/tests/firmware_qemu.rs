//! End to end: the firmware image (firmware/, board mps2-an386) boots in `qemu-system-arm` with
//! its port 4001 forwarded to a free loopback port, and a tokio-driver rhizo host dials it,
//! checks identify, pings it and runs a small perf, over two connections at once.
//!
//! The image is built here (`cargo build --release` in firmware/, its own workspace and target
//! directory) unless `RHIZO_FIRMWARE_IMAGE` names a prebuilt one. `RHIZO_FIRMWARE_TARGET_DIR`
//! sets the firmware's target directory (default `firmware/target`). QEMU is killed when the
//! test ends, whatever happens (a `Drop` guard), and everything runs under a time limit.

use rhizo_core::identity::PeerId;
use rhizo_core::multiaddr::Multiaddr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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
    lines: mpsc::Receiver<String>,
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
    fn boot(image: &Path, host_port: u16) -> Qemu {
        match Command::new("qemu-system-arm").arg("--version").output() {
            Ok(out) if out.status.success() => {}
            _ => panic!(
                "qemu-system-arm is not installed: `apt-get install -y --no-install-recommends \
                 qemu-system-arm` (.ci/run installs it)"
            ),
        }
        let nic = format!("user,restrict=on,hostfwd=tcp:127.0.0.1:{host_port}-10.0.2.15:4001");
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
            .args(["-semihosting-config", "enable=on,target=native"])
            .args(["-nic", &nic])
            .arg("-kernel")
            .arg(image)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("qemu-system-arm starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
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

#[test]
fn firmware_in_qemu_answers_identify_ping_and_perf() {
    let started = Instant::now();
    let image = firmware_image();
    eprintln!(
        "image ready in {:?}: {}",
        started.elapsed(),
        image.display()
    );
    let port = free_port();
    let mut qemu = Qemu::boot(&image, port);
    let line = qemu.wait_for("listening on /ip4/10.0.2.15/tcp/4001/p2p/", LIMIT);
    let peer: PeerId = line
        .rsplit("/p2p/")
        .next()
        .and_then(|id| id.trim().parse().ok())
        .unwrap_or_else(|| panic!("a PeerId in {line:?}"));
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(limited(scenario(addr, peer)));
    // The firmware notices the closed connections and accepts new ones.
    let line = qemu.wait_for("stack high-water mark", Duration::from_secs(30));
    eprintln!("{line}");
    runtime.block_on(limited(dial_again(addr, peer)));
    drop(qemu);
}

/// Runs `scenario` under [`LIMIT`].
async fn limited(scenario: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(LIMIT, scenario)
        .await
        .expect("the scenario ran past its time limit")
}

/// Dials with retries: QEMU accepts on the host side even before the guest's socket listens.
async fn dial(
    host: &rhizo_tokio::Host,
    addr: SocketAddr,
    peer: PeerId,
) -> rhizo_tokio::ConnectionHandle {
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
