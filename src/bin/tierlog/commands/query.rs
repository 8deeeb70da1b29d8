//! `tierlog query`.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use tierlog::inspect::json_f64;
use tierlog::{BucketPoint, BucketResult, Labels, Selector, Store};

use super::Now;
use crate::output::{csv_field, table, value_text};
use crate::time::format_rfc3339;
use crate::{Failure, Format};

/// What a query reads.
pub enum Source<'a> {
    /// Raw points.
    Raw,
    /// A rollup tier's stored buckets.
    Tier(&'a str),
    /// Step buckets stitched from tiers and raw points.
    Step(Duration),
}

pub fn run(
    now: &Now,
    dir: &Path,
    selector: &str,
    from: Option<&str>,
    to: Option<&str>,
    source: Source<'_>,
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
    match source {
        Source::Raw => {}
        Source::Tier(tier) => {
            let r = store.query_tier(&sel, from, to, tier)?;
            return buckets(&r, &Label::Tier(tier), format);
        }
        Source::Step(step) => {
            let r = store.query_step(&sel, from, to, step)?;
            return buckets(&r, &Label::Step(step.as_millis() as i64), format);
        }
    }
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
                let name = series_name(&s.metric, &s.labels);
                for (t, v) in &s.points {
                    rows.push(vec![name.clone(), format_rfc3339(*t), value_text(*v)]);
                }
            }
            table(&mut out, &["SERIES", "TIME", "VALUE"], &rows)?;
        }
    }
    out.flush()?;
    let points: usize = r.series.iter().map(|s| s.points.len()).sum();
    report(&r.warnings, r.series.len(), points, "points");
    Ok(())
}

/// Warnings and the closing count, on stderr.
fn report(warnings: &[String], series: usize, points: usize, what: &str) {
    for w in warnings {
        eprintln!("tierlog: warning: {w}");
    }
    eprintln!(
        "{series} series, {points} {what}{}",
        if warnings.is_empty() {
            ""
        } else {
            " (partial: see warnings)"
        }
    );
}

/// `metric{k="v",...}`, or the bare metric name without labels.
fn series_name(metric: &str, labels: &Labels) -> String {
    if labels.is_empty() {
        metric.to_owned()
    } else {
        let l: Vec<String> = labels
            .pairs()
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        format!("{metric}{{{}}}", l.join(","))
    }
}

/// What a bucket series is labelled with in the output.
enum Label<'a> {
    /// `"tier": NAME`.
    Tier(&'a str),
    /// `"step": "60s", "step_ms": 60000`.
    Step(i64),
}

/// A step as text: whole seconds (`60s`, `300s`), like the tiers' names; milliseconds when
/// the step is not a whole number of seconds (the store refuses those anyway).
fn step_text(ms: i64) -> String {
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn json_text(s: &str) -> Result<String, Failure> {
    serde_json::to_string(s).map_err(|e| Failure::Error(e.to_string()))
}

/// Prints the buckets of a tier or step query.
fn buckets(r: &BucketResult, label: &Label<'_>, format: Format) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let opt = |v: Option<f64>| v.map_or(String::new(), value_text);
    match format {
        Format::Json => {
            let label_json = match label {
                Label::Tier(t) => format!("\"tier\":{}", json_text(t)?),
                Label::Step(ms) => format!("\"step\":\"{}\",\"step_ms\":{ms}", step_text(*ms)),
            };
            write!(out, "{{\"series\":[")?;
            for (i, s) in r.series.iter().enumerate() {
                if i > 0 {
                    write!(out, ",")?;
                }
                let labels =
                    serde_json::to_string(&s.labels).map_err(|e| Failure::Error(e.to_string()))?;
                write!(
                    out,
                    "\n{{\"metric\":{},\"labels\":{labels},{label_json},\"points\":[",
                    json_text(&s.metric)?
                )?;
                for (j, p) in s.points.iter().enumerate() {
                    if j > 0 {
                        write!(out, ",")?;
                    }
                    write_point(&mut out, p)?;
                }
                write!(out, "]}}")?;
            }
            let warnings =
                serde_json::to_string(&r.warnings).map_err(|e| Failure::Error(e.to_string()))?;
            writeln!(out, "\n],\"warnings\":{warnings}}}")?;
        }
        Format::Csv => {
            writeln!(
                out,
                "metric,labels,ts_ms,width_ms,count,nan_count,min,max,sum,avg,p95,first,last,increase,tier"
            )?;
            for s in &r.series {
                let (m, l) = (csv_field(&s.metric), csv_field(&s.labels.to_kv_string()));
                for p in &s.points {
                    writeln!(
                        out,
                        "{m},{l},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                        p.t,
                        p.width_ms,
                        p.count,
                        p.nan_count,
                        value_text(p.min),
                        value_text(p.max),
                        value_text(p.sum),
                        value_text(p.avg),
                        opt(p.p95),
                        value_text(p.first),
                        value_text(p.last),
                        opt(p.increase),
                        csv_field(&p.tier)
                    )?;
                }
            }
        }
        Format::Table => {
            let dash = |v: Option<f64>| v.map_or("-".to_owned(), value_text);
            let nans = r
                .series
                .iter()
                .flat_map(|s| &s.points)
                .any(|p| p.nan_count > 0);
            let increases = r
                .series
                .iter()
                .flat_map(|s| &s.points)
                .any(|p| p.increase.is_some());
            let mut header = vec!["SERIES", "TIME", "COUNT"];
            if nans {
                header.push("NAN");
            }
            header.extend(["MIN", "MAX", "SUM", "AVG", "P95", "FIRST", "LAST"]);
            if increases {
                header.push("INCREASE");
            }
            header.push("FROM");
            let mut rows = Vec::new();
            for s in &r.series {
                let name = series_name(&s.metric, &s.labels);
                for p in &s.points {
                    let mut row = vec![name.clone(), format_rfc3339(p.t), p.count.to_string()];
                    if nans {
                        row.push(p.nan_count.to_string());
                    }
                    row.extend([
                        value_text(p.min),
                        value_text(p.max),
                        value_text(p.sum),
                        value_text(p.avg),
                        dash(p.p95),
                        value_text(p.first),
                        value_text(p.last),
                    ]);
                    if increases {
                        row.push(dash(p.increase));
                    }
                    row.push(p.tier.to_string());
                    rows.push(row);
                }
            }
            table(&mut out, &header, &rows)?;
        }
    }
    out.flush()?;
    let n: usize = r.series.iter().map(|s| s.points.len()).sum();
    report(&r.warnings, r.series.len(), n, "buckets");
    let notes: std::collections::BTreeSet<&str> = r
        .series
        .iter()
        .flat_map(|s| &s.points)
        .filter_map(|p| p.p95_note)
        .collect();
    if format == Format::Table {
        for note in notes {
            eprintln!("tierlog: p95 \"-\": {note}");
        }
    }
    Ok(())
}

/// One bucket as the JSON object of the output contract.
fn write_point(out: &mut impl Write, p: &BucketPoint) -> Result<(), Failure> {
    write!(out, "{{\"t\":{},\"count\":{}", p.t, p.count)?;
    if p.nan_count > 0 {
        write!(out, ",\"nan_count\":{}", p.nan_count)?;
    }
    for (k, v) in [
        ("min", p.min),
        ("max", p.max),
        ("sum", p.sum),
        ("avg", p.avg),
    ] {
        write!(out, ",\"{k}\":{}", json_f64(v))?;
    }
    match p.p95 {
        Some(v) => write!(out, ",\"p95\":{}", json_f64(v))?,
        None => write!(
            out,
            ",\"p95\":null,\"p95_note\":{}",
            json_text(p.p95_note.unwrap_or("not available"))?
        )?,
    }
    write!(
        out,
        ",\"first\":{},\"last\":{}",
        json_f64(p.first),
        json_f64(p.last)
    )?;
    if let Some(v) = p.increase {
        write!(out, ",\"increase\":{}", json_f64(v))?;
    }
    write!(out, ",\"tier\":{}}}", json_text(&p.tier)?)?;
    Ok(())
}
