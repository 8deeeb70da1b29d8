//! Input formats and the helpers that feed them to the store.

pub mod ingest;
pub mod prom;
pub mod sort;
