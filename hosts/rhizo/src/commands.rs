//! `rhizo block`, `rhizo pin` and `rhizo repo`: through the daemon's API when one runs on the
//! repo, on the repo's store directly when none does; the output is the same either way.

use crate::api::client::ApiClient;
use crate::api::ops::{self, BlockStat, GcKey, OpError, PinList, Pins, RepoStat, VerifyResult};
use crate::store::Store;
use anyhow::{Context, Result, bail};
use clap::{ArgAction, Subcommand};
use rhizo_core::block::MAX_BLOCK_LEN;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// `rhizo block ...`.
#[derive(Debug, Subcommand)]
pub enum BlockCommand {
    /// Writes the bytes of a block to stdout.
    Get {
        /// The block's CID.
        cid: String,
        /// How long a running daemon may spend fetching the block from its peers when the
        /// repo lacks it (e.g. 30s, 2m; default 60s).
        #[arg(long, value_name = "DURATION")]
        timeout: Option<String>,
    },
    /// Stores a block read from FILE (or stdin: `-` or nothing); prints its CID.
    Put {
        /// The file holding the block's bytes; `-` or none reads stdin.
        #[arg(value_name = "FILE|-")]
        file: Option<PathBuf>,
        /// The codec the CID names: raw, dag-pb, dag-cbor, dag-json or json.
        #[arg(long, default_value = "raw", value_name = "CODEC")]
        cid_codec: String,
        /// The CID version: 1, or 0 (dag-pb only).
        #[arg(long, default_value_t = 1, value_name = "VERSION")]
        cid_version: u64,
        /// Pins the block directly.
        #[arg(long)]
        pin: bool,
    },
    /// Shows a block's CID and size.
    Stat {
        /// The block's CID.
        cid: String,
    },
}

/// `rhizo pin ...`.
#[derive(Debug, Subcommand)]
pub enum PinCommand {
    /// Keeps blocks from `rhizo repo gc`: the DAG under each CID (or only the block itself with
    /// --recursive=false). The blocks must be in the repo.
    Add {
        /// The CIDs to pin.
        #[arg(required = true)]
        cids: Vec<String>,
        /// Pins the whole DAG under each CID (the default); --recursive=false pins the block.
        #[arg(short, long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
              default_value_t = true, default_missing_value = "true")]
        recursive: bool,
    },
    /// Removes pins (blocks stay until `rhizo repo gc`).
    Rm {
        /// The pinned CIDs.
        #[arg(required = true)]
        cids: Vec<String>,
    },
    /// Lists pins.
    Ls {
        /// Which pins: all, direct, recursive or indirect.
        #[arg(short = 't', long = "type", default_value = "all")]
        kind: String,
        /// Prints the CIDs only.
        #[arg(short, long)]
        quiet: bool,
    },
}

/// `rhizo repo ...`.
#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Shows the number and size of blocks, the pins and where the repo is.
    Stat,
    /// Removes every block that no pin keeps.
    Gc {
        /// Prints the removed CIDs only.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Hashes every block against its CID and checks that every pinned block is there; exits
    /// non-zero when something is wrong.
    Verify,
}

/// `rhizo swarm ...`: the running daemon's connections.
#[derive(Debug, Subcommand)]
pub enum SwarmCommand {
    /// Connects the daemon to a peer, e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3...
    Connect {
        /// The peers' multiaddrs.
        #[arg(required = true, value_name = "MULTIADDR")]
        addrs: Vec<String>,
    },
    /// Lists the daemon's connected peers.
    Peers,
}

/// `rhizo bitswap ...`: the running daemon's block exchange.
#[derive(Debug, Subcommand)]
pub enum BitswapCommand {
    /// Shows Bitswap's counters, wantlist and peers.
    Stat {
        /// Prints JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The API of the daemon running on the repo at `dir`, or advice to start one.
fn daemon_api(dir: &Path, what: &str) -> Result<ApiClient> {
    ApiClient::for_repo(dir).with_context(|| {
        format!(
            "`rhizo {what}` needs a running daemon on the repo {}: start one with `rhizo daemon`",
            dir.display()
        )
    })
}

/// Runs a `rhizo swarm` command.
pub fn swarm(dir: &Path, command: SwarmCommand) -> Result<()> {
    let api = daemon_api(dir, "swarm")?;
    match command {
        SwarmCommand::Connect { addrs } => {
            for addr in addrs {
                for line in op(api.swarm_connect(&addr))?.strings {
                    println!("{line}");
                }
            }
        }
        SwarmCommand::Peers => {
            for peer in op(api.swarm_peers())?.peers {
                println!("{}/p2p/{}", peer.addr, peer.peer);
            }
        }
    }
    Ok(())
}

/// Runs a `rhizo bitswap` command.
pub fn bitswap(dir: &Path, command: BitswapCommand) -> Result<()> {
    let api = daemon_api(dir, "bitswap")?;
    match command {
        BitswapCommand::Stat { json } => {
            let stat = op(api.bitswap_stat())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&stat)?);
                return Ok(());
            }
            println!("bitswap status");
            println!("\tblocks received: {}", stat.blocks_received);
            println!("\tmessages sent: {}", stat.messages_sent);
            println!("\tmessages received: {}", stat.messages_received);
            println!("\tpeers cut off: {}", stat.peers_cut_off);
            println!("\twantlist [{} keys]", stat.wantlist.len());
            for cid in &stat.wantlist {
                println!("\t\t{cid}");
            }
            println!("\tpartners [{}]", stat.peers.len());
            for peer in &stat.peers {
                let got = stat.received_from.get(peer).copied().unwrap_or(0);
                println!("\t\t{peer} ({got} blocks received)");
            }
        }
    }
    Ok(())
}

/// Where the commands go: the running daemon, or the store itself.
#[derive(Debug)]
pub enum Backend {
    /// A daemon runs on the repo: its API.
    Remote(ApiClient),
    /// No daemon: the store, opened by this process.
    Local(Store),
}

impl Backend {
    /// The daemon's API if one answers for the repo at `dir`, else its store.
    pub fn open(dir: &Path) -> Result<Backend> {
        if let Some(client) = ApiClient::for_repo(dir) {
            return Ok(Backend::Remote(client));
        }
        Ok(Backend::Local(Store::open(dir)?))
    }
}

fn op<T>(result: Result<T, OpError>) -> Result<T> {
    result.map_err(anyhow::Error::new)
}

/// Runs a `rhizo block` command.
pub fn block(dir: &Path, command: BlockCommand) -> Result<()> {
    let backend = Backend::open(dir)?;
    match command {
        BlockCommand::Get { cid, timeout } => {
            let data = match &backend {
                Backend::Remote(api) => op(api.block_get(&cid, timeout.as_deref()))?,
                Backend::Local(store) => op(ops::block_get(store, &op(ops::parse_cid(&cid))?))?,
            };
            let mut out = std::io::stdout().lock();
            out.write_all(&data)
                .and_then(|()| out.flush())
                .context("writing the block to stdout")?;
        }
        BlockCommand::Put {
            file,
            cid_codec,
            cid_version,
            pin,
        } => {
            let data = read_input(file.as_deref())?;
            let stat: BlockStat = match &backend {
                Backend::Remote(api) => op(api.block_put(data, &cid_codec, cid_version, pin))?,
                Backend::Local(store) => {
                    let codec = op(ops::parse_codec(&cid_codec))?;
                    let stats = op(ops::block_put(store, &[data], codec, cid_version, pin))?;
                    stats
                        .into_iter()
                        .next()
                        .context("block put stored nothing")?
                }
            };
            println!("{}", stat.key);
        }
        BlockCommand::Stat { cid } => {
            let stat = match &backend {
                Backend::Remote(api) => op(api.block_stat(&cid))?,
                Backend::Local(store) => op(ops::block_stat(store, &op(ops::parse_cid(&cid))?))?,
            };
            println!("Key: {}\nSize: {}", stat.key, stat.size);
        }
    }
    Ok(())
}

/// Reads a block's bytes from `file`, or stdin for `-` or `None`, refusing more than a block.
fn read_input(file: Option<&Path>) -> Result<Vec<u8>> {
    let limit = MAX_BLOCK_LEN as u64 + 1;
    let mut data = Vec::new();
    match file {
        Some(path) if path.as_os_str() != "-" => std::fs::File::open(path)
            .and_then(|f| f.take(limit).read_to_end(&mut data))
            .with_context(|| format!("cannot read {}", path.display()))?,
        _ => std::io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut data)
            .context("cannot read the block from stdin")?,
    };
    if data.len() > MAX_BLOCK_LEN {
        bail!(
            "the input is more than {MAX_BLOCK_LEN} bytes, the largest block peers accept: \
             store a file with `rhizo add`, which splits it into blocks"
        );
    }
    Ok(data)
}

/// Runs a `rhizo pin` command.
pub fn pin(dir: &Path, command: PinCommand) -> Result<()> {
    let backend = Backend::open(dir)?;
    match command {
        PinCommand::Add { cids, recursive } => {
            for cid in cids {
                let pins: Pins = match &backend {
                    Backend::Remote(api) => op(api.pin_add(&cid, recursive))?,
                    Backend::Local(store) => {
                        op(ops::pin_add(store, &[op(ops::parse_cid(&cid))?], recursive))?
                    }
                };
                let how = if recursive { "recursively" } else { "directly" };
                for pinned in pins.pins {
                    println!("pinned {pinned} {how}");
                }
            }
        }
        PinCommand::Rm { cids } => {
            for cid in cids {
                let pins = match &backend {
                    Backend::Remote(api) => op(api.pin_rm(&cid))?,
                    Backend::Local(store) => op(ops::pin_rm(store, &[op(ops::parse_cid(&cid))?]))?,
                };
                for unpinned in pins.pins {
                    println!("unpinned {unpinned}");
                }
            }
        }
        PinCommand::Ls { kind, quiet } => {
            let list: PinList = match &backend {
                Backend::Remote(api) => op(api.pin_ls(&kind))?,
                Backend::Local(store) => op(ops::pin_ls(store, &kind, &[]))?,
            };
            for (cid, entry) in list.keys {
                if quiet {
                    println!("{cid}");
                } else {
                    println!("{cid} {}", entry.kind);
                }
            }
        }
    }
    Ok(())
}

/// Runs a `rhizo repo` command.
pub fn repo(dir: &Path, command: RepoCommand) -> Result<()> {
    let backend = Backend::open(dir)?;
    match command {
        RepoCommand::Stat => {
            let stat: RepoStat = match &backend {
                Backend::Remote(api) => op(api.repo_stat())?,
                Backend::Local(store) => op(ops::repo_stat(store))?,
            };
            println!("NumObjects: {}", stat.num_objects);
            println!("RepoSize: {}", stat.repo_size);
            println!("StorageMax: {}", stat.storage_max);
            println!("RepoPath: {}", stat.repo_path);
            println!("Version: {}", stat.version);
            println!(
                "Pins: {} recursive, {} direct",
                stat.recursive_pins, stat.direct_pins
            );
            println!("PackFiles: {} ({} bytes)", stat.pack_files, stat.pack_bytes);
        }
        RepoCommand::Gc { quiet } => {
            let removed: Vec<GcKey> = match &backend {
                Backend::Remote(api) => op(api.repo_gc())?,
                Backend::Local(store) => op(ops::repo_gc(store))?,
            };
            for key in removed {
                if quiet {
                    println!("{}", key.key.cid);
                } else {
                    println!("removed {}", key.key.cid);
                }
            }
        }
        RepoCommand::Verify => {
            let result: VerifyResult = match &backend {
                Backend::Remote(api) => op(api.repo_verify())?,
                Backend::Local(store) => op(ops::repo_verify(store))?,
            };
            return print_verify(&result);
        }
    }
    Ok(())
}

fn print_verify(result: &VerifyResult) -> Result<()> {
    for orphan in &result.orphans {
        println!("orphan (harmless): {orphan}");
    }
    if result.consistent {
        println!(
            "verified {} blocks: the repo is consistent",
            result.blocks_checked
        );
        return Ok(());
    }
    for why in &result.corrupt {
        println!("corrupt block: {why}");
    }
    for cid in &result.missing {
        println!("missing pinned block: {cid}");
    }
    for problem in &result.problems {
        println!("problem: {problem}");
    }
    bail!(
        "the repo is not consistent ({} of {} blocks corrupt, {} pinned blocks missing, {} other \
         problems): unpin what needs the bad blocks and run `rhizo repo gc`, then add or fetch \
         that data again",
        result.corrupt.len(),
        result.blocks_checked,
        result.missing.len(),
        result.problems.len()
    )
}
