//! A rhizo node on the mps2-an386 board (Cortex-M4F, LAN9118 Ethernet), as QEMU emulates it.
//!
//! At boot: UART0 logging, SysTick time, the LAN9118, embassy-net on a static IPv4 address
//! (10.0.2.15/24 via 10.0.2.2, QEMU's user network), then [`LISTENERS`] tasks accepting libp2p
//! connections on TCP port [`PORT`] (multistream, Noise, yamux; ping, identify and perf). When
//! they listen it prints `listening on /ip4/10.0.2.15/tcp/4001/p2p/<PeerId>`.
//!
//! Bitswap ([`bitswap`]): the node serves the UnixFS file built into the image, and at boot the
//! last connection slot dials the host peer (`host=<multiaddr>` in the semihosting arguments,
//! else `RHIZO_FIRMWARE_HOST` at build time), fetches one block from it (`fetch=<CID>`, else
//! `RHIZO_FIRMWARE_FETCH_CID`), prints `fetched <CID> (<n> bytes)`, closes that connection and
//! listens like the others.
//!
//! No heap: every buffer is a static (the executor's task storage, `StaticCell`s).
//!
//! # Q&A
//! *Where does randomness come from?* The board has no RNG. Noise ephemeral keys and TCP
//! sequence numbers come from SHA-256 over the identity seed, a counter and the SysTick
//! counter's value at the time of use. A real board must feed its hardware RNG in
//! [`random32`] instead.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

mod bitswap;
mod board;
mod lan9118;
mod log;
mod target;
mod time;

mod seed {
    include!(concat!(env!("OUT_DIR"), "/seed.rs"));
}

use core::cell::{Cell, RefCell};
use critical_section::Mutex as CsMutex;
use embassy_net::tcp::TcpSocket;
use embassy_net::{IpAddress, Ipv4Address, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_sync::blocking_mutex::Mutex;
use embassy_time::{Duration, Timer};
use lan9118::Lan9118;
use rhizo_core::connection::{
    Connection, ConnectionConfig, ConnectionEvent, FixedConnection, Role,
};
use rhizo_core::crypto::{Portable, sha256};
use rhizo_core::identify::IdentifyBuilder;
use rhizo_core::identity::{Keypair, PeerId};
use rhizo_core::noise::session::NoiseIdentity;
use rhizo_core::time::Instant;
use rhizo_embassy::{Buffers, EventHandler};
use static_cell::{ConstStaticCell, StaticCell};

/// The TCP port the node listens on.
const PORT: u16 = 4001;
/// The node's address on QEMU's user network.
const ADDRESS: [u8; 4] = [10, 0, 2, 15];
/// How many connections the node holds at once (one listener task each).
const LISTENERS: usize = 2;
/// The agent version sent in identify.
const AGENT_VERSION: &str = concat!(
    "rhizo-firmware/",
    env!("CARGO_PKG_VERSION"),
    " (mps2-an386)"
);
/// The protocol version sent in identify.
const PROTOCOL_VERSION: &str = "ipfs/0.1.0";
/// The protocols identify lists: the core's built-in handlers and Bitswap.
const PROTOCOLS: &[&str] = &[
    rhizo_core::ping::PROTOCOL_ID,
    rhizo_core::identify::PROTOCOL_ID,
    rhizo_core::identify::PUSH_PROTOCOL_ID,
    rhizo_core::perf::PROTOCOL_ID,
    rhizo_core::bitswap::PROTOCOL_1_2_0,
    rhizo_core::bitswap::PROTOCOL_1_1_0,
    rhizo_core::bitswap::PROTOCOL_1_0_0,
    rhizo_core::bitswap::PROTOCOL_LEGACY,
];

/// A connection's memory: 3 yamux streams with 512-byte rings each way, and the 64 KiB frame
/// buffer every Noise connection needs.
type Storage = FixedConnection<3, 512, 512>;
type NodeConnection = Connection<Portable, Storage, &'static NoiseIdentity>;
/// TCP socket buffers per connection.
const SOCKET_RX: usize = 1024;
const SOCKET_TX: usize = 1024;
/// The driver's read chunk and transmit buffers per connection. The socket is read straight
/// into the connection's frame buffer (a fixed-storage connection always offers one), so the
/// read chunk is only the driver's fallback.
const DRIVER_RX: usize = 64;
const DRIVER_TX: usize = 1024;

static IDENTITY: StaticCell<NoiseIdentity> = StaticCell::new();
/// The connections, one per listener, built once at boot and reset for each accepted socket
/// (never moved: the 64 KiB frame buffer stays in place).
static CONNECTIONS: [StaticCell<NodeConnection>; LISTENERS] =
    [const { StaticCell::new() }; LISTENERS];
static RESOURCES: StaticCell<StackResources<{ LISTENERS + 1 }>> = StaticCell::new();
static BITSWAP: StaticCell<bitswap::Shared> = StaticCell::new();
static BITSWAP_RX: ConstStaticCell<[u8; bitswap::MAX_MESSAGE + 2]> =
    ConstStaticCell::new([0; bitswap::MAX_MESSAGE + 2]);
static BITSWAP_TX: ConstStaticCell<[u8; bitswap::MAX_MESSAGE + 2]> =
    ConstStaticCell::new([0; bitswap::MAX_MESSAGE + 2]);
static BITSWAP_SLOT: ConstStaticCell<[u8; bitswap::SLOT_LEN]> =
    ConstStaticCell::new([0; bitswap::SLOT_LEN]);
static EXECUTOR: StaticCell<embassy_executor::raw::Executor> = StaticCell::new();
static RANDOM_COUNTER: CsMutex<Cell<u64>> = CsMutex::new(Cell::new(0));

/// 32 bytes that differ on every call (see the crate's Q&A on randomness).
fn random32() -> [u8; 32] {
    let counter = critical_section::with(|cs| {
        let c = RANDOM_COUNTER.borrow(cs);
        c.set(c.get() + 1);
        c.get()
    });
    let jitter = cortex_m::peripheral::SYST::get_current();
    let ticks = embassy_time::Instant::now().as_ticks();
    sha256::<Portable>(&[
        b"rhizo-firmware random",
        &seed::IDENTITY_SEED,
        &counter.to_le_bytes(),
        &jitter.to_le_bytes(),
        &ticks.to_le_bytes(),
    ])
}

/// A binary `/ip4/a.b.c.d/tcp/port` multiaddr.
fn ip4_tcp_multiaddr(ip: [u8; 4], port: u16) -> [u8; 8] {
    let p = port.to_be_bytes();
    [0x04, ip[0], ip[1], ip[2], ip[3], 0x06, p[0], p[1]]
}

#[cortex_m_rt::entry]
fn main() -> ! {
    board::paint_stack();
    log::init();
    log!("rhizo firmware {} booting", env!("CARGO_PKG_VERSION"));
    let peripherals = cortex_m::Peripherals::take().expect("taken once, here, at boot");
    time::init(peripherals.SYST);

    let eth = match Lan9118::init() {
        Ok(eth) => eth,
        Err(e) => {
            log!("no Ethernet controller: {:?}", e);
            halt();
        }
    };
    let mac = eth.mac();
    log!(
        "LAN9118 id {:08x}, MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        eth.id_rev(),
        mac[0],
        mac[1],
        mac[2],
        mac[3],
        mac[4],
        mac[5]
    );
    board::unmask_lan9118_irq();

    let started = embassy_time::Instant::now();
    let keypair = Keypair::from_seed(seed::IDENTITY_SEED);
    let static_secret = sha256::<Portable>(&[b"rhizo-firmware noise static", &seed::IDENTITY_SEED]);
    let identity: &'static NoiseIdentity =
        IDENTITY.init(NoiseIdentity::ed25519::<Portable>(&keypair, static_secret));
    log!("identity ready in {} ms", started.elapsed().as_millis());
    log!(
        "connection state: {} bytes",
        core::mem::size_of::<NodeConnection>()
    );

    let config = embassy_net::Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(
            Ipv4Address::new(ADDRESS[0], ADDRESS[1], ADDRESS[2], ADDRESS[3]),
            24,
        ),
        gateway: Some(Ipv4Address::new(10, 0, 2, 2)),
        dns_servers: heapless::Vec::new(),
    });
    let r = random32();
    let net_seed = u64::from_le_bytes([r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]]);
    let (stack, runner) =
        embassy_net::new(eth, config, RESOURCES.init(StackResources::new()), net_seed);

    let node = BITSWAP.init_with(|| {
        Mutex::new(RefCell::new(bitswap::Node::new(
            BITSWAP_RX.take(),
            BITSWAP_TX.take(),
            BITSWAP_SLOT.take(),
        )))
    });
    let (engine_bytes, buffer_bytes) = bitswap::size_report();
    log!(
        "bitswap: {} ({} bytes, {} blocks) built in; engine {engine_bytes} bytes, buffers {buffer_bytes} bytes",
        bitswap::FILE_NAME,
        bitswap::FILE_SIZE,
        bitswap::block_count(),
    );
    log!("bitswap: serving {}", bitswap::FILE_ROOT);
    let target = target::from_semihosting();
    if let Some(t) = &target {
        node.lock(|n| n.borrow_mut().fetch(rhizo_embassy::now(), t));
    }

    let executor = EXECUTOR.init(embassy_executor::raw::Executor::new(core::ptr::null_mut()));
    let spawner = executor.spawner();
    spawner.spawn(net_task(runner).expect("one network task"));
    for (index, cell) in CONNECTIONS.iter().enumerate() {
        // Idle until the first accepted socket resets it.
        let conn =
            cell.init_with(|| Connection::new_closed(connection_config(Role::Listener, None)));
        // The last slot dials the host first.
        let dial = if index == LISTENERS - 1 {
            target.clone()
        } else {
            None
        };
        spawner.spawn(
            listener(stack, index, identity, conn, node, dial).expect("pool_size is LISTENERS"),
        );
    }
    spawner.spawn(announce(stack, identity).expect("one announce task"));
    board::run_executor(executor)
}

fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Lan9118>) -> ! {
    runner.run().await
}

/// Prints the listening line once the address is up and the listeners have started.
#[embassy_executor::task]
async fn announce(stack: Stack<'static>, identity: &'static NoiseIdentity) {
    stack.wait_config_up().await;
    // The listener tasks put their sockets in LISTEN on their first poll.
    Timer::after(Duration::from_millis(10)).await;
    let mut buf = [0u8; 64];
    let peer = identity.peer_id().to_base58(&mut buf).unwrap_or("?");
    let [a, b, c, d] = ADDRESS;
    log!(
        "stack high-water mark at boot: {} bytes",
        board::stack_used()
    );
    log!("listening on /ip4/{a}.{b}.{c}.{d}/tcp/{PORT}/p2p/{peer}");
}

/// How the node's connections behave: they serve ping, identify, perf and Bitswap; a dialer
/// checks the remote's PeerId.
fn connection_config(role: Role, expected_peer: Option<PeerId>) -> ConnectionConfig {
    let mut config = ConnectionConfig::new(role);
    config.ping.interval = None;
    config.app_protocols = bitswap::PROTOCOLS;
    config.expected_peer = expected_peer;
    config
}

/// Dials `dial` first (when given) and runs that connection until its fetch ends, then accepts
/// connections on [`PORT`] one after another and runs each to its end, on `conn`.
#[embassy_executor::task(pool_size = LISTENERS)]
async fn listener(
    stack: Stack<'static>,
    index: usize,
    identity: &'static NoiseIdentity,
    conn: &'static mut NodeConnection,
    node: &'static bitswap::Shared,
    mut dial: Option<target::FetchTarget>,
) {
    let mut socket_rx = [0u8; SOCKET_RX];
    let mut socket_tx = [0u8; SOCKET_TX];
    let mut rx = [0u8; DRIVER_RX];
    let mut tx = [0u8; DRIVER_TX];
    loop {
        let mut socket = TcpSocket::new(stack, &mut socket_rx, &mut socket_tx);
        socket.set_timeout(Some(Duration::from_secs(120)));
        let target = dial.take();
        let config = match &target {
            Some(t) => {
                stack.wait_config_up().await;
                let [a, b, c, d] = t.ip;
                let endpoint = (Ipv4Address::new(a, b, c, d), t.port);
                // Without a route to the host (no guestfwd in QEMU) the SYN goes unanswered:
                // give up after a while and listen instead.
                match embassy_time::with_timeout(Duration::from_secs(5), socket.connect(endpoint))
                    .await
                {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        log!("[{index}] cannot dial {a}.{b}.{c}.{d}:{}: {e:?}", t.port);
                        continue;
                    }
                    Err(_) => {
                        log!(
                            "[{index}] cannot dial {a}.{b}.{c}.{d}:{}: timed out",
                            t.port
                        );
                        socket.abort();
                        continue;
                    }
                }
                log!("[{index}] dialed {a}.{b}.{c}.{d}:{}", t.port);
                connection_config(Role::Dialer, Some(t.peer))
            }
            None => {
                if socket.accept(PORT).await.is_err() {
                    continue;
                }
                connection_config(Role::Listener, None)
            }
        };
        let remote = socket.remote_endpoint();
        let now = rhizo_embassy::now();
        if let Err(e) = conn.reset(now, config, identity, random32(), random32()) {
            log!("[{index}] cannot start a connection: {e}");
            socket.abort();
            continue;
        }
        if target.is_none()
            && let Some(ep) = remote
        {
            log!("[{index}] accepted {ep}");
        }
        let mut handler = Handler {
            identity,
            observed: remote.and_then(|ep| match ep.addr {
                IpAddress::Ipv4(ip) => Some(ip4_tcp_multiaddr(ip.octets(), ep.port)),
                #[allow(unreachable_patterns)]
                _ => None,
            }),
            established_at: None,
            started: rhizo_embassy::now(),
            bitswap: bitswap::PeerLink::new(node, index, target.is_some()),
            slot: index,
        };
        let buffers = Buffers {
            rx: &mut rx,
            tx: &mut tx,
        };
        match rhizo_embassy::drive(&mut socket, conn, buffers, &mut handler).await {
            Ok(()) => log!("[{index}] connection closed"),
            Err(e) => log!("[{index}] connection ended: {e}"),
        }
        // The engine forgets the peer even when the connection ended without a `Closed` event.
        handler
            .bitswap
            .on_event(conn, rhizo_embassy::now(), ConnectionEvent::Closed);
        log!("stack high-water mark: {} bytes", board::stack_used());
    }
}

/// The application's part of a connection: answer identify, log the handshake time.
struct Handler {
    identity: &'static NoiseIdentity,
    observed: Option<[u8; 8]>,
    established_at: Option<Instant>,
    started: Instant,
    bitswap: bitswap::PeerLink,
    /// The connection's slot (its Bitswap peer key and wake signal).
    slot: usize,
}

impl EventHandler<Portable, Storage, &'static NoiseIdentity> for Handler {
    fn on_event(&mut self, conn: &mut NodeConnection, now: Instant, event: ConnectionEvent) {
        if self.bitswap.on_event(conn, now, event)
            && !matches!(event, ConnectionEvent::Established { .. })
        {
            return;
        }
        match event {
            ConnectionEvent::Established { .. } => {
                self.established_at = Some(now);
                let us = now.saturating_duration_since(self.started).as_micros();
                log!(
                    "connection established (handshake {}.{:03} ms)",
                    us / 1000,
                    us % 1000
                );
            }
            ConnectionEvent::IdentifyRequested { stream } => {
                let listen = ip4_tcp_multiaddr(ADDRESS, PORT);
                let message = IdentifyBuilder {
                    protocol_version: Some(PROTOCOL_VERSION),
                    agent_version: Some(AGENT_VERSION),
                    public_key: Some(self.identity.identity_key()),
                    listen_addrs: &[&listen],
                    observed_addr: self.observed.as_ref().map(|a| &a[..]),
                    protocols: PROTOCOLS,
                    signed_peer_record: None,
                };
                // A failed answer only fails this one exchange.
                let _ = conn.respond_identify(now, stream, &message);
            }
            _ => {}
        }
    }

    fn poll(&mut self, conn: &mut NodeConnection, now: Instant) -> bool {
        self.bitswap.poll(conn, now)
    }

    fn wake(&mut self) -> impl core::future::Future<Output = ()> {
        let deadline = self
            .bitswap
            .deadline()
            .map_or(embassy_time::Instant::MAX, |t| {
                embassy_time::Instant::from_micros(t.as_micros())
            });
        let signal = &bitswap::WAKE[self.slot];
        async move {
            embassy_futures::select::select(signal.wait(), Timer::at(deadline)).await;
        }
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    log!("panic: {info}");
    halt()
}
