//! Bitswap between rhizo daemons over loopback: a fetch spread over two providers that
//! survives one being killed with SIGKILL, a provider sending corrupt blocks cut off, and a
//! peer flooding its wantlist (or sending an oversized message) cut off.
//!
//! Every daemon is killed when its test ends (also on failure: `Daemon`'s `Drop`), and every
//! wait has a deadline.

use rhizo::api::client::ApiClient;
use rhizo::store::Store;
use rhizo_core::bitswap::PROTOCOL_1_2_0;
use rhizo_core::bitswap::message::{
    BlockPresence, CidPrefix, Message, MessageWriter, PresenceType, WantType, WantlistEntry,
};
use rhizo_core::block::Block;
use rhizo_core::cid::{Cid, codec};
use rhizo_core::multihash::Multihash;
use rhizo_core::wire::frame;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;
use support::{Daemon, RHIZO};

/// `count` seeded pseudo-random raw blocks of `len` bytes, with their CIDs.
fn blocks(seed: u64, count: usize, len: usize) -> Vec<(Cid, Vec<u8>)> {
    let mut state = seed;
    let mut next = move || {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (0..count)
        .map(|_| {
            let data: Vec<u8> = (0..len.div_ceil(8))
                .flat_map(|_| next().to_le_bytes())
                .take(len)
                .collect();
            let cid = Cid::new_v1(codec::RAW, Multihash::sha2_256(&data)).unwrap();
            (cid, data)
        })
        .collect()
}

/// Puts `blocks` into the repo at `dir` (no daemon running on it yet).
fn seed_repo(dir: &Path, blocks: &[(Cid, Vec<u8>)]) {
    let store = Store::open(dir).expect("the store opens");
    store
        .put_many(
            blocks
                .iter()
                .map(|(cid, data)| Block::verify(*cid, data).unwrap()),
        )
        .expect("the blocks are stored");
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_fetch_spreads_over_two_providers_and_survives_one_killed() {
    let data = blocks(7, 200, 128 * 1024);
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    seed_repo(dirs[0].path(), &data);
    seed_repo(dirs[1].path(), &data);
    let mut provider_a = Daemon::start(dirs[0].path());
    let provider_b = Daemon::start(dirs[1].path());
    let fetcher = Daemon::start(dirs[2].path());
    let api = fetcher.api_client();
    for provider in [&provider_a, &provider_b] {
        let answer = api.swarm_connect(&provider.p2p).unwrap();
        assert_eq!(
            answer.strings,
            vec![format!("connect {} success", provider.peer_id.clone())]
        );
    }
    let peers = api.swarm_peers().unwrap().peers;
    assert_eq!(peers.len(), 2, "{peers:?}");

    // Sixteen workers fetch the 200 blocks through block/get; the main thread kills provider A
    // once a quarter of them has arrived.
    let data = Arc::new(data);
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (data, next, addr) = (Arc::clone(&data), Arc::clone(&next), fetcher.api);
            std::thread::spawn(move || {
                let api = ApiClient::new(addr);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((cid, bytes)) = data.get(i) else {
                        return;
                    };
                    let got = api
                        .block_get(&cid.to_string(), Some("60s"))
                        .unwrap_or_else(|e| panic!("block {i} {cid}: {e}"));
                    assert!(got == *bytes, "block {i} {cid}: wrong bytes");
                }
            })
        })
        .collect();
    let (a, b) = (provider_a.peer_id.clone(), provider_b.peer_id.clone());
    let mut at_kill = None;
    wait_until("a quarter of the blocks", Duration::from_secs(60), || {
        let stat = api.bitswap_stat().unwrap();
        if stat.blocks_received >= 50 {
            at_kill = Some(stat);
            true
        } else {
            false
        }
    });
    provider_a.child.kill().unwrap();
    provider_a.child.wait().unwrap();
    let at_kill = at_kill.expect("set above");
    for worker in workers {
        worker
            .join()
            .expect("every block arrives, with the right bytes");
    }
    let stat = api.bitswap_stat().unwrap();
    let from = |stat: &rhizo::exchange::BitswapStat, peer: &str| {
        stat.received_from.get(peer).copied().unwrap_or(0)
    };
    eprintln!(
        "at the kill: {} from A, {} from B; at the end: {} from A, {} from B",
        from(&at_kill, &a),
        from(&at_kill, &b),
        from(&stat, &a),
        from(&stat, &b)
    );
    assert!(
        at_kill.blocks_received < 200,
        "the fetch ended before the kill"
    );
    assert!(
        from(&at_kill, &a) > 0 && from(&at_kill, &b) > 0,
        "{at_kill:?}"
    );
    assert_eq!(stat.blocks_received, 200, "{stat:?}");
    assert!(
        from(&stat, &b) > from(&at_kill, &b),
        "B carried on: {stat:?}"
    );
    // A is gone from the swarm; the fetcher's repo holds every block.
    wait_until("A to leave the swarm", Duration::from_secs(10), || {
        api.swarm_peers().unwrap().peers.len() == 1
    });
    assert_eq!(api.repo_stat().unwrap().num_objects, 200);
    assert!(api.repo_verify().unwrap().consistent);
}

/// Bitswap messages a test peer reads from a stream, one frame at a time.
async fn read_message(stream: &mut rhizo_tokio::RhizoStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Ok(Some(f)) = frame::decode(buf, 4 << 20) {
            let payload = f.payload.to_vec();
            buf.drain(..f.consumed);
            return Some(payload);
        }
        let mut chunk = [0u8; 16 * 1024];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A frame holding a message written by `write`.
fn message(write: impl FnOnce(&mut MessageWriter<'_>)) -> Vec<u8> {
    let mut body = vec![0u8; 64 * 1024];
    let mut writer = MessageWriter::new(&mut body);
    write(&mut writer);
    let len = writer.len();
    let mut out = vec![0u8; len + 10];
    let n = frame::encode(&body[..len], &mut out).unwrap();
    out.truncate(n);
    out
}

/// A provider that claims to have every block and sends wrong bytes for each want-block.
/// Returns once its connection to the daemon has ended.
async fn corrupt_provider(mut listener: rhizo_tokio::Listener) -> usize {
    let mut conn = listener.accept().await.expect("the daemon dials");
    let mut inbound = conn
        .accept_stream()
        .await
        .expect("the daemon opens a stream");
    let mut out = conn.open_stream(PROTOCOL_1_2_0).await.unwrap();
    let mut buf = Vec::new();
    let mut corrupt_sent = 0;
    while let Some(payload) = read_message(&mut inbound, &mut buf).await {
        let Ok(m) = Message::decode(&payload) else {
            break;
        };
        let entries: Vec<WantlistEntry> = m.wantlist().filter(|e| !e.cancel).collect();
        let reply = message(|w| {
            for e in &entries {
                match e.want_type {
                    WantType::Have => w
                        .block_presence(&BlockPresence {
                            cid: e.cid,
                            presence: PresenceType::Have,
                        })
                        .unwrap(),
                    WantType::Block => {
                        corrupt_sent += 1;
                        w.payload_block(&CidPrefix::of(&e.cid), b"not the block you want")
                            .unwrap()
                    }
                }
            }
        });
        if out.write_all(&reply).await.is_err() {
            break;
        }
        let _ = out.flush().await;
    }
    // The daemon closes the connection after a corrupt block.
    tokio::time::timeout(Duration::from_secs(10), conn.closed())
        .await
        .expect("the daemon closes the connection");
    corrupt_sent
}

#[test]
fn a_provider_of_corrupt_blocks_is_cut_off_and_the_fetch_completes_elsewhere() {
    let data = blocks(11, 1, 4096);
    let (cid, bytes) = data[0].clone();
    let (honest_dir, fetcher_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    seed_repo(honest_dir.path(), &data);
    let honest = Daemon::start(honest_dir.path());
    let fetcher = Daemon::start(fetcher_dir.path());
    let api = fetcher.api_client();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let host = rhizo_tokio::Host::builder()
        .app_protocols(&rhizo_core::bitswap::PROTOCOL_IDS)
        .build();
    let listener = runtime
        .block_on(host.listen("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let corrupt_addr = format!(
        "/ip4/127.0.0.1/tcp/{}/p2p/{}",
        listener.local_addr().port(),
        host.peer_id()
    );
    let corrupt = runtime.spawn(corrupt_provider(listener));

    // The fetcher knows only the corrupt provider when the fetch starts: it gets the
    // want-block, answers with wrong bytes, and is cut off.
    api.swarm_connect(&corrupt_addr).unwrap();
    let addr = fetcher.api;
    let key = cid.to_string();
    let fetch = std::thread::spawn(move || ApiClient::new(addr).block_get(&key, Some("30s")));
    wait_until(
        "the corrupt provider to be cut off",
        Duration::from_secs(20),
        || api.bitswap_stat().unwrap().peers_cut_off == 1,
    );
    let sent = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(15), corrupt).await })
        .expect("the corrupt provider's connection ends")
        .unwrap();
    assert!(sent >= 1, "the corrupt provider was asked for the block");
    let me = host.peer_id().to_base58_string();
    assert!(
        api.swarm_peers()
            .unwrap()
            .peers
            .iter()
            .all(|p| p.peer != me),
        "the corrupt provider is no longer connected"
    );
    // No corrupt bytes were stored.
    assert_eq!(api.repo_stat().unwrap().num_objects, 0);

    // An honest provider arrives: the same fetch, still waiting, completes from it.
    api.swarm_connect(&honest.p2p).unwrap();
    let got = fetch.join().unwrap().expect("the fetch completes");
    assert_eq!(got, bytes);
    let stat = api.bitswap_stat().unwrap();
    assert_eq!(stat.received_from.get(&honest.peer_id.clone()), Some(&1));
    assert!(api.repo_verify().unwrap().consistent);
}

#[test]
fn wantlist_floods_and_oversized_messages_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let target = rhizo::addr::parse_dial(&daemon.p2p).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let rss_before = daemon.rss_kib();
    runtime.block_on(async {
        let host = rhizo_tokio::Host::builder().build();

        // 1. Want-haves for 20000 distinct CIDs in messages of 500 entries: past the
        //    1024-entry ledger the daemon closes the connection.
        let conn = host.dial(target.socket, target.peer).await.unwrap();
        let mut stream = conn.open_stream(PROTOCOL_1_2_0).await.unwrap();
        let mut n = 0u64;
        let sent_all = async {
            for _ in 0..40 {
                let frame = message(|w| {
                    let entries = (0..500).map(|_| {
                        n += 1;
                        let cid =
                            Cid::new_v1(codec::RAW, Multihash::sha2_256(&n.to_le_bytes())).unwrap();
                        WantlistEntry::want(cid, WantType::Have, true)
                    });
                    w.wantlist(false, entries).unwrap();
                });
                if stream.write_all(&frame).await.is_err() {
                    return;
                }
            }
            std::future::pending::<()>().await;
        };
        tokio::select! {
            () = sent_all => {}
            _ = conn.closed() => {}
            () = tokio::time::sleep(Duration::from_secs(20)) => panic!("the flood was not cut off"),
        }
        tokio::time::timeout(Duration::from_secs(10), conn.closed())
            .await
            .expect("the flooding connection is closed");

        // 2. A frame announcing 64 MiB (over the 4 MiB limit): closed as soon as the length
        //    is read, without waiting for (or buffering) the bytes.
        let conn = host.dial(target.socket, target.peer).await.unwrap();
        let mut stream = conn.open_stream(PROTOCOL_1_2_0).await.unwrap();
        let mut header = [0u8; 10];
        let len = rhizo_core::wire::varint::encode(64 << 20, &mut header).unwrap();
        stream.write_all(&header[..len]).await.unwrap();
        stream.write_all(&[0u8; 1024]).await.unwrap();
        stream.flush().await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), conn.closed())
            .await
            .expect("the connection with an oversized message is closed");
    });
    let api = daemon.api_client();
    assert_eq!(api.bitswap_stat().unwrap().peers_cut_off, 2);
    // The daemon is still serving, and its memory did not follow the flood.
    // The client saw its end close first: the daemon drops the peer a moment later.
    wait_until(
        "the cut-off peers to leave",
        Duration::from_secs(10),
        || api.swarm_peers().unwrap().peers.is_empty(),
    );
    if let (Some(before), Some(after)) = (rss_before, daemon.rss_kib()) {
        eprintln!("daemon RSS: {before} KiB before, {after} KiB after");
        assert!(after < before + 64 * 1024, "{before} KiB -> {after} KiB");
    }
}

/// `rhizo --repo <repo> <args>`: its stdout, or the test fails with its stderr.
fn rhizo_ok(repo: &Path, args: &[&str]) -> String {
    let out = Command::new(RHIZO)
        .arg("--repo")
        .arg(repo)
        .args(args)
        .env("RHIZO_LOG", "warn")
        .output()
        .expect("the rhizo binary runs");
    assert!(
        out.status.success(),
        "rhizo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A small tree: a multi-block file, an empty file, a nested file, an empty directory.
fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::create_dir_all(root.join("empty")).unwrap();
    let big: Vec<u8> = blocks(3, 1, 700_000).remove(0).1;
    std::fs::write(root.join("big.bin"), big).unwrap();
    std::fs::write(root.join("nothing"), b"").unwrap();
    std::fs::write(root.join("sub/deeper/note.txt"), b"nested\n").unwrap();
}

fn assert_same_tree(a: &Path, b: &Path) {
    let mut names_a: Vec<_> = std::fs::read_dir(a)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let mut names_b: Vec<_> = std::fs::read_dir(b)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names_a.sort();
    names_b.sort();
    assert_eq!(names_a, names_b, "{} vs {}", a.display(), b.display());
    for name in names_a {
        let (x, y) = (a.join(&name), b.join(&name));
        if x.is_dir() {
            assert_same_tree(&x, &y);
        } else {
            assert!(
                std::fs::read(&x).unwrap() == std::fs::read(&y).unwrap(),
                "{}",
                x.display()
            );
        }
    }
}

#[test]
fn add_cat_get_on_a_repo_and_across_daemons() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    make_tree(&tree);
    let (repo_a, repo_b) = (work.path().join("a"), work.path().join("b"));

    // No daemon: add -r, cat, get on the repo itself.
    let out = rhizo_ok(&repo_a, &["add", "-r", tree.to_str().unwrap()]);
    let root = out
        .lines()
        .last()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .to_owned();
    assert!(out.lines().last().unwrap().ends_with(" tree"), "{out}");
    assert!(out.contains(" tree/sub/deeper/note.txt\n"), "{out}");
    let note = out
        .lines()
        .find(|l| l.ends_with("tree/sub/deeper/note.txt"))
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .to_owned();
    assert_eq!(rhizo_ok(&repo_a, &["cat", &note]), "nested\n");
    let copy = work.path().join("copy-local");
    rhizo_ok(&repo_a, &["get", &root, "-o", copy.to_str().unwrap()]);
    assert_same_tree(&tree, &copy);
    assert!(rhizo_ok(&repo_a, &["pin", "ls", "-t", "recursive"]).contains(&root));
    // The recursive pin keeps the whole DAG (dag-pb links are read): gc removes nothing.
    assert_eq!(rhizo_ok(&repo_a, &["repo", "gc", "-q"]), "");

    // Two daemons: B fetches A's directory with get, and a file with cat.
    let a = Daemon::start(&repo_a);
    let b = Daemon::start(&repo_b);
    rhizo_ok(&repo_b, &["swarm", "connect", &a.p2p]);
    assert!(rhizo_ok(&repo_b, &["swarm", "peers"]).contains(&a.peer_id.clone()));
    let copy = work.path().join("copy-fetched");
    rhizo_ok(
        &repo_b,
        &[
            "get",
            &root,
            "-o",
            copy.to_str().unwrap(),
            "--timeout",
            "30s",
        ],
    );
    assert_same_tree(&tree, &copy);
    assert_eq!(rhizo_ok(&repo_b, &["cat", &note]), "nested\n");
    // add - reads stdin, named by its CID as kubo does.
    let mut child = Command::new(RHIZO)
        .arg("--repo")
        .arg(&repo_b)
        .args(["add", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"from stdin").unwrap();
    let added = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    let stdin_cid = added.split(' ').nth(1).unwrap().to_owned();
    assert_eq!(added, format!("added {stdin_cid} {stdin_cid}\n"));
    // pin add fetches what it pins: A has not seen B's stdin block.
    assert!(rhizo_ok(&repo_a, &["pin", "add", &stdin_cid]).contains(&stdin_cid));
    // block/stat reads the store only: the block is there now.
    assert!(rhizo_ok(&repo_a, &["block", "stat", &stdin_cid]).contains(&stdin_cid));
    assert_eq!(rhizo_ok(&repo_a, &["cat", &stdin_cid]), "from stdin");
    // A directory is not cat-able; the error says what to do.
    let out = Command::new(RHIZO)
        .arg("--repo")
        .arg(&repo_b)
        .args(["cat", &root])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("use get"));
    drop(b);
}
