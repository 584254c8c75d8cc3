//! A yamux session fed arbitrary bytes (in arbitrary pieces): never panics, never consumes
//! more than offered, writes only well-formed frames that fit `out`, and its memory stays
//! within the configured (heap) or built-in (fixed) bounds.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhizo_core::time::{Duration, Instant};
use rhizo_core::yamux::{
    FixedStorage, HEADER_LEN, Header, HeapStorage, Role, YamuxConfig, YamuxEvent, YamuxSession,
    YamuxStorage,
};

const MAX_STREAMS: usize = 6;
const SESSION_BUFFER: usize = 40 * 1024;

fn run<S: YamuxStorage>(role: Role, data: &[u8], piece: usize, out_len: usize) {
    let config = YamuxConfig {
        max_streams: MAX_STREAMS,
        max_pending_inbound: 3,
        max_stream_rx_buffer: 16 * 1024,
        max_stream_tx_buffer: 4 * 1024,
        max_session_buffer: SESSION_BUFFER,
        keep_alive_interval: Some(Duration::from_secs(1)),
        ping_timeout: Duration::from_secs(1),
        ..YamuxConfig::default()
    };
    let mut session: YamuxSession<S> = YamuxSession::new(role, config);
    let mut now = Instant::from_secs(1);
    let mut out = vec![0u8; out_len];
    let mut read_buf = [0u8; 700];
    let mut offset = 0;
    let mut stuck = 0;
    while offset < data.len() && stuck < 3 {
        let end = data.len().min(offset + piece);
        let Ok(used) = session.handle_input(now, &data[offset..end]) else {
            break;
        };
        assert!(used <= end - offset);
        offset += used;
        stuck = if used == 0 { stuck + 1 } else { 0 };
        while let Some(n) = session.poll_transmit(now, &mut out) {
            assert!(n >= HEADER_LEN && n <= out.len());
            // Whole frames, each with a valid header and its body.
            let mut at = 0;
            while at < n {
                let header: [u8; HEADER_LEN] = out[at..at + HEADER_LEN].try_into().unwrap();
                let header = Header::decode(&header).expect("we write valid headers");
                at += HEADER_LEN;
                if header.frame_type == rhizo_core::yamux::FrameType::Data {
                    at += header.length as usize;
                }
            }
            assert_eq!(at, n);
        }
        while let Some(event) = session.poll_event() {
            match event {
                YamuxEvent::InboundStream(id) => {
                    if id.get() % 3 == 0 {
                        let _ = session.reset(id);
                    } else {
                        let _ = session.accept(id);
                        let _ = session.write(id, &read_buf[..100]);
                    }
                }
                YamuxEvent::Readable(id) if id.get() % 2 == 0 => {
                    let _ = session.read(id, &mut read_buf);
                }
                _ => {}
            }
        }
        assert!(session.buffered_bytes() <= SESSION_BUFFER);
        assert!(session.stream_count() <= MAX_STREAMS);
        now += Duration::from_millis(300);
        if session.poll_timeout().is_some_and(|t| t <= now) && session.handle_timeout(now).is_err()
        {
            break;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let role = if data[0] & 1 == 0 {
        Role::Dialer
    } else {
        Role::Listener
    };
    let piece = usize::from(data[1]) + 1;
    let out_len = usize::from(data[2]) * 4 + HEADER_LEN;
    let rest = &data[3..];
    if data[0] & 2 == 0 {
        run::<HeapStorage>(role, rest, piece, out_len);
    } else {
        run::<FixedStorage<4, 512, 256>>(role, rest, piece, out_len);
    }
});
