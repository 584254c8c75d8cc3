use super::*;
use crate::stream_pair::StreamPair;
use proptest::prelude::*;

const MIB: u64 = 1 << 20;

fn run(params: PerfParams, chunks: &[usize], out_len: usize) -> StreamPair<PerfClient, PerfServer> {
    run_with(params, chunks, out_len, false)
}

/// `count_zeros`: the payload goes through `poll_transmit_zeros`, as the connection sends it.
fn run_with(
    params: PerfParams,
    chunks: &[usize],
    out_len: usize,
    count_zeros: bool,
) -> StreamPair<PerfClient, PerfServer> {
    let config = PerfClientConfig {
        report_interval: None,
    };
    let mut p = StreamPair::new(
        PerfClient::new(Instant::ZERO, params, config),
        PerfServer::new(Instant::ZERO, PerfServerConfig::default()),
        chunks,
        out_len,
    );
    p.count_zeros = count_zeros;
    p.run();
    p
}

fn assert_exact(p: &StreamPair<PerfClient, PerfServer>, params: PerfParams) {
    assert_eq!(p.a_error, None);
    assert_eq!(p.b_error, None);
    assert!(p.a.is_done() && p.b.is_done());
    let [PerfEvent::Done(result)] = p.a_events[..] else {
        panic!("events: {:?}", p.a_events);
    };
    assert_eq!(result.uploaded, params.upload);
    assert_eq!(result.downloaded, params.download);
    let [stats] = p.b_events[..] else {
        panic!("events: {:?}", p.b_events);
    };
    assert_eq!(stats.received, params.upload);
    assert_eq!(stats.sent, params.download);
}

#[test]
fn exact_transfers() {
    for (upload, download) in [(0, 0), (1, 0), (0, 1), (1, 1), (3 * MIB, 0), (0, 3 * MIB)] {
        let params = PerfParams { upload, download };
        let p = run(params, &[65536, 1000], 16 * 1024);
        assert_exact(&p, params);
    }
    // Small and odd splits on smaller transfers, with the payload written or counted.
    for count_zeros in [false, true] {
        for (chunks, out_len) in [(&[1usize][..], 1), (&[3, 7], 5), (&[1, 100], 9)] {
            for (upload, download) in [(0, 0), (1, 1), (10_000, 7_777)] {
                let params = PerfParams { upload, download };
                let p = run_with(params, chunks, out_len, count_zeros);
                assert_exact(&p, params);
            }
        }
    }
}

#[test]
fn counted_zeros_follow_the_header_and_stop_at_the_sizes() {
    let params = PerfParams {
        upload: 100,
        download: 50,
    };
    let now = Instant::ZERO;
    let mut client = PerfClient::new(now, params, PerfClientConfig::default());
    // Nothing counted before the 8-byte header is written.
    assert_eq!(client.poll_transmit_zeros(now, 1000), 0);
    let mut out = [1u8; 8];
    assert_eq!(client.poll_transmit(now, &mut out), 8);
    assert_eq!(out, 50u64.to_be_bytes());
    assert_eq!(client.poll_transmit_zeros(now, 60), 60);
    assert!(!client.wants_close());
    assert_eq!(client.poll_transmit_zeros(now, 1000), 40);
    assert!(client.wants_close());
    assert_eq!(client.poll_transmit_zeros(now, 1000), 0);
    assert_eq!(client.poll_transmit(now, &mut out), 0);
    // The server counts none before the upload ends, then exactly the download.
    let mut server = PerfServer::new(now, PerfServerConfig::default());
    let mut upload = 50u64.to_be_bytes().to_vec();
    upload.resize(108, 0);
    assert_eq!(server.handle_input(now, &upload), Ok(108));
    assert_eq!(server.poll_transmit_zeros(now, 1000), 0);
    server.handle_remote_close(now).unwrap();
    assert_eq!(server.poll_transmit_zeros(now, 30), 30);
    assert_eq!(server.poll_transmit_zeros(now, 30), 20);
    assert!(server.is_done());
    assert_eq!(server.poll_transmit_zeros(now, 30), 0);
}

#[test]
fn timings_follow_the_clock() {
    let params = PerfParams {
        upload: 100,
        download: 50,
    };
    let at = Instant::from_millis;
    let mut client = PerfClient::new(at(0), params, PerfClientConfig::default());
    let mut server = PerfServer::new(at(0), PerfServerConfig::default());
    let mut wire = Vec::new();
    let mut out = [0u8; 64];
    // The header and part of the upload at t=0, a progress report and the rest at 2.5 s.
    let n = client.poll_transmit(at(0), &mut out);
    wire.extend_from_slice(&out[..n]);
    assert_eq!(client.poll_timeout(), Some(at(1000)));
    client.handle_timeout(at(2500)).unwrap();
    assert_eq!(
        client.poll_event(),
        Some(PerfEvent::Progress(PerfProgress {
            uploaded: 56,
            downloaded: 0,
            elapsed: Duration::from_millis(2500),
        }))
    );
    // The cadence skips reports that are already late.
    assert_eq!(client.poll_timeout(), Some(at(3500)));
    let n = client.poll_transmit(at(2500), &mut out);
    wire.extend_from_slice(&out[..n]);
    assert!(client.wants_close());
    assert_eq!(server.handle_input(at(3500), &wire), Ok(108));
    server.handle_remote_close(at(3500)).unwrap();
    assert_eq!(server.poll_transmit(at(3600), &mut out), 50);
    assert_eq!(
        server.poll_event(),
        Some(PerfServerStats {
            received: 100,
            sent: 50,
            receive_time: Duration::from_millis(3500),
            send_time: Duration::from_millis(100),
        })
    );
    assert_eq!(client.handle_input(at(4000), &out[..50]), Ok(50));
    client.handle_remote_close(at(4500)).unwrap();
    assert_eq!(
        client.poll_event(),
        Some(PerfEvent::Done(PerfResult {
            uploaded: 100,
            downloaded: 50,
            upload_time: Duration::from_millis(2500),
            download_time: Duration::from_secs(2),
            total_time: Duration::from_millis(4500),
        }))
    );
    assert!(client.is_done());
    assert_eq!(client.poll_timeout(), None);
}

#[test]
fn server_rejects_bad_requests() {
    let now = Instant::ZERO;
    let mut server = PerfServer::new(now, PerfServerConfig { max_download: 10 });
    assert_eq!(server.handle_input(now, &[0; 5]), Ok(5));
    assert_eq!(
        server.handle_remote_close(now),
        Err(PerfServerError::ShortHeader)
    );
    let mut server = PerfServer::new(now, PerfServerConfig { max_download: 10 });
    assert_eq!(
        server.handle_input(now, &11u64.to_be_bytes()),
        Err(PerfServerError::DownloadTooLarge {
            requested: 11,
            max: 10
        })
    );
    // Nothing is sent before the upload ends.
    let mut server = PerfServer::new(now, PerfServerConfig { max_download: 10 });
    assert_eq!(
        server.handle_input(now, &[0, 0, 0, 0, 0, 0, 0, 10, 1, 2]),
        Ok(10)
    );
    assert_eq!(server.requested(), Some(10));
    assert_eq!(server.poll_transmit(now, &mut [1; 64]), 0);
    server.handle_remote_close(now).unwrap();
    let mut out = [1u8; 64];
    assert_eq!(server.poll_transmit(now, &mut out), 10);
    assert_eq!(out[..10], [0; 10]);
    assert!(server.is_done() && server.wants_close());
}

#[test]
fn client_rejects_wrong_counts() {
    let now = Instant::ZERO;
    let params = PerfParams {
        upload: 0,
        download: 4,
    };
    let mut client = PerfClient::new(now, params, PerfClientConfig::default());
    assert_eq!(
        client.handle_remote_close(now),
        Err(PerfClientError::ClosedDuringUpload)
    );
    let mut client = PerfClient::new(now, params, PerfClientConfig::default());
    let mut out = [0u8; 8];
    assert_eq!(client.poll_transmit(now, &mut out), 8);
    assert_eq!(out, 4u64.to_be_bytes());
    assert!(client.wants_close());
    assert_eq!(client.handle_input(now, &[0; 3]), Ok(3));
    assert_eq!(
        client.handle_remote_close(now),
        Err(PerfClientError::ShortDownload {
            expected: 4,
            received: 3
        })
    );
    assert_eq!(
        client.handle_input(now, &[0; 2]),
        Err(PerfClientError::TooMuchData { expected: 4 })
    );
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..6),
        max_download: u64,
        close: bool,
    ) {
        let now = Instant::ZERO;
        let mut server = PerfServer::new(now, PerfServerConfig { max_download });
        let mut client = PerfClient::new(now, PerfParams { upload: 3, download: 20 }, PerfClientConfig::default());
        for chunk in &chunks {
            if let Ok(used) = server.handle_input(now, chunk) {
                prop_assert_eq!(used, chunk.len());
            }
            if let Ok(used) = client.handle_input(now, chunk) {
                prop_assert_eq!(used, chunk.len());
            }
        }
        if close && server.handle_remote_close(now).is_ok() {
            let requested = server.requested().unwrap_or(0);
            let mut sent = 0u64;
            let mut out = [0u8; 4096];
            for _ in 0..4 {
                sent += server.poll_transmit(now, &mut out) as u64;
            }
            prop_assert!(sent <= requested && requested <= max_download);
        }
        let _ = client.handle_remote_close(now);
        let _ = client.handle_timeout(Instant::MAX);
    }

    #[test]
    fn any_chunking_transfers_exactly(
        upload in 0u64..5000,
        download in 0u64..5000,
        chunks in proptest::collection::vec(1usize..3000, 1..5),
        out_len in 1usize..3000,
        count_zeros: bool,
    ) {
        let params = PerfParams { upload, download };
        let p = run_with(params, &chunks, out_len, count_zeros);
        assert_exact(&p, params);
    }
}
