//! `Native` against `Portable`, primitive by primitive, in one run (so the ratios compare on
//! the same machine under the same load):
//!
//! - `aead/{native,portable}`: ChaCha20-Poly1305 sealing then opening one maximum Noise frame
//!   body (65519 bytes) in place; throughput counts the frame once.
//! - `ed25519_sign`, `ed25519_verify`: a 64-byte message, keys from a seed (as the seam passes
//!   them).
//! - `x25519`: one shared secret from a static secret and a public key.
//! - `sha256 ... B/{ring,sha2}` over 64 B and 64 KiB, and `hkdf_sha256 2 blocks/{ring,hkdf+sha2}`
//!   (Noise's HKDF): how `Native`'s SHA-256 and HKDF were chosen.
//!
//! Run with `cargo bench -p rhizo-native-crypto --bench providers` (about a minute); results
//! and the machine are in BENCHMARKS.md ("Crypto providers").

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use rhizo_core::crypto::{AeadCipher, CryptoProvider, Portable};
use rhizo_core::noise::MAX_PLAINTEXT_LEN;
use rhizo_native_crypto::Native;
use std::hint::black_box;
use std::time::Duration;

/// A couple of seconds per bench: the whole file runs in about a minute.
fn short(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
}

fn aead_one<P: CryptoProvider>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let cipher = P::cipher(&[7; 32]);
    let mut buf = vec![0x5au8; MAX_PLAINTEXT_LEN];
    let mut nonce = 0u64;
    g.bench_function(name, |b| {
        b.iter(|| {
            nonce += 1;
            let tag = cipher.seal(nonce, &[], &mut buf);
            cipher
                .open(nonce, &[], black_box(&mut buf), &tag)
                .expect("sealed just above");
        })
    });
}

fn aead(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("aead seal+open {MAX_PLAINTEXT_LEN} B"));
    short(&mut g);
    g.throughput(Throughput::Bytes(MAX_PLAINTEXT_LEN as u64));
    aead_one::<Native>(&mut g, "native");
    aead_one::<Portable>(&mut g, "portable");
    g.finish();
}

fn ed25519_sign<P: CryptoProvider>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let msg = [0x42u8; 64];
    g.bench_function(name, |b| {
        b.iter(|| P::ed25519_sign(black_box(&[9; 32]), &msg))
    });
}

fn ed25519_verify<P: CryptoProvider>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let msg = [0x42u8; 64];
    let public = P::ed25519_public(&[9; 32]);
    let sig = P::ed25519_sign(&[9; 32], &msg);
    g.bench_function(name, |b| {
        b.iter(|| assert!(P::ed25519_verify(black_box(&public), &msg, &sig)))
    });
}

fn x25519<P: CryptoProvider>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let public = P::x25519_public(&[3; 32]);
    g.bench_function(name, |b| {
        b.iter(|| P::x25519(black_box(&[5; 32]), &public).expect("not low order"))
    });
}

fn asymmetric(c: &mut Criterion) {
    let mut g = c.benchmark_group("ed25519_sign");
    short(&mut g);
    ed25519_sign::<Native>(&mut g, "native");
    ed25519_sign::<Portable>(&mut g, "portable");
    g.finish();
    let mut g = c.benchmark_group("ed25519_verify");
    short(&mut g);
    ed25519_verify::<Native>(&mut g, "native");
    ed25519_verify::<Portable>(&mut g, "portable");
    g.finish();
    let mut g = c.benchmark_group("x25519");
    short(&mut g);
    x25519::<Native>(&mut g, "native");
    x25519::<Portable>(&mut g, "portable");
    g.finish();
}

fn sha256(c: &mut Criterion) {
    use sha2::Digest as _;
    for len in [64usize, 65536] {
        let mut g = c.benchmark_group(format!("sha256 {len} B"));
        short(&mut g);
        g.throughput(Throughput::Bytes(len as u64));
        let data = vec![0x5au8; len];
        g.bench_function("ring", |b| {
            b.iter(|| ring::digest::digest(&ring::digest::SHA256, black_box(&data)))
        });
        g.bench_function("sha2", |b| {
            b.iter(|| sha2::Sha256::digest(black_box(&data)))
        });
        g.finish();
    }
    // Noise's HKDF: 32-byte salt, 32-byte input, two output blocks.
    let mut g = c.benchmark_group("hkdf_sha256 2 blocks");
    short(&mut g);
    let salt = [1u8; 32];
    let ikm = [2u8; 32];
    g.bench_function("ring", |b| {
        b.iter(|| {
            let mut out = [0u8; 64];
            ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, black_box(&salt))
                .extract(&ikm)
                .expand(&[], OkmLen(64))
                .and_then(|okm| okm.fill(&mut out))
                .expect("64 bytes");
            out
        })
    });
    g.bench_function("hkdf+sha2", |b| {
        b.iter(|| {
            let mut out = [[0u8; 32]; 2];
            Portable::hkdf_sha256(black_box(&salt), &ikm, &mut out);
            out
        })
    });
    g.finish();
}

/// The output length of `ring::hkdf`.
struct OkmLen(usize);

impl ring::hkdf::KeyType for OkmLen {
    fn len(&self) -> usize {
        self.0
    }
}

criterion_group!(benches, aead, asymmetric, sha256);
criterion_main!(benches);
