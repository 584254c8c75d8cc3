//! The library behind the `rhizo` command: the repo (key, config, block store), the node, the
//! daemon and its local HTTP API, and the commands. `src/main.rs` parses the command line.
//!
//! # Q&A
//! *Why a library under a binary?* The block store and the API are used by the command, the
//! daemon and the tests alike (and soon by `rhizo add`, `cat` and Bitswap); as a library their
//! public API is checked and documented as such.

#![warn(missing_docs)]

pub mod addr;
pub mod api;
pub mod client;
pub mod commands;
pub mod config;
pub mod content;
pub mod daemon;
pub mod exchange;
pub mod files;
pub mod import_pipeline;
pub mod node;
pub mod repo;
pub mod store;
pub mod swarm;
