//! Perf client and server driven by arbitrary inputs, chunkings and clock moves: never a
//! panic, every input consumed whole, the server never sends more than was asked for nor more
//! than its limit, only after the upload ended, and a finished client counted exactly.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rhizo_core::perf::{
    PerfClient, PerfClientConfig, PerfEvent, PerfParams, PerfServer, PerfServerConfig,
};
use rhizo_core::stream::StreamHandler;
use rhizo_core::time::{Duration, Instant};

#[derive(Arbitrary, Debug)]
enum Op {
    Input(Vec<u8>),
    Transmit(u16),
    Advance(u16),
    RemoteClose,
}

fuzz_target!(|input: (u16, u16, u16, Vec<Op>)| {
    let (upload, download, max, ops) = input;
    let params = PerfParams {
        upload: u64::from(upload),
        download: u64::from(download),
    };
    let max_download = u64::from(max);
    let mut now = Instant::ZERO;
    let mut client = PerfClient::new(now, params, PerfClientConfig::default());
    let mut server = PerfServer::new(now, PerfServerConfig { max_download });
    let (mut c_ok, mut s_ok) = (true, true);
    let (mut c_closed, mut s_closed) = (false, false);
    let (mut c_sent, mut s_sent) = (0u64, 0u64);
    for op in ops {
        match op {
            Op::Input(bytes) => {
                if c_ok && !c_closed {
                    match client.handle_input(now, &bytes) {
                        Ok(used) => assert_eq!(used, bytes.len()),
                        Err(_) => c_ok = false,
                    }
                }
                if s_ok && !s_closed {
                    match server.handle_input(now, &bytes) {
                        Ok(used) => assert_eq!(used, bytes.len()),
                        Err(_) => s_ok = false,
                    }
                }
            }
            Op::Transmit(len) => {
                let mut out = vec![1u8; usize::from(len)];
                let n = client.poll_transmit(now, &mut out);
                c_sent += n as u64;
                out.fill(1);
                let n = server.poll_transmit(now, &mut out);
                assert!(out[..n].iter().all(|b| *b == 0));
                if n > 0 {
                    assert!(s_ok && s_closed, "sent while the upload may still arrive");
                }
                s_sent += n as u64;
            }
            Op::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms));
                if c_ok && client.poll_timeout().is_some_and(|t| t <= now) {
                    c_ok &= client.handle_timeout(now).is_ok();
                }
            }
            Op::RemoteClose => {
                if c_ok && !c_closed {
                    c_closed = true;
                    c_ok &= client.handle_remote_close(now).is_ok();
                }
                if s_ok && !s_closed {
                    s_closed = true;
                    s_ok &= server.handle_remote_close(now).is_ok();
                }
            }
        }
        assert!(c_sent <= 8 + params.upload);
        assert!(s_sent <= server.requested().unwrap_or(0));
        assert!(s_sent <= max_download);
        while let Some(event) = client.poll_event() {
            if let PerfEvent::Done(result) = event {
                assert_eq!(result.downloaded, params.download);
                assert_eq!(result.uploaded, params.upload);
                assert_eq!(c_sent, 8 + params.upload);
            }
        }
        while let Some(stats) = server.poll_event() {
            assert_eq!(stats.sent, s_sent);
        }
    }
});
