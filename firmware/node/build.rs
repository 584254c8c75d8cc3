//! Puts `memory.x` and an empty `device.x` (the firmware writes its own interrupt table) on the
//! linker's path, turns the identity seed into `seed.rs`, the built-in file into `blocks.rs`
//! and the Bitswap defaults into `host.rs`.
//!
//! - `RHIZO_FIRMWARE_SEED`: 64 hex digits, the Ed25519 seed of the node's identity. Without it,
//!   a fixed development seed is used (every such image has the same PeerId: fine in QEMU, not
//!   on a fleet of real boards).
//! - `assets/hello.txt` is imported into UnixFS blocks with kubo's settings (CIDv0, dag-pb
//!   leaves, balanced layout, 174 links) but [`CHUNK_SIZE`]-byte chunks, so the small file spans
//!   several blocks; `blocks.rs` holds their (CID, bytes) table, which stays in flash.
//! - `RHIZO_FIRMWARE_HOST`: the host peer dialed at boot, `/ip4/a.b.c.d/tcp/port/p2p/<PeerId>`
//!   (default: 10.0.2.100:4002, QEMU's guestfwd address, with the PeerId of the Ed25519 seed
//!   `[0x42; 32]`). `RHIZO_FIRMWARE_FETCH_CID`: the block fetched from it (default: the raw
//!   block of `hello from the host\n`). Both are overridden at run time by the semihosting
//!   arguments `host=...` and `fetch=...`.

use rhizo_core::block::Block;
use rhizo_core::cid::{Cid, codec};
use rhizo_core::identity::{Keypair, PeerId};
use rhizo_core::multiaddr::Multiaddr;
use rhizo_core::unixfs::{FileImporter, ImporterConfig};
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

const DEFAULT_SEED: &str = "72686977f6f2d6669726d776172652d646576656c6f706d656e742d736565642";
/// The built-in file's chunk size: each leaf block is this plus 14 bytes.
const CHUNK_SIZE: usize = 1024;
const ASSET: &str = "assets/hello.txt";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("memory.x", out.join("memory.x")).expect("memory.x is beside build.rs");
    fs::write(out.join("device.x"), "/* interrupts: see src/board.rs */\n")
        .expect("OUT_DIR is writable");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={ASSET}");
    println!("cargo:rerun-if-env-changed=RHIZO_FIRMWARE_SEED");
    println!("cargo:rerun-if-env-changed=RHIZO_FIRMWARE_HOST");
    println!("cargo:rerun-if-env-changed=RHIZO_FIRMWARE_FETCH_CID");

    let hex = env::var("RHIZO_FIRMWARE_SEED").unwrap_or_else(|_| DEFAULT_SEED.to_owned());
    let hex = hex.trim();
    assert!(
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "RHIZO_FIRMWARE_SEED must be 64 hex digits (32 bytes)"
    );
    let bytes: Vec<String> = (0..32)
        .map(|i| format!("0x{}", &hex[2 * i..2 * i + 2]))
        .collect();
    fs::write(
        out.join("seed.rs"),
        format!(
            "/// The Ed25519 seed of the node's identity (build.rs, RHIZO_FIRMWARE_SEED).\npub const IDENTITY_SEED: [u8; 32] = [{}];\n",
            bytes.join(", ")
        ),
    )
    .expect("OUT_DIR is writable");

    fs::write(out.join("blocks.rs"), import_asset()).expect("OUT_DIR is writable");
    fs::write(out.join("host.rs"), host_defaults()).expect("OUT_DIR is writable");
}

fn byte_list(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 5);
    for b in bytes {
        let _ = write!(s, "{b},");
    }
    s
}

/// `blocks.rs`: the built-in file's blocks.
fn import_asset() -> String {
    let file = fs::read(ASSET).expect("the asset file is beside build.rs");
    let config = ImporterConfig {
        chunk_size: CHUNK_SIZE,
        ..ImporterConfig::kubo()
    };
    let mut importer = FileImporter::new(config).expect("1 KiB chunks are in range");
    let mut blocks = Vec::new();
    let mut sink = |b| {
        blocks.push(b);
        Ok::<(), ()>(())
    };
    importer
        .write_all(&file, &mut sink)
        .expect("the sink never fails");
    let root = importer
        .finish_into(&mut sink)
        .expect("the sink never fails");
    let largest = blocks.iter().map(|b| b.data.len()).max().unwrap_or(0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "/// The built-in file (`{ASSET}`), imported by build.rs: kubo's settings, {CHUNK_SIZE}-byte chunks."
    );
    let _ = writeln!(s, "pub const FILE_NAME: &str = {ASSET:?};");
    let _ = writeln!(s, "/// Its root CID, `{}`.", root.cid);
    let _ = writeln!(s, "pub const FILE_ROOT: &str = \"{}\";", root.cid);
    let _ = writeln!(s, "/// Its size in bytes.");
    let _ = writeln!(s, "pub const FILE_SIZE: u64 = {};", root.file_size);
    let _ = writeln!(s, "/// Its largest block, in bytes.");
    let _ = writeln!(s, "pub const LARGEST_BLOCK: usize = {largest};");
    let _ = writeln!(
        s,
        "/// Its blocks: (CID bytes, block bytes), leaves first, the root last."
    );
    let _ = writeln!(
        s,
        "pub static BLOCKS: [(&[u8], &[u8]); {}] = [",
        blocks.len()
    );
    for b in &blocks {
        let _ = writeln!(
            s,
            "    (&[{}], &[{}]),",
            byte_list(&b.cid.to_bytes()),
            byte_list(&b.data)
        );
    }
    let _ = writeln!(s, "];");
    s
}

/// `host.rs`: the host dialed at boot and the block fetched from it, unless the semihosting
/// arguments say otherwise.
fn host_defaults() -> String {
    let host = env::var("RHIZO_FIRMWARE_HOST").unwrap_or_else(|_| {
        let peer = PeerId::from_public_key(&Keypair::from_seed([0x42; 32]).public());
        format!("/ip4/10.0.2.100/tcp/4002/p2p/{}", peer.to_base58_string())
    });
    let addr: Multiaddr = host
        .parse()
        .unwrap_or_else(|e| panic!("RHIZO_FIRMWARE_HOST {host:?} is not a multiaddr: {e}"));
    assert!(
        addr.peer_id_multihash().is_some(),
        "RHIZO_FIRMWARE_HOST {host:?} needs a /p2p/<PeerId> part"
    );
    let cid = env::var("RHIZO_FIRMWARE_FETCH_CID").unwrap_or_else(|_| {
        let block = Block::new_v1(codec::RAW, b"hello from the host\n")
            .expect("a small raw block is valid");
        block.cid().to_string()
    });
    let _: Cid = cid
        .parse()
        .unwrap_or_else(|e| panic!("RHIZO_FIRMWARE_FETCH_CID {cid:?} is not a CID: {e}"));
    format!(
        "/// The host dialed at boot (build.rs, RHIZO_FIRMWARE_HOST).\npub const HOST: &str = {host:?};\n\
         /// The block fetched from it (build.rs, RHIZO_FIRMWARE_FETCH_CID).\npub const FETCH_CID: &str = {cid:?};\n"
    )
}
