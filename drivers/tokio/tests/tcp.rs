//! rhizo to rhizo over real loopback TCP: the driver and the core together.

use rhizo_tokio::{ConnectionHandle, Error, Host, Listener};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ECHO: &str = "/echo/1.0.0";
const LIMIT: Duration = Duration::from_secs(60);

fn server() -> Host {
    Host::builder()
        .seed([1; 32])
        .agent_version("rhizo-test-server/1")
        .app_protocols(&[ECHO])
        .build()
}

fn client() -> Host {
    Host::builder().seed([2; 32]).build()
}

async fn listen(host: &Host, addr: &str) -> Listener {
    host.listen(addr.parse().unwrap()).await.unwrap()
}

/// Accepts connections and echoes every inbound stream until the peer closes it.
fn spawn_echo_server(mut listener: Listener) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok(mut conn) = listener.accept().await {
            tokio::spawn(async move {
                while let Some(mut stream) = conn.accept_stream().await {
                    tokio::spawn(async move {
                        let mut data = Vec::new();
                        stream.read_to_end(&mut data).await.unwrap();
                        stream.write_all(&data).await.unwrap();
                        stream.shutdown().await.unwrap();
                    });
                }
            });
        }
    })
}

/// Two hosts, a listener (kept: identify lists its address) and both ends of a connection.
struct Connected {
    server: Host,
    client: Host,
    _listener: Listener,
    dialed: ConnectionHandle,
    accepted: ConnectionHandle,
}

async fn connect(addr: &str) -> Connected {
    let (server, client) = (server(), client());
    let mut listener = listen(&server, addr).await;
    let dialed = client
        .dial(listener.local_addr(), Some(server.peer_id()))
        .await
        .unwrap();
    let accepted = listener.accept().await.unwrap();
    Connected {
        server,
        client,
        _listener: listener,
        dialed,
        accepted,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dial_ping_and_identify_both_ways() {
    tokio::time::timeout(LIMIT, async {
        let Connected {
            server,
            client,
            dialed,
            accepted,
            _listener: _keep_listening,
        } = connect("127.0.0.1:0").await;
        assert_eq!(*dialed.remote_peer(), server.peer_id());
        assert_eq!(*accepted.remote_peer(), client.peer_id());

        let rtt = dialed.ping().await.unwrap();
        assert!(rtt < Duration::from_secs(1), "{rtt:?}");
        accepted.ping().await.unwrap();

        let info = dialed.identify().await.unwrap();
        assert_eq!(info.agent_version.as_deref(), Some("rhizo-test-server/1"));
        assert_eq!(info.protocol_version.as_deref(), Some("ipfs/0.1.0"));
        for p in ["/ipfs/ping/1.0.0", "/ipfs/id/1.0.0", "/perf/1.0.0", ECHO] {
            assert!(info.protocols.iter().any(|q| q == p), "{p} in {info:?}");
        }
        let observed = rhizo_tokio::socket_multiaddr(dialed.local_addr());
        assert_eq!(info.observed_addr, observed);
        let listen = rhizo_tokio::socket_multiaddr(accepted.local_addr()).unwrap();
        assert!(info.listen_addrs.contains(&listen), "{info:?}");
        assert_eq!(info.public_key.as_ref(), Some(&dialed.remote_public_key()));

        let back = accepted.identify().await.unwrap();
        assert_eq!(
            back.agent_version.as_deref(),
            Some(rhizo_tokio::DEFAULT_AGENT_VERSION)
        );
        // The client serves no application protocol.
        assert!(!back.protocols.iter().any(|p| p == ECHO));
        dialed.close().await;
        // The other side sees a clean end.
        assert!(accepted.closed().await.is_none());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_dial_works() {
    tokio::time::timeout(LIMIT, async {
        let server = server();
        let Ok(mut listener) = server.listen("[::1]:0".parse().unwrap()).await else {
            eprintln!("no IPv6 loopback here: skipped");
            return;
        };
        let dialed = client()
            .dial(listener.local_addr(), Some(server.peer_id()))
            .await
            .unwrap();
        let _accepted = listener.accept().await.unwrap();
        dialed.ping().await.unwrap();
        let info = dialed.identify().await.unwrap();
        let observed = info.observed_addr.unwrap().to_string();
        assert!(observed.starts_with("/ip6/::1/tcp/"), "{observed}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perf_ten_mebibytes_each_way() {
    tokio::time::timeout(LIMIT, async {
        let c = connect("127.0.0.1:0").await;
        let dialed = &c.dialed;
        let started = std::time::Instant::now();
        let result = dialed.perf(10 << 20, 10 << 20).await.unwrap();
        assert_eq!(result.uploaded, 10 << 20);
        assert_eq!(result.downloaded, 10 << 20);
        eprintln!("perf 10 MiB each way: {:?}", started.elapsed());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_echo_streams() {
    tokio::time::timeout(LIMIT, async {
        let server = server();
        let listener = listen(&server, "127.0.0.1:0").await;
        let addr = listener.local_addr();
        let _echo = spawn_echo_server(listener);
        let conn = Arc::new(client().dial(addr, Some(server.peer_id())).await.unwrap());
        let mut tasks = Vec::new();
        for i in 0..50u32 {
            let conn = conn.clone();
            tasks.push(tokio::spawn(async move {
                let len = (i as usize * 7919) % 300_000 + 1;
                let data: Vec<u8> = (0..len).map(|x| (x as u8) ^ (i as u8)).collect();
                let stream = conn.open_stream(ECHO).await.unwrap();
                let (mut rd, mut wr) = tokio::io::split(stream);
                let writer = async {
                    wr.write_all(&data).await.unwrap();
                    wr.shutdown().await.unwrap();
                };
                let mut back = Vec::new();
                let reader = rd.read_to_end(&mut back);
                let ((), read) = tokio::join!(writer, reader);
                read.unwrap();
                assert!(back == data, "stream {i}: {} of {} bytes", back.len(), len);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_protocol_is_refused_on_the_stream() {
    tokio::time::timeout(LIMIT, async {
        let c = connect("127.0.0.1:0").await;
        let dialed = &c.dialed;
        let mut stream = dialed.open_stream("/nobody/1.0.0").await.unwrap();
        let mut buf = [0u8; 8];
        let err = stream.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::Unsupported, "{err}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dial_failure_says_what_failed() {
    tokio::time::timeout(LIMIT, async {
        // A port that was free a moment ago: nothing listens there now.
        let addr: SocketAddr = {
            let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            socket.local_addr().unwrap()
        };
        let err = client().dial(addr, None).await.unwrap_err();
        assert!(matches!(err, Error::Connect { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("cannot connect to 127.0.0.1"), "{text}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_expected_peer_is_reported() {
    tokio::time::timeout(LIMIT, async {
        let server = server();
        let listener = listen(&server, "127.0.0.1:0").await;
        let someone_else = Host::builder().seed([9; 32]).build().peer_id();
        let err = client()
            .dial(listener.local_addr(), Some(someone_else))
            .await
            .unwrap_err();
        match &err {
            Error::WrongPeer { expected, actual } => {
                assert_eq!(**expected, someone_else);
                assert_eq!(**actual, server.peer_id());
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("not the expected"), "{err}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_connections_at_once() {
    tokio::time::timeout(LIMIT, async {
        let server = server();
        let mut listener = listen(&server, "127.0.0.1:0").await;
        let addr = listener.local_addr();
        let expected = server.peer_id();
        let accepting = tokio::spawn(async move {
            let mut peers = Vec::new();
            for _ in 0..20 {
                let conn = listener.accept().await.unwrap();
                peers.push((*conn.remote_peer(), conn));
            }
            peers
        });
        let mut dials = Vec::new();
        for i in 0..20u8 {
            dials.push(tokio::spawn(async move {
                let host = Host::builder().seed([100 + i; 32]).build();
                let conn = host.dial(addr, Some(expected)).await.unwrap();
                conn.ping().await.unwrap();
                assert!(conn.identify().await.is_ok());
                (host.peer_id(), conn)
            }));
        }
        let mut dialed = Vec::new();
        for d in dials {
            dialed.push(d.await.unwrap());
        }
        let accepted = accepting.await.unwrap();
        for (peer, _) in &dialed {
            assert!(accepted.iter().any(|(p, _)| p == peer));
        }
    })
    .await
    .unwrap();
}

/// A TCP server that is not libp2p: answers every connection with `reply`, then holds it.
async fn not_libp2p_server(reply: &'static [u8]) -> SocketAddr {
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = socket.accept().await {
            let _ = stream.write_all(reply).await;
            held.push(stream);
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_failures_say_what_failed() {
    tokio::time::timeout(LIMIT, async {
        // A length-prefixed line, but not multistream-select's header.
        let addr = not_libp2p_server(b"\x06hello\n").await;
        let err = client().dial(addr, None).await.unwrap_err();
        assert!(matches!(err, Error::Connection(_)), "{err:?}");
        assert!(err.to_string().contains("negotiation"), "{err}");
        // A server that never answers: the upgrade times out.
        let addr = not_libp2p_server(b"").await;
        let config = rhizo_tokio::ConnectionConfig {
            handshake_timeout: Duration::from_millis(300),
            ..rhizo_tokio::ConnectionConfig::new(rhizo_tokio::Role::Dialer)
        };
        let host = Host::builder().connection_config(config).build();
        let err = host.dial(addr, None).await.unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
    })
    .await
    .unwrap();
}
