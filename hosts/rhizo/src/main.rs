//! `rhizo`: run a libp2p node over TCP, show its identity, ping and measure other peers.
//!
//! ```text
//! rhizo daemon                        # listen on config.toml's addresses (default port 4001)
//! rhizo id [--json]                   # this node's PeerId, key and addresses
//! rhizo id /ip4/1.2.3.4/tcp/4001      # what a peer says about itself (identify)
//! rhizo ping /ip4/127.0.0.1/tcp/4001/p2p/12D3... -n 3
//! rhizo perf /ip4/127.0.0.1/tcp/4001 --upload 1048576 --download 1048576
//! echo hello | rhizo block put        # stores a block, prints its CID
//! rhizo block get bafkrei...          # and writes it back (a daemon fetches it from peers)
//! rhizo swarm connect /ip4/127.0.0.1/tcp/4001/p2p/12D3...; rhizo swarm peers
//! rhizo bitswap stat
//! rhizo add -r photos/; rhizo cat QmFile...; rhizo get QmDir... -o photos-copy
//! rhizo pin add bafkrei...; rhizo pin ls; rhizo repo gc; rhizo repo stat; rhizo repo verify
//! ```
//!
//! Every command works in a repo directory (`--repo DIR`, `RHIZO_REPO`, default `~/.rhizo`)
//! holding the node's key (`identity.key`), settings (`config.toml`) and block store
//! (`blocks.redb`), made on first use. The store commands go through a running daemon's HTTP
//! API (its address is in the repo's `api` file), or open the store when no daemon runs.
//!
//! # Q&A
//! *Why does `ping` need a repo?* It dials as this node, with its PeerId, as `ipfs ping` does;
//! a peer that keeps track of who pinged it sees one stable identity.
//!
//! *Why `anyhow` here and small error enums in the libraries?* The command's errors end as one
//! message for a person; the context chain ("bad listen address: `x` is not a valid
//! multiaddr ...") is what helps, and no caller matches on them.

#![warn(missing_docs)]

use rhizo::commands::{self, BitswapCommand, BlockCommand, PinCommand, RepoCommand, SwarmCommand};
use rhizo::{client, daemon, repo};

use anyhow::{Result, anyhow};
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "rhizo",
    version,
    about = "A libp2p node over TCP (Noise, yamux)"
)]
struct Cli {
    /// The repo directory: identity key and config.toml, created on first use [default:
    /// ~/.rhizo].
    #[arg(long, global = true, env = "RHIZO_REPO", value_name = "DIR")]
    repo: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a node: listens, answers ping, identify and perf, until Ctrl-C or SIGTERM.
    Daemon {
        /// A multiaddr to listen on, e.g. /ip4/0.0.0.0/tcp/4001 (repeatable; replaces the
        /// config's list; port 0 picks a free port).
        #[arg(long, value_name = "MULTIADDR")]
        listen: Vec<String>,
        /// The multiaddr of the HTTP API, e.g. /ip4/127.0.0.1/tcp/5001 (replaces the config's
        /// `api`; port 0 picks a free port, written to the repo's `api` file).
        #[arg(long, value_name = "MULTIADDR")]
        api: Option<String>,
    },
    /// Adds a file (or with -r a directory) to the repo as UnixFS; prints the CIDs.
    Add(rhizo::files::AddArgs),
    /// Writes a file's bytes to stdout (a daemon fetches missing blocks from its peers).
    Cat {
        /// The file: a CID, or a path under one (CID/dir/file, /ipfs/CID/dir/file).
        #[arg(value_name = "PATH")]
        cid: String,
        /// How long a running daemon may wait for each missing block (e.g. 30s; default 60s).
        #[arg(long, value_name = "DURATION")]
        timeout: Option<String>,
    },
    /// Writes a file or directory to disk (a daemon fetches missing blocks from its peers).
    Get {
        /// A CID, or a path under one (CID/dir, /ipfs/CID/dir).
        #[arg(value_name = "PATH")]
        cid: String,
        /// Where to write it [default: the path's last name, or the CID].
        #[arg(short, long, value_name = "PATH")]
        output: Option<PathBuf>,
        /// How long a running daemon may wait for each missing block (e.g. 30s; default 60s).
        #[arg(long, value_name = "DURATION")]
        timeout: Option<String>,
    },
    /// Stores, reads and describes single blocks.
    #[command(subcommand)]
    Block(BlockCommand),
    /// Pins blocks and DAGs so `rhizo repo gc` keeps them.
    #[command(subcommand)]
    Pin(PinCommand),
    /// The repo's block store: statistics, garbage collection, verification.
    #[command(subcommand)]
    Repo(RepoCommand),
    /// The running daemon's connections: connect to a peer, list them.
    #[command(subcommand)]
    Swarm(SwarmCommand),
    /// The running daemon's block exchange.
    #[command(subcommand)]
    Bitswap(BitswapCommand),
    /// Shows this node's identity, or with MULTIADDR what that peer says about itself.
    Id {
        /// A peer to ask (identify), e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3...
        #[arg(value_name = "MULTIADDR")]
        peer: Option<String>,
        /// Prints JSON (the field names of `ipfs id`).
        #[arg(long)]
        json: bool,
    },
    /// Measures round-trip times to a peer (/ipfs/ping/1.0.0), one ping a second.
    Ping {
        /// The peer, e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3...
        #[arg(value_name = "MULTIADDR")]
        peer: String,
        /// How many pings to send.
        #[arg(short = 'n', long, default_value_t = 10, value_name = "COUNT",
              value_parser = clap::value_parser!(u32).range(1..))]
        count: u32,
    },
    /// Measures throughput to a peer (/perf/1.0.0): sends and receives the given amounts.
    Perf {
        /// The peer, e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3...
        #[arg(value_name = "MULTIADDR")]
        peer: String,
        /// Bytes to send to the peer.
        #[arg(long, value_name = "BYTES", default_value_t = 0)]
        upload: u64,
        /// Bytes to ask the peer to send back.
        #[arg(long, value_name = "BYTES", default_value_t = 0)]
        download: u64,
        /// Prints the result as the JSON line of libp2p's perf client.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match init_logging().and_then(|()| run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr at the level of `RHIZO_LOG` (error, warn, info, debug, trace; default info).
fn init_logging() -> Result<()> {
    let level = match std::env::var("RHIZO_LOG") {
        Ok(text) if !text.is_empty() => text.parse::<tracing::Level>().map_err(|_| {
            anyhow!("RHIZO_LOG={text} is not a log level: use error, warn, info, debug or trace")
        })?,
        _ => tracing::Level::INFO,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    let dir = match cli.repo {
        Some(dir) => dir,
        None => repo::default_dir()?,
    };
    let repo = repo::Repo::open_or_init(&dir)?;
    // The store commands block on the store or the API: no runtime.
    let command = match cli.command {
        Command::Block(command) => return commands::block(&repo.dir, command),
        Command::Pin(command) => return commands::pin(&repo.dir, command),
        Command::Repo(command) => return commands::repo(&repo.dir, command),
        Command::Swarm(command) => return commands::swarm(&repo.dir, command),
        Command::Add(args) => return rhizo::files::add(&repo.dir, args),
        Command::Cat { cid, timeout } => {
            return rhizo::files::cat(&repo.dir, &cid, timeout.as_deref());
        }
        Command::Get {
            cid,
            output,
            timeout,
        } => return rhizo::files::get(&repo.dir, &cid, output.as_deref(), timeout.as_deref()),
        Command::Bitswap(command) => return commands::bitswap(&repo.dir, command),
        other => other,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow!("cannot start the async runtime: {e}"))?;
    let result = runtime.block_on(async {
        match command {
            Command::Daemon { listen, api } => daemon::run(&repo, &listen, api.as_deref()).await,
            Command::Id { peer: None, json } => client::show_local_id(&repo, json),
            Command::Id {
                peer: Some(peer),
                json,
            } => client::show_remote_id(&repo, &peer, json).await,
            Command::Ping { peer, count } => client::ping(&repo, &peer, count).await,
            Command::Perf {
                peer,
                upload,
                download,
                json,
            } => client::perf(&repo, &peer, upload, download, json).await,
            Command::Block(_)
            | Command::Pin(_)
            | Command::Repo(_)
            | Command::Swarm(_)
            | Command::Bitswap(_)
            | Command::Add(_)
            | Command::Cat { .. }
            | Command::Get { .. } => {
                unreachable!("the store commands returned above")
            }
        }
    });
    // Connection tasks still running end here; none holds anything worth waiting for.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_flags_are_errors_not_panics() {
        assert!(Cli::try_parse_from(["rhizo", "ping", "/ip4/1.2.3.4/tcp/1", "-n", "0"]).is_err());
        assert!(Cli::try_parse_from(["rhizo", "perf", "x", "--upload", "-5"]).is_err());
        assert!(Cli::try_parse_from(["rhizo", "frobnicate"]).is_err());
    }
}
