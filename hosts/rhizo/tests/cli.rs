//! The `rhizo` binary end to end: repos in temp dirs, daemons on 127.0.0.1 port 0.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{Daemon, RHIZO};

/// `rhizo --repo <repo> <args>`, run to completion.
fn rhizo(repo: &Path, args: &[&str]) -> Output {
    Command::new(RHIZO)
        .arg("--repo")
        .arg(repo)
        .args(args)
        .env("RHIZO_LOG", "warn")
        .output()
        .expect("the rhizo binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn peer_id_of(repo: &Path) -> String {
    let out = rhizo(repo, &["id"]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("PeerId: ").map(str::to_owned))
        .expect("`rhizo id` prints a PeerId line")
}

#[test]
fn id_creates_the_repo_and_keeps_its_peer_id() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let first = peer_id_of(&repo);
    assert!(first.starts_with("12D3KooW"), "{first}");
    assert!(repo.join("identity.key").is_file());
    assert!(repo.join("config.toml").is_file());
    assert_eq!(peer_id_of(&repo), first);

    let out = rhizo(&repo, &["id", "--json"]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ID"], first.as_str());
    assert!(json["PublicKey"].as_str().unwrap().starts_with("CAESI"));
    assert!(json["AgentVersion"].as_str().unwrap().starts_with("rhizo/"));
    assert!(
        json["Addresses"].as_array().unwrap()[0]
            .as_str()
            .unwrap()
            .ends_with(&format!("/p2p/{first}"))
    );
}

#[test]
fn repo_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(RHIZO)
        .arg("id")
        .env("RHIZO_REPO", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("identity.key").is_file());
}

#[test]
fn corrupt_identity_and_config_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identity.key"), b"not a key").unwrap();
    let out = rhizo(dir.path(), &["id"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a valid libp2p Ed25519 private key"),
        "{}",
        stderr(&out)
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "listen = [1, 2]\n").unwrap();
    let out = rhizo(dir.path(), &["id"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("config.toml"), "{}", stderr(&out));
}

#[test]
fn ping_perf_and_remote_id_against_a_daemon() {
    let server_dir = tempfile::tempdir().unwrap();
    let client_dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(server_dir.path());
    assert!(daemon.peer_id.starts_with("12D3KooW"));
    assert!(daemon.p2p.starts_with("/ip4/127.0.0.1/tcp/"));
    assert!(daemon.p2p.ends_with(&format!("/p2p/{}", daemon.peer_id)));
    assert!(!daemon.p2p.contains("/tcp/0/"));

    let out = rhizo(client_dir.path(), &["ping", &daemon.p2p, "-n", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("PING {}", daemon.peer_id)), "{text}");
    assert_eq!(text.matches("Pong received: time=").count(), 3, "{text}");
    assert!(text.contains("Average latency: "), "{text}");

    let out = rhizo(
        client_dir.path(),
        &[
            "perf",
            &daemon.p2p,
            "--upload",
            "1048576",
            "--download",
            "1048576",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Uploaded 1.00 MiB in "), "{text}");
    assert!(text.contains("Downloaded 1.00 MiB in "), "{text}");

    let out = rhizo(
        client_dir.path(),
        &[
            "perf",
            &daemon.p2p,
            "--upload",
            "1000",
            "--download",
            "2000",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["type"], "final");
    assert_eq!(json["uploadBytes"], 1000);
    assert_eq!(json["downloadBytes"], 2000);

    let out = rhizo(client_dir.path(), &["id", &daemon.p2p, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ID"], daemon.peer_id.as_str());
    let protocols = json["Protocols"].as_array().unwrap();
    assert!(protocols.iter().any(|p| p == "/ipfs/ping/1.0.0"), "{json}");

    // Without /p2p: the peer is whoever answers.
    let bare = daemon.p2p.split("/p2p/").next().unwrap();
    let out = rhizo(client_dir.path(), &["ping", bare, "-n", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_wrong_peer_id_names_both_ids() {
    let server_dir = tempfile::tempdir().unwrap();
    let client_dir = tempfile::tempdir().unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(server_dir.path());
    let other = peer_id_of(other_dir.path());
    let bare = daemon.p2p.split("/p2p/").next().unwrap();
    let wrong = format!("{bare}/p2p/{other}");
    let out = rhizo(client_dir.path(), &["ping", &wrong, "-n", "1"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&daemon.peer_id), "{err}");
    assert!(err.contains(&other), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_addresses_and_flags_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (&["ping", "not-a-multiaddr"][..], "not a valid multiaddr"),
        (&["ping", "/dns4/example.com/tcp/4001"][..], "DNS"),
        (&["ping", "/ip4/127.0.0.1/udp/4001"][..], "TCP"),
        (
            &["perf", "/ip4/1.2.3.4/tcp/99999"][..],
            "not a valid multiaddr",
        ),
        (
            &["daemon", "--listen", "/ip4/127.0.0.1"][..],
            "listen address",
        ),
    ] {
        let out = rhizo(dir.path(), args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // clap's own errors: exit code 2, no panic.
    for args in [
        &["ping"][..],
        &["ping", "/ip4/1.2.3.4/tcp/1", "-n", "x"],
        &["nope"],
    ] {
        let out = rhizo(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!stderr(&out).contains("panicked"));
    }
}

#[test]
fn an_unreachable_peer_is_a_clear_error() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let out = rhizo(
        dir.path(),
        &["ping", &format!("/ip4/127.0.0.1/tcp/{port}"), "-n", "1"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("cannot connect to 127.0.0.1"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("/ip4/127.0.0.1/tcp/{port}");
    let mut child = Command::new(RHIZO)
        .arg("--repo")
        .arg(dir.path())
        .args(["daemon", "--listen", &addr])
        .env("RHIZO_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed if it wrongly keeps running.
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.contains("in use"), "{err}");
    drop(taken);
}

#[cfg(unix)]
#[test]
fn the_daemon_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(dir.path());
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    let status = daemon
        .wait_exit(Duration::from_secs(5))
        .expect("the daemon exits within 5 s of SIGTERM");
    assert!(status.success(), "{status}");
}

#[cfg(unix)]
#[test]
fn the_daemon_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(dir.path());
    daemon.signal(nix::sys::signal::Signal::SIGINT);
    let status = daemon
        .wait_exit(Duration::from_secs(5))
        .expect("the daemon exits within 5 s of SIGINT");
    assert!(status.success(), "{status}");
}

#[test]
fn the_daemon_follows_its_config() {
    let server_dir = tempfile::tempdir().unwrap();
    let client_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        server_dir.path().join("config.toml"),
        "listen = [\"/ip4/127.0.0.1/tcp/0\"]\nagent_version = \"test-agent/1.0\"\n",
    )
    .unwrap();
    let daemon = Daemon::start_with(server_dir.path(), &[]);
    assert!(
        daemon.p2p.starts_with("/ip4/127.0.0.1/tcp/"),
        "{}",
        daemon.p2p
    );
    let out = rhizo(client_dir.path(), &["id", &daemon.p2p, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["AgentVersion"], "test-agent/1.0");
}

/// `rhizo`, which must succeed; its stdout.
fn rhizo_ok(repo: &Path, args: &[&str]) -> String {
    let out = rhizo(repo, args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

/// `rhizo`, which must fail with `expected` in its stderr.
fn rhizo_fails(repo: &Path, args: &[&str], expected: &str) {
    let out = rhizo(repo, args);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(
        stderr(&out).contains(expected),
        "{args:?}: {:?} lacks {expected:?}",
        stderr(&out)
    );
}

/// `add -r` of a tree with a directory past the sharding threshold (3000 files with 55-byte
/// names) and symlinks, then `get` and `cat` of paths through plain and HAMT directories, on
/// the repo and through a daemon's API: the files come back, the symlink inside comes back as
/// a symlink, those pointing out of the output do not, and bad paths are clear errors.
#[test]
fn sharded_directories_paths_and_symlinks_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("big")).unwrap();
    std::fs::create_dir_all(tree.join("sub/a")).unwrap();
    std::fs::write(tree.join("sub/a/b.txt"), b"nested\n").unwrap();
    let name = |i: u32| format!("{i:05}-a-file-name-long-enough-to-pass-the-threshold.txt");
    for i in 0..3000 {
        std::fs::write(tree.join("big").join(name(i)), format!("file {i}\n")).unwrap();
    }
    std::os::unix::fs::symlink("sub/a/b.txt", tree.join("link-in")).unwrap();
    std::os::unix::fs::symlink("../a/b.txt", tree.join("sub/a/up")).unwrap();
    std::os::unix::fs::symlink("../../etc/passwd", tree.join("link-out")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", tree.join("sub/abs")).unwrap();

    let root = rhizo_ok(&repo, &["add", "-r", "-Q", tree.to_str().unwrap()]);
    let root = root.trim().to_owned();
    let check = |prefix: &str| {
        let r = |p: &str| format!("{prefix}{root}{p}");
        assert_eq!(rhizo_ok(&repo, &["cat", &r("/sub/a/b.txt")]), "nested\n");
        assert_eq!(
            rhizo_ok(&repo, &["cat", &(r("/big/") + &name(1234))]),
            "file 1234\n"
        );
        rhizo_fails(
            &repo,
            &["cat", &r("/big/nope")],
            "no such file or directory",
        );
        rhizo_fails(
            &repo,
            &["cat", &r("/sub/nope/x")],
            "no such file or directory",
        );
        rhizo_fails(&repo, &["cat", &r("/sub/a/b.txt/x")], "is not a directory");
        rhizo_fails(&repo, &["cat", &r("/link-in")], "symlink");
        rhizo_fails(&repo, &["cat", &r("/sub")], "is a directory");

        let out = dir.path().join(format!("out-{}", prefix.len()));
        let _ = std::fs::remove_dir_all(&out);
        rhizo_ok(&repo, &["get", &r(""), "-o", out.to_str().unwrap()]);
        assert_eq!(std::fs::read(out.join("sub/a/b.txt")).unwrap(), b"nested\n");
        assert_eq!(std::fs::read_dir(out.join("big")).unwrap().count(), 3000);
        assert_eq!(
            std::fs::read(out.join("big").join(name(2999))).unwrap(),
            b"file 2999\n"
        );
        let link = std::fs::read_link(out.join("link-in")).unwrap();
        assert_eq!(link, Path::new("sub/a/b.txt"));
        assert_eq!(std::fs::read(out.join("link-in")).unwrap(), b"nested\n");
        assert_eq!(std::fs::read(out.join("sub/a/up")).unwrap(), b"nested\n");
        assert!(std::fs::symlink_metadata(out.join("link-out")).is_err());
        assert!(std::fs::symlink_metadata(out.join("sub/abs")).is_err());

        let sub = dir.path().join(format!("sub-{}", prefix.len()));
        let _ = std::fs::remove_dir_all(&sub);
        rhizo_ok(&repo, &["get", &r("/sub/a"), "-o", sub.to_str().unwrap()]);
        assert_eq!(std::fs::read(sub.join("b.txt")).unwrap(), b"nested\n");
        // The link `up` climbs out of `a`, the output: skipped.
        assert!(std::fs::symlink_metadata(sub.join("up")).is_err());
    };
    check("");
    let daemon = Daemon::start(&repo);
    check("/ipfs/");
    drop(daemon);
}
