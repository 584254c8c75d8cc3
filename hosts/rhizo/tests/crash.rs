//! Crash safety of the real commands: `rhizo add` killed with SIGKILL midway, `rhizo get`
//! killed midway, and a fetching daemon killed midway through a Bitswap fetch. After each,
//! `rhizo repo verify` reports a consistent repo and the operation, redone, gives the same
//! result as one never interrupted.
//!
//! Every process is killed when its test ends (also on failure: the guards' `Drop`), and every
//! wait has a deadline.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod support;
use support::{Daemon, RHIZO};
const MIB: usize = 1 << 20;

/// `len` seeded pseudo-random bytes (splitmix64).
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn rhizo(repo: &Path, args: &[&str]) -> Output {
    Command::new(RHIZO)
        .arg("--repo")
        .arg(repo)
        .args(args)
        .env("RHIZO_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("the rhizo binary runs")
}

/// Runs and expects success; its stdout.
fn ok(repo: &Path, args: &[&str]) -> String {
    let out = rhizo(repo, args);
    assert!(
        out.status.success(),
        "rhizo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `repo verify` says the repo is consistent.
fn assert_consistent(repo: &Path) {
    let verify = ok(repo, &["repo", "verify"]);
    assert!(verify.contains("the repo is consistent"), "{verify}");
}

/// The blocks the repo holds, from `repo stat`.
fn block_count(repo: &Path) -> u64 {
    let stat = ok(repo, &["repo", "stat"]);
    stat.lines()
        .find_map(|l| l.strip_prefix("NumObjects: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no NumObjects in {stat}"))
}

/// The CID `rhizo add` gives `data` in a fresh repo of its own, never interrupted.
fn reference_cid(work: &Path, file: &Path) -> String {
    let repo = work.join("reference");
    let cid = ok(&repo, &["add", "-Q", file.to_str().unwrap()])
        .trim()
        .to_owned();
    std::fs::remove_dir_all(&repo).unwrap();
    cid
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A child process killed (SIGKILL) when dropped.
struct Killed(Child);

impl Killed {
    /// SIGKILL now; asserts it was still running (killed midway, not after it finished).
    fn kill_midway(&mut self, what: &str) {
        assert!(
            self.0.try_wait().unwrap().is_none(),
            "{what} finished before it could be killed"
        );
        self.0.kill().unwrap();
        let status = self.0.wait().unwrap();
        assert!(!status.success(), "{what} was killed: {status}");
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `rhizo add -` in `repo`, feeds it the first half of `data` and kills it (SIGKILL):
/// it has committed some batches and cannot have finished.
fn add_half_then_kill(repo: &Path, data: &[u8]) {
    let mut add = Command::new(RHIZO)
        .arg("--repo")
        .arg(repo)
        .args(["add", "-Q", "-"])
        .env("RHIZO_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = add.stdin.take().unwrap();
    let mut add = Killed(add);
    stdin.write_all(&data[..data.len() / 2]).unwrap();
    add.kill_midway("rhizo add");
}

#[test]
fn add_killed_midway_leaves_a_consistent_repo_and_can_be_redone() {
    let work = tempfile::tempdir().unwrap();
    let data = random_bytes(51, 192 * MIB);
    let file = work.path().join("big.bin");
    std::fs::write(&file, &data).unwrap();
    let expected = reference_cid(work.path(), &file);
    let repo = work.path().join("repo");
    ok(&repo, &["repo", "stat"]);

    // `add -` reads stdin: the test feeds half the file, so the command is surely midway
    // (it has committed a 64 MiB batch, `BATCH_BYTES`, and cannot have finished) when it is
    // killed.
    add_half_then_kill(&repo, &data);

    assert_consistent(&repo);
    let left = block_count(&repo);
    assert!(left > 0, "the killed add had committed some batches");
    assert_eq!(ok(&repo, &["pin", "ls"]), "", "the root was never pinned");

    // Redone: the same CID as an add never interrupted, pinned.
    let cid = ok(&repo, &["add", "-Q", file.to_str().unwrap()])
        .trim()
        .to_owned();
    assert_eq!(cid, expected);
    assert!(ok(&repo, &["pin", "ls"]).contains(&cid));
    assert_consistent(&repo);
    // gc keeps the pinned DAG: the blocks the killed add left are now part of it.
    let blocks = block_count(&repo);
    assert_eq!(ok(&repo, &["repo", "gc", "-q"]), "");
    assert_eq!(block_count(&repo), blocks);
    assert!(rhizo(&repo, &["cat", &cid]).stdout == data);
    assert_consistent(&repo);
}

#[test]
fn add_killed_midway_then_gc_removes_its_blocks() {
    let work = tempfile::tempdir().unwrap();
    let data = random_bytes(52, 160 * MIB);
    let repo = work.path().join("repo");
    // An empty file, pinned: gc must keep it.
    ok(&repo, &["add", "-Q", "-"]);
    add_half_then_kill(&repo, &data);

    assert_consistent(&repo);
    assert!(block_count(&repo) > 1);
    // The killed add's blocks were never pinned: gc removes them all, and only them.
    assert!(!ok(&repo, &["repo", "gc", "-q"]).is_empty());
    assert_eq!(block_count(&repo), 1, "only the pinned empty file is left");
    assert_consistent(&repo);
}

#[test]
fn get_killed_midway_leaves_no_output_and_can_be_redone() {
    let work = tempfile::tempdir().unwrap();
    let data = random_bytes(53, 64 * MIB);
    let file = work.path().join("big.bin");
    std::fs::write(&file, &data).unwrap();
    let repo = work.path().join("repo");
    let cid = ok(&repo, &["add", "-Q", file.to_str().unwrap()])
        .trim()
        .to_owned();
    let output = work.path().join("out.bin");
    let partial = work.path().join(".out.bin.rhizo-partial");

    let mut get = Killed(
        Command::new(RHIZO)
            .arg("--repo")
            .arg(&repo)
            .args(["get", &cid, "-o", output.to_str().unwrap()])
            .env("RHIZO_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Killed once a few MiB are written, long before the 64.
    wait_until("get to write 4 MiB", Duration::from_secs(60), || {
        std::fs::metadata(&partial).is_ok_and(|m| m.len() >= 4 * MIB as u64)
    });
    get.kill_midway("rhizo get");
    assert!(!output.exists(), "no truncated file at the output path");
    assert!(partial.exists());

    assert_consistent(&repo);
    // Redone: the partial file is replaced, the output is whole.
    ok(&repo, &["get", &cid, "-o", output.to_str().unwrap()]);
    assert!(std::fs::read(&output).unwrap() == data);
    assert!(!partial.exists());
    assert_eq!(ok(&repo, &["repo", "gc", "-q"]), "");
    assert_consistent(&repo);
}

#[test]
fn fetching_daemon_killed_midway_restarts_consistent_and_the_fetch_completes() {
    let work = tempfile::tempdir().unwrap();
    let data = random_bytes(54, 64 * MIB);
    let file = work.path().join("big.bin");
    std::fs::write(&file, &data).unwrap();
    let (repo_a, repo_b) = (work.path().join("provider"), work.path().join("fetcher"));
    let cid = ok(&repo_a, &["add", "-Q", file.to_str().unwrap()])
        .trim()
        .to_owned();
    let provider = Daemon::start(&repo_a);
    let mut fetcher = Daemon::start(&repo_b);
    ok(&repo_b, &["swarm", "connect", &provider.p2p]);

    // `rhizo cat` through the fetcher; the fetcher is killed once a quarter has arrived.
    let mut cat = Command::new(RHIZO)
        .arg("--repo")
        .arg(&repo_b)
        .args(["cat", &cid, "--timeout", "30s"])
        .env("RHIZO_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = cat.stdout.take().unwrap();
    let mut cat = Killed(cat);
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = out.read(&mut buf) {
            counter.fetch_add(n as u64, Ordering::Relaxed);
        }
    });
    let quarter = (data.len() / 4) as u64;
    wait_until("a quarter of the file", Duration::from_secs(120), || {
        received.load(Ordering::Relaxed) >= quarter
    });
    fetcher.kill_midway("the fetching daemon");
    // The client sees its stream end short of the file, and fails.
    wait_until("rhizo cat to end", Duration::from_secs(30), || {
        cat.0.try_wait().unwrap().is_some()
    });
    reader.join().unwrap();
    assert!(received.load(Ordering::Relaxed) < data.len() as u64);

    // Restarted on the same repo: consistent (it kept some fetched blocks), and the fetch
    // completes.
    let fetcher = Daemon::start(&repo_b);
    assert_consistent(&repo_b);
    assert!(block_count(&repo_b) > 0, "the fetcher had stored blocks");
    ok(&repo_b, &["swarm", "connect", &provider.p2p]);
    let again = rhizo(&repo_b, &["cat", &cid, "--timeout", "30s"]);
    assert!(again.status.success());
    assert!(again.stdout == data, "the fetched bytes are the file");
    drop(fetcher);
    drop(provider);
    assert_consistent(&repo_b);
}
