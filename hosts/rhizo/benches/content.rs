//! The content benchmarks of BENCHMARKS.md ("Content: add and fetch"), each a ratio against a
//! reference measured in the same run:
//!
//! - `add`: `rhizo add` (the release binary, a fresh repo, no daemon) of a seeded random file
//!   of `RHIZO_BENCH_ADD_MIB` MiB (default 1024), against the machine's SHA-256 speed (the
//!   `sha2` crate the importer uses, hashing the same bytes in 256 KiB chunks). Target: 70 %.
//! - `fetch`: a file of `RHIZO_BENCH_FETCH_MIB` MiB (default 256) fetched from one provider
//!   over loopback, `rhizo cat` through a second rhizo daemon against `@helia/unixfs` `cat` in
//!   a second helia node (`tests/js/helia-bench.mjs`). Target: 2x helia.
//!
//! `cargo bench -p rhizo --bench content [-- add|fetch]`. The fetch part needs `node` and
//! `tests/js/node_modules` (`(cd tests/js && npm ci)`). Files and repos go in a temporary
//! directory (`TMPDIR`), removed at the end; every process started is killed at the end.

use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/support/mod.rs"]
mod support;
use support::{Daemon, RHIZO};
const MIB: u64 = 1 << 20;
const CHUNK: usize = 256 * 1024;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Writes `len` seeded pseudo-random bytes (splitmix64) to `path`.
fn write_random(path: &Path, len: u64, seed: u64) {
    let mut state = seed;
    let mut file = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(path).expect("the temp file is created"),
    );
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for word in buf.chunks_exact_mut(8) {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            word.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        file.write_all(&buf[..n]).expect("the temp file is written");
        left -= n as u64;
    }
    file.flush().expect("the temp file is written");
}

/// Seconds that SHA-256 takes over the file's bytes in 256 KiB chunks (one digest per chunk,
/// as the importer makes one per leaf); reading the file (page cache) is not counted.
fn sha256_seconds(path: &Path) -> f64 {
    let mut file = std::fs::File::open(path).expect("the temp file opens");
    let mut buf = vec![0u8; CHUNK];
    let mut spent = Duration::ZERO;
    let mut acc = 0u8;
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            match file.read(&mut buf[filled..]).expect("the temp file reads") {
                0 => break,
                n => filled += n,
            }
        }
        if filled == 0 {
            break;
        }
        let start = Instant::now();
        let digest = Sha256::digest(std::hint::black_box(&buf[..filled]));
        spent += start.elapsed();
        acc ^= digest[0];
    }
    std::hint::black_box(acc);
    spent.as_secs_f64()
}

fn rhizo(repo: &Path, args: &[&str]) -> Output {
    let out = Command::new(RHIZO)
        .arg("--repo")
        .arg(repo)
        .args(args)
        .env("RHIZO_LOG", "warn")
        .output()
        .expect("the rhizo binary runs");
    assert!(
        out.status.success(),
        "rhizo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn mb_per_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / 1e6 / seconds
}

/// A row of the printed table.
struct Row {
    what: String,
    mb_s: f64,
    note: String,
}

fn print_table(title: &str, rows: &[Row]) {
    println!("\n{title}");
    println!("| what | MB/s | note |");
    println!("|---|---:|---|");
    for row in rows {
        println!("| {} | {:.1} | {} |", row.what, row.mb_s, row.note);
    }
}

fn bench_add(dir: &Path) {
    let len = env_u64("RHIZO_BENCH_ADD_MIB", 1024) * MIB;
    let file = dir.join("add.bin");
    write_random(&file, len, 1);
    let mut rows = Vec::new();
    let mut sha = Vec::new();
    sha.push(mb_per_s(len, sha256_seconds(&file)));
    for (name, args) in [
        ("rhizo add (CIDv0, dag-pb leaves)", &["add", "-Q"][..]),
        (
            "rhizo add --cid-version 1 (raw leaves)",
            &["add", "-Q", "--cid-version", "1"][..],
        ),
    ] {
        let repo = dir.join("add-repo");
        rhizo(&repo, &["repo", "stat"]); // creates the repo and its store, untimed
        let mut full = args.to_vec();
        let path = file.to_str().expect("a UTF-8 temp path");
        full.push(path);
        let start = Instant::now();
        let out = rhizo(&repo, &full);
        let seconds = start.elapsed().as_secs_f64();
        let cid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        rows.push(Row {
            what: name.to_owned(),
            mb_s: mb_per_s(len, seconds),
            note: format!("{seconds:.2} s, root {cid}"),
        });
        std::fs::remove_dir_all(&repo).expect("the repo is removed");
        sha.push(mb_per_s(len, sha256_seconds(&file)));
    }
    std::fs::remove_file(&file).expect("the temp file is removed");
    sha.sort_by(f64::total_cmp);
    let sha_median = sha[sha.len() / 2];
    for row in &mut rows {
        row.note = format!(
            "{:.0} % of SHA-256; {}",
            100.0 * row.mb_s / sha_median,
            row.note
        );
    }
    rows.insert(
        0,
        Row {
            what: "SHA-256 (sha2, 256 KiB chunks)".into(),
            mb_s: sha_median,
            note: format!(
                "median of {} passes: {}",
                sha.len(),
                sha.iter()
                    .map(|s| format!("{s:.0}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    );
    print_table(
        &format!(
            "add: {} MiB of seeded random bytes, fresh repo, file in the page cache",
            len / MIB
        ),
        &rows,
    );
}

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/js")
}

/// rhizo -> rhizo: seconds of `rhizo cat` through the fetching daemon, and the root CID.
fn fetch_rhizo(dir: &Path, file: &Path, len: u64) -> (f64, String) {
    let (repo_a, repo_b) = (dir.join("provider"), dir.join("fetcher"));
    let path = file.to_str().expect("a UTF-8 temp path");
    let out = rhizo(&repo_a, &["add", "-Q", "--cid-version", "1", path]);
    let cid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let provider = Daemon::start(&repo_a);
    let fetcher = Daemon::start(&repo_b);
    rhizo(&repo_b, &["swarm", "connect", &provider.p2p]);
    let start = Instant::now();
    let mut cat = Command::new(RHIZO)
        .arg("--repo")
        .arg(&repo_b)
        .args(["cat", &cid])
        .env("RHIZO_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("rhizo cat starts");
    let mut stdout = cat.stdout.take().expect("stdout is piped");
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u64;
    loop {
        match stdout.read(&mut buf).expect("rhizo cat's output reads") {
            0 => break,
            n => got += n as u64,
        }
    }
    let status = cat.wait().expect("rhizo cat ends");
    let seconds = start.elapsed().as_secs_f64();
    assert!(status.success(), "rhizo cat failed");
    assert_eq!(got, len, "rhizo cat wrote the whole file");
    drop((fetcher, provider));
    for repo in [repo_a, repo_b] {
        std::fs::remove_dir_all(&repo).expect("the repo is removed");
    }
    (seconds, cid)
}

/// helia -> helia (tests/js/helia-bench.mjs): seconds of the fetch, and the root CID.
fn fetch_helia(file: &Path, len: u64) -> (f64, String) {
    let mut child = Command::new("node")
        .current_dir(js_dir())
        .args([
            "--import",
            "./with-resolvers.mjs",
            "helia-bench.mjs",
            "--file",
        ])
        .arg(file)
        .args(["--deadline-ms", "300000"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node starts (tests/js needs `npm ci`)");
    let mut text = String::new();
    child
        .stdout
        .take()
        .expect("stdout is piped")
        .read_to_string(&mut text)
        .expect("helia-bench's output reads");
    let _ = child.kill();
    let _ = child.wait();
    let line = text
        .lines()
        .find(|l| l.contains("\"event\""))
        .unwrap_or_else(|| panic!("helia-bench printed no result: {text:?}"));
    assert!(
        line.contains("\"event\":\"result\""),
        "helia-bench failed: {line}"
    );
    let field = |name: &str| -> &str {
        let at = line
            .find(&format!("\"{name}\":"))
            .unwrap_or_else(|| panic!("no {name} in {line}"));
        let rest = &line[at + name.len() + 3..];
        rest.split([',', '}'])
            .next()
            .expect("split yields one item")
            .trim_matches('"')
    };
    let bytes: u64 = field("bytes").parse().expect("bytes is a number");
    assert_eq!(bytes, len, "helia fetched the whole file");
    let ms: f64 = field("ms").parse().expect("ms is a number");
    (ms / 1000.0, field("cid").to_owned())
}

fn bench_fetch(dir: &Path) {
    let len = env_u64("RHIZO_BENCH_FETCH_MIB", 256) * MIB;
    let runs = env_u64("RHIZO_BENCH_RUNS", 2).max(1);
    let file = dir.join("fetch.bin");
    write_random(&file, len, 2);
    let (mut rhizo_s, mut helia_s) = (Vec::new(), Vec::new());
    let (mut rhizo_cid, mut helia_cid) = (String::new(), String::new());
    for _ in 0..runs {
        let (s, cid) = fetch_rhizo(dir, &file, len);
        rhizo_s.push(s);
        rhizo_cid = cid;
        let (s, cid) = fetch_helia(&file, len);
        helia_s.push(s);
        helia_cid = cid;
    }
    std::fs::remove_file(&file).expect("the temp file is removed");
    assert_eq!(rhizo_cid, helia_cid, "both import the file to the same DAG");
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let list = |v: &[f64]| {
        v.iter()
            .map(|s| format!("{:.0}", mb_per_s(len, *s)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (rhizo_mb, helia_mb) = (mb_per_s(len, best(&rhizo_s)), mb_per_s(len, best(&helia_s)));
    print_table(
        &format!(
            "fetch: {} MiB over loopback from one provider, CIDv1 raw leaves 256 KiB chunks \
             174 links (root {rhizo_cid}, the same on both), best of {runs}",
            len / MIB
        ),
        &[
            Row {
                what: "rhizo daemon -> rhizo daemon (`rhizo cat` via the fetcher's API)".into(),
                mb_s: rhizo_mb,
                note: format!(
                    "{:.2}x helia; runs: {} MB/s",
                    rhizo_mb / helia_mb,
                    list(&rhizo_s)
                ),
            },
            Row {
                what: "helia -> helia (`@helia/unixfs` cat)".into(),
                mb_s: helia_mb,
                note: format!("runs: {} MB/s", list(&helia_s)),
            },
        ],
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a free argument picks one part.
    let only: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let dir = tempfile::tempdir().expect("a temp dir");
    let run = |part: &str| only.as_deref().is_none_or(|o| o == part);
    println!(
        "rhizo content benchmarks; {} cores, load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if run("add") {
        bench_add(dir.path());
    }
    if run("fetch") {
        bench_fetch(dir.path());
    }
}
