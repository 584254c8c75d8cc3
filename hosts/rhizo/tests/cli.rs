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
