//! Puts `memory.x` and an empty `device.x` (the firmware writes its own interrupt table) on the
//! linker's path, and turns the identity seed into `seed.rs`.
//!
//! `RHIZO_FIRMWARE_SEED`: 64 hex digits, the Ed25519 seed of the node's identity. Without it, a
//! fixed development seed is used (every such image has the same PeerId: fine in QEMU, not on a
//! fleet of real boards).

use std::env;
use std::fs;
use std::path::PathBuf;

const DEFAULT_SEED: &str = "72686977f6f2d6669726d776172652d646576656c6f706d656e742d736565642";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("memory.x", out.join("memory.x")).expect("memory.x is beside build.rs");
    fs::write(out.join("device.x"), "/* interrupts: see src/board.rs */\n")
        .expect("OUT_DIR is writable");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RHIZO_FIRMWARE_SEED");

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
}
