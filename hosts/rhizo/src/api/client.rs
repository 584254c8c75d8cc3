//! A blocking client of the daemon's API, for the CLI: found through the repo's `api` file.
//!
//! # Q&A
//! *Why ureq, blocking?* The CLI sends one request and waits for it; ureq is small, pure Rust,
//! needs no runtime, and without its default features brings no TLS (the API is on loopback).

use super::ops::{
    BlockStat, ErrorKind, GcKey, OpError, OpResult, PinList, Pins, RepoStat, VerifyResult,
};
use super::{API_FILE, ErrorBody, PREFIX, Strings, SwarmPeers, VersionInfo};
use crate::client::IdOutput;
use crate::content::AddedEntry;
use crate::exchange::BitswapStat;
use rhizo_core::block::MAX_BLOCK_LEN;
use serde::de::DeserializeOwned;
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// How long the CLI waits for a daemon that has its `api` file to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest answer read (a block, or a long pin list).
const MAX_RESPONSE: u64 = 256 * 1024 * 1024;

/// A client of one daemon's API.
#[derive(Debug)]
pub struct ApiClient {
    agent: ureq::Agent,
    base: String,
}

/// Reads the API address a running daemon wrote to `<repo>/api`, if any.
pub fn api_addr_of(repo: &Path) -> Option<SocketAddr> {
    let text = std::fs::read_to_string(repo.join(API_FILE)).ok()?;
    crate::addr::parse_listen(text.trim()).ok()
}

impl ApiClient {
    /// A client of the API at `addr`.
    pub fn new(addr: SocketAddr) -> ApiClient {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(PROBE_TIMEOUT))
            .build();
        ApiClient {
            agent: config.into(),
            base: format!("http://{addr}{PREFIX}"),
        }
    }

    /// The client of the daemon running on the repo at `dir`: `None` when there is no `api`
    /// file or nothing answers there (a daemon that was killed leaves its file behind).
    pub fn for_repo(dir: &Path) -> Option<ApiClient> {
        let addr = api_addr_of(dir)?;
        let probe = ApiClient {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(PROBE_TIMEOUT))
                .build()
                .into(),
            base: format!("http://{addr}{PREFIX}"),
        };
        probe.version().ok()?;
        Some(ApiClient::new(addr))
    }

    /// POSTs `verb` with query `args` and an optional (content type, body); the answer's bytes.
    fn call(
        &self,
        verb: &str,
        args: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> OpResult<Vec<u8>> {
        let url = format!("{}/{verb}", self.base);
        let mut request = self.agent.post(&url);
        for (name, value) in args {
            request = request.query(*name, *value);
        }
        let sent = match body {
            Some((content_type, bytes)) => request.header("Content-Type", content_type).send(bytes),
            None => request.send_empty(),
        };
        let mut response = sent.map_err(|e| {
            OpError::server(format!(
                "the daemon's API at {} did not answer ({e}): is `rhizo daemon` still running?",
                self.base
            ))
        })?;
        let status = response.status();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(|e| OpError::server(format!("reading the daemon's answer: {e}")))?;
        if status.is_success() {
            return Ok(bytes);
        }
        Err(error_of(status, &bytes))
    }

    /// POSTs `verb` and hands back the answer's body as a reader (no size limit: a file);
    /// `body` is a streamed upload.
    fn call_stream(
        &self,
        verb: &str,
        args: &[(&str, &str)],
        body: Option<(String, Box<dyn Read>)>,
    ) -> OpResult<Box<dyn Read + Send>> {
        let url = format!("{}/{verb}", self.base);
        let mut request = self.agent.post(&url);
        for (name, value) in args {
            request = request.query(*name, *value);
        }
        let sent = match body {
            Some((content_type, reader)) => request
                .header("Content-Type", &content_type)
                .send(ureq::SendBody::from_owned_reader(reader)),
            None => request.send_empty(),
        };
        let response = sent.map_err(|e| {
            OpError::server(format!(
                "the daemon's API at {} did not answer ({e}): is `rhizo daemon` still running?",
                self.base
            ))
        })?;
        let status = response.status();
        let reader = response.into_body().into_reader();
        if status.is_success() {
            return Ok(Box::new(reader));
        }
        let mut bytes = Vec::new();
        let _ = reader.take(MAX_RESPONSE).read_to_end(&mut bytes);
        Err(error_of(status, &bytes))
    }

    /// `verb` answering one JSON object.
    fn json<T: DeserializeOwned>(&self, verb: &str, args: &[(&str, &str)]) -> OpResult<T> {
        decode(&self.call(verb, args, None)?)
    }

    /// `version`.
    pub fn version(&self) -> OpResult<VersionInfo> {
        self.json("version", &[])
    }

    /// `id`.
    pub fn id(&self) -> OpResult<IdOutput> {
        self.json("id", &[])
    }

    /// `block/put` of one block.
    pub fn block_put(
        &self,
        data: Vec<u8>,
        codec: &str,
        version: u64,
        pin: bool,
    ) -> OpResult<BlockStat> {
        if data.len() > MAX_BLOCK_LEN {
            return Err(OpError::client(format!(
                "the block is {} bytes, more than the {MAX_BLOCK_LEN} bytes peers accept",
                data.len()
            )));
        }
        let (content_type, body) = multipart(&data)?;
        let version = version.to_string();
        let args = [
            ("cid-codec", codec),
            ("cid-version", version.as_str()),
            ("pin", if pin { "true" } else { "false" }),
        ];
        let answer = self.call("block/put", &args, Some((&content_type, body)))?;
        decode_lines::<BlockStat>(&answer)?
            .into_iter()
            .next()
            .ok_or_else(|| OpError::server("the daemon answered no CID"))
    }

    /// `block/get`: the daemon fetches a block it lacks from its peers, for at most
    /// `timeout` (kubo's duration text, e.g. `30s`; `None`: the daemon's default).
    pub fn block_get(&self, cid: &str, timeout: Option<&str>) -> OpResult<Vec<u8>> {
        let mut args = vec![("arg", cid)];
        if let Some(t) = timeout {
            args.push(("timeout", t));
        }
        self.call("block/get", &args, None)
    }

    /// `add`: uploads `parts` (a path, and a reader for a file or `None` for a directory) as
    /// one streamed multipart body; `args` are `add`'s options. The answer: one entry per file
    /// and directory, the root last.
    pub fn add(
        &self,
        parts: Vec<(String, AddPart)>,
        args: &[(&str, &str)],
    ) -> OpResult<Vec<AddedEntry>> {
        let (content_type, body) = multipart_stream(parts)?;
        let mut answer = Vec::new();
        self.call_stream("add", args, Some((content_type, body)))?
            .take(MAX_RESPONSE)
            .read_to_end(&mut answer)
            .map_err(|e| OpError::server(format!("reading the daemon's answer: {e}")))?;
        decode_lines(&answer)
    }

    /// `cat`: the file's bytes as they come (the daemon fetches missing blocks).
    pub fn cat(&self, cid: &str, timeout: Option<&str>) -> OpResult<Box<dyn Read + Send>> {
        let mut args = vec![("arg", cid)];
        if let Some(t) = timeout {
            args.push(("timeout", t));
        }
        self.call_stream("cat", &args, None)
    }

    /// `get`: a tar archive of the file or directory, its root named by the CID.
    pub fn get(&self, cid: &str, timeout: Option<&str>) -> OpResult<Box<dyn Read + Send>> {
        let mut args = vec![("arg", cid)];
        if let Some(t) = timeout {
            args.push(("timeout", t));
        }
        self.call_stream("get", &args, None)
    }

    /// `swarm/connect`.
    pub fn swarm_connect(&self, addr: &str) -> OpResult<Strings> {
        self.json("swarm/connect", &[("arg", addr)])
    }

    /// `bitswap/stat`.
    pub fn bitswap_stat(&self) -> OpResult<BitswapStat> {
        self.json("bitswap/stat", &[])
    }

    /// `block/stat`.
    pub fn block_stat(&self, cid: &str) -> OpResult<BlockStat> {
        self.json("block/stat", &[("arg", cid)])
    }

    /// `pin/add`.
    pub fn pin_add(&self, cid: &str, recursive: bool) -> OpResult<Pins> {
        let recursive = if recursive { "true" } else { "false" };
        self.json("pin/add", &[("arg", cid), ("recursive", recursive)])
    }

    /// `pin/rm`.
    pub fn pin_rm(&self, cid: &str) -> OpResult<Pins> {
        self.json("pin/rm", &[("arg", cid)])
    }

    /// `pin/ls` of pins of `kind`.
    pub fn pin_ls(&self, kind: &str) -> OpResult<PinList> {
        self.json("pin/ls", &[("type", kind)])
    }

    /// `repo/stat`.
    pub fn repo_stat(&self) -> OpResult<RepoStat> {
        self.json("repo/stat", &[])
    }

    /// `repo/gc`.
    pub fn repo_gc(&self) -> OpResult<Vec<GcKey>> {
        decode_lines(&self.call("repo/gc", &[], None)?)
    }

    /// `repo/verify`.
    pub fn repo_verify(&self) -> OpResult<VerifyResult> {
        self.json("repo/verify", &[])
    }

    /// `swarm/peers`.
    pub fn swarm_peers(&self) -> OpResult<SwarmPeers> {
        self.json("swarm/peers", &[])
    }
}

/// The error a failed answer carries (kubo's error JSON, or its text).
fn error_of(status: ureq::http::StatusCode, bytes: &[u8]) -> OpError {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(error) => OpError {
            kind: if error.code == 1 {
                ErrorKind::Client
            } else {
                ErrorKind::Server
            },
            message: error.message,
        },
        Err(_) => OpError::server(format!(
            "the daemon answered {status}: {}",
            String::from_utf8_lossy(bytes)
        )),
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> OpResult<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| OpError::server(format!("the daemon's answer is not what was expected: {e}")))
}

/// A stream of JSON objects, one a line.
fn decode_lines<T: DeserializeOwned>(bytes: &[u8]) -> OpResult<Vec<T>> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map(decode)
        .collect()
}

/// Percent-escapes a part's file name as kubo's clients do (`/` included).
fn escape_name(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A streamed `multipart/form-data` body of files and directories: the content type and a
/// reader of the body.
/// One part of an `add` upload.
pub enum AddPart {
    /// A directory (`application/x-directory`).
    Directory,
    /// A file's bytes (`application/octet-stream`).
    File(Box<dyn Read>),
    /// A symlink's target (`application/symlink`, as kubo's clients send symlinks).
    Symlink(Vec<u8>),
}

impl std::fmt::Debug for AddPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AddPart::Directory => f.write_str("Directory"),
            AddPart::File(_) => f.write_str("File"),
            AddPart::Symlink(t) => write!(f, "Symlink({:?})", String::from_utf8_lossy(t)),
        }
    }
}

fn multipart_stream(parts: Vec<(String, AddPart)>) -> OpResult<(String, Box<dyn Read>)> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random)
        .map_err(|e| OpError::server(format!("the OS random source failed: {e}")))?;
    let boundary: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let mut body: Box<dyn Read> = Box::new(std::io::empty());
    for (name, reader) in parts {
        let (kind, reader) = match reader {
            AddPart::File(r) => ("application/octet-stream", r),
            AddPart::Directory => (
                "application/x-directory",
                Box::new(std::io::empty()) as Box<dyn Read>,
            ),
            AddPart::Symlink(target) => (
                "application/symlink",
                Box::new(std::io::Cursor::new(target)) as Box<dyn Read>,
            ),
        };
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\n\
             Content-Type: {kind}\r\n\r\n",
            escape_name(&name)
        );
        body = Box::new(
            body.chain(std::io::Cursor::new(head.into_bytes()))
                .chain(reader)
                .chain(&b"\r\n"[..]),
        );
    }
    let tail = format!("--{boundary}--\r\n");
    body = Box::new(body.chain(std::io::Cursor::new(tail.into_bytes())));
    Ok((format!("multipart/form-data; boundary={boundary}"), body))
}

/// A `multipart/form-data` body holding `data` as one file, as kubo's clients send it: the
/// content type (with the boundary) and the body.
fn multipart(data: &[u8]) -> OpResult<(String, Vec<u8>)> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random)
        .map_err(|e| OpError::server(format!("the OS random source failed: {e}")))?;
    // 128 random bits: the chance that the data holds the boundary is nil.
    let boundary: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let mut body = Vec::with_capacity(data.len() + 256);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"file\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Ok((format!("multipart/form-data; boundary={boundary}"), body))
}
