//! `tierlog metrics`, `series`, `stats`, `maintain`, `repair`, `delete`.

use std::path::Path;

use tierlog::store::{TierPart, TierStats};
use tierlog::{Expiry, Selector, Store};

use super::{Now, print_json};
use crate::output::{csv_field, table};
use crate::time::format_rfc3339;
use crate::{Failure, Format, status};

pub fn metrics(now: &Now, dir: &Path, format: Format) -> Result<(), Failure> {
    let store = Store::open_read_only(dir, now.config())?;
    let counts = store.series_counts();
    let ms = store.metrics();
    let rows: Vec<Vec<String>> = ms
        .iter()
        .map(|m| {
            vec![
                m.name.clone(),
                m.meta.kind.as_str().to_string(),
                m.meta.unit.clone(),
                counts.get(&m.name).copied().unwrap_or(0).to_string(),
                m.meta.description.clone(),
            ]
        })
        .collect();
    let series: u64 = ms
        .iter()
        .map(|m| counts.get(&m.name).copied().unwrap_or(0) as u64)
        .sum();
    match format {
        Format::Json => {
            let v: Vec<_> = ms
                .iter()
                .map(|m| serde_json::json!({"name": m.name, "kind": m.meta.kind, "unit": m.meta.unit,
                    "description": m.meta.description, "series": counts.get(&m.name).copied().unwrap_or(0)}))
                .collect();
            print_json(&serde_json::json!({ "metrics": v }))?;
        }
        Format::Csv => {
            println!("name,kind,unit,series,description");
            for r in &rows {
                println!(
                    "{}",
                    r.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(",")
                );
            }
        }
        Format::Table => table(
            &mut std::io::stdout().lock(),
            &["METRIC", "KIND", "UNIT", "SERIES", "DESCRIPTION"],
            &rows,
        )?,
    }
    status::summary(format_args!("{} metrics, {series} series", ms.len()));
    Ok(())
}

pub fn series(
    now: &Now,
    dir: &Path,
    selector: Option<&str>,
    format: Format,
) -> Result<(), Failure> {
    let sel: Selector = match selector {
        Some(s) => s.parse().map_err(|e| {
            Failure::Error(format!("selector {}: {e}", crate::output::quoted_cut(s)))
        })?,
        None => r#"{__name__=~".+"}"#
            .parse()
            .map_err(|e| Failure::Error(format!("{e}")))?,
    };
    let store = Store::open_read_only(dir, now.config())?;
    let list = store.series(&sel);
    match format {
        Format::Json => print_json(&serde_json::json!({ "series": list }))?,
        Format::Csv => {
            println!("id,metric,labels");
            for s in &list {
                println!(
                    "{},{},{}",
                    s.id.0,
                    csv_field(&s.metric),
                    csv_field(&crate::output::labels_text(&s.labels))
                );
            }
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|s| {
                    vec![
                        s.id.0.to_string(),
                        s.metric.clone(),
                        crate::output::labels_text(&s.labels),
                    ]
                })
                .collect();
            table(
                &mut std::io::stdout().lock(),
                &["ID", "METRIC", "LABELS"],
                &rows,
            )?;
        }
    }
    let metrics: std::collections::BTreeSet<&str> =
        list.iter().map(|s| s.metric.as_str()).collect();
    status::summary(format_args!(
        "{} series of {} metrics",
        list.len(),
        metrics.len()
    ));
    Ok(())
}

pub fn stats(now: &Now, dir: &Path, format: Format) -> Result<(), Failure> {
    let store = Store::open_read_only(dir, now.config())?;
    let s = store.stats();
    match format {
        Format::Json => print_json(&s)?,
        Format::Csv => {
            println!("tier,part,segments,bytes,points,bytes_per_point,materialised_through_ms");
            for (t, part, p) in parts(&s.tiers) {
                println!(
                    "{},{part},{},{},{},{:.4},{}",
                    t.tier,
                    p.segments,
                    p.bytes,
                    p.points,
                    p.bytes_per_point,
                    t.materialised_through_ms
                        .map_or(String::new(), |ms| ms.to_string())
                );
            }
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = parts(&s.tiers)
                .map(|(t, part, p)| {
                    vec![
                        t.tier.to_string(),
                        part.to_string(),
                        p.segments.to_string(),
                        p.bytes.to_string(),
                        p.points.to_string(),
                        format!("{:.3}", p.bytes_per_point),
                        t.materialised_through_ms.map_or("-".into(), format_rfc3339),
                    ]
                })
                .collect();
            let mut out = std::io::stdout().lock();
            table(
                &mut out,
                &[
                    "TIER",
                    "PART",
                    "FILES",
                    "BYTES",
                    "POINTS",
                    "BYTES/POINT",
                    "MATERIALISED THROUGH",
                ],
                &rows,
            )?;
            let t = &s.tiers[0];
            println!(
                "series {}, metrics {}, total bytes {} (index {}), raw data {} .. {}{}",
                s.series,
                s.metrics,
                s.total_bytes,
                s.index_bytes,
                t.oldest_ms.map_or("-".into(), format_rfc3339),
                t.newest_ms.map_or("-".into(), format_rfc3339),
                if t.corrupt_segments > 0 {
                    format!(", {} CORRUPT segments", t.corrupt_segments)
                } else {
                    String::new()
                }
            );
            if s.clock_behind_ms > 0 {
                println!(
                    "the clock is {} s behind the latest time the store has seen: samples are accepted relative to the clock (docs/time.md)",
                    s.clock_behind_ms / 1000
                );
            }
            if s.late_pending > 0 {
                println!(
                    "late samples waiting to be merged: {} in {} sealed window{} (the next maintenance pass merges them)",
                    s.late_pending,
                    s.late_windows,
                    if s.late_windows == 1 { "" } else { "s" }
                );
            }
            if s.forward_late_logged > 0 || s.forwarders.iter().any(|f| f.skipped > 0) {
                println!(
                    "written behind the forwarders' watermark: {} samples in forward/late.log",
                    s.forward_late_logged
                );
                for f in &s.forwarders {
                    println!(
                        "  forwarder {}: {} not sent yet, {} skipped (never sent){}",
                        f.name,
                        f.pending,
                        f.skipped,
                        if f.readable {
                            ""
                        } else {
                            " (checkpoint unreadable)"
                        }
                    );
                }
            }
        }
    }
    let (segments, points) = s.tiers.iter().fold((0, 0), |(n, p), t| {
        (
            n + t.sealed.segments + t.open.segments,
            p + t.sealed.points + t.open.points,
        )
    });
    status::summary(format_args!(
        "{} tiers: {segments} files, {points} points; {} series, {} metrics, {} bytes",
        s.tiers.len(),
        s.series,
        s.metrics,
        s.total_bytes
    ));
    Ok(())
}

/// The rows of `stats`: raw's sealed and open parts, each rollup tier's segments (a rollup
/// tier has no open part: its pieces are written whole).
fn parts(tiers: &[TierStats]) -> impl Iterator<Item = (&TierStats, &'static str, &TierPart)> {
    tiers.iter().enumerate().flat_map(|(i, t)| {
        let open = (i == 0).then_some((t, "open", &t.open));
        std::iter::once((t, "sealed", &t.sealed)).chain(open)
    })
}

pub fn maintain(
    now: &Now,
    dir: &Path,
    format: Format,
    accept_clock: bool,
    max_bytes: Option<u64>,
    max_age_days: Option<u32>,
) -> Result<(), Failure> {
    let mut config = now.writer_config(dir, None)?;
    config.accept_clock = accept_clock;
    // Overrides for this pass are recorded like any setting a writer makes.
    if max_bytes.is_some() {
        config.max_bytes = max_bytes;
    }
    if max_age_days.is_some() {
        config.max_age_days = max_age_days;
    }
    let store = Store::open(dir, config)?;
    for f in store.recovery_findings() {
        eprintln!("tierlog: recovery: {f}");
    }
    // The pass reports nothing until it is done: a spinner says it is working.
    let bar = status::spinner(
        "maintain: sealing windows, materialising rollups, compacting, applying retention",
    );
    let started = std::time::Instant::now();
    let r = store.maintain();
    bar.finish_and_clear();
    let r = r?;
    let span_ms = store.config().window_span.as_millis() as i64;
    store.close()?;
    let elapsed = started.elapsed();
    let ru = &r.rollups;
    match format {
        Format::Json => print_json(&r)?,
        Format::Csv => {
            println!("event,tier,start_ms,end_ms,bytes,reason,archived_to");
            for w in &r.sealed_windows {
                println!("sealed,raw,{w},{},,,", w.saturating_add(span_ms));
            }
            for d in &r.retention.dropped {
                let reason = d.reason.as_str();
                let to = d
                    .archived_to
                    .as_ref()
                    .map(|p| csv_field(&p.display().to_string()))
                    .unwrap_or_default();
                println!(
                    "{},{},{},{},{},{reason},{to}",
                    if d.archived_to.is_some() {
                        "archived"
                    } else {
                        "dropped"
                    },
                    csv_field(&d.tier),
                    d.start_ms,
                    d.end_ms,
                    d.bytes
                );
            }
            for (tier, from, to) in &ru.lost {
                println!("lost,{},{from},{to},,,", csv_field(tier));
            }
        }
        Format::Table => {
            for w in &r.sealed_windows {
                println!("sealed window {}", format_rfc3339(*w));
            }
            for d in &r.retention.dropped {
                println!(
                    "{} {} {} .. {} ({} bytes): {}{}",
                    if d.archived_to.is_some() {
                        "archived"
                    } else {
                        "dropped"
                    },
                    d.tier,
                    format_rfc3339(d.start_ms),
                    format_rfc3339(d.end_ms),
                    d.bytes,
                    d.reason,
                    d.archived_to
                        .as_ref()
                        .map(|p| format!(" -> {}", p.display()))
                        .unwrap_or_default()
                );
            }
            for (tier, from, to) in &ru.lost {
                println!(
                    "lost tier {tier} {} .. {}: its raw points were already gone",
                    format_rfc3339(*from),
                    format_rfc3339(*to)
                );
            }
        }
    }
    for w in &ru.warnings {
        eprintln!("tierlog: warning: {w}");
    }
    let rt = &r.retention;
    if let Some(lead) = rt.age_held_back {
        eprintln!(
            "tierlog: warning: the clock is {} ahead of the newest data: nothing was deleted by age (pass --accept-clock if the clock is right)",
            crate::time::human_span(lead)
        );
    }
    if let Some(c) = &rt.index_compacted {
        status::summary(format_args!(
            "index compacted: {} -> {} bytes ({} series removed this pass)",
            c.bytes_before, c.bytes_after, rt.series_removed
        ));
    }
    if rt.never_forwarded > 0 || rt.held_for_forward > 0 {
        // Name the checkpoints that hold data back, and how to drop one no longer used.
        let names = super::forward::checkpoint_names(dir);
        let remove = match names.as_slice() {
            [] => String::new(),
            [one] => format!(
                "; forwarder checkpoint {one:?}: if that forwarder is no longer used, `tierlog forward {} --remove --name {one}`",
                dir.display()
            ),
            more => format!(
                "; forwarder checkpoints {}: remove one no longer used with `tierlog forward {} --remove --name NAME`",
                more.join(", "),
                dir.display()
            ),
        };
        if rt.never_forwarded > 0 {
            eprintln!(
                "tierlog: warning: {} raw points were dropped before a forwarder sent them (past the forward backlog limit or over the byte budget){remove}",
                rt.never_forwarded
            );
        }
        if rt.held_for_forward > 0 {
            status::summary(format_args!(
                "{} raw segments past their keep time are kept until a forwarder sends them{remove}",
                rt.held_for_forward
            ));
        }
    }
    if rt.over_budget_bytes > 0 {
        eprintln!(
            "tierlog: warning: still {} bytes over the budget: what remains cannot be dropped (open windows, the index, raw data not rolled up yet)",
            rt.over_budget_bytes
        );
    }
    status::summary(format_args!(
        "{} windows sealed: {} points, {} bytes; rollups: {} pieces materialised from {} raw points: {} buckets, {} bytes{}; retention: {} segments dropped, {} bytes freed; in {:.2} s",
        r.sealed_windows.len(),
        r.sealed_points,
        r.sealed_bytes,
        ru.pieces,
        ru.raw_points,
        ru.buckets,
        ru.bytes,
        if ru.lost.is_empty() {
            String::new()
        } else {
            format!("; {} ranges lost", ru.lost.len())
        },
        rt.dropped.len(),
        rt.bytes_freed,
        elapsed.as_secs_f64()
    ));
    Ok(())
}

pub fn repair(now: &Now, dir: &Path, format: Format) -> Result<(), Failure> {
    // A damaged state file cannot tell the configuration: the repair rebuilds it from the
    // other files, with the default policy (the store's span comes from its files).
    let config = match Store::stored_config(dir) {
        Err(e) if e.is_corruption() => now.config(),
        _ => now.writer_config(dir, None)?,
    };
    let (store, findings) = Store::repair(dir, config)?;
    store.close()?;
    let lost: Vec<String> = findings
        .iter()
        .filter_map(|f| match f {
            tierlog::Finding::Quarantined { tier, from, to, .. } => Some(format!(
                "{tier} data from {} to {} lost",
                format_rfc3339(*from),
                format_rfc3339(*to)
            )),
            _ => None,
        })
        .collect();
    let findings: Vec<String> = findings.iter().map(ToString::to_string).collect();
    // What is still wrong after the repair is what it cannot mend: named, exit 3.
    let left = tierlog_tools::inspect::verify_dir(dir, |_| {})?;
    let unrepaired: Vec<String> = left
        .corruption
        .iter()
        .map(|p| format!("{} at offset {}: {}", p.file.display(), p.offset, p.message))
        .collect();
    match format {
        Format::Json => print_json(&serde_json::json!({
            "findings": findings,
            "lost": lost,
            "unrepaired": unrepaired,
        }))?,
        Format::Csv => {
            println!("kind,message");
            for (kind, list) in [
                ("finding", &findings),
                ("lost", &lost),
                ("unrepaired", &unrepaired),
            ] {
                for f in list {
                    println!("{kind},{}", csv_field(f));
                }
            }
        }
        Format::Table => {
            for f in &findings {
                println!("{f}");
            }
            for l in &lost {
                println!("lost: {l}");
            }
            for u in &unrepaired {
                println!("cannot repair: {u}");
            }
        }
    }
    if !unrepaired.is_empty() {
        return Err(Failure::Corruption(format!(
            "{} problems repair cannot mend (listed above); the files are left as they are",
            unrepaired.len()
        )));
    }
    if findings.is_empty() {
        status::summary(format_args!("nothing to repair"));
    } else if lost.is_empty() {
        status::summary(format_args!("repaired: {} findings", findings.len()));
    } else {
        status::summary(format_args!(
            "repaired: {} findings; {} damaged segments moved to {}: {}",
            findings.len(),
            lost.len(),
            dir.join(tierlog::layout::QUARANTINE_DIR).display(),
            lost.join("; ")
        ));
    }
    Ok(())
}

/// `tierlog config DIR [NAME=VALUE ...] [--yes]`.
pub fn config(
    now: &Now,
    dir: &Path,
    settings: &[String],
    yes: bool,
    format: Format,
) -> Result<(), Failure> {
    let store = if settings.is_empty() {
        Store::open_read_only(dir, now.config())?
    } else {
        let mut c = now.writer_config(dir, None)?;
        let stored = Store::stored_config(dir)?;
        let stored_budget = stored.as_ref().map_or(0, |s| s.max_bytes());
        if let Some(stored) = stored {
            c.tiers = stored.tiers;
        }
        for kv in settings {
            apply_setting(&mut c, kv)?;
        }
        if let Some(budget) = c.max_bytes.filter(|&b| b > 0 && b != stored_budget)
            && !yes
        {
            budget_check(now, dir, budget)?;
        }
        // Opening for writing validates and records them.
        Store::open(dir, c)?
    };
    let c = store.config();
    let ms = |d: std::time::Duration| d.as_millis() as u64;
    let tiers: Vec<serde_json::Value> = c
        .tiers()
        .iter()
        .map(|t| {
            serde_json::json!({
                "name": t.name,
                "interval_ms": ms(t.interval),
                "keep_ms": ms(t.keep),
            })
        })
        .collect();
    let archive = match c.on_expiry() {
        Expiry::Delete => None,
        Expiry::Archive(p) => Some(p.display().to_string()),
    };
    let v = serde_json::json!({
        "window_span_ms": ms(c.window_span),
        "raw_keep_ms": ms(c.raw_keep()),
        "tiers": tiers,
        "max_age_days": c.max_age_days(),
        "max_bytes": c.max_bytes(),
        "max_clock_lead_ms": ms(c.max_clock_lead()),
        "on_expiry": if archive.is_some() { "archive" } else { "delete" },
        "archive_dir": archive,
    });
    let mut rows: Vec<(String, String)> = vec![
        ("window_span_ms".into(), ms(c.window_span).to_string()),
        ("raw_keep_ms".into(), ms(c.raw_keep()).to_string()),
    ];
    for t in c.tiers() {
        rows.push((
            format!("tier.{}.interval_ms", t.name),
            ms(t.interval).to_string(),
        ));
        rows.push((format!("tier.{}.keep_ms", t.name), ms(t.keep).to_string()));
    }
    rows.extend([
        ("max_age_days".into(), c.max_age_days().to_string()),
        ("max_bytes".into(), c.max_bytes().to_string()),
        (
            "max_clock_lead_ms".into(),
            ms(c.max_clock_lead()).to_string(),
        ),
        (
            "on_expiry".into(),
            if archive.is_some() {
                "archive"
            } else {
                "delete"
            }
            .into(),
        ),
        ("archive_dir".into(), archive.clone().unwrap_or_default()),
    ]);
    match format {
        Format::Json => print_json(&v)?,
        Format::Csv => {
            println!("setting,value");
            for (k, v) in &rows {
                println!("{},{}", csv_field(k), csv_field(v));
            }
        }
        Format::Table => {
            println!("window_span     {}", human_duration(c.window_span));
            println!("keep.raw        {}", human_duration(c.raw_keep()));
            for t in c.tiers() {
                println!(
                    "keep.{:<10} {} (buckets of {})",
                    t.name,
                    human_duration(t.keep),
                    human_duration(t.interval)
                );
            }
            println!("max_age_days    {}", c.max_age_days());
            println!(
                "max_bytes       {}",
                if c.max_bytes() == 0 {
                    "none".to_string()
                } else {
                    c.max_bytes().to_string()
                }
            );
            println!("max_clock_lead  {}", human_duration(c.max_clock_lead()));
            match &archive {
                None => println!("on_expiry       delete"),
                Some(p) => println!("on_expiry       archive:{p}"),
            }
        }
    }
    let shown = rows.len();
    if !settings.is_empty() {
        store.close()?;
    }
    status::summary(format_args!("{shown} settings, {} changed", settings.len()));
    Ok(())
}

/// Refuses a byte budget below the store's current size, listing what the next pass would
/// drop for it (oldest first, as retention drops; an estimate from the store's segment
/// files: the pass itself also drops by age and seals windows first).
fn budget_check(now: &Now, dir: &Path, budget: u64) -> Result<(), Failure> {
    let store = Store::open_read_only(dir, now.config())?;
    let stats = store.stats();
    let span_ms = store.config().window_span.as_millis() as i64;
    let tiers: Vec<(String, i64)> = store
        .config()
        .tiers()
        .iter()
        .map(|t| (t.name.clone(), t.interval.as_millis() as i64))
        .collect();
    drop(store);
    let total = stats.total_bytes;
    if total <= budget {
        return Ok(());
    }
    // Raw segments not rolled up into every tier yet are kept, and so is the one ending
    // where the tiers stop (the next piece looks back into it).
    let rolled_up_to = stats.tiers[1..]
        .iter()
        .map(|t| t.materialised_through_ms.unwrap_or(i64::MIN))
        .min()
        .unwrap_or(i64::MAX);
    // (end, tier order, start, tier name, bytes) of each segment file.
    let mut segments: Vec<(i64, usize, i64, String, u64)> = Vec::new();
    let parts =
        std::iter::once(("raw".to_owned(), span_ms)).chain(tiers.iter().map(|(name, iv)| {
            (
                name.clone(),
                tierlog::rollup::plan::piece_span(span_ms, (*iv).max(1)),
            )
        }));
    for (order, (name, piece)) in parts.enumerate() {
        let Ok(entries) = std::fs::read_dir(dir.join(&name)) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            let file = e.file_name();
            let Some(start) = file
                .to_str()
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| n.parse::<i64>().ok())
            else {
                continue;
            };
            let end = start.saturating_add(piece);
            if order == 0 && end >= rolled_up_to {
                continue;
            }
            let bytes = e.metadata().map_or(0, |m| m.len());
            segments.push((end, order, start, name.clone(), bytes));
        }
    }
    segments.sort();
    let mut left = total;
    let mut lines = Vec::new();
    for (end, _, start, name, bytes) in segments {
        if left <= budget {
            break;
        }
        left = left.saturating_sub(bytes);
        lines.push(format!(
            "  {name} {} .. {} ({bytes} bytes)",
            format_rfc3339(start),
            format_rfc3339(end)
        ));
    }
    let freed = total - left;
    eprintln!(
        "tierlog: max_bytes={budget} is below the store's size ({total} bytes): the next maintenance pass would drop {} segments, {freed} bytes, oldest first:",
        lines.len()
    );
    for l in &lines {
        eprintln!("{l}");
    }
    if left > budget {
        eprintln!(
            "  and the store would still be {} bytes over: what remains cannot be dropped (open windows, the index, raw data not rolled up yet)",
            left - budget
        );
    }
    Err(Failure::Error(format!(
        "{}: not changed; pass --yes to set max_bytes={budget} and let the next pass drop this",
        dir.display()
    )))
}

/// The settings `tierlog config` changes.
const SETTINGS: &str = "max_age_days, max_bytes, max_clock_lead, keep.raw, keep.TIER, on_expiry";

/// Applies one `NAME=VALUE` of `tierlog config` to `c` (whose tiers are the store's).
fn apply_setting(c: &mut tierlog::Config, kv: &str) -> Result<(), Failure> {
    let usage = |m: String| Failure::Usage(m);
    let Some((k, v)) = kv.split_once('=') else {
        return Err(usage(format!("{kv:?}: expected NAME=VALUE ({SETTINGS})")));
    };
    let duration = |what: &str| {
        crate::args::duration_arg(v)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| usage(format!("{what}: {v:?} is not a duration (e.g. 90d, 12h)")))
    };
    match k {
        "max_age_days" => {
            c.max_age_days = Some(
                v.parse()
                    .map_err(|_| usage(format!("max_age_days: {v:?} is not a number of days")))?,
            );
        }
        "max_bytes" => {
            c.max_bytes = Some(crate::args::parse_bytes(v).ok_or_else(|| {
                usage(format!(
                    "max_bytes: {v:?} is not a byte count (e.g. 500MB, 10GiB)"
                ))
            })?);
        }
        "max_clock_lead" => c.max_clock_lead = Some(duration(k)?),
        "keep.raw" => c.raw_keep = Some(duration(k)?),
        "on_expiry" => {
            c.on_expiry = Some(match v.split_once(':') {
                None if v == "delete" => Expiry::Delete,
                Some(("archive", dir)) if !dir.is_empty() => Expiry::Archive(dir.into()),
                _ => {
                    return Err(usage(format!(
                        "on_expiry: {v:?}: expected delete or archive:DIR"
                    )));
                }
            });
        }
        _ => {
            let Some(name) = k.strip_prefix("keep.") else {
                return Err(usage(format!(
                    "{k}: not a setting this command changes ({SETTINGS})"
                )));
            };
            let keep = duration(k)?;
            let tiers = c.tiers_mut();
            let Some(t) = tiers.iter_mut().find(|t| t.name == name) else {
                let names: Vec<&str> = tiers.iter().map(|t| t.name.as_str()).collect();
                return Err(usage(format!(
                    "{k}: the store has no tier {name:?} (raw, {})",
                    names.join(", ")
                )));
            };
            t.keep = keep;
        }
    }
    Ok(())
}

/// `90d`, `2h`, `10s`, or `1h30m`-style seconds for odd values.
fn human_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if s >= n && s.is_multiple_of(n) {
            return format!("{}{unit}", s / n);
        }
    }
    if d.subsec_millis() != 0 {
        return format!("{}ms", d.as_millis());
    }
    format!("{s}s")
}

pub fn delete(
    now: &Now,
    dir: &Path,
    selector: &str,
    (from, to): (Option<&str>, Option<&str>),
    (dry_run, archive): (bool, bool),
    format: Format,
) -> Result<(), Failure> {
    let sel: Selector = selector.parse().map_err(|e| {
        Failure::Error(format!(
            "selector {}: {e}",
            crate::output::quoted_cut(selector)
        ))
    })?;
    let range = match (from, to) {
        (None, None) => None,
        _ => {
            let f = from.map(|f| now.time("--from", f)).transpose()?;
            let t = to.map(|t| now.time("--to", t)).transpose()?;
            let (f, t) = (f.unwrap_or(i64::MIN), t.unwrap_or(i64::MAX));
            if f >= t {
                return Err(Failure::Usage(format!(
                    "--from {} is not before --to {}: the range [from, to) is empty",
                    from.unwrap_or("(start)"),
                    to.unwrap_or("(end)")
                )));
            }
            Some((f, t))
        }
    };
    if Store::stored_config(dir)?.is_none() {
        return Err(Failure::Error(format!("{}: no store there", dir.display())));
    }
    let store = if dry_run {
        Store::open_read_only(dir, now.config())?
    } else {
        Store::open(dir, now.writer_config(dir, None)?)?
    };
    for f in store.recovery_findings() {
        eprintln!("tierlog: recovery: {f}");
    }
    let opts = tierlog::DeleteOptions::default()
        .with_dry_run(dry_run)
        .with_archive(archive);
    let r = store.delete(&sel, range, opts)?;
    store.close()?;
    match format {
        Format::Json => print_json(&r)?,
        Format::Csv => {
            println!(
                "dry_run,matched,series,points,buckets,bytes,files_rewritten,files_removed,series_removed"
            );
            println!(
                "{},{},{},{},{},{},{},{},{}",
                r.dry_run,
                r.matched,
                r.series,
                r.points,
                r.buckets,
                r.bytes,
                r.files_rewritten,
                r.files_removed,
                r.series_removed
            );
        }
        Format::Table => {
            let verb = if r.dry_run { "would delete" } else { "deleted" };
            let left = if r.dry_run {
                String::new()
            } else {
                format!("; {} series left the index", r.series_removed)
            };
            println!(
                "{verb}: {} series ({} matched), {} points, {} buckets, {} bytes freed ({} files rewritten, {} removed){left}",
                r.series,
                r.matched,
                r.points,
                r.buckets,
                r.bytes,
                r.files_rewritten,
                r.files_removed,
            );
        }
    }
    for w in &r.warnings {
        eprintln!("tierlog: warning: {w}");
    }
    Ok(())
}
