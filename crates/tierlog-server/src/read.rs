//! `POST /api/v1/read`: Prometheus remote read, so that a Prometheus with `remote_read`
//! pointed at the server evaluates PromQL over the store's history.
//!
//! The request is a snappy block-compressed protobuf `ReadRequest` (`Content-Type:
//! application/x-protobuf`). Each query selects series by its matchers (`=`, `!=`, `=~`,
//! `!~`, on any label, `__name__` included; regexes anchored at both ends, as Prometheus
//! anchors them) and asks for their samples with `start <= t <= end` (both ends inclusive).
//! The response type is the first of the request's `accepted_response_types` the server
//! speaks (`SAMPLES` for an empty list, which is what Prometheus 2.42 sends):
//!
//! - `SAMPLES`: a snappy-compressed `ReadResponse` (`Content-Type: application/x-protobuf`,
//!   `Content-Encoding: snappy`), one result per query in the request's order, each series with
//!   its labels sorted by name (`__name__` included) and its samples in time order.
//! - `STREAMED_XOR_CHUNKS` (what later Prometheus versions ask for first): `Content-Type:
//!   application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse`, frames of
//!   `uvarint(length) ++ CRC-32C(message) as big-endian u32 ++ ChunkedReadResponse`, the
//!   queries in order, each query's series sorted by labels as Prometheus sorts them, one
//!   series a frame (split over more frames beyond [`MAX_FRAME_BYTES`]), its samples in
//!   Prometheus' XOR chunks of at most 120 samples (`read/xor.rs` has the layout). The frames
//!   are encoded whole before the answer starts, so a refusal still gets its status.
//!
//! The samples are the raw tier's points (one per second, the mean of the samples written in
//! it): a range older than [`tierlog::Store::raw_from`] holds nothing any more, so a read of
//! it returns only what raw still holds (nothing, for a range wholly expired). The rollup
//! tiers are not returned: a bucket is not a sample, and Prometheus would take it for one.
//!
//! Limits: the body (at most [`MAX_READ_BODY_BYTES`], and [`MAX_READ_DECODED_BYTES`]
//! decompressed, checked from the snappy header before decompressing); the samples of all the
//! request's queries together (at most [`crate::ServerConfig::max_samples`], as Prometheus'
//! `--storage.remote.read-sample-limit`, default 5e7 too: beyond it the request is refused
//! with 400 and the reason); the time (a read shares the query pool's places and its
//! [`crate::ServerConfig::query_timeout`]). Errors are plain text, as Prometheus' handler
//! writes them: 400 for a body that does not decode, an unknown matcher type, a bad regex or
//! label name, no response type the server speaks, or too many samples; 413 for a body over
//! the limits; 415 for another content type or encoding; 503 when the read timed out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;
use tierlog::{MatchOp, Matcher, Selector, Store};
use tierlog_prompb::{
    Chunk, ChunkEncoding, ChunkedReadResponse, ChunkedSeries, Label, MatchType, ProtoSample, Query,
    QueryResult, ReadRequest, ReadResponse, ResponseType, TimeSeries,
};

use crate::AppState;

mod xor;

/// Largest message of a streamed frame before a series' chunks go on in the next frame, bytes
/// (Prometheus' `--storage.remote.read-max-bytes-in-frame` default).
pub(crate) const MAX_FRAME_BYTES: usize = 1 << 20;

/// `Content-Type` of the streamed response.
pub(crate) const STREAMED_CONTENT_TYPE: &str =
    "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";

/// Largest remote-read request body as sent (snappy-compressed), bytes. A request is queries
/// and their matchers: Prometheus' are a few hundred bytes.
pub(crate) const MAX_READ_BODY_BYTES: usize = 4 << 20;

/// Largest remote-read request body once decompressed, bytes.
pub(crate) const MAX_READ_DECODED_BYTES: usize = 16 << 20;

/// How long after its deadline a read that has not stopped is answered with a timeout anyway.
const DEADLINE_GRACE: Duration = Duration::from_secs(1);

/// A refused read: the status and the reason, sent as text.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Refusal {
            status,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Refusal::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            log::warn!("remote read failed: {}", self.message);
        }
        (self.status, format!("{}\n", self.message)).into_response()
    }
}

/// What bounds one read while it runs.
pub(crate) struct Budget {
    /// Most samples over all the request's queries.
    pub(crate) max_samples: usize,
    /// When to give up.
    pub(crate) deadline: Option<Instant>,
    /// Set when the client went away.
    pub(crate) cancel: Option<Arc<AtomicBool>>,
}

impl Budget {
    fn check(&self) -> Result<(), Refusal> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "remote read timed out (--query.timeout)",
            ));
        }
        if self
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            return Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "remote read canceled: the client went away",
            ));
        }
        Ok(())
    }
}

/// Sets a read's cancel flag when its request future is dropped before the answer.
struct CancelOnDrop(Option<Arc<AtomicBool>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

/// `POST /api/v1/read`.
pub(crate) async fn remote_read(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match read(st, headers, body).await {
        Ok(r) => r,
        Err(f) => f.into_response(),
    }
}

async fn read(st: AppState, headers: HeaderMap, body: Body) -> Result<Response, Refusal> {
    check_headers(&headers)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_READ_BODY_BYTES as u64) {
        return Err(body_too_large());
    }
    let deadline = Instant::now() + st.0.query_timeout;
    let permit = match tokio::time::timeout_at(
        deadline.into(),
        st.0.queries.clone().acquire_owned(),
    )
    .await
    {
        Ok(Ok(p)) => p,
        Ok(Err(_)) => {
            return Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is stopping",
            ));
        }
        Err(_) => {
            return Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "remote read timed out waiting for a place in the query pool",
            ));
        }
    };
    let body = match tokio::time::timeout_at(deadline.into(), read_body(body)).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(Refusal::new(
                StatusCode::REQUEST_TIMEOUT,
                "the request body was not received in time",
            ));
        }
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let mut guard = CancelOnDrop(Some(cancel.clone()));
    let budget = Budget {
        max_samples: st.0.max_samples,
        deadline: Some(deadline),
        cancel: Some(cancel),
    };
    let state = st.clone();
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let started = Instant::now();
        let store = state.0.snapshots.get();
        let r = decode_request(&body).and_then(|req| answer(&store, &req, &budget));
        state.0.metrics.query.observe(started.elapsed());
        r
    });
    let r = tokio::time::timeout_at((deadline + DEADLINE_GRACE).into(), task).await;
    guard.0 = None;
    match r {
        Err(_) => Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "remote read timed out (--query.timeout)",
        )),
        Ok(Err(_)) => Err(Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the read failed (panic)",
        )),
        Ok(Ok(r)) => r,
    }
}

/// Only snappy-compressed protobuf is read.
fn check_headers(headers: &HeaderMap) -> Result<(), Refusal> {
    if let Some(v) = headers.get(header::CONTENT_ENCODING) {
        let v = v.to_str().unwrap_or("?").trim().to_ascii_lowercase();
        if !matches!(v.as_str(), "" | "identity" | "snappy") {
            return Err(Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Encoding {v:?}: remote read bodies are snappy block-compressed protobuf"
                ),
            ));
        }
    }
    if let Some(t) = headers.get(header::CONTENT_TYPE) {
        let t = t.to_str().unwrap_or("");
        let essence = t.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/x-protobuf") {
            return Err(Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Type {t:?}: remote read takes application/x-protobuf"),
            ));
        }
    }
    Ok(())
}

fn body_too_large() -> Refusal {
    Refusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body is larger than {MAX_READ_BODY_BYTES} bytes"),
    )
}

async fn read_body(mut body: Body) -> Result<Vec<u8>, Refusal> {
    use http_body_util::BodyExt;
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Refusal::bad(format!("reading the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > MAX_READ_BODY_BYTES {
                return Err(body_too_large());
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// The body as a `ReadRequest`, its decompressed size checked before decompressing.
pub(crate) fn decode_request(body: &[u8]) -> Result<ReadRequest, Refusal> {
    let len = snap::raw::decompress_len(body).map_err(|e| {
        Refusal::bad(format!(
            "snappy: {e} (remote read bodies are snappy block-compressed protobuf)"
        ))
    })?;
    if len > MAX_READ_DECODED_BYTES {
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body would decompress to {len} bytes, more than {MAX_READ_DECODED_BYTES}"),
        ));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| Refusal::bad(format!("snappy: {e}")))?;
    ReadRequest::decode(raw.as_slice())
        .map_err(|e| Refusal::bad(format!("protobuf: not a remote read ReadRequest: {e}")))
}

/// The response type to answer with: the first of the client's list the server speaks
/// (Prometheus' rule), [`ResponseType::Samples`] for an empty list.
fn negotiate(accepted: &[i32]) -> Result<ResponseType, Refusal> {
    if accepted.is_empty() {
        return Ok(ResponseType::Samples);
    }
    accepted
        .iter()
        .find_map(|&t| ResponseType::try_from(t).ok())
        .ok_or_else(|| {
            Refusal::bad(format!(
                "none of the accepted response types {accepted:?} is supported (this server answers SAMPLES = 0 and STREAMED_XOR_CHUNKS = 1)"
            ))
        })
}

/// A query's matchers as a store selector.
pub(crate) fn selector(q: &Query) -> Result<Selector, Refusal> {
    let mut sel = Selector {
        metric: None,
        matchers: Vec::new(),
    };
    for m in &q.matchers {
        let op = match MatchType::try_from(m.r#type) {
            Ok(MatchType::Eq) => MatchOp::Eq,
            Ok(MatchType::Neq) => MatchOp::Ne,
            Ok(MatchType::Re) => MatchOp::Re,
            Ok(MatchType::Nre) => MatchOp::Nre,
            Err(_) => {
                return Err(Refusal::bad(format!(
                    "matcher {}: unknown matcher type {}",
                    m.name, m.r#type
                )));
            }
        };
        let matcher = Matcher::new(&m.name, op, &m.value)
            .map_err(|e| Refusal::bad(format!("matcher {} {op} {:?}: {e}", m.name, m.value)))?;
        sel = sel.with(matcher);
    }
    Ok(sel)
}

/// The series of one query: labels sorted by name (`__name__` among them), the raw points
/// with `start <= t <= end`. Counts the samples against `budget`.
pub(crate) fn query_series(
    store: &Store,
    q: &Query,
    budget: &Budget,
    samples: &mut usize,
    mut each: impl FnMut(Vec<Label>, Vec<(i64, f64)>),
) -> Result<(), Refusal> {
    let sel = selector(q)?;
    let (start, end) = (q.start_timestamp_ms, q.end_timestamp_ms);
    if end < start {
        return Ok(());
    }
    let mut it = store
        .query_iter(&sel, start, end.saturating_add(1))
        .map_err(|e| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    for sp in it.by_ref() {
        budget.check()?;
        *samples += sp.points.len();
        if *samples > budget.max_samples {
            return Err(Refusal::bad(format!(
                "exceeded sample limit ({}): the queries select more samples than the server's \
                 --query.max-samples; narrow the time range or the matchers",
                budget.max_samples
            )));
        }
        let mut labels: Vec<Label> = Vec::with_capacity(sp.labels.len() + 1);
        labels.push(Label {
            name: tierlog_promql::METRIC_NAME.to_owned(),
            value: sp.metric,
        });
        labels.extend(sp.labels.iter().map(|(k, v)| Label {
            name: k.to_owned(),
            value: v.to_owned(),
        }));
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        each(labels, sp.points);
    }
    for w in it.warnings() {
        log::warn!("remote read of {sel}: {w}");
    }
    Ok(())
}

/// The answer to a decoded request: status, headers and body.
pub(crate) fn answer(
    store: &Store,
    req: &ReadRequest,
    budget: &Budget,
) -> Result<Response, Refusal> {
    match negotiate(&req.accepted_response_types)? {
        ResponseType::StreamedXorChunks => {
            let body = streamed_response(store, req, budget)?;
            Ok((
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(STREAMED_CONTENT_TYPE),
                )],
                body,
            )
                .into_response())
        }
        ResponseType::Samples => {
            let resp = samples_response(store, req, budget)?;
            let body = tierlog_prompb::encode_snappy(&resp);
            Ok((
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/x-protobuf"),
                    ),
                    (header::CONTENT_ENCODING, HeaderValue::from_static("snappy")),
                ],
                body,
            )
                .into_response())
        }
    }
}

/// The `SAMPLES` response: one result per query.
pub(crate) fn samples_response(
    store: &Store,
    req: &ReadRequest,
    budget: &Budget,
) -> Result<ReadResponse, Refusal> {
    let mut samples = 0usize;
    let mut results = Vec::with_capacity(req.queries.len());
    for q in &req.queries {
        let mut timeseries = Vec::new();
        query_series(store, q, budget, &mut samples, |labels, points| {
            timeseries.push(TimeSeries {
                labels,
                samples: points
                    .into_iter()
                    .map(|(t, v)| ProtoSample {
                        value: v,
                        timestamp: t,
                    })
                    .collect(),
            })
        })?;
        results.push(QueryResult { timeseries });
    }
    Ok(ReadResponse { results })
}

/// Prometheus' order of label sets: label by label, name then value; a prefix first.
fn compare_labels(a: &[Label], b: &[Label]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = x.name.cmp(&y.name).then_with(|| x.value.cmp(&y.value));
        if o.is_ne() {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// The `STREAMED_XOR_CHUNKS` response: for each query in order, its series sorted by labels
/// (as Prometheus' streaming reader needs them), each in frames of at most about
/// [`MAX_FRAME_BYTES`] holding XOR chunks of at most 120 samples. Encoded whole before it is
/// sent (a few bytes a sample), so that a refusal keeps its status.
pub(crate) fn streamed_response(
    store: &Store,
    req: &ReadRequest,
    budget: &Budget,
) -> Result<Vec<u8>, Refusal> {
    streamed_response_in(store, req, budget, MAX_FRAME_BYTES)
}

fn streamed_response_in(
    store: &Store,
    req: &ReadRequest,
    budget: &Budget,
    max_frame: usize,
) -> Result<Vec<u8>, Refusal> {
    let mut samples = 0usize;
    let mut out = Vec::new();
    for (index, q) in req.queries.iter().enumerate() {
        let mut series: Vec<(Vec<Label>, Vec<Chunk>)> = Vec::new();
        query_series(store, q, budget, &mut samples, |labels, points| {
            let chunks = points
                .chunks(xor::MAX_SAMPLES_PER_CHUNK)
                .map(|c| Chunk {
                    min_time_ms: c[0].0,
                    max_time_ms: c[c.len() - 1].0,
                    r#type: ChunkEncoding::Xor as i32,
                    data: xor::encode_chunk(c),
                })
                .collect();
            series.push((labels, chunks));
        })?;
        series.sort_by(|a, b| compare_labels(&a.0, &b.0));
        for (labels, chunks) in series {
            let room =
                max_frame.saturating_sub(labels.iter().map(Message::encoded_len).sum::<usize>());
            let mut frame: Vec<Chunk> = Vec::new();
            let mut used = 0usize;
            let n = chunks.len();
            for (i, c) in chunks.into_iter().enumerate() {
                used += c.encoded_len();
                frame.push(c);
                if used < room && i + 1 < n {
                    continue;
                }
                let msg = ChunkedReadResponse {
                    chunked_series: vec![ChunkedSeries {
                        labels: labels.clone(),
                        chunks: std::mem::take(&mut frame),
                    }],
                    query_index: index as i64,
                };
                tierlog_prompb::push_frame(&mut out, &msg.encode_to_vec());
                used = 0;
            }
        }
    }
    Ok(out)
}

/// The remote read endpoint's work without HTTP, for fuzzing: a body decoded and answered
/// from a store, as the handler does once the body is read. Not a stable API.
#[doc(hidden)]
pub mod decode {
    use super::*;

    /// An answer: its body, and whether it is the streamed (framed XOR chunks) kind.
    #[derive(Debug)]
    pub struct Answer {
        /// `STREAMED_XOR_CHUNKS` frames (true), or a snappy `ReadResponse` (false).
        pub streamed: bool,
        /// The response body.
        pub body: Vec<u8>,
    }

    /// A refused request: the status the endpoint answers, and why.
    #[derive(Debug)]
    pub struct Refused {
        /// The HTTP status.
        pub status: u16,
        /// The answer's message.
        pub message: String,
    }

    impl From<Refusal> for Refused {
        fn from(r: Refusal) -> Self {
            Refused {
                status: r.status.as_u16(),
                message: r.message,
            }
        }
    }

    /// Most bytes a request body may have (the endpoint answers 413 beyond).
    pub const MAX_BODY_BYTES: usize = MAX_READ_BODY_BYTES;

    /// `body` (snappy-compressed `ReadRequest`) answered from `store`, at most `max_samples`
    /// samples over all its queries; no deadline.
    pub fn remote_read(store: &Store, body: &[u8], max_samples: usize) -> Result<Answer, Refused> {
        let req = decode_request(body)?;
        let budget = Budget {
            max_samples,
            deadline: None,
            cancel: None,
        };
        Ok(match negotiate(&req.accepted_response_types)? {
            ResponseType::StreamedXorChunks => Answer {
                streamed: true,
                body: streamed_response(store, &req, &budget)?,
            },
            ResponseType::Samples => Answer {
                streamed: false,
                body: tierlog_prompb::encode_snappy(&samples_response(store, &req, &budget)?),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tierlog::{Config, ManualClock, Sample};

    use std::time::Duration;
    use tierlog_prompb::LabelMatcher;

    use super::*;

    const NOW: i64 = 1_700_000_400_000;

    fn store(dir: &std::path::Path) -> Store {
        let s = Store::open(
            dir,
            Config::default().with_clock(Arc::new(ManualClock::new(NOW))),
        )
        .unwrap();
        let mut batch = Vec::new();
        for k in 0..10 {
            let t = NOW - 60_000 + k * 1000;
            batch.push(Sample::new("up", &[("job", "a"), ("Zone", "x")], t, 1.0));
            batch.push(Sample::new("up", &[("job", "b")], t, 0.0));
            batch.push(Sample::new("load", &[("job", "a")], t, k as f64));
        }
        s.write(&batch).unwrap();
        s
    }

    fn m(t: MatchType, name: &str, value: &str) -> LabelMatcher {
        LabelMatcher {
            r#type: t as i32,
            name: name.into(),
            value: value.into(),
        }
    }

    fn q(start: i64, end: i64, matchers: Vec<LabelMatcher>) -> Query {
        Query {
            start_timestamp_ms: start,
            end_timestamp_ms: end,
            matchers,
            hints: None,
        }
    }

    fn budget(max: usize) -> Budget {
        Budget {
            max_samples: max,
            deadline: None,
            cancel: None,
        }
    }

    fn read(s: &Store, queries: Vec<Query>) -> Result<ReadResponse, Refusal> {
        samples_response(
            s,
            &ReadRequest {
                queries,
                accepted_response_types: vec![],
            },
            &budget(1000),
        )
    }

    /// `name{k="v",…}` of each series of a result, with its sample count.
    fn shapes(r: &QueryResult) -> Vec<(String, usize)> {
        r.timeseries
            .iter()
            .map(|ts| {
                let l: Vec<String> = ts
                    .labels
                    .iter()
                    .map(|l| format!("{}={}", l.name, l.value))
                    .collect();
                (l.join(","), ts.samples.len())
            })
            .collect()
    }

    #[test]
    fn matchers_of_all_four_types_select_series() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let (a, b) = (NOW - 60_000, NOW);
        let r = read(
            &s,
            vec![
                q(a, b, vec![m(MatchType::Eq, "__name__", "up")]),
                q(
                    a,
                    b,
                    vec![
                        m(MatchType::Eq, "__name__", "up"),
                        m(MatchType::Neq, "job", "a"),
                    ],
                ),
                q(a, b, vec![m(MatchType::Re, "__name__", "lo.*|u")]),
                q(
                    a,
                    b,
                    vec![
                        m(MatchType::Nre, "__name__", "u.*"),
                        m(MatchType::Re, "job", ".+"),
                    ],
                ),
                q(a, b, vec![m(MatchType::Eq, "job", "a")]),
                q(a, b, vec![m(MatchType::Eq, "__name__", "nosuch")]),
                // A missing label is "": `Zone=""` picks the series without it.
                q(
                    a,
                    b,
                    vec![
                        m(MatchType::Eq, "__name__", "up"),
                        m(MatchType::Eq, "Zone", ""),
                    ],
                ),
            ],
        )
        .unwrap();
        assert_eq!(r.results.len(), 7);
        // Labels sorted by name: "Zone" (uppercase) before "__name__".
        assert_eq!(
            shapes(&r.results[0]),
            [
                ("Zone=x,__name__=up,job=a".to_owned(), 10),
                ("__name__=up,job=b".to_owned(), 10)
            ]
        );
        assert_eq!(
            shapes(&r.results[1]),
            [("__name__=up,job=b".to_owned(), 10)]
        );
        // Anchored: `lo.*|u` matches "load" but not "up".
        assert_eq!(
            shapes(&r.results[2]),
            [("__name__=load,job=a".to_owned(), 10)]
        );
        assert_eq!(shapes(&r.results[3]), shapes(&r.results[2]));
        assert_eq!(
            shapes(&r.results[4]),
            [
                ("__name__=load,job=a".to_owned(), 10),
                ("Zone=x,__name__=up,job=a".to_owned(), 10)
            ]
        );
        assert!(r.results[5].timeseries.is_empty());
        assert_eq!(shapes(&r.results[6]), shapes(&r.results[1]));
        // Samples in time order, exact values.
        let load = &r.results[2].timeseries[0].samples;
        assert_eq!(
            load[0],
            ProtoSample {
                value: 0.0,
                timestamp: NOW - 60_000
            }
        );
        assert_eq!(
            load[9],
            ProtoSample {
                value: 9.0,
                timestamp: NOW - 51_000
            }
        );
    }

    #[test]
    fn both_ends_of_the_range_are_inclusive() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let sel = || vec![m(MatchType::Eq, "__name__", "load")];
        let first = NOW - 60_000;
        let r = read(
            &s,
            vec![
                q(first + 2000, first + 5000, sel()),
                q(first + 2001, first + 4999, sel()),
                q(first + 5000, first + 5000, sel()),
                q(first + 5000, first + 4000, sel()),
                q(NOW, NOW + 60_000, sel()),
            ],
        )
        .unwrap();
        let ts = |i: usize| -> Vec<i64> {
            r.results[i]
                .timeseries
                .iter()
                .flat_map(|t| t.samples.iter().map(|s| s.timestamp - first))
                .collect()
        };
        assert_eq!(ts(0), [2000, 3000, 4000, 5000]);
        assert_eq!(ts(1), [3000, 4000]);
        assert_eq!(ts(2), [5000]);
        assert!(ts(3).is_empty(), "end before start: nothing");
        assert!(r.results[4].timeseries.is_empty(), "no points: no series");
    }

    #[test]
    fn bad_matchers_and_response_types_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let bad = |queries: Vec<Query>, types: Vec<i32>| {
            let r = answer(
                &s,
                &ReadRequest {
                    queries,
                    accepted_response_types: types,
                },
                &budget(1000),
            )
            .unwrap_err();
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.message);
            r.message
        };
        let msg = bad(vec![q(0, NOW, vec![m(MatchType::Re, "job", "(")])], vec![]);
        assert!(msg.contains("invalid regex"), "{msg}");
        let mut unknown = m(MatchType::Eq, "job", "a");
        unknown.r#type = 9;
        let msg = bad(vec![q(0, NOW, vec![unknown])], vec![]);
        assert!(msg.contains("unknown matcher type 9"), "{msg}");
        let msg = bad(vec![q(0, NOW, vec![m(MatchType::Eq, "a-b", "x")])], vec![]);
        assert!(msg.contains("invalid label name"), "{msg}");
        let msg = bad(vec![], vec![7]);
        assert!(msg.contains("none of the accepted response types"), "{msg}");
        // The first type the server speaks wins; unknown ones are passed over.
        assert_eq!(negotiate(&[7, 0]).unwrap(), ResponseType::Samples);
        assert_eq!(negotiate(&[]).unwrap(), ResponseType::Samples);
    }

    #[test]
    fn the_sample_limit_counts_every_query_of_the_request() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let req = |n: usize| ReadRequest {
            queries: vec![q(0, NOW, vec![m(MatchType::Eq, "__name__", "up")]); n],
            accepted_response_types: vec![],
        };
        // Two series of 10 samples a query.
        assert!(samples_response(&s, &req(2), &budget(40)).is_ok());
        let e = samples_response(&s, &req(3), &budget(40)).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(
            e.message.starts_with("exceeded sample limit (40)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_passed_deadline_or_a_cancel_stops_the_read() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let req = ReadRequest {
            queries: vec![q(0, NOW, vec![m(MatchType::Eq, "__name__", "up")])],
            accepted_response_types: vec![],
        };
        let late = Budget {
            deadline: Some(Instant::now()),
            ..budget(1000)
        };
        let e = samples_response(&s, &req, &late).unwrap_err();
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        let canceled = Budget {
            cancel: Some(Arc::new(AtomicBool::new(true))),
            ..budget(1000)
        };
        let e = samples_response(&s, &req, &canceled).unwrap_err();
        assert!(e.message.contains("canceled"), "{}", e.message);
    }

    /// The frames of a streamed answer: `(query index, labels, chunks)`, each frame's length
    /// and checksum checked.
    fn frames(mut body: &[u8]) -> Vec<(i64, Vec<Label>, Vec<Chunk>)> {
        let mut out = Vec::new();
        while !body.is_empty() {
            let (msg, rest) = tierlog_prompb::next_frame(body).expect("a frame");
            let m = ChunkedReadResponse::decode(msg).unwrap();
            assert_eq!(m.chunked_series.len(), 1, "one series a frame");
            let s = m.chunked_series.into_iter().next().unwrap();
            out.push((m.query_index, s.labels, s.chunks));
            body = rest;
        }
        out
    }

    /// A series of a streamed answer, decoded: query index, labels, samples.
    type Decoded = (i64, Vec<Label>, Vec<(i64, f64)>);

    /// The streamed answer holds what the samples answer holds: per query, the same series
    /// (in Prometheus' label order), their samples in XOR chunks of at most 120, split over
    /// frames when a frame would be too large.
    #[test]
    fn the_streamed_answer_holds_the_samples_answer_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        // A series of 300 points, to need three chunks.
        let long: Vec<Sample> = (0..300)
            .map(|k| {
                Sample::new(
                    "long",
                    &[("a", "1")],
                    NOW - 400_000 + k * 1000,
                    k as f64 * 0.1,
                )
            })
            .collect();
        s.write(&long).unwrap();
        let req = ReadRequest {
            queries: vec![
                q(0, NOW, vec![m(MatchType::Re, "__name__", "up|long")]),
                q(0, NOW, vec![m(MatchType::Eq, "__name__", "nosuch")]),
                q(
                    NOW - 60_000,
                    NOW - 55_000,
                    vec![m(MatchType::Eq, "job", "a")],
                ),
            ],
            accepted_response_types: vec![ResponseType::StreamedXorChunks as i32],
        };
        let want = samples_response(&s, &req, &budget(10_000)).unwrap();
        for max_frame in [MAX_FRAME_BYTES, 300] {
            let body = streamed_response_in(&s, &req, &budget(10_000), max_frame).unwrap();
            let frames = frames(&body);
            // Frames of one series in a row merge back into it.
            let mut got: Vec<Decoded> = Vec::new();
            for (qi, labels, chunks) in frames.iter().cloned() {
                let mut points = Vec::new();
                for c in &chunks {
                    assert_eq!(c.r#type, ChunkEncoding::Xor as i32);
                    let p = xor::tests::decode(&c.data);
                    assert!(!p.is_empty() && p.len() <= 120, "{} samples", p.len());
                    assert_eq!((c.min_time_ms, c.max_time_ms), (p[0].0, p[p.len() - 1].0));
                    points.extend(p);
                }
                match got.last_mut() {
                    Some(g) if g.0 == qi && g.1 == labels => g.2.extend(points),
                    _ => got.push((qi, labels, points)),
                }
            }
            let mut expected: Vec<Decoded> = Vec::new();
            for (qi, r) in want.results.iter().enumerate() {
                let mut series: Vec<&TimeSeries> = r.timeseries.iter().collect();
                series.sort_by(|a, b| compare_labels(&a.labels, &b.labels));
                for ts in series {
                    let p = ts.samples.iter().map(|s| (s.timestamp, s.value)).collect();
                    expected.push((qi as i64, ts.labels.clone(), p));
                }
            }
            assert_eq!(got, expected, "max frame {max_frame}");
            let long_frames = frames
                .iter()
                .filter(|f| f.1.iter().any(|l| l.value == "long"))
                .count();
            assert_eq!(long_frames, if max_frame == 300 { 3 } else { 1 });
        }
        // Prometheus' order: "Zone" sorts before "__name__", so up{Zone="x"} comes before
        // long{a="1"} and up{job="b"}.
        let body = streamed_response(&s, &req, &budget(10_000)).unwrap();
        let names: Vec<String> = frames(&body)
            .iter()
            .filter(|f| f.0 == 0)
            .map(|f| {
                f.1.iter()
                    .map(|l| format!("{}={}", l.name, l.value))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        assert_eq!(
            names,
            [
                "Zone=x,__name__=up,job=a",
                "__name__=long,a=1",
                "__name__=up,job=b"
            ]
        );
        // The sample limit applies as to the samples answer.
        let e = streamed_response(&s, &req, &budget(310)).unwrap_err();
        assert!(
            e.message.starts_with("exceeded sample limit"),
            "{}",
            e.message
        );
    }

    /// Raw points kept 1 h, a 60 s tier kept 2 days, `m` written every 10 s for 3 h as time
    /// passes: a read returns the raw points still kept, none of the tier's buckets.
    #[test]
    fn a_read_of_expired_raw_returns_only_what_raw_holds() {
        const MIN: i64 = 60_000;
        let now = NOW + 40 * MIN;
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(now - 180 * MIN));
        let mut cfg = Config::default()
            .with_clock(clock.clone())
            .with_sync(tierlog::Sync::Never)
            .with_tiers(vec![tierlog::Tier::new(
                "60s",
                Duration::from_secs(60),
                Duration::from_secs(48 * 3600),
            )]);
        cfg.raw_keep = Some(Duration::from_secs(3600));
        cfg.maintenance_interval = None;
        let s = Store::open(dir.path(), cfg).unwrap();
        let mut t = now - 180 * MIN;
        while t <= now {
            clock.set(t);
            s.write(&[Sample::new("m", &[("a", "b")], t, 1.0)]).unwrap();
            if (t - now) % (10 * MIN) == 0 {
                s.maintain().unwrap();
            }
            t += 10_000;
        }
        let raw_from = s.raw_from().unwrap();
        assert!(raw_from > now - 180 * MIN && raw_from < now - 30 * MIN);
        // The tier holds the old minutes.
        assert!(s.tiers()[0].2.is_some_and(|done| done > now - 170 * MIN));
        let sel = || vec![m(MatchType::Eq, "__name__", "m")];
        let r = read(
            &s,
            vec![
                q(now - 180 * MIN, raw_from - 1, sel()),
                q(raw_from - 10 * MIN, raw_from + MIN, sel()),
            ],
        )
        .unwrap();
        assert!(
            r.results[0].timeseries.is_empty(),
            "wholly expired: nothing"
        );
        let ts: Vec<i64> = r.results[1].timeseries[0]
            .samples
            .iter()
            .map(|p| p.timestamp - raw_from)
            .collect();
        assert_eq!(ts, (0..=6).map(|k| k * 10_000).collect::<Vec<_>>());
    }

    #[test]
    fn bodies_are_checked_before_they_are_expanded() {
        assert_eq!(
            decode_request(b"\xff\xff\xff").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        // A snappy header announcing 1 GiB, and nothing else.
        let mut body = Vec::new();
        let mut n: u64 = 1 << 30;
        while n >= 0x80 {
            body.push((n as u8) | 0x80);
            n >>= 7;
        }
        body.push(n as u8);
        assert_eq!(
            decode_request(&body).unwrap_err().status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let not_proto = snap::raw::Encoder::new()
            .compress_vec(&[0x0a, 9, 1])
            .unwrap();
        let e = decode_request(&not_proto).unwrap_err();
        assert!(e.message.starts_with("protobuf:"), "{}", e.message);
    }
}
