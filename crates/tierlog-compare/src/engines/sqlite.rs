//! SQLite (rusqlite, bundled) with the relational schema tierlog replaces.
//!
//! Schema exactly as in issue 7 — `metrics`, `series`, `samples(series_id, ts_ms, value,
//! bucket, rollup)` with an index on `(series_id, rollup, ts_ms)` — plus one index a careful
//! engineer would add so that a series is found by its labels without a scan:
//! `series(metric_id, labels_hash)`. Raw samples are stored with `rollup = 'raw'` and
//! `bucket = NULL`. WAL journal, `synchronous` NORMAL or FULL, 64 MiB page cache, one
//! transaction per batch of 10 000 samples, cached prepared statements. Aggregates (min, max,
//! avg, p95) are computed in Rust from the rows one indexed range scan returns, the same way
//! as for tsink.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use crate::engine::{Adapter, BATCH, Bucket, ManyQuery, Read, Result, Variant, buckets};
use crate::source::{Point, SeriesKey};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS metrics(id INTEGER PRIMARY KEY, name TEXT UNIQUE, unit TEXT, description TEXT);
CREATE TABLE IF NOT EXISTS series(id INTEGER PRIMARY KEY, metric_id INTEGER, labels_hash TEXT, labels_json TEXT,
    FOREIGN KEY(metric_id) REFERENCES metrics(id));
CREATE TABLE IF NOT EXISTS samples(series_id INTEGER, ts_ms INTEGER, value REAL, bucket INTEGER, rollup TEXT);
CREATE INDEX IF NOT EXISTS samples_by_series ON samples(series_id, rollup, ts_ms);
CREATE UNIQUE INDEX IF NOT EXISTS series_by_labels ON series(metric_id, labels_hash);
";

pub struct Sqlite {
    conn: Connection,
    series: Arc<Vec<SeriesKey>>,
    /// Workload series index → `series.id`, filled as series are first written (or looked up).
    ids: HashMap<u32, i64>,
}

fn err(e: rusqlite::Error) -> String {
    format!("sqlite: {e}")
}

/// FNV-1a of the canonical `name{k="v",...}`, as hex.
fn labels_hash(metric: &str, labels: &[(String, String)]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: &[u8]| {
        for &x in b {
            h ^= u64::from(x);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
    };
    eat(metric.as_bytes());
    for (k, v) in labels {
        eat(b"\x00");
        eat(k.as_bytes());
        eat(b"\x01");
        eat(v.as_bytes());
    }
    format!("{h:016x}")
}

fn labels_json(labels: &[(String, String)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

impl Sqlite {
    pub fn open(variant: Variant, dir: &Path, series: Arc<Vec<SeriesKey>>) -> Result<Sqlite> {
        let conn = Connection::open(dir.join("metrics.db")).map_err(err)?;
        let sync = if variant == Variant::SqliteFull {
            "FULL"
        } else {
            "NORMAL"
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA cache_size=-65536;
             PRAGMA temp_store=MEMORY; {SCHEMA}"
        ))
        .map_err(err)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(Sqlite {
            conn,
            series,
            ids: HashMap::new(),
        })
    }

    /// The `series.id` of workload series `i`, creating metric and series when `create`.
    fn series_id(&mut self, i: u32, create: bool) -> Result<Option<i64>> {
        if let Some(&id) = self.ids.get(&i) {
            return Ok(Some(id));
        }
        let (metric, labels) = &self.series[i as usize];
        let hash = labels_hash(metric, labels);
        let c = &self.conn;
        let found: Option<i64> = c
            .prepare_cached(
                "SELECT s.id FROM series s JOIN metrics m ON m.id = s.metric_id
                 WHERE m.name = ?1 AND s.labels_hash = ?2",
            )
            .map_err(err)?
            .query_row(params![metric, hash], |r| r.get(0))
            .optional()
            .map_err(err)?;
        let id = match (found, create) {
            (Some(id), _) => id,
            (None, false) => return Ok(None),
            (None, true) => {
                c.prepare_cached("INSERT OR IGNORE INTO metrics(name) VALUES (?1)")
                    .map_err(err)?
                    .execute(params![metric])
                    .map_err(err)?;
                let mid: i64 = c
                    .prepare_cached("SELECT id FROM metrics WHERE name = ?1")
                    .map_err(err)?
                    .query_row(params![metric], |r| r.get(0))
                    .map_err(err)?;
                c.prepare_cached(
                    "INSERT INTO series(metric_id, labels_hash, labels_json) VALUES (?1, ?2, ?3)",
                )
                .map_err(err)?
                .execute(params![mid, hash, labels_json(labels)])
                .map_err(err)?;
                c.last_insert_rowid()
            }
        };
        self.ids.insert(i, id);
        Ok(Some(id))
    }

    fn range(&mut self, i: u32, from: i64, to: i64, mut f: impl FnMut(i64, f64)) -> Result<()> {
        let Some(id) = self.series_id(i, false)? else {
            return Ok(());
        };
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT ts_ms, value FROM samples
                 WHERE series_id = ?1 AND rollup = 'raw' AND ts_ms >= ?2 AND ts_ms < ?3
                 ORDER BY ts_ms",
            )
            .map_err(err)?;
        let mut rows = st.query(params![id, from, to]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            f(r.get(0).map_err(err)?, r.get(1).map_err(err)?);
        }
        Ok(())
    }
}

impl Adapter for Sqlite {
    fn write(&mut self, block: &[Point]) -> Result<()> {
        for batch in block.chunks(BATCH) {
            self.conn.execute_batch("BEGIN").map_err(err)?;
            for &(i, ts, v) in batch {
                let id = self.series_id(i, true)?.expect("created");
                self.conn
                    .prepare_cached(
                        "INSERT INTO samples(series_id, ts_ms, value, bucket, rollup)
                         VALUES (?1, ?2, ?3, NULL, 'raw')",
                    )
                    .map_err(err)?
                    .execute(params![id, ts, v])
                    .map_err(err)?;
            }
            self.conn.execute_batch("COMMIT").map_err(err)?;
        }
        Ok(())
    }

    fn query_series(&mut self, series: u32, from: i64, to: i64) -> Result<Read> {
        let mut r = Read::default();
        self.range(series, from, to, |_, v| r.add(v))?;
        Ok(r)
    }

    fn query_many(&mut self, q: &ManyQuery, from: i64, to: i64) -> Result<Read> {
        let mut r = Read::default();
        for &i in &q.series {
            self.range(i, from, to, |_, v| r.add(v))?;
        }
        Ok(r)
    }

    fn query_buckets(&mut self, series: u32, from: i64, to: i64, step: i64) -> Result<Vec<Bucket>> {
        let mut pts = Vec::new();
        self.range(series, from, to, |t, v| pts.push((t, v)))?;
        Ok(buckets(&pts, step))
    }

    fn close(self: Box<Self>) -> Result<()> {
        // Closing the last connection checkpoints the WAL into the database and removes it.
        self.conn.close().map_err(|(_, e)| err(e))
    }
}
