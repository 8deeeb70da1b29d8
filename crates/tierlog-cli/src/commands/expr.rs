//! `tierlog query DIR EXPR` with a PromQL expression (anything that is not a plain selector):
//! evaluated at one instant (`--to`, default now) or, with `--step`, at every step from
//! `--from` to `--to`, as Prometheus' `/api/v1/query` and `/api/v1/query_range` do.

use std::io::{BufWriter, Write};
use std::path::Path;

use tierlog::Store;
use tierlog_promql::{Options, Value};
use tierlog_tools::inspect::json_f64;

use super::Now;
use super::query::{OutputArgs, Source, draw, json_text, jsonl_warnings, report, series_name};
use crate::chart::Line;
use crate::output::{csv_field, labels_text, table_streamed, table_value_text, value_text};
use crate::{Failure, Format};

/// One series of the answer: metric name ("" when the expression dropped it), its other
/// labels, and its points.
struct Row {
    metric: String,
    labels: tierlog::Labels,
    points: Vec<(i64, f64)>,
}

#[allow(clippy::too_many_arguments)]
pub fn run(
    now: &Now,
    dir: &Path,
    expr: &str,
    from: Option<&str>,
    to: Option<&str>,
    source: &Source<'_>,
    output: &OutputArgs,
    selector_error: &str,
) -> Result<(), Failure> {
    let to_ms = to
        .map(|t| now.time("--to", t))
        .transpose()?
        .unwrap_or(now.ms);
    let store = Store::open_read_only(dir, now.config())?;
    let opts = Options::default();
    let out = match source {
        Source::Tier(_) => {
            return Err(Failure::Usage(
                "--tier reads a tier's buckets of a selector; an expression chooses its \
                 sources itself (raw points, else the rollup tiers: docs/promql.md)"
                    .into(),
            ));
        }
        Source::Step(step) => {
            let Some(from) = from else {
                return Err(Failure::Usage(
                    "an expression with --step needs --from (the first evaluation time)".into(),
                ));
            };
            let from_ms = now.time("--from", from)?;
            if from_ms > to_ms {
                return Err(Failure::Usage(format!(
                    "--from {from} is after --to {}",
                    to.unwrap_or("(now)")
                )));
            }
            tierlog_promql::query_range(
                &store,
                expr,
                from_ms,
                to_ms,
                step.as_millis() as i64,
                &opts,
            )
        }
        Source::Raw => {
            if from.is_some() {
                return Err(Failure::Usage(
                    "an expression without --step is evaluated at one instant (--to, default \
                     now); give --step to evaluate it over --from..--to"
                        .into(),
                ));
            }
            tierlog_promql::query(&store, expr, to_ms, &opts)
        }
    }
    .map_err(|e| match e {
        tierlog_promql::Error::Store(e) => Failure::from(e),
        // Neither form parses: say what each found wrong.
        tierlog_promql::Error::Parse(m) => Failure::Error(format!(
            "{}: not a selector ({}) nor a PromQL expression ({})",
            crate::output::quoted_cut(expr),
            cut(selector_error),
            cut(&m)
        )),
        e => Failure::Error(format!(
            "{}: {}",
            crate::output::quoted_cut(expr),
            cut(&e.to_string())
        )),
    })?;
    let rows = match out.value {
        Value::String { t, s } => {
            return print_string(t, &s, &out.warnings, output);
        }
        Value::Scalar { t, v } => vec![Row {
            metric: String::new(),
            labels: tierlog::Labels::default(),
            points: vec![(t, v)],
        }],
        Value::Vector(samples) => samples
            .into_iter()
            .map(|s| row(&s.labels, vec![(s.t, s.v)]))
            .collect(),
        Value::Matrix(series) => series
            .into_iter()
            .map(|s| row(&s.labels, s.points))
            .collect(),
    };
    print_rows(&rows, &out.warnings, output)?;
    let points = rows.iter().map(|r| r.points.len()).sum();
    report(&out.warnings, rows.len(), points, "points");
    Ok(())
}

/// A message cut to a few hundred characters: a parser may quote a whole (huge) input.
fn cut(m: &str) -> String {
    const MAX: usize = 300;
    match m.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &m[..i]),
        None => m.to_owned(),
    }
}

fn row(labels: &tierlog_promql::Labels, points: Vec<(i64, f64)>) -> Row {
    let pairs: Vec<(&str, &str)> = labels
        .iter()
        .filter(|(k, _)| *k != tierlog_promql::METRIC_NAME)
        .collect();
    Row {
        metric: labels.name().unwrap_or("").to_owned(),
        labels: tierlog::Labels::canonical(&pairs),
        points,
    }
}

fn labels_json(labels: &tierlog::Labels) -> Result<String, Failure> {
    let map: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned())))
        .collect();
    serde_json::to_string(&map).map_err(|e| Failure::Error(e.to_string()))
}

fn print_rows(rows: &[Row], warnings: &[String], output: &OutputArgs) -> Result<(), Failure> {
    if output.plot || output.svg.is_some() {
        let lines: Vec<Line> = rows
            .iter()
            .map(|r| Line {
                name: display_name(r),
                points: r.points.clone(),
                band: Vec::new(),
            })
            .collect();
        return draw(&lines, output);
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match output.format {
        _ if output.jsonl => {
            for r in rows {
                let prefix = format!(
                    "{{\"metric\":{},\"labels\":{}",
                    json_text(&r.metric)?,
                    labels_json(&r.labels)?
                );
                for (t, v) in &r.points {
                    writeln!(out, "{prefix},\"t\":{t},\"value\":{}}}", json_f64(*v))?;
                }
            }
            jsonl_warnings(&mut out, warnings)?;
        }
        Format::Json => {
            write!(out, "{{\"series\":[")?;
            for (i, r) in rows.iter().enumerate() {
                if i > 0 {
                    write!(out, ",")?;
                }
                write!(
                    out,
                    "\n{{\"metric\":{},\"labels\":{},\"points\":[",
                    json_text(&r.metric)?,
                    labels_json(&r.labels)?
                )?;
                for (j, (t, v)) in r.points.iter().enumerate() {
                    if j > 0 {
                        write!(out, ",")?;
                    }
                    write!(out, "[{t},{}]", json_f64(*v))?;
                }
                write!(out, "]}}")?;
            }
            let w = serde_json::to_string(warnings).map_err(|e| Failure::Error(e.to_string()))?;
            writeln!(out, "\n],\"warnings\":{w}}}")?;
        }
        Format::Csv => {
            writeln!(out, "metric,labels,ts_ms,value")?;
            for r in rows {
                let (m, l) = (csv_field(&r.metric), csv_field(&labels_text(&r.labels)));
                for (t, v) in &r.points {
                    writeln!(out, "{m},{l},{t},{}", value_text(*v))?;
                }
            }
        }
        Format::Table => {
            let zone = output.zone();
            let names: Vec<String> = rows.iter().map(display_name).collect();
            let table_rows = || {
                rows.iter().zip(&names).flat_map(move |(r, name)| {
                    r.points.iter().map(move |(t, v)| {
                        vec![name.clone(), zone.format(*t), table_value_text(*v)]
                    })
                })
            };
            table_streamed(&mut out, &["SERIES", "TIME", "VALUE"], table_rows)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// `metric{labels}`, `{labels}` without a metric name, `{}` for no labels at all.
fn display_name(r: &Row) -> String {
    let name = series_name(&r.metric, &r.labels);
    if name.is_empty() { "{}".into() } else { name }
}

fn print_string(t: i64, s: &str, warnings: &[String], output: &OutputArgs) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if output.jsonl || output.format == Format::Json {
        writeln!(out, "{{\"t\":{t},\"string\":{}}}", json_text(s)?)?;
    } else if output.format == Format::Csv {
        writeln!(out, "ts_ms,string\n{t},{}", csv_field(s))?;
    } else {
        writeln!(out, "{s}")?;
    }
    out.flush()?;
    report(warnings, 0, 0, "points");
    Ok(())
}
