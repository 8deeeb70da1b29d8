//! The endpoints of Prometheus' HTTP API v1 and their JSON envelopes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tierlog::{Selector, Store};
use tierlog_promql::{Labels, METRIC_NAME, Options, QueryOutput};

use crate::AppState;
use crate::encode::{LabelsJson, QueryData};
use crate::params::{MAX_TIME_MS, MIN_TIME_MS, Params, parse_duration};

/// The Prometheus version whose API this server speaks, as `buildinfo` reports it (clients
/// such as Grafana pick their features by it).
pub const PROMETHEUS_API_VERSION: &str = "2.42.0";

/// `errorType` of an error answer, with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorType {
    BadData,
    Execution,
    Timeout,
    Canceled,
    Internal,
}

impl ErrorType {
    fn name(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
            ErrorType::Internal => "internal",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Timeout | ErrorType::Canceled => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error answer: `{"status":"error","errorType":…,"error":…}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    kind: ErrorType,
    message: String,
}

impl ApiError {
    pub(crate) fn new(kind: ErrorType, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    /// The `error` text.
    #[cfg(test)]
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn bad_data(message: impl Into<String>) -> Self {
        ApiError::new(ErrorType::BadData, message)
    }

    /// `invalid parameter "NAME": WHY`, as Prometheus words it.
    pub(crate) fn bad_param(name: &str, why: impl std::fmt::Display) -> Self {
        ApiError::bad_data(format!("invalid parameter {name:?}: {why}"))
    }

    fn from_query(e: tierlog_promql::Error) -> Self {
        use tierlog_promql::Error as E;
        match e {
            E::Parse(_) => ApiError::bad_param("query", e),
            E::Unsupported(_) | E::BadQuery(_) => ApiError::bad_data(e.to_string()),
            E::Timeout => ApiError::new(
                ErrorType::Timeout,
                "query timed out in expression evaluation",
            ),
            E::Canceled => ApiError::new(
                ErrorType::Canceled,
                "query was canceled in expression evaluation",
            ),
            _ => ApiError::new(ErrorType::Execution, e.to_string()),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    status: &'static str,
    #[serde(rename = "errorType")]
    error_type: &'static str,
    error: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            status: "error",
            error_type: self.kind.name(),
            error: &self.message,
        };
        (self.kind.status(), Json(body)).into_response()
    }
}

#[derive(Serialize)]
struct Success<T: Serialize> {
    status: &'static str,
    data: T,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

/// A query's answer in JSON, made on the thread that evaluated it (a large matrix takes a
/// while to write).
fn query_answer(out: &QueryOutput) -> Vec<u8> {
    if let Some(body) = crate::encode::write_answer(&out.value, &out.warnings) {
        return body;
    }
    let body = Success {
        status: "success",
        data: QueryData(&out.value),
        warnings: out.warnings.clone(),
    };
    // Writing to a Vec fails only for a map with non-string keys, which these have not.
    crate::encode::answer_to_vec(&body, &out.value).unwrap_or_default()
}

/// A JSON body made elsewhere.
fn json_bytes(body: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// `{"status":"success","data":…}`, with `"warnings"` when there are any.
fn success<T: Serialize>(data: T, warnings: Vec<String>) -> Response {
    Json(Success {
        status: "success",
        data,
        warnings,
    })
    .into_response()
}

type ApiResult = Result<Response, ApiError>;

/// Sets the cancel flag of a query whose request future is dropped (the client went away)
/// before it finished.
struct CancelOnDrop(Option<Arc<AtomicBool>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

/// How long a query may run on the async worker that read its request before it is stopped
/// and run again on the blocking pool ([`AppState::run_query`]).
pub(crate) const INLINE_BUDGET: Duration = Duration::from_millis(1);

/// Most samples ([`Options::max_samples`]) a query's first try on the worker may hold. The
/// evaluator counts them as it loads each series, so this bounds the work of a first try
/// where its deadline is not checked often enough: it is checked at every 64th checkpoint, so
/// the load of a few long series (a day of raw points each) would run to its end.
pub(crate) const INLINE_MAX_SAMPLES: usize = 50_000;

/// The kinds of queries whose last run on the blocking pool took [`INLINE_BUDGET`] or longer
/// (or whose first try held more than [`INLINE_MAX_SAMPLES`]):
/// hashes of [`query_shape`], forgotten all at once when [`SlowQueries::MAX`] are held.
#[derive(Debug, Default)]
pub(crate) struct SlowQueries(std::sync::Mutex<std::collections::HashSet<u64>>);

impl SlowQueries {
    const MAX: usize = 4096;

    fn contains(&self, shape: u64) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&shape)
    }

    /// Notes whether queries of `shape` are slow (their last run on the pool took the
    /// budget or longer).
    fn set(&self, shape: u64, slow: bool) {
        let mut set = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !slow {
            set.remove(&shape);
            return;
        }
        if set.len() >= Self::MAX {
            set.clear();
        }
        set.insert(shape);
    }
}

/// What makes a query about as costly as another: its endpoint, its expression, and for a
/// range query the span and step (a dashboard asks the same ones again with the times
/// moved on).
pub(crate) fn query_shape(endpoint: &str, expr: &str, span_ms: i64, step_ms: i64) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (endpoint, expr, span_ms, step_ms).hash(&mut h);
    h.finish()
}

/// How long after its deadline a query that has not stopped is answered with a timeout
/// anyway (it goes on holding its place in the pool until it stops).
const DEADLINE_GRACE: Duration = Duration::from_secs(1);

impl AppState {
    /// The query's timeout: the server's, or the request's `timeout` when shorter.
    fn timeout(&self, p: &Params) -> Result<Duration, ApiError> {
        let max = self.0.query_timeout;
        match p.get("timeout") {
            None => Ok(max),
            Some(s) => {
                let ms = parse_duration(s).map_err(|e| ApiError::bad_param("timeout", e))?;
                if ms <= 0 {
                    return Err(ApiError::bad_param(
                        "timeout",
                        format!("timeout must be positive, not {s:?}"),
                    ));
                }
                Ok(max.min(Duration::from_millis(ms as u64)))
            }
        }
    }

    /// Runs `f` once one of the `max_concurrency` places is free, with the limits of
    /// [`Options`]; waiting for a place counts against the timeout.
    ///
    /// A query runs first on the async worker that read its request, for at most
    /// [`INLINE_BUDGET`] (through the evaluator's deadline, which it checks between steps and
    /// series) and [`INLINE_MAX_SAMPLES`] held samples: most queries end well within both, and are answered without handing them to a
    /// thread of the blocking pool and waiting for it to be woken and back (which took about
    /// as long as a small query's evaluation). One that does not end within them is stopped
    /// and run again on the blocking pool with the query's whole timeout, sample limit and
    /// cancel flag, as every query ran before. When that run too takes the budget or longer
    /// (or the first try held too many samples),
    /// its `shape` (see [`query_shape`]) is marked slow and later queries of that shape go to
    /// the pool at once, until one of them takes less. The first run is also skipped when the
    /// store's snapshot is due for a reopen (which blocks) or the timeout is shorter than the
    /// budget.
    async fn run_query<T, F>(&self, timeout: Duration, shape: u64, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: Fn(&Store, &Options) -> tierlog_promql::Result<T> + Send + 'static,
    {
        let deadline = Instant::now() + timeout;
        let timed_out = || ApiError::new(ErrorType::Timeout, "query timed out in query queue");
        let permit =
            match tokio::time::timeout_at(deadline.into(), self.0.queries.clone().acquire_owned())
                .await
            {
                Ok(Ok(p)) => p,
                Ok(Err(_)) => return Err(ApiError::new(ErrorType::Internal, "server stopping")),
                Err(_) => return Err(timed_out()),
            };
        let cancel = Arc::new(AtomicBool::new(false));
        let mut guard = CancelOnDrop(Some(cancel.clone()));
        let opts = Options {
            max_samples: self.0.max_samples,
            max_points_per_series: MAX_POINTS_PER_SERIES,
            deadline: Some(deadline),
            cancel: Some(cancel),
            ..Options::default()
        };
        let budget_end = Instant::now() + INLINE_BUDGET;
        // Whether the first try stopped at its sample cap (then the shape stays marked).
        let mut held_too_much = false;
        if budget_end < deadline
            && !self.0.slow.contains(shape)
            && let Some(store) = self.0.snapshots.fresh()
        {
            let capped = opts.max_samples > INLINE_MAX_SAMPLES;
            let quick = Options {
                deadline: Some(budget_end),
                max_samples: opts.max_samples.min(INLINE_MAX_SAMPLES),
                ..opts.clone()
            };
            let start = Instant::now();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&store, &quick)));
            match r {
                Ok(Err(tierlog_promql::Error::Timeout)) => {}
                Ok(Err(tierlog_promql::Error::TooManySamples { .. })) if capped => {
                    held_too_much = true;
                }
                Ok(r) => {
                    self.0.metrics.query.observe(start.elapsed());
                    self.0
                        .metrics
                        .inline_queries
                        .fetch_add(1, Ordering::Relaxed);
                    guard.0 = None;
                    return r.map_err(ApiError::from_query);
                }
                Err(_) => {
                    guard.0 = None;
                    return Err(ApiError::new(
                        ErrorType::Internal,
                        "the query failed (panic)",
                    ));
                }
            }
            self.0
                .metrics
                .requeued_queries
                .fetch_add(1, Ordering::Relaxed);
        }
        let state = self.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let store = state.0.snapshots.get();
            let start = Instant::now();
            let r = f(&store, &opts);
            let took = start.elapsed();
            state.0.metrics.query.observe(took);
            // Straight to the pool next time only if it would not have ended within the
            // budget now either (a first run slowed by a cold cache is not held against it)
            // or held more samples than a first try may.
            state
                .0
                .slow
                .set(shape, took >= INLINE_BUDGET || held_too_much);
            r
        });
        let r = tokio::time::timeout_at((deadline + DEADLINE_GRACE).into(), task).await;
        match r {
            Err(_) => Err(ApiError::new(
                ErrorType::Timeout,
                "query timed out in expression evaluation",
            )),
            Ok(Err(_)) => {
                guard.0 = None;
                Err(ApiError::new(
                    ErrorType::Internal,
                    "the query failed (panic)",
                ))
            }
            Ok(Ok(r)) => {
                guard.0 = None;
                r.map_err(ApiError::from_query)
            }
        }
    }

    /// Runs `f` over the current snapshot on the blocking pool (listing series can take a
    /// while on a large store; reopening the store does).
    async fn with_store<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, ApiError> + Send + 'static,
    {
        let state = self.clone();
        tokio::task::spawn_blocking(move || f(&state.0.snapshots.get()))
            .await
            .map_err(|_| ApiError::new(ErrorType::Internal, "the request failed (panic)"))?
    }
}

/// Most points per series of a range query, as in Prometheus (which refuses a range query
/// whose `(end - start) / step` is above it).
pub const MAX_POINTS_PER_SERIES: usize = 11_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `GET|POST /api/v1/query`.
pub(crate) async fn query(State(st): State<AppState>, p: Params) -> ApiResult {
    let expr = p.get("query").unwrap_or("").to_owned();
    let t = p.time_or("time", now_ms())?;
    let timeout = st.timeout(&p)?;
    let shape = query_shape("query", &expr, 0, 0);
    let body = st
        .run_query(timeout, shape, move |store, opts| {
            tierlog_promql::query(store, &expr, t, opts).map(|out| query_answer(&out))
        })
        .await?;
    Ok(json_bytes(body))
}

/// `GET|POST /api/v1/query_range`.
pub(crate) async fn query_range(State(st): State<AppState>, p: Params) -> ApiResult {
    let expr = p.get("query").unwrap_or("").to_owned();
    let start = p.time("start")?;
    let end = p.time("end")?;
    if end < start {
        return Err(ApiError::bad_param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    let step =
        parse_duration(p.get("step").unwrap_or("")).map_err(|e| ApiError::bad_param("step", e))?;
    if step <= 0 {
        return Err(ApiError::bad_param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step > MAX_POINTS_PER_SERIES as i64 {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let timeout = st.timeout(&p)?;
    let shape = query_shape("query_range", &expr, end - start, step);
    let body = st
        .run_query(timeout, shape, move |store, opts| {
            tierlog_promql::query_range(store, &expr, start, end, step, opts)
                .map(|out| query_answer(&out))
        })
        .await?;
    Ok(json_bytes(body))
}

/// The `match[]` selectors of a request: parsed, each with a non-empty matcher.
fn selectors(p: &Params) -> Result<Vec<Selector>, ApiError> {
    p.all("match[]")
        .into_iter()
        .map(|s| {
            let sel = Selector::parse(s).map_err(|e| ApiError::bad_data(e.to_string()))?;
            if sel.metric.is_none() && sel.matchers.iter().all(|m| m.matches_empty()) {
                return Err(ApiError::bad_data(format!(
                    "{s}: vector selector must contain at least one non-empty matcher"
                )));
            }
            Ok(sel)
        })
        .collect()
}

/// Checks the optional `start` and `end` of the metadata endpoints: whether the range holds
/// any time. The answers come from the store's index, which has no time ranges: every
/// series it holds is listed, unless `end` is before `start`, where Prometheus 2.42 lists
/// nothing (it does not refuse such a range as `query_range` does).
fn check_range(p: &Params) -> Result<bool, ApiError> {
    let start = p.time_or("start", MIN_TIME_MS)?;
    let end = p.time_or("end", MAX_TIME_MS)?;
    Ok(start <= end)
}

/// The label sets of the series any of `sels` matches (every series when `sels` is
/// empty), sorted, without duplicates.
fn series_labels(store: &Store, sels: &[Selector]) -> Vec<Labels> {
    let all = [Selector {
        metric: None,
        matchers: Vec::new(),
    }];
    let sels = if sels.is_empty() { &all[..] } else { sels };
    let set: BTreeSet<Labels> = sels
        .iter()
        .flat_map(|s| store.series(s))
        .map(|s| Labels::from_series(&s.metric, &s.labels))
        .collect();
    set.into_iter().collect()
}

/// `GET|POST /api/v1/series`.
pub(crate) async fn series(State(st): State<AppState>, p: Params) -> ApiResult {
    let sels = selectors(&p)?;
    if sels.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    if !check_range(&p)? {
        return Ok(success(Vec::<()>::new(), Vec::new()));
    }
    let labels = st
        .with_store(move |store| Ok(series_labels(store, &sels)))
        .await?;
    let data: Vec<LabelsJson<'_>> = labels.iter().map(LabelsJson).collect();
    Ok(success(data, Vec::new()))
}

/// `GET|POST /api/v1/labels`.
pub(crate) async fn labels(State(st): State<AppState>, p: Params) -> ApiResult {
    let sels = selectors(&p)?;
    if !check_range(&p)? {
        return Ok(success(Vec::<()>::new(), Vec::new()));
    }
    let names = st
        .with_store(move |store| {
            let mut names = BTreeSet::new();
            for l in series_labels(store, &sels) {
                for (k, _) in l.iter() {
                    if !names.contains(k) {
                        names.insert(k.to_owned());
                    }
                }
            }
            Ok(names)
        })
        .await?;
    Ok(success(names, Vec::new()))
}

/// `GET /api/v1/label/<name>/values`.
pub(crate) async fn label_values(
    State(st): State<AppState>,
    Path(name): Path<String>,
    p: Params,
) -> ApiResult {
    if !tierlog::model::valid_label_name(&name) {
        return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
    }
    let sels = selectors(&p)?;
    if !check_range(&p)? {
        return Ok(success(Vec::<()>::new(), Vec::new()));
    }
    let values = st
        .with_store(move |store| {
            if name == METRIC_NAME && sels.is_empty() {
                return Ok(store
                    .series_counts()
                    .into_iter()
                    .filter(|(_, n)| *n > 0)
                    .map(|(m, _)| m)
                    .collect::<BTreeSet<String>>());
            }
            Ok(series_labels(store, &sels)
                .iter()
                .filter_map(|l| l.get(&name).map(str::to_owned))
                .collect())
        })
        .await?;
    Ok(success(values, Vec::new()))
}

#[derive(Serialize)]
struct MetadataEntry {
    #[serde(rename = "type")]
    kind: &'static str,
    help: String,
    unit: String,
}

/// `GET /api/v1/metadata`: each metric's kind, description and unit.
pub(crate) async fn metadata(State(st): State<AppState>, p: Params) -> ApiResult {
    let int = |name: &str| -> Result<Option<i64>, ApiError> {
        p.get(name)
            .map(|s| {
                s.parse::<i64>()
                    .map_err(|_| ApiError::bad_data(format!("{name} must be a number")))
            })
            .transpose()
    };
    let limit = int("limit")?.filter(|&n| n >= 0);
    let per_metric = int("limit_per_metric")?.filter(|&n| n >= 0);
    let only = p.get("metric").map(str::to_owned);
    let data = st
        .with_store(move |store| {
            let mut out: BTreeMap<String, Vec<MetadataEntry>> = BTreeMap::new();
            for m in store.metrics() {
                if limit.is_some_and(|l| out.len() as i64 >= l) {
                    break;
                }
                if only.as_ref().is_some_and(|o| *o != m.name) || per_metric == Some(0) {
                    continue;
                }
                out.insert(
                    m.name.clone(),
                    vec![MetadataEntry {
                        kind: m.meta.kind.as_str(),
                        help: m.meta.description.clone(),
                        unit: m.meta.unit.clone(),
                    }],
                );
            }
            Ok(out)
        })
        .await?;
    Ok(success(data, Vec::new()))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BuildInfo {
    version: &'static str,
    revision: String,
    branch: &'static str,
    build_user: &'static str,
    build_date: &'static str,
    go_version: &'static str,
}

/// `GET /api/v1/status/buildinfo`: the fields Prometheus has, and no `features` (which
/// would make Grafana take the server for Mimir).
pub(crate) async fn buildinfo() -> Response {
    success(
        BuildInfo {
            version: PROMETHEUS_API_VERSION,
            revision: format!("tierlog-server {}", env!("CARGO_PKG_VERSION")),
            branch: "tierlog",
            build_user: "tierlog",
            build_date: "unknown",
            go_version: "none (tierlog is written in Rust)",
        },
        Vec::new(),
    )
}

#[derive(Serialize)]
struct RuntimeInfo {
    #[serde(rename = "startTime")]
    start_time: String,
    #[serde(rename = "CWD")]
    cwd: String,
    #[serde(rename = "reloadConfigSuccess")]
    reload_config_success: bool,
    #[serde(rename = "lastConfigTime")]
    last_config_time: String,
    #[serde(rename = "corruptionCount")]
    corruption_count: u64,
    #[serde(rename = "goroutineCount")]
    goroutine_count: u64,
    #[serde(rename = "GOMAXPROCS")]
    gomaxprocs: usize,
    #[serde(rename = "GOGC")]
    gogc: &'static str,
    #[serde(rename = "GODEBUG")]
    godebug: &'static str,
    #[serde(rename = "storageRetention")]
    storage_retention: String,
}

fn rfc3339(t: SystemTime) -> String {
    crate::params::format_rfc3339(
        t.duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    )
}

/// `GET /api/v1/status/runtimeinfo`: Prometheus' fields; `lastConfigTime` is when the
/// current snapshot of the store was opened, `corruptionCount` its damaged segments.
pub(crate) async fn runtimeinfo(State(st): State<AppState>) -> ApiResult {
    let started = st.0.started;
    let opened = st.0.snapshots.opened();
    let (corrupt, retention_days) = st
        .with_store(|store| {
            let stats = store.stats();
            let corrupt: u64 = stats.tiers.iter().map(|t| t.corrupt_segments).sum();
            Ok((corrupt, stats.max_age_days))
        })
        .await?;
    Ok(success(
        RuntimeInfo {
            start_time: rfc3339(started),
            cwd: std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            reload_config_success: true,
            last_config_time: rfc3339(opened),
            corruption_count: corrupt,
            goroutine_count: 0,
            gomaxprocs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            gogc: "",
            godebug: "",
            storage_retention: format!("{retention_days}d"),
        },
        Vec::new(),
    ))
}

/// `GET /api/v1/status/flags`: the server's settings by flag name.
pub(crate) async fn flags(State(st): State<AppState>) -> Response {
    success(&st.0.flags, Vec::new())
}

/// `GET|POST /api/v1/query_exemplars`: the store keeps no exemplars.
pub(crate) async fn query_exemplars(p: Params) -> ApiResult {
    let start = p.time_or("start", MIN_TIME_MS)?;
    let end = p.time_or("end", MAX_TIME_MS)?;
    if end < start {
        return Err(ApiError::bad_param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    Ok(success(Vec::<()>::new(), Vec::new()))
}

/// `GET /api/v1/rules`: none.
pub(crate) async fn rules() -> Response {
    success(serde_json::json!({ "groups": [] }), Vec::new())
}

/// `GET /api/v1/alerts`: none.
pub(crate) async fn alerts() -> Response {
    success(serde_json::json!({ "alerts": [] }), Vec::new())
}

/// `GET /-/healthy`.
pub(crate) async fn healthy() -> &'static str {
    "tierlog server is Healthy.\n"
}

/// `GET /-/ready`.
pub(crate) async fn ready() -> &'static str {
    "tierlog server is Ready.\n"
}

/// Any other path.
pub(crate) async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "404 page not found\n")
}

/// A method a path does not take, answered as Prometheus' router does.
pub(crate) async fn method_not_allowed() -> (StatusCode, &'static str) {
    (StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n")
}

/// What a set of credentials may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Grant {
    /// Every endpoint but the write ones.
    Read,
    /// Every endpoint.
    Write,
}

/// The credentials a server accepts: tokens and the base64 of basic auth's `user:password`,
/// each with what it grants.
pub(crate) struct Access {
    tokens: Vec<(Vec<u8>, Grant)>,
    basic: Vec<(Vec<u8>, Grant)>,
}

/// The paths that change the store.
pub(crate) const WRITE_PATHS: [&str; 3] = ["/api/v1/write", "/api/v1/import/prometheus", "/write"];

impl Access {
    pub(crate) fn new(c: &crate::ServerConfig) -> Access {
        let mut tokens = Vec::new();
        if let Some(t) = &c.bearer_token {
            tokens.push((t.as_bytes().to_vec(), Grant::Write));
        }
        if let Some(t) = &c.write_token {
            tokens.push((t.as_bytes().to_vec(), Grant::Write));
        }
        if let Some(t) = &c.read_token {
            tokens.push((t.as_bytes().to_vec(), Grant::Read));
        }
        let basic = c
            .basic_auth
            .iter()
            .map(|(u, p)| (base64(format!("{u}:{p}").as_bytes()), Grant::Write))
            .collect();
        Access { tokens, basic }
    }

    fn open(&self) -> bool {
        self.tokens.is_empty() && self.basic.is_empty()
    }

    /// What the `Authorization` header grants: every credential is compared (in constant
    /// time), the widest match wins.
    fn grant(&self, auth: Option<&[u8]>) -> Option<Grant> {
        let auth = auth?;
        let (list, given) = if auth.len() > 7 && auth[..7].eq_ignore_ascii_case(b"bearer ") {
            (&self.tokens, &auth[7..])
        } else if auth.len() > 6 && auth[..6].eq_ignore_ascii_case(b"basic ") {
            (&self.basic, auth[6..].trim_ascii())
        } else {
            return None;
        };
        let mut best = None;
        for (secret, grant) in list {
            use subtle::ConstantTimeEq;
            if bool::from(given.ct_eq(secret)) {
                best = best.max(Some(*grant));
            }
        }
        best
    }
}

/// Standard base64 with padding (RFC 4648), as basic auth sends `user:password`.
fn base64(data: &[u8]) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .encode(data)
        .into_bytes()
}

/// Requires credentials (compared in constant time) on every path but `/-/healthy` and
/// `/-/ready` when the server has any: 401 without valid ones, 403 when read-only
/// credentials ask for a write endpoint.
pub(crate) async fn authorize(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let access = &st.0.access;
    if access.open() || matches!(req.uri().path(), "/-/healthy" | "/-/ready") {
        return next.run(req).await;
    }
    let grant = access.grant(
        req.headers()
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes),
    );
    let needed = if WRITE_PATHS.contains(&req.uri().path()) {
        Grant::Write
    } else {
        Grant::Read
    };
    match grant {
        Some(g) if g >= needed => next.run(req).await,
        Some(_) => (
            StatusCode::FORBIDDEN,
            "Forbidden: these credentials may read but not write\n",
        )
            .into_response(),
        None => {
            let mut resp = (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
            let h = resp.headers_mut();
            h.append(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            if !access.basic.is_empty() {
                h.append(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"tierlog\""),
                );
            }
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ] {
            assert_eq!(super::base64(plain.as_bytes()), enc.as_bytes(), "{plain}");
        }
    }

    use std::sync::mpsc;

    use tierlog_promql::{Error as QueryError, Value};

    use super::*;
    use crate::ServerConfig;

    fn state(f: impl FnOnce(&mut ServerConfig)) -> (AppState, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        tierlog::Store::open(dir.path(), tierlog::Config::default())
            .unwrap()
            .close()
            .unwrap();
        let mut c = ServerConfig::new(dir.path());
        f(&mut c);
        (AppState::new(&c).unwrap(), dir)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    fn scalar() -> QueryOutput {
        QueryOutput {
            value: Value::Scalar { t: 0, v: 1.0 },
            warnings: Vec::new(),
        }
    }

    /// Waits as the evaluator would, checking its cancel flag and its deadline, until
    /// `done` says so.
    fn wait_as_a_query(o: &Options, done: impl Fn() -> bool) -> Result<(), QueryError> {
        let cancel = o.cancel.clone().unwrap();
        let end = Instant::now() + Duration::from_secs(60);
        while !done() && Instant::now() < end {
            if cancel.load(Ordering::Relaxed) {
                return Err(QueryError::Canceled);
            }
            if o.deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(QueryError::Timeout);
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(())
    }

    fn counts(st: &AppState) -> (u64, u64) {
        let m = &st.0.metrics;
        (
            m.inline_queries.load(Ordering::Relaxed),
            m.requeued_queries.load(Ordering::Relaxed),
        )
    }

    #[test]
    fn queries_get_the_configured_limits() {
        let (st, _dir) = state(|c| {
            c.max_samples = 1234;
            c.query_timeout = Duration::from_secs(60);
        });
        let opts = runtime()
            .block_on(st.run_query::<(), _>(Duration::from_secs(30), 1, |_, o| {
                Err(QueryError::Execution(format!(
                    "{}|{}|{:?}|{}",
                    o.max_samples,
                    o.max_points_per_series,
                    o.deadline.map(|d| d > Instant::now()),
                    o.cancel
                        .as_ref()
                        .is_some_and(|c| !c.load(Ordering::Relaxed))
                )))
            }))
            .unwrap_err();
        assert_eq!(opts.message, "1234|11000|Some(true)|true");
        assert_eq!(opts.kind, ErrorType::Execution);
    }

    #[test]
    fn request_timeout_is_capped_by_the_server_timeout() {
        let (st, _dir) = state(|c| c.query_timeout = Duration::from_secs(10));
        let p = |q: &str| Params::from_form(b"", q);
        assert_eq!(st.timeout(&p("")).unwrap(), Duration::from_secs(10));
        assert_eq!(
            st.timeout(&p("timeout=2s")).unwrap(),
            Duration::from_secs(2)
        );
        assert_eq!(
            st.timeout(&p("timeout=1m")).unwrap(),
            Duration::from_secs(10)
        );
        assert_eq!(
            st.timeout(&p("timeout=0")).unwrap_err().kind,
            ErrorType::BadData
        );
    }

    /// How a test query behaves.
    #[derive(Clone, Copy)]
    enum Cost {
        /// Ends at once.
        Quick,
        /// Goes on past the budget on its first run only (a cold cache).
        Cold,
        /// Takes longer than the budget wherever it runs.
        Slow,
    }

    /// A query that ends within the budget is answered by its one run, on the thread that
    /// polls the request (here `block_on`'s), with a deadline no later than the budget's
    /// end; one that does not is stopped there and run again on the blocking pool with the
    /// whole timeout. When that run too takes the budget or longer, later queries of its
    /// shape go to the pool at once, until one of them takes less.
    #[test]
    fn quick_queries_run_inline_and_slow_ones_on_the_pool() {
        let (st, _dir) = state(|_| {});
        let rt = runtime();
        let here = std::thread::current().id();
        // (on this thread, time left before the deadline) of each run.
        let runs = Arc::new(std::sync::Mutex::new(Vec::<(bool, Duration)>::new()));
        let query = |shape: u64, cost: Cost| {
            let runs = runs.clone();
            rt.block_on(st.run_query(Duration::from_secs(600), shape, move |_, o| {
                let left = o
                    .deadline
                    .unwrap()
                    .saturating_duration_since(Instant::now());
                let inline = left <= INLINE_BUDGET;
                runs.lock()
                    .unwrap()
                    .push((std::thread::current().id() == here, left));
                match cost {
                    Cost::Quick => {}
                    // Goes on past a short deadline, as a long evaluation would.
                    Cost::Cold | Cost::Slow if inline => wait_as_a_query(o, || false)?,
                    Cost::Cold => {}
                    Cost::Slow => std::thread::sleep(INLINE_BUDGET * 2),
                }
                Ok(scalar())
            }))
        };
        let seen = || std::mem::take(&mut *runs.lock().unwrap());
        let on_pool =
            |s: &[(bool, Duration)]| s.len() == 1 && !s[0].0 && s[0].1 > Duration::from_secs(500);
        let inline = |s: &[(bool, Duration)]| s.len() == 1 && s[0].0 && s[0].1 <= INLINE_BUDGET;
        let requeued = |s: &[(bool, Duration)]| {
            s.len() == 2
                && s[0].0
                && s[0].1 <= INLINE_BUDGET
                && !s[1].0
                && s[1].1 > Duration::from_secs(500)
        };

        assert!(query(1, Cost::Quick).is_ok());
        let s = seen();
        assert!(inline(&s), "{s:?}");
        assert_eq!(counts(&st), (1, 0));

        // Slow on its first run only: run again on the pool, then inline again.
        assert!(query(2, Cost::Cold).is_ok());
        let s = seen();
        assert!(requeued(&s), "{s:?}");
        assert_eq!(counts(&st), (1, 1));
        assert!(query(2, Cost::Quick).is_ok());
        let s = seen();
        assert!(inline(&s), "{s:?}");
        assert_eq!(counts(&st), (2, 1));

        // Slow on the pool too: its shape goes straight to the pool, another still inline.
        assert!(query(3, Cost::Slow).is_ok());
        let s = seen();
        assert!(requeued(&s), "{s:?}");
        assert_eq!(counts(&st), (2, 2));
        assert!(query(3, Cost::Slow).is_ok());
        let s = seen();
        assert!(on_pool(&s), "{s:?}");
        assert!(query(4, Cost::Quick).is_ok());
        let s = seen();
        assert!(inline(&s), "{s:?}");
        // Once a run of its shape on the pool is quick, inline again.
        assert!(query(3, Cost::Quick).is_ok());
        let s = seen();
        assert!(on_pool(&s), "{s:?}");
        assert!(query(3, Cost::Quick).is_ok());
        let s = seen();
        assert!(inline(&s), "{s:?}");
        assert_eq!(counts(&st), (4, 2));
    }

    /// No inline run when the timeout is shorter than the budget (the pool answers with the
    /// timeout's own messages) or when the snapshot is due for a reopen (which blocks).
    #[test]
    fn no_inline_run_for_short_timeouts_or_a_due_reopen() {
        let rt = runtime();
        let here = std::thread::current().id();
        let on_pool = |st: &AppState, timeout: Duration| {
            rt.block_on(st.run_query(timeout, 1, move |_, _| {
                Ok(std::thread::current().id() != here)
            }))
            .unwrap()
        };
        let (st, _dir) = state(|_| {});
        assert!(on_pool(&st, INLINE_BUDGET / 2));
        assert!(!on_pool(&st, Duration::from_secs(60)));
        let (st, _dir) = state(|c| c.refresh = Duration::ZERO);
        assert!(on_pool(&st, Duration::from_secs(60)));
        assert_eq!(counts(&st), (0, 0));
    }

    /// A panic in an inline run is answered as one on the pool is: a 500, not a dropped
    /// connection.
    #[test]
    fn a_panic_inline_is_an_internal_error() {
        let (st, _dir) = state(|_| {});
        let e = runtime()
            .block_on(
                st.run_query::<(), _>(Duration::from_secs(60), 1, |_, _| panic!("deliberately")),
            )
            .unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorType::Internal, "the query failed (panic)")
        );
    }

    /// With one place, a second query waits while the first runs and gives up at its
    /// deadline with a timeout; once the first ends, queries run again.
    #[test]
    fn queries_wait_for_a_place_and_time_out_in_the_queue() {
        let (st, _dir) = state(|c| c.max_concurrency = 1);
        let rt = runtime();
        let (release, released) = mpsc::channel::<()>();
        let (running, is_running) = mpsc::channel::<()>();
        let first = {
            let st = st.clone();
            rt.spawn(async move {
                st.run_query(Duration::from_secs(600), 1, move |_, o| {
                    let _ = running.send(());
                    wait_as_a_query(o, || released.try_recv().is_ok())?;
                    Ok(scalar())
                })
                .await
            })
        };
        is_running.recv().unwrap();
        let second = rt
            .block_on(st.run_query(Duration::from_millis(50), 2, |_, _| Ok(scalar())))
            .unwrap_err();
        assert_eq!(second.kind, ErrorType::Timeout);
        assert_eq!(second.message, "query timed out in query queue");
        release.send(()).unwrap();
        assert!(rt.block_on(first).unwrap().is_ok());
        assert!(
            rt.block_on(st.run_query(Duration::from_secs(600), 3, |_, _| Ok(scalar())))
                .is_ok()
        );
    }

    /// A request dropped before its answer (the client went away) sets the query's cancel
    /// flag (a query that outlasts the inline budget, so on the pool).
    #[test]
    fn a_dropped_request_cancels_its_query() {
        let (st, _dir) = state(|_| {});
        let rt = runtime();
        let (flag_tx, flag_rx) = mpsc::channel::<Arc<AtomicBool>>();
        let (done_tx, done_rx) = mpsc::channel::<bool>();
        let task = {
            let st = st.clone();
            rt.spawn(async move {
                st.run_query::<(), _>(Duration::from_secs(600), 1, move |_, o| {
                    let left = o
                        .deadline
                        .unwrap()
                        .saturating_duration_since(Instant::now());
                    let cancel = o.cancel.clone().unwrap();
                    if left <= INLINE_BUDGET {
                        // The inline run: goes on past its budget.
                        wait_as_a_query(o, || false)?;
                    }
                    flag_tx.send(cancel.clone()).unwrap();
                    // Waits for the flag, as the evaluator checks it between steps.
                    let r = wait_as_a_query(o, || false);
                    done_tx.send(cancel.load(Ordering::Relaxed)).unwrap();
                    r
                })
                .await
            })
        };
        let flag = flag_rx.recv().unwrap();
        assert!(!flag.load(Ordering::Relaxed));
        task.abort();
        assert!(done_rx.recv().unwrap(), "the query saw the cancel flag");
    }

    /// A first try holds at most `INLINE_MAX_SAMPLES`: one stopped there is run again on the
    /// pool with the server's limit, and its shape goes to the pool at once afterwards
    /// however quick that run was. Under a server limit below the cap, the limit's error is
    /// the answer, from the one run.
    #[test]
    fn a_first_try_holds_a_bounded_number_of_samples() {
        let rt = runtime();
        let limits = Arc::new(std::sync::Mutex::new(Vec::<usize>::new()));
        let query = |st: &AppState, shape: u64| {
            let limits = limits.clone();
            rt.block_on(st.run_query(Duration::from_secs(600), shape, move |_, o| {
                limits.lock().unwrap().push(o.max_samples);
                // Holds 60,000 samples, as a load of a few long series would.
                if 60_000 > o.max_samples {
                    return Err(QueryError::TooManySamples {
                        limit: o.max_samples,
                    });
                }
                Ok(scalar())
            }))
        };
        let seen = || std::mem::take(&mut *limits.lock().unwrap());

        let (st, _dir) = state(|_| {});
        assert!(query(&st, 1).is_ok());
        assert_eq!(seen(), [INLINE_MAX_SAMPLES, 50_000_000]);
        assert_eq!(counts(&st), (0, 1));
        assert!(query(&st, 1).is_ok());
        assert_eq!(seen(), [50_000_000]);
        assert_eq!(counts(&st), (0, 1));

        let (st, _dir) = state(|c| c.max_samples = 1000);
        let e = query(&st, 1).unwrap_err();
        assert_eq!(seen(), [1000]);
        assert_eq!(e.kind, ErrorType::Execution);
        assert_eq!(counts(&st), (1, 0));
    }

    #[test]
    fn query_errors_map_to_prometheus_types_and_statuses() {
        let cases = [
            (QueryError::Parse("1:3: unexpected".into()), "bad_data", 400),
            (QueryError::Unsupported("x".into()), "bad_data", 400),
            (QueryError::BadQuery("x".into()), "bad_data", 400),
            (QueryError::Execution("x".into()), "execution", 422),
            (QueryError::TooManySamples { limit: 5 }, "execution", 422),
            (
                QueryError::Store(tierlog::Error::ReadOnly),
                "execution",
                422,
            ),
            (QueryError::Timeout, "timeout", 503),
            (QueryError::Canceled, "canceled", 503),
        ];
        for (e, kind, status) in cases {
            let shown = format!("{e:?}");
            let a = ApiError::from_query(e);
            assert_eq!(
                (a.kind.name(), a.kind.status().as_u16()),
                (kind, status),
                "{shown}"
            );
        }
        assert_eq!(
            ApiError::from_query(QueryError::Parse("1:3: unexpected".into())).message,
            "invalid parameter \"query\": parse error: 1:3: unexpected"
        );
    }
}
