//! `tierlog query`.

use std::io::{BufWriter, Write};
use std::path::Path;

use tierlog::inspect::json_f64;
use tierlog::{Selector, Store};

use super::Now;
use crate::output::{csv_field, table, value_text};
use crate::time::format_rfc3339;
use crate::{Failure, Format};

pub fn run(
    now: &Now,
    dir: &Path,
    selector: &str,
    from: Option<&str>,
    to: Option<&str>,
    format: Format,
) -> Result<(), Failure> {
    let sel: Selector = selector
        .parse()
        .map_err(|e| Failure::Error(format!("selector {selector:?}: {e}")))?;
    let from = from
        .map(|f| now.time("--from", f))
        .transpose()?
        .unwrap_or(i64::MIN);
    let to = to
        .map(|t| now.time("--to", t))
        .transpose()?
        .unwrap_or(i64::MAX);
    let store = Store::open_read_only(dir, now.config())?;
    let r = store.query(&sel, from, to)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match format {
        Format::Json => {
            // Streamed by hand: one document, series by series.
            write!(out, "{{\"series\":[")?;
            for (i, s) in r.series.iter().enumerate() {
                if i > 0 {
                    write!(out, ",")?;
                }
                let labels =
                    serde_json::to_string(&s.labels).map_err(|e| Failure::Error(e.to_string()))?;
                let metric =
                    serde_json::to_string(&s.metric).map_err(|e| Failure::Error(e.to_string()))?;
                write!(
                    out,
                    "\n{{\"metric\":{metric},\"labels\":{labels},\"tier\":\"{}\",\"points\":[",
                    s.tier
                )?;
                for (j, (t, v)) in s.points.iter().enumerate() {
                    if j > 0 {
                        write!(out, ",")?;
                    }
                    write!(out, "[{t},{}]", json_f64(*v))?;
                }
                write!(out, "]}}")?;
            }
            let warnings =
                serde_json::to_string(&r.warnings).map_err(|e| Failure::Error(e.to_string()))?;
            writeln!(out, "\n],\"warnings\":{warnings}}}")?;
        }
        Format::Csv => {
            writeln!(out, "metric,labels,ts_ms,value")?;
            for s in &r.series {
                let (m, l) = (csv_field(&s.metric), csv_field(&s.labels.to_kv_string()));
                for (t, v) in &s.points {
                    writeln!(out, "{m},{l},{t},{}", value_text(*v))?;
                }
            }
        }
        Format::Table => {
            let mut rows = Vec::new();
            for s in &r.series {
                let name = if s.labels.is_empty() {
                    s.metric.clone()
                } else {
                    let l: Vec<String> = s
                        .labels
                        .pairs()
                        .iter()
                        .map(|(k, v)| format!("{k}={v:?}"))
                        .collect();
                    format!("{}{{{}}}", s.metric, l.join(","))
                };
                for (t, v) in &s.points {
                    rows.push(vec![name.clone(), format_rfc3339(*t), value_text(*v)]);
                }
            }
            table(&mut out, &["SERIES", "TIME", "VALUE"], &rows)?;
        }
    }
    out.flush()?;
    for w in &r.warnings {
        eprintln!("tierlog: warning: {w}");
    }
    let points: usize = r.series.iter().map(|s| s.points.len()).sum();
    eprintln!(
        "{} series, {points} points{}",
        r.series.len(),
        if r.is_partial() {
            " (partial: see warnings)"
        } else {
            ""
        }
    );
    Ok(())
}
