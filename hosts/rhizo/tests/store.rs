//! The repo's block store end to end: `rhizo block/pin/repo` on a repo with no daemon, the
//! same through a running daemon's HTTP API, and a writer killed with SIGKILL mid-import.

use rhizo::api::client::ApiClient;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{Daemon, RHIZO};

/// `rhizo --repo <repo> <args>` with `input` on stdin, run to completion.
fn rhizo_in(repo: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(RHIZO)
        .arg("--repo")
        .arg(repo)
        .args(args)
        .env("RHIZO_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the rhizo binary runs");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // The command may exit before reading it all (an error): ignore a broken pipe.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().expect("rhizo finishes")
}

fn rhizo(repo: &Path, args: &[&str]) -> Output {
    rhizo_in(repo, args, b"")
}

/// Runs and expects success; its stdout.
fn ok(repo: &Path, args: &[&str]) -> String {
    let out = rhizo(repo, args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs and expects failure with exit code 1 and `expected` in the message; no panic.
fn fails(repo: &Path, args: &[&str], expected: &str) {
    let out = rhizo(repo, args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(err.contains(expected), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn put(repo: &Path, data: &[u8], args: &[&str]) -> String {
    let mut all = vec!["block", "put"];
    all.extend_from_slice(args);
    let out = rhizo_in(repo, &all, data);
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn block_put_get_stat_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let cid = put(repo, b"hello\n", &[]);
    // kubo: `echo hello | ipfs block put` gives this CID (raw, CIDv1, sha2-256).
    assert_eq!(
        cid,
        "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"
    );
    assert_eq!(ok(repo, &["block", "get", &cid]), "hello\n");
    assert_eq!(
        ok(repo, &["block", "stat", &cid]),
        format!("Key: {cid}\nSize: 6\n")
    );
    // From a file, and as a CIDv0 dag-pb block.
    let file = repo.join("node.bin");
    std::fs::write(&file, b"\x0a\x02\x08\x01").unwrap();
    let v0 = put(
        repo,
        b"",
        &[
            file.to_str().unwrap(),
            "--cid-codec",
            "dag-pb",
            "--cid-version",
            "0",
        ],
    );
    assert!(v0.starts_with("Qm"), "{v0}");
    assert_eq!(
        rhizo(repo, &["block", "get", &v0]).stdout,
        b"\x0a\x02\x08\x01"
    );
    fails(
        repo,
        &["block", "put", "--cid-version", "0"],
        "CIDv0 exists only for dag-pb",
    );
    fails(
        repo,
        &["block", "put", "--cid-codec", "nope"],
        "unknown CID codec",
    );
    fails(repo, &["block", "get", "nonsense"], "is not a CID");
    let absent = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
    fails(repo, &["block", "get", absent], "is not in the repo");
    let big = vec![7u8; 2 * 1024 * 1024 + 1];
    let out = rhizo_in(repo, &["block", "put"], &big);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("rhizo add"), "{}", stderr(&out));
}

#[test]
fn pins_keep_blocks_through_gc() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let kept_direct = put(repo, b"direct", &[]);
    let kept_recursive = put(repo, b"recursive", &[]);
    let loose = put(repo, b"loose", &[]);
    assert_eq!(
        ok(repo, &["pin", "add", "--recursive=false", &kept_direct]),
        format!("pinned {kept_direct} directly\n")
    );
    assert_eq!(
        ok(repo, &["pin", "add", &kept_recursive]),
        format!("pinned {kept_recursive} recursively\n")
    );
    let ls = ok(repo, &["pin", "ls"]);
    assert!(ls.contains(&format!("{kept_direct} direct")), "{ls}");
    assert!(ls.contains(&format!("{kept_recursive} recursive")), "{ls}");
    assert_eq!(
        ok(repo, &["pin", "ls", "--type", "direct", "-q"]),
        format!("{kept_direct}\n")
    );
    fails(repo, &["pin", "ls", "--type", "odd"], "unknown pin type");

    assert_eq!(ok(repo, &["repo", "gc"]), format!("removed {loose}\n"));
    let stat = ok(repo, &["repo", "stat"]);
    assert!(stat.contains("NumObjects: 2\n"), "{stat}");
    assert!(stat.contains("RepoSize: 15\n"), "{stat}");
    assert!(stat.contains("Pins: 1 recursive, 1 direct"), "{stat}");
    assert!(ok(repo, &["repo", "verify"]).contains("consistent"));

    assert_eq!(
        ok(repo, &["pin", "rm", &kept_recursive]),
        format!("unpinned {kept_recursive}\n")
    );
    fails(repo, &["pin", "rm", &kept_recursive], "is not pinned");
    fails(repo, &["pin", "add", &loose], "is not in the repo");
    assert_eq!(
        ok(repo, &["repo", "gc", "-q"]),
        format!("{kept_recursive}\n")
    );
    assert!(ok(repo, &["block", "stat", &kept_direct]).contains("Size: 6"));
}

#[test]
fn the_api_of_a_running_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let mut daemon = Daemon::start(repo);
    // The daemon wrote the address it really listens on where the CLI looks for it.
    assert_eq!(rhizo::api::client::api_addr_of(repo), Some(daemon.api));
    let api = ApiClient::new(daemon.api);
    assert_eq!(api.version().unwrap().version, env!("CARGO_PKG_VERSION"));
    let id = api.id().unwrap();
    assert!(daemon.p2p.ends_with(&id.id), "{} {}", daemon.p2p, id.id);

    // block/put (multipart), block/get, block/stat, pin/*, repo/stat over HTTP.
    let stat = api
        .block_put(b"over http".to_vec(), "raw", 1, false)
        .unwrap();
    assert_eq!(stat.size, 9);
    assert_eq!(api.block_get(&stat.key, None).unwrap(), b"over http");
    assert_eq!(api.block_stat(&stat.key).unwrap(), stat);
    assert_eq!(
        api.pin_add(&stat.key, true).unwrap().pins,
        vec![stat.key.clone()]
    );
    let list = api.pin_ls("all").unwrap();
    assert_eq!(list.keys[&stat.key].kind, "recursive");
    assert_eq!(api.repo_stat().unwrap().num_objects, 1);
    let err = api.block_stat("nonsense").unwrap_err();
    assert!(err.message.contains("is not a CID"), "{err}");

    // The CLI goes through the API: the daemon holds the store, so this proves it.
    let cid = put(repo, b"through the cli", &[]);
    assert_eq!(ok(repo, &["block", "get", &cid]), "through the cli");
    assert!(ok(repo, &["repo", "gc"]).contains(&cid));
    assert!(ok(repo, &["repo", "verify"]).contains("verified 1 blocks"));
    assert_eq!(api.pin_rm(&stat.key).unwrap().pins, vec![stat.key.clone()]);

    // swarm/peers lists a peer while it is connected.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let host = rhizo_tokio::Host::builder().build();
        let target = rhizo::addr::parse_dial(&daemon.p2p).unwrap();
        let conn = host.dial(target.socket, target.peer).await.unwrap();
        let me = host.peer_id().to_base58_string();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let peers = tokio::task::block_in_place(|| api.swarm_peers().unwrap());
            if peers.peers.iter().any(|p| p.peer == me) {
                break;
            }
            assert!(Instant::now() < deadline, "swarm/peers never listed {me}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        conn.close().await;
    });

    // Plain HTTP: GET is refused (kubo accepts POST only), unknown verbs are 404.
    let status = |request: &str| {
        use std::io::Read;
        let mut socket = std::net::TcpStream::connect(daemon.api).unwrap();
        socket.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = socket.read_to_string(&mut answer);
        answer.lines().next().unwrap_or_default().to_owned()
    };
    let host = format!("Host: {}\r\nConnection: close\r\n", daemon.api);
    assert!(status(&format!("GET /api/v0/version HTTP/1.1\r\n{host}\r\n")).contains("405"));
    assert!(
        status(&format!(
            "POST /api/v0/nope HTTP/1.1\r\n{host}Content-Length: 0\r\n\r\n"
        ))
        .contains("404")
    );
    let foreign = format!(
        "POST /api/v0/version HTTP/1.1\r\n{host}Origin: http://example.com\r\nContent-Length: 0\r\n\r\n"
    );
    assert!(status(&foreign).contains("403"));

    // A second daemon on the repo is refused, naming the first.
    let second = Command::new(RHIZO)
        .arg("--repo")
        .arg(repo)
        .args(["daemon", "--listen", "/ip4/127.0.0.1/tcp/0"])
        .args(["--api", "/ip4/127.0.0.1/tcp/0"])
        .env("RHIZO_LOG", "warn")
        .output()
        .unwrap();
    let err = stderr(&second);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "in use by another rhizo process (pid {})",
            daemon.child.id()
        )),
        "{err}"
    );

    // Stopped cleanly, it removes its api file and the CLI opens the store itself.
    #[cfg(unix)]
    {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(daemon.child.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        assert!(daemon.child.wait().unwrap().success());
        assert!(!repo.join("api").exists());
        assert!(ok(repo, &["repo", "stat"]).contains("NumObjects: 1\n"));
    }
}

#[test]
fn a_killed_daemon_leaves_a_usable_repo() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let mut daemon = Daemon::start(repo);
    let cid = put(repo, b"before the crash", &["--pin"]);
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    // Its api file is stale: the CLI finds nobody there and opens the store.
    assert!(repo.join("api").exists());
    assert_eq!(ok(repo, &["block", "get", &cid]), "before the crash");
    assert!(ok(repo, &["repo", "verify"]).contains("consistent"));
}

/// How many blocks the crash writer puts per transaction.
const CRASH_BATCH: u64 = 64;

/// Not a test by itself: the body of the process `a_writer_killed_mid_import_leaves_whole_batches`
/// kills. Writes batches of blocks until killed.
#[test]
fn crash_writer_child() {
    let Some(dir) = std::env::var_os("RHIZO_CRASH_WRITER_REPO") else {
        return;
    };
    let store = rhizo::store::Store::open(Path::new(&dir)).unwrap();
    let mut counter = 0u64;
    for _ in 0..100_000 {
        let datas: Vec<Vec<u8>> = (0..CRASH_BATCH)
            .map(|_| {
                counter += 1;
                let mut data = vec![0u8; 16 * 1024];
                data[..8].copy_from_slice(&counter.to_le_bytes());
                data
            })
            .collect();
        let blocks = datas
            .iter()
            .map(|d| rhizo_core::block::Block::new_v1(rhizo_core::cid::codec::RAW, d).unwrap());
        store.put_many(blocks).unwrap();
        println!("committed {counter}");
    }
}

#[test]
fn a_writer_killed_mid_import_leaves_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    ok(repo, &["repo", "stat"]);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_writer_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RHIZO_CRASH_WRITER_REPO", repo)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut commits = 0;
    for line in out.lines() {
        if line.unwrap().starts_with("committed ") {
            commits += 1;
            if commits == 5 {
                break;
            }
        }
    }
    // Mid-write: it is writing its sixth batch, or committing it.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        commits, 5,
        "the writer committed 5 batches before it was killed"
    );

    let verify = ok(repo, &["repo", "verify"]);
    assert!(verify.contains("the repo is consistent"), "{verify}");
    let stat = ok(repo, &["repo", "stat"]);
    let blocks: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("NumObjects: "))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(blocks >= 5 * CRASH_BATCH, "{stat}");
    assert_eq!(blocks % CRASH_BATCH, 0, "a batch is all or nothing: {stat}");
    // And the import can be redone: gc clears the unpinned blocks.
    assert!(ok(repo, &["repo", "gc", "-q"]).lines().count() as u64 == blocks);
    assert!(ok(repo, &["repo", "stat"]).contains("NumObjects: 0\n"));
}
