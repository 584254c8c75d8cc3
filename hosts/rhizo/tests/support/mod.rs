//! What the `rhizo` command's tests and its content bench share: a `rhizo daemon` on loopback
//! that is killed when dropped (also when a test fails).
//!
//! Each test file is its own crate and uses part of this, hence `allow(dead_code)`.
#![allow(dead_code)]

use rhizo::api::client::ApiClient;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `rhizo` binary under test.
pub const RHIZO: &str = env!("CARGO_BIN_EXE_rhizo");

/// How long a daemon may take to print its addresses.
const START_LIMIT: Duration = Duration::from_secs(30);

/// A running `rhizo daemon` with its libp2p and API listeners on 127.0.0.1 (ports the OS
/// picks); killed when dropped.
pub struct Daemon {
    pub child: Child,
    /// Its first full listen multiaddr, `/p2p/<PeerId>` included.
    pub p2p: String,
    /// Its HTTP API's address.
    pub api: SocketAddr,
    /// The PeerId it printed (`PeerId: ...`, before its addresses).
    pub peer_id: String,
}

impl Daemon {
    /// `rhizo daemon` in `repo`, listening on 127.0.0.1 port 0.
    pub fn start(repo: &Path) -> Daemon {
        Daemon::start_with(repo, &["--listen", "/ip4/127.0.0.1/tcp/0"])
    }

    /// `rhizo daemon <args>` in `repo` with its API on 127.0.0.1 port 0 (not 5001: daemons of
    /// tests running at once would compete for it); waits until it has printed both its API
    /// address and its first listen address.
    pub fn start_with(repo: &Path, args: &[&str]) -> Daemon {
        let mut child = Command::new(RHIZO)
            .arg("--repo")
            .arg(repo)
            .arg("daemon")
            .args(args)
            .args(["--api", "/ip4/127.0.0.1/tcp/0"])
            .env(
                "RHIZO_LOG",
                std::env::var("TEST_RHIZO_LOG").unwrap_or("warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the rhizo binary starts");
        let out = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        // Reads every line until the daemon exits, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut daemon = Daemon {
            child,
            p2p: String::new(),
            api: SocketAddr::from(([0, 0, 0, 0], 0)),
            peer_id: String::new(),
        };
        let mut api = None;
        let deadline = Instant::now() + START_LIMIT;
        while api.is_none() || daemon.p2p.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .expect("the daemon prints its addresses in time");
            if let Some(id) = line.strip_prefix("PeerId: ") {
                daemon.peer_id = id.to_owned();
            } else if let Some(addr) = line.strip_prefix("API server listening on ") {
                api = Some(rhizo::addr::parse_listen(addr).expect("a valid API multiaddr"));
            } else if let Some(addr) = line.strip_prefix("Listening on ")
                && daemon.p2p.is_empty()
            {
                daemon.p2p = addr.to_owned();
            }
        }
        daemon.api = api.expect("set above");
        daemon
    }

    /// A client of its HTTP API.
    pub fn api_client(&self) -> ApiClient {
        ApiClient::new(self.api)
    }

    /// Sends `signal` to the daemon.
    #[cfg(unix)]
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = i32::try_from(self.child.id()).expect("pids fit i32 on unix");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).expect("kill works");
    }

    /// Its resident memory, from /proc (Linux).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// SIGKILL now; asserts it was still running (killed midway, not after it finished).
    pub fn kill_midway(&mut self, what: &str) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "{what} finished before it could be killed"
        );
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        assert!(!status.success(), "{what} was killed: {status}");
    }

    /// Waits up to `limit` for the daemon to exit; its exit status.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait works") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
