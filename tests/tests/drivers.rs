//! The drivers' shared scenarios: every scenario runs on `rhizo-tokio` (under a tokio runtime)
//! and on `rhizo-async-io` (under `futures`' `block_on` and thread pool: no tokio in reach),
//! and the two drivers talk to each other. Loopback TCP only; every scenario has a time limit.
//!
//! Each driver has an environment module (`tokio_env`, `async_io_env`) with the same few
//! functions: `builder` (a host builder on that driver), `run` (block on a scenario under the
//! limit), `spawn` (awaitable), `detach`, and the stream helpers `echo` and `round_trip` (the two drivers' streams
//! implement different `AsyncRead`/`AsyncWrite` traits). The `scenarios!` macro writes the
//! scenarios once against those names.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

const ECHO: &str = "/echo/1.0.0";
const LIMIT: Duration = Duration::from_secs(60);

/// A TCP server that accepts and then says nothing (not libp2p, not anything): a peer whose
/// handshake never comes. Plain std threads, so it depends on neither driver.
fn silent_tcp_server() -> SocketAddr {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((stream, _)) = socket.accept() {
            held.push(stream);
        }
    });
    addr
}

/// A loopback port that was free a moment ago: nothing listens there now.
fn closed_port() -> SocketAddr {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap()
}

/// The bytes of echo stream `i`: lengths from 1 byte to about 300 KB.
fn stream_data(i: u32) -> Vec<u8> {
    let len = (i as usize * 7919) % 300_000 + 1;
    (0..len).map(|x| (x as u8) ^ (i as u8)).collect()
}

mod tokio_env {
    use super::*;
    pub use rhizo_tokio as driver;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    pub fn builder() -> driver::HostBuilder {
        driver::Host::builder()
    }

    pub fn run(scenario: impl Future<Output = ()> + Send + 'static) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            tokio::time::timeout(LIMIT, scenario)
                .await
                .expect("the scenario ran past its time limit")
        });
    }

    pub fn spawn<T: Send + 'static>(
        task: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = T> {
        let handle = tokio::spawn(task);
        async move { handle.await.unwrap() }
    }

    pub fn detach(task: impl Future<Output = ()> + Send + 'static) {
        tokio::spawn(task);
    }

    /// Reads the stream to its end, writes it all back and closes.
    pub async fn echo(mut stream: driver::RhizoStream) {
        let mut data = Vec::new();
        stream.read_to_end(&mut data).await.unwrap();
        stream.write_all(&data).await.unwrap();
        stream.shutdown().await.unwrap();
    }

    /// Writes `data` and closes while reading the stream to its end.
    pub async fn round_trip(stream: driver::RhizoStream, data: &[u8]) -> Vec<u8> {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let writer = async {
            wr.write_all(data).await.unwrap();
            wr.shutdown().await.unwrap();
        };
        let mut back = Vec::new();
        let ((), read) = tokio::join!(writer, rd.read_to_end(&mut back));
        read.unwrap();
        back
    }
}

mod async_io_env {
    use super::*;
    use futures::executor::ThreadPool;
    use futures::io::{AsyncReadExt, AsyncWriteExt};
    use futures::task::SpawnExt;
    pub use rhizo_async_io as driver;
    use std::sync::LazyLock;

    /// The executor of every async-io host in these tests.
    static POOL: LazyLock<ThreadPool> =
        LazyLock::new(|| ThreadPool::builder().pool_size(4).create().unwrap());

    pub fn builder() -> driver::HostBuilder {
        driver::Host::builder().spawner(|task| POOL.spawn_ok(task))
    }

    pub fn run(scenario: impl Future<Output = ()> + Send + 'static) {
        futures::executor::block_on(async {
            let limit = async_io::Timer::after(LIMIT);
            match futures::future::select(Box::pin(scenario), limit).await {
                futures::future::Either::Left(((), _)) => {}
                futures::future::Either::Right(_) => panic!("the scenario ran past its time limit"),
            }
        });
    }

    pub fn spawn<T: Send + 'static>(
        task: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = T> {
        // Dropping the handle would cancel the task: `detach` is for tasks nobody awaits.
        POOL.spawn_with_handle(task).unwrap()
    }

    pub fn detach(task: impl Future<Output = ()> + Send + 'static) {
        POOL.spawn_ok(task);
    }

    /// Reads the stream to its end, writes it all back and closes.
    pub async fn echo(mut stream: driver::RhizoStream) {
        let mut data = Vec::new();
        stream.read_to_end(&mut data).await.unwrap();
        stream.write_all(&data).await.unwrap();
        stream.close().await.unwrap();
    }

    /// Writes `data` and closes while reading the stream to its end.
    pub async fn round_trip(stream: driver::RhizoStream, data: &[u8]) -> Vec<u8> {
        let (mut rd, mut wr) = stream.split();
        let writer = async {
            wr.write_all(data).await.unwrap();
            wr.close().await.unwrap();
        };
        let mut back = Vec::new();
        let ((), read) = futures::join!(writer, rd.read_to_end(&mut back));
        read.unwrap();
        back
    }
}

/// The scenarios, on the driver of environment `$env`.
macro_rules! scenarios {
    ($name:ident, $env:ident) => {
        mod $name {
            use super::$env::{builder, detach, driver, echo, round_trip, run, spawn};
            use super::*;
            use driver::{ConnectionHandle, Error, Host, Listener};
            use std::sync::Arc;

            fn server() -> Host {
                builder()
                    .seed([1; 32])
                    .agent_version("rhizo-scenario-server/1")
                    .app_protocols(&[ECHO])
                    .build()
            }

            fn client() -> Host {
                builder().seed([2; 32]).build()
            }

            /// Two hosts, the listener (kept: identify lists its address) and both ends.
            struct Connected {
                server: Host,
                client: Host,
                _listener: Listener,
                dialed: ConnectionHandle,
                accepted: ConnectionHandle,
            }

            async fn connect(addr: &str) -> Option<Connected> {
                let (server, client) = (server(), client());
                // No IPv6 loopback here: the caller skips.
                let mut listener = server.listen(addr.parse().unwrap()).await.ok()?;
                let dialed = client
                    .dial(listener.local_addr(), Some(server.peer_id()))
                    .await
                    .unwrap();
                let accepted = listener.accept().await.unwrap();
                Some(Connected {
                    server,
                    client,
                    _listener: listener,
                    dialed,
                    accepted,
                })
            }

            #[test]
            fn listen_and_dial_ipv4_and_ipv6() {
                run(async {
                    for (addr, prefix) in [("127.0.0.1:0", "/ip4/"), ("[::1]:0", "/ip6/")] {
                        let Some(c) = connect(addr).await else {
                            eprintln!("no IPv6 loopback here: skipped");
                            continue;
                        };
                        assert_eq!(*c.dialed.remote_peer(), c.server.peer_id());
                        assert_eq!(*c.accepted.remote_peer(), c.client.peer_id());
                        assert_eq!(c.dialed.remote_addr(), c.accepted.local_addr());
                        assert_eq!(c.accepted.remote_addr(), c.dialed.local_addr());
                        let observed = c.dialed.identify().await.unwrap().observed_addr;
                        let observed = observed.unwrap().to_string();
                        assert!(observed.starts_with(prefix), "{observed}");
                    }
                });
            }

            #[test]
            fn ping_both_ways() {
                run(async {
                    let c = connect("127.0.0.1:0").await.unwrap();
                    let rtt = c.dialed.ping().await.unwrap();
                    assert!(rtt < Duration::from_secs(1), "{rtt:?}");
                    c.accepted.ping().await.unwrap();
                });
            }

            #[test]
            fn identify_both_ways() {
                run(async {
                    let c = connect("127.0.0.1:0").await.unwrap();
                    let info = c.dialed.identify().await.unwrap();
                    assert_eq!(
                        info.agent_version.as_deref(),
                        Some("rhizo-scenario-server/1")
                    );
                    assert_eq!(info.protocol_version.as_deref(), Some("ipfs/0.1.0"));
                    for p in ["/ipfs/ping/1.0.0", "/ipfs/id/1.0.0", "/perf/1.0.0", ECHO] {
                        assert!(info.protocols.iter().any(|q| q == p), "{p} in {info:?}");
                    }
                    let observed = driver::socket_multiaddr(c.dialed.local_addr());
                    assert_eq!(info.observed_addr, observed);
                    let listen = driver::socket_multiaddr(c.accepted.local_addr()).unwrap();
                    assert!(info.listen_addrs.contains(&listen), "{info:?}");
                    assert_eq!(
                        info.public_key.as_ref(),
                        Some(&c.dialed.remote_public_key())
                    );
                    // The signed peer record verified and names the same addresses.
                    let (seq, signed) = info.signed_listen_addrs.clone().expect("a signed record");
                    assert!(seq > 0);
                    assert_eq!(signed, info.listen_addrs);

                    let back = c.accepted.identify().await.unwrap();
                    assert_eq!(
                        back.agent_version.as_deref(),
                        Some(driver::DEFAULT_AGENT_VERSION)
                    );
                    assert!(!back.protocols.iter().any(|p| p == ECHO), "{back:?}");
                    assert_eq!(
                        back.public_key.as_ref(),
                        Some(&c.accepted.remote_public_key())
                    );
                });
            }

            #[test]
            fn perf_four_mebibytes_each_way() {
                run(async {
                    let c = connect("127.0.0.1:0").await.unwrap();
                    let result = c.dialed.perf(4 << 20, 4 << 20).await.unwrap();
                    assert_eq!((result.uploaded, result.downloaded), (4 << 20, 4 << 20));
                });
            }

            #[test]
            fn thirty_concurrent_echo_streams() {
                run(async {
                    let server = server();
                    let mut listener = server.listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
                    let addr = listener.local_addr();
                    detach(async move {
                        while let Ok(mut conn) = listener.accept().await {
                            while let Some(stream) = conn.accept_stream().await {
                                detach(echo(stream));
                            }
                        }
                    });
                    let conn = Arc::new(client().dial(addr, Some(server.peer_id())).await.unwrap());
                    let mut tasks = Vec::new();
                    for i in 0..30u32 {
                        let conn = conn.clone();
                        tasks.push(spawn(async move {
                            let data = stream_data(i);
                            let stream = conn.open_stream(ECHO).await.unwrap();
                            let back = round_trip(stream, &data).await;
                            assert!(
                                back == data,
                                "stream {i}: {} of {} bytes",
                                back.len(),
                                data.len()
                            );
                        }));
                    }
                    for t in tasks {
                        t.await;
                    }
                });
            }

            #[test]
            fn connection_close_is_seen_by_the_other_side() {
                run(async {
                    let c = connect("127.0.0.1:0").await.unwrap();
                    c.dialed.close().await;
                    // A clean end, and nothing more can be asked.
                    assert!(c.accepted.closed().await.is_none());
                    assert!(c.accepted.is_closed());
                    let err = c.accepted.ping().await.unwrap_err();
                    assert!(matches!(err, Error::Closed), "{err:?}");
                });
            }

            #[test]
            fn dial_failure_says_connection_refused() {
                run(async {
                    let addr = closed_port();
                    let err = client().dial(addr, None).await.unwrap_err();
                    match &err {
                        Error::Connect { addr: a, source } => {
                            assert_eq!(*a, addr);
                            assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
                        }
                        other => panic!("{other:?}"),
                    }
                    let text = err.to_string();
                    assert!(
                        text.contains(&format!("cannot connect to {addr}")),
                        "{text}"
                    );
                });
            }

            #[test]
            fn wrong_expected_peer_is_reported() {
                run(async {
                    let server = server();
                    let listener = server.listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
                    let someone_else = builder().seed([9; 32]).build().peer_id();
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
                });
            }

            #[test]
            fn handshake_times_out_against_a_silent_peer() {
                run(async {
                    let addr = silent_tcp_server();
                    let config = driver::ConnectionConfig {
                        handshake_timeout: Duration::from_millis(300),
                        ..driver::ConnectionConfig::new(driver::Role::Dialer)
                    };
                    let host = builder().connection_config(config).build();
                    let started = std::time::Instant::now();
                    let err = host.dial(addr, None).await.unwrap_err();
                    assert!(err.to_string().contains("timed out"), "{err}");
                    assert!(
                        started.elapsed() < Duration::from_secs(10),
                        "{:?}",
                        started.elapsed()
                    );
                });
            }
        }
    };
}

scenarios!(on_tokio, tokio_env);
scenarios!(on_async_io, async_io_env);

/// A tokio-driver node and an async-io-driver node, each dialing the other: ping, identify,
/// an echo stream and perf both ways. Runs under tokio; the async-io host's tasks run on its
/// own executor and its sockets on async-io's reactor, so both drivers are at work.
#[test]
fn tokio_and_async_io_nodes_talk() {
    tokio_env::run(async {
        let tokio_host = rhizo_tokio::Host::builder()
            .seed([11; 32])
            .agent_version("on-tokio/1")
            .app_protocols(&[ECHO])
            .build();
        let async_io_host = async_io_env::builder()
            .seed([12; 32])
            .agent_version("on-async-io/1")
            .app_protocols(&[ECHO])
            .build();
        let localhost: SocketAddr = "127.0.0.1:0".parse().unwrap();

        // async-io dials tokio.
        let mut tokio_listener = tokio_host.listen(localhost).await.unwrap();
        let dialed = async_io_host
            .dial(tokio_listener.local_addr(), Some(tokio_host.peer_id()))
            .await
            .unwrap();
        let mut accepted = tokio_listener.accept().await.unwrap();
        assert_eq!(*accepted.remote_peer(), async_io_host.peer_id());
        dialed.ping().await.unwrap();
        accepted.ping().await.unwrap();
        let info = dialed.identify().await.unwrap();
        assert_eq!(info.agent_version.as_deref(), Some("on-tokio/1"));
        let info = accepted.identify().await.unwrap();
        assert_eq!(info.agent_version.as_deref(), Some("on-async-io/1"));
        let echoing = tokio::spawn(async move {
            let stream = accepted.accept_stream().await.unwrap();
            tokio_env::echo(stream).await;
            accepted
        });
        let data = stream_data(7);
        let stream = dialed.open_stream(ECHO).await.unwrap();
        assert_eq!(async_io_env::round_trip(stream, &data).await, data);
        let accepted = echoing.await.unwrap();
        let result = dialed.perf(1 << 20, 1 << 20).await.unwrap();
        assert_eq!((result.uploaded, result.downloaded), (1 << 20, 1 << 20));
        dialed.close().await;
        assert!(accepted.closed().await.is_none());

        // tokio dials async-io.
        let mut async_io_listener = async_io_host.listen(localhost).await.unwrap();
        let dialed = tokio_host
            .dial(
                async_io_listener.local_addr(),
                Some(async_io_host.peer_id()),
            )
            .await
            .unwrap();
        let mut accepted = async_io_listener.accept().await.unwrap();
        assert_eq!(*accepted.remote_peer(), tokio_host.peer_id());
        dialed.ping().await.unwrap();
        accepted.ping().await.unwrap();
        assert!(dialed.identify().await.is_ok());
        assert!(accepted.identify().await.is_ok());
        let echoing = async_io_env::spawn(async move {
            let stream = accepted.accept_stream().await.unwrap();
            async_io_env::echo(stream).await;
            accepted
        });
        let stream = dialed.open_stream(ECHO).await.unwrap();
        assert_eq!(tokio_env::round_trip(stream, &data).await, data);
        let accepted = echoing.await;
        let result = dialed.perf(1 << 20, 1 << 20).await.unwrap();
        assert_eq!((result.uploaded, result.downloaded), (1 << 20, 1 << 20));
        accepted.close().await;
        assert!(dialed.closed().await.is_none());
    });
}
