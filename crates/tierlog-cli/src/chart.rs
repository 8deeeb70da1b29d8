//! Line charts of query results, drawn in the terminal or written as a standalone SVG.
//!
//! Both renderers share one layout: the time and value ranges, nice ticks and their labels.
//! Everything here is pure (data in, text out) and deterministic, so tests can check where
//! a glyph or a path point lands. NaN values are gaps; ±Inf are drawn at the top or bottom
//! edge and counted in a note.

use std::fmt::Write as _;

use crate::time::Zone;

/// One series to draw.
pub struct Line {
    /// The legend's name: `metric{labels}`.
    pub name: String,
    /// `(t_ms, value)` in time order; NaN is a gap.
    pub points: Vec<(i64, f64)>,
    /// `(t_ms, min, max)` in time order: a band under the line (bucket queries); may be
    /// empty.
    pub band: Vec<(i64, f64, f64)>,
}

/// What to draw.
pub struct Chart<'a> {
    pub lines: &'a [Line],
    /// The zone of the time labels.
    pub zone: Zone,
}

/// Glyphs of the terminal chart, one per series in turn.
const GLYPHS: [char; 8] = ['*', '+', 'o', 'x', '#', '@', '%', '&'];
/// ANSI foreground colours of the terminal chart (blue, red, green, yellow, magenta, cyan).
const ANSI: [u8; 6] = [34, 31, 32, 33, 35, 36];
/// The band's glyph in the terminal.
const BAND: char = '░';
/// SVG colours (Tableau 10).
const SVG_COLOURS: [&str; 10] = [
    "#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// Time steps the time axis may tick at, ms.
const TIME_STEPS: [i64; 26] = [
    1_000,
    2_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
    7_200_000,
    10_800_000,
    21_600_000,
    43_200_000,
    DAY,
    2 * DAY,
    7 * DAY,
    14 * DAY,
    30 * DAY,
    60 * DAY,
    90 * DAY,
    180 * DAY,
    365 * DAY,
];
const DAY: i64 = 86_400_000;

/// The ranges a chart maps onto its area.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranges {
    pub t0: i64,
    pub t1: i64,
    pub v0: f64,
    pub v1: f64,
}

impl Ranges {
    /// The time range of every point and band, and the value range of every finite value
    /// (so a line that rises from its first to its last point runs corner to corner).
    /// `None` when there is nothing to draw.
    pub fn of(lines: &[Line]) -> Option<Ranges> {
        let times = lines.iter().flat_map(|l| {
            let band = l.band.iter().map(|b| b.0);
            l.points.iter().map(|p| p.0).chain(band)
        });
        let (mut t0, mut t1) = times.fold((i64::MAX, i64::MIN), |(a, b), t| (a.min(t), b.max(t)));
        if t0 > t1 {
            return None;
        }
        if t0 == t1 {
            (t0, t1) = (t0 - 30_000, t1 + 30_000);
        }
        let values = lines.iter().flat_map(|l| {
            let band = l.band.iter().flat_map(|b| [b.1, b.2]);
            l.points.iter().map(|p| p.1).chain(band)
        });
        let (mut v0, mut v1) = values
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
        if v0 > v1 {
            (v0, v1) = (0.0, 1.0);
        } else if v0 == v1 {
            let pad = (v0.abs() * 0.1).max(1.0);
            (v0, v1) = (v0 - pad, v1 + pad);
        }
        Some(Ranges { t0, t1, v0, v1 })
    }

    /// Where `t` falls, 0 (t0) to 1 (t1).
    fn x(&self, t: i64) -> f64 {
        (t - self.t0) as f64 / (self.t1 - self.t0) as f64
    }

    /// Where `v` falls, 0 (bottom, v0) to 1 (top, v1); ±Inf at the edges, `None` for NaN.
    fn y(&self, v: f64) -> Option<f64> {
        if v.is_nan() {
            None
        } else if v == f64::INFINITY {
            Some(1.0)
        } else if v == f64::NEG_INFINITY {
            Some(0.0)
        } else {
            Some(((v - self.v0) / (self.v1 - self.v0)).clamp(0.0, 1.0))
        }
    }
}

/// Nice value ticks (1, 2 or 5 × 10^k apart) inside `[v0, v1]`: the closest that are at
/// most `max` (at least 2), with their labels.
pub fn value_ticks(v0: f64, v1: f64, max: usize) -> Vec<(f64, String)> {
    let max = max.max(2) as f64;
    let inside = |s: f64| (v1 / s).floor() - (v0 / s).ceil() + 1.0;
    let mut mag = 10f64.powf(((v1 - v0) / max).log10().floor() - 1.0);
    let step = loop {
        if let Some(s) = [1.0, 2.0, 5.0]
            .into_iter()
            .map(|m| m * mag)
            .find(|s| inside(*s) <= max)
        {
            break s;
        }
        mag *= 10.0;
    };
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10() - 1e-9).ceil() as usize
    };
    let big = v0.abs().max(v1.abs()) >= 1e7;
    let mut ticks = Vec::new();
    let mut k = (v0 / step).ceil();
    while k * step <= v1 + step * 1e-9 && ticks.len() < max as usize {
        let v = k * step;
        let v = if v == 0.0 { 0.0 } else { v }; // no "-0"
        let label = if big {
            format!("{v:.2e}")
        } else {
            format!("{v:.decimals$}")
        };
        ticks.push((v, label));
        k += 1.0;
    }
    ticks
}

/// Time ticks for `[t0, t1]`, aligned to the zone's wall clock, with labels: `HH:MM` for a
/// span up to a day (`HH:MM:SS` when the ticks are less than a minute apart), beyond that
/// RFC 3339 without milliseconds (the full date alone when the ticks are whole days).
/// `fit(w)`: how many labels `w` characters wide fit on the axis.
pub fn time_ticks(
    t0: i64,
    t1: i64,
    zone: Zone,
    fit: impl Fn(usize) -> usize,
) -> Vec<(i64, String)> {
    let span = t1 - t0;
    let pick = |max: usize| {
        let max = max.max(2) as i64;
        TIME_STEPS
            .into_iter()
            .find(|s| span / s < max)
            .unwrap_or_else(|| (span / max / (365 * DAY) + 1) * 365 * DAY)
    };
    let full = match zone {
        Zone::Utc => 20,
        Zone::Local => 25,
    };
    let mut step = pick(fit(if span <= DAY { 5 } else { full }));
    if step < 60_000 {
        step = pick(fit(8));
    }
    let off = zone.offset_minutes(t0) * 60_000;
    let mut t = (t0 + off).div_euclid(step) * step - off;
    if t < t0 {
        t += step;
    }
    let mut ticks = Vec::new();
    while t <= t1 {
        ticks.push((t, time_label(t, span, step, zone)));
        t += step;
    }
    ticks
}

fn time_label(t: i64, span: i64, step: i64, zone: Zone) -> String {
    let wall = zone.wall_clock(t); // YYYY-MM-DDTHH:MM:SS.mmm
    if step < 60_000 {
        wall[11..19].to_owned()
    } else if span <= DAY {
        wall[11..16].to_owned()
    } else if step % DAY == 0 {
        wall[..10].to_owned()
    } else {
        let mut s = zone.format(t);
        if let Some(dot) = s.find('.') {
            s.replace_range(dot..dot + 4, "");
        }
        s
    }
}

/// The header line: the time range shown and its zone.
fn range_text(r: &Ranges, zone: Zone) -> String {
    let name = match zone {
        Zone::Utc => "UTC",
        Zone::Local => "local time",
    };
    format!("{} to {} ({name})", zone.format(r.t0), zone.format(r.t1))
}

/// Counts of ±Inf values drawn at the edges.
fn inf_note(lines: &[Line]) -> Option<String> {
    let values = || {
        lines.iter().flat_map(|l| {
            let band = l.band.iter().flat_map(|b| [b.1, b.2]);
            l.points.iter().map(|p| p.1).chain(band)
        })
    };
    let pos = values().filter(|v| *v == f64::INFINITY).count();
    let neg = values().filter(|v| *v == f64::NEG_INFINITY).count();
    if pos + neg == 0 {
        return None;
    }
    let mut parts = Vec::new();
    if pos > 0 {
        parts.push(format!("{pos} +Inf value(s) drawn at the top edge"));
    }
    if neg > 0 {
        parts.push(format!("{neg} -Inf value(s) drawn at the bottom edge"));
    }
    Some(format!("note: {}", parts.join(", ")))
}

/// The legend text of one line.
fn legend_text(l: &Line) -> String {
    if l.band.is_empty() {
        l.name.clone()
    } else {
        format!("{} (avg; band: min to max)", l.name)
    }
}

/// Draws the chart as text of `width` columns and `height` lines: a header with the time
/// range, the plot with value labels on the left, the time axis and its labels, a legend
/// line per series and a note about ±Inf values. The plot keeps at least 3 rows and 10
/// columns, so a tiny size or a long legend can make the text larger than asked.
/// `colours`: ANSI colours besides the glyphs.
pub fn terminal(chart: &Chart<'_>, width: usize, height: usize, colours: bool) -> String {
    let Some(r) = Ranges::of(chart.lines) else {
        return "nothing to plot\n".to_owned();
    };
    let note = inf_note(chart.lines);
    let fixed = 3 + chart.lines.len() + usize::from(note.is_some());
    let rows = height.saturating_sub(fixed).max(3);
    let vt = value_ticks(r.v0, r.v1, rows.div_ceil(3).max(2));
    let lw = vt.iter().map(|t| t.1.len()).max().unwrap_or(0);
    let cols = width.saturating_sub(lw + 2).max(10);
    let tt = time_ticks(r.t0, r.t1, chart.zone, |w| cols / (w + 3));
    let tw = tt.iter().map(|t| t.1.len()).max().unwrap_or(0);

    // The plot area: a glyph and its series per cell; bands first, lines over them.
    let mut grid: Vec<Vec<Option<(char, usize)>>> = vec![vec![None; cols]; rows];
    let col = |t: i64| ((r.x(t) * (cols - 1) as f64).round() as usize).min(cols - 1);
    let row = |y: f64| ((1.0 - y) * (rows - 1) as f64).round() as usize;
    for (i, l) in chart.lines.iter().enumerate() {
        let mut prev: Option<(usize, f64, f64)> = None;
        for &(t, lo, hi) in &l.band {
            let (Some(ylo), Some(yhi)) = (r.y(lo), r.y(hi)) else {
                prev = None;
                continue;
            };
            let c = col(t);
            let (c0, lo0, hi0) = prev.unwrap_or((c, ylo, yhi));
            for cc in c0..=c {
                let f = if c == c0 {
                    1.0
                } else {
                    (cc - c0) as f64 / (c - c0) as f64
                };
                let (a, b) = (lo0 + (ylo - lo0) * f, hi0 + (yhi - hi0) * f);
                for cell in &mut grid[row(b)..=row(a)] {
                    cell[cc] = Some((BAND, i));
                }
            }
            prev = Some((c, ylo, yhi));
        }
    }
    for (i, l) in chart.lines.iter().enumerate() {
        let glyph = GLYPHS[i % GLYPHS.len()];
        let mut prev: Option<(usize, usize)> = None;
        for &(t, v) in &l.points {
            let Some(y) = r.y(v) else {
                prev = None;
                continue;
            };
            let here = (col(t), row(y));
            for (c, rr) in segment(prev.unwrap_or(here), here) {
                grid[rr][c] = Some((glyph, i));
            }
            prev = Some(here);
        }
    }

    let mut out = String::new();
    let _ = writeln!(out, "{}", range_text(&r, chart.zone));
    let mut labels: Vec<Option<&str>> = vec![None; rows];
    for (v, label) in &vt {
        if let Some(y) = r.y(*v) {
            labels[row(y)] = Some(label);
        }
    }
    for (cells, label) in grid.iter().zip(&labels) {
        let axis = if label.is_some() { '┤' } else { '│' };
        let mut line = format!("{:>lw$} {axis}", label.unwrap_or(""));
        // Colour escapes only where the style changes, so a run of one series is one run.
        let mut style: Option<(bool, usize)> = None;
        let end = cells.iter().rposition(Option::is_some).map_or(0, |e| e + 1);
        for cell in &cells[..end] {
            let want = cell.map(|(g, i)| (g == BAND, i % ANSI.len()));
            if colours && want != style {
                match want {
                    Some((dim, c)) => {
                        let dim = if dim { "2;" } else { "" };
                        let _ = write!(line, "\x1b[0;{dim}{}m", ANSI[c]);
                    }
                    None => line.push_str("\x1b[0m"),
                }
                style = want;
            }
            line.push(cell.map_or(' ', |(g, _)| g));
        }
        if colours && style.is_some() {
            line.push_str("\x1b[0m");
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let mut axis: Vec<char> = std::iter::repeat_n('─', cols).collect();
    let mut under: Vec<char> = vec![' '; cols + tw];
    let mut free = 0; // the first column a label may start at
    for (t, label) in &tt {
        let c = col(*t);
        axis[c] = '┬';
        let n = label.chars().count();
        let start = c.saturating_sub(n / 2).min(cols.saturating_sub(n));
        if start >= free {
            under.splice(start..start + n, label.chars());
            free = start + n + 2;
        }
    }
    let _ = writeln!(out, "{:lw$} └{}", "", axis.into_iter().collect::<String>());
    let under: String = under.into_iter().collect();
    let _ = writeln!(out, "{:lw$}  {}", "", under.trim_end());
    for (i, l) in chart.lines.iter().enumerate() {
        let g = GLYPHS[i % GLYPHS.len()];
        let name = legend_text(l);
        if colours {
            let _ = writeln!(out, "  \x1b[{}m{g}\x1b[0m {name}", ANSI[i % ANSI.len()]);
        } else {
            let _ = writeln!(out, "  {g} {name}");
        }
    }
    if let Some(n) = note {
        let _ = writeln!(out, "  {n}");
    }
    out
}

/// The cells from `a` to `b` (column, row), both included, 8-connected (Bresenham).
fn segment(a: (usize, usize), b: (usize, usize)) -> Vec<(usize, usize)> {
    let (mut x, mut y) = (a.0 as i64, a.1 as i64);
    let (x1, y1) = (b.0 as i64, b.1 as i64);
    let (dx, dy) = ((x1 - x).abs(), -(y1 - y).abs());
    let (sx, sy) = ((x1 - x).signum(), (y1 - y).signum());
    let mut err = dx + dy;
    let mut cells = Vec::new();
    loop {
        cells.push((x as usize, y as usize));
        if x == x1 && y == y1 {
            return cells;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
}

/// SVG geometry, px.
const SVG_WIDTH: f64 = 960.0;
const PLOT_TOP: f64 = 36.0;
const PLOT_HEIGHT: f64 = 400.0;
const PLOT_RIGHT: f64 = 24.0;
const LEGEND_ROW: f64 = 20.0;
/// Width of a character of the 12 px sans-serif labels, roughly, to leave room for them.
const CHAR_PX: f64 = 7.0;

/// Writes the chart as a standalone SVG document: a header with the time range, grid lines
/// at the ticks, both axes with tick marks and labels, per series a `<polygon>` band for
/// each unbroken run of buckets (bucket queries) and one `<path>` (gaps are moves), a
/// legend, and a note about ±Inf values. Nothing else is a `<path>` or a `<polygon>`.
pub fn svg(chart: &Chart<'_>) -> String {
    let mut out = String::new();
    let Some(r) = Ranges::of(chart.lines) else {
        let _ = write!(
            out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{SVG_WIDTH}\" height=\"60\"><text x=\"10\" y=\"30\">nothing to plot</text></svg>\n"
        );
        return out;
    };
    let note = inf_note(chart.lines);
    let vt = value_ticks(r.v0, r.v1, 9);
    let left = 16.0 + CHAR_PX * vt.iter().map(|t| t.1.len()).max().unwrap_or(0) as f64;
    let plot_w = SVG_WIDTH - left - PLOT_RIGHT;
    let bottom = PLOT_TOP + PLOT_HEIGHT;
    let tt = time_ticks(r.t0, r.t1, chart.zone, |w| {
        (plot_w / (w as f64 * CHAR_PX + 24.0)) as usize
    });
    let legend_top = bottom + 48.0;
    let rows = chart.lines.len() + usize::from(note.is_some());
    let height = legend_top + LEGEND_ROW * rows as f64 + 8.0;
    let x = |t: i64| left + r.x(t) * plot_w;
    let y = |f: f64| bottom - f * PLOT_HEIGHT;

    let _ = writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{SVG_WIDTH}\" height=\"{height}\" viewBox=\"0 0 {SVG_WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(
        out,
        "<rect x=\"0\" y=\"0\" width=\"{SVG_WIDTH}\" height=\"{height}\" fill=\"white\"/>"
    );
    let _ = writeln!(
        out,
        "<text class=\"range\" x=\"{left}\" y=\"20\">{}</text>",
        escape(&range_text(&r, chart.zone))
    );
    let _ = writeln!(out, "<g class=\"grid\" stroke=\"#e0e0e0\">");
    for (v, _) in &vt {
        let py = y(r.y(*v).unwrap_or(0.0));
        let _ = writeln!(
            out,
            "<line x1=\"{left:.1}\" y1=\"{py:.1}\" x2=\"{:.1}\" y2=\"{py:.1}\"/>",
            left + plot_w
        );
    }
    for (t, _) in &tt {
        let px = x(*t);
        let _ = writeln!(
            out,
            "<line x1=\"{px:.1}\" y1=\"{PLOT_TOP:.1}\" x2=\"{px:.1}\" y2=\"{bottom:.1}\"/>"
        );
    }
    let _ = writeln!(out, "</g>");
    let _ = writeln!(out, "<g class=\"axes\" stroke=\"black\">");
    let _ = writeln!(
        out,
        "<line x1=\"{left:.1}\" y1=\"{PLOT_TOP:.1}\" x2=\"{left:.1}\" y2=\"{bottom:.1}\"/>"
    );
    let _ = writeln!(
        out,
        "<line x1=\"{left:.1}\" y1=\"{bottom:.1}\" x2=\"{:.1}\" y2=\"{bottom:.1}\"/>",
        left + plot_w
    );
    for (v, _) in &vt {
        let py = y(r.y(*v).unwrap_or(0.0));
        let _ = writeln!(
            out,
            "<line x1=\"{:.1}\" y1=\"{py:.1}\" x2=\"{left:.1}\" y2=\"{py:.1}\"/>",
            left - 5.0
        );
    }
    for (t, _) in &tt {
        let px = x(*t);
        let _ = writeln!(
            out,
            "<line x1=\"{px:.1}\" y1=\"{bottom:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\"/>",
            bottom + 5.0
        );
    }
    let _ = writeln!(out, "</g>");
    let _ = writeln!(out, "<g class=\"value-labels\" text-anchor=\"end\">");
    for (v, label) in &vt {
        let py = y(r.y(*v).unwrap_or(0.0)) + 4.0;
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{py:.1}\">{}</text>",
            left - 8.0,
            escape(label)
        );
    }
    let _ = writeln!(out, "</g>");
    let _ = writeln!(out, "<g class=\"time-labels\" text-anchor=\"middle\">");
    for (t, label) in &tt {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x(*t),
            bottom + 20.0,
            escape(label)
        );
    }
    let _ = writeln!(out, "</g>");

    for (i, l) in chart.lines.iter().enumerate() {
        let colour = SVG_COLOURS[i % SVG_COLOURS.len()];
        for run in l
            .band
            .split(|b| b.1.is_nan() || b.2.is_nan())
            .filter(|run| !run.is_empty())
        {
            let upper = run.iter().map(|b| (b.0, b.2));
            let lower = run.iter().rev().map(|b| (b.0, b.1));
            let pts: Vec<String> = upper
                .chain(lower)
                .map(|(t, v)| format!("{:.1},{:.1}", x(t), y(r.y(v).unwrap_or(0.0))))
                .collect();
            let _ = writeln!(
                out,
                "<polygon class=\"band\" fill=\"{colour}\" fill-opacity=\"0.2\" stroke=\"none\" points=\"{}\"/>",
                pts.join(" ")
            );
        }
    }
    for (i, l) in chart.lines.iter().enumerate() {
        let colour = SVG_COLOURS[i % SVG_COLOURS.len()];
        let mut d = String::new();
        let mut run = 0;
        for &(t, v) in &l.points {
            let Some(f) = r.y(v) else {
                if run == 1 {
                    d.push_str(" h0"); // a lone point: a dot, thanks to the round caps
                }
                run = 0;
                continue;
            };
            let sep = if d.is_empty() { "" } else { " " };
            let cmd = if run == 0 { 'M' } else { 'L' };
            let _ = write!(d, "{sep}{cmd}{:.1},{:.1}", x(t), y(f));
            run += 1;
        }
        if run == 1 {
            d.push_str(" h0");
        }
        let _ = writeln!(
            out,
            "<path class=\"series\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" stroke-linejoin=\"round\" stroke-linecap=\"round\" d=\"{d}\"><title>{}</title></path>",
            escape(&l.name)
        );
    }

    let _ = writeln!(out, "<g class=\"legend\">");
    for (i, l) in chart.lines.iter().enumerate() {
        let colour = SVG_COLOURS[i % SVG_COLOURS.len()];
        let ly = legend_top + LEGEND_ROW * i as f64;
        let _ = writeln!(
            out,
            "<rect x=\"{left:.1}\" y=\"{:.1}\" width=\"16\" height=\"4\" fill=\"{colour}\"/>",
            ly - 6.0
        );
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{ly:.1}\">{}</text>",
            left + 24.0,
            escape(&legend_text(l))
        );
    }
    if let Some(n) = note {
        let ly = legend_top + LEGEND_ROW * chart.lines.len() as f64;
        let _ = writeln!(
            out,
            "<text class=\"note\" x=\"{left:.1}\" y=\"{ly:.1}\">{}</text>",
            escape(&n)
        );
    }
    let _ = writeln!(out, "</g>");
    let _ = writeln!(out, "</svg>");
    out
}

/// Text escaped for XML content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str, points: &[(i64, f64)]) -> Line {
        Line {
            name: name.to_owned(),
            points: points.to_vec(),
            band: Vec::new(),
        }
    }

    /// The plot rows of a terminal chart: the text right of the value axis.
    fn plot_rows(text: &str) -> Vec<String> {
        text.lines()
            .skip(1)
            .take_while(|l| !l.contains('└'))
            .map(|l| {
                let i = l.find(['│', '┤']).expect("an axis");
                l[i + '│'.len_utf8()..].to_owned()
            })
            .collect()
    }

    #[test]
    fn a_rising_line_runs_from_bottom_left_to_top_right() {
        let l = [line(
            "up",
            &(0..10).map(|i| (i * 60_000, i as f64)).collect::<Vec<_>>(),
        )];
        let text = terminal(
            &Chart {
                lines: &l,
                zone: Zone::Utc,
            },
            60,
            20,
            false,
        );
        assert_eq!(text.lines().count(), 20, "{text}");
        let rows = plot_rows(&text);
        assert_eq!(rows.len(), 20 - 4);
        assert!(rows.last().unwrap().starts_with('*'), "{text}");
        let top = &rows[0];
        assert!(top.ends_with('*'), "{text}");
        assert_eq!(top.chars().count(), rows_width(&text));
        assert!(text.contains("00:00") && text.contains("00:09"), "{text}");
        assert!(text.lines().any(|l| l.trim() == "* up"), "{text}");
    }

    fn rows_width(text: &str) -> usize {
        let axis = text.lines().find(|l| l.contains('└')).unwrap();
        axis.chars().skip_while(|c| *c != '└').count() - 1
    }

    #[test]
    fn nan_is_a_gap_and_inf_is_clipped_and_noted() {
        let l = [line(
            "g",
            &[
                (0, 0.0),
                (1_000, f64::NAN),
                (2_000, 1.0),
                (3_000, f64::INFINITY),
            ],
        )];
        let c = Chart {
            lines: &l,
            zone: Zone::Utc,
        };
        let text = terminal(&c, 40, 12, false);
        assert!(
            text.contains("1 +Inf value(s) drawn at the top edge"),
            "{text}"
        );
        let glyphs: usize = plot_rows(&text)
            .iter()
            .map(|r| r.matches('*').count())
            .sum();
        // The lone first point, then a segment from 1.0 to the top edge; nothing between
        // the first point and the NaN.
        let rows = plot_rows(&text);
        assert!(rows.last().unwrap().starts_with('*'));
        assert!(glyphs < 20, "{text}");
        let s = svg(&c);
        assert!(s.contains(" h0 M"), "{s}");
        assert!(s.contains("+Inf value(s)"));
    }

    #[test]
    fn ticks_are_nice_and_inside() {
        let t = value_ticks(0.0, 10.0, 6);
        let v: Vec<&str> = t.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(v, ["0", "2", "4", "6", "8", "10"]);
        let t = value_ticks(0.05, 0.31, 4);
        let v: Vec<&str> = t.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(v, ["0.1", "0.2", "0.3"]);
        let t = value_ticks(-0.5, 0.5, 3);
        let v: Vec<&str> = t.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(v, ["-0.5", "0.0", "0.5"]);
        let t = time_ticks(90_000, 3_690_000, Zone::Utc, |_| 5);
        let v: Vec<&str> = t.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(v, ["00:15", "00:30", "00:45", "01:00"]);
        let t = time_ticks(0, 3 * DAY, Zone::Utc, |_| 5);
        assert_eq!(t[1].1, "1970-01-02");
    }

    #[test]
    fn svg_has_a_path_per_series_and_bands() {
        let mut a = line("a{x=\"<1>\"}", &[(0, 1.0), (1000, 2.0)]);
        a.band = vec![(0, 0.5, 1.5), (1000, 1.5, 2.5)];
        let l = [a, line("b", &[(0, 2.0), (1000, 1.0)])];
        let s = svg(&Chart {
            lines: &l,
            zone: Zone::Utc,
        });
        assert_eq!(s.matches("<path").count(), 2);
        assert_eq!(s.matches("<polygon").count(), 1);
        assert!(s.contains("a{x=&quot;&lt;1&gt;&quot;} (avg; band: min to max)"));
    }
}
