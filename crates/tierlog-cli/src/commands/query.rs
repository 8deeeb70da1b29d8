//! `tierlog query`.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::ser::{CompactFormatter, Formatter};
use tierlog::{
    BucketPoint, BucketResult, Labels, QueryIter, QueryResult, Selector, SeriesBuckets, StepIter,
    Store,
};
use tierlog_tools::inspect::json_f64;

use super::Now;
use crate::chart::{self, Chart, Line};
use crate::output::{
    csv_field, labels_text, stdout_colours, table_streamed, table_value_text, terminal_size,
    value_text,
};
use crate::time::Zone;
use crate::{Failure, Format};

/// How `tierlog query` prints its answer.
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// JSON Lines instead of one JSON document: one object per point or bucket, written as
    /// it goes (see the README's output contract).
    #[arg(long, conflicts_with_all = ["plot", "svg"])]
    pub jsonl: bool,
    /// Print the table's times (and the chart's time labels) in local time with the offset,
    /// e.g. 2024-01-02T08:34:05.000+05:30, instead of UTC (TZ or the system's zone).
    #[arg(long)]
    pub local: bool,
    /// Draw the series as a line chart on the terminal instead of printing them (with
    /// --step or --tier: the average, over a band from min to max).
    #[arg(long)]
    pub plot: bool,
    /// Write the chart as a standalone SVG file (without --plot nothing else is printed).
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Width of the terminal chart in columns [default: the terminal's, else 100].
    #[arg(long, value_name = "COLUMNS", requires = "plot")]
    pub width: Option<u16>,
    /// Height of the terminal chart in lines, legend included [default: the terminal's,
    /// else 24].
    #[arg(long, value_name = "LINES", requires = "plot")]
    pub height: Option<u16>,
}

impl OutputArgs {
    pub(super) fn zone(&self) -> Zone {
        if self.local { Zone::Local } else { Zone::Utc }
    }

    fn chart(&self) -> bool {
        self.plot || self.svg.is_some()
    }
}

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
    output: &OutputArgs,
) -> Result<(), Failure> {
    if output.jsonl && output.format == Format::Csv {
        return Err(Failure::Usage(
            "--jsonl prints JSON Lines; it does not go with --format csv".into(),
        ));
    }
    // A plain selector keeps the raw, --tier and --step answers; anything else is a PromQL
    // expression.
    let sel: Selector = match selector.parse() {
        Ok(sel) => sel,
        Err(e) => {
            return super::expr::run(
                now,
                dir,
                selector,
                from,
                to,
                &source,
                output,
                &e.to_string(),
            );
        }
    };
    let (from_text, to_text) = (from, to);
    let from = from
        .map(|f| now.time("--from", f))
        .transpose()?
        .unwrap_or(i64::MIN);
    let to = to
        .map(|t| now.time("--to", t))
        .transpose()?
        .unwrap_or(i64::MAX);
    if from >= to {
        return Err(Failure::Usage(format!(
            "--from {} is not before --to {}: the range [from, to) is empty",
            from_text.unwrap_or("(start)"),
            to_text.unwrap_or("(end)")
        )));
    }
    let store = Store::open_read_only(dir, now.config())?;
    let if_empty = empty_hints(&store, &source, from, to);
    match source {
        Source::Raw => {}
        Source::Tier(tier) => {
            let mut r = store.query_tier(&sel, from, to, tier)?;
            if r.series.iter().all(|s| s.points.is_empty()) {
                r.warnings.extend(if_empty);
            }
            return buckets(&r, &Label::Tier(tier), output);
        }
        Source::Step(step) => {
            let label = Label::Step(step.as_millis() as i64);
            // JSON, JSON Lines and CSV stream series by series, as raw points do.
            if !output.chart() && (output.jsonl || output.format != Format::Table) {
                let it: StepIter<'_> = store.query_step_iter(&sel, from, to, step)?;
                let mut w = BucketWriter::new(&label, output)?;
                let warnings = write_pipelined(it, query_threads(), |s| w.series(s))?;
                let (series, n) = w.finish(&warnings)?;
                report(&warnings, series, n, "buckets");
                return Ok(());
            }
            let r = store.query_step(&sel, from, to, step)?;
            return buckets(&r, &label, output);
        }
    }
    // JSON, JSON Lines and CSV stream series by series: one series' points in memory at a time.
    if !output.chart() && (output.jsonl || output.format != Format::Table) {
        let mut it = store.query_iter(&sel, from, to)?;
        let (series, points, warnings) = raw_streamed(&mut it, output, &if_empty)?;
        report(&warnings, series, points, "points");
        return Ok(());
    }
    let mut r = store.query(&sel, from, to)?;
    let points: usize = r.series.iter().map(|s| s.points.len()).sum();
    if points == 0 {
        r.warnings.extend(if_empty);
    }
    let (series, warnings) = (r.series.len(), r.warnings.clone());
    if output.chart() {
        let lines: Vec<Line> = r
            .series
            .into_iter()
            .map(|s| Line {
                name: series_name(&s.metric, &s.labels),
                points: s.points,
                band: Vec::new(),
            })
            .collect();
        draw(&lines, output)?;
    } else {
        raw_table(&r, output)?;
    }
    report(&warnings, series, points, "points");
    Ok(())
}

/// Why a query of `source` over `[from, to)` may find nothing although the store has data
/// for the range: the tier is not materialised that far yet, or the raw points there have
/// expired while a rollup tier still holds them. Added to the warnings when the answer is
/// empty.
fn empty_hints(store: &Store, source: &Source<'_>, from: i64, to: i64) -> Vec<String> {
    let stats = store.stats();
    let Some(raw) = stats.tiers.iter().find(|t| t.tier == "raw") else {
        return Vec::new();
    };
    let dir = store.dir().display();
    match source {
        Source::Tier(name) => {
            let Some(t) = stats.tiers.iter().find(|t| t.tier == *name) else {
                return Vec::new();
            };
            let done = t.materialised_through_ms.unwrap_or(i64::MIN);
            // Raw points in the range that the tier has not rolled up yet.
            let pending = matches!((raw.oldest_ms, raw.newest_ms),
                (Some(lo), Some(hi)) if lo < to && hi >= from.max(done));
            if !pending {
                return Vec::new();
            }
            vec![match t.materialised_through_ms {
                None => format!(
                    "the {name} tier is not materialised yet: raw points are rolled up once their window is sealed; run `tierlog maintain {dir}` (or query without --tier)"
                ),
                Some(m) => format!(
                    "the {name} tier is materialised only through {}: newer raw points are not rolled up yet; run `tierlog maintain {dir}` (or query without --tier)",
                    crate::time::format_rfc3339(m)
                ),
            }]
        }
        Source::Raw => {
            // The raw tier's oldest point, or (all raw expired) the end of the range.
            let kept_from = raw.oldest_ms.unwrap_or(i64::MAX);
            if from >= kept_from {
                return Vec::new();
            }
            // The finest rollup tier holding buckets in the expired part of the range.
            let end = to.min(kept_from);
            let tier = store.config().tiers().iter().find(|c| {
                stats.tiers.iter().any(|t| {
                    t.tier == c.name
                        && matches!((t.oldest_ms, t.newest_ms),
                            (Some(lo), Some(hi)) if lo < end && hi >= from)
                })
            });
            let Some(tier) = tier else {
                return Vec::new();
            };
            let step = step_text(tier.interval.as_millis() as i64);
            let since = match raw.oldest_ms {
                Some(t) => format!("before {}", crate::time::format_rfc3339(t)),
                None => "of the range".to_owned(),
            };
            vec![format!(
                "raw points {since} are no longer kept (expired, or moved aside by repair); `--step {step}` reads the {} tier",
                tier.name
            )]
        }
        Source::Step(_) => Vec::new(),
    }
}

/// Prints raw points as JSON Lines, JSON or CSV while the query reads them, series by series.
/// Returns the numbers of series and points printed, and the warnings (the query's, then
/// `if_empty` when no point was printed).
fn raw_streamed(
    it: &mut QueryIter<'_>,
    output: &OutputArgs,
    if_empty: &[String],
) -> Result<(usize, usize, Vec<String>), Failure> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let (mut series, mut points) = (0usize, 0usize);
    match output.format {
        _ if output.jsonl => {
            for s in it.by_ref() {
                let prefix = format!(
                    "{{\"metric\":{},\"labels\":{},\"tier\":\"{}\"",
                    json_text(&s.metric)?,
                    json_labels(&s.labels)?,
                    s.tier
                );
                for (t, v) in &s.points {
                    writeln!(out, "{prefix},\"t\":{t},\"value\":{}}}", json_f64(*v))?;
                }
                series += 1;
                points += s.points.len();
            }
            jsonl_warnings(&mut out, &warnings_then(it.warnings(), points, if_empty))?;
        }
        Format::Json => {
            // One document, written series by series.
            write!(out, "{{\"series\":[")?;
            for s in it.by_ref() {
                if series > 0 {
                    write!(out, ",")?;
                }
                write!(
                    out,
                    "\n{{\"metric\":{},\"labels\":{},\"tier\":\"{}\",\"points\":[",
                    json_text(&s.metric)?,
                    json_labels(&s.labels)?,
                    s.tier
                )?;
                for (j, (t, v)) in s.points.iter().enumerate() {
                    if j > 0 {
                        write!(out, ",")?;
                    }
                    write!(out, "[{t},{}]", json_f64(*v))?;
                }
                write!(out, "]}}")?;
                series += 1;
                points += s.points.len();
            }
            let warnings = serde_json::to_string(&warnings_then(it.warnings(), points, if_empty))
                .map_err(|e| Failure::Error(e.to_string()))?;
            writeln!(out, "\n],\"warnings\":{warnings}}}")?;
        }
        Format::Csv => {
            writeln!(out, "metric,labels,ts_ms,value")?;
            for s in it.by_ref() {
                let (m, l) = (csv_field(&s.metric), csv_field(&labels_text(&s.labels)));
                for (t, v) in &s.points {
                    writeln!(out, "{m},{l},{t},{}", value_text(*v))?;
                }
                series += 1;
                points += s.points.len();
            }
        }
        Format::Table => unreachable!("tables are printed from a whole result"),
    }
    out.flush()?;
    Ok((
        series,
        points,
        warnings_then(it.warnings(), points, if_empty),
    ))
}

/// The query's warnings, then `if_empty` when no point was found.
fn warnings_then(warnings: &[String], points: usize, if_empty: &[String]) -> Vec<String> {
    let mut w = warnings.to_vec();
    if points == 0 {
        w.extend(if_empty.iter().cloned());
    }
    w
}

/// Prints raw points as an aligned table (two passes: widths, then rows).
fn raw_table(r: &QueryResult, output: &OutputArgs) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let zone = output.zone();
    let names: Vec<String> = r
        .series
        .iter()
        .map(|s| series_name(&s.metric, &s.labels))
        .collect();
    let rows = || {
        r.series.iter().zip(&names).flat_map(move |(s, name)| {
            s.points
                .iter()
                .map(move |(t, v)| vec![name.clone(), zone.format(*t), table_value_text(*v)])
        })
    };
    table_streamed(&mut out, &["SERIES", "TIME", "VALUE"], rows)?;
    out.flush()?;
    Ok(())
}

/// Draws `lines` on the terminal (`--plot`) and into the SVG file (`--svg`).
pub(super) fn draw(lines: &[Line], output: &OutputArgs) -> Result<(), Failure> {
    let c = Chart {
        lines,
        zone: output.zone(),
    };
    if output.plot {
        let (tw, th) = terminal_size().unwrap_or((100, 24));
        let width = output.width.unwrap_or(tw);
        let height = output.height.unwrap_or(th);
        let text = chart::terminal(&c, width.into(), height.into(), stdout_colours());
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
    }
    if let Some(path) = &output.svg {
        std::fs::write(path, chart::svg(&c))
            .map_err(|e| Failure::Error(format!("{}: {e}", path.display())))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// `--jsonl`'s closing lines: one `{"warning": TEXT}` per warning.
pub(super) fn jsonl_warnings(out: &mut impl Write, warnings: &[String]) -> Result<(), Failure> {
    for w in warnings {
        writeln!(out, "{{\"warning\":{}}}", json_text(w)?)?;
    }
    Ok(())
}

fn json_labels(labels: &Labels) -> Result<String, Failure> {
    serde_json::to_string(labels).map_err(|e| Failure::Error(e.to_string()))
}

/// Warnings and the closing count, on stderr.
pub(super) fn report(warnings: &[String], series: usize, points: usize, what: &str) {
    for w in warnings {
        eprintln!("tierlog: warning: {w}");
    }
    crate::status::summary(format_args!(
        "{series} series, {points} {what}{}",
        if warnings.is_empty() {
            ""
        } else {
            " (partial: see warnings)"
        }
    ));
}

/// `metric{k="v",...}` (labels quoted as Prometheus quotes them), or the bare metric name
/// without labels.
pub(super) fn series_name(metric: &str, labels: &Labels) -> String {
    format!("{metric}{}", labels_text(labels))
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

pub(super) fn json_text(s: &str) -> Result<String, Failure> {
    serde_json::to_string(s).map_err(|e| Failure::Error(e.to_string()))
}

/// Prints (or draws) the buckets of a tier or step query.
fn buckets(r: &BucketResult, label: &Label<'_>, output: &OutputArgs) -> Result<(), Failure> {
    if output.chart() {
        let lines: Vec<Line> = r
            .series
            .iter()
            .map(|s| {
                // Each bucket is drawn at its middle.
                let mid = |p: &BucketPoint| p.t + p.width_ms / 2;
                Line {
                    name: series_name(&s.metric, &s.labels),
                    points: s.points.iter().map(|p| (mid(p), p.avg)).collect(),
                    band: s.points.iter().map(|p| (mid(p), p.min, p.max)).collect(),
                }
            })
            .collect();
        draw(&lines, output)?;
        let n: usize = r.series.iter().map(|s| s.points.len()).sum();
        report(&r.warnings, r.series.len(), n, "buckets");
        return Ok(());
    }
    if output.jsonl || output.format != Format::Table {
        let mut w = BucketWriter::new(label, output)?;
        for s in &r.series {
            w.series(s)?;
        }
        let (series, n) = w.finish(&r.warnings)?;
        report(&r.warnings, series, n, "buckets");
        return Ok(());
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let dash = |v: Option<f64>| v.map_or("-".to_owned(), table_value_text);
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
    let zone = output.zone();
    let names: Vec<String> = r
        .series
        .iter()
        .map(|s| series_name(&s.metric, &s.labels))
        .collect();
    let row = |name: &String, p: &BucketPoint| {
        let mut row = vec![name.clone(), zone.format(p.t), p.count.to_string()];
        if nans {
            row.push(p.nan_count.to_string());
        }
        row.extend([
            table_value_text(p.min),
            table_value_text(p.max),
            table_value_text(p.sum),
            table_value_text(p.avg),
            dash(p.p95),
            table_value_text(p.first),
            table_value_text(p.last),
        ]);
        if increases {
            row.push(dash(p.increase));
        }
        row.push(p.tier.to_string());
        row
    };
    let rows = || {
        r.series
            .iter()
            .zip(&names)
            .flat_map(move |(s, name)| s.points.iter().map(move |p| row(name, p)))
    };
    table_streamed(&mut out, &header, rows)?;
    out.flush()?;
    let n: usize = r.series.iter().map(|s| s.points.len()).sum();
    report(&r.warnings, r.series.len(), n, "buckets");
    let notes: std::collections::BTreeSet<&str> = r
        .series
        .iter()
        .flat_map(|s| &s.points)
        .filter_map(|p| p.p95_note)
        .collect();
    for note in notes {
        eprintln!("tierlog: p95 \"-\": {note}");
    }
    Ok(())
}

/// How many answered series may wait for [`write_pipelined`]'s writer.
const PIPELINE_DEPTH: usize = 2;

/// Runs a step query on threads of its own (two, each with every other series, when
/// `queries` is 2 or more: [`query_threads`]) while this one writes each series as it
/// comes, in order: the store's folding and the formatting overlap, so the answer takes
/// about the longest of them instead of their sum. The two queries' series are merged by metric and labels,
/// which is the query's order ([`StepIter::split`]). At most [`PIPELINE_DEPTH`] series wait
/// per query thread, so memory stays bounded by a few series' answers, and each written
/// series' buffer goes back to the thread that made it ([`StepIter::recycle`]), which builds
/// a later series in it instead of in fresh memory. Returns the queries' warnings (each
/// once) when every series is written; when `write` fails, the queries stop at their next
/// series and the error is returned.
fn write_pipelined(
    it: StepIter<'_>,
    queries: usize,
    mut write: impl FnMut(&SeriesBuckets) -> Result<(), Failure>,
) -> Result<Vec<String>, Failure> {
    let mut its = vec![it];
    if queries >= 2 {
        let other = its[0].split();
        its.push(other);
    }
    std::thread::scope(|scope| {
        let mut lanes = Vec::new();
        for it in its {
            let (tx, rx) = std::sync::mpsc::sync_channel::<SeriesBuckets>(PIPELINE_DEPTH);
            // Room for every buffer that can be out at once, so one given back is dropped
            // only when the query has not taken the ones before (`try_send` never waits).
            let (back_tx, back_rx) =
                std::sync::mpsc::sync_channel::<Vec<BucketPoint>>(PIPELINE_DEPTH + 2);
            let query = scope.spawn(move || {
                let mut it = it;
                loop {
                    // `recycle` keeps the largest.
                    for points in back_rx.try_iter() {
                        it.recycle(points);
                    }
                    let Some(s) = it.next() else { break };
                    if tx.send(s).is_err() {
                        break; // the writer stopped
                    }
                }
                it.into_warnings()
            });
            lanes.push((rx, back_tx, query));
        }
        // The next series of each query; the least (by metric, then labels) goes first.
        let mut heads: Vec<Option<SeriesBuckets>> =
            lanes.iter().map(|(rx, _, _)| rx.recv().ok()).collect();
        let mut written = Ok(());
        while let Some(i) = heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|s| (i, (&s.metric, &s.labels))))
            .min_by(|a, b| a.1.cmp(&b.1))
            .map(|(i, _)| i)
        {
            let Some(s) = heads[i].take() else {
                unreachable!("the head picked holds a series")
            };
            if let Err(e) = write(&s) {
                written = Err(e);
                break;
            }
            let mut points = s.points;
            // Emptied here, so the query's thread does not spend its time on it.
            points.clear();
            // Full or closed: the buffer is simply freed.
            let _ = lanes[i].1.try_send(points);
            heads[i] = lanes[i].0.recv().ok();
        }
        let mut warnings = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (rx, back, query) in lanes {
            // A writer that stopped early must not leave a query blocked on a full channel.
            drop((rx, back));
            let w = query
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            warnings.extend(w.into_iter().filter(|x| seen.insert(x.clone())));
        }
        written.map(|()| warnings)
    })
}

/// How many threads fold a streamed step query: two where two cores or more can run them
/// beside the writer's thread.
fn query_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
}

/// Standard output for a long answer written in large blocks (a series' JSON, up to
/// [`JSON_BLOCK`] at a time): straight to its file descriptor when it can be had, because
/// std's `Stdout` is line-buffered, so it searches everything written to it for line ends
/// and copies it once more.
fn stdout_blocks() -> BufWriter<Box<dyn Write>> {
    use std::os::fd::AsFd;
    let stdout = std::io::stdout();
    // Flush std's buffer, so that nothing written through it before can land after what goes
    // straight to the descriptor.
    let _ = stdout.lock().flush();
    let raw: Box<dyn Write> = match stdout.as_fd().try_clone_to_owned() {
        Ok(fd) => Box::new(std::fs::File::from(fd)),
        Err(_) => Box::new(stdout.lock()),
    };
    BufWriter::with_capacity(1 << 16, raw)
}

/// Writes the buckets of a tier or step query as JSON Lines, JSON or CSV, series by series.
struct BucketWriter<'a> {
    out: BufWriter<Box<dyn Write>>,
    output: &'a OutputArgs,
    /// What each series (JSON) or bucket (JSON Lines) is labelled with.
    label_json: String,
    /// Formats each bucket's JSON.
    points: PointJson,
    series: usize,
    buckets: usize,
}

impl<'a> BucketWriter<'a> {
    /// Writes what comes before the first series.
    fn new(label: &Label<'_>, output: &'a OutputArgs) -> Result<Self, Failure> {
        let mut out = stdout_blocks();
        let label_json = if output.jsonl {
            // The bucket's own "tier" (its source) says what a tier query's series-level
            // "tier" would, so only a step query adds its step.
            match label {
                Label::Tier(_) => String::new(),
                Label::Step(ms) => format!(",\"step\":\"{}\",\"step_ms\":{ms}", step_text(*ms)),
            }
        } else {
            match label {
                Label::Tier(t) => format!("\"tier\":{}", json_text(t)?),
                Label::Step(ms) => format!("\"step\":\"{}\",\"step_ms\":{ms}", step_text(*ms)),
            }
        };
        if output.jsonl {
        } else if output.format == Format::Json {
            write!(out, "{{\"series\":[")?;
        } else {
            writeln!(
                out,
                "metric,labels,ts_ms,width_ms,count,nan_count,min,max,sum,avg,p95,first,last,increase,tier"
            )?;
        }
        Ok(BucketWriter {
            out,
            output,
            label_json,
            points: PointJson::default(),
            series: 0,
            buckets: 0,
        })
    }

    fn series(&mut self, s: &SeriesBuckets) -> Result<(), Failure> {
        let out = &mut self.out;
        let label_json = &self.label_json;
        if self.output.jsonl {
            let prefix = format!(
                "{{\"metric\":{},\"labels\":{}{label_json},",
                json_text(&s.metric)?,
                json_labels(&s.labels)?
            );
            let w = &mut self.points;
            w.clear();
            w.reserve(s.points.len(), prefix.len() + POINT_JSON);
            for p in &s.points {
                w.push_raw(prefix.as_bytes());
                w.push_fields(p)?;
                w.push_raw(b"}\n");
                w.write_if_full(out)?;
            }
            out.write_all(w.bytes())?;
        } else if self.output.format == Format::Json {
            if self.series > 0 {
                write!(out, ",")?;
            }
            write!(
                out,
                "\n{{\"metric\":{},\"labels\":{},{label_json},\"points\":[",
                json_text(&s.metric)?,
                json_labels(&s.labels)?
            )?;
            let w = &mut self.points;
            w.clear();
            w.reserve(s.points.len(), POINT_JSON);
            for (j, p) in s.points.iter().enumerate() {
                if j > 0 {
                    w.push_raw(b",");
                }
                w.push_object(p)?;
                w.write_if_full(out)?;
            }
            w.push_raw(b"]}");
            out.write_all(w.bytes())?;
        } else {
            let opt = |v: Option<f64>| v.map_or(String::new(), value_text);
            let (m, l) = (csv_field(&s.metric), csv_field(&labels_text(&s.labels)));
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
        self.series += 1;
        self.buckets += s.points.len();
        Ok(())
    }

    /// Writes what comes after the last series; returns the numbers of series and buckets
    /// written.
    fn finish(mut self, warnings: &[String]) -> Result<(usize, usize), Failure> {
        if self.output.jsonl {
            jsonl_warnings(&mut self.out, warnings)?;
        } else if self.output.format == Format::Json {
            let warnings =
                serde_json::to_string(warnings).map_err(|e| Failure::Error(e.to_string()))?;
            writeln!(self.out, "\n],\"warnings\":{warnings}}}")?;
        }
        self.out.flush()?;
        Ok((self.series, self.buckets))
    }
}

/// How much JSON [`PointJson`] gathers before it is written.
const JSON_BLOCK: usize = 1 << 20;

/// About how many bytes a bucket's JSON object takes (most are 250–300).
const POINT_JSON: usize = 320;

/// Writes buckets as JSON objects into one reused buffer, up to a block at a time: numbers
/// are formatted straight into it (no `serde_json::Value` per number, no `fmt` machinery),
/// and the `tier` field's JSON is built once per run of buckets from the same tier. The bytes
/// are those `serde_json` prints.
#[derive(Default)]
struct PointJson {
    buf: Vec<u8>,
    /// The last tier seen and its `,"tier":"…"` text.
    tier: Option<(Arc<str>, Vec<u8>)>,
    /// The last p95 note seen and its JSON string.
    note: Option<(&'static str, Vec<u8>)>,
}

impl PointJson {
    /// Empties the buffer.
    fn clear(&mut self) {
        self.buf.clear();
    }

    /// Makes room for `n` buckets of about `each` bytes, up to a block: a series' buffer grows
    /// to its size in one step instead of by doubling (which writes each byte of fresh
    /// memory twice).
    fn reserve(&mut self, n: usize, each: usize) {
        self.buf
            .reserve(n.saturating_mul(each).min(JSON_BLOCK.saturating_add(each)));
    }

    /// Writes what the buffer holds and empties it once it holds a block: large writes, and
    /// a buffer bounded however long a series is.
    fn write_if_full(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        if self.buf.len() >= JSON_BLOCK {
            out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// What was written since the buffer was last emptied.
    fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Appends `text` as it is.
    fn push_raw(&mut self, text: &[u8]) {
        self.buf.extend_from_slice(text);
    }

    /// Appends the bucket as a JSON object, braces included.
    fn push_object(&mut self, p: &BucketPoint) -> Result<(), Failure> {
        self.buf.push(b'{');
        self.push_fields(p)?;
        self.buf.push(b'}');
        Ok(())
    }

    /// The bucket as a JSON object, braces included, alone in the buffer.
    #[cfg(test)]
    fn object(&mut self, p: &BucketPoint) -> Result<&[u8], Failure> {
        self.clear();
        self.push_object(p)?;
        Ok(&self.buf)
    }

    /// The fields of a bucket's JSON object, without its braces, alone in the buffer.
    #[cfg(test)]
    fn fields(&mut self, p: &BucketPoint) -> Result<&[u8], Failure> {
        self.clear();
        self.push_fields(p)?;
        Ok(&self.buf)
    }

    /// Appends the fields of a bucket's JSON object, without its braces.
    fn push_fields(&mut self, p: &BucketPoint) -> Result<(), Failure> {
        let b = &mut self.buf;
        b.extend_from_slice(b"\"t\":");
        push_i64(b, p.t);
        b.extend_from_slice(b",\"count\":");
        push_u64(b, p.count);
        if p.nan_count > 0 {
            b.extend_from_slice(b",\"nan_count\":");
            push_u64(b, p.nan_count);
        }
        for (k, v) in [
            (&b",\"min\":"[..], p.min),
            (b",\"max\":", p.max),
            (b",\"sum\":", p.sum),
            (b",\"avg\":", p.avg),
        ] {
            b.extend_from_slice(k);
            push_json_f64(b, v);
        }
        match p.p95 {
            Some(v) => {
                b.extend_from_slice(b",\"p95\":");
                push_json_f64(b, v);
            }
            None => {
                b.extend_from_slice(b",\"p95\":null,\"p95_note\":");
                let note = p.p95_note.unwrap_or("not available");
                match &self.note {
                    Some((seen, text)) if *seen == note => b.extend_from_slice(text),
                    _ => {
                        let text = json_text(note)?.into_bytes();
                        b.extend_from_slice(&text);
                        self.note = Some((note, text));
                    }
                }
            }
        }
        b.extend_from_slice(b",\"first\":");
        push_json_f64(b, p.first);
        b.extend_from_slice(b",\"last\":");
        push_json_f64(b, p.last);
        if let Some(v) = p.increase {
            b.extend_from_slice(b",\"increase\":");
            push_json_f64(b, v);
        }
        match &self.tier {
            Some((name, text)) if Arc::ptr_eq(name, &p.tier) || **name == *p.tier => {
                b.extend_from_slice(text)
            }
            _ => {
                let text = format!(",\"tier\":{}", json_text(&p.tier)?).into_bytes();
                b.extend_from_slice(&text);
                self.tier = Some((p.tier.clone(), text));
            }
        }
        Ok(())
    }
}

fn push_i64(b: &mut Vec<u8>, v: i64) {
    // Writing into a Vec cannot fail.
    let _ = CompactFormatter.write_i64(b, v);
}

fn push_u64(b: &mut Vec<u8>, v: u64) {
    let _ = CompactFormatter.write_u64(b, v);
}

/// Appends `v` as [`json_f64`] prints it: a JSON number as `serde_json` writes it, or the
/// strings `"NaN"`, `"+Inf"`, `"-Inf"`.
fn push_json_f64(b: &mut Vec<u8>, v: f64) {
    // Whole numbers below 2^53 (most of a store's counters and byte gauges): `serde_json`
    // prints them as the integer and `.0`, which the integer formatter writes faster than
    // the shortest-digits search. -0 keeps its sign through the general path.
    let n = v as i64;
    if n as f64 == v && n.unsigned_abs() < 1 << 53 && (n != 0 || v.is_sign_positive()) {
        push_i64(b, n);
        b.extend_from_slice(b".0");
    } else if v.is_finite() {
        let _ = CompactFormatter.write_f64(b, v);
    } else if v.is_nan() {
        b.extend_from_slice(b"\"NaN\"");
    } else if v > 0.0 {
        b.extend_from_slice(b"\"+Inf\"");
    } else {
        b.extend_from_slice(b"\"-Inf\"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pipelined writer gets a step query's series in the query's order, every bucket as
    /// the collected query gives it; a writer that fails stops the query (no hang on a full
    /// channel, more series than it holds) and its error comes back.
    #[test]
    fn pipelined_series_arrive_in_order_and_a_failing_writer_stops_the_query() {
        let t0 = 1_700_000_000_000i64;
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(tierlog::ManualClock::new(t0 + 3_600_000));
        let store =
            tierlog::Store::open(dir.path(), tierlog::Config::default().with_clock(clock)).unwrap();
        let hosts: Vec<String> = (0..12).map(|h| format!("h{h:02}")).collect();
        let labels: Vec<[(&str, &str); 1]> = hosts.iter().map(|h| [("host", h.as_str())]).collect();
        for i in 0..600i64 {
            let samples: Vec<tierlog::Sample<'_>> = labels
                .iter()
                .enumerate()
                .map(|(h, l)| {
                    tierlog::Sample::new("m", l, t0 + i * 5_000, (i * (h as i64 + 1) % 97) as f64)
                })
                .collect();
            store.write(&samples).unwrap();
        }
        // Series with no point in the range, between the others: no answer, and the merge
        // of two queries' series skips them.
        for h in ["h05b", "h08b", "h08c"] {
            let l = [("host", h)];
            let late = tierlog::Sample::new("m", &l, t0 + 3_100_000, 1.0);
            store.write(&[late]).unwrap();
        }
        let sel = tierlog::Selector::parse("m").unwrap();
        let step = Duration::from_secs(300);
        let want = store.query_step(&sel, t0, t0 + 3_000_000, step).unwrap();
        assert_eq!(want.series.len(), hosts.len());
        // One query thread, two (every other series each, merged), and more asked for.
        for queries in [1, 2, 3] {
            let mut got = Vec::new();
            let it = store
                .query_step_iter(&sel, t0, t0 + 3_000_000, step)
                .unwrap();
            let Ok(warnings) = write_pipelined(it, queries, |s| {
                got.push(s.clone());
                Ok(())
            }) else {
                panic!("the pipelined write failed");
            };
            assert_eq!(warnings, want.warnings);
            assert_eq!(got.len(), want.series.len());
            for (g, w) in got.iter().zip(&want.series) {
                assert_eq!(g.labels, w.labels, "{queries} query threads");
                let bits = |s: &SeriesBuckets| -> Vec<(i64, u64, u64, u64)> {
                    s.points
                        .iter()
                        .map(|p| (p.t, p.count, p.sum.to_bits(), p.max.to_bits()))
                        .collect()
                };
                assert_eq!(bits(g), bits(w), "{queries} query threads");
            }
        }
        // A writer failing at its third series: the queries stop, the error comes back.
        for queries in [1, 2] {
            let mut calls = 0;
            let it = store
                .query_step_iter(&sel, t0, t0 + 3_000_000, step)
                .unwrap();
            let r = write_pipelined(it, queries, |_| {
                calls += 1;
                if calls == 3 {
                    Err(Failure::Error("disk full".into()))
                } else {
                    Ok(())
                }
            });
            assert!(matches!(r, Err(Failure::Error(ref e)) if e == "disk full"));
            assert_eq!(calls, 3);
        }
    }

    /// The fields as they were printed before [`PointJson`]: `write!` of `json_f64` values
    /// and `json_text` per bucket. The fast writer must give the same bytes.
    fn reference_fields(p: &BucketPoint) -> String {
        let mut s = format!("\"t\":{},\"count\":{}", p.t, p.count);
        if p.nan_count > 0 {
            s += &format!(",\"nan_count\":{}", p.nan_count);
        }
        for (k, v) in [
            ("min", p.min),
            ("max", p.max),
            ("sum", p.sum),
            ("avg", p.avg),
        ] {
            s += &format!(",\"{k}\":{}", json_f64(v));
        }
        match p.p95 {
            Some(v) => s += &format!(",\"p95\":{}", json_f64(v)),
            None => {
                s += &format!(
                    ",\"p95\":null,\"p95_note\":{}",
                    json_text(p.p95_note.unwrap_or("not available"))
                        .ok()
                        .unwrap()
                )
            }
        }
        s += &format!(
            ",\"first\":{},\"last\":{}",
            json_f64(p.first),
            json_f64(p.last)
        );
        if let Some(v) = p.increase {
            s += &format!(",\"increase\":{}", json_f64(v));
        }
        s += &format!(",\"tier\":{}", json_text(&p.tier).ok().unwrap());
        s
    }

    #[test]
    fn point_json_prints_what_serde_json_prints() {
        let specials = [
            0.0,
            -0.0,
            1.0,
            0.1,
            0.1 + 0.2,
            -1.5e300,
            1e21,
            1e-7,
            123456.789012345,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            f64::MIN,
            f64::NAN,
            f64::from_bits(0x7FF0_0000_0000_0001),
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let tiers: [Arc<str>; 3] = ["raw".into(), "60s".into(), "a\"b\\c\u{1}".into()];
        let mut w = PointJson::default();
        // `BucketPoint` is non-exhaustive: take one from a real store and set its fields.
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(tierlog::ManualClock::new(1_700_000_000_000));
        let config = tierlog::Config::default().with_clock(clock);
        let store = tierlog::Store::open(dir.path(), config).unwrap();
        store
            .write(&[tierlog::Sample::new("m", &[], 1_700_000_000_000, 1.0)])
            .unwrap();
        let sel = tierlog::Selector::parse("m").unwrap();
        let r = store
            .query_step(
                &sel,
                1_699_999_000_000,
                1_700_000_060_000,
                Duration::from_secs(60),
            )
            .unwrap();
        let template = r.series[0].points[0].clone();
        // A deterministic walk over values, random bit patterns included, with the tier
        // changing between runs of buckets so the cached tier text is checked both ways.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..5000usize {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let pick = |k: usize| {
                if (x >> k) & 3 == 0 {
                    f64::from_bits(x.rotate_left(k as u32))
                } else {
                    specials[(x >> (k + 2)) as usize % specials.len()]
                }
            };
            let mut p = template.clone();
            p.t = (x as i64) >> (i % 40);
            p.count = x >> (i % 64);
            p.nan_count = if i % 3 == 0 { 0 } else { x % 7 };
            p.min = pick(1);
            p.max = pick(5);
            p.sum = pick(9);
            p.avg = pick(13);
            p.p95 = (i % 4 != 0).then(|| pick(17));
            p.p95_note = (i % 8 == 4).then_some("p95 of a \"merged\" bucket");
            p.first = pick(21);
            p.last = pick(25);
            p.increase = (i % 2 == 0).then(|| pick(29));
            p.tier = tiers[(i / 3) % 3].clone();
            let want = reference_fields(&p);
            assert_eq!(
                std::str::from_utf8(w.fields(&p).ok().unwrap()).unwrap(),
                want
            );
            assert_eq!(
                std::str::from_utf8(w.object(&p).ok().unwrap()).unwrap(),
                format!("{{{want}}}")
            );
        }
        // Whole numbers of every magnitude around the fast path's bound, both signs, and their
        // neighbours.
        let mut ints = vec![0.0, -0.0, 1.0, -1.0];
        for e in 0..64 {
            let p = 2f64.powi(e);
            for d in [-2.0, -1.0, 0.0, 1.0, 2.0] {
                ints.extend([p + d, -(p + d)]);
                ints.extend([
                    f64::from_bits((p + d).to_bits() + 1),
                    f64::from_bits((p + d).to_bits().wrapping_sub(1)),
                ]);
            }
            ints.extend([10f64.powi(e / 3), -(10f64.powi(e / 3))]);
        }
        for v in ints {
            let mut fast = Vec::new();
            push_json_f64(&mut fast, v);
            assert_eq!(
                std::str::from_utf8(&fast).unwrap(),
                json_f64(v).to_string(),
                "{v:e}"
            );
        }
        // A series longer than a block: written in blocks as it is built, the same bytes as
        // built whole, and the buffer never holds much more than a block.
        let mut p = template.clone();
        let (mut whole, mut blocks) = (Vec::new(), Vec::new());
        let mut most = 0;
        w.clear();
        w.reserve(20_000, POINT_JSON);
        for i in 0..20_000i64 {
            p.t = i * 60_000;
            p.sum = i as f64 / 7.0;
            whole.extend_from_slice(w.object(&p).ok().unwrap());
        }
        w.clear();
        for i in 0..20_000i64 {
            p.t = i * 60_000;
            p.sum = i as f64 / 7.0;
            w.push_object(&p).ok().unwrap();
            most = most.max(w.bytes().len());
            w.write_if_full(&mut blocks).unwrap();
        }
        blocks.extend_from_slice(w.bytes());
        assert!(whole.len() > 2 * JSON_BLOCK, "{}", whole.len());
        assert!(whole == blocks, "blocks differ from the whole");
        assert!(most < JSON_BLOCK + 1000, "{most}");
    }
}
