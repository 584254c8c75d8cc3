//! rhizo against js-libp2p 3 (node, `tests/js/peer.mjs`) over loopback TCP: both dial
//! directions; the Noise handshake (PeerIds checked both ways), ping and identify on both sides.
//!
//! Needs `node` (20 or newer) and `tests/js/node_modules`: `(cd tests/js && npm ci)`. Without
//! them these tests fail (they never skip silently).

use rhizo_core::multiaddr::Protocol;
use rhizo_tokio::{ConnectionHandle, Host, Multiaddr, PeerId};
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// The whole of one test.
const LIMIT: Duration = Duration::from_secs(60);
/// One wait for something the js peer reports.
const WAIT: Duration = Duration::from_secs(20);
/// How long the js peer lives at most (its own deadline; the test stops it sooner).
const JS_DEADLINE_MS: &str = "90000";
const RHIZO_AGENT: &str = "rhizo-interop/0.1";
const PING: &str = "/ipfs/ping/1.0.0";
const IDENTIFY: &str = "/ipfs/id/1.0.0";
const INSTALL: &str = "run `(cd tests/js && npm ci)` with Node.js 20 or newer on the PATH \
                       (.ci/run does this)";

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// Fails the test, saying how to install them, when node or the npm packages are missing.
async fn require_node() {
    let modules = js_dir().join("node_modules").join("libp2p");
    assert!(
        modules.is_dir(),
        "{} is missing: {INSTALL}",
        modules.display()
    );
    match Command::new("node").arg("--version").output().await {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!("`node --version` failed ({}): {INSTALL}", out.status),
        Err(e) => panic!("cannot run `node` ({e}): {INSTALL}"),
    }
}

/// A js-libp2p peer in a node child process; its JSON report lines arrive on `lines`.
///
/// Dropping it kills the process (the guard); [`JsPeer::stop`] ends it cleanly by closing its
/// stdin.
struct JsPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<Value>,
}

impl JsPeer {
    async fn spawn(args: &[&str]) -> JsPeer {
        require_node().await;
        let mut child = Command::new("node")
            .current_dir(js_dir())
            .args(["--import", "./with-resolvers.mjs", "peer.mjs"])
            .args(args)
            .args(["--deadline-ms", JS_DEADLINE_MS])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node ({e}): {INSTALL}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("js peer wrote {line:?}, not JSON: {e}"));
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        JsPeer {
            child,
            stdin,
            lines,
        }
    }

    /// The next report line with `"event": event` that `accept` takes; an `error` line fails.
    async fn wait_for(&mut self, event: &str, accept: impl Fn(&Value) -> bool) -> Value {
        let wait = async {
            loop {
                let line = self
                    .lines
                    .recv()
                    .await
                    .unwrap_or_else(|| panic!("the js peer ended before its {event:?} line"));
                match line["event"].as_str() {
                    Some("error") => panic!("js-libp2p: {line}"),
                    Some(e) if e == event && accept(&line) => return line,
                    _ => {}
                }
            }
        };
        tokio::time::timeout(WAIT, wait)
            .await
            .unwrap_or_else(|_| panic!("no {event:?} line from the js peer within {WAIT:?}"))
    }

    /// Closes its stdin and waits for it to stop and exit with status 0.
    async fn stop(mut self) {
        drop(self.stdin.take());
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the js peer exits once its stdin closes")
            .unwrap();
        assert!(status.success(), "the js peer exited with {status}");
    }

    /// Checks what the js peer reports about its connection to `rhizo`: connected to that
    /// PeerId, identified it as rhizo, pinged it.
    async fn expect_rhizo(&mut self, rhizo: &PeerId) {
        let rhizo = rhizo.to_string();
        let is_rhizo = |l: &Value| l["peerId"].as_str() == Some(&rhizo);
        self.wait_for("connected", is_rhizo).await;
        let info = self.wait_for("identify", is_rhizo).await;
        assert_eq!(info["agentVersion"].as_str(), Some(RHIZO_AGENT), "{info}");
        assert_eq!(
            info["protocolVersion"].as_str(),
            Some("ipfs/0.1.0"),
            "{info}"
        );
        let protocols: Vec<&str> = info["protocols"]
            .as_array()
            .expect("identify lines list protocols")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for p in [PING, IDENTIFY] {
            assert!(protocols.contains(&p), "{p} in {protocols:?}");
        }
        let pong = self.wait_for("ping", is_rhizo).await;
        let rtt = pong["rtt"].as_f64().expect("ping lines carry the rtt");
        assert!((0.0..2000.0).contains(&rtt), "{pong}");
    }
}

fn rhizo_host() -> Host {
    Host::builder().agent_version(RHIZO_AGENT).build()
}

fn peer_id_of(line: &Value) -> PeerId {
    line["peerId"]
        .as_str()
        .expect("the line names a peer")
        .parse()
        .expect("js-libp2p prints valid PeerIds")
}

/// What rhizo checks on a connection to the js peer `js`.
async fn check_from_rhizo(conn: &ConnectionHandle, js: &PeerId) {
    assert_eq!(conn.remote_peer(), js);
    let rtt = conn.ping().await.unwrap();
    assert!(rtt < Duration::from_secs(2), "{rtt:?}");
    let info = conn.identify().await.unwrap();
    let agent = info.agent_version.as_deref().unwrap_or_default();
    assert!(agent.contains("js-libp2p"), "{info:?}");
    for p in [PING, IDENTIFY] {
        assert!(info.protocols.iter().any(|q| q == p), "{p} in {info:?}");
    }
    let key = info.public_key.as_ref().expect("js-libp2p sends its key");
    assert_eq!(&PeerId::from_public_key(key), js);
    // js-libp2p reports the address it sees this side at; it may append /p2p/<rhizo>.
    let observed = info
        .observed_addr
        .as_ref()
        .expect("js-libp2p sends the observed address")
        .to_string();
    let local = rhizo_tokio::socket_multiaddr(conn.local_addr())
        .unwrap()
        .to_string();
    assert!(observed.starts_with(&local), "{observed} vs {local}");
}

/// The TCP socket address and PeerId of `/ip4/<ip>/tcp/<port>/p2p/<id>`.
fn tcp_and_peer(addr: &str) -> (SocketAddr, PeerId) {
    let addr: Multiaddr = addr.parse().expect("js-libp2p prints valid multiaddrs");
    let (mut ip, mut port, mut peer) = (None, None, None);
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) => ip = Some(IpAddr::V4(a)),
            Protocol::Tcp(p) => port = Some(p),
            Protocol::P2p(id) => peer = Some(PeerId::from_multihash(id).unwrap()),
            _ => {}
        }
    }
    (
        SocketAddr::new(ip.expect("an /ip4 address"), port.expect("a /tcp port")),
        peer.expect("a /p2p suffix"),
    )
}

async fn rhizo_dials_js() {
    let mut js = JsPeer::spawn(&["listen"]).await;
    let listening = js.wait_for("listening", |_| true).await;
    let js_peer = peer_id_of(&listening);
    let addrs = listening["addrs"]
        .as_array()
        .expect("listening lists addrs");
    assert_eq!(addrs.len(), 1, "only loopback: {listening}");
    let (addr, addr_peer) = tcp_and_peer(addrs[0].as_str().expect("a multiaddr string"));
    assert!(addr.ip().is_loopback(), "{listening}");
    assert_eq!(addr_peer, js_peer);

    let host = rhizo_host();
    let conn = host.dial(addr, Some(js_peer)).await.unwrap();
    check_from_rhizo(&conn, &js_peer).await;
    js.expect_rhizo(&host.peer_id()).await;
    conn.close().await;
    js.stop().await;
}

async fn js_dials_rhizo() {
    let host = rhizo_host();
    let mut listener = host.listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = format!(
        "{}/p2p/{}",
        rhizo_tokio::socket_multiaddr(listener.local_addr()).unwrap(),
        host.peer_id()
    );
    let mut js = JsPeer::spawn(&["dial", &addr]).await;
    let js_peer = peer_id_of(&js.wait_for("started", |_| true).await);
    let conn = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("js-libp2p connects within the wait")
        .unwrap();
    check_from_rhizo(&conn, &js_peer).await;
    js.expect_rhizo(&host.peer_id()).await;
    js.stop().await;
    // js-libp2p closed the connection on its way out.
    let ended = tokio::time::timeout(WAIT, conn.closed())
        .await
        .expect("the connection ends once js-libp2p stops");
    assert!(ended.is_none(), "{ended:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rhizo_dials_js_libp2p() {
    tokio::time::timeout(LIMIT, rhizo_dials_js()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_libp2p_dials_rhizo() {
    tokio::time::timeout(LIMIT, js_dials_rhizo()).await.unwrap();
}
