//! Ping dialer and listener driven by arbitrary inputs, chunkings and API calls: never a
//! panic, never more consumed than given, the listener's output is exactly a prefix of what it
//! consumed (an echo, never more), and no round-trip time exceeds the time elapsed.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rhizo_core::ping::{PingDialer, PingDialerConfig, PingEvent, PingListener, PingListenerConfig};
use rhizo_core::stream::StreamHandler;
use rhizo_core::time::{Duration, Instant};

#[derive(Arbitrary, Debug)]
enum Op {
    /// Bytes for the dialer (its echoes) and the listener (its pings).
    Input(Vec<u8>),
    /// The dialer echoes back what it sent so far (a well-behaved listener).
    EchoBack,
    Transmit(u8),
    Ping([u8; 32]),
    Advance(u16),
    RemoteClose,
    Close,
}

fuzz_target!(|input: (bool, Vec<Op>)| {
    let (auto, ops) = input;
    let config = PingDialerConfig {
        timeout: Duration::from_secs(20),
        interval: auto.then_some(Duration::from_secs(15)),
    };
    let start = Instant::ZERO;
    let mut now = start;
    let mut dialer = PingDialer::new(config, [9; 32]);
    let mut listener = PingListener::new(now, PingListenerConfig::default());
    let (mut d_ok, mut l_ok) = (true, true);
    let mut d_sent: Vec<u8> = Vec::new();
    let mut l_consumed: Vec<u8> = Vec::new();
    let mut l_sent: Vec<u8> = Vec::new();
    let (mut d_closed, mut l_closed) = (false, false);
    for op in ops {
        match op {
            Op::Input(bytes) => {
                if d_ok && !d_closed {
                    match dialer.handle_input(now, &bytes) {
                        Ok(used) => assert!(used <= bytes.len()),
                        Err(_) => d_ok = false,
                    }
                }
                if l_ok && !l_closed {
                    match listener.handle_input(now, &bytes) {
                        Ok(used) => {
                            assert!(used <= bytes.len());
                            l_consumed.extend_from_slice(&bytes[..used]);
                        }
                        Err(_) => l_ok = false,
                    }
                }
            }
            Op::EchoBack => {
                if d_ok && !d_closed {
                    let echo = std::mem::take(&mut d_sent);
                    match dialer.handle_input(now, &echo) {
                        Ok(used) => assert!(used <= echo.len()),
                        Err(_) => d_ok = false,
                    }
                }
            }
            Op::Transmit(len) => {
                let mut out = vec![0u8; usize::from(len)];
                let n = dialer.poll_transmit(now, &mut out);
                assert!(n <= out.len());
                d_sent.extend_from_slice(&out[..n]);
                let n = listener.poll_transmit(now, &mut out);
                assert!(n <= out.len());
                l_sent.extend_from_slice(&out[..n]);
            }
            Op::Ping(payload) => {
                let _ = dialer.ping(now, payload);
            }
            Op::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms));
                if d_ok && dialer.poll_timeout().is_some_and(|t| t <= now) {
                    d_ok &= dialer.handle_timeout(now).is_ok();
                }
                if l_ok && listener.poll_timeout().is_some_and(|t| t <= now) {
                    l_ok &= listener.handle_timeout(now).is_ok();
                }
            }
            Op::RemoteClose => {
                if d_ok && !d_closed {
                    d_closed = true;
                    d_ok &= dialer.handle_remote_close(now).is_ok();
                }
                if l_ok && !l_closed {
                    l_closed = true;
                    l_ok &= listener.handle_remote_close(now).is_ok();
                }
            }
            Op::Close => dialer.close(),
        }
        while let Some(event) = dialer.poll_event() {
            let PingEvent::Rtt(rtt) = event else {
                panic!("the dialer only reports round trips");
            };
            assert!(rtt <= now - start);
        }
        while listener.poll_event().is_some() {}
        assert!(l_sent.len() <= l_consumed.len());
        assert_eq!(l_sent[..], l_consumed[..l_sent.len()]);
    }
});
