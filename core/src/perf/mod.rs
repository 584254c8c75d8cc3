//! Perf (`/perf/1.0.0`, libp2p/specs `perf/perf.md`): the throughput benchmark every libp2p
//! implementation speaks, so rhizo can be measured against rust-libp2p and go-libp2p.
//!
//! The client ([`PerfClient`]) writes the number of bytes it wants back as a big-endian
//! `u64`, then uploads its bytes and closes its half. The server ([`PerfServer`]) reads the
//! number, discards the upload until the client's half ends, then sends that many bytes and
//! closes. The client counts what comes back until the server's half ends.
//!
//! Both are [`StreamHandler`]s: see [`crate::stream`] for the call order. Both are built for
//! speed: `poll_transmit` fills the whole `out` slice in one `fill`, and `handle_input`
//! consumes all it is given, so the cost per byte is a memory write or nothing.
//!
//! # Q&A
//! *What is sent?* Zeros: the spec leaves the content open, and rust-libp2p sends zeros too.
//!
//! *Why a limit on the server?* The spec warns that perf lets a client make the server do
//! work, and says not to enable it by default. [`PerfServerConfig::max_download`] bounds what
//! one stream can ask for (the spec allows up to `u64::MAX`, which a timed benchmark uses);
//! whether to serve perf at all, and to whom, is the node's trust policy.
//!
//! *Why progress every second?* rust-libp2p's client reports intermediate results once a
//! second ([`DEFAULT_REPORT_INTERVAL`]).

use crate::stream::StreamHandler;
use crate::time::{Duration, Instant};

#[cfg(test)]
mod tests;

/// The perf protocol id.
pub const PROTOCOL_ID: &str = "/perf/1.0.0";
/// The length of the client's header: the download size as a big-endian `u64`.
pub const HEADER_LEN: usize = 8;
/// How often the client reports progress by default.
pub const DEFAULT_REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// The most a server sends on one stream by default: 16 GiB.
pub const DEFAULT_MAX_DOWNLOAD: u64 = 16 << 30;

/// How much a client uploads and asks to download.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerfParams {
    /// Bytes the client sends after its header.
    pub upload: u64,
    /// Bytes the client asks the server to send back.
    pub download: u64,
}

/// The client's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerfClientConfig {
    /// How often to report [`PerfEvent::Progress`] (`None`: never).
    pub report_interval: Option<Duration>,
}

impl Default for PerfClientConfig {
    fn default() -> Self {
        PerfClientConfig {
            report_interval: Some(DEFAULT_REPORT_INTERVAL),
        }
    }
}

/// Bytes moved so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerfProgress {
    /// Upload bytes written (the header not counted).
    pub uploaded: u64,
    /// Bytes received.
    pub downloaded: u64,
    /// Time since the run started.
    pub elapsed: Duration,
}

/// A finished run, as the client measured it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerfResult {
    /// Upload bytes written (the header not counted).
    pub uploaded: u64,
    /// Bytes received.
    pub downloaded: u64,
    /// From the start to the last upload byte written.
    pub upload_time: Duration,
    /// From the last upload byte written to the server's close.
    pub download_time: Duration,
    /// From the start to the server's close.
    pub total_time: Duration,
}

/// What the client tells the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerfEvent {
    /// Bytes moved so far, every report interval.
    Progress(PerfProgress),
    /// The run finished: every byte asked for arrived and the server closed.
    Done(PerfResult),
}

/// Why a [`PerfClient`] run failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerfClientError {
    /// The server sent more bytes than were asked for.
    TooMuchData {
        /// The bytes asked for.
        expected: u64,
    },
    /// The server closed before sending every byte asked for.
    ShortDownload {
        /// The bytes asked for.
        expected: u64,
        /// The bytes received.
        received: u64,
    },
    /// The server closed before the upload was finished.
    ClosedDuringUpload,
}

impl core::fmt::Display for PerfClientError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PerfClientError::TooMuchData { expected } => {
                write!(
                    f,
                    "perf: server sent more than the {expected} bytes asked for"
                )
            }
            PerfClientError::ShortDownload { expected, received } => {
                write!(
                    f,
                    "perf: server sent {received} of {expected} bytes, then closed"
                )
            }
            PerfClientError::ClosedDuringUpload => {
                f.write_str("perf: server closed before the upload finished")
            }
        }
    }
}

impl core::error::Error for PerfClientError {}

/// The side that opened a perf stream: uploads, then counts the download.
#[derive(Clone, Debug)]
pub struct PerfClient {
    params: PerfParams,
    report_interval: Option<Duration>,
    started: Instant,
    header_written: usize,
    uploaded: u64,
    upload_done: Option<Instant>,
    downloaded: u64,
    next_report: Option<Instant>,
    progress: Option<PerfProgress>,
    result: Option<PerfResult>,
    done: bool,
}

impl PerfClient {
    /// A client whose stream opened at `now`.
    pub fn new(now: Instant, params: PerfParams, config: PerfClientConfig) -> Self {
        PerfClient {
            params,
            report_interval: config.report_interval,
            started: now,
            header_written: 0,
            uploaded: 0,
            upload_done: None,
            downloaded: 0,
            next_report: config.report_interval.map(|i| now + i),
            progress: None,
            result: None,
            done: false,
        }
    }

    /// Bytes moved so far, measured at `now`.
    pub fn progress(&self, now: Instant) -> PerfProgress {
        PerfProgress {
            uploaded: self.uploaded,
            downloaded: self.downloaded,
            elapsed: now - self.started,
        }
    }
}

impl StreamHandler for PerfClient {
    type Event = PerfEvent;
    type Error = PerfClientError;

    fn handle_input(&mut self, _now: Instant, input: &[u8]) -> Result<usize, PerfClientError> {
        let expected = self.params.download;
        let len = u64::try_from(input.len()).unwrap_or(u64::MAX);
        match self.downloaded.checked_add(len) {
            Some(total) if total <= expected => self.downloaded = total,
            _ => return Err(PerfClientError::TooMuchData { expected }),
        }
        Ok(input.len())
    }

    fn handle_remote_close(&mut self, now: Instant) -> Result<(), PerfClientError> {
        let Some(upload_done) = self.upload_done else {
            return Err(PerfClientError::ClosedDuringUpload);
        };
        if self.downloaded != self.params.download {
            return Err(PerfClientError::ShortDownload {
                expected: self.params.download,
                received: self.downloaded,
            });
        }
        self.done = true;
        self.next_report = None;
        self.result = Some(PerfResult {
            uploaded: self.uploaded,
            downloaded: self.downloaded,
            upload_time: upload_done - self.started,
            download_time: now - upload_done,
            total_time: now - self.started,
        });
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), PerfClientError> {
        if let (Some(at), Some(interval)) = (self.next_report, self.report_interval)
            && at <= now
        {
            self.progress = Some(self.progress(now));
            // Keep the cadence, but never schedule a report that is already due.
            let next = at + interval;
            self.next_report = Some(if next <= now { now + interval } else { next });
        }
        Ok(())
    }

    fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> usize {
        let mut written = 0;
        if self.header_written < HEADER_LEN {
            let header = self.params.download.to_be_bytes();
            let n = out.len().min(HEADER_LEN - self.header_written);
            out[..n].copy_from_slice(&header[self.header_written..self.header_written + n]);
            self.header_written += n;
            written = n;
        }
        if self.header_written == HEADER_LEN {
            let rest = &mut out[written..];
            let remaining = self.params.upload - self.uploaded;
            let n = usize::try_from(remaining)
                .unwrap_or(usize::MAX)
                .min(rest.len());
            rest[..n].fill(0);
            // `n <= remaining`, a u64.
            self.uploaded += n as u64;
            written += n;
            if self.uploaded == self.params.upload && self.upload_done.is_none() {
                self.upload_done = Some(now);
            }
        }
        written
    }

    fn poll_transmit_zeros(&mut self, now: Instant, max: u64) -> u64 {
        // The size header goes through `poll_transmit`; the upload after it is all zeros.
        if self.header_written < HEADER_LEN {
            return 0;
        }
        let n = (self.params.upload - self.uploaded).min(max);
        self.uploaded += n;
        if n > 0 && self.uploaded == self.params.upload && self.upload_done.is_none() {
            self.upload_done = Some(now);
        }
        n
    }

    fn poll_event(&mut self) -> Option<PerfEvent> {
        if let Some(progress) = self.progress.take() {
            return Some(PerfEvent::Progress(progress));
        }
        self.result.take().map(PerfEvent::Done)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_report
    }

    fn wants_close(&self) -> bool {
        self.upload_done.is_some()
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn max_input_len(&self) -> usize {
        1
    }
}

/// The server's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerfServerConfig {
    /// The most bytes one stream may ask for; a larger request fails the stream.
    pub max_download: u64,
}

impl Default for PerfServerConfig {
    fn default() -> Self {
        PerfServerConfig {
            max_download: DEFAULT_MAX_DOWNLOAD,
        }
    }
}

/// A finished run, as the server measured it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerfServerStats {
    /// Upload bytes received after the header.
    pub received: u64,
    /// Bytes sent back.
    pub sent: u64,
    /// From the start to the client's close.
    pub receive_time: Duration,
    /// From the client's close to the last byte written.
    pub send_time: Duration,
}

/// Why a [`PerfServer`] gave up on its stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerfServerError {
    /// The client closed its half before its 8-byte header was complete.
    ShortHeader,
    /// The client asked for more than [`PerfServerConfig::max_download`].
    DownloadTooLarge {
        /// The bytes asked for.
        requested: u64,
        /// The most this server sends.
        max: u64,
    },
}

impl core::fmt::Display for PerfServerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PerfServerError::ShortHeader => f.write_str("perf: stream closed inside the header"),
            PerfServerError::DownloadTooLarge { requested, max } => {
                write!(
                    f,
                    "perf: {requested} bytes asked for, over the limit of {max}"
                )
            }
        }
    }
}

impl core::error::Error for PerfServerError {}

/// The side that accepted a perf stream: discards the upload, then sends what was asked for.
#[derive(Clone, Debug)]
pub struct PerfServer {
    max_download: u64,
    started: Instant,
    header: [u8; HEADER_LEN],
    header_len: usize,
    to_send: u64,
    received: u64,
    sent: u64,
    /// When the client closed its half.
    read_done: Option<Instant>,
    stats: Option<PerfServerStats>,
    done: bool,
    /// The request was refused: nothing is ever sent on this stream.
    refused: Option<PerfServerError>,
}

impl PerfServer {
    /// A server for a stream accepted at `now`.
    pub fn new(now: Instant, config: PerfServerConfig) -> Self {
        PerfServer {
            max_download: config.max_download,
            started: now,
            header: [0; HEADER_LEN],
            header_len: 0,
            to_send: 0,
            received: 0,
            sent: 0,
            read_done: None,
            stats: None,
            done: false,
            refused: None,
        }
    }

    /// The bytes the client asked for, once its header is complete.
    pub fn requested(&self) -> Option<u64> {
        (self.header_len == HEADER_LEN).then_some(self.to_send)
    }

    /// Finishes the run once the client has closed and everything is sent.
    fn finish_if_sent(&mut self, now: Instant) {
        if let Some(read_done) = self.read_done
            && self.sent == self.to_send
            && !self.done
        {
            self.done = true;
            self.stats = Some(PerfServerStats {
                received: self.received,
                sent: self.sent,
                receive_time: read_done - self.started,
                send_time: now - read_done,
            });
        }
    }
}

impl StreamHandler for PerfServer {
    type Event = PerfServerStats;
    type Error = PerfServerError;

    fn handle_input(&mut self, _now: Instant, input: &[u8]) -> Result<usize, PerfServerError> {
        if let Some(e) = self.refused {
            return Err(e);
        }
        let mut rest = input;
        if self.header_len < HEADER_LEN {
            let n = rest.len().min(HEADER_LEN - self.header_len);
            self.header[self.header_len..self.header_len + n].copy_from_slice(&rest[..n]);
            self.header_len += n;
            rest = &rest[n..];
            if self.header_len == HEADER_LEN {
                self.to_send = u64::from_be_bytes(self.header);
                if self.to_send > self.max_download {
                    let e = PerfServerError::DownloadTooLarge {
                        requested: self.to_send,
                        max: self.max_download,
                    };
                    self.refused = Some(e);
                    return Err(e);
                }
            }
        }
        let len = u64::try_from(rest.len()).unwrap_or(u64::MAX);
        self.received = self.received.saturating_add(len);
        Ok(input.len())
    }

    fn handle_remote_close(&mut self, now: Instant) -> Result<(), PerfServerError> {
        if let Some(e) = self.refused {
            return Err(e);
        }
        if self.header_len < HEADER_LEN {
            return Err(PerfServerError::ShortHeader);
        }
        self.read_done = Some(now);
        self.finish_if_sent(now);
        Ok(())
    }

    fn handle_timeout(&mut self, _now: Instant) -> Result<(), PerfServerError> {
        Ok(())
    }

    fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> usize {
        if self.read_done.is_none() {
            // The spec: never send while the upload is still arriving.
            return 0;
        }
        let remaining = self.to_send - self.sent;
        let n = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(out.len());
        out[..n].fill(0);
        // `n <= remaining`, a u64.
        self.sent += n as u64;
        self.finish_if_sent(now);
        n
    }

    fn poll_transmit_zeros(&mut self, now: Instant, max: u64) -> u64 {
        if self.read_done.is_none() {
            return 0;
        }
        let n = (self.to_send - self.sent).min(max);
        self.sent += n;
        self.finish_if_sent(now);
        n
    }

    fn poll_event(&mut self) -> Option<PerfServerStats> {
        self.stats.take()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn wants_close(&self) -> bool {
        self.done
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn max_input_len(&self) -> usize {
        HEADER_LEN
    }
}
