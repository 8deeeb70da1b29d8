//! Deciding what retention drops: pure functions over a description of the store (its
//! segments, how far each tier has materialised, the forwarders' watermark), the retention
//! settings and the clock. No lock, no I/O; the executor (`apply.rs`) builds a [`StoreView`]
//! under the lock, asks the plan, then drops what it says.
//!
//! The plan has two steps because the byte budget counts files retention does not own (window
//! logs, the index, the state, open windows) as they are on disk once the drops by age are
//! done: [`by_age`] first, then [`AgePlan::by_budget`] given the store's bytes measured in
//! between.
//!
//! The rules:
//! - **By age**: a segment goes once its end is at or before `now − limit`, where the limit is
//!   the shorter of its tier's keep and `max_age_days` (the more aggressive wins; the reason
//!   says which).
//! - **Rollups first**: a raw segment stays while a tier has not materialised past its end,
//!   since the piece after it reads its last points (a counter's first step).
//! - **Forwarding**: raw data a forwarder has not sent (past its watermark) stays by age up to
//!   `forward_backlog`, but not against the budget.
//! - **Clock sanity**: when the clock is more than `max_clock_lead` ahead of the newest raw
//!   sample, nothing goes by age (unless the clock is accepted).
//! - **By budget**: over `max_bytes`, the segments with the oldest end go first (raw before its
//!   rollups on ties), skipping raw data not rolled up yet, until the store fits.

use std::path::PathBuf;

use super::DropReason;

/// The retention settings, in ms and bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long raw data is kept, ms.
    pub raw_keep: i64,
    /// `max_age_days`, ms.
    pub max_age: i64,
    /// The byte budget; 0 for none.
    pub max_bytes: u64,
    /// How far the clock may run ahead of the newest data before deletions by age stop, ms.
    pub max_clock_lead: i64,
    /// Deletions by age go on whatever the clock's lead.
    pub accept_clock: bool,
    /// How long raw data a forwarder has not sent is kept past its keep time, ms.
    pub forward_backlog: i64,
}

/// A sealed segment (readable or damaged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Start of the time it covers, ms.
    pub start: i64,
    /// End (exclusive) of the time it covers, ms.
    pub end: i64,
    /// Its size on disk.
    pub bytes: u64,
    /// Its file.
    pub path: PathBuf,
}

/// A sealed raw segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSegment {
    /// The segment.
    pub segment: Segment,
    /// Its newest sample's time, ms; `None` when damaged (its contents are unknown).
    pub newest: Option<i64>,
}

/// A rollup tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierView {
    /// How long its buckets are kept, ms.
    pub keep: i64,
    /// Exclusive end of what it has materialised, ms (`i64::MIN` before the first piece).
    pub done_through: i64,
    /// Its sealed segments, in start order.
    pub segments: Vec<Segment>,
}

/// What retention needs to know of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreView {
    /// The clock, ms (never behind the newest time the store has seen).
    pub now: i64,
    /// Sealed raw segments, in start order, damaged ones after them.
    pub raw: Vec<RawSegment>,
    /// The newest sample in the open (and sealing) windows, ms.
    pub open_newest: Option<i64>,
    /// The rollup tiers, in configuration order.
    pub tiers: Vec<TierView>,
    /// The lowest watermark of the forwarders' checkpoints, ms; `None` without a forwarder.
    pub forwarded: Option<i64>,
    /// The settings.
    pub limits: Limits,
}

/// A segment to drop, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedDrop {
    /// `None` = raw, else the tier's index.
    pub tier: Option<usize>,
    /// The segment.
    pub segment: Segment,
    /// Which limit drops it.
    pub reason: DropReason,
}

/// The drops by age and what was held back, with the segments left for the budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgePlan {
    /// Segments to drop, in this order.
    pub drops: Vec<PlannedDrop>,
    /// Raw segments past their keep time kept because a tier has not materialised them yet.
    pub held_for_rollups: u64,
    /// Raw segments past their keep time kept because a forwarder has not sent them yet.
    pub held_for_forward: u64,
    /// Deletions by age were held back: the clock leads the newest sample by this much, ms.
    pub age_held_back: Option<i64>,
    /// The segments not dropped by age, in view order.
    kept: Vec<Candidate>,
    /// The byte budget; 0 for none.
    max_bytes: u64,
}

/// A segment retention may drop, with its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    tier: Option<usize>,
    segment: Segment,
    /// Raw data not yet materialised by every tier.
    protected: bool,
    /// The age limit of its tier, ms, and the reason that limit stands for.
    limit: i64,
    reason: DropReason,
}

impl Candidate {
    fn drop_for(&self, reason: DropReason) -> PlannedDrop {
        PlannedDrop {
            tier: self.tier,
            segment: self.segment.clone(),
            reason,
        }
    }
}

/// The drops by age: every segment past its limit, but raw data a tier or a forwarder still
/// needs, and nothing at all while the clock leads the newest sample by too much.
pub fn by_age(view: &StoreView) -> AgePlan {
    let limits = &view.limits;
    let limit_of = |keep: i64| {
        if keep < limits.max_age {
            (keep, DropReason::TierKeep)
        } else {
            (limits.max_age, DropReason::MaxAge)
        }
    };
    // Raw windows ending after the least materialised tier's mark are not rolled up yet,
    // and the window ending exactly there is the look-back of the next piece (a counter's
    // first step): both stay.
    let rolled_up_through = view.tiers.iter().map(|t| t.done_through).min();
    let (raw_limit, raw_reason) = limit_of(limits.raw_keep);
    let raw = view.raw.iter().map(|r| Candidate {
        tier: None,
        segment: r.segment.clone(),
        protected: rolled_up_through.is_some_and(|d| d <= r.segment.end),
        limit: raw_limit,
        reason: raw_reason,
    });
    let rollups = view.tiers.iter().enumerate().flat_map(|(i, t)| {
        let (limit, reason) = limit_of(t.keep);
        t.segments.iter().map(move |s| Candidate {
            tier: Some(i),
            segment: s.clone(),
            protected: false,
            limit,
            reason,
        })
    });
    let cands: Vec<Candidate> = raw.chain(rollups).collect();

    // Clock sanity: a clock far ahead of every datum may be wrong; do not let it expire
    // everything. The newest datum is the newest raw sample, not the end of its window,
    // which can be most of a window later.
    let newest = view
        .raw
        .iter()
        .filter_map(|r| r.newest)
        .chain(view.open_newest)
        .max();
    let now = view.now;
    let lead = newest.map_or(0, |n| now.saturating_sub(n));
    let by_age = lead <= limits.max_clock_lead || limits.accept_clock;
    let mut plan = AgePlan {
        drops: Vec::new(),
        held_for_rollups: 0,
        held_for_forward: 0,
        age_held_back: (!by_age).then_some(lead),
        kept: Vec::with_capacity(cands.len()),
        max_bytes: limits.max_bytes,
    };
    for c in cands {
        if by_age && c.segment.end <= now.saturating_sub(c.limit) {
            if c.protected {
                plan.held_for_rollups += 1;
                plan.kept.push(c);
            } else if c.tier.is_none()
                && view.forwarded.is_some_and(|w| c.segment.end > w)
                && c.segment.end > now.saturating_sub(limits.forward_backlog)
            {
                plan.held_for_forward += 1;
                plan.kept.push(c);
            } else {
                plan.drops.push(c.drop_for(c.reason));
            }
        } else {
            plan.kept.push(c);
        }
    }
    plan
}

impl AgePlan {
    /// The drops by budget, given the store's bytes on disk once the drops by age are done:
    /// oldest data first (by window end, raw before its rollups on ties), never raw data not
    /// rolled up yet, until the store is within `max_bytes`. Empty without a budget or within
    /// it; what is left over may still be over it.
    pub fn by_budget(&self, total_bytes: u64) -> Vec<PlannedDrop> {
        let budget = self.max_bytes;
        if budget == 0 || total_bytes <= budget {
            return Vec::new();
        }
        let mut order: Vec<&Candidate> = self.kept.iter().collect();
        order.sort_by_key(|c| {
            (
                c.segment.end,
                c.tier.map_or(0, |t| t + 1),
                c.segment.start,
            )
        });
        let mut total = total_bytes;
        let mut out = Vec::new();
        for c in order.into_iter().filter(|c| !c.protected) {
            if total <= budget {
                break;
            }
            out.push(c.drop_for(DropReason::Budget));
            total = total.saturating_sub(c.segment.bytes);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1000;
    const H: i64 = 3600 * S;
    const DAY: i64 = 24 * H;

    fn seg(start: i64, end: i64, bytes: u64) -> Segment {
        Segment {
            start,
            end,
            bytes,
            path: PathBuf::from(format!("{start}-{end}.seg")),
        }
    }

    /// Raw windows of an hour holding a sample in their last second.
    fn raw(starts: &[i64], bytes: u64) -> Vec<RawSegment> {
        starts
            .iter()
            .map(|&s| RawSegment {
                segment: seg(s, s + H, bytes),
                newest: Some(s + H - S),
            })
            .collect()
    }

    fn tier(keep: i64, done_through: i64, segments: Vec<Segment>) -> TierView {
        TierView {
            keep,
            done_through,
            segments,
        }
    }

    fn limits() -> Limits {
        Limits {
            raw_keep: 2 * H,
            max_age: 90 * DAY,
            max_bytes: 0,
            max_clock_lead: DAY,
            accept_clock: false,
            forward_backlog: DAY,
        }
    }

    /// Now is the end of the last raw window; every tier has materialised through it.
    fn view(raw: Vec<RawSegment>, tiers: Vec<TierView>) -> StoreView {
        let now = raw.iter().map(|r| r.segment.end).max().unwrap_or(0);
        StoreView {
            now,
            raw,
            open_newest: None,
            tiers,
            forwarded: None,
            limits: limits(),
        }
    }

    /// `(tier, start, reason)` of each drop.
    fn summary(drops: &[PlannedDrop]) -> Vec<(Option<usize>, i64, DropReason)> {
        drops
            .iter()
            .map(|d| (d.tier, d.segment.start, d.reason))
            .collect()
    }

    #[test]
    fn each_tier_drops_by_its_own_keep() {
        // Raw hours 0..10; a tier keeping 5 h with hour-long segments 0..10; materialised
        // through the end.
        let starts: Vec<i64> = (0..10).map(|h| h * H).collect();
        let rollups = starts.iter().map(|&s| seg(s, s + H, 10)).collect();
        let v = view(raw(&starts, 100), vec![tier(5 * H, 11 * H, rollups)]);
        let plan = by_age(&v);
        // now = 10 h: raw ends at or before 8 h go, the tier's at or before 5 h.
        let raw_dropped = (0..8).map(|h| (None, h * H, DropReason::TierKeep));
        let tier_dropped = (0..5).map(|h| (Some(0), h * H, DropReason::TierKeep));
        assert_eq!(
            summary(&plan.drops),
            raw_dropped.chain(tier_dropped).collect::<Vec<_>>()
        );
        assert_eq!(plan.held_for_rollups, 0);
        assert_eq!(plan.age_held_back, None);
        // The drops carry the segment as the view described it.
        assert_eq!(plan.drops[0].segment, v.raw[0].segment);
    }

    #[test]
    fn the_end_of_a_segment_decides_its_age() {
        // Keep 2 h, now 10 h: the segment ending at 8 h goes, the one ending at 8 h + 1 ms stays.
        let v = view(
            vec![
                RawSegment {
                    segment: seg(7 * H, 8 * H, 1),
                    newest: Some(8 * H - 1),
                },
                RawSegment {
                    segment: seg(7 * H + 1, 8 * H + 1, 1),
                    newest: Some(10 * H),
                },
            ],
            vec![tier(DAY, 11 * H, vec![])],
        );
        let v = StoreView { now: 10 * H, ..v };
        assert_eq!(
            summary(&by_age(&v).drops),
            vec![(None, 7 * H, DropReason::TierKeep)]
        );
    }

    #[test]
    fn max_age_days_cuts_a_longer_keep() {
        // A tier keeping 100 days under max_age 90 days: dropped at 90 days, as max_age.
        let segs = vec![seg(0, DAY, 1), seg(DAY, 2 * DAY, 1)];
        let mut v = view(vec![], vec![tier(100 * DAY, 2 * DAY, segs)]);
        v.now = 91 * DAY + H;
        let plan = by_age(&v);
        assert_eq!(summary(&plan.drops), vec![(Some(0), 0, DropReason::MaxAge)]);
    }

    #[test]
    fn the_more_aggressive_limit_wins_and_names_the_reason() {
        // Two tiers: one keeping 1 day (shorter than max_age 2 days), one keeping 3 days.
        let segs = || (0..5).map(|d| seg(d * DAY, (d + 1) * DAY, 1)).collect();
        let mut v = view(vec![], vec![tier(DAY, 5 * DAY, segs()), tier(3 * DAY, 5 * DAY, segs())]);
        v.limits.max_age = 2 * DAY;
        v.limits.raw_keep = 3 * DAY;
        v.raw = raw(&[4 * DAY, 4 * DAY + H], 1);
        v.now = 5 * DAY;
        let plan = by_age(&v);
        assert_eq!(
            summary(&plan.drops),
            vec![
                (Some(0), 0, DropReason::TierKeep),
                (Some(0), DAY, DropReason::TierKeep),
                (Some(0), 2 * DAY, DropReason::TierKeep),
                (Some(0), 3 * DAY, DropReason::TierKeep),
                (Some(1), 0, DropReason::MaxAge),
                (Some(1), DAY, DropReason::MaxAge),
                (Some(1), 2 * DAY, DropReason::MaxAge),
            ]
        );
        // A keep equal to max_age is reported as max_age.
        v.limits.max_age = DAY;
        let plan = by_age(&v);
        assert!(
            plan.drops
                .iter()
                .filter(|d| d.tier == Some(0))
                .all(|d| d.reason == DropReason::MaxAge)
        );
    }

    #[test]
    fn raw_waits_for_every_tier_and_the_piece_after_it() {
        // Raw hours 0..6 all past their keep (now 20 h); one tier is done through 4 h, the
        // other through 6 h.
        let starts: Vec<i64> = (0..6).map(|h| h * H).collect();
        let mut v = view(
            raw(&starts, 1),
            vec![tier(DAY, 6 * H, vec![]), tier(DAY, 4 * H, vec![])],
        );
        v.now = 20 * H;
        let plan = by_age(&v);
        // Hours 0..3 go; hour 3 ends at the mark (the next piece's look-back) and stays, as do
        // hours 4 and 5, which are not rolled up.
        assert_eq!(
            summary(&plan.drops),
            (0..3)
                .map(|h| (None, h * H, DropReason::TierKeep))
                .collect::<Vec<_>>()
        );
        assert_eq!(plan.held_for_rollups, 3);
        // Nor does the budget take them.
        assert_eq!(plan.by_budget(u64::MAX), vec![]);
        let mut tight = v.clone();
        tight.limits.max_bytes = 1;
        let plan = by_age(&tight);
        assert_eq!(plan.by_budget(1000), vec![]);
        // Without tiers nothing holds raw data.
        v.tiers.clear();
        assert_eq!(by_age(&v).drops.len(), 6);
    }

    #[test]
    fn the_budget_drops_the_oldest_data_first_across_tiers() {
        // Raw hours 0..4 (100 bytes each, all within keep), a tier's segments covering
        // 0..1 h and 1..3 h (10 bytes each).
        let starts: Vec<i64> = (0..4).map(|h| h * H).collect();
        let mut v = view(
            raw(&starts, 100),
            vec![tier(DAY, 5 * H, vec![seg(0, H, 10), seg(H, 3 * H, 10)])],
        );
        v.limits.raw_keep = DAY;
        v.limits.max_bytes = 1000;
        let plan = by_age(&v);
        assert_eq!(plan.drops, vec![]);
        // Within budget: nothing.
        assert_eq!(plan.by_budget(1000), vec![]);
        // 1215 bytes: raw 0..1 h (→ 1115), its rollup on the tie (→ 1105), raw 1..2 h (→ 1005),
        // raw 2..3 h (→ 905): raw before the rollup ending with it, even one starting earlier.
        assert_eq!(
            summary(&plan.by_budget(1215)),
            vec![
                (None, 0, DropReason::Budget),
                (Some(0), 0, DropReason::Budget),
                (None, H, DropReason::Budget),
                (None, 2 * H, DropReason::Budget),
            ]
        );
        // More than everything: everything, and no more.
        assert_eq!(plan.by_budget(u64::MAX).len(), 6);
        // No budget: nothing.
        v.limits.max_bytes = 0;
        assert_eq!(by_age(&v).by_budget(u64::MAX), vec![]);
    }

    #[test]
    fn the_budget_takes_what_the_age_pass_left() {
        // Raw hours 0..4, keep 2 h, now 4 h: hours 0 and 1 go by age; the budget goes on with
        // hour 2.
        let starts: Vec<i64> = (0..4).map(|h| h * H).collect();
        let mut v = view(raw(&starts, 100), vec![tier(DAY, 5 * H, vec![])]);
        v.limits.max_bytes = 150;
        let plan = by_age(&v);
        assert_eq!(
            summary(&plan.drops),
            vec![(None, 0, DropReason::TierKeep), (None, H, DropReason::TierKeep)]
        );
        assert_eq!(
            summary(&plan.by_budget(200)),
            vec![(None, 2 * H, DropReason::Budget)]
        );
    }

    #[test]
    fn unsent_raw_data_waits_up_to_the_backlog_but_not_against_the_budget() {
        // Raw hours 0..30, keep 2 h, now 30 h, backlog 24 h; the forwarder has sent up to 3 h.
        let starts: Vec<i64> = (0..30).map(|h| h * H).collect();
        let mut v = view(raw(&starts, 100), vec![tier(DAY, 31 * H, vec![])]);
        v.forwarded = Some(3 * H);
        let plan = by_age(&v);
        // Ends at or before the watermark (hours 0..3) go; past it, ends at or before
        // now − backlog = 6 h go too (unsent, logged by the executor); the rest up to
        // now − keep = 28 h waits.
        assert_eq!(
            summary(&plan.drops),
            (0..6)
                .map(|h| (None, h * H, DropReason::TierKeep))
                .collect::<Vec<_>>()
        );
        assert_eq!(plan.held_for_forward, 28 - 6);
        // Held raw data is not protected from the budget.
        let mut tight = v.clone();
        tight.limits.max_bytes = 100;
        let plan = by_age(&tight);
        assert_eq!(
            summary(&plan.by_budget(300)),
            vec![
                (None, 6 * H, DropReason::Budget),
                (None, 7 * H, DropReason::Budget),
            ]
        );
        // A forwarder that sent everything holds nothing.
        v.forwarded = Some(30 * H);
        let plan = by_age(&v);
        assert_eq!(plan.held_for_forward, 0);
        assert_eq!(plan.drops.len(), 28);
    }

    #[test]
    fn a_clock_far_ahead_of_the_newest_sample_holds_back_age_drops() {
        // Raw hours 0..4, the newest sample at 4 h − 1 s; max lead 1 day.
        let starts: Vec<i64> = (0..4).map(|h| h * H).collect();
        let mut v = view(raw(&starts, 100), vec![tier(DAY, 5 * H, vec![])]);
        let newest = 4 * H - S;
        // Exactly the lead allowed: drops go on.
        v.now = newest + DAY;
        let plan = by_age(&v);
        assert_eq!(plan.age_held_back, None);
        assert_eq!(plan.drops.len(), 4);
        // One ms more (measured from the sample, not the window's end): held back, and the
        // lead is reported.
        v.now = newest + DAY + 1;
        let plan = by_age(&v);
        assert_eq!(plan.age_held_back, Some(DAY + 1));
        assert_eq!(plan.drops, vec![]);
        assert_eq!(plan.held_for_rollups, 0);
        // The budget still applies.
        v.limits.max_bytes = 300;
        assert_eq!(by_age(&v).by_budget(400).len(), 1);
        // A newer sample in an open window counts.
        v.open_newest = Some(newest + 1);
        assert_eq!(by_age(&v).age_held_back, None);
        // Accepting the clock lets the drops go.
        v.open_newest = None;
        v.limits.accept_clock = true;
        let plan = by_age(&v);
        assert_eq!(plan.age_held_back, None);
        assert_eq!(plan.drops.len(), 4);
    }

    #[test]
    fn damaged_and_rollup_segments_do_not_count_as_newest_data() {
        // A damaged raw segment (no newest) and a tier's segment ending late; the only sample is
        // old: held back.
        let mut v = view(vec![], vec![tier(DAY, 10 * DAY, vec![seg(0, 9 * DAY, 1)])]);
        v.raw = vec![
            RawSegment {
                segment: seg(0, H, 1),
                newest: Some(H - S),
            },
            RawSegment {
                segment: seg(9 * DAY, 9 * DAY + H, 1),
                newest: None,
            },
        ];
        v.now = 9 * DAY + 2 * H;
        assert_eq!(by_age(&v).age_held_back, Some(9 * DAY + 2 * H - (H - S)));
        // No data at all: nothing to measure the clock against; drops go on.
        v.raw.clear();
        v.now = 100 * DAY;
        let plan = by_age(&v);
        assert_eq!(plan.age_held_back, None);
        assert_eq!(summary(&plan.drops), vec![(Some(0), 0, DropReason::TierKeep)]);
    }
}
