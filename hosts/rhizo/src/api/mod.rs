//! The daemon's local HTTP API, shaped like kubo's `/api/v0`: every verb is a `POST` to
//! `/api/v0/<verb>`, arguments are query parameters (`?arg=<cid>&recursive=true`), uploads
//! are `multipart/form-data` bodies, results are kubo's JSON (streams: one object a line), and
//! errors are `{"Message": ..., "Code": 0|1, "Type": "error"}` with HTTP 500 or 400.
//!
//! Served now: `id`, `version`, `block/get`, `block/put`, `block/stat`, `pin/add`, `pin/rm`,
//! `pin/ls`, `repo/stat`, `repo/gc`, `repo/verify`, `swarm/peers`, `swarm/connect`,
//! `bitswap/stat`, `add`, `cat`, `get` (see [`content`]). `block/get` of a block the repo lacks fetches it over Bitswap from the
//! connected peers (kubo's behaviour), for at most `timeout` (default [`DEFAULT_FETCH_TIMEOUT`];
//! `offline=true` does not fetch); so do `pin/add` (the whole DAG when recursive), `cat` and
//! `get`. A new verb is a handler
//! (`async fn(State<Arc<ApiState>>, Query<Args>, ...) -> ApiResult<Response>`) and one
//! `.route` line in [`router`]; handlers that touch the store run it through
//! [`with_store`] (a blocking thread), those that need the node get it from [`ApiState`].
//!
//! # Q&A
//! *Why axum?* It is tokio's own HTTP framework on hyper, well kept, and its extractors
//! (query, multipart, state) keep each handler a few lines; the daemon already runs tokio.
//!
//! *Is the API safe to expose?* No: like kubo's, it has no authentication. It listens on
//! loopback unless the config says `api_allow_remote = true`, accepts only `POST` (a browser
//! page cannot send one without CORS preflight) and refuses requests with a foreign `Origin`.

pub mod client;
pub mod content;
pub mod ops;

use crate::client::IdOutput;
use crate::store::Store;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use ops::{ErrorKind, OpError, OpResult};
use rhizo_core::block::MAX_BLOCK_LEN;
use rhizo_core::identity::PeerId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The path every verb is under.
pub const PREFIX: &str = "/api/v0";
/// The file in the repo naming the running daemon's API multiaddr (as kubo's `api`).
pub const API_FILE: &str = "api";
/// How long `block/get` (and the verbs that fetch) wait for a missing block by default.
pub const DEFAULT_FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// The largest request body: a `block/put` of several blocks.
const MAX_BODY: usize = 8 * MAX_BLOCK_LEN;

/// A peer the daemon is connected to.
#[derive(Clone, Debug)]
pub struct ConnectedPeer {
    /// Who.
    pub peer: PeerId,
    /// Its address, as a multiaddr.
    pub addr: String,
    /// Whether it dialed us.
    pub inbound: bool,
}

/// The connected peers, by connection number; the daemon keeps it up to date.
pub type PeerTable = Arc<Mutex<BTreeMap<u64, ConnectedPeer>>>;

/// What the handlers share.
#[derive(Debug)]
pub struct ApiState {
    /// The repo's block store.
    pub store: Arc<Store>,
    /// The node's identity, as `id` answers.
    pub id: IdOutput,
    /// The connected peers.
    pub peers: PeerTable,
    /// The node's connections and Bitswap.
    pub swarm: crate::swarm::Swarm,
}

/// A failed request: its HTTP status and kubo's error JSON.
#[derive(Debug)]
pub struct ApiError(pub OpError);

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        ApiError(e)
    }
}

/// Kubo's error body.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorBody {
    /// What went wrong.
    pub message: String,
    /// 0: server, 1: client.
    pub code: u32,
    /// Always `error`.
    #[serde(rename = "Type")]
    pub kind: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match self.0.kind {
            ErrorKind::Client => (StatusCode::BAD_REQUEST, 1),
            ErrorKind::Server => (StatusCode::INTERNAL_SERVER_ERROR, 0),
        };
        let body = ErrorBody {
            message: self.0.message,
            code,
            kind: "error".to_owned(),
        };
        (status, axum::Json(body)).into_response()
    }
}

/// The query parameters of a request, in order (`arg` may repeat).
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct Args(pub Vec<(String, String)>);

impl Args {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A boolean option: absent is `default`; present and empty is `true`, as kubo's flags.
    pub fn flag(&self, name: &str, default: bool) -> OpResult<bool> {
        match self.get(name) {
            None => Ok(default),
            Some("" | "true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(other) => Err(OpError::client(format!(
                "option {name}={other} is not a boolean: use true or false"
            ))),
        }
    }

    /// Every `arg`, parsed as CIDs; at least one.
    pub fn cids(&self) -> OpResult<Vec<rhizo_core::cid::Cid>> {
        let args = self.all("arg");
        if args.is_empty() {
            return Err(OpError::client(
                "argument \"arg\" is required: pass ?arg=<cid>",
            ));
        }
        args.into_iter().map(ops::parse_cid).collect()
    }

    /// The one `arg`, parsed as a CID.
    pub fn cid(&self) -> OpResult<rhizo_core::cid::Cid> {
        let mut cids = self.cids()?;
        match cids.len() {
            1 => Ok(cids.remove(0)),
            n => Err(OpError::client(format!(
                "expected one CID argument, got {n}"
            ))),
        }
    }
}

/// Runs `op` on the store in a blocking thread (redb does file I/O).
pub async fn with_store<T: Send + 'static>(
    state: &Arc<ApiState>,
    op: impl FnOnce(&Store) -> OpResult<T> + Send + 'static,
) -> ApiResult<T> {
    let store = Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || op(&store))
        .await
        .map_err(|e| OpError::server(format!("the store task failed: {e}")))?
        .map_err(ApiError)
}

/// JSON objects one a line, as kubo streams them.
fn json_lines<T: Serialize>(items: &[T]) -> Response {
    let mut body = String::new();
    for item in items {
        // Serializing these plain structs cannot fail.
        body.push_str(&serde_json::to_string(item).unwrap_or_default());
        body.push('\n');
    }
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::HeaderName::from_static("x-stream-output"), "1"),
        ],
        body,
    )
        .into_response()
}

/// The API's routes.
pub fn router(state: Arc<ApiState>) -> Router {
    let v0 = Router::new()
        .route("/id", post(id))
        .route("/version", post(version))
        .route("/block/get", post(block_get))
        .route("/block/put", post(block_put))
        .route("/block/stat", post(block_stat))
        .route("/pin/add", post(pin_add))
        .route("/pin/rm", post(pin_rm))
        .route("/pin/ls", post(pin_ls))
        .route("/repo/stat", post(repo_stat))
        .route("/repo/gc", post(repo_gc))
        .route("/repo/verify", post(repo_verify))
        .route("/swarm/peers", post(swarm_peers))
        .route("/swarm/connect", post(swarm_connect))
        .route("/bitswap/stat", post(bitswap_stat))
        .route("/cat", post(content::cat))
        .route("/get", post(content::get))
        // Files of any size stream in: no body limit.
        .route(
            "/add",
            post(content::add).layer(DefaultBodyLimit::disable()),
        );
    Router::new()
        .nest(PREFIX, v0)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(refuse_foreign_origins))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Refuses requests whose `Origin` is not this machine (a web page's cross-site request).
async fn refuse_foreign_origins(request: Request, next: Next) -> Response {
    if let Some(origin) = request.headers().get(header::ORIGIN)
        && !is_local_origin(origin)
    {
        let mut response = ApiError(OpError::client(
            "requests from web pages of other origins are refused",
        ))
        .into_response();
        *response.status_mut() = StatusCode::FORBIDDEN;
        return response;
    }
    next.run(request).await
}

fn is_local_origin(origin: &HeaderValue) -> bool {
    let Ok(text) = origin.to_str() else {
        return false;
    };
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .unwrap_or("");
    let host = match rest.split_once(']') {
        // `[v6]` or `[v6]:port`.
        Some((v6, _)) if rest.starts_with('[') => return v6 == "[::1",
        _ => rest.split_once(':').map_or(rest, |(h, _)| h),
    };
    matches!(host, "127.0.0.1" | "localhost")
}

/// What `version` answers (kubo's field names).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionInfo {
    /// This rhizo's version.
    pub version: String,
    /// Not recorded: empty.
    pub commit: String,
    /// The store's schema.
    pub repo: String,
    /// `<arch>/<os>`.
    pub system: String,
}

async fn id(State(state): State<Arc<ApiState>>) -> Response {
    axum::Json(state.id.clone()).into_response()
}

async fn version() -> Response {
    axum::Json(VersionInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        commit: String::new(),
        repo: crate::store::SCHEMA_VERSION.to_string(),
        system: format!("{}/{}", std::env::consts::ARCH, std::env::consts::OS),
    })
    .into_response()
}

/// Fetches `cid` over Bitswap unless the repo holds it (or the request says `offline`),
/// waiting at most the request's `timeout`.
pub async fn ensure_block(
    state: &Arc<ApiState>,
    args: &Args,
    cid: rhizo_core::cid::Cid,
) -> ApiResult<()> {
    if args.flag("offline", false)? {
        return Ok(());
    }
    let timeout = match args.get("timeout") {
        Some(text) => ops::parse_duration(text)?,
        None => DEFAULT_FETCH_TIMEOUT,
    };
    state
        .swarm
        .exchange()
        .fetch(cid, timeout)
        .await
        .map_err(|e| ApiError(OpError::server(format!("cannot fetch {cid}: {e}"))))
}

async fn block_get(
    State(state): State<Arc<ApiState>>,
    Query(args): Query<Args>,
) -> ApiResult<Response> {
    let cid = args.cid()?;
    ensure_block(&state, &args, cid).await?;
    let data = with_store(&state, move |s| ops::block_get(s, &cid)).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain")], Body::from(data)).into_response())
}

async fn block_put(
    State(state): State<Arc<ApiState>>,
    Query(args): Query<Args>,
    mut multipart: Multipart,
) -> ApiResult<Response> {
    let codec = ops::parse_codec(args.get("cid-codec").unwrap_or("raw"))?;
    let version = match args.get("cid-version") {
        None => 1,
        Some(v) => v
            .parse()
            .map_err(|_| OpError::client(format!("cid-version={v}: use 0 or 1")))?,
    };
    if let Some(mh) = args.get("mhtype")
        && mh != "sha2-256"
    {
        let message = format!("mhtype={mh}: only sha2-256 is supported");
        return Err(OpError::client(message).into());
    }
    let pin = args.flag("pin", false)?;
    let mut blocks = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| OpError::client(format!("reading the multipart body: {e}")))?
    {
        let data = field
            .bytes()
            .await
            .map_err(|e| OpError::client(format!("reading the multipart body: {e}")))?;
        blocks.push(data.to_vec());
    }
    if blocks.is_empty() {
        return Err(
            OpError::client("no file in the body: send the block as multipart/form-data").into(),
        );
    }
    let stats = with_store(&state, move |s| {
        ops::block_put(s, &blocks, codec, version, pin)
    })
    .await?;
    Ok(json_lines(&stats))
}

async fn block_stat(
    State(state): State<Arc<ApiState>>,
    Query(args): Query<Args>,
) -> ApiResult<Response> {
    let cid = args.cid()?;
    let stat = with_store(&state, move |s| ops::block_stat(s, &cid)).await?;
    Ok(axum::Json(stat).into_response())
}

async fn pin_add(
    State(state): State<Arc<ApiState>>,
    Query(args): Query<Args>,
) -> ApiResult<Response> {
    let cids = args.cids()?;
    let recursive = args.flag("recursive", true)?;
    // As kubo: what is pinned is fetched first (the whole DAG for a recursive pin).
    for cid in &cids {
        ensure_block(&state, &args, *cid).await?;
        if recursive && !args.flag("offline", false)? {
            let timeout = args
                .get("timeout")
                .map_or(Ok(DEFAULT_FETCH_TIMEOUT), ops::parse_duration)?;
            content::prefetch(
                state.swarm.exchange().clone(),
                Arc::clone(&state.store),
                *cid,
                timeout,
            )
            .await;
        }
    }
    let pins = with_store(&state, move |s| ops::pin_add(s, &cids, recursive)).await?;
    Ok(axum::Json(pins).into_response())
}

async fn pin_rm(
    State(state): State<Arc<ApiState>>,
    Query(args): Query<Args>,
) -> ApiResult<Response> {
    let cids = args.cids()?;
    let pins = with_store(&state, move |s| ops::pin_rm(s, &cids)).await?;
    Ok(axum::Json(pins).into_response())
}

async fn pin_ls(
    State(state): State<Arc<ApiState>>,
    Query(args): Query<Args>,
) -> ApiResult<Response> {
    let kind = args.get("type").unwrap_or("all").to_owned();
    let cids = if args.get("arg").is_some() {
        args.cids()?
    } else {
        Vec::new()
    };
    let list = with_store(&state, move |s| ops::pin_ls(s, &kind, &cids)).await?;
    Ok(axum::Json(list).into_response())
}

async fn repo_stat(State(state): State<Arc<ApiState>>) -> ApiResult<Response> {
    let stat = with_store(&state, ops::repo_stat).await?;
    Ok(axum::Json(stat).into_response())
}

async fn repo_gc(State(state): State<Arc<ApiState>>) -> ApiResult<Response> {
    let removed = with_store(&state, ops::repo_gc).await?;
    Ok(json_lines(&removed))
}

async fn repo_verify(State(state): State<Arc<ApiState>>) -> ApiResult<Response> {
    let result = with_store(&state, ops::repo_verify).await?;
    Ok(axum::Json(result).into_response())
}

/// One peer of `swarm/peers` (kubo's field names).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmPeer {
    /// Its address.
    pub addr: String,
    /// Its PeerId.
    pub peer: String,
    /// 1: inbound, 2: outbound (kubo's numbers).
    pub direction: u8,
}

/// `swarm/peers`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmPeers {
    /// The connected peers.
    pub peers: Vec<SwarmPeer>,
}

async fn swarm_peers(State(state): State<Arc<ApiState>>) -> Response {
    let peers = state
        .peers
        .lock()
        .map(|table| {
            table
                .values()
                .map(|p| SwarmPeer {
                    addr: p.addr.clone(),
                    peer: p.peer.to_base58_string(),
                    direction: if p.inbound { 1 } else { 2 },
                })
                .collect()
        })
        .unwrap_or_default();
    axum::Json(SwarmPeers { peers }).into_response()
}

/// `swarm/connect`: kubo's answer shape.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Strings {
    /// One line per address.
    pub strings: Vec<String>,
}

async fn swarm_connect(
    State(state): State<Arc<ApiState>>,
    Query(args): Query<Args>,
) -> ApiResult<Response> {
    let addrs = args.all("arg");
    if addrs.is_empty() {
        return Err(OpError::client("argument \"arg\" is required: pass ?arg=<multiaddr>").into());
    }
    let mut strings = Vec::new();
    for text in addrs {
        let target =
            crate::addr::parse_dial(text).map_err(|e| OpError::client(format!("{e:#}")))?;
        let peer = state
            .swarm
            .connect(target)
            .await
            .map_err(|e| OpError::server(format!("connect to {text} failed: {e:#}")))?;
        strings.push(format!("connect {} success", peer.to_base58_string()));
    }
    Ok(axum::Json(Strings { strings }).into_response())
}

async fn bitswap_stat(State(state): State<Arc<ApiState>>) -> ApiResult<Response> {
    let stat = state
        .swarm
        .exchange()
        .stat()
        .await
        .map_err(|e| OpError::server(e.to_string()))?;
    Ok(axum::Json(stat).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn args(pairs: &[(&str, &str)]) -> Args {
        Args(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn flags_follow_kubo() {
        let a = args(&[("recursive", ""), ("pin", "false"), ("x", "maybe")]);
        assert_eq!(a.flag("recursive", false), Ok(true));
        assert_eq!(a.flag("pin", true), Ok(false));
        assert_eq!(a.flag("absent", true), Ok(true));
        assert!(a.flag("x", true).is_err());
        assert!(a.cids().unwrap_err().message.contains("required"));
        let cid = "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am";
        let two = args(&[("arg", cid), ("arg", cid)]);
        assert_eq!(two.cids().unwrap().len(), 2);
        assert!(two.cid().is_err());
    }

    #[test]
    fn only_local_origins_pass() {
        for good in [
            "http://127.0.0.1:5001",
            "http://localhost:3000",
            "http://[::1]:1",
            "http://[::1]",
        ] {
            assert!(is_local_origin(&HeaderValue::from_static(good)), "{good}");
        }
        for bad in [
            "http://example.com",
            "null",
            "http://127.0.0.1.evil.com:80",
            "",
        ] {
            assert!(!is_local_origin(&HeaderValue::from_static(bad)), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_arguments_never_panic(key in ".{0,12}", value in ".{0,80}") {
            let a = args(&[(key.as_str(), value.as_str()), ("arg", value.as_str())]);
            let _ = a.flag(&key, true);
            let _ = a.cid();
            let _ = ops::parse_codec(&value);
            let _ = ops::parse_cid(&value);
            if let Ok(header) = HeaderValue::from_str(&value) {
                let _ = is_local_origin(&header);
            }
        }
    }
}
