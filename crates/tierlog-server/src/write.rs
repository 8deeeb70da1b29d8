//! The write endpoints of a writable server (`tierlog serve DIR --writable`): Prometheus
//! remote-write 1.0 (`POST /api/v1/write`), Prometheus text exposition
//! (`POST /api/v1/import/prometheus`) and InfluxDB 1.x line protocol (`POST /write`).
//!
//! Every request is bounded before any work: the body's size (checked against
//! `Content-Length` first, then while it is read), the snappy block's decompressed size (read
//! from the block's header, before anything is expanded), the number of samples, the number
//! of requests in flight (the others wait for a place, within the request timeout) and the
//! time to wait for a place and read the body (a slow client cannot hold a worker). The
//! decoding and the store write run on tokio's blocking pool.
//!
//! Answers (the reasons in the body, as text for Prometheus' endpoints and as InfluxDB's
//! `{"error":…}` for `/write`):
//! - 204: everything was written, durable under the store's `Sync` policy.
//! - 400: a malformed body (nothing written), or samples the time rules refuse for good (too
//!   old, too far ahead, conflicting with a rollup): the others of the request are written
//!   and durable, the refused ones counted. Prometheus 2.42's receiver answers out-of-order
//!   and out-of-bounds samples 400 "to prevent retries", so senders drop the batch instead of
//!   retrying it forever; InfluxDB 1.x answers points beyond retention 400 `partial write`.
//! - 413: a body, decompressed body or sample count over the limits; 415: a content encoding
//!   or type the endpoint does not read (remote-write: `snappy`; the text endpoints: `gzip`,
//!   decompressed within the same cap); 408: the body was not read within the timeout.
//! - 503 (with `Retry-After`): no place within the timeout, or samples refused because the
//!   store's head is full (they are taken again once windows seal; samples of the request
//!   written already are averaged with their identical copies on the retry, which leaves
//!   their points unchanged).
//! - 500: the store failed (I/O): the sender's retry is right.
//!
//! Every answer carries `X-Tierlog-Samples-Written` and `X-Tierlog-Samples-Refused`; the
//! remote-write one `X-Tierlog-Stale-Markers-Skipped` too.
//!
//! Stale markers (the NaN with bits `0x7ff0000000000002` Prometheus sends when a series
//! disappears) are skipped and counted: the store keeps one point per second, the mean of
//! its samples, so a marker would turn a real sample of its second into NaN and poison the
//! rollups; a vanished series stops being returned once PromQL's lookback (5 min) passes.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;
use tierlog::error::Error as StoreError;
use tierlog::model::{MetricKind, MetricMeta};
use tierlog::store::{Sample, Store, WriteSummary};
use tierlog_prompb::{MetricMetadata, MetricType};
use tierlog_tools::import::ingest::{IngestError, IngestOptions, ingest};
use tierlog_tools::import::{
    Entry, EntrySource, NameCollisions, ParseError, Precision, Skipped, influx::InfluxParser,
    prom::PromParser,
};
use tokio::sync::Semaphore;

use crate::AppState;

/// The bit pattern of Prometheus' stale marker (a NaN).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The limits of the write endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteLimits {
    /// Largest request body as sent (compressed for remote-write), bytes (default 32 MiB).
    pub max_body_bytes: usize,
    /// Largest body once decompressed, bytes (default 128 MiB): remote-write's snappy block
    /// is checked from its header before decompressing; a gzip text body is decompressed
    /// no further than this.
    pub max_decoded_bytes: usize,
    /// Most samples in one request (default 1,000,000; at most the store's
    /// `limits.max_batch_samples`, which applies too).
    pub max_samples: usize,
    /// Most write requests handled at once (default 8); others wait for a place.
    pub max_concurrency: usize,
    /// The longest a request may wait for a place plus take to send its body (default 60 s).
    pub timeout: Duration,
}

impl Default for WriteLimits {
    fn default() -> Self {
        WriteLimits {
            max_body_bytes: 32 << 20,
            max_decoded_bytes: 128 << 20,
            max_samples: 1_000_000,
            max_concurrency: 8,
            timeout: Duration::from_secs(60),
        }
    }
}

impl WriteLimits {
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.max_body_bytes == 0 || self.max_decoded_bytes == 0 || self.max_samples == 0 {
            return Err("the write size limits must be at least 1".into());
        }
        if self.max_concurrency == 0 {
            return Err("the write concurrency must be at least 1".into());
        }
        if self.timeout.is_zero() {
            return Err("the write timeout must be positive".into());
        }
        Ok(())
    }
}

/// What a writable server's write endpoints share.
pub(crate) struct Writer {
    limits: WriteLimits,
    places: Arc<Semaphore>,
}

impl Writer {
    pub(crate) fn new(limits: WriteLimits) -> Writer {
        Writer {
            places: Arc::new(Semaphore::new(limits.max_concurrency)),
            limits,
        }
    }
}

/// How an endpoint writes its error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// Plain text, as Prometheus' `http.Error`.
    Text,
    /// `{"error":"…"}`, as InfluxDB 1.x.
    Influx,
}

/// A failed or partly refused request.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    message: String,
    retry_after: bool,
    counts: Counts,
}

/// What a request wrote and refused.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    written: u64,
    refused: u64,
    stale: u64,
    /// Samples of a remote-write request sent again, already held.
    repeated: u64,
}

impl Failure {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
            retry_after: false,
            counts: Counts::default(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Failure::new(StatusCode::BAD_REQUEST, message)
    }

    fn too_large(message: impl Into<String>) -> Self {
        Failure::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }

    fn busy(message: impl Into<String>) -> Self {
        Failure {
            retry_after: true,
            ..Failure::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }

    fn internal(message: impl Into<String>) -> Self {
        Failure::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    fn render(self, style: Style) -> Response {
        if self.status.is_server_error() && !self.retry_after {
            log::error!("write failed: {}", self.message);
        } else {
            log::warn!("write refused ({}): {}", self.status.as_u16(), self.message);
        }
        let mut resp = match style {
            Style::Text => (self.status, format!("{}\n", self.message)).into_response(),
            Style::Influx => (
                self.status,
                axum::Json(serde_json::json!({ "error": self.message })),
            )
                .into_response(),
        };
        if self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        add_counts(&mut resp, self.counts, style == Style::Text);
        resp
    }
}

fn add_counts(resp: &mut Response, c: Counts, stale: bool) {
    let h = resp.headers_mut();
    h.insert("x-tierlog-samples-written", HeaderValue::from(c.written));
    h.insert("x-tierlog-samples-refused", HeaderValue::from(c.refused));
    if stale {
        h.insert(
            "x-tierlog-stale-markers-skipped",
            HeaderValue::from(c.stale),
        );
        h.insert("x-tierlog-samples-repeated", HeaderValue::from(c.repeated));
    }
}

fn success(c: Counts, stale: bool) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    add_counts(&mut resp, c, stale);
    resp
}

/// The answer to a write that went through: 204, or the refusals of the time rules.
fn answer(sum: &WriteSummary, stale: u64, style: Style) -> Result<Counts, Failure> {
    let counts = Counts {
        written: sum.accepted,
        refused: sum.rejected(),
        stale,
        repeated: sum.repeated,
    };
    let written = format!("the other {} samples were written", sum.accepted);
    if sum.rejected_head_full > 0 {
        return Err(Failure {
            counts,
            ..Failure::busy(format!(
                "{} samples refused: the store's head is full (limits.max_head_bytes) until open windows seal; {written}; retry later",
                sum.rejected()
            ))
        });
    }
    let permanent = sum.rejected_too_old + sum.rejected_too_far_ahead + sum.rejected_conflict;
    if permanent > 0 {
        let detail = format!(
            "too old: {}, too far ahead: {}, conflicting with rollups: {}",
            sum.rejected_too_old, sum.rejected_too_far_ahead, sum.rejected_conflict
        );
        let message = match style {
            Style::Text => format!(
                "out of bounds: {permanent} samples refused by the store's time rules ({detail}); {written}"
            ),
            Style::Influx => format!(
                "partial write: points outside the store's time rules ({detail}); {written} dropped={permanent}"
            ),
        };
        return Err(Failure {
            counts,
            ..Failure::bad(message)
        });
    }
    Ok(counts)
}

/// A store error as an answer: the sender's fault (400) or ours (500).
fn store_failure(e: StoreError, what: impl FnOnce(usize) -> String) -> Failure {
    match e {
        StoreError::InvalidSample { index, reason } => {
            Failure::bad(format!("{}: {reason}; nothing was written", what(index)))
        }
        e @ (StoreError::LimitReached { .. } | StoreError::InvalidMetadata { .. }) => {
            Failure::bad(format!("{e}; nothing was written"))
        }
        e @ StoreError::ReadOnly => Failure::new(StatusCode::FORBIDDEN, e.to_string()),
        e => Failure::internal(e.to_string()),
    }
}

/// The writer, or the answer of a read-only server.
fn writer(st: &AppState, endpoint: &str) -> Result<(), Failure> {
    if st.0.writer.is_some() {
        return Ok(());
    }
    Err(Failure::new(
        StatusCode::NOT_FOUND,
        format!(
            "{endpoint} needs a writable server: start it with `tierlog serve DIR --writable` (ServerConfig::writable)"
        ),
    ))
}

/// A request's `Content-Encoding` (`""` for one that is not text).
fn content_encoding(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or(""))
}

/// Which `Content-Encoding`s an endpoint reads.
fn check_encoding(encoding: Option<&str>, allowed: &[&str]) -> Result<(), Failure> {
    let Some(v) = encoding else {
        return Ok(());
    };
    let v = v.trim().to_ascii_lowercase();
    if v.is_empty() || v == "identity" || allowed.contains(&v.as_str()) {
        return Ok(());
    }
    Err(Failure::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("Content-Encoding {v:?} is not supported here"),
    ))
}

fn is_gzip(encoding: Option<&str>) -> bool {
    encoding.is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"))
}

/// A gzip body decompressed, at most [`WriteLimits::max_decoded_bytes`] of it: decompression
/// stops one byte past the limit, so a gzip bomb costs no more memory than that.
fn gunzip_if(gzip: bool, body: Vec<u8>, limits: &WriteLimits) -> Result<Vec<u8>, Failure> {
    use std::io::Read;
    if !gzip {
        return Ok(body);
    }
    let max = limits.max_decoded_bytes;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(body.as_slice())
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Failure::bad(format!("gzip: {e}")))?;
    if out.len() > max {
        return Err(Failure::too_large(format!(
            "the body decompresses to more than {max} bytes (--write.max-decoded-bytes)"
        )));
    }
    Ok(out)
}

/// Waits for a place and reads the body, within the write timeout.
async fn admit(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(tokio::sync::OwnedSemaphorePermit, Vec<u8>), Failure> {
    let w = st.0.writer.as_ref().expect("checked by writer()");
    let limits = &w.limits;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(body_too_large(limits.max_body_bytes));
    }
    let deadline = tokio::time::Instant::now() + limits.timeout;
    let permit = match tokio::time::timeout_at(deadline, w.places.clone().acquire_owned()).await {
        Ok(Ok(p)) => p,
        Ok(Err(_)) => return Err(Failure::busy("the server is stopping")),
        Err(_) => {
            return Err(Failure::busy(format!(
                "too many write requests in flight (at most {}); retry later",
                limits.max_concurrency
            )));
        }
    };
    match tokio::time::timeout_at(deadline, read_body(body, limits.max_body_bytes)).await {
        Ok(r) => r.map(|b| (permit, b)),
        Err(_) => Err(Failure::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body was not received within {} s",
                limits.timeout.as_secs_f64()
            ),
        )),
    }
}

fn body_too_large(max: usize) -> Failure {
    Failure::too_large(format!("the request body is larger than {max} bytes"))
}

async fn read_body(mut body: Body, max: usize) -> Result<Vec<u8>, Failure> {
    use http_body_util::BodyExt;
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Failure::bad(format!("reading the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > max {
                return Err(body_too_large(max));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// Runs `f` with the store on the blocking pool.
async fn blocking<T: Send + 'static>(
    st: &AppState,
    f: impl FnOnce(&Store, &WriteLimits) -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    let state = st.clone();
    tokio::task::spawn_blocking(move || {
        let w = state.0.writer.as_ref().expect("checked by writer()");
        f(&state.0.snapshots.get(), &w.limits)
    })
    .await
    .map_err(|_| Failure::internal("the write failed (panic)"))?
}

/// `POST /api/v1/write`: Prometheus remote-write 1.0.
pub(crate) async fn remote_write(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async {
        writer(&st, "remote write receiver")?;
        check_encoding(content_encoding(&headers), &["snappy"])?;
        if let Some(t) = headers.get(header::CONTENT_TYPE) {
            let t = t.to_str().unwrap_or("");
            let essence = t.split(';').next().unwrap_or("").trim();
            if !essence.eq_ignore_ascii_case("application/x-protobuf") {
                return Err(Failure::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!(
                        "Content-Type {t:?}: remote write takes application/x-protobuf (remote write 1.0)"
                    ),
                ));
            }
        }
        let (_permit, body) = admit(&st, &headers, body).await?;
        blocking(&st, move |store, limits| write_remote(store, &body, limits)).await
    }
    .await;
    match r {
        Ok(c) => success(c, true),
        Err(f) => f.render(Style::Text),
    }
}

/// Decodes a remote-write body and writes it.
fn write_remote(store: &Store, body: &[u8], limits: &WriteLimits) -> Result<Counts, Failure> {
    let raw = decode_remote(body, limits)?;
    let req = parse_remote(&raw)?;
    let (others, series) = remote_series(&req, limits, &store.config().limits)?;
    let total = req.samples.len();
    let mut samples = Vec::with_capacity(total);
    let mut origin = Vec::with_capacity(total);
    let mut stale = 0u64;
    for (i, ((_, points), (name, labels))) in req.series.iter().zip(&series).enumerate() {
        let labels = &others[labels.clone()];
        for &(ts, value) in &req.samples[points.clone()] {
            if value.to_bits() == STALE_NAN_BITS {
                stale += 1;
                continue;
            }
            samples.push(Sample::new(name, labels, ts, value));
            origin.push(i);
        }
    }
    let mut sum = WriteSummary::default();
    if !samples.is_empty() {
        sum = store
            .write_keyed(request_key(body), &samples)
            .map_err(|e| {
                store_failure(e, |index| {
                    let i = origin.get(index).copied().unwrap_or(0);
                    let labels = req.series.get(i).map_or(0..0, |s| s.0.clone());
                    format!(
                        "series {i} of the request ({})",
                        describe(&req.labels[labels])
                    )
                })
            })?;
    }
    apply_metadata(store, &req.metadata)?;
    answer(&sum, stale, Style::Text)
}

/// The key of a remote-write request: the first 16 bytes of the SHA-256 of its body as
/// received. A sender that gets no answer sends the same body again (Prometheus keeps the
/// request it built and retries it as it is), and the store writes each window's part of it
/// once ([`Store::write_keyed`]). Two different requests with the same body carry the same
/// samples, timestamps included, so writing the second would only repeat the first.
fn request_key(body: &[u8]) -> tierlog::WriteKey {
    let d = ring::digest::digest(&ring::digest::SHA256, body);
    let mut k = [0u8; 16];
    k.copy_from_slice(&d.as_ref()[..16]);
    tierlog::WriteKey(k)
}

/// A remote-write body read in place (see [`RemoteBatch`]).
fn parse_remote(raw: &[u8]) -> Result<RemoteBatch<'_>, Failure> {
    RemoteBatch::parse(raw).map_err(|e| {
        Failure::bad(format!(
            "protobuf: not a remote write 1.0 WriteRequest: {e}"
        ))
    })
}

/// Most samples one request may carry: the write limit, and the store's batch limit.
fn max_samples(limits: &WriteLimits, store: &tierlog::Limits) -> usize {
    limits.max_samples.min(store.max_batch_samples)
}

/// Each series of `req` as the store takes it — its metric name, and the range of its other
/// labels in the returned list — once the request's sample count and every series' names and
/// labels have been checked against the limits (the store's own checks, made here so that a
/// bad series refuses the request before anything is written or allocated per sample).
#[allow(clippy::type_complexity)]
fn remote_series<'a>(
    req: &RemoteBatch<'a>,
    limits: &WriteLimits,
    store: &tierlog::Limits,
) -> Result<(Vec<(&'a str, &'a str)>, Vec<(&'a str, Range<usize>)>), Failure> {
    let total = req.samples.len();
    let max = max_samples(limits, store);
    if total > max {
        return Err(Failure::too_large(format!(
            "{total} samples in one request, more than {max}; send smaller batches"
        )));
    }
    let mut others: Vec<(&str, &str)> = Vec::with_capacity(req.labels.len());
    let mut series: Vec<(&str, Range<usize>)> = Vec::with_capacity(req.series.len());
    for (i, (labels, points)) in req.series.iter().enumerate() {
        let first = others.len();
        let mut name = None;
        for &(k, v) in &req.labels[labels.clone()] {
            if k == "__name__" {
                name = Some(v);
            } else {
                others.push((k, v));
            }
        }
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return Err(Failure::bad(format!(
                "series {i} of the request ({}) has no __name__ label; nothing was written",
                describe(&req.labels[labels.clone()])
            )));
        };
        if req.samples[points.clone()]
            .iter()
            .any(|s| s.1.to_bits() != STALE_NAN_BITS)
            && let Err(reason) = check_series(name, &others[first..], store)
        {
            return Err(Failure::bad(format!(
                "series {i} of the request ({}): {reason}; nothing was written",
                describe(&req.labels[labels.clone()])
            )));
        }
        series.push((name, first..others.len()));
    }
    Ok((others, series))
}

/// A series' name and labels against the store's rules and limits, as its write checks them.
fn check_series<K: AsRef<str>, V: AsRef<str>>(
    metric: &str,
    labels: &[(K, V)],
    store: &tierlog::Limits,
) -> Result<(), tierlog::SampleError> {
    tierlog::model::check_metric_name(metric, store)?;
    tierlog::model::check_label_set(labels, store)
}

/// The body decompressed, its decompressed size checked before decompressing.
fn decode_remote(body: &[u8], limits: &WriteLimits) -> Result<Vec<u8>, Failure> {
    let len = snap::raw::decompress_len(body).map_err(|e| {
        Failure::bad(format!(
            "snappy: {e} (remote write bodies are snappy block-compressed protobuf)"
        ))
    })?;
    if len > limits.max_decoded_bytes {
        return Err(Failure::too_large(format!(
            "the body would decompress to {len} bytes, more than {} (--write.max-decoded-bytes)",
            limits.max_decoded_bytes
        )));
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| Failure::bad(format!("snappy: {e}")))
}

/// A remote-write 1.0 `WriteRequest` (the messages of `tierlog_prompb`) read in place: names
/// and values borrow the decompressed body, and the labels and samples of all series sit in
/// two flat arrays. Decoding into prost's owned messages instead costs two allocations a
/// label and two a series, and as many frees: about a quarter of the server's CPU time for
/// batches of 2000 samples over 200 series. Fields these messages do not define (exemplars,
/// histograms) are skipped, as prost skips them; the metadata, rare, goes through prost.
#[derive(Debug, Default)]
struct RemoteBatch<'a> {
    /// Each series: the range of its labels in `labels` and of its samples in `samples`.
    series: Vec<(Range<usize>, Range<usize>)>,
    /// `(name, value)` of every series' labels, in the order sent.
    labels: Vec<(&'a str, &'a str)>,
    /// `(timestamp ms, value)` of every series' samples, in the order sent.
    samples: Vec<(i64, f64)>,
    metadata: Vec<MetricMetadata>,
}

/// Protobuf wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// A reader of protobuf fields over a message's bytes.
struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for i in 0..10 {
            let (&b, rest) = self.buf.split_first().ok_or("truncated varint")?;
            self.buf = rest;
            if i == 9 && b > 1 {
                return Err("varint overflows 64 bits".into());
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    /// The next field's number and wire type, or `None` at the end.
    fn next(&mut self) -> Result<Option<(u64, u8)>, String> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let (field, wire) = (key >> 3, (key & 7) as u8);
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            return Err(format!("invalid field number {field}"));
        }
        Ok(Some((field, wire)))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.buf.len() {
            return Err(format!(
                "a field of {n} bytes runs past the end of its message ({} bytes left)",
                self.buf.len()
            ));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.varint()?;
        self.take(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn string(&mut self) -> Result<&'a str, String> {
        std::str::from_utf8(self.bytes()?).map_err(|e| format!("a string is not UTF-8: {e}"))
    }

    fn fixed64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// Skips a field this reader does not know.
    fn skip(&mut self, wire: u8) -> Result<(), String> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LEN => self.bytes().map(drop),
            FIXED32 => self.take(4).map(drop),
            w => Err(format!("unsupported wire type {w}")),
        }
    }
}

fn wrong_wire(what: &str, wire: u8) -> String {
    format!("{what} has wire type {wire}")
}

impl<'a> RemoteBatch<'a> {
    fn parse(raw: &'a [u8]) -> Result<RemoteBatch<'a>, String> {
        let mut b = RemoteBatch::default();
        let mut r = Fields { buf: raw };
        while let Some((field, wire)) = r.next()? {
            match (field, wire) {
                (1, LEN) => b.series(r.bytes()?)?,
                (3, LEN) => b.metadata.push(
                    MetricMetadata::decode(r.bytes()?).map_err(|e| format!("metadata: {e}"))?,
                ),
                (1, w) => return Err(wrong_wire("WriteRequest.timeseries", w)),
                (3, w) => return Err(wrong_wire("WriteRequest.metadata", w)),
                (_, w) => r.skip(w)?,
            }
        }
        Ok(b)
    }

    fn series(&mut self, msg: &'a [u8]) -> Result<(), String> {
        let (l0, s0) = (self.labels.len(), self.samples.len());
        let mut r = Fields { buf: msg };
        while let Some((field, wire)) = r.next()? {
            match (field, wire) {
                (1, LEN) => {
                    let mut l = Fields { buf: r.bytes()? };
                    let (mut name, mut value) = ("", "");
                    while let Some((field, wire)) = l.next()? {
                        match (field, wire) {
                            (1, LEN) => name = l.string()?,
                            (2, LEN) => value = l.string()?,
                            (1 | 2, w) => return Err(wrong_wire("a Label's field", w)),
                            (_, w) => l.skip(w)?,
                        }
                    }
                    self.labels.push((name, value));
                }
                (2, LEN) => {
                    let mut s = Fields { buf: r.bytes()? };
                    let (mut value, mut ts) = (0.0, 0i64);
                    while let Some((field, wire)) = s.next()? {
                        match (field, wire) {
                            (1, FIXED64) => value = f64::from_bits(s.fixed64()?),
                            (2, VARINT) => ts = s.varint()? as i64,
                            (1 | 2, w) => return Err(wrong_wire("a Sample's field", w)),
                            (_, w) => s.skip(w)?,
                        }
                    }
                    self.samples.push((ts, value));
                }
                (1, w) => return Err(wrong_wire("TimeSeries.labels", w)),
                (2, w) => return Err(wrong_wire("TimeSeries.samples", w)),
                (_, w) => r.skip(w)?,
            }
        }
        self.series
            .push((l0..self.labels.len(), s0..self.samples.len()));
        Ok(())
    }
}

/// `{a="b", …}` of a series, for messages (at most 200 characters).
fn describe(labels: &[(&str, &str)]) -> String {
    let mut s = String::from("{");
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&format!("{name}={value:?}"));
        if s.len() > 200 {
            let mut cut = 200;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push('…');
            break;
        }
    }
    s.push('}');
    s
}

/// Sets the metadata of counter and gauge families; other kinds (histograms, summaries,
/// whose series have other names than the family) and unknown ones are left alone.
fn apply_metadata(store: &Store, metadata: &[MetricMetadata]) -> Result<(), Failure> {
    let mut any = false;
    for m in metadata {
        let kind = match MetricType::try_from(m.r#type) {
            Ok(MetricType::Counter) => MetricKind::Counter,
            Ok(MetricType::Gauge) => MetricKind::Gauge,
            _ => continue,
        };
        let meta = MetricMeta {
            kind,
            unit: m.unit.clone(),
            description: m.help.clone(),
        };
        match store.set_metric_meta(&m.metric_family_name, meta) {
            Ok(()) => any = true,
            // A name or text the store refuses is not worth failing the samples for.
            Err(e @ (StoreError::InvalidMetadata { .. } | StoreError::LimitReached { .. })) => {
                log::warn!("remote write metadata of {:?}: {e}", m.metric_family_name)
            }
            Err(e) => return Err(Failure::internal(e.to_string())),
        }
    }
    if any && store.config().sync == tierlog::Sync::EveryWrite {
        store.sync().map_err(|e| Failure::internal(e.to_string()))?;
    }
    Ok(())
}

/// A parsed body as an entry source for the importer: parsed whole first, so a malformed line
/// refuses the request before anything is written.
struct Parsed {
    entries: std::vec::IntoIter<(u64, Entry)>,
    /// The body's size decompressed.
    decoded_bytes: usize,
    lines: u64,
    skipped: Skipped,
    collisions: NameCollisions,
}

impl Iterator for Parsed {
    type Item = Result<(u64, Entry), ParseError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.entries.next().map(Ok)
    }
}

impl EntrySource for Parsed {
    fn lines_read(&self) -> u64 {
        self.lines
    }
    fn skipped(&self) -> Skipped {
        self.skipped
    }
    fn name_collisions(&self) -> NameCollisions {
        self.collisions.clone()
    }
    fn set_max_line_bytes(&mut self, _max: usize) {}
}

/// Parses `source` whole: at most `max` samples, each of whose name and labels the store's
/// rules and limits take (checked here, so a bad line refuses the request before anything is
/// written).
fn parse_all<S: EntrySource>(
    mut source: S,
    max: usize,
    store: &tierlog::Limits,
) -> Result<Parsed, Failure> {
    let mut entries = Vec::new();
    let mut samples = 0usize;
    for item in source.by_ref() {
        let (line, e) = item.map_err(|e| match e {
            ParseError::LineTooLong { .. } => Failure::too_large(e.to_string()),
            e => Failure::bad(format!("{e}; nothing was written")),
        })?;
        if let Entry::Sample(s) = &e {
            if let Err(reason) = check_series(&s.metric, &s.labels, store) {
                return Err(Failure::bad(format!(
                    "line {line}: {reason}; nothing was written"
                )));
            }
            samples += 1;
            if samples > max {
                return Err(Failure::too_large(format!(
                    "more than {max} samples in one request (line {line}); send smaller batches"
                )));
            }
        }
        entries.push((line, e));
    }
    Ok(Parsed {
        entries: entries.into_iter(),
        decoded_bytes: 0,
        lines: source.lines_read(),
        skipped: source.skipped(),
        collisions: source.name_collisions(),
    })
}

/// Writes parsed entries through the importer (live: samples without a time get the
/// server's clock; history older than the raw keep goes to the tiers).
fn import(store: &Store, parsed: Parsed, style: Style) -> Result<Counts, Failure> {
    let opts = IngestOptions {
        batch: store.config().limits.max_batch_samples,
        replay: None,
        spill_dir: store.dir().to_owned(),
        sort_memory: 0,
        default_ts: store.config().clock.now_ms(),
        latest: None,
        max_line_bytes: tierlog_tools::import::DEFAULT_MAX_LINE_BYTES,
    };
    let (sum, r) = ingest(store, parsed, &opts);
    match r {
        Ok(()) => {}
        Err(IngestError::Sample { line, reason }) => {
            return Err(Failure::bad(format!(
                "line {line}: {reason}; nothing was written"
            )));
        }
        Err(IngestError::Parse(e)) => return Err(Failure::bad(e.to_string())),
        Err(IngestError::Store(e)) => return Err(store_failure(e, |i| format!("sample {i}"))),
        Err(IngestError::Spill(e)) => return Err(Failure::internal(e.to_string())),
    }
    answer(&sum.written, 0, style)
}

/// Whether a text endpoint's body is gzip (`Content-Encoding: gzip`), or 415.
fn text_encoding(encoding: Option<&str>) -> Result<bool, Failure> {
    check_encoding(encoding, &["gzip"])?;
    Ok(is_gzip(encoding))
}

/// The `precision` of a `/write` query string (`db`, `rp`, `u`, `p` and `consistency` are
/// taken and ignored).
fn influx_precision(query: Option<&str>) -> Result<Precision, Failure> {
    let precision = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "precision")
        .map(|(_, v)| v.into_owned())
        .last();
    Ok(match precision.as_deref().unwrap_or("ns") {
        "" | "n" | "ns" => Precision::Ns,
        "u" | "us" | "µ" => Precision::Us,
        "ms" => Precision::Ms,
        "s" => Precision::S,
        p => {
            return Err(Failure::bad(format!(
                "precision {p:?}: expected ns, us, ms or s"
            )));
        }
    })
}

/// A `/api/v1/import/prometheus` body decompressed and parsed, within the limits.
fn parse_prom(
    body: Vec<u8>,
    gzip: bool,
    limits: &WriteLimits,
    store: &tierlog::Limits,
) -> Result<Parsed, Failure> {
    let body = gunzip_if(gzip, body, limits)?;
    let parsed = parse_all(
        PromParser::new(body.as_slice()),
        max_samples(limits, store),
        store,
    )?;
    Ok(Parsed {
        decoded_bytes: body.len(),
        ..parsed
    })
}

/// A `/write` body decompressed and parsed, within the limits.
fn parse_influx(
    body: Vec<u8>,
    gzip: bool,
    precision: Precision,
    limits: &WriteLimits,
    store: &tierlog::Limits,
) -> Result<Parsed, Failure> {
    let body = gunzip_if(gzip, body, limits)?;
    let parsed = parse_all(
        InfluxParser::new(body.as_slice(), precision),
        max_samples(limits, store),
        store,
    )?;
    Ok(Parsed {
        decoded_bytes: body.len(),
        ..parsed
    })
}

/// `POST /api/v1/import/prometheus`: Prometheus text exposition, with or without timestamps.
pub(crate) async fn import_prometheus(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async {
        writer(&st, "/api/v1/import/prometheus")?;
        let gzip = text_encoding(content_encoding(&headers))?;
        let (_permit, body) = admit(&st, &headers, body).await?;
        blocking(&st, move |store, limits| {
            let parsed = parse_prom(body, gzip, limits, &store.config().limits)?;
            import(store, parsed, Style::Text)
        })
        .await
    }
    .await;
    match r {
        Ok(c) => success(c, false),
        Err(f) => f.render(Style::Text),
    }
}

/// `POST /write?precision=…`: InfluxDB 1.x line protocol.
pub(crate) async fn influx_write(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async {
        writer(&st, "/write")?;
        let precision = influx_precision(query.as_deref())?;
        let gzip = text_encoding(content_encoding(&headers))?;
        let (_permit, body) = admit(&st, &headers, body).await?;
        blocking(&st, move |store, limits| {
            let parsed = parse_influx(body, gzip, precision, limits, &store.config().limits)?;
            import(store, parsed, Style::Influx)
        })
        .await
    }
    .await;
    match r {
        Ok(c) => success(c, false),
        Err(f) => f.render(Style::Influx),
    }
}

/// Decode-only entry points of the write endpoints, for the fuzz targets
/// (`tierlog_testkit::fuzzing`): no store, no HTTP. Each takes a body as its endpoint receives
/// it and runs what the endpoint runs before the store: the content encoding's check,
/// decompression within [`WriteLimits::max_decoded_bytes`], decoding, the sample count limit
/// and the store's name and label rules and limits. Not a stable API.
#[doc(hidden)]
pub mod decode {
    use super::*;

    /// What a body decodes to: the samples the endpoint would hand the store.
    #[derive(Debug)]
    pub struct Decoded {
        /// The body's size once decompressed.
        pub decoded_bytes: usize,
        /// The samples, in body order (stale markers left out).
        pub samples: Vec<DecodedSample>,
        /// Stale markers skipped (remote-write).
        pub stale_markers: u64,
    }

    /// One sample to write.
    #[derive(Debug)]
    pub struct DecodedSample {
        /// The metric name.
        pub metric: String,
        /// The other labels, as the body gave them.
        pub labels: Vec<(String, String)>,
        /// The time, ms; `None` for the server's clock (text formats without a time).
        pub ts_ms: Option<i64>,
        /// The value.
        pub value: f64,
    }

    /// A refused body: the status the endpoint answers, and why.
    #[derive(Debug)]
    pub struct Refused {
        /// The HTTP status.
        pub status: u16,
        /// The answer's message.
        pub message: String,
    }

    impl From<Failure> for Refused {
        fn from(f: Failure) -> Self {
            Refused {
                status: f.status.as_u16(),
                message: f.message,
            }
        }
    }

    /// `POST /api/v1/write`'s decoding.
    pub fn remote_write(
        content_encoding: Option<&str>,
        body: &[u8],
        limits: &WriteLimits,
        store: &tierlog::Limits,
    ) -> Result<Decoded, Refused> {
        check_encoding(content_encoding, &["snappy"])?;
        let raw = decode_remote(body, limits)?;
        let req = parse_remote(&raw)?;
        let (others, series) = remote_series(&req, limits, store)?;
        let mut out = Decoded {
            decoded_bytes: raw.len(),
            samples: Vec::new(),
            stale_markers: 0,
        };
        for ((_, points), (name, labels)) in req.series.iter().zip(&series) {
            for &(ts, value) in &req.samples[points.clone()] {
                if value.to_bits() == STALE_NAN_BITS {
                    out.stale_markers += 1;
                    continue;
                }
                out.samples.push(DecodedSample {
                    metric: (*name).to_owned(),
                    labels: others[labels.clone()]
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                    ts_ms: Some(ts),
                    value,
                });
            }
        }
        Ok(out)
    }

    /// `POST /api/v1/import/prometheus`'s decoding.
    pub fn prometheus_text(
        content_encoding: Option<&str>,
        body: &[u8],
        limits: &WriteLimits,
        store: &tierlog::Limits,
    ) -> Result<Decoded, Refused> {
        let gzip = text_encoding(content_encoding)?;
        Ok(decoded(parse_prom(body.to_vec(), gzip, limits, store)?))
    }

    /// `POST /write?<query>`'s decoding.
    pub fn influx(
        query: Option<&str>,
        content_encoding: Option<&str>,
        body: &[u8],
        limits: &WriteLimits,
        store: &tierlog::Limits,
    ) -> Result<Decoded, Refused> {
        let precision = influx_precision(query)?;
        let gzip = text_encoding(content_encoding)?;
        Ok(decoded(parse_influx(
            body.to_vec(),
            gzip,
            precision,
            limits,
            store,
        )?))
    }

    fn decoded(parsed: Parsed) -> Decoded {
        Decoded {
            decoded_bytes: parsed.decoded_bytes,
            samples: parsed
                .entries
                .filter_map(|(_, e)| match e {
                    Entry::Sample(s) => Some(DecodedSample {
                        metric: s.metric,
                        labels: s.labels,
                        ts_ms: s.ts_ms,
                        value: s.value,
                    }),
                    _ => None,
                })
                .collect(),
            stale_markers: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snappy_bomb_is_refused_from_its_header() {
        // A snappy block starts with its decompressed length as a varint: 1 GiB here,
        // followed by nothing.
        let mut body = Vec::new();
        let mut n: u64 = 1 << 30;
        while n >= 0x80 {
            body.push((n as u8) | 0x80);
            n >>= 7;
        }
        body.push(n as u8);
        let f = decode_remote(&body, &WriteLimits::default()).unwrap_err();
        assert_eq!(f.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(f.message.contains("1073741824"), "{}", f.message);
    }

    /// A request with what senders put in it: several series, a negative timestamp, a NaN,
    /// non-ASCII text, an empty label value, metadata, and fields the messages do not define
    /// (exemplars, a histogram) at every level.
    fn sample_request() -> (tierlog_prompb::WriteRequest, Vec<u8>) {
        use tierlog_prompb::{Label, ProtoSample, TimeSeries, WriteRequest};
        let label = |n: &str, v: &str| Label {
            name: n.into(),
            value: v.into(),
        };
        let req = WriteRequest {
            timeseries: vec![
                TimeSeries {
                    labels: vec![
                        label("__name__", "node_load1"),
                        label("host", "höst-1"),
                        label("empty", ""),
                    ],
                    samples: vec![
                        ProtoSample {
                            value: 0.5,
                            timestamp: 1_700_000_000_000,
                        },
                        ProtoSample {
                            value: f64::from_bits(STALE_NAN_BITS),
                            timestamp: -5,
                        },
                    ],
                },
                TimeSeries {
                    labels: vec![label("__name__", "up")],
                    samples: vec![],
                },
                TimeSeries {
                    labels: vec![],
                    samples: vec![ProtoSample {
                        value: -2.5e-300,
                        timestamp: i64::MIN,
                    }],
                },
            ],
            metadata: vec![MetricMetadata {
                r#type: MetricType::Gauge as i32,
                metric_family_name: "node_load1".into(),
                help: "1m load average".into(),
                unit: String::new(),
            }],
        };
        let mut raw = Vec::new();
        // An unknown varint field first, then the request, then an unknown
        // length-delimited field (as remote write 1.1's fields would be).
        raw.extend_from_slice(&[0x20, 0x96, 0x01]);
        req.encode(&mut raw).unwrap();
        raw.extend_from_slice(&[0x2a, 0x02, 0xff, 0xfe]);
        (req, raw)
    }

    #[test]
    fn remote_batch_reads_what_prost_reads() {
        let (sent, raw) = sample_request();
        let req = tierlog_prompb::WriteRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(req.timeseries.len(), sent.timeseries.len());
        let b = RemoteBatch::parse(&raw).unwrap();
        assert_eq!(b.series.len(), req.timeseries.len());
        for ((labels, samples), ts) in b.series.iter().zip(&req.timeseries) {
            let want: Vec<(&str, &str)> = ts
                .labels
                .iter()
                .map(|l| (l.name.as_str(), l.value.as_str()))
                .collect();
            assert_eq!(&b.labels[labels.clone()], want.as_slice());
            let got: Vec<(i64, u64)> = b.samples[samples.clone()]
                .iter()
                .map(|&(t, v)| (t, v.to_bits()))
                .collect();
            let want: Vec<(i64, u64)> = ts
                .samples
                .iter()
                .map(|s| (s.timestamp, s.value.to_bits()))
                .collect();
            assert_eq!(got, want);
        }
        assert_eq!(b.metadata, req.metadata);
    }

    #[test]
    fn remote_batch_refuses_what_prost_refuses() {
        let (_, raw) = sample_request();
        // Every truncation of the body that prost refuses is refused, and none panics.
        for n in 0..raw.len() {
            let prost = tierlog_prompb::WriteRequest::decode(&raw[..n]);
            let ours = RemoteBatch::parse(&raw[..n]);
            assert_eq!(ours.is_err(), prost.is_err(), "first {n} bytes: {ours:?}");
        }
        let bad: &[(&str, &[u8])] = &[
            // A series with a label whose name is not UTF-8.
            (
                "not UTF-8",
                &[0x0a, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0xc3, 0x28],
            ),
            // The series field as a varint.
            ("wire type", &[0x08, 0x01]),
            // A sample's value as a varint.
            ("wire type", &[0x0a, 0x04, 0x12, 0x02, 0x08, 0x01]),
            // Field number 0.
            ("field number", &[0x02, 0x00]),
            // An 11-byte varint.
            (
                "varint",
                &[
                    0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ],
            ),
            // A length past the end.
            ("past the end", &[0x0a, 0x05, 0x0a]),
        ];
        for (what, body) in bad {
            assert!(
                tierlog_prompb::WriteRequest::decode(*body).is_err(),
                "prost refuses {body:?}"
            );
            let e = RemoteBatch::parse(body).unwrap_err();
            assert!(e.contains(what), "{body:?}: {e}");
        }
    }

    #[test]
    fn describe_cuts_long_text_on_a_character_boundary() {
        let value = "é".repeat(150);
        let d = describe(&[("ab", &value)]);
        assert!(d.ends_with("…}"), "{d}");
        assert!(d.len() <= 200 + "…}".len(), "{d}");
    }

    fn snappy(raw: &[u8]) -> Vec<u8> {
        snap::raw::Encoder::new().compress_vec(raw).unwrap()
    }

    fn series(labels: &[(&str, &str)], samples: &[(f64, i64)]) -> tierlog_prompb::TimeSeries {
        tierlog_prompb::TimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| tierlog_prompb::Label {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
            samples: samples
                .iter()
                .map(|&(value, timestamp)| tierlog_prompb::ProtoSample { value, timestamp })
                .collect(),
        }
    }

    fn request(timeseries: Vec<tierlog_prompb::TimeSeries>) -> Vec<u8> {
        snappy(
            &tierlog_prompb::WriteRequest {
                timeseries,
                ..Default::default()
            }
            .encode_to_vec(),
        )
    }

    #[test]
    fn remote_write_decoding_checks_names_labels_and_counts() {
        let store = tierlog::Limits {
            max_labels: 1,
            ..tierlog::Limits::default()
        };
        let limits = WriteLimits::default();
        let stale = f64::from_bits(STALE_NAN_BITS);
        let body = request(vec![
            series(&[("__name__", "up"), ("job", "a")], &[(1.0, 5), (stale, 6)]),
            // Too many labels, but only a stale marker: nothing of it is written.
            series(&[("__name__", "up"), ("a", "1"), ("b", "2")], &[(stale, 6)]),
        ]);
        let d = decode::remote_write(Some("snappy"), &body, &limits, &store).unwrap();
        assert_eq!(d.samples.len(), 1);
        assert_eq!(d.stale_markers, 2);
        assert_eq!(d.samples[0].labels, [("job".to_owned(), "a".to_owned())]);
        let body = request(vec![
            series(&[("__name__", "up")], &[(1.0, 5)]),
            series(&[("__name__", "up"), ("a", "1"), ("b", "2")], &[(1.0, 6)]),
        ]);
        let e = decode::remote_write(None, &body, &limits, &store).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.message.contains("series 1") && e.message.contains("labels"),
            "{}",
            e.message
        );
        let body = request(vec![series(
            &[("__name__", "up"), ("0x", "1")],
            &[(1.0, 6)],
        )]);
        let e = decode::remote_write(None, &body, &limits, &store).unwrap_err();
        assert_eq!(e.status, 400, "{}", e.message);
        let small = WriteLimits {
            max_samples: 1,
            ..WriteLimits::default()
        };
        let body = request(vec![series(&[("__name__", "up")], &[(1.0, 5), (2.0, 6)])]);
        let e = decode::remote_write(None, &body, &small, &store).unwrap_err();
        assert_eq!(e.status, 413, "{}", e.message);
        let e = decode::remote_write(Some("gzip"), &body, &limits, &store).unwrap_err();
        assert_eq!(e.status, 415, "{}", e.message);
    }

    #[test]
    fn text_decoding_limits_the_gzip_body_and_checks_labels() {
        use std::io::Write as _;
        let store = tierlog::Limits {
            max_value_bytes: 4,
            ..tierlog::Limits::default()
        };
        let limits = WriteLimits {
            max_decoded_bytes: 1000,
            ..WriteLimits::default()
        };
        let gzip = |b: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(b).unwrap();
            e.finish().unwrap()
        };
        let d =
            decode::prometheus_text(Some("gzip"), &gzip(b"a{x=\"abcd\"} 1 2\n"), &limits, &store)
                .unwrap();
        assert_eq!(d.samples.len(), 1);
        assert_eq!(d.samples[0].ts_ms, Some(2));
        assert_eq!(d.decoded_bytes, 16);
        let e =
            decode::prometheus_text(None, b"a 1\na{x=\"abcde\"} 1\n", &limits, &store).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.starts_with("line 2:"), "{}", e.message);
        // A gzip bomb stops at the limit.
        let e = decode::prometheus_text(Some("gzip"), &gzip(&[b'#'; 5000]), &limits, &store)
            .unwrap_err();
        assert_eq!(e.status, 413, "{}", e.message);
        let e = decode::influx(None, Some("br"), b"m v=1", &limits, &store).unwrap_err();
        assert_eq!(e.status, 415, "{}", e.message);
    }

    #[test]
    fn influx_decoding_takes_each_precision() {
        let (limits, store) = (WriteLimits::default(), tierlog::Limits::default());
        for (q, ts) in [
            (None, 1_000),
            (Some("precision=ns"), 1_000),
            (Some("db=x&precision=u"), 1_000_000),
            (Some("precision=%C2%B5"), 1_000_000),
            (Some("precision=ms"), 1_000_000_000),
            (Some("precision=s"), 1_000_000_000_000),
        ] {
            let d = decode::influx(q, None, b"m,h=a v=2 1000000000", &limits, &store).unwrap();
            assert_eq!(d.samples.len(), 1, "{q:?}");
            assert_eq!(d.samples[0].ts_ms, Some(ts), "{q:?}");
        }
        let e = decode::influx(Some("precision=h"), None, b"", &limits, &store).unwrap_err();
        assert_eq!(e.status, 400);
    }

    #[test]
    fn limits_are_checked() {
        assert!(WriteLimits::default().check().is_ok());
        let l = WriteLimits {
            max_concurrency: 0,
            ..WriteLimits::default()
        };
        assert!(l.check().is_err());
    }
}
