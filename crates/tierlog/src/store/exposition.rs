//! [`StoreStats`] as Prometheus text exposition (format 0.0.4), for an agent's `/metrics`.

use std::fmt::Write as _;

use super::{DurationHistogram, StoreStats};

/// The content type of [`StoreStats::to_exposition`]'s text.
pub const EXPOSITION_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Writes metric families in the text format: `# HELP`, `# TYPE`, then the samples.
pub(crate) struct Families<'a> {
    out: &'a mut String,
}

impl<'a> Families<'a> {
    pub(crate) fn new(out: &'a mut String) -> Self {
        Families { out }
    }

    /// Starts a family: its help and type lines.
    pub(crate) fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        self
    }

    /// One sample of the current family: `name{labels} value`.
    pub(crate) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        self.out.push(' ');
        push_value(self.out, value);
        self.out.push('\n');
        self
    }

    /// A histogram family with one unlabelled histogram: its buckets, `_sum` and `_count`.
    pub(crate) fn histogram(&mut self, name: &str, help: &str, h: &DurationHistogram) -> &mut Self {
        self.family(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        for (le, n) in h.bounds.iter().zip(&h.cumulative) {
            self.sample(&bucket, &[("le", &le.to_string())], *n as f64);
        }
        self.sample(&bucket, &[("le", "+Inf")], h.count as f64)
            .sample(&format!("{name}_sum"), &[], h.sum_seconds)
            .sample(&format!("{name}_count"), &[], h.count as f64)
    }

    /// A family with one unlabelled sample.
    pub(crate) fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) -> &mut Self {
        self.family(name, kind, help).sample(name, &[], value)
    }
}

/// A value as the text format writes it (`NaN`, `+Inf`, `-Inf`, or a decimal).
fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// Help text with `\` and newlines escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn ms_to_s(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

impl StoreStats {
    /// These stats as Prometheus text exposition (format 0.0.4, content type
    /// [`EXPOSITION_CONTENT_TYPE`]): metrics named `tierlog_*`, counters ending in `_total`,
    /// sizes in bytes, times in seconds. Per tier (label `tier`, and `state` = `sealed` or
    /// `open` for what is in sealed segments and in open windows' logs): segments, bytes,
    /// points, oldest and newest point, damaged segments, how far a rollup tier is
    /// materialised. Samples and batches refused (label `reason`), late samples, what
    /// retention dropped (segments by `reason`, bytes, series) since the open, the head's
    /// bytes and limits, the forwarders' late-log counts (label `forwarder`). The counters
    /// count since the store was opened, in this process. `docs/serving.md` lists them all.
    ///
    /// ```
    /// use tierlog::{Config, Sample, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path(), Config::default())?;
    /// let now = store.config().clock.now_ms();
    /// store.write(&[Sample::new("up", &[("job", "node")], now, 1.0)])?;
    /// let text = store.stats().to_exposition();
    /// assert!(text.contains("# TYPE tierlog_series gauge\ntierlog_series 1\n"));
    /// assert!(text.contains("tierlog_tier_points{tier=\"raw\",state=\"open\"} 1\n"));
    /// assert!(text.contains("tierlog_samples_rejected_total{reason=\"too_old\"} 0\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_exposition(&self) -> String {
        let mut out = String::with_capacity(8192);
        self.write_exposition(&mut out);
        out
    }

    /// Appends [`StoreStats::to_exposition`]'s text to `out` (to serve it with other metrics).
    pub fn write_exposition(&self, out: &mut String) {
        let mut f = Families::new(out);
        f.single(
            "tierlog_series",
            "gauge",
            "Live series in the store's index.",
            self.series as f64,
        )
        .single(
            "tierlog_series_limit",
            "gauge",
            "The series cap (Limits::max_series).",
            self.max_series as f64,
        )
        .single(
            "tierlog_metrics",
            "gauge",
            "Metrics (names) in the store's index.",
            self.metrics as f64,
        )
        .single(
            "tierlog_store_bytes",
            "gauge",
            "Bytes of every file of the store (tiers, index, state).",
            self.total_bytes as f64,
        )
        .single(
            "tierlog_index_bytes",
            "gauge",
            "Bytes of the index log.",
            self.index_bytes as f64,
        )
        .single(
            "tierlog_head_bytes",
            "gauge",
            "Estimated memory held by the open windows and those being sealed.",
            self.head_bytes as f64,
        )
        .single(
            "tierlog_head_limit_bytes",
            "gauge",
            "The head's cap, Limits::max_head_bytes (0 = none).",
            self.max_head_bytes as f64,
        )
        .single(
            "tierlog_retention_limit_bytes",
            "gauge",
            "The store's byte budget, max_bytes (0 = none).",
            self.max_bytes as f64,
        )
        .single(
            "tierlog_retention_limit_age_seconds",
            "gauge",
            "The store's age limit, max_age_days in seconds (0 = none).",
            f64::from(self.max_age_days) * 86_400.0,
        );

        type Part = fn(&super::TierPart) -> u64;
        let parts: [(&str, &str, Part); 3] = [
            (
                "tierlog_tier_segments",
                "Files of a tier: sealed segments and open windows' logs.",
                |p| p.segments,
            ),
            (
                "tierlog_tier_bytes",
                "Bytes on disk of a tier's sealed segments and open windows' logs.",
                |p| p.bytes,
            ),
            (
                "tierlog_tier_points",
                "Points (buckets, for a rollup tier) stored in a tier.",
                |p| p.points,
            ),
        ];
        for (name, help, get) in parts {
            f.family(name, "gauge", help);
            for t in &self.tiers {
                for (state, part) in [("sealed", &t.sealed), ("open", &t.open)] {
                    f.sample(
                        name,
                        &[("tier", &t.tier), ("state", state)],
                        get(part) as f64,
                    );
                }
            }
        }
        f.family(
            "tierlog_tier_corrupt_segments",
            "gauge",
            "Segments of a tier known to be damaged (skipped by queries whole or in part).",
        );
        for t in &self.tiers {
            f.sample(
                "tierlog_tier_corrupt_segments",
                &[("tier", &t.tier)],
                t.corrupt_segments as f64,
            );
        }
        type Time = fn(&super::TierStats) -> Option<i64>;
        let times: [(&str, &str, Time); 3] = [
            (
                "tierlog_tier_oldest_timestamp_seconds",
                "Time of a tier's earliest point (absent when the tier is empty).",
                |t| t.oldest_ms,
            ),
            (
                "tierlog_tier_newest_timestamp_seconds",
                "Time of a tier's latest point (absent when the tier is empty).",
                |t| t.newest_ms,
            ),
            (
                "tierlog_tier_materialised_through_timestamp_seconds",
                "End of the range a rollup tier has materialised so far.",
                |t| t.materialised_through_ms,
            ),
        ];
        for (name, help, get) in times {
            f.family(name, "gauge", help);
            for t in &self.tiers {
                if let Some(ms) = get(t) {
                    f.sample(name, &[("tier", &t.tier)], ms_to_s(ms));
                }
            }
        }

        f.single(
            "tierlog_samples_written_total",
            "counter",
            "Samples writes accepted since the open (late ones included).",
            self.samples_written as f64,
        )
        .single(
            "tierlog_series_created_total",
            "counter",
            "Series created by writes since the open.",
            self.series_created as f64,
        );
        let r = &self.rejections;
        f.single(
            "tierlog_samples_repeated_total",
            "counter",
            "Samples of keyed writes not written again since the open: a write with their key was already logged in their window.",
            r.repeated as f64,
        );
        f.family(
            "tierlog_samples_rejected_total",
            "counter",
            "Samples writes refused since the open, by reason.",
        );
        for (reason, n) in [
            ("too_old", r.too_old),
            ("too_far_ahead", r.too_far_ahead),
            ("head_full", r.head_full),
            ("conflict", r.conflict),
        ] {
            f.sample(
                "tierlog_samples_rejected_total",
                &[("reason", reason)],
                n as f64,
            );
        }
        f.family(
            "tierlog_batches_rejected_total",
            "counter",
            "Write batches refused whole since the open, by reason.",
        );
        for (reason, n) in [
            ("invalid_sample", r.invalid_batches),
            ("oversized", r.oversized_batches),
            ("series_limit", r.series_limit_batches),
        ] {
            f.sample(
                "tierlog_batches_rejected_total",
                &[("reason", reason)],
                n as f64,
            );
        }
        f.single(
            "tierlog_samples_late_total",
            "counter",
            "Samples accepted into windows already sealed since the open.",
            r.late as f64,
        )
        .single(
            "tierlog_late_pending_samples",
            "gauge",
            "Late samples not yet merged into their windows' segments.",
            self.late_pending as f64,
        )
        .single(
            "tierlog_late_windows",
            "gauge",
            "Sealed windows holding late samples not yet merged.",
            self.late_windows as f64,
        )
        .single(
            "tierlog_clock_behind_seconds",
            "gauge",
            "How far the clock is behind the store's high-water mark, when more than the grace (else 0).",
            ms_to_s(self.clock_behind_ms),
        );

        let rt = &self.retention;
        f.family(
            "tierlog_retention_dropped_segments_total",
            "counter",
            "Segments retention dropped since the open, by reason.",
        );
        for (reason, n) in [
            ("tier_keep", rt.dropped_tier_keep),
            ("max_age", rt.dropped_max_age),
            ("budget", rt.dropped_budget),
        ] {
            f.sample(
                "tierlog_retention_dropped_segments_total",
                &[("reason", reason)],
                n as f64,
            );
        }
        f.single(
            "tierlog_retention_freed_bytes_total",
            "counter",
            "Bytes retention freed since the open.",
            rt.bytes_freed as f64,
        )
        .single(
            "tierlog_retention_held_back_passes_total",
            "counter",
            "Retention passes whose deletions by age clock sanity held back.",
            rt.passes_held_back as f64,
        )
        .single(
            "tierlog_retention_over_budget_passes_total",
            "counter",
            "Retention passes that ended over the byte budget.",
            rt.passes_over_budget as f64,
        )
        .single(
            "tierlog_retention_removed_series_total",
            "counter",
            "Series removed from the index once none of their samples was left.",
            rt.series_removed as f64,
        )
        .single(
            "tierlog_index_compactions_total",
            "counter",
            "Index compactions (index.log rewritten without removed series).",
            rt.index_compactions as f64,
        );

        f.histogram(
            "tierlog_fsync_duration_seconds",
            "Durations of the write path's group-commit fsync rounds (every open log) since the open.",
            &self.fsync,
        );
        let m = &self.maintenance;
        f.histogram(
            "tierlog_maintenance_duration_seconds",
            "Durations of the maintenance passes since the open (explicit, background, and the sealing a write starts).",
            &m.duration,
        );
        for (name, help, n) in [
            (
                "tierlog_maintenance_sealed_windows_total",
                "Raw windows sealed into segments by maintenance since the open.",
                m.windows_sealed,
            ),
            (
                "tierlog_maintenance_sealed_points_total",
                "Points written into new raw segments since the open.",
                m.points_sealed,
            ),
            (
                "tierlog_maintenance_sealed_bytes_total",
                "Bytes of the new raw segments since the open.",
                m.bytes_sealed,
            ),
            (
                "tierlog_maintenance_late_merged_samples_total",
                "Late samples merged into their windows' segments since the open.",
                m.late_samples_merged,
            ),
            (
                "tierlog_maintenance_rollup_pieces_total",
                "Rollup pieces materialised since the open.",
                m.rollup_pieces,
            ),
            (
                "tierlog_maintenance_rollup_buckets_total",
                "Rollup buckets written since the open.",
                m.rollup_buckets,
            ),
            (
                "tierlog_maintenance_compacted_spans_total",
                "Segment spans compacted into one file since the open.",
                m.spans_compacted,
            ),
        ] {
            f.single(name, "counter", help, n as f64);
        }

        f.single(
            "tierlog_forward_late_after_forward_samples_total",
            "counter",
            "Samples accepted since the open whose second a forwarder had already sent.",
            self.late_after_forward as f64,
        )
        .single(
            "tierlog_forward_never_forwarded_points_total",
            "counter",
            "Raw points retention dropped since the open before a forwarder had sent them.",
            self.never_forwarded as f64,
        )
        .single(
            "tierlog_forward_late_log_samples",
            "gauge",
            "Samples in the forward late log (accepted behind every forwarder's watermark).",
            self.forward_late_logged as f64,
        );
        f.family(
            "tierlog_forwarder_late_pending_samples",
            "gauge",
            "Samples of the forward late log a forwarder has not handled yet.",
        );
        for fw in &self.forwarders {
            f.sample(
                "tierlog_forwarder_late_pending_samples",
                &[("forwarder", &fw.name)],
                fw.pending as f64,
            );
        }
        f.family(
            "tierlog_forwarder_late_skipped_samples_total",
            "counter",
            "Late samples a forwarder skipped (never sent) since its checkpoint was created.",
        );
        for fw in &self.forwarders {
            f.sample(
                "tierlog_forwarder_late_skipped_samples_total",
                &[("forwarder", &fw.name)],
                fw.skipped as f64,
            );
        }
        type Fw = fn(&crate::ForwarderLate) -> u64;
        let fw_counters: [(&str, &str, Fw); 2] = [
            (
                "tierlog_forwarder_sent_samples_total",
                "Samples a forwarder delivered since its checkpoint was created.",
                |fw| fw.sent,
            ),
            (
                "tierlog_forwarder_dropped_samples_total",
                "Samples a forwarder's receiver refused (batches dropped) since its checkpoint was created.",
                |fw| fw.dropped,
            ),
        ];
        for (name, help, get) in fw_counters {
            f.family(name, "counter", help);
            for fw in &self.forwarders {
                f.sample(name, &[("forwarder", &fw.name)], get(fw) as f64);
            }
        }
        f.family(
            "tierlog_forwarder_watermark_timestamp_seconds",
            "gauge",
            "A forwarder's watermark: every point before it was delivered (absent when its checkpoint is unreadable).",
        );
        for fw in &self.forwarders {
            if let Some(w) = fw.watermark_ms.filter(|w| *w > 0) {
                f.sample(
                    "tierlog_forwarder_watermark_timestamp_seconds",
                    &[("forwarder", &fw.name)],
                    ms_to_s(w),
                );
            }
        }
        f.family(
            "tierlog_forwarder_lag_seconds",
            "gauge",
            "How far a forwarder's watermark is behind the newest raw point (0 when caught up).",
        );
        let newest = self.tiers.first().and_then(|t| t.newest_ms);
        for fw in &self.forwarders {
            if let (Some(w), Some(n)) = (fw.watermark_ms.filter(|w| *w > 0), newest) {
                f.sample(
                    "tierlog_forwarder_lag_seconds",
                    &[("forwarder", &fw.name)],
                    ms_to_s(n.saturating_sub(w).max(0)),
                );
            }
        }
        f.family(
            "tierlog_forwarder_checkpoint_readable",
            "gauge",
            "1 when a forwarder's checkpoint could be read (its counts are 0 when not).",
        );
        for fw in &self.forwarders {
            f.sample(
                "tierlog_forwarder_checkpoint_readable",
                &[("forwarder", &fw.name)],
                f64::from(u8::from(fw.readable)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_label_values_and_help() {
        let mut s = String::new();
        Families::new(&mut s)
            .family("m", "gauge", "a \\ b\nc")
            .sample("m", &[("l", "x\"y\\z\nw")], f64::INFINITY)
            .sample("m", &[], f64::NAN)
            .sample("m", &[], 0.5);
        assert_eq!(
            s,
            "# HELP m a \\\\ b\\nc\n# TYPE m gauge\nm{l=\"x\\\"y\\\\z\\nw\"} +Inf\nm NaN\nm 0.5\n"
        );
    }
}
