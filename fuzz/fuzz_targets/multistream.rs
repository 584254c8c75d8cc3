//! multistream-select negotiators fed arbitrary byte chunks: never a panic, never more bytes
//! consumed than given, and the outbox always drains into a buffer of the documented size.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhizo_core::multistream::{MultistreamDialer, MultistreamListener, Outcome};

const PROTOS: [&str; 3] = ["/ipfs/ping/1.0.0", "/yamux/1.0.0", "/a"];

fuzz_target!(|input: (bool, u8, Vec<Vec<u8>>)| {
    let (lazy, n, chunks) = input;
    let protos = &PROTOS[..usize::from(n % 3) + 1];
    let mut dialer = MultistreamDialer::new(protos, lazy).expect("valid protocols");
    let mut listener = MultistreamListener::with_limits(256, 8);
    let mut out = [0u8; 300];
    let (mut d_buf, mut l_buf) = (Vec::new(), Vec::new());
    let (mut d_alive, mut l_alive) = (true, true);
    for chunk in chunks {
        d_buf.extend_from_slice(&chunk);
        l_buf.extend_from_slice(&chunk);
        while dialer
            .poll_transmit(&mut out, protos)
            .expect("fits")
            .is_some()
        {}
        while listener
            .poll_transmit(&mut out, protos)
            .expect("fits")
            .is_some()
        {}
        if d_alive && dialer.wants_input() {
            match dialer.handle_input(&d_buf, protos) {
                Ok(used) => drop(d_buf.drain(..used)),
                Err(_) => d_alive = false,
            }
        }
        if l_alive && listener.outcome().is_none() {
            match listener.handle_input(&l_buf, protos) {
                Ok(used) => drop(l_buf.drain(..used)),
                Err(_) => l_alive = false,
            }
        }
        if let Some(Outcome::Agreed { index }) = listener.outcome() {
            assert!(index < protos.len());
        }
        if let Some(Outcome::Agreed { index }) = dialer.outcome() {
            assert!(index < protos.len());
        }
    }
});
