//! The differential test of `tierlog-promql` (`crates/tierlog-promql/tests/prometheus_diff.rs`)
//! run against `tierlog serve` over HTTP instead of the engine in process: the same data set,
//! corpus, comparator and `deviations.txt`, so that whatever the server adds (parameter
//! parsing, JSON encoding of timestamps and values, error envelopes) is checked against the
//! real Prometheus 2.42 on all 2740 queries. The queries go in turn as `POST` forms with
//! times as `1700000000.000` (promtool, Grafana's default) and as `GET` with whole seconds
//! and the step as a duration (`15s`).
//!
//! Skipped, saying so, when `/usr/bin/prometheus` or `/usr/bin/promtool` is absent; the
//! same environment variables as the in-process test apply.

#[allow(dead_code)]
#[path = "../../tierlog-promql/tests/diff/mod.rs"]
mod diff;

use diff::run::{differential, tierlog_config, tierlog_store};
use diff::target::{HttpApi, Requests, Target};
use tierlog_server::{Server, ServerConfig};

/// `tierlog serve` in its own runtime over a store the writer has closed.
struct Served {
    rt: tokio::runtime::Runtime,
    server: Option<Server>,
    api: HttpApi,
}

impl Target for Served {
    fn name(&self) -> String {
        format!("tierlog serve at {}", self.api.base)
    }
    fn query_range(
        &self,
        expr: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<serde_json::Value, String> {
        self.api.query_range(expr, start, end, step)
    }
    fn query(&self, expr: &str, time: i64) -> Result<serde_json::Value, String> {
        self.api.query(expr, time)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = self.rt.block_on(s.shutdown());
        }
    }
}

#[test]
fn tierlog_serve_answers_as_prometheus_does() {
    differential(|ds, dir| {
        // The server opens the store read-only: what the writer wrote must be in its files.
        tierlog_store(ds, dir).close().expect("close the writer");
        let mut config = ServerConfig::new(dir);
        config.store_config = tierlog_config(ds);
        config.listen = "127.0.0.1:0".parse().expect("address");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let server = rt.block_on(tierlog_server::serve(config)).expect("serve");
        let api = HttpApi::with_requests(
            format!("http://{}", server.local_addr()),
            Requests::Alternate,
        );
        Box::new(Served {
            rt,
            server: Some(server),
            api,
        })
    });
}
