//! Bitswap with helia 7 (npm, `tests/js/helia-peer.mjs`) over loopback, both ways: helia
//! fetches a file that `rhizo add` stored, rhizo (`rhizo cat`, `rhizo block get`) fetches a
//! file and a block that helia added. Bytes match, and for the same settings both sides
//! compute the same CIDs.
//!
//! Needs `node` (20 or newer) and `tests/js/node_modules` (`(cd tests/js && npm ci)`, which
//! `.ci/run` does); without them the test fails, saying so. The node process and the daemon
//! are killed when the test ends, and every wait has a deadline.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const RHIZO: &str = env!("CARGO_BIN_EXE_rhizo");
const WAIT: Duration = Duration::from_secs(40);
const INSTALL: &str = "run `(cd tests/js && npm ci)` with Node.js 20 or newer on the PATH \
                       (.ci/run does this)";

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/js")
}

/// The helia node; killed when dropped.
struct Helia {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<Value>,
}

impl Helia {
    fn start() -> Helia {
        let modules = js_dir().join("node_modules").join("helia");
        assert!(
            modules.is_dir(),
            "{} is missing: {INSTALL}",
            modules.display()
        );
        let mut child = Command::new("node")
            .current_dir(js_dir())
            .args(["--import", "./with-resolvers.mjs", "helia-peer.mjs"])
            .args(["--deadline-ms", "120000"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node ({e}): {INSTALL}"));
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("helia wrote {line:?}, not JSON: {e}"));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Helia {
            child,
            stdin,
            lines,
        }
    }

    /// The next report of `event`; an error report fails the test.
    fn expect(&self, event: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let value = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("helia did not report {event} in time"));
            if value["event"] == "error" {
                panic!("helia failed: {value}");
            }
            if value["event"] == event {
                return value;
            }
        }
    }

    fn send(&mut self, command: Value) {
        writeln!(self.stdin, "{command}").expect("helia reads its commands");
        self.stdin.flush().expect("helia reads its commands");
    }
}

impl Drop for Helia {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `rhizo daemon` on loopback; killed when dropped.
struct Daemon {
    child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_daemon(repo: &Path) -> Daemon {
    let mut child = Command::new(RHIZO)
        .arg("--repo")
        .arg(repo)
        .args(["daemon", "--listen", "/ip4/127.0.0.1/tcp/0"])
        .args(["--api", "/ip4/127.0.0.1/tcp/0"])
        .env("RHIZO_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the rhizo binary starts");
    let out = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let daemon = Daemon { child };
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("the daemon gets ready");
        if line == "Daemon is ready" {
            return daemon;
        }
    }
}

/// Runs `rhizo --repo <repo> <args>`; its stdout, or the test fails with its stderr.
fn rhizo(repo: &Path, args: &[&str]) -> Vec<u8> {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(RHIZO)
        .arg("--repo")
        .arg(repo)
        .args(args)
        .env("RHIZO_LOG", "warn")
        .output()
        .expect("the rhizo binary runs");
    assert!(
        status.success(),
        "rhizo {args:?} failed: {}",
        String::from_utf8_lossy(&stderr)
    );
    stdout
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap().trim().to_owned()
}

fn seeded(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unbase64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let mut out = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        let digits: Vec<u8> = chunk
            .iter()
            .filter(|&&c| c != b'=')
            .map(|&c| value(c))
            .collect();
        let n = digits
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &d)| n | (u32::from(d) << (18 - 6 * i)));
        for i in 0..digits.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

#[test]
fn bitswap_with_helia_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let _daemon = start_daemon(&repo);
    let mut helia = Helia::start();
    let ready = helia.expect("ready");
    let helia_addr = ready["addrs"][0]
        .as_str()
        .expect("helia listens")
        .to_owned();
    let helia_id = ready["peerId"].as_str().unwrap().to_owned();
    assert_eq!(
        text(rhizo(&repo, &["swarm", "connect", &helia_addr])),
        format!("connect {helia_id} success")
    );

    // rhizo -> helia: a 1.5 MiB file added by rhizo (kubo's defaults: CIDv0, 256 KiB dag-pb
    // leaves), fetched by helia's UnixFS cat over Bitswap.
    let file = seeded(1, 1_500_000);
    let path = dir.path().join("from-rhizo.bin");
    std::fs::write(&path, &file).unwrap();
    let cid = text(rhizo(&repo, &["add", "-Q", path.to_str().unwrap()]));
    assert!(cid.starts_with("Qm"), "{cid}");
    helia.send(json!({"cmd": "cat", "cid": cid, "timeoutMs": 30000}));
    let got = unbase64(helia.expect("cat")["data"].as_str().unwrap());
    assert!(got == file, "helia got {} bytes, not the file", got.len());
    // The same bytes imported by helia with kubo's settings give the same CID.
    helia.send(json!({"cmd": "add", "data": base64(&file), "cidVersion": 0,
                      "rawLeaves": false, "chunkSize": 262144, "maxLinks": 174}));
    assert_eq!(helia.expect("added")["cid"], cid.as_str());

    // helia -> rhizo: a 2.5 MiB file added by helia (its defaults: CIDv1, 1 MiB raw leaves),
    // fetched by `rhizo cat` through the daemon.
    let file = seeded(2, 2_500_000);
    helia.send(json!({"cmd": "add", "data": base64(&file), "cidVersion": 1, "rawLeaves": true}));
    let cid = helia.expect("added")["cid"].as_str().unwrap().to_owned();
    let got = rhizo(&repo, &["cat", &cid, "--timeout", "30s"]);
    assert!(got == file, "rhizo got {} bytes, not the file", got.len());
    // rhizo imports the same bytes with helia's settings to the same CID (offline: the
    // daemon's store, through the API).
    let path = dir.path().join("from-helia.bin");
    std::fs::write(&path, &file).unwrap();
    let mine = text(rhizo(
        &repo,
        &[
            "add",
            "-Q",
            "--cid-version",
            "1",
            "--chunker",
            "size-1048576",
            path.to_str().unwrap(),
        ],
    ));
    assert_eq!(mine, cid);

    // helia -> rhizo: one raw block, fetched by `rhizo block get`.
    let block = b"a single raw block from helia".to_vec();
    helia.send(json!({"cmd": "add", "data": base64(&block), "cidVersion": 1, "rawLeaves": true}));
    let cid = helia.expect("added")["cid"].as_str().unwrap().to_owned();
    assert!(cid.starts_with("bafkrei"), "{cid}");
    assert_eq!(
        rhizo(&repo, &["block", "get", &cid, "--timeout", "30s"]),
        block
    );
    let stat = text(rhizo(&repo, &["bitswap", "stat", "--json"]));
    let stat: Value = serde_json::from_str(&stat).unwrap();
    assert!(
        stat["ReceivedFrom"][&helia_id].as_u64().unwrap_or(0) >= 4,
        "{stat}"
    );
}
