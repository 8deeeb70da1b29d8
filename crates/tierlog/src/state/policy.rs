//! The retention policy a store records in its state file, settled against the
//! configuration an open brings.

use crate::config::Config;
use crate::state::format::State as StateFile;

/// Settles the retention policy (raw keep, tiers, `max_age_days`, `max_bytes`,
/// `max_clock_lead`, expiry action) against what the store recorded: a reader takes the
/// recorded values; a writer keeps the values it sets (logging each change) and takes the
/// recorded ones (or the defaults, for a new store) for the rest. Afterwards every one of them
/// is set in `config`. Tier intervals are checked against the store's in `tier_list`.
pub(crate) fn resolve_policy(
    config: &mut Config,
    saved: Option<&StateFile>,
    version: u16,
    read_only: bool,
) {
    use crate::config::{Expiry, Tier};
    let d = |v: i64| std::time::Duration::from_millis(v.max(0) as u64);
    let recorded = saved.and_then(|s| s.retention.as_ref());
    let policy = recorded.and_then(|r| r.policy.as_ref());
    let stored_tiers: Option<Vec<Tier>> = saved.filter(|_| version >= 2).map(|s| {
        s.tiers
            .iter()
            .map(|t| Tier::new(&t.name, d(t.interval), d(t.keep)))
            .collect()
    });
    let stored_expiry = policy.map(|p| match &p.archive {
        None => Expiry::Delete,
        Some(dir) => Expiry::Archive(dir.into()),
    });
    fn settle<T: Clone + PartialEq + std::fmt::Debug>(
        name: &str,
        set: &mut Option<T>,
        stored: Option<T>,
        default: T,
        read_only: bool,
    ) {
        match (set.as_ref(), stored) {
            (_, Some(s)) if read_only => *set = Some(s),
            (_, None) if read_only => {}
            (Some(v), Some(s)) if *v != s => {
                log::info!("retention setting {name} changes: {s:?} -> {v:?}")
            }
            (Some(_), _) => {}
            (None, Some(s)) => *set = Some(s),
            (None, None) => *set = Some(default),
        }
    }
    settle(
        "max_age_days",
        &mut config.max_age_days,
        recorded.map(|r| r.max_age_days),
        crate::config::DEFAULT_MAX_AGE_DAYS,
        read_only,
    );
    settle(
        "max_bytes",
        &mut config.max_bytes,
        recorded.map(|r| r.max_bytes),
        0,
        read_only,
    );
    settle(
        "max_clock_lead",
        &mut config.max_clock_lead,
        recorded.map(|r| d(r.max_clock_lead)),
        crate::config::DEFAULT_MAX_CLOCK_LEAD,
        read_only,
    );
    let raw_default = config.raw_keep();
    settle(
        "raw_keep",
        &mut config.raw_keep,
        policy.map(|p| d(p.raw_keep)),
        raw_default,
        read_only,
    );
    settle(
        "on_expiry",
        &mut config.on_expiry,
        stored_expiry,
        Expiry::Delete,
        read_only,
    );
    // Tiers: readers adopt the store's (again in `tier_list`, with their marks); a writer's
    // keep-time changes are logged here (interval mismatches are refused there).
    match (&config.tiers, stored_tiers) {
        (_, Some(s)) if read_only => config.tiers = Some(s),
        _ if read_only => {}
        (None, Some(s)) => config.tiers = Some(s),
        (None, None) => {}
        (Some(set), Some(s)) => {
            for t in set {
                match s.iter().find(|o| o.name == t.name) {
                    Some(o) if o.keep != t.keep => log::info!(
                        "retention setting: tier {:?} keep changes: {:?} -> {:?}",
                        t.name,
                        o.keep,
                        t.keep
                    ),
                    None => log::info!(
                        "tier {:?} ({:?} buckets, kept {:?}) is added",
                        t.name,
                        t.interval,
                        t.keep
                    ),
                    _ => {}
                }
            }
        }
        (Some(_), None) => {}
    }
}
