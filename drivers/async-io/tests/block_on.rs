//! The driver with nothing around it: the default spawner (a thread per task) and a plain
//! `async_io::block_on`. The shared scenarios (`tests/tests/drivers.rs`) run it on a pool.

use std::time::Duration;

#[test]
fn dial_ping_stream_and_close_under_a_plain_block_on() {
    const ECHO: &str = "/echo/1.0.0";
    let limit = Duration::from_secs(60);
    async_io::block_on(async {
        let run = async {
            let server = rhizo_async_io::Host::builder()
                .seed([1; 32])
                .app_protocols(&[ECHO])
                .build();
            let mut listener = server.listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
            let client = rhizo_async_io::Host::builder().build();
            let conn = client
                .dial(listener.local_addr(), Some(server.peer_id()))
                .await
                .unwrap();
            let mut accepted = listener.accept().await.unwrap();
            conn.ping().await.unwrap();
            accepted.ping().await.unwrap();
            use futures::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = conn.open_stream(ECHO).await.unwrap();
            stream.write_all(b"hello").await.unwrap();
            stream.close().await.unwrap();
            let mut inbound = accepted.accept_stream().await.unwrap();
            let mut got = Vec::new();
            inbound.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"hello");
            conn.close().await;
            assert!(accepted.closed().await.is_none());
        };
        let timer = async_io::Timer::after(limit);
        match futures::future::select(Box::pin(run), timer).await {
            futures::future::Either::Left(((), _)) => {}
            futures::future::Either::Right(_) => panic!("ran past {limit:?}"),
        }
    });
}
