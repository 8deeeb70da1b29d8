//! The data model: metrics, series, label sets, and the rules names must follow.

mod labels;
mod validate;

pub use labels::{Labels, LabelsIter, label_hash, label_hash_iter};
pub use validate::{
    MAX_TS_MS, MIN_TS_MS, check_label_set, check_metric_name, valid_label_name, valid_metric_name,
};

/// Identifier of a series, unique within a store; also the fast-path write handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SeriesId(pub u32);

/// Identifier of a metric, unique within a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MetricId(pub u32);

/// The kind of a metric, from `# TYPE` or the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum MetricKind {
    /// Kind not given.
    #[default]
    Unknown,
    /// A monotonically increasing counter (resets to zero on restart).
    Counter,
    /// A value that goes up and down.
    Gauge,
}

impl MetricKind {
    /// The byte stored in the index.
    pub fn code(self) -> u8 {
        match self {
            MetricKind::Unknown => 0,
            MetricKind::Counter => 1,
            MetricKind::Gauge => 2,
        }
    }

    /// Inverse of [`MetricKind::code`].
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(MetricKind::Unknown),
            1 => Some(MetricKind::Counter),
            2 => Some(MetricKind::Gauge),
            _ => None,
        }
    }

    /// Parses the word of a `# TYPE` line; kinds the store does not distinguish
    /// (histogram, summary, untyped) are `Unknown`.
    pub fn from_type_word(word: &str) -> Self {
        match word {
            "counter" => MetricKind::Counter,
            "gauge" => MetricKind::Gauge,
            _ => MetricKind::Unknown,
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Unknown => "unknown",
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
        }
    }
}

/// Metadata of a metric: what `# TYPE`, `# UNIT` and `# HELP` say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MetricMeta {
    /// Counter, gauge or unknown.
    pub kind: MetricKind,
    /// Unit, e.g. `bytes` or `seconds`; empty when unknown.
    pub unit: String,
    /// Free text description; empty when unknown.
    pub description: String,
}

/// A metric as listed by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct MetricInfo {
    /// Its id.
    pub id: MetricId,
    /// Its unique name.
    pub name: String,
    /// Its metadata.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub meta: MetricMeta,
}

/// A series as listed by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct SeriesInfo {
    /// Its id (usable as a write handle).
    pub id: SeriesId,
    /// Its metric's name.
    pub metric: String,
    /// Its canonical label set.
    pub labels: Labels,
}
