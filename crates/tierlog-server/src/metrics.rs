//! `GET /metrics`: the store's stats ([`tierlog::StoreStats::to_exposition`]) and the
//! server's own counters, in Prometheus text exposition (format 0.0.4).
//!
//! The server's figures are kept in atomics and small maps behind a mutex held for a map
//! update (no client crate: the text format is a few lines to write, and the engine already
//! writes it for its stats).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Upper bounds (seconds) of the request and query duration histograms' buckets.
pub(crate) const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0,
];

/// The `handler` label of a request no route matched.
const UNMATCHED: &str = "unmatched";

/// A histogram of durations with [`DURATION_BUCKETS`].
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    /// Observations per bucket (not cumulative); the last one is above every bound.
    buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Histogram {
    pub(crate) fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = DURATION_BUCKETS
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(DURATION_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The `_bucket`, `_sum` and `_count` lines of `name` with `labels` before `le`.
    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cum = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            cum += n.load(Ordering::Relaxed);
            let le = DURATION_BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), f64::to_string);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cum}");
        }
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        // At least the buckets' total, read above (an observation may land in between).
        let count = self.count.load(Ordering::Relaxed).max(cum);
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// The server's own figures.
#[derive(Debug, Default)]
pub(crate) struct ServerMetrics {
    /// Requests answered, by handler (route) and status code.
    requests: Mutex<BTreeMap<(Arc<str>, u16), u64>>,
    /// Request durations by handler.
    durations: Mutex<BTreeMap<Arc<str>, Histogram>>,
    /// Time spent evaluating PromQL (on the blocking pool, after a place was free).
    pub(crate) query: Histogram,
    /// Queries answered on the async worker that read their request, within the inline
    /// budget.
    pub(crate) inline_queries: AtomicU64,
    /// Queries stopped at the inline budget and run again on the blocking pool.
    pub(crate) requeued_queries: AtomicU64,
    /// Handler names seen, shared by the maps' keys (routes are few and fixed, so this
    /// stays small).
    names: Mutex<Vec<Arc<str>>>,
}

impl ServerMetrics {
    fn intern(&self, path: &str) -> Arc<str> {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = names.iter().find(|n| &***n == path) {
            return n.clone();
        }
        let n: Arc<str> = path.into();
        names.push(n.clone());
        n
    }

    fn record(&self, handler: Arc<str>, code: u16, took: Duration) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((handler.clone(), code))
            .or_default() += 1;
        self.durations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(handler)
            .or_default()
            .observe(took);
    }
}

/// Middleware: counts every request by its route (the matched path, `unmatched` for the
/// fallback) and status code, and observes its duration.
pub(crate) async fn track(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let handler = match req.extensions().get::<MatchedPath>() {
        Some(p) => st.0.metrics.intern(p.as_str()),
        None => st.0.metrics.intern(UNMATCHED),
    };
    let resp = next.run(req).await;
    st.0.metrics
        .record(handler, resp.status().as_u16(), start.elapsed());
    resp
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(st): State<AppState>) -> Response {
    let state = st.clone();
    let stats = tokio::task::spawn_blocking(move || state.0.snapshots.get().stats()).await;
    let Ok(stats) = stats else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the stats failed (panic)\n",
        )
            .into_response();
    };
    let mut out = String::with_capacity(16 * 1024);
    stats.write_exposition(&mut out);
    write_server(&st, &mut out);
    let mut resp = out.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(tierlog::EXPOSITION_CONTENT_TYPE),
    );
    resp
}

/// The server's own families.
fn write_server(st: &AppState, out: &mut String) {
    let inner = &st.0;
    let m = &inner.metrics;
    family(
        out,
        "tierlog_server_build_info",
        "gauge",
        "Always 1; the labels say the server's version and the Prometheus API version it speaks.",
    );
    let _ = writeln!(
        out,
        "tierlog_server_build_info{{version=\"{}\",prometheus_api_version=\"{}\"}} 1",
        escape(env!("CARGO_PKG_VERSION")),
        crate::PROMETHEUS_API_VERSION
    );
    let started = inner
        .started
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    family(
        out,
        "tierlog_server_start_time_seconds",
        "gauge",
        "When the server started, seconds since the Unix epoch.",
    );
    let _ = writeln!(out, "tierlog_server_start_time_seconds {started}");

    family(
        out,
        "tierlog_server_http_requests_total",
        "counter",
        "HTTP requests answered, by handler (route pattern, unmatched for none) and status code.",
    );
    let requests = m.requests.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for ((handler, code), n) in &requests {
        let _ = writeln!(
            out,
            "tierlog_server_http_requests_total{{handler=\"{}\",code=\"{code}\"}} {n}",
            escape(handler)
        );
    }
    family(
        out,
        "tierlog_server_http_request_duration_seconds",
        "histogram",
        "Time from a request's arrival to its answer's headers, by handler.",
    );
    {
        let durations = m.durations.lock().unwrap_or_else(|e| e.into_inner());
        for (handler, h) in durations.iter() {
            h.write(
                out,
                "tierlog_server_http_request_duration_seconds",
                &format!("handler=\"{}\"", escape(handler)),
            );
        }
    }
    family(
        out,
        "tierlog_server_query_duration_seconds",
        "histogram",
        "PromQL evaluation time of instant and range queries (not the wait for a place).",
    );
    m.query
        .write(out, "tierlog_server_query_duration_seconds", "");
    family(
        out,
        "tierlog_server_queries_inline_total",
        "counter",
        "Queries answered on the thread that read their request, within the inline budget (1 ms); the others ran on the blocking pool.",
    );
    let _ = writeln!(
        out,
        "tierlog_server_queries_inline_total {}",
        m.inline_queries.load(Ordering::Relaxed)
    );
    family(
        out,
        "tierlog_server_queries_requeued_total",
        "counter",
        "Queries stopped at the inline budget and run again on the blocking pool.",
    );
    let _ = writeln!(
        out,
        "tierlog_server_queries_requeued_total {}",
        m.requeued_queries.load(Ordering::Relaxed)
    );
    let limit = inner.max_concurrency;
    let in_flight = limit.saturating_sub(inner.queries.available_permits());
    family(
        out,
        "tierlog_server_queries_in_flight",
        "gauge",
        "Queries holding a place in the query pool (being evaluated).",
    );
    let _ = writeln!(out, "tierlog_server_queries_in_flight {in_flight}");
    family(
        out,
        "tierlog_server_queries_limit",
        "gauge",
        "Most queries evaluated at once (--query.max-concurrency).",
    );
    let _ = writeln!(out, "tierlog_server_queries_limit {limit}");

    let snaps = &inner.snapshots;
    family(
        out,
        "tierlog_server_snapshot_refreshes_total",
        "counter",
        "Reopens of the store that replaced the snapshot answers are read from.",
    );
    let _ = writeln!(
        out,
        "tierlog_server_snapshot_refreshes_total {}",
        snaps.refreshes.load(Ordering::Relaxed)
    );
    family(
        out,
        "tierlog_server_snapshot_refresh_failures_total",
        "counter",
        "Reopens of the store that failed (the old snapshot was kept).",
    );
    let _ = writeln!(
        out,
        "tierlog_server_snapshot_refresh_failures_total {}",
        snaps.refresh_failures.load(Ordering::Relaxed)
    );
    if let Some(cache) = snaps.read_cache() {
        let c = cache.stats();
        for (name, kind, help, v) in [
            (
                "tierlog_server_read_cache_hits_total",
                "counter",
                "Raw chunks a query found decoded in the read cache.",
                c.hits,
            ),
            (
                "tierlog_server_read_cache_misses_total",
                "counter",
                "Raw chunks a query decoded (not in the read cache).",
                c.misses,
            ),
            (
                "tierlog_server_read_cache_evictions_total",
                "counter",
                "Decoded raw chunks dropped from the read cache to make room.",
                c.evictions,
            ),
            (
                "tierlog_server_read_cache_bytes",
                "gauge",
                "Bytes the read cache holds (--read-cache is its bound).",
                c.bytes as u64,
            ),
        ] {
            family(out, name, kind, help);
            let _ = writeln!(out, "{name} {v}");
        }
    }
    let opened = snaps
        .opened()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    family(
        out,
        "tierlog_server_snapshot_timestamp_seconds",
        "gauge",
        "When the snapshot answers are read from was opened, seconds since the Unix epoch.",
    );
    let _ = writeln!(out, "tierlog_server_snapshot_timestamp_seconds {opened}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_lines_are_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(500));
        let mut s = String::new();
        h.write(&mut s, "d", "h=\"x\"");
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "d_bucket{h=\"x\",le=\"0.001\"} 0");
        assert_eq!(lines[1], "d_bucket{h=\"x\",le=\"0.005\"} 2");
        assert_eq!(lines[13], "d_bucket{h=\"x\",le=\"120\"} 2");
        assert_eq!(lines[14], "d_bucket{h=\"x\",le=\"+Inf\"} 3");
        assert_eq!(lines[15], "d_sum{h=\"x\"} 500.006");
        assert_eq!(lines[16], "d_count{h=\"x\"} 3");
        let mut s = String::new();
        Histogram::default().write(&mut s, "q", "");
        assert!(
            s.ends_with("q_bucket{le=\"+Inf\"} 0\nq_sum 0\nq_count 0\n"),
            "{s}"
        );
    }
}
