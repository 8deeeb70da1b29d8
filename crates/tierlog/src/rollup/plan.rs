//! Deciding what to materialise: a pure function over each tier's progress, the raw data still
//! present and the clock. The executor (`store::rollup`) does the I/O.
//!
//! Work is cut into **pieces**: epoch-aligned ranges of `piece_span(raw window, interval)`, the
//! least common multiple of the raw window span and the tier interval, so a piece holds whole
//! buckets and whole raw windows. A piece is **final** once its end plus the grace for late
//! samples has passed: no raw point in it can change any more, so its buckets are computed
//! once, from raw points, and never revised. Each tier records how far it has materialised
//! (`done_through`, the exclusive end of a contiguous materialised range).

/// A tier's progress, as the planner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierProgress {
    /// Bucket width, ms (> 0).
    pub interval_ms: i64,
    /// Piece width, ms: a multiple of the interval and of the raw window span.
    pub piece_ms: i64,
    /// Exclusive end of what is materialised; `None` before the first piece.
    pub done_through: Option<i64>,
}

/// One piece to materialise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Index of the tier.
    pub tier: usize,
    /// Start, ms (a multiple of the piece width).
    pub start: i64,
    /// End (exclusive), ms.
    pub end: i64,
}

/// What the planner decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Pieces to materialise, per tier in time order.
    pub pieces: Vec<Piece>,
    /// Ranges `(tier, from, to)` that can never be materialised because their raw points are
    /// gone (e.g. after a long outage); the executor records them as skipped and reports them.
    pub lost: Vec<(usize, i64, i64)>,
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.abs()
}

/// The piece width for a tier: `lcm(raw_span_ms, interval_ms)` (both > 0, as a validated
/// configuration has them).
pub fn piece_span(raw_span_ms: i64, interval_ms: i64) -> i64 {
    raw_span_ms / gcd(raw_span_ms, interval_ms) * interval_ms
}

/// [`piece_span`] for values read from a file: `None` when either is not positive or the
/// result overflows.
pub fn checked_piece_span(raw_span_ms: i64, interval_ms: i64) -> Option<i64> {
    if raw_span_ms <= 0 || interval_ms <= 0 {
        return None;
    }
    (raw_span_ms / gcd(raw_span_ms, interval_ms)).checked_mul(interval_ms)
}

/// Whether a rollup segment starting at `start` may span `span`: one piece, or a compacted
/// run of whole pieces aligned to its own span.
pub fn rollup_span_ok(start: i64, span: i64, piece: i64) -> bool {
    span == piece || (piece > 0 && span > piece && span % piece == 0 && start.rem_euclid(span) == 0)
}

/// Plans at most `max_pieces` pieces per tier.
///
/// - `raw_oldest`: the timestamp of the oldest raw point still present (`None`: no raw data).
/// - `now`: the store's effective clock; `grace`: the late-sample grace, ms.
///
/// A tier that has not started begins with the piece holding `raw_oldest`. A tier whose next
/// piece starts before the oldest raw point still present skips ahead (reporting the skipped
/// range as lost) — with a valid configuration raw data outlives every final piece, so this
/// only happens after the store was down longer than the raw keep.
pub fn plan(
    tiers: &[TierProgress],
    raw_oldest: Option<i64>,
    now: i64,
    grace: i64,
    max_pieces: usize,
) -> Plan {
    let mut out = Plan::default();
    for (tier, t) in tiers.iter().enumerate() {
        if t.piece_ms <= 0 || t.interval_ms <= 0 {
            continue;
        }
        let floor = |ts: i64| ts.div_euclid(t.piece_ms) * t.piece_ms;
        let mut start = match (t.done_through, raw_oldest) {
            (Some(done), Some(oldest)) if floor(oldest) > done => {
                out.lost.push((tier, done, floor(oldest)));
                floor(oldest)
            }
            (Some(done), _) => done,
            (None, Some(oldest)) => floor(oldest),
            (None, None) => continue,
        };
        let mut n = 0;
        while n < max_pieces {
            let Some(end) = start.checked_add(t.piece_ms) else {
                break;
            };
            if end.saturating_add(grace) > now {
                break;
            }
            out.pieces.push(Piece { tier, start, end });
            start = end;
            n += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn tier(interval: i64, done: Option<i64>) -> TierProgress {
        TierProgress {
            interval_ms: interval,
            piece_ms: piece_span(20 * MIN, interval),
            done_through: done,
        }
    }

    #[test]
    fn piece_spans_hold_whole_windows_and_buckets() {
        assert_eq!(piece_span(20 * MIN, 10_000), 20 * MIN);
        assert_eq!(piece_span(20 * MIN, 60_000), 20 * MIN);
        assert_eq!(piece_span(20 * MIN, 3_600_000), 60 * MIN);
        assert_eq!(piece_span(20 * MIN, 7 * MIN), 140 * MIN);
    }

    #[test]
    fn only_final_pieces_are_planned() {
        let grace = 5 * MIN;
        let t = [tier(10_000, None), tier(3_600_000, None)];
        // Raw data from 00:03; now 00:44: the 10s tier's piece 00:00-00:20 is final (00:25 <=
        // 00:44), 00:20-00:40 is not (00:45); the hourly tier has nothing final yet.
        let p = plan(&t, Some(3 * MIN), 44 * MIN, grace, 100);
        assert_eq!(
            p.pieces,
            vec![Piece {
                tier: 0,
                start: 0,
                end: 20 * MIN
            }]
        );
        assert!(p.lost.is_empty());
        // Exactly at end + grace the piece is final.
        let p = plan(&t, Some(3 * MIN), 45 * MIN, grace, 100);
        assert_eq!(p.pieces.len(), 2);
        let p = plan(&t, Some(3 * MIN), 65 * MIN, grace, 100);
        assert_eq!(p.pieces.iter().filter(|p| p.tier == 1).count(), 1);
    }

    #[test]
    fn progress_resumes_where_it_stopped_and_work_is_bounded() {
        let t = [tier(60_000, Some(40 * MIN))];
        let p = plan(&t, Some(0), 10 * 60 * MIN, 0, 3);
        assert_eq!(
            p.pieces.iter().map(|p| p.start).collect::<Vec<_>>(),
            vec![40 * MIN, 60 * MIN, 80 * MIN]
        );
        // Nothing to do before the next piece is final; nothing at all without raw data.
        assert!(plan(&t, Some(0), 60 * MIN - 1, 0, 3).pieces.is_empty());
        assert!(
            plan(&[tier(60_000, None)], None, i64::MAX, 0, 3)
                .pieces
                .is_empty()
        );
    }

    #[test]
    fn raw_data_gone_before_materialisation_is_reported_not_invented() {
        let t = [tier(10_000, Some(20 * MIN))];
        let p = plan(&t, Some(125 * MIN), 200 * MIN, 0, 100);
        assert_eq!(p.lost, vec![(0, 20 * MIN, 120 * MIN)]);
        assert_eq!(p.pieces[0].start, 120 * MIN);
    }
}
